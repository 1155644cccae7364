#!/usr/bin/env bash
# Replicated creates: Tandem with ONE synchronous standby (`tandem up --standbys 1
# --fms-shards 0 --datanodes 0`, the namespace shard alone: every
# create is acknowledged once the active and its in-sync standby both have it on disk) next
# to single-server ZooKeeper 3.8 as a metadata store, same workload and window, one run
# (issue 3's figures).
#   scripts/bench-ha-vs-zookeeper.sh [N] [WINDOW]
# ZooKeeper is measured first (../shared/peers: installs Debian's package if missing; a copy
# in a temp dir, so shared/ is never written to), then Tandem. Prints one JSON line: both
# create rates, their ratio, and the standby's acknowledgement lag p50/p99 (ms from the
# append on the active to the standby's durable acknowledgement, over its last acknowledged
# batches: an upper bound on its apply lag), read from the active's status after the run,
# and the CPU time per create of every process (cpuUsPerOp: the machine has 2 cores, so
# their sum bounds the rate). Everything runs on free loopback ports; everything it started is stopped at the end.
set -euo pipefail
N=${1:-50000}
WINDOW=${2:-256}
LIST_N=${LIST_N:-200}   # the peers' bench also lists; only its creates are compared here
root=$(cd "$(dirname "$0")/.." && pwd)
peers_src=$(cd "$root/../shared/peers" && pwd)
work=$(mktemp -d /tmp/tandem-ha-vs-zk.XXXXXX)
export BASE="$work/peers"
# shellcheck source=lib/up-cluster.sh
. "$root/scripts/lib/up-cluster.sh"
stop_peers() { [ ! -d "$work/peers-code" ] || "$work/peers-code/peers.sh" stop >/dev/null 2>&1; }
on_exit=stop_peers

node "$root/scripts/setup.mjs" >&2
tandem() { node "$root/dist/src/cli/main.js" "$@"; }

# ---- ZooKeeper, single server (fsync on), its own port
cp -r "$peers_src" "$work/peers-code"
(cd "$work/peers-code" && npm install --no-audit --no-fund --silent >&2)
"$work/peers-code/peers.sh" install zk >&2
ZK_PORT=$(free_ports 1)
export ZK_PORT
"$work/peers-code/peers.sh" start zk >&2
node "$work/peers-code/bench-peers.mjs" --peers zk --zk "127.0.0.1:$ZK_PORT" --n "$N" --window "$WINDOW" --list-n "$LIST_N" --piddir "$BASE" --json "$work/zk.json" >&2
"$work/peers-code/peers.sh" stop >&2

# ---- Tandem: an active and one synchronous standby
start_up "$work/cluster" --standbys 1 --fms-shards 0 --datanodes 0 --adapters 0
# Writes are replicated only once the standby is in the in-sync set (before that, the active commits alone).
isr_size() { tandem admin status --cluster "$work/cluster" --registry --json 2>/dev/null | node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).shards.ns.isr.members.length)}catch{console.log(0)}})'; }
for _ in $(seq 1 120); do [ "$(isr_size)" = 2 ] && break; sleep 0.5; done
[ "$(isr_size)" = 2 ] || { echo "the standby did not join the in-sync set within 60 s; tandem up said:" >&2; cat "$work/cluster.out" >&2; exit 1; }
tandem admin status --cluster "$work/cluster" --registry --json > "$work/registry-before.json"
removed_before=$(cat "$work"/cluster/ns-m*.log | grep -c 'from the in-sync set: it lags' || true)
tandem bench meta --cluster "$work/cluster" --op create --n "$N" --window "$WINDOW" --json > "$work/create.json"
removed_after=$(cat "$work"/cluster/ns-m*.log | grep -c 'from the in-sync set: it lags' || true)
tandem admin status --cluster "$work/cluster" --registry --json > "$work/registry-after.json"
active=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).shards.ns.active.current.rpc)' "$work/registry-after.json")
tandem admin status --master "$active" --json > "$work/active-status.json"

node -e '
const fs = require("fs"); const [zkFile, createFile, before, after, statusFile] = process.argv.slice(1);
const read = (f) => JSON.parse(fs.readFileSync(f, "utf8"));
const zk = Object.values(read(zkFile).peers)[0].create;
const t = read(createFile);
const regBefore = read(before).shards.ns, regAfter = read(after).shards.ns;
const status = read(statusFile);
const followers = status.ha?.followers ?? [];
const standby = followers[0] ?? null;
console.log(JSON.stringify({
  n: t.n, window: t.window,
  zookeeperCreatesPerSec: zk.ops_per_s, zookeeperP99Ms: zk.p99_ms, zookeeperErrors: zk.errors,
  tandemReplicatedCreatesPerSec: t.opsPerSec, tandemP50Ms: t.p50Ms, tandemP99Ms: t.p99Ms, tandemErrors: t.errors,
  ratio: +(t.opsPerSec / zk.ops_per_s).toFixed(2),
  standby: standby && { member: standby.member, inSync: standby.inSync, connected: standby.connected, lagTxids: standby.lagTxids, lagMsP50: standby.lagMsP50, lagMsP99: standby.lagMsP99 },
  // The run is a replicated one only if nothing changed: the same active and epoch, both members in sync throughout.
  active: regAfter.active.current?.member, epochBefore: regBefore.epoch, epochAfter: regAfter.epoch, isrAfter: regAfter.isr?.members ?? null,
  followers: followers.length, isrRemovalsDuringRun: Number(process.argv[6]),
  // CPU time per create of each process of the cluster and of the benchmark client, in µs.
  cpuUsPerOp: t.cpu?.usPerOp ?? null, machineBusyPercent: t.cpu?.machineBusyPercent ?? null,
}));
' "$work/zk.json" "$work/create.json" "$work/registry-before.json" "$work/registry-after.json" "$work/active-status.json" $((removed_after - removed_before))
