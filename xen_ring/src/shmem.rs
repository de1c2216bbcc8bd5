// SPDX-License-Identifier: GPL-2.0
//! Shared-memory abstraction the ring works over.
//!
//! The ring never holds a reference into shared memory: every access goes
//! through [`SharedMem`], whose implementations perform single volatile
//! (tearing-free) 32-bit accesses for indices and volatile copies for slot
//! payloads. Offsets are always computed by the caller from *local*
//! geometry (never from values read out of shared memory).

use core::ptr::NonNull;

/// A mapped shared area (granted pages, ordinary pages, or a host buffer).
///
/// All multi-byte values are little-endian in memory. Implementations must
/// not cause undefined behaviour for out-of-range offsets; [`RawMem`] ignores
/// such accesses (reads return zero), host test implementations may panic.
pub trait SharedMem {
    /// Length in bytes; fixed for the life of the mapping (local state).
    fn len(&self) -> usize;
    /// Whether the area is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Single volatile 32-bit load at a 4-byte aligned offset.
    fn read_u32(&self, off: usize) -> u32;
    /// Single volatile 32-bit store at a 4-byte aligned offset.
    fn write_u32(&self, off: usize, v: u32);
    /// Volatile copy-out of `dst.len()` bytes starting at `off`.
    fn read_bytes(&self, off: usize, dst: &mut [u8]);
    /// Volatile copy-in of `src` starting at `off`.
    fn write_bytes(&self, off: usize, src: &[u8]);
    /// Full barrier (kernel: `virt_mb()`).
    fn mb(&self);
    /// Read barrier (kernel: `virt_rmb()`).
    fn rmb(&self);
    /// Write barrier (kernel: `virt_wmb()`).
    fn wmb(&self);
}

impl<M: SharedMem + ?Sized> SharedMem for &M {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn read_u32(&self, off: usize) -> u32 {
        (**self).read_u32(off)
    }
    fn write_u32(&self, off: usize, v: u32) {
        (**self).write_u32(off, v)
    }
    fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        (**self).read_bytes(off, dst)
    }
    fn write_bytes(&self, off: usize, src: &[u8]) {
        (**self).write_bytes(off, src)
    }
    fn mb(&self) {
        (**self).mb()
    }
    fn rmb(&self) {
        (**self).rmb()
    }
    fn wmb(&self) {
        (**self).wmb()
    }
}

/// Returns `Some(off)` if `[off, off + n)` lies inside `len` bytes.
#[inline]
fn in_range(off: usize, n: usize, len: usize) -> bool {
    match off.checked_add(n) {
        Some(end) => end <= len,
        None => false,
    }
}

/// [`SharedMem`] over a raw, virtually contiguous mapping (e.g. `vmap()`ed
/// granted pages or an ordinary kernel allocation for loopback).
///
/// This is the only type in the crate containing `unsafe` code. Barriers use
/// `core::sync::atomic::fence`, which on x86-64 compiles exactly like the
/// kernel's `virt_mb()` (a full fence) / `virt_rmb()` / `virt_wmb()`
/// (compiler barriers). Out-of-range or misaligned accesses are ignored
/// (reads yield zero) rather than causing undefined behaviour.
#[derive(Debug)]
pub struct RawMem {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: `RawMem` is only an address and a length; every access is a
// volatile access to memory the creator promised stays mapped (see
// `RawMem::new`), and concurrent modification by the peer is exactly what
// the volatile accesses and the ring protocol are designed for.
unsafe impl Send for RawMem {}
// SAFETY: as for `Send`: `&RawMem` only permits volatile accesses, which are
// sound under concurrent access by other CPUs/domains.
unsafe impl Sync for RawMem {}

impl RawMem {
    /// Wraps a mapping.
    ///
    /// # Safety
    ///
    /// `base` must be 4-byte aligned and valid for volatile reads and writes
    /// of `len` bytes for the whole lifetime of the returned value (and of
    /// every ring built on it). The memory may be concurrently modified by a
    /// peer; it must not be accessed through Rust references elsewhere.
    pub unsafe fn new(base: NonNull<u8>, len: usize) -> Self {
        Self { base, len }
    }

    #[inline]
    fn ok(&self, off: usize, n: usize, align: usize) -> bool {
        in_range(off, n, self.len) && off.is_multiple_of(align)
    }
}

impl SharedMem for RawMem {
    fn len(&self) -> usize {
        self.len
    }

    fn read_u32(&self, off: usize) -> u32 {
        if !self.ok(off, 4, 4) {
            return 0;
        }
        // SAFETY: `off + 4 <= len` was checked and `base` is 4-aligned and
        // valid for `len` bytes (contract of `new`), so the pointer is in
        // bounds and aligned; a volatile load tolerates concurrent peer writes.
        let v = unsafe { core::ptr::read_volatile(self.base.as_ptr().add(off).cast::<u32>()) };
        u32::from_le(v)
    }

    fn write_u32(&self, off: usize, v: u32) {
        if !self.ok(off, 4, 4) {
            return;
        }
        // SAFETY: bounds and alignment checked above; see `read_u32`.
        unsafe { core::ptr::write_volatile(self.base.as_ptr().add(off).cast::<u32>(), v.to_le()) }
    }

    fn read_bytes(&self, off: usize, dst: &mut [u8]) {
        if !self.ok(off, dst.len(), 1) {
            dst.fill(0);
            return;
        }
        if off.is_multiple_of(4) {
            // Word-wise copy (slots are always 4-aligned, 512 bytes).
            let mut chunks = dst.chunks_exact_mut(4);
            let mut o = off;
            for c in &mut chunks {
                // SAFETY: `o + 4 <= off + dst.len() <= len` (checked above) and
                // `o` is 4-aligned with a 4-aligned base, see `read_u32`.
                let v =
                    unsafe { core::ptr::read_volatile(self.base.as_ptr().add(o).cast::<u32>()) };
                c.copy_from_slice(&v.to_ne_bytes());
                o += 4;
            }
            for (i, d) in chunks.into_remainder().iter_mut().enumerate() {
                // SAFETY: `o + i < off + dst.len() <= len` (checked above).
                *d = unsafe { core::ptr::read_volatile(self.base.as_ptr().add(o + i)) };
            }
            return;
        }
        for (i, d) in dst.iter_mut().enumerate() {
            // SAFETY: `off + dst.len() <= len` was checked, so `off + i` is in
            // bounds of the mapping guaranteed by `new`.
            *d = unsafe { core::ptr::read_volatile(self.base.as_ptr().add(off + i)) };
        }
    }

    fn write_bytes(&self, off: usize, src: &[u8]) {
        if !self.ok(off, src.len(), 1) {
            return;
        }
        if off.is_multiple_of(4) {
            let chunks = src.chunks_exact(4);
            let rem = chunks.remainder();
            let mut o = off;
            for c in chunks {
                let v = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
                // SAFETY: `o + 4 <= off + src.len() <= len` (checked above),
                // `o` 4-aligned; see `read_u32`.
                unsafe { core::ptr::write_volatile(self.base.as_ptr().add(o).cast::<u32>(), v) };
                o += 4;
            }
            for (i, s) in rem.iter().enumerate() {
                // SAFETY: `o + i < off + src.len() <= len` (checked above).
                unsafe { core::ptr::write_volatile(self.base.as_ptr().add(o + i), *s) };
            }
            return;
        }
        for (i, s) in src.iter().enumerate() {
            // SAFETY: `off + src.len() <= len` was checked; see `read_bytes`.
            unsafe { core::ptr::write_volatile(self.base.as_ptr().add(off + i), *s) };
        }
    }

    fn mb(&self) {
        // ORDERING: full barrier; callers document the peer barrier it pairs with.
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    }

    fn rmb(&self) {
        // ORDERING: read barrier (acquire fence); callers document the pairing.
        core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
    }

    fn wmb(&self) {
        // ORDERING: write barrier (release fence); callers document the pairing.
        core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rawmem_roundtrip_and_out_of_range() {
        let mut backing = [0u32; 32];
        let len = core::mem::size_of_val(&backing);
        let p = NonNull::new(backing.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY: `backing` is 4-aligned, lives for the test, only accessed via `m`.
        let m = unsafe { RawMem::new(p, len) };
        m.write_u32(4, 0xdead_beef);
        assert_eq!(m.read_u32(4), 0xdead_beef);
        m.write_bytes(8, &[1, 2, 3, 4, 5]);
        let mut b = [0u8; 5];
        m.read_bytes(8, &mut b);
        assert_eq!(b, [1, 2, 3, 4, 5]);
        // out of range / misaligned: ignored, no UB, no panic
        m.write_u32(len, 1);
        m.write_u32(len - 2, 1);
        m.write_u32(usize::MAX - 1, 1);
        assert_eq!(m.read_u32(len), 0);
        assert_eq!(m.read_u32(5), 0);
        let mut big = [7u8; 4];
        m.read_bytes(usize::MAX, &mut big);
        assert_eq!(big, [0; 4]);
        m.write_bytes(len - 1, &[1, 2]);
        m.write_bytes(5, &[9, 9, 9]); // unaligned path
        let mut u = [0u8; 3];
        m.read_bytes(5, &mut u);
        assert_eq!(u, [9, 9, 9]);
        m.mb();
        m.rmb();
        m.wmb();
        assert_eq!(m.len(), len);
        assert!(!m.is_empty());
    }

    #[test]
    fn rawmem_ring_two_threads() {
        use super::super::ring::{BackRing, FrontRing, SLOT_SIZE};
        extern crate std;
        let mut backing = std::vec![0u32; 16384 / 4];
        let p = NonNull::new(backing.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY: `backing` is 4-aligned, outlives both rings (scoped
        // threads end before it is dropped) and is accessed only via `m`.
        let m = unsafe { RawMem::new(p, 16384) };
        let mut f = FrontRing::init(&m).unwrap();
        let mut b = BackRing::attach(&m).unwrap();
        const N: u32 = 20_000;
        std::thread::scope(|sc| {
            sc.spawn(|| {
                let mut buf = [0u8; SLOT_SIZE];
                let mut next = 0u32;
                while next < N {
                    if b.take_request(&mut buf).unwrap().is_some() {
                        assert_eq!(u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]), next);
                        assert_eq!(buf[SLOT_SIZE - 1], next as u8);
                        next += 1;
                        b.push_response(&buf).unwrap();
                        b.push_responses_and_check_notify();
                    } else if !b.final_check_for_requests() {
                        std::thread::yield_now();
                    }
                }
            });
            let (mut sent, mut got) = (0u32, 0u32);
            let mut buf = [0u8; SLOT_SIZE];
            while got < N {
                let mut s = [0u8; SLOT_SIZE];
                s[..4].copy_from_slice(&sent.to_le_bytes());
                s[SLOT_SIZE - 1] = sent as u8;
                if sent < N && f.push_request(&s).is_ok() {
                    sent += 1;
                    f.push_requests_and_check_notify();
                }
                while f.take_response(&mut buf).unwrap().is_some() {
                    assert_eq!(u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]), got);
                    got += 1;
                }
                if sent == N && got < N && !f.final_check_for_responses() {
                    std::thread::yield_now();
                }
            }
        });
        drop(backing);
    }
}
