import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { alternateRounds, type LoadTarget, type RequestSpec } from './lib/load.js';
import { describeMachine } from './lib/machine.js';
import { type Ratio, recordSection, section } from './lib/report.js';
import { type RunningServer, startServer } from './lib/server-process.js';

/**
 * Load benchmark harness: `npm run bench [-- <scenario…|all>]`. autocannon runs here; each
 * server runs in its own child process so the two do not share an event loop (on 2 vCPUs
 * they still share the machine — the reason rounds are interleaved and medians reported).
 */

interface Target {
  readonly label: string;
  /** What the server is, for the results table. */
  readonly description: string;
  /** A script in bench/servers. */
  readonly server: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Once the server is up and before any load: create data, log in…; its request parts override the scenario's. */
  readonly prepare?: (baseUrl: string) => Promise<Partial<RequestSpec>>;
}

interface Scenario {
  readonly name: string;
  readonly title: string;
  /** Run only when named (or with `all`): a comparison made once to justify a decision. */
  readonly oneOff?: boolean;
  readonly request: RequestSpec;
  /** The first target is the baseline of the table's last column. */
  readonly targets: readonly Target[];
  readonly ratios: readonly Ratio[];
}

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

const BARE: Target = { label: 'bare', description: 'node:http, same body and content type', server: 'bare-http.ts' };
const APP: Target = { label: 'app', description: 'buildApp(): the full request chain, LOG_LEVEL=warn', server: 'app.ts' };

const PRECOMPUTED: Target = {
  label: 'precomputed',
  description: 'minimal Fastify + correlation id + @fastify/cors + API_HEADERS in one hook',
  server: 'fastify-helmet.ts',
  env: { SECURITY_HEADERS: 'precomputed' },
};

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'health',
    title: 'GET /api/v1/health/live, full chain vs bare node:http',
    request: LIVE,
    targets: [BARE, APP],
    ratios: [{ numerator: 'app', denominator: 'bare', min: 0.7 }],
  },
  {
    name: 'helmet',
    title: 'security headers: @fastify/helmet per response vs precomputed values in one hook',
    oneOff: true,
    request: LIVE,
    targets: [
      BARE,
      PRECOMPUTED,
      {
        label: 'helmet',
        description: 'the same minimal Fastify with @fastify/helmet instead',
        server: 'fastify-helmet.ts',
        env: { SECURITY_HEADERS: 'helmet' },
      },
      APP,
    ],
    ratios: [
      { numerator: 'helmet', denominator: 'precomputed' },
      { numerator: 'app', denominator: 'helmet' },
      { numerator: 'app', denominator: 'bare', min: 0.7 },
    ],
  },
  {
    // Where the distance between bare and app goes: the response headers themselves, the framework, our chain.
    name: 'anatomy',
    title: 'the cost of the health route, layer by layer',
    oneOff: true,
    request: LIVE,
    targets: [
      BARE,
      {
        label: 'bare-headers',
        description: 'node:http sending the same headers as the app (security, CORS, fresh correlation id)',
        server: 'bare-http.ts',
        env: { BARE_HEADERS: 'api' },
      },
      PRECOMPUTED,
      APP,
    ],
    ratios: [
      { numerator: 'bare-headers', denominator: 'bare' },
      { numerator: 'precomputed', denominator: 'bare-headers' },
      { numerator: 'app', denominator: 'precomputed' },
      { numerator: 'app', denominator: 'bare', min: 0.7 },
    ],
  },
];

const ROOT = path.resolve(import.meta.dirname, '..');
const RESULTS = path.join(import.meta.dirname, 'RESULTS.md');

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
const record =
  process.env.BENCH_RECORD === '1' ||
  (process.env.BENCH_RECORD !== '0' &&
    !process.env.BENCH_CPU_PROF &&
    settings.duration >= DEFAULTS.duration &&
    settings.rounds >= DEFAULTS.rounds &&
    settings.warmup >= DEFAULTS.warmup);

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

async function runScenario(scenario: Scenario, command: string): Promise<void> {
  const log = (line: string) => console.error(`[${scenario.name}] ${line}`);
  const machine = describeMachine();
  const servers: RunningServer[] = [];
  const targets: LoadTarget[] = [];
  let summaries: Awaited<ReturnType<typeof alternateRounds>>;
  try {
    // Started one after the other: the app's first start initialises a PostgreSQL cluster.
    for (const target of scenario.targets) {
      log(`starting ${target.label} (${target.server})`);
      const server = await startServer({
        label: `${scenario.name}/${target.label}`,
        script: path.join(import.meta.dirname, 'servers', target.server),
        cwd: ROOT,
        ...(target.env ? { env: target.env } : {}),
        nodeArgs: cpuProfArgs(scenario.name, target.label),
        ...(pin ? { cpu: 1 } : {}),
      });
      servers.push(server);
      const override = (await target.prepare?.(server.baseUrl)) ?? {};
      const spec: RequestSpec = { ...scenario.request, ...override, headers: { ...scenario.request.headers, ...override.headers } };
      await check(target.label, server.baseUrl, spec);
      targets.push({ label: target.label, baseUrl: server.baseUrl, pid: server.pid, spec });
    }
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
  } finally {
    for (const server of servers) await server.stop();
  }

  const body = section({
    name: scenario.name,
    title: scenario.title,
    method:
      `${settings.connections} connections, no pipelining; ${settings.warmup} s warm-up per target, then rounds of ` +
      `${settings.duration} s (${settings.rounds} per target) alternating ${scenario.targets.map((t) => t.label).join(' → ')}; median of the rounds. Each round waits (≤ ${settings.quietWait} s) for other processes to use ` +
      `≤ ${settings.maxForeignCpu} % of one CPU, and is redone (≤ ${settings.retries} times) if they used more during it${pin ? '; autocannon pinned to CPU 0, servers to CPU 1' : ''}. ` +
      `Request: ${scenario.request.method} ${scenario.request.path} with ${JSON.stringify(scenario.request.headers ?? {})}.`,
    command,
    machine,
    summaries,
    describe: (label) => scenario.targets.find((t) => t.label === label)?.description ?? label,
    ratios: scenario.ratios,
  });
  process.stdout.write(`${body}\n\n`);
  if (record) {
    await recordSection(RESULTS, scenario.name, body);
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
for (const scenario of selected) await runScenario(scenario, command);
