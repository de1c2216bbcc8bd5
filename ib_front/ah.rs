// SPDX-License-Identifier: GPL-2.0

//! Address handles, and multicast attachment.

use crate::errno::eproto;
use kernel::prelude::*;
use core::ffi::c_int;
use kernel::error::from_result;

use crate::av::{AddressVector, Grh, LinkAddress};
use crate::context::{ctx_of, udata_in, udata_out};
use crate::device::{channel, XibAh, XibPd, XibQp};
use crate::sys;
use crate::wire::{
    AhAttr, AhHandle, AhReq, CreateAhReq, CtxHandle, McastReq, PdHandle, QpHandle, Request, RspBody,
};

/// The wire form of an address vector (the fields of `ib_uverbs_ah_attr`
/// that its type uses; the backend's core resolves the rest, e.g. the
/// RoCE MAC, itself). The source GID goes by value: our GID table's
/// indices mean nothing to the backend. `EINVAL` for a type our ports
/// never have (OPA, undefined).
pub(crate) fn ah_attr_to_wire(a: &sys::rdma_ah_attr) -> Result<AhAttr> {
    let link = match a.type_ {
        sys::rdma_ah_attr_type_RDMA_AH_ATTR_TYPE_IB => {
            // SAFETY: The core fills the union member of the type it set.
            let ib = unsafe { a.__bindgen_anon_1.ib.as_ref() };
            LinkAddress::Ib {
                dlid: ib.dlid,
                src_path_bits: ib.src_path_bits,
            }
        }
        sys::rdma_ah_attr_type_RDMA_AH_ATTR_TYPE_ROCE => LinkAddress::Roce,
        _ => return Err(EINVAL),
    };
    let grh = &a.grh;
    let global = u32::from(a.ah_flags) & sys::ib_ah_flags_IB_AH_GRH != 0;
    let grh = global.then(|| {
        let (sgid, sgid_type) = if grh.sgid_attr.is_null() {
            Default::default()
        } else {
            // SAFETY: The core resolved `sgid_attr` (`rdma_fill_sgid_attr`)
            // and holds it for the verb; `raw` is the union's byte view.
            unsafe {
                let g = &*grh.sgid_attr;
                (*g.gid.raw.as_ref(), g.gid_type as u8)
            }
        };
        Grh {
            // SAFETY: `raw` is the plain 16-byte view of the union.
            dgid: unsafe { *grh.dgid.raw.as_ref() },
            sgid,
            sgid_type,
            flow_label: grh.flow_label,
            hop_limit: grh.hop_limit,
            traffic_class: grh.traffic_class,
        }
    });
    let av = AddressVector {
        port_num: u8::try_from(a.port_num).map_err(|_| EINVAL)?,
        sl: a.sl,
        static_rate: a.static_rate,
        grh,
        link,
    };
    Ok(av.to_wire())
}

pub(crate) unsafe extern "C" fn create_user_ah(
    ah: *mut sys::ib_ah,
    init: *mut sys::rdma_ah_init_attr,
    udata: *mut sys::ib_udata,
) -> c_int {
    from_result(|| {
        // SAFETY: The core allocated `ah` with our size on our device, set
        // its PD, and passes the attributes and this verb's udata.
        let (ch, xah, attr, xpd) = unsafe {
            (
                channel((*ah).device),
                &mut *ah.cast::<XibAh>(),
                &*(*init).ah_attr,
                &*(*ah).pd.cast::<XibPd>(),
            )
        };
        // SAFETY: As above.
        let ctx = unsafe { ctx_of(udata)? };
        let req = CreateAhReq {
            user_handle: 0,
            ctx: CtxHandle(ctx),
            pd: PdHandle(xpd.handle),
            attr: ah_attr_to_wire(attr)?,
            // SAFETY: As above.
            udata: unsafe { udata_in(udata)? },
        };
        match ch.call(&Request::CreateAh(req))? {
            RspBody::CreateAh(r) => {
                xah.handle = r.ah.0;
                xah.ctx = ctx;
                // SAFETY: As above.
                unsafe { udata_out(udata, &r.udata)? };
                Ok(0)
            }
            _ => Err(eproto()),
        }
    })
}

pub(crate) unsafe extern "C" fn destroy_ah(ah: *mut sys::ib_ah, _flags: u32) -> c_int {
    from_result(|| {
        // SAFETY: An AH we set up.
        let (ch, xah) = unsafe { (channel((*ah).device), &*ah.cast::<XibAh>()) };
        ch.release(&Request::DestroyAh(AhReq {
            ctx: CtxHandle(xah.ctx),
            ah: AhHandle(xah.handle),
        }))?;
        Ok(0)
    })
}

fn mcast(qp: *mut sys::ib_qp, gid: *mut sys::ib_gid, lid: u16, attach: bool) -> c_int {
    from_result(|| {
        // SAFETY: The core passes a QP we set up and a GID.
        let (ch, xqp, gid) = unsafe {
            (
                channel((*qp).device),
                &*qp.cast::<XibQp>(),
                *(*gid).raw.as_ref(),
            )
        };
        let req = McastReq {
            gid,
            ctx: CtxHandle(xqp.ctx),
            qp: QpHandle(xqp.handle),
            lid,
        };
        ch.call(&if attach {
            Request::AttachMcast(req)
        } else {
            Request::DetachMcast(req)
        })?;
        Ok(0)
    })
}

pub(crate) unsafe extern "C" fn attach_mcast(
    qp: *mut sys::ib_qp,
    gid: *mut sys::ib_gid,
    lid: u16,
) -> c_int {
    mcast(qp, gid, lid, true)
}

pub(crate) unsafe extern "C" fn detach_mcast(
    qp: *mut sys::ib_qp,
    gid: *mut sys::ib_gid,
    lid: u16,
) -> c_int {
    mcast(qp, gid, lid, false)
}
