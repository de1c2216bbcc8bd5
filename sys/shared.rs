// SPDX-License-Identifier: GPL-2.0

//! The Rust code both modules compile from the same files: the protocol,
//! the loopback transport's grants and doorbell page, when to poll, small
//! utilities. Each module uses part of it (the frontend one half of a transport, the
//! backend the other), hence the `dead_code` allowance.

#![allow(dead_code)]

#[path = "doorbell_page.rs"]
pub(crate) mod doorbell_page;
#[path = "errno.rs"]
pub(crate) mod errno;
#[path = "fifo.rs"]
pub(crate) mod fifo;
#[path = "loop_grants.rs"]
pub(crate) mod loop_grants;
#[path = "phase.rs"]
pub(crate) mod phase;
#[path = "poll.rs"]
pub(crate) mod poll;
#[path = "protocol.rs"]
pub(crate) mod protocol;
#[path = "table.rs"]
pub(crate) mod table;
#[path = "xenbus.rs"]
pub(crate) mod xenbus;
