// SPDX-License-Identifier: GPL-2.0

//! Queue pairs, and the send doorbell ("kick").

use kernel::prelude::*;

use crate::av::AddressVector;
use crate::context::{offered, response, Context};
use crate::device::Device;
use crate::policy::{Address, QpPaths};
use crate::sys;
use crate::uverbs::{bytes_of_mut, Service};
use crate::wire::{
    AhAttr, CreateQpReq, CreateQpRsp, ModifyQpReq, QpAttr, QpCaps, QpHandle, QpReq, QpState,
    QueryQpReq, QueryQpRsp, QueueMaps, MAX_UDATA,
};

pub(crate) fn create(ctx: &mut Context, svc: &Service, req: &CreateQpReq) -> Result<CreateQpRsp> {
    let mut cmd = sys::ib_uverbs_create_qp {
        user_handle: req.user_handle,
        pd_handle: req.pd.0,
        send_cq_handle: req.send_cq.0,
        recv_cq_handle: req.recv_cq.0,
        srq_handle: req.srq.map_or(0, |s| s.0),
        max_send_wr: req.caps.max_send_wr,
        max_recv_wr: req.caps.max_recv_wr,
        max_send_sge: req.caps.max_send_sge,
        max_recv_sge: req.caps.max_recv_sge,
        max_inline_data: req.caps.max_inline_data,
        sq_sig_all: req.sq_sig_all as u8,
        qp_type: req.qp_type.raw(),
        is_srq: req.srq.is_some() as u8,
        ..Default::default()
    };
    let mut resp = sys::ib_uverbs_create_qp_resp::default();
    let mut out = [0u8; MAX_UDATA];
    let out = offered(&mut out, &req.udata);
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_CREATE_QP,
        &mut cmd,
        req.udata.as_slice(),
        bytes_of_mut(&mut resp),
        &mut *out,
    )?;
    Ok(CreateQpRsp {
        qp: QpHandle(resp.qp_handle),
        qpn: resp.qpn,
        caps: QpCaps {
            max_send_wr: resp.max_send_wr,
            max_recv_wr: resp.max_recv_wr,
            max_send_sge: resp.max_send_sge,
            max_recv_sge: resp.max_recv_sge,
            max_inline_data: resp.max_inline_data,
        },
        udata: response(out, &req.udata)?,
        queues: QueueMaps::default(),
    })
}

/// The uverbs form of a checked path (all zero when the mask does not
/// select it): every field comes from the checked address.
fn qp_dest(addr: Option<&Address>) -> sys::ib_uverbs_qp_dest {
    let Some(Address { av, sgid_index }) = addr else {
        return Default::default();
    };
    let g = av.grh.unwrap_or_default();
    let (dlid, src_path_bits) = av.lrh();
    sys::ib_uverbs_qp_dest {
        dgid: g.dgid,
        flow_label: g.flow_label,
        dlid,
        sgid_index: *sgid_index,
        hop_limit: g.hop_limit,
        traffic_class: g.traffic_class,
        sl: av.sl,
        src_path_bits,
        static_rate: av.static_rate,
        is_global: av.grh.is_some() as u8,
        port_num: av.port_num,
        ..Default::default()
    }
}

/// `paths`: the request's paths, checked (`Policy::modify_qp`).
pub(crate) fn modify(ctx: &mut Context, svc: &Service, req: &ModifyQpReq, paths: &QpPaths) -> Result {
    let a = &req.attr;
    let mut cmd = sys::ib_uverbs_modify_qp {
        dest: qp_dest(paths.dest.as_ref()),
        alt_dest: qp_dest(paths.alt.as_ref()),
        qp_handle: req.qp.0,
        attr_mask: req.attr_mask,
        qkey: a.qkey,
        rq_psn: a.rq_psn,
        sq_psn: a.sq_psn,
        dest_qp_num: a.dest_qp_num,
        qp_access_flags: a.qp_access_flags,
        pkey_index: a.pkey_index,
        alt_pkey_index: a.alt_pkey_index,
        qp_state: a.qp_state.raw(),
        cur_qp_state: a.cur_qp_state.raw(),
        path_mtu: a.path_mtu,
        path_mig_state: a.path_mig_state,
        en_sqd_async_notify: a.en_sqd_async_notify,
        max_rd_atomic: a.max_rd_atomic,
        max_dest_rd_atomic: a.max_dest_rd_atomic,
        min_rnr_timer: a.min_rnr_timer,
        port_num: a.port_num,
        timeout: a.timeout,
        retry_cnt: a.retry_cnt,
        rnr_retry: a.rnr_retry,
        alt_port_num: a.alt_port_num,
        alt_timeout: a.alt_timeout,
        ..Default::default()
    };
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_MODIFY_QP,
        &mut cmd,
        req.udata.as_slice(),
        &mut [],
        &mut [],
    )
}

pub(crate) fn destroy(ctx: &mut Context, svc: &Service, req: &QpReq) -> Result {
    let mut cmd = sys::ib_uverbs_destroy_qp {
        qp_handle: req.qp.0,
        ..Default::default()
    };
    let mut resp = sys::ib_uverbs_destroy_qp_resp::default();
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_DESTROY_QP,
        &mut cmd,
        &[],
        bytes_of_mut(&mut resp),
        &mut [],
    )
}

/// The send doorbell: a `POST_SEND` with no work requests, exactly what an
/// rxe provider writes after putting WQEs in the mapped send queue.
pub(crate) fn kick(ctx: &mut Context, svc: &Service, req: &QpReq) -> Result {
    let mut cmd = sys::ib_uverbs_post_send {
        qp_handle: req.qp.0,
        wr_count: 0,
        sge_count: 0,
        wqe_size: core::mem::size_of::<sys::ib_uverbs_send_wr>() as u32,
        ..Default::default()
    };
    let mut resp = sys::ib_uverbs_post_send_resp::default();
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_POST_SEND,
        &mut cmd,
        &[],
        bytes_of_mut(&mut resp),
        &mut [],
    )
}

/// The wire form of `d`: its source GID by value (the guest's table has
/// its own indices), and only the fields of its port's link layer (a QP
/// not yet given a path has port 0: all zero then, as uverbs gives it).
fn ah_attr(dev: &Device, d: &sys::ib_uverbs_qp_dest) -> AhAttr {
    let (sgid, sgid_type) = match d.is_global {
        0 => Default::default(),
        _ => dev
            .gid_at(d.port_num, d.sgid_index.into())
            .ok()
            .flatten()
            .unwrap_or_default(),
    };
    let a = AhAttr {
        dgid: d.dgid,
        sgid,
        sgid_type,
        flow_label: d.flow_label,
        dlid: d.dlid,
        hop_limit: d.hop_limit,
        traffic_class: d.traffic_class,
        sl: d.sl,
        src_path_bits: d.src_path_bits,
        static_rate: d.static_rate,
        is_global: d.is_global != 0,
        port_num: d.port_num,
    };
    match dev.port_info(d.port_num) {
        Ok(port) => AddressVector::from_wire(&a, port.link_layer).to_wire(),
        Err(_) => a,
    }
}

pub(crate) fn query(
    ctx: &mut Context,
    svc: &Service,
    dev: &Device,
    req: &QueryQpReq,
) -> Result<QueryQpRsp> {
    let mut cmd = sys::ib_uverbs_query_qp {
        qp_handle: req.qp.0,
        attr_mask: req.attr_mask,
        ..Default::default()
    };
    let mut r = sys::ib_uverbs_query_qp_resp::default();
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_QUERY_QP,
        &mut cmd,
        &[],
        bytes_of_mut(&mut r),
        &mut [],
    )?;
    let state = |s: u8| QpState::from_raw(s).ok_or(EINVAL);
    Ok(QueryQpRsp {
        attr: QpAttr {
            qkey: r.qkey,
            rq_psn: r.rq_psn,
            sq_psn: r.sq_psn,
            dest_qp_num: r.dest_qp_num,
            qp_access_flags: r.qp_access_flags,
            rate_limit: 0,
            pkey_index: r.pkey_index,
            alt_pkey_index: r.alt_pkey_index,
            qp_state: state(r.qp_state)?,
            cur_qp_state: state(r.cur_qp_state)?,
            path_mtu: r.path_mtu,
            path_mig_state: r.path_mig_state,
            en_sqd_async_notify: r.sq_draining,
            max_rd_atomic: r.max_rd_atomic,
            max_dest_rd_atomic: r.max_dest_rd_atomic,
            min_rnr_timer: r.min_rnr_timer,
            port_num: r.port_num,
            timeout: r.timeout,
            retry_cnt: r.retry_cnt,
            rnr_retry: r.rnr_retry,
            alt_port_num: r.alt_port_num,
            alt_timeout: r.alt_timeout,
            dest: ah_attr(dev, &r.dest),
            alt_dest: ah_attr(dev, &r.alt_dest),
        },
        caps: QpCaps {
            max_send_wr: r.max_send_wr,
            max_recv_wr: r.max_recv_wr,
            max_send_sge: r.max_send_sge,
            max_recv_sge: r.max_recv_sge,
            max_inline_data: r.max_inline_data,
        },
        sq_sig_all: r.sq_sig_all != 0,
    })
}
