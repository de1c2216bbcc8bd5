// SPDX-License-Identifier: GPL-2.0
//! `fetch DIGEST`: put image DIGEST into the cache of every node of a job,
//! reading each missing chunk from storage once.
//!
//! Every rank (one per node) runs the same steps:
//!
//! 1. Rank 0 takes the manifest from its cache or from storage and
//!    broadcasts it; every rank checks it against DIGEST.
//! 2. Every rank checks the chunks it holds (a damaged one is removed and
//!    counts as missing) and sets a bit per missing chunk; an allreduce
//!    (bitwise OR) gives the union.
//! 3. Rank 0 streams the union's frames (from its own cache when it has a
//!    chunk, otherwise from storage, in reader threads so that storage
//!    reads overlap each other and the broadcast), checking each, and broadcasts them in
//!    windows. The broadcast algorithm is chosen by the launcher's MPI
//!    settings (see `mpi_world`): a segmented pipeline, so that a window
//!    flows down the chain in segments instead of being stored and
//!    forwarded whole.
//! 4. Every rank checks each frame it lacks against its hash and stores it.
//!
//! Each window starts with a status word: rank 0 turns a storage failure
//! into a final window that carries the error, so all ranks stop at the same
//! point and report it, instead of hanging in a collective.

use crate::cache::Cache;
use crate::collective::Collective;
use crate::error::{err, Result};
use crate::hash::Digest;
use crate::manifest::{ChunkRef, Manifest};
use crate::source::Source;
use crate::store::{decode_chunk, ChunkState, Store};
use std::sync::{mpsc, Arc};
use std::time::Instant;

/// Bytes broadcast per collective call, unless the caller says otherwise.
pub const DEFAULT_WINDOW: usize = 1 << 20;
/// Storage reader threads on rank 0, and the frames each may read ahead.
const READERS: usize = 4;
const READ_AHEAD: usize = 16;
const STATUS_OK: u64 = 0;
const STATUS_ERROR: u64 = 1;

/// What one rank did; printed as one `key=value` line for tests and benchmarks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FetchReport {
    pub rank: usize,
    pub nodes: usize,
    /// Distinct chunks in the image.
    pub chunks: usize,
    /// Chunks this node already held intact.
    pub cached: usize,
    /// Chunks this node held damaged (removed and fetched again).
    pub corrupt: usize,
    /// Chunks missing somewhere in the job, and their stored bytes: what was broadcast.
    pub union_chunks: usize,
    pub union_bytes: u64,
    /// Read from storage by this rank (rank 0 only): manifest and chunks.
    pub storage_chunks: usize,
    pub storage_bytes: u64,
    /// Chunks this node stored.
    pub stored: usize,
    /// Chunks stored by all nodes together.
    pub stored_all: u64,
    pub seconds: f64,
}

impl FetchReport {
    pub fn line(&self, digest: &Digest) -> String {
        format!(
            "xenib-image fetch: digest={digest} rank={} nodes={} chunks={} cached={} corrupt={} \
             union_chunks={} union_bytes={} storage_chunks={} storage_bytes={} stored={} \
             stored_all={} seconds={:.3}",
            self.rank,
            self.nodes,
            self.chunks,
            self.cached,
            self.corrupt,
            self.union_chunks,
            self.union_bytes,
            self.storage_chunks,
            self.storage_bytes,
            self.stored,
            self.stored_all,
            self.seconds
        )
    }
}

/// Runs the protocol on this rank. `source` is only used on rank 0.
pub fn fetch(
    group: &dyn Collective,
    cache: &Cache,
    source: Option<&str>,
    digest: &Digest,
    window: usize,
) -> Result<FetchReport> {
    let started = Instant::now();
    let mut report = FetchReport {
        rank: group.rank(),
        nodes: group.size(),
        ..FetchReport::default()
    };
    let root = group.rank() == 0;
    let source = root.then(|| {
        source
            .ok_or_else(|| err("rank 0 needs --from STORAGE"))
            .and_then(Source::parse)
    });

    // 1. The manifest, from rank 0.
    let offered = match &source {
        Some(Ok(s)) => manifest_bytes(cache, s, digest, &mut report).map_err(|e| e.0),
        Some(Err(e)) => Err(e.0.clone()),
        None => Ok(Vec::new()),
    };
    let manifest_bytes =
        broadcast_result(group, offered).map_err(|m| err(format!("fetch {digest}: {m}")))?;
    let manifest = cache.store.put_manifest_bytes(digest, &manifest_bytes)?;

    // 2. What each node lacks, and the union.
    let chunks = manifest.unique_chunks();
    let mut missing = vec![0u8; chunks.len().div_ceil(8)];
    let mut held = vec![false; chunks.len()];
    for (i, chunk) in chunks.iter().enumerate() {
        match cache.store.check_chunk(chunk)? {
            ChunkState::Valid => {
                held[i] = true;
                report.cached += 1;
            }
            ChunkState::Corrupt => {
                report.corrupt += 1;
                missing[i / 8] |= 1 << (i % 8);
            }
            ChunkState::Missing => missing[i / 8] |= 1 << (i % 8),
        }
    }
    report.chunks = chunks.len();
    group.allreduce_or(&mut missing);
    let union: Vec<(usize, ChunkRef)> = chunks
        .iter()
        .copied()
        .enumerate()
        .filter(|(i, _)| missing[i / 8] & (1 << (i % 8)) != 0)
        .collect();
    report.union_chunks = union.len();
    report.union_bytes = union.iter().map(|(_, c)| u64::from(c.stored_size)).sum();

    // 3 and 4. Stream the union.
    let outcome = if union.is_empty() {
        Ok(())
    } else if root {
        let source = source.and_then(|s| s.ok());
        send_union(group, cache, source, &union, &held, window, &mut report)
    } else {
        receive_union(group, cache, &union, &held, window, &mut report)
    };
    for chunk in &chunks {
        cache.store.touch(&chunk.hash);
    }
    report.stored_all = group.allreduce_sum(report.stored as u64);
    report.seconds = started.elapsed().as_secs_f64();
    outcome
        .map(|()| report)
        .map_err(|e| err(format!("fetch {digest} (rank {}): {e}", group.rank())))
}

/// Rank 0: the manifest bytes, from the cache if held intact, else storage.
fn manifest_bytes(
    cache: &Cache,
    source: &Source,
    digest: &Digest,
    report: &mut FetchReport,
) -> Result<Vec<u8>> {
    if let Some(bytes) = cache.store.read_manifest_bytes(digest)? {
        if Manifest::from_verified_bytes(&bytes, digest).is_ok() {
            return Ok(bytes);
        }
    }
    let bytes = source.manifest(digest)?;
    report.storage_bytes += bytes.len() as u64;
    Manifest::from_verified_bytes(&bytes, digest)?;
    Ok(bytes)
}

/// Broadcasts rank 0's bytes or error message: a length word, then the bytes.
fn broadcast_result(
    group: &dyn Collective,
    offered: std::result::Result<Vec<u8>, String>,
) -> std::result::Result<Vec<u8>, String> {
    let (status, mut body) = match offered {
        Ok(bytes) => (STATUS_OK, bytes),
        Err(message) => (STATUS_ERROR, message.into_bytes()),
    };
    let mut head = [0u8; 16];
    head[..8].copy_from_slice(&status.to_le_bytes());
    head[8..].copy_from_slice(&(body.len() as u64).to_le_bytes());
    group.broadcast(&mut head);
    let status = u64::from_le_bytes(head[..8].try_into().unwrap_or_default());
    let len = u64::from_le_bytes(head[8..].try_into().unwrap_or_default());
    body.resize(
        usize::try_from(len).map_err(|_| "length overflow".to_string())?,
        0,
    );
    group.broadcast(&mut body);
    if status == STATUS_OK {
        Ok(body)
    } else {
        Err(String::from_utf8_lossy(&body).into_owned())
    }
}

/// Rank 0: read, check and broadcast the union's frames.
fn send_union(
    group: &dyn Collective,
    cache: &Cache,
    source: Option<Source>,
    union: &[(usize, ChunkRef)],
    held: &[bool],
    window: usize,
    report: &mut FetchReport,
) -> Result<()> {
    let jobs = union.iter().map(|(i, c)| (*c, held[*i])).collect();
    let mut reader = FrameReader::start(cache.store.clone(), source, jobs);

    let mut outcome = Ok(());
    let mut windows = Windows::new(union, window);
    while let Some(len) = windows.next_len() {
        let mut buf = Vec::with_capacity(8 + len);
        buf.extend_from_slice(&STATUS_OK.to_le_bytes());
        while buf.len() < 8 + len && outcome.is_ok() {
            let (chunk_index, wanted) = windows.next_piece(8 + len - buf.len());
            if wanted.start == 0 {
                match reader.next() {
                    Ok((frame, from_storage)) => {
                        let chunk = union[chunk_index].1;
                        if from_storage {
                            report.storage_chunks += 1;
                            report.storage_bytes += frame.len() as u64;
                            // Rank 0 lacked it too: it was checked, store it now.
                            match cache.store.put_stored(&chunk.hash, &frame) {
                                Ok(()) => report.stored += 1,
                                Err(e) => outcome = Err(e),
                            }
                        }
                        windows.current = frame;
                    }
                    Err(e) => outcome = Err(e),
                }
            }
            if outcome.is_ok() {
                buf.extend_from_slice(&windows.current[wanted]);
            }
        }
        if let Err(e) = &outcome {
            let message = e.0.as_bytes();
            buf.clear();
            buf.extend_from_slice(&STATUS_ERROR.to_le_bytes());
            buf.extend_from_slice(&message[..message.len().min(len)]);
        }
        buf.resize(8 + len, 0);
        group.broadcast(&mut buf);
        if outcome.is_err() {
            break;
        }
    }
    outcome
}

/// Rank 0's storage readers: `READERS` threads, each with its own requests
/// in flight, so that storage latency (a new HTTP connection per chunk)
/// hides behind the others; frames come back in union order, checked.
struct FrameReader {
    channels: Vec<mpsc::Receiver<Result<(Vec<u8>, bool)>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    next: usize,
}

impl FrameReader {
    /// `jobs`: each chunk, and whether rank 0's cache holds it intact.
    fn start(store: Store, source: Option<Source>, jobs: Vec<(ChunkRef, bool)>) -> FrameReader {
        let shared = Arc::new((store, source, jobs));
        let mut channels = Vec::new();
        let mut threads = Vec::new();
        for first in 0..READERS {
            let (tx, rx) = mpsc::sync_channel(READ_AHEAD);
            let shared = shared.clone();
            threads.push(std::thread::spawn(move || {
                let (store, source, jobs) = &*shared;
                for (chunk, from_cache) in jobs.iter().skip(first).step_by(READERS) {
                    let frame = read_frame(store, source.as_ref(), chunk, *from_cache);
                    let failed = frame.is_err();
                    if tx.send(frame).is_err() || failed {
                        return;
                    }
                }
            }));
            channels.push(rx);
        }
        FrameReader {
            channels,
            threads,
            next: 0,
        }
    }

    /// The next frame in union order, and whether it came from storage.
    fn next(&mut self) -> Result<(Vec<u8>, bool)> {
        let channel = &self.channels[self.next % READERS];
        self.next += 1;
        channel
            .recv()
            .unwrap_or_else(|_| Err(err("storage reader stopped")))
    }
}

impl Drop for FrameReader {
    fn drop(&mut self) {
        // Readers blocked on a full channel see it closed and stop.
        self.channels.clear();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// One frame for rank 0 to send: from its cache or from storage, checked.
fn read_frame(
    store: &Store,
    source: Option<&Source>,
    chunk: &ChunkRef,
    from_cache: bool,
) -> Result<(Vec<u8>, bool)> {
    let frame = if from_cache {
        store
            .read_stored(&chunk.hash)?
            .ok_or_else(|| err(format!("chunk {} vanished", chunk.hash)))?
    } else {
        source
            .ok_or_else(|| err("no storage"))?
            .chunk(&chunk.hash)?
    };
    decode_chunk(chunk, &frame).map_err(|e| err(format!("from storage: {e}")))?;
    Ok((frame, !from_cache))
}

/// Ranks > 0: receive the windows, check and store the frames this node lacks.
fn receive_union(
    group: &dyn Collective,
    cache: &Cache,
    union: &[(usize, ChunkRef)],
    held: &[bool],
    window: usize,
    report: &mut FetchReport,
) -> Result<()> {
    let mut first_error = None;
    let mut frame = Vec::new();
    let mut windows = Windows::new(union, window);
    while let Some(len) = windows.next_len() {
        let mut buf = vec![0u8; 8 + len];
        group.broadcast(&mut buf);
        if u64::from_le_bytes(buf[..8].try_into().unwrap_or_default()) != STATUS_OK {
            let text = String::from_utf8_lossy(&buf[8..]);
            return Err(err(format!(
                "rank 0 failed: {}",
                text.trim_end_matches('\0')
            )));
        }
        let mut at = 8;
        while at < buf.len() {
            let (chunk_index, wanted) = windows.next_piece(buf.len() - at);
            let take = wanted.len();
            frame.extend_from_slice(&buf[at..at + take]);
            at += take;
            let (i, chunk) = union[chunk_index];
            if wanted.end == chunk.stored_size as usize {
                // A damaged frame fails this node but the stream goes on,
                // so the other ranks are not left waiting in the broadcast.
                if !held[i] {
                    let stored = decode_chunk(&chunk, &frame)
                        .map_err(|e| err(format!("received {e}")))
                        .and_then(|_| cache.store.put_stored(&chunk.hash, &frame));
                    match stored {
                        Ok(()) => report.stored += 1,
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
                frame.clear();
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Cuts the union's concatenated frames into windows of `window` bytes and
/// walks through them piece by piece; both sides use it, so they agree on
/// where every frame starts without sending any framing.
struct Windows<'a> {
    union: &'a [(usize, ChunkRef)],
    window: usize,
    left: u64,
    chunk: usize,
    offset: usize,
    /// Rank 0: the frame being sent.
    current: Vec<u8>,
}

impl<'a> Windows<'a> {
    fn new(union: &'a [(usize, ChunkRef)], window: usize) -> Self {
        let left = union.iter().map(|(_, c)| u64::from(c.stored_size)).sum();
        Windows {
            union,
            window: window.max(1),
            left,
            chunk: 0,
            offset: 0,
            current: Vec::new(),
        }
    }

    /// The payload length of the next window, or `None` at the end.
    fn next_len(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        let len = (self.window as u64).min(self.left) as usize;
        self.left -= len as u64;
        Some(len)
    }

    /// The next piece of at most `room` bytes: which chunk, and which byte
    /// range of its frame.
    fn next_piece(&mut self, room: usize) -> (usize, std::ops::Range<usize>) {
        let size = self.union[self.chunk].1.stored_size as usize;
        let start = self.offset;
        let end = size.min(start + room);
        let chunk = self.chunk;
        if end == size {
            self.chunk += 1;
            self.offset = 0;
        } else {
            self.offset = end;
        }
        (chunk, start..end)
    }
}
