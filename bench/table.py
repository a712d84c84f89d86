#!/usr/bin/env python3
"""Build the issue-7 table from the reference harness's result files.

Reads the round-robin results (tests a, b, c), the syscall counts and the
test-d results that bench/run.sh collected, and prints one markdown table:
per server the medians, then microroute's ratios against the best of the
reference peers, with the issue's targets. Same text goes to --md.

Medians and the "noisy sample" filter (--max-foreign) come from the harness's
bench.py. Ratios are paired: taken within one round (the servers were measured
minutes apart, under the same host drift), then the median over rounds. "Best
of" is per round: microroute / min(nginx, lighttpd) for costs, / max for
throughput, which is the same as requiring the target against each of them.
"""
import argparse
import json
import os
import statistics
import sys

TARGETS = {  # column -> (text, test(value) -> bool)
    "a_cpu": ("≤ 0.90× best", lambda r: r <= 0.90),
    "sys": ("≤ 2.1/req", lambda v: v <= 2.1),
    "p99": ("≤ 1.00× nginx", lambda r: r <= 1.0),
    "b_cpu": ("≤ 1.00× best", lambda r: r <= 1.0),
    "gbps": ("≥ 1.00× best", lambda r: r >= 1.0),
    "bpc": ("≤ 600 B", lambda v: v <= 600),
}


def fmt(v, f="{:.2f}"):
    return "-" if v is None else f.format(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--harness", required=True, help="the reference harness dir (for bench.py)")
    ap.add_argument("--ours", default="microroute")
    ap.add_argument("--refs", default="nginx,lighttpd", help="the 'best of' peers, comma-separated")
    ap.add_argument("--order", default="", help="row order (space-separated names)")
    ap.add_argument("--rr", required=True)
    ap.add_argument("--syscalls")
    ap.add_argument("--d")
    ap.add_argument("--idle10k")
    ap.add_argument("--env", help="a text file to put above the table")
    ap.add_argument("--max-foreign", type=float, default=None)
    ap.add_argument("--md", help="also write the markdown here")
    a = ap.parse_args()

    sys.path.insert(0, a.harness)
    import bench  # the harness engine: load(), stats(), clean()
    bench.MAX_FOREIGN = a.max_foreign

    def load_jsonl(path):  # the harness's reader; a missing file is no results
        return bench.load(path) if path and os.path.exists(path) else []

    rr = bench.grouped(load_jsonl(a.rr))
    dd = bench.grouped(load_jsonl(a.d))
    sysrecs = load_jsonl(a.syscalls)
    refs = [r for r in a.refs.split(",") if r]
    names = [n for n in a.order.split() if n in rr or n in dd] or list(rr)
    names += [n for n in list(rr) + list(dd) if n not in names]

    def med(group, name, key):
        s = bench.stats(group.get(name, []), key)
        return s[0] if s else None

    def syscalls(name, test):
        """(value, source): perf's full-speed count if any, else strace's."""
        rs = [r for r in sysrecs if r.get("name") == name and r.get("test") == test]
        perf = [r["perf_syscalls_per_req"] for r in rs if r.get("perf_syscalls_per_req") is not None]
        if perf:
            return statistics.median(perf), "perf"
        st = [r["syscalls_per_req"] for r in rs if r.get("syscalls_per_req") is not None]
        return (statistics.median(st), "strace") if st else (None, None)

    def paired(group, key, against, better_low=True):
        """median over reps of ours / best-of-`against` in the same rep."""
        by_rep = {n: {r["rep"]: r for r in group.get(n, [])} for n in [a.ours] + against}
        out = []
        for rep, r in by_rep[a.ours].items():
            x = r.get(key)
            if not isinstance(x, (int, float)) or not bench.clean(r, key):
                continue
            ys = [by_rep[n][rep][key] for n in against if rep in by_rep[n]
                  and isinstance(by_rep[n][rep].get(key), (int, float)) and by_rep[n][rep][key] > 0
                  and bench.clean(by_rep[n][rep], key)]
            if ys:
                out.append(x / (min(ys) if better_low else max(ys)))
        if not out:
            return None
        return statistics.median(out), min(out), max(out), len(out)

    # ------------------------------------------------------------ main table
    cols = ["keep-alive CPU µs/req", "syscalls/req", "p99 ms", "conn-close CPU µs/req",
            "1 MiB GB/s", "bytes/idle conn"]
    lines = []
    if a.env and os.path.exists(a.env):
        lines += ["```", open(a.env).read().rstrip(), "```", ""]
    lines += ["Medians. a = keep-alive GET /hello (64 conns), b = new connection per request, "
              "c = 1 MiB file (16 conns), d = 1,000 idle keep-alive conns; CPU = server process "
              "utime+stime per request; syscalls = test a, perf raw_syscalls:sys_enter at full speed.", "",
              "| server | rounds | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    used_strace = False
    vals = {}
    for n in names:
        s_a, src = syscalls(n, "a")
        used_strace |= src == "strace"
        v = {"a_cpu": med(rr, n, "a_server_us_per_req"), "sys": s_a, "p99": med(rr, n, "a_p99_ms"),
             "b_cpu": med(rr, n, "b_server_us_per_req"), "gbps": med(rr, n, "c_gbps"),
             "bpc": med(dd, n, "d_bytes_per_conn")}
        vals[n] = v
        cells = [fmt(v["a_cpu"], "{:.1f}"), fmt(s_a) + ("†" if src == "strace" else ""),
                 fmt(v["p99"], "{:.3f}"), fmt(v["b_cpu"], "{:.1f}"), fmt(v["gbps"]),
                 fmt(v["bpc"], "{:,.0f}")]
        total = len(rr.get(n, []))
        kept = sum(1 for r in rr.get(n, []) if bench.clean(r, "a_server_us_per_req"))
        lines.append(f"| {n} | {total if kept == total else f'{kept}/{total}'} | " + " | ".join(cells) + " |")

    # ratio row, target row
    best = "/".join(refs)
    ratio, verdict = {}, {}
    ratio["a_cpu"] = paired(rr, "a_server_us_per_req", refs)
    ratio["p99"] = paired(rr, "a_p99_ms", ["nginx"] if "nginx" in rr else refs)
    ratio["b_cpu"] = paired(rr, "b_server_us_per_req", refs)
    ratio["gbps"] = paired(rr, "c_gbps", refs, better_low=False)
    ratio["bpc"] = paired(dd, "d_bytes_per_conn", refs)
    ref_sys = [vals[r]["sys"] for r in refs if r in vals and vals[r]["sys"]]
    ours_v = vals.get(a.ours, {})
    ratio["sys"] = ((ours_v["sys"] / min(ref_sys),) if ours_v.get("sys") and ref_sys else None)

    def rcell(k):
        r = ratio[k]
        if r is None:
            return "-"
        if len(r) == 1 or r[3] == 1:
            return f"{r[0]:.2f}×"
        return f"{r[0]:.2f}× [{r[1]:.2f}..{r[2]:.2f}]"

    row = [rcell(k) for k in ("a_cpu", "sys", "p99", "b_cpu", "gbps", "bpc")]
    row[2] = row[2] + (" vs nginx" if "nginx" in rr and row[2] != "-" else "")
    lines.append(f"| **{a.ours} ÷ best of {best}** | paired | " + " | ".join(row) + " |")
    for k in ("a_cpu", "sys", "p99", "b_cpu", "gbps", "bpc"):
        text, ok = TARGETS[k]
        if k in ("sys", "bpc"):  # absolute targets
            x = ours_v.get(k)
        else:
            x = ratio[k][0] if ratio[k] else None
        verdict[k] = "-" if x is None else ("met" if ok(x) else "**missed**")
    lines.append("| target (issue 7) | | " + " | ".join(
        f"{TARGETS[k][0]}: {verdict[k]}" for k in ("a_cpu", "sys", "p99", "b_cpu", "gbps", "bpc")) + " |")

    # 10k idle connections (ours only)
    if a.idle10k and os.path.exists(a.idle10k) and os.path.getsize(a.idle10k):
        try:
            k = json.load(open(a.idle10k))
            grow = (k["rss_1k_kb"] - k["rss_idle_kb"]) / 1024
            lines += ["", f"{a.ours}, {k['n']:,} idle keep-alive connections: RSS {k['rss_idle_kb']:,} KiB idle, "
                          f"+{grow:.1f} MiB with them open ({k['open_at_rss_read']:,} open, "
                          f"{k['responses_ok']:,} answered); target ≤ 10 MiB: "
                          f"{'met' if grow <= 10 and k['open_at_rss_read'] == k['n'] else '**missed**'}"]
        except (ValueError, KeyError) as e:
            lines += ["", f"10k idle test: unreadable result ({e!r})"]

    # ------------------------------------------------------------ details
    lines += ["", "Details (medians): req/s is bounded by the single wrk thread in test a; "
              "'wrk core' is the busy % of wrk's CPU (near 100 = wrk was the limit).", "",
              "| server | a req/s | a p50 ms | a wrk core % | b req/s | b syscalls/req | c req/s | "
              "RssAnon B/idle conn | description |", "|---|---|---|---|---|---|---|---|---|"]
    for n in names:
        sb, _ = syscalls(n, "b")
        da = [(r["d_rss_anon_1k_kb"] - r["d_rss_anon_idle_kb"]) * 1024 / r["d_n"] for r in dd.get(n, [])
              if r.get("d_rss_anon_1k_kb") is not None and r.get("d_n")]
        desc = (rr.get(n) or dd.get(n) or [{}])[0].get("desc", "")
        lines.append(f"| {n} | {fmt(med(rr, n, 'a_rps'), '{:,.0f}')} | {fmt(med(rr, n, 'a_p50_ms'), '{:.3f}')} | "
                     f"{fmt(med(rr, n, 'a_cli_core_busy_pct'), '{:.0f}')} | {fmt(med(rr, n, 'b_rps'), '{:,.0f}')} | "
                     f"{fmt(sb)} | {fmt(med(rr, n, 'c_rps'), '{:,.0f}')} | "
                     f"{fmt(statistics.median(da) if da else None, '{:,.0f}')} | {desc} |")
    # per-peer paired ratios, so "best of" can be checked
    lines.append("")
    for r in refs:
        parts = []
        for key, label, low in (("a_server_us_per_req", "a CPU", True), ("a_p99_ms", "a p99", True),
                                ("b_server_us_per_req", "b CPU", True), ("c_gbps", "c GB/s", False)):
            p = paired(rr, key, [r], low)
            parts.append(f"{label} {p[0]:.2f}×" if p else f"{label} -")
        p = paired(dd, "d_bytes_per_conn", [r])
        parts.append(f"B/idle conn {p[0]:.2f}×" if p else "B/idle conn -")
        lines.append(f"- {a.ours} ÷ {r} (paired): " + ", ".join(parts))

    # ------------------------------------------------------------ notes
    notes, noisy = [], {}
    if used_strace:
        notes.append("† syscalls counted under strace (perf unavailable): slower server, "
                     "fewer events batched per epoll_wait, so an upper bound.")
    top = [r for r in sysrecs if r.get("name") == a.ours and r.get("test") == "a"]
    if top:
        pc = top[-1].get("per_call", {})
        notes.append(f"{a.ours} test a syscalls under strace: " +
                     ", ".join(f"{k} {v}" for k, v in list(pc.items())[:6]))
    for n in names:
        for grp, label in ((rr, "a/b/c"), (dd, "d")):
            for r in grp.get(n, []):
                v = r.get("valid", {})
                flags = "".join(k[0] if v.get(k) else "-" for k in ("hello_ok", "keepalive_ok", "close_ok", "file_ok"))
                if "-" in flags:
                    notes.append(f"{n} ({label}, rep {r['rep']}): validation valid[{flags}] "
                                 f"{ {k: x for k, x in v.items() if 'error' in k or k == 'hello_content_type'} }")
                if v.get("concurrent64_answered", 64) < 64:
                    notes.append(f"{n} ({label}, rep {r['rep']}): only {v['concurrent64_answered']}/64 "
                                 "concurrent requests answered")
                for t in "abc":
                    errs = sum(r.get(f"{t}_err_{e}", 0) or 0 for e in ("connect", "read", "write", "timeout"))
                    if errs or r.get(f"{t}_non2xx"):
                        notes.append(f"{n} rep {r['rep']} test {t}: {errs} socket errors, "
                                     f"{r.get(f'{t}_non2xx')} non-2xx")
                    f = r.get(f"{t}_foreign_cpu_pct")
                    if f is not None:
                        noisy.setdefault(n, []).append(f)
                if "d_open_at_rss_read" in r and r["d_open_at_rss_read"] < r.get("d_n", 0):
                    notes.append(f"{n} rep {r['rep']} test d: only {r['d_open_at_rss_read']}/{r['d_n']} "
                                 "connections open")
        ct = next((r["valid"].get("hello_content_type") for r in rr.get(n, []) if r.get("valid")), None)
        if n == a.ours and ct:
            notes.append(f"{a.ours} /hello Content-Type: {ct}")
    for n, fs in noisy.items():
        bad = [f for f in fs if f > 10]
        if bad:
            notes.append(f"{n}: other processes used more than 10% of a CPU during {len(bad)} of {len(fs)} "
                         f"wrk runs (up to {max(bad):.0f}%); MAX_FOREIGN=10 drops those samples")
    if notes:
        lines += ["", "Notes:"] + [f"- {x}" for x in notes]
    lines += ["", "Only ratios from the same run count (the host drifts up to ~1.9× between time "
              "windows); absolute figures are for this machine and this moment."]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if a.md:
        with open(a.md, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
