//! Socket I/O with deadlines, usable from async code (the connection task)
//! and from blocking code (a handler running inline on a worker, which
//! drives the same futures with `block_on`).

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use smol::future::{or, poll_fn, FutureExt};
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use smol::Async;

use crate::rt::{sleep, sleep_until};

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

/// Reads once, failing with `TimedOut` at `deadline`.
pub(crate) async fn read_until(io: &mut dyn Stream, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    or(io.read(buf), async {
        sleep_until(deadline).await;
        Err(timed_out())
    })
    .await
}

/// Waits until a read may find bytes, failing with `TimedOut` at
/// `deadline`.
pub(crate) async fn readable_until(io: &mut dyn Stream, deadline: Instant) -> io::Result<()> {
    or(poll_fn(move |cx| io.poll_readable(cx)), async {
        sleep_until(deadline).await;
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
                sleep(idle).await;
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
        sleep(Duration::from_millis(100)).await;
        Ok(())
    })
    .await;
    io.shutdown_write();
}

/// Read buffers of idle connections, kept per thread for the next
/// connection with bytes to read: an idle keep-alive connection holds no
/// read buffer, and a busy worker allocates none per request.
const POOL_BUFFERS: usize = 64;
/// Larger buffers (a body was read through them) are freed instead.
const POOL_MAX_CAPACITY: usize = 16 * 1024;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A read buffer with a consumed prefix, compacted as it goes. The bytes
/// past the data stay initialised between reads, so offering spare room
/// costs nothing after the first time (no 4 KiB zero-fill per read).
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
        if self.buf.capacity() == 0 {
            if let Ok(Some(b)) = POOL.try_with(|p| p.borrow_mut().pop()) {
                self.buf = b;
            }
        }
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

    /// Lends an empty buffer's memory to this thread's pool (the next
    /// `spare` takes one back); a buffer holding data keeps it. A dropped
    /// buffer goes there too, so a new connection takes an initialised
    /// buffer instead of allocating and zeroing 4 KiB.
    pub(crate) fn park(&mut self) {
        if !self.is_empty() || self.buf.capacity() == 0 {
            return;
        }
        let buf = std::mem::take(&mut self.buf);
        self.start = 0;
        self.end = 0;
        if buf.capacity() <= POOL_MAX_CAPACITY {
            let _ = POOL.try_with(|p| {
                let mut p = p.borrow_mut();
                if p.len() < POOL_BUFFERS {
                    p.push(buf);
                }
            });
        }
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        self.consume(self.len());
        self.park();
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
        // Compaction keeps the unread bytes in order.
        let s = rb.spare(4);
        s.copy_from_slice(b"wxyz");
        rb.commit(4, 4);
        rb.consume(2);
        let s = rb.spare(8);
        s[0] = b'!';
        rb.commit(8, 1);
        assert_eq!(rb.data(), b"yz!");
        rb.park();
        assert_eq!(rb.data(), b"yz!", "not empty: kept");
        rb.consume(3);
        rb.park();
        assert!(rb.buf.capacity() == 0);
    }
}
