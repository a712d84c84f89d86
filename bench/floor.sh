#!/usr/bin/env bash
# The kernel's floor (issue 7): microroute and nginx beside bench/floor.c, a
# server that only makes the socket calls (recv and a canned send), with
# each server's CPU per request split into kernel time (about the same for
# all: the same calls) and user time (its own work; the floor's is the
# calls' user-space cost). See bench/README.md ("The kernel's floor").
#
#   bench/floor.sh                                   # ~6 min
#   SKIP_APT=1 FLOOR_ROUNDS=1 BENCH_DURATION=3 bench/floor.sh     # quick check
#
# Env: FLOOR_ROUNDS (5), BENCH_DURATION (10), FLOOR_PORT_BASE (18390; uses 3
# ports from it), OUT (new or empty dir), SKIP_APT, SKIP_BUILD, BUILD,
# MICROROUTE_BENCH_BIN, MICROROUTE_BENCH_HARNESS, CC (cc),
# BENCH_QUIET_PCT / BENCH_QUIET_WAIT.
set -euo pipefail

# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

: "${FLOOR_ROUNDS:=5}"
: "${FLOOR_PORT_BASE:=18390}"
: "${CC:=cc}"
OUT=${OUT:-/tmp/microroute-bench/floor-$(date +%Y%m%d-%H%M%S)}

if [ "$(nproc)" -lt 2 ]; then
  echo "error: needs at least 2 CPUs (server and wrk are pinned apart)" >&2
  exit 1
fi

mr_fresh_out
exec > >(tee -a "$OUT/floor.log") 2>&1
echo "microroute floor: OUT=$OUT FLOOR_ROUNDS=$FLOOR_ROUNDS BENCH_DURATION=${BENCH_DURATION}s"

mr_install
mr_build_ours
mr_ports_free "$FLOOR_PORT_BASE" "$((FLOOR_PORT_BASE + 1))" "$((FLOOR_PORT_BASE + 2))"

FLOOR_BIN=$OUT/floor
"$CC" -std=c99 -O2 -Wall -Wextra -Werror -o "$FLOOR_BIN" "$MR_BENCH_DIR/floor.c"

python3 "$MR_BENCH_DIR/floor.py" --harness "$HARNESS" --bin "$MR_BIN" --floor "$FLOOR_BIN" \
  --desc "$(mr_version), bench_server" --out "$OUT" --root "$BENCH_ROOT" \
  --rounds "$FLOOR_ROUNDS" --duration "$BENCH_DURATION" --port-base "$FLOOR_PORT_BASE" \
  --quiet-pct "$BENCH_QUIET_PCT" --quiet-wait "$BENCH_QUIET_WAIT"
echo
echo "results: $OUT (floor.md, floor.jsonl, floor.log); raw wrk output in /tmp/bench-run/*-floor-*/"
