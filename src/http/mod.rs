//! HTTP/1.1 on the wire: head parsing, chunked bodies, the connection loop.

pub(crate) mod chunked;
pub(crate) mod conn;
pub(crate) mod date;
pub(crate) mod io;
pub(crate) mod parse;
pub(crate) mod status;
