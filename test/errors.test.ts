import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CODES, TandemError } from '../src/errors.js';

const docs = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

test('every error code is documented in docs/errors.md with its HTTP status', () => {
  for (const [code, { httpStatus }] of Object.entries(ERROR_CODES)) {
    const row = docs.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
    assert.ok(row, `docs/errors.md has no row for ${code}`);
    assert.match(row, new RegExp(`\\| ${httpStatus} \\|`), `docs/errors.md gives ${code} another HTTP status`);
  }
});

test('docs/errors.md documents no code the registry lacks', () => {
  const documented = [...docs.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
  for (const code of documented) assert.ok(code! in ERROR_CODES, `${code} is documented but not in src/errors.ts`);
});

test('errors survive the wire, and unknown codes become INTERNAL', () => {
  const e = TandemError.fromWire(new TandemError('NOT_FOUND', 'no /x').toWire());
  assert.equal(e.code, 'NOT_FOUND');
  assert.equal(e.message, 'no /x');
  assert.equal(e.httpStatus, 404);
  assert.equal(TandemError.fromWire({ code: 'NOPE', message: 'm' }).code, 'INTERNAL');
  assert.equal(TandemError.fromWire(null).code, 'INTERNAL');
});
