import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** A stand-in for an OpenTelemetry collector (OTLP/HTTP, JSON encoding), with failure modes. */
export type ReceiverMode = 'ok' | 'error500' | 'hang' | 'closed';

export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  readonly kind: number;
  readonly attributes: Record<string, unknown>;
  readonly status: { code?: number; message?: string };
  readonly events: Array<{ name: string; attributes: Record<string, unknown> }>;
  readonly scope: string;
}

interface OtlpAttribute {
  key: string;
  value: Record<string, unknown>;
}

function flatten(attributes: OtlpAttribute[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of attributes ?? []) out[a.key] = Object.values(a.value)[0];
  return out;
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly metricNames = new Set<string>();
  requests = 0;
  private mode: ReceiverMode = 'ok';
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(readonly port: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server?.listen(this.port, '127.0.0.1', resolve));
  }

  async setMode(mode: ReceiverMode): Promise<void> {
    if (mode === 'closed') {
      await this.stop();
    } else if (this.mode === 'closed') {
      this.mode = mode;
      await this.start();
    }
    this.mode = mode;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    if (this.mode === 'hang') return; // accept and never answer
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (this.mode === 'error500') {
        res.writeHead(500).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      if (req.url === '/v1/traces') this.collectSpans(body);
      if (req.url === '/v1/metrics') this.collectMetrics(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  }

  private collectSpans(body: Record<string, unknown>): void {
    type Raw = {
      traceId: string;
      spanId: string;
      parentSpanId?: string;
      name: string;
      kind: number;
      attributes?: OtlpAttribute[];
      status?: { code?: number; message?: string };
      events?: Array<{ name: string; attributes?: OtlpAttribute[] }>;
    };
    const resourceSpans = (body.resourceSpans ?? []) as Array<{ scopeSpans?: Array<{ scope?: { name?: string }; spans?: Raw[] }> }>;
    for (const rs of resourceSpans) {
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          this.spans.push({
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId || undefined,
            name: s.name,
            kind: s.kind,
            attributes: flatten(s.attributes),
            status: s.status ?? {},
            events: (s.events ?? []).map((e) => ({ name: e.name, attributes: flatten(e.attributes) })),
            scope: ss.scope?.name ?? '',
          });
        }
      }
    }
  }

  private collectMetrics(body: Record<string, unknown>): void {
    const rms = (body.resourceMetrics ?? []) as Array<{ scopeMetrics?: Array<{ metrics?: Array<{ name: string }> }> }>;
    for (const rm of rms) for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) this.metricNames.add(m.name);
  }
}
