import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { commandOf, readCompose } from '../helpers/compose-file.js';
import { createEmptyDatabase, type TestDatabase } from '../helpers/database.js';
import { QdrantStandIn } from '../helpers/qdrant-stand-in.js';
import { freePort } from '../helpers/server-process.js';
import { docker, dockerOk, logsOf, type Result, stateOf, whileRunning } from './docker.js';

/*
 * The production image itself (docs/adr/0013), built by this tier's set-up from the repository's
 * Dockerfile: compose's migration job and the image's own command run in containers on the host
 * network against the run's PostgreSQL 18 and Redis, with the production configuration compose
 * gives them. Qdrant cannot run here: the stand-in (test/helpers/qdrant-stand-in.ts) answers for it.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const migrateCommand = commandOf(readCompose(new URL('compose.yaml', `file://${ROOT}/`)).compose.services.migrate ?? {});
const image = inject('image');
const container = `jeex-image-test-${randomBytes(4).toString('hex')}`;

let secrets: string;
let db: TestDatabase;
let qdrant: QdrantStandIn;
let port: number;
let runArgs: string[];
let migration: Result;

const base = () => `http://127.0.0.1:${port}/api/v1`;
const statusOf = (url: string) => fetch(url, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status);

beforeAll(async () => {
  // The JWT key pair exactly as an operator makes it for the stack (`make secrets`), in a directory
  // the image's `node` user (uid 1000) can enter: mkdtemp makes it 0700 for root.
  secrets = mkdtempSync(path.join(tmpdir(), 'jeex-image-secrets-'));
  chmodSync(secrets, 0o755);
  const keys = spawnSync('make', ['-s', '-C', ROOT, 'secrets', `SECRETS=${secrets}`], { encoding: 'utf8' });
  expect(keys.status, keys.stderr).toBe(0);

  db = await createEmptyDatabase();
  qdrant = await QdrantStandIn.start();
  port = await freePort();
  // compose.yaml's API environment, pointed at this machine's services (host network).
  const env = {
    NODE_ENV: 'production',
    DATABASE_URL: db.url,
    REDIS_URL: inject('redisUrl'),
    QDRANT_URL: qdrant.url,
    JWT_PRIVATE_KEY_FILE: '/run/secrets/jwt_private.pem',
    JWT_PUBLIC_KEY_FILE: '/run/secrets/jwt_public.pem',
    PORT: String(port),
  };
  runArgs = [
    '--network',
    'host',
    '--volume',
    `${secrets}:/run/secrets:ro`,
    ...Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
  ];

  migration = await docker(['run', '--rm', ...runArgs, image, ...migrateCommand], 120_000);
  // The API as compose starts it after the migration job: the image's own entrypoint and command.
  await dockerOk(['run', '--detach', '--name', container, ...runArgs, image]);
});

afterAll(async () => {
  await docker(['rm', '--force', container]);
  await qdrant?.stop();
  if (secrets) rmSync(secrets, { recursive: true, force: true });
});

describe(`the production image (${image}) on the host network`, () => {
  it("when compose's migration command runs in it on an empty database, applies every migration and exits 0", () => {
    expect(migration.code, migration.stdout + migration.stderr).toBe(0);
    expect(migration.stdout + migration.stderr).toMatch(/0001_initial_schema/);
  });

  it('when started with the production configuration, answers live and then ready with 200', async () => {
    // Start-up took 1–10 s here, depending on the machine's load.
    await whileRunning(
      container,
      'GET /health/live → 200',
      async () => ((await statusOf(`${base()}/health/live`)) === 200 ? true : undefined),
      45_000,
    );
    const ready = await whileRunning(
      container,
      'GET /health/ready → 200',
      async () => {
        const res = await fetch(`${base()}/health/ready`, { signal: AbortSignal.timeout(3_000) });
        return res.status === 200 ? ((await res.json()) as { status: string; components: { name: string; status: string }[] }) : undefined;
      },
      30_000,
    );
    expect(ready.status).toBe('healthy');
    expect(Object.fromEntries(ready.components.map((c) => [c.name, c.status]))).toMatchObject({
      postgres: 'healthy',
      redis: 'healthy',
      qdrant: 'healthy',
    });
  });

  it('runs every process of the container as a non-root user', async () => {
    await whileRunning(container, 'the server', async () => ((await statusOf(`${base()}/health/live`)) === 200 ? true : undefined), 30_000);
    // `docker top` lists the container's processes as the host sees them: tini and node.
    const top = (await dockerOk(['top', container, '-o', 'pid,uid,args'])).split('\n').slice(1);
    expect(
      top.some((line) => /\bnode\b.*dist\/server\.js/.test(line)),
      top.join('\n'),
    ).toBe(true);
    for (const line of top) expect(line.trim().split(/\s+/)[1], line).not.toBe('0');
    expect(await dockerOk(['exec', container, 'id', '-u'])).not.toBe('0');
    expect(await dockerOk(['inspect', '--format', '{{.Config.User}}', container])).toBe('node');
  });

  it("is reported healthy by the image's own HEALTHCHECK", async () => {
    // The first check runs one interval (10 s) after the start; a failing one would read `unhealthy`.
    const health = await whileRunning(
      container,
      'the health status',
      async () => {
        const state = await stateOf(container);
        // A stopped container is reported by whileRunning, with its output, not as a health status.
        if (!state.Running) return undefined;
        return state.Health?.Status === 'healthy' || state.Health?.Status === 'unhealthy' ? state.Health.Status : undefined;
      },
      45_000,
    );
    expect(health).toBe('healthy');
  });

  it('on `docker stop` (SIGTERM), exits with code 0 within 5 s, having logged only JSON lines', async () => {
    await whileRunning(container, 'the server', async () => ((await statusOf(`${base()}/health/live`)) === 200 ? true : undefined), 30_000);
    const t0 = performance.now();
    await dockerOk(['stop', '--time', '10', container], 30_000);
    const stoppedMs = performance.now() - t0;
    process.stderr.write(`image tier: docker stop returned after ${Math.round(stoppedMs)} ms\n`);
    const state = await stateOf(container);
    expect(state.Running).toBe(false);
    expect(state.OOMKilled).toBe(false);
    expect(state.ExitCode, await logsOf(container)).toBe(0);
    expect(stoppedMs).toBeLessThan(5_000);

    const lines = (await logsOf(container)).split('\n').filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
  });
});
