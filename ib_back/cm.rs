// SPDX-License-Identifier: GPL-2.0

//! Guest rdma_cm files. Each is a ucma file of dom0's own rdma_cm
//! (`/dev/infiniband/rdma_cm`), opened and driven by a server process of
//! its own, exactly like a verbs context (`server.rs`): dom0's CM does
//! the protocol (addresses, routes, the CM MADs, retries, time-wait), and
//! closing the file destroys every id the guest made in it.
//!
//! Every command is checked and rewritten first (`ucma::check_command`):
//! a guest binds, resolves from and listens on its own addresses only,
//! advertises only its own QPs, and migrates ids only between its own
//! files. GID indices in responses and events are dom0's: we send the
//! GIDs themselves along, and the front finds them in its own table.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::prelude::*;

use crate::device::Device;
use crate::frontend::Frontend;
use crate::quota::Kind;
use crate::server::ContextServer;
use crate::sys::{self, warn_ratelimited};
use crate::ucma::{self, cmd, Action, CmdInfo};
use crate::uverbs::Service;
use crate::wire::{CmCmdReq, CmCmdRsp, CmEvent, CtxHandle, Gid, CM_MAX_IN, CM_MAX_OUT};

/// dom0's rdma_cm character device.
const UCMA_PATH: &kernel::str::CStr = kernel::c_str!("/dev/infiniband/rdma_cm");

/// A reference to a cm file's `struct file`, for another server of the
/// same guest to name it in a `MIGRATE_ID`.
///
/// # Invariants
///
/// Holds one reference to the file.
pub(crate) struct FileRef(NonNull<sys::file>);

// SAFETY: A file reference may be used and dropped on any thread.
unsafe impl Send for FileRef {}

impl FileRef {
    fn new(file: NonNull<sys::file>) -> Self {
        // SAFETY: The caller holds a reference to `file`.
        unsafe { sys::xenib_back_file_get(file.as_ptr()) };
        // INVARIANT: taken above.
        Self(file)
    }

    pub(crate) fn clone_ref(&self) -> Self {
        Self::new(self.0)
    }

    /// Installs the file in the calling process's fd table; the
    /// descriptor is closed when the returned value is dropped.
    fn install(&self) -> Result<InstalledFd> {
        // SAFETY: We hold a reference (type invariant).
        let fd = unsafe { sys::xenib_back_install_file(self.0.as_ptr()) };
        if fd < 0 {
            return Err(Error::from_errno(fd));
        }
        Ok(InstalledFd(fd as u32))
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY: Our reference (type invariant); released now, even if
        // it is the last (`__fput_sync`).
        unsafe { sys::xenib_back_event_file_put(self.0.as_ptr()) };
    }
}

struct InstalledFd(u32);

impl Drop for InstalledFd {
    fn drop(&mut self) {
        // SAFETY: Installed by `FileRef::install` in this process.
        unsafe { sys::xenib_close_fd(self.0) };
    }
}

/// One guest cm file: dom0's ucma file, watched for events.
///
/// # Invariants
///
/// `file` is a ucma file we opened (one reference), non-blocking;
/// `watch` watches it.
pub(crate) struct CmFile {
    file: NonNull<sys::file>,
    watch: NonNull<sys::xenib_evwatch>,
}

// SAFETY: The file and the watch may be used and released on any thread.
unsafe impl Send for CmFile {}

impl CmFile {
    /// Opens dom0's rdma_cm in the calling server process, watched on
    /// behalf of `watcher` (its `ContextServer`); also returns a
    /// reference for migrations.
    pub(crate) fn open(watcher: *mut core::ffi::c_void) -> Result<(Self, FileRef)> {
        // SAFETY: A NUL-terminated path; we are in the server process.
        let f = unsafe { sys::xenib_back_cm_file_open(UCMA_PATH.as_char_ptr()) };
        // SAFETY: Any pointer may be tested.
        let err = unsafe { sys::xenib_ptr_err(f.cast()) };
        if err != 0 {
            return Err(Error::from_errno(err as i32));
        }
        let file = NonNull::new(f).ok_or(ENODEV)?;
        // SAFETY: A live file; `watcher` outlives the watch (see
        // `server::xenib_back_event_ready`).
        let Some(watch) =
            NonNull::new(unsafe { sys::xenib_back_evwatch_start(file.as_ptr(), watcher) })
        else {
            // SAFETY: Opened above.
            unsafe { sys::xenib_back_file_close(file.as_ptr()) };
            return Err(ENOMEM);
        };
        let r = FileRef::new(file);
        // INVARIANT: opened and watched above.
        Ok((Self { file, watch }, r))
    }

    /// Writes command `c` (`data`, its structure, whose `response`
    /// pointer is at `info.response_at`) and reads `out.len()` response
    /// bytes back.
    fn command(
        &self,
        svc: &Service,
        c: u32,
        info: &CmdInfo,
        data: &[u8],
        extra: &[u8],
        out: &mut [u8],
    ) -> Result {
        let mut buf = [0u8; ucma::HDR_LEN + CM_MAX_IN];
        let n = data.len().min(CM_MAX_IN);
        buf[..4].copy_from_slice(&c.to_ne_bytes());
        buf[4..6].copy_from_slice(&(n as u16).to_ne_bytes());
        buf[6..8].copy_from_slice(&(out.len() as u16).to_ne_bytes());
        buf[ucma::HDR_LEN..ucma::HDR_LEN + n].copy_from_slice(&data[..n]);
        let resp_at = info.response_at.map(|a| a + ucma::HDR_LEN);
        svc.write_raw(self.file, &mut buf[..ucma::HDR_LEN + n], resp_at, extra, out)
    }

    /// The next event, if one is queued (a non-blocking `GET_EVENT`).
    pub(crate) fn next_event(&self, svc: &Service) -> Result<Option<[u8; ucma::EVENT_LEN]>> {
        let info = CmdInfo {
            in_len: 8,
            response_at: Some(0),
            out_len: ucma::EVENT_LEN,
        };
        let mut ev = [0u8; ucma::EVENT_LEN];
        match self.command(svc, cmd::GET_EVENT, &info, &[0u8; 8], &[], &mut ev) {
            Ok(()) => Ok(Some(ev)),
            Err(e) if e == EAGAIN => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Drop for CmFile {
    fn drop(&mut self) {
        // SAFETY: Set up in `open` (type invariant). Closing the ucma file
        // destroys every id in it.
        unsafe {
            sys::xenib_back_evwatch_stop(self.watch.as_ptr());
            sys::xenib_back_file_close(self.file.as_ptr());
        }
    }
}

/// Executes one guest command on its cm file `f`, in `f`'s server.
pub(crate) fn execute(
    f: &CmFile,
    svc: &Service,
    fe: &Frontend,
    server: &ContextServer,
    dev: &Device,
    req: &CmCmdReq,
) -> Result<CmCmdRsp> {
    let who = fe.name();
    let info = ucma::command_info(req.cmd).ok_or_else(|| {
        warn_ratelimited!("{}: rdma_cm command {} refused: not forwarded\n", who, req.cmd);
        crate::errno::enosys()
    })?;
    let n = usize::from(req.in_len);
    // The request was copied out of the ring once; this is our copy.
    let mut data = req.data;
    let own = fe.policy().addresses();
    let action = ucma::check_command(req.cmd, &mut data[..n], own).map_err(|r| {
        // librdmacm tries an AF_IB bind whenever it starts: not worth a line.
        if r != ucma::Refusal::Family {
            warn_ratelimited!("{}: rdma_cm command {} refused: {:?}\n", who, req.cmd, r);
        }
        Error::from_errno(-r.errno())
    })?;
    // A migration's source: its server, a reference to its file and the
    // descriptor installed for it here, all held until the command is done.
    let mut migrating = None;
    match action {
        Action::None => {}
        Action::EnsureBound { id } => ensure_bound(f, svc, id, own)?,
        Action::OwnQp { qpn } => {
            if !fe.owns_qpn(qpn) {
                warn_ratelimited!("{}: rdma_cm refused QP number {:#x}: not the guest's\n", who, qpn);
                return Err(EPERM);
            }
        }
        Action::Migrate { file } => {
            let src = fe.server_of(CtxHandle(file)).ok_or(EBADF)?;
            let file = src.cm_file().ok_or(EBADF)?;
            let fd = file.install()?;
            data[ucma::MIGRATE_FD_AT..ucma::MIGRATE_FD_AT + 4].copy_from_slice(&fd.0.to_ne_bytes());
            migrating = Some((src, file, fd));
        }
    }
    if req.cmd == cmd::CREATE_ID {
        fe.quota.take(Kind::CmId, &who)?;
    }
    let mut extra: &[u8] = &[];
    if req.cmd == cmd::SET_OPTION {
        let optlen = ucma::field_u32(&data, 20).ok_or(EINVAL)? as usize;
        extra = data.get(info.in_len..info.in_len + optlen).ok_or(EINVAL)?;
        let mut d = data;
        d[ucma::OPTVAL_AT..ucma::OPTVAL_AT + 8].copy_from_slice(&svc.extra_addr().to_ne_bytes());
        let mut none = [0u8; 0];
        f.command(svc, req.cmd, &info, &d[..info.in_len], extra, &mut none)?;
        return Ok(empty_rsp());
    }
    let out_len = usize::from(req.out_len).min(info.out_len);
    let mut rsp = empty_rsp();
    let r = f.command(svc, req.cmd, &info, &data[..info.in_len], extra, &mut rsp.data[..out_len]);
    // The ids the file holds, in the guest's quota.
    match (req.cmd, &r) {
        (cmd::CREATE_ID, Ok(())) => {
            server.cm_ids.fetch_add(1, Ordering::AcqRel);
        }
        (cmd::CREATE_ID, Err(_)) => fe.quota.put(Kind::CmId, 1),
        (cmd::DESTROY_ID, Ok(())) => {
            if take_one(&server.cm_ids) {
                fe.quota.put(Kind::CmId, 1);
            }
        }
        (cmd::MIGRATE_ID, Ok(())) => {
            if let Some((src, ..)) = &migrating {
                if take_one(&src.cm_ids) {
                    server.cm_ids.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
        _ => {}
    }
    r?;
    rsp.len = out_len as u16;
    if req.cmd == cmd::INIT_QP_ATTR {
        let offs = ucma::sgid_index_offsets(req.cmd, 0);
        (rsp.sgid, rsp.sgid_type) = source_gid(dev, &rsp.data, offs[0]);
        (rsp.alt_sgid, rsp.alt_sgid_type) = source_gid(dev, &rsp.data, offs[1]);
    }
    Ok(rsp)
}

/// One fewer in `n`, if it had any.
fn take_one(n: &AtomicU32) -> bool {
    n.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| v.checked_sub(1))
        .is_ok()
}

/// Whether an event brings a new id into its file (a connection request).
pub(crate) fn creates_id(ev: &CmEvent) -> bool {
    ucma::field_u32(&ev.data, 12) == Some(ucma::event::CONNECT_REQUEST)
}

fn empty_rsp() -> CmCmdRsp {
    CmCmdRsp {
        len: 0,
        sgid_type: 0,
        alt_sgid_type: 0,
        sgid: [0; 16],
        alt_sgid: [0; 16],
        data: [0; CM_MAX_OUT],
    }
}

/// A `LISTEN` on an id that is not bound would listen on every address
/// of dom0: bind it to the guest's address first.
fn ensure_bound(f: &CmFile, svc: &Service, id: u32, own: &[Gid]) -> Result {
    let query = ucma::command_info(cmd::QUERY).ok_or(EINVAL)?;
    let mut q = [0u8; 16];
    q[8..12].copy_from_slice(&id.to_ne_bytes());
    q[12..16].copy_from_slice(&ucma::query::ADDR.to_ne_bytes());
    let mut addr = [0u8; 280];
    f.command(svc, cmd::QUERY, &query, &q, &[], &mut addr)?;
    if ucma::query_addr_bound(&addr) {
        return Ok(());
    }
    let bind = ucma::command_info(cmd::BIND_IP).ok_or(EINVAL)?;
    let b = ucma::bind_own(id, own).ok_or(crate::errno::eaddrnotavail())?;
    f.command(svc, cmd::BIND_IP, &bind, &b, &[], &mut [])
}

/// The GID (and its type) behind the `ib_uverbs_ah_attr` whose GRH's
/// `sgid_index` is at `at` in `b`; zero if it has no GRH.
fn source_gid(dev: &Device, b: &[u8], at: usize) -> (Gid, u8) {
    // In `ib_uverbs_ah_attr`: `sgid_index` at 20, `is_global` at 29,
    // `port_num` at 30.
    let (Some(&index), Some(&global), Some(&port)) = (b.get(at), b.get(at + 9), b.get(at + 10))
    else {
        return ([0; 16], 0);
    };
    if global == 0 {
        return ([0; 16], 0);
    }
    match dev.gid_at(port, index.into()) {
        Ok(Some(g)) => g,
        _ => ([0; 16], 0),
    }
}

/// An event for the event ring, with the GID behind its address handle.
pub(crate) fn event(dev: &Device, ctx: CtxHandle, data: [u8; ucma::EVENT_LEN]) -> CmEvent {
    let ev = ucma::field_u32(&data, 12).unwrap_or(0);
    let (sgid, ty) = match ucma::sgid_index_offsets(cmd::GET_EVENT, ev) {
        [at, ..] => source_gid(dev, &data, *at),
        [] => ([0; 16], 0),
    };
    CmEvent {
        ctx,
        sgid_type: ty.into(),
        sgid,
        data,
    }
}
