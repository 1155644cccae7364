// RPC args by position: the same call, sent as a map or as the values in its schema's
// order, must mean the same thing to the master — and anything that does not fit by
// position keeps the map form.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { z } from 'zod';
import { MUTATION_SCHEMAS, QUERY_SCHEMAS, parseQuery, toMutation, type MutationMethod } from '../../src/master/namespace-methods.js';
import { fromPositional, toPositional } from '../../src/master/positional-args.js';
import { TandemError } from '../../src/errors.js';

const envelope = { user: 'alice', groups: ['eng'], clientId: 'c-1', callId: 3 };

test('a create by position is the create the map makes, with and without its optional fields', () => {
  const optional = fc.record(
    { overwrite: fc.boolean(), permission: fc.integer({ min: 0, max: 0o7777 }), replication: fc.integer({ min: 1, max: 5 }), blockSize: fc.integer({ min: 1, max: 2 ** 30 }) },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(optional, (fields) => {
      const args = { ...envelope, path: '/a/b', ...fields };
      const positional = toPositional(MUTATION_SCHEMAS['ns.create'], { ...args });
      assert.ok(Array.isArray(positional), JSON.stringify(args));
      assert.deepEqual(toMutation('ns.create', positional, 5), toMutation('ns.create', args, 5));
    }),
    { numRuns: 300, seed: 11 },
  );
});

test('every namespace mutation and query takes its args by position', () => {
  const samples: Record<string, Record<string, unknown>> = {
    'ns.create': { path: '/f', overwrite: true },
    'ns.mkdirs': { path: '/d', permission: 0o700 },
    'ns.complete': { path: '/f', fileId: 9, length: 10 },
    'ns.delete': { path: '/d', recursive: true },
    'ns.rename': { src: '/a', dst: '/b' },
    'ns.setPermission': { path: '/f', permission: 0o600 },
    'ns.setOwner': { path: '/f', owner: 'bob' },
    'ns.setTimes': { path: '/f', mtime: 5 },
    'ns.setReplication': { path: '/f', replication: 2 },
    'ns.append': { path: '/f' },
    'ns.truncate': { path: '/f', newLength: 0 },
    'ns.concat': { target: '/f', sources: ['/g'] },
  };
  for (const method of Object.keys(MUTATION_SCHEMAS) as MutationMethod[]) {
    const args = { ...envelope, ...samples[method] };
    const positional = toPositional(MUTATION_SCHEMAS[method], { ...args });
    assert.ok(Array.isArray(positional), method);
    assert.deepEqual(toMutation(method, positional, 1), toMutation(method, args, 1), method);
  }
  const stat = { path: '/f', user: 'alice', groups: [] };
  assert.deepEqual(parseQuery('ns.getFileInfo', toPositional(QUERY_SCHEMAS['ns.getFileInfo'], stat)), parseQuery('ns.getFileInfo', stat));
});

test('a null, a key the schema does not name, or a non-object schema keeps the map form', () => {
  const create = MUTATION_SCHEMAS['ns.create'];
  const withNull = { ...envelope, path: '/a', permission: null };
  assert.equal(toPositional(create, withNull), withNull);
  const withExtra = { ...envelope, path: '/a', color: 'red' };
  assert.equal(toPositional(create, withExtra), withExtra);
  const notAnObject = z.array(z.string());
  const args = { a: 1 };
  assert.equal(toPositional(notAnObject, args), args);
  assert.throws(() => fromPositional(notAnObject, 'x.y', ['a']), (err: unknown) => err instanceof TandemError && err.code === 'INVALID_ARGUMENT' && /must be a map/.test(err.message));
});

test('more values than fields, or a value of the wrong type, is INVALID_ARGUMENT naming the method', () => {
  const fields = Object.keys(MUTATION_SCHEMAS['ns.rename'].shape).length;
  const tooMany = Array.from({ length: fields + 1 }, () => 'x');
  assert.throws(
    () => toMutation('ns.rename', tooMany, 1),
    (err: unknown) => err instanceof TandemError && err.code === 'INVALID_ARGUMENT' && err.message.startsWith('ns.rename:') && /values for its/.test(err.message),
  );
  // The path in the callId's place: the schema names the field.
  assert.throws(
    () => toMutation('ns.rename', ['alice', [], 'c-1', '/a', '/a', '/b'], 1),
    (err: unknown) => err instanceof TandemError && err.code === 'INVALID_ARGUMENT' && /callId/.test(err.message),
  );
});
