// SPDX-License-Identifier: GPL-2.0

//! When to poll the command ring rather than sleep.
//!
//! Both ends may busy-wait for a while: the caller for its response, the
//! backend's service for the next request (ring-protocol.rst, "Polling
//! consumers"). That pays off only when what they wait for usually comes
//! within the budget; when it does not (slow verbs, a peer whose CPU is
//! busy elsewhere, as with overcommitted vCPUs), polling only burns the
//! CPU the peer may need. So each side keeps track of how often its waits
//! would have fitted in the budget, polled or not, and polls only while
//! most of them do. Waits it slept through include the wake-ups polling
//! would have saved, so an end that stopped polling is slow to start
//! again: conservative on purpose, as polling in vain costs the peer
//! (measured under Xen on TCG, where a lenient rule made the backend's
//! own verbs twice as slow).

use core::sync::atomic::{AtomicI32, Ordering};
use kernel::time::Ktime;

/// How long either end polls at most (ns).
pub(crate) const POLL_NS: i64 = 200_000;

/// The share of recent waits no longer than `POLL_NS`, in 1/1024ths: a
/// moving average of weight 1/8.
pub(crate) struct PollAdvisor {
    fits: AtomicI32,
}

const ALL: i32 = 1024;

impl PollAdvisor {
    /// Starts by polling.
    pub(crate) const fn new() -> Self {
        Self {
            fits: AtomicI32::new(ALL),
        }
    }

    /// Records one wait of `ns`. Concurrent updates may lose a sample: it
    /// is an estimate.
    pub(crate) fn note(&self, ns: i64) {
        let sample = if ns <= POLL_NS { ALL } else { 0 };
        let fits = self.fits.load(Ordering::Relaxed);
        self.fits
            .store(fits + (sample - fits) / 8, Ordering::Relaxed);
    }

    /// Until when to poll, from `now` (ns, `ktime`): `now + POLL_NS` while
    /// at least half the waits fit in it, `None` otherwise.
    pub(crate) fn poll_until(&self, now: i64) -> Option<i64> {
        (self.fits.load(Ordering::Relaxed) >= ALL / 2).then_some(now + POLL_NS)
    }
}

/// A `PollAdvisor` for each kind of request: verbs differ (creating a QP
/// takes longer than the budget, its `modify_qp` steps fit), and one verb
/// that never fits must not stop the polling that serves the others.
pub(crate) struct PerOp([PollAdvisor; 128]);

impl PerOp {
    pub(crate) const fn new() -> Self {
        Self([const { PollAdvisor::new() }; 128])
    }

    /// The advisor for requests of `op` (a ring protocol op: its object
    /// class in bits 4..8, the verb in bits 0..3).
    pub(crate) fn get(&self, op: u16) -> &PollAdvisor {
        &self.0[usize::from((op >> 4) & 0xf) * 8 + usize::from(op & 7)]
    }
}

/// The current time (ns, `ktime_get`).
pub(crate) fn now_ns() -> i64 {
    Ktime::ktime_get().to_ns()
}
