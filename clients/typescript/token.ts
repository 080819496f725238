/**
 * A bearer token, or a function that returns the current one. The function is called for every
 * request and every stream (re)connection, so a token refreshed meanwhile is picked up.
 */
export type TokenSource = string | (() => string | undefined | Promise<string | undefined>);

export async function resolveToken(source: TokenSource | undefined): Promise<string | undefined> {
  return typeof source === 'function' ? await source() : source;
}
