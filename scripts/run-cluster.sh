#!/usr/bin/env bash
# Starts a local three-node Chorus cluster in the foreground on 127.0.0.1 and stops all
# three on Ctrl-C. Data lives in a temporary directory (kept when CHORUS_DATA is set).
# Ports: RESP 7001-7003, cluster (UDP) 17001-17003, admin HTTP 8001-8003.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
server="$root/build/chorus-server"

if [ ! -x "$server" ]; then
  echo "run-cluster: $server is missing; build it with 'make build' (or use 'make run')." >&2
  exit 1
fi

data=${CHORUS_DATA:-$(mktemp -d -t chorus-XXXXXX)}
peers="1@127.0.0.1:17001,2@127.0.0.1:17002,3@127.0.0.1:17003"
pids=()
stopping=
stop() {
  trap - INT TERM EXIT
  stopping=1
  echo "stopping cluster..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${CHORUS_DATA:-}" ] || rm -rf "$data"
}
trap stop INT TERM EXIT
for i in 1 2 3; do
  mkdir -p "$data/n$i"
  "$server" --id "$i" --dir "$data/n$i" --port "700$i" --cluster-port "1700$i" \
    --admin-port "800$i" --peers "$peers" >"$data/n$i.log" 2>&1 &
  pids+=($!)
done
echo "Chorus cluster of three nodes is starting (logs in $data/n*.log)."
echo "Connect with:  redis-cli -p 7001   (or 7002, 7003)"
echo "Metrics:       http://127.0.0.1:8001/metrics   Status: http://127.0.0.1:8001/status"
echo "Press Ctrl-C to stop all three."
wait -n "${pids[@]}" || true
[ -n "$stopping" ] || echo "a node exited; see $data/n*.log"
