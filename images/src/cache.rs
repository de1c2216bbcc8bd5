// SPDX-License-Identifier: GPL-2.0
//! A node's image cache: a [`Store`] plus pins and a space budget.
//!
//! ```text
//! CACHE/pins/DIGEST    present while the admin pins image DIGEST (`pin`)
//! CACHE/domains/NAME/  a domU started from an image (`start`, see `domain`)
//! ```
//!
//! An image is in use while it is pinned or a domain's record names it.
//! `gc` removes least-recently-used chunks (by modification time, which
//! `fetch` and `extract` refresh) until the chunks fit the budget, never a
//! chunk of an image in use. Images left incomplete lose their manifest.

use crate::domain;
use crate::error::{err, io_at, Result};
use crate::hash::Digest;
use crate::store::Store;
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Files in `tmp/` older than this belong to a dead writer.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// A node's cache.
#[derive(Debug, Clone)]
pub struct Cache {
    pub store: Store,
}

/// One image in a cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageStatus {
    pub digest: Digest,
    pub pinned: bool,
    /// Domains started from it (`start`) and not stopped yet.
    pub used_by: Vec<String>,
    pub image_bytes: u64,
    pub chunks: usize,
    /// Chunks present (not checked; `fetch` checks them).
    pub chunks_present: usize,
}

/// The cache as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStatus {
    pub images: Vec<ImageStatus>,
    pub chunks: usize,
    pub stored_bytes: u64,
}

/// What `gc` did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GcReport {
    pub removed_chunks: usize,
    pub removed_bytes: u64,
    pub removed_images: usize,
    pub kept_bytes: u64,
    /// Bytes that images in use (pinned, or running domains') keep, even over the budget.
    pub pinned_bytes: u64,
}

impl Cache {
    pub fn open(root: &Path) -> Result<Cache> {
        let pins = root.join("pins");
        fs::create_dir_all(&pins).map_err(io_at("cannot create", &pins))?;
        Ok(Cache {
            store: Store::create(root)?,
        })
    }

    fn pin_path(&self, digest: &Digest) -> PathBuf {
        self.store.root().join("pins").join(digest.hex())
    }

    pub fn is_pinned(&self, digest: &Digest) -> bool {
        self.pin_path(digest).exists()
    }

    /// The images that gc must spare: pinned ones and those domains run from.
    fn in_use(&self) -> Result<HashSet<Digest>> {
        let mut used: HashSet<Digest> = domain::running(self)?.into_iter().map(|(_, d)| d).collect();
        for digest in self.store.manifests()? {
            if self.is_pinned(&digest) {
                used.insert(digest);
            }
        }
        Ok(used)
    }

    /// Protects image `digest` from `gc`; the image must be in the cache.
    pub fn pin(&self, digest: &Digest) -> Result<()> {
        self.store.load_manifest(digest)?;
        self.store.write_atomic(&self.pin_path(digest), b"")
    }

    pub fn unpin(&self, digest: &Digest) -> Result<()> {
        let path = self.pin_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(err(format!("image {digest} is not pinned")))
            }
            Err(e) => Err(io_at("cannot remove", &path)(e)),
        }
    }

    pub fn status(&self) -> Result<CacheStatus> {
        let chunks = self.store.chunks()?;
        let present: HashSet<Digest> = chunks.iter().map(|c| c.0).collect();
        let running = domain::running(self)?;
        let mut images = Vec::new();
        for digest in self.store.manifests()? {
            let Ok(manifest) = self.store.load_manifest(&digest) else {
                continue;
            };
            let unique = manifest.unique_chunks();
            images.push(ImageStatus {
                digest,
                pinned: self.is_pinned(&digest),
                used_by: running
                    .iter()
                    .filter(|(_, d)| *d == digest)
                    .map(|(name, _)| name.clone())
                    .collect(),
                image_bytes: manifest.image_size(),
                chunks: unique.len(),
                chunks_present: unique.iter().filter(|c| present.contains(&c.hash)).count(),
            });
        }
        Ok(CacheStatus {
            images,
            chunks: chunks.len(),
            stored_bytes: chunks.iter().map(|c| c.1).sum(),
        })
    }

    /// Evicts chunks of images not in use, least recently used first, until the
    /// chunks take at most `budget` bytes.
    pub fn gc(&self, budget: u64) -> Result<GcReport> {
        self.remove_stale_tmp()?;
        let in_use = self.in_use()?;
        let mut protected = HashSet::new();
        for digest in &in_use {
            // An image in use whose manifest is damaged protects nothing
            // and says so, rather than silently losing its protection.
            let manifest = self.store.load_manifest(digest)?;
            protected.extend(manifest.unique_chunks().iter().map(|c| c.hash));
        }
        let mut chunks = self.store.chunks()?;
        let mut total: u64 = chunks.iter().map(|c| c.1).sum();
        let mut report = GcReport::default();
        chunks.sort_by_key(|c| c.2);
        for (hash, size, _) in &chunks {
            if protected.contains(hash) {
                report.pinned_bytes += size;
                continue;
            }
            if total <= budget {
                continue;
            }
            let path = self.store.chunk_path(hash);
            fs::remove_file(&path).map_err(io_at("cannot remove", &path))?;
            total -= size;
            report.removed_chunks += 1;
            report.removed_bytes += size;
        }
        report.kept_bytes = total;
        if report.removed_chunks > 0 {
            report.removed_images = self.remove_incomplete_images(&in_use)?;
        }
        Ok(report)
    }

    /// Drops the manifests of images not in use that lost a chunk.
    fn remove_incomplete_images(&self, in_use: &HashSet<Digest>) -> Result<usize> {
        let present: HashSet<Digest> = self.store.chunks()?.iter().map(|c| c.0).collect();
        let mut removed = 0;
        for digest in self.store.manifests()? {
            if in_use.contains(&digest) {
                continue;
            }
            let complete = match self.store.load_manifest(&digest) {
                Ok(m) => m.unique_chunks().iter().all(|c| present.contains(&c.hash)),
                Err(_) => false,
            };
            if !complete {
                let path = self.store.manifest_path(&digest);
                fs::remove_file(&path).map_err(io_at("cannot remove", &path))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn remove_stale_tmp(&self) -> Result<()> {
        let dir = self.store.root().join("tmp");
        let now = SystemTime::now();
        for entry in fs::read_dir(&dir).map_err(io_at("cannot list", &dir))? {
            let entry = entry.map_err(io_at("cannot list", &dir))?;
            let modified = entry.metadata().and_then(|m| m.modified()).unwrap_or(now);
            if now.duration_since(modified).unwrap_or_default() > STALE_TMP {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }
}
