import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBrowser, INSTALL_HINT } from '../helpers/browser.js';

/*
 * The browser test's prerequisite check on machine states simulated by PATH and location
 * overrides: nothing here touches the real /usr/bin or apt. The "apt-get" below is a stand-in
 * script (not apt): it only records that it ran and drops an executable where apt would.
 */
let dir: string;
let empty: string;

async function script(file: string, body: string): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'jeex-browser-check-'));
  empty = path.join(dir, 'empty');
  await mkdir(empty);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the browser prerequisite of npm test', () => {
  it('when no browser is anywhere and apt cannot be used, fails with one line naming what to install', async () => {
    // As root here: that apt cannot be used is found from PATH (no apt-get on it).
    const error = await findBrowser({ env: { PATH: empty }, locations: [] }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(INSTALL_HINT);
    expect((error as Error).message).not.toContain('\n');
    expect((error as Error).message).toMatch(/install .*`chromium`.*CHROMIUM_PATH/);
  });

  it('when no browser is there and we may install, but apt-get fails, fails with one line with apt’s reason', async () => {
    const bin = path.join(dir, 'failing-apt');
    await script(path.join(bin, 'apt-get'), 'echo "E: Unable to locate package chromium" >&2\nexit 100');
    const error = await findBrowser({ env: { PATH: bin }, locations: [], canInstall: true, lockDir: path.join(dir, 'lock-1') }).catch(
      (e: Error) => e,
    );
    expect((error as Error).message).toBe(`${INSTALL_HINT} (installing it with apt-get failed: E: Unable to locate package chromium)`);
  });

  it('when chromium is on PATH, finds it there', async () => {
    const bin = path.join(dir, 'path-bin');
    const chromium = await script(path.join(bin, 'chromium'), 'exit 0');
    expect(await findBrowser({ env: { PATH: `${empty}:${bin}` }, locations: [], canInstall: false })).toBe(chromium);
  });

  it('when CHROMIUM_PATH names an executable, uses it before anything else', async () => {
    const chrome = await script(path.join(dir, 'custom', 'my-chrome'), 'exit 0');
    const other = await script(path.join(dir, 'other', 'chromium'), 'exit 0');
    expect(await findBrowser({ env: { PATH: path.dirname(other), CHROMIUM_PATH: chrome }, locations: [other] })).toBe(chrome);
  });

  it('when CHROMIUM_PATH names nothing executable, fails with one line naming it', async () => {
    const error = await findBrowser({ env: { PATH: empty, CHROMIUM_PATH: path.join(dir, 'missing') } }).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/^CHROMIUM_PATH=.*missing is not an executable file; the browser test needs Chromium/);
    expect((error as Error).message).not.toContain('\n');
  });

  it('when no browser is there and we may install, installs chromium with apt once, even for parallel callers', async () => {
    const bin = path.join(dir, 'apt-bin');
    const installed = path.join(dir, 'installed');
    const calls = path.join(dir, 'apt-calls');
    // Stand-in for apt-get: `install` puts an executable `chromium` on PATH, as the package does.
    await script(
      path.join(bin, 'apt-get'),
      `echo "$@" >> '${calls}'\ncase "$*" in *install*) /bin/sleep 0.3; /bin/mkdir -p '${installed}'; printf '#!/bin/sh\\n' > '${installed}/chromium'; /bin/chmod 755 '${installed}/chromium';; esac`,
    );
    const lookup = { env: { PATH: `${bin}:${installed}` }, locations: [], canInstall: true, lockDir: path.join(dir, 'lock-2') };
    const found = await Promise.all([findBrowser(lookup), findBrowser(lookup), findBrowser(lookup)]);
    expect(found).toEqual([path.join(installed, 'chromium'), path.join(installed, 'chromium'), path.join(installed, 'chromium')]);
    const lines = (await readFile(calls, 'utf8')).trim().split('\n');
    expect(lines.filter((l) => l.includes('install'))).toHaveLength(1);
    expect(lines.find((l) => l.includes('install'))).toContain('chromium');
  });
});
