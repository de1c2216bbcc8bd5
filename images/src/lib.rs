// SPDX-License-Identifier: GPL-2.0
//! xenib's VM image tool: content-defined chunks named by BLAKE3 with a
//! manifest whose digest is the image version (`manifest`, `image`), a
//! content-addressed store (`store`) that is also each node's cache with
//! pins and a budget (`cache`), and `fetch`, which deploys an image to every
//! node of a job over MPI, reading only the chunks some node lacks, once,
//! and `domain`, which boots Xen domUs from the cache.
//! See Documentation/images.rst.

pub mod cache;
pub mod collective;
pub mod domain;
pub mod error;
pub mod fetch;
pub mod hash;
pub mod image;
pub mod manifest;
#[cfg(feature = "mpi")]
pub mod mpi_world;
pub mod source;
pub mod store;

pub use error::{Error, Result};
pub use hash::Digest;
