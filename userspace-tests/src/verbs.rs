// SPDX-License-Identifier: GPL-2.0
//! Thin safe wrapper over the raw libibverbs bindings of `rdma-sys`.
//!
//! This is the only module of the crate that contains `unsafe`. Every verbs
//! object is an RAII type that frees its object on drop and keeps the objects
//! it depends on alive through reference counting (a `Qp` holds its `Pd` and
//! `Cq`s, a `Pd` holds its `Context`, ...), so the C objects are always
//! destroyed children-first. Fallible calls return `Result<_, Errno>` with the
//! errno libibverbs reported.
//!
//! Memory that the device may read or write (`Buf`) is never handed out as a
//! Rust reference: it is only accessed by copying through raw pointers, so the
//! device writing into it behind the compiler's back cannot violate aliasing
//! rules.

use std::alloc::{self, Layout};
use std::cell::Cell;
use std::ffi::CStr;
use std::mem::{self, MaybeUninit};
use std::os::fd::BorrowedFd;
use std::ptr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use rdma_sys as sys;

pub use sys::ibv_mtu;
pub use sys::ibv_qp_state;
pub use sys::ibv_wc_opcode;
pub use sys::ibv_wc_status;

// The structures rdma-sys defines by hand (unions bindgen cannot express)
// must match rdma-core 44's layout exactly; sizes checked against gcc.
const _: () = assert!(mem::size_of::<sys::ibv_send_wr>() == 128);
const _: () = assert!(mem::size_of::<sys::ibv_recv_wr>() == 32);
const _: () = assert!(mem::size_of::<sys::ibv_wc>() == 48);
const _: () = assert!(mem::size_of::<sys::ibv_ah_attr>() == 32);
const _: () = assert!(mem::size_of::<sys::ibv_global_route>() == 24);
const _: () = assert!(mem::size_of::<sys::ibv_qp_attr>() == 144);
const _: () = assert!(mem::size_of::<sys::ibv_qp_init_attr>() == 64);
const _: () = assert!(mem::size_of::<sys::ibv_port_attr>() == 52);
const _: () = assert!(mem::size_of::<sys::ibv_device_attr>() == 232);
const _: () = assert!(mem::size_of::<sys::ibv_srq_init_attr>() == 24);
const _: () = assert!(mem::size_of::<sys::ibv_gid>() == 16);
const _: () = assert!(mem::size_of::<sys::ibv_sge>() == 16);

/// Access flags (`IBV_ACCESS_*`).
pub mod access {
    pub const LOCAL_WRITE: u32 = 1;
    pub const REMOTE_WRITE: u32 = 2;
    pub const REMOTE_READ: u32 = 4;
    pub const REMOTE_ATOMIC: u32 = 8;
    pub const ALL: u32 = LOCAL_WRITE | REMOTE_WRITE | REMOTE_READ | REMOTE_ATOMIC;
    /// Memory windows may be bound to the MR.
    pub const MW_BIND: u32 = 16;
}

/// `IBV_WC_WITH_IMM` / `IBV_WC_GRH` bits of `Wc::wc_flags`.
/// `IBV_EVENT_SRQ_LIMIT_REACHED`.
pub const EVENT_SRQ_LIMIT_REACHED: u32 = sys::ibv_event_type::IBV_EVENT_SRQ_LIMIT_REACHED as u32;
pub const WC_GRH: u32 = 1 << 0;
pub const WC_WITH_IMM: u32 = 1 << 1;

/// Size of the Global Routing Header a UD receive buffer starts with.
pub const GRH_LEN: usize = 40;

/// errno after a libibverbs call that reported failure without a return
/// code (NULL pointer), with EIO if the library forgot to set it.
fn last_errno() -> Errno {
    match Errno::last() {
        Errno::UnknownErrno => Errno::EIO,
        e => e,
    }
}

/// A verbs call returning 0 or an errno value (positive; some providers
/// return it negated, so take the absolute value).
fn check_rc(rc: i32) -> Result<(), Errno> {
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno::from_raw(rc.abs()))
    }
}

/// Human-readable name of a work completion status.
pub fn wc_status_str(status: u32) -> String {
    // SAFETY: ibv_wc_status_str returns a pointer to a static NUL-terminated
    // string for any value (an "unknown" string for out-of-range ones).
    unsafe { CStr::from_ptr(sys::ibv_wc_status_str(status)) }
        .to_string_lossy()
        .into_owned()
}

// ---------------------------------------------------------------------------
// Device and context

struct CtxInner {
    ctx: *mut sys::ibv_context,
}

impl Drop for CtxInner {
    fn drop(&mut self) {
        // SAFETY: ctx came from ibv_open_device and every child object holds
        // an Rc of this, so none is left when it is closed.
        unsafe { sys::ibv_close_device(self.ctx) };
    }
}

/// An open device (`ibv_context`).
#[derive(Clone)]
pub struct Context(Rc<CtxInner>);

/// The device attributes a test needs.
#[derive(Debug, Clone)]
pub struct DeviceAttr {
    pub fw_ver: String,
    pub phys_port_cnt: u8,
    pub max_qp: i32,
    pub max_qp_wr: i32,
    pub max_sge: i32,
    pub max_cq: i32,
    pub max_cqe: i32,
    pub max_mr: i32,
    pub max_mr_size: u64,
    pub max_pd: i32,
    pub max_srq: i32,
    pub max_srq_wr: i32,
    pub max_qp_rd_atom: i32,
    pub atomic_cap: u32,
    pub max_mw: i32,
    pub device_cap_flags: u32,
}

/// `IBV_ATOMIC_NONE`.
pub const ATOMIC_NONE: u32 = sys::ibv_atomic_cap::IBV_ATOMIC_NONE;

#[derive(Debug, Clone)]
pub struct PortAttr {
    pub state: u32,
    pub active_mtu: u32,
    pub gid_tbl_len: i32,
    pub link_layer: u8,
}

/// `IBV_PORT_ACTIVE`.
pub const PORT_ACTIVE: u32 = sys::ibv_port_state::IBV_PORT_ACTIVE;
/// `IBV_LINK_LAYER_ETHERNET`.
pub const LINK_LAYER_ETHERNET: u8 = 2;

/// A 16-byte GID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gid(pub [u8; 16]);

impl Gid {
    /// An IPv4-mapped GID (::ffff:a.b.c.d), as RoCE v2 uses for IPv4.
    pub fn is_ipv4_mapped(&self) -> bool {
        self.0[..10].iter().all(|&b| b == 0) && self.0[10] == 0xff && self.0[11] == 0xff
    }
}

impl std::fmt::Display for Gid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, c) in self.0.chunks(2).enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{:02x}{:02x}", c[0], c[1])?;
        }
        Ok(())
    }
}

/// An asynchronous event: its type and, for an SRQ event, which SRQ.
pub struct AsyncEvent {
    pub event_type: u32,
    pub srq: *mut sys::ibv_srq,
}

impl Context {
    /// The uverbs file, for raw commands.
    pub fn cmd_fd(&self) -> i32 {
        // SAFETY: ctx is open.
        unsafe { (*self.0.ctx).cmd_fd }
    }

    /// The next asynchronous event, waiting at most `timeout`; acknowledged.
    pub fn async_event(&self, timeout: Duration) -> Result<Option<AsyncEvent>, Errno> {
        // SAFETY: the context's async fd stays open as long as the context.
        let fd = unsafe { BorrowedFd::borrow_raw((*self.0.ctx).async_fd) };
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        let ms = PollTimeout::try_from(timeout.as_millis().min(i32::MAX as u128) as i32)
            .map_err(|_| Errno::EINVAL)?;
        if poll(&mut fds, ms)? == 0 {
            return Ok(None);
        }
        // SAFETY: all-zero is a valid ibv_async_event to be filled in.
        let mut ev: sys::ibv_async_event = unsafe { mem::zeroed() };
        // SAFETY: ctx is live; readable, so this does not block.
        if unsafe { sys::ibv_get_async_event(self.0.ctx, &mut ev) } != 0 {
            return Err(last_errno());
        }
        // SAFETY: for SRQ events the union holds the SRQ (read as a plain
        // pointer value, never dereferenced here).
        let srq = unsafe { ev.element.srq };
        let event_type = ev.event_type as u32;
        // SAFETY: acknowledges the event just obtained.
        unsafe { sys::ibv_ack_async_event(&mut ev) };
        Ok(Some(AsyncEvent { event_type, srq }))
    }

    /// Opens the device called `name` (e.g. "rxe0").
    pub fn open(name: &str) -> Result<Context, Errno> {
        let mut n = 0;
        // SAFETY: ibv_get_device_list writes the count and returns an array
        // of n device pointers (or NULL), freed below with
        // ibv_free_device_list after the device is opened (an opened context
        // stays valid after the list is freed).
        unsafe {
            let list = sys::ibv_get_device_list(&mut n);
            if list.is_null() {
                return Err(last_errno());
            }
            let mut found = ptr::null_mut();
            for i in 0..n.max(0) as usize {
                let dev = *list.add(i);
                let dname = CStr::from_ptr(sys::ibv_get_device_name(dev));
                if dname.to_bytes() == name.as_bytes() {
                    found = dev;
                    break;
                }
            }
            let res = if found.is_null() {
                Err(Errno::ENODEV)
            } else {
                let ctx = sys::ibv_open_device(found);
                if ctx.is_null() {
                    Err(last_errno())
                } else {
                    Ok(Context(Rc::new(CtxInner { ctx })))
                }
            };
            sys::ibv_free_device_list(list);
            res
        }
    }

    /// Names of all RDMA devices libibverbs sees.
    pub fn device_names() -> Result<Vec<String>, Errno> {
        let mut n = 0;
        let mut names = Vec::new();
        // SAFETY: as in open(); names are copied out before the list is freed.
        unsafe {
            let list = sys::ibv_get_device_list(&mut n);
            if list.is_null() {
                return Err(last_errno());
            }
            for i in 0..n.max(0) as usize {
                let dev = *list.add(i);
                names.push(
                    CStr::from_ptr(sys::ibv_get_device_name(dev))
                        .to_string_lossy()
                        .into_owned(),
                );
            }
            sys::ibv_free_device_list(list);
        }
        Ok(names)
    }

    pub fn query_device(&self) -> Result<DeviceAttr, Errno> {
        let mut a = MaybeUninit::<sys::ibv_device_attr>::zeroed();
        // SAFETY: ctx is open; a is a writable ibv_device_attr.
        check_rc(unsafe { sys::ibv_query_device(self.0.ctx, a.as_mut_ptr()) })?;
        // SAFETY: ibv_query_device succeeded and filled it (and zeroed is a
        // valid bit pattern for this plain C struct anyway).
        let a = unsafe { a.assume_init() };
        // SAFETY: fw_ver is a NUL-terminated char array inside `a`.
        let fw = unsafe { CStr::from_ptr(a.fw_ver.as_ptr()) };
        Ok(DeviceAttr {
            fw_ver: fw.to_string_lossy().into_owned(),
            phys_port_cnt: a.phys_port_cnt,
            max_qp: a.max_qp,
            max_qp_wr: a.max_qp_wr,
            max_sge: a.max_sge,
            max_cq: a.max_cq,
            max_cqe: a.max_cqe,
            max_mr: a.max_mr,
            max_mr_size: a.max_mr_size,
            max_pd: a.max_pd,
            max_srq: a.max_srq,
            max_srq_wr: a.max_srq_wr,
            max_qp_rd_atom: a.max_qp_rd_atom,
            atomic_cap: a.atomic_cap,
            max_mw: a.max_mw,
            device_cap_flags: a.device_cap_flags,
        })
    }

    pub fn query_port(&self, port: u8) -> Result<PortAttr, Errno> {
        let mut a = MaybeUninit::<sys::ibv_port_attr>::zeroed();
        // SAFETY: ctx is open; ___ibv_query_port is what the C macro
        // ibv_query_port expands to and fills the zeroed struct.
        check_rc(unsafe { sys::___ibv_query_port(self.0.ctx, port, a.as_mut_ptr()) })?;
        // SAFETY: filled above; all-zero is valid too.
        let a = unsafe { a.assume_init() };
        Ok(PortAttr {
            state: a.state,
            active_mtu: a.active_mtu,
            gid_tbl_len: a.gid_tbl_len,
            link_layer: a.link_layer,
        })
    }

    pub fn query_gid(&self, port: u8, index: i32) -> Result<Gid, Errno> {
        let mut g = MaybeUninit::<sys::ibv_gid>::zeroed();
        // SAFETY: ctx is open; g is a writable 16-byte union.
        let rc = unsafe { sys::ibv_query_gid(self.0.ctx, port, index, g.as_mut_ptr()) };
        if rc != 0 {
            return Err(last_errno());
        }
        // SAFETY: every bit pattern of the raw byte view is valid.
        Ok(Gid(unsafe { g.assume_init().raw }))
    }
}

// ---------------------------------------------------------------------------
// Protection domain

struct PdInner {
    pd: *mut sys::ibv_pd,
    _ctx: Context,
}

impl Drop for PdInner {
    fn drop(&mut self) {
        // SAFETY: pd came from ibv_alloc_pd; its children hold an Rc of this.
        unsafe { sys::ibv_dealloc_pd(self.pd) };
    }
}

#[derive(Clone)]
pub struct Pd(Rc<PdInner>);

impl Pd {
    pub fn alloc(ctx: &Context) -> Result<Pd, Errno> {
        // SAFETY: ctx is open.
        let pd = unsafe { sys::ibv_alloc_pd(ctx.0.ctx) };
        if pd.is_null() {
            return Err(last_errno());
        }
        Ok(Pd(Rc::new(PdInner {
            pd,
            _ctx: ctx.clone(),
        })))
    }

    pub fn handle(&self) -> u32 {
        // SAFETY: pd is valid while self lives.
        unsafe { (*self.0.pd).handle }
    }
}

// ---------------------------------------------------------------------------
// Memory

const PAGE: usize = 4096;

/// A page-aligned, zero-initialised heap buffer the device may access.
pub struct Buf {
    ptr: *mut u8,
    layout: Layout,
}

impl Buf {
    pub fn new(len: usize) -> Buf {
        let layout = Layout::from_size_align(len.max(1), PAGE).expect("buffer layout");
        // SAFETY: layout has non-zero size.
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            alloc::handle_alloc_error(layout);
        }
        Buf { ptr, layout }
    }

    pub fn len(&self) -> usize {
        self.layout.size()
    }

    pub fn addr(&self) -> u64 {
        self.ptr as u64
    }

    fn check(&self, off: usize, len: usize) {
        assert!(
            off.checked_add(len).is_some_and(|e| e <= self.len()),
            "buffer access {off}+{len} out of {} bytes",
            self.len()
        );
    }

    /// Copies `data` into the buffer at `off`.
    pub fn write(&self, off: usize, data: &[u8]) {
        self.check(off, data.len());
        // SAFETY: the range is inside the allocation (checked); the source is
        // a distinct Rust slice so they cannot overlap.
        unsafe { ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(off), data.len()) };
    }

    /// Copies `len` bytes at `off` out of the buffer.
    pub fn read(&self, off: usize, len: usize) -> Vec<u8> {
        self.check(off, len);
        let mut v = vec![0u8; len];
        // SAFETY: the range is inside the allocation (checked); v is a fresh
        // allocation of len bytes.
        unsafe { ptr::copy_nonoverlapping(self.ptr.add(off), v.as_mut_ptr(), len) };
        v
    }

    /// Sets `len` bytes at `off` to `byte`.
    pub fn fill(&self, off: usize, len: usize, byte: u8) {
        self.check(off, len);
        // SAFETY: the range is inside the allocation (checked).
        unsafe { ptr::write_bytes(self.ptr.add(off), byte, len) };
    }

    pub fn read_u64(&self, off: usize) -> u64 {
        u64::from_ne_bytes(self.read(off, 8).try_into().unwrap())
    }

    pub fn write_u64(&self, off: usize, v: u64) {
        self.write(off, &v.to_ne_bytes());
    }
}

impl Buf {
    /// Replaces the buffer's pages with fresh zeroed ones at the same
    /// address (munmap, then mmap with MAP_FIXED): what was pinned for a
    /// registration is no longer this memory.
    pub fn replace_pages(&self) -> Result<(), Errno> {
        let len = self.len().next_multiple_of(PAGE);
        // SAFETY: the range is this allocation's (page-aligned, whole
        // pages); no Rust reference into it exists, and it is mapped again
        // at once, anonymous and writable, so the allocator finds memory
        // there as before.
        unsafe {
            if libc::munmap(self.ptr.cast(), len) != 0 {
                return Err(Errno::last());
            }
            let p = libc::mmap(
                self.ptr.cast(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            );
            if p != self.ptr.cast() {
                return Err(Errno::last());
            }
        }
        Ok(())
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        // SAFETY: allocated in new() with this layout. Any Mr over it owns
        // the Buf, so it is deregistered before the memory is freed.
        unsafe { alloc::dealloc(self.ptr, self.layout) };
    }
}

/// A registered memory region over (part of) a `Buf` it owns.
pub struct Mr {
    mr: *mut sys::ibv_mr,
    buf: Option<Buf>,
    off: usize,
    len: usize,
    _pd: Pd,
}

impl Mr {
    /// `ibv_rereg_mr`: moves the MR onto `buf` (translation) and/or changes
    /// its access flags; keys are re-read afterwards.
    pub fn rereg(&mut self, buf: Option<Buf>, access: Option<u32>) -> Result<(), Errno> {
        let mut flags = 0;
        let (addr, len) = match &buf {
            Some(b) => {
                flags |= 1; // IBV_REREG_MR_CHANGE_TRANSLATION
                (b.addr() as *mut std::ffi::c_void, b.len())
            }
            None => (ptr::null_mut(), 0),
        };
        if access.is_some() {
            flags |= 4; // IBV_REREG_MR_CHANGE_ACCESS
        }
        // SAFETY: mr is live; a new buffer is kept alive by self below.
        let r = unsafe {
            sys::ibv_rereg_mr(self.mr, flags, ptr::null_mut(), addr, len, access.unwrap_or(0) as i32)
        };
        if r != 0 {
            return Err(Errno::last());
        }
        if let Some(b) = buf {
            self.len = b.len();
            self.off = 0;
            self.buf = Some(b);
        }
        Ok(())
    }

    /// Registers `len` bytes of `buf` starting at byte `off` (need not be
    /// page aligned) with the `access` flags.
    pub fn register(pd: &Pd, buf: Buf, off: usize, len: usize, access: u32) -> Result<Mr, Errno> {
        buf.check(off, len);
        // SAFETY: the range lies within buf, which the Mr keeps alive until
        // after ibv_dereg_mr. ibv_reg_mr is the plain symbol the C macro
        // uses when no IBV_ACCESS_OPTIONAL_RANGE flag is given.
        let mr = unsafe { sys::ibv_reg_mr(pd.0.pd, buf.ptr.add(off).cast(), len, access as i32) };
        if mr.is_null() {
            return Err(last_errno());
        }
        Ok(Mr {
            mr,
            buf: Some(buf),
            off,
            len,
            _pd: pd.clone(),
        })
    }

    /// A whole new zeroed buffer of `len` bytes, registered.
    pub fn alloc(pd: &Pd, len: usize, access: u32) -> Result<Mr, Errno> {
        Mr::register(pd, Buf::new(len), 0, len, access)
    }

    pub fn lkey(&self) -> u32 {
        // SAFETY: mr is valid while self lives.
        unsafe { (*self.mr).lkey }
    }

    /// The MR's uverbs handle, for raw commands.
    pub fn handle(&self) -> u32 {
        // SAFETY: mr is valid while self lives.
        unsafe { (*self.mr).handle }
    }

    pub fn rkey(&self) -> u32 {
        // SAFETY: mr is valid while self lives.
        unsafe { (*self.mr).rkey }
    }

    /// Start address and length the device reports for the region.
    pub fn reported_range(&self) -> (u64, usize) {
        // SAFETY: mr is valid while self lives.
        unsafe { ((*self.mr).addr as u64, (*self.mr).length) }
    }

    /// Length of the registered range.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Address of byte `off` of the registered range.
    pub fn addr(&self, off: usize) -> u64 {
        self.buf().addr() + (self.off + off) as u64
    }

    /// The underlying buffer (offsets relative to the buffer start).
    pub fn buf(&self) -> &Buf {
        self.buf.as_ref().expect("buffer present until dereg")
    }

    /// Writes into the registered range at `off`.
    pub fn write(&self, off: usize, data: &[u8]) {
        assert!(off + data.len() <= self.len);
        self.buf().write(self.off + off, data)
    }

    /// Reads from the registered range at `off`.
    pub fn read(&self, off: usize, len: usize) -> Vec<u8> {
        assert!(off + len <= self.len);
        self.buf().read(self.off + off, len)
    }

    pub fn read_u64(&self, off: usize) -> u64 {
        self.buf().read_u64(self.off + off)
    }

    pub fn write_u64(&self, off: usize, v: u64) {
        self.buf().write_u64(self.off + off, v)
    }

    /// A scatter/gather entry for `len` bytes at `off` of this region.
    pub fn sge(&self, off: usize, len: usize) -> Sge {
        Sge {
            addr: self.addr(off),
            length: len as u32,
            lkey: self.lkey(),
        }
    }

    /// Deregisters explicitly, returning the error ibv_dereg_mr gives, and
    /// the buffer (which stays allocated).
    pub fn dereg(mut self) -> Result<Buf, Errno> {
        // SAFETY: mr is valid; it is nulled so Drop does not free it again.
        let rc = unsafe { sys::ibv_dereg_mr(self.mr) };
        self.mr = ptr::null_mut();
        check_rc(rc)?;
        Ok(self.buf.take().unwrap())
    }
}

impl Drop for Mr {
    fn drop(&mut self) {
        if !self.mr.is_null() {
            // SAFETY: mr came from ibv_reg_mr and was not deregistered yet;
            // buf is dropped (freed) only after this, being a field.
            unsafe { sys::ibv_dereg_mr(self.mr) };
        }
    }
}

/// A scatter/gather element (raw address, length, lkey). Wrong values are
/// the device's business: it must reject them with an error completion.
#[derive(Debug, Clone, Copy)]
pub struct Sge {
    pub addr: u64,
    pub length: u32,
    pub lkey: u32,
}

impl Sge {
    fn raw(&self) -> sys::ibv_sge {
        sys::ibv_sge {
            addr: self.addr,
            length: self.length,
            lkey: self.lkey,
        }
    }
}

// ---------------------------------------------------------------------------
// Completion channel and completion queue

struct ChanInner {
    ch: *mut sys::ibv_comp_channel,
    _ctx: Context,
}

impl Drop for ChanInner {
    fn drop(&mut self) {
        // SAFETY: ch came from ibv_create_comp_channel; CQs using it hold an
        // Rc of this, so none is left.
        unsafe { sys::ibv_destroy_comp_channel(self.ch) };
    }
}

#[derive(Clone)]
pub struct CompChannel(Rc<ChanInner>);

impl CompChannel {
    pub fn new(ctx: &Context) -> Result<CompChannel, Errno> {
        // SAFETY: ctx is open.
        let ch = unsafe { sys::ibv_create_comp_channel(ctx.0.ctx) };
        if ch.is_null() {
            return Err(last_errno());
        }
        Ok(CompChannel(Rc::new(ChanInner {
            ch,
            _ctx: ctx.clone(),
        })))
    }

    fn fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the channel's fd stays open until the channel is destroyed,
        // which cannot happen while &self is borrowed.
        unsafe { BorrowedFd::borrow_raw((*self.0.ch).fd) }
    }

    /// Whether an event is pending, waiting at most `timeout`.
    pub fn readable(&self, timeout: Duration) -> Result<bool, Errno> {
        let mut fds = [PollFd::new(self.fd(), PollFlags::POLLIN)];
        let ms = PollTimeout::try_from(timeout.as_millis().min(i32::MAX as u128) as i32)
            .map_err(|_| Errno::EINVAL)?;
        let n = poll(&mut fds, ms)?;
        Ok(n > 0
            && fds[0]
                .revents()
                .is_some_and(|r| r.contains(PollFlags::POLLIN)))
    }
}

/// A work completion.
#[derive(Debug, Clone, Copy)]
pub struct Wc {
    pub wr_id: u64,
    pub status: u32,
    pub opcode: u32,
    pub vendor_err: u32,
    pub byte_len: u32,
    /// Immediate data in host order, if `WC_WITH_IMM` is set.
    pub imm: Option<u32>,
    pub qp_num: u32,
    pub src_qp: u32,
    pub wc_flags: u32,
    /// The raw `imm_data`/`invalidated_rkey` word, whatever the flags say.
    pub ex: u32,
}

pub struct Cq {
    cq: *mut sys::ibv_cq,
    unacked: Cell<u32>,
    chan: Option<CompChannel>,
    _ctx: Context,
}

impl Cq {
    pub fn new(ctx: &Context, cqe: i32, chan: Option<&CompChannel>) -> Result<Rc<Cq>, Errno> {
        let ch = chan.map_or(ptr::null_mut(), |c| c.0.ch);
        // SAFETY: ctx is open, ch is NULL or a live channel of this context
        // that the Cq keeps alive.
        let cq = unsafe { sys::ibv_create_cq(ctx.0.ctx, cqe, ptr::null_mut(), ch, 0) };
        if cq.is_null() {
            return Err(last_errno());
        }
        Ok(Rc::new(Cq {
            cq,
            unacked: Cell::new(0),
            chan: chan.cloned(),
            _ctx: ctx.clone(),
        }))
    }

    /// `ibv_resize_cq`; returns the number of entries it holds now.
    pub fn resize(&self, cqe: i32) -> Result<i32, Errno> {
        // SAFETY: cq is live; nothing polls it meanwhile (&self, one thread).
        let r = unsafe { sys::ibv_resize_cq(self.cq, cqe) };
        if r != 0 {
            return Err(Errno::from_raw(r));
        }
        // SAFETY: cq is live.
        Ok(unsafe { (*self.cq).cqe })
    }

    /// Polls at most `max` completions without blocking.
    pub fn poll(&self, max: usize) -> Result<Vec<Wc>, Errno> {
        let mut raw: Vec<MaybeUninit<sys::ibv_wc>> = Vec::with_capacity(max);
        // SAFETY: raw has room for max entries; ibv_poll_cq writes at most
        // that many and returns how many (or a negative error).
        let n = unsafe {
            raw.set_len(max);
            sys::ibv_poll_cq(self.cq, max as i32, raw.as_mut_ptr().cast())
        };
        if n < 0 {
            return Err(Errno::from_raw(-n));
        }
        Ok(raw[..n as usize]
            .iter()
            .map(|w| {
                // SAFETY: the first n entries were written by ibv_poll_cq.
                let w = unsafe { w.assume_init_ref() };
                // SAFETY: imm_data is a plain u32 view of the union.
                let imm = unsafe { w.imm_data_invalidated_rkey_union.imm_data };
                Wc {
                    wr_id: w.wr_id,
                    status: w.status,
                    opcode: w.opcode,
                    vendor_err: w.vendor_err,
                    byte_len: w.byte_len,
                    imm: (w.wc_flags & WC_WITH_IMM != 0).then(|| u32::from_be(imm)),
                    qp_num: w.qp_num,
                    src_qp: w.src_qp,
                    wc_flags: w.wc_flags,
                    ex: imm,
                }
            })
            .collect())
    }

    /// Polls until `n` completions arrived or `timeout` passed; returns
    /// those that arrived (fewer than n on timeout).
    pub fn poll_n(&self, n: usize, timeout: Duration) -> Result<Vec<Wc>, Errno> {
        let end = Instant::now() + timeout;
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let got = self.poll(n - out.len())?;
            if got.is_empty() {
                if Instant::now() > end {
                    break;
                }
                std::thread::yield_now();
            }
            out.extend(got);
        }
        Ok(out)
    }

    /// Arms the CQ: the next completion generates an event on its channel.
    pub fn req_notify(&self, solicited_only: bool) -> Result<(), Errno> {
        // SAFETY: cq is valid.
        check_rc(unsafe { sys::ibv_req_notify_cq(self.cq, solicited_only as i32) })
    }

    /// Waits up to `timeout` for an event on the CQ's channel and reads it
    /// with ibv_get_cq_event. Ok(false) on timeout. Fails with EINVAL if the
    /// event is for another CQ (it is acknowledged in that case).
    pub fn get_event(&self, timeout: Duration) -> Result<bool, Errno> {
        let chan = self.chan.as_ref().ok_or(Errno::EINVAL)?;
        if !chan.readable(timeout)? {
            return Ok(false);
        }
        let mut cq = ptr::null_mut();
        let mut cq_ctx = ptr::null_mut();
        // SAFETY: the channel is live; poll() said its fd is readable, so
        // this does not block.
        let rc = unsafe { sys::ibv_get_cq_event(chan.0.ch, &mut cq, &mut cq_ctx) };
        if rc != 0 {
            return Err(last_errno());
        }
        if cq != self.cq {
            // SAFETY: every CQ on the channel is a live Cq (it holds the
            // channel); acknowledge the foreign event at once.
            unsafe { sys::ibv_ack_cq_events(cq, 1) };
            return Err(Errno::EINVAL);
        }
        self.unacked.set(self.unacked.get() + 1);
        Ok(true)
    }

    /// Acknowledges the events received so far (ibv_ack_cq_events).
    pub fn ack_events(&self) -> u32 {
        let n = self.unacked.replace(0);
        if n > 0 {
            // SAFETY: cq is valid and n events were received for it.
            unsafe { sys::ibv_ack_cq_events(self.cq, n) };
        }
        n
    }
}

impl Drop for Cq {
    fn drop(&mut self) {
        // ibv_destroy_cq waits for all its events to be acknowledged.
        self.ack_events();
        // SAFETY: cq came from ibv_create_cq; QPs using it hold an Rc of it.
        unsafe { sys::ibv_destroy_cq(self.cq) };
    }
}

// ---------------------------------------------------------------------------
// Shared receive queue

pub struct Srq {
    srq: *mut sys::ibv_srq,
    _pd: Pd,
}

impl Srq {
    pub fn new(pd: &Pd, max_wr: u32, max_sge: u32) -> Result<Rc<Srq>, Errno> {
        // SAFETY: all-zero is a valid ibv_srq_init_attr.
        let mut a: sys::ibv_srq_init_attr = unsafe { mem::zeroed() };
        a.attr.max_wr = max_wr;
        a.attr.max_sge = max_sge;
        // SAFETY: pd is live; a is a valid init attr.
        let srq = unsafe { sys::ibv_create_srq(pd.0.pd, &mut a) };
        if srq.is_null() {
            return Err(last_errno());
        }
        Ok(Rc::new(Srq {
            srq,
            _pd: pd.clone(),
        }))
    }

    pub fn post_recv(&self, wrs: &[RecvWr]) -> Result<(), (Errno, usize)> {
        post_recv_chain(wrs, |wr, bad| {
            // SAFETY: srq is live; wr is a well-formed chain (see
            // post_recv_chain).
            unsafe { sys::ibv_post_srq_recv(self.srq, wr, bad) }
        })
    }

    /// Arms the SRQ limit: an event once fewer than `limit` WRs are left.
    pub fn arm_limit(&self, limit: u32) -> Result<(), Errno> {
        // SAFETY: all-zero is a valid ibv_srq_attr.
        let mut a: sys::ibv_srq_attr = unsafe { mem::zeroed() };
        a.srq_limit = limit;
        // SAFETY: srq is live; a is valid for the mask given.
        let r = unsafe { sys::ibv_modify_srq(self.srq, &mut a, sys::ibv_srq_attr_mask::IBV_SRQ_LIMIT.0 as i32) };
        if r != 0 {
            return Err(Errno::from_raw(r));
        }
        Ok(())
    }

    pub fn as_ptr(&self) -> *mut sys::ibv_srq {
        self.srq
    }

    /// Grows (or shrinks) the SRQ to `max_wr` receive WRs
    /// (`ibv_modify_srq(IBV_SRQ_MAX_WR)`); returns what it holds now.
    pub fn resize(&self, max_wr: u32) -> Result<u32, Errno> {
        // SAFETY: all-zero is a valid ibv_srq_attr.
        let mut a: sys::ibv_srq_attr = unsafe { mem::zeroed() };
        a.max_wr = max_wr;
        // SAFETY: srq is live; a is valid for the mask given.
        let r = unsafe { sys::ibv_modify_srq(self.srq, &mut a, sys::ibv_srq_attr_mask::IBV_SRQ_MAX_WR.0 as i32) };
        if r != 0 {
            return Err(Errno::from_raw(r));
        }
        // SAFETY: all-zero is a valid ibv_srq_attr.
        let mut q: sys::ibv_srq_attr = unsafe { mem::zeroed() };
        // SAFETY: srq is live; q is a valid attribute struct to fill.
        let r = unsafe { sys::ibv_query_srq(self.srq, &mut q) };
        if r != 0 {
            return Err(Errno::from_raw(r));
        }
        Ok(q.max_wr)
    }

    /// The SRQ's uverbs handle, for raw commands.
    pub fn handle(&self) -> u32 {
        // SAFETY: srq is live.
        unsafe { (*self.srq).handle }
    }

    /// The uverbs file of the SRQ's context, for raw commands.
    pub fn cmd_fd(&self) -> i32 {
        // SAFETY: srq and its context are live.
        unsafe { (*(*self.srq).context).cmd_fd }
    }
}

/// The address of a page this process had and no longer has.
pub fn unmapped_page() -> u64 {
    // SAFETY: A fresh anonymous mapping, unmapped again; nothing else
    // refers to it.
    unsafe {
        let p = libc::mmap(
            ptr::null_mut(),
            PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert!(p != libc::MAP_FAILED, "mmap of one page failed");
        libc::munmap(p, PAGE);
        p as u64
    }
}

/// Writes a raw uverbs command (`struct ib_uverbs_cmd_hdr` and its body,
/// provider bytes included) to a context's uverbs file: for error cases
/// that libibverbs would not let through.
pub fn raw_uverbs_write(cmd_fd: i32, command: u32, body: &[u8]) -> Result<(), Errno> {
    write_cmd(cmd_fd, command, body, 0)
}

/// Writes a raw uverbs command with a response buffer: `body` starts with
/// the command's `response` pointer (filled in here), `out` receives the
/// response and its length is what the command offers (`out_words`).
pub fn raw_uverbs_write_resp(cmd_fd: i32, command: u32, body: &[u8], out: &mut [u8]) -> Result<(), Errno> {
    assert!(body.len() >= 8 && out.len() % 4 == 0);
    let mut with_ptr = (out.as_mut_ptr() as u64).to_ne_bytes().to_vec();
    with_ptr.extend_from_slice(&body[8..]);
    // The kernel writes at most out.len() bytes to out, which outlives the call.
    write_cmd(cmd_fd, command, &with_ptr, out.len() / 4)
}

fn write_cmd(cmd_fd: i32, command: u32, body: &[u8], out_words: usize) -> Result<(), Errno> {
    let mut buf = Vec::with_capacity(8 + body.len());
    buf.extend_from_slice(&command.to_ne_bytes());
    buf.extend_from_slice(&(((8 + body.len()) / 4) as u16).to_ne_bytes());
    buf.extend_from_slice(&(out_words as u16).to_ne_bytes());
    buf.extend_from_slice(body);
    // SAFETY: buf is valid for its length; cmd_fd is a uverbs file; any
    // response pointer in body is the caller's, sized by out_words.
    let r = unsafe { libc::write(cmd_fd, buf.as_ptr().cast(), buf.len()) };
    if r < 0 {
        return Err(last_errno());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Raw ioctl methods

/// `UVERBS_ATTR_F_MANDATORY`: the kernel must know the attribute.
pub const ATTR_MANDATORY: u16 = 1 << 0;
/// `UVERBS_ATTR_F_VALID_OUTPUT`: the kernel wrote this output.
pub const ATTR_VALID_OUTPUT: u16 = 1 << 1;

/// `struct ib_uverbs_attr`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RawAttr {
    attr_id: u16,
    len: u16,
    flags: u16,
    reserved: u16,
    data: u64,
}

/// Attributes one call may carry here (rdma-core's largest method has 15).
const MAX_ATTRS: usize = 16;

/// `struct ib_uverbs_ioctl_hdr` followed by its attributes.
#[repr(C)]
struct RawIoctl {
    length: u16,
    object_id: u16,
    method_id: u16,
    num_attrs: u16,
    reserved1: u64,
    driver_id: u32,
    reserved2: u32,
    attrs: [RawAttr; MAX_ATTRS],
}

const _: () = assert!(mem::size_of::<RawAttr>() == 16);
const _: () = assert!(mem::offset_of!(RawIoctl, attrs) == 24);

/// `RDMA_VERBS_IOCTL`: `_IOWR(0x1b, 1, struct ib_uverbs_ioctl_hdr)`.
const RDMA_VERBS_IOCTL: u64 = (3 << 30) | (24 << 16) | (0x1b << 8) | 1;

/// One `RDMA_VERBS_IOCTL` method call, as libibverbs builds them, for the
/// methods and malformed calls libibverbs does not expose. Inputs of up to
/// 8 bytes travel inline, longer ones and every output in buffers this
/// value owns; every attribute is marked mandatory, as rdma-core does.
pub struct Ioctl {
    object: u16,
    method: u16,
    attrs: Vec<RawAttr>,
    /// Buffers the attributes point at, by attribute id. Boxed: they must
    /// not move while the kernel may write them.
    bufs: Vec<(u16, Box<[u8]>)>,
    /// The attributes as the kernel left them after `run`.
    done: Vec<RawAttr>,
}

impl Ioctl {
    pub fn new(object: u16, method: u16) -> Ioctl {
        Ioctl { object, method, attrs: Vec::new(), bufs: Vec::new(), done: Vec::new() }
    }

    fn attr(mut self, attr_id: u16, len: usize, data: u64) -> Ioctl {
        assert!(self.attrs.len() < MAX_ATTRS, "too many attributes");
        let len = u16::try_from(len).expect("attribute length");
        self.attrs.push(RawAttr { attr_id, len, flags: ATTR_MANDATORY, reserved: 0, data });
        self
    }

    /// A `PTR_IN` attribute (`CONST_IN` and `FLAGS_IN` are 8-byte ones).
    pub fn input(mut self, id: u16, bytes: &[u8]) -> Ioctl {
        if bytes.len() <= 8 {
            let mut inline = [0u8; 8];
            inline[..bytes.len()].copy_from_slice(bytes);
            return self.attr(id, bytes.len(), u64::from_ne_bytes(inline));
        }
        let buf: Box<[u8]> = bytes.into();
        let data = buf.as_ptr() as u64;
        self.bufs.push((id, buf));
        self.attr(id, bytes.len(), data)
    }

    /// A `CONST_IN` (or `FLAGS_IN`) attribute: a 64-bit value.
    pub fn value(self, id: u16, v: u64) -> Ioctl {
        self.input(id, &v.to_ne_bytes())
    }

    /// A `PTR_OUT` attribute with room for `len` bytes.
    pub fn output(mut self, id: u16, len: usize) -> Ioctl {
        let mut buf: Box<[u8]> = vec![0u8; len].into();
        let data = buf.as_mut_ptr() as u64;
        self.bufs.push((id, buf));
        self.attr(id, len, data)
    }

    /// An `IDR` attribute naming an existing object.
    pub fn handle(self, id: u16, handle: u32) -> Ioctl {
        self.attr(id, 0, handle.into())
    }

    /// The `IDR` attribute of the object the method creates; the kernel
    /// writes its handle back (`data`).
    pub fn new_handle(self, id: u16) -> Ioctl {
        self.attr(id, 0, 0)
    }

    /// Calls the method on a context's uverbs file for a device whose
    /// driver is `driver_id` (`enum rdma_driver_id`; the kernel refuses
    /// another with `EINVAL`).
    pub fn run(&mut self, cmd_fd: i32, driver_id: u32) -> Result<(), Errno> {
        let n = self.attrs.len();
        let mut cmd = RawIoctl {
            length: (24 + 16 * n) as u16,
            object_id: self.object,
            method_id: self.method,
            num_attrs: n as u16,
            reserved1: 0,
            driver_id,
            reserved2: 0,
            attrs: [RawAttr::default(); MAX_ATTRS],
        };
        cmd.attrs[..n].copy_from_slice(&self.attrs);
        // SAFETY: cmd is a valid header with n attributes; every pointer in
        // them is into a buffer of self.bufs of the attribute's length,
        // which outlives the call. The kernel writes only those buffers
        // and the attributes' data and flags within cmd.
        let r = unsafe { libc::ioctl(cmd_fd, RDMA_VERBS_IOCTL as _, &mut cmd as *mut RawIoctl) };
        self.done = cmd.attrs[..n].to_vec();
        if r < 0 {
            return Err(last_errno());
        }
        Ok(())
    }

    /// What the kernel wrote to output `id`.
    pub fn out(&self, id: u16) -> &[u8] {
        let (_, b) = self.bufs.iter().find(|(i, _)| *i == id).expect("no such output");
        b
    }

    /// Output `id` read as a native-endian integer of its first 4/8 bytes.
    pub fn out_u32(&self, id: u16) -> u32 {
        let b = self.out(id);
        u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
    }

    pub fn out_u64(&self, id: u16) -> u64 {
        let b = self.out(id);
        u64::from_ne_bytes(b[..8].try_into().expect("8 bytes"))
    }

    fn done_attr(&self, id: u16) -> RawAttr {
        *self.done.iter().find(|a| a.attr_id == id).expect("attribute not sent or not run")
    }

    /// Attribute `id`'s data after the call (a new object's handle).
    pub fn data(&self, id: u16) -> u64 {
        self.done_attr(id).data
    }

    /// Attribute `id`'s flags after the call.
    pub fn flags(&self, id: u16) -> u16 {
        self.done_attr(id).flags
    }
}

/// A driver region of a context's uverbs file, mapped as the provider
/// maps its queues; unmapped on drop.
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    pub fn new(cmd_fd: i32, offset: u64, len: usize) -> Result<Mapping, Errno> {
        // SAFETY: a fresh shared mapping of the driver's region; nothing
        // else refers to its address range.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                cmd_fd,
                offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(last_errno());
        }
        Ok(Mapping { ptr: p.cast(), len })
    }

    /// The 32-bit word at byte `off` (the driver may change it: read once).
    pub fn read_u32(&self, off: usize) -> u32 {
        assert!(off % 4 == 0 && off + 4 <= self.len, "read at {off} of {}", self.len);
        // SAFETY: in bounds and aligned (checked); the mapping lives.
        unsafe { ptr::read_volatile(self.ptr.add(off).cast::<u32>()) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: mapped in new() with this length; no reference into it
        // was handed out.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

impl Drop for Srq {
    fn drop(&mut self) {
        // SAFETY: srq came from ibv_create_srq; QPs using it hold an Rc of it.
        unsafe { sys::ibv_destroy_srq(self.srq) };
    }
}

// ---------------------------------------------------------------------------
// Address handle

pub struct Ah {
    ah: *mut sys::ibv_ah,
    _pd: Pd,
}

/// The addressing a QP or AH needs to reach a port over RoCE (GRH), and
/// the other fields of an address vector (zero unless a case sets them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Route {
    pub dgid: Gid,
    pub sgid_index: u8,
    pub port: u8,
    pub hop_limit: u8,
    pub flow_label: u32,
    pub traffic_class: u8,
    pub sl: u8,
    pub static_rate: u8,
    /// InfiniBand only (a RoCE device ignores them).
    pub dlid: u16,
    pub src_path_bits: u8,
}

impl Route {
    fn ah_attr(&self) -> sys::ibv_ah_attr {
        // SAFETY: all-zero is a valid ibv_ah_attr.
        let mut a: sys::ibv_ah_attr = unsafe { mem::zeroed() };
        a.is_global = 1;
        a.port_num = self.port;
        a.grh.dgid = sys::ibv_gid { raw: self.dgid.0 };
        a.grh.sgid_index = self.sgid_index;
        a.grh.hop_limit = self.hop_limit;
        a.grh.flow_label = self.flow_label;
        a.grh.traffic_class = self.traffic_class;
        a.sl = self.sl;
        a.static_rate = self.static_rate;
        a.dlid = self.dlid;
        a.src_path_bits = self.src_path_bits;
        a
    }

    fn from_ah_attr(a: &sys::ibv_ah_attr) -> (bool, Route) {
        // SAFETY: `raw` is the byte view of the GID union.
        let dgid = Gid(unsafe { a.grh.dgid.raw });
        let r = Route {
            dgid,
            sgid_index: a.grh.sgid_index,
            port: a.port_num,
            hop_limit: a.grh.hop_limit,
            flow_label: a.grh.flow_label,
            traffic_class: a.grh.traffic_class,
            sl: a.sl,
            static_rate: a.static_rate,
            dlid: a.dlid,
            src_path_bits: a.src_path_bits,
        };
        (a.is_global != 0, r)
    }
}

impl Ah {
    pub fn new(pd: &Pd, route: &Route) -> Result<Ah, Errno> {
        let mut a = route.ah_attr();
        // SAFETY: pd is live; a is a valid attr.
        let ah = unsafe { sys::ibv_create_ah(pd.0.pd, &mut a) };
        if ah.is_null() {
            return Err(last_errno());
        }
        Ok(Ah {
            ah,
            _pd: pd.clone(),
        })
    }
}

impl Drop for Ah {
    fn drop(&mut self) {
        // SAFETY: ah came from ibv_create_ah. A UD WR naming it is only
        // referenced during post_send (the SendWr borrows the Ah).
        unsafe { sys::ibv_destroy_ah(self.ah) };
    }
}

// ---------------------------------------------------------------------------
// Queue pair

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QpType {
    Rc,
    Ud,
}

#[derive(Debug, Clone, Copy)]
pub struct QpCaps {
    pub max_send_wr: u32,
    pub max_recv_wr: u32,
    pub max_send_sge: u32,
    pub max_recv_sge: u32,
    pub max_inline_data: u32,
}

pub struct Qp {
    qp: *mut sys::ibv_qp,
    caps: QpCaps,
    _pd: Pd,
    _send_cq: Rc<Cq>,
    _recv_cq: Rc<Cq>,
    _srq: Option<Rc<Srq>>,
}

/// An RDMA operation of a send work request.
#[derive(Clone, Copy)]
pub enum SendOp<'a> {
    Send,
    SendImm(u32),
    Write {
        raddr: u64,
        rkey: u32,
    },
    WriteImm {
        raddr: u64,
        rkey: u32,
        imm: u32,
    },
    Read {
        raddr: u64,
        rkey: u32,
    },
    FetchAdd {
        raddr: u64,
        rkey: u32,
        add: u64,
    },
    CmpSwap {
        raddr: u64,
        rkey: u32,
        compare: u64,
        swap: u64,
    },
    UdSend {
        ah: &'a Ah,
        qpn: u32,
        qkey: u32,
    },
    /// `IBV_WR_BIND_MW` (a type 2 window): binds `mw` to `[addr, addr +
    /// len)` of `mr` under the new key `rkey`.
    BindMw {
        mw: &'a Mw,
        rkey: u32,
        mr: &'a Mr,
        addr: u64,
        len: u64,
        access: u32,
    },
    /// `IBV_WR_LOCAL_INV` of `rkey`.
    LocalInv(u32),
    /// `IBV_WR_SEND_WITH_INV`: a SEND that invalidates the peer's `rkey`.
    SendInv(u32),
}

#[derive(Clone)]
pub struct SendWr<'a> {
    pub wr_id: u64,
    pub op: SendOp<'a>,
    pub sges: Vec<Sge>,
    pub signaled: bool,
    pub inline: bool,
}

#[derive(Clone)]
pub struct RecvWr {
    pub wr_id: u64,
    pub sges: Vec<Sge>,
}

/// Builds an ibv_recv_wr chain for `wrs` and calls `post` on it; on failure
/// returns the errno and the index of the bad WR.
fn post_recv_chain(
    wrs: &[RecvWr],
    post: impl FnOnce(*mut sys::ibv_recv_wr, *mut *mut sys::ibv_recv_wr) -> i32,
) -> Result<(), (Errno, usize)> {
    if wrs.is_empty() {
        return Ok(());
    }
    let mut sges: Vec<Vec<sys::ibv_sge>> = wrs
        .iter()
        .map(|w| w.sges.iter().map(Sge::raw).collect())
        .collect();
    let mut raw: Vec<sys::ibv_recv_wr> = wrs
        .iter()
        .zip(sges.iter_mut())
        .map(|(w, s)| sys::ibv_recv_wr {
            wr_id: w.wr_id,
            next: ptr::null_mut(),
            sg_list: s.as_mut_ptr(),
            num_sge: s.len() as i32,
        })
        .collect();
    let base = raw.as_mut_ptr();
    for i in 0..raw.len() - 1 {
        // SAFETY: i + 1 < raw.len(); raw is not reallocated after this.
        raw[i].next = unsafe { base.add(i + 1) };
    }
    let mut bad = ptr::null_mut();
    // The chain (raw, sges) lives until after post returns; the provider
    // copies the WRs into its queue and keeps no pointer to them.
    let rc = post(base, &mut bad);
    if rc == 0 {
        return Ok(());
    }
    // SAFETY: bad is NULL or points into raw (same allocation as base).
    let idx = if bad.is_null() {
        0
    } else {
        (unsafe { bad.offset_from(base) }) as usize
    };
    Err((Errno::from_raw(rc.abs()), idx))
}

/// Attributes to move a QP through its states (only those the mask names
/// are used by the device).
#[derive(Debug, Clone, Copy, Default)]
pub struct QpTransition {
    pub path_mtu: u32,
    pub dest_qp_num: u32,
    pub rq_psn: u32,
    pub sq_psn: u32,
    pub qkey: u32,
    pub access: u32,
    pub port: u8,
    pub max_rd_atomic: u8,
    pub max_dest_rd_atomic: u8,
}

impl Qp {
    /// Creates a QP of `qtype` with the given capabilities; with `srq` its
    /// receives come from that SRQ (max_recv_* are then ignored).
    pub fn new(
        pd: &Pd,
        qtype: QpType,
        send_cq: &Rc<Cq>,
        recv_cq: &Rc<Cq>,
        srq: Option<&Rc<Srq>>,
        caps: QpCaps,
    ) -> Result<Qp, Errno> {
        // SAFETY: all-zero is a valid ibv_qp_init_attr.
        let mut a: sys::ibv_qp_init_attr = unsafe { mem::zeroed() };
        a.send_cq = send_cq.cq;
        a.recv_cq = recv_cq.cq;
        a.srq = srq.map_or(ptr::null_mut(), |s| s.srq);
        a.qp_type = match qtype {
            QpType::Rc => sys::ibv_qp_type::IBV_QPT_RC,
            QpType::Ud => sys::ibv_qp_type::IBV_QPT_UD,
        };
        a.cap.max_send_wr = caps.max_send_wr;
        a.cap.max_recv_wr = if srq.is_some() { 0 } else { caps.max_recv_wr };
        a.cap.max_send_sge = caps.max_send_sge;
        a.cap.max_recv_sge = if srq.is_some() { 0 } else { caps.max_recv_sge };
        a.cap.max_inline_data = caps.max_inline_data;
        a.sq_sig_all = 0;
        // SAFETY: pd, the CQs and the SRQ are live objects of one context and
        // are kept alive by the Qp.
        let qp = unsafe { sys::ibv_create_qp(pd.0.pd, &mut a) };
        if qp.is_null() {
            return Err(last_errno());
        }
        Ok(Qp {
            qp,
            caps: QpCaps {
                max_send_wr: a.cap.max_send_wr,
                max_recv_wr: a.cap.max_recv_wr,
                max_send_sge: a.cap.max_send_sge,
                max_recv_sge: a.cap.max_recv_sge,
                max_inline_data: a.cap.max_inline_data,
            },
            _pd: pd.clone(),
            _send_cq: send_cq.clone(),
            _recv_cq: recv_cq.clone(),
            _srq: srq.cloned(),
        })
    }

    pub fn qp_num(&self) -> u32 {
        // SAFETY: qp is valid while self lives.
        unsafe { (*self.qp).qp_num }
    }

    /// The capabilities ibv_create_qp reported (may exceed those asked).
    pub fn caps(&self) -> QpCaps {
        self.caps
    }

    /// `ibv_query_qp` of the attributes `mask` selects.
    fn query(&self, mask: sys::ibv_qp_attr_mask) -> Result<sys::ibv_qp_attr, Errno> {
        // SAFETY: all-zero is valid for both structs.
        let mut attr: sys::ibv_qp_attr = unsafe { mem::zeroed() };
        let mut init: sys::ibv_qp_init_attr = unsafe { mem::zeroed() };
        // SAFETY: qp is valid; both out-structs are writable.
        check_rc(unsafe { sys::ibv_query_qp(self.qp, &mut attr, mask.0 as i32, &mut init) })?;
        Ok(attr)
    }

    pub fn state(&self) -> Result<u32, Errno> {
        Ok(self.query(sys::ibv_qp_attr_mask::IBV_QP_STATE)?.qp_state)
    }

    /// The primary path as `ibv_query_qp` reads it back: whether it has a
    /// GRH, and its fields.
    pub fn path(&self) -> Result<(bool, Route), Errno> {
        let attr = self.query(sys::ibv_qp_attr_mask::IBV_QP_AV)?;
        Ok(Route::from_ah_attr(&attr.ah_attr))
    }

    fn modify(
        &self,
        attr: &mut sys::ibv_qp_attr,
        mask: sys::ibv_qp_attr_mask,
    ) -> Result<(), Errno> {
        // SAFETY: qp is valid; attr is a full ibv_qp_attr.
        check_rc(unsafe { sys::ibv_modify_qp(self.qp, attr, mask.0 as i32) })
    }

    /// RESET -> INIT. For RC, `t.access` are the remote access rights; for
    /// UD, `t.qkey` the Q_Key.
    pub fn to_init(&self, qtype: QpType, t: &QpTransition) -> Result<(), Errno> {
        use sys::ibv_qp_attr_mask as m;
        // SAFETY: all-zero is a valid ibv_qp_attr.
        let mut a: sys::ibv_qp_attr = unsafe { mem::zeroed() };
        a.qp_state = ibv_qp_state::IBV_QPS_INIT;
        a.pkey_index = 0;
        a.port_num = t.port;
        let mut mask = m::IBV_QP_STATE | m::IBV_QP_PKEY_INDEX | m::IBV_QP_PORT;
        match qtype {
            QpType::Rc => {
                a.qp_access_flags = t.access;
                mask |= m::IBV_QP_ACCESS_FLAGS;
            }
            QpType::Ud => {
                a.qkey = t.qkey;
                mask |= m::IBV_QP_QKEY;
            }
        }
        self.modify(&mut a, mask)
    }

    /// INIT -> RTR. For RC, towards `route` and remote QP `t.dest_qp_num`.
    pub fn to_rtr(&self, qtype: QpType, t: &QpTransition, route: &Route) -> Result<(), Errno> {
        use sys::ibv_qp_attr_mask as m;
        // SAFETY: all-zero is a valid ibv_qp_attr.
        let mut a: sys::ibv_qp_attr = unsafe { mem::zeroed() };
        a.qp_state = ibv_qp_state::IBV_QPS_RTR;
        let mut mask = m::IBV_QP_STATE;
        if qtype == QpType::Rc {
            a.path_mtu = t.path_mtu;
            a.dest_qp_num = t.dest_qp_num;
            a.rq_psn = t.rq_psn;
            a.max_dest_rd_atomic = t.max_dest_rd_atomic;
            a.min_rnr_timer = 12;
            a.ah_attr = route.ah_attr();
            mask |= m::IBV_QP_AV
                | m::IBV_QP_PATH_MTU
                | m::IBV_QP_DEST_QPN
                | m::IBV_QP_RQ_PSN
                | m::IBV_QP_MAX_DEST_RD_ATOMIC
                | m::IBV_QP_MIN_RNR_TIMER;
        }
        self.modify(&mut a, mask)
    }

    /// RTR -> RTS.
    pub fn to_rts(&self, qtype: QpType, t: &QpTransition) -> Result<(), Errno> {
        use sys::ibv_qp_attr_mask as m;
        // SAFETY: all-zero is a valid ibv_qp_attr.
        let mut a: sys::ibv_qp_attr = unsafe { mem::zeroed() };
        a.qp_state = ibv_qp_state::IBV_QPS_RTS;
        a.sq_psn = t.sq_psn;
        let mut mask = m::IBV_QP_STATE | m::IBV_QP_SQ_PSN;
        if qtype == QpType::Rc {
            a.timeout = 14;
            a.retry_cnt = 7;
            a.rnr_retry = 7;
            a.max_rd_atomic = t.max_rd_atomic;
            mask |= m::IBV_QP_TIMEOUT
                | m::IBV_QP_RETRY_CNT
                | m::IBV_QP_RNR_RETRY
                | m::IBV_QP_MAX_QP_RD_ATOMIC;
        }
        self.modify(&mut a, mask)
    }

    pub fn post_recv(&self, wrs: &[RecvWr]) -> Result<(), (Errno, usize)> {
        post_recv_chain(wrs, |wr, bad| {
            // SAFETY: qp is live; wr is a well-formed chain.
            unsafe { sys::ibv_post_recv(self.qp, wr, bad) }
        })
    }

    /// Posts `wrs` as one chain; on failure returns the errno and the index
    /// of the WR the provider reported as bad.
    pub fn post_send(&self, wrs: &[SendWr<'_>]) -> Result<(), (Errno, usize)> {
        use sys::ibv_wr_opcode as op;
        if wrs.is_empty() {
            return Ok(());
        }
        let mut sges: Vec<Vec<sys::ibv_sge>> = wrs
            .iter()
            .map(|w| w.sges.iter().map(Sge::raw).collect())
            .collect();
        let mut raw: Vec<sys::ibv_send_wr> = Vec::with_capacity(wrs.len());
        for (w, s) in wrs.iter().zip(sges.iter_mut()) {
            // SAFETY: all-zero is a valid ibv_send_wr (NULL pointers, zero
            // unions).
            let mut r: sys::ibv_send_wr = unsafe { mem::zeroed() };
            r.wr_id = w.wr_id;
            r.sg_list = s.as_mut_ptr();
            r.num_sge = s.len() as i32;
            r.send_flags = (if w.signaled {
                sys::ibv_send_flags::IBV_SEND_SIGNALED.0
            } else {
                0
            }) | (if w.inline {
                sys::ibv_send_flags::IBV_SEND_INLINE.0
            } else {
                0
            });
            match w.op {
                SendOp::Send => r.opcode = op::IBV_WR_SEND,
                SendOp::SendImm(imm) => {
                    r.opcode = op::IBV_WR_SEND_WITH_IMM;
                    r.imm_data_invalidated_rkey_union.imm_data = imm.to_be();
                }
                SendOp::Write { raddr, rkey } => {
                    r.opcode = op::IBV_WR_RDMA_WRITE;
                    r.wr.rdma = sys::rdma_t {
                        remote_addr: raddr,
                        rkey,
                    };
                }
                SendOp::WriteImm { raddr, rkey, imm } => {
                    r.opcode = op::IBV_WR_RDMA_WRITE_WITH_IMM;
                    r.wr.rdma = sys::rdma_t {
                        remote_addr: raddr,
                        rkey,
                    };
                    r.imm_data_invalidated_rkey_union.imm_data = imm.to_be();
                }
                SendOp::Read { raddr, rkey } => {
                    r.opcode = op::IBV_WR_RDMA_READ;
                    r.wr.rdma = sys::rdma_t {
                        remote_addr: raddr,
                        rkey,
                    };
                }
                SendOp::FetchAdd { raddr, rkey, add } => {
                    r.opcode = op::IBV_WR_ATOMIC_FETCH_AND_ADD;
                    r.wr.atomic = sys::atomic_t {
                        remote_addr: raddr,
                        compare_add: add,
                        swap: 0,
                        rkey,
                    };
                }
                SendOp::CmpSwap {
                    raddr,
                    rkey,
                    compare,
                    swap,
                } => {
                    r.opcode = op::IBV_WR_ATOMIC_CMP_AND_SWP;
                    r.wr.atomic = sys::atomic_t {
                        remote_addr: raddr,
                        compare_add: compare,
                        swap,
                        rkey,
                    };
                }
                SendOp::UdSend { ah, qpn, qkey } => {
                    r.opcode = op::IBV_WR_SEND;
                    r.wr.ud = sys::ud_t {
                        ah: ah.ah,
                        remote_qpn: qpn,
                        remote_qkey: qkey,
                    };
                }
                SendOp::BindMw {
                    mw,
                    rkey,
                    mr,
                    addr,
                    len,
                    access,
                } => {
                    r.opcode = op::IBV_WR_BIND_MW;
                    r.bind_mw_tso_union.bind_mw = sys::bind_mw_t {
                        mw: mw.mw,
                        rkey,
                        bind_info: sys::ibv_mw_bind_info {
                            mr: mr.mr,
                            addr,
                            length: len,
                            mw_access_flags: access,
                        },
                    };
                }
                SendOp::LocalInv(rkey) => {
                    r.opcode = op::IBV_WR_LOCAL_INV;
                    r.imm_data_invalidated_rkey_union.invalidated_rkey = rkey;
                }
                SendOp::SendInv(rkey) => {
                    r.opcode = op::IBV_WR_SEND_WITH_INV;
                    r.imm_data_invalidated_rkey_union.invalidated_rkey = rkey;
                }
            }
            raw.push(r);
        }
        let base = raw.as_mut_ptr();
        for i in 0..raw.len() - 1 {
            // SAFETY: i + 1 < raw.len(); raw is not reallocated after this.
            raw[i].next = unsafe { base.add(i + 1) };
        }
        let mut bad = ptr::null_mut();
        // SAFETY: qp is live; the chain, its SGE arrays and any AH (borrowed
        // by the SendWr) outlive the call; the provider copies the WRs (and
        // inline data) and keeps no pointer to them.
        let rc = unsafe { sys::ibv_post_send(self.qp, base, &mut bad) };
        if rc == 0 {
            return Ok(());
        }
        // SAFETY: bad is NULL or points into raw.
        let idx = if bad.is_null() {
            0
        } else {
            (unsafe { bad.offset_from(base) }) as usize
        };
        Err((Errno::from_raw(rc.abs()), idx))
    }
}

impl Qp {
    /// `ibv_bind_mw` (a type 1 window): binds `mw` to `[addr, addr + len)`
    /// of `mr` with a signaled work request `wr_id` (a zero `len` unbinds
    /// it); the provider gives the window its next rkey, read back by
    /// `Mw::rkey`.
    pub fn bind_mw(&self, mw: &Mw, mr: &Mr, addr: u64, len: u64, access: u32, wr_id: u64) -> Result<(), Errno> {
        let mut bind = sys::ibv_mw_bind {
            wr_id,
            send_flags: sys::ibv_send_flags::IBV_SEND_SIGNALED.0,
            bind_info: sys::ibv_mw_bind_info {
                mr: mr.mr,
                addr,
                length: len,
                mw_access_flags: access,
            },
        };
        // SAFETY: qp, mw and mr are live; the provider copies the bind
        // into a work request and keeps no pointer to `bind`.
        let r = unsafe { sys::ibv_bind_mw(self.qp, mw.mw, &mut bind) };
        if r != 0 {
            return Err(Errno::from_raw(r));
        }
        Ok(())
    }
}

/// A memory window (`ibv_alloc_mw`).
pub struct Mw {
    mw: *mut sys::ibv_mw,
    _pd: Pd,
}

/// `IBV_MW_TYPE_1` and `IBV_MW_TYPE_2`.
pub const MW_TYPE_1: u32 = sys::ibv_mw_type::IBV_MW_TYPE_1;
pub const MW_TYPE_2: u32 = sys::ibv_mw_type::IBV_MW_TYPE_2;

impl Mw {
    pub fn alloc(pd: &Pd, mw_type: u32) -> Result<Mw, Errno> {
        // SAFETY: pd is live; the Mw keeps it alive until ibv_dealloc_mw.
        let mw = unsafe { sys::ibv_alloc_mw(pd.0.pd, mw_type) };
        match mw {
            Some(mw) if !mw.is_null() => Ok(Mw { mw, _pd: pd.clone() }),
            _ => Err(last_errno()),
        }
    }

    /// Its current rkey (what the provider last set it to).
    pub fn rkey(&self) -> u32 {
        // SAFETY: mw is live.
        unsafe { (*self.mw).rkey }
    }

    /// `ibv_dealloc_mw`, reporting its result.
    pub fn dealloc(self) -> Result<(), Errno> {
        let mw = self.mw;
        std::mem::forget(self);
        // SAFETY: mw came from ibv_alloc_mw and is not used again.
        let r = unsafe { sys::ibv_dealloc_mw(mw) };
        if r != 0 {
            return Err(Errno::from_raw(r));
        }
        Ok(())
    }
}

impl Drop for Mw {
    fn drop(&mut self) {
        // SAFETY: mw came from ibv_alloc_mw; nothing else references it.
        unsafe { sys::ibv_dealloc_mw(self.mw) };
    }
}

impl Drop for Qp {
    fn drop(&mut self) {
        // SAFETY: qp came from ibv_create_qp; nothing else references it.
        unsafe { sys::ibv_destroy_qp(self.qp) };
    }
}
