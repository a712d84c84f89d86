//! `server_static` / `server_static_ex` over real sockets: CASES rows 93–98
//! (traversal, encoded separators, NUL, CR/LF, symbolic links, prefix
//! checks by component, special files, ranges), folders (slash redirects,
//! index.html, 403, listings), file answers (validators, HEAD, 304, 206,
//! 405), pre-compressed twins, the mount options and their validation.
//!
//! Every test builds its own fixture tree in a fresh temporary folder,
//! removed at the end. Requests are written raw on a `TcpStream`, so paths
//! reach the server exactly as written (`..` is not normalised). Every wait
//! is bounded by the harness's socket timeouts.
mod common;
use common::*;

use std::ffi::{c_int, c_uint};
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

// ---------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------

const INDEX: &str = "<!doctype html><title>home</title>INDEX PAGE\n";
const CSS: &str = "body { color: #123456; }\n";
const APP_JS: &[u8] = b"console.log('identity app.js');\n";
const APP_JS_GZ: &[u8] = b"\x1f\x8b\x08\x00GZIP-TWIN-OF-APP-JS\n";
const APP_JS_BR: &[u8] = b"BROTLI-TWIN-OF-APP-JS\n";
const PLAIN: &str = "0123456789abcdefghijklmnopqrstuvwxyz\n";
const A_HTML: &str = "<p>a.html</p>\n";
const SUB_X: &str = "SUB-X-CONTENT\n";
const SPECIAL_FILE: &str = "the special FILE\n";
/// Content of root/outside/secret.txt: must never be sent unless links are
/// followed.
const SECRET: &str = "TOP-SECRET-7f3a9c-OUTSIDE\n";
/// Content of root/www-evil/x (the sibling folder sharing the string prefix).
const EVIL: &str = "EVIL-SIBLING-CONTENT-51d2\n";

/// Names the listing must escape. A file name cannot hold '/', so the
/// script tag is written without its closing slash.
const XSS_NAME: &str = "<img src=x onerror=alert(1)>.txt";
const AMP_NAME: &str = "a&b \"q\".txt";
const APOS_NAME: &str = "it's.txt";
/// A folder whose name holds CR LF (CASES row 96: "where dir exists").
const CRLF_DIR: &str = "crlf\r\nSet-Cookie:x=1";

/// A fixed modification time: 2001-09-09T01:46:40Z.
const MTIME_SECS: u64 = 1_000_000_000;
const MTIME_HTTP: &str = "Sun, 09 Sep 2001 01:46:40 GMT";

/// root/
///   www/            (the mounted folder)
///     index.html, css/site.css, app.js (+ .gz, .br), plain.txt, a.html,
///     special, sub/ (no index: XSS_NAME, AMP_NAME, APOS_NAME, inner/, x),
///     my dir/, crlf\r\nSet-Cookie:x=1/, fifo (FIFO),
///     secret.txt -> root/outside/secret.txt, link-etc -> /etc,
///     evil-link -> root/www-evil, zero -> /dev/zero
///   outside/secret.txt
///   www-evil/x
struct Fixture {
    /// Removed on drop (remove_dir_all removes links, never what they
    /// point to).
    dir: TempDir,
}

impl Fixture {
    fn new(tag: &str) -> Self {
        let f = Fixture {
            dir: TempDir::new(&format!("static-{tag}")),
        };
        let www = f.www_path();
        for d in [
            "www",
            "www/css",
            "www/sub",
            "www/sub/inner",
            "www/my dir",
            "outside",
            "www-evil",
        ] {
            fs::create_dir_all(f.dir.0.join(d)).unwrap();
        }
        fs::create_dir(www.join(CRLF_DIR)).unwrap();
        f.write("www/index.html", INDEX.as_bytes());
        f.write("www/css/site.css", CSS.as_bytes());
        f.write("www/app.js", APP_JS);
        f.write("www/app.js.gz", APP_JS_GZ);
        f.write("www/app.js.br", APP_JS_BR);
        f.write("www/plain.txt", PLAIN.as_bytes());
        f.write("www/a.html", A_HTML.as_bytes());
        f.write("www/special", SPECIAL_FILE.as_bytes());
        f.write("www/sub/x", SUB_X.as_bytes());
        f.write("www/my dir/file.txt", b"in my dir\n");
        for name in [XSS_NAME, AMP_NAME, APOS_NAME] {
            fs::write(www.join("sub").join(name), b"tricky\n").unwrap();
        }
        f.write("outside/secret.txt", SECRET.as_bytes());
        f.write("www-evil/x", EVIL.as_bytes());
        symlink(f.dir.0.join("outside/secret.txt"), www.join("secret.txt")).unwrap();
        symlink("/etc", www.join("link-etc")).unwrap();
        symlink(f.dir.0.join("www-evil"), www.join("evil-link")).unwrap();
        symlink("/dev/zero", www.join("zero")).unwrap();
        let st = std::process::Command::new("mkfifo")
            .arg(www.join("fifo"))
            .status()
            .expect("run mkfifo");
        assert!(st.success(), "mkfifo failed");
        f
    }

    /// Writes a file with the fixed modification time.
    fn write(&self, rel: &str, data: &[u8]) {
        let p = self.dir.0.join(rel);
        fs::write(&p, data).unwrap();
        let file = fs::OpenOptions::new().write(true).open(&p).unwrap();
        file.set_modified(UNIX_EPOCH + Duration::from_secs(MTIME_SECS)).unwrap();
    }

    fn www_path(&self) -> PathBuf {
        self.dir.0.join("www")
    }

    fn www(&self) -> String {
        self.www_path().to_str().unwrap().to_owned()
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// server_static_ex with Rust strings (None: NULL).
fn mount(srv: *mut mr_server, prefix: &str, dir: &str, flags: c_uint, cc: Option<&str>, spa: Option<&str>) -> c_int {
    let (p, d) = (cs(prefix), cs(dir));
    let cc = cc.map(cs);
    let spa = spa.map(cs);
    server_static_ex(
        srv,
        p.as_ptr(),
        d.as_ptr(),
        flags,
        cc.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
        spa.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
    )
}

/// Asserts a mount call succeeded, with the library's message if not.
fn mount_ok(srv: *mut mr_server, prefix: &str, dir: &str, flags: c_uint, cc: Option<&str>, spa: Option<&str>) {
    let rc = mount(srv, prefix, dir, flags, cc, spa);
    assert_eq!(
        rc,
        MR_OK,
        "server_static_ex({prefix:?}): {}",
        from_c(mr_last_error()).unwrap_or_default()
    );
}

/// A server with `GET /` → "ok" (for assert_healthy) and `dir` at /static.
fn start_static(dir: &str, flags: c_uint, cc: Option<&str>, spa: Option<&str>) -> Running {
    let dir = dir.to_owned();
    let cc = cc.map(str::to_owned);
    let spa = spa.map(str::to_owned);
    start_basic(move |srv| mount_ok(srv, "/static", &dir, flags, cc.as_deref(), spa.as_deref()))
}

/// `GET path` (raw, exactly as given) with extra header lines, on a fresh
/// connection closed afterwards.
fn get_with(port: u16, path: &str, extra: &str) -> Resp {
    let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\n{extra}Connection: close\r\n\r\n");
    roundtrip(port, req.as_bytes())
}

fn get(port: u16, path: &str) -> Resp {
    get_with(port, path, "")
}

/// The bytes of a raw request for `path` as written.
fn raw_get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").into_bytes()
}

/// IMF-fixdate of Unix seconds (days-from-civil inverse, H. Hinnant).
fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let weekday = DAYS[((days + 4) % 7) as usize];
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
        "{weekday}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A strong entity tag: `"..."` with visible characters, not `W/`.
fn assert_strong_etag(etag: &str) {
    assert!(
        etag.len() > 2
            && etag.starts_with('"')
            && etag.ends_with('"')
            && etag[1..etag.len() - 1]
                .bytes()
                .all(|b| (0x23..=0x7e).contains(&b) || b == 0x21),
        "not a strong entity tag: {etag:?}"
    );
}

/// Nothing that must stay hidden leaked into `r`, and no header was
/// smuggled in.
fn assert_no_leak(r: &Resp, what: &str) {
    if let Some(leak) = leak_in(r) {
        panic!("{what}: {leak}: {r:?}");
    }
}

/// What leaked into `r` (hidden content in the body, a smuggled header),
/// if anything.
fn leak_in(r: &Resp) -> Option<String> {
    let body = r.text();
    for needle in [SECRET.trim_end(), EVIL.trim_end(), "root:x:0:0", "SUB-X-CONTENT"] {
        if body.contains(needle) {
            return Some(format!("body leaks {needle:?}"));
        }
    }
    if r.header("set-cookie").is_some() {
        return Some("a Set-Cookie was smuggled in".into());
    }
    if r.headers
        .iter()
        .any(|(n, v)| n.contains(['\r', '\n']) || v.contains(['\r', '\n']))
    {
        return Some("CR/LF in a header".into());
    }
    None
}

/// An exact library error page: status line, text/plain, "<code> <reason>\n".
fn assert_error_page(r: &Resp, status: u16, reason: &str, what: &str) {
    assert_eq!((r.status, r.reason.as_str()), (status, reason), "{what}: {r:?}");
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; charset=utf-8"),
        "{what}: {r:?}"
    );
    assert_eq!(r.text(), format!("{status} {reason}\n"), "{what}");
}

fn reason_of(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        other => panic!("no reason for {other}"),
    }
}

/// Sends `path` whole and byte by byte; both must get `status` with the
/// library's exact error page, nothing leaked; the server stays healthy.
fn check_refused(port: u16, path: &str, status: u16) {
    let raw = raw_get(path);
    for (how, r) in [
        ("whole", roundtrip(port, &raw)),
        ("bytewise", roundtrip_bytewise(port, &raw)),
    ] {
        let what = format!("GET {path:?} ({how})");
        assert_error_page(&r, status, reason_of(status), &what);
        assert_no_leak(&r, &what);
        assert_healthy(port);
    }
}

// ---------------------------------------------------------------------------
// 1. Rows 93–97: what is opened stays inside the folder
// ---------------------------------------------------------------------------

/// (raw path, exact status). 400: the parser refuses the target (invalid
/// escape, raw backslash) or the mount refuses a segment (`.`/`..`, encoded
/// '/', '\' or NUL); 404: no such file inside the folder, or a link out of
/// it; 403: a special file.
const TRAVERSAL: &[(&str, u16)] = &[
    // Row 93.
    ("/static/../../etc/passwd", 400),
    ("/static/..%2f..%2fetc/passwd", 400),
    ("/static/.%2e/.%2e/etc/passwd", 400),
    ("/static/%2e%2e/%2e%2e/etc/passwd", 400),
    ("/static/%2E%2E/%2E%2E/etc/passwd", 400),
    ("/static/%%32%65%%32%65/", 400),
    ("/static/%252e%252e/etc", 404),
    ("/static/%252e%252e%252fetc%252fpasswd", 404),
    ("/static/..\\..\\", 400),
    ("/static/%c0%ae%c0%ae/x", 404),
    ("/static/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", 404),
    ("/static/sub/../../outside/secret.txt", 400),
    ("/static/sub/%2e%2e/%2e%2e/outside/secret.txt", 400),
    ("/static/./index.html", 400),
    ("/static/%2e/index.html", 400),
    ("/static/sub/..", 400),
    ("/static/%2Fetc%2Fpasswd", 400),
    ("/static//etc/passwd", 404),
    // Row 94: the sibling folder sharing the string prefix, and links out.
    ("/static/%2e%2e/www-evil/x", 400),
    ("/static/..%2fwww-evil%2fx", 400),
    ("/static/evil-link/x", 404),
    ("/static/evil-link/", 404),
    ("/static/link-etc/passwd", 404),
    ("/static/link-etc", 404),
    ("/static/link-etc/", 404),
    ("/static/secret.txt", 404),
    // Row 95: NUL, and the other encoded separators.
    ("/static/a.html%00.txt", 400),
    ("/static/a.html%00", 400),
    ("/static/sub%2fx", 400),
    ("/static/sub%2Fx", 400),
    ("/static/sub%5cx", 400),
    ("/static/sub%5Cx", 400),
    // Row 96: a path with CR/LF that names nothing.
    ("/static/sub%0d%0aSet-Cookie:x=1", 404),
    ("/static/sub/x%0d%0aSet-Cookie:x=1", 404),
    // Row 97: only regular files (a FIFO inside; /dev/zero by a link out).
    ("/static/fifo", 403),
    ("/static/zero", 404),
    // Not under the mount at all (prefix compared by segment).
    ("/static-evil/x", 404),
    ("/staticx", 404),
];

#[test]
fn traversal_table_whole_and_bytewise() {
    let fx = Fixture::new("traversal");
    let srv = start_static(&fx.www(), 0, None, None);
    for &(path, status) in TRAVERSAL {
        check_refused(srv.port, path, status);
    }
    // The files those paths aimed at are really there (the test is not
    // vacuous): sub/x is served when asked properly.
    let r = get(srv.port, "/static/sub/x");
    assert_eq!((r.status, r.text().as_str()), (200, SUB_X));
}

#[test]
fn row_96_crlf_in_an_existing_folder_name_redirects_percent_encoded() {
    let fx = Fixture::new("crlf");
    let srv = start_static(&fx.www(), 0, None, None);
    for path in ["/static/crlf%0d%0aSet-Cookie:x=1", "/static/crlf%0D%0ASet-Cookie:x=1"] {
        let raw = raw_get(path);
        for (how, r) in [
            ("whole", roundtrip(srv.port, &raw)),
            ("bytewise", roundtrip_bytewise(srv.port, &raw)),
        ] {
            let what = format!("GET {path:?} ({how})");
            assert_eq!(
                (r.status, r.reason.as_str()),
                (301, "Moved Permanently"),
                "{what}: {r:?}"
            );
            assert_eq!(r.header("location"), Some(format!("{path}/").as_str()), "{what}");
            assert_no_leak(&r, &what);
            assert!(!r.raw_head.contains("\r\nSet-Cookie"), "{what}: {:?}", r.raw_head);
        }
    }
    // And the slash form of it is a folder without index: 403.
    let r = get(srv.port, "/static/crlf%0d%0aSet-Cookie:x=1/");
    assert_error_page(&r, 403, "Forbidden", "crlf folder");
    assert_no_leak(&r, "crlf folder");
    assert_healthy(srv.port);
}

#[test]
fn the_fifo_does_not_block_a_worker() {
    let fx = Fixture::new("fifo");
    let srv = start_basic(|s| {
        // One worker: a blocked open would stall everything after it.
        assert_eq!(server_set_workers(s, 1), MR_OK);
        mount_ok(s, "/static", &fx.www(), 0, None, None);
    });
    for _ in 0..3 {
        let r = get(srv.port, "/static/fifo");
        assert_error_page(&r, 403, "Forbidden", "fifo");
        let r = roundtrip(
            srv.port,
            b"HEAD /static/fifo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(r.status, 403, "HEAD fifo: {r:?}");
    }
    assert_healthy(srv.port);
}

/// CASES row 93 as written, with the folder mounted at "/".
#[test]
fn traversal_with_a_mount_at_the_root() {
    let fx = Fixture::new("rootmount");
    let srv = start(|s| mount_ok(s, "/", &fx.www(), 0, None, None));
    let table: &[(&str, u16)] = &[
        ("/../../etc/passwd", 400),
        ("/..%2f..%2fetc/passwd", 400),
        ("/.%2e/.%2e/etc/passwd", 400),
        ("/%%32%65%%32%65/", 400),
        ("/%252e%252e/", 404),
        ("/..\\..\\", 400),
        ("/%c0%ae%c0%ae/", 404),
        ("/link-etc/passwd", 404),
        ("/secret.txt", 404),
        ("/evil-link/x", 404),
        ("/a.html%00.txt", 400),
        ("/sub%0d%0aSet-Cookie:x=1", 404),
        ("/fifo", 403),
        ("//etc/passwd", 404),
    ];
    for &(path, status) in table {
        let raw = raw_get(path);
        for (how, r) in [
            ("whole", roundtrip(srv.port, &raw)),
            ("bytewise", roundtrip_bytewise(srv.port, &raw)),
        ] {
            let what = format!("GET {path:?} ({how}) at /");
            assert_error_page(&r, status, reason_of(status), &what);
            assert_no_leak(&r, &what);
        }
    }
    // The mount at "/" serves the root.
    let r = get(srv.port, "/");
    assert_eq!((r.status, r.text().as_str()), (200, INDEX), "{r:?}");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let r = get(srv.port, "/css/site.css");
    assert_eq!((r.status, r.text().as_str()), (200, CSS), "{r:?}");
    let r = get(srv.port, "/sub?a=1");
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(r.header("location"), Some("/sub/?a=1"));
    let r = get(srv.port, "/nope");
    assert_error_page(&r, 404, "Not Found", "/nope at /");
}

// ---------------------------------------------------------------------------
// 2. Folders
// ---------------------------------------------------------------------------

#[test]
fn folders_redirect_index_and_403() {
    let fx = Fixture::new("folders");
    let srv = start_static(&fx.www(), 0, None, None);
    let p = srv.port;

    let redirects: &[(&str, &str)] = &[
        ("/static", "/static/"),
        ("/static?x=1", "/static/?x=1"),
        ("/static/sub", "/static/sub/"),
        ("/static/sub?a=1&b=%20", "/static/sub/?a=1&b=%20"),
        ("/static/sub/inner", "/static/sub/inner/"),
        ("/static/my%20dir", "/static/my%20dir/"),
        ("/static/css", "/static/css/"),
    ];
    for &(path, location) in redirects {
        let r = get(p, path);
        assert_eq!(
            (r.status, r.reason.as_str(), r.header("location")),
            (301, "Moved Permanently", Some(location)),
            "GET {path}: {r:?}"
        );
        // HEAD gets the same redirect.
        let head = format!("HEAD {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let r = roundtrip(p, head.as_bytes());
        assert_eq!(
            (r.status, r.header("location")),
            (301, Some(location)),
            "HEAD {path}: {r:?}"
        );
    }

    // The folder itself: index.html, exactly.
    for path in ["/static/", "/static/index.html"] {
        let r = get(p, path);
        assert_eq!((r.status, r.reason.as_str()), (200, "OK"), "{path}: {r:?}");
        assert_eq!(r.text(), INDEX, "{path}");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"), "{path}");
        assert_eq!(r.header("content-length"), Some(INDEX.len().to_string().as_str()));
        assert_eq!(r.header("last-modified"), Some(MTIME_HTTP));
    }

    // Folders without index.html: 403, no listing.
    for path in [
        "/static/sub/",
        "/static/sub/inner/",
        "/static/my%20dir/",
        "/static/css/",
    ] {
        let r = get(p, path);
        assert_error_page(&r, 403, "Forbidden", path);
        assert!(!r.text().contains("x"), "{path}: {r:?}");
    }
    assert_healthy(p);
}

#[test]
fn listing_escapes_names_and_links() {
    let fx = Fixture::new("listing");
    let srv = start_static(&fx.www(), MR_STATIC_LISTING, None, None);
    let r = get(srv.port, "/static/sub/");
    assert_eq!((r.status, r.reason.as_str()), (200, "OK"), "{r:?}");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let body = r.text();
    let expected_lines = [
        "<li><a href=\"%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt\">&lt;img src=x onerror=alert(1)&gt;.txt</a></li>",
        "<li><a href=\"a%26b%20%22q%22.txt\">a&amp;b &quot;q&quot;.txt</a></li>",
        "<li><a href=\"inner/\">inner/</a></li>",
        "<li><a href=\"it%27s.txt\">it&#39;s.txt</a></li>",
        "<li><a href=\"x\">x</a></li>",
    ];
    for line in expected_lines {
        assert!(body.lines().any(|l| l == line), "missing {line:?} in:\n{body}");
    }
    assert_eq!(
        body,
        format!(
            "<!doctype html>\n<title>Index of /static/sub/</title>\n<h1>Index of /static/sub/</h1>\n<ul>\n{}\n</ul>\n",
            expected_lines.join("\n")
        )
    );
    // Nothing raw made it through.
    assert!(!body.contains("<img"), "{body}");
    assert!(!body.contains("a&b"), "{body}");
    assert_eq!(r.header("content-length"), Some(body.len().to_string().as_str()));

    // A folder with index.html still gets its index, not a listing.
    let r = get(srv.port, "/static/");
    assert_eq!((r.status, r.text().as_str()), (200, INDEX));

    // The listing of a link out of the folder is not given.
    let r = get(srv.port, "/static/link-etc/");
    assert_error_page(&r, 404, "Not Found", "listing link-etc");
    assert_no_leak(&r, "listing link-etc");
    // Traversal is still refused with listings on.
    check_refused(srv.port, "/static/sub/../../", 400);
    check_refused(srv.port, "/static/%2e%2e/", 400);

    // An empty folder lists nothing; the title carries the encoded path.
    let r = get(srv.port, "/static/sub/inner/");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.text(),
        "<!doctype html>\n<title>Index of /static/sub/inner/</title>\n<h1>Index of /static/sub/inner/</h1>\n<ul>\n</ul>\n"
    );
    let r = get(srv.port, "/static/my%20dir/");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text().contains("<title>Index of /static/my%20dir/</title>"), "{r:?}");
    assert!(r.text().contains("<li><a href=\"file.txt\">file.txt</a></li>"), "{r:?}");
    assert_healthy(srv.port);
}

// ---------------------------------------------------------------------------
// 3. Files
// ---------------------------------------------------------------------------

#[test]
fn file_head_validators_head_304_range_405() {
    let fx = Fixture::new("files");
    let srv = start_static(&fx.www(), 0, None, None);
    let p = srv.port;

    let r = get(p, "/static/css/site.css");
    assert_eq!((r.status, r.reason.as_str()), (200, "OK"), "{r:?}");
    assert_eq!(r.text(), CSS);
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(r.header("content-length"), Some(CSS.len().to_string().as_str()));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("last-modified"), Some(MTIME_HTTP));
    let mtime = fs::metadata(fx.www_path().join("css/site.css")).unwrap().mtime() as u64;
    assert_eq!(http_date(mtime), MTIME_HTTP);
    let etag = r.header("etag").expect("an ETag").to_owned();
    assert_strong_etag(&etag);
    assert!(r.header("vary").is_none(), "no twins, no Vary: {r:?}");
    assert!(r.header("content-encoding").is_none(), "{r:?}");
    assert!(r.header("cache-control").is_none(), "{r:?}");
    for name in [
        "content-type",
        "etag",
        "last-modified",
        "accept-ranges",
        "content-length",
    ] {
        assert_eq!(r.headers_named(name).len(), 1, "{name} once: {r:?}");
    }
    // The same file gets the same tag; another file another.
    assert_eq!(get(p, "/static/css/site.css").header("etag"), Some(etag.as_str()));
    let other = get(p, "/static/plain.txt");
    assert_ne!(other.header("etag"), Some(etag.as_str()));

    // Keep-alive connection: HEAD (headers only), then GET, then 304s.
    let mut c = Client::new(p);
    let h = c.roundtrip(b"HEAD /static/css/site.css HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(h.status, 200, "{h:?}");
    assert!(h.body.is_empty());
    for name in [
        "content-type",
        "content-length",
        "etag",
        "last-modified",
        "accept-ranges",
    ] {
        assert_eq!(h.header(name), r.header(name), "HEAD {name}");
    }
    let g = c.roundtrip(b"GET /static/css/site.css HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        (g.status, g.text().as_str()),
        (200, CSS),
        "no stray body bytes after HEAD"
    );

    let inm = format!("GET /static/css/site.css HTTP/1.1\r\nHost: a\r\nIf-None-Match: {etag}\r\n\r\n");
    let nm = c.roundtrip(inm.as_bytes());
    assert_eq!((nm.status, nm.reason.as_str()), (304, "Not Modified"), "{nm:?}");
    assert_eq!(nm.header("etag"), Some(etag.as_str()));
    assert!(nm.body.is_empty());
    let inm = format!("GET /static/css/site.css HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"nope\", W/{etag}\r\n\r\n");
    assert_eq!(c.roundtrip(inm.as_bytes()).status, 304);
    let ims = format!("GET /static/css/site.css HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: {MTIME_HTTP}\r\n\r\n");
    assert_eq!(c.roundtrip(ims.as_bytes()).status, 304);
    let stale = c.roundtrip(b"GET /static/css/site.css HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"other\"\r\n\r\n");
    assert_eq!((stale.status, stale.text().as_str()), (200, CSS));
    // Still in step after all of that.
    let g = c.roundtrip(b"GET /static/plain.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!((g.status, g.text().as_str()), (200, PLAIN));

    // Range → 206 with Content-Range.
    let len = PLAIN.len();
    let r = get_with(p, "/static/plain.txt", "Range: bytes=2-5\r\n");
    assert_eq!((r.status, r.reason.as_str()), (206, "Partial Content"), "{r:?}");
    assert_eq!(r.text(), &PLAIN[2..=5]);
    assert_eq!(r.header("content-range"), Some(format!("bytes 2-5/{len}").as_str()));
    assert_eq!(r.header("content-length"), Some("4"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let r = get_with(p, "/static/plain.txt", "Range: bytes=-3\r\n");
    assert_eq!((r.status, r.text().as_str()), (206, &PLAIN[len - 3..]));
    let r = get_with(p, "/static/plain.txt", "Range: bytes=30-\r\n");
    assert_eq!((r.status, r.text().as_str()), (206, &PLAIN[30..]));
    // If-Range with the current tag keeps the range; a stale one does not.
    let tag = get(p, "/static/plain.txt").header("etag").unwrap().to_owned();
    let r = get_with(
        p,
        "/static/plain.txt",
        &format!("Range: bytes=0-1\r\nIf-Range: {tag}\r\n"),
    );
    assert_eq!((r.status, r.text().as_str()), (206, "01"));
    let r = get_with(p, "/static/plain.txt", "Range: bytes=0-1\r\nIf-Range: \"stale\"\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, PLAIN));

    // 405 for other methods, with Allow.
    for req in [
        &b"POST /static/x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"[..],
        b"POST /static/css/site.css HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
        b"DELETE /static/index.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        b"POST /static HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ] {
        let r = roundtrip(p, req);
        assert_eq!(
            (r.status, r.reason.as_str()),
            (405, "Method Not Allowed"),
            "{:?}: {r:?}",
            String::from_utf8_lossy(req)
        );
        assert_eq!(r.header("allow"), Some("GET, HEAD"), "{r:?}");
    }
    assert_healthy(p);
}

/// CASES row 98 on a static file.
#[test]
fn row_98_ranges_on_a_static_file() {
    let fx = Fixture::new("ranges");
    let srv = start_static(&fx.www(), 0, None, None);
    let len = PLAIN.len();
    let many = format!("Range: bytes={}\r\n", vec!["0-0"; 1000].join(","));
    let r = get_with(srv.port, "/static/plain.txt", &many);
    assert_eq!((r.status, r.text().as_str()), (200, PLAIN), "1000 ranges: whole file");
    assert!(r.header("content-range").is_none());
    let r = get_with(srv.port, "/static/plain.txt", "Range: bytes=99999999999999999999-\r\n");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (416, "Range Not Satisfiable"),
        "overflow: {r:?}"
    );
    assert_eq!(r.header("content-range"), Some(format!("bytes */{len}").as_str()));
    let r = get_with(srv.port, "/static/plain.txt", "Range: bytes=5-2\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, PLAIN), "invalid range ignored");
    let r = get_with(srv.port, "/static/plain.txt", &format!("Range: bytes={len}-\r\n"));
    assert_eq!(r.status, 416, "{r:?}");
    assert_healthy(srv.port);
}

// ---------------------------------------------------------------------------
// 4. Pre-compressed twins
// ---------------------------------------------------------------------------

#[test]
fn precompressed_twins() {
    let fx = Fixture::new("twins");
    let srv = start_static(&fx.www(), 0, None, None);
    let p = srv.port;
    const JS: &str = "text/javascript; charset=utf-8";

    let cases: &[(&str, &[u8], Option<&str>)] = &[
        ("Accept-Encoding: gzip\r\n", APP_JS_GZ, Some("gzip")),
        ("Accept-Encoding: gzip, br\r\n", APP_JS_BR, Some("br")),
        ("Accept-Encoding: br\r\n", APP_JS_BR, Some("br")),
        ("Accept-Encoding: br;q=0, gzip\r\n", APP_JS_GZ, Some("gzip")),
        ("Accept-Encoding: br;q=0.0, gzip;q=0.5\r\n", APP_JS_GZ, Some("gzip")),
        ("Accept-Encoding: br;q=0, gzip;q=0\r\n", APP_JS, None),
        ("Accept-Encoding: GZIP\r\n", APP_JS_GZ, Some("gzip")),
        ("Accept-Encoding: identity\r\n", APP_JS, None),
        ("Accept-Encoding: deflate\r\n", APP_JS, None),
        ("", APP_JS, None),
    ];
    let mut tags = Vec::new();
    for &(extra, body, coding) in cases {
        let r = get_with(p, "/static/app.js", extra);
        let what = format!("{extra:?}: {r:?}");
        assert_eq!(r.status, 200, "{what}");
        assert_eq!(r.body, body, "{what}");
        assert_eq!(r.header("content-encoding"), coding, "{what}");
        assert_eq!(r.header("content-type"), Some(JS), "{what}");
        assert_eq!(r.headers_named("content-type").len(), 1, "{what}");
        assert_eq!(r.headers_named("vary"), vec!["Accept-Encoding"], "{what}");
        assert_eq!(
            r.header("content-length"),
            Some(body.len().to_string().as_str()),
            "{what}"
        );
        tags.push((coding, r.header("etag").unwrap().to_owned()));
    }
    // Each representation has its own strong tag.
    let tag_of = |c: Option<&str>| tags.iter().find(|(x, _)| *x == c).unwrap().1.clone();
    let (t_id, t_gz, t_br) = (tag_of(None), tag_of(Some("gzip")), tag_of(Some("br")));
    assert!(t_id != t_gz && t_gz != t_br && t_id != t_br, "{tags:?}");

    // HEAD and 304 of a twin keep its headers.
    let r = roundtrip(
        p,
        b"HEAD /static/app.js HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((r.status, r.header("content-encoding")), (200, Some("gzip")), "{r:?}");
    assert_eq!(r.header("content-length"), Some(APP_JS_GZ.len().to_string().as_str()));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert!(r.body.is_empty());
    let r = get_with(
        p,
        "/static/app.js",
        &format!("Accept-Encoding: gzip\r\nIf-None-Match: {t_gz}\r\n"),
    );
    assert_eq!(r.status, 304, "{r:?}");
    assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{r:?}");
    assert_eq!(r.header("etag"), Some(t_gz.as_str()));

    // A file without twins: no Vary, whatever is accepted.
    let r = get_with(p, "/static/css/site.css", "Accept-Encoding: gzip, br\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, CSS));
    assert!(
        r.header("vary").is_none() && r.header("content-encoding").is_none(),
        "{r:?}"
    );
    // The twins themselves are ordinary files when asked by name.
    let r = get(p, "/static/app.js.gz");
    assert_eq!((r.status, r.body.as_slice()), (200, APP_JS_GZ));
    assert!(r.header("content-encoding").is_none(), "{r:?}");
    assert_healthy(p);

    // MR_STATIC_NO_PRECOMPRESSED: identity, no Vary.
    let srv2 = start_static(&fx.www(), MR_STATIC_NO_PRECOMPRESSED, None, None);
    for extra in ["Accept-Encoding: gzip, br\r\n", "Accept-Encoding: br\r\n", ""] {
        let r = get_with(srv2.port, "/static/app.js", extra);
        assert_eq!((r.status, r.body.as_slice()), (200, APP_JS), "{extra:?}: {r:?}");
        assert!(r.header("content-encoding").is_none(), "{r:?}");
        assert!(r.header("vary").is_none(), "{r:?}");
        assert_eq!(r.header("content-type"), Some(JS));
    }
}

// ---------------------------------------------------------------------------
// 5. server_static_ex options and validation
// ---------------------------------------------------------------------------

#[test]
fn cache_control_on_file_answers() {
    let fx = Fixture::new("cache");
    let srv = start_static(&fx.www(), 0, Some("public, max-age=60"), None);
    let p = srv.port;
    for (path, extra) in [
        ("/static/css/site.css", ""),
        ("/static/", ""),
        ("/static/app.js", "Accept-Encoding: gzip\r\n"),
        ("/static/plain.txt", "Range: bytes=0-0\r\n"),
    ] {
        let r = get_with(p, path, extra);
        assert!(r.status == 200 || r.status == 206, "{path}: {r:?}");
        assert_eq!(
            r.headers_named("cache-control"),
            vec!["public, max-age=60"],
            "{path}: {r:?}"
        );
    }
    let tag = get(p, "/static/css/site.css").header("etag").unwrap().to_owned();
    let r = get_with(p, "/static/css/site.css", &format!("If-None-Match: {tag}\r\n"));
    assert_eq!(r.status, 304);
    assert_eq!(r.header("cache-control"), Some("public, max-age=60"), "304: {r:?}");
}

#[test]
fn spa_fallback_answers_unknown_paths_with_the_file() {
    let fx = Fixture::new("spa");
    let srv = start_static(&fx.www(), 0, None, Some("index.html"));
    let p = srv.port;
    for path in [
        "/static/nope",
        "/static/app/route/42",
        "/static/nope/",
        "/static/%252e%252e",
    ] {
        let r = get(p, path);
        assert_eq!((r.status, r.text().as_str()), (200, INDEX), "{path}: {r:?}");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"), "{path}");
    }
    // Existing files are still themselves; refused paths still refused;
    // links out are not an excuse to leak.
    let r = get(p, "/static/css/site.css");
    assert_eq!((r.status, r.text().as_str()), (200, CSS));
    check_refused(p, "/static/../../etc/passwd", 400);
    check_refused(p, "/static/a.html%00.txt", 400);
    check_refused(p, "/static/fifo", 403);
    let r = get(p, "/static/secret.txt");
    assert_no_leak(&r, "spa secret.txt");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, INDEX),
        "a link out is 'not there': {r:?}"
    );
    // Not under the mount: not the fallback.
    let r = get(p, "/static-evil/x");
    assert_eq!(r.status, 404);
    assert_healthy(p);
}

/// (url_prefix, dir, flags, cache_control, spa_fallback, expected code).
type MountCase<'a> = (&'a str, &'a str, c_uint, Option<&'a str>, Option<&'a str>, c_int);

#[test]
fn option_and_argument_validation() {
    let fx = Fixture::new("validation");
    let www = fx.www();
    let file = fx.www_path().join("index.html");
    let file = file.to_str().unwrap();
    let missing = fx.dir.join("does-not-exist");
    let missing = missing.to_str().unwrap();

    let srv = server_new();
    assert!(!srv.is_null());
    let cases: &[MountCase] = &[
        ("/s1", &www, 8, None, None, MR_EINVAL),
        ("/s1", &www, 0xffff_fff8, None, None, MR_EINVAL),
        ("/s1", &www, 0, Some("public\r\nX-Evil: 1"), None, MR_EINVAL),
        ("/s1", &www, 0, Some("public\n"), None, MR_EINVAL),
        ("/s1", &www, 0, Some("a\rb"), None, MR_EINVAL),
        ("/s1", &www, 0, Some(""), None, MR_EINVAL),
        ("/s1", &www, 0, None, Some("../x"), MR_EINVAL),
        ("/s1", &www, 0, None, Some("/abs"), MR_EINVAL),
        ("/s1", &www, 0, None, Some(""), MR_EINVAL),
        ("/s1", &www, 0, None, Some("a/../index.html"), MR_EINVAL),
        ("/s1", &www, 0, None, Some("./index.html"), MR_EINVAL),
        ("/s1", &www, 0, None, Some("a//b"), MR_EINVAL),
        ("/s1", missing, 0, None, None, MR_ENOTFOUND),
        ("/s1", file, 0, None, None, MR_ENOTFOUND),
        ("/s1", "", 0, None, None, MR_ENOTFOUND),
        ("static", &www, 0, None, None, MR_EINVAL),
        ("", &www, 0, None, None, MR_EINVAL),
        ("/a/../b", &www, 0, None, None, MR_EINVAL),
        ("/..", &www, 0, None, None, MR_EINVAL),
        ("/./x", &www, 0, None, None, MR_EINVAL),
        ("/{x}", &www, 0, None, None, MR_EINVAL),
        ("/a/{x...}", &www, 0, None, None, MR_EINVAL),
        ("/a%20b", &www, 0, None, None, MR_EINVAL),
        ("/a?b", &www, 0, None, None, MR_EINVAL),
        ("/a#b", &www, 0, None, None, MR_EINVAL),
        ("/a b", &www, 0, None, None, MR_EINVAL),
        ("/a\tb", &www, 0, None, None, MR_EINVAL),
    ];
    for &(prefix, dir, flags, cc, spa, want) in cases {
        let rc = mount(srv, prefix, dir, flags, cc, spa);
        assert_eq!(
            rc, want,
            "server_static_ex({prefix:?}, {dir:?}, {flags}, {cc:?}, {spa:?})"
        );
        assert!(
            !from_c(mr_last_error()).unwrap_or_default().is_empty(),
            "an error message for {prefix:?}"
        );
    }
    // NULL arguments.
    let (p, d) = (cs("/n"), cs(&www));
    assert_eq!(server_static(std::ptr::null_mut(), p.as_ptr(), d.as_ptr()), MR_EINVAL);
    assert_eq!(server_static(srv, std::ptr::null(), d.as_ptr()), MR_EINVAL);
    assert_eq!(server_static(srv, p.as_ptr(), std::ptr::null()), MR_EINVAL);
    let null = std::ptr::null();
    assert_eq!(
        server_static_ex(std::ptr::null_mut(), p.as_ptr(), d.as_ptr(), 0, null, null),
        MR_EINVAL
    );
    assert_eq!(server_static_ex(srv, null, d.as_ptr(), 0, null, null), MR_EINVAL);
    assert_eq!(server_static_ex(srv, p.as_ptr(), null, 0, null, null), MR_EINVAL);

    // Valid mounts: all flags at once, options, the same prefix twice
    // (also spelled with a trailing slash) refused.
    mount_ok(srv, "/ok", &www, 7, Some("no-cache"), Some("index.html"));
    assert_eq!(mount(srv, "/ok", &www, 0, None, None), MR_EINVAL, "same prefix twice");
    assert_eq!(
        mount(srv, "/ok/", &www, 0, None, None),
        MR_EINVAL,
        "same prefix, trailing slash"
    );
    assert_eq!(
        mount(srv, "//ok", &www, 0, None, None),
        MR_EINVAL,
        "same prefix, doubled slash"
    );
    // Routes that already cover the prefix.
    route(srv, "GET", "/taken/{rest...}", h_ok, std::ptr::null_mut());
    assert_eq!(mount(srv, "/taken", &www, 0, None, None), MR_EINVAL);
    route(srv, "GET", "/exact", h_ok, std::ptr::null_mut());
    assert_eq!(mount(srv, "/exact", &www, 0, None, None), MR_EINVAL);
    // A failed mount added nothing: the rest route is still free.
    route(srv, "GET", "/exact/{rest...}", h_ok, std::ptr::null_mut());
    // Nested prefixes are distinct mounts.
    mount_ok(srv, "/ok/deeper", &www, 0, None, None);

    assert_eq!(server_listen(srv, cs("127.0.0.1:0").as_ptr()), MR_OK);
    assert_eq!(server_start(srv), MR_OK);
    assert_eq!(mount(srv, "/late", &www, 0, None, None), MR_ESTATE, "after start");
    assert_eq!(server_static(srv, cs("/late2").as_ptr(), cs(&www).as_ptr()), MR_ESTATE);
    let port = server_port(srv, 0) as u16;
    let r = get(port, "/late/index.html");
    assert_eq!(r.status, 404, "the refused mount serves nothing: {r:?}");
    let r = get(port, "/ok/deeper/css/site.css");
    assert_eq!((r.status, r.text().as_str()), (200, CSS), "{r:?}");
    let r = get(port, "/ok/css/site.css");
    assert_eq!((r.status, r.header("cache-control")), (200, Some("no-cache")), "{r:?}");
    server_free(srv);
}

#[test]
fn user_routes_under_the_prefix_keep_priority() {
    let fx = Fixture::new("priority");
    let www = fx.www();
    let srv = start_basic(|s| {
        on(s, "GET", "/static/special", |_req, resp| {
            resp_set_text(resp, c"special ROUTE".as_ptr())
        });
        mount_ok(s, "/static", &www, 0, None, None);
        // Registered after the mount, still first.
        on(s, "GET", "/static/sub/x", |_req, resp| {
            resp_set_text(resp, c"sub/x ROUTE".as_ptr())
        });
        on(s, "POST", "/static/upload", |_req, resp| {
            resp_set_text(resp, c"upload ROUTE".as_ptr())
        });
    });
    let p = srv.port;
    assert_eq!(get(p, "/static/special").text(), "special ROUTE");
    assert_eq!(get(p, "/static/sub/x").text(), "sub/x ROUTE");
    let r = roundtrip(
        p,
        b"POST /static/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((r.status, r.text().as_str()), (200, "upload ROUTE"));
    // Everything else is still the folder.
    let r = get(p, "/static/css/site.css");
    assert_eq!((r.status, r.text().as_str()), (200, CSS));
    assert_healthy(p);
}

// ---------------------------------------------------------------------------
// 6. MR_STATIC_FOLLOW_SYMLINKS
// ---------------------------------------------------------------------------

#[test]
fn follow_symlinks_serves_links_out_but_nothing_else() {
    let fx = Fixture::new("follow");
    let srv = start_static(&fx.www(), MR_STATIC_FOLLOW_SYMLINKS, None, None);
    let p = srv.port;
    let r = get(p, "/static/secret.txt");
    assert_eq!((r.status, r.text().as_str()), (200, SECRET), "{r:?}");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let r = get(p, "/static/evil-link/x");
    assert_eq!((r.status, r.text().as_str()), (200, EVIL), "{r:?}");
    // Dot segments and encoded separators are still refused, and special
    // files still are not sent.
    check_refused(p, "/static/../outside/secret.txt", 400);
    check_refused(p, "/static/%2e%2e/www-evil/x", 400);
    check_refused(p, "/static/evil-link%2fx", 400);
    check_refused(p, "/static/fifo", 403);
    check_refused(p, "/static/zero", 403);
    assert_healthy(p);
}

// ---------------------------------------------------------------------------
// 7. Pipelining
// ---------------------------------------------------------------------------

#[test]
fn pipelined_static_requests_answer_in_order() {
    let fx = Fixture::new("pipeline");
    let srv = start_static(&fx.www(), 0, None, None);
    let mut c = Client::new(srv.port);
    c.send(
        b"GET /static/css/site.css HTTP/1.1\r\nHost: a\r\n\r\n\
GET /static/app.js HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n\
GET /static/sub HTTP/1.1\r\nHost: a\r\n\r\n\
HEAD /static/plain.txt HTTP/1.1\r\nHost: a\r\n\r\n\
GET /static/ HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    let r = c.response(false);
    assert_eq!((r.status, r.text().as_str()), (200, CSS), "{r:?}");
    let r = c.response(false);
    assert_eq!((r.status, r.body.as_slice()), (200, APP_JS_GZ), "{r:?}");
    let r = c.response(false);
    assert_eq!((r.status, r.header("location")), (301, Some("/static/sub/")), "{r:?}");
    let r = c.response(true);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-length"), Some(PLAIN.len().to_string().as_str()));
    let r = c.response(false);
    assert_eq!((r.status, r.text().as_str()), (200, INDEX), "{r:?}");
    // Nothing else follows; the connection is still usable.
    let r = c.roundtrip(b"GET /static/a.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, A_HTML));
    assert!(c.closed_within(Duration::from_secs(2)));

    // The same three, in one write, on refused paths too.
    let mut c = Client::new(srv.port);
    c.send(
        b"GET /static/%2e%2e/x HTTP/1.1\r\nHost: a\r\n\r\n\
GET /static/missing HTTP/1.1\r\nHost: a\r\n\r\n\
GET /static/css/site.css HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(c.response(false).status, 400);
    assert_eq!(c.response(false).status, 404);
    assert_eq!(c.response(false).text(), CSS);
}

// ---------------------------------------------------------------------------
// Links that stay inside the folder
// ---------------------------------------------------------------------------

/// Adds links that stay inside the folder: www/linked/index.html ->
/// www/v2/index.html, www/v2/real.js.gz -> www/v2/real.js.gz.data,
/// www/alias.css -> www/css/site.css; and links out used as an index:
/// www/index-out/index.html -> root/outside/secret.txt.
fn add_inside_links(fx: &Fixture) {
    let w = fx.www_path();
    for d in ["v2", "linked", "index-out"] {
        fs::create_dir(w.join(d)).unwrap();
    }
    fs::write(w.join("v2/index.html"), "V2 INDEX\n").unwrap();
    fs::write(w.join("v2/real.js"), "REAL JS identity\n").unwrap();
    fs::write(w.join("v2/real.js.gz.data"), "REAL JS GZ twin\n").unwrap();
    symlink(w.join("v2/real.js.gz.data"), w.join("v2/real.js.gz")).unwrap();
    symlink(w.join("v2/index.html"), w.join("linked/index.html")).unwrap();
    symlink(w.join("css/site.css"), w.join("alias.css")).unwrap();
    symlink(fx.dir.join("outside/secret.txt"), w.join("index-out/index.html")).unwrap();
}

/// A link whose target is inside the folder is an ordinary file of the
/// folder: only links *out* of it are refused (header: "compared with the
/// folder by path components after resolving symbolic links (a link out of
/// the folder gives 404)").
#[test]
fn links_inside_the_folder_are_served() {
    let fx = Fixture::new("inlinks");
    add_inside_links(&fx);
    let srv = start_static(&fx.www(), 0, None, None);
    let p = srv.port;

    // A linked file asked by name.
    let r = get(p, "/static/alias.css");
    assert_eq!((r.status, r.text().as_str()), (200, CSS), "alias.css: {r:?}");
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    let r = get(p, "/static/linked/index.html");
    assert_eq!((r.status, r.text().as_str()), (200, "V2 INDEX\n"), "{r:?}");

    assert_healthy(p);
}

/// A folder's index.html that links inside the folder.
#[test]
fn a_folder_index_may_be_a_link_inside_the_folder() {
    let fx = Fixture::new("indexlink");
    add_inside_links(&fx);
    let srv = start_static(&fx.www(), 0, None, None);
    let p = srv.port;
    // The folder's index.html is a link inside the folder.
    let r = get(p, "/static/linked/");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "V2 INDEX\n"),
        "a folder whose index.html links inside the folder: {r:?}"
    );

    assert_healthy(p);
}

/// A pre-compressed twin that links inside the folder.
#[test]
fn a_twin_may_be_a_link_inside_the_folder() {
    let fx = Fixture::new("twinlink");
    add_inside_links(&fx);
    let srv = start_static(&fx.www(), 0, None, None);
    let p = srv.port;
    // A pre-compressed twin that is a link inside the folder.
    let r = get_with(p, "/static/v2/real.js", "Accept-Encoding: gzip\r\n");
    assert_eq!(
        (r.status, r.text().as_str(), r.header("content-encoding")),
        (200, "REAL JS GZ twin\n", Some("gzip")),
        "a .gz twin that links inside the folder: {r:?}"
    );
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    let r = get(p, "/static/v2/real.js");
    assert_eq!((r.status, r.text().as_str()), (200, "REAL JS identity\n"), "{r:?}");
    assert_healthy(p);
}

/// An index.html that links out of the folder is not sent.
#[test]
fn an_index_linking_out_is_not_sent() {
    let fx = Fixture::new("indexout");
    add_inside_links(&fx);
    let srv = start_static(&fx.www(), 0, None, None);
    for path in ["/static/index-out/", "/static/index-out/index.html"] {
        let r = get(srv.port, path);
        assert_no_leak(&r, path);
        assert!(matches!(r.status, 403 | 404), "{path}: {r:?}");
    }
    assert_healthy(srv.port);
}

/// The spa_fallback file is a link inside the folder (a common deployment:
/// index.html -> build/index.html).
#[test]
fn spa_fallback_may_be_a_link_inside_the_folder() {
    let fx = Fixture::new("spalink");
    add_inside_links(&fx);
    let srv = start_static(&fx.www(), 0, None, Some("linked/index.html"));
    let r = get(srv.port, "/static/client/route");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "V2 INDEX\n"),
        "spa_fallback that links inside the folder: {r:?}"
    );
    assert_healthy(srv.port);
}

/// What is opened always stays inside the folder, the spa_fallback file
/// too: one reached through a link out of the folder is not sent.
#[test]
fn spa_fallback_stays_inside_the_folder() {
    let fx = Fixture::new("spaout");
    let srv = start_basic(|s| {
        mount_ok(s, "/a", &fx.www(), 0, None, Some("link-etc/passwd"));
        mount_ok(s, "/b", &fx.www(), 0, None, Some("secret.txt"));
        mount_ok(s, "/c", &fx.www(), 0, None, Some("evil-link/x"));
    });
    // Every case is checked before failing, so the report names them all.
    let mut leaks = Vec::new();
    for path in ["/a/nope", "/b/nope", "/c/nope"] {
        let r = get(srv.port, path);
        if leak_in(&r).is_some() || !matches!(r.status, 403 | 404) {
            leaks.push(format!("{path}: {} {:?}", r.status, r.text()));
        }
    }
    assert!(
        leaks.is_empty(),
        "spa_fallback opened a file outside the folder: {leaks:#?}"
    );
    assert_healthy(srv.port);
}

#[test]
fn a_file_asked_with_a_trailing_slash_is_not_found() {
    let f = Fixture::new("trailing");
    let srv = start_static(&f.www(), 0, None, None);
    assert_eq!(get(srv.port, "/static/css/site.css").status, 200);
    assert_error_page(
        &get(srv.port, "/static/css/site.css/"),
        404,
        "Not Found",
        "file with a trailing slash",
    );
    // A folder with its slash still gets its index.
    assert_eq!(get(srv.port, "/static/").status, 200);
}

/// Relative links, which the kernel can keep inside the folder in the same
/// lookup that opens the file: those that stay inside are served (also one
/// that climbs out of a subfolder and back in), those that climb out of the
/// folder are not, however deep they start.
#[test]
fn relative_links_are_served_only_while_they_stay_inside() {
    let fx = Fixture::new("rellinks");
    let w = fx.www_path();
    symlink("css/site.css", w.join("rel-alias.css")).unwrap();
    symlink("../css/site.css", w.join("sub/up-and-in.css")).unwrap();
    symlink("../www/css/site.css", w.join("out-and-in.css")).unwrap();
    symlink("../outside/secret.txt", w.join("rel-secret.txt")).unwrap();
    symlink("../../../outside/secret.txt", w.join("sub/inner/deep-secret.txt")).unwrap();
    symlink("../www-evil", w.join("rel-evil")).unwrap();
    symlink("css", w.join("rel-css-dir")).unwrap();
    let srv = start_static(&fx.www(), 0, None, None);
    let p = srv.port;
    for path in [
        "/static/rel-alias.css",
        "/static/sub/up-and-in.css",
        "/static/rel-css-dir/site.css",
        // Out by name, but the target is inside: served, as before.
        "/static/out-and-in.css",
    ] {
        let r = get(p, path);
        assert_eq!((r.status, r.text().as_str()), (200, CSS), "{path}: {r:?}");
        assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"), "{path}");
    }
    for path in [
        "/static/rel-secret.txt",
        "/static/sub/inner/deep-secret.txt",
        "/static/rel-evil/x",
        "/static/rel-evil/",
    ] {
        let r = get(p, path);
        assert_no_leak(&r, path);
        assert_error_page(&r, 404, "Not Found", path);
    }
    assert_eq!(get(p, "/static/rel-css-dir").status, 301);
    assert_healthy(p);
}

/// The folder is found by its path for every request: a folder replaced
/// under the same path (how sites are deployed) is served at once.
#[test]
fn a_folder_replaced_under_its_path_is_served_at_once() {
    let fx = Fixture::new("replaced");
    let srv = start_static(&fx.www(), 0, None, None);
    let p = srv.port;
    assert_eq!(get(p, "/static/plain.txt").text(), PLAIN);
    let old = fx.dir.0.join("www-old");
    fs::rename(fx.www_path(), &old).unwrap();
    fs::create_dir(fx.www_path()).unwrap();
    fs::write(fx.www_path().join("plain.txt"), "NEW RELEASE\n").unwrap();
    let r = get(p, "/static/plain.txt");
    assert_eq!((r.status, r.text().as_str()), (200, "NEW RELEASE\n"), "{r:?}");
    assert_error_page(&get(p, "/static/a.html"), 404, "Not Found", "a file of the old folder");
    assert_healthy(p);
}

/// Workers keep the files they served open (the open-file cache in
/// `src/files.rs`), and every request still gets the file as it is now:
/// rewritten in place (same length, then shorter, with the same fixed
/// modification time), replaced by a rename, gone, a twin that appears or
/// goes, and a link inside swapped for one leading out.
#[test]
fn kept_open_files_are_served_as_they_are_now() {
    let fx = Fixture::new("kept-open");
    let w = fx.www_path();
    fx.write("www/same.txt", b"version 1\n");
    // Same length and modification time: only the inode tells them apart.
    fx.write("www/in.txt", b"inside\n");
    fx.write("outside/out.txt", b"OUTSID\n");
    symlink("in.txt", w.join("swap.txt")).unwrap();
    let srv = start_static(&fx.www(), 0, None, None);
    let p = srv.port;
    let gzip = "Accept-Encoding: gzip\r\n";
    let text = |path: &str| {
        let r = get_with(p, path, gzip);
        assert_eq!(
            r.header("content-length"),
            Some(r.body.len().to_string().as_str()),
            "{r:?}"
        );
        (r.status, r.text(), r.header("content-encoding").map(str::to_owned))
    };
    // Each asked twice: the second answer comes from the kept file.
    for _ in 0..2 {
        assert_eq!(text("/static/same.txt"), (200, "version 1\n".into(), None));
        assert_eq!(text("/static/swap.txt"), (200, "inside\n".into(), None));
    }

    // Same inode and (fixed) modification time; same length, then shorter.
    fx.write("www/same.txt", b"version 2\n");
    assert_eq!(text("/static/same.txt"), (200, "version 2\n".into(), None));
    fx.write("www/same.txt", b"v2.1\n");
    assert_eq!(text("/static/same.txt"), (200, "v2.1\n".into(), None));

    // Replaced by a rename: a new inode, same length and time.
    fx.write("www/same.txt.new", b"v3.0\n");
    fs::rename(w.join("same.txt.new"), w.join("same.txt")).unwrap();
    assert_eq!(text("/static/same.txt"), (200, "v3.0\n".into(), None));

    // A twin appears, then goes.
    fs::write(w.join("same.txt.gz"), "GZ TWIN\n").unwrap();
    assert_eq!(text("/static/same.txt"), (200, "GZ TWIN\n".into(), Some("gzip".into())));
    fs::remove_file(w.join("same.txt.gz")).unwrap();
    let r = get_with(p, "/static/same.txt", gzip);
    assert_eq!((r.status, r.text().as_str()), (200, "v3.0\n"), "{r:?}");
    assert_eq!((r.header("content-encoding"), r.header("vary")), (None, None), "{r:?}");

    // Gone.
    fs::remove_file(w.join("same.txt")).unwrap();
    assert_error_page(&get(p, "/static/same.txt"), 404, "Not Found", "a removed file");

    // The link now leads out of the folder: refused, though the path was
    // served a moment ago.
    fs::remove_file(w.join("swap.txt")).unwrap();
    symlink("../outside/out.txt", w.join("swap.txt")).unwrap();
    let r = get(p, "/static/swap.txt");
    assert!(!r.text().contains("OUTSID"), "{r:?}");
    assert_error_page(&r, 404, "Not Found", "a link swapped to lead out");
    assert_healthy(p);
}
