//! Heap allocations per request on the keep-alive hello path. A global
//! allocator counts every allocation in the process (server threads and
//! the reactor included) while a client that allocates nothing itself
//! (fixed request bytes, a stack buffer) makes keep-alive requests, and
//! records where each one came from.
//!
//! On Linux the worker loop and its run queue are the library's own
//! (`rt::edge`, `rt::tasks`) and nothing may allocate. On the smol back
//! end (poll(2), other systems), two allocations are counted and reported
//! apart: the shared executor's queue (async-executor on concurrent-queue)
//! allocates a block every 31 scheduled tasks, and the async-io reactor
//! allocates when it wakes tasks, a Vec of wakers per wake-up and a B-tree
//! node when its timer map goes from empty to not empty. Everything else
//! must be zero.

mod common;
use common::*;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

struct Counting;

static TRACING: AtomicBool = AtomicBool::new(false);
/// Allocations made by the executor's queue while tracing.
static QUEUE: AtomicUsize = AtomicUsize::new(0);
/// Allocations made by smol's reactor (async-io) while tracing.
static REACTOR: AtomicUsize = AtomicUsize::new(0);
/// Anything else while tracing, with the first backtraces.
static OTHER: AtomicUsize = AtomicUsize::new(0);
static OTHER_TRACES: Mutex<Vec<String>> = Mutex::new(Vec::new());

thread_local! {
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

fn record() {
    if !TRACING.load(Ordering::Relaxed) {
        return;
    }
    let _ = INSIDE.try_with(|inside| {
        if inside.replace(true) {
            return; // the tracing itself allocates
        }
        let bt = std::backtrace::Backtrace::force_capture().to_string();
        if bt.contains("concurrent_queue::unbounded") {
            QUEUE.fetch_add(1, Ordering::Relaxed);
        } else if bt.contains("async_io::reactor") {
            REACTOR.fetch_add(1, Ordering::Relaxed);
        } else {
            OTHER.fetch_add(1, Ordering::Relaxed);
            let mut t = OTHER_TRACES.lock().unwrap();
            if t.len() < 3 {
                t.push(bt);
            }
        }
        inside.set(false);
    });
}

// SAFETY: forwards to the system allocator unchanged; only records.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        record();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        record();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        record();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

extern "C" fn hello(_req: *mut mr_req, resp: *mut mr_resp, _ud: *mut c_void) -> c_int {
    resp_set_header(resp, c"Cache-Control".as_ptr(), c"no-store".as_ptr());
    resp_set_text(resp, c"hello".as_ptr())
}

/// Sends `req` and reads one response of a known length into `buf`.
fn exchange(s: &mut TcpStream, req: &[u8], buf: &mut [u8], len: usize) {
    s.write_all(req).unwrap();
    let mut got = 0;
    while got < len {
        let n = s.read(&mut buf[got..len]).unwrap();
        assert!(n > 0, "closed");
        got += n;
    }
}

#[test]
fn keep_alive_hello_allocates_nothing_per_request() {
    let srv = start_basic(|s| {
        route(s, "GET", "/hello", hello, null_mut());
        assert_eq!(server_set_workers(s, 1), MR_OK);
    });
    let req: &[u8] = b"GET /hello?x=1 HTTP/1.1\r\nHost: t\r\nUser-Agent: x\r\nAccept: */*\r\n\r\n";
    let mut s = connect(srv.port);
    // Learn the response's length (the Date header is fixed-width).
    let mut c = Client {
        s: s.try_clone().unwrap(),
        buf: Vec::new(),
    };
    let r = c.roundtrip(req);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello");
    let len = r.raw_head.len() + r.body.len();
    drop(c);
    let mut buf = [0u8; 1024];
    // Warm up: buffers grow to size, caches fill.
    for _ in 0..200 {
        exchange(&mut s, req, &mut buf, len);
    }
    // Every allocation is traced (a backtrace each): keep N modest.
    const N: usize = 300;
    TRACING.store(true, Ordering::Relaxed);
    for _ in 0..N {
        exchange(&mut s, req, &mut buf, len);
    }
    TRACING.store(false, Ordering::Relaxed);
    assert!(buf.starts_with(b"HTTP/1.1 200 OK\r\n"));
    let queue = QUEUE.load(Ordering::Relaxed);
    let reactor = REACTOR.load(Ordering::Relaxed);
    let other = OTHER.load(Ordering::Relaxed);
    eprintln!(
        "{N} keep-alive requests: {other} allocations in microroute, {queue} in the executor's queue, \
         {reactor} in smol's reactor"
    );
    let traces = OTHER_TRACES.lock().unwrap();
    assert_eq!(
        other,
        0,
        "allocations outside the executor and smol's reactor; the first:\n{}",
        traces.join("\n---\n")
    );
    if cfg!(mr_epoll) {
        assert_eq!(queue, 0, "the epoll worker's run queue is its own");
        assert_eq!(reactor, 0, "the epoll worker loop does not use async-io");
    } else {
        // One block per 31 tasks woken, at most a wake or two per request.
        assert!(queue <= 2 * N / 31 + 2, "{queue} queue blocks for {N} requests");
    }
}
