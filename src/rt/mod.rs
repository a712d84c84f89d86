//! What the server runs on: timers, `block_on` and sockets, from one of two
//! back ends chosen at build time (cfg `mr_epoll`, set by build.rs).
//!
//! - **Linux (epoll)**: [`edge`], an edge-triggered epoll loop per worker
//!   with its own timers; a keep-alive request costs a `recv` and a `send`.
//! - **Elsewhere**, and on Linux with `--cfg polling_test_poll_backend`
//!   (how CI exercises ESP-IDF's poll(2) path): smol's async-io reactor,
//!   one shared executor, one-shot interest.
//!
//! Code that may run on either kind of thread (a worker, or a thread of
//! the application feeding a deferred response) uses [`sleep`] and
//! [`block_on`] from here: on a worker they use its loop, elsewhere smol's.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

#[cfg(mr_epoll)]
pub(crate) mod edge;
#[cfg(mr_epoll)]
mod tasks;

/// A timer future: on a worker, one of its loop's timers; elsewhere
/// smol's. `None` deadlines never fire.
pub(crate) struct Sleep(Inner);

enum Inner {
    #[cfg(mr_epoll)]
    Edge(edge::Timer),
    Smol(SmolTimer),
    Never,
}

/// smol's timer, boxed where workers have their own timers: only sleeps
/// off a worker take it there, and the idle wait in every connection's
/// task holds a [`Sleep`] (32 bytes instead of 56).
#[cfg(mr_epoll)]
type SmolTimer = Box<smol::Timer>;
#[cfg(not(mr_epoll))]
type SmolTimer = smol::Timer;

#[cfg(mr_epoll)]
fn smol_timer(at: Instant) -> SmolTimer {
    Box::new(smol::Timer::at(at))
}

#[cfg(not(mr_epoll))]
fn smol_timer(at: Instant) -> SmolTimer {
    smol::Timer::at(at)
}

/// Now, for deadlines and idle times. On a worker, the time of its last
/// look at I/O, like nginx's cached time: one clock read per `epoll_wait`
/// rather than several per request, behind the clock by at most the pass
/// over the tasks ready since (timers still fire by the clock). Time spent
/// in handlers does not count: it has no bound, so the time is read again
/// after each handler ([`refresh_now`]) and when one blocks ([`block_on`]).
/// Elsewhere, the clock.
pub(crate) fn now() -> Instant {
    #[cfg(mr_epoll)]
    if let Some(now) = edge::now() {
        return now;
    }
    Instant::now()
}

/// The clock, which [`now`] returns from here on: for after code that may
/// have run for any time (a handler), so that deadlines taken next are not
/// early by that time.
pub(crate) fn refresh_now() -> Instant {
    #[cfg(mr_epoll)]
    if let Some(now) = edge::refresh_now() {
        return now;
    }
    Instant::now()
}

/// Completes at `at`.
pub(crate) fn sleep_until(at: Instant) -> Sleep {
    #[cfg(mr_epoll)]
    if edge::on_worker() {
        return Sleep(Inner::Edge(edge::Timer::at(at)));
    }
    Sleep(Inner::Smol(smol_timer(at)))
}

/// Completes after `d` (never, if that is past the end of time).
pub(crate) fn sleep(d: Duration) -> Sleep {
    match now().checked_add(d) {
        Some(at) => sleep_until(at),
        None => Sleep(Inner::Never),
    }
}

impl Sleep {
    /// Makes the sleep complete at `at` instead. On a worker the timer
    /// keeps its place among the worker's timers, so moving it later (a
    /// connection's idle deadline, at each request) costs no heap work.
    pub(crate) fn reset(&mut self, at: Instant) {
        match &mut self.0 {
            #[cfg(mr_epoll)]
            Inner::Edge(t) => t.reset(at),
            Inner::Smol(t) => t.set_at(at),
            Inner::Never => *self = sleep_until(at),
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.get_mut().0 {
            #[cfg(mr_epoll)]
            Inner::Edge(t) => Pin::new(t).poll(cx),
            Inner::Smol(t) => Pin::new(t).poll(cx).map(|_| ()),
            Inner::Never => Poll::Pending,
        }
    }
}

/// Lets the other tasks of this thread run, and on a worker also the I/O
/// that came meanwhile (see [`edge::YieldIo`]), before going on.
pub(crate) async fn yield_io() {
    // Off a worker, `YieldIo` is a plain yield.
    #[cfg(mr_epoll)]
    edge::yield_io().await;
    #[cfg(not(mr_epoll))]
    smol::future::yield_now().await;
}

/// Runs `fut` to completion, blocking this thread: on a worker (a handler
/// waiting for its socket) through the worker's own loop, so its other
/// connections' events are still collected; elsewhere with smol.
pub(crate) fn block_on<T>(fut: impl Future<Output = T>) -> T {
    #[cfg(mr_epoll)]
    if let Some(r) = edge::current() {
        return edge::block_on(&r, fut);
    }
    smol::block_on(fut)
}
