// SPDX-License-Identifier: GPL-2.0

//! Memory regions over guest memory.
//!
//! The front pins the guest pages and grants them, listing the grant
//! references in granted indirect pages (as blkif's indirect segments).
//! We map every page, make the whole list appear as one virtual range of
//! the service process (`xenib_back_map_pages`) and register that range
//! with the real driver, with the guest's address as the `iova`. The
//! driver then reads and writes guest memory directly.

use kernel::prelude::*;

use crate::context::Context;
use crate::loop_grants::MappedPage;
use crate::loopback::Loopback;
use crate::stats::{Obj, Stats};
use crate::sys;
use crate::uverbs::{bytes_of_mut, Service};
use crate::wire::{
    DeregMrReq, GrantRef, MrHandle, RefList, RegMrReq, RegMrRsp, ReregMrReq, ReregMrRsp,
    MAX_INDIRECT, REFS_PER_INDIRECT_PAGE, REREG_TRANS,
};

pub(crate) const MAX_MRS_PER_CONTEXT: usize = 1 << 14;
const PAGE: u64 = 4096;

/// Guest pages mapped into the service process.
///
/// # Invariants
///
/// `addr..addr + 4096 * pages.len()` maps `ptrs` (one entry per page of
/// `pages`, whose references keep them alive) in the service process.
pub(crate) struct GuestPages {
    addr: usize,
    ptrs: KVec<*mut sys::page>,
    /// Held for the page references it carries.
    #[allow(dead_code)]
    pages: KVec<MappedPage>,
}

// SAFETY: Page pointers and references can be used on any thread.
unsafe impl Send for GuestPages {}

impl GuestPages {
    fn map(
        svc: &Service,
        transport: &Loopback,
        nr_pages: u32,
        indirect: &RefList<MAX_INDIRECT>,
    ) -> Result<Self> {
        let nr = nr_pages as usize;
        let mut pages = KVec::with_capacity(nr, GFP_KERNEL)?;
        let mut ptrs = KVec::with_capacity(nr, GFP_KERNEL)?;
        let mut list = [0u8; 4096];
        for (k, ind) in indirect.as_slice().iter().enumerate() {
            // Copy the list out once; the guest may change it under us.
            transport.map_grant(*ind)?.read(&mut list);
            let first = k * REFS_PER_INDIRECT_PAGE as usize;
            let count = core::cmp::min(nr - first, REFS_PER_INDIRECT_PAGE as usize);
            for r in list.chunks_exact(4).take(count) {
                let r = GrantRef(u32::from_le_bytes([r[0], r[1], r[2], r[3]]));
                let page = transport.map_grant(r)?;
                ptrs.push(page.as_ptr(), GFP_KERNEL)?;
                pages.push(page, GFP_KERNEL)?;
            }
        }
        if pages.len() != nr {
            return Err(EINVAL);
        }
        // SAFETY: `ptrs` holds `nr` pages we hold references to; the array
        // outlives the mapping (we unmap in `drop`). We are in the service.
        let addr =
            unsafe { sys::xenib_back_map_pages(svc.file().as_ptr(), ptrs.as_mut_ptr(), nr as _) };
        if addr as isize >= -4095 && addr as isize <= -1 {
            return Err(Error::from_errno(addr as i32));
        }
        // INVARIANT: mapped above.
        Ok(Self {
            addr: addr as usize,
            ptrs,
            pages,
        })
    }
}

impl Drop for GuestPages {
    fn drop(&mut self) {
        // SAFETY: Mapped in `map` (type invariant); MRs are dropped in the
        // service process (see `Context`).
        unsafe { sys::xenib_back_unmap_pages(self.addr as _, self.ptrs.len() as _) };
    }
}

/// A registered guest MR.
pub(crate) struct GuestMr {
    handle: u32,
    pages: GuestPages,
}

fn reg_cmd(
    ctx: &Context,
    svc: &Service,
    pages: &GuestPages,
    req: &RegMrReq,
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

pub(crate) fn reg(
    ctx: &mut Context,
    svc: &Service,
    transport: &Loopback,
    stats: &Stats,
    req: &RegMrReq,
) -> Result<RegMrRsp> {
    req.check().map_err(|_| EINVAL)?;
    ctx.mrs.reserve()?;
    let pages = GuestPages::map(svc, transport, req.nr_pages, &req.indirect)?;
    let resp = reg_cmd(ctx, svc, &pages, req)?;
    // Cannot fail after `reserve`.
    ctx.mrs.insert(GuestMr {
        handle: resp.mr_handle,
        pages,
    })?;
    ctx.mr_pages += req.nr_pages as usize;
    stats.add(Obj::Mr, 1);
    Ok(RegMrRsp {
        mr: MrHandle(resp.mr_handle),
        lkey: resp.lkey,
        rkey: resp.rkey,
    })
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
    dereg_cmd(ctx, svc, req.mr.0)?;
    // The driver has unpinned the pages: now unmap them.
    if let Some(mr) = ctx.mrs.remove(i) {
        ctx.mr_pages -= mr.pages.ptrs.len();
    }
    stats.add(Obj::Mr, -1);
    Ok(())
}

pub(crate) fn rereg(
    ctx: &mut Context,
    svc: &Service,
    transport: &Loopback,
    req: &ReregMrReq,
) -> Result<ReregMrRsp> {
    req.check().map_err(|_| EINVAL)?;
    let i = ctx.mrs.position(|m| m.handle == req.mr.0).ok_or(EINVAL)?;
    let new_pages = if req.flags & REREG_TRANS != 0 {
        Some(GuestPages::map(
            svc,
            transport,
            req.nr_pages,
            &req.indirect,
        )?)
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
    if let (Some(p), Some(mr)) = (new_pages, ctx.mrs.get_mut(i)) {
        let new = p.ptrs.len();
        let old = core::mem::replace(&mut mr.pages, p).ptrs.len();
        ctx.mr_pages = ctx.mr_pages - old + new;
    }
    Ok(ReregMrRsp {
        lkey: resp.lkey,
        rkey: resp.rkey,
    })
}
