//! The panic boundary: every `extern "C"` body runs inside [`guard`], so no
//! unwinding ever crosses into C. The core is not supposed to panic on any
//! input; if it does, the call fails with `MR_EINTERNAL` (or the fallback
//! value) and `mr_last_error()` says so.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::{set_last, MR_EINTERNAL};

/// Runs `f`, turning a panic into `fallback`.
pub(crate) fn guard<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            set_last(
                MR_EINTERNAL,
                &format!("internal error (a bug in microroute, please report it): {what}"),
            );
            fallback
        }
    }
}
