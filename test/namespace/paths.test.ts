// Path validation: one table of accepted and rejected spellings.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { explainPath, parsePath, utf8ByteLength, type PathLimits } from '../../src/namespace/paths.js';
import { DEFAULT_LIMITS } from '../../src/config/limits.js';

const limits: PathLimits = { pathBytesMax: 40, pathDepthMax: 4, nameBytesMax: 10 };

const valid: [string, string[]][] = [
  ['/', []],
  ['/a', ['a']],
  ['/a/b/c', ['a', 'b', 'c']],
  ['/.a/..b/a.', ['.a', '..b', 'a.']],
  ['/with space', ['with space']],
  ['/é/日本', ['é', '日本']],
  ['/a/b/c/d', ['a', 'b', 'c', 'd']], // exactly pathDepthMax
  ['/0123456789', ['0123456789']], // exactly nameBytesMax
  ['/😀😀', ['😀😀']], // 8 bytes: surrogate pairs count 4 each
];

const invalid: [unknown, string][] = [
  ['', 'not absolute'],
  ['a/b', 'not absolute'],
  ['//', 'empty component'],
  ['/a//b', 'empty component'],
  ['/a/', 'empty component'],
  ['/.', "'.'"],
  ['/a/..', "'..'"],
  ['/a/./b', "'.'"],
  ['/a:b', "':'"],
  ['/a\u0000b', 'NUL'],
  ['/\ud800', 'lone surrogate'],
  ['/a/b/c/d/e', '5 components'],
  ['/01234567890', '11 bytes'],
  ['/éééééé/é', '12 bytes'], // é is 2 bytes
  [`/${'abcdefghi/'.repeat(4)}x`, 'bytes'], // 42 bytes
  [42, 'string'],
  [undefined, 'string'],
];

test('valid paths split into their components', () => {
  for (const [path, components] of valid) {
    assert.deepEqual(parsePath(path, limits), { ok: true, components }, path);
  }
});

test('invalid paths are INVALID_PATH with a message naming the path and the reason', () => {
  for (const [path, reason] of invalid) {
    const parsed = parsePath(path, limits);
    assert.equal(parsed.ok, false, String(path));
    if (parsed.ok) continue;
    assert.equal(parsed.error.code, 'INVALID_PATH');
    const expectedReason = reason === "'.'" || reason === "'..'" ? `"${reason.slice(1, -1)}"` : reason;
    assert.ok(parsed.error.message.includes(expectedReason), `${JSON.stringify(path)}: ${parsed.error.message}`);
    if (typeof path === 'string') assert.ok(parsed.error.message.includes(JSON.stringify(path).slice(0, 20)), parsed.error.message);
  }
});

test('the default limits accept a 255-byte name and refuse 256', () => {
  assert.equal(parsePath(`/${'n'.repeat(255)}`, DEFAULT_LIMITS).ok, true);
  assert.equal(parsePath(`/${'n'.repeat(256)}`, DEFAULT_LIMITS).ok, false);
});

test('utf8ByteLength counts UTF-8 bytes and flags lone surrogates', () => {
  assert.equal(utf8ByteLength('abc'), 3);
  assert.equal(utf8ByteLength('é'), 2);
  assert.equal(utf8ByteLength('日'), 3);
  assert.equal(utf8ByteLength('😀'), 4);
  assert.equal(utf8ByteLength('a\udc00'), -1);
  assert.equal(utf8ByteLength('\ud800a'), -1);
  assert.equal(utf8ByteLength('é😀日a'), Buffer.byteLength('é😀日a'));
});

test('the one-pass parse agrees with the check-by-check one on any string (fast-check)', () => {
  // An alphabet heavy in what paths get wrong: separators, dots, ':', NUL, multi-byte
  // characters, both halves of a surrogate pair alone and together.
  const unit = fc.constantFrom('/', '/', '/', '.', 'a', 'b', ':', '\u0000', 'é', '日', '😀', '\ud800', '\udc00', ' ');
  const text = fc.array(unit, { maxLength: 24 }).map((units) => units.join(''));
  const anyLimits = fc.record({ pathBytesMax: fc.integer({ min: 1, max: 40 }), pathDepthMax: fc.integer({ min: 1, max: 6 }), nameBytesMax: fc.integer({ min: 1, max: 12 }) });
  fc.assert(
    fc.property(text, anyLimits, (path, someLimits) => {
      assert.deepEqual(parsePath(path, someLimits), explainPath(path, someLimits), JSON.stringify(path));
      assert.deepEqual(parsePath(path, DEFAULT_LIMITS), explainPath(path, DEFAULT_LIMITS), JSON.stringify(path));
    }),
    { numRuns: 20_000, seed: 7 },
  );
});
