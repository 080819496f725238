import { FastifyOtelInstrumentation } from '@fastify/otel';
import { type DiagLogger, DiagLogLevel, diag } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import { APP_VERSION } from '../version.js';
import { redisCommandOnly, UrlScrubbingSpanProcessor } from './scrub.js';
import { telemetryState } from './state.js';

/** The exporter's own deadline: the default (10 s) alone is past the 5 s shutdown budget (docs/facts.md). */
const EXPORT_TIMEOUT_MS = 2_000;

/**
 * Longest attribute value a span keeps (characters). Values are ours (SQL text, routes, error
 * messages), but whatever slips into one is cut at this length instead of exported whole, and a
 * span stays small in the bounded queue. The standard variables still win when set.
 */
const ATTRIBUTE_VALUE_LENGTH_LIMIT = 2_048;

function spanLimitFromEnv(...names: string[]): number | undefined {
  for (const name of names) {
    const value = Number(process.env[name]);
    if (process.env[name] !== undefined && Number.isInteger(value) && value > 0) return value;
  }
  return undefined;
}

/** Counts export outcomes for the `telemetry` health component; never throws into the SDK. */
class ObservedSpanExporter implements SpanExporter {
  constructor(private readonly inner: SpanExporter) {}

  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    const state = telemetryState();
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        state.exportsOk++;
        state.lastSuccessAt = Date.now();
      } else {
        state.exportsFailed++;
        state.lastFailureAt = Date.now();
        state.lastError = result.error?.message ?? 'export failed';
      }
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/**
 * The SDK's own complaints (export failures, dropped spans) at WARN, each distinct message at
 * most once a minute: a failing collector must not flood the logs (docs/facts.md: ~45 lines/s at INFO).
 */
function throttledDiagLogger(): DiagLogger {
  const seen = new Map<string, number>();
  const write =
    (level: string) =>
    (message: string, ...args: unknown[]) => {
      const now = Date.now();
      if (now - (seen.get(message) ?? 0) < 60_000) return;
      seen.set(message, now);
      const detail = args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : '')).join(' ');
      process.stdout.write(`${JSON.stringify({ level, time: new Date(now).toISOString(), msg: `telemetry: ${message}`, detail })}\n`);
    };
  return { error: write('error'), warn: write('warn'), info: () => undefined, debug: () => undefined, verbose: () => undefined };
}

export function startTelemetry(endpoint: string): void {
  diag.setLogger(throttledDiagLogger(), DiagLogLevel.WARN);
  const state = telemetryState();
  state.enabled = true;
  state.endpoint = endpoint;

  const exporterOptions = { timeoutMillis: EXPORT_TIMEOUT_MS, concurrencyLimit: 2 };
  const interval = Number(process.env.OTEL_METRIC_EXPORT_INTERVAL);
  const metricInterval = Number.isFinite(interval) && interval >= 100 ? interval : 15_000;
  const sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME ?? 'jeex-api',
    resource: resourceFromAttributes({
      'service.version': APP_VERSION,
      'deployment.environment.name': process.env.NODE_ENV ?? 'development',
    }),
    spanLimits: {
      attributeValueLengthLimit:
        spanLimitFromEnv('OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT', 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT') ?? ATTRIBUTE_VALUE_LENGTH_LIMIT,
      attributeCountLimit: spanLimitFromEnv('OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', 'OTEL_ATTRIBUTE_COUNT_LIMIT') ?? 128,
    },
    spanProcessors: [
      // First: URLs lose their query strings (tokens) before any exporter sees the span.
      new UrlScrubbingSpanProcessor(),
      // Bounded queue: with a dead collector, spans beyond it are dropped, memory stays flat.
      new BatchSpanProcessor({
        exporter: new ObservedSpanExporter(new OTLPTraceExporter(exporterOptions)),
        maxQueueSize: 2048,
        maxExportBatchSize: 512,
        scheduledDelayMillis: 1_000,
        exportTimeoutMillis: EXPORT_TIMEOUT_MS,
      }),
    ],
    metricReaders: [
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter(exporterOptions),
        exportIntervalMillis: metricInterval,
        exportTimeoutMillis: Math.min(EXPORT_TIMEOUT_MS, metricInterval),
      }),
    ],
    logRecordProcessors: [],
    instrumentations: [
      // One server span per request: @fastify/otel's (it knows the route); the http
      // instrumentation only traces outgoing calls.
      new HttpInstrumentation({ disableIncomingRequestInstrumentation: true }),
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        instrumentHooks: false,
        instrumentHandler: false,
        // Exceptions are recorded by our error handler, for 5xx only.
        recordExceptions: false,
        requestHook: (span, request) => span.setAttribute('correlation_id', request.id),
      }),
      // One span per query, none for borrowing a pool connection.
      new PgInstrumentation({ ignoreConnectSpans: true, requireParentSpan: true }),
      // Command names only: EVALSHA's arguments are whole events (issue 14 item 4).
      new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: redisCommandOnly }),
      new UndiciInstrumentation(),
    ],
  });
  sdk.start();
  state.shutdown = () => sdk.shutdown();
}
