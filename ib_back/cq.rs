// SPDX-License-Identifier: GPL-2.0

//! Completion queues.

use kernel::prelude::*;

use crate::context::{offered, response, Context};
use crate::sys;
use crate::uverbs::{bytes_of_mut, Service};
use crate::wire::{
    CqHandle, CqReq, CreateCqReq, CreateCqRsp, QueueMaps, ReqNotifyCqReq, ResizeCqReq,
    ResizeCqRsp, MAX_UDATA,
};

pub(crate) fn create(ctx: &mut Context, svc: &Service, req: &CreateCqReq) -> Result<CreateCqRsp> {
    let mut cmd = sys::ib_uverbs_create_cq {
        user_handle: req.user_handle,
        cqe: req.cqe,
        comp_vector: req.comp_vector,
        comp_channel: ctx.comp.fd(),
        ..Default::default()
    };
    let mut resp = sys::ib_uverbs_create_cq_resp::default();
    let mut out = [0u8; MAX_UDATA];
    let out = offered(&mut out, &req.udata);
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_CREATE_CQ,
        &mut cmd,
        req.udata.as_slice(),
        bytes_of_mut(&mut resp),
        &mut *out,
    )?;
    Ok(CreateCqRsp {
        cq: CqHandle(resp.cq_handle),
        cqe: resp.cqe,
        udata: response(out, &req.udata)?,
        queues: QueueMaps::default(),
    })
}

pub(crate) fn resize(ctx: &mut Context, svc: &Service, req: &ResizeCqReq) -> Result<ResizeCqRsp> {
    let mut cmd = sys::ib_uverbs_resize_cq {
        cq_handle: req.cq.0,
        cqe: req.cqe,
        ..Default::default()
    };
    let mut resp = sys::ib_uverbs_resize_cq_resp::default();
    let mut out = [0u8; MAX_UDATA];
    let out = offered(&mut out, &req.udata);
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_RESIZE_CQ,
        &mut cmd,
        req.udata.as_slice(),
        bytes_of_mut(&mut resp),
        &mut *out,
    )?;
    Ok(ResizeCqRsp {
        cqe: resp.cqe,
        udata: response(out, &req.udata)?,
    })
}

pub(crate) fn destroy(ctx: &mut Context, svc: &Service, req: &CqReq) -> Result {
    let mut cmd = sys::ib_uverbs_destroy_cq {
        cq_handle: req.cq.0,
        ..Default::default()
    };
    let mut resp = sys::ib_uverbs_destroy_cq_resp::default();
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_DESTROY_CQ,
        &mut cmd,
        &[],
        bytes_of_mut(&mut resp),
        &mut [],
    )
}

pub(crate) fn req_notify(ctx: &mut Context, svc: &Service, req: &ReqNotifyCqReq) -> Result {
    let mut cmd = sys::ib_uverbs_req_notify_cq {
        cq_handle: req.cq.0,
        solicited_only: req.solicited_only as u32,
    };
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_REQ_NOTIFY_CQ,
        &mut cmd,
        &[],
        &mut [],
        &mut [],
    )
}
