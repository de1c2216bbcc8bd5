// SPDX-License-Identifier: GPL-2.0

//! Protection domains.

use kernel::prelude::*;

use crate::context::{offered, response, Context};
use crate::sys;
use crate::uverbs::{bytes_of_mut, Service};
use crate::wire::{AllocPdReq, AllocPdRsp, DeallocPdReq, PdHandle, MAX_UDATA};

pub(crate) fn alloc(ctx: &mut Context, svc: &Service, req: &AllocPdReq) -> Result<AllocPdRsp> {
    let mut cmd = sys::ib_uverbs_alloc_pd::default();
    let mut resp = sys::ib_uverbs_alloc_pd_resp::default();
    let mut out = [0u8; MAX_UDATA];
    let out = offered(&mut out, &req.udata);
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_ALLOC_PD,
        &mut cmd,
        req.udata.as_slice(),
        bytes_of_mut(&mut resp),
        &mut *out,
    )?;
    Ok(AllocPdRsp {
        pd: PdHandle(resp.pd_handle),
        udata: response(out, &req.udata)?,
    })
}

pub(crate) fn dealloc(ctx: &mut Context, svc: &Service, req: &DeallocPdReq) -> Result {
    let mut cmd = sys::ib_uverbs_dealloc_pd {
        pd_handle: req.pd.0,
    };
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_DEALLOC_PD,
        &mut cmd,
        &[],
        &mut [],
        &mut [],
    )
}
