/**
 * Polls `check` until it holds; resolves with the time it took (ms), or rejects after
 * `timeoutMs`. For conditions reached asynchronously (a span exported, a subscriber released).
 */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, intervalMs = 20): Promise<number> {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return performance.now() - t0;
}
