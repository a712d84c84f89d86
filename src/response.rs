//! The response state machine.
//!
//! ```text
//!   Open ──send/send_header──► Streaming ──finish──► Finished
//!     │                            │
//!     ├──finish (buffered)──► Finished
//!     ├──abort──► Aborted          ├──abort──► Aborted (no final chunk)
//!     └──close──► Closed           └──close / peer gone──► Closed
//! ```
//!
//! While `Open` everything is buffered (status, headers, body). Sending
//! commits the head; from then on only body bytes may follow. The library
//! owns framing: it writes `Content-Length`, `Transfer-Encoding` and
//! `Connection` itself and refuses header names, values and status codes
//! that could split the response.
//!
//! Bytes go out through a [`Sink`]. The state machine does not know whether
//! that is the connection's own buffer (a handler running inline) or
//! something else, so the same code serves every way of responding.

use std::ffi::CStr;

use crate::error::{Error, Result};
use crate::files::FileBody;
use crate::http::date::push_date_header;
use crate::http::status::{bodyless, reason as std_reason};
use crate::util::{
    clear_capped, eq_ignore_case, is_field_value, is_reason_phrase, is_token, parse_decimal, push_decimal, push_hex,
};

/// Cookie attribute flags; the C header repeats these values as
/// `MR_COOKIE_*` (a test checks they agree).
pub mod cookie_flags {
    pub(crate) const SECURE: u32 = 1;
    pub(crate) const HTTPONLY: u32 = 2;
    pub(crate) const SAMESITE_LAX: u32 = 4;
    pub(crate) const SAMESITE_STRICT: u32 = 8;
    pub(crate) const SAMESITE_NONE: u32 = 16;
    pub(crate) const ALL: u32 = 31;
}

/// Bytes buffered before a streaming response is written out.
pub(crate) const FLUSH_THRESHOLD: usize = 16 * 1024;
/// Payloads at least this large are written straight from the caller's
/// memory instead of being copied into the buffer.
const WRITE_THROUGH: usize = 8 * 1024;

/// Where response bytes go.
pub(crate) trait Sink {
    /// The buffer for outgoing bytes.
    fn buf(&mut self) -> &mut Vec<u8>;
    /// Writes the buffer out if it holds at least `threshold` bytes.
    fn flush(&mut self, threshold: usize) -> Result<()>;
    /// Writes the buffer, then `data`, without copying `data`.
    fn write_through(&mut self, data: &[u8]) -> Result<()>;
    /// Closes the connection for writing: the peer sees the end at once.
    fn shutdown(&mut self);
}

/// A sink that only collects bytes: used when serialising after the
/// handler, when the connection writes the buffer itself.
impl Sink for Vec<u8> {
    fn buf(&mut self) -> &mut Vec<u8> {
        self
    }
    fn flush(&mut self, _threshold: usize) -> Result<()> {
        Ok(())
    }
    fn write_through(&mut self, data: &[u8]) -> Result<()> {
        self.extend_from_slice(data);
        Ok(())
    }
    fn shutdown(&mut self) {}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Open,
    Streaming,
    Finished,
    Aborted,
    Closed,
}

/// How a committed body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutFraming {
    /// No framing header and no body (HEAD of unknown length, 1xx/204/304).
    NoBody,
    Length(u64),
    Chunked,
    /// HTTP/1.0 without a length: the body ends when the connection closes.
    UntilClose,
}

#[derive(Debug, Clone, Copy)]
struct Field {
    name: (u32, u32),
    value: (u32, u32),
}

/// The response a handler builds.
#[derive(Debug)]
pub struct Response {
    status: u16,
    reason: Option<String>,
    /// Header storage: `name\0value\0` runs that `fields` point into.
    hbuf: Vec<u8>,
    fields: Vec<Field>,
    body: Vec<u8>,
    declared_len: Option<u64>,
    user_close: bool,
    redirected: bool,
    pub(crate) phase: Phase,
    framing: OutFraming,
    body_sent: u64,
    // Set by the connection for each request.
    head_request: bool,
    version: u8,
    keep_alive: bool,
    /// The connection will close after this response whatever the handler
    /// does (server stopping, request body that cannot be drained, ...).
    pub(crate) force_close: bool,
    /// Server-Sent Events heartbeat period while a deferred response idles.
    pub(crate) heartbeat: Option<std::time::Duration>,
    /// A file to send as the body (the connection sends it after the head).
    file: Option<FileBody>,
    /// The Content-Type was chosen by the library for a body (a setter or
    /// a file), not by the handler: a later file may replace it.
    auto_type: bool,
    /// The JSON builder's document (resp_json_set_*), rendered into the
    /// body once, when the response is finished.
    json: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Default for Response {
    fn default() -> Self {
        Response::new()
    }
}

impl Response {
    pub(crate) fn new() -> Self {
        Response {
            status: 200,
            reason: None,
            hbuf: Vec::new(),
            fields: Vec::new(),
            body: Vec::new(),
            declared_len: None,
            user_close: false,
            redirected: false,
            phase: Phase::Open,
            framing: OutFraming::NoBody,
            body_sent: 0,
            head_request: false,
            version: 11,
            keep_alive: true,
            force_close: false,
            heartbeat: None,
            file: None,
            auto_type: false,
            json: None,
        }
    }

    /// Prepares for a new request on the connection.
    pub(crate) fn reset(&mut self, version: u8, head_request: bool, keep_alive: bool) {
        self.clear_content();
        if self.body.capacity() > 64 * 1024 {
            self.body = Vec::new();
        }
        if self.hbuf.capacity() > 16 * 1024 {
            self.hbuf = Vec::new();
        }
        self.phase = Phase::Open;
        self.framing = OutFraming::NoBody;
        self.body_sent = 0;
        self.head_request = head_request;
        self.version = version;
        self.keep_alive = keep_alive;
        self.force_close = false;
    }

    /// Forgets status, headers and body (not the connection facts).
    fn clear_content(&mut self) {
        self.status = 200;
        self.reason = None;
        self.hbuf.clear();
        self.fields.clear();
        self.drop_body();
        self.declared_len = None;
        self.user_close = false;
        self.redirected = false;
        self.heartbeat = None;
        self.auto_type = false;
    }

    /// Drops what the last response left (a file, a JSON document) and
    /// frees buffers larger than `max` bytes, before the response is kept
    /// for another connection.
    pub(crate) fn trim(&mut self, max: usize) {
        clear_capped(&mut self.hbuf, max);
        clear_capped(&mut self.fields, max);
        clear_capped(&mut self.body, max);
        self.file = None;
        self.json = None;
        self.reason = None;
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    /// True once bytes of this response may have gone out.
    pub(crate) fn committed(&self) -> bool {
        self.phase != Phase::Open
    }

    /// Body bytes written for this response (for the access log).
    pub(crate) fn bytes_sent(&self) -> u64 {
        self.body_sent
    }

    fn check_open(&self) -> Result<()> {
        match self.phase {
            Phase::Open => Ok(()),
            Phase::Closed => Err(Error::state("the connection was closed")),
            _ => Err(Error::state("the response head was already sent")),
        }
    }

    /// Sets the status code (100..=999).
    pub fn set_status(&mut self, code: i32) -> Result<()> {
        let code = valid_status(code)?;
        self.check_open()?;
        self.status = code;
        Ok(())
    }

    // ---- headers -------------------------------------------------------

    fn name_of(&self, f: &Field) -> &[u8] {
        &self.hbuf[f.name.0 as usize..(f.name.0 + f.name.1) as usize]
    }

    fn value_of(&self, f: &Field) -> &[u8] {
        &self.hbuf[f.value.0 as usize..(f.value.0 + f.value.1) as usize]
    }

    fn has_header(&self, name: &[u8]) -> bool {
        self.fields.iter().any(|f| eq_ignore_case(self.name_of(f), name))
    }

    fn push_field(&mut self, name: &[u8], value: &[u8]) {
        if self.fields.capacity() == 0 {
            // Room for a few fields at once (small: held while idle).
            self.fields.reserve(4);
            self.hbuf.reserve(64);
        }
        let n0 = self.hbuf.len() as u32;
        self.hbuf.extend_from_slice(name);
        self.hbuf.push(0);
        let v0 = self.hbuf.len() as u32;
        self.hbuf.extend_from_slice(value);
        self.hbuf.push(0);
        self.fields.push(Field {
            name: (n0, name.len() as u32),
            value: (v0, value.len() as u32),
        });
    }

    /// Sets the one field `name` (any earlier ones with that name go).
    fn replace_field(&mut self, name: &[u8], value: &[u8]) {
        self.remove_fields(name);
        self.push_field(name, value);
    }

    /// Drops whatever body was set: bytes, file and JSON document.
    fn drop_body(&mut self) {
        self.body.clear();
        self.file = None;
        self.json = None;
    }

    fn remove_fields(&mut self, name: &[u8]) {
        let hbuf = &self.hbuf;
        self.fields.retain(|f| {
            let n = &hbuf[f.name.0 as usize..(f.name.0 + f.name.1) as usize];
            !eq_ignore_case(n, name)
        });
    }

    /// Validates a header and applies the rules for the names the library
    /// owns. Returns false when the field must not be stored.
    fn check_header(&mut self, name: &[u8], value: &[u8]) -> Result<()> {
        if !is_token(name) {
            return Err(Error::invalid("header name is not a valid token"));
        }
        if !is_field_value(value) {
            return Err(Error::invalid(
                "header value contains CR, LF, NUL or another control character",
            ));
        }
        if eq_ignore_case(name, b"transfer-encoding") {
            return Err(Error::invalid("Transfer-Encoding is set by the library"));
        }
        if eq_ignore_case(name, b"content-type") {
            self.auto_type = false;
        }
        if eq_ignore_case(name, b"content-length") {
            let n = parse_decimal(value).ok_or_else(|| Error::invalid("Content-Length must be a decimal number"))?;
            self.declared_len = Some(n);
        } else if eq_ignore_case(name, b"connection") {
            if eq_ignore_case(value, b"close") {
                self.user_close = true;
            } else if !eq_ignore_case(value, b"keep-alive") {
                return Err(Error::invalid("Connection may only be set to close or keep-alive"));
            }
        }
        Ok(())
    }

    /// Replaces every header of that name.
    pub fn set_header(&mut self, name: &str, value: &str) -> Result<()> {
        self.check_open()?;
        let (n, v) = (name.as_bytes(), value.as_bytes());
        self.check_header(n, v)?;
        self.replace_field(n, v);
        Ok(())
    }

    /// Adds a header, keeping earlier ones of the same name (`Content-Length`
    /// and `Connection` replace: they can appear only once).
    pub fn add_header(&mut self, name: &str, value: &str) -> Result<()> {
        self.check_open()?;
        let (n, v) = (name.as_bytes(), value.as_bytes());
        self.check_header(n, v)?;
        if eq_ignore_case(n, b"content-length") || eq_ignore_case(n, b"connection") {
            self.remove_fields(n);
        }
        self.push_field(n, v);
        Ok(())
    }

    /// Removes every header of that name (not an error when there is none).
    pub fn remove_header(&mut self, name: &str) -> Result<()> {
        self.check_open()?;
        let n = name.as_bytes();
        if eq_ignore_case(n, b"content-length") {
            self.declared_len = None;
        } else if eq_ignore_case(n, b"connection") {
            self.user_close = false;
        }
        self.remove_fields(n);
        Ok(())
    }

    /// The first value of a header set on this response.
    pub fn header(&self, name: &str) -> Option<&CStr> {
        let f = self
            .fields
            .iter()
            .find(|f| eq_ignore_case(self.name_of(f), name.as_bytes()))?;
        let start = f.value.0 as usize;
        CStr::from_bytes_with_nul(&self.hbuf[start..=start + f.value.1 as usize]).ok()
    }

    /// Sets `Content-Type` (the seed's `mime_Type`).
    pub fn set_mime_type(&mut self, mime: &str) -> Result<()> {
        if mime.is_empty() {
            return Err(Error::invalid("empty MIME type"));
        }
        self.set_header("Content-Type", mime)
    }

    // ---- cookies -------------------------------------------------------

    /// `Set-Cookie` with every attribute. A cookie of the same name set
    /// earlier on this response is replaced.
    pub fn set_cookie(
        &mut self,
        name: &str,
        value: &str,
        max_age: Option<i64>,
        path: Option<&str>,
        domain: Option<&str>,
        flags: u32,
    ) -> Result<()> {
        use cookie_flags::*;
        self.check_open()?;
        if !is_token(name.as_bytes()) {
            return Err(Error::invalid("cookie name is not a valid token"));
        }
        if !valid_cookie_value(value.as_bytes()) {
            return Err(Error::invalid("cookie value has a character cookies cannot carry (space, quote, comma, semicolon, backslash or a control)"));
        }
        let attr_ok = |s: &str| !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b';');
        if path.is_some_and(|p| !attr_ok(p)) || domain.is_some_and(|d| !attr_ok(d)) {
            return Err(Error::invalid(
                "cookie path or domain is empty or has a control, space or semicolon",
            ));
        }
        if flags & !ALL != 0 {
            return Err(Error::invalid("unknown cookie flag"));
        }
        let same_site = flags & (SAMESITE_LAX | SAMESITE_STRICT | SAMESITE_NONE);
        if same_site.count_ones() > 1 {
            return Err(Error::invalid("more than one SameSite flag"));
        }
        if same_site == SAMESITE_NONE && flags & SECURE == 0 {
            return Err(Error::invalid(
                "SameSite=None requires MR_COOKIE_SECURE (browsers drop it otherwise)",
            ));
        }
        let mut line = Vec::with_capacity(name.len() + value.len() + 64);
        line.extend_from_slice(name.as_bytes());
        line.push(b'=');
        line.extend_from_slice(value.as_bytes());
        if let Some(age) = max_age {
            line.extend_from_slice(b"; Max-Age=");
            line.extend_from_slice(age.to_string().as_bytes());
            if age == 0 {
                line.extend_from_slice(b"; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
            }
        }
        line.extend_from_slice(b"; Path=");
        line.extend_from_slice(path.unwrap_or("/").as_bytes());
        if let Some(d) = domain {
            line.extend_from_slice(b"; Domain=");
            line.extend_from_slice(d.as_bytes());
        }
        if flags & SECURE != 0 {
            line.extend_from_slice(b"; Secure");
        }
        if flags & HTTPONLY != 0 {
            line.extend_from_slice(b"; HttpOnly");
        }
        match same_site {
            SAMESITE_LAX => line.extend_from_slice(b"; SameSite=Lax"),
            SAMESITE_STRICT => line.extend_from_slice(b"; SameSite=Strict"),
            SAMESITE_NONE => line.extend_from_slice(b"; SameSite=None"),
            _ => {}
        }
        // Replace an earlier cookie of the same name.
        let hbuf = &self.hbuf;
        self.fields.retain(|f| {
            let n = &hbuf[f.name.0 as usize..(f.name.0 + f.name.1) as usize];
            let v = &hbuf[f.value.0 as usize..(f.value.0 + f.value.1) as usize];
            !(eq_ignore_case(n, b"set-cookie")
                && v.len() > name.len()
                && v.starts_with(name.as_bytes())
                && v[name.len()] == b'=')
        });
        self.push_field(b"Set-Cookie", &line);
        Ok(())
    }

    /// Expires a cookie in the client.
    pub fn delete_cookie(&mut self, name: &str) -> Result<()> {
        self.set_cookie(name, "", Some(0), None, None, 0)
    }

    // ---- buffered bodies -----------------------------------------------

    fn set_body(&mut self, content_type: &str, data: &[u8]) -> Result<()> {
        self.check_open()?;
        if self.redirected {
            return Err(Error::state("the response is a redirect"));
        }
        self.replace_field(b"Content-Type", content_type.as_bytes());
        self.auto_type = true;
        self.drop_body();
        self.body.extend_from_slice(data);
        Ok(())
    }

    pub fn set_text(&mut self, text: &str) -> Result<()> {
        self.set_body("text/plain; charset=utf-8", text.as_bytes())
    }

    pub fn set_html(&mut self, html: &str) -> Result<()> {
        self.set_body("text/html; charset=utf-8", html.as_bytes())
    }

    pub fn set_content(&mut self, data: &[u8]) -> Result<()> {
        self.set_body("application/octet-stream", data)
    }

    /// A JSON body, validated (syntax only; the text is sent as given).
    pub fn set_json(&mut self, json: &str) -> Result<()> {
        if let Err(e) = serde_json::from_str::<&serde_json::value::RawValue>(json) {
            return Err(Error::invalid(format!("invalid JSON: {e}")));
        }
        self.set_body("application/json", json.as_bytes())
    }

    /// Sets `value` at the dotted `path` of the JSON builder's document
    /// (seed: `resp.json.a.b = value`). The first call replaces any earlier
    /// body with an empty object; a later body setter replaces the
    /// document. Nothing changes on error.
    pub fn json_set(&mut self, path: &str, value: serde_json::Value) -> Result<()> {
        self.check_open()?;
        if self.redirected {
            return Err(Error::state("the response is a redirect"));
        }
        let existing = self.json.take();
        let fresh = existing.is_none();
        let mut doc = existing.unwrap_or_default();
        if let Err(e) = crate::json::set_path(&mut doc, path, value) {
            if !fresh {
                self.json = Some(doc);
            }
            return Err(e);
        }
        if fresh {
            self.drop_body();
            self.replace_field(b"Content-Type", b"application/json");
            self.auto_type = true;
        }
        self.json = Some(doc);
        Ok(())
    }

    // ---- redirect ------------------------------------------------------

    /// A redirect: status `code` (0 means 302) and `Location`. Local paths
    /// and explicit `http(s)://` URLs are accepted; `//host` and backslash
    /// forms, which browsers read as another host, are refused, as are
    /// other schemes (`javascript:`).
    pub fn redirect(&mut self, location: &str, code: i32) -> Result<()> {
        let code = match code {
            0 => 302,
            301 | 302 | 303 | 307 | 308 => code as u16,
            _ => return Err(Error::invalid("redirect code must be 301, 302, 303, 307 or 308")),
        };
        check_location(location.as_bytes())?;
        self.check_open()?;
        self.status = code;
        self.drop_body();
        self.remove_fields(b"content-type");
        self.replace_field(b"Location", location.as_bytes());
        self.redirected = true;
        Ok(())
    }

    // ---- sending -------------------------------------------------------

    /// True when no body bytes may go out for this response.
    fn no_body(&self) -> bool {
        self.head_request || bodyless(self.status)
    }

    fn will_close(&self) -> bool {
        !self.keep_alive
            || self.user_close
            || self.force_close
            || self.framing == OutFraming::UntilClose
            || self.status < 200
    }

    /// Status line and headers into `out`.
    fn write_head(&self, out: &mut Vec<u8>, reason: Option<&str>, default_type: bool) {
        // A small head in one allocation on a fresh connection, instead of
        // growing 8 -> 16 -> ... -> 128 (no-op once the buffer has grown;
        // kept small: an idle connection holds it for a second).
        out.reserve(128);
        // Every status is three digits (`valid_status`): written directly
        // rather than through the general decimal writer.
        out.extend_from_slice(b"HTTP/1.1 ");
        let s = self.status;
        if (100..=999).contains(&s) {
            out.extend_from_slice(&[
                b'0' + (s / 100) as u8,
                b'0' + (s / 10 % 10) as u8,
                b'0' + (s % 10) as u8,
            ]);
        } else {
            push_decimal(out, u64::from(s));
        }
        out.push(b' ');
        let reason = reason
            .or(self.reason.as_deref())
            .unwrap_or_else(|| std_reason(self.status));
        out.extend_from_slice(reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        if !self.has_header(b"date") {
            push_date_header(out);
        }
        let mut has_type = false;
        for f in &self.fields {
            let name = self.name_of(f);
            if eq_ignore_case(name, b"content-length") || eq_ignore_case(name, b"connection") {
                continue;
            }
            has_type |= eq_ignore_case(name, b"content-type");
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(self.value_of(f));
            out.extend_from_slice(b"\r\n");
        }
        if default_type && !has_type && !bodyless(self.status) {
            // The seed's default mime_Type.
            out.extend_from_slice(b"Content-Type: text/html\r\n");
        }
        match self.framing {
            OutFraming::Length(n) => {
                out.extend_from_slice(b"Content-Length: ");
                push_decimal(out, n);
                out.extend_from_slice(b"\r\n");
            }
            OutFraming::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            OutFraming::NoBody | OutFraming::UntilClose => {}
        }
        if self.will_close() {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if self.version == 10 {
            out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }

    /// Commits the head of a streamed response.
    fn commit(&mut self, sink: &mut dyn Sink, reason: Option<&str>) {
        // A streamed body replaces the builder's document.
        self.json = None;
        self.framing = if bodyless(self.status) {
            OutFraming::NoBody
        } else if let Some(n) = self.declared_len {
            OutFraming::Length(n)
        } else if self.head_request {
            OutFraming::NoBody
        } else if self.version == 11 {
            OutFraming::Chunked
        } else {
            OutFraming::UntilClose
        };
        self.write_head(sink.buf(), reason, true);
        self.phase = Phase::Streaming;
    }

    fn check_can_send(&self) -> Result<()> {
        match self.phase {
            Phase::Open | Phase::Streaming => {
                if self.redirected && self.phase == Phase::Open {
                    return Err(Error::state("the response is a redirect"));
                }
                Ok(())
            }
            Phase::Closed => Err(Error::Closed),
            Phase::Finished | Phase::Aborted => Err(Error::state("the response is finished")),
        }
    }

    /// Records an I/O failure: the connection is unusable afterwards.
    fn io_result(&mut self, r: Result<()>) -> Result<()> {
        if r.is_err() {
            self.phase = Phase::Closed;
        }
        r
    }

    /// Sends the status line and headers now, with an optional reason phrase
    /// and the first body bytes (seed: `send_header`).
    pub(crate) fn send_header(&mut self, sink: &mut dyn Sink, reason: Option<&str>, content: &[u8]) -> Result<()> {
        if let Some(r) = reason {
            if !is_reason_phrase(r.as_bytes()) {
                return Err(Error::invalid("reason phrase contains CR, LF or a control character"));
            }
        }
        self.check_can_send()?;
        if self.phase == Phase::Streaming {
            return Err(Error::state("the response head was already sent"));
        }
        self.check_declared(content)?;
        self.commit(sink, reason);
        self.write_body(sink, content)?;
        let r = sink.flush(0);
        self.io_result(r)
    }

    /// Sends body bytes, committing the head first if needed (seed: `send`).
    /// Bytes are buffered up to [`FLUSH_THRESHOLD`]; [`Response::flush`]
    /// pushes them out earlier.
    pub(crate) fn send(&mut self, sink: &mut dyn Sink, data: &[u8]) -> Result<()> {
        self.check_can_send()?;
        self.check_declared(data)?;
        if self.phase == Phase::Open {
            self.commit(sink, None);
        }
        self.write_body(sink, data)?;
        let r = sink.flush(FLUSH_THRESHOLD);
        self.io_result(r)
    }

    /// Writes everything buffered for this response to the peer now.
    pub(crate) fn flush(&mut self, sink: &mut dyn Sink) -> Result<()> {
        match self.phase {
            Phase::Closed => Err(Error::Closed),
            Phase::Open => Ok(()),
            _ => {
                let r = sink.flush(0);
                self.io_result(r)
            }
        }
    }

    /// Refuses bytes past a declared `Content-Length`, before anything
    /// (not even the head) goes out.
    fn check_declared(&self, data: &[u8]) -> Result<()> {
        match self.declared_len {
            Some(n) if !self.no_body() && self.body_sent.saturating_add(data.len() as u64) > n => {
                Err(Error::invalid("more body bytes than the Content-Length set"))
            }
            _ => Ok(()),
        }
    }

    fn write_body(&mut self, sink: &mut dyn Sink, data: &[u8]) -> Result<()> {
        if data.is_empty() || self.no_body() {
            return Ok(());
        }
        let chunked = self.framing == OutFraming::Chunked;
        if chunked {
            let buf = sink.buf();
            push_hex(buf, data.len() as u64);
            buf.extend_from_slice(b"\r\n");
        }
        let r = if data.len() >= WRITE_THROUGH {
            sink.write_through(data)
        } else {
            sink.buf().extend_from_slice(data);
            Ok(())
        };
        self.io_result(r)?;
        if chunked {
            sink.buf().extend_from_slice(b"\r\n");
        }
        self.body_sent += data.len() as u64;
        Ok(())
    }

    /// Sends `code` with `content` (or a default page) and closes the
    /// connection. After a committed head it closes without the final
    /// chunk, so the client sees the truncation.
    pub(crate) fn abort(
        &mut self,
        sink: &mut dyn Sink,
        code: i32,
        content: Option<&[u8]>,
        reason: Option<&str>,
    ) -> Result<()> {
        let code = if code == 0 { 500 } else { valid_status(code)? };
        if let Some(r) = reason {
            if !is_reason_phrase(r.as_bytes()) {
                return Err(Error::invalid("reason phrase contains CR, LF or a control character"));
            }
        }
        match self.phase {
            Phase::Open => {
                self.status = code;
                self.reason = reason.map(str::to_owned);
                self.redirected = false;
                self.drop_body();
                match content {
                    Some(c) => self.body.extend_from_slice(c),
                    None => {
                        self.replace_field(b"Content-Type", b"text/plain; charset=utf-8");
                        default_page(&mut self.body, code, reason);
                    }
                }
                self.user_close = true;
                self.finish(sink);
                let r = sink.flush(0);
                self.phase = Phase::Aborted;
                sink.shutdown();
                r
            }
            Phase::Streaming => {
                let r = sink.flush(0);
                self.phase = Phase::Aborted;
                sink.shutdown();
                r
            }
            Phase::Closed => Err(Error::Closed),
            Phase::Finished | Phase::Aborted => Err(Error::state("the response is finished")),
        }
    }

    /// Closes the connection now; what was sent so far stays sent.
    pub(crate) fn close(&mut self, sink: &mut dyn Sink) -> Result<()> {
        if self.phase == Phase::Closed {
            return Err(Error::Closed);
        }
        let _ = sink.flush(0);
        sink.shutdown();
        self.phase = Phase::Closed;
        Ok(())
    }

    /// Commits the head of a streamed response now (for a producer started
    /// after the handler returned). Does nothing once committed.
    pub(crate) fn start_stream(&mut self, sink: &mut dyn Sink) -> Result<()> {
        self.check_can_send()?;
        if self.phase == Phase::Open {
            self.commit(sink, None);
        }
        Ok(())
    }

    /// True when a declared Content-Length was not reached: the body is
    /// incomplete whatever else happens.
    pub(crate) fn committed_short(&self) -> bool {
        matches!(self.framing, OutFraming::Length(n) if !self.no_body() && self.body_sent != n)
    }

    /// True when no body bytes may go out (HEAD, 1xx, 204, 304).
    pub(crate) fn bodyless(&self) -> bool {
        self.no_body()
    }

    /// `bytes` framed as a piece of the committed body, for bytes the
    /// connection adds itself (heartbeats): a chunk, raw bytes on a
    /// close-delimited body, or None where extra bytes would break the
    /// framing (a declared Content-Length, no body).
    pub(crate) fn frame_extra(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        if self.phase != Phase::Streaming || self.no_body() {
            return None;
        }
        match self.framing {
            OutFraming::Chunked => {
                let mut v = Vec::with_capacity(bytes.len() + 8);
                push_hex(&mut v, bytes.len() as u64);
                v.extend_from_slice(b"\r\n");
                v.extend_from_slice(bytes);
                v.extend_from_slice(b"\r\n");
                Some(v)
            }
            OutFraming::UntilClose => Some(bytes.to_vec()),
            OutFraming::Length(_) | OutFraming::NoBody => None,
        }
    }

    /// Sets the Server-Sent Events heartbeat: a comment line sent every
    /// `seconds` while a deferred response has nothing to send (0: off).
    pub fn set_heartbeat(&mut self, seconds: u32) -> Result<()> {
        if matches!(self.phase, Phase::Finished | Phase::Aborted | Phase::Closed) {
            return Err(Error::state("the response is finished"));
        }
        self.heartbeat = (seconds > 0).then(|| std::time::Duration::from_secs(u64::from(seconds)));
        Ok(())
    }

    /// Sends one Server-Sent Event and flushes it. The first event commits
    /// the head with `Content-Type: text/event-stream` and `Cache-Control:
    /// no-cache` (unless the handler set one). `data` becomes one `data:`
    /// line per line (CRLF, CR and LF all end a line).
    pub(crate) fn sse_event(
        &mut self,
        sink: &mut dyn Sink,
        event: Option<&str>,
        data: &str,
        id: Option<&str>,
    ) -> Result<()> {
        let one_line = |s: &str| !s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
        if event.is_some_and(|e| !one_line(e)) || id.is_some_and(|i| !one_line(i)) {
            return Err(Error::invalid("SSE event name and id cannot contain CR, LF or NUL"));
        }
        if data.contains('\0') {
            return Err(Error::invalid("SSE data cannot contain NUL"));
        }
        self.check_can_send()?;
        if self.phase == Phase::Open {
            self.replace_field(b"Content-Type", b"text/event-stream");
            if !self.has_header(b"cache-control") {
                self.push_field(b"Cache-Control", b"no-cache");
            }
        }
        let mut ev = Vec::with_capacity(data.len() + 32);
        if let Some(e) = event {
            ev.extend_from_slice(b"event: ");
            ev.extend_from_slice(e.as_bytes());
            ev.push(b'\n');
        }
        if let Some(i) = id {
            ev.extend_from_slice(b"id: ");
            ev.extend_from_slice(i.as_bytes());
            ev.push(b'\n');
        }
        let normalized = data.replace("\r\n", "\n").replace('\r', "\n");
        for line in normalized.split('\n') {
            ev.extend_from_slice(b"data: ");
            ev.extend_from_slice(line.as_bytes());
            ev.push(b'\n');
        }
        ev.push(b'\n');
        self.send(sink, &ev)?;
        self.flush(sink)
    }

    /// A file body may be set: nothing sent yet, not a redirect.
    pub(crate) fn check_file_allowed(&self) -> Result<()> {
        self.check_open()?;
        if self.redirected {
            return Err(Error::state("the response is a redirect"));
        }
        Ok(())
    }

    fn set_validators(&mut self, etag: &str, last_modified: &str) {
        for (n, v) in [(&b"ETag"[..], etag), (b"Last-Modified", last_modified)] {
            self.replace_field(n, v.as_bytes());
        }
    }

    /// 304: the client's copy is current.
    pub(crate) fn set_not_modified(&mut self, etag: &str, last_modified: &str) {
        self.status = 304;
        self.drop_body();
        self.set_validators(etag, last_modified);
    }

    /// 416 for a range beyond a `len`-byte file.
    pub(crate) fn set_unsatisfiable(&mut self, len: u64) {
        self.status = 416;
        self.drop_body();
        let mut v = b"bytes */".to_vec();
        push_decimal(&mut v, len);
        self.replace_field(b"Content-Range", &v);
        self.replace_field(b"Content-Type", b"text/plain; charset=utf-8");
        default_page(&mut self.body, 416, None);
    }

    /// Makes `file` the body, with its type (unless one was set), its
    /// validators and, for a range, 206 and `Content-Range`.
    pub(crate) fn set_file(
        &mut self,
        file: FileBody,
        mime: &str,
        etag: &str,
        last_modified: &str,
        partial: Option<(u64, u64, u64)>,
    ) {
        self.body.clear();
        self.json = None;
        if self.auto_type || !self.has_header(b"content-type") {
            self.replace_field(b"Content-Type", mime.as_bytes());
            self.auto_type = true;
        }
        self.set_validators(etag, last_modified);
        self.replace_field(b"Accept-Ranges", b"bytes");
        if let Some((first, count, total)) = partial {
            self.status = 206;
            let mut v = b"bytes ".to_vec();
            push_decimal(&mut v, first);
            v.push(b'-');
            push_decimal(&mut v, first + count - 1);
            v.push(b'/');
            push_decimal(&mut v, total);
            self.replace_field(b"Content-Range", &v);
        }
        self.file = Some(file);
    }

    /// The file the connection must send after the head `finish` wrote
    /// (none for HEAD and bodyless statuses).
    pub(crate) fn take_file(&mut self) -> Option<FileBody> {
        let file = self.file.take()?;
        (!self.no_body()).then_some(file)
    }

    /// Replaces whatever the handler set with a library answer.
    pub(crate) fn set_error(&mut self, code: u16) {
        self.clear_content();
        self.status = code;
        self.push_field(b"Content-Type", b"text/plain; charset=utf-8");
        default_page(&mut self.body, code, None);
    }

    /// Adds an `Allow` header (405 answers and OPTIONS).
    pub(crate) fn push_allow(&mut self, methods: &str) {
        self.push_field(b"Allow", methods.as_bytes());
    }

    /// Ends the response after the handler: a buffered response is
    /// serialised, a streamed one gets its final chunk. Returns true when
    /// the connection must close afterwards.
    pub(crate) fn finish(&mut self, sink: &mut dyn Sink) -> bool {
        if self.phase == Phase::Open {
            if let Some(doc) = self.json.take() {
                self.body.clear();
                // Serialising a Map of Values cannot fail.
                let _ = serde_json::to_writer(&mut self.body, &doc);
            }
        }
        match self.phase {
            Phase::Open => {
                self.framing = if bodyless(self.status) {
                    if self.status == 304 {
                        self.declared_len.map_or(OutFraming::NoBody, OutFraming::Length)
                    } else {
                        OutFraming::NoBody
                    }
                } else if let Some(f) = &self.file {
                    OutFraming::Length(f.len)
                } else if self.head_request && self.body.is_empty() {
                    OutFraming::Length(self.declared_len.unwrap_or(0))
                } else {
                    OutFraming::Length(self.body.len() as u64)
                };
                let has_body = !self.body.is_empty() && !self.no_body();
                self.write_head(sink.buf(), None, has_body);
                if has_body {
                    let body = std::mem::take(&mut self.body);
                    let r = if body.len() >= WRITE_THROUGH {
                        sink.write_through(&body)
                    } else {
                        sink.buf().extend_from_slice(&body);
                        Ok(())
                    };
                    self.body = body;
                    if self.io_result(r).is_err() {
                        return true;
                    }
                    self.body_sent = self.body.len() as u64;
                }
                if let (Some(f), false) = (&self.file, self.no_body()) {
                    // The connection sends the file after this head.
                    self.body_sent = f.len;
                }
                self.phase = Phase::Finished;
                self.will_close()
            }
            Phase::Streaming => {
                self.phase = Phase::Finished;
                match self.framing {
                    OutFraming::Chunked => {
                        sink.buf().extend_from_slice(b"0\r\n\r\n");
                        self.will_close()
                    }
                    // Fewer bytes than declared: only a close tells the client.
                    OutFraming::Length(n) if !self.no_body() && self.body_sent != n => true,
                    _ => self.will_close(),
                }
            }
            Phase::Finished => self.will_close(),
            Phase::Aborted | Phase::Closed => true,
        }
    }
}

fn valid_status(code: i32) -> Result<u16> {
    if (100..=999).contains(&code) {
        Ok(code as u16)
    } else {
        Err(Error::invalid("status code must be within 100..=999"))
    }
}

/// `cookie-value` from RFC 6265 §4.1.1: cookie-octets, optionally quoted.
fn valid_cookie_value(v: &[u8]) -> bool {
    let inner = match v {
        [b'"', inner @ .., b'"'] => inner,
        _ => v,
    };
    inner
        .iter()
        .all(|&b| matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e))
}

fn check_location(loc: &[u8]) -> Result<()> {
    if loc.is_empty() || !loc.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(Error::invalid(
            "redirect location must be non-empty, percent-encoded ASCII without spaces or controls",
        ));
    }
    if loc.contains(&b'\\') || loc.starts_with(b"//") {
        return Err(Error::invalid(
            "redirect location looks local but names another host (// or \\)",
        ));
    }
    // A scheme is whatever comes before the first ':' if no '/', '?' or '#'
    // comes first.
    let end = loc
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(loc.len());
    if let Some(colon) = loc[..end].iter().position(|&b| b == b':') {
        let scheme = &loc[..colon];
        let ok = (eq_ignore_case(scheme, b"http") || eq_ignore_case(scheme, b"https"))
            && loc[colon..].starts_with(b"://")
            && loc.len() > colon + 3;
        if !ok {
            return Err(Error::invalid(
                "redirect location may only use the http and https schemes",
            ));
        }
    }
    Ok(())
}

/// `404 Not Found\n`: the body of library answers.
fn default_page(out: &mut Vec<u8>, code: u16, reason: Option<&str>) {
    push_decimal(out, u64::from(code));
    out.push(b' ');
    out.extend_from_slice(reason.unwrap_or_else(|| std_reason(code)).as_bytes());
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(version: u8, head: bool) -> Response {
        let mut r = Response::new();
        r.reset(version, head, true);
        r
    }

    /// Serialises with the Date line removed, for exact comparisons.
    fn wire(r: &mut Response) -> (String, bool) {
        let mut out = Vec::new();
        let close = r.finish(&mut out);
        (strip_date(&out), close)
    }

    fn strip_date(out: &[u8]) -> String {
        let s = String::from_utf8_lossy(out).into_owned();
        s.split_inclusive("\r\n").filter(|l| !l.starts_with("Date: ")).collect()
    }

    #[test]
    fn empty_handler_gives_200_with_zero_length() {
        let mut r = resp(11, false);
        assert_eq!(
            wire(&mut r),
            ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".into(), false)
        );
    }

    #[test]
    fn buffered_text_with_headers_and_cookie() {
        let mut r = resp(11, false);
        r.set_status(201).unwrap();
        r.set_header("X-A", "1").unwrap();
        r.add_header("X-A", "2").unwrap();
        r.set_cookie("key", "value", None, None, None, cookie_flags::SECURE)
            .unwrap();
        r.set_text("hello").unwrap();
        assert_eq!(r.header("x-a").unwrap().to_bytes(), b"1");
        let (s, close) = wire(&mut r);
        assert_eq!(
            s,
            "HTTP/1.1 201 Created\r\nX-A: 1\r\nX-A: 2\r\nSet-Cookie: key=value; Path=/; Secure\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nhello"
        );
        assert!(!close);
    }

    #[test]
    fn head_keeps_length_and_drops_body() {
        let mut r = resp(11, true);
        r.set_html("<p>hi</p>").unwrap();
        let (s, _) = wire(&mut r);
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 9\r\n\r\n"
        );
    }

    #[test]
    fn bodyless_statuses_never_carry_length_or_body() {
        for code in [204, 100, 101] {
            let mut r = resp(11, false);
            r.set_status(code).unwrap();
            r.set_text("x").unwrap();
            let (s, _) = wire(&mut r);
            assert!(!s.contains("Content-Length") && s.ends_with("\r\n\r\n"), "{code}: {s}");
            assert!(!s.ends_with("x"));
        }
        let mut r = resp(11, false);
        r.set_status(304).unwrap();
        let mut out = Vec::new();
        r.send(&mut out, b"x").unwrap();
        r.finish(&mut out);
        let s = strip_date(&out);
        assert_eq!(s, "HTTP/1.1 304 Not Modified\r\n\r\n");
    }

    #[test]
    fn streaming_is_chunked_on_11_and_close_delimited_on_10() {
        let mut r = resp(11, false);
        let mut out = Vec::new();
        r.send(&mut out, b"hello").unwrap();
        r.send(&mut out, b"").unwrap();
        r.send(&mut out, b" world").unwrap();
        assert!(!r.finish(&mut out));
        assert_eq!(
            strip_date(&out),
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        );
        let mut r = resp(10, false);
        let mut out = Vec::new();
        r.send(&mut out, b"hello").unwrap();
        assert!(r.finish(&mut out));
        assert_eq!(
            strip_date(&out),
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\nhello"
        );
    }

    #[test]
    fn streaming_with_declared_length() {
        let mut r = resp(11, false);
        r.set_header("Content-Length", "10").unwrap();
        let mut out = Vec::new();
        r.send(&mut out, b"hello").unwrap();
        assert!(matches!(r.send(&mut out, b"too much!"), Err(Error::Invalid(_))));
        // 5 of 10 bytes: the connection must close.
        assert!(r.finish(&mut out));
        assert!(strip_date(&out).contains("Content-Length: 10\r\n"));
    }

    #[test]
    fn send_header_with_reason_and_content() {
        let mut r = resp(11, false);
        r.set_status(299).unwrap();
        let mut out = Vec::new();
        r.send_header(&mut out, Some("Custom Thing"), b"abc").unwrap();
        assert!(matches!(r.set_status(200), Err(Error::State(_))));
        assert!(matches!(r.set_header("X", "y"), Err(Error::State(_))));
        assert!(matches!(r.send_header(&mut out, None, b""), Err(Error::State(_))));
        r.finish(&mut out);
        assert!(strip_date(&out).starts_with("HTTP/1.1 299 Custom Thing\r\n"));
        assert!(matches!(
            r.send_header(&mut out, Some("a\r\nb"), b""),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn header_validation() {
        let mut r = resp(11, false);
        for (n, v) in [
            ("X", "a\r\nSet-Cookie: s=1"),
            ("X", "a\0b"),
            ("X", "a\nb"),
            ("X Y", "v"),
            ("X:Y", "v"),
            ("", "v"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "abc"),
            ("Connection", "upgrade"),
        ] {
            assert!(matches!(r.set_header(n, v), Err(Error::Invalid(_))), "{n:?}: {v:?}");
        }
        assert!(r.fields.is_empty());
        assert!(matches!(r.set_status(42), Err(Error::Invalid(_))));
        assert!(matches!(r.set_status(1000), Err(Error::Invalid(_))));
        r.set_header("Connection", "close").unwrap();
        let (s, close) = wire(&mut r);
        assert!(close);
        assert_eq!(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }

    #[test]
    fn cookies() {
        let mut r = resp(11, false);
        r.set_cookie(
            "a",
            "1",
            Some(60),
            Some("/x"),
            Some("example.com"),
            cookie_flags::HTTPONLY | cookie_flags::SAMESITE_STRICT,
        )
        .unwrap();
        assert_eq!(
            r.header("set-cookie").unwrap().to_bytes(),
            b"a=1; Max-Age=60; Path=/x; Domain=example.com; HttpOnly; SameSite=Strict"
        );
        r.set_cookie(
            "a",
            "2",
            None,
            None,
            None,
            cookie_flags::HTTPONLY | cookie_flags::SAMESITE_LAX,
        )
        .unwrap();
        assert_eq!(
            r.header("set-cookie").unwrap().to_bytes(),
            b"a=2; Path=/; HttpOnly; SameSite=Lax"
        );
        assert_eq!(r.fields.len(), 1);
        r.delete_cookie("b").unwrap();
        assert_eq!(r.fields.len(), 2);
        assert!(r.set_cookie("a b", "1", None, None, None, 0).is_err());
        assert!(r.set_cookie("a", "x;y", None, None, None, 0).is_err());
        assert!(r.set_cookie("a", "x y", None, None, None, 0).is_err());
        assert!(r.set_cookie("a", "x", None, Some("/;x"), None, 0).is_err());
        assert!(r
            .set_cookie("a", "x", None, None, None, cookie_flags::SAMESITE_NONE)
            .is_err());
        assert!(r.set_cookie("a", "x", None, None, None, 64).is_err());
        assert!(r
            .set_cookie(
                "a",
                "x",
                None,
                None,
                None,
                cookie_flags::SAMESITE_LAX | cookie_flags::SAMESITE_STRICT
            )
            .is_err());
        r.set_cookie(
            "n",
            "\"quoted\"",
            None,
            None,
            None,
            cookie_flags::SAMESITE_NONE | cookie_flags::SECURE,
        )
        .unwrap();
    }

    #[test]
    fn redirects() {
        let mut r = resp(11, false);
        for bad in [
            "//evil.example/",
            "\\\\evil",
            "/x\r\nY: z",
            "javascript:alert(1)",
            "",
            "/a b",
            "http:/x",
        ] {
            assert!(r.redirect(bad, 302).is_err(), "{bad:?}");
        }
        assert!(r.redirect("/x", 305).is_err());
        r.redirect("http://www.example.com", 0).unwrap();
        assert!(matches!(r.set_text("x"), Err(Error::State(_))));
        r.set_cookie("s", "1", None, None, None, 0).unwrap();
        let (s, _) = wire(&mut r);
        assert_eq!(
            s,
            "HTTP/1.1 302 Found\r\nLocation: http://www.example.com\r\nSet-Cookie: s=1; Path=/\r\nContent-Length: 0\r\n\r\n"
        );
        let mut r = resp(11, false);
        r.redirect("/login?next=%2F", 303).unwrap();
        r.redirect("relative/path", 307).unwrap();
        assert_eq!(r.status(), 307);
    }

    #[test]
    fn abort_before_and_after_commit() {
        let mut r = resp(11, false);
        r.set_header("WWW-Authenticate", "Basic").unwrap();
        let mut out = Vec::new();
        r.abort(&mut out, 401, None, Some("Go Away")).unwrap();
        assert_eq!(
            strip_date(&out),
            "HTTP/1.1 401 Go Away\r\nWWW-Authenticate: Basic\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 12\r\nConnection: close\r\n\r\n401 Go Away\n"
        );
        assert!(matches!(r.send(&mut out, b"x"), Err(Error::State(_))));
        assert!(r.finish(&mut out));

        let mut r = resp(11, false);
        let mut out = Vec::new();
        r.send(&mut out, b"part").unwrap();
        r.abort(&mut out, 0, None, None).unwrap();
        assert!(r.finish(&mut out));
        assert!(
            strip_date(&out).ends_with("4\r\npart\r\n"),
            "no final chunk after abort"
        );
    }

    #[test]
    fn json_is_validated() {
        let mut r = resp(11, false);
        assert!(r.set_json("{\"a\": [1, 2, {\"b\": null}]}").is_ok());
        assert!(matches!(r.set_json("{\"a\": }"), Err(Error::Invalid(_))));
        assert!(matches!(r.set_json("{} x"), Err(Error::Invalid(_))));
        assert_eq!(r.header("content-type").unwrap().to_bytes(), b"application/json");
    }

    #[test]
    fn http10_keep_alive_is_announced() {
        let mut r = resp(10, false);
        r.set_text("x").unwrap();
        let (s, close) = wire(&mut r);
        assert!(!close);
        assert!(s.contains("Connection: keep-alive\r\n"));
        let mut r = Response::new();
        r.reset(10, false, false);
        let (s, close) = wire(&mut r);
        assert!(close && s.contains("Connection: close\r\n"));
    }
}
