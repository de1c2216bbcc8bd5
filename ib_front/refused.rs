// SPDX-License-Identifier: GPL-2.0

//! Standard uverbs objects that xib0 declares only to refuse.
//!
//! The guest's uverbs core offers an object's methods only if the device
//! has its ops (`UAPI_DEF_OBJ_NEEDS_FN`); without them a method is
//! unknown and its ioctl fails with `EPROTONOSUPPORT`, which rdma-core
//! reads as "this kernel is too old". Device memory and flow counters are
//! ioctl-only (there is no write() command to fall back to) and exist on
//! hardware HCAs that xib0 may stand for, but xenib does not serve them:
//! device memory is mapped like a doorbell page and would need its own
//! object on the ring, counters are read from the device. So xib0 has
//! their ops, and every creation fails with `EOPNOTSUPP`, "not on this
//! device", as on an HCA without them. Since nothing is ever created, the
//! destroy ops are never called.
//!
//! The other objects a hardware device may have and xenib does not serve
//! (WQs, RSS tables, flows, XRC domains) are left undeclared: their
//! ioctls get `EPROTONOSUPPORT`, and libibverbs then falls back to their
//! write() commands, which the core answers with `EOPNOTSUPP`.

use core::ffi::c_int;

use crate::errno::eopnotsupp;
use crate::sys;

/// `UVERBS_METHOD_DM_ALLOC`.
pub(crate) unsafe extern "C" fn alloc_dm(
    _dev: *mut sys::ib_device,
    _uc: *mut sys::ib_ucontext,
    _attr: *mut sys::ib_dm_alloc_attr,
    _attrs: *mut sys::uverbs_attr_bundle,
) -> *mut sys::ib_dm {
    // SAFETY: Encodes an errno as the core expects.
    unsafe { sys::xenib_err_ptr(eopnotsupp().to_errno() as _) }.cast()
}

/// Never called: no device memory is ever allocated.
pub(crate) unsafe extern "C" fn dealloc_dm(
    _dm: *mut sys::ib_dm,
    _attrs: *mut sys::uverbs_attr_bundle,
) -> c_int {
    0
}

/// `UVERBS_METHOD_COUNTERS_CREATE`.
pub(crate) unsafe extern "C" fn create_counters(
    _counters: *mut sys::ib_counters,
    _attrs: *mut sys::uverbs_attr_bundle,
) -> c_int {
    eopnotsupp().to_errno()
}

/// Never called: no counters object is ever created.
pub(crate) unsafe extern "C" fn destroy_counters(_counters: *mut sys::ib_counters) -> c_int {
    0
}
