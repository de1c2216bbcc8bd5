// SPDX-License-Identifier: GPL-2.0

//! The Xen transport, backend half: a xenbus backend driver for devices
//! of type `vrdma` (see Documentation/ring-protocol.rst, "Xen transport").
//!
//! The frontend grants its command ring, event ring and doorbell page and
//! allocates two event channels (`event-channel` for the rings,
//! `doorbell-event-channel` for send doorbells), publishes them in its
//! xenstore directory and switches to Initialised. We map the pages, bind
//! the channels, start serving and switch to Connected. A frontend that
//! closes, or whose domain vanishes, is disconnected: everything it owns
//! here is released, its pages unmapped, our grants to it ended.

use core::ffi::{c_int, c_void};
use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::str::{CStr, CString};
use kernel::sync::{Arc, Mutex};

use crate::frontend::Frontend;
use crate::sys::{self, warn_ratelimited};
use crate::transport::{Rings, Transport};
use crate::wire::{GrantRef, MAX_RING_ORDER};
use crate::xenbus::*;
use crate::Backend;

/// A ring mapped from the frontend's grants.
struct MappedRing(*mut c_void);

/// The backend's end of one Xen connection.
///
/// # Invariants
///
/// We hold a reference on `dev`. `cmd`, `evt` and
/// `doorbells` are mapped from the frontend's grants (through `dev`) until
/// drop. The event channels are bound with the `Frontend` that owns this
/// transport as their data.
pub(crate) struct XenBack {
    dev: XenbusDevice,
    domid: u16,
    order: u32,
    cmd: MappedRing,
    evt: MappedRing,
    doorbells: MappedRing,
    evtchn: EventChannel,
    db_evtchn: EventChannel,
    /// Whether xenbus still lets us change our end's state (`close`): not
    /// once the device is being disconnected (`unbind`), when its nodes
    /// may already be gone.
    live: Pin<KBox<Mutex<bool>>>,
}

// SAFETY: The device and mappings may be used from any thread; the event
// channels are swapped atomically.
unsafe impl Send for XenBack {}
// SAFETY: As above.
unsafe impl Sync for XenBack {}

/// Reads the frontend's number `node`, naming what is wrong with it.
fn read_u32(dev: XenbusDevice, node: &CStr) -> Result<u32> {
    dev.read_otherend_u32(node).inspect_err(|e| {
        let what = if *e == ENOENT { "missing" } else { "not a number" };
        warn_ratelimited!("domain {}: its {} is {}\n", dev.otherend_id(), node, what);
    })
}

/// Reads the other end's `{prefix}{i}` for each `i`, e.g. `cmd-ring-ref0`.
fn read_refs(dev: XenbusDevice, prefix: &str, refs: &mut [u32]) -> Result {
    for (i, r) in refs.iter_mut().enumerate() {
        *r = read_u32(dev, &CString::try_from_fmt(kernel::fmt!("{prefix}{i}"))?)?;
    }
    Ok(())
}

impl MappedRing {
    fn map(dev: XenbusDevice, refs: &mut [u32]) -> Result<Self> {
        // SAFETY: `dev` is live; `refs` holds `len` refs.
        let p = unsafe { sys::xenib_ring_map(dev.as_ptr(), refs.as_mut_ptr(), refs.len() as _) };
        // SAFETY: Any pointer may be tested.
        let err = unsafe { sys::xenib_ptr_err(p) };
        if err != 0 {
            return Err(Error::from_errno(err as i32));
        }
        Ok(Self(p))
    }

    fn unmap(&mut self, dev: XenbusDevice) {
        let p = core::mem::replace(&mut self.0, core::ptr::null_mut());
        if !p.is_null() {
            // SAFETY: Mapped through `dev` in `map`.
            unsafe { sys::xenib_ring_unmap(dev.as_ptr(), p) };
        }
    }
}

impl XenBack {
    /// Maps what the frontend of `dev` published.
    fn map(dev: XenbusDevice) -> Result<Self> {
        let domid = dev.otherend_id();
        let order = read_u32(dev, kernel::c_str!("ring-page-order"))?;
        if order > MAX_RING_ORDER {
            warn_ratelimited!("domain {}: ring-page-order {} too large\n", domid, order);
            return Err(EINVAL);
        }
        let n = 1usize << order;
        let (mut cmd_refs, mut evt_refs) =
            ([0u32; 1 << MAX_RING_ORDER], [0u32; 1 << MAX_RING_ORDER]);
        read_refs(dev, "cmd-ring-ref", &mut cmd_refs[..n])?;
        read_refs(dev, "evt-ring-ref", &mut evt_refs[..n])?;
        let mut db_ref = [read_u32(dev, kernel::c_str!("doorbell-ref"))?];
        // SAFETY: `dev` is live (in one of its callbacks); dropped in `drop`.
        unsafe { sys::xenib_get_device(dev.as_ptr()) };
        let mut this = Self {
            dev,
            domid,
            order,
            cmd: MappedRing(core::ptr::null_mut()),
            evt: MappedRing(core::ptr::null_mut()),
            doorbells: MappedRing(core::ptr::null_mut()),
            evtchn: EventChannel::new(),
            db_evtchn: EventChannel::new(),
            live: KBox::pin_init(kernel::new_mutex!(true), GFP_KERNEL)?,
        };
        // On failure, `drop` unmaps what was mapped.
        this.cmd = MappedRing::map(dev, &mut cmd_refs[..n])?;
        this.evt = MappedRing::map(dev, &mut evt_refs[..n])?;
        this.doorbells = MappedRing::map(dev, &mut db_ref)?;
        Ok(this)
    }

    pub(crate) fn domid(&self) -> u16 {
        self.domid
    }

    /// The guest's RDMA addresses, as the toolstack wrote them into our
    /// own (guest-read-only) directory: `rdma-ip` (none: empty).
    pub(crate) fn rdma_addresses(&self, buf: &mut [u8]) -> Result<usize> {
        match self.dev.read_str(kernel::c_str!("rdma-ip"), buf) {
            Err(e) if e == ENOENT => Ok(0),
            r => r,
        }
    }

    pub(crate) fn rings(&self) -> Result<Rings> {
        // SAFETY: Mapped until drop (type invariant), sized by `order`
        // (the frontend's grants cover `2^order` pages each).
        unsafe { Rings::new(self.cmd.0, self.evt.0, self.order, self.doorbells.0) }
    }

    /// Binds both event channels to `fe` (which owns us).
    fn bind(&self, fe: &Arc<Frontend>) -> Result {
        let dev = self.dev;
        let port = read_u32(dev, kernel::c_str!("event-channel"))?;
        let db_port = read_u32(dev, kernel::c_str!("doorbell-event-channel"))?;
        if port == 0 || db_port == 0 {
            return Err(EINVAL);
        }
        let data = &**fe as *const Frontend as *mut c_void;
        // SAFETY: `data` stays valid while bound: the frontend owns us and
        // unbinds us (`unbind`, or our drop) before it can go.
        unsafe {
            self.evtchn
                .bind(dev, port, on_ring_event, data, kernel::c_str!("xenib-back"))?;
            self.db_evtchn.bind(
                dev,
                db_port,
                on_doorbell_event,
                data,
                kernel::c_str!("xenib-back-db"),
            )?;
        }
        Ok(())
    }

    /// Unbinds the event channels; no handler runs after this returns.
    /// From now on xenbus alone changes our end's state.
    fn unbind(&self) {
        *self.live.lock() = false;
        self.evtchn.unbind();
        self.db_evtchn.unbind();
    }

    /// We stopped serving the frontend (it broke the protocol): our end
    /// goes Closing, so that a frontend that is merely buggy closes too
    /// and the toolstack can tell. The lock orders this against the
    /// xenbus callbacks, which `unbind` before they switch states.
    pub(crate) fn close(&self) {
        let live = self.live.lock();
        if *live && self.dev.state() == XS_CONNECTED {
            self.dev.switch(XS_CLOSING);
        }
    }

    pub(crate) fn notify(&self) {
        self.evtchn.notify();
    }

    pub(crate) fn grant(&self, page: NonNull<sys::page>) -> Result<GrantRef> {
        // SAFETY: We hold `page`; granting it read-write to the frontend's
        // domain is the point (it is a driver queue of that frontend's).
        let r = unsafe { sys::xenib_grant_page(self.domid, page.as_ptr(), false) };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        Ok(GrantRef(r as u32))
    }

    pub(crate) fn revoke(&self, r: GrantRef, page: NonNull<sys::page>) {
        // SAFETY: `r` is our grant of `page`; the helper keeps the page
        // until the frontend has unmapped it.
        unsafe { sys::xenib_end_grant(r.0, page.as_ptr()) };
    }

    pub(crate) fn read_granted(&self, r: GrantRef, out: &mut KBox<[u8; 4096]>) -> Result {
        // SAFETY: `out` is one page, page-aligned (a 4096-byte kmalloc).
        let ret = unsafe { sys::xenib_grant_copy_in(self.domid, r.0, out.as_mut_ptr().cast()) };
        kernel::error::to_result(ret)
    }
}

impl Drop for XenBack {
    fn drop(&mut self) {
        self.unbind();
        let dev = self.dev;
        self.cmd.unmap(dev);
        self.evt.unmap(dev);
        self.doorbells.unmap(dev);
        // SAFETY: Taken in `map`.
        unsafe { sys::xenib_put_device(dev.as_ptr()) };
    }
}

/// # Safety
///
/// `data` is the `Frontend` the channel was bound with, still bound.
unsafe extern "C" fn on_ring_event(data: *mut c_void) {
    // SAFETY: Per the function contract.
    unsafe { &*(data as *const Frontend) }.kick();
}

/// # Safety
///
/// As for `on_ring_event`.
unsafe extern "C" fn on_doorbell_event(data: *mut c_void) {
    // SAFETY: Per the function contract.
    let fe = unsafe { &*(data as *const Frontend) };
    if let Some(b) = Backend::get() {
        fe.ring_doorbells(&b.stats);
    }
}

/// Our state for one `vrdma` device, in its driver data.
#[pin_data]
struct XenDevice {
    dev: XenbusDevice,
    #[pin]
    frontend: Mutex<Option<Arc<Frontend>>>,
}

impl XenDevice {
    fn connect(&self) -> Result {
        let mut slot = self.frontend.lock();
        if slot.is_some() {
            return Ok(());
        }
        let backend = Backend::get().ok_or(ENODEV)?;
        let xen = XenBack::map(self.dev)?;
        let fe = Frontend::new(backend, Transport::Xen(xen))?;
        let Transport::Xen(x) = &fe.transport else {
            return Err(EINVAL);
        };
        x.bind(&fe)?;
        if let Err(e) = backend.add_frontend(fe.clone()) {
            x.unbind();
            return Err(e);
        }
        *slot = Some(fe);
        Ok(())
    }

    /// Releases everything the frontend owns here.
    fn disconnect(&self) {
        let Some(fe) = self.frontend.lock().take() else {
            return;
        };
        if let Transport::Xen(x) = &fe.transport {
            x.unbind();
        }
        if let Some(b) = Backend::get() {
            b.remove_frontend(&fe);
        }
    }
}

#[no_mangle]
pub(crate) extern "C" fn xenib_back_xen_probed(dev: *mut sys::xenbus_device) -> c_int {
    // SAFETY: The bus calls us with a live device.
    let Some(dev) = (unsafe { XenbusDevice::new(dev) }) else {
        return EINVAL.to_errno();
    };
    let init = pin_init!(XenDevice {
        dev,
        frontend <- kernel::new_mutex!(None),
    });
    match KBox::pin_init(init, GFP_KERNEL) {
        Ok(xd) => dev.set_data(xd),
        Err(e) => return e.to_errno(),
    }
    dev.switch(XS_INIT_WAIT);
    0
}

#[no_mangle]
pub(crate) extern "C" fn xenib_back_xen_frontend_changed(
    dev: *mut sys::xenbus_device,
    state: c_int,
) {
    // SAFETY: The bus calls us with a live device of our driver, whose
    // data is the `XenDevice` set in `probed`.
    let Some((dev, xd)) = (unsafe { XenbusDevice::with_data::<XenDevice>(dev) }) else {
        return;
    };
    let (ours, domid) = (dev.state(), dev.otherend_id());
    let connected = xd.frontend.lock().is_some();
    match state as u32 {
        // The frontend starts over after closing (it was unbound and bound
        // again): get ready again. We may not have seen its Closed yet
        // (states are read when the watch fires), only its Closing.
        XS_INITIALISING if ours == XS_CLOSED || (ours == XS_CLOSING && !connected) => {
            dev.switch(XS_INIT_WAIT)
        }
        // Only a frontend we invited (InitWait) may connect.
        XS_INITIALISED | XS_CONNECTED if ours == XS_INIT_WAIT => match xd.connect() {
            Ok(()) => {
                pr_info!("domain {}: frontend connected\n", domid);
                dev.switch(XS_CONNECTED);
            }
            Err(e) => {
                warn_ratelimited!("domain {}: cannot connect the frontend: {:?}\n", domid, e);
                dev.switch(XS_CLOSING);
            }
        },
        // Waiting for a frontend that is not there yet (the toolstack
        // writes both ends at once, but we may look first) or has not
        // started over yet: nothing to close.
        XS_CLOSING | XS_CLOSED | XS_UNKNOWN if !connected && ours == XS_INIT_WAIT => {}
        XS_CLOSING => {
            xd.disconnect();
            dev.switch(XS_CLOSING);
        }
        XS_CLOSED | XS_UNKNOWN => {
            xd.disconnect();
            if ours != XS_CLOSED {
                pr_info!(
                    "domain {}: frontend closed or gone; released its resources\n",
                    domid
                );
                dev.switch(XS_CLOSED);
            }
        }
        _ => {}
    }
}

#[no_mangle]
pub(crate) extern "C" fn xenib_back_xen_removed(dev: *mut sys::xenbus_device) {
    // SAFETY: The bus calls us with a live device of our driver; no other
    // callback of it runs any more, so nothing uses its data.
    if let Some(xd) = unsafe { XenbusDevice::new(dev).and_then(|d| d.take_data::<XenDevice>()) } {
        xd.disconnect();
    }
}
