// SPDX-License-Identifier: GPL-2.0

//! The dispatcher: `xenib-backd`'s `XENIB_BACK_SERVE` call, in which the
//! backend takes every frontend's requests off its ring, answers those
//! about the device and hands the rest to their contexts' servers
//! (`server.rs`), each a process of its own.

use kernel::prelude::*;

use crate::poll::{now_ns, PollAdvisor, POLL_NS};
use crate::{sys, Backend, Work};

/// Called by `/dev/xenib_back`'s ioctl handler.
#[no_mangle]
pub(crate) extern "C" fn xenib_back_serve(
    file: *mut sys::file,
    path: *const kernel::ffi::c_char,
) -> core::ffi::c_long {
    let Some(backend) = Backend::get() else {
        return ENODEV.to_errno() as _;
    };
    if file.is_null() {
        return EINVAL.to_errno() as _;
    }
    // SAFETY: The ioctl handler passes a NUL-terminated copy of the path.
    let path = unsafe { kernel::str::CStr::from_char_ptr(path) };
    match serve(backend, path) {
        Ok(()) => 0,
        Err(e) => e.to_errno() as _,
    }
}

fn serve(backend: &Backend, path: &kernel::str::CStr) -> Result {
    backend.start_service(path)?;
    pr_info!("serving through {}\n", path);
    // After a request, poll the rings a while before sleeping, the
    // frontends asked not to notify us meanwhile: a verb often follows
    // another (create, then mmap its queues; the modify_qp steps), and a
    // notification plus a wake-up of this thread would cost more than the
    // verb itself. Only while requests do follow each other closely.
    let gaps = PollAdvisor::new();
    let mut served_at = None;
    let mut poll_until = None;
    let result = loop {
        match backend.next_work(poll_until) {
            Ok(Work::Serve(fe)) => {
                let start = now_ns();
                if let Some(t) = served_at {
                    gaps.note(start - t);
                }
                let poll = gaps.poll_until(start).is_some();
                let before = fe.taken();
                let more = fe.serve(backend, poll);
                backend.stats.taken(false, fe.taken().wrapping_sub(before));
                if fe.take_cut_off() {
                    backend.cut_off(&fe);
                }
                if more {
                    // More queued than one turn's budget: come back later.
                    fe.kick();
                }
                let end = now_ns();
                served_at = Some(end);
                poll_until = match (poll, poll_until) {
                    (true, _) => Some(end + POLL_NS),
                    // Frontends an earlier window left without
                    // notifications are armed again (`Work::Arm`).
                    (false, Some(_)) => Some(end),
                    (false, None) => None,
                };
            }
            Ok(Work::Arm) => {
                poll_until = match backend.arm_all() {
                    Ok(()) => None,
                    Err(_) => Some(now_ns() + POLL_NS),
                };
            }
            Ok(Work::Purge) => backend.close_all(),
            Err(e) => break e,
        }
    };
    // Whoever serves next starts asleep, waiting for notifications.
    while backend.arm_all().is_err() {
        // SAFETY: Sleeping in process context.
        unsafe { sys::xenib_msleep(10) };
    }
    // Without a dispatcher no context can be served: close them all.
    backend.stop_service();
    pr_info!("service stopped\n");
    Err(result)
}

/// `XENIB_BACK_POOL_WAIT`: returns when `xenib-backd` should fork another
/// context server.
#[no_mangle]
pub(crate) extern "C" fn xenib_back_pool_wait() -> core::ffi::c_long {
    let Some(backend) = Backend::get() else {
        return ENODEV.to_errno() as _;
    };
    match backend.wait_pool() {
        Ok(()) => 0,
        Err(e) => e.to_errno() as _,
    }
}
