import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { json, type TestUser } from './factories.js';
import { until } from './wait.js';

export interface Requester {
  readonly request: (path: string, init?: RequestInit) => Promise<Response>;
}

export interface ExportBody {
  readonly id: string;
  readonly status: string;
  readonly bytes: number | null;
  readonly sha256: string | null;
  readonly created_at: string;
  readonly expires_at: string;
  readonly download_url: string | null;
}

export async function writeVersion(server: Requester, user: TestUser, projectId: string, type: string, content: string): Promise<void> {
  const res = await server.request(`/api/v1/projects/${projectId}/documents/${type}/versions`, json(user, { content }));
  expect(res.status, await res.clone().text()).toBe(201);
}

export async function startExport(
  server: Requester,
  user: TestUser,
  projectId: string,
): Promise<{ export: ExportBody; operation: { id: string } }> {
  const res = await server.request(`/api/v1/projects/${projectId}/exports`, json(user, {}));
  expect(res.status, await res.clone().text()).toBe(202);
  return (await res.json()) as { export: ExportBody; operation: { id: string } };
}

export async function getExport(server: Requester, user: TestUser, projectId: string, exportId: string): Promise<ExportBody> {
  const res = await server.request(`/api/v1/projects/${projectId}/exports/${exportId}`, { headers: user.auth });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as ExportBody;
}

/** Polls the export until it leaves pending/running (a condition, not a sleep). */
export async function waitForExport(
  server: Requester,
  user: TestUser,
  projectId: string,
  exportId: string,
  timeoutMs = 15_000,
): Promise<ExportBody> {
  let body: ExportBody | undefined;
  await until(
    async () => {
      body = await getExport(server, user, projectId, exportId);
      return body.status !== 'pending' && body.status !== 'running';
    },
    timeoutMs,
    25,
  );
  return body as ExportBody;
}

/** Exports and waits until ready: the export body with its download URL. */
export async function exportReady(server: Requester, user: TestUser, projectId: string): Promise<ExportBody> {
  const { export: created } = await startExport(server, user, projectId);
  const done = await waitForExport(server, user, projectId, created.id);
  expect(done.status).toBe('ready');
  return done;
}

export const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/** A ZIP on disk, read with the standard `unzip` program (Debian package `unzip`). */
export interface ZipOnDisk {
  readonly file: string;
  /** `unzip -t` output; throws when the archive does not test OK. */
  readonly test: () => string;
  readonly names: () => string[];
  readonly read: (name: string) => Buffer;
}

export function zipOnDisk(bytes: Buffer): ZipOnDisk {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'jeex-export-')), 'archive.zip');
  writeFileSync(file, bytes);
  return {
    file,
    test: () => execFileSync('unzip', ['-t', file], { encoding: 'utf8' }),
    names: () =>
      execFileSync('unzip', ['-Z1', file], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l !== ''),
    read: (name) => execFileSync('unzip', ['-p', file, name], { maxBuffer: 64 * 1024 * 1024 }),
  };
}
