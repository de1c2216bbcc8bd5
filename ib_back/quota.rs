// SPDX-License-Identifier: GPL-2.0

//! Per-guest quotas: how many objects of each kind one frontend (one
//! guest) may have the backend hold at once, across all its contexts.
//!
//! The limits are `ib_back`'s module parameters `max_contexts`, `max_pds`,
//! `max_cqs`, `max_qps`, `max_srqs`, `max_ahs`, `max_mrs`, `max_cm_ids` and
//! `max_mws` (writable:
//! a change applies to later creations). Past a limit the verb fails with
//! `EDQUOT` and the backend logs one rate-limited line naming the guest;
//! `QueryDevice` reports the limits as the device's maxima, so a guest
//! sees what it may really create. Registered memory has its own budget,
//! `max_mr_mib` per guest (`EDQUOT`), and all guests' together are within
//! `max_total_mr_mib` (`ENOSPC`), which Xen's maptrack table bounds
//! (`Frontend::take_mr_pages`).

use core::fmt::Display;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::errno::edquot;
use crate::sys;
use crate::sys::warn_ratelimited;
use kernel::prelude::*;

/// What a quota counts. The order is that of the C parameter table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Context = 0,
    Pd,
    Cq,
    Qp,
    Srq,
    Ah,
    Mr,
    /// rdma_cm ids (`cm.rs`).
    CmId,
    /// Memory windows (`mw.rs`).
    Mw,
}

pub(crate) const KINDS: usize = 9;
const NAMES: [&str; KINDS] = [
    "contexts", "PDs", "CQs", "QPs", "SRQs", "AHs", "MRs", "rdma_cm ids", "MWs",
];

/// Objects of each kind one frontend holds.
pub(crate) struct Quota {
    held: [AtomicU32; KINDS],
}

impl Quota {
    pub(crate) const fn new() -> Self {
        Self {
            held: [const { AtomicU32::new(0) }; KINDS],
        }
    }

    /// The limit for `kind` (per guest).
    pub(crate) fn limit(kind: Kind) -> u32 {
        // SAFETY: Reads a module parameter.
        unsafe { sys::xenib_back_quota(kind as u32) }
    }

    /// Guest pages one guest may have registered at once (`max_mr_mib`);
    /// each costs the backend 16 bytes of bookkeeping.
    pub(crate) fn mr_pages_limit() -> usize {
        // SAFETY: Reads a module parameter.
        (unsafe { sys::xenib_back_max_mr_mib() } as usize) << 8
    }

    /// Guest pages all guests together may have registered at once
    /// (`max_total_mr_mib`).
    pub(crate) fn total_mr_pages_limit() -> usize {
        // SAFETY: Reads a module parameter.
        (unsafe { sys::xenib_back_max_total_mr_mib() } as usize) << 8
    }

    /// Takes one object of `kind` for guest `who`: `EDQUOT` past its limit.
    pub(crate) fn take(&self, kind: Kind, who: &impl Display) -> Result {
        let limit = Self::limit(kind);
        self.held[kind as usize]
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .map(|_| ())
            .map_err(|_| {
                warn_ratelimited!("{}: its quota of {} {} is used up\n", who, limit, NAMES[kind as usize]);
                edquot()
            })
    }

    /// Counts `n` objects of `kind` that the guest did not ask for and we
    /// cannot refuse (the ids of incoming rdma_cm connections).
    pub(crate) fn add(&self, kind: Kind, n: u32) {
        self.held[kind as usize].fetch_add(n, Ordering::AcqRel);
    }

    /// Gives back `n` objects of `kind`.
    pub(crate) fn put(&self, kind: Kind, n: u32) {
        if n != 0 {
            self.held[kind as usize].fetch_sub(n, Ordering::AcqRel);
        }
    }
}

/// Registered guest pages, counted against a limit that may change
/// (a module parameter): one guest's, or all guests' together.
pub(crate) struct Pages(AtomicUsize);

impl Pages {
    pub(crate) const fn new() -> Self {
        Self(AtomicUsize::new(0))
    }

    /// Takes `n` pages if that keeps the count within `limit`.
    pub(crate) fn take(&self, n: usize, limit: usize) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                cur.checked_add(n).filter(|t| *t <= limit)
            })
            .is_ok()
    }

    /// Counts `n` pages more, whatever the limit (they are held already).
    pub(crate) fn add(&self, n: usize) {
        self.0.fetch_add(n, Ordering::AcqRel);
    }

    pub(crate) fn put(&self, n: usize) {
        self.0.fetch_sub(n, Ordering::AcqRel);
    }
}

/// The objects one context holds, so that closing it gives them back.
#[derive(Default)]
pub(crate) struct Held([u32; KINDS]);

impl Held {
    pub(crate) fn add(&mut self, kind: Kind) {
        self.0[kind as usize] += 1;
    }

    /// One fewer, if any was counted.
    pub(crate) fn remove(&mut self, kind: Kind) -> bool {
        let n = &mut self.0[kind as usize];
        let had = *n > 0;
        *n = n.saturating_sub(1);
        had
    }

    /// How many of `kind` it holds.
    pub(crate) fn count(&self, kind: Kind) -> u32 {
        self.0[kind as usize]
    }

    /// Gives every object back to `quota`.
    pub(crate) fn give_back(&mut self, quota: &Quota) {
        let kinds = [
            Kind::Context,
            Kind::Pd,
            Kind::Cq,
            Kind::Qp,
            Kind::Srq,
            Kind::Ah,
            Kind::Mr,
            Kind::CmId,
            Kind::Mw,
        ];
        for (i, kind) in kinds.into_iter().enumerate() {
            quota.put(kind, core::mem::take(&mut self.0[i]));
        }
    }
}
