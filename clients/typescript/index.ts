import createClient, { type Client } from 'openapi-fetch';
import type { components, operations, paths } from './generated/api.js';
import { resolveToken, type TokenSource } from './token.js';

/*
 * The JEEX API's typed client for the front end (docs/adr/0009). Types are generated from the
 * OpenAPI document (`npm run client:generate`); calls go through openapi-fetch, so each path,
 * parameter, body and response is checked by the compiler:
 *
 *   const api = createJeexClient({ baseUrl: 'http://127.0.0.1:5210', token: () => session.token });
 *   const { data, error } = await api.POST('/api/v1/projects', { body: { name: 'My idea' } });
 *
 * Every error answer has the body `ApiError` (docs/contract.md §4). The event stream has its own helper,
 * `followOperationEvents`, which resumes with Last-Event-ID.
 */

export type { components, operations, paths } from './generated/api.js';
export {
  type FollowOperationOptions,
  followOperationEvents,
  type OperationEvent,
  OperationStreamError,
  type StreamMessage,
} from './operation-events.js';
export type { TokenSource } from './token.js';

type JsonBody<R> = R extends { content: { 'application/json': infer B } } ? B : never;

export type ApiError = components['schemas']['ErrorResponse'];
export type User = JsonBody<operations['getCurrentUser']['responses'][200]>;
export type AccessToken = JsonBody<operations['devLogin']['responses'][200]>;
export type Project = JsonBody<operations['getProject']['responses'][200]>;
export type ProjectPage = JsonBody<operations['listProjects']['responses'][200]>;
export type Member = JsonBody<operations['setMember']['responses'][200]>;
export type DocumentType = operations['getDocumentVersion']['parameters']['path']['document_type'];
export type DocumentVersion = JsonBody<operations['getDocumentVersion']['responses'][200]>;
export type DocumentVersionPage = JsonBody<operations['listDocumentVersions']['responses'][200]>;
export type Operation = JsonBody<operations['getOperation']['responses'][200]>;
export type Health = JsonBody<operations['getHealth']['responses'][200]>;

export type JeexClient = Client<paths>;

export interface JeexClientOptions {
  /** Where the API is served, without `/api/v1` (the paths carry it), e.g. `https://api.jeex.example`. */
  readonly baseUrl: string;
  /** Sent as `Authorization: Bearer …` on every request when present. */
  readonly token?: TokenSource;
  /** Another fetch (tests, server-side rendering, a wrapper that retries). */
  readonly fetch?: typeof globalThis.fetch;
}

export function createJeexClient(options: JeexClientOptions): JeexClient {
  const client = createClient<paths>({ baseUrl: options.baseUrl, ...(options.fetch ? { fetch: options.fetch } : {}) });
  if (options.token !== undefined) {
    const source = options.token;
    client.use({
      async onRequest({ request }) {
        const token = await resolveToken(source);
        if (token) request.headers.set('authorization', `Bearer ${token}`);
        return request;
      },
    });
  }
  return client;
}
