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
        self.combine(bits, |acc, b| *acc |= b);
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
        let mut sum = [0u8; 8];
        let barrier = &self.shared.0;
        if self.rank == 0 {
            *self.buffer() = vec![0; 8];
        }
        barrier.wait();
        {
            let mut acc = self.buffer();
            let total = u64::from_le_bytes(acc[..8].try_into().unwrap_or([0; 8])) + value;
            acc.copy_from_slice(&total.to_le_bytes());
        }
        barrier.wait();
        sum.copy_from_slice(&self.buffer()[..8]);
        barrier.wait();
        u64::from_le_bytes(sum)
    }
}

impl ThreadGroup {
    /// Folds every rank's `bytes` into one with `op`, result everywhere.
    fn combine(&self, bytes: &mut [u8], op: impl Fn(&mut u8, &u8)) {
        let barrier = &self.shared.0;
        if self.rank == 0 {
            *self.buffer() = vec![0; bytes.len()];
        }
        barrier.wait();
        for (acc, b) in self.buffer().iter_mut().zip(bytes.iter()) {
            op(acc, b);
        }
        barrier.wait();
        bytes.copy_from_slice(&self.buffer());
        barrier.wait();
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
