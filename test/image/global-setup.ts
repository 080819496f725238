import { spawn } from 'node:child_process';
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
/** The label scripts/image/prepare.sh gives the image; its containers inherit it. */
const TIER_LABEL = 'org.jeex.tier=image';

/** Runs a command, its stderr shown as it comes; resolves with its stdout, rejects on a non-zero exit. */
function run(program: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${program} ${args.join(' ')} exited ${code} (reason above)`)),
    );
  });
}

/**
 * The image tier's set-up (docs/adr/0013): scripts/image/prepare.sh starts an engine when needed,
 * reuses or builds the local base images and builds the project's image. Any failure ends the
 * run non-zero with the reason: without an engine this tier fails, it never passes empty.
 */
export default async function setup(project: TestProject): Promise<void> {
  const [cli = '', image = ''] = (await run(path.join(ROOT, 'scripts/image/prepare.sh'), [])).trim().split('\n').at(-1)?.split(' ') ?? [];
  // Any containers left by a run that was killed.
  const leftovers = (await run(cli, ['ps', '--all', '--quiet', '--filter', `label=${TIER_LABEL}`])).split('\n').filter(Boolean);
  if (leftovers.length > 0) await run(cli, ['rm', '--force', ...leftovers]);
  project.provide('dockerCli', cli);
  project.provide('image', image);
}
