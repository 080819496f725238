import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { patchedCopy } from '../../../bench/lib/patched-copy.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const PATCH = path.join(ROOT, 'bench/patches/safe-writes-without.patch');

/**
 * The baseline of `npm run bench -- safe-writes` is this tree minus one patch (bench/RESULTS.md,
 * docs/adr/0021 "Cost"). A change to the lines it edits must show up here, not at bench time.
 */
describe('bench safe-writes baseline (bench/patches/safe-writes-without.patch)', () => {
  it('when applied to a copy of this tree, removes the audit insert and the idempotency hooks, and nothing else', async () => {
    const copy = await patchedCopy(ROOT, PATCH);
    try {
      const app = await readFile(path.join(copy.dir, 'src/app.ts'), 'utf8');
      const audit = await readFile(path.join(copy.dir, 'src/services/audit.service.ts'), 'utf8');
      expect(app).not.toMatch(/addHook\([^)]*idempotency\./);
      expect(audit).toMatch(/record\(tx: Db, entry: AuditEntry\): Promise<void> \{\n\s+return Promise\.resolve\(\);/);
      for (const file of [
        'src/services/projects.service.ts',
        'src/services/documents.service.ts',
        'src/repositories/audit.repository.ts',
      ]) {
        expect(await readFile(path.join(copy.dir, file), 'utf8')).toBe(await readFile(path.join(ROOT, file), 'utf8'));
      }
    } finally {
      await copy.remove();
    }
  });

  it('when the patch no longer applies, fails naming the patch', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'jeex-stale-patch-'));
    const stale = path.join(dir, 'stale.patch');
    const text = await readFile(PATCH, 'utf8');
    await writeFile(
      stale,
      text.replace("app.addHook('preValidation', idempotency.claimIdempotencyKey)", "app.addHook('preValidation', renamed)"),
    );
    try {
      await expect(patchedCopy(ROOT, stale)).rejects.toThrow(/stale\.patch does not apply/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
