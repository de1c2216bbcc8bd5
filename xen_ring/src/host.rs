// SPDX-License-Identifier: GPL-2.0
//! Host-only [`SharedMem`] implementation for tests, fuzzing and benchmarks.
//!
//! Not part of the kernel build (the kernel modules do not list this file).

extern crate std;

use super::shmem::SharedMem;
use core::sync::atomic::{fence, AtomicU32, Ordering};
use std::boxed::Box;
use std::vec::Vec;

/// Heap-backed shared memory made of `AtomicU32` words, safe to share between
/// threads (`&HeapMem` implements [`SharedMem`]). Panics on out-of-range
/// offsets (host test implementation only).
#[derive(Debug)]
pub struct HeapMem {
    words: Box<[AtomicU32]>,
    len: usize,
}

impl HeapMem {
    /// Zeroed area of `len` bytes (`len` is rounded up to a multiple of 4).
    pub fn new(len: usize) -> Self {
        let n = len.div_ceil(4);
        let words: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
        Self {
            words: words.into_boxed_slice(),
            len,
        }
    }

    /// Area of `2^order` 4 KiB pages.
    pub fn pages(order: u32) -> Self {
        Self::new(4096usize << order)
    }

    fn word(&self, off: usize) -> &AtomicU32 {
        assert!(
            off.is_multiple_of(4) && off + 4 <= self.len,
            "HeapMem: bad u32 offset {off}"
        );
        &self.words[off / 4]
    }

    fn get_byte(&self, off: usize) -> u8 {
        assert!(off < self.len, "HeapMem: offset {off} out of range");
        let w = self.words[off / 4].load(Ordering::Relaxed);
        w.to_le_bytes()[off % 4]
    }

    fn set_byte(&self, off: usize, b: u8) {
        assert!(off < self.len, "HeapMem: offset {off} out of range");
        let w = &self.words[off / 4];
        let shift = (off % 4) * 8;
        let mut cur = w.load(Ordering::Relaxed);
        loop {
            let new = (cur & !(0xff << shift)) | (u32::from(b) << shift);
            match w.compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(x) => cur = x,
            }
        }
    }
}

impl SharedMem for HeapMem {
    fn len(&self) -> usize {
        self.len
    }
    fn read_u32(&self, off: usize) -> u32 {
        self.word(off).load(Ordering::Relaxed)
    }
    fn write_u32(&self, off: usize, v: u32) {
        self.word(off).store(v, Ordering::Relaxed)
    }
    fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        if off.is_multiple_of(4) && dst.len().is_multiple_of(4) {
            for (i, c) in dst.chunks_exact_mut(4).enumerate() {
                c.copy_from_slice(&self.read_u32(off + 4 * i).to_le_bytes());
            }
        } else {
            for (i, d) in dst.iter_mut().enumerate() {
                *d = self.get_byte(off + i);
            }
        }
    }
    fn write_bytes(&self, off: usize, src: &[u8]) {
        if off.is_multiple_of(4) && src.len().is_multiple_of(4) {
            for (i, c) in src.chunks_exact(4).enumerate() {
                self.write_u32(off + 4 * i, u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            }
        } else {
            for (i, s) in src.iter().enumerate() {
                self.set_byte(off + i, *s);
            }
        }
    }
    fn mb(&self) {
        // ORDERING: full fence; pairing documented at each call site in ring.rs.
        fence(Ordering::SeqCst)
    }
    fn rmb(&self) {
        // ORDERING: acquire fence (read barrier); pairing documented in ring.rs.
        fence(Ordering::Acquire)
    }
    fn wmb(&self) {
        // ORDERING: release fence (write barrier); pairing documented in ring.rs.
        fence(Ordering::Release)
    }
}
