import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { freePort } from '../../src/lib/free-port.js';

/** What the proxy does to the bytes it carries. */
export type ProxyMode =
  /** Forwards at once. */
  | { readonly kind: 'pass' }
  /** Delays every chunk, each direction, by `ms` (order kept): a slow network. */
  | { readonly kind: 'latency'; readonly ms: number }
  /** Accepts connections and chunks and forwards nothing: a peer that hangs. */
  | { readonly kind: 'hang' };

interface Queued {
  readonly due: number;
  readonly chunk: Buffer;
}

/**
 * A small TCP fault proxy (Toxiproxy's idea, issue 20 item 3): the soak points the API at it
 * instead of at PostgreSQL or Redis and changes its mode while the load runs. Connections made
 * while it hangs stay open and silent; `cut()` resets every connection it carries (a network
 * partition as the client sees it).
 */
export class FaultProxy {
  private server: Server | undefined;
  private mode: ProxyMode = { kind: 'pass' };
  private readonly pairs = new Set<[Socket, Socket]>();

  private constructor(
    readonly port: number,
    private readonly target: { readonly host: string; readonly port: number },
  ) {}

  /** Listens on a free loopback port and forwards to `target`. */
  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    const proxy = new FaultProxy(await freePort(), target);
    await proxy.listen();
    return proxy;
  }

  get kind(): ProxyMode['kind'] {
    return this.mode.kind;
  }

  /** Connections currently carried. */
  get connections(): number {
    return this.pairs.size;
  }

  /** `url` with its host and port replaced by the proxy's. */
  rewrite(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  setMode(mode: ProxyMode): void {
    this.mode = mode;
  }

  /** Resets every carried connection (both sides see ECONNRESET or a close). */
  cut(): void {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private listen(): Promise<void> {
    this.server = createServer((client) => this.accept(client));
    return new Promise((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  private accept(client: Socket): void {
    const upstream = createConnection(this.target);
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    this.pipe(client, upstream);
    this.pipe(upstream, client);
  }

  /** Forwards `from` → `to` under the current mode; a delayed chunk never overtakes an earlier one. */
  private pipe(from: Socket, to: Socket): void {
    const queue: Queued[] = [];
    let scheduled = false;
    const schedule = () => {
      scheduled = true;
      setTimeout(flush, Math.max(0, (queue[0]?.due ?? 0) - Date.now()));
    };
    const flush = () => {
      scheduled = false;
      const now = Date.now();
      while (queue.length > 0 && (queue[0]?.due ?? 0) <= now) {
        if (!to.destroyed) to.write((queue.shift() as Queued).chunk);
        else queue.length = 0;
      }
      if (queue.length > 0) schedule();
    };
    from.on('data', (chunk: Buffer) => {
      const mode = this.mode;
      if (mode.kind === 'hang') return;
      if (mode.kind === 'pass' && queue.length === 0) {
        to.write(chunk);
        return;
      }
      const last = queue.at(-1)?.due ?? 0;
      queue.push({ due: Math.max(Date.now() + (mode.kind === 'latency' ? mode.ms : 0), last), chunk });
      if (!scheduled) schedule();
    });
  }
}
