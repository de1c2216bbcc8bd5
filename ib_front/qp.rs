// SPDX-License-Identifier: GPL-2.0

//! Queue pairs. The provider writes work requests into the mapped queues
//! itself; a send needs only the doorbell, a zero-WR `post_send`, which
//! becomes a bit in the doorbell page (`sys/doorbell_page.rs`): no request,
//! and a notification only when the backend has not been told already.

use crate::errno::{eopnotsupp, eproto};
use core::ffi::c_int;
use core::ptr::NonNull;
use core::sync::atomic::Ordering;
use kernel::error::from_result;
use kernel::prelude::*;

use crate::ah::ah_attr_to_wire;
use crate::av::{AddressVector, LinkAddress, LinkLayer};
use crate::channel::ObjRef;
use crate::context::{ctx_of, udata_in, udata_out};
use crate::device::{channel, port_link_layer, XibCq, XibPd, XibQp, XibSrq};
use crate::sys;
use crate::wire::{
    AhAttr, CqHandle, CreateQpReq, CtxHandle, ModifyQpReq, PdHandle, QpAttr, QpCaps, QpHandle,
    QpReq, QpState, QpType, QueryQpReq, Request, RspBody, SrqHandle,
};

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

pub(crate) unsafe extern "C" fn create_qp(
    qp: *mut sys::ib_qp,
    init: *mut sys::ib_qp_init_attr,
    udata: *mut sys::ib_udata,
) -> c_int {
    from_result(|| {
        // SAFETY: The core allocated `qp` with our size on our device, set
        // its PD, and passes the init attributes (with our CQs/SRQ) and
        // this verb's udata.
        let (ch, xqp, init, xpd) = unsafe {
            (
                channel((*qp).device),
                &mut *qp.cast::<XibQp>(),
                &mut *init,
                &*(*qp).pd.cast::<XibPd>(),
            )
        };
        // SAFETY: As above.
        let ctx = unsafe { ctx_of(udata)? };
        let qp_type =
            QpType::from_raw(u8::try_from(init.qp_type).map_err(|_| EINVAL)?).ok_or(eopnotsupp())?;
        let srq = if init.srq.is_null() {
            None
        } else {
            // SAFETY: As above: one of our SRQs.
            Some(SrqHandle(unsafe { (*init.srq.cast::<XibSrq>()).handle }))
        };
        let obj = ObjRef::Qp(NonNull::new(qp).ok_or(EINVAL)?);
        let cookie = ch.add_object(obj)?;
        let forget = |e: Error| {
            ch.remove_object(obj, cookie);
            e
        };
        let req = CreateQpReq {
            user_handle: cookie,
            ctx: CtxHandle(ctx),
            pd: PdHandle(xpd.handle),
            // SAFETY: As above.
            send_cq: unsafe { cq_handle(init.send_cq).map_err(forget)? },
            // SAFETY: As above.
            recv_cq: unsafe { cq_handle(init.recv_cq).map_err(forget)? },
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
            udata: unsafe { udata_in(udata).map_err(forget)? },
        };
        match ch.call(&Request::CreateQp(req)).map_err(forget)? {
            RspBody::CreateQp(r) => {
                xqp.handle = r.qp.0;
                xqp.ctx = ctx;
                xqp.cookie = cookie;
                xqp.state
                    .store(sys::ib_qp_state_IB_QPS_RESET, Ordering::Relaxed);
                xqp.ibqp.qp_num = r.qpn;
                init.cap.max_send_wr = r.caps.max_send_wr;
                init.cap.max_recv_wr = r.caps.max_recv_wr;
                init.cap.max_send_sge = r.caps.max_send_sge;
                init.cap.max_recv_sge = r.caps.max_recv_sge;
                init.cap.max_inline_data = r.caps.max_inline_data;
                ch.mappings().stash(CtxHandle(ctx), cookie, &r.queues);
                // SAFETY: As above.
                if let Err(e) = unsafe { udata_out(udata, &r.udata) } {
                    ch.mappings().unstash(CtxHandle(ctx), cookie);
                    let _ = ch.call(&Request::DestroyQp(QpReq {
                        ctx: CtxHandle(ctx),
                        qp: r.qp,
                    }));
                    return Err(forget(e));
                }
                Ok(0)
            }
            _ => Err(forget(eproto())),
        }
    })
}

fn state(s: u32) -> Result<QpState> {
    QpState::from_raw(u8::try_from(s).map_err(|_| EINVAL)?).ok_or(EINVAL)
}

pub(crate) unsafe extern "C" fn modify_qp(
    qp: *mut sys::ib_qp,
    attr: *mut sys::ib_qp_attr,
    mask: c_int,
    udata: *mut sys::ib_udata,
) -> c_int {
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
            qp_state: if has(sys::ib_qp_attr_mask_IB_QP_STATE) {
                state(a.qp_state)?
            } else {
                QpState::Reset
            },
            cur_qp_state: if has(sys::ib_qp_attr_mask_IB_QP_CUR_STATE) {
                state(a.cur_qp_state)?
            } else {
                QpState::Reset
            },
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
            // Only a selected path's `sgid_attr` was resolved by the core.
            dest: if has(sys::ib_qp_attr_mask_IB_QP_AV) {
                ah_attr_to_wire(&a.ah_attr)?
            } else {
                AhAttr::default()
            },
            alt_dest: if has(sys::ib_qp_attr_mask_IB_QP_ALT_PATH) {
                ah_attr_to_wire(&a.alt_ah_attr)?
            } else {
                AhAttr::default()
            },
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
        if has(sys::ib_qp_attr_mask_IB_QP_STATE) {
            xqp.state.store(a.qp_state, Ordering::Relaxed);
        }
        Ok(0)
    })
}

pub(crate) unsafe extern "C" fn destroy_qp(
    qp: *mut sys::ib_qp,
    _udata: *mut sys::ib_udata,
) -> c_int {
    from_result(|| {
        // SAFETY: A QP we set up.
        let (ch, xqp) = unsafe { (channel((*qp).device), &*qp.cast::<XibQp>()) };
        ch.mappings().unstash(CtxHandle(xqp.ctx), xqp.cookie);
        ch.release(&Request::DestroyQp(QpReq {
            ctx: CtxHandle(xqp.ctx),
            qp: QpHandle(xqp.handle),
        }))?;
        ch.remove_object(ObjRef::Qp(NonNull::new(qp).ok_or(EINVAL)?), xqp.cookie);
        Ok(0)
    })
}

/// The send doorbell. User space writes the WQEs into the mapped send
/// queue and calls `post_send` with no work request; work requests from
/// the kernel are not supported.
pub(crate) unsafe extern "C" fn post_send(
    qp: *mut sys::ib_qp,
    wr: *const sys::ib_send_wr,
    _bad: *mut *const sys::ib_send_wr,
) -> c_int {
    from_result(|| {
        if !wr.is_null() {
            return Err(eopnotsupp());
        }
        // SAFETY: A QP we set up.
        let (ch, xqp) = unsafe { (channel((*qp).device), &*qp.cast::<XibQp>()) };
        let state = xqp.state.load(Ordering::Relaxed);
        if state == sys::ib_qp_state_IB_QPS_RESET
            || state == sys::ib_qp_state_IB_QPS_INIT
            || state == sys::ib_qp_state_IB_QPS_RTR
        {
            return Err(EINVAL);
        }
        ch.ring_doorbell(xqp.cookie)?;
        Ok(0)
    })
}

/// Kernel consumers only; user space posts to the mapped queue.
pub(crate) unsafe extern "C" fn post_recv(
    _qp: *mut sys::ib_qp,
    _wr: *const sys::ib_recv_wr,
    _bad: *mut *const sys::ib_recv_wr,
) -> c_int {
    eopnotsupp().to_errno()
}

/// Fills the core's address vector from the wire form, as its port's
/// link layer has it (a path not set yet names no port: then port 1's);
/// the source GID is found in our device's table (index 0 if it is not
/// there).
///
/// # Safety
///
/// `dev` must be a device registered by `IbDevice::register`.
unsafe fn ah_attr_from_wire(dev: *mut sys::ib_device, out: &mut sys::rdma_ah_attr, a: &AhAttr) {
    // SAFETY: Per the function contract.
    let ll = unsafe { port_link_layer(dev, a.port_num).or_else(|| port_link_layer(dev, 1)) };
    let av = AddressVector::from_wire(a, ll.unwrap_or(LinkLayer::Ethernet));
    *out = sys::rdma_ah_attr::default();
    out.sl = av.sl;
    out.static_rate = av.static_rate;
    out.port_num = av.port_num.into();
    match av.link {
        LinkAddress::Ib {
            dlid,
            src_path_bits,
        } => {
            out.type_ = sys::rdma_ah_attr_type_RDMA_AH_ATTR_TYPE_IB;
            // SAFETY: The type says `ib` is the union's member in use.
            unsafe {
                *out.__bindgen_anon_1.ib.as_mut() = sys::ib_ah_attr {
                    dlid,
                    src_path_bits,
                }
            };
        }
        LinkAddress::Roce => out.type_ = sys::rdma_ah_attr_type_RDMA_AH_ATTR_TYPE_ROCE,
    }
    if let Some(g) = av.grh {
        out.ah_flags = sys::ib_ah_flags_IB_AH_GRH as u8;
        // SAFETY: Writing the plain byte view of the GID union.
        unsafe { *out.grh.dgid.raw.as_mut() = g.dgid };
        out.grh.flow_label = g.flow_label;
        // SAFETY: `dev` is our registered device; `sgid` is 16 bytes.
        let index = unsafe {
            sys::xenib_find_gid(dev, a.port_num.into(), g.sgid.as_ptr(), g.sgid_type)
        };
        out.grh.sgid_index = u8::try_from(index).unwrap_or(0);
        out.grh.hop_limit = g.hop_limit;
        out.grh.traffic_class = g.traffic_class;
    }
}

pub(crate) unsafe extern "C" fn query_qp(
    qp: *mut sys::ib_qp,
    attr: *mut sys::ib_qp_attr,
    mask: c_int,
    init: *mut sys::ib_qp_init_attr,
) -> c_int {
    from_result(|| {
        // SAFETY: A QP we set up; the core passes buffers to fill.
        let (ch, xqp, out, init) = unsafe {
            (
                channel((*qp).device),
                &*qp.cast::<XibQp>(),
                &mut *attr,
                &mut *init,
            )
        };
        let req = QueryQpReq {
            ctx: CtxHandle(xqp.ctx),
            qp: QpHandle(xqp.handle),
            attr_mask: mask as u32,
        };
        let r = match ch.call(&Request::QueryQp(req))? {
            RspBody::QueryQp(r) => r,
            _ => return Err(eproto()),
        };
        let a = &r.attr;
        out.qp_state = a.qp_state.raw().into();
        out.cur_qp_state = a.cur_qp_state.raw().into();
        out.path_mtu = a.path_mtu.into();
        out.path_mig_state = a.path_mig_state.into();
        out.qkey = a.qkey;
        out.rq_psn = a.rq_psn;
        out.sq_psn = a.sq_psn;
        out.dest_qp_num = a.dest_qp_num;
        out.qp_access_flags = a.qp_access_flags as _;
        let cap = || sys::ib_qp_cap {
            max_send_wr: r.caps.max_send_wr,
            max_recv_wr: r.caps.max_recv_wr,
            max_send_sge: r.caps.max_send_sge,
            max_recv_sge: r.caps.max_recv_sge,
            max_inline_data: r.caps.max_inline_data,
            ..Default::default()
        };
        out.cap = cap();
        // SAFETY: As above: our device.
        let dev = unsafe { (*qp).device };
        // SAFETY: As above: our device.
        unsafe {
            ah_attr_from_wire(dev, &mut out.ah_attr, &a.dest);
            ah_attr_from_wire(dev, &mut out.alt_ah_attr, &a.alt_dest);
        }
        out.pkey_index = a.pkey_index;
        out.alt_pkey_index = a.alt_pkey_index;
        out.en_sqd_async_notify = 0;
        out.sq_draining = a.en_sqd_async_notify;
        out.max_rd_atomic = a.max_rd_atomic;
        out.max_dest_rd_atomic = a.max_dest_rd_atomic;
        out.min_rnr_timer = a.min_rnr_timer;
        out.port_num = a.port_num.into();
        out.timeout = a.timeout;
        out.retry_cnt = a.retry_cnt;
        out.rnr_retry = a.rnr_retry;
        out.alt_port_num = a.alt_port_num.into();
        out.alt_timeout = a.alt_timeout;
        out.rate_limit = a.rate_limit;
        init.cap = cap();
        init.sq_sig_type = if r.sq_sig_all {
            sys::ib_sig_type_IB_SIGNAL_ALL_WR
        } else {
            sys::ib_sig_type_IB_SIGNAL_REQ_WR
        };
        Ok(0)
    })
}
