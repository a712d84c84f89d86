//! Request head parsing: httparse for the syntax, then everything httparse
//! leaves to the server (RFC 9110/9112 and `conformance/CASES.md`): bare-LF
//! heads, version mapping, method case and known methods, request-target
//! forms and characters, `Host` rules, and the body framing decision
//! (Content-Length / Transfer-Encoding), which httparse does not do at all.
//!
//! Where the RFC allows a choice the strict one is taken: an origin server
//! may sit behind proxies that read the message differently.

use std::mem::MaybeUninit;

use crate::request::{HeadParts, Request};
use crate::util::{
    eq_ignore_case, is_sub_delim, is_tchar, is_unreserved, parse_decimal, trim_ows, valid_percent_escapes,
};

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length: n` (n > 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A request the server answers itself with `status` and then closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadError {
    pub status: u16,
    pub reason: &'static str,
}

const fn err(status: u16, reason: &'static str) -> HeadError {
    HeadError { status, reason }
}

/// Limits applied while parsing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadLimits {
    pub max_header_bytes: usize,
    pub max_headers: usize,
}

impl HeadLimits {
    /// The limits a server with `cfg` parses with.
    pub(crate) fn of(cfg: &crate::config::Config) -> HeadLimits {
        HeadLimits {
            max_header_bytes: cfg.max_header_bytes,
            max_headers: cfg.max_headers,
        }
    }
}

/// Leading empty lines tolerated before a request line (RFC 9112 §2.2).
const MAX_LEADING_CRLF: usize = 2;

/// Headers parsed without a heap allocation.
const STACK_HEADERS: usize = 64;

/// Methods every server knows; routes may add their own.
pub(crate) const STANDARD_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
];

/// True for a method in [`STANDARD_METHODS`].
pub(crate) fn is_standard_method(m: &[u8]) -> bool {
    standard_method(m).is_some()
}

/// `m` as text when it is one of [`STANDARD_METHODS`] (a few comparisons,
/// cheaper than checking it as UTF-8).
pub(crate) fn standard_method(m: &[u8]) -> Option<&'static str> {
    STANDARD_METHODS.iter().copied().find(|k| k.as_bytes() == m)
}

/// Parses the head at the start of `buf`. On success the request is copied
/// into `req` and the head length returned; `Ok(None)` means more bytes are
/// needed. `known_method` decides which methods get past 501.
pub(crate) fn parse_head(
    buf: &[u8],
    lim: &HeadLimits,
    known_method: &dyn Fn(&[u8]) -> bool,
    req: &mut Request,
) -> Result<Option<usize>, HeadError> {
    // Up to two empty lines before the request line; a bare LF never.
    let mut skip = 0;
    for _ in 0..MAX_LEADING_CRLF {
        match &buf[skip..] {
            [b'\r', b'\n', ..] => skip += 2,
            [] | [b'\r'] => return Ok(None),
            _ => break,
        }
    }
    match buf.get(skip) {
        Some(b'\r' | b'\n') => return Err(err(400, "empty lines before the request line")),
        None => return Ok(None),
        _ => {}
    }
    let buf = &buf[skip..];

    // Left uninitialised for httparse to fill: writing 64 empty headers
    // first took ~200 instructions a request.
    let mut stack = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
    let mut heap;
    let storage: &mut [MaybeUninit<httparse::Header<'_>>] = if lim.max_headers <= STACK_HEADERS {
        &mut stack[..lim.max_headers]
    } else {
        heap = Vec::<httparse::Header<'_>>::with_capacity(lim.max_headers);
        &mut heap.spare_capacity_mut()[..lim.max_headers]
    };
    let mut parsed = httparse::Request::new(&mut []);
    let (len, version) = match parsed.parse_with_uninit_headers(buf, storage) {
        Ok(httparse::Status::Complete(len)) => {
            let v = if parsed.version == Some(0) { 10 } else { 11 };
            (len, v)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(err(431, "too many header fields"));
        }
        Err(httparse::Error::Version) => return parse_other_version(buf, lim, known_method, req, skip),
        Err(httparse::Error::Token) => return Err(err(400, "invalid method or header name")),
        Err(httparse::Error::HeaderName) => return Err(err(400, "invalid header name")),
        Err(httparse::Error::HeaderValue) => return Err(err(400, "invalid header value")),
        Err(httparse::Error::NewLine) => return Err(err(400, "invalid line ending")),
        Err(_) => return Err(err(400, "malformed request head")),
    };
    if skip + len > lim.max_header_bytes {
        return Err(too_long(buf, lim.max_header_bytes.saturating_sub(skip)));
    }
    // httparse accepts bare LF line endings; RFC 9112 §2.2 lets us refuse them
    // and CASES row 45 recommends it.
    if has_bare_lf(&buf[..len]) {
        return Err(err(400, "bare LF in request head"));
    }
    check_and_fill(&parsed, version, known_method, req)?;
    Ok(Some(skip + len))
}

/// The head exceeded `limit` bytes: 414 when the request line alone does
/// (400 when that line has no space yet: a runaway method), else 431. The
/// answer depends only on the bytes, not on how they arrived.
pub(crate) fn too_long(buf: &[u8], limit: usize) -> HeadError {
    let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    if line_end < limit {
        err(431, "request header fields too large")
    } else if !buf[..line_end].contains(&b' ') {
        err(400, "request line too long")
    } else {
        err(414, "request target too long")
    }
}

fn has_bare_lf(head: &[u8]) -> bool {
    // No early exit, so the compiler can check many bytes per step: a
    // head is short and nearly always clean.
    let tail = head.get(1..).unwrap_or_default();
    let bare = tail
        .iter()
        .zip(head)
        .fold(false, |bad, (&b, &before)| bad | (b == b'\n') & (before != b'\r'));
    bare || head.first() == Some(&b'\n')
}

/// httparse only knows HTTP/1.0 and 1.1. `HTTP/1.x` (x >= 2) is treated as
/// 1.1 (RFC 9110 §2.5), other well-formed versions get 505, the rest 400.
fn parse_other_version(
    buf: &[u8],
    lim: &HeadLimits,
    known_method: &dyn Fn(&[u8]) -> bool,
    req: &mut Request,
    skip: usize,
) -> Result<Option<usize>, HeadError> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        // Still inside the request line: wait while it can become valid,
        // judging it as the whole line will be judged (its third word; a
        // CR may already end it).
        let line = buf.strip_suffix(b"\r").unwrap_or(buf);
        let mut words = line.split(|&b| b == b' ');
        let (_, _, version, extra) = (words.next(), words.next(), words.next(), words.next());
        let pattern = b"HTTP/0.0";
        let prefix_ok = extra.is_none()
            && version.is_none_or(|v| {
                v.len() <= pattern.len()
                    && v.iter()
                        .zip(pattern)
                        .all(|(&b, &p)| if p == b'0' { b.is_ascii_digit() } else { b == p })
            });
        return if prefix_ok {
            Ok(None)
        } else {
            Err(err(400, "invalid HTTP version"))
        };
    };
    let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
    // method SP target SP version: exactly three words.
    let mut words = line.split(|&b| b == b' ');
    let version = match (words.next(), words.next(), words.next(), words.next()) {
        (Some(_), Some(_), Some(v), None) => v,
        _ => return Err(err(400, "malformed request line")),
    };
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            if *major == b'1' && *minor >= b'2' {
                // Re-parse with the version rewritten; rare, so a copy is fine.
                // The minor digit is the last byte of the line.
                let mut patched = buf.to_vec();
                patched[line.len() - 1] = b'1';
                Ok(parse_head(&patched, lim, known_method, req)?.map(|n| n + skip))
            } else if *major == b'1' {
                // 1.0 and 1.1 are what httparse knows: its complaint is
                // about the bytes around the version.
                Err(err(400, "malformed request line"))
            } else {
                Err(err(505, "HTTP version not supported"))
            }
        }
        _ => Err(err(400, "invalid HTTP version")),
    }
}

/// The header fields that frame the message or decide the connection's
/// fate: their values must be ASCII and are checked here.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Special {
    Host,
    Expect,
    Connection,
    ContentLength,
    TransferEncoding,
}

impl Special {
    /// Which one `name` is (case-insensitive), judged by its length first
    /// so that other fields cost one comparison at most.
    fn of(name: &[u8]) -> Option<Special> {
        let (known, which): (&[u8], Special) = match name.len() {
            4 => (b"host", Special::Host),
            6 => (b"expect", Special::Expect),
            10 => (b"connection", Special::Connection),
            14 => (b"content-length", Special::ContentLength),
            17 => (b"transfer-encoding", Special::TransferEncoding),
            _ => return None,
        };
        eq_ignore_case(name, known).then_some(which)
    }
}

/// The checks httparse does not do, then the copy into `req`.
fn check_and_fill(
    p: &httparse::Request<'_, '_>,
    version: u8,
    known_method: &dyn Fn(&[u8]) -> bool,
    req: &mut Request,
) -> Result<(), HeadError> {
    let method = p.method.unwrap_or_default().as_bytes();
    let target = p.path.unwrap_or_default().as_bytes();
    // Methods are case-sensitive (RFC 9110 §9.1): `get` is not GET.
    if method == b"CONNECT" || !known_method(method) {
        return Err(err(501, "method not implemented"));
    }

    // Request target forms (RFC 9112 §3.2).
    if !target.iter().all(|&b| valid_target_byte(b)) {
        return Err(err(400, "invalid character in request target"));
    }
    let (authority, path_query): (Option<&[u8]>, &[u8]) = match target {
        [b'/', ..] => (None, target),
        b"*" if method == b"OPTIONS" => (None, target),
        _ => match absolute_form(target) {
            Some(parts) => parts,
            None => return Err(err(400, "invalid request target")),
        },
    };
    let (path, query) = match path_query.iter().position(|&b| b == b'?') {
        Some(q) => (&path_query[..q], &path_query[q + 1..]),
        None => (path_query, &b""[..]),
    };
    if !valid_percent_escapes(path) || !valid_percent_escapes(query) {
        return Err(err(400, "invalid percent-encoding in request target"));
    }

    let mut content_length: Option<u64> = None;
    let mut cl_headers = 0usize;
    let mut te_seen = false;
    let mut te_chunked = 0usize;
    let mut te_last_chunked = false;
    let mut te_other = false;
    let mut host: Option<&[u8]> = None;
    let mut host_count = 0usize;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut expect_continue = false;

    for h in p.headers.iter() {
        let Some(special) = Special::of(h.name.as_bytes()) else {
            continue;
        };
        let value = h.value;
        if !value.is_ascii() {
            return Err(err(400, "non-ASCII value in a framing header"));
        }
        match special {
            Special::ContentLength => {
                cl_headers += 1;
                if cl_headers > 1 {
                    return Err(err(400, "more than one Content-Length"));
                }
                match parse_decimal(value) {
                    Some(n) => content_length = Some(n),
                    None => return Err(err(400, "invalid Content-Length")),
                }
            }
            Special::TransferEncoding => {
                te_seen = true;
                for coding in value.split(|&b| b == b',') {
                    let coding = trim_ows(coding);
                    if coding.is_empty() {
                        continue;
                    }
                    if !coding.iter().all(|&b| is_tchar(b)) {
                        return Err(err(400, "invalid Transfer-Encoding"));
                    }
                    te_last_chunked = eq_ignore_case(coding, b"chunked");
                    if te_last_chunked {
                        te_chunked += 1;
                    } else {
                        te_other = true;
                    }
                }
            }
            Special::Host => {
                host_count += 1;
                host = Some(value);
            }
            Special::Connection => {
                for opt in value.split(|&b| b == b',') {
                    let opt = trim_ows(opt);
                    if eq_ignore_case(opt, b"close") {
                        conn_close = true;
                    } else if eq_ignore_case(opt, b"keep-alive") {
                        conn_keep_alive = true;
                    }
                }
            }
            Special::Expect if version == 11 => {
                if eq_ignore_case(trim_ows(value), b"100-continue") {
                    expect_continue = true;
                } else {
                    return Err(err(417, "unsupported expectation"));
                }
            }
            Special::Expect => {}
        }
    }

    // Body framing (RFC 9112 §6).
    let framing = if te_seen {
        if version == 10 {
            return Err(err(400, "Transfer-Encoding in an HTTP/1.0 request"));
        }
        if cl_headers > 0 {
            return Err(err(400, "both Content-Length and Transfer-Encoding"));
        }
        if te_chunked == 0 && !te_other {
            return Err(err(400, "empty Transfer-Encoding"));
        }
        if te_chunked > 1 {
            return Err(err(400, "chunked applied more than once"));
        }
        if te_chunked == 1 && !te_last_chunked {
            return Err(err(400, "chunked is not the final transfer coding"));
        }
        if te_other {
            return Err(err(501, "unsupported transfer coding"));
        }
        Framing::Chunked
    } else {
        match content_length {
            Some(0) | None => Framing::None,
            Some(n) => Framing::Length(n),
        }
    };

    // Host (RFC 9112 §3.2): exactly one in HTTP/1.1, valid when present.
    if host_count > 1 || (version == 11 && host_count == 0) {
        return Err(err(400, "missing or repeated Host"));
    }
    if let Some(h) = host {
        if !valid_authority(h) {
            return Err(err(400, "invalid Host"));
        }
    }

    let keep_alive = !conn_close && (version == 11 || conn_keep_alive);
    req.fill(&HeadParts {
        method,
        path,
        query,
        host: authority.or(host),
        version,
        headers: p.headers,
        framing,
        expect_continue,
        keep_alive,
    });
    Ok(())
}

/// Bytes allowed in a request target: visible ASCII except those no
/// conforming client sends raw (`#`, `"`, `<`, `>`, `\`). Raw non-ASCII is
/// refused (CASES row 55): targets are percent-encoded ASCII.
fn valid_target_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && !matches!(b, b'#' | b'"' | b'<' | b'>' | b'\\')
}

/// `http://authority/path?query` → (authority, "/path?query").
fn absolute_form(target: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    let rest = if target.len() > 7 && eq_ignore_case(&target[..7], b"http://") {
        &target[7..]
    } else if target.len() > 8 && eq_ignore_case(&target[..8], b"https://") {
        &target[8..]
    } else {
        return None;
    };
    let end = rest.iter().position(|&b| b == b'/' || b == b'?').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if !valid_authority(authority) {
        return None;
    }
    // `http://x?q` has an empty path; `/` is implied, but we keep the slice
    // borrowed, so only targets with an explicit path are accepted.
    if !path.starts_with(b"/") {
        return if path.is_empty() {
            Some((Some(authority), &b"/"[..]))
        } else {
            None
        };
    }
    Some((Some(authority), path))
}

/// Bytes of a `reg-name` or IPv4 host (RFC 3986 §3.2.2): unreserved,
/// sub-delims and `%`, as a table (a Host field is checked per request).
static REG_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = is_unreserved(c) || is_sub_delim(c) || c == b'%';
        b += 1;
    }
    t
};

/// `host [":" port]` with a reg-name, IPv4 or `[IPv6]` host; no userinfo,
/// no path, not empty (CASES row 70).
fn valid_authority(a: &[u8]) -> bool {
    let (host, port) = if a.first() == Some(&b'[') {
        let Some(close) = a.iter().position(|&b| b == b']') else {
            return false;
        };
        let inner = &a[1..close];
        if inner.is_empty() || !inner.iter().all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.') {
            return false;
        }
        match &a[close + 1..] {
            [] => (&a[..=close], None),
            [b':', port @ ..] => (&a[..=close], Some(port)),
            _ => return false,
        }
    } else {
        match a.iter().rposition(|&b| b == b':') {
            Some(c) => (&a[..c], Some(&a[c + 1..])),
            None => (a, None),
        }
    };
    if host.is_empty() {
        return false;
    }
    let host_ok = host.first() == Some(&b'[') || host.iter().all(|&b| REG_NAME[usize::from(b)]);
    host_ok && port.is_none_or(|p| p.len() <= 5 && p.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: HeadLimits = HeadLimits {
        max_header_bytes: 16384,
        max_headers: 64,
    };

    fn parse(s: &[u8]) -> Result<Option<(usize, Request)>, HeadError> {
        let mut req = Request::new();
        parse_head(s, &LIM, &is_standard_method, &mut req).map(|r| r.map(|n| (n, req)))
    }

    fn status(s: &[u8]) -> u16 {
        match parse(s) {
            Ok(Some(_)) => 200,
            Ok(None) => 0,
            Err(e) => e.status,
        }
    }

    #[test]
    fn parses_a_simple_request() {
        let input = b"GET /a%20b/c?x=1&y=%41 HTTP/1.1\r\nHost: example.com\r\nX-A: 1\r\nx-a: 2\r\n\r\nrest";
        let (n, r) = parse(input).unwrap().unwrap();
        assert_eq!(n, input.len() - 4);
        assert_eq!(r.method().to_bytes(), b"GET");
        assert_eq!(r.path().to_bytes(), b"/a%20b/c");
        assert_eq!(r.query().to_bytes(), b"x=1&y=%41");
        assert_eq!(r.version(), 11);
        assert_eq!(r.header(b"x-A").unwrap().to_bytes(), b"1");
        assert_eq!(r.header_count(), 3);
        assert_eq!(r.header_at(2).unwrap().1.to_bytes(), b"2");
        assert_eq!(r.host().unwrap().to_bytes(), b"example.com");
        assert!(r.keep_alive);
        assert_eq!(r.framing, Framing::None);
    }

    #[test]
    fn bare_lf_is_found_anywhere_and_crlf_is_not() {
        assert!(!has_bare_lf(b""));
        assert!(!has_bare_lf(b"\r\n"));
        assert!(!has_bare_lf(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(has_bare_lf(b"\n"));
        assert!(has_bare_lf(b"\nGET"));
        assert!(has_bare_lf(b"GET / HTTP/1.1\r\nHost: a\n\r\n"));
        assert!(has_bare_lf(b"GET / HTTP/1.1\r\n\n"));
        // Past any vector width, at every position.
        let clean = b"X-Field: some value\r\n".repeat(8);
        assert!(!has_bare_lf(&clean));
        for i in 0..clean.len() {
            let mut bad = clean.clone();
            bad.insert(i, b'\n');
            let after_cr = i > 0 && bad[i - 1] == b'\r';
            assert_eq!(has_bare_lf(&bad), !after_cr || bad[i + 1] == b'\n', "at {i}");
        }
    }

    #[test]
    fn framing_fields_are_known_by_name_in_any_case() {
        for (name, want) in [
            (&b"Host"[..], Special::Host),
            (b"EXPECT", Special::Expect),
            (b"connection", Special::Connection),
            (b"Content-Length", Special::ContentLength),
            (b"transfer-ENCODING", Special::TransferEncoding),
        ] {
            assert_eq!(Special::of(name), Some(want), "{name:?}");
        }
        for name in [&b"Hosts"[..], b"hos", b"x-host", b"Content-Lengths", b"connectiom", b""] {
            assert!(Special::of(name).is_none(), "{name:?}");
        }
    }

    #[test]
    fn partial_heads_wait() {
        assert_eq!(status(b""), 0);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\n"), 0);
        assert_eq!(status(b"\r\n"), 0);
        assert_eq!(status(b"GET / HTTP/2"), 0);
        assert_eq!(status(b"GET / HTTP/1."), 0);
    }

    #[test]
    fn content_length_rules() {
        let h = |cl: &str| format!("POST / HTTP/1.1\r\nHost: a\r\n{cl}\r\n\r\n");
        assert_eq!(
            parse(h("Content-Length: 005").as_bytes()).unwrap().unwrap().1.framing,
            Framing::Length(5)
        ); // row 9
        for bad in [
            "Content-Length: 5\r\nContent-Length: 10", // row 2
            "Content-Length: 5\r\nContent-Length: 5",  // row 3
            "Content-Length: 5, 5",
            "Content-Length: +5", // row 4
            "Content-Length: -1", // row 5
            "Content-Length: -0",
            "Content-Length: 0x5", // row 6
            "Content-Length: 1_0",
            "Content-Length: 1 0",
            "Content-Length: 5a",
            "Content-Length: ", // row 7
            "Content-Length: \r\nContent-Length: 5",
            "Content-Length: 99999999999999999999999",         // row 8
            "Content-Length: 5\r\nTransfer-Encoding: chunked", // row 1
        ] {
            assert_eq!(status(h(bad).as_bytes()), 400, "{bad:?}");
        }
    }

    #[test]
    fn transfer_encoding_rules() {
        let h = |te: &str| format!("POST / HTTP/1.1\r\nHost: a\r\n{te}\r\n\r\n");
        for ok in [
            "Transfer-Encoding: chunked",
            "Transfer-Encoding: Chunked",
            "Transfer-Encoding: chunked ",
            "Transfer-Encoding: ,chunked",
        ] {
            assert_eq!(
                parse(h(ok).as_bytes()).unwrap().unwrap().1.framing,
                Framing::Chunked,
                "{ok:?}"
            );
        }
        for (bad, want) in [
            ("Transfer-Encoding: chunked, gzip", 400), // row 15
            ("Transfer-Encoding: gzip", 501),          // row 16
            ("Transfer-Encoding: xchunked", 501),
            ("Transfer-Encoding: identity", 501),
            ("Transfer-Encoding: gzip, chunked", 501),
            ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", 400), // row 17
            ("Transfer-Encoding: chunked, chunked", 400),
            ("Transfer-Encoding : chunked", 400),    // row 18
            ("Transfer-Encoding: \x0bchunked", 400), // row 19
            ("Transfer-Encoding: \x0cchunked", 400),
            ("Transfer-Encoding: chunked\x00", 400),
            ("Transfer-Encoding:", 400),             // row 22
            ("Transfer-\r\nEncoding: chunked", 400), // row 25
        ] {
            assert_eq!(status(h(bad).as_bytes()), want, "{bad:?}");
        }
        // Row 19: obs-text around chunked.
        let mut v = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \xa0chunked\xa0\r\n\r\n".to_vec();
        assert_eq!(status(&v), 400);
        v = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x85chunked\r\n\r\n".to_vec();
        assert_eq!(status(&v), 400);
        // Row 23: TE in HTTP/1.0.
        assert_eq!(
            status(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
            400
        );
        // Row 24: Transfer_Encoding is another header; frame by CL.
        let (_, r) = parse(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\nContent-Length: 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.framing, Framing::Length(5));
        assert!(r.header(b"Transfer-Encoding").is_none());
    }

    #[test]
    fn start_line_rules() {
        assert_eq!(status(b"GET / HTTP/1.1\rHost: a\r\n\r\n"), 400); // row 44
        assert_eq!(status(b"GET / HTTP/1.1\nHost: a\n\n"), 400); // row 45
        assert_eq!(status(b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 200); // row 46
        assert_eq!(status(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
        assert_eq!(status(b"\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400); // row 47
        assert_eq!(status(b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET /\nHTTP/1.1\r\n\r\n"), 400); // row 48
        assert_eq!(status(b"G=\":<>(e),[T];?\" /get HTTP/1.1\r\n\r\n"), 400); // row 49
        assert_eq!(status(b"\x00 / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"get / HTTP/1.1\r\nHost: a\r\n\r\n"), 501); // row 50
        assert_eq!(status(b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n"), 501); // row 51
        assert_eq!(status(b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"), 400); // row 54
        assert_eq!(status(b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), 400); // row 55
        assert_eq!(status(b"GET ! HTTP/1.1\r\nHost: a\r\n\r\n"), 400); // row 56
        assert_eq!(status(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
        assert_eq!(status(b"GET host:80 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 501);
    }

    #[test]
    fn absolute_form_overrides_host() {
        // Row 57.
        let (_, r) = parse(b"GET http://x/y?z=1 HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.path().to_bytes(), b"/y");
        assert_eq!(r.query().to_bytes(), b"z=1");
        assert_eq!(r.host().unwrap().to_bytes(), b"x");
        let (_, r) = parse(b"GET HTTPS://x:8443 HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.path().to_bytes(), b"/");
        assert_eq!(status(b"GET ftp://x/y HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET http://u@x/y HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    }

    #[test]
    fn versions() {
        let (_, r) = parse(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n").unwrap().unwrap(); // row 58
        assert_eq!(r.version(), 11);
        assert_eq!(status(b"GET / HTTP/1.9\r\nHost: a\r\n\r\n"), 200);
        assert_eq!(status(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505); // row 59
        assert_eq!(status(b"GET / HTTP/3.0\r\n\r\n"), 505);
        assert_eq!(status(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505);
        for bad in [
            &b"GET / http/1.1\r\n\r\n"[..], // row 60
            b"GET / HTTP/01.01\r\n\r\n",
            b"GET / HTTP/1\r\n\r\n",
            b"GET / HTTP/1.32\r\n\r\n",
            b"GET / HTTP/4294967295.255\r\n\r\n",
            b"GET / HTTP/\r\r1.1\r\n\r\n",
            b"GET /\r\n",
        ] {
            assert_eq!(status(bad), 400, "{:?}", String::from_utf8_lossy(bad));
        }
        let (_, r) = parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap(); // row 71
        assert_eq!(r.version(), 10);
        assert!(!r.keep_alive);
        let (_, r) = parse(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(r.keep_alive);
    }

    #[test]
    fn header_section_rules() {
        let h = |x: &[u8]| {
            let mut v = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
            v.extend_from_slice(x);
            v.extend_from_slice(b"\r\n\r\n");
            status(&v)
        };
        assert_eq!(h(b"X: a\r\n b"), 400); // row 61
        assert_eq!(status(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n"), 400); // row 62
        assert_eq!(h(b": x"), 400); // row 63
        assert_eq!(h(b"Host a"), 400); // row 64
        assert_eq!(h(b"\xefoo: bar"), 400); // row 65
        assert_eq!(h(b"A space: x"), 400);
        assert_eq!(h(b"foo\"bar: x"), 400);
        assert_eq!(h(b"X: va\rlue"), 400); // row 66
        assert_eq!(h(b"X: v\x00al"), 400); // row 67
        assert_eq!(h(b"X: a\x01b"), 400); // row 68
        assert_eq!(h(b"X: a\x7fb"), 400);
        assert_eq!(h(b"User: \x85admin\xa0"), 200); // row 69
        let (_, r) = parse(b"GET / HTTP/1.1\r\nHost: a\r\nUser: \x85admin\xa0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.header(b"user").unwrap().to_bytes(), b"\x85admin\xa0");
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400); // row 70
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: \r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), 200);
        assert_eq!(status(b"GET / HTTP/1.0\r\n\r\n"), 200); // row 71
        assert_eq!(h(b"Expect: foo"), 417); // row 81
        assert_eq!(status(b"GET / HTTP/1.0\r\nExpect: foo\r\n\r\n"), 200);
    }

    #[test]
    fn header_limits() {
        // Row 72: more fields than configured.
        let mut v = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..64 {
            v.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        v.extend_from_slice(b"\r\n");
        assert_eq!(status(&v), 431);
        // Row 73: the byte limit.
        let mut v = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        v.extend(std::iter::repeat_n(b'a', 20000));
        v.extend_from_slice(b"\r\n\r\n");
        assert_eq!(status(&v), 431);
        assert_eq!(too_long(b"GET /aaaaaaaa", 8).status, 414);
        assert_eq!(too_long(b"GET /aaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n", 8).status, 414);
        assert_eq!(
            too_long(b"GET /a HTTP/1.1\r\nHost: aaaaaaaaaaaaaa\r\n\r\n", 24).status,
            431
        );
        assert_eq!(too_long(b"GETGETGETGET", 8).status, 400);
    }

    /// The field array is on the stack up to 64 fields and on the heap
    /// past that: the limit holds exactly either way, and every field
    /// parsed is copied.
    #[test]
    fn header_limits_on_either_side_of_the_stack_array() {
        for max in [1, 3, 64, 65, 200] {
            let lim = HeadLimits {
                max_header_bytes: 1 << 20,
                max_headers: max,
            };
            for fields in [max, max + 1] {
                let mut v = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
                for i in 1..fields {
                    v.extend_from_slice(format!("X-{i}: v{i}\r\n").as_bytes());
                }
                v.extend_from_slice(b"\r\n");
                let mut req = Request::new();
                let r = parse_head(&v, &lim, &is_standard_method, &mut req);
                if fields > max {
                    assert_eq!(r.err().map(|e| e.status), Some(431), "{fields} fields, limit {max}");
                } else {
                    assert_eq!(r.ok().flatten(), Some(v.len()), "{fields} fields, limit {max}");
                    assert_eq!(req.header_count(), fields);
                    if fields > 1 {
                        let last = format!("X-{}", fields - 1);
                        assert_eq!(
                            req.header(last.as_bytes()).map(|c| c.to_bytes().to_vec()),
                            Some(format!("v{}", fields - 1).into_bytes())
                        );
                    }
                }
            }
        }
    }
}
