// SPDX-License-Identifier: GPL-2.0

//! The loopback transport, backend half (see `sys/xenib_loopback.h`).
//!
//! A frontend in the same kernel hands over its ring pages through
//! `xenib_loop_connect()`; from then on the two sides share ring memory,
//! notifications and page grants only, as across Xen domains.

use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::sync::Arc;

use crate::frontend::Frontend;
use crate::loop_grants::{GrantTable, MappedPage};
use crate::sys;
use crate::transport::{Rings, Transport};
use crate::wire::GrantRef;
use crate::Backend;

/// The backend's end of one loopback connection.
///
/// # Invariants
///
/// `conn` points to the frontend's connection structure, which stays
/// valid until its `disconnect` returns.
#[pin_data]
pub(crate) struct Loopback {
    conn: NonNull<sys::xenib_loop_conn>,
    #[pin]
    /// Our grant table: reference `i + 1` is `grants[i]`.
    grants: GrantTable,
}

// SAFETY: The connection structure is only read after set-up, its
// callbacks may be called from any thread; the table is locked.
unsafe impl Send for Loopback {}
// SAFETY: As above.
unsafe impl Sync for Loopback {}

impl Loopback {
    pub(crate) fn new(conn: NonNull<sys::xenib_loop_conn>) -> impl PinInit<Self> {
        pin_init!(Self { conn, grants <- GrantTable::new() })
    }

    /// The frontend's ring and doorbell pages.
    pub(crate) fn rings(&self) -> Result<Rings> {
        // SAFETY: `conn` is valid (type invariant) and the front filled its
        // half before connecting; it keeps the pages until disconnect,
        // which drops us first.
        unsafe {
            let c = self.conn.as_ptr();
            Rings::new(
                (*c).cmd_ring,
                (*c).evt_ring,
                (*c).ring_order,
                (*c).doorbells,
            )
        }
    }

    /// Raises the frontend's "event channel".
    pub(crate) fn notify(&self) {
        // SAFETY: `conn` is valid (type invariant); the front set the
        // callback before connecting.
        unsafe {
            let conn = self.conn.as_ptr();
            if let Some(f) = (*conn).notify_front {
                f(conn)
            }
        }
    }

    /// Maps a page the frontend granted to us.
    pub(crate) fn map_grant(&self, r: GrantRef) -> Result<MappedPage> {
        // SAFETY: `conn` is valid (type invariant).
        let page = unsafe {
            let conn = self.conn.as_ptr();
            match (*conn).front_map_grant {
                Some(f) => f(conn, r.0),
                None => core::ptr::null_mut(),
            }
        };
        // SAFETY: The lookup returns null or a page with a reference for us.
        unsafe { MappedPage::from_lookup(page) }
    }

    /// Grants one of our pages to the frontend.
    pub(crate) fn grant(&self, page: NonNull<sys::page>) -> Result<GrantRef> {
        Ok(GrantRef(self.grants.grant(page)?))
    }

    /// Ends a grant; whether it was outstanding.
    pub(crate) fn revoke(&self, r: GrantRef) -> bool {
        self.grants.revoke(r.0)
    }
}

/// Borrows the frontend a connection belongs to.
///
/// # Safety
///
/// `conn` must be connected (`back_priv` set by `xenib_loop_connect` and
/// not yet released by `disconnect`).
unsafe fn frontend_of<'a>(conn: *mut sys::xenib_loop_conn) -> &'a Frontend {
    // SAFETY: `back_priv` holds an `Arc<Frontend>` until disconnect.
    unsafe { &*((*conn).back_priv as *const Frontend) }
}

unsafe extern "C" fn notify_back(conn: *mut sys::xenib_loop_conn) {
    // SAFETY: Only called on a connected connection (loopback contract).
    let fe = unsafe { frontend_of(conn) };
    fe.kick();
}

unsafe extern "C" fn notify_doorbells(conn: *mut sys::xenib_loop_conn) {
    // SAFETY: Only called on a connected connection (loopback contract).
    let fe = unsafe { frontend_of(conn) };
    if let Some(b) = Backend::get() {
        fe.ring_doorbells(&b.stats);
    }
}

unsafe extern "C" fn back_map_grant(conn: *mut sys::xenib_loop_conn, r: u32) -> *mut sys::page {
    // SAFETY: Only called on a connected connection (loopback contract).
    let fe = unsafe { frontend_of(conn) };
    match &fe.transport {
        Transport::Loopback(l) => l.grants.lookup(r),
        Transport::Xen(_) => core::ptr::null_mut(),
    }
}

/// Connects a loopback frontend. Exported to `ib_front`.
#[no_mangle]
pub(crate) extern "C" fn xenib_loop_connect(conn: *mut sys::xenib_loop_conn) -> core::ffi::c_int {
    let Some(conn) = NonNull::new(conn) else {
        return EINVAL.to_errno();
    };
    let Some(backend) = Backend::get() else {
        return ENODEV.to_errno();
    };
    let transport = match KBox::pin_init(Loopback::new(conn), GFP_KERNEL) {
        Ok(l) => Transport::Loopback(l),
        Err(e) => return e.to_errno(),
    };
    match Frontend::new(backend, transport) {
        Ok(fe) => {
            // SAFETY: `conn` is the front's, valid until disconnect; the
            // callbacks below may be used from now on.
            unsafe {
                let c = conn.as_ptr();
                (*c).notify_back = Some(notify_back);
                (*c).notify_doorbells = Some(notify_doorbells);
                (*c).disconnect = Some(disconnect);
                (*c).back_map_grant = Some(back_map_grant);
                (*c).back_priv = Arc::into_raw(fe.clone()) as *mut core::ffi::c_void;
            }
            match backend.add_frontend(fe) {
                Ok(()) => 0,
                Err(e) => {
                    // SAFETY: Undo the publication above.
                    unsafe {
                        let c = conn.as_ptr();
                        drop(Arc::from_raw((*c).back_priv as *const Frontend));
                        (*c).back_priv = core::ptr::null_mut();
                    }
                    e.to_errno()
                }
            }
        }
        Err(e) => e.to_errno(),
    }
}

/// Disconnects a loopback frontend: everything it still owns in the
/// backend is released before this returns. Reached through the
/// connection's `disconnect` pointer.
unsafe extern "C" fn disconnect(conn: *mut sys::xenib_loop_conn) {
    if conn.is_null() {
        return;
    }
    // SAFETY: A connected `conn` holds an `Arc<Frontend>` in `back_priv`
    // (set in `xenib_loop_connect`), which we take back here.
    let fe = unsafe {
        let p = (*conn).back_priv as *const Frontend;
        if p.is_null() {
            return;
        }
        (*conn).back_priv = core::ptr::null_mut();
        Arc::from_raw(p)
    };
    if let Some(backend) = Backend::get() {
        backend.remove_frontend(&fe);
    }
}
