// SPDX-License-Identifier: GPL-2.0

//! The real device's uverbs file, driven from the service process.
//!
//! `ib_back` executes a frontend's verbs exactly as a user process would:
//! it writes uverbs commands into a uverbs file of the real device. That
//! keeps the backend driver-agnostic (the provider's `udata` bytes pass
//! through untouched, the driver sees an ordinary user context) and makes
//! clean-up complete: closing the file destroys every object of that
//! context. uverbs commands take user pointers and check the opener's
//! credentials, so everything here runs in the context's server process
//! (`server.rs`), whose address space holds a scratch area for commands
//! and responses.

use core::ptr::NonNull;
use kernel::error::to_result;
use kernel::prelude::*;
use kernel::str::{CStr, CString};

use crate::sys;
use crate::wire::{FaultPages, MAX_FAULT_PAGES};

/// Bytes of service address space used for one command and its response.
const SCRATCH_LEN: usize = 16 * 4096;
/// Where the response goes inside the scratch area.
const RESP_OFF: usize = 8 * 4096;
/// Largest command or response, headers and driver data included.
pub(crate) const MAX_CMD: usize = RESP_OFF;

/// A context server's process: the `/dev/xenib_back` file it called
/// `XENIB_BACK_SERVE_CONTEXT` on, the windows that cover the guest's
/// address range in its address space, and a scratch area there.
///
/// # Invariants
///
/// Exists only inside `XENIB_BACK_SERVE_CONTEXT`, so `current` is the
/// server process; `window` covers its address space but for the private
/// zone, where `scratch` is a live mapping of `SCRATCH_LEN` bytes; `file`
/// is its open `/dev/xenib_back`.
pub(crate) struct Service {
    file: NonNull<sys::file>,
    window: NonNull<sys::xenib_window>,
    scratch: usize,
    uverbs_path: CString,
}


impl Service {
    /// Sets up the windows and the scratch area in the (empty) address
    /// space of the calling process.
    ///
    /// # Safety
    ///
    /// Must be called from `XENIB_BACK_SERVE_CONTEXT`, in the calling
    /// process, with the file the ioctl was made on; the returned value
    /// must not outlive that call.
    pub(crate) unsafe fn new(file: NonNull<sys::file>, uverbs_path: &CStr) -> Result<Self> {
        let uverbs_path = CString::try_from_fmt(kernel::fmt!("{}", uverbs_path))?;
        // SAFETY: We are in the server process (function contract).
        let window = unsafe { sys::xenib_back_window_new(file.as_ptr()) };
        // SAFETY: Any pointer may be tested.
        let err = unsafe { sys::xenib_ptr_err(window.cast()) };
        if err != 0 {
            return Err(Error::from_errno(err as i32));
        }
        let window = NonNull::new(window).ok_or(ENOMEM)?;
        // In the private zone: the windows cover everything else.
        // SAFETY: We are in the server process (function contract).
        let addr = unsafe { sys::xenib_back_vm_mmap(core::ptr::null_mut(), SCRATCH_LEN as _, 0) };
        if addr as isize >= -4095 && addr as isize <= -1 {
            // SAFETY: Made above; nothing maps it.
            unsafe { sys::xenib_back_window_free(window.as_ptr()) };
            return Err(Error::from_errno(addr as i32));
        }
        // INVARIANT: mapped above; `file` per the function contract.
        Ok(Self {
            file,
            window,
            scratch: addr as usize,
            uverbs_path,
        })
    }

    /// The windows, for mappings that give guest range back to them.
    pub(crate) fn window(&self) -> *mut sys::xenib_window {
        self.window.as_ptr()
    }

    /// The guest pages touched through the windows since the last call
    /// (page addresses, `PAGE_WRITE` set where written), if any.
    /// `Err(E2BIG)` if more than can be fetched at once.
    pub(crate) fn take_faults(&self) -> Result<Option<FaultPages>> {
        let mut out = [0u64; MAX_FAULT_PAGES];
        // SAFETY: `window` is live (type invariant); `out` holds `len`.
        let n = unsafe {
            sys::xenib_back_window_take(self.window.as_ptr(), out.as_mut_ptr(), out.len() as _)
        };
        if n < 0 {
            return Err(Error::from_errno(n));
        }
        Ok(out.get(..n as usize).and_then(FaultPages::new))
    }

    /// Whether `[addr, addr + len)` is guest range no mapping uses yet.
    pub(crate) fn window_covers(&self, addr: usize, len: usize) -> bool {
        // SAFETY: In the server process (type invariant).
        unsafe { sys::xenib_back_window_covers(addr as _, len as _) }
    }

    pub(crate) fn file(&self) -> NonNull<sys::file> {
        self.file
    }

    /// The real device's uverbs character device.
    pub(crate) fn uverbs_path(&self) -> &CStr {
        &self.uverbs_path
    }

    fn put(&self, off: usize, bytes: &[u8]) -> Result {
        // SAFETY: `scratch..scratch+SCRATCH_LEN` is ours (type invariant);
        // copy_to_user checks the user range anyway.
        to_result(unsafe {
            sys::xenib_copy_to_user(
                (self.scratch + off) as _,
                bytes.as_ptr().cast(),
                bytes.len() as _,
            )
        })
    }

    fn get(&self, off: usize, out: &mut [u8]) -> Result {
        // SAFETY: As in `put`.
        to_result(unsafe {
            sys::xenib_copy_from_user(
                out.as_mut_ptr().cast(),
                (self.scratch + off) as _,
                out.len() as _,
            )
        })
    }
}

impl Service {
    /// Reads one event (`out.len()` bytes) from a non-blocking uverbs
    /// event file; `Ok(false)` if none is queued.
    pub(crate) fn read_event(&self, file: NonNull<sys::file>, out: &mut [u8]) -> Result<bool> {
        // SAFETY: `file` is an event file we hold a reference to; the
        // scratch area is ours (type invariant); we are in the service.
        let ret = unsafe { sys::xenib_back_file_read(file.as_ptr(), self.scratch as _, out.len()) };
        if ret == -(sys::EAGAIN as isize) {
            return Ok(false);
        }
        if ret < 0 {
            return Err(Error::from_errno(ret as i32));
        }
        if ret as usize != out.len() {
            return Err(EIO);
        }
        self.get(0, out)?;
        Ok(true)
    }
}

/// Where `write_raw` puts a command's out-of-line input.
const EXTRA_OFF: usize = 4096;

impl Service {
    /// The address (in the service) at which `write_raw` puts `extra`.
    pub(crate) fn extra_addr(&self) -> u64 {
        (self.scratch + EXTRA_OFF) as u64
    }

    /// Writes `cmd` (a whole write() command, header included) to
    /// `file`, with its response pointer at `resp_at` (if any) aimed at a
    /// zeroed buffer of `out.len()` bytes, and `extra` at `extra_addr`;
    /// reads the response back into `out`.
    pub(crate) fn write_raw(
        &self,
        file: NonNull<sys::file>,
        cmd: &mut [u8],
        resp_at: Option<usize>,
        extra: &[u8],
        out: &mut [u8],
    ) -> Result {
        if cmd.len() > EXTRA_OFF || extra.len() > RESP_OFF - EXTRA_OFF || out.len() > MAX_CMD {
            return Err(EINVAL);
        }
        if let Some(at) = resp_at {
            let ptr = ((self.scratch + RESP_OFF) as u64).to_ne_bytes();
            cmd.get_mut(at..at + 8).ok_or(EINVAL)?.copy_from_slice(&ptr);
        }
        self.put(0, cmd)?;
        self.put(EXTRA_OFF, extra)?;
        let zeros = [0u8; 512];
        let mut off = 0;
        while off < out.len() {
            let n = core::cmp::min(zeros.len(), out.len() - off);
            self.put(RESP_OFF + off, &zeros[..n])?;
            off += n;
        }
        // SAFETY: `file` is a file we hold; the scratch range was written
        // above; we are in the service process.
        let ret = unsafe { sys::xenib_back_file_write(file.as_ptr(), self.scratch as _, cmd.len()) };
        if ret < 0 {
            return Err(Error::from_errno(ret as i32));
        }
        self.get(RESP_OFF, out)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // SAFETY: Still in the server process (type invariant); its
        // context has been released. This unmaps everything left.
        unsafe { sys::xenib_back_window_free(self.window.as_ptr()) };
    }
}

/// A uverbs command as the write() ABI lays it out.
pub(crate) struct Command<'a> {
    /// `IB_USER_VERBS_CMD_*`.
    pub(crate) command: u32,
    /// The command structure; if `resp` is non-empty its first 8 bytes are
    /// the response pointer, filled in here.
    pub(crate) req: &'a mut [u8],
    /// Provider request bytes, appended to `req`.
    pub(crate) driver_in: &'a [u8],
    /// The core response structure, read back.
    pub(crate) resp: &'a mut [u8],
    /// Provider response bytes, read back (their length is what the
    /// provider is offered).
    pub(crate) driver_out: &'a mut [u8],
}

/// An open uverbs file of the real device: one per guest user context.
///
/// # Invariants
///
/// `file` is a file we opened and hold one reference to.
pub(crate) struct UverbsFile {
    file: NonNull<sys::file>,
}

// SAFETY: A `struct file` reference may be used and dropped on any thread.
unsafe impl Send for UverbsFile {}
// SAFETY: We only pass the pointer to functions that are safe to call
// concurrently.
unsafe impl Sync for UverbsFile {}

impl UverbsFile {
    /// Opens `path` (`/dev/infiniband/uverbsN`) with the service's
    /// credentials.
    pub(crate) fn open(_svc: &Service, path: &CStr) -> Result<Self> {
        // SAFETY: `path` is NUL-terminated; we are in the service process.
        let file = unsafe { sys::xenib_back_file_open(path.as_char_ptr()) };
        // SAFETY: Any pointer value may be tested.
        let err = unsafe { sys::xenib_ptr_err(file.cast()) };
        if err != 0 {
            return Err(Error::from_errno(err as i32));
        }
        // INVARIANT: `filp_open` succeeded and gave us a reference.
        Ok(Self {
            file: NonNull::new(file).ok_or(ENODEV)?,
        })
    }

    /// The file, for `vm_mmap`.
    pub(crate) fn as_ptr(&self) -> *mut sys::file {
        self.file.as_ptr()
    }

    /// Executes one write() command and reads back its response.
    pub(crate) fn exec(&self, svc: &Service, cmd: Command<'_>) -> Result {
        const HDR: usize = 8;
        let in_len = HDR + cmd.req.len() + cmd.driver_in.len();
        let out_len = cmd.resp.len() + cmd.driver_out.len();
        if in_len > MAX_CMD || out_len > MAX_CMD || in_len % 4 != 0 || out_len % 4 != 0 {
            return Err(EINVAL);
        }
        if !cmd.resp.is_empty() {
            let resp_ptr = (svc.scratch + RESP_OFF) as u64;
            cmd.req
                .get_mut(..8)
                .ok_or(EINVAL)?
                .copy_from_slice(&resp_ptr.to_ne_bytes());
        }
        let mut hdr = [0u8; HDR];
        hdr[..4].copy_from_slice(&cmd.command.to_ne_bytes());
        hdr[4..6].copy_from_slice(&((in_len / 4) as u16).to_ne_bytes());
        hdr[6..8].copy_from_slice(&((out_len / 4) as u16).to_ne_bytes());
        svc.put(0, &hdr)?;
        svc.put(HDR, cmd.req)?;
        svc.put(HDR + cmd.req.len(), cmd.driver_in)?;
        // The driver may write fewer bytes than offered: no stale data
        // from an earlier command may reach the guest.
        let zeros = [0u8; 512];
        let mut off = 0;
        while off < out_len {
            let n = core::cmp::min(zeros.len(), out_len - off);
            svc.put(RESP_OFF + off, &zeros[..n])?;
            off += n;
        }
        // SAFETY: `self.file` is a uverbs file (type invariant), the
        // scratch range was written above, we are in the service process.
        let ret =
            unsafe { sys::xenib_back_file_write(self.file.as_ptr(), svc.scratch as _, in_len) };
        if ret < 0 {
            return Err(Error::from_errno(ret as i32));
        }
        svc.get(RESP_OFF, cmd.resp)?;
        svc.get(RESP_OFF + cmd.resp.len(), cmd.driver_out)?;
        Ok(())
    }
}

impl UverbsFile {
    /// `exec` with the command structure given as itself: writes `cmd`
    /// (plus the provider's `driver_in`) and reads back `resp` and
    /// `driver_out`.
    pub(crate) fn run<C: Plain>(
        &self,
        svc: &Service,
        command: u32,
        cmd: &mut C,
        driver_in: &[u8],
        resp: &mut [u8],
        driver_out: &mut [u8],
    ) -> Result {
        self.exec(
            svc,
            Command {
                command,
                req: bytes_of_mut(cmd),
                driver_in,
                resp,
                driver_out,
            },
        )
    }
}

impl Drop for UverbsFile {
    fn drop(&mut self) {
        // SAFETY: We hold a reference (type invariant); closing destroys
        // every object of this context.
        unsafe { sys::xenib_back_file_close(self.file.as_ptr()) };
    }
}

/// uAPI command and response structures: plain data whose every byte the
/// uAPI defines (explicit reserved fields, no padding) and for which every
/// bit pattern is valid.
///
/// # Safety
///
/// Only for such structures.
pub(crate) unsafe trait Plain: Sized {}

macro_rules! plain {
    ($($t:ident),* $(,)?) => { $(
        // SAFETY: An `ib_uverbs_*` uAPI structure (see `Plain`).
        unsafe impl Plain for sys::$t {}
    )* };
}
plain!(
    ib_uverbs_get_context,
    ib_uverbs_get_context_resp,
    ib_uverbs_alloc_pd,
    ib_uverbs_alloc_pd_resp,
    ib_uverbs_dealloc_pd,
    ib_uverbs_reg_mr,
    ib_uverbs_reg_mr_resp,
    ib_uverbs_rereg_mr,
    ib_uverbs_rereg_mr_resp,
    ib_uverbs_dereg_mr,
    ib_uverbs_alloc_mw,
    ib_uverbs_alloc_mw_resp,
    ib_uverbs_dealloc_mw,
    ib_uverbs_create_cq,
    ib_uverbs_create_cq_resp,
    ib_uverbs_resize_cq,
    ib_uverbs_resize_cq_resp,
    ib_uverbs_destroy_cq,
    ib_uverbs_destroy_cq_resp,
    ib_uverbs_req_notify_cq,
    ib_uverbs_create_qp,
    ib_uverbs_create_qp_resp,
    ib_uverbs_modify_qp,
    ib_uverbs_destroy_qp,
    ib_uverbs_destroy_qp_resp,
    ib_uverbs_post_send,
    ib_uverbs_post_send_resp,
    ib_uverbs_create_srq,
    ib_uverbs_create_srq_resp,
    ib_uverbs_modify_srq,
    ib_uverbs_query_srq,
    ib_uverbs_query_srq_resp,
    ib_uverbs_destroy_srq,
    ib_uverbs_destroy_srq_resp,
    ib_uverbs_create_ah,
    ib_uverbs_create_ah_resp,
    ib_uverbs_destroy_ah,
    ib_uverbs_attach_mcast,
    ib_uverbs_create_comp_channel,
    ib_uverbs_create_comp_channel_resp,
    ib_uverbs_query_qp,
    ib_uverbs_query_qp_resp,
);

/// Views a uAPI command or response structure as bytes.
pub(crate) fn bytes_of_mut<T: Plain>(t: &mut T) -> &mut [u8] {
    // SAFETY: `T: Plain`: every byte is defined and any value is valid.
    unsafe {
        core::slice::from_raw_parts_mut((t as *mut T).cast::<u8>(), core::mem::size_of::<T>())
    }
}
