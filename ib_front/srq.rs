// SPDX-License-Identifier: GPL-2.0

//! Shared receive queues. Receives are posted by the guest in the mapped
//! queue; creation, modification, queries and destruction are forwarded.

use crate::errno::{eopnotsupp, eproto};
use core::ffi::c_int;
use core::ptr::NonNull;
use kernel::error::from_result;
use kernel::prelude::*;

use crate::channel::ObjRef;
use crate::context::{ctx_of, udata_in, udata_out};
use crate::device::{channel, XibPd, XibSrq};
use crate::sys;
use crate::wire::{
    CreateSrqReq, CtxHandle, ModifySrqReq, PdHandle, Request, RspBody, SrqHandle, SrqReq,
};

pub(crate) unsafe extern "C" fn create_srq(
    srq: *mut sys::ib_srq,
    init: *mut sys::ib_srq_init_attr,
    udata: *mut sys::ib_udata,
) -> c_int {
    from_result(|| {
        // SAFETY: The core allocated `srq` with our size on our device, set
        // its PD, and passes the init attributes and this verb's udata.
        let (ch, xsrq, init, xpd) = unsafe {
            (
                channel((*srq).device),
                &mut *srq.cast::<XibSrq>(),
                &mut *init,
                &*(*srq).pd.cast::<XibPd>(),
            )
        };
        if init.srq_type != sys::ib_srq_type_IB_SRQT_BASIC {
            return Err(eopnotsupp());
        }
        // SAFETY: As above.
        let ctx = unsafe { ctx_of(udata)? };
        let obj = ObjRef::Srq(NonNull::new(srq).ok_or(EINVAL)?);
        let cookie = ch.add_object(obj)?;
        let forget = |e: Error| {
            ch.remove_object(obj, cookie);
            e
        };
        let req = CreateSrqReq {
            user_handle: cookie,
            ctx: CtxHandle(ctx),
            pd: PdHandle(xpd.handle),
            max_wr: init.attr.max_wr,
            max_sge: init.attr.max_sge,
            srq_limit: init.attr.srq_limit,
            // SAFETY: As above.
            udata: unsafe { udata_in(udata).map_err(forget)? },
        };
        match ch.call(&Request::CreateSrq(req)).map_err(forget)? {
            RspBody::CreateSrq(r) => {
                xsrq.handle = r.srq.0;
                xsrq.ctx = ctx;
                xsrq.cookie = cookie;
                init.attr.max_wr = r.max_wr;
                init.attr.max_sge = r.max_sge;
                ch.mappings().stash(CtxHandle(ctx), cookie, &r.queues);
                // SAFETY: As above.
                if let Err(e) = unsafe { udata_out(udata, &r.udata) } {
                    ch.mappings().unstash(CtxHandle(ctx), cookie);
                    let _ = ch.call(&Request::DestroySrq(SrqReq {
                        ctx: CtxHandle(ctx),
                        srq: r.srq,
                    }));
                    return Err(forget(e));
                }
                Ok(0)
            }
            _ => Err(forget(eproto())),
        }
    })
}

pub(crate) unsafe extern "C" fn modify_srq(
    srq: *mut sys::ib_srq,
    attr: *mut sys::ib_srq_attr,
    mask: sys::ib_srq_attr_mask,
    udata: *mut sys::ib_udata,
) -> c_int {
    from_result(|| {
        // SAFETY: An SRQ we set up; the core passes the attributes.
        let (ch, xsrq, attr) = unsafe { (channel((*srq).device), &*srq.cast::<XibSrq>(), &*attr) };
        let req = ModifySrqReq {
            ctx: CtxHandle(xsrq.ctx),
            srq: SrqHandle(xsrq.handle),
            attr_mask: mask as u32,
            max_wr: attr.max_wr,
            srq_limit: attr.srq_limit,
            // SAFETY: This verb's udata.
            udata: unsafe { udata_in(udata)? },
        };
        ch.call(&Request::ModifySrq(req))?;
        Ok(0)
    })
}

pub(crate) unsafe extern "C" fn query_srq(
    srq: *mut sys::ib_srq,
    attr: *mut sys::ib_srq_attr,
) -> c_int {
    from_result(|| {
        // SAFETY: An SRQ we set up; the core passes a buffer.
        let (ch, xsrq, attr) =
            unsafe { (channel((*srq).device), &*srq.cast::<XibSrq>(), &mut *attr) };
        match ch.call(&Request::QuerySrq(SrqReq {
            ctx: CtxHandle(xsrq.ctx),
            srq: SrqHandle(xsrq.handle),
        }))? {
            RspBody::QuerySrq(r) => {
                attr.max_wr = r.max_wr;
                attr.max_sge = r.max_sge;
                attr.srq_limit = r.srq_limit;
                Ok(0)
            }
            _ => Err(eproto()),
        }
    })
}

pub(crate) unsafe extern "C" fn destroy_srq(
    srq: *mut sys::ib_srq,
    _udata: *mut sys::ib_udata,
) -> c_int {
    from_result(|| {
        // SAFETY: An SRQ we set up.
        let (ch, xsrq) = unsafe { (channel((*srq).device), &*srq.cast::<XibSrq>()) };
        ch.mappings().unstash(CtxHandle(xsrq.ctx), xsrq.cookie);
        ch.release(&Request::DestroySrq(SrqReq {
            ctx: CtxHandle(xsrq.ctx),
            srq: SrqHandle(xsrq.handle),
        }))?;
        ch.remove_object(ObjRef::Srq(NonNull::new(srq).ok_or(EINVAL)?), xsrq.cookie);
        Ok(0)
    })
}

/// Kernel consumers only; user space posts to the mapped queue.
pub(crate) unsafe extern "C" fn post_srq_recv(
    _srq: *mut sys::ib_srq,
    _wr: *const sys::ib_recv_wr,
    _bad: *mut *const sys::ib_recv_wr,
) -> c_int {
    eopnotsupp().to_errno()
}
