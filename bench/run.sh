#!/usr/bin/env bash
# Peer benchmark (issue 7): microroute's bench_server against nginx, lighttpd
# and libmicrohttpd, on this machine, with the reference harness in
# ../shared/bench. See bench/README.md.
#
#   bench/run.sh                              # full run (~20 min), needs root for apt
#   SKIP_APT=1 ROUNDS=1 BENCH_DURATION=3 bench/run.sh     # quick check of the scripts
#
# Env: ROUNDS (5), BENCH_DURATION (10 s per wrk run), OUT (result dir, must be
# new or empty), SKIP_APT=1, SKIP_BUILD=1, PEERS ("nginx lighttpd mhd"),
# REFS ("nginx lighttpd": the "best of"), MICROROUTE_PORT (18090), BUILD,
# MICROROUTE_BENCH_BIN (use this bench_server binary), MICROROUTE_BENCH_HARNESS,
# D_REPS (ROUNDS), IDLE10K (1: also hold 10,000 idle connections on ours),
# MAX_FOREIGN (drop a/b/c samples taken while other processes used more than
# this % of a CPU), BENCH_QUIET_PCT / BENCH_QUIET_WAIT (the harness's gate).
set -euo pipefail

# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

: "${ROUNDS:=5}"
: "${D_REPS:=$ROUNDS}"
: "${PEERS:=nginx lighttpd mhd}"
: "${REFS:=nginx lighttpd}"
: "${MICROROUTE_PORT:=18090}"
: "${IDLE10K:=1}"
: "${MAX_FOREIGN:=}"
OUT=${OUT:-/tmp/microroute-bench/run-$(date +%Y%m%d-%H%M%S)}
export ROUNDS BENCH_DURATION

mr_fresh_out
exec > >(tee -a "$OUT/run.log") 2>&1
echo "microroute peer benchmark: OUT=$OUT ROUNDS=$ROUNDS BENCH_DURATION=${BENCH_DURATION}s PEERS=$PEERS harness=$HARNESS"

mr_install
mr_build_peers
mr_build_ours

# The harness's shell API and its peer table (peer_cmd NAME -> CMD|PORT|DESC|TESTS).
# Its files are not written for `set -u`.
OURS=microroute
printf -v qbin '%q' "$MR_BIN"
EXTRA_NAME=$OURS
EXTRA_CMD="$qbin \$PORT \$ROOT"
EXTRA_PORT=$MICROROUTE_PORT
EXTRA_DESC="microroute $(mr_version), bench_server, 1 worker"
EXTRA_TESTS=abcd
MONGOOSE_BIN=${MONGOOSE_BIN:-}
MONGOOSE_OS_BIN=${MONGOOSE_OS_BIN:-}
export EXTRA_NAME EXTRA_CMD EXTRA_PORT EXTRA_DESC EXTRA_TESTS MONGOOSE_BIN MONGOOSE_OS_BIN
set +u
# shellcheck source=/dev/null
. "$HARNESS/lib.sh"
# shellcheck source=/dev/null
. "$HARNESS/peers.sh"
set -u

ports=("$MICROROUTE_PORT")
for p in $PEERS; do
  IFS='|' read -r _ port _ _ <<<"$(peer_cmd "$p")"
  ports+=("$port")
done
mr_ports_free "${ports[@]}"

cat >"$OUT/env.txt" <<EOF
date: $(date -Is)
host: $(uname -srm), $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
microroute: $EXTRA_DESC ($MR_BIN)
peers: $PEERS
rounds: $ROUNDS, wrk duration: ${BENCH_DURATION}s, server CPU $BENCH_SERVER_CPU, wrk CPU $BENCH_CLIENT_CPU
harness: $HARNESS
EOF

# 1. Tests a, b, c round-robin: every server up at once, visited in turn.
mr_log "round-robin a/b/c: $ROUNDS round(s), $PEERS $OURS"
PEERS="$PEERS" BENCH_RR_RESULTS="$OUT/rr.jsonl" bash "$HARNESS/run_rr.sh"

# 2. Syscalls per request, tests a and b (perf at full speed, strace breakdown).
mr_log "syscalls per request (tests a, b)"
PEERS="$PEERS" SYS_TESTS="a b" BENCH_SYS_RESULTS="$OUT/syscalls.jsonl" bash "$HARNESS/run_syscalls.sh"

# 3. Test d (bytes per idle keep-alive connection): a fresh server each time,
#    D_REPS reps, servers interleaved and rotated like the round-robin.
mr_log "test d (1,000 idle connections): $D_REPS rep(s)"
servers=("$OURS")
for p in $PEERS; do servers+=("$p"); done
n=${#servers[@]}
for ((rep = 1; rep <= D_REPS; rep++)); do
  for ((i = 0; i < n; i++)); do
    s=${servers[$(((rep - 1 + i) % n))]}
    IFS='|' read -r cmd port desc _ <<<"$(peer_cmd "$s")"
    BENCH_TESTS=d BENCH_REP=$rep BENCH_RESULTS="$OUT/d.jsonl" \
      bench_server "$s" "$cmd" "$port" "$desc" || echo "!! test d failed for $s rep $rep"
  done
done

# 4. Ours only: 10,000 idle connections (target: RSS <= 10 MiB above idle).
#    The peers are configured for 8,192 connections at most, so they are not
#    asked. Fresh server, same pinning, started and stopped here.
srv_pid=""
stop_ours() {
  if [ -n "$srv_pid" ]; then
    kill -TERM "$srv_pid" 2>/dev/null || true
    wait "$srv_pid" 2>/dev/null || true
    srv_pid=""
  fi
}
trap stop_ours EXIT
trap 'stop_ours; exit 130' INT TERM
if [ "$IDLE10K" = 1 ]; then
  mr_log "microroute: 10,000 idle connections"
  ulimit -Sn "$(ulimit -Hn)"
  if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt 10100 ]; then
    echo "!! open-file limit $(ulimit -Sn) < 10100: skipping the 10k idle test"
  else
    python3 "$HARNESS/bench.py" mkroot "$BENCH_ROOT"
    taskset -c "$BENCH_SERVER_CPU" "$MR_BIN" "$MICROROUTE_PORT" "$BENCH_ROOT" >"$OUT/idle10k-server.log" 2>&1 &
    srv_pid=$!
    for ((i = 0; i < 100; i++)); do  # up to 10 s
      grep -q '^listening' "$OUT/idle10k-server.log" 2>/dev/null && break
      kill -0 "$srv_pid" 2>/dev/null || break
      sleep 0.1
    done
    if grep -q '^listening' "$OUT/idle10k-server.log"; then
      sleep 0.5
      taskset -c "$BENCH_CLIENT_CPU" python3 "$HARNESS/memconn.py" "$MICROROUTE_PORT" "$srv_pid" 10000 \
        >"$OUT/idle10k.json" || echo "!! memconn 10k failed"
      cat "$OUT/idle10k.json" 2>/dev/null || true
    else
      echo "!! bench_server did not start; see $OUT/idle10k-server.log"
    fi
    stop_ours
  fi
fi

# 5. The harness's own views, then our table.
mr_log "harness summary (round-robin) and paired ratios"
BENCH_RESULTS="$OUT/rr.jsonl" bench_summary ${MAX_FOREIGN:+--max-foreign "$MAX_FOREIGN"} || true
BENCH_RESULTS="$OUT/d.jsonl" bench_summary --cols d_rss_idle_kb,d_rss_1k_kb,d_bytes_per_conn || true
for r in $REFS; do
  BENCH_RESULTS="$OUT/rr.jsonl" bench_ratio --paired ${MAX_FOREIGN:+--max-foreign "$MAX_FOREIGN"} "$OURS" "$r" || true
done

mr_log "table"
refs_csv=$(echo "$REFS" | tr ' ' ',')
python3 "$MR_BENCH_DIR/table.py" --harness "$HARNESS" --ours "$OURS" --refs "$refs_csv" \
  --order "$OURS $PEERS" --rr "$OUT/rr.jsonl" --syscalls "$OUT/syscalls.jsonl" --d "$OUT/d.jsonl" \
  --idle10k "$OUT/idle10k.json" --env "$OUT/env.txt" ${MAX_FOREIGN:+--max-foreign "$MAX_FOREIGN"} \
  --md "$OUT/table.md"
echo
echo "results: $OUT (table.md, rr.jsonl, syscalls.jsonl, d.jsonl, run.log); raw wrk output in /tmp/bench-run/"
