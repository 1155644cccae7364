// A pino logger whose lines land in an array (parsed), to check what the code tells the operator.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../../src/util/log.js';

export function capturingLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}
