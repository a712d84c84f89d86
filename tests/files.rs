//! `resp_send_file` and `mr_mime_for_path` over real sockets: exact heads,
//! validators (ETag, Last-Modified), conditional requests (304), single byte
//! ranges (206/416, CASES row 98), HEAD, pipelining, errors at the API
//! (CASES row 97: only regular files), slow clients and files that shrink
//! while they are sent.
//!
//! Every test works in its own temporary folder, removed at the end. Every
//! wait is bounded; the bounds are generous (a loaded 2-core box), the
//! point is "not blocked / not a hang", never a benchmark.
mod common;
use common::*;

use std::ffi::{c_int, c_void, CStr, CString};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, UNIX_EPOCH};

/// Generous bound for "happens soon, not a hang".
const SOON: Duration = Duration::from_secs(5);

/// The size of the "large" test file: 5 MiB.
const BIG: u64 = 5 * 1024 * 1024;

/// A fixed modification time far in the past (2001-09-09T01:46:40.123456789Z),
/// so Last-Modified is known and dates "later than the file" are not in the
/// future.
const MTIME_SECS: u64 = 1_000_000_000;
const MTIME_NANOS: u32 = 123_456_789;
const MTIME_HTTP: &str = "Sun, 09 Sep 2001 01:46:40 GMT";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

impl TempDir {
    /// Writes `data` to `name` with the fixed mtime; returns the path.
    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.join(name);
        fs::write(&p, data).expect("write a test file");
        set_mtime(&p, MTIME_SECS, MTIME_NANOS);
        p
    }

    /// A sparse file of `len` bytes (zeros) with the fixed mtime.
    fn sparse(&self, name: &str, len: u64) -> PathBuf {
        let p = self.join(name);
        File::create(&p).unwrap().set_len(len).unwrap();
        set_mtime(&p, MTIME_SECS, MTIME_NANOS);
        p
    }
}

fn set_mtime(p: &Path, secs: u64, nanos: u32) {
    OpenOptions::new()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::new(secs, nanos))
        .unwrap();
}

/// The file's mtime in whole seconds.
fn mtime_secs(p: &Path) -> u64 {
    fs::metadata(p)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for Unix seconds.
fn imf_fixdate(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    v.truncate(len);
    v
}

/// FNV-1a 64 of `data`.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Compares two byte strings without printing megabytes on failure.
fn assert_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: got {} bytes, want {}; first difference at {at:?}",
            got.len(),
            want.len()
        );
    }
}

/// True for `"hex-hex-hex.hex"` (a strong entity tag of that shape).
fn etag_shape_ok(tag: &str) -> bool {
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let Some(inner) = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else {
        return false;
    };
    let parts: Vec<&str> = inner.split('-').collect();
    if parts.len() != 3 || !hex(parts[0]) || !hex(parts[1]) {
        return false;
    }
    matches!(parts[2].split_once('.'), Some((a, b)) if hex(a) && hex(b))
}

/// The ETag of a response, checked for its shape.
fn etag_of(r: &Resp) -> String {
    let tag = r.header("ETag").unwrap_or_else(|| panic!("no ETag: {r:?}")).to_string();
    assert!(etag_shape_ok(&tag), "ETag shape: {tag:?}");
    tag
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

/// The head a file response must have (status line given, Date dropped).
fn file_head(status: &str, ctype: &str, etag: &str, lm: &str, extra: &str, len: u64) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nETag: {etag}\r\nLast-Modified: {lm}\r\n\
         Accept-Ranges: bytes\r\n{extra}Content-Length: {len}\r\n\r\n"
    )
}

/// The head of the handler's own 404 answer after a failed resp_send_file.
fn own_404(rc: c_int) -> String {
    let body = format!("rc={rc}");
    format!(
        "HTTP/1.1 404 Not Found\r\nX-Before: 1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
}

fn param(req: *mut mr_req, name: &str) -> String {
    from_c(req_param(req, cs(name).as_ptr())).expect("route capture")
}

fn query(req: *mut mr_req, name: &str) -> Option<String> {
    from_c(req_query_param(req, cs(name).as_ptr()))
}

/// Sends `path`, or answers 404 `rc=N` when resp_send_file refuses. An
/// `X-Before` header set first shows that a failed call changes nothing.
fn serve(resp: *mut mr_resp, path: &Path) -> c_int {
    assert_eq!(resp_set_header(resp, c"X-Before".as_ptr(), c"1".as_ptr()), MR_OK);
    let rc = resp_send_file(resp, cpath(path).as_ptr());
    if rc != MR_OK {
        resp_set_status(resp, 404);
        resp_set_text(resp, cs(&format!("rc={rc}")).as_ptr());
    }
    MR_OK
}

/// A server over `dir`:
/// - `GET /f/{name}`: the file (the handler answers 404 `rc=N` itself on error);
/// - `GET /ct/{name}`: the file, with `Content-Type: text/x-custom` set first;
/// - `GET /nf/{name}`: the file as a 404 page (status set first);
/// - `GET /json/{name}`: the file, after a JSON document was started;
/// - `GET /try?p=PATH`: any absolute path, with `X-Before: 1` set first
///   (see `serve`); used for the refusals.
///
/// `write_ms` sets the write timeout.
fn file_server(dir: &TempDir, write_ms: Option<u32>) -> Running {
    let root = dir.0.clone();
    start_basic(move |srv| {
        if let Some(ms) = write_ms {
            assert_eq!(server_set_timeouts(srv, 10_000, 5_000, ms), MR_OK);
        }
        let r = root.clone();
        on(srv, "GET", "/f/{name}", move |req, resp| {
            let rc = resp_send_file(resp, cpath(&r.join(param(req, "name"))).as_ptr());
            if rc != MR_OK {
                resp_set_status(resp, 404);
                resp_set_text(resp, cs(&format!("rc={rc}")).as_ptr());
            }
            MR_OK
        });
        // GET `pattern`: `before(resp)`, then the file named by {name}.
        let file_after = |pattern: &str, before: fn(*mut mr_resp) -> c_int| {
            let r = root.clone();
            on(srv, "GET", pattern, move |req, resp| {
                assert_eq!(before(resp), MR_OK);
                assert_eq!(resp_send_file(resp, cpath(&r.join(param(req, "name"))).as_ptr()), MR_OK);
                MR_OK
            });
        };
        file_after("/ct/{name}", |resp| {
            resp_set_header(resp, c"Content-Type".as_ptr(), c"text/x-custom".as_ptr())
        });
        file_after("/nf/{name}", |resp| resp_set_status(resp, 404));
        file_after("/json/{name}", |resp| {
            resp_json_set_str(resp, c"note".as_ptr(), c"set before the file".as_ptr())
        });
        on(srv, "GET", "/try", move |req, resp| {
            let p = query(req, "p").expect("?p=");
            serve(resp, Path::new(&p))
        });
    })
}

/// `GET path` (or HEAD) with extra header lines on a fresh connection.
fn req(port: u16, method: &str, path: &str, headers: &str) -> Resp {
    let mut c = Client::new(port);
    let r = c.roundtrip(format!("{method} {path} HTTP/1.1\r\nHost: a\r\n{headers}\r\n").as_bytes());
    assert!(c.buf.is_empty(), "bytes after the response: {:?}", c.buf.len());
    r
}

fn get(port: u16, path: &str, headers: &str) -> Resp {
    req(port, "GET", path, headers)
}

/// A client socket with a small, fixed receive buffer (no autotuning), so
/// a client that stops reading stops the server after a few MiB at most.
fn small_window_client(port: u16) -> TcpStream {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(64 * 1024).unwrap();
    s.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into()).unwrap();
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(SOON)).unwrap();
    s.set_write_timeout(Some(SOON)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Reads until the head is complete and at least `body_min` body bytes
/// arrived; returns (head, body bytes so far).
fn read_head_and_some(s: &mut TcpStream, body_min: usize) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16 * 1024];
    let deadline = Instant::now() + SOON;
    loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if buf.len() - (p + 4) >= body_min {
                let body = buf.split_off(p + 4);
                return (String::from_utf8_lossy(&buf).into_owned(), body);
            }
        }
        assert!(Instant::now() < deadline, "no head in time");
        let n = s.read(&mut tmp).expect("read head");
        assert!(n > 0, "EOF before the head: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&tmp[..n]);
    }
}

fn content_length(head: &str) -> u64 {
    head.split("\r\n")
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("Content-Length")
        .parse()
        .unwrap()
}

// ---------------------------------------------------------------------------
// 1. mr_mime_for_path
// ---------------------------------------------------------------------------

fn mime(path: &str) -> String {
    from_c(mr_mime_for_path(cs(path).as_ptr())).unwrap()
}

#[test]
fn mime_for_path_from_rust() {
    assert_eq!(mime("index.html"), "text/html; charset=utf-8");
    assert_eq!(mime("/var/www/a/index.htm"), "text/html; charset=utf-8");
    assert_eq!(mime("style.css"), "text/css; charset=utf-8");
    assert_eq!(mime("app.js"), "text/javascript; charset=utf-8");
    assert_eq!(mime("data.json"), "application/json; charset=utf-8");
    assert_eq!(mime("logo.svg"), "image/svg+xml; charset=utf-8");
    assert_eq!(mime("logo.png"), "image/png");
    assert_eq!(mime("photo.jpg"), "image/jpeg");
    assert_eq!(mime("photo.jpeg"), "image/jpeg");
    assert_eq!(mime("module.wasm"), "application/wasm");
    assert_eq!(mime("notes.txt"), "text/plain; charset=utf-8");
    // Case-insensitive extension.
    assert_eq!(mime("LOGO.PNG"), "image/png");
    assert_eq!(mime("Index.HTML"), "text/html; charset=utf-8");
    // Unknown, missing, NULL, not UTF-8.
    assert_eq!(mime("firmware.xyzzy"), "application/octet-stream");
    assert_eq!(mime("README"), "application/octet-stream");
    assert_eq!(mime("dir.d/README"), "application/octet-stream");
    assert_eq!(mime(""), "application/octet-stream");
    assert_eq!(
        from_c(mr_mime_for_path(std::ptr::null())).unwrap(),
        "application/octet-stream"
    );
    let not_utf8 = CString::new(vec![b'a', 0xff, b'.', b'p', b'n', b'g']).unwrap();
    assert_eq!(
        from_c(mr_mime_for_path(not_utf8.as_ptr())).unwrap(),
        "application/octet-stream"
    );
    // A static string: the same pointer for the same type, from any thread.
    let a = mr_mime_for_path(c"a.png".as_ptr());
    let b = mr_mime_for_path(c"other/b.PNG".as_ptr());
    assert!(std::ptr::eq(a, b), "same pointer for image/png");
    let h1 = mr_mime_for_path(c"x.html".as_ptr()) as usize;
    let h2 = thread::spawn(|| mr_mime_for_path(c"y.html".as_ptr()) as usize)
        .join()
        .unwrap();
    assert_eq!(h1, h2, "same pointer for text/html from another thread");
    let u1 = mr_mime_for_path(c"x.unknownext".as_ptr());
    let u2 = mr_mime_for_path(std::ptr::null());
    assert!(std::ptr::eq(u1, u2), "same pointer for application/octet-stream");
    // Still readable later (lives forever).
    // SAFETY: a static NUL-terminated string from the library.
    assert_eq!(unsafe { CStr::from_ptr(a) }.to_bytes(), b"image/png");
}

#[test]
fn imf_fixdate_helper_matches_known_dates() {
    assert_eq!(imf_fixdate(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(imf_fixdate(MTIME_SECS), MTIME_HTTP);
    assert_eq!(imf_fixdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(imf_fixdate(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    assert!(etag_shape_ok("\"1a-2b-3c.4d\""));
    assert!(!etag_shape_ok("W/\"1a-2b-3c.4d\""));
    assert!(!etag_shape_ok("\"1a-2b-3c\""));
    assert!(!etag_shape_ok("\"1a-2b-3c.\""));
}

// ---------------------------------------------------------------------------
// 2. 200 with exact heads
// ---------------------------------------------------------------------------

#[test]
fn serves_files_with_exact_heads_and_types() {
    let dir = TempDir::new("types");
    let cases: [(&str, &[u8], &str); 7] = [
        ("index.html", b"<h1>hi</h1>\n", "text/html; charset=utf-8"),
        ("style.css", b"body{color:red}", "text/css; charset=utf-8"),
        ("app.js", b"console.log(1);", "text/javascript; charset=utf-8"),
        ("logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
        ("blob.xyzzy", b"\x00\x01\x02\xff", "application/octet-stream"),
        ("README", b"no extension", "application/octet-stream"),
        ("UPPER.HTML", b"<p>upper</p>", "text/html; charset=utf-8"),
    ];
    for (name, data, _) in &cases {
        dir.write(name, data);
    }
    let srv = file_server(&dir, None);
    for (name, data, ctype) in cases {
        let r = get(srv.port, &format!("/f/{name}"), "");
        let etag = etag_of(&r);
        assert_eq!(
            r.head_without_date(),
            file_head("200 OK", ctype, &etag, MTIME_HTTP, "", data.len() as u64),
            "{name}"
        );
        assert_eq!(r.body, data, "{name}");
        assert_eq!(r.headers_named("Date").len(), 1, "{name}: one Date");
    }
    // A Content-Type the handler set first is kept.
    let r = get(srv.port, "/ct/index.html", "");
    let etag = etag_of(&r);
    assert_eq!(
        r.head_without_date(),
        file_head("200 OK", "text/x-custom", &etag, MTIME_HTTP, "", 12)
    );
    assert_eq!(r.body, b"<h1>hi</h1>\n");
    assert_healthy(srv.port);
}

#[test]
fn zero_byte_file() {
    let dir = TempDir::new("empty");
    dir.write("empty.txt", b"");
    let srv = file_server(&dir, None);
    let mut c = Client::new(srv.port);
    let r = c.roundtrip(b"GET /f/empty.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    let etag = etag_of(&r);
    assert_eq!(
        r.head_without_date(),
        file_head("200 OK", "text/plain; charset=utf-8", &etag, MTIME_HTTP, "", 0)
    );
    assert!(r.body.is_empty());
    // The connection goes on (nothing stray after the empty body).
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text(), "ok");
    assert!(c.buf.is_empty());
    // Any range of an empty file is unsatisfiable.
    let r = get(srv.port, "/f/empty.txt", "Range: bytes=0-\r\n");
    assert_eq!(r.status, 416, "{r:?}");
    assert_eq!(r.header("Content-Range"), Some("bytes */0"));
}

#[test]
fn five_mib_random_file_is_exact() {
    let dir = TempDir::new("big");
    let data = random_bytes(BIG as usize, 0x5eed);
    dir.write("big.bin", &data);
    let srv = file_server(&dir, None);
    let mut c = Client::new(srv.port);
    for round in 0..2 {
        let r = c.roundtrip(b"GET /f/big.bin HTTP/1.1\r\nHost: a\r\n\r\n");
        let etag = etag_of(&r);
        assert_eq!(
            r.head_without_date(),
            file_head("200 OK", "application/octet-stream", &etag, MTIME_HTTP, "", BIG),
            "round {round}"
        );
        assert_eq!(fnv1a(&r.body), fnv1a(&data), "round {round}: FNV-1a");
        assert_bytes(&r.body, &data, "5 MiB body");
    }
    // Keep-alive after two large bodies.
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text(), "ok");
}

// ---------------------------------------------------------------------------
// 3. Validators and conditional requests
// ---------------------------------------------------------------------------

#[test]
fn etag_and_last_modified_follow_the_file() {
    let dir = TempDir::new("validators");
    let p = dir.join("page.html");
    fs::write(&p, b"version one").unwrap();
    let srv = file_server(&dir, None);

    // Last-Modified is the file's own mtime (not a fixed one).
    let r1 = get(srv.port, "/f/page.html", "");
    let lm = imf_fixdate(mtime_secs(&p));
    assert_eq!(r1.header("Last-Modified"), Some(lm.as_str()));
    let tag1 = etag_of(&r1);
    // Stable across requests and connections.
    let r2 = get(srv.port, "/f/page.html", "");
    assert_eq!(etag_of(&r2), tag1);
    assert_eq!(r2.header("Last-Modified"), Some(lm.as_str()));

    // A fixed mtime: Last-Modified follows, the ETag changes.
    set_mtime(&p, MTIME_SECS, MTIME_NANOS);
    let r3 = get(srv.port, "/f/page.html", "");
    assert_eq!(r3.header("Last-Modified"), Some(MTIME_HTTP));
    let tag3 = etag_of(&r3);
    assert_ne!(tag3, tag1, "ETag must change with the mtime");

    // Only the sub-second part of the mtime changes: the ETag still changes.
    set_mtime(&p, MTIME_SECS, MTIME_NANOS + 1);
    let r4 = get(srv.port, "/f/page.html", "");
    assert_eq!(r4.header("Last-Modified"), Some(MTIME_HTTP));
    let tag4 = etag_of(&r4);
    assert_ne!(tag4, tag3, "ETag must change with the mtime's nanoseconds");

    // New content of another length, same mtime: the ETag changes.
    fs::write(&p, b"version two, longer").unwrap();
    set_mtime(&p, MTIME_SECS, MTIME_NANOS + 1);
    let r5 = get(srv.port, "/f/page.html", "");
    let tag5 = etag_of(&r5);
    assert_ne!(tag5, tag4, "ETag must change with the length");
    assert_eq!(r5.body, b"version two, longer");

    // The old tag no longer matches; the new one does.
    let r = get(srv.port, "/f/page.html", &format!("If-None-Match: {tag4}\r\n"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"version two, longer");
    let r = get(srv.port, "/f/page.html", &format!("If-None-Match: {tag5}\r\n"));
    assert_eq!(r.status, 304);
}

/// The exact 304 head for the file with `etag`.
fn not_modified_head(etag: &str) -> String {
    format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nLast-Modified: {MTIME_HTTP}\r\n\r\n")
}

/// Sends `GET /f/page.html` with `headers` on a kept-alive connection and
/// checks the answer is the exact 304, with no body bytes: the next
/// request on the connection gets its own answer intact.
fn expect_304(port: u16, method: &str, headers: &str, etag: &str) {
    let mut c = Client::new(port);
    let r = c.roundtrip(format!("{method} /f/page.html HTTP/1.1\r\nHost: a\r\n{headers}\r\n").as_bytes());
    assert_eq!(
        r.head_without_date(),
        not_modified_head(etag),
        "{method} with {headers:?}"
    );
    assert!(r.body.is_empty());
    assert!(c.buf.is_empty(), "{headers:?}: bytes after the 304");
    assert_eq!(
        c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text(),
        "ok",
        "{headers:?}"
    );
    assert!(c.buf.is_empty());
}

fn expect_200(port: u16, headers: &str, etag: &str, body: &[u8]) {
    let r = get(port, "/f/page.html", headers);
    assert_eq!(
        r.head_without_date(),
        file_head(
            "200 OK",
            "text/html; charset=utf-8",
            etag,
            MTIME_HTTP,
            "",
            body.len() as u64
        ),
        "{headers:?}"
    );
    assert_eq!(r.body, body, "{headers:?}");
}

#[test]
fn if_none_match() {
    let dir = TempDir::new("inm");
    let body = b"<p>cached</p>";
    dir.write("page.html", body);
    let srv = file_server(&dir, None);
    let etag = etag_of(&get(srv.port, "/f/page.html", ""));

    expect_304(srv.port, "GET", &format!("If-None-Match: {etag}\r\n"), &etag);
    expect_304(srv.port, "HEAD", &format!("If-None-Match: {etag}\r\n"), &etag);
    expect_304(srv.port, "GET", "If-None-Match: *\r\n", &etag);
    expect_304(srv.port, "GET", &format!("If-None-Match: W/{etag}\r\n"), &etag);
    expect_304(
        srv.port,
        "GET",
        &format!("If-None-Match: \"other\", W/\"x\",{etag} \r\n"),
        &etag,
    );
    expect_200(srv.port, "If-None-Match: \"other\"\r\n", &etag, body);
    expect_200(srv.port, "If-None-Match: \"other\", W/\"more\"\r\n", &etag, body);
    // A tag that is only a prefix of ours does not match.
    let prefix = &etag[..etag.len() - 2];
    expect_200(srv.port, &format!("If-None-Match: {prefix}\"\r\n"), &etag, body);
    // A range request with a matching tag is still 304.
    expect_304(
        srv.port,
        "GET",
        &format!("If-None-Match: {etag}\r\nRange: bytes=0-3\r\n"),
        &etag,
    );
}

#[test]
fn if_modified_since() {
    let dir = TempDir::new("ims");
    let body = b"<p>dated</p>";
    dir.write("page.html", body);
    let srv = file_server(&dir, None);
    let etag = etag_of(&get(srv.port, "/f/page.html", ""));
    let later = imf_fixdate(MTIME_SECS + 3600);
    let earlier = imf_fixdate(MTIME_SECS - 1);

    expect_304(srv.port, "GET", &format!("If-Modified-Since: {MTIME_HTTP}\r\n"), &etag);
    expect_304(srv.port, "HEAD", &format!("If-Modified-Since: {MTIME_HTTP}\r\n"), &etag);
    expect_304(srv.port, "GET", &format!("If-Modified-Since: {later}\r\n"), &etag);
    expect_200(srv.port, &format!("If-Modified-Since: {earlier}\r\n"), &etag, body);
    expect_200(srv.port, "If-Modified-Since: garbage\r\n", &etag, body);
    expect_200(
        srv.port,
        "If-Modified-Since: Sunday, 09-Sep-01 01:46:40 UTC\r\n",
        &etag,
        body,
    );
    expect_200(srv.port, "If-Modified-Since: \r\n", &etag, body);

    // If-None-Match takes precedence: a non-matching tag with a later date
    // is 200; a matching tag with an earlier date is 304.
    expect_200(
        srv.port,
        &format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {later}\r\n"),
        &etag,
        body,
    );
    expect_304(
        srv.port,
        "GET",
        &format!("If-Modified-Since: {earlier}\r\nIf-None-Match: {etag}\r\n"),
        &etag,
    );
}

#[test]
fn a_non_200_status_sends_the_file_without_conditionals_or_ranges() {
    let dir = TempDir::new("notfound");
    let body = b"<h1>Not here</h1>";
    dir.write("404.html", body);
    let srv = file_server(&dir, None);
    let etag = etag_of(&get(srv.port, "/f/404.html", ""));
    for headers in [
        String::new(),
        format!("If-None-Match: {etag}\r\n"),
        "If-None-Match: *\r\n".to_string(),
        format!("If-Modified-Since: {MTIME_HTTP}\r\n"),
        "Range: bytes=0-3\r\n".to_string(),
        "Range: bytes=999-\r\n".to_string(),
    ] {
        let r = get(srv.port, "/nf/404.html", &headers);
        assert_eq!(
            r.head_without_date(),
            file_head(
                "404 Not Found",
                "text/html; charset=utf-8",
                &etag,
                MTIME_HTTP,
                "",
                body.len() as u64
            ),
            "{headers:?}"
        );
        assert_eq!(r.body, body, "{headers:?}");
    }
    // HEAD: the same head, no body.
    let mut c = Client::new(srv.port);
    let r = c.roundtrip(b"HEAD /nf/404.html HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        r.head_without_date(),
        file_head(
            "404 Not Found",
            "text/html; charset=utf-8",
            &etag,
            MTIME_HTTP,
            "",
            body.len() as u64
        )
    );
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text(), "ok");
}

// ---------------------------------------------------------------------------
// 4. Ranges (CASES row 98)
// ---------------------------------------------------------------------------

/// A server with a 5 MiB random `big.bin`; returns (server, dir, data, etag).
fn big_file_server(tag: &str) -> (Running, TempDir, Vec<u8>, String) {
    let dir = TempDir::new(tag);
    let data = random_bytes(BIG as usize, 0xb16);
    dir.write("big.bin", &data);
    let srv = file_server(&dir, None);
    let etag = etag_of(&req(srv.port, "HEAD", "/f/big.bin", ""));
    (srv, dir, data, etag)
}

fn partial_head(etag: &str, first: u64, last: u64) -> String {
    file_head(
        "206 Partial Content",
        "application/octet-stream",
        etag,
        MTIME_HTTP,
        &format!("Content-Range: bytes {first}-{last}/{BIG}\r\n"),
        last - first + 1,
    )
}

#[test]
fn single_ranges_give_206() {
    let (srv, _dir, data, etag) = big_file_server("ranges");
    let mut c = Client::new(srv.port);
    for (range, first, last) in [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, BIG - 1),
        ("bytes=-500", BIG - 500, BIG - 1),
        ("bytes=5242879-99999999", BIG - 1, BIG - 1),
        ("bytes=0-0", 0, 0),
        ("bytes=1-", 1, BIG - 1),
        ("bytes=0-5242878", 0, BIG - 2),
        ("bytes=-5242879", 1, BIG - 1),
        ("bytes=5-99999999999999999999", 5, BIG - 1),
        ("Bytes = 7-8", 7, 8),
    ] {
        // All on one connection: each body must be exactly its length.
        let r = c.roundtrip(format!("GET /f/big.bin HTTP/1.1\r\nHost: a\r\nRange: {range}\r\n\r\n").as_bytes());
        assert_eq!(r.head_without_date(), partial_head(&etag, first, last), "{range}");
        assert_bytes(&r.body, &data[first as usize..=last as usize], range);
    }
    assert!(c.buf.is_empty());
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text(), "ok");
}

/// A single satisfiable range that happens to cover the whole file is
/// still a range: the header promises 206 with `Content-Range` for "a
/// single satisfiable `Range`", suffix and open ranges included (media
/// players send `bytes=0-` and look for the 206).
#[test]
fn ranges_covering_the_whole_file_give_206() {
    let (srv, _dir, data, etag) = big_file_server("rangewhole");
    let mut wrong = Vec::new();
    for range in [
        "bytes=0-",
        "bytes=0-5242879",
        "bytes=-5242880",
        "bytes=-99999999",
        "bytes=0-99999999999999999999",
    ] {
        let r = get(srv.port, "/f/big.bin", &format!("Range: {range}\r\n"));
        assert_bytes(&r.body, &data, range);
        if r.head_without_date() != partial_head(&etag, 0, BIG - 1) {
            wrong.push(format!("{range}: {:?}", r.head_without_date()));
        }
    }
    assert!(
        wrong.is_empty(),
        "not 206 with Content-Range: bytes 0-5242879/5242880:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn unsatisfiable_ranges_give_416() {
    let (srv, _dir, _data, _etag) = big_file_server("range416");
    let mut c = Client::new(srv.port);
    for range in [
        "bytes=5242880-",
        "bytes=5242880-5242881",
        "bytes=-0",
        "bytes=99999999999999999999-",
        "bytes=18446744073709551615-",
        "bytes=18446744073709551616-",
    ] {
        let r = c.roundtrip(format!("GET /f/big.bin HTTP/1.1\r\nHost: a\r\nRange: {range}\r\n\r\n").as_bytes());
        let page = "416 Range Not Satisfiable\n";
        assert_eq!(
            r.head_without_date(),
            format!(
                "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{BIG}\r\n\
                 Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
                page.len()
            ),
            "{range}"
        );
        assert_eq!(r.text(), page, "{range}");
    }
    assert!(c.buf.is_empty());
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text(), "ok");
}

#[test]
fn a_json_document_started_before_the_file_never_becomes_the_body() {
    let (srv, _dir, data, etag) = big_file_server("jsonfile");
    let mut c = Client::new(srv.port);
    // 200: the file.
    let r = c.roundtrip(b"GET /json/big.bin HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_bytes(&r.body, &data, "200");
    // 416: the library's own page, not the JSON.
    let r = c.roundtrip(b"GET /json/big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=5242880-\r\n\r\n");
    assert_eq!(r.status, 416, "{r:?}");
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.text(), "416 Range Not Satisfiable\n");
    // 304: no body at all.
    let r = c.roundtrip(format!("GET /json/big.bin HTTP/1.1\r\nHost: a\r\nIf-None-Match: {etag}\r\n\r\n").as_bytes());
    assert_eq!(r.status, 304, "{r:?}");
    assert!(r.body.is_empty());
    assert_eq!(r.header("Content-Length"), None);
    assert!(c.buf.is_empty(), "nothing after the responses");
}

#[test]
fn several_or_invalid_ranges_give_the_whole_file() {
    let (srv, _dir, data, etag) = big_file_server("rangefull");
    let many = vec!["0-0"; 1000].join(",");
    let mut c = Client::new(srv.port);
    for range in [
        format!("bytes={many}"),
        "bytes=0-1,3-4".to_string(),
        "bytes=5-2".to_string(),
        "items=0-1".to_string(),
        "bytes=a-b".to_string(),
        "bytes=-".to_string(),
        "bytes=".to_string(),
        "bytes 0-1".to_string(),
        "bytes=+1-2".to_string(),
    ] {
        let r = c.roundtrip(format!("GET /f/big.bin HTTP/1.1\r\nHost: a\r\nRange: {range}\r\n\r\n").as_bytes());
        let shown: String = range.chars().take(40).collect();
        assert_eq!(
            r.head_without_date(),
            file_head("200 OK", "application/octet-stream", &etag, MTIME_HTTP, "", BIG),
            "{shown}"
        );
        assert_bytes(&r.body, &data, &shown);
    }
    assert!(c.buf.is_empty());
}

#[test]
fn if_range() {
    let (srv, _dir, data, etag) = big_file_server("ifrange");
    // The current tag: the range applies.
    let r = get(
        srv.port,
        "/f/big.bin",
        &format!("Range: bytes=10-19\r\nIf-Range: {etag}\r\n"),
    );
    assert_eq!(r.head_without_date(), partial_head(&etag, 10, 19));
    assert_eq!(r.body, &data[10..20]);
    // The exact Last-Modified date (the file is old, so it is a strong validator).
    let r = get(
        srv.port,
        "/f/big.bin",
        &format!("Range: bytes=10-19\r\nIf-Range: {MTIME_HTTP}\r\n"),
    );
    assert_eq!(r.head_without_date(), partial_head(&etag, 10, 19));
    assert_eq!(r.body, &data[10..20]);
    // Another tag, a weak tag (If-Range compares strongly), another date:
    // the whole file.
    for if_range in [
        "\"other\"".to_string(),
        format!("W/{etag}"),
        imf_fixdate(MTIME_SECS + 1),
        "garbage".to_string(),
    ] {
        let r = get(
            srv.port,
            "/f/big.bin",
            &format!("Range: bytes=10-19\r\nIf-Range: {if_range}\r\n"),
        );
        assert_eq!(
            r.head_without_date(),
            file_head("200 OK", "application/octet-stream", &etag, MTIME_HTTP, "", BIG),
            "If-Range: {if_range}"
        );
        assert_bytes(&r.body, &data, &if_range);
    }
    // A stale If-Range also voids an unsatisfiable range: 200, not 416.
    let r = get(
        srv.port,
        "/f/big.bin",
        "Range: bytes=5242880-\r\nIf-Range: \"other\"\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len() as u64, BIG);
}

// ---------------------------------------------------------------------------
// 5. HEAD
// ---------------------------------------------------------------------------

#[test]
fn head_gets_the_headers_only_and_the_connection_goes_on() {
    let (srv, _dir, data, etag) = big_file_server("head");
    let full = file_head("200 OK", "application/octet-stream", &etag, MTIME_HTTP, "", BIG);
    let mut c = Client::new(srv.port);
    for headers in ["", "Range: bytes=0-99\r\n", "Range: bytes=5242880-\r\n"] {
        // Range applies to GET only: HEAD gets the head of the 200.
        let r = c.roundtrip(format!("HEAD /f/big.bin HTTP/1.1\r\nHost: a\r\n{headers}\r\n").as_bytes());
        assert_eq!(r.head_without_date(), full, "HEAD with {headers:?}");
        assert!(c.buf.is_empty(), "HEAD with {headers:?}: body bytes followed");
        // The next request on the connection gets its own answer intact.
        let r = c.roundtrip(b"GET /f/big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=-4\r\n\r\n");
        assert_eq!(r.head_without_date(), partial_head(&etag, BIG - 4, BIG - 1));
        assert_eq!(r.body, &data[data.len() - 4..]);
    }
    // No late body bytes arrive either.
    assert!(!c.closed_within(Duration::from_millis(200)), "closed after HEAD");
    assert!(c.buf.is_empty(), "stray bytes: {}", c.buf.len());
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text(), "ok");
}

// ---------------------------------------------------------------------------
// 6. Pipelining
// ---------------------------------------------------------------------------

#[test]
fn pipelined_file_requests_answer_in_order() {
    let dir = TempDir::new("pipeline");
    let a = random_bytes(300_000, 1);
    let b = b"b { margin: 0 }".to_vec();
    let png = random_bytes(70_001, 3);
    dir.write("a.bin", &a);
    dir.write("b.css", &b);
    dir.write("c.png", &png);
    let srv = file_server(&dir, None);
    let mut c = Client::new(srv.port);
    c.send(
        b"GET /f/a.bin HTTP/1.1\r\nHost: a\r\n\r\n\
          HEAD /f/b.css HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /f/c.png HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    let r1 = c.response(false);
    let r2 = c.response(true);
    let r3 = c.response(false);
    let (t1, t2, t3) = (etag_of(&r1), etag_of(&r2), etag_of(&r3));
    assert!(t1 != t2 && t2 != t3 && t1 != t3, "different files, different tags");
    assert_eq!(
        r1.head_without_date(),
        file_head(
            "200 OK",
            "application/octet-stream",
            &t1,
            MTIME_HTTP,
            "",
            a.len() as u64
        )
    );
    assert_bytes(&r1.body, &a, "a.bin");
    assert_eq!(
        r2.head_without_date(),
        file_head("200 OK", "text/css; charset=utf-8", &t2, MTIME_HTTP, "", b.len() as u64)
    );
    assert_eq!(
        r3.head_without_date(),
        file_head("200 OK", "image/png", &t3, MTIME_HTTP, "", png.len() as u64)
    );
    assert_bytes(&r3.body, &png, "c.png");
    assert!(c.buf.is_empty(), "stray bytes: {}", c.buf.len());
    // Then a normal request on the same connection.
    assert_eq!(c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text(), "ok");
    assert!(c.buf.is_empty());
}

// ---------------------------------------------------------------------------
// 7. Errors at the API (CASES row 97)
// ---------------------------------------------------------------------------

/// `GET /try?p=PATH`: the handler's own 404 answer with `rc=N`, exactly,
/// on a connection that goes on; quickly (a FIFO must not block the open).
fn expect_refused(port: u16, path: &Path, rc: c_int) {
    let mut c = Client::new(port);
    let t = Instant::now();
    let r = c.roundtrip(format!("GET /try?p={} HTTP/1.1\r\nHost: a\r\n\r\n", path.display()).as_bytes());
    assert!(t.elapsed() < Duration::from_secs(3), "{path:?}: took {:?}", t.elapsed());
    assert_eq!(r.head_without_date(), own_404(rc), "{path:?}");
    assert_eq!(r.text(), format!("rc={rc}"), "{path:?}");
    assert!(c.buf.is_empty(), "{path:?}: stray bytes");
    assert_eq!(
        c.roundtrip(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").text(),
        "ok",
        "{path:?}"
    );
}

#[test]
fn missing_files_let_the_handler_answer() {
    let dir = TempDir::new("missing");
    dir.write("file.txt", b"x");
    let srv = file_server(&dir, None);
    expect_refused(srv.port, &dir.join("nope.html"), MR_ENOTFOUND);
    // A path through a regular file (ENOTDIR) is "no file" too.
    expect_refused(srv.port, &dir.join("file.txt/child"), MR_ENOTFOUND);
    // A dangling symlink.
    symlink(dir.join("gone"), dir.join("dangling")).unwrap();
    expect_refused(srv.port, &dir.join("dangling"), MR_ENOTFOUND);
    // Via the /f/ route, the handler's answer has no X-Before.
    let r = get(srv.port, "/f/nope.html", "");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\n"
    );
    assert_eq!(r.text(), "rc=-6");
    assert_healthy(srv.port);
}

#[test]
fn only_regular_files_are_sent() {
    let dir = TempDir::new("special");
    let body = b"regular file";
    let target = dir.write("target.txt", body);
    fs::create_dir(dir.join("sub")).unwrap();
    let fifo = dir.join("fifo");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(st.success(), "mkfifo failed");
    symlink("/dev/zero", dir.join("zero")).unwrap();
    symlink(&target, dir.join("link.txt")).unwrap();
    symlink(dir.join("sub"), dir.join("dirlink")).unwrap();
    let srv = file_server(&dir, None);

    expect_refused(srv.port, &dir.join("sub"), MR_EFORBIDDEN);
    expect_refused(srv.port, &dir.0, MR_EFORBIDDEN);
    expect_refused(srv.port, &dir.join("dirlink"), MR_EFORBIDDEN);
    // A FIFO with no writer: refused at once, never blocks the open.
    expect_refused(srv.port, &fifo, MR_EFORBIDDEN);
    expect_refused(srv.port, Path::new("/dev/zero"), MR_EFORBIDDEN);
    expect_refused(srv.port, Path::new("/dev/null"), MR_EFORBIDDEN);
    expect_refused(srv.port, &dir.join("zero"), MR_EFORBIDDEN);

    // A symlink to a regular file is followed (paths are not confined).
    let r = get(srv.port, "/f/link.txt", "");
    let etag = etag_of(&r);
    assert_eq!(
        r.head_without_date(),
        file_head(
            "200 OK",
            "text/plain; charset=utf-8",
            &etag,
            MTIME_HTTP,
            "",
            body.len() as u64
        )
    );
    assert_eq!(r.body, body);
    assert_eq!(
        etag,
        etag_of(&get(srv.port, "/f/target.txt", "")),
        "same file, same tag"
    );
    assert_healthy(srv.port);
}

#[test]
fn unreadable_file_is_forbidden() {
    let dir = TempDir::new("perm");
    let p = dir.write("secret.txt", b"top secret");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).unwrap();
    if File::open(&p).is_ok() {
        eprintln!("skipped: this user can read a mode-000 file (root?)");
        return;
    }
    let srv = file_server(&dir, None);
    expect_refused(srv.port, &p, MR_EFORBIDDEN);
    assert_healthy(srv.port);
}

/// Codes recorded by handlers, checked after the response.
type Codes = Arc<Mutex<Vec<(&'static str, c_int)>>>;

fn rec(codes: &Codes, what: &'static str, rc: c_int) {
    codes.lock().unwrap().push((what, rc));
}

fn take_codes(codes: &Codes) -> Vec<(&'static str, c_int)> {
    std::mem::take(&mut *codes.lock().unwrap())
}

struct Handle(*mut mr_resp);
// SAFETY: the deferred handle is used from one thread at a time.
unsafe impl Send for Handle {}
impl Handle {
    fn get(self) -> *mut mr_resp {
        self.0
    }
}

unsafe extern "C" fn produce_nothing(_ud: *mut c_void, _buf: *mut c_void, _cap: usize) -> isize {
    0
}

#[test]
fn api_misuse_is_refused_and_changes_nothing() {
    let dir = TempDir::new("misuse");
    let file = dir.write("f.txt", b"file body");
    let codes: Codes = Arc::new(Mutex::new(Vec::new()));
    let srv = {
        let (f, g) = (file.clone(), codes.clone());
        start_basic(move |srv| {
            let (f1, g1) = (f.clone(), g.clone());
            on(srv, "GET", "/null", move |_, resp| {
                rec(&g1, "null path", resp_send_file(resp, std::ptr::null()));
                let bad = CString::new(vec![b'/', b't', 0xff, b'.', b't', b'x', b't']).unwrap();
                rec(&g1, "not utf-8", resp_send_file(resp, bad.as_ptr()));
                rec(
                    &g1,
                    "null resp",
                    resp_send_file(std::ptr::null_mut(), cpath(&f1).as_ptr()),
                );
                // Nothing changed: the handler answers itself.
                resp_set_status(resp, 400);
                resp_set_text(resp, c"own answer".as_ptr())
            });
            let (f2, g2) = (f.clone(), g.clone());
            on(srv, "GET", "/after-header", move |_, resp| {
                rec(
                    &g2,
                    "send_header",
                    resp_send_header(resp, std::ptr::null(), b"abc".as_ptr().cast(), 3),
                );
                let rc = resp_send_file(resp, cpath(&f2).as_ptr());
                rec(&g2, "send_file", rc);
                resp_send_str(resp, cs(&format!("|rc={rc}")).as_ptr())
            });
            let (f3, g3) = (f.clone(), g.clone());
            on(srv, "GET", "/after-redirect", move |_, resp| {
                rec(&g3, "redirect", resp_redirect(resp, c"/elsewhere".as_ptr(), 302));
                let rc = resp_send_file(resp, cpath(&f3).as_ptr());
                rec(&g3, "send_file", rc);
                resp_set_header(resp, c"X-Rc".as_ptr(), cs(&rc.to_string()).as_ptr())
            });
            let (f4, g4) = (f.clone(), g.clone());
            on(srv, "GET", "/deferred", move |_, resp| {
                let d = resp_defer(resp);
                assert!(!d.is_null());
                rec(&g4, "on deferred", resp_send_file(d, cpath(&f4).as_ptr()));
                rec(&g4, "on original", resp_send_file(resp, cpath(&f4).as_ptr()));
                let (h, g) = (Handle(d), g4.clone());
                thread::spawn(move || {
                    let d = h.get();
                    resp_set_text(d, c"deferred answer".as_ptr());
                    rec(&g, "finish", resp_finish(d));
                });
                MR_OK
            });
            let (f5, g5) = (f.clone(), g.clone());
            on(srv, "GET", "/stream", move |_, resp| {
                rec(
                    &g5,
                    "stream",
                    resp_stream(resp, Some(produce_nothing), std::ptr::null_mut(), None),
                );
                rec(&g5, "send_file", resp_send_file(resp, cpath(&f5).as_ptr()));
                MR_OK
            });
            let (f6, g6) = (f.clone(), g.clone());
            on(srv, "GET", "/twice", move |_, resp| {
                // A failed call, then a good one: the first changed nothing.
                let missing = f6.with_file_name("missing.txt");
                rec(&g6, "missing", resp_send_file(resp, cpath(&missing).as_ptr()));
                rec(&g6, "good", resp_send_file(resp, cpath(&f6).as_ptr()));
                MR_OK
            });
        })
    };
    let port = srv.port;

    let r = get(port, "/null", "");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 10\r\n\r\n"
    );
    assert_eq!(r.text(), "own answer");
    assert_eq!(
        take_codes(&codes),
        [
            ("null path", MR_EINVAL),
            ("not utf-8", MR_EINVAL),
            ("null resp", MR_EINVAL)
        ]
    );

    let r = get(port, "/after-header", "");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    assert_eq!(r.text(), format!("abc|rc={MR_ESTATE}"));
    assert_eq!(take_codes(&codes), [("send_header", MR_OK), ("send_file", MR_ESTATE)]);

    let r = get(port, "/after-redirect", "");
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(r.header("Location"), Some("/elsewhere"));
    assert_eq!(r.header("X-Rc"), Some(MR_ESTATE.to_string().as_str()));
    assert_eq!(r.header("ETag"), None);
    assert_eq!(r.header("Accept-Ranges"), None);
    assert!(!r.text().contains("file body"));
    assert_eq!(take_codes(&codes), [("redirect", MR_OK), ("send_file", MR_ESTATE)]);

    let r = get(port, "/deferred", "");
    assert_eq!(
        r.head_without_date(),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 15\r\n\r\n"
    );
    assert_eq!(r.text(), "deferred answer");
    // resp_finish may return just after the client has the answer.
    let deadline = Instant::now() + SOON;
    while codes.lock().unwrap().len() < 3 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        take_codes(&codes),
        [
            ("on deferred", MR_ESTATE),
            ("on original", MR_ESTATE),
            ("finish", MR_OK)
        ]
    );

    let r = get(port, "/stream", "");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("ETag"), None);
    assert!(r.body.is_empty());
    assert_eq!(take_codes(&codes), [("stream", MR_OK), ("send_file", MR_ESTATE)]);

    let r = get(port, "/twice", "");
    let etag = etag_of(&r);
    assert_eq!(
        r.head_without_date(),
        file_head("200 OK", "text/plain; charset=utf-8", &etag, MTIME_HTTP, "", 9)
    );
    assert_eq!(r.body, b"file body");
    assert_eq!(take_codes(&codes), [("missing", MR_ENOTFOUND), ("good", MR_OK)]);
    assert_healthy(port);
}

#[test]
fn a_second_send_file_replaces_the_first_with_its_own_type() {
    let dir = TempDir::new("second");
    let html = dir.write("a.html", b"<p>a</p>");
    let png = dir.write("b.png", b"\x89PNG-bytes");
    let srv = start_basic(move |srv| {
        on(srv, "GET", "/x", move |_, resp| {
            assert_eq!(resp_send_file(resp, cpath(&html).as_ptr()), MR_OK);
            assert_eq!(resp_send_file(resp, cpath(&png).as_ptr()), MR_OK);
            MR_OK
        });
    });
    let r = get(srv.port, "/x", "");
    let etag = etag_of(&r);
    assert_eq!(r.body, b"\x89PNG-bytes");
    // The handler set no Content-Type: the type is the sent file's.
    assert_eq!(
        r.head_without_date(),
        file_head("200 OK", "image/png", &etag, MTIME_HTTP, "", 10)
    );
}

// ---------------------------------------------------------------------------
// 8. Slow clients and files that shrink
// ---------------------------------------------------------------------------

#[test]
fn a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
    const LEN: u64 = 64 << 20;
    let dir = TempDir::new("slow");
    dir.sparse("huge.bin", LEN);
    let srv = file_server(&dir, Some(500));
    let mut s = small_window_client(srv.port);
    s.write_all(b"GET /f/huge.bin HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let (head, some) = read_head_and_some(&mut s, 64 * 1024);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(content_length(&head), LEN);
    // Stop reading for four write timeouts.
    thread::sleep(Duration::from_secs(2));
    let t = Instant::now();
    let rest = read_to_end(&mut s);
    let total = some.len() as u64 + rest.len() as u64;
    println!("got {total} of {LEN} bytes; the rest drained in {:?}", t.elapsed());
    assert!(total < LEN, "the whole file arrived: the write timeout did not apply");
    // Only what was in flight: no resumed transfer.
    assert!(t.elapsed() < SOON, "draining took {:?}", t.elapsed());
    assert!(some.iter().chain(&rest).all(|&b| b == 0), "sparse file body");
    assert_healthy(srv.port);
    // The server still sends big files to clients that read.
    let mut c = Client::new(srv.port);
    let r = c.roundtrip(b"GET /f/huge.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=-1000000\r\n\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(r.body.len(), 1_000_000);
}

/// Bytes 0..n of the shrink tests' pattern.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[test]
fn a_file_that_shrinks_before_the_send_ends_the_connection_unpadded() {
    // Sent by sendfile, and (small) copied behind the head.
    shrink_before_the_send(4 << 20, 1 << 20);
    shrink_before_the_send(8 << 10, 1 << 10);
}

/// The handler truncates the file after resp_send_file opened it, before
/// any body byte went out: exactly the remaining bytes arrive, then EOF.
fn shrink_before_the_send(len: usize, cut: u64) {
    let dir = TempDir::new("shrink-now");
    let p = dir.write("shrink.bin", &pattern(len));
    let srv = {
        let p = p.clone();
        start_basic(move |srv| {
            on(srv, "GET", "/shrink", move |_, resp| {
                assert_eq!(resp_send_file(resp, cpath(&p).as_ptr()), MR_OK);
                OpenOptions::new().write(true).open(&p).unwrap().set_len(cut).unwrap();
                MR_OK
            });
        })
    };
    let mut s = connect(srv.port);
    s.write_all(b"GET /shrink HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let (head, mut body) = read_head_and_some(&mut s, 0);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(content_length(&head), len as u64, "the length fixed at open");
    let t = Instant::now();
    body.extend(read_to_end(&mut s));
    assert!(t.elapsed() < SOON);
    assert_eq!(
        body.len() as u64,
        cut,
        "exactly the bytes still in the file, no padding"
    );
    assert_bytes(&body, &pattern(cut as usize), "the remaining bytes");
    assert_healthy(srv.port);
}

#[test]
fn a_file_that_shrinks_during_the_send_ends_the_connection_unpadded() {
    const LEN: u64 = 32 << 20;
    const CUT: usize = 1 << 20;
    let dir = TempDir::new("shrink-later");
    // 1 MiB of pattern, then a hole up to 32 MiB.
    let p = dir.write("shrink.bin", &pattern(CUT));
    OpenOptions::new().write(true).open(&p).unwrap().set_len(LEN).unwrap();
    let srv = file_server(&dir, None);
    let mut s = small_window_client(srv.port);
    s.write_all(b"GET /f/shrink.bin HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let (head, mut body) = read_head_and_some(&mut s, 16 * 1024);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_eq!(content_length(&head), LEN);
    // Slow reader: the server blocks on a full socket; then the file shrinks.
    thread::sleep(Duration::from_millis(300));
    OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(CUT as u64)
        .unwrap();
    let t = Instant::now();
    body.extend(read_to_end(&mut s));
    println!("got {} of {LEN} bytes after the cut in {:?}", body.len(), t.elapsed());
    assert!(t.elapsed() < SOON, "no hang");
    assert!((body.len() as u64) < LEN, "fewer bytes than Content-Length");
    // Whatever went out before the cut, then nothing: no padding.
    assert!(body.len() >= CUT, "the bytes that stayed were sent: {}", body.len());
    assert_bytes(&body[..CUT], &pattern(CUT), "the first MiB");
    assert!(body[CUT..].iter().all(|&b| b == 0), "bytes sent before the cut");
    assert_healthy(srv.port);
}

#[test]
fn a_client_that_goes_away_mid_file_leaves_the_server_healthy() {
    const LEN: u64 = 64 << 20;
    let dir = TempDir::new("gone");
    dir.sparse("huge.bin", LEN);
    let srv = file_server(&dir, None);
    for _ in 0..3 {
        let mut s = small_window_client(srv.port);
        s.write_all(b"GET /f/huge.bin HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let (head, _) = read_head_and_some(&mut s, 1024);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
        drop(s);
    }
    // The sends end at once (EPIPE/ECONNRESET), not at the write timeout.
    let t = Instant::now();
    assert_healthy(srv.port);
    assert!(t.elapsed() < SOON);
    let mut c = Client::new(srv.port);
    let r = c.roundtrip(b"GET /f/huge.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=0-9\r\n\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(r.body, [0u8; 10]);
}

#[test]
fn connection_close_and_http_1_0_end_after_the_file() {
    let dir = TempDir::new("close");
    let data = random_bytes(200_000, 9);
    dir.write("d.bin", &data);
    let srv = file_server(&dir, None);
    for (req, keep) in [
        ("GET /f/d.bin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false),
        ("GET /f/d.bin HTTP/1.0\r\n\r\n", false),
        ("GET /f/d.bin HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
    ] {
        let mut c = Client::new(srv.port);
        let r = c.roundtrip(req.as_bytes());
        let etag = etag_of(&r);
        let conn = if keep {
            "Connection: keep-alive\r\n"
        } else {
            "Connection: close\r\n"
        };
        let want = file_head(
            "200 OK",
            "application/octet-stream",
            &etag,
            MTIME_HTTP,
            "",
            data.len() as u64,
        )
        .replace("\r\n\r\n", &format!("\r\n{conn}\r\n"));
        assert_eq!(r.head_without_date(), want, "{req:?}");
        assert_bytes(&r.body, &data, req);
        if keep {
            assert_eq!(c.roundtrip(b"GET / HTTP/1.0\r\n\r\n").text(), "ok");
        } else {
            assert!(c.closed_within(SOON), "{req:?}: not closed after the body");
        }
    }
}
