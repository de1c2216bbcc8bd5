// SPDX-License-Identifier: GPL-2.0

//! Protection domains.

use crate::errno::eproto;
use core::ffi::c_int;
use kernel::error::from_result;

use crate::context::{ctx_of, udata_in, udata_out};
use crate::device::{channel, XibPd};
use crate::sys;
use crate::wire::{AllocPdReq, CtxHandle, DeallocPdReq, PdHandle, Request, RspBody};

pub(crate) unsafe extern "C" fn alloc_pd(pd: *mut sys::ib_pd, udata: *mut sys::ib_udata) -> c_int {
    from_result(|| {
        // SAFETY: The core allocated `pd` with our size, on our device, and
        // passes this verb's udata.
        let (ch, xpd, ctx) = unsafe {
            (
                channel((*pd).device),
                &mut *pd.cast::<XibPd>(),
                ctx_of(udata)?,
            )
        };
        // SAFETY: As above.
        let req = AllocPdReq {
            ctx: CtxHandle(ctx),
            udata: unsafe { udata_in(udata)? },
        };
        match ch.call(&Request::AllocPd(req))? {
            RspBody::AllocPd(r) => {
                xpd.handle = r.pd.0;
                xpd.ctx = ctx;
                // SAFETY: As above.
                unsafe { udata_out(udata, &r.udata)? };
                Ok(0)
            }
            _ => Err(eproto()),
        }
    })
}

pub(crate) unsafe extern "C" fn dealloc_pd(
    pd: *mut sys::ib_pd,
    _udata: *mut sys::ib_udata,
) -> c_int {
    from_result(|| {
        // SAFETY: A PD we set up in `alloc_pd`.
        let (ch, xpd) = unsafe { (channel((*pd).device), &*pd.cast::<XibPd>()) };
        let req = DeallocPdReq {
            ctx: CtxHandle(xpd.ctx),
            pd: PdHandle(xpd.handle),
        };
        ch.release(&Request::DeallocPd(req))?;
        Ok(0)
    })
}
