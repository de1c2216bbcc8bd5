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
mod context;
mod cq;
mod device;
mod hostile;
mod loopback;
mod mmap;
mod mr;
mod pd;
mod qp;
mod srq;
mod sys;

#[path = "../sys/shared.rs"]
mod shared;
use shared::protocol::{shmem, wire};
use shared::{doorbell_page, errno, loop_grants, table};

use channel::Channel;
use device::IbDevice;

module! {
    type: IbFront,
    name: "ib_front",
    author: "xenib developers",
    description: "Xen paravirtual RDMA frontend",
    license: "GPL",
}

struct IbFront {
    // Field order is drop order: the device goes before the channel it
    // forwards to.
    device: IbDevice,
    channel: Pin<KBox<Channel>>,
}

/// The module's channel, for the device-removal work item.
static CHANNEL: AtomicPtr<Channel> = AtomicPtr::new(core::ptr::null_mut());

/// Our device was unregistered because the backend's went away: nothing
/// more will be asked of the backend, so let it go.
#[no_mangle]
pub(crate) extern "C" fn xenib_front_removed() {
    let p = CHANNEL.load(Ordering::Acquire);
    // SAFETY: Set while the module's channel exists; cleared (after the
    // work item that calls us is cancelled) before it goes.
    if let Some(ch) = unsafe { p.as_ref() } {
        ch.disconnect();
    }
}

impl kernel::Module for IbFront {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let channel = KBox::try_pin_init(Channel::new()?, GFP_KERNEL)?;
        channel
            .connect()
            .inspect_err(|e| pr_err!("cannot connect to ib_back: {:?}\n", e))?;
        let device = IbDevice::register(module, &channel).inspect_err(|e| {
            pr_err!("cannot register the device: {:?}\n", e);
            channel.disconnect();
        })?;
        CHANNEL.store(
            &*channel as *const Channel as *mut Channel,
            Ordering::Release,
        );
        Ok(IbFront { device, channel })
    }
}

impl Drop for IbFront {
    fn drop(&mut self) {
        // Unregistering destroys every guest object through our verbs,
        // which still reach the backend; then the connection goes.
        self.device.unregister();
        CHANNEL.store(core::ptr::null_mut(), Ordering::Release);
        self.channel.disconnect();
    }
}
