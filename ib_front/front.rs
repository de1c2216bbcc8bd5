// SPDX-License-Identifier: GPL-2.0

//! xenib frontend (guest): an `ib_device` whose privileged verbs are
//! forwarded to `ib_back` in the driver domain.

use kernel::prelude::*;

mod sys;

module! {
    type: IbFront,
    name: "ib_front",
    author: "xenib developers",
    description: "Xen paravirtual RDMA frontend",
    license: "GPL",
}

struct IbFront;

impl kernel::Module for IbFront {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!("frontend loaded\n");
        Ok(IbFront)
    }
}
