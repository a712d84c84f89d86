//! 1,000 start/stop cycles leave the process's descriptors and resident
//! memory where they were, including the files the workers kept open
//! after serving them from a static folder. Alone in its test binary, so
//! the process's figures are this test's.

mod common;
use common::*;

use std::ffi::CString;
use std::path::Path;
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

/// Descriptors open on files under `dir`.
fn fds_under(dir: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd (Linux)")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

/// One server's life: created, started, (sometimes) used, stopped, freed.
fn cycle(i: usize, www: &Path) {
    let srv = server_new();
    assert!(!srv.is_null());
    assert_eq!(server_listen(srv, c"127.0.0.1:0".as_ptr()), MR_OK);
    route(srv, "GET", "/", h_ok, null_mut());
    let dir = CString::new(www.to_str().unwrap()).unwrap();
    assert_eq!(server_static(srv, c"/static".as_ptr(), dir.as_ptr()), MR_OK);
    assert_eq!(server_set_workers(srv, 2), MR_OK);
    assert_eq!(server_start(srv), MR_OK);
    let port = server_port(srv, 0) as u16;
    if i % 10 == 0 {
        // A kept-alive connection left open across the stop, too.
        let mut c = Client::new(port);
        assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").status, 200);
        // A static file, which the worker keeps open until it ends.
        let r = c.roundtrip(b"GET /static/f.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"file\n"[..]));
        assert_eq!(server_stop(srv, 1000), MR_OK);
        drop(c);
    } else {
        assert_eq!(server_stop(srv, 1000), MR_OK);
    }
    server_free(srv);
}

#[test]
fn a_thousand_start_stop_cycles_leave_fds_and_rss_at_baseline() {
    let www = TempDir::new("cycles");
    std::fs::write(www.join("f.txt"), "file\n").unwrap();
    // Warm up: the reactor thread, allocator arenas, thread stacks cached.
    for i in 0..50 {
        cycle(i, &www.0);
    }
    let (fds0, rss0) = (open_fds(), rss_kib());
    for i in 0..1000 {
        cycle(i, &www.0);
    }
    let (fds1, rss1) = (open_fds(), rss_kib());
    eprintln!("after 1000 cycles: fds {fds0} -> {fds1}, RSS {rss0} KiB -> {rss1} KiB");
    assert_eq!(fds1, fds0, "descriptors leaked");
    assert_eq!(
        fds_under(&www.0),
        0,
        "a served file is still open after its server stopped"
    );
    // A leak of even 1 KiB per cycle would show as 1,000 KiB.
    assert!(
        rss1 <= rss0 + 512,
        "RSS grew from {rss0} KiB to {rss1} KiB over 1000 cycles"
    );
}
