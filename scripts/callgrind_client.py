#!/usr/bin/env python3
"""Helper of scripts/callgrind.sh (standard library only).

  callgrind_client.py drive PORT KIND COUNT
      Sends COUNT requests of one KIND to 127.0.0.1:PORT, one at a time,
      checking every answer; exits non-zero on the first wrong one.
        hello  GET /hello on one keep-alive connection
        close  GET /hello with Connection: close, a new connection each
        file   GET /small.html (a static file) on one keep-alive connection
        404    GET /no-such-file on one keep-alive connection

  callgrind_client.py totals FILE
      Prints the total Ir of a callgrind output file.

  callgrind_client.py top N_REQ FILE_N FILE_2N [COUNT]
      Per-request Ir by function, (Ir in FILE_2N - Ir in FILE_N) / N_REQ,
      from callgrind_annotate, self and inclusive: the top COUNT of each.
"""

import re
import socket
import subprocess
import sys

HOST = "127.0.0.1"
TIMEOUT = 30.0

REQUESTS = {
    "hello": (b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 200, b"hello"),
    "close": (b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 200, b"hello"),
    "file": (b"GET /small.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 200, None),
    "404": (b"GET /no-such-file HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 404, None),
}


def connect(port):
    s = socket.create_connection((HOST, port), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_response(sock, buf):
    """One response with a Content-Length body; returns (status, body, rest)."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise RuntimeError("connection closed before a full head")
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length is None:
        raise RuntimeError("response without Content-Length: %r" % head)
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            raise RuntimeError("connection closed inside a body")
        rest += data
    return status, rest[:length], rest[length:]


def check(kind, status, body, want_status, want_body):
    if status != want_status or (want_body is not None and body != want_body):
        raise RuntimeError("%s: got %d %r" % (kind, status, body[:80]))


def drive(port, kind, count):
    request, want_status, want_body = REQUESTS[kind]
    if kind == "close":
        for _ in range(count):
            with connect(port) as s:
                s.sendall(request)
                status, body, _ = read_response(s, b"")
                check(kind, status, body, want_status, want_body)
                # The server closes after the response: wait for the end.
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
        return
    with connect(port) as s:
        buf = b""
        for _ in range(count):
            s.sendall(request)
            status, body, buf = read_response(s, buf)
            check(kind, status, body, want_status, want_body)


def totals(path):
    with open(path, "rb") as f:
        for line in f:
            m = re.match(rb"^(?:summary|totals):\s+(\d+)", line)
            if m:
                return int(m.group(1))
    raise RuntimeError("no summary/totals line in " + path)


# callgrind_annotate lines: "12,345 (12.3%)  file:function [object]" (the
# object only where it changes, the percentage absent in some versions).
LINE = re.compile(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$")


def function_of(entry):
    """'file:function [object]' -> 'function'. Inlined code is listed under
    the file it comes from, so one function can have several entries."""
    entry = re.sub(r" \[[^\]]*\]$", "", entry)
    _, sep, func = entry.partition(":")
    return func if sep else entry


def by_function(path, inclusive):
    out = subprocess.run(
        [
            "callgrind_annotate",
            "--inclusive=" + ("yes" if inclusive else "no"),
            "--threshold=100",
            "--auto=no",
            path,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    costs = {}
    started = False
    for line in out.splitlines():
        if re.match(r"^\s*Ir\s+file:function", line):
            started = True
            continue
        if not started:
            continue
        m = LINE.match(line)
        if not m:
            if costs and not line.startswith("-"):
                break  # the end of the table
            continue
        func = function_of(m.group(2).strip())
        ir = int(m.group(1).replace(",", ""))
        # Self costs of a function's entries add up; inclusive ones nest
        # (an entry of inlined code is inside its caller's), so take the
        # largest.
        costs[func] = max(costs.get(func, 0), ir) if inclusive else costs.get(func, 0) + ir
    if not costs:
        raise RuntimeError("no function table in callgrind_annotate output for " + path)
    return costs


def short(name, width=100):
    return name if len(name) <= width else name[: width - 3] + "..."


def top(n_req, path_n, path_2n, count):
    for inclusive in (False, True):
        a, b = by_function(path_n, inclusive), by_function(path_2n, inclusive)
        diff = {k: (b.get(k, 0) - a.get(k, 0)) / n_req for k in set(a) | set(b)}
        rows = sorted(diff.items(), key=lambda kv: -kv[1])[:count]
        print("top %d functions by %s Ir per request:" % (count, "inclusive" if inclusive else "self"))
        for name, ir in rows:
            print("  %9.0f  %s" % (ir, short(name)))


def main(argv):
    if len(argv) >= 5 and argv[1] == "drive":
        drive(int(argv[2]), argv[3], int(argv[4]))
    elif len(argv) == 3 and argv[1] == "totals":
        print(totals(argv[2]))
    elif len(argv) in (5, 6) and argv[1] == "top":
        top(int(argv[2]), argv[3], argv[4], int(argv[5]) if len(argv) == 6 else 15)
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
