//! The HTTP/1.1 core over real sockets: persistence and pipelining,
//! HTTP/1.0, request bodies, `Expect: 100-continue`, HEAD and body-less
//! statuses, `Date`, limits, timeouts, connection limits, methods, OPTIONS,
//! 405 and absolute-form targets.
//!
//! Timeouts are set small (300–500 ms) by the tests that need them; the
//! "within" bounds around them are generous (the point is "not a hang").
mod common;
use common::*;

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Generous bound for "the server closes / answers, not hangs".
const SOON: Duration = Duration::from_secs(3);

fn cbytes(p: *const c_char) -> Vec<u8> {
    if p.is_null() {
        b"-".to_vec()
    } else {
        // SAFETY: NUL-terminated, valid during the handler.
        unsafe { CStr::from_ptr(p) }.to_bytes().to_vec()
    }
}

fn s(p: *const c_char) -> String {
    String::from_utf8_lossy(&cbytes(p)).into_owned()
}

fn null() -> *mut c_void {
    std::ptr::null_mut()
}

fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

fn ud<T>(v: &'static T) -> *mut c_void {
    v as *const T as *mut c_void
}

/// The exact head (without Date) and body of a library error page that
/// closes the connection.
fn lib_error(code: u16, reason: &str) -> (String, String) {
    let body = format!("{code} {reason}\n");
    (
        format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ),
        body,
    )
}

fn assert_lib_error(r: &Resp, code: u16, reason: &str) {
    let (head, body) = lib_error(code, reason);
    assert_eq!(r.head_without_date(), head);
    assert_eq!(r.text(), body);
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

/// "METHOD path?query host=.. v=.." as text.
unsafe extern "C" fn h_describe(req: *mut mr_req, resp: *mut mr_resp, _ud: *mut c_void) -> c_int {
    let q = s(req_query(req));
    let text = format!(
        "{} {}{}{} host={} v={}",
        s(req_method(req)),
        s(req_path(req)),
        if q.is_empty() { "" } else { "?" },
        q,
        s(req_host(req)),
        req_http_version(req)
    );
    let c = CString::new(text).unwrap();
    resp_set_text(resp, c.as_ptr())
}

/// Streams "hello" and " world" (length unknown).
unsafe extern "C" fn h_stream(_req: *mut mr_req, resp: *mut mr_resp, _ud: *mut c_void) -> c_int {
    let a = resp_send(resp, b"hello".as_ptr().cast(), 5);
    let b = resp_send(resp, b" world".as_ptr().cast(), 6);
    (a != MR_OK || b != MR_OK) as c_int
}

/// Answers without reading the body.
unsafe extern "C" fn h_ignore(_req: *mut mr_req, resp: *mut mr_resp, _ud: *mut c_void) -> c_int {
    resp_set_text(resp, c"ignored".as_ptr())
}

/// 401 without reading the body.
unsafe extern "C" fn h_deny(_req: *mut mr_req, resp: *mut mr_resp, _ud: *mut c_void) -> c_int {
    resp_set_status(resp, 401);
    resp_set_text(resp, c"no".as_ptr())
}

/// Counts calls.
unsafe extern "C" fn h_count(_req: *mut mr_req, resp: *mut mr_resp, ud: *mut c_void) -> c_int {
    // SAFETY: `ud` is a leaked AtomicUsize.
    let n = unsafe { &*(ud as *const AtomicUsize) }.fetch_add(1, Ordering::SeqCst) + 1;
    let c = CString::new(format!("call {n}")).unwrap();
    resp_set_text(resp, c.as_ptr())
}

/// Sets the status from `{code}`, then sends "x".
unsafe extern "C" fn h_status_send(req: *mut mr_req, resp: *mut mr_resp, _ud: *mut c_void) -> c_int {
    let code: i32 = s(req_param(req, c"code".as_ptr())).parse().unwrap_or(500);
    resp_set_status(resp, code);
    resp_send(resp, b"x".as_ptr().cast(), 1);
    0
}

/// What a large streaming send saw.
struct Probe {
    /// 1 until the handler finished; then the first failing code (or 0).
    code: AtomicI32,
    /// The code of a resp_send after the failure.
    after: AtomicI32,
    /// Duration of the failing resp_send call.
    failing_call_ms: AtomicU64,
    done: AtomicBool,
}

impl Probe {
    fn new() -> &'static Probe {
        leak(Probe {
            code: AtomicI32::new(1),
            after: AtomicI32::new(1),
            failing_call_ms: AtomicU64::new(0),
            done: AtomicBool::new(false),
        })
    }

    /// Waits (bounded) for the handler to finish.
    fn wait(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.done.load(Ordering::SeqCst) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

/// Sends up to 64 MiB in 1 MiB pieces, stopping at the first error.
unsafe extern "C" fn h_big_send(_req: *mut mr_req, resp: *mut mr_resp, ud: *mut c_void) -> c_int {
    // SAFETY: `ud` is a leaked Probe.
    let p = unsafe { &*(ud as *const Probe) };
    let chunk = vec![b'x'; 1 << 20];
    let mut code = 0;
    for _ in 0..64 {
        let t = Instant::now();
        let rc = resp_send(resp, chunk.as_ptr().cast(), chunk.len());
        if rc != MR_OK {
            p.failing_call_ms
                .store(t.elapsed().as_millis() as u64, Ordering::SeqCst);
            code = rc;
            break;
        }
    }
    p.after
        .store(resp_send(resp, b"y".as_ptr().cast(), 1), Ordering::SeqCst);
    p.code.store(code, Ordering::SeqCst);
    p.done.store(true, Ordering::SeqCst);
    0
}

/// Takes 600 ms before it sends like [`h_big_send`]: a handler that runs
/// for a while before it blocks.
unsafe extern "C" fn h_slow_big_send(req: *mut mr_req, resp: *mut mr_resp, ud: *mut c_void) -> c_int {
    std::thread::sleep(SLOW_HANDLER);
    // SAFETY: the same arguments, passed on.
    unsafe { h_big_send(req, resp, ud) }
}

/// Takes 600 ms, then answers `ok`.
unsafe extern "C" fn h_slow_ok(req: *mut mr_req, resp: *mut mr_resp, ud: *mut c_void) -> c_int {
    std::thread::sleep(SLOW_HANDLER);
    // SAFETY: the same arguments, passed on.
    unsafe { h_ok(req, resp, ud) }
}

const SLOW_HANDLER: Duration = Duration::from_millis(600);

// ---------------------------------------------------------------------------
// Persistence, pipelining
// ---------------------------------------------------------------------------

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let srv = start_basic(|_| {});
    let mut c = Client::new(srv.port);
    for i in 0..5 {
        let r = c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            r.head_without_date(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\n",
            "request {i}"
        );
        assert_eq!(r.body, b"ok");
        let body = format!("body {i}");
        let r = c.roundtrip(
            format!(
                "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), body);
    }
    assert!(c.buf.is_empty());
}

#[test]
fn pipelined_requests_in_one_write_are_answered_in_order() {
    let srv = start(|s| {
        for p in ["/a", "/b", "/c"] {
            route(s, "GET", p, h_describe, null());
        }
        route(s, "GET", "/", h_ok, null());
    });
    let mut c = Client::new(srv.port);
    c.send(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\nGET /c HTTP/1.1\r\nHost: a\r\n\r\n");
    for p in ["/a", "/b", "/c"] {
        let r = c.response(false);
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("GET {p} host=a v=11"));
    }
    // A longer burst (bounded): 200 requests in one write.
    let mut burst = Vec::new();
    for i in 0..200 {
        burst.extend_from_slice(format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", ["a", "b", "c"][i % 3]).as_bytes());
    }
    c.send(&burst);
    for i in 0..200 {
        let r = c.response(false);
        assert_eq!(
            r.text(),
            format!("GET /{} host=a v=11", ["a", "b", "c"][i % 3]),
            "response {i}"
        );
    }
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
}

#[test]
fn pipelined_heads_and_bodies_split_across_writes() {
    let srv = start_basic(|_| {});
    let mut stream = Vec::new();
    let mut want: Vec<Vec<u8>> = Vec::new();
    for (i, len) in [0usize, 1, 7, 300, 5000].iter().enumerate() {
        let body: Vec<u8> = (0..*len).map(|j| (j * 31 + i) as u8).collect();
        stream.extend_from_slice(format!("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {len}\r\n\r\n").as_bytes());
        stream.extend_from_slice(&body);
        want.push(body);
    }
    // Chunked too, with an extension and a trailer.
    stream.extend_from_slice(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n",
    );
    want.push(b"abcde".to_vec());
    stream.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    want.push(b"ok".to_vec());
    for piece in [1usize, 2, 3, 5, 7, 13, 64, 1000, 4096] {
        let mut c = Client::new(srv.port);
        for part in stream.chunks(piece) {
            c.send(part);
        }
        for (i, w) in want.iter().enumerate() {
            let r = c.response(false);
            assert_eq!(r.status, 200, "piece {piece}, response {i}");
            assert_eq!(&r.body, w, "piece {piece}, response {i}");
        }
        assert!(c.buf.is_empty(), "piece {piece}: extra bytes");
    }
}

// ---------------------------------------------------------------------------
// HTTP/1.0
// ---------------------------------------------------------------------------

#[test]
fn http10_closes_unless_keep_alive() {
    let srv = start(|s| {
        route(s, "GET", "/", h_ok, null());
        route(s, "GET", "/d", h_describe, null());
    });
    let mut c = Client::new(srv.port);
    let r = c.roundtrip(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(r.body, b"ok");
    assert!(c.closed_within(SOON), "HTTP/1.0 without keep-alive must close");

    // With keep-alive: persists, announces it, Content-Length body.
    let mut c = Client::new(srv.port);
    for _ in 0..3 {
        let r = c.roundtrip(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert_eq!(
            r.head_without_date(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n"
        );
    }
    let r = c.roundtrip(b"GET /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(r.text(), "GET /d host=- v=10");
    // The last request without keep-alive closes.
    let r = c.roundtrip(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed_within(SOON));
}

#[test]
fn streaming_to_http10_is_close_delimited_and_chunked_to_http11() {
    let srv = start(|s| {
        route(s, "GET", "/stream", h_stream, null());
        route(s, "GET", "/", h_ok, null());
    });
    for req in [
        &b"GET /stream HTTP/1.0\r\n\r\n"[..],
        b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    ] {
        let mut c = Client::new(srv.port);
        c.send(req);
        let raw = read_until_eof(&mut c.s, SOON).expect("a close-delimited body ends with the connection");
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let head: String = head
            .split("\r\n")
            .filter(|l| !l.starts_with("Date: "))
            .collect::<Vec<_>>()
            .join("\r\n");
        assert_eq!(head, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close");
        assert_eq!(body, "hello world");
    }
    let mut c = Client::new(srv.port);
    c.send(b"GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let raw = read_until_eof(&mut c.s, SOON).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let head: String = head
        .split("\r\n")
        .filter(|l| !l.starts_with("Date: "))
        .collect::<Vec<_>>()
        .join("\r\n");
    assert_eq!(
        head,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\nConnection: close"
    );
    assert_eq!(body, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
}

// ---------------------------------------------------------------------------
// Connection: close (row 75/76)
// ---------------------------------------------------------------------------

#[test]
fn connection_close_is_honoured_and_nothing_after_it_is_processed() {
    let calls = leak(AtomicUsize::new(0));
    let srv = start(|s| {
        route(s, "GET", "/count", h_count, ud(calls));
        route(s, "GET", "/", h_ok, null());
    });
    let mut c = Client::new(srv.port);
    c.send(
        b"GET /count HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n\
          GET /count HTTP/1.1\r\nHost: a\r\n\r\nInvalid\r\n\r\n",
    );
    let r = c.response(false);
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 6\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(r.body, b"call 1");
    assert!(c.closed_within(SOON), "nothing may follow the response");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the pipelined request was handled");
    assert_healthy(srv.port);
}

// ---------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------

fn chunk_up(data: &[u8], size: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for c in data.chunks(size) {
        v.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        v.extend_from_slice(c);
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(b"0\r\n\r\n");
    v
}

#[test]
fn request_bodies_are_echoed_exactly() {
    let srv = start_basic(|_| {});
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    let big: Vec<u8> = (0..512 * 1024)
        .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let cl = |b: &[u8]| {
        let mut v = format!("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n", b.len()).into_bytes();
        v.extend_from_slice(b);
        v
    };
    let te = |framed: &[u8]| {
        let mut v = b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        v.extend_from_slice(framed);
        v
    };
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        ("CL text", cl(b"hello world"), b"hello world".to_vec()),
        ("CL 0", cl(b""), Vec::new()),
        ("CL all byte values", cl(&all_bytes), all_bytes.clone()),
        (
            "chunked with extensions",
            te(b"5;ext=1\r\nhello\r\n6 ; a=\"b c\" ; d\r\n world\r\n0;last\r\n\r\n"),
            b"hello world".to_vec(),
        ),
        (
            "chunked with trailers",
            te(b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\nOther: two words\r\n\r\n"),
            b"hello world".to_vec(),
        ),
        (
            "1-byte chunks",
            te(&chunk_up(b"hello world", 1)),
            b"hello world".to_vec(),
        ),
        (
            "chunked, upper-case hex and leading zeros",
            te(b"000A\r\n0123456789\r\n0\r\n\r\n"),
            b"0123456789".to_vec(),
        ),
        ("chunked empty", te(b"0\r\n\r\n"), Vec::new()),
        ("CL 512 KiB", cl(&big), big.clone()),
        (
            "chunked 512 KiB in 8000-byte chunks",
            te(&chunk_up(&big, 8000)),
            big.clone(),
        ),
        (
            "chunked 512 KiB in one chunk",
            te(&chunk_up(&big, big.len())),
            big.clone(),
        ),
    ];
    for (what, req, want) in &cases {
        for bytewise in [false, true] {
            if bytewise && req.len() > 4096 {
                continue;
            }
            let mut c = Client::new(srv.port);
            if bytewise {
                send_bytewise(&mut c.s, req);
            } else {
                c.send(req);
            }
            let r = c.response(false);
            assert_eq!(r.status, 200, "{what}");
            assert_eq!(r.header("Content-Type"), Some("application/octet-stream"), "{what}");
            assert!(
                r.body == *want,
                "{what} (bytewise {bytewise}): echoed {} bytes, sent {}",
                r.body.len(),
                want.len()
            );
            // The connection carries the next request.
            assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200, "{what}");
        }
    }
}

// ---------------------------------------------------------------------------
// Expect: 100-continue
// ---------------------------------------------------------------------------

fn expect_server() -> Running {
    start_basic(|s| {
        route(s, "POST", "/deny", h_deny, null());
    })
}

#[test]
fn expect_100_continue_is_sent_when_the_handler_reads_the_body() {
    let srv = expect_server();
    let mut c = Client::new(srv.port);
    c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let interim = c.response(false);
    assert_eq!(interim.raw_head, "HTTP/1.1 100 Continue\r\n\r\n");
    c.send(b"hello");
    let r = c.response(false);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello");
    // Chunked, on the same connection.
    c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-Continue\r\n\r\n");
    let interim = c.response(false);
    assert_eq!(interim.raw_head, "HTTP/1.1 100 Continue\r\n\r\n");
    c.send(b"3\r\nabc\r\n0\r\n\r\n");
    let r = c.response(false);
    assert_eq!(r.body, b"abc");
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
    assert!(c.buf.is_empty());
}

#[test]
fn expect_100_continue_without_reading_gets_final_status_then_close() {
    let srv = expect_server();
    let mut c = Client::new(srv.port);
    c.send(b"POST /deny HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\nExpect: 100-continue\r\n\r\n");
    let r = c.response(false);
    assert_eq!(
        r.status, 401,
        "no 100 Continue before the final status: {:?}",
        r.raw_head
    );
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
    );
    assert!(c.closed_within(SOON), "the unsent body cannot be drained: close");
    // Small declared body: still no 100, still closed (the client will not send it).
    let mut c = Client::new(srv.port);
    c.send(b"POST /deny HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let r = c.response(false);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed_within(SOON));
    assert_healthy(srv.port);
}

#[test]
fn expect_100_continue_is_ignored_for_http10() {
    let srv = expect_server();
    let mut c = Client::new(srv.port);
    c.send(b"POST /echo HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    // The handler waits for the body; nothing may arrive meanwhile.
    c.s.set_read_timeout(Some(Duration::from_millis(400))).unwrap();
    let mut tmp = [0u8; 64];
    match c.s.read(&mut tmp) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Ok(n) => panic!(
            "sent to an HTTP/1.0 client before its body: {:?}",
            String::from_utf8_lossy(&tmp[..n])
        ),
        Err(e) => panic!("read: {e}"),
    }
    c.s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    c.send(b"hello");
    let r = c.response(false);
    assert!(r.raw_head.starts_with("HTTP/1.1 200 OK\r\n"), "{:?}", r.raw_head);
    assert_eq!(r.body, b"hello");
    assert!(c.closed_within(SOON));
}

#[test]
fn expect_with_the_body_already_sent_gets_no_100() {
    let srv = expect_server();
    let mut c = Client::new(srv.port);
    let r = c.roundtrip(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello");
}

// ---------------------------------------------------------------------------
// HEAD, body-less statuses, Date
// ---------------------------------------------------------------------------

unsafe extern "C" fn h_stream_declared(_req: *mut mr_req, resp: *mut mr_resp, _ud: *mut c_void) -> c_int {
    resp_set_header(resp, c"Content-Length".as_ptr(), c"11".as_ptr());
    h_stream(_req, resp, _ud)
}

#[test]
fn head_is_answered_by_get_routes_without_a_body() {
    let srv = start(|s| {
        route(s, "GET", "/", h_ok, null());
        route(s, "GET", "/stream", h_stream, null());
        route(s, "GET", "/declared", h_stream_declared, null());
    });
    let mut c = Client::new(srv.port);
    let get = c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let head = c.roundtrip(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(head.head_without_date(), get.head_without_date());
    assert_eq!(
        head.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\n"
    );
    // Streaming handlers: no body, no chunked framing.
    let head = c.roundtrip(b"HEAD /stream HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        head.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
    );
    let head = c.roundtrip(b"HEAD /declared HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        head.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 11\r\n\r\n"
    );
    // Nothing was sent after those heads: the next response starts cleanly.
    let r = c.roundtrip(b"GET /declared HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.body, b"hello world");
    assert!(c.buf.is_empty(), "stray bytes: {:?}", String::from_utf8_lossy(&c.buf));
}

#[test]
fn no_body_on_204_and_304_even_if_the_handler_sends_one() {
    let srv = start(|s| {
        route(s, "GET", "/s/{code}", h_status_send, null());
        route(s, "GET", "/", h_ok, null());
    });
    let mut c = Client::new(srv.port);
    for (path, head) in [
        ("/s/204", "HTTP/1.1 204 No Content\r\n\r\n"),
        ("/s/304", "HTTP/1.1 304 Not Modified\r\n\r\n"),
    ] {
        let r = c.roundtrip(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        assert_eq!(r.head_without_date(), head, "{path}");
        assert!(c.buf.is_empty(), "{path}: body bytes sent");
        assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").body, b"ok", "{path}");
    }
}

/// A HEAD request the parser refuses (here: no Host) still gets no body
/// (RFC 9110 §9.3.2: a response to HEAD never has content).
#[test]
fn head_request_rejected_by_the_parser_gets_no_body() {
    let srv = start_basic(|_| {});
    for req in [
        &b"HEAD / HTTP/1.1\r\n\r\n"[..],
        b"HEAD / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\n\r\n",
    ] {
        let mut c = Client::new(srv.port);
        c.send(req);
        let raw = read_until_eof(&mut c.s, SOON).expect("closed");
        let text = String::from_utf8_lossy(&raw).into_owned();
        assert!(text.starts_with("HTTP/1.1 4"), "{text:?}");
        assert!(
            text.ends_with("\r\n\r\n"),
            "{:?}: body bytes after the head of a response to HEAD: {text:?}",
            String::from_utf8_lossy(req)
        );
    }
}

fn imf_fixdate_to_unix(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || &b[25..] != b" GMT" {
        return None;
    }
    if b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || b[19] != b':' || b[22] != b':' {
        return None;
    }
    let wd = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        .iter()
        .position(|d| d.as_bytes() == &b[..3])? as i64;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m.as_bytes() == &b[8..11])? as i64
        + 1;
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = &s[r];
        t.bytes().all(|c| c.is_ascii_digit()).then(|| t.parse().ok())?
    };
    let (day, year, hh, mm, ss) = (num(5..7)?, num(12..16)?, num(17..19)?, num(20..22)?, num(23..25)?);
    if !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    // 1970-01-01 was a Thursday.
    ((days + 3).rem_euclid(7) == wd).then_some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[test]
fn date_header_is_an_imf_fixdate_of_now() {
    assert_eq!(imf_fixdate_to_unix("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
    assert_eq!(imf_fixdate_to_unix("Mon, 06 Nov 1994 08:49:37 GMT"), None);
    let srv = start(|s| {
        route(s, "GET", "/", h_ok, null());
        route(s, "GET", "/s/{code}", h_status_send, null());
    });
    let mut c = Client::new(srv.port);
    for req in [
        &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET /s/204 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /s/500 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /missing HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        let r = c.roundtrip(req);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let dates = r.headers_named("Date");
        assert_eq!(dates.len(), 1, "{:?}", r.raw_head);
        let line = r.raw_head.split("\r\n").nth(1).unwrap();
        assert_eq!(line, format!("Date: {}", dates[0]), "Date follows the status line");
        let t = imf_fixdate_to_unix(dates[0]).unwrap_or_else(|| panic!("not an IMF-fixdate: {:?}", dates[0]));
        assert!((now - t).abs() <= 10, "Date {:?} is {}s off", dates[0], now - t);
    }
}

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

fn deliver(c: &mut Client, req: &[u8], bytewise: bool) {
    if bytewise {
        send_bytewise(&mut c.s, req);
    } else {
        let _ = c.s.write_all(req);
    }
}

fn long_line(target_len: usize) -> Vec<u8> {
    let mut v = b"GET /".to_vec();
    v.extend(std::iter::repeat_n(b'a', target_len - 1));
    v.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    v
}

fn long_header(value_len: usize) -> Vec<u8> {
    let mut v = b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: ".to_vec();
    v.extend(std::iter::repeat_n(b'a', value_len));
    v.extend_from_slice(b"\r\n\r\n");
    v
}

#[test]
fn header_limits_default() {
    let srv = start_basic(|_| {});
    for bytewise in [false, true] {
        let mut c = Client::new(srv.port);
        deliver(&mut c, &long_header(17 * 1024), bytewise);
        assert_lib_error(&c.response(false), 431, "Request Header Fields Too Large");
        assert!(c.closed_within(SOON));
        let mut c = Client::new(srv.port);
        deliver(&mut c, &long_line(17 * 1024), bytewise);
        assert_lib_error(&c.response(false), 414, "URI Too Long");
        assert!(c.closed_within(SOON));
        // Just under the limit: fine.
        let mut c = Client::new(srv.port);
        deliver(&mut c, &long_header(15 * 1024), bytewise);
        assert_eq!(c.response(false).status, 200);
    }
    assert_healthy(srv.port);
}

#[test]
fn small_header_limit_gives_431_for_fields_and_414_for_the_request_line() {
    let srv = start_basic(|s| {
        assert_eq!(server_set_limits(s, 512, 1024), MR_OK);
    });
    let mut failures = Vec::new();
    for bytewise in [false, true] {
        // Fields over the limit: 431.
        let mut c = Client::new(srv.port);
        deliver(&mut c, &long_header(600), bytewise);
        let r = c.response(false);
        if r.status != 431 {
            failures.push(format!("600-byte field (bytewise {bytewise}): got {}", r.status));
        }
        // The request line alone over the limit: 414, however it arrives.
        let mut c = Client::new(srv.port);
        deliver(&mut c, &long_line(600), bytewise);
        let r = c.response(false);
        if r.status != 414 {
            failures.push(format!(
                "600-byte request target (bytewise {bytewise}): got {} {}",
                r.status, r.reason
            ));
        }
        // Under the limit: fine.
        let mut c = Client::new(srv.port);
        deliver(&mut c, &long_header(400), bytewise);
        assert_eq!(c.response(false).status, 200);
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_healthy(srv.port);
}

#[test]
fn max_header_fields() {
    let srv = start_basic(|s| {
        assert_eq!(server_set_max_headers(s, 4), MR_OK);
    });
    let req = |n: usize| {
        let mut v = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..n {
            v.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        v.extend_from_slice(b"\r\n");
        v
    };
    for bytewise in [false, true] {
        let mut c = Client::new(srv.port);
        deliver(&mut c, &req(3), bytewise);
        assert_eq!(c.response(false).status, 200, "4 fields");
        let mut c = Client::new(srv.port);
        deliver(&mut c, &req(4), bytewise);
        assert_lib_error(&c.response(false), 431, "Request Header Fields Too Large");
        assert!(c.closed_within(SOON));
    }
}

#[test]
fn body_over_max_body_bytes_is_413() {
    let srv = start_basic(|s| {
        assert_eq!(server_set_limits(s, 16384, 1024), MR_OK);
    });
    let exact: Vec<u8> = vec![b'e'; 1024];
    let mut c = Client::new(srv.port);
    let mut req = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1024\r\n\r\n".to_vec();
    req.extend_from_slice(&exact);
    let r = c.roundtrip(&req);
    assert_eq!((r.status, r.body.len()), (200, 1024), "exactly max_body_bytes");
    let mut c = Client::new(srv.port);
    let r = c.roundtrip(
        &[
            &b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            &chunk_up(&exact, 100),
        ]
        .concat(),
    );
    assert_eq!((r.status, r.body.len()), (200, 1024), "exactly max_body_bytes, chunked");

    let over: Vec<u8> = vec![b'o'; 1025];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // Content-Length over the limit: answered before the body is sent.
        (
            "CL 1025, no body sent",
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1025\r\n\r\n".to_vec(),
        ),
        (
            "CL 10 MiB, no body sent",
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10485760\r\n\r\n".to_vec(),
        ),
        (
            "chunked, one 2000-byte chunk",
            [
                &b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
                &chunk_up(&[b'o'; 2000], 2000),
            ]
            .concat(),
        ),
        (
            "chunked, 100-byte chunks",
            [
                &b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
                &chunk_up(&over, 100),
            ]
            .concat(),
        ),
        (
            "chunked, announced 1 GiB chunk",
            b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n40000000\r\nabc".to_vec(),
        ),
    ];
    for (what, req) in &cases {
        let mut c = Client::new(srv.port);
        c.send(req);
        let r = c.response(false);
        assert_eq!(r.status, 413, "{what}: {:?}", r.text());
        assert_lib_error(&r, 413, "Content Too Large");
        assert!(c.closed_within(SOON), "{what}");
    }
    assert_healthy(srv.port);
}

#[test]
fn unread_bodies_are_drained_up_to_64k_else_the_connection_closes() {
    let srv = start_basic(|s| {
        route(s, "POST", "/ignore", h_ignore, null());
    });
    let ignored_head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 7\r\n\r\n";
    // Small unread bodies (CL and chunked), each followed by a pipelined
    // request in the same write: drained, the next request answered.
    let small_cl = [
        &b"POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 1024\r\n\r\n"[..],
        &[b'G'; 1024][..],
    ]
    .concat();
    let small_chunked = [
        &b"POST /ignore HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        &chunk_up(b"GET /evil HTTP/1.1\r\nHost: a\r\n\r\n", 7),
    ]
    .concat();
    let at_limit = [
        &b"POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 65536\r\n\r\n"[..],
        &vec![b'x'; 65536][..],
    ]
    .concat();
    for (what, req) in [
        ("1 KiB CL", &small_cl),
        ("chunked", &small_chunked),
        ("64 KiB CL", &at_limit),
    ] {
        let mut c = Client::new(srv.port);
        c.send(&[&req[..], b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"].concat());
        let r = c.response(false);
        assert_eq!(r.head_without_date(), ignored_head, "{what}");
        let r = c.response(false);
        assert_eq!(
            (r.status, r.body.as_slice()),
            (200, &b"ok"[..]),
            "{what}: the next request"
        );
        assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200, "{what}");
    }
    // Over the drain limit: the answer says close, and the connection closes.
    for len in [65537usize, 100 * 1024, 10 << 20] {
        let mut c = Client::new(srv.port);
        c.send(format!("POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: {len}\r\n\r\n").as_bytes());
        c.send(&[b'x'; 4096]);
        let r = c.response(false);
        assert_eq!(
            r.head_without_date(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 7\r\nConnection: close\r\n\r\n",
            "CL {len}"
        );
        assert!(c.closed_within(SOON), "CL {len}");
    }
    assert_healthy(srv.port);
}

// ---------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------

#[test]
fn header_deadline_is_total_from_the_first_byte() {
    let srv = start_basic(|s| {
        assert_eq!(server_set_timeouts(s, 500, 5000, 5000), MR_OK);
    });
    let mut c = Client::new(srv.port);
    let mut writer = c.s.try_clone().unwrap();
    let stop = leak(AtomicBool::new(false));
    let t0 = Instant::now();
    let trickler = std::thread::spawn(move || {
        // A head that never ends, one byte every 100 ms, for at most 5 s.
        let head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ";
        let mut i = 0usize;
        while !stop.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(5) {
            let b = head.get(i).copied().unwrap_or(b'a');
            if writer.write_all(&[b]).is_err() {
                break;
            }
            i += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let r = c.response(false);
    let took = t0.elapsed();
    stop.store(true, Ordering::SeqCst);
    assert_lib_error(&r, 408, "Request Timeout");
    assert!(
        took >= Duration::from_millis(450),
        "408 after {took:?}, before the 500 ms deadline"
    );
    assert!(
        took < Duration::from_millis(3000),
        "408 after {took:?}: the deadline was extended by trickling"
    );
    assert!(c.closed_within(SOON));
    trickler.join().unwrap();
    assert_healthy(srv.port);
}

#[test]
fn idle_keep_alive_connection_closes_silently() {
    let srv = start_basic(|s| {
        assert_eq!(server_set_timeouts(s, 5000, 300, 5000), MR_OK);
    });
    let mut c = Client::new(srv.port);
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
    let t0 = Instant::now();
    assert!(
        c.closed_within(SOON),
        "idle connection not closed (or bytes sent: {:?})",
        c.buf
    );
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "closed after {took:?}, before the idle timeout"
    );
    // A connection that never sends a byte is closed the same way.
    let mut c = Client::new(srv.port);
    let t0 = Instant::now();
    assert!(
        c.closed_within(SOON),
        "silent new connection not closed (or bytes sent: {:?})",
        c.buf
    );
    assert!(t0.elapsed() >= Duration::from_millis(250));
    assert_healthy(srv.port);
}

#[test]
fn stalled_body_gets_408_and_close() {
    let srv = start_basic(|s| {
        assert_eq!(server_set_body_timeout(s, 300), MR_OK);
    });
    for req in [
        &b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello"[..],
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
    ] {
        let mut c = Client::new(srv.port);
        c.send(req);
        let t0 = Instant::now();
        let r = c.response(false);
        let took = t0.elapsed();
        assert_lib_error(&r, 408, "Request Timeout");
        assert!(took >= Duration::from_millis(250) && took < SOON, "408 after {took:?}");
        assert!(c.closed_within(SOON));
    }
    assert_healthy(srv.port);
}

#[test]
fn write_timeout_fails_resp_send_when_the_client_does_not_read() {
    resp_send_times_out(h_big_send, "");
}

/// The worker keeps the time of its last look at I/O; a handler's own
/// time must not come off the write timeout of its first blocking send.
#[test]
fn a_handler_that_ran_for_a_while_still_gets_the_whole_write_timeout() {
    resp_send_times_out(h_slow_big_send, ", after a 600 ms handler");
}

/// `handler` sends to a client that does not read, with a 300 ms write
/// timeout: the failing resp_send takes about that long, later sends fail,
/// and the connection closes. `what` tells the cases apart in messages.
fn resp_send_times_out(handler: unsafe extern "C" fn(*mut mr_req, *mut mr_resp, *mut c_void) -> c_int, what: &str) {
    let probe = Probe::new();
    let srv = start(|s| {
        route(s, "GET", "/big", handler, ud(probe));
        route(s, "GET", "/", h_ok, null());
        assert_eq!(server_set_timeouts(s, 5000, 5000, 300), MR_OK);
    });
    let mut c = Client::new(srv.port);
    c.send(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(
        probe.wait(Duration::from_secs(20)),
        "resp_send never returned: the handler hangs{what}"
    );
    assert_eq!(
        probe.code.load(Ordering::SeqCst),
        MR_ETIMEDOUT,
        "resp_send to a client that does not read{what}"
    );
    let ms = probe.failing_call_ms.load(Ordering::SeqCst);
    assert!(
        (250..5000).contains(&ms),
        "the failing resp_send took {ms} ms with a 300 ms write timeout{what}"
    );
    assert_eq!(
        probe.after.load(Ordering::SeqCst),
        MR_ECLOSED,
        "sending after MR_ETIMEDOUT{what}"
    );
    // The connection is closed: what was sent ends, incomplete.
    let rest = read_until_eof(&mut c.s, Duration::from_secs(10)).expect("connection closed after the timeout");
    assert!(rest.len() < 64 << 20);
    assert_healthy(srv.port);
}

/// The same for the idle wait after a slow handler's response.
#[test]
fn a_handler_that_ran_for_a_while_does_not_shorten_the_idle_timeout() {
    let srv = start(|s| {
        route(s, "GET", "/slow", h_slow_ok, null());
        route(s, "GET", "/", h_ok, null());
        assert_eq!(server_set_timeouts(s, 5000, 300, 5000), MR_OK);
    });
    let mut c = Client::new(srv.port);
    assert_eq!(c.roundtrip(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
    let t0 = Instant::now();
    assert!(
        c.closed_within(SOON),
        "idle connection not closed (or bytes sent: {:?})",
        String::from_utf8_lossy(&c.buf)
    );
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(250),
        "closed {took:?} after a 600 ms handler's response, with a 300 ms idle timeout"
    );
    assert_healthy(srv.port);
}

/// A connection's idle timer is moved to each wait's deadline rather than
/// made anew: requests that come more often than the idle timeout keep
/// the connection open past many of its earlier deadlines, and once they
/// stop it closes one idle timeout after the last answer.
#[test]
fn requests_within_the_idle_timeout_keep_the_connection_open() {
    let srv = start(|s| {
        route(s, "GET", "/", h_ok, null());
        assert_eq!(server_set_timeouts(s, 5000, 400, 5000), MR_OK);
    });
    let mut c = Client::new(srv.port);
    let start = Instant::now();
    let mut n = 0;
    // At least 1.2 s (three idle timeouts) of requests 150 ms apart.
    while start.elapsed() < Duration::from_millis(1200) {
        assert_eq!(
            c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status,
            200,
            "request {n}, {:?} into the connection",
            start.elapsed()
        );
        n += 1;
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(n >= 6, "only {n} requests");
    let last = Instant::now();
    assert!(
        c.closed_within(SOON),
        "idle connection not closed (or bytes sent: {:?})",
        String::from_utf8_lossy(&c.buf)
    );
    let took = last.elapsed();
    assert!(
        took >= Duration::from_millis(200),
        "closed {took:?} after the last request (150 ms after its answer), with a 400 ms idle timeout"
    );
    assert_healthy(srv.port);
}

#[test]
fn client_disconnecting_mid_stream_fails_resp_send() {
    let probe = Probe::new();
    let srv = start(|s| {
        route(s, "GET", "/big", h_big_send, ud(probe));
        route(s, "GET", "/", h_ok, null());
        assert_eq!(server_set_timeouts(s, 5000, 5000, 2000), MR_OK);
    });
    let mut c = Client::new(srv.port);
    c.send(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut got = 0;
    let mut tmp = [0u8; 65536];
    while got < 256 * 1024 {
        let n = c.s.read(&mut tmp).unwrap();
        assert!(n > 0);
        got += n;
    }
    drop(c);
    assert!(
        probe.wait(Duration::from_secs(20)),
        "resp_send never returned after the client left"
    );
    let code = probe.code.load(Ordering::SeqCst);
    assert!(
        code == MR_ECLOSED || code == MR_ETIMEDOUT,
        "resp_send after the client left gave {code}"
    );
    assert_healthy(srv.port);
}

unsafe extern "C" fn h_close_then_work(_req: *mut mr_req, resp: *mut mr_resp, _ud: *mut c_void) -> c_int {
    resp_close(resp);
    std::thread::sleep(Duration::from_millis(2000));
    0
}

unsafe extern "C" fn h_abort_then_work(_req: *mut mr_req, resp: *mut mr_resp, _ud: *mut c_void) -> c_int {
    resp_abort(resp, 503, std::ptr::null(), std::ptr::null());
    std::thread::sleep(Duration::from_millis(2000));
    0
}

/// resp_close "closes the connection now" and resp_abort "sends, then
/// closes": the client sees the end at once, not when the handler returns.
#[test]
fn resp_close_and_resp_abort_close_at_once() {
    let srv = start(|s| {
        route(s, "GET", "/close", h_close_then_work, null());
        route(s, "GET", "/abort", h_abort_then_work, null());
        route(s, "GET", "/", h_ok, null());
        assert_eq!(server_set_workers(s, 4), MR_OK);
    });
    let mut failures = Vec::new();
    for path in ["/close", "/abort"] {
        let mut c = Client::new(srv.port);
        c.send(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        let t0 = Instant::now();
        let raw = read_until_eof(&mut c.s, Duration::from_secs(5));
        let took = t0.elapsed();
        let text = raw.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
        if path == "/abort" {
            assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{text:?}");
        } else {
            assert!(text.is_empty(), "{text:?}");
        }
        if raw.is_none() || took > Duration::from_millis(1000) {
            failures.push(format!(
                "{path}: the client saw the end of the connection after {took:?}, the handler returns after 2 s"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_healthy(srv.port);
}

// ---------------------------------------------------------------------------
// Connection limit
// ---------------------------------------------------------------------------

const BUSY_503: &str =
    "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Length: 24\r\nConnection: close\r\n\r\n503 Service Unavailable\n";

#[test]
fn at_the_limit_the_longest_idle_connection_makes_room() {
    let srv = start_basic(|s| {
        assert_eq!(server_set_max_connections(s, 2), MR_OK);
    });
    let mut c1 = Client::new(srv.port);
    assert_eq!(c1.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
    std::thread::sleep(Duration::from_millis(20));
    let mut c2 = Client::new(srv.port);
    assert_eq!(c2.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
    // Both idle: the third is served, and c1 (idle longest) is closed
    // without a response.
    let mut c3 = Client::new(srv.port);
    assert_eq!(c3.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
    assert_eq!(read_until_eof(&mut c1.s, SOON).expect("c1 closed"), b"");
    // c2 and c3 keep working; c2 is now the longest idle (idle stamps are
    // in milliseconds: keep them apart).
    assert_eq!(c2.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(c3.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
    let mut c4 = Client::new(srv.port);
    assert_eq!(c4.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
    assert_eq!(read_until_eof(&mut c2.s, SOON).expect("c2 closed"), b"");
    assert_eq!(c3.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
}

#[test]
fn at_the_limit_with_nothing_idle_new_connections_get_503() {
    let srv = start_basic(|s| {
        assert_eq!(server_set_max_connections(s, 2), MR_OK);
    });
    // Two connections in the middle of a request head are busy, not idle.
    let mut c1 = Client::new(srv.port);
    c1.send(b"GET / HTTP/1.1\r\nHost: a\r\n");
    let mut c2 = Client::new(srv.port);
    c2.send(b"GET / HTTP/1.1\r\nHost: a\r\n");
    std::thread::sleep(Duration::from_millis(50));
    let mut c3 = Client::new(srv.port);
    let raw = read_until_eof(&mut c3.s, SOON).expect("the third connection is closed");
    assert_eq!(String::from_utf8_lossy(&raw), BUSY_503);
    // The busy ones finish their requests undisturbed.
    c1.send(b"\r\n");
    assert_eq!(c1.response(false).status, 200);
    c2.send(b"\r\n");
    assert_eq!(c2.response(false).status, 200);
}

#[test]
fn per_address_limit() {
    let srv = start_basic(|s| {
        assert_eq!(server_set_max_connections_per_ip(s, 2), MR_OK);
    });
    let mut a1 = Client::new(srv.port);
    assert_eq!(a1.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
    let mut a2 = Client::new(srv.port);
    assert_eq!(a2.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
    // A third from 127.0.0.1 is refused, even though the server has room.
    let mut a3 = Client::new(srv.port);
    let raw = read_until_eof(&mut a3.s, SOON).expect("refused and closed");
    assert_eq!(String::from_utf8_lossy(&raw), BUSY_503);
    // Another address is served.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&"127.0.0.2:0".parse::<std::net::SocketAddr>().unwrap().into())
        .unwrap();
    sock.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], srv.port)).into())
        .unwrap();
    let s: std::net::TcpStream = sock.into();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut b = Client { s, buf: Vec::new() };
    assert_eq!(b.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
    // When one of 127.0.0.1's closes, it may open another.
    drop(a1);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = Client::new(srv.port);
        let r = c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 503);
        assert!(Instant::now() < deadline, "the address's count never went down");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(a2.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
}

#[test]
fn connections_over_the_limit_get_503_when_purging_is_off() {
    let srv = start_basic(|s| {
        assert_eq!(server_set_max_connections(s, 2), MR_OK);
        assert_eq!(server_set_lru_purge(s, 0), MR_OK);
    });
    let mut c1 = Client::new(srv.port);
    assert_eq!(c1.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
    let mut c2 = Client::new(srv.port);
    assert_eq!(c2.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
    let mut c3 = Client::new(srv.port);
    let raw = read_until_eof(&mut c3.s, SOON).expect("the third connection is closed");
    assert_eq!(
        String::from_utf8_lossy(&raw),
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: 24\r\nConnection: close\r\n\r\n503 Service Unavailable\n"
    );
    // The first two still work.
    assert_eq!(c1.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
    assert_eq!(c2.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").status, 200);
    // Once one closes, a new connection is served (bounded retry).
    drop(c1);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // A refused connection gets the 503 at once, before any request.
        let mut c = Client::new(srv.port);
        c.s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let mut tmp = [0u8; 16];
        match c.s.read(&mut tmp) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                c.s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                let r = c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
                assert_eq!(r.status, 200);
                break;
            }
            Ok(n) => assert!(tmp[..n].starts_with(b"HTTP/1.1 503"), "{:?}", &tmp[..n]),
            Err(e) => panic!("read: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "a slot never freed up after a connection closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(c2);
}

// ---------------------------------------------------------------------------
// Methods, OPTIONS, 405, absolute-form
// ---------------------------------------------------------------------------

fn method_server() -> Running {
    start(|s| {
        route(s, "GET", "/", h_ok, null());
        route(s, "PROPFIND", "/dav", h_describe, null());
        route(s, "GET", "/r", h_describe, null());
        route(s, "POST", "/r", h_describe, null());
    })
}

#[test]
fn unknown_methods_are_501_and_custom_ones_are_routed() {
    let srv = method_server();
    for req in [
        &b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"get / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"propfind /dav HTTP/1.1\r\nHost: a\r\n\r\n",
        b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        let mut c = Client::new(srv.port);
        let r = c.roundtrip(req);
        assert_lib_error(&r, 501, "Not Implemented");
        assert!(c.closed_within(SOON), "{:?}", String::from_utf8_lossy(req));
    }
    let mut c = Client::new(srv.port);
    let r = c.roundtrip(b"PROPFIND /dav HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!((r.status, r.text()), (200, "PROPFIND /dav host=a v=11".to_string()));
    // A registered method on a path without it: 405.
    let r = c.roundtrip(b"PROPFIND /r HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, POST, HEAD"));
    assert_healthy(srv.port);
}

#[test]
fn options_and_405_allow() {
    let srv = method_server();
    let mut c = Client::new(srv.port);
    let r = c.roundtrip(b"OPTIONS /r HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 204 No Content\r\nAllow: GET, POST, HEAD, OPTIONS\r\n\r\n"
    );
    let r = c.roundtrip(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 204 No Content\r\nAllow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n\r\n"
    );
    let r = c.roundtrip(b"DELETE /r HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\nAllow: GET, POST, HEAD\r\nContent-Length: 23\r\n\r\n"
    );
    assert_eq!(r.body, b"405 Method Not Allowed\n");
    let r = c.roundtrip(b"HEAD /dav HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("PROPFIND"));
    let r = c.roundtrip(b"OPTIONS /nope HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 404);
    // All on one connection, which is still usable.
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").body, b"ok");
}

#[test]
fn absolute_form_routes_on_the_path_and_overrides_host() {
    let srv = method_server();
    let mut c = Client::new(srv.port);
    let r = c.roundtrip(b"GET http://example.com:8080/r?x=1 HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(
        (r.status, r.text()),
        (200, "GET /r?x=1 host=example.com:8080 v=11".to_string())
    );
    let r = c.roundtrip(b"POST HTTPS://Example.COM/r HTTP/1.1\r\nHost: other\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.text(), "POST /r host=Example.COM v=11");
    let r = c.roundtrip(b"GET http://example.com HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(r.status, 200, "empty path means /");
    let r = c.roundtrip(b"GET /r HTTP/1.1\r\nHost: plain.example:81\r\n\r\n");
    assert_eq!(r.text(), "GET /r host=plain.example:81 v=11");
}

// ---------------------------------------------------------------------------
// Found by fuzzing: the answer must not depend on where the bytes split
// ---------------------------------------------------------------------------

/// `first`, a pause (so the server reads it alone), then `rest`.
fn split_roundtrip(port: u16, first: &[u8], rest: &[u8]) -> Resp {
    let mut c = Client::new(port);
    c.send(first);
    std::thread::sleep(Duration::from_millis(50));
    c.send(rest);
    c.response(false)
}

#[test]
fn request_line_split_after_its_cr_or_inside_it() {
    let srv = start_basic(|_| {});
    // A minor version above 1 is HTTP/1.1, also when the first packet ends
    // right after the request line's CR.
    let whole = roundtrip(srv.port, b"GET / HTTP/1.2\r\nHost: a\r\n\r\n");
    assert_eq!(whole.status, 200);
    let split = split_roundtrip(srv.port, b"GET / HTTP/1.2\r", b"\nHost: a\r\n\r\n");
    assert_eq!(split.status, 200);
    // Four words are a malformed request line (400), not a version to judge
    // (505), whether or not the line arrives at once.
    let whole = roundtrip(srv.port, b"GET /a b HTTP/2.0\r\nHost: a\r\n\r\n");
    assert_eq!(whole.status, 400);
    let split = split_roundtrip(srv.port, b"GET /a b", b" HTTP/2.0\r\nHost: a\r\n\r\n");
    assert_eq!(split.status, 400);
}

#[test]
fn an_over_limit_head_gets_the_same_answer_however_it_arrives() {
    let srv = start_basic(|_| {});
    // A control byte early in a header line that runs past the 16 KiB limit:
    // the bytes within the limit decide (400), also when trickled.
    let mut head = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 100));
    head.push(0x01);
    head.extend(std::iter::repeat_n(b'a', 17_000));
    head.extend_from_slice(b"\r\n\r\n");
    let whole = roundtrip(srv.port, &head);
    assert_eq!(whole.status, 400);
    // The first piece ends before the control byte; no later piece holds a
    // line end until the limit has passed.
    let mut c = Client::new(srv.port);
    c.send(&head[..60]);
    std::thread::sleep(Duration::from_millis(50));
    for piece in head[60..].chunks(1000) {
        c.send(piece);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(c.response(false).status, 400);
}
