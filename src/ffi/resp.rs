//! `resp_*`: building and sending the response inside a handler.
//!
//! The response is buffered until the handler returns, unless the handler
//! starts sending (resp_send_header, resp_send). After the head is sent,
//! status, header, cookie and buffered-body calls fail with MR_ESTATE and
//! change nothing.

use std::ffi::{c_char, c_int, c_uint, c_void};

use super::error::{code_of, einval, status, MR_EINTERNAL, MR_OK};
use super::guard::guard;
use super::{arg_bytes, arg_str, mr_resp, opt_str, out_str};
use crate::deferred::Deferred;
use crate::exchange::Exchange;
use crate::response::cookie_flags;
use crate::response::{Response, Sink};

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

/// What an `mr_resp` points at: the response of a running handler, or a
/// response handed over by `resp_defer` (boxed, owned by the caller until
/// `resp_finish`).
// An inline handle lives on the stack for one handler call; a deferred one
// is boxed on its own: the size difference costs nothing worth a second box.
#[allow(clippy::large_enum_variant)]
pub(crate) enum RespHandle {
    Inline(*mut Exchange<'static>),
    Deferred(Deferred),
}

fn handle<'a>(resp: *mut mr_resp) -> Option<&'a mut RespHandle> {
    // SAFETY: a non-NULL `mr_resp` is either the `RespHandle::Inline` the
    // library made on the stack for the handler call, or a boxed
    // `RespHandle::Deferred` from `resp_defer`; the contract limits its use
    // to the handler call, or to one thread at a time until `resp_finish`.
    unsafe { resp.cast::<RespHandle>().as_mut() }
}

fn inline<'a>(ex: *mut Exchange<'static>) -> &'a mut Exchange<'static> {
    // SAFETY: the pointer was taken from the live `&mut Exchange` of the
    // handler call that made this handle, and is only used during it.
    unsafe { &mut *ex }
}

/// Runs `f` on the response behind `resp` and where its bytes go, then maps
/// the result to a code. `sending`: the call sends body bytes (refused
/// once a `resp_stream` producer owns the body).
fn with_resp(resp: *mut mr_resp, sending: bool, f: impl FnOnce(&mut Response, &mut dyn Sink) -> c_int) -> c_int {
    guard(MR_EINTERNAL, || match handle(resp) {
        Some(RespHandle::Inline(ex)) => match inline(*ex).target(sending) {
            Ok((rsp, sink)) => f(rsp, sink),
            Err(e) => code_of(&e),
        },
        Some(RespHandle::Deferred(d)) => {
            let (rsp, sink) = d.parts();
            let rc = f(rsp, sink);
            match d.settle() {
                Err(e) if rc == MR_OK => code_of(&e),
                _ => rc,
            }
        }
        None => einval("resp is NULL"),
    })
}

/// Like [`with_resp`] for a state change taking one required string.
fn with_resp_str(
    resp: *mut mr_resp,
    s: *const c_char,
    what: &str,
    f: impl FnOnce(&mut Response, &str) -> crate::error::Result<()>,
) -> c_int {
    with_resp(resp, false, |rsp, _| match arg_str(s, what) {
        Ok(s) => status(f(rsp, s)),
        Err(c) => c,
    })
}

/// The response behind a `const` handle, for the getters.
fn view<'a>(resp: *const mr_resp) -> Result<&'a Response, c_int> {
    match handle(resp.cast_mut()) {
        Some(RespHandle::Inline(ex)) => match inline(*ex).target(false) {
            Ok((rsp, _)) => Ok(rsp),
            Err(e) => Err(code_of(&e)),
        },
        Some(RespHandle::Deferred(d)) => Ok(&d.resp),
        None => Err(einval("resp is NULL")),
    }
}

/// Sets the status code sent with the response (default 200).
///
/// Returns: MR_OK; MR_EINVAL if `resp` is NULL or `code` is outside
/// 100..=999; MR_ESTATE if the head was already sent.
/// Ownership: borrows `resp`, valid until the handler returns.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_set_status(resp: *mut mr_resp, code: c_int) -> c_int {
    with_resp(resp, false, |rsp, _| status(rsp.set_status(code)))
}

/// The status code set so far (200 unless changed).
///
/// Returns: the code; MR_EINVAL if `resp` is NULL.
/// Ownership: none.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_status(resp: *const mr_resp) -> c_int {
    guard(MR_EINTERNAL, || match view(resp) {
        Ok(rsp) => c_int::from(rsp.status()),
        Err(c) => c,
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
    with_resp(resp, false, |rsp, _| {
        match (arg_str(name, "name"), arg_str(value, "value")) {
            (Ok(n), Ok(v)) => status(rsp.set_header(n, v)),
            (Err(c), _) | (_, Err(c)) => c,
        }
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
    with_resp(resp, false, |rsp, _| {
        match (arg_str(name, "name"), arg_str(value, "value")) {
            (Ok(n), Ok(v)) => status(rsp.add_header(n, v)),
            (Err(c), _) | (_, Err(c)) => c,
        }
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
    with_resp_str(resp, name, "name", |rsp, n| rsp.remove_header(n))
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
        let Ok(rsp) = view(resp) else { return std::ptr::null() };
        let Ok(name) = arg_str(name, "name") else {
            return std::ptr::null();
        };
        out_str(rsp.header(name))
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
    with_resp_str(resp, mime, "mime", |rsp, m| rsp.set_mime_type(m))
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
    with_resp(resp, false, |rsp, _| {
        match (arg_str(name, "name"), arg_str(value, "value")) {
            (Ok(n), Ok(v)) => status(rsp.set_cookie(
                n,
                v,
                None,
                None,
                None,
                cookie_flags::HTTPONLY | cookie_flags::SAMESITE_LAX,
            )),
            (Err(c), _) | (_, Err(c)) => c,
        }
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
    with_resp(resp, false, |rsp, _| {
        let args = (
            arg_str(name, "name"),
            arg_str(value, "value"),
            opt_str(path, "path"),
            opt_str(domain, "domain"),
        );
        match args {
            (Ok(n), Ok(v), Ok(p), Ok(d)) => {
                let age = (max_age >= 0).then_some(max_age);
                status(rsp.set_cookie(n, v, age, p, d, flags))
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
    with_resp_str(resp, name, "name", |rsp, n| rsp.delete_cookie(n))
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
    with_resp_str(resp, text, "text", |rsp, t| rsp.set_text(t))
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
    with_resp_str(resp, html, "html", |rsp, h| rsp.set_html(h))
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
    with_resp(resp, false, |rsp, _| match arg_bytes(data, len, "data") {
        Ok(d) => status(rsp.set_content(d)),
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
    with_resp_str(resp, json, "json", |rsp, j| rsp.set_json(j))
}

/// The running server's state behind a handle (router, templates).
fn shared_of(h: &RespHandle) -> &crate::server::shared::Shared {
    match h {
        RespHandle::Inline(ex) => inline(*ex).shared,
        RespHandle::Deferred(d) => &d.shared,
    }
}

/// Sets a string in the JSON body being built (seed: `resp.json.hello = "world!"`).
///
/// `path` is a dotted path: "a.b.c" creates the nested objects `a` and `b`.
/// The first resp_json_set_* call replaces any earlier body with an empty
/// object and sets `Content-Type: application/json`; a later body setter
/// (resp_set_text, resp_set_json, ...) replaces the document, in call
/// order. The document is rendered once, as compact JSON (keys in the order
/// first set, strings escaped), when the response is sent. Keys cannot
/// contain dots.
///
/// Returns: MR_OK; MR_EINVAL for a NULL or non-UTF-8 argument, an empty
/// key in `path` ("a..b"), or a path below a value that is not an object
/// ("n.sub" when `n` is a number): then nothing changes; MR_ESTATE if the
/// head was already sent or the response is a redirect.
/// Ownership: `path` and `value` are copied.
/// Thread: the thread running the handler, or the one holding a deferred
/// response.
#[unsafe(no_mangle)]
pub extern "C" fn resp_json_set_str(resp: *mut mr_resp, path: *const c_char, value: *const c_char) -> c_int {
    with_resp(resp, false, |rsp, _| {
        match (arg_str(path, "path"), arg_str(value, "value")) {
            (Ok(p), Ok(v)) => status(rsp.json_set(p, serde_json::Value::from(v))),
            (Err(c), _) | (_, Err(c)) => c,
        }
    })
}

/// Sets an integer in the JSON body being built (see resp_json_set_str).
///
/// Returns: as resp_json_set_str.
/// Ownership: `path` is copied.
/// Thread: as resp_json_set_str.
#[unsafe(no_mangle)]
pub extern "C" fn resp_json_set_int(resp: *mut mr_resp, path: *const c_char, value: i64) -> c_int {
    with_resp_str(resp, path, "path", |rsp, p| {
        rsp.json_set(p, serde_json::Value::from(value))
    })
}

/// Sets a number in the JSON body being built (see resp_json_set_str).
///
/// Returns: as resp_json_set_str; MR_EINVAL also for NaN and infinities
/// (JSON has none).
/// Ownership: `path` is copied.
/// Thread: as resp_json_set_str.
#[unsafe(no_mangle)]
pub extern "C" fn resp_json_set_double(resp: *mut mr_resp, path: *const c_char, value: f64) -> c_int {
    with_resp_str(resp, path, "path", |rsp, p| {
        rsp.json_set(p, crate::json::number(value)?)
    })
}

/// Sets `true` (non-zero) or `false` in the JSON body being built.
///
/// See resp_json_set_str.
///
/// Returns: as resp_json_set_str.
/// Ownership: `path` is copied.
/// Thread: as resp_json_set_str.
#[unsafe(no_mangle)]
pub extern "C" fn resp_json_set_bool(resp: *mut mr_resp, path: *const c_char, value: c_int) -> c_int {
    with_resp_str(resp, path, "path", |rsp, p| {
        rsp.json_set(p, serde_json::Value::from(value != 0))
    })
}

/// Sets `null` in the JSON body being built (see resp_json_set_str).
///
/// Returns: as resp_json_set_str.
/// Ownership: `path` is copied.
/// Thread: as resp_json_set_str.
#[unsafe(no_mangle)]
pub extern "C" fn resp_json_set_null(resp: *mut mr_resp, path: *const c_char) -> c_int {
    with_resp_str(resp, path, "path", |rsp, p| rsp.json_set(p, serde_json::Value::Null))
}

/// Sets a value given as JSON text in the JSON body being built.
///
/// An array, an object, ...; see resp_json_set_str.
///
/// Returns: as resp_json_set_str; MR_EINVAL also when `json` is not valid
/// JSON (the parse error in mr_last_error), and nothing changes.
/// Ownership: `path` and `json` are copied.
/// Thread: as resp_json_set_str.
#[unsafe(no_mangle)]
pub extern "C" fn resp_json_set_raw(resp: *mut mr_resp, path: *const c_char, json: *const c_char) -> c_int {
    with_resp(resp, false, |rsp, _| {
        match (arg_str(path, "path"), arg_str(json, "json")) {
            (Ok(p), Ok(j)) => status(crate::json::parse(j).and_then(|v| rsp.json_set(p, v))),
            (Err(c), _) | (_, Err(c)) => c,
        }
    })
}

/// Renders a Jinja2 template as the HTML body (seed: `load_template`).
///
/// Loads `name` (e.g. "example.html", "pages/about.html") from the folder
/// set with server_set_templates_dir; a name cannot leave that folder.
/// `json_context` is a JSON object whose keys become template variables
/// (NULL: none): "{\"var\": \"foobar\"}". Jinja2 syntax: inheritance
/// (extends/block), include, loops, filters; `.html`, `.htm` and `.xml`
/// templates autoescape. Compiled templates are cached and reloaded when a
/// file in the folder changes (see server_set_templates_reload). The body
/// is `Content-Type: text/html; charset=utf-8`.
///
/// Returns: MR_OK; MR_EINVAL for a NULL `resp`/`name`, a context that is
/// not a JSON object, or a template syntax or render error (template name
/// and line in mr_last_error); MR_ENOTFOUND if there is no such template;
/// MR_ESTATE if no template folder was set, the head was already sent or
/// the response is a redirect; MR_EUNSUPPORTED in a build without the
/// `templates` feature.
/// Ownership: `name` and `json_context` are copied.
/// Thread: the thread running the handler, or the one holding a deferred
/// response.
#[unsafe(no_mangle)]
pub extern "C" fn resp_load_template(resp: *mut mr_resp, name: *const c_char, json_context: *const c_char) -> c_int {
    guard(MR_EINTERNAL, || {
        let Some(h) = handle(resp) else {
            return einval("resp is NULL");
        };
        let (name, ctx) = match (arg_str(name, "name"), opt_str(json_context, "json_context")) {
            (Ok(n), Ok(c)) => (n, c),
            (Err(c), _) | (_, Err(c)) => return c,
        };
        if !cfg!(feature = "templates") {
            return code_of(&crate::error::Error::Unsupported(
                "templates (cargo feature \"templates\")",
            ));
        }
        let Some(templates) = shared_of(h).templates.clone() else {
            return code_of(&crate::error::Error::state(
                "no template folder: call server_set_templates_dir",
            ));
        };
        let html = match templates.render(name, ctx) {
            Ok(html) => html,
            Err(e) => return code_of(&e),
        };
        with_resp(resp, false, |rsp, _| status(rsp.set_html(&html)))
    })
}

/// Redirects (302) to the path of a named route (seed: `redirect(view=Index)`).
///
/// The route must have been registered with server_route_named and must
/// have no parameters; use resp_redirect_route_params otherwise.
///
/// Returns: MR_OK; MR_EINVAL for NULL arguments or a route that needs
/// parameters; MR_ENOTFOUND for an unknown name; MR_ESTATE if the head was
/// already sent.
/// Ownership: `route_name` is copied.
/// Thread: the thread running the handler, or the one holding a deferred
/// response.
#[unsafe(no_mangle)]
pub extern "C" fn resp_redirect_route(resp: *mut mr_resp, route_name: *const c_char) -> c_int {
    guard(MR_EINTERNAL, || {
        resp_redirect_route_params(resp, route_name, std::ptr::null(), 0)
    })
}

/// Redirects to a named route with its parameters filled in (a `url_for`).
///
/// `params` is NULL or a NULL-terminated array of name, value pairs:
/// `const char *p[] = {"id", "42", NULL};` fills "/users/{id}" to
/// "/users/42". Values are percent-encoded (a `{rest...}` value keeps its
/// slashes). `code` as resp_redirect (0 means 302).
///
/// Returns: MR_OK; MR_EINVAL for NULL arguments, a missing or empty value,
/// a value that is not UTF-8, an odd `params` list or a bad `code`;
/// MR_ENOTFOUND for an unknown name; MR_ESTATE if the head was already
/// sent.
/// Ownership: all strings are copied.
/// Thread: the thread running the handler, or the one holding a deferred
/// response.
#[unsafe(no_mangle)]
pub extern "C" fn resp_redirect_route_params(
    resp: *mut mr_resp,
    route_name: *const c_char,
    params: *const *const c_char,
    code: c_int,
) -> c_int {
    guard(MR_EINTERNAL, || {
        let Some(h) = handle(resp) else {
            return einval("resp is NULL");
        };
        let name = match arg_str(route_name, "route_name") {
            Ok(n) => n,
            Err(c) => return c,
        };
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        if !params.is_null() {
            let mut i = 0;
            loop {
                // SAFETY: a NULL-terminated array of C strings, per the docs.
                let n = unsafe { *params.add(i) };
                if n.is_null() {
                    break;
                }
                // SAFETY: as above; the value slot after a name must exist.
                let v = unsafe { *params.add(i + 1) };
                if v.is_null() {
                    return einval("params: a name without a value");
                }
                match (arg_str(n, "param name"), arg_str(v, "param value")) {
                    (Ok(n), Ok(v)) => pairs.push((n, v)),
                    (Err(c), _) | (_, Err(c)) => return c,
                }
                i += 2;
            }
        }
        let url = match shared_of(h).router.url_for(name, &pairs) {
            Ok(u) => u,
            Err(e) => return code_of(&e),
        };
        with_resp(resp, false, |rsp, _| status(rsp.redirect(&url, code)))
    })
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
    with_resp(resp, true, |rsp, sink| {
        match (opt_str(reason, "reason"), arg_bytes(content, len, "content")) {
            (Ok(r), Ok(c)) => status(rsp.send_header(sink, r, c)),
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
    with_resp(resp, true, |rsp, sink| match arg_bytes(data, len, "data") {
        Ok(d) => status(rsp.send(sink, d)),
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
    with_resp(resp, true, |rsp, sink| {
        if text.is_null() {
            return einval("text is NULL");
        }
        // SAFETY: a NUL-terminated string valid for the call (contract).
        let bytes = unsafe { std::ffi::CStr::from_ptr(text) }.to_bytes();
        status(rsp.send(sink, bytes))
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
    with_resp(resp, true, |rsp, sink| status(rsp.flush(sink)))
}

/// Sends a local file as the body (seed: send_file).
///
/// The file is opened now and sent after the handler returns, with
/// `sendfile(2)` on Linux (no copies, the write timeout applies while the
/// client is slow) or a buffered copy elsewhere. The response gets
/// `Content-Length`, `Content-Type` from mr_mime_for_path (unless one was
/// set), a strong `ETag`, `Last-Modified` and `Accept-Ranges: bytes`. While
/// the status is 200, the request decides the answer: `If-None-Match` /
/// `If-Modified-Since` give 304 without a body, a single satisfiable
/// `Range` gives 206 with `Content-Range` (suffix and open ranges too, and
/// `If-Range` is honoured), an unsatisfiable one gives 416 with
/// `Content-Range: bytes */len`, several ranges or an invalid one the whole
/// file. HEAD gets the headers only. Only regular files are sent; the length
/// is fixed when the file is opened, and a file that shrinks meanwhile
/// ends the connection (never padded). `path` is used as given: confining
/// requests to a folder is the caller's job.
///
/// Returns: MR_OK; MR_EINVAL if `resp` or `path` is NULL or `path` is not
/// UTF-8; MR_ENOTFOUND if there is no file; MR_EFORBIDDEN for a folder,
/// FIFO, device or other special file, or when permission is denied;
/// MR_EIO for other errors; MR_ESTATE if the head was already sent, the
/// response is a redirect, was deferred or has a producer. On error
/// nothing is sent and nothing changes, so the handler can answer itself.
/// Ownership: `path` is copied; the library closes the file.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn resp_send_file(resp: *mut mr_resp, path: *const c_char) -> c_int {
    guard(MR_EINTERNAL, || {
        let path = match arg_str(path, "path") {
            Ok(p) => p,
            Err(c) => return c,
        };
        match handle(resp) {
            Some(RespHandle::Inline(ex)) => status(inline(*ex).send_file(path)),
            Some(RespHandle::Deferred(_)) => code_of(&crate::error::Error::state(
                "resp_send_file needs the handler's own response, not a deferred one",
            )),
            None => einval("resp is NULL"),
        }
    })
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
    with_resp_str(resp, location, "location", |rsp, l| rsp.redirect(l, code))
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
    with_resp(resp, false, |rsp, sink| {
        match (opt_str(content, "content"), opt_str(reason, "reason")) {
            (Ok(c), Ok(r)) => status(rsp.abort(sink, code, c.map(str::as_bytes), r)),
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
    with_resp(resp, false, |rsp, sink| status(rsp.close(sink)))
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
    guard(MR_EINTERNAL, || {
        let fd = match handle(resp.cast_mut()) {
            Some(RespHandle::Inline(ex)) => inline(*ex).client_fd(),
            Some(RespHandle::Deferred(d)) => d.client_fd(),
            None => return einval("resp is NULL"),
        };
        fd.unwrap_or_else(|e| code_of(&e))
    })
}

/// A body producer for resp_stream.
///
/// Called on a thread of the library's blocking pool, never on a worker,
/// so it may block or sleep. Fill `buf` with up to `cap` bytes and return
/// the count; return 0 at the end of the body, or a negative value on an
/// error (the connection is then closed without finishing the body).
pub type mr_stream_fn = Option<unsafe extern "C" fn(userdata: *mut c_void, buf: *mut c_void, cap: usize) -> isize>;

/// Releases a producer's userdata; called exactly once.
pub type mr_free_fn = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// A C producer; dropping it calls `free_userdata` (exactly once).
struct CProducer {
    next: unsafe extern "C" fn(*mut c_void, *mut c_void, usize) -> isize,
    userdata: *mut c_void,
    free: mr_free_fn,
}

// SAFETY: the header says producers run on the library's blocking threads;
// the userdata is only passed back to the user's functions.
unsafe impl Send for CProducer {}

impl CProducer {
    fn call(&mut self, buf: &mut [u8]) -> isize {
        // SAFETY: user-supplied producer; `buf` is valid for `buf.len()` bytes.
        unsafe { (self.next)(self.userdata, buf.as_mut_ptr().cast(), buf.len()) }
    }
}

impl Drop for CProducer {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: user-supplied destructor, called once for its userdata.
            unsafe { free(self.userdata) }
        }
    }
}

/// Streams the body from a producer (seed: `resp.streaming = generator()`).
///
/// After the handler returns, the head is sent (chunked on HTTP/1.1,
/// close-delimited on HTTP/1.0, or the Content-Length the handler set) and
/// `next` is called on the library's blocking thread pool, never on a
/// worker, for each piece until it returns 0 (end) or a negative value
/// (error: the connection is closed without the final chunk). Each piece
/// is written before the next is asked for, so a slow client slows the
/// producer. Status and headers may still be set until the handler
/// returns; the body comes only from the producer.
///
/// Returns: MR_OK; MR_EINVAL if `resp` or `next` is NULL; MR_ESTATE if the
/// response was deferred, already has a producer, is finished, or `resp`
/// is a deferred handle.
/// Ownership: on MR_OK the library owns `userdata` and calls
/// `free_userdata(userdata)` exactly once (after the end, an error, when
/// the client goes away, or when the server stops); `free_userdata` may be
/// NULL. On failure nothing is taken: `userdata` stays the caller's.
/// Thread: the thread running the handler; `next` and `free_userdata` run
/// on the library's blocking threads.
#[unsafe(no_mangle)]
pub extern "C" fn resp_stream(
    resp: *mut mr_resp,
    next: mr_stream_fn,
    userdata: *mut c_void,
    free_userdata: mr_free_fn,
) -> c_int {
    guard(MR_EINTERNAL, || {
        let Some(next) = next else {
            return einval("next is NULL");
        };
        match handle(resp) {
            Some(RespHandle::Inline(ex)) => {
                let ex = inline(*ex);
                if let Err(e) = ex.can_stream() {
                    return code_of(&e);
                }
                let mut p = CProducer {
                    next,
                    userdata,
                    free: free_userdata,
                };
                ex.stream(Box::new(move |buf: &mut [u8]| p.call(buf)));
                MR_OK
            }
            Some(RespHandle::Deferred(_)) => code_of(&crate::error::Error::state(
                "resp_stream needs the handler's own response, not a deferred one",
            )),
            None => einval("resp is NULL"),
        }
    })
}

/// Keeps the response open after the handler returns, for another thread.
///
/// Returns a new handle that owns the response; the handler's `resp` must
/// not be used afterwards (calls on it fail with MR_ESTATE). Any thread may
/// then use the handle with the resp_* functions (one thread at a time) and
/// must end it with resp_finish, which sends the end of the response and
/// frees the handle. The connection takes no further request (pipelined
/// ones wait) until then. Bytes sent on the handle go through a small
/// bounded queue: when the client does not read, sending waits (at most the
/// write timeout, then MR_ETIMEDOUT). If the client goes away, calls fail
/// with MR_ECLOSED; resp_finish still frees the handle. Handles never
/// finished are freed by server_free (after server_stop their calls fail
/// with MR_ECLOSED). A request body the handler has not read when it
/// defers makes the connection close after the response. Calling it on a
/// deferred handle returns that handle.
///
/// The queue holds 8 pieces of up to 64 KiB and is written once the
/// handler has returned: send at most that much on the handle before
/// returning, and send the rest from another thread. A handler that sends
/// on another request's deferred handle (an SSE broadcast) may wait while
/// that queue is full, holding its worker.
///
/// Returns: the deferred handle; NULL if `resp` is NULL or the response is
/// finished, already has a producer, or the connection is closed (detail
/// in mr_last_error).
/// Ownership: the caller owns the returned handle until resp_finish (or
/// server_free).
/// Thread: call it on the thread running the handler; use the handle from
/// any thread, one at a time.
#[unsafe(no_mangle)]
pub extern "C" fn resp_defer(resp: *mut mr_resp) -> *mut mr_resp {
    guard(std::ptr::null_mut(), || match handle(resp) {
        Some(RespHandle::Inline(ex)) => match inline(*ex).defer() {
            Ok(d) => {
                let registry = d.shared.registry.clone();
                let ptr = Box::into_raw(Box::new(RespHandle::Deferred(d)));
                let id = ptr as usize;
                registry.insert(
                    id,
                    Box::new(move || {
                        // SAFETY: `id` is the Box made above, still owned by
                        // the registry: resp_finish removes it before freeing.
                        drop(unsafe { Box::from_raw(id as *mut RespHandle) })
                    }),
                );
                ptr.cast()
            }
            Err(e) => {
                code_of(&e);
                std::ptr::null_mut()
            }
        },
        Some(RespHandle::Deferred(_)) => resp,
        None => {
            einval("resp is NULL");
            std::ptr::null_mut()
        }
    })
}

/// Ends a deferred response and frees its handle.
///
/// Sends what is still buffered: the whole response if nothing was sent
/// yet (status, headers and buffered body as set on the handle), or the
/// final chunk of a streamed one. The handle is freed in every case, also
/// when the client went away.
///
/// Returns: MR_OK; MR_EINVAL if `resp` is NULL; MR_ESTATE if `resp` is not
/// a deferred handle (the handler's own response ends when it returns);
/// MR_ECLOSED if the client went away (or the server stopped);
/// MR_ETIMEDOUT if the client did not take the data in time.
/// Ownership: takes the handle; it must not be used afterwards.
/// Thread: any thread, while no other thread uses the handle.
#[unsafe(no_mangle)]
pub extern "C" fn resp_finish(resp: *mut mr_resp) -> c_int {
    guard(MR_EINTERNAL, || match handle(resp) {
        Some(RespHandle::Deferred(d)) => {
            let rc = status(d.finish());
            if d.shared.registry.remove(resp as usize) {
                // SAFETY: the handle is the Box made by resp_defer; it was
                // still registered, so nobody freed it, and the caller gives
                // it up with this call.
                drop(unsafe { Box::from_raw(resp.cast::<RespHandle>()) });
            }
            rc
        }
        Some(RespHandle::Inline(_)) => code_of(&crate::error::Error::state(
            "resp_finish takes a handle from resp_defer",
        )),
        None => einval("resp is NULL"),
    })
}

/// Sends one Server-Sent Event and flushes it at once.
///
/// The first event sends the head with `Content-Type: text/event-stream`
/// and `Cache-Control: no-cache` (unless a Cache-Control was set). The
/// event is `event: <event>` and `id: <id>` lines when given, one
/// `data: <line>` line per line of `data` (CRLF, CR and LF end lines), and
/// an empty line. Use it on a deferred handle (events from another thread)
/// or in the handler itself.
///
/// Returns: MR_OK; MR_EINVAL if `resp` or `data` is NULL, `event` or `id`
/// contains CR, LF or NUL, or a string is not UTF-8; MR_ESTATE if the
/// response is finished, was deferred (use the deferred handle) or has a
/// producer; MR_ETIMEDOUT / MR_ECLOSED as resp_send.
/// Ownership: the strings are copied or sent before returning.
/// Thread: the thread running the handler, or the one holding the deferred
/// handle; may block as resp_send.
#[unsafe(no_mangle)]
pub extern "C" fn resp_sse_event(
    resp: *mut mr_resp,
    event: *const c_char,
    data: *const c_char,
    id: *const c_char,
) -> c_int {
    with_resp(resp, true, |rsp, sink| {
        match (opt_str(event, "event"), arg_str(data, "data"), opt_str(id, "id")) {
            (Ok(e), Ok(d), Ok(i)) => status(rsp.sse_event(sink, e, d, i)),
            (Err(c), ..) | (_, Err(c), _) | (.., Err(c)) => c,
        }
    })
}

/// Sets a Server-Sent Events heartbeat for a deferred event stream.
///
/// A comment line (`: heartbeat`) is sent every `seconds` while the stream
/// has nothing else to send, so proxies and browsers keep it open and a
/// client that left is noticed. 0 turns it off (the default). It applies to deferred responses with a
/// chunked or close-delimited body once the head is sent.
///
/// Returns: MR_OK; MR_EINVAL if `resp` is NULL; MR_ESTATE if the response
/// is finished or was deferred (use the deferred handle).
/// Ownership: none.
/// Thread: the thread running the handler, or the one holding the deferred
/// handle.
#[unsafe(no_mangle)]
pub extern "C" fn resp_sse_heartbeat(resp: *mut mr_resp, seconds: c_uint) -> c_int {
    with_resp(resp, false, |rsp, _| status(rsp.set_heartbeat(seconds)))
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
