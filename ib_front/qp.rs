// SPDX-License-Identifier: GPL-2.0

//! Queue pairs. The provider writes work requests into the mapped queues
//! itself; a send needs only the doorbell, a zero-WR `post_send`, which is
//! forwarded as a `Kick` that nobody waits for.

use core::ffi::c_int;
use kernel::error::from_result;
use kernel::prelude::*;
use crate::errno::{eproto, eopnotsupp};

use crate::ah::ah_attr_to_wire;
use crate::context::{ctx_of, udata_in, udata_out};
use crate::device::{channel, XibCq, XibPd, XibQp, XibSrq};
use crate::sys;
use crate::wire::{CqHandle, CreateQpReq, CtxHandle, ModifyQpReq, PdHandle, QpAttr, QpCaps, QpHandle, QpReq, QpState, QpType, Request, RspBody, SrqHandle};

/// The backend handle of a CQ the core hands us (null: none).
///
/// # Safety
///
/// `cq` is null or one of our CQs.
unsafe fn cq_handle(cq: *mut sys::ib_cq) -> Result<CqHandle> {
    if cq.is_null() {
        return Err(EINVAL);
    }
    // SAFETY: Per the function contract.
    Ok(CqHandle(unsafe { (*cq.cast::<XibCq>()).handle }))
}

pub(crate) unsafe extern "C" fn create_qp(qp: *mut sys::ib_qp, init: *mut sys::ib_qp_init_attr, udata: *mut sys::ib_udata) -> c_int {
    from_result(|| {
        // SAFETY: The core allocated `qp` with our size on our device, set
        // its PD, and passes the init attributes (with our CQs/SRQ) and
        // this verb's udata.
        let (ch, xqp, init, xpd) =
            unsafe { (channel((*qp).device), &mut *qp.cast::<XibQp>(), &mut *init, &*(*qp).pd.cast::<XibPd>()) };
        // SAFETY: As above.
        let ctx = unsafe { ctx_of(udata)? };
        let qp_type = QpType::from_raw(u8::try_from(init.qp_type).map_err(|_| EINVAL)?).ok_or(eopnotsupp())?;
        let srq = if init.srq.is_null() {
            None
        } else {
            // SAFETY: As above: one of our SRQs.
            Some(SrqHandle(unsafe { (*init.srq.cast::<XibSrq>()).handle }))
        };
        let req = CreateQpReq {
            user_handle: 0,
            ctx: CtxHandle(ctx),
            pd: PdHandle(xpd.handle),
            // SAFETY: As above.
            send_cq: unsafe { cq_handle(init.send_cq)? },
            // SAFETY: As above.
            recv_cq: unsafe { cq_handle(init.recv_cq)? },
            srq,
            caps: QpCaps {
                max_send_wr: init.cap.max_send_wr,
                max_recv_wr: init.cap.max_recv_wr,
                max_send_sge: init.cap.max_send_sge,
                max_recv_sge: init.cap.max_recv_sge,
                max_inline_data: init.cap.max_inline_data,
            },
            qp_type,
            sq_sig_all: init.sq_sig_type == sys::ib_sig_type_IB_SIGNAL_ALL_WR,
            // SAFETY: As above.
            udata: unsafe { udata_in(udata)? },
        };
        match ch.call(&Request::CreateQp(req))? {
            RspBody::CreateQp(r) => {
                xqp.handle = r.qp.0;
                xqp.ctx = ctx;
                xqp.ibqp.qp_num = r.qpn;
                init.cap.max_send_wr = r.caps.max_send_wr;
                init.cap.max_recv_wr = r.caps.max_recv_wr;
                init.cap.max_send_sge = r.caps.max_send_sge;
                init.cap.max_recv_sge = r.caps.max_recv_sge;
                init.cap.max_inline_data = r.caps.max_inline_data;
                // SAFETY: As above.
                if let Err(e) = unsafe { udata_out(udata, &r.udata) } {
                    let _ = ch.call(&Request::DestroyQp(QpReq { ctx: CtxHandle(ctx), qp: r.qp }));
                    return Err(e);
                }
                Ok(0)
            }
            _ => Err(eproto()),
        }
    })
}

fn state(s: u32) -> Result<QpState> {
    QpState::from_raw(u8::try_from(s).map_err(|_| EINVAL)?).ok_or(EINVAL)
}

pub(crate) unsafe extern "C" fn modify_qp(qp: *mut sys::ib_qp, attr: *mut sys::ib_qp_attr, mask: c_int, udata: *mut sys::ib_udata) -> c_int {
    from_result(|| {
        // SAFETY: A QP we set up; the core passes the attributes and udata.
        let (ch, xqp, a) = unsafe { (channel((*qp).device), &*qp.cast::<XibQp>(), &*attr) };
        let mask = mask as u32;
        // Fields outside the mask may hold anything; the wire wants zeros.
        let has = |bit: u32| mask & bit != 0;
        let attr = QpAttr {
            qkey: a.qkey,
            rq_psn: a.rq_psn,
            sq_psn: a.sq_psn,
            dest_qp_num: a.dest_qp_num,
            qp_access_flags: a.qp_access_flags as u32,
            rate_limit: a.rate_limit,
            pkey_index: a.pkey_index,
            alt_pkey_index: a.alt_pkey_index,
            qp_state: if has(sys::ib_qp_attr_mask_IB_QP_STATE) { state(a.qp_state)? } else { QpState::Reset },
            cur_qp_state: if has(sys::ib_qp_attr_mask_IB_QP_CUR_STATE) { state(a.cur_qp_state)? } else { QpState::Reset },
            path_mtu: a.path_mtu as u8,
            path_mig_state: a.path_mig_state as u8,
            en_sqd_async_notify: a.en_sqd_async_notify,
            max_rd_atomic: a.max_rd_atomic,
            max_dest_rd_atomic: a.max_dest_rd_atomic,
            min_rnr_timer: a.min_rnr_timer,
            port_num: a.port_num as u8,
            timeout: a.timeout,
            retry_cnt: a.retry_cnt,
            rnr_retry: a.rnr_retry,
            alt_port_num: a.alt_port_num as u8,
            alt_timeout: a.alt_timeout,
            dest: ah_attr_to_wire(&a.ah_attr),
            alt_dest: ah_attr_to_wire(&a.alt_ah_attr),
        };
        let req = ModifyQpReq {
            ctx: CtxHandle(xqp.ctx),
            qp: QpHandle(xqp.handle),
            attr_mask: mask,
            attr,
            // SAFETY: This verb's udata.
            udata: unsafe { udata_in(udata)? },
        };
        ch.call(&Request::ModifyQp(req))?;
        Ok(0)
    })
}

pub(crate) unsafe extern "C" fn destroy_qp(qp: *mut sys::ib_qp, _udata: *mut sys::ib_udata) -> c_int {
    from_result(|| {
        // SAFETY: A QP we set up.
        let (ch, xqp) = unsafe { (channel((*qp).device), &*qp.cast::<XibQp>()) };
        ch.call(&Request::DestroyQp(QpReq { ctx: CtxHandle(xqp.ctx), qp: QpHandle(xqp.handle) }))?;
        Ok(0)
    })
}

/// The send doorbell. User space writes the WQEs into the mapped send
/// queue and calls `post_send` with no work request; work requests from
/// the kernel are not supported.
pub(crate) unsafe extern "C" fn post_send(qp: *mut sys::ib_qp, wr: *const sys::ib_send_wr, _bad: *mut *const sys::ib_send_wr) -> c_int {
    from_result(|| {
        if !wr.is_null() {
            return Err(eopnotsupp());
        }
        // SAFETY: A QP we set up.
        let (ch, xqp) = unsafe { (channel((*qp).device), &*qp.cast::<XibQp>()) };
        ch.call(&Request::Kick(QpReq { ctx: CtxHandle(xqp.ctx), qp: QpHandle(xqp.handle) }))?;
        Ok(0)
    })
}

/// Kernel consumers only; user space posts to the mapped queue.
pub(crate) unsafe extern "C" fn post_recv(_qp: *mut sys::ib_qp, _wr: *const sys::ib_recv_wr, _bad: *mut *const sys::ib_recv_wr) -> c_int {
    eopnotsupp().to_errno()
}
