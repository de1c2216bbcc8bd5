// SPDX-License-Identifier: GPL-2.0

//! A bounded first-in, first-out queue. 6.12's `KVec` can only grow and
//! shrink at its end, so this is a ring of slots, allocated at the first
//! push.

use kernel::prelude::*;

/// At most `capacity` values of type `T`, taken out in the order they
/// were put in.
pub(crate) struct Fifo<T> {
    slots: KVec<Option<T>>,
    head: usize,
    len: usize,
    capacity: usize,
}

impl<T> Fifo<T> {
    pub(crate) const fn new(capacity: usize) -> Self {
        Self {
            slots: KVec::new(),
            head: 0,
            len: 0,
            capacity,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `v`; gives it back when full or out of memory.
    pub(crate) fn push(&mut self, v: T) -> core::result::Result<(), T> {
        if self.slots.is_empty() {
            if self.slots.reserve(self.capacity, GFP_KERNEL).is_err() {
                return Err(v);
            }
            while self.slots.len() < self.capacity {
                // Cannot fail: reserved above.
                let _ = self.slots.push(None, GFP_KERNEL);
            }
        }
        if self.len >= self.slots.len() {
            return Err(v);
        }
        let i = (self.head + self.len) % self.slots.len();
        self.slots[i] = Some(v);
        self.len += 1;
        Ok(())
    }

    /// The oldest value.
    pub(crate) fn peek(&self) -> Option<&T> {
        if self.len == 0 {
            return None;
        }
        self.slots.get(self.head).and_then(Option::as_ref)
    }

    /// Takes the oldest value out.
    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let v = self.slots[self.head].take();
        self.head = (self.head + 1) % self.slots.len();
        self.len -= 1;
        v
    }

    /// Keeps only the values for which `keep` holds, in order.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        for _ in 0..self.len {
            if let Some(v) = self.pop() {
                if keep(&v) {
                    // Cannot fail: one was just taken out.
                    let _ = self.push(v);
                }
            }
        }
    }
}
