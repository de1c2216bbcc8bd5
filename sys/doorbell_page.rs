// SPDX-License-Identifier: GPL-2.0

//! Atomic access to a shared doorbell page (layout and rules in
//! `xen_ring/src/doorbell.rs`).

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::wire::doorbell::{group_words, locate, number, GROUPS, WORDS};

/// A doorbell page shared with the other side.
///
/// # Invariants
///
/// `base` is a page-aligned, 4096-byte shared page that stays mapped as
/// long as this value lives, and is only ever accessed atomically.
pub(crate) struct DoorbellPage {
    base: NonNull<u64>,
}

// SAFETY: Only atomic accesses are made through the pointer.
unsafe impl Send for DoorbellPage {}
// SAFETY: As above.
unsafe impl Sync for DoorbellPage {}

impl DoorbellPage {
    /// # Safety
    ///
    /// `page` must satisfy the type invariant for the life of the value.
    pub(crate) unsafe fn new(page: NonNull<u8>) -> Self {
        // INVARIANT: per the function contract.
        Self { base: page.cast() }
    }

    fn word(&self, i: usize) -> &AtomicU64 {
        debug_assert!(i < WORDS);
        let i = core::cmp::min(i, WORDS - 1);
        // SAFETY: `i` is inside the page (type invariant), aligned, and
        // the page is only accessed atomically.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(i)) }
    }

    /// Frontend: rings doorbell `n`. Returns whether the backend must be
    /// notified; `None` if `n` is out of range.
    pub(crate) fn ring(&self, n: u32) -> Option<bool> {
        let (word, bit, group) = locate(n)?;
        // ORDERING: SeqCst orders the provider's queue writes (done before
        // this system call) and the bit before the summary bit; pairs with
        // the backend's swaps in `take`.
        self.word(word).fetch_or(1 << bit, Ordering::SeqCst);
        let old = self.word(0).fetch_or(1 << group, Ordering::SeqCst);
        Some(old & (1 << group) == 0)
    }

    /// Backend: takes every rung doorbell, calling `f` with its number.
    /// The other side controls the page: anything it set is only a number
    /// to look up, never trusted further.
    pub(crate) fn take(&self, mut f: impl FnMut(u32)) {
        // ORDERING: pairs with the frontend's fetch_or in `ring`: summary
        // first, then the words it flags.
        let groups = self.word(0).swap(0, Ordering::SeqCst);
        for g in 0..GROUPS as u32 {
            if groups & (1 << g) == 0 {
                continue;
            }
            for w in group_words(g) {
                let mut bits = self.word(w).swap(0, Ordering::SeqCst);
                while bits != 0 {
                    let b = bits.trailing_zeros();
                    bits &= bits - 1;
                    if let Some(n) = number(w, b) {
                        f(n);
                    }
                }
            }
        }
    }
}
