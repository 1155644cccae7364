// Asserting a typed failure: the promise rejects with a TandemError of `code` (and, if given, a message matching `text`).
import assert from 'node:assert/strict';
import { TandemError, type ErrorCode } from '../../src/errors.js';

export async function rejectsWithCode(promise: Promise<unknown>, code: ErrorCode, text?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TandemError, `expected a TandemError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (text) assert.match(err.message, text);
    return true;
  });
}
