/**
 * The one list of what means "the database is not there right now" (answered 503, retried at
 * start-up), as opposed to a bad query: PostgreSQL's shutdown, connection-exception and
 * too-many-connections SQLSTATEs, socket errors, and pg's own messages for a dropped or
 * timed-out connection.
 */
const UNAVAILABLE_CODES = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000', // connection_exception
  '08001', // sqlclient_unable_to_establish_sqlconnection
  '08003', // connection_does_not_exist
  '08004', // sqlserver_rejected_establishment_of_sqlconnection
  '08006', // connection_failure
  '08007', // transaction_resolution_unknown
  '08P01', // protocol_violation
  '53300', // too_many_connections
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Connection ended|not queryable/i;

export function isUnavailableCode(code: string): boolean {
  // Class 08 is "connection exception" as a whole.
  return UNAVAILABLE_CODES.has(code) || code.startsWith('08');
}

/** Errors that mean the server cannot be reached, as opposed to a bad query. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return isUnavailableCode(code);
  return UNAVAILABLE_MESSAGES.test(error instanceof Error ? error.message : '');
}
