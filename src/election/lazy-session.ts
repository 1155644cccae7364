// A ZooKeeper session made on first use and replaced after it expires (watches and
// ephemerals die with it, so the owner is told and sets them again). After close(), a
// session still being made is closed at once rather than kept.

import { TandemError } from '../errors.js';
import type { Coordinator } from './coordinator.js';

export class LazySession {
  private coordinator: Coordinator | null = null;
  private connecting: Promise<Coordinator> | null = null;
  private closed = false;

  constructor(
    private readonly connect: () => Promise<Coordinator>,
    /** The session expired (the next get() makes a new one). */
    private readonly onExpired: () => void,
  ) {}

  get(): Promise<Coordinator> {
    if (this.coordinator) return Promise.resolve(this.coordinator);
    this.connecting ??= this.open().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async open(): Promise<Coordinator> {
    const coordinator = await this.connect();
    if (this.closed) {
      await coordinator.close().catch(() => undefined);
      throw new TandemError('SHUTTING_DOWN', 'closed while a ZooKeeper session was being made');
    }
    coordinator.onSessionEvent((event) => {
      if (event !== 'expired' || this.coordinator !== coordinator) return;
      this.coordinator = null;
      this.onExpired();
    });
    this.coordinator = coordinator;
    return coordinator;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.coordinator?.close().catch(() => undefined);
    this.coordinator = null;
  }
}
