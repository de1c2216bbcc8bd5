// SPDX-License-Identifier: GPL-2.0

//! Guest user contexts: one uverbs file of the real device each.

use core::ptr::NonNull;
use kernel::prelude::*;

use crate::frontend::Frontend;

use crate::mmap::MmapRegion;
use crate::mr::GuestMr;
use crate::mmap::MAX_MMAPS_PER_CONTEXT;
use crate::mr::MAX_MRS_PER_CONTEXT;
use crate::sys;
use crate::table::Table;
use crate::uverbs::{bytes_of_mut, Command, Service, UverbsFile};
use crate::wire::{OpenContextRsp, Udata, UdataReq, MAX_UDATA};

/// Everything one guest context owns in the backend. Closing the uverbs
/// file destroys every object the guest created in it; see
/// `frontend::close_context` for the order of tear-down.
pub(crate) struct Context {
    pub(crate) file: UverbsFile,
    pub(crate) comp: CompChannel,
    pub(crate) mrs: Table<GuestMr>,
    pub(crate) mmaps: Table<MmapRegion>,
}

/// `OpenContext`: open a uverbs file and run `GET_CONTEXT` on it.
pub(crate) fn open(svc: &Service, path: &kernel::str::CStr, req: &UdataReq, fe: *const Frontend) -> Result<(Context, OpenContextRsp)> {
    let file = UverbsFile::open(svc, path)?;
    let mut cmd = sys::ib_uverbs_get_context::default();
    let mut resp = sys::ib_uverbs_get_context_resp::default();
    let mut out = [0u8; MAX_UDATA];
    file.exec(
        svc,
        Command {
            command: sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_GET_CONTEXT,
            req: bytes_of_mut(&mut cmd),
            driver_in: req.udata.as_slice(),
            resp: bytes_of_mut(&mut resp),
            driver_out: &mut out,
        },
    )?;
    // The async event file was installed in the service's fd table; the
    // context keeps working without it (events are not forwarded yet, see
    // Documentation/design.rst), so do not leak the descriptor.
    // SAFETY: The fd was just created in this process by GET_CONTEXT.
    unsafe { sys::xenib_close_fd(resp.async_fd) };
    let comp = CompChannel::create(svc, &file, fe)?;
    let rsp = OpenContextRsp { ctx: Default::default(), udata: Udata::new(&out).ok_or(EINVAL)? };
    let ctx = Context { file, comp, mrs: Table::new(MAX_MRS_PER_CONTEXT), mmaps: Table::new(MAX_MMAPS_PER_CONTEXT) };
    Ok((ctx, rsp))
}

/// The context's completion channel, through which the real driver's
/// completion events reach us, to be forwarded to the guest.
///
/// # Invariants
///
/// `fd` is the channel's descriptor in the service process (uverbs looks
/// channels up by fd when a CQ is created); `file` is our reference to it,
/// non-blocking; `watch` watches it for events.
pub(crate) struct CompChannel {
    fd: i32,
    file: NonNull<sys::file>,
    watch: NonNull<sys::xenib_evwatch>,
}

// SAFETY: The file and watch may be used and released from any thread.
unsafe impl Send for CompChannel {}

impl CompChannel {
    fn create(svc: &Service, file: &UverbsFile, fe: *const Frontend) -> Result<Self> {
        let mut cmd = sys::ib_uverbs_create_comp_channel::default();
        let mut resp = sys::ib_uverbs_create_comp_channel_resp::default();
        file.exec(
            svc,
            Command {
                command: sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_CREATE_COMP_CHANNEL,
                req: bytes_of_mut(&mut cmd),
                driver_in: &[],
                resp: bytes_of_mut(&mut resp),
                driver_out: &mut [],
            },
        )?;
        let fd = resp.fd as i32;
        // SAFETY: `fd` was just installed in this process by uverbs.
        let f = unsafe { sys::xenib_back_event_file_get(fd) };
        // SAFETY: Any pointer may be tested.
        let err = unsafe { sys::xenib_ptr_err(f.cast()) };
        let close = || {
            // SAFETY: Our fd, in this process.
            unsafe { sys::xenib_close_fd(fd as u32) };
        };
        if err != 0 {
            close();
            return Err(Error::from_errno(err as i32));
        }
        let file = NonNull::new(f).ok_or(EBADF)?;
        // SAFETY: `file` is a live event file; `fe` outlives the watch (a
        // frontend's contexts are closed before it goes).
        let Some(watch) = NonNull::new(unsafe { sys::xenib_back_evwatch_start(file.as_ptr(), fe as *mut _) }) else {
            // SAFETY: Taken above.
            unsafe { sys::xenib_back_event_file_put(file.as_ptr()) };
            close();
            return Err(ENOMEM);
        };
        // INVARIANT: all three set up above.
        Ok(Self { fd, file, watch })
    }

    pub(crate) fn fd(&self) -> i32 {
        self.fd
    }

    /// The next completion event's CQ `user_handle`, if one is queued.
    pub(crate) fn next(&self, svc: &Service) -> Result<Option<u64>> {
        let mut desc = [0u8; 8];
        Ok(svc.read_event(self.file, &mut desc)?.then(|| u64::from_ne_bytes(desc)))
    }
}

impl Drop for CompChannel {
    fn drop(&mut self) {
        // SAFETY: Set up in `create` (type invariant); contexts are dropped
        // in the service process, whose fd this is.
        unsafe {
            sys::xenib_back_evwatch_stop(self.watch.as_ptr());
            sys::xenib_back_event_file_put(self.file.as_ptr());
            sys::xenib_close_fd(self.fd as u32);
        }
    }
}

/// Called (in process context) when a watched event file has events.
#[no_mangle]
pub(crate) extern "C" fn xenib_back_event_ready(data: *mut core::ffi::c_void) {
    // SAFETY: `data` is the frontend the watch was started for, which
    // outlives the watch (see `CompChannel::create`).
    unsafe { &*(data as *const Frontend) }.kick();
}
