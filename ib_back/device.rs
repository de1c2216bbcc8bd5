// SPDX-License-Identifier: GPL-2.0

//! Device and port queries, answered from the real device's attributes.
//! They need no user context, so they go through the kernel API.

use core::ptr::NonNull;
use kernel::error::to_result;
use kernel::prelude::*;
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::sync::Mutex;

use crate::av::{port_valid, LinkLayer, PortInfo};
use crate::sys;
use crate::wire::{DeviceAttr, Gid, GidRsp, PkeyRsp, PortAttr, QueryGidReq, QueryPkeyReq, QueryPortReq};

/// Our reference on a registered device.
///
/// # Invariants
///
/// `0` is a device we hold a reference on (`ib_device_get_by_name`),
/// released on drop.
struct DevRef(NonNull<sys::ib_device>);

// SAFETY: `struct ib_device` is used from any thread by design.
unsafe impl Send for DevRef {}

impl Drop for DevRef {
    fn drop(&mut self) {
        // SAFETY: We hold the reference (type invariant).
        unsafe { sys::ib_device_put(self.0.as_ptr()) };
    }
}

/// The real RDMA device `ib_back` serves. It can go away under us (the
/// HCA is unplugged, `rdma link delete`): then every query fails with
/// `ENODEV`.
#[pin_data]
pub(crate) struct Device {
    #[pin]
    dev: Mutex<Option<DevRef>>,
}

/// A locked, present device.
struct Locked<'a>(Guard<'a, Option<DevRef>, MutexBackend>);

impl Locked<'_> {
    fn raw(&self) -> *mut sys::ib_device {
        self.0
            .as_ref()
            .map_or(core::ptr::null_mut(), |d| d.0.as_ptr())
    }

    fn port_count(&self) -> u32 {
        // SAFETY: `phys_port_cnt` is set before registration and constant;
        // we hold a reference (the device is present, see `lock`).
        unsafe { (*self.raw()).phys_port_cnt }
    }

    /// Whether `port` is one of the device's: checked before any port
    /// number from a guest reaches the core, which would index its
    /// per-port arrays with it.
    fn port_ok(&self, port: u8) -> bool {
        port_valid(port, self.port_count())
    }
}

fn copy_name(dst: &mut [u8; 64], src: &[kernel::ffi::c_char]) {
    for (d, s) in dst.iter_mut().zip(src.iter().take_while(|c| **c != 0)) {
        *d = *s;
    }
}

impl Device {
    /// Finds the device named `name` (e.g. `rxe0`).
    pub(crate) fn new(name: &kernel::str::CStr) -> Result<impl PinInit<Self>> {
        // SAFETY: `name` is NUL-terminated.
        let p = unsafe {
            sys::ib_device_get_by_name(name.as_char_ptr(), sys::rdma_driver_id_RDMA_DRIVER_UNKNOWN)
        };
        // INVARIANT: a non-null result carries a reference.
        let dev = DevRef(NonNull::new(p).ok_or(ENODEV)?);
        Ok(pin_init!(Self { dev <- kernel::new_mutex!(Some(dev)) }))
    }

    fn lock(&self) -> Result<Locked<'_>> {
        let g = self.dev.lock();
        if g.is_none() {
            return Err(ENODEV);
        }
        Ok(Locked(g))
    }

    /// Whether the device is still there (not removed under us).
    pub(crate) fn present(&self) -> bool {
        self.dev.lock().is_some()
    }

    /// Whether `ibdev` is our device.
    pub(crate) fn is(&self, ibdev: *mut sys::ib_device) -> bool {
        self.dev
            .lock()
            .as_ref()
            .is_some_and(|d| d.0.as_ptr() == ibdev)
    }

    /// The device is being unregistered: let go of it, so that its
    /// unregistration (which waits for every reference) can finish.
    pub(crate) fn release(&self) {
        drop(self.dev.lock().take());
    }

    /// The real device's QP number `qpn`, held until the `QpRef` drops.
    pub(crate) fn qp(&self, qpn: u32) -> Result<QpRef> {
        let dev = self.lock()?;
        // SAFETY: The device is present and we hold a reference.
        let qp = unsafe { sys::xenib_back_qp_get(dev.raw(), qpn) };
        // INVARIANT: a non-null result carries a restrack reference.
        Ok(QpRef(NonNull::new(qp).ok_or(ENOENT)?))
    }

    /// The driver's `enum rdma_driver_id`.
    pub(crate) fn driver_id(&self) -> Result<u32> {
        let dev = self.lock()?;
        // SAFETY: The device is present and we hold a reference; `ops` is
        // constant once registered.
        Ok(unsafe { sys::xenib_get_driver_id(dev.raw()) } as u32)
    }

    pub(crate) fn query_device(&self) -> Result<DeviceAttr> {
        let dev = self.lock()?;
        // SAFETY: The device is present and we hold a reference; `attrs`
        // is filled before registration and not changed afterwards.
        let (d, a) = unsafe { (&*dev.raw(), &(*dev.raw()).attrs) };
        let mut attr = DeviceAttr {
            fw_ver: a.fw_ver,
            node_guid: d.node_guid,
            sys_image_guid: a.sys_image_guid,
            max_mr_size: a.max_mr_size,
            page_size_cap: a.page_size_cap,
            device_cap_flags: a.device_cap_flags,
            vendor_id: a.vendor_id,
            vendor_part_id: a.vendor_part_id,
            hw_ver: a.hw_ver,
            max_qp: a.max_qp as u32,
            max_qp_wr: a.max_qp_wr as u32,
            max_send_sge: a.max_send_sge as u32,
            max_recv_sge: a.max_recv_sge as u32,
            max_sge_rd: a.max_sge_rd as u32,
            max_cq: a.max_cq as u32,
            max_cqe: a.max_cqe as u32,
            max_mr: a.max_mr as u32,
            max_pd: a.max_pd as u32,
            max_qp_rd_atom: a.max_qp_rd_atom as u32,
            max_ee_rd_atom: a.max_ee_rd_atom as u32,
            max_res_rd_atom: a.max_res_rd_atom as u32,
            max_qp_init_rd_atom: a.max_qp_init_rd_atom as u32,
            max_ee_init_rd_atom: a.max_ee_init_rd_atom as u32,
            atomic_cap: a.atomic_cap as u32,
            max_ee: a.max_ee as u32,
            max_rdd: a.max_rdd as u32,
            max_mw: a.max_mw as u32,
            max_raw_ipv6_qp: a.max_raw_ipv6_qp as u32,
            max_raw_ethy_qp: a.max_raw_ethy_qp as u32,
            max_mcast_grp: a.max_mcast_grp as u32,
            max_mcast_qp_attach: a.max_mcast_qp_attach as u32,
            max_total_mcast_qp_attach: a.max_total_mcast_qp_attach as u32,
            max_ah: a.max_ah as u32,
            max_srq: a.max_srq as u32,
            max_srq_wr: a.max_srq_wr as u32,
            max_srq_sge: a.max_srq_sge as u32,
            // SAFETY: `ops` is constant once registered.
            driver_id: unsafe { sys::xenib_get_driver_id(dev.raw()) } as u32,
            // SAFETY: As above.
            uverbs_abi_ver: unsafe { sys::xenib_get_uverbs_abi_ver(dev.raw()) },
            max_pkeys: a.max_pkeys,
            local_ca_ack_delay: a.local_ca_ack_delay,
            phys_port_cnt: d.phys_port_cnt as u8,
            node_type: d.node_type,
            node_desc: [0; 64],
            name: [0; 64],
        };
        copy_name(&mut attr.node_desc, &d.node_desc);
        copy_name(&mut attr.name, &d.name);
        Ok(attr)
    }

    /// How many ports the device has (numbered from 1).
    pub(crate) fn port_count(&self) -> Result<u32> {
        Ok(self.lock()?.port_count())
    }

    /// What an address on `port` is checked against: the port's link
    /// layer and (InfiniBand) its LMC, from the core's cache. `EINVAL` for
    /// a port that is not the device's; `EOPNOTSUPP` for a link layer we
    /// do not serve (iWARP).
    pub(crate) fn port_info(&self, port: u8) -> Result<PortInfo> {
        let dev = self.lock()?;
        if !dev.port_ok(port) {
            return Err(EINVAL);
        }
        // SAFETY: The device is registered and the port number checked.
        let raw = unsafe { sys::rdma_port_get_link_layer(dev.raw(), port.into()) };
        let link_layer =
            LinkLayer::from_raw(raw as u8).ok_or_else(crate::errno::eopnotsupp)?;
        let mut lmc = 0u8;
        if link_layer == LinkLayer::Infiniband {
            // SAFETY: As above; `lmc` is a byte to fill.
            to_result(unsafe { sys::ib_get_cached_lmc(dev.raw(), port.into(), &mut lmc) })?;
        }
        Ok(PortInfo { link_layer, lmc })
    }

    pub(crate) fn query_port(&self, req: &QueryPortReq) -> Result<PortAttr> {
        let dev = self.lock()?;
        if !dev.port_ok(req.port) {
            return Err(EINVAL);
        }
        let mut a = sys::ib_port_attr::default();
        // SAFETY: The device is registered and the port number checked.
        to_result(unsafe { sys::ib_query_port(dev.raw(), req.port.into(), &mut a) })?;
        // SAFETY: As above.
        let link_layer = unsafe { sys::rdma_port_get_link_layer(dev.raw(), req.port.into()) };
        Ok(PortAttr {
            port_cap_flags: a.port_cap_flags,
            max_msg_sz: a.max_msg_sz,
            bad_pkey_cntr: a.bad_pkey_cntr,
            qkey_viol_cntr: a.qkey_viol_cntr,
            gid_tbl_len: a.gid_tbl_len as u32,
            pkey_tbl_len: a.pkey_tbl_len,
            lid: a.lid as u16,
            sm_lid: a.sm_lid as u16,
            port_cap_flags2: a.port_cap_flags2,
            active_speed: a.active_speed,
            state: a.state as u8,
            max_mtu: a.max_mtu as u8,
            active_mtu: a.active_mtu as u8,
            lmc: a.lmc,
            max_vl_num: a.max_vl_num,
            sm_sl: a.sm_sl,
            subnet_timeout: a.subnet_timeout,
            init_type_reply: a.init_type_reply,
            active_width: a.active_width,
            phys_state: a.phys_state,
            link_layer: link_layer as u8,
        })
    }

    /// The GID at `index` of `port`'s table, and its type
    /// (`IB_UVERBS_GID_TYPE_*`); `None` for an empty entry or an index
    /// past the table.
    pub(crate) fn gid_at(&self, port: u8, index: u32) -> Result<Option<(Gid, u8)>> {
        let dev = self.lock()?;
        if !dev.port_ok(port) {
            return Err(EINVAL);
        }
        let (mut gid, mut ty) = ([0u8; 16], 0u8);
        // SAFETY: Port checked; the core bounds the index; 16 bytes out.
        let ret =
            unsafe { sys::xenib_gid_at(dev.raw(), port.into(), index, gid.as_mut_ptr(), &mut ty) };
        Ok((ret == 0).then_some((gid, ty)))
    }

    /// The index of GID `gid` of type `ty` in `port`'s table.
    pub(crate) fn find_gid(&self, port: u8, gid: &Gid, ty: u8) -> Result<u32> {
        let dev = self.lock()?;
        if !dev.port_ok(port) {
            return Err(EINVAL);
        }
        // SAFETY: Port checked; `gid` is 16 bytes.
        let ret = unsafe { sys::xenib_find_gid(dev.raw(), port.into(), gid.as_ptr(), ty) };
        to_result(ret).map(|_| ret as u32)
    }

    pub(crate) fn query_gid(&self, req: &QueryGidReq) -> Result<GidRsp> {
        Ok(match self.gid_at(req.port, req.index)? {
            Some((gid, ty)) => GidRsp {
                gid,
                gid_type: ty.into(),
                valid: true,
            },
            None => GidRsp {
                gid: [0; 16],
                gid_type: 0,
                valid: false,
            },
        })
    }

    pub(crate) fn query_pkey(&self, req: &QueryPkeyReq) -> Result<PkeyRsp> {
        let dev = self.lock()?;
        if !dev.port_ok(req.port) {
            return Err(EINVAL);
        }
        let mut pkey = 0u16;
        // SAFETY: Port checked; the driver bounds the index.
        to_result(unsafe { sys::ib_query_pkey(dev.raw(), req.port.into(), req.index, &mut pkey) })?;
        Ok(PkeyRsp { pkey })
    }
}

/// A QP of the real device, for ringing its send doorbell directly.
///
/// # Invariants
///
/// `0` is a QP we hold a restrack reference on. Its destruction waits for
/// that reference, so it must be dropped before the QP is destroyed.
pub(crate) struct QpRef(NonNull<sys::ib_qp>);

// SAFETY: QPs are used from any thread; post_send may be called anywhere.
unsafe impl Send for QpRef {}

impl QpRef {
    /// Rings the send doorbell: a zero-WR `post_send`, as uverbs does for
    /// a provider's doorbell.
    pub(crate) fn kick(&self) {
        // SAFETY: The QP is alive while we hold the reference.
        unsafe { sys::xenib_back_qp_kick(self.0.as_ptr()) };
    }
}

impl Drop for QpRef {
    fn drop(&mut self) {
        // SAFETY: We hold the reference (type invariant).
        unsafe { sys::xenib_back_qp_put(self.0.as_ptr()) };
    }
}
