import { execFile } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import lockfile from 'proper-lockfile';

/*
 * The browser of the browser test (`npm test` needs nothing but `npm install` and
 * redis-server: ../../README.md "Tests"). Looked up in CHROMIUM_PATH, then the usual
 * locations, then PATH; when none is there and we are root with apt, Debian's `chromium`
 * package is installed once (a lock keeps parallel test files, or runs, from racing apt).
 * When it truly cannot, the error is one line saying what to install: never a skip.
 */

const run = promisify(execFile);

export const BROWSER_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
export const BROWSER_LOCATIONS = BROWSER_NAMES.map((name) => `/usr/bin/${name}`);

export const INSTALL_HINT =
  'the browser test needs Chromium: install the Debian/Ubuntu package `chromium` (apt-get install chromium) or set CHROMIUM_PATH to a Chromium or Chrome executable';

export interface BrowserLookup {
  readonly env?: NodeJS.ProcessEnv;
  /** Fixed places looked at before PATH. */
  readonly locations?: readonly string[];
  /** Whether we may install with apt (root, and apt-get on PATH). */
  readonly canInstall?: boolean;
  readonly lockDir?: string;
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir !== '' && executable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** The first browser found, without installing anything. */
export function locateBrowser(lookup: BrowserLookup = {}): string | undefined {
  const env = lookup.env ?? process.env;
  if (env.CHROMIUM_PATH) {
    if (executable(env.CHROMIUM_PATH)) return env.CHROMIUM_PATH;
    throw new Error(`CHROMIUM_PATH=${env.CHROMIUM_PATH} is not an executable file; ${INSTALL_HINT}`);
  }
  for (const location of lookup.locations ?? BROWSER_LOCATIONS) if (executable(location)) return location;
  for (const name of BROWSER_NAMES) {
    const found = onPath(name, env);
    if (found) return found;
  }
  return undefined;
}

/** A browser's path: found, or installed with apt (root only), or a one-line error. */
export async function findBrowser(lookup: BrowserLookup = {}): Promise<string> {
  const env = lookup.env ?? process.env;
  const found = locateBrowser(lookup);
  if (found) return found;
  const canInstall = lookup.canInstall ?? (process.getuid?.() === 0 && onPath('apt-get', env) !== undefined);
  if (!canInstall) throw new Error(INSTALL_HINT);

  const lockDir = lookup.lockDir ?? path.join(tmpdir(), 'jeex-browser-install');
  mkdirSync(lockDir, { recursive: true });
  const release = await lockfile.lock(lockDir, {
    realpath: false,
    stale: 30_000,
    retries: { retries: 1_000, minTimeout: 200, maxTimeout: 1_000 },
    onCompromised: () => undefined,
  });
  try {
    // Whoever held the lock before us may have installed it.
    const installedMeanwhile = locateBrowser(lookup);
    if (installedMeanwhile) return installedMeanwhile;
    const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
    // Wait for another apt/dpkg (unattended upgrades) instead of failing on its lock.
    const wait = ['-o', 'DPkg::Lock::Timeout=300'];
    try {
      await run('apt-get', [...wait, 'update', '-qq'], { env: aptEnv, maxBuffer: 64 * 1024 * 1024 });
      await run('apt-get', [...wait, 'install', '-y', '-qq', '--no-install-recommends', 'chromium'], {
        env: aptEnv,
        maxBuffer: 64 * 1024 * 1024,
      });
    } catch (error) {
      const stderr = `${(error as { stderr?: string }).stderr ?? ''}`.trim().split('\n').at(-1) ?? '';
      const reason = (stderr || (error as Error).message).replace(/\s+/g, ' ');
      throw new Error(`${INSTALL_HINT} (installing it with apt-get failed: ${reason})`);
    }
    const installed = locateBrowser(lookup);
    if (!installed) throw new Error(`${INSTALL_HINT} (apt-get installed chromium, but no browser was found after it)`);
    return installed;
  } finally {
    await release().catch(() => undefined);
  }
}
