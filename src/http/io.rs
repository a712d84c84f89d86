//! Socket I/O with deadlines, usable from async code (the connection task)
//! and from blocking code (a handler running inline on a worker, which
//! drives the same futures with `block_on`).

use std::io::{self, IoSlice};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use smol::future::{or, FutureExt};
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use smol::{Async, Timer};

/// A connection's byte stream: a TCP socket in production, an in-memory
/// stream in tests and fuzzing.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {
    /// The OS socket, when there is one.
    fn raw_fd(&self) -> Option<i32> {
        None
    }

    /// Ends the write side so the peer reads EOF at once (TCP FIN), while
    /// reading stays possible. `AsyncWriteExt::close` only flushes an
    /// `Async<TcpStream>`, so this is separate.
    fn shutdown_write(&self) {}

    /// Ready when the socket can take more bytes (for `sendfile`, which
    /// writes around the async writer). Streams without a socket are
    /// always ready.
    fn poll_writable(&self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Stream for Async<TcpStream> {
    fn raw_fd(&self) -> Option<i32> {
        Some(self.as_raw_fd())
    }

    fn shutdown_write(&self) {
        let _ = self.get_ref().shutdown(Shutdown::Write);
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Async::poll_writable(self, cx)
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "timed out")
}

/// Reads once, failing with `TimedOut` at `deadline`.
pub(crate) async fn read_until(io: &mut dyn Stream, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    or(io.read(buf), async {
        Timer::at(deadline).await;
        Err(timed_out())
    })
    .await
}

/// Writes all of `a` then `b`, failing with `TimedOut` when the peer takes
/// nothing for `idle` (an inactivity timeout, like nginx's `send_timeout`:
/// a slow link moving data is not cut off).
pub(crate) async fn write_all2(io: &mut dyn Stream, mut a: &[u8], mut b: &[u8], idle: Duration) -> io::Result<()> {
    while !a.is_empty() || !b.is_empty() {
        let write = async {
            if a.is_empty() {
                io.write(b).await
            } else if b.is_empty() {
                io.write(a).await
            } else {
                io.write_vectored(&[IoSlice::new(a), IoSlice::new(b)]).await
            }
        };
        let n = write
            .or(async {
                Timer::after(idle).await;
                Err(timed_out())
            })
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let from_a = n.min(a.len());
        a = &a[from_a..];
        b = &b[n - from_a..];
    }
    Ok(())
}

/// Flushes and shuts down the write side: the peer reads EOF at once.
pub(crate) async fn shutdown(io: &mut dyn Stream) {
    let _ = or(io.close(), async {
        Timer::after(Duration::from_millis(100)).await;
        Ok(())
    })
    .await;
    io.shutdown_write();
}

/// A read buffer with a consumed prefix, compacted as it goes.
#[derive(Debug, Default)]
pub(crate) struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
}

impl ReadBuf {
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// Free space of at least `want` bytes at the end (compacting first).
    pub(crate) fn spare(&mut self, want: usize) -> &mut [u8] {
        if self.start > 0 && self.buf.capacity() - self.buf.len() < want {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + want, 0);
        &mut self.buf[len..]
    }

    /// Keeps `n` of the bytes offered by the last `spare`.
    pub(crate) fn commit(&mut self, offered: usize, n: usize) {
        let len = self.buf.len();
        self.buf.truncate(len - offered + n);
    }

    /// Releases the memory of an empty buffer.
    pub(crate) fn release_if_empty(&mut self) {
        if self.is_empty() {
            self.buf = Vec::new();
            self.start = 0;
        }
    }
}

/// Reads once into `rb`, up to `want` bytes.
pub(crate) async fn fill(io: &mut dyn Stream, rb: &mut ReadBuf, want: usize, deadline: Instant) -> io::Result<usize> {
    let spare = rb.spare(want);
    let r = read_until(io, spare, deadline).await;
    rb.commit(want, *r.as_ref().unwrap_or(&0));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_buf_compacts_and_commits() {
        let mut rb = ReadBuf::default();
        let s = rb.spare(8);
        s[..3].copy_from_slice(b"abc");
        rb.commit(8, 3);
        assert_eq!(rb.data(), b"abc");
        rb.consume(1);
        assert_eq!(rb.data(), b"bc");
        let s = rb.spare(4);
        s[0] = b'd';
        rb.commit(4, 1);
        assert_eq!(rb.data(), b"bcd");
        rb.consume(3);
        assert!(rb.is_empty());
        rb.release_if_empty();
    }
}
