#!/usr/bin/env bash
# Soak test: wrk against the demo for a while, sampling the demo's memory and
# descriptors, then a summary. Not run by CI (it takes minutes and loads
# every core); run it by hand before a release:
#
#   scripts/soak.sh [SECONDS] [CONNECTIONS]      (default: 600 s, 64)
#
# What it does:
#   1. builds the demo in Release in build-soak/ (its own build folder);
#   2. starts it on 127.0.0.1 with an OS-assigned port (--port 0; --fast, so
#      its streaming routes pause for milliseconds, not seconds);
#   3. runs wrk (installed with apt-get when missing) with a Lua script that
#      cycles through a mix of the demo's routes: pages, text, JSON, a
#      template, route and query parameters, cookies, static files (whole, gzip
#      twin, range), a download, POST bodies (buffered and streamed), a
#      resp_stream producer, a deferred response from a thread, Server-Sent
#      Events, and a 404;
#   4. every 5 s writes the demo's VmRSS, open descriptors and threads to a
#      CSV (build-soak/soak-<time>.csv);
#   5. prints requests, errors (wrk's socket errors, plus answers outside
#      2xx/3xx other than the 404s of /nope, counted by the Lua script), RSS
#      at the start, after the warm-up and at the end of the load (and the
#      drift between the last two), the descriptor range, RSS and descriptors
#      once the load stopped and idle connections closed, and whether the
#      demo still answers (a final curl).
#
# Exit status: 0 when there were no errors and the demo is still healthy,
# 1 otherwise (2: usage or setup). With SOAK_MAX_DRIFT_KB set, a drift above
# it also fails.
#
# Environment: SOAK_BUILD_DIR (default build-soak), SOAK_WARMUP (seconds
# before the "after warm-up" sample; default a tenth of the run, 10..60),
# SOAK_THREADS (wrk threads, default 2), JOBS (build jobs, default 2),
# SOAK_MAX_DRIFT_KB.
#
# Only 127.0.0.1 is used. Every wait is bounded: wrk runs under `timeout`,
# the sampler stops at the deadline, the demo is stopped on exit whatever
# happens.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
duration=${1:-600}
conns=${2:-64}
case $duration in '' | *[!0-9]*) echo "usage: $0 [SECONDS] [CONNECTIONS]" >&2; exit 2 ;; esac
case $conns in '' | *[!0-9]*) echo "usage: $0 [SECONDS] [CONNECTIONS]" >&2; exit 2 ;; esac
[ "$duration" -ge 10 ] || { echo "soak: SECONDS must be at least 10" >&2; exit 2; }
[ "$conns" -ge 1 ] || { echo "soak: CONNECTIONS must be at least 1" >&2; exit 2; }
build=${SOAK_BUILD_DIR:-$root/build-soak}
threads=${SOAK_THREADS:-2}
[ "$threads" -le "$conns" ] || threads=$conns
warmup=${SOAK_WARMUP:-$((duration / 10))}
[ "$warmup" -ge 10 ] || warmup=10
[ "$warmup" -le 60 ] || warmup=60
period=5

step() { printf '\n==> %s\n' "$*"; }

# --- tools ------------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
    step "installing wrk"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 $SUDO apt-get update -qq
    timeout 300 $SUDO apt-get install -y -qq --no-install-recommends wrk
fi
command -v curl >/dev/null 2>&1 || { echo "soak: curl is needed" >&2; exit 2; }

# --- build ------------------------------------------------------------------
step "building the demo (Release) in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMICROROUTE_BUILD_TESTS=OFF \
    -DMICROROUTE_BUILD_EXAMPLES=ON >"$build.configure.log" 2>&1 ||
    { cat "$build.configure.log" >&2; exit 2; }
cmake --build "$build" -j"${JOBS:-2}" --target demo
demo="$build/c_examples/demo"
[ -x "$demo" ] || { echo "soak: $demo was not built" >&2; exit 2; }

stamp=$(date -u +%Y%m%dT%H%M%SZ)
csv="$build/soak-$stamp.csv"
lua="$build/soak-$stamp.lua"
wrk_out="$build/soak-$stamp.wrk.txt"
demo_err="$build/soak-$stamp.demo.log"

# --- the demo ---------------------------------------------------------------
step "starting the demo on 127.0.0.1 (port chosen by the system)"
fifo=$(mktemp -u "${TMPDIR:-/tmp}/soak-demo-out.XXXXXX")
mkfifo "$fifo"
demo_pid=""
cleanup() {
    if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then
        kill -TERM "$demo_pid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$demo_pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL "$demo_pid" 2>/dev/null || true
    fi
    rm -f "$fifo"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# The access log (one line per request) is not kept: at tens of thousands of
# requests a second it would be gigabytes. Warnings and errors are counted,
# and the first 10,000 kept (awk goes on reading: the demo never blocks or
# gets SIGPIPE on its stderr).
demo_warn_count="$build/soak-$stamp.warnings"
"$demo" --fast --addr 127.0.0.1 --port 0 >"$fifo" \
    2> >(awk -v out="$demo_warn_count" '/^\[info\]/ { next }
             { n++; if (n <= 10000) { print; fflush() } }
             END { print n + 0 > out }' >"$demo_err") &
demo_pid=$!
exec 3<"$fifo"
line=""
read -r -t 30 line <&3 || true
case $line in
    "listening on 127.0.0.1:"*) port=${line##*:} ;;
    *) echo "soak: the demo did not start (said: '$line')" >&2; exit 2 ;;
esac
# keep draining its stdout (it prints nothing more, but never block it)
cat <&3 >/dev/null &
exec 3<&-
base="http://127.0.0.1:$port"
echo "demo pid $demo_pid on $base"

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$demo_pid/status" 2>/dev/null || echo 0; }
threads_of() { awk '/^Threads:/ {print $2}' "/proc/$demo_pid/status" 2>/dev/null || echo 0; }
fds() { find "/proc/$demo_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# One request of each kind before measuring: lazily built state (the template
# environment, the MIME table, the static mount's metadata) is not a leak.
for path in / /text /json /template /static/style.css /download /nope; do
    curl -s -o /dev/null --max-time 5 "$base$path" || true
done
rss_start=$(rss_kb)
fd_start=$(fds)
threads_start=$(threads_of)
echo "RSS at start (idle, after one request of each kind): ${rss_start} kB, fds: $fd_start," \
    "threads: $threads_start"

# --- the wrk script -----------------------------------------------------------
cat >"$lua" <<'EOF'
-- A fixed cycle of the demo's routes, one after the other on each wrk
-- thread. Every route answers 2xx or 3xx except /nope (404). wrk does not
-- tell which request a response answers (a thread drives many
-- connections), so the check is by count: any status outside 2xx/3xx/404
-- is an error, and so is any 404 beyond the number of /nope requests sent.
local post_body = '{"numbers": [1, 2, 3], "ok": true}'
local upload_body = string.rep("0123456789abcdef", 256) -- 4 KiB
local mix = {
  {"GET", "/"},
  {"GET", "/text"},
  {"GET", "/json"},
  {"GET", "/template"},
  {"GET", "/users/42"},
  {"GET", "/search?q=micro+route"},
  {"GET", "/cookie", {["Cookie"] = "theme=light"}},
  {"GET", "/static/style.css"},
  {"GET", "/static/app.js", {["Accept-Encoding"] = "gzip"}},
  {"GET", "/static/style.css", {["Range"] = "bytes=0-9"}},
  {"GET", "/static/"},
  {"GET", "/download"},
  {"GET", "/headers"},
  {"POST", "/echo", {["Content-Type"] = "application/json"}, post_body},
  {"POST", "/form", {["Content-Type"] = "application/x-www-form-urlencoded"}, "name=soak"},
  {"POST", "/upload", {["Content-Type"] = "application/octet-stream"}, upload_body},
  {"GET", "/generator"},
  {"GET", "/job"},
  {"GET", "/sse/clock?n=2"},
  {"GET", "/nope"},
}
local reqs = {}
function init(args)
  -- here, not at load time: wrk.headers has its Host field only by now
  local host = wrk.headers["Host"] or "127.0.0.1"
  for k, m in ipairs(mix) do
    local headers = {["Host"] = host}
    for name, value in pairs(m[3] or {}) do headers[name] = value end
    reqs[k] = wrk.format(m[1], m[2], headers, m[4])
  end
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

local i = 0
counts = {}   -- status -> responses, this thread
sent404 = 0   -- /nope requests sent, this thread
function request()
  i = i % #mix + 1
  if i == #mix then sent404 = sent404 + 1 end
  return reqs[i]
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local all, sent = {}, 0
  for _, t in ipairs(threads) do
    sent = sent + (t:get("sent404") or 0)
    for s, n in pairs(t:get("counts") or {}) do
      all[s] = (all[s] or 0) + n
    end
  end
  local keys, parts, wrong = {}, {}, 0
  for s in pairs(all) do table.insert(keys, s) end
  table.sort(keys)
  for _, s in ipairs(keys) do
    table.insert(parts, s .. "=" .. all[s])
    if s ~= 404 and (s < 200 or s > 399) then wrong = wrong + all[s] end
  end
  if (all[404] or 0) > sent then wrong = wrong + all[404] - sent end
  local e = summary.errors
  io.write(string.format("SOAK requests=%d bytes=%d duration_us=%d\n",
    summary.requests, summary.bytes, summary.duration))
  io.write(string.format("SOAK socket_errors connect=%d read=%d write=%d timeout=%d status=%d\n",
    e.connect, e.read, e.write, e.timeout, e.status))
  io.write("SOAK statuses " .. table.concat(parts, " ") .. " (/nope sent: " .. sent .. ")\n")
  io.write(string.format("SOAK unexpected_status=%d\n", wrong))
  io.write(string.format("SOAK latency_us p50=%d p99=%d max=%d\n",
    latency:percentile(50), latency:percentile(99), latency.max))
end
EOF

# --- load and sampling ----------------------------------------------------------
step "wrk: $duration s, $conns connections, $threads threads, against $base"
echo "t_s,rss_kb,fds,threads" >"$csv"
t0=$(date +%s)
timeout --kill-after=10 $((duration + 60)) \
    wrk -t"$threads" -c"$conns" -d"${duration}s" --timeout 10s -s "$lua" "$base/" \
    >"$wrk_out" 2>&1 &
wrk_pid=$!
rss_warm=""
rss_end=""
fd_min=""
fd_max=""
th_min=""
th_max=""
deadline=$((t0 + duration + 70))
while kill -0 "$wrk_pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do
    sleep "$period"
    kill -0 "$demo_pid" 2>/dev/null || { echo "soak: the demo died during the load" >&2; break; }
    kill -0 "$wrk_pid" 2>/dev/null || break # the load is over: not a loaded sample
    now=$(($(date +%s) - t0))
    r=$(rss_kb)
    f=$(fds)
    th=$(threads_of)
    echo "$now,$r,$f,$th" >>"$csv"
    if [ -z "$rss_warm" ] && [ "$now" -ge "$warmup" ]; then rss_warm=$r; fi
    rss_end=$r
    if [ -z "$fd_min" ] || [ "$f" -lt "$fd_min" ]; then fd_min=$f; fi
    if [ -z "$fd_max" ] || [ "$f" -gt "$fd_max" ]; then fd_max=$f; fi
    if [ -z "$th_min" ] || [ "$th" -lt "$th_min" ]; then th_min=$th; fi
    if [ -z "$th_max" ] || [ "$th" -gt "$th_max" ]; then th_max=$th; fi
done
wrk_rc=0
wait "$wrk_pid" || wrk_rc=$?
[ -n "$rss_warm" ] || rss_warm=${rss_end:-$rss_start}
[ -n "$rss_end" ] || rss_end=$rss_warm

# After the load: idle keep-alive connections close after 5 s (the default
# idle timeout), buffers are released after 1 s idle.
demo_alive=1
kill -0 "$demo_pid" 2>/dev/null || demo_alive=0
rss_idle=0
fd_idle=0
threads_idle=0
if [ $demo_alive = 1 ]; then
    sleep 7
    rss_idle=$(rss_kb)
    fd_idle=$(fds)
    threads_idle=$(threads_of)
    echo "$(($(date +%s) - t0)),$rss_idle,$fd_idle,$threads_idle" >>"$csv"
fi

# --- health -------------------------------------------------------------------
healthy=0
health=""
if [ $demo_alive = 1 ]; then
    health=$(curl -s --max-time 5 -w ' %{http_code}' "$base/text" || true)
    [ "$health" = "hello! 200" ] && healthy=1
fi

# Stop the demo now: its stderr then ends, and the warning count is written.
cleanup
demo_pid=""
for _ in $(seq 1 50); do
    [ -s "$demo_warn_count" ] && break
    sleep 0.1
done

# --- summary --------------------------------------------------------------------
step "summary"
cat "$wrk_out"
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
requests=$(sed -n 's/^SOAK requests=\([0-9]*\).*/\1/p' "$wrk_out" | head -1)
sock=$(sed -n 's/^SOAK socket_errors //p' "$wrk_out" | head -1)
unexpected=$(sed -n 's/^SOAK unexpected_status=//p' "$wrk_out" | head -1)
statuses=$(sed -n 's/^SOAK statuses //p' "$wrk_out" | head -1)
sock_total=0
for k in connect read write timeout; do
    v=$(field "$sock" "$k")
    sock_total=$((sock_total + ${v:-0}))
done
# wrk's "status" error count is every answer outside 2xx/3xx: the 404s of
# /nope are wanted, so the Lua script's count decides instead.
errors=$((sock_total + ${unexpected:-0}))
if [ -z "$requests" ]; then
    echo "soak: wrk did not report (exit status $wrk_rc): see $wrk_out" >&2
    errors=$((errors + 1))
    requests=0
fi
drift=$((rss_end - rss_warm))
rps=$((requests / duration))

printf '%-38s %s\n' \
    "duration, connections" "$duration s, $conns (wrk -t$threads)" \
    "requests" "$requests (~$rps/s)" \
    "statuses" "${statuses:-?}" \
    "socket errors" "${sock:-?}" \
    "wrong status for the route" "${unexpected:-?}" \
    "errors (socket + wrong status)" "$errors" \
    "RSS at start (idle)" "$rss_start kB" \
    "RSS after warm-up (${warmup} s)" "$rss_warm kB" \
    "RSS at the end of the load" "$rss_end kB" \
    "RSS drift (end - after warm-up)" "$drift kB" \
    "RSS after the load (7 s idle)" "$rss_idle kB" \
    "fds at start / min / max / after" "$fd_start / ${fd_min:-?} / ${fd_max:-?} / $fd_idle" \
    "threads at start / min / max / after" "$threads_start / ${th_min:-?} / ${th_max:-?} / $threads_idle" \
    "demo healthy afterwards (GET /text)" "$([ $healthy = 1 ] && echo yes || echo "NO (${health:-dead})")" \
    "samples" "$csv" \
    "demo warnings and errors" "$(cat "$demo_warn_count" 2>/dev/null || echo "?") (first ones in $demo_err)"

rc=0
[ "$errors" -eq 0 ] || rc=1
[ $healthy = 1 ] || rc=1
if [ -n "${SOAK_MAX_DRIFT_KB:-}" ] && [ "$drift" -gt "$SOAK_MAX_DRIFT_KB" ]; then
    echo "soak: RSS drift $drift kB is above SOAK_MAX_DRIFT_KB=$SOAK_MAX_DRIFT_KB" >&2
    rc=1
fi
[ $rc = 0 ] && echo "soak: passed" || echo "soak: FAILED"
exit $rc
