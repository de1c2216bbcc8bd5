// SPDX-License-Identifier: GPL-2.0

//! Context servers: each guest user context is served by a process of its
//! own.
//!
//! A driver resolves the pointers it finds in a command (provider
//! `udata`, `ib_umem_get` of a buffer address) in `current->mm`, and
//! checks `current`'s capabilities. So the address space and credentials
//! a verb runs with decide what a guest can reach. Each context therefore
//! runs in a *context server*: a process forked by `xenib-backd` that
//! enters `XENIB_BACK_SERVE_CONTEXT` and never returns to user space.
//! On entry its address space is emptied (nothing of the daemon stays
//! mapped) and its capabilities are dropped; from then on it holds only
//! what its one context puts there: the command scratch area, the
//! driver's queue mappings and the guest pages of that context's MRs.
//! A pointer from a guest can reach nothing else, in particular no other
//! guest's memory. The process serves one context and exits with it.
//!
//! The frontend's dispatcher (the `XENIB_BACK_SERVE` thread) decodes each
//! request and queues it on the context's `ContextServer`; the server
//! executes it and answers on the ring itself, so a slow verb in one
//! context delays no other.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use kernel::prelude::*;
use kernel::sync::{Arc, CondVar, Mutex};

use crate::cm::{self, CmFile, FileRef};
use crate::context::{self, Context};
use crate::frontend::Frontend;
use crate::poll::{now_ns, PollAdvisor};
use crate::stats::{Obj, Stats};
use crate::transport::Transport;
use crate::uverbs::Service;
use crate::wire::{CtxHandle, MapPagesReq, Request, Response, RspBody, PAGE_WRITE};
use crate::fifo::Fifo;
use crate::{sys, Backend};

/// Requests one context may have queued; more than the ring can hold.
const MAX_JOBS: usize = 256;
/// Guest pages one context may have fetched (`map_faulted`).
const MAX_FETCHED_PER_CONTEXT: usize = 256;
const PAGE: u64 = 4096;

/// A request for the context, with the id its response must carry.
pub(crate) struct Job {
    pub(crate) id: u64,
    pub(crate) req: Request,
}

/// Where a context server is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
    /// Waiting for a process to serve it.
    Unclaimed,
    /// A process serves it.
    Running,
    /// Its process has stopped (closed, signalled or killed): the
    /// context and everything in it are gone.
    Gone,
}

struct State {
    jobs: Fifo<Job>,
    phase: Phase,
    /// Gone, and every request it had is answered.
    done: bool,
    /// Stop serving: the frontend is leaving or the device is going.
    close: bool,
    /// The context's event files have events.
    events: bool,
    /// Its process sleeps in `next`.
    sleeping: bool,
    /// Take requests off the frontend's ring (`wake_to_serve_ring`).
    serve_ring: bool,
    /// The cm file it serves, if it serves one, for migrations.
    cm_file: Option<FileRef>,
}

/// The frontend's view of one context: the queue of its requests, and
/// whether a process still serves it.
#[pin_data]
pub(crate) struct ContextServer {
    /// The handle the guest names the context by (slot and generation).
    pub(crate) handle: CtxHandle,
    #[pin]
    state: Mutex<State>,
    #[pin]
    changed: CondVar,
    /// The server pushed events while the event ring was full.
    pub(crate) events_stalled: AtomicBool,
    /// rdma_cm ids in the cm file it serves, counted in the guest's quota.
    pub(crate) cm_ids: AtomicU32,
}

impl ContextServer {
    pub(crate) fn new(handle: CtxHandle) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                handle,
                state <- kernel::new_mutex!(State {
                    jobs: Fifo::new(MAX_JOBS),
                    phase: Phase::Unclaimed,
                    done: false,
                    close: false,
                    events: false,
                    sleeping: false,
                    serve_ring: false,
                    cm_file: None,
                }),
                changed <- kernel::new_condvar!(),
                events_stalled: AtomicBool::new(false),
                cm_ids: AtomicU32::new(0),
            }),
            GFP_KERNEL,
        )
    }

    /// Queues a request; `Err` (never queued) once the server is gone.
    pub(crate) fn queue(&self, job: Job) -> core::result::Result<(), Job> {
        let mut st = self.state.lock();
        if st.phase == Phase::Gone || st.close {
            return Err(job);
        }
        st.jobs.push(job)?;
        self.changed.notify_all();
        Ok(())
    }

    /// A request for this context is on the ring: if the server sleeps,
    /// wake it to take the ring itself, and return true.
    pub(crate) fn wake_to_serve_ring(&self) -> bool {
        let mut st = self.state.lock();
        if !st.sleeping || st.phase != Phase::Running {
            return false;
        }
        st.serve_ring = true;
        self.changed.notify_all();
        true
    }

    /// The context's event files have events: have the server move them.
    pub(crate) fn events_ready(&self) {
        self.state.lock().events = true;
        self.changed.notify_all();
    }

    /// Asks the server to close the context and waits until it has, and
    /// has answered every request it had. A server that no process has
    /// claimed yet is simply gone.
    pub(crate) fn close_and_wait(&self) {
        let mut st = self.state.lock();
        st.close = true;
        if st.phase == Phase::Unclaimed {
            st.phase = Phase::Gone;
            st.done = true;
        }
        self.changed.notify_all();
        while !st.done {
            self.changed.wait(&mut st);
        }
    }

    /// Another reference to the cm file this server serves, if any.
    pub(crate) fn cm_file(&self) -> Option<FileRef> {
        let st = self.state.lock();
        if st.phase != Phase::Running {
            return None;
        }
        st.cm_file.as_ref().map(FileRef::clone_ref)
    }

    fn set_cm_file(&self, f: Option<FileRef>) {
        let old = core::mem::replace(&mut self.state.lock().cm_file, f);
        drop(old);
    }

    /// Claims the server for the calling process; false if it is gone.
    pub(crate) fn claim(&self) -> bool {
        let mut st = self.state.lock();
        if st.phase != Phase::Unclaimed {
            return false;
        }
        st.phase = Phase::Running;
        true
    }

    /// The server stops: no request is queued from now on; returns those
    /// that were, to be answered.
    fn finish(&self) -> Fifo<Job> {
        let mut st = self.state.lock();
        st.phase = Phase::Gone;
        core::mem::replace(&mut st.jobs, Fifo::new(MAX_JOBS))
    }

    /// Every request is answered: whoever waits in `close_and_wait` may go.
    fn set_done(&self) {
        let mut st = self.state.lock();
        st.done = true;
        self.changed.notify_all();
    }

    /// Whether `next` would return at once.
    fn has_work(&self) -> bool {
        let st = self.state.lock();
        st.close || st.events || st.serve_ring || !st.jobs.is_empty()
    }

    /// Waits for the next thing to do: a request, events, or the end.
    fn next(&self) -> Next {
        let mut st = self.state.lock();
        loop {
            if st.close {
                return Next::Close;
            }
            if core::mem::take(&mut st.events) {
                return Next::Events;
            }
            if let Some(job) = st.jobs.pop() {
                return Next::Job(job);
            }
            if core::mem::take(&mut st.serve_ring) {
                return Next::ServeRing;
            }
            st.sleeping = true;
            let signalled = self.changed.wait_interruptible(&mut st);
            st.sleeping = false;
            if signalled {
                return Next::Signalled;
            }
        }
    }

}

enum Next {
    Job(Job),
    /// Take requests off the frontend's ring.
    ServeRing,
    Events,
    Close,
    Signalled,
}

/// Why a server stopped.
#[derive(PartialEq, Eq)]
enum End {
    /// The guest closed the context (or it never opened).
    Closed,
    /// The frontend is leaving, or the device or the service is going.
    Closing,
    /// The process was signalled (killed, stopped, or the daemon died).
    Signalled,
}

/// What a server serves: a verbs context, or a cm file.
pub(crate) enum Opened {
    Verbs(Context),
    Cm(CmFile),
}

/// Serves `server`'s context in the calling process (a context server,
/// inside `XENIB_BACK_SERVE_CONTEXT`) until the context is closed, the
/// frontend leaves or the process is signalled. The context is always
/// released here, in this process, whose address space holds it.
pub(crate) fn serve(svc: &Service, backend: &Backend, fe: &Arc<Frontend>, server: &Arc<ContextServer>) {
    let mut ctx: Option<Opened> = None;
    let gaps = PollAdvisor::new();
    let mut served_at = None;
    let end = loop {
        if let Some(until) = served_at.and_then(|t| gaps.poll_until(t)) {
            poll_for_work(backend, fe, server, until);
        }
        if !server.has_work() {
            // About to sleep: a poll of ours (or the dispatcher's) may have
            // left the frontend silent.
            rearm(backend, fe);
        }
        match server.next() {
            Next::Job(job) => {
                let op = job.req.op();
                let start = now_ns();
                if let Some(t) = served_at {
                    gaps.note(start - t);
                }
                let (result, closed) = execute(svc, backend, fe, server, &mut ctx, &job.req);
                backend
                    .stats
                    .request(op, result.is_ok(), (now_ns() - start) as u64);
                let faults = svc.take_faults();
                let rsp = match (result, faults) {
                    (Ok(r), _) => r,
                    // The driver touched guest memory this context does
                    // not map (and failed for it): have the guest fetch it.
                    (Err(_), Ok(Some(pages))) if fe.fault_in() && job.req.ctx().is_some() => {
                        Response::Fault { op, pages }
                    }
                    (Err(e), _) => Response::error(op, e.to_errno()),
                };
                if closed {
                    // The context is gone before the guest hears so.
                    fe.forget_server(server);
                    fe.respond(job.id, &rsp);
                    break End::Closed;
                }
                fe.respond(job.id, &rsp);
                served_at = Some(now_ns());
            }
            Next::ServeRing => take_requests(backend, fe, false),
            Next::Events => match &ctx {
                Some(Opened::Verbs(c)) => fe.pump_events(svc, server, c),
                Some(Opened::Cm(f)) => fe.pump_cm_events(svc, backend, server, f),
                None => {}
            },
            Next::Close => break End::Closing,
            Next::Signalled => break End::Signalled,
        }
    };
    rearm(backend, fe);
    // A request we were woken for (`wake_to_serve_ring`) is not lost.
    fe.kick_dispatcher(backend);
    if let Some(c) = ctx.take() {
        release(svc, backend, fe, server, c);
    }
    // Whatever was queued meanwhile is answered, never dropped: a guest
    // thread waits for each response.
    let mut left = server.finish();
    while let Some(job) = left.pop() {
        fe.respond(job.id, &Response::error(job.req.op(), EIO.to_errno()));
    }
    server.set_done();
    if end == End::Signalled {
        crate::sys::warn_ratelimited!(
            "context server of {} signalled: its context is gone\n",
            fe.name()
        );
    }
}

/// After a request, a server looks for the next one for a while (until
/// `until`, ns) rather than sleeping: verbs come in runs (create a QP, map
/// its queues, three modify_qp steps), and a wake-up through the
/// dispatcher would cost more than the verb. It takes requests off the
/// frontend's ring itself, exactly as the dispatcher does (each copied
/// out once, validated, answered or queued on its context's server), so a
/// run of one context's verbs needs no other thread. The frontend is
/// asked not to notify meanwhile; when the server stops, it is asked
/// again, and whatever came meanwhile goes to the dispatcher.
fn poll_for_work(backend: &Backend, fe: &Arc<Frontend>, server: &ContextServer, until: i64) {
    fe.disarm();
    loop {
        if server.has_work() {
            return;
        }
        if fe.has_requests() {
            take_requests(backend, fe, true);
            continue;
        }
        // SAFETY: Reads the current task's flags.
        if now_ns() >= until || unsafe { sys::xenib_need_resched() } {
            break;
        }
        core::hint::spin_loop();
    }
    rearm(backend, fe);
}

/// Takes requests off the frontend's ring as the dispatcher would.
fn take_requests(backend: &Backend, fe: &Frontend, polling: bool) {
    let before = fe.taken();
    if fe.serve(backend, polling) {
        // More than one turn's worth: the dispatcher takes the rest.
        fe.kick_dispatcher(backend);
    }
    backend.stats.taken(true, fe.taken().wrapping_sub(before));
}

/// Has the frontend notify us again if a poll left it silent; requests
/// that came meanwhile go to the dispatcher.
fn rearm(backend: &Backend, fe: &Frontend) {
    if !fe.is_armed() {
        fe.arm();
        backend.wake();
    }
}

/// Releases what a server served, in its process.
fn release(svc: &Service, backend: &Backend, fe: &Frontend, server: &ContextServer, o: Opened) {
    match o {
        Opened::Verbs(c) => {
            fe.unbind_doorbells(server.handle, None);
            fe.forget_qps(server.handle, None);
            fe.release_context(c, svc, backend);
        }
        Opened::Cm(f) => {
            server.set_cm_file(None);
            drop(f);
            fe.quota.put(crate::quota::Kind::Context, 1);
            let ids = server.cm_ids.swap(0, Ordering::AcqRel);
            fe.quota.put(crate::quota::Kind::CmId, ids);
            backend.stats.add(Obj::CmFile, -1);
        }
    }
}

/// Executes one request of the context. Returns the result and whether
/// the context is now closed.
fn execute(
    svc: &Service,
    backend: &Backend,
    fe: &Arc<Frontend>,
    server: &ContextServer,
    ctx: &mut Option<Opened>,
    req: &Request,
) -> (Result<Response>, bool) {
    match (req, ctx.as_mut()) {
        (Request::CmOpen(_), None) => {
            if backend.device_gone() {
                return (Err(ENODEV), true);
            }
            if let Err(e) = fe.quota.take(crate::quota::Kind::Context, &fe.name()) {
                return (Err(e), true);
            }
            let data = server as *const ContextServer as *mut core::ffi::c_void;
            match CmFile::open(data) {
                Ok((f, r)) => {
                    server.set_cm_file(Some(r));
                    *ctx = Some(Opened::Cm(f));
                    backend.stats.add(Obj::CmFile, 1);
                    let rsp = crate::wire::CmOpenRsp { ctx: server.handle };
                    (Ok(Response::Ok(RspBody::CmOpen(rsp))), false)
                }
                Err(e) => {
                    fe.quota.put(crate::quota::Kind::Context, 1);
                    (Err(e), true)
                }
            }
        }
        (Request::CmCmd(r), Some(Opened::Cm(f))) => (
            cm::execute(f, svc, fe, server, &backend.device, r)
                .map(|b| Response::Ok(RspBody::CmCmd(b))),
            false,
        ),
        (Request::CmCmd(_), Some(Opened::Verbs(_))) => (Err(EBADF), false),
        (Request::CloseContext(_), Some(_)) => {
            if let Some(o) = ctx.take() {
                release(svc, backend, fe, server, o);
            }
            (
                Ok(Response::Ok(crate::wire::RspBody::CloseContext(
                    Default::default(),
                ))),
                true,
            )
        }
        (_, Some(Opened::Cm(_))) => (Err(EBADF), false),
        (Request::OpenContext(r), None) => {
            if backend.device_gone() {
                return (Err(ENODEV), true);
            }
            if let Err(e) = fe.quota.take(crate::quota::Kind::Context, &fe.name()) {
                return (Err(e), true);
            }
            let data = server as *const ContextServer as *mut core::ffi::c_void;
            match context::open(svc, svc.uverbs_path(), r, data) {
                Ok((c, mut rsp)) => {
                    rsp.ctx = server.handle;
                    *ctx = Some(Opened::Verbs(c));
                    backend.stats.add(Obj::Context, 1);
                    (Ok(Response::Ok(crate::wire::RspBody::OpenContext(rsp))), false)
                }
                // A context that could not open is gone.
                Err(e) => {
                    fe.quota.put(crate::quota::Kind::Context, 1);
                    (Err(e), true)
                }
            }
        }
        (_, Some(Opened::Verbs(c))) => (fe.execute_in_context(svc, backend, c, server.handle, req), false),
        (_, None) => (Err(EBADF), false),
    }
}

/// `MapPages`: guest pages a verb faulted on, which the front pinned in
/// the guest process and granted, are mapped at their guest addresses, so
/// that the verb finds them when the front sends it again. They stay until
/// the context closes (the driver may hold on to them, as a hardware
/// driver pins a queue buffer). A page already mapped is left as it is.
pub(crate) fn map_faulted(
    ctx: &mut Context,
    svc: &Service,
    transport: &Transport,
    stats: &Stats,
    req: &MapPagesReq,
) -> Result {
    for p in req.pages.as_slice() {
        let addr = (p.addr - p.addr % PAGE) as usize;
        // SAFETY: A pure range check.
        if !unsafe { sys::xenib_back_in_guest_range(addr as _, PAGE as _) } {
            return Err(EINVAL);
        }
        if !svc.window_covers(addr, PAGE as usize) {
            continue;
        }
        if ctx.fetched.len() >= MAX_FETCHED_PER_CONTEXT {
            return Err(ENOMEM);
        }
        let readonly = p.addr & PAGE_WRITE == 0;
        let pages = transport.map_guest_pages(svc, &[p.gref], Some(addr), readonly, &mut 0)?;
        ctx.fetched.push(pages, GFP_KERNEL)?;
        stats.add(Obj::Fetched, 1);
    }
    Ok(())
}

/// Called (in process context) when a watched event file has events.
#[no_mangle]
pub(crate) extern "C" fn xenib_back_event_ready(data: *mut core::ffi::c_void) {
    // SAFETY: `data` is the context server the watch was started for,
    // which outlives the watch: the watch belongs to the server's
    // `Context`, which its serving process drops before the server's
    // last reference (held by that process) goes.
    unsafe { &*(data as *const ContextServer) }.events_ready();
}

/// `XENIB_BACK_SERVE_CONTEXT`, called by a freshly forked process of
/// `xenib-backd`. The C side has already emptied its address space and
/// dropped its capabilities. Waits for a context to serve, serves it,
/// and returns; the process is then killed (it has nothing to return to).
#[no_mangle]
pub(crate) extern "C" fn xenib_back_serve_context(file: *mut sys::file) -> core::ffi::c_long {
    let Some(backend) = Backend::get() else {
        return ENODEV.to_errno() as _;
    };
    let Some(file) = core::ptr::NonNull::new(file) else {
        return EINVAL.to_errno() as _;
    };
    let Some((fe, server, path)) = backend.wait_for_context() else {
        return EINTR.to_errno() as _;
    };
    // SAFETY: We are in the ioctl, in the calling process, with its file;
    // `svc` lives only for this call.
    let svc = match unsafe { Service::new(file, &path) } {
        Ok(s) => s,
        Err(e) => {
            let mut left = server.finish();
            while let Some(job) = left.pop() {
                fe.respond(job.id, &Response::error(job.req.op(), e.to_errno()));
            }
            server.set_done();
            fe.forget_server(&server);
            backend.server_done();
            return e.to_errno() as _;
        }
    };
    backend.stats.add(Obj::Server, 1);
    serve(&svc, backend, &fe, &server);
    drop(svc);
    backend.stats.add(Obj::Server, -1);
    backend.server_done();
    0
}
