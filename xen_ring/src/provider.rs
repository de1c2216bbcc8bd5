// SPDX-License-Identifier: GPL-2.0
//! What the backend knows of drivers' response bytes: where a create
//! response names the mmap regions of the new object's queues.
//!
//! The provider library mmaps each region right after the create, and
//! each mmap would cost the guest a round trip to the backend (`Mmap`).
//! Knowing where the driver put the regions' offsets, the backend maps
//! and grants them while it creates the object and sends the grant refs
//! with the create response ([`QueueMaps`](super::msg::QueueMaps)). For a
//! driver not listed here nothing changes: the provider's mmaps go to the
//! backend as before.
//!
//! The bytes parsed are the driver's own response (the backend's copy of
//! what the driver wrote), never the guest's.

/// `enum rdma_driver_id` value of rxe (`RDMA_DRIVER_RXE`).
pub const DRIVER_RXE: u32 = 14;

/// A verb whose response may name queue regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueVerb {
    /// `CreateCq`.
    CreateCq,
    /// `CreateQp`.
    CreateQp,
    /// `CreateSrq`.
    CreateSrq,
}

/// A region to map: mmap offset and length in bytes (page multiple).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// mmap offset.
    pub offset: u64,
    /// Length, rounded up to whole pages.
    pub length: u64,
}

/// The queue regions that `driver`'s response `resp` to `verb` names, in
/// the order the provider maps them; none for an unknown driver, a
/// response too short to hold them or a region the driver did not set
/// up (size 0, as for the receive queue of a QP on an SRQ).
pub fn queue_regions(driver: u32, verb: QueueVerb, resp: &[u8]) -> [Option<Region>; 2] {
    match driver {
        // `include/uapi/rdma/rdma_user_rxe.h`: `struct mminfo { u64
        // offset; u32 size; u32 pad; }` at the start of each response;
        // a QP's is `{ rq_mi, sq_mi }`.
        DRIVER_RXE => match verb {
            QueueVerb::CreateCq | QueueVerb::CreateSrq => [rxe_mminfo(resp, 0), None],
            QueueVerb::CreateQp => [rxe_mminfo(resp, 16), rxe_mminfo(resp, 0)],
        },
        _ => [None, None],
    }
}

/// rxe's `struct mminfo` at byte `at` of `resp`, in the driver's (native)
/// byte order.
fn rxe_mminfo(resp: &[u8], at: usize) -> Option<Region> {
    let offset = u64::from_ne_bytes(resp.get(at..at + 8)?.try_into().ok()?);
    let size = u32::from_ne_bytes(resp.get(at + 8..at + 12)?.try_into().ok()?);
    if size == 0 {
        return None;
    }
    let length = u64::from(size).div_ceil(super::msg::PAGE_SIZE) * super::msg::PAGE_SIZE;
    Some(Region { offset, length })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mminfo(offset: u64, size: u32) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&offset.to_ne_bytes());
        b[8..12].copy_from_slice(&size.to_ne_bytes());
        b
    }

    #[test]
    fn rxe_qp_send_queue_first() {
        let mut resp = [0u8; 32];
        resp[..16].copy_from_slice(&mminfo(0x3000, 8192));
        resp[16..].copy_from_slice(&mminfo(0x5000, 4097));
        let r = queue_regions(DRIVER_RXE, QueueVerb::CreateQp, &resp);
        assert_eq!(
            r,
            [
                Some(Region { offset: 0x5000, length: 8192 }),
                Some(Region { offset: 0x3000, length: 8192 })
            ]
        );
    }

    #[test]
    fn rxe_qp_on_srq_has_no_receive_queue() {
        let mut resp = [0u8; 32];
        resp[16..].copy_from_slice(&mminfo(0, 4096));
        let r = queue_regions(DRIVER_RXE, QueueVerb::CreateQp, &resp);
        assert_eq!(r, [Some(Region { offset: 0, length: 4096 }), None]);
    }

    #[test]
    fn rxe_cq_and_srq() {
        let mut resp = [0u8; 24];
        resp[..16].copy_from_slice(&mminfo(0x7000, 100));
        for v in [QueueVerb::CreateCq, QueueVerb::CreateSrq] {
            let r = queue_regions(DRIVER_RXE, v, &resp);
            assert_eq!(r, [Some(Region { offset: 0x7000, length: 4096 }), None]);
        }
    }

    #[test]
    fn short_responses_and_other_drivers_name_nothing() {
        let resp = mminfo(0x1000, 4096);
        assert_eq!(queue_regions(DRIVER_RXE, QueueVerb::CreateCq, &resp[..11]), [None, None]);
        assert_eq!(
            queue_regions(DRIVER_RXE, QueueVerb::CreateQp, &resp),
            [None, Some(Region { offset: 0x1000, length: 4096 })]
        );
        assert_eq!(queue_regions(18, QueueVerb::CreateCq, &resp), [None, None]);
    }
}
