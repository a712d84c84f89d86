//! Error codes and the thread-local last-error text. This is the only place
//! that maps [`Error`] to `MR_E*` numbers. Values never change once
//! released.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};

use crate::error::Error;

/// Success.
pub const MR_OK: c_int = 0;
/// Bad argument: NULL, invalid header name/value (CR, LF, NUL), bad status code, invalid JSON, a string argument that is not UTF-8 (any function), a length above PTRDIFF_MAX, an empty key in a JSON path (req_json_* too).
pub const MR_EINVAL: c_int = -1;
/// Not valid now: header change after headers were sent, body after a redirect or abort, configuration after `server_start`.
pub const MR_ESTATE: c_int = -2;
/// The peer did not take (or send) the data within the timeout.
pub const MR_ETIMEDOUT: c_int = -3;
/// The connection is closed (the peer went away, or `resp_close` was called).
pub const MR_ECLOSED: c_int = -4;
/// Another I/O error (detail in `mr_last_error`).
pub const MR_EIO: c_int = -5;
/// A file, template or route name does not exist.
pub const MR_ENOTFOUND: c_int = -6;
/// A path escapes its root, or is not a regular file.
pub const MR_EFORBIDDEN: c_int = -7;
/// A configured limit was exceeded.
pub const MR_ETOOLARGE: c_int = -8;
/// Cannot bind or listen on the address.
pub const MR_EADDR: c_int = -9;
/// The feature is not compiled into this build.
pub const MR_EUNSUPPORTED: c_int = -10;
/// An internal fault was caught at the boundary (a bug: please report it).
pub const MR_EINTERNAL: c_int = -11;

thread_local! {
    static LAST: RefCell<CString> = RefCell::new(CString::default());
    static LAST_CODE: std::cell::Cell<c_int> = const { std::cell::Cell::new(MR_OK) };
}

/// Stores the code and detail text of the last failure on this thread.
pub(crate) fn set_last(code: c_int, msg: &str) {
    LAST_CODE.with(|c| c.set(code));
    set_last_error(msg);
}

pub(crate) fn last_error_code() -> c_int {
    LAST_CODE.with(|c| c.get())
}

/// Stores the detail text of the last failure on this thread.
pub(crate) fn set_last_error(msg: &str) {
    let c = CString::new(msg.replace('\0', "\\0")).unwrap_or_default();
    LAST.with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            *l = c;
        }
    });
}

pub(crate) fn last_error_ptr() -> *const c_char {
    // The CString lives in a thread-local that is only replaced by the next
    // failing call on this thread, which is what the header documents.
    LAST.with(|l| l.try_borrow().map(|l| l.as_ptr()).unwrap_or(c"".as_ptr()))
}

/// The code for an error; records its text as the last error.
pub(crate) fn code_of(err: &Error) -> c_int {
    let code = code_for(err);
    set_last(code, &err.to_string());
    code
}

fn code_for(err: &Error) -> c_int {
    match err {
        Error::Invalid(_) => MR_EINVAL,
        Error::State(_) => MR_ESTATE,
        Error::TimedOut => MR_ETIMEDOUT,
        Error::Closed => MR_ECLOSED,
        Error::Io(_) => MR_EIO,
        Error::NotFound(_) => MR_ENOTFOUND,
        Error::Forbidden(_) => MR_EFORBIDDEN,
        Error::TooLarge(_) => MR_ETOOLARGE,
        Error::Addr(_) => MR_EADDR,
        Error::Unsupported(_) => MR_EUNSUPPORTED,
        Error::Internal(_) => MR_EINTERNAL,
    }
}

/// `MR_OK` or the error's code.
pub(crate) fn status(r: crate::error::Result<()>) -> c_int {
    match r {
        Ok(()) => MR_OK,
        Err(e) => code_of(&e),
    }
}

/// `MR_EINVAL` with a message, for argument checks in the FFI layer.
pub(crate) fn einval(msg: &str) -> c_int {
    set_last(MR_EINVAL, &format!("invalid argument: {msg}"));
    MR_EINVAL
}

/// The fixed text of a code.
pub(crate) fn strerror(code: c_int) -> &'static std::ffi::CStr {
    match code {
        MR_OK => c"success",
        MR_EINVAL => c"invalid argument",
        MR_ESTATE => c"not valid in the current state",
        MR_ETIMEDOUT => c"timed out",
        MR_ECLOSED => c"connection closed",
        MR_EIO => c"I/O error",
        MR_ENOTFOUND => c"not found",
        MR_EFORBIDDEN => c"forbidden",
        MR_ETOOLARGE => c"limit exceeded",
        MR_EADDR => c"cannot listen on the address",
        MR_EUNSUPPORTED => c"not supported in this build",
        MR_EINTERNAL => c"internal error",
        _ => c"unknown error code",
    }
}
