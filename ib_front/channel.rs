// SPDX-License-Identifier: GPL-2.0

//! Requests to the backend and their responses, over the command ring;
//! unsolicited events from the backend, over the event ring.
//!
//! Any number of verbs may be in flight: each waits for the response that
//! carries its request id. Responses are read in `on_notify`, which the
//! transport calls when the backend signals us.
//!
//! Lock order: `Channel::state` is never held while calling into the
//! backend (`Transport::notify`), which may call back into `on_notify`.

use crate::errno::{eproto, etimedout};
use crate::poll::{now_ns, PerOp};
use crate::sys::warn_ratelimited;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::sync::{Arc, CondVar, Mutex};

use crate::mmap::Mappings;
use crate::regcache::{Cached, RegCache, MAX_CACHED};

use crate::shmem::{RawMem, SharedMem};
use crate::sys;
use crate::table::Table;
use crate::transport::Transport;
use crate::wire::doorbell;
use crate::wire::{
    init_shared, AsyncEvent, AsyncObj, BackRing, CachedReq, CtxHandle, Event, FaultPages, FrontRing,
    GrantRef, MapPagesReq, MunmapReq, Op, PageGrant, PageGrants, Request, Response, RspBody, Slot,
    FEATURE_MR_TWO_LEVEL, MAX_FAULT_PAGES, MAX_MR_PAGES, MAX_MR_PAGES_ONE_LEVEL, PAGE_SIZE,
    PAGE_WRITE, SLOT_SIZE,
};

/// Requests awaiting a response at once.
const MAX_OUTSTANDING: usize = 64;
/// CQs, QPs and SRQs of all processes on this device.
const MAX_OBJECTS: usize = 1 << 18;
/// Pages of processes lent to the backend because a verb touched them
/// (`fault_in`), on this device.
const MAX_FETCHED: usize = 4096;
/// Times one verb may ask for pages (`MAX_FAULT_PAGES` each) before it
/// fails with `EFAULT`.
const MAX_FAULT_ROUNDS: usize = 4;


/// A page of a process pinned and granted to the backend, because a verb
/// of its context touched it there; released when the context closes.
struct Fetched {
    ctx: CtxHandle,
    page: NonNull<sys::page>,
    grant: GrantRef,
}

// SAFETY: A pinned page may be unpinned from any thread.
unsafe impl Send for Fetched {}

/// What a request got back.
enum Reply {
    Body(RspBody),
    /// The backend's driver touched these pages of the caller.
    Fault(FaultPages),
}

struct Waiter {
    id: u64,
    rsp: Option<Response>,
}

/// A cached range (`regcache.rs`) the backend is asked to unmap. Its
/// `DropCached` goes on the ring ahead of the next request and nobody
/// waits for the answer; the pages are released once it has come
/// (`reap_drops`), or with their context, or when the backend is gone.
struct Dropping {
    cached: Cached,
    /// The request's id, once it is on the ring.
    sent: Option<u64>,
    answered: bool,
}

/// An object of the core's that events from the backend may name.
#[derive(Clone, Copy)]
pub(crate) enum ObjRef {
    Cq(NonNull<sys::ib_cq>),
    Qp(NonNull<sys::ib_qp>),
    Srq(NonNull<sys::ib_srq>),
}

// SAFETY: The core's objects may be used from any thread; see
// `comp_event` for why a pointer stays valid while in the table.
unsafe impl Send for ObjRef {}

struct State {
    cmd: FrontRing<RawMem>,
    evt: BackRing<RawMem>,
    next_id: u64,
    waiting: Table<Waiter>,
    /// CQs and SRQs that events may name (the index is the cookie we gave
    /// the backend as their `user_handle`).
    objects: Table<ObjRef>,
    /// QPs, likewise; a QP's cookie is also its doorbell number.
    qps: Table<ObjRef>,
    /// Pages lent to the backend (`fault_in`).
    fetched: Table<Fetched>,
    /// Cached ranges being dropped.
    dropping: Table<Dropping>,
    /// The backend is gone or broke the protocol: fail every request.
    dead: bool,
}

#[pin_data]
pub(crate) struct Channel {
    transport: Transport,
    #[pin]
    state: Mutex<State>,
    #[pin]
    changed: CondVar,
    /// How long requests of each op took from push to response (whether
    /// to poll for the next one).
    rtt: PerOp,
    /// A notification was withheld (test support: `test_mute_notify`).
    notify_owed: AtomicBool,
    /// Regions processes map, and those to release (`mmap.rs`).
    mappings: Arc<Mappings>,
    /// The features the backend accepted in `Hello`.
    features: AtomicU64,
    /// Deregistered ranges kept for a repeated registration.
    #[pin]
    regcache: RegCache,
}

impl Channel {
    /// Sets up the rings; `connect` attaches them to the backend.
    pub(crate) fn new(transport: Transport) -> Result<impl PinInit<Self, Error>> {
        let cmd = FrontRing::init(transport.cmd_mem()).map_err(|_| EINVAL)?;
        // We initialise both rings; the backend produces on the event ring.
        init_shared(&transport.evt_mem(), 0).map_err(|_| EINVAL)?;
        let evt = BackRing::attach(transport.evt_mem()).map_err(|_| EINVAL)?;
        let mappings = Mappings::new()?;
        Ok(try_pin_init!(Self {
            transport,
            state <- kernel::new_mutex!(State {
                cmd,
                evt,
                next_id: 1,
                waiting: Table::new(MAX_OUTSTANDING),
                objects: Table::new(MAX_OBJECTS),
                qps: Table::new(doorbell::MAX_DOORBELLS as usize),
                fetched: Table::new(MAX_FETCHED),
                dropping: Table::new(MAX_CACHED),
                dead: false,
            }),
            changed <- kernel::new_condvar!(),
            rtt: PerOp::new(),
            notify_owed: AtomicBool::new(false),
            mappings,
            features: AtomicU64::new(0),
            regcache <- RegCache::new(),
        }? Error))
    }

    /// Records the features the backend accepted (the handshake).
    pub(crate) fn set_features(&self, features: u64) {
        self.features.store(features, Ordering::Release);
    }

    /// The largest MR, in pages, one registration can carry to this
    /// backend.
    pub(crate) fn max_mr_pages(&self) -> u32 {
        if self.features.load(Ordering::Acquire) & FEATURE_MR_TWO_LEVEL != 0 {
            MAX_MR_PAGES
        } else {
            MAX_MR_PAGES_ONE_LEVEL
        }
    }

    pub(crate) fn mappings(&self) -> &Arc<Mappings> {
        &self.mappings
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    pub(crate) fn regcache(&self) -> &RegCache {
        &self.regcache
    }

    /// Connects to the backend. `self` must stay where it is until
    /// `disconnect` (it is pinned).
    pub(crate) fn connect(&self) -> Result {
        self.transport.connect(self as *const Channel)
    }

    /// Fails every request from now on and disconnects.
    pub(crate) fn disconnect(&self) {
        self.state.lock().dead = true;
        self.changed.notify_all();
        self.transport.disconnect();
        self.release_fetched(None);
        crate::mr::release_cached(self, None);
    }

    /// Waits for a change: `Err(EINTR)` on a signal if `interruptible`,
    /// `Err(ETIMEDOUT)` once `deadline` (in jiffies) has passed.
    fn wait(
        &self,
        st: &mut Guard<'_, State, MutexBackend>,
        interruptible: bool,
        deadline: Option<u64>,
    ) -> Result<Waited> {
        use kernel::sync::CondVarTimeoutResult;
        match deadline {
            Some(d) => {
                // SAFETY: Reading the jiffies counter.
                let now = unsafe { sys::xenib_jiffies() };
                if now >= d {
                    return Err(etimedout());
                }
                let left = core::cmp::min(d - now, i64::MAX as u64 / 2) as _;
                if let CondVarTimeoutResult::Signal { .. } =
                    self.changed.wait_interruptible_timeout(st, left)
                {
                    // The timed wait returns at once while a signal is
                    // pending: one that may not be interrupted naps.
                    return if interruptible { Err(EINTR) } else { Ok(Waited::Nap) };
                }
            }
            None if interruptible => {
                if self.changed.wait_interruptible(st) {
                    return Err(EINTR);
                }
            }
            None => self.changed.wait(st),
        }
        Ok(Waited::Woken)
    }

    /// Polls the ring for the response awaited in `waiting[idx]` until
    /// `until` (ns), unless another task needs this CPU: a served request
    /// is answered within microseconds of the backend's service thread
    /// taking it, and going to sleep and being woken would cost more than
    /// that (`bench/`: a forwarded `modify_qp`). While we poll, the backend
    /// is asked not to notify us; whoever stops polling with waiters left
    /// (us included, when we give up) asks for notifications again.
    fn poll_for(&self, idx: usize, until: i64) -> Option<Response> {
        loop {
            // SAFETY: Reads the current task's flags.
            let give_up = now_ns() >= until || unsafe { sys::xenib_need_resched() };
            let mut st = self.state.lock();
            let mut taken = Self::take_responses(&mut st, give_up);
            let rsp = st.waiting.get_mut(idx).and_then(|w| w.rsp.take());
            if rsp.is_some() {
                st.waiting.remove(idx);
                if !give_up && st.waiting.len() != 0 {
                    taken |= Self::take_responses(&mut st, true);
                }
            }
            let dead = st.dead;
            drop(st);
            if taken || rsp.is_some() {
                // Other waiters' responses may have come with ours, and
                // a sender may wait for the slot we free.
                self.changed.notify_all();
            }
            if rsp.is_some() || dead || give_up {
                return rsp;
            }
            core::hint::spin_loop();
        }
    }

    /// Sends `req` and waits for its response.
    ///
    /// If the backend's driver touched pages of the calling process that
    /// the context does not have there yet (a pointer in the provider's
    /// data), they are pinned, granted and sent (`fault_in`), and `req`
    /// goes again; a page the process has not mapped fails the verb with
    /// `EFAULT`, as it would natively.
    pub(crate) fn call(&self, req: &Request) -> Result<RspBody> {
        let mut rounds = 0;
        let result = loop {
            match self.call_once(req) {
                Ok(Reply::Body(b)) => break Ok(b),
                Ok(Reply::Fault(pages)) => {
                    rounds += 1;
                    let Some(ctx) = req.ctx().filter(|_| rounds <= MAX_FAULT_ROUNDS) else {
                        break Err(EFAULT);
                    };
                    if let Err(e) = self.fault_in(ctx, &pages) {
                        break Err(e);
                    }
                }
                Err(e) => break Err(e),
            }
        };
        // The backend has let go of the context's pages (or is gone).
        if let Request::CloseContext(r) = req {
            self.release_fetched(Some(r.ctx));
        }
        result
    }

    /// Lends the backend the pages of the calling process that a verb of
    /// `ctx` touched: pinned (writable only if written), granted, mapped
    /// there by `MapPages`. They stay until the context closes.
    fn fault_in(&self, ctx: CtxHandle, pages: &FaultPages) -> Result {
        let mut grants = [PageGrant::default(); MAX_FAULT_PAGES];
        for (g, &a) in grants.iter_mut().zip(pages.as_slice()) {
            let write = a & PAGE_WRITE != 0;
            let addr = a - a % PAGE_SIZE;
            // SAFETY: We run in the verb's caller, the process the backend
            // acted for: the helper pins a page of its own address space.
            let p = unsafe { sys::xenib_front_pin_user_page(addr as _, write) };
            // SAFETY: Any pointer may be tested.
            let err = unsafe { sys::xenib_ptr_err(p.cast()) };
            if err != 0 {
                return Err(Error::from_errno(err as i32));
            }
            let page = NonNull::new(p).ok_or(EFAULT)?;
            let grant = match self.transport.grant_user_page(page, write) {
                Ok(r) => r,
                Err(e) => {
                    // SAFETY: Pinned just above, and not granted.
                    unsafe { sys::xenib_front_unpin_user_page(page.as_ptr()) };
                    return Err(e);
                }
            };
            if self
                .state
                .lock()
                .fetched
                .insert(Fetched { ctx, page, grant })
                .is_err()
            {
                self.give_back(Fetched { ctx, page, grant });
                return Err(ENOMEM);
            }
            *g = PageGrant {
                addr: addr | if write { PAGE_WRITE } else { 0 },
                gref: grant,
            };
        }
        let n = pages.as_slice().len();
        let list = PageGrants::new(&grants[..n]).ok_or(EINVAL)?;
        match self.call_once(&Request::MapPages(MapPagesReq { ctx, pages: list }))? {
            Reply::Body(_) => Ok(()),
            Reply::Fault(_) => Err(eproto()),
        }
    }

    /// Takes back the pages lent for `ctx` (for every context if `None`).
    fn release_fetched(&self, ctx: Option<CtxHandle>) {
        loop {
            let f = {
                let mut st = self.state.lock();
                let Some(i) = st.fetched.position(|f| ctx.is_none_or(|c| f.ctx == c)) else {
                    return;
                };
                st.fetched.remove(i)
            };
            if let Some(f) = f {
                self.give_back(f);
            }
        }
    }

    fn give_back(&self, f: Fetched) {
        self.transport.revoke(f.grant, f.page);
        // SAFETY: Pinned by `fault_in`; the grant is ended (a backend still
        // mapping it keeps the page until it unmaps).
        unsafe { sys::xenib_front_unpin_user_page(f.page.as_ptr()) };
    }

    /// Sends `req` and waits for its response, once.
    ///
    /// Releasing verbs wait even for a process with a fatal signal
    /// pending: that is exactly when the core tears its objects down, and
    /// they must reach the backend. But not for ever: a backend that does
    /// not answer within `release_timeout_ms` gets `ETIMEDOUT` (and
    /// `release` leaves the object to it), so that neither a process exit
    /// nor `rmmod` hangs on a wedged backend. Other verbs give up on a
    /// signal.
    fn call_once(&self, req: &Request) -> Result<Reply> {
        let op = req.op();
        let releasing = is_releasing(op);
        let deadline = releasing.then(|| {
            // SAFETY: Plain reads of the clock and of a module parameter.
            unsafe {
                sys::xenib_jiffies()
                    + sys::xenib_msecs_to_jiffies(sys::xenib_front_release_timeout_ms()) as u64
            }
        });
        match self.send(op, |id, slot| req.encode(id, slot), !releasing, deadline)? {
            None => Ok(Reply::Body(RspBody::Kick(Default::default()))),
            Some(Response::Ok(body)) if body.op() == op => Ok(Reply::Body(body)),
            Some(Response::Ok(_)) => Err(eproto()),
            Some(Response::Err { status, .. }) => Err(Error::from_errno(status)),
            Some(Response::Fault { pages, .. }) => Ok(Reply::Fault(pages)),
        }
    }

    /// Sends a releasing request (destroy, dealloc, close). If the object
    /// is gone on the other side already, with the connection (`ENODEV`),
    /// its context (`EBADF`) or the real device (`EIO`), that is success:
    /// the core must not be left believing it still exists.
    /// A backend that does not answer in time (`ETIMEDOUT`) is left the
    /// object: it releases it when it takes the request, or with the
    /// context or the connection. Pages granted for it stay allocated
    /// until the backend has unmapped them (`Transport::revoke`).
    pub(crate) fn release(&self, req: &Request) -> Result {
        match self.call(req) {
            Ok(_) | Err(ENODEV) | Err(EBADF) | Err(EIO) => Ok(()),
            Err(e) if e == etimedout() => {
                warn_ratelimited!(
                    "the backend did not answer {:?} in time: the object is left to it\n",
                    req.op()
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Puts the slot `fill(id, slot)` writes (a request of `op`) on the
    /// ring and, unless `op` takes no reply, waits for the response to `id`.
    pub(crate) fn send(
        &self,
        op: Op,
        fill: impl FnOnce(u64, &mut Slot),
        interruptible: bool,
        deadline: Option<u64>,
    ) -> Result<Option<Response>> {
        let no_reply = op.no_reply();
        let rtt = self.rtt.get(op as u16);
        let mut slot: Slot = [0; SLOT_SIZE];
        let (idx, notify) = {
            let mut st = self.state.lock();
            loop {
                if st.dead {
                    return Err(ENODEV);
                }
                if !st.cmd.is_full() && (no_reply || st.waiting.len() < MAX_OUTSTANDING) {
                    break;
                }
                // Responses free slots; a poller may have left the ring
                // without notifications: ask for them before sleeping.
                if Self::take_responses(&mut st, true) {
                    continue;
                }
                if self.wait(&mut st, interruptible, deadline)? == Waited::Nap {
                    drop(st);
                    nap();
                    st = self.state.lock();
                }
            }
            self.push_munmaps(&mut st);
            Self::push_drops(&mut st);
            let id = st.next_id;
            st.next_id = st.next_id.wrapping_add(1);
            fill(id, &mut slot);
            st.cmd.push_request(&slot).map_err(|_| EAGAIN)?;
            let idx = if no_reply {
                None
            } else {
                Some(st.waiting.insert(Waiter { id, rsp: None })?)
            };
            (idx, st.cmd.push_requests_and_check_notify())
        };
        // SAFETY: Reads a module parameter.
        if unsafe { sys::xenib_front_test_mute_notify() } {
            // The ring asks for a notification only once per batch: the
            // first request after the test owes the one withheld.
            self.notify_owed.fetch_or(notify, Ordering::Relaxed);
        } else if notify || self.notify_owed.swap(false, Ordering::Relaxed) {
            self.transport.notify();
        }
        let Some(idx) = idx else {
            return Ok(None);
        };
        // Poll while responses come quickly; otherwise this only asks for
        // a notification (and looks once).
        let sent = now_ns();
        let until = rtt.poll_until(sent).unwrap_or(sent);
        if let Some(rsp) = self.poll_for(idx, until) {
            rtt.note(now_ns() - sent);
            return Ok(Some(rsp));
        }
        let mut st = self.state.lock();
        loop {
            if let Some(rsp) = st.waiting.get_mut(idx).and_then(|w| w.rsp.take()) {
                st.waiting.remove(idx);
                drop(st);
                self.changed.notify_all();
                rtt.note(now_ns() - sent);
                return Ok(Some(rsp));
            }
            if st.dead {
                st.waiting.remove(idx);
                return Err(ENODEV);
            }
            // A signal abandons the wait, not the request: its response
            // is dropped when it comes, and whatever it created is
            // released with its context.
            match self.wait(&mut st, interruptible, deadline) {
                Ok(Waited::Woken) => {}
                Ok(Waited::Nap) => {
                    drop(st);
                    nap();
                    st = self.state.lock();
                }
                Err(e) => {
                    st.waiting.remove(idx);
                    return Err(e);
                }
            }
        }
    }

    /// Puts the `Munmap`s of regions whose last VMA closed on the ring,
    /// ahead of the request about to go (one slot is left for it). Nobody
    /// waits for their responses: the backend releases the region, or it
    /// is gone with its context already.
    fn push_munmaps(&self, st: &mut State) {
        while st.cmd.free_slots() > 1 {
            let Some((ctx, offset)) = self.mappings.take_closed() else {
                return;
            };
            let id = st.next_id;
            st.next_id = st.next_id.wrapping_add(1);
            let mut slot: Slot = [0; SLOT_SIZE];
            Request::Munmap(MunmapReq { ctx, offset }).encode(id, &mut slot);
            // Cannot fail: there is room.
            let _ = st.cmd.push_request(&slot);
        }
    }

    /// Puts the `DropCached`s not sent yet on the ring, ahead of the
    /// request about to go (one slot is left for it).
    fn push_drops(st: &mut State) {
        while st.cmd.free_slots() > 1 {
            let Some(i) = st.dropping.position(|d| d.sent.is_none()) else {
                return;
            };
            let id = st.next_id;
            st.next_id = st.next_id.wrapping_add(1);
            let Some(d) = st.dropping.get_mut(i) else {
                return;
            };
            let mut slot: Slot = [0; SLOT_SIZE];
            let c = &d.cached;
            Request::DropCached(CachedReq { ctx: c.ctx, cache: c.cache }).encode(id, &mut slot);
            d.sent = Some(id);
            // Cannot fail: there is room.
            let _ = st.cmd.push_request(&slot);
        }
    }

    /// Has the backend unmap the cached range `c` without waiting: its
    /// `DropCached` goes ahead of the next request, and `reap_drops`
    /// releases the pages once the backend has answered.
    pub(crate) fn drop_cached(&self, c: Cached) {
        {
            let mut st = self.state.lock();
            if !st.dead && st.dropping.reserve().is_ok() {
                // Cannot fail: reserved.
                let _ = st.dropping.insert(Dropping { cached: c, sent: None, answered: false });
                crate::regcache::count_dropping(true);
                return;
            }
        }
        // Nowhere to track it.
        self.drop_now(c);
    }

    /// Drops the cached range `c` now: the backend unmaps it (we wait for
    /// its answer), then the grants end and the pages are unpinned.
    pub(crate) fn drop_now(&self, c: Cached) {
        let _ = self.release(&Request::DropCached(CachedReq { ctx: c.ctx, cache: c.cache }));
        c.shared.release(&self.transport);
    }

    /// Releases the pages of dropped ranges the backend has answered for.
    pub(crate) fn reap_drops(&self) {
        self.release_drops(|d| d.answered, false);
    }

    /// Releases the pages of every range being dropped of `ctx`: its
    /// context is closed, the backend unmapped them.
    pub(crate) fn forget_drops(&self, ctx: CtxHandle) {
        self.release_drops(|d| d.cached.ctx == ctx, false);
    }

    /// Releases the pages of every range being dropped, now: the backend
    /// is gone, or the memory is needed (`RLIMIT_MEMLOCK`, the guest's
    /// quota). A `DropCached` not sent yet is sent and waited for first;
    /// one on its way needs no wait, as a grant the backend still maps
    /// keeps its page until it unmaps. Whether there were any.
    pub(crate) fn flush_drops(&self) -> bool {
        self.release_drops(|_| true, true)
    }

    fn release_drops(&self, f: impl Fn(&Dropping) -> bool, send_unsent: bool) -> bool {
        let mut any = false;
        loop {
            let d = {
                let mut st = self.state.lock();
                let Some(i) = st.dropping.position(&f) else {
                    return any;
                };
                st.dropping.remove(i)
            };
            if let Some(d) = d {
                if send_unsent && d.sent.is_none() {
                    self.drop_now(d.cached);
                } else {
                    d.cached.shared.release(&self.transport);
                }
                crate::regcache::count_dropping(false);
                any = true;
            }
        }
    }

    /// Test support (`hostile.rs`): moves the shared request producer
    /// index as a broken or malicious frontend might.
    pub(crate) fn corrupt_req_prod(&self, by: u32) {
        {
            let st = self.state.lock();
            let mem = st.cmd.mem();
            let prod = mem.read_u32(0);
            mem.write_u32(0, prod.wrapping_add(by));
        }
        self.transport.notify();
    }

    /// The command ring's shared indices (`req_prod`, `req_event`,
    /// `rsp_prod`, `rsp_event`), for diagnostics.
    pub(crate) fn ring_indices(&self) -> [u32; 4] {
        self.state.lock().cmd.shared_indices()
    }

    /// Lets events reach `obj`; returns its cookie.
    pub(crate) fn add_object(&self, obj: ObjRef) -> Result<u64> {
        let mut st = self.state.lock();
        let table = if matches!(obj, ObjRef::Qp(_)) {
            &mut st.qps
        } else {
            &mut st.objects
        };
        Ok(table.insert(obj)? as u64)
    }

    /// No more events for this object (it is being destroyed).
    pub(crate) fn remove_object(&self, obj: ObjRef, cookie: u64) {
        let mut st = self.state.lock();
        let table = if matches!(obj, ObjRef::Qp(_)) {
            &mut st.qps
        } else {
            &mut st.objects
        };
        table.remove(cookie as usize);
    }

    /// The send doorbell of the QP whose cookie is `cookie`: a bit in the
    /// doorbell page, and a notification only if the backend has not been
    /// told of any doorbell since it last looked.
    pub(crate) fn ring_doorbell(&self, cookie: u64) -> Result {
        let page = self.transport.doorbell_page();
        let n = u32::try_from(cookie).map_err(|_| EINVAL)?;
        if page.ring(n).ok_or(EINVAL)? {
            self.transport.notify_doorbells();
        }
        Ok(())
    }

    /// A completion event: raise the CQ's completion handler (for a user
    /// CQ, uverbs queues the event on the process's completion channel).
    fn comp_event(st: &State, cookie: u64) {
        let Some(ObjRef::Cq(cq)) = st.objects.get(cookie as usize).copied() else {
            // Destroyed meanwhile, or a bogus cookie: nothing to raise.
            return;
        };
        // SAFETY: Objects leave the table (under the lock we hold) before
        // the core frees them; the core set the handler before creating it.
        unsafe {
            let cq = cq.as_ptr();
            if let Some(handler) = (*cq).comp_handler {
                handler(cq, (*cq).cq_context);
            }
        }
    }

    /// An asynchronous event: raise the object's event handler (uverbs
    /// passes it to the process's async event file), or the device's for
    /// port and device events.
    fn async_event(st: &State, ev: &AsyncEvent) {
        let mut e = sys::ib_event {
            event: ev.event_type,
            ..Default::default()
        };
        let cookie = ev.user_handle as usize;
        match ev.kind {
            AsyncObj::Qp => {
                let Some(ObjRef::Qp(qp)) = st.qps.get(cookie).copied() else {
                    return;
                };
                // SAFETY: As in `comp_event`: the QP is alive while in the
                // table, whose lock we hold; the handler only reads `e`
                // during the call.
                unsafe {
                    let qp = qp.as_ptr();
                    e.device = (*qp).device;
                    *e.element.qp.as_mut() = qp;
                    if let Some(h) = (*qp).event_handler {
                        h(&mut e, (*qp).qp_context);
                    }
                }
            }
            AsyncObj::Cq => {
                let Some(ObjRef::Cq(cq)) = st.objects.get(cookie).copied() else {
                    return;
                };
                // SAFETY: As for the QP above.
                unsafe {
                    let cq = cq.as_ptr();
                    e.device = (*cq).device;
                    *e.element.cq.as_mut() = cq;
                    if let Some(h) = (*cq).event_handler {
                        h(&mut e, (*cq).cq_context);
                    }
                }
            }
            AsyncObj::Srq => {
                let Some(ObjRef::Srq(srq)) = st.objects.get(cookie).copied() else {
                    return;
                };
                // SAFETY: As for the QP above.
                unsafe {
                    let srq = srq.as_ptr();
                    e.device = (*srq).device;
                    *e.element.srq.as_mut() = srq;
                    if let Some(h) = (*srq).event_handler {
                        h(&mut e, (*srq).srq_context);
                    }
                }
            }
            // SAFETY: Dispatches on our registered device (or nothing, if
            // it is gone); the helper drops a port event for no port of it.
            AsyncObj::Port | AsyncObj::Device => unsafe {
                sys::xenib_front_device_event(ev.event_type, ev.user_handle as u32);
            },
        }
    }

    /// Hands the responses on the ring to their waiters; whether any came.
    /// Leaves the backend asked to notify us of the next one if `arm`,
    /// not to if we are polling.
    fn take_responses(st: &mut State, arm: bool) -> bool {
        let mut taken = false;
        let mut slot: Slot = [0; SLOT_SIZE];
        loop {
            match st.cmd.take_response(&mut slot) {
                Ok(Some(())) => match Response::decode(&slot) {
                    Ok((id, rsp)) => {
                        taken = true;
                        if let Some(i) = st.waiting.position(|w| w.id == id) {
                            if let Some(w) = st.waiting.get_mut(i) {
                                w.rsp = Some(rsp);
                            }
                        } else if let Some(i) = st.dropping.position(|d| d.sent == Some(id)) {
                            if let Some(d) = st.dropping.get_mut(i) {
                                d.answered = true;
                            }
                        }
                    }
                    Err(_) => warn_ratelimited!("undecodable response from backend\n"),
                },
                Ok(None) if !arm => {
                    st.cmd.disarm_responses();
                    return taken;
                }
                Ok(None) => {
                    if !st.cmd.final_check_for_responses() {
                        return taken;
                    }
                }
                Err(_) => {
                    pr_err!("backend broke the ring protocol\n");
                    st.dead = true;
                    return taken;
                }
            }
        }
    }

    /// The backend signalled: collect responses and events.
    pub(crate) fn on_notify(&self) {
        let mut ack = false;
        let mut removed = false;
        {
            let mut st = self.state.lock();
            Self::take_responses(&mut st, true);
            let mut slot: Slot = [0; SLOT_SIZE];
            loop {
                match st.evt.take_request(&mut slot) {
                    Ok(Some(())) => {
                        match Event::decode(&slot) {
                            Ok((_, Event::Comp(ev))) => Self::comp_event(&st, ev.user_handle),
                            Ok((_, Event::DeviceRemoved)) => {
                                // The connection stays up: the teardown of
                                // our device still releases the contexts.
                                pr_warn!("the backend's device was removed; removing ours\n");
                                removed = true;
                            }
                            Ok((_, Event::Async(ev))) => Self::async_event(&st, &ev),
                            Ok((_, Event::Cm(ev))) => crate::cm::on_event(&ev),
                            Err(_) => warn_ratelimited!("undecodable event from backend\n"),
                        }
                        ack |= st.evt.push_ack().is_ok();
                    }
                    Ok(None) => {
                        if !st.evt.final_check_for_requests() {
                            break;
                        }
                    }
                    Err(_) => {
                        st.dead = true;
                        break;
                    }
                }
            }
            if ack {
                ack = st.evt.push_responses_and_check_notify();
            }
        }
        self.changed.notify_all();
        if ack {
            self.transport.notify();
        }
        if removed {
            // As a hot-unplugged device: unregister it (from a work item:
            // we may be in the backend's context here). Processes using it
            // are told and their objects destroyed by the core.
            // SAFETY: The work is cancelled before the device is freed.
            unsafe { sys::xenib_front_schedule_removal() };
        }
    }
}

/// Whether `op` releases something: its caller may be a dying process,
/// and it must not fail because of a signal.
fn is_releasing(op: Op) -> bool {
    matches!(
        op,
        Op::CloseContext
            | Op::DeallocPd
            | Op::DeregMr
            | Op::DeregMrKeep
            | Op::DropCached
            | Op::DeallocMw
            | Op::DestroyCq
            | Op::DestroyQp
            | Op::DestroySrq
            | Op::DestroyAh
            | Op::DetachMcast
            | Op::Munmap
    )
}

/// How a wait for the channel ended without an error.
#[derive(PartialEq, Eq)]
enum Waited {
    /// Woken (or timed out early): look again.
    Woken,
    /// A signal is pending and the wait may not be interrupted: sleep a
    /// little, without the lock, then look again.
    Nap,
}

/// An uninterruptible pause of a few milliseconds (`Waited::Nap`).
fn nap() {
    // SAFETY: Sleeping in process context, holding no lock.
    unsafe { sys::xenib_msleep(2) };
}
