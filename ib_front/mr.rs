// SPDX-License-Identifier: GPL-2.0

//! Memory regions over guest memory.
//!
//! The guest's pages are pinned here (`ib_umem_get`, with the usual
//! RLIMIT_MEMLOCK accounting) and granted to the backend; the grant
//! references travel in granted indirect pages, 1024 to a page, as
//! blkif's indirect segments do (beyond 128 MiB, directory pages list the
//! indirect pages). The backend registers those very pages
//! with the real device, so RDMA reads and writes guest memory in place.
//! Pages are granted writable only if the MR's access lets the device
//! write them (`access_writable`); a read-only MR made writable gets its
//! pages pinned and granted again (an implicit translation change).
//! A deregistered range may be kept for a repeated registration
//! (`regcache.rs`).

use crate::errno::{eopnotsupp, eproto};
use core::ptr::NonNull;
use kernel::prelude::*;

use crate::channel::Channel;
use crate::context::ctx_of;
use crate::device::{channel, XibPd};
use crate::phase::{Phases, SliceWriter};
use crate::poll::now_ns;
use crate::regcache::{self, Cached, RangeWatch};
use crate::sys;
use crate::transport::Transport;
use crate::wire::{
    access_writable, indirect_pages_for, mr_request_refs, mr_two_level, CacheHandle,
    CtxHandle, DeregMrReq, GrantRef, MrHandle, PdHandle, RefList, RegMrCachedReq, RegMrReq,
    RegMrRsp, Request, ReregMrReq, RspBody, MAX_MR_PAGES, REFS_PER_INDIRECT_PAGE, REREG_ACCESS,
    REREG_PD, REREG_TRANS,
};

/// The phases of a registration and a deregistration whose time the
/// counters show (`phase_us.*`, read from
/// `/sys/module/ib_front/parameters/counters`): pinning the pages
/// (`ib_umem_get`), granting them and their list pages, the request to
/// the backend (its round trip, which includes the backend's own phases);
/// for a deregistration the request and ending the grants and unpinning
/// (not for one whose pages are kept); and the request of a registration
/// over kept pages (`RegMrCached`).
static PHASES: Phases<6> = Phases::new([
    "reg.pin",
    "reg.grant",
    "reg.request",
    "dereg.request",
    "dereg.release",
    "reg_cached.request",
]);
#[derive(Clone, Copy)]
enum Phase {
    Pin = 0,
    Grant,
    Request,
    DeregRequest,
    DeregRelease,
    CachedRequest,
}

impl Phase {
    /// Counts this phase from `since` until now; returns now.
    fn lap(self, since: i64) -> i64 {
        PHASES.lap(self as usize, since)
    }
}

/// Reading `/sys/module/ib_front/parameters/counters`.
#[no_mangle]
pub(crate) extern "C" fn xenib_front_counters(
    buf: *mut kernel::ffi::c_char,
    len: usize,
) -> core::ffi::c_int {
    // SAFETY: The parameter's getter passes a buffer of `len` bytes.
    let buf = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
    let mut w = SliceWriter { buf, len: 0 };
    PHASES.format(&mut w);
    regcache::format(&mut w);
    w.len as _
}

/// An MR: the core's `ib_mr` first, then what we hold for it.
#[repr(C)]
struct XibMr {
    ibmr: sys::ib_mr,
    handle: u32,
    ctx: u32,
    /// Its access flags.
    access: u32,
    shared: SharedPages,
}
const _: () = assert!(core::mem::offset_of!(XibMr, ibmr) == 0);

/// Pinned guest pages, granted to the backend with their indirect pages.
///
/// # Invariants
///
/// `umem` is a pinned region; each of `grants` is outstanding; each of
/// `indirect` is a page we allocated, granted under the matching ref.
pub(crate) struct SharedPages {
    umem: NonNull<sys::ib_umem>,
    /// The range pinned, and whether it is granted writable.
    start: u64,
    length: u64,
    writable: bool,
    /// The umem's pages, in order, with their grants.
    grants: KVec<(NonNull<sys::page>, GrantRef)>,
    indirect: KVec<(NonNull<sys::page>, GrantRef)>,
    /// Beyond one level (`mr_two_level`): pages listing `indirect`.
    directory: KVec<(NonNull<sys::page>, GrantRef)>,
    /// Watches the range from before it was pinned, if the registration
    /// cache is on: whether the pages are still the range's.
    watch: Option<RangeWatch>,
}

// SAFETY: The umem and pages may be released from any thread.
unsafe impl Send for SharedPages {}

impl SharedPages {
    /// Pins `[start, start + length)` of the calling process and grants it.
    fn new(
        ch: &Channel,
        ibdev: *mut sys::ib_device,
        start: u64,
        length: u64,
        access: i32,
    ) -> Result<Self> {
        // Refused before anything is pinned.
        if pages_spanned(start, length).is_some_and(|n| n > u64::from(ch.max_mr_pages())) {
            return Err(E2BIG);
        }
        // Before pinning: a change after this makes the pages stale. A
        // range we cannot watch is only not cached.
        let watch = (regcache::limit() > 0)
            .then(|| RangeWatch::new(start, length).ok())
            .flatten();
        let t = now_ns();
        // SAFETY: We are in the verb's process context, as ib_umem_get needs.
        let umem = unsafe { sys::xenib_front_umem_get(ibdev, start, length, access) };
        let t = Phase::Pin.lap(t);
        // SAFETY: Any pointer may be tested.
        let err = unsafe { sys::xenib_ptr_err(umem.cast()) };
        if err != 0 {
            return Err(Error::from_errno(err as i32));
        }
        let mut this = SharedPages {
            umem: NonNull::new(umem).ok_or(EFAULT)?,
            start,
            length,
            writable: access_writable(access as u32),
            grants: KVec::new(),
            indirect: KVec::new(),
            directory: KVec::new(),
            watch,
        };
        if let Err(e) = this.grant_all(ch.transport()) {
            // Releases exactly what was granted, and unpins.
            this.release(ch.transport());
            return Err(e);
        }
        Phase::Grant.lap(t);
        Ok(this)
    }

    fn grant_all(&mut self, tr: &Transport) -> Result {
        // SAFETY: `umem` is pinned (type invariant).
        let n = unsafe { sys::xenib_front_umem_page_count(self.umem.as_ptr()) } as usize;
        if n == 0 || n > MAX_MR_PAGES as usize {
            return Err(E2BIG);
        }
        let mut pages = KVec::from_elem(core::ptr::null_mut(), n, GFP_KERNEL)?;
        // SAFETY: `pages` has room for `n` entries.
        kernel::error::to_result(unsafe {
            sys::xenib_front_umem_pages(self.umem.as_ptr(), pages.as_mut_ptr(), n as _)
        })?;
        self.grants.reserve(n, GFP_KERNEL)?;
        for p in pages.iter() {
            let p = NonNull::new(*p).ok_or(EFAULT)?;
            let g = tr.grant_user_page(p, self.writable)?;
            self.grants.push((p, g), GFP_KERNEL)?;
        }
        self.indirect.reserve(indirect_pages_for(n as u32) as usize, GFP_KERNEL)?;
        for chunk in self.grants.chunks(REFS_PER_INDIRECT_PAGE as usize) {
            let page = list_page(tr, chunk.iter().map(|(_, g)| *g))?;
            // Cannot fail: reserved above.
            let _ = self.indirect.push(page, GFP_KERNEL);
        }
        if mr_two_level(n as u32) {
            self.directory.reserve(mr_request_refs(n as u32) as usize, GFP_KERNEL)?;
            for chunk in self.indirect.chunks(REFS_PER_INDIRECT_PAGE as usize) {
                let page = list_page(tr, chunk.iter().map(|(_, g)| *g))?;
                let _ = self.directory.push(page, GFP_KERNEL);
            }
        }
        Ok(())
    }

    /// The references the request carries: the directory pages, if any,
    /// else the indirect pages.
    fn indirect_refs(&self) -> Result<RefList<{ crate::wire::MAX_INDIRECT }>> {
        let pages = if self.directory.is_empty() {
            &self.indirect
        } else {
            &self.directory
        };
        let mut refs = KVec::with_capacity(pages.len(), GFP_KERNEL)?;
        for (_, g) in pages.iter() {
            refs.push(*g, GFP_KERNEL)?;
        }
        RefList::new(&refs).ok_or(E2BIG)
    }

    /// Whether these are the pages of exactly this range, with this
    /// writability.
    pub(crate) fn covers(&self, start: u64, length: u64, writable: bool) -> bool {
        self.start == start && self.length == length && self.writable == writable
    }

    /// Whether the range is one of the calling process and unchanged since
    /// it was pinned (never, if not watched).
    pub(crate) fn unchanged(&self) -> bool {
        self.watch.as_ref().is_some_and(|w| w.unchanged())
    }

    /// Whether the range changed since it was pinned (in its process).
    pub(crate) fn stale(&self) -> bool {
        self.watch.as_ref().is_none_or(|w| w.stale())
    }

    /// Ends every grant and unpins. The backend must no longer use the
    /// pages (deregistered, or never registered).
    pub(crate) fn release(self, tr: &Transport) {
        for (page, g) in self.grants.iter() {
            tr.revoke(*g, *page);
        }
        for (page, g) in Iterator::chain(self.indirect.iter(), self.directory.iter()) {
            tr.revoke(*g, *page);
            // SAFETY: Allocated in `list_page`, no longer granted (the
            // revoke keeps its own reference while the backend maps it).
            unsafe { sys::xenib_put_page(page.as_ptr()) };
        }
        // SAFETY: Pinned in `new` (type invariant).
        unsafe { sys::ib_umem_release(self.umem.as_ptr()) };
    }
}

/// A page of ours listing `refs` (at most 1024), granted to the backend.
fn list_page(
    tr: &Transport,
    refs: impl Iterator<Item = GrantRef>,
) -> Result<(NonNull<sys::page>, GrantRef)> {
    // SAFETY: Plain page allocation, freed in `release` (or below).
    let page = NonNull::new(unsafe { sys::xenib_alloc_zeroed_page() }).ok_or(ENOMEM)?;
    // SAFETY: A page of ours, in the direct map, 1024 refs long.
    let list = unsafe {
        core::slice::from_raw_parts_mut(sys::xenib_page_address(page.as_ptr()).cast::<u8>(), 4096)
    };
    for (dst, g) in list.chunks_exact_mut(4).zip(refs) {
        dst.copy_from_slice(&g.0.to_le_bytes());
    }
    match tr.grant(page) {
        Ok(g) => Ok((page, g)),
        Err(e) => {
            // SAFETY: Allocated above, never shared.
            unsafe { sys::xenib_put_page(page.as_ptr()) };
            Err(e)
        }
    }
}

/// The 4 KiB pages `[start, start + length)` touches, if it is a range.
fn pages_spanned(start: u64, length: u64) -> Option<u64> {
    let last = start.checked_add(length)?.checked_sub(1)?;
    Some((last >> 12) - (start >> 12) + 1)
}

/// Drops the cached ranges of `ctx`, now, and releases the pages of every
/// range still being dropped: the memory is needed (the process's
/// RLIMIT_MEMLOCK or the guest's quota); whether anything was freed.
fn evict_context(ch: &Channel, ctx: CtxHandle) -> bool {
    let mut any = ch.flush_drops();
    while let Some(c) = ch.regcache().take_first(|c| c.ctx == ctx) {
        ch.drop_now(c);
        any = true;
    }
    any
}

/// Drops the cached ranges that changed, without waiting for the backend
/// (their requests go ahead of the caller's), and releases those it has
/// answered for.
fn drop_stale(ch: &Channel) {
    ch.reap_drops();
    while let Some(c) = ch.regcache().take_first(|c| c.shared.stale()) {
        regcache::count_stale();
        ch.drop_cached(c);
    }
}

/// Releases the cached ranges of a closed context (the backend unmapped
/// them), or of every context (`None`: the backend is gone).
pub(crate) fn release_cached(ch: &Channel, ctx: Option<CtxHandle>) {
    match ctx {
        Some(ctx) => ch.forget_drops(ctx),
        None => {
            ch.flush_drops();
        }
    }
    while let Some(c) = ch.regcache().take_first(|c| ctx.is_none_or(|x| c.ctx == x)) {
        c.shared.release(ch.transport());
    }
}

/// Registers `[start, start + length)` over the cached pages `c`; the
/// backend consumes them whatever the outcome.
fn reg_cached(ch: &Channel, c: Cached, pd: PdHandle, iova: u64, access: u32) -> Result<(RegMrRsp, SharedPages)> {
    let req = RegMrCachedReq {
        start: c.shared.start,
        length: c.shared.length,
        iova,
        ctx: c.ctx,
        pd,
        cache: c.cache,
        access,
    };
    let t = now_ns();
    match ch.call(&Request::RegMrCached(req)) {
        Ok(RspBody::RegMrCached(r)) => {
            Phase::CachedRequest.lap(t);
            Ok((r, c.shared))
        }
        other => {
            c.shared.release(ch.transport());
            Err(other.err().unwrap_or(eproto()))
        }
    }
}

/// Pins, grants and registers `[start, start + length)`.
fn reg_new(
    ch: &Channel,
    pd: *mut sys::ib_pd,
    ctx: CtxHandle,
    pd_handle: PdHandle,
    start: u64,
    length: u64,
    iova: u64,
    access: i32,
) -> Result<(RegMrRsp, SharedPages)> {
    // SAFETY: The core passes one of our PDs.
    let pin = || SharedPages::new(ch, unsafe { (*pd).device }, start, length, access);
    // Kept pages count in the process's RLIMIT_MEMLOCK: make room.
    let shared = match pin() {
        Err(e) if e == ENOMEM && evict_context(ch, ctx) => pin()?,
        r => r?,
    };
    let req = RegMrReq {
        start,
        length,
        iova,
        ctx,
        pd: pd_handle,
        access: access as u32,
        nr_pages: shared.grants.len() as u32,
        indirect: match shared.indirect_refs() {
            Ok(r) => r,
            Err(e) => {
                shared.release(ch.transport());
                return Err(e);
            }
        },
    };
    let t = now_ns();
    let mut r = ch.call(&Request::RegMr(req));
    // Kept pages count in the guest's quota: make room for these.
    if matches!(r, Err(e) if e == crate::errno::edquot() || e == ENOSPC) && evict_context(ch, ctx) {
        r = ch.call(&Request::RegMr(req));
    }
    match r {
        Ok(RspBody::RegMr(r)) => {
            Phase::Request.lap(t);
            Ok((r, shared))
        }
        other => {
            shared.release(ch.transport());
            Err(other.err().unwrap_or(eproto()))
        }
    }
}

fn reg(
    pd: *mut sys::ib_pd,
    start: u64,
    length: u64,
    iova: u64,
    access: i32,
    udata: *mut sys::ib_udata,
) -> Result<*mut sys::ib_mr> {
    // SAFETY: The core passes one of our PDs and this verb's udata.
    let (ch, xpd, ctx) = unsafe { (channel((*pd).device), &*pd.cast::<XibPd>(), ctx_of(udata)?) };
    let pd_handle = PdHandle(xpd.handle);
    drop_stale(ch);
    let cached = ch
        .regcache()
        .take(CtxHandle(ctx), start, length, access_writable(access as u32));
    let hit = cached.and_then(|c| reg_cached(ch, c, pd_handle, iova, access as u32).ok());
    regcache::count(hit.is_some());
    let (rsp, shared) = match hit {
        Some(h) => h,
        None => reg_new(ch, pd, CtxHandle(ctx), pd_handle, start, length, iova, access)?,
    };
    // A context's requests are served in order: the drops sent ahead of
    // ours (`drop_stale`) are answered if they were this context's.
    ch.reap_drops();
    let mr = KBox::new(
        XibMr {
            ibmr: sys::ib_mr {
                lkey: rsp.lkey,
                rkey: rsp.rkey,
                ..Default::default()
            },
            handle: rsp.mr.0,
            ctx,
            access: access as u32,
            shared,
        },
        GFP_KERNEL,
    );
    match mr {
        Ok(mr) => Ok(KBox::into_raw(mr).cast::<sys::ib_mr>()),
        Err(e) => {
            let _ = ch.call(&Request::DeregMr(DeregMrReq {
                ctx: CtxHandle(ctx),
                mr: rsp.mr,
            }));
            Err(e.into())
        }
    }
}

pub(crate) unsafe extern "C" fn reg_user_mr(
    pd: *mut sys::ib_pd,
    start: u64,
    length: u64,
    iova: u64,
    access: core::ffi::c_int,
    udata: *mut sys::ib_udata,
) -> *mut sys::ib_mr {
    match reg(pd, start, length, iova, access, udata) {
        Ok(mr) => mr,
        // SAFETY: Encodes an errno as the core expects.
        Err(e) => unsafe { sys::xenib_err_ptr(e.to_errno() as _) }.cast(),
    }
}

/// Deregisters `xmr` at the driver but has the backend keep its pages
/// mapped, if the cache is on and its range unchanged; the backend's name
/// for them.
fn dereg_keep(ch: &Channel, xmr: &XibMr) -> Option<CacheHandle> {
    if regcache::limit() == 0 || !xmr.shared.unchanged() {
        return None;
    }
    drop_stale(ch);
    while ch.regcache().full() {
        ch.drop_cached(ch.regcache().take_first(|_| true)?);
    }
    let req = DeregMrReq {
        ctx: CtxHandle(xmr.ctx),
        mr: MrHandle(xmr.handle),
    };
    match ch.call(&Request::DeregMrKeep(req)) {
        Ok(RspBody::DeregMrKeep(r)) => Some(r.cache),
        _ => None,
    }
}

pub(crate) unsafe extern "C" fn dereg_mr(
    ibmr: *mut sys::ib_mr,
    _udata: *mut sys::ib_udata,
) -> core::ffi::c_int {
    // SAFETY: Our MRs are `XibMr`s boxed in `reg`.
    let (ch, xmr) = unsafe { (channel((*ibmr).device), &*ibmr.cast::<XibMr>()) };
    let t = now_ns();
    let kept = dereg_keep(ch, xmr);
    if kept.is_none() {
        let req = DeregMrReq {
            ctx: CtxHandle(xmr.ctx),
            mr: MrHandle(xmr.handle),
        };
        if let Err(e) = ch.release(&Request::DeregMr(req)) {
            return e.to_errno();
        }
    }
    let t = Phase::DeregRequest.lap(t);
    ch.reap_drops();
    // SAFETY: Boxed in `reg`; the core forgets the MR after this.
    let mr = unsafe { KBox::from_raw(ibmr.cast::<XibMr>()) };
    let XibMr { shared, ctx, .. } = KBox::into_inner(mr);
    match kept {
        Some(cache) => {
            let c = Cached {
                ctx: CtxHandle(ctx),
                cache,
                shared,
            };
            if let Err(c) = ch.regcache().put(c) {
                ch.drop_cached(c);
            }
        }
        None => {
            shared.release(ch.transport());
            Phase::DeregRelease.lap(t);
        }
    }
    0
}

/// Kernel consumers only.
pub(crate) unsafe extern "C" fn get_dma_mr(
    _pd: *mut sys::ib_pd,
    _access: core::ffi::c_int,
) -> *mut sys::ib_mr {
    // SAFETY: Encodes an errno as the core expects.
    unsafe { sys::xenib_err_ptr(eopnotsupp().to_errno() as _) }.cast()
}

fn rereg(
    ibmr: *mut sys::ib_mr,
    flags: i32,
    start: u64,
    length: u64,
    iova: u64,
    access: i32,
    pd: *mut sys::ib_pd,
) -> Result<*mut sys::ib_mr> {
    // SAFETY: The core passes one of our MRs (boxed `XibMr`s) and, with
    // IB_MR_REREG_PD, one of our PDs.
    let (ch, xmr) = unsafe { (channel((*ibmr).device), &mut *ibmr.cast::<XibMr>()) };
    let mut flags = flags as u32;
    let new_access = if flags & REREG_ACCESS != 0 {
        access as u32
    } else {
        xmr.access
    };
    // Pages shared read-only must be pinned and granted again for the
    // device to write them: same range, new translation.
    let (start, length, iova) = if flags & REREG_TRANS == 0
        && access_writable(new_access)
        && !xmr.shared.writable
    {
        flags |= REREG_TRANS;
        (xmr.shared.start, xmr.shared.length, xmr.ibmr.iova)
    } else {
        (start, length, iova)
    };
    let pd_handle = if flags & REREG_PD != 0 && !pd.is_null() {
        // SAFETY: As above.
        unsafe { (*pd.cast::<XibPd>()).handle }
    } else {
        0
    };
    let shared = if flags & REREG_TRANS != 0 {
        // SAFETY: As above: the MR's device.
        Some(SharedPages::new(
            ch,
            unsafe { (*ibmr).device },
            start,
            length,
            new_access as i32,
        )?)
    } else {
        None
    };
    let indirect = match shared.as_ref().map(|s| s.indirect_refs()).transpose() {
        Ok(r) => r.unwrap_or_default(),
        Err(e) => {
            if let Some(s) = shared {
                s.release(ch.transport());
            }
            return Err(e);
        }
    };
    let req = ReregMrReq {
        start: if shared.is_some() { start } else { 0 },
        length: if shared.is_some() { length } else { 0 },
        iova: if shared.is_some() { iova } else { 0 },
        ctx: CtxHandle(xmr.ctx),
        mr: MrHandle(xmr.handle),
        flags,
        pd: PdHandle(pd_handle),
        access: if flags & REREG_ACCESS != 0 {
            access as u32
        } else {
            0
        },
        nr_pages: shared.as_ref().map_or(0, |s| s.grants.len() as u32),
        indirect,
    };
    match ch.call(&Request::ReregMr(req)) {
        Ok(RspBody::ReregMr(r)) => {
            xmr.ibmr.lkey = r.lkey;
            xmr.ibmr.rkey = r.rkey;
            xmr.access = new_access;
            if let Some(new) = shared {
                // The backend now uses the new pages only.
                core::mem::replace(&mut xmr.shared, new).release(ch.transport());
            }
            // Modified in place: the core keeps this MR.
            Ok(core::ptr::null_mut())
        }
        other => {
            if let Some(s) = shared {
                s.release(ch.transport());
            }
            Err(other.err().unwrap_or(eproto()))
        }
    }
}

pub(crate) unsafe extern "C" fn rereg_user_mr(
    ibmr: *mut sys::ib_mr,
    flags: core::ffi::c_int,
    start: u64,
    length: u64,
    iova: u64,
    access: core::ffi::c_int,
    pd: *mut sys::ib_pd,
    _udata: *mut sys::ib_udata,
) -> *mut sys::ib_mr {
    match rereg(ibmr, flags, start, length, iova, access, pd) {
        Ok(mr) => mr,
        // SAFETY: Encodes an errno as the core expects.
        Err(e) => unsafe { sys::xenib_err_ptr(e.to_errno() as _) }.cast(),
    }
}
