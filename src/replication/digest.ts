// A deterministic digest of a shard's state: SHA-256 over the canonical JSON dump the
// machine provides (children and files sorted, so insertion order does not show). Two
// replicas that applied the same records agree on it; a replica whose state went wrong
// (a bad disk under an image, a bug) does not. `admin verify` compares these at one txid.

import { createHash } from 'node:crypto';
import type { StateMachine } from './state-machine.js';

export function stateDigest<S>(machine: StateMachine<S, unknown, unknown>, state: S): string {
  const hash = createHash('sha256');
  // The dump is a plain tree built in a fixed order, so JSON.stringify is canonical.
  hash.update(JSON.stringify(machine.canonicalDump ? machine.canonicalDump(state) : machine.toImage(state)));
  return hash.digest('hex');
}
