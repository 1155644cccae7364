// One TandemClient per WebHDFS user (`user.name` is the caller the masters check
// permissions for), made on first use and kept in a bounded LRU. An evicted client is
// closed only after a grace period, so requests still using it (a long OPEN) can finish.
// `user.name` is whatever the caller says, so evicted clients waiting for their grace
// period are bounded too (usersMax of them): past that the oldest is closed at once, or a
// caller cycling through names would keep every client it made open for the grace period.
import type { TandemClient } from '../client/tandem-client.js';

export interface UserClientsOptions {
  make: (user: string) => TandemClient;
  /** Clients kept; the least recently used goes first. */
  usersMax?: number;
  /** How long an evicted client stays open for the requests still using it. */
  closeGraceMs?: number;
}

export class UserClients {
  private readonly clients = new Map<string, TandemClient>();
  /** Evicted clients waiting out their grace period, by their timer, oldest first. Invariant: size ≤ usersMax. */
  private readonly closing = new Map<NodeJS.Timeout, TandemClient>();
  private readonly usersMax: number;
  private readonly closeGraceMs: number;
  private closed = false;

  constructor(private readonly opts: UserClientsOptions) {
    this.usersMax = opts.usersMax ?? 256;
    this.closeGraceMs = opts.closeGraceMs ?? 10 * 60_000;
  }

  get size(): number {
    return this.clients.size;
  }

  /** Evicted clients not closed yet (waiting out their grace period). */
  get closingCount(): number {
    return this.closing.size;
  }

  clientFor = (user: string): TandemClient => {
    if (this.closed) throw new Error('invariant broken: UserClients used after close');
    let client = this.clients.get(user);
    if (client) {
      // Map order is insertion order: re-inserting makes it the most recently used.
      this.clients.delete(user);
      this.clients.set(user, client);
      return client;
    }
    client = this.opts.make(user);
    this.clients.set(user, client);
    if (this.clients.size > this.usersMax) {
      const [oldestUser, oldest] = this.clients.entries().next().value as [string, TandemClient];
      this.clients.delete(oldestUser);
      const timer = setTimeout(() => {
        this.closing.delete(timer);
        oldest.close();
      }, this.closeGraceMs);
      timer.unref();
      this.closing.set(timer, oldest);
      if (this.closing.size > this.usersMax) {
        const [oldestTimer, waiting] = this.closing.entries().next().value as [NodeJS.Timeout, TandemClient];
        clearTimeout(oldestTimer);
        this.closing.delete(oldestTimer);
        waiting.close();
      }
    }
    return client;
  };

  close(): void {
    this.closed = true;
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
    for (const [timer, client] of this.closing) {
      clearTimeout(timer);
      client.close();
    }
    this.closing.clear();
  }
}
