// SPDX-License-Identifier: GPL-2.0
//! Host tests of the whole tool: build → store, fetch to several "nodes"
//! (threads standing in for MPI ranks, each with its own cache), extract,
//! delta, corruption, storage failure, pins and gc.

use std::fs;
use std::path::{Path, PathBuf};
use xenib_image::cache::Cache;
use xenib_image::collective::ThreadGroup;
use xenib_image::fetch::{fetch, FetchReport};
use xenib_image::image::{build, extract, BuildReport, CHUNK_MAX};
use xenib_image::store::Store;
use xenib_image::{Digest, Result};

const MIB: usize = 1 << 20;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xenib-image-test-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Deterministic bytes: `random` of them incompressible, then text-like.
fn content(seed: u64, random: usize, text: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(random + text);
    for _ in 0..random {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(x as u8);
    }
    let words = [
        "mpi", "xen", "chunk", "node", "slurm", "ring", "verbs", "grant",
    ];
    while out.len() < random + text {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(words[(x % 8) as usize].as_bytes());
        out.push(b' ');
    }
    out.truncate(random + text);
    out
}

/// A small image: kernel, initramfs and a library file.
fn write_image(dir: &Path) -> Vec<PathBuf> {
    let files = [
        ("vmlinuz", content(1, 3 * MIB, MIB / 2)),
        ("initramfs.cpio", content(2, 2 * MIB, 2 * MIB)),
        ("libmpi.so", content(3, MIB, MIB)),
    ];
    files
        .iter()
        .map(|(name, bytes)| {
            let path = dir.join(name);
            fs::write(&path, bytes).unwrap();
            path
        })
        .collect()
}

/// Runs `fetch` on `caches.len()` thread-ranks; rank 0 reads `source`.
fn fetch_all(
    caches: &[Cache],
    source: &Path,
    digest: &Digest,
    window: usize,
) -> Vec<Result<FetchReport>> {
    let source = source.to_string_lossy().into_owned();
    std::thread::scope(|s| {
        let handles: Vec<_> = ThreadGroup::new(caches.len())
            .into_iter()
            .zip(caches)
            .map(|(member, cache)| {
                let source = source.clone();
                s.spawn(move || fetch(&member, cache, Some(&source), digest, window))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn nodes(dir: &Path, n: usize) -> Vec<Cache> {
    (0..n)
        .map(|i| Cache::open(&dir.join(format!("node{i}"))).unwrap())
        .collect()
}

fn built(dir: &Path) -> (Vec<PathBuf>, PathBuf, BuildReport) {
    let inputs = dir.join("in");
    fs::create_dir_all(&inputs).unwrap();
    let files = write_image(&inputs);
    let store_dir = dir.join("storage");
    let report = build(&files, &Store::create(&store_dir).unwrap()).unwrap();
    (files, store_dir, report)
}

fn manifest_len(store: &Path, digest: &Digest) -> u64 {
    fs::metadata(Store::open(store).unwrap().manifest_path(digest))
        .unwrap()
        .len()
}

#[test]
fn build_is_deterministic_and_extract_is_byte_identical() {
    let dir = scratch("roundtrip");
    let (files, store_dir, first) = built(&dir);
    assert_eq!(
        first.image_bytes,
        (3 * MIB + MIB / 2 + 4 * MIB + 2 * MIB) as u64
    );
    // Average chunk size is about 64 KiB, within FastCDC's bounds.
    let avg = first.image_bytes / first.chunks as u64;
    assert!((16 << 10..=256 << 10).contains(&avg), "average chunk {avg}");
    assert!(first.stored_bytes < first.image_bytes, "text compresses");

    let again = build(&files, &Store::create(&store_dir).unwrap()).unwrap();
    assert_eq!(again.digest, first.digest);
    assert_eq!(again.new_chunks, 0);

    let out = dir.join("out");
    extract(&Store::open(&store_dir).unwrap(), &first.digest, &out).unwrap();
    for file in &files {
        let name = file.file_name().unwrap();
        assert_eq!(
            fs::read(out.join(name)).unwrap(),
            fs::read(file).unwrap(),
            "{name:?}"
        );
    }
    assert_eq!(
        fs::read_dir(&out).unwrap().count(),
        files.len(),
        "no temporary files left"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn build_rejects_duplicate_names_and_missing_files() {
    let dir = scratch("badbuild");
    let store = Store::create(&dir.join("s")).unwrap();
    fs::create_dir_all(dir.join("a")).unwrap();
    fs::create_dir_all(dir.join("b")).unwrap();
    fs::write(dir.join("a/x"), b"1").unwrap();
    fs::write(dir.join("b/x"), b"2").unwrap();
    let e = build(&[dir.join("a/x"), dir.join("b/x")], &store).unwrap_err();
    assert_eq!(e.0, "build: two input files are named \"x\"");
    let e = build(&[dir.join("nope")], &store).unwrap_err();
    assert!(
        e.0.starts_with(&format!("cannot open {}", dir.join("nope").display())),
        "{e}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn delta_of_one_mib_changes_few_chunks() {
    let dir = scratch("delta");
    let (files, store_dir, v1) = built(&dir);
    // v2: one 1 MiB region of the initramfs rewritten.
    let mut initramfs = fs::read(&files[1]).unwrap();
    let new = content(99, MIB, 0);
    initramfs[MIB..2 * MIB].copy_from_slice(&new);
    fs::write(&files[1], &initramfs).unwrap();
    let store = Store::create(&store_dir).unwrap();
    let v2 = build(&files, &store).unwrap();
    assert_ne!(v1.digest, v2.digest);

    // Deploy v1 to 3 nodes, then v2: only the new chunks travel.
    let caches = nodes(&dir, 3);
    for r in fetch_all(&caches, &store_dir, &v1.digest, 1 << 20) {
        r.unwrap();
    }
    let reports: Vec<FetchReport> = fetch_all(&caches, &store_dir, &v2.digest, 1 << 20)
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let v2_manifest = Store::open(&store_dir)
        .unwrap()
        .load_manifest(&v2.digest)
        .unwrap();
    let v1_manifest = Store::open(&store_dir)
        .unwrap()
        .load_manifest(&v1.digest)
        .unwrap();
    let old: std::collections::HashSet<Digest> =
        v1_manifest.chunks.iter().map(|c| c.hash).collect();
    let changed: Vec<_> = v2_manifest
        .unique_chunks()
        .into_iter()
        .filter(|c| !old.contains(&c.hash))
        .collect();
    let changed_bytes: u64 = changed.iter().map(|c| u64::from(c.stored_size)).sum();
    assert_eq!(reports[0].union_chunks, changed.len());
    assert_eq!(reports[0].union_bytes, changed_bytes);
    assert_eq!(
        reports[0].storage_bytes,
        changed_bytes + manifest_len(&store_dir, &v2.digest)
    );
    // The changed MiB plus at most one chunk on either side of it.
    let changed_raw: u64 = changed.iter().map(|c| u64::from(c.size)).sum();
    assert!(
        changed_raw <= (MIB + 2 * CHUNK_MAX) as u64,
        "{changed_raw} bytes of chunks changed"
    );
    assert_eq!(reports[1].stored, changed.len());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fetch_to_four_nodes_then_warm_then_corrupt() {
    let dir = scratch("fetch4");
    let (files, store_dir, image) = built(&dir);
    let caches = nodes(&dir, 4);
    // A small window makes frames straddle windows.
    let cold: Vec<FetchReport> = fetch_all(&caches, &store_dir, &image.digest, 100_000)
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let manifest_bytes = manifest_len(&store_dir, &image.digest);
    assert_eq!(cold[0].storage_chunks, image.unique_chunks);
    assert_eq!(cold[0].storage_bytes, image.stored_bytes + manifest_bytes);
    for (rank, report) in cold.iter().enumerate() {
        assert_eq!(report.union_chunks, image.unique_chunks);
        assert_eq!(report.stored, image.unique_chunks, "rank {rank}");
        assert_eq!(report.stored_all, 4 * image.unique_chunks as u64);
        if rank > 0 {
            assert_eq!(report.storage_bytes, 0, "only rank 0 reads storage");
        }
        let out = dir.join(format!("out{rank}"));
        extract(&caches[rank].store, &image.digest, &out).unwrap();
        for file in &files {
            let name = file.file_name().unwrap();
            assert_eq!(fs::read(out.join(name)).unwrap(), fs::read(file).unwrap());
        }
    }

    // Warm: nothing moves, not even the manifest.
    let warm: Vec<FetchReport> = fetch_all(&caches, &store_dir, &image.digest, 1 << 20)
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    for report in &warm {
        assert_eq!(
            (report.union_chunks, report.union_bytes, report.stored),
            (0, 0, 0)
        );
        assert_eq!(report.cached, image.unique_chunks);
    }
    assert_eq!(warm[0].storage_bytes, 0);

    // A damaged chunk on node 2 is found and sent again from rank 0's cache;
    // a damaged chunk on rank 0 itself is read from storage.
    let manifest = caches[0].store.load_manifest(&image.digest).unwrap();
    let victim = manifest.unique_chunks()[5];
    let path = caches[2].store.chunk_path(&victim.hash);
    let mut bytes = fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let fixed: Vec<FetchReport> = fetch_all(&caches, &store_dir, &image.digest, 1 << 20)
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(fixed[2].corrupt, 1);
    assert_eq!(fixed[2].stored, 1);
    assert_eq!(
        (fixed[0].union_chunks, fixed[0].union_bytes),
        (1, u64::from(victim.stored_size))
    );
    assert_eq!(fixed[0].storage_bytes, 0, "rank 0 had the chunk");
    assert_eq!(fs::read(&path).unwrap().len(), victim.stored_size as usize);
    assert_eq!(
        caches[2].store.load_chunk(&victim).unwrap().len(),
        victim.size as usize
    );

    fs::write(caches[0].store.chunk_path(&victim.hash), b"garbage").unwrap();
    let fixed: Vec<FetchReport> = fetch_all(&caches, &store_dir, &image.digest, 1 << 20)
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!((fixed[0].corrupt, fixed[0].storage_chunks), (1, 1));
    assert_eq!(fixed[0].storage_bytes, u64::from(victim.stored_size));
    assert_eq!(fixed[3].stored, 0);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn storage_failure_stops_every_rank_with_the_error() {
    let dir = scratch("storagefail");
    let (_, store_dir, image) = built(&dir);
    let store = Store::open(&store_dir).unwrap();
    let manifest = store.load_manifest(&image.digest).unwrap();
    // One chunk lost and one damaged on the storage node.
    let lost = manifest.unique_chunks()[7].hash;
    fs::remove_file(store.chunk_path(&lost)).unwrap();
    let caches = nodes(&dir, 3);
    let results = fetch_all(&caches, &store_dir, &image.digest, 1 << 20);
    for (rank, r) in results.iter().enumerate() {
        let e = r.as_ref().unwrap_err();
        assert!(
            e.0.contains(&format!("chunk {lost} is not in")),
            "rank {rank}: {e}"
        );
    }

    let damaged = manifest.unique_chunks()[3];
    let path = store.chunk_path(&damaged.hash);
    let mut bytes = fs::read(&path).unwrap();
    bytes[4] ^= 1;
    fs::write(&path, &bytes).unwrap();
    // Fresh nodes, so that the damaged chunk is sent before the lost one.
    let caches = nodes(&dir.join("fresh"), 3);
    let results = fetch_all(&caches, &store_dir, &image.digest, 1 << 20);
    for r in &results {
        let e = r.as_ref().unwrap_err();
        assert!(
            e.0.contains(&format!("from storage: chunk {}", damaged.hash)),
            "{e}"
        );
    }
    // Nothing damaged was stored anywhere.
    for cache in &caches {
        assert!(!cache.store.chunk_path(&damaged.hash).exists());
    }

    let unknown = Digest::of(b"no such image");
    for r in fetch_all(&caches, &store_dir, &unknown, 1 << 20) {
        assert!(r
            .unwrap_err()
            .0
            .contains(&format!("image {unknown} is not in")));
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn gc_evicts_least_recently_used_and_spares_pinned() {
    let dir = scratch("gc");
    let (_, store_dir, v1) = built(&dir);
    // v2 shares nothing with v1.
    let other = dir.join("other");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("vmlinuz"), content(50, 2 * MIB, 0)).unwrap();
    let v2 = build(
        &[other.join("vmlinuz")],
        &Store::create(&store_dir).unwrap(),
    )
    .unwrap();
    let caches = nodes(&dir, 1);
    let cache = &caches[0];
    fetch_all(&caches, &store_dir, &v1.digest, 1 << 20)
        .pop()
        .unwrap()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    fetch_all(&caches, &store_dir, &v2.digest, 1 << 20)
        .pop()
        .unwrap()
        .unwrap();
    let total = cache.status().unwrap().stored_bytes;
    assert_eq!(total, v1.stored_bytes + v2.stored_bytes);

    let e = cache.pin(&Digest::of(b"absent")).unwrap_err();
    assert!(e.0.contains("is not in"), "{e}");
    cache.pin(&v1.digest).unwrap();
    // Budget for v2 alone: v1 is older but pinned, so v2 goes.
    let report = cache.gc(v2.stored_bytes).unwrap();
    assert_eq!(report.pinned_bytes, v1.stored_bytes);
    assert_eq!(
        report.removed_bytes, v2.stored_bytes,
        "only unpinned chunks go, until the budget or none left"
    );
    assert_eq!(report.removed_images, 1);
    let status = cache.status().unwrap();
    assert_eq!(status.images.len(), 1);
    assert!(status.images[0].pinned && status.images[0].chunks_present == status.images[0].chunks);
    extract(&cache.store, &v1.digest, &dir.join("x")).unwrap();

    // Unpinned and over budget: least recently used first, until it fits.
    fetch_all(&caches, &store_dir, &v2.digest, 1 << 20)
        .pop()
        .unwrap()
        .unwrap();
    cache.unpin(&v1.digest).unwrap();
    assert_eq!(
        cache.unpin(&v1.digest).unwrap_err().0,
        format!("image {} is not pinned", v1.digest)
    );
    let report = cache.gc(v2.stored_bytes + v1.stored_bytes / 2).unwrap();
    assert!(report.kept_bytes <= v2.stored_bytes + v1.stored_bytes / 2);
    assert!(report.removed_bytes >= v1.stored_bytes / 2 && report.removed_bytes <= v1.stored_bytes);
    let status = cache.status().unwrap();
    assert_eq!(status.images.len(), 1, "v1 lost chunks and its manifest");
    assert_eq!(
        status.images[0].digest, v2.digest,
        "v2 was used last and stays whole"
    );
    fs::remove_dir_all(&dir).unwrap();
}
