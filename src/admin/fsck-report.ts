// fsck's findings (and repairs) as text for a person, in the shape of HDFS fsck's report:
// one line per problem, then the summary with the status. Pure.

import type { FsckFindings } from './fsck.js';

export interface FsckRepairs {
  /** fms.deleteFiles per shard: the orphans' blocks then go from the datanodes. */
  orphansDeleted: { shard: string; fileIds: number[]; deleted: number; blocks: number }[];
  movedToLostFound: { fileId: number; from: string; to: string }[];
  /** Files left alone, and why (already in /lost+found, changed since fsck looked, a failed call). */
  skipped: { fileId: number; path: string; reason: string }[];
  /** What happens to under-replicated blocks (the FMS's own work, not fsck's). */
  underReplicated: string;
}

export interface FsckReport extends FsckFindings {
  repairs?: FsckRepairs;
}

export function formatFsckReport(report: FsckReport): string {
  const lines: string[] = [];
  for (const f of report.missingFiles) lines.push(`${f.path}: MISSING file ${f.fileId} (${f.length} B, pool ${f.pool}): ${f.reason} ${f.shard}`);
  for (const f of report.damagedFiles) {
    const parts = [];
    if (f.missingBlocks.length > 0) parts.push(`MISSING ${f.missingBlocks.length} block(s) [${f.missingBlocks.join(', ')}]`);
    if (f.corruptBlocks.length > 0) parts.push(`CORRUPT ${f.corruptBlocks.length} block(s) [${f.corruptBlocks.join(', ')}] (only corrupt replicas)`);
    lines.push(`${f.path}: ${parts.join(', ')} of file ${f.fileId} in ${f.shard}`);
  }
  for (const f of report.lengthMismatches) lines.push(`${f.path}: LENGTH MISMATCH of file ${f.fileId}: ${f.namespaceLength} B in the namespace, ${f.fmsLength} B in ${f.shard}`);
  for (const o of report.orphans) lines.push(`ORPHAN file ${o.fileId} in ${o.shard} (pool ${o.pool}, ${o.state}, ${o.blocks} block(s), ${o.length} B): the namespace does not know it`);
  for (const f of report.underReplicated) {
    lines.push(`${f.path}: under-replicated, target ${f.replication}: ${f.blocks.map((b) => `${b.blockId} has ${b.live}`).join(', ')} live replica(s)`);
  }
  for (const f of report.overReplicated) {
    lines.push(`${f.path}: over-replicated, target ${f.replication}: ${f.blocks.map((b) => `${b.blockId} has ${b.live}`).join(', ')} live replicas`);
  }
  for (const warning of report.warnings) lines.push(`WARNING: ${warning}`);

  const t = report.totals;
  const row = (label: string, value: string | number): string => ` ${`${label}:`.padEnd(28)}${value}`;
  lines.push('', `Status: ${report.status}`);
  lines.push(row('Total files', `${t.files}${t.openFiles > 0 ? ` (${t.openFiles} under construction)` : ''}`));
  lines.push(row('Total size', `${t.bytes} B`));
  lines.push(row('Total blocks', t.blocks));
  lines.push(row('Missing files', `${t.missingFiles}${t.missingFiles > 0 ? ' (in the namespace, data gone)' : ''}`));
  lines.push(row('Orphan files', `${t.orphanFiles}${t.orphanFiles > 0 ? ' (in an FMS shard only)' : ''}`));
  lines.push(row('Files with lost blocks', t.damagedFiles));
  lines.push(row('Missing blocks', t.missingBlocks));
  lines.push(row('Corrupt blocks', t.corruptBlocks));
  lines.push(row('Under-replicated blocks', `${t.underReplicatedBlocks}${t.underReplicatedBlocks > 0 ? ` (in ${t.underReplicatedFiles} file(s))` : ''}`));
  lines.push(row('Over-replicated blocks', t.overReplicatedBlocks));
  lines.push(row('Length mismatches', t.lengthMismatches));
  for (const s of report.shards) {
    lines.push(row(`Shard ${s.shard}`, `${s.files} files, ${s.blocks} blocks, ${s.liveDatanodes} live datanodes${s.safeMode ? ', IN SAFE MODE' : ''}`));
  }

  const r = report.repairs;
  if (r !== undefined) {
    lines.push('', 'Repairs:');
    for (const d of r.orphansDeleted) lines.push(` deleted ${d.deleted} orphan file(s) in ${d.shard} [${d.fileIds.join(', ')}]: ${d.blocks} block(s) to free on the datanodes`);
    for (const m of r.movedToLostFound) lines.push(` moved ${m.from} to ${m.to}`);
    for (const s of r.skipped) lines.push(` left ${s.path} (file ${s.fileId}): ${s.reason}`);
    lines.push(` under-replicated blocks: ${r.underReplicated}`);
  }
  lines.push('', `The filesystem is ${report.status}`);
  return `${lines.join('\n')}\n`;
}
