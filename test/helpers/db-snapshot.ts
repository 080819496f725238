import pg from 'pg';

const TABLES = [
  'users',
  'projects',
  'project_members',
  'document_versions',
  'operations',
  'operation_events',
  'operation_leases',
  'audit_log',
] as const;

/**
 * A fingerprint of every row of every table: equal before and after a request means the
 * request changed nothing (no partial write, no write at all).
 */
export async function snapshot(databaseUrl: string): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const out: Record<string, string> = {};
    for (const table of TABLES) {
      const { rows } = await client.query<{ n: number; h: string | null }>(
        `select count(*)::int as n, md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as h from ${table} t`,
      );
      out[table] = `${rows[0]?.n}:${rows[0]?.h}`;
    }
    return out;
  } finally {
    await client.end();
  }
}

/** One query against the test database, outside the app (to check what the app wrote). */
export async function queryRows<T extends Record<string, unknown>>(
  databaseUrl: string,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}
