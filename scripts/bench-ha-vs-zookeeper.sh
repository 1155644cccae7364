#!/usr/bin/env bash
# Replicated creates: Tandem with ONE synchronous standby (`tandem up --standbys 1
# --fms-shards 0 --datanodes 0`, the namespace shard alone: every
# create is acknowledged once the active and its in-sync standby both have it on disk) next
# to single-server ZooKeeper 3.8 as a metadata store, same workload and window (issue 3's
# figures).
#   scripts/bench-ha-vs-zookeeper.sh [N] [WINDOW] [ROUNDS]
# Each round measures ZooKeeper (../shared/peers: installs Debian's package if missing; a
# copy in a temp dir, so shared/ is never written to), then Tandem, each fresh; ROUNDS (3)
# rounds back to back, so a slow stretch of this shared machine shows as one odd round, not
# as the figure. Prints one JSON line: the median ratio and every round's, both create
# rates of the last round, and the standby's acknowledgement lag p50/p99 (ms from the
# append on the active to the standby's durable acknowledgement, over its last acknowledged
# batches: an upper bound on its apply lag), read from the active's status after the run,
# and the CPU time per create of every process (cpuUsPerOp: the machine has 2 cores, so
# their sum bounds the rate). Everything runs on free loopback ports; everything it started is stopped at the end.
set -euo pipefail
N=${1:-50000}
WINDOW=${2:-256}
ROUNDS=${3:-3}   # ZooKeeper then Tandem, this many times; the figure is the median ratio
LIST_N=${LIST_N:-200}   # the peers' bench also lists; only its creates are compared here
root=$(cd "$(dirname "$0")/.." && pwd)
peers_src=$(cd "$root/../shared/peers" && pwd)
work=$(mktemp -d /tmp/tandem-ha-vs-zk.XXXXXX)
# shellcheck source=lib/up-cluster.sh
. "$root/scripts/lib/up-cluster.sh"
stop_peers() { [ ! -d "$work/peers-code" ] || "$work/peers-code/peers.sh" stop >/dev/null 2>&1; }
on_exit=stop_peers

node "$root/scripts/setup.mjs" >&2
tandem() { node "$root/dist/src/cli/main.js" "$@"; }

# ---- the peers' code, once (a copy: shared/ is never written to)
cp -r "$peers_src" "$work/peers-code"
(cd "$work/peers-code" && npm install --no-audit --no-fund --silent >&2)
"$work/peers-code/peers.sh" install zk >&2
isr_size() { tandem admin status --cluster "$1" --registry --json 2>/dev/null | node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).shards.ns.isr.members.length)}catch{console.log(0)}})'; }

for round in $(seq 1 "$ROUNDS"); do
  r="$work/round$round"
  mkdir -p "$r"
  # ---- ZooKeeper, single server (fsync on), its own port and data
  export BASE="$r/peers"
  ZK_PORT=$(free_ports 1)
  export ZK_PORT
  "$work/peers-code/peers.sh" start zk >&2
  node "$work/peers-code/bench-peers.mjs" --peers zk --zk "127.0.0.1:$ZK_PORT" --n "$N" --window "$WINDOW" --list-n "$LIST_N" --piddir "$BASE" --json "$r/zk.json" >&2
  "$work/peers-code/peers.sh" stop >&2

  # ---- Tandem: an active and one synchronous standby
  start_up "$r/cluster" --standbys 1 --fms-shards 0 --datanodes 0 --adapters 0
  # Writes are replicated only once the standby is in the in-sync set (before that, the active commits alone).
  for _ in $(seq 1 120); do [ "$(isr_size "$r/cluster")" = 2 ] && break; sleep 0.5; done
  [ "$(isr_size "$r/cluster")" = 2 ] || { echo "the standby did not join the in-sync set within 60 s; tandem up said:" >&2; cat "$r/cluster.out" >&2; exit 1; }
  tandem admin status --cluster "$r/cluster" --registry --json > "$r/registry-before.json"
  removed_before=$(cat "$r"/cluster/ns-m*.log | grep -c 'from the in-sync set: it lags' || true)
  tandem bench meta --cluster "$r/cluster" --op create --n "$N" --window "$WINDOW" --json > "$r/create.json"
  removed_after=$(cat "$r"/cluster/ns-m*.log | grep -c 'from the in-sync set: it lags' || true)
  echo $((removed_after - removed_before)) > "$r/isr-removals"
  tandem admin status --cluster "$r/cluster" --registry --json > "$r/registry-after.json"
  active=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).shards.ns.active.current.rpc)' "$r/registry-after.json")
  tandem admin status --master "$active" --json > "$r/active-status.json"
  stop_up
  up_pid=
  echo "round $round of $ROUNDS: $(node -e 'const f=require("fs"),[z,t]=process.argv.slice(1).map((p)=>JSON.parse(f.readFileSync(p,"utf8"))); const zk=Object.values(z.peers)[0].create.ops_per_s; console.log(`ZooKeeper ${zk}/s, Tandem ${t.opsPerSec}/s, ratio ${(t.opsPerSec/zk).toFixed(2)}`)' "$r/zk.json" "$r/create.json")" >&2
done

node -e '
const fs = require("fs"); const [work, rounds, n, windowSize] = process.argv.slice(1);
const read = (f) => JSON.parse(fs.readFileSync(f, "utf8"));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const runs = Array.from({ length: Number(rounds) }, (_, i) => {
  const r = `${work}/round${i + 1}`;
  const zk = Object.values(read(`${r}/zk.json`).peers)[0].create;
  const t = read(`${r}/create.json`);
  const regBefore = read(`${r}/registry-before.json`).shards.ns, regAfter = read(`${r}/registry-after.json`).shards.ns;
  const followers = read(`${r}/active-status.json`).ha?.followers ?? [];
  const standby = followers[0] ?? null;
  return {
    zookeeperCreatesPerSec: zk.ops_per_s, zookeeperP99Ms: zk.p99_ms, zookeeperErrors: zk.errors,
    tandemReplicatedCreatesPerSec: t.opsPerSec, tandemP50Ms: t.p50Ms, tandemP99Ms: t.p99Ms, tandemErrors: t.errors,
    ratio: +(t.opsPerSec / zk.ops_per_s).toFixed(2),
    standby: standby && { member: standby.member, inSync: standby.inSync, connected: standby.connected, lagTxids: standby.lagTxids, lagMsP50: standby.lagMsP50, lagMsP99: standby.lagMsP99 },
    // The run is a replicated one only if nothing changed: the same active and epoch, both members in sync throughout.
    active: regAfter.active.current?.member, epochBefore: regBefore.epoch, epochAfter: regAfter.epoch, isrAfter: regAfter.isr?.members ?? null,
    followers: followers.length, isrRemovalsDuringRun: Number(fs.readFileSync(`${r}/isr-removals`, "utf8")),
    // CPU time per create of each process of the cluster and of the benchmark client, in µs.
    cpuUsPerOp: t.cpu?.usPerOp ?? null, machineBusyPercent: t.cpu?.machineBusyPercent ?? null,
  };
});
const last = runs.at(-1);
console.log(JSON.stringify({
  n: Number(n), window: Number(windowSize), rounds: runs.length,
  // Each round measures ZooKeeper, then Tandem, back to back: the ratio of a round is the figure;
  // the median over rounds is what a shared, noisy machine can say with some confidence.
  ratioMedian: +median(runs.map((x) => x.ratio)).toFixed(2), ratios: runs.map((x) => x.ratio),
  zookeeperCreatesPerSec: last.zookeeperCreatesPerSec, tandemReplicatedCreatesPerSec: last.tandemReplicatedCreatesPerSec, ratio: last.ratio,
  standby: last.standby, standbyLagMsP99Max: Math.max(...runs.map((x) => x.standby?.lagMsP99 ?? Infinity)),
  isrRemovalsDuringRun: runs.reduce((a, x) => a + x.isrRemovalsDuringRun, 0),
  perRound: runs,
}));
' "$work" "$ROUNDS" "$N" "$WINDOW"
