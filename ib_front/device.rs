// SPDX-License-Identifier: GPL-2.0

//! `xib%d`: the `ib_device` the guest sees, and its verbs table.
//!
//! The `extern "C"` functions below are the only place that turns the RDMA
//! core's raw pointers into references; each calls the safe handler of its
//! object's file (`pd.rs`, `cq.rs`, ...). Objects the core allocates for
//! us embed the core's struct first and add the backend's handle.

use crate::errno::{eopnotsupp, eproto};
use core::ffi::c_int;
use core::ptr::NonNull;
use kernel::error::{from_result, to_result};
use kernel::prelude::*;

use crate::av::{LinkLayer, MAX_PORTS};
use crate::channel::Channel;
use crate::sys;
use crate::transport::Transport;
use crate::wire::{
    DeviceAttr, Empty, HelloReq, Op, PortAttr, QueryGidReq, QueryPkeyReq, QueryPortReq, Request,
    Response, RspBody, PROTOCOL_VERSION, SUPPORTED_FEATURES,
};
use crate::{ah, context, cq, mmap, mr, mw, pd, qp, refused, srq};

/// Declares a core object with the backend's handle (and the context it
/// lives in) after it, and checks the layout the core relies on.
macro_rules! xib_object {
    ($(#[$m:meta])* $name:ident, $core:ident, $field:ident) => {
        $(#[$m])*
        #[repr(C)]
        pub(crate) struct $name {
            pub(crate) $field: sys::$core,
            /// The backend's handle for this object.
            pub(crate) handle: u32,
            /// The backend context it belongs to.
            pub(crate) ctx: u32,
            /// Our name for it in events from the backend.
            pub(crate) cookie: u64,
        }
        const _: () = assert!(core::mem::offset_of!($name, $field) == 0);
    };
}
xib_object!(/// A guest user context.
    XibUcontext, ib_ucontext, ibuc);
xib_object!(/// A protection domain.
    XibPd, ib_pd, ibpd);
xib_object!(/// A completion queue.
    XibCq, ib_cq, ibcq);
/// A queue pair.
#[repr(C)]
pub(crate) struct XibQp {
    pub(crate) ibqp: sys::ib_qp,
    /// The backend's handle for this QP.
    pub(crate) handle: u32,
    /// The backend context it belongs to.
    pub(crate) ctx: u32,
    /// Our name for it in events from the backend.
    pub(crate) cookie: u64,
    /// The state its last successful modify set (`enum ib_qp_state`):
    /// posting sends before RTS fails at once, as the IB spec says and a
    /// local driver would, though the doorbell itself is not waited for.
    pub(crate) state: core::sync::atomic::AtomicU32,
}
const _: () = assert!(core::mem::offset_of!(XibQp, ibqp) == 0);
xib_object!(/// A shared receive queue.
    XibSrq, ib_srq, ibsrq);
xib_object!(/// An address handle.
    XibAh, ib_ah, ibah);
xib_object!(/// A memory window.
    XibMw, ib_mw, ibmw);

/// The registered device.
///
/// # Invariants
///
/// `dev` was allocated by `_ib_alloc_device` and registered; its `front`
/// points to the `Channel`, which outlives the registration.
pub(crate) struct IbDevice {
    dev: NonNull<sys::xenib_front_dev>,
    registered: bool,
    /// Over Xen: the netdevs that give the RoCE ports the backend's GIDs
    /// (port N at N - 1).
    gid_netdevs: [Option<NonNull<sys::net_device>>; MAX_PORTS as usize],
}

// The C side sizes its per-port array with the same bound.
const _: () = assert!(sys::XENIB_MAX_PORTS as usize == MAX_PORTS as usize);

// SAFETY: `struct ib_device` is used from any thread by design.
unsafe impl Send for IbDevice {}
// SAFETY: As above.
unsafe impl Sync for IbDevice {}

/// The channel of the device a verb was called on.
///
/// # Safety
///
/// `ibdev` must be a device registered by `IbDevice::register`.
pub(crate) unsafe fn channel<'a>(ibdev: *mut sys::ib_device) -> &'a Channel {
    // SAFETY: Our devices are `xenib_front_dev`s whose `front` is set
    // before registration to a `Channel` that outlives it.
    unsafe { &*((*ibdev.cast::<sys::xenib_front_dev>()).front as *const Channel) }
}

/// How long the backend may take to answer the handshake (its service
/// daemon may be starting).
const HELLO_TIMEOUT_MS: u32 = 10_000;

fn hello(ch: &Channel) -> Result {
    let req = HelloReq {
        features: SUPPORTED_FEATURES,
        min_version: PROTOCOL_VERSION,
        max_version: PROTOCOL_VERSION,
    };
    // SAFETY: Plain reads of the clock and a conversion.
    let deadline =
        unsafe { sys::xenib_jiffies() + sys::xenib_msecs_to_jiffies(HELLO_TIMEOUT_MS) as u64 };
    let rsp = ch.send(
        Op::Hello,
        |id, slot| Request::Hello(req).encode(id, slot),
        true,
        Some(deadline),
    );
    match rsp {
        Ok(Some(Response::Ok(RspBody::Hello(r)))) if r.version == PROTOCOL_VERSION => {
            ch.set_features(r.features);
            Ok(())
        }
        Ok(Some(Response::Err { status, .. })) => {
            pr_err!(
                "the backend refused the handshake ({}): no common protocol version\n",
                status
            );
            Err(Error::from_errno(status))
        }
        Err(e) if e == crate::errno::etimedout() => {
            let [req_prod, req_event, rsp_prod, rsp_event] = ch.ring_indices();
            pr_err!(
                "the backend did not answer within {} ms: is xenib-backd running? (ring: req_prod {} req_event {} rsp_prod {} rsp_event {})\n",
                HELLO_TIMEOUT_MS,
                req_prod,
                req_event,
                rsp_prod,
                rsp_event
            );
            Err(e)
        }
        Err(e) => Err(e),
        _ => Err(eproto()),
    }
}

pub(crate) fn query_port_attr(ch: &Channel, port: u8) -> Result<PortAttr> {
    match ch.call(&Request::QueryPort(QueryPortReq { port }))? {
        RspBody::QueryPort(a) => Ok(a),
        _ => Err(eproto()),
    }
}

/// The link layer of our device's `port`, if it is one of its ports.
///
/// # Safety
///
/// `ibdev` must be a device registered by `IbDevice::register`.
pub(crate) unsafe fn port_link_layer(ibdev: *mut sys::ib_device, port: u8) -> Option<LinkLayer> {
    // SAFETY: Per the function contract: one of our devices, whose port
    // count and link layers are set before registration and constant.
    let (count, layers) = unsafe {
        let d = ibdev.cast::<sys::xenib_front_dev>();
        ((*ibdev).phys_port_cnt, &(*d).link_layer)
    };
    if !crate::av::port_valid(port, count) {
        return None;
    }
    LinkLayer::from_raw(*layers.get(usize::from(port) - 1)?)
}

/// The MAC of the backend device's `port`, from its default GID (index 0,
/// `fe80::` + the MAC's EUI-64).
fn backend_mac(ch: &Channel, port: u8) -> Result<[u8; 6]> {
    let g = match ch.call(&Request::QueryGid(QueryGidReq { index: 0, port }))? {
        RspBody::QueryGid(r) if r.valid => r.gid,
        RspBody::QueryGid(_) => return Err(ENODEV),
        _ => return Err(eproto()),
    };
    if g[0] != 0xfe || g[1] != 0x80 || g[11] != 0xff || g[12] != 0xfe {
        pr_err!("the backend's default GID is not a MAC-based link-local address\n");
        return Err(eopnotsupp());
    }
    Ok([g[8] ^ 2, g[9], g[10], g[13], g[14], g[15]])
}

/// `IFNAMSIZ`: a netdev name and its NUL.
const IFNAMSIZ: usize = 16;

/// Port `port`'s netdev in `list` (the loopback's `netdev` parameter:
/// names separated by commas, the first for port 1), NUL-terminated.
fn netdev_of_port(list: &[u8], port: u8) -> Option<[u8; IFNAMSIZ]> {
    let name = list.split(|c| *c == b',').nth(usize::from(port).checked_sub(1)?)?;
    if name.is_empty() || name.len() >= IFNAMSIZ {
        return None;
    }
    let mut buf = [0u8; IFNAMSIZ];
    buf[..name.len()].copy_from_slice(name);
    Some(buf)
}

/// A NUL-padded name, for the log.
struct BStr<'a>(&'a [u8]);

impl core::fmt::Display for BStr<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for c in self.0.iter().take_while(|c| **c != 0) {
            write!(f, "{}", char::from(*c))?;
        }
        Ok(())
    }
}

impl IbDevice {
    pub(crate) fn register(module: &'static ThisModule, ch: &Pin<KBox<Channel>>) -> Result<Self> {
        hello(ch)?;
        let attr = match ch.call(&Request::QueryDevice(Empty))? {
            RspBody::QueryDevice(a) => a,
            _ => return Err(eproto()),
        };
        let count = attr.phys_port_cnt;
        if count == 0 || count > MAX_PORTS {
            pr_err!(
                "backend device has {} ports; 1 to {} are supported\n",
                count,
                MAX_PORTS
            );
            return Err(eopnotsupp());
        }
        let mut link_layers = [0u8; MAX_PORTS as usize];
        for (port, ll) in (1..=count).zip(link_layers.iter_mut()) {
            let raw = query_port_attr(ch, port)?.link_layer;
            if LinkLayer::from_raw(raw).is_none() {
                pr_err!("backend port {}: link layer {} is not InfiniBand or Ethernet\n", port, raw);
                return Err(eopnotsupp());
            }
            *ll = raw;
        }
        // SAFETY: Allocates a zeroed device with room for our part.
        let raw =
            unsafe { sys::xenib_front_alloc_device(core::mem::size_of::<sys::xenib_front_dev>()) };
        let dev = NonNull::new(raw.cast::<sys::xenib_front_dev>()).ok_or(ENOMEM)?;
        let mut this = IbDevice {
            dev,
            registered: false,
            gid_netdevs: [None; MAX_PORTS as usize],
        };
        // SAFETY: Freshly allocated and not yet visible to anyone.
        unsafe { this.setup(module, ch, &attr, &link_layers[..usize::from(count)])? };
        Ok(this)
    }

    /// # Safety
    ///
    /// `self.dev` is allocated and not registered yet.
    unsafe fn setup(
        &mut self,
        module: &'static ThisModule,
        ch: &Channel,
        attr: &DeviceAttr,
        link_layers: &[u8],
    ) -> Result {
        let d = self.dev.as_ptr();
        // SAFETY: Per the function contract we own the device.
        unsafe {
            (*d).front = ch as *const Channel as *const core::ffi::c_void;
            for (dst, src) in (*d).link_layer.iter_mut().zip(link_layers) {
                *dst = *src;
            }
            let ib = &mut (*d).ibdev;
            ib.node_type = attr.node_type;
            ib.phys_port_cnt = link_layers.len() as u32;
            ib.num_comp_vectors = 1;
            ib.node_guid = attr.node_guid;
            ib.local_dma_lkey = 0;
            for (d, s) in ib
                .node_desc
                .iter_mut()
                .zip(b"xenib paravirtual RDMA\0".iter())
            {
                *d = *s as _;
            }
            ib.uverbs_cmd_mask |= (1u64 << sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_POST_SEND)
                | (1u64 << sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_REQ_NOTIFY_CQ);
            let ops = ops(module, attr);
            sys::ib_set_device_ops(&mut (*d).ibdev, &ops);
            for (port, ll) in (1u8..).zip(link_layers) {
                if LinkLayer::from_raw(*ll) == Some(LinkLayer::Ethernet) {
                    self.set_netdev(ch, port)?;
                }
            }
            to_result(sys::ib_register_device(
                &mut (*d).ibdev,
                kernel::c_str!("xib%d").as_char_ptr(),
                core::ptr::null_mut(),
            ))?;
            sys::xenib_front_set_removal_device(&mut (*d).ibdev);
        }
        self.registered = true;
        Ok(())
    }

    /// RoCE GIDs are derived from a netdev's addresses. Over the loopback
    /// the guest's netdevs are the backend device's own (the `netdev`
    /// parameter lists one per RoCE port); over Xen we present one per
    /// RoCE port with the backend port's MAC (see `backend_mac`). An
    /// InfiniBand port's table is the backend's, read through `query_gid`.
    fn set_netdev(&mut self, ch: &Channel, port: u8) -> Result {
        let slot = usize::from(port) - 1;
        let nd = if let Transport::Xen(_) = ch.transport() {
            let mac = backend_mac(ch, port)?;
            // SAFETY: `mac` is 6 bytes; the netdev is ours until `drop`.
            let nd = unsafe { sys::xenib_front_gid_netdev_create(mac.as_ptr()) };
            // SAFETY: Any pointer may be tested.
            let err = unsafe { sys::xenib_ptr_err(nd.cast()) };
            if err != 0 {
                return Err(Error::from_errno(err as i32));
            }
            *self.gid_netdevs.get_mut(slot).ok_or(EINVAL)? = NonNull::new(nd);
            nd
        } else {
            // SAFETY: The helper returns the module parameter.
            let list = unsafe { kernel::str::CStr::from_char_ptr(sys::xenib_front_param_netdev()) };
            let name = netdev_of_port(list.as_bytes(), port).ok_or_else(|| {
                pr_err!("the netdev parameter names no network device for port {}\n", port);
                ENODEV
            })?;
            // SAFETY: `name` is NUL-terminated; `init_net` is the initial
            // namespace; a found device comes with a reference that we
            // drop once the core holds one.
            let nd = unsafe { sys::xenib_front_netdev_get(name.as_ptr().cast()) };
            if nd.is_null() {
                pr_err!("no network device {} for port {}'s GID table\n", BStr(&name), port);
                return Err(ENODEV);
            }
            nd
        };
        // SAFETY: `nd` is a live netdev; the core takes its own reference.
        let ret =
            unsafe { sys::ib_device_set_netdev(&mut (*self.dev.as_ptr()).ibdev, nd, port.into()) };
        if !matches!(ch.transport(), Transport::Xen(_)) {
            // SAFETY: The reference `xenib_front_netdev_get` took.
            unsafe { sys::xenib_front_netdev_put(nd) };
        }
        to_result(ret)
    }

    /// The core's device.
    pub(crate) fn ib_device(&self) -> *mut sys::ib_device {
        // SAFETY: Allocated (type invariant); only the address is taken.
        unsafe { &raw mut (*self.dev.as_ptr()).ibdev }
    }

    /// Unregisters the device: the core destroys every object first.
    /// (Unregistering twice, here and after a device removal, is fine.)
    pub(crate) fn unregister(&mut self) {
        // SAFETY: Waits for a removal in progress and stops new ones.
        unsafe { sys::xenib_front_cancel_removal() };
        if core::mem::take(&mut self.registered) {
            // SAFETY: Registered (type invariant).
            unsafe { sys::ib_unregister_device(&mut (*self.dev.as_ptr()).ibdev) };
        }
    }
}

impl Drop for IbDevice {
    fn drop(&mut self) {
        self.unregister();
        // SAFETY: Allocated by `_ib_alloc_device`, no longer registered.
        unsafe { sys::ib_dealloc_device(&mut (*self.dev.as_ptr()).ibdev) };
        for nd in self.gid_netdevs.iter_mut().filter_map(Option::take) {
            // SAFETY: Created in `set_netdev`; the device that used it is
            // gone.
            unsafe { sys::xenib_front_gid_netdev_destroy(nd.as_ptr()) };
        }
    }
}

fn ops(module: &'static ThisModule, attr: &DeviceAttr) -> sys::ib_device_ops {
    use core::mem::size_of;
    sys::ib_device_ops {
        owner: module.as_ptr(),
        driver_id: attr.driver_id,
        uverbs_abi_ver: attr.uverbs_abi_ver,
        query_device: Some(query_device),
        query_port: Some(query_port),
        query_pkey: Some(query_pkey),
        query_gid: Some(query_gid),
        get_port_immutable: Some(get_port_immutable),
        get_link_layer: Some(sys::xenib_front_get_link_layer),
        alloc_ucontext: Some(context::alloc_ucontext),
        dealloc_ucontext: Some(context::dealloc_ucontext),
        disassociate_ucontext: Some(context::disassociate_ucontext),
        mmap: Some(mmap::mmap),
        alloc_pd: Some(pd::alloc_pd),
        dealloc_pd: Some(pd::dealloc_pd),
        reg_user_mr: Some(mr::reg_user_mr),
        dereg_mr: Some(mr::dereg_mr),
        rereg_user_mr: Some(mr::rereg_user_mr),
        get_dma_mr: Some(mr::get_dma_mr),
        alloc_mw: Some(mw::alloc_mw),
        dealloc_mw: Some(mw::dealloc_mw),
        create_cq: Some(cq::create_cq),
        destroy_cq: Some(cq::destroy_cq),
        resize_cq: Some(cq::resize_cq),
        req_notify_cq: Some(cq::req_notify_cq),
        poll_cq: Some(cq::poll_cq),
        create_qp: Some(qp::create_qp),
        modify_qp: Some(qp::modify_qp),
        query_qp: Some(qp::query_qp),
        destroy_qp: Some(qp::destroy_qp),
        post_send: Some(qp::post_send),
        post_recv: Some(qp::post_recv),
        create_srq: Some(srq::create_srq),
        modify_srq: Some(srq::modify_srq),
        query_srq: Some(srq::query_srq),
        destroy_srq: Some(srq::destroy_srq),
        post_srq_recv: Some(srq::post_srq_recv),
        create_user_ah: Some(ah::create_user_ah),
        destroy_ah: Some(ah::destroy_ah),
        attach_mcast: Some(ah::attach_mcast),
        detach_mcast: Some(ah::detach_mcast),
        // Refused, not unknown (`refused.rs`).
        alloc_dm: Some(refused::alloc_dm),
        dealloc_dm: Some(refused::dealloc_dm),
        create_counters: Some(refused::create_counters),
        destroy_counters: Some(refused::destroy_counters),
        size_ib_ucontext: size_of::<XibUcontext>() as _,
        size_ib_pd: size_of::<XibPd>() as _,
        size_ib_cq: size_of::<XibCq>() as _,
        size_ib_qp: size_of::<XibQp>() as _,
        size_ib_srq: size_of::<XibSrq>() as _,
        size_ib_ah: size_of::<XibAh>() as _,
        size_ib_mw: size_of::<XibMw>() as _,
        size_ib_counters: size_of::<sys::ib_counters>() as _,
        ..Default::default()
    }
}

/// Fills the core's cache of device attributes (called once, at
/// registration, as the core does for every driver).
unsafe extern "C" fn query_device(
    ibdev: *mut sys::ib_device,
    out: *mut sys::ib_device_attr,
    udata: *mut sys::ib_udata,
) -> c_int {
    from_result(|| {
        // SAFETY: The core passes its registered device and attribute
        // buffer; `udata` may be null.
        let (ch, out) = unsafe { (channel(ibdev), &mut *out) };
        // SAFETY: As above.
        if unsafe { sys::xenib_udata_inlen(udata) } != 0 {
            return Err(EINVAL);
        }
        let a = match ch.call(&Request::QueryDevice(Empty))? {
            RspBody::QueryDevice(a) => a,
            _ => return Err(eproto()),
        };
        out.fw_ver = a.fw_ver;
        out.sys_image_guid = a.sys_image_guid;
        // What one registration can carry, if less.
        out.max_mr_size = a.max_mr_size.min(u64::from(ch.max_mr_pages()) * 4096);
        out.page_size_cap = a.page_size_cap;
        out.vendor_id = a.vendor_id;
        out.vendor_part_id = a.vendor_part_id;
        out.hw_ver = a.hw_ver;
        out.max_qp = a.max_qp as _;
        out.max_qp_wr = a.max_qp_wr as _;
        out.device_cap_flags = a.device_cap_flags;
        out.max_send_sge = a.max_send_sge as _;
        out.max_recv_sge = a.max_recv_sge as _;
        out.max_sge_rd = a.max_sge_rd as _;
        out.max_cq = a.max_cq as _;
        out.max_cqe = a.max_cqe as _;
        out.max_mr = a.max_mr as _;
        out.max_pd = a.max_pd as _;
        out.max_qp_rd_atom = a.max_qp_rd_atom as _;
        out.max_ee_rd_atom = a.max_ee_rd_atom as _;
        out.max_res_rd_atom = a.max_res_rd_atom as _;
        out.max_qp_init_rd_atom = a.max_qp_init_rd_atom as _;
        out.max_ee_init_rd_atom = a.max_ee_init_rd_atom as _;
        out.atomic_cap = a.atomic_cap as _;
        out.max_ee = a.max_ee as _;
        out.max_rdd = a.max_rdd as _;
        out.max_mw = a.max_mw as _;
        out.max_raw_ipv6_qp = a.max_raw_ipv6_qp as _;
        out.max_raw_ethy_qp = a.max_raw_ethy_qp as _;
        out.max_mcast_grp = a.max_mcast_grp as _;
        out.max_mcast_qp_attach = a.max_mcast_qp_attach as _;
        out.max_total_mcast_qp_attach = a.max_total_mcast_qp_attach as _;
        out.max_ah = a.max_ah as _;
        out.max_srq = a.max_srq as _;
        out.max_srq_wr = a.max_srq_wr as _;
        out.max_srq_sge = a.max_srq_sge as _;
        out.max_pkeys = a.max_pkeys;
        out.local_ca_ack_delay = a.local_ca_ack_delay;
        Ok(0)
    })
}

unsafe extern "C" fn query_port(
    ibdev: *mut sys::ib_device,
    port: u32,
    out: *mut sys::ib_port_attr,
) -> c_int {
    from_result(|| {
        // SAFETY: The core passes its registered device and a buffer.
        let (ch, out) = unsafe { (channel(ibdev), &mut *out) };
        let a = query_port_attr(ch, u8::try_from(port).map_err(|_| EINVAL)?)?;
        out.port_cap_flags = a.port_cap_flags;
        out.max_msg_sz = a.max_msg_sz;
        out.bad_pkey_cntr = a.bad_pkey_cntr;
        out.qkey_viol_cntr = a.qkey_viol_cntr;
        out.gid_tbl_len = a.gid_tbl_len as _;
        out.pkey_tbl_len = a.pkey_tbl_len;
        out.lid = a.lid.into();
        out.sm_lid = a.sm_lid.into();
        out.port_cap_flags2 = a.port_cap_flags2;
        out.active_speed = a.active_speed;
        out.state = a.state.into();
        out.max_mtu = a.max_mtu.into();
        out.active_mtu = a.active_mtu.into();
        out.phys_mtu = a.max_mtu.into();
        out.lmc = a.lmc;
        out.max_vl_num = a.max_vl_num;
        out.sm_sl = a.sm_sl;
        out.subnet_timeout = a.subnet_timeout;
        out.init_type_reply = a.init_type_reply;
        out.active_width = a.active_width;
        out.phys_state = a.phys_state;
        Ok(0)
    })
}

unsafe extern "C" fn query_pkey(
    ibdev: *mut sys::ib_device,
    port: u32,
    index: u16,
    pkey: *mut u16,
) -> c_int {
    from_result(|| {
        // SAFETY: The core passes its registered device and a buffer.
        let ch = unsafe { channel(ibdev) };
        let req = QueryPkeyReq {
            index,
            port: u8::try_from(port).map_err(|_| EINVAL)?,
        };
        match ch.call(&Request::QueryPkey(req))? {
            // SAFETY: As above.
            RspBody::QueryPkey(r) => unsafe { *pkey = r.pkey },
            _ => return Err(eproto()),
        }
        Ok(0)
    })
}

/// An InfiniBand port's GID table entry, from the backend's table (the
/// core asks when it builds its cache; a RoCE port's comes from its
/// netdev). An entry the backend hides from this guest, or an empty one,
/// is the zero GID, which the core keeps as an empty entry.
unsafe extern "C" fn query_gid(
    ibdev: *mut sys::ib_device,
    port: u32,
    index: core::ffi::c_int,
    gid: *mut sys::ib_gid,
) -> c_int {
    from_result(|| {
        // SAFETY: The core passes its registered device and a buffer.
        let ch = unsafe { channel(ibdev) };
        let req = QueryGidReq {
            index: u32::try_from(index).map_err(|_| EINVAL)?,
            port: u8::try_from(port).map_err(|_| EINVAL)?,
        };
        let value = match ch.call(&Request::QueryGid(req)) {
            Ok(RspBody::QueryGid(r)) if r.valid => r.gid,
            Ok(RspBody::QueryGid(_)) => [0; 16],
            Err(e) if e == EPERM => [0; 16],
            Ok(_) => return Err(eproto()),
            Err(e) => return Err(e),
        };
        // SAFETY: As above; `raw` is the plain 16-byte view of the union.
        unsafe { *(*gid).raw.as_mut() = value };
        Ok(0)
    })
}

unsafe extern "C" fn get_port_immutable(
    ibdev: *mut sys::ib_device,
    port: u32,
    out: *mut sys::ib_port_immutable,
) -> c_int {
    from_result(|| {
        // SAFETY: The core passes its device (being registered) and a buffer.
        let (ch, out) = unsafe { (channel(ibdev), &mut *out) };
        let a = query_port_attr(ch, u8::try_from(port).map_err(|_| EINVAL)?)?;
        out.pkey_tbl_len = a.pkey_tbl_len.into();
        out.gid_tbl_len = a.gid_tbl_len as _;
        // The protocol only: no MAD, SMI, CM or SA capability (and so no
        // MAD size), on either link layer. The kernel's MAD and CM agents
        // would need kernel verbs, which this device does not offer (it
        // serves user space only); on InfiniBand the MAD agent's failure
        // to open a port would fail the registration. The subnet manager
        // and CM of an InfiniBand fabric are the driver domain's.
        out.max_mad_size = 0;
        out.core_cap_flags = match LinkLayer::from_raw(a.link_layer) {
            Some(LinkLayer::Ethernet) => sys::RDMA_CORE_CAP_PROT_ROCE_UDP_ENCAP,
            Some(LinkLayer::Infiniband) => sys::RDMA_CORE_CAP_PROT_IB,
            None => return Err(eopnotsupp()),
        };
        Ok(0)
    })
}
