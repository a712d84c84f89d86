#!/usr/bin/env python3
"""Lints every response of the demo with httplint (PyPI).

    lint_demo.py path/to/demo [-v] [--only SUBSTRING]

Starts the demo (`--fast --port 0`, so its streaming routes pause for
milliseconds), reads "listening on 127.0.0.1:PORT" from its standard output,
then for each case below sends one raw HTTP/1.1 (or 1.0, or deliberately
broken) request on a new connection to 127.0.0.1, reads the exact bytes of the
answer and parses them with the message parser httplint's own command line
uses (thor's, strict: bad chunk framing, bare LF, a wrong Content-Length and
bytes after the end of the response are errors), feeding httplint's
HttpResponseLinter, with the request given to it as the related request (so
HEAD, 304, 206, 405 and 100 Continue are judged against what was asked).

Every route the demo registers is covered, with its success and its error
answers, plus the answers the library writes by itself (404, 405, OPTIONS,
400, 408, 413, 414, 431, 501, 505, 304, 206, 416, redirects of the static
mount).

A note of level "bad" fails the run; "warning" notes are printed (-v prints
every note). A case whose status code is not the expected one fails too, so
each case lints the answer it means to. Exit status: 0 all clean, 1 a
failure, 77 httplint is not installed (ctest reports a skip).

Only 127.0.0.1 is used; every wait is bounded; the demo is stopped at the end.
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

try:
    from httplint import HttpRequestLinter, HttpResponseLinter
    from httplint.note import levels
    from thor.http.common import HttpMessageHandler, States, Delimiters
except ImportError as e:  # pragma: no cover - depends on the machine
    print("SKIP: httplint is not importable (%s); install it with "
          "`python3 -m pip install httplint`" % e)
    sys.exit(77)

IO_TIMEOUT = 15.0      # one exchange, at most
START_TIMEOUT = 30.0   # the demo printing its port
HERE = os.path.dirname(os.path.abspath(__file__))
WWW = os.path.normpath(os.path.join(HERE, "..", "..", "c_examples", "www"))


# ---------------------------------------------------------------------------
# One exchange: the raw request out, the raw response in, parsed by thor's
# HTTP parser into httplint linters.
# ---------------------------------------------------------------------------

class Request:
    """A request: its parts (given to httplint as the related request) and
    the bytes sent. `raw` overrides the bytes for deliberately broken ones."""

    def __init__(self, method, target, headers=(), body=None, version="HTTP/1.1",
                 raw=None, host=True):
        self.method, self.target, self.version = method, target, version
        self.headers = list(headers)
        self.body = body
        if host:
            self.headers.insert(0, ("Host", "127.0.0.1"))
        self.headers.append(("User-Agent", "microroute-lint/1"))
        if body is not None and not any(n.lower() in ("transfer-encoding", "content-length")
                                        for n, _ in self.headers):
            self.headers.append(("Content-Length", str(len(body))))
        if raw is None:
            lines = ["%s %s %s" % (method, target, version)]
            lines += ["%s: %s" % h for h in self.headers]
            raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        self.raw = raw

    def linter(self, start_time):
        req = HttpRequestLinter(start_time=start_time)
        req.process_request_topline(self.method.encode(), self.target.encode("latin-1"),
                                    self.version.split("/")[-1].encode())
        req.process_headers([(n.encode("latin-1"), v.encode("latin-1"))
                             for n, v in self.headers])
        if self.body and not any(n.lower() == "transfer-encoding" for n, _ in self.headers):
            req.feed_content(self.body)
        req.finish_content(True)
        return req


class ResponseParser(HttpMessageHandler):
    """Parses the response bytes (interim 1xx answers, then the final one)
    with thor's parser and lints each one."""

    default_state = States.WAITING

    def __init__(self, request, start_time):
        HttpMessageHandler.__init__(self)
        self.request = request
        self.req_linter = request.linter(start_time)
        self.start_time = start_time
        self.head = request.method == "HEAD"
        self.responses = []      # [(status line, head bytes, linter)]
        self.current = None
        self.done = False
        self.errors = []         # framing errors found by the parser

    def input_start(self, top_line, hdr_tuples, conn_tokens, transfer_codes, content_length):
        m = re.fullmatch(rb"HTTP/(\d\.\d) (\d{3})(?: (.*))?", top_line)
        if not m:
            self.errors.append("bad status line %r" % top_line)
            raise ValueError(top_line)
        version, code, phrase = m.group(1), m.group(2), m.group(3) or b""
        # The exchange "happened" when the answer arrived: its Date is the time
        # the server wrote it, which for the 408 case is 10 s after the request.
        linter = HttpResponseLinter(start_time=time.time(), _related=self.req_linter)
        linter.is_head_response = self.head
        linter.process_response_topline(version, code, phrase)
        linter.process_headers(hdr_tuples)
        status = int(code)
        head = top_line + b"\r\n" + b"".join(n + b":" + v + b"\r\n" for n, v in hdr_tuples)
        self.responses.append((top_line.decode("latin-1"), head, linter))
        if 100 <= status < 200:  # interim: no content, the final answer follows
            linter.finish_content(True)
            return False, False
        self.current = linter
        return not (self.head or status in (204, 304)), True

    def input_body(self, chunk):
        self.current.feed_content(chunk)

    def input_end(self, trailers):
        self.current.finish_content(True, trailers)
        self.done = True
        self._input_state = States.QUIET  # anything more is an error

    def input_error(self, err, close=True):
        detail = (": %s" % err.detail) if getattr(err, "detail", None) else ""
        self.errors.append("framing: %s%s" % (err.desc, detail))

    def input_extra_data(self, inbytes):
        self.errors.append("bytes after the end of the response: %r" % inbytes[:200])

    def eof(self):
        """The server closed the connection."""
        if self.done:
            return
        if self._input_state == States.HEADERS_DONE and self._input_delimit == Delimiters.CLOSE:
            self.input_end([])
        elif not self.errors:
            self.errors.append("connection closed before the response was complete")

    def output(self, data):
        pass

    def output_done(self):
        pass


def exchange(port, request, send_delay=None):
    """Sends the request on a new connection; returns (parser, raw bytes)."""
    start = time.time()
    parser = ResponseParser(request, start)
    raw = b""
    deadline = time.monotonic() + IO_TIMEOUT
    sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    try:
        try:
            sock.sendall(request.raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (413, 431) and close before reading it all
        while not parser.done and not parser.errors:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                parser.errors.append("no complete response within %.0f s" % IO_TIMEOUT)
                break
            sock.settimeout(remaining)
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            except socket.timeout:
                continue
            if not data:
                parser.eof()
                break
            raw += data
            parser.handle_input(data)
    finally:
        sock.close()
    return parser, raw


# ---------------------------------------------------------------------------
# The cases.
# ---------------------------------------------------------------------------

class Case:
    """One request, the status code its answer must have, and the httplint
    notes of level "bad" that this answer is expected to get (by class name):
    only notes that describe the status code itself, which the case provokes
    on purpose, never a note about the message's syntax or framing."""

    def __init__(self, name, request, status, no_response=False, expect_bad=()):
        self.name, self.request, self.status = name, request, status
        self.no_response = no_response
        self.expect_bad = set(expect_bad)


# httplint files these two status codes themselves under "bad" (a fixed note
# per status code, with no condition on the message): the answer is exactly
# what RFC 9110 asks for a request line over the limit / an HTTP/2.0 request
# line, and the cases send those on purpose.
URI_TOO_LONG = "STATUS_URI_TOO_LONG"
VERSION_NOT_SUPPORTED = "STATUS_VERSION_NOT_SUPPORTED"


def G(target, headers=(), **kw):
    return Request("GET", target, headers, **kw)


def file_etag(port, path):
    """The ETag the demo gives `path` (for the 304 cases)."""
    parser, raw = exchange(port, Request("HEAD", path))
    for _, _, linter in parser.responses:
        for name, value in linter.headers.text:
            if name.lower() == "etag":
                return value
    raise AssertionError("no ETag on HEAD %s: %r" % (path, raw[:300]))


def last_modified(port, path):
    parser, raw = exchange(port, Request("HEAD", path))
    for _, _, linter in parser.responses:
        for name, value in linter.headers.text:
            if name.lower() == "last-modified":
                return value
    raise AssertionError("no Last-Modified on HEAD %s: %r" % (path, raw[:300]))


def cases(port):
    form = [("Content-Type", "application/x-www-form-urlencoded")]
    chunked = [("Transfer-Encoding", "chunked")]
    css_etag = file_etag(port, "/static/style.css")
    js_etag = file_etag(port, "/download")
    css_lm = last_modified(port, "/static/style.css")
    css_len = os.path.getsize(os.path.join(WWW, "style.css"))
    upload = bytes(range(256)) * 64
    long_target = "/" + "a" * 17000
    many_headers = [("X-Many-%d" % i, "1") for i in range(70)]
    big_header = [("X-Big", "b" * 17000)]
    return [
        # --- the index, and what the library answers by itself ---
        Case("GET /", G("/"), 200),
        Case("HEAD /", Request("HEAD", "/"), 200),
        Case("OPTIONS /text (204 + Allow)", Request("OPTIONS", "/text"), 204),
        Case("POST /text (405 + Allow)", Request("POST", "/text", body=b"x"), 405),
        Case("DELETE /static/style.css (405)", Request("DELETE", "/static/style.css"), 405),
        Case("GET /nope (404)", G("/nope"), 404),
        Case("HTTP/1.0 GET /text", G("/text", version="HTTP/1.0", host=False), 200),
        Case("HTTP/1.0 keep-alive GET /text",
             G("/text", [("Connection", "keep-alive")], version="HTTP/1.0", host=False), 200),
        # --- the ASGI-style seed ---
        Case("GET /resp-head (418, cookie)", G("/resp-head"), 418),
        Case("GET /text", G("/text"), 200),
        Case("HEAD /text", Request("HEAD", "/text"), 200),
        Case("GET /bytes", G("/bytes"), 200),
        Case("GET /json", G("/json"), 200),
        Case("GET /template", G("/template"), 200),
        Case("GET /chain (Secure cookie)", G("/chain"), 200),
        Case("GET /redirect/internal (302)", G("/redirect/internal"), 302),
        Case("GET /redirect/external (302)", G("/redirect/external"), 302),
        Case("GET /generator (chunked)", G("/generator"), 200),
        Case("HTTP/1.0 GET /generator (close-delimited)",
             G("/generator", version="HTTP/1.0", host=False), 200),
        Case("HEAD /generator", Request("HEAD", "/generator"), 200),
        # --- answering later ---
        Case("GET /sse (page)", G("/sse"), 200),
        Case("GET /sse/clock?n=2 (events)", G("/sse/clock?n=2"), 200),
        Case("HTTP/1.0 GET /sse/clock?n=1", G("/sse/clock?n=1", version="HTTP/1.0", host=False),
             200),
        Case("GET /sse/clock?n=0 (400)", G("/sse/clock?n=0"), 400),
        Case("GET /job (deferred JSON)", G("/job"), 200),
        # --- the micro_Route seed ---
        Case("GET /send-header (custom reason)", G("/send-header"), 200),
        Case("GET /stream (resp_send x3)", G("/stream"), 200),
        Case("GET /mime (application/xml)", G("/mime"), 200),
        Case("GET /admin (resp_abort 403)", G("/admin"), 403),
        Case("GET /close (no response)", G("/close"), None, no_response=True),
        Case("GET /client-fd", G("/client-fd"), 200),
        Case("GET /moved (301)", G("/moved"), 301),
        # --- the request API ---
        Case("GET /users/42", G("/users/42"), 200),
        Case("GET /users/a%20b", G("/users/a%20b"), 200),
        Case("GET /search?q=micro+route", G("/search?q=micro+route"), 200),
        Case("GET /search (400)", G("/search"), 400),
        Case("GET /headers (chunked)", G("/headers", [("X-Demo", "1")]), 200),
        Case("GET /cookie (sets one)", G("/cookie"), 200),
        Case("GET /cookie (has one)", G("/cookie", [("Cookie", "theme=light")]), 200),
        Case("GET /form", G("/form"), 200),
        Case("POST /form", Request("POST", "/form", form, b"name=C+programmer"), 200),
        Case("POST /form, not a form (400)",
             Request("POST", "/form", [("Content-Type", "text/plain")], b"name=x"), 400),
        Case("POST /echo (JSON)", Request("POST", "/echo", [("Content-Type", "application/json")],
                                          b'{"ok": true}'), 200),
        Case("POST /echo (chunked request)",
             Request("POST", "/echo", chunked, b"5\r\nhello\r\n0\r\n\r\n"), 200),
        Case("POST /echo, Expect: 100-continue (100, then 200)",
             Request("POST", "/echo", [("Content-Type", "text/plain"),
                                       ("Expect", "100-continue")], b"hello"), 200),
        Case("POST /echo, body over max_body_bytes (413)",
             Request("POST", "/echo", [("Content-Type", "application/octet-stream"),
                                       ("Content-Length", str(2 << 20))], b""), 413),
        Case("POST /upload (16 KiB, streamed)",
             Request("POST", "/upload", [("Content-Type", "application/octet-stream")], upload),
             200),
        # --- files: server_static_ex on c_examples/www ---
        Case("GET /static (301 to the slash)", G("/static"), 301),
        Case("GET /static/ (index.html)", G("/static/"), 200),
        Case("GET /static/index.html", G("/static/index.html"), 200),
        Case("GET /static/style.css", G("/static/style.css"), 200),
        Case("HEAD /static/style.css", Request("HEAD", "/static/style.css"), 200),
        Case("GET /static/app.js", G("/static/app.js"), 200),
        Case("GET /static/app.js, gzip accepted (the .gz twin)",
             G("/static/app.js", [("Accept-Encoding", "gzip, br")]), 200),
        Case("GET /static/img/logo.png", G("/static/img/logo.png"), 200),
        Case("GET /static/style.css If-None-Match (304)",
             G("/static/style.css", [("If-None-Match", css_etag)]), 304),
        Case("GET /static/style.css If-Modified-Since (304)",
             G("/static/style.css", [("If-Modified-Since", css_lm)]), 304),
        Case("GET /static/style.css Range: bytes=0-9 (206)",
             G("/static/style.css", [("Range", "bytes=0-9")]), 206),
        Case("GET /static/style.css Range: bytes=-5 (206)",
             G("/static/style.css", [("Range", "bytes=-5")]), 206),
        Case("GET /static/style.css If-Range (etag) + Range (206)",
             G("/static/style.css", [("Range", "bytes=1-2"), ("If-Range", css_etag)]), 206),
        Case("GET /static/style.css two ranges (200, whole)",
             G("/static/style.css", [("Range", "bytes=0-1,4-5")]), 200),
        Case("GET /static/style.css Range beyond the end (416)",
             G("/static/style.css", [("Range", "bytes=%d-" % css_len)]), 416),
        Case("GET /static/img/ (403, no index)", G("/static/img/"), 403),
        Case("GET /static/nope.css (404)", G("/static/nope.css"), 404),
        Case("GET /static/%2e%2e/demo.c (400)", G("/static/%2e%2e/demo.c"), 400),
        # --- files: resp_send_file ---
        Case("GET /download (attachment)", G("/download"), 200),
        Case("HEAD /download", Request("HEAD", "/download"), 200),
        Case("GET /download Range (206)", G("/download", [("Range", "bytes=0-1")]), 206),
        Case("GET /download If-None-Match (304)",
             G("/download", [("If-None-Match", js_etag)]), 304),
        Case("GET /download/style.css", G("/download/style.css"), 200),
        Case("GET /download/img (403)", G("/download/img"), 403),
        Case("GET /download/nope.txt (404)", G("/download/nope.txt"), 404),
        Case("GET /download/..%2Fdemo.c (400)", G("/download/..%2Fdemo.c"), 400),
        # --- broken requests: the library's own error answers ---
        Case("no Host (400)", G("/text", host=False), 400),
        Case("two Host fields (400)", G("/text", [("Host", "other")]), 400),
        Case("bad chunk size (400)",
             Request("POST", "/echo", chunked, b"zz\r\nhello\r\n0\r\n\r\n"), 400),
        Case("Content-Length and Transfer-Encoding (400)",
             Request("POST", "/echo", [("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
                     b"0\r\n\r\n"), 400),
        Case("bare LF in the head (400)",
             Request("GET", "/text", raw=b"GET /text HTTP/1.1\nHost: 127.0.0.1\n\n"), 400),
        Case("request line over the limit (414)", G(long_target), 414,
             expect_bad=[URI_TOO_LONG]),
        Case("70 header fields (431)", G("/text", many_headers), 431),
        Case("a 17 KB header field (431)", G("/text", big_header), 431),
        Case("unknown method (501)", Request("BREW", "/text"), 501),
        Case("unknown transfer coding (501)",
             Request("POST", "/echo", [("Transfer-Encoding", "gzip, chunked")], b"0\r\n\r\n"), 501),
        Case("HTTP/2.0 (505)", G("/text", version="HTTP/2.0"), 505,
             expect_bad=[VERSION_NOT_SUPPORTED]),
    ]


def slow_case():
    """Header timeout (10 s): a head that never ends. Run beside the others."""
    return Case("head never finished (408)",
                Request("GET", "/text", raw=b"GET /text HTTP/1.1\r\nHost: 127.0.0.1\r\n"), 408)


# ---------------------------------------------------------------------------
# Running them.
# ---------------------------------------------------------------------------

def show_head(head):
    return "\n".join("        | " + line for line in head.decode("latin-1").split("\r\n") if line)


def run_case(port, case, verbose):
    """Returns (ok, text to print)."""
    out = []
    try:
        parser, raw = exchange(port, case.request)
    except OSError as e:
        return False, "FAIL %s: %s: %s" % (case.name, type(e).__name__, e)
    if case.no_response:
        if raw:
            return False, "FAIL %s: expected no response, got %r" % (case.name, raw[:200])
        return True, "ok   %s (closed without a response, nothing to lint)" % case.name
    ok = True
    problems = list(parser.errors)
    final = parser.responses[-1] if parser.responses else None
    if final is None:
        problems.append("no response")
    elif case.status is not None and not final[0].startswith("HTTP/1.1 %d" % case.status):
        problems.append("status line %r, expected %d (not the answer this case lints)"
                        % (final[0], case.status))
    lines = []
    for status_line, head, linter in parser.responses:
        for note in linter.notes:
            for n, depth in [(note, 0)] + [(s, 1) for s in note.subnotes]:
                if n.level == levels.BAD and type(n).__name__ in case.expect_bad:
                    lines.append("    %s[bad, expected: the status code's own note] %s (%s)"
                                 % ("  " * depth, n.summary, type(n).__name__))
                elif n.level == levels.BAD:
                    ok = False
                    lines.append("    %s[BAD] %s (%s)" % ("  " * depth, n.summary,
                                                        type(n).__name__))
                elif n.level == levels.WARN or verbose:
                    lines.append("    %s[%s] %s (%s)" % ("  " * depth, n.level.value, n.summary,
                                                       type(n).__name__))
    if problems:
        ok = False
    status = final[0] if final else "(none)"
    out.append("%-4s %s -> %s" % ("ok" if ok else "FAIL", case.name, status))
    out += ["    [error] %s" % p for p in problems]
    out += lines
    if not ok or verbose:
        for status_line, head, linter in parser.responses:
            out.append("    head:")
            out.append(show_head(head))
    return ok, "\n".join(out)


def start_demo(cmd):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err_lines = []
    threading.Thread(target=lambda: err_lines.extend(proc.stderr), daemon=True).start()
    box = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    line = box[0].decode(errors="replace") if box else ""
    m = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", line)
    if not m:
        stop_demo(proc)
        sys.stderr.write("the demo did not say 'listening on 127.0.0.1:PORT' (got %r)\n%s"
                         % (line, b"".join(err_lines).decode(errors="replace")))
        sys.exit(1)
    return proc, int(m.group(1)), err_lines


def stop_demo(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("demo", nargs="+", help="the demo's command line (a wrapper may come first)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every note and head")
    ap.add_argument("--only", help="run only the cases whose name contains this")
    ap.add_argument("--no-slow", action="store_true", help="skip the 10 s header-timeout case")
    args = ap.parse_args()

    import httplint  # noqa: already imported; for the version
    version = getattr(httplint, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as dist_version
            version = dist_version("httplint")
        except Exception:  # pragma: no cover
            version = "?"
    print("httplint", version, flush=True)

    proc, port, err_lines = start_demo(args.demo + ["--fast", "--port", "0"])
    print("demo listens on port", port, flush=True)
    results = []
    try:
        all_cases = cases(port)
        slow = None if args.no_slow else slow_case()
        if args.only:
            all_cases = [c for c in all_cases if args.only in c.name]
            if slow and args.only not in slow.name:
                slow = None
        slow_result = []
        slow_thread = None
        if slow:
            slow_thread = threading.Thread(
                target=lambda: slow_result.append(run_case(port, slow, args.verbose)), daemon=True)
            slow_thread.start()
        for case in all_cases:
            ok, text = run_case(port, case, args.verbose)
            print(text, flush=True)
            results.append(ok)
        if slow_thread:
            slow_thread.join(IO_TIMEOUT + 5)
            ok, text = slow_result[0] if slow_result else (False, "FAIL %s: hung" % slow.name)
            print(text, flush=True)
            results.append(ok)
    finally:
        stop_demo(proc)
    failed = results.count(False)
    if failed:
        sys.stderr.write("---- demo stderr (last 40 lines) ----\n")
        sys.stderr.write(b"".join(err_lines[-40:]).decode(errors="replace"))
    print("%d passed, %d failed" % (results.count(True), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
