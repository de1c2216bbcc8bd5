// SPDX-License-Identifier: GPL-2.0

//! Page grants of the loopback transport, used by both modules.
//!
//! Stands in for Xen's grant table when front and back share one kernel:
//! a side publishes a page under a reference number in its own
//! `GrantTable`; the other side maps it by number through the granting
//! side's lookup, which refuses unknown or revoked numbers, as the
//! hypervisor would. Reference 0 is never valid.

use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::sync::Mutex;

use crate::sys;
use crate::table::Table;

/// Grants one side can have outstanding.
const MAX_GRANTS: usize = 1 << 20;

/// A page granted by the other side and mapped by us; unmapped on drop.
///
/// # Invariants
///
/// `page` is a valid page on which we hold one reference.
pub(crate) struct MappedPage {
    page: NonNull<sys::page>,
}

// SAFETY: A page reference can be dropped on any thread.
unsafe impl Send for MappedPage {}

impl MappedPage {
    /// Wraps what a lookup function returned (a page with a reference
    /// taken for us, or null for a refused grant).
    ///
    /// # Safety
    ///
    /// `page` is null or a page with a reference that becomes ours.
    pub(crate) unsafe fn from_lookup(page: *mut sys::page) -> Result<Self> {
        // INVARIANT: per the function contract.
        Ok(Self {
            page: NonNull::new(page).ok_or(EINVAL)?,
        })
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::page {
        self.page.as_ptr()
    }

    /// Copies the page's bytes out once: the granting side may be writing
    /// to it, so only the copy may be trusted to stay the same.
    pub(crate) fn read(&self, out: &mut [u8; 4096]) {
        // SAFETY: The page is in the direct map and we hold a reference;
        // `out` is one page long.
        unsafe {
            let src = sys::xenib_page_address(self.page.as_ptr()).cast::<u8>();
            core::ptr::copy_nonoverlapping(src, out.as_mut_ptr(), out.len());
        }
    }
}

impl Drop for MappedPage {
    fn drop(&mut self) {
        // SAFETY: We hold a reference (type invariant).
        unsafe { sys::xenib_put_page(self.page.as_ptr()) };
    }
}

/// Pages this side has granted to the other. Each holds a page reference.
#[pin_data]
pub(crate) struct GrantTable {
    #[pin]
    pages: Mutex<Table<NonNull<sys::page>>>,
}

// SAFETY: Page pointers are usable from any thread; the table is locked.
unsafe impl Send for GrantTable {}
// SAFETY: As above.
unsafe impl Sync for GrantTable {}

impl GrantTable {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self { pages <- kernel::new_mutex!(Table::new(MAX_GRANTS)) })
    }

    /// Grants `page`; the table keeps its own reference until `revoke`.
    pub(crate) fn grant(&self, page: NonNull<sys::page>) -> Result<u32> {
        // SAFETY: The caller holds `page`; this reference is the table's.
        unsafe { sys::xenib_get_page(page.as_ptr()) };
        match self.pages.lock().insert(page) {
            Ok(i) => Ok(i as u32 + 1),
            Err(e) => {
                // SAFETY: Taken just above.
                unsafe { sys::xenib_put_page(page.as_ptr()) };
                Err(e)
            }
        }
    }

    /// Ends a grant. A mapper keeps its own reference, so a page it still
    /// maps stays allocated (as a deferred end of foreign access would).
    pub(crate) fn revoke(&self, r: u32) -> bool {
        let page = (r as usize)
            .checked_sub(1)
            .and_then(|i| self.pages.lock().remove(i));
        if let Some(page) = page {
            // SAFETY: The table held this reference.
            unsafe { sys::xenib_put_page(page.as_ptr()) };
        }
        page.is_some()
    }

    /// The other side maps `r`: returns the page with a new reference, or
    /// null if `r` is not granted.
    pub(crate) fn lookup(&self, r: u32) -> *mut sys::page {
        let table = self.pages.lock();
        match (r as usize).checked_sub(1).and_then(|i| table.get(i)) {
            Some(page) => {
                // SAFETY: The table holds a reference; the mapper gets one.
                unsafe { sys::xenib_get_page(page.as_ptr()) };
                page.as_ptr()
            }
            None => core::ptr::null_mut(),
        }
    }
}
