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

use core::ffi::{c_int, c_void, CStr};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::{Arc, Mutex};

use crate::frontend::Frontend;
use crate::sys::{self, warn_ratelimited};
use crate::transport::{Rings, Transport};
use crate::wire::{GrantRef, MAX_RING_ORDER};
use crate::Backend;

const XS_INIT_WAIT: u32 = sys::xenbus_state_XenbusStateInitWait;
const XS_INITIALISED: u32 = sys::xenbus_state_XenbusStateInitialised;
const XS_CONNECTED: u32 = sys::xenbus_state_XenbusStateConnected;
const XS_CLOSING: u32 = sys::xenbus_state_XenbusStateClosing;
const XS_CLOSED: u32 = sys::xenbus_state_XenbusStateClosed;
const XS_UNKNOWN: u32 = sys::xenbus_state_XenbusStateUnknown;

/// A ring mapped from the frontend's grants.
struct MappedRing(*mut c_void);

/// The backend's end of one Xen connection.
///
/// # Invariants
///
/// `dev` is a xenbus device we hold a reference on. `cmd`, `evt` and
/// `doorbells` are mapped from the frontend's grants (through `dev`) until
/// drop. A non-null event channel is bound with the `Frontend` that owns
/// this transport as its data.
pub(crate) struct XenBack {
    dev: NonNull<sys::xenbus_device>,
    domid: u16,
    order: u32,
    cmd: MappedRing,
    evt: MappedRing,
    doorbells: MappedRing,
    evtchn: AtomicPtr<sys::xenib_evtchn>,
    db_evtchn: AtomicPtr<sys::xenib_evtchn>,
}

// SAFETY: The device and mappings may be used from any thread; the event
// channels are swapped atomically.
unsafe impl Send for XenBack {}
// SAFETY: As above.
unsafe impl Sync for XenBack {}

/// Reads `dir/node` as a number.
///
/// # Safety
///
/// `dir` is a valid xenstore path.
unsafe fn read_u32(dir: *const u8, node: &kernel::str::CStr) -> Result<u32> {
    let mut v = 0u32;
    // SAFETY: Per the function contract; `node` is NUL-terminated.
    let ret = unsafe { sys::xenib_xs_read_u32(dir.cast(), node.as_char_ptr(), &mut v) };
    kernel::error::to_result(ret).map(|_| v)
}

/// Reads `dir/{prefix}{i}` for `i` in `0..n`, e.g. `cmd-ring-ref0`.
///
/// # Safety
///
/// As for `read_u32`.
unsafe fn read_refs(dir: *const u8, prefix: &str, refs: &mut [u32]) -> Result {
    for (i, r) in refs.iter_mut().enumerate() {
        let node = CString::try_from_fmt(kernel::fmt!("{prefix}{i}"))?;
        // SAFETY: Per the function contract.
        *r = unsafe { read_u32(dir, &node)? };
    }
    Ok(())
}

impl MappedRing {
    /// # Safety
    ///
    /// `dev` is a live xenbus device.
    unsafe fn map(dev: NonNull<sys::xenbus_device>, refs: &mut [u32]) -> Result<Self> {
        // SAFETY: Per the function contract; `refs` holds `len` refs.
        let p = unsafe { sys::xenib_ring_map(dev.as_ptr(), refs.as_mut_ptr(), refs.len() as _) };
        // SAFETY: Any pointer may be tested.
        let err = unsafe { sys::xenib_ptr_err(p) };
        if err != 0 {
            return Err(Error::from_errno(err as i32));
        }
        Ok(Self(p))
    }

    fn unmap(&mut self, dev: NonNull<sys::xenbus_device>) {
        let p = core::mem::replace(&mut self.0, core::ptr::null_mut());
        if !p.is_null() {
            // SAFETY: Mapped through `dev` in `map`.
            unsafe { sys::xenib_ring_unmap(dev.as_ptr(), p) };
        }
    }
}

impl XenBack {
    /// Maps what the frontend of `dev` published.
    ///
    /// # Safety
    ///
    /// `dev` is a live xenbus device (in one of its driver callbacks).
    unsafe fn map(dev: NonNull<sys::xenbus_device>) -> Result<Self> {
        // SAFETY: Per the function contract.
        let (dir, domid) = unsafe {
            (
                sys::xenib_xs_otherend(dev.as_ptr()).cast::<u8>(),
                sys::xenib_xs_otherend_id(dev.as_ptr()),
            )
        };
        // SAFETY: `dir` is the frontend's directory.
        let order = unsafe { read_u32(dir, kernel::c_str!("ring-page-order"))? };
        if order > MAX_RING_ORDER {
            warn_ratelimited!("domain {}: ring-page-order {} too large\n", domid, order);
            return Err(EINVAL);
        }
        let n = 1usize << order;
        let (mut cmd_refs, mut evt_refs) = ([0u32; 1 << MAX_RING_ORDER], [0u32; 1 << MAX_RING_ORDER]);
        let mut db_ref = [0u32; 1];
        // SAFETY: As above.
        unsafe {
            read_refs(dir, "cmd-ring-ref", &mut cmd_refs[..n])?;
            read_refs(dir, "evt-ring-ref", &mut evt_refs[..n])?;
            db_ref[0] = read_u32(dir, kernel::c_str!("doorbell-ref"))?;
        }
        // SAFETY: Per the function contract (and for each mapping below).
        unsafe { sys::xenib_get_device(dev.as_ptr()) };
        let mut this = Self {
            dev,
            domid: domid as u16,
            order,
            cmd: MappedRing(core::ptr::null_mut()),
            evt: MappedRing(core::ptr::null_mut()),
            doorbells: MappedRing(core::ptr::null_mut()),
            evtchn: AtomicPtr::new(core::ptr::null_mut()),
            db_evtchn: AtomicPtr::new(core::ptr::null_mut()),
        };
        // SAFETY: We hold a reference on `dev`. On failure, `drop` unmaps
        // what was mapped.
        unsafe {
            this.cmd = MappedRing::map(dev, &mut cmd_refs[..n])?;
            this.evt = MappedRing::map(dev, &mut evt_refs[..n])?;
            this.doorbells = MappedRing::map(dev, &mut db_ref)?;
        }
        Ok(this)
    }

    pub(crate) fn domid(&self) -> u16 {
        self.domid
    }

    pub(crate) fn rings(&self) -> Result<Rings> {
        // SAFETY: Mapped until drop (type invariant), sized by `order`
        // (the frontend's grants cover `2^order` pages each).
        unsafe { Rings::new(self.cmd.0, self.evt.0, self.order, self.doorbells.0) }
    }

    /// Binds both event channels to `fe` (which owns us).
    fn bind(&self, fe: &Arc<Frontend>) -> Result {
        // SAFETY: `dev` is live (type invariant); the frontend's directory
        // holds its port numbers.
        let (dir, dev) = (unsafe { sys::xenib_xs_otherend(self.dev.as_ptr()) }.cast::<u8>(), self.dev);
        // SAFETY: As above.
        let (port, db_port) = unsafe {
            (
                read_u32(dir, kernel::c_str!("event-channel"))?,
                read_u32(dir, kernel::c_str!("doorbell-event-channel"))?,
            )
        };
        let data = &**fe as *const Frontend as *mut c_void;
        let bind = |port: u32, f: unsafe extern "C" fn(*mut c_void), name: &CStr| {
            let mut local = 0u32;
            // SAFETY: `dev` is live; `data` stays valid while bound: we are
            // unbound (`unbind`) before the frontend can go.
            let ch = unsafe {
                sys::xenib_evtchn_bind(dev.as_ptr(), port, Some(f), data, name.as_ptr().cast(), &mut local)
            };
            // SAFETY: Any pointer may be tested.
            let err = unsafe { sys::xenib_ptr_err(ch.cast()) };
            if err != 0 || port == 0 {
                return Err(if err != 0 { Error::from_errno(err as i32) } else { EINVAL });
            }
            Ok(ch)
        };
        self.evtchn.store(bind(port, on_ring_event, c"xenib-back")?, Ordering::Release);
        self.db_evtchn.store(bind(db_port, on_doorbell_event, c"xenib-back-db")?, Ordering::Release);
        Ok(())
    }

    /// Unbinds the event channels; no handler runs after this returns.
    fn unbind(&self) {
        for ch in [&self.evtchn, &self.db_evtchn] {
            let p = ch.swap(core::ptr::null_mut(), Ordering::AcqRel);
            if !p.is_null() {
                // SAFETY: Bound in `bind`, unbound once (the swap).
                unsafe { sys::xenib_evtchn_free(p) };
            }
        }
    }

    pub(crate) fn notify(&self) {
        let p = self.evtchn.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: Bound until `unbind`, which is not concurrent with
            // the frontend's own use of the transport (see `disconnect`).
            unsafe { sys::xenib_evtchn_notify(p) };
        }
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
    dev: NonNull<sys::xenbus_device>,
    #[pin]
    frontend: Mutex<Option<Arc<Frontend>>>,
}

impl XenDevice {
    fn switch(&self, state: u32) {
        // SAFETY: `dev` is live while its driver data is.
        let ret = unsafe { sys::xenbus_switch_state(self.dev.as_ptr(), state) };
        if ret != 0 {
            pr_err!("cannot switch xenbus state to {}: {}\n", state, ret);
        }
    }

    fn connect(&self) -> Result {
        let mut slot = self.frontend.lock();
        if slot.is_some() {
            return Ok(());
        }
        let backend = Backend::get().ok_or(ENODEV)?;
        // SAFETY: `dev` is live (we are in one of its callbacks).
        let xen = unsafe { XenBack::map(self.dev)? };
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

/// # Safety
///
/// `dev` is a live xenbus device whose driver data is null or ours.
unsafe fn device_of<'a>(dev: *mut sys::xenbus_device) -> Option<&'a XenDevice> {
    // SAFETY: Per the function contract.
    let p = unsafe { sys::xenib_xs_get_drvdata(dev) } as *const XenDevice;
    // SAFETY: Set in `probed` from a live box, cleared in `removed`.
    unsafe { p.as_ref() }
}

#[no_mangle]
pub(crate) extern "C" fn xenib_back_xen_probed(dev: *mut sys::xenbus_device) -> c_int {
    let Some(dev) = NonNull::new(dev) else {
        return EINVAL.to_errno();
    };
    let xd = match KBox::pin_init(
        pin_init!(XenDevice {
            dev,
            frontend <- kernel::new_mutex!(None),
        }),
        GFP_KERNEL,
    ) {
        Ok(b) => b,
        Err(e) => return e.to_errno(),
    };
    // SAFETY: The box is ours to hand to the device until `removed`; it is
    // never moved out of (only borrowed through the pointer).
    let p = KBox::into_raw(unsafe { Pin::into_inner_unchecked(xd) });
    // SAFETY: `dev` is live in its probe callback.
    unsafe { sys::xenib_xs_set_drvdata(dev.as_ptr(), p.cast()) };
    // SAFETY: Just set.
    if let Some(xd) = unsafe { device_of(dev.as_ptr()) } {
        xd.switch(XS_INIT_WAIT);
    }
    0
}

#[no_mangle]
pub(crate) extern "C" fn xenib_back_xen_frontend_changed(dev: *mut sys::xenbus_device, state: c_int) {
    // SAFETY: The bus calls us with a live device of our driver.
    let Some(xd) = (unsafe { device_of(dev) }) else {
        return;
    };
    // SAFETY: As above.
    let ours = unsafe { sys::xenib_xs_state(dev) } as u32;
    let domid = unsafe { sys::xenib_xs_otherend_id(dev) };
    match state as u32 {
        XS_INITIALISED | XS_CONNECTED => {
            if ours == XS_CONNECTED {
                return;
            }
            match xd.connect() {
                Ok(()) => {
                    pr_info!("domain {}: frontend connected\n", domid);
                    xd.switch(XS_CONNECTED);
                }
                Err(e) => {
                    pr_err!("domain {}: cannot connect the frontend: {:?}\n", domid, e);
                    xd.switch(XS_CLOSING);
                }
            }
        }
        XS_CLOSING => {
            xd.disconnect();
            xd.switch(XS_CLOSING);
        }
        // The frontend's directory is not there yet (the toolstack writes
        // ours first) or no longer (its domain is gone).
        XS_UNKNOWN if xd.frontend.lock().is_none() => {}
        XS_CLOSED | XS_UNKNOWN => {
            xd.disconnect();
            if ours != XS_CLOSED {
                pr_info!("domain {}: frontend closed or gone; released its resources\n", domid);
                xd.switch(XS_CLOSED);
            }
        }
        _ => {}
    }
}

#[no_mangle]
pub(crate) extern "C" fn xenib_back_xen_removed(dev: *mut sys::xenbus_device) {
    // SAFETY: The bus calls us with a live device of our driver.
    let p = unsafe { sys::xenib_xs_get_drvdata(dev) } as *mut XenDevice;
    if p.is_null() {
        return;
    }
    // SAFETY: Set in `probed` from `KBox::into_raw`; no callback of this
    // device runs any more.
    let xd = unsafe { KBox::from_raw(p) };
    xd.disconnect();
    // SAFETY: As above.
    unsafe { sys::xenib_xs_set_drvdata(dev, core::ptr::null_mut()) };
}
