// SPDX-License-Identifier: GPL-2.0

//! Memory windows.
//!
//! The RDMA core allocates the `ib_mw` (ours is an `XibMw`) and names its
//! PD and type; the backend creates the real window and gives its rkey.
//! Binding and invalidating are work requests the provider posts on the
//! send queue it maps: they never come here.

use crate::errno::eproto;
use core::ffi::c_int;
use kernel::error::from_result;
use kernel::prelude::*;

use crate::context::{ctx_of, udata_in, udata_out};
use crate::device::{channel, XibMw, XibPd};
use crate::sys;
use crate::wire::{AllocMwReq, CtxHandle, DeallocMwReq, MwHandle, MwType, PdHandle, Request, RspBody};

pub(crate) unsafe extern "C" fn alloc_mw(mw: *mut sys::ib_mw, udata: *mut sys::ib_udata) -> c_int {
    from_result(|| {
        // SAFETY: The core allocated `mw` with our size, on our device,
        // set its PD (one of ours) and type, and passes this verb's udata.
        let (ch, xmw, xpd, ty, ctx) = unsafe {
            (
                channel((*mw).device),
                &mut *mw.cast::<XibMw>(),
                &*(*mw).pd.cast::<XibPd>(),
                (*mw).type_,
                ctx_of(udata)?,
            )
        };
        // uverbs checks the type; a value we do not know is refused.
        let mw_type = u8::try_from(ty)
            .ok()
            .and_then(MwType::from_raw)
            .ok_or(EINVAL)?;
        let req = AllocMwReq {
            ctx: CtxHandle(ctx),
            pd: PdHandle(xpd.handle),
            mw_type,
            // SAFETY: As above.
            udata: unsafe { udata_in(udata)? },
        };
        match ch.call(&Request::AllocMw(req))? {
            RspBody::AllocMw(r) => {
                xmw.handle = r.mw.0;
                xmw.ctx = ctx;
                xmw.ibmw.rkey = r.rkey;
                // SAFETY: As above.
                if let Err(e) = unsafe { udata_out(udata, &r.udata) } {
                    let _ = ch.release(&Request::DeallocMw(DeallocMwReq {
                        ctx: CtxHandle(ctx),
                        mw: r.mw,
                    }));
                    return Err(e);
                }
                Ok(0)
            }
            _ => Err(eproto()),
        }
    })
}

pub(crate) unsafe extern "C" fn dealloc_mw(mw: *mut sys::ib_mw) -> c_int {
    from_result(|| {
        // SAFETY: A window we set up in `alloc_mw`.
        let (ch, xmw) = unsafe { (channel((*mw).device), &*mw.cast::<XibMw>()) };
        ch.release(&Request::DeallocMw(DeallocMwReq {
            ctx: CtxHandle(xmw.ctx),
            mw: MwHandle(xmw.handle),
        }))?;
        Ok(0)
    })
}
