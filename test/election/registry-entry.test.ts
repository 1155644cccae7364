// Publishing a registry entry: the persistent last-not-null copy and the ephemeral entry,
// the first time (the copy's folder made), again by the same session (in place), and by
// another session (taken over).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeZooKeeper } from '../../src/election/fake-coordinator.js';
import { shardPaths } from '../../src/election/layout.js';
import { publishRegistryEntry } from '../../src/election/registry-entry.js';

const paths = shardPaths('ns');

test('publishRegistryEntry writes the last-not-null copy and the ephemeral entry, in place or taken over', async () => {
  const zk = new FakeZooKeeper();
  const m1 = zk.session();
  const m2 = zk.session();
  await m1.ensurePath(paths.root);

  await publishRegistryEntry(m1, 'ns', 'active', { member: 'm1', epoch: 1 });
  assert.deepEqual((await m1.get(paths.lastNotNull('active')))?.data, { member: 'm1', epoch: 1 });
  const first = await m1.get(paths.active);
  assert.deepEqual(first?.data, { member: 'm1', epoch: 1 });
  assert.equal(first?.ephemeralOwner, m1.sessionId);

  await publishRegistryEntry(m1, 'ns', 'active', { member: 'm1', epoch: 2 });
  const again = await m1.get(paths.active);
  assert.deepEqual(again?.data, { member: 'm1', epoch: 2 });
  assert.equal(again?.version, first!.version + 1, 'updated in place');

  await publishRegistryEntry(m2, 'ns', 'active', { member: 'm2', epoch: 3 });
  const taken = await m2.get(paths.active);
  assert.deepEqual(taken?.data, { member: 'm2', epoch: 3 });
  assert.equal(taken?.ephemeralOwner, m2.sessionId, 'taken over by the other session');
  assert.deepEqual((await m2.get(paths.lastNotNull('active')))?.data, { member: 'm2', epoch: 3 });

  await m2.close();
  assert.equal(await m1.get(paths.active), null, 'the entry goes with its session');
  assert.deepEqual((await m1.get(paths.lastNotNull('active')))?.data, { member: 'm2', epoch: 3 }, 'the copy stays');
});
