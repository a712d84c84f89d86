//! `req_*`: reading the request inside a handler.
//!
//! Every string returned is borrowed, NUL-terminated and valid until the
//! handler returns; NULL means "absent" (or a NULL argument, with
//! `mr_last_error` set).

use std::ffi::{c_char, c_int, c_void};

use super::error::{code_of, einval, MR_EINTERNAL, MR_OK};
use super::guard::guard;
use super::{arg_str, exchange, exchange_ref, mr_req, out_str};

fn null_req() -> *const c_char {
    einval("req is NULL");
    std::ptr::null()
}

/// The request method, e.g. "GET" (case-sensitive, as received).
///
/// Returns: the method, or NULL if `req` is NULL.
/// Ownership: borrowed; valid until the handler returns.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn req_method(req: *const mr_req) -> *const c_char {
    guard(std::ptr::null(), || match exchange_ref(req) {
        Some(ex) => ex.request().method().as_ptr(),
        None => null_req(),
    })
}

/// The request path as received, without the query.
///
/// The request path as received (still percent-encoded), without the query:
/// "/a%20b" for "GET /a%20b?x=1". For an absolute-form request
/// ("GET http://host/p") it is the path part ("/p").
///
/// Returns: the path, or NULL if `req` is NULL.
/// Ownership: borrowed; valid until the handler returns.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn req_path(req: *const mr_req) -> *const c_char {
    guard(std::ptr::null(), || match exchange_ref(req) {
        Some(ex) => ex.request().path().as_ptr(),
        None => null_req(),
    })
}

/// The raw query string without the '?' ("" when there is none).
///
/// Returns: the query, or NULL if `req` is NULL.
/// Ownership: borrowed; valid until the handler returns.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn req_query(req: *const mr_req) -> *const c_char {
    guard(std::ptr::null(), || match exchange_ref(req) {
        Some(ex) => ex.request().query().as_ptr(),
        None => null_req(),
    })
}

/// The first value of a query parameter, decoded.
///
/// The first value of a query parameter, percent-decoded with '+' as a
/// space ("?q=a+b%21" gives "a b!"). A parameter without '=' has the value "".
/// Names are compared after decoding, case-sensitively.
///
/// Returns: the value; NULL if there is no such parameter or an argument is
/// NULL. A decoded "%00" ends the C string early.
/// Ownership: borrowed; valid until the handler returns.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn req_query_param(req: *mut mr_req, name: *const c_char) -> *const c_char {
    guard(std::ptr::null(), || {
        let Some(ex) = exchange(req) else { return null_req() };
        let Ok(name) = arg_str(name, "name") else {
            return std::ptr::null();
        };
        out_str(ex.request_mut().query_param(name.as_bytes()))
    })
}

/// A route capture, percent-decoded.
///
/// A route capture: for the pattern "/users/{id}" and the path
/// "/users/a%20b", req_param(req, "id") is "a b" (percent-decoded; '+' stays
/// '+'). A `{rest...}` capture holds the rest of the path, slashes included.
///
/// Returns: the value, or NULL if the route has no such parameter or an
/// argument is NULL.
/// Ownership: borrowed; valid until the handler returns.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn req_param(req: *const mr_req, name: *const c_char) -> *const c_char {
    guard(std::ptr::null(), || {
        let Some(ex) = exchange_ref(req) else { return null_req() };
        let Ok(name) = arg_str(name, "name") else {
            return std::ptr::null();
        };
        out_str(ex.request().param(name.as_bytes()))
    })
}

/// The first value of a request header.
///
/// The first value of a request header; the name is case-insensitive.
/// Use req_header_at to see repeated headers.
///
/// Returns: the value (without surrounding whitespace), or NULL if the
/// header is absent or an argument is NULL.
/// Ownership: borrowed; valid until the handler returns.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn req_header(req: *const mr_req, name: *const c_char) -> *const c_char {
    guard(std::ptr::null(), || {
        let Some(ex) = exchange_ref(req) else { return null_req() };
        let Ok(name) = arg_str(name, "name") else {
            return std::ptr::null();
        };
        out_str(ex.request().header(name.as_bytes()))
    })
}

/// The number of header fields in the request (repeated ones counted).
///
/// Returns: the count; 0 if `req` is NULL.
/// Ownership: none.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn req_header_count(req: *const mr_req) -> usize {
    guard(0, || match exchange_ref(req) {
        Some(ex) => ex.request().header_count(),
        None => {
            einval("req is NULL");
            0
        }
    })
}

/// The header field at `index`, in the order received.
///
/// The header field at `index` (0-based, in the order received). Either
/// output pointer may be NULL if not wanted; outputs are written only on
/// success.
///
/// Returns: MR_OK; MR_EINVAL if `req` is NULL or `index` is not below
/// req_header_count.
/// Ownership: `*name` and `*value` are borrowed; valid until the handler
/// returns.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn req_header_at(
    req: *const mr_req,
    index: usize,
    name: *mut *const c_char,
    value: *mut *const c_char,
) -> c_int {
    guard(MR_EINTERNAL, || {
        let Some(ex) = exchange_ref(req) else {
            return einval("req is NULL");
        };
        let Some((n, v)) = ex.request().header_at(index) else {
            return einval("header index out of range");
        };
        // SAFETY: the caller passes writable pointers or NULL.
        unsafe {
            if let Some(name) = name.as_mut() {
                *name = n.as_ptr();
            }
            if let Some(value) = value.as_mut() {
                *value = v.as_ptr();
            }
        }
        MR_OK
    })
}

/// A cookie sent by the client.
///
/// A cookie sent by the client (from all Cookie headers), as sent: cookies
/// are not percent-decoded (RFC 6265); surrounding double quotes are removed.
///
/// Returns: the value, or NULL if there is no such cookie or an argument is
/// NULL.
/// Ownership: borrowed; valid until the handler returns.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn req_cookie(req: *mut mr_req, name: *const c_char) -> *const c_char {
    guard(std::ptr::null(), || {
        let Some(ex) = exchange(req) else { return null_req() };
        let Ok(name) = arg_str(name, "name") else {
            return std::ptr::null();
        };
        out_str(ex.request_mut().cookie(name.as_bytes()))
    })
}

/// The whole request body, buffered by the library.
///
/// The whole request body, read now if it was not yet (Content-Length or
/// chunked). For a client that sent `Expect: 100-continue`, this is when
/// `100 Continue` is sent. The body is followed by a NUL byte that `*len`
/// does not count, so a text body can be used as a C string.
///
/// A body larger than max_body_bytes is not read: the call fails and the
/// library answers 413 instead of the handler's response. A body whose
/// framing is broken (bad chunk, premature end) fails the same way with 400
/// (408 if the client stalls); the connection is then closed.
///
/// Returns: a pointer to the body (never NULL on success, even when empty)
/// and its length in `*len` (`len` may be NULL); NULL on failure, with the
/// reason in mr_last_error: too large, broken framing, timeout, or `req`
/// NULL.
/// Ownership: borrowed; valid until the handler returns.
/// Thread: the thread running the handler. It blocks while the body
/// arrives (at most the body timeout between two reads).
#[unsafe(no_mangle)]
pub extern "C" fn req_body(req: *mut mr_req, len: *mut usize) -> *const u8 {
    guard(std::ptr::null(), || {
        let Some(ex) = exchange(req) else {
            einval("req is NULL");
            return std::ptr::null();
        };
        match ex.body() {
            Ok(body) => {
                // SAFETY: `len` is NULL or a writable size_t.
                if let Some(len) = unsafe { len.as_mut() } {
                    *len = body.len();
                }
                body.as_ptr()
            }
            Err(e) => {
                code_of(&e);
                std::ptr::null()
            }
        }
    })
}

/// Reads the next piece of the request body into `buf`.
///
/// Streams a body of any size, Content-Length or chunked, in pieces the
/// handler pulls: an OTA image or an upload larger than RAM. max_body_bytes
/// does not apply (it bounds only what the library buffers for req_body).
/// The first call sends `100 Continue` to a client that asked for it. Each
/// call blocks until some bytes arrive (at most the body timeout between
/// two pieces) and returns at most `cap` bytes of body data, never framing.
/// req_body and req_read are alternatives: after one has consumed the body
/// the other returns what is left (nothing).
///
/// A body whose framing breaks (bad chunk, premature end) fails the call,
/// and the library then answers 400 with `Connection: close` (408 after a
/// stall) instead of the handler's response, or closes the connection if
/// the response was already started.
///
/// Returns: the number of bytes written to `buf` (> 0); 0 at the end of the
/// body (also for a request without one); MR_EINVAL if `req` or `buf` is
/// NULL or `cap` is 0, or the chunked framing is invalid; MR_ECLOSED if the
/// client went away before the end; MR_ETIMEDOUT if it stalled for the body
/// timeout; MR_ESTATE after an earlier failure.
/// Ownership: writes into the caller's `buf` (`cap` bytes); keeps nothing.
/// Thread: the thread running the handler; blocks while the body arrives.
#[unsafe(no_mangle)]
pub extern "C" fn req_read(req: *mut mr_req, buf: *mut c_void, cap: usize) -> isize {
    guard(MR_EINTERNAL as isize, || {
        let Some(ex) = exchange(req) else {
            return einval("req is NULL") as isize;
        };
        if buf.is_null() {
            return einval("buf is NULL") as isize;
        }
        if cap == 0 {
            return einval("cap is 0") as isize;
        }
        let cap = cap.min(isize::MAX as usize);
        // SAFETY: the caller provides `cap` writable bytes at `buf` for the
        // call; NULL was refused above.
        let out = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), cap) };
        match ex.read_body(out) {
            Ok(n) => n as isize,
            Err(e) => code_of(&e) as isize,
        }
    })
}

/// A field of an urlencoded form body.
///
/// A field of an `application/x-www-form-urlencoded` body, percent-decoded
/// with '+' as a space; the first value if repeated. Reads the body like
/// req_body if needed.
///
/// Returns: the value; NULL if the body is not a urlencoded form, has no
/// such field, could not be read (see req_body), or an argument is NULL.
/// Ownership: borrowed; valid until the handler returns.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn req_form_value(req: *mut mr_req, name: *const c_char) -> *const c_char {
    guard(std::ptr::null(), || {
        let Some(ex) = exchange(req) else { return null_req() };
        let Ok(name) = arg_str(name, "name") else {
            return std::ptr::null();
        };
        match ex.form_value(name.as_bytes()) {
            Ok(v) => out_str(v),
            Err(e) => {
                code_of(&e);
                std::ptr::null()
            }
        }
    })
}

/// The client's address as "ip:port" ("127.0.0.1:50312", "[::1]:50312").
///
/// Returns: the address, or NULL if `req` is NULL.
/// Ownership: borrowed; valid until the handler returns.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn req_remote_addr(req: *const mr_req) -> *const c_char {
    guard(std::ptr::null(), || match exchange_ref(req) {
        Some(ex) => ex.request().remote_addr().as_ptr(),
        None => null_req(),
    })
}

/// The request's host.
///
/// The request's host: the authority of an absolute-form target
/// ("GET http://x/y" gives "x"), else the Host header, as sent
/// ("example.com:8080").
///
/// Returns: the host; NULL if the request has none (HTTP/1.0 without Host)
/// or `req` is NULL.
/// Ownership: borrowed; valid until the handler returns.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn req_host(req: *const mr_req) -> *const c_char {
    guard(std::ptr::null(), || match exchange_ref(req) {
        Some(ex) => out_str(ex.request().host()),
        None => null_req(),
    })
}

/// The request's HTTP version: 10 or 11.
///
/// The request's HTTP version: 10 for HTTP/1.0, 11 for HTTP/1.1 (later 1.x
/// minor versions are treated as 1.1).
///
/// Returns: 10 or 11; MR_EINVAL if `req` is NULL.
/// Ownership: none.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn req_http_version(req: *const mr_req) -> c_int {
    guard(MR_EINTERNAL, || match exchange_ref(req) {
        Some(ex) => c_int::from(ex.request().version()),
        None => einval("req is NULL"),
    })
}

/// Looks `path` up in the request body parsed as JSON and applies `f` to
/// the value found (borrowed: nothing is copied but what `f` makes); the
/// lookup for the req_json_* functions.
fn json_at<R>(
    req: *mut mr_req,
    path: *const c_char,
    f: impl FnOnce(&serde_json::Value) -> R,
) -> Result<(&'static mut crate::Exchange<'static>, R), c_int> {
    let Some(ex) = exchange(req) else {
        return Err(einval("req is NULL"));
    };
    let path = super::opt_str(path, "path")?;
    let found = match ex.json_value(path) {
        Ok(Some(v)) => f(v),
        Ok(None) => {
            super::error::set_last(
                super::error::MR_ENOTFOUND,
                &format!("not found: no JSON value at {:?}", path.unwrap_or("")),
            );
            return Err(super::error::MR_ENOTFOUND);
        }
        Err(e) => return Err(code_of(&e)),
    };
    Ok((ex, found))
}

fn json_type_error(what: &str) -> c_int {
    einval(&format!("the JSON value is not {what}"))
}

/// A string from the request's JSON body.
///
/// The body is read (as req_body, within max_body_bytes) and parsed as JSON
/// once per request. `path` is dotted ("user.name"); array elements are
/// addressed by index ("items.0.id").
///
/// Returns: the string; NULL if there is no value there (MR_ENOTFOUND in
/// mr_last_error), it is not a string, the body is not JSON or could not
/// be read, or an argument is NULL (MR_EINVAL / the req_body codes).
/// Ownership: borrowed; valid until the handler returns.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn req_json_str(req: *mut mr_req, path: *const c_char) -> *const c_char {
    guard(std::ptr::null(), || {
        if path.is_null() {
            einval("path is NULL");
            return std::ptr::null();
        }
        match json_at(req, path, |v| v.as_str().map(str::to_owned)) {
            Ok((ex, Some(s))) => match ex.keep_string(s) {
                Ok(c) => c.as_ptr(),
                Err(e) => {
                    code_of(&e);
                    std::ptr::null()
                }
            },
            Ok((_, None)) => {
                json_type_error("a string");
                std::ptr::null()
            }
            Err(_) => std::ptr::null(),
        }
    })
}

/// An integer from the request's JSON body (see req_json_str).
///
/// Returns: MR_OK with the value in `*out`; MR_ENOTFOUND if there is no
/// value at `path`; MR_EINVAL if it is not an integer that fits int64_t,
/// the body is not JSON, or an argument is NULL; the req_body codes if the
/// body could not be read. `*out` is written only on MR_OK.
/// Ownership: writes `*out`.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn req_json_int(req: *mut mr_req, path: *const c_char, out: *mut i64) -> c_int {
    guard(MR_EINTERNAL, || {
        json_scalar(req, path, out, "an integer", serde_json::Value::as_i64)
    })
}

/// Looks up `path` and writes `conv` of the value to `*out`, or answers
/// with the code (`what` names the expected type in the error).
fn json_scalar<T>(
    req: *mut mr_req,
    path: *const c_char,
    out: *mut T,
    what: &str,
    conv: impl FnOnce(&serde_json::Value) -> Option<T>,
) -> c_int {
    if path.is_null() || out.is_null() {
        return einval("path or out is NULL");
    }
    match json_at(req, path, conv) {
        Ok((_, v)) => match v {
            Some(n) => {
                // SAFETY: `out` is a writable T (checked non-NULL; the
                // caller's pointer type says so).
                unsafe { *out = n };
                MR_OK
            }
            None => json_type_error(what),
        },
        Err(c) => c,
    }
}

/// A number from the request's JSON body.
///
/// See req_json_str; integers are converted.
///
/// Returns: MR_OK with the value in `*out`; MR_ENOTFOUND; MR_EINVAL if it is
/// not a number, the body is not JSON, or an argument is NULL; the req_body
/// codes. `*out` is written only on MR_OK.
/// Ownership: writes `*out`.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn req_json_double(req: *mut mr_req, path: *const c_char, out: *mut f64) -> c_int {
    guard(MR_EINTERNAL, || {
        json_scalar(req, path, out, "a number", serde_json::Value::as_f64)
    })
}

/// A boolean from the request's JSON body: 1 for true, 0 for false.
///
/// See req_json_str.
///
/// Returns: MR_OK with the value in `*out`; MR_ENOTFOUND; MR_EINVAL if it is
/// not true or false, the body is not JSON, or an argument is NULL; the
/// req_body codes. `*out` is written only on MR_OK.
/// Ownership: writes `*out`.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn req_json_bool(req: *mut mr_req, path: *const c_char, out: *mut c_int) -> c_int {
    guard(MR_EINTERNAL, || {
        json_scalar(req, path, out, "true or false", |v| v.as_bool().map(c_int::from))
    })
}

/// Any value from the request's JSON body, as compact JSON text.
///
/// Objects, arrays, numbers, ...; a string comes with its quotes.
///
/// `path` NULL gives the whole document (checked to be JSON).
///
/// Returns: the JSON text; NULL if there is no value at `path`
/// (MR_ENOTFOUND in mr_last_error), the body is not JSON or could not be
/// read, or `req` is NULL.
/// Ownership: borrowed; valid until the handler returns.
/// Thread: the thread running the handler.
#[unsafe(no_mangle)]
pub extern "C" fn req_json_raw(req: *mut mr_req, path: *const c_char) -> *const c_char {
    guard(std::ptr::null(), || {
        match json_at(req, path, serde_json::Value::to_string) {
            Ok((ex, text)) => match ex.keep_string(text) {
                Ok(c) => c.as_ptr(),
                Err(e) => {
                    code_of(&e);
                    std::ptr::null()
                }
            },
            Err(_) => std::ptr::null(),
        }
    })
}
