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

use crate::context::Context;
use crate::server::{ContextServer, Job};
use crate::device::QpRef;
use crate::doorbell_page::DoorbellPage;
use crate::poll::now_ns;
use crate::policy::{Policy, MAX_ADDRESS_TEXT};
use crate::quota::{Kind, Pages, Quota};
use crate::shmem::RawMem;
use crate::stats::{Obj, Stats};
use crate::table::Table;
use crate::transport::Transport;
use crate::uverbs::Service;
use crate::wire::doorbell;
use crate::provider::{queue_regions, QueueVerb};
use crate::wire::{
    hello_response, requests_beyond, AsyncEvent, AsyncObj, BackRing, CompEvent, CqHandle,
    CtxHandle, Event, FrontRing, QueueMaps, Request, Response, RspBody, Slot, FEATURE_FAULT_IN,
    PROTOCOL_VERSION, SLOT_SIZE, SUPPORTED_FEATURES,
};
use crate::{ah, caps, cq, mmap, mr, mw, pd, qp, srq, sys, Backend};

/// Contexts (guest processes using the device) per frontend.
const MAX_CONTEXTS: usize = 256;
/// QPs one frontend may hold, whatever its quota (which bounds it first).
const MAX_QPS: usize = 1 << 20;
/// Requests handled per turn before other frontends get theirs.
const BUDGET: usize = 64;

struct State {
    cmd: BackRing<RawMem>,
    /// Completion events for the guest's CQs.
    evt: FrontRing<RawMem>,
    /// The contexts, each served by a process of its own (`server.rs`).
    contexts: Table<Arc<ContextServer>>,
    /// Bumped for every context opened: a handle names slot and
    /// generation, so a stale handle never reaches a newer context.
    generation: u32,
    /// Hello negotiated.
    connected: bool,
    /// The frontend broke the ring protocol: stop serving it.
    broken: bool,
}

/// A QP whose send doorbell the frontend may ring in the doorbell page.
struct Doorbell {
    ctx: CtxHandle,
    qp: u32,
    dev_qp: QpRef,
}

/// Slot bits of a context handle; the generation is above them.
const CTX_SLOT_BITS: u32 = 16;

impl State {
    fn forget(&mut self, server: &Arc<ContextServer>) {
        let slot = (server.handle.0 & ((1 << CTX_SLOT_BITS) - 1)) as usize;
        if self.contexts.get(slot).is_some_and(|s| Arc::ptr_eq(s, server)) {
            self.contexts.remove(slot);
        }
    }

    /// The server of the context `h` names, if it is still that one.
    fn server(&self, h: CtxHandle) -> Option<&Arc<ContextServer>> {
        let slot = (h.0 & ((1 << CTX_SLOT_BITS) - 1)) as usize;
        self.contexts.get(slot).filter(|s| s.handle == h)
    }
}

/// What the dispatcher did with a request.
enum Dispatched {
    /// Answered here.
    Done(Result<Response>),
    /// Queued for its context's server, which answers it.
    Queued,
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
    /// The dispatcher has cut the broken frontend off (`Backend::cut_off`).
    cut_off: AtomicBool,
    /// Guest pages this frontend's MRs have mapped, in all contexts.
    mr_pages: Pages,
    /// Objects this frontend holds, against its quotas.
    pub(crate) quota: Quota,
    /// What the guest may name: its addresses, partition, QKeys, QP types.
    policy: Policy,
    /// The frontend takes `Response::Fault` (negotiated in `Hello`).
    fault_in: AtomicBool,
    /// `State::connected`, for `kick`.
    connected: AtomicBool,
    /// Whether the frontend was asked to notify us of new requests; not
    /// while the service polls for them (`serve`, `arm`).
    armed: AtomicBool,
    /// The frontend's doorbell page, if it has one.
    doorbell_page: Option<DoorbellPage>,
    /// Doorbell number (the QP's `user_handle`) to QP.
    #[pin]
    doorbells: Mutex<KVec<Option<Doorbell>>>,
    /// The guest's QPs, by context, handle and number: those its rdma_cm
    /// connections may advertise (`owns_qpn`).
    #[pin]
    qps: Mutex<Table<(CtxHandle, u32, u32)>>,
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
        let policy = guest_policy(&transport)?;
        let fe = Arc::pin_init(
            pin_init!(Self {
                transport,
                pending: AtomicBool::new(false),
                cmd_peek,
                served_to,
                broken: AtomicBool::new(false),
                cut_off: AtomicBool::new(false),
                mr_pages: Pages::new(),
                quota: Quota::new(),
                policy,
                fault_in: AtomicBool::new(false),
                connected: AtomicBool::new(false),
                armed: AtomicBool::new(true),
                doorbell_page,
                doorbells <- kernel::new_mutex!(KVec::new()),
                qps <- kernel::new_mutex!(Table::new(MAX_QPS)),
                state <- kernel::new_mutex!(State {
                    cmd,
                    evt,
                    contexts: Table::new(MAX_CONTEXTS),
                    generation: 0,
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
    fn bind_doorbell(
        &self,
        backend: &Backend,
        ctx: CtxHandle,
        qp: u32,
        qpn: u32,
        user_handle: u64,
    ) {
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
    pub(crate) fn unbind_doorbells(&self, ctx: CtxHandle, qp: Option<u32>) {
        for slot in self.doorbells.lock().iter_mut() {
            if slot
                .as_ref()
                .is_some_and(|d| d.ctx == ctx && qp.is_none_or(|q| d.qp == q))
            {
                *slot = None;
            }
        }
    }

    /// What the guest may name.
    pub(crate) fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether QP number `qpn` is one of the guest's.
    pub(crate) fn owns_qpn(&self, qpn: u32) -> bool {
        self.qps.lock().iter().any(|&(_, _, n)| n == qpn)
    }

    fn record_qp(&self, ctx: CtxHandle, qp: u32, qpn: u32) -> Result {
        self.qps.lock().insert((ctx, qp, qpn)).map(|_| ())
    }

    /// Forgets the QPs of `ctx` (its QP `qp` only, if given).
    pub(crate) fn forget_qps(&self, ctx: CtxHandle, qp: Option<u32>) {
        let mut qps = self.qps.lock();
        // One pass over the table, not one per QP: a context may hold
        // thousands.
        let mut from = 0;
        while let Some(i) =
            qps.position_from(from, |&(c, h, _)| c == ctx && qp.is_none_or(|q| q == h))
        {
            qps.remove(i);
            from = i;
        }
    }

    /// The server of the guest's context or cm file `h`.
    pub(crate) fn server_of(&self, h: CtxHandle) -> Option<Arc<ContextServer>> {
        self.state.lock().server(h).cloned()
    }

    /// Drops every doorbell (the real device is going away).
    pub(crate) fn unbind_all_doorbells(&self) {
        *self.doorbells.lock() = KVec::new();
    }

    /// The frontend notified us. If the next request is for a context
    /// whose server sleeps, that server is woken to take the ring itself
    /// (it dispatches exactly as the dispatcher would): one wake-up per
    /// request instead of two. Otherwise the dispatcher is woken. Without
    /// a dispatcher (the daemon has stopped), a connected frontend's
    /// requests are refused right here, so that no guest process waits
    /// for an answer that cannot come; the handshake waits for one.
    pub(crate) fn kick(&self) {
        if self.route_to_server() {
            return;
        }
        self.pending.store(true, Ordering::Release);
        if let Some(b) = Backend::get() {
            if !b.wake() {
                self.refuse_all_if_connected(b);
            }
        }
    }

    /// Leaves the frontend's remaining requests to the dispatcher.
    pub(crate) fn kick_dispatcher(&self, backend: &Backend) {
        self.pending.store(true, Ordering::Release);
        backend.wake();
    }

    /// Wakes the sleeping server of the context the next request names,
    /// if there is one, to serve the ring. The request is only peeked at
    /// (a hint): whoever takes it copies it out and validates it.
    #[inline(never)]
    fn route_to_server(&self) -> bool {
        let mut slot: Slot = [0; SLOT_SIZE];
        let server = {
            let st = self.state.lock();
            if st.broken || !st.connected || !matches!(st.cmd.peek_request(&mut slot), Ok(Some(()))) {
                return false;
            }
            let Some(h) = Request::decode(&slot).ok().and_then(|(_, r)| r.ctx()) else {
                return false;
            };
            match st.server(h) {
                Some(s) => s.clone(),
                None => return false,
            }
        };
        server.wake_to_serve_ring()
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

    /// Asks the frontend not to notify us of new requests: someone polls
    /// its ring (and calls `arm` when it stops).
    pub(crate) fn disarm(&self) {
        let mut st = self.state.lock();
        st.cmd.disarm_requests();
        self.armed.store(false, Ordering::Release);
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

    /// Serves up to `BUDGET` requests: answers those about the frontend
    /// itself and queues the rest on their contexts' servers. Returns
    /// whether the budget ran out (more may be queued). If `polling`, the service will look at
    /// the ring again soon: the frontend is asked not to notify us of new
    /// requests until `arm`.
    pub(crate) fn serve(&self, backend: &Backend, polling: bool) -> bool {
        self.serve_as(true, backend, polling)
    }

    /// Requests taken off the ring so far (a wrapping count).
    pub(crate) fn taken(&self) -> u32 {
        self.served_to.load(Ordering::Acquire)
    }

    /// Answers every request with `ENODEV`: no dispatcher runs (the
    /// daemon has stopped, or the backend is being unloaded).
    pub(crate) fn refuse_all(&self, backend: &Backend) -> bool {
        self.serve_as(false, backend, false)
    }

    /// `refuse_all`, unless the frontend has not even shaken hands: then
    /// it waits for a dispatcher.
    pub(crate) fn refuse_all_if_connected(&self, backend: &Backend) {
        if self.connected.load(Ordering::Acquire) {
            self.take_pending();
            self.refuse_all(backend);
        }
    }

    fn serve_as(&self, serving: bool, backend: &Backend, polling: bool) -> bool {
        let mut st = self.state.lock();
        if st.broken {
            return false;
        }
        let mut taken = 0;
        let mut slot: Slot = [0; SLOT_SIZE];
        while taken < BUDGET {
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
                    warn_ratelimited!("{}: broke the ring protocol; disconnecting it\n", self.name());
                    self.break_off(&mut st);
                    break;
                }
            }
            taken += 1;
            let Some((id, rsp)) = self.handle(serving, &mut st, backend, &slot) else {
                // Not even a header we can answer: every request needs a
                // response (ring.h), so the ring is out of step for good.
                warn_ratelimited!("{}: unanswerable request; disconnecting it\n", self.name());
                self.break_off(&mut st);
                break;
            };
            let Some(rsp) = rsp else {
                continue;
            };
            let mut out: Slot = [0; SLOT_SIZE];
            rsp.encode(id, &mut out);
            if st.cmd.push_response(&out).is_err() {
                self.break_off(&mut st);
                break;
            }
        }
        let notify = st.cmd.push_responses_and_check_notify();
        // The frontend may have made room on the event ring: servers that
        // found it full try again.
        if st.evt.discard_responses().is_err() {
            self.break_off(&mut st);
        }
        if !st.evt.is_full() {
            for s in st.contexts.iter() {
                if s.events_stalled.swap(false, Ordering::AcqRel) {
                    s.events_ready();
                }
            }
        }
        // For `has_requests`, once the ring and the event ring are done
        // with (either may find the frontend broken).
        self.served_to.store(st.cmd.req_cons(), Ordering::Release);
        drop(st);
        if notify {
            self.transport.notify();
        }
        taken == BUDGET && !self.broken.load(Ordering::Acquire)
    }

    /// The frontend broke the protocol (its indices, or a request with no
    /// header to answer): it gets no more service, and the dispatcher
    /// cuts it off (`Backend::cut_off`). Lock order: ours, then the
    /// backend's (`wake`).
    fn break_off(&self, st: &mut State) {
        st.broken = true;
        self.broken.store(true, Ordering::Release);
        self.pending.store(true, Ordering::Release);
        if let Some(b) = Backend::get() {
            b.wake();
        }
    }

    /// Whether the frontend broke the protocol and is still to be cut off;
    /// true once (the caller cuts it off).
    pub(crate) fn take_cut_off(&self) -> bool {
        self.broken.load(Ordering::Acquire) && !self.cut_off.swap(true, Ordering::AcqRel)
    }

    /// Answers request `id`; called by context servers.
    pub(crate) fn respond(&self, id: u64, rsp: &Response) {
        let mut out: Slot = [0; SLOT_SIZE];
        rsp.encode(id, &mut out);
        let mut st = self.state.lock();
        if st.broken {
            return;
        }
        if st.cmd.push_response(&out).is_err() {
            self.break_off(&mut st);
            return;
        }
        let notify = st.cmd.push_responses_and_check_notify();
        drop(st);
        if notify {
            self.transport.notify();
        }
    }

    /// Whether the frontend fetches the guest pages a verb faults on.
    pub(crate) fn fault_in(&self) -> bool {
        self.fault_in.load(Ordering::Acquire)
    }

    /// Who this frontend is, for log lines.
    pub(crate) fn name(&self) -> FrontendName {
        FrontendName(self.transport.domid())
    }

    /// Moves completion and asynchronous events from one context's event
    /// files onto the event ring, as far as it has room; the rest wait in
    /// the files (the frontend's acknowledgement brings us back, `serve`).
    /// Runs in the context's server.
    pub(crate) fn pump_events(&self, svc: &Service, server: &ContextServer, ctx: &Context) {
        let ctx_h = server.handle;
        let mut comp_done = false;
        self.pump(server, || {
            if !comp_done {
                match ctx.comp.next(svc) {
                    Ok(Some(user_handle)) => {
                        return Some(Some(Event::Comp(CompEvent {
                            user_handle,
                            ctx: ctx_h,
                            cq: CqHandle(0),
                        })))
                    }
                    _ => comp_done = true,
                }
            }
            let Ok(Some(d)) = ctx.async_events.next(svc) else {
                return None;
            };
            // An event of a kind we do not forward is skipped.
            Some(async_kind(d.event_type).map(|kind| {
                Event::Async(AsyncEvent {
                    user_handle: d.element,
                    ctx: ctx_h,
                    handle: 0,
                    event_type: d.event_type,
                    kind,
                })
            }))
        });
    }

    /// Moves rdma_cm events from a cm file onto the event ring, as
    /// `pump_events` does. Runs in the file's server.
    pub(crate) fn pump_cm_events(
        &self,
        svc: &Service,
        backend: &Backend,
        server: &ContextServer,
        f: &crate::cm::CmFile,
    ) {
        self.pump(server, || {
            let data = f.next_event(svc).ok()??;
            let ev = crate::cm::event(&backend.device, server.handle, data);
            if crate::cm::creates_id(&ev) {
                self.quota.add(Kind::CmId, 1);
                server.cm_ids.fetch_add(1, Ordering::AcqRel);
            }
            Some(Some(Event::Cm(ev)))
        });
    }

    /// Pushes the events `next` yields (`Some(None)`: one to skip) onto
    /// the event ring while it has room; the rest wait where they are
    /// (the frontend's acknowledgement brings us back, `serve`).
    fn pump(&self, server: &ContextServer, mut next: impl FnMut() -> Option<Option<Event>>) {
        let mut st = self.state.lock();
        if st.broken {
            return;
        }
        if st.evt.discard_responses().is_err() {
            self.break_off(&mut st);
            return;
        }
        let mut pushed = false;
        while !st.evt.is_full() {
            let Some(ev) = next() else {
                break;
            };
            let Some(ev) = ev else {
                continue;
            };
            let mut slot: Slot = [0; SLOT_SIZE];
            ev.encode(0, &mut slot);
            pushed |= st.evt.push_request(&slot).is_ok();
        }
        if st.evt.is_full() {
            server.events_stalled.store(true, Ordering::Release);
        }
        let notify = pushed && st.evt.push_requests_and_check_notify();
        drop(st);
        if notify {
            self.transport.notify();
        }
    }

    /// Decodes one request and answers or queues it; returns its id and
    /// its response if answered here, if the request was well-formed
    /// enough to say which one it is.
    fn handle(
        &self,
        serving: bool,
        st: &mut State,
        backend: &Backend,
        slot: &Slot,
    ) -> Option<(u64, Option<Response>)> {
        let (id, req) = match Request::decode(slot) {
            Ok(r) => r,
            Err(e) => {
                backend.stats.bad_request();
                warn_ratelimited!("{}: bad request: {:?}\n", self.name(), e);
                // Answer if the header says which request this was.
                let (id, op, _) = Request::peek(slot)?;
                return Some((id, Some(Response::error(op, e.to_errno()))));
            }
        };
        let op = req.op();
        let start = now_ns();
        let result = match req {
            _ if !serving => Dispatched::Done(Err(ENODEV)),
            Request::Hello(_) => Dispatched::Done(self.execute(st, backend, &req)),
            _ if !st.connected => Dispatched::Done(Err(eproto())),
            _ => match request_context(&req) {
                Some(h) => self.dispatch(st, backend, h, id, req),
                None => Dispatched::Done(self.execute(st, backend, &req)),
            },
        };
        let Dispatched::Done(result) = result else {
            return Some((id, None));
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
        Some((id, Some(rsp)))
    }

    /// Hands a context's request to the context's server.
    fn dispatch(
        &self,
        st: &mut State,
        backend: &Backend,
        h: ContextRef,
        id: u64,
        req: Request,
    ) -> Dispatched {
        let server = match h {
            ContextRef::New => match self.new_server(st, backend) {
                Ok(s) => s,
                Err(e) => return Dispatched::Done(Err(e)),
            },
            ContextRef::Existing(h) => match st.server(h) {
                Some(s) => s.clone(),
                None => return Dispatched::Done(Err(EBADF)),
            },
        };
        // A server that has stopped (signalled, or the device went) left
        // a dead context: closing it is all the guest can still do.
        let req = match server.queue(Job { id, req }) {
            Ok(()) => return Dispatched::Queued,
            Err(job) => job.req,
        };
        Dispatched::Done(match req {
            Request::CloseContext(_) => {
                st.forget(&server);
                Ok(Response::Ok(RspBody::CloseContext(Default::default())))
            }
            _ => Err(EIO),
        })
    }

    /// A new context: a server for it, waiting for a process.
    fn new_server(&self, st: &mut State, backend: &Backend) -> Result<Arc<ContextServer>> {
        if backend.device_gone() {
            return Err(ENODEV);
        }
        st.contexts.reserve()?;
        // The slot the next insert takes (`reserve` made sure there is one).
        let slot = st.contexts.next_free().ok_or(ENOSPC)?;
        st.generation = (st.generation + 1) & 0x7fff;
        let handle = CtxHandle(slot as u32 | (st.generation + 1) << CTX_SLOT_BITS);
        let server = ContextServer::new(handle)?;
        st.contexts.insert(server.clone())?;
        // The server's process will hold the frontend.
        let this = backend.frontend_arc(self).ok_or(ENODEV)?;
        if let Err(e) = backend.want_server(this, server.clone()) {
            st.contexts.remove(slot);
            return Err(e);
        }
        Ok(server)
    }

    /// Drops a server from the table (its context has closed).
    pub(crate) fn forget_server(&self, server: &Arc<ContextServer>) {
        self.state.lock().forget(server);
    }

    /// Requests about the frontend and the device, answered right here.
    fn execute(&self, st: &mut State, backend: &Backend, req: &Request) -> Result<Response> {
        let dev = &backend.device;
        let ok = |b: RspBody| Ok(Response::Ok(b));
        match req {
            Request::Hello(h) => {
                let rsp = hello_response(h, PROTOCOL_VERSION, PROTOCOL_VERSION, SUPPORTED_FEATURES);
                st.connected = rsp.status() == 0;
                self.connected.store(st.connected, Ordering::Release);
                if let Response::Ok(RspBody::Hello(r)) = &rsp {
                    self.fault_in
                        .store(r.features & FEATURE_FAULT_IN != 0, Ordering::Release);
                }
                Ok(rsp)
            }
            Request::QueryDevice(_) => {
                // Only what we serve (`caps.rs`); the guest's maxima are
                // its quotas, where lower.
                let mut a = caps::advertised(dev.query_device()?);
                a.max_pd = a.max_pd.min(Quota::limit(Kind::Pd));
                a.max_cq = a.max_cq.min(Quota::limit(Kind::Cq));
                a.max_qp = a.max_qp.min(Quota::limit(Kind::Qp));
                a.max_srq = a.max_srq.min(Quota::limit(Kind::Srq));
                a.max_ah = a.max_ah.min(Quota::limit(Kind::Ah));
                a.max_mr = a.max_mr.min(Quota::limit(Kind::Mr));
                a.max_mw = a.max_mw.min(Quota::limit(Kind::Mw));
                ok(RspBody::QueryDevice(a))
            }
            Request::QueryPort(r) => ok(RspBody::QueryPort(dev.query_port(r)?)),
            Request::QueryGid(r) => {
                let rsp = dev.query_gid(r)?;
                if rsp.valid && !self.policy.gid_visible(&rsp.gid, r.index) {
                    return Err(EPERM);
                }
                ok(RspBody::QueryGid(rsp))
            }
            Request::QueryPkey(r) => ok(RspBody::QueryPkey(dev.query_pkey(r)?)),
            _ => Err(EINVAL),
        }
    }

    /// Refuses a registration that would take the frontend's registered
    /// pages past its quota (`EDQUOT`), or all guests' past the driver
    /// domain's budget (`ENOSPC`); otherwise counts them in both.
    fn take_mr_pages(&self, backend: &Backend, nr_pages: u32) -> Result {
        let n = nr_pages as usize;
        if !self.mr_pages.take(n, Quota::mr_pages_limit()) {
            warn_ratelimited!(
                "{}: its quota of {} MiB of registered memory is used up\n",
                self.name(),
                Quota::mr_pages_limit() >> 8
            );
            return Err(crate::errno::edquot());
        }
        if !backend.mr_pages.take(n, Quota::total_mr_pages_limit()) {
            self.mr_pages.put(n);
            warn_ratelimited!(
                "{}: refused {} MiB: all guests' registered memory is at the limit of {} MiB\n",
                self.name(),
                n >> 8,
                Quota::total_mr_pages_limit() >> 8
            );
            return Err(ENOSPC);
        }
        Ok(())
    }

    fn put_mr_pages(&self, backend: &Backend, nr_pages: usize) {
        self.mr_pages.put(nr_pages);
        backend.mr_pages.put(nr_pages);
    }

    /// Runs a verb that may change the context's registered pages: up to
    /// `pages` more are taken from the budgets before, and what the
    /// context holds afterwards is what counts.
    fn budgeted(
        &self,
        backend: &Backend,
        c: &mut Context,
        pages: u32,
        f: impl FnOnce(&mut Context) -> Result<Response>,
    ) -> Result<Response> {
        self.take_mr_pages(backend, pages)?;
        let before = c.mr_pages;
        let r = f(c);
        self.mr_pages.add(c.mr_pages);
        backend.mr_pages.add(c.mr_pages);
        self.put_mr_pages(backend, pages as usize + before);
        r
    }

    /// Runs a verb that creates one object of `kind`, within the guest's
    /// quota.
    fn creating(
        &self,
        c: &mut Context,
        kind: Kind,
        f: impl FnOnce(&mut Context) -> Result<Response>,
    ) -> Result<Response> {
        self.quota.take(kind, &self.name())?;
        let r = f(c);
        match r {
            Ok(_) => c.held.add(kind),
            Err(_) => self.quota.put(kind, 1),
        }
        r
    }

    /// The queue regions of a new object, with their refs
    /// (`mmap::premap`); none for a driver whose response layout we do not
    /// know, or if the device is gone.
    fn premap(
        &self,
        svc: &Service,
        backend: &Backend,
        c: &mut Context,
        h: CtxHandle,
        verb: QueueVerb,
        udata: &crate::wire::Udata,
    ) -> QueueMaps {
        let Ok(driver) = backend.device.driver_id() else {
            return QueueMaps::default();
        };
        let regions = queue_regions(driver, verb, udata.as_slice());
        mmap::premap(c, svc, &self.transport, &backend.io, &backend.stats, h, &regions)
    }

    /// Runs a verb that destroys one object of `kind`.
    fn destroying(
        &self,
        c: &mut Context,
        kind: Kind,
        f: impl FnOnce(&mut Context) -> Result<Response>,
    ) -> Result<Response> {
        let r = f(c);
        if r.is_ok() && c.held.remove(kind) {
            self.quota.put(kind, 1);
        }
        r
    }

    /// Executes a context's request; in the context's server process.
    pub(crate) fn execute_in_context(
        &self,
        svc: &Service,
        backend: &Backend,
        c: &mut Context,
        h: CtxHandle,
        req: &Request,
    ) -> Result<Response> {
        let stats = &backend.stats;
        let tr = &self.transport;
        let ok = |b: RspBody| Ok(Response::Ok(b));
        match req {
            Request::AllocPd(r) => self.creating(c, Kind::Pd, |c| {
                ok(RspBody::AllocPd(pd::alloc(c, svc, r)?))
            }),
            Request::DeallocPd(r) => self.destroying(c, Kind::Pd, |c| {
                ok(RspBody::DeallocPd(
                    pd::dealloc(c, svc, r).map(|_| Default::default())?,
                ))
            }),
            Request::RegMr(r) => self.creating(c, Kind::Mr, |c| {
                self.budgeted(backend, c, r.nr_pages, |c| {
                    ok(RspBody::RegMr(mr::reg(c, svc, tr, stats, r)?))
                })
            }),
            Request::ReregMr(r) => self.budgeted(backend, c, r.nr_pages, |c| {
                ok(RspBody::ReregMr(mr::rereg(c, svc, tr, stats, r)?))
            }),
            Request::DeregMr(r) => self.destroying(c, Kind::Mr, |c| {
                self.budgeted(backend, c, 0, |c| {
                    ok(RspBody::DeregMr(
                        mr::dereg(c, svc, stats, r).map(|_| Default::default())?,
                    ))
                })
            }),
            Request::DeregMrKeep(r) => self.destroying(c, Kind::Mr, |c| {
                self.budgeted(backend, c, 0, |c| {
                    ok(RspBody::DeregMrKeep(mr::dereg_keep(c, svc, stats, r)?))
                })
            }),
            // The kept pages go with the request whatever its outcome,
            // also when the MR quota refuses it before `reg_cached` runs.
            Request::RegMrCached(r) => self.budgeted(backend, c, 0, |c| {
                let res = self.creating(c, Kind::Mr, |c| {
                    ok(RspBody::RegMrCached(mr::reg_cached(c, svc, tr, stats, r)?))
                });
                if matches!(res, Err(e) if e == crate::errno::edquot()) {
                    let kept = crate::wire::CachedReq { ctx: r.ctx, cache: r.cache };
                    let _ = mr::drop_cached(c, tr, stats, &kept);
                }
                res
            }),
            Request::DropCached(r) => self.budgeted(backend, c, 0, |c| {
                mr::drop_cached(c, tr, stats, r)?;
                ok(RspBody::DropCached(Default::default()))
            }),
            Request::AllocMw(r) => self.creating(c, Kind::Mw, |c| {
                let rsp = mw::alloc(c, svc, r)?;
                stats.add(Obj::Mw, 1);
                ok(RspBody::AllocMw(rsp))
            }),
            Request::DeallocMw(r) => self.destroying(c, Kind::Mw, |c| {
                mw::dealloc(c, svc, r)?;
                stats.add(Obj::Mw, -1);
                ok(RspBody::DeallocMw(Default::default()))
            }),
            Request::CreateCq(r) => self.creating(c, Kind::Cq, |c| {
                let mut rsp = cq::create(c, svc, r)?;
                rsp.queues = self.premap(svc, backend, c, h, QueueVerb::CreateCq, &rsp.udata);
                ok(RspBody::CreateCq(rsp))
            }),
            Request::ResizeCq(r) => ok(RspBody::ResizeCq(cq::resize(c, svc, r)?)),
            Request::DestroyCq(r) => self.destroying(c, Kind::Cq, |c| {
                ok(RspBody::DestroyCq(
                    cq::destroy(c, svc, r).map(|_| Default::default())?,
                ))
            }),
            Request::ReqNotifyCq(r) => ok(RspBody::ReqNotifyCq(
                cq::req_notify(c, svc, r).map(|_| Default::default())?,
            )),
            Request::CreateQp(r) => self.creating(c, Kind::Qp, |c| {
                self.policy.qp_type(&self.name(), r.qp_type)?;
                let mut rsp = qp::create(c, svc, r)?;
                if let Err(e) = self.record_qp(h, rsp.qp.0, rsp.qpn) {
                    let _ = qp::destroy(c, svc, &crate::wire::QpReq { ctx: h, qp: rsp.qp });
                    return Err(e);
                }
                self.bind_doorbell(backend, h, rsp.qp.0, rsp.qpn, r.user_handle);
                rsp.queues = self.premap(svc, backend, c, h, QueueVerb::CreateQp, &rsp.udata);
                ok(RspBody::CreateQp(rsp))
            }),
            Request::ModifyQp(r) => {
                let paths = self.policy.modify_qp(&backend.device, &self.name(), r)?;
                qp::modify(c, svc, r, &paths)?;
                ok(RspBody::ModifyQp(Default::default()))
            }
            Request::QueryQp(r) => ok(RspBody::QueryQp(qp::query(c, svc, &backend.device, r)?)),
            Request::DestroyQp(r) => self.destroying(c, Kind::Qp, |c| {
                self.unbind_doorbells(h, Some(r.qp.0));
                qp::destroy(c, svc, r)?;
                self.forget_qps(h, Some(r.qp.0));
                ok(RspBody::DestroyQp(Default::default()))
            }),
            Request::Kick(r) => ok(RspBody::Kick(
                qp::kick(c, svc, r).map(|_| Default::default())?,
            )),
            Request::CreateSrq(r) => self.creating(c, Kind::Srq, |c| {
                let mut rsp = srq::create(c, svc, r)?;
                rsp.queues = self.premap(svc, backend, c, h, QueueVerb::CreateSrq, &rsp.udata);
                ok(RspBody::CreateSrq(rsp))
            }),
            Request::ModifySrq(r) => ok(RspBody::ModifySrq(
                srq::modify(c, svc, r).map(|_| Default::default())?,
            )),
            Request::QuerySrq(r) => ok(RspBody::QuerySrq(srq::query(c, svc, r)?)),
            Request::DestroySrq(r) => self.destroying(c, Kind::Srq, |c| {
                ok(RspBody::DestroySrq(
                    srq::destroy(c, svc, r).map(|_| Default::default())?,
                ))
            }),
            Request::CreateAh(r) => self.creating(c, Kind::Ah, |c| {
                let addr = self.policy.address(&backend.device, &self.name(), &r.attr)?;
                ok(RspBody::CreateAh(ah::create(c, svc, r, &addr)?))
            }),
            Request::DestroyAh(r) => self.destroying(c, Kind::Ah, |c| {
                ok(RspBody::DestroyAh(
                    ah::destroy(c, svc, r).map(|_| Default::default())?,
                ))
            }),
            Request::AttachMcast(r) => ok(RspBody::AttachMcast(
                ah::mcast(c, svc, r, true).map(|_| Default::default())?,
            )),
            Request::DetachMcast(r) => ok(RspBody::DetachMcast(
                ah::mcast(c, svc, r, false).map(|_| Default::default())?,
            )),
            Request::Mmap(r) => ok(RspBody::Mmap(mmap::mmap(c, svc, tr, &backend.io, stats, r)?)),
            Request::MapIo(r) => ok(RspBody::MapIo(
                mmap::map_io(c, tr, r).map(|_| Default::default())?,
            )),
            Request::Munmap(r) => ok(RspBody::Munmap(
                mmap::munmap(c, svc, tr, stats, r).map(|_| Default::default())?,
            )),
            Request::MapPages(r) => ok(RspBody::MapPages(
                crate::server::map_faulted(c, svc, tr, stats, r).map(|_| Default::default())?,
            )),
            // Answered by the dispatcher or the server loop.
            _ => Err(EINVAL),
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

    /// Closes every context: each server releases its own, in its own
    /// process; returns once all have.
    pub(crate) fn close_all(&self) {
        self.unbind_all_doorbells();
        let servers = {
            let mut all = KVec::new();
            let st = self.state.lock();
            for s in st.contexts.iter() {
                if all.push(s.clone(), GFP_KERNEL).is_err() {
                    break;
                }
            }
            all
        };
        for s in servers.iter() {
            s.close_and_wait();
        }
        // Servers that were gone already leave their slots to us.
        let mut st = self.state.lock();
        for _ in st.contexts.drain() {}
    }

    /// Closes a context: unmaps what the guest shared and closes the
    /// uverbs file, which destroys every object in it. In its server.
    pub(crate) fn release_context(&self, mut c: Context, svc: &Service, backend: &Backend) {
        // Its objects go with it; so does the context itself.
        backend.stats.add(Obj::Mw, -i64::from(c.held.count(Kind::Mw)));
        c.held.give_back(&self.quota);
        self.quota.put(Kind::Context, 1);
        let pages = c.mr_pages;
        close_context(c, svc, &self.transport, &backend.stats);
        self.put_mr_pages(backend, pages);
    }
}

/// The guest's policy, from the addresses its transport names; a list we
/// cannot read refuses the connection (the admin's input is wrong).
fn guest_policy(tr: &Transport) -> Result<Policy> {
    let mut text = [0u8; MAX_ADDRESS_TEXT + 1];
    let who = FrontendName(tr.domid());
    let r = tr
        .rdma_addresses(&mut text)
        .and_then(|n| Policy::parse(&text[..n]));
    match &r {
        Ok(p) if !p.addresses().is_empty() => {
            pr_info!("{}: RDMA addresses {}\n", who, p.addresses().len())
        }
        Ok(_) => (),
        Err(e) => pr_err!("{}: bad RDMA address list (rdma-ip): {:?}\n", who, e),
    }
    r
}

/// Names a frontend in log lines: "domain N", or "loopback".
pub(crate) struct FrontendName(Option<u16>);

impl FrontendName {
    /// The frontend at the other end of `transport`.
    pub(crate) fn of(transport: &Transport) -> Self {
        Self(transport.domid())
    }
}

impl core::fmt::Display for FrontendName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(d) => write!(f, "domain {}", d),
            None => f.write_str("loopback frontend"),
        }
    }
}

/// The context a request is about.
enum ContextRef {
    /// `OpenContext`: one still to be made.
    New,
    Existing(CtxHandle),
}

/// Which context a request belongs to; `None` for those about the
/// frontend or the device.
fn request_context(req: &Request) -> Option<ContextRef> {
    match req {
        Request::OpenContext(_) | Request::CmOpen(_) => Some(ContextRef::New),
        _ => req.ctx().map(ContextRef::Existing),
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
        kept,
        mut mmaps,
        mr_pages: _,
        fetched,
        held: _,
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
    stats.add(Obj::Cached, -(kept.len() as i64));
    drop(kept);
    stats.add(Obj::Fetched, -(fetched.len() as i64));
    drop(fetched);
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
