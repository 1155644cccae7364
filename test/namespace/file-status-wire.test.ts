import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeFileStatus, decodeListingPage, encodeFileStatus, encodeListingPage, FILE_STATUS_FIELDS } from '../../src/namespace/file-status-wire.js';
import { decodePayload, encodeFrame } from '../../src/rpc/frame.js';
import type { FileStatus } from '../../src/namespace/ops.js';
import { rejectsWithCode } from '../helpers/rejects.js';

const status: fc.Arbitrary<FileStatus> = fc.record({
  name: fc.string(),
  type: fc.constantFrom('file' as const, 'directory' as const),
  fileId: fc.nat(),
  permission: fc.integer({ min: 0, max: 0o7777 }),
  owner: fc.string(),
  group: fc.string(),
  mtime: fc.nat(),
  atime: fc.nat(),
  replication: fc.nat(),
  blockSize: fc.nat(),
  length: fc.maxSafeNat(),
  pool: fc.nat(),
  underConstruction: fc.boolean(),
  childrenCount: fc.nat(),
});

test('a file status survives the wire tuple through msgpack, every field in place', () => {
  fc.assert(
    fc.property(status, (s) => {
      const wire = decodePayload(encodeFrame(encodeFileStatus(s), 1 << 20).subarray(4));
      assert.deepEqual(decodeFileStatus(wire), { ...s }); // (fast-check's records have no prototype)
    }),
  );
  // Every field of FileStatus is in the tuple, once.
  assert.equal(new Set(FILE_STATUS_FIELDS).size, FILE_STATUS_FIELDS.length);
  const sample = fc.sample(status, 1)[0]!;
  assert.deepEqual([...FILE_STATUS_FIELDS].sort(), Object.keys(sample).sort());
});

test('a listing page round-trips, and fields appended by a later version are ignored', () => {
  fc.assert(
    fc.property(fc.array(status, { maxLength: 20 }), fc.nat(), (entries, remaining) => {
      const wire = decodePayload(encodeFrame(encodeListingPage({ entries, remaining }), 1 << 20).subarray(4));
      assert.deepEqual(decodeListingPage(wire), { entries: entries.map((e) => ({ ...e })), remaining });
    }),
  );
  const s = fc.sample(status, 1)[0]!;
  assert.deepEqual(decodeFileStatus([...encodeFileStatus(s), 'a later field']), { ...s });
});

test('a malformed status from the wire is MALFORMED_FRAME, never a half-filled status', async () => {
  const good = encodeFileStatus({ name: 'f', type: 'file', fileId: 1, permission: 0o644, owner: 'u', group: 'g', mtime: 1, atime: 1, replication: 3, blockSize: 1, length: 0, pool: 0, underConstruction: false, childrenCount: 0 });
  const bad: unknown[] = [
    null,
    { name: 'f' },
    good.slice(0, 13),
    Object.assign([...good], { 1: 'symlink' }),
    Object.assign([...good], { 2: '7' }),
    Object.assign([...good], { 4: 5 }),
    Object.assign([...good], { 12: 1 }),
  ];
  for (const wire of bad) {
    await rejectsWithCode(Promise.resolve().then(() => decodeFileStatus(wire)), 'MALFORMED_FRAME');
  }
  await rejectsWithCode(Promise.resolve().then(() => decodeListingPage({ entries: [good], remaining: '0' })), 'MALFORMED_FRAME');
  await rejectsWithCode(Promise.resolve().then(() => decodeListingPage({ entries: [bad[3]], remaining: 0 })), 'MALFORMED_FRAME');
});
