#!/usr/bin/env bash
# Failover under load on the namespace shard: `tandem up` with an active, two standbys and a
# monitor beside each (no FMS shards, datanodes or adapters), then `tandem bench chaos`
# killing the active with SIGKILL every KILL_EVERY seconds for SECONDS (issue 3's figures).
#   scripts/bench-chaos.sh [SECONDS] [KILL_EVERY]
# Prints the chaos JSON line (acked, lost, duplicated, unavailability per failover), then one
# line read from the masters' logs: how long a restarted member took from its first streamed
# record to joining the in-sync set again (rejoin p50/max, ms), then one line of where each
# failover's time went, phase by phase (p50/max, ms; scripts/lib/failover-phases.mjs, which
# PER_KILL=1 makes print every kill's phases too). Everything runs on free
# loopback ports and is stopped at the end (KEEP=1 keeps the cluster's directory and logs).
set -euo pipefail
SECONDS_=${1:-600}
KILL_EVERY=${2:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/tandem-chaos.XXXXXX)
# shellcheck source=lib/up-cluster.sh
. "$root/scripts/lib/up-cluster.sh"

node "$root/scripts/setup.mjs" >&2
start_up "$work/cluster" --standbys 2 --fms-shards 0 --datanodes 0 --adapters 0
node "$root/dist/src/cli/main.js" bench chaos --cluster "$work/cluster" --seconds "$SECONDS_" --kill-every "$KILL_EVERY" --json --trace "$work/trace.jsonl"
cat "$work"/cluster/ns-m*.log | node -e '
let text = "";
process.stdin.on("data", (d) => (text += d)).on("end", () => {
  const events = [];
  for (const line of text.split("\n")) {
    let entry;
    try { entry = JSON.parse(line); } catch { continue; }
    let m;
    if ((m = /^streaming to standby (\S+) from/.exec(entry.msg ?? ""))) events.push([entry.time, "stream", m[1]]);
    else if ((m = /^(\S+) caught up: added to the in-sync set/.exec(entry.msg ?? ""))) events.push([entry.time, "add", m[1]]);
  }
  events.sort((a, b) => a[0] - b[0]);
  const since = new Map(), rejoinMs = [];
  for (const [time, kind, replica] of events) {
    if (kind === "stream") since.set(replica, time);
    else if (since.has(replica)) { rejoinMs.push(time - since.get(replica)); since.delete(replica); }
  }
  rejoinMs.sort((a, b) => a - b);
  console.log(JSON.stringify({ isrRejoins: rejoinMs.length, rejoinMsP50: rejoinMs[Math.floor(rejoinMs.length / 2)] ?? null, rejoinMsMax: rejoinMs.at(-1) ?? null }));
});'
node "$root/scripts/lib/failover-phases.mjs" "$work/cluster" "$work/trace.jsonl" ${PER_KILL:+--per-kill}
