//! Entry points for the micro-benchmarks in `benches/micro.rs` (feature
//! `bench-internals`, not a public API).
//!
//! Thin wrappers that reach `pub(crate)` items without widening the API:
//! each does what the connection loop does for one request, on state the
//! caller keeps between iterations (as a connection keeps its `Request`,
//! `Response` and write buffer), so a benchmark measures the steady state.
//!
//! | wrapper | drives |
//! |---|---|
//! | [`HeadParser`] | `parse_head` with the server's default limits and methods |
//! | [`BenchRouter`] | `Router::add` / `Router::find` |
//! | [`ResponseWriter`] | `Response::reset` + a body setter + `Response::finish` into a reused buffer |
//! | [`chunked_decode`] | `ChunkedDecoder::decode` over a whole body |
//! | [`push_date_header`] | the cached `Date` line |

use std::sync::Arc;

use crate::config::Config;
use crate::http::chunked::ChunkedDecoder;
use crate::http::parse::{is_standard_method, parse_head, HeadLimits};
use crate::request::Request;
use crate::response::Response;
use crate::router::{Handler, Match, Router};

/// A request head parser with a reused `Request`, as a connection has.
pub struct HeadParser {
    req: Request,
    lim: HeadLimits,
}

impl Default for HeadParser {
    fn default() -> Self {
        Self::new()
    }
}

impl HeadParser {
    /// The server's default limits (`Config::default()`).
    pub fn new() -> Self {
        HeadParser {
            req: Request::new(),
            lim: HeadLimits::of(&Config::default()),
        }
    }

    /// Parses the head at the start of `buf`: `Some(head length)`, or
    /// `None` when it is incomplete or refused.
    pub fn parse(&mut self, buf: &[u8]) -> Option<usize> {
        parse_head(buf, &self.lim, &is_standard_method, &mut self.req)
            .ok()
            .flatten()
    }

    /// Header count of the last parsed request (for sanity checks).
    pub fn header_count(&self) -> usize {
        self.req.header_count()
    }
}

/// What a lookup found, without the borrowed handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// A route; the number of captures.
    Route(usize),
    MethodNotAllowed,
    NotFound,
}

/// A route table of handlers that do nothing.
#[derive(Default)]
pub struct BenchRouter {
    router: Router,
}

impl BenchRouter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `method pattern` (see `Router::add`); panics on a bad pattern.
    pub fn add(&mut self, method: &str, pattern: &str) {
        let h: Handler = Arc::new(|_: &mut crate::Exchange<'_>| true);
        self.router
            .add(Some(method), pattern, h, None)
            .unwrap_or_else(|e| panic!("route {method} {pattern}: {e}"));
    }

    /// `Router::find` for a raw request path.
    pub fn find(&self, method: &str, path: &[u8]) -> Found {
        match self.router.find(method, path) {
            Match::Found { params, .. } => Found::Route(params.len()),
            Match::MethodNotAllowed(_) => Found::MethodNotAllowed,
            Match::NotFound => Found::NotFound,
        }
    }
}

/// A `Response` and an output buffer reused for every response, as a
/// keep-alive connection reuses them.
pub struct ResponseWriter {
    resp: Response,
    out: Vec<u8>,
}

impl Default for ResponseWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseWriter {
    pub fn new() -> Self {
        ResponseWriter {
            resp: Response::new(),
            out: Vec::new(),
        }
    }

    /// Starts a keep-alive HTTP/1.1 GET response and clears the buffer (the
    /// connection wrote the previous response out).
    fn start(&mut self) -> &mut Response {
        self.out.clear();
        self.resp.reset(11, false, true);
        &mut self.resp
    }

    /// Serialises what the handler built; returns the bytes written.
    fn end(&mut self) -> usize {
        let _close = self.resp.finish(&mut self.out);
        self.out.len()
    }

    /// `resp_set_text(resp, text)` then the serialisation: status line,
    /// Date, Content-Type, Content-Length, body.
    pub fn text(&mut self, text: &str) -> usize {
        let _ = self.start().set_text(text);
        self.end()
    }

    /// `resp_set_json(resp, json)` (validated raw JSON) then the
    /// serialisation.
    pub fn json_raw(&mut self, json: &str) -> usize {
        let _ = self.start().set_json(json);
        self.end()
    }

    /// The JSON builder: `resp_json_set_str(resp, path, value)` for each
    /// pair, then the serialisation (the document is rendered in `finish`).
    pub fn json_builder(&mut self, pairs: &[(&str, &str)]) -> usize {
        let resp = self.start();
        for (path, value) in pairs {
            let _ = resp.json_set(path, serde_json::Value::from(*value));
        }
        self.end()
    }

    /// The last serialised response.
    pub fn output(&self) -> &[u8] {
        &self.out
    }
}

/// Decodes a whole chunked body in steps of at most `max_data` data bytes
/// (framing only: the decoder returns where the data is, copying nothing),
/// as the connection does; returns the data byte count, or `None` when the
/// body is malformed or incomplete.
pub fn chunked_decode(input: &[u8], max_data: usize) -> Option<usize> {
    let mut d = ChunkedDecoder::new();
    let mut pos = 0;
    let mut data = 0;
    while !d.is_done() {
        let r = d.decode(&input[pos..], max_data).ok()?;
        if r.consumed == 0 {
            return None;
        }
        data += r.data.len();
        pos += r.consumed;
    }
    Some(data)
}

/// Appends the cached `Date: ...\r\n` line (nothing when the clock is unset).
pub fn push_date_header(out: &mut Vec<u8>) {
    crate::http::date::push_date_header(out);
}
