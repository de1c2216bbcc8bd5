// SPDX-License-Identifier: GPL-2.0

//! A bounded table of objects named by small integers (handles, grant
//! references). 6.12's `KVec` can only grow, so removal leaves a hole that
//! the next insertion reuses.

use kernel::prelude::*;

/// Objects of type `T` under indices `0..capacity`.
pub(crate) struct Table<T> {
    slots: KVec<Option<T>>,
    len: usize,
    capacity: usize,
    /// No free slot below this index: keeps filling a table linear.
    free_from: usize,
}

impl<T> Table<T> {
    /// An empty table that will hold at most `capacity` objects.
    pub(crate) const fn new(capacity: usize) -> Self {
        Self {
            slots: KVec::new(),
            len: 0,
            capacity,
            free_from: 0,
        }
    }

    /// Number of objects.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Stores `v` and returns its index; `ENOSPC` when full.
    pub(crate) fn insert(&mut self, v: T) -> Result<usize> {
        if let Some(i) = self.first_free() {
            self.slots[i] = Some(v);
            self.len += 1;
            self.free_from = i + 1;
            return Ok(i);
        }
        if self.slots.len() >= self.capacity {
            return Err(ENOSPC);
        }
        self.slots.push(Some(v), GFP_KERNEL)?;
        self.len += 1;
        self.free_from = self.slots.len();
        Ok(self.slots.len() - 1)
    }

    fn first_free(&mut self) -> Option<usize> {
        let from = core::cmp::min(self.free_from, self.slots.len());
        match self.slots[from..].iter().position(|s| s.is_none()) {
            Some(i) => Some(from + i),
            None => {
                self.free_from = self.slots.len();
                None
            }
        }
    }

    /// The index the next `insert` will take, if a slot is free.
    pub(crate) fn next_free(&mut self) -> Option<usize> {
        self.first_free()
    }

    /// Makes sure the next `insert` cannot fail.
    pub(crate) fn reserve(&mut self) -> Result {
        if self.first_free().is_some() {
            return Ok(());
        }
        if self.slots.len() >= self.capacity {
            return Err(ENOSPC);
        }
        Ok(self.slots.push(None, GFP_KERNEL)?)
    }

    /// The object at `i`, if any.
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        self.slots.get(i).and_then(|s| s.as_ref())
    }

    /// The object at `i`, if any.
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.slots.get_mut(i).and_then(|s| s.as_mut())
    }

    /// Takes the object at `i` out.
    pub(crate) fn remove(&mut self, i: usize) -> Option<T> {
        let v = self.slots.get_mut(i).and_then(|s| s.take());
        if v.is_some() {
            self.len -= 1;
            self.free_from = core::cmp::min(self.free_from, i);
        }
        v
    }

    /// The index of the first object matching `f`.
    pub(crate) fn position(&self, mut f: impl FnMut(&T) -> bool) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(&mut f))
    }

    /// The index of the first object matching `f` at or after `start`,
    /// wrapping around: for round-robin scans.
    pub(crate) fn position_from(&self, start: usize, mut f: impl FnMut(&T) -> bool) -> Option<usize> {
        let n = self.slots.len();
        let start = if n == 0 { 0 } else { start % n };
        Iterator::chain(start..n, 0..start).find(|&i| self.slots[i].as_ref().is_some_and(&mut f))
    }

    /// Every object.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten()
    }

    /// Every object with its index, mutably.
    pub(crate) fn iter_mut_indexed(&mut self) -> impl Iterator<Item = (usize, &mut T)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| s.as_mut().map(|v| (i, v)))
    }

    /// Takes every object out.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> {
        self.len = 0;
        self.free_from = 0;
        core::mem::take(&mut self.slots).into_iter().flatten()
    }
}
