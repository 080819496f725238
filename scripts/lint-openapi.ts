import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { documentText, generateOpenApiDocument } from './openapi-document.js';

/*
 * `npm run lint:openapi`: the OpenAPI document the app serves, written to a temporary file and
 * linted by Redocly with the rules in redocly.yaml. Exits with Redocly's code (non-zero on any error).
 */
const ROOT = path.resolve(import.meta.dirname, '..');
const dir = await mkdtemp(path.join(tmpdir(), 'jeex-openapi-lint-'));
let code = 1;
try {
  const file = path.join(dir, 'openapi.json');
  await writeFile(file, documentText(await generateOpenApiDocument()));
  const cli = createRequire(import.meta.url).resolve('@redocly/cli/bin/cli.js');
  const result = spawnSync(process.execPath, [cli, 'lint', file, '--config', path.join(ROOT, 'redocly.yaml')], {
    cwd: ROOT,
    stdio: 'inherit',
    // No usage reporting or update checks from CI machines.
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
  });
  code = result.status ?? 1;
} finally {
  await rm(dir, { recursive: true, force: true });
}
process.exit(code);
