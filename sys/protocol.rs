// SPDX-License-Identifier: GPL-2.0

//! The shared protocol: `xen_ring`'s sources, compiled into each module
//! (the same files the host builds and tests as a crate).

#[path = "../xen_ring/src"]
#[allow(unreachable_pub, dead_code, missing_docs)]
pub(crate) mod xen_ring {
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
}

pub(crate) use xen_ring::av;
pub(crate) use xen_ring::shmem;
pub(crate) use xen_ring::ucma;

/// Everything on the wire, under one name.
pub(crate) mod wire {
    pub(crate) use super::xen_ring::doorbell;
    pub(crate) use super::xen_ring::msg::*;
    pub(crate) use super::xen_ring::ring::*;
    pub(crate) use super::xen_ring::wire::*;
}
