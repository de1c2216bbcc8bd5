// SPDX-License-Identifier: GPL-2.0

//! How the frontend reaches its backend: the loopback (an `ib_back` in
//! this kernel) or Xen (an `ib_back` in the driver domain). The channel
//! and the verbs see rings, notifications, grants of our pages and
//! mappings of the backend's; only this file knows which transport
//! provides them.

use core::ptr::NonNull;
use kernel::prelude::*;

use crate::channel::Channel;
use crate::errno::eopnotsupp;
use crate::doorbell_page::DoorbellPage;
use crate::loopback::{Loopback, RingPages};
use crate::shmem::RawMem;
use crate::sys;
use crate::wire::{GrantRef, IoCache};
use crate::xen::XenFront;

pub(crate) enum Transport {
    Loopback(Pin<KBox<Loopback>>),
    Xen(XenFront),
}

impl Transport {
    /// A loopback transport with fresh rings.
    pub(crate) fn loopback() -> Result<Self> {
        let l = KBox::try_pin_init(Loopback::new(RingPages::alloc()?)?, GFP_KERNEL)?;
        Ok(Self::Loopback(l))
    }

    pub(crate) fn cmd_mem(&self) -> RawMem {
        match self {
            Self::Loopback(l) => l.rings().cmd_mem(),
            Self::Xen(x) => x.cmd_mem(),
        }
    }

    pub(crate) fn evt_mem(&self) -> RawMem {
        match self {
            Self::Loopback(l) => l.rings().evt_mem(),
            Self::Xen(x) => x.evt_mem(),
        }
    }

    /// The doorbell page shared with the backend.
    pub(crate) fn doorbell_page(&self) -> DoorbellPage {
        match self {
            Self::Loopback(l) => l.rings().doorbell_page(),
            Self::Xen(x) => x.doorbell_page(),
        }
    }

    /// Connects to the backend; `channel` gets the notifications and must
    /// stay where it is until `disconnect`.
    pub(crate) fn connect(&self, channel: *const Channel) -> Result {
        match self {
            Self::Loopback(l) => l.connect(channel),
            Self::Xen(x) => x.connect(channel),
        }
    }

    /// Disconnects: no notification reaches the channel after this.
    pub(crate) fn disconnect(&self) {
        match self {
            Self::Loopback(l) => l.disconnect(),
            Self::Xen(x) => x.disconnect(),
        }
    }

    /// Raises the backend's event channel.
    pub(crate) fn notify(&self) {
        match self {
            Self::Loopback(l) => l.notify(),
            Self::Xen(x) => x.notify(),
        }
    }

    /// Raises the backend's doorbell event channel.
    pub(crate) fn notify_doorbells(&self) {
        match self {
            Self::Loopback(l) => l.notify_doorbells(),
            Self::Xen(x) => x.notify_doorbells(),
        }
    }

    /// Grants one of our pages (guest memory being registered).
    pub(crate) fn grant(&self, page: NonNull<sys::page>) -> Result<GrantRef> {
        match self {
            Self::Loopback(l) => l.grant(page),
            Self::Xen(x) => x.grant(page),
        }
    }

    /// Grants a page of a guest process that a verb's driver touched, read
    /// only unless `writable`. (The loopback's grants carry no access
    /// rights: its backend, in this kernel, maps such a page read only
    /// itself.)
    pub(crate) fn grant_user_page(&self, page: NonNull<sys::page>, writable: bool) -> Result<GrantRef> {
        match self {
            Self::Loopback(l) => l.grant(page),
            Self::Xen(x) => x.grant_user_page(page, writable),
        }
    }

    /// Ends the grant `r` of `page`; if the backend still maps it, the
    /// page stays allocated until it unmaps.
    pub(crate) fn revoke(&self, r: GrantRef, page: NonNull<sys::page>) {
        match self {
            Self::Loopback(l) => l.revoke(r),
            Self::Xen(x) => x.revoke(r, page),
        }
    }

    /// Maps the backend's pages granted as `refs` into `vma` (being set up
    /// by our mmap handler), in order.
    ///
    /// # Safety
    ///
    /// `vma` is the VMA of the running mmap call, its mmap lock held.
    pub(crate) unsafe fn map_into(
        &self,
        vma: *mut sys::vm_area_struct,
        refs: &[GrantRef],
    ) -> Result {
        let nr = refs.len();
        match self {
            Self::Loopback(l) => {
                let mut pages = KVec::with_capacity(nr, GFP_KERNEL)?;
                let mut ptrs = KVec::with_capacity(nr, GFP_KERNEL)?;
                for r in refs {
                    let page = l.map_grant(*r)?;
                    ptrs.push(page.as_ptr(), GFP_KERNEL)?;
                    pages.push(page, GFP_KERNEL)?;
                }
                // SAFETY: Per the function contract; `ptrs` are `nr` pages
                // we hold. The VMA takes its own references.
                kernel::error::to_result(unsafe {
                    sys::xenib_front_insert_pages(vma, ptrs.as_mut_ptr(), nr as _)
                })
            }
            Self::Xen(x) => {
                let mut raw = KVec::with_capacity(nr, GFP_KERNEL)?;
                for r in refs {
                    raw.push(r.0, GFP_KERNEL)?;
                }
                // SAFETY: Per the function contract; the helper copies the
                // refs and gives the mapping to the VMA.
                kernel::error::to_result(unsafe {
                    sys::xenib_front_map_grants(vma, x.backend_id(), raw.as_ptr(), nr as _)
                })
            }
        }
    }

    /// Whether our domain is auto-translated (PVH, HVM): device memory
    /// then goes through its physical map.
    pub(crate) fn auto_translated(&self) -> bool {
        // SAFETY: Reads a feature flag.
        matches!(self, Self::Xen(_)) && unsafe { sys::xenib_front_auto_translated() }
    }

    /// Maps a device's I/O frames, which the backend had Xen give our
    /// domain, into `vma` (being set up by our mmap handler), in order.
    ///
    /// # Safety
    ///
    /// `vma` is the VMA of the running mmap call, its mmap lock held.
    pub(crate) unsafe fn map_io_into(
        &self,
        vma: *mut sys::vm_area_struct,
        frames: &[u64],
        cache: IoCache,
    ) -> Result {
        match self {
            // The backend never gives the loopback device memory.
            Self::Loopback(_) => Err(eopnotsupp()),
            // SAFETY: Per the function contract; the helper reads `frames`.
            Self::Xen(_) => kernel::error::to_result(unsafe {
                sys::xenib_front_map_io(
                    vma,
                    frames.as_ptr(),
                    frames.len() as _,
                    cache == IoCache::WriteCombining,
                )
            }),
        }
    }
}
