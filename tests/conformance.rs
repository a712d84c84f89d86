//! `conformance/CASES.md` over real sockets: rows 1–92 (everything but the
//! static-file rows 93–98) and every payload of
//! `conformance/garden_trophy_payloads.txt`.
//!
//! Each table case is sent whole AND one byte per write. For each delivery
//! the test checks the exact status line (and the exact head of library
//! error pages), what the handler saw, that the connection closes within
//! 1 s when the row says so (or still carries a request when it does not),
//! and that a fresh connection afterwards still gets 200.
//!
//! Where CASES.md allows several reactions the implementation takes the
//! strict one; the tables assert exactly that one.
mod common;
use common::*;

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io::{BufRead, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the tables wait for the server to close: CASES.md asks for 1 s.
/// The server half-closes at once (milliseconds); `close_is_signalled_at_once`
/// checks that promptness more tightly on its own.
const CLOSE_WITHIN: Duration = Duration::from_secs(1);

/// Bytewise delivery sends this much one byte per write, the rest (of the
/// 64-128 KiB inputs) in one write: every limit the server checks (16 KiB
/// heads, 1 KiB chunk lines, 16 KiB extensions and trailers) falls inside.
const BYTEWISE_PREFIX: usize = 32 * 1024;

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

/// What handlers saw, one line per call.
struct Recorder {
    seen: Mutex<Vec<String>>,
}

impl Recorder {
    fn new() -> &'static Recorder {
        Box::leak(Box::new(Recorder {
            seen: Mutex::new(Vec::new()),
        }))
    }
    fn push(&self, s: String) {
        self.seen.lock().unwrap().push(s);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
    fn ud(&'static self) -> *mut c_void {
        self as *const Recorder as *mut c_void
    }
}

/// Printable ASCII as is, everything else as `\r`, `\n`, `\xNN`.
fn esc(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

fn cbytes(p: *const c_char) -> Option<Vec<u8>> {
    if p.is_null() {
        None
    } else {
        // SAFETY: the library returns NUL-terminated strings valid during the handler.
        Some(unsafe { CStr::from_ptr(p) }.to_bytes().to_vec())
    }
}

fn opt(p: *const c_char) -> String {
    cbytes(p).map_or_else(|| "-".to_string(), |b| esc(&b))
}

/// Reads the whole body (req_body), then reports what the request looked
/// like: `METHOD /path?q v=11 host=.. te=.. cl=.. | h Name: value | ... | body N:bytes`.
/// Headers are read after the body, so trailers merged into them would show.
unsafe extern "C" fn h_report(req: *mut mr_req, resp: *mut mr_resp, ud: *mut c_void) -> c_int {
    // SAFETY: `ud` is a leaked Recorder.
    let rec = unsafe { &*(ud as *const Recorder) };
    let method = opt(req_method(req));
    let path = opt(req_path(req));
    let mut len = 0usize;
    let body = req_body(req, &mut len);
    if body.is_null() {
        rec.push(format!("{method} {path} BODY-ERROR"));
        return 1;
    }
    // SAFETY: req_body returned `len` readable bytes.
    let body = unsafe { std::slice::from_raw_parts(body, len) };
    let mut out = format!("{method} {path}");
    let q = cbytes(req_query(req)).unwrap_or_default();
    if !q.is_empty() {
        out.push('?');
        out.push_str(&esc(&q));
    }
    out.push_str(&format!(
        " v={} host={} te={} cl={}",
        req_http_version(req),
        opt(req_host(req)),
        opt(req_header(req, c"Transfer-Encoding".as_ptr())),
        opt(req_header(req, c"Content-Length".as_ptr())),
    ));
    for i in 0..req_header_count(req) {
        let mut n: *const c_char = std::ptr::null();
        let mut v: *const c_char = std::ptr::null();
        if req_header_at(req, i, &mut n, &mut v) == MR_OK {
            out.push_str(&format!(" | h {}: {}", opt(n), opt(v)));
        }
    }
    out.push_str(&format!(" | body {}:{}", len, esc(body)));
    rec.push(out.clone());
    let c = CString::new(out).unwrap();
    resp_set_text(resp, c.as_ptr())
}

/// Answers without touching the body.
unsafe extern "C" fn h_ignore(req: *mut mr_req, resp: *mut mr_resp, ud: *mut c_void) -> c_int {
    // SAFETY: `ud` is a leaked Recorder.
    let rec = unsafe { &*(ud as *const Recorder) };
    rec.push(format!("IGNORED {} {}", opt(req_method(req)), opt(req_path(req))));
    resp_set_text(resp, c"ignored".as_ptr())
}

/// Streams "hello world" in two resp_send calls (length unknown).
unsafe extern "C" fn h_stream(_req: *mut mr_req, resp: *mut mr_resp, _ud: *mut c_void) -> c_int {
    let a = resp_send(resp, b"hello".as_ptr().cast(), 5);
    let b = resp_send(resp, b" world".as_ptr().cast(), 6);
    if a == MR_OK && b == MR_OK {
        0
    } else {
        1
    }
}

fn table_server() -> (Running, &'static Recorder) {
    let rec = Recorder::new();
    let srv = start(|s| {
        for p in ["/", "/x", "/y", "/a", "/b"] {
            route(s, "*", p, h_report, rec.ud());
        }
        route(s, "*", "/ignore", h_ignore, rec.ud());
        route(s, "GET", "/status", h_ok, std::ptr::null_mut());
        route(s, "GET", "/health", h_ok, std::ptr::null_mut());
        route(s, "GET", "/stream", h_stream, std::ptr::null_mut());
    });
    (srv, rec)
}

// ---------------------------------------------------------------------------
// Expected reactions
// ---------------------------------------------------------------------------

fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// The exact head (without Date) of an error page the library sends before
/// closing: 400+C, 413, 431, 501, ...
fn lib_error_head(code: u16) -> String {
    let body = lib_error_body(code);
    format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(code),
        body.len()
    )
}

fn lib_error_body(code: u16) -> String {
    format!("{code} {}\n", reason(code))
}

#[derive(Clone, Default, Debug)]
struct Exp {
    status: u16,
    /// A response to HEAD: no body follows.
    head: bool,
    /// A library error page with `Connection: close`, compared exactly.
    lib_error: bool,
    contains: Vec<String>,
    absent: Vec<String>,
    /// (name, Some(value)) must be equal; (name, None) must be present.
    headers: Vec<(String, Option<String>)>,
    no_headers: Vec<String>,
    exact_head: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum End {
    /// The connection stays usable: a follow-up request gets 200.
    Open,
    /// The last response says `Connection: close` and the socket closes.
    Close,
    /// The socket closes; the last response was complete before the
    /// server found it must close (no `Connection: close` required).
    CloseQuiet,
}

#[derive(Clone, Debug)]
struct Case {
    row: &'static str,
    what: String,
    input: Vec<u8>,
    /// Half-close the client's side after sending.
    fin: bool,
    exps: Vec<Exp>,
    end: End,
    /// Substrings of what the handlers recorded, one per handler call, in order.
    seen: Option<Vec<String>>,
}

impl Case {
    fn new(row: &'static str, what: impl Into<String>, input: impl AsRef<[u8]>) -> Case {
        Case {
            row,
            what: what.into(),
            input: input.as_ref().to_vec(),
            fin: false,
            exps: Vec::new(),
            end: End::Open,
            seen: None,
        }
    }
    /// A library error page, then close (400+C and friends).
    fn rej(mut self, code: u16) -> Case {
        self.exps.push(Exp {
            status: code,
            lib_error: true,
            ..Exp::default()
        });
        self.end = End::Close;
        self
    }
    /// 200 whose body contains `s`; the connection stays open.
    fn ok(self, s: &str) -> Case {
        self.resp(200, s)
    }
    fn resp(mut self, code: u16, s: &str) -> Case {
        self.exps.push(Exp {
            status: code,
            contains: vec![s.to_string()],
            ..Exp::default()
        });
        self.end = End::Open;
        self
    }
    fn head_ok(mut self) -> Case {
        self.exps.push(Exp {
            status: 200,
            head: true,
            ..Exp::default()
        });
        self.end = End::Open;
        self
    }
    fn last(&mut self) -> &mut Exp {
        self.exps.last_mut().expect("an expected response first")
    }
    fn contains(mut self, s: &str) -> Case {
        self.last().contains.push(s.to_string());
        self
    }
    fn absent(mut self, s: &str) -> Case {
        self.last().absent.push(s.to_string());
        self
    }
    fn hdr(mut self, n: &str, v: &str) -> Case {
        self.last().headers.push((n.to_string(), Some(v.to_string())));
        self
    }
    fn has_hdr(mut self, n: &str) -> Case {
        self.last().headers.push((n.to_string(), None));
        self
    }
    fn no_hdr(mut self, n: &str) -> Case {
        self.last().no_headers.push(n.to_string());
        self
    }
    fn exact(mut self, head: &str) -> Case {
        self.last().exact_head = Some(head.to_string());
        self
    }
    fn then_close(mut self) -> Case {
        self.end = End::Close;
        self
    }
    fn then_close_quiet(mut self) -> Case {
        self.end = End::CloseQuiet;
        self
    }
    fn fin(mut self) -> Case {
        self.fin = true;
        self
    }
    fn seen(mut self, s: &[&str]) -> Case {
        self.seen = Some(s.iter().map(|x| x.to_string()).collect());
        self
    }
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Whole,
    Bytewise,
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

fn deliver(c: &mut Client, input: &[u8], mode: Mode) {
    match mode {
        // The server may close before it has read everything: not an error.
        Mode::Whole => {
            let _ = c.s.write_all(input);
        }
        Mode::Bytewise => {
            let n = input.len().min(BYTEWISE_PREFIX);
            send_bytewise(&mut c.s, &input[..n]);
            let _ = c.s.write_all(&input[n..]);
        }
    }
}

fn check_response(i: usize, r: &Resp, e: &Exp) -> Result<(), String> {
    let line = format!("HTTP/1.1 {} {}\r\n", e.status, reason(e.status));
    if !r.raw_head.starts_with(&line) {
        return Err(format!(
            "response #{}: expected status line {:?}, got head {:?} body {:?}",
            i + 1,
            line.trim_end(),
            r.raw_head,
            esc(&r.body)
        ));
    }
    if e.lib_error {
        let want = lib_error_head(e.status);
        if r.head_without_date() != want || r.body != lib_error_body(e.status).as_bytes() {
            return Err(format!(
                "response #{}: expected exactly {:?} + {:?}, got {:?} + {:?}",
                i + 1,
                want,
                lib_error_body(e.status),
                r.head_without_date(),
                esc(&r.body)
            ));
        }
    }
    if let Some(h) = &e.exact_head {
        if &r.head_without_date() != h {
            return Err(format!(
                "response #{}: expected head {h:?}, got {:?}",
                i + 1,
                r.head_without_date()
            ));
        }
    }
    let text = r.text();
    for s in &e.contains {
        if !text.contains(s.as_str()) {
            return Err(format!("response #{}: body {text:?} does not contain {s:?}", i + 1));
        }
    }
    for s in &e.absent {
        if text.contains(s.as_str()) {
            return Err(format!("response #{}: body {text:?} contains {s:?}", i + 1));
        }
    }
    for (n, v) in &e.headers {
        match (r.header(n), v) {
            (None, _) => return Err(format!("response #{}: no {n} header in {:?}", i + 1, r.raw_head)),
            (Some(got), Some(want)) if got != want => {
                return Err(format!("response #{}: {n}: {got:?}, expected {want:?}", i + 1))
            }
            _ => {}
        }
    }
    for n in &e.no_headers {
        if r.header(n).is_some() {
            return Err(format!(
                "response #{}: unexpected {n} header in {:?}",
                i + 1,
                r.raw_head
            ));
        }
    }
    if e.head && !r.body.is_empty() {
        return Err(format!("response #{}: body on a HEAD response", i + 1));
    }
    Ok(())
}

fn run_case_once(port: u16, rec: &Recorder, case: &Case, mode: Mode) -> Result<(), String> {
    rec.take();
    let mut c = Client::new(port);
    deliver(&mut c, &case.input, mode);
    if case.fin {
        shutdown_write(&c.s);
    }
    let mut last: Option<Resp> = None;
    for (i, e) in case.exps.iter().enumerate() {
        let r = try_response(&mut c.s, &mut c.buf, e.head).ok_or_else(|| {
            format!(
                "response #{} (want {}) missing: connection ended (left over: {:?})",
                i + 1,
                e.status,
                esc(&c.buf)
            )
        })?;
        check_response(i, &r, e)?;
        last = Some(r);
    }
    match case.end {
        End::Close | End::CloseQuiet => {
            if case.end == End::Close {
                let conn = last.as_ref().and_then(|r| r.header("Connection").map(str::to_string));
                if conn.as_deref() != Some("close") {
                    return Err(format!("last response lacks `Connection: close` (has {conn:?})"));
                }
            }
            if !c.closed_within(CLOSE_WITHIN) {
                return Err(format!(
                    "connection not closed within {CLOSE_WITHIN:?} (extra bytes: {:?})",
                    esc(&c.buf)
                ));
            }
        }
        End::Open => {
            if let Some(conn) = last.as_ref().and_then(|r| r.header("Connection")) {
                if conn.eq_ignore_ascii_case("close") {
                    return Err("connection announced close, expected it to stay open".into());
                }
            }
            c.send(b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n");
            let r = try_response(&mut c.s, &mut c.buf, false)
                .ok_or("follow-up request on the same connection: connection ended")?;
            if r.status != 200 || r.body != b"ok" {
                return Err(format!(
                    "follow-up request on the same connection got {} {:?} (framing desync?)",
                    r.status,
                    r.text()
                ));
            }
        }
    }
    if let Some(want) = &case.seen {
        let got = rec.take();
        let ok = got.len() == want.len() && got.iter().zip(want).all(|(g, w)| g.contains(w.as_str()));
        if !ok {
            return Err(format!("handlers saw {got:#?}, expected (substrings) {want:?}"));
        }
    }
    assert_healthy(port);
    Ok(())
}

/// Runs every case whole and bytewise on one server; fails once at the end
/// with every failing case listed.
fn run_table(section: &str, cases: Vec<Case>) {
    let (srv, rec) = table_server();
    let mut failures = Vec::new();
    for case in &cases {
        for mode in [Mode::Whole, Mode::Bytewise] {
            let r = catch_unwind(AssertUnwindSafe(|| run_case_once(srv.port, rec, case, mode)));
            let err = match r {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e,
                Err(p) => format!("panicked: {}", panic_text(p)),
            };
            failures.push(format!(
                "row {} [{}] ({:?}) input {:?}:\n    {}",
                case.row,
                case.what,
                mode,
                truncate(&esc(&case.input), 200),
                err
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{section}: {} of {} deliveries failed:\n{}",
        failures.len(),
        cases.len() * 2,
        failures.join("\n")
    );
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        format!("{}...({} chars)", &s[..n], s.len())
    }
}

// ---------------------------------------------------------------------------
// Input builders
// ---------------------------------------------------------------------------

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// `POST / HTTP/1.1`, Host: a, `extra` header lines (each ending in CRLF), body.
fn post(extra: &[u8], body: &[u8]) -> Vec<u8> {
    cat(&[b"POST / HTTP/1.1\r\nHost: a\r\n", extra, b"\r\n", body])
}

fn post_to(path: &str, extra: &[u8], body: &[u8]) -> Vec<u8> {
    cat(&[
        format!("POST {path} HTTP/1.1\r\nHost: a\r\n").as_bytes(),
        extra,
        b"\r\n",
        body,
    ])
}

/// `GET / HTTP/1.1`, Host: a, then `extra` header lines.
fn get(extra: &[u8]) -> Vec<u8> {
    cat(&[b"GET / HTTP/1.1\r\nHost: a\r\n", extra, b"\r\n"])
}

/// A chunked POST / with `body` as the chunk stream.
fn chunked(body: &[u8]) -> Vec<u8> {
    post(b"Transfer-Encoding: chunked\r\n", body)
}

const GET_X: &[u8] = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
const HELLO_CHUNKED: &[u8] = b"5\r\nhello\r\n0\r\n\r\n";

// ---------------------------------------------------------------------------
// Rows 1–14: Content-Length
// ---------------------------------------------------------------------------

#[test]
fn rows_01_14_content_length() {
    let mut v = vec![
        Case::new(
            "1",
            "CL then TE",
            post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n"),
        )
        .rej(400)
        .seen(&[]),
        Case::new(
            "1",
            "TE then CL",
            post(b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n"),
        )
        .rej(400)
        .seen(&[]),
        Case::new(
            "2",
            "CL 5 and CL 10",
            post(b"Content-Length: 5\r\nContent-Length: 10\r\n", b"hello"),
        )
        .rej(400)
        .seen(&[]),
        Case::new(
            "3",
            "CL 5 twice",
            post(b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"),
        )
        .rej(400)
        .seen(&[]),
        Case::new("3", "CL 5, 5", post(b"Content-Length: 5, 5\r\n", b"hello"))
            .rej(400)
            .seen(&[]),
        Case::new("4", "CL +5", post(b"Content-Length: +5\r\n", b"hello"))
            .rej(400)
            .seen(&[]),
    ];
    for bad in ["-48", "-1", "-0"] {
        v.push(
            Case::new(
                "5",
                format!("CL {bad}"),
                post(format!("Content-Length: {bad}\r\n").as_bytes(), b"hello"),
            )
            .rej(400)
            .seen(&[]),
        );
    }
    for bad in ["0x5", "0o5", "1_0", "1 0", "1Z", "5a"] {
        v.push(
            Case::new(
                "6",
                format!("CL {bad}"),
                post(format!("Content-Length: {bad}\r\n").as_bytes(), b"hello"),
            )
            .rej(400)
            .seen(&[]),
        );
    }
    v.extend([
        Case::new("7", "empty CL", post(b"Content-Length: \r\n", b"hello"))
            .rej(400)
            .seen(&[]),
        Case::new(
            "7",
            "empty CL then CL 5",
            post(b"Content-Length: \r\nContent-Length: 5\r\n", b"hello"),
        )
        .rej(400)
        .seen(&[]),
        Case::new(
            "8",
            "CL overflow",
            post(b"Content-Length: 99999999999999999999999\r\n", b"hello"),
        )
        .rej(400)
        .seen(&[]),
        // Above max_body (1 MiB): 413 at once, nothing of the body sent.
        Case::new("8", "CL above max_body", post(b"Content-Length: 2000000\r\n", b""))
            .rej(413)
            .seen(&["POST / BODY-ERROR"]),
        Case::new("9", "CL 005 is decimal 5", post(b"Content-Length: 005\r\n", b"hello"))
            .ok("body 5:hello")
            .seen(&["cl=005"]),
        Case::new("10", "huge CL, no body", post(b"Content-Length: 999999999\r\n", b""))
            .rej(413)
            .seen(&["POST / BODY-ERROR"]),
        // A handler that ignores the body answers; the body is over the
        // drain limit, so the connection closes.
        Case::new(
            "10",
            "huge CL, handler ignores body",
            post_to("/ignore", b"Content-Length: 999999999\r\n", b""),
        )
        .resp(200, "ignored")
        .then_close()
        .seen(&["IGNORED POST /ignore"]),
        Case::new("11", "CL 10, 5 bytes, FIN", post(b"Content-Length: 10\r\n", b"hello"))
            .fin()
            .rej(400)
            .seen(&["POST / BODY-ERROR"]),
        Case::new(
            "11",
            "CL 10, 5 bytes, FIN, handler ignores",
            post_to("/ignore", b"Content-Length: 10\r\n", b"hello"),
        )
        .fin()
        .resp(200, "ignored")
        .then_close_quiet()
        .seen(&["IGNORED POST /ignore"]),
        Case::new(
            "12",
            "GET with body, then pipelined GET /x",
            cat(&[b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", GET_X]),
        )
        .ok("GET / v=11")
        .contains("body 5:hello")
        .ok("GET /x v=11")
        .seen(&["GET / v=11", "GET /x v=11"]),
        Case::new(
            "12",
            "GET with body the handler ignores, then GET /x",
            cat(&[
                b"GET /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
                GET_X,
            ]),
        )
        .ok("ignored")
        .ok("GET /x v=11")
        .contains("body 0:")
        .seen(&["IGNORED GET /ignore", "GET /x v=11"]),
        Case::new("13", "POST without CL/TE, data after", post(b"", b"hello\r\n\r\n"))
            .ok("POST / v=11")
            .contains("body 0:")
            .rej(400)
            .seen(&["POST / v=11"]),
        Case::new("13", "POST without CL/TE, request after", post(b"", GET_X))
            .ok("POST / v=11")
            .contains("body 0:")
            .ok("GET /x v=11")
            .seen(&["body 0:", "GET /x"]),
        Case::new(
            "14",
            "HEAD with CL body, then GET /x",
            cat(&[b"HEAD / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n1234", GET_X]),
        )
        .head_ok()
        .has_hdr("Content-Length")
        .ok("GET /x v=11")
        .seen(&["HEAD / v=11", "GET /x"]),
        Case::new(
            "14",
            "HEAD body read by the handler",
            cat(&[b"HEAD / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n1234", GET_X]),
        )
        .head_ok()
        .ok("GET /x")
        .seen(&["body 4:1234", "GET /x"]),
        Case::new(
            "14",
            "HEAD with CL body the handler ignores, then GET /x",
            cat(&[
                b"HEAD /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n1234",
                GET_X,
            ]),
        )
        .head_ok()
        .ok("GET /x v=11")
        .seen(&["IGNORED HEAD /ignore", "GET /x"]),
    ]);
    run_table("rows 1-14 (Content-Length)", v);
}

// ---------------------------------------------------------------------------
// Rows 15–25: Transfer-Encoding
// ---------------------------------------------------------------------------

#[test]
fn rows_15_25_transfer_encoding() {
    let te = |v: &[u8]| cat(&[b"Transfer-Encoding: ", v, b"\r\n"]);
    let mut v = vec![
        Case::new("15", "chunked, gzip", post(&te(b"chunked, gzip"), b"0\r\n\r\n"))
            .rej(400)
            .seen(&[]),
    ];
    for coding in ["gzip", "xchunked", "identity", "blegh", "gzip, chunked"] {
        v.push(
            Case::new(
                "16",
                format!("TE {coding}"),
                post(&te(coding.as_bytes()), b"1\r\nZ\r\n0\r\n\r\n"),
            )
            .rej(501)
            .seen(&[]),
        );
    }
    v.extend([
        Case::new(
            "17",
            "TE chunked twice",
            post(
                b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                HELLO_CHUNKED,
            ),
        )
        .rej(400)
        .seen(&[]),
        Case::new("17", "chunked, chunked", post(&te(b"chunked, chunked"), HELLO_CHUNKED))
            .rej(400)
            .seen(&[]),
        Case::new(
            "18",
            "space before colon",
            post(b"Transfer-Encoding : chunked\r\n", HELLO_CHUNKED),
        )
        .rej(400)
        .seen(&[]),
    ]);
    for (what, val) in [
        ("VT", &b"\x0bchunked"[..]),
        ("FF", b"\x0cchunked"),
        ("NUL", b"chunked\x00"),
        ("NBSP", b"\xa0chunked\xa0"),
        ("NEL", b"\x85chunked"),
    ] {
        v.push(
            Case::new("19", format!("TE {what}"), post(&te(val), HELLO_CHUNKED))
                .rej(400)
                .seen(&[]),
        );
    }
    v.extend([
        Case::new("20", "TE Chunked", post(&te(b"Chunked"), HELLO_CHUNKED))
            .ok("body 5:hello")
            .seen(&["te=Chunked"]),
        Case::new(
            "20",
            "TE chunked + trailing SP",
            post(b"Transfer-Encoding: chunked \r\n", HELLO_CHUNKED),
        )
        .ok("body 5:hello")
        .seen(&["body 5:hello"]),
        Case::new(
            "20",
            "TE Chunked with CL",
            post(b"Transfer-Encoding: Chunked\r\nContent-Length: 5\r\n", HELLO_CHUNKED),
        )
        .rej(400)
        .seen(&[]),
        Case::new("21", "TE ,chunked", post(&te(b",chunked"), HELLO_CHUNKED))
            .ok("body 5:hello")
            .seen(&["body 5:hello"]),
        Case::new("22", "TE empty", post(b"Transfer-Encoding:\r\n", HELLO_CHUNKED))
            .rej(400)
            .seen(&[]),
        Case::new(
            "22",
            "TE empty with SP",
            post(b"Transfer-Encoding: \r\n", HELLO_CHUNKED),
        )
        .rej(400)
        .seen(&[]),
        Case::new(
            "23",
            "HTTP/1.0 with TE and CL",
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        )
        .rej(400)
        .seen(&[]),
        Case::new(
            "23",
            "HTTP/1.0 with TE",
            b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        )
        .rej(400)
        .seen(&[]),
        Case::new(
            "24",
            "Transfer_Encoding is not TE",
            post(b"Transfer_Encoding: chunked\r\nContent-Length: 5\r\n", b"hello"),
        )
        .ok("te=- cl=5")
        .contains("body 5:hello")
        .contains("h Transfer_Encoding: chunked")
        .seen(&["te=- cl=5"]),
        Case::new(
            "25",
            "TE name split by CRLF",
            post(b"Transfer-\r\nEncoding: chunked\r\n", HELLO_CHUNKED),
        )
        .rej(400)
        .seen(&[]),
    ]);
    run_table("rows 15-25 (Transfer-Encoding)", v);
}

// ---------------------------------------------------------------------------
// Rows 26–43: chunked bodies (read by the handler with req_body)
// ---------------------------------------------------------------------------

#[test]
fn rows_26_43_chunked_body() {
    let bad = |row, what: &str, body: &[u8]| {
        Case::new(row, what, chunked(body))
            .rej(400)
            .seen(&["POST / BODY-ERROR"])
    };
    let mut v = vec![
        Case::new("34", "valid two chunks", chunked(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"))
            .ok("body 11:hello world")
            .seen(&["te=chunked"]),
        bad("26", "0x5", b"0x5\r\nhello\r\n0\r\n\r\n"),
        bad("26", "+5", b"+5\r\nhello\r\n0\r\n\r\n"),
        bad("26", "-5", b"-5\r\nhello\r\n0\r\n\r\n"),
        bad("26", "1_0", b"1_0\r\n0123456789abcdef\r\n0\r\n\r\n"),
        bad("26", "leading SP", b" 5\r\nhello\r\n0\r\n\r\n"),
        bad("27", "empty chunk size", b"\r\n\r\n"),
        bad("28", "trailing SP, no extension", b"5 \r\nhello\r\n0\r\n\r\n"),
        bad("29", "17 hex digits", b"10000000000000000\r\nhello\r\n0\r\n\r\n"),
        // u64::MAX parses; checked against max_body it is 413.
        Case::new("29", "ffffffffffffffff", chunked(b"ffffffffffffffff\r\nhello\r\n0\r\n\r\n"))
            .rej(413)
            .seen(&["POST / BODY-ERROR"]),
        // Unread by the handler: the drain gives up and closes.
        Case::new(
            "29",
            "ffffffffffffffff, handler ignores, FIN",
            post_to("/ignore", b"Transfer-Encoding: chunked\r\n", b"ffffffffffffffff\r\nhello"),
        )
        .fin()
        .resp(200, "ignored")
        .then_close_quiet()
        .seen(&["IGNORED POST /ignore"]),
        bad("30", "bare LF after size", b"5\nhello\r\n0\r\n\r\n"),
        bad("31", "bare LF in extension", b"5;a\nb\r\nhello\r\n0\r\n\r\n"),
        bad("32", "NUL in extension", b"5;a\x00b\r\nhello\r\n0\r\n\r\n"),
        bad("32", "CTL in extension", b"5;\x01\r\nhello\r\n0\r\n\r\n"),
        bad("33", "bare ;", b"5;\r\nhello\r\n0\r\n\r\n"),
        bad("33", "invalid token", b"5;bad[=x\r\nhello\r\n0\r\n\r\n"),
        bad("33", "unbalanced quote", b"5;a=\"unbalanced\r\nhello\r\n0\r\n\r\n"),
        Case::new("34", "extension name=val", chunked(b"5;name=val\r\nhello\r\n0\r\n\r\n"))
            .ok("body 5:hello")
            .seen(&["body 5:hello"]),
        Case::new("34", "extension with BWS and quoted value", chunked(b"5 ; a=\"q\"\r\nhello\r\n0\r\n\r\n"))
            .ok("body 5:hello")
            .seen(&["body 5:hello"]),
        bad("36", "no CRLF after data", b"5\r\nhelloXX0\r\n\r\n"),
        bad("37", "data longer than size", b"5\r\nhello!!\r\n0\r\n\r\n"),
        bad("38", "bare CR in size line", b"5\r\r;ABCD\r\nhello\r\n0\r\n\r\n"),
        bad(
            "38",
            "bare CR after extension",
            &cat(&[b"41;a=b\r\r", &[b'X'; 65], b"\r\n0\r\n\r\n"]),
        ),
        Case::new("39", "no final chunk, FIN", chunked(b"5\r\nhello\r\n"))
            .fin()
            .rej(400)
            .seen(&["POST / BODY-ERROR"]),
        bad("40", "garbage then a request", b"INVALID!!!\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Case::new(
            "41",
            "framing and routing fields in trailers",
            cat(&[
                &chunked(b"5\r\nhello\r\n0\r\nContent-Length: 0\r\nTransfer-Encoding: x\r\nHost: evil\r\nAuthorization: secret\r\n\r\n"),
                GET_X,
            ]),
        )
        .ok("host=a te=chunked cl=-")
        .contains("body 5:hello")
        .absent("evil")
        .absent("secret")
        .absent("Authorization")
        .ok("GET /x v=11")
        .seen(&["host=a te=chunked cl=-", "GET /x"]),
    ];
    // Row 35: chunk extensions over the limits.
    let mut long_ext = Vec::new();
    for _ in 0..2 {
        long_ext.extend_from_slice(b"1;");
        long_ext.extend(std::iter::repeat_n(b'a', 64 * 1024));
        long_ext.extend_from_slice(b"\r\nX\r\n");
    }
    long_ext.extend_from_slice(b"0\r\n\r\n");
    v.push(bad("35", "64 KiB extension", &long_ext));
    let mut many_ext = Vec::new();
    for _ in 0..24 {
        many_ext.extend_from_slice(b"1;");
        many_ext.extend(std::iter::repeat_n(b'a', 900));
        many_ext.extend_from_slice(b"\r\nX\r\n");
    }
    many_ext.extend_from_slice(b"0\r\n\r\n");
    v.push(bad("35", "24 x 900 B extensions (> 16 KiB per message)", &many_ext));
    // Row 42: trailer limits (32 fields / 16 KiB accepted, more is 431).
    let trailers = |n: usize| {
        let mut t = b"5\r\nhello\r\n0\r\n".to_vec();
        for i in 0..n {
            t.extend_from_slice(format!("T{i}: v\r\n").as_bytes());
        }
        t.extend_from_slice(b"\r\n");
        t
    };
    v.push(
        Case::new("42", "32 trailer fields", chunked(&trailers(32)))
            .ok("body 5:hello")
            .seen(&["body 5:hello"]),
    );
    v.push(
        Case::new("42", "33 trailer fields", chunked(&trailers(33)))
            .rej(431)
            .seen(&["POST / BODY-ERROR"]),
    );
    let mut big = b"0\r\nT: ".to_vec();
    big.extend(std::iter::repeat_n(b'v', 16 * 1024));
    big.extend_from_slice(b"\r\n\r\n");
    v.push(
        Case::new("42", "trailer section > 16 KiB", chunked(&big))
            .rej(431)
            .seen(&["POST / BODY-ERROR"]),
    );
    v.push(
        Case::new("43", "NUL after the body", chunked(b"0\r\n\r\n\x00"))
            .ok("body 0:")
            .rej(400)
            .seen(&["POST / v=11"]),
    );
    run_table("rows 26-43 (chunked body)", v);
}

// ---------------------------------------------------------------------------
// Rows 44–60: start line
// ---------------------------------------------------------------------------

#[test]
fn rows_44_60_start_line() {
    let r400 = |row, what: &str, input: &[u8]| Case::new(row, what, input).rej(400).seen(&[]);
    let mut target_8000 = b"GET /?q=".to_vec();
    target_8000.extend(std::iter::repeat_n(b'a', 8000 - 4));
    target_8000.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut long_target = b"GET /".to_vec();
    long_target.extend(std::iter::repeat_n(b'a', 100 * 1024));
    long_target.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut long_method = vec![b'A'; 100 * 1024];
    long_method.extend_from_slice(b" / HTTP/1.1\r\nHost: a\r\n\r\n");
    let v = vec![
        r400(
            "44",
            "bare CR ends the request line",
            b"GET / HTTP/1.1\rHost: a\r\n\r\n",
        ),
        r400("45", "bare-LF head", b"GET / HTTP/1.1\nHost: a\n\n"),
        r400("45", "one bare LF in the head", b"GET / HTTP/1.1\r\nHost: a\n\r\n"),
        Case::new("46", "one leading CRLF", b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .ok("GET / v=11")
            .seen(&["GET / v=11"]),
        Case::new("46", "two leading CRLF", b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .ok("GET / v=11")
            .seen(&["GET / v=11"]),
        r400(
            "46",
            "three leading CRLF",
            b"\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        ),
        r400("46", "leading bare LF", b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        r400("47", "two SP", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"),
        r400("47", "HTAB separator", b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        r400("47", "VT separator", b"GET\x0b/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        r400("47", "FF separator", b"GET\x0c/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        r400("48", "LF as separator", b"GET /\nHTTP/1.1\r\n\r\n"),
        r400(
            "49",
            "method with separators",
            b"G=\":<>(e),[T];?\" /get HTTP/1.1\r\nHost: a\r\n\r\n",
        ),
        r400("49", "NUL method", b"\x00 / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Case::new("50", "lowercase get", b"get / HTTP/1.1\r\nHost: a\r\n\r\n")
            .rej(501)
            .seen(&[]),
        Case::new("51", "unknown method FOO", b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n")
            .rej(501)
            .seen(&[]),
        // No space within the 16 KiB limit: the request line is malformed.
        Case::new("51", "100 KiB method", long_method).rej(400).seen(&[]),
        Case::new(
            "52",
            "DELETE on a GET route",
            b"DELETE /status HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .resp(405, "405 Method Not Allowed\n")
        .exact(
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Allow: GET, HEAD\r\nContent-Length: 23\r\n\r\n",
        )
        .seen(&[]),
        Case::new("53", "100 KiB target", long_target).rej(414).seen(&[]),
        Case::new("53", "8000-octet target works", target_8000)
            .ok("GET /?q=aaaa")
            .seen(&["GET /?q="]),
        r400("54", "SP in target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"),
        r400("54", "NUL in target", b"GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n"),
        r400("54", "DEL in target", b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n"),
        r400(
            "55",
            "raw UTF-8 in target",
            b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
        ),
        r400(
            "55",
            "overlong UTF-8 in target",
            b"GET /\xc0\xaf HTTP/1.1\r\nHost: a\r\n\r\n",
        ),
        r400("56", "target !", b"GET ! HTTP/1.1\r\nHost: a\r\n\r\n"),
        r400("56", "GET *", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
        r400(
            "56",
            "authority-form with GET",
            b"GET host:80 HTTP/1.1\r\nHost: a\r\n\r\n",
        ),
        r400("56", "fragment", b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n"),
        Case::new("57", "absolute-form", b"GET http://x/y HTTP/1.1\r\nHost: a\r\n\r\n")
            .ok("GET /y v=11 host=x ")
            .seen(&["GET /y v=11 host=x "]),
        Case::new(
            "57",
            "absolute-form https with port and query",
            b"GET https://x:8443/y?z=1 HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .ok("GET /y?z=1 v=11 host=x:8443 ")
        .seen(&["GET /y?z=1 v=11 host=x:8443 "]),
        r400(
            "57",
            "absolute-form ftp scheme",
            b"GET ftp://x/y HTTP/1.1\r\nHost: a\r\n\r\n",
        ),
        Case::new("58", "HTTP/1.2 as 1.1", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n")
            .ok("GET / v=11")
            .seen(&["GET / v=11"]),
        Case::new("59", "HTTP/2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n")
            .rej(505)
            .seen(&[]),
        Case::new("59", "HTTP/3.0", b"GET / HTTP/3.0\r\nHost: a\r\n\r\n")
            .rej(505)
            .seen(&[]),
        Case::new("59", "h2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .rej(505)
            .seen(&[]),
        r400("60", "http/1.1", b"GET / http/1.1\r\nHost: a\r\n\r\n"),
        r400("60", "HTTP/01.01", b"GET / HTTP/01.01\r\nHost: a\r\n\r\n"),
        r400("60", "HTTP/1", b"GET / HTTP/1\r\nHost: a\r\n\r\n"),
        r400("60", "HTTP/1.32", b"GET / HTTP/1.32\r\nHost: a\r\n\r\n"),
        r400(
            "60",
            "HTTP/4294967295.255",
            b"GET / HTTP/4294967295.255\r\nHost: a\r\n\r\n",
        ),
        r400("60", "HTTP/ CR CR 1.1", b"GET / HTTP/\r\r1.1\r\nHost: a\r\n\r\n"),
        r400("60", "HTTP/0.9 request", b"GET /\r\n"),
    ];
    run_table("rows 44-60 (start line)", v);
}

// ---------------------------------------------------------------------------
// Rows 61–73: header section
// ---------------------------------------------------------------------------

#[test]
fn rows_61_73_header_section() {
    let r400 = |row, what: &str, input: Vec<u8>| Case::new(row, what, input).rej(400).seen(&[]);
    let mut v = vec![
        r400("61", "obs-fold", get(b"X: a\r\n b\r\n")),
        r400("62", "SP before the first header", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n".to_vec()),
        r400("62", "HTAB before the first header", b"GET / HTTP/1.1\r\n\tHost: a\r\n\r\n".to_vec()),
        r400("63", "empty name", get(b": x\r\n")),
        r400("63", "colon only", get(b":\r\n")),
        r400("64", "Host without colon", b"GET / HTTP/1.1\r\nHost a\r\n\r\n".to_vec()),
        r400("64", "CL without colon", get(b"Content-Length 10\r\n")),
        r400("65", "non-ASCII name", get(b"\xefoo: bar\r\n")),
        r400("65", "SP in name", get(b"A space: x\r\n")),
        r400("65", "quote in name", get(b"foo\"bar: x\r\n")),
        r400(
            "65",
            "controls and separators in name",
            get(b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f \"(),/;<=>?@[\\]{}: x\r\n"),
        ),
        r400("66", "CR in value", get(b"X: va\rlue\r\n")),
        r400("66", "CR as terminator", get(b"Visible: :/\rSmuggled: :)\r\n")),
        r400("67", "NUL in value", get(b"X: v\x00al\r\n")),
        r400("67", "NUL truncation", get(b"Test: test\x00DROPPED\r\n")),
        r400("68", "SOH in value", get(b"X: a\x01b\r\n")),
        r400("68", "ESC in value", get(b"X: a\x1bb\r\n")),
        r400("68", "DEL in value", get(b"X: a\x7fb\r\n")),
        Case::new("69", "obs-text kept unchanged", get(b"User: \x85admin\xa0\r\n"))
            .ok("h User: \\x85admin\\xa0 |")
            .seen(&["h User: \\x85admin\\xa0 |"]),
        r400("69", "obs-text in Host", b"GET / HTTP/1.1\r\nHost: \xffa\xff\r\n\r\n".to_vec()),
        r400("69", "obs-text in Connection", get(b"Connection: \xa0close\r\n")),
        r400("69", "obs-text in Expect", get(b"Expect: 100-continue\x85\r\n")),
        r400("69", "obs-text in Content-Length", post(b"Content-Length: 5\xa0\r\n", b"hello")),
        r400("69", "obs-text in Transfer-Encoding", post(b"Transfer-Encoding: chunked\x85\r\n", HELLO_CHUNKED)),
        r400("70", "HTTP/1.1 without Host", b"GET / HTTP/1.1\r\n\r\n".to_vec()),
        r400("70", "Host twice, same value", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n".to_vec()),
        r400("70", "Host twice, different", b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n".to_vec()),
        r400("70", "Host with userinfo", b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n".to_vec()),
        r400("70", "Host with a path", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n".to_vec()),
        r400("70", "empty Host", b"GET / HTTP/1.1\r\nHost: \r\n\r\n".to_vec()),
        Case::new("71", "HTTP/1.0 without Host", b"GET / HTTP/1.0\r\n\r\n")
            .ok("GET / v=10 host=- ")
            .then_close()
            .seen(&["GET / v=10 host=- "]),
    ];
    // Row 72: more header fields than the maximum (64 by default).
    let many = |n: usize| {
        let mut h = Vec::new();
        for i in 0..n {
            h.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        get(&h)
    };
    v.push(
        Case::new("72", "Host + 63 fields (64, the default max)", many(63))
            .ok("h X-62: v")
            .seen(&["h X-62: v"]),
    );
    v.push(Case::new("72", "Host + 64 fields", many(64)).rej(431).seen(&[]));
    v.push(Case::new("72", "101 header lines", many(100)).rej(431).seen(&[]));
    v.push(Case::new("72", "10,000 header lines", many(10_000)).rej(431).seen(&[]));
    // Row 73: over the byte limit (16 KiB by default).
    let mut long_value = b"X: ".to_vec();
    long_value.extend(std::iter::repeat_n(b'a', 100 * 1024));
    long_value.extend_from_slice(b"\r\n");
    v.push(Case::new("73", "100 KiB value", get(&long_value)).rej(431).seen(&[]));
    let mut long_name = vec![b'A'; 100 * 1024];
    long_name.extend_from_slice(b": v\r\n");
    v.push(Case::new("73", "100 KiB name", get(&long_name)).rej(431).seen(&[]));
    let mut block = Vec::new();
    for i in 0..20 {
        block.extend_from_slice(format!("X-{i}: ").as_bytes());
        block.extend(std::iter::repeat_n(b'a', 1000));
        block.extend_from_slice(b"\r\n");
    }
    v.push(
        Case::new("73", "20 x 1000 B fields (> 16 KiB)", get(&block))
            .rej(431)
            .seen(&[]),
    );
    run_table("rows 61-73 (header section)", v);
}

// ---------------------------------------------------------------------------
// Rows 75–84: connection management, Expect, pipelining
// ---------------------------------------------------------------------------

#[test]
fn rows_75_84_connection_management() {
    let mut v = Vec::new();
    for conn in ["close", "keep-alive, close", "CLOSE"] {
        v.push(
            Case::new(
                "75",
                format!("Connection: {conn}, then a pipelined GET /x"),
                cat(&[&get(format!("Connection: {conn}\r\n").as_bytes()), GET_X]),
            )
            .ok("GET / v=11")
            .hdr("Connection", "close")
            .then_close()
            .seen(&["GET / v=11"]),
        );
    }
    let mut huge_404 = post_to("/nope", b"Content-Length: 10485760\r\n", b"");
    huge_404.extend(std::iter::repeat_n(b'z', 1024));
    v.extend([
        Case::new(
            "76",
            "Connection: close then garbage",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nInvalid\r\n\r\n",
        )
        .ok("GET / v=11")
        .then_close()
        .seen(&["GET / v=11"]),
        Case::new("77", "HTTP/1.0 closes", b"GET / HTTP/1.0\r\nHost: a\r\n\r\n")
            .ok("GET / v=10")
            .has_hdr("Content-Length")
            .then_close()
            .seen(&["GET / v=10"]),
        Case::new(
            "77",
            "HTTP/1.0 keep-alive",
            b"GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
        )
        .ok("GET / v=10")
        .hdr("Connection", "keep-alive")
        .has_hdr("Content-Length")
        .no_hdr("Transfer-Encoding")
        .seen(&["GET / v=10"]),
        Case::new("78", "HTTP/1.0 streaming", b"GET /stream HTTP/1.0\r\nHost: a\r\n\r\n")
            .resp(200, "hello world")
            .no_hdr("Content-Length")
            .no_hdr("Transfer-Encoding")
            .then_close(),
        Case::new(
            "78",
            "HTTP/1.0 keep-alive streaming",
            b"GET /stream HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
        )
        .resp(200, "hello world")
        .no_hdr("Content-Length")
        .no_hdr("Transfer-Encoding")
        .then_close(),
        Case::new(
            "79",
            "two requests in one packet",
            b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .ok("GET /a v=11")
        .ok("GET /b v=11")
        .seen(&["GET /a", "GET /b"]),
        Case::new(
            "80",
            "valid then invalid",
            b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n",
        )
        .ok("GET /a v=11")
        .rej(400)
        .seen(&["GET /a"]),
        Case::new("81", "Expect: foo", get(b"Expect: foo\r\n"))
            .rej(417)
            .seen(&[]),
        Case::new(
            "81",
            "Expect: foo on a POST",
            post(b"Expect: foo\r\nContent-Length: 5\r\n", b"hello"),
        )
        .rej(417)
        .seen(&[]),
        Case::new(
            "81",
            "HTTP/1.0 ignores Expect",
            b"GET / HTTP/1.0\r\nExpect: foo\r\n\r\n",
        )
        .ok("GET / v=10")
        .then_close()
        .seen(&["GET / v=10"]),
        Case::new("82", "404 to a 10 MiB POST", huge_404).rej(404).seen(&[]),
        Case::new(
            "82",
            "404 to a small POST, then GET /x",
            cat(&[&post_to("/nope", b"Content-Length: 5\r\n", b"hello"), GET_X]),
        )
        .resp(404, "404 Not Found\n")
        .ok("GET /x v=11")
        .seen(&["GET /x"]),
        Case::new(
            "83",
            "body ends early while discarded",
            post_to("/ignore", b"Content-Length: 10\r\n", b"hello"),
        )
        .fin()
        .resp(200, "ignored")
        .then_close_quiet()
        .seen(&["IGNORED POST /ignore"]),
        Case::new(
            "84",
            "Upgrade without Connection: Upgrade",
            get(b"Upgrade: websocket\r\n"),
        )
        .ok("GET / v=11")
        .seen(&["GET / v=11"]),
        Case::new(
            "84",
            "Upgrade on POST",
            post(
                b"Upgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 5\r\n",
                b"hello",
            ),
        )
        .ok("body 5:hello")
        .seen(&["body 5:hello"]),
        Case::new(
            "84",
            "Upgrade on HTTP/1.0",
            b"GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        )
        .ok("GET / v=10")
        .then_close()
        .seen(&["GET / v=10"]),
        Case::new(
            "84",
            "unknown protocol",
            get(b"Upgrade: foo/1\r\nConnection: Upgrade\r\n"),
        )
        .ok("GET / v=11")
        .seen(&["GET / v=11"]),
    ]);
    run_table("rows 75-84 (connection management)", v);
}

// ---------------------------------------------------------------------------
// Rows 10, 11, 39, 83: stalls (body timeout), and row 10's preallocation
// ---------------------------------------------------------------------------

#[test]
fn rows_10_11_39_83_stalled_bodies_time_out() {
    let rec = Recorder::new();
    let srv = start(|s| {
        route(s, "*", "/", h_report, rec.ud());
        route(s, "*", "/ignore", h_ignore, rec.ud());
        route(s, "GET", "/health", h_ok, std::ptr::null_mut());
        assert_eq!(server_set_body_timeout(s, 300), MR_OK);
    });
    let cases: Vec<(&str, Vec<u8>, Option<u16>)> = vec![
        ("10", post(b"Content-Length: 999999\r\n", b""), Some(408)),
        ("11", post(b"Content-Length: 10\r\n", b"hello"), Some(408)),
        ("39", chunked(b"5\r\nhello\r\n"), Some(408)),
        // The handler answered without reading; the discard stalls: close.
        ("83", post_to("/ignore", b"Content-Length: 10\r\n", b"hello"), None),
    ];
    let mut failures = Vec::new();
    for (row, input, want) in &cases {
        for mode in [Mode::Whole, Mode::Bytewise] {
            let r = catch_unwind(AssertUnwindSafe(|| {
                rec.take();
                let mut c = Client::new(srv.port);
                deliver(&mut c, input, mode);
                let t0 = Instant::now();
                let r = c.response(false);
                match want {
                    Some(code) => {
                        assert_eq!(r.head_without_date(), lib_error_head(*code), "row {row}");
                        assert_eq!(rec.take().len(), 1, "row {row}: handler ran once");
                    }
                    None => assert_eq!(r.status, 200, "row {row}"),
                }
                assert!(
                    c.closed_within(Duration::from_secs(3)),
                    "row {row}: not closed after the stall"
                );
                assert!(
                    t0.elapsed() < Duration::from_secs(4),
                    "row {row}: took {:?}",
                    t0.elapsed()
                );
                assert_healthy(srv.port);
            }));
            if let Err(p) = r {
                failures.push(format!("row {row} ({mode:?}): {}", panic_text(p)));
            }
        }
    }
    assert!(failures.is_empty(), "stalled bodies:\n{}", failures.join("\n"));
}

/// Not a test of its own: started as a child process by
/// `row_10_content_length_is_never_preallocated`, it runs a server with an
/// unlimited body size and prints its port.
#[test]
fn child_server_for_row_10() {
    if std::env::var_os("MR_CONFORMANCE_CHILD").is_none() {
        return;
    }
    let rec = Recorder::new();
    let srv = start(|s| {
        route(s, "*", "/", h_report, rec.ud());
        assert_eq!(server_set_limits(s, 16384, usize::MAX), MR_OK);
        assert_eq!(server_set_body_timeout(s, 300), MR_OK);
    });
    println!("PORT {}", srv.port);
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(30));
}

/// Row 10: "Never preallocate CL bytes." With an unlimited max_body (the
/// library accepts SIZE_MAX and clamps it), a request announcing an
/// enormous Content-Length and sending nothing must get the body timeout's
/// 408, not an allocation of the announced size. The server runs in a child
/// process, so an abort does not take this test binary down.
#[test]
fn row_10_content_length_is_never_preallocated() {
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args(["--exact", "child_server_for_row_10", "--nocapture", "--test-threads=1"])
        .env("MR_CONFORMANCE_CHILD", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the child server");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            // libtest prints "test name ... " on the same line first.
            if let Some(i) = line.find("PORT ") {
                let _ = tx.send(line[i + 5..].trim().parse::<u16>().unwrap());
            }
        }
    });
    let port = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(p) => p,
        Err(_) => {
            let _ = child.kill();
            panic!("child server did not start");
        }
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut c = Client::new(port);
        // Below isize::MAX, so within the clamped "unlimited" max_body.
        c.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9000000000000000000\r\n\r\n");
        let r = try_response(&mut c.s, &mut c.buf, false);
        (r, c.closed_within(Duration::from_secs(3)))
    }));
    std::thread::sleep(Duration::from_millis(100));
    let status = child.try_wait().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let key: Vec<&str> = err
        .lines()
        .filter(|l| {
            ["memory allocation", "panicked", "capacity", "abort"]
                .iter()
                .any(|k| l.contains(k))
        })
        .take(3)
        .collect();
    let err_tail = if key.is_empty() {
        err.lines().take(3).collect::<Vec<_>>().join(" / ")
    } else {
        key.join(" / ")
    };
    assert!(
        status.is_none(),
        "row 10: the server process died ({status:?}) on `Content-Length: 9000000000000000000` \
         with an unlimited max_body: it preallocated the announced length. stderr: {err_tail}"
    );
    match outcome {
        Ok((Some(r), closed)) => {
            assert_eq!(
                r.head_without_date(),
                lib_error_head(408),
                "row 10: expected the body timeout's 408, got {} {:?}",
                r.status,
                r.text()
            );
            assert!(closed, "row 10: not closed after 408");
        }
        Ok((None, _)) => panic!("row 10: connection ended without a response. stderr: {err_tail}"),
        Err(p) => panic!("row 10: {} (stderr: {err_tail})", panic_text(p)),
    }
}

// ---------------------------------------------------------------------------
// Rows 85–92: responses generated through the C API
// ---------------------------------------------------------------------------

/// Return codes handlers observed, for assertions in the test thread.
struct Codes {
    v: Mutex<Vec<(String, c_int)>>,
}

impl Codes {
    fn new() -> &'static Codes {
        Box::leak(Box::new(Codes {
            v: Mutex::new(Vec::new()),
        }))
    }
    fn ud(&'static self) -> *mut c_void {
        self as *const Codes as *mut c_void
    }
    fn put(&self, what: &str, rc: c_int) {
        self.v.lock().unwrap().push((what.to_string(), rc));
    }
    fn take(&self) -> Vec<(String, c_int)> {
        std::mem::take(&mut *self.v.lock().unwrap())
    }
}

fn codes<'a>(ud: *mut c_void) -> &'a Codes {
    // SAFETY: `ud` is a leaked Codes.
    unsafe { &*(ud as *const Codes) }
}

unsafe extern "C" fn h_text_hello(_req: *mut mr_req, resp: *mut mr_resp, _ud: *mut c_void) -> c_int {
    resp_set_text(resp, c"hello world".as_ptr())
}

unsafe extern "C" fn h_stream_cl(_req: *mut mr_req, resp: *mut mr_resp, _ud: *mut c_void) -> c_int {
    resp_set_header(resp, c"Content-Length".as_ptr(), c"11".as_ptr());
    resp_send(resp, b"hello".as_ptr().cast(), 5);
    resp_send(resp, b" world".as_ptr().cast(), 6)
}

/// Row 85: HEAD gets GET's headers and no body, also when the handler
/// streams.
#[test]
fn row_85_head_has_no_body() {
    let srv = start(|s| {
        route(s, "GET", "/fixed", h_text_hello, std::ptr::null_mut());
        route(s, "GET", "/stream", h_stream, std::ptr::null_mut());
        route(s, "GET", "/stream-cl", h_stream_cl, std::ptr::null_mut());
        route(s, "GET", "/", h_ok, std::ptr::null_mut());
    });
    for mode in [Mode::Whole, Mode::Bytewise] {
        let mut c = Client::new(srv.port);
        let get = c.roundtrip(b"GET /fixed HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            get.head_without_date(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 11\r\n\r\n"
        );
        // HEAD, then GET on the same connection: any body byte after the
        // HEAD response would corrupt the next response.
        deliver(
            &mut c,
            b"HEAD /fixed HTTP/1.1\r\nHost: a\r\n\r\nHEAD /stream HTTP/1.1\r\nHost: a\r\n\r\n\
              HEAD /stream-cl HTTP/1.1\r\nHost: a\r\n\r\nGET /stream HTTP/1.1\r\nHost: a\r\n\r\n",
            mode,
        );
        let head = c.response(true);
        assert_eq!(head.head_without_date(), get.head_without_date(), "{mode:?}");
        let head_stream = c.response(true);
        assert_eq!(head_stream.status, 200);
        assert!(
            head_stream.header("Transfer-Encoding").is_none(),
            "{:?}",
            head_stream.raw_head
        );
        assert!(
            head_stream.header("Content-Length").is_none(),
            "{:?}",
            head_stream.raw_head
        );
        let head_cl = c.response(true);
        assert_eq!(head_cl.header("Content-Length"), Some("11"), "{:?}", head_cl.raw_head);
        let after = c.response(false);
        assert_eq!(after.status, 200, "{mode:?}");
        assert_eq!(after.body, b"hello world", "{mode:?}");
        assert_eq!(after.header("Transfer-Encoding"), Some("chunked"));
        assert!(c.buf.is_empty(), "stray bytes: {:?}", esc(&c.buf));
    }
    assert_healthy(srv.port);
}

/// /s/{code}: set the status, then resp_send("x"). /t/{code}: set_text("x").
unsafe extern "C" fn h_status_send(req: *mut mr_req, resp: *mut mr_resp, ud: *mut c_void) -> c_int {
    let code: i32 = from_c(req_param(req, c"code".as_ptr())).unwrap().parse().unwrap();
    let st = resp_set_status(resp, code);
    let rc = resp_send(resp, b"x".as_ptr().cast(), 1);
    codes(ud).put(&format!("status {code}"), st);
    codes(ud).put(&format!("send {code}"), rc);
    0
}

unsafe extern "C" fn h_status_text(req: *mut mr_req, resp: *mut mr_resp, _ud: *mut c_void) -> c_int {
    let code: i32 = from_c(req_param(req, c"code".as_ptr())).unwrap().parse().unwrap();
    resp_set_status(resp, code);
    resp_set_text(resp, c"x".as_ptr());
    0
}

/// Row 86: 1xx, 204 and 304 never carry a body (and 1xx/204 no
/// Content-Length), whatever the handler sends.
#[test]
fn row_86_no_body_on_1xx_204_304() {
    let rec = Codes::new();
    let srv = start(|s| {
        route(s, "GET", "/s/{code}", h_status_send, rec.ud());
        route(s, "GET", "/t/{code}", h_status_text, rec.ud());
        route(s, "GET", "/", h_ok, std::ptr::null_mut());
    });
    for path in ["/s/204", "/t/204", "/s/304", "/t/304"] {
        let mut c = Client::new(srv.port);
        c.send(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        let r = c.response(false);
        let code: u16 = path[3..].parse().unwrap();
        assert_eq!(r.status, code, "{path}");
        assert!(r.header("Transfer-Encoding").is_none(), "{path}: {:?}", r.raw_head);
        if code == 204 {
            assert!(r.header("Content-Length").is_none(), "{path}: {:?}", r.raw_head);
        }
        // The next response starts right after the head: no body bytes.
        let next = c.response(false);
        assert_eq!(
            (next.status, next.body.as_slice()),
            (200, &b"ok"[..]),
            "{path}: body leaked"
        );
    }
    for (code, rc) in rec.take() {
        assert!(
            matches!(rc, MR_OK | MR_ESTATE | MR_EINVAL),
            "{code}: resp_send gave {rc}"
        );
    }
    for path in ["/s/103", "/t/103"] {
        let mut c = Client::new(srv.port);
        c.send(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        let raw = read_to_end(&mut c.s);
        let text = String::from_utf8_lossy(&raw).into_owned();
        assert!(text.starts_with("HTTP/1.1 103 "), "{path}: {text:?}");
        assert!(text.ends_with("\r\n\r\n"), "{path}: body after a 1xx head: {text:?}");
        assert!(
            !text.contains("Content-Length") && !text.contains("Transfer-Encoding"),
            "{path}: {text:?}"
        );
    }
    assert_healthy(srv.port);
}

unsafe extern "C" fn h_bad_headers(_req: *mut mr_req, resp: *mut mr_resp, ud: *mut c_void) -> c_int {
    let bad: [(&CStr, &CStr); 9] = [
        (c"X", c"a\r\nSet-Cookie: s=1"),
        (c"X", c"a\nb"),
        (c"X", c"a\rb"),
        (c"X", c"v\x7f"),
        (c"X", c"a\x01b"),
        (c"X:Y", c"v"),
        (c"X Y", c"v"),
        (c"X\x01", c"v"),
        (c"", c"v"),
    ];
    for (n, v) in bad {
        let what = format!("{:?}: {:?}", n, v);
        codes(ud).put(&format!("set {what}"), resp_set_header(resp, n.as_ptr(), v.as_ptr()));
        codes(ud).put(&format!("add {what}"), resp_add_header(resp, n.as_ptr(), v.as_ptr()));
    }
    resp_set_header(resp, c"X-Good".as_ptr(), c"1".as_ptr())
}

/// Row 87: header injection is refused with EINVAL and nothing is emitted.
/// (A value with an embedded NUL cannot be expressed through the C-string
/// API: the string simply ends there.)
#[test]
fn row_87_header_injection_is_einval() {
    let rec = Codes::new();
    let srv = start(|s| {
        route(s, "GET", "/", h_bad_headers, rec.ud());
    });
    let r = roundtrip(srv.port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nX-Good: 1\r\nContent-Length: 0\r\n\r\n"
    );
    let got = rec.take();
    assert_eq!(got.len(), 18);
    for (what, rc) in got {
        assert_eq!(rc, MR_EINVAL, "{what}");
    }
}

unsafe extern "C" fn h_framing_headers(req: *mut mr_req, resp: *mut mr_resp, ud: *mut c_void) -> c_int {
    let path = from_c(req_path(req)).unwrap();
    let c = codes(ud);
    match path.as_str() {
        "/buffered" => {
            c.put(
                "TE",
                resp_set_header(resp, c"Transfer-Encoding".as_ptr(), c"chunked".as_ptr()),
            );
            c.put(
                "Connection upgrade",
                resp_set_header(resp, c"Connection".as_ptr(), c"upgrade".as_ptr()),
            );
            c.put(
                "CL abc",
                resp_set_header(resp, c"Content-Length".as_ptr(), c"abc".as_ptr()),
            );
            c.put(
                "CL 100",
                resp_set_header(resp, c"Content-Length".as_ptr(), c"100".as_ptr()),
            );
            resp_set_text(resp, c"hi".as_ptr())
        }
        "/short" => {
            resp_set_header(resp, c"Content-Length".as_ptr(), c"10".as_ptr());
            c.put("send 5 of 10", resp_send(resp, b"hello".as_ptr().cast(), 5));
            0
        }
        "/over" => {
            resp_set_header(resp, c"Content-Length".as_ptr(), c"5".as_ptr());
            c.put("send 5 of 5", resp_send(resp, b"hello".as_ptr().cast(), 5));
            c.put("send 6th byte", resp_send(resp, b"!".as_ptr().cast(), 1));
            0
        }
        _ => 1,
    }
}

/// Row 88: the library owns framing.
#[test]
fn row_88_library_owns_framing() {
    let rec = Codes::new();
    let srv = start(|s| {
        route(s, "GET", "/{p}", h_framing_headers, rec.ud());
        route(s, "GET", "/", h_ok, std::ptr::null_mut());
    });
    let mut c = Client::new(srv.port);
    let r = c.roundtrip(b"GET /buffered HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\n"
    );
    assert_eq!(r.body, b"hi");
    let got = rec.take();
    assert_eq!(
        got,
        vec![
            ("TE".to_string(), MR_EINVAL),
            ("Connection upgrade".to_string(), MR_EINVAL),
            ("CL abc".to_string(), MR_EINVAL),
            ("CL 100".to_string(), MR_OK),
        ]
    );
    // Exactly the declared length: the connection stays usable.
    let r = c.roundtrip(b"GET /over HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.header("Content-Length"), Some("5"));
    assert!(r.header("Transfer-Encoding").is_none());
    assert_eq!(r.body, b"hello");
    assert_eq!(
        rec.take(),
        vec![
            ("send 5 of 5".to_string(), MR_OK),
            ("send 6th byte".to_string(), MR_EINVAL)
        ]
    );
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
    // Fewer bytes than declared: the connection closes after them.
    let mut c = Client::new(srv.port);
    c.send(b"GET /short HTTP/1.1\r\nHost: a\r\n\r\n");
    let raw = read_to_end(&mut c.s);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("\r\nContent-Length: 10"), "{head:?}");
    assert!(!head.contains("Transfer-Encoding"), "{head:?}");
    assert_eq!(body, "hello");
    assert_healthy(srv.port);
}

unsafe extern "C" fn h_bad_status(_req: *mut mr_req, resp: *mut mr_resp, ud: *mut c_void) -> c_int {
    let c = codes(ud);
    c.put("status 42", resp_set_status(resp, 42));
    c.put("status 99", resp_set_status(resp, 99));
    c.put("status 1000", resp_set_status(resp, 1000));
    c.put(
        "send_header reason CRLF",
        resp_send_header(resp, c"a\r\nX: y".as_ptr(), std::ptr::null(), 0),
    );
    c.put(
        "abort reason CRLF",
        resp_abort(resp, 500, std::ptr::null(), c"a\r\nX: y".as_ptr()),
    );
    c.put("status 299", resp_set_status(resp, 299));
    c.put(
        "send_header",
        resp_send_header(resp, c"Fine".as_ptr(), b"x".as_ptr().cast(), 1),
    );
    0
}

/// Row 89: bad status codes and reason phrases are EINVAL.
#[test]
fn row_89_bad_status_and_reason_are_einval() {
    let rec = Codes::new();
    let srv = start(|s| {
        route(s, "GET", "/", h_bad_status, rec.ud());
    });
    let mut c = Client::new(srv.port);
    let r = c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 299 Fine\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    assert_eq!(r.body, b"x");
    assert_eq!(
        rec.take(),
        vec![
            ("status 42".to_string(), MR_EINVAL),
            ("status 99".to_string(), MR_EINVAL),
            ("status 1000".to_string(), MR_EINVAL),
            ("send_header reason CRLF".to_string(), MR_EINVAL),
            ("abort reason CRLF".to_string(), MR_EINVAL),
            ("status 299".to_string(), MR_OK),
            ("send_header".to_string(), MR_OK),
        ]
    );
}

unsafe extern "C" fn h_redirects(_req: *mut mr_req, resp: *mut mr_resp, ud: *mut c_void) -> c_int {
    let c = codes(ud);
    for loc in [
        c"//evil.example/",
        c"\\\\evil",
        c"/x\r\nY: z",
        c"javascript:alert(1)",
        c"/\\evil",
    ] {
        c.put(&format!("{loc:?}"), resp_redirect(resp, loc.as_ptr(), 302));
    }
    resp_redirect(resp, c"/ok".as_ptr(), 0)
}

/// Row 90: open redirects and header injection through Location are EINVAL.
#[test]
fn row_90_redirect_validation() {
    let rec = Codes::new();
    let srv = start(|s| {
        route(s, "GET", "/", h_redirects, rec.ud());
    });
    let r = roundtrip(srv.port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n"
    );
    for (what, rc) in rec.take() {
        assert_eq!(rc, MR_EINVAL, "{what}");
    }
}

unsafe extern "C" fn h_abort_mid(req: *mut mr_req, resp: *mut mr_resp, ud: *mut c_void) -> c_int {
    let path = from_c(req_path(req)).unwrap();
    if path == "/cl" {
        resp_set_header(resp, c"Content-Length".as_ptr(), c"10".as_ptr());
    }
    resp_send(resp, b"part".as_ptr().cast(), 4);
    resp_flush(resp);
    codes(ud).put("abort", resp_abort(resp, 0, std::ptr::null(), std::ptr::null()));
    codes(ud).put("send after abort", resp_send(resp, b"x".as_ptr().cast(), 1));
    0
}

/// Row 91: resp_abort mid-body closes without finishing the message.
#[test]
fn row_91_abort_mid_body_truncates() {
    let rec = Codes::new();
    let srv = start(|s| {
        route(s, "GET", "/chunked", h_abort_mid, rec.ud());
        route(s, "GET", "/cl", h_abort_mid, rec.ud());
        route(s, "GET", "/", h_ok, std::ptr::null_mut());
    });
    for path in ["/chunked", "/cl"] {
        let mut c = Client::new(srv.port);
        // A pipelined request must not be answered on the aborted connection.
        c.send(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        let raw = read_to_end(&mut c.s);
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        if path == "/chunked" {
            assert!(head.contains("Transfer-Encoding: chunked"), "{head:?}");
            assert_eq!(body, "4\r\npart\r\n", "{path}: no final chunk, no padding");
        } else {
            assert!(head.contains("Content-Length: 10"), "{head:?}");
            assert_eq!(body, "part", "{path}: no padding");
        }
        // The connection may end before the handler has returned: wait for
        // its two records (bounded).
        let deadline = Instant::now() + Duration::from_secs(5);
        while rec.v.lock().unwrap().len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let got = rec.take();
        assert_eq!(got.len(), 2, "{path}: handler records {got:?}");
        assert_eq!(got[0], ("abort".to_string(), MR_OK), "{path}");
        assert!(got[1].1 < 0, "{path}: send after abort gave {}", got[1].1);
    }
    assert_healthy(srv.port);
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to Unix seconds.
fn parse_imf_fixdate(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || &b[25..] != b" GMT" {
        return None;
    }
    let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let wd = days.iter().position(|d| d.as_bytes() == &b[..3])?;
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = std::str::from_utf8(&b[r]).ok()?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    if b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || b[19] != b':' || b[22] != b':' {
        return None;
    }
    let day = num(5..7)?;
    let month = months.iter().position(|m| m.as_bytes() == &b[8..11])? as i64 + 1;
    let year = num(12..16)?;
    let (hh, mm, ss) = (num(17..19)?, num(20..22)?, num(23..25)?);
    if !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days_since_epoch = era * 146_097 + doe - 719_468;
    // 1970-01-01 was a Thursday (index 3).
    if (days_since_epoch + 3).rem_euclid(7) != wd as i64 {
        return None;
    }
    Some(days_since_epoch * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Row 92: with a clock, every response carries an IMF-fixdate `Date`.
#[test]
fn row_92_date_header() {
    let (srv, _rec) = table_server();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for (req, code) in [
        (&b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n"[..], 200),
        (b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n", 404),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
    ] {
        let r = roundtrip(srv.port, req);
        assert_eq!(r.status, code);
        let dates = r.headers_named("Date");
        assert_eq!(dates.len(), 1, "{code}: {:?}", r.raw_head);
        assert!(r
            .raw_head
            .starts_with(&format!("HTTP/1.1 {code} {}\r\nDate: ", reason(code))));
        let t = parse_imf_fixdate(dates[0]).unwrap_or_else(|| panic!("not an IMF-fixdate: {:?}", dates[0]));
        assert!(
            (t - now).abs() <= 10,
            "Date {:?} is {}s away from now",
            dates[0],
            t - now
        );
    }
}

// ---------------------------------------------------------------------------
// garden_trophy_payloads.txt
// ---------------------------------------------------------------------------

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'r' => {
                    out.push(b'\r');
                    i += 2;
                }
                b'n' => {
                    out.push(b'\n');
                    i += 2;
                }
                b't' => {
                    out.push(b'\t');
                    i += 2;
                }
                b'\\' => {
                    out.push(b'\\');
                    i += 2;
                }
                b'x' if i + 3 < b.len() && u8::from_str_radix(&s[i + 2..i + 4], 16).is_ok() => {
                    out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).unwrap());
                    i += 4;
                }
                _ => {
                    out.push(b'\\');
                    i += 1;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// (id, bytes): "A1".."A48" for the Garden list, "B1".. for the second list.
fn load_payloads() -> Vec<(String, Vec<u8>)> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/garden_trophy_payloads.txt");
    let path = if path.exists() {
        path
    } else {
        std::path::PathBuf::from("/work/shared/conformance/garden_trophy_payloads.txt")
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    let mut list = 'A';
    let mut last_num = 0u32;
    let mut num = None;
    for line in text.lines() {
        let t = line.trim_start();
        if let Some((n, _)) = t.split_once(". ") {
            if let Ok(n) = n.parse::<u32>() {
                if n < last_num {
                    list = 'B';
                }
                last_num = n;
                num = Some(n);
                continue;
            }
        }
        if let Some(rest) = t.strip_prefix("- Payload:") {
            let Some(n) = num.take() else { continue };
            // Every backtick-quoted piece, concatenated.
            let pieces: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
            if pieces.is_empty() {
                continue;
            }
            let bytes: Vec<u8> = pieces.iter().flat_map(|p| unescape(p)).collect();
            out.push((format!("{list}{n}"), bytes));
        }
    }
    out
}

/// The statuses each payload gets, in order, and a substring the handlers
/// must have seen (for the payloads that are valid).
fn garden_expect(id: &str) -> (&'static [u16], Option<&'static str>) {
    match id {
        // Valid requests, handled normally.
        "A41" => (&[200], Some("h User: \\x85admin\\xa0 |")),
        // CL 0, then a POST whose 34-byte body is the GET.
        "A48" => (
            &[200, 200],
            Some("body 34:GET / HTTP/1.1\\r\\nHost: a\\r\\nid: 2\\r\\n\\r\\n"),
        ),
        "B9" => (&[200], Some("te=,chunked")),
        // Unknown transfer coding.
        "A44" => (&[501], None),
        // CL 010 is ten bytes; eight arrive, then FIN: incomplete body.
        _ => (&[400], None),
    }
}

#[test]
fn garden_trophy_payloads() {
    let payloads = load_payloads();
    assert_eq!(
        payloads.len(),
        72,
        "payloads parsed: {:?}",
        payloads.iter().map(|p| &p.0).collect::<Vec<_>>()
    );
    assert_eq!(payloads.iter().filter(|p| p.0.starts_with('A')).count(), 48);
    let rec = Recorder::new();
    let srv = start(|s| {
        route(s, "*", "/", h_report, rec.ud());
        route(s, "GET", "/health", h_ok, std::ptr::null_mut());
        assert_eq!(server_set_fallback(s, Some(h_report), rec.ud()), MR_OK);
    });
    let mut failures = Vec::new();
    for (id, bytes) in &payloads {
        let (want, seen) = garden_expect(id);
        for mode in [Mode::Whole, Mode::Bytewise] {
            let r = catch_unwind(AssertUnwindSafe(|| -> Result<(), String> {
                rec.take();
                let mut c = Client::new(srv.port);
                deliver(&mut c, bytes, mode);
                // Valid payloads (and A32's short body) end with the client's FIN.
                let fin = want.last() == Some(&200) || id == "A32";
                if fin {
                    shutdown_write(&c.s);
                }
                let mut got = Vec::new();
                for (i, &code) in want.iter().enumerate() {
                    let r = try_response(&mut c.s, &mut c.buf, false)
                        .ok_or_else(|| format!("response #{} missing (got {got:?})", i + 1))?;
                    got.push(r.status);
                    if r.status != code {
                        return Err(format!("statuses {got:?}, expected {want:?}; last body {:?}", r.text()));
                    }
                    if code >= 400 && r.head_without_date() != lib_error_head(code) {
                        return Err(format!("error page head {:?}", r.head_without_date()));
                    }
                }
                if !c.closed_within(CLOSE_WITHIN) {
                    return Err(format!(
                        "not closed within {CLOSE_WITHIN:?}; extra bytes {:?}",
                        esc(&c.buf)
                    ));
                }
                if let Some(s) = seen {
                    let all = rec.take().join("\n");
                    if !all.contains(s) {
                        return Err(format!("handlers saw {all:?}, expected {s:?}"));
                    }
                }
                assert_healthy(srv.port);
                Ok(())
            }));
            let err = match r {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e,
                Err(p) => format!("panicked: {}", panic_text(p)),
            };
            failures.push(format!(
                "payload {id} ({mode:?}) {:?}:\n    {err}",
                truncate(&esc(bytes), 160)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} garden deliveries failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// "then close": promptly
// ---------------------------------------------------------------------------

/// "400+C: send 400 with `Connection: close`, then close." The client must
/// see the end of the connection right after the response (a FIN), not
/// only once the server stops lingering on its read side. Measured with a
/// client that keeps its own side open, for a 400+C, a `Connection: close`
/// with bytes pipelined after it (row 76) and an unread body over the drain
/// limit (row 82).
#[test]
fn close_is_signalled_at_once() {
    let (srv, _rec) = table_server();
    let mut huge_404 = post_to("/nope", b"Content-Length: 10485760\r\n", b"");
    huge_404.extend(std::iter::repeat_n(b'z', 1024));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("65", get(b"A space: x\r\n"), 400),
        ("30", chunked(b"5\nhello\r\n0\r\n\r\n"), 400),
        (
            "76",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nInvalid\r\n\r\n".to_vec(),
            200,
        ),
        ("82", huge_404, 404),
    ];
    let mut failures = Vec::new();
    for (row, input, code) in &cases {
        let mut c = Client::new(srv.port);
        c.send(input);
        let r = c.response(false);
        assert_eq!(r.status, *code, "row {row}");
        assert_eq!(r.header("Connection"), Some("close"), "row {row}");
        let t0 = Instant::now();
        let closed = c.closed_within(Duration::from_secs(5));
        let took = t0.elapsed();
        if !closed || took > Duration::from_millis(500) {
            failures.push(format!(
                "row {row}: end of connection seen after {took:?} (closed: {closed}); expected at once after the response"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
