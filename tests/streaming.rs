//! Streaming responses over real sockets: `resp_stream` producers,
//! `resp_defer` / `resp_finish` from other threads, Server-Sent Events
//! (`resp_sse_event`, `resp_sse_heartbeat`) and what happens when the client
//! is slow or goes away.
//!
//! Every wait is bounded; the bounds are generous (a loaded 2-core box), the
//! point is "not blocked / not a hang", never a benchmark.
mod common;
use common::*;

use std::ffi::{c_char, c_int, c_void};
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Generous bound for "happens soon, not a hang".
const SOON: Duration = Duration::from_secs(5);

fn null<T>() -> *mut T {
    std::ptr::null_mut()
}

fn cnull() -> *const c_char {
    std::ptr::null()
}

/// Polls `f` every 5 ms until it holds or `within` passed.
fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// A head without its `Date:` line.
fn no_date(head: &str) -> String {
    head.split_inclusive("\r\n")
        .filter(|l| !l.starts_with("Date: "))
        .collect()
}

/// One chunk of a chunked body, exactly.
fn chunk(data: &[u8]) -> Vec<u8> {
    let mut v = format!("{:x}\r\n", data.len()).into_bytes();
    v.extend_from_slice(data);
    v.extend_from_slice(b"\r\n");
    v
}

fn chunks(pieces: &[&[u8]], last: bool) -> Vec<u8> {
    let mut v: Vec<u8> = pieces.iter().flat_map(|p| chunk(p)).collect();
    if last {
        v.extend_from_slice(b"0\r\n\r\n");
    }
    v
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Reads a response head (up to the blank line) from `c`, keeping what
/// follows in `c.buf`; returns it without the Date line.
fn read_head(c: &mut Client) -> String {
    let deadline = Instant::now() + SOON;
    loop {
        if let Some(p) = c.buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = c.buf.drain(..p + 4).collect();
            return no_date(&show(&head));
        }
        assert!(Instant::now() < deadline, "no head in time: {:?}", show(&c.buf));
        let mut tmp = [0u8; 4096];
        match c.s.read(&mut tmp) {
            Ok(0) => panic!("EOF before a head: {:?}", show(&c.buf)),
            Ok(n) => c.buf.extend_from_slice(&tmp[..n]),
            Err(e) => panic!("read: {e} (have {:?})", show(&c.buf)),
        }
    }
}

/// Reads exactly `n` more bytes (from `c.buf` first), within the client's
/// read timeout.
fn take(c: &mut Client, n: usize) -> Vec<u8> {
    let mut tmp = [0u8; 16384];
    while c.buf.len() < n {
        match c.s.read(&mut tmp) {
            Ok(0) => panic!("EOF after {:?}, wanted {n} bytes", show(&c.buf)),
            Ok(k) => c.buf.extend_from_slice(&tmp[..k]),
            Err(e) => panic!("read: {e} (have {:?}, wanted {n} bytes)", show(&c.buf)),
        }
    }
    c.buf.drain(..n).collect()
}

/// Asserts the next bytes are exactly `want`.
fn expect_bytes(c: &mut Client, want: &[u8]) {
    let got = take(c, want.len());
    assert_eq!(show(&got), show(want));
}

/// Everything until the server closes (what was buffered included).
fn rest_until_close(c: &mut Client) -> Vec<u8> {
    let mut v = std::mem::take(&mut c.buf);
    v.extend(read_to_end(&mut c.s));
    v
}

/// A response handle that may cross threads (the contract allows a
/// deferred handle to be used from any thread, one at a time).
#[derive(Clone, Copy)]
struct Handle(*mut mr_resp);
// SAFETY: see above; each test uses a handle from one thread at a time.
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}
impl Handle {
    fn get(self) -> *mut mr_resp {
        self.0
    }
}

fn send_bytes(resp: *mut mr_resp, b: &[u8]) -> c_int {
    resp_send(resp, b.as_ptr().cast(), b.len())
}

fn set_header(resp: *mut mr_resp, name: &str, value: &str) -> c_int {
    resp_set_header(resp, cs(name).as_ptr(), cs(value).as_ptr())
}

fn sse(resp: *mut mr_resp, event: Option<&str>, data: &str, id: Option<&str>) -> c_int {
    let e = event.map(cs);
    let i = id.map(cs);
    let d = cs(data);
    resp_sse_event(
        resp,
        e.as_ref().map_or(cnull(), |e| e.as_ptr()),
        d.as_ptr(),
        i.as_ref().map_or(cnull(), |i| i.as_ptr()),
    )
}

// ---------------------------------------------------------------------------
// A producer for resp_stream, with counters the tests inspect.
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Counts {
    /// Calls of the producer.
    calls: AtomicUsize,
    /// Calls of free_userdata.
    frees: AtomicUsize,
    /// The producer returned 0.
    ended: AtomicBool,
}

impl Counts {
    fn frees(&self) -> usize {
        self.frees.load(Ordering::SeqCst)
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// What the producer does after its pieces.
#[derive(Clone, Copy)]
enum Tail {
    /// Returns 0.
    End,
    /// Returns this (negative) value.
    Fail(isize),
    /// Returns `tick\n` forever (after `pause` each).
    Endless,
    /// Returns `big` bytes (a whole buffer) forever, without pausing.
    Flood,
}

struct Gen {
    pieces: Vec<Vec<u8>>,
    next: usize,
    /// Slept before each piece (not before the tail).
    pause: Duration,
    /// Whether the last piece is paused before too.
    pause_last: bool,
    tail: Tail,
    counts: Arc<Counts>,
}

fn gen(pieces: &[&str], pause_ms: u64, tail: Tail, counts: &Arc<Counts>) -> *mut c_void {
    Box::into_raw(Box::new(Gen {
        pieces: pieces.iter().map(|p| p.as_bytes().to_vec()).collect(),
        next: 0,
        pause: Duration::from_millis(pause_ms),
        pause_last: true,
        tail,
        counts: counts.clone(),
    }))
    .cast()
}

/// The seed's `generate()`: "count: 0" .. "count: 9" with a pause before
/// each, then "Completed!".
fn seed_gen(pause_ms: u64, counts: &Arc<Counts>) -> *mut c_void {
    let p = gen(SEED_PIECES, pause_ms, Tail::End, counts);
    // "Completed!" comes without a pause, as in the seed.
    // SAFETY: just made above, not shared yet.
    unsafe { (*(p as *mut Gen)).pause_last = false };
    p
}

unsafe extern "C" fn gen_next(ud: *mut c_void, buf: *mut c_void, cap: usize) -> isize {
    // SAFETY: `ud` is the Gen given to resp_stream; the library calls the
    // producer from one thread at a time and `buf` holds `cap` bytes.
    let g = unsafe { &mut *(ud as *mut Gen) };
    g.counts.calls.fetch_add(1, Ordering::SeqCst);
    let out = unsafe { std::slice::from_raw_parts_mut(buf as *mut u8, cap) };
    if g.next < g.pieces.len() {
        if g.pause_last || g.next + 1 < g.pieces.len() {
            thread::sleep(g.pause);
        }
        let p = &g.pieces[g.next];
        assert!(p.len() <= cap, "test pieces fit the buffer");
        out[..p.len()].copy_from_slice(p);
        g.next += 1;
        return p.len() as isize;
    }
    match g.tail {
        Tail::End => {
            g.counts.ended.store(true, Ordering::SeqCst);
            0
        }
        Tail::Fail(n) => n,
        Tail::Endless => {
            thread::sleep(g.pause);
            out[..5].copy_from_slice(b"tick\n");
            5
        }
        Tail::Flood => {
            out.fill(b'f');
            cap as isize
        }
    }
}

unsafe extern "C" fn gen_free(ud: *mut c_void) {
    // SAFETY: `ud` is the Box made by `gen`; the library frees it once.
    let g = unsafe { Box::from_raw(ud as *mut Gen) };
    g.counts.frees.fetch_add(1, Ordering::SeqCst);
}

/// Frees a Gen the library did not take (after a refused resp_stream),
/// without counting it as a library free.
fn reclaim(ud: *mut c_void) {
    // SAFETY: the Box made by `gen`, refused by the library.
    drop(unsafe { Box::from_raw(ud as *mut Gen) });
}

/// Registers `GET path` streaming from the Gen `make` builds.
fn stream_route(srv: *mut mr_server, path: &str, make: impl Fn() -> *mut c_void + Send + Sync + 'static) {
    on(srv, "GET", path, move |_, resp| {
        let ud = make();
        let rc = resp_stream(resp, Some(gen_next), ud, Some(gen_free));
        assert_eq!(rc, MR_OK);
        rc
    });
}

/// Asserts free_userdata was called exactly once, within SOON, and stays so.
fn assert_freed_once(counts: &Counts, what: &str) {
    assert!(
        wait_until(SOON, || counts.frees() >= 1),
        "{what}: free_userdata not called"
    );
    thread::sleep(Duration::from_millis(50));
    assert_eq!(counts.frees(), 1, "{what}: free_userdata calls");
}

const SEED_PIECES: &[&str] = &[
    "count: 0",
    "count: 1",
    "count: 2",
    "count: 3",
    "count: 4",
    "count: 5",
    "count: 6",
    "count: 7",
    "count: 8",
    "count: 9",
    "Completed!",
];

// ---------------------------------------------------------------------------
// 1. resp_stream
// ---------------------------------------------------------------------------

#[test]
fn producer_seed_generator_exact_chunked_bytes() {
    let counts = Arc::new(Counts::default());
    let c2 = counts.clone();
    let srv = start_basic(|srv| {
        on(srv, "GET", "/generator", move |_, resp| {
            // resp.headers["content-type"] = "text/plain"; resp.streaming = generate()
            assert_eq!(set_header(resp, "content-type", "text/plain"), MR_OK);
            resp_stream(resp, Some(gen_next), seed_gen(100, &c2), Some(gen_free))
        });
    });
    let mut c = Client::new(srv.port);
    let t0 = Instant::now();
    c.send(b"GET /generator HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        read_head(&mut c),
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    // Each piece goes out as it is produced: the first arrives while the
    // producer still has ~1 s of pauses to go.
    expect_bytes(&mut c, &chunk(b"count: 0"));
    assert!(
        !counts.ended.load(Ordering::SeqCst),
        "the first piece arrived only after the producer ended ({:?})",
        t0.elapsed()
    );
    let rest: Vec<&[u8]> = SEED_PIECES[1..].iter().map(|p| p.as_bytes()).collect();
    let rest = chunks(&rest, true);
    expect_bytes(&mut c, &rest);
    assert!(t0.elapsed() >= Duration::from_millis(900), "the pauses happened");
    assert_freed_once(&counts, "normal end");
    assert_eq!(counts.calls(), 12, "11 pieces and the end");
    // Keep-alive: the connection carries the next request.
    let r = c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.text(), "ok");
    // And through the harness parser, the same body.
    let r = roundtrip(
        srv.port,
        b"GET /generator HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(
        r.text(),
        "count: 0count: 1count: 2count: 3count: 4count: 5count: 6count: 7count: 8count: 9Completed!"
    );
    assert!(wait_until(SOON, || counts.frees() == 2));
}

#[test]
fn sleeping_producer_does_not_hold_the_only_worker() {
    let counts = Arc::new(Counts::default());
    let c2 = counts.clone();
    let srv = start_basic(|srv| {
        assert_eq!(server_set_workers(srv, 1), MR_OK);
        stream_route(srv, "/slow", move || gen(&["a", "b", "c", "d"], 300, Tail::End, &c2));
    });
    let mut a = Client::new(srv.port);
    a.send(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        read_head(&mut a),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let mut worst = Duration::ZERO;
    for piece in ["a", "b", "c"] {
        // The producer is (about to be) asleep for 300 ms: another
        // connection is answered meanwhile.
        assert!(wait_until(SOON, || counts.calls() >= 1));
        let t = Instant::now();
        let r = roundtrip(srv.port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let took = t.elapsed();
        worst = worst.max(took);
        assert_eq!(r.text(), "ok");
        assert!(
            took < Duration::from_millis(250),
            "GET / took {took:?} while a producer slept (one worker)"
        );
        expect_bytes(&mut a, &chunk(piece.as_bytes()));
    }
    expect_bytes(&mut a, &chunks(&[b"d"], true));
    println!("worst concurrent GET while the producer slept: {worst:?}");
    assert_freed_once(&counts, "normal end, one worker");
}

#[test]
fn producer_error_closes_without_final_chunk() {
    let counts = Arc::new(Counts::default());
    let c2 = counts.clone();
    let srv = start_basic(|srv| {
        stream_route(srv, "/fail", move || gen(&["one", "two"], 0, Tail::Fail(-1), &c2));
    });
    let mut c = Client::new(srv.port);
    c.send(b"GET /fail HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        read_head(&mut c),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let rest = rest_until_close(&mut c);
    assert_eq!(show(&rest), show(&chunks(&[b"one", b"two"], false)));
    assert_freed_once(&counts, "producer error");
    assert_eq!(counts.calls(), 3);
    assert_healthy(srv.port);
}

#[test]
fn producer_error_with_other_negative_values() {
    let counts = Arc::new(Counts::default());
    let c2 = counts.clone();
    let srv = start_basic(|srv| {
        stream_route(srv, "/fail", move || gen(&["x"], 0, Tail::Fail(isize::MIN), &c2));
    });
    let mut c = Client::new(srv.port);
    c.send(b"GET /fail HTTP/1.1\r\nHost: a\r\n\r\n");
    read_head(&mut c);
    assert_eq!(show(&rest_until_close(&mut c)), show(&chunk(b"x")));
    assert_freed_once(&counts, "producer error isize::MIN");
}

#[test]
fn client_gone_mid_stream_frees_userdata_once() {
    let counts = Arc::new(Counts::default());
    let c2 = counts.clone();
    let srv = start_basic(|srv| {
        stream_route(srv, "/endless", move || gen(&[], 20, Tail::Endless, &c2));
    });
    let mut c = Client::new(srv.port);
    c.send(b"GET /endless HTTP/1.1\r\nHost: a\r\n\r\n");
    read_head(&mut c);
    expect_bytes(&mut c, &chunk(b"tick\n"));
    expect_bytes(&mut c, &chunk(b"tick\n"));
    drop(c);
    assert_freed_once(&counts, "client went away");
    // The producer is not called any more.
    let calls = counts.calls();
    thread::sleep(Duration::from_millis(200));
    assert_eq!(counts.calls(), calls, "producer still called after free");
    assert_healthy(srv.port);
}

#[test]
fn head_request_gets_no_body_and_frees_userdata() {
    let counts = Arc::new(Counts::default());
    let c2 = counts.clone();
    let srv = start_basic(|srv| {
        on(srv, "GET", "/gen", move |_, resp| {
            set_header(resp, "Content-Type", "text/plain");
            resp_stream(resp, Some(gen_next), seed_gen(0, &c2), Some(gen_free))
        });
    });
    let mut c = Client::new(srv.port);
    // HEAD, then GET / on the same connection: any body byte sent for the
    // HEAD would show up in front of the second response.
    c.send(b"HEAD /gen HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let h = c.response(true);
    assert_eq!(
        h.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
    );
    let r = c.response(false);
    assert_eq!(r.text(), "ok", "the HEAD answer carried body bytes: {r:?}");
    assert_freed_once(&counts, "HEAD");
}

#[test]
fn http10_client_gets_close_delimited_body() {
    let counts = Arc::new(Counts::default());
    let c2 = counts.clone();
    let srv = start_basic(|srv| {
        on(srv, "GET", "/generator", move |_, resp| {
            set_header(resp, "Content-Type", "text/plain");
            resp_stream(resp, Some(gen_next), seed_gen(5, &c2), Some(gen_free))
        });
    });
    let all = "count: 0count: 1count: 2count: 3count: 4count: 5count: 6count: 7count: 8count: 9Completed!";
    for req in [
        &b"GET /generator HTTP/1.0\r\n\r\n"[..],
        b"GET /generator HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    ] {
        let mut c = Client::new(srv.port);
        c.send(req);
        assert_eq!(
            read_head(&mut c),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
            "{}",
            show(req)
        );
        assert_eq!(show(&rest_until_close(&mut c)), all);
    }
    assert!(wait_until(SOON, || counts.frees() == 2));
}

#[test]
fn content_length_set_by_handler_frames_producer_output() {
    let exact = Arc::new(Counts::default());
    let short = Arc::new(Counts::default());
    let long = Arc::new(Counts::default());
    let (e2, s2, l2) = (exact.clone(), short.clone(), long.clone());
    let srv = start_basic(|srv| {
        let route_with = |srv, path: &str, len: &'static str, counts: Arc<Counts>| {
            on(srv, "GET", path, move |_, resp| {
                set_header(resp, "Content-Type", "text/plain");
                set_header(resp, "Content-Length", len);
                let ud = gen(&["count: 0", "Completed!"], 0, Tail::End, &counts);
                resp_stream(resp, Some(gen_next), ud, Some(gen_free))
            });
        };
        route_with(srv, "/exact", "18", e2);
        route_with(srv, "/short", "30", s2);
        route_with(srv, "/long", "10", l2);
    });
    // Exactly the declared length: the connection stays usable.
    let mut c = Client::new(srv.port);
    let r = c.roundtrip(b"GET /exact HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n\r\n"
    );
    assert_eq!(r.text(), "count: 0Completed!");
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text(), "ok");
    assert_freed_once(&exact, "Content-Length exact");

    // Fewer bytes than declared: only a close tells the client.
    let mut c = Client::new(srv.port);
    c.send(b"GET /short HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        read_head(&mut c),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 30\r\n\r\n"
    );
    assert_eq!(show(&rest_until_close(&mut c)), "count: 0Completed!");
    assert_freed_once(&short, "Content-Length short");

    // More than declared: never past the length; the connection closes.
    let mut c = Client::new(srv.port);
    c.send(b"GET /long HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        read_head(&mut c),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n"
    );
    let body = rest_until_close(&mut c);
    assert!(body.len() <= 10, "more than Content-Length went out: {:?}", show(&body));
    assert_eq!(show(&body), "count: 0");
    assert_freed_once(&long, "Content-Length exceeded");
    assert_healthy(srv.port);
}

/// Return codes a handler recorded, for the test thread to check.
type Codes = Arc<Mutex<Vec<(&'static str, c_int)>>>;

fn codes() -> Codes {
    Arc::new(Mutex::new(Vec::new()))
}

fn rec(codes: &Codes, what: &'static str, rc: c_int) {
    codes.lock().unwrap().push((what, rc));
}

fn assert_codes(codes: &Codes, want: &[(&'static str, c_int)]) {
    assert!(
        wait_until(SOON, || codes.lock().unwrap().len() >= want.len()),
        "handler codes: {:?}",
        codes.lock().unwrap()
    );
    assert_eq!(codes.lock().unwrap().as_slice(), want);
}

#[test]
fn sending_after_resp_stream_is_estate_but_head_may_change() {
    let counts = Arc::new(Counts::default());
    let second = Arc::new(Counts::default());
    let got = codes();
    let (c2, s2, g2) = (counts.clone(), second.clone(), got.clone());
    let srv = start_basic(|srv| {
        on(srv, "GET", "/s", move |_, resp| {
            let ud = gen(&["body"], 0, Tail::End, &c2);
            rec(&g2, "stream", resp_stream(resp, Some(gen_next), ud, Some(gen_free)));
            let ud2 = gen(&["other"], 0, Tail::End, &s2);
            let rc = resp_stream(resp, Some(gen_next), ud2, Some(gen_free));
            rec(&g2, "stream again", rc);
            if rc != MR_OK {
                reclaim(ud2);
            }
            rec(&g2, "send", send_bytes(resp, b"x"));
            rec(&g2, "send_str", resp_send_str(resp, c"x".as_ptr()));
            rec(&g2, "send_header", resp_send_header(resp, cnull(), null(), 0));
            rec(&g2, "sse_event", resp_sse_event(resp, cnull(), c"x".as_ptr(), cnull()));
            rec(&g2, "defer is NULL", resp_defer(resp).is_null() as c_int);
            rec(&g2, "set_status", resp_set_status(resp, 201));
            rec(&g2, "set_header", set_header(resp, "X-After", "yes"));
            MR_OK
        });
    });
    let r = roundtrip(srv.port, b"GET /s HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_codes(
        &got,
        &[
            ("stream", MR_OK),
            ("stream again", MR_ESTATE),
            ("send", MR_ESTATE),
            ("send_str", MR_ESTATE),
            ("send_header", MR_ESTATE),
            ("sse_event", MR_ESTATE),
            ("defer is NULL", 1),
            ("set_status", MR_OK),
            ("set_header", MR_OK),
        ],
    );
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 201 Created\r\nX-After: yes\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    assert_eq!(r.text(), "body");
    assert_freed_once(&counts, "first producer");
    assert_eq!(second.frees(), 0, "a refused producer's userdata was freed");
}

#[test]
fn failing_handler_drops_its_producer_once() {
    let counts = Arc::new(Counts::default());
    let c2 = counts.clone();
    let srv = start_basic(|srv| {
        on(srv, "GET", "/s", move |_, resp| {
            let ud = gen(&["body"], 0, Tail::End, &c2);
            assert_eq!(resp_stream(resp, Some(gen_next), ud, Some(gen_free)), MR_OK);
            1
        });
    });
    let r = roundtrip(srv.port, b"GET /s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 500);
    assert_freed_once(&counts, "failing handler");
    assert_eq!(counts.calls(), 0);
}

#[test]
fn resp_stream_on_deferred_or_null_is_refused_and_userdata_kept() {
    let on_deferred = Arc::new(Counts::default());
    let on_original = Arc::new(Counts::default());
    let null_next = Arc::new(Counts::default());
    let null_resp = Arc::new(Counts::default());
    let got = codes();
    let (a, b, n1, n2, g2) = (
        on_deferred.clone(),
        on_original.clone(),
        null_next.clone(),
        null_resp.clone(),
        got.clone(),
    );
    let srv = start_basic(|srv| {
        let g3 = g2.clone();
        on(srv, "GET", "/deferred", move |_, resp| {
            let d = resp_defer(resp);
            assert!(!d.is_null());
            let ud = gen(&["x"], 0, Tail::End, &a);
            let rc = resp_stream(d, Some(gen_next), ud, Some(gen_free));
            rec(&g2, "on deferred handle", rc);
            if rc != MR_OK {
                reclaim(ud);
            }
            let ud = gen(&["x"], 0, Tail::End, &b);
            let rc = resp_stream(resp, Some(gen_next), ud, Some(gen_free));
            rec(&g2, "on original after defer", rc);
            if rc != MR_OK {
                reclaim(ud);
            }
            let h = Handle(d);
            thread::spawn(move || {
                resp_set_text(h.get(), c"finished".as_ptr());
                assert_eq!(resp_finish(h.get()), MR_OK);
            });
            MR_OK
        });
        on(srv, "GET", "/null", move |_, resp| {
            let ud = gen(&["x"], 0, Tail::End, &n1);
            let rc = resp_stream(resp, None, ud, Some(gen_free));
            rec(&g3, "NULL next", rc);
            if rc != MR_OK {
                reclaim(ud);
            }
            let ud = gen(&["x"], 0, Tail::End, &n2);
            let rc = resp_stream(null(), Some(gen_next), ud, Some(gen_free));
            rec(&g3, "NULL resp", rc);
            if rc != MR_OK {
                reclaim(ud);
            }
            resp_set_text(resp, c"plain".as_ptr())
        });
    });
    let r = roundtrip(
        srv.port,
        b"GET /deferred HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.text(), "finished");
    let r = roundtrip(srv.port, b"GET /null HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert_eq!(r.text(), "plain");
    assert_codes(
        &got,
        &[
            ("on deferred handle", MR_ESTATE),
            ("on original after defer", MR_ESTATE),
            ("NULL next", MR_EINVAL),
            ("NULL resp", MR_EINVAL),
        ],
    );
    thread::sleep(Duration::from_millis(50));
    for (what, c) in [
        ("deferred", &on_deferred),
        ("original", &on_original),
        ("NULL next", &null_next),
        ("NULL resp", &null_resp),
    ] {
        assert_eq!(c.frees(), 0, "{what}: a refused producer's userdata was freed");
        assert_eq!(c.calls(), 0, "{what}: a refused producer was called");
    }
}

#[test]
fn server_stop_frees_a_running_producer() {
    let counts = Arc::new(Counts::default());
    let c2 = counts.clone();
    let srv = start_basic(|srv| {
        stream_route(srv, "/endless", move || gen(&[], 30, Tail::Endless, &c2));
    });
    let mut c = Client::new(srv.port);
    c.send(b"GET /endless HTTP/1.1\r\nHost: a\r\n\r\n");
    read_head(&mut c);
    expect_bytes(&mut c, &chunk(b"tick\n"));
    let t = Instant::now();
    assert_eq!(server_stop(srv.srv, 200), MR_OK);
    let took = t.elapsed();
    assert!(took < Duration::from_secs(3), "server_stop(200) took {took:?}");
    assert_freed_once(&counts, "server stopped");
    // The client sees the stream end without the final chunk.
    let rest = rest_until_close(&mut c);
    assert!(!rest.ends_with(b"0\r\n\r\n"), "{:?}", show(&rest));
}

#[test]
fn slow_client_slows_the_producer_and_write_timeout_frees_it() {
    let counts = Arc::new(Counts::default());
    let c2 = counts.clone();
    let srv = start_basic(|srv| {
        assert_eq!(server_set_timeouts(srv, 10_000, 5_000, 500), MR_OK);
        stream_route(srv, "/flood", move || gen(&[], 0, Tail::Flood, &c2));
    });
    let mut c = Client::new(srv.port);
    c.send(b"GET /flood HTTP/1.1\r\nHost: a\r\n\r\n");
    // Never read: the producer must stop being asked for pieces, and the
    // write timeout must end the response and free the userdata.
    assert_freed_once(&counts, "write timeout");
    let calls = counts.calls();
    println!("producer calls before the write timeout: {calls}");
    assert!(
        calls < 64 * 1024,
        "{calls} pieces produced for a client that never read"
    );
    drop(c);
    assert_healthy(srv.port);
}

// ---------------------------------------------------------------------------
// 2. resp_defer / resp_finish
// ---------------------------------------------------------------------------

#[test]
fn deferred_response_finished_from_another_thread() {
    let got = codes();
    let g2 = got.clone();
    let srv = start_basic(|srv| {
        on(srv, "GET", "/later", move |_, resp| {
            set_header(resp, "X-Before", "1");
            let d = resp_defer(resp);
            assert!(!d.is_null());
            let h = Handle(d);
            let g = g2.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(150));
                let d = h.get();
                rec(&g, "status", resp_set_status(d, 201));
                rec(&g, "header", set_header(d, "X-Later", "yes"));
                rec(&g, "text", resp_set_text(d, c"done later".as_ptr()));
                rec(&g, "finish", resp_finish(d));
            });
            MR_OK
        });
    });
    let mut c = Client::new(srv.port);
    let t = Instant::now();
    let r = c.roundtrip(b"GET /later HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(t.elapsed() >= Duration::from_millis(140), "answered before finish");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 201 Created\r\nX-Before: 1\r\nX-Later: yes\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 10\r\n\r\n"
    );
    assert_eq!(r.text(), "done later");
    assert_codes(
        &got,
        &[("status", MR_OK), ("header", MR_OK), ("text", MR_OK), ("finish", MR_OK)],
    );
    // Keep-alive goes on after the deferred response.
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text(), "ok");
}

#[test]
fn deferred_streaming_from_a_thread_exact_chunks() {
    let (step_tx, step_rx) = mpsc::channel::<()>();
    let step_rx = Arc::new(Mutex::new(step_rx));
    let got = codes();
    let g2 = got.clone();
    let srv = start_basic(|srv| {
        on(srv, "GET", "/stream", move |_, resp| {
            let h = Handle(resp_defer(resp));
            let (g, rx) = (g2.clone(), step_rx.clone());
            thread::spawn(move || {
                let d = h.get();
                rec(&g, "send hello", resp_send_str(d, c"hello".as_ptr()));
                rec(&g, "flush", resp_flush(d));
                // Wait until the client saw "hello".
                rx.lock().unwrap().recv_timeout(SOON).expect("step");
                rec(&g, "send world", send_bytes(d, b" world"));
                rec(&g, "send !", send_bytes(d, b"!"));
                rec(&g, "finish", resp_finish(d));
            });
            MR_OK
        });
    });
    let mut c = Client::new(srv.port);
    c.send(b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        read_head(&mut c),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    expect_bytes(&mut c, &chunk(b"hello"));
    step_tx.send(()).unwrap();
    expect_bytes(&mut c, &chunks(&[b" world", b"!"], true));
    assert_codes(
        &got,
        &[
            ("send hello", MR_OK),
            ("flush", MR_OK),
            ("send world", MR_OK),
            ("send !", MR_OK),
            ("finish", MR_OK),
        ],
    );
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text(), "ok");
}

#[test]
fn deferred_large_sends_arrive_intact() {
    // 3 MiB in odd-sized pieces from a thread, much more than the queue holds.
    let srv = start_basic(|srv| {
        on(srv, "GET", "/big", move |_, resp| {
            let h = Handle(resp_defer(resp));
            thread::spawn(move || {
                let d = h.get();
                let data: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
                for piece in data.chunks(200_001) {
                    assert_eq!(send_bytes(d, piece), MR_OK);
                }
                assert_eq!(resp_finish(d), MR_OK);
            });
            MR_OK
        });
    });
    let mut c = Client::new(srv.port);
    let r = c.roundtrip(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
    let want: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(r.body.len(), want.len());
    assert!(r.body == want, "body differs");
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text(), "ok");
}

#[test]
fn deferred_handle_driven_inside_the_handler_before_returning() {
    // resp_defer's docs: the queue (8 pieces of up to 64 KiB) is written
    // once the handler has returned. Within it, the handler itself may send
    // and finish; past it, the send waits the write timeout and fails with
    // MR_ETIMEDOUT (never a hang).
    let got = codes();
    let (g2, g3) = (got.clone(), got.clone());
    let srv = start_basic(|srv| {
        assert_eq!(server_set_timeouts(srv, 10_000, 5_000, 500), MR_OK);
        on(srv, "GET", "/within", move |_, resp| {
            let d = resp_defer(resp);
            let piece = vec![b'z'; 64 * 1024];
            let mut worst = MR_OK;
            for _ in 0..4 {
                let rc = send_bytes(d, &piece);
                if rc != MR_OK {
                    worst = rc;
                }
            }
            rec(&g2, "sends", worst);
            rec(&g2, "finish", resp_finish(d));
            MR_OK
        });
        on(srv, "GET", "/beyond", move |_, resp| {
            let d = resp_defer(resp);
            let piece = vec![b'z'; 64 * 1024];
            let mut worst = MR_OK;
            for _ in 0..16 {
                let rc = send_bytes(d, &piece);
                if rc != MR_OK {
                    worst = rc;
                    break;
                }
            }
            rec(&g3, "beyond", worst);
            resp_finish(d);
            MR_OK
        });
    });
    let t = Instant::now();
    let mut c = Client::new(srv.port);
    c.send(b"GET /within HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let r = try_response(&mut c.s, &mut c.buf, false);
    assert_codes(&got, &[("sends", MR_OK), ("finish", MR_OK)]);
    let r = r.expect("a complete response");
    assert_eq!(r.body.len(), 4 * 64 * 1024);
    assert!(t.elapsed() < Duration::from_millis(1500), "took {:?}", t.elapsed());

    let t = Instant::now();
    let mut c = Client::new(srv.port);
    c.send(b"GET /beyond HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.lock().unwrap().len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen = got.lock().unwrap().clone();
    assert!(
        seen.iter().any(|(l, rc)| *l == "beyond" && *rc == MR_ETIMEDOUT),
        "{seen:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(4), "took {:?}", t.elapsed());
}

#[test]
fn original_resp_after_defer_is_estate() {
    let got = codes();
    let g2 = got.clone();
    let srv = start_basic(|srv| {
        on(srv, "GET", "/d", move |_, resp| {
            let d = resp_defer(resp);
            assert!(!d.is_null());
            rec(&g2, "defer again on deferred", (resp_defer(d) == d) as c_int);
            rec(&g2, "defer again on original", resp_defer(resp).is_null() as c_int);
            rec(&g2, "set_status", resp_set_status(resp, 404));
            rec(&g2, "set_header", set_header(resp, "X-No", "1"));
            rec(&g2, "set_text", resp_set_text(resp, c"no".as_ptr()));
            rec(&g2, "send", send_bytes(resp, b"no"));
            rec(&g2, "send_header", resp_send_header(resp, cnull(), null(), 0));
            rec(&g2, "sse_event", resp_sse_event(resp, cnull(), c"no".as_ptr(), cnull()));
            rec(&g2, "sse_heartbeat", resp_sse_heartbeat(resp, 1));
            rec(&g2, "abort", resp_abort(resp, 500, cnull(), cnull()));
            rec(&g2, "close", resp_close(resp));
            rec(&g2, "finish original", resp_finish(resp));
            rec(&g2, "finish NULL", resp_finish(null()));
            rec(&g2, "defer NULL", resp_defer(null()).is_null() as c_int);
            let h = Handle(d);
            thread::spawn(move || {
                resp_set_text(h.get(), c"yes".as_ptr());
                resp_finish(h.get());
            });
            MR_OK
        });
    });
    let mut c = Client::new(srv.port);
    let r = c.roundtrip(b"GET /d HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_codes(
        &got,
        &[
            ("defer again on deferred", 1),
            ("defer again on original", 1),
            ("set_status", MR_ESTATE),
            ("set_header", MR_ESTATE),
            ("set_text", MR_ESTATE),
            ("send", MR_ESTATE),
            ("send_header", MR_ESTATE),
            ("sse_event", MR_ESTATE),
            ("sse_heartbeat", MR_ESTATE),
            ("abort", MR_ESTATE),
            ("close", MR_ESTATE),
            ("finish original", MR_ESTATE),
            ("finish NULL", MR_EINVAL),
            ("defer NULL", 1),
        ],
    );
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\r\n"
    );
    assert_eq!(r.text(), "yes");
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text(), "ok");
}

#[test]
fn original_resp_client_fd_after_defer_is_estate() {
    // "the handler's resp must not be used afterwards (calls on it fail with
    // MR_ESTATE)"; the deferred handle has the descriptor.
    let got = codes();
    let g2 = got.clone();
    let srv = start_basic(|srv| {
        on(srv, "GET", "/d", move |_, resp| {
            let before = resp_client_fd(resp);
            let d = resp_defer(resp);
            rec(
                &g2,
                "fd same on deferred",
                (resp_client_fd(d) == before && before >= 0) as c_int,
            );
            rec(&g2, "fd on original", resp_client_fd(resp));
            resp_finish(d);
            MR_OK
        });
    });
    let r = roundtrip(srv.port, b"GET /d HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_codes(&got, &[("fd same on deferred", 1), ("fd on original", MR_ESTATE)]);
}

#[test]
fn resp_finish_on_inline_handle_is_estate() {
    let got = codes();
    let g2 = got.clone();
    let srv = start_basic(|srv| {
        on(srv, "GET", "/f", move |_, resp| {
            rec(&g2, "finish inline", resp_finish(resp));
            resp_set_text(resp, c"still fine".as_ptr())
        });
    });
    let r = roundtrip(srv.port, b"GET /f HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert_eq!(r.text(), "still fine");
    assert_codes(&got, &[("finish inline", MR_ESTATE)]);
}

#[test]
fn deferred_client_fd_is_the_socket() {
    let got = codes();
    let g2 = got.clone();
    let srv = start_basic(|srv| {
        on(srv, "GET", "/fd", move |_, resp| {
            let inline_fd = resp_client_fd(resp);
            let h = Handle(resp_defer(resp));
            let g = g2.clone();
            thread::spawn(move || {
                let fd = resp_client_fd(h.get());
                rec(&g, "fd >= 0", (fd >= 0) as c_int);
                rec(&g, "same fd", (fd == inline_fd) as c_int);
                rec(&g, "NULL", resp_client_fd(std::ptr::null()));
                rec(&g, "finish", resp_finish(h.get()));
            });
            MR_OK
        });
    });
    let r = roundtrip(srv.port, b"GET /fd HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_codes(
        &got,
        &[("fd >= 0", 1), ("same fd", 1), ("NULL", MR_EINVAL), ("finish", MR_OK)],
    );
}

#[test]
fn pipelined_request_waits_for_the_deferred_one() {
    let finished = Arc::new(AtomicBool::new(false));
    let seen_finished = Arc::new(Mutex::new(None::<bool>));
    let (f2, f3, s2) = (finished.clone(), finished.clone(), seen_finished.clone());
    let srv = start_basic(|srv| {
        on(srv, "GET", "/first", move |_, resp| {
            let h = Handle(resp_defer(resp));
            let f = f2.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(200));
                resp_set_text(h.get(), c"first".as_ptr());
                f.store(true, Ordering::SeqCst);
                assert_eq!(resp_finish(h.get()), MR_OK);
            });
            MR_OK
        });
        on(srv, "GET", "/second", move |_, resp| {
            *s2.lock().unwrap() = Some(f3.load(Ordering::SeqCst));
            resp_set_text(resp, c"second".as_ptr())
        });
    });
    let mut c = Client::new(srv.port);
    let t = Instant::now();
    c.send(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n");
    let r1 = c.response(false);
    let r2 = c.response(false);
    assert!(t.elapsed() >= Duration::from_millis(190));
    assert_eq!(r1.text(), "first");
    assert_eq!(r2.text(), "second");
    assert_eq!(
        *seen_finished.lock().unwrap(),
        Some(true),
        "the pipelined request ran before the deferred one was finished"
    );
    // And a third on the same connection.
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text(), "ok");
}

#[test]
fn deferred_response_does_not_hold_the_only_worker() {
    let (fin_tx, fin_rx) = mpsc::channel::<()>();
    let fin_rx = Arc::new(Mutex::new(fin_rx));
    let srv = start_basic(|srv| {
        assert_eq!(server_set_workers(srv, 1), MR_OK);
        on(srv, "GET", "/held", move |_, resp| {
            let h = Handle(resp_defer(resp));
            let rx = fin_rx.clone();
            thread::spawn(move || {
                rx.lock().unwrap().recv_timeout(SOON).expect("step");
                resp_set_text(h.get(), c"held".as_ptr());
                resp_finish(h.get());
            });
            MR_OK
        });
    });
    let mut a = Client::new(srv.port);
    a.send(b"GET /held HTTP/1.1\r\nHost: a\r\n\r\n");
    thread::sleep(Duration::from_millis(50));
    for _ in 0..3 {
        let t = Instant::now();
        let r = roundtrip(srv.port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        assert_eq!(r.text(), "ok");
        assert!(t.elapsed() < Duration::from_millis(250), "took {:?}", t.elapsed());
    }
    fin_tx.send(()).unwrap();
    assert_eq!(a.response(false).text(), "held");
}

#[test]
fn deferred_with_unread_body_closes_after_the_response() {
    let srv = start_basic(|srv| {
        on(srv, "POST", "/d", move |_, resp| {
            let h = Handle(resp_defer(resp));
            thread::spawn(move || {
                resp_set_text(h.get(), c"later".as_ptr());
                resp_finish(h.get());
            });
            MR_OK
        });
    });
    let mut c = Client::new(srv.port);
    c.send(b"POST /d HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nabcde");
    let r = c.response(false);
    assert_eq!(r.text(), "later");
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed_within(SOON));
}

/// Spawns a thread per request that gets the deferred handle; the test
/// drives it through the returned receiver.
fn defer_route(srv: *mut mr_server, path: &str) -> mpsc::Receiver<Handle> {
    let (tx, rx) = mpsc::channel::<Handle>();
    let tx = Mutex::new(tx);
    on(srv, "GET", path, move |_, resp| {
        let d = resp_defer(resp);
        assert!(!d.is_null());
        tx.lock().unwrap().send(Handle(d)).unwrap();
        MR_OK
    });
    rx
}

#[test]
fn client_gone_while_deferred_gives_eclosed_and_finish_frees() {
    let mut rx = None;
    let srv = start_basic(|srv| rx = Some(defer_route(srv, "/d")));
    let rx = rx.unwrap();
    let mut c = Client::new(srv.port);
    c.send(b"GET /d HTTP/1.1\r\nHost: a\r\n\r\n");
    let h = rx.recv_timeout(SOON).expect("handler ran");
    let d = h.get();
    assert_eq!(send_bytes(d, b"before"), MR_OK);
    assert_eq!(resp_flush(d), MR_OK);
    read_head(&mut c);
    expect_bytes(&mut c, &chunk(b"before"));
    drop(c);
    // The library notices the client left (it watches the socket)...
    assert!(
        wait_until(SOON, || resp_client_fd(d) == MR_ECLOSED),
        "resp_client_fd still {} after the client left",
        resp_client_fd(d)
    );
    // ...and later sends say so.
    assert_eq!(send_bytes(d, b"x"), MR_ECLOSED, "resp_send after the client left");
    assert_eq!(resp_flush(d), MR_ECLOSED, "resp_flush after the client left");
    assert_eq!(resp_finish(d), MR_ECLOSED);
    assert_healthy(srv.port);
}

#[test]
fn client_gone_while_deferred_send_loop_ends_quickly() {
    // A thread streaming small pieces notices a vanished client within a
    // bounded number of calls / time.
    let mut rx = None;
    let srv = start_basic(|srv| rx = Some(defer_route(srv, "/d")));
    let rx = rx.unwrap();
    let mut c = Client::new(srv.port);
    c.send(b"GET /d HTTP/1.1\r\nHost: a\r\n\r\n");
    let h = rx.recv_timeout(SOON).expect("handler ran");
    drop(c);
    let t = Instant::now();
    let rc = loop {
        let rc = send_bytes(h.get(), b"0123456789");
        if rc != MR_OK {
            break rc;
        }
        assert!(
            t.elapsed() < SOON,
            "resp_send kept returning MR_OK after the client left"
        );
        thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(rc, MR_ECLOSED);
    assert_eq!(resp_finish(h.get()), MR_ECLOSED);
}

#[test]
fn never_finished_handle_is_reclaimed_at_stop_and_free() {
    let mut rx = None;
    let srv = start_basic(|srv| rx = Some(defer_route(srv, "/d")));
    let rx = rx.unwrap();
    let mut c = Client::new(srv.port);
    c.send(b"GET /d HTTP/1.1\r\nHost: a\r\n\r\n");
    let h = rx.recv_timeout(SOON).expect("handler ran");
    let t = Instant::now();
    assert_eq!(server_stop(srv.srv, 200), MR_OK);
    let took = t.elapsed();
    assert!(
        took < Duration::from_millis(200 + 2500),
        "server_stop(200) took {took:?}"
    );
    // After the stop the handle's calls fail with MR_ECLOSED.
    let d = h.get();
    assert_eq!(resp_client_fd(d), MR_ECLOSED, "resp_client_fd after server_stop");
    assert_eq!(
        sse(d, None, "after stop", None),
        MR_ECLOSED,
        "resp_sse_event after server_stop"
    );
    // The client's connection was closed by the stop.
    assert!(
        c.closed_within(SOON),
        "connection left open after server_stop: {:?}",
        show(&c.buf)
    );
    // server_free reclaims the handle (never finished): no hang, no crash.
    let t = Instant::now();
    drop(srv);
    assert!(t.elapsed() < SOON, "server_free took {:?}", t.elapsed());
}

#[test]
fn send_after_server_stop_is_eclosed() {
    let mut rx = None;
    let srv = start_basic(|srv| rx = Some(defer_route(srv, "/d")));
    let rx = rx.unwrap();
    let mut c = Client::new(srv.port);
    c.send(b"GET /d HTTP/1.1\r\nHost: a\r\n\r\n");
    let h = rx.recv_timeout(SOON).expect("handler ran");
    assert_eq!(server_stop(srv.srv, 100), MR_OK);
    assert_eq!(send_bytes(h.get(), b"x"), MR_ECLOSED, "resp_send after server_stop");
    drop(c);
    // Not finished: server_free reclaims it.
    drop(srv);
}

#[test]
fn finish_after_server_stop_frees_once() {
    let mut rx = None;
    let srv = start_basic(|srv| rx = Some(defer_route(srv, "/d")));
    let rx = rx.unwrap();
    let mut c = Client::new(srv.port);
    c.send(b"GET /d HTTP/1.1\r\nHost: a\r\n\r\n");
    let h = rx.recv_timeout(SOON).expect("handler ran");
    assert_eq!(server_stop(srv.srv, 50), MR_OK);
    assert_eq!(resp_finish(h.get()), MR_ECLOSED);
    drop(c);
    // The handle was freed by resp_finish: server_free must not free it again.
    let t = Instant::now();
    drop(srv);
    assert!(t.elapsed() < SOON);
}

#[test]
fn never_finished_handle_freed_by_server_free_without_stop() {
    let mut rx = None;
    let srv = start_basic(|srv| rx = Some(defer_route(srv, "/d")));
    let rx = rx.unwrap();
    let mut cs_: Vec<Client> = Vec::new();
    for _ in 0..4 {
        let mut c = Client::new(srv.port);
        c.send(b"GET /d HTTP/1.1\r\nHost: a\r\n\r\n");
        rx.recv_timeout(SOON).expect("handler ran");
        cs_.push(c);
    }
    let t = Instant::now();
    drop(srv);
    assert!(t.elapsed() < SOON, "server_free took {:?}", t.elapsed());
    for mut c in cs_ {
        assert!(c.closed_within(SOON), "connection left open after server_free");
    }
}

#[test]
fn abort_on_deferred_handle() {
    let mut rx = None;
    let srv = start_basic(|srv| rx = Some(defer_route(srv, "/d")));
    let rx = rx.unwrap();

    // After sending: no final chunk, connection closed.
    let mut c = Client::new(srv.port);
    c.send(b"GET /d HTTP/1.1\r\nHost: a\r\n\r\n");
    let d = rx.recv_timeout(SOON).unwrap().get();
    assert_eq!(send_bytes(d, b"partial"), MR_OK);
    assert_eq!(resp_flush(d), MR_OK);
    assert_eq!(
        read_head(&mut c),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    expect_bytes(&mut c, &chunk(b"partial"));
    assert_eq!(resp_abort(d, 500, cnull(), cnull()), MR_OK);
    assert_eq!(show(&rest_until_close(&mut c)), "");
    assert_eq!(send_bytes(d, b"more"), MR_ESTATE, "send after abort");
    let rc = resp_finish(d);
    assert!(
        [MR_OK, MR_ECLOSED, MR_ESTATE].contains(&rc),
        "resp_finish after abort: {rc}"
    );

    // Before sending: the whole error response, then a close.
    let mut c = Client::new(srv.port);
    c.send(b"GET /d HTTP/1.1\r\nHost: a\r\n\r\n");
    let d = rx.recv_timeout(SOON).unwrap().get();
    assert_eq!(resp_abort(d, 503, c"busy".as_ptr(), cnull()), MR_OK);
    let r = c.response(false);
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(r.text(), "busy");
    assert!(c.closed_within(SOON));
    let rc = resp_finish(d);
    assert!(
        [MR_OK, MR_ECLOSED, MR_ESTATE].contains(&rc),
        "resp_finish after abort: {rc}"
    );
    assert_healthy(srv.port);
}

#[test]
fn many_deferred_connections_at_once() {
    let srv = start_basic(|srv| {
        assert_eq!(server_set_workers(srv, 1), MR_OK);
        on(srv, "GET", "/n/{i}", move |req, resp| {
            let i = from_c(req_param(req, c"i".as_ptr())).unwrap();
            let h = Handle(resp_defer(resp));
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(100));
                resp_set_text(h.get(), cs(&format!("n{i}")).as_ptr());
                assert_eq!(resp_finish(h.get()), MR_OK);
            });
            MR_OK
        });
    });
    let mut clients: Vec<Client> = (0..20)
        .map(|i| {
            let mut c = Client::new(srv.port);
            c.send(format!("GET /n/{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
            c
        })
        .collect();
    let t = Instant::now();
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(c.response(false).text(), format!("n{i}"));
    }
    // 20 × 100 ms in sequence would be 2 s: they overlap.
    assert!(t.elapsed() < Duration::from_millis(1500), "took {:?}", t.elapsed());
}

// ---------------------------------------------------------------------------
// 3. Server-Sent Events
// ---------------------------------------------------------------------------

const SSE_HEAD: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";

#[test]
fn sse_exact_framing_each_event_flushed() {
    let (step_tx, step_rx) = mpsc::channel::<()>();
    let step_rx = Arc::new(Mutex::new(step_rx));
    let got = codes();
    let g2 = got.clone();
    let srv = start_basic(|srv| {
        on(srv, "GET", "/events", move |_, resp| {
            set_header(resp, "Content-Type", "text/plain");
            let h = Handle(resp_defer(resp));
            let (g, rx) = (g2.clone(), step_rx.clone());
            thread::spawn(move || {
                let d = h.get();
                let step = || rx.lock().unwrap().recv_timeout(SOON).expect("step");
                rec(
                    &g,
                    "full",
                    sse(d, Some("update"), "line1\nline2\r\nline3\rline4", Some("42")),
                );
                step();
                rec(&g, "data only", sse(d, None, "only data", None));
                step();
                rec(&g, "empty", sse(d, None, "", None));
                step();
                rec(&g, "trailing newline", sse(d, Some("e"), "x\n", None));
                step();
                rec(&g, "finish", resp_finish(d));
            });
            MR_OK
        });
    });
    let mut c = Client::new(srv.port);
    c.send(b"GET /events HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(read_head(&mut c), SSE_HEAD);
    // Each event is read before the thread is allowed to send the next.
    expect_bytes(
        &mut c,
        &chunk(b"event: update\nid: 42\ndata: line1\ndata: line2\ndata: line3\ndata: line4\n\n"),
    );
    step_tx.send(()).unwrap();
    expect_bytes(&mut c, &chunk(b"data: only data\n\n"));
    step_tx.send(()).unwrap();
    expect_bytes(&mut c, &chunk(b"data: \n\n"));
    step_tx.send(()).unwrap();
    expect_bytes(&mut c, &chunk(b"event: e\ndata: x\ndata: \n\n"));
    step_tx.send(()).unwrap();
    expect_bytes(&mut c, b"0\r\n\r\n");
    assert_codes(
        &got,
        &[
            ("full", MR_OK),
            ("data only", MR_OK),
            ("empty", MR_OK),
            ("trailing newline", MR_OK),
            ("finish", MR_OK),
        ],
    );
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text(), "ok");
}

#[test]
fn sse_in_the_handler_keeps_a_set_cache_control() {
    let srv = start_basic(|srv| {
        on(srv, "GET", "/inline", move |_, resp| {
            set_header(resp, "Cache-Control", "no-store");
            assert_eq!(sse(resp, Some("a"), "1", Some("1")), MR_OK);
            assert_eq!(sse(resp, None, "2", None), MR_OK);
            MR_OK
        });
    });
    let mut c = Client::new(srv.port);
    c.send(b"GET /inline HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        read_head(&mut c),
        "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    expect_bytes(
        &mut c,
        &chunks(&[b"event: a\nid: 1\ndata: 1\n\n", b"data: 2\n\n"], true),
    );
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text(), "ok");
}

#[test]
fn sse_invalid_arguments() {
    let got = codes();
    let g2 = got.clone();
    let srv = start_basic(|srv| {
        on(srv, "GET", "/bad", move |_, resp| {
            rec(&g2, "event LF", sse(resp, Some("a\nb"), "x", None));
            rec(&g2, "event CR", sse(resp, Some("a\rb"), "x", None));
            rec(&g2, "id LF", sse(resp, None, "x", Some("1\n2")));
            rec(&g2, "id CRLF", sse(resp, None, "x", Some("1\r\n2")));
            rec(&g2, "data NULL", resp_sse_event(resp, cnull(), cnull(), cnull()));
            rec(
                &g2,
                "resp NULL",
                resp_sse_event(null(), cnull(), c"x".as_ptr(), cnull()),
            );
            rec(&g2, "heartbeat NULL", resp_sse_heartbeat(null(), 1));
            // Nothing went out: the next valid event still sends the head.
            rec(&g2, "valid", sse(resp, None, "ok", None));
            MR_OK
        });
    });
    let mut c = Client::new(srv.port);
    c.send(b"GET /bad HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(read_head(&mut c), SSE_HEAD);
    expect_bytes(&mut c, &chunks(&[b"data: ok\n\n"], true));
    assert_codes(
        &got,
        &[
            ("event LF", MR_EINVAL),
            ("event CR", MR_EINVAL),
            ("id LF", MR_EINVAL),
            ("id CRLF", MR_EINVAL),
            ("data NULL", MR_EINVAL),
            ("resp NULL", MR_EINVAL),
            ("heartbeat NULL", MR_EINVAL),
            ("valid", MR_OK),
        ],
    );
}

#[test]
fn sse_heartbeat_while_idle() {
    let heartbeat: &[u8] = b": heartbeat\n\n";
    let hb = chunk(heartbeat);
    assert_eq!(show(&hb), "d\r\n: heartbeat\n\n\r\n");
    let (step_tx, step_rx) = mpsc::channel::<()>();
    let step_rx = Arc::new(Mutex::new(step_rx));
    let got = codes();
    let g2 = got.clone();
    let srv = start_basic(|srv| {
        on(srv, "GET", "/hb", move |_, resp| {
            let h = Handle(resp_defer(resp));
            let (g, rx) = (g2.clone(), step_rx.clone());
            thread::spawn(move || {
                let d = h.get();
                rec(&g, "heartbeat", resp_sse_heartbeat(d, 1));
                rec(&g, "event", sse(d, None, "hi", None));
                rx.lock().unwrap().recv_timeout(Duration::from_secs(10)).expect("step");
                rec(&g, "finish", resp_finish(d));
            });
            MR_OK
        });
    });
    let mut c = Client::new(srv.port);
    c.send(b"GET /hb HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(read_head(&mut c), SSE_HEAD);
    expect_bytes(&mut c, &chunk(b"data: hi\n\n"));
    // Idle ~2.5 s: at least one heartbeat chunk, exactly framed.
    let t = Instant::now();
    expect_bytes(&mut c, &hb);
    let first = t.elapsed();
    assert!(
        first >= Duration::from_millis(700) && first < Duration::from_millis(2500),
        "first heartbeat after {first:?}"
    );
    thread::sleep(Duration::from_millis(2500).saturating_sub(t.elapsed()));
    step_tx.send(()).unwrap();
    // What follows: more heartbeats, then the final chunk.
    let mut rest = Vec::new();
    let deadline = Instant::now() + SOON;
    while !rest.ends_with(b"0\r\n\r\n") {
        assert!(Instant::now() < deadline, "no final chunk: {:?}", show(&rest));
        rest.extend(take(&mut c, 1));
    }
    let mut body = &rest[..rest.len() - 5];
    let mut beats = 1;
    while !body.is_empty() {
        assert!(body.starts_with(&hb), "unexpected bytes {:?}", show(body));
        body = &body[hb.len()..];
        beats += 1;
    }
    println!("heartbeats in ~2.5 s idle: {beats}");
    assert_codes(&got, &[("heartbeat", MR_OK), ("event", MR_OK), ("finish", MR_OK)]);
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text(), "ok");
}

#[test]
fn heartbeat_after_a_large_send_keeps_chunk_framing() {
    // A send large enough to go out in pieces leaves its chunk's CRLF for
    // later unless every call ends on a boundary; an idle heartbeat would
    // then land inside the chunk. Parse the body strictly to catch that.
    let got = codes();
    let g2 = got.clone();
    let srv = start_basic(|srv| {
        on(srv, "GET", "/big-then-idle", move |_, resp| {
            let h = Handle(resp_defer(resp));
            let g = g2.clone();
            thread::spawn(move || {
                let d = h.get();
                rec(&g, "heartbeat", resp_sse_heartbeat(d, 1));
                rec(&g, "send", send_bytes(d, &vec![b'q'; 20_000]));
                thread::sleep(Duration::from_millis(1600));
                rec(&g, "finish", resp_finish(d));
            });
            MR_OK
        });
    });
    let r = roundtrip(srv.port, b"GET /big-then-idle HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_codes(&got, &[("heartbeat", MR_OK), ("send", MR_OK), ("finish", MR_OK)]);
    let body = r.body;
    assert!(body.starts_with(&[b'q'; 20_000]), "data first, intact");
    let rest = &body[20_000..];
    assert!(
        !rest.is_empty() && rest.chunks(13).all(|c| c == b": heartbeat\n\n"),
        "then only heartbeats: {:?}",
        String::from_utf8_lossy(rest)
    );
}

#[test]
fn sse_client_leaving_an_idle_stream_is_noticed() {
    let mut rx = None;
    let srv = start_basic(|srv| rx = Some(defer_route(srv, "/sse")));
    let rx = rx.unwrap();
    let mut c = Client::new(srv.port);
    c.send(b"GET /sse HTTP/1.1\r\nHost: a\r\n\r\n");
    let d = rx.recv_timeout(SOON).unwrap().get();
    assert_eq!(resp_sse_heartbeat(d, 1), MR_OK);
    assert_eq!(sse(d, None, "first", None), MR_OK);
    assert_eq!(read_head(&mut c), SSE_HEAD);
    expect_bytes(&mut c, &chunk(b"data: first\n\n"));
    drop(c);
    // Bounded wait for the next event to report the close.
    let t = Instant::now();
    let rc = loop {
        let rc = sse(d, None, "ping", None);
        if rc != MR_OK || t.elapsed() > SOON {
            break rc;
        }
        thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        rc,
        MR_ECLOSED,
        "resp_sse_event after the client left ({:?})",
        t.elapsed()
    );
    assert_eq!(resp_finish(d), MR_ECLOSED);
    assert_healthy(srv.port);
}

#[test]
fn sse_over_http10_is_close_delimited() {
    let srv = start_basic(|srv| {
        on(srv, "GET", "/e", move |_, resp| {
            assert_eq!(sse(resp, None, "a", None), MR_OK);
            assert_eq!(sse(resp, None, "b", None), MR_OK);
            MR_OK
        });
    });
    let mut c = Client::new(srv.port);
    c.send(b"GET /e HTTP/1.0\r\n\r\n");
    assert_eq!(
        read_head(&mut c),
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(show(&rest_until_close(&mut c)), "data: a\n\ndata: b\n\n");
}

// ---------------------------------------------------------------------------
// 4. A client that vanishes mid-stream
// ---------------------------------------------------------------------------

#[test]
fn client_vanishing_mid_stream_frees_the_worker() {
    let result = Arc::new(Mutex::new(None::<(c_int, Instant, u64)>));
    let r2 = result.clone();
    let srv = start_basic(|srv| {
        assert_eq!(server_set_workers(srv, 1), MR_OK);
        on(srv, "GET", "/big", move |_, resp| {
            let piece = vec![b'b'; 64 * 1024];
            let mut sent = 0u64;
            let rc = loop {
                let rc = send_bytes(resp, &piece);
                if rc != MR_OK {
                    break rc;
                }
                sent += piece.len() as u64;
                if sent >= 1 << 30 {
                    break MR_OK;
                }
            };
            *r2.lock().unwrap() = Some((rc, Instant::now(), sent));
            rc
        });
    });
    let mut c = Client::new(srv.port);
    c.send(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
    read_head(&mut c);
    take(&mut c, 256 * 1024);
    let gone = Instant::now();
    drop(c);
    assert!(
        wait_until(SOON, || result.lock().unwrap().is_some()),
        "the handler is still sending to a client that left"
    );
    let (rc, at, sent) = result.lock().unwrap().unwrap();
    let after = at.saturating_duration_since(gone);
    println!("handler saw {rc} {after:?} after the client left, {sent} bytes sent");
    assert!(rc == MR_ECLOSED || rc == MR_ETIMEDOUT, "rc {rc}");
    assert!(after < Duration::from_secs(3), "noticed after {after:?}");
    // The only worker is free again.
    assert_healthy(srv.port);
}

#[test]
fn client_vanishing_while_a_thread_streams_deferred() {
    let result = Arc::new(Mutex::new(None::<(c_int, Instant, c_int)>));
    let r2 = result.clone();
    let srv = start_basic(|srv| {
        assert_eq!(server_set_workers(srv, 1), MR_OK);
        on(srv, "GET", "/big", move |_, resp| {
            let h = Handle(resp_defer(resp));
            let r = r2.clone();
            thread::spawn(move || {
                let piece = vec![b'b'; 64 * 1024];
                let mut sent = 0u64;
                let rc = loop {
                    let rc = send_bytes(h.get(), &piece);
                    if rc != MR_OK {
                        break rc;
                    }
                    sent += piece.len() as u64;
                    if sent >= 1 << 30 {
                        break MR_OK;
                    }
                };
                let at = Instant::now();
                let fin = resp_finish(h.get());
                *r.lock().unwrap() = Some((rc, at, fin));
            });
            MR_OK
        });
    });
    let mut c = Client::new(srv.port);
    c.send(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
    read_head(&mut c);
    take(&mut c, 256 * 1024);
    let gone = Instant::now();
    drop(c);
    assert!(wait_until(SOON, || result.lock().unwrap().is_some()));
    let (rc, at, fin) = result.lock().unwrap().unwrap();
    let after = at.saturating_duration_since(gone);
    println!("sender saw {rc} {after:?} after the client left; finish {fin}");
    assert!(rc == MR_ECLOSED || rc == MR_ETIMEDOUT, "rc {rc}");
    assert!(after < Duration::from_secs(3), "noticed after {after:?}");
    assert!(fin == MR_ECLOSED || fin == MR_ETIMEDOUT, "finish {fin}");
    assert_healthy(srv.port);
}
