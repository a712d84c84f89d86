//! Backpressure: sending 256 MiB to a client that never reads neither
//! buffers without bound nor blocks forever. `resp_send` (inline, and on a
//! deferred handle from another thread) gives MR_ETIMEDOUT after the write
//! timeout, having sent far less than asked, with server memory flat.
//! Alone in its test binary so the process's peak RSS is this test's.
mod common;
use common::*;

use std::ffi::c_int;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A response handle that may cross threads (a deferred handle may be used
/// from any thread, one at a time).
#[derive(Clone, Copy)]
struct Handle(*mut mr_resp);
// SAFETY: used from one thread at a time, as the contract requires.
unsafe impl Send for Handle {}
impl Handle {
    fn get(self) -> *mut mr_resp {
        self.0
    }
}

const TOTAL: u64 = 256 << 20;
const PIECE: usize = 64 * 1024;

/// What a sender saw: the code that ended it, bytes accepted, how long.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    rc: c_int,
    sent: u64,
    took: Duration,
    finish: Option<c_int>,
}

/// Sends up to TOTAL in PIECE pieces; stops at the first error.
fn send_all(resp: *mut mr_resp) -> (c_int, u64, Duration) {
    let piece = vec![b'p'; PIECE];
    let t = Instant::now();
    let mut sent = 0u64;
    while sent < TOTAL {
        let rc = resp_send(resp, piece.as_ptr().cast(), piece.len());
        if rc != MR_OK {
            return (rc, sent, t.elapsed());
        }
        sent += PIECE as u64;
    }
    (MR_OK, sent, t.elapsed())
}

#[test]
fn client_that_never_reads_times_out_with_flat_memory() {
    let inline = Arc::new(Mutex::new(None::<Outcome>));
    let deferred = Arc::new(Mutex::new(None::<Outcome>));
    let (i2, d2) = (inline.clone(), deferred.clone());
    let srv = start_basic(|srv| {
        assert_eq!(server_set_timeouts(srv, 10_000, 5_000, 500), MR_OK);
        on(srv, "GET", "/inline", move |_, resp| {
            let (rc, sent, took) = send_all(resp);
            *i2.lock().unwrap() = Some(Outcome {
                rc,
                sent,
                took,
                finish: None,
            });
            rc
        });
        on(srv, "GET", "/deferred", move |_, resp| {
            let h = Handle(resp_defer(resp));
            assert!(!h.get().is_null());
            let out = d2.clone();
            thread::spawn(move || {
                let (rc, sent, took) = send_all(h.get());
                let finish = resp_finish(h.get());
                *out.lock().unwrap() = Some(Outcome {
                    rc,
                    sent,
                    took,
                    finish: Some(finish),
                });
            });
            MR_OK
        });
    });
    // Warm up the connection machinery, then take the baseline.
    assert_healthy(srv.port);
    let before = vm_hwm_kib();

    // The deferred case runs three times: which side of the handle's queue
    // gives up first varies from run to run, and the answer must be
    // MR_ETIMEDOUT whichever it is.
    let rounds = [
        ("/inline", &inline),
        ("/deferred", &deferred),
        ("/deferred", &deferred),
        ("/deferred", &deferred),
    ];
    let mut wrong = Vec::new();
    for (round, (path, result)) in rounds.into_iter().enumerate() {
        *result.lock().unwrap() = None;
        // The client asks, then never reads; it keeps the socket open.
        let mut c = Client::new(srv.port);
        c.send(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        let t = Instant::now();
        let deadline = t + Duration::from_secs(20);
        let out = loop {
            if let Some(o) = *result.lock().unwrap() {
                break o;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: the sender is still blocked after 20 s"
            );
            thread::sleep(Duration::from_millis(10));
        };
        println!("round {round} {path}: {out:?}");
        // Checked after the memory: a wrong code must not hide the rest.
        if out.rc != MR_ETIMEDOUT {
            wrong.push(format!(
                "round {round} {path}: resp_send to a client that never reads gave {} (want MR_ETIMEDOUT {MR_ETIMEDOUT}): {out:?}",
                out.rc
            ));
        }
        assert!(
            out.rc == MR_ETIMEDOUT || out.rc == MR_ECLOSED,
            "round {round} {path}: {out:?}"
        );
        assert!(
            out.took < Duration::from_secs(8),
            "{path}: gave up only after {:?}",
            out.took
        );
        assert!(
            out.sent < 64 << 20,
            "{path}: {} bytes accepted for a client that never read",
            out.sent
        );
        if let Some(f) = out.finish {
            assert!(
                f == MR_ETIMEDOUT || f == MR_ECLOSED,
                "{path}: resp_finish after the timeout gave {f}"
            );
        }
        // The connection was closed after the timeout.
        drop(c);
        assert_healthy(srv.port);
    }

    let growth_kib = vm_hwm_kib().saturating_sub(before);
    println!("peak RSS growth over four 256 MiB sends to a non-reading client: {growth_kib} KiB");
    assert!(growth_kib < 10 * 1024, "peak RSS grew by {growth_kib} KiB");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
