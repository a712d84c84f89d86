#!/usr/bin/env python3
"""The kernel's floor under the peer figures (issue 7). Run by bench/floor.sh.

Three servers, 1 worker each, all on CPU --server-cpu, wrk -t1 on
--client-cpu, driven by the reference harness's engine (bench.py):
  microroute  bench_server
  nginx       the harness's nginx config (1 worker)
  floor       bench/floor.c: recv and a canned send, no HTTP work at all

Tests: a (keep-alive GET /hello, 64 connections) and b (the same with
`Connection: close`, a connection per request). For each run: server CPU
per request, split into user and kernel time (utime and stime of every
thread of the server, from /proc, in clock ticks). The kernel time per
request is about the same for the three (the same calls and segments;
it moves a little with how many events each epoll_wait returns, which
follows each server's speed), so the servers differ in user time: the
floor's is what the socket calls alone cost in user space, and a target of
T x nginx leaves (T x nginx's CPU - nginx's kernel time) of user time.

All servers are up at once and visited in turn (order rotated every round),
as in the harness's round-robin protocol, so paired ratios hold under drift.
Bounded: --rounds × 3 servers × 2 tests wrk runs of --duration s (plus a
2 s warm-up before each test a, and the harness's quiet gate).
"""
import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scaling import nginx_variant  # noqa: E402  (same folder)


def ticks(bench, pid):
    """(utime, stime) in clock ticks, summed over every thread of the tree."""
    u = s = 0
    for p in bench.memconn.tree_pids(pid):
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tids:
            try:
                with open(f"/proc/{p}/task/{t}/stat") as f:
                    x = f.read()
                x = x[x.rindex(")") + 2:].split()
                u += int(x[11])
                s += int(x[12])
            except (OSError, ValueError, IndexError):
                pass
    return u, s


def med(xs):
    xs = [x for x in xs if isinstance(x, (int, float))]
    return statistics.median(xs) if xs else None


def fmt(v, f):
    return "-" if v is None else f.format(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--harness", required=True)
    ap.add_argument("--bin", required=True, help="bench_server")
    ap.add_argument("--floor", required=True, help="the built bench/floor.c")
    ap.add_argument("--desc", default="microroute")
    ap.add_argument("--out", required=True)
    ap.add_argument("--root", default="/tmp/bench-root")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--port-base", type=int, default=18390)
    ap.add_argument("--server-cpu", default="1")
    ap.add_argument("--client-cpu", default="0")
    ap.add_argument("--quiet-pct", type=float, default=10.0)
    ap.add_argument("--quiet-wait", type=float, default=60.0)
    a = ap.parse_args()

    sys.path.insert(0, a.harness)
    import bench  # the harness engine

    bench.memconn.raise_nofile()
    bench.mkroot(a.root)
    os.makedirs("/tmp/bench-run", exist_ok=True)
    hz = os.sysconf("SC_CLK_TCK")
    q = lambda s: "'" + s.replace("'", "'\\''") + "'"  # noqa: E731
    P = a.port_base
    specs = [  # name, cmd, port
        ("microroute", f"{q(a.bin)} $PORT $ROOT 1", P),
        ("nginx", nginx_variant(a.harness, a.out, "nginx-1w", 1, 8192), P + 1),
        ("floor", f"{q(a.floor)} $PORT", P + 2),
    ]

    def stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, stop)

    results = os.path.join(a.out, "floor.jsonl")
    recs, procs, srv = [], [], {}
    try:
        for name, cmd, port in specs:
            if bench.port_open(port):
                raise SystemExit(f"port {port} already in use (set FLOOR_PORT_BASE)")
            ns = argparse.Namespace(port=port, cmd=cmd, root=a.root, server_cpu=a.server_cpu, start_timeout=10.0)
            rundir = tempfile.mkdtemp(prefix=f"{name}-floor-", dir="/tmp/bench-run")
            os.chmod(rundir, 0o755)
            p = bench.start_server(ns, rundir)
            procs.append(p)
            wa = argparse.Namespace(client_cpu=a.client_cpu, server_cpu=a.server_cpu,
                                    quiet_pct=a.quiet_pct, quiet_wait=a.quiet_wait)
            srv[name] = dict(pid=p.pid, port=port, rundir=rundir, wa=wa, proc=p)
            print(f"{name}: pid {p.pid}, CPU {a.server_cpu}", flush=True)
        time.sleep(0.5)

        names = [s[0] for s in specs]
        for rnd in range(1, a.rounds + 1):
            print(f"round {rnd}/{a.rounds}", flush=True)
            for i in range(len(names)):
                name = names[(rnd - 1 + i) % len(names)]
                s = srv[name]
                url = f"http://{bench.HOST}:{s['port']}/hello"
                for test in ("a", "b"):
                    extra = ["Connection: close"] if test == "b" else []
                    if test == "a":
                        bench.run_wrk(s["wa"], s["pid"], url, 64, a.warmup, gated=False)
                        time.sleep(0.5)
                    u0, k0 = ticks(bench, s["pid"])
                    r = bench.run_wrk(s["wa"], s["pid"], url, 64, a.duration, extra=extra)
                    u1, k1 = ticks(bench, s["pid"])
                    raw = r.pop("raw")
                    with open(os.path.join(s["rundir"], "wrk.txt"), "a") as f:
                        f.write(f"===== round {rnd} test {test}\n{raw}\n")
                    n = r.get("requests") or 0
                    user = (u1 - u0) / hz / n * 1e6 if n else None
                    kern = (k1 - k0) / hz / n * 1e6 if n else None
                    rec = dict(name=name, round=rnd, test=test, user_us_per_req=user, kernel_us_per_req=kern,
                               alive=s["proc"].poll() is None,
                               **{k: v for k, v in r.items() if k not in ("srv_core", "cli_core")})
                    recs.append(rec)
                    with open(results, "a") as f:
                        f.write(json.dumps(rec) + "\n")
                    print(f"  r{rnd} {name} {test}: {r['rps']:.0f} req/s, "
                          f"{fmt(r['server_us_per_req'], '{:.2f}')} us/req (user {fmt(user, '{:.2f}')}, "
                          f"kernel {fmt(kern, '{:.2f}')}), p99 {fmt(r.get('p99_ms'), '{:.3f}')} ms, "
                          f"errors c/r/w/t {r['err_connect']}/{r['err_read']}/{r['err_write']}/{r['err_timeout']}",
                          flush=True)
                    time.sleep(1)
    finally:
        for p in procs:
            bench.stop_server(p)

    def m(name, key, test):
        return med([r.get(key) for r in recs if r["name"] == name and r["test"] == test])

    def paired(name, ref, key, test):
        a_ = {r["round"]: r.get(key) for r in recs if r["name"] == name and r["test"] == test}
        b_ = {r["round"]: r.get(key) for r in recs if r["name"] == ref and r["test"] == test}
        rs = [a_[k] / b_[k] for k in a_ if k in b_ and isinstance(a_[k], (int, float))
              and isinstance(b_[k], (int, float)) and b_[k]]
        return (statistics.median(rs), min(rs), max(rs)) if rs else None

    lines = [f"### The kernel's floor (1 worker on CPU {a.server_cpu}, wrk -t1 -c64 on CPU {a.client_cpu}; "
             f"medians of {a.rounds} round(s) of {a.duration} s)", "",
             "| server | test | req/s | CPU µs/req | user µs/req | kernel µs/req | ÷ nginx CPU/req (paired) |",
             "|---|---|---|---|---|---|---|"]
    for test, label in (("a", "a: keep-alive"), ("b", "b: conn-close")):
        for name in names:
            pr = paired(name, "nginx", "server_us_per_req", test)
            lines.append(
                f"| {name} | {label} | {fmt(m(name, 'rps', test), '{:,.0f}')} | "
                f"{fmt(m(name, 'server_us_per_req', test), '{:.2f}')} | "
                f"{fmt(m(name, 'user_us_per_req', test), '{:.2f}')} | "
                f"{fmt(m(name, 'kernel_us_per_req', test), '{:.2f}')} | "
                f"{'-' if pr is None else f'{pr[0]:.2f}× [{pr[1]:.2f}..{pr[2]:.2f}]'} |")
    lines.append("")
    # The targets: keep-alive <= 0.9x the best peer, conn-close <= 1.0x.
    # Kernel time per request is about the same for all three (the same
    # calls); what a target leaves is user time: T x nginx's CPU less
    # nginx's kernel time.
    for test, label, target in (("a", "keep-alive", 0.9), ("b", "conn-close", 1.0)):
        ng = m("nginx", "server_us_per_req", test)
        k = {n: m(n, "kernel_us_per_req", test) for n in names}
        u = {n: m(n, "user_us_per_req", test) for n in names}
        if ng and all(v is not None for v in list(k.values()) + list(u.values())):
            lines.append(f"- {label}: kernel µs/req microroute {k['microroute']:.2f}, nginx {k['nginx']:.2f}, "
                         f"floor {k['floor']:.2f}; user µs/req microroute {u['microroute']:.2f}, "
                         f"nginx {u['nginx']:.2f}, floor {u['floor']:.2f}. At {target:.2f}× nginx, with nginx's "
                         f"kernel time, a server has {target * ng - k['nginx']:.2f} µs of user time per request.")
    notes = []
    for r in recs:
        errs = r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"]
        if errs or r.get("non2xx"):
            notes.append(f"r{r['round']} {r['name']} {r['test']}: socket errors connect/read/write/timeout "
                         f"{r['err_connect']}/{r['err_read']}/{r['err_write']}/{r['err_timeout']}, "
                         f"non-2xx {r.get('non2xx')}")
        if not r["alive"]:
            notes.append(f"{r['name']} had exited by round {r['round']}")
    if notes:
        lines += ["", "Notes:"] + [f"- {x}" for x in notes]
    lines += ["", f"microroute: {a.desc}. User and kernel times are sampled at {hz} Hz: each is exact to "
              f"±1 tick per run."]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(a.out, "floor.md"), "w") as f:
        f.write(text)
    print()
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
