// SPDX-License-Identifier: GPL-2.0

//! Mapping the backend driver's queues into the guest process.
//!
//! The provider mmaps the offset its driver returned in a create
//! response; we ask the backend for the pages behind that offset (it maps
//! them on its side and grants them) and insert them into the process's
//! VMA. From then on the guest posts and polls in place.

use crate::errno::eproto;
use core::ffi::c_int;
use kernel::error::{from_result, to_result};
use kernel::prelude::*;

use crate::device::{channel, XibUcontext};
use crate::sys;
use crate::wire::{CtxHandle, MmapReq, Request, RspBody};

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
        let mut pages = KVec::with_capacity(nr, GFP_KERNEL)?;
        let mut ptrs = KVec::with_capacity(nr, GFP_KERNEL)?;
        while pages.len() < nr {
            let req = MmapReq {
                offset,
                length,
                ctx: CtxHandle(xuc.handle),
                first_page: pages.len() as u32,
            };
            let rsp = match ch.call(&Request::Mmap(req))? {
                RspBody::Mmap(r) => r,
                _ => return Err(eproto()),
            };
            if rsp.total_pages as usize != nr || rsp.refs.is_empty() {
                return Err(eproto());
            }
            for r in rsp.refs.as_slice() {
                let page = ch.transport().map_grant(*r)?;
                ptrs.push(page.as_ptr(), GFP_KERNEL)?;
                pages.push(page, GFP_KERNEL)?;
            }
        }
        if pages.len() != nr {
            return Err(eproto());
        }
        // SAFETY: `ptrs` are the `nr` pages we hold; the VMA is being set
        // up under the mmap lock. The VMA takes its own references.
        to_result(unsafe { sys::xenib_front_insert_pages(vma, ptrs.as_mut_ptr(), nr as _) })?;
        Ok(0)
    })
}
