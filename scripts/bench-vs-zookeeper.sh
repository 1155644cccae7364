#!/usr/bin/env bash
# Tandem's metadata benchmark next to ZooKeeper 3.8 used as a metadata store, same
# workload, same window, measured in one run on this machine (issue 2's peer figures).
#   scripts/bench-vs-zookeeper.sh [N] [WINDOW]
# Installs Debian's zookeeper package if missing (via ../shared/peers/peers.sh). Uses a
# copy of ../shared/peers in a temp dir so shared/ is never written to. Prints a JSON
# summary with the ratios and leaves everything it started stopped.
set -euo pipefail
N=${1:-50000}
WINDOW=${2:-256}
# Lists per side (bench-peers.mjs --list-n; its default, 2000, is ~0.1 s of Tandem's lists:
# too short a phase to measure on a shared, noisy machine). Both sides run the same number.
LIST_N=${LIST_N:-10000}
root=$(cd "$(dirname "$0")/.." && pwd)
peers_src=$(cd "$root/../shared/peers" && pwd)
work=$(mktemp -d /tmp/tandem-vs-zk.XXXXXX)
export BASE="$work/peers"
master_pid=
cleanup() {
  [ -n "$master_pid" ] && kill "$master_pid" 2>/dev/null && wait "$master_pid" 2>/dev/null || true
  [ -d "$work/peers-code" ] && "$work/peers-code/peers.sh" stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

node "$root/scripts/setup.mjs" >&2
cp -r "$peers_src" "$work/peers-code"
(cd "$work/peers-code" && npm install --no-audit --no-fund --silent >&2)
"$work/peers-code/peers.sh" install zk >&2
"$work/peers-code/peers.sh" start zk >&2
node "$work/peers-code/bench-peers.mjs" --peers zk --n "$N" --window "$WINDOW" --list-n "$LIST_N" --piddir "$BASE" --json "$work/zk.json" >&2
"$work/peers-code/peers.sh" stop >&2

tandem() { node "$root/dist/src/cli/main.js" "$@"; }
mkdir -p "$work/master"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
node "$root/dist/src/cli/main.js" master --shard ns --dir "$work/master" --rpc "127.0.0.1:$port" > "$work/master.log" 2>&1 &
master_pid=$!
for _ in $(seq 1 100); do grep -q '"msg":"serving' "$work/master.log" && break; sleep 0.1; done
grep -q '"msg":"serving' "$work/master.log" || { echo "master did not start; log:" >&2; cat "$work/master.log" >&2; exit 1; }
m=127.0.0.1:$port
tandem bench meta --master "$m" --op create --n "$N" --window "$WINDOW" --json > "$work/create.json"
tandem bench meta --master "$m" --op stat --n "$N" --window "$WINDOW" --files "$N" --json > "$work/stat.json"
tandem bench meta --master "$m" --op list --n "$LIST_N" --window "$WINDOW" --files "$N" --json > "$work/list.json"

node -e '
const fs = require("fs"); const [zkFile, c, s, l] = process.argv.slice(1);
const zk = Object.values(JSON.parse(fs.readFileSync(zkFile, "utf8")).peers)[0];
const t = { create: JSON.parse(fs.readFileSync(c, "utf8")), stat: JSON.parse(fs.readFileSync(s, "utf8")), list: JSON.parse(fs.readFileSync(l, "utf8")) };
const out = {};
for (const op of ["create", "stat", "list"]) out[op] = { tandemOpsPerSec: t[op].opsPerSec, tandemErrors: t[op].errors, tandemP99Ms: t[op].p99Ms,
  zookeeperOpsPerSec: zk[op].ops_per_s, zookeeperErrors: zk[op].errors, ratio: +(t[op].opsPerSec / zk[op].ops_per_s).toFixed(2) };
console.log(JSON.stringify(out));
' "$work/zk.json" "$work/create.json" "$work/stat.json" "$work/list.json"
