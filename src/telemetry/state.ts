/**
 * What the telemetry preload and the app share in one process: export health for the
 * `telemetry` health component, and the SDK's shutdown for the entry point. The preload sets
 * it; without the preload (tests, OTEL_SDK_DISABLED, no endpoint) telemetry is `disabled`.
 */
export interface TelemetryState {
  enabled: boolean;
  endpoint: string | null;
  exportsOk: number;
  exportsFailed: number;
  lastError: string | null;
  lastFailureAt: number | null;
  lastSuccessAt: number | null;
  shutdown: (() => Promise<void>) | null;
}

const KEY = Symbol.for('jeex.telemetry.state');
type WithState = typeof globalThis & { [KEY]?: TelemetryState };

/** One object per process, even if this module were loaded twice (src/ and dist/ copies). */
export function telemetryState(): TelemetryState {
  const g = globalThis as WithState;
  g[KEY] ??= {
    enabled: false,
    endpoint: null,
    exportsOk: 0,
    exportsFailed: 0,
    lastError: null,
    lastFailureAt: null,
    lastSuccessAt: null,
    shutdown: null,
  };
  return g[KEY];
}

/** Flushes and stops the SDK, but never takes longer than `budgetMs` (a dead collector must not hold shutdown). */
export async function shutdownTelemetry(budgetMs: number): Promise<void> {
  const shutdown = telemetryState().shutdown;
  if (!shutdown) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    shutdown().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, budgetMs);
    }),
  ]);
  clearTimeout(timer);
}
