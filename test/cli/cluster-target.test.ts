// Where a command finds the cluster (src/cli/cluster-address.ts): --adapter, --zk and
// --master flags first, then $TANDEM_ADAPTERS, then the config file, then cluster.json
// (its adapters, else its ZooKeeper).
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { clusterTarget, type ClusterFile } from '../../src/cli/cluster-address.js';
import { TandemError } from '../../src/errors.js';
import { tempDir } from '../helpers/temp.js';

async function clusterDir(adapters: string[]): Promise<string> {
  const dir = await tempDir();
  const file: ClusterFile = {
    zk: { connect: '127.0.0.1:2181', chroot: '/tandem/local', pid: null, sessionTimeoutMs: 3_000, tickTimeMs: 1_000, dataDir: dir },
    zkAuth: 'tandem:secret',
    shards: {},
    adapters: adapters.map((rpc, i) => ({ id: `a${i + 1}`, rpc, http: '127.0.0.1:1', pid: null, log: '' })),
    supervisorPid: 1,
  };
  await writeFile(join(dir, 'cluster.json'), JSON.stringify(file));
  return dir;
}

test('precedence: flag, then $TANDEM_ADAPTERS, then the config file, then cluster.json', async () => {
  const home = await tempDir();
  await mkdir(join(home, '.config', 'tandem'), { recursive: true });
  const cluster = await clusterDir(['127.0.0.1:7140', '127.0.0.1:7141']);
  const noConfig = { HOME: home };
  // cluster.json: its adapters.
  assert.deepEqual(clusterTarget({ cluster }, noConfig), { kind: 'adapters', adapters: ['127.0.0.1:7140', '127.0.0.1:7141'], from: join(cluster, 'cluster.json') });
  // The default config file, then $TANDEM_CONFIG, then --config.
  await writeFile(join(home, '.config', 'tandem', 'config.json'), JSON.stringify({ adapters: ['10.0.0.1:1'] }));
  assert.deepEqual(clusterTarget({ cluster }, noConfig), { kind: 'adapters', adapters: ['10.0.0.1:1'], from: join(home, '.config', 'tandem', 'config.json') });
  const other = join(home, 'other.json');
  await writeFile(other, JSON.stringify({ adapters: ['10.0.0.2:2', '10.0.0.3:3'] }));
  assert.deepEqual(clusterTarget({ cluster }, { ...noConfig, TANDEM_CONFIG: other }), {
    kind: 'adapters',
    adapters: ['10.0.0.2:2', '10.0.0.3:3'],
    from: other,
  });
  assert.equal(clusterTarget({ cluster, config: other }, noConfig)?.kind, 'adapters');
  // The environment over the config file.
  assert.deepEqual(clusterTarget({ cluster }, { ...noConfig, TANDEM_ADAPTERS: '10.0.0.4:4, 10.0.0.5:5' }), {
    kind: 'adapters',
    adapters: ['10.0.0.4:4', '10.0.0.5:5'],
    from: '$TANDEM_ADAPTERS',
  });
  // Flags over everything.
  const env = { ...noConfig, TANDEM_ADAPTERS: '10.0.0.4:4' };
  assert.deepEqual(clusterTarget({ cluster, adapter: '10.0.0.6:6' }, env), { kind: 'adapters', adapters: ['10.0.0.6:6'], from: '--adapter' });
  assert.equal(clusterTarget({ cluster, zk: '127.0.0.1:2181/tandem/x' }, env)?.kind, 'zk');
  assert.deepEqual(clusterTarget({ master: '127.0.0.1:7070' }, env), { kind: 'masters', masters: ['127.0.0.1:7070'] });
});

test('cluster.json without adapters: its ZooKeeper; nothing given: null; bad input: INVALID_ARGUMENT', async () => {
  const home = await tempDir();
  const cluster = await clusterDir([]);
  const target = clusterTarget({ cluster }, { HOME: home });
  assert.equal(target?.kind, 'zk');
  assert.equal(target?.kind === 'zk' && target.zk.address.chroot, '/tandem/local');
  assert.equal(clusterTarget({}, { HOME: home }), null);
  const invalid = (err: unknown) => err instanceof TandemError && err.code === 'INVALID_ARGUMENT';
  assert.throws(() => clusterTarget({ adapter: 'nohost' }, { HOME: home }), invalid);
  assert.throws(() => clusterTarget({}, { HOME: home, TANDEM_ADAPTERS: ',' }), invalid);
  assert.throws(() => clusterTarget({ config: join(home, 'missing.json') }, { HOME: home }), invalid, 'a config file named but missing');
  const bad = join(home, 'bad.json');
  await writeFile(bad, JSON.stringify({ adapters: 'h:1' }));
  assert.throws(() => clusterTarget({ config: bad }, { HOME: home }), invalid);
});
