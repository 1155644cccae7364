// TandemClient: the typed, promise-based SDK for the namespace (DESIGN §6).
//
// One connection carries every call, pipelined. On a lost connection, a NOT_ACTIVE, a
// SHUTTING_DOWN or backpressure, a call is retried — with the SAME (clientId, callId) — with
// capped, jittered backoff until its deadline. The retry cache on the master makes that
// exactly-once: a create that took effect before the connection dropped is answered from
// the cache, not run twice. The address comes from a static list, or from an
// ActiveResolver (ZooKeeper's `/shards/ns/active`), asked again after every failure.

import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { DEFAULT_LIMITS, type Limits } from '../config/limits.js';
import { TandemError, type ErrorCode } from '../errors.js';
import type { ContentSummary, CreateResult, FileStatus, ListingPage, NameListingPage } from '../namespace/ops.js';
import { RpcConnection } from '../rpc/connection.js';
import { parseHostPort, type HostPort } from '../util/address.js';
import { backoffDelayMs, sleep, type BackoffOptions } from './backoff.js';

/** Finds the shard's active master (src/client/zk-resolver.ts reads it from ZooKeeper). */
export interface ActiveResolver {
  /** HOST:PORT of the active; rejects (NOT_ACTIVE, COORDINATOR_UNAVAILABLE) when none is known now. */
  activeAddress(): Promise<string>;
  /** The address failed us: look again next time. */
  invalidate(): void;
  close(): Promise<void>;
}

export interface TandemClientOptions {
  /** Master addresses (HOST:PORT); tried in turn when one fails. Not needed with a resolver. */
  masters?: string[];
  /** Resolves the active (through ZooKeeper); takes precedence over `masters`. */
  resolver?: ActiveResolver;
  user?: string;
  groups?: string[];
  /** Overall budget for one call, retries included. */
  deadlineMs?: number;
  backoff?: BackoffOptions;
  limits?: Limits;
  /** Stable across retries; a new client gets a new one. */
  clientId?: string;
}

/** Errors after which the same call may be sent again: the retry cache makes it safe. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'CONNECTION_LOST',
  'NOT_ACTIVE',
  'STALE_EPOCH',
  'SHUTTING_DOWN',
  'TOO_MANY_IN_FLIGHT',
  'COORDINATOR_UNAVAILABLE',
]);

/** Errors that mean "this master is not (or no longer) the one to talk to". */
const WRONG_MASTER: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['CONNECTION_LOST', 'NOT_ACTIVE', 'STALE_EPOCH', 'SHUTTING_DOWN']);

export class TandemClient {
  readonly clientId: string;
  readonly user: string;
  readonly groups: string[];
  private readonly masters: HostPort[];
  private readonly resolver: ActiveResolver | null;
  private readonly deadlineMs: number;
  private readonly backoff: BackoffOptions;
  private readonly limits: Limits;
  private nextCallId = 1;
  private masterIndex = 0;
  private connection: RpcConnection | null = null;
  private connecting: Promise<RpcConnection> | null = null;
  private closed = false;
  /** Calls that were retried at least once (for benchmarks and tests). */
  retries = 0;

  constructor(opts: TandemClientOptions) {
    this.resolver = opts.resolver ?? null;
    if (!this.resolver && (opts.masters ?? []).length === 0) {
      throw new TandemError('INVALID_ARGUMENT', 'TandemClient needs a master address or a ZooKeeper resolver');
    }
    this.masters = (opts.masters ?? []).map(parseHostPort);
    this.user = opts.user ?? os.userInfo().username;
    this.groups = opts.groups ?? [];
    this.deadlineMs = opts.deadlineMs ?? 30_000;
    this.backoff = opts.backoff ?? { baseMs: 25, capMs: 1_000 };
    this.limits = opts.limits ?? DEFAULT_LIMITS;
    this.clientId = opts.clientId ?? randomUUID();
  }

  // ---- namespace mutations (journaled, exactly-once)

  mkdirs(path: string, opts: { permission?: number } = {}): Promise<boolean> {
    return this.mutate('ns.mkdirs', { path, ...opts });
  }

  create(path: string, opts: { overwrite?: boolean; permission?: number; replication?: number; blockSize?: number } = {}): Promise<CreateResult> {
    return this.mutate('ns.create', { path, ...opts });
  }

  complete(path: string, fileId: number, length: number): Promise<boolean> {
    return this.mutate('ns.complete', { path, fileId, length });
  }

  delete(path: string, opts: { recursive?: boolean } = {}): Promise<boolean> {
    return this.mutate('ns.delete', { path, ...opts });
  }

  rename(src: string, dst: string): Promise<boolean> {
    return this.mutate('ns.rename', { src, dst });
  }

  setPermission(path: string, permission: number): Promise<void> {
    return this.mutate('ns.setPermission', { path, permission });
  }

  setOwner(path: string, owner: { owner?: string; group?: string }): Promise<void> {
    return this.mutate('ns.setOwner', { path, ...owner });
  }

  setTimes(path: string, times: { mtime?: number; atime?: number }): Promise<void> {
    return this.mutate('ns.setTimes', { path, ...times });
  }

  // ---- namespace reads

  /** The inode at `path`, or null when nothing is there. */
  getFileInfo(path: string): Promise<FileStatus | null> {
    return this.call('ns.getFileInfo', { path, ...this.caller() });
  }

  listStatus(path: string, opts: { startAfter?: string; limit?: number } = {}): Promise<ListingPage> {
    return this.call('ns.listStatus', { path, ...opts, ...this.caller() });
  }

  /** One page of a directory's names only (cheaper than listStatus when attributes are not needed). */
  async listNames(path: string, opts: { startAfter?: string; limit?: number } = {}): Promise<NameListingPage> {
    // On the wire the names are one '/'-joined string (see encodeNameListing in the master).
    const page = await this.call<{ names: string; remaining: number }>('ns.listNames', { path, ...opts, ...this.caller() });
    return { names: page.names === '' ? [] : page.names.split('/'), remaining: page.remaining };
  }

  /** Every entry of a directory, page by page. */
  async *listAll(path: string): AsyncGenerator<FileStatus> {
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.listStatus(path, startAfter === undefined ? {} : { startAfter });
      yield* page.entries;
      const last = page.entries.at(-1);
      if (page.remaining === 0 || !last) return;
      startAfter = last.name;
    }
  }

  contentSummary(path: string): Promise<ContentSummary> {
    return this.call('ns.contentSummary', { path, ...this.caller() });
  }

  // ---- administration

  status(): Promise<Record<string, unknown>> {
    return this.call('admin.status', {});
  }

  /** Graceful hand-over from the active to `to` (or the in-sync standby least behind). */
  failover(to?: string): Promise<{ from: string; to: string; txid: number; ms: number }> {
    // Not retried: a hand-over whose answer was lost must not run again on the new active.
    return this.call('admin.failover', to === undefined ? {} : { to }, { retry: false });
  }

  saveNamespace(): Promise<{ txid: number; file: string; bytes: number; ms: number }> {
    return this.call('admin.saveNamespace', {}, { deadlineMs: Math.max(this.deadlineMs, 600_000) });
  }

  close(): void {
    this.closed = true;
    this.connection?.close();
    this.connection = null;
    void this.resolver?.close();
  }

  // ---- plumbing

  private caller(): { user: string; groups: string[] } {
    return { user: this.user, groups: this.groups };
  }

  private mutate<T>(method: string, args: Record<string, unknown>): Promise<T> {
    // The callId is fixed here, once: every retry of this call carries the same one.
    const callId = this.nextCallId++;
    return this.call(method, { ...args, ...this.caller(), clientId: this.clientId, callId });
  }

  /** Sends a call, retrying retryable failures with the same arguments until the deadline. */
  async call<T>(method: string, args: unknown, opts: { deadlineMs?: number; retry?: boolean } = {}): Promise<T> {
    const deadlineAt = performance.now() + (opts.deadlineMs ?? this.deadlineMs);
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new TandemError('CONNECTION_LOST', 'the client was closed');
      const remainingMs = deadlineAt - performance.now();
      if (remainingMs <= 0) throw new TandemError('DEADLINE_EXCEEDED', `${method} did not succeed within its deadline`);
      let connection: RpcConnection | undefined;
      try {
        connection = await this.connect();
        return await connection.call<T>(method, args, { deadlineMs: remainingMs });
      } catch (err) {
        if (!(err instanceof TandemError) || !RETRYABLE.has(err.code)) throw err;
        // Not sent (no connection yet) is always safe to retry; sent and failed only if allowed.
        if (opts.retry === false && connection) throw err;
        if (connection && WRONG_MASTER.has(err.code)) this.drop(connection);
        if (attempt === 0) this.retries++;
        const delayMs = Math.min(backoffDelayMs(attempt, this.backoff), Math.max(0, deadlineAt - performance.now()));
        await sleep(delayMs);
      }
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
        .then(({ host, port }) => RpcConnection.connect(host, port, { limits: this.limits, clientName: `tandem-client ${this.clientId}` }))
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
