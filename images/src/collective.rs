// SPDX-License-Identifier: GPL-2.0
//! The three collective operations `fetch` needs, behind a trait so that the
//! protocol runs the same over MPI (one rank per node, [`crate::mpi_world`])
//! and over threads in one process ([`ThreadGroup`], for the tests).
//! Failures of the transport itself are fatal, as MPI's default error
//! handler makes them: the job step dies and Slurm sees it.

use std::sync::{Arc, Barrier, Mutex};

pub trait Collective {
    fn rank(&self) -> usize;
    fn size(&self) -> usize;
    /// Bitwise OR of `bits` over all ranks, result in every rank's `bits`.
    fn allreduce_or(&self, bits: &mut [u8]);
    /// Rank 0's `buf` into every rank's `buf` (all pass the same length).
    fn broadcast(&self, buf: &mut [u8]);
    /// The sum of `value` over all ranks.
    fn allreduce_sum(&self, value: u64) -> u64;
}

/// A group of threads standing in for ranks: `ThreadGroup::new(n)` gives
/// one member per thread.
pub struct ThreadGroup {
    rank: usize,
    size: usize,
    shared: Arc<(Barrier, Mutex<Vec<u8>>)>,
}

impl ThreadGroup {
    pub fn new(size: usize) -> Vec<ThreadGroup> {
        let shared = Arc::new((Barrier::new(size), Mutex::new(Vec::new())));
        (0..size)
            .map(|rank| ThreadGroup {
                rank,
                size,
                shared: shared.clone(),
            })
            .collect()
    }

    fn buffer(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // A panicking member poisons the lock; the others carry on with the data.
        self.shared.1.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Collective for ThreadGroup {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn allreduce_or(&self, bits: &mut [u8]) {
        let all = self.reduce(bits, |acc, mine| {
            acc.iter_mut().zip(mine).for_each(|(a, b)| *a |= b)
        });
        bits.copy_from_slice(&all);
    }

    fn broadcast(&self, buf: &mut [u8]) {
        let barrier = &self.shared.0;
        if self.rank == 0 {
            *self.buffer() = buf.to_vec();
        }
        barrier.wait();
        if self.rank != 0 {
            buf.copy_from_slice(&self.buffer());
        }
        barrier.wait();
    }

    fn allreduce_sum(&self, value: u64) -> u64 {
        let word = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().unwrap_or_default());
        let all = self.reduce(&value.to_le_bytes(), |acc, mine| {
            let sum = word(acc) + word(mine);
            acc.copy_from_slice(&sum.to_le_bytes());
        });
        word(&all)
    }
}

impl ThreadGroup {
    /// Every member's `mine` folded into one value by `fold`, for all.
    fn reduce(&self, mine: &[u8], fold: impl Fn(&mut [u8], &[u8])) -> Vec<u8> {
        let barrier = &self.shared.0;
        if self.rank == 0 {
            *self.buffer() = vec![0; mine.len()];
        }
        barrier.wait();
        fold(&mut self.buffer(), mine);
        barrier.wait();
        let all = self.buffer().clone();
        barrier.wait();
        all
    }
}

/// One process alone: `fetch` without a launcher.
pub struct Single;

impl Collective for Single {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn allreduce_or(&self, _bits: &mut [u8]) {}
    fn broadcast(&self, _buf: &mut [u8]) {}
    fn allreduce_sum(&self, value: u64) -> u64 {
        value
    }
}
