import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { execForm, lastOf, readDockerfile, type Stage } from '../../helpers/dockerfile.js';

const root = new URL('../../../', import.meta.url);
const dockerfile = readDockerfile(new URL('Dockerfile', root));
const runtime = dockerfile.defaultStage;
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> };

const runs = (stage: Stage) => stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);

describe('Dockerfile', () => {
  it('builds the runtime stage by default, on a Node 24 slim image', () => {
    expect(runtime.name).toBe('runtime');
    expect(runtime.image).toMatch(/^node:24(-[a-z]+)?-slim$/);
  });

  it("runs `npm start`'s node command in exec form, under tini, never through npm", () => {
    expect(execForm(lastOf(runtime, 'CMD'))).toEqual(pkg.scripts.start?.split(' '));
    expect(execForm(lastOf(runtime, 'ENTRYPOINT'))).toEqual(['/usr/bin/tini', '--']);
    expect(runs(runtime).join('\n')).toMatch(/apt-get install .*\btini\b/);
  });

  it('runs as a non-root user', () => {
    const user = lastOf(runtime, 'USER')?.args;
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
  });

  it('checks liveness with node itself (no curl in the image), on port 5210', () => {
    const check = lastOf(runtime, 'HEALTHCHECK')?.args ?? '';
    const command = JSON.parse(check.slice(check.indexOf('CMD') + 3).trim()) as string[];
    expect(command[0]).toBe('node');
    expect(command.join(' ')).toContain("fetch('http://127.0.0.1:'+(process.env.PORT||5210)+'/api/v1/health/live')");
    expect(lastOf(runtime, 'EXPOSE')?.args).toBe('5210');
  });

  it('compiles and prunes to production dependencies in the build stage; the runtime takes only the result', () => {
    const build = dockerfile.stage('build');
    const steps = runs(build).join('\n');
    expect(steps).toMatch(/npm ci\b/);
    expect(steps).toMatch(/npm run build\b.*npm prune --omit=dev/s);
    const copied = runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    expect(copied.every((c) => c.startsWith('--from=build'))).toBe(true);
    expect(copied.map((c) => c.split(/\s+/).at(-1))).toEqual(['./package.json', './node_modules', './dist']);
  });

  it('has a development target that serves the mounted source with reload', () => {
    expect(execForm(lastOf(dockerfile.stage('development'), 'CMD'))).toEqual(['npm', 'run', 'dev']);
    expect(pkg.scripts.dev).toMatch(/^tsx watch /);
  });

  it('keeps local state, secrets and build output out of the build context', () => {
    const ignored = readFileSync(new URL('.dockerignore', root), 'utf8').split('\n');
    for (const entry of ['node_modules', 'dist', '.data', '.env', 'deploy/secrets', '.git']) expect(ignored).toContain(entry);
  });
});
