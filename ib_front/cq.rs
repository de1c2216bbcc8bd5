// SPDX-License-Identifier: GPL-2.0

//! Completion queues. The guest polls the backend driver's CQ in place
//! (mapped by `mmap.rs`); only creation, resizing, arming and destruction
//! are forwarded.

use core::ffi::c_int;
use core::ptr::NonNull;
use kernel::error::from_result;
use kernel::prelude::*;

use crate::channel::{Channel, ObjRef};
use crate::errno::{eopnotsupp, eproto};

use crate::context::{ctx_of, udata_in, udata_out};
use crate::device::{channel, XibCq};
use crate::sys;
use crate::wire::{
    CqHandle, CqReq, CreateCqReq, CtxHandle, ReqNotifyCqReq, Request, ResizeCqReq, RspBody,
};

pub(crate) unsafe extern "C" fn create_cq(
    cq: *mut sys::ib_cq,
    attr: *const sys::ib_cq_init_attr,
    attrs: *mut sys::uverbs_attr_bundle,
) -> c_int {
    from_result(|| {
        if attrs.is_null() {
            return Err(eopnotsupp());
        }
        // SAFETY: The core allocated `cq` with our size on our device and
        // passes the init attributes and this verb's bundle.
        let (ch, xcq, attr, udata) = unsafe {
            (
                channel((*cq).device),
                &mut *cq.cast::<XibCq>(),
                &*attr,
                sys::xenib_bundle_udata(attrs),
            )
        };
        if attr.flags != 0 {
            return Err(eopnotsupp());
        }
        // SAFETY: As above.
        let ctx = unsafe { ctx_of(udata)? };
        let obj = ObjRef::Cq(NonNull::new(cq).ok_or(EINVAL)?);
        let cookie = ch.add_object(obj)?;
        let result = create(ch, xcq, attr, udata, ctx, cookie);
        if result.is_err() {
            ch.remove_object(obj, cookie);
        }
        result
    })
}

/// Creates the backend CQ for `xcq`, whose completion events carry `cookie`.
fn create(
    ch: &Channel,
    xcq: &mut XibCq,
    attr: &sys::ib_cq_init_attr,
    udata: *mut sys::ib_udata,
    ctx: u32,
    cookie: u64,
) -> Result<i32> {
    let req = CreateCqReq {
        user_handle: cookie,
        ctx: CtxHandle(ctx),
        cqe: attr.cqe,
        comp_vector: 0,
        // SAFETY: The core's udata for this verb.
        udata: unsafe { udata_in(udata)? },
    };
    match ch.call(&Request::CreateCq(req))? {
        RspBody::CreateCq(r) => {
            xcq.handle = r.cq.0;
            xcq.ctx = ctx;
            xcq.cookie = cookie;
            xcq.ibcq.cqe = r.cqe as _;
            ch.mappings().stash(CtxHandle(ctx), cookie, &r.queues);
            // SAFETY: As above.
            if let Err(e) = unsafe { udata_out(udata, &r.udata) } {
                ch.mappings().unstash(CtxHandle(ctx), cookie);
                let _ = ch.call(&Request::DestroyCq(CqReq {
                    ctx: CtxHandle(ctx),
                    cq: r.cq,
                }));
                return Err(e);
            }
            Ok(0)
        }
        _ => Err(eproto()),
    }
}

pub(crate) unsafe extern "C" fn destroy_cq(
    cq: *mut sys::ib_cq,
    _udata: *mut sys::ib_udata,
) -> c_int {
    from_result(|| {
        // SAFETY: A CQ we set up in `create_cq`.
        let (ch, xcq) = unsafe { (channel((*cq).device), &*cq.cast::<XibCq>()) };
        ch.mappings().unstash(CtxHandle(xcq.ctx), xcq.cookie);
        ch.release(&Request::DestroyCq(CqReq {
            ctx: CtxHandle(xcq.ctx),
            cq: CqHandle(xcq.handle),
        }))?;
        ch.remove_object(ObjRef::Cq(NonNull::new(cq).ok_or(EINVAL)?), xcq.cookie);
        Ok(0)
    })
}

pub(crate) unsafe extern "C" fn resize_cq(
    cq: *mut sys::ib_cq,
    cqe: c_int,
    udata: *mut sys::ib_udata,
) -> c_int {
    from_result(|| {
        // SAFETY: A CQ we set up, and this verb's udata.
        let (ch, xcq) = unsafe { (channel((*cq).device), &mut *cq.cast::<XibCq>()) };
        let req = ResizeCqReq {
            ctx: CtxHandle(xcq.ctx),
            cq: CqHandle(xcq.handle),
            cqe: u32::try_from(cqe).map_err(|_| EINVAL)?,
            // SAFETY: As above.
            udata: unsafe { udata_in(udata)? },
        };
        match ch.call(&Request::ResizeCq(req))? {
            RspBody::ResizeCq(r) => {
                xcq.ibcq.cqe = r.cqe as _;
                // SAFETY: As above.
                unsafe { udata_out(udata, &r.udata)? };
                Ok(0)
            }
            _ => Err(eproto()),
        }
    })
}

pub(crate) unsafe extern "C" fn req_notify_cq(
    cq: *mut sys::ib_cq,
    flags: sys::ib_cq_notify_flags,
) -> c_int {
    from_result(|| {
        // SAFETY: A CQ we set up.
        let (ch, xcq) = unsafe { (channel((*cq).device), &*cq.cast::<XibCq>()) };
        let solicited_only = flags & sys::ib_cq_notify_flags_IB_CQ_SOLICITED_MASK
            == sys::ib_cq_notify_flags_IB_CQ_SOLICITED;
        ch.call(&Request::ReqNotifyCq(ReqNotifyCqReq {
            ctx: CtxHandle(xcq.ctx),
            cq: CqHandle(xcq.handle),
            solicited_only,
        }))?;
        Ok(0)
    })
}

/// Kernel consumers only; user space polls the mapped CQ itself.
pub(crate) unsafe extern "C" fn poll_cq(
    _cq: *mut sys::ib_cq,
    _n: c_int,
    _wc: *mut sys::ib_wc,
) -> c_int {
    eopnotsupp().to_errno()
}
