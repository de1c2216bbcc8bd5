// SPDX-License-Identifier: GPL-2.0

//! Shared receive queues.

use kernel::prelude::*;

use crate::context::{offered, response, Context};
use crate::sys;
use crate::uverbs::{bytes_of_mut, Service};
use crate::wire::{
    CreateSrqReq, CreateSrqRsp, QueueMaps, ModifySrqReq, QuerySrqRsp, SrqHandle, SrqReq, MAX_UDATA,
};

pub(crate) fn create(ctx: &mut Context, svc: &Service, req: &CreateSrqReq) -> Result<CreateSrqRsp> {
    let mut cmd = sys::ib_uverbs_create_srq {
        user_handle: req.user_handle,
        pd_handle: req.pd.0,
        max_wr: req.max_wr,
        max_sge: req.max_sge,
        srq_limit: req.srq_limit,
        ..Default::default()
    };
    let mut resp = sys::ib_uverbs_create_srq_resp::default();
    let mut out = [0u8; MAX_UDATA];
    let out = offered(&mut out, &req.udata);
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_CREATE_SRQ,
        &mut cmd,
        req.udata.as_slice(),
        bytes_of_mut(&mut resp),
        &mut *out,
    )?;
    Ok(CreateSrqRsp {
        srq: SrqHandle(resp.srq_handle),
        max_wr: resp.max_wr,
        max_sge: resp.max_sge,
        srqn: resp.srqn,
        udata: response(out, &req.udata)?,
        queues: QueueMaps::default(),
    })
}

pub(crate) fn modify(ctx: &mut Context, svc: &Service, req: &ModifySrqReq) -> Result {
    let mut cmd = sys::ib_uverbs_modify_srq {
        srq_handle: req.srq.0,
        attr_mask: req.attr_mask,
        max_wr: req.max_wr,
        srq_limit: req.srq_limit,
        ..Default::default()
    };
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_MODIFY_SRQ,
        &mut cmd,
        req.udata.as_slice(),
        &mut [],
        &mut [],
    )
}

pub(crate) fn query(ctx: &mut Context, svc: &Service, req: &SrqReq) -> Result<QuerySrqRsp> {
    let mut cmd = sys::ib_uverbs_query_srq {
        srq_handle: req.srq.0,
        ..Default::default()
    };
    let mut resp = sys::ib_uverbs_query_srq_resp::default();
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_QUERY_SRQ,
        &mut cmd,
        &[],
        bytes_of_mut(&mut resp),
        &mut [],
    )?;
    Ok(QuerySrqRsp {
        max_wr: resp.max_wr,
        max_sge: resp.max_sge,
        srq_limit: resp.srq_limit,
    })
}

pub(crate) fn destroy(ctx: &mut Context, svc: &Service, req: &SrqReq) -> Result {
    let mut cmd = sys::ib_uverbs_destroy_srq {
        srq_handle: req.srq.0,
        ..Default::default()
    };
    let mut resp = sys::ib_uverbs_destroy_srq_resp::default();
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_DESTROY_SRQ,
        &mut cmd,
        &[],
        bytes_of_mut(&mut resp),
        &mut [],
    )
}
