import { register } from 'node:module';

/*
 * Loaded with `node --import <this file> <server>` so instrumentation is installed before the
 * app's modules are evaluated (OpenTelemetry under ESM needs the loader hook first; importing
 * this from the app's own entry loses the ESM spans — docs/facts.md). Nothing is installed when
 * there is nowhere to export to: no endpoint means no overhead.
 */
const disabled = /^true$/i.test(process.env.OTEL_SDK_DISABLED ?? '');
const endpoint = process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? process.env.OTEL_EXPORTER_OTLP_ENDPOINT;

if (!disabled && endpoint) {
  try {
    register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
    const { startTelemetry } = await import('./sdk.js');
    startTelemetry(endpoint);
  } catch (error) {
    // The lesson of the original service: telemetry trouble must never stop the API.
    const reason = error instanceof Error ? error.message : String(error);
    process.stdout.write(
      `${JSON.stringify({ level: 'error', time: new Date().toISOString(), msg: 'telemetry disabled: start failed', reason })}\n`,
    );
  }
}
