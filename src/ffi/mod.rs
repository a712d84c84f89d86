//! The C ABI: a thin translation layer. Each export checks its arguments,
//! turns handles into Rust objects, calls the core inside the panic guard and
//! maps the result to an `MR_*` code. No logic lives here.
//!
//! Handles: `mr_server` is a boxed [`Server`](crate::server::Server).
//! `mr_req` and `mr_resp` both point at the [`Exchange`] of the request being
//! handled, which lives on the connection task for the handler call; they are
//! only valid until the handler returns.

// C names, and functions that take raw pointers from C without being
// `unsafe fn` in Rust: the C caller cannot see Rust's `unsafe` anyway, and
// every dereference below is checked for NULL and commented.
#![allow(non_camel_case_types)]
#![allow(clippy::not_unsafe_ptr_arg_deref)]

pub mod error;
mod guard;
pub mod library;
pub mod req;
pub mod resp;
pub mod server;

use std::ffi::{c_char, c_int, CStr};

use crate::exchange::Exchange;
use error::einval;

/// An HTTP server. Create with `server_new`, free with `server_free`.
pub struct mr_server {
    pub(crate) inner: crate::server::Server,
}

/// The request being handled. Valid until the handler returns.
pub struct mr_req {
    _opaque: [u8; 0],
}

/// The response being built. Valid until the handler returns.
pub struct mr_resp {
    _opaque: [u8; 0],
}

/// Borrows a required C string argument as UTF-8.
pub(crate) fn arg_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, c_int> {
    if p.is_null() {
        return Err(einval(&format!("{what} is NULL")));
    }
    // SAFETY: the contract says string arguments are NUL-terminated and
    // valid for the duration of the call; NULL was checked above.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|_| einval(&format!("{what} is not valid UTF-8")))
}

/// Like [`arg_str`], with NULL meaning "absent".
pub(crate) fn opt_str<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>, c_int> {
    if p.is_null() {
        Ok(None)
    } else {
        arg_str(p, what).map(Some)
    }
}

/// Borrows a `(data, len)` byte argument; NULL is allowed only with len 0.
pub(crate) fn arg_bytes<'a>(p: *const std::ffi::c_void, len: usize, what: &str) -> Result<&'a [u8], c_int> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(einval(&format!("{what} is NULL with a non-zero length")));
    }
    if len > isize::MAX as usize {
        return Err(einval(&format!("{what} length is too large")));
    }
    // SAFETY: the caller promises `len` readable bytes at `p` for the call;
    // NULL and lengths past isize::MAX were refused above.
    Ok(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
}

/// The exchange behind an `mr_req` / `mr_resp` handle.
pub(crate) fn exchange<'a, T>(p: *mut T) -> Option<&'a mut Exchange<'static>> {
    // SAFETY: non-NULL `mr_req`/`mr_resp` handles are only ever created by
    // the library from a live `Exchange` for the duration of a handler
    // call, which is when the contract allows using them. The lifetime is
    // erased at the boundary; no reference outlives the call.
    unsafe { p.cast::<Exchange<'static>>().as_mut() }
}

/// Shared view of an exchange handle (for `const` handle arguments).
pub(crate) fn exchange_ref<'a, T>(p: *const T) -> Option<&'a Exchange<'static>> {
    // SAFETY: as in `exchange`.
    unsafe { p.cast::<Exchange<'static>>().as_ref() }
}

/// A borrowed C string out of a Rust one, or NULL.
pub(crate) fn out_str(s: Option<&CStr>) -> *const c_char {
    s.map_or(std::ptr::null(), CStr::as_ptr)
}
