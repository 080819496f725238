import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/*
 * Without an engine the tier must fail, saying why, never pass empty (docs/adr/0013). The set-up
 * runs scripts/image/start-dockerd.sh first and stops the run when it exits non-zero; here the
 * script runs as an unprivileged user (uid 65534, who may not start dockerd) against a socket where
 * nothing listens. It is copied to a directory that user can read, wherever the checkout lives.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
let dir: string;
let script: string;
/** An absolute path: the second case's PATH holds no shell. */
const bash = spawnSync('sh', ['-c', 'command -v bash'], { encoding: 'utf8' }).stdout.trim();

function asNobody(env: Record<string, string>) {
  return spawnSync(
    'setpriv',
    [
      '--reuid',
      '65534',
      '--regid',
      '65534',
      '--clear-groups',
      'env',
      '-i',
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      bash,
      script,
    ],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'jeex-no-engine-'));
  chmodSync(dir, 0o755);
  script = path.join(dir, 'start-dockerd.sh');
  copyFileSync(path.join(ROOT, 'scripts/image/start-dockerd.sh'), script);
  chmodSync(script, 0o755);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('scripts/image/start-dockerd.sh', () => {
  it('when no engine answers and the user may not start dockerd, says so in one line and exits 1', () => {
    const r = asNobody({ PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^image tier: no Docker engine answers .* only root can start dockerd/),
    ]);
  });

  it('when dockerd is not installed and the user is not root, names the package to install and exits 1', () => {
    // A PATH with nothing of Docker on it: only what the script needs before it gives up.
    const bin = path.join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    symlinkSync('/usr/bin/id', path.join(bin, 'id'));
    const r = asNobody({ PATH: bin, DOCKER: path.join(dir, 'no-docker-cli') });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/dockerd is not installed; as root, run: apt-get install -y --no-install-recommends docker\.io/);
  });
});
