// SPDX-License-Identifier: GPL-2.0

//! A xenbus device as both drivers see it (`ib_front/xen.rs`,
//! `ib_back/xen.rs`): its state, its and its other end's xenstore
//! directories, and the driver data each driver keeps in it.

use core::ptr::NonNull;
use kernel::ffi::c_char;
use kernel::prelude::*;

use crate::sys;

pub(crate) const XS_INITIALISING: u32 = sys::xenbus_state_XenbusStateInitialising;
pub(crate) const XS_INIT_WAIT: u32 = sys::xenbus_state_XenbusStateInitWait;
pub(crate) const XS_INITIALISED: u32 = sys::xenbus_state_XenbusStateInitialised;
pub(crate) const XS_CONNECTED: u32 = sys::xenbus_state_XenbusStateConnected;
pub(crate) const XS_CLOSING: u32 = sys::xenbus_state_XenbusStateClosing;
pub(crate) const XS_CLOSED: u32 = sys::xenbus_state_XenbusStateClosed;
pub(crate) const XS_UNKNOWN: u32 = sys::xenbus_state_XenbusStateUnknown;

/// # Invariants
///
/// Points to a live xenbus device: one the bus passed to a driver
/// callback, used within the callback or while the driver data it owns
/// (which the bus frees only through our `remove`) exists, or one we hold
/// a reference on.
#[derive(Clone, Copy)]
pub(crate) struct XenbusDevice(NonNull<sys::xenbus_device>);

// SAFETY: A xenbus device may be used from any thread.
unsafe impl Send for XenbusDevice {}
// SAFETY: As above.
unsafe impl Sync for XenbusDevice {}

impl XenbusDevice {
    /// # Safety
    ///
    /// `dev` is null or a live xenbus device for as long as the result is
    /// used (see the type invariant).
    pub(crate) unsafe fn new(dev: *mut sys::xenbus_device) -> Option<Self> {
        NonNull::new(dev).map(Self)
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::xenbus_device {
        self.0.as_ptr()
    }

    /// Our end's state.
    pub(crate) fn state(&self) -> u32 {
        // SAFETY: Live (type invariant).
        unsafe { sys::xenib_xs_state(self.as_ptr()) as u32 }
    }

    /// Switches our end to `state` (logging a failure: the other end then
    /// sees no change and the toolstack can tell).
    pub(crate) fn switch(&self, state: u32) {
        // SAFETY: Live (type invariant).
        let ret = unsafe { sys::xenbus_switch_state(self.as_ptr(), state) };
        if ret != 0 {
            pr_err!("cannot switch xenbus state to {}: {}\n", state, ret);
        }
    }

    /// The other end's domain.
    pub(crate) fn otherend_id(&self) -> u16 {
        // SAFETY: Live (type invariant).
        unsafe { sys::xenib_xs_otherend_id(self.as_ptr()) as u16 }
    }

    /// Our xenstore directory (valid while the device is).
    pub(crate) fn nodename(&self) -> *const c_char {
        // SAFETY: Live (type invariant).
        unsafe { sys::xenib_xs_nodename(self.as_ptr()) }
    }

    /// Our xenstore directory as text, for log lines.
    pub(crate) fn name(&self) -> &kernel::str::CStr {
        // SAFETY: xenbus sets `nodename` to a NUL-terminated string before
        // probe and frees it only with the device, which outlives `self`.
        unsafe { kernel::str::CStr::from_char_ptr(self.nodename()) }
    }

    /// The other end's xenstore directory (valid while the device is).
    pub(crate) fn otherend(&self) -> *const c_char {
        // SAFETY: Live (type invariant).
        unsafe { sys::xenib_xs_otherend(self.as_ptr()) }
    }

    /// The other end's state as xenstore has it now (also while our
    /// watch of it is gone, as during removal).
    pub(crate) fn read_otherend_state(&self) -> u32 {
        // SAFETY: The other end's path is valid while the device is.
        unsafe { sys::xenbus_read_driver_state(self.otherend()) as u32 }
    }

    /// Reads the other end's `node` as a number.
    pub(crate) fn read_otherend_u32(&self, node: &kernel::str::CStr) -> Result<u32> {
        let mut v = 0u32;
        // SAFETY: The directory is the device's; `node` is NUL-terminated.
        let ret = unsafe { sys::xenib_xs_read_u32(self.otherend(), node.as_char_ptr(), &mut v) };
        kernel::error::to_result(ret).map(|_| v)
    }

    /// Reads our own `node` as a string into `buf`; its length.
    pub(crate) fn read_str(&self, node: &kernel::str::CStr, buf: &mut [u8]) -> Result<usize> {
        // SAFETY: The directory is the device's; `node` is NUL-terminated;
        // the helper writes at most `buf.len()` bytes, NUL included.
        let ret = unsafe {
            sys::xenib_xs_read_str(
                self.nodename(),
                node.as_char_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        kernel::error::to_result(ret)?;
        Ok(buf.iter().position(|b| *b == 0).unwrap_or(buf.len()))
    }

    /// Gives `data` to the device, until `take_data`.
    pub(crate) fn set_data<T>(&self, data: Pin<KBox<T>>) {
        // SAFETY: The box is only borrowed through the pointer (`data`) or
        // taken back whole (`take_data`), never moved out of.
        let p = KBox::into_raw(unsafe { Pin::into_inner_unchecked(data) });
        // SAFETY: Live (type invariant).
        unsafe { sys::xenib_xs_set_drvdata(self.as_ptr(), p.cast()) };
    }

    /// The device's data.
    ///
    /// # Safety
    ///
    /// The data, if set, was set by `set_data::<T>`, and `take_data` does
    /// not run during `'a` (the bus serialises a device's callbacks with
    /// its removal).
    pub(crate) unsafe fn data<'a, T>(self) -> Option<&'a T> {
        // SAFETY: Live (type invariant); per the function contract.
        unsafe { (sys::xenib_xs_get_drvdata(self.as_ptr()) as *const T).as_ref() }
    }

    /// The device a bus callback was given, with its driver data `T`.
    ///
    /// # Safety
    ///
    /// `dev` is live and its data, if set, was set by `set_data::<T>`;
    /// called from a callback of the driver, which the bus does not run
    /// concurrently with `take_data` (removal) during `'a`.
    pub(crate) unsafe fn with_data<'a, T>(dev: *mut sys::xenbus_device) -> Option<(Self, &'a T)> {
        // SAFETY: Per the function contract.
        let dev = unsafe { Self::new(dev)? };
        // SAFETY: Per the function contract.
        Some((dev, unsafe { dev.data::<T>()? }))
    }

    /// Takes the device's data back.
    ///
    /// # Safety
    ///
    /// As for `data`; nothing uses the data any more.
    pub(crate) unsafe fn take_data<T>(&self) -> Option<Pin<KBox<T>>> {
        // SAFETY: Live (type invariant).
        let p = unsafe { sys::xenib_xs_get_drvdata(self.as_ptr()) } as *mut T;
        if p.is_null() {
            return None;
        }
        // SAFETY: As above.
        unsafe { sys::xenib_xs_set_drvdata(self.as_ptr(), core::ptr::null_mut()) };
        // SAFETY: From `KBox::into_raw` in `set_data`, per the contract; it
        // was pinned there and stays pinned.
        Some(unsafe { Pin::new_unchecked(KBox::from_raw(p)) })
    }
}

/// An event channel of a xenbus device (`sys/xen_glue.c`): handled in
/// process context, late EOI.
///
/// # Invariants
///
/// The pointer is null or a channel from `xenib_evtchn_bind`, freed only
/// in `drop`, so notifying through `&self` is always sound.
pub(crate) struct EventChannel(core::sync::atomic::AtomicPtr<sys::xenib_evtchn>);

impl EventChannel {
    pub(crate) const fn new() -> Self {
        Self(core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()))
    }

    /// Binds to `remote_port` of `dev`'s other end or, if it is 0, to a
    /// new channel for the other end; returns the local port. `handler`
    /// runs with `data` for every batch of events until `unbind`.
    ///
    /// # Safety
    ///
    /// `data` stays valid for `handler` until `unbind` (or drop) returns.
    pub(crate) unsafe fn bind(
        &self,
        dev: XenbusDevice,
        remote_port: u32,
        handler: unsafe extern "C" fn(*mut core::ffi::c_void),
        data: *mut core::ffi::c_void,
        name: &kernel::str::CStr,
    ) -> Result<u32> {
        if !self.0.load(core::sync::atomic::Ordering::Acquire).is_null() {
            return Err(EBUSY);
        }
        let mut local = 0u32;
        // SAFETY: `dev` is live (type invariant of `XenbusDevice`); `data`
        // per the function contract; `name` is a static-lifetime string
        // the irq keeps (the callers pass literals).
        let ch = unsafe {
            sys::xenib_evtchn_bind(
                dev.as_ptr(),
                remote_port,
                Some(handler),
                data,
                name.as_char_ptr(),
                &mut local,
            )
        };
        // SAFETY: Any pointer may be tested.
        let err = unsafe { sys::xenib_ptr_err(ch.cast()) };
        if err != 0 {
            return Err(Error::from_errno(err as i32));
        }
        // INVARIANT: from `xenib_evtchn_bind`.
        self.0.store(ch, core::sync::atomic::Ordering::Release);
        Ok(if remote_port == 0 { local } else { remote_port })
    }

    /// Raises the other end (nothing if not bound, or unbound).
    pub(crate) fn notify(&self) {
        let p = self.0.load(core::sync::atomic::Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: Valid until drop (type invariant); the helper
            // serialises with `unbind`.
            unsafe { sys::xenib_evtchn_notify(p) };
        }
    }

    /// Closes the channel: no handler runs after this returns.
    pub(crate) fn unbind(&self) {
        let p = self.0.load(core::sync::atomic::Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: Valid until drop (type invariant); idempotent.
            unsafe { sys::xenib_evtchn_unbind(p) };
        }
    }
}

impl Drop for EventChannel {
    fn drop(&mut self) {
        let p = self
            .0
            .swap(core::ptr::null_mut(), core::sync::atomic::Ordering::AcqRel);
        if !p.is_null() {
            // SAFETY: From `xenib_evtchn_bind` (type invariant); nothing
            // can use it any more.
            unsafe { sys::xenib_evtchn_free(p) };
        }
    }
}
