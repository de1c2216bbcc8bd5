// SPDX-License-Identifier: GPL-2.0
//! Slot framing: the common header, operation codes, and the typed
//! [`Request`], [`Response`] and [`Event`] enums.
//!
//! Slot layout (512 bytes, little-endian):
//!
//! | off | size | field |
//! |-----|------|-------|
//! | 0   | 2    | `op` |
//! | 2   | 2    | `flags` (bit 0 `NO_REPLY`; other bits zero) |
//! | 4   | 2    | `len`: body length in bytes (exactly the op's body size, or 0 for an error response) |
//! | 6   | 2    | reserved, zero |
//! | 8   | 8    | `id` (request id echoed in the response; event sequence number) |
//! | 16  | 4    | `status` (responses: 0 or negative errno; otherwise zero) |
//! | 20  | 4    | reserved, zero |
//! | 24  | len  | body |
//! | 24+len | .. | zero to the end of the slot |

use super::codec::{errno, DecodeError, Reader, Wire, Writer};
#[cfg(test)]
use super::codec::{Gen, GenSrc};
use super::msg::*;
use super::ring::{Slot, SLOT_SIZE};

/// Current (and highest) protocol version (2: `MapPages`, fault responses;
/// 3: source GIDs by value in [`AhAttr`](super::msg::AhAttr); 4: rdma_cm
/// files, `CmOpen`, `CmCmd`, [`Event::Cm`]; 5: memory windows, `AllocMw`,
/// `DeallocMw`, and [`Udata`](super::msg::Udata)'s `out_len`, the
/// response bytes the provider asked for; 6: MMIO regions,
/// [`MmapRsp`](super::msg::MmapRsp)'s `io` frames, `MapIo`; 7: the
/// registration cache, `DeregMrKeep`, `RegMrCached`, `DropCached`, and
/// the queue regions of a new CQ, QP or SRQ with its create response,
/// [`QueueMaps`](super::msg::QueueMaps)).
pub const PROTOCOL_VERSION: u16 = 7;
/// Lowest protocol version this implementation speaks.
pub const MIN_PROTOCOL_VERSION: u16 = 7;

/// Feature: the back delivers events on a separate event ring.
pub const FEATURE_EVENT_RING: u64 = 1 << 0;
/// Feature: `Mmap`/`Munmap` of driver doorbell/queue pages.
pub const FEATURE_MMAP: u64 = 1 << 1;
/// Feature: the doorbell page (`doorbell.rs`) replaces `Kick` requests.
pub const FEATURE_DOORBELL_PAGE: u64 = 1 << 4;
/// Feature: `Kick` doorbell requests.
pub const FEATURE_KICK: u64 = 1 << 2;
/// Feature: multi-page rings (order > 0).
pub const FEATURE_MULTI_PAGE_RING: u64 = 1 << 3;
/// Feature: guest pages a verb touches are faulted in (`Response::Fault`,
/// `MapPages`).
pub const FEATURE_FAULT_IN: u64 = 1 << 5;
/// Feature: MRs beyond `MAX_MR_PAGES_ONE_LEVEL` pages, listed through
/// directory pages (`mr_request_refs`).
pub const FEATURE_MR_TWO_LEVEL: u64 = 1 << 6;
/// Feature: the guest's `rdma_cm` file is forwarded (`CmOpen`, `CmCmd`,
/// [`Event::Cm`]).
pub const FEATURE_RDMA_CM: u64 = 1 << 7;
/// Every feature this implementation knows.
pub const SUPPORTED_FEATURES: u64 = FEATURE_RDMA_CM
    | FEATURE_EVENT_RING
    | FEATURE_MMAP
    | FEATURE_KICK
    | FEATURE_MULTI_PAGE_RING
    | FEATURE_DOORBELL_PAGE
    | FEATURE_FAULT_IN
    | FEATURE_MR_TWO_LEVEL;

/// Header flag: the back sends no response.
pub const FLAG_NO_REPLY: u16 = 1 << 0;

/// Size of the common header.
pub const HEADER_SIZE: usize = 24;
/// Largest body.
pub const MAX_BODY: usize = SLOT_SIZE - HEADER_SIZE;

/// Chooses the protocol version: the highest version in both
/// `[front_min, front_max]` and `[back_min, back_max]`; `None` if the ranges
/// don't overlap or either is malformed (min 0 or min > max).
pub fn negotiate(front_min: u16, front_max: u16, back_min: u16, back_max: u16) -> Option<u16> {
    if front_min == 0 || back_min == 0 || front_min > front_max || back_min > back_max {
        return None;
    }
    let lo = front_min.max(back_min);
    let hi = front_max.min(back_max);
    if lo <= hi {
        Some(hi)
    } else {
        None
    }
}

/// The back's answer to a `Hello`: the negotiated version and
/// `requested & supported` features, or `-EPROTONOSUPPORT`.
pub fn hello_response(req: &HelloReq, back_min: u16, back_max: u16, supported: u64) -> Response {
    match negotiate(req.min_version, req.max_version, back_min, back_max) {
        Some(version) => Response::Ok(RspBody::Hello(HelloRsp {
            features: req.features & supported,
            version,
        })),
        None => Response::Err {
            op: Op::Hello,
            status: -errno::EPROTONOSUPPORT,
        },
    }
}

/// Decoded common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    op: u16,
    flags: u16,
    len: u16,
    id: u64,
    status: i32,
}

fn get_header(slot: &Slot) -> Result<Header, DecodeError> {
    let mut r = Reader::new(slot, 0);
    let op = r.u16()?;
    let flags = r.u16()?;
    let len = r.u16()?;
    r.reserved(2)?;
    let id = r.u64()?;
    let status = r.i32()?;
    r.reserved(4)?;
    Ok(Header {
        op,
        flags,
        len,
        id,
        status,
    })
}

fn put_header(w: &mut Writer<'_>, h: &Header) {
    w.u16(h.op);
    w.u16(h.flags);
    w.u16(h.len);
    w.u16(0);
    w.u64(h.id);
    w.i32(h.status);
    w.u32(0);
}

/// Checks the zero tail after the body and returns the body.
fn body(slot: &Slot, len: u16) -> Result<&[u8], DecodeError> {
    let end = HEADER_SIZE
        .checked_add(usize::from(len))
        .ok_or(DecodeError::BadLength)?;
    let b = slot.get(HEADER_SIZE..end).ok_or(DecodeError::BadLength)?;
    let tail = slot.get(end..).ok_or(DecodeError::BadLength)?;
    if let Some(i) = tail.iter().position(|&x| x != 0) {
        let off = end.saturating_add(i);
        return Err(DecodeError::ReservedNonZero(
            u16::try_from(off).unwrap_or(u16::MAX),
        ));
    }
    Ok(b)
}

/// Decodes a `T` that must fill `b` exactly.
fn decode_exact<T, F>(b: &[u8], f: F) -> Result<T, DecodeError>
where
    F: FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
{
    let mut r = Reader::new(b, HEADER_SIZE);
    let v = f(&mut r)?;
    if r.pos() != b.len() {
        return Err(DecodeError::BadLength);
    }
    Ok(v)
}

/// Encodes header + body into a zeroed slot.
fn encode_slot(
    slot: &mut Slot,
    op: u16,
    flags: u16,
    id: u64,
    status: i32,
    put: impl Fn(&mut Writer<'_>),
) {
    slot.fill(0);
    let (head, rest) = slot.split_at_mut(HEADER_SIZE);
    let mut bw = Writer::new(rest);
    put(&mut bw);
    debug_assert!(!bw.overflowed(), "xen_ring: body larger than a slot");
    let len = u16::try_from(bw.pos()).unwrap_or(0);
    let mut hw = Writer::new(head);
    put_header(
        &mut hw,
        &Header {
            op,
            flags,
            len,
            id,
            status,
        },
    );
}

macro_rules! ops {
    ($( $(#[$m:meta])* $name:ident = $val:literal, $req:ty => $rsp:ty; )*) => {
        /// Command-ring operation codes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum Op { $( $(#[$m])* $name = $val, )* }

        impl Op {
            /// Every op.
            pub const ALL: &'static [Op] = &[$(Op::$name,)*];
            /// Strict conversion from the wire value.
            pub fn from_u16(v: u16) -> Option<Op> {
                match v { $( $val => Some(Op::$name), )* _ => None }
            }
            /// Request body size in bytes.
            pub const fn request_len(self) -> usize {
                match self { $( Op::$name => <$req as Wire>::SIZE, )* }
            }
            /// Success-response body size in bytes.
            pub const fn response_len(self) -> usize {
                match self { $( Op::$name => <$rsp as Wire>::SIZE, )* }
            }
        }

        /// A command-ring request, by op.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Request { $( $(#[$m])* $name($req), )* }

        impl Request {
            /// The op of this request.
            pub fn op(&self) -> Op {
                match self { $( Request::$name(_) => Op::$name, )* }
            }
            fn put_body(&self, w: &mut Writer<'_>) {
                match self { $( Request::$name(b) => b.put(w), )* }
            }
            fn get_body(op: Op, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(match op { $( Op::$name => Request::$name(<$req as Wire>::get(r)?), )* })
            }
        }

        /// A successful response body, by op.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum RspBody { $( $(#[$m])* $name($rsp), )* }

        impl RspBody {
            /// The op this body answers.
            pub fn op(&self) -> Op {
                match self { $( RspBody::$name(_) => Op::$name, )* }
            }
            fn put_body(&self, w: &mut Writer<'_>) {
                match self { $( RspBody::$name(b) => b.put(w), )* }
            }
            fn get_body(op: Op, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(match op { $( Op::$name => RspBody::$name(<$rsp as Wire>::get(r)?), )* })
            }
        }

        /// Test-only: (op name, value, request type, fields, response type, fields).
        #[cfg(test)]
        #[allow(clippy::type_complexity)]
        const OP_LAYOUTS: &[(&str, u16, &str, &[(&str, &str, usize)], &str, &[(&str, &str, usize)])] = &[
            $( (stringify!($name), $val, stringify!($req), <$req as super::codec::Layout>::FIELDS,
                stringify!($rsp), <$rsp as super::codec::Layout>::FIELDS), )*
        ];

        #[cfg(test)]
        impl Request {
            fn gen(op: Op, src: &mut GenSrc<'_>) -> Self {
                match op { $( Op::$name => Request::$name(<$req as Gen>::gen(src)), )* }
            }
        }

        #[cfg(test)]
        impl RspBody {
            fn gen(op: Op, src: &mut GenSrc<'_>) -> Self {
                match op { $( Op::$name => RspBody::$name(<$rsp as Gen>::gen(src)), )* }
            }
        }

        const _: () = { $(
            assert!(<$req as Wire>::SIZE <= MAX_BODY);
            assert!(<$rsp as Wire>::SIZE <= MAX_BODY);
        )* };
    };
}

ops! {
    /// Version/feature negotiation; must be the first request.
    Hello = 0x0001, HelloReq => HelloRsp;
    /// Device attributes.
    QueryDevice = 0x0002, Empty => DeviceAttr;
    /// Port attributes.
    QueryPort = 0x0003, QueryPortReq => PortAttr;
    /// One GID table entry.
    QueryGid = 0x0004, QueryGidReq => GidRsp;
    /// One P_Key table entry.
    QueryPkey = 0x0005, QueryPkeyReq => PkeyRsp;
    /// Open a user context.
    OpenContext = 0x0010, UdataReq => OpenContextRsp;
    /// Close a user context (and everything in it).
    CloseContext = 0x0011, CtxReq => Empty;
    /// Allocate a PD.
    AllocPd = 0x0020, AllocPdReq => AllocPdRsp;
    /// Free a PD.
    DeallocPd = 0x0021, DeallocPdReq => Empty;
    /// Register guest memory.
    RegMr = 0x0030, RegMrReq => RegMrRsp;
    /// Re-register an MR.
    ReregMr = 0x0031, ReregMrReq => ReregMrRsp;
    /// Deregister an MR.
    DeregMr = 0x0032, DeregMrReq => Empty;
    /// Allocate a memory window (bound later on the send queue).
    AllocMw = 0x0033, AllocMwReq => AllocMwRsp;
    /// Free a memory window.
    DeallocMw = 0x0034, DeallocMwReq => Empty;
    /// Deregister an MR at the driver, keeping its pages mapped.
    DeregMrKeep = 0x0035, DeregMrReq => DeregMrKeepRsp;
    /// Register an MR over kept pages.
    RegMrCached = 0x0036, RegMrCachedReq => RegMrRsp;
    /// Unmap kept pages.
    DropCached = 0x0037, CachedReq => Empty;
    /// Create a CQ.
    CreateCq = 0x0040, CreateCqReq => CreateCqRsp;
    /// Resize a CQ.
    ResizeCq = 0x0041, ResizeCqReq => ResizeCqRsp;
    /// Destroy a CQ.
    DestroyCq = 0x0042, CqReq => Empty;
    /// Arm a CQ for a completion event.
    ReqNotifyCq = 0x0043, ReqNotifyCqReq => Empty;
    /// Create a QP.
    CreateQp = 0x0050, CreateQpReq => CreateQpRsp;
    /// Modify a QP.
    ModifyQp = 0x0051, ModifyQpReq => Empty;
    /// Query a QP.
    QueryQp = 0x0052, QueryQpReq => QueryQpRsp;
    /// Destroy a QP.
    DestroyQp = 0x0053, QpReq => Empty;
    /// Create an SRQ.
    CreateSrq = 0x0060, CreateSrqReq => CreateSrqRsp;
    /// Modify an SRQ.
    ModifySrq = 0x0061, ModifySrqReq => Empty;
    /// Query an SRQ.
    QuerySrq = 0x0062, SrqReq => QuerySrqRsp;
    /// Destroy an SRQ.
    DestroySrq = 0x0063, SrqReq => Empty;
    /// Create an AH.
    CreateAh = 0x0070, CreateAhReq => CreateAhRsp;
    /// Destroy an AH.
    DestroyAh = 0x0071, AhReq => Empty;
    /// Attach a QP to a multicast group.
    AttachMcast = 0x0080, McastReq => Empty;
    /// Detach a QP from a multicast group.
    DetachMcast = 0x0081, McastReq => Empty;
    /// Fetch grant refs of a driver mmap region (chunked).
    Mmap = 0x0090, MmapReq => MmapRsp;
    /// Release a driver mmap region.
    Munmap = 0x0091, MunmapReq => Empty;
    /// Put an MMIO region's frames in an auto-translated frontend's
    /// physical map.
    MapIo = 0x0092, MapIoReq => Empty;
    /// Doorbell for a QP (zero-WR post_send); always `NO_REPLY`.
    Kick = 0x00a0, QpReq => Empty;
    /// Map guest pages a verb faulted on into the context's address space.
    MapPages = 0x00b0, MapPagesReq => Empty;
    /// Open a cm file: a ucma file of the real device's rdma_cm, served
    /// like a context (closed with `CloseContext`).
    CmOpen = 0x00c0, Empty => CmOpenRsp;
    /// One rdma_cm command on a cm file.
    CmCmd = 0x00c1, CmCmdReq => CmCmdRsp;
}

impl Op {
    /// Whether requests with this op carry `FLAG_NO_REPLY` (and get no
    /// response).
    pub fn no_reply(self) -> bool {
        matches!(self, Op::Kick)
    }
}

impl Request {
    /// The context a request is about; `None` for those about the
    /// connection or the device, and for `OpenContext` (none yet).
    pub fn ctx(&self) -> Option<CtxHandle> {
        Some(match self {
            Request::Hello(_)
            | Request::QueryDevice(_)
            | Request::QueryPort(_)
            | Request::QueryGid(_)
            | Request::QueryPkey(_)
            | Request::OpenContext(_)
            | Request::CmOpen(_) => return None,
            Request::CloseContext(r) => r.ctx,
            Request::AllocPd(r) => r.ctx,
            Request::DeallocPd(r) => r.ctx,
            Request::RegMr(r) => r.ctx,
            Request::ReregMr(r) => r.ctx,
            Request::DeregMr(r) => r.ctx,
            Request::DeregMrKeep(r) => r.ctx,
            Request::RegMrCached(r) => r.ctx,
            Request::DropCached(r) => r.ctx,
            Request::AllocMw(r) => r.ctx,
            Request::DeallocMw(r) => r.ctx,
            Request::CreateCq(r) => r.ctx,
            Request::ResizeCq(r) => r.ctx,
            Request::DestroyCq(r) => r.ctx,
            Request::ReqNotifyCq(r) => r.ctx,
            Request::CreateQp(r) => r.ctx,
            Request::ModifyQp(r) => r.ctx,
            Request::QueryQp(r) => r.ctx,
            Request::DestroyQp(r) => r.ctx,
            Request::Kick(r) => r.ctx,
            Request::CreateSrq(r) => r.ctx,
            Request::ModifySrq(r) => r.ctx,
            Request::QuerySrq(r) => r.ctx,
            Request::DestroySrq(r) => r.ctx,
            Request::CreateAh(r) => r.ctx,
            Request::DestroyAh(r) => r.ctx,
            Request::AttachMcast(r) => r.ctx,
            Request::DetachMcast(r) => r.ctx,
            Request::Mmap(r) => r.ctx,
            Request::Munmap(r) => r.ctx,
            Request::MapIo(r) => r.ctx,
            Request::MapPages(r) => r.ctx,
            Request::CmCmd(r) => r.ctx,
        })
    }

    /// Semantic validation beyond field decoding.
    pub fn check(&self) -> Result<(), DecodeError> {
        match self {
            Request::Hello(h) if h.min_version == 0 || h.min_version > h.max_version => {
                Err(DecodeError::Inconsistent)
            }
            Request::RegMr(m) => m.check(),
            // Not here: the request consumes its kept pages whatever is
            // wrong with it, so its handler takes them first, then checks.
            Request::RegMrCached(_) => Ok(()),
            Request::ReregMr(m) => m.check(),
            Request::Mmap(m) => m.check(),
            Request::MapIo(m) => m.check(),
            Request::CmCmd(m) => m.check(),
            _ => Ok(()),
        }
    }

    /// Encodes into `slot` (all padding zeroed).
    pub fn encode(&self, id: u64, slot: &mut Slot) {
        let op = self.op();
        let flags = if op.no_reply() { FLAG_NO_REPLY } else { 0 };
        encode_slot(slot, op as u16, flags, id, 0, |w| self.put_body(w));
    }

    /// Decodes and validates a request; returns `(id, request)`.
    pub fn decode(slot: &Slot) -> Result<(u64, Request), DecodeError> {
        let h = get_header(slot)?;
        let op = Op::from_u16(h.op).ok_or(DecodeError::UnknownOp(h.op))?;
        let want = if op.no_reply() { FLAG_NO_REPLY } else { 0 };
        if h.flags != want {
            return Err(DecodeError::BadFlags);
        }
        if h.status != 0 {
            return Err(DecodeError::ReservedNonZero(16));
        }
        let b = body(slot, h.len)?;
        let req = decode_exact(b, |r| Request::get_body(op, r))?;
        req.check()?;
        Ok((h.id, req))
    }

    /// Best-effort extraction of `(id, op)` from a slot whose full decode
    /// failed, so the back can still answer with an errno.
    pub fn peek(slot: &Slot) -> Option<(u64, Op, bool)> {
        let h = get_header(slot).ok()?;
        let op = Op::from_u16(h.op)?;
        Some((h.id, op, h.flags & FLAG_NO_REPLY != 0))
    }
}

impl RspBody {
    /// The provider response bytes the body carries, if it has any.
    pub fn udata(&self) -> Option<&Udata> {
        Some(match self {
            RspBody::OpenContext(r) => &r.udata,
            RspBody::AllocPd(r) => &r.udata,
            RspBody::AllocMw(r) => &r.udata,
            RspBody::CreateCq(r) => &r.udata,
            RspBody::ResizeCq(r) => &r.udata,
            RspBody::CreateQp(r) => &r.udata,
            RspBody::CreateSrq(r) => &r.udata,
            RspBody::CreateAh(r) => &r.udata,
            _ => return None,
        })
    }

    /// The queue regions a create response carries.
    pub fn queues(&self) -> Option<&QueueMaps> {
        Some(match self {
            RspBody::CreateCq(r) => &r.queues,
            RspBody::CreateQp(r) => &r.queues,
            RspBody::CreateSrq(r) => &r.queues,
            _ => return None,
        })
    }
}

/// A command-ring response.
#[allow(clippy::large_enum_variant)] // no allocation in the kernel: bodies are inline
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// Success (`status == 0`) with the op's body.
    Ok(RspBody),
    /// Failure: `status` is a negative errno in `-MAX_ERRNO..=-1`; no body.
    Err {
        /// The op being answered.
        op: Op,
        /// Negative errno.
        status: i32,
    },
    /// The verb touched guest pages its context does not map (`status`
    /// `-EFAULT` with a `FaultPages` body): the front pins and grants
    /// them (`MapPages`) and sends the request again. Only to a front
    /// that negotiated `FEATURE_FAULT_IN`.
    Fault {
        /// The op being answered.
        op: Op,
        /// The pages.
        pages: FaultPages,
    },
}

impl Response {
    /// An error response; a non-negative or out-of-range `status` becomes `-EIO`.
    pub fn error(op: Op, status: i32) -> Response {
        let status = if (-errno::MAX_ERRNO..0).contains(&status) {
            status
        } else {
            -errno::EIO
        };
        Response::Err { op, status }
    }

    /// The op being answered.
    pub fn op(&self) -> Op {
        match self {
            Response::Ok(b) => b.op(),
            Response::Err { op, .. } | Response::Fault { op, .. } => *op,
        }
    }

    /// 0 or a negative errno.
    pub fn status(&self) -> i32 {
        match self {
            Response::Ok(_) => 0,
            Response::Err { status, .. } => *status,
            Response::Fault { .. } => -errno::EFAULT,
        }
    }

    /// Semantic validation beyond field decoding.
    pub fn check(&self) -> Result<(), DecodeError> {
        match self {
            Response::Ok(RspBody::Mmap(m)) => m.check(),
            Response::Ok(b) if b.queues().is_some_and(|q| q.check().is_err()) => {
                Err(DecodeError::Inconsistent)
            }
            Response::Ok(RspBody::CmCmd(m)) if usize::from(m.len) > CM_MAX_OUT => {
                Err(DecodeError::Inconsistent)
            }
            Response::Ok(RspBody::Hello(h)) if h.version == 0 => Err(DecodeError::Inconsistent),
            // `out_len` is a request's: zero in a response.
            Response::Ok(b) if b.udata().is_some_and(|u| u.out_len() != 0) => {
                Err(DecodeError::Inconsistent)
            }
            _ => Ok(()),
        }
    }

    /// Encodes into `slot`.
    pub fn encode(&self, id: u64, slot: &mut Slot) {
        match self {
            Response::Ok(b) => encode_slot(slot, b.op() as u16, 0, id, 0, |w| b.put_body(w)),
            Response::Err { op, status } => {
                let s = Response::error(*op, *status).status();
                encode_slot(slot, *op as u16, 0, id, s, |_| {})
            }
            Response::Fault { op, pages } => {
                encode_slot(slot, *op as u16, 0, id, -errno::EFAULT, |w| pages.put(w))
            }
        }
    }

    /// Decodes a response of any op.
    pub fn decode(slot: &Slot) -> Result<(u64, Response), DecodeError> {
        let h = get_header(slot)?;
        let op = Op::from_u16(h.op).ok_or(DecodeError::UnknownOp(h.op))?;
        if h.flags != 0 {
            return Err(DecodeError::BadFlags);
        }
        let b = body(slot, h.len)?;
        let rsp = if h.status == 0 {
            Response::Ok(decode_exact(b, |r| RspBody::get_body(op, r))?)
        } else if h.status == -errno::EFAULT && !b.is_empty() {
            Response::Fault {
                op,
                pages: decode_exact(b, FaultPages::get)?,
            }
        } else if (-errno::MAX_ERRNO..0).contains(&h.status) {
            if !b.is_empty() {
                return Err(DecodeError::BadLength);
            }
            Response::Err {
                op,
                status: h.status,
            }
        } else {
            return Err(DecodeError::BadStatus);
        };
        rsp.check()?;
        Ok((h.id, rsp))
    }

    /// Decodes a response that must answer `expected`.
    pub fn decode_for(slot: &Slot, expected: Op) -> Result<(u64, Response), DecodeError> {
        let h = get_header(slot)?;
        if h.op != expected as u16 {
            return Err(DecodeError::OpMismatch);
        }
        Self::decode(slot)
    }
}

/// Event-ring operation codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum EventOp {
    /// [`Event::Comp`].
    Comp = 0x8001,
    /// [`Event::Async`].
    Async = 0x8002,
    /// [`Event::DeviceRemoved`].
    DeviceRemoved = 0x8003,
    /// [`Event::Cm`].
    Cm = 0x8004,
}

impl EventOp {
    /// Strict conversion from the wire value.
    pub fn from_u16(v: u16) -> Option<Self> {
        match v {
            0x8001 => Some(EventOp::Comp),
            0x8002 => Some(EventOp::Async),
            0x8003 => Some(EventOp::DeviceRemoved),
            0x8004 => Some(EventOp::Cm),
            _ => None,
        }
    }
}

/// An unsolicited back-to-front event (event ring).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A CQ has a completion (`ib_event_handler` comp callback).
    Comp(CompEvent),
    /// An asynchronous affiliated/unaffiliated event.
    Async(AsyncEvent),
    /// The backing device is gone; the front must tear everything down.
    DeviceRemoved,
    /// An rdma_cm event of a cm file.
    Cm(CmEvent),
}

impl Event {
    /// The event op.
    pub fn op(&self) -> EventOp {
        match self {
            Event::Comp(_) => EventOp::Comp,
            Event::Async(_) => EventOp::Async,
            Event::DeviceRemoved => EventOp::DeviceRemoved,
            Event::Cm(_) => EventOp::Cm,
        }
    }

    /// Encodes into `slot`; `seq` goes in the `id` field.
    pub fn encode(&self, seq: u64, slot: &mut Slot) {
        encode_slot(slot, self.op() as u16, 0, seq, 0, |w| match self {
            Event::Comp(e) => e.put(w),
            Event::Async(e) => e.put(w),
            Event::DeviceRemoved => {}
            Event::Cm(e) => e.put(w),
        });
    }

    /// Decodes an event; returns `(seq, event)`.
    pub fn decode(slot: &Slot) -> Result<(u64, Event), DecodeError> {
        let h = get_header(slot)?;
        let op = EventOp::from_u16(h.op).ok_or(DecodeError::UnknownOp(h.op))?;
        if h.flags != 0 {
            return Err(DecodeError::BadFlags);
        }
        if h.status != 0 {
            return Err(DecodeError::ReservedNonZero(16));
        }
        let b = body(slot, h.len)?;
        let ev = decode_exact(b, |r| {
            Ok(match op {
                EventOp::Comp => Event::Comp(CompEvent::get(r)?),
                EventOp::Async => Event::Async(AsyncEvent::get(r)?),
                EventOp::DeviceRemoved => Event::DeviceRemoved,
                EventOp::Cm => Event::Cm(CmEvent::get(r)?),
            })
        })?;
        Ok((h.id, ev))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Makes a generated request satisfy the semantic checks.
    fn fix_request(req: &mut Request, src: &mut GenSrc<'_>) {
        match req {
            Request::CmCmd(m) => {
                m.in_len %= CM_MAX_IN as u16 + 1;
                m.out_len %= CM_MAX_OUT as u16 + 1;
                let n = usize::from(m.in_len);
                m.data[n..].fill(0);
            }
            Request::Hello(h) => {
                h.min_version = h.min_version.max(1);
                h.max_version = h.max_version.max(h.min_version);
            }
            Request::RegMr(m) => {
                let length = 1 + src.below(u64::from(MAX_MR_PAGES - 1) * PAGE_SIZE);
                m.length = length;
                m.start = src.below(1 << 47);
                m.iova = src.below(1 << 60);
                m.nr_pages = page_span(m.start, length).unwrap();
                let n = mr_request_refs(m.nr_pages) as usize;
                let refs: Vec<GrantRef> = (0..n).map(|i| GrantRef(i as u32 + 8)).collect();
                m.indirect = RefList::new(&refs).unwrap();
            }
            Request::RegMrCached(m) => {
                m.length = 1 + src.below(u64::from(MAX_MR_PAGES - 1) * PAGE_SIZE);
                m.start = src.below(1 << 47);
                m.iova = src.below(1 << 60);
            }
            Request::ReregMr(m) => {
                m.flags = 1 + src.below(7) as u32;
                if m.flags & REREG_TRANS != 0 {
                    m.length = 1 + src.below(1 << 20);
                    m.start = src.below(1 << 47);
                    m.iova = m.start;
                    m.nr_pages = page_span(m.start, m.length).unwrap();
                    let n = mr_request_refs(m.nr_pages) as usize;
                    let refs: Vec<GrantRef> = (0..n).map(|i| GrantRef(i as u32)).collect();
                    m.indirect = RefList::new(&refs).unwrap();
                } else {
                    m.nr_pages = 0;
                    m.indirect = RefList::default();
                }
            }
            Request::MapIo(m) => {
                m.offset = src.below(1 << 40) * PAGE_SIZE;
                if m.gfns.is_empty() {
                    m.gfns = FrameList::new(&[1]).unwrap();
                }
            }
            Request::Mmap(m) => {
                m.offset = src.below(1 << 40) * PAGE_SIZE;
                let pages = 1 + src.below(1 << 20);
                m.length = pages * PAGE_SIZE;
                m.first_page = src.below(pages) as u32;
            }
            _ => {}
        }
    }

    /// Generated queue maps made consistent: the generated refs, split
    /// over the generated regions' offsets (page aligned).
    fn fix_queues(q: &mut QueueMaps) {
        let refs = q.refs;
        let refs = refs.as_slice();
        let offsets = q.regions;
        let mut offsets = offsets.as_slice().iter().map(|r| r.offset & !(PAGE_SIZE - 1));
        let (a, b) = (offsets.next().unwrap_or(0), offsets.next());
        let half = refs.len() / 2;
        *q = match b {
            Some(b) if b != a && half > 0 => QueueMaps::build(
                [(a, half as u32 + 3, &refs[..half]), (b, (refs.len() - half) as u32, &refs[half..])]
                    .into_iter(),
            ),
            _ => QueueMaps::build([(a, refs.len() as u32, refs)].into_iter()),
        };
    }

    fn fix_rsp(rsp: &mut RspBody) {
        let zero = |u: &mut Udata| *u = u.with_out_len(0).unwrap();
        match rsp {
            RspBody::OpenContext(r) => zero(&mut r.udata),
            RspBody::AllocPd(r) => zero(&mut r.udata),
            RspBody::AllocMw(r) => zero(&mut r.udata),
            RspBody::CreateCq(r) => {
                zero(&mut r.udata);
                fix_queues(&mut r.queues);
            }
            RspBody::ResizeCq(r) => zero(&mut r.udata),
            RspBody::CreateQp(r) => {
                zero(&mut r.udata);
                fix_queues(&mut r.queues);
            }
            RspBody::CreateSrq(r) => {
                zero(&mut r.udata);
                fix_queues(&mut r.queues);
            }
            RspBody::CreateAh(r) => zero(&mut r.udata),
            RspBody::Mmap(m) => {
                // RAM or MMIO, never both.
                if !m.refs.is_empty() {
                    m.io = FrameList::default();
                }
                m.total_pages = m.total_pages.max((m.refs.len() + m.io.len()) as u32);
            }
            RspBody::Hello(h) => h.version = h.version.max(1),
            RspBody::CmCmd(m) => m.len %= CM_MAX_OUT as u16 + 1,
            _ => {}
        }
    }

    fn any_request(e: &[u8]) -> Request {
        let mut src = GenSrc::new(e);
        let op = Op::ALL[src.below(Op::ALL.len() as u64) as usize];
        let mut r = Request::gen(op, &mut src);
        fix_request(&mut r, &mut src);
        r
    }

    fn any_response(e: &[u8]) -> Response {
        let mut src = GenSrc::new(e);
        let op = Op::ALL[src.below(Op::ALL.len() as u64) as usize];
        let kind = src.byte();
        if kind < 16 {
            let pages = FaultPages::gen(&mut src);
            return Response::Fault { op, pages };
        }
        if kind < 64 {
            let st = -(1 + src.below(errno::MAX_ERRNO as u64) as i32);
            return Response::Err { op, status: st };
        }
        let mut b = RspBody::gen(op, &mut src);
        fix_rsp(&mut b);
        Response::Ok(b)
    }

    fn any_event(e: &[u8]) -> Event {
        let mut src = GenSrc::new(e);
        match src.below(4) {
            0 => Event::Comp(CompEvent::gen(&mut src)),
            1 => Event::Async(AsyncEvent::gen(&mut src)),
            2 => Event::Cm(CmEvent::gen(&mut src)),
            _ => Event::DeviceRemoved,
        }
    }

    fn entropy() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..1500)
    }

    /// Flipping a reserved byte in an encoded slot must be rejected.
    fn reserved_offsets(slot: &Slot) -> Vec<usize> {
        let len = usize::from(u16::from_le_bytes([slot[4], slot[5]]));
        let mut v: Vec<usize> = [6, 7, 20, 21, 22, 23].into();
        v.extend(HEADER_SIZE + len..SLOT_SIZE);
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn request_roundtrip(e in entropy(), id in any::<u64>()) {
            let req = any_request(&e);
            prop_assert_eq!(req.check(), Ok(()));
            let mut slot = [0xaau8; SLOT_SIZE];
            req.encode(id, &mut slot);
            prop_assert_eq!(Request::decode(&slot), Ok((id, req)));
            prop_assert_eq!(usize::from(u16::from_le_bytes([slot[4], slot[5]])), req.op().request_len());
            prop_assert_eq!(Request::peek(&slot), Some((id, req.op(), req.op().no_reply())));
            for off in reserved_offsets(&slot) {
                let mut bad = slot;
                bad[off] = 1;
                prop_assert!(Request::decode(&bad).is_err(), "reserved byte {} accepted", off);
            }
        }

        #[test]
        fn response_roundtrip(e in entropy(), id in any::<u64>()) {
            let rsp = any_response(&e);
            let mut slot = [0x55u8; SLOT_SIZE];
            rsp.encode(id, &mut slot);
            prop_assert_eq!(Response::decode(&slot), Ok((id, rsp)));
            prop_assert_eq!(Response::decode_for(&slot, rsp.op()), Ok((id, rsp)));
            let other = if rsp.op() == Op::Hello { Op::Kick } else { Op::Hello };
            prop_assert_eq!(Response::decode_for(&slot, other), Err(DecodeError::OpMismatch));
            for off in reserved_offsets(&slot) {
                let mut bad = slot;
                bad[off] = 0x80;
                prop_assert!(Response::decode(&bad).is_err(), "reserved byte {} accepted", off);
            }
        }

        #[test]
        fn event_roundtrip(e in entropy(), seq in any::<u64>()) {
            let ev = any_event(&e);
            let mut slot = [1u8; SLOT_SIZE];
            ev.encode(seq, &mut slot);
            prop_assert_eq!(Event::decode(&slot), Ok((seq, ev)));
            for off in reserved_offsets(&slot) {
                let mut bad = slot;
                bad[off] = 2;
                prop_assert!(Event::decode(&bad).is_err());
            }
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), SLOT_SIZE..=SLOT_SIZE),
                                op in prop::sample::select(Op::ALL), len in 0u16..600) {
            let mut slot = [0u8; SLOT_SIZE];
            slot.copy_from_slice(&bytes);
            let _ = Request::decode(&slot);
            let _ = Response::decode(&slot);
            let _ = Event::decode(&slot);
            // also with a plausible header so the body decoders run
            slot[0..2].copy_from_slice(&(op as u16).to_le_bytes());
            slot[2..4].fill(0);
            slot[4..6].copy_from_slice(&len.to_le_bytes());
            slot[6..8].fill(0);
            slot[16..24].fill(0);
            if let Ok((_, r)) = Request::decode(&slot) {
                let mut s2 = [0u8; SLOT_SIZE];
                r.encode(0, &mut s2);
                prop_assert_eq!(Request::decode(&s2).map(|x| x.1), Ok(r));
            }
            if let Ok((_, r)) = Response::decode(&slot) {
                let mut s2 = [0u8; SLOT_SIZE];
                r.encode(0, &mut s2);
                prop_assert_eq!(Response::decode(&s2).map(|x| x.1), Ok(r));
            }
        }

        #[test]
        fn truncated_bodies_rejected(e in entropy(), cut in 1usize..488) {
            let req = any_request(&e);
            let mut slot = [0u8; SLOT_SIZE];
            req.encode(1, &mut slot);
            let len = req.op().request_len();
            prop_assume!(len > 0);
            let cut = cut % len + 1; // 1..=len
            let newlen = len - cut;
            slot[4..6].copy_from_slice(&(newlen as u16).to_le_bytes());
            slot[HEADER_SIZE + newlen..].fill(0);
            prop_assert!(Request::decode(&slot).is_err());
        }

        #[test]
        fn negotiate_props(a in 0u16..8, b in 0u16..8, c in 0u16..8, d in 0u16..8) {
            match negotiate(a, b, c, d) {
                Some(v) => {
                    prop_assert!(a <= v && v <= b && c <= v && v <= d && v >= 1);
                    prop_assert!(!(v < b && v < d));
                }
                None => {
                    let ok = a >= 1 && c >= 1 && a <= b && c <= d;
                    prop_assert!(!ok || a.max(c) > b.min(d));
                }
            }
        }
    }

    #[test]
    fn every_op_roundtrips_and_fits() {
        for (i, &op) in Op::ALL.iter().enumerate() {
            assert!(op.request_len() <= MAX_BODY);
            assert!(op.response_len() <= MAX_BODY);
            assert_eq!(Op::from_u16(op as u16), Some(op));
            let e: Vec<u8> = (0..1500).map(|j| (j * 7 + i * 13) as u8).collect();
            let mut src = GenSrc::new(&e);
            let mut r = Request::gen(op, &mut src);
            fix_request(&mut r, &mut src);
            let mut slot = [0u8; SLOT_SIZE];
            r.encode(i as u64, &mut slot);
            assert_eq!(Request::decode(&slot), Ok((i as u64, r)), "{op:?}");
            let mut b = RspBody::gen(op, &mut src);
            fix_rsp(&mut b);
            Response::Ok(b).encode(9, &mut slot);
            assert_eq!(Response::decode_for(&slot, op), Ok((9, Response::Ok(b))));
        }
        assert_eq!(Op::from_u16(0), None);
        assert_eq!(Op::from_u16(0xffff), None);
    }

    #[test]
    fn header_errors() {
        let mut slot = [0u8; SLOT_SIZE];
        assert_eq!(Request::decode(&slot), Err(DecodeError::UnknownOp(0)));
        Request::Kick(QpReq {
            ctx: CtxHandle(1),
            qp: QpHandle(2),
        })
        .encode(5, &mut slot);
        assert_eq!(slot[2], 1, "Kick carries NO_REPLY");
        let mut bad = slot;
        bad[2] = 0;
        assert_eq!(Request::decode(&bad), Err(DecodeError::BadFlags));
        let mut bad = slot;
        bad[3] = 0x80;
        assert_eq!(Request::decode(&bad), Err(DecodeError::BadFlags));
        let mut bad = slot;
        bad[16] = 0xff;
        assert_eq!(Request::decode(&bad), Err(DecodeError::ReservedNonZero(16)));
        let mut bad = slot;
        bad[4] = 0xff;
        bad[5] = 0xff;
        assert_eq!(Request::decode(&bad), Err(DecodeError::BadLength));
        let mut bad = slot;
        bad[4] = 9; // longer than body: trailing zero byte consumed? must be exact
        assert_eq!(Request::decode(&bad), Err(DecodeError::BadLength));
        Request::DeallocPd(DeallocPdReq {
            ctx: CtxHandle(1),
            pd: PdHandle(2),
        })
        .encode(5, &mut slot);
        let mut bad = slot;
        bad[2] = 1;
        assert_eq!(Request::decode(&bad), Err(DecodeError::BadFlags));
        // bad enum in body
        let cq = CreateQpReq {
            user_handle: 1,
            ctx: CtxHandle(1),
            pd: PdHandle(1),
            send_cq: CqHandle(1),
            recv_cq: CqHandle(1),
            srq: None,
            caps: QpCaps {
                max_send_wr: 1,
                max_recv_wr: 1,
                max_send_sge: 1,
                max_recv_sge: 1,
                max_inline_data: 0,
            },
            qp_type: QpType::Rc,
            sq_sig_all: false,
            udata: Udata::EMPTY,
        };
        Request::CreateQp(cq).encode(1, &mut slot);
        let qp_type_off = HEADER_SIZE + 8 + 16 + 8 + 20;
        assert_eq!(slot[qp_type_off], 2);
        slot[qp_type_off] = 5;
        assert_eq!(
            Request::decode(&slot),
            Err(DecodeError::InvalidValue(qp_type_off as u16))
        );
        slot[qp_type_off] = 2;
        slot[qp_type_off + 1] = 2; // bool
        assert_eq!(
            Request::decode(&slot),
            Err(DecodeError::InvalidValue(qp_type_off as u16 + 1))
        );
    }

    /// The registration cache's messages: each round-trips, and a
    /// `RegMrCached` the checks refuse is refused by `decode`.
    #[test]
    fn registration_cache_messages() {
        let reg = RegMrCachedReq {
            start: 0x7f00_0000_1000,
            length: 1 << 20,
            iova: 0x7f00_0000_1000,
            ctx: CtxHandle(4),
            pd: PdHandle(5),
            cache: CacheHandle(6),
            access: 7,
        };
        let reqs = [
            Request::DeregMrKeep(DeregMrReq { ctx: CtxHandle(1), mr: MrHandle(2) }),
            Request::RegMrCached(reg),
            Request::DropCached(CachedReq { ctx: CtxHandle(1), cache: CacheHandle(9) }),
        ];
        let mut slot = [0u8; SLOT_SIZE];
        for r in reqs {
            r.encode(11, &mut slot);
            assert_eq!(Request::decode(&slot), Ok((11, r)));
            assert!(r.ctx().is_some());
        }
        let rsps = [
            RspBody::DeregMrKeep(DeregMrKeepRsp { cache: CacheHandle(12) }),
            RspBody::RegMrCached(RegMrRsp { mr: MrHandle(1), lkey: 2, rkey: 3 }),
            RspBody::DropCached(Empty {}),
        ];
        for b in rsps {
            Response::Ok(b).encode(12, &mut slot);
            assert_eq!(Response::decode(&slot), Ok((12, Response::Ok(b))));
        }
        for bad in [
            RegMrCachedReq { length: 0, ..reg },
            RegMrCachedReq { iova: u64::MAX, ..reg },
            RegMrCachedReq { length: u64::from(MAX_MR_PAGES) * PAGE_SIZE + 1, start: 0, ..reg },
        ] {
            // Decoded (the handler consumes the kept pages), then refused.
            assert!(bad.check().is_err(), "{bad:?}");
            Request::RegMrCached(bad).encode(13, &mut slot);
            assert_eq!(Request::decode(&slot), Ok((13, Request::RegMrCached(bad))));
        }
        assert_eq!(Op::from_u16(0x0035), Some(Op::DeregMrKeep));
        assert_eq!(Op::from_u16(0x0036), Some(Op::RegMrCached));
        assert_eq!(Op::from_u16(0x0037), Some(Op::DropCached));
    }

    #[test]
    fn response_status_rules() {
        let mut slot = [0u8; SLOT_SIZE];
        Response::error(Op::AllocPd, -22).encode(3, &mut slot);
        assert_eq!(
            Response::decode(&slot),
            Ok((
                3,
                Response::Err {
                    op: Op::AllocPd,
                    status: -22
                }
            ))
        );
        Response::error(Op::AllocPd, 5).encode(3, &mut slot);
        assert_eq!(Response::decode(&slot).unwrap().1.status(), -errno::EIO);
        Response::Err {
            op: Op::AllocPd,
            status: i32::MIN,
        }
        .encode(3, &mut slot);
        assert_eq!(Response::decode(&slot).unwrap().1.status(), -errno::EIO);
        slot[16..20].copy_from_slice(&7i32.to_le_bytes());
        assert_eq!(Response::decode(&slot), Err(DecodeError::BadStatus));
        slot[16..20].copy_from_slice(&(-4096i32).to_le_bytes());
        assert_eq!(Response::decode(&slot), Err(DecodeError::BadStatus));
        // error with a body is malformed
        slot[16..20].copy_from_slice(&(-22i32).to_le_bytes());
        slot[4] = 4;
        assert_eq!(Response::decode(&slot), Err(DecodeError::BadLength));
        let mut slot = [0u8; SLOT_SIZE];
        Response::error(Op::Kick, -1).encode(1, &mut slot);
        slot[2] = 1;
        assert_eq!(Response::decode(&slot), Err(DecodeError::BadFlags));
    }

    #[test]
    fn create_responses_carry_only_consistent_queue_maps() {
        let refs = [GrantRef(5), GrantRef(6), GrantRef(7)];
        let good = QueueMaps::build([(0x2000, 2, &refs[..2]), (0x9000, 1, &refs[2..])].into_iter());
        let rsp = |queues| {
            Response::Ok(RspBody::CreateQp(CreateQpRsp {
                qp: QpHandle(1),
                qpn: 17,
                caps: QpCaps {
                    max_send_wr: 16,
                    max_recv_wr: 16,
                    max_send_sge: 1,
                    max_recv_sge: 1,
                    max_inline_data: 0,
                },
                udata: Udata::new(b"mminfo").unwrap(),
                queues,
            }))
        };
        let mut slot = [0u8; SLOT_SIZE];
        rsp(good).encode(3, &mut slot);
        assert_eq!(Response::decode(&slot), Ok((3, rsp(good))));
        // A region claiming a ref that is not there.
        let mut bad = good;
        bad.refs = RefList::new(&refs[..2]).unwrap();
        rsp(bad).encode(3, &mut slot);
        assert_eq!(Response::decode(&slot), Err(DecodeError::Inconsistent));
    }

    #[test]
    fn udata_out_len_only_in_requests() {
        let asks = Udata::new(b"abcd").unwrap().with_out_len(24).unwrap();
        let req = Request::AllocMw(AllocMwReq {
            ctx: CtxHandle(1),
            pd: PdHandle(2),
            mw_type: MwType::Type1,
            udata: asks,
        });
        let mut slot = [0u8; SLOT_SIZE];
        req.encode(7, &mut slot);
        assert_eq!(Request::decode(&slot), Ok((7, req)));
        // ctx, pd, type, then the udata: len 4, out_len 24.
        let u = HEADER_SIZE + 9;
        assert_eq!(&slot[u..u + 4], &[4, 0, 24, 0]);
        let rsp = |udata| {
            Response::Ok(RspBody::AllocMw(AllocMwRsp {
                mw: MwHandle(3),
                rkey: 0x1234,
                udata,
            }))
        };
        let good = rsp(Udata::new(b"xy").unwrap());
        good.encode(7, &mut slot);
        assert_eq!(Response::decode(&slot), Ok((7, good)));
        rsp(asks).encode(7, &mut slot);
        assert_eq!(Response::decode(&slot), Err(DecodeError::Inconsistent));
        assert_eq!(
            Op::from_u16(0x0033).map(|o| (o, o.no_reply())),
            Some((Op::AllocMw, false))
        );
        assert_eq!(Op::from_u16(0x0034), Some(Op::DeallocMw));
        let d = Request::DeallocMw(DeallocMwReq {
            ctx: CtxHandle(9),
            mw: MwHandle(4),
        });
        assert_eq!(d.ctx(), Some(CtxHandle(9)));
    }

    #[test]
    fn hello_negotiation() {
        assert_eq!(negotiate(1, 1, 1, 1), Some(1));
        assert_eq!(negotiate(1, 3, 2, 5), Some(3));
        assert_eq!(negotiate(2, 5, 1, 3), Some(3));
        assert_eq!(negotiate(4, 5, 1, 3), None);
        assert_eq!(negotiate(0, 5, 1, 3), None);
        assert_eq!(negotiate(3, 2, 1, 3), None);
        assert_eq!(negotiate(1, 2, 2, 1), None);
        let req = HelloReq {
            features: u64::MAX,
            min_version: 1,
            max_version: 7,
        };
        assert_eq!(
            hello_response(
                &req,
                MIN_PROTOCOL_VERSION,
                PROTOCOL_VERSION,
                SUPPORTED_FEATURES
            ),
            Response::Ok(RspBody::Hello(HelloRsp {
                features: SUPPORTED_FEATURES,
                version: PROTOCOL_VERSION
            }))
        );
        // A version-1 front (no MapPages, no fault responses) is refused.
        let v1 = HelloReq {
            features: u64::MAX,
            min_version: 1,
            max_version: 1,
        };
        let r = hello_response(&v1, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, SUPPORTED_FEATURES);
        assert_eq!(r.status(), -errno::EPROTONOSUPPORT);
        let req = HelloReq {
            features: FEATURE_KICK,
            min_version: 2,
            max_version: 7,
        };
        let r = hello_response(&req, 1, 1, SUPPORTED_FEATURES);
        assert_eq!(r.status(), -errno::EPROTONOSUPPORT);
        assert_eq!(r.op(), Op::Hello);
        let mut slot = [0u8; SLOT_SIZE];
        Request::Hello(HelloReq {
            features: 0,
            min_version: 2,
            max_version: 1,
        })
        .encode(1, &mut slot);
        assert_eq!(Request::decode(&slot), Err(DecodeError::Inconsistent));
    }

    #[test]
    fn events() {
        let mut slot = [0u8; SLOT_SIZE];
        Event::DeviceRemoved.encode(42, &mut slot);
        assert_eq!(Event::decode(&slot), Ok((42, Event::DeviceRemoved)));
        assert_eq!(u16::from_le_bytes([slot[0], slot[1]]), 0x8003);
        assert_eq!(Request::decode(&slot), Err(DecodeError::UnknownOp(0x8003)));
        slot[2] = 1;
        assert_eq!(Event::decode(&slot), Err(DecodeError::BadFlags));
        let ev = Event::Async(AsyncEvent {
            user_handle: 9,
            ctx: CtxHandle(1),
            handle: 3,
            event_type: 1,
            kind: AsyncObj::Qp,
        });
        ev.encode(1, &mut slot);
        assert_eq!(Event::decode(&slot), Ok((1, ev)));
        let kind_off = HEADER_SIZE + 8 + 4 + 4 + 4;
        slot[kind_off] = 0;
        assert_eq!(
            Event::decode(&slot),
            Err(DecodeError::InvalidValue(kind_off as u16))
        );
        assert_eq!(EventOp::from_u16(0x8005), None);
    }

    /// `cargo test -- --ignored print_layouts --nocapture` prints the body
    /// tables of Documentation/ring-protocol.rst.
    #[test]
    #[ignore]
    fn print_layouts() {
        use super::super::codec::Layout;
        use std::println;
        fn table(title: &str, fields: &[(&str, &str, usize)], base: usize) {
            println!("``{title}``\n");
            if fields.is_empty() {
                println!("  (empty body, ``len`` = 0)\n");
                return;
            }
            println!("  ======  =====  ==========================  ==============================");
            println!("  offset  size   field                       type");
            println!("  ======  =====  ==========================  ==============================");
            let mut off = base;
            for (n, t, sz) in fields {
                println!("  {off:<6}  {sz:<5}  {n:<26}  {}", t.replace(' ', ""));
                off += sz;
            }
            println!("  ======  =====  ==========================  ==============================");
            println!("\n  body size {}\n", off - base);
        }
        let mut seen = std::collections::BTreeSet::new();
        for (name, val, rq, rqf, rs, rsf) in OP_LAYOUTS {
            println!("{name} (0x{val:04x})\n{}\n", "~".repeat(name.len() + 9));
            let rqs: usize = rqf.iter().map(|f| f.2).sum();
            let rss: usize = rsf.iter().map(|f| f.2).sum();
            println!("Request ``{rq}`` ({rqs} bytes), response ``{rs}`` ({rss} bytes).\n");
            for (t, f) in [(rq, rqf), (rs, rsf)] {
                if seen.insert(*t) {
                    table(t, f, 24);
                }
            }
        }
        table("QpAttr (relative)", QpAttr::FIELDS, 0);
        table("QpCaps (relative)", QpCaps::FIELDS, 0);
        table("CompEvent", CompEvent::FIELDS, 24);
        table("AsyncEvent", AsyncEvent::FIELDS, 24);
        table("CmEvent", CmEvent::FIELDS, 24);
    }

    #[test]
    fn message_type_sizes_are_small() {
        assert!(
            core::mem::size_of::<Request>() <= 600,
            "{}",
            core::mem::size_of::<Request>()
        );
        assert!(
            core::mem::size_of::<Response>() <= 600,
            "{}",
            core::mem::size_of::<Response>()
        );
        assert!(core::mem::size_of::<Event>() <= 600);
    }
}
