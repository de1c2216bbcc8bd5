// SPDX-License-Identifier: GPL-2.0

//! Raw bindings: the kernel crate's, plus RDMA core, Xen and our C helpers.
//!
//! The only file of this module that names generated bindings; see
//! `sys/bindgen.mk` for how they are made.

#[allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    unused_imports,
    clippy::all,
    missing_docs,
    improper_ctypes,
    unreachable_pub,
    unsafe_op_in_unsafe_fn
)]
mod generated {
    pub use kernel::bindings::*;
    include!("bindings_generated.rs");
}

pub(crate) use generated::*;

/// `pr_warn!` at most ten times per five seconds (module-wide): for what
/// a misbehaving peer can make us log.
macro_rules! warn_ratelimited {
    ($($arg:tt)*) => {
        // SAFETY: `__ratelimit` on a static state, callable anywhere.
        if unsafe { $crate::sys::xenib_ratelimit() } {
            kernel::pr_warn!($($arg)*);
        }
    };
}
pub(crate) use warn_ratelimited;
