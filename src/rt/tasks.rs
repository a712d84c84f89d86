//! A worker's tasks (epoll back end): a run queue over `async-task`.
//!
//! Why not async-executor's `LocalExecutor`: it is the thread-safe
//! `Executor` behind a `!Send` face. Every wake-up of a connection went
//! through its lock-free global queue, a "ticker" that signed up as a
//! sleeper and woke a runner, and a look at other runners' queues to
//! steal from. Replacing it took callgrind's count from 8,260 to 7,161
//! instructions per keep-alive request and from 14,683 to 12,234 per new
//! connection: work that a worker owning its tasks does not need. The
//! queue also bounds a pass ([`super::edge::run`]): a task that keeps
//! yielding no longer keeps the worker from its sockets. Here a task woken
//! on its own worker goes onto a plain `VecDeque`, with no atomics. One
//! woken from another thread (a deferred response fed by the
//! application, a connection handed over by another worker) goes onto a
//! mutex-guarded list, and writes the worker's eventfd if it sleeps.
//!
//! Each task carries its worker's [`Remote`] as `async-task` metadata,
//! so the schedule function needs no state of its own (`async-task`
//! then skips a waker clone per wake-up).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use async_task::{Builder, Runnable};

use super::edge::{self, Notifier};

/// A task ready to run (async-task's handle to poll it once).
type Job = Runnable<Arc<Remote>>;

/// How a task woken on another thread reaches its worker.
pub(super) struct Remote {
    list: Mutex<Vec<Job>>,
    /// Set after a push to `list`; the worker does not sleep while set.
    pending: AtomicBool,
    notifier: Arc<Notifier>,
}

/// One worker's tasks. Spawned and run on the worker's thread only.
pub(super) struct Tasks {
    local: RefCell<VecDeque<Job>>,
    remote: Arc<Remote>,
    /// A waker of every live task, to end them all when the worker ends
    /// (a task waiting for a socket or a timer is in no queue).
    active: RefCell<Registry>,
    /// The worker is ending: nothing new is spawned.
    closed: Cell<bool>,
}

impl Tasks {
    pub(super) fn new(notifier: Arc<Notifier>) -> Tasks {
        Tasks {
            local: RefCell::default(),
            remote: Arc::new(Remote {
                list: Mutex::default(),
                pending: AtomicBool::new(false),
                notifier,
            }),
            active: RefCell::default(),
            closed: Cell::new(false),
        }
    }

    /// Starts `fut` as a task of this worker, first run on the worker's
    /// next pass over its queue; its output is dropped (with the task). False (and `fut`
    /// dropped) once the worker is ending.
    ///
    /// A panic in the task ends the task only, as with async-executor:
    /// the worker and its other connections go on.
    pub(super) fn spawn<F: Future + 'static>(&self, fut: F) -> bool {
        if self.closed.get() {
            return false;
        }
        let key = self.active.borrow_mut().insert();
        let fut = Tracked {
            fut,
            _active: Active(key),
        };
        let (task, handle) = Builder::new()
            .metadata(self.remote.clone())
            .propagate_panic(true)
            .spawn_local(move |_| fut, schedule);
        self.active.borrow_mut().set(key, task.waker());
        handle.detach();
        task.schedule();
        true
    }

    /// Runs queued tasks, those woken meanwhile on this thread included,
    /// until none are left or `budget` have run. True if some are left.
    /// (Tasks woken from other threads join at the worker's look at I/O.)
    pub(super) fn run(&self, budget: usize) -> bool {
        for _ in 0..budget {
            let next = self.local.borrow_mut().pop_front();
            match next {
                Some(task) => {
                    task.run();
                }
                None => return false,
            }
        }
        !self.local.borrow().is_empty()
    }

    /// How many tasks are live (spawned, not yet finished or dropped).
    #[cfg(test)]
    pub(super) fn live(&self) -> usize {
        self.active.borrow().live()
    }

    /// Tasks woken from other threads wait to be taken: the worker must
    /// not sleep. Read after the worker says it sleeps (see `Notifier`).
    pub(super) fn remote_pending(&self) -> bool {
        self.remote.pending.load(Ordering::SeqCst)
    }

    /// Moves tasks woken from other threads onto the local queue.
    pub(super) fn take_remote(&self) {
        // The plain load spares the read-modify-write on the usual path;
        // a push it misses is seen by `remote_pending` before any sleep.
        if self.remote.pending.load(Ordering::Relaxed) && self.remote.pending.swap(false, Ordering::SeqCst) {
            let mut list = self.remote.list.lock().unwrap_or_else(PoisonError::into_inner);
            self.local.borrow_mut().extend(list.drain(..));
        }
    }

    /// Ends every task: each is woken, so that it is queued (here or on
    /// the way from another thread), and each queued one is dropped
    /// unrun, which drops its future on this thread. Futures dropped here
    /// may wake others; nothing new is spawned.
    pub(super) fn cancel_all(&self) {
        self.closed.set(true);
        let wakers: Vec<Waker> = self.active.borrow().wakers.iter().flatten().cloned().collect();
        for w in wakers {
            w.wake();
        }
        loop {
            self.take_remote();
            let next = self.local.borrow_mut().pop_front();
            match next {
                Some(task) => drop(task),
                None if self.active.borrow().live() == 0 => break,
                // A wake-up from another thread is still on its way.
                None => std::thread::yield_now(),
            }
        }
    }
}

/// `async-task`'s schedule function: onto the local queue when woken on
/// the task's own worker, else onto its remote list.
fn schedule(task: Job) {
    let mut task = Some(task);
    edge::with_current(|r| {
        let tasks = &r.tasks;
        if task.as_ref().is_some_and(|t| Arc::ptr_eq(t.metadata(), &tasks.remote)) {
            tasks.local.borrow_mut().extend(task.take());
        }
    });
    if let Some(task) = task {
        // Kept: once on the list the task may run and go at any moment.
        let remote = task.metadata().clone();
        remote.list.lock().unwrap_or_else(PoisonError::into_inner).push(task);
        remote.pending.store(true, Ordering::SeqCst);
        remote.notifier.wake();
    }
}

pin_project_lite::pin_project! {
    /// A task's future with its entry in `active`. A struct rather than
    /// an `async` block: that would hold the future twice (as captured,
    /// and as awaited), and an idle connection is mostly its future.
    struct Tracked<F> {
        #[pin]
        fut: F,
        _active: Active,
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().fut.poll(cx)
    }
}

/// A task's entry in `active`, removed when its future goes (completed,
/// panicked or cancelled, polled or not), always on the worker's thread.
struct Active(u32);

/// The live tasks' wakers by index, freed indexes reused. Each index has
/// exactly one owner (its task's [`Active`]), so no generation is kept:
/// an entry is 16 bytes, per live connection.
#[derive(Default)]
struct Registry {
    wakers: Vec<Option<Waker>>,
    free: Vec<u32>,
}

impl Registry {
    /// Takes an index for a task about to be spawned (no waker yet).
    fn insert(&mut self) -> u32 {
        self.free.pop().unwrap_or_else(|| {
            self.wakers.push(None);
            (self.wakers.len() - 1) as u32
        })
    }

    fn set(&mut self, index: u32, waker: Waker) {
        self.wakers[index as usize] = Some(waker);
    }

    /// Gives `index` back; its waker, for the caller to drop.
    fn remove(&mut self, index: u32) -> Option<Waker> {
        let waker = self.wakers[index as usize].take();
        self.free.push(index);
        waker
    }

    /// Indexes taken and not given back.
    fn live(&self) -> usize {
        self.wakers.len() - self.free.len()
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        edge::with_current(|r| {
            let waker = r.tasks.active.borrow_mut().remove(self.0);
            drop(waker); // outside the borrow
        });
    }
}
