//! Socket I/O with deadlines, usable from async code (the connection task)
//! and from blocking code (a handler running inline on a worker, which
//! drives the same futures with `block_on`).

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use smol::future::{or, poll_fn};
use smol::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use smol::Async;

use crate::rt::{sleep, sleep_until, Sleep};

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

    /// A write made around the async writer (`sendfile`) would have
    /// blocked: `poll_writable` waits for room from now on.
    fn write_blocked(&self) {}

    /// Ready when a read may find bytes (or EOF), so an idle connection
    /// can wait without a buffer. Streams without a socket are always
    /// ready.
    fn poll_readable(&self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
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

    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Async::poll_readable(self, cx)
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "timed out")
}

/// A timer made the first time a wait would block (most reads and writes
/// on a busy connection never do), polled alongside the wait.
fn expired(timer: &mut Option<Sleep>, cx: &mut Context<'_>, make: impl FnOnce() -> Sleep) -> bool {
    Pin::new(timer.get_or_insert_with(make)).poll(cx).is_ready()
}

/// Reads once, failing with `TimedOut` at `deadline`.
pub(crate) fn read_until<'a>(
    io: &'a mut dyn Stream,
    buf: &'a mut [u8],
    deadline: Instant,
) -> impl Future<Output = io::Result<usize>> + 'a {
    let mut timer = None;
    poll_fn(move |cx| match Pin::new(&mut *io).poll_read(cx, buf) {
        Poll::Pending if expired(&mut timer, cx, || sleep_until(deadline)) => Poll::Ready(Err(timed_out())),
        r => r,
    })
}

/// Writes all of `a` then `b`, failing with `TimedOut` when the peer takes
/// nothing for `idle` (an inactivity timeout, like nginx's `send_timeout`:
/// a slow link moving data is not cut off).
///
/// One poll loop (not an `async fn`, whose arguments would be kept twice)
/// with a timer made only when the socket is full: these waits are inside
/// every connection's future, so they are kept small and cheap.
pub(crate) fn write_all2<'a>(
    io: &'a mut dyn Stream,
    mut a: &'a [u8],
    mut b: &'a [u8],
    idle: Duration,
) -> impl Future<Output = io::Result<()>> + 'a {
    let mut timer = None;
    poll_fn(move |cx| {
        while !a.is_empty() || !b.is_empty() {
            let io = Pin::new(&mut *io);
            let r = if a.is_empty() {
                io.poll_write(cx, b)
            } else if b.is_empty() {
                io.poll_write(cx, a)
            } else {
                io.poll_write_vectored(cx, &[IoSlice::new(a), IoSlice::new(b)])
            };
            match r {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    let from_a = n.min(a.len());
                    a = &a[from_a..];
                    b = &b[n - from_a..];
                    // Progress: the inactivity timeout starts again.
                    timer = None;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending if expired(&mut timer, cx, || sleep(idle)) => return Poll::Ready(Err(timed_out())),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    })
}

/// Flushes and shuts down the write side: the peer reads EOF at once.
pub(crate) async fn shutdown(io: &mut dyn Stream) {
    let _ = or(io.close(), async {
        sleep(Duration::from_millis(100)).await;
        Ok(())
    })
    .await;
    io.shutdown_write();
}

/// A read buffer with a consumed prefix, compacted as it goes. The bytes
/// past the data stay initialised between reads, so offering spare room
/// costs nothing after the first time (no 4 KiB zero-fill per read). A
/// connection's buffer is reused by the next busy connection through the
/// worker's spares (`http::conn`).
#[derive(Debug, Default)]
pub(crate) struct ReadBuf {
    /// Every byte initialised; the data is `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free space of at least `want` bytes at the end (compacting first).
    pub(crate) fn spare(&mut self, want: usize) -> &mut [u8] {
        if self.start > 0 && self.buf.len() - self.end < want {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < self.end + want {
            self.buf.resize(self.end + want, 0);
        }
        &mut self.buf[self.end..self.end + want]
    }

    /// Keeps `n` of the bytes offered by the last `spare`.
    pub(crate) fn commit(&mut self, offered: usize, n: usize) {
        debug_assert!(n <= offered && self.end + offered <= self.buf.len());
        self.end += n;
    }

    /// Drops the data; frees the buffer if it is larger than `max` bytes.
    pub(crate) fn clear(&mut self, max: usize) {
        self.consume(self.len());
        if self.buf.capacity() > max {
            self.buf = Vec::new();
        }
    }
}

/// Reads once into `rb`, up to `want` bytes, failing with `TimedOut` at
/// `deadline`.
pub(crate) fn fill<'a>(
    io: &'a mut dyn Stream,
    rb: &'a mut ReadBuf,
    want: usize,
    deadline: Instant,
) -> impl Future<Output = io::Result<usize>> + 'a {
    let mut timer = None;
    poll_fn(move |cx| {
        let r = Pin::new(&mut *io).poll_read(cx, rb.spare(want));
        rb.commit(
            want,
            match &r {
                Poll::Ready(Ok(n)) => *n,
                _ => 0,
            },
        );
        match r {
            Poll::Pending if expired(&mut timer, cx, || sleep_until(deadline)) => Poll::Ready(Err(timed_out())),
            r => r,
        }
    })
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
        // Compaction keeps the unread bytes in order.
        let s = rb.spare(4);
        s.copy_from_slice(b"wxyz");
        rb.commit(4, 4);
        rb.consume(2);
        let s = rb.spare(8);
        s[0] = b'!';
        rb.commit(8, 1);
        assert_eq!(rb.data(), b"yz!");
        rb.clear(64);
        assert!(rb.is_empty());
        assert!(rb.buf.capacity() > 0, "small: kept");
        rb.spare(100)[0] = b'x';
        rb.commit(100, 1);
        rb.clear(64);
        assert!(rb.is_empty() && rb.buf.capacity() == 0, "large: freed");
    }
}
