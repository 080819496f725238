import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { closeWhenFileEnds, once } from './fixtures.js';

export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  readonly drop: () => Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('pgAdminUrl') });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function create(name: string, template: string | undefined): Promise<TestDatabase> {
  await admin((c) => c.query(`create database ${name}${template === undefined ? '' : ` template ${template}`}`));
  const drop = once(() => admin((c) => c.query(`drop database if exists ${name} with (force)`)).then(() => undefined));
  closeWhenFileEnds(drop);
  return { name, url: withDatabase(inject('pgAdminUrl'), name), drop };
}

/** A fresh, migrated database cloned from the run's template; dropped when the test file ends (or by `drop()`). */
export function createTestDatabase(): Promise<TestDatabase> {
  return create(`test_${randomBytes(6).toString('hex')}`, inject('pgTemplate'));
}

/** An empty database (no schema), for migration tests; dropped like the others. */
export function createEmptyDatabase(): Promise<TestDatabase> {
  return create(`empty_${randomBytes(6).toString('hex')}`, undefined);
}
