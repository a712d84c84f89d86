#!/usr/bin/env python3
"""Runs c_examples/chain (the seed's Response page in C++) the way ctest does:
start it on a free port, send it a fixed list of requests, check every answer
byte for byte (the Date line aside), and check that it exits 0 by itself.

    run_chain.py path/to/chain
    run_chain.py [--start-timeout S] valgrind --error-exitcode=99 path/to/chain

Everything after the options is the command (the example, possibly under a
wrapper); `--port 0 --requests N --fast` is appended. Only 127.0.0.1 is used
and every wait is bounded.
"""

import argparse
import socket
import subprocess
import sys
import threading
import time

IO_TIMEOUT = 10.0


def read_reply(sock):
    """One response: (head without the Date line, decoded body, chunked)."""
    buf = b""

    def fill():
        nonlocal buf
        data = sock.recv(65536)
        if not data:
            raise AssertionError("connection closed early (got %r)" % buf)
        buf += data

    while b"\r\n\r\n" not in buf:
        fill()
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    dates = [l for l in lines if l.lower().startswith("date:")]
    if len(dates) != 1:
        raise AssertionError("expected one Date line in %r" % lines)
    kept = [l for l in lines if not l.lower().startswith("date:")]
    headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in kept[1:]}
    body = b""
    chunked = headers.get("transfer-encoding") == "chunked"
    if chunked:
        while True:
            while b"\r\n" not in buf:
                fill()
            size_line, buf = buf.split(b"\r\n", 1)
            size = int(size_line, 16)
            while len(buf) < size + 2:
                fill()
            body += buf[:size]
            buf = buf[size + 2:]
            if size == 0:
                break
    elif "content-length" in headers:
        n = int(headers["content-length"])
        while len(buf) < n:
            fill()
        body = buf[:n]
    return "\r\n".join(kept) + "\r\n\r\n", body, chunked


TEMPLATE_PAGE = (
    "<!doctype html>\n<title>Template</title>\n<body>\n<h1>foobar</h1>\n<ul></ul>\n\n</body>"
)

# (path, expected head without Date, expected body)
CASES = [
    ("/", "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\n",
     b"index"),
    ("/resp-head",
     "HTTP/1.1 418 I'm a teapot\r\nX-Foo: bar\r\nSet-Cookie: its=dict; Path=/; HttpOnly; SameSite=Lax\r\n"
     "Content-Length: 0\r\n\r\n", b""),
    ("/text", "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 6\r\n\r\n",
     b"hello!"),
    ("/bytes", "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 6\r\n\r\n",
     b"hello!"),
    ("/json", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n",
     b'{"hello":"world!"}'),
    ("/template", None, TEMPLATE_PAGE.encode()),
    ("/chain",
     "HTTP/1.1 200 OK\r\nSet-Cookie: key=value; Path=/; Secure\r\n"
     "Content-Type: text/plain; charset=utf-8\r\nX-somehead: value\r\nContent-Length: 11\r\n\r\n",
     b"long chain!"),
    ("/redirect/internal", "HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n", b""),
    ("/redirect/external",
     "HTTP/1.1 302 Found\r\nLocation: http://www.example.com\r\nContent-Length: 0\r\n\r\n", b""),
    ("/generator", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
     b"".join(b"count: %d" % i for i in range(10)) + b"Completed!"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--start-timeout", type=float, default=20.0)
    ap.add_argument("--exit-timeout", type=float, default=30.0)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    if not args.command:
        ap.error("no command")
    cmd = args.command + ["--port", "0", "--requests", str(len(CASES)), "--fast"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr_lines = []
    threading.Thread(target=lambda: stderr_lines.extend(proc.stderr), daemon=True).start()

    failures = []
    port = None
    try:
        line_box = []
        reader = threading.Thread(target=lambda: line_box.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(args.start_timeout)
        if not line_box or not line_box[0].startswith(b"listening on 127.0.0.1:"):
            raise AssertionError("no 'listening on' line (got %r)" % line_box)
        port = int(line_box[0].decode().rsplit(":", 1)[1])

        for path, want_head, want_body in CASES:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
                    s.settimeout(IO_TIMEOUT)
                    s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path).encode())
                    head, body, _ = read_reply(s)
                if path == "/template":
                    want_head = ("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                                 "Content-Length: %d\r\n\r\n" % len(want_body))
                if head != want_head:
                    failures.append("%s: head %r, expected %r" % (path, head, want_head))
                if body != want_body:
                    failures.append("%s: body %r, expected %r" % (path, body, want_body))
            except (OSError, AssertionError) as e:
                failures.append("%s: %s" % (path, e))

        deadline = time.time() + args.exit_timeout
        while proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:
            failures.append("the example did not exit after %d requests" % len(CASES))
        elif proc.returncode != 0:
            failures.append("the example exited with %d" % proc.returncode)
    except AssertionError as e:
        failures.append(str(e))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    for f in failures:
        print("FAIL", f)
    if failures:
        sys.stdout.write("example stderr:\n" + b"".join(stderr_lines).decode(errors="replace"))
    passed = len(CASES) + 1 - len({f.split(":")[0] for f in failures})
    print("%d passed, %d failed" % (max(passed, 0), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
