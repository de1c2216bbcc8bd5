// SPDX-License-Identifier: GPL-2.0

//! How the backend reaches one frontend: the loopback (a frontend in this
//! kernel) or Xen (a frontend in another domain). Everything above this
//! file sees rings, notifications, grants of our pages, copies of granted
//! pages, and guest pages mapped into the service process; only this file
//! knows which transport provides them.

use crate::loop_grants::MappedPage;
use crate::poll::now_ns;
use core::ptr::NonNull;
use kernel::prelude::*;

use crate::doorbell_page::DoorbellPage;
use crate::loopback::Loopback;
use crate::shmem::RawMem;
use crate::stats::{Obj, Stats};
use crate::sys;
use crate::uverbs::Service;
use crate::wire::{ring_area_bytes, GrantRef, MAX_RING_ORDER};
use crate::xen::XenBack;

pub(crate) enum Transport {
    Loopback(Pin<KBox<Loopback>>),
    Xen(XenBack),
}

/// The shared memory of a connection, as the frontend set it up.
pub(crate) struct Rings {
    pub(crate) cmd: RawMem,
    pub(crate) evt: RawMem,
    pub(crate) doorbells: Option<DoorbellPage>,
}

impl Rings {
    /// # Safety
    ///
    /// `cmd` and `evt` are `ring_area_bytes(order)` bytes and `doorbells`
    /// (if not null) one page, shared with the frontend and mapped until
    /// the transport that provided them is dropped.
    pub(crate) unsafe fn new(
        cmd: *mut core::ffi::c_void,
        evt: *mut core::ffi::c_void,
        order: u32,
        doorbells: *mut core::ffi::c_void,
    ) -> Result<Self> {
        if order > MAX_RING_ORDER {
            return Err(EINVAL);
        }
        let mem = |p: *mut core::ffi::c_void| -> Result<RawMem> {
            let base = NonNull::new(p.cast::<u8>()).ok_or(EINVAL)?;
            // SAFETY: Per the function contract; both sides only access
            // the ring through volatile `RawMem` calls.
            Ok(unsafe { RawMem::new(base, ring_area_bytes(order)) })
        };
        Ok(Self {
            cmd: mem(cmd)?,
            evt: mem(evt)?,
            // SAFETY: Per the function contract; only accessed atomically.
            doorbells: NonNull::new(doorbells.cast::<u8>())
                .map(|p| unsafe { DoorbellPage::new(p) }),
        })
    }
}

impl Transport {
    pub(crate) fn rings(&self) -> Result<Rings> {
        match self {
            Self::Loopback(l) => l.rings(),
            Self::Xen(x) => x.rings(),
        }
    }

    /// The frontend's domain; `None` for the loopback.
    pub(crate) fn domid(&self) -> Option<u16> {
        match self {
            Self::Loopback(_) => None,
            Self::Xen(x) => Some(x.domid()),
        }
    }

    /// The frontend's RDMA addresses as text (see `policy.rs`) into
    /// `buf`; its length.
    pub(crate) fn rdma_addresses(&self, buf: &mut [u8]) -> Result<usize> {
        match self {
            Self::Loopback(_) => {
                // SAFETY: The helper writes at most `buf.len()` bytes.
                unsafe { sys::xenib_back_loop_rdma_ip(buf.as_mut_ptr().cast(), buf.len()) };
                Ok(buf.iter().position(|b| *b == 0).unwrap_or(buf.len()))
            }
            Self::Xen(x) => x.rdma_addresses(buf),
        }
    }

    /// Tells the frontend we stopped serving it (Xen: our end goes
    /// Closing; the loopback has no such state, its frontend just gets no
    /// more answers).
    pub(crate) fn close(&self) {
        if let Self::Xen(x) = self {
            x.close();
        }
    }

    /// Raises the frontend's event channel.
    pub(crate) fn notify(&self) {
        match self {
            Self::Loopback(l) => l.notify(),
            Self::Xen(x) => x.notify(),
        }
    }

    /// Grants one of our pages (a driver queue page) to the frontend.
    pub(crate) fn grant(&self, stats: &Stats, page: NonNull<sys::page>) -> Result<GrantRef> {
        let r = match self {
            Self::Loopback(l) => l.grant(page)?,
            Self::Xen(x) => x.grant(page)?,
        };
        stats.add(Obj::Grant, 1);
        Ok(r)
    }

    /// Ends the grant `r` of `page`. A frontend that still maps the page
    /// keeps it allocated until it unmaps.
    pub(crate) fn revoke(&self, stats: &Stats, r: GrantRef, page: NonNull<sys::page>) {
        let ended = match self {
            Self::Loopback(l) => l.revoke(r),
            Self::Xen(x) => {
                x.revoke(r, page);
                true
            }
        };
        if ended {
            stats.add(Obj::Grant, -1);
        }
    }

    /// Copies a page the frontend granted (an indirect page of grant
    /// references) out once: the frontend may change it meanwhile.
    pub(crate) fn read_granted(&self, r: GrantRef, out: &mut KBox<[u8; 4096]>) -> Result {
        match self {
            Self::Loopback(l) => {
                l.map_grant(r)?.read(out);
                Ok(())
            }
            Self::Xen(x) => x.read_granted(r, out),
        }
    }

    /// Maps the guest pages granted as `refs` into the context server, one
    /// virtual range, so that the real driver can register them: at `at`
    /// (their guest address, which must be window; `EEXIST` if another
    /// mapping is there) or, if `None`, in the server's private zone.
    /// Adds the time spent mapping the grants themselves (loopback:
    /// looking the pages up) to `grant_ns`.
    pub(crate) fn map_guest_pages(
        &self,
        svc: &Service,
        refs: &[GrantRef],
        at: Option<usize>,
        readonly: bool,
        grant_ns: &mut u64,
    ) -> Result<GuestPages> {
        let fixed = at.unwrap_or(0);
        let nr = refs.len();
        let mut held = KVec::new();
        let mut ptrs = KVec::new();
        // Both arms run in the service process (`svc`), whose address
        // space the mapping goes into.
        let addr = match self {
            Self::Loopback(l) => {
                ptrs.reserve(nr, GFP_KERNEL)?;
                held.reserve(nr, GFP_KERNEL)?;
                let t = now_ns();
                for r in refs {
                    let page = l.map_grant(*r)?;
                    ptrs.push(page.as_ptr(), GFP_KERNEL)?;
                    held.push(page, GFP_KERNEL)?;
                }
                *grant_ns += (now_ns() - t).max(0) as u64;
                // SAFETY: See above; the mapping looks pages up in `ptrs`
                // and `held` keeps them alive: both live in `GuestPages`
                // until after the mapping is gone.
                unsafe {
                    sys::xenib_back_map_pages(
                        svc.file().as_ptr(),
                        ptrs.as_mut_ptr(),
                        nr as _,
                        fixed as _,
                        readonly,
                    )
                }
            }
            Self::Xen(x) => {
                let raw: KVec<u32> = {
                    let mut v = KVec::with_capacity(nr, GFP_KERNEL)?;
                    for r in refs {
                        v.push(r.0, GFP_KERNEL)?;
                    }
                    v
                };
                let mut ns = 0;
                // SAFETY: In the service process; the helper copies the
                // refs, and the mapping holds its grants itself.
                let addr = unsafe {
                    sys::xenib_back_map_grants(
                        svc.file().as_ptr(),
                        x.domid(),
                        raw.as_ptr(),
                        nr as _,
                        fixed as _,
                        readonly,
                        &mut ns,
                    )
                };
                *grant_ns += ns;
                addr
            }
        };
        if addr as isize >= -4095 && addr as isize <= -1 {
            return Err(Error::from_errno(addr as i32));
        }
        // INVARIANT: mapped above.
        Ok(GuestPages {
            addr: addr as usize,
            nr,
            window: svc.window(),
            _ptrs: ptrs,
            _held: held,
        })
    }
}

/// Guest pages mapped into a context server.
///
/// # Invariants
///
/// `addr..addr + 4096 * nr` is a mapping of ours in the server process,
/// whose windows are `window`.
pub(crate) struct GuestPages {
    pub(crate) addr: usize,
    pub(crate) nr: usize,
    window: *mut sys::xenib_window,
    /// Loopback: the page array the mapping reads (`find_special_page`)
    /// and the page references behind it (Xen: the mapping holds both).
    _ptrs: KVec<*mut sys::page>,
    _held: KVec<MappedPage>,
}

// SAFETY: The page pointers are only read by the mapping; the references
// may be dropped on any thread.
unsafe impl Send for GuestPages {}

impl Drop for GuestPages {
    fn drop(&mut self) {
        // SAFETY: Mapped in `map_guest_pages` (type invariant); guest
        // pages are dropped in their server process (see `Context`), after
        // the driver unpinned them, and before its windows go.
        unsafe { sys::xenib_back_unmap_pages(self.addr as _, self.nr as _, self.window) };
    }
}
