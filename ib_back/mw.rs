// SPDX-License-Identifier: GPL-2.0

//! Memory windows.
//!
//! Only their creation and destruction are verbs: the provider binds a
//! window (and invalidates a type 2 one) with work requests on the send
//! queue it maps, which the real device executes as for any process.

use kernel::prelude::*;

use crate::context::{offered, response, Context};
use crate::sys;
use crate::uverbs::{bytes_of_mut, Service};
use crate::wire::{AllocMwReq, AllocMwRsp, DeallocMwReq, MwHandle, MAX_UDATA};

pub(crate) fn alloc(ctx: &mut Context, svc: &Service, req: &AllocMwReq) -> Result<AllocMwRsp> {
    let mut cmd = sys::ib_uverbs_alloc_mw {
        pd_handle: req.pd.0,
        mw_type: req.mw_type.raw(),
        ..Default::default()
    };
    let mut resp = sys::ib_uverbs_alloc_mw_resp::default();
    let mut out = [0u8; MAX_UDATA];
    let out = offered(&mut out, &req.udata);
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_ALLOC_MW,
        &mut cmd,
        req.udata.as_slice(),
        bytes_of_mut(&mut resp),
        &mut *out,
    )?;
    Ok(AllocMwRsp {
        mw: MwHandle(resp.mw_handle),
        rkey: resp.rkey,
        udata: response(out, &req.udata)?,
    })
}

pub(crate) fn dealloc(ctx: &mut Context, svc: &Service, req: &DeallocMwReq) -> Result {
    let mut cmd = sys::ib_uverbs_dealloc_mw {
        mw_handle: req.mw.0,
    };
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_DEALLOC_MW,
        &mut cmd,
        &[],
        &mut [],
        &mut [],
    )
}
