//! microroute: an embeddable HTTP/1.1 server library with a stable C ABI.
//!
//! The core (everything outside [`ffi`]) is plain safe Rust: a smol-driven
//! server ([`server::Server`]), an HTTP/1.1 connection loop strict about
//! framing, a router, and request/response state machines. [`ffi`] is the C
//! surface declared in `include/microroute.h`, a thin translation layer.
//!
//! Rust code can use the core directly: register closures taking an
//! [`Exchange`] with [`server::Server::route`].

#![forbid(unsafe_op_in_unsafe_fn)]

#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub mod bench_api;
pub mod config;
mod deferred;
pub mod error;
mod exchange;
pub mod ffi;
pub mod files;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod json;
mod request;
mod response;
pub mod router;
mod rt;
pub mod server;
mod sys;
#[cfg(feature = "templates")]
pub mod templates;
mod util;

pub use config::Config;
pub use deferred::{Deferred, Producer};
pub use error::{Error, Result};
pub use exchange::Exchange;
pub use http::io::Stream;
pub use request::Request;
pub use response::{cookie_flags, Response};
pub use server::shared::{LogFn, LogLevel};
