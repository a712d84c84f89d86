//! A C program keeps SIGPIPE's default action (terminate); Rust programs
//! ignore it. This test binary puts the default back, then has clients go
//! away in the middle of large files: `sendfile(2)` has no MSG_NOSIGNAL, so
//! the server must keep SIGPIPE off its own threads or the whole process
//! (here, this test binary) dies.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use socket2::SockRef;

#[test]
fn clients_leaving_mid_file_do_not_kill_a_program_with_default_sigpipe() {
    // SAFETY: restores the default disposition before any server thread
    // exists; nothing else in this binary depends on it.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let dir = TempDir::new("sigpipe");
    std::fs::write(dir.join("big.bin"), vec![b'x'; 16 << 20]).unwrap();
    let root = cs(dir.0.to_str().unwrap());
    let srv = start(|s| assert_eq!(server_static(s, cs("/").as_ptr(), root.as_ptr()), MR_OK));
    for _ in 0..20 {
        let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
        SockRef::from(&s).set_recv_buffer_size(4096).unwrap();
        s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));
        // Unread bytes make the close a reset: the server's next
        // sendfile fails with EPIPE or ECONNRESET.
        SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
        drop(s);
    }
    std::thread::sleep(Duration::from_millis(200));
    // Still here, and still serving.
    let r = roundtrip(
        srv.port,
        b"GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-3\r\n\r\n",
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.body, b"xxxx");
}
