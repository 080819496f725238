/**
 * The child side of the server protocol (see server-process.ts). Each bench server is its
 * own process so that it does not share an event loop, or a CPU, with the load generator.
 */

/** Marker of the one stdout line the parent waits for; the app may log JSON lines on stdout too. */
export const READY_KEY = 'benchReady';

/** Marker of the memory report bench/servers/app.ts prints after a forced GC (SIGUSR2). */
export const MEMORY_KEY = 'benchMemory';

/** Announces the port and shuts down cleanly on SIGTERM/SIGINT or when the parent goes away. */
export function announceReady(port: number, close: () => Promise<void>): void {
  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    // process.exit (not a signal death) so that `--cpu-prof` gets to write its profile.
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  // stdin is a pipe from the parent: EOF means the parent died, and an orphaned server
  // (with its embedded PostgreSQL) must not outlive it.
  process.stdin.once('end', shutdown).resume();
  process.stdout.write(`${JSON.stringify({ [READY_KEY]: true, port })}\n`);
}
