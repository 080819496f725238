import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportPKCS8, exportSPKI, generateKeyPair } from 'jose';
import pg from 'pg';
import { TokenService } from '../../src/auth/tokens.js';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.js';
import { createProject, devLogin } from '../lib/api.js';
import { sectionHead } from '../lib/report.js';
import { startServer } from '../lib/server-process.js';
import { median } from '../lib/stats.js';
import { fixed, int, intFromEnv, type ScenarioContext, type ScenarioResult } from './context.js';

/**
 * `worker-leases` (issue 15, docs/adr/0020): the app in its own process on a PostgreSQL of this
 * scenario's own (so its statistics can be read), in-process bus (one instance).
 * - lease → start latency: one worker waits in a long poll; the operation is created; from the
 *   creating POST to the worker's 201 (graphile-worker reports ~4 ms queue → start);
 * - leases per second: N operations pending, 10 workers each looping lease (wait 0) → final event
 *   with the operation token, until 204;
 * - PostgreSQL cost per lease: pg_stat_database (transactions, rows written) and pg_stat_wal
 *   deltas over the throughput phase, divided by the leases (each lease here also carries one
 *   final event, as a real one does).
 */
const LATENCY_SAMPLES = intFromEnv('BENCH_LEASE_SAMPLES', 200, 10);
const THROUGHPUT_OPS = intFromEnv('BENCH_LEASE_OPS', 2000, 50);
const WORKERS = 10;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function post(url: string, token: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
}

interface PgCounters {
  xacts: number;
  inserted: number;
  updated: number;
  deleted: number;
  walBytes: number;
}

async function counters(db: pg.Client): Promise<PgCounters> {
  const { rows } = await db.query(
    `SELECT xact_commit + xact_rollback AS xacts, tup_inserted AS inserted, tup_updated AS updated, tup_deleted AS deleted,
            (SELECT wal_bytes FROM pg_stat_wal) AS wal
     FROM pg_stat_database WHERE datname = current_database()`,
  );
  const r = rows[0] as Record<string, string>;
  return {
    xacts: Number(r.xacts),
    inserted: Number(r.inserted),
    updated: Number(r.updated),
    deleted: Number(r.deleted),
    walBytes: Number(r.wal),
  };
}

export async function workerLeasesScenario(ctx: ScenarioContext): Promise<ScenarioResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'jeex-bench-leases-'));
  const postgres = await startEmbeddedPostgres({ dataDir: dir, settings: { fsync: 'off', synchronous_commit: 'off' } });
  const pair = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const [privatePem, publicPem] = [await exportPKCS8(pair.privateKey), await exportSPKI(pair.publicKey)];
  const server = await startServer({
    label: `${ctx.name}/app`,
    script: path.join(ctx.root, 'bench/servers/app.ts'),
    cwd: ctx.root,
    env: {
      BENCH_APP_ENV: JSON.stringify({
        DATABASE_URL: postgres.url(),
        MIGRATE_ON_START: 'true',
        JWT_PRIVATE_KEY: privatePem,
        JWT_PUBLIC_KEY: publicPem,
        RATE_LIMIT_PER_MINUTE_IP: '0',
        RATE_LIMIT_PER_MINUTE_USER: '0',
        RATE_LIMIT_PER_MINUTE_PROJECT: '0',
      }),
    },
    nodeArgs: ctx.cpuProfArgs('app'),
  });
  const db = new pg.Client({ connectionString: postgres.url() });
  await db.connect();
  try {
    const { importPKCS8, importSPKI } = await import('jose');
    const signer = new TokenService(
      { privateKey: await importPKCS8(privatePem, 'RS256'), publicKey: await importSPKI(publicPem, 'RS256'), kid: 'bench', publicJwk: {} },
      { issuer: 'jeex-api', audience: 'jeex', expiresInMinutes: 30 },
    );
    const workerTokens = await Promise.all(
      Array.from({ length: WORKERS }, async (_, i) => (await signer.issueWorker(`bench-${i}`, 1)).access_token),
    );
    const base = server.baseUrl;
    const userToken = await devLogin(base, 'bench-leases@example.com');
    const projectId = await createProject(base, userToken, 'Lease bench');
    const opsUrl = `${base}/api/v1/projects/${projectId}/operations`;
    const leaseUrl = `${base}/api/v1/worker/leases`;

    // 1. lease → start latency with a waiting worker.
    const latencies: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES + 10; i++) {
      const waiting = post(leaseUrl, workerTokens[0] as string, { kinds: ['bench.latency'], wait_seconds: 20 });
      await new Promise((r) => setTimeout(r, 20)); // the poll is waiting before the operation exists
      const t0 = performance.now();
      const created = await post(opsUrl, userToken, { kind: 'bench.latency' });
      if (created.status !== 201) throw new Error(`create answered ${created.status}`);
      const res = await waiting;
      const t1 = performance.now();
      if (res.status !== 201) throw new Error(`lease answered ${res.status}`);
      const lease = (await res.json()) as { token: string; operation: { id: string } };
      if (i >= 10) latencies.push(t1 - t0);
      await post(`${opsUrl}/${lease.operation.id}/events`, lease.token, { type: 'done', status: 'completed' });
    }
    latencies.sort((a, b) => a - b);
    ctx.log(`latency: p50 ${fixed(percentile(latencies, 50), 2)} ms, p99 ${fixed(percentile(latencies, 99), 2)} ms`);

    // 2. leases per second with 10 workers, and 3. PostgreSQL cost per lease.
    for (let i = 0; i < THROUGHPUT_OPS; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, THROUGHPUT_OPS - i) }, () => post(opsUrl, userToken, { kind: 'bench.throughput' })),
      );
    }
    const before = await counters(db);
    let leased = 0;
    const t0 = performance.now();
    await Promise.all(
      workerTokens.map(async (token) => {
        for (;;) {
          const res = await post(leaseUrl, token, { kinds: ['bench.throughput'] });
          if (res.status === 204) return;
          if (res.status !== 201) throw new Error(`lease answered ${res.status}`);
          const lease = (await res.json()) as { token: string; operation: { id: string } };
          const done = await post(`${opsUrl}/${lease.operation.id}/events`, lease.token, { type: 'done', status: 'completed' });
          if (done.status !== 202) throw new Error(`final event answered ${done.status}`);
          leased += 1;
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const after = await counters(db);
    const { rows } = await db.query(`SELECT count(*)::int AS n, count(DISTINCT operation_id)::int AS ops FROM operation_leases l
      JOIN operations o ON o.id = l.operation_id WHERE o.kind = 'bench.throughput'`);
    const leaseRows = rows[0] as { n: number; ops: number };
    const per = (n: number) => fixed(n / leased, 2);
    ctx.log(`throughput: ${leased} leases in ${fixed(seconds, 2)} s`);

    const body = [
      ...sectionHead({
        name: ctx.name,
        title: ctx.title,
        command: ctx.command,
        machine: ctx.machine,
        method:
          `the app (bench/servers/app.ts) in its own process, in-process bus, on an embedded PostgreSQL 18 of the scenario's own (fsync off), ` +
          `rate limits 0. Latency: one worker long-polls (wait_seconds 20), then the operation is created; from before the creating POST to the ` +
          `worker's 201, ${LATENCY_SAMPLES} samples after 10 warm-up. Throughput: ${THROUGHPUT_OPS} pending operations, ${WORKERS} workers each ` +
          `looping lease (wait 0) → final event with the operation token until 204. PostgreSQL cost: pg_stat_database / pg_stat_wal deltas over ` +
          `the throughput phase divided by the leases (each lease with its final event).`,
      }),
      '',
      '| measure | value |',
      '|---|---:|',
      `| lease → start p50 (ms) | ${fixed(percentile(latencies, 50), 2)} |`,
      `| lease → start p99 (ms) | ${fixed(percentile(latencies, 99), 2)} |`,
      `| lease → start median of samples (ms) | ${fixed(median(latencies), 2)} |`,
      `| leases per second, ${WORKERS} workers (lease + final event each) | ${int(leased / seconds)} |`,
      `| leases granted / operations leased | ${int(leaseRows.n)} / ${int(leaseRows.ops)} (each exactly once: ${leaseRows.n === leaseRows.ops ? 'yes' : 'NO'}) |`,
      `| transactions per lease (incl. the final event's) | ${per(after.xacts - before.xacts)} |`,
      `| rows inserted / updated / deleted per lease | ${per(after.inserted - before.inserted)} / ${per(after.updated - before.updated)} / ${per(after.deleted - before.deleted)} |`,
      `| WAL bytes per lease | ${int((after.walBytes - before.walBytes) / leased)} |`,
    ].join('\n');
    return { body, full: LATENCY_SAMPLES >= 200 && THROUGHPUT_OPS >= 2000 };
  } finally {
    await db.end();
    await server.stop();
    await postgres.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
