import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import type { LogLevel } from '../../src/config.js';
import { loggerOptions } from '../../src/lib/logger.js';

export type LogLine = Record<string, unknown> & { level: string; msg: string };

export interface LogCapture {
  readonly logger: Logger;
  readonly lines: LogLine[];
  readonly raw: string[];
}

/** The app's real logger configuration, writing into memory so tests can read each line. */
export function captureLogs(level: LogLevel = 'info'): LogCapture {
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text.trim() === '') continue;
        raw.push(text);
        lines.push(JSON.parse(text) as LogLine);
      }
      cb();
    },
  });
  return { logger: pino({ ...loggerOptions(level) }, stream), lines, raw };
}
