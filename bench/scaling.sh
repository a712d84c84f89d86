#!/usr/bin/env bash
# Scaling figures (issue 7, item 4): microroute and nginx with 2 workers, and
# the cost per request from 1 to 10,000 keep-alive connections. See
# bench/README.md ("Scaling") for the protocol and why it is set up this way.
#
#   bench/scaling.sh                                  # ~12 min
#   SKIP_APT=1 SCALE_ROUNDS=1 BENCH_DURATION=3 bench/scaling.sh   # quick check
#
# Env: SCALE_ROUNDS (3), BENCH_DURATION (10), SCALE_CONNS ("1 10 100 1000 10000"),
# SCALE_PARTS ("workers conns"), SCALE_PORT_BASE (18290; uses 4 ports from it),
# OUT (new or empty dir), SKIP_APT, SKIP_BUILD, BUILD, MICROROUTE_BENCH_BIN,
# MICROROUTE_BENCH_HARNESS, BENCH_QUIET_PCT / BENCH_QUIET_WAIT.
set -euo pipefail

# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

: "${SCALE_ROUNDS:=3}"
: "${SCALE_CONNS:=1 10 100 1000 10000}"
: "${SCALE_PARTS:=workers conns}"
: "${SCALE_PORT_BASE:=18290}"
OUT=${OUT:-/tmp/microroute-bench/scaling-$(date +%Y%m%d-%H%M%S)}

if [ "$(nproc)" -lt 2 ]; then
  echo "error: needs at least 2 CPUs (server and wrk are pinned apart)" >&2
  exit 1
fi

mr_fresh_out
exec > >(tee -a "$OUT/scaling.log") 2>&1
echo "microroute scaling: OUT=$OUT SCALE_ROUNDS=$SCALE_ROUNDS BENCH_DURATION=${BENCH_DURATION}s conns: $SCALE_CONNS"

mr_install
mr_build_ours
mr_ports_free "$SCALE_PORT_BASE" "$((SCALE_PORT_BASE + 1))" "$((SCALE_PORT_BASE + 2))" "$((SCALE_PORT_BASE + 3))"

# 10,000 connections need 10,000 descriptors in wrk and in the server (both
# inherit this limit; nginx's worker sets its own with worker_rlimit_nofile).
ulimit -n 65536 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"
echo "open-file limit: $(ulimit -Sn)"

python3 "$MR_BENCH_DIR/scaling.py" --harness "$HARNESS" --bin "$MR_BIN" \
  --desc "$(mr_version), bench_server" --out "$OUT" --root "$BENCH_ROOT" \
  --rounds "$SCALE_ROUNDS" --duration "$BENCH_DURATION" --conns "$SCALE_CONNS" \
  --parts "$SCALE_PARTS" --port-base "$SCALE_PORT_BASE" \
  --quiet-pct "$BENCH_QUIET_PCT" --quiet-wait "$BENCH_QUIET_WAIT"
echo
echo "results: $OUT (scaling.md, scaling.jsonl, scaling.log); raw wrk output in /tmp/bench-run/*-scaling-*/"
