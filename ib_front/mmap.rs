// SPDX-License-Identifier: GPL-2.0

//! Mapping the backend driver's queues into the guest process.
//!
//! The provider mmaps the offset its driver returned in a create
//! response; we ask the backend for the pages behind that offset (it maps
//! them on its side and grants them) and insert them into the process's
//! VMA. From then on the guest posts and polls in place. A hardware
//! device's doorbell pages come as I/O frames instead, which Xen lets our
//! domain map (`xenib_front_map_io`; an auto-translated domain has the
//! backend put them in its physical map first, `map_io_translated`).
//!
//! When the last VMA of a region is gone (`munmap`, process exit), the
//! backend is told to release it (`Munmap`), so that a destroyed QP's
//! queue pages do not stay granted and mapped there until the process
//! exits. Each VMA gets a file of ours (`xenib_front_vma_track`), whose
//! release says so, and which keeps the module loaded while the VMA
//! uses its operations. The release may run under the process's mmap
//! lock and must not wait for the ring: it only queues the region
//! (`Mappings`), and the channel sends the queued `Munmap`s ahead of its
//! next request, whose order they keep (a region unmapped and then mapped
//! again is released before it is asked for anew).
//!
//! For drivers whose response layout the backend knows, the regions of a
//! new CQ, QP or SRQ come with its create response, mapped and granted
//! already (`QueueMaps`): they wait here (`stash`) for the provider's
//! mmap, which then costs no request. Those the provider never maps are
//! released when their object is destroyed.

use crate::errno::eproto;
use core::ffi::c_int;
use kernel::error::from_result;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

use crate::channel::Channel;
use crate::device::{channel, XibUcontext};
use crate::fifo::Fifo;
use crate::sys;
use crate::table::Table;
use crate::wire::{
    CtxHandle, FrameList, GrantRef, IoCache, MapIoReq, MmapReq, QueueMaps, Request, RspBody,
    MAX_MMAP_IO_FRAMES_PER_RSP,
};

const PAGE: u64 = 4096;

pub(crate) unsafe extern "C" fn mmap(
    uc: *mut sys::ib_ucontext,
    vma: *mut sys::vm_area_struct,
) -> c_int {
    from_result(|| {
        // SAFETY: The core passes one of our contexts and the VMA being
        // set up, with the mmap lock held.
        let (ch, xuc, vma) =
            unsafe { (channel((*uc).device), &*uc.cast::<XibUcontext>(), &mut *vma) };
        // SAFETY: `vm_start`/`vm_end` are plain fields of the VMA (an
        // anonymous union in the bindings).
        let (start, end) = unsafe {
            (
                vma.__bindgen_anon_1.__bindgen_anon_1.vm_start,
                vma.__bindgen_anon_1.__bindgen_anon_1.vm_end,
            )
        };
        let length = (end - start) as u64;
        let offset = (vma.vm_pgoff as u64).checked_mul(PAGE).ok_or(EINVAL)?;
        let nr = (length / PAGE) as usize;
        let ctx = CtxHandle(xuc.handle);
        // Refs that came with the create, if they are this region's.
        let refs = match ch.mappings().claim_stashed(ctx, offset) {
            Some((total, refs)) if total as usize == nr => refs,
            _ => KVec::new(),
        };
        let pages = fetch(ch, ctx, offset, length, nr, refs)?;
        let cookie = KBox::into_raw(ch.mappings().open(ctx, offset)?);
        // SAFETY: The VMA is being set up by this mmap call (mmap lock
        // held), nothing is mapped into it yet; on success the cookie comes
        // back to `xenib_front_vma_closed` when the VMA is gone, also if
        // this mmap fails below.
        let err = unsafe { sys::xenib_front_vma_track(vma, cookie.cast()) };
        if err != 0 {
            // SAFETY: Not taken: ours again.
            drop(unsafe { KBox::from_raw(cookie) });
            return Err(Error::from_errno(err));
        }
        // SAFETY: The VMA is being set up by this mmap call, under the
        // mmap lock.
        unsafe {
            match &pages {
                Pages::Granted(refs) => ch.transport().map_into(vma, refs)?,
                Pages::Io(_, cache) if ch.transport().auto_translated() => {
                    map_io_translated(ch, vma, ctx, offset, nr, *cache)?
                }
                Pages::Io(frames, cache) => ch.transport().map_io_into(vma, frames, *cache)?,
            }
        };
        Ok(0)
    })
}

/// An auto-translated domain maps device memory through its physical map:
/// ballooned pages lend their frames, at which the backend puts the
/// region's I/O frames (`MapIo`), and those frames go into the VMA.
///
/// # Safety
///
/// `vma` is the VMA of the running mmap call, its mmap lock held.
unsafe fn map_io_translated(
    ch: &Channel,
    vma: *mut sys::vm_area_struct,
    ctx: CtxHandle,
    offset: u64,
    nr: usize,
    cache: IoCache,
) -> Result {
    let (pages, gfns) = IoPages::get(ctx, nr)?;
    // SAFETY: Per the function contract; `pages` holds `nr` pages.
    kernel::error::to_result(unsafe {
        sys::xenib_front_map_io_pages(
            vma,
            pages.pages.as_ptr().cast_mut(),
            nr as _,
            cache == IoCache::WriteCombining,
        )
    })?;
    // Kept until the context is closed: only then are the device's frames
    // surely out of our physical map.
    ch.mappings().keep_io_pages(pages)?;
    for (i, chunk) in gfns.chunks(MAX_MMAP_IO_FRAMES_PER_RSP).enumerate() {
        let req = MapIoReq {
            offset,
            ctx,
            first_page: (i * MAX_MMAP_IO_FRAMES_PER_RSP) as u32,
            gfns: FrameList::new(chunk).ok_or(EINVAL)?,
        };
        ch.call(&Request::MapIo(req))?;
    }
    Ok(())
}

/// Ballooned pages whose frames hold device memory in an auto-translated
/// domain's physical map; dropping them gives them back, which must wait
/// until the backend has taken the device's frames out (the context is
/// closed).
pub(crate) struct IoPages {
    ctx: CtxHandle,
    pages: KVec<*mut sys::page>,
}

// SAFETY: The pages are ours (allocated by `get`), usable from any thread.
unsafe impl Send for IoPages {}

impl IoPages {
    /// `nr` pages for context `ctx`, with their frame numbers.
    fn get(ctx: CtxHandle, nr: usize) -> Result<(Self, KVec<u64>)> {
        let mut pages = KVec::from_elem(core::ptr::null_mut(), nr, GFP_KERNEL)?;
        let mut gfns = KVec::from_elem(0u64, nr, GFP_KERNEL)?;
        // SAFETY: Both arrays have room for `nr` entries.
        kernel::error::to_result(unsafe {
            sys::xenib_front_io_pages_get(pages.as_mut_ptr(), nr as _, gfns.as_mut_ptr())
        })?;
        Ok((Self { ctx, pages }, gfns))
    }

    /// The backend may still map device memory at them: they are never
    /// reused (counted as leaked).
    pub(crate) fn leak(mut self) {
        // SAFETY: Only counts them.
        unsafe { sys::xenib_front_io_pages_leak(self.pages.len() as _) };
        self.pages = KVec::new();
    }
}

impl Drop for IoPages {
    fn drop(&mut self) {
        if !self.pages.is_empty() {
            // SAFETY: Allocated by `get`; the backend has unmapped them.
            unsafe { sys::xenib_front_io_pages_put(self.pages.as_mut_ptr(), self.pages.len() as _) };
        }
    }
}

/// What backs a region: RAM the backend granted, or a device's I/O frames.
enum Pages {
    Granted(KVec<GrantRef>),
    Io(KVec<u64>, IoCache),
}

/// Asks the backend for the `nr` pages of region (`ctx`, `offset`) beyond
/// the `refs` we have of it, as many responses as it takes; they must
/// agree on what backs the region.
fn fetch(
    ch: &Channel,
    ctx: CtxHandle,
    offset: u64,
    length: u64,
    nr: usize,
    mut refs: KVec<GrantRef>,
) -> Result<Pages> {
    let mut frames = KVec::new();
    let mut cache = None;
    while refs.len() + frames.len() < nr {
        let req = MmapReq {
            offset,
            length,
            ctx,
            first_page: (refs.len() + frames.len()) as u32,
        };
        let rsp = match ch.call(&Request::Mmap(req))? {
            RspBody::Mmap(r) => r,
            _ => return Err(eproto()),
        };
        if rsp.total_pages as usize != nr || (rsp.refs.is_empty() && rsp.io.is_empty()) {
            return Err(eproto());
        }
        if !rsp.io.is_empty() {
            if !refs.is_empty() || cache.is_some_and(|c| c != rsp.io_cache) {
                return Err(eproto());
            }
            cache = Some(rsp.io_cache);
            frames.extend_from_slice(rsp.io.as_slice(), GFP_KERNEL)?;
        } else {
            if !frames.is_empty() {
                return Err(eproto());
            }
            refs.extend_from_slice(rsp.refs.as_slice(), GFP_KERNEL)?;
        }
    }
    if refs.len() + frames.len() != nr {
        return Err(eproto());
    }
    Ok(match cache {
        Some(cache) => Pages::Io(frames, cache),
        None => Pages::Granted(refs),
    })
}

/// Regions (context, offset) of a channel that processes map, and those
/// whose last VMA has closed and that the backend is yet to be told of.
#[pin_data]
pub(crate) struct Mappings {
    #[pin]
    state: Mutex<MapState>,
}

struct MapState {
    /// Each mapped region with its number of VMAs.
    open: Table<(CtxHandle, u64, u32)>,
    /// Regions to release on the backend (`Munmap`).
    closed: Fifo<(CtxHandle, u64)>,
    /// Pages lending their frames to device memory, until their context
    /// is closed.
    io_pages: Table<IoPages>,
    /// Regions mapped with their object's create, until the provider maps
    /// them.
    stashed: Table<Stashed>,
}

/// A region that came with its object's create response.
struct Stashed {
    ctx: CtxHandle,
    /// The object's cookie (`Channel::add_object`).
    owner: u64,
    offset: u64,
    total_pages: u32,
    /// Grant refs of its first pages.
    refs: KVec<GrantRef>,
}

/// Mapped regions one channel tracks (those of all its processes; the
/// backend allows 4096 per context): a mapping beyond it fails with
/// `ENOSPC`.
const MAX_MAPPINGS: usize = 8192;

impl Mappings {
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                state <- kernel::new_mutex!(MapState {
                    open: Table::new(MAX_MAPPINGS),
                    closed: Fifo::new(MAX_MAPPINGS),
                    io_pages: Table::new(MAX_MAPPINGS),
                    stashed: Table::new(MAX_MAPPINGS),
                }),
            }),
            GFP_KERNEL,
        )
    }

    /// One more VMA maps region (`ctx`, `offset`): its cookie, which
    /// closes it when dropped.
    fn open(self: &Arc<Self>, ctx: CtxHandle, offset: u64) -> Result<KBox<VmaCookie>> {
        {
            let mut st = self.state.lock();
            match st.open.position(|e| e.0 == ctx && e.1 == offset) {
                Some(i) => {
                    if let Some(e) = st.open.get_mut(i) {
                        e.2 += 1;
                    }
                }
                None => {
                    st.open.insert((ctx, offset, 1))?;
                }
            }
        }
        let cookie = VmaCookie {
            mappings: self.clone(),
            ctx,
            offset,
        };
        // On failure the cookie is dropped: the region is closed again.
        Ok(KBox::new(cookie, GFP_KERNEL)?)
    }

    fn close(&self, ctx: CtxHandle, offset: u64) {
        let mut st = self.state.lock();
        let Some(i) = st.open.position(|e| e.0 == ctx && e.1 == offset) else {
            return;
        };
        let last = st.open.get_mut(i).is_some_and(|e| {
            e.2 -= 1;
            e.2 == 0
        });
        if last {
            st.open.remove(i);
            // Full (or out of memory): the backend keeps the region until
            // the context closes.
            let _ = st.closed.push((ctx, offset));
        }
    }

    /// Keeps `pages` until their context is closed.
    fn keep_io_pages(&self, pages: IoPages) -> Result {
        self.state.lock().io_pages.insert(pages).map(|_| ())
    }

    /// Takes the pages kept for context `ctx`.
    pub(crate) fn take_io_pages(&self, ctx: CtxHandle) -> KVec<IoPages> {
        let mut taken = KVec::new();
        let mut st = self.state.lock();
        let n = st.io_pages.iter().filter(|p| p.ctx == ctx).count();
        // Out of memory: never reused rather than reused too soon.
        let room = taken.reserve(n, GFP_KERNEL).is_ok();
        while let Some(i) = st.io_pages.position(|p| p.ctx == ctx) {
            let Some(p) = st.io_pages.remove(i) else { break };
            if !room {
                p.leak();
            } else {
                // Cannot fail: reserved above.
                let _ = taken.push(p, GFP_KERNEL);
            }
        }
        taken
    }

    /// Keeps the queue regions that came with the create of object `owner`
    /// for the provider's mmap. One we cannot keep (out of memory) is
    /// fetched by `Mmap` instead, which finds it mapped on the backend.
    pub(crate) fn stash(&self, ctx: CtxHandle, owner: u64, queues: &QueueMaps) {
        for (r, refs) in queues.iter() {
            let mut kept = KVec::new();
            if kept.extend_from_slice(refs, GFP_KERNEL).is_err() {
                continue;
            }
            let s = Stashed {
                ctx,
                owner,
                offset: r.offset,
                total_pages: r.total_pages,
                refs: kept,
            };
            let _ = self.state.lock().stashed.insert(s);
        }
    }

    /// Takes the refs stashed for region (`ctx`, `offset`), with the
    /// region's size in pages.
    fn claim_stashed(&self, ctx: CtxHandle, offset: u64) -> Option<(u32, KVec<GrantRef>)> {
        let mut st = self.state.lock();
        let i = st.stashed.position(|s| s.ctx == ctx && s.offset == offset)?;
        st.stashed.remove(i).map(|s| (s.total_pages, s.refs))
    }

    /// Object `owner` of context `ctx` is being destroyed: the backend is
    /// to release those of its regions that no process mapped, ahead of
    /// the destroy (queued like the regions whose last VMA closed).
    pub(crate) fn unstash(&self, ctx: CtxHandle, owner: u64) {
        let mut st = self.state.lock();
        while let Some(i) = st.stashed.position(|s| s.ctx == ctx && s.owner == owner) {
            if let Some(s) = st.stashed.remove(i) {
                // Full: the backend keeps the region until the context
                // closes.
                let _ = st.closed.push((ctx, s.offset));
            }
        }
    }

    /// Context `ctx` is closing, which releases all its regions on the
    /// backend: forgets those stashed for it.
    pub(crate) fn forget_stashed(&self, ctx: CtxHandle) {
        let mut st = self.state.lock();
        while let Some(i) = st.stashed.position(|s| s.ctx == ctx) {
            st.stashed.remove(i);
        }
    }

    /// Takes the oldest region to release, if any.
    pub(crate) fn take_closed(&self) -> Option<(CtxHandle, u64)> {
        self.state.lock().closed.pop()
    }
}

/// What a VMA of a region holds: dropping it closes the region.
pub(crate) struct VmaCookie {
    mappings: Arc<Mappings>,
    ctx: CtxHandle,
    offset: u64,
}

impl Drop for VmaCookie {
    fn drop(&mut self) {
        self.mappings.close(self.ctx, self.offset);
    }
}

/// The VMA `xenib_front_vma_track` was given `cookie` for is gone.
#[no_mangle]
pub(crate) extern "C" fn xenib_front_vma_closed(cookie: *mut core::ffi::c_void) {
    // SAFETY: `cookie` is the `KBox<VmaCookie>` that `mmap` gave the VMA,
    // and a VMA closes once.
    drop(unsafe { KBox::from_raw(cookie.cast::<VmaCookie>()) });
}
