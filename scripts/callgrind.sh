#!/usr/bin/env bash
# Instructions per request under callgrind: a count that does not drift
# with the machine's load, unlike times (issue 7).
#
#   scripts/callgrind.sh [N]        (default N: 1000)
#
# What it does:
#   1. builds the Release C example bench_server with CMake in $BUILD
#      (default /tmp/microroute-callgrind-build);
#   2. for each request kind below, runs bench_server (1 worker) under
#      `valgrind --tool=callgrind --dump-instr=no` twice, once driven with N
#      requests and once with 2N, by one client on 127.0.0.1
#      (scripts/callgrind_client.py):
#        hello  GET /hello, keep-alive
#        close  GET /hello with Connection: close, a new connection each
#        file   GET /small.html (a 1 KiB static file), keep-alive
#        404    GET /no-such-file (through the static folder), keep-alive
#   3. prints Ir per request = (Ir(2N) - Ir(N)) / N for each kind, so
#      startup, the first connection and shutdown cancel out; Ir counts
#      user-space instructions of every thread of the server (kernel time,
#      which dominates real cost, is not counted);
#   4. prints the top 15 functions of the hello kind, by self and by
#      inclusive Ir per request (callgrind_annotate on both runs, subtracted).
#
# Environment: BUILD (build folder), JOBS (build jobs, default 2), KINDS
# (default "hello close file 404"), KEEP=1 keeps the callgrind files (their
# folder is printed).
#
# Only 127.0.0.1 is used. Every step is bounded: the build, each valgrind
# run and each client run have a timeout, and the server is stopped on exit
# whatever happens.
set -euo pipefail

N=${1:-1000}
BUILD=${BUILD:-/tmp/microroute-callgrind-build}
JOBS=${JOBS:-2}
KINDS=${KINDS:-hello close file 404}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT_DIR=$(cd "$HERE/.." && pwd)
CLIENT="$HERE/callgrind_client.py"

case $N in
  '' | *[!0-9]*) echo "usage: $0 [N]  (N: a positive number of requests)" >&2; exit 2 ;;
esac
if [ "$N" -lt 1 ]; then
  echo "N must be at least 1" >&2
  exit 2
fi
for tool in valgrind callgrind_annotate cmake python3; do
  command -v "$tool" > /dev/null || { echo "$tool not found (Debian: apt-get install valgrind cmake python3)" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/microroute-callgrind.XXXXXX)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2> /dev/null; then
    kill -KILL "$SERVER_PID" 2> /dev/null || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then
    echo "callgrind files kept in $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

# 1. Build.
echo "building bench_server (Release) in $BUILD ..."
timeout 600 cmake -S "$ROOT_DIR" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release > "$WORK/configure.log" 2>&1 ||
  { cat "$WORK/configure.log" >&2; exit 1; }
timeout 3600 cmake --build "$BUILD" --target bench_server -j "$JOBS" > "$WORK/build.log" 2>&1 ||
  { tail -n 40 "$WORK/build.log" >&2; exit 1; }
SERVER=$(find "$BUILD" -type f -name bench_server -perm -u+x | head -n 1)
[ -n "$SERVER" ] || { echo "bench_server not found in $BUILD" >&2; exit 1; }

# The static folder: one small file.
mkdir -p "$WORK/www"
python3 -c 'import sys; sys.stdout.write("<!doctype html><title>x</title>\n" + "<p>" + "x" * 985 + "</p>\n")' \
  > "$WORK/www/small.html"

# 2. One measured run: sets IR to the total Ir. (Not run in a subshell, so
# the exit trap can always stop the server.)
IR=
run() { # KIND COUNT
  local kind=$1 count=$2 out="$WORK/$1.$2.callgrind" port=''
  timeout 900 valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$out" \
    "$SERVER" 0 "$WORK/www" 1 > "$WORK/$kind.$count.stdout" 2> "$WORK/$kind.$count.valgrind.log" &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/$kind.$count.stdout")
    [ -n "$port" ] && break
    kill -0 "$SERVER_PID" 2> /dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    echo "bench_server did not start under valgrind:" >&2
    tail -n 20 "$WORK/$kind.$count.valgrind.log" >&2
    exit 1
  fi
  if ! timeout 900 python3 "$CLIENT" drive "$port" "$kind" "$count" >&2; then
    echo "client failed ($kind, $count requests)" >&2
    exit 1
  fi
  kill -TERM "$SERVER_PID"
  if ! wait "$SERVER_PID"; then
    echo "bench_server under valgrind exited with an error ($kind, $count):" >&2
    tail -n 20 "$WORK/$kind.$count.valgrind.log" >&2
    exit 1
  fi
  SERVER_PID=
  IR=$(python3 "$CLIENT" totals "$out")
}

# 3. Ir per request for each kind.
echo "instructions (Ir) per request, N=$N, (Ir(2N) - Ir(N)) / N, 1 worker:"
printf '  %-6s %14s %14s %10s\n' kind "Ir(N)" "Ir(2N)" "Ir/req"
for kind in $KINDS; do
  run "$kind" "$N"
  a=$IR
  run "$kind" $((2 * N))
  b=$IR
  printf '  %-6s %14d %14d %10d\n' "$kind" "$a" "$b" $(((b - a) / N))
done

# 4. Where the hello instructions go.
case " $KINDS " in
  *" hello "*)
    timeout 600 python3 "$CLIENT" top "$N" "$WORK/hello.$N.callgrind" "$WORK/hello.$((2 * N)).callgrind" 15
    ;;
esac
