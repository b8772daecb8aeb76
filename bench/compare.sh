#!/usr/bin/env bash
# bench/compare.sh: measures Chorus side by side with Redis and etcd on this machine and
# writes docs/benchmarks.md, docs/benchmarks.tsv and docs/benchmarks.png.
#
# What runs, all on 127.0.0.1, each in its own subdirectory of one mktemp -d directory,
# on ports free at start, in the background under `timeout` and stopped by PID on exit:
#   chorus          three chorus-server nodes, fsync always (fdatasync before every ack);
#                   load goes to the leader, and one row goes through a follower;
#   redis-always    one redis-server, appendonly yes, appendfsync always;
#   redis-everysec  one redis-server, appendonly yes, appendfsync everysec;
#   etcd            three etcd members (Debian's etcd-server); load goes to the leader.
# The load, per repetition, a group at a time, every system in turn (the order rotates
# each repetition, so no system always runs first or right after another's disk burst):
#   redis-benchmark -t set,get -d 100 -r 100000 at 1 client, 50 clients, 50 clients -P 16;
#   bench/etcd-load PUT and linearizable GET of 100-byte values on 100,000 random keys,
#   at 1 and 50 clients (the same work; etcd has no pipelining analogue);
#   chorus-bench 90% GET / 10% SET, zipfian keys (theta 0.99), 50 connections.
# bench/compare_report.py turns the raw outputs into medians, ratios and the chart.
#
# A full run takes about 15 minutes. Environment: COMPARE_QUICK=1 (a smoke run of about
# a minute), COMPARE_REPS (3), COMPARE_KEEP=1 (keep the temporary directory; it is also
# kept when the script fails), COMPARE_OUT (docs/). Needs root or sudo only when a Debian
# package is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out_dir=${COMPARE_OUT:-$root/docs}
reps=${COMPARE_REPS:-3}
quick=${COMPARE_QUICK:-0}
if [ "$quick" = 1 ]; then
  requests_1c=300 requests_50c=5000 requests_pipelined=20000 mixed_s=2
else
  requests_1c=5000 requests_50c=100000 requests_pipelined=400000 mixed_s=15
fi
run_timeout_s=300             # one load run; a stalled server fails its run, not the script
server_lifetime_s=7200        # no server outlives a forgotten script

log() { printf '[compare %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---- Debian packages ------------------------------------------------------------------
# Installed only when missing; a package the archive does not have leaves its system out
# of the run (said in the report) instead of failing everything.
packages=(redis-server redis-tools etcd-server etcd-client golang-go golang-etcd-server-dev
  gnuplot-nox curl)
install_missing_packages() {
  local missing=() p
  for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  local available=()
  for p in "${missing[@]}"; do
    if apt-cache show "$p" >/dev/null 2>&1; then
      available+=("$p")
    else
      log "Debian package $p is not in the archive; what needs it is left out"
    fi
  done
  [ ${#available[@]} -eq 0 ] && return 0
  log "installing ${available[*]}"
  $sudo apt-get install -y -qq --no-install-recommends "${available[@]}" >/dev/null
}

# ---- processes and ports --------------------------------------------------------------
work=$(mktemp -d -t chorus-compare-XXXXXX)
server_pids=()
stop_servers() {
  local pid
  for pid in "${server_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${server_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  server_pids=()
}
on_exit() {
  local status=$?
  trap - INT TERM EXIT
  stop_servers
  if [ "${COMPARE_KEEP:-0}" = 1 ] || [ "$status" -ne 0 ]; then
    log "kept $work for inspection"
  else
    rm -rf "$work"
  fi
}
trap on_exit INT TERM EXIT

# The arguments as one line a shell would split back into them (for this script's
# arguments: quotes only around empty words and words with unusual characters).
shell_words() {
  local word line=""
  for word in "$@"; do
    if [[ -z $word || $word =~ [^A-Za-z0-9_./:@,=+-] ]]; then word="'$word'"; fi
    line="$line${line:+ }$word"
  done
  echo "$line"
}

# Starts "$@" in the background under timeout, output to $work/NAME.log; the command
# goes to $work/servers.txt for the report.
start_server() {
  local name=$1
  shift
  shell_words "$@" >>"$work/servers.txt"
  timeout --kill-after=10 "$server_lifetime_s" "$@" >"$work/$name.log" 2>&1 &
  server_pids+=($!)
}

ports_handed_out=" "
# A TCP and UDP port nothing listens on and this run has not handed out yet.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 30000))
    case $ports_handed_out in *" $port "*) continue ;; esac
    if ! ss -Htuan "( sport = :$port )" | grep -q .; then
      ports_handed_out="$ports_handed_out$port "
      echo "$port"
      return
    fi
  done
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds
  local seconds=$1 what=$2 i
  shift 2
  for ((i = 0; i < seconds * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "$what not ready after ${seconds}s (logs in $work)"
}

resp_ping() { [ "$(redis-cli -p "$1" PING 2>/dev/null)" = PONG ]; }

# ---- the systems ----------------------------------------------------------------------
chorus_ports=()
chorus_admin_ports=()
start_chorus() {
  local i peers="" cluster_ports=()
  for i in 1 2 3; do
    chorus_ports+=("$(free_port)")
    chorus_admin_ports+=("$(free_port)")
    cluster_ports+=("$(free_port)")
    peers="$peers${peers:+,}$i@127.0.0.1:${cluster_ports[$((i - 1))]}"
  done
  for i in 1 2 3; do
    mkdir -p "$work/chorus/n$i"
    start_server "chorus-n$i" "$root/build/chorus-server" --id "$i" --dir "$work/chorus/n$i" \
      --port "${chorus_ports[$((i - 1))]}" --cluster-port "${cluster_ports[$((i - 1))]}" \
      --admin-port "${chorus_admin_ports[$((i - 1))]}" --peers "$peers" --fsync always
  done
  for i in 0 1 2; do wait_for 10 "chorus node $((i + 1))" resp_ping "${chorus_ports[$i]}"; done
}

# Prints the RESP port of the node all three name as leader; fails if they disagree.
chorus_leader_port() {
  local port id ids=""
  for port in "${chorus_ports[@]}"; do
    id=$(redis-cli -p "$port" INFO replication 2>/dev/null | tr -d '\r' |
      sed -n 's/^chorus_leader_id://p')
    ids="$ids $id"
  done
  read -r a b c <<<"$ids"
  [ -n "${a:-}" ] && [ "$a" != 0 ] && [ "$a" = "${b:-}" ] && [ "$a" = "${c:-}" ] || return 1
  echo "${chorus_ports[$((a - 1))]}"
}
chorus_leader_ready() {
  local port
  port=$(chorus_leader_port) && [ "$(redis-cli -p "$port" SET compare:probe 1)" = OK ]
}
chorus_leader=""
chorus_follower=""
# Finds the leader again before each Chorus run, and says so when it moved.
refresh_chorus_leader() {
  wait_for 15 "a Chorus leader" chorus_leader_ready
  local port
  port=$(chorus_leader_port)
  if [ -n "$chorus_leader" ] && [ "$port" != "$chorus_leader" ]; then
    log "Chorus leader moved from port $chorus_leader to $port"
    echo "leader_change=$(date -u +%H:%M:%S) $chorus_leader -> $port" >>"$work/meta"
  fi
  chorus_leader=$port
  for port in "${chorus_ports[@]}"; do
    if [ "$port" != "$chorus_leader" ]; then chorus_follower=$port; fi
  done
}

declare -A redis_port
start_redis() {  # start_redis NAME FSYNC_POLICY
  local name=$1 policy=$2
  redis_port[$name]=$(free_port)
  mkdir -p "$work/$name"
  start_server "$name" redis-server --bind 127.0.0.1 --port "${redis_port[$name]}" \
    --dir "$work/$name" --appendonly yes --appendfsync "$policy" --save '' \
    --protected-mode no --daemonize no
  wait_for 10 "$name" resp_ping "${redis_port[$name]}"
}

etcd_endpoints=""
start_etcd() {
  local i cluster="" client_ports=() peer_ports=()
  for i in 1 2 3; do
    client_ports+=("$(free_port)")
    peer_ports+=("$(free_port)")
    cluster="$cluster${cluster:+,}e$i=http://127.0.0.1:${peer_ports[$((i - 1))]}"
    etcd_endpoints="$etcd_endpoints${etcd_endpoints:+,}http://127.0.0.1:${client_ports[$((i - 1))]}"
  done
  for i in 1 2 3; do
    local client="http://127.0.0.1:${client_ports[$((i - 1))]}"
    local peer="http://127.0.0.1:${peer_ports[$((i - 1))]}"
    start_server "etcd-e$i" etcd --name "e$i" --data-dir "$work/etcd/e$i" \
      --listen-client-urls "$client" --advertise-client-urls "$client" \
      --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
      --initial-cluster "$cluster" --initial-cluster-state new \
      --initial-cluster-token chorus-compare --logger zap --log-level warn
  done
  wait_for 20 "etcd" etcdctl --endpoints "$etcd_endpoints" endpoint health
}
# Prints the client URL of the etcd leader.
etcd_leader() {
  etcdctl --endpoints "$etcd_endpoints" endpoint status -w simple |
    awk -F', ' '$5 == "true" { print $1 }'
}

# ---- one run --------------------------------------------------------------------------
# Each run leaves its raw output in $work/runs/ and one line in $work/index.tsv:
#   rep, system, tool, clients, pipeline, status, raw file, command.
# bench/compare_report.py parses the raw files; a failed run is kept with its status.
mkdir -p "$work/runs"
: >"$work/index.tsv"
run_load() {  # run_load REP SYSTEM TOOL CLIENTS PIPELINE COMMAND...
  local rep=$1 system=$2 tool=$3 clients=$4 pipeline=$5
  shift 5
  local raw="$work/runs/$rep-$system-$tool-c$clients-P$pipeline"
  local status=ok
  if ! timeout "$run_timeout_s" "$@" >"$raw.out" 2>"$raw.err"; then status=failed; fi
  if [ "$tool" = redis-benchmark ] && grep -qi "error" "$raw.err" "$raw.out"; then
    status=failed
  fi
  if [ "$status" = failed ]; then
    log "FAILED: $* (stderr: $(head -c 300 "$raw.err" | tr '\n' ' '))"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$system" "$tool" "$clients" "$pipeline" \
    "$status" "$raw.out" "$*" >>"$work/index.tsv"
}

redis_benchmark() {  # redis_benchmark REP SYSTEM PORT CLIENTS PIPELINE REQUESTS
  run_load "$1" "$2" redis-benchmark "$4" "$5" redis-benchmark -h 127.0.0.1 -p "$3" \
    -t set,get -d 100 -r 100000 -n "$6" -c "$4" -P "$5" --csv
}
etcd_load() {  # etcd_load REP CLIENTS REQUESTS
  local leader op
  leader=$(etcd_leader)
  for op in put get; do
    run_load "$1" etcd "etcd-load-$op" "$2" 1 "$root/build/etcd-load" --endpoints "$leader" \
      --op "$op" --clients "$2" -n "$3" --keys 100000 --value-size 100
  done
}
mixed_load() {  # mixed_load REP SYSTEM PORT
  run_load "$1" "$2" chorus-bench 50 1 "$root/build/chorus-bench" -p "$3" -c 50 -r 0.9 \
    -z 0.99 -k 100000 -d 100 -t "$mixed_s"
}

# One group (1c, 50c, pipelined, mixed) on one system.
run_group() {  # run_group REP GROUP SYSTEM
  local rep=$1 group=$2 system=$3 port=""
  case $system in
    chorus) refresh_chorus_leader; port=$chorus_leader ;;
    redis-*) port=${redis_port[$system]} ;;
  esac
  case $group/$system in
    1c/etcd) etcd_load "$rep" 1 "$requests_1c" ;;
    50c/etcd) etcd_load "$rep" 50 "$requests_50c" ;;
    pipelined/etcd | mixed/etcd) ;;
    1c/*) redis_benchmark "$rep" "$system" "$port" 1 1 "$requests_1c" ;;
    50c/*) redis_benchmark "$rep" "$system" "$port" 50 1 "$requests_50c" ;;
    pipelined/*) redis_benchmark "$rep" "$system" "$port" 50 16 "$requests_pipelined" ;;
    mixed/*) mixed_load "$rep" "$system" "$port" ;;
  esac
  if [ "$group/$system" = 50c/chorus ]; then
    refresh_chorus_leader
    redis_benchmark "$rep" chorus-follower "$chorus_follower" 50 1 "$requests_50c"
  fi
}

# ---- the run --------------------------------------------------------------------------
started_s=$(date +%s)
log "work directory $work"
install_missing_packages
command -v redis-benchmark >/dev/null || die "redis-benchmark (redis-tools) is required"
log "building Chorus (make build)"
make -C "$root" build >"$work/build.log" 2>&1 || die "make build failed; see $work/build.log"

systems=(chorus)
missing_systems=()
if command -v redis-server >/dev/null; then systems+=(redis-always redis-everysec)
else missing_systems+=("redis: redis-server not installed"); fi
if command -v etcd >/dev/null && command -v etcdctl >/dev/null && command -v go >/dev/null &&
  [ -d /usr/share/gocode/src/go.etcd.io/etcd/clientv3 ]; then
  log "building bench/etcd-load against Debian's clientv3 sources"
  if (cd "$root/bench/etcd-load" && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS='' \
    go build -o "$root/build/etcd-load" .) >"$work/etcd-load-build.log" 2>&1; then
    systems+=(etcd)
  else
    missing_systems+=("etcd: bench/etcd-load did not build ($(tail -1 "$work/etcd-load-build.log"))")
  fi
else
  missing_systems+=("etcd: etcd-server, etcd-client, golang-go or golang-etcd-server-dev missing")
fi

{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "quick=$quick"
  echo "reps=$reps"
  echo "requests_1c=$requests_1c"
  echo "requests_50c=$requests_50c"
  echo "requests_pipelined=$requests_pipelined"
  echo "mixed_s=$mixed_s"
  echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "cores=$(nproc)"
  echo "kernel=$(uname -sr)"
  echo "memory=$(free -g | awk '/^Mem:/ { print $2 " GiB" }')"
  echo "filesystem=$(df -T "$work" | awk 'NR == 2 { print $2 " on " $1 }')"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "chorus_version=$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- src || echo '+dirty')"
  echo "redis_version=$(redis-server --version 2>/dev/null | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
  echo "redis_benchmark_version=$(redis-benchmark --version | awk '{ print $2 }')"
  echo "etcd_version=$(etcd --version 2>/dev/null | sed -n 's/^etcd Version: //p')"
  echo "go_version=$(go version 2>/dev/null | awk '{ print $3 }')"
  echo "gnuplot_version=$(gnuplot --version 2>/dev/null)"
  for m in "${missing_systems[@]}"; do echo "missing=$m"; done
} >"$work/meta"

log "measuring the disk with log-bench"
mkdir -p "$work/log-bench"
"$root/build/log-bench" -t 2 -d "$work/log-bench" >"$work/log-bench.txt" 2>&1 ||
  log "log-bench failed: $(tail -1 "$work/log-bench.txt")"

log "starting ${systems[*]}"
for system in "${systems[@]}"; do
  case $system in
    chorus) start_chorus ;;
    redis-always) start_redis redis-always always ;;
    redis-everysec) start_redis redis-everysec everysec ;;
    etcd) start_etcd ;;
  esac
done

for ((rep = 1; rep <= reps; rep++)); do
  # Rotate the order each repetition: rep 1 starts with systems[0], rep 2 with [1], ...
  order=("${systems[@]:$(((rep - 1) % ${#systems[@]}))}" "${systems[@]:0:$(((rep - 1) % ${#systems[@]}))}")
  for group in 1c 50c pipelined mixed; do
    for system in "${order[@]}"; do
      log "repetition $rep/$reps: $group on $system"
      run_group "$rep" "$group" "$system"
    done
  done
done

{
  echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "duration_s=$(($(date +%s) - started_s))"
  # What the servers said that was not routine, a few lines each: Chorus above info,
  # Redis warnings (but its start-up advice on overcommit) and slow AOF fsyncs, etcd errors.
  for f in "$work"/chorus-n*.log "$work"/redis-*.log "$work"/etcd-e*.log; do
    [ -f "$f" ] || continue
    case $(basename "$f") in
      chorus-*) pattern='^n[0-9]+ (warn|error)' ;;
      redis-*) pattern=' # .*(WARNING|[Ee]rror|[Ff]ail)|fsync is taking too long' ;;
      etcd-*) pattern='"level":"(error|fatal|panic|dpanic)"' ;;
    esac
    { grep -E "$pattern" "$f" || true; } | grep -v overcommit | head -3 |
      sed "s|^|server_log_$(basename "$f" .log)=|" || true
  done
} >>"$work/meta"
# Each Chorus node's counters over the whole run (fsyncs, batches, retransmissions...).
for i in 0 1 2; do
  if [ -n "${chorus_admin_ports[$i]:-}" ]; then
    curl -sf --max-time 5 "http://127.0.0.1:${chorus_admin_ports[$i]}/metrics" \
      >"$work/chorus-n$((i + 1)).metrics" || log "no /metrics from Chorus node $((i + 1))"
  fi
done
stop_servers

log "writing $out_dir/benchmarks.md"
/usr/bin/python3 "$root/bench/compare_report.py" --work "$work" --out "$out_dir"
log "done in $(($(date +%s) - started_s)) s"
