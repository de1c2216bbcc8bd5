// SPDX-License-Identifier: GPL-2.0
//! BLAKE3 names: chunks are named by the hash of their uncompressed bytes,
//! images by the hash of their manifest's bytes.

use crate::error::{err, Result};
use std::fmt;

/// A BLAKE3 hash, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The hash of `data`.
    pub fn of(data: &[u8]) -> Digest {
        Digest(*blake3::hash(data).as_bytes())
    }

    /// Parses 64 hex digits; anything else is an error naming the input.
    pub fn parse(text: &str) -> Result<Digest> {
        if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err(format!(
                "not a BLAKE3 digest (64 hex digits): {text:?}"
            )));
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
                .map_err(|_| err(format!("not a BLAKE3 digest: {text:?}")))?;
        }
        Ok(Digest(out))
    }

    /// 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", &self.hex()[..16])
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Digest, D::Error> {
        let text = String::deserialize(d)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let d = Digest::of(b"xenib");
        assert_eq!(Digest::parse(&d.hex()), Ok(d));
        assert_eq!(d.hex(), blake3::hash(b"xenib").to_hex().as_str());
    }

    #[test]
    fn rejects_bad_text() {
        assert!(Digest::parse("abc").is_err());
        assert!(Digest::parse(&"g".repeat(64)).is_err());
        assert!(Digest::parse(&"A".repeat(64)).is_ok());
    }
}
