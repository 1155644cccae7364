#!/usr/bin/env bash
# The data path's figures (issue 4), in one run: `tandem up` with two FMS shards, then
#   tandem bench data  (write MB/s at replication 1 and 3, read MB/s, next to the raw disk's
#                       sequential write and read measured in the same run on the same disk)
#   tandem bench fms   (addBlock + complete calls/s over both shards)
# then the same `bench fms` against `tandem up --fms-shards 1`.
#   scripts/bench-data-path.sh [SIZE_MB] [FILES] [FMS_N] [WINDOW]
# The clusters live under $BENCH_DIR (default /tmp): put it on the disk you mean to measure.
# Every figure is printed with the command that made it and the machine's load average;
# the per-phase CPU lines say which process took the CPU. Everything it started is stopped
# at the end (SIGTERM to `tandem up`, which stops its ZooKeeper, masters and datanodes).
set -euo pipefail
SIZE_MB=${1:-1024}
FILES=${2:-2}
FMS_N=${3:-50000}
WINDOW=${4:-256}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${BENCH_DIR:-/tmp}/tandem-data-path.XXXXXX")
cli=(node "$root/dist/src/cli/main.js")
up_pid=
stop_cluster() {
  if [ -n "$up_pid" ] && kill -0 "$up_pid" 2>/dev/null; then
    kill -TERM "$up_pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$up_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$up_pid" 2>/dev/null && kill -KILL "$up_pid" 2>/dev/null || true
  fi
  up_pid=
}
cleanup() {
  stop_cluster
  if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A base port whose next 70 ports are free on loopback (up takes base…base+62), and a ZooKeeper port.
free_base() {
  node -e '
    const net = require("net");
    const bindable = (p) => new Promise((r) => { const s = net.createServer(); s.once("error", () => r(false)); s.listen(p, "127.0.0.1", () => s.close(() => r(true))); });
    (async () => {
      for (let a = 0; a < 100; a++) {
        const base = 20000 + Math.floor(Math.random() * 40000);
        if ((await Promise.all(Array.from({ length: 72 }, (_, i) => bindable(base + i)))).every(Boolean)) return console.log(base);
      }
      process.exit(1);
    })();'
}

# start_cluster DIR FMS_SHARDS: `tandem up` in the background; returns once it is up.
start_cluster() {
  local dir=$1 shards=$2 base
  base=$(free_base)
  echo "== tandem up --dir $dir --port $base --zk-port $((base + 70)) --fms-shards $shards" >&2
  "${cli[@]}" up --dir "$dir" --port "$base" --zk-port "$((base + 70))" --fms-shards "$shards" >"$dir.out" 2>&1 &
  up_pid=$!
  for _ in $(seq 1 120); do
    grep -q 'Tandem is up' "$dir.out" 2>/dev/null && break
    kill -0 "$up_pid" 2>/dev/null || { cat "$dir.out" >&2; exit 1; }
    sleep 1
  done
  grep -q 'Tandem is up' "$dir.out" || { echo "tandem up did not come up; see $dir.out" >&2; exit 1; }
  sleep 5 # every datanode's first heartbeat and report reach every FMS member
}

node "$root/scripts/setup.mjs" >&2
start_cluster "$work/two-shards" 2
"${cli[@]}" bench data --cluster "$work/two-shards" --size-mb "$SIZE_MB" --files "$FILES"
"${cli[@]}" bench fms --cluster "$work/two-shards" --n "$FMS_N" --window "$WINDOW"
stop_cluster
start_cluster "$work/one-shard" 1
"${cli[@]}" bench fms --cluster "$work/one-shard" --n "$FMS_N" --window "$WINDOW"
