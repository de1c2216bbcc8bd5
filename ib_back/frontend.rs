// SPDX-License-Identifier: GPL-2.0

//! One connected frontend: its rings, its contexts, and the dispatch of
//! its requests.
//!
//! Every request is copied out of the shared ring once
//! (`BackRing::take_request`), decoded and validated into a typed
//! `Request`, and only then acted on. A frontend can name only its own
//! contexts (this table) and, within a context, only the objects of its
//! own uverbs file (uverbs' per-file handle table).
//!
//! Lock order: `Frontend::state`, then the transport's locks.

use crate::errno::eproto;
use crate::sys::warn_ratelimited;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

use crate::context::{self, Context};
use crate::device::QpRef;
use crate::doorbell_page::DoorbellPage;
use crate::poll::now_ns;
use crate::shmem::RawMem;
use crate::stats::{Obj, Stats};
use crate::table::Table;
use crate::transport::Transport;
use crate::uverbs::Service;
use crate::wire::doorbell;
use crate::wire::{
    hello_response, requests_beyond, AsyncEvent, AsyncObj, BackRing, CompEvent, CqHandle,
    CtxHandle, Event, FrontRing, Request, Response, RspBody, Slot, PROTOCOL_VERSION, SLOT_SIZE,
    SUPPORTED_FEATURES,
};
use crate::{ah, cq, mmap, mr, pd, qp, srq, sys, Backend};

/// Contexts (guest processes using the device) per frontend.
const MAX_CONTEXTS: usize = 256;
/// Guest pages one frontend may have registered here at once (16 GiB):
/// each costs the backend 16 bytes of bookkeeping.
const MAX_MR_PAGES_PER_FRONTEND: usize = 1 << 22;
/// Requests handled per turn before other frontends get theirs.
const BUDGET: usize = 64;

struct State {
    cmd: BackRing<RawMem>,
    /// Completion events for the guest's CQs.
    evt: FrontRing<RawMem>,
    contexts: Table<Context>,
    /// Hello negotiated.
    connected: bool,
    /// The frontend broke the ring protocol: stop serving it.
    broken: bool,
}

/// A QP whose send doorbell the frontend may ring in the doorbell page.
struct Doorbell {
    ctx: u32,
    qp: u32,
    dev_qp: QpRef,
}

impl State {
    /// Refuses a registration that would take the frontend's registered
    /// pages past its budget.
    fn check_mr_budget(&mut self, nr_pages: u32) -> Result {
        let mut total = nr_pages as usize;
        for (_, c) in self.contexts.iter_mut_indexed() {
            total += c.mr_pages;
        }
        if total > MAX_MR_PAGES_PER_FRONTEND {
            return Err(ENOMEM);
        }
        Ok(())
    }
}

#[pin_data]
pub(crate) struct Frontend {
    pub(crate) transport: Transport,
    pending: AtomicBool,
    /// The command ring, for a look at its producer index without
    /// `state` (`has_requests`), and our consumer index as of the last
    /// `serve`; whether it broke the protocol (`State::broken`).
    cmd_peek: RawMem,
    served_to: AtomicU32,
    broken: AtomicBool,
    /// Whether the frontend was asked to notify us of new requests; not
    /// while the service polls for them (`serve`, `arm`).
    armed: AtomicBool,
    /// The frontend's doorbell page, if it has one.
    doorbell_page: Option<DoorbellPage>,
    /// Doorbell number (the QP's `user_handle`) to QP.
    #[pin]
    doorbells: Mutex<KVec<Option<Doorbell>>>,
    #[pin]
    state: Mutex<State>,
}

impl Frontend {
    pub(crate) fn new(backend: &Backend, transport: Transport) -> Result<Arc<Self>> {
        let rings = transport.rings()?;
        let cmd = BackRing::attach(rings.cmd).map_err(|_| EINVAL)?;
        // The front initialised the event ring; we produce on it.
        let evt = FrontRing::attach(rings.evt).map_err(|_| EINVAL)?;
        let doorbell_page = rings.doorbells;
        let cmd_peek = transport.rings()?.cmd;
        let served_to = AtomicU32::new(cmd.req_cons());
        let fe = Arc::pin_init(
            pin_init!(Self {
                transport,
                pending: AtomicBool::new(false),
                cmd_peek,
                served_to,
                broken: AtomicBool::new(false),
                armed: AtomicBool::new(true),
                doorbell_page,
                doorbells <- kernel::new_mutex!(KVec::new()),
                state <- kernel::new_mutex!(State {
                    cmd,
                    evt,
                    contexts: Table::new(MAX_CONTEXTS),
                    connected: false,
                    broken: false,
                }),
            }),
            GFP_KERNEL,
        )?;
        backend.stats.add(Obj::Frontend, 1);
        Ok(fe)
    }

    /// The frontend rang doorbells: ring them on the real device right
    /// here, in the notifier's context (no request, no service thread).
    pub(crate) fn ring_doorbells(&self, stats: &Stats) {
        if let Some(page) = &self.doorbell_page {
            let table = self.doorbells.lock();
            page.take(|n| {
                match table.get(n as usize) {
                    Some(Some(d)) => {
                        d.dev_qp.kick();
                        stats.doorbell();
                    }
                    // A bit that names no QP of this frontend.
                    _ => stats.bad_request(),
                }
            });
        }
    }

    /// A QP was created: let its doorbell (its `user_handle`) reach it.
    fn bind_doorbell(&self, backend: &Backend, ctx: u32, qp: u32, qpn: u32, user_handle: u64) {
        let Ok(n) = usize::try_from(user_handle) else {
            return;
        };
        if self.doorbell_page.is_none() || n >= doorbell::MAX_DOORBELLS as usize {
            return;
        }
        let dev_qp = match backend.device.qp(qpn) {
            Ok(q) => q,
            Err(e) => {
                warn_ratelimited!("no doorbell for QP {}: {:?}\n", qpn, e);
                return;
            }
        };
        let mut table = self.doorbells.lock();
        while table.len() <= n {
            if table.push(None, GFP_KERNEL).is_err() {
                return;
            }
        }
        // A number reused by the frontend replaces the old binding.
        table[n] = Some(Doorbell { ctx, qp, dev_qp });
    }

    /// Drops the doorbells of `ctx` (of its QP `qp` only, if given). Must
    /// precede the QPs' destruction, which waits for our references.
    fn unbind_doorbells(&self, ctx: u32, qp: Option<u32>) {
        for slot in self.doorbells.lock().iter_mut() {
            if slot
                .as_ref()
                .is_some_and(|d| d.ctx == ctx && qp.is_none_or(|q| d.qp == q))
            {
                *slot = None;
            }
        }
    }

    /// Drops every doorbell (the real device is going away).
    pub(crate) fn unbind_all_doorbells(&self) {
        *self.doorbells.lock() = KVec::new();
    }

    /// The frontend notified us: have a service thread look at it.
    pub(crate) fn kick(&self) {
        self.pending.store(true, Ordering::Release);
        if let Some(b) = Backend::get() {
            b.wake();
        }
    }

    /// Claims the pending work, if any.
    pub(crate) fn take_pending(&self) -> bool {
        self.pending.swap(false, Ordering::AcqRel)
    }

    /// Whether requests wait on the ring (a hint, for the polling
    /// service; takes no lock). Never for a frontend that broke the
    /// protocol: the service would spin on it.
    pub(crate) fn has_requests(&self) -> bool {
        !self.broken.load(Ordering::Acquire)
            && requests_beyond(&self.cmd_peek, self.served_to.load(Ordering::Acquire))
    }

    /// Whether the frontend notifies us of new requests.
    pub(crate) fn is_armed(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }

    /// Asks the frontend to notify us of new requests again (the service
    /// stops polling); if some came meanwhile, marks them pending.
    pub(crate) fn arm(&self) {
        let mut st = self.state.lock();
        self.armed.store(true, Ordering::Release);
        if st.cmd.final_check_for_requests() {
            self.pending.store(true, Ordering::Release);
        }
    }

    /// Serves up to `BUDGET` requests. Returns whether more may be queued.
    /// Without a service (`svc` is `None`: the backend is being unloaded)
    /// every request is answered with `ENODEV`. If `polling`, the service
    /// will look at the ring again soon: the frontend is asked not to
    /// notify us of new requests until `arm`.
    pub(crate) fn serve(&self, svc: Option<&Service>, backend: &Backend, polling: bool) -> bool {
        let mut st = self.state.lock();
        if st.broken {
            return false;
        }
        let mut more = false;
        let mut slot: Slot = [0; SLOT_SIZE];
        for _ in 0..BUDGET {
            match st.cmd.take_request(&mut slot) {
                Ok(Some(())) => {}
                Ok(None) if polling => {
                    st.cmd.disarm_requests();
                    self.armed.store(false, Ordering::Release);
                    break;
                }
                Ok(None) => {
                    if st.cmd.final_check_for_requests() {
                        continue;
                    }
                    break;
                }
                Err(_) => {
                    backend.stats.bad_request();
                    warn_ratelimited!("frontend broke the ring protocol; disconnecting it\n");
                    st.broken = true;
                    break;
                }
            }
            let Some((id, rsp)) = self.handle(&mut st, svc, backend, &slot) else {
                // Not even a header we can answer: every request needs a
                // response (ring.h), so the ring is out of step for good.
                warn_ratelimited!("unanswerable request from frontend; disconnecting it\n");
                st.broken = true;
                break;
            };
            let mut out: Slot = [0; SLOT_SIZE];
            rsp.encode(id, &mut out);
            if st.cmd.push_response(&out).is_err() {
                st.broken = true;
                break;
            }
            more = true;
        }
        let mut notify = st.cmd.push_responses_and_check_notify();
        if let Some(svc) = svc {
            notify |= Self::pump_events(&mut st, svc);
        }
        // For `has_requests`, once the ring and the event ring are done
        // with (either may find the frontend broken).
        self.served_to.store(st.cmd.req_cons(), Ordering::Release);
        self.broken.store(st.broken, Ordering::Release);
        if notify {
            self.transport.notify();
        }
        more && !st.broken
    }

    /// Moves completion and asynchronous events from the contexts' event
    /// files onto the event ring, as far as it has room; the rest wait in
    /// the files (the frontend's acknowledgement brings us back). Returns
    /// whether to notify.
    fn pump_events(st: &mut State, svc: &Service) -> bool {
        if st.evt.discard_responses().is_err() {
            st.broken = true;
            return false;
        }
        let State { evt, contexts, .. } = st;
        let mut pushed = false;
        let mut push = |evt: &mut FrontRing<RawMem>, ev: Event| {
            let mut slot: Slot = [0; SLOT_SIZE];
            ev.encode(0, &mut slot);
            pushed |= evt.push_request(&slot).is_ok();
        };
        for (i, ctx) in contexts.iter_mut_indexed() {
            let ctx_h = CtxHandle(i as u32);
            while !evt.is_full() {
                let Ok(Some(user_handle)) = ctx.comp.next(svc) else {
                    break;
                };
                push(
                    evt,
                    Event::Comp(CompEvent {
                        user_handle,
                        ctx: ctx_h,
                        cq: CqHandle(0),
                    }),
                );
            }
            while !evt.is_full() {
                let Ok(Some(d)) = ctx.async_events.next(svc) else {
                    break;
                };
                let Some(kind) = async_kind(d.event_type) else {
                    continue;
                };
                let ev = AsyncEvent {
                    user_handle: d.element,
                    ctx: ctx_h,
                    handle: 0,
                    event_type: d.event_type,
                    kind,
                };
                push(evt, Event::Async(ev));
            }
        }
        pushed && evt.push_requests_and_check_notify()
    }
    /// Decodes and executes one request; returns its response, if the
    /// request was well-formed enough to say which one it answers.
    fn handle(
        &self,
        st: &mut State,
        svc: Option<&Service>,
        backend: &Backend,
        slot: &Slot,
    ) -> Option<(u64, Response)> {
        let (id, req) = match Request::decode(slot) {
            Ok(r) => r,
            Err(e) => {
                backend.stats.bad_request();
                warn_ratelimited!("bad request from frontend: {:?}\n", e);
                // Answer if the header says which request this was.
                let (id, op, _) = Request::peek(slot)?;
                return Some((id, Response::error(op, e.to_errno())));
            }
        };
        let op = req.op();
        let start = now_ns();
        let result = match svc {
            None => Err(ENODEV),
            Some(_) if !st.connected && !matches!(req, Request::Hello(_)) => Err(eproto()),
            Some(svc) => self.execute(st, svc, backend, &req),
        };
        backend
            .stats
            .request(op, result.is_ok(), (now_ns() - start) as u64);
        let rsp = match result {
            Ok(r) => r,
            Err(e) => Response::error(op, e.to_errno()),
        };
        // A NO_REPLY request (the kick) still gets a response: in ring.h
        // only a response frees a request slot. Nobody waits for it.
        Some((id, rsp))
    }

    fn execute(
        &self,
        st: &mut State,
        svc: &Service,
        backend: &Backend,
        req: &Request,
    ) -> Result<Response> {
        let dev = &backend.device;
        let stats = &backend.stats;
        let tr = &self.transport;
        let ok = |b: RspBody| Ok(Response::Ok(b));
        // Context-scoped requests: find the context first.
        let ctx_of = |st: &mut State, h: CtxHandle| -> Result<*mut Context> {
            st.contexts
                .get_mut(h.0 as usize)
                .map(|c| c as *mut Context)
                .ok_or(EBADF)
        };
        macro_rules! ctx {
            ($h:expr) => {{
                let p = ctx_of(st, $h)?;
                // SAFETY: `p` points into `st.contexts`, which is not
                // touched again while this borrow lives.
                unsafe { &mut *p }
            }};
        }
        match req {
            Request::Hello(h) => {
                let rsp = hello_response(h, PROTOCOL_VERSION, PROTOCOL_VERSION, SUPPORTED_FEATURES);
                st.connected = rsp.status() == 0;
                Ok(rsp)
            }
            Request::QueryDevice(_) => ok(RspBody::QueryDevice(dev.query_device()?)),
            Request::QueryPort(r) => ok(RspBody::QueryPort(dev.query_port(r)?)),
            Request::QueryGid(r) => ok(RspBody::QueryGid(dev.query_gid(r)?)),
            Request::QueryPkey(r) => ok(RspBody::QueryPkey(dev.query_pkey(r)?)),
            Request::OpenContext(r) => {
                if backend.device_gone() {
                    return Err(ENODEV);
                }
                st.contexts.reserve()?;
                let (c, mut rsp) =
                    context::open(svc, svc.uverbs_path(), r, self as *const Frontend)?;
                rsp.ctx = CtxHandle(st.contexts.insert(c)? as u32);
                stats.add(Obj::Context, 1);
                ok(RspBody::OpenContext(rsp))
            }
            Request::CloseContext(r) => {
                let c = st.contexts.remove(r.ctx.0 as usize).ok_or(EBADF)?;
                self.unbind_doorbells(r.ctx.0, None);
                close_context(c, svc, tr, stats);
                ok(RspBody::CloseContext(Default::default()))
            }
            Request::AllocPd(r) => ok(RspBody::AllocPd(pd::alloc(ctx!(r.ctx), svc, r)?)),
            Request::DeallocPd(r) => ok(RspBody::DeallocPd(
                pd::dealloc(ctx!(r.ctx), svc, r).map(|_| Default::default())?,
            )),
            Request::RegMr(r) => {
                st.check_mr_budget(r.nr_pages)?;
                ok(RspBody::RegMr(mr::reg(ctx!(r.ctx), svc, tr, stats, r)?))
            }
            Request::ReregMr(r) => {
                st.check_mr_budget(r.nr_pages)?;
                ok(RspBody::ReregMr(mr::rereg(ctx!(r.ctx), svc, tr, r)?))
            }
            Request::DeregMr(r) => ok(RspBody::DeregMr(
                mr::dereg(ctx!(r.ctx), svc, stats, r).map(|_| Default::default())?,
            )),
            Request::CreateCq(r) => ok(RspBody::CreateCq(cq::create(ctx!(r.ctx), svc, r)?)),
            Request::ResizeCq(r) => ok(RspBody::ResizeCq(cq::resize(ctx!(r.ctx), svc, r)?)),
            Request::DestroyCq(r) => ok(RspBody::DestroyCq(
                cq::destroy(ctx!(r.ctx), svc, r).map(|_| Default::default())?,
            )),
            Request::ReqNotifyCq(r) => ok(RspBody::ReqNotifyCq(
                cq::req_notify(ctx!(r.ctx), svc, r).map(|_| Default::default())?,
            )),
            Request::CreateQp(r) => {
                let rsp = qp::create(ctx!(r.ctx), svc, r)?;
                self.bind_doorbell(backend, r.ctx.0, rsp.qp.0, rsp.qpn, r.user_handle);
                ok(RspBody::CreateQp(rsp))
            }
            Request::ModifyQp(r) => ok(RspBody::ModifyQp(
                qp::modify(ctx!(r.ctx), svc, r).map(|_| Default::default())?,
            )),
            Request::QueryQp(r) => ok(RspBody::QueryQp(qp::query(ctx!(r.ctx), svc, r)?)),
            Request::DestroyQp(r) => {
                self.unbind_doorbells(r.ctx.0, Some(r.qp.0));
                qp::destroy(ctx!(r.ctx), svc, r)?;
                ok(RspBody::DestroyQp(Default::default()))
            }
            Request::Kick(r) => ok(RspBody::Kick(
                qp::kick(ctx!(r.ctx), svc, r).map(|_| Default::default())?,
            )),
            Request::CreateSrq(r) => ok(RspBody::CreateSrq(srq::create(ctx!(r.ctx), svc, r)?)),
            Request::ModifySrq(r) => ok(RspBody::ModifySrq(
                srq::modify(ctx!(r.ctx), svc, r).map(|_| Default::default())?,
            )),
            Request::QuerySrq(r) => ok(RspBody::QuerySrq(srq::query(ctx!(r.ctx), svc, r)?)),
            Request::DestroySrq(r) => ok(RspBody::DestroySrq(
                srq::destroy(ctx!(r.ctx), svc, r).map(|_| Default::default())?,
            )),
            Request::CreateAh(r) => ok(RspBody::CreateAh(ah::create(ctx!(r.ctx), svc, r)?)),
            Request::DestroyAh(r) => ok(RspBody::DestroyAh(
                ah::destroy(ctx!(r.ctx), svc, r).map(|_| Default::default())?,
            )),
            Request::AttachMcast(r) => ok(RspBody::AttachMcast(
                ah::mcast(ctx!(r.ctx), svc, r, true).map(|_| Default::default())?,
            )),
            Request::DetachMcast(r) => ok(RspBody::DetachMcast(
                ah::mcast(ctx!(r.ctx), svc, r, false).map(|_| Default::default())?,
            )),
            Request::Mmap(r) => ok(RspBody::Mmap(mmap::mmap(ctx!(r.ctx), svc, tr, stats, r)?)),
            Request::Munmap(r) => ok(RspBody::Munmap(
                mmap::munmap(ctx!(r.ctx), svc, tr, stats, r).map(|_| Default::default())?,
            )),
        }
    }

    /// Tells the frontend its device is gone (the real device was
    /// removed). It stops using it; its contexts here are already dead.
    pub(crate) fn send_device_removed(&self) {
        let mut st = self.state.lock();
        let mut slot: Slot = [0; SLOT_SIZE];
        if st.evt.discard_responses().is_err() || st.evt.is_full() {
            return;
        }
        Event::DeviceRemoved.encode(0, &mut slot);
        if st.evt.push_request(&slot).is_ok() && st.evt.push_requests_and_check_notify() {
            drop(st);
            self.transport.notify();
        }
    }

    /// Releases every context; runs in the service process.
    pub(crate) fn close_all(&self, svc: &Service, backend: &Backend) {
        self.unbind_all_doorbells();
        let mut st = self.state.lock();
        for c in st.contexts.drain() {
            close_context(c, svc, &self.transport, &backend.stats);
        }
    }
}

/// Closes a context: unmaps what the guest shared and closes the uverbs
/// file, which destroys every object in it.
fn close_context(c: Context, svc: &Service, tr: &Transport, stats: &Stats) {
    let Context {
        file,
        comp,
        async_events,
        mrs,
        mut mmaps,
        mr_pages: _,
    } = c;
    // Our mappings of the driver's queues hold references on the uverbs
    // file: drop them first, so that closing the file below is the final
    // reference and releases it now (a final fput from this task would be
    // deferred to its return to user space, which a service never makes).
    for region in mmaps.drain() {
        region.release(svc, tr, stats);
    }
    // Then the driver's objects, which unpins the guest's pages, which can
    // then be unmapped.
    drop(file);
    drop(comp);
    drop(async_events);
    stats.add(Obj::Mr, -(mrs.len() as i64));
    drop(mrs);
    stats.add(Obj::Context, -1);
}

/// What an `enum ib_event_type` is about (and so what its element names).
fn async_kind(event_type: u32) -> Option<AsyncObj> {
    Some(match event_type {
        sys::ib_event_type_IB_EVENT_CQ_ERR => AsyncObj::Cq,
        sys::ib_event_type_IB_EVENT_QP_FATAL
        | sys::ib_event_type_IB_EVENT_QP_REQ_ERR
        | sys::ib_event_type_IB_EVENT_QP_ACCESS_ERR
        | sys::ib_event_type_IB_EVENT_COMM_EST
        | sys::ib_event_type_IB_EVENT_SQ_DRAINED
        | sys::ib_event_type_IB_EVENT_PATH_MIG
        | sys::ib_event_type_IB_EVENT_PATH_MIG_ERR
        | sys::ib_event_type_IB_EVENT_QP_LAST_WQE_REACHED => AsyncObj::Qp,
        sys::ib_event_type_IB_EVENT_SRQ_ERR | sys::ib_event_type_IB_EVENT_SRQ_LIMIT_REACHED => {
            AsyncObj::Srq
        }
        sys::ib_event_type_IB_EVENT_DEVICE_FATAL => AsyncObj::Device,
        sys::ib_event_type_IB_EVENT_PORT_ACTIVE
        | sys::ib_event_type_IB_EVENT_PORT_ERR
        | sys::ib_event_type_IB_EVENT_LID_CHANGE
        | sys::ib_event_type_IB_EVENT_PKEY_CHANGE
        | sys::ib_event_type_IB_EVENT_SM_CHANGE
        | sys::ib_event_type_IB_EVENT_CLIENT_REREGISTER
        | sys::ib_event_type_IB_EVENT_GID_CHANGE => AsyncObj::Port,
        _ => return None,
    })
}
