// SPDX-License-Identifier: GPL-2.0

//! Counters: requests served per operation and the time spent serving
//! them, and live objects, for tests, benchmarks and operators
//! (`cat /dev/xenib_back`).

use core::fmt::Write;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::phase::{Phases, SliceWriter};
use crate::wire::Op;

/// Kinds of backend objects counted while alive.
#[derive(Clone, Copy)]
///
/// The driver's objects (PDs, CQs, QPs, ...) are not counted here: each
/// belongs to a context's uverbs file and goes with it.
pub(crate) enum Obj {
    Frontend,
    Context,
    Mr,
    Mmap,
    Grant,
    /// Processes serving a context (`server.rs`).
    Server,
    /// Guest pages fetched because a verb touched them.
    Fetched,
    /// Guest rdma_cm files (`cm.rs`).
    CmFile,
    /// Memory windows (`mw.rs`).
    Mw,
    /// Guest page ranges kept mapped for the registration cache (`mr.rs`).
    Cached,
}

const OBJ_NAMES: [&str; 10] = [
    "frontends",
    "contexts",
    "mrs",
    "mmaps",
    "grants",
    "servers",
    "fetched",
    "cm_files",
    "mws",
    "cached",
];
const MAX_OPS: usize = 64;

pub(crate) struct Stats {
    requests: [AtomicU64; MAX_OPS],
    /// Nanoseconds spent executing each operation.
    busy_ns: [AtomicU64; MAX_OPS],
    errors: AtomicU64,
    bad_requests: AtomicU64,
    doorbells: AtomicU64,
    /// Requests taken off the rings by the dispatcher, and by context
    /// servers polling after a request of theirs.
    taken: [AtomicU64; 2],
    objects: [AtomicI64; OBJ_NAMES.len()],
    /// Time spent in each phase of registrations (`mr.rs`).
    pub(crate) mr_phases: Phases<{ crate::mr::PHASES.len() }>,
}

impl Stats {
    pub(crate) const fn new() -> Self {
        Self {
            requests: [const { AtomicU64::new(0) }; MAX_OPS],
            busy_ns: [const { AtomicU64::new(0) }; MAX_OPS],
            errors: AtomicU64::new(0),
            bad_requests: AtomicU64::new(0),
            doorbells: AtomicU64::new(0),
            taken: [const { AtomicU64::new(0) }; 2],
            objects: [const { AtomicI64::new(0) }; OBJ_NAMES.len()],
            mr_phases: Phases::new(crate::mr::PHASES),
        }
    }

    /// Counts a request that took `ns` to execute.
    pub(crate) fn request(&self, op: Op, ok: bool, ns: u64) {
        if let Some(i) = Op::ALL.iter().position(|o| *o == op) {
            if let (Some(c), Some(t)) = (self.requests.get(i), self.busy_ns.get(i)) {
                c.fetch_add(1, Ordering::Relaxed);
                t.fetch_add(ns, Ordering::Relaxed);
            }
        }
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn doorbell(&self) {
        self.doorbells.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` requests taken off a ring, by a context server or not.
    pub(crate) fn taken(&self, by_server: bool, n: u32) {
        self.taken[by_server as usize].fetch_add(n.into(), Ordering::Relaxed);
    }

    pub(crate) fn bad_request(&self) {
        self.bad_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add(&self, obj: Obj, n: i64) {
        self.objects[obj as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Formats every counter as "name value" lines, with the I/O frames
    /// given to guests (`iomem.rs`: mapped, in quarantine); returns the
    /// length.
    pub(crate) fn format(&self, buf: &mut [u8], io: (usize, usize)) -> usize {
        let mut w = SliceWriter { buf, len: 0 };
        for (i, op) in Op::ALL.iter().enumerate() {
            if let Some(c) = self.requests.get(i) {
                let _ = writeln!(w, "requests.{:?} {}", op, c.load(Ordering::Relaxed));
            }
        }
        // Only for the operations seen: the page must hold everything.
        for (i, op) in Op::ALL.iter().enumerate() {
            if let (Some(c), Some(t)) = (self.requests.get(i), self.busy_ns.get(i)) {
                if c.load(Ordering::Relaxed) != 0 {
                    let us = t.load(Ordering::Relaxed) / 1000;
                    let _ = writeln!(w, "busy_us.{:?} {}", op, us);
                }
            }
        }
        self.mr_phases.format(&mut w);
        let _ = writeln!(w, "errors {}", self.errors.load(Ordering::Relaxed));
        let _ = writeln!(
            w,
            "bad_requests {}",
            self.bad_requests.load(Ordering::Relaxed)
        );
        let _ = writeln!(w, "doorbells {}", self.doorbells.load(Ordering::Relaxed));
        let [d, s] = &self.taken;
        let _ = writeln!(w, "taken.dispatcher {}", d.load(Ordering::Relaxed));
        let _ = writeln!(w, "taken.servers {}", s.load(Ordering::Relaxed));
        for (name, c) in OBJ_NAMES.iter().zip(self.objects.iter()) {
            let _ = writeln!(w, "objects.{} {}", name, c.load(Ordering::Relaxed));
        }
        let _ = writeln!(w, "io.frames {}", io.0);
        let _ = writeln!(w, "io.quarantined {}", io.1);
        let (mut in_use, mut leaked) = (0, 0);
        // SAFETY: Reads two counters into our locals.
        unsafe { crate::sys::xenib_xen_page_counts(&mut in_use, &mut leaked) };
        let _ = writeln!(w, "xen.pages_in_use {}", in_use);
        let _ = writeln!(w, "xen.pages_leaked {}", leaked);
        w.len
    }
}

/// Reading `/dev/xenib_back`: the counters as text.
#[no_mangle]
pub(crate) extern "C" fn xenib_back_stats(buf: *mut kernel::ffi::c_char, len: usize) -> usize {
    let Some(backend) = crate::Backend::get() else {
        return 0;
    };
    // SAFETY: The read handler passes a zeroed buffer of `len` bytes.
    let buf = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
    backend.stats.format(buf, backend.io.counts())
}
