import { execFileSync } from 'node:child_process';
import { chmod, cp, mkdtemp, realpath, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** What a bench server needs to run from source (bench/servers/*.ts through tsx). */
const ENTRIES = ['src', 'bench', 'package.json', 'tsconfig.json'] as const;

export interface PatchedCopy {
  /** The copy's root: a server's working directory. */
  readonly dir: string;
  readonly remove: () => Promise<void>;
}

/**
 * A copy of this tree as it is on disk (committed or not) with one patch applied, its
 * node_modules a link to ours: the baseline of a "with and without" comparison differs from
 * the tree under test by the patch alone, never by another commit's changes. The directory is
 * world-readable, so an embedded PostgreSQL running as the `postgres` user (root runs) can
 * reach the server binaries under node_modules (docs/facts.md). A patch that no longer applies
 * fails here, loudly, naming the patch.
 */
export async function patchedCopy(root: string, patch: string): Promise<PatchedCopy> {
  const dir = await mkdtemp(path.join(tmpdir(), 'jeex-bench-patched-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    await chmod(dir, 0o755);
    for (const entry of ENTRIES) await cp(path.join(root, entry), path.join(dir, entry), { recursive: true });
    await symlink(await realpath(path.join(root, 'node_modules')), path.join(dir, 'node_modules'));
    try {
      execFileSync('git', ['apply', '--whitespace=nowarn', path.resolve(patch)], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
      throw new Error(`${path.relative(root, patch)} does not apply to this tree; update it: ${stderr}`);
    }
    return { dir, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}
