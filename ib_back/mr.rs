// SPDX-License-Identifier: GPL-2.0

//! Memory regions over guest memory.
//!
//! The front pins the guest pages and grants them, listing the grant
//! references in granted indirect pages (as blkif's indirect segments);
//! beyond 128 MiB, the request names directory pages that list the
//! indirect pages.
//! We map every page, make the whole list appear as one virtual range of
//! the context's server, at the guest's own address where nothing else is
//! mapped (else in the server's private zone), and register that range
//! with the real driver, with the guest's address as the `iova`. The
//! driver then reads and writes guest memory directly. Pages are mapped
//! writable only if the MR's access lets the device write them
//! (`access_writable`): a guest's read-only grants stay read-only, and a
//! read-only MR never becomes writable over the same pages.
//!
//! The registration cache (`DeregMrKeep`, `RegMrCached`, `DropCached`):
//! a deregistration may keep the pages mapped in the server (the MR
//! itself is deregistered at the driver, so its keys die), and a later
//! registration of the same range registers over them again without
//! reading the lists or mapping the grants. Whether the guest's range
//! still holds those pages is the front's business (it watches the range
//! and drops what changed); we only check that the pages cover the range
//! and have the writability the access needs. Kept pages stay counted in
//! the context's `mr_pages`, so in the guest's quota.

use kernel::prelude::*;

use crate::context::Context;
use crate::frontend::FrontendName;
use crate::poll::now_ns;
use crate::stats::{Obj, Stats};
use crate::sys::{self, warn_ratelimited};
use crate::transport::{GuestPages, Transport};
use crate::uverbs::{bytes_of_mut, Service};
use crate::wire::{
    access_writable, indirect_pages_for, mr_two_level, CacheHandle, CachedReq, DeregMrKeepRsp,
    DeregMrReq, GrantRef, MrHandle, PdHandle, RefList, RegMrCachedReq, RegMrReq, RegMrRsp,
    ReregMrReq, ReregMrRsp, MAX_INDIRECT, REFS_PER_INDIRECT_PAGE, REREG_ACCESS, REREG_TRANS,
};

pub(crate) const MAX_MRS_PER_CONTEXT: usize = 1 << 14;
/// Kept page ranges (`DeregMrKeep`) of one context.
pub(crate) const MAX_KEPT_PER_CONTEXT: usize = 1 << 10;
const PAGE: u64 = 4096;

/// The phases of a registration and a deregistration whose time the
/// counters show (`phase_us.*`, `stats.rs`): reading the grant
/// references from the indirect pages; mapping the grants (Xen: the grant
/// map operations, which on PV also write the service's PTEs; loopback:
/// looking the pages up); the rest of placing them in the service
/// process; the driver's own registration (rxe pins the pages again and
/// builds its page table); for a deregistration the driver's part and
/// unmapping (not for one that keeps the pages); and the driver's part of
/// a registration over kept pages (`RegMrCached`).
pub(crate) const PHASES: [&str; 7] = [
    "reg.list",
    "reg.map_grants",
    "reg.map_service",
    "reg.driver",
    "dereg.driver",
    "dereg.unmap",
    "reg_cached.driver",
];
#[derive(Clone, Copy)]
enum Phase {
    List = 0,
    MapGrants,
    MapService,
    Driver,
    DeregDriver,
    DeregUnmap,
    CachedDriver,
}

impl Phase {
    /// Counts this phase from `since` until now, in `stats`; returns now.
    fn lap(self, stats: &Stats, since: i64) -> i64 {
        stats.mr_phases.lap(self as usize, since)
    }
}

/// Maps the guest pages a registration names: the grant references are
/// read from the indirect pages (each copied out once), then the pages are
/// mapped into the service process as one range, writable if `writable`.
fn map_guest(
    svc: &Service,
    transport: &Transport,
    stats: &Stats,
    start: u64,
    nr_pages: u32,
    indirect: &RefList<MAX_INDIRECT>,
    writable: bool,
) -> Result<GuestPages> {
    let nr = nr_pages as usize;
    let t = now_ns();
    let mut list = KBox::new([0u8; 4096], GFP_KERNEL)?;
    // A two-level list: the request names directory pages, which list the
    // indirect pages.
    let directory;
    let indirect = if mr_two_level(nr_pages) {
        directory = read_refs(transport, indirect.as_slice(), indirect_pages_for(nr_pages) as usize, &mut list)?;
        &directory[..]
    } else {
        indirect.as_slice()
    };
    let refs = read_refs(transport, indirect, nr, &mut list)?;
    let t = Phase::List.lap(stats, t);
    let at = (start - start % PAGE) as usize;
    let mut grant_ns = 0;
    let pages = match transport.map_guest_pages(svc, &refs, Some(at), !writable, &mut grant_ns) {
        // Overlaps another registration (or is no user address).
        Err(e) if e == EEXIST => {
            transport.map_guest_pages(svc, &refs, None, !writable, &mut grant_ns)
        }
        r => r,
    }?;
    let total = (now_ns() - t).max(0) as u64;
    stats.mr_phases.add(Phase::MapGrants as usize, grant_ns);
    stats.mr_phases.add(Phase::MapService as usize, total.saturating_sub(grant_ns));
    Ok(pages)
}

/// Reads `count` grant references from the granted list pages `pages`
/// (1024 to a page, each page copied out once).
fn read_refs(
    transport: &Transport,
    pages: &[GrantRef],
    count: usize,
    list: &mut KBox<[u8; 4096]>,
) -> Result<KVec<GrantRef>> {
    let mut refs = KVec::with_capacity(count, GFP_KERNEL)?;
    for page in pages {
        transport.read_granted(*page, list)?;
        let n = core::cmp::min(count - refs.len(), REFS_PER_INDIRECT_PAGE as usize);
        for r in list.chunks_exact(4).take(n) {
            refs.push(GrantRef(u32::from_le_bytes([r[0], r[1], r[2], r[3]])), GFP_KERNEL)?;
        }
    }
    if refs.len() != count {
        return Err(EINVAL);
    }
    Ok(refs)
}

/// A registered guest MR.
pub(crate) struct GuestMr {
    handle: u32,
    pages: GuestPages,
    /// Its access flags, and whether its pages are mapped writable.
    access: u32,
    writable: bool,
}

/// What a registration asks the driver for, whichever request carried it.
struct RegArgs {
    start: u64,
    length: u64,
    iova: u64,
    pd: PdHandle,
    access: u32,
}

/// The `RegArgs` of a `RegMr` or `RegMrCached` request.
macro_rules! reg_args {
    ($req:expr) => {
        RegArgs {
            start: $req.start,
            length: $req.length,
            iova: $req.iova,
            pd: $req.pd,
            access: $req.access,
        }
    };
}

fn reg_cmd(
    ctx: &Context,
    svc: &Service,
    pages: &GuestPages,
    req: &RegArgs,
) -> Result<sys::ib_uverbs_reg_mr_resp> {
    let mut cmd = sys::ib_uverbs_reg_mr {
        start: pages.addr as u64 + req.start % PAGE,
        length: req.length,
        hca_va: req.iova,
        pd_handle: req.pd.0,
        access_flags: req.access,
        ..Default::default()
    };
    let mut resp = sys::ib_uverbs_reg_mr_resp::default();
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_REG_MR,
        &mut cmd,
        &[],
        bytes_of_mut(&mut resp),
        &mut [],
    )?;
    Ok(resp)
}

/// Records the MR the driver registered over `pages`.
fn registered(
    ctx: &mut Context,
    stats: &Stats,
    resp: sys::ib_uverbs_reg_mr_resp,
    pages: GuestPages,
    access: u32,
    writable: bool,
) -> Result<RegMrRsp> {
    // Cannot fail after `reserve`.
    ctx.mrs.insert(GuestMr {
        handle: resp.mr_handle,
        pages,
        access,
        writable,
    })?;
    stats.add(Obj::Mr, 1);
    Ok(RegMrRsp {
        mr: MrHandle(resp.mr_handle),
        lkey: resp.lkey,
        rkey: resp.rkey,
    })
}

pub(crate) fn reg(
    ctx: &mut Context,
    svc: &Service,
    transport: &Transport,
    stats: &Stats,
    req: &RegMrReq,
) -> Result<RegMrRsp> {
    req.check().map_err(|_| EINVAL)?;
    ctx.mrs.reserve()?;
    let writable = access_writable(req.access);
    let pages = map_guest(svc, transport, stats, req.start, req.nr_pages, &req.indirect, writable)?;
    let t = now_ns();
    let args = reg_args!(req);
    let resp = reg_cmd(ctx, svc, &pages, &args)?;
    Phase::Driver.lap(stats, t);
    ctx.mr_pages += req.nr_pages as usize;
    registered(ctx, stats, resp, pages, req.access, writable)
}

fn dereg_cmd(ctx: &Context, svc: &Service, handle: u32) -> Result {
    let mut cmd = sys::ib_uverbs_dereg_mr { mr_handle: handle };
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_DEREG_MR,
        &mut cmd,
        &[],
        &mut [],
        &mut [],
    )
}

pub(crate) fn dereg(ctx: &mut Context, svc: &Service, stats: &Stats, req: &DeregMrReq) -> Result {
    let i = ctx.mrs.position(|m| m.handle == req.mr.0).ok_or(EINVAL)?;
    let t = now_ns();
    dereg_cmd(ctx, svc, req.mr.0)?;
    let t = Phase::DeregDriver.lap(stats, t);
    // The driver has unpinned the pages: now unmap them.
    if let Some(mr) = ctx.mrs.remove(i) {
        ctx.mr_pages -= mr.pages.nr;
    }
    Phase::DeregUnmap.lap(stats, t);
    stats.add(Obj::Mr, -1);
    Ok(())
}

/// Guest pages still mapped after their MR was deregistered
/// (`DeregMrKeep`), for a later `RegMrCached`.
pub(crate) struct KeptPages {
    pages: GuestPages,
    writable: bool,
}

/// `DeregMrKeep`: deregisters at the driver (the keys die here) but keeps
/// the pages mapped.
pub(crate) fn dereg_keep(
    ctx: &mut Context,
    svc: &Service,
    stats: &Stats,
    req: &DeregMrReq,
) -> Result<DeregMrKeepRsp> {
    let i = ctx.mrs.position(|m| m.handle == req.mr.0).ok_or(EINVAL)?;
    // Room to keep them before the MR goes.
    ctx.kept.reserve()?;
    let t = now_ns();
    dereg_cmd(ctx, svc, req.mr.0)?;
    Phase::DeregDriver.lap(stats, t);
    let mr = ctx.mrs.remove(i).ok_or(EINVAL)?;
    stats.add(Obj::Mr, -1);
    // Cannot fail after `reserve`.
    let cache = ctx.kept.insert(KeptPages {
        pages: mr.pages,
        writable: mr.writable,
    })?;
    stats.add(Obj::Cached, 1);
    Ok(DeregMrKeepRsp {
        cache: CacheHandle(cache as u32),
    })
}

/// Takes the kept pages `cache` out of the context: `EINVAL` (and a log
/// line naming the guest) if there are none.
fn take_kept(
    ctx: &mut Context,
    transport: &Transport,
    stats: &Stats,
    cache: CacheHandle,
) -> Result<KeptPages> {
    let Some(kept) = ctx.kept.remove(cache.0 as usize) else {
        warn_ratelimited!(
            "{}: no kept pages {}\n",
            FrontendName::of(transport),
            cache.0
        );
        return Err(EINVAL);
    };
    stats.add(Obj::Cached, -1);
    Ok(kept)
}

/// `RegMrCached`: registers over kept pages, which it consumes: on
/// failure they are unmapped.
pub(crate) fn reg_cached(
    ctx: &mut Context,
    svc: &Service,
    transport: &Transport,
    stats: &Stats,
    req: &RegMrCachedReq,
) -> Result<RegMrRsp> {
    // The request consumes the kept pages whatever its outcome
    // (ring-protocol.rst): the front ends their grants once it is
    // answered, so they are taken before anything else may fail.
    let kept = take_kept(ctx, transport, stats, req.cache)?;
    let usable = (|| -> Result {
        req.check().map_err(|_| EINVAL)?;
        ctx.mrs.reserve()?;
        Ok(())
    })();
    if let Err(e) = usable {
        ctx.mr_pages -= kept.pages.nr;
        return Err(e);
    }
    let writable = access_writable(req.access);
    let fits = (req.start % PAGE)
        .checked_add(req.length)
        .is_some_and(|end| end <= kept.pages.nr as u64 * PAGE);
    if writable != kept.writable || !fits {
        warn_ratelimited!(
            "{}: kept pages {} do not fit a registration\n",
            FrontendName::of(transport),
            req.cache.0
        );
        ctx.mr_pages -= kept.pages.nr;
        return Err(EINVAL);
    }
    let t = now_ns();
    let args = reg_args!(req);
    let resp = match reg_cmd(ctx, svc, &kept.pages, &args) {
        Ok(r) => r,
        Err(e) => {
            ctx.mr_pages -= kept.pages.nr;
            return Err(e);
        }
    };
    Phase::CachedDriver.lap(stats, t);
    registered(ctx, stats, resp, kept.pages, req.access, writable)
}

/// `DropCached`: unmaps kept pages.
pub(crate) fn drop_cached(
    ctx: &mut Context,
    transport: &Transport,
    stats: &Stats,
    req: &CachedReq,
) -> Result {
    let kept = take_kept(ctx, transport, stats, req.cache)?;
    ctx.mr_pages -= kept.pages.nr;
    Ok(())
}

pub(crate) fn rereg(
    ctx: &mut Context,
    svc: &Service,
    transport: &Transport,
    stats: &Stats,
    req: &ReregMrReq,
) -> Result<ReregMrRsp> {
    req.check().map_err(|_| EINVAL)?;
    let i = ctx.mrs.position(|m| m.handle == req.mr.0).ok_or(EINVAL)?;
    let mr = ctx.mrs.get_mut(i).ok_or(EINVAL)?;
    let access = if req.flags & REREG_ACCESS != 0 {
        req.access
    } else {
        mr.access
    };
    let writable = access_writable(access);
    let new_pages = if req.flags & REREG_TRANS != 0 {
        Some(map_guest(svc, transport, stats, req.start, req.nr_pages, &req.indirect, writable)?)
    } else if writable && !mr.writable {
        // The device would write pages the guest shared read-only.
        warn_ratelimited!(
            "{}: refused making a read-only MR writable without new pages\n",
            FrontendName::of(transport)
        );
        return Err(EPERM);
    } else {
        None
    };
    let start = new_pages
        .as_ref()
        .map_or(0, |p| p.addr as u64 + req.start % PAGE);
    let mut cmd = sys::ib_uverbs_rereg_mr {
        mr_handle: req.mr.0,
        flags: req.flags,
        start,
        length: req.length,
        hca_va: req.iova,
        pd_handle: req.pd.0,
        access_flags: req.access,
        ..Default::default()
    };
    let mut resp = sys::ib_uverbs_rereg_mr_resp::default();
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_REREG_MR,
        &mut cmd,
        &[],
        bytes_of_mut(&mut resp),
        &mut [],
    )?;
    let Some(mr) = ctx.mrs.get_mut(i) else {
        return Err(EINVAL);
    };
    mr.access = access;
    if let Some(p) = new_pages {
        mr.writable = writable;
        let new = p.nr;
        let old = core::mem::replace(&mut mr.pages, p).nr;
        ctx.mr_pages = ctx.mr_pages - old + new;
    }
    Ok(ReregMrRsp {
        lkey: resp.lkey,
        rkey: resp.rkey,
    })
}
