// SPDX-License-Identifier: GPL-2.0

//! Address handles and multicast attachment.

use kernel::prelude::*;

use crate::context::{offered, response, Context};
use crate::policy::Address;
use crate::sys;
use crate::uverbs::{bytes_of_mut, Service};
use crate::wire::{AhHandle, AhReq, CreateAhReq, CreateAhRsp, McastReq, MAX_UDATA};

/// `addr`: the request's address, checked (`Policy::address`); every
/// field of the command comes from it.
pub(crate) fn create(
    ctx: &mut Context,
    svc: &Service,
    req: &CreateAhReq,
    addr: &Address,
) -> Result<CreateAhRsp> {
    let av = &addr.av;
    let g = av.grh.unwrap_or_default();
    let (dlid, src_path_bits) = av.lrh();
    let mut cmd = sys::ib_uverbs_create_ah {
        user_handle: req.user_handle,
        pd_handle: req.pd.0,
        attr: sys::ib_uverbs_ah_attr {
            grh: sys::ib_uverbs_global_route {
                dgid: g.dgid,
                flow_label: g.flow_label,
                sgid_index: addr.sgid_index,
                hop_limit: g.hop_limit,
                traffic_class: g.traffic_class,
                ..Default::default()
            },
            dlid,
            sl: av.sl,
            src_path_bits,
            static_rate: av.static_rate,
            is_global: av.grh.is_some() as u8,
            port_num: av.port_num,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut resp = sys::ib_uverbs_create_ah_resp::default();
    let mut out = [0u8; MAX_UDATA];
    let out = offered(&mut out, &req.udata);
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_CREATE_AH,
        &mut cmd,
        req.udata.as_slice(),
        bytes_of_mut(&mut resp),
        &mut *out,
    )?;
    Ok(CreateAhRsp {
        ah: AhHandle(resp.ah_handle),
        udata: response(out, &req.udata)?,
    })
}

pub(crate) fn destroy(ctx: &mut Context, svc: &Service, req: &AhReq) -> Result {
    let mut cmd = sys::ib_uverbs_destroy_ah {
        ah_handle: req.ah.0,
    };
    ctx.file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_DESTROY_AH,
        &mut cmd,
        &[],
        &mut [],
        &mut [],
    )
}

pub(crate) fn mcast(ctx: &mut Context, svc: &Service, req: &McastReq, attach: bool) -> Result {
    let mut cmd = sys::ib_uverbs_attach_mcast {
        gid: req.gid,
        qp_handle: req.qp.0,
        mlid: req.lid,
        ..Default::default()
    };
    let command = if attach {
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_ATTACH_MCAST
    } else {
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_DETACH_MCAST
    };
    ctx.file.run(svc, command, &mut cmd, &[], &mut [], &mut [])
}
