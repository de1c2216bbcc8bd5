// SPDX-License-Identifier: GPL-2.0

//! xenib backend (driver domain): executes the RDMA verbs forwarded by
//! `ib_front` instances on a real RDMA device.

use kernel::prelude::*;

mod sys;

module! {
    type: IbBack,
    name: "ib_back",
    author: "xenib developers",
    description: "Xen paravirtual RDMA backend",
    license: "GPL",
}

struct IbBack;

impl kernel::Module for IbBack {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: The helper returns a pointer to the module parameter,
        // a NUL-terminated string that lives as long as the module.
        let dev = unsafe { kernel::str::CStr::from_char_ptr(sys::xenib_back_param_dev()) };
        pr_info!("backend for {} loaded\n", dev);
        Ok(IbBack)
    }
}
