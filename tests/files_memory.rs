//! A 1 GiB file sent with `resp_send_file` keeps server memory flat
//! (`sendfile(2)`: no copy of the file passes through the process).
//! Alone in its test binary so the process's peak RSS is this test's.
mod common;
use common::*;

use std::ffi::{c_int, CString};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

#[test]
fn one_gib_file_with_constant_memory() {
    const LEN: u64 = 1 << 30;
    let dir = TempDir::new("files-memory");
    // Sparse: takes no disk space, reads as zeros.
    let big = dir.0.join("huge.bin");
    File::create(&big).unwrap().set_len(LEN).unwrap();
    let small = dir.0.join("small.txt");
    fs::write(&small, b"warm-up").unwrap();

    let root = dir.0.clone();
    let srv = start_basic(move |srv| {
        let root = root.clone();
        on(srv, "GET", "/f/{name}", move |req, resp| -> c_int {
            let name = from_c(req_param(req, c"name".as_ptr())).unwrap();
            let p = CString::new(root.join(name).as_os_str().as_bytes()).unwrap();
            let rc = resp_send_file(resp, p.as_ptr());
            assert_eq!(rc, MR_OK);
            rc
        });
    });

    // Warm up the connection machinery and the file path, then take the
    // baseline.
    assert_healthy(srv.port);
    let r = roundtrip(
        srv.port,
        b"GET /f/small.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.body, b"warm-up");
    let before = vm_hwm_kib();

    let mut s = connect(srv.port);
    s.write_all(b"GET /f/huge.bin HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let t = Instant::now();
    // Read the head, then count and discard the body in a fixed buffer.
    let mut buf = vec![0u8; 256 * 1024];
    let mut have = 0;
    let head_end = loop {
        let n = s.read(&mut buf[have..]).expect("read the head");
        assert!(n > 0, "EOF before the head");
        have += n;
        if let Some(p) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        assert!(have < buf.len(), "head too long");
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains(&format!("\r\nContent-Length: {LEN}\r\n")), "{head}");
    let mut total = (have - head_end) as u64;
    let mut nonzero = buf[head_end..have].iter().any(|&b| b != 0);
    // Each read is bounded by the client's read timeout; the whole by this.
    let deadline = t + Duration::from_secs(120);
    while total < LEN {
        let want = usize::try_from(LEN - total).unwrap_or(usize::MAX).min(buf.len());
        let n = s.read(&mut buf[..want]).expect("read the body");
        assert!(n > 0, "EOF after {total} of {LEN} bytes");
        // Spot-check the content (a full scan is slow in debug builds).
        if total < 1 << 20 || total + n as u64 == LEN {
            nonzero |= buf[..n].iter().any(|&b| b != 0);
        }
        total += n as u64;
        assert!(Instant::now() < deadline, "1 GiB not sent in 120 s ({total} bytes)");
    }
    let took = t.elapsed();
    assert_eq!(total, LEN);
    assert!(!nonzero, "a sparse file reads as zeros");

    // Keep-alive: the connection carries the next request.
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut c = Client { s, buf: Vec::new() };
    assert_eq!(c.response(false).text(), "ok");
    assert!(c.buf.is_empty());

    let growth_kib = vm_hwm_kib().saturating_sub(before);
    println!("1 GiB sent in {took:?}; peak RSS growth {growth_kib} KiB");
    assert!(growth_kib < 16 * 1024, "peak RSS grew by {growth_kib} KiB");
}
