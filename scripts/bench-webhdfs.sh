#!/usr/bin/env bash
# Issue 5's figures, one run on a whole local cluster (`tandem up`: the namespace shard of
# three, one FMS shard of two, three datanodes, two adapters, on free loopback ports):
#   1. WebHDFS GETFILESTATUS calls/s through an adapter over C concurrent keep-alive
#      connections (`tandem bench webhdfs`), next to the same stat through the SDK straight to
#      the active with the same window (`tandem bench meta --op stat`), measured right after;
#   2. what WebHDFS clients see of namespace failovers: `tandem bench chaos` kills the
#      namespace active every K s for S s while W WebHDFS clients make directories through the
#      adapters (their longest stretch without a success per kill), next to the SDK's gap.
#   scripts/bench-webhdfs.sh [CONNECTIONS] [SECONDS] [CHAOS_SECONDS] [KILL_EVERY] [WEBHDFS_WORKERS]
# Prints one JSON line. Everything it started is stopped at the end (KEEP=1 keeps the directory).
set -euo pipefail
CONNECTIONS=${1:-64}
SECONDS_RUN=${2:-10}
CHAOS_SECONDS=${3:-30}
KILL_EVERY=${4:-6}
WEB_WORKERS=${5:-8}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/tandem-webhdfs.XXXXXX)
# shellcheck source=lib/up-cluster.sh
. "$root/scripts/lib/up-cluster.sh"
node "$root/scripts/setup.mjs" >&2
tandem() { node "$root/dist/src/cli/main.js" "$@"; }

start_up "$work/cluster" --standbys 2 --fms-shards 1 --fms-standbys 1 --datanodes 3 --adapters 2
adapter_http=$(node -p 'require(process.argv[1]).adapters[0].http' "$work/cluster/cluster.json")
adapter_rpc=$(node -p 'require(process.argv[1]).adapters.map((a) => a.rpc).join(",")' "$work/cluster/cluster.json")

# 1. GETFILESTATUS through the adapter, then the SDK's stat straight to the active.
tandem fs --adapter "$adapter_rpc" mkdir /bench >&2
echo "a file to stat" > "$work/f.txt"
tandem fs --adapter "$adapter_rpc" put "$work/f.txt" /bench/f >&2
tandem bench webhdfs --url "http://$adapter_http" --connections "$CONNECTIONS" --seconds "$SECONDS_RUN" --path /bench/f --user "$(whoami)" --json > "$work/webhdfs.json"
tandem bench meta --adapter "$adapter_rpc" --op stat --n 50000 --window "$CONNECTIONS" --json > "$work/stat.json"

# 2. Namespace kills under WebHDFS and SDK load.
tandem bench chaos --cluster "$work/cluster" --seconds "$CHAOS_SECONDS" --kill-every "$KILL_EVERY" --window 16 --webhdfs-workers "$WEB_WORKERS" --json > "$work/chaos.json"

node -e '
const fs = require("fs"); const [w, s, c] = process.argv.slice(1).map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
console.log(JSON.stringify({
  webhdfsGetFileStatusPerSec: w.callsPerSec ?? w.opsPerSec, webhdfsP50Ms: w.p50Ms, webhdfsP99Ms: w.p99Ms, webhdfsErrors: w.errors, connections: w.connections,
  sdkStatPerSec: s.opsPerSec, sdkStatWindow: s.window,
  chaos: { kills: c.kills, failovers: c.failovers, lost: c.lost, duplicated: c.duplicated, sdkUnavailableMsP50: c.unavailableMsP50, sdkUnavailableMsMax: c.unavailableMsMax, webhdfs: c.webhdfs },
}));
' "$work/webhdfs.json" "$work/stat.json" "$work/chaos.json"
