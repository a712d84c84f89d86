//! Server lifecycle.
//!
//! `start` binds every listener in the calling thread (so a busy port fails
//! at once), then starts `workers` threads. On Linux each worker runs its
//! own edge-triggered epoll loop and run queue ([`crate::rt::edge`]) and
//! accepts on every listener itself; each new connection goes to the worker
//! with the fewest open ones (see `Placer`) and stays there. Elsewhere (and
//! on the poll(2) back end ESP-IDF uses) the workers share one smol
//! `Executor`, on which one accept loop per listener runs. Either way
//! handlers run inline on the worker that polls their connection.
//!
//! `stop(grace)` stops accepting at once, closes idle connections, lets busy
//! ones finish their current response (up to `grace`), then ends the
//! workers, which drops whatever is left. The waiting happens on a helper
//! thread, so a handler can call `stop` without waiting for itself.

pub(crate) mod conns;
pub(crate) mod shared;

use std::cell::Cell;
use std::future::Future as _;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::task::Poll;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use event_listener::Listener as _;
use smol::future::or;
use smol::io::AsyncWriteExt as _;
use smol::{Async, Executor};
use socket2::{Domain, Protocol, Socket, Type};

use crate::config::Config;
use crate::deferred::RegistryRef;
use crate::error::{Error, Result};
use crate::http::conn::serve;
use crate::http::io::Stream;
use crate::router::{Handler, Router};
use crate::rt;
use conns::{Admitted, Refusal};
use shared::{ConnGuard, LogFn, LogLevel, Shared};

thread_local! {
    /// The server whose worker this thread is (its `Control` address), 0 if none.
    static WORKER_OF: Cell<usize> = const { Cell::new(0) };
}

struct Runtime {
    shared: Arc<Shared>,
    /// The smol back end's shared executor (the epoll one has one per
    /// worker, dropped by it).
    executor: Option<Arc<Executor<'static>>>,
    workers: Vec<JoinHandle<()>>,
    /// Dropping it ends the workers' run loops.
    shutdown: smol::channel::Sender<()>,
}

enum State {
    /// Configurable: not started yet, or stopped.
    Idle,
    Running(Runtime),
    Stopping,
}

struct Inner {
    cfg: Config,
    /// Template folder and whether changed files are reloaded.
    templates_dir: Option<String>,
    templates_reload: bool,
    addrs: Vec<SocketAddr>,
    router: Router,
    log: Option<LogFn>,
    state: State,
    ports: Vec<u16>,
    stopper: Option<JoinHandle<()>>,
}

struct Control {
    inner: Mutex<Inner>,
    changed: Condvar,
    /// Deferred responses not finished yet, freed with the server.
    registry: RegistryRef,
}

/// An HTTP server: configure, `start` (or `run`), `stop`.
pub struct Server {
    ctl: Arc<Control>,
}

impl Default for Server {
    fn default() -> Self {
        Server::new()
    }
}

fn lock(ctl: &Control) -> MutexGuard<'_, Inner> {
    // A panic while holding the lock is caught at the boundary; the state
    // it protects stays consistent (every update is a single assignment).
    ctl.inner.lock().unwrap_or_else(|e| e.into_inner())
}

impl Server {
    pub fn new() -> Self {
        Server {
            ctl: Arc::new(Control {
                inner: Mutex::new(Inner {
                    cfg: Config::default(),
                    templates_dir: None,
                    templates_reload: true,
                    addrs: Vec::new(),
                    router: Router::new(),
                    log: None,
                    state: State::Idle,
                    ports: Vec::new(),
                    stopper: None,
                }),
                changed: Condvar::new(),
                registry: RegistryRef::default(),
            }),
        }
    }

    fn id(&self) -> usize {
        Arc::as_ptr(&self.ctl) as usize
    }

    /// True on a worker thread of this server (inside a handler).
    fn on_own_worker(&self) -> bool {
        WORKER_OF.with(Cell::get) == self.id()
    }

    /// Runs `f` on the configuration, which only changes while stopped.
    fn configure<T>(&self, f: impl FnOnce(&mut Inner) -> Result<T>) -> Result<T> {
        let mut g = lock(&self.ctl);
        if !matches!(g.state, State::Idle) {
            return Err(Error::state("the server is running: configure it before server_start"));
        }
        f(&mut g)
    }

    /// Adds a listening address: `"127.0.0.1:8080"`, `"[::]:0"`,
    /// `"localhost:8080"`.
    pub fn listen(&self, addr: &str) -> Result<()> {
        let parsed = match addr.parse::<SocketAddr>() {
            Ok(a) => a,
            // "::1:80" is ambiguous: IPv6 addresses go in brackets.
            Err(_) if addr.matches(':').count() > 1 => {
                return Err(Error::invalid(format!(
                    "not an address: {addr:?} (write IPv6 as \"[::1]:port\")"
                )));
            }
            Err(_) => addr
                .to_socket_addrs()
                .ok()
                .and_then(|mut it| it.next())
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "not an address: {addr:?} (want \"ip:port\" or \"[ipv6]:port\")"
                    ))
                })?,
        };
        self.configure(|i| {
            i.addrs.push(parsed);
            Ok(())
        })
    }

    pub fn route(&self, method: Option<&str>, pattern: &str, handler: Handler, name: Option<&str>) -> Result<()> {
        self.configure(|i| i.router.add(method, pattern, handler, name))
    }

    /// Serves the folder `dir` under `prefix` (GET and HEAD), see
    /// [`crate::files::StaticMount`]. Routes registered for paths under
    /// the prefix keep priority (a literal beats the mount's rest capture).
    pub fn static_dir(
        &self,
        prefix: &str,
        dir: &str,
        flags: u32,
        cache_control: Option<&str>,
        spa_fallback: Option<&str>,
    ) -> Result<()> {
        let prefix = crate::files::normalize_prefix(prefix)?;
        let mount = Arc::new(crate::files::StaticMount::new(
            &prefix,
            dir,
            flags,
            cache_control,
            spa_fallback,
        )?);
        let handler: Handler = Arc::new(move |ex: &mut crate::Exchange<'_>| crate::files::serve_static(&mount, ex));
        self.configure(|i| {
            let rest = if prefix == "/" {
                "/{path...}".to_owned()
            } else {
                format!("{prefix}/{{path...}}")
            };
            // Check both patterns before adding either.
            let mut probe = i.router.clone();
            probe.add(Some("GET"), &rest, handler.clone(), None)?;
            if prefix != "/" {
                probe.add(Some("GET"), &prefix, handler.clone(), None)?;
            }
            i.router = probe;
            Ok(())
        })
    }

    /// The folder `resp_load_template` loads from (checked now).
    pub fn set_templates_dir(&self, dir: &str) -> Result<()> {
        templates_for(dir, true)?;
        self.configure(|i| {
            i.templates_dir = Some(dir.to_owned());
            Ok(())
        })
    }

    /// Whether templates are reloaded when their files change (default on;
    /// turn it off in production to skip the checks).
    pub fn set_templates_reload(&self, reload: bool) -> Result<()> {
        self.configure(|i| {
            i.templates_reload = reload;
            Ok(())
        })
    }

    pub fn set_fallback(&self, handler: Option<Handler>) -> Result<()> {
        self.configure(|i| {
            i.router.set_fallback(handler);
            Ok(())
        })
    }

    pub fn set_log(&self, log: Option<LogFn>) -> Result<()> {
        self.configure(|i| {
            i.log = log;
            Ok(())
        })
    }

    /// Changes settings; `f` validates them.
    pub fn update_config(&self, f: impl FnOnce(&mut Config) -> Result<()>) -> Result<()> {
        self.configure(|i| f(&mut i.cfg))
    }

    /// The pattern of a named route.
    pub fn route_pattern(&self, name: &str) -> Option<String> {
        lock(&self.ctl).router.named(name).map(str::to_owned)
    }

    /// Binds every listener and starts serving in worker threads.
    pub fn start(&self) -> Result<()> {
        let mut g = lock(&self.ctl);
        if !matches!(g.state, State::Idle) {
            return Err(Error::state("the server is already running"));
        }
        if g.addrs.is_empty() {
            return Err(Error::state("no address to listen on: call server_listen first"));
        }
        let mut listeners = Vec::with_capacity(g.addrs.len());
        for addr in &g.addrs {
            let l = bind(*addr).map_err(|e| Error::Addr(format!("{addr}: {e}")))?;
            listeners.push(l);
        }
        let ports = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()).unwrap_or(0))
            .collect();

        let templates = match &g.templates_dir {
            Some(dir) => Some(templates_for(dir, g.templates_reload)?),
            None => None,
        };
        let workers_n = g.cfg.worker_count();
        let shared = Arc::new(Shared::new(
            g.cfg.clone(),
            Arc::new(g.router.clone()),
            g.log.clone(),
            self.ctl.registry.clone(),
            templates,
            // Only the epoll back end keeps connections on one worker, and
            // with one worker there is no choice to make.
            if cfg!(mr_epoll) && workers_n > 1 { workers_n } else { 0 },
        ));
        let (shutdown, until_shutdown) = smol::channel::bounded::<()>(1);
        let mut workers = Vec::new();
        let mut start = Workers::new(listeners, &shared)?;
        for i in 0..workers_n {
            let id = self.id();
            let spawned = start.worker(i).and_then(|run| {
                let until = until_shutdown.clone();
                g.cfg.thread(format!("microroute-{i}")).spawn(move || {
                    WORKER_OF.with(|w| w.set(id));
                    crate::sys::block_sigpipe();
                    run(until);
                    WORKER_OF.with(|w| w.set(0));
                })
            });
            match spawned {
                Ok(h) => workers.push(h),
                Err(e) => {
                    shared.stopping.store(true, Ordering::SeqCst);
                    shared.stop.notify(usize::MAX);
                    shared.table.wake_all();
                    drop(shutdown);
                    for w in workers {
                        let _ = w.join();
                    }
                    return Err(Error::Io(e));
                }
            }
        }
        g.ports = ports;
        g.state = State::Running(Runtime {
            shared,
            executor: start.executor(),
            workers,
            shutdown,
        });
        Ok(())
    }

    /// The port listener `index` is bound to (useful with port 0).
    pub fn port(&self, index: usize) -> Result<u16> {
        let g = lock(&self.ctl);
        if matches!(g.state, State::Idle) && g.ports.is_empty() {
            return Err(Error::state("the server was not started"));
        }
        g.ports
            .get(index)
            .copied()
            .ok_or_else(|| Error::invalid("no listener with that index"))
    }

    /// Starts if needed and blocks until the server is stopped.
    pub fn run(&self) -> Result<()> {
        if self.on_own_worker() {
            return Err(Error::state("server_run called from a handler of the same server"));
        }
        let idle = matches!(lock(&self.ctl).state, State::Idle);
        if idle {
            self.start()?;
        }
        self.wait_stopped();
        Ok(())
    }

    /// Stops gracefully. From a handler of this server it only begins the
    /// stop and returns; elsewhere it returns once the server has stopped.
    pub fn stop(&self, grace: Duration) -> Result<()> {
        let mut g = lock(&self.ctl);
        match std::mem::replace(&mut g.state, State::Stopping) {
            State::Running(rt) => {
                rt.shared.stopping.store(true, Ordering::SeqCst);
                rt.shared.stop.notify(usize::MAX);
                rt.shared.table.wake_all();
                let ctl = self.ctl.clone();
                let stopper = g
                    .cfg
                    .thread("microroute-stop".into())
                    .spawn(move || finish_stop(rt, grace, ctl));
                match stopper {
                    Ok(h) => g.stopper = Some(h),
                    Err(e) => {
                        // No thread to wait on: leave the server stopping
                        // (not accepting) rather than block a handler here.
                        return Err(Error::Io(e));
                    }
                }
            }
            State::Stopping => {}
            State::Idle => {
                g.state = State::Idle;
                return Ok(());
            }
        }
        drop(g);
        if !self.on_own_worker() {
            self.wait_stopped();
        }
        Ok(())
    }

    fn wait_stopped(&self) {
        let mut g = lock(&self.ctl);
        while !matches!(g.state, State::Idle) {
            g = self.ctl.changed.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        let stopper = g.stopper.take();
        drop(g);
        if let Some(h) = stopper {
            let _ = h.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // From a handler this only begins the stop; the stop thread owns
        // what it needs, so nothing here is freed under it.
        let _ = self.stop(Duration::ZERO);
        if !self.on_own_worker() {
            // Deferred handles the application never finished.
            self.ctl.registry.reclaim();
        }
    }
}

/// Runs on the stop thread: waits for busy connections (up to `grace`),
/// then ends the workers and drops the executor with what is left on it.
fn finish_stop(rt: Runtime, grace: Duration, ctl: Arc<Control>) {
    let deadline = Instant::now() + grace;
    loop {
        let l = rt.shared.conn_closed.listen();
        if rt.shared.conns.load(Ordering::SeqCst) == 0 {
            break;
        }
        if l.wait_deadline(deadline).is_none() {
            break;
        }
    }
    drop(rt.shutdown);
    for w in rt.workers {
        let _ = w.join();
    }
    drop(rt.executor);
    let mut g = lock(&ctl);
    g.state = State::Idle;
    drop(g);
    ctl.changed.notify_all();
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        // "[::]:80" and "0.0.0.0:80" can then both be listened on.
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    // Accepted sockets inherit it on Linux, which saves the epoll back end
    // a setsockopt per connection; the smol back end sets it again.
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// A listening socket of either back end.
trait Accept {
    /// An accepted connection, before it is placed on a worker.
    type Conn: Send + 'static;
    /// The next connection, with `TCP_NODELAY` set.
    async fn accept(&self) -> std::io::Result<(Self::Conn, SocketAddr)>;
}

impl Accept for Async<TcpListener> {
    type Conn = Async<TcpStream>;
    async fn accept(&self) -> std::io::Result<(Self::Conn, SocketAddr)> {
        let (stream, peer) = Async::<TcpListener>::accept(self).await?;
        stream.get_ref().set_nodelay(true)?;
        Ok((stream, peer))
    }
}

#[cfg(mr_epoll)]
impl Accept for rt::edge::Listener {
    type Conn = TcpStream;
    async fn accept(&self) -> std::io::Result<(Self::Conn, SocketAddr)> {
        rt::edge::Listener::accept(self).await
    }
}

/// Where the accept loop puts a connection's task.
trait Place<C> {
    /// Serves `conn`. False once the worker or the executor is ending
    /// (stopping).
    fn serve(&self, conn: C, peer: SocketAddr, guard: ConnGuard, admitted: Admitted) -> bool;
    /// Answers `conn` with 503 and closes it. False once stopping.
    fn refuse(&self, conn: C, guard: ConnGuard) -> bool;
}

/// smol: every worker runs the one shared executor.
impl Place<Async<TcpStream>> for Weak<Executor<'static>> {
    fn serve(&self, conn: Async<TcpStream>, peer: SocketAddr, guard: ConnGuard, admitted: Admitted) -> bool {
        // The connection future is made here and moved into the task's
        // allocation, which is what an idle connection costs.
        self.upgrade()
            .map(|ex| ex.spawn(serve(conn, peer, guard, Some(admitted))).detach())
            .is_some()
    }

    fn refuse(&self, conn: Async<TcpStream>, guard: ConnGuard) -> bool {
        self.upgrade()
            .map(|ex| ex.spawn(refuse_busy(conn, guard)).detach())
            .is_some()
    }
}

/// A connection on its way from the worker that accepted it to the one
/// that will serve it (epoll back end).
#[cfg(mr_epoll)]
struct Handoff {
    stream: TcpStream,
    peer: SocketAddr,
    guard: ConnGuard,
    admitted: Admitted,
}

/// The epoll back end's placement. A connection stays on the worker that
/// registers it, and handlers run inline, so where it goes matters: each
/// new connection goes to the worker with the fewest open ones (this one
/// on a tie, without a hand-off). Left to whichever worker the kernel
/// woke first, a burst of connections could all land on one worker,
/// whose slow handlers then ran one after another while the others sat
/// idle.
#[cfg(mr_epoll)]
#[derive(Clone)]
struct Placer {
    me: usize,
    inboxes: Arc<[smol::channel::Sender<Handoff>]>,
    shared: Arc<Shared>,
}

#[cfg(mr_epoll)]
impl Placer {
    /// Counts `guard`'s connection on the worker with the fewest open
    /// connections, preferring this one, and says which. Workers accept
    /// at the same time: the count is claimed only if it is still the one
    /// seen, else the choice is made again (a few times, then here).
    fn claim(&self, guard: &mut ConnGuard) -> usize {
        let load = &self.shared.load;
        if load.is_empty() {
            return self.me; // one worker
        }
        for _ in 0..4 {
            let mut best = self.me;
            let mut least = load[self.me].load(Ordering::Relaxed);
            for (i, l) in load.iter().enumerate() {
                let n = l.load(Ordering::Relaxed);
                if n < least {
                    (best, least) = (i, n);
                }
            }
            if load[best]
                .compare_exchange(least, least + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                guard.counted_on(best);
                return best;
            }
        }
        guard.place(self.me);
        self.me
    }

    /// Registers the connection with this worker and starts its task.
    /// False once the worker is ending.
    fn serve_here(&self, h: Handoff) -> bool {
        match rt::edge::Conn::adopt(h.stream) {
            // The connection future is made here and moved into the task's
            // allocation, which is what an idle connection costs.
            Ok(conn) => rt::edge::spawn(serve(conn, h.peer, h.guard, Some(h.admitted))),
            Err(e) => {
                self.shared.log(
                    LogLevel::Error,
                    format_args!("{} dropped: cannot watch its socket: {e}", h.peer),
                );
                true
            }
        }
    }
}

#[cfg(mr_epoll)]
impl Place<TcpStream> for Placer {
    fn serve(&self, stream: TcpStream, peer: SocketAddr, mut guard: ConnGuard, admitted: Admitted) -> bool {
        let to = self.claim(&mut guard);
        let mut h = Handoff {
            stream,
            peer,
            guard,
            admitted,
        };
        if to != self.me {
            match self.inboxes[to].try_send(h) {
                Ok(()) => return true,
                // That worker has ended (stopping): serve it here.
                Err(e) => h = e.into_inner(),
            }
            h.guard.place(self.me);
        }
        self.serve_here(h)
    }

    fn refuse(&self, stream: TcpStream, guard: ConnGuard) -> bool {
        match rt::edge::Conn::adopt(stream) {
            Ok(conn) => rt::edge::spawn(refuse_busy(conn, guard)),
            Err(_) => true,
        }
    }
}

/// Serves the connections other workers hand to this one.
#[cfg(mr_epoll)]
async fn take_handoffs(inbox: smol::channel::Receiver<Handoff>, place: Placer) {
    while let Ok(h) = inbox.recv().await {
        if !place.serve_here(h) {
            return;
        }
    }
}

/// How the workers are started: with the epoll loop, each worker owns a
/// reactor and its run queue, accepts on every listener itself and places
/// each connection on the least loaded worker; with smol, they share one
/// executor, on which one accept loop per listener runs.
enum Workers {
    #[cfg(mr_epoll)]
    Edge {
        listeners: Vec<Arc<TcpListener>>,
        shared: Arc<Shared>,
        inboxes: Arc<[smol::channel::Sender<Handoff>]>,
        /// Worker `i` takes the `i`th (none with one worker).
        receivers: Vec<Option<smol::channel::Receiver<Handoff>>>,
    },
    #[cfg(not(mr_epoll))]
    Smol(Arc<Executor<'static>>),
}

type WorkerFn = Box<dyn FnOnce(smol::channel::Receiver<()>) + Send>;

impl Workers {
    fn new(listeners: Vec<TcpListener>, shared: &Arc<Shared>) -> Result<Workers> {
        #[cfg(mr_epoll)]
        {
            let (inboxes, receivers): (Vec<_>, Vec<_>) = shared
                .load
                .iter()
                .map(|_| {
                    let (tx, rx) = smol::channel::unbounded();
                    (tx, Some(rx))
                })
                .unzip();
            Ok(Workers::Edge {
                listeners: listeners.into_iter().map(Arc::new).collect(),
                shared: shared.clone(),
                inboxes: inboxes.into(),
                receivers,
            })
        }
        #[cfg(not(mr_epoll))]
        {
            let executor = Arc::new(Executor::new());
            for l in listeners {
                let l = Async::new(l).map_err(Error::Io)?;
                executor
                    .spawn(accept_loop(l, shared.clone(), Arc::downgrade(&executor)))
                    .detach();
            }
            Ok(Workers::Smol(executor))
        }
    }

    /// What worker `i` runs until `until` closes. Resources it needs
    /// (epoll, eventfd) are made here, so failing is reported by `start`.
    fn worker(&mut self, i: usize) -> std::io::Result<WorkerFn> {
        match self {
            #[cfg(mr_epoll)]
            Workers::Edge {
                listeners,
                shared,
                inboxes,
                receivers,
            } => {
                let reactor = rt::edge::Reactor::new()?;
                let mine = listeners
                    .iter()
                    .map(|l| rt::edge::Listener::on(&reactor, l.clone()))
                    .collect::<std::io::Result<Vec<_>>>()?;
                // None with one worker.
                let inbox = receivers.get_mut(i).and_then(Option::take);
                let (shared, inboxes) = (shared.clone(), inboxes.clone());
                Ok(Box::new(move |until| {
                    let installed = reactor.install();
                    let place = Placer {
                        me: i,
                        inboxes,
                        shared: shared.clone(),
                    };
                    for l in mine {
                        rt::edge::spawn(accept_loop(l, shared.clone(), place.clone()));
                    }
                    if let Some(inbox) = inbox {
                        rt::edge::spawn(take_handoffs(inbox, place));
                    }
                    rt::edge::run(installed.reactor(), async {
                        until.recv().await.ok();
                    });
                    // Ends the tasks (connections, timers) while the
                    // reactor is there, then uninstalls it.
                    drop(installed);
                }))
            }
            #[cfg(not(mr_epoll))]
            Workers::Smol(ex) => {
                let _ = i;
                let ex = ex.clone();
                Ok(Box::new(move |until| {
                    smol::block_on(ex.run(async {
                        // The channel closing wakes this thread. On polling's
                        // poll(2) backend (ESP-IDF's) that wake-up was seen to
                        // get lost now and then, leaving the worker in an
                        // unbounded poll() and server_stop waiting for it
                        // forever; a once-a-second look at the channel bounds
                        // the damage to a second.
                        let closed = async {
                            while !until.is_closed() {
                                rt::sleep(Duration::from_secs(1)).await;
                            }
                        };
                        or(
                            async {
                                until.recv().await.ok();
                            },
                            closed,
                        )
                        .await;
                    }));
                }))
            }
        }
    }

    /// The shared executor, dropped (with what is left on it) at stop.
    fn executor(&self) -> Option<Arc<Executor<'static>>> {
        match self {
            #[cfg(not(mr_epoll))]
            Workers::Smol(ex) => Some(ex.clone()),
            #[cfg(mr_epoll)]
            Workers::Edge { .. } => None,
        }
    }
}

async fn accept_loop<L: Accept>(listener: L, shared: Arc<Shared>, place: impl Place<L::Conn>) {
    let mut last_logged: Option<Instant> = None;
    let mut accepted_in_row = 0u32;
    // One listener for the loop's life (not one per accept: registering
    // one took ~350 instructions per connection). Made before the first
    // look at the flag, so a stop between the two is not missed.
    let mut stop = shared.stop.listen();
    // The waker `stop` holds: polling it again takes event-listener's lock
    // (~95 instructions, once per connection), so it is polled only when
    // the task's waker changed. Its wake-up is then seen through the flag,
    // which `stop` sets before it notifies.
    let mut stop_waker: Option<std::task::Waker> = None;
    loop {
        if shared.is_stopping() {
            return;
        }
        // A flood of connections must not starve the ones already open.
        accepted_in_row += 1;
        if accepted_in_row % 64 == 0 {
            smol::future::yield_now().await;
        }
        let mut accept = std::pin::pin!(listener.accept());
        let accepted = std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = accept.as_mut().poll(cx) {
                return Poll::Ready(Some(r));
            }
            if !stop_waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                if Pin::new(&mut stop).poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                stop_waker = Some(cx.waker().clone());
            }
            if shared.is_stopping() {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await;
        let Some(accepted) = accepted else { return };
        match accepted {
            Ok((stream, peer)) => {
                shared.conns.fetch_add(1, Ordering::AcqRel);
                let guard = ConnGuard::new(shared.clone());
                let admitted = match shared.table.admit(peer.ip()) {
                    Ok(a) => a,
                    Err(why) => {
                        let why = match why {
                            Refusal::Full => "all connections busy",
                            Refusal::PerIp => "too many connections from this address",
                        };
                        shared.log(LogLevel::Warn, format_args!("{peer} refused: {why}"));
                        if !place.refuse(stream, guard) {
                            return;
                        }
                        continue;
                    }
                };
                if !place.serve(stream, peer, guard, admitted) {
                    return;
                }
            }
            Err(e) => {
                // Out of descriptors or memory: make room by closing the
                // longest-idle connection if purging is on, else back off
                // instead of spinning on a listener that stays readable.
                // One log line per 10 s at most.
                if last_logged.is_none_or(|t: Instant| t.elapsed() >= Duration::from_secs(10)) {
                    shared.log(LogLevel::Error, format_args!("accept failed: {e}"));
                    last_logged = Some(Instant::now());
                }
                let pause = if shared.table.purge_one() { 5 } else { 100 };
                rt::sleep(Duration::from_millis(pause)).await;
            }
        }
    }
}

/// Answers a connection over the limit with 503 and closes it.
async fn refuse_busy<S: Stream>(mut stream: S, guard: ConnGuard) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Length: 24\r\nConnection: close\r\n\r\n\
503 Service Unavailable\n";
    let _ = or(stream.write_all(BUSY), async {
        rt::sleep(Duration::from_secs(1)).await;
        Ok(())
    })
    .await;
    let _ = stream.close().await;
    drop(guard);
}

#[cfg(feature = "templates")]
fn templates_for(dir: &str, reload: bool) -> Result<Arc<dyn shared::Render>> {
    Ok(Arc::new(crate::templates::Templates::new(dir, reload)?))
}

#[cfg(not(feature = "templates"))]
fn templates_for(_dir: &str, _reload: bool) -> Result<Arc<dyn shared::Render>> {
    Err(Error::Unsupported(
        "templates (build with the cargo feature \"templates\")",
    ))
}
