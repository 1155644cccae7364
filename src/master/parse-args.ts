import type { z } from 'zod';
import { TandemError } from '../errors.js';
import { fromPositional } from './positional-args.js';

/**
 * RPC args checked against their schema; the first problem becomes INVALID_ARGUMENT naming
 * the field. Args may come as a map or by position (positional-args.ts).
 */
export function parseArgs<T extends z.ZodType>(schema: T, method: string, args: unknown): z.output<T> {
  const parsed = schema.safeParse(fromPositional(schema, method, args));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'args';
    throw new TandemError('INVALID_ARGUMENT', `${method}: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}
