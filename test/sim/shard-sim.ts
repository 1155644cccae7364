// A seeded simulation of one shard (STYLE §3): three members, a fake ZooKeeper, a fake
// network (one FIFO queue per direction of each link, which can drop everything in it) and
// fake disks (records appended, then fsynced; a crash keeps a random prefix of what was not
// fsynced yet: a torn write). The members decide with the product's own pure functions —
// electionPosition, decideTakeover, EpochHistory.agreementWith, checkAppend, commitPoint,
// isrAdjustments, chooseContinuation — and the simulation plays the drivers' part around them. After every
// step it checks the shard's promises (see checkInvariants).
//
// Everything is a function of the seed: a failure prints it, and TANDEM_SIM_SEED=<seed>
// replays exactly that run.

import { electionPosition, decideTakeover, memberOfReplica, replicaId, type IsrData } from '../../src/election/layout.js';
import { EpochHistory } from '../../src/replication/epoch-history.js';
import { checkAppend, chooseContinuation, commitPoint, isrAdjustments, mayJoinIsr } from '../../src/replication/rules.js';

export interface Rec {
  txid: number;
  epoch: number;
  /** A client write "w<n>", or "start:<member>" for an epoch-start record. */
  op: string;
}

/** mulberry32: small, fast, good enough to explore interleavings; deterministic per seed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Message =
  | { kind: 'append'; epoch: number; records: Rec[] }
  | { kind: 'ack'; epoch: number; durable: number }
  | { kind: 'refuse'; epoch: number; code: 'STALE_EPOCH' | 'LOG_DIVERGED' };

interface Link {
  /** The follower's replica id (name#storage generation) when the link was made. */
  replica: string;
  /** Past the hello: the active streams to it. Only the active's side keeps this. */
  synced: boolean;
  nextTxid: number;
  durable: number;
  startedAt: number;
  lastAckAt: number;
}

interface Member {
  name: string;
  /** Storage generation: a restart on an empty disk makes a new replica (see replicaId). */
  storage: number;
  up: boolean;
  /** Fsynced records, and records appended but not fsynced yet (lost or torn by a crash). */
  durable: Rec[];
  pending: Rec[];
  promisedEpoch: number;
  session: number | null;
  /** This member's election node's sequence number, if it has one. */
  electionSeq: number | null;
  role: 'standby' | 'active';
  /** As active: */
  epoch: number;
  isr: string[];
  isrVersion: number;
  links: Map<string, Link>;
  /** When the link to a follower went away (a crash, a reset): ISR members without a link are judged from here. */
  linkGoneAt: Map<string, number>;
  activeSince: number;
  /**
   * As active: the highest txid committed (replies released), never lower later — the
   * engine's committedTxid, which starts at what was durable when it took over.
   */
  committed: number;
  appendedAt: Map<number, number>;
  /** As standby: acknowledgements owed to the active of `epoch` once fsynced. */
  owedAck: { to: string; epoch: number } | null;
}

interface ZooKeeper {
  /** Election nodes: sequence → owner. */
  election: Map<number, { member: string; replica: string; session: number }>;
  nextSeq: number;
  isr: { data: IsrData; version: number } | null;
  epochCounter: number;
  liveSessions: Set<number>;
}

export interface SimResult {
  steps: number;
  acked: number;
  failovers: number;
  crashes: number;
  expiries: number;
  drops: number;
  truncations: number;
  /** Standbys added to the in-sync set (so that takeovers by standbys happen at all). */
  isrAdds: number;
  diskLosses: number;
  /** Takeovers that took records from another in-sync member first. */
  tailsTaken: number;
}

export class ShardSim {
  private readonly rand: () => number;
  private readonly members: Member[];
  private readonly zk: ZooKeeper = { election: new Map(), nextSeq: 0, isr: null, epochCounter: 0, liveSessions: new Set() };
  private readonly queues = new Map<string, Message[]>();
  private nextSession = 1;
  /** Sessions of crashed processes: alive in ZooKeeper (their election nodes too) until they expire. */
  private orphanSessions: number[] = [];
  private nextWrite = 1;
  private now = 0;
  /** txid → op of every write acknowledged to a client. */
  readonly acked = new Map<number, string>();
  /** epoch → the one member that took it. */
  private readonly epochOwner = new Map<number, string>();
  private highestCommitted = 0;
  readonly trace: string[] = [];
  private readonly stats: SimResult = { steps: 0, acked: 0, failovers: 0, crashes: 0, expiries: 0, drops: 0, truncations: 0, isrAdds: 0, diskLosses: 0, tailsTaken: 0 };
  private static readonly LAG_MAX = 80;

  constructor(readonly seed: number, memberCount = 3) {
    this.rand = random(seed);
    this.members = Array.from({ length: memberCount }, (_, i) => ({
      name: `m${i + 1}`,
      storage: 1,
      up: true,
      durable: [],
      pending: [],
      promisedEpoch: 0,
      session: null,
      electionSeq: null,
      role: 'standby' as const,
      epoch: 0,
      isr: [],
      isrVersion: -1,
      links: new Map(),
      linkGoneAt: new Map(),
      activeSince: 0,
      committed: 0,
      appendedAt: new Map(),
      owedAck: null,
    }));
    for (const m of this.members) this.join(m);
  }

  // ---- helpers

  private pick<T>(items: readonly T[]): T | undefined {
    return items.length === 0 ? undefined : items[Math.floor(this.rand() * items.length)];
  }

  private log(m: Member): Rec[] {
    return m.pending.length === 0 ? m.durable : [...m.durable, ...m.pending];
  }

  private lastTxid(m: Member): number {
    return m.durable.length + m.pending.length;
  }

  private historyOf(records: readonly Rec[], promised: number): EpochHistory {
    const history = new EpochHistory([], 0);
    for (const r of records) if (r.epoch !== history.lastEpoch) history.noteRecord(r.txid, r.epoch);
    history.promise(Math.max(promised, history.lastEpoch));
    return history;
  }

  private member(name: string): Member {
    return this.members.find((m) => m.name === name)!;
  }

  private queue(from: string, to: string): Message[] {
    const key = `${from}>${to}`;
    let q = this.queues.get(key);
    if (!q) this.queues.set(key, (q = []));
    return q;
  }

  private send(from: Member, to: string, message: Message): void {
    this.queue(from.name, to).push(message);
  }

  private note(line: string): void {
    this.trace.push(`${this.stats.steps}: ${line}`);
    if (this.trace.length > 60) this.trace.shift();
  }

  // ---- ZooKeeper model: sessions, ephemeral election nodes

  private join(m: Member): void {
    if (m.session === null) {
      m.session = this.nextSession++;
      this.zk.liveSessions.add(m.session);
    }
    m.electionSeq = this.zk.nextSeq++;
    this.zk.election.set(m.electionSeq, { member: m.name, replica: this.id(m), session: m.session });
  }

  private expireSession(session: number): void {
    this.zk.liveSessions.delete(session);
    for (const [seq, node] of this.zk.election) if (node.session === session) this.zk.election.delete(seq);
  }

  private electionMembers(): Set<string> {
    return new Set([...this.zk.election.values()].map((n) => n.replica));
  }

  /** The member's identity in the ISR, as the product builds it. */
  private id(m: Member): string {
    return replicaId({ member: m.name, storageId: String(m.storage) });
  }

  /** Durable txid the active knows for an ISR replica (0 if its link is to another replica of that name, or none). */
  private durableOf(active: Member, replica: string): number {
    const link = active.links.get(memberOfReplica(replica));
    return link && link.replica === replica ? link.durable : 0;
  }

  // ---- the member's behaviour (the drivers' part), around the product's pure decisions

  private demote(m: Member, why: string): void {
    if (m.role !== 'active') return;
    this.note(`${m.name} deposed (${why})`);
    m.role = 'standby';
    m.links.clear();
    // Back of the line, as HaMember.depose does.
    for (const [seq, node] of this.zk.election) if (node.member === m.name) this.zk.election.delete(seq);
    if (m.up && m.session !== null && this.zk.liveSessions.has(m.session)) this.join(m);
  }

  /** HaMember.evaluate → takeOver, using decideTakeover. */
  private electionStep(m: Member): void {
    if (!m.up || m.role === 'active' || m.electionSeq === null) return;
    const children = [...this.zk.election.keys()].map((seq) => `n_${String(seq).padStart(10, '0')}`);
    const position = electionPosition(children, `n_${String(m.electionSeq).padStart(10, '0')}`);
    if (!position || position.rank !== 0) return;
    if (!this.zk.isr) this.zk.isr = { data: { epoch: 0, members: [this.id(m)] }, version: 0 };
    const isr = this.zk.isr;
    const decision = decideTakeover({
      me: this.id(m),
      isr: isr.data,
      epochCounter: this.zk.epochCounter,
      promisedEpoch: m.promisedEpoch,
      electionMembers: this.electionMembers(),
      handoverTo: null,
    });
    if (decision.kind === 'step-back') {
      this.zk.election.delete(m.electionSeq);
      this.join(m);
      return;
    }
    // Version-checked writes: this step is atomic in the model, so they succeed.
    this.zk.isr = { data: { epoch: decision.epoch, members: decision.isr }, version: isr.version + 1 };
    this.zk.epochCounter = decision.epoch;
    // HaMember.takeMissingTail: the other in-sync members that answer (some do not: down, or
    // too slow) offer their log from our last record on; the chosen continuation is appended
    // and fsynced (with what was pending here) before the epoch starts.
    const offers: Rec[][] = [];
    for (const replica of decision.isr) {
      const peer = this.member(memberOfReplica(replica));
      if (peer === m || !peer.up || this.id(peer) !== replica || this.rand() < 0.3) continue;
      offers.push(this.log(peer).slice(Math.max(1, this.lastTxid(m)) - 1));
    }
    const lastRecord = this.log(m).at(-1);
    const taken = chooseContinuation({ lastTxid: this.lastTxid(m), lastEpoch: lastRecord?.epoch ?? 0 }, offers);
    if (taken.length > 0) {
      m.durable = [...m.durable, ...m.pending, ...taken];
      m.pending = [];
      this.stats.tailsTaken++;
      this.note(`${m.name} takes txids ${taken[0]!.txid}..${taken.at(-1)!.txid} from an in-sync member before its epoch`);
    }
    m.promisedEpoch = decision.epoch;
    const owner = this.epochOwner.get(decision.epoch);
    if (owner !== undefined) throw new Error(`epoch ${decision.epoch} taken twice: by ${owner} and by ${m.name}`);
    this.epochOwner.set(decision.epoch, m.name);
    m.role = 'active';
    m.owedAck = null;
    m.epoch = decision.epoch;
    m.isr = decision.isr;
    m.isrVersion = isr.version + 1;
    m.links = new Map();
    m.linkGoneAt = new Map();
    m.activeSince = this.now;
    m.committed = m.durable.length;
    const start: Rec = { txid: this.lastTxid(m) + 1, epoch: decision.epoch, op: `start:${m.name}` };
    m.pending.push(start);
    m.appendedAt.set(start.txid, this.now);
    this.stats.failovers++;
    this.note(`${m.name} active in epoch ${decision.epoch} from txid ${start.txid}, isr [${decision.isr.join(',')}]`);
  }

  /** FollowerLink.connectOnce: hello, agreement point, truncation, then stream. Atomic in the model. */
  private connect(active: Member, follower: Member): void {
    if (!active.up || !follower.up || active.role !== 'active' || follower.role === 'active' || active.links.get(follower.name)?.synced) return;
    if (active.epoch < follower.promisedEpoch) {
      this.demote(active, `${follower.name} promised epoch ${follower.promisedEpoch}`);
      return;
    }
    follower.promisedEpoch = active.epoch;
    // As FollowerLink.connectOnce: hello, and truncate until the logs agree (each round drops
    // at least one divergent epoch).
    const activeLog = this.log(active);
    const history = this.historyOf(activeLog, active.promisedEpoch);
    for (let round = 0; ; round++) {
      const followerLog = this.log(follower);
      const agreed = history.agreementWith(this.historyOf(followerLog, 0).entries(), followerLog.length, activeLog.length);
      if (agreed === followerLog.length) break;
      if (round > 20) throw new Error(`${follower.name} still diverges from ${active.name} after ${round} truncations`);
      // truncateStorageAfter: cut the tail nobody acknowledged (durable and pending alike).
      this.stats.truncations++;
      this.note(`${follower.name} truncates after ${agreed} (had ${followerLog.length}) for ${active.name}`);
      follower.durable = follower.durable.slice(0, agreed);
      follower.pending = follower.pending.slice(0, Math.max(0, agreed - follower.durable.length));
    }
    this.queue(active.name, follower.name).length = 0;
    this.queue(follower.name, active.name).length = 0;
    const link: Link = {
      replica: this.id(follower),
      synced: true,
      nextTxid: this.lastTxid(follower) + 1,
      durable: follower.durable.length,
      startedAt: this.now,
      lastAckAt: this.now,
    };
    active.links.set(follower.name, link);
    follower.owedAck = { to: active.name, epoch: active.epoch };
    this.stream(active, follower.name, link);
  }

  private stream(active: Member, to: string, link: Link): void {
    const log = this.log(active);
    if (link.nextTxid > log.length) return;
    const records = log.slice(link.nextTxid - 1);
    link.nextTxid = log.length + 1;
    this.send(active, to, { kind: 'append', epoch: active.epoch, records });
  }

  private clientWrite(active: Member): void {
    if (!active.up || active.role !== 'active') return;
    const rec: Rec = { txid: this.lastTxid(active) + 1, epoch: active.epoch, op: `w${this.nextWrite++}` };
    active.pending.push(rec);
    active.appendedAt.set(rec.txid, this.now);
    for (const [name, link] of active.links) if (link.synced) this.stream(active, name, link);
  }

  private fsync(m: Member): void {
    if (!m.up || m.pending.length === 0) return;
    m.durable = [...m.durable, ...m.pending];
    m.pending = [];
    if (m.role === 'active') this.advanceCommit(m);
    else if (m.owedAck) this.send(m, m.owedAck.to, { kind: 'ack', epoch: m.owedAck.epoch, durable: m.durable.length });
  }

  private advanceCommit(active: Member): void {
    const others = active.isr.filter((n) => n !== this.id(active));
    const committed = commitPoint(active.durable.length, others, (n) => this.durableOf(active, n));
    for (let txid = 1; txid <= committed; txid++) {
      const rec = active.durable[txid - 1]!;
      if (rec.op.startsWith('w') && !this.acked.has(txid)) {
        this.acked.set(txid, rec.op);
        this.stats.acked++;
      }
    }
    if (committed > this.highestCommitted) this.highestCommitted = committed;
    if (committed > active.committed) active.committed = committed;
  }

  private deliver(from: string, to: string): void {
    const q = this.queue(from, to);
    const message = q.shift();
    const receiver = this.member(to);
    if (!message || !receiver.up) return;
    const sender = this.member(from);
    switch (message.kind) {
      case 'append': {
        if (receiver.role === 'active' && receiver.epoch >= message.epoch) {
          this.send(receiver, from, { kind: 'refuse', epoch: message.epoch, code: 'STALE_EPOCH' });
          return;
        }
        if (receiver.role === 'active') this.demote(receiver, `records from epoch ${message.epoch}`);
        const log = this.log(receiver);
        const verdict = checkAppend({ promisedEpoch: receiver.promisedEpoch, lastTxid: log.length, lastEpoch: log.at(-1)?.epoch ?? 0 }, message.epoch, message.records[0]);
        if (!verdict.ok) {
          this.send(receiver, from, { kind: 'refuse', epoch: message.epoch, code: verdict.code });
          return;
        }
        receiver.promisedEpoch = message.epoch;
        receiver.pending.push(...message.records);
        receiver.owedAck = { to: from, epoch: message.epoch };
        // A heartbeat (no records) is answered at once with what is durable.
        if (message.records.length === 0) this.send(receiver, from, { kind: 'ack', epoch: message.epoch, durable: receiver.durable.length });
        return;
      }
      case 'ack': {
        const link = sender.name === from && receiver.role === 'active' && receiver.epoch === message.epoch ? receiver.links.get(from) : undefined;
        if (!link) return;
        link.durable = Math.max(link.durable, message.durable);
        link.lastAckAt = this.now;
        this.advanceCommit(receiver);
        return;
      }
      case 'refuse': {
        if (receiver.role !== 'active' || receiver.epoch !== message.epoch) return;
        if (message.code === 'STALE_EPOCH') this.demote(receiver, `${from} refused epoch ${message.epoch}`);
        else receiver.links.delete(from); // resync through a new hello
        return;
      }
    }
  }

  /** Replicator.tick → isrAdjustments → version-checked ISR write (HaMember.changeIsr). */
  private isrTick(active: Member): void {
    if (!active.up || active.role !== 'active') return;
    // The replicator's timer also sends heartbeats to every streaming standby.
    for (const [name, link] of active.links) if (link.synced) this.send(active, name, { kind: 'append', epoch: active.epoch, records: [] });
    const applied = this.lastTxid(active);
    const others = active.isr.filter((n) => n !== this.id(active));
    const followers = [...active.links].map(([, link]) => ({
      member: link.replica,
      inSync: others.includes(link.replica),
      streaming: link.synced,
      durableTxid: link.durable,
      missingSince: Math.max(active.appendedAt.get(link.durable + 1) ?? -Infinity, link.startedAt),
      lastAckAt: link.lastAckAt,
    }));
    const withoutFollower = others
      .filter((n) => active.links.get(memberOfReplica(n))?.replica !== n)
      .map((n) => ({ member: n, since: Math.max(active.activeSince, active.linkGoneAt.get(memberOfReplica(n)) ?? -Infinity) }));
    const changes = isrAdjustments(this.now, { appliedTxid: applied, committedTxid: active.committed }, followers, withoutFollower, ShardSim.LAG_MAX);
    for (const change of changes) {
      const isr = this.zk.isr!;
      if (isr.version !== active.isrVersion) {
        if (isr.data.epoch > active.epoch) this.demote(active, `the ISR was rewritten by epoch ${isr.data.epoch}`);
        return;
      }
      const members = change.change === 'remove' ? active.isr.filter((n) => n !== change.member) : [...active.isr, change.member];
      if (change.change === 'add' && active.isr.includes(change.member)) continue;
      // HaMember.changeIsr re-checks an add when it carries it out (Replicator.mayJoinIsr): a
      // removal just before may have let the commit point move past the member.
      if (change.change === 'add') {
        const link = active.links.get(memberOfReplica(change.member));
        if (link?.replica !== change.member || !mayJoinIsr({ streaming: link.synced, durableTxid: link.durable }, active.committed)) continue;
      }
      this.zk.isr = { data: { epoch: active.epoch, members }, version: isr.version + 1 };
      active.isr = members;
      active.isrVersion = isr.version + 1;
      this.note(`${active.name} isr ${change.change} ${change.member} → [${members.join(',')}]`);
      if (change.change === 'add') this.stats.isrAdds++;
      this.advanceCommit(active);
    }
  }

  private crash(m: Member): void {
    if (!m.up) return;
    // Torn write: a random prefix of the unsynced records made it to the disk.
    const kept = Math.floor(this.rand() * (m.pending.length + 1));
    m.durable = [...m.durable, ...m.pending.slice(0, kept)];
    m.pending = [];
    m.up = false;
    if (m.session !== null) this.orphanSessions.push(m.session);
    m.session = null;
    m.electionSeq = null;
    m.role = 'standby';
    m.links.clear();
    m.owedAck = null;
    for (const key of this.queues.keys()) if (key.startsWith(`${m.name}>`) || key.endsWith(`>${m.name}`)) this.queues.set(key, []);
    // Its connections break: the others notice.
    for (const other of this.members) {
      if (other.links.delete(m.name)) other.linkGoneAt.set(m.name, this.now);
    }
    this.stats.crashes++;
    this.note(`${m.name} crashed (kept ${kept} unsynced records)`);
  }

  private restart(m: Member, loseDisk = false): void {
    if (m.up) return;
    if (loseDisk) {
      // The fault model: at most the copies on this disk are lost — never the last existing in-sync one.
      const others = (this.zk.isr?.data.members ?? []).filter((r) => r !== this.id(m) && this.id(this.member(memberOfReplica(r))) === r);
      if (others.length > 0) {
        m.durable = [];
        m.pending = [];
        m.promisedEpoch = 0;
        m.storage++;
        this.stats.diskLosses++;
        this.note(`${m.name} lost its disk: now replica ${this.id(m)}`);
      }
    }
    m.up = true;
    // The crashed process's session lives on in ZooKeeper until it expires (an `expire` step).
    m.session = null;
    m.electionSeq = null;
    m.appendedAt = new Map();
    this.join(m);
    this.note(`${m.name} restarted at txid ${m.durable.length}`);
  }

  private expire(m: Member): void {
    // A crashed process's session (timeout, or its monitor removing its nodes) first.
    const orphan = this.orphanSessions.shift();
    if (orphan !== undefined) {
      this.expireSession(orphan);
      this.stats.expiries++;
      this.note(`orphan session ${orphan} expired`);
      return;
    }
    if (m.session === null || !this.zk.liveSessions.has(m.session)) return;
    this.expireSession(m.session);
    this.stats.expiries++;
    this.note(`${m.name}'s session expired`);
    m.session = null;
    m.electionSeq = null;
    if (m.role === 'active') this.demote(m, 'session expired');
    if (m.up) this.join(m);
  }

  // ---- the run

  step(): void {
    this.stats.steps++;
    this.now++;
    const r = this.rand();
    const m = this.pick(this.members)!;
    const active = this.members.filter((x) => x.up && x.role === 'active');
    if (r < 0.18) {
      const a = this.pick(active);
      if (a) this.clientWrite(a);
    } else if (r < 0.48) {
      const keys = [...this.queues].filter(([, q]) => q.length > 0).map(([k]) => k);
      const key = this.pick(keys);
      if (key) {
        const [from, to] = key.split('>') as [string, string];
        this.deliver(from, to);
      }
    } else if (r < 0.65) {
      this.fsync(m);
    } else if (r < 0.72) {
      this.electionStep(m);
    } else if (r < 0.8) {
      const a = this.pick(active);
      const f = this.pick(this.members.filter((x) => x !== a));
      if (a && f) this.connect(a, f);
    } else if (r < 0.9) {
      const a = this.pick(active);
      if (a) this.isrTick(a);
    } else if (r < 0.92) {
      if (this.members.filter((x) => x.up).length > 1) this.crash(m);
    } else if (r < 0.96) {
      this.restart(m, this.rand() < 0.15);
    } else if (r < 0.98) {
      this.expire(m);
    } else {
      const key = this.pick([...this.queues.keys()]);
      if (key && this.queues.get(key)!.length > 0) {
        this.queues.set(key, []);
        this.stats.drops++;
        // A connection reset: the active resyncs that follower through a new hello.
        const [from, to] = key.split('>') as [string, string];
        if (this.member(from).links.delete(to)) this.member(from).linkGoneAt.set(to, this.now);
        if (this.member(to).links.delete(from)) this.member(to).linkGoneAt.set(from, this.now);
        this.note(`link ${key} dropped`);
      }
    }
    this.checkInvariants();
  }

  /**
   * The shard's promises, checked after every step:
   * - at most one member takes any epoch (checked where epochs are taken);
   * - the committed txid never goes backwards, and no member's durable log ever loses a
   *   committed record it holds below it... except by truncation, which must never reach
   *   below the commit point;
   * - every acknowledged write is durable, at its txid, on every member of the ZooKeeper ISR
   *   (any of which may take over next);
   * - replicas agree on every committed txid they both hold (same op: same digest).
   */
  checkInvariants(): void {
    // ISR replicas that still exist (a replica whose disk was lost is gone; its name may live on as a new one).
    const isr = (this.zk.isr?.data.members ?? []).filter((r) => this.id(this.member(memberOfReplica(r))) === r).map(memberOfReplica);
    for (const [txid, op] of this.acked) {
      if (txid > this.highestCommitted) throw new Error(`acked txid ${txid} above the commit point ${this.highestCommitted}`);
      for (const name of isr) {
        const m = this.member(name);
        const rec = m.durable[txid - 1];
        if (rec?.op !== op) throw new Error(`acknowledged ${op} at txid ${txid} is missing on ISR member ${name} (has ${rec?.op ?? 'nothing'})`);
      }
    }
    // Replicas of the current configuration — the ISR, and every follower streaming from an
    // active — agree on every committed txid they hold. (A member outside it may still hold a
    // deposed active's uncommitted tail, which it truncates when it next connects.)
    const inConfiguration = new Set(isr);
    for (const a of this.members) {
      if (!a.up || a.role !== 'active') continue;
      inConfiguration.add(a.name);
      for (const [name, link] of a.links) if (link.synced) inConfiguration.add(name);
    }
    const replicas = this.members.filter((m) => inConfiguration.has(m.name));
    for (let i = 0; i < replicas.length; i++) {
      for (let j = i + 1; j < replicas.length; j++) {
        const a = this.log(replicas[i]!);
        const b = this.log(replicas[j]!);
        const upTo = Math.min(a.length, b.length, this.highestCommitted);
        for (let t = 0; t < upTo; t++) {
          if (a[t]!.op !== b[t]!.op || a[t]!.epoch !== b[t]!.epoch) {
            throw new Error(`${replicas[i]!.name} and ${replicas[j]!.name} differ at committed txid ${t + 1}: ${a[t]!.op}@${a[t]!.epoch} vs ${b[t]!.op}@${b[t]!.epoch}`);
          }
        }
      }
    }
  }

  /** Heals everything (all up, no loss) and runs until an active has replicated to all; then every acked write must be in its log. */
  heal(stepsMax = 5_000): void {
    for (const m of this.members) this.restart(m);
    for (const session of this.orphanSessions) this.expireSession(session);
    this.orphanSessions = [];
    for (let i = 0; i < stepsMax; i++) {
      this.now++;
      const active = this.members.find((m) => m.role === 'active');
      if (!active) {
        for (const m of this.members) this.electionStep(m);
        continue;
      }
      for (const m of this.members) if (m !== active) this.connect(active, m);
      for (const key of [...this.queues.keys()]) {
        const [from, to] = key.split('>') as [string, string];
        while (this.queues.get(key)!.length > 0) this.deliver(from, to);
      }
      for (const m of this.members) this.fsync(m);
      this.isrTick(active);
      this.checkInvariants();
      if (this.members.every((m) => m.pending.length === 0 && this.lastTxid(m) === this.lastTxid(active))) break;
    }
    const active = this.members.find((m) => m.role === 'active');
    if (!active) throw new Error('no active after healing');
    const log = this.log(active);
    for (const [txid, op] of this.acked) {
      if (log[txid - 1]?.op !== op) throw new Error(`acknowledged ${op} at txid ${txid} lost: the final active has ${log[txid - 1]?.op ?? 'nothing'}`);
    }
  }

  result(): SimResult {
    return { ...this.stats };
  }
}
