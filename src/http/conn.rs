//! The HTTP/1.1 connection loop: read a head, dispatch it to the route's
//! handler (inline, on this worker), write the response, deal with the
//! unread part of the body, repeat while the connection stays alive.
//!
//! Responses to pipelined requests are collected in one write buffer and
//! written when no further complete request is waiting (or the buffer is
//! large), so a burst of pipelined requests costs one `write`.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use smol::channel::Receiver;
use smol::future::{or, pending, poll_fn};

use crate::deferred::{Handoff, Msg, Producer};
use crate::exchange::{BodyState, Exchange, Leftover, Wire};
use crate::files::FileBody;
use crate::http::io::{fill, readable_until, shutdown, write_all2, ReadBuf, Stream};
use crate::http::parse::{parse_head, too_long, HeadError, HeadLimits};
use crate::request::Request;
use crate::response::{Response, FLUSH_THRESHOLD};
use crate::router::Match;
use crate::rt::sleep;
use crate::server::conns::Admitted;
use crate::server::shared::{ConnGuard, LogLevel, Shared};
use crate::sys;

/// Bytes asked of the socket per read while reading a head.
const HEAD_READ: usize = 4096;
/// An idle connection keeps its buffers this long, then releases them.
const KEEP_BUFFERS: Duration = Duration::from_secs(1);
/// Lingering close: how long and how much we read and discard after
/// closing our side, so the peer gets our response instead of a reset.
const LINGER_TIME: Duration = Duration::from_millis(1000);
const LINGER_BYTES: usize = 256 * 1024;
/// Bytes per `sendfile` call; the connection lets the others run between
/// chunks.
const SENDFILE_CHUNK: usize = 256 * 1024;

enum Stop {
    /// Close without answering (EOF, idle timeout, server stopping).
    Quiet,
    /// Answer with this error, then close.
    Reply(HeadError),
}

struct Conn<'a> {
    io: &'a mut dyn Stream,
    shared: &'a Arc<Shared>,
    rbuf: ReadBuf,
    wbuf: Vec<u8>,
    req: Request,
    resp: Response,
    body: BodyState,
    remote: String,
    admitted: Option<Admitted>,
}

/// Serves one connection until it closes. `guard` keeps the server's
/// connection count right even when the task is dropped at shutdown;
/// `admitted`, its place in the connection table, lets the table close it
/// while idle (to make room, or at stop).
pub(crate) async fn serve<S: Stream>(mut stream: S, remote: String, guard: ConnGuard, admitted: Option<Admitted>) {
    let shared: Arc<Shared> = guard.0.clone();
    let mut conn = Conn {
        admitted,
        io: &mut stream,
        shared: &shared,
        rbuf: ReadBuf::default(),
        wbuf: Vec::new(),
        req: Request::new(),
        resp: Response::new(),
        body: BodyState::default(),
        remote,
    };
    conn.req.set_remote(&conn.remote);
    conn.run().await;
    drop(conn);
    drop(guard);
}

impl Conn<'_> {
    async fn run(&mut self) {
        loop {
            match self.read_head().await {
                Ok(len) => {
                    self.rbuf.consume(len);
                    if !self.exchange().await {
                        let linger = !self.rbuf.is_empty() || !matches!(self.body.leftover(), Leftover::None);
                        self.close(linger).await;
                        return;
                    }
                }
                Err(Stop::Quiet) => {
                    self.close(false).await;
                    return;
                }
                Err(Stop::Reply(e)) => {
                    self.reject(e);
                    self.close(true).await;
                    return;
                }
            }
        }
    }

    async fn flush(&mut self) -> io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let r = write_all2(self.io, &self.wbuf, &[], self.shared.cfg.write_timeout).await;
        self.wbuf.clear();
        if self.wbuf.capacity() > 64 * 1024 {
            self.wbuf = Vec::new();
        }
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
            let deadline = Instant::now() + LINGER_TIME;
            let mut total = 0;
            let mut rb = ReadBuf::default();
            while total < LINGER_BYTES {
                match fill(self.io, &mut rb, 16 * 1024, deadline).await {
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
    async fn read_head(&mut self) -> Result<usize, Stop> {
        let cfg = &self.shared.cfg;
        let lim = HeadLimits::of(cfg);
        let router = &self.shared.router;
        let known = |m: &[u8]| router.knows_method(m);
        let mut scanned = 0;
        let mut first_byte = (!self.rbuf.is_empty()).then(Instant::now);
        loop {
            if !self.rbuf.is_empty() {
                let data = self.rbuf.data();
                // Only the first max_header_bytes are judged, so bytes past
                // the limit cannot change the answer however they arrive.
                let full = data.len() >= cfg.max_header_bytes;
                let window = &data[..data.len().min(cfg.max_header_bytes)];
                // Parse again only once a line is complete (or the limit is
                // reached): a head trickled in byte by byte is not parsed
                // once per byte.
                if scanned == 0 || full || data[scanned - 1..].contains(&b'\n') {
                    match parse_head(window, &lim, &known, &mut self.req) {
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
            let r = if let Some(t) = first_byte {
                fill(self.io, &mut self.rbuf, HEAD_READ, t + cfg.header_timeout).await
            } else {
                self.wait_idle().await
            };
            match r {
                Ok(0) => return Err(Stop::Quiet),
                Ok(_) => {
                    first_byte.get_or_insert_with(Instant::now);
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut && first_byte.is_some() => {
                    return Err(Stop::Reply(HeadError {
                        status: 408,
                        reason: "request head not received in time",
                    }));
                }
                Err(_) => return Err(Stop::Quiet),
            }
        }
    }

    /// Waits for the first byte of the next request, up to the idle timeout
    /// or until the server stops. Buffers are released if the wait is long.
    async fn wait_idle(&mut self) -> io::Result<usize> {
        let cfg = &self.shared.cfg;
        let start = Instant::now();
        let deadline = start + cfg.idle_timeout;
        let mut released = false;
        let shared = self.shared;
        if let Some(a) = &self.admitted {
            a.set_idle(start);
        }
        let r = loop {
            if shared.is_stopping() {
                break Err(io::Error::other("server stopping"));
            }
            let until = if released {
                deadline
            } else {
                deadline.min(start + KEEP_BUFFERS)
            };
            // Evicted to make room, or the server is stopping.
            let slot = self.admitted.as_ref().map(|a| &*a.slot);
            let interrupted = poll_fn(|cx| match slot {
                Some(s) => s
                    .poll_interrupt(cx, &shared.stopping)
                    .map(|()| Err(io::Error::other("closed while idle"))),
                None => Poll::Pending,
            });
            // An idle connection holds no read buffer: it goes back to
            // this thread's pool until bytes arrive.
            self.rbuf.park();
            let io = &mut *self.io;
            let rbuf = &mut self.rbuf;
            let read = async {
                readable_until(&mut *io, until).await?;
                fill(io, rbuf, HEAD_READ, until).await
            };
            match or(read, interrupted).await {
                Err(e) if e.kind() == io::ErrorKind::TimedOut && !released && until < deadline => {
                    // (The read buffer is lent to the pool at every wait.)
                    self.wbuf = Vec::new();
                    self.req.shrink();
                    self.resp.shrink();
                    released = true;
                }
                r => break r,
            }
        };
        if let Some(a) = &self.admitted {
            // Bytes that raced an eviction are served: the client sent a
            // request, and closing now would lose it.
            a.set_busy();
        }
        r
    }

    /// Handles one parsed request. Returns false when the connection must
    /// close afterwards.
    async fn exchange(&mut self) -> bool {
        let started = Instant::now();
        let shared = self.shared;
        let method = std::str::from_utf8(self.req.method_bytes()).unwrap_or("");
        let is_head = method == "HEAD";
        self.resp.reset(self.req.version(), is_head, self.req.keep_alive);
        self.body.reset(self.req.framing, self.req.expect_continue);

        let mut handler = None;
        match shared.router.find(method, self.req.path_bytes()) {
            Match::Found { handler: h, params } => {
                for (name, range) in params {
                    self.req.push_param_from_path(name, range);
                }
                handler = Some(h);
            }
            Match::MethodNotAllowed(allow) => {
                if method == "OPTIONS" {
                    self.resp.set_status(204).ok();
                    self.resp.push_allow(&format!("{allow}, OPTIONS"));
                } else {
                    self.resp.set_error(405);
                    self.resp.push_allow(&allow);
                }
            }
            Match::NotFound if self.req.path_bytes() == b"*" => {
                // OPTIONS * (the parser allows `*` only with OPTIONS).
                self.resp.set_status(204).ok();
                self.resp.push_allow("GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH");
            }
            Match::NotFound => match shared.router.fallback() {
                Some(h) => handler = Some(h),
                None => self.resp.set_error(404),
            },
        }

        let mut poison = None;
        let mut broken = false;
        let mut handoff = None;
        if let Some(handler) = handler {
            let mut ex = Exchange {
                req: &mut self.req,
                resp: &mut self.resp,
                body: &mut self.body,
                rbuf: &mut self.rbuf,
                wire: Wire {
                    io: &mut *self.io,
                    wbuf: &mut self.wbuf,
                    write_timeout: shared.cfg.write_timeout,
                    broken: false,
                },
                cfg: &shared.cfg,
                poison: None,
                handoff: None,
                shared,
            };
            let ok = handler(&mut ex);
            poison = ex.poison;
            broken = ex.wire.broken;
            handoff = ex.handoff.take();
            if poison.is_none() && !ok && !matches!(handoff, Some(Handoff::Deferred(..))) {
                // A failed handler's producer is dropped (its userdata freed).
                handoff = None;
                if self.resp.committed() {
                    // Part of the response is out: end the connection
                    // without finishing the body, so the client sees it.
                    broken = true;
                } else {
                    self.resp.set_error(500);
                }
            }
        }

        if let Some(code) = poison {
            shared.log(
                LogLevel::Warn,
                format_args!("{} request body rejected with {}", self.remote, code),
            );
            // A deferred handle's sends now fail: the connection answers.
            handoff = None;
            if self.resp.committed() {
                broken = true;
            } else {
                self.resp.set_error(code);
                self.resp.force_close = true;
            }
        }
        if broken {
            shared.log(
                LogLevel::Warn,
                format_args!(
                    "{} response cut short: the client went away, timed out or the handler closed",
                    self.remote
                ),
            );
            self.access_log(started, self.resp.status(), self.resp.bytes_sent());
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
        match self.body.leftover() {
            Leftover::None => {}
            Leftover::Broken => self.resp.force_close = true,
            Leftover::Unread => {
                let too_big = self.body.remaining_length().is_some_and(|n| n > shared.cfg.drain_limit);
                // A client waiting for `100 Continue` may never send the body.
                if self.body.continue_owed || too_big {
                    self.resp.force_close = true;
                } else {
                    drain = true;
                }
            }
        }
        if shared.is_stopping() {
            self.resp.force_close = true;
        }
        let mut close = match handoff {
            Some(Handoff::Producer(p)) => self.run_producer(p).await,
            _ => self.resp.finish(&mut self.wbuf),
        };
        if let Some(file) = self.resp.take_file() {
            close |= !self.send_file(file).await;
        }
        self.access_log(started, self.resp.status(), self.resp.bytes_sent());
        if close {
            return false;
        }
        if drain && !self.drain().await {
            return false;
        }
        if self.wbuf.len() >= FLUSH_THRESHOLD && self.flush().await.is_err() {
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
                let rbuf = &mut self.rbuf;
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
        if self.resp.start_stream(&mut self.wbuf).is_err() {
            return true;
        }
        if self.resp.bodyless() {
            drop(producer);
            return self.resp.finish(&mut self.wbuf);
        }
        let write_timeout = self.shared.cfg.write_timeout;
        let mut buf = vec![0u8; PIECE];
        loop {
            if write_all2(self.io, &self.wbuf, &[], write_timeout).await.is_err() {
                return true;
            }
            self.wbuf.clear();
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
                    if self.resp.send(&mut self.wbuf, &buf[..n]).is_err() {
                        return true;
                    }
                }
                // A negative count (or more than the buffer holds) is the
                // producer's error: close without the final chunk.
                _ => {
                    self.shared.log(
                        LogLevel::Warn,
                        format_args!("{} stream producer failed ({n}); closing", self.remote),
                    );
                    return true;
                }
            }
        }
        drop(producer);
        self.resp.finish(&mut self.wbuf)
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
        // The head goes with MSG_MORE: the kernel holds it back and sends
        // it in the same segments as the file's first bytes.
        if let (Some(sock), false) = (self.io.raw_fd(), self.wbuf.is_empty() || body.len == 0) {
            if let Ok(n) = sys::send_more(sock, &self.wbuf) {
                self.wbuf.drain(..n);
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
                let want = usize::try_from(end - off).unwrap_or(usize::MAX).min(SENDFILE_CHUNK);
                match sys::sendfile(sock, body.file.as_raw_fd(), &mut off, want) {
                    Ok(0) => return false,
                    // One chunk per turn, like lighttpd: the other
                    // connections' chunks go out in between instead of
                    // one connection filling its whole send buffer first
                    // (1 MiB files over 16 connections: 1.6-1.9x the
                    // throughput of one sendfile per file).
                    Ok(_) if off < end => smol::future::yield_now().await,
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
            match self.body.discard_buffered(&mut self.rbuf, &mut budget) {
                Some(true) => return true,
                None => return false,
                Some(false) => {}
            }
            if self.flush().await.is_err() {
                return false;
            }
            let deadline = Instant::now() + self.shared.cfg.body_timeout;
            match fill(self.io, &mut self.rbuf, 16 * 1024, deadline).await {
                Ok(n) if n > 0 => {}
                _ => return false,
            }
        }
    }

    /// Answers a request the parser refused.
    fn reject(&mut self, e: HeadError) {
        self.shared.log(
            LogLevel::Warn,
            format_args!("{} bad request: {} ({})", self.remote, e.reason, e.status),
        );
        // A refused HEAD still gets no body (the method is checked on the
        // raw bytes: the head may not have parsed).
        let head = self.rbuf.data().trim_ascii_start().starts_with(b"HEAD ");
        self.resp.reset(11, head, false);
        self.resp.set_error(e.status);
        self.resp.finish(&mut self.wbuf);
        if self.shared.logs() {
            self.shared.log(
                LogLevel::Info,
                format_args!("{} \"-\" {} {}", self.remote, e.status, self.resp.bytes_sent()),
            );
        }
    }

    fn access_log(&self, started: Instant, status: u16, bytes: u64) {
        if !self.shared.logs() {
            return;
        }
        let q = self.req.query_bytes();
        let elapsed = started.elapsed();
        self.shared.log(
            LogLevel::Info,
            format_args!(
                "{} \"{} {}{}{} HTTP/1.{}\" {} {} {}.{:03}ms",
                self.remote,
                String::from_utf8_lossy(self.req.method_bytes()),
                String::from_utf8_lossy(self.req.path_bytes()),
                if q.is_empty() { "" } else { "?" },
                String::from_utf8_lossy(q),
                if self.req.version() == 10 { 0 } else { 1 },
                status,
                bytes,
                elapsed.as_millis(),
                elapsed.as_micros() % 1000,
            ),
        );
    }
}
