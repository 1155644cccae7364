// Structured logs (pino, one JSON line each) in the words of the design: an operator at
// 3 a.m. should be able to read what each process is doing.
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  /** The role and name of the process, e.g. "master ns/m1". */
  name: string;
  level?: string;
  /** Where lines go; stdout by default. Tests pass a silent logger instead. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const level = opts.level ?? process.env.TANDEM_LOG_LEVEL ?? 'info';
  return pino({ name: opts.name, level, base: { pid: process.pid } }, opts.destination ?? pino.destination(1));
}

/** A logger that drops everything: for unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
