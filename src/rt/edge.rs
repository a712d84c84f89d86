//! The Linux worker loop: one edge-triggered epoll instance per worker,
//! its own timers, and `block_on` that sleeps in `epoll_wait`.
//!
//! Why not smol's reactor: async-io registers interest one-shot, so every
//! wait costs an `epoll_ctl` to re-arm, a read that ends in `EAGAIN` to find
//! out the socket is drained, and a `timerfd_settime` plus eventfd
//! bookkeeping per `epoll_wait`. Here a socket is added once with
//! `EPOLLET`; a short read means drained (the next arrival raises a new
//! edge), and the only syscall per wait is `epoll_wait` itself. A
//! keep-alive request then costs one `recv` and one `send`, like nginx.
//!
//! Everything a worker owns (its sockets' readiness, its timers, its run
//! queue of tasks, see [`super::tasks`]) lives on its thread, so none of
//! it needs locks. Other threads reach a worker only through wakers,
//! which write its eventfd when it sleeps.

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, IoSlice, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use smol::io::{AsyncRead, AsyncWrite};

use super::tasks::Tasks;
use crate::http::io::Stream;
use crate::sys::{self, Epoll, EventFd};

/// The event key of the worker's eventfd.
const WAKE_KEY: u64 = u64::MAX;
/// Events taken per `epoll_wait`.
const EVENTS: usize = 256;
/// Polls of a nested `block_on`'s future in a row before I/O is looked
/// at anyway.
const POLLS_PER_TURN: u32 = 64;
/// Tasks run in a row before I/O is looked at anyway: one `epoll_wait`'s
/// worth, so a full batch of events is served in one pass.
const TASKS_PER_TURN: usize = EVENTS;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Reactor>>> = const { RefCell::new(None) };
}

/// The reactor of this thread, if it is a worker.
pub(crate) fn current() -> Option<Rc<Reactor>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// True on a worker thread (its timers and sockets live here).
pub(crate) fn on_worker() -> bool {
    CURRENT.try_with(|c| c.borrow().is_some()).unwrap_or(false)
}

/// The time as of this worker's last look at I/O; `None` off a worker.
pub(crate) fn now() -> Option<Instant> {
    with_current(|r| r.now.get())
}

/// Sets this worker's time to the clock's (see [`super::refresh_now`]);
/// `None` off a worker.
pub(crate) fn refresh_now() -> Option<Instant> {
    with_current(Reactor::refresh_now)
}

/// Calls `f` with this thread's reactor, if it is a worker (without the
/// reference count traffic of [`current`]).
pub(super) fn with_current<R>(f: impl FnOnce(&Reactor) -> R) -> Option<R> {
    CURRENT.try_with(|c| c.borrow().as_deref().map(f)).ok().flatten()
}

/// Starts `fut` as a task of this thread's worker. False (and `fut`
/// dropped) off a worker, or once the worker is ending.
pub(crate) fn spawn<F: Future + 'static>(fut: F) -> bool {
    with_current(|r| r.tasks.spawn(fut)).unwrap_or(false)
}

/// What wakes a sleeping worker from another thread.
#[derive(Debug)]
pub(super) struct Notifier {
    /// Set while the worker is in (or about to enter) `epoll_wait`.
    sleeping: AtomicBool,
    fd: EventFd,
}

impl Notifier {
    /// Ends the worker's sleep, if it sleeps. Called after the reason to
    /// wake is published with `SeqCst`: pairs with `turn`, so that either
    /// the worker sees the reason before it sleeps, or this sees
    /// `sleeping` and writes the eventfd.
    pub(super) fn wake(&self) {
        if self.sleeping.load(Ordering::SeqCst) {
            self.fd.signal();
        }
    }
}

/// The waker of one `block_on` level.
struct Unparker {
    woken: AtomicBool,
    notifier: Arc<Notifier>,
}

impl Unparker {
    /// A waker for a future polled by a loop of `r`, set as woken so that
    /// the first look polls it.
    fn new(r: &Reactor) -> (Arc<Unparker>, Waker) {
        let unparker = Arc::new(Unparker {
            woken: AtomicBool::new(true),
            notifier: r.notifier.clone(),
        });
        let waker = Waker::from(unparker.clone());
        (unparker, waker)
    }

    /// Whether the future was woken since the last call, clearing it.
    fn take(&self) -> bool {
        // The plain load spares the read-modify-write when it was not; a
        // wake-up it misses is seen by `turn` before any sleep.
        self.woken.load(Ordering::Relaxed) && self.woken.swap(false, Ordering::SeqCst)
    }
}

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::SeqCst) {
            self.notifier.wake();
        }
    }
}

/// One socket's readiness, as the edges reported it.
#[derive(Default)]
struct Slot {
    readable: bool,
    writable: bool,
    /// EOF, hang-up or error seen: reads no longer block.
    hup: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

/// Generations start at 1, so that `Option<Key>` (in every timer, and so
/// in every idle connection's task) takes 8 bytes, not 12.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    index: u32,
    gen: NonZeroU32,
}

impl Key {
    fn data(self) -> u64 {
        u64::from(self.gen.get()) << 32 | u64::from(self.index)
    }

    /// The key in an event's data; `None` for data no key makes.
    fn from_data(d: u64) -> Option<Key> {
        Some(Key {
            index: d as u32,
            gen: NonZeroU32::new((d >> 32) as u32)?,
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Read,
    Write,
}

/// Entries addressed by a [`Key`] whose generation goes stale when the
/// entry is removed, so a late event or a dropped handle for a reused
/// index finds nothing. Nothing allocates once the vectors have grown.
struct Slab<T> {
    /// (generation, entry); `None` when free.
    entries: Vec<(NonZeroU32, Option<T>)>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    fn insert(&mut self, value: T) -> Key {
        let index = self.free.pop().unwrap_or_else(|| {
            self.entries.push((NonZeroU32::MIN, None));
            (self.entries.len() - 1) as u32
        });
        let e = &mut self.entries[index as usize];
        e.1 = Some(value);
        Key { index, gen: e.0 }
    }

    fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        match self.entries.get_mut(key.index as usize) {
            Some((gen, Some(v))) if *gen == key.gen => Some(v),
            _ => None,
        }
    }

    fn remove(&mut self, key: Key) -> Option<T> {
        let e = self.entries.get_mut(key.index as usize)?;
        if e.0 != key.gen || e.1.is_none() {
            return None;
        }
        e.0 = e.0.checked_add(1).unwrap_or(NonZeroU32::MIN);
        self.free.push(key.index);
        e.1.take()
    }

    /// The live entry at `index` and its key (indexes taken from a live
    /// key or from the timer heap, which holds live entries only).
    fn at(&mut self, index: u32) -> (Key, &mut T) {
        let (gen, v) = &mut self.entries[index as usize];
        let key = Key { index, gen: *gen };
        (key, v.as_mut().expect("a live slab entry"))
    }
}

/// Pending timers: a binary heap of (deadline, entry) whose entries record
/// their heap position, so a dropped timer leaves at once.
#[derive(Default)]
struct Timers {
    heap: Vec<(Instant, u32)>,
    entries: Slab<TimerEntry>,
}

struct TimerEntry {
    /// Position in `heap`.
    pos: usize,
    waker: Option<Waker>,
}

impl Timers {
    fn insert(&mut self, at: Instant, waker: Waker) -> Key {
        let pos = self.heap.len();
        let key = self.entries.insert(TimerEntry {
            pos,
            waker: Some(waker),
        });
        self.heap.push((at, key.index));
        self.sift_up(pos);
        key
    }

    fn get_mut(&mut self, key: Key) -> Option<&mut TimerEntry> {
        self.entries.get_mut(key)
    }

    /// Takes the timer out (fired or dropped); returns its waker.
    fn remove(&mut self, key: Key) -> Option<Waker> {
        let pos = self.entries.get_mut(key)?.pos;
        let last = self.heap.len() - 1;
        self.swap(pos, last);
        self.heap.pop();
        if pos < self.heap.len() {
            self.sift_down(pos);
            self.sift_up(pos);
        }
        self.entries.remove(key).and_then(|e| e.waker)
    }

    fn next(&self) -> Option<Instant> {
        self.heap.first().map(|&(at, _)| at)
    }

    /// The first timer due at `now`, taken out.
    fn pop_due(&mut self, now: Instant) -> Option<Option<Waker>> {
        let &(at, index) = self.heap.first()?;
        if at > now {
            return None;
        }
        let key = self.entries.at(index).0;
        Some(self.remove(key))
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        let (ia, ib) = (self.heap[a].1, self.heap[b].1);
        self.entries.at(ia).1.pos = a;
        self.entries.at(ib).1.pos = b;
    }

    fn sift_up(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if self.heap[parent].0 <= self.heap[pos].0 {
                break;
            }
            self.swap(pos, parent);
            pos = parent;
        }
    }

    fn sift_down(&mut self, mut pos: usize) {
        loop {
            let (l, r) = (2 * pos + 1, 2 * pos + 2);
            let mut least = pos;
            if l < self.heap.len() && self.heap[l].0 < self.heap[least].0 {
                least = l;
            }
            if r < self.heap.len() && self.heap[r].0 < self.heap[least].0 {
                least = r;
            }
            if least == pos {
                break;
            }
            self.swap(pos, least);
            pos = least;
        }
    }
}

/// One worker's event loop state. Created on the thread that starts the
/// server (so failures are reported there), then moved to its worker and
/// installed with [`Reactor::install`].
pub(crate) struct Reactor {
    epoll: Epoll,
    notifier: Arc<Notifier>,
    sources: RefCell<Slab<Slot>>,
    timers: RefCell<Timers>,
    events: RefCell<Vec<libc::epoll_event>>,
    /// Tasks that gave way until the next look at I/O ([`YieldIo`]).
    yielded: RefCell<Vec<Waker>>,
    /// The previous turn's `yielded`, kept for its capacity.
    yielded_spare: RefCell<Vec<Waker>>,
    pub(super) tasks: Tasks,
    /// The time as of the last look at I/O (see [`super::now`]).
    now: std::cell::Cell<Instant>,
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Reactor> {
        let epoll = Epoll::new()?;
        let fd = EventFd::new()?;
        epoll.add(fd.fd(), (libc::EPOLLIN | libc::EPOLLET) as u32, WAKE_KEY)?;
        let notifier = Arc::new(Notifier {
            sleeping: AtomicBool::new(false),
            fd,
        });
        Ok(Reactor {
            epoll,
            tasks: Tasks::new(notifier.clone()),
            notifier,
            sources: RefCell::default(),
            timers: RefCell::default(),
            events: RefCell::new(Vec::with_capacity(EVENTS)),
            yielded: RefCell::default(),
            yielded_spare: RefCell::default(),
            now: std::cell::Cell::new(Instant::now()),
        })
    }

    /// Adds `fd` to the epoll set, edge-triggered for reading and writing
    /// (`exclusive`: a listening socket shared by several workers, woken
    /// one at a time). A connection starts out writable and not readable:
    /// adding a socket that already holds bytes raises an edge at once,
    /// and until bytes come the connection waits without a read buffer
    /// (instead of taking one for a read that finds nothing). A listener
    /// starts out ready: the first accept finds out.
    pub(crate) fn register(&self, fd: RawFd, exclusive: bool) -> io::Result<Source> {
        let mut s = self.sources.borrow_mut();
        let key = s.insert(Slot {
            readable: exclusive,
            writable: true,
            ..Slot::default()
        });
        let events = if exclusive {
            libc::EPOLLIN | libc::EPOLLEXCLUSIVE | libc::EPOLLET
        } else {
            libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET
        };
        if let Err(e) = self.epoll.add(fd, events as u32, key.data()) {
            s.remove(key);
            return Err(e);
        }
        Ok(Source { key })
    }

    /// Reads the clock into the loop's time, and returns it.
    fn refresh_now(&self) -> Instant {
        let now = Instant::now();
        self.now.set(now);
        now
    }

    /// Makes this thread's worker loop `self` until the guard drops.
    pub(crate) fn install(self) -> Installed {
        self.refresh_now();
        let r = Rc::new(self);
        CURRENT.with(|c| *c.borrow_mut() = Some(r.clone()));
        Installed(r)
    }

    /// Looks at I/O and timers once: sleeps in `epoll_wait` until an
    /// event, the next timer or a wake-up unless `woken` is already set,
    /// `busy` (tasks still queued) or tasks were woken from other threads
    /// (then only collects what is ready), and wakes whoever waits. Tasks
    /// woken from other threads join the run queue here, so that a nested
    /// `block_on`, which runs no tasks, does not spin on them.
    fn turn(&self, woken: &AtomicBool, busy: bool) {
        // The loop's time moves with each clock read here, so tasks woken
        // by a timer start from the time that fired it.
        let now = self.refresh_now();
        // A timer can be due already: armed from the loop's time by a task
        // that ran long. The task it wakes runs before any sleep.
        let fired = self.fire_timers(now);
        let mut timeout = match self.timers.borrow().next() {
            None => -1,
            Some(at) => {
                let left = at.saturating_duration_since(now);
                // Round up: waking before the deadline only loops.
                let ms = left.as_nanos().div_ceil(1_000_000);
                i32::try_from(ms).unwrap_or(i32::MAX)
            }
        };
        // Tasks that gave way run again after this look at I/O, which
        // then must not sleep. Swapped out first: a task woken below that
        // gives way again waits for the next turn.
        let mut yielded = self.yielded.replace(self.yielded_spare.take());
        if !yielded.is_empty() || busy || fired {
            timeout = 0;
        }
        if timeout != 0 {
            self.notifier.sleeping.store(true, Ordering::SeqCst);
            if woken.load(Ordering::SeqCst) || self.tasks.remote_pending() {
                timeout = 0;
            }
        }
        let mut events = self.events.borrow_mut();
        let r = self.epoll.wait(&mut events, timeout);
        self.notifier.sleeping.store(false, Ordering::SeqCst);
        if r.is_err() {
            // Only EBADF/EFAULT/EINVAL, none of which can happen with our
            // own descriptor and buffer; do not spin if one did.
            drop(events);
            std::thread::sleep(std::time::Duration::from_millis(1));
            return;
        }
        for ev in events.iter() {
            let (bits, data) = (ev.events, ev.u64);
            if data == WAKE_KEY {
                self.notifier.fd.drain();
                continue;
            }
            let (reader, writer) = {
                let mut s = self.sources.borrow_mut();
                let Some(slot) = Key::from_data(data).and_then(|k| s.get_mut(k)) else {
                    continue;
                };
                let bits = bits as libc::c_int;
                let err = bits & (libc::EPOLLHUP | libc::EPOLLERR) != 0;
                let mut reader = None;
                let mut writer = None;
                if err || bits & (libc::EPOLLIN | libc::EPOLLRDHUP) != 0 {
                    slot.readable = true;
                    reader = slot.reader.take();
                }
                if err || bits & libc::EPOLLRDHUP != 0 {
                    slot.hup = true;
                }
                if err || bits & libc::EPOLLOUT != 0 {
                    slot.writable = true;
                    writer = slot.writer.take();
                }
                (reader, writer)
            };
            if let Some(w) = reader {
                w.wake();
            }
            if let Some(w) = writer {
                w.wake();
            }
        }
        drop(events);
        let now = self.refresh_now();
        self.fire_timers(now);
        for w in yielded.drain(..) {
            w.wake();
        }
        *self.yielded_spare.borrow_mut() = yielded;
        self.tasks.take_remote();
    }

    /// Wakes the timers due at `now`; true if there were any.
    fn fire_timers(&self, now: Instant) -> bool {
        let mut fired = false;
        loop {
            let due = self.timers.borrow_mut().pop_due(now);
            match due {
                Some(Some(w)) => w.wake(),
                Some(None) => {}
                None => return fired,
            }
            fired = true;
        }
    }

    /// Ready to try `dir` now; if not, `cx` is woken at the next edge.
    fn poll_ready(&self, key: Key, dir: Dir, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.sources.borrow_mut();
        let Some(slot) = s.get_mut(key) else {
            // Freed under us: let the syscall report the state.
            return Poll::Ready(());
        };
        let (ready, waiter) = match dir {
            Dir::Read => (slot.readable, &mut slot.reader),
            Dir::Write => (slot.writable, &mut slot.writer),
        };
        if ready {
            return Poll::Ready(());
        }
        match waiter {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *waiter = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The last attempt drained the socket (`EAGAIN`, or a short read or
    /// write): wait for the next edge. Reads past EOF never wait.
    fn clear(&self, key: Key, dir: Dir) {
        let mut s = self.sources.borrow_mut();
        if let Some(slot) = s.get_mut(key) {
            match dir {
                Dir::Read if !slot.hup => slot.readable = false,
                Dir::Read => {}
                Dir::Write => slot.writable = false,
            }
        }
    }

    /// Forgets `key`. The descriptor is closed right after, which takes
    /// it out of the epoll set: no EPOLL_CTL_DEL syscall.
    fn deregister(&self, key: Key) {
        let slot = self.sources.borrow_mut().remove(key);
        drop(slot); // its wakers, outside the borrow
    }
}

/// Uninstalls the thread's reactor when dropped (after its tasks).
pub(crate) struct Installed(Rc<Reactor>);

impl Installed {
    /// The installed reactor, for [`block_on`].
    pub(crate) fn reactor(&self) -> &Reactor {
        &self.0
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        // The tasks' futures (connections, timers) go while the reactor
        // is there to take their sockets and timers out.
        self.0.tasks.cancel_all();
        let _ = CURRENT.try_with(|c| c.borrow_mut().take());
    }
}

/// A registered descriptor's key in its worker's reactor.
#[derive(Debug)]
pub(crate) struct Source {
    key: Key,
}

impl Source {
    fn poll_ready(&self, dir: Dir, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match current() {
            Some(r) => r.poll_ready(self.key, dir, cx).map(Ok),
            None => Poll::Ready(Err(off_worker())),
        }
    }

    fn clear(&self, dir: Dir) {
        if let Some(r) = current() {
            r.clear(self.key, dir);
        }
    }

    /// Runs the non-blocking `op` once the edge says it may succeed, and
    /// again while it reports `EAGAIN` after a stale edge. A result that
    /// `drained` says emptied the socket (a short read or write) also
    /// waits for the next edge, without trying again.
    fn poll_io<T>(
        &self,
        dir: Dir,
        cx: &mut Context<'_>,
        mut op: impl FnMut() -> io::Result<T>,
        drained: impl Fn(&T) -> bool,
    ) -> Poll<io::Result<T>> {
        let Some(r) = current() else {
            return Poll::Ready(Err(off_worker()));
        };
        loop {
            if r.poll_ready(self.key, dir, cx).is_pending() {
                return Poll::Pending;
            }
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => r.clear(self.key, dir),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(v) => {
                    if drained(&v) {
                        r.clear(self.key, dir);
                    }
                    return Poll::Ready(Ok(v));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// A socket polled on a thread other than its worker's (connections never
/// move, so this is a bug): an error, never a hang or a spin.
fn off_worker() -> io::Error {
    io::Error::other("socket used off its worker thread")
}

impl Drop for Source {
    fn drop(&mut self) {
        if let Some(r) = current() {
            r.deregister(self.key);
        }
    }
}

/// A connection socket on a worker's reactor.
#[derive(Debug)]
pub(crate) struct Conn {
    // Declared first: dropped (slot freed) before the socket closes.
    source: Source,
    stream: TcpStream,
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let len = buf.len();
        // A short read drained the socket for now (0 is EOF: stays ready).
        this.source
            .poll_io(Dir::Read, cx, || (&this.stream).read(buf), |&n| n > 0 && n < len)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // A short write filled the send buffer for now.
        let asked = buf.len();
        this.source
            .poll_io(Dir::Write, cx, || (&this.stream).write(buf), |&n| n < asked)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let asked = bufs.iter().map(|b| b.len()).sum();
        this.source
            .poll_io(Dir::Write, cx, || (&this.stream).write_vectored(bufs), |&n| n < asked)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Stream for Conn {
    fn raw_fd(&self) -> Option<i32> {
        Some(self.stream.as_raw_fd())
    }

    fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.source.poll_ready(Dir::Write, cx)
    }

    fn write_blocked(&self) {
        self.source.clear(Dir::Write);
    }

    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.source.poll_ready(Dir::Read, cx)
    }
}

/// A listening socket shared by every worker, registered in each one's
/// epoll set with `EPOLLEXCLUSIVE` (a connection wakes one idle worker,
/// not all) and edge-triggered (a backlog the worker cannot take now,
/// out of descriptors, does not wake it again and again).
pub(crate) struct Listener {
    source: Source,
    listener: Arc<TcpListener>,
    /// Connections known to wait in the accept queue when it was last
    /// looked at, less those accepted since (see [`Listener::accept`]).
    queued: std::cell::Cell<u32>,
}

impl Listener {
    /// Registers `listener` (non-blocking) with `reactor`, before it is
    /// installed on its worker.
    pub(crate) fn on(reactor: &Reactor, listener: Arc<TcpListener>) -> io::Result<Listener> {
        let source = reactor.register(listener.as_raw_fd(), true)?;
        Ok(Listener {
            source,
            listener,
            queued: std::cell::Cell::new(0),
        })
    }

    /// The next connection, non-blocking, not yet registered with any
    /// worker (see [`Conn::adopt`]). It has `TCP_NODELAY` when the
    /// listener has it (Linux copies it to accepted sockets; the server
    /// sets it on its listeners).
    ///
    /// An edge says at least one connection came; after each one accepted,
    /// the accept queue's length says whether to accept again or to wait
    /// for the next edge (a connection that comes after the look raises
    /// one). Accepting until `EAGAIN` instead cost an `accept4` that fails
    /// for most connections, and a failing one costs as much as seven
    /// looks at the queue: the kernel makes the new socket and its file
    /// before it finds the queue empty. Where the look fails, accepting
    /// until `EAGAIN` it is.
    pub(crate) async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let fd = self.listener.as_raw_fd();
        let accept_one = || match sys::accept4(fd) {
            Ok((stream, peer)) => {
                let left = match self.queued.get() {
                    0 | 1 => sys::accept_queue_len(fd).unwrap_or(1),
                    known => known - 1,
                };
                self.queued.set(left);
                Ok((stream, peer, left > 0))
            }
            Err(e) => {
                self.queued.set(0);
                Err(e)
            }
        };
        loop {
            let (stream, peer, _) =
                std::future::poll_fn(|cx| self.source.poll_io(Dir::Read, cx, accept_one, |&(_, _, more)| !more))
                    .await?;
            if let Some(peer) = peer {
                return Ok((stream, peer));
            }
        }
    }
}

impl Conn {
    /// Registers `stream` (non-blocking) with this thread's worker, where
    /// it stays.
    ///
    /// Errors: not on a worker thread, or `epoll_ctl`'s (out of memory).
    pub(crate) fn adopt(stream: TcpStream) -> io::Result<Conn> {
        let r = current().ok_or_else(off_worker)?;
        let source = r.register(stream.as_raw_fd(), false)?;
        Ok(Conn { source, stream })
    }
}

/// A timer on this worker's reactor (see [`crate::rt::sleep_until`]).
pub(crate) struct Timer {
    at: Instant,
    key: Option<Key>,
}

impl Timer {
    pub(crate) fn at(at: Instant) -> Timer {
        Timer { at, key: None }
    }

    /// Makes the timer complete at `at` instead. Moved later, it keeps its
    /// place among the worker's timers: when that place comes up it wakes
    /// the task once, and the poll that follows, finding `at` not yet
    /// reached, puts it back in at `at`. A connection's idle timer moves
    /// later at every request, so this saves a heap removal and insertion
    /// per keep-alive request for one wake-up per idle timeout. Moved
    /// earlier, it leaves its place, to be put back in at `at` when polled.
    pub(crate) fn reset(&mut self, at: Instant) {
        if at < self.at {
            self.cancel();
        }
        self.at = at;
    }
}

/// Gives way to every other task of this worker and to the I/O that
/// came meanwhile: completes after the worker's next look at its sockets
/// (an `epoll_wait` that does not sleep), not merely after the tasks
/// already queued. A connection sending a large body in chunks uses it
/// between chunks, so requests arriving on other connections are read
/// between two rounds of chunks instead of after the last one.
pub(crate) struct YieldIo {
    yielded: bool,
}

/// See [`YieldIo`].
pub(crate) fn yield_io() -> YieldIo {
    YieldIo { yielded: false }
}

impl Future for YieldIo {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        match current() {
            Some(r) => r.yielded.borrow_mut().push(cx.waker().clone()),
            // Off a worker there is no turn to wait for: a plain yield.
            None => cx.waker().wake_by_ref(),
        }
        Poll::Pending
    }
}

impl Future for Timer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(r) = current() else {
            // Moved off its worker: nothing would fire it. Cannot happen
            // (tasks stay on their worker); fail safe by not hanging.
            return Poll::Ready(());
        };
        // Due by the loop's time: the timers, which fire by the clock,
        // may not have looked yet.
        if r.now.get() >= self.at {
            self.cancel();
            return Poll::Ready(());
        }
        let mut t = r.timers.borrow_mut();
        match self.key.and_then(|k| t.get_mut(k)) {
            Some(entry) => match &entry.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => entry.waker = Some(cx.waker().clone()),
            },
            None => {
                let key = t.insert(self.at, cx.waker().clone());
                self.key = Some(key);
            }
        }
        Poll::Pending
    }
}

impl Timer {
    fn cancel(&mut self) {
        if let (Some(key), Some(r)) = (self.key.take(), current()) {
            let waker = r.timers.borrow_mut().remove(key);
            drop(waker); // outside the borrow
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Runs this worker (`r`, its installed reactor) until `fut` completes:
/// its tasks (see [`spawn`]), its I/O and its timers. A pass runs the
/// queued tasks, up to [`TASKS_PER_TURN`], then looks at I/O; the look
/// sleeps only when nothing is left to run.
pub(crate) fn run<T>(r: &Reactor, fut: impl Future<Output = T>) -> T {
    let (unparker, waker) = Unparker::new(r);
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if unparker.take() {
            if let Poll::Ready(t) = fut.as_mut().poll(&mut cx) {
                return t;
            }
        }
        let busy = r.tasks.run(TASKS_PER_TURN);
        r.turn(&unparker.woken, busy);
    }
}

/// Runs `fut` to completion on this worker (`r`, its reactor), serving
/// I/O and timers while it waits. Inside a task (a handler waiting for
/// its socket), the worker's other tasks wait: their wake-ups are queued
/// for the worker's loop.
pub(crate) fn block_on<T>(r: &Reactor, fut: impl Future<Output = T>) -> T {
    // The caller (a handler) may have run for any time since the last
    // look at I/O: deadlines `fut` takes start from now, not from then.
    r.refresh_now();
    let (unparker, waker) = Unparker::new(r);
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let mut polls = 0;
    loop {
        if unparker.take() {
            if let Poll::Ready(t) = fut.as_mut().poll(&mut cx) {
                return t;
            }
            polls += 1;
            if polls < POLLS_PER_TURN && unparker.woken.load(Ordering::SeqCst) {
                continue;
            }
        }
        polls = 0;
        r.turn(&unparker.woken, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timer_heap_orders_and_removes() {
        let waker = Waker::noop().clone();
        let mut t = Timers::default();
        let now = Instant::now();
        let keys: Vec<Key> = [5u64, 1, 4, 2, 3]
            .iter()
            .map(|&s| t.insert(now + Duration::from_secs(s), waker.clone()))
            .collect();
        // Drop the 4 s one, then take them in order.
        assert!(t.remove(keys[2]).is_some());
        assert!(t.remove(keys[2]).is_none(), "removing twice is a no-op");
        let mut order = Vec::new();
        let end = now + Duration::from_secs(10);
        while let Some(at) = t.next() {
            order.push((at - now).as_secs());
            assert!(t.pop_due(end).is_some());
        }
        assert_eq!(order, [1, 2, 3, 5]);
        assert!(t.pop_due(end).is_none());
        // Slots are reused and stale keys stay dead.
        let k = t.insert(now, waker.clone());
        assert!(t.remove(keys[0]).is_none());
        assert!(t.remove(k).is_some());
        assert!(t.heap.is_empty() && t.entries.entries.len() == 5);
    }

    #[test]
    fn a_timer_reset_completes_at_its_new_time_only() {
        let _g = Reactor::new().unwrap().install();
        let r = current().unwrap();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        // Later: the timer keeps its place (30 ms), which wakes the task
        // once; the timer itself completes at 150 ms, not before.
        let start = Instant::now();
        let mut t = Timer::at(start + Duration::from_millis(30));
        assert!(Pin::new(&mut t).poll(&mut cx).is_pending());
        t.reset(start + Duration::from_millis(150));
        block_on(&r, &mut t);
        assert!(start.elapsed() >= Duration::from_millis(150), "{:?}", start.elapsed());
        // Earlier: completes at the new time, long before the old one.
        let start = Instant::now();
        let mut t = Timer::at(start + Duration::from_secs(30));
        assert!(Pin::new(&mut t).poll(&mut cx).is_pending());
        t.reset(start + Duration::from_millis(20));
        block_on(&r, &mut t);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(20) && took < Duration::from_secs(10),
            "{took:?}"
        );
        assert!(r.timers.borrow().heap.is_empty(), "no timer left behind");
    }

    #[test]
    fn block_on_runs_timers_and_cross_thread_wakes() {
        let _g = Reactor::new().unwrap().install();
        let r = current().unwrap();
        let start = Instant::now();
        block_on(&r, Timer::at(start + Duration::from_millis(30)));
        assert!(start.elapsed() >= Duration::from_millis(30));
        // A wake from another thread ends the sleep. The backstop timer
        // keeps a lost wake-up from hanging the test; the time shows
        // which of the two ended it.
        let (tx, rx) = smol::channel::bounded::<u8>(1);
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            tx.send_blocking(7).unwrap();
        });
        let start = Instant::now();
        let backstop = Timer::at(start + Duration::from_secs(5));
        let got = block_on(
            &r,
            smol::future::or(async { rx.recv().await.ok() }, async {
                backstop.await;
                None
            }),
        );
        assert_eq!(got, Some(7));
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "woken by the backstop timer, not by the other thread"
        );
        h.join().unwrap();
    }

    #[test]
    fn the_loop_time_moves_only_when_the_loop_looks_at_io() {
        let g = Reactor::new().unwrap().install();
        let t0 = now().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(now().unwrap(), t0, "no look at I/O yet: the same time");
        assert_eq!(crate::rt::now(), t0, "rt::now on a worker is the loop's time");
        // Due by the clock, not yet by the loop's time: the next look
        // fires it.
        let start = Instant::now();
        block_on(g.reactor(), Timer::at(t0 + Duration::from_millis(10)));
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(
            now().unwrap() >= t0 + Duration::from_millis(20),
            "the look read the clock"
        );
    }

    /// A task's timer can be due by the clock when it is armed: its
    /// deadline comes from the loop's time, and the task ran long. The
    /// look at I/O that fires it must not then sleep before the task runs.
    #[test]
    fn a_timer_due_when_armed_wakes_its_task_without_a_sleep() {
        let g = Reactor::new().unwrap().install();
        let t0 = now().unwrap();
        let finished = Rc::new(std::cell::Cell::new(None));
        let f = finished.clone();
        assert!(spawn(async move {
            std::thread::sleep(Duration::from_millis(20));
            Timer::at(t0 + Duration::from_millis(10)).await;
            f.set(Some(Instant::now()));
        }));
        // The loop's own timer ends it after 1 s: it also wakes a loop that
        // slept through the task's wake-up.
        run(g.reactor(), Timer::at(t0 + Duration::from_secs(1)));
        let took = finished.get().map(|at| at - t0);
        assert!(
            took.is_some_and(|t| t < Duration::from_millis(500)),
            "the task finished after {took:?} (None: not in 1 s): the loop slept with it woken"
        );
    }

    /// A worker loop installed on this thread, and one connection to it
    /// accepted through a listener with `TCP_NODELAY`: (guard, loop,
    /// accepted side, client side).
    fn worker_with_a_connection() -> (Installed, Rc<Reactor>, Conn, TcpStream) {
        let reactor = Reactor::new().unwrap();
        let l = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        l.set_tcp_nodelay(true).unwrap();
        l.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
        l.listen(8).unwrap();
        l.set_nonblocking(true).unwrap();
        let l = Arc::new(TcpListener::from(l));
        let addr = l.local_addr().unwrap();
        let listener = Listener::on(&reactor, l).unwrap();
        let g = reactor.install();
        let r = current().unwrap();
        let client = TcpStream::connect(addr).unwrap();
        let (stream, peer) = block_on(&r, listener.accept()).unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        (g, r, Conn::adopt(stream).unwrap(), client)
    }

    #[test]
    fn a_burst_is_accepted_whole_and_then_the_listener_waits_for_an_edge() {
        let reactor = Reactor::new().unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let listener = Listener::on(&reactor, Arc::new(l)).unwrap();
        let _g = reactor.install();
        let r = current().unwrap();
        let readable = || {
            let mut s = r.sources.borrow_mut();
            s.get_mut(listener.source.key).unwrap().readable
        };
        // A lost edge fails the test instead of hanging it.
        let accept = || {
            let within = smol::future::or(async { Some(listener.accept().await) }, async {
                Timer::at(Instant::now() + Duration::from_secs(5)).await;
                None
            });
            block_on(&r, within).expect("accepted within 5 s").unwrap()
        };
        // Five connections wait before the worker first looks.
        let mut clients: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let until = Instant::now() + Duration::from_secs(5);
        while sys::accept_queue_len(listener.listener.as_raw_fd()).unwrap() < 5 {
            assert!(Instant::now() < until, "the connections never reached the accept queue");
            std::thread::sleep(Duration::from_millis(1));
        }
        for (i, client) in clients.iter().enumerate() {
            let (_, peer) = accept();
            assert_eq!(peer, client.local_addr().unwrap());
            // Ready again while the queue has more; after the last one the
            // listener waits for an edge instead of an accept4 that fails.
            assert_eq!(readable(), i < 4, "after accept {}", i + 1);
        }
        // The next connection raises the edge that wakes the accept.
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            TcpStream::connect(addr).unwrap()
        });
        let (_, peer) = accept();
        clients.push(late.join().unwrap());
        assert_eq!(peer, clients[5].local_addr().unwrap());
        assert!(!readable());
    }

    #[test]
    fn the_accept_queue_length_is_read_only_from_a_listener() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let fd = l.as_raw_fd();
        assert_eq!(sys::accept_queue_len(fd).unwrap(), 0);
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        while sys::accept_queue_len(fd).unwrap() != 1 {
            assert!(Instant::now() < until, "the connection never reached the accept queue");
            std::thread::sleep(Duration::from_millis(1));
        }
        let (s, _) = l.accept().unwrap();
        assert_eq!(sys::accept_queue_len(fd).unwrap(), 0);
        // A connected socket is not a listener: no queue to report.
        assert!(sys::accept_queue_len(s.as_raw_fd()).is_err());
        assert!(sys::accept_queue_len(c.as_raw_fd()).is_err());
    }

    #[test]
    fn yield_io_lets_waiting_io_in_before_the_yielder_runs_again() {
        use smol::io::AsyncReadExt as _;
        let (_g, r, mut conn, mut client) = worker_with_a_connection();
        // The bytes are there before the loop has looked: only a turn of
        // the loop (an epoll_wait) tells the reader.
        client.write_all(b"x").unwrap();
        let seen = std::cell::Cell::new(false);
        let yielder = async {
            let mut turns = 0;
            while !seen.get() {
                turns += 1;
                assert!(turns < 1000, "the reader was never woken");
                yield_io().await;
            }
            turns
        };
        let reader = async {
            let mut buf = [0u8; 8];
            assert_eq!(conn.read(&mut buf).await.unwrap(), 1);
            seen.set(true);
        };
        let (turns, ()) = block_on(&r, smol::future::zip(yielder, reader));
        // Giving way once let the reader in. (A plain yield_now would
        // run the yielder POLLS_PER_TURN times before the loop looked.)
        assert_eq!(turns, 2);
    }

    #[test]
    fn edges_wake_readers_and_writers_after_short_reads_and_full_buffers() {
        use smol::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (_g, r, mut conn, mut client) = worker_with_a_connection();
        assert!(conn.stream.nodelay().unwrap(), "TCP_NODELAY comes from the listener");

        // A short read marks the socket drained; the next bytes raise an
        // edge that wakes the reader (no busy loop, no lost wake-up).
        client.write_all(b"abc").unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(block_on(&r, conn.read(&mut buf)).unwrap(), 3);
        let mut c2 = client.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            c2.write_all(b"defg").unwrap();
        });
        assert_eq!(block_on(&r, conn.read(&mut buf)).unwrap(), 4);
        assert_eq!(&buf[..4], b"defg");
        writer.join().unwrap();

        // Fill the send buffer until a write would block, then let the
        // peer drain it: the writer is woken by EPOLLOUT.
        let chunk = vec![7u8; 64 * 1024];
        let mut sent = 0usize;
        let full = loop {
            let w = Waker::noop();
            let mut cx = Context::from_waker(w);
            match Pin::new(&mut conn).poll_write(&mut cx, &chunk) {
                Poll::Ready(Ok(n)) => sent += n,
                Poll::Ready(Err(e)) => panic!("{e}"),
                Poll::Pending => break sent,
            }
            assert!(sent < 64 << 20, "send buffer never filled");
        };
        let drain = std::thread::spawn(move || {
            let mut got = 0usize;
            let mut b = vec![0u8; 64 * 1024];
            while got < full + 64 * 1024 {
                got += client.read(&mut b).unwrap();
            }
            (got, client)
        });
        block_on(&r, conn.write_all(&chunk)).unwrap();
        let (got, client) = drain.join().unwrap();
        assert_eq!(got, full + chunk.len());

        // EOF after data: the data, then 0, then 0 again at once (a read
        // past EOF never waits for an edge that will not come).
        let mut client = client;
        client.write_all(b"xy").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(block_on(&r, conn.read(&mut buf)).unwrap(), 2);
        assert_eq!(block_on(&r, conn.read(&mut buf)).unwrap(), 0);
        assert_eq!(block_on(&r, conn.read(&mut buf)).unwrap(), 0);
    }

    /// Runs this thread's worker until `done` has a message (or 5 s have
    /// passed: a lost wake-up fails the test instead of hanging it).
    fn run_until(r: &Reactor, done: &smol::channel::Receiver<()>) {
        let backstop = Timer::at(Instant::now() + Duration::from_secs(5));
        let got = run(
            r,
            smol::future::or(async { done.recv().await.ok() }, async {
                backstop.await;
                None
            }),
        );
        assert!(got.is_some(), "the tasks did not finish within 5 s");
    }

    #[test]
    fn tasks_run_on_their_worker_when_woken_there_or_from_another_thread() {
        let g = Reactor::new().unwrap().install();
        let me = std::thread::current().id();
        let (to_b, b_rx) = smol::channel::unbounded::<u8>();
        let (from_far, far_rx) = smol::channel::bounded::<u8>(1);
        let (done_tx, done) = smol::channel::unbounded::<()>();
        let seen = Rc::new(RefCell::new(Vec::new()));
        // A waits for another thread, then wakes B (a wake-up on the
        // worker); B reports.
        let s = seen.clone();
        assert!(spawn(async move {
            let n = far_rx.recv().await.unwrap();
            s.borrow_mut().push(("a", n, std::thread::current().id()));
            to_b.send(n + 1).await.unwrap();
        }));
        let s = seen.clone();
        assert!(spawn(async move {
            let n = b_rx.recv().await.unwrap();
            s.borrow_mut().push(("b", n, std::thread::current().id()));
            done_tx.send(()).await.unwrap();
        }));
        let far = std::thread::spawn(move || {
            // Late enough that the worker sleeps in epoll_wait first.
            std::thread::sleep(Duration::from_millis(30));
            from_far.send_blocking(1).unwrap();
        });
        run_until(g.reactor(), &done);
        far.join().unwrap();
        assert_eq!(*seen.borrow(), [("a", 1, me), ("b", 2, me)]);
        assert!(g.reactor().tasks.live() == 0, "finished tasks leave");
    }

    #[test]
    fn ending_the_worker_drops_every_task_there_while_its_reactor_is_installed() {
        /// Records, when dropped, whether this thread was still a worker.
        struct Probe(Rc<RefCell<Vec<bool>>>);
        impl Drop for Probe {
            fn drop(&mut self) {
                self.0.borrow_mut().push(on_worker());
            }
        }
        let (g, r, mut conn, _client) = worker_with_a_connection();
        let dropped = Rc::new(RefCell::new(Vec::new()));
        let (_keep, never) = smol::channel::bounded::<()>(1);
        let far_off = Instant::now() + Duration::from_secs(3600);
        let p = Probe(dropped.clone());
        // Waiting for a socket, a timer, another thread, and nothing.
        assert!(spawn(async move {
            let _p = p;
            let mut buf = [0u8; 8];
            let _ = smol::io::AsyncReadExt::read(&mut conn, &mut buf).await;
        }));
        let p = Probe(dropped.clone());
        assert!(spawn(async move {
            let _p = p;
            Timer::at(far_off).await;
        }));
        let p = Probe(dropped.clone());
        assert!(spawn(async move {
            let _p = p;
            let _ = never.recv().await;
        }));
        let p = Probe(dropped.clone());
        assert!(spawn(async move {
            let _p = p;
            std::future::pending::<()>().await;
        }));
        // Run them until each waits.
        let (done_tx, done) = smol::channel::unbounded::<()>();
        assert!(spawn(async move { done_tx.send(()).await.unwrap() }));
        run_until(&r, &done);
        assert!(dropped.borrow().is_empty());
        // And one never polled.
        let p = Probe(dropped.clone());
        assert!(spawn(async move {
            let _p = p;
        }));
        drop(r);
        drop(g);
        assert_eq!(*dropped.borrow(), [true; 5], "each dropped, on the worker");
        assert!(!spawn(async {}), "no worker here any more");
    }

    #[test]
    fn a_panicking_task_ends_alone() {
        let g = Reactor::new().unwrap().install();
        let (done_tx, done) = smol::channel::unbounded::<()>();
        assert!(spawn(async {
            smol::future::yield_now().await;
            panic!("a bug in one connection's task");
        }));
        assert!(spawn(async move {
            for _ in 0..3 {
                smol::future::yield_now().await;
            }
            done_tx.send(()).await.unwrap();
        }));
        run_until(g.reactor(), &done);
        assert!(g.reactor().tasks.live() == 0, "the panicked task left too");
    }

    #[test]
    fn a_task_that_keeps_yielding_lets_io_in_after_one_pass() {
        use smol::io::AsyncReadExt as _;
        let (g, r, mut conn, mut client) = worker_with_a_connection();
        // The bytes are there before the loop has looked: only a turn of
        // the loop (an epoll_wait) tells the reader.
        client.write_all(b"x").unwrap();
        let (done_tx, done) = smol::channel::unbounded::<()>();
        let seen = Rc::new(std::cell::Cell::new(false));
        let runs = Rc::new(std::cell::Cell::new(0usize));
        let (s, n) = (seen.clone(), runs.clone());
        assert!(spawn(async move {
            while !s.get() && n.get() < 100_000 {
                n.set(n.get() + 1);
                smol::future::yield_now().await;
            }
        }));
        let s = seen.clone();
        assert!(spawn(async move {
            let mut buf = [0u8; 8];
            assert_eq!(conn.read(&mut buf).await.unwrap(), 1);
            s.set(true);
            done_tx.send(()).await.unwrap();
        }));
        run_until(&r, &done);
        // At most one pass of tasks (TASKS_PER_TURN, 256) before the look
        // at I/O: with no bound the yielder ran 100,000 times first.
        assert!(runs.get() <= 256, "the yielder ran {} times first", runs.get());
        drop(r);
        drop(g);
    }
}
