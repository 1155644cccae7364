// Real ZooKeeper servers for tests: started in a temp dir, stopped (by PID) and removed when
// the test file ends, whatever happened. Plus small waits that every ZooKeeper test needs,
// each bounded in time.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import {
  fourLetterWord,
  startZooKeeper,
  startZooKeeperEnsemble,
  type ZooKeeperServer,
} from '../../src/cluster/zookeeper-process.js';
import type { Coordinator, SessionEvent } from '../../src/election/coordinator.js';

/** Short ticks so that tests may use short sessions: 1 s .. 10 s. */
export const TEST_TICK_TIME_MS = 500;

const started: Array<{ server: ZooKeeperServer; dir: string }> = [];
after(async () => {
  // Stop first, then remove: a server must not watch its data dir vanish.
  await Promise.all(started.map(({ server }) => server.stopAll()));
  if (process.env.TANDEM_KEEP_ZK_DIRS) return;
  await Promise.all(started.map(({ dir }) => rm(dir, { recursive: true, force: true })));
});

/** One standalone server (servers: 1) or an ensemble, cleaned up after the test file. */
export async function testZooKeeper(opts: { servers?: number } = {}): Promise<ZooKeeperServer> {
  const dir = await mkdtemp(join(os.tmpdir(), 'tandem-zk-'));
  const servers = opts.servers ?? 1;
  try {
    const server =
      servers === 1
        ? await startZooKeeper({ dir, tickTimeMs: TEST_TICK_TIME_MS })
        : await startZooKeeperEnsemble({ dir, servers, tickTimeMs: TEST_TICK_TIME_MS });
    started.push({ server, dir });
    return server;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Polls `condition` every `intervalMs`; fails naming `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  intervalMs = 10,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Records a session's events, in order. */
export function recordEvents(session: Coordinator): SessionEvent[] {
  const events: SessionEvent[] = [];
  session.onSessionEvent((event) => events.push(event));
  return events;
}

/** Waits until `events` includes `event`; the failure names the events seen. */
export async function waitForEvent(events: SessionEvent[], event: SessionEvent, timeoutMs = 10_000): Promise<void> {
  try {
    await waitFor(`the "${event}" event`, () => events.includes(event), timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; events so far: ${events.join(', ') || 'none'}`, { cause: err });
  }
}

/** Waits until the server no longer knows the session (it expired there). */
export async function waitUntilServerForgets(port: number, sessionId: string, timeoutMs = 15_000): Promise<void> {
  const forgot = async () => !(await fourLetterWord(port, 'dump')).includes(sessionId);
  await waitFor(`ZooKeeper on port ${port} to expire session ${sessionId}`, forgot, timeoutMs, 100);
}
