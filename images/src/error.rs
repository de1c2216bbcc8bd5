// SPDX-License-Identifier: GPL-2.0
//! One error type for the whole tool: a message that says what failed and
//! on which object, so that the CLI can print it as is.

use std::fmt;
use std::path::Path;

/// An error with a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

/// The tool's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Builds an error from anything printable.
pub fn err(msg: impl Into<String>) -> Error {
    Error(msg.into())
}

/// Adapter for `map_err`: "WHAT PATH: io error".
pub fn io_at<'a>(what: &'a str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error(format!("{what} {}: {e}", path.display()))
}
