import { spawnSync } from 'node:child_process';
import { copyFileSync, linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readDockerfile } from './dockerfile.js';

/*
 * The file layout of the image's runtime stage, in a temporary directory, for tests that run
 * the image's commands without a Docker engine: dist/ from a fresh build, package.json, and
 * the node_modules the build stage ends with — `npm prune --omit=dev` keeps exactly the
 * packages `npm ls --omit=dev` lists, where they are — minus what its `rm -rf` deletes
 * (the embedded PostgreSQL binaries). Files are hard links into this checkout's node_modules
 * (copies across file systems): seconds, not the ~30 s of an `npm ci`.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface ImageLayout {
  readonly dir: string;
  /** What the Dockerfile's build stage deletes from node_modules after the prune. */
  readonly removed: readonly string[];
  readonly remove: () => void;
}

function linkTree(from: string, to: string, skip: (name: string) => boolean): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (skip(entry.name)) continue;
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) linkTree(src, dst, () => false);
    else if (entry.isSymbolicLink()) copyFileSync(src, dst);
    else {
      try {
        linkSync(src, dst);
      } catch {
        copyFileSync(src, dst);
      }
    }
  }
}

/** The `rm -rf node_modules/…` of the Dockerfile's build stage. */
export function dockerfileRemovals(): string[] {
  const build = readDockerfile(new URL('Dockerfile', `file://${ROOT}/`)).stage('build');
  return build.instructions
    .filter((i) => i.keyword === 'RUN')
    .flatMap((i) => [...i.args.matchAll(/rm -rf ((?:node_modules\/\S+\s*)+)/g)].flatMap((m) => (m[1] ?? '').trim().split(/\s+/)));
}

export function layOutImage(): ImageLayout {
  const dir = mkdtempSync(path.join(tmpdir(), 'jeex-image-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    // `npm run build` (the TypeScript 7 compiler), into this directory instead of the checkout's dist.
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    const build = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', path.join(dir, 'dist')], {
      encoding: 'utf8',
    });
    if (build.status !== 0) throw new Error(`build failed: ${build.stdout}${build.stderr}`);
    copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));

    // npm ls exits 1 over peer-range notes; its list is what counts.
    const listed = spawnSync('npm', ['ls', '--omit=dev', '--parseable', '--all'], { cwd: ROOT, encoding: 'utf8' });
    const packages = listed.stdout
      .split('\n')
      .filter((p) => p.startsWith(`${ROOT}${path.sep}node_modules${path.sep}`))
      .map((p) => path.relative(ROOT, p));
    if (packages.length < 50) throw new Error(`npm ls --omit=dev listed ${packages.length} packages: ${listed.stderr}`);
    const removed = dockerfileRemovals();
    const kept = packages.filter(
      (pkg) => !removed.some((r) => pkg === path.normalize(r) || pkg.startsWith(`${path.normalize(r)}${path.sep}`)),
    );
    // A package's own node_modules holds nested packages, which npm ls lists on their own lines.
    for (const pkg of kept) linkTree(path.join(ROOT, pkg), path.join(dir, pkg), (name) => name === 'node_modules');
    if (!statSync(path.join(dir, 'dist', 'server.js')).isFile()) throw new Error('no dist/server.js');
    return { dir, removed, remove };
  } catch (error) {
    remove();
    throw error;
  }
}
