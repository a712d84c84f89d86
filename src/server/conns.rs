//! The table of served connections: the connection cap, the optional
//! per-address cap, the "LRU purge" of idle keep-alive connections when the
//! cap is reached, and waking idle connections when the server stops.
//!
//! The hot path (a connection starting and ending an idle wait between
//! requests) touches only its own slot's atomics; the table's lock is
//! taken once when a connection is admitted and once when it ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Instant;

use atomic_waker::AtomicWaker;

/// One served connection's shared state.
#[derive(Default)]
pub(crate) struct Slot {
    /// When the connection began waiting for its next request, in
    /// milliseconds since the table's epoch (wrapping; never 0); 0 while it
    /// is busy. 32 bits, for targets without 64-bit atomics (ESP32-C3):
    /// ages are compared by wrapping distance from now, which is right
    /// while no idle wait lasts 49 days (timeouts are at most that).
    idle_since: AtomicU32,
    /// Set when the connection was chosen to make room: its idle wait ends.
    evicted: AtomicBool,
    /// The connection task, woken by eviction and by stop.
    waker: AtomicWaker,
}

impl Slot {
    /// Polled while idle: ready once the connection was evicted or
    /// `stopping` is set. The waker is registered before the flags are
    /// read, so a wake between the two is not lost.
    pub(crate) fn poll_interrupt(&self, cx: &mut Context<'_>, stopping: &AtomicBool) -> Poll<()> {
        self.waker.register(cx.waker());
        if self.evicted.load(Ordering::Acquire) || stopping.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `max_connections` are open and none is idle.
    Full,
    /// This address already has `max_per_ip` connections.
    PerIp,
}

#[derive(Default)]
struct Inner {
    slots: Vec<Option<Arc<Slot>>>,
    free: Vec<u32>,
    open: usize,
    per_ip: HashMap<IpAddr, u32>,
}

pub(crate) struct ConnTable {
    epoch: Instant,
    max: usize,
    max_per_ip: usize,
    lru_purge: bool,
    inner: Mutex<Inner>,
}

/// A connection's place in the table; leaving it frees the place.
pub(crate) struct Admitted {
    table: Arc<ConnTable>,
    /// 32 bits: the task of every idle connection holds this.
    index: u32,
    ip: IpAddr,
    pub(crate) slot: Arc<Slot>,
}

impl ConnTable {
    pub(crate) fn new(max: usize, max_per_ip: usize, lru_purge: bool) -> Self {
        ConnTable {
            epoch: Instant::now(),
            max,
            max_per_ip,
            lru_purge,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a connection from `ip`, evicting the longest-idle keep-alive
    /// connection when the table is full (if purging is on).
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admitted, Refusal> {
        let mut g = self.lock();
        if self.max_per_ip > 0 && g.per_ip.get(&ip).copied().unwrap_or(0) as usize >= self.max_per_ip {
            return Err(Refusal::PerIp);
        }
        if g.open >= self.max && !(self.lru_purge && self.evict_oldest(&g)) {
            return Err(Refusal::Full);
        }
        let slot = Arc::new(Slot::default());
        let index = match g.free.pop() {
            Some(i) => {
                g.slots[i as usize] = Some(slot.clone());
                i
            }
            None => {
                // More than 4 billion connections at once cannot happen
                // (each holds a descriptor); refuse rather than wrap.
                let Ok(i) = u32::try_from(g.slots.len()) else {
                    return Err(Refusal::Full);
                };
                g.slots.push(Some(slot.clone()));
                i
            }
        };
        g.open += 1;
        if self.max_per_ip > 0 {
            *g.per_ip.entry(ip).or_insert(0) += 1;
        }
        Ok(Admitted {
            table: self.clone(),
            index,
            ip,
            slot,
        })
    }

    /// Claims the connection idle the longest and tells it to close.
    /// False when none is idle.
    fn evict_oldest(&self, g: &Inner) -> bool {
        let now = self.stamp(Instant::now());
        loop {
            let oldest = g
                .slots
                .iter()
                .flatten()
                .filter(|s| !s.evicted.load(Ordering::Acquire))
                .map(|s| (s.idle_since.load(Ordering::Acquire), s))
                .filter(|(t, _)| *t != 0)
                .max_by_key(|(t, _)| now.wrapping_sub(*t));
            let Some((since, slot)) = oldest else { return false };
            // The connection may have just woken for a request: claim the
            // idle period only if it is still the one we saw.
            if slot
                .idle_since
                .compare_exchange(since, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                slot.evicted.store(true, Ordering::Release);
                slot.waker.wake();
                return true;
            }
        }
    }

    /// Closes the connection idle the longest, if purging is on and one is
    /// idle (to free a descriptor when accept runs out of them).
    pub(crate) fn purge_one(&self) -> bool {
        self.lru_purge && self.evict_oldest(&self.lock())
    }

    /// `t` as an idle stamp: wrapping milliseconds since the epoch, not 0.
    fn stamp(&self, t: Instant) -> u32 {
        // In u64, wrapping (`as_millis` works in u128): once per request.
        let d = t.saturating_duration_since(self.epoch);
        let ms = d
            .as_secs()
            .wrapping_mul(1000)
            .wrapping_add(u64::from(d.subsec_millis())) as u32;
        ms.max(1)
    }

    /// Wakes every connection waiting idle (the server is stopping).
    pub(crate) fn wake_all(&self) {
        let g = self.lock();
        for s in g.slots.iter().flatten() {
            s.waker.wake();
        }
    }

    /// Served connections now open.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.lock().open
    }
}

impl Admitted {
    /// Marks the connection idle from `now` (waiting for a next request).
    pub(crate) fn set_idle(&self, now: Instant) {
        self.slot.idle_since.store(self.table.stamp(now), Ordering::Release);
    }

    /// Marks the connection busy again. True if it was evicted meanwhile
    /// (it should close); a request that raced the eviction still wins when
    /// its bytes are already in: the caller decides.
    pub(crate) fn set_busy(&self) -> bool {
        self.slot.idle_since.store(0, Ordering::Release);
        self.slot.evicted.swap(false, Ordering::AcqRel)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut g = self.table.lock();
        g.slots[self.index as usize] = None;
        g.free.push(self.index);
        g.open -= 1;
        if self.table.max_per_ip > 0 {
            if let Some(n) = g.per_ip.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    g.per_ip.remove(&self.ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn full_without_idle_refuses() {
        let t = Arc::new(ConnTable::new(2, 0, true));
        let a = t.admit(A).unwrap();
        let b = t.admit(A).unwrap();
        assert_eq!(t.admit(A).err(), Some(Refusal::Full));
        drop(a);
        let c = t.admit(A).unwrap();
        assert_eq!(t.open(), 2);
        drop((b, c));
        assert_eq!(t.open(), 0);
    }

    #[test]
    fn full_evicts_the_longest_idle() {
        let t = Arc::new(ConnTable::new(3, 0, true));
        let a = t.admit(A).unwrap();
        let b = t.admit(A).unwrap();
        let c = t.admit(A).unwrap();
        std::thread::sleep(Duration::from_millis(3));
        b.set_idle(Instant::now());
        std::thread::sleep(Duration::from_millis(3));
        c.set_idle(Instant::now());
        let d = t.admit(A).unwrap();
        assert!(b.slot.evicted.load(Ordering::Acquire), "b idled first");
        assert!(!c.slot.evicted.load(Ordering::Acquire));
        assert!(!a.slot.evicted.load(Ordering::Acquire), "a is busy");
        // b is claimed once: the next admission takes c, then nothing.
        let e = t.admit(A).unwrap();
        assert!(c.slot.evicted.load(Ordering::Acquire));
        assert_eq!(t.admit(A).err(), Some(Refusal::Full));
        drop((a, b, c, d, e));
    }

    #[test]
    fn a_connection_that_woke_is_not_evicted() {
        let t = Arc::new(ConnTable::new(1, 0, true));
        let a = t.admit(A).unwrap();
        a.set_idle(Instant::now());
        assert!(!a.set_busy(), "not evicted");
        assert_eq!(t.admit(A).err(), Some(Refusal::Full));
        a.set_idle(Instant::now());
        let b = t.admit(A).unwrap();
        assert!(a.set_busy(), "evicted while idle");
        drop((a, b));
    }

    #[test]
    fn purge_off_refuses() {
        let t = Arc::new(ConnTable::new(1, 0, false));
        let a = t.admit(A).unwrap();
        a.set_idle(Instant::now());
        assert_eq!(t.admit(A).err(), Some(Refusal::Full));
        drop(a);
    }

    #[test]
    fn per_address_cap() {
        let t = Arc::new(ConnTable::new(10, 2, true));
        let a1 = t.admit(A).unwrap();
        let a2 = t.admit(A).unwrap();
        assert_eq!(t.admit(A).err(), Some(Refusal::PerIp));
        let b1 = t.admit(B).unwrap();
        drop(a1);
        let a3 = t.admit(A).unwrap();
        assert_eq!(t.admit(A).err(), Some(Refusal::PerIp));
        drop((a2, a3, b1));
        assert!(t.lock().per_ip.is_empty());
    }
}
