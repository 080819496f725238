import { setTimeout as sleep } from 'node:timers/promises';
import { cpuUse, sampleCpu } from './cpu.js';

const PROBE_MS = 1_000;

/**
 * Waits until the rest of the machine uses at most `maxOthers` % of one CPU over a 1 s
 * probe, or `timeoutMs` has passed (then goes on: a long wait must not hang the run).
 * Other people's test runs come in bursts of tens of seconds; starting a round in the
 * middle of one only to redo it wastes the round.
 */
export async function waitForQuiet(maxOthers: number, timeoutMs: number, log: (line: string) => void): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let announced = false;
  for (;;) {
    const before = sampleCpu(undefined);
    await sleep(PROBE_MS);
    const others = cpuUse(before, sampleCpu(undefined))?.others;
    if (others === undefined || others <= maxOthers) return;
    if (performance.now() >= deadline) {
      log(`machine still busy (others ${Math.round(others)} % CPU) after ${Math.round(timeoutMs / 1000)} s: going on`);
      return;
    }
    if (!announced) log(`waiting for a quiet machine (others ${Math.round(others)} % CPU)`);
    announced = true;
  }
}
