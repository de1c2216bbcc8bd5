// SPDX-License-Identifier: GPL-2.0

//! Guest user contexts: one uverbs file of the real device each.

use core::ptr::NonNull;
use kernel::prelude::*;

use crate::mmap::MmapRegion;
use crate::mmap::MAX_MMAPS_PER_CONTEXT;
use crate::mr::{GuestMr, KeptPages, MAX_KEPT_PER_CONTEXT, MAX_MRS_PER_CONTEXT};
use crate::quota::Held;
use crate::sys;
use crate::table::Table;
use crate::transport::GuestPages;
use crate::uverbs::{bytes_of_mut, Service, UverbsFile};
use crate::wire::{OpenContextRsp, Udata, UdataReq, MAX_UDATA};

/// Everything one guest context owns in the backend. Closing the uverbs
/// file destroys every object the guest created in it; see
/// `frontend::close_context` for the order of tear-down.
pub(crate) struct Context {
    pub(crate) file: UverbsFile,
    pub(crate) comp: CompChannel,
    pub(crate) async_events: AsyncEvents,
    pub(crate) mrs: Table<GuestMr>,
    /// Pages of deregistered MRs kept mapped (the registration cache).
    pub(crate) kept: Table<KeptPages>,
    pub(crate) mmaps: Table<MmapRegion>,
    /// Guest pages its MRs (and `kept`) have mapped here.
    pub(crate) mr_pages: usize,
    /// Guest pages its verbs touched, fetched from the guest process and
    /// mapped at their guest addresses (`server::map_faulted`).
    pub(crate) fetched: KVec<GuestPages>,
    /// Its objects, counted against the guest's quota.
    pub(crate) held: Held,
}

/// The buffer to offer the driver for a verb's response bytes: as many as
/// the provider asked for (`Udata::out_len`), rounded up to whole 4-byte
/// words, which the uverbs write() ABI counts in.
pub(crate) fn offered<'a>(buf: &'a mut [u8; MAX_UDATA], req: &Udata) -> &'a mut [u8] {
    let n = core::cmp::min(req.out_len().next_multiple_of(4), MAX_UDATA);
    let (offered, _) = buf.split_at_mut(n);
    offered
}

/// The response bytes for the provider: the first `out_len` of what the
/// driver wrote into the buffer from `offered` (zeros where it wrote
/// nothing).
pub(crate) fn response(out: &[u8], req: &Udata) -> Result<Udata> {
    Udata::new(out.get(..req.out_len()).ok_or(EINVAL)?).ok_or(EINVAL)
}

/// `OpenContext`: open a uverbs file and run `GET_CONTEXT` on it.
pub(crate) fn open(
    svc: &Service,
    path: &kernel::str::CStr,
    req: &UdataReq,
    watcher: *mut core::ffi::c_void,
) -> Result<(Context, OpenContextRsp)> {
    let file = UverbsFile::open(svc, path)?;
    let mut cmd = sys::ib_uverbs_get_context::default();
    let mut resp = sys::ib_uverbs_get_context_resp::default();
    let mut out = [0u8; MAX_UDATA];
    let out = offered(&mut out, &req.udata);
    file.run(
        svc,
        sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_GET_CONTEXT,
        &mut cmd,
        req.udata.as_slice(),
        bytes_of_mut(&mut resp),
        &mut *out,
    )?;
    // The async event file was installed in the service's fd table: keep
    // the file, not the descriptor.
    let async_events = EventFile::new(resp.async_fd as i32, watcher);
    // SAFETY: The fd was just created in this process by GET_CONTEXT.
    unsafe { sys::xenib_close_fd(resp.async_fd) };
    let async_events = AsyncEvents(async_events?);
    let comp = CompChannel::create(svc, &file, watcher)?;
    let rsp = OpenContextRsp {
        ctx: Default::default(),
        udata: response(out, &req.udata)?,
    };
    let ctx = Context {
        file,
        comp,
        async_events,
        mrs: Table::new(MAX_MRS_PER_CONTEXT),
        kept: Table::new(MAX_KEPT_PER_CONTEXT),
        mmaps: Table::new(MAX_MMAPS_PER_CONTEXT),
        mr_pages: 0,
        fetched: KVec::new(),
        held: Held::default(),
    };
    Ok((ctx, rsp))
}

/// A uverbs event file (a completion channel or the async event file) we
/// hold and watch: when events arrive, the context's server is woken and
/// moves them to the event ring (`server::xenib_back_event_ready`).
///
/// # Invariants
///
/// `file` is our reference to the file, non-blocking; `watch` watches it.
pub(crate) struct EventFile {
    file: NonNull<sys::file>,
    watch: NonNull<sys::xenib_evwatch>,
}

// SAFETY: The file and watch may be used and released from any thread.
unsafe impl Send for EventFile {}

impl EventFile {
    /// Takes the file behind `fd` (of the serving process) and watches it
    /// on behalf of `watcher`, the context's server.
    fn new(fd: i32, watcher: *mut core::ffi::c_void) -> Result<Self> {
        // SAFETY: `fd` was just installed in this process by uverbs.
        let f = unsafe { sys::xenib_back_event_file_get(fd) };
        // SAFETY: Any pointer may be tested.
        let err = unsafe { sys::xenib_ptr_err(f.cast()) };
        if err != 0 {
            return Err(Error::from_errno(err as i32));
        }
        let file = NonNull::new(f).ok_or(EBADF)?;
        // SAFETY: `file` is a live event file; `watcher` outlives the watch
        // (see `server::xenib_back_event_ready`).
        let Some(watch) =
            NonNull::new(unsafe { sys::xenib_back_evwatch_start(file.as_ptr(), watcher) })
        else {
            // SAFETY: Taken above.
            unsafe { sys::xenib_back_event_file_put(file.as_ptr()) };
            return Err(ENOMEM);
        };
        // INVARIANT: both set up above.
        Ok(Self { file, watch })
    }

    /// The next event (`N` bytes), if one is queued.
    fn next<const N: usize>(&self, svc: &Service) -> Result<Option<[u8; N]>> {
        let mut desc = [0u8; N];
        Ok(svc.read_event(self.file, &mut desc)?.then_some(desc))
    }
}

impl Drop for EventFile {
    fn drop(&mut self) {
        // SAFETY: Set up in `new` (type invariant).
        unsafe {
            sys::xenib_back_evwatch_stop(self.watch.as_ptr());
            sys::xenib_back_event_file_put(self.file.as_ptr());
        }
    }
}

/// The context's completion channel, through which the real driver's
/// completion events reach us, to be forwarded to the guest. It keeps its
/// fd in the service process: uverbs looks channels up by fd when a CQ is
/// created.
pub(crate) struct CompChannel {
    fd: i32,
    events: EventFile,
}

impl CompChannel {
    fn create(svc: &Service, file: &UverbsFile, watcher: *mut core::ffi::c_void) -> Result<Self> {
        let mut cmd = sys::ib_uverbs_create_comp_channel::default();
        let mut resp = sys::ib_uverbs_create_comp_channel_resp::default();
        file.run(
            svc,
            sys::ib_uverbs_write_cmds_IB_USER_VERBS_CMD_CREATE_COMP_CHANNEL,
            &mut cmd,
            &[],
            bytes_of_mut(&mut resp),
            &mut [],
        )?;
        let fd = resp.fd as i32;
        match EventFile::new(fd, watcher) {
            Ok(events) => Ok(Self { fd, events }),
            Err(e) => {
                // SAFETY: Our fd, in this process.
                unsafe { sys::xenib_close_fd(fd as u32) };
                Err(e)
            }
        }
    }

    pub(crate) fn fd(&self) -> i32 {
        self.fd
    }

    /// The next completion event's CQ `user_handle`, if one is queued
    /// (`struct ib_uverbs_comp_event_desc`).
    pub(crate) fn next(&self, svc: &Service) -> Result<Option<u64>> {
        Ok(self.events.next::<8>(svc)?.map(u64::from_ne_bytes))
    }
}

impl Drop for CompChannel {
    fn drop(&mut self) {
        // SAFETY: Our fd; contexts are dropped in the service process.
        unsafe { sys::xenib_close_fd(self.fd as u32) };
    }
}

/// An asynchronous event of the real device (`struct
/// ib_uverbs_async_event_desc`): the object's `user_handle` (or the port
/// number) and the `enum ib_event_type`.
pub(crate) struct AsyncEventDesc {
    pub(crate) element: u64,
    pub(crate) event_type: u32,
}

/// The context's async event file.
pub(crate) struct AsyncEvents(EventFile);

impl AsyncEvents {
    pub(crate) fn next(&self, svc: &Service) -> Result<Option<AsyncEventDesc>> {
        Ok(self.0.next::<16>(svc)?.map(|d| AsyncEventDesc {
            element: u64::from_ne_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]),
            event_type: u32::from_ne_bytes([d[8], d[9], d[10], d[11]]),
        }))
    }
}
