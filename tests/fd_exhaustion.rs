//! Socket exhaustion (`ulimit -n` small): the server backs off instead of
//! spinning or dying, and serves again once descriptors free up. The server
//! runs in a child process (this test binary re-run with a low
//! RLIMIT_NOFILE), so the limit does not touch the test's own sockets.

mod common;
use common::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::ptr::null_mut;
use std::time::{Duration, Instant};

/// The descriptor limit the child server runs with.
const NOFILE: u64 = 48;

/// The child: a server under a low descriptor limit, until stdin closes.
#[test]
#[ignore = "the child process of the fd exhaustion tests; run by them"]
fn child_server() {
    let Ok(purge) = std::env::var("MR_FD_CHILD_PURGE") else {
        return;
    };
    let lim = libc::rlimit {
        rlim_cur: NOFILE,
        rlim_max: NOFILE,
    };
    // SAFETY: setrlimit reads a valid rlimit for this process only.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    let srv = server_new();
    assert_eq!(server_listen(srv, c"127.0.0.1:0".as_ptr()), MR_OK);
    route(srv, "GET", "/", h_ok, null_mut());
    assert_eq!(server_set_workers(srv, 1), MR_OK);
    // Far above what the descriptors allow: accept fails first.
    assert_eq!(server_set_max_connections(srv, 10_000), MR_OK);
    assert_eq!(server_set_lru_purge(srv, (purge == "1") as i32), MR_OK);
    assert_eq!(server_set_timeouts(srv, 10_000, 60_000, 10_000), MR_OK);
    assert_eq!(server_start(srv), MR_OK);
    println!("PORT={}", server_port(srv, 0));
    std::io::stdout().flush().unwrap();
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    assert_eq!(server_stop(srv, 1000), MR_OK);
    server_free(srv);
}

struct ChildServer {
    child: Child,
    /// Kept open (and drained at the end) so the child's last lines never
    /// meet a closed pipe.
    out: BufReader<ChildStdout>,
    port: u16,
}

impl ChildServer {
    fn start(purge: bool) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "child_server",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("MR_FD_CHILD_PURGE", if purge { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("re-run the test binary");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let port = loop {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "the child exited before serving");
            // libtest may print "test child_server ... " on the same line.
            if let Some(i) = line.find("PORT=") {
                break line[i + 5..].trim().parse().unwrap();
            }
        };
        ChildServer { child, out, port }
    }

    /// User + system CPU time of the child so far, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the ")" that ends the command name: state is field 3,
        // utime and stime are fields 14 and 15.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    }

    fn finish(mut self) {
        assert!(self.child.try_wait().unwrap().is_none(), "the server died");
        drop(self.child.stdin.take());
        let mut rest = String::new();
        let _ = self.out.read_to_string(&mut rest);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                assert!(st.success(), "child exit: {st}");
                return;
            }
            assert!(Instant::now() < deadline, "the child did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Opens kept-alive connections, each with one answered request, until a
/// new one is not answered: the server is out of descriptors. Returns the
/// answered ones and the one left waiting (its request sent).
fn exhaust(port: u16) -> (Vec<TcpStream>, TcpStream) {
    let mut open = Vec::new();
    for _ in 0..4 * NOFILE {
        let mut s = connect(port);
        s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        send(&mut s, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(n) if n > 0 => {
                assert!(
                    buf.starts_with(b"HTTP/1.1 200 OK\r\n"),
                    "{:?}",
                    String::from_utf8_lossy(&buf[..n])
                );
                open.push(s);
            }
            Ok(_) => panic!("closed after {} connections", open.len()),
            Err(_) => return (open, s),
        }
    }
    panic!(
        "{} connections served under a limit of {NOFILE} descriptors",
        open.len()
    );
}

fn response_within(s: &mut TcpStream, d: Duration) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(d)).unwrap();
    let mut buf = [0u8; 256];
    match s.read(&mut buf) {
        Ok(n) if n > 0 => Some(buf[..n].to_vec()),
        _ => None,
    }
}

#[test]
fn out_of_descriptors_backs_off_and_recovers() {
    let srv = ChildServer::start(false);
    let (mut open, mut waiting) = exhaust(srv.port);
    assert!(open.len() >= 10, "only {} connections before exhaustion", open.len());
    // The listener stays readable while accept fails: a spinning server
    // would burn a whole core here. Allow a fifth of one.
    let before = srv.cpu_ticks();
    std::thread::sleep(Duration::from_secs(1));
    let used = srv.cpu_ticks() - before;
    assert!(used <= 20, "{used} ticks of CPU in 1 s while out of descriptors");
    // Free some descriptors: the waiting connection is served.
    open.truncate(open.len() / 2);
    let r = response_within(&mut waiting, Duration::from_secs(3)).expect("served after descriptors freed");
    assert!(r.starts_with(b"HTTP/1.1 200 OK\r\n"));
    // And new ones too.
    assert_eq!(
        roundtrip(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").status,
        200
    );
    drop(open);
    srv.finish();
}

#[test]
fn out_of_descriptors_purges_the_longest_idle() {
    let srv = ChildServer::start(true);
    // Every new connection is answered, also past the descriptor limit:
    // then the oldest idle connection is closed to make room.
    let mut open: Vec<TcpStream> = Vec::new();
    let mut purged = false;
    for _ in 0..4 * NOFILE {
        let mut s = connect(srv.port);
        send(&mut s, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = response_within(&mut s, Duration::from_secs(3))
            .unwrap_or_else(|| panic!("connection {} not answered", open.len() + 1));
        assert!(r.starts_with(b"HTTP/1.1 200 OK\r\n"));
        open.push(s);
        let first = &mut open[0];
        first.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        purged = matches!(first.read(&mut b), Ok(0));
        if purged {
            break;
        }
    }
    assert!(purged, "{} connections and the first was never closed", open.len());
    assert!(open.len() >= 10, "purged after only {} connections", open.len());
    // The newest still works.
    let last = open.last_mut().unwrap();
    send(last, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = response_within(last, Duration::from_secs(3)).expect("answered");
    assert!(r.starts_with(b"HTTP/1.1 200 OK\r\n"));
    drop(open);
    srv.finish();
}
