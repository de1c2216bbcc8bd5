// SPDX-License-Identifier: GPL-2.0

//! The Xen transport, frontend half: a xenbus frontend driver for devices
//! of type `vrdma` (see Documentation/ring-protocol.rst, "Xen transport").
//!
//! When the backend is waiting (InitWait) we grant our rings and doorbell
//! page, allocate two event channels, publish them and switch to
//! Initialised; when the backend is Connected we say hello and register
//! `xib0`. A backend that closes or vanishes takes `xib0` away, as a
//! hot-unplugged device: the core destroys every object and the processes
//! using it are told.

use core::ffi::{c_int, c_void};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::Mutex;

use crate::channel::Channel;
use crate::device::IbDevice;
use crate::doorbell_page::DoorbellPage;
use crate::loopback::RING_ORDER;
use crate::shmem::RawMem;
use crate::sys;
use crate::transport::Transport;
use crate::wire::{ring_area_bytes, GrantRef};
use crate::xenbus::*;

/// Pages of ours granted to the backend as a ring (or the doorbell page).
///
/// # Invariants
///
/// Until drop, `vaddr` is `nr` zeroed-then-shared pages granted as `refs`.
struct GrantedRing {
    vaddr: *mut c_void,
    nr: u32,
    refs: [u32; 1 << RING_ORDER],
}

impl GrantedRing {
    fn new(dev: XenbusDevice, order: u32) -> Result<Self> {
        let mut this = Self {
            vaddr: core::ptr::null_mut(),
            nr: 1 << order,
            refs: [0; 1 << RING_ORDER],
        };
        if this.nr as usize > this.refs.len() {
            return Err(EINVAL);
        }
        // SAFETY: `dev` is live; `refs` has room for `nr`.
        kernel::error::to_result(unsafe {
            sys::xenib_ring_setup(
                dev.as_ptr(),
                &mut this.vaddr,
                this.nr,
                this.refs.as_mut_ptr(),
            )
        })?;
        Ok(this)
    }

    fn refs(&self) -> &[u32] {
        &self.refs[..self.nr as usize]
    }
}

impl Drop for GrantedRing {
    fn drop(&mut self) {
        if !self.vaddr.is_null() {
            // SAFETY: Set up in `new`; each page is freed with its grant,
            // once the backend no longer maps it.
            unsafe { sys::xenib_ring_teardown(&mut self.vaddr, self.nr, self.refs.as_mut_ptr()) };
        }
    }
}

/// The frontend's end of one Xen connection.
///
/// # Invariants
///
/// `dev` outlives us (we live in its driver data). The event channels are
/// bound with the `Channel` given to `connect` as their data.
pub(crate) struct XenFront {
    dev: XenbusDevice,
    backend_id: u16,
    cmd: GrantedRing,
    evt: GrantedRing,
    doorbells: GrantedRing,
    evtchn: EventChannel,
    db_evtchn: EventChannel,
}

// SAFETY: The device and rings may be used from any thread; the event
// channels are swapped atomically.
unsafe impl Send for XenFront {}
// SAFETY: As above.
unsafe impl Sync for XenFront {}

impl XenFront {
    /// Grants fresh rings and a doorbell page to `dev`'s backend; `dev`
    /// must outlive the result (it lives in the device's driver data).
    fn new(dev: XenbusDevice) -> Result<Self> {
        Ok(Self {
            dev,
            backend_id: dev.otherend_id(),
            cmd: GrantedRing::new(dev, RING_ORDER)?,
            evt: GrantedRing::new(dev, RING_ORDER)?,
            doorbells: GrantedRing::new(dev, 0)?,
            evtchn: EventChannel::new(),
            db_evtchn: EventChannel::new(),
        })
    }

    pub(crate) fn backend_id(&self) -> u16 {
        self.backend_id
    }

    fn ring_mem(r: &GrantedRing) -> RawMem {
        // SAFETY: `2^RING_ORDER` pages of ours until drop (type invariant
        // of `GrantedRing`), shared with the backend and only accessed
        // through volatile `RawMem` calls.
        unsafe {
            RawMem::new(
                NonNull::new_unchecked(r.vaddr.cast()),
                ring_area_bytes(RING_ORDER),
            )
        }
    }

    pub(crate) fn cmd_mem(&self) -> RawMem {
        Self::ring_mem(&self.cmd)
    }

    pub(crate) fn evt_mem(&self) -> RawMem {
        Self::ring_mem(&self.evt)
    }

    pub(crate) fn doorbell_page(&self) -> DoorbellPage {
        // SAFETY: A zeroed page of ours until drop, shared with the backend
        // and only accessed atomically.
        unsafe { DoorbellPage::new(NonNull::new_unchecked(self.doorbells.vaddr.cast())) }
    }

    /// Allocates and binds the event channels and publishes everything
    /// the backend needs in our xenstore directory.
    pub(crate) fn connect(&self, channel: *const Channel) -> Result {
        let data = channel as *mut c_void;
        // SAFETY: `channel` outlives the binding: the channel disconnects
        // (unbinding) before it goes.
        let (port, db_port) = unsafe {
            (
                self.evtchn
                    .bind(self.dev, 0, on_event, data, kernel::c_str!("xenib-front"))?,
                self.db_evtchn.bind(
                    self.dev,
                    0,
                    on_event,
                    data,
                    kernel::c_str!("xenib-front-db"),
                )?,
            )
        };
        self.publish(port, db_port)
    }

    fn publish(&self, port: u32, db_port: u32) -> Result {
        let dir = self.dev.nodename();
        loop {
            let mut t = 0u32;
            // SAFETY: Plain xenstore transaction.
            kernel::error::to_result(unsafe { sys::xenib_xs_start(&mut t) })?;
            let write = |node: &kernel::str::CStr, v: u32| -> Result {
                // SAFETY: `dir` is our device's directory, `node` a string.
                kernel::error::to_result(unsafe {
                    sys::xenib_xs_write_u32(t, dir, node.as_char_ptr(), v)
                })
            };
            let all = || -> Result {
                write(kernel::c_str!("ring-page-order"), RING_ORDER)?;
                for (prefix, ring) in [("cmd-ring-ref", &self.cmd), ("evt-ring-ref", &self.evt)] {
                    for (i, r) in ring.refs().iter().enumerate() {
                        write(&CString::try_from_fmt(kernel::fmt!("{prefix}{i}"))?, *r)?;
                    }
                }
                write(kernel::c_str!("doorbell-ref"), self.doorbells.refs()[0])?;
                write(kernel::c_str!("event-channel"), port)?;
                write(kernel::c_str!("doorbell-event-channel"), db_port)
            };
            let res = all();
            // SAFETY: Ends the transaction started above.
            let end = unsafe { sys::xenib_xs_end(t, res.is_err()) };
            res?;
            if end == EAGAIN.to_errno() {
                continue;
            }
            return kernel::error::to_result(end);
        }
    }

    /// Unbinds the event channels; no notification runs after this.
    pub(crate) fn disconnect(&self) {
        self.evtchn.unbind();
        self.db_evtchn.unbind();
    }

    pub(crate) fn notify(&self) {
        self.evtchn.notify();
    }

    pub(crate) fn notify_doorbells(&self) {
        self.db_evtchn.notify();
    }

    pub(crate) fn grant(&self, page: NonNull<sys::page>) -> Result<GrantRef> {
        // SAFETY: `page` is pinned guest memory being registered; the
        // backend's device may read and write it.
        let r = unsafe { sys::xenib_grant_page(self.backend_id, page.as_ptr(), false) };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        Ok(GrantRef(r as u32))
    }

    /// Grants a page of a guest process to the backend, read only unless
    /// `writable`.
    pub(crate) fn grant_user_page(&self, page: NonNull<sys::page>, writable: bool) -> Result<GrantRef> {
        // SAFETY: `page` is a pinned page of the calling process; the
        // backend may read it, and write it only if `writable`.
        let r = unsafe { sys::xenib_grant_page(self.backend_id, page.as_ptr(), !writable) };
        if r < 0 {
            return Err(Error::from_errno(r));
        }
        Ok(GrantRef(r as u32))
    }

    pub(crate) fn revoke(&self, r: GrantRef, page: NonNull<sys::page>) {
        // SAFETY: `r` is our grant of `page`; the helper keeps the page
        // until the backend has unmapped it.
        unsafe { sys::xenib_end_grant(r.0, page.as_ptr()) };
    }
}

impl Drop for XenFront {
    fn drop(&mut self) {
        self.disconnect();
    }
}

/// # Safety
///
/// `data` is the `Channel` the event channel was bound with, still bound.
unsafe extern "C" fn on_event(data: *mut c_void) {
    // SAFETY: Per the function contract.
    unsafe { &*(data as *const Channel) }.on_notify();
}

/// What a `vrdma` device has set up so far.
#[derive(Default)]
struct Inner {
    channel: Option<Pin<KBox<Channel>>>,
    device: Option<IbDevice>,
    /// This device holds `ONE_DEVICE`.
    claimed: bool,
}

/// Whether some `vrdma` device is set up. A guest gets one: the device
/// removal path (`front.rs`'s channel, the C side's removal device) is
/// module-wide, and one `xib0` serves every process.
static ONE_DEVICE: AtomicBool = AtomicBool::new(false);

/// Our state for one `vrdma` device, in its driver data.
#[pin_data]
struct XenDevice {
    dev: XenbusDevice,
    #[pin]
    inner: Mutex<Inner>,
}

impl XenDevice {
    /// The backend waits for us: grant, bind, publish.
    fn setup(&self, inner: &mut Inner) -> Result {
        if inner.channel.is_some() {
            return Ok(());
        }
        if !inner.claimed {
            if ONE_DEVICE.swap(true, Ordering::AcqRel) {
                pr_err!(
                    "{}: this guest already has a vrdma device; only one is supported\n",
                    self.dev.name()
                );
                return Err(EBUSY);
            }
            inner.claimed = true;
        }
        // `dev` outlives its driver data, which owns the transport.
        let x = XenFront::new(self.dev)?;
        let ch = KBox::try_pin_init(Channel::new(Transport::Xen(x))?, GFP_KERNEL)?;
        ch.connect()?;
        inner.channel = Some(ch);
        Ok(())
    }

    /// The backend is connected: register the device.
    fn register(&self, inner: &mut Inner) -> Result {
        let Some(ch) = inner.channel.as_ref() else {
            return Err(crate::errno::enotconn());
        };
        if inner.device.is_none() {
            let d = IbDevice::register(&crate::THIS_MODULE, ch)?;
            crate::cm::attach(ch, d.ib_device());
            inner.device = Some(d);
            crate::set_channel(Some(ch));
        }
        Ok(())
    }

    /// Asks the backend to close, which unmaps our rings, and waits for
    /// it a while, as netfront does before its rings go. A backend that
    /// does not answer only delays the freeing of the ring pages, which
    /// go with their grants (`GrantedRing`).
    fn close_backend(&self) {
        const WAIT_MS: u32 = 5000;
        self.dev.switch(XS_CLOSING);
        for _ in 0..WAIT_MS / 10 {
            if matches!(self.dev.read_otherend_state(), XS_CLOSING | XS_CLOSED | XS_UNKNOWN) {
                return;
            }
            // SAFETY: Sleeping in process context (a removal).
            unsafe { sys::xenib_msleep(10) };
        }
        pr_warn!("{}: the backend did not close within {} ms\n", self.dev.name(), WAIT_MS);
    }

    /// Takes the device away and disconnects. `graceful`: the backend is
    /// still there, so the core's teardown of our objects reaches it;
    /// otherwise every request fails at once.
    fn teardown(&self, inner: &mut Inner, graceful: bool) {
        if let (false, Some(ch)) = (graceful, inner.channel.as_ref()) {
            ch.disconnect();
        }
        if let Some(mut d) = inner.device.take() {
            crate::cm::detach();
            d.unregister();
            crate::set_channel(None);
        }
        if let Some(ch) = inner.channel.take() {
            if graceful {
                self.close_backend();
            }
            ch.disconnect();
        }
        if core::mem::take(&mut inner.claimed) {
            ONE_DEVICE.store(false, Ordering::Release);
        }
    }
}

#[no_mangle]
pub(crate) extern "C" fn xenib_front_xen_probed(dev: *mut sys::xenbus_device) -> c_int {
    // SAFETY: The bus calls us with a live device.
    let Some(dev) = (unsafe { XenbusDevice::new(dev) }) else {
        return EINVAL.to_errno();
    };
    let init = pin_init!(XenDevice {
        dev,
        inner <- kernel::new_mutex!(Inner::default()),
    });
    match KBox::pin_init(init, GFP_KERNEL) {
        Ok(xd) => dev.set_data(xd),
        Err(e) => return e.to_errno(),
    }
    // A device we drove before (the module was reloaded) is Closed: start
    // over, which tells the backend to get ready again.
    dev.switch(XS_INITIALISING);
    0
}

#[no_mangle]
pub(crate) extern "C" fn xenib_front_xen_backend_changed(
    dev: *mut sys::xenbus_device,
    state: c_int,
) {
    // SAFETY: The bus calls us with a live device of our driver, whose
    // data is the `XenDevice` set in `probed`.
    let Some((dev, xd)) = (unsafe { XenbusDevice::with_data::<XenDevice>(dev) }) else {
        return;
    };
    let ours = dev.state();
    let mut inner = xd.inner.lock();
    // Not set up: fresh, or closed and ready to start over.
    let idle = inner.channel.is_none() && (ours == XS_INITIALISING || ours == XS_CLOSED);
    match state as u32 {
        XS_INIT_WAIT if idle => match xd.setup(&mut inner) {
            Ok(()) => dev.switch(XS_INITIALISED),
            Err(e) => {
                pr_err!("cannot set up the rings: {:?}\n", e);
                xd.teardown(&mut inner, false);
                dev.switch(XS_CLOSING);
            }
        },
        XS_CONNECTED if ours == XS_INITIALISED => match xd.register(&mut inner) {
            Ok(()) => dev.switch(XS_CONNECTED),
            Err(e) => {
                pr_err!("cannot register the device: {:?}\n", e);
                xd.teardown(&mut inner, false);
                dev.switch(XS_CLOSING);
            }
        },
        // A backend still closed from before we (re)started: it will
        // invite us (InitWait) when it is ready.
        XS_CLOSING | XS_CLOSED | XS_UNKNOWN if idle => {}
        XS_CLOSING | XS_CLOSED | XS_UNKNOWN => {
            xd.teardown(&mut inner, false);
            if ours != XS_CLOSED {
                // SAFETY: Live (as above).
                unsafe { sys::xenbus_frontend_closed(dev.as_ptr()) };
            }
        }
        _ => {}
    }
}

#[no_mangle]
pub(crate) extern "C" fn xenib_front_xen_removed(dev: *mut sys::xenbus_device) {
    // SAFETY: The bus calls us with a live device of our driver; no other
    // callback of it runs any more, so nothing uses its data.
    if let Some(xd) = unsafe { XenbusDevice::new(dev).and_then(|d| d.take_data::<XenDevice>()) } {
        let mut inner = xd.inner.lock();
        xd.teardown(&mut inner, true);
    }
}
