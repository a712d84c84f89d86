//! The request as a handler sees it.
//!
//! One `Request` lives as long as its connection and is reset for every
//! request, so its buffers are reused: the parsed head is copied once into an
//! arena of NUL-terminated strings (which is what the C API hands out), and
//! the decoded query, cookies and form are built lazily, at most once per
//! request, the first time a handler asks. Strings handed out stay valid until
//! the request ends because each of those buffers is only written once.

use std::cell::OnceCell;
use std::ffi::{CStr, CString};
use std::net::SocketAddr;

use crate::http::parse::Framing;
use crate::util::{clear_capped, eq_ignore_case, form_pairs, percent_decode_into, trim_ows};

/// Position of a NUL-terminated string inside a buffer (the NUL not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: usize,
    len: usize,
}

impl Span {
    fn range(self) -> std::ops::Range<usize> {
        self.start..self.start + self.len
    }
}

/// A buffer of NUL-terminated strings with name/value pairs pointing into it.
#[derive(Debug, Default)]
struct Strings {
    buf: Vec<u8>,
    pairs: Vec<(Span, Span)>,
    built: bool,
}

impl Strings {
    fn clear(&mut self) {
        self.buf.clear();
        self.pairs.clear();
        self.built = false;
    }

    fn push(&mut self, s: &[u8]) -> Span {
        let start = self.buf.len();
        self.buf.extend_from_slice(s);
        self.buf.push(0);
        Span { start, len: s.len() }
    }

    /// Appends the percent-decoding of `s` and a NUL.
    fn push_decoded(&mut self, s: &[u8], plus_as_space: bool) -> Span {
        let start = self.buf.len();
        percent_decode_into(s, plus_as_space, &mut self.buf);
        let len = self.buf.len() - start;
        self.buf.push(0);
        Span { start, len }
    }

    fn bytes(&self, span: Span) -> &[u8] {
        &self.buf[span.range()]
    }

    /// Decodes `a=1&b=2` (query strings and urlencoded forms: `%XX` and `+`)
    /// into name/value pairs, once.
    fn build_form(&mut self, src: &[u8]) {
        for (n, v) in form_pairs(src) {
            let n = self.push_decoded(n, true);
            let v = self.push_decoded(v, true);
            self.pairs.push((n, v));
        }
        self.built = true;
    }

    /// The string as C sees it: up to the first NUL (a decoded `%00` ends it).
    fn cstr(&self, span: Span) -> &CStr {
        let r = span.range();
        CStr::from_bytes_until_nul(&self.buf[r.start..=r.end]).unwrap_or_default()
    }

    fn find(&self, name: &[u8], ignore_case: bool) -> Option<&CStr> {
        self.pairs
            .iter()
            .find(|(n, _)| {
                let n = self.bytes(*n);
                if ignore_case {
                    eq_ignore_case(n, name)
                } else {
                    n == name
                }
            })
            .map(|&(_, v)| self.cstr(v))
    }
}

/// A parsed request head plus what handlers derive from it.
#[derive(Debug)]
pub struct Request {
    /// method, path, query, host, header names and values, route params.
    head: Strings,
    method: Span,
    path: Span,
    query: Span,
    host: Option<Span>,
    /// Number of pairs in `head.pairs` that are headers; route params follow.
    header_count: usize,
    version: u8,
    pub(crate) framing: Framing,
    pub(crate) expect_continue: bool,
    pub(crate) keep_alive: bool,
    /// The peer's address, and the same as text once asked for (most
    /// requests never are: formatting it for each connection cost ~700
    /// instructions even with a hand-written formatter).
    peer: Option<SocketAddr>,
    remote: OnceCell<CString>,
    query_vals: Strings,
    cookies: Strings,
    form: Strings,
    /// The buffered body followed by one NUL (not part of the body).
    pub(crate) body: Vec<u8>,
    pub(crate) body_loaded: bool,
    /// Reused copy of a capture while it is decoded into `head`.
    scratch: Vec<u8>,
    /// The body parsed as JSON, once (req_json_*).
    pub(crate) json: Option<serde_json::Value>,
    /// Strings handed out by req_json_str / req_json_raw.
    pub(crate) json_strs: Vec<std::ffi::CString>,
}

impl Default for Request {
    fn default() -> Self {
        Request::new()
    }
}

/// What the parser found in a head; copied into a [`Request`] by
/// [`Request::fill`].
pub(crate) struct HeadParts<'a> {
    pub method: &'a [u8],
    pub path: &'a [u8],
    pub query: &'a [u8],
    pub host: Option<&'a [u8]>,
    pub version: u8,
    pub headers: &'a [httparse::Header<'a>],
    pub framing: Framing,
    pub expect_continue: bool,
    pub keep_alive: bool,
}

impl Request {
    pub(crate) fn new() -> Self {
        Request {
            head: Strings::default(),
            method: Span::default(),
            path: Span::default(),
            query: Span::default(),
            host: None,
            header_count: 0,
            version: 11,
            framing: Framing::None,
            expect_continue: false,
            keep_alive: true,
            peer: None,
            remote: OnceCell::new(),
            query_vals: Strings::default(),
            cookies: Strings::default(),
            form: Strings::default(),
            body: Vec::new(),
            body_loaded: false,
            scratch: Vec::new(),
            json: None,
            json_strs: Vec::new(),
        }
    }

    pub(crate) fn set_remote(&mut self, peer: SocketAddr) {
        if self.peer != Some(peer) {
            self.peer = Some(peer);
            self.remote.take();
        }
    }

    /// Copies a parsed head in, replacing the previous request.
    pub(crate) fn fill(&mut self, p: &HeadParts<'_>) {
        self.head.clear();
        self.query_vals.clear();
        self.cookies.clear();
        self.form.clear();
        self.body.clear();
        if self.body.capacity() > 64 * 1024 {
            self.body.shrink_to(0);
        }
        self.body_loaded = false;
        self.json = None;
        self.json_strs.clear();

        let names: usize = p.headers.iter().map(|h| h.name.len() + h.value.len() + 2).sum();
        self.head
            .buf
            .reserve(p.method.len() + p.path.len() + p.query.len() + names + 64);
        self.method = self.head.push(p.method);
        self.path = self.head.push(p.path);
        self.query = self.head.push(p.query);
        self.host = p.host.map(|h| self.head.push(h));
        for h in p.headers {
            let n = self.head.push(h.name.as_bytes());
            let v = self.head.push(h.value);
            self.head.pairs.push((n, v));
        }
        self.header_count = p.headers.len();
        self.version = p.version;
        self.framing = p.framing;
        self.expect_continue = p.expect_continue;
        self.keep_alive = p.keep_alive;
    }

    /// Records a route capture given as a range of the path; the value is
    /// percent-decoded (no `+` rule in paths).
    pub(crate) fn push_param_from_path(&mut self, name: &str, range: std::ops::Range<usize>) {
        let path = self.path.range();
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.head.buf[path][range]);
        let n = self.head.push(name.as_bytes());
        let v = self.head.push_decoded(&self.scratch, false);
        self.head.pairs.push((n, v));
    }

    pub fn method(&self) -> &CStr {
        self.head.cstr(self.method)
    }

    pub(crate) fn method_bytes(&self) -> &[u8] {
        self.head.bytes(self.method)
    }

    /// The path as received (still percent-encoded), without the query.
    pub fn path(&self) -> &CStr {
        self.head.cstr(self.path)
    }

    pub(crate) fn path_bytes(&self) -> &[u8] {
        self.head.bytes(self.path)
    }

    /// The raw query without `?`; empty when there is none.
    pub fn query(&self) -> &CStr {
        self.head.cstr(self.query)
    }

    pub(crate) fn query_bytes(&self) -> &[u8] {
        self.head.bytes(self.query)
    }

    /// The authority of an absolute-form target, else the `Host` header.
    pub fn host(&self) -> Option<&CStr> {
        self.host.map(|h| self.head.cstr(h))
    }

    /// 10 or 11.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The peer's address as `ip:port` (`[ip]:port` for IPv6); empty
    /// when there is no peer.
    pub fn remote_addr(&self) -> &CStr {
        self.remote.get_or_init(|| match self.peer {
            // Digits, dots, colons and brackets: never a NUL.
            Some(p) => CString::new(p.to_string()).unwrap_or_default(),
            None => CString::default(),
        })
    }

    pub fn header_count(&self) -> usize {
        self.header_count
    }

    pub fn header_at(&self, i: usize) -> Option<(&CStr, &CStr)> {
        let &(n, v) = self.head.pairs[..self.header_count].get(i)?;
        Some((self.head.cstr(n), self.head.cstr(v)))
    }

    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &[u8]) -> Option<&CStr> {
        self.header_bytes(name).map(|(n, _)| n)
    }

    fn header_bytes(&self, name: &[u8]) -> Option<(&CStr, &[u8])> {
        self.head.pairs[..self.header_count]
            .iter()
            .find(|(n, _)| eq_ignore_case(self.head.bytes(*n), name))
            .map(|&(_, v)| (self.head.cstr(v), self.head.bytes(v)))
    }

    /// A route capture, percent-decoded.
    pub fn param(&self, name: &[u8]) -> Option<&CStr> {
        self.head.pairs[self.header_count..]
            .iter()
            .find(|(n, _)| self.head.bytes(*n) == name)
            .map(|&(_, v)| self.head.cstr(v))
    }

    /// First value of a query parameter, percent- and `+`-decoded.
    pub fn query_param(&mut self, name: &[u8]) -> Option<&CStr> {
        if !self.query_vals.built {
            self.query_vals.build_form(&self.head.buf[self.query.range()]);
        }
        self.query_vals.find(name, false)
    }

    /// A cookie from the `Cookie` header(s), as sent (RFC 6265: no decoding;
    /// surrounding double quotes are removed).
    pub fn cookie(&mut self, name: &[u8]) -> Option<&CStr> {
        if !self.cookies.built {
            for &(n, v) in &self.head.pairs[..self.header_count] {
                if !eq_ignore_case(&self.head.buf[n.range()], b"cookie") {
                    continue;
                }
                for item in self.head.buf[v.range()].split(|&b| b == b';') {
                    let item = trim_ows(item);
                    let Some(eq) = item.iter().position(|&b| b == b'=') else {
                        continue;
                    };
                    let (cn, mut cv) = (trim_ows(&item[..eq]), trim_ows(&item[eq + 1..]));
                    if cn.is_empty() {
                        continue;
                    }
                    if cv.len() >= 2 && cv[0] == b'"' && cv[cv.len() - 1] == b'"' {
                        cv = &cv[1..cv.len() - 1];
                    }
                    let cn = self.cookies.push(cn);
                    let cv = self.cookies.push(cv);
                    self.cookies.pairs.push((cn, cv));
                }
            }
            self.cookies.built = true;
        }
        self.cookies.find(name, false)
    }

    /// True when the body is `application/x-www-form-urlencoded`.
    pub(crate) fn is_form(&self) -> bool {
        let Some((_, ct)) = self.header_bytes(b"content-type") else {
            return false;
        };
        let mime = ct.split(|&b| b == b';').next().unwrap_or_default();
        eq_ignore_case(trim_ows(mime), b"application/x-www-form-urlencoded")
    }

    /// Looks a form field up in the already loaded body.
    pub(crate) fn form_value(&mut self, name: &[u8]) -> Option<&CStr> {
        if !self.form.built {
            self.form
                .build_form(self.body.get(..self.body.len().saturating_sub(1)).unwrap_or_default());
        }
        self.form.find(name, false)
    }

    /// Forgets the last request's strings and parsed JSON and frees
    /// buffers larger than `max` bytes, before the request is kept for
    /// another connection.
    pub(crate) fn trim(&mut self, max: usize) {
        for s in [&mut self.head, &mut self.query_vals, &mut self.cookies, &mut self.form] {
            s.clear();
            clear_capped(&mut s.buf, max);
            clear_capped(&mut s.pairs, max);
        }
        clear_capped(&mut self.body, max);
        clear_capped(&mut self.scratch, max);
        self.json = None;
        self.json_strs = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remote_address_is_the_peer_as_text_and_follows_it() {
        let mut r = Request::new();
        assert_eq!(r.remote_addr().to_bytes(), b"", "no peer yet");
        let mut addrs: Vec<SocketAddr> = [
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "127.0.0.1:8080",
            "10.20.3.100:9",
            "[::1]:443",
            "[2001:db8:85a3:8d3:1319:8a2e:370:7348]:65535",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        // Every octet and a spread of ports.
        for i in 0..=255u16 {
            let o = i as u8;
            addrs.push(SocketAddr::from(([o, o / 3, 255 - o, o / 17], i * 257)));
        }
        for a in addrs {
            // A request reused for another peer must not keep the text
            // made for the previous one.
            r.set_remote(a);
            assert_eq!(r.remote_addr().to_str(), Ok(a.to_string().as_str()));
        }
    }
}
