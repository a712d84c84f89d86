//! The HTTP/1.1 connection loop: wait for a request, read its head,
//! dispatch it to the route's handler (inline, on this worker), write the
//! response, deal with the unread part of the body, repeat while the
//! connection stays alive.
//!
//! A connection has two phases. **Idle** (waiting for the next request) it
//! holds only its socket, its place in the connection table and its peer's
//! address: the [`serve`] task is a few hundred bytes. **Busy** (bytes
//! arrived) it borrows a heap block for the busy-phase future and a
//! [`Work`] (read and write buffers, request, response) from its thread's
//! spares and gives both back when it goes idle again, so ten thousand
//! idle connections cost little memory and a busy worker allocates
//! nothing per request.
//!
//! Responses to pipelined requests are collected in one write buffer and
//! written when no further complete request is waiting (or the buffer is
//! large), so a burst of pipelined requests costs one `write`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use smol::channel::Receiver;
use smol::future::{or, pending, poll_fn, FutureExt as _};

use crate::deferred::{Handoff, Msg, Producer};
use crate::exchange::{BodyState, Exchange, Leftover, Wire};
use crate::files::FileBody;
use crate::http::io::{fill, shutdown, write_all2, ReadBuf, Stream};
use crate::http::parse::{parse_head, standard_method, too_long, HeadError, HeadLimits};
use crate::request::Request;
use crate::response::{Response, FLUSH_THRESHOLD};
use crate::router::Match;
use crate::rt::{sleep, sleep_until, yield_io, Sleep};
use crate::server::conns::Admitted;
use crate::server::shared::{ConnGuard, LogLevel, Shared};
use crate::{sys, util};

/// Bytes asked of the socket per read while reading a head.
const HEAD_READ: usize = 4096;
/// Busy-phase blocks and [`Work`]s each thread keeps for its next busy
/// connections (one per connection busy at once, up to this many).
const SPARES: usize = 32;
/// A [`Work`] going back to the spares frees buffers larger than this.
const SPARE_MAX_BUFFER: usize = 64 * 1024;
/// Lingering close: how long and how much we read and discard after
/// closing our side, so the peer gets our response instead of a reset.
const LINGER_TIME: Duration = Duration::from_millis(1000);
const LINGER_BYTES: usize = 256 * 1024;
/// Bytes per `sendfile` call; the connection lets the others run between
/// chunks.
const SENDFILE_CHUNK: usize = 256 * 1024;
/// Files up to this size are copied into the response buffer rather than
/// sent by `sendfile` (see `Conn::send_file`).
const SMALL_FILE: u64 = 16 * 1024;

enum Stop {
    /// Close without answering (EOF, time-out, server stopping).
    Quiet,
    /// Answer with this error, then close.
    Reply(HeadError),
    /// Everything is answered and written: wait for the next request.
    Idle,
}

/// What a connection needs only while busy. Between requests it goes back
/// to the thread's spares (see the module documentation).
#[derive(Default)]
struct Work {
    rbuf: ReadBuf,
    wbuf: Vec<u8>,
    req: Request,
    resp: Response,
    body: BodyState,
}

impl Work {
    /// Makes a used `Work` fit for any connection: no bytes left over, no
    /// large buffers kept.
    fn tidy(&mut self) {
        self.rbuf.clear(SPARE_MAX_BUFFER);
        util::clear_capped(&mut self.wbuf, SPARE_MAX_BUFFER);
        self.req.trim(SPARE_MAX_BUFFER);
        self.resp.trim(SPARE_MAX_BUFFER);
    }
}

/// What a connection keeps for its whole life.
struct Link<S> {
    io: S,
    /// Keeps the server's connection count right, also when the task is
    /// dropped at shutdown.
    guard: ConnGuard,
    peer: SocketAddr,
    /// Its place in the connection table, through which the table closes it
    /// while idle (to make room, or at stop).
    admitted: Option<Admitted>,
}

/// Serves one connection until it closes. Returns the stream (dropping it
/// closes the socket), or `None` when the connection's code panicked (a
/// bug; logged here).
pub(crate) fn serve<S: Stream + 'static>(
    io: S,
    peer: SocketAddr,
    guard: ConnGuard,
    admitted: Option<Admitted>,
) -> impl Future<Output = Option<S>> {
    let shared = guard.0.clone();
    let mut link = Some(Link {
        io,
        guard,
        peer,
        admitted,
    });
    // An `async move` block, not an `async fn`: an async fn's arguments stay
    // in its future beside the values made from them, and this future is
    // most of what an idle connection costs.
    async move {
        match AssertUnwindSafe(run(&mut link)).catch_unwind().await {
            Ok(()) => link.map(|l| l.io),
            Err(_) => {
                shared.log(LogLevel::Error, format_args!("a connection task panicked (a bug)"));
                None
            }
        }
    }
}

/// The connection's life: idle waits and busy phases until it closes. The
/// link is moved into each busy phase and back (`None` after a panic in
/// one).
async fn run<S: Stream + 'static>(slot: &mut Option<Link<S>>) {
    // The idle timeout's timer, made at the first idle wait and moved to
    // each later wait's deadline (see `Link::wait_idle`). Kept here rather
    // than in the link, which moves in and out of every busy phase.
    let mut idle: Option<Sleep> = None;
    while let Some(link) = slot {
        if !link.wait_idle(&mut idle).await {
            return;
        }
        let Some(link) = slot.take() else { return };
        let (mut block, work) = spare_for(busy::<S>).unwrap_or_else(|| (Box::pin(None), Box::default()));
        block.set(Some(busy(link, work)));
        let (link, mut work, keep) = poll_fn(|cx| match block.as_mut().as_pin_mut() {
            Some(f) => f.poll(cx),
            None => unreachable!("the block holds the busy future until it ends"),
        })
        .await;
        *slot = Some(link);
        block.set(None);
        work.tidy();
        util::keep_spare((block, work), SPARES);
        if !keep {
            return;
        }
    }
}

/// A heap block for a busy-phase future (empty between busy phases) and
/// the [`Work`] that goes with it.
type Spare<F> = (Pin<Box<Option<F>>>, Box<Work>);

/// A spare for futures like those `f` makes, from this thread's spares.
/// (`f` only names the future's type.)
fn spare_for<A, B, F: 'static>(_f: fn(A, B) -> F) -> Option<Spare<F>> {
    util::take_spare()
}

/// The busy phase: reads the request whose first bytes arrived, answers it
/// and any that follow it in the buffer, and returns once everything is
/// written and nothing is left to read (true: keep the connection) or the
/// connection is closed (false).
async fn busy<S: Stream>(mut link: Link<S>, mut work: Box<Work>) -> (Link<S>, Box<Work>, bool) {
    let keep = {
        let Link { io, guard, peer, .. } = &mut link;
        work.req.set_remote(*peer);
        let mut conn = Conn {
            io,
            shared: &guard.0,
            peer,
            w: &mut work,
        };
        conn.run().await
    };
    (link, work, keep)
}

impl<S: Stream> Link<S> {
    /// Waits for the first byte of the next request, up to the idle timeout
    /// or until the server stops or the table evicts this connection.
    /// False when the connection must close without answering.
    ///
    /// (Every byte of this future is in every idle connection's task: it
    /// keeps no more than it needs across the wait.)
    async fn wait_idle(&mut self, idle: &mut Option<Sleep>) -> bool {
        let shared = &*self.guard.0;
        if shared.is_stopping() {
            return false;
        }
        let now = crate::rt::now();
        if let Some(a) = &self.admitted {
            a.set_idle(now);
        }
        // One timer for the connection's life, moved to this wait's
        // deadline: armed only if the first look finds nothing to read, and
        // on a worker moving it later keeps its place among the worker's
        // timers (no heap work per request; `Sleep::reset`). It stays set
        // while the connection is busy: if it comes due then, it wakes the
        // task once for nothing.
        let at = now + shared.cfg.idle_timeout;
        let timer = match idle {
            Some(t) => {
                t.reset(at);
                t
            }
            None => idle.insert(sleep_until(at)),
        };
        let this = &mut *self;
        let woke = poll_fn(move |cx| {
            if let Poll::Ready(r) = this.io.poll_readable(cx) {
                return Poll::Ready(r.is_ok());
            }
            // Evicted to make room, or the server is stopping.
            if let Some(a) = &this.admitted {
                if a.slot.poll_interrupt(cx, &this.guard.0.stopping).is_ready() {
                    return Poll::Ready(false);
                }
            }
            Pin::new(&mut *timer).poll(cx).map(|()| false)
        })
        .await;
        if let Some(a) = &self.admitted {
            // Bytes that raced an eviction are served: the client sent a
            // request, and closing now would lose it.
            a.set_busy();
        }
        woke
    }
}

/// A busy connection: its socket and the borrowed [`Work`].
struct Conn<'a> {
    io: &'a mut dyn Stream,
    shared: &'a Arc<Shared>,
    peer: &'a SocketAddr,
    w: &'a mut Work,
}

impl Conn<'_> {
    /// Serves requests until the connection goes idle (true) or closes
    /// (false). The idle wait found bytes to read (or EOF).
    async fn run(&mut self) -> bool {
        let deadline = crate::rt::now() + self.shared.cfg.header_timeout;
        match fill(self.io, &mut self.w.rbuf, HEAD_READ, deadline).await {
            Ok(n) if n > 0 => {}
            _ => return false,
        }
        loop {
            match self.read_head().await {
                Ok(len) => {
                    self.w.rbuf.consume(len);
                    if !self.exchange().await {
                        let linger = !self.w.rbuf.is_empty() || !matches!(self.w.body.leftover(), Leftover::None);
                        self.close(linger).await;
                        return false;
                    }
                }
                Err(Stop::Idle) => return true,
                Err(Stop::Quiet) => {
                    self.close(false).await;
                    return false;
                }
                Err(Stop::Reply(e)) => {
                    self.reject(e);
                    self.close(true).await;
                    return false;
                }
            }
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.w.wbuf.is_empty() {
            return Ok(());
        }
        let r = write_all2(self.io, &self.w.wbuf, &[], self.shared.cfg.write_timeout).await;
        util::clear_capped(&mut self.w.wbuf, SPARE_MAX_BUFFER);
        r
    }

    /// Writes what is pending, then closes. A `linger`ing close (bytes of
    /// the peer's are still unread) first shuts our side and reads and
    /// drops what the peer still sends for a short while, so the peer gets
    /// our answer instead of a reset. Otherwise dropping the socket closes
    /// it (a FIN, like nginx: no `shutdown` syscall per connection).
    async fn close(&mut self, linger: bool) {
        if self.flush().await.is_err() {
            return;
        }
        if linger {
            shutdown(self.io).await;
            let deadline = crate::rt::now() + LINGER_TIME;
            let mut total = 0;
            let rb = &mut self.w.rbuf;
            rb.consume(rb.len());
            while total < LINGER_BYTES {
                match fill(self.io, rb, 16 * 1024, deadline).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        total += n;
                        rb.consume(n);
                    }
                }
            }
        }
    }

    /// Reads until `rbuf` holds a complete head; returns its length.
    /// `Stop::Idle` when the buffer is empty and everything is written.
    async fn read_head(&mut self) -> Result<usize, Stop> {
        let cfg = &self.shared.cfg;
        let lim = HeadLimits::of(cfg);
        let router = &self.shared.router;
        let known = |m: &[u8]| router.knows_method(m);
        let mut scanned = 0;
        let Some(first_byte) = (!self.w.rbuf.is_empty()).then(crate::rt::now) else {
            return match self.flush().await {
                Ok(()) => Err(Stop::Idle),
                Err(_) => Err(Stop::Quiet),
            };
        };
        loop {
            if !self.w.rbuf.is_empty() {
                let data = self.w.rbuf.data();
                // Only the first max_header_bytes are judged, so bytes past
                // the limit cannot change the answer however they arrive.
                let full = data.len() >= cfg.max_header_bytes;
                let window = &data[..data.len().min(cfg.max_header_bytes)];
                // Parse again only once a line is complete (or the limit is
                // reached): a head trickled in byte by byte is not parsed
                // once per byte.
                if scanned == 0 || full || data[scanned - 1..].contains(&b'\n') {
                    match parse_head(window, &lim, &known, &mut self.w.req) {
                        Ok(Some(len)) => return Ok(len),
                        Ok(None) => {}
                        Err(e) => return Err(Stop::Reply(e)),
                    }
                }
                scanned = data.len();
                if full {
                    return Err(Stop::Reply(too_long(window, cfg.max_header_bytes)));
                }
            }
            if self.flush().await.is_err() {
                return Err(Stop::Quiet);
            }
            match fill(self.io, &mut self.w.rbuf, HEAD_READ, first_byte + cfg.header_timeout).await {
                Ok(0) => return Err(Stop::Quiet),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Err(Stop::Reply(HeadError {
                        status: 408,
                        reason: "request head not received in time",
                    }));
                }
                Err(_) => return Err(Stop::Quiet),
            }
        }
    }

    /// Handles one parsed request. Returns false when the connection must
    /// close afterwards.
    async fn exchange(&mut self) -> bool {
        // Read from the clock, not the loop's time: a request's duration
        // in the log is exact. Only when there is a log to write to.
        let started = self.shared.logs().then(Instant::now);
        let shared = self.shared;
        let m = self.w.req.method_bytes();
        let method = standard_method(m).or_else(|| std::str::from_utf8(m).ok()).unwrap_or("");
        let is_head = method == "HEAD";
        self.w.resp.reset(self.w.req.version(), is_head, self.w.req.keep_alive);
        self.w.body.reset(self.w.req.framing, self.w.req.expect_continue);

        let mut handler = None;
        match shared.router.find(method, self.w.req.path_bytes()) {
            Match::Found { handler: h, params } => {
                for (name, range) in params {
                    self.w.req.push_param_from_path(name, range);
                }
                handler = Some(h);
            }
            Match::MethodNotAllowed(allow) => {
                if method == "OPTIONS" {
                    self.w.resp.set_status(204).ok();
                    self.w.resp.push_allow(&format!("{allow}, OPTIONS"));
                } else {
                    self.w.resp.set_error(405);
                    self.w.resp.push_allow(&allow);
                }
            }
            Match::NotFound if self.w.req.path_bytes() == b"*" => {
                // OPTIONS * (the parser allows `*` only with OPTIONS).
                self.w.resp.set_status(204).ok();
                self.w.resp.push_allow("GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH");
            }
            Match::NotFound => match shared.router.fallback() {
                Some(h) => handler = Some(h),
                None => self.w.resp.set_error(404),
            },
        }

        let mut poison = None;
        let mut broken = false;
        let mut handoff = None;
        if let Some(handler) = handler {
            let mut ex = Exchange {
                req: &mut self.w.req,
                resp: &mut self.w.resp,
                body: &mut self.w.body,
                rbuf: &mut self.w.rbuf,
                wire: Wire {
                    io: &mut *self.io,
                    wbuf: &mut self.w.wbuf,
                    write_timeout: shared.cfg.write_timeout,
                    broken: false,
                },
                cfg: &shared.cfg,
                poison: None,
                handoff: None,
                shared,
            };
            let ok = handler(&mut ex);
            // The handler may have taken any time: the deadlines from here
            // on (writing the response, the idle wait) start after it.
            crate::rt::refresh_now();
            poison = ex.poison;
            broken = ex.wire.broken;
            handoff = ex.handoff.take();
            if poison.is_none() && !ok && !matches!(handoff, Some(Handoff::Deferred(..))) {
                // A failed handler's producer is dropped (its userdata freed).
                handoff = None;
                if self.w.resp.committed() {
                    // Part of the response is out: end the connection
                    // without finishing the body, so the client sees it.
                    broken = true;
                } else {
                    self.w.resp.set_error(500);
                }
            }
        }

        if let Some(code) = poison {
            shared.log(
                LogLevel::Warn,
                format_args!("{} request body rejected with {}", self.peer, code),
            );
            // A deferred handle's sends now fail: the connection answers.
            handoff = None;
            if self.w.resp.committed() {
                broken = true;
            } else {
                self.w.resp.set_error(code);
                self.w.resp.force_close = true;
            }
        }
        if broken {
            shared.log(
                LogLevel::Warn,
                format_args!(
                    "{} response cut short: the client went away, timed out or the handler closed",
                    self.peer
                ),
            );
            self.access_log(started, self.w.resp.status(), self.w.resp.bytes_sent());
            return false;
        }
        if let Some(Handoff::Deferred(rx, timed_out)) = handoff {
            // The deferred response decided about the unread body when it
            // was deferred; it ends the connection if it must.
            let (keep, status, bytes) = self.pump_deferred(rx, timed_out).await;
            self.access_log(started, status, bytes);
            return keep && !shared.is_stopping();
        }

        let mut drain = false;
        match self.w.body.leftover() {
            Leftover::None => {}
            Leftover::Broken => self.w.resp.force_close = true,
            Leftover::Unread => {
                let too_big = self
                    .w
                    .body
                    .remaining_length()
                    .is_some_and(|n| n > shared.cfg.drain_limit);
                // A client waiting for `100 Continue` may never send the body.
                if self.w.body.continue_owed || too_big {
                    self.w.resp.force_close = true;
                } else {
                    drain = true;
                }
            }
        }
        if shared.is_stopping() {
            self.w.resp.force_close = true;
        }
        let mut close = match handoff {
            Some(Handoff::Producer(p)) => self.run_producer(p).await,
            _ => self.w.resp.finish(&mut self.w.wbuf),
        };
        if let Some(file) = self.w.resp.take_file() {
            close |= !self.send_file(file).await;
        }
        self.access_log(started, self.w.resp.status(), self.w.resp.bytes_sent());
        if close {
            return false;
        }
        if drain && !self.drain().await {
            return false;
        }
        if self.w.wbuf.len() >= FLUSH_THRESHOLD && self.flush().await.is_err() {
            return false;
        }
        true
    }

    /// Writes what a deferred response sends until it ends. Meanwhile the
    /// socket is watched: a client that goes away (EOF or error) ends the
    /// response at once, and bytes it pipelines are kept for later. Returns
    /// (keep the connection, status, body bytes) for the access log.
    async fn pump_deferred(&mut self, rx: Receiver<Msg>, timed_out: Arc<AtomicBool>) -> (bool, u16, u64) {
        let write_timeout = self.shared.cfg.write_timeout;
        let read_limit = self.shared.cfg.max_header_bytes + 64 * 1024;
        let mut heartbeat: Option<(Duration, Vec<u8>)> = None;
        let mut status = 200;
        if self.flush().await.is_err() {
            return (false, status, 0);
        }
        loop {
            enum Event {
                Msg(Option<Msg>),
                Tick,
                Gone,
            }
            let event = {
                let recv = async { Event::Msg(rx.recv().await.ok()) };
                let tick = async {
                    match &heartbeat {
                        Some((every, _)) => {
                            sleep(*every).await;
                        }
                        None => pending::<()>().await,
                    }
                    Event::Tick
                };
                let io = &mut *self.io;
                let rbuf = &mut self.w.rbuf;
                let gone = async {
                    // This future is dropped whenever a message wins: each
                    // poll reads and commits at once, so a cancelled read
                    // leaves `rbuf` as it was.
                    loop {
                        if rbuf.len() >= read_limit {
                            pending::<()>().await;
                        }
                        let read = poll_fn(|cx| {
                            let spare = rbuf.spare(4096);
                            let r = Pin::new(&mut *io).poll_read(cx, spare);
                            rbuf.commit(
                                4096,
                                match &r {
                                    Poll::Ready(Ok(n)) => *n,
                                    _ => 0,
                                },
                            );
                            r
                        });
                        match read.await {
                            Ok(n) if n > 0 => {}
                            _ => return Event::Gone,
                        }
                    }
                };
                or(recv, or(tick, gone)).await
            };
            let bytes = match event {
                Event::Msg(Some(Msg::Data(b))) => b,
                Event::Tick => heartbeat.as_ref().map(|(_, f)| f.clone()).unwrap_or_default(),
                Event::Msg(Some(Msg::Heartbeat { every, frame })) => {
                    heartbeat = Some((every, frame));
                    continue;
                }
                Event::Msg(Some(Msg::End {
                    tail,
                    close,
                    status: s,
                    bytes,
                })) => {
                    status = s;
                    let ok = write_all2(self.io, &tail, &[], write_timeout).await.is_ok();
                    return (ok && !close, status, bytes);
                }
                Event::Msg(Some(Msg::Close)) | Event::Msg(None) | Event::Gone => return (false, status, 0),
            };
            if let Err(e) = write_all2(self.io, &bytes, &[], write_timeout).await {
                // Tell the sender why its next send fails.
                timed_out.store(e.kind() == io::ErrorKind::TimedOut, Ordering::Release);
                return (false, status, 0);
            }
        }
    }

    /// Runs a `resp_stream` producer on the blocking pool (it may sleep)
    /// and writes each piece before asking for the next, so a slow client
    /// slows the producer instead of growing memory. Returns true when the
    /// connection must close.
    async fn run_producer(&mut self, mut producer: Producer) -> bool {
        const PIECE: usize = 16 * 1024;
        if self.w.resp.start_stream(&mut self.w.wbuf).is_err() {
            return true;
        }
        if self.w.resp.bodyless() {
            drop(producer);
            return self.w.resp.finish(&mut self.w.wbuf);
        }
        let write_timeout = self.shared.cfg.write_timeout;
        let mut buf = vec![0u8; PIECE];
        loop {
            if write_all2(self.io, &self.w.wbuf, &[], write_timeout).await.is_err() {
                return true;
            }
            self.w.wbuf.clear();
            let (n, b, p) = smol::unblock(move || {
                let n = producer(&mut buf);
                (n, buf, producer)
            })
            .await;
            buf = b;
            producer = p;
            match usize::try_from(n) {
                Ok(0) => break,
                Ok(n) if n <= buf.len() => {
                    if self.w.resp.send(&mut self.w.wbuf, &buf[..n]).is_err() {
                        return true;
                    }
                }
                // A negative count (or more than the buffer holds) is the
                // producer's error: close without the final chunk.
                _ => {
                    self.shared.log(
                        LogLevel::Warn,
                        format_args!("{} stream producer failed ({n}); closing", self.peer),
                    );
                    return true;
                }
            }
        }
        drop(producer);
        self.w.resp.finish(&mut self.w.wbuf)
    }

    /// Waits, up to `timeout`, until the socket takes bytes again after a
    /// write made around the stream found it full. False on time-out.
    async fn wait_writable(&mut self, timeout: Duration) -> bool {
        self.io.write_blocked();
        let io = &mut *self.io;
        or(poll_fn(move |cx| io.poll_writable(cx)), async {
            sleep(timeout).await;
            Err(io::ErrorKind::TimedOut.into())
        })
        .await
        .is_ok()
    }

    /// Sends a file body after its head: `sendfile(2)` on a socket (no
    /// copies; waits for room with the write timeout), a buffered copy
    /// elsewhere. False when the connection must close: the client is too
    /// slow or gone, or the file shrank (the body is not padded).
    async fn send_file(&mut self, body: FileBody) -> bool {
        if body.len <= SMALL_FILE {
            // Read into the buffer behind the head: the two go out in one
            // write, with the responses before and after it when pipelined
            // (as lighttpd: one pread where a send with MSG_MORE and a
            // sendfile took two syscalls that cost more).
            let start = self.w.wbuf.len();
            self.w.wbuf.resize(start + body.len as usize, 0);
            let mut got = 0;
            while start + got < self.w.wbuf.len() {
                match body
                    .file
                    .read_at(&mut self.w.wbuf[start + got..], body.offset + got as u64)
                {
                    Ok(0) | Err(_) => {
                        // Shrunk or unreadable: the bytes there were go
                        // out, and the connection ends short of the length
                        // promised (never padded).
                        self.w.wbuf.truncate(start + got);
                        let _ = self.flush().await;
                        return false;
                    }
                    Ok(n) => got += n,
                }
            }
            return true;
        }
        // The head goes with MSG_MORE: the kernel holds it back and sends
        // it in the same segments as the file's first bytes. The head and
        // the first chunk make one chunk together, as lighttpd sends them,
        // so every sendfile ends on a chunk boundary of the connection's
        // stream (1 MiB files over 16 connections on this machine: 15 %
        // less CPU per file, 191 -> 162 us, and 11 % more files a second).
        let mut head_sent = 0;
        // A file of several chunks is corked from its head to the end of
        // its first chunk, as lighttpd does (1 MiB files over 16
        // connections, three runs: 4-6 % less CPU per file than the head's
        // MSG_MORE alone). Never held across a wait: the first sendfile
        // uncorks whatever it returns. Corking every chunk was much worse
        // (1.6x the CPU).
        let mut corked =
            body.len > SENDFILE_CHUNK as u64 && self.io.raw_fd().is_some_and(|sock| sys::set_cork(sock, true).is_ok());
        if let (Some(sock), false) = (self.io.raw_fd(), self.w.wbuf.is_empty() || body.len == 0) {
            if let Ok(n) = sys::send_more(sock, &self.w.wbuf) {
                self.w.wbuf.drain(..n);
                head_sent = n.min(SENDFILE_CHUNK / 2);
            }
        }
        if corked && !self.w.wbuf.is_empty() {
            // The head did not all fit: the flush below may wait.
            corked = false;
            if let Some(sock) = self.io.raw_fd() {
                let _ = sys::set_cork(sock, false);
            }
        }
        if self.flush().await.is_err() {
            return false;
        }
        let write_timeout = self.shared.cfg.write_timeout;
        let end = body.offset + body.len;
        let mut off = body.offset;
        if let Some(sock) = self.io.raw_fd() {
            while off < end {
                let chunk = SENDFILE_CHUNK - std::mem::take(&mut head_sent);
                let want = usize::try_from(end - off).unwrap_or(usize::MAX).min(chunk);
                let sent = sys::sendfile(sock, body.file.as_raw_fd(), &mut off, want);
                if std::mem::take(&mut corked) && sys::set_cork(sock, false).is_err() {
                    return false;
                }
                match sent {
                    Ok(0) => return false,
                    // One chunk per turn, like lighttpd: the other
                    // connections' chunks go out in between instead of
                    // one connection filling its whole send buffer first
                    // (1 MiB files over 16 connections: 1.6-1.9x the
                    // throughput of one sendfile per file). The turn
                    // includes a look at I/O, so requests arriving on
                    // other connections start between two rounds of
                    // chunks, not after the last one (+30 % on the same
                    // test).
                    Ok(_) if off < end => yield_io().await,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if !self.wait_writable(write_timeout).await {
                            return false;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // Files sendfile cannot read (some file systems) and
                    // systems without it: copy instead.
                    Err(e)
                        if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS))
                            || e.kind() == io::ErrorKind::Unsupported =>
                    {
                        break
                    }
                    Err(_) => return false,
                }
            }
        }
        if off >= end {
            // All sent by sendfile: no copy buffer.
            return true;
        }
        let mut buf = vec![0u8; 16 * 1024];
        while off < end {
            let want = usize::try_from(end - off).unwrap_or(usize::MAX).min(buf.len());
            match body.file.read_at(&mut buf[..want], off) {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    if write_all2(self.io, &buf[..n], &[], write_timeout).await.is_err() {
                        return false;
                    }
                    off += n as u64;
                }
            }
        }
        true
    }

    /// Reads and drops an unread request body (up to the drain limit), so
    /// the connection can carry the next request. False: close instead.
    async fn drain(&mut self) -> bool {
        let mut budget = self.shared.cfg.drain_limit;
        loop {
            match self.w.body.discard_buffered(&mut self.w.rbuf, &mut budget) {
                Some(true) => return true,
                None => return false,
                Some(false) => {}
            }
            if self.flush().await.is_err() {
                return false;
            }
            let deadline = crate::rt::now() + self.shared.cfg.body_timeout;
            match fill(self.io, &mut self.w.rbuf, 16 * 1024, deadline).await {
                Ok(n) if n > 0 => {}
                _ => return false,
            }
        }
    }

    /// Answers a request the parser refused.
    fn reject(&mut self, e: HeadError) {
        self.shared.log(
            LogLevel::Warn,
            format_args!("{} bad request: {} ({})", self.peer, e.reason, e.status),
        );
        // A refused HEAD still gets no body (the method is checked on the
        // raw bytes: the head may not have parsed).
        let head = self.w.rbuf.data().trim_ascii_start().starts_with(b"HEAD ");
        self.w.resp.reset(11, head, false);
        self.w.resp.set_error(e.status);
        self.w.resp.finish(&mut self.w.wbuf);
        if self.shared.logs() {
            self.shared.log(
                LogLevel::Info,
                format_args!("{} \"-\" {} {}", self.peer, e.status, self.w.resp.bytes_sent()),
            );
        }
    }

    fn access_log(&self, started: Option<Instant>, status: u16, bytes: u64) {
        // Some only when there is a log (the log is set before start).
        let Some(started) = started else { return };
        let q = self.w.req.query_bytes();
        let elapsed = started.elapsed();
        self.shared.log(
            LogLevel::Info,
            format_args!(
                "{} \"{} {}{}{} HTTP/1.{}\" {} {} {}.{:03}ms",
                self.peer,
                String::from_utf8_lossy(self.w.req.method_bytes()),
                String::from_utf8_lossy(self.w.req.path_bytes()),
                if q.is_empty() { "" } else { "?" },
                String::from_utf8_lossy(q),
                if self.w.req.version() == 10 { 0 } else { 1 },
                status,
                bytes,
                elapsed.as_millis(),
                elapsed.as_micros() % 1000,
            ),
        );
    }
}
