// `npm start` (prestart), `npm run migrate` and `npm run token` build first, but only when
// something the build reads changed since the last build: a warm start skips the compiler
// (bench/RESULTS.md, "Start-up"). Plain JavaScript, so it runs before anything is compiled.
// The fingerprint is every input's path, size and mtime: an edit, a new file, a deleted one
// or another compiler version changes it. Output goes to stderr only (`npm run --silent token`
// prints nothing but the token on stdout).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const stampFile = path.join(root, 'dist', '.build-fingerprint');
// The TypeScript 7 compiler the project declares; node_modules/.bin/tsc is TypeScript 6,
// pulled in beside it (docs/adr/0012-embedded-postgres-start-up.md).
const compiler = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? files(full) : [full];
  });
}

function fingerprint() {
  const inputs = [
    ...files(path.join(root, 'src')),
    path.join(root, 'tsconfig.json'),
    path.join(root, 'tsconfig.build.json'),
    path.join(root, 'node_modules', 'typescript', 'package.json'),
  ].sort();
  const hash = createHash('sha256');
  for (const file of inputs) {
    const stat = statSync(file);
    hash.update(`${path.relative(root, file)}\0${stat.size}\0${stat.mtimeMs}\n`);
  }
  return hash.digest('hex');
}

const force = process.argv.includes('--force');
const current = fingerprint();
const previous = existsSync(stampFile) ? readFileSync(stampFile, 'utf8').trim() : '';
if (!force && previous === current && existsSync(path.join(root, 'dist', 'server.js'))) process.exit(0);

// From an empty dist: output of a deleted source file (a migration!) must not linger.
rmSync(path.join(root, 'dist'), { recursive: true, force: true });
const started = performance.now();
const result = spawnSync(process.execPath, [compiler, '-p', 'tsconfig.build.json'], { cwd: root, stdio: ['ignore', 2, 2] });
if (result.status !== 0) {
  console.error(`build failed (${result.error?.message ?? `tsc exit ${result.status}`})`);
  process.exit(1);
}
writeFileSync(stampFile, `${current}\n`);
console.error(`built dist/ in ${((performance.now() - started) / 1000).toFixed(1)} s`);
