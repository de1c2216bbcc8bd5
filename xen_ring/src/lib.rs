// SPDX-License-Identifier: GPL-2.0
//! xenib shared-ring wire protocol.
//!
//! This file is only the crate root for host builds (`cargo test`, fuzzing,
//! benchmarks). The kernel modules include the other files directly:
//!
//! ```text
//! #[path = "../xen_ring/src"]
//! #[allow(unreachable_pub, dead_code)]
//! mod xen_ring { pub mod av; pub mod caps; pub mod shmem; pub mod ring; pub mod codec; pub mod msg; pub mod provider; pub mod wire; pub mod doorbell; pub mod ucma; }
//! ```
//!
//! so sibling references use `super::`, never `crate::`. `host.rs` is
//! host-only and must not be listed by the kernel modules.
//!
//! See `Documentation/ring-protocol.rst` for the protocol specification.

#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod av;
pub mod caps;
pub mod codec;
pub mod doorbell;
pub mod msg;
pub mod provider;
pub mod ring;
pub mod shmem;
pub mod ucma;
pub mod wire;

#[cfg(any(test, feature = "host"))]
pub mod host;

pub use codec::{errno, DecodeError};
pub use msg::*;
pub use ring::{
    init_shared, requests_beyond, ring_area_bytes, slots_for_len, BackRing, FrontRing, RingError,
    RingFull, Slot, MAX_RING_ORDER, RING_HEADER_SIZE, SLOT_SIZE,
};
pub use shmem::{RawMem, SharedMem};
pub use wire::{
    hello_response, negotiate, Event, EventOp, Op, Request, Response, RspBody, FLAG_NO_REPLY,
    PROTOCOL_VERSION, SUPPORTED_FEATURES,
};
