//! One request/response exchange, as a handler holds it.
//!
//! A handler runs inline on the worker thread of its connection (as in
//! mongoose and esp_http_server: no thread hop per request). While it runs
//! it owns the connection's buffers through an [`Exchange`]; reading the
//! body or sending bytes blocks this worker (bounded by the body and write
//! timeouts) and the other workers keep serving.
//!
//! A body whose framing breaks while it is read "poisons" the exchange: the
//! library then answers 400 (or 413/408/431) with `Connection: close`,
//! whatever the handler set, as the C contract describes.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::deferred::{Deferred, Handoff, Producer, CHANNEL_DEPTH};
use crate::error::{Error, Result};
use crate::http::chunked::ChunkedDecoder;
use crate::http::io::{fill, read_until, shutdown, write_all2, ReadBuf, Stream};
use crate::http::parse::Framing;
use crate::request::Request;
use crate::response::{Phase, Response, Sink};
use crate::server::shared::Shared;

/// The connection's writer as a [`Sink`] for a handler running inline:
/// flushes block this worker, at most the write timeout without progress.
pub(crate) struct Wire<'a> {
    pub(crate) io: &'a mut dyn Stream,
    pub(crate) wbuf: &'a mut Vec<u8>,
    pub(crate) write_timeout: Duration,
    /// Set when a write failed or the handler closed the connection: the
    /// connection cannot carry another response.
    pub(crate) broken: bool,
}

impl Sink for Wire<'_> {
    fn buf(&mut self) -> &mut Vec<u8> {
        self.wbuf
    }

    fn flush(&mut self, threshold: usize) -> Result<()> {
        if self.broken {
            return Err(Error::Closed);
        }
        if self.wbuf.is_empty() || self.wbuf.len() < threshold {
            return Ok(());
        }
        self.write_through(&[])
    }

    fn write_through(&mut self, data: &[u8]) -> Result<()> {
        if self.broken {
            return Err(Error::Closed);
        }
        let r = crate::rt::block_on(write_all2(self.io, self.wbuf, data, self.write_timeout));
        self.wbuf.clear();
        r.map_err(|e| {
            self.broken = true;
            Error::from_io(e)
        })
    }

    fn shutdown(&mut self) {
        if !self.broken {
            crate::rt::block_on(shutdown(self.io));
        }
        self.broken = true;
    }
}

/// How far the request body has been read.
#[derive(Debug)]
pub(crate) struct BodyState {
    framing: Framing,
    /// Content-Length bytes not read yet.
    remaining: u64,
    decoder: ChunkedDecoder,
    done: bool,
    failed: bool,
    /// `Expect: 100-continue` still owed a `100 Continue`.
    pub(crate) continue_owed: bool,
    received: u64,
    /// While the library buffers the body: the most it may hold, checked
    /// against each chunk size as soon as it is read.
    limit: Option<u64>,
}

impl Default for BodyState {
    fn default() -> Self {
        BodyState {
            framing: Framing::None,
            remaining: 0,
            decoder: ChunkedDecoder::new(),
            done: true,
            failed: false,
            continue_owed: false,
            received: 0,
            limit: None,
        }
    }
}

/// What is left of a request body after the handler.
pub(crate) enum Leftover {
    /// Fully read (or there was none).
    None,
    /// Unread: at most this many Content-Length bytes, or a chunked body.
    Unread,
    /// The framing broke or the read failed: the connection must close.
    Broken,
}

impl BodyState {
    pub(crate) fn reset(&mut self, framing: Framing, expect_continue: bool) {
        self.framing = framing;
        self.remaining = match framing {
            Framing::Length(n) => n,
            _ => 0,
        };
        self.decoder = ChunkedDecoder::new();
        self.done = framing == Framing::None;
        self.failed = false;
        self.continue_owed = expect_continue && !self.done;
        self.received = 0;
        self.limit = None;
    }

    pub(crate) fn leftover(&self) -> Leftover {
        if self.failed {
            Leftover::Broken
        } else if self.done {
            Leftover::None
        } else {
            Leftover::Unread
        }
    }

    /// Content-Length bytes not read yet (0 for chunked).
    pub(crate) fn remaining_length(&self) -> Option<u64> {
        match self.framing {
            Framing::Length(_) => Some(self.remaining),
            _ => None,
        }
    }

    /// Reads and discards from what is already buffered, up to `budget`
    /// data bytes. Returns `Some(true)` when the body ended,
    /// `Some(false)` when more input is needed, `None` on a framing error
    /// or when the budget ran out.
    pub(crate) fn discard_buffered(&mut self, rb: &mut ReadBuf, budget: &mut u64) -> Option<bool> {
        if self.done {
            return Some(true);
        }
        match self.framing {
            Framing::None => Some(true),
            Framing::Length(_) => {
                let n = (rb.len() as u64).min(self.remaining);
                if self.remaining > *budget {
                    return None;
                }
                rb.consume(n as usize);
                self.remaining -= n;
                *budget -= n;
                self.done = self.remaining == 0;
                Some(self.done)
            }
            Framing::Chunked => loop {
                let d = self.decoder.decode(rb.data(), usize::MAX).ok()?;
                let data = d.data.len() as u64;
                rb.consume(d.consumed);
                if data > *budget {
                    return None;
                }
                *budget -= data;
                // A chunk announced larger than what is left to drain:
                // close now rather than wait for it.
                if self.decoder.pending_chunk().is_some_and(|p| p > *budget) {
                    return None;
                }
                if self.decoder.is_done() {
                    self.done = true;
                    return Some(true);
                }
                if d.consumed == 0 || rb.is_empty() {
                    return Some(false);
                }
            },
        }
    }
}

fn too_large() -> Error {
    Error::TooLarge("request body larger than max_body_bytes".into())
}

/// A request being handled: the request, the response being built, and
/// the connection they share.
pub struct Exchange<'a> {
    pub(crate) req: &'a mut Request,
    pub(crate) resp: &'a mut Response,
    pub(crate) body: &'a mut BodyState,
    pub(crate) rbuf: &'a mut ReadBuf,
    pub(crate) wire: Wire<'a>,
    pub(crate) cfg: &'a Config,
    /// Set when the request body turned out broken or too large: the status
    /// the library answers with instead of the handler's response.
    pub(crate) poison: Option<u16>,
    /// Set by `resp_defer` / `resp_stream`: what the connection does with
    /// the response after the handler returns.
    pub(crate) handoff: Option<Handoff>,
    /// The running server's shared state (router, templates, registry).
    pub(crate) shared: &'a Arc<Shared>,
}

impl Exchange<'_> {
    pub fn request(&self) -> &Request {
        self.req
    }

    pub fn request_mut(&mut self) -> &mut Request {
        self.req
    }

    pub fn response(&self) -> &Response {
        self.resp
    }

    /// The response, for the calls that only change buffered state.
    pub fn response_mut(&mut self) -> &mut Response {
        self.resp
    }

    fn poisoned(&mut self, status: u16, err: Error) -> Error {
        self.poison.get_or_insert(status);
        self.body.failed = true;
        err
    }

    /// Sends `100 Continue` if the client waits for it: only once, only when
    /// a body is actually read, never to HTTP/1.0 (the parser never sets it
    /// for 1.0), and not once a final response has started.
    fn send_continue(&mut self) -> Result<()> {
        if !self.body.continue_owed {
            return Ok(());
        }
        self.body.continue_owed = false;
        if self.resp.committed() || !self.rbuf.is_empty() {
            return Ok(());
        }
        self.wire.wbuf.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        self.wire.flush(0)
    }

    fn body_deadline(&self) -> Instant {
        // The handler has been running for an unknown time: the clock.
        crate::rt::refresh_now() + self.cfg.body_timeout
    }

    /// Reads more body bytes into `out`: `Ok(0)` at the end of the body.
    pub fn read_body(&mut self, out: &mut [u8]) -> Result<usize> {
        if self.body.failed {
            return Err(Error::state("the request body is broken"));
        }
        if self.body.done || out.is_empty() {
            return Ok(0);
        }
        if let Err(e) = self.send_continue() {
            return Err(self.poisoned(400, e));
        }
        match self.body.framing {
            Framing::None => Ok(0),
            Framing::Length(_) => {
                let want = out
                    .len()
                    .min(usize::try_from(self.body.remaining).unwrap_or(usize::MAX));
                let n = if !self.rbuf.is_empty() {
                    let n = want.min(self.rbuf.len());
                    out[..n].copy_from_slice(&self.rbuf.data()[..n]);
                    self.rbuf.consume(n);
                    n
                } else {
                    let deadline = self.body_deadline();
                    match crate::rt::block_on(read_until(self.wire.io, &mut out[..want], deadline)) {
                        Ok(0) => return Err(self.poisoned(400, Error::Closed)),
                        Ok(n) => n,
                        Err(e) => {
                            let e = Error::from_io(e);
                            let status = if matches!(e, Error::TimedOut) { 408 } else { 400 };
                            return Err(self.poisoned(status, e));
                        }
                    }
                };
                self.body.remaining -= n as u64;
                self.body.received += n as u64;
                self.body.done = self.body.remaining == 0;
                Ok(n)
            }
            Framing::Chunked => loop {
                if !self.rbuf.is_empty() {
                    match self.body.decoder.decode(self.rbuf.data(), out.len()) {
                        Ok(d) => {
                            if let (Some(limit), Some(pending)) = (self.body.limit, self.body.decoder.pending_chunk()) {
                                let total = self.body.received + d.data.len() as u64;
                                if total.saturating_add(pending) > limit {
                                    self.rbuf.consume(d.consumed);
                                    return Err(self.poisoned(413, too_large()));
                                }
                            }
                            let n = d.data.len();
                            out[..n].copy_from_slice(&self.rbuf.data()[d.data]);
                            self.rbuf.consume(d.consumed);
                            self.body.received += n as u64;
                            if self.body.decoder.is_done() {
                                self.body.done = true;
                                return Ok(n);
                            }
                            if n > 0 {
                                return Ok(n);
                            }
                            if d.consumed > 0 && !self.rbuf.is_empty() {
                                continue;
                            }
                        }
                        Err(e) => {
                            return Err(self.poisoned(e.status, Error::invalid(e.reason)));
                        }
                    }
                }
                let deadline = self.body_deadline();
                match crate::rt::block_on(fill(self.wire.io, self.rbuf, 16 * 1024, deadline)) {
                    Ok(0) => return Err(self.poisoned(400, Error::Closed)),
                    Ok(_) => {}
                    Err(e) => {
                        let e = Error::from_io(e);
                        let status = if matches!(e, Error::TimedOut) { 408 } else { 400 };
                        return Err(self.poisoned(status, e));
                    }
                }
            },
        }
    }

    /// The whole body, read and buffered up to `max_body_bytes` (413 past
    /// it, before reading anything when Content-Length says so). The body is
    /// followed by a NUL that is not part of it.
    pub fn body(&mut self) -> Result<&[u8]> {
        if !self.req.body_loaded {
            self.load_body()?;
        }
        let b = &self.req.body;
        Ok(&b[..b.len() - 1])
    }

    fn load_body(&mut self) -> Result<()> {
        if self.body.failed {
            return Err(Error::state("the request body is broken"));
        }
        let max = self.cfg.max_body_bytes as u64;
        if let Some(rem) = self.body.remaining_length() {
            if self.body.received + rem > max {
                return Err(self.poisoned(413, too_large()));
            }
        }
        let mut body = std::mem::take(&mut self.req.body);
        body.clear();
        // Never reserve what the client announced: it may not send it.
        if let Some(rem) = self.body.remaining_length() {
            body.reserve(rem.min(64 * 1024) as usize + 1);
        }
        self.body.limit = Some(max);
        // Read straight into the body's tail: no stack buffer (worker
        // stacks on firmware are a few KiB).
        const PIECE: usize = 8192;
        let result = loop {
            let len = body.len();
            body.resize(len + PIECE, 0);
            let r = self.read_body(&mut body[len..]);
            body.truncate(len + *r.as_ref().unwrap_or(&0));
            match r {
                Ok(0) => break Ok(()),
                Ok(_) if body.len() as u64 > max => break Err(self.poisoned(413, too_large())),
                Ok(_) => {}
                Err(e) => break Err(e),
            }
        };
        self.body.limit = None;
        body.push(0);
        self.req.body = body;
        self.req.body_loaded = result.is_ok();
        result
    }

    /// A field of an `application/x-www-form-urlencoded` body.
    pub fn form_value(&mut self, name: &[u8]) -> Result<Option<&std::ffi::CStr>> {
        if !self.req.is_form() {
            return Ok(None);
        }
        self.body()?;
        Ok(self.req.form_value(name))
    }

    /// The response and where its bytes go, while the handler still owns
    /// it (not after `defer`; no sending after `stream`).
    pub(crate) fn target(&mut self, sending: bool) -> Result<(&mut Response, &mut dyn Sink)> {
        match self.handoff {
            Some(Handoff::Deferred(..)) => Err(Error::state(
                "the response was deferred: use the handle resp_defer returned",
            )),
            Some(Handoff::Producer(_)) if sending => {
                Err(Error::state("the response body comes from the resp_stream producer"))
            }
            _ => Ok((&mut *self.resp, &mut self.wire)),
        }
    }

    /// The value at `path` (None: the whole document) of the request body
    /// parsed as JSON (read and parsed once; a copy).
    pub fn json_value(&mut self, path: Option<&str>) -> Result<Option<&serde_json::Value>> {
        if self.req.json.is_none() {
            let parsed = serde_json::from_slice(self.body()?)
                .map_err(|e| Error::invalid(format!("the request body is not JSON: {e}")))?;
            self.req.json = Some(parsed);
        }
        let Some(doc) = self.req.json.as_ref() else {
            return Ok(None);
        };
        match path {
            None => Ok(Some(doc)),
            Some(p) => crate::json::get_path(doc, p),
        }
    }

    /// Keeps a string until the handler returns, for C.
    pub(crate) fn keep_string(&mut self, s: String) -> Result<&std::ffi::CStr> {
        let c = std::ffi::CString::new(s).map_err(|_| Error::invalid("the JSON string contains NUL"))?;
        self.req.json_strs.push(c);
        Ok(self.req.json_strs.last().map(|c| c.as_c_str()).unwrap_or_default())
    }

    pub fn send(&mut self, data: &[u8]) -> Result<()> {
        let (resp, sink) = self.target(true)?;
        resp.send(sink, data)
    }

    pub fn send_header(&mut self, reason: Option<&str>, content: &[u8]) -> Result<()> {
        let (resp, sink) = self.target(true)?;
        resp.send_header(sink, reason, content)
    }

    pub fn flush(&mut self) -> Result<()> {
        let (resp, sink) = self.target(true)?;
        resp.flush(sink)
    }

    pub fn abort(&mut self, code: i32, content: Option<&[u8]>, reason: Option<&str>) -> Result<()> {
        let (resp, sink) = self.target(false)?;
        resp.abort(sink, code, content, reason)
    }

    pub fn close(&mut self) -> Result<()> {
        let (resp, sink) = self.target(false)?;
        resp.close(sink)
    }

    /// Sends the file at `path` as the body, after the handler returns (see
    /// [`crate::files::prepare`]). Nothing changes when it fails.
    pub fn send_file(&mut self, path: &str) -> Result<()> {
        self.check_no_handoff()?;
        crate::files::prepare(self.resp, self.req, path)
    }

    /// [`Exchange::send_file`] for a regular file already open (a static
    /// mount's), whose type comes from `type_path`.
    pub(crate) fn send_opened_file(
        &mut self,
        file: std::sync::Arc<std::fs::File>,
        meta: &std::fs::Metadata,
        type_path: &str,
    ) -> Result<()> {
        self.check_no_handoff()?;
        crate::files::prepare_opened(self.resp, self.req, file, meta, type_path)
    }

    fn check_no_handoff(&self) -> Result<()> {
        if self.handoff.is_some() {
            return Err(Error::state("the response was deferred or given a producer"));
        }
        Ok(())
    }

    /// Hands the response over to a [`Deferred`] that outlives the handler.
    /// The connection writes what it sends after the handler returns, and
    /// takes the next request only once it is finished. A request body the
    /// handler has not read by now makes the connection close afterwards.
    pub fn defer(&mut self) -> Result<Deferred> {
        if self.handoff.is_some() {
            return Err(Error::state("the response was already deferred or given a producer"));
        }
        if self.wire.broken || matches!(self.resp.phase, Phase::Finished | Phase::Aborted | Phase::Closed) {
            return Err(Error::state("the response is finished or the connection closed"));
        }
        if !matches!(self.body.leftover(), Leftover::None) {
            self.resp.force_close = true;
        }
        let (tx, rx) = smol::channel::bounded(CHANNEL_DEPTH);
        let timed_out = Arc::new(AtomicBool::new(false));
        let resp = std::mem::take(&mut *self.resp);
        self.handoff = Some(Handoff::Deferred(rx, timed_out.clone()));
        Ok(Deferred::new(
            resp,
            tx,
            timed_out,
            self.cfg.write_timeout,
            self.wire.io.raw_fd(),
            self.shared.clone(),
        ))
    }

    /// Checks that a producer may be attached (before building it, so a
    /// refused call does not consume the caller's userdata).
    pub fn can_stream(&self) -> Result<()> {
        if self.handoff.is_some() {
            return Err(Error::state("the response was already deferred or given a producer"));
        }
        if self.wire.broken || matches!(self.resp.phase, Phase::Finished | Phase::Aborted | Phase::Closed) {
            return Err(Error::state("the response is finished or the connection closed"));
        }
        Ok(())
    }

    /// Attaches a body producer, run after the handler returns (call
    /// `can_stream` first).
    pub fn stream(&mut self, producer: Producer) {
        self.handoff = Some(Handoff::Producer(producer));
    }

    /// The client socket, while the connection is open.
    pub fn client_fd(&self) -> Result<i32> {
        if matches!(self.handoff, Some(Handoff::Deferred(..))) {
            return Err(Error::state(
                "the response was deferred: use the handle resp_defer returned",
            ));
        }
        if self.wire.broken {
            return Err(Error::Closed);
        }
        self.wire
            .io
            .raw_fd()
            .ok_or(Error::Unsupported("this connection has no OS socket"))
    }
}
