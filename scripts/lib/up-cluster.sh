# Sourced by the benchmark scripts: free loopback ports, `tandem up` in the background, and
# stopping it with everything it started. The caller sets $root (the repository) and
# $work (the run's directory) first. On exit (or Ctrl-C) the cluster is stopped, the
# caller's $on_exit command runs if it set one, and $work is removed (KEEP=1 keeps it).
up_pid=
up_dir=
on_exit=
cleanup() {
  stop_up
  if [ -n "$on_exit" ]; then $on_exit || true; fi
  if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_ports N: N consecutive ports free on loopback; prints the first.
free_ports() {
  node -e '
    const net = require("net"); const count = Number(process.argv[1]);
    const bindable = (p) => new Promise((r) => { const s = net.createServer(); s.once("error", () => r(false)); s.listen(p, "127.0.0.1", () => s.close(() => r(true))); });
    (async () => {
      for (let a = 0; a < 100; a++) {
        const base = 20000 + Math.floor(Math.random() * 40000);
        if ((await Promise.all(Array.from({ length: count }, (_, i) => bindable(base + i)))).every(Boolean)) return console.log(base);
      }
      process.exit(1);
    })();' "$1"
}

# start_up DIR ARGS…: `tandem up --dir DIR --port P --zk-port P+3 ARGS…` in the background, on a
# base port P with P…P+89 free (up takes P+0…2 for the namespace, +10…, +20… for FMS shards,
# +50…/+60… for datanodes, +70…/+80… for adapters; at most 2 standbys of the namespace).
# Its output goes to DIR.out; returns once it is up.
start_up() {
  local dir=$1 base
  shift
  base=$(free_ports 90)
  echo "== tandem up --dir $dir --port $base --zk-port $((base + 3)) $*" >&2
  node "$root/dist/src/cli/main.js" up --dir "$dir" --port "$base" --zk-port $((base + 3)) "$@" > "$dir.out" 2>&1 < /dev/null &
  up_pid=$!
  up_dir=$dir
  for _ in $(seq 1 900); do
    grep -q 'Tandem is up' "$dir.out" 2>/dev/null && return 0
    kill -0 "$up_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "tandem up did not come up; its output:" >&2
  cat "$dir.out" >&2
  exit 1
}

# stop_up: SIGTERM makes `tandem up` stop what it started (SIGKILL after 30 s); then whatever
# is still running of the PIDs in its cluster.json, only those whose command line names the
# cluster's directory.
stop_up() {
  if [ -n "$up_pid" ] && kill -0 "$up_pid" 2>/dev/null; then
    kill -TERM "$up_pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$up_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$up_pid" 2>/dev/null && kill -KILL "$up_pid" 2>/dev/null || true
  fi
  if [ -n "$up_dir" ] && [ -f "$up_dir/cluster.json" ]; then
    node -e '
      const fs = require("fs"); const dir = process.argv[1];
      const c = JSON.parse(fs.readFileSync(dir + "/cluster.json", "utf8"));
      const pids = [c.zk.pid, ...Object.values(c.shards).flatMap((s) => s.members.flatMap((m) => [m.pid, m.monitorPid])),
        ...(c.datanodes ?? []).map((d) => d.pid), ...(c.adapters ?? []).map((a) => a.pid)];
      for (const pid of pids) {
        if (!pid) continue;
        try { if (fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir)) process.kill(pid, "SIGKILL"); } catch {}
      }' "$up_dir" 2>/dev/null || true
  fi
  up_pid=
  up_dir=
}
