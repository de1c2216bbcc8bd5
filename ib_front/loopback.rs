// SPDX-License-Identifier: GPL-2.0

//! The loopback transport, frontend half (see `sys/xenib_loopback.h`):
//! ring pages, the "event channel" and page grants towards an `ib_back`
//! in the same kernel.

use crate::errno::enotconn;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use kernel::prelude::*;
use kernel::types::Opaque;

use crate::channel::Channel;
use crate::doorbell_page::DoorbellPage;
use crate::loop_grants::{GrantTable, MappedPage};
use crate::shmem::RawMem;
use crate::sys;
use crate::transport::Transport;
use crate::wire::{ring_area_bytes, GrantRef};

/// Ring size: 2^RING_ORDER pages each for the command and event rings.
pub(crate) const RING_ORDER: u32 = 2;

/// The command and event ring pages.
///
/// # Invariants
///
/// Both are `ring_area_bytes(RING_ORDER)`-byte page allocations we own.
pub(crate) struct RingPages {
    cmd: NonNull<u8>,
    evt: NonNull<u8>,
    doorbells: NonNull<u8>,
}

impl RingPages {
    pub(crate) fn alloc() -> Result<Self> {
        // SAFETY: Plain page allocations, freed on drop.
        let cmd = NonNull::new(unsafe { sys::xenib_alloc_pages(RING_ORDER) }.cast::<u8>())
            .ok_or(ENOMEM)?;
        // SAFETY: As above.
        let Some(evt) = NonNull::new(unsafe { sys::xenib_alloc_pages(RING_ORDER) }.cast::<u8>())
        else {
            // SAFETY: Allocated just above.
            unsafe { sys::xenib_free_pages(cmd.as_ptr().cast(), RING_ORDER) };
            return Err(ENOMEM);
        };
        // SAFETY: As above.
        let Some(doorbells) = NonNull::new(unsafe { sys::xenib_alloc_pages(0) }.cast::<u8>())
        else {
            // SAFETY: Allocated just above.
            unsafe {
                sys::xenib_free_pages(cmd.as_ptr().cast(), RING_ORDER);
                sys::xenib_free_pages(evt.as_ptr().cast(), RING_ORDER);
            }
            return Err(ENOMEM);
        };
        Ok(Self {
            cmd,
            evt,
            doorbells,
        })
    }

    /// The doorbell page.
    pub(crate) fn doorbell_page(&self) -> DoorbellPage {
        // SAFETY: A zeroed page of ours until drop, shared with the back
        // and only accessed atomically.
        unsafe { DoorbellPage::new(self.doorbells) }
    }

    fn mem(p: NonNull<u8>) -> RawMem {
        // SAFETY: Ours until drop (type invariant); shared with the back
        // only through volatile accesses.
        unsafe { RawMem::new(p, ring_area_bytes(RING_ORDER)) }
    }

    pub(crate) fn cmd_mem(&self) -> RawMem {
        Self::mem(self.cmd)
    }

    pub(crate) fn evt_mem(&self) -> RawMem {
        Self::mem(self.evt)
    }
}

impl Drop for RingPages {
    fn drop(&mut self) {
        // SAFETY: Allocated in `alloc`; the backend no longer uses them
        // (the `Loopback` holding us disconnects first).
        unsafe {
            sys::xenib_free_pages(self.cmd.as_ptr().cast(), RING_ORDER);
            sys::xenib_free_pages(self.evt.as_ptr().cast(), RING_ORDER);
            sys::xenib_free_pages(self.doorbells.as_ptr().cast(), 0);
        }
    }
}

/// # Invariants
///
/// While `connected`, `conn` is known to `ib_back` and its back half is
/// valid.
#[pin_data(PinnedDrop)]
pub(crate) struct Loopback {
    conn: KBox<Opaque<sys::xenib_loop_conn>>,
    rings: RingPages,
    #[pin]
    grants: GrantTable,
    connected: AtomicBool,
    /// Calls into the backend in progress (see `enter`).
    calls: AtomicU32,
}

// SAFETY: The connection's callbacks may be used from any thread; the
// ring pages are only accessed through `RawMem`.
unsafe impl Send for Loopback {}
// SAFETY: As above.
unsafe impl Sync for Loopback {}

impl Loopback {
    pub(crate) fn new(rings: RingPages) -> Result<impl PinInit<Self, Error>> {
        let conn = KBox::new(Opaque::new(sys::xenib_loop_conn::default()), GFP_KERNEL)?;
        Ok(try_pin_init!(Self {
            conn,
            rings,
            grants <- GrantTable::new(),
            connected: AtomicBool::new(false),
            calls: AtomicU32::new(0),
        }? Error))
    }

    /// Connects to `ib_back`; `channel` gets the notifications.
    pub(crate) fn connect(&self, channel: *const Channel) -> Result {
        let c = self.conn.get();
        // SAFETY: `conn` is ours and not yet shared with the backend.
        unsafe {
            (*c).cmd_ring = self.rings.cmd.as_ptr().cast();
            (*c).evt_ring = self.rings.evt.as_ptr().cast();
            (*c).doorbells = self.rings.doorbells.as_ptr().cast();
            (*c).ring_order = RING_ORDER;
            (*c).notify_front = Some(notify_front);
            (*c).front_map_grant = Some(front_map_grant);
            (*c).front_priv = channel as *mut core::ffi::c_void;
        }
        // SAFETY: `conn` is fully set up and outlives the connection.
        let ret = unsafe { sys::xenib_front_loop_connect(c) };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: the backend accepted the connection.
        self.connected.store(true, Ordering::Release);
        Ok(())
    }

    /// Starts a call into the backend: `None` once disconnecting. The
    /// backend's code may be unloaded after `disconnect`, which waits for
    /// every call begun before it.
    fn enter(&self) -> Option<CallGuard<'_>> {
        // ORDERING: SeqCst pairs the increment here with the store of
        // `connected` in `disconnect` (each sees the other's write first).
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.connected.load(Ordering::SeqCst) {
            self.calls.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(CallGuard(&self.calls))
    }

    /// Disconnects; the backend has released everything of ours after this.
    pub(crate) fn disconnect(&self) {
        if !self.connected.swap(false, Ordering::SeqCst) {
            return;
        }
        while self.calls.load(Ordering::SeqCst) != 0 {
            // SAFETY: Plain sleep; calls in progress are short.
            unsafe { sys::xenib_msleep(1) };
        }
        let c = self.conn.get();
        // SAFETY: We were connected, so the back half is valid; no other
        // call into the backend is in progress or can start.
        unsafe {
            if let Some(f) = (*c).disconnect {
                f(c)
            }
        }
    }

    /// Raises the backend's "event channel".
    pub(crate) fn notify(&self) {
        let Some(_call) = self.enter() else { return };
        let c = self.conn.get();
        // SAFETY: Connected (`enter`), so the back half is valid.
        unsafe {
            if let Some(f) = (*c).notify_back {
                f(c)
            }
        }
    }

    /// Raises the backend's doorbell "event channel".
    pub(crate) fn notify_doorbells(&self) {
        let Some(_call) = self.enter() else { return };
        let c = self.conn.get();
        // SAFETY: Connected, so the back half is valid (type invariant).
        unsafe {
            if let Some(f) = (*c).notify_doorbells {
                f(c)
            }
        }
    }

    /// The ring and doorbell pages shared with the backend.
    pub(crate) fn rings(&self) -> &RingPages {
        &self.rings
    }

    pub(crate) fn grant(&self, page: NonNull<sys::page>) -> Result<GrantRef> {
        Ok(GrantRef(self.grants.grant(page)?))
    }

    pub(crate) fn revoke(&self, r: GrantRef) {
        self.grants.revoke(r.0);
    }

    /// Maps a page the backend granted us.
    pub(crate) fn map_grant(&self, r: GrantRef) -> Result<MappedPage> {
        let _call = self.enter().ok_or_else(enotconn)?;
        let c = self.conn.get();
        // SAFETY: Connected (type invariant); the lookup returns null or a
        // page with a reference for us.
        unsafe {
            let f = (*c).back_map_grant.ok_or(enotconn())?;
            MappedPage::from_lookup(f(c, r.0))
        }
    }
}

#[pinned_drop]
impl PinnedDrop for Loopback {
    fn drop(self: Pin<&mut Self>) {
        self.disconnect();
    }
}

/// Borrows the channel a connection belongs to.
///
/// # Safety
///
/// `conn` must be connected (`front_priv` is then a live `Channel`).
unsafe fn channel_of<'a>(conn: *mut sys::xenib_loop_conn) -> &'a Channel {
    // SAFETY: Per the function contract.
    unsafe { &*((*conn).front_priv as *const Channel) }
}

unsafe extern "C" fn notify_front(conn: *mut sys::xenib_loop_conn) {
    // SAFETY: The backend only notifies connected connections.
    unsafe { channel_of(conn) }.on_notify();
}

unsafe extern "C" fn front_map_grant(conn: *mut sys::xenib_loop_conn, r: u32) -> *mut sys::page {
    // SAFETY: The backend only maps grants of connected connections.
    match unsafe { channel_of(conn) }.transport() {
        Transport::Loopback(l) => l.grants.lookup(r),
        Transport::Xen(_) => core::ptr::null_mut(),
    }
}

/// A call into the backend in progress.
struct CallGuard<'a>(&'a AtomicU32);

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
