//! `req_read`: request bodies of any size streamed through a handler.
mod common;
use common::*;

use std::ffi::c_int;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// FNV-1a over a byte stream.
fn fnv(h: u64, data: &[u8]) -> u64 {
    data.iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}
const FNV0: u64 = 0xcbf2_9ce4_8422_2325;

/// Deterministic body bytes at `offset`.
fn pattern(offset: u64, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        let x = offset + i as u64;
        *b = (x.wrapping_mul(31) ^ (x >> 7)) as u8;
    }
}

/// A handler that streams the body with `req_read` in `cap`-byte pieces and
/// answers "size hash calls" (or the first negative code as "err N").
fn streaming_handler(cap: usize) -> impl Fn(*mut mr_req, *mut mr_resp) -> c_int + Send + Sync {
    move |req, resp| {
        let mut buf = vec![0u8; cap];
        let (mut size, mut hash, mut calls) = (0u64, FNV0, 0u32);
        loop {
            let n = req_read(req, buf.as_mut_ptr().cast(), cap);
            calls += 1;
            if n < 0 {
                return resp_set_text(resp, cs(&format!("err {n}")).as_ptr());
            }
            if n == 0 {
                break;
            }
            assert!(n as usize <= cap);
            size += n as u64;
            hash = fnv(hash, &buf[..n as usize]);
        }
        resp_set_text(resp, cs(&format!("{size} {hash:x} {calls}")).as_ptr())
    }
}

fn server() -> Running {
    start_basic(|srv| {
        on(srv, "POST", "/up", streaming_handler(64 * 1024));
        on(srv, "POST", "/small", streaming_handler(3));
    })
}

fn expected(len: u64) -> String {
    let mut hash = FNV0;
    let mut buf = vec![0u8; 65536];
    let mut off = 0;
    while off < len {
        let n = (len - off).min(buf.len() as u64) as usize;
        pattern(off, &mut buf[..n]);
        hash = fnv(hash, &buf[..n]);
        off += n as u64;
    }
    format!("{len} {hash:x}")
}

/// Sends `len` pattern bytes, with Content-Length or chunked.
fn upload(c: &mut Client, path: &str, len: u64, chunked: bool) {
    let head = if chunked {
        format!("POST {path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    } else {
        format!("POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: {len}\r\n\r\n")
    };
    c.s.write_all(head.as_bytes()).unwrap();
    let mut buf = vec![0u8; 40_000];
    let mut off = 0;
    while off < len {
        let n = (len - off).min(buf.len() as u64) as usize;
        pattern(off, &mut buf[..n]);
        if chunked {
            c.s.write_all(format!("{n:x}\r\n").as_bytes()).unwrap();
        }
        c.s.write_all(&buf[..n]).unwrap();
        if chunked {
            c.s.write_all(b"\r\n").unwrap();
        }
        off += n as u64;
    }
    if chunked {
        c.s.write_all(b"0\r\n\r\n").unwrap();
    }
}

#[test]
fn bodies_larger_than_max_body_stream_through() {
    let srv = server();
    // 4 MiB, four times max_body_bytes, both framings, on one connection.
    let mut c = Client::new(srv.port);
    for chunked in [false, true] {
        upload(&mut c, "/up", 4 << 20, chunked);
        let r = c.response(false);
        assert_eq!(r.status, 200, "{r:?}");
        let text = r.text();
        assert!(text.starts_with(&expected(4 << 20)), "chunked={chunked}: {text}");
    }
    // The connection is still usable.
    let r = c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.body, b"ok");
}

#[test]
fn pieces_never_exceed_cap_and_end_with_zero() {
    let srv = server();
    let r = roundtrip(
        srv.port,
        b"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789",
    );
    let mut h = FNV0;
    h = fnv(h, b"0123456789");
    // 10 bytes in pieces of at most 3: 4 reads with data, then the 0.
    assert_eq!(r.text(), format!("10 {h:x} 5"));
    let r = roundtrip(
        srv.port,
        b"POST /small HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\n01234\r\n5\r\n56789\r\n0\r\nT: v\r\n\r\n",
    );
    assert!(r.text().starts_with(&format!("10 {h:x} ")), "{}", r.text());
    // No body: the first read returns 0.
    let r = roundtrip(
        srv.port,
        b"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(r.text(), format!("0 {FNV0:x} 1"));
}

#[test]
fn continue_is_sent_on_the_first_read() {
    let srv = server();
    let mut c = Client::new(srv.port);
    c.send(b"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    let interim = c.response(false);
    assert_eq!(interim.raw_head, "HTTP/1.1 100 Continue\r\n\r\n");
    c.send(b"abcd");
    let r = c.response(false);
    assert!(r.text().starts_with("4 "), "{}", r.text());
}

#[test]
fn req_body_and_req_read_share_one_body() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s1, s2) = (seen.clone(), seen.clone());
    let srv = start_basic(|srv| {
        // Read 4 bytes with req_read, then the rest with req_body.
        on(srv, "POST", "/mix", move |req, resp| {
            let mut buf = [0u8; 4];
            let n = req_read(req, buf.as_mut_ptr().cast(), 4);
            let mut len = 0;
            let rest = req_body(req, &mut len);
            // SAFETY: req_body returned `len` readable bytes.
            let rest = unsafe { std::slice::from_raw_parts(rest, len) }.to_vec();
            let after = req_read(req, buf.as_mut_ptr().cast(), 4);
            s1.lock()
                .unwrap()
                .push((n, String::from_utf8_lossy(&rest).into_owned(), after));
            resp_set_text(resp, c"done".as_ptr())
        });
        // req_body first: req_read then has nothing left.
        on(srv, "POST", "/body-first", move |req, resp| {
            let mut len = 0;
            req_body(req, &mut len);
            let mut buf = [0u8; 8];
            let n = req_read(req, buf.as_mut_ptr().cast(), 8);
            s2.lock().unwrap().push((n, format!("{len}"), 0));
            resp_set_text(resp, c"done".as_ptr())
        });
    });
    roundtrip(
        srv.port,
        b"POST /mix HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789",
    );
    roundtrip(
        srv.port,
        b"POST /body-first HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0], (4, "456789".to_string(), 0));
    assert_eq!(seen[1], (0, "3".to_string(), 0));
}

#[test]
fn bad_arguments_and_broken_bodies() {
    let srv = server();
    let codes = Arc::new(Mutex::new(Vec::new()));
    let c2 = codes.clone();
    let srv2 = start_basic(|srv| {
        on(srv, "POST", "/args", move |req, resp| {
            let mut b = [0u8; 4];
            c2.lock().unwrap().extend([
                req_read(std::ptr::null_mut(), b.as_mut_ptr().cast(), 4),
                req_read(req, std::ptr::null_mut(), 4),
                req_read(req, b.as_mut_ptr().cast(), 0),
            ]);
            resp_set_text(resp, c"x".as_ptr())
        });
    });
    roundtrip(
        srv2.port,
        b"POST /args HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nz",
    );
    assert_eq!(*codes.lock().unwrap(), vec![MR_EINVAL as isize; 3]);

    // A broken chunk: the read fails, the library answers 400 and closes.
    let mut c = Client::new(srv.port);
    c.send(b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX");
    let r = c.response(false);
    assert_eq!(r.status, 400);
    assert!(c.closed_within(std::time::Duration::from_secs(1)));

    // The client goes away mid-upload: the handler sees a negative code and
    // the server stays healthy.
    let mut c = Client::new(srv.port);
    c.send(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\npartial");
    drop(c);
    assert_healthy(srv.port);
}
