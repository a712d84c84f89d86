//! `resp_*`: building and sending the response inside a handler.
//!
//! The response is buffered until the handler returns, unless the handler
//! starts sending (resp_send_header, resp_send). After the head is sent,
//! status, header, cookie and buffered-body calls fail with MR_ESTATE and
//! change nothing.

use std::ffi::{c_char, c_int, c_uint, c_void};

use super::error::{code_of, einval, status, MR_EINTERNAL};
use super::guard::guard;
use super::{arg_bytes, arg_str, exchange, exchange_ref, mr_resp, opt_str, out_str};
use crate::exchange::Exchange;
use crate::response::cookie_flags;

/// Cookie flag: `Secure` (sent over HTTPS only).
pub const MR_COOKIE_SECURE: c_uint = 1;
/// Cookie flag: `HttpOnly` (hidden from scripts).
pub const MR_COOKIE_HTTPONLY: c_uint = 2;
/// Cookie flag: `SameSite=Lax`.
pub const MR_COOKIE_SAMESITE_LAX: c_uint = 4;
/// Cookie flag: `SameSite=Strict`.
pub const MR_COOKIE_SAMESITE_STRICT: c_uint = 8;
/// Cookie flag: `SameSite=None` (requires MR_COOKIE_SECURE).
pub const MR_COOKIE_SAMESITE_NONE: c_uint = 16;

/// Runs `f` on the exchange behind `resp`, mapping the result to a code.
fn with_resp(resp: *mut mr_resp, f: impl FnOnce(&mut Exchange<'static>) -> c_int) -> c_int {
    guard(MR_EINTERNAL, || match exchange(resp) {
        Some(ex) => f(ex),
        None => einval("resp is NULL"),
    })
}

/// Like [`with_resp`] with one required string argument.
fn with_resp_str(
    resp: *mut mr_resp,
    s: *const c_char,
    what: &str,
    f: impl FnOnce(&mut Exchange<'static>, &str) -> crate::error::Result<()>,
) -> c_int {
    with_resp(resp, |ex| match arg_str(s, what) {
        Ok(s) => status(f(ex, s)),
        Err(c) => c,
    })
}

/// Sets the status code sent with the response (default 200).
///
/// Returns: MR_OK; MR_EINVAL if `resp` is NULL or `code` is outside
/// 100..=999; MR_ESTATE if the head was already sent.
/// Ownership: borrows `resp`, valid until the handler returns.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_set_status(resp: *mut mr_resp, code: c_int) -> c_int {
    with_resp(resp, |ex| status(ex.response_mut().set_status(code)))
}

/// The status code set so far (200 unless changed).
///
/// Returns: the code; MR_EINVAL if `resp` is NULL.
/// Ownership: none.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_status(resp: *const mr_resp) -> c_int {
    guard(MR_EINTERNAL, || match exchange_ref(resp) {
        Some(ex) => c_int::from(ex.response().status()),
        None => einval("resp is NULL"),
    })
}

/// Sets a response header, replacing every earlier value of that name.
///
/// Names must be tokens; values may not contain CR, LF, NUL or other
/// control characters (except tab) or start/end with whitespace: such
/// calls fail and nothing is emitted. The library owns framing:
/// `Transfer-Encoding` is refused, `Connection` accepts only "close" or
/// "keep-alive", and `Content-Length` (a decimal number) is only used for a
/// body sent with resp_send (buffered bodies get their real length).
///
/// Returns: MR_OK; MR_EINVAL for a NULL or invalid argument; MR_ESTATE if
/// the head was already sent.
/// Ownership: `name` and `value` are copied.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_set_header(resp: *mut mr_resp, name: *const c_char, value: *const c_char) -> c_int {
    with_resp(resp, |ex| match (arg_str(name, "name"), arg_str(value, "value")) {
        (Ok(n), Ok(v)) => status(ex.response_mut().set_header(n, v)),
        (Err(c), _) | (_, Err(c)) => c,
    })
}

/// Adds a response header, keeping earlier values of that name.
///
/// Adds a response header, keeping earlier values of that name (for headers
/// that may repeat, such as `Link` or `Vary`). Validated as resp_set_header.
///
/// Returns: MR_OK; MR_EINVAL for a NULL or invalid argument; MR_ESTATE if
/// the head was already sent.
/// Ownership: `name` and `value` are copied.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_add_header(resp: *mut mr_resp, name: *const c_char, value: *const c_char) -> c_int {
    with_resp(resp, |ex| match (arg_str(name, "name"), arg_str(value, "value")) {
        (Ok(n), Ok(v)) => status(ex.response_mut().add_header(n, v)),
        (Err(c), _) | (_, Err(c)) => c,
    })
}

/// Removes every response header of that name.
///
/// Removes every response header of that name (case-insensitive). Removing
/// a header that is not there is not an error.
///
/// Returns: MR_OK; MR_EINVAL for a NULL argument; MR_ESTATE if the head was
/// already sent.
/// Ownership: none.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_remove_header(resp: *mut mr_resp, name: *const c_char) -> c_int {
    with_resp_str(resp, name, "name", |ex, n| ex.response_mut().remove_header(n))
}

/// The first value of a header set on the response so far.
///
/// The first value of a header set on the response so far (case-insensitive
/// name), including `Content-Type` and `Set-Cookie` set by other calls.
///
/// Returns: the value, or NULL if not set or an argument is NULL.
/// Ownership: borrowed; valid until the response's headers change or the
/// handler returns.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_header(resp: *const mr_resp, name: *const c_char) -> *const c_char {
    guard(std::ptr::null(), || {
        let Some(ex) = exchange_ref(resp) else {
            einval("resp is NULL");
            return std::ptr::null();
        };
        let Ok(name) = arg_str(name, "name") else {
            return std::ptr::null();
        };
        out_str(ex.response().header(name))
    })
}

/// Sets the Content-Type (the seed's mime_Type).
///
/// Without it, a body sent
/// with resp_send or resp_send_header goes out as "text/html"; the
/// buffered-body setters set their own type (call this after them to
/// override).
///
/// Returns: MR_OK; MR_EINVAL for a NULL, empty or invalid value; MR_ESTATE
/// if the head was already sent.
/// Ownership: `mime` is copied.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_set_mime_type(resp: *mut mr_resp, mime: *const c_char) -> c_int {
    with_resp_str(resp, mime, "mime", |ex, m| ex.response_mut().set_mime_type(m))
}

/// Sets a cookie with safe defaults.
///
/// Sets a cookie with safe defaults: `name=value; Path=/; HttpOnly;
/// SameSite=Lax`. A cookie of the same name set earlier on this response is
/// replaced.
///
/// Returns: MR_OK; MR_EINVAL for a NULL argument, a name that is not a
/// token, or a value with characters cookies cannot carry (space, '"', ',',
/// ';', '\\', controls); MR_ESTATE if the head was already sent.
/// Ownership: `name` and `value` are copied.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_set_cookie(resp: *mut mr_resp, name: *const c_char, value: *const c_char) -> c_int {
    with_resp(resp, |ex| match (arg_str(name, "name"), arg_str(value, "value")) {
        (Ok(n), Ok(v)) => status(ex.response_mut().set_cookie(
            n,
            v,
            None,
            None,
            None,
            cookie_flags::HTTPONLY | cookie_flags::SAMESITE_LAX,
        )),
        (Err(c), _) | (_, Err(c)) => c,
    })
}

/// Sets a cookie with every attribute.
///
/// `max_age` < 0 makes a session cookie; otherwise `Max-Age=max_age`
/// seconds. `path` NULL means "/"; `domain` NULL means none. `flags` is a
/// combination of MR_COOKIE_SECURE, MR_COOKIE_HTTPONLY and at most one of
/// MR_COOKIE_SAMESITE_LAX / _STRICT / _NONE (which needs MR_COOKIE_SECURE).
/// A cookie of the same name set earlier on this response is replaced.
///
/// Returns: MR_OK; MR_EINVAL for a NULL required argument, an invalid name,
/// value, path or domain, unknown flags, two SameSite flags, or SameSite=None
/// without Secure; MR_ESTATE if the head was already sent.
/// Ownership: all strings are copied.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_set_cookie_ex(
    resp: *mut mr_resp,
    name: *const c_char,
    value: *const c_char,
    max_age: i64,
    path: *const c_char,
    domain: *const c_char,
    flags: c_uint,
) -> c_int {
    with_resp(resp, |ex| {
        let args = (
            arg_str(name, "name"),
            arg_str(value, "value"),
            opt_str(path, "path"),
            opt_str(domain, "domain"),
        );
        match args {
            (Ok(n), Ok(v), Ok(p), Ok(d)) => {
                let age = (max_age >= 0).then_some(max_age);
                status(ex.response_mut().set_cookie(n, v, age, p, d, flags))
            }
            (Err(c), ..) | (_, Err(c), ..) | (_, _, Err(c), _) | (.., Err(c)) => c,
        }
    })
}

/// Expires a cookie in the client.
///
/// Expires a cookie in the client (`name=; Max-Age=0; Expires=<1970>;
/// Path=/`). Use resp_set_cookie_ex with max_age 0 for another path.
///
/// Returns: MR_OK; MR_EINVAL for a NULL or invalid name; MR_ESTATE if the
/// head was already sent.
/// Ownership: `name` is copied.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_delete_cookie(resp: *mut mr_resp, name: *const c_char) -> c_int {
    with_resp_str(resp, name, "name", |ex, n| ex.response_mut().delete_cookie(n))
}

/// Sets a text body (text/plain; charset=utf-8).
///
/// Sets a text body, `Content-Type: text/plain; charset=utf-8`, replacing
/// any earlier body.
///
/// Returns: MR_OK; MR_EINVAL for a NULL or non-UTF-8 text; MR_ESTATE if the
/// head was already sent or the response is a redirect.
/// Ownership: `text` is copied.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_set_text(resp: *mut mr_resp, text: *const c_char) -> c_int {
    with_resp_str(resp, text, "text", |ex, t| ex.response_mut().set_text(t))
}

/// Sets an HTML body (text/html; charset=utf-8).
///
/// Sets an HTML body, `Content-Type: text/html; charset=utf-8`, replacing
/// any earlier body.
///
/// Returns: MR_OK; MR_EINVAL for a NULL or non-UTF-8 text; MR_ESTATE if the
/// head was already sent or the response is a redirect.
/// Ownership: `html` is copied.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_set_html(resp: *mut mr_resp, html: *const c_char) -> c_int {
    with_resp_str(resp, html, "html", |ex, h| ex.response_mut().set_html(h))
}

/// Sets a binary body (application/octet-stream).
///
/// Sets a binary body, `Content-Type: application/octet-stream`, replacing
/// any earlier body. `data` may be NULL when `len` is 0.
///
/// Returns: MR_OK; MR_EINVAL if `resp` is NULL or `data` is NULL with a
/// non-zero `len`; MR_ESTATE if the head was already sent or the response
/// is a redirect.
/// Ownership: the `len` bytes at `data` are copied.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_set_content(resp: *mut mr_resp, data: *const c_void, len: usize) -> c_int {
    with_resp(resp, |ex| match arg_bytes(data, len, "data") {
        Ok(d) => status(ex.response_mut().set_content(d)),
        Err(c) => c,
    })
}

/// Sets a JSON body (application/json), validated.
///
/// Sets a JSON body, `Content-Type: application/json`, replacing any earlier
/// body. The text is checked to be valid JSON and sent as given.
///
/// Returns: MR_OK; MR_EINVAL for a NULL argument or invalid JSON (the parse
/// error in mr_last_error; nothing changed); MR_ESTATE if the head was
/// already sent or the response is a redirect.
/// Ownership: `json` is copied.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_set_json(resp: *mut mr_resp, json: *const c_char) -> c_int {
    with_resp_str(resp, json, "json", |ex, j| ex.response_mut().set_json(j))
}

/// Sends the status line and headers now (seed: send_header).
///
/// Sends the status line and headers now (seed: send_header), with an
/// optional custom reason phrase and the first body bytes.
///
/// The body that follows (this `content` and later resp_send calls) is
/// framed by the `Content-Length` header if the handler set one, otherwise
/// chunked on HTTP/1.1 and close-delimited on HTTP/1.0. No body goes out
/// for HEAD requests and 1xx/204/304 statuses. Without a Content-Type, the
/// body is sent as "text/html". The response ends when the handler returns.
///
/// Returns: MR_OK; MR_EINVAL if `resp` is NULL, the reason has CR, LF or
/// controls, `content` is NULL with a non-zero `len`, or content passes a
/// set Content-Length; MR_ESTATE if the head was already sent or the
/// response is finished or a redirect; MR_ETIMEDOUT if the client took no
/// data for the write timeout; MR_ECLOSED if the connection is gone. After
/// MR_ETIMEDOUT or MR_ECLOSED the connection is closed.
/// Ownership: `reason` and `content` are copied or sent before returning.
/// Thread: the thread running the handler; blocks while the client is slow
/// (at most the write timeout without progress).
#[unsafe(no_mangle)]
pub extern "C" fn resp_send_header(
    resp: *mut mr_resp,
    reason: *const c_char,
    content: *const c_void,
    len: usize,
) -> c_int {
    with_resp(resp, |ex| {
        match (opt_str(reason, "reason"), arg_bytes(content, len, "content")) {
            (Ok(r), Ok(c)) => status(ex.send_header(r, c)),
            (Err(c), _) | (_, Err(c)) => c,
        }
    })
}

/// Sends body bytes (seed: send).
///
/// Sends body bytes (seed: send), sending the head first if needed. Call it
/// repeatedly to stream. Framing as for resp_send_header. Small pieces are
/// buffered (up to 16 KiB) and written when the buffer fills, on
/// resp_flush, or when the handler returns; large ones go out at once.
///
/// Returns: MR_OK; MR_EINVAL if `resp` is NULL, `data` is NULL with a
/// non-zero `len`, or the bytes pass a set Content-Length; MR_ESTATE if the
/// response is finished, aborted or a redirect; MR_ETIMEDOUT if the client
/// took no data for the write timeout; MR_ECLOSED if the connection is gone.
/// After MR_ETIMEDOUT or MR_ECLOSED the connection is closed.
/// Ownership: the bytes are copied or sent before returning.
/// Thread: the thread running the handler; may block as resp_send_header.
#[unsafe(no_mangle)]
pub extern "C" fn resp_send(resp: *mut mr_resp, data: *const c_void, len: usize) -> c_int {
    with_resp(resp, |ex| match arg_bytes(data, len, "data") {
        Ok(d) => status(ex.send(d)),
        Err(c) => c,
    })
}

/// resp_send of a NUL-terminated string (without the NUL).
///
/// Returns: as resp_send; MR_EINVAL if `text` is NULL.
/// Ownership: the text is copied or sent before returning.
/// Thread: the thread running the handler; may block as resp_send.
#[unsafe(no_mangle)]
pub extern "C" fn resp_send_str(resp: *mut mr_resp, text: *const c_char) -> c_int {
    with_resp(resp, |ex| {
        if text.is_null() {
            return einval("text is NULL");
        }
        // SAFETY: a NUL-terminated string valid for the call (contract).
        let bytes = unsafe { std::ffi::CStr::from_ptr(text) }.to_bytes();
        status(ex.send(bytes))
    })
}

/// Writes what resp_send has buffered to the client now.
///
/// Does nothing before
/// the head is sent.
///
/// Returns: MR_OK; MR_EINVAL if `resp` is NULL; MR_ETIMEDOUT or MR_ECLOSED
/// as resp_send.
/// Ownership: none.
/// Thread: the thread running the handler; may block as resp_send.
#[unsafe(no_mangle)]
pub extern "C" fn resp_flush(resp: *mut mr_resp) -> c_int {
    with_resp(resp, |ex| status(ex.flush()))
}

/// Makes the response a redirect (seed: redirect).
///
/// Makes the response a redirect to `location` (seed: redirect) with `code`
/// 301, 302, 303, 307 or 308 (0 means 302). The body is cleared and later
/// body calls fail with MR_ESTATE; headers and cookies may still be set.
///
/// `location` is a path ("/login?next=%2F"), a relative reference, or an
/// absolute http:// or https:// URL. It must be ASCII without spaces or
/// controls (percent-encode the rest). Forms that browsers take for another
/// host without saying so ("//evil.example", backslashes) and other schemes
/// ("javascript:") are refused.
///
/// Returns: MR_OK; MR_EINVAL for a NULL or refused location or another
/// code; MR_ESTATE if the head was already sent.
/// Ownership: `location` is copied.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_redirect(resp: *mut mr_resp, location: *const c_char, code: c_int) -> c_int {
    with_resp_str(resp, location, "location", |ex, l| ex.response_mut().redirect(l, code))
}

/// Sends an error response and closes the connection (seed: abort).
///
/// `code` 0 means 500. `content` NULL sends a default plain-text page
/// ("500 Internal Server Error"); otherwise `content` is the body (sent as
/// text/html unless a Content-Type was set). `reason` NULL uses the standard
/// reason phrase. Headers set earlier (e.g. WWW-Authenticate) are kept. If
/// the head was already sent, the connection is closed without finishing
/// the body, so the client sees the truncation. Later calls that send fail
/// with MR_ESTATE.
///
/// Returns: MR_OK; MR_EINVAL if `resp` is NULL, `code` is outside
/// 100..=999, `content` is not UTF-8 or the reason has CR, LF or controls;
/// MR_ESTATE if the response was already finished; MR_ECLOSED if the
/// connection is gone; MR_ETIMEDOUT as resp_send.
/// Ownership: `content` and `reason` are copied or sent before returning.
/// Thread: the thread running the handler; may block as resp_send.
#[unsafe(no_mangle)]
pub extern "C" fn resp_abort(resp: *mut mr_resp, code: c_int, content: *const c_char, reason: *const c_char) -> c_int {
    with_resp(resp, |ex| {
        match (opt_str(content, "content"), opt_str(reason, "reason")) {
            (Ok(c), Ok(r)) => status(ex.abort(code, c.map(str::as_bytes), r)),
            (Err(c), _) | (_, Err(c)) => c,
        }
    })
}

/// Closes the connection now (seed: close).
///
/// What was already sent stays
/// sent; a buffered response is not sent. Later sends fail with MR_ECLOSED.
///
/// Returns: MR_OK; MR_EINVAL if `resp` is NULL; MR_ECLOSED if it was
/// already closed.
/// Ownership: none.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_close(resp: *mut mr_resp) -> c_int {
    with_resp(resp, |ex| status(ex.close()))
}

/// The client socket's file descriptor (seed: client).
///
/// The client socket's file descriptor (seed: client), for socket options
/// or inspection. Do not read, write or close it: the library still owns
/// the connection and will use it after the handler returns.
///
/// Returns: the descriptor (>= 0); MR_EINVAL if `resp` is NULL; MR_ECLOSED
/// if the connection was closed; MR_EUNSUPPORTED if the connection has no
/// OS socket.
/// Ownership: the descriptor stays the library's.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_client_fd(resp: *const mr_resp) -> c_int {
    guard(MR_EINTERNAL, || match exchange_ref(resp) {
        Some(ex) => match ex.client_fd() {
            Ok(fd) => fd,
            Err(e) => code_of(&e),
        },
        None => einval("resp is NULL"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_flags_match_the_core() {
        assert_eq!(MR_COOKIE_SECURE, cookie_flags::SECURE);
        assert_eq!(MR_COOKIE_HTTPONLY, cookie_flags::HTTPONLY);
        assert_eq!(MR_COOKIE_SAMESITE_LAX, cookie_flags::SAMESITE_LAX);
        assert_eq!(MR_COOKIE_SAMESITE_STRICT, cookie_flags::SAMESITE_STRICT);
        assert_eq!(MR_COOKIE_SAMESITE_NONE, cookie_flags::SAMESITE_NONE);
        assert_eq!(
            MR_COOKIE_SECURE
                | MR_COOKIE_HTTPONLY
                | MR_COOKIE_SAMESITE_LAX
                | MR_COOKIE_SAMESITE_STRICT
                | MR_COOKIE_SAMESITE_NONE,
            cookie_flags::ALL
        );
    }
}
