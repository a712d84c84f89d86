//! A 50 MiB upload streamed with `req_read` keeps server memory flat.
//! Alone in its test binary so the process's peak RSS is this test's.
mod common;
use common::*;

use std::ffi::c_int;
use std::io::Write;

#[test]
fn fifty_mib_upload_with_constant_memory() {
    let srv = start_basic(|srv| {
        on(srv, "POST", "/up", |req, resp| -> c_int {
            let mut buf = [0u8; 16 * 1024];
            let mut total = 0u64;
            loop {
                let n = req_read(req, buf.as_mut_ptr().cast(), buf.len());
                if n <= 0 {
                    break;
                }
                total += n as u64;
            }
            resp_set_text(resp, cs(&total.to_string()).as_ptr())
        });
    });
    // Warm up the connection machinery, then take the baseline.
    assert_healthy(srv.port);
    let before = vm_hwm_kib();
    const LEN: u64 = 50 << 20;
    for chunked in [false, true] {
        let mut c = Client::new(srv.port);
        let head = if chunked {
            "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_string()
        } else {
            format!("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: {LEN}\r\n\r\n")
        };
        c.s.write_all(head.as_bytes()).unwrap();
        let piece = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < LEN {
            if chunked {
                c.s.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).unwrap();
            }
            c.s.write_all(&piece).unwrap();
            if chunked {
                c.s.write_all(b"\r\n").unwrap();
            }
            sent += piece.len() as u64;
        }
        if chunked {
            c.s.write_all(b"0\r\n\r\n").unwrap();
        }
        let r = c.response(false);
        assert_eq!(r.text(), LEN.to_string(), "chunked={chunked}");
    }
    let growth_kib = vm_hwm_kib().saturating_sub(before);
    println!("peak RSS growth over two 50 MiB uploads: {growth_kib} KiB");
    assert!(growth_kib < 10 * 1024, "peak RSS grew by {growth_kib} KiB");
}
