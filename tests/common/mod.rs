//! Test harness shared by the integration tests: start a server through the
//! C ABI on 127.0.0.1:0, talk to it over real sockets, parse responses
//! exactly.
#![allow(dead_code)]

use std::ffi::{c_int, c_void, CStr, CString};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use microroute::ffi::error::*;
pub use microroute::ffi::library::*;
pub use microroute::ffi::req::*;
pub use microroute::ffi::resp::*;
pub use microroute::ffi::server::*;
pub use microroute::ffi::{mr_req, mr_resp, mr_server};

/// How long a client waits for the server in tests before failing.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A C string literal helper: `cs("x")`.
pub fn cs(s: &str) -> CString {
    CString::new(s).expect("no NUL in test strings")
}

/// The detail of the last failed call on this thread.
pub fn last_error() -> String {
    from_c(mr_last_error()).unwrap_or_default()
}

/// Copies a borrowed C string out (None for NULL).
pub fn from_c(p: *const std::ffi::c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        // SAFETY: the library returns NUL-terminated strings valid for the handler.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}

/// A started server, stopped and freed on drop.
pub struct Running {
    pub srv: *mut mr_server,
    pub port: u16,
}

// SAFETY: the server handle is usable from any thread (the API says so).
unsafe impl Send for Running {}
unsafe impl Sync for Running {}

impl Drop for Running {
    fn drop(&mut self) {
        server_free(self.srv);
    }
}

impl Running {
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Creates a server listening on 127.0.0.1:0, lets `setup` register routes
/// and settings, starts it.
pub fn start(setup: impl FnOnce(*mut mr_server)) -> Running {
    let srv = server_new();
    assert!(!srv.is_null());
    assert_eq!(server_listen(srv, cs("127.0.0.1:0").as_ptr()), MR_OK);
    setup(srv);
    let rc = server_start(srv);
    assert_eq!(
        rc,
        MR_OK,
        "server_start: {}",
        from_c(mr_last_error()).unwrap_or_default()
    );
    let port = server_port(srv, 0);
    assert!(port > 0);
    Running { srv, port: port as u16 }
}

/// Registers a route with a C handler and userdata.
pub fn route(
    srv: *mut mr_server,
    method: &str,
    pattern: &str,
    h: unsafe extern "C" fn(*mut mr_req, *mut mr_resp, *mut c_void) -> c_int,
    ud: *mut c_void,
) {
    let m = cs(method);
    let p = cs(pattern);
    let rc = server_route(srv, m.as_ptr(), p.as_ptr(), Some(h), ud);
    assert_eq!(
        rc,
        MR_OK,
        "server_route {method} {pattern}: {}",
        from_c(mr_last_error()).unwrap_or_default()
    );
}

/// A handler that answers `text/plain` "ok".
pub unsafe extern "C" fn h_ok(_req: *mut mr_req, resp: *mut mr_resp, _ud: *mut c_void) -> c_int {
    resp_set_text(resp, c"ok".as_ptr())
}

/// A handler that echoes the request body (`application/octet-stream`).
pub unsafe extern "C" fn h_echo(req: *mut mr_req, resp: *mut mr_resp, _ud: *mut c_void) -> c_int {
    let mut len = 0usize;
    let body = req_body(req, &mut len);
    if body.is_null() {
        return 1;
    }
    resp_set_content(resp, body.cast(), len)
}

/// A server with `GET /` → "ok" and `POST /echo` → body echo, plus whatever
/// `setup` adds.
pub fn start_basic(setup: impl FnOnce(*mut mr_server)) -> Running {
    start(|srv| {
        route(srv, "GET", "/", h_ok, std::ptr::null_mut());
        route(srv, "POST", "/echo", h_echo, std::ptr::null_mut());
        setup(srv);
    })
}

pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Sends `bytes` all at once.
pub fn send(s: &mut TcpStream, bytes: &[u8]) {
    s.write_all(bytes).expect("send");
}

/// Sends `bytes` one byte per write (framing must not depend on arrival).
pub fn send_bytewise(s: &mut TcpStream, bytes: &[u8]) {
    for b in bytes {
        if s.write_all(std::slice::from_ref(b)).is_err() {
            // The server may close as soon as it has seen enough.
            return;
        }
        s.flush().ok();
    }
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resp {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The head exactly as received.
    pub raw_head: String,
}

impl Resp {
    /// First value of a header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The head without the Date line, for exact comparisons.
    pub fn head_without_date(&self) -> String {
        self.raw_head
            .split_inclusive("\r\n")
            .filter(|l| !l.starts_with("Date: "))
            .collect()
    }
}

/// Reads bytes until `pred(buf)` holds, EOF, or the timeout.
fn read_more(s: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut tmp = [0u8; 16384];
    match s.read(&mut tmp) {
        Ok(0) => false,
        Ok(n) => {
            buf.extend_from_slice(&tmp[..n]);
            true
        }
        Err(e) if e.kind() == ErrorKind::Interrupted => true,
        Err(e) => panic!(
            "read failed: {e} (after {} bytes: {:?})",
            buf.len(),
            String::from_utf8_lossy(buf)
        ),
    }
}

/// A reader that keeps bytes that arrived after one response (pipelining).
pub struct Client {
    pub s: TcpStream,
    pub buf: Vec<u8>,
}

impl Client {
    pub fn new(port: u16) -> Self {
        Client {
            s: connect(port),
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        send(&mut self.s, bytes);
    }

    /// Reads one response; `head_request` means no body follows.
    pub fn response(&mut self, head_request: bool) -> Resp {
        try_response(&mut self.s, &mut self.buf, head_request).expect("a complete response")
    }

    /// Sends and reads one response.
    pub fn roundtrip(&mut self, req: &[u8]) -> Resp {
        self.send(req);
        self.response(req.starts_with(b"HEAD "))
    }

    /// True when the server closes the connection within `within` (EOF or
    /// reset), with no further bytes.
    pub fn closed_within(&mut self, within: Duration) -> bool {
        closed_within(&mut self.s, &mut self.buf, within)
    }
}

/// Parses one response from `buf` + the stream; `None` if the connection
/// ended before a complete response.
pub fn try_response(s: &mut TcpStream, buf: &mut Vec<u8>, head_request: bool) -> Option<Resp> {
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if !read_more(s, buf) {
            return None;
        }
    };
    let raw_head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = raw_head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "status line: {status_line:?}");
    let status: u16 = parts.next().and_then(|c| c.parse().ok()).expect("status code");
    let reason = parts.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').expect("header line with a colon");
            (n.to_string(), v.trim().to_string())
        })
        .collect();
    buf.drain(..head_end);
    let find = |n: &str| {
        headers
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let bodyless = head_request || status < 200 || status == 204 || status == 304;
    let body = if bodyless {
        Vec::new()
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(p) = buf.windows(2).position(|w| w == b"\r\n") {
                    break p;
                }
                if !read_more(s, buf) {
                    return None;
                }
            };
            let size = usize::from_str_radix(std::str::from_utf8(&buf[..line_end]).unwrap(), 16).expect("chunk size");
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                if !read_more(s, buf) {
                    return None;
                }
            }
            assert_eq!(&buf[size..size + 2], b"\r\n", "CRLF after chunk data");
            body.extend_from_slice(&buf[..size]);
            buf.drain(..size + 2);
            if size == 0 {
                break;
            }
        }
        body
    } else if let Some(cl) = find("content-length") {
        let n: usize = cl.parse().expect("numeric Content-Length");
        while buf.len() < n {
            if !read_more(s, buf) {
                return None;
            }
        }
        buf.drain(..n).collect()
    } else {
        // Close-delimited.
        while read_more(s, buf) {}
        std::mem::take(buf)
    };
    Some(Resp {
        status,
        reason,
        headers,
        body,
        raw_head,
    })
}

/// True when the peer closes within `within` without sending anything else.
pub fn closed_within(s: &mut TcpStream, buf: &mut Vec<u8>, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    s.set_read_timeout(Some(within)).unwrap();
    let mut tmp = [0u8; 4096];
    let closed = loop {
        match s.read(&mut tmp) {
            Ok(0) => break buf.is_empty(),
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {
                break buf.is_empty()
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break false,
            Err(e) => panic!("read: {e}"),
        }
        if Instant::now() > deadline {
            break false;
        }
    };
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    closed
}

/// One request on a fresh connection.
pub fn roundtrip(port: u16, req: &[u8]) -> Resp {
    Client::new(port).roundtrip(req)
}

/// One request sent byte by byte on a fresh connection.
pub fn roundtrip_bytewise(port: u16, req: &[u8]) -> Resp {
    let mut c = Client::new(port);
    send_bytewise(&mut c.s, req);
    c.response(req.starts_with(b"HEAD "))
}

/// `GET / HTTP/1.1` on a fresh connection must get 200: the server is
/// healthy after whatever came before.
pub fn assert_healthy(port: u16) {
    let r = roundtrip(port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200, "server unhealthy: {r:?}");
}

/// Reads everything until the server closes (or the timeout).
pub fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    let mut tmp = [0u8; 16384];
    loop {
        match s.read(&mut tmp) {
            Ok(0) => break,
            Ok(n) => v.extend_from_slice(&tmp[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset) => break,
            Err(e) => panic!("read: {e} after {:?}", String::from_utf8_lossy(&v)),
        }
    }
    v
}

/// Half-closes the client's sending side.
pub fn shutdown_write(s: &TcpStream) {
    s.shutdown(Shutdown::Write).ok();
}

/// Collects log lines through `server_set_log`.
pub struct LogSink {
    pub lines: Mutex<Vec<(c_int, String)>>,
}

pub unsafe extern "C" fn log_collect(ud: *mut c_void, level: c_int, line: *const std::ffi::c_char) {
    // SAFETY: `ud` is the Arc<LogSink> pointer given at registration.
    let sink = unsafe { &*(ud as *const LogSink) };
    let line = from_c(line).unwrap_or_default();
    sink.lines.lock().unwrap().push((level, line));
}

/// Installs a collecting log callback; keep the Arc alive as long as the server.
pub fn collect_logs(srv: *mut mr_server) -> Arc<LogSink> {
    let sink = Arc::new(LogSink {
        lines: Mutex::new(Vec::new()),
    });
    let rc = server_set_log(srv, Some(log_collect), Arc::as_ptr(&sink) as *mut c_void);
    assert_eq!(rc, MR_OK);
    sink
}

type HandlerFn = Box<dyn Fn(*mut mr_req, *mut mr_resp) -> c_int + Send + Sync>;

/// The C handler behind every closure route: `ud` is a leaked `HandlerFn`.
/// A panic in the closure is caught here (it must not unwind into the
/// library) and gives a non-zero return, so the client sees a 500.
pub unsafe extern "C" fn trampoline(req: *mut mr_req, resp: *mut mr_resp, ud: *mut c_void) -> c_int {
    // SAFETY: `ud` is the pointer made by `handler_ud`, never freed.
    let f = unsafe { &*(ud as *const HandlerFn) };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(req, resp))) {
        Ok(rc) => rc,
        Err(_) => {
            eprintln!("a test handler panicked");
            77
        }
    }
}

/// Userdata for `trampoline` wrapping a closure (leaked: tests are short).
pub fn handler_ud(f: impl Fn(*mut mr_req, *mut mr_resp) -> c_int + Send + Sync + 'static) -> *mut c_void {
    Box::into_raw(Box::new(Box::new(f) as HandlerFn)) as *mut c_void
}

/// Registers a closure as the handler of `method pattern`.
pub fn on(
    srv: *mut mr_server,
    method: &str,
    pattern: &str,
    f: impl Fn(*mut mr_req, *mut mr_resp) -> c_int + Send + Sync + 'static,
) {
    route(srv, method, pattern, trampoline, handler_ud(f));
}

/// Peak resident memory of this process (VmHWM), in KiB. Tests that use it
/// live alone in their test binary, so the peak is theirs.
pub fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux)");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// Bytes received until EOF, or until `within` passes (then `None`).
pub fn read_until_eof(s: &mut std::net::TcpStream, within: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + within;
    let mut v = Vec::new();
    let mut tmp = [0u8; 65536];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        s.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
        match s.read(&mut tmp) {
            Ok(0) => return Some(v),
            Ok(n) => v.extend_from_slice(&tmp[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => return Some(v),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return None,
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Return codes recorded by handlers: `label=code` lines. Handlers hold
/// `busy()` while they run, so `take()` can wait for a handler that sent
/// its response before it finished recording.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>);

pub struct Busy(Arc<AtomicUsize>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Log {
    pub fn busy(&self) -> Busy {
        self.1.fetch_add(1, Ordering::SeqCst);
        Busy(self.1.clone())
    }
    pub fn rc(&self, label: &str, code: c_int) {
        self.0.lock().unwrap().push(format!("{label}={code}"));
    }
    pub fn note(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    /// Waits (bounded) until `n` lines were recorded, then takes them.
    pub fn take_when(&self, n: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        while self.0.lock().unwrap().len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.take()
    }
    /// The lines so far, once no handler using this log is running.
    pub fn take(&self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.1.load(Ordering::SeqCst) != 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A fresh folder under the system temp dir, removed on drop (also when an
/// assertion fails). Files in it that a test made unreadable are made
/// removable first.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let p = std::env::temp_dir().join(format!(
            "microroute-test-{}-{tag}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&p).expect("create the temp dir");
        TempDir(p)
    }

    pub fn join(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(rd) = std::fs::read_dir(&self.0) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_file() && !p.is_symlink() {
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).ok();
                }
            }
        }
        std::fs::remove_dir_all(&self.0).ok();
    }
}
