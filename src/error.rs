//! The library's error type. The FFI layer maps it to `MR_E*` codes in
//! exactly one place (`ffi/error.rs`); the core never sees integers.

use std::borrow::Cow;
use std::fmt;
use std::io;

/// Everything that can go wrong in a library call.
#[derive(Debug)]
pub enum Error {
    /// A bad argument: NULL, an invalid header name or value, a bad status code,
    /// invalid JSON, a malformed route pattern.
    Invalid(Cow<'static, str>),
    /// The call is not valid in the current state (headers already sent,
    /// configuration after start, ...).
    State(Cow<'static, str>),
    /// The peer did not take (or send) data within the timeout.
    TimedOut,
    /// The connection is closed: the peer went away or the handler closed it.
    Closed,
    /// Another I/O error.
    Io(io::Error),
    /// A file, template or route name that does not exist.
    NotFound(Cow<'static, str>),
    /// A path that escapes its root, or is not a regular file.
    Forbidden(Cow<'static, str>),
    /// A configured limit was exceeded.
    TooLarge(Cow<'static, str>),
    /// A listener could not be bound.
    Addr(String),
    /// The feature is not compiled into this build.
    Unsupported(&'static str),
    /// A fault caught at the boundary: a bug in the library.
    Internal(Cow<'static, str>),
}

/// Shorthand used across the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn invalid(msg: impl Into<Cow<'static, str>>) -> Self {
        Error::Invalid(msg.into())
    }

    pub(crate) fn state(msg: impl Into<Cow<'static, str>>) -> Self {
        Error::State(msg.into())
    }

    /// Classifies an I/O error from a socket operation.
    pub(crate) fn from_io(err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::TimedOut,
            io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::WriteZero => Error::Closed,
            _ => Error::Io(err),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid(m) => write!(f, "invalid argument: {m}"),
            Error::State(m) => write!(f, "not valid now: {m}"),
            Error::TimedOut => f.write_str("timed out: the peer did not take the data in time"),
            Error::Closed => f.write_str("the connection is closed"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::NotFound(m) => write!(f, "not found: {m}"),
            Error::Forbidden(m) => write!(f, "forbidden: {m}"),
            Error::TooLarge(m) => write!(f, "limit exceeded: {m}"),
            Error::Addr(m) => write!(f, "cannot listen: {m}"),
            Error::Unsupported(m) => write!(f, "not supported in this build: {m}"),
            Error::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        Error::from_io(err)
    }
}
