// SPDX-License-Identifier: GPL-2.0

//! xenib backend (driver domain).
//!
//! Executes the RDMA verbs that `ib_front` instances forward, on a real
//! RDMA device (`dev=`, e.g. `rxe0`), through uverbs files, each opened in
//! a process of its own that serves one guest context (`server.rs`).
//! Returns handles, grants the pages behind the driver's queues, and maps
//! guest memory for memory registration. Nothing here knows which driver
//! it runs on.
//!
//! Lock order: `Frontend::state`, then `Backend::state`, then a
//! `ContextServer`'s.

// The pinned initialiser of `Frontend` outgrows the default limit.
#![recursion_limit = "256"]

use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;
use kernel::sync::{Arc, CondVar, Mutex};

mod ah;
mod cm;
mod context;
mod cq;
mod device;
mod frontend;
mod iomem;
mod loopback;
mod mmap;
mod mr;
mod mw;
mod pd;
mod policy;
mod qp;
mod quota;
mod server;
mod service;
mod srq;
mod stats;
mod sys;
mod transport;
mod uverbs;
mod xen;

#[path = "../sys/shared.rs"]
mod shared;
use shared::protocol::xen_ring::{caps, provider};
use shared::protocol::{av, shmem, ucma, wire};
use shared::{doorbell_page, errno, fifo, loop_grants, phase, poll, table, xenbus};

use device::Device;
use frontend::Frontend;
use server::ContextServer;
use stats::{Obj, Stats};
use sys::warn_ratelimited;

module! {
    type: IbBack,
    name: "ib_back",
    author: "xenib developers",
    description: "Xen paravirtual RDMA backend",
    license: "GPL",
}

/// Frontends served at once.
const MAX_FRONTENDS: usize = 64;
/// Context servers waiting for a process, across all frontends.
const MAX_UNCLAIMED: usize = 256;
/// Idle processes `xenib-backd` keeps ready to serve new contexts.
const POOL_IDLE: usize = 2;
/// A fork that has not reached `XENIB_BACK_SERVE_CONTEXT` after this long
/// (ns) is forgotten, and another is asked for.
const SPAWN_TIMEOUT_NS: i64 = 5_000_000_000;

struct State {
    frontends: table::Table<Arc<Frontend>>,
    /// The real device is going: close every context (uverbs waits for
    /// its files to be closed before the device can go).
    purge: bool,
    serving: bool,
    /// The real device's uverbs character device, while serving.
    uverbs_path: Option<kernel::str::CString>,
    /// New contexts waiting for a process to serve them, oldest first.
    unclaimed: fifo::Fifo<(Arc<Frontend>, Arc<ContextServer>)>,
    /// Processes waiting in `XENIB_BACK_SERVE_CONTEXT` for a context.
    idle: usize,
    /// When the daemon was last asked to fork one (ktime ns), until it
    /// arrives.
    spawning: Option<i64>,
    /// The frontend whose turn it is next (an index; `next_work`).
    next_turn: usize,
}

/// What the service thread should do next.
pub(crate) enum Work {
    Serve(Arc<Frontend>),
    /// The polling window is over: have the frontends notify us again.
    Arm,
    /// Close every context of every frontend.
    Purge,
}

#[pin_data]
pub(crate) struct Backend {
    #[pin]
    pub(crate) device: Device,
    pub(crate) stats: Stats,
    /// Guest pages registered by all frontends (`max_total_mr_mib`).
    pub(crate) mr_pages: quota::Pages,
    /// Device memory given to guests' domains.
    pub(crate) io: Arc<iomem::IoFrames>,
    #[pin]
    state: Mutex<State>,
    /// Signalled when a frontend has work or goes away.
    #[pin]
    work: CondVar,
    /// Signalled when the pool of context servers changes.
    #[pin]
    pool: CondVar,
}

/// The backend of this module instance, for C callbacks; set while the
/// module is loaded.
static BACKEND: AtomicPtr<Backend> = AtomicPtr::new(core::ptr::null_mut());

impl Backend {
    /// The backend, if the module is initialised.
    pub(crate) fn get() -> Option<&'static Backend> {
        let p = BACKEND.load(Ordering::Acquire);
        // SAFETY: Set in `init` from an `Arc` the module keeps until after
        // every entry point (misc device, loopback symbols) is gone.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// The `Arc` of a frontend we serve.
    pub(crate) fn frontend_arc(&self, fe: &Frontend) -> Option<Arc<Frontend>> {
        let g = self.state.lock();
        let i = g
            .frontends
            .position(|f| core::ptr::eq::<Frontend>(&**f, fe))?;
        g.frontends.get(i).cloned()
    }

    /// Wakes the dispatcher; false if none is serving.
    pub(crate) fn wake(&self) -> bool {
        let g = self.state.lock();
        self.work.notify_all();
        g.serving
    }

    pub(crate) fn add_frontend(&self, fe: Arc<Frontend>) -> Result {
        self.state.lock().frontends.insert(fe)?;
        Ok(())
    }

    /// Forgets a frontend, once its contexts are released (each by its
    /// own server).
    pub(crate) fn remove_frontend(&self, fe: &Arc<Frontend>) {
        {
            let mut g = self.state.lock();
            if let Some(i) = g.frontends.position(|f| Arc::ptr_eq(f, fe)) {
                g.frontends.remove(i);
            }
            g.unclaimed.retain(|(f, _)| !Arc::ptr_eq(f, fe));
        }
        fe.close_all();
        // Its domain may be gone now, and the frames it was given with it.
        self.io.forget_gone();
        self.stats.add(Obj::Frontend, -1);
    }

    /// A frontend broke the protocol: release everything its contexts
    /// hold (their objects, MRs and mappings of its pages) and tell it
    /// (`Transport::close`). It stays known, unserved, until it closes or
    /// is detached; its rings stay mapped until then.
    pub(crate) fn cut_off(&self, fe: &Frontend) {
        fe.transport.close();
        fe.close_all();
        warn_ratelimited!("{}: cut off; released its contexts\n", fe.name());
    }

    /// A new context needs a server: queue it for the next idle process,
    /// and have the daemon fork another.
    pub(crate) fn want_server(&self, fe: Arc<Frontend>, server: Arc<ContextServer>) -> Result {
        let mut g = self.state.lock();
        if !g.serving {
            return Err(ENODEV);
        }
        if g.unclaimed.push((fe, server)).is_err() {
            return Err(EAGAIN);
        }
        self.pool.notify_all();
        Ok(())
    }

    /// In a freshly forked process (`XENIB_BACK_SERVE_CONTEXT`): waits for
    /// a context to serve and claims it. `None` on a signal, or when the
    /// service stops.
    pub(crate) fn wait_for_context(
        &self,
    ) -> Option<(Arc<Frontend>, Arc<ContextServer>, kernel::str::CString)> {
        let mut g = self.state.lock();
        g.spawning = None;
        g.idle += 1;
        self.pool.notify_all();
        let claimed = loop {
            if !g.serving {
                break None;
            }
            let mut found = None;
            while let Some((fe, server)) = g.unclaimed.pop() {
                if server.claim() {
                    found = Some((fe, server));
                    break;
                }
            }
            if let Some((fe, server)) = found {
                let Some(path) = g.uverbs_path.as_ref().and_then(|p| {
                    kernel::str::CString::try_from_fmt(kernel::fmt!("{}", &**p)).ok()
                }) else {
                    break None;
                };
                break Some((fe, server, path));
            }
            if self.pool.wait_interruptible(&mut g) {
                break None;
            }
        };
        g.idle -= 1;
        self.pool.notify_all();
        claimed
    }

    /// A context server has finished.
    pub(crate) fn server_done(&self) {
        let _g = self.state.lock();
        self.pool.notify_all();
    }

    /// `XENIB_BACK_POOL_WAIT`: blocks the daemon until it should fork
    /// another context server. `Err(EINTR)` on a signal, `ESHUTDOWN`
    /// once the service has stopped.
    pub(crate) fn wait_pool(&self) -> Result {
        let mut g = self.state.lock();
        loop {
            if !g.serving {
                return Err(errno::eshutdown());
            }
            if let Some(t) = g.spawning {
                if poll::now_ns() - t > SPAWN_TIMEOUT_NS {
                    pr_warn!("a forked context server never arrived; forking another\n");
                    g.spawning = None;
                }
            }
            let wanted = POOL_IDLE + g.unclaimed.len();
            if g.spawning.is_none() && g.idle < wanted {
                g.spawning = Some(poll::now_ns());
                return Ok(());
            }
            if g.spawning.is_none() {
                if self.pool.wait_interruptible(&mut g) {
                    return Err(EINTR);
                }
                continue;
            }
            // A fork is on its way: look again now and then, in case it
            // never arrives.
            // SAFETY: A plain conversion.
            let tick = unsafe { sys::xenib_msecs_to_jiffies(100) };
            if let kernel::sync::CondVarTimeoutResult::Signal { .. } =
                self.pool.wait_interruptible_timeout(&mut g, tick as _)
            {
                return Err(EINTR);
            }
        }
    }

    /// Whether the real device has been removed.
    pub(crate) fn device_gone(&self) -> bool {
        !self.device.present()
    }

    /// The real device `ibdev` is being unregistered. If it is ours, the
    /// frontends are told their device is gone, and we let go of it.
    /// uverbs disassociates our files from it on its own.
    fn device_removed(&self, ibdev: *mut sys::ib_device) {
        if !self.device.is(ibdev) {
            return;
        }
        pr_warn!("the RDMA device is being removed; frontends lose their device\n");
        for fe in self.all_frontends().iter() {
            // Our QP references would hold up the QPs' destruction.
            fe.unbind_all_doorbells();
            fe.send_device_removed();
        }
        self.device.release();
        // Our uverbs files keep the device's unregistration waiting until
        // they are closed: have the service close them (each in its
        // server's process). Without a service there are none.
        self.state.lock().purge = true;
        self.work.notify_all();
    }

    /// The module is being unloaded (no service can be running: its daemon
    /// would hold the module). Every frontend is told its device is gone,
    /// and answered `ENODEV` while it tears its device down, until it
    /// disconnects.
    fn unload(&self) {
        for fe in self.all_frontends().iter() {
            fe.unbind_all_doorbells();
            fe.send_device_removed();
        }
        // SAFETY: Plain clock reads and a conversion.
        let (start, tick) = unsafe { (sys::xenib_jiffies(), sys::xenib_msecs_to_jiffies(100)) };
        // SAFETY: As above.
        let limit = unsafe { sys::xenib_msecs_to_jiffies(30_000) } as u64;
        loop {
            for fe in self.all_frontends().iter() {
                if fe.take_pending() {
                    fe.refuse_all(self);
                }
            }
            let mut g = self.state.lock();
            if g.frontends.len() == 0 {
                break;
            }
            // SAFETY: As above.
            if unsafe { sys::xenib_jiffies() } - start > limit {
                pr_err!("frontends still connected after 30 s; unloading anyway\n");
                break;
            }
            let _ = self.work.wait_interruptible_timeout(&mut g, tick as _);
        }
    }

    /// Every frontend, for a walk without the lock held.
    fn all_frontends(&self) -> KVec<Arc<Frontend>> {
        let mut all = KVec::new();
        let g = self.state.lock();
        for fe in g.frontends.iter() {
            let _ = all.push(fe.clone(), GFP_KERNEL);
        }
        all
    }

    /// Closes every context of every frontend, each in its server.
    pub(crate) fn close_all(&self) {
        for fe in self.all_frontends().iter() {
            fe.close_all();
        }
    }

    pub(crate) fn start_service(&self, uverbs_path: &kernel::str::CStr) -> Result {
        let path = kernel::str::CString::try_from_fmt(kernel::fmt!("{}", uverbs_path))?;
        let mut g = self.state.lock();
        if g.serving {
            return Err(EBUSY);
        }
        g.serving = true;
        g.uverbs_path = Some(path);
        self.pool.notify_all();
        Ok(())
    }

    /// Blocks until there is work; `Err(EINTR)` when the service process
    /// is signalled. Until `poll_until` (`ktime` ns) it looks at the
    /// frontends' rings rather than sleeps (they were asked not to notify
    /// us), unless another task needs the CPU: then it returns
    /// `Work::Arm`.
    pub(crate) fn next_work(&self, poll_until: Option<i64>) -> Result<Work> {
        let mut g = self.state.lock();
        loop {
            if core::mem::take(&mut g.purge) {
                return Ok(Work::Purge);
            }
            let polling = poll_until.is_some();
            // Round robin: after a frontend's turn, the next one's.
            if let Some(i) = g
                .frontends
                .position_from(g.next_turn, |f| f.take_pending() || (polling && f.has_requests()))
            {
                g.next_turn = i + 1;
                if let Some(fe) = g.frontends.get(i) {
                    return Ok(Work::Serve(fe.clone()));
                }
            }
            if let Some(until) = poll_until {
                // SAFETY: Reads the current task's flags.
                if poll::now_ns() >= until || unsafe { sys::xenib_need_resched() } {
                    return Ok(Work::Arm);
                }
                drop(g);
                core::hint::spin_loop();
                g = self.state.lock();
                continue;
            }
            if self.work.wait_interruptible(&mut g) {
                return Err(EINTR);
            }
        }
    }

    /// Asks every frontend the service polled to notify it again. Fails
    /// only for lack of memory: then the service must keep polling.
    pub(crate) fn arm_all(&self) -> Result {
        let mut disarmed = KVec::new();
        {
            let g = self.state.lock();
            for fe in g.frontends.iter().filter(|f| !f.is_armed()) {
                disarmed.push(fe.clone(), GFP_KERNEL)?;
            }
        }
        // Outside our lock: the frontend's comes first (lock order).
        for fe in disarmed.iter() {
            fe.arm();
        }
        Ok(())
    }

    /// The service is leaving: no new contexts; every context is closed
    /// (by its server), idle servers and the daemon's pool loop let go.
    pub(crate) fn stop_service(&self) {
        {
            let mut g = self.state.lock();
            g.serving = false;
            g.uverbs_path = None;
            while g.unclaimed.pop().is_some() {}
            self.pool.notify_all();
        }
        self.close_all();
        // Requests that came while we were leaving get their answer too.
        for fe in self.all_frontends().iter() {
            fe.refuse_all_if_connected(self);
        }
    }
}

struct IbBack {
    backend: Arc<Backend>,
    /// The xenbus backend driver is registered.
    xen: bool,
}

impl kernel::Module for IbBack {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: The helper returns the module parameter, a NUL-terminated
        // string that lives as long as the module.
        let name = unsafe { kernel::str::CStr::from_char_ptr(sys::xenib_back_param_dev()) };
        let device =
            Device::new(name).inspect_err(|_| pr_err!("no RDMA device named {}\n", name))?;
        let io = iomem::IoFrames::new()?;
        let backend = Arc::pin_init(
            pin_init!(Backend {
                device <- device,
                stats: Stats::new(),
                mr_pages: quota::Pages::new(),
                io,
                state <- kernel::new_mutex!(State {
                    frontends: table::Table::new(MAX_FRONTENDS),
                    purge: false,
                    serving: false,
                    uverbs_path: None,
                    unclaimed: fifo::Fifo::new(MAX_UNCLAIMED),
                    idle: 0,
                    spawning: None,
                    next_turn: 0,
                }),
                work <- kernel::new_condvar!(),
                pool <- kernel::new_condvar!(),
            }),
            GFP_KERNEL,
        )?;
        BACKEND.store(
            &*backend as *const Backend as *mut Backend,
            Ordering::Release,
        );
        // SAFETY: Plain registrations; undone in `drop`.
        let ret = unsafe { sys::xenib_back_client_register() };
        if ret != 0 {
            BACKEND.store(core::ptr::null_mut(), Ordering::Release);
            return Err(Error::from_errno(ret));
        }
        // SAFETY: As above.
        let ret = unsafe { sys::xenib_back_misc_register() };
        if ret != 0 {
            // SAFETY: Registered just above.
            unsafe { sys::xenib_back_client_unregister() };
            BACKEND.store(core::ptr::null_mut(), Ordering::Release);
            return Err(Error::from_errno(ret));
        }
        // SAFETY: Plain query.
        let xen = unsafe { sys::xenib_xen_domain() };
        if xen {
            // SAFETY: Registered once; unregistered in `drop`.
            let ret = unsafe { sys::xenib_back_xen_register() };
            if ret != 0 {
                // SAFETY: Registered above.
                unsafe {
                    sys::xenib_back_misc_deregister();
                    sys::xenib_back_client_unregister();
                }
                BACKEND.store(core::ptr::null_mut(), Ordering::Release);
                return Err(Error::from_errno(ret));
            }
        }
        pr_info!(
            "backend for {} ready{}; start xenib-backd to serve\n",
            name,
            if xen { " (Xen vrdma devices too)" } else { "" }
        );
        Ok(IbBack { backend, xen })
    }
}

impl Drop for IbBack {
    fn drop(&mut self) {
        // SAFETY: Registered in `init`. The misc device's owner is this
        // module, so no service can be running (it holds the device open).
        unsafe { sys::xenib_back_misc_deregister() };
        if self.xen {
            // SAFETY: Registered in `init`. Each device's remove callback
            // disconnects its frontend; xenbus then tells it we closed.
            unsafe { sys::xenib_back_xen_unregister() };
        }
        self.backend.unload();
        // SAFETY: Registered in `init`. No frontend is left for its remove
        // callback to tell.
        unsafe { sys::xenib_back_client_unregister() };
        BACKEND.store(core::ptr::null_mut(), Ordering::Release);
    }
}

/// The RDMA core is removing `ibdev` (our `ib_client`'s remove callback).
#[no_mangle]
pub(crate) extern "C" fn xenib_back_device_removed(ibdev: *mut sys::ib_device) {
    if let Some(backend) = Backend::get() {
        backend.device_removed(ibdev);
    }
}
