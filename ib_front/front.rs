// SPDX-License-Identifier: GPL-2.0

//! xenib frontend (guest).
//!
//! Registers `xib0`, an `ib_device` that presents the backend's real
//! device (driver id, attributes, ports) so that the guest's unmodified
//! libibverbs provider loads and works on it. Every privileged verb is
//! forwarded to `ib_back` over the shared ring; the pages behind the
//! driver's queues come back as grants and are mapped into the guest
//! process, so posting and polling never leave it. Guest memory is
//! pinned and granted for memory registration.

use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;

mod ah;
mod channel;
mod cm;
mod context;
mod cq;
mod device;
mod hostile;
mod loopback;
mod mmap;
mod mr;
mod mw;
mod pd;
mod qp;
mod refused;
mod regcache;
mod srq;
mod sys;
mod transport;
mod xen;

#[path = "../sys/shared.rs"]
mod shared;
use shared::protocol::{av, shmem, ucma, wire};
use shared::{doorbell_page, errno, fifo, loop_grants, phase, poll, table, xenbus};

use channel::Channel;
use device::IbDevice;
use transport::Transport;

module! {
    type: IbFront,
    name: "ib_front",
    author: "xenib developers",
    description: "Xen paravirtual RDMA frontend",
    license: "GPL",
}

/// Over the loopback, the module has one device and one channel; over
/// Xen, each `vrdma` xenbus device has its own (see `xen.rs`).
enum IbFront {
    Loopback {
        // Field order is drop order: the device goes before the channel
        // it forwards to.
        device: IbDevice,
        channel: Pin<KBox<Channel>>,
    },
    Xen {
        /// What the guest's `/dev/infiniband/rdma_cm` files share.
        cm: Pin<KBox<cm::Hub>>,
    },
}

/// The channel of the registered device, for the device-removal work item.
static CHANNEL: AtomicPtr<Channel> = AtomicPtr::new(core::ptr::null_mut());

/// Publishes (or, with `None`, withdraws) the registered device's channel.
/// Withdraw it before the channel goes, after the device is unregistered.
pub(crate) fn set_channel(ch: Option<&Pin<KBox<Channel>>>) {
    let p = ch.map_or(core::ptr::null_mut(), |c| {
        &**c as *const Channel as *mut Channel
    });
    CHANNEL.store(p, Ordering::Release);
}

/// Our device was unregistered because the backend's went away: nothing
/// more will be asked of the backend, so let it go.
#[no_mangle]
pub(crate) extern "C" fn xenib_front_removed() {
    let p = CHANNEL.load(Ordering::Acquire);
    // SAFETY: Set while the registered device's channel exists; cleared
    // (after the work item that calls us is cancelled) before it goes.
    if let Some(ch) = unsafe { p.as_ref() } {
        ch.disconnect();
    }
}

impl kernel::Module for IbFront {
    fn init(module: &'static ThisModule) -> Result<Self> {
        // SAFETY: Plain queries.
        if unsafe { sys::xenib_xen_domain() && !sys::xenib_xen_initial_domain() } {
            let cm = KBox::pin_init(cm::Hub::new(), GFP_KERNEL)?;
            cm.as_ref().register();
            // SAFETY: Registered once, unregistered in `drop`.
            if let Err(e) = kernel::error::to_result(unsafe { sys::xenib_front_xen_register() }) {
                cm.unregister_device();
                cm.unregister();
                return Err(e);
            }
            return Ok(IbFront::Xen { cm });
        }
        let channel = KBox::try_pin_init(Channel::new(Transport::loopback()?)?, GFP_KERNEL)?;
        channel
            .connect()
            .inspect_err(|e| pr_err!("cannot connect to ib_back: {:?}\n", e))?;
        let device = IbDevice::register(module, &channel).inspect_err(|e| {
            pr_err!("cannot register the device: {:?}\n", e);
            channel.disconnect();
        })?;
        set_channel(Some(&channel));
        Ok(IbFront::Loopback { device, channel })
    }
}

impl Drop for IbFront {
    fn drop(&mut self) {
        match self {
            IbFront::Loopback { device, channel } => {
                // Unregistering destroys every guest object through our
                // verbs, which still reach the backend; then the
                // connection goes.
                device.unregister();
                set_channel(None);
                channel.disconnect();
            }
            IbFront::Xen { cm } => {
                // No new cm files (open ones hold the module: there are none).
                cm.unregister_device();
                // SAFETY: Registered in `init`; each device's remove
                // callback unregisters its `xib` device and disconnects.
                unsafe { sys::xenib_front_xen_unregister() };
                cm.unregister();
            }
        }
    }
}
