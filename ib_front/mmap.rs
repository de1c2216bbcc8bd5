// SPDX-License-Identifier: GPL-2.0

//! Mapping the backend driver's queues into the guest process.
//!
//! The provider mmaps the offset its driver returned in a create
//! response; we ask the backend for the pages behind that offset (it maps
//! them on its side and grants them) and insert them into the process's
//! VMA. From then on the guest posts and polls in place.

use crate::errno::eproto;
use core::ffi::c_int;
use kernel::error::from_result;
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
        let mut refs = KVec::with_capacity(nr, GFP_KERNEL)?;
        while refs.len() < nr {
            let req = MmapReq {
                offset,
                length,
                ctx: CtxHandle(xuc.handle),
                first_page: refs.len() as u32,
            };
            let rsp = match ch.call(&Request::Mmap(req))? {
                RspBody::Mmap(r) => r,
                _ => return Err(eproto()),
            };
            if rsp.total_pages as usize != nr || rsp.refs.is_empty() {
                return Err(eproto());
            }
            refs.extend_from_slice(rsp.refs.as_slice(), GFP_KERNEL)?;
        }
        if refs.len() != nr {
            return Err(eproto());
        }
        // SAFETY: The VMA is being set up by this mmap call, under the
        // mmap lock.
        unsafe { ch.transport().map_into(vma, &refs)? };
        Ok(0)
    })
}
