// Copies that did not land, on the datanode's side: the bounded list of failures owed to
// the FMS members that handed the copies out (src/datanode/copy-failures.ts), and the
// command runner that fills it (src/datanode/command-runner.ts) — a copy that fails, one
// dropped from a full queue, one that joins a copy under way, and two copies of one block
// to different targets (the setReplication 3 → 1 → 3 case, where the second used to be
// dropped without a word).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommandRunner } from '../../src/datanode/command-runner.js';
import { CopyFailures, memberKey, type CopyFailure } from '../../src/datanode/copy-failures.js';
import type { FmsCommand } from '../../src/datanode/fms-links.js';
import { silentLogger } from '../../src/util/log.js';
import { capturingLogger } from '../helpers/log.js';
import { waitFor } from '../helpers/zookeeper.js';

const M1 = memberKey('fms-0', 'm1');
const M2 = memberKey('fms-0', 'm2');

function failure(blockId: string, target = 'dn2', reason = 'refused'): CopyFailure {
  return { blockId, target, reason };
}

test('the failures owed are bounded: the oldest go first, counted and said', () => {
  const { log, lines } = capturingLogger();
  const failures = new CopyFailures(log, 3);
  for (let i = 1; i <= 5; i++) failures.add(M1, failure(`fms-0_${i}`));
  assert.equal(failures.size, 3);
  assert.equal(failures.dropped, 2);
  assert.deepEqual(failures.owedTo(M1).failures.map((f) => f.blockId), ['fms-0_3', 'fms-0_4', 'fms-0_5']);
  const warned = lines.filter((l) => l.level === 40).map((l) => String(l.msg));
  assert.equal(warned.length, 2);
  assert.match(warned[1]!, /forgot the failed copy of fms-0_2 to dn2 before telling fms-0\/m1: 3 failures wait already \(2 forgotten since start\)/);
  // A reason is for logs: a long one is cut.
  failures.add(M1, failure('fms-0_6', 'dn2', 'x'.repeat(5_000)));
  assert.ok(failures.owedTo(M1).failures.at(-1)!.reason.length <= 256);
  assert.throws(() => new CopyFailures(log, 1_001), /invariant broken/);
});

test('each member is owed its own failures; an answered heartbeat clears what it carried, not what came after', () => {
  const failures = new CopyFailures(silentLogger());
  failures.add(M1, failure('fms-0_1'));
  failures.add(M2, failure('fms-0_2'));
  failures.add(M1, failure('fms-0_3', 'dn3'));
  const sent = failures.owedTo(M1);
  assert.deepEqual(sent.failures, [failure('fms-0_1'), failure('fms-0_3', 'dn3')]);
  // While that heartbeat is on its way, another copy fails.
  failures.add(M1, failure('fms-0_4'));
  failures.acknowledge(M1, sent.throughSeq);
  assert.deepEqual(failures.owedTo(M1).failures, [failure('fms-0_4')], 'only what the answered heartbeat carried is cleared');
  assert.deepEqual(failures.owedTo(M2).failures, [failure('fms-0_2')], 'another member\'s wait for its heartbeat');
  // A heartbeat that was not answered acknowledges nothing: the next one carries the same.
  const unanswered = failures.owedTo(M2);
  assert.deepEqual(failures.owedTo(M2), unanswered);
  failures.forget(M2);
  assert.deepEqual(failures.owedTo(M2).failures, [], 'a member that left is owed nothing');
  assert.equal(failures.size, 1);
});

/** A runner whose copies wait for the test: `finish(i, error?)` ends the i-th copy started. */
function runner(copiesQueuedMax = 4) {
  const started: { blockId: string; targets: string[]; end: (err?: Error) => void }[] = [];
  const told: { shard: string; member: string; failures: CopyFailure[] }[] = [];
  const { log, lines } = capturingLogger();
  const commands = new CommandRunner({
    deleteReplica: async () => 'deleted' as const,
    recoverReplica: async () => undefined,
    onDeleted: () => undefined,
    copy: (command) =>
      new Promise<void>((resolve, reject) =>
        started.push({ blockId: command.blockId, targets: command.targets.map((t) => t.id), end: (err) => (err ? reject(err) : resolve()) }),
      ),
    onCopyFailed: (shard, member, failures) => told.push({ shard, member, failures }),
    log,
    copiesInFlightMax: 2,
    copiesQueuedMax,
  });
  return { commands, started, told, lines };
}

function replicate(blockId: string, ...targets: string[]): FmsCommand {
  return { type: 'replicate', blockId, genStamp: 1, length: 10, targets: targets.map((id) => ({ id, data: `${id}:2` })) };
}

test('a copy that fails is handed on for the member that asked, one failure per target, and said at warn', async () => {
  const { commands, started, told, lines } = runner();
  commands.submit('fms-0', replicate('fms-0_1', 'dn2', 'dn3'), 'm1');
  await waitFor('the copy started', () => started.length === 1, 5_000);
  started[0]!.end(new Error('datanode dn3 (127.0.0.1:9): could not connect'));
  await waitFor('the failure handed on', () => told.length === 1, 5_000);
  assert.deepEqual(told[0], {
    shard: 'fms-0',
    member: 'm1',
    failures: [failure('fms-0_1', 'dn2', 'datanode dn3 (127.0.0.1:9): could not connect'), failure('fms-0_1', 'dn3', 'datanode dn3 (127.0.0.1:9): could not connect')],
  });
  assert.ok(lines.some((l) => l.level === 40 && String(l.msg).includes('copy of fms-0_1 to dn2, dn3 did not land: datanode dn3 (127.0.0.1:9): could not connect; fms-0/m1 hears of it in the next heartbeat')));
  // One that lands is nobody's business here: its targets report the block.
  commands.submit('fms-0', replicate('fms-0_2', 'dn2'), 'm1');
  await waitFor('the second copy started', () => started.length === 2, 5_000);
  started[1]!.end();
  await waitFor('nothing under way', () => commands.copiesInProgress === 0, 5_000);
  assert.equal(told.length, 1);
  await commands.stop();
});

test('a copy dropped because too many wait is a failure too', async () => {
  const { commands, started, told } = runner(1);
  commands.submit('fms-0', replicate('fms-0_1', 'dn2'), 'm1');
  commands.submit('fms-0', replicate('fms-0_2', 'dn2'), 'm1');
  commands.submit('fms-0', replicate('fms-0_3', 'dn2'), 'm1'); // waits
  commands.submit('fms-0', replicate('fms-0_4', 'dn3'), 'm1'); // no room
  assert.equal(commands.copiesInProgress, 3);
  assert.equal(told.length, 1);
  assert.deepEqual(told[0]!.failures.map((f) => [f.blockId, f.target]), [['fms-0_4', 'dn3']]);
  assert.match(told[0]!.failures[0]!.reason, /dropped before it started: 1 copies wait already/);
  for (let i = 0; i < 3; i++) {
    await waitFor(`copy ${i + 1} started`, () => started.length > i, 5_000);
    started[i]!.end();
  }
  await waitFor('nothing under way', () => commands.copiesInProgress === 0, 5_000);
  await commands.stop();
});

test('two copies of one block to different targets both run; the same copy asked again joins the one under way and hears of its failure', async () => {
  const { commands, started, told } = runner();
  // A round apart, the FMS copies one block from its only source to dn2, then to dn3.
  commands.submit('fms-0', replicate('fms-0_1', 'dn2'), 'm1');
  commands.submit('fms-0', replicate('fms-0_1', 'dn3'), 'm1');
  await waitFor('both copies started', () => started.length === 2, 5_000);
  assert.deepEqual(started.map((s) => s.targets), [['dn2'], ['dn3']]);
  // The same block to dn2 and dn4: dn2 is under way, so only dn4 is new work.
  commands.submit('fms-0', replicate('fms-0_1', 'dn2', 'dn4'), 'm2');
  assert.equal(commands.copiesInProgress, 3);
  // And to dn3 again (a new active asks): nothing new, no failure either.
  commands.submit('fms-0', replicate('fms-0_1', 'dn3'), 'm2');
  assert.equal(commands.copiesInProgress, 3);
  assert.equal(told.length, 0, 'joining a copy under way is not a failure');
  started[1]!.end(new Error('refused'));
  await waitFor('both members told', () => told.length === 2, 5_000);
  assert.deepEqual(told.map((t) => [t.member, t.failures.map((f) => f.target)]), [['m1', ['dn3']], ['m2', ['dn3']]]);
  started[0]!.end();
  await waitFor('the dn4 copy started', () => started.length === 3, 5_000);
  assert.deepEqual(started[2]!.targets, ['dn4']);
  started[2]!.end();
  await waitFor('nothing under way', () => commands.copiesInProgress === 0, 5_000);
  assert.equal(told.length, 2);
  // Once a copy is over, the same block to the same target is new work again.
  commands.submit('fms-0', replicate('fms-0_1', 'dn3'), 'm1');
  await waitFor('copied again', () => started.length === 4, 5_000);
  started[3]!.end();
  await commands.stop();
});
