import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlledPostgres, startControlledPostgres } from '../../helpers/faults/controlled-postgres.js';
import { auditDelivery, type DeliveryAudit } from '../../helpers/faults/delivery-audit.js';
import { formatFaultReport } from '../../helpers/faults/fault-report.js';
import { FaultTally } from '../../helpers/faults/fault-tally.js';
import { SteadyLoad } from '../../helpers/faults/steady-load.js';
import { SupervisedServer } from '../../helpers/faults/supervised-server.js';
import { OtlpReceiver } from '../../helpers/otlp-receiver.js';
import { QdrantStandIn } from '../../helpers/qdrant-stand-in.js';
import { type RedisServer, startRedisServer } from '../../helpers/redis-server.js';
import { freePort, spawnServer } from '../../helpers/server-process.js';

/*
 * Issue 14, "Prove it": the API as production runs it (its own process, external PostgreSQL,
 * Redis, a collector; NODE_ENV=production), under steady load from a few clients, while in
 * sequence PostgreSQL restarts, Redis restarts and the collector hangs then recovers. Three
 * counts must be zero: responses outside the contract, acknowledged events a resuming
 * follower never received, and exits of the server process. The per-phase counts are printed
 * whatever the outcome. Phases end on conditions (readiness back, spans flowing again), not on
 * the clock, so a loaded machine makes the run longer, not different.
 */

/** How long each dependency stays down: long enough for every client to meet the outage. */
const DOWN_MS = 1_500;
/** Steady load before the first fault and after each recovery. */
const SETTLE_MS = 2_500;
const MIN_ANSWERS = 40;
const HANG_MS = 3_000;
/** After the writers end their operations, how long followers get to receive the last events. */
const FOLLOW_MS = 10_000;

let postgres: ControlledPostgres;
let redis: RedisServer;
let qdrant: QdrantStandIn;
let collector: OtlpReceiver;
let server: SupervisedServer;
let dataDir: string;
let tally: FaultTally;
let load: SteadyLoad;
let audit: DeliveryAudit;
let unfinishedFollowers = 0;
let pgQueriesInFlight = 0;
let collectorHeldRequests = 0;
let collectorSpansDuringHang = 0;
const actions: string[] = [];

/** A user and an access token through the operator's own command (`npm run token`), not a test route. */
async function issueToken(env: Record<string, string>, email: string): Promise<string> {
  const cli = spawnServer(env, 'src/cli/token.ts', ['--email', email]);
  const { code } = await cli.exited;
  const token = /eyJ[\w-]+\.[\w-]+\.[\w-]+/.exec(cli.stdout())?.[0];
  if (code !== 0 || !token) throw new Error(`token CLI failed (${code}): ${cli.stdout()}`);
  return token;
}

/**
 * Steady load for `ms` and at least MIN_ANSWERS answers in the current phase: on a
 * loaded machine a phase lasts longer instead of measuring less.
 */
async function settle(ms = SETTLE_MS): Promise<void> {
  await sleep(ms);
  const deadline = performance.now() + 60_000;
  while (tally.phase.requests < MIN_ANSWERS) {
    if (performance.now() > deadline) throw new Error(`only ${tally.phase.requests} answers in ${tally.phase.name} after 60 s`);
    await sleep(50);
  }
}

/** Polls readiness (PostgreSQL, Redis, Qdrant all answering); resolves with the time it took. */
async function untilReady(timeoutMs = 60_000): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    const res = await fetch(`${server.base}/api/v1/health/ready`, { signal: AbortSignal.timeout(3_000) }).catch(() => null);
    await res?.arrayBuffer().catch(() => undefined);
    if (res?.status === 200) return Math.round(performance.now() - t0);
    await sleep(50);
  }
  throw new Error(`not ready within ${timeoutMs} ms`);
}

/**
 * Makes sure queries are in flight when PostgreSQL goes down: the test's own connection locks
 * the operations table, so the server's next statements on it wait holding checked-out
 * connections. Resolves with how many of the server's backends were waiting.
 */
async function holdQueriesInFlight(): Promise<{ waiting: number; release: () => Promise<void> }> {
  const locker = new pg.Client({ connectionString: postgres.url });
  const watcher = new pg.Client({ connectionString: postgres.url });
  // Both are terminated by the shutdown that follows.
  locker.on('error', () => undefined);
  watcher.on('error', () => undefined);
  await locker.connect();
  await watcher.connect();
  await locker.query('begin');
  await locker.query('lock table operations in access exclusive mode');
  let waiting = 0;
  const deadline = performance.now() + 10_000;
  while (waiting === 0 && performance.now() < deadline) {
    const { rows } = await watcher.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid() and wait_event_type = 'Lock'`,
    );
    waiting = rows[0]?.n ?? 0;
    if (waiting === 0) await sleep(20);
  }
  const release = async () => {
    await Promise.allSettled([locker.end(), watcher.end()]);
  };
  return { waiting, release };
}

beforeAll(async () => {
  const setupStarted = performance.now();
  dataDir = await mkdtemp(path.join(tmpdir(), 'jeex-faults-data-'));
  [postgres, redis, qdrant] = await Promise.all([startControlledPostgres(), startRedisServer(), QdrantStandIn.start()]);
  collector = new OtlpReceiver(await freePort());
  await collector.start();
  const keys = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const env = {
    NODE_ENV: 'production',
    DATA_DIR: dataDir,
    DATABASE_URL: postgres.url,
    MIGRATE_ON_START: 'true',
    REDIS_URL: redis.url,
    // Qdrant cannot run here: the suite's stand-in (test/helpers/qdrant-stand-in.ts) answers its API.
    QDRANT_URL: qdrant.url,
    JWT_PRIVATE_KEY: keys.privateKey,
    JWT_PUBLIC_KEY: keys.publicKey,
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '200',
    LOG_LEVEL: 'warn',
    // The limiter stays on (its Redis calls are part of every request) with room for the load.
    RATE_LIMIT_PER_MINUTE_IP: '1000000',
    RATE_LIMIT_PER_MINUTE_USER: '1000000',
    RATE_LIMIT_PER_MINUTE_PROJECT: '1000000',
  };
  server = SupervisedServer.start(env, await freePort());
  const [token] = await Promise.all([issueToken(env, 'faults@example.com'), server.waitLive()]);
  const tokens = [token];
  actions.push(`set-up (PostgreSQL, Redis, Qdrant stand-in, collector, server, token): ${Math.round(performance.now() - setupStarted)} ms`);

  tally = new FaultTally('baseline');
  load = new SteadyLoad(server.base, tokens, tally, { shortWriters: 3, longWriters: 1, eventsPerOperation: 10, thinkMs: 25 });
  try {
    load.start();
    await settle();

    tally.begin('postgres restart');
    const inFlight = await holdQueriesInFlight();
    pgQueriesInFlight = inFlight.waiting;
    await postgres.stop();
    await inFlight.release();
    await sleep(DOWN_MS);
    await postgres.start();
    const pgBack = await untilReady();
    actions.push(
      `PostgreSQL fast shutdown with ${inFlight.waiting} of the server's queries in flight, down ${DOWN_MS} ms, ready again ${pgBack} ms after its start`,
    );
    await settle();

    tally.begin('redis restart');
    await redis.stop();
    await sleep(DOWN_MS);
    await redis.start();
    const redisBack = await untilReady();
    actions.push(
      `Redis killed (SIGKILL, no persistence: its data is gone), down ${DOWN_MS} ms, ready again ${redisBack} ms after its start`,
    );
    await settle();

    tally.begin('collector hang');
    const exportsBefore = collector.requests;
    const spansBeforeHang = collector.spans.length;
    const hangStarted = performance.now();
    await collector.setMode('hang');
    await settle(HANG_MS);
    const hungMs = Math.round(performance.now() - hangStarted);
    const held = collector.requests - exportsBefore;
    collectorSpansDuringHang = collector.spans.length - spansBeforeHang;
    tally.begin('collector back');
    const spansBefore = collector.spans.length;
    await collector.setMode('ok');
    const t0 = performance.now();
    const deadline = t0 + 30_000;
    while (collector.spans.length === spansBefore && performance.now() < deadline) await sleep(50);
    const spansAgain =
      collector.spans.length > spansBefore ? `spans arriving again after ${Math.round(performance.now() - t0)} ms` : 'no span within 30 s';
    actions.push(`collector accepted and never answered ${held} export requests for ${hungMs} ms; then answered: ${spansAgain}`);
    collectorHeldRequests = held;
    await settle();

    tally.begin('drain');
  } finally {
    // Also when a phase failed: the counts so far are the evidence.
    ({ unfinishedFollowers } = await load.drain(FOLLOW_MS));
    audit = auditDelivery(load.operations);
    const report = formatFaultReport({
      tally,
      audit,
      exits: server.exits,
      pids: server.pids,
      unfinishedFollowers,
      actions,
      serverLog: server.allOutput(),
      endedMs: performance.now(),
    });
    process.stdout.write(`${report}\n`);
  }
}, 300_000);

afterAll(async () => {
  await server?.stop();
  await collector?.stop();
  await qdrant?.stop();
  await redis?.stop();
  await postgres?.dispose();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('the API under steady load while PostgreSQL restarts, Redis restarts and the collector hangs (issue 14)', () => {
  it('when the faults happen, every response is a success of its route or a §4 error body with an allowed status (outside the contract: 0)', () => {
    const byReason = tally.outside.map((o) => `${o.phase} / ${o.route} / ${o.reason}`);
    expect(byReason).toEqual([]);
  });

  it('when the faults are over, every event acknowledged with 202 reached its resuming follower exactly once and in order (undelivered: 0)', () => {
    expect({
      undelivered: audit.undelivered.map((u) => `${u.phase}: op ${u.operation} id ${u.id}`),
      duplicates: audit.duplicates,
      outOfOrder: audit.outOfOrder,
    }).toEqual({ undelivered: [], duplicates: 0, outOfOrder: 0 });
  });

  it('through the whole run, the server process never exits (one pid, restarts: 0)', () => {
    expect(server.exits.map((e) => `${tally.phaseAt(e.atMs)}: code ${e.code} signal ${e.signal}`)).toEqual([]);
    expect(server.pids).toHaveLength(1);
  });

  it('the run drove what it claims: load in every phase, each fault met by the clients, events acknowledged before and after each fault', () => {
    // The drain is the writers' last events only; every other phase is under the full load.
    for (const phase of tally.phases.filter((p) => p.name !== 'drain')) {
      expect(phase.requests, `requests in ${phase.name}`).toBeGreaterThan(20);
    }
    const phase = (name: string) => tally.phases.find((p) => p.name === name);
    const met = (name: string, service: string) => {
      const p = phase(name);
      return (p?.unavailable[service] ?? 0) + (p?.outside ?? 0) + (p?.streamDrops ?? 0);
    };
    expect(pgQueriesInFlight, 'server queries in flight when PostgreSQL went down').toBeGreaterThan(0);
    expect(met('postgres restart', 'postgres'), 'clients met the PostgreSQL outage').toBeGreaterThan(0);
    expect(met('redis restart', 'redis'), 'clients met the Redis outage').toBeGreaterThan(0);
    expect(collectorHeldRequests, 'export requests the hung collector held').toBeGreaterThan(0);
    expect(collectorSpansDuringHang, 'spans the collector took while hung').toBe(0);
    for (const name of ['baseline', 'postgres restart', 'redis restart', 'collector hang']) {
      expect(audit.ackedByPhase[name] ?? 0, `events acknowledged in ${name}`).toBeGreaterThan(0);
    }
  });
});
