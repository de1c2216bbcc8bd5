// SPDX-License-Identifier: GPL-2.0

//! User contexts, and the provider's `udata` that travels with each verb.

use crate::errno::{eopnotsupp, eproto};
use core::ffi::c_int;
use kernel::error::{from_result, to_result};
use kernel::prelude::*;

use crate::device::{channel, XibUcontext};
use crate::sys;
use crate::wire::{CtxHandle, CtxReq, Request, RspBody, Udata, UdataReq, MAX_UDATA};

/// Copies the provider's request bytes in (at most `MAX_UDATA`), with
/// how many response bytes it asked for (its `outlen`, bounded by
/// `MAX_UDATA`: the backend offers the driver that many).
///
/// # Safety
///
/// `udata` is null or the core's udata of the running verb.
pub(crate) unsafe fn udata_in(udata: *mut sys::ib_udata) -> Result<Udata> {
    // SAFETY: Per the function contract.
    let (len, out_len) = unsafe { (sys::xenib_udata_inlen(udata), sys::xenib_udata_outlen(udata)) };
    if len > MAX_UDATA {
        return Err(EINVAL);
    }
    let mut buf = [0u8; MAX_UDATA];
    if len > 0 {
        // SAFETY: `buf` holds `len` bytes; the helper copies from user.
        to_result(unsafe { sys::xenib_udata_copy_in(buf.as_mut_ptr().cast(), udata, len) })?;
    }
    Udata::new(&buf[..len])
        .and_then(|u| u.with_out_len(out_len.min(MAX_UDATA)))
        .ok_or(EINVAL)
}

/// Copies the backend driver's response bytes out to the provider (as
/// many as it asked for).
///
/// # Safety
///
/// As for `udata_in`.
pub(crate) unsafe fn udata_out(udata: *mut sys::ib_udata, rsp: &Udata) -> Result {
    // SAFETY: Per the function contract.
    if udata.is_null() || unsafe { sys::xenib_udata_outlen(udata) } == 0 {
        return Ok(());
    }
    let bytes = rsp.as_slice();
    // SAFETY: `bytes` is valid for its length; the core bounds the copy by
    // `outlen`.
    to_result(unsafe { sys::xenib_udata_copy_out(udata, bytes.as_ptr().cast(), bytes.len()) })
}

/// The backend context of the process making this verb. Kernel users
/// (no udata) are refused: the device serves user space only.
///
/// # Safety
///
/// As for `udata_in`.
pub(crate) unsafe fn ctx_of(udata: *mut sys::ib_udata) -> Result<u32> {
    // SAFETY: Per the function contract; our contexts are `XibUcontext`s.
    let uc = unsafe { sys::xenib_udata_context(udata) };
    if uc.is_null() {
        return Err(eopnotsupp());
    }
    // SAFETY: `uc` is the first field of a live `XibUcontext`.
    Ok(unsafe { (*uc.cast::<XibUcontext>()).handle })
}

pub(crate) unsafe extern "C" fn alloc_ucontext(
    uc: *mut sys::ib_ucontext,
    udata: *mut sys::ib_udata,
) -> c_int {
    from_result(|| {
        // SAFETY: The core allocated `uc` with our size, on our device.
        let (ch, xuc) = unsafe { (channel((*uc).device), &mut *uc.cast::<XibUcontext>()) };
        // SAFETY: The core's udata for this verb.
        let req = UdataReq {
            udata: unsafe { udata_in(udata)? },
        };
        match ch.call(&Request::OpenContext(req))? {
            RspBody::OpenContext(r) => {
                xuc.handle = r.ctx.0;
                xuc.ctx = r.ctx.0;
                // SAFETY: As above.
                if let Err(e) = unsafe { udata_out(udata, &r.udata) } {
                    let _ = ch.call(&Request::CloseContext(CtxReq { ctx: r.ctx }));
                    return Err(e);
                }
                Ok(0)
            }
            _ => Err(eproto()),
        }
    })
}

pub(crate) unsafe extern "C" fn dealloc_ucontext(uc: *mut sys::ib_ucontext) {
    // SAFETY: The core passes a context we set up in `alloc_ucontext`.
    let (ch, xuc) = unsafe { (channel((*uc).device), &*uc.cast::<XibUcontext>()) };
    // Closing the backend context releases everything in it; if the
    // backend is gone there is nothing left to release.
    let ctx = CtxHandle(xuc.handle);
    let io_pages = ch.mappings().take_io_pages(ctx);
    ch.mappings().forget_stashed(ctx);
    let closed = ch.call(&Request::CloseContext(CtxReq { ctx })).is_ok();
    // The backend unmapped the context's kept pages (or is gone).
    crate::mr::release_cached(ch, Some(ctx));
    for p in io_pages {
        // Device memory is out of our physical map once the backend has
        // closed the context; if it could not say so, it may not be.
        if closed {
            drop(p);
        } else {
            p.leak();
        }
    }
}

/// The device is going away while a process still uses it: the core will
/// destroy the context's objects itself. Pages already mapped into the
/// process stay allocated (the mapping holds them) but are no longer fed
/// by the backend, as with a removed hardware device.
pub(crate) unsafe extern "C" fn disassociate_ucontext(_uc: *mut sys::ib_ucontext) {}
