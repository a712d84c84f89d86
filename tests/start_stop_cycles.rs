//! 1,000 start/stop cycles leave the process's descriptors and resident
//! memory where they were. Alone in its test binary, so the process's
//! figures are this test's.

mod common;
use common::*;

use std::ptr::null_mut;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd (Linux)")
        .count()
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One server's life: created, started, (sometimes) used, stopped, freed.
fn cycle(i: usize) {
    let srv = server_new();
    assert!(!srv.is_null());
    assert_eq!(server_listen(srv, c"127.0.0.1:0".as_ptr()), MR_OK);
    route(srv, "GET", "/", h_ok, null_mut());
    assert_eq!(server_set_workers(srv, 2), MR_OK);
    assert_eq!(server_start(srv), MR_OK);
    let port = server_port(srv, 0) as u16;
    if i % 10 == 0 {
        // A kept-alive connection left open across the stop, too.
        let mut c = Client::new(port);
        assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
        assert_eq!(server_stop(srv, 1000), MR_OK);
        drop(c);
    } else {
        assert_eq!(server_stop(srv, 1000), MR_OK);
    }
    server_free(srv);
}

#[test]
fn a_thousand_start_stop_cycles_leave_fds_and_rss_at_baseline() {
    // Warm up: the reactor thread, allocator arenas, thread stacks cached.
    for i in 0..50 {
        cycle(i);
    }
    let (fds0, rss0) = (open_fds(), rss_kib());
    for i in 0..1000 {
        cycle(i);
    }
    let (fds1, rss1) = (open_fds(), rss_kib());
    eprintln!("after 1000 cycles: fds {fds0} -> {fds1}, RSS {rss0} KiB -> {rss1} KiB");
    assert_eq!(fds1, fds0, "descriptors leaked");
    // A leak of even 1 KiB per cycle would show as 1,000 KiB.
    assert!(
        rss1 <= rss0 + 512,
        "RSS grew from {rss0} KiB to {rss1} KiB over 1000 cycles"
    );
}
