// The protocol validators and the shared deadline timer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkHello,
  DeadlineTimer,
  isReplyFrame,
  isRequestFrame,
  PROTOCOL_VERSION,
  readCallId,
  requestProblem,
} from '../../src/rpc/protocol.js';

describe('request validation', () => {
  it('accepts well-formed requests', () => {
    assert.ok(isRequestFrame({ id: 1, method: 'm', args: null }));
    assert.ok(isRequestFrame({ id: 2 ** 53 - 1, method: '', args: [1], deadlineMs: 0 }));
    assert.ok(isRequestFrame({ id: 3, method: 'm', deadlineMs: null })); // args may be absent
  });

  it('rejects malformed requests and says why', () => {
    const bad: [unknown, RegExp][] = [
      [null, /map/],
      [[1, 'm'], /map/],
      [{ id: 0, method: 'm' }, /id/],
      [{ id: 1.5, method: 'm' }, /id/],
      [{ id: '1', method: 'm' }, /id/],
      [{ id: 2 ** 53, method: 'm' }, /id/],
      [{ id: 1, method: 5 }, /method/],
      [{ id: 1, method: 'm', deadlineMs: -1 }, /deadlineMs/],
      [{ id: 1, method: 'm', deadlineMs: Infinity }, /deadlineMs/],
      [{ id: 1, method: 'm', deadlineMs: '5' }, /deadlineMs/],
    ];
    for (const [value, why] of bad) {
      assert.equal(isRequestFrame(value), false, JSON.stringify(value));
      assert.match(requestProblem(value), why);
    }
  });

  it('reads the id of a malformed request when it can', () => {
    assert.equal(readCallId({ id: 9, method: 5 }), 9);
    assert.equal(readCallId({ id: -1 }), 0);
    assert.equal(readCallId('x'), 0);
  });
});

describe('reply validation', () => {
  it('accepts ok and error replies, and id 0 only for errors', () => {
    assert.ok(isReplyFrame({ id: 1, ok: null }));
    assert.ok(isReplyFrame({ id: 1, error: { code: 'NOT_FOUND', message: 'x' } }));
    assert.ok(isReplyFrame({ id: 0, error: { code: 'MALFORMED_FRAME', message: 'x' } }));
    assert.equal(isReplyFrame({ id: 0, ok: 1 }), false);
    assert.equal(isReplyFrame({ id: 1 }), false);
    assert.equal(isReplyFrame({ id: 1, ok: 1, error: { code: 'X' } }), false);
    assert.equal(isReplyFrame({ id: 1, error: 'NOT_FOUND' }), false);
  });
});

describe('checkHello', () => {
  it('classifies hellos', () => {
    assert.deepEqual(checkHello({ hello: { version: PROTOCOL_VERSION, client: 'c' } }, 'client'), {
      kind: 'ok',
      version: PROTOCOL_VERSION,
      peerName: 'c',
    });
    assert.equal(checkHello({ hello: { version: PROTOCOL_VERSION + 1 } }, 'client').kind, 'version-mismatch');
    assert.equal(checkHello({ hello: { version: PROTOCOL_VERSION } }, 'client').kind, 'malformed');
    assert.equal(checkHello({ hello: { version: PROTOCOL_VERSION, client: 'c' } }, 'server').kind, 'malformed');
    assert.equal(checkHello({ hello: 1 }, 'client').kind, 'malformed');
    assert.equal(checkHello({ id: 1, method: 'm' }, 'client').kind, 'not-hello');
    assert.equal(checkHello(null, 'client').kind, 'not-hello');
  });
});

describe('DeadlineTimer', () => {
  it('fires once at the earliest watched deadline', async () => {
    const fired: number[] = [];
    const start = performance.now();
    const timer = new DeadlineTimer(() => fired.push(performance.now() - start));
    timer.watch(start + 80);
    timer.watch(start + 30); // earlier: re-arms
    timer.watch(start + 50); // later: ignored
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.equal(fired.length, 1);
    assert.ok((fired[0] as number) >= 30 && (fired[0] as number) < 75, `fired at ${fired[0]} ms`);
    timer.stop();
  });

  it('stop() disarms and non-finite deadlines are ignored', async () => {
    let fired = 0;
    const timer = new DeadlineTimer(() => fired++);
    timer.watch(Infinity);
    timer.watch(performance.now() + 10);
    timer.stop();
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(fired, 0);
  });
});
