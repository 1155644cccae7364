// ShardCaller: calls to the active of one shard, retried transparently (DESIGN §6).
//
// One connection carries every call, pipelined. On a lost connection, a NOT_ACTIVE, a
// SHUTTING_DOWN or backpressure, a call is retried — with the SAME arguments, so the same
// (clientId, callId) — with capped, jittered backoff until its deadline. The retry cache on
// the master makes that exactly-once. The address comes from a static list, or from an
// ActiveResolver (ZooKeeper's `/shards/<s>/active`, or an adapter's shard map), asked again
// after every failure.
// TandemClient holds one for the namespace and one per file-metadata shard.

import { performance } from 'node:perf_hooks';
import type { Limits } from '../config/limits.js';
import { MANUAL_SAFE_MODE_MARK, TandemError, type ErrorCode } from '../errors.js';
import { RpcConnection } from '../rpc/connection.js';
import { parseHostPort, type HostPort } from '../util/address.js';
import { backoffDelayMs, sleep, type BackoffOptions } from './backoff.js';

/** Finds a shard's active master (src/client/zk-resolver.ts reads it from ZooKeeper). */
export interface ActiveResolver {
  /** HOST:PORT of the active; rejects (NOT_ACTIVE, COORDINATOR_UNAVAILABLE, ADAPTER_UNAVAILABLE) when none is known now. */
  activeAddress(): Promise<string>;
  /** The address failed us: look again next time. */
  invalidate(): void;
  close(): Promise<void>;
}

export interface ShardCallerOptions {
  /** What the caller is called in errors and connection names ("shard ns"). */
  label: string;
  masters?: string[];
  resolver?: ActiveResolver;
  deadlineMs: number;
  backoff: BackoffOptions;
  limits: Limits;
  clientName: string;
}

/** Errors after which the same call may be sent again: the retry cache makes it safe. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'CONNECTION_LOST',
  'NOT_ACTIVE',
  'STALE_EPOCH',
  'SHUTTING_DOWN',
  'TOO_MANY_IN_FLIGHT',
  'COORDINATOR_UNAVAILABLE',
  // No adapter answered the shard map: they may be restarting; the resolver skips dead ones.
  'ADAPTER_UNAVAILABLE',
  // A new FMS active leaves safe mode on its own once datanodes have reported (they report
  // to standbys too, so right after a failover this is short).
  'SAFE_MODE',
]);

/** Errors that mean "this master is not (or no longer) the one to talk to". */
const WRONG_MASTER: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['CONNECTION_LOST', 'NOT_ACTIVE', 'STALE_EPOCH', 'SHUTTING_DOWN']);

export class ShardCaller {
  private readonly masters: HostPort[];
  private readonly resolver: ActiveResolver | null;
  private masterIndex = 0;
  private connection: RpcConnection | null = null;
  private connecting: Promise<RpcConnection> | null = null;
  private closed = false;
  /** Calls that were retried at least once (for benchmarks and tests). */
  retries = 0;

  constructor(private readonly opts: ShardCallerOptions) {
    this.resolver = opts.resolver ?? null;
    if (!this.resolver && (opts.masters ?? []).length === 0) {
      throw new TandemError('INVALID_ARGUMENT', `${opts.label}: needs a master address or a ZooKeeper resolver`);
    }
    this.masters = (opts.masters ?? []).map(parseHostPort);
  }

  close(): void {
    this.closed = true;
    this.connection?.close();
    this.connection = null;
    void this.resolver?.close();
  }

  /** Sends a call, retrying retryable failures with the same arguments until the deadline. */
  call<T>(method: string, args: unknown, opts: { deadlineMs?: number; retry?: boolean } = {}): Promise<T> {
    const deadlineMs = opts.deadlineMs ?? this.opts.deadlineMs;
    const deadlineAt = performance.now() + deadlineMs;
    const connection = this.connection;
    if (connection === null || connection.closed || this.closed) return this.attempts<T>(method, args, opts, deadlineMs, deadlineAt, null);
    // Connected, the common case: sent at once, with no async frame around it (that cost a
    // promise and a resumption per call).
    return connection
      .call<T>(method, args, { deadlineMs })
      .catch((err: unknown) => this.attempts<T>(method, args, opts, deadlineMs, deadlineAt, { err, connection }));
  }

  /** The retry loop; `failed` is the first attempt, made by call(), that failed. */
  private async attempts<T>(
    method: string,
    args: unknown,
    opts: { retry?: boolean },
    deadlineMs: number,
    deadlineAt: number,
    failed: { err: unknown; connection: RpcConnection } | null,
  ): Promise<T> {
    let last: TandemError | null = null;
    for (let attempt = 0; ; attempt++) {
      let connection: RpcConnection | undefined;
      let err: unknown;
      if (failed !== null && attempt === 0) {
        connection = failed.connection;
        err = failed.err;
      } else {
        if (this.closed) throw new TandemError('CONNECTION_LOST', 'the client was closed');
        const remainingMs = deadlineAt - performance.now();
        if (remainingMs <= 0) {
          const why = last ? ` (last: ${last.code}: ${last.message})` : '';
          throw new TandemError('DEADLINE_EXCEEDED', `${method} to ${this.opts.label} did not succeed within its ${deadlineMs} ms deadline${why}`);
        }
        try {
          connection = this.connection !== null && !this.connection.closed ? this.connection : await this.connect();
          return await connection.call<T>(method, args, { deadlineMs: remainingMs });
        } catch (caught) {
          err = caught;
        }
      }
      if (!(err instanceof TandemError) || !RETRYABLE.has(err.code)) throw err;
      // An operator's safe mode lasts until an operator ends it: say so at once.
      if (err.code === 'SAFE_MODE' && err.message.includes(MANUAL_SAFE_MODE_MARK)) throw err;
      last = err;
      // Not sent (no connection yet) is always safe to retry; sent and failed only if allowed.
      if (opts.retry === false && connection) throw err;
      if (connection && WRONG_MASTER.has(err.code)) this.drop(connection);
      if (attempt === 0) this.retries++;
      const delayMs = Math.min(backoffDelayMs(attempt, this.opts.backoff), Math.max(0, deadlineAt - performance.now()));
      await sleep(delayMs);
    }
  }

  /** Gives up on a connection and moves to the next master address — once per connection,
   * however many of its calls failed. */
  private drop(connection: RpcConnection): void {
    if (this.connection !== connection) return;
    connection.close();
    this.connection = null;
    this.nextAddress();
  }

  private nextAddress(): void {
    if (this.resolver) this.resolver.invalidate();
    else this.masterIndex = (this.masterIndex + 1) % this.masters.length;
  }

  private async address(): Promise<HostPort> {
    return this.resolver ? parseHostPort(await this.resolver.activeAddress()) : this.masters[this.masterIndex]!;
  }

  private connect(): Promise<RpcConnection> {
    if (this.connection && !this.connection.closed) return Promise.resolve(this.connection);
    if (!this.connecting) {
      this.connecting = this.address()
        .then(({ host, port }) => RpcConnection.connect(host, port, { limits: this.opts.limits, clientName: this.opts.clientName }))
        .then((connection: RpcConnection) => {
          if (this.closed) {
            // close() ran while we were connecting: do not leave this socket open.
            connection.close();
            throw new TandemError('CONNECTION_LOST', 'the client was closed');
          }
          this.connection = connection;
          return connection;
        })
        .catch((err: unknown) => {
          // Every caller waiting on this attempt sees the failure; the address advances once.
          this.nextAddress();
          throw err;
        })
        .finally(() => {
          this.connecting = null;
        });
    }
    return this.connecting!;
  }
}
