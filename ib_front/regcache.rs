// SPDX-License-Identifier: GPL-2.0

//! The registration cache: what is expensive and safe to keep of a
//! deregistered MR, for a repeated registration of the same range.
//!
//! A deregistration whose range has not changed since it was pinned asks
//! the backend to deregister the MR at the driver (its keys die with
//! `ibv_dereg_mr`) but to keep the pages mapped (`DeregMrKeep`); we keep
//! the pages pinned and granted. A later registration by the same process
//! of the same range, with the same writability, registers over them
//! (`RegMrCached`): no pinning, granting, list pages or grant mapping.
//!
//! Each pinned range is watched (an MMU interval notifier, `helpers.c`)
//! from before it is pinned: the first change of any part of it (munmap,
//! `MAP_FIXED` over it, mremap, mprotect, exit) makes the entry stale, and
//! a stale entry is never used; it is dropped at the next registration or
//! deregistration on the device. Nobody waits for that `DropCached`: it
//! goes on the ring ahead of the caller's own request, and once the
//! backend has answered, the grants end and the pages are unpinned
//! (`Channel::drop_cached`). Closing the context, a frontend disconnect
//! and module unload release every entry. At most
//! `reg_cache` entries (a module parameter) are kept per device; the
//! kept pages stay counted in the guest's registered-memory quota, and a
//! registration the quota refuses drops its context's entries and tries
//! again.
//!
//! Lock order: `RegCache::entries` is a leaf; it is never held while
//! calling the backend or releasing pages.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::sync::Mutex;

use crate::mr::SharedPages;
use crate::sys;
use crate::table::Table;
use crate::wire::{CacheHandle, CtxHandle};

/// Entries one device may keep, whatever `reg_cache` says.
pub(crate) const MAX_CACHED: usize = 1024;

static HITS: AtomicU64 = AtomicU64::new(0);
static MISSES: AtomicU64 = AtomicU64::new(0);
static STALE: AtomicU64 = AtomicU64::new(0);
static ENTRIES: AtomicU64 = AtomicU64::new(0);
static DROPPING: AtomicU64 = AtomicU64::new(0);

/// Counts a registration served from the cache, or not.
pub(crate) fn count(hit: bool) {
    if hit { &HITS } else { &MISSES }.fetch_add(1, Ordering::Relaxed);
}

/// Counts an entry dropped because its range changed.
pub(crate) fn count_stale() {
    STALE.fetch_add(1, Ordering::Relaxed);
}

/// Counts a range whose pages wait for the backend's answer to its
/// `DropCached` (`started`), or no longer.
pub(crate) fn count_dropping(started: bool) {
    if started {
        DROPPING.fetch_add(1, Ordering::Relaxed);
    } else {
        DROPPING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The cache's counters, as "name value" lines (the `counters` parameter).
pub(crate) fn format(w: &mut impl core::fmt::Write) {
    let _ = writeln!(w, "cache.hits {}", HITS.load(Ordering::Relaxed));
    let _ = writeln!(w, "cache.misses {}", MISSES.load(Ordering::Relaxed));
    let _ = writeln!(w, "cache.stale {}", STALE.load(Ordering::Relaxed));
    let _ = writeln!(w, "cache.entries {}", ENTRIES.load(Ordering::Relaxed));
    let _ = writeln!(w, "cache.dropping {}", DROPPING.load(Ordering::Relaxed));
}

/// Entries this device may keep now (`reg_cache`); 0: the cache is off.
pub(crate) fn limit() -> usize {
    // SAFETY: Reads a module parameter.
    core::cmp::min(unsafe { sys::xenib_front_reg_cache() } as usize, MAX_CACHED)
}

/// A watch on a range of the calling process: stale from the first change
/// of any part of it.
///
/// # Invariants
///
/// `0` is a live watch made by `xenib_front_range_watch`.
pub(crate) struct RangeWatch(NonNull<sys::xenib_range_watch>);

// SAFETY: A watch may be read and ended from any thread.
unsafe impl Send for RangeWatch {}

impl RangeWatch {
    /// Watches `[start, start + length)` of the calling process.
    pub(crate) fn new(start: u64, length: u64) -> Result<Self> {
        // SAFETY: In the verb's process context; the helper checks the mm.
        let w = unsafe { sys::xenib_front_range_watch(start, length) };
        // SAFETY: Any pointer may be tested.
        let err = unsafe { sys::xenib_ptr_err(w.cast()) };
        if err != 0 {
            return Err(Error::from_errno(err as i32));
        }
        // INVARIANT: made above.
        Ok(Self(NonNull::new(w).ok_or(ENOMEM)?))
    }

    /// Whether the range is one of the calling process and unchanged.
    pub(crate) fn unchanged(&self) -> bool {
        // SAFETY: A live watch (type invariant).
        unsafe { sys::xenib_front_range_watch_ours(self.0.as_ptr()) && !self.stale() }
    }

    /// Whether any part of the range changed (in whichever process).
    pub(crate) fn stale(&self) -> bool {
        // SAFETY: A live watch (type invariant).
        unsafe { sys::xenib_front_range_watch_stale(self.0.as_ptr()) }
    }
}

impl Drop for RangeWatch {
    fn drop(&mut self) {
        // SAFETY: A live watch (type invariant), ended once here.
        unsafe { sys::xenib_front_range_watch_end(self.0.as_ptr()) };
    }
}

/// A deregistered range: its pinned and granted pages, and the backend's
/// name for its mapping of them.
pub(crate) struct Cached {
    pub(crate) ctx: CtxHandle,
    pub(crate) cache: CacheHandle,
    pub(crate) shared: SharedPages,
}

/// One device's cached ranges.
#[pin_data]
pub(crate) struct RegCache {
    #[pin]
    entries: Mutex<Table<Cached>>,
}

impl RegCache {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            entries <- kernel::new_mutex!(Table::new(MAX_CACHED)),
        })
    }

    /// Takes out the unchanged entry of `ctx` for exactly this range and
    /// writability, if there is one.
    pub(crate) fn take(&self, ctx: CtxHandle, start: u64, length: u64, writable: bool) -> Option<Cached> {
        self.take_first(|c| {
            c.ctx == ctx
                && c.shared.covers(start, length, writable)
                && c.shared.unchanged()
        })
    }

    /// Takes out the first entry `f` selects.
    pub(crate) fn take_first(&self, f: impl Fn(&Cached) -> bool) -> Option<Cached> {
        let mut entries = self.entries.lock();
        let i = entries.position(f)?;
        let c = entries.remove(i);
        if c.is_some() {
            ENTRIES.fetch_sub(1, Ordering::Relaxed);
        }
        c
    }

    /// Keeps `c` if there is room; gives it back otherwise.
    pub(crate) fn put(&self, c: Cached) -> core::result::Result<(), Cached> {
        let mut entries = self.entries.lock();
        if entries.len() >= limit() {
            return Err(c);
        }
        // Cannot fail below MAX_CACHED but for memory.
        match entries.reserve() {
            Ok(()) => {
                let _ = entries.insert(c);
                ENTRIES.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(_) => Err(c),
        }
    }

    /// Whether another entry would go beyond the limit.
    pub(crate) fn full(&self) -> bool {
        self.entries.lock().len() >= limit()
    }
}
