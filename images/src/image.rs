// SPDX-License-Identifier: GPL-2.0
//! `build` and `extract`: files → chunks + manifest in a store, and back.
//!
//! The files are read as one uncompressed stream and cut by FastCDC, so a
//! change in one file changes only the chunks around it; each chunk is
//! compressed on its own, which keeps that locality (a compressed image
//! would not).

use crate::error::{err, io_at, Result};
use crate::hash::Digest;
use crate::manifest::{FileEntry, Manifest, FORMAT};
use crate::store::{encode_chunk, Store};
use fastcdc::v2020::StreamCDC;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// FastCDC bounds: about 64 KiB on average, as casync and desync use.
pub const CHUNK_MIN: usize = 16 * 1024;
pub const CHUNK_AVG: usize = 64 * 1024;
pub const CHUNK_MAX: usize = 256 * 1024;

/// What `build` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildReport {
    pub digest: Digest,
    pub image_bytes: u64,
    pub chunks: usize,
    pub unique_chunks: usize,
    pub stored_bytes: u64,
    /// Chunks the store did not have before.
    pub new_chunks: usize,
}

/// Chunks `files` into `store` and writes their manifest.
pub fn build(files: &[PathBuf], store: &Store) -> Result<BuildReport> {
    if files.is_empty() {
        return Err(err("build: no input files"));
    }
    let mut entries = Vec::new();
    let mut stream: Box<dyn Read> = Box::new(std::io::empty());
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| err(format!("{}: not a file name", path.display())))?;
        if entries.iter().any(|e: &FileEntry| e.name == name) {
            return Err(err(format!("build: two input files are named {name:?}")));
        }
        let mut hasher = blake3::Hasher::new();
        let file = fs::File::open(path).map_err(io_at("cannot open", path))?;
        let size = std::io::copy(&mut &file, &mut hasher).map_err(io_at("cannot read", path))?;
        entries.push(FileEntry {
            name,
            size,
            blake3: Digest(*hasher.finalize().as_bytes()),
        });
        let again = fs::File::open(path).map_err(io_at("cannot open", path))?;
        // The chunker must see exactly the bytes that were hashed.
        stream = Box::new(stream.chain(again.take(size)));
    }

    let mut chunks = Vec::new();
    let mut new_chunks = 0;
    for piece in StreamCDC::new(stream, CHUNK_MIN, CHUNK_AVG, CHUNK_MAX) {
        let piece = piece.map_err(|e| err(format!("build: reading the inputs: {e}")))?;
        let (chunk, stored) = encode_chunk(&piece.data)?;
        if !store.chunk_path(&chunk.hash).exists() {
            store.put_stored(&chunk.hash, &stored)?;
            new_chunks += 1;
        }
        chunks.push(chunk);
    }
    let manifest = Manifest {
        format: FORMAT,
        files: entries,
        chunks,
    };
    if manifest.image_size()
        != manifest
            .chunks
            .iter()
            .map(|c| u64::from(c.size))
            .sum::<u64>()
    {
        return Err(err("build: an input file changed while it was read"));
    }
    let bytes = manifest.to_bytes();
    let digest = Digest::of(&bytes);
    store.put_manifest_bytes(&digest, &bytes)?;
    Ok(BuildReport {
        digest,
        image_bytes: manifest.image_size(),
        chunks: manifest.chunks.len(),
        unique_chunks: manifest.unique_chunks().len(),
        stored_bytes: manifest.stored_size(),
        new_chunks,
    })
}

/// Rebuilds the files of image `digest` from `store` into `dir`, each
/// checked against its hash before it is renamed into place.
pub fn extract(store: &Store, digest: &Digest, dir: &Path) -> Result<Manifest> {
    let manifest = store.load_manifest(digest)?;
    fs::create_dir_all(dir).map_err(io_at("cannot create", dir))?;
    let mut chunks = manifest.chunks.iter();
    let mut pending: Vec<u8> = Vec::new(); // chunk bytes not yet written
    let mut offset = 0;
    for file in &manifest.files {
        let tmp = dir.join(format!(".{}.xenib-tmp", file.name));
        let target = dir.join(&file.name);
        let mut out = fs::File::create(&tmp).map_err(io_at("cannot create", &tmp))?;
        let mut hasher = blake3::Hasher::new();
        let mut left = file.size;
        let written = (|| -> Result<()> {
            while left > 0 {
                if offset == pending.len() {
                    let chunk = chunks
                        .next()
                        .ok_or_else(|| err("manifest: chunks end early"))?;
                    pending = store
                        .load_chunk(chunk)
                        .map_err(|e| err(format!("image {digest}: {e}")))?;
                    store.touch(&chunk.hash);
                    offset = 0;
                }
                let take =
                    (pending.len() - offset).min(usize::try_from(left).unwrap_or(usize::MAX));
                let piece = &pending[offset..offset + take];
                out.write_all(piece).map_err(io_at("cannot write", &tmp))?;
                hasher.update(piece);
                offset += take;
                left -= take as u64;
            }
            out.sync_all().map_err(io_at("cannot write", &tmp))
        })();
        let actual = Digest(*hasher.finalize().as_bytes());
        let checked = written.and_then(|()| {
            if actual == file.blake3 {
                Ok(())
            } else {
                Err(err(format!(
                    "{}: rebuilt file hashes to {actual}, manifest says {}",
                    file.name, file.blake3
                )))
            }
        });
        if let Err(e) = checked {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, &target).map_err(io_at("cannot rename into", &target))?;
    }
    Ok(manifest)
}
