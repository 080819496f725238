import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { userWithProject } from './lib/api.js';
import { alternateRounds, type LoadTarget, type RequestSpec, type TargetSummary } from './lib/load.js';
import { describeMachine } from './lib/machine.js';
import { type ExtraColumn, type LatencyGoal, type Ratio, recordSection, section } from './lib/report.js';
import { type RunningServer, startServer } from './lib/server-process.js';
import type { ScenarioContext, ScenarioResult } from './scenarios/context.js';
import { eventPublishScenario } from './scenarios/event-publish.js';
import { exportScenario } from './scenarios/export.js';
import { projectStreamScenario } from './scenarios/project-stream.js';
import { reconnectStormScenario } from './scenarios/reconnect-storm.js';
import { deadEndpoint, otlpReceiver, ownRedis, REDIS_COLUMN, SPANS_COLUMN, type TargetResources } from './scenarios/resources.js';
import { safeWritesScenario } from './scenarios/safe-writes.js';
import { sseFanoutScenario } from './scenarios/sse-fanout.js';
import { startupScenario } from './scenarios/startup.js';
import { workerLeasesScenario } from './scenarios/worker-leases.js';

/**
 * Load benchmark harness: `npm run bench [-- <scenario…|all>]`. autocannon runs here; each
 * server runs in its own child process so the two do not share an event loop (on 2 vCPUs
 * they still share the machine — the reason rounds are interleaved and medians reported).
 * Scenarios that are not a request/response load (start-up, a micro-benchmark, SSE fan-out)
 * bring their own `run` (bench/scenarios/) and write their own section.
 */

interface Target {
  readonly label: string;
  /** What the server is, for the results table. */
  readonly description: string;
  /** A script in bench/servers. */
  readonly server: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Config variables for bench/servers/app.ts (passed as BENCH_APP_ENV). */
  readonly appEnv?: Readonly<Record<string, string>>;
  /** Modules to --import after tsx (the telemetry preload, as the production start loads it). */
  readonly imports?: readonly string[];
  /**
   * Serve this target from the process started for an earlier target: two routes of one app
   * compared in one process, so a difference between app processes cannot pass for one
   * between the routes.
   */
  readonly sameServerAs?: string;
  /** What the target needs beside its server (its own Redis, OTLP receiver); see scenarios/resources.ts. */
  readonly resources?: () => Promise<TargetResources>;
  /** Once the server is up and before any load: create data, log in…; its request parts override the scenario's. */
  readonly prepare?: (baseUrl: string) => Promise<Partial<RequestSpec>>;
}

interface LoadScenario {
  readonly name: string;
  readonly title: string;
  /** Run only when named (or with `all`): a comparison made once to justify a decision. */
  readonly oneOff?: boolean;
  readonly request: RequestSpec;
  /** The first target is the baseline of the table's last column. */
  readonly targets: readonly Target[];
  readonly ratios: readonly Ratio[];
  readonly latencyGoals?: readonly LatencyGoal[];
  /** Columns the targets' resources fill in, in this order. */
  readonly columns?: readonly string[];
  /** Said once under the method: what is special about this scenario's setup. */
  readonly setup?: string;
}

interface CustomScenario {
  readonly name: string;
  readonly title: string;
  readonly oneOff?: boolean;
  readonly run: (ctx: ScenarioContext) => Promise<ScenarioResult>;
}

type Scenario = LoadScenario | CustomScenario;

/**
 * The allowed browser origin is sent so that CORS does its full work (allow-origin,
 * credentials, expose-headers, vary), as for every call of the web client.
 */
const LIVE: RequestSpec = {
  method: 'GET',
  path: '/api/v1/health/live',
  headers: { origin: 'http://localhost:5200' },
  expectBody: '{"status":"ok"}',
};

const BARE: Target = { label: 'bare', description: 'node:http, same body and content type, nothing else', server: 'bare-http.ts' };

/**
 * LOG_LEVEL=info, as production runs (issue 19): the request-completed line is part of the
 * work. Lines go to /dev/null (bench/servers/app.ts): written, not read by this process.
 */
const INFO = { LOG_LEVEL: 'info', BENCH_LOG_DEST: '/dev/null' } as const;

/**
 * BENCH_BASE_DIR: a checkout of another commit (e.g. `git archive <base> | tar -x -C <dir>`, with
 * node_modules linked in). Scenarios then add targets that build the app from its `src/`, in the
 * same run, so a before/after comparison does not straddle two runs on a noisy machine.
 */
const BASE_DIR = process.env.BENCH_BASE_DIR ? path.resolve(process.env.BENCH_BASE_DIR) : undefined;
const baseEnv = (dir: string) => ({ ...INFO, BENCH_APP_SRC: path.join(dir, 'src') });

const ROOT = path.resolve(import.meta.dirname, '..');
const RESULTS = path.join(import.meta.dirname, 'RESULTS.md');

/** Rate limits off: the default (300/min per IP) would reject a load run within a second. */
const LIMITS_OFF = { RATE_LIMIT_PER_MINUTE_IP: '0', RATE_LIMIT_PER_MINUTE_USER: '0', RATE_LIMIT_PER_MINUTE_PROJECT: '0' } as const;
/**
 * Limits on but never reached: the config's maximum, 1,000,000 per minute each. A load run
 * sends at most a few hundred thousand requests a minute, so every request is checked and
 * counted, and none is rejected (a 429 would fail the round).
 */
const LIMITS_HIGH = {
  RATE_LIMIT_PER_MINUTE_IP: '1000000',
  RATE_LIMIT_PER_MINUTE_USER: '1000000',
  RATE_LIMIT_PER_MINUTE_PROJECT: '1000000',
} as const;

/**
 * The authenticated project read (issue 4): a user signed in with dev-login, its own project,
 * `GET /api/v1/projects/{id}` with the bearer token — token verification, the user's row, the
 * membership, the project row. Every answer must be the body of the first one.
 */
async function projectRead(baseUrl: string): Promise<Partial<RequestSpec>> {
  const { token, projectId } = await userWithProject(baseUrl);
  const spec = { path: `/api/v1/projects/${projectId}`, headers: { authorization: `Bearer ${token}` } };
  const res = await fetch(`${baseUrl}${spec.path}`, { headers: { ...LIVE.headers, ...spec.headers } });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`project read answered ${res.status} ${body.slice(0, 200)}`);
  return { ...spec, expectBody: body };
}

/** The same, and a check that the limiter really ran (its headers are on the answer). */
async function limitedProjectRead(baseUrl: string): Promise<Partial<RequestSpec>> {
  const spec = await projectRead(baseUrl);
  const res = await fetch(`${baseUrl}${spec.path}`, { headers: { ...spec.headers } });
  await res.arrayBuffer();
  if (!res.headers.get('ratelimit-policy')) throw new Error('rate limits on, but the answer has no RateLimit-Policy header');
  return spec;
}

const PRELOAD = ['./src/telemetry/preload.ts'];
const TRACED_APP = { server: 'app.ts', imports: PRELOAD, appEnv: LIMITS_OFF, prepare: projectRead } as const;

/**
 * What is measured again and again. One-off comparisons whose decision is recorded (helmet and
 * anatomy: docs/adr/0003; repo-read: Kysely kept, docs/adr/0005) were removed with their
 * servers; their figures stay in bench/RESULTS.md.
 */
const SCENARIOS: readonly Scenario[] = [
  {
    name: 'health',
    title: 'GET /api/v1/health/live at LOG_LEVEL=info: the full chain vs node:http doing the same work by hand',
    request: LIVE,
    targets: [
      BARE,
      {
        label: 'same-work',
        description:
          "node:http doing the same work by hand: the §3 headers (security, CORS, a fresh correlation id), the body, one pino line per request (the app's logger options)",
        server: 'bare-http.ts',
        env: { ...INFO, BARE_WORK: 'same' },
      },
      {
        label: 'app-logged',
        description: 'buildApp(): the full request chain, LOG_LEVEL=info, LOG_HEALTH_PROBES=true (one line per request, as same-work)',
        server: 'app.ts',
        env: INFO,
        appEnv: { LOG_HEALTH_PROBES: 'true' },
      },
      {
        label: 'app',
        description: 'buildApp() as configured by default at LOG_LEVEL=info: a 200 from a probe route writes no line',
        server: 'app.ts',
        env: INFO,
      },
      ...(BASE_DIR
        ? [
            {
              label: 'base',
              description: `buildApp() of ${BASE_DIR} (the code before), LOG_LEVEL=info`,
              server: 'app.ts',
              env: baseEnv(BASE_DIR),
            },
          ]
        : []),
    ],
    ratios: [
      { numerator: 'app-logged', denominator: 'same-work', min: 0.85 },
      { numerator: 'app', denominator: 'same-work' },
      { numerator: 'same-work', denominator: 'bare' },
      ...(BASE_DIR
        ? [
            { numerator: 'base', denominator: 'same-work' },
            { numerator: 'app-logged', denominator: 'base' },
          ]
        : []),
    ],
    setup:
      'Every server at LOG_LEVEL=info writes its lines to /dev/null (the same synchronous write as to stdout; the parent, which runs autocannon, does not read them).',
  },
  {
    name: 'project-read',
    title: 'authenticated GET /api/v1/projects/{id} next to GET /api/v1/health/live, one app process, LOG_LEVEL=info',
    request: LIVE,
    targets: [
      { label: 'live', description: 'GET /api/v1/health/live (no auth, no database)', server: 'app.ts', env: INFO, appEnv: LIMITS_OFF },
      {
        label: 'project',
        description: 'GET /api/v1/projects/{id} with a bearer token: authentication, project access (membership), the project',
        server: 'app.ts',
        sameServerAs: 'live',
        prepare: projectRead,
      },
      ...(BASE_DIR
        ? [
            {
              label: 'base-project',
              description: `the same read on buildApp() of ${BASE_DIR} (the code before), its own process`,
              server: 'app.ts',
              env: baseEnv(BASE_DIR),
              appEnv: LIMITS_OFF,
              prepare: projectRead,
            },
          ]
        : []),
    ],
    ratios: [
      { numerator: 'project', denominator: 'live', min: 0.25 },
      ...(BASE_DIR ? [{ numerator: 'project', denominator: 'base-project' }] : []),
    ],
    latencyGoals: [{ label: 'project', maxP99Ms: 20 }, ...(BASE_DIR ? [{ label: 'base-project', maxP99Ms: 20 }] : [])],
    setup:
      'live and project are the same app process (embedded PostgreSQL, no Redis, rate limits 0), LOG_LEVEL=info, lines to /dev/null (not read by the parent).',
  },
  {
    name: 'tracing',
    title: 'the authenticated project read with tracing off, every request sampled, 10 % sampled, and a dead collector',
    oneOff: true,
    request: LIVE,
    targets: [
      { label: 'off', description: 'telemetry preload, no OTLP endpoint (installs nothing)', ...TRACED_APP },
      {
        label: 'all',
        description: 'every request sampled (parentbased_always_on), exported to a local receiver',
        ...TRACED_APP,
        env: { OTEL_TRACES_SAMPLER: 'parentbased_always_on' },
        resources: otlpReceiver('all', ROOT, true),
      },
      {
        label: 'ratio10',
        description: 'parentbased_traceidratio 0.1, exported to a local receiver',
        ...TRACED_APP,
        env: { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' },
        resources: otlpReceiver('ratio10', ROOT, false),
      },
      {
        label: 'dead',
        description: 'every request sampled, endpoint a closed port (ECONNREFUSED)',
        ...TRACED_APP,
        env: { OTEL_TRACES_SAMPLER: 'parentbased_always_on' },
        resources: deadEndpoint(),
      },
    ],
    ratios: [
      { numerator: 'all', denominator: 'off', min: 0.5 },
      { numerator: 'ratio10', denominator: 'off', min: 0.75 },
      // "No worse than a live one", within the ±5 % that separates runs of identical code here.
      { numerator: 'dead', denominator: 'all', min: 0.95 },
    ],
    columns: [SPANS_COLUMN],
    setup:
      'Four app processes started as production starts them (`--import ./src/telemetry/preload.ts`, through tsx), no Redis, rate limits 0, ' +
      'LOG_LEVEL=warn; OTLP/HTTP JSON (the exporter src/telemetry/sdk.ts uses), metrics exported every 15 s to the same endpoint. ' +
      "Each traced target has its own receiver process (bench/servers/otlp-receiver.ts, counts spans); its CPU is not the server's. " +
      'Spans per request = spans the receiver got ÷ requests the target answered under load (warm-up included); "one request alone" = the spans of a single request sent before the load.',
  },
  {
    name: 'rate-limit',
    title: 'the authenticated project read with rate limits on (Redis) vs off',
    oneOff: true,
    request: LIVE,
    targets: [
      {
        label: 'off',
        description: 'RATE_LIMIT_PER_MINUTE_* = 0 (no limiter hook), REDIS_URL set',
        server: 'app.ts',
        appEnv: LIMITS_OFF,
        resources: ownRedis('off'),
        prepare: projectRead,
      },
      {
        label: 'on',
        description: 'ip, user and project limits of 1,000,000/min each (never reached), Redis store',
        server: 'app.ts',
        appEnv: LIMITS_HIGH,
        resources: ownRedis('on'),
        prepare: limitedProjectRead,
      },
    ],
    ratios: [{ numerator: 'on', denominator: 'off', min: 0.9 }],
    columns: [REDIS_COLUMN],
    setup:
      "Each target has its own redis-server (no persistence), whose CPU is counted with the server's; LOG_LEVEL=warn. The limiter is " +
      'GCRA (docs/adr/0024): one string per key whatever the limit, one single-key script call per limit (TIME, GET, SET). A request ' +
      'makes three script calls in two round trips: the IP step, then the user and project calls sent together.',
  },
  {
    name: 'startup',
    title: 'process start to ready with the embedded PostgreSQL: first start (initdb) and warm restart',
    oneOff: true,
    run: startupScenario,
  },
  {
    name: 'sse-fanout',
    title: 'one operation streamed to N SSE clients, events published through the API with Redis',
    oneOff: true,
    run: sseFanoutScenario,
  },
  {
    name: 'event-publish',
    title: 'event publish throughput and publish → delivery latency, before and after the durable event log',
    oneOff: true,
    run: eventPublishScenario,
  },
  {
    name: 'worker-leases',
    title: 'worker leases: lease → start latency, leases per second with 10 workers, PostgreSQL cost per lease',
    oneOff: true,
    run: workerLeasesScenario,
  },
  {
    name: 'project-stream',
    title:
      'project stream: delta → client latency with 1,000 project streams open, memory per stream, messages page read with 10,000 messages',
    oneOff: true,
    run: projectStreamScenario,
  },
  {
    name: 'safe-writes',
    title: 'project create and new version with the audit insert and the idempotency check, vs without',
    oneOff: true,
    run: safeWritesScenario,
  },
  {
    name: 'export',
    title: 'export of four 100 KB documents: POST to export.completed, and server memory while building',
    oneOff: true,
    run: exportScenario,
  },
  {
    name: 'reconnect-storm',
    title: 'restart of one instance holding N streams: peak reopens per second and time until all are back, jittered retry hint vs fixed',
    oneOff: true,
    run: reconnectStormScenario,
  },
];

function intFromEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}: an integer ≥ ${min} (got "${raw}")`);
  return n;
}

const DEFAULTS = { duration: 5, rounds: 3, warmup: 3, connections: 64 } as const;
const settings = {
  duration: intFromEnv('BENCH_DURATION', DEFAULTS.duration, 1),
  rounds: intFromEnv('BENCH_ROUNDS', DEFAULTS.rounds, 1),
  warmup: intFromEnv('BENCH_WARMUP', DEFAULTS.warmup, 0),
  connections: intFromEnv('BENCH_CONNECTIONS', DEFAULTS.connections, 1),
  maxForeignCpu: intFromEnv('BENCH_MAX_FOREIGN_CPU', 25, 0),
  retries: intFromEnv('BENCH_RETRIES', 3, 0),
  quietWait: intFromEnv('BENCH_QUIET_WAIT', 120, 0),
};
/**
 * BENCH_PIN=1: autocannon (this process, all its threads) on CPU 0, every server on CPU 1,
 * so the two never preempt each other. Needs taskset and 2+ CPUs.
 */
const pin = process.env.BENCH_PIN === '1';
if (pin) execFileSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' });

// A short smoke run, or a profiled one (the profiler slows the servers), must not overwrite a
// real measurement in RESULTS.md.
const profiled = Boolean(process.env.BENCH_CPU_PROF);
const recordLoad =
  process.env.BENCH_RECORD === '1' ||
  (process.env.BENCH_RECORD !== '0' &&
    !profiled &&
    settings.duration >= DEFAULTS.duration &&
    settings.rounds >= DEFAULTS.rounds &&
    settings.warmup >= DEFAULTS.warmup);
const recordCustom = (full: boolean) => process.env.BENCH_RECORD === '1' || (process.env.BENCH_RECORD !== '0' && !profiled && full);

function selectScenarios(args: readonly string[]): readonly Scenario[] {
  if (args.includes('all')) return SCENARIOS;
  if (args.length === 0) return SCENARIOS.filter((s) => !s.oneOff);
  return args.map((name) => {
    const found = SCENARIOS.find((s) => s.name === name);
    if (!found) throw new Error(`unknown scenario "${name}"; known: ${SCENARIOS.map((s) => s.name).join(', ')}, all`);
    return found;
  });
}

/** One request before the load: a server answering something else would make its figures meaningless. */
async function check(label: string, baseUrl: string, spec: RequestSpec): Promise<void> {
  const res = await fetch(`${baseUrl}${spec.path}`, {
    method: spec.method,
    headers: { ...spec.headers },
    ...(spec.body !== undefined ? { body: spec.body } : {}),
  });
  const body = await res.text();
  if (!res.ok || (spec.expectBody !== undefined && body !== spec.expectBody)) {
    throw new Error(`${label}: ${spec.method} ${spec.path} answered ${res.status} ${body.slice(0, 200)}`);
  }
}

function cpuProfArgs(scenario: string, label: string): string[] {
  const dir = process.env.BENCH_CPU_PROF;
  if (dir === undefined || dir === '') return [];
  return ['--cpu-prof', `--cpu-prof-dir=${path.resolve(dir)}`, `--cpu-prof-name=${scenario}-${label}.cpuprofile`];
}

async function runLoadScenario(scenario: LoadScenario, command: string): Promise<void> {
  const log = (line: string) => console.error(`[${scenario.name}] ${line}`);
  const machine = describeMachine();
  const servers = new Map<string, RunningServer>();
  const resources = new Map<string, TargetResources>();
  const targets: LoadTarget[] = [];
  let summaries: TargetSummary[];
  const cells = new Map<string, Map<string, string>>();
  const notes: string[] = [];
  try {
    // Started one after the other: the app's first start initialises a PostgreSQL cluster.
    for (const target of scenario.targets) {
      const own = target.resources ? await target.resources() : undefined;
      if (own) resources.set(target.label, own);
      let server = target.sameServerAs === undefined ? undefined : servers.get(target.sameServerAs);
      if (target.sameServerAs !== undefined && !server) throw new Error(`${target.label}: no earlier target ${target.sameServerAs}`);
      if (!server) {
        log(`starting ${target.label} (${target.server})`);
        const appEnv = { ...target.appEnv, ...own?.appEnv };
        server = await startServer({
          label: `${scenario.name}/${target.label}`,
          script: path.join(import.meta.dirname, 'servers', target.server),
          cwd: ROOT,
          env: { ...target.env, ...own?.env, ...(Object.keys(appEnv).length > 0 ? { BENCH_APP_ENV: JSON.stringify(appEnv) } : {}) },
          nodeArgs: cpuProfArgs(scenario.name, target.label),
          ...(target.imports ? { imports: target.imports } : {}),
          ...(pin ? { cpu: 1 } : {}),
        });
        servers.set(target.label, server);
      }
      const override = (await target.prepare?.(server.baseUrl)) ?? {};
      const spec: RequestSpec = { ...scenario.request, ...override, headers: { ...scenario.request.headers, ...override.headers } };
      await check(target.label, server.baseUrl, spec);
      targets.push({
        label: target.label,
        baseUrl: server.baseUrl,
        pid: server.pid,
        spec,
        ...(own?.companionPids ? { companionPids: own.companionPids } : {}),
      });
    }
    for (const target of targets) await resources.get(target.label)?.beforeLoad?.(target);
    summaries = await alternateRounds(targets, {
      connections: settings.connections,
      durationSeconds: settings.duration,
      warmupSeconds: settings.warmup,
      rounds: settings.rounds,
      maxForeignCpu: settings.maxForeignCpu,
      retries: settings.retries,
      quietWaitMs: settings.quietWait * 1000,
      onProgress: log,
    });
    for (const summary of summaries) {
      const report = await resources.get(summary.label)?.afterLoad?.(summary.served);
      for (const [header, cell] of Object.entries(report?.cells ?? {})) {
        const column = cells.get(header) ?? new Map<string, string>();
        column.set(summary.label, cell);
        cells.set(header, column);
      }
      notes.push(...(report?.notes ?? []));
    }
  } finally {
    for (const server of servers.values()) await server.stop();
    for (const own of resources.values()) await own.stop();
  }

  const extraColumns: ExtraColumn[] = (scenario.columns ?? []).map((header) => ({ header, cells: cells.get(header) ?? new Map() }));
  const body = section({
    name: scenario.name,
    title: scenario.title,
    method:
      `${settings.connections} connections, no pipelining; ${settings.warmup} s warm-up per target, then rounds of ` +
      `${settings.duration} s (${settings.rounds} per target) alternating ${scenario.targets.map((t) => t.label).join(' → ')}; median of the rounds. Each round waits (≤ ${settings.quietWait} s) for other processes to use ` +
      `≤ ${settings.maxForeignCpu} % of one CPU, and is redone (≤ ${settings.retries} times) if they used more during it${pin ? '; autocannon pinned to CPU 0, servers to CPU 1' : ''}. ` +
      `Request: ${scenario.request.method} ${scenario.request.path} with ${JSON.stringify(scenario.request.headers ?? {})}` +
      `${scenario.targets.some((t) => t.prepare) ? ', or the path and bearer token a target prepares (dev-login, a project of its own)' : ''}.` +
      `${scenario.setup ? ` ${scenario.setup}` : ''}`,
    command,
    machine,
    summaries,
    describe: (label) => scenario.targets.find((t) => t.label === label)?.description ?? label,
    ratios: scenario.ratios,
    ...(scenario.latencyGoals ? { latencyGoals: scenario.latencyGoals } : {}),
    extraColumns,
    notes,
  });
  process.stdout.write(`${body}\n\n`);
  if (recordLoad) {
    await recordSection(RESULTS, scenario.name, body);
    log(`recorded in ${path.relative(ROOT, RESULTS)}`);
  } else {
    log('shorter than the defaults or profiled: not recorded (BENCH_RECORD=1 to record)');
  }
}

async function runCustomScenario(scenario: CustomScenario, command: string): Promise<void> {
  const log = (line: string) => console.error(`[${scenario.name}] ${line}`);
  const result = await scenario.run({
    name: scenario.name,
    title: scenario.title,
    root: ROOT,
    command,
    machine: describeMachine(),
    cpuProfArgs: (label) => cpuProfArgs(scenario.name, label),
    maxForeignCpu: settings.maxForeignCpu,
    quietWaitMs: settings.quietWait * 1000,
    log,
  });
  process.stdout.write(`${result.body}\n\n`);
  if (recordCustom(result.full)) {
    await recordSection(RESULTS, scenario.name, result.body);
    log(`recorded in ${path.relative(ROOT, RESULTS)}`);
  } else {
    log('shorter than the defaults or profiled: not recorded (BENCH_RECORD=1 to record)');
  }
}

const args = process.argv.slice(2);
const benchEnv = Object.keys(process.env)
  .filter((k) => k.startsWith('BENCH_'))
  .sort()
  .map((k) => `${k}=${process.env[k]} `)
  .join('');
const command = `${benchEnv}npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;

let selected: readonly Scenario[];
try {
  selected = selectScenarios(args);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(2);
}
for (const scenario of selected) {
  if ('run' in scenario) await runCustomScenario(scenario, command);
  else await runLoadScenario(scenario, command);
}
