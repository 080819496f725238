import { connect, type Socket } from 'node:net';

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Parses every complete HTTP/1.1 response (with Content-Length) in `bytes`, in order. */
export function parseResponses(bytes: Buffer): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = bytes;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return out;
    const [statusLine = '', ...lines] = rest.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (rest.length < end + 4 + length) return out;
    out.push({
      status: Number(statusLine.split(' ')[1]),
      headers,
      body: rest.subarray(end + 4, end + 4 + length).toString('utf8'),
    });
    rest = rest.subarray(end + 4 + length);
  }
}

export interface RawConnection {
  readonly socket: Socket;
  readonly send: (text: string) => void;
  /** Resolves once `count` complete responses have arrived (or the connection closed). */
  readonly responses: (count: number, timeoutMs?: number) => Promise<RawResponse[]>;
  readonly close: () => void;
}

/** A plain TCP connection to the server, for requests no HTTP client would send. */
export async function rawConnection(baseUrl: string): Promise<RawConnection> {
  const { hostname, port } = new URL(baseUrl);
  const socket = connect({ host: hostname, port: Number(port) });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let received = Buffer.alloc(0);
  let closed = false;
  const waiters = new Set<() => void>();
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    for (const w of waiters) w();
  });
  // A server that closes after its answer may reset the connection: what arrived counts.
  socket.on('error', () => undefined);
  socket.on('close', () => {
    closed = true;
    for (const w of waiters) w();
  });
  const responses = (count: number, timeoutMs = 5_000) =>
    new Promise<RawResponse[]>((resolve, reject) => {
      const check = () => {
        const parsed = parseResponses(received);
        if (parsed.length >= count || closed) {
          waiters.delete(check);
          clearTimeout(timer);
          if (parsed.length >= count) resolve(parsed);
          else reject(new Error(`connection closed after ${parsed.length} responses: ${received.toString('latin1')}`));
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out with ${parseResponses(received).length} responses: ${received.toString('latin1')}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { socket, send: (text) => socket.write(text, 'latin1'), responses, close: () => socket.destroy() };
}

/** One request written as is on a new connection; its one response. */
export async function rawRequest(baseUrl: string, text: string): Promise<RawResponse> {
  const conn = await rawConnection(baseUrl);
  try {
    conn.send(text);
    const [response] = await conn.responses(1);
    if (!response) throw new Error('no response');
    return response;
  } finally {
    conn.close();
  }
}
