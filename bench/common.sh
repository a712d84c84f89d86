# shellcheck shell=bash
# Sourced by bench/run.sh and bench/scaling.sh: locates the reference harness,
# installs the peers and wrk, builds bench_server. Not meant to be run.

MR_BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MR_REPO=$(cd "$MR_BENCH_DIR/.." && pwd)

# The reference harness is not part of this repository: it lives next to it, in
# the project's shared folder.
HARNESS=${MICROROUTE_BENCH_HARNESS:-$MR_REPO/../shared/bench}
if [ ! -f "$HARNESS/bench.py" ] || [ ! -f "$HARNESS/lib.sh" ] || [ ! -f "$HARNESS/run_rr.sh" ]; then
  echo "error: the reference benchmark harness was not found at $HARNESS" >&2
  echo "       it lives in ../shared/bench next to the repository (the project's shared" >&2
  echo "       documents); point MICROROUTE_BENCH_HARNESS at it if it is elsewhere." >&2
  exit 1
fi
HARNESS=$(cd "$HARNESS" && pwd)

: "${BUILD:=/tmp/microroute-bench-build}"   # CMake build dir of bench_server (cached)
: "${BENCH_BUILD:=/tmp/bench-build}"        # where the harness builds its peers
: "${BENCH_ROOT:=/tmp/bench-root}"          # file root given to every server
: "${BENCH_DURATION:=10}"                   # seconds per wrk run
: "${BENCH_QUIET_PCT:=10}"
: "${BENCH_QUIET_WAIT:=60}"
: "${SKIP_APT:=0}"
: "${SKIP_BUILD:=0}"
MR_BIN=${MICROROUTE_BENCH_BIN:-$BUILD/c_examples/bench_server}
export BENCH_BUILD BENCH_ROOT BENCH_DURATION BENCH_QUIET_PCT BENCH_QUIET_WAIT

mr_log() { printf '\n== %s  %s\n' "$(date +%H:%M:%S)" "$*"; }

# apt: wrk and the Debian-packaged peers (plus what the harness and the build
# use). h2o and CivetWeb are optional peers: a missing package is not fatal.
mr_install() {
  if [ "$SKIP_APT" = 1 ]; then
    mr_log "apt step skipped (SKIP_APT=1)"
  else
    mr_log "apt-get install wrk nginx-light lighttpd libmicrohttpd-dev ..."
    apt-get update -q
    apt-get install -y -q build-essential cmake python3 wrk nginx-light lighttpd \
      libmicrohttpd-dev strace
    apt-get install -y -q linux-perf || echo "note: linux-perf not installed: syscalls/req will come from strace only"
    apt-get install -y -q libcivetweb-dev h2o || echo "note: optional peers (h2o, libcivetweb-dev) not installed"
  fi
  local t
  for t in wrk nginx lighttpd taskset python3; do
    command -v "$t" >/dev/null || { echo "error: $t not found (run without SKIP_APT=1)" >&2; exit 1; }
  done
}

# The harness builds its C peers (mhd_hello, civetweb_hello) into $BENCH_BUILD.
# It builds CivetWeb unconditionally, so a missing libcivetweb-dev makes it
# fail after mhd_hello is built: only mhd_hello is required here.
mr_build_peers() {
  if [ "$SKIP_BUILD" = 1 ]; then
    mr_log "peer build skipped (SKIP_BUILD=1)"
  else
    mr_log "building the harness peers into $BENCH_BUILD"
    SKIP_APT=1 BENCH_BUILD="$BENCH_BUILD" sh "$HARNESS/setup_peers.sh" ||
      echo "note: setup_peers.sh failed part-way (an optional peer?)"
  fi
  [ -x "$BENCH_BUILD/mhd_hello" ] || { echo "error: $BENCH_BUILD/mhd_hello missing" >&2; exit 1; }
}

# bench_server in Release, in its own build dir (CMake gives cargo
# CARGO_TARGET_DIR=$BUILD/cargo, so this never touches the repo's target/).
mr_build_ours() {
  if [ "$SKIP_BUILD" = 1 ]; then
    mr_log "bench_server build skipped (SKIP_BUILD=1)"
  else
    mr_log "building bench_server (Release) in $BUILD"
    cmake -S "$MR_REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
      -DMICROROUTE_BUILD_TESTS=OFF -DMICROROUTE_INSTALL=OFF >/dev/null
    cmake --build "$BUILD" --target bench_server -j2
  fi
  [ -x "$MR_BIN" ] || { echo "error: $MR_BIN missing (build it, or unset SKIP_BUILD)" >&2; exit 1; }
}

# What we measured: git revision of the tree bench_server was built from.
mr_version() {
  local rev dirty=""
  rev=$(git -C "$MR_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [ -n "$(git -C "$MR_REPO" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null)" ]; then
    dirty="+dirty"
  fi
  echo "$rev$dirty"
}

# mr_port_free PORT...: fail early, naming the holder, if a port is taken.
mr_ports_free() {
  local p holder
  for p in "$@"; do
    if python3 - "$p" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.settimeout(0.5)
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
    then
      holder=$(ss -ltnpH "sport = :$p" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -1)
      echo "error: port $p on 127.0.0.1 is already in use${holder:+ by $holder}." >&2
      echo "       Stop that server, or pick other ports (MICROROUTE_PORT=..., SCALE_PORT_BASE=...)." >&2
      exit 1
    fi
  done
}

# A fresh output dir: results are appended, and paired ratios match rounds by
# number, so two runs in one file would mix.
mr_fresh_out() {
  if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT" 2>/dev/null)" ]; then
    echo "error: OUT=$OUT is not empty; give each run a fresh OUT directory" >&2
    exit 1
  fi
  mkdir -p "$OUT"
  OUT=$(cd "$OUT" && pwd)
}
