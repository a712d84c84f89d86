#!/usr/bin/env python3
"""Runs a C example the way ctest does: start it on a free port, send it a
fixed list of requests, check every answer byte for byte, check it exits 0.

    run_example.py hello path/to/hello
    run_example.py demo path/to/demo
    run_example.py demo valgrind --error-exitcode=99 path/to/demo

Everything after the example's name is the command to run (the example,
possibly under a wrapper such as valgrind); `--port 0 --requests N` is
appended to it (for the demo `--fast --port 0 --requests N`: --fast makes
the pauses of its streaming routes milliseconds long).

The example is started as `EXE --port 0 --requests N` (N = the number of
requests below); it prints "listening on 127.0.0.1:PORT", serves exactly N
requests and must then exit with status 0 by itself. Only 127.0.0.1 is used.
Every wait is bounded; on failure the example's stderr is shown.

The demo's file routes are checked against the files in c_examples/www:
bodies byte for byte, Last-Modified from the files' mtimes, the ETag by its
form (a strong tag) since it depends on the file system.
"""

import argparse
import email.utils
import gzip
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time

IO_TIMEOUT = 10.0


class Reply:
    def __init__(self):
        self.status_line = None   # "HTTP/1.1 200 OK"
        self.headers = []         # [(name, value)] in order, Date included
        self.body = b""           # decoded (chunks joined)
        self.chunked = False
        self.closed = False       # the server closed the connection after it
        self.extra = b""          # bytes the server sent after it, unasked
        self.local_port = None    # our side of the connection


class Conn:
    """A client connection to 127.0.0.1:port that reads responses."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.sock.settimeout(IO_TIMEOUT)
        self.local_port = self.sock.getsockname()[1]
        self.buf = b""
        self.eof = False

    def close(self):
        self.sock.close()

    def fill(self):
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
        self.buf += data
        return bool(data)

    def read_until(self, marker):
        """Reads until `marker` was received; returns what came before and
        including it."""
        while marker not in self.buf:
            if not self.fill():
                raise AssertionError("connection closed before %r (got %r)" % (marker, self.buf))
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_reply(self, head=False):
        """Reads one response; None if the server closed without one."""
        reply = Reply()
        reply.local_port = self.local_port
        while b"\r\n\r\n" not in self.buf:
            if not self.fill():
                if self.buf:
                    raise AssertionError("connection closed inside the head: %r" % self.buf)
                return None
        head_bytes, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head_bytes.decode("latin-1").split("\r\n")
        reply.status_line = lines[0]
        for line in lines[1:]:
            name, _, value = line.partition(":")
            reply.headers.append((name, value.strip(" \t")))
        hdr = {n.lower(): v for n, v in reversed(reply.headers)}
        code = int(reply.status_line.split(" ")[1])
        if head or code in (204, 304) or 100 <= code < 200:
            pass
        elif hdr.get("transfer-encoding", "").lower() == "chunked":
            reply.chunked = True
            body = b""
            while True:
                size_line = self.read_until(b"\r\n")
                size = int(size_line[:-2].split(b";")[0], 16)
                if size == 0:
                    while not self.buf.startswith(b"\r\n") and b"\r\n\r\n" not in self.buf:
                        if not self.fill():
                            raise AssertionError("connection closed inside the trailer")
                    self.buf = (self.buf[2:] if self.buf.startswith(b"\r\n")
                                else self.buf.split(b"\r\n\r\n", 1)[1])
                    break
                while len(self.buf) < size + 2:
                    if not self.fill():
                        raise AssertionError("connection closed inside a chunk")
                if self.buf[size:size + 2] != b"\r\n":
                    raise AssertionError("chunk not followed by CRLF")
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
            reply.body = body
        elif "content-length" in hdr:
            n = int(hdr["content-length"])
            while len(self.buf) < n:
                if not self.fill():
                    raise AssertionError("connection closed inside the body")
            reply.body, self.buf = self.buf[:n], self.buf[n:]
        else:
            while self.fill():
                pass
            reply.body, self.buf = self.buf, b""
        return reply

    def after_reply(self, reply):
        """Waits briefly: did the server close the connection after the
        reply, or send bytes nobody asked for?"""
        reply.extra, self.buf = self.buf, b""
        if self.eof:
            reply.closed = True
            return
        self.sock.settimeout(0.5)
        try:
            data = self.sock.recv(65536)
            reply.closed = data == b""
            reply.extra += data
        except socket.timeout:
            reply.closed = False
        except ConnectionResetError:
            reply.closed = True
        finally:
            self.sock.settimeout(IO_TIMEOUT)


def exchange(port, raw, head=False, want_closed=False):
    """Sends one raw request on a new connection and reads one response.
    Returns a Reply, or None if the server closed without answering."""
    conn = Conn(port)
    try:
        conn.sock.sendall(raw)
        reply = conn.read_reply(head)
        if reply is None:
            return None
        if conn.buf:
            raise AssertionError("extra bytes after the response: %r" % conn.buf)
        if want_closed:
            conn.after_reply(reply)
        elif conn.eof:
            reply.closed = True
        return reply
    finally:
        conn.close()


def request(method, path, headers=(), body=None, version="HTTP/1.1"):
    lines = ["%s %s %s" % (method, path, version), "Host: t"]
    lines += ["%s: %s" % h for h in headers]
    if body is not None and not any(h[0].lower() == "transfer-encoding" for h in headers):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


class Case:
    """One request and the exact answer expected. `headers` lists every
    header field but Date, in order. `body` is bytes, or a function that
    checks the Reply and returns an error text or None. `closed`: the
    server must close the connection after the response (None: either); when
    it must stay open, nothing else may arrive on it within 0.5 s."""

    def __init__(self, name, raw, status_line=None, headers=None, body=b"", head=False,
                 closed=None, no_response=False, run=None, requests=1):
        self.name, self.raw, self.head = name, raw, head
        self.status_line, self.headers, self.body = status_line, headers, body
        self.closed, self.no_response = closed, no_response
        # run(port) -> [errors]: a scenario of its own instead of one exchange,
        # counting `requests` requests (what the example logs).
        self.run, self.requests = run, requests


class Like:
    """An expected header value that is checked by a regular expression
    (full match) instead of byte for byte: values that depend on the file
    system, such as an ETag."""

    def __init__(self, pattern):
        self.pattern = pattern

    def __repr__(self):
        return "Like(%r)" % self.pattern


def headers_match(got, expected):
    """`got` equals `expected` field for field, in order; Like values match
    by pattern."""
    if len(got) != len(expected):
        return False
    for (gn, gv), (en, ev) in zip(got, expected):
        if gn != en:
            return False
        if isinstance(ev, Like):
            if not re.fullmatch(ev.pattern, gv):
                return False
        elif gv != ev:
            return False
    return True


def check(case, port):
    if case.run:
        return case.run(port)
    reply = exchange(port, case.raw, head=case.head, want_closed=case.closed is not None)
    return check_reply(case, reply)


def check_reply(case, reply):
    errors = []
    if case.no_response:
        if reply is not None:
            errors.append("expected the connection closed without a response, got %r"
                          % reply.status_line)
        return errors
    if reply is None:
        return ["no response (connection closed)"]
    if reply.status_line != case.status_line:
        errors.append("status line %r, expected %r" % (reply.status_line, case.status_line))
    dates = [v for n, v in reply.headers if n.lower() == "date"]
    if len(dates) != 1 or not re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", dates[0]):
        errors.append("expected one Date header in IMF-fixdate form, got %r" % dates)
    others = [(n, v) for n, v in reply.headers if n.lower() != "date"]
    if case.headers is not None and not headers_match(others, case.headers):
        errors.append("headers\n      got %r\n expected %r" % (others, case.headers))
    if callable(case.body):
        err = case.body(reply)
        if err:
            errors.append(err)
    elif reply.body != case.body:
        errors.append("body %r, expected %r" % (reply.body, case.body))
    if case.closed is not None and reply.closed != case.closed:
        errors.append("connection %s after the response, expected %s"
                      % ("closed" if reply.closed else "open", "closed" if case.closed else "open"))
    if reply.extra:
        errors.append("unsolicited bytes after the response: %r" % reply.extra[:300])
    return errors


HERE = os.path.dirname(os.path.abspath(__file__))
WWW = os.path.join(HERE, "www")
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
JS = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"
# A strong entity tag: no W/ prefix, quoted etagc characters (RFC 9110 8.8.3).
STRONG_ETAG = Like(r'"[\x21\x23-\x7e]+"')


def hello_cases():
    return [
        Case("GET /", request("GET", "/"), "HTTP/1.1 200 OK",
             [("Content-Type", TEXT), ("Content-Length", "5")], b"hello", closed=False),
        Case("HEAD /", request("HEAD", "/"), "HTTP/1.1 200 OK",
             [("Content-Type", TEXT), ("Content-Length", "5")], b"", head=True),
        Case("GET /nope", request("GET", "/nope"), "HTTP/1.1 404 Not Found",
             [("Content-Type", TEXT), ("Content-Length", "14")], b"404 Not Found\n"),
        Case("POST /", request("POST", "/", body=b"x"), "HTTP/1.1 405 Method Not Allowed",
             None, lambda r: None if ("Allow", "GET, HEAD") in r.headers else "no Allow: GET, HEAD"),
    ]


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def demo_cases():
    template_page = (b"<!doctype html>\n<title>Template</title>\n<body>\n<h1>foobar</h1>\n"
                     b"<ul><li>ONE</li><li>TWO</li></ul>\n\n</body>")
    upload_body = bytes((i * 7 + (i >> 9)) & 0xFF for i in range(3 << 20))
    upload_answer = b"size=%d fnv1a64=%016x\n" % (len(upload_body), fnv1a64(upload_body))
    def index_check(r):
        text = r.body.decode()
        if not text.startswith("<!doctype html>"):
            return "index is not an HTML page"
        for link in ["/resp-head", "/text", "/bytes", "/json", "/template", "/chain", "/redirect/internal",
                     "/redirect/external", "/generator", "/send-header", "/stream", "/mime",
                     "/admin", "/close", "/client-fd", "/moved", "/users/42",
                     "/search?q=micro+route", "/headers", "/cookie", "/form",
                     "/sse", "/sse/clock?n=3", "/job", "/static/", "/download",
                     "/download/style.css", "/download/img", "/download/nope.txt"]:
            if 'href="%s"' % link not in text:
                return "index lacks a link to %s" % link
        if ("Content-Length", str(len(r.body))) not in r.headers:
            return "bad Content-Length"
        return None

    def fd_check(r):
        m = re.fullmatch(rb"your connection from 127\.0\.0\.1:(\d+) is fd (\d+)\n", r.body)
        if not m:
            return "unexpected body %r" % r.body
        if int(m.group(1)) != r.local_port:
            return "remote address port %s is not ours (%d)" % (m.group(1), r.local_port)
        return None

    counts = b"".join(b"count: %d\n" % i for i in range(10)) + b"Completed!\n"
    with open(os.path.join(HERE, "sse.html"), "rb") as f:
        sse_html = f.read()

    # /sse/clock?n=3: three events, "event: tick", "id: i", the UTC time
    def clock_check(n):
        def check_events(r):
            one = rb"event: tick\nid: %d\ndata: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n\n"
            if not re.fullmatch(b"".join(one % i for i in range(1, n + 1)), r.body):
                return "expected %d tick events, got %r" % (n, r.body)
            return None
        return check_events

    def sse_page_check(r):
        if r.body != sse_html:
            return "the body is not c_examples/sse.html (%d bytes, %r...)" % (len(r.body), r.body[:60])
        if b"EventSource('/sse/clock" not in r.body and b'EventSource("/sse/clock' not in r.body:
            return "the page does not listen to /sse/clock with an EventSource"
        return None

    def job_check(r):
        """{"job":"done","ms":N}, N >= the 20 ms pause; exact headers (the
        Content-Length depends on the digits of N)."""
        m = re.fullmatch(rb'\{"job":"done","ms":(\d+)\}', r.body)
        if not m:
            return "unexpected body %r" % r.body
        if int(m.group(1)) < 20:
            return "the job took %s ms, less than its 20 ms pause" % m.group(1)
        headers = [(n, v) for n, v in r.headers if n.lower() != "date"]
        expected = [("Content-Type", "application/json"), ("Content-Length", str(len(r.body)))]
        if headers != expected:
            return "headers\n      got %r\n expected %r" % (headers, expected)
        return None

    sse_headers = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"),
                   ("Transfer-Encoding", "chunked")]
    job_headers = None  # checked by job_check

    def job_then_text(port):
        """/job and /text pipelined in one write: the deferred answer comes
        first, then /text, and the connection stays open and quiet."""
        conn = Conn(port)
        try:
            conn.sock.sendall(request("GET", "/job") + request("GET", "/text"))
            first = conn.read_reply()
            if first is None:
                return ["no response to /job"]
            errors = check_reply(Case("job", None, "HTTP/1.1 200 OK", job_headers, job_check),
                                 first)
            second = conn.read_reply()
            if second is None:
                return errors + ["no response to the pipelined /text"]
            conn.after_reply(second)
            errors += check_reply(Case("text", None, "HTTP/1.1 200 OK",
                                       [("Content-Type", TEXT), ("Content-Length", "6")],
                                       b"hello!", closed=False), second)
            return errors
        finally:
            conn.close()

    def clock_client_leaves(port):
        """A client leaves a long clock after the first event: the demo's
        thread must notice (resp_sse_event fails), stop and finish."""
        conn = Conn(port)
        try:
            conn.sock.sendall(request("GET", "/sse/clock?n=600"))
            head = conn.read_until(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200 OK\r\n") or \
                    b"\r\nContent-Type: text/event-stream\r\n" not in head:
                return ["unexpected head %r" % head]
            first = conn.read_until(b"\n\n")
            if b"event: tick\nid: 1\ndata: " not in first:
                return ["unexpected first event %r" % first]
            return []
        finally:
            conn.close()

    # --- files: /static (server_static_ex on c_examples/www) and /download ---
    def www(name):
        with open(os.path.join(WWW, name), "rb") as f:
            return f.read()

    def last_modified(name):
        """Last-Modified of a file: its mtime as an IMF-fixdate."""
        return email.utils.formatdate(os.stat(os.path.join(WWW, name)).st_mtime, usegmt=True)

    CACHE = ("Cache-Control", "public, max-age=60")  # the demo's server_static_ex

    def file_headers(name, mime, length=None, extra_before=(), extra_after=()):
        """What resp_send_file gives a whole file, in order."""
        return (list(extra_before)
                + [("Content-Type", mime), ("ETag", STRONG_ETAG),
                   ("Last-Modified", last_modified(name)), ("Accept-Ranges", "bytes")]
                + list(extra_after)
                + [("Content-Length", str(len(www(name)) if length is None else length))])

    index_html, css, js, js_gz, png = (www("index.html"), www("style.css"), www("app.js"),
                                       www("app.js.gz"), www("img/logo.png"))
    if gzip.decompress(js_gz) != js:
        raise SystemExit("c_examples/www/app.js.gz is not app.js compressed: "
                         "run `gzip -9 -k -n -f app.js` in c_examples/www")

    def gz_check(r):
        if r.body != js_gz:
            return "body is not app.js.gz (%d bytes)" % len(r.body)
        if gzip.decompress(r.body) != js:
            return "the gzip body does not decompress to app.js"
        return None

    def not_modified(port):
        """GET style.css, then again with If-None-Match: its ETag: 304 with
        the same validators and no body."""
        first = exchange(port, request("GET", "/static/style.css"))
        if first is None:
            return ["no response to the first GET"]
        etag = dict(first.headers).get("ETag")
        if not etag:
            return ["the first response has no ETag"]
        second = exchange(port, request("GET", "/static/style.css", [("If-None-Match", etag)]))
        errors = check_reply(Case("304", None, "HTTP/1.1 304 Not Modified",
                                  [CACHE, ("ETag", etag),
                                   ("Last-Modified", last_modified("style.css"))], b""),
                             second)
        # a stale tag gets the whole file again
        third = exchange(port, request("GET", "/static/style.css",
                                       [("If-None-Match", '"stale"')]))
        errors += check_reply(Case("stale tag", None, "HTTP/1.1 200 OK",
                                   file_headers("style.css", CSS, extra_before=[CACHE]), css),
                              third)
        return errors

    def twin_etag(port):
        """The gzip twin is another representation: its own ETag, and
        If-None-Match with it (and gzip accepted) gives 304."""
        plain = exchange(port, request("GET", "/static/app.js"))
        packed = exchange(port, request("GET", "/static/app.js", [("Accept-Encoding", "gzip")]))
        if plain is None or packed is None:
            return ["no response"]
        e1, e2 = dict(plain.headers).get("ETag"), dict(packed.headers).get("ETag")
        if not e1 or not e2 or e1 == e2:
            return ["expected two different ETags, got %r and %r" % (e1, e2)]
        third = exchange(port, request("GET", "/static/app.js",
                                       [("Accept-Encoding", "gzip"), ("If-None-Match", e2)]))
        # the 304 keeps Vary (RFC 9110 15.4.5) and the twin's validators
        return check_reply(Case("304 gzip", None, "HTTP/1.1 304 Not Modified",
                                [CACHE, ("Vary", "Accept-Encoding"), ("Content-Type", JS),
                                 ("Content-Encoding", "gzip"), ("ETag", e2),
                                 ("Last-Modified", last_modified("app.js.gz"))], b""), third)

    download_disp = ("Content-Disposition", 'attachment; filename="app.js"')
    file_cases = [
        Case("static index", request("GET", "/static/"), "HTTP/1.1 200 OK",
             file_headers("index.html", HTML, extra_before=[CACHE]), index_html, closed=False),
        Case("static folder without its slash", request("GET", "/static"),
             "HTTP/1.1 301 Moved Permanently",
             [CACHE, ("Location", "/static/"), ("Content-Length", "0")], b""),
        Case("static style.css", request("GET", "/static/style.css"), "HTTP/1.1 200 OK",
             file_headers("style.css", CSS, extra_before=[CACHE]), css),
        Case("static app.js, gzip accepted",
             request("GET", "/static/app.js", [("Accept-Encoding", "gzip, deflate")]),
             "HTTP/1.1 200 OK",
             [CACHE, ("Vary", "Accept-Encoding"), ("Content-Type", JS),
              ("Content-Encoding", "gzip"), ("ETag", STRONG_ETAG),
              ("Last-Modified", last_modified("app.js.gz")), ("Accept-Ranges", "bytes"),
              ("Content-Length", str(len(js_gz)))], gz_check),
        Case("static app.js, plain", request("GET", "/static/app.js"), "HTTP/1.1 200 OK",
             file_headers("app.js", JS, extra_before=[CACHE, ("Vary", "Accept-Encoding")]), js),
        Case("static app.js, gzip refused (q=0)",
             request("GET", "/static/app.js", [("Accept-Encoding", "gzip;q=0")]),
             "HTTP/1.1 200 OK",
             file_headers("app.js", JS, extra_before=[CACHE, ("Vary", "Accept-Encoding")]), js),
        Case("HEAD static app.js", request("HEAD", "/static/app.js"), "HTTP/1.1 200 OK",
             file_headers("app.js", JS, extra_before=[CACHE, ("Vary", "Accept-Encoding")]), b"",
             head=True, closed=False),
        Case("static image", request("GET", "/static/img/logo.png"), "HTTP/1.1 200 OK",
             file_headers("img/logo.png", "image/png", extra_before=[CACHE]), png),
        Case("static 304 (If-None-Match)", None, run=not_modified, requests=3),
        Case("static gzip twin: own ETag, 304", None, run=twin_etag, requests=3),
        Case("static range", request("GET", "/static/style.css", [("Range", "bytes=3-12")]),
             "HTTP/1.1 206 Partial Content",
             file_headers("style.css", CSS, 10, extra_before=[CACHE],
                          extra_after=[("Content-Range", "bytes 3-12/%d" % len(css))]),
             css[3:13]),
        Case("static suffix range", request("GET", "/static/style.css", [("Range", "bytes=-5")]),
             "HTTP/1.1 206 Partial Content",
             file_headers("style.css", CSS, 5, extra_before=[CACHE],
                          extra_after=[("Content-Range", "bytes %d-%d/%d"
                                        % (len(css) - 5, len(css) - 1, len(css)))]),
             css[-5:]),
        Case("static range beyond the end",
             request("GET", "/static/style.css", [("Range", "bytes=%d-" % len(css))]),
             "HTTP/1.1 416 Range Not Satisfiable",
             [CACHE, ("Content-Range", "bytes */%d" % len(css)), ("Content-Type", TEXT),
              ("Content-Length", "26")], b"416 Range Not Satisfiable\n"),
        Case("static ../ (traversal)", request("GET", "/static/../c_examples/demo.c"),
             "HTTP/1.1 400 Bad Request", [("Content-Type", TEXT), ("Content-Length", "16")],
             b"400 Bad Request\n"),
        Case("static %2e%2e (encoded traversal)", request("GET", "/static/%2e%2e/demo.c"),
             "HTTP/1.1 400 Bad Request", [("Content-Type", TEXT), ("Content-Length", "16")],
             b"400 Bad Request\n"),
        Case("static ..%2f (encoded slash)", request("GET", "/static/img/..%2f..%2fdemo.c"),
             "HTTP/1.1 400 Bad Request", [("Content-Type", TEXT), ("Content-Length", "16")],
             b"400 Bad Request\n"),
        Case("static folder without index.html", request("GET", "/static/img/"),
             "HTTP/1.1 403 Forbidden", [("Content-Type", TEXT), ("Content-Length", "14")],
             b"403 Forbidden\n"),
        Case("static missing file", request("GET", "/static/nope.css"), "HTTP/1.1 404 Not Found",
             [("Content-Type", TEXT), ("Content-Length", "14")], b"404 Not Found\n"),
        Case("download", request("GET", "/download"), "HTTP/1.1 200 OK",
             file_headers("app.js", JS, extra_after=[download_disp]), js, closed=False),
        Case("HEAD download", request("HEAD", "/download"), "HTTP/1.1 200 OK",
             file_headers("app.js", JS, extra_after=[download_disp]), b"", head=True),
        Case("download range", request("GET", "/download", [("Range", "bytes=0-1")]),
             "HTTP/1.1 206 Partial Content",
             file_headers("app.js", JS, 2, extra_after=[
                 ("Content-Range", "bytes 0-1/%d" % len(js)), download_disp]), js[:2]),
        Case("download/style.css", request("GET", "/download/style.css"), "HTTP/1.1 200 OK",
             file_headers("style.css", CSS, extra_after=[
                 ("Content-Disposition", 'attachment; filename="style.css"')]), css),
        Case("download a folder (MR_EFORBIDDEN)", request("GET", "/download/img"),
             "HTTP/1.1 403 Forbidden", [("Content-Type", TEXT), ("Content-Length", "28")],
             b"not a file you may download\n"),
        Case("download a missing file (MR_ENOTFOUND)", request("GET", "/download/nope.txt"),
             "HTTP/1.1 404 Not Found", [("Content-Type", TEXT), ("Content-Length", "13")],
             b"no such file\n"),
        Case("download ..%2F (refused name)", request("GET", "/download/..%2Fdemo.c"),
             "HTTP/1.1 400 Bad Request", [("Content-Type", TEXT), ("Content-Length", "49")],
             b"a file name is letters, digits, '-', '_' and '.'\n"),
    ]

    form_page = (b"<!doctype html>\n<form method=\"post\" action=\"/form\">\n"
                 b"<input name=\"name\" value=\"world\"> <button>Send</button>\n</form>\n")
    json_body = b'{"numbers": [1, 2, 3], "ok": true}'
    chunked_body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    xml = b"<note><to>you</to><body>hello</body></note>\n"
    return [
        Case("index", request("GET", "/"), "HTTP/1.1 200 OK", None, index_check),
        # --- the ASGI-style seed ---
        Case("resp-head", request("GET", "/resp-head"), "HTTP/1.1 418 I'm a teapot",
             [("X-Foo", "bar"), ("Set-Cookie", "its=dict; Path=/; HttpOnly; SameSite=Lax"),
              ("Content-Length", "0")], b""),
        Case("text", request("GET", "/text"), "HTTP/1.1 200 OK",
             [("Content-Type", TEXT), ("Content-Length", "6")], b"hello!"),
        Case("bytes", request("GET", "/bytes"), "HTTP/1.1 200 OK",
             [("Content-Type", "application/octet-stream"), ("Content-Length", "6")], b"hello!"),
        Case("json", request("GET", "/json"), "HTTP/1.1 200 OK",
             [("Content-Type", "application/json"), ("Content-Length", "18")],
             b'{"hello":"world!"}'),
        Case("template", request("GET", "/template"), "HTTP/1.1 200 OK",
             [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(template_page)))],
             template_page),
        Case("chain", request("GET", "/chain"), "HTTP/1.1 200 OK",
             [("Set-Cookie", "key=value; Path=/; Secure"), ("Content-Type", TEXT),
              ("X-somehead", "value"), ("Content-Length", "11")], b"long chain!"),
        Case("redirect internal", request("GET", "/redirect/internal"), "HTTP/1.1 302 Found",
             [("Location", "/"), ("Content-Length", "0")], b""),
        Case("redirect external", request("GET", "/redirect/external"), "HTTP/1.1 302 Found",
             [("Location", "http://www.example.com"), ("Content-Length", "0")], b""),
        Case("generator", request("GET", "/generator"), "HTTP/1.1 200 OK",
             [("content-type", "text/plain"), ("Transfer-Encoding", "chunked")], counts,
             closed=False),
        Case("generator HTTP/1.0", request("GET", "/generator", version="HTTP/1.0"),
             "HTTP/1.1 200 OK", [("content-type", "text/plain"), ("Connection", "close")],
             counts, closed=True),
        Case("HEAD /generator", request("HEAD", "/generator"), "HTTP/1.1 200 OK",
             [("content-type", "text/plain")], b"", head=True, closed=False),
        # --- answering later: resp_defer from threads ---
        Case("sse/clock?n=3", request("GET", "/sse/clock?n=3"), "HTTP/1.1 200 OK",
             sse_headers, clock_check(3), closed=False),
        Case("sse/clock?n=1 HTTP/1.0", request("GET", "/sse/clock?n=1", version="HTTP/1.0"),
             "HTTP/1.1 200 OK", [("Content-Type", "text/event-stream"),
                                 ("Cache-Control", "no-cache"), ("Connection", "close")],
             clock_check(1), closed=True),
        Case("sse/clock?n=0", request("GET", "/sse/clock?n=0"), "HTTP/1.1 400 Bad Request",
             [("Content-Type", TEXT), ("Content-Length", "24")], b"n must be within 1..600\n"),
        Case("sse/clock, the client leaves", None, run=clock_client_leaves),
        Case("sse page", request("GET", "/sse"), "HTTP/1.1 200 OK",
             [("Content-Type", HTML), ("Content-Length", str(len(sse_html)))], sse_page_check),
        Case("job", request("GET", "/job"), "HTTP/1.1 200 OK", job_headers, job_check,
             closed=False),
        Case("job, then a pipelined request", None, run=job_then_text, requests=2),
        # --- the micro_Route seed ---
        Case("send-header", request("GET", "/send-header"), "HTTP/1.1 200 Very OK",
             [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")],
             b"<h1>sent by resp_send_header</h1>\n"),
        Case("stream", request("GET", "/stream"), "HTTP/1.1 200 OK",
             [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")],
             b"<p>part 1</p>\n<p>part 2</p>\n<p>part 3</p>\n"),
        Case("mime", request("GET", "/mime"), "HTTP/1.1 200 OK",
             [("Content-Type", "application/xml"), ("Transfer-Encoding", "chunked")], xml),
        Case("admin", request("GET", "/admin"), "HTTP/1.1 403 Forbidden Zone",
             [("Content-Type", "text/html"), ("Content-Length", "21"), ("Connection", "close")],
             b"<h1>Admins only</h1>\n", closed=True),
        Case("close", request("GET", "/close"), no_response=True),
        Case("client-fd", request("GET", "/client-fd"), "HTTP/1.1 200 OK", None, fd_check),
        Case("moved", request("GET", "/moved"), "HTTP/1.1 301 Moved Permanently",
             [("Location", "/text"), ("Content-Length", "0")], b""),
        # --- the request API ---
        Case("users", request("GET", "/users/a%20b"), "HTTP/1.1 200 OK",
             [("Content-Type", TEXT), ("Content-Length", "9")], b"user a b\n"),
        Case("search", request("GET", "/search?q=micro+route%21"), "HTTP/1.1 200 OK",
             [("Content-Type", TEXT), ("Content-Length", "28")], b"searching for: micro route!\n"),
        Case("search without q", request("GET", "/search"), "HTTP/1.1 400 Bad Request",
             [("Content-Type", TEXT), ("Content-Length", "17")], b"add ?q=something\n"),
        Case("headers", request("GET", "/headers",
                                [("X-Demo", "1"), ("x-demo", "2"), ("User-Agent", "run_example")]),
             "HTTP/1.1 200 OK", [("Content-Type", TEXT), ("Transfer-Encoding", "chunked")],
             b"Host: t\nX-Demo: 1\nx-demo: 2\nUser-Agent: run_example\n-- user agent: run_example\n"),
        Case("cookie", request("GET", "/cookie", [("Cookie", "a=1; theme=light")]),
             "HTTP/1.1 200 OK", [("Content-Type", TEXT), ("Content-Length", "20")],
             b"theme cookie: light\n"),
        Case("cookie unset", request("GET", "/cookie"), "HTTP/1.1 200 OK",
             [("Set-Cookie", "theme=dark; Path=/; HttpOnly; SameSite=Lax"), ("Content-Type", TEXT),
              ("Content-Length", "44")], b"no theme cookie yet: set theme=dark, reload\n"),
        Case("form page", request("GET", "/form"), "HTTP/1.1 200 OK",
             [("Content-Type", HTML), ("Content-Length", str(len(form_page)))], form_page),
        Case("form post", request("POST", "/form",
                                  [("Content-Type", "application/x-www-form-urlencoded")],
                                  b"x=1&name=C+programmer%21"),
             "HTTP/1.1 200 OK", [("Content-Type", TEXT), ("Content-Length", "22")],
             b"hello, C programmer!!\n"),
        Case("form post, not a form", request("POST", "/form", [("Content-Type", "text/plain")],
                                              b"name=x"),
             "HTTP/1.1 400 Bad Request", [("Content-Type", TEXT), ("Content-Length", "43")],
             b'send a urlencoded form with a "name" field\n'),
        Case("echo", request("POST", "/echo", [("Content-Type", "application/json")], json_body),
             "HTTP/1.1 200 OK",
             [("Content-Type", "application/json"), ("Content-Length", str(len(json_body)))],
             json_body),
        Case("echo chunked", request("POST", "/echo", [("Transfer-Encoding", "chunked")],
                                     chunked_body),
             "HTTP/1.1 200 OK",
             [("Content-Type", "application/octet-stream"), ("Content-Length", "11")],
             b"hello world"),
        Case("upload (streamed, 3 MiB > max_body_bytes)",
             request("POST", "/upload", [("Content-Type", "application/octet-stream")], upload_body),
             "HTTP/1.1 200 OK", [("Content-Type", TEXT), ("Content-Length", str(len(upload_answer)))],
             upload_answer),
        Case("HEAD /text", request("HEAD", "/text"), "HTTP/1.1 200 OK",
             [("Content-Type", TEXT), ("Content-Length", "6")], b"", head=True),
        Case("404", request("GET", "/nope"), "HTTP/1.1 404 Not Found",
             [("Content-Type", TEXT), ("Content-Length", "14")], b"404 Not Found\n"),
    ] + file_cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--start-timeout", type=float, default=30.0)
    ap.add_argument("--exit-timeout", type=float, default=20.0)
    ap.add_argument("which", choices=["hello", "demo"])
    ap.add_argument("command", nargs=argparse.REMAINDER,
                    help="the example's command line (a wrapper may come first)")
    args = ap.parse_args()

    cases = hello_cases() if args.which == "hello" else demo_cases()
    if not args.command:
        ap.error("no command given")
    nrequests = sum(c.requests for c in cases)
    # --fast: the demo's streaming routes pause for milliseconds, not seconds
    extra = ["--fast"] if args.which == "demo" else []
    cmd = args.command + extra + ["--port", "0", "--requests", str(nrequests)]
    print("running:", " ".join(shlex.quote(c) for c in cmd), flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    # Collect stderr in the background (shown on failure).
    err_lines = []
    t = threading.Thread(target=lambda: err_lines.extend(proc.stderr), daemon=True)
    t.start()

    failures = []
    port = None
    # Wait for "listening on 127.0.0.1:PORT" (bounded by the start timeout).
    line_box = []
    reader = threading.Thread(target=lambda: line_box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(args.start_timeout)
    line = line_box[0].decode(errors="replace") if line_box else ""
    m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", line)
    if not m:
        failures.append("expected 'listening on 127.0.0.1:PORT', got %r" % line)
    else:
        port = int(m.group(1))
        print("example listens on port", port, flush=True)
        for case in cases:
            try:
                errs = check(case, port)
            except Exception as e:  # a broken answer, a timeout...
                errs = ["%s: %s" % (type(e).__name__, e)]
            print("%-4s %s" % ("ok" if not errs else "FAIL", case.name), flush=True)
            failures += ["%s: %s" % (case.name, e) for e in errs]

    try:
        rc = proc.wait(timeout=args.exit_timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        rc = None
        failures.append("the example did not exit within %.0f s after %d requests"
                        % (args.exit_timeout, nrequests))
    t.join(5)
    if rc is not None and rc != 0:
        failures.append("the example exited with status %d" % rc)
    if failures:
        sys.stderr.write("---- example stderr ----\n")
        sys.stderr.write(b"".join(err_lines).decode(errors="replace"))
        sys.stderr.write("---- failures ----\n")
        for f in failures:
            sys.stderr.write("  " + f + "\n")
        return 1
    print("---- example stderr ----")
    print(b"".join(err_lines).decode(errors="replace"), end="")
    print("%s: %d requests checked, exit status 0" % (args.which, nrequests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
