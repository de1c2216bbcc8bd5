// SPDX-License-Identifier: GPL-2.0

//! Driver mmap regions (queues, doorbells) shared with the guest.
//!
//! The provider in the guest mmaps an offset the driver returned in a
//! create response. We map the same offset of our uverbs file into the
//! service process, which makes the driver set the region up exactly as
//! for a local process, pin its pages and grant them to the frontend,
//! which maps them into the guest process. From then on the guest reads
//! and writes the driver's queues in place.

use core::ptr::NonNull;
use kernel::prelude::*;

use crate::context::Context;
use crate::stats::{Obj, Stats};
use crate::sys;
use crate::transport::Transport;
use crate::uverbs::Service;
use crate::wire::{GrantRef, MmapReq, MmapRsp, MunmapReq, RefList, MAX_MMAP_REFS_PER_RSP};

/// Largest region we map for a guest (rxe queues of the device maxima fit).
const MAX_MMAP_BYTES: u64 = 64 << 20;
/// Regions one context may have mapped at once.
pub(crate) const MAX_MMAPS_PER_CONTEXT: usize = 4096;
const PAGE: u64 = 4096;

/// One driver region: mapped in the service, pinned, granted.
///
/// # Invariants
///
/// `addr..addr+len` is mapped in the service process and `pages` are
/// pinned from it; each of `grants` is outstanding.
pub(crate) struct MmapRegion {
    offset: u64,
    addr: usize,
    len: usize,
    pages: KVec<*mut sys::page>,
    grants: KVec<GrantRef>,
}

// SAFETY: The raw page pointers are pinned pages, usable from any thread.
unsafe impl Send for MmapRegion {}

impl MmapRegion {
    /// Releases the region; must run in the service process.
    pub(crate) fn release(mut self, _svc: &Service, transport: &Transport, stats: &Stats) {
        for (g, p) in core::mem::take(&mut self.grants)
            .into_iter()
            .zip(self.pages.iter())
        {
            if let Some(p) = NonNull::new(*p) {
                transport.revoke(stats, g, p);
            }
        }
        // SAFETY: The pages were pinned by `xenib_back_pin_pages`.
        unsafe { sys::xenib_back_unpin_pages(self.pages.as_mut_ptr(), self.pages.len() as _) };
        // SAFETY: We are in the service process (caller holds `Service`).
        unsafe { sys::xenib_back_vm_munmap(self.addr as _, self.len as _) };
        stats.add(Obj::Mmap, -1);
    }
}

fn map_region(
    ctx: &Context,
    svc: &Service,
    transport: &Transport,
    stats: &Stats,
    offset: u64,
    length: u64,
) -> Result<MmapRegion> {
    if length == 0 || length % PAGE != 0 || length > MAX_MMAP_BYTES || offset % PAGE != 0 {
        return Err(EINVAL);
    }
    let nr = (length / PAGE) as usize;
    // SAFETY: We are in the service process; the driver checks the offset.
    let addr = unsafe { sys::xenib_back_vm_mmap(ctx.file.as_ptr(), length as _, offset) };
    if addr as isize >= -4095 && addr as isize <= -1 {
        return Err(Error::from_errno(addr as i32));
    }
    let unmap = |e: Error| {
        // SAFETY: Mapped just above, in this process.
        unsafe { sys::xenib_back_vm_munmap(addr as _, length as _) };
        e
    };
    let mut pages =
        KVec::from_elem(core::ptr::null_mut(), nr, GFP_KERNEL).map_err(|e| unmap(e.into()))?;
    // SAFETY: `pages` has room for `nr` entries; the range is ours.
    let pinned = unsafe { sys::xenib_back_pin_pages(addr as _, nr as _, pages.as_mut_ptr()) };
    if pinned != nr as _ {
        if pinned > 0 {
            // SAFETY: These were pinned just above.
            unsafe { sys::xenib_back_unpin_pages(pages.as_mut_ptr(), pinned as _) };
        }
        return Err(unmap(if pinned < 0 {
            Error::from_errno(pinned as i32)
        } else {
            EFAULT
        }));
    }
    stats.add(Obj::Mmap, 1);
    let mut region = MmapRegion {
        offset,
        addr: addr as usize,
        len: length as usize,
        pages,
        grants: KVec::new(),
    };
    for i in 0..nr {
        let page = NonNull::new(region.pages[i]).ok_or(EFAULT);
        let g = page.and_then(|p| {
            let g = transport.grant(stats, p)?;
            region.grants.push(g, GFP_KERNEL).map_err(|e| {
                transport.revoke(stats, g, p);
                Error::from(e)
            })
        });
        if let Err(e) = g {
            region.release(svc, transport, stats);
            return Err(e);
        }
    }
    Ok(region)
}

/// `Mmap`: returns (a chunk of) the grants for a driver region, mapping
/// it on first use.
pub(crate) fn mmap(
    ctx: &mut Context,
    svc: &Service,
    transport: &Transport,
    stats: &Stats,
    req: &MmapReq,
) -> Result<MmapRsp> {
    let idx = match ctx.mmaps.position(|r| r.offset == req.offset) {
        Some(i) => i,
        None => {
            ctx.mmaps.reserve()?;
            let region = map_region(ctx, svc, transport, stats, req.offset, req.length)?;
            // Cannot fail after `reserve`; on failure the region would leak.
            ctx.mmaps.insert(region)?
        }
    };
    let region = ctx.mmaps.get(idx).ok_or(EINVAL)?;
    if region.len as u64 != req.length {
        return Err(EINVAL);
    }
    let grants = &region.grants;
    let first = req.first_page as usize;
    if first >= grants.len() {
        return Err(EINVAL);
    }
    let end = core::cmp::min(grants.len(), first + MAX_MMAP_REFS_PER_RSP);
    Ok(MmapRsp {
        total_pages: grants.len() as u32,
        refs: RefList::new(&grants[first..end]).ok_or(EINVAL)?,
    })
}

/// `Munmap`: the guest unmapped a region.
pub(crate) fn munmap(
    ctx: &mut Context,
    svc: &Service,
    transport: &Transport,
    stats: &Stats,
    req: &MunmapReq,
) -> Result {
    let i = ctx
        .mmaps
        .position(|r| r.offset == req.offset)
        .ok_or(ENOENT)?;
    let region = ctx.mmaps.remove(i).ok_or(ENOENT)?;
    region.release(svc, transport, stats);
    Ok(())
}
