// SPDX-License-Identifier: GPL-2.0
//! A content-addressed directory of chunks and manifests. The storage
//! node's image store and every node's cache have this layout:
//!
//! ```text
//! ROOT/chunks/ab/abcdef…   zstd frame of the chunk whose BLAKE3 is abcdef…
//! ROOT/manifests/DIGEST    manifest bytes hashing to DIGEST
//! ROOT/tmp/                files being written; renamed into place when complete
//! ```
//!
//! Every write goes to `tmp/` first and is renamed, so a crash leaves either
//! the old state or the new file, never a torn one. Nothing read from a store
//! is used before its hash was checked.

use crate::error::{err, io_at, Result};
use crate::hash::Digest;
use crate::manifest::{ChunkRef, Manifest};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// zstd level for chunks: fast, and the chunks are small.
const ZSTD_LEVEL: i32 = 3;

/// What a store holds for one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkState {
    /// Present and its content hashes to its name.
    Valid,
    Missing,
    /// Present but damaged; the file has been removed so it gets fetched again.
    Corrupt,
}

/// A content-addressed directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (and creates if needed) a store that this process writes to.
    pub fn create(root: &Path) -> Result<Store> {
        for sub in ["chunks", "manifests", "tmp"] {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).map_err(io_at("cannot create", &dir))?;
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    /// Opens an existing store for reading only.
    pub fn open(root: &Path) -> Result<Store> {
        let manifests = root.join("manifests");
        if !manifests.is_dir() {
            return Err(err(format!(
                "{}: not an image store (no manifests/)",
                root.display()
            )));
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn chunk_path(&self, hash: &Digest) -> PathBuf {
        let hex = hash.hex();
        self.root.join("chunks").join(&hex[..2]).join(hex)
    }

    pub fn manifest_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("manifests").join(digest.hex())
    }

    /// Writes `bytes` to `path` through `tmp/` and a rename.
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let tmp = self.root.join("tmp").join(format!(
            "{}.{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let write = || -> std::io::Result<()> {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(io_at("cannot write", &tmp)(e));
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io_at("cannot create", dir))?;
        }
        fs::rename(&tmp, path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_at("cannot rename into", path)(e)
        })
    }

    /// The stored (compressed) bytes of a chunk, unchecked; `None` if absent.
    pub fn read_stored(&self, hash: &Digest) -> Result<Option<Vec<u8>>> {
        let path = self.chunk_path(hash);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_at("cannot read", &path)(e)),
        }
    }

    /// Stores a chunk's frame; the caller has checked it with [`decode_chunk`].
    pub fn put_stored(&self, hash: &Digest, stored: &[u8]) -> Result<()> {
        self.write_atomic(&self.chunk_path(hash), stored)
    }

    /// Checks a chunk in place; a damaged one is removed.
    pub fn check_chunk(&self, chunk: &ChunkRef) -> Result<ChunkState> {
        let Some(stored) = self.read_stored(&chunk.hash)? else {
            return Ok(ChunkState::Missing);
        };
        if decode_chunk(chunk, &stored).is_ok() {
            return Ok(ChunkState::Valid);
        }
        let path = self.chunk_path(&chunk.hash);
        fs::remove_file(&path).map_err(io_at("cannot remove damaged chunk", &path))?;
        Ok(ChunkState::Corrupt)
    }

    /// The chunk's uncompressed bytes, checked.
    pub fn load_chunk(&self, chunk: &ChunkRef) -> Result<Vec<u8>> {
        let stored = self.read_stored(&chunk.hash)?.ok_or_else(|| {
            err(format!(
                "chunk {} is not in {}",
                chunk.hash,
                self.root.display()
            ))
        })?;
        decode_chunk(chunk, &stored)
    }

    /// Marks a chunk as just used, for least-recently-used eviction.
    pub fn touch(&self, hash: &Digest) {
        // Only an eviction hint: a failure here must not fail a deployment.
        if let Ok(file) = fs::File::options().append(true).open(self.chunk_path(hash)) {
            let _ = file.set_modified(SystemTime::now());
        }
    }

    /// The manifest's bytes, unchecked; `None` if absent.
    pub fn read_manifest_bytes(&self, digest: &Digest) -> Result<Option<Vec<u8>>> {
        let path = self.manifest_path(digest);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_at("cannot read", &path)(e)),
        }
    }

    /// The manifest named `digest`, checked.
    pub fn load_manifest(&self, digest: &Digest) -> Result<Manifest> {
        let bytes = self
            .read_manifest_bytes(digest)?
            .ok_or_else(|| err(format!("image {digest} is not in {}", self.root.display())))?;
        Manifest::from_verified_bytes(&bytes, digest)
    }

    /// Stores manifest bytes, after checking them against `digest`.
    pub fn put_manifest_bytes(&self, digest: &Digest, bytes: &[u8]) -> Result<Manifest> {
        let manifest = Manifest::from_verified_bytes(bytes, digest)?;
        self.write_atomic(&self.manifest_path(digest), bytes)?;
        Ok(manifest)
    }

    /// The digests of all manifests held.
    pub fn manifests(&self) -> Result<Vec<Digest>> {
        let dir = self.root.join("manifests");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_at("cannot list", &dir))? {
            let entry = entry.map_err(io_at("cannot list", &dir))?;
            if let Ok(d) = Digest::parse(&entry.file_name().to_string_lossy()) {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    /// All chunks held: name, stored size, last use.
    pub fn chunks(&self) -> Result<Vec<(Digest, u64, SystemTime)>> {
        let top = self.root.join("chunks");
        let mut out = Vec::new();
        for bucket in fs::read_dir(&top).map_err(io_at("cannot list", &top))? {
            let bucket = bucket.map_err(io_at("cannot list", &top))?.path();
            for entry in fs::read_dir(&bucket).map_err(io_at("cannot list", &bucket))? {
                let entry = entry.map_err(io_at("cannot list", &bucket))?;
                let Ok(hash) = Digest::parse(&entry.file_name().to_string_lossy()) else {
                    continue;
                };
                let meta = entry
                    .metadata()
                    .map_err(io_at("cannot stat", &entry.path()))?;
                out.push((
                    hash,
                    meta.len(),
                    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                ));
            }
        }
        Ok(out)
    }
}

/// Compresses one chunk: its manifest entry and its stored frame.
pub fn encode_chunk(data: &[u8]) -> Result<(ChunkRef, Vec<u8>)> {
    let stored = zstd::bulk::compress(data, ZSTD_LEVEL).map_err(|e| err(format!("zstd: {e}")))?;
    let chunk = ChunkRef {
        hash: Digest::of(data),
        size: u32::try_from(data.len()).map_err(|_| err("chunk larger than 4 GiB"))?,
        stored_size: u32::try_from(stored.len()).map_err(|_| err("chunk larger than 4 GiB"))?,
    };
    Ok((chunk, stored))
}

/// Decompresses a stored frame and checks it is the chunk it claims to be.
pub fn decode_chunk(chunk: &ChunkRef, stored: &[u8]) -> Result<Vec<u8>> {
    if stored.len() != chunk.stored_size as usize {
        return Err(err(format!(
            "chunk {}: {} stored bytes, manifest says {}",
            chunk.hash,
            stored.len(),
            chunk.stored_size
        )));
    }
    // The capacity bounds the output: a hostile frame cannot inflate further.
    let data = zstd::bulk::decompress(stored, chunk.size as usize)
        .map_err(|e| err(format!("chunk {}: bad zstd frame: {e}", chunk.hash)))?;
    let actual = Digest::of(&data);
    if data.len() != chunk.size as usize || actual != chunk.hash {
        return Err(err(format!(
            "chunk {}: content hashes to {actual}",
            chunk.hash
        )));
    }
    Ok(data)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xenib-image-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn chunk_round_trip_and_corruption() {
        let store = Store::create(&scratch("store-rt")).unwrap();
        let data = b"hello chunk ".repeat(1000);
        let (chunk, stored) = encode_chunk(&data).unwrap();
        assert!(stored.len() < data.len());
        assert_eq!(store.check_chunk(&chunk), Ok(ChunkState::Missing));
        store.put_stored(&chunk.hash, &stored).unwrap();
        assert_eq!(store.check_chunk(&chunk), Ok(ChunkState::Valid));
        assert_eq!(store.load_chunk(&chunk).unwrap(), data);

        // A flipped byte is caught by the hash (or zstd's frame) and removed.
        let mut bad = stored.clone();
        let last = bad.len() - 5;
        bad[last] ^= 0x40;
        fs::write(store.chunk_path(&chunk.hash), &bad).unwrap();
        assert_eq!(store.check_chunk(&chunk), Ok(ChunkState::Corrupt));
        assert!(!store.chunk_path(&chunk.hash).exists());
        assert_eq!(fs::read_dir(store.root().join("tmp")).unwrap().count(), 0);
        fs::remove_dir_all(store.root()).unwrap();
    }

    #[test]
    fn decode_rejects_wrong_content() {
        let (chunk, _) = encode_chunk(b"one").unwrap();
        let (_, other) = encode_chunk(b"two").unwrap();
        let e = decode_chunk(
            &ChunkRef {
                stored_size: other.len() as u32,
                ..chunk
            },
            &other,
        )
        .unwrap_err();
        assert!(e.0.contains("content hashes to"), "{e}");
        let e = decode_chunk(&chunk, &other[..2]).unwrap_err();
        assert!(e.0.contains("stored bytes, manifest says"), "{e}");
    }

    #[test]
    fn open_requires_a_store() {
        let e = Store::open(Path::new("/nonexistent/xenib")).unwrap_err();
        assert!(e.0.contains("not an image store"), "{e}");
    }
}
