//! State shared by the accept loops and connection tasks of a running server.

use std::cell::RefCell;
use std::ffi::CStr;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use event_listener::Event;

use crate::config::Config;
use crate::deferred::RegistryRef;
use crate::router::Router;
use crate::server::conns::ConnTable;

/// Log levels (values are part of the C ABI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum LogLevel {
    /// The server could not do something it should (accept failed, ...).
    Error = 1,
    /// A client did something wrong (bad request, timeout).
    Warn = 2,
    /// One line per request.
    Info = 3,
}

/// Receives log lines; called from worker threads.
pub type LogFn = Arc<dyn Fn(LogLevel, &CStr) + Send + Sync>;

pub(crate) struct Shared {
    pub cfg: Config,
    pub router: Arc<Router>,
    pub log: Option<LogFn>,
    /// Set once `server_stop` begins: accept loops end, idle connections
    /// close, busy ones close after their current response.
    pub stopping: AtomicBool,
    pub stop: Event,
    /// Open sockets (served and being refused).
    pub conns: AtomicUsize,
    /// The served connections: caps, LRU purge, waking idle ones at stop.
    pub table: Arc<ConnTable>,
    /// Notified when `conns` goes down once `stopping` is set.
    pub conn_closed: Event,
    /// Deferred handles not finished yet (outlives this run).
    pub registry: RegistryRef,
    /// The template folder, when one is set.
    pub templates: Option<Arc<dyn Render>>,
    /// Connections open on each worker, where connections stay on the
    /// worker that serves them (the epoll back end with more than one
    /// worker; empty otherwise): a new one goes to the worker with the
    /// fewest.
    pub load: Box<[AtomicUsize]>,
}

/// Renders a named template with a JSON object context.
pub trait Render: Send + Sync {
    fn render(&self, name: &str, context: Option<&str>) -> crate::error::Result<String>;
}

thread_local! {
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl Shared {
    pub(crate) fn new(
        cfg: Config,
        router: Arc<Router>,
        log: Option<LogFn>,
        registry: RegistryRef,
        templates: Option<Arc<dyn Render>>,
        workers: usize,
    ) -> Self {
        let table = Arc::new(ConnTable::new(
            cfg.max_connections,
            cfg.max_connections_per_ip,
            cfg.lru_purge,
        ));
        Shared {
            cfg,
            router,
            log,
            stopping: AtomicBool::new(false),
            stop: Event::new(),
            conns: AtomicUsize::new(0),
            table,
            conn_closed: Event::new(),
            registry,
            templates,
            load: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    /// Default settings, no routes, no log, no workers: for code run
    /// outside a server (unit tests, fuzz targets).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn plain() -> Self {
        Shared::new(
            Config::default(),
            Arc::new(Router::new()),
            None,
            Default::default(),
            None,
            0,
        )
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    pub(crate) fn logs(&self) -> bool {
        self.log.is_some()
    }

    /// Formats a line into a per-thread buffer and hands it to the log
    /// callback, NUL-terminated. Costs nothing when no callback is set.
    pub(crate) fn log(&self, level: LogLevel, args: fmt::Arguments<'_>) {
        let Some(f) = &self.log else { return };
        LINE.with(|line| {
            let Ok(mut line) = line.try_borrow_mut() else { return };
            line.clear();
            let _ = line.write_fmt(args);
            // A NUL inside (from a client's bytes) would cut the line short;
            // replace it so the line stays whole.
            if line.contains('\0') {
                *line = line.replace('\0', "\\0");
            }
            line.push('\0');
            if let Ok(c) = CStr::from_bytes_with_nul(line.as_bytes()) {
                f(level, c);
            }
        });
    }
}

/// Decrements the connection count when a connection task ends, also when
/// its future is dropped at shutdown; and its worker's count in
/// [`Shared::load`], once [placed](ConnGuard::place).
pub(crate) struct ConnGuard(pub Arc<Shared>, usize);

/// `ConnGuard`'s worker before it is placed: past the end of `load`.
const NO_WORKER: usize = usize::MAX;

impl ConnGuard {
    /// Guards a connection already counted in `conns`, on no worker yet.
    pub(crate) fn new(shared: Arc<Shared>) -> ConnGuard {
        ConnGuard(shared, NO_WORKER)
    }

    /// Records that the connection is counted on worker `w` (the caller
    /// added it to `load[w]`); it is taken off when the connection ends.
    #[cfg(mr_epoll)]
    pub(crate) fn counted_on(&mut self, w: usize) {
        self.1 = w;
    }

    /// Counts the connection on worker `w` (instead of where it was)
    /// until it ends.
    #[cfg(mr_epoll)]
    pub(crate) fn place(&mut self, w: usize) {
        if let Some(old) = self.0.load.get(self.1) {
            old.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(new) = self.0.load.get(w) {
            new.fetch_add(1, Ordering::Relaxed);
        }
        self.1 = w;
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if let Some(load) = self.0.load.get(self.1) {
            load.fetch_sub(1, Ordering::Relaxed);
        }
        self.0.conns.fetch_sub(1, Ordering::SeqCst);
        // Only a stop waits for this (`finish_stop`, which starts after
        // `stopping` is set), so other closes skip the notification's lock.
        // SeqCst here and there: either the stop sees this decrement or
        // this sees the flag.
        if self.0.stopping.load(Ordering::SeqCst) {
            self.0.conn_closed.notify(usize::MAX);
        }
    }
}
