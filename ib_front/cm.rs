// SPDX-License-Identifier: GPL-2.0

//! The guest's `/dev/infiniband/rdma_cm`: librdmacm's commands (the ucma
//! write() ABI, version 4), forwarded to a ucma file of dom0's rdma_cm.
//!
//! Each open file here is a cm file in the backend (`CmOpen`), served
//! like a verbs context by a process of its own; every command is one
//! `CmCmd` round trip, whose response goes to the caller's `response`
//! pointer as ucma would write it. dom0's CM runs the protocol; the
//! backend allows the guest only its own addresses and QPs
//! (`ucma::check_command`).
//!
//! Events come on the event ring ([`Event::Cm`]) as soon as dom0 has
//! them, and wait in the file's queue for `GET_EVENT`, which is answered
//! here (blocking, or `EAGAIN`) and by `poll`. Since the backend has
//! already *read* them from dom0's file, ucma counts them as reported:
//! when an id is destroyed or migrated, the events we still hold for it
//! are dropped (or moved) and taken off the `events_reported` that
//! librdmacm waits for, which is what ucma does with the events it
//! holds. A connection request dropped so has its new id destroyed.
//!
//! dom0's GID indices and device index in responses and events are
//! mapped to ours: the backend sends the GIDs by value.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use kernel::prelude::*;
use kernel::sync::{Arc, CondVar, Mutex};

use crate::channel::Channel;
use crate::fifo::Fifo;
use crate::table::Table;
use crate::sys::{self, warn_ratelimited};
use crate::ucma::{self, cmd, event};
use crate::wire::{
    CmCmdReq, CmCmdRsp, CmEvent, CtxHandle, Empty, Gid, Request, RspBody, CM_MAX_IN,
};

/// Events one file may hold unread. More means the process does not read
/// its events: the file fails from then on.
const MAX_QUEUED: usize = 512;
/// Ids whose `uid` a file remembers (to drop a listener's connection
/// requests with it).
const MAX_IDS: usize = 4096;
/// Open cm files.
const MAX_FILES: usize = 1024;

/// An event waiting for `GET_EVENT`, with the GID behind its source
/// index.
struct Queued {
    data: [u8; ucma::EVENT_LEN],
    sgid: Gid,
    sgid_type: u8,
}

impl Queued {
    fn event(&self) -> u32 {
        ucma::field_u32(&self.data, 12).unwrap_or(u32::MAX)
    }
    fn id(&self) -> u32 {
        ucma::field_u32(&self.data, 8).unwrap_or(u32::MAX)
    }
    fn uid(&self) -> u64 {
        u64::from_ne_bytes(self.data[..8].try_into().unwrap_or([0; 8]))
    }
    /// Whether it belongs to id `id` (whose `uid` is `uid`, if known):
    /// a connection request belongs to its listener, which it names by
    /// `uid` only.
    fn of(&self, id: u32, uid: Option<u64>) -> bool {
        if self.event() == event::CONNECT_REQUEST {
            uid == Some(self.uid())
        } else {
            self.id() == id
        }
    }
}

struct FileState {
    events: Fifo<Queued>,
    /// Ids made by `CREATE_ID`, with their `uid`.
    ids: Table<(u32, u64)>,
    /// The device is gone, or the process let too many events pile up.
    dead: bool,
}

/// One open `/dev/infiniband/rdma_cm`.
#[pin_data]
pub(crate) struct CmFile {
    handle: CtxHandle,
    /// The hub's generation when opened: handles of an older connection
    /// name nothing.
    generation: u64,
    /// The C side's wait queue, which `poll` and `GET_EVENT` sleep on.
    cf: NonNull<sys::xenib_cm_file>,
    /// `state` has events or is dead: what the sleepers test, without
    /// the lock (they test it in a non-running task state).
    ready: AtomicBool,
    #[pin]
    state: Mutex<FileState>,
}

// SAFETY: The C part is freed only after `release`, which takes the file
// out of the hub; its wait queue may be woken from any thread.
unsafe impl Send for CmFile {}
// SAFETY: As above; the rest is behind the mutex.
unsafe impl Sync for CmFile {}

struct HubState {
    channel: Option<NonNull<Channel>>,
    device: *mut sys::ib_device,
    generation: u64,
    /// Calls in flight on `channel`.
    users: usize,
    files: Table<Arc<CmFile>>,
}

/// What the cm files share: the device's channel while it is connected.
#[pin_data]
pub(crate) struct Hub {
    #[pin]
    state: Mutex<HubState>,
    #[pin]
    idle: CondVar,
}

// SAFETY: The channel and device are used only between `attach` and
// `detach`, which waits for every use to end.
unsafe impl Send for HubState {}

static HUB: AtomicPtr<Hub> = AtomicPtr::new(core::ptr::null_mut());

fn hub<'a>() -> Option<&'a Hub> {
    // SAFETY: Set by `Hub::register` and cleared by `Hub::unregister`
    // (after the misc device is gone and every file closed: open files
    // hold the module).
    unsafe { HUB.load(Ordering::Acquire).as_ref() }
}

/// An attached channel, in use (`Hub::detach` waits for it).
struct Use<'a> {
    hub: &'a Hub,
    channel: &'a Channel,
    device: *mut sys::ib_device,
}

impl Drop for Use<'_> {
    fn drop(&mut self) {
        let mut st = self.hub.state.lock();
        st.users -= 1;
        if st.users == 0 {
            self.hub.idle.notify_all();
        }
    }
}

impl Hub {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            state <- kernel::new_mutex!(HubState {
                channel: None,
                device: core::ptr::null_mut(),
                generation: 0,
                users: 0,
                files: Table::new(MAX_FILES),
            }),
            idle <- kernel::new_condvar!(),
        })
    }

    /// Provides `/dev/infiniband/rdma_cm`. If the stock `rdma_ucm` has it
    /// already, says so and goes on without (verbs still work).
    pub(crate) fn register(self: Pin<&Self>) {
        HUB.store(&*self as *const Hub as *mut Hub, Ordering::Release);
        // SAFETY: Unregistered in `unregister`.
        let ret = unsafe { sys::xenib_front_cm_register() };
        if ret != 0 {
            pr_err!(
                "cannot provide /dev/infiniband/rdma_cm ({}): is rdma_ucm loaded? unload it (and keep it from loading) for rdma_cm in this guest\n",
                ret
            );
        }
    }

    /// No new cm files from now on.
    pub(crate) fn unregister_device(&self) {
        // SAFETY: No-op if `register` failed.
        unsafe { sys::xenib_front_cm_unregister() };
    }

    /// After the devices are gone (`detach`).
    pub(crate) fn unregister(&self) {
        HUB.store(core::ptr::null_mut(), Ordering::Release);
    }

    fn get(&self) -> Result<Use<'_>> {
        let mut st = self.state.lock();
        let Some(ch) = st.channel else {
            return Err(ENODEV);
        };
        st.users += 1;
        // SAFETY: The channel stays until `detach`, which waits for us.
        let channel = unsafe { ch.as_ref() };
        Ok(Use {
            hub: self,
            channel,
            device: st.device,
        })
    }
}

/// The device is registered: cm files may use its channel.
pub(crate) fn attach(ch: &Channel, device: *mut sys::ib_device) {
    if let Some(h) = hub() {
        let mut st = h.state.lock();
        st.channel = Some(NonNull::from(ch));
        st.device = device;
        st.generation += 1;
    }
}

/// The device is going: open files fail from now on; returns once no call
/// uses the channel.
pub(crate) fn detach() {
    let Some(h) = hub() else {
        return;
    };
    let mut st = h.state.lock();
    st.channel = None;
    st.device = core::ptr::null_mut();
    for f in st.files.drain() {
        let mut fs = f.state.lock();
        fs.dead = true;
        f.changed(&fs);
    }
    while st.users > 0 {
        h.idle.wait(&mut st);
    }
}

/// An event from the event ring (in `Channel::on_notify`).
pub(crate) fn on_event(ev: &CmEvent) {
    let Some(h) = hub() else {
        return;
    };
    let st = h.state.lock();
    let Some(f) = st.files.iter().find(|f| f.handle == ev.ctx) else {
        // Its file was closed meanwhile.
        return;
    };
    let mut fs = f.state.lock();
    let q = Queued {
        data: ev.data,
        sgid: ev.sgid,
        sgid_type: ev.sgid_type as u8,
    };
    if fs.events.push(q).is_err() && !fs.dead {
        warn_ratelimited!("rdma_cm: a process does not read its events; failing its file\n");
        fs.dead = true;
    }
    f.changed(&fs);
}

impl CmFile {
    fn wake(&self) {
        // SAFETY: The C part lives while the file is open (type comment).
        unsafe { sys::xenib_front_cm_wake(self.cf.as_ptr()) };
    }

    /// `st` (ours, locked) changed: publish whether it is readable, and
    /// wake the sleepers.
    fn changed(&self, st: &FileState) {
        self.ready
            .store(st.dead || !st.events.is_empty(), Ordering::Release);
        self.wake();
    }

    fn readable(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// A `Use` of the channel this file was opened on.
    fn channel(&self) -> Result<Use<'static>> {
        let h = hub().ok_or(ENODEV)?;
        let u = h.get()?;
        if h.state.lock().generation != self.generation || self.state.lock().dead {
            return Err(ENODEV);
        }
        Ok(u)
    }

    fn call(&self, u: &Use<'_>, c: u32, data: &[u8], out_len: usize) -> Result<CmCmdRsp> {
        let mut req = CmCmdReq {
            ctx: self.handle,
            cmd: c,
            in_len: data.len() as u16,
            out_len: out_len as u16,
            data: [0; CM_MAX_IN],
        };
        req.data.get_mut(..data.len()).ok_or(EINVAL)?.copy_from_slice(data);
        match u.channel.call(&Request::CmCmd(req))? {
            RspBody::CmCmd(r) => Ok(r),
            _ => Err(crate::errno::eproto()),
        }
    }

    /// One write() of the process: a command and its response.
    fn write(&self, buf: usize, len: usize, nonblock: bool) -> Result<usize> {
        let mut hdr = [0u8; ucma::HDR_LEN];
        if len < hdr.len() {
            return Err(EINVAL);
        }
        copy_in(&mut hdr, buf)?;
        let c = u32::from_ne_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        let in_len = usize::from(u16::from_ne_bytes([hdr[4], hdr[5]]));
        let out_len = usize::from(u16::from_ne_bytes([hdr[6], hdr[7]]));
        if in_len + hdr.len() > len {
            return Err(EINVAL);
        }
        let arg = buf + hdr.len();
        if c == cmd::GET_EVENT {
            self.get_event(arg, in_len, out_len, nonblock)?;
            return Ok(len);
        }
        let info = ucma::command_info(c).ok_or(crate::errno::enosys())?;
        if in_len < info.in_len {
            return Err(EINVAL);
        }
        let mut data = [0u8; CM_MAX_IN];
        copy_in(&mut data[..info.in_len], arg)?;
        let mut n = info.in_len;
        if c == cmd::SET_OPTION {
            // The value is behind `optval`: it travels after the structure.
            let optlen = ucma::field_u32(&data, 20).ok_or(EINVAL)? as usize;
            if optlen > ucma::MAX_OPTLEN {
                return Err(EINVAL);
            }
            let optval = u64::from_ne_bytes(data[..8].try_into().map_err(|_| EINVAL)?);
            copy_in(&mut data[n..n + optlen], optval as usize)?;
            n += optlen;
        }
        let u = self.channel()?;
        let mut migrating = None;
        if c == cmd::MIGRATE_ID {
            let fd = ucma::field_u32(&data, ucma::MIGRATE_FD_AT).ok_or(EINVAL)?;
            let src = file_of_fd(fd as i32).ok_or(EBADF)?;
            if src.generation != self.generation {
                return Err(ENODEV);
            }
            data[ucma::MIGRATE_FD_AT..ucma::MIGRATE_FD_AT + 4]
                .copy_from_slice(&src.handle.0.to_ne_bytes());
            migrating = Some(src);
        }
        let mut rsp = self.call(&u, c, &data[..n], out_len.min(info.out_len))?;
        self.translate(&u, c, &data, &mut rsp)?;
        let id = ucma::field_u32(&data, 8).unwrap_or(0);
        match c {
            cmd::CREATE_ID => {
                let uid = u64::from_ne_bytes(data[..8].try_into().map_err(|_| EINVAL)?);
                let new = ucma::field_u32(&rsp.data, 0).unwrap_or(0);
                // Past the bound, a listener's requests are only dropped
                // with it by id (not by uid): nothing worse.
                let _ = self.state.lock().ids.insert((new, uid));
            }
            cmd::DESTROY_ID => {
                let dropped = self.drop_events(&u, id, None);
                take_off_reported(&mut rsp, dropped);
            }
            cmd::MIGRATE_ID => {
                if let Some(src) = migrating {
                    let moved = src.drop_events(&u, id, Some(self));
                    take_off_reported(&mut rsp, moved);
                }
            }
            _ => {}
        }
        if let Some(at) = info.response_at {
            let ptr = u64::from_ne_bytes(data[at..at + 8].try_into().map_err(|_| EINVAL)?);
            let n = out_len.min(rsp.bytes().len());
            copy_out(ptr as usize, &rsp.data[..n])?;
        }
        Ok(len)
    }

    /// Maps dom0's GID indices and device index in a response to ours.
    fn translate(&self, u: &Use<'_>, c: u32, data: &[u8], rsp: &mut CmCmdRsp) -> Result {
        let option = ucma::field_u32(data, 12).unwrap_or(0);
        if let Some(at) = ucma::ibdev_index_offset(c, option) {
            // SAFETY: The device is registered while the channel is attached.
            let idx = unsafe { sys::xenib_front_device_index(u.device) };
            if let Some(b) = rsp.data.get_mut(at..at + 4) {
                b.copy_from_slice(&idx.to_ne_bytes());
            }
        }
        let gids = [(rsp.sgid, rsp.sgid_type), (rsp.alt_sgid, rsp.alt_sgid_type)];
        for (&at, (gid, ty)) in ucma::sgid_index_offsets(c, 0).iter().zip(gids) {
            set_sgid_index(u.device, &mut rsp.data, at, &gid, ty)?;
        }
        Ok(())
    }

    /// `GET_EVENT`, from our queue.
    fn get_event(&self, arg: usize, in_len: usize, out_len: usize, nonblock: bool) -> Result {
        let mut cmd_buf = [0u8; 8];
        if in_len < cmd_buf.len() {
            return Err(EINVAL);
        }
        // ucma's minimum: the event without its trailing ECE and reserved.
        if out_len < ucma::EVENT_LEN - 12 {
            return Err(ENOSPC);
        }
        copy_in(&mut cmd_buf, arg)?;
        let response = u64::from_ne_bytes(cmd_buf) as usize;
        loop {
            // For the GID lookup; taken before our lock (lock order).
            let u = self.channel().ok();
            {
                let mut st = self.state.lock();
                if let Some(q) = st.events.peek() {
                    let mut data = q.data;
                    let ev = q.event();
                    if let Some(&at) = ucma::sgid_index_offsets(cmd::GET_EVENT, ev).first() {
                        let dev = u.as_ref().ok_or(ENODEV)?.device;
                        set_sgid_index(dev, &mut data, at, &q.sgid, q.sgid_type)?;
                    }
                    copy_out(response, &data[..out_len.min(data.len())])?;
                    st.events.pop();
                    self.changed(&st);
                    return Ok(());
                }
                if st.dead {
                    return Err(ENODEV);
                }
            }
            drop(u);
            if nonblock {
                return Err(EAGAIN);
            }
            // SAFETY: Our C part; `self` stays (the caller holds the file).
            let ret = unsafe {
                sys::xenib_front_cm_wait(self.cf.as_ptr(), self as *const Self as *mut _)
            };
            if ret != 0 {
                return Err(ERESTARTSYS);
            }
        }
    }

    /// Takes the events held for id `id` out of our queue: dropped, or
    /// moved to `to` (a migration). Returns how many. Events still on
    /// the event ring are collected first: the backend sent them before
    /// the response we hold.
    fn drop_events(&self, u: &Use<'_>, id: u32, to: Option<&CmFile>) -> u32 {
        u.channel.on_notify();
        let mut orphans = KVec::<u32>::new();
        let mut taken = KVec::<Queued>::new();
        let mut n = 0u32;
        {
            let mut st = self.state.lock();
            let slot = st.ids.position(|&(i, _)| i == id);
            let uid = slot.and_then(|i| st.ids.get(i)).map(|&(_, u)| u);
            if let (None, Some(i)) = (to, slot) {
                st.ids.remove(i);
            }
            let mut keep = Fifo::new(MAX_QUEUED);
            while let Some(q) = st.events.pop() {
                if !q.of(id, uid) {
                    let _ = keep.push(q);
                    continue;
                }
                n += 1;
                if to.is_some() {
                    let _ = taken.push(q, GFP_KERNEL);
                } else if q.event() == event::CONNECT_REQUEST {
                    let _ = orphans.push(q.id(), GFP_KERNEL);
                }
            }
            st.events = keep;
            self.changed(&st);
        }
        if let Some(to) = to {
            let mut st = to.state.lock();
            for q in taken {
                let _ = st.events.push(q);
            }
            to.changed(&st);
        }
        // A connection request nobody will see: its new id goes too.
        for child in orphans.iter() {
            let mut d = [0u8; 16];
            d[8..12].copy_from_slice(&child.to_ne_bytes());
            let _ = self.call(u, cmd::DESTROY_ID, &d, 4);
        }
        n
    }

    fn release(&self) {
        if let Some(h) = hub() {
            let mut st = h.state.lock();
            if let Some(i) = st.files.position(|f| core::ptr::eq(&**f, self)) {
                st.files.remove(i);
            }
        }
        if let Ok(u) = self.channel() {
            let _ = u
                .channel
                .release(&Request::CloseContext(crate::wire::CtxReq { ctx: self.handle }));
        }
    }
}

/// Subtracts `n` events we held from a `DESTROY_ID` or `MIGRATE_ID`
/// response's `events_reported`.
fn take_off_reported(rsp: &mut CmCmdRsp, n: u32) {
    if let Some(r) = ucma::field_u32(&rsp.data, 0) {
        rsp.data[..4].copy_from_slice(&r.saturating_sub(n).to_ne_bytes());
    }
}

/// Replaces dom0's `sgid_index` at `at` (of an `ib_uverbs_ah_attr` with a
/// GRH) by the index of the same GID in our table of the path's port.
fn set_sgid_index(dev: *mut sys::ib_device, b: &mut [u8], at: usize, gid: &Gid, ty: u8) -> Result {
    let port = match ucma::ah_attr_path(b, at) {
        Some((true, port)) => port,
        _ => return Ok(()),
    };
    // SAFETY: The device is registered while the channel is attached (the
    // core bounds the port); `gid` is 16 bytes.
    let idx = unsafe { sys::xenib_find_gid(dev, port.into(), gid.as_ptr(), ty) };
    if idx < 0 {
        warn_ratelimited!(
            "rdma_cm: the connection's source address is not on this guest's RDMA device (configure it on xibgid0)\n"
        );
        return Err(crate::errno::eaddrnotavail());
    }
    if let Some(x) = b.get_mut(at) {
        *x = idx as u8;
    }
    Ok(())
}

/// The cm file behind descriptor `fd` of the calling process.
fn file_of_fd(fd: i32) -> Option<Arc<CmFile>> {
    // SAFETY: Returns a reference of its own (`xenib_front_cm_get`).
    let p = unsafe { sys::xenib_front_cm_of_fd(fd) };
    // SAFETY: `p`, if not null, is a pointer `Arc::into_raw` made, with a
    // reference we now own.
    (!p.is_null()).then(|| unsafe { Arc::from_raw(p as *const CmFile) })
}

fn copy_in(dst: &mut [u8], uaddr: usize) -> Result {
    // SAFETY: `dst` is `dst.len()` writable bytes; the user range is checked.
    kernel::error::to_result(unsafe {
        sys::xenib_copy_from_user(dst.as_mut_ptr().cast(), uaddr as _, dst.len() as _)
    })
}

fn copy_out(uaddr: usize, src: &[u8]) -> Result {
    // SAFETY: `src` is `src.len()` readable bytes; the user range is checked.
    kernel::error::to_result(unsafe {
        sys::xenib_copy_to_user(uaddr as _, src.as_ptr().cast(), src.len() as _)
    })
}

/// `open()`: a new cm file in the backend.
#[no_mangle]
pub(crate) extern "C" fn xenib_front_cm_open(cf: *mut sys::xenib_cm_file) -> *mut core::ffi::c_void {
    let r = (|| -> Result<Arc<CmFile>> {
        let h = hub().ok_or(ENODEV)?;
        let cf = NonNull::new(cf).ok_or(EINVAL)?;
        let u = h.get()?;
        let generation = h.state.lock().generation;
        let handle = match u.channel.call(&Request::CmOpen(Empty))? {
            RspBody::CmOpen(r) => r.ctx,
            _ => return Err(crate::errno::eproto()),
        };
        let f = Arc::pin_init(
            pin_init!(CmFile {
                handle,
                generation,
                cf,
                ready: AtomicBool::new(false),
                state <- kernel::new_mutex!(FileState {
                    events: Fifo::new(MAX_QUEUED),
                    ids: Table::new(MAX_IDS),
                    dead: false,
                }),
            }),
            GFP_KERNEL,
        );
        let f = match f {
            Ok(f) => f,
            Err(e) => {
                let _ = u.channel.release(&Request::CloseContext(crate::wire::CtxReq { ctx: handle }));
                return Err(e);
            }
        };
        let mut st = h.state.lock();
        if st.generation != generation || st.channel.is_none() {
            return Err(ENODEV);
        }
        st.files.insert(f.clone())?;
        Ok(f)
    })();
    match r {
        Ok(f) => Arc::into_raw(f) as *mut _,
        // SAFETY: Encodes an errno as a pointer.
        Err(e) => unsafe { sys::xenib_err_ptr(e.to_errno() as _) },
    }
}

/// # Safety
///
/// `cm` must be a pointer `xenib_front_cm_open` returned, not yet released.
unsafe fn file<'a>(cm: *mut core::ffi::c_void) -> &'a CmFile {
    // SAFETY: Per the function contract, `cm` holds a reference.
    unsafe { &*(cm as *const CmFile) }
}

#[no_mangle]
pub(crate) extern "C" fn xenib_front_cm_write(
    cm: *mut core::ffi::c_void,
    buf: *const core::ffi::c_char,
    len: usize,
    nonblock: bool,
) -> isize {
    // SAFETY: The C side passes its file's `cm`.
    let f = unsafe { file(cm) };
    match f.write(buf as usize, len, nonblock) {
        Ok(n) => n as isize,
        Err(e) => e.to_errno() as isize,
    }
}

#[no_mangle]
pub(crate) extern "C" fn xenib_front_cm_readable(cm: *mut core::ffi::c_void) -> bool {
    // SAFETY: The C side passes its file's `cm`.
    unsafe { file(cm) }.readable()
}

#[no_mangle]
pub(crate) extern "C" fn xenib_front_cm_get(cm: *mut core::ffi::c_void) -> *mut core::ffi::c_void {
    // SAFETY: The C side passes a live file's `cm`, a pointer
    // `Arc::into_raw` made; we add a reference and hand it out as such.
    unsafe {
        let a = core::mem::ManuallyDrop::new(Arc::from_raw(cm as *const CmFile));
        Arc::into_raw(Arc::clone(&a)) as *mut _
    }
}

#[no_mangle]
pub(crate) extern "C" fn xenib_front_cm_release(cm: *mut core::ffi::c_void) {
    // SAFETY: The C side's reference, given back once.
    let f = unsafe { Arc::from_raw(cm as *const CmFile) };
    f.release();
}
