//! Responses that outlive their handler.
//!
//! `resp_defer` moves the response state out of the exchange into a
//! [`Deferred`] that any thread may drive (one at a time). What it sends goes
//! through a bounded channel to the connection task, which writes it: the
//! channel holds at most [`CHANNEL_DEPTH`] pieces of at most [`PIECE`]
//! bytes, so a client that does not read makes the sender wait (up to the
//! write timeout, then `MR_ETIMEDOUT`) instead of growing memory.
//!
//! `resp_stream` hands a producer to the connection task instead, which
//! calls it on the blocking thread pool (producers may sleep) and writes
//! each piece before asking for the next.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smol::channel::{Receiver, Sender, TrySendError};
use smol::future::or;

use crate::error::{Error, Result};
use crate::response::{Phase, Response, Sink};
use crate::server::shared::Shared;

/// Pieces queued between a deferred response and its connection.
pub(crate) const CHANNEL_DEPTH: usize = 8;
/// Largest piece sent through the channel.
pub(crate) const PIECE: usize = 64 * 1024;

/// What a deferred response tells its connection.
pub(crate) enum Msg {
    /// Bytes to write, already framed.
    Data(Vec<u8>),
    /// While idle, write `frame` every `every` (SSE heartbeat).
    Heartbeat { every: Duration, frame: Vec<u8> },
    /// The response is complete once `tail` (its last bytes: the final
    /// chunk, or a small buffered response) is written.
    End {
        tail: Vec<u8>,
        close: bool,
        status: u16,
        bytes: u64,
    },
    /// Close the connection now (resp_close, resp_abort).
    Close,
}

/// A [`Sink`] that sends through the channel, waiting while it is full.
pub(crate) struct ChannelSink {
    buf: Vec<u8>,
    tx: Sender<Msg>,
    write_timeout: Duration,
    closed: bool,
    timed_out: Arc<AtomicBool>,
}

impl ChannelSink {
    /// Closed, or timed out if the connection gave up on a slow client.
    fn gone(&self) -> Error {
        if self.timed_out.load(Ordering::Acquire) {
            Error::TimedOut
        } else {
            Error::Closed
        }
    }

    /// True once nothing sent can reach the client any more.
    pub(crate) fn is_gone(&self) -> bool {
        self.closed || self.tx.is_closed()
    }

    pub(crate) fn send(&mut self, msg: Msg) -> Result<()> {
        if self.is_gone() {
            self.closed = true;
            return Err(self.gone());
        }
        let r = match self.tx.try_send(msg) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(_)) => Err(self.gone()),
            Err(TrySendError::Full(msg)) => {
                let tx = &self.tx;
                let t = self.write_timeout;
                let sent = crate::rt::block_on(or(async { tx.send(msg).await.map_err(|_| Error::Closed) }, async {
                    crate::rt::sleep(t).await;
                    Err(Error::TimedOut)
                }));
                match sent {
                    Err(Error::Closed) => Err(self.gone()),
                    other => other,
                }
            }
        };
        if r.is_err() {
            // A piece was lost or the connection is gone: nothing more can
            // go out on this response.
            self.closed = true;
        }
        r
    }
}

impl Sink for ChannelSink {
    fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    fn flush(&mut self, threshold: usize) -> Result<()> {
        if self.is_gone() {
            self.closed = true;
            return Err(self.gone());
        }
        if self.buf.is_empty() || self.buf.len() < threshold {
            return Ok(());
        }
        let data = std::mem::take(&mut self.buf);
        self.send(Msg::Data(data))
    }

    fn write_through(&mut self, data: &[u8]) -> Result<()> {
        // One queue slot per piece of data: buffered bytes (a chunk-size
        // line) travel with the first piece, and the last piece stays
        // buffered so what the caller adds next (the chunk's CRLF) joins it.
        let mut pieces = data.chunks(PIECE).peekable();
        while let Some(piece) = pieces.next() {
            self.buf.extend_from_slice(piece);
            if pieces.peek().is_some() {
                let full = std::mem::take(&mut self.buf);
                self.send(Msg::Data(full))?;
            }
        }
        Ok(())
    }

    fn shutdown(&mut self) {
        let _ = self.flush(0);
        let _ = self.send(Msg::Close);
        self.closed = true;
    }
}

/// A response handed over by `resp_defer`.
pub struct Deferred {
    pub(crate) resp: Response,
    pub(crate) sink: ChannelSink,
    fd: Option<i32>,
    heartbeat_sent: bool,
    /// The running server's state: the registry the C handle is in until
    /// `resp_finish`, the router and templates.
    pub(crate) shared: Arc<Shared>,
}

impl Deferred {
    pub(crate) fn new(
        resp: Response,
        tx: Sender<Msg>,
        timed_out: Arc<AtomicBool>,
        write_timeout: Duration,
        fd: Option<i32>,
        shared: Arc<Shared>,
    ) -> Self {
        Deferred {
            resp,
            sink: ChannelSink {
                buf: Vec::new(),
                tx,
                write_timeout,
                closed: false,
                timed_out,
            },
            fd,
            heartbeat_sent: false,
            shared,
        }
    }

    /// The response state and where its bytes go.
    pub(crate) fn parts(&mut self) -> (&mut Response, &mut dyn Sink) {
        (&mut self.resp, &mut self.sink)
    }

    /// After every call on the handle: what it sent goes out now, whole
    /// (the connection may write a heartbeat between two calls, so each
    /// call must end on a chunk boundary), and the heartbeat is announced
    /// once the head is out.
    pub(crate) fn settle(&mut self) -> Result<()> {
        // Only what is left: a call whose bytes already went out (and
        // reached a client that hung up right after) succeeded.
        if self.resp.phase == Phase::Streaming && !self.sink.buf.is_empty() {
            self.sink.flush(0)?;
        }
        self.sync_heartbeat()
    }

    /// Tells the connection about the heartbeat once the head is out and
    /// the framing known.
    fn sync_heartbeat(&mut self) -> Result<()> {
        if self.heartbeat_sent {
            return Ok(());
        }
        let Some(every) = self.resp.heartbeat else {
            return Ok(());
        };
        if let Some(frame) = self.resp.frame_extra(b": heartbeat\n\n") {
            self.heartbeat_sent = true;
            self.sink.send(Msg::Heartbeat { every, frame })?;
        }
        Ok(())
    }

    pub(crate) fn client_fd(&self) -> Result<i32> {
        if self.sink.is_gone() {
            return Err(self.sink.gone());
        }
        self.fd.ok_or(Error::Unsupported("this connection has no OS socket"))
    }

    /// Ends the response: the final chunk, or the whole buffered response
    /// if nothing was sent yet.
    pub(crate) fn finish(&mut self) -> Result<()> {
        let close = self.resp.finish(&mut self.sink);
        // The last bytes travel with the end marker: the client cannot have
        // them (and hang up) before the connection has the marker.
        let tail = std::mem::take(&mut self.sink.buf);
        let nothing_left = tail.is_empty();
        let (status, bytes) = (self.resp.status(), self.resp.bytes_sent());
        match self.sink.send(Msg::End {
            tail,
            close,
            status,
            bytes,
        }) {
            // Everything was already delivered; a client that hung up after
            // taking it got the whole response.
            Err(Error::Closed)
                if nothing_left && self.resp.phase == Phase::Finished && !self.resp.committed_short() =>
            {
                Ok(())
            }
            r => r,
        }
    }
}

/// A body producer for `resp_stream`: fills the buffer and returns the
/// byte count, 0 at the end, or a negative value on error. Dropping it
/// releases what it owns (the C `free_userdata`).
pub type Producer = Box<dyn FnMut(&mut [u8]) -> isize + Send>;

/// What the connection does after the handler returned.
pub(crate) enum Handoff {
    /// The receiving end, and the flag the connection sets when it gave up
    /// because the client did not read (so senders get MR_ETIMEDOUT).
    Deferred(Receiver<Msg>, Arc<AtomicBool>),
    Producer(Producer),
}

/// Destructors of deferred handles not finished yet: run when the server
/// is freed, so a handle the application forgot does not leak.
#[derive(Default)]
pub struct Registry {
    pending: Mutex<HashMap<usize, Box<dyn FnOnce() + Send>>>,
}

impl Registry {
    pub(crate) fn insert(&self, id: usize, destroy: Box<dyn FnOnce() + Send>) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, destroy);
    }

    /// Forgets a handle its owner is about to free. False if unknown.
    pub(crate) fn remove(&self, id: usize) -> bool {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id)
            .is_some()
    }

    /// Frees every handle still registered.
    pub(crate) fn reclaim(&self) {
        let all: Vec<_> = self.pending.lock().unwrap_or_else(|e| e.into_inner()).drain().collect();
        for (_, destroy) in all {
            destroy();
        }
    }
}

/// A shared registry.
pub(crate) type RegistryRef = Arc<Registry>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A deferred response whose connection has gone (its receiver
    /// dropped) after the head and `sent` went out.
    fn gone_after(sent: &[u8]) -> Deferred {
        let (tx, rx) = smol::channel::bounded(4);
        let mut d = Deferred::new(
            Response::new(),
            tx,
            Arc::new(AtomicBool::new(false)),
            Duration::from_secs(1),
            None,
            Arc::new(Shared::plain()),
        );
        let (resp, sink) = d.parts();
        resp.send(sink, sent).unwrap();
        sink.flush(0).unwrap();
        assert!(matches!(rx.try_recv(), Ok(Msg::Data(_))));
        drop(rx);
        d
    }

    /// A call whose bytes went out, and reached a client that hung up
    /// right after, succeeded: settling it (nothing left to send) does not
    /// say the connection is gone. What comes next does.
    #[test]
    fn settling_a_call_that_went_out_is_not_an_error_after_the_client_left() {
        let mut d = gone_after(b"event: hello\n\n");
        assert!(d.settle().is_ok(), "its bytes were out before the client left");
        assert!(matches!(d.sink.flush(0), Err(Error::Closed)), "an explicit flush asks");
        let (resp, sink) = d.parts();
        assert!(
            matches!(resp.send(sink, b"more"), Err(Error::Closed)),
            "the next call is told"
        );
        assert!(d.sink.is_gone());
    }
}
