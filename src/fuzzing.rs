//! Entry points for the `cargo fuzz` targets in `fuzz/` (feature `fuzzing`,
//! not a public API).
//!
//! Each function takes the fuzzer's bytes, drives one part of the library
//! with them and panics when an invariant breaks; a panic anywhere inside
//! (the library's or ours) is what the fuzzer reports. They live in the
//! crate so they can reach `pub(crate)` items without widening the API.
//!
//! | function | drives | checks (besides "no panic, no hang") |
//! |---|---|---|
//! | [`head`] | `parse_head` + framing decision | head bounds, framing agrees with the headers, any prefix of the input gives the same answer (arrival independence), a reused `Request` equals a fresh one |
//! | [`chunked`] | `ChunkedDecoder` | step bounds, data never exceeds input, fed whole == fed in pieces |
//! | [`router`] | `Router::add` / `find` / `url_for` | captures in bounds, 405 `Allow` sane, GET ⇒ HEAD, `url_for` output has no dot segments or unescaped bytes and routes back to its values |
//! | [`decoding`] | percent decoding, form pairs, `valid_percent_escapes`, `Request` query/cookie/form lookups, `normalize_prefix`, `parse_range`, HTTP dates | agreement with small reference implementations |
//! | [`static_path`] | `serve_static` through a router, on a real folder | no file outside the folder is ever served or listed; redirects stay local |
//! | [`conn`] | `conn::serve` over an in-memory stream with a real `Shared` | output is a sequence of well-formed HTTP/1.1 responses; nothing after `Connection: close`; the same statuses whether the bytes arrive at once or in pieces; no timer is ever waited on |
//!
//! Everything here is safe code; inputs that do not fit a target's format
//! are simply ignored.

use std::collections::HashSet;
use std::ffi::CStr;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use smol::io::{AsyncRead, AsyncWrite};

use crate::config::Config;
use crate::exchange::{BodyState, Exchange, Wire};
use crate::files::{normalize_prefix, parse_http_date, parse_range, serve_static, Ranged, StaticMount};
use crate::http::chunked::ChunkedDecoder;
use crate::http::io::{ReadBuf, Stream};
use crate::http::parse::{is_standard_method, parse_head, Framing, HeadError, HeadLimits};
use crate::request::{HeadParts, Request};
use crate::response::Response;
use crate::router::{Handler, Match, Router};
use crate::server::shared::{ConnGuard, LogFn, LogLevel, Shared};
use crate::util::{
    eq_ignore_case, form_pairs, hex_val, is_sub_delim, is_tchar, is_unreserved, parse_decimal, percent_decode_into,
    trim_ows, valid_percent_escapes,
};

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// A small deterministic generator for split points and sizes (xorshift64*),
/// seeded from the input so a crash reproduces from its bytes alone.
use crate::util::XorShift as Rng;

impl Rng {
    /// 1..=max.
    fn size(&mut self, max: usize) -> usize {
        1 + self.below(max)
    }
}

/// Printable ASCII as is, the rest escaped: for assertion messages.
fn esc(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b.iter().take(2000) {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    if b.len() > 2000 {
        s.push_str(&format!("...({} bytes)", b.len()));
    }
    s
}

fn split_first(data: &[u8]) -> (u8, &[u8]) {
    match data {
        [first, rest @ ..] => (*first, rest),
        [] => (0, &[]),
    }
}

/// Reference percent-decoder (written differently from the library's).
fn ref_decode(src: &[u8], plus: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some((&b, tail)) = rest.split_first() {
        if let [b'%', h, l, ..] = rest {
            if let (Some(h), Some(l)) = (hex_val(*h), hex_val(*l)) {
                out.push(h * 16 + l);
                rest = &rest[3..];
                continue;
            }
        }
        out.push(if plus && b == b'+' { b' ' } else { b });
        rest = tail;
    }
    out
}

fn decode(src: &[u8], plus: bool) -> Vec<u8> {
    let mut out = Vec::new();
    percent_decode_into(src, plus, &mut out);
    out
}

/// What a C caller sees of a decoded string: up to the first NUL.
fn until_nul(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |i| &b[..i])
}

// ---------------------------------------------------------------------------
// 1. Request head parser and framing decision
// ---------------------------------------------------------------------------

/// Everything a parsed request exposes, for comparisons.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    method: Vec<u8>,
    path: Vec<u8>,
    query: Vec<u8>,
    host: Option<Vec<u8>>,
    version: u8,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    framing: Framing,
    keep_alive: bool,
    expect_continue: bool,
    param_x: Option<Vec<u8>>,
    query_a: Option<Vec<u8>>,
    cookie_a: Option<Vec<u8>>,
}

fn snapshot(r: &mut Request) -> Snapshot {
    Snapshot {
        method: r.method_bytes().to_vec(),
        path: r.path_bytes().to_vec(),
        query: r.query_bytes().to_vec(),
        host: r.host().map(|h| h.to_bytes().to_vec()),
        version: r.version(),
        headers: (0..r.header_count())
            .filter_map(|i| r.header_at(i))
            .map(|(n, v)| (n.to_bytes().to_vec(), v.to_bytes().to_vec()))
            .collect(),
        framing: r.framing,
        keep_alive: r.keep_alive,
        expect_continue: r.expect_continue,
        param_x: r.param(b"x").map(|v| v.to_bytes().to_vec()),
        query_a: r.query_param(b"a").map(|v| v.to_bytes().to_vec()),
        cookie_a: r.cookie(b"a").map(|v| v.to_bytes().to_vec()),
    }
}

/// Head parser: `parse_head` with the server's default limits (or small
/// ones, first byte bit 0; bit 1 adds a custom method), then:
///
/// - a complete head ends with CRLF CRLF inside the input and the limit,
///   with a known method, a valid target and version;
/// - the framing decision agrees with the Content-Length /
///   Transfer-Encoding headers (checked independently here);
/// - any prefix of the input gives "need more", or the same answer as the
///   whole input (the reaction cannot depend on how the bytes arrive);
/// - a `Request` reused from an earlier request reads exactly like a fresh
///   one (no stale headers, parameters, query or cookie caches).
pub fn head(data: &[u8]) {
    let (flags, input) = split_first(data);
    let lim = if flags & 1 == 0 {
        HeadLimits::of(&Config::default())
    } else {
        HeadLimits {
            max_header_bytes: 256,
            max_headers: 4,
        }
    };
    let custom = flags & 2 != 0;
    let known = move |m: &[u8]| is_standard_method(m) || (custom && m == b"PROPFIND");

    let mut fresh = Request::new();
    let full = parse_head(input, &lim, &known, &mut fresh);
    match &full {
        Ok(Some(n)) => check_parsed_head(input, *n, &lim, &known, &mut fresh),
        Ok(None) => {}
        Err(e) => assert!(
            matches!(e.status, 400 | 414 | 417 | 431 | 501 | 505),
            "unexpected status {} for {}",
            e.status,
            esc(input)
        ),
    }

    // Arrival independence: the reaction to a prefix is "wait" or final.
    let mut points: Vec<usize> = input
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    if points.len() > 24 {
        let step = points.len() / 24 + 1;
        points = points.into_iter().step_by(step).collect();
    }
    // Where packets tend to end in the request line: around spaces and CRs.
    let line_end = input.iter().position(|&b| b == b'\n').unwrap_or(input.len()).min(256);
    points.extend(
        (1..=line_end)
            .filter(|&k| matches!(input[k - 1], b' ' | b'\r') || input.get(k) == Some(&b' '))
            .take(16),
    );
    let mut rng = Rng::new(input.len() as u64 ^ u64::from(flags) << 32);
    for _ in 0..4 {
        points.push(rng.size(input.len() + 1) - 1);
    }
    for k in points {
        let mut r = Request::new();
        let part = parse_head(&input[..k], &lim, &known, &mut r);
        let same = |a: &Result<Option<usize>, HeadError>, b: &Result<Option<usize>, HeadError>| match (a, b) {
            (Ok(x), Ok(y)) => x == y,
            (Err(x), Err(y)) => x.status == y.status,
            _ => false,
        };
        let ok = match (&part, &full) {
            (Ok(None), Ok(Some(n))) => k < *n,
            (Ok(None), _) => true,
            (p, f) => same(p, f),
        };
        assert!(
            ok,
            "prefix of {k} bytes gives {part:?}, whole input {full:?}: {}",
            esc(input)
        );
    }

    // A reused request object reads like a fresh one.
    if let Ok(Some(_)) = full {
        let mut reused = Request::new();
        let prev =
            b"POST /p/q?a=old&b=2 HTTP/1.1\r\nHost: old\r\nCookie: a=old\r\nX-Old: 1\r\nContent-Length: 3\r\n\r\n";
        let roomy = HeadLimits {
            max_header_bytes: 1024,
            max_headers: 8,
        };
        if let Ok(Some(_)) = parse_head(prev, &roomy, &is_standard_method, &mut reused) {
            reused.push_param_from_path("x", 1..2);
            let _ = reused.query_param(b"a");
            let _ = reused.cookie(b"a");
        }
        let again = parse_head(input, &lim, &known, &mut reused);
        assert_eq!(again, full, "reused request parsed differently: {}", esc(input));
        assert_eq!(
            snapshot(&mut reused),
            snapshot(&mut fresh),
            "reused request differs from a fresh one: {}",
            esc(input)
        );
    }
}

fn check_parsed_head(input: &[u8], n: usize, lim: &HeadLimits, known: &dyn Fn(&[u8]) -> bool, req: &mut Request) {
    let ctx = || esc(input);
    assert!(
        n <= input.len() && n <= lim.max_header_bytes,
        "head length {n}: {}",
        ctx()
    );
    assert!(
        input[..n].ends_with(b"\r\n\r\n"),
        "head does not end with CRLF CRLF: {}",
        ctx()
    );
    let method = req.method_bytes().to_vec();
    assert!(
        known(&method) && method != b"CONNECT",
        "method {}: {}",
        esc(&method),
        ctx()
    );
    let path = req.path_bytes().to_vec();
    let query = req.query_bytes().to_vec();
    assert!(
        path.starts_with(b"/") || (path == b"*" && method == b"OPTIONS"),
        "path {}: {}",
        esc(&path),
        ctx()
    );
    for part in [&path, &query] {
        assert!(
            part.iter()
                .all(|&b| (0x21..=0x7e).contains(&b) && !b"#\"<>\\".contains(&b)),
            "target byte: {}",
            ctx()
        );
        assert!(valid_percent_escapes(part), "bad escape in target: {}", ctx());
    }
    assert!(!path.contains(&b'?'), "'?' left in the path: {}", ctx());
    let version = req.version();
    assert!(version == 10 || version == 11, "version {version}: {}", ctx());
    let count = req.header_count();
    assert!(count <= lim.max_headers, "{count} headers: {}", ctx());
    let headers: Vec<(Vec<u8>, Vec<u8>)> = (0..count)
        .filter_map(|i| req.header_at(i))
        .map(|(n, v)| (n.to_bytes().to_vec(), v.to_bytes().to_vec()))
        .collect();
    assert_eq!(headers.len(), count, "header_at out of step with header_count");
    for (name, value) in &headers {
        assert!(
            !name.is_empty() && name.iter().all(|&b| is_tchar(b)),
            "header name: {}",
            ctx()
        );
        assert!(
            value.iter().all(|&b| b == b'\t' || b >= 0x20 && b != 0x7f),
            "control byte in a header value: {}",
            ctx()
        );
    }

    // Framing, derived again from the header list.
    fn named<'h>(headers: &'h [(Vec<u8>, Vec<u8>)], n: &'static [u8]) -> impl Iterator<Item = &'h (Vec<u8>, Vec<u8>)> {
        headers.iter().filter(move |(h, _)| eq_ignore_case(h, n))
    }
    let named = |n: &'static [u8]| named(&headers, n);
    let cls: Vec<&Vec<u8>> = named(b"content-length").map(|(_, v)| v).collect();
    let tes: Vec<&Vec<u8>> = named(b"transfer-encoding").map(|(_, v)| v).collect();
    match req.framing {
        Framing::Chunked => {
            assert!(cls.is_empty() && version == 11, "chunked with CL or in 1.0: {}", ctx());
            let codings: Vec<&[u8]> = tes
                .iter()
                .flat_map(|v| v.split(|&b| b == b','))
                .map(trim_ows)
                .filter(|c| !c.is_empty())
                .collect();
            assert!(
                codings.len() == 1 && eq_ignore_case(codings[0], b"chunked"),
                "chunked framing from {:?}: {}",
                codings,
                ctx()
            );
        }
        Framing::Length(len) => {
            assert!(tes.is_empty() && cls.len() == 1 && len > 0, "length framing: {}", ctx());
            assert_eq!(parse_decimal(cls[0]), Some(len), "Content-Length value: {}", ctx());
        }
        Framing::None => {
            assert!(tes.is_empty() && cls.len() <= 1, "no framing: {}", ctx());
            if let Some(v) = cls.first() {
                assert_eq!(parse_decimal(v), Some(0), "no framing but CL: {}", ctx());
            }
        }
    }
    let hosts = named(b"host").count();
    assert!(
        hosts <= 1 && (version == 10 || hosts == 1),
        "Host count {hosts}: {}",
        ctx()
    );
    if req.expect_continue {
        assert!(version == 11, "100-continue in 1.0: {}", ctx());
    }
    let conn_close =
        named(b"connection").any(|(_, v)| v.split(|&b| b == b',').any(|o| eq_ignore_case(trim_ows(o), b"close")));
    if conn_close || (version == 10 && named(b"connection").next().is_none()) {
        assert!(!req.keep_alive, "keep-alive despite close / HTTP/1.0: {}", ctx());
    }
}

// ---------------------------------------------------------------------------
// 2. Chunked decoder
// ---------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
enum ChunkOutcome {
    /// The body ended after this many input bytes.
    Done(usize),
    /// The input ran out first.
    NeedMore,
    /// Refused with this status.
    Failed(u16),
}

/// Feeds `input` to a decoder as a connection does: `avail` bytes have
/// arrived, `decode` sees what is not consumed yet, and more arrives when a
/// step consumes nothing or everything. `sizes` gives each arrival's size
/// and each step's `max_data`.
fn run_chunked(
    input: &[u8],
    mut arrival: impl FnMut() -> usize,
    mut max_data: impl FnMut() -> usize,
) -> (Vec<u8>, ChunkOutcome) {
    let mut d = ChunkedDecoder::new();
    let mut body = Vec::new();
    let mut pos = 0;
    let mut avail = arrival().min(input.len());
    let mut steps = 0usize;
    loop {
        steps += 1;
        assert!(steps <= 4 * input.len() + 16, "decoder makes no progress");
        let window = &input[pos..avail];
        let max = max_data().max(1);
        let before = d.pending_chunk();
        match d.decode(window, max) {
            Ok(r) => {
                assert!(r.consumed <= window.len(), "consumed past the input");
                assert!(
                    r.data.start <= r.data.end && r.data.end <= r.consumed,
                    "data outside consumed bytes"
                );
                assert!(r.data.len() <= max, "more data than max_data");
                if !r.data.is_empty() {
                    assert_eq!(r.data.end, r.consumed, "bytes consumed after the data");
                    if let Some(p) = before {
                        assert!(r.data.len() as u64 <= p, "data beyond the chunk");
                    }
                }
                if let Some(p) = d.pending_chunk() {
                    assert!(p > 0, "pending chunk of 0 bytes");
                }
                body.extend_from_slice(&window[r.data.clone()]);
                pos += r.consumed;
                if d.is_done() {
                    let again = d.decode(&input[pos..avail], max).expect("decode after the end");
                    assert_eq!(again.consumed, 0, "consumed after the end");
                    return (body, ChunkOutcome::Done(pos));
                }
                if r.consumed == 0 || pos == avail {
                    if avail == input.len() {
                        return (body, ChunkOutcome::NeedMore);
                    }
                    avail = avail.saturating_add(arrival()).min(input.len());
                }
            }
            Err(e) => {
                assert!(matches!(e.status, 400 | 431), "chunk error status {}", e.status);
                return (body, ChunkOutcome::Failed(e.status));
            }
        }
    }
}

/// Chunked decoder: the first byte picks `max_data` (0: unlimited), the
/// second seeds the split points; the rest is the body. The result fed
/// whole must equal the result fed in pieces with small `max_data`, and the
/// data returned never exceeds the input.
pub fn chunked(data: &[u8]) {
    let (max_sel, rest) = split_first(data);
    let (split_seed, input) = split_first(rest);
    let (whole_body, whole) = run_chunked(input, || usize::MAX, || usize::MAX);
    let mut rng = Rng::new(u64::from(split_seed) << 8 | u64::from(max_sel));
    let mut rng2 = Rng::new(u64::from(max_sel).wrapping_mul(0x9e37_79b9) ^ input.len() as u64);
    let piece = 1 + usize::from(split_seed % 32);
    let (split_body, split) = run_chunked(
        input,
        || if split_seed == 0 { 1 } else { rng.size(piece) },
        || {
            if max_sel == 0 {
                usize::MAX
            } else {
                rng2.size(usize::from(max_sel))
            }
        },
    );
    assert!(whole_body.len() <= input.len(), "more data than input");
    assert_eq!(whole, split, "whole vs split outcome for {}", esc(input));
    match whole {
        // A failure may come at a different data offset only if the split
        // run stopped earlier; both saw the same bytes up to the error.
        ChunkOutcome::Failed(_) => {
            let n = whole_body.len().min(split_body.len());
            assert_eq!(whole_body[..n], split_body[..n], "data differs before the error");
        }
        _ => assert_eq!(whole_body, split_body, "whole vs split data for {}", esc(input)),
    }
}

// ---------------------------------------------------------------------------
// 3. Router
// ---------------------------------------------------------------------------

/// Routes every router target starts with (so pure lookups hit something).
const BASE_ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/files/{path...}"),
    ("GET", "/files/{id}"),
    ("GET", "/files/special"),
    ("POST", "/u/{id}"),
    ("*", "/any/{a}/{b}"),
    ("DELETE", "/u/{id}/x"),
    ("PROPFIND", "/dav/{rest...}"),
    ("GET", "/hello%20world"),
    ("GET", "/a/"),
    ("GET", "/{x}/{y}/z"),
];

struct Route {
    method: Option<String>,
    pattern: String,
    name: String,
    handler: Handler,
}

fn dummy_handler() -> Handler {
    Arc::new(|_| true)
}

/// Router: the input is lines. `+METHOD PATTERN` adds a route (named
/// `rN`; `*` for any method), `?METHOD PATH` looks a path up, and
/// `=NAME\tkey\tvalue...` builds a URL. After the base routes and the added
/// ones, checks:
///
/// - captures lie inside the path, in order, without '/' for `{name}`;
/// - a 405's `Allow` is non-empty and never lists the method asked;
/// - whatever GET finds, HEAD finds too;
/// - `url_for` output starts with '/', has no dot segment and no byte
///   outside `unreserved / sub-delims / : @ / %` that the pattern itself
///   does not contain, and looking it up finds a route; when it finds the
///   same route the decoded captures are the values given. Every capture
///   found is also round-tripped this way.
pub fn router(data: &[u8]) {
    let mut r = Router::new();
    let mut routes: Vec<Route> = Vec::new();
    fn add(r: &mut Router, routes: &mut Vec<Route>, m: &str, p: &str) {
        let handler = dummy_handler();
        let name = format!("r{}", routes.len());
        let method = if m == "*" { None } else { Some(m) };
        if r.add(method, p, handler.clone(), Some(&name)).is_ok() {
            routes.push(Route {
                method: method.map(str::to_owned),
                pattern: p.to_owned(),
                name,
                handler,
            });
        }
    }
    for (m, p) in BASE_ROUTES {
        add(&mut r, &mut routes, m, p);
    }
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').take(256).collect();
    for line in &lines {
        if let [b'+', rest @ ..] = line {
            if routes.len() >= 64 {
                continue;
            }
            let text = String::from_utf8_lossy(rest);
            let (m, p) = text.split_once(' ').unwrap_or(("GET", &*text));
            add(&mut r, &mut routes, m, p);
        }
    }
    for line in &lines {
        match line {
            [b'?', rest @ ..] => {
                let (m, p) = match rest.iter().position(|&b| b == b' ') {
                    Some(i) => (&rest[..i], &rest[i + 1..]),
                    None => (&b"GET"[..], rest),
                };
                let m = String::from_utf8_lossy(m);
                check_find(&r, &routes, &m, p);
            }
            [b'=', rest @ ..] => {
                let text = String::from_utf8_lossy(rest);
                let mut parts = text.split('\t');
                let name = parts.next().unwrap_or_default();
                let rest: Vec<&str> = parts.collect();
                let params: Vec<(&str, &str)> = rest.chunks(2).map(|c| (c[0], *c.get(1).unwrap_or(&""))).collect();
                if let Some(route) = routes.iter().find(|x| x.name == name) {
                    check_url_for(&r, &routes, route, &params);
                } else {
                    assert!(r.url_for(name, &params).is_err(), "url_for of an unknown route");
                }
            }
            _ => {}
        }
    }
}

fn route_of<'a>(routes: &'a [Route], h: &Handler) -> &'a Route {
    routes
        .iter()
        .find(|x| Arc::ptr_eq(&x.handler, h))
        .expect("find returned a handler that was never registered")
}

fn check_find(r: &Router, routes: &[Route], method: &str, path: &[u8]) {
    let ctx = || format!("{method} {}", esc(path));
    match r.find(method, path) {
        Match::Found { handler, params } => {
            let route = route_of(routes, handler);
            let mut last_end = 0;
            let names: Vec<&str> = params.iter().map(|(n, _)| *n).collect();
            for (name, range) in &params {
                assert!(
                    range.start <= range.end && range.end <= path.len() && range.start >= last_end,
                    "capture {name} {range:?} out of place: {}",
                    ctx()
                );
                last_end = range.end;
                let rest = route.pattern.contains(&format!("{{{name}...}}"));
                if rest {
                    assert_eq!(range.end, path.len(), "rest capture short: {}", ctx());
                } else {
                    assert!(
                        !range.is_empty() && !path[range.clone()].contains(&b'/'),
                        "bad {{{name}}} capture: {}",
                        ctx()
                    );
                }
            }
            assert!(
                names.iter().enumerate().all(|(i, n)| !names[..i].contains(n)),
                "duplicate capture names: {}",
                ctx()
            );
            if method == "GET" {
                assert!(
                    matches!(r.find("HEAD", path), Match::Found { .. }),
                    "GET found but HEAD not: {}",
                    ctx()
                );
            }
            // Round trip through url_for with the decoded captures.
            let decoded: Vec<(String, String)> = params
                .iter()
                .filter_map(|(n, range)| {
                    String::from_utf8(decode(&path[range.clone()], false))
                        .ok()
                        .map(|v| (n.to_string(), v))
                })
                .collect();
            if decoded.len() == params.len() {
                let p: Vec<(&str, &str)> = decoded.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                check_url_for(r, routes, route, &p);
            }
        }
        Match::MethodNotAllowed(allow) => {
            assert!(!allow.is_empty(), "405 with an empty Allow: {}", ctx());
            let listed: Vec<&str> = allow.split(", ").collect();
            assert!(
                !listed.contains(&method),
                "405 lists the method asked: {allow} for {}",
                ctx()
            );
            assert!(listed.iter().all(|m| is_tchar_str(m)), "Allow {allow:?}: {}", ctx());
        }
        Match::NotFound => {}
    }
}

fn is_tchar_str(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

fn check_url_for(r: &Router, routes: &[Route], route: &Route, params: &[(&str, &str)]) {
    let Ok(url) = r.url_for(&route.name, params) else {
        return;
    };
    let ctx = || format!("url_for({}, {params:?}) = {url:?} for {}", route.name, route.pattern);
    assert!(url.starts_with('/'), "{}", ctx());
    let literal_segs: Vec<&str> = route.pattern.split('/').collect();
    for seg in url.split('/') {
        if seg == "." || seg == ".." {
            assert!(literal_segs.contains(&seg), "dot segment: {}", ctx());
        }
    }
    for b in url.bytes() {
        let ok = is_unreserved(b) || is_sub_delim(b) || matches!(b, b':' | b'@' | b'/' | b'%');
        assert!(
            ok || route.pattern.as_bytes().contains(&b),
            "unescaped byte {b:#x}: {}",
            ctx()
        );
    }
    let method = route.method.as_deref().unwrap_or("GET");
    match r.find(method, url.as_bytes()) {
        Match::Found { handler, params: caps } => {
            if Arc::ptr_eq(handler, &route.handler) {
                for (name, range) in caps {
                    let given = params.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
                    let got = decode(&url.as_bytes()[range], false);
                    assert_eq!(Some(&got[..]), given.map(str::as_bytes), "capture {name}: {}", ctx());
                }
            } else {
                // Another route takes priority (a literal over a parameter).
                let _ = route_of(routes, handler);
            }
        }
        other => panic!(
            "url_for output does not route: {} ({})",
            ctx(),
            match other {
                Match::MethodNotAllowed(a) => format!("405 {a}"),
                _ => "404".into(),
            }
        ),
    }
}

// ---------------------------------------------------------------------------
// 4. Decoding helpers, prefixes, ranges, dates
// ---------------------------------------------------------------------------

/// Percent decoding and friends. The input is used whole as an encoded
/// string, a query string, a cookie header, a form body, a mount prefix,
/// a Range header and an HTTP date; each result is compared with a
/// reference implementation or checked for its invariants.
pub fn decoding(data: &[u8]) {
    // valid_percent_escapes: every '%' starts %XX.
    let valid = data
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'%')
        .all(|(i, _)| data.len() > i + 2 && hex_val(data[i + 1]).is_some() && hex_val(data[i + 2]).is_some());
    assert_eq!(
        valid_percent_escapes(data),
        valid,
        "valid_percent_escapes({})",
        esc(data)
    );

    for plus in [false, true] {
        let got = decode(data, plus);
        assert_eq!(got, ref_decode(data, plus), "percent decode ({plus}) of {}", esc(data));
        assert!(got.len() <= data.len(), "decoding grew the input");
    }
    // Encoding everything then decoding gives the input back.
    let mut enc = Vec::with_capacity(data.len() * 3);
    for (i, &b) in data.iter().enumerate() {
        enc.extend_from_slice(
            if i % 2 == 0 {
                format!("%{b:02X}")
            } else {
                format!("%{b:02x}")
            }
            .as_bytes(),
        );
    }
    assert_eq!(decode(&enc, true), data, "decode(encode(x)) != x");

    // form_pairs: split on '&', skip empties, split at the first '='.
    let pairs: Vec<(&[u8], &[u8])> = form_pairs(data).collect();
    let parts: Vec<&[u8]> = data.split(|&b| b == b'&').filter(|p| !p.is_empty()).collect();
    assert_eq!(pairs.len(), parts.len(), "form pair count for {}", esc(data));
    for ((n, v), part) in pairs.iter().zip(&parts) {
        assert!(
            !n.contains(&b'=') && !n.contains(&b'&') && !v.contains(&b'&'),
            "form pair split"
        );
        let mut joined = n.to_vec();
        if n.len() < part.len() {
            joined.push(b'=');
            joined.extend_from_slice(v);
        }
        assert_eq!(&joined[..], *part, "form pair does not rebuild its part");
    }

    check_request_lookups(data, &pairs);

    // normalize_prefix: canonical, idempotent.
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = normalize_prefix(&text) {
        assert!(p.starts_with('/'), "prefix {p:?}");
        assert!(
            p == "/" || (!p.ends_with('/') && !p.contains("//")),
            "prefix {p:?} from {text:?}"
        );
        assert!(
            p.split('/')
                .all(|s| s != "." && s != ".." && !s.contains(['%', '{', '}', '?', '#', '\\'])),
            "prefix {p:?} from {text:?}"
        );
        assert_eq!(
            normalize_prefix(&p).ok(),
            Some(p.clone()),
            "normalize_prefix not idempotent"
        );
    }

    // parse_range against lengths taken from the input.
    let len = data.iter().take(8).fold(0u64, |a, &b| a << 8 | u64::from(b)) >> (data.first().unwrap_or(&0) % 64);
    for l in [len, 0, 1, 1000, u64::MAX] {
        match parse_range(data, l) {
            Ranged::Part(a, b) => assert!(a <= b && b < l, "range {a}-{b} of {l} from {}", esc(data)),
            Ranged::Full | Ranged::Unsatisfiable => {}
        }
    }

    // HTTP dates: what we print we parse back; what we parse is in range.
    if let Some(t) = parse_http_date(data) {
        assert!(t <= 253_402_300_800, "date {t} past year 9999");
    }
    let t = len % 253_402_300_800;
    let printed = crate::http::date::imf_fixdate(t);
    assert_eq!(parse_http_date(&printed), Some(t), "date round trip of {t}");

    let _ = crate::files::mime_for_path(&text);
}

/// `Request` lookups over a head filled straight from bytes (no parser in
/// the way): query parameters and form fields equal the first pair with
/// that decoded name, decoded and cut at NUL; cookies are pieces of the
/// Cookie header without ';'.
fn check_request_lookups(data: &[u8], pairs: &[(&[u8], &[u8])]) {
    let headers = [
        httparse::Header {
            name: "Host",
            value: b"a",
        },
        httparse::Header {
            name: "Cookie",
            value: data,
        },
        httparse::Header {
            name: "Content-Type",
            value: b"application/x-www-form-urlencoded",
        },
    ];
    let mut req = Request::new();
    req.fill(&HeadParts {
        method: b"POST",
        path: b"/",
        query: data,
        host: None,
        version: 11,
        headers: &headers,
        framing: Framing::None,
        expect_continue: false,
        keep_alive: true,
    });
    req.body = data.to_vec();
    req.body.push(0);
    req.body_loaded = true;
    assert!(req.is_form());
    for (n, _) in pairs.iter().take(16) {
        let name = decode(n, true);
        let want = pairs
            .iter()
            .find(|(n2, _)| decode(n2, true) == name)
            .map(|(_, v)| decode(v, true));
        let want = want.as_deref().map(until_nul);
        let got = req.query_param(&name).map(|c| c.to_bytes().to_vec());
        assert_eq!(got.as_deref(), want, "query_param({}) of {}", esc(&name), esc(data));
        let got = req.form_value(&name).map(|c| c.to_bytes().to_vec());
        assert_eq!(got.as_deref(), want, "form_value({}) of {}", esc(&name), esc(data));
    }
    for item in data.split(|&b| b == b';').take(16) {
        let item = trim_ows(item);
        let Some(eq) = item.iter().position(|&b| b == b'=') else {
            continue;
        };
        let name = trim_ows(&item[..eq]);
        if name.is_empty() {
            continue;
        }
        let got = req.cookie(name).map(|c| c.to_bytes().to_vec());
        let got = got.expect("a cookie present in the header is not found");
        assert!(!got.contains(&b';'), "cookie value with ';'");
        assert!(
            data.windows(got.len().max(1)).any(|w| w == &got[..]) || got.is_empty(),
            "cookie value not from the header"
        );
    }
}

// ---------------------------------------------------------------------------
// 5. Static files: path resolution stays inside the folder
// ---------------------------------------------------------------------------

/// The folder tree the static target serves, made once per process:
///
/// ```text
/// base/secret.txt, base/outside/secret-outside.txt, base/rootx/rootx-secret.txt
/// base/root/{index.html, a.txt, a.txt.gz, a.txt.br, sp ace.txt, sub/b.txt,
///            sub2/index.html, in_link -> a.txt, out_link -> ../secret.txt,
///            out_dir -> ../outside, sib -> ../rootx, loop -> loop}
/// ```
struct Tree {
    root: PathBuf,
    /// Inodes of the files outside the root.
    secrets: Vec<u64>,
}

fn tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| {
        let base = std::env::temp_dir().join("microroute-fuzz-static-v1");
        let root = base.join("root");
        let write = |p: &Path, s: &str| {
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir).expect("create fuzz folder");
            }
            if std::fs::read(p).ok().as_deref() != Some(s.as_bytes()) {
                std::fs::write(p, s).expect("write fuzz file");
            }
        };
        let link = |target: &str, at: &str| match std::os::unix::fs::symlink(target, root.join(at)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => panic!("symlink {at}: {e}"),
        };
        write(&base.join("secret.txt"), "TOP-SECRET-1\n");
        write(&base.join("outside/secret-outside.txt"), "TOP-SECRET-2\n");
        write(&base.join("rootx/rootx-secret.txt"), "TOP-SECRET-3\n");
        write(&root.join("index.html"), "<p>index</p>\n");
        write(&root.join("a.txt"), "aaaa\n");
        write(&root.join("a.txt.gz"), "gz\n");
        write(&root.join("a.txt.br"), "br\n");
        write(&root.join("sp ace.txt"), "space\n");
        write(&root.join("sub/b.txt"), "bbbb\n");
        write(&root.join("sub2/index.html"), "<p>sub2</p>\n");
        link("a.txt", "in_link");
        link("../secret.txt", "out_link");
        link("../outside", "out_dir");
        link("../rootx", "sib");
        link("loop", "loop");
        let secrets = ["secret.txt", "outside/secret-outside.txt", "rootx/rootx-secret.txt"]
            .iter()
            .map(|p| std::fs::metadata(base.join(p)).expect("secret file").ino())
            .collect();
        Tree { root, secrets }
    })
}

const STATIC_PREFIXES: [&str; 3] = ["/", "/static", "/a/b"];

/// Routers with one mount each, as `Server::static_dir` builds them:
/// index = flags (0..8) + 8 * prefix + 24 * spa_fallback.
fn static_routers() -> &'static Vec<Router> {
    static ROUTERS: OnceLock<Vec<Router>> = OnceLock::new();
    ROUTERS.get_or_init(|| {
        let root = tree().root.to_str().expect("UTF-8 temp path").to_owned();
        let mut all = Vec::new();
        for spa in [None, Some("index.html")] {
            for prefix in STATIC_PREFIXES {
                for flags in 0..8 {
                    let prefix = normalize_prefix(prefix).expect("prefix");
                    let mount =
                        Arc::new(StaticMount::new(&prefix, &root, flags, Some("no-cache"), spa).expect("mount"));
                    let handler: Handler = Arc::new(move |ex: &mut Exchange<'_>| serve_static(&mount, ex));
                    let mut r = Router::new();
                    let rest = if prefix == "/" {
                        "/{path...}".to_owned()
                    } else {
                        format!("{prefix}/{{path...}}")
                    };
                    r.add(Some("GET"), &rest, handler.clone(), None).expect("rest route");
                    if prefix != "/" {
                        r.add(Some("GET"), &prefix, handler, None).expect("prefix route");
                    }
                    all.push(r);
                }
            }
        }
        all
    })
}

/// A `Shared` for running handlers outside a connection.
fn plain_shared() -> &'static Arc<Shared> {
    static SHARED: OnceLock<Arc<Shared>> = OnceLock::new();
    SHARED.get_or_init(|| Arc::new(Shared::plain()))
}

/// Static files: the first byte picks the mount flags (bits 0-2), prefix
/// (bits 3-4), SPA fallback (bit 5), HEAD instead of GET (bit 6) and
/// `Accept-Encoding: gzip, br` (bit 7); the rest is the request target.
/// The request goes through the parser and the mount's routes into
/// `serve_static`. A file served is never one of the secrets outside the
/// folder (unless the mount follows links and the path names a link), a
/// listing never shows them, and a redirect stays on this host.
pub fn static_path(data: &[u8]) {
    let Some(o) = static_request(data) else {
        return;
    };
    let target = &data[1..];
    assert!(
        o.via_link || !o.secret_served,
        "served a file outside the folder for {} (flags {}, prefix {})",
        esc(target),
        o.flags,
        o.prefix
    );
    let text = String::from_utf8_lossy(&o.out);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    assert!(
        o.via_link || !body.contains("secret"),
        "listed or sent something outside the folder for {}: {}",
        esc(target),
        esc(&o.out)
    );
    for line in text.split("\r\n") {
        if line.len() > 9 && line[..9].eq_ignore_ascii_case("location:") {
            let loc = line[9..].trim();
            assert!(
                loc.starts_with('/') && !loc.starts_with("//") && !loc.contains('\\'),
                "redirect off this host: {loc:?} for {}",
                esc(target)
            );
        }
    }
    // A file's body is not in `out`: only its head is.
    check_responses(&o.out, o.file).unwrap_or_else(|e| panic!("{e}\nfor {}", esc(target)));
}

/// What one static request did.
struct StaticOutcome {
    flags: u32,
    prefix: &'static str,
    /// The mount follows links and the path names one leading out.
    via_link: bool,
    /// The file set up for sending is one of the secrets outside the folder.
    secret_served: bool,
    /// A file body is set up (not in `out`).
    file: bool,
    /// The serialised response (head, and the body unless it is a file).
    out: Vec<u8>,
}

/// Runs the request of [`static_path`]; None when it does not parse or
/// reach the mount.
fn static_request(data: &[u8]) -> Option<StaticOutcome> {
    let (sel, target) = split_first(data);
    let flags = u32::from(sel & 7);
    let prefix = usize::from((sel >> 3) & 3) % 3;
    let spa = usize::from((sel >> 5) & 1);
    let method: &[u8] = if sel & 0x40 != 0 { b"HEAD" } else { b"GET" };
    let mut raw = Vec::with_capacity(target.len() + 64);
    raw.extend_from_slice(method);
    raw.push(b' ');
    raw.extend_from_slice(target);
    raw.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n");
    if sel & 0x80 != 0 {
        raw.extend_from_slice(b"Accept-Encoding: gzip, br\r\n");
    }
    raw.extend_from_slice(b"\r\n");
    let lim = HeadLimits {
        max_header_bytes: 16 * 1024,
        max_headers: 64,
    };
    let mut req = Request::new();
    if !matches!(parse_head(&raw, &lim, &is_standard_method, &mut req), Ok(Some(_))) {
        return None;
    }
    let tree = tree();
    let router = &static_routers()[usize::from(sel & 7) + 8 * prefix + 24 * spa];
    let path = req.path_bytes().to_vec();
    let Match::Found { handler, params } = router.find(std::str::from_utf8(method).unwrap_or("GET"), &path) else {
        return None;
    };
    for (name, range) in params {
        req.push_param_from_path(name, range);
    }
    let handler = handler.clone();

    let shared = plain_shared();
    let mut resp = Response::new();
    resp.reset(req.version(), method == b"HEAD", req.keep_alive);
    let mut body = BodyState::default();
    body.reset(req.framing, req.expect_continue);
    let mut rbuf = ReadBuf::default();
    let mut stream = MemStream::new(&[], Schedule::default());
    let mut wbuf = Vec::new();
    let ok = {
        let mut ex = Exchange {
            req: &mut req,
            resp: &mut resp,
            body: &mut body,
            rbuf: &mut rbuf,
            wire: Wire {
                io: &mut stream,
                wbuf: &mut wbuf,
                write_timeout: Duration::from_secs(1),
                broken: false,
            },
            cfg: &shared.cfg,
            poison: None,
            handoff: None,
            shared,
        };
        handler(&mut ex)
    };
    assert!(ok, "serve_static failed for {}", esc(target));
    assert!(wbuf.is_empty() && stream.output.is_empty(), "serve_static wrote early");
    let mut out = Vec::new();
    resp.finish(&mut out);
    let file = resp.take_file();

    let decoded = decode(&path, false);
    let via_link = flags & crate::files::static_flags::FOLLOW_SYMLINKS != 0
        && decoded
            .split(|&b| b == b'/')
            .any(|s| s.starts_with(b"out_") || s == b"sib");
    let secret_served = file.as_ref().is_some_and(|f| {
        let ino = f.file.metadata().expect("metadata of a served file").ino();
        tree.secrets.contains(&ino)
    });
    Some(StaticOutcome {
        flags,
        prefix: STATIC_PREFIXES[prefix],
        via_link,
        secret_served,
        file: file.is_some(),
        out,
    })
}

// ---------------------------------------------------------------------------
// 6. A whole connection over an in-memory stream
// ---------------------------------------------------------------------------

/// How the in-memory stream hands out bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Schedule {
    /// 0: as much as asked; 1: one byte per read; n: 1..=n bytes per read.
    read_max: u8,
    /// Every other read (and write) is `Pending` first, with an immediate wake.
    pending: bool,
    /// Writes take at most this many bytes (0: all).
    write_max: u8,
    /// Writes fail after this many bytes went out (None: never).
    write_limit: Option<usize>,
}

/// An in-memory [`Stream`]: reads hand out `input` per the schedule, then
/// EOF forever; writes are collected in `output`.
struct MemStream {
    input: Vec<u8>,
    pos: usize,
    output: Vec<u8>,
    sched: Schedule,
    rng: Rng,
    flip_r: bool,
    flip_w: bool,
}

impl MemStream {
    fn new(input: &[u8], sched: Schedule) -> Self {
        MemStream {
            input: input.to_vec(),
            pos: 0,
            output: Vec::new(),
            sched,
            rng: Rng::new(input.len() as u64 ^ u64::from(sched.read_max) << 40),
            flip_r: false,
            flip_w: false,
        }
    }
}

impl AsyncRead for MemStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let me = &mut *self;
        if me.sched.pending {
            me.flip_r = !me.flip_r;
            if me.flip_r {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        let left = me.input.len() - me.pos;
        let mut n = buf.len().min(left);
        match me.sched.read_max {
            0 => {}
            max => n = n.min(me.rng.size(usize::from(max))),
        }
        buf[..n].copy_from_slice(&me.input[me.pos..me.pos + n]);
        me.pos += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for MemStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let me = &mut *self;
        if me.sched.pending {
            me.flip_w = !me.flip_w;
            if me.flip_w {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        let mut n = buf.len();
        if me.sched.write_max > 0 {
            n = n.min(me.rng.size(usize::from(me.sched.write_max)));
        }
        if let Some(limit) = me.sched.write_limit {
            let room = limit.saturating_sub(me.output.len());
            if room == 0 && n > 0 {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            n = n.min(room);
        }
        me.output.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Stream for MemStream {}

fn handler(f: impl Fn(&mut Exchange<'_>) -> bool + Send + Sync + 'static) -> Handler {
    Arc::new(f)
}

fn lossy(b: Option<&CStr>) -> String {
    b.map_or_else(
        || "-".to_owned(),
        |c| String::from_utf8_lossy(c.to_bytes()).into_owned(),
    )
}

/// The routes of the connection target: handlers that read the body whole,
/// in pieces, as a form or JSON, ignore it, stream, abort, close, redirect,
/// echo headers, set arbitrary statuses, plus a static mount.
fn conn_router(fallback: bool) -> Router {
    let mut r = Router::new();
    let mut add = |m: &str, p: &str, h: Handler| {
        r.add(if m == "*" { None } else { Some(m) }, p, h, None)
            .expect("conn route");
    };
    add(
        "*",
        "/",
        handler(|ex| {
            let text = match ex.body() {
                Ok(b) => format!("body {}", b.len()),
                Err(_) => return true,
            };
            ex.response_mut().set_text(&text).is_ok()
        }),
    );
    add(
        "*",
        "/ignore",
        handler(|ex| ex.response_mut().set_text("ignored").is_ok()),
    );
    add(
        "GET",
        "/stream",
        handler(|ex| {
            let _ = ex.send(b"hello");
            let _ = ex.send(b" world");
            true
        }),
    );
    add(
        "PUT",
        "/read",
        handler(|ex| {
            let mut total = 0usize;
            let mut piece = [0u8; 7];
            loop {
                match ex.read_body(&mut piece) {
                    Ok(0) => break,
                    Ok(n) => total += n,
                    Err(_) => return true,
                }
            }
            ex.response_mut().set_text(&format!("read {total}")).is_ok()
        }),
    );
    add(
        "POST",
        "/form",
        handler(|ex| {
            let v = match ex.form_value(b"a") {
                Ok(v) => lossy(v),
                Err(_) => return true,
            };
            ex.response_mut().set_text(&v).is_ok()
        }),
    );
    add(
        "POST",
        "/json",
        handler(|ex| {
            let v = match ex.json_value(Some("a")) {
                Ok(v) => v.cloned().unwrap_or(serde_json::Value::Null),
                Err(_) => return ex.response_mut().set_text("not json").is_ok(),
            };
            let _ = ex.response_mut().json_set("got", v);
            true
        }),
    );
    add(
        "POST",
        "/stream_body",
        handler(|ex| {
            let mut piece = [0u8; 64];
            let n = ex.read_body(&mut piece).unwrap_or(0);
            let _ = ex.send(&piece[..n]);
            true
        }),
    );
    add(
        "GET",
        "/u/{id}",
        handler(|ex| {
            let id = lossy(ex.request().param(b"id"));
            let q = lossy(ex.request_mut().query_param(b"q"));
            let c = lossy(ex.request_mut().cookie(b"c"));
            let h = lossy(ex.request().header(b"x"));
            ex.response_mut()
                .set_text(&format!("id={id} q={q} c={c} x={h}"))
                .is_ok()
        }),
    );
    add(
        "DELETE",
        "/u/{id}",
        handler(|ex| ex.response_mut().set_status(204).is_ok()),
    );
    add(
        "GET",
        "/files/{path...}",
        handler(|ex| {
            let p = lossy(ex.request().param(b"path"));
            ex.response_mut().set_text(&p).is_ok()
        }),
    );
    add(
        "*",
        "/abort",
        handler(|ex| {
            let _ = ex.abort(403, Some(b"no"), None);
            true
        }),
    );
    add(
        "GET",
        "/abort_stream",
        handler(|ex| {
            let _ = ex.send(TRUNCATED_ON_PURPOSE);
            let _ = ex.abort(500, None, None);
            true
        }),
    );
    add(
        "GET",
        "/close",
        handler(|ex| {
            // Cut short on purpose: the checker accepts a last response
            // whose body carries this marker.
            let _ = ex.send(TRUNCATED_ON_PURPOSE);
            let _ = ex.close();
            true
        }),
    );
    add(
        "GET",
        "/redirect",
        handler(|ex| {
            let to = lossy(ex.request_mut().query_param(b"to"));
            if ex.response_mut().redirect(&to, 302).is_err() {
                let _ = ex.response_mut().set_text("bad location");
            }
            true
        }),
    );
    add(
        "GET",
        "/hdr",
        handler(|ex| {
            let q = String::from_utf8_lossy(ex.request().query_bytes()).into_owned();
            let v = lossy(ex.request_mut().query_param(b"v"));
            let _ = ex.response_mut().set_header("X-Echo", &q);
            let _ = ex.response_mut().set_header("X-Value", &v);
            let _ = ex.response_mut().set_header(&v, "1");
            let _ = ex.response_mut().set_cookie(&v, &q, Some(-1), Some(&q), None, 0);
            true
        }),
    );
    add(
        "GET",
        "/status",
        handler(|ex| {
            let code = lossy(ex.request_mut().query_param(b"c")).parse::<i32>().unwrap_or(200);
            let _ = ex.response_mut().set_status(code);
            let _ = ex.response_mut().set_text("status");
            true
        }),
    );
    add(
        "GET",
        "/send_header",
        handler(|ex| {
            let _ = ex.send_header(Some("Custom Reason"), b"content");
            true
        }),
    );
    add(
        "GET",
        "/fail",
        handler(|ex| {
            let _ = ex.response_mut().set_text("never sent");
            false
        }),
    );
    add(
        "PROPFIND",
        "/dav",
        handler(|ex| ex.response_mut().set_text("dav").is_ok()),
    );
    // A static mount, as Server::static_dir adds it.
    let root = tree().root.to_str().expect("UTF-8 temp path").to_owned();
    let mount =
        Arc::new(StaticMount::new("/static", &root, crate::files::static_flags::LISTING, None, None).expect("mount"));
    let h: Handler = Arc::new(move |ex: &mut Exchange<'_>| serve_static(&mount, ex));
    add("GET", "/static/{path...}", h.clone());
    add("GET", "/static", h);
    if fallback {
        r.set_fallback(Some(handler(|ex| {
            let _ = ex.response_mut().set_status(404);
            ex.response_mut().set_text("fallback").is_ok()
        })));
    }
    r
}

/// Four servers: default or small limits, with or without a fallback
/// handler and a log callback (which checks that no line carries CR/LF).
fn conn_shared(variant: usize) -> &'static Arc<Shared> {
    static SHARED: OnceLock<Vec<Arc<Shared>>> = OnceLock::new();
    &SHARED.get_or_init(|| {
        (0..4)
            .map(|v| {
                let small = v & 1 != 0;
                // Nothing in this target should ever wait on a timer: the
                // stream never blocks. Short timeouts bound any that does,
                // and `conn` reports it.
                let mut cfg = Config {
                    header_timeout: Duration::from_secs(3),
                    idle_timeout: Duration::from_secs(3),
                    write_timeout: Duration::from_secs(3),
                    body_timeout: Duration::from_secs(3),
                    ..Config::default()
                };
                if small {
                    cfg.max_header_bytes = 512;
                    cfg.max_headers = 8;
                    cfg.max_body_bytes = 64;
                    cfg.drain_limit = 32;
                }
                let log: Option<LogFn> = (v != 3).then(|| {
                    Arc::new(|_level: LogLevel, line: &CStr| {
                        let b = line.to_bytes();
                        assert!(
                            !b.contains(&b'\n') && !b.contains(&b'\r'),
                            "log line with CR/LF: {}",
                            esc(b)
                        );
                    }) as LogFn
                });
                Arc::new(Shared::new(
                    cfg,
                    Arc::new(conn_router(v >= 2)),
                    log,
                    Default::default(),
                    None,
                    0,
                ))
            })
            .collect()
    })[variant]
}

/// A whole connection. The first byte: bits 0-1 pick the server variant,
/// bit 2 makes every other read/write `Pending` first, bit 3 shortens
/// writes, bit 4 makes writes fail after a point. The second byte is the
/// most bytes one read returns (0: everything asked for, 1: one byte per
/// read). The rest is what the client sends before EOF.
///
/// The output must be a sequence of well-formed HTTP/1.1 responses, each
/// starting with `HTTP/1.1 ` and a 3-digit status, framed by its own
/// headers, with nothing after one that says `Connection: close`. With
/// failing writes it must be a prefix of such a sequence. When the bytes
/// came in pieces, the statuses must be those of the same bytes delivered
/// at once.
pub fn conn(data: &[u8]) {
    let (flags, rest) = split_first(data);
    let (read_max, input) = split_first(rest);
    let sched = Schedule {
        read_max,
        pending: flags & 4 != 0,
        write_max: if flags & 8 != 0 { 1 + (read_max % 13) } else { 0 },
        write_limit: (flags & 16 != 0).then_some(usize::from(read_max) * 7 + usize::from(flags >> 5) * 131),
    };
    let variant = usize::from(flags & 3);
    let out = run_conn(variant, input, sched);
    let statuses = match check_responses(&out, sched.write_limit.is_some()) {
        Ok(s) => s,
        Err(e) => panic!("{e}\ninput: {}", esc(input)),
    };
    // The same bytes delivered at once get the same answers (interim
    // 100 Continue aside: it is only sent while no body bytes wait). One
    // exception: the connection parses a head again only once a line is
    // complete, so a last line cut short by EOF may be refused when it
    // came with the rest and ignored (quiet close) when it came alone.
    if sched.write_limit.is_none() && (sched.read_max != 0 || sched.pending || sched.write_max != 0) {
        let whole = run_conn(variant, input, Schedule::default());
        let whole_statuses = check_responses(&whole, false).unwrap_or_else(|e| panic!("{e}\ninput: {}", esc(input)));
        let finals = |v: Vec<u16>| v.into_iter().filter(|&s| s != 100).collect::<Vec<_>>();
        let (a, b) = (finals(statuses), finals(whole_statuses));
        let cut_at_eof = a.len() + 1 == b.len() && b.starts_with(&a) && b.last().is_some_and(|&s| s >= 400);
        if cut_at_eof {
            return;
        }
        assert_eq!(
            a,
            b,
            "statuses depend on how the bytes arrive (left: {sched:?}, right: all at once)\ninput: {}\noutput: {}\nwhole: {}",
            esc(input),
            esc(&out),
            esc(&whole)
        );
    }
}

/// Serves `input` on a connection of server `variant`; returns the output.
fn run_conn(variant: usize, input: &[u8], sched: Schedule) -> Vec<u8> {
    let shared = conn_shared(variant).clone();
    shared.conns.fetch_add(1, Ordering::AcqRel);
    let guard = ConnGuard::new(shared.clone());
    let stream = MemStream::new(input, sched);
    let started = Instant::now();
    let stream = smol::block_on(crate::http::conn::serve(
        stream,
        SocketAddr::from(([192, 0, 2, 1], 1)),
        guard,
        None,
    ))
    .expect("the connection did not panic");
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "the connection waited {took:?} on a timer although the stream never blocks: {}",
        esc(input)
    );
    stream.output
}

// ---------------------------------------------------------------------------
// Response stream validation
// ---------------------------------------------------------------------------

/// Body bytes of a response a handler ends early on purpose (close or
/// abort after sending): such a response may be the last, incomplete one.
const TRUNCATED_ON_PURPOSE: &[u8] = b"TRUNCATED-ON-PURPOSE";

/// Where parsing one response can leave off.
enum Next {
    /// The output is accounted for up to its end.
    End,
    /// Candidate starts of the next response (several when a body may be
    /// absent because the request was HEAD, which the output cannot tell).
    At(Vec<usize>),
}

/// Checks that `out` is a sequence of well-formed HTTP/1.1 responses (or,
/// with `truncated_ok`, a prefix of one).
fn check_responses(out: &[u8], truncated_ok: bool) -> Result<Vec<u16>, String> {
    let mut todo = vec![0usize];
    let mut seen = HashSet::new();
    // Where each response start was reached from, to read the path back.
    let mut prev: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let path = |last: usize, prev: &std::collections::HashMap<usize, usize>| {
        let mut starts = vec![last];
        let mut at = last;
        while let Some(&p) = prev.get(&at) {
            starts.push(p);
            at = p;
        }
        starts.reverse();
        starts
            .into_iter()
            .filter(|&p| p < out.len())
            .map(|p| {
                out.get(p + 9..p + 12)
                    .and_then(|c| std::str::from_utf8(c).ok())
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0)
            })
            .collect()
    };
    let mut last_err = String::from("no response");
    while let Some(pos) = todo.pop() {
        if pos == out.len() {
            return Ok(path(pos, &prev));
        }
        if !seen.insert(pos) {
            continue;
        }
        match one_response(out, pos, truncated_ok) {
            Ok(Next::End) => {
                let mut statuses = path(pos, &prev);
                if out.len() - pos < 12 {
                    statuses.pop(); // a status line cut short
                }
                return Ok(statuses);
            }
            Ok(Next::At(v)) => {
                for n in v {
                    if n != pos {
                        prev.entry(n).or_insert(pos);
                    }
                    todo.push(n);
                }
            }
            Err(e) => last_err = format!("response at byte {pos}: {e}"),
        }
    }
    Err(format!("{last_err}\noutput: {}", esc(out)))
}

fn one_response(out: &[u8], pos: usize, truncated_ok: bool) -> Result<Next, String> {
    let rest = &out[pos..];
    const START: &[u8] = b"HTTP/1.1 ";
    if rest.len() < START.len() + 4 {
        if truncated_ok && (START.starts_with(rest) || rest.starts_with(START)) {
            return Ok(Next::End);
        }
        return Err("not a status line".into());
    }
    if !rest.starts_with(START) {
        return Err("does not start with HTTP/1.1".into());
    }
    let code = &rest[9..12];
    if !code.iter().all(u8::is_ascii_digit) || code[0] == b'0' || rest[12] != b' ' {
        return Err(format!("bad status {}", esc(&rest[9..13])));
    }
    let status: u16 = std::str::from_utf8(code).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let Some(head_len) = rest.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4) else {
        return if truncated_ok {
            Ok(Next::End)
        } else {
            Err("head without an end".into())
        };
    };
    // Every line, the status line included, ends with CR before its LF.
    let head = &rest[..head_len - 3];
    let mut lines = head.split(|&b| b == b'\n');
    let status_line = lines.next().unwrap_or_default();
    let Some(status_line) = status_line.strip_suffix(b"\r") else {
        return Err("bare LF after the status line".into());
    };
    if status_line.len() < 13
        || !status_line[13..]
            .iter()
            .all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80)
    {
        return Err("bad reason phrase".into());
    }
    let mut cl: Option<u64> = None;
    let mut chunked = false;
    let mut close = false;
    for line in lines {
        let Some(line) = line.strip_suffix(b"\r") else {
            return Err("bare LF in the head".into());
        };
        if line.contains(&b'\r') {
            return Err("bare CR in the head".into());
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(format!("header line without ':': {}", esc(line)));
        };
        let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(format!("bad header name {}", esc(name)));
        }
        if !value
            .iter()
            .all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80)
        {
            return Err(format!("bad header value {}", esc(value)));
        }
        if eq_ignore_case(name, b"content-length") {
            if cl.is_some() {
                return Err("two Content-Length".into());
            }
            cl = Some(parse_decimal(value).ok_or("bad Content-Length")?);
        } else if eq_ignore_case(name, b"transfer-encoding") {
            if chunked || value != b"chunked" {
                return Err(format!("Transfer-Encoding {}", esc(value)));
            }
            chunked = true;
        } else if eq_ignore_case(name, b"connection") {
            close |= eq_ignore_case(value, b"close");
        }
    }
    if chunked && cl.is_some() {
        return Err("both Content-Length and chunked".into());
    }
    let body_start = pos + head_len;
    let mut next = Vec::new();
    if status < 200 || status == 204 || status == 304 {
        if chunked {
            return Err(format!("{status} with a chunked body"));
        }
        next.push(body_start);
    } else if chunked {
        // A HEAD response has no body at all.
        next.push(body_start);
        match chunked_end(out, body_start) {
            Some(end) => next.push(end),
            None if truncated_ok => return Ok(Next::End),
            None if contains(&out[body_start..], TRUNCATED_ON_PURPOSE) => return Ok(Next::End),
            None => {}
        }
    } else if let Some(n) = cl {
        next.push(body_start);
        match usize::try_from(n).ok().and_then(|n| body_start.checked_add(n)) {
            Some(end) if end <= out.len() => next.push(end),
            _ if truncated_ok => return Ok(Next::End),
            _ => {}
        }
    } else {
        // Delimited by the close (HTTP/1.0 client), or no body.
        next.push(body_start);
        next.push(out.len());
    }
    if close {
        next.retain(|&p| p == out.len());
        if next.is_empty() {
            return Err("bytes after a response with Connection: close".into());
        }
    }
    Ok(Next::At(next))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The end of a chunked body starting at `pos` (no extensions or trailers:
/// the library writes none), or None when it is malformed or cut short.
fn chunked_end(out: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let line_end = out[pos..].windows(2).position(|w| w == b"\r\n")? + pos;
        let size_hex = &out[pos..line_end];
        if size_hex.is_empty() || size_hex.len() > 16 || !size_hex.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let size = usize::from_str_radix(std::str::from_utf8(size_hex).ok()?, 16).ok()?;
        pos = line_end + 2;
        if size == 0 {
            return out[pos..].starts_with(b"\r\n").then_some(pos + 2);
        }
        let end = pos.checked_add(size)?;
        if out.len() < end + 2 || &out[end..end + 2] != b"\r\n" {
            return None;
        }
        pos = end + 2;
    }
}

#[cfg(test)]
mod tests {
    //! The targets run once over a few inputs, so `cargo test --features
    //! fuzzing` catches a target broken by a change before the fuzzer does.
    use super::*;

    #[test]
    fn targets_accept_sample_inputs() {
        head(b"\x00GET /a?b=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc");
        head(b"\x03POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
        chunked(b"\x03\x05\x35\r\nhello\r\n0\r\nT: v\r\n\r\n");
        router(b"+GET /x/{y}\n?GET /x/abc\n=r11\ty\ta/b\n?HEAD /files/a/b\n?PUT /u/1");
        decoding(b"a=%41&b=c%zz+d&&=e; a=1");
        static_path(b"\x00/a.txt");
        static_path(b"\x02/out_link");
        // The containment check sees what it must: a secret reached through
        // a link the mount follows, and none through the same link otherwise.
        let o = static_request(b"\x02/out_link").expect("reaches the mount");
        assert!(o.secret_served && o.via_link);
        let o = static_request(b"\x0a/static/sib/rootx-secret.txt").expect("reaches the mount");
        assert!(o.secret_served && o.via_link);
        for blocked in [
            &b"\x00/out_link"[..],
            b"\x00/out_dir/secret-outside.txt",
            b"\x00/%2e%2e/secret.txt",
        ] {
            let o = static_request(blocked).expect("reaches the mount");
            assert!(!o.secret_served && o.out.starts_with(b"HTTP/1.1 4"), "{}", esc(&o.out));
        }
        conn(b"\x00\x00GET / HTTP/1.1\r\nHost: a\r\n\r\nHEAD /stream HTTP/1.1\r\nHost: a\r\n\r\n");
        conn(b"\x05\x01POST /form HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=1");
    }

    #[test]
    fn response_checker_rejects_garbage() {
        assert!(check_responses(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false).is_ok());
        assert!(check_responses(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", false).is_ok());
        assert!(check_responses(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokX", false).is_err());
        assert!(check_responses(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n",
            false
        )
        .is_err());
        assert!(check_responses(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            false
        )
        .is_ok());
        assert!(check_responses(b"HTTP/1.0 200 OK\r\n\r\n", false).is_err());
    }
}
