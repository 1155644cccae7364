// TandemClient: the typed, promise-based SDK (DESIGN §6). Every call goes to a shard's
// active through a ShardCaller (src/client/shard-caller.ts), which retries it — with the
// SAME (clientId, callId), fixed here once per call — until its deadline; the retry cache
// on the master makes that exactly-once.

import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { DEFAULT_LIMITS, type Limits } from '../config/limits.js';
import type { ContentSummary, CreateResult, FileStatus, ListingPage, NameListingPage } from '../namespace/ops.js';
import type { BackoffOptions } from './backoff.js';
import { ShardCaller, type ActiveResolver } from './shard-caller.js';

export type { ActiveResolver } from './shard-caller.js';

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

export class TandemClient {
  readonly clientId: string;
  readonly user: string;
  readonly groups: string[];
  readonly deadlineMs: number;
  /** The namespace shard's active. */
  private readonly ns: ShardCaller;
  private nextCallId = 1;

  constructor(private readonly opts: TandemClientOptions) {
    this.user = opts.user ?? os.userInfo().username;
    this.groups = opts.groups ?? [];
    this.deadlineMs = opts.deadlineMs ?? 30_000;
    this.clientId = opts.clientId ?? randomUUID();
    this.ns = this.shardCaller('shard ns', { ...(opts.masters ? { masters: opts.masters } : {}), ...(opts.resolver ? { resolver: opts.resolver } : {}) });
  }

  /** Calls that were retried at least once (for benchmarks and tests). */
  get retries(): number {
    return this.ns.retries;
  }

  /** A retrying caller of one shard's active, with this client's deadline and backoff. */
  shardCaller(label: string, target: { masters?: string[]; resolver?: ActiveResolver }): ShardCaller {
    return new ShardCaller({
      label,
      ...target,
      deadlineMs: this.deadlineMs,
      backoff: this.opts.backoff ?? { baseMs: 25, capMs: 1_000 },
      limits: this.opts.limits ?? DEFAULT_LIMITS,
      clientName: `tandem-client ${this.clientId}`,
    });
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
    this.ns.close();
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

  /** Sends a call to the namespace's active, retrying retryable failures until the deadline. */
  call<T>(method: string, args: unknown, opts: { deadlineMs?: number; retry?: boolean } = {}): Promise<T> {
    return this.ns.call(method, args, opts);
  }
}
