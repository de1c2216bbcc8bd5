// SPDX-License-Identifier: GPL-2.0
//! The manifest: which files an image holds and the chunks that rebuild
//! them. The files are concatenated into one stream, cut by FastCDC; the
//! manifest lists the stream's chunks in order. Its bytes, hashed, are the
//! image's version (its digest), so a manifest is only ever trusted after
//! its bytes were checked against the digest a job asked for.

use crate::error::{err, Result};
use crate::hash::Digest;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The only format this tool writes and reads.
pub const FORMAT: u32 = 1;

/// One input file, a slice of the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// File name without directories; unique within the image.
    pub name: String,
    /// Length in bytes.
    pub size: u64,
    /// BLAKE3 of the file's bytes, checked again by `extract`.
    pub blake3: Digest,
}

/// One chunk of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRef {
    /// BLAKE3 of the uncompressed bytes: the chunk's name in every store.
    pub hash: Digest,
    /// Uncompressed length.
    pub size: u32,
    /// Length of the zstd frame as stored and as sent.
    pub stored_size: u32,
}

/// An image version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub files: Vec<FileEntry>,
    /// The stream's chunks in order; a chunk may occur more than once.
    pub chunks: Vec<ChunkRef>,
}

impl Manifest {
    /// The bytes that are stored and hashed.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain structs of strings and integers cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Parses manifest bytes that must hash to `digest`.
    pub fn from_verified_bytes(bytes: &[u8], digest: &Digest) -> Result<Manifest> {
        let actual = Digest::of(bytes);
        if actual != *digest {
            return Err(err(format!(
                "manifest {digest}: its bytes hash to {actual}"
            )));
        }
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| err(format!("manifest {digest}: not a manifest: {e}")))?;
        manifest.check(digest)?;
        Ok(manifest)
    }

    /// Internal consistency: the files and the chunks describe one stream.
    fn check(&self, digest: &Digest) -> Result<()> {
        if self.format != FORMAT {
            return Err(err(format!(
                "manifest {digest}: format {} (this tool reads {FORMAT})",
                self.format
            )));
        }
        let files: u64 = self.files.iter().map(|f| f.size).sum();
        let chunks: u64 = self.chunks.iter().map(|c| u64::from(c.size)).sum();
        if files != chunks {
            return Err(err(format!(
                "manifest {digest}: files hold {files} bytes, chunks {chunks}"
            )));
        }
        let mut names = HashSet::new();
        for f in &self.files {
            let plain =
                !f.name.is_empty() && f.name != "." && f.name != ".." && !f.name.contains('/');
            if !plain || !names.insert(f.name.as_str()) {
                return Err(err(format!(
                    "manifest {digest}: bad or repeated file name {:?}",
                    f.name
                )));
            }
        }
        Ok(())
    }

    /// The distinct chunks in order of first use. Bitmaps of missing
    /// chunks are indexed by position in this list.
    pub fn unique_chunks(&self) -> Vec<ChunkRef> {
        let mut seen = HashSet::new();
        self.chunks
            .iter()
            .filter(|c| seen.insert(c.hash))
            .copied()
            .collect()
    }

    /// Total length of the files.
    pub fn image_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Bytes the distinct chunks take stored (compressed).
    pub fn stored_size(&self) -> u64 {
        self.unique_chunks()
            .iter()
            .map(|c| u64::from(c.stored_size))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let chunk = ChunkRef {
            hash: Digest::of(b"a"),
            size: 3,
            stored_size: 12,
        };
        Manifest {
            format: FORMAT,
            files: vec![FileEntry {
                name: "vmlinuz".into(),
                size: 6,
                blake3: Digest::of(b"aaaaaa"),
            }],
            chunks: vec![chunk, chunk],
        }
    }

    #[test]
    fn digest_checks_bytes() {
        let bytes = sample().to_bytes();
        let digest = Digest::of(&bytes);
        assert_eq!(Manifest::from_verified_bytes(&bytes, &digest), Ok(sample()));
        let mut tampered = bytes.clone();
        let pos = tampered.iter().position(|&b| b == b'6').unwrap();
        tampered[pos] = b'7';
        let e = Manifest::from_verified_bytes(&tampered, &digest).unwrap_err();
        assert!(e.0.contains("its bytes hash to"), "{e}");
    }

    #[test]
    fn rejects_inconsistent_sizes_and_names() {
        let mut m = sample();
        m.files[0].size = 7;
        let bytes = m.to_bytes();
        let e = Manifest::from_verified_bytes(&bytes, &Digest::of(&bytes)).unwrap_err();
        assert!(e.0.contains("files hold 7 bytes, chunks 6"), "{e}");
        let mut m = sample();
        m.files[0].name = "../etc".into();
        let bytes = m.to_bytes();
        let e = Manifest::from_verified_bytes(&bytes, &Digest::of(&bytes)).unwrap_err();
        assert!(e.0.contains("bad or repeated file name"), "{e}");
    }

    #[test]
    fn unique_chunks_keep_first_use_order() {
        assert_eq!(sample().unique_chunks().len(), 1);
        assert_eq!(sample().stored_size(), 12);
        assert_eq!(sample().image_size(), 6);
    }
}
