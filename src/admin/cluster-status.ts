// `tandem admin status`: one operator view of every shard and datanode. ZooKeeper says who
// is in each shard's election, the epoch and the in-sync set; each member answers
// `admin.status` for its own role, txids, safe mode and last image; the FMS actives say
// which datanodes they hear and how far a decommission got.

import type { Alert } from '../metrics/alerts.js';
import type { Coordinator } from '../election/coordinator.js';
import { DATANODES_PATH, DECOMMISSION_PATH, memberOfReplica, type DecommissionList } from '../election/layout.js';
import { callMember, membersOf, readShardRegistry } from './shards.js';

export interface MemberView {
  member: string;
  rpc: string;
  role: string;
  epoch: number | null;
  appliedTxid: number | null;
  /** The active's applied txid minus this member's (0 for the active). */
  lagTxids: number | null;
  inSync: boolean;
  /** 'manual' (admin safemode), 'automatic' (an FMS active waiting for reports) or 'off'. */
  safeMode: 'manual' | 'automatic' | 'off' | null;
  /** txid of the newest image this member holds (its last checkpoint). */
  imageTxid: number | null;
  error?: string;
}

export interface DatanodeView {
  id: string;
  registered: boolean;
  /** Per FMS shard that hears it: replicas and last heartbeat. */
  replicas: number;
  usedBytes: number | null;
  capacityBytes: number | null;
  lastHeartbeatAgoMs: number | null;
  /** null: in service; else its decommission state. */
  decommission: { waiting: number; state: 'decommissioning' | 'decommissioned' } | null;
}

export interface ClusterStatus {
  /** `alerts`: what the shard's active raises (src/metrics/alerts.ts); empty without an active. */
  shards: Array<{ shard: string; epoch: number | null; isr: string[]; active: string | null; members: MemberView[]; alerts: Alert[] }>;
  datanodes: DatanodeView[];
}

interface MemberStatusReply {
  role: string;
  epoch: number;
  appliedTxid: number;
  imageTxid: number;
  manualSafeMode?: unknown;
  automaticSafeMode?: { on: boolean } | null;
  /** Every datanode the member heard from; `live: false` once past its heartbeat deadline. */
  datanodes?: Array<{ id: string; live?: boolean; capacityBytes: number; usedBytes: number; replicas: number; lastHeartbeatAgoMs: number }>;
  alerts?: Alert[];
  decommission?: Record<string, { replicas: number; waiting: number }> | null;
}

export async function gatherClusterStatus(coordinator: Coordinator, shard?: string): Promise<ClusterStatus> {
  const { shards, registry } = await readShardRegistry(coordinator, shard);
  const out: ClusterStatus = { shards: [], datanodes: [] };
  const fmsActives: MemberStatusReply[] = [];
  for (const name of shards) {
    const r = registry.shards[name]!;
    const isr = (r.isr?.members ?? []).map(memberOfReplica);
    const replies = await Promise.all(
      membersOf(registry, name).map(async (m) => {
        try {
          return { m, reply: await callMember<MemberStatusReply>(m.rpc, 'admin.status', {}, 5_000) };
        } catch (err) {
          return { m, error: (err as Error).message };
        }
      }),
    );
    const activeReply = replies.find((x) => x.reply?.role === 'active')?.reply;
    if (name !== 'ns' && activeReply) fmsActives.push(activeReply);
    out.shards.push({
      shard: name,
      epoch: r.epoch,
      isr,
      active: (r.active.current as { member?: string } | null)?.member ?? null,
      alerts: activeReply?.alerts ?? [],
      members: replies.map(({ m, reply, error }) => ({
        member: m.member,
        rpc: m.rpc,
        role: reply?.role ?? 'unreachable',
        epoch: reply?.epoch ?? null,
        appliedTxid: reply?.appliedTxid ?? null,
        lagTxids: reply && activeReply ? Math.max(0, activeReply.appliedTxid - reply.appliedTxid) : null,
        inSync: isr.includes(m.member),
        safeMode: reply ? (reply.manualSafeMode ? 'manual' : reply.automaticSafeMode?.on ? 'automatic' : 'off') : null,
        imageTxid: reply?.imageTxid ?? null,
        ...(error !== undefined ? { error } : {}),
      })),
    });
  }
  const registered = new Set(await coordinator.children(DATANODES_PATH).catch(() => [] as string[]));
  const leaving = ((await coordinator.get<DecommissionList>(DECOMMISSION_PATH))?.data?.datanodes ?? []).filter((id) => typeof id === 'string');
  const ids = new Set<string>([...registered, ...leaving]);
  for (const a of fmsActives) for (const dn of a.datanodes ?? []) ids.add(dn.id);
  for (const id of [...ids].sort()) {
    const heard = fmsActives.flatMap((a) => (a.datanodes ?? []).filter((dn) => dn.id === id && dn.live !== false));
    const waiting = fmsActives.reduce((sum, a) => sum + (a.decommission?.[id]?.waiting ?? 0), 0);
    out.datanodes.push({
      id,
      registered: registered.has(id),
      replicas: heard.reduce((sum, dn) => sum + dn.replicas, 0),
      usedBytes: heard[0]?.usedBytes ?? null,
      capacityBytes: heard[0]?.capacityBytes ?? null,
      lastHeartbeatAgoMs: heard.length > 0 ? Math.max(...heard.map((dn) => dn.lastHeartbeatAgoMs)) : null,
      decommission: leaving.includes(id) ? { waiting, state: waiting === 0 && fmsActives.every((a) => a.decommission?.[id] !== undefined) ? 'decommissioned' : 'decommissioning' } : null,
    });
  }
  return out;
}

export function formatClusterStatus(status: ClusterStatus): string {
  const lines: string[] = [];
  for (const s of status.shards) {
    lines.push(`shard ${s.shard}: epoch ${s.epoch ?? '-'}, active ${s.active ?? 'NONE'}, in-sync [${s.isr.join(', ')}]`);
    for (const a of s.alerts) lines.push(`  WARNING ${a.alert}: ${a.message}`);
    lines.push(table(
      ['member', 'role', 'epoch', 'txid', 'lag', 'in-sync', 'safe mode', 'last image'],
      s.members.map((m) => [m.member, m.role, m.epoch ?? '-', m.appliedTxid ?? '-', m.lagTxids ?? '-', m.inSync ? 'yes' : 'no', m.safeMode ?? '-', m.imageTxid ?? '-']),
    ));
    for (const m of s.members) if (m.error) lines.push(`  ${m.member}: ${m.error}`);
  }
  lines.push(`datanodes: ${status.datanodes.filter((d) => d.lastHeartbeatAgoMs !== null).length} live of ${status.datanodes.length}`);
  if (status.datanodes.length > 0) {
    lines.push(table(
      ['datanode', 'replicas', 'used', 'capacity', 'heartbeat', 'state'],
      status.datanodes.map((d) => [
        d.id,
        d.replicas,
        d.usedBytes === null ? '-' : mib(d.usedBytes),
        d.capacityBytes === null ? '-' : mib(d.capacityBytes),
        d.lastHeartbeatAgoMs === null ? 'dead' : `${d.lastHeartbeatAgoMs} ms ago`,
        d.decommission ? `${d.decommission.state} (${d.decommission.waiting} blocks waiting)` : 'in service',
      ]),
    ));
  }
  return lines.join('\n') + '\n';
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Left-aligned columns, two spaces apart, indented by two. */
export function table(header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => '  ' + r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
