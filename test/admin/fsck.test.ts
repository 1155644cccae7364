// fsck's judgement, pure: findings from the two sides' listings, the confirmation that
// rules out files being created or deleted while fsck looked, the repair plan, the report.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { candidatesOf, confirmFindings, planRepair, reconcile, type FsckInput, type ShardListing } from '../../src/admin/fsck.js';
import { formatFsckReport } from '../../src/admin/fsck-report.js';
import type { NamespaceFileEntry } from '../../src/namespace/file-listing.js';
import type { ListedBlock, ListedFile } from '../../src/filemeta/file-listing.js';

function nsFile(fileId: number, path: string, length: number, extra: Partial<NamespaceFileEntry> = {}): NamespaceFileEntry {
  return { fileId, pool: fileId % 2, path, length, replication: 3, underConstruction: false, ...extra };
}

function block(seq: number, live: number, extra: Partial<ListedBlock> = {}): ListedBlock {
  return { blockId: `fms-0_${seq}`, genStamp: seq, length: 10, state: 'complete', live, corrupt: 0, ...extra };
}

function fmsFile(fileId: number, blocks: ListedBlock[], extra: Partial<ListedFile> = {}): ListedFile {
  return { fileId, pool: fileId % 2, replication: 3, state: 'closed', length: blocks.reduce((n, b) => n + b.length, 0), blocks, ...extra };
}

function input(namespace: NamespaceFileEntry[], files: ListedFile[], shard: Partial<ShardListing> = {}): FsckInput {
  return { namespace, shards: [{ shard: 'fms-0', safeMode: false, liveDatanodes: 3, files, ...shard }], shardOfPool: () => 'fms-0' };
}

describe('reconcile', () => {
  test('a cluster where both sides agree and every block has its replicas is HEALTHY', () => {
    const findings = reconcile(input([nsFile(2, '/a', 20), nsFile(3, '/b', 10), nsFile(4, '/empty', 0)], [fmsFile(2, [block(1, 3), block(2, 3)]), fmsFile(3, [block(3, 3)])]));
    assert.equal(findings.status, 'HEALTHY');
    assert.deepEqual(findings.totals, {
      files: 3, openFiles: 0, bytes: 30, blocks: 3, missingFiles: 0, orphanFiles: 0, damagedFiles: 0, missingBlocks: 0,
      corruptBlocks: 0, underReplicatedBlocks: 0, underReplicatedFiles: 0, overReplicatedBlocks: 0, lengthMismatches: 0,
    });
    assert.deepEqual(findings.shards, [{ shard: 'fms-0', files: 2, blocks: 3, safeMode: false, liveDatanodes: 3 }]);
    assert.deepEqual(findings.warnings, []);
  });

  test('a complete file with bytes that its shard does not know (or knows without blocks) is missing', () => {
    const findings = reconcile(input(
      [nsFile(2, '/gone', 100), nsFile(3, '/blockless', 5), nsFile(4, '/writing', 0, { underConstruction: true }), nsFile(5, '/empty', 0)],
      [fmsFile(3, [])],
    ));
    assert.equal(findings.status, 'CORRUPT');
    assert.deepEqual(findings.missingFiles, [
      { fileId: 2, path: '/gone', pool: 0, shard: 'fms-0', length: 100, reason: 'unknown to its FMS shard' },
      { fileId: 3, path: '/blockless', pool: 1, shard: 'fms-0', length: 5, reason: 'no blocks in its FMS shard' },
    ]);
    assert.equal(findings.totals.openFiles, 1);
  });

  test('a file only a shard knows is an orphan candidate', () => {
    const findings = reconcile(input([nsFile(2, '/a', 10)], [fmsFile(2, [block(1, 3)]), fmsFile(77, [block(2, 1)], { state: 'open' })]));
    assert.deepEqual(findings.orphans, [{ fileId: 77, shard: 'fms-0', pool: 1, state: 'open', length: 10, blocks: 1 }]);
    assert.equal(findings.totals.blocks, 1, 'an orphan\'s blocks are not the namespace\'s');
    assert.equal(findings.status, 'CORRUPT');
  });

  test('blocks: no replica is missing, only corrupt ones is corrupt, too few or too many live; open blocks are not judged', () => {
    const findings = reconcile(input(
      [nsFile(2, '/a', 50), nsFile(3, '/b', 20, { underConstruction: true })],
      [
        fmsFile(2, [block(1, 0), block(2, 0, { corrupt: 2 }), block(3, 1, { corrupt: 1 }), block(4, 5), block(5, 3)]),
        fmsFile(3, [block(6, 2), block(7, 0, { state: 'open' })], { state: 'open' }),
      ],
    ));
    assert.deepEqual(findings.damagedFiles, [{ fileId: 2, path: '/a', shard: 'fms-0', length: 50, missingBlocks: ['fms-0_1'], corruptBlocks: ['fms-0_2'] }]);
    assert.deepEqual(findings.underReplicated, [
      { fileId: 2, path: '/a', shard: 'fms-0', replication: 3, blocks: [{ blockId: 'fms-0_3', live: 1 }] },
      { fileId: 3, path: '/b', shard: 'fms-0', replication: 3, blocks: [{ blockId: 'fms-0_6', live: 2 }] },
    ]);
    assert.deepEqual(findings.overReplicated, [{ fileId: 2, path: '/a', shard: 'fms-0', replication: 3, blocks: [{ blockId: 'fms-0_4', live: 5 }] }]);
    assert.equal(findings.totals.missingBlocks, 1);
    assert.equal(findings.totals.corruptBlocks, 1);
    assert.equal(findings.totals.underReplicatedBlocks, 2);
    assert.equal(findings.totals.underReplicatedFiles, 2);
    assert.equal(findings.totals.blocks, 7);
  });

  test('under-replication alone leaves the status HEALTHY (the FMS heals it); a length mismatch does not', () => {
    assert.equal(reconcile(input([nsFile(2, '/a', 10)], [fmsFile(2, [block(1, 2)])])).status, 'HEALTHY');
    const mismatch = reconcile(input([nsFile(2, '/a', 11)], [fmsFile(2, [block(1, 3)])]));
    assert.equal(mismatch.status, 'CORRUPT');
    assert.deepEqual(mismatch.lengthMismatches, [{ fileId: 2, path: '/a', shard: 'fms-0', namespaceLength: 11, fmsLength: 10 }]);
    // Not while the namespace still writes it.
    assert.equal(reconcile(input([nsFile(2, '/a', 0, { underConstruction: true })], [fmsFile(2, [block(1, 3)])])).status, 'HEALTHY');
  });

  test('a file a page walk met twice (renamed while listed) counts once', () => {
    const findings = reconcile(input([nsFile(2, '/a', 10), nsFile(2, '/z', 10)], [fmsFile(2, [block(1, 3)])]));
    assert.equal(findings.totals.files, 1);
    assert.equal(findings.status, 'HEALTHY');
  });

  test('a shard in safe mode or without datanodes is a warning', () => {
    const findings = reconcile(input([], [], { safeMode: true, liveDatanodes: 0 }));
    assert.equal(findings.warnings.length, 2);
    assert.match(findings.warnings[0]!, /fms-0 is in safe mode/);
  });
});

describe('confirmFindings', () => {
  const listed = reconcile(input([nsFile(2, '/missing', 10), nsFile(3, '/created-late', 10)], [fmsFile(40, [block(1, 3)]), fmsFile(41, [block(2, 3)]), fmsFile(42, [block(3, 3)])]));

  test('candidates come grouped by shard', () => {
    const candidates = candidatesOf(listed);
    assert.deepEqual([...candidates.orphans], [['fms-0', [40, 41, 42]]]);
    assert.deepEqual([...candidates.missing], [['fms-0', [2, 3]]]);
  });

  test('keeps only the orphans NS knows nothing of and the shard still has, and the missing files NS still has complete and the shard still lacks', () => {
    const confirmed = confirmFindings(listed, {
      // 40: being deleted (NS queue); 41: NS forgot it, and the shard has it still → orphan; 42: NS forgot it and the shard deleted it.
      namespaceBefore: [{ fileId: 40, status: 'pendingDelete', pool: 0 }],
      // 3 reached its shard after the shard was listed (a write that finished meanwhile).
      shardsNow: [
        { shard: 'fms-0', file: fmsFile(40, [block(1, 3)]) },
        { shard: 'fms-0', file: fmsFile(41, [block(2, 3)]) },
        { shard: 'fms-0', file: fmsFile(3, [block(9, 3)]) },
      ],
      // 2 renamed meanwhile: the report names its path now.
      namespaceAfter: [
        { fileId: 2, status: 'live', file: nsFile(2, '/renamed', 10) },
        { fileId: 3, status: 'live', file: nsFile(3, '/created-late', 10) },
      ],
    });
    assert.deepEqual(confirmed.orphans.map((o) => o.fileId), [41]);
    assert.deepEqual(confirmed.missingFiles.map((m) => [m.fileId, m.path]), [[2, '/renamed']]);
    assert.equal(confirmed.totals.orphanFiles, 1);
    assert.equal(confirmed.totals.missingFiles, 1);
    assert.equal(confirmed.status, 'CORRUPT');
  });

  test('a missing candidate deleted from NS meanwhile is dropped, and with nothing left the status is HEALTHY', () => {
    const confirmed = confirmFindings(listed, { namespaceBefore: [40, 41, 42].map((fileId) => ({ fileId, status: 'pendingDelete' as const, pool: 0 })), shardsNow: [], namespaceAfter: [{ fileId: 3, status: 'pendingDelete', pool: 1 }] });
    assert.deepEqual(confirmed.orphans, []);
    assert.deepEqual(confirmed.missingFiles, []);
    assert.equal(confirmed.status, 'HEALTHY');
  });
});

describe('planRepair and the report', () => {
  const findings = reconcile(input(
    [nsFile(2, '/dir/gone', 10), nsFile(3, '/lost+found/old', 10), nsFile(4, '/bad', 20), nsFile(5, '/thin', 10)],
    [fmsFile(4, [block(1, 0), block(2, 3)]), fmsFile(5, [block(3, 1)]), fmsFile(90, [block(4, 3)])],
  ));

  test('orphans are deleted per shard, files whose data is gone move under /lost+found (not twice), under-replication is left to the FMS', () => {
    const plan = planRepair(findings);
    assert.deepEqual([...plan.deleteOrphans], [['fms-0', [90]]]);
    assert.deepEqual(plan.moves, [
      { fileId: 2, from: '/dir/gone', to: '/lost+found/dir/gone' },
      { fileId: 4, from: '/bad', to: '/lost+found/bad' },
    ]);
    assert.deepEqual(plan.skipped, [{ fileId: 3, path: '/lost+found/old', reason: 'already in /lost+found' }]);
  });

  test('the text report lists each problem and ends with the status, like HDFS fsck', () => {
    const text = formatFsckReport({
      ...findings,
      repairs: { orphansDeleted: [{ shard: 'fms-0', fileIds: [90], deleted: 1, blocks: 1 }], movedToLostFound: [{ fileId: 2, from: '/dir/gone', to: '/lost+found/dir/gone' }], skipped: [], underReplicated: 'the FMS does it' },
    });
    assert.match(text, /^\/dir\/gone: MISSING file 2 /m);
    assert.match(text, /^\/bad: MISSING 1 block\(s\) \[fms-0_1\]/m);
    assert.match(text, /^ORPHAN file 90 in fms-0/m);
    assert.match(text, /^\/thin: under-replicated, target 3: fms-0_3 has 1 live/m);
    assert.match(text, /^Status: CORRUPT$/m);
    assert.match(text, /^ Missing blocks: +1$/m);
    assert.match(text, /^ moved \/dir\/gone to \/lost\+found\/dir\/gone$/m);
    assert.match(text, /The filesystem is CORRUPT\n$/);
  });
});
