// SPDX-License-Identifier: GPL-2.0

//! Error codes 6.12's `kernel::error::code` does not declare.

use kernel::error::Error;

use crate::sys;

/// `-EPROTO`: the peer broke the protocol.
pub(crate) fn eproto() -> Error {
    Error::from_errno(-(sys::EPROTO as i32))
}

/// `-EOPNOTSUPP`: the operation is not supported.
pub(crate) fn eopnotsupp() -> Error {
    Error::from_errno(-(sys::EOPNOTSUPP as i32))
}

/// `-ENOTCONN`: not connected to the peer.
pub(crate) fn enotconn() -> Error {
    Error::from_errno(-(sys::ENOTCONN as i32))
}

/// `-ETIMEDOUT`: the peer did not answer in time.
pub(crate) fn etimedout() -> Error {
    Error::from_errno(-(sys::ETIMEDOUT as i32))
}

/// `-ESHUTDOWN`: the service has stopped.
pub(crate) fn eshutdown() -> Error {
    Error::from_errno(-(sys::ESHUTDOWN as i32))
}

/// `-EDQUOT`: a guest's quota is used up.
pub(crate) fn edquot() -> Error {
    Error::from_errno(-(sys::EDQUOT as i32))
}

/// `-ENOSYS`: not a command we carry out.
pub(crate) fn enosys() -> Error {
    Error::from_errno(-(sys::ENOSYS as i32))
}

/// `-EADDRNOTAVAIL`: an address that is not the guest's.
pub(crate) fn eaddrnotavail() -> Error {
    Error::from_errno(-(sys::EADDRNOTAVAIL as i32))
}
