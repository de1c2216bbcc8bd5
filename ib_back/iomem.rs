// SPDX-License-Identifier: GPL-2.0

//! Device memory given to guests: the I/O frames of doorbell pages.
//!
//! A hardware HCA's doorbell page (a UAR, a BlueFlame page) is a page of
//! its PCI BAR, which the driver maps with `rdma_user_mmap_io`. We do not
//! grant it (grants are for RAM): Xen gives the guest's domain permission
//! to map exactly those frames (`XEN_DOMCTL_iomem_permission`), and the
//! frontend maps them into the guest process through `DOMID_IO`.
//!
//! The rule (Documentation/design.rst, "Doorbell pages"): a frame given to
//! a domain is never given to another while the first could still reach
//! it. Withdrawing the permission stops new mappings, but Xen leaves the
//! mappings a PV domain already made, and a hostile frontend keeps them.
//! So a frame stays its domain's after the permission is withdrawn
//! (quarantine), until that domain is gone (destroyed or dying); the
//! next domain to ask for it is refused with `EBUSY` until then. Whether
//! the owner is gone is asked of Xen when another domain asks, so nothing
//! needs to watch domains die.

use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

use crate::errno::edquot;
use crate::sys::{self, warn_ratelimited};
use crate::table::Table;

/// I/O frames all guests may hold or have in quarantine at once.
const MAX_FRAMES: usize = 4096;
/// I/O frames one domain may hold or have in quarantine.
const MAX_FRAMES_PER_DOMAIN: usize = 256;

/// One frame given to a domain.
struct Given {
    frame: u64,
    domid: u16,
    /// Xen's handle (UUID) of the domain: tells it from a later domain
    /// that gets the same id.
    handle: [u8; 16],
    /// Live regions mapping it; 0: permission withdrawn, in quarantine.
    claims: u32,
}

/// The frames given to domains, host-wide.
#[pin_data]
pub(crate) struct IoFrames {
    #[pin]
    given: Mutex<Table<Given>>,
}

impl IoFrames {
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self { given <- kernel::new_mutex!(Table::new(MAX_FRAMES)) }),
            GFP_KERNEL,
        )
    }

    /// Gives `frames` to `domid`: Xen permits its domain to map them.
    /// `EBUSY` if a frame is another live domain's.
    pub(crate) fn claim(self: &Arc<Self>, domid: u16, frames: &[u64]) -> Result<IoClaim> {
        let handle = domain_handle(domid)?.ok_or(ESRCH)?;
        let mut given = self.given.lock();
        for &frame in frames {
            let Some(i) = given.position(|g| g.frame == frame) else {
                continue;
            };
            let Some(g) = given.get(i) else { continue };
            if g.domid == domid && g.handle == handle {
                continue;
            }
            if owner_lives(g) {
                warn_ratelimited!(
                    "domain {}: I/O frame {:#x} is domain {}'s until it is gone\n",
                    domid,
                    frame,
                    g.domid
                );
                return Err(EBUSY);
            }
            // Its domain is gone: the quarantine is over.
            given.remove(i);
        }
        let mut claim = IoClaim {
            frames: self.clone(),
            domid,
            taken: KVec::with_capacity(frames.len(), GFP_KERNEL)?,
        };
        for &frame in frames {
            // On error, dropping the claim gives back what it took.
            take(&mut given, &mut claim, frame, handle)?;
        }
        Ok(claim)
    }

    /// Ends the quarantine of frames whose domain is gone.
    pub(crate) fn forget_gone(&self) {
        let mut given = self.given.lock();
        let mut from = 0;
        while let Some(i) = given.position_from(from, |g| g.claims == 0 && !owner_lives(g)) {
            given.remove(i);
            from = i + 1;
        }
    }

    /// Frames given (mappable now) and in quarantine, for the counters.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let given = self.given.lock();
        let mapped = given.iter().filter(|g| g.claims > 0).count();
        (mapped, given.len() - mapped)
    }
}

/// One more claim of `frame` by the claim's domain.
fn take(given: &mut Table<Given>, claim: &mut IoClaim, frame: u64, handle: [u8; 16]) -> Result {
    let domid = claim.domid;
    let (i, new) = match given.position(|g| g.frame == frame) {
        Some(i) => (i, false),
        None if given.iter().filter(|g| g.domid == domid).count() >= MAX_FRAMES_PER_DOMAIN => {
            warn_ratelimited!(
                "domain {}: refused I/O frame {:#x}: it holds {} already\n",
                domid,
                frame,
                MAX_FRAMES_PER_DOMAIN
            );
            return Err(edquot());
        }
        None => (
            given.insert(Given {
                frame,
                domid,
                handle,
                claims: 0,
            })?,
            true,
        ),
    };
    let g = given.get_mut(i).ok_or(EINVAL)?;
    if g.claims == 0 {
        // SAFETY: A plain hypercall on behalf of the frontend's domain.
        let ret = unsafe { sys::xenib_back_iomem_permit(domid, frame, true) };
        if ret != 0 {
            if new {
                given.remove(i);
            }
            warn_ratelimited!(
                "domain {}: Xen refused access to I/O frame {:#x}: {}\n",
                domid,
                frame,
                ret
            );
            return Err(Error::from_errno(ret));
        }
    }
    g.claims += 1;
    // Cannot fail: reserved in `claim`.
    claim.taken.push(frame, GFP_KERNEL)?;
    Ok(())
}

/// Xen's handle of domain `domid`; `None` if it is gone or dying.
fn domain_handle(domid: u16) -> Result<Option<[u8; 16]>> {
    let mut handle = [0u8; 16];
    // SAFETY: `handle` has the 16 bytes the helper fills.
    match unsafe { sys::xenib_back_domain_alive(domid, handle.as_mut_ptr()) } {
        0 => Ok(None),
        1 => Ok(Some(handle)),
        e => Err(Error::from_errno(e)),
    }
}

/// Whether the domain a frame was given to still lives (the same domain,
/// not a later one with its id). When Xen cannot say, it does.
fn owner_lives(g: &Given) -> bool {
    match domain_handle(g.domid) {
        Ok(h) => h == Some(g.handle),
        Err(_) => true,
    }
}

/// A region's hold on its frames: while it lives, the domain may map them;
/// dropping it withdraws the permission (the frames stay in quarantine).
pub(crate) struct IoClaim {
    frames: Arc<IoFrames>,
    domid: u16,
    taken: KVec<u64>,
}

impl IoClaim {
    /// The frames, in region order.
    pub(crate) fn frames(&self) -> &[u64] {
        &self.taken
    }
}

impl Drop for IoClaim {
    fn drop(&mut self) {
        let mut given = self.frames.given.lock();
        for &frame in self.taken.iter() {
            let Some(i) = given.position(|g| g.frame == frame) else {
                continue;
            };
            let Some(g) = given.get_mut(i) else { continue };
            g.claims -= 1;
            if g.claims > 0 {
                continue;
            }
            // SAFETY: A plain hypercall on behalf of the domain.
            let ret = unsafe { sys::xenib_back_iomem_permit(self.domid, frame, false) };
            if ret != 0 {
                pr_err!(
                    "domain {}: Xen did not withdraw access to I/O frame {:#x}: {}\n",
                    self.domid,
                    frame,
                    ret
                );
            }
        }
    }
}
