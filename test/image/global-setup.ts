import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The docker CLI that talks to the engine (scripts/image/start-dockerd.sh chose it). */
    dockerCli: string;
    /** The project's runtime image, built from the repository's Dockerfile for this run. */
    image: string;
  }
}

const ROOT = path.resolve(import.meta.dirname, '../..');
export const IMAGE = 'jeex-api:image-test';
/** Marks what this tier builds, so that its superseded (dangling) images can be pruned. */
const TIER_LABEL = 'org.jeex.tier=image';

function say(line: string): void {
  process.stderr.write(`image tier: ${line}\n`);
}

/** Runs a command; resolves with its stdout, or rejects with its exit code and the end of its output. */
function run(
  program: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; stdin?: string; log?: string } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd: ROOT, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const log = opts.log ? createWriteStream(opts.log) : undefined;
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      log?.write(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      const text = c.toString('utf8');
      err = (err + text).slice(-8_000);
      // The scripts' own progress lines ("image tier: …") are worth seeing as they happen.
      if (!log) process.stderr.write(text);
      log?.write(c);
    });
    child.stdin.end(opts.stdin ?? '');
    child.once('error', reject);
    child.once('close', (code) => {
      log?.end();
      if (code === 0) resolve(out);
      else
        reject(
          new Error(
            // Without a log file the output has been shown as it came.
            `${program} ${args.join(' ')} exited ${code}${log ? ` (log: ${opts.log})\n${err.split('\n').slice(-30).join('\n')}` : ''}`,
          ),
        );
    });
  });
}

const lastLine = (text: string) => text.trim().split('\n').at(-1) ?? '';

/**
 * The image tier's set-up (docs/adr/0013): an engine (started when needed), the local base images
 * (reused when unchanged), then the project's image from the repository's Dockerfile with only
 * `NODE_IMAGE` pointed at the local Node base. Any failure ends the run non-zero with the reason:
 * without an engine this tier fails, it never passes empty.
 */
export default async function setup(project: TestProject): Promise<void> {
  const t0 = performance.now();
  const cli = lastLine(await run(path.join(ROOT, 'scripts/image/start-dockerd.sh'), []));
  const t1 = performance.now();
  // Containers inherit the image's labels: any left by a run that was killed are removed here.
  const leftovers = (await run(cli, ['ps', '--all', '--quiet', '--filter', `label=${TIER_LABEL}`])).split('\n').filter(Boolean);
  if (leftovers.length > 0) await run(cli, ['rm', '--force', ...leftovers]);
  const nodeImage = lastLine(await run(path.join(ROOT, 'scripts/image/build-base.sh'), [cli]));
  const t2 = performance.now();

  const log = path.join(await mkdtemp(path.join(tmpdir(), 'jeex-image-build-')), 'docker-build.log');
  say(`building ${IMAGE} from the Dockerfile on ${nodeImage} (log: ${log})`);
  // BuildKit builds only the stages the runtime target needs; the legacy builder would build all.
  await run(cli, ['build', '--progress=plain', '--build-arg', `NODE_IMAGE=${nodeImage}`, '--label', TIER_LABEL, '--tag', IMAGE, '.'], {
    env: { ...process.env, DOCKER_BUILDKIT: '1' },
    log,
  });
  const t3 = performance.now();
  await run(cli, ['image', 'prune', '--force', '--filter', `label=${TIER_LABEL}`]);
  const cached = (await readFile(log, 'utf8')).match(/^#\d+ CACHED$/gm)?.length ?? 0;
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  say(`engine ${s(t1 - t0)}, base images ${s(t2 - t1)}, project image ${s(t3 - t2)} (${cached} steps from cache)`);

  project.provide('dockerCli', cli);
  project.provide('image', IMAGE);
}
