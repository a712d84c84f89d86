//! Library-wide functions: version, error texts.

use std::ffi::{c_char, c_int};

use super::error::{last_error_code, last_error_ptr, strerror};
use super::guard::guard;

/// Major version of the library this header belongs to.
pub const MR_VERSION_MAJOR: c_int = 0;
/// Minor version of the library this header belongs to.
pub const MR_VERSION_MINOR: c_int = 1;
/// Patch version of the library this header belongs to.
pub const MR_VERSION_PATCH: c_int = 0;

/// The library version as a string, e.g. "0.1.0".
///
/// Compare with MR_VERSION_MAJOR/MINOR/PATCH to detect a header/library
/// mismatch at run time.
///
/// Returns: a static NUL-terminated string, never NULL.
/// Ownership: the string belongs to the library; do not free it.
/// Thread: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn mr_version() -> *const c_char {
    guard(c"".as_ptr(), || c"0.1.0".as_ptr())
}

/// The fixed English text of an `MR_*` code.
///
/// Returns: a static NUL-terminated string, never NULL ("unknown error
/// code" for values that are not codes).
/// Ownership: the string belongs to the library; do not free it.
/// Thread: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn mr_strerror(code: c_int) -> *const c_char {
    guard(c"".as_ptr(), || strerror(code).as_ptr())
}

/// Detail about the last call that failed on this thread.
///
/// Says which argument, which limit or which OS error. Successful calls do
/// not clear it.
///
/// Returns: a NUL-terminated string, "" if nothing failed yet; never NULL.
/// Ownership: owned by the library; valid until the next failing call on
/// this thread. Copy it to keep it.
/// Thread: thread-local: each thread sees its own last error.
#[unsafe(no_mangle)]
pub extern "C" fn mr_last_error() -> *const c_char {
    guard(c"".as_ptr(), last_error_ptr)
}

/// The MIME type for a file name (seed: MIME_TYPES_MAP).
///
/// Looked up by extension, case-insensitively, in the table resp_send_file
/// uses. Text types carry `; charset=utf-8` ("text/html; charset=utf-8",
/// "application/json; charset=utf-8"); others are bare ("image/png").
///
/// Returns: a static NUL-terminated string, never NULL;
/// "application/octet-stream" for an unknown or missing extension, a NULL
/// `path` or a path that is not UTF-8.
/// Ownership: the string belongs to the library and lives forever; do not
/// free it. `path` is only read.
/// Thread: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn mr_mime_for_path(path: *const c_char) -> *const c_char {
    guard(c"application/octet-stream".as_ptr(), || {
        match super::opt_str(path, "path") {
            Ok(Some(p)) => crate::files::mime_for_path(p).as_ptr(),
            _ => c"application/octet-stream".as_ptr(),
        }
    })
}

/// The code of the last call that failed on this thread.
///
/// For the calls that return a pointer (NULL on failure), such as req_body
/// or req_json_str: the MR_E* code behind the NULL (MR_ETOOLARGE,
/// MR_ENOTFOUND, ...). Successful calls do not clear it.
///
/// Returns: a negative MR_E* code; MR_OK if nothing failed yet on this
/// thread.
/// Ownership: none.
/// Thread: thread-local, like mr_last_error.
#[unsafe(no_mangle)]
pub extern "C" fn mr_last_error_code() -> c_int {
    guard(super::error::MR_EINTERNAL, last_error_code)
}
