// SPDX-License-Identifier: GPL-2.0

//! Driver mmap regions (queues, doorbells) shared with the guest.
//!
//! The provider in the guest mmaps an offset the driver returned in a
//! create response. We map the same offset of our uverbs file into the
//! service process, which makes the driver set the region up exactly as
//! for a local process, pin its pages and grant them to the frontend,
//! which maps them into the guest process. From then on the guest reads
//! and writes the driver's queues in place.
//!
//! A hardware driver maps its doorbell pages (`rdma_user_mmap_io`) as
//! device memory, which cannot be pinned or granted: for those we find
//! the I/O frames and have Xen let the guest's domain map exactly them
//! (`iomem.rs`).

use core::ptr::NonNull;
use kernel::prelude::*;

use crate::context::Context;
use crate::errno::eopnotsupp;
use crate::iomem::{IoClaim, IoFrames as GivenFrames};
use crate::stats::{Obj, Stats};
use crate::sys::{self, warn_ratelimited};
use crate::transport::Transport;
use crate::uverbs::Service;
use crate::provider::Region;
use crate::wire::{
    CtxHandle, FrameList, GrantRef, IoCache, MapIoReq, MmapReq, MmapRsp, MunmapReq, QueueMaps,
    RefList, MAX_MMAP_IO_FRAMES_PER_RSP, MAX_MMAP_REFS_PER_RSP, MAX_QUEUE_REFS,
};
use kernel::sync::Arc;

/// Largest region we map for a guest (rxe queues of the device maxima fit).
const MAX_MMAP_BYTES: u64 = 64 << 20;
/// Largest MMIO region, in pages (doorbell pages come one or two at a
/// time).
const MAX_IO_PAGES: usize = 64;
/// Test only: the mmap offset at which a context finds the module's
/// `test_mmio_file` (beyond any driver's: their offsets are 32-bit page
/// numbers).
pub(crate) const MMIO_TEST_OFFSET: u64 = 1 << 44;
/// Regions one context may have mapped at once.
pub(crate) const MAX_MMAPS_PER_CONTEXT: usize = 4096;
const PAGE: u64 = 4096;

/// One driver region, mapped in the service.
///
/// # Invariants
///
/// `addr..addr+len` is mapped in the service process; for RAM, `pages`
/// are pinned from it and each of `grants` is outstanding.
pub(crate) struct MmapRegion {
    offset: u64,
    addr: usize,
    len: usize,
    backing: Backing,
}

/// What the guest maps of a region.
enum Backing {
    /// Queues in RAM: pinned pages, granted.
    Ram {
        pages: KVec<*mut sys::page>,
        grants: KVec<GrantRef>,
    },
    /// A device's doorbell pages: I/O frames its domain may map, and
    /// those put in an auto-translated domain's physical map (`MapIo`),
    /// as (guest frame, page of the region).
    Io {
        claim: IoClaim,
        cache: IoCache,
        p2m: KVec<(u64, usize)>,
    },
}

// SAFETY: The raw page pointers are pinned pages, usable from any thread.
unsafe impl Send for MmapRegion {}

impl MmapRegion {
    /// Releases the region; must run in the service process.
    pub(crate) fn release(self, _svc: &Service, transport: &Transport, stats: &Stats) {
        let Self {
            addr, len, backing, ..
        } = self;
        match backing {
            Backing::Ram { mut pages, grants } => {
                for (g, p) in grants.into_iter().zip(pages.iter()) {
                    if let Some(p) = NonNull::new(*p) {
                        transport.revoke(stats, g, p);
                    }
                }
                // SAFETY: The pages were pinned by `xenib_back_pin_pages`.
                unsafe { sys::xenib_back_unpin_pages(pages.as_mut_ptr(), pages.len() as _) };
            }
            // Out of the domain's physical map, then the domain may no
            // longer map the frames (they stay its own until it is gone).
            Backing::Io { claim, p2m, .. } => {
                unmap_p2m(transport, &claim, &p2m);
                drop(claim);
            }
        }
        // SAFETY: We are in the service process (caller holds `Service`).
        unsafe { sys::xenib_back_vm_munmap(addr as _, len as _) };
        stats.add(Obj::Mmap, -1);
    }

    fn pages(&self) -> usize {
        self.len / PAGE as usize
    }
}

/// Maps `length` bytes at `offset` of the context's uverbs file (or, for
/// tests, of `test_mmio_file`) into the service process.
fn map_in_service(ctx: &Context, offset: u64, length: u64) -> Result<usize> {
    let addr = if offset == MMIO_TEST_OFFSET {
        // SAFETY: We are in the service process.
        unsafe { sys::xenib_back_vm_mmap_test_mmio(length as _) }
    } else {
        // SAFETY: We are in the service process; the driver checks the offset.
        unsafe { sys::xenib_back_vm_mmap(ctx.file.as_ptr(), length as _, offset) }
    };
    if addr as isize >= -4095 && addr as isize <= -1 {
        return Err(Error::from_errno(addr as i32));
    }
    Ok(addr as usize)
}

/// The device's I/O frames behind `nr` pages at `addr` of the service,
/// given to the frontend's domain; `None` if they are RAM.
fn claim_io(
    io: &Arc<GivenFrames>,
    transport: &Transport,
    addr: usize,
    nr: usize,
) -> Result<Option<(IoClaim, IoCache)>> {
    let room = core::cmp::min(nr, MAX_IO_PAGES);
    let mut frames = KVec::from_elem(0u64, room, GFP_KERNEL)?;
    let mut cache = 0u16;
    // SAFETY: We are in the service process; `frames` has room for `room`.
    let ret = unsafe {
        sys::xenib_back_io_frames(addr as _, nr as _, frames.as_mut_ptr(), room as _, &mut cache)
    };
    match ret {
        0 => return Ok(None),
        1 => (),
        e => return Err(Error::from_errno(e)),
    }
    // Only a domain can be given device memory: the loopback frontend
    // shares our kernel but not a page table we could map it into.
    let domid = transport.domid().ok_or_else(eopnotsupp)?;
    let cache = IoCache::from_raw(cache).ok_or(EINVAL)?;
    Ok(Some((io.claim(domid, &frames)?, cache)))
}

fn map_region(
    ctx: &Context,
    svc: &Service,
    transport: &Transport,
    io: &Arc<GivenFrames>,
    stats: &Stats,
    offset: u64,
    length: u64,
) -> Result<MmapRegion> {
    if length == 0 || length % PAGE != 0 || length > MAX_MMAP_BYTES || offset % PAGE != 0 {
        return Err(EINVAL);
    }
    let nr = (length / PAGE) as usize;
    let addr = map_in_service(ctx, offset, length)?;
    let unmap = |e: Error| {
        // SAFETY: Mapped just above, in this process.
        unsafe { sys::xenib_back_vm_munmap(addr as _, length as _) };
        e
    };
    if let Some((claim, cache)) = claim_io(io, transport, addr, nr).map_err(unmap)? {
        stats.add(Obj::Mmap, 1);
        return Ok(MmapRegion {
            offset,
            addr,
            len: length as usize,
            backing: Backing::Io {
                claim,
                cache,
                p2m: KVec::new(),
            },
        });
    }
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
    let mut grants = KVec::new();
    for p in pages.iter() {
        let page = NonNull::new(*p).ok_or(EFAULT);
        let g = page.and_then(|p| {
            let g = transport.grant(stats, p)?;
            grants.push(g, GFP_KERNEL).map_err(|e| {
                transport.revoke(stats, g, p);
                Error::from(e)
            })
        });
        if let Err(e) = g {
            let region = MmapRegion {
                offset,
                addr,
                len: length as usize,
                backing: Backing::Ram { pages, grants },
            };
            region.release(svc, transport, stats);
            return Err(e);
        }
    }
    Ok(MmapRegion {
        offset,
        addr,
        len: length as usize,
        backing: Backing::Ram { pages, grants },
    })
}

/// `Mmap`: returns (a chunk of) the grants or I/O frames of a driver
/// region, mapping it on first use.
pub(crate) fn mmap(
    ctx: &mut Context,
    svc: &Service,
    transport: &Transport,
    io: &Arc<GivenFrames>,
    stats: &Stats,
    req: &MmapReq,
) -> Result<MmapRsp> {
    let idx = match ctx.mmaps.position(|r| r.offset == req.offset) {
        Some(i) => i,
        None => {
            ctx.mmaps.reserve()?;
            let region = map_region(ctx, svc, transport, io, stats, req.offset, req.length)?;
            // Cannot fail after `reserve`; on failure the region would leak.
            ctx.mmaps.insert(region)?
        }
    };
    let region = ctx.mmaps.get(idx).ok_or(EINVAL)?;
    if region.len as u64 != req.length {
        return Err(EINVAL);
    }
    let first = req.first_page as usize;
    if first >= region.pages() {
        return Err(EINVAL);
    }
    let total_pages = region.pages() as u32;
    Ok(match &region.backing {
        Backing::Ram { grants, .. } => {
            let end = core::cmp::min(grants.len(), first + MAX_MMAP_REFS_PER_RSP);
            MmapRsp {
                total_pages,
                refs: RefList::new(&grants[first..end]).ok_or(EINVAL)?,
                io: FrameList::default(),
                io_cache: IoCache::Uncached,
            }
        }
        Backing::Io { claim, cache, .. } => {
            let frames = claim.frames();
            let end = core::cmp::min(frames.len(), first + MAX_MMAP_IO_FRAMES_PER_RSP);
            MmapRsp {
                total_pages,
                refs: RefList::default(),
                io: FrameList::new(&frames[first..end]).ok_or(EINVAL)?,
                io_cache: *cache,
            }
        }
    })
}

/// The queue `regions` of an object just created (`provider.rs` finds
/// them in the driver's response), mapped and granted as `Mmap` would map
/// them when the provider asks, so that their refs go back with the
/// create response instead. Regions go in as long as refs fit: the
/// provider gets the rest of a region, or a region not listed, by `Mmap`,
/// which finds it mapped already. A region that cannot be mapped here is
/// left to that `Mmap` too, which then fails as it would have.
pub(crate) fn premap(
    ctx: &mut Context,
    svc: &Service,
    transport: &Transport,
    io: &Arc<GivenFrames>,
    stats: &Stats,
    h: CtxHandle,
    regions: &[Option<Region>; 2],
) -> QueueMaps {
    let mut mapped: [Option<(u64, MmapRsp)>; 2] = [None, None];
    let mut room = MAX_QUEUE_REFS;
    for (slot, r) in mapped.iter_mut().zip(regions.iter().flatten()) {
        if room == 0 {
            break;
        }
        let req = MmapReq {
            offset: r.offset,
            length: r.length,
            ctx: h,
            first_page: 0,
        };
        if let Ok(rsp) = mmap(ctx, svc, transport, io, stats, &req) {
            if rsp.io.is_empty() && !rsp.refs.is_empty() {
                room = room.saturating_sub(rsp.refs.len());
                *slot = Some((r.offset, rsp));
            }
        }
    }
    QueueMaps::build(
        mapped
            .iter()
            .flatten()
            .map(|(offset, rsp)| (*offset, rsp.total_pages, rsp.refs.as_slice())),
    )
}

/// `MapIo`: puts frames of an MMIO region in the (auto-translated)
/// frontend domain's physical map, at the guest frames it chose. Each
/// page of the region goes in once; Xen checks the domain's permission
/// for the frames and what the guest frames held.
pub(crate) fn map_io(ctx: &mut Context, transport: &Transport, req: &MapIoReq) -> Result {
    let domid = transport.domid().ok_or_else(eopnotsupp)?;
    let i = ctx
        .mmaps
        .position(|r| r.offset == req.offset)
        .ok_or(ENOENT)?;
    let region = ctx.mmaps.get_mut(i).ok_or(ENOENT)?;
    let Backing::Io { claim, p2m, .. } = &mut region.backing else {
        return Err(EINVAL);
    };
    let first = req.first_page as usize;
    let gfns = req.gfns.as_slice();
    let frames = claim.frames().get(first..first + gfns.len()).ok_or(EINVAL)?;
    if p2m.iter().any(|&(_, page)| (first..first + gfns.len()).contains(&page)) {
        return Err(EEXIST);
    }
    p2m.reserve(gfns.len(), GFP_KERNEL)?;
    for (k, (&gfn, &frame)) in gfns.iter().zip(frames).enumerate() {
        set_p2m(domid, gfn, frame, true)?;
        // Cannot fail: reserved above.
        p2m.push((gfn, first + k), GFP_KERNEL)?;
    }
    Ok(())
}

/// Takes the frames `MapIo` put in the domain's physical map out again.
fn unmap_p2m(transport: &Transport, claim: &IoClaim, p2m: &[(u64, usize)]) {
    let Some(domid) = transport.domid() else {
        return;
    };
    for &(gfn, page) in p2m {
        if let Some(&frame) = claim.frames().get(page) {
            // Logged; nothing more to do if Xen refuses.
            let _ = set_p2m(domid, gfn, frame, false);
        }
    }
}

/// Puts I/O `frame` at guest frame `gfn` of `domid`'s physical map, or
/// takes it out; a refusal is logged, naming the domain.
fn set_p2m(domid: u16, gfn: u64, frame: u64, add: bool) -> Result {
    // SAFETY: A plain hypercall on behalf of the frontend's domain.
    let ret = unsafe { sys::xenib_back_memory_mapping(domid, gfn, frame, add) };
    if ret != 0 {
        warn_ratelimited!(
            "domain {}: Xen did not {} I/O frame {:#x} at its frame {:#x}: {}\n",
            domid,
            if add { "map" } else { "unmap" },
            frame,
            gfn,
            ret
        );
        return Err(Error::from_errno(ret));
    }
    Ok(())
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
