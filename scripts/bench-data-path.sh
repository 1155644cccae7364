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
# shellcheck source=lib/up-cluster.sh
. "$root/scripts/lib/up-cluster.sh"
# start_cluster DIR FMS_SHARDS: the whole cluster with that many FMS shards (no adapters: the benches use ZooKeeper).
start_cluster() {
  start_up "$1" --fms-shards "$2" --adapters 0
  sleep 5 # every datanode's first heartbeat and report reach every FMS member
}

node "$root/scripts/setup.mjs" >&2
start_cluster "$work/two-shards" 2
"${cli[@]}" bench data --cluster "$work/two-shards" --size-mb "$SIZE_MB" --files "$FILES"
"${cli[@]}" bench fms --cluster "$work/two-shards" --n "$FMS_N" --window "$WINDOW"
stop_up
start_cluster "$work/one-shard" 1
"${cli[@]}" bench fms --cluster "$work/one-shard" --n "$FMS_N" --window "$WINDOW"
