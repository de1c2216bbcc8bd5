// SPDX-License-Identifier: GPL-2.0

//! Time spent in the phases of the verbs worth breaking down (memory
//! registration): per phase, the nanoseconds summed over every call and
//! the number of calls, in relaxed atomics, so measuring costs two
//! `ktime_get`s and two atomic adds per phase. Shown as
//! `phase_us.VERB.PHASE` and `phase_n.VERB.PHASE` lines next to the
//! `busy_us` counters (`/dev/xenib_back`, `/dev/xenib_front`);
//! `xenib-bench reg` takes their differences around each size.

use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::poll::now_ns;

/// The phases of one side, named `VERB.PHASE`.
pub(crate) struct Phases<const N: usize> {
    names: [&'static str; N],
    ns: [AtomicU64; N],
    calls: [AtomicU64; N],
}

impl<const N: usize> Phases<N> {
    pub(crate) const fn new(names: [&'static str; N]) -> Self {
        Self {
            names,
            ns: [const { AtomicU64::new(0) }; N],
            calls: [const { AtomicU64::new(0) }; N],
        }
    }

    /// Counts phase `i` as having run from `since` (`now_ns`) until now;
    /// returns now, where the next phase starts.
    pub(crate) fn lap(&self, i: usize, since: i64) -> i64 {
        let now = now_ns();
        self.add(i, (now - since).max(0) as u64);
        now
    }

    /// Counts `ns` spent in phase `i`.
    pub(crate) fn add(&self, i: usize, ns: u64) {
        if let (Some(t), Some(c)) = (self.ns.get(i), self.calls.get(i)) {
            t.fetch_add(ns, Ordering::Relaxed);
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes the phases that ran as "phase_us.NAME us" and
    /// "phase_n.NAME calls" lines.
    pub(crate) fn format(&self, w: &mut impl Write) {
        for ((name, t), c) in self.names.iter().zip(self.ns.iter()).zip(self.calls.iter()) {
            let n = c.load(Ordering::Relaxed);
            if n != 0 {
                let _ = writeln!(w, "phase_us.{} {}", name, t.load(Ordering::Relaxed) / 1000);
                let _ = writeln!(w, "phase_n.{} {}", name, n);
            }
        }
    }
}

/// A `core::fmt::Write` into a byte buffer, for the counter files.
pub(crate) struct SliceWriter<'a> {
    pub(crate) buf: &'a mut [u8],
    pub(crate) len: usize,
}

impl Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let dst = self
            .buf
            .get_mut(self.len..self.len + s.len())
            .ok_or(core::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}
