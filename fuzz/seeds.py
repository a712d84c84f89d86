#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/.

Sources: the raw requests of conformance/CASES.md (the "bad input" column),
every payload of conformance/garden_trophy_payloads.txt, the byte-string
literals of tests/conformance.rs, and a few hand-written inputs per target.
Each target's input starts with control bytes (see src/fuzzing.rs); the
seeds get a few settings each. Files are named by content hash, so running
this again only adds what is new.

Usage: fuzz/seeds.py [--conformance DIR] [--out DIR]
"""

import argparse
import hashlib
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TARGETS = ["head", "chunked", "router", "decoding", "static_path", "conn"]


def unescape(s):
    """Rust/C escapes as written in CASES.md, the payload list and Rust literals."""
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            simple = {"r": 13, "n": 10, "t": 9, "0": 0, "\\": 92, '"': 34, "'": 39}
            if n in simple:
                out.append(simple[n])
                i += 2
                continue
            if n == "x" and re.match(r"[0-9a-fA-F]{2}", s[i + 2 : i + 4]):
                out.append(int(s[i + 2 : i + 4], 16))
                i += 4
                continue
            if n == "\n":  # Rust string continuation: skip the newline and indent
                i += 2
                while i < len(s) and s[i] in " \t":
                    i += 1
                continue
        out.extend(c.encode("utf-8"))
        i += 1
    return bytes(out)


METHOD_LINE = re.compile(rb"^(\r\n)*[^\s]{1,40}[ \t]")


def as_request(frag):
    """A CASES.md fragment as a whole request, or None."""
    frag = frag.replace("…".encode(), b"")
    if not frag:
        return None
    if b"HTTP/" in frag and (METHOD_LINE.match(frag) or frag.startswith(b"\r\n")):
        if b"\r\n\r\n" in frag or b"\n\n" in frag:
            return frag
        if frag.endswith(b"\r\n"):
            return frag + b"\r\n"
        if b"\r\n" in frag:
            return frag + b"\r\n\r\n"
        return frag + b"\r\nHost: a\r\n\r\n"
    if re.match(rb"^[0-9a-fA-F+\- ]*[;\r\n ]", frag) and b"\r" in frag or frag.startswith(b"\r\n"):
        return b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + frag
    if re.match(rb"^[^\r\n:]{0,40}:", frag) or frag.startswith(b"Host"):
        head = frag if frag.endswith(b"\r\n") else frag + b"\r\n"
        return b"POST / HTTP/1.1\r\nHost: a\r\n" + head + b"Content-Length: 5\r\n\r\nhello"
    return None


def cases_requests(conf):
    out = []
    path = os.path.join(conf, "CASES.md")
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not re.match(r"^\| \d+ \|", line):
                continue
            cols = line.split(" | ")
            if len(cols) < 2:
                continue
            for frag in re.findall(r"`([^`]+)`", cols[1]):
                req = as_request(unescape(frag))
                if req:
                    out.append(req)
    return out


def garden_payloads(conf):
    out = []
    path = os.path.join(conf, "garden_trophy_payloads.txt")
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.search(r"Payload: `(.*)`\s*$", line)
            if m:
                out.append(unescape(m.group(1)))
    return out


def conformance_literals():
    """Byte-string literals of tests/conformance.rs that look like HTTP."""
    path = os.path.join(REPO, "tests", "conformance.rs")
    if not os.path.exists(path):
        return []
    text = open(path, encoding="utf-8").read()
    out = []
    for m in re.finditer(r'b"((?:[^"\\]|\\.|\\\n)*)"', text, re.S):
        b = unescape(m.group(1))
        if b"\r\n" in b or b"HTTP/" in b:
            out.append(b)
    return out


def body_of(req):
    i = req.find(b"\r\n\r\n")
    return req[i + 4 :] if i >= 0 else b""


CHUNK_BODIES = [
    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    b"0\r\n\r\n",
    b"A\r\n0123456789\r\n0\r\n\r\nGET",
    b"5;name=val\r\nhello\r\n0\r\n\r\n",
    b"5 ; a=\"q\"\r\nhello\r\n0;x\r\n\r\n",
    b"5;a=\"b\\\"c\";d\r\nhello\r\n0\r\n\r\n",
    b"0005\r\nhello\r\n00\r\n\r\n",
    b"1\r\nx\r\n0\r\nContent-Length: 0\r\nHost: evil\r\n\r\n",
    b"ffffffffffffffff\r\nab\r\n",
    b"10000000000000000\r\n",
    b"5\nhello\r\n0\r\n\r\n",
    b"5;a\nb\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhelloXX0\r\n\r\n",
    b"0\r\n\r\n\x00",
    b"1;" + b"a" * 1100 + b"\r\nX\r\n0\r\n\r\n",
    b"0\r\n" + b"".join(b"T%d: v\r\n" % i for i in range(33)) + b"\r\n",
]

EXTRA_REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /x HTTP/1.1\r\nHost: a\r\n\r\nGET /y HTTP/1.1\r\nHost: a\r\n\r\n",
    b"HEAD /stream HTTP/1.1\r\nHost: a\r\n\r\nGET /stream HTTP/1.0\r\n\r\n",
    b"POST /form HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Content-Length: 11\r\n\r\na=1%20&b=+2",
    b"POST /json HTTP/1.1\r\nHost: a\r\nContent-Length: 15\r\n\r\n{\"a\": [1, \"x\"]}",
    b"PUT /read HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
    b"5\r\nhello\r\n0\r\n\r\n",
    b"POST /stream_body HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc",
    b"GET /u/a%2Fb?q=1+2&q=3 HTTP/1.1\r\nHost: a\r\nCookie: c=\"v\"; d=2\r\nX: y\r\n\r\n",
    b"DELETE /u/1 HTTP/1.1\r\nHost: a\r\n\r\nOPTIONS /u/1 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /files/a/b/../c HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /abort HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    b"GET /close HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /redirect?to=//evil HTTP/1.1\r\nHost: a\r\n\r\nGET /redirect?to=/ok HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /hdr?v=a%0d%0aX:%20y HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /status?c=204 HTTP/1.1\r\nHost: a\r\n\r\nGET /status?c=150 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /send_header HTTP/1.1\r\nHost: a\r\n\r\nHEAD /send_header HTTP/1.0\r\n\r\n",
    b"GET /fail HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /abort_stream HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"PROPFIND /dav HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /static/sub HTTP/1.1\r\nHost: a\r\n\r\nGET /static/sub/ HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /static/a.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=1-2\r\nAccept-Encoding: gzip\r\n\r\n",
    b"GET /static/%2e%2e/secret.txt HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    b"GET /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
]

ROUTER_SEEDS = [
    b"?GET /files/special\n?GET /files/42\n?GET /files/a/b\n?GET /files/\n?GET /files",
    b"+GET /a/{x}/c\n+GET /a/b/d\n?GET /a/b/c\n?GET /a/b/d\n=r11\tx\tb",
    b"+GET /x\n+POST /x\n+* /any\n+DELETE /y/{id}\n+PUT /y/1\n?HEAD /x\n?DELETE /x\n?PATCH /any\n?GET /y/1",
    b"?GET /hello%20world\n?GET /a/\n?GET /a\n?GET /u/a%2Fb\n?GET *\n?GET //x\n?GET /%2e%2e/x",
    b"+GET /u/{id}\n=r11\tid\ta b/c\n=r11\tid\t..\n=r11\tid\t.\n=r1\tpath\ta/../b\n=r1\tpath\ta//b c",
    b"+GET /x/{a}/{b...}\n?GET /x/1/2/3\n=r11\ta\t%2F\tb\t/x/",
    b"+GET /{a}/../{b}\n?GET /1/../2\n=r11\ta\t1\tb\t2",
    b"+GET /100%\n+GET /a%2Fb\n?GET /a%2fb\n?GET /100%\n=r12",
    b"+PROPFIND /dav/{x}\n?PROPFIND /dav/1\n?propfind /dav/1\n+G ET /bad\n+GET x\n+GET /{a}/{a}",
]

DECODING_SEEDS = [
    b"a=1&b=2&&c&d=x=y",
    b"%41%4a%4A+%2B%2b%zz%2%",
    b"a=%00b&%00=c; c=\"v\"; =x; d",
    b"bytes=0-99",
    b"bytes=-5000",
    b"bytes=99999999999999999999-",
    b"bytes=5-2",
    b"bytes=0-0,0-0",
    b"Bytes = 1-1",
    b"Sun, 06 Nov 1994 08:49:37 GMT",
    b"Fri, 31 Dec 9999 23:59:60 GMT",
    b"/static/./v1/",
    b"//a//b/",
    b"/a/%2e/b",
    b"index.html",
    b"q=caf%C3%A9&q=%E2%82%AC+x",
]

STATIC_PATHS = [
    b"/", b"/a.txt", b"/a.txt/", b"/sub", b"/sub/", b"/sub/b.txt", b"/sub2/", b"/sp%20ace.txt",
    b"/../secret.txt", b"/%2e%2e/secret.txt", b"/.%2e/.%2e/secret.txt", b"/..%2fsecret.txt",
    b"/%252e%252e/secret.txt", b"/..\\secret.txt", b"/%c0%ae%c0%ae/secret.txt", b"/a.txt%00.html",
    b"/sub%0d%0aSet-Cookie:x=1", b"/out_link", b"/out_dir/secret-outside.txt", b"/out_dir/",
    b"/sib/rootx-secret.txt", b"/in_link", b"/loop", b"/nope", b"//sub", b"/sub?x=1",
    b"/static/a.txt", b"/static/out_dir/", b"/static", b"/a/b/sub", b"/a/b/../b/a.txt", b"/%61/b/a.txt",
]


def write(outdir, target, data):
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    p = os.path.join(d, name)
    if not os.path.exists(p):
        with open(p, "wb") as f:
            f.write(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conformance", help="folder with CASES.md and garden_trophy_payloads.txt")
    ap.add_argument("--out", default=os.path.join(HERE, "corpus"))
    args = ap.parse_args()
    conf = args.conformance
    if conf is None:
        for c in [os.path.join(REPO, "..", "shared", "conformance"), "/work/shared/conformance"]:
            if os.path.exists(os.path.join(c, "CASES.md")):
                conf = c
                break

    requests = list(EXTRA_REQUESTS)
    if conf:
        requests += cases_requests(conf) + garden_payloads(conf)
    else:
        print("seeds.py: conformance folder not found; hand-written seeds only", file=sys.stderr)
    requests += conformance_literals()
    requests = list(dict.fromkeys(r for r in requests if len(r) <= 64 * 1024))

    for r in requests:
        write(args.out, "head", b"\x00" + r)
        write(args.out, "head", b"\x03" + r)
        write(args.out, "conn", b"\x00\x00" + r)
        write(args.out, "conn", b"\x01\x01" + r)
        write(args.out, "conn", b"\x06\x05" + r)
        if b"chunked" in r.lower():
            write(args.out, "chunked", b"\x00\x00" + body_of(r))
            write(args.out, "chunked", b"\x07\x03" + body_of(r))
        q = r.split(b"\r\n", 1)[0]
        if b"?" in q:
            write(args.out, "decoding", q.split(b"?", 1)[1].split(b" ", 1)[0])
        target = q.split(b" ")[1] if q.count(b" ") >= 2 else b""
        if target.startswith(b"/"):
            write(args.out, "router", b"?GET " + target.split(b"?")[0])
            write(args.out, "static_path", b"\x00" + target)
    for b in CHUNK_BODIES:
        write(args.out, "chunked", b"\x00\x00" + b)
        write(args.out, "chunked", b"\x05\x01" + b)
    for s in ROUTER_SEEDS:
        write(args.out, "router", s)
    for s in DECODING_SEEDS:
        write(args.out, "decoding", s)
    for p in STATIC_PATHS:
        for sel in [0x00, 0x01, 0x02, 0x03, 0x0A, 0x12, 0x27, 0x42, 0x83]:
            write(args.out, "static_path", bytes([sel]) + p)
    # Write failures and short writes for the connection target.
    for r in EXTRA_REQUESTS[:6]:
        write(args.out, "conn", b"\x10\x03" + r)
        write(args.out, "conn", b"\x3c\x07" + r)
    for t in TARGETS:
        n = len(os.listdir(os.path.join(args.out, t)))
        print(f"seeds.py: {t}: {n} files in {os.path.join(args.out, t)}")


if __name__ == "__main__":
    main()
