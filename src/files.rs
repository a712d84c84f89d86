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
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, Result};
use crate::http::date::imf_fixdate;
use crate::request::Request;
use crate::response::Response;
use crate::util::{eq_ignore_case, parse_decimal, trim_ows};

/// A file body: `len` bytes from `offset`.
#[derive(Debug)]
pub(crate) struct FileBody {
    pub file: File,
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
    static CACHE: OnceLock<Mutex<HashMap<&'static str, &'static CStr>>> = OnceLock::new();
    let Some(mime) = mime_guess::from_path(path).first_raw() else {
        return c"application/octet-stream";
    };
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    // Bounded by mime_guess's static table: each type is leaked once.
    cache.entry(mime).or_insert_with(|| {
        let text = if wants_charset(mime) {
            format!("{mime}; charset=utf-8")
        } else {
            mime.to_owned()
        };
        Box::leak(CString::new(text).unwrap_or_default().into_boxed_c_str())
    })
}

/// Opens a regular file for reading. Never blocks on a FIFO or device
/// (O_NONBLOCK), and checks the type on the opened descriptor, so a path
/// swapped after a check cannot slip a special file in.
pub(crate) fn open_regular(path: &str) -> Result<(File, std::fs::Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound(format!("no file at {path:?}").into()),
            io::ErrorKind::PermissionDenied => Error::Forbidden(format!("{path:?}: permission denied").into()),
            _ if e.raw_os_error() == Some(libc::ENOTDIR) => Error::NotFound(format!("no file at {path:?}").into()),
            _ => Error::Io(e),
        })?;
    let meta = file.metadata().map_err(Error::Io)?;
    if !meta.is_file() {
        return Err(Error::Forbidden(format!("{path:?} is not a regular file").into()));
    }
    Ok((file, meta))
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

/// Prepares `resp` to send the file at `path` as `req` asks: 200, 206 for a
/// single satisfiable range, 304 when the client's copy is current, 416
/// for an unsatisfiable range. Conditional and range handling apply only
/// while the status is 200 (a handler may send a file as its 404 page).
/// A Content-Type the handler set is kept. Nothing is changed on error.
pub(crate) fn prepare(resp: &mut Response, req: &Request, path: &str) -> Result<()> {
    resp.check_file_allowed()?;
    let (file, meta) = open_regular(path)?;
    let len = meta.len();
    let (secs, nanos) = (meta.mtime().max(0) as u64, meta.mtime_nsec().max(0) as u64);
    let etag = format!("\"{:x}-{:x}-{:x}.{:x}\"", meta.ino(), len, secs, nanos);
    let last_modified = String::from_utf8_lossy(&imf_fixdate(secs)).into_owned();
    let method = req.method_bytes();
    let plain = resp.status() == 200 && (method == b"GET" || method == b"HEAD");

    let mut offset = 0;
    let mut count = len;
    if plain {
        let not_modified = match req.header(b"if-none-match") {
            Some(inm) => none_match(inm.to_bytes(), &etag),
            None => req
                .header(b"if-modified-since")
                .and_then(|v| parse_http_date(v.to_bytes()))
                .is_some_and(|since| secs <= since),
        };
        if not_modified {
            resp.set_not_modified(&etag, &last_modified);
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
                    }
                    Ranged::Unsatisfiable => {
                        resp.set_unsatisfiable(len);
                        return Ok(());
                    }
                }
            }
        }
    }
    let mime = mime_for_path(path).to_str().unwrap_or("application/octet-stream");
    let partial = (offset > 0 || count < len).then_some((offset, count, len));
    resp.set_file(
        FileBody {
            file,
            offset,
            len: count,
        },
        mime,
        &etag,
        &last_modified,
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

    #[test]
    fn entity_tags() {
        assert!(none_match(b"*", "\"a\""));
        assert!(none_match(b"\"x\", W/\"a\"", "\"a\""));
        assert!(!none_match(b"\"b\"", "\"a\""));
    }
}
