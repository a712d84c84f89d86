//! The smallest end-to-end check: a server answers over a real socket.
mod common;
use common::*;

#[test]
fn hello_over_a_socket() {
    let srv = start_basic(|_| {});
    let r = roundtrip(srv.port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n\r\n"
    );
    assert_eq!(r.body, b"ok");
    assert_healthy(srv.port);
}
