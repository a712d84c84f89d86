//! Sending files: MIME types, validators (strong ETag, Last-Modified),
//! conditional requests (304), single byte ranges (206/416), and the file
//! body the connection then sends with `sendfile(2)`.
//!
//! Only regular files are served, and the length is fixed when the file is
//! opened: a file that shrinks while it is sent ends the connection instead
//! of being padded.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, Result};
use crate::http::date::imf_fixdate;
use crate::request::Request;
use crate::response::Response;
use crate::util::{eq_ignore_case, parse_decimal, trim_ows};

/// A file body: `len` bytes from `offset`.
#[derive(Debug)]
pub(crate) struct FileBody {
    /// Shared with a static folder's open-file cache, which may hand the
    /// same descriptor to other responses: it is only read at explicit
    /// offsets (`sendfile`, `pread`), never through its file position.
    pub file: Arc<File>,
    pub offset: u64,
    pub len: u64,
}

/// Types browsers read as text get an explicit UTF-8 charset.
fn wants_charset(mime: &str) -> bool {
    mime.starts_with("text/")
        || matches!(
            mime,
            "application/javascript" | "application/json" | "application/xml" | "image/svg+xml"
        )
}

/// The MIME type for a file name, from `mime_guess`'s table, as a static C
/// string; `application/octet-stream` when unknown.
pub fn mime_for_path(path: &str) -> &'static CStr {
    #[derive(Default)]
    struct Types {
        /// Lower-case extension -> type: bounded by `mime_guess`'s table
        /// (unknown extensions are not kept).
        by_ext: HashMap<Vec<u8>, &'static CStr>,
        /// Each type's C string, leaked once.
        by_mime: HashMap<&'static str, &'static CStr>,
    }
    static TYPES: OnceLock<Mutex<Types>> = OnceLock::new();
    let ext = std::path::Path::new(path).extension().and_then(|e| e.to_str());
    let mut lower = [0u8; 16];
    let key = ext.filter(|e| e.len() <= lower.len() && e.is_ascii()).map(|e| {
        let key = &mut lower[..e.len()];
        key.copy_from_slice(e.as_bytes());
        key.make_ascii_lowercase();
        &*key
    });
    let types = TYPES.get_or_init(Mutex::default);
    if let Some(key) = key {
        // Looked up once per extension: the table's search costs ten
        // times the map's.
        if let Some(&known) = types.lock().unwrap_or_else(|e| e.into_inner()).by_ext.get(key) {
            return known;
        }
    }
    let Some(mime) = ext.and_then(|e| mime_guess::from_ext(e).first_raw()) else {
        return c"application/octet-stream";
    };
    let mut types = types.lock().unwrap_or_else(|e| e.into_inner());
    let c = *types.by_mime.entry(mime).or_insert_with(|| {
        let text = if wants_charset(mime) {
            format!("{mime}; charset=utf-8")
        } else {
            mime.to_owned()
        };
        Box::leak(CString::new(text).unwrap_or_default().into_boxed_c_str())
    });
    if let Some(key) = key {
        types.by_ext.insert(key.to_vec(), c);
    }
    c
}

/// Opens a regular file for reading. Never blocks on a FIFO or device
/// (O_NONBLOCK), and checks the type on the opened descriptor, so a path
/// swapped after a check cannot slip a special file in.
pub(crate) fn open_regular(path: &str) -> Result<(File, std::fs::Metadata)> {
    let flags = open_flags(false);
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound(format!("no file at {path:?}").into()),
            io::ErrorKind::PermissionDenied => Error::Forbidden(format!("{path:?}: permission denied").into()),
            _ if e.raw_os_error() == Some(libc::ENOTDIR) => Error::NotFound(format!("no file at {path:?}").into()),
            _ if e.raw_os_error() == Some(libc::ELOOP) => {
                Error::Forbidden(format!("{path:?}: too many levels of symbolic links").into())
            }
            _ => Error::Io(e),
        })?;
    let meta = file.metadata().map_err(Error::Io)?;
    if !meta.is_file() {
        return Err(Error::Forbidden(format!("{path:?} is not a regular file").into()));
    }
    Ok((file, meta))
}

#[cfg(not(target_os = "espidf"))]
fn open_flags(no_follow: bool) -> i32 {
    libc::O_NONBLOCK | libc::O_NOCTTY | if no_follow { libc::O_NOFOLLOW } else { 0 }
}

/// ESP-IDF's file systems (FAT, SPIFFS, LittleFS) have neither terminals
/// nor symbolic links.
#[cfg(target_os = "espidf")]
fn open_flags(_no_follow: bool) -> i32 {
    libc::O_NONBLOCK
}

/// What a `Range` header asks of a body of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ranged {
    /// Send the whole body (no Range, several ranges, or an invalid one).
    Full,
    /// Bytes `first..=last`.
    Part(u64, u64),
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// A single `bytes=` range (RFC 9110 §14.1). Several ranges get the whole
/// body (no multipart, and no "Apache Killer"); an invalid value is ignored;
/// numbers too large for u64 are unsatisfiable, never wrapped.
pub(crate) fn parse_range(value: &[u8], len: u64) -> Ranged {
    let value = trim_ows(value);
    let Some(eq) = value.iter().position(|&b| b == b'=') else {
        return Ranged::Full;
    };
    if !eq_ignore_case(trim_ows(&value[..eq]), b"bytes") {
        return Ranged::Full;
    }
    let spec = trim_ows(&value[eq + 1..]);
    if spec.contains(&b',') {
        return Ranged::Full;
    }
    let Some(dash) = spec.iter().position(|&b| b == b'-') else {
        return Ranged::Full;
    };
    let (a, b) = (&spec[..dash], &spec[dash + 1..]);
    let all_digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    match (a.is_empty(), b.is_empty()) {
        (false, _) if !all_digits(a) || (!b.is_empty() && !all_digits(b)) => Ranged::Full,
        (true, false) if !all_digits(b) => Ranged::Full,
        (true, true) => Ranged::Full,
        (true, false) => match parse_decimal(b) {
            Some(0) | None => Ranged::Unsatisfiable,
            Some(_) if len == 0 => Ranged::Unsatisfiable,
            Some(n) => Ranged::Part(len - n.min(len), len - 1),
        },
        (false, _) => {
            let Some(first) = parse_decimal(a) else {
                return Ranged::Unsatisfiable;
            };
            let last = if b.is_empty() { Some(u64::MAX) } else { parse_decimal(b) };
            match last {
                Some(last) if last < first => Ranged::Full,
                _ if first >= len => Ranged::Unsatisfiable,
                // A last position too large for u64 still means "to the end".
                last => Ranged::Part(first, last.unwrap_or(u64::MAX).min(len - 1)),
            }
        }
    }
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to Unix seconds.
pub(crate) fn parse_http_date(s: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(trim_ows(s)).ok()?;
    let mut parts = s.split(' ');
    let (_day, d, mon, y, hms, gmt) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if gmt != "GMT" || parts.next().is_some() || d.len() != 2 || y.len() != 4 {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|&x| x == mon)? as i64 + 1;
    let d: i64 = d.parse().ok()?;
    let y: i64 = y.parse().ok()?;
    let mut t = hms.split(':');
    let (h, mi, sec): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Days from civil (H. Hinnant).
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + sec).ok()
}

/// `If-None-Match`: `*` or a list of entity tags, compared weakly.
fn none_match(header: &[u8], etag: &str) -> bool {
    let header = trim_ows(header);
    header == b"*"
        || header.split(|&b| b == b',').any(|t| {
            let t = trim_ows(t);
            let t = t.strip_prefix(b"W/").unwrap_or(t);
            t == etag.as_bytes()
        })
}

/// A strong entity tag, `"ino-len-secs.nanos"` in hex, built on the stack.
struct EntityTag {
    buf: [u8; 2 + 4 * 16 + 3],
    len: usize,
}

impl EntityTag {
    fn as_str(&self) -> &str {
        // Only quotes, '-', '.' and hex digits were written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

fn entity_tag(parts: [u64; 4]) -> EntityTag {
    let mut tag = EntityTag {
        buf: [0; 2 + 4 * 16 + 3],
        len: 0,
    };
    let mut push = |bytes: &[u8]| {
        tag.buf[tag.len..tag.len + bytes.len()].copy_from_slice(bytes);
        tag.len += bytes.len();
    };
    push(b"\"");
    for (i, n) in parts.into_iter().enumerate() {
        if i > 0 {
            push(if i == 3 { b"." } else { b"-" });
        }
        push(crate::util::hex(n, &mut [0; 16]));
    }
    push(b"\"");
    tag
}

/// Prepares `resp` to send the file at `path` as `req` asks: 200, 206 for a
/// single satisfiable range, 304 when the client's copy is current, 416
/// for an unsatisfiable range. Conditional and range handling apply only
/// while the status is 200 (a handler may send a file as its 404 page).
/// A Content-Type the handler set is kept. Nothing is changed on error.
pub(crate) fn prepare(resp: &mut Response, req: &Request, path: &str) -> Result<()> {
    resp.check_file_allowed()?;
    let (file, meta) = open_regular(path)?;
    prepare_opened(resp, req, Arc::new(file), &meta, path)
}

/// [`prepare`] for a regular file already open, whose type comes from
/// `type_path`.
pub(crate) fn prepare_opened(
    resp: &mut Response,
    req: &Request,
    file: Arc<File>,
    meta: &std::fs::Metadata,
    type_path: &str,
) -> Result<()> {
    resp.check_file_allowed()?;
    let len = meta.len();
    let (secs, nanos) = (meta.mtime().max(0) as u64, meta.mtime_nsec().max(0) as u64);
    let etag_buf = entity_tag([meta.ino(), len, secs, nanos]);
    let etag = etag_buf.as_str();
    let date = imf_fixdate(secs);
    let last_modified = std::str::from_utf8(&date).unwrap_or_default();
    let method = req.method_bytes();
    let plain = resp.status() == 200 && (method == b"GET" || method == b"HEAD");

    let mut offset = 0;
    let mut count = len;
    let mut ranged = false;
    if plain {
        let not_modified = match req.header(b"if-none-match") {
            Some(inm) => none_match(inm.to_bytes(), etag),
            None => req
                .header(b"if-modified-since")
                .and_then(|v| parse_http_date(v.to_bytes()))
                .is_some_and(|since| secs <= since),
        };
        if not_modified {
            resp.set_not_modified(etag, last_modified);
            return Ok(());
        }
        if let Some(range) = req.header(b"range").filter(|_| method == b"GET") {
            let if_range_ok = match req.header(b"if-range") {
                None => true,
                Some(v) => {
                    let v = trim_ows(v.to_bytes());
                    v == etag.as_bytes() || parse_http_date(v) == Some(secs)
                }
            };
            if if_range_ok {
                match parse_range(range.to_bytes(), len) {
                    Ranged::Full => {}
                    Ranged::Part(first, last) => {
                        offset = first;
                        count = last - first + 1;
                        ranged = true;
                    }
                    Ranged::Unsatisfiable => {
                        resp.set_unsatisfiable(len);
                        return Ok(());
                    }
                }
            }
        }
    }
    let mime = mime_for_path(type_path).to_str().unwrap_or("application/octet-stream");
    // A satisfiable range is answered 206 even when it spans the whole
    // file (`bytes=0-`, as media players send).
    let partial = ranged.then_some((offset, count, len));
    resp.set_file(
        FileBody {
            file,
            offset,
            len: count,
        },
        mime,
        etag,
        last_modified,
        partial,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types() {
        assert_eq!(mime_for_path("a/index.html").to_bytes(), b"text/html; charset=utf-8");
        assert_eq!(mime_for_path("style.CSS").to_bytes(), b"text/css; charset=utf-8");
        assert_eq!(mime_for_path("app.js").to_bytes(), b"text/javascript; charset=utf-8");
        assert_eq!(mime_for_path("x.json").to_bytes(), b"application/json; charset=utf-8");
        assert_eq!(mime_for_path("logo.png").to_bytes(), b"image/png");
        assert_eq!(mime_for_path("firmware.bin").to_bytes(), b"application/octet-stream");
        assert_eq!(mime_for_path("noext").to_bytes(), b"application/octet-stream");
        // The same static string every time.
        assert!(std::ptr::eq(mime_for_path("a.png"), mime_for_path("b.png")));
        // Extensions are remembered in lower case, and only the last
        // component's counts.
        assert!(std::ptr::eq(mime_for_path("A.PNG"), mime_for_path("b.png")));
        assert!(std::ptr::eq(mime_for_path("c.Png"), mime_for_path("b.png")));
        assert_eq!(mime_for_path("v1.d/readme").to_bytes(), b"application/octet-stream");
        assert_eq!(mime_for_path(".png").to_bytes(), b"application/octet-stream");
        assert_eq!(
            mime_for_path("a.averyveryverylongextension").to_bytes(),
            b"application/octet-stream"
        );
    }

    #[test]
    fn ranges() {
        use Ranged::*;
        let r = |s: &str| parse_range(s.as_bytes(), 1000);
        assert_eq!(r("bytes=0-99"), Part(0, 99));
        assert_eq!(r("bytes=900-"), Part(900, 999));
        assert_eq!(r("bytes=-100"), Part(900, 999));
        assert_eq!(r("bytes=-5000"), Part(0, 999));
        assert_eq!(r("bytes=990-5000"), Part(990, 999));
        assert_eq!(r("Bytes = 1-1"), Part(1, 1));
        assert_eq!(r("bytes=1000-"), Unsatisfiable);
        assert_eq!(r("bytes=-0"), Unsatisfiable);
        assert_eq!(r("bytes=99999999999999999999-"), Unsatisfiable); // row 98
        assert_eq!(r("bytes=0-99999999999999999999"), Part(0, 999));
        assert_eq!(r("bytes=5-2"), Full); // row 98: invalid, ignored
        assert_eq!(r("bytes=0-0,0-0,0-0"), Full); // several: whole body
        assert_eq!(r("items=0-1"), Full);
        assert_eq!(r("bytes=a-b"), Full);
        assert_eq!(r("bytes=-"), Full);
        assert_eq!(r("bytes=+1-2"), Full);
        assert_eq!(parse_range(b"bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range(b"bytes=-1", 0), Unsatisfiable);
    }

    #[test]
    fn http_dates() {
        assert_eq!(parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_http_date(&imf_fixdate(1_798_761_599)), Some(1_798_761_599));
        assert_eq!(parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date(b"Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(parse_http_date(b"garbage"), None);
    }

    /// On this kernel (5.6+) a lookup that stays inside is answered by
    /// `openat2` alone; one that leaves the folder (also by an absolute
    /// link back in) is left to the other way.
    #[cfg(target_os = "linux")]
    #[test]
    // Real file-system syscalls (O_PATH, openat2) that Miri does not model.
    #[cfg_attr(miri, ignore)]
    fn openat2_answers_lookups_inside_and_leaves_the_rest() {
        use std::os::unix::fs::symlink;
        use std::path::Path;
        let base = fresh_dir("beneath");
        let www = base.join("www");
        std::fs::create_dir_all(www.join("d")).unwrap();
        std::fs::write(www.join("d/a.txt"), "a").unwrap();
        std::fs::write(base.join("out.txt"), "out").unwrap();
        symlink("d/a.txt", www.join("in")).unwrap();
        symlink("../out.txt", www.join("up")).unwrap();
        symlink(www.join("d/a.txt"), www.join("abs-in")).unwrap();
        let mount = StaticMount::new("/", www.to_str().unwrap(), 0, None, None).unwrap();
        let lookup = Lookup::new(&mount);
        let at = |rel: &str| lookup.open_beneath(Path::new(rel), "");
        assert!(matches!(at("d/a.txt"), Some(Resolved::File(..))));
        assert!(matches!(at("in"), Some(Resolved::File(..))));
        assert!(matches!(at(""), Some(Resolved::Folder)));
        assert!(matches!(at("d"), Some(Resolved::Folder)));
        assert!(matches!(at("nothing"), Some(Resolved::Missing)));
        assert!(matches!(at("d/a.txt/x"), Some(Resolved::Missing)));
        // A twin's extension is joined on; a name too long for the stack
        // buffer is still looked up (and too long for the file system).
        assert!(matches!(
            lookup.open_beneath(Path::new("d/a"), ".txt"),
            Some(Resolved::File(..))
        ));
        assert!(matches!(at(&"x".repeat(400)), Some(Resolved::Missing)));
        assert!(at("up").is_none(), "a link out is left to the other way");
        assert!(at("abs-in").is_none(), "an absolute link is left to the other way");
        // Which then decides as before.
        assert!(matches!(lookup.open(Path::new("up"), ""), Resolved::Missing));
        assert!(matches!(lookup.open(Path::new("abs-in"), ""), Resolved::File(..)));
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// An empty folder of this process's for a test, `tag` naming it.
    #[cfg(target_os = "linux")]
    fn fresh_dir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("microroute-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The open-file cache keeps files and missing twins, not missing
    /// request paths, answers again with the same descriptor, and holds
    /// at most `CAPACITY` entries per thread (each test has its own).
    #[cfg(target_os = "linux")]
    #[test]
    #[cfg_attr(miri, ignore)]
    fn the_open_cache_keeps_files_and_missing_twins_within_its_capacity() {
        use std::path::Path;
        let base = fresh_dir("open-cache");
        for i in 0..open_cache::CAPACITY + 4 {
            std::fs::write(base.join(format!("f{i}")), "x").unwrap();
        }
        let mount = StaticMount::new("/", base.to_str().unwrap(), 0, None, None).unwrap();
        let lookup = Lookup::new(&mount);
        let file = |r: Resolved| match r {
            Resolved::File(f, _) => f,
            _ => panic!("not a file"),
        };
        assert_eq!(open_cache::len(), 0);
        let first = file(lookup.open(Path::new("f0"), ""));
        assert!(Arc::ptr_eq(&first, &file(lookup.open(Path::new("f0"), ""))));
        assert!(matches!(lookup.open(Path::new("nothing"), ""), Resolved::Missing));
        assert_eq!(open_cache::len(), 1, "a missing request path is not kept");
        assert!(matches!(lookup.open(Path::new("f0"), ".gz"), Resolved::Missing));
        assert_eq!(open_cache::len(), 2, "a missing twin is");
        for i in 0..open_cache::CAPACITY + 4 {
            file(lookup.open(Path::new(&format!("f{i}")), ""));
        }
        assert_eq!(open_cache::len(), open_cache::CAPACITY);
        // The least recently used went first: f0 is opened afresh.
        assert!(!Arc::ptr_eq(&first, &file(lookup.open(Path::new("f0"), ""))));
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn entity_tags_are_hex_fields() {
        assert_eq!(
            entity_tag([0xa0c5ed, 0x400, 0x6b030914, 0]).as_str(),
            "\"a0c5ed-400-6b030914.0\""
        );
        assert_eq!(
            entity_tag([u64::MAX; 4]).as_str(),
            format!("\"{0:x}-{0:x}-{0:x}.{0:x}\"", u64::MAX)
        );
    }

    #[test]
    fn entity_tags() {
        assert!(none_match(b"*", "\"a\""));
        assert!(none_match(b"\"x\", W/\"a\"", "\"a\""));
        assert!(!none_match(b"\"b\"", "\"a\""));
    }
}

/// Options of a static folder mount (values are part of the C ABI).
pub mod static_flags {
    /// List a folder without `index.html` (HTML-escaped).
    pub(crate) const LISTING: u32 = 1;
    /// Follow symbolic links that lead out of the folder.
    pub(crate) const FOLLOW_SYMLINKS: u32 = 2;
    /// Ignore `.br` / `.gz` twins.
    pub(crate) const NO_PRECOMPRESSED: u32 = 4;
    pub(crate) const ALL: u32 = 7;
}

/// A folder served under a URL prefix.
#[derive(Debug)]
pub struct StaticMount {
    /// Literal segments of the URL prefix (`/static/v1` → 2).
    prefix_segments: usize,
    /// The folder, canonical (symlinks resolved) at mount time.
    root: std::path::PathBuf,
    flags: u32,
    cache_control: Option<String>,
    /// A file (relative to the root) answered for paths that do not exist.
    spa_fallback: Option<String>,
}

impl StaticMount {
    /// Checks the folder and options. `prefix` is a normalised URL prefix.
    pub fn new(
        prefix: &str,
        dir: &str,
        flags: u32,
        cache_control: Option<&str>,
        spa_fallback: Option<&str>,
    ) -> Result<Self> {
        if flags & !static_flags::ALL != 0 {
            return Err(Error::invalid("unknown static folder flag"));
        }
        if cache_control.is_some_and(|c| c.is_empty() || !crate::util::is_field_value(c.as_bytes())) {
            return Err(Error::invalid("cache_control is not a valid header value"));
        }
        if let Some(f) = spa_fallback {
            if f.is_empty() || f.starts_with('/') || f.split('/').any(|s| s == ".." || s == "." || s.is_empty()) {
                return Err(Error::invalid("spa_fallback must be a relative path inside the folder"));
            }
        }
        let root = std::fs::canonicalize(dir).map_err(|_| Error::NotFound(format!("no folder at {dir:?}").into()))?;
        if !root.is_dir() {
            return Err(Error::NotFound(format!("{dir:?} is not a folder").into()));
        }
        Ok(StaticMount {
            prefix_segments: prefix.split('/').filter(|s| !s.is_empty()).count(),
            root,
            flags,
            cache_control: cache_control.map(str::to_owned),
            spa_fallback: spa_fallback.map(str::to_owned),
        })
    }
}

/// Normalises a mount prefix: starts with '/', no trailing '/', no empty,
/// dot or parameter segments. "/" stays "/".
pub fn normalize_prefix(prefix: &str) -> Result<String> {
    if !prefix.starts_with('/') {
        return Err(Error::invalid("url_prefix must start with '/'"));
    }
    let segs: Vec<&str> = prefix.split('/').filter(|s| !s.is_empty()).collect();
    if segs.iter().any(|s| {
        *s == "."
            || *s == ".."
            || s.contains(['{', '}', '?', '#', '%', '\\'])
            || s.bytes().any(|b| b <= b' ' || b >= 0x7f)
    }) {
        return Err(Error::invalid(
            "url_prefix has a dot segment, a brace, '%', '?', '#' or a control",
        ));
    }
    Ok(format!("/{}", segs.join("/")))
}

/// Where a request path leads inside a mount.
enum Resolved {
    /// 404: not there (or outside the folder).
    Missing,
    /// 403: there, but not a regular file or folder, or not readable.
    Denied,
    /// 500: the open failed otherwise.
    Failed,
    /// A regular file, open.
    File(Arc<File>, std::fs::Metadata),
    Folder,
}

/// Decodes the raw segments after the prefix once: the path relative to the
/// folder, or `None` (400) for a segment that could escape or confuse (dot
/// segments, encoded '/', '\' or NUL). One allocation: the segments are
/// decoded in place, one after the other.
fn relative_path<'a>(raw_rest: impl Iterator<Item = &'a [u8]>) -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let mut rel = Vec::new();
    for raw in raw_rest.filter(|s| !s.is_empty()) {
        if !rel.is_empty() {
            rel.push(b'/');
        }
        let start = rel.len();
        crate::util::percent_decode_into(raw, false, &mut rel);
        let seg = &rel[start..];
        if seg == b"." || seg == b".." || seg.iter().any(|&b| b == b'/' || b == b'\\' || b == 0) {
            return None;
        }
    }
    Some(std::ffi::OsString::from_vec(rel).into())
}

/// The opens of one request under a mount.
struct Lookup<'a> {
    mount: &'a StaticMount,
    /// The folder, for `openat2`: opened by its path at the first lookup
    /// the cache does not answer, and not kept past the request, so a
    /// folder replaced under the same path (a deployment) is served at
    /// once.
    #[cfg(target_os = "linux")]
    root: std::cell::OnceCell<Option<File>>,
}

/// Set once `openat2` turned out not to be there (before Linux 5.6, or
/// refused by a seccomp filter): every open then takes the other way.
#[cfg(target_os = "linux")]
static NO_OPENAT2: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl<'a> Lookup<'a> {
    fn new(mount: &'a StaticMount) -> Self {
        Lookup {
            mount,
            #[cfg(target_os = "linux")]
            root: std::cell::OnceCell::new(),
        }
    }

    /// Opens `rel` followed by `ext` (a twin's `.br`, or nothing) inside
    /// the mount's folder; `rel` is a path from [`relative_path`] or one the
    /// mount was given. Symbolic links are followed while they stay inside
    /// the folder (CASES rows 93-97); with `FOLLOW_SYMLINKS`, anywhere.
    /// Every file a mount opens (request paths, index files, twins, the
    /// fallback) goes through it, and through the worker's
    /// [`open_cache`] first.
    fn open(&self, rel: &std::path::Path, ext: &str) -> Resolved {
        #[cfg(target_os = "linux")]
        let key = open_cache::Key::of(self.mount);
        #[cfg(target_os = "linux")]
        if let Some(r) = open_cache::get(&self.mount.root, rel, ext, key) {
            return r;
        }
        let mut path = self.mount.root.join(rel).into_os_string();
        path.push(ext);
        let found = self.open_uncached(rel, ext, path.as_ref());
        #[cfg(target_os = "linux")]
        open_cache::put(path, key, &found, !ext.is_empty());
        found
    }

    /// [`Lookup::open`] without the cache; `path` is the folder joined
    /// with `rel` and `ext`.
    fn open_uncached(&self, rel: &std::path::Path, ext: &str, path: &std::path::Path) -> Resolved {
        #[cfg(target_os = "linux")]
        if self.mount.flags & static_flags::FOLLOW_SYMLINKS == 0 {
            if let Some(r) = self.open_beneath(rel, ext) {
                return r;
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (rel, ext);
        if self.mount.flags & static_flags::FOLLOW_SYMLINKS != 0 {
            // `rel` holds no dot segments: only links lead out, as allowed.
            return open_checked(path, false);
        }
        // The path with links resolved, compared with the folder by
        // components, then opened without following a link at its last
        // component: one that appeared there since is refused.
        match std::fs::canonicalize(path) {
            Ok(real) if real.starts_with(&self.mount.root) => open_checked(&real, true),
            _ => Resolved::Missing,
        }
    }

    /// [`Lookup::open`] in one `openat2` under the folder, which the kernel
    /// keeps inside it: one syscall where resolving the path's links took
    /// one `readlink` per component, a `stat` and the open. `None` where
    /// the answer needs the other way: the call is missing, or the lookup
    /// left the folder, which includes absolute links that point back
    /// inside.
    #[cfg(target_os = "linux")]
    fn open_beneath(&self, rel: &std::path::Path, ext: &str) -> Option<Resolved> {
        use std::os::fd::AsFd;
        use std::os::unix::ffi::OsStrExt;
        use std::sync::atomic::Ordering;
        if NO_OPENAT2.load(Ordering::Relaxed) {
            return None;
        }
        let root = self
            .root
            .get_or_init(|| {
                OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
                    .open(&self.mount.root)
                    .ok()
            })
            .as_ref()?;
        let rel = rel.as_os_str().as_bytes();
        let parts: [&[u8]; 2] = if rel.is_empty() && ext.is_empty() {
            [b".", b""]
        } else {
            [rel, ext.as_bytes()]
        };
        let opened = with_c_path(parts, |path| crate::sys::open_beneath(root.as_fd(), path))?;
        let err = match opened {
            Ok(file) => return Some(classify(file)),
            Err(e) => e,
        };
        match err.raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG) => Some(Resolved::Missing),
            Some(libc::EACCES) => Some(Resolved::Denied),
            Some(libc::ENOSYS | libc::EPERM | libc::E2BIG) => {
                NO_OPENAT2.store(true, Ordering::Relaxed);
                None
            }
            // EXDEV (out of the folder), ELOOP and the rest: the other way
            // decides.
            _ => None,
        }
    }
}

/// Calls `f` with `parts` joined as a C string, on the stack when it is
/// short (as std does for the paths it opens), so a lookup allocates
/// nothing. `None` if the parts hold a NUL.
#[cfg(target_os = "linux")]
fn with_c_path<R, const N: usize>(parts: [&[u8]; N], f: impl FnOnce(&CStr) -> R) -> Option<R> {
    let len = parts.iter().map(|p| p.len()).sum::<usize>();
    let mut stack = [0u8; 384];
    let mut heap = Vec::new();
    let buf = if len < stack.len() {
        &mut stack[..=len]
    } else {
        heap.resize(len + 1, 0);
        &mut heap[..]
    };
    let mut at = 0;
    for p in parts {
        buf[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
    buf[len] = 0;
    CStr::from_bytes_with_nul(buf).ok().map(f)
}

/// The files static folders opened lately, kept open per worker thread
/// (as nginx's `open_file_cache` and lighttpd's stat cache do), so a file
/// asked for again costs one `statx` of its path instead of opening the
/// folder and the file, a `statx` of the descriptor and two `close`s.
///
/// Nothing is served stale: every use first looks the path up again, and
/// an entry is used only while the path leads to the same file (device and
/// inode) with the same size, modification and change times; otherwise it
/// is dropped and the path opened afresh, so a file rewritten, replaced,
/// renamed away, re-permissioned (the change time moves) or a folder
/// replaced is seen by the next request. The entry's descriptor was opened
/// under the mount's rules (inside the folder unless `FOLLOW_SYMLINKS`),
/// and the path must still lead to that very file, so the cache serves
/// nothing those rules would refuse. A twin found missing is remembered
/// too (checked the same way: the path must still not exist), as each
/// request looks for two; request paths found missing are not, so a
/// client asking for random names cannot evict the files.
///
/// Each worker keeps at most [`CAPACITY`] entries, the least recently
/// used going first; a descriptor stays open until its entry is dropped or
/// its worker ends (the server stops), so a file deleted meanwhile holds
/// its disk space until then. Descriptors are shared between the responses
/// that send the file: they are read only at explicit offsets.
#[cfg(target_os = "linux")]
mod open_cache {
    use std::cell::RefCell;
    use std::ffi::{CString, OsString};
    use std::fs::{File, Metadata};
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    use std::path::Path;
    use std::sync::Arc;

    use super::{static_flags, Resolved, StaticMount};
    use crate::sys::{stamp, FileStamp};

    /// Entries per worker thread.
    pub(super) const CAPACITY: usize = 16;

    /// What besides the path makes a lookup's answer: the folder it must
    /// stay in (as the length of the folder's part of the path: two mounts
    /// can reach one path from different folders) and the link rule.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub(super) struct Key {
        root_len: usize,
        follow: bool,
    }

    impl Key {
        pub(super) fn of(mount: &StaticMount) -> Key {
            Key {
                root_len: mount.root.as_os_str().len(),
                follow: mount.flags & static_flags::FOLLOW_SYMLINKS != 0,
            }
        }
    }

    // At most `CAPACITY` of them per worker, in place: boxing the file
    // variant would only add an allocation to each miss.
    #[allow(clippy::large_enum_variant)]
    enum Entry {
        File(Arc<File>, Metadata),
        Missing,
    }

    struct Slot {
        /// The folder joined with the relative path and extension, as
        /// `Path::join` joins them.
        path: CString,
        key: Key,
        entry: Entry,
        used: u64,
    }

    #[derive(Default)]
    struct Cache {
        slots: Vec<Slot>,
        tick: u64,
    }

    thread_local! {
        static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
    }

    /// True if `path` is `root` joined with `rel` (by `Path::join`'s
    /// rule: no separator after a root that ends in one), then `ext`.
    fn is_joined(path: &[u8], root: &[u8], rel: &[u8], ext: &[u8]) -> bool {
        let sep: &[u8] = if root.ends_with(b"/") { b"" } else { b"/" };
        path.len() == root.len() + sep.len() + rel.len() + ext.len()
            && [root, sep, rel, ext]
                .iter()
                .scan(0, |at, part| {
                    let start = *at;
                    *at += part.len();
                    Some(&path[start..*at] == *part)
                })
                .all(|same| same)
    }

    /// The cached answer for `rel` + `ext` under `root`, if there is one
    /// and the path still leads to it.
    pub(super) fn get(root: &Path, rel: &Path, ext: &str, key: Key) -> Option<Resolved> {
        let (root, rel, ext) = (root.as_os_str().as_bytes(), rel.as_os_str().as_bytes(), ext.as_bytes());
        CACHE
            .try_with(|cache| {
                let mut cache = cache.borrow_mut();
                let cache = &mut *cache;
                let i = cache
                    .slots
                    .iter()
                    .position(|s| s.key == key && is_joined(s.path.as_bytes(), root, rel, ext))?;
                let slot = &mut cache.slots[i];
                // Follows links, as the open did. The same device and inode
                // keep an entry to the file it opened; the same size and
                // times (the change time moves with permissions and links
                // too) to its version.
                let now = stamp(&slot.path);
                let hit = match (&slot.entry, now) {
                    (Entry::File(file, meta), Ok(now)) if now == FileStamp::of(meta) => {
                        Some(Resolved::File(Arc::clone(file), meta.clone()))
                    }
                    (Entry::Missing, Err(e))
                        if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) =>
                    {
                        Some(Resolved::Missing)
                    }
                    _ => None,
                };
                match hit {
                    Some(_) => {
                        cache.tick += 1;
                        slot.used = cache.tick;
                    }
                    None => {
                        cache.slots.swap_remove(i);
                    }
                }
                hit
            })
            .ok()
            .flatten()
    }

    /// Remembers what an open of `path` found: a file, or a missing twin.
    pub(super) fn put(path: OsString, key: Key, found: &Resolved, twin: bool) {
        let entry = match found {
            Resolved::File(file, meta) => Entry::File(Arc::clone(file), meta.clone()),
            Resolved::Missing if twin => Entry::Missing,
            _ => return,
        };
        // Paths hold no NUL (`relative_path` refuses it).
        let Ok(path) = CString::new(path.into_vec()) else {
            return;
        };
        let _ = CACHE.try_with(|cache| {
            let mut cache = cache.borrow_mut();
            cache.tick += 1;
            let slot = Slot {
                path,
                key,
                entry,
                used: cache.tick,
            };
            let same = cache.slots.iter().position(|s| s.key == key && s.path == slot.path);
            let at = same.or_else(|| {
                (cache.slots.len() >= CAPACITY)
                    .then(|| {
                        cache
                            .slots
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, s)| s.used)
                            .map(|(i, _)| i)
                    })
                    .flatten()
            });
            match at {
                Some(i) => cache.slots[i] = slot,
                None => cache.slots.push(slot),
            }
        });
    }

    /// Entries of the calling thread (for tests).
    #[cfg(test)]
    pub(super) fn len() -> usize {
        CACHE.with(|c| c.borrow().slots.len())
    }

    #[cfg(test)]
    mod tests {
        use super::is_joined;

        #[test]
        fn joined_paths_are_recognised_as_path_join_makes_them() {
            assert!(is_joined(b"/srv/a/b.txt.br", b"/srv", b"a/b.txt", b".br"));
            assert!(is_joined(b"/x", b"/", b"x", b""));
            assert!(is_joined(b"/srv/", b"/srv", b"", b""));
            assert!(!is_joined(b"/srv/a", b"/sr", b"va", b""));
            assert!(!is_joined(b"/srv/a.br", b"/srv", b"a", b""));
            assert!(!is_joined(b"/srv/a", b"/srv", b"a", b".gz"));
        }
    }
}

/// Opens `path` (never blocking on a FIFO; `no_follow`: refusing a link at
/// the last component) and says what it is.
fn open_checked(path: &std::path::Path, no_follow: bool) -> Resolved {
    // ESP-IDF's file systems cannot open folders: look first.
    if cfg!(target_os = "espidf") && path.is_dir() {
        return Resolved::Folder;
    }
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(open_flags(no_follow))
        .open(path);
    match opened {
        Ok(file) => classify(file),
        Err(e) => match e.raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG) => Resolved::Missing,
            // ELOOP: a link appeared at the last component since the check.
            Some(libc::EACCES | libc::ELOOP) => Resolved::Denied,
            _ if e.kind() == io::ErrorKind::NotFound => Resolved::Missing,
            _ => Resolved::Failed,
        },
    }
}

/// What an open descriptor is: only regular files and folders are served.
fn classify(file: File) -> Resolved {
    match file.metadata() {
        Ok(meta) if meta.is_file() => Resolved::File(Arc::new(file), meta),
        Ok(meta) if meta.is_dir() => Resolved::Folder,
        Ok(_) => Resolved::Denied,
        Err(_) => Resolved::Failed,
    }
}

/// True when `Accept-Encoding` accepts `coding` (q=0 refuses).
fn accepts(req: &Request, coding: &[u8]) -> bool {
    let Some(ae) = req.header(b"accept-encoding") else {
        return false;
    };
    ae.to_bytes().split(|&b| b == b',').any(|item| {
        let mut parts = item.split(|&b| b == b';');
        let name = trim_ows(parts.next().unwrap_or_default());
        let refused = parts.any(|p| {
            let p = trim_ows(p);
            p.len() >= 2 && eq_ignore_case(&p[..2], b"q=") && trim_ows(&p[2..]).iter().all(|&b| b == b'0' || b == b'.')
        });
        eq_ignore_case(name, coding) && !refused
    })
}

/// `&<>"'` escaped for HTML text and attributes.
fn html_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Percent-encodes a file name for a link.
fn url_escape(name: &[u8], out: &mut String) {
    for &b in name {
        if crate::util::is_unreserved(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// A listing of `dir` as HTML.
fn listing(dir: &std::path::Path, url_path: &str) -> Result<String> {
    use std::os::unix::ffi::OsStrExt;
    let mut entries: Vec<(Vec<u8>, bool)> = std::fs::read_dir(dir)
        .map_err(Error::Io)?
        .filter_map(|e| e.ok())
        .map(|e| {
            (
                e.file_name().as_bytes().to_vec(),
                e.file_type().is_ok_and(|t| t.is_dir()),
            )
        })
        .collect();
    entries.sort();
    let mut title = String::new();
    html_escape(url_path, &mut title);
    let mut out = format!("<!doctype html>\n<title>Index of {title}</title>\n<h1>Index of {title}</h1>\n<ul>\n");
    for (name, is_dir) in entries {
        out.push_str("<li><a href=\"");
        url_escape(&name, &mut out);
        if is_dir {
            out.push('/');
        }
        out.push_str("\">");
        html_escape(&String::from_utf8_lossy(&name), &mut out);
        if is_dir {
            out.push('/');
        }
        out.push_str("</a></li>\n");
    }
    out.push_str("</ul>\n");
    Ok(out)
}

/// Serves a request under a mount; the handler of `server_static` routes.
pub(crate) fn serve_static(mount: &StaticMount, ex: &mut crate::Exchange<'_>) -> bool {
    let raw_path = ex.request().path_bytes();
    let asked_folder = raw_path.ends_with(b"/");
    // The route matched the prefix; what follows it, still encoded.
    let Some(mut rel) = relative_path(raw_path.split(|&b| b == b'/').skip(1 + mount.prefix_segments)) else {
        return error(ex, 400);
    };
    let lookup = Lookup::new(mount);
    let mut found = lookup.open(&rel, "");
    let mut fallback = false;
    if let (Resolved::Missing, Some(f)) = (&found, &mount.spa_fallback) {
        fallback = true;
        rel = f.into();
        found = lookup.open(&rel, "");
    }
    let (file, meta) = match found {
        Resolved::File(file, meta) => {
            if !fallback && asked_folder {
                // A file asked as a folder (`site.css/`) is not there (as
                // nginx).
                return error(ex, 404);
            }
            (file, meta)
        }
        Resolved::Folder => {
            if !asked_folder {
                // The raw path is validated percent-encoded ASCII: no CR/LF
                // can reach the header (row 96).
                let mut location = String::from_utf8_lossy(ex.request().path_bytes()).into_owned();
                location.push('/');
                let q = ex.request().query_bytes();
                if !q.is_empty() {
                    location.push('?');
                    location.push_str(&String::from_utf8_lossy(q));
                }
                set_cache_control(mount, ex);
                if ex.response_mut().redirect(&location, 301).is_err() {
                    ex.response_mut().set_error(400);
                }
                return true;
            }
            rel.push("index.html");
            match lookup.open(&rel, "") {
                Resolved::File(file, meta) => (file, meta),
                Resolved::Missing | Resolved::Folder if mount.flags & static_flags::LISTING != 0 => {
                    rel.pop();
                    let url = String::from_utf8_lossy(ex.request().path_bytes()).into_owned();
                    return match listing(&mount.root.join(&rel), &url) {
                        Ok(html) => {
                            set_cache_control(mount, ex);
                            ex.response_mut().set_html(&html).is_ok()
                        }
                        Err(_) => error(ex, 403),
                    };
                }
                Resolved::Failed => return error(ex, 500),
                _ => return error(ex, 403),
            }
        }
        Resolved::Missing => return error(ex, 404),
        Resolved::Denied => return error(ex, 403),
        Resolved::Failed => return error(ex, 500),
    };
    set_cache_control(mount, ex);
    // The type comes from the name asked for (a link's target may have
    // another).
    let Some(type_path) = rel.to_str() else {
        return error(ex, 404);
    };
    // A pre-compressed twin (`.br`, `.gz`) when the client takes it.
    let mut chosen = None;
    if mount.flags & static_flags::NO_PRECOMPRESSED == 0 {
        let mut has_twin = false;
        for (ext, coding) in [(".br", "br"), (".gz", "gzip")] {
            if let Resolved::File(twin, twin_meta) = lookup.open(&rel, ext) {
                has_twin = true;
                if chosen.is_none() && accepts(ex.request(), coding.as_bytes()) {
                    chosen = Some((twin, twin_meta, coding));
                }
            }
        }
        if has_twin {
            let _ = ex.response_mut().add_header("Vary", "Accept-Encoding");
        }
    }
    let result = match chosen {
        Some((twin, twin_meta, coding)) => {
            // The twin is sent with the original's type (set first: the
            // head lists it before the coding, as for any file).
            let mime = mime_for_path(type_path).to_str().unwrap_or("application/octet-stream");
            let _ = ex.response_mut().set_header("Content-Type", mime);
            let _ = ex.response_mut().set_header("Content-Encoding", coding);
            ex.send_opened_file(twin, &twin_meta, type_path)
        }
        None => ex.send_opened_file(file, &meta, type_path),
    };
    match result {
        Ok(()) => true,
        Err(_) => error(ex, 500),
    }
}

/// Answers with the library's page for `code`.
fn error(ex: &mut crate::Exchange<'_>, code: u16) -> bool {
    ex.response_mut().set_error(code);
    true
}

fn set_cache_control(mount: &StaticMount, ex: &mut crate::Exchange<'_>) {
    if let Some(cc) = &mount.cache_control {
        let _ = ex.response_mut().set_header("Cache-Control", cc);
    }
}
