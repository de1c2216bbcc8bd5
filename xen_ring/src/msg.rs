// SPDX-License-Identifier: GPL-2.0
//! Typed message bodies and the domain types they are built from.
//!
//! Every body is encoded *packed*, fields in declaration order,
//! little-endian, with no implicit padding; explicit reserved bytes are
//! zero. Field widths follow `include/uapi/rdma/ib_user_verbs.h`.
//! `Documentation/ring-protocol.rst` lists every offset.

use super::codec::{DecodeError, Reader, Wire, Writer};
#[cfg(test)]
use super::codec::{Gen, GenSrc, Layout};

/// Bytes per (guest) page, for MR page spans and mmap regions.
pub const PAGE_SIZE: u64 = 4096;
/// Maximum opaque driver data carried in one message.
pub const MAX_UDATA: usize = 256;
/// Maximum indirect grant pages in a `RegMr`/`ReregMr` request.
pub const MAX_INDIRECT: usize = 32;
/// Grant refs (`u32`) held by one indirect page.
pub const REFS_PER_INDIRECT_PAGE: u32 = 1024;
/// Largest MR in pages that one level of indirect pages lists
/// (`MAX_INDIRECT * REFS_PER_INDIRECT_PAGE`, 128 MiB).
pub const MAX_MR_PAGES_ONE_LEVEL: u32 = MAX_INDIRECT as u32 * REFS_PER_INDIRECT_PAGE;
/// Largest MR in pages (16 GiB). Beyond `MAX_MR_PAGES_ONE_LEVEL` the
/// request's references name *directory* pages, each listing up to 1024
/// indirect pages (`FEATURE_MR_TWO_LEVEL`).
pub const MAX_MR_PAGES: u32 = 1 << 22;
/// Grant refs returned per `Mmap` response.
pub const MAX_MMAP_REFS_PER_RSP: usize = 96;
/// I/O frames per `Mmap` response (doorbell regions are a page or two).
pub const MAX_MMAP_IO_FRAMES_PER_RSP: usize = 8;
/// Queue regions one create response carries (a QP's two queues).
pub const MAX_QUEUE_REGIONS: usize = 2;
/// Grant refs of queue pages one create response carries, over all its
/// regions (what the slot has room for next to the provider's bytes).
pub const MAX_QUEUE_REFS: usize = 40;

/// Guest pages named in one `Response::Fault` or `MapPages` request.
pub const MAX_FAULT_PAGES: usize = 8;
/// Bit 0 of a faulted or granted page address: write access.
pub const PAGE_WRITE: u64 = 1;
/// End of the user address range a faulted or granted page may lie in
/// (x86-64, 4-level paging: `TASK_SIZE_MAX`).
pub const USER_ADDR_END: u64 = 0x7fff_ffff_f000;

/// MR access flags under which the device may write the MR's pages
/// (`ib_access_writable`: local or remote write, remote atomic, memory
/// window bind). Only then are its pages granted and mapped writable.
pub const ACCESS_WRITABLE: u32 = 0x1 | 0x2 | 0x8 | 0x10;

/// Whether an MR with `access` needs its pages writable.
pub const fn access_writable(access: u32) -> bool {
    access & ACCESS_WRITABLE != 0
}

/// `ReregMr` flag: change translation (`IB_MR_REREG_TRANS`).
pub const REREG_TRANS: u32 = 1 << 0;
/// `ReregMr` flag: change PD (`IB_MR_REREG_PD`).
pub const REREG_PD: u32 = 1 << 1;
/// `ReregMr` flag: change access (`IB_MR_REREG_ACCESS`).
pub const REREG_ACCESS: u32 = 1 << 2;
/// All valid `ReregMr` flags.
pub const REREG_ALL: u32 = REREG_TRANS | REREG_PD | REREG_ACCESS;

/// Defines a struct whose wire form is its fields, packed, in order.
macro_rules! wire_struct {
    ($(#[$m:meta])* pub struct $name:ident {
        $( $(#[$fm:meta])* pub $f:ident : $t:ty ),* $(,)?
    }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name { $( $(#[$fm])* pub $f: $t, )* }
        impl Wire for $name {
            const SIZE: usize = 0 $( + <$t as Wire>::SIZE )*;
            fn put(&self, w: &mut Writer<'_>) {
                $( self.$f.put(w); )*
            }
            fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(Self { $( $f: <$t as Wire>::get(r)?, )* })
            }
        }
        #[cfg(test)]
        impl Gen for $name {
            fn gen(src: &mut GenSrc<'_>) -> Self {
                Self { $( $f: <$t as Gen>::gen(src), )* }
            }
        }
        #[cfg(test)]
        impl Layout for $name {
            const FIELDS: &'static [(&'static str, &'static str, usize)] =
                &[ $( (stringify!($f), stringify!($t), <$t as Wire>::SIZE), )* ];
        }
    };
}

/// Defines a `u32` handle newtype.
macro_rules! handle {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub u32);
        impl Wire for $name {
            const SIZE: usize = 4;
            fn put(&self, w: &mut Writer<'_>) {
                w.u32(self.0)
            }
            fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(Self(r.u32()?))
            }
        }
        #[cfg(test)]
        impl Gen for $name {
            fn gen(src: &mut GenSrc<'_>) -> Self {
                Self(u32::gen(src))
            }
        }
    };
}

/// Defines a closed enum with explicit values, strictly decoded.
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident : $repr:ident {
        $( $(#[$vm:meta])* $v:ident = $val:literal ),* $(,)?
    }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr($repr)]
        pub enum $name { $( $(#[$vm])* $v = $val, )* }
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
            /// Strict conversion from the raw value.
            pub fn from_raw(x: $repr) -> Option<Self> {
                match x { $( $val => Some(Self::$v), )* _ => None }
            }
            /// The raw value.
            pub fn raw(self) -> $repr {
                self as $repr
            }
        }
        impl Wire for $name {
            const SIZE: usize = core::mem::size_of::<$repr>();
            fn put(&self, w: &mut Writer<'_>) {
                w.$repr(*self as $repr)
            }
            fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                let at = r.at();
                Self::from_raw(r.$repr()?).ok_or(DecodeError::InvalidValue(at))
            }
        }
        #[cfg(test)]
        impl Gen for $name {
            fn gen(src: &mut GenSrc<'_>) -> Self {
                let all = Self::ALL;
                all[src.below(all.len() as u64) as usize]
            }
        }
    };
}

handle!(
    /// A device context (one per guest `ib_ucontext`).
    CtxHandle
);
handle!(
    /// A protection domain.
    PdHandle
);
handle!(
    /// A completion queue.
    CqHandle
);
handle!(
    /// A queue pair.
    QpHandle
);
handle!(
    /// A shared receive queue.
    SrqHandle
);
handle!(
    /// A memory region.
    MrHandle
);
handle!(
    /// An address handle.
    AhHandle
);
handle!(
    /// A memory window.
    MwHandle
);
handle!(
    /// A Xen grant reference.
    GrantRef
);
handle!(
    /// Guest pages the backend keeps mapped after their MR was
    /// deregistered (`DeregMrKeep`), for a later `RegMrCached`.
    CacheHandle
);

/// A 16-byte GID.
pub type Gid = [u8; 16];

/// An empty body (0 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Empty;

impl Wire for Empty {
    const SIZE: usize = 0;
    fn put(&self, _w: &mut Writer<'_>) {}
    fn get(_r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Empty)
    }
}

/// Optional SRQ: `u32 present (0/1)`, `u32 handle` (0 when absent).
impl Wire for Option<SrqHandle> {
    const SIZE: usize = 8;
    fn put(&self, w: &mut Writer<'_>) {
        match self {
            Some(h) => {
                w.u32(1);
                w.u32(h.0);
            }
            None => w.zeros(8),
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.at();
        match r.u32()? {
            0 => {
                r.reserved(4)?;
                Ok(None)
            }
            1 => Ok(Some(SrqHandle(r.u32()?))),
            _ => Err(DecodeError::InvalidValue(at)),
        }
    }
}

/// Opaque provider (driver) data: `u16 len`, `u16 out_len`,
/// `u8 bytes[256]`; bytes past `len` are zero. In a request, `out_len`
/// is how many response bytes the provider asked for (its `udata`
/// `outlen`, at most [`MAX_UDATA`]): the back offers the driver exactly
/// that many. In a response it is zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Udata {
    len: u16,
    out_len: u16,
    bytes: [u8; MAX_UDATA],
}

impl Default for Udata {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl Udata {
    /// No data.
    pub const EMPTY: Udata = Udata {
        len: 0,
        out_len: 0,
        bytes: [0; MAX_UDATA],
    };

    /// Copies `data` (with `out_len` 0); `None` if longer than [`MAX_UDATA`].
    pub fn new(data: &[u8]) -> Option<Self> {
        let mut u = Self::EMPTY;
        u.bytes.get_mut(..data.len())?.copy_from_slice(data);
        u.len = data.len() as u16;
        Some(u)
    }

    /// The valid bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Number of valid bytes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The same bytes, asking for `out_len` response bytes; `None` if more
    /// than [`MAX_UDATA`].
    pub fn with_out_len(mut self, out_len: usize) -> Option<Self> {
        if out_len > MAX_UDATA {
            return None;
        }
        self.out_len = out_len as u16;
        Some(self)
    }

    /// Response bytes the provider asked for (requests; 0 in responses).
    pub fn out_len(&self) -> usize {
        usize::from(self.out_len)
    }
}

impl Wire for Udata {
    const SIZE: usize = 4 + MAX_UDATA;
    fn put(&self, w: &mut Writer<'_>) {
        w.u16(self.len);
        w.u16(self.out_len);
        w.bytes(&self.bytes);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.at();
        let len = r.u16()?;
        let out_at = r.at();
        let out_len = r.u16()?;
        if usize::from(len) > MAX_UDATA {
            return Err(DecodeError::TooBig(at));
        }
        if usize::from(out_len) > MAX_UDATA {
            return Err(DecodeError::TooBig(out_at));
        }
        let mut bytes = [0u8; MAX_UDATA];
        for (i, b) in bytes.iter_mut().enumerate() {
            let bat = r.at();
            let v = r.u8()?;
            if i >= usize::from(len) && v != 0 {
                return Err(DecodeError::ReservedNonZero(bat));
            }
            *b = v;
        }
        Ok(Self {
            len,
            out_len,
            bytes,
        })
    }
}

/// A bounded list: `u16 count`, `u16 reserved`, then `N` entries, those
/// past `count` zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct List<T, const N: usize> {
    count: u16,
    items: [T; N],
}

/// Grant refs.
pub type RefList<const N: usize> = List<GrantRef, N>;
/// Machine or guest frame numbers.
pub type FrameList<const N: usize> = List<u64, N>;

impl<T: Copy + Default, const N: usize> Default for List<T, N> {
    fn default() -> Self {
        Self {
            count: 0,
            items: [T::default(); N],
        }
    }
}

impl<T: Copy + Default, const N: usize> List<T, N> {
    /// Capacity.
    pub const CAPACITY: usize = N;

    /// Copies `items`; `None` if more than `N`.
    pub fn new(items: &[T]) -> Option<Self> {
        let mut l = Self::default();
        l.items.get_mut(..items.len())?.copy_from_slice(items);
        l.count = u16::try_from(items.len()).ok()?;
        Some(l)
    }

    /// The valid entries.
    pub fn as_slice(&self) -> &[T] {
        self.items.get(..usize::from(self.count)).unwrap_or(&[])
    }

    /// Number of valid entries.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl<T: Wire + Copy + Default + PartialEq, const N: usize> Wire for List<T, N> {
    const SIZE: usize = 4 + T::SIZE * N;
    fn put(&self, w: &mut Writer<'_>) {
        w.u16(self.count);
        w.u16(0);
        for x in &self.items {
            x.put(w);
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.at();
        let count = r.u16()?;
        r.reserved(2)?;
        if usize::from(count) > N {
            return Err(DecodeError::TooBig(at));
        }
        let mut items = [T::default(); N];
        for (i, x) in items.iter_mut().enumerate() {
            let xat = r.at();
            let v = T::get(r)?;
            if i >= usize::from(count) && v != T::default() {
                return Err(DecodeError::ReservedNonZero(xat));
            }
            *x = v;
        }
        Ok(Self { count, items })
    }
}

/// Whether `a` (a page address with, at most, the `PAGE_WRITE` bit) names
/// a user page.
fn valid_page_addr(a: u64) -> bool {
    a & (PAGE_SIZE - 1) & !PAGE_WRITE == 0 && a >= PAGE_SIZE && a < USER_ADDR_END
}

/// An entry of a [`PageList`]: a page of the guest process (its address,
/// `PAGE_WRITE` possibly set) and what goes with it.
pub trait PageEntry: Wire + Copy + Default + PartialEq {
    /// The page address, with `PAGE_WRITE` if set.
    fn addr(&self) -> u64;
}

impl PageEntry for u64 {
    fn addr(&self) -> u64 {
        *self
    }
}

/// One guest page granted to a context: its address in the guest process
/// (with `PAGE_WRITE` if the grant is writable) and the grant:
/// `u64 addr`, `u32 gref`, `u32 reserved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageGrant {
    /// Page address, `PAGE_WRITE` set for a writable grant.
    pub addr: u64,
    /// The grant of the page.
    pub gref: GrantRef,
}

impl Wire for PageGrant {
    const SIZE: usize = 16;
    fn put(&self, w: &mut Writer<'_>) {
        w.u64(self.addr);
        w.u32(self.gref.0);
        w.u32(0);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let addr = r.u64()?;
        let gref = GrantRef(r.u32()?);
        r.reserved(4)?;
        Ok(Self { addr, gref })
    }
}

impl PageEntry for PageGrant {
    fn addr(&self) -> u64 {
        self.addr
    }
}

/// 1 to `MAX_FAULT_PAGES` guest pages: `u16 count`, `u16 reserved`, then
/// `MAX_FAULT_PAGES` entries, those past `count` zero. Each page address
/// is page aligned (but for `PAGE_WRITE`), not page 0, and below
/// `USER_ADDR_END`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageList<T: PageEntry> {
    count: u16,
    pages: [T; MAX_FAULT_PAGES],
}

/// Pages a verb touched that its context does not map (`Response::Fault`):
/// addresses, `PAGE_WRITE` set where the driver wrote.
pub type FaultPages = PageList<u64>;
/// Pages granted for a context's address space (`MapPages`).
pub type PageGrants = PageList<PageGrant>;

impl<T: PageEntry> PageList<T> {
    /// Copies `pages`; `None` if there are none, more than
    /// `MAX_FAULT_PAGES`, or one is not a user page address.
    pub fn new(pages: &[T]) -> Option<Self> {
        if pages.is_empty() || !pages.iter().all(|p| valid_page_addr(p.addr())) {
            return None;
        }
        let mut l = Self::default();
        l.pages.get_mut(..pages.len())?.copy_from_slice(pages);
        l.count = pages.len() as u16;
        Some(l)
    }

    /// The pages.
    pub fn as_slice(&self) -> &[T] {
        self.pages.get(..usize::from(self.count)).unwrap_or(&[])
    }
}

impl<T: PageEntry> Wire for PageList<T> {
    const SIZE: usize = 4 + T::SIZE * MAX_FAULT_PAGES;
    fn put(&self, w: &mut Writer<'_>) {
        w.u16(self.count);
        w.u16(0);
        for p in &self.pages {
            p.put(w);
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = r.at();
        let count = r.u16()?;
        r.reserved(2)?;
        if count == 0 {
            return Err(DecodeError::Inconsistent);
        }
        if usize::from(count) > MAX_FAULT_PAGES {
            return Err(DecodeError::TooBig(at));
        }
        let mut pages = [T::default(); MAX_FAULT_PAGES];
        for (i, p) in pages.iter_mut().enumerate() {
            let pat = r.at();
            *p = T::get(r)?;
            if i >= usize::from(count) {
                if *p != T::default() {
                    return Err(DecodeError::ReservedNonZero(pat));
                }
            } else if !valid_page_addr(p.addr()) {
                return Err(DecodeError::InvalidValue(pat));
            }
        }
        Ok(Self { count, pages })
    }
}

/// Number of pages spanned by `[start, start + length)`; `None` if
/// `length == 0`, the range overflows, or the span exceeds `u32`.
pub fn page_span(start: u64, length: u64) -> Option<u32> {
    if length == 0 {
        return None;
    }
    let last = start.checked_add(length - 1)?;
    let n = (last / PAGE_SIZE) - (start / PAGE_SIZE) + 1;
    u32::try_from(n).ok()
}

/// Indirect pages needed for `nr_pages` grant refs
/// (`ceil(nr_pages / REFS_PER_INDIRECT_PAGE)`).
pub fn indirect_pages_for(nr_pages: u32) -> u32 {
    nr_pages.div_ceil(REFS_PER_INDIRECT_PAGE)
}

/// Whether an MR of `nr_pages` pages is listed through directory pages.
pub fn mr_two_level(nr_pages: u32) -> bool {
    nr_pages > MAX_MR_PAGES_ONE_LEVEL
}

/// References a `RegMr`/`ReregMr` carries for `nr_pages`: its indirect
/// pages, or, for a two-level list, the directory pages that list them.
pub fn mr_request_refs(nr_pages: u32) -> u32 {
    let indirect = indirect_pages_for(nr_pages);
    if mr_two_level(nr_pages) {
        indirect.div_ceil(REFS_PER_INDIRECT_PAGE)
    } else {
        indirect
    }
}

/// Validates an MR translation (start/length/iova/nr_pages/indirect).
fn check_mr(
    start: u64,
    length: u64,
    iova: u64,
    nr_pages: u32,
    nind: usize,
) -> Result<(), DecodeError> {
    let span = page_span(start, length).ok_or(DecodeError::Inconsistent)?;
    if iova.checked_add(length - 1).is_none() {
        return Err(DecodeError::Inconsistent);
    }
    if span > MAX_MR_PAGES {
        return Err(DecodeError::TooBig(0));
    }
    if nr_pages != span || nind != mr_request_refs(nr_pages) as usize {
        return Err(DecodeError::Inconsistent);
    }
    Ok(())
}

wire_enum!(
    /// `enum ib_qp_type` values carried on the wire.
    QpType: u8 {
        /// `IB_QPT_RC`.
        Rc = 2,
        /// `IB_QPT_UC`.
        Uc = 3,
        /// `IB_QPT_UD`.
        Ud = 4,
        /// `IB_QPT_RAW_PACKET`.
        RawPacket = 8,
        /// `IB_QPT_XRC_INI`.
        XrcIni = 9,
        /// `IB_QPT_XRC_TGT`.
        XrcTgt = 10,
        /// `IB_QPT_DRIVER`.
        Driver = 0xff,
    }
);

wire_enum!(
    /// `enum ib_qp_state`.
    QpState: u8 {
        /// `IB_QPS_RESET`.
        Reset = 0,
        /// `IB_QPS_INIT`.
        Init = 1,
        /// `IB_QPS_RTR`.
        Rtr = 2,
        /// `IB_QPS_RTS`.
        Rts = 3,
        /// `IB_QPS_SQD`.
        Sqd = 4,
        /// `IB_QPS_SQE`.
        Sqe = 5,
        /// `IB_QPS_ERR`.
        Err = 6,
    }
);

/// A state field that `attr_mask` does not select is encoded as `Reset`.
impl Default for QpState {
    fn default() -> Self {
        QpState::Reset
    }
}

wire_enum!(
    /// Object kind an asynchronous event refers to.
    AsyncObj: u8 {
        /// `handle` is a [`QpHandle`].
        Qp = 1,
        /// `handle` is a [`CqHandle`].
        Cq = 2,
        /// `handle` is a [`SrqHandle`].
        Srq = 3,
        /// `handle` is a port number.
        Port = 4,
        /// `handle` is 0 (device-wide).
        Device = 5,
    }
);

wire_enum!(
    /// `enum ib_mw_type`.
    MwType: u8 {
        /// `IB_MW_TYPE_1`: bound with `ibv_bind_mw`.
        Type1 = 1,
        /// `IB_MW_TYPE_2`: bound with a `BIND_MW` work request, to one QP.
        Type2 = 2,
    }
);

/// Address vector (`struct ib_uverbs_qp_dest` / `ib_uverbs_ah_attr`), 48 bytes.
///
/// The source GID travels by value, not as an index: the guest's GID table
/// and the driver domain's are different tables (the guest's comes from
/// its own netdev), so an index means nothing on the other side. The back
/// finds the GID in its device's table, and uses it only if it is one of
/// the guest's own addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AhAttr {
    /// Destination GID.
    pub dgid: Gid,
    /// Source GID (zero without a GRH).
    pub sgid: Gid,
    /// Flow label.
    pub flow_label: u32,
    /// Destination LID.
    pub dlid: u16,
    /// The source GID's type: `IB_UVERBS_GID_TYPE_{IB,ROCE_V1,ROCE_V2}`.
    pub sgid_type: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Service level.
    pub sl: u8,
    /// Source path bits.
    pub src_path_bits: u8,
    /// Static rate.
    pub static_rate: u8,
    /// GRH present.
    pub is_global: bool,
    /// Port number.
    pub port_num: u8,
}

impl Wire for AhAttr {
    const SIZE: usize = 48;
    fn put(&self, w: &mut Writer<'_>) {
        w.bytes(&self.dgid);
        w.bytes(&self.sgid);
        w.u32(self.flow_label);
        w.u16(self.dlid);
        w.u8(self.sgid_type);
        w.u8(self.hop_limit);
        w.u8(self.traffic_class);
        w.u8(self.sl);
        w.u8(self.src_path_bits);
        w.u8(self.static_rate);
        w.bool(self.is_global);
        w.u8(self.port_num);
        w.u16(0); // reserved
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let a = Self {
            dgid: r.array()?,
            sgid: r.array()?,
            flow_label: r.u32()?,
            dlid: r.u16()?,
            sgid_type: r.u8()?,
            hop_limit: r.u8()?,
            traffic_class: r.u8()?,
            sl: r.u8()?,
            src_path_bits: r.u8()?,
            static_rate: r.u8()?,
            is_global: r.bool()?,
            port_num: r.u8()?,
        };
        r.reserved(2)?;
        Ok(a)
    }
}

wire_struct!(
    /// QP attributes (`struct ib_uverbs_modify_qp` + `rate_limit`), 138 bytes.
    /// Encoders zero fields not selected by `attr_mask` (state fields: `Reset`),
    /// which is what `Default` gives.
    #[derive(Default)]
    pub struct QpAttr {
        /// Q_Key.
        pub qkey: u32,
        /// Receive PSN.
        pub rq_psn: u32,
        /// Send PSN.
        pub sq_psn: u32,
        /// Destination QP number.
        pub dest_qp_num: u32,
        /// `IB_ACCESS_*` flags.
        pub qp_access_flags: u32,
        /// Rate limit (kbps).
        pub rate_limit: u32,
        /// P_Key index.
        pub pkey_index: u16,
        /// Alternate P_Key index.
        pub alt_pkey_index: u16,
        /// Target state.
        pub qp_state: QpState,
        /// Current state.
        pub cur_qp_state: QpState,
        /// `enum ib_mtu` (raw).
        pub path_mtu: u8,
        /// `enum ib_mig_state` (raw).
        pub path_mig_state: u8,
        /// SQD async notify enable.
        pub en_sqd_async_notify: u8,
        /// Max outstanding RDMA reads/atomics as initiator.
        pub max_rd_atomic: u8,
        /// Max outstanding RDMA reads/atomics as target.
        pub max_dest_rd_atomic: u8,
        /// Minimum RNR NAK timer.
        pub min_rnr_timer: u8,
        /// Port number.
        pub port_num: u8,
        /// Local ACK timeout.
        pub timeout: u8,
        /// Retry count.
        pub retry_cnt: u8,
        /// RNR retry count.
        pub rnr_retry: u8,
        /// Alternate port number.
        pub alt_port_num: u8,
        /// Alternate timeout.
        pub alt_timeout: u8,
        /// Primary path.
        pub dest: AhAttr,
        /// Alternate path.
        pub alt_dest: AhAttr,
    }
);

wire_struct!(
    /// QP capabilities, 20 bytes.
    pub struct QpCaps {
        /// Max send work requests.
        pub max_send_wr: u32,
        /// Max receive work requests.
        pub max_recv_wr: u32,
        /// Max send SGEs.
        pub max_send_sge: u32,
        /// Max receive SGEs.
        pub max_recv_sge: u32,
        /// Max inline data bytes.
        pub max_inline_data: u32,
    }
);

wire_struct!(
    /// `Hello` request body.
    pub struct HelloReq {
        /// Feature bits the front wants (`FEATURE_*`).
        pub features: u64,
        /// Lowest protocol version the front speaks (>= 1).
        pub min_version: u16,
        /// Highest protocol version the front speaks (>= min).
        pub max_version: u16,
    }
);

wire_struct!(
    /// `Hello` response body.
    pub struct HelloRsp {
        /// Granted features (`requested & supported`).
        pub features: u64,
        /// Chosen version (highest common).
        pub version: u16,
    }
);

wire_struct!(
    /// Device attributes (`ib_uverbs_query_device_resp` + ex fields).
    pub struct DeviceAttr {
        /// Firmware version.
        pub fw_ver: u64,
        /// Node GUID (network byte order, as in uverbs).
        pub node_guid: u64,
        /// System image GUID (network byte order).
        pub sys_image_guid: u64,
        /// Max MR size.
        pub max_mr_size: u64,
        /// Supported page sizes.
        pub page_size_cap: u64,
        /// `IB_DEVICE_*` capability flags (64-bit, ex form).
        pub device_cap_flags: u64,
        /// Vendor ID.
        pub vendor_id: u32,
        /// Vendor part ID.
        pub vendor_part_id: u32,
        /// Hardware version.
        pub hw_ver: u32,
        /// Max QPs.
        pub max_qp: u32,
        /// Max WRs per QP.
        pub max_qp_wr: u32,
        /// Max send SGEs.
        pub max_send_sge: u32,
        /// Max receive SGEs.
        pub max_recv_sge: u32,
        /// Max SGEs for RDMA read.
        pub max_sge_rd: u32,
        /// Max CQs.
        pub max_cq: u32,
        /// Max CQEs per CQ.
        pub max_cqe: u32,
        /// Max MRs.
        pub max_mr: u32,
        /// Max PDs.
        pub max_pd: u32,
        /// Max outstanding RDMA reads per QP (responder).
        pub max_qp_rd_atom: u32,
        /// Max EE RD atoms.
        pub max_ee_rd_atom: u32,
        /// Max responder resources.
        pub max_res_rd_atom: u32,
        /// Max outstanding RDMA reads per QP (initiator).
        pub max_qp_init_rd_atom: u32,
        /// Max EE init RD atoms.
        pub max_ee_init_rd_atom: u32,
        /// `enum ib_atomic_cap`.
        pub atomic_cap: u32,
        /// Max EE contexts.
        pub max_ee: u32,
        /// Max RDDs.
        pub max_rdd: u32,
        /// Max MWs.
        pub max_mw: u32,
        /// Max raw IPv6 QPs.
        pub max_raw_ipv6_qp: u32,
        /// Max raw Ethertype QPs.
        pub max_raw_ethy_qp: u32,
        /// Max multicast groups.
        pub max_mcast_grp: u32,
        /// Max QPs per multicast group.
        pub max_mcast_qp_attach: u32,
        /// Max total multicast attachments.
        pub max_total_mcast_qp_attach: u32,
        /// Max AHs.
        pub max_ah: u32,
        /// Max SRQs.
        pub max_srq: u32,
        /// Max WRs per SRQ.
        pub max_srq_wr: u32,
        /// Max SGEs per SRQ WR.
        pub max_srq_sge: u32,
        /// `enum rdma_driver_id` of the backing device.
        pub driver_id: u32,
        /// uverbs ABI version of the backing provider.
        pub uverbs_abi_ver: u32,
        /// P_Key table size.
        pub max_pkeys: u16,
        /// Local CA ACK delay.
        pub local_ca_ack_delay: u8,
        /// Number of physical ports.
        pub phys_port_cnt: u8,
        /// `enum rdma_node_type`.
        pub node_type: u8,
        /// Node description (NUL padded).
        pub node_desc: [u8; 64],
        /// Backing device name (NUL padded).
        pub name: [u8; 64],
    }
);

wire_struct!(
    /// Port attributes (`ib_uverbs_query_port_resp` + extras).
    pub struct PortAttr {
        /// `IB_PORT_*` capability flags.
        pub port_cap_flags: u32,
        /// Max message size.
        pub max_msg_sz: u32,
        /// Bad P_Key counter.
        pub bad_pkey_cntr: u32,
        /// Q_Key violation counter.
        pub qkey_viol_cntr: u32,
        /// GID table length.
        pub gid_tbl_len: u32,
        /// P_Key table length.
        pub pkey_tbl_len: u16,
        /// Port LID.
        pub lid: u16,
        /// SM LID.
        pub sm_lid: u16,
        /// `port_cap_flags2`.
        pub port_cap_flags2: u16,
        /// Active speed (`enum ib_port_speed`, u16 as in `ib_port_attr`).
        pub active_speed: u16,
        /// `enum ib_port_state`.
        pub state: u8,
        /// Max MTU (`enum ib_mtu`).
        pub max_mtu: u8,
        /// Active MTU.
        pub active_mtu: u8,
        /// LID mask control.
        pub lmc: u8,
        /// Max VLs.
        pub max_vl_num: u8,
        /// SM service level.
        pub sm_sl: u8,
        /// Subnet timeout.
        pub subnet_timeout: u8,
        /// Init type reply.
        pub init_type_reply: u8,
        /// Active width.
        pub active_width: u8,
        /// Physical state.
        pub phys_state: u8,
        /// `IB_LINK_LAYER_*`.
        pub link_layer: u8,
    }
);

wire_struct!(
    /// `QueryPort` request.
    pub struct QueryPortReq {
        /// Port number (1-based).
        pub port: u8,
    }
);

wire_struct!(
    /// `QueryGid` request.
    pub struct QueryGidReq {
        /// GID index.
        pub index: u32,
        /// Port number.
        pub port: u8,
    }
);

wire_struct!(
    /// `QueryGid` response.
    pub struct GidRsp {
        /// The GID.
        pub gid: Gid,
        /// `enum ib_gid_type`.
        pub gid_type: u32,
        /// Whether the entry is valid.
        pub valid: bool,
    }
);

wire_struct!(
    /// `QueryPkey` request.
    pub struct QueryPkeyReq {
        /// P_Key index.
        pub index: u16,
        /// Port number.
        pub port: u8,
    }
);

wire_struct!(
    /// `QueryPkey` response.
    pub struct PkeyRsp {
        /// The P_Key.
        pub pkey: u16,
    }
);

wire_struct!(
    /// Request carrying only driver data (`OpenContext`).
    pub struct UdataReq {
        /// Provider request bytes.
        pub udata: Udata,
    }
);

wire_struct!(
    /// `OpenContext` response.
    pub struct OpenContextRsp {
        /// New context.
        pub ctx: CtxHandle,
        /// Provider response bytes.
        pub udata: Udata,
    }
);

wire_struct!(
    /// Request naming only a context (`CloseContext`).
    pub struct CtxReq {
        /// Context.
        pub ctx: CtxHandle,
    }
);

wire_struct!(
    /// `AllocPd` request.
    pub struct AllocPdReq {
        /// Context.
        pub ctx: CtxHandle,
        /// Provider request bytes.
        pub udata: Udata,
    }
);

wire_struct!(
    /// `AllocPd` response.
    pub struct AllocPdRsp {
        /// New PD.
        pub pd: PdHandle,
        /// Provider response bytes.
        pub udata: Udata,
    }
);

wire_struct!(
    /// `DeallocPd` request.
    pub struct DeallocPdReq {
        /// Context.
        pub ctx: CtxHandle,
        /// PD.
        pub pd: PdHandle,
    }
);

wire_struct!(
    /// `RegMr` request. Page `k * 1024 + j` of the region has its grant ref
    /// at `u32` index `j` of indirect page `indirect[k]`.
    pub struct RegMrReq {
        /// Guest virtual start address.
        pub start: u64,
        /// Length in bytes (> 0).
        pub length: u64,
        /// IO virtual address.
        pub iova: u64,
        /// Context.
        pub ctx: CtxHandle,
        /// PD.
        pub pd: PdHandle,
        /// `IB_ACCESS_*` flags.
        pub access: u32,
        /// Pages spanned by `[start, start + length)`.
        pub nr_pages: u32,
        /// Indirect pages (`ceil(nr_pages / 1024)` refs).
        pub indirect: RefList<MAX_INDIRECT>,
    }
);

impl RegMrReq {
    /// Semantic checks (page span, indirect count, bounds).
    pub fn check(&self) -> Result<(), DecodeError> {
        check_mr(
            self.start,
            self.length,
            self.iova,
            self.nr_pages,
            self.indirect.len(),
        )
    }
}

wire_struct!(
    /// `RegMr` response.
    pub struct RegMrRsp {
        /// New MR.
        pub mr: MrHandle,
        /// Local key.
        pub lkey: u32,
        /// Remote key.
        pub rkey: u32,
    }
);

wire_struct!(
    /// `ReregMr` request; with `REREG_TRANS` the translation fields are
    /// checked as for `RegMr`, otherwise `nr_pages` and `indirect` are empty.
    pub struct ReregMrReq {
        /// New start (with `REREG_TRANS`).
        pub start: u64,
        /// New length.
        pub length: u64,
        /// New IOVA.
        pub iova: u64,
        /// Context.
        pub ctx: CtxHandle,
        /// MR.
        pub mr: MrHandle,
        /// `REREG_*` flags.
        pub flags: u32,
        /// New PD (with `REREG_PD`).
        pub pd: PdHandle,
        /// New access (with `REREG_ACCESS`).
        pub access: u32,
        /// Pages spanned.
        pub nr_pages: u32,
        /// Indirect pages.
        pub indirect: RefList<MAX_INDIRECT>,
    }
);

impl ReregMrReq {
    /// Semantic checks.
    pub fn check(&self) -> Result<(), DecodeError> {
        if self.flags & !REREG_ALL != 0 || self.flags == 0 {
            return Err(DecodeError::Inconsistent);
        }
        if self.flags & REREG_TRANS != 0 {
            check_mr(
                self.start,
                self.length,
                self.iova,
                self.nr_pages,
                self.indirect.len(),
            )
        } else if self.nr_pages != 0 || !self.indirect.is_empty() {
            Err(DecodeError::Inconsistent)
        } else {
            Ok(())
        }
    }
}

wire_struct!(
    /// `ReregMr` response.
    pub struct ReregMrRsp {
        /// Local key.
        pub lkey: u32,
        /// Remote key.
        pub rkey: u32,
    }
);

wire_struct!(
    /// `DeregMr` request.
    pub struct DeregMrReq {
        /// Context.
        pub ctx: CtxHandle,
        /// MR.
        pub mr: MrHandle,
    }
);

wire_struct!(
    /// `DeregMrKeep` response: the kept pages, until `RegMrCached` or
    /// `DropCached` names them.
    pub struct DeregMrKeepRsp {
        /// The kept pages.
        pub cache: CacheHandle,
    }
);

wire_struct!(
    /// `RegMrCached` request: register `[start, start + length)` over the
    /// pages kept as `cache`, which it consumes (whether it succeeds or
    /// not). The pages must cover the range (`start % 4096 + length`
    /// bytes) and have been granted with the same writability
    /// (`access_writable(access)`).
    pub struct RegMrCachedReq {
        /// Guest virtual start address.
        pub start: u64,
        /// Length in bytes (> 0).
        pub length: u64,
        /// IO virtual address.
        pub iova: u64,
        /// Context.
        pub ctx: CtxHandle,
        /// PD.
        pub pd: PdHandle,
        /// The kept pages.
        pub cache: CacheHandle,
        /// `IB_ACCESS_*` flags.
        pub access: u32,
    }
);

impl RegMrCachedReq {
    /// Semantic checks (a range of at most `MAX_MR_PAGES` pages, an iova
    /// range that does not wrap).
    pub fn check(&self) -> Result<(), DecodeError> {
        let span = page_span(self.start, self.length).ok_or(DecodeError::Inconsistent)?;
        check_mr(self.start, self.length, self.iova, span, mr_request_refs(span) as usize)
    }
}

wire_struct!(
    /// `DropCached` request: the backend unmaps kept pages.
    pub struct CachedReq {
        /// Context.
        pub ctx: CtxHandle,
        /// The kept pages.
        pub cache: CacheHandle,
    }
);

wire_struct!(
    /// `AllocMw` request.
    pub struct AllocMwReq {
        /// Context.
        pub ctx: CtxHandle,
        /// PD.
        pub pd: PdHandle,
        /// Window type.
        pub mw_type: MwType,
        /// Provider request bytes.
        pub udata: Udata,
    }
);

wire_struct!(
    /// `AllocMw` response.
    pub struct AllocMwRsp {
        /// New MW.
        pub mw: MwHandle,
        /// Its remote key (the driver's; the provider binds it later).
        pub rkey: u32,
        /// Provider response bytes.
        pub udata: Udata,
    }
);

wire_struct!(
    /// `DeallocMw` request.
    pub struct DeallocMwReq {
        /// Context.
        pub ctx: CtxHandle,
        /// MW.
        pub mw: MwHandle,
    }
);

wire_struct!(
    /// `CreateCq` request.
    pub struct CreateCqReq {
        /// Guest `user_handle` (echoed in events).
        pub user_handle: u64,
        /// Context.
        pub ctx: CtxHandle,
        /// Requested CQEs.
        pub cqe: u32,
        /// Completion vector.
        pub comp_vector: u32,
        /// Provider request bytes.
        pub udata: Udata,
    }
);

wire_struct!(
    /// `CreateCq` response.
    pub struct CreateCqRsp {
        /// New CQ.
        pub cq: CqHandle,
        /// Actual CQEs.
        pub cqe: u32,
        /// Provider response bytes.
        pub udata: Udata,
        /// Its queue regions, mapped and granted already.
        pub queues: QueueMaps,
    }
);

wire_struct!(
    /// `ResizeCq` request.
    pub struct ResizeCqReq {
        /// Context.
        pub ctx: CtxHandle,
        /// CQ.
        pub cq: CqHandle,
        /// Requested CQEs.
        pub cqe: u32,
        /// Provider request bytes.
        pub udata: Udata,
    }
);

wire_struct!(
    /// `ResizeCq` response.
    pub struct ResizeCqRsp {
        /// Actual CQEs.
        pub cqe: u32,
        /// Provider response bytes.
        pub udata: Udata,
    }
);

wire_struct!(
    /// `DestroyCq` request.
    pub struct CqReq {
        /// Context.
        pub ctx: CtxHandle,
        /// CQ.
        pub cq: CqHandle,
    }
);

wire_struct!(
    /// `ReqNotifyCq` request.
    pub struct ReqNotifyCqReq {
        /// Context.
        pub ctx: CtxHandle,
        /// CQ.
        pub cq: CqHandle,
        /// Only solicited completions.
        pub solicited_only: bool,
    }
);

wire_struct!(
    /// `CreateQp` request.
    pub struct CreateQpReq {
        /// Guest `user_handle`.
        pub user_handle: u64,
        /// Context.
        pub ctx: CtxHandle,
        /// PD.
        pub pd: PdHandle,
        /// Send CQ.
        pub send_cq: CqHandle,
        /// Receive CQ.
        pub recv_cq: CqHandle,
        /// Optional SRQ.
        pub srq: Option<SrqHandle>,
        /// Requested capabilities.
        pub caps: QpCaps,
        /// QP type.
        pub qp_type: QpType,
        /// Signal all send WRs.
        pub sq_sig_all: bool,
        /// Provider request bytes.
        pub udata: Udata,
    }
);

wire_struct!(
    /// `CreateQp` response.
    pub struct CreateQpRsp {
        /// New QP.
        pub qp: QpHandle,
        /// QP number.
        pub qpn: u32,
        /// Actual capabilities.
        pub caps: QpCaps,
        /// Provider response bytes.
        pub udata: Udata,
        /// Its queue regions, mapped and granted already.
        pub queues: QueueMaps,
    }
);

wire_struct!(
    /// `ModifyQp` request.
    pub struct ModifyQpReq {
        /// Context.
        pub ctx: CtxHandle,
        /// QP.
        pub qp: QpHandle,
        /// `IB_QP_*` attribute mask.
        pub attr_mask: u32,
        /// Attributes.
        pub attr: QpAttr,
        /// Provider request bytes.
        pub udata: Udata,
    }
);

wire_struct!(
    /// `QueryQp` request.
    pub struct QueryQpReq {
        /// Context.
        pub ctx: CtxHandle,
        /// QP.
        pub qp: QpHandle,
        /// `IB_QP_*` attribute mask.
        pub attr_mask: u32,
    }
);

wire_struct!(
    /// `QueryQp` response.
    pub struct QueryQpRsp {
        /// Attributes.
        pub attr: QpAttr,
        /// Capabilities.
        pub caps: QpCaps,
        /// Signal all send WRs.
        pub sq_sig_all: bool,
    }
);

wire_struct!(
    /// `DestroyQp` / `Kick` request.
    pub struct QpReq {
        /// Context.
        pub ctx: CtxHandle,
        /// QP.
        pub qp: QpHandle,
    }
);

wire_struct!(
    /// `CreateSrq` request.
    pub struct CreateSrqReq {
        /// Guest `user_handle`.
        pub user_handle: u64,
        /// Context.
        pub ctx: CtxHandle,
        /// PD.
        pub pd: PdHandle,
        /// Max WRs.
        pub max_wr: u32,
        /// Max SGEs per WR.
        pub max_sge: u32,
        /// Limit for the SRQ limit event.
        pub srq_limit: u32,
        /// Provider request bytes.
        pub udata: Udata,
    }
);

wire_struct!(
    /// `CreateSrq` response.
    pub struct CreateSrqRsp {
        /// New SRQ.
        pub srq: SrqHandle,
        /// Actual max WRs.
        pub max_wr: u32,
        /// Actual max SGEs.
        pub max_sge: u32,
        /// SRQ number (XRC; 0 otherwise).
        pub srqn: u32,
        /// Provider response bytes.
        pub udata: Udata,
        /// Its queue regions, mapped and granted already.
        pub queues: QueueMaps,
    }
);

wire_struct!(
    /// `ModifySrq` request.
    pub struct ModifySrqReq {
        /// Context.
        pub ctx: CtxHandle,
        /// SRQ.
        pub srq: SrqHandle,
        /// `IB_SRQ_*` mask.
        pub attr_mask: u32,
        /// Max WRs.
        pub max_wr: u32,
        /// SRQ limit.
        pub srq_limit: u32,
        /// Provider request bytes.
        pub udata: Udata,
    }
);

wire_struct!(
    /// `QuerySrq` / `DestroySrq` request.
    pub struct SrqReq {
        /// Context.
        pub ctx: CtxHandle,
        /// SRQ.
        pub srq: SrqHandle,
    }
);

wire_struct!(
    /// `QuerySrq` response.
    pub struct QuerySrqRsp {
        /// Max WRs.
        pub max_wr: u32,
        /// Max SGEs.
        pub max_sge: u32,
        /// SRQ limit.
        pub srq_limit: u32,
    }
);

wire_struct!(
    /// `CreateAh` request.
    pub struct CreateAhReq {
        /// Guest `user_handle`.
        pub user_handle: u64,
        /// Context.
        pub ctx: CtxHandle,
        /// PD.
        pub pd: PdHandle,
        /// Address attributes.
        pub attr: AhAttr,
        /// Provider request bytes.
        pub udata: Udata,
    }
);

wire_struct!(
    /// `CreateAh` response.
    pub struct CreateAhRsp {
        /// New AH.
        pub ah: AhHandle,
        /// Provider response bytes.
        pub udata: Udata,
    }
);

wire_struct!(
    /// `DestroyAh` request.
    pub struct AhReq {
        /// Context.
        pub ctx: CtxHandle,
        /// AH.
        pub ah: AhHandle,
    }
);

wire_struct!(
    /// `AttachMcast` / `DetachMcast` request.
    pub struct McastReq {
        /// Multicast GID.
        pub gid: Gid,
        /// Context.
        pub ctx: CtxHandle,
        /// QP.
        pub qp: QpHandle,
        /// Multicast LID.
        pub lid: u16,
    }
);

wire_struct!(
    /// `Mmap` request: fetch grant refs for pages `first_page..` of the
    /// driver mmap region `[offset, offset + length)`.
    pub struct MmapReq {
        /// mmap offset (`vm_pgoff << PAGE_SHIFT`, page aligned).
        pub offset: u64,
        /// Region length (page aligned, > 0).
        pub length: u64,
        /// Context.
        pub ctx: CtxHandle,
        /// First page wanted (< `length / 4096`).
        pub first_page: u32,
    }
);

impl MmapReq {
    /// Semantic checks.
    pub fn check(&self) -> Result<(), DecodeError> {
        if self.length == 0
            || !self.offset.is_multiple_of(PAGE_SIZE)
            || !self.length.is_multiple_of(PAGE_SIZE)
        {
            return Err(DecodeError::Inconsistent);
        }
        if self.offset.checked_add(self.length).is_none() {
            return Err(DecodeError::Inconsistent);
        }
        let pages = self.length / PAGE_SIZE;
        if pages > u64::from(u32::MAX) {
            return Err(DecodeError::TooBig(0));
        }
        if u64::from(self.first_page) >= pages {
            return Err(DecodeError::Inconsistent);
        }
        Ok(())
    }
}

wire_enum!(
    /// Caching of a device's I/O frames, as its driver mapped them
    /// (`pgprot_noncached` or `pgprot_writecombine`).
    IoCache: u16 {
        /// Uncached (a UAR doorbell page).
        Uncached = 0,
        /// Write-combining (a BlueFlame page).
        WriteCombining = 1,
    }
);

wire_struct!(
    /// `Mmap` response for pages `first_page ..`: grant refs for a region
    /// of RAM (queues), or I/O frames for an MMIO region (doorbells);
    /// never both.
    pub struct MmapRsp {
        /// Total pages in the region.
        pub total_pages: u32,
        /// Grant refs (read-write mappable by the guest).
        pub refs: RefList<MAX_MMAP_REFS_PER_RSP>,
        /// Machine frames of device memory, which the guest's domain may
        /// map (a PV domain through `DOMID_IO`; an auto-translated one
        /// once `MapIo` has put them in its physical map).
        pub io: FrameList<MAX_MMAP_IO_FRAMES_PER_RSP>,
        /// How `io` is to be cached, as the driver mapped it.
        pub io_cache: IoCache,
    }
);

impl MmapRsp {
    /// Semantic checks.
    pub fn check(&self) -> Result<(), DecodeError> {
        let n = self.refs.len() + self.io.len();
        if n as u64 > u64::from(self.total_pages) || (!self.refs.is_empty() && !self.io.is_empty()) {
            return Err(DecodeError::Inconsistent);
        }
        Ok(())
    }
}

wire_struct!(
    /// A driver mmap region of a new object, which the backend mapped and
    /// granted while it created the object.
    pub struct QueueRegion {
        /// mmap offset, as the provider finds it in its response bytes.
        pub offset: u64,
        /// Pages in the region.
        pub total_pages: u32,
        /// How many of [`QueueMaps::refs`], in order after the previous
        /// regions', are this region's first pages.
        pub nr_refs: u32,
    }
);

impl Default for QueueRegion {
    fn default() -> Self {
        Self {
            offset: 0,
            total_pages: 0,
            nr_refs: 0,
        }
    }
}

wire_struct!(
    /// The queue regions of a new CQ, QP or SRQ with the grant refs of
    /// their first pages, so that the provider's mmap of them needs no
    /// `Mmap` request (pages beyond `nr_refs`, if any, come by `Mmap` from
    /// that page on). Empty where the backend does not know the driver's
    /// response layout (`provider.rs`).
    pub struct QueueMaps {
        /// The regions.
        pub regions: List<QueueRegion, MAX_QUEUE_REGIONS>,
        /// Their refs, region after region.
        pub refs: RefList<MAX_QUEUE_REFS>,
    }
);

impl Default for QueueMaps {
    fn default() -> Self {
        Self {
            regions: List::default(),
            refs: List::default(),
        }
    }
}

impl QueueMaps {
    /// Regions (offset, total pages, grant refs of the whole region), in
    /// order, with as many of each region's first refs as there is room
    /// for; a region for which none is left is not listed.
    pub fn build<'a>(parts: impl Iterator<Item = (u64, u32, &'a [GrantRef])>) -> Self {
        let mut regions = [QueueRegion::default(); MAX_QUEUE_REGIONS];
        let mut refs = [GrantRef::default(); MAX_QUEUE_REFS];
        let (mut nr, mut used) = (0, 0);
        for (offset, total_pages, all) in parts {
            let take = all.len().min(MAX_QUEUE_REFS - used).min(total_pages as usize);
            if nr == MAX_QUEUE_REGIONS || take == 0 {
                break;
            }
            refs[used..used + take].copy_from_slice(&all[..take]);
            regions[nr] = QueueRegion {
                offset,
                total_pages,
                nr_refs: take as u32,
            };
            nr += 1;
            used += take;
        }
        Self {
            regions: List::new(&regions[..nr]).unwrap_or_default(),
            refs: List::new(&refs[..used]).unwrap_or_default(),
        }
    }

    /// Each region with its refs.
    pub fn iter(&self) -> impl Iterator<Item = (&QueueRegion, &[GrantRef])> + '_ {
        let mut at = 0usize;
        self.regions.as_slice().iter().map(move |r| {
            let n = r.nr_refs as usize;
            let refs = self.refs.as_slice().get(at..at + n).unwrap_or(&[]);
            at += n;
            (r, refs)
        })
    }

    /// Semantic checks: page-aligned, distinct offsets; each region lists
    /// between one and all of its pages; the refs are exactly theirs.
    pub fn check(&self) -> Result<(), DecodeError> {
        let regions = self.regions.as_slice();
        let mut refs = 0usize;
        for (i, r) in regions.iter().enumerate() {
            if r.offset % PAGE_SIZE != 0
                || r.nr_refs == 0
                || r.nr_refs > r.total_pages
                || regions[..i].iter().any(|o| o.offset == r.offset)
            {
                return Err(DecodeError::Inconsistent);
            }
            refs += r.nr_refs as usize;
        }
        if refs != self.refs.len() {
            return Err(DecodeError::Inconsistent);
        }
        Ok(())
    }
}

wire_struct!(
    /// `MapIo` request (auto-translated frontends): put the I/O frames of
    /// pages `first_page ..` of an MMIO region at these frames of the
    /// frontend domain's physical map, in order.
    pub struct MapIoReq {
        /// mmap offset of the region.
        pub offset: u64,
        /// Context.
        pub ctx: CtxHandle,
        /// First page of the region.
        pub first_page: u32,
        /// The domain's frames (GFNs) to map them at.
        pub gfns: FrameList<MAX_MMAP_IO_FRAMES_PER_RSP>,
    }
);

impl MapIoReq {
    /// Semantic checks.
    pub fn check(&self) -> Result<(), DecodeError> {
        if self.gfns.is_empty() || self.offset % PAGE_SIZE != 0 {
            return Err(DecodeError::Inconsistent);
        }
        Ok(())
    }
}

wire_struct!(
    /// `MapPages` request: guest pages a context's verb faulted on, pinned
    /// in the guest process and granted, to be mapped at their guest
    /// addresses in the context's backend address space.
    pub struct MapPagesReq {
        /// Context.
        pub ctx: CtxHandle,
        /// The pages.
        pub pages: PageGrants,
    }
);

wire_struct!(
    /// `Munmap` request.
    pub struct MunmapReq {
        /// mmap offset of the region.
        pub offset: u64,
        /// Context.
        pub ctx: CtxHandle,
    }
);

wire_struct!(
    /// Completion event (event ring).
    pub struct CompEvent {
        /// Guest `user_handle` of the CQ.
        pub user_handle: u64,
        /// Context.
        pub ctx: CtxHandle,
        /// CQ.
        pub cq: CqHandle,
    }
);

wire_struct!(
    /// Asynchronous event (event ring).
    pub struct AsyncEvent {
        /// Guest `user_handle` of the object (0 for port/device).
        pub user_handle: u64,
        /// Context.
        pub ctx: CtxHandle,
        /// Object handle (or port number, or 0).
        pub handle: u32,
        /// `enum ib_event_type`.
        pub event_type: u32,
        /// Object kind.
        pub kind: AsyncObj,
    }
);

/// Bytes of a forwarded rdma_cm command (`ucma::MAX_IN`).
pub const CM_MAX_IN: usize = super::ucma::MAX_IN;
/// Bytes of a forwarded rdma_cm response or event (`ucma::MAX_OUT`).
pub const CM_MAX_OUT: usize = super::ucma::MAX_OUT;

wire_struct!(
    /// `CmCmd` request: one write() to the guest's `rdma_cm` file, for
    /// the cm file `ctx`. `data` holds the command structure
    /// (`in_len` bytes; a `SET_OPTION` value follows it), the rest zero.
    /// Pointers in it (`response`, `optval`) and a `MIGRATE_ID`
    /// descriptor (which the front replaces by the source file's
    /// handle) mean nothing to the backend; it supplies its own.
    pub struct CmCmdReq {
        /// The cm file (a context handle from `CmOpen`).
        pub ctx: CtxHandle,
        /// `RDMA_USER_CM_CMD_*`.
        pub cmd: u32,
        /// Valid bytes of `data`.
        pub in_len: u16,
        /// Response bytes the caller offers (at most `CM_MAX_OUT`).
        pub out_len: u16,
        /// The command.
        pub data: [u8; CM_MAX_IN],
    }
);

impl CmCmdReq {
    /// Lengths within bounds, nothing past `in_len`.
    pub fn check(&self) -> Result<(), DecodeError> {
        let n = usize::from(self.in_len);
        if n > CM_MAX_IN || usize::from(self.out_len) > CM_MAX_OUT {
            return Err(DecodeError::Inconsistent);
        }
        if self.data[n..].iter().any(|&b| b != 0) {
            return Err(DecodeError::Inconsistent);
        }
        Ok(())
    }
}

wire_struct!(
    /// `CmCmd` response: what dom0's `rdma_cm` wrote to the response
    /// buffer (`out_len` bytes of the request, zero-filled), and the GIDs
    /// behind the GID indices it holds (`ucma::sgid_index_offsets`), by
    /// value, for the front to find in its own table.
    pub struct CmCmdRsp {
        /// Valid bytes of `data`.
        pub len: u16,
        /// GID types of `sgid` and `alt_sgid` (`enum ib_gid_type`).
        pub sgid_type: u8,
        /// Of `alt_sgid`.
        pub alt_sgid_type: u8,
        /// The primary path's source GID (zero if none).
        pub sgid: Gid,
        /// The alternate path's source GID (zero if none).
        pub alt_sgid: Gid,
        /// The response.
        pub data: [u8; CM_MAX_OUT],
    }
);

impl CmCmdRsp {
    /// The valid bytes.
    pub fn bytes(&self) -> &[u8] {
        self.data.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

wire_struct!(
    /// `CmOpen` response: the new cm file.
    pub struct CmOpenRsp {
        /// Its handle (a context handle).
        pub ctx: CtxHandle,
    }
);

wire_struct!(
    /// An rdma_cm event of one of the guest's cm files (event ring):
    /// `struct rdma_ucm_event_resp`, with the GID behind its address
    /// handle's source index, as in `CmCmdRsp`.
    pub struct CmEvent {
        /// The cm file.
        pub ctx: CtxHandle,
        /// `enum ib_gid_type` of `sgid`.
        pub sgid_type: u32,
        /// Source GID of `param.ud.ah_attr` (zero if none).
        pub sgid: Gid,
        /// The event.
        pub data: [u8; super::ucma::EVENT_LEN],
    }
);

#[cfg(test)]
impl Layout for Empty {
    const FIELDS: &'static [(&'static str, &'static str, usize)] = &[];
}

#[cfg(test)]
impl Gen for Empty {
    fn gen(_src: &mut GenSrc<'_>) -> Self {
        Empty
    }
}

#[cfg(test)]
impl Gen for Option<SrqHandle> {
    fn gen(src: &mut GenSrc<'_>) -> Self {
        if bool::gen(src) {
            Some(SrqHandle::gen(src))
        } else {
            None
        }
    }
}

#[cfg(test)]
impl Gen for Udata {
    fn gen(src: &mut GenSrc<'_>) -> Self {
        let n = src.below(MAX_UDATA as u64 + 1) as usize;
        let mut b = [0u8; MAX_UDATA];
        for x in b.iter_mut().take(n) {
            *x = src.byte();
        }
        let out_len = src.below(MAX_UDATA as u64 + 1) as usize;
        Udata::new(&b[..n]).unwrap().with_out_len(out_len).unwrap()
    }
}

#[cfg(test)]
impl<T: Gen + Copy + Default, const N: usize> Gen for List<T, N> {
    fn gen(src: &mut GenSrc<'_>) -> Self {
        let n = src.below(N as u64 + 1) as usize;
        let mut b = [T::default(); N];
        for x in b.iter_mut().take(n) {
            *x = T::gen(src);
        }
        List::new(&b[..n]).unwrap()
    }
}


#[cfg(test)]
impl<T: PageEntry + GenPage> Gen for PageList<T> {
    fn gen(src: &mut GenSrc<'_>) -> Self {
        let n = 1 + src.below(MAX_FAULT_PAGES as u64) as usize;
        let mut p = [T::default(); MAX_FAULT_PAGES];
        for x in p.iter_mut().take(n) {
            *x = T::gen_page(src);
        }
        PageList::new(&p[..n]).unwrap()
    }
}

/// A valid page entry, for generated messages.
#[cfg(test)]
pub trait GenPage {
    /// A random entry whose address is a valid user page.
    fn gen_page(src: &mut GenSrc<'_>) -> Self;
}

#[cfg(test)]
fn gen_page_addr(src: &mut GenSrc<'_>) -> u64 {
    (1 + src.below(USER_ADDR_END / PAGE_SIZE - 1)) * PAGE_SIZE | src.below(2)
}

#[cfg(test)]
impl GenPage for u64 {
    fn gen_page(src: &mut GenSrc<'_>) -> Self {
        gen_page_addr(src)
    }
}

#[cfg(test)]
impl GenPage for PageGrant {
    fn gen_page(src: &mut GenSrc<'_>) -> Self {
        PageGrant {
            addr: gen_page_addr(src),
            gref: GrantRef::gen(src),
        }
    }
}

#[cfg(test)]
impl Gen for PageGrant {
    fn gen(src: &mut GenSrc<'_>) -> Self {
        Self::gen_page(src)
    }
}

#[cfg(test)]
impl Gen for AhAttr {
    fn gen(src: &mut GenSrc<'_>) -> Self {
        AhAttr {
            dgid: Gen::gen(src),
            sgid: Gen::gen(src),
            flow_label: Gen::gen(src),
            dlid: Gen::gen(src),
            sgid_type: Gen::gen(src),
            hop_limit: Gen::gen(src),
            traffic_class: Gen::gen(src),
            sl: Gen::gen(src),
            src_path_bits: Gen::gen(src),
            static_rate: Gen::gen(src),
            is_global: Gen::gen(src),
            port_num: Gen::gen(src),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn writable_access_is_ib_access_writable() {
        // IB_ACCESS_{LOCAL_WRITE, REMOTE_WRITE, REMOTE_READ, REMOTE_ATOMIC,
        // MW_BIND, ZERO_BASED, ON_DEMAND} (include/rdma/ib_verbs.h).
        let (lw, rw, rr, ra, mw, zb, od) = (1, 2, 4, 8, 16, 32, 64);
        for a in [lw, rw, ra, mw, lw | rr, rw | rr | zb] {
            assert!(access_writable(a), "{a:#x}");
        }
        for a in [0, rr, zb, od, rr | zb | od] {
            assert!(!access_writable(a), "{a:#x}");
        }
    }

    #[test]
    fn page_span_rules() {
        assert_eq!(page_span(0, 0), None);
        assert_eq!(page_span(0, 1), Some(1));
        assert_eq!(page_span(0, 4096), Some(1));
        assert_eq!(page_span(0, 4097), Some(2));
        assert_eq!(page_span(4095, 2), Some(2));
        assert_eq!(page_span(u64::MAX, 1), Some(1));
        assert_eq!(page_span(u64::MAX, 2), None);
        assert_eq!(page_span(0, u64::MAX), None); // > u32 pages
        assert_eq!(indirect_pages_for(0), 0);
        assert_eq!(indirect_pages_for(1), 1);
        assert_eq!(indirect_pages_for(1024), 1);
        assert_eq!(indirect_pages_for(1025), 2);
        assert_eq!(indirect_pages_for(MAX_MR_PAGES_ONE_LEVEL), MAX_INDIRECT as u32);
        assert_eq!(mr_request_refs(MAX_MR_PAGES_ONE_LEVEL), MAX_INDIRECT as u32);
        // One more page: one directory page listing 33 indirect pages.
        assert_eq!(mr_request_refs(MAX_MR_PAGES_ONE_LEVEL + 1), 1);
        assert_eq!(mr_request_refs(1 << 16), 1);
        assert_eq!(mr_request_refs(MAX_MR_PAGES), 4);
        assert!(mr_request_refs(MAX_MR_PAGES) as usize <= MAX_INDIRECT);
    }

    fn reg(start: u64, length: u64, nr_pages: u32, nind: usize) -> RegMrReq {
        RegMrReq {
            start,
            length,
            iova: start,
            ctx: CtxHandle(1),
            pd: PdHandle(2),
            access: 7,
            nr_pages,
            indirect: RefList::new(&[GrantRef(9); MAX_INDIRECT][..nind]).unwrap(),
        }
    }

    #[test]
    fn regmr_checks() {
        assert_eq!(reg(0x1000, 0x1000, 1, 1).check(), Ok(()));
        assert_eq!(reg(0x1800, 0x1000, 2, 1).check(), Ok(()));
        assert_eq!(
            reg(0x1800, 0x1000, 1, 1).check(),
            Err(DecodeError::Inconsistent)
        );
        assert_eq!(reg(0, 0, 0, 0).check(), Err(DecodeError::Inconsistent));
        assert_eq!(
            reg(0, 4096 * 1025, 1025, 1).check(),
            Err(DecodeError::Inconsistent)
        );
        assert_eq!(reg(0, 4096 * 1025, 1025, 2).check(), Ok(()));
        let one = u64::from(MAX_MR_PAGES_ONE_LEVEL) * PAGE_SIZE;
        assert_eq!(reg(0, one, MAX_MR_PAGES_ONE_LEVEL, MAX_INDIRECT).check(), Ok(()));
        // Past one level: directory pages, not indirect pages.
        assert_eq!(
            reg(0, one + 1, MAX_MR_PAGES_ONE_LEVEL + 1, MAX_INDIRECT).check(),
            Err(DecodeError::Inconsistent)
        );
        assert_eq!(reg(0, one + 1, MAX_MR_PAGES_ONE_LEVEL + 1, 1).check(), Ok(()));
        let max = u64::from(MAX_MR_PAGES) * PAGE_SIZE;
        assert_eq!(reg(0, max, MAX_MR_PAGES, 4).check(), Ok(()));
        assert!(matches!(
            reg(0, max + 1, MAX_MR_PAGES + 1, 5).check(),
            Err(DecodeError::TooBig(_))
        ));
        let mut r = reg(0, 4096, 1, 1);
        r.iova = u64::MAX - 4095;
        assert_eq!(r.check(), Ok(()));
        r.iova = u64::MAX;
        assert_eq!(r.check(), Err(DecodeError::Inconsistent));
        r.iova = 0;
        r.length = 2;
        r.nr_pages = 2;
        assert_eq!(r.check(), Err(DecodeError::Inconsistent));
    }

    #[test]
    fn reg_mr_cached_checks() {
        let base = RegMrCachedReq {
            start: 0x1800,
            length: 0x1000,
            iova: 0x1800,
            ctx: CtxHandle(1),
            pd: PdHandle(2),
            cache: CacheHandle(3),
            access: 1,
        };
        assert_eq!(base.check(), Ok(()));
        assert_eq!(
            RegMrCachedReq { length: 0, ..base }.check(),
            Err(DecodeError::Inconsistent)
        );
        assert_eq!(
            RegMrCachedReq { start: u64::MAX, length: 2, ..base }.check(),
            Err(DecodeError::Inconsistent)
        );
        assert_eq!(
            RegMrCachedReq { iova: u64::MAX, ..base }.check(),
            Err(DecodeError::Inconsistent)
        );
        let max = u64::from(MAX_MR_PAGES) * PAGE_SIZE;
        assert_eq!(RegMrCachedReq { start: 0, length: max, ..base }.check(), Ok(()));
        assert!(matches!(
            RegMrCachedReq { start: 0, length: max + 1, ..base }.check(),
            Err(DecodeError::TooBig(_))
        ));
    }

    #[test]
    fn rereg_checks() {
        let base = ReregMrReq {
            start: 0,
            length: 0,
            iova: 0,
            ctx: CtxHandle(1),
            mr: MrHandle(2),
            flags: REREG_ACCESS,
            pd: PdHandle(0),
            access: 1,
            nr_pages: 0,
            indirect: RefList::default(),
        };
        assert_eq!(base.check(), Ok(()));
        assert_eq!(
            ReregMrReq { flags: 0, ..base }.check(),
            Err(DecodeError::Inconsistent)
        );
        assert_eq!(
            ReregMrReq { flags: 8, ..base }.check(),
            Err(DecodeError::Inconsistent)
        );
        assert_eq!(
            ReregMrReq {
                nr_pages: 1,
                ..base
            }
            .check(),
            Err(DecodeError::Inconsistent)
        );
        assert_eq!(
            ReregMrReq {
                flags: REREG_TRANS,
                ..base
            }
            .check(),
            Err(DecodeError::Inconsistent)
        );
        let t = ReregMrReq {
            flags: REREG_TRANS | REREG_PD,
            start: 10,
            length: 5000,
            nr_pages: 2,
            indirect: RefList::new(&[GrantRef(3)]).unwrap(),
            ..base
        };
        assert_eq!(t.check(), Ok(()));
    }

    #[test]
    fn queue_maps_fill_regions_in_order_and_check() {
        let refs: std::vec::Vec<GrantRef> = (1..=50).map(GrantRef).collect();
        // The first region takes what fits; the second gets the rest.
        let q = QueueMaps::build([(0x5000, 30, &refs[..30]), (0x1000, 20, &refs[30..])].into_iter());
        assert_eq!(q.check(), Ok(()));
        let got: std::vec::Vec<_> = q.iter().map(|(r, f)| (r.offset, r.total_pages, f.len(), f[0])).collect();
        assert_eq!(got, [(0x5000, 30, 30, GrantRef(1)), (0x1000, 20, 10, GrantRef(31))]);
        // No room left: the second region is not listed.
        let q = QueueMaps::build([(0, 64, &refs[..]), (0x1000, 1, &refs[..1])].into_iter());
        assert_eq!(q.regions.len(), 1);
        assert_eq!(q.refs.len(), MAX_QUEUE_REFS);
        assert_eq!(q.check(), Ok(()));
        assert_eq!(QueueMaps::default().check(), Ok(()));
        // Inconsistent maps are refused.
        let one = |offset, total_pages, nr_refs, n: usize| QueueMaps {
            regions: List::new(&[QueueRegion { offset, total_pages, nr_refs }]).unwrap(),
            refs: RefList::new(&refs[..n]).unwrap(),
        };
        assert_eq!(one(4096, 2, 2, 2).check(), Ok(()));
        assert!(one(4095, 2, 2, 2).check().is_err(), "unaligned offset");
        assert!(one(4096, 1, 2, 2).check().is_err(), "more refs than pages");
        assert!(one(4096, 2, 0, 0).check().is_err(), "a region without refs");
        assert!(one(4096, 2, 1, 2).check().is_err(), "refs of no region");
        let twice = QueueMaps {
            regions: List::new(&[QueueRegion { offset: 0, total_pages: 1, nr_refs: 1 }; 2]).unwrap(),
            refs: RefList::new(&refs[..2]).unwrap(),
        };
        assert!(twice.check().is_err(), "one offset twice");
    }

    #[test]
    fn mmap_checks() {
        let m = MmapReq {
            offset: 4096,
            length: 8192,
            ctx: CtxHandle(1),
            first_page: 1,
        };
        assert_eq!(m.check(), Ok(()));
        assert!(MmapReq { first_page: 2, ..m }.check().is_err());
        assert!(MmapReq { offset: 1, ..m }.check().is_err());
        assert!(MmapReq { length: 0, ..m }.check().is_err());
        assert!(MmapReq { length: 100, ..m }.check().is_err());
        assert!(MmapReq { offset: !4095, ..m }.check().is_err());
        let r = MmapRsp {
            total_pages: 1,
            refs: RefList::new(&[GrantRef(1), GrantRef(2)]).unwrap(),
            io: FrameList::default(),
            io_cache: IoCache::Uncached,
        };
        assert_eq!(r.check(), Err(DecodeError::Inconsistent));
        let io = FrameList::new(&[0xfe000]).unwrap();
        let r = MmapRsp {
            total_pages: 1,
            refs: RefList::default(),
            io,
            io_cache: IoCache::WriteCombining,
        };
        assert_eq!(r.check(), Ok(()));
        // A region is RAM or MMIO, never both.
        let both = MmapRsp {
            total_pages: 2,
            refs: RefList::new(&[GrantRef(1)]).unwrap(),
            ..r
        };
        assert_eq!(both.check(), Err(DecodeError::Inconsistent));
        let m = MapIoReq {
            offset: 1 << 44,
            ctx: CtxHandle(1),
            first_page: 0,
            gfns: FrameList::new(&[0x80000]).unwrap(),
        };
        assert_eq!(m.check(), Ok(()));
        assert!(MapIoReq { gfns: FrameList::default(), ..m }.check().is_err());
        assert!(MapIoReq { offset: 1, ..m }.check().is_err());
    }

    #[test]
    fn frame_list() {
        assert!(FrameList::<2>::new(&[1, 2, 3]).is_none());
        let f = FrameList::<4>::new(&[1 << 40]).unwrap();
        assert_eq!(f.as_slice(), &[1 << 40]);
        let mut buf = [0u8; FrameList::<4>::SIZE];
        f.put(&mut Writer::new(&mut buf));
        assert_eq!(FrameList::<4>::get(&mut Reader::new(&buf, 0)), Ok(f));
        // count 1, reserved, then the frame; entries past count must be zero.
        let mut good = [0u8; FrameList::<2>::SIZE];
        good[0] = 1;
        good[4..12].copy_from_slice(&(1u64 << 40).to_le_bytes());
        let g = FrameList::<2>::get(&mut Reader::new(&good, 0)).unwrap();
        assert_eq!(g.as_slice(), &[1u64 << 40][..]);
        let mut bad = good;
        bad[12] = 1;
        assert_eq!(
            FrameList::<2>::get(&mut Reader::new(&bad, 0)),
            Err(DecodeError::ReservedNonZero(12))
        );
        let mut bad = good;
        bad[0] = 3;
        assert_eq!(
            FrameList::<2>::get(&mut Reader::new(&bad, 0)),
            Err(DecodeError::TooBig(0))
        );
        let mut bad = good;
        bad[2] = 1;
        assert!(FrameList::<2>::get(&mut Reader::new(&bad, 0)).is_err());
    }

    #[test]
    fn udata_and_reflist() {
        assert!(Udata::new(&[0u8; MAX_UDATA + 1]).is_none());
        let u = Udata::new(b"abc").unwrap();
        assert_eq!(u.as_slice(), b"abc");
        assert_eq!(u.len(), 3);
        assert!(!u.is_empty());
        assert!(Udata::default().is_empty());
        assert!(RefList::<2>::new(&[GrantRef(1); 3]).is_none());
        let l = RefList::<4>::new(&[GrantRef(5)]).unwrap();
        assert_eq!(l.as_slice(), &[GrantRef(5)]);
        assert_eq!(RefList::<4>::CAPACITY, 4);
        // nonzero udata tail / too-long len rejected
        let mut buf = [0u8; Udata::SIZE];
        buf[0] = 1;
        buf[10] = 1;
        assert_eq!(
            Udata::get(&mut Reader::new(&buf, 0)),
            Err(DecodeError::ReservedNonZero(10))
        );
        let mut buf = [0u8; Udata::SIZE];
        buf[0] = 0x01;
        buf[1] = 0x01; // 257
        assert_eq!(
            Udata::get(&mut Reader::new(&buf, 0)),
            Err(DecodeError::TooBig(0))
        );
        // out_len: what the provider asked for, at most MAX_UDATA.
        let mut buf = [0u8; Udata::SIZE];
        buf[2] = 1;
        buf[3] = 1; // 257
        assert_eq!(
            Udata::get(&mut Reader::new(&buf, 0)),
            Err(DecodeError::TooBig(2))
        );
        buf[3] = 0;
        buf[2] = 24;
        let u = Udata::get(&mut Reader::new(&buf, 0)).unwrap();
        assert_eq!((u.len(), u.out_len()), (0, 24));
        assert_eq!(Udata::EMPTY.with_out_len(MAX_UDATA).unwrap().out_len(), MAX_UDATA);
        assert!(Udata::EMPTY.with_out_len(MAX_UDATA + 1).is_none());
        let mut again = [0xffu8; Udata::SIZE];
        u.put(&mut Writer::new(&mut again));
        assert_eq!(again, buf);
        let mut buf = [0u8; 12];
        buf[0] = 3;
        assert_eq!(
            RefList::<2>::get(&mut Reader::new(&buf, 0)),
            Err(DecodeError::TooBig(0))
        );
        buf[0] = 1;
        buf[8] = 1;
        assert_eq!(
            RefList::<2>::get(&mut Reader::new(&buf, 0)),
            Err(DecodeError::ReservedNonZero(8))
        );
    }

    #[test]
    fn fault_pages_and_grants() {
        assert!(FaultPages::new(&[]).is_none());
        assert!(FaultPages::new(&[0x1000; MAX_FAULT_PAGES + 1]).is_none());
        assert!(FaultPages::new(&[0x1800]).is_none(), "not page aligned");
        assert!(FaultPages::new(&[0]).is_none(), "page 0");
        assert!(FaultPages::new(&[USER_ADDR_END]).is_none(), "kernel half");
        let f = FaultPages::new(&[0x1000 | PAGE_WRITE, 0x7fff_ffff_e000]).unwrap();
        assert_eq!(f.as_slice(), &[0x1001, 0x7fff_ffff_e000]);
        let mut buf = [0u8; FaultPages::SIZE];
        f.put(&mut Writer::new(&mut buf));
        assert_eq!(FaultPages::get(&mut Reader::new(&buf, 0)), Ok(f));
        // A misaligned page, a non-zero tail entry, a zero count: refused.
        let mut bad = buf;
        bad[5] = 0x08;
        assert_eq!(
            FaultPages::get(&mut Reader::new(&bad, 0)),
            Err(DecodeError::InvalidValue(4))
        );
        let mut bad = buf;
        bad[4 + 8 * 7] = 1;
        assert_eq!(
            FaultPages::get(&mut Reader::new(&bad, 0)),
            Err(DecodeError::ReservedNonZero(4 + 8 * 7))
        );
        let mut bad = buf;
        bad[0] = 0;
        assert_eq!(
            FaultPages::get(&mut Reader::new(&bad, 0)),
            Err(DecodeError::Inconsistent)
        );
        let g = PageGrants::new(&[PageGrant {
            addr: 0x2000,
            gref: GrantRef(7),
        }])
        .unwrap();
        let mut buf = [0u8; PageGrants::SIZE];
        g.put(&mut Writer::new(&mut buf));
        assert_eq!(PageGrants::get(&mut Reader::new(&buf, 0)), Ok(g));
        let mut bad = buf;
        bad[16] = 1; // the reserved word after the first grant ref
        assert_eq!(
            PageGrants::get(&mut Reader::new(&bad, 0)),
            Err(DecodeError::ReservedNonZero(16))
        );
        assert!(PageGrants::new(&[PageGrant::default()]).is_none());
    }

    #[test]
    fn enums_and_options_strict() {
        assert_eq!(QpType::from_raw(2), Some(QpType::Rc));
        assert_eq!(QpType::from_raw(5), None);
        assert_eq!(QpState::from_raw(7), None);
        assert_eq!(AsyncObj::from_raw(0), None);
        assert_eq!(QpType::Ud.raw(), 4);
        let b = [2u8, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            <Option<SrqHandle>>::get(&mut Reader::new(&b, 0)),
            Err(DecodeError::InvalidValue(0))
        );
        let b = [0u8, 0, 0, 0, 1, 0, 0, 0];
        assert_eq!(
            <Option<SrqHandle>>::get(&mut Reader::new(&b, 0)),
            Err(DecodeError::ReservedNonZero(4))
        );
        let b = [1u8, 0, 0, 0, 1, 0, 0, 0];
        assert_eq!(
            <Option<SrqHandle>>::get(&mut Reader::new(&b, 0)),
            Ok(Some(SrqHandle(1)))
        );
    }

    #[test]
    fn mw_type_strict() {
        assert_eq!(MwType::from_raw(1), Some(MwType::Type1));
        assert_eq!(MwType::from_raw(2), Some(MwType::Type2));
        for bad in [0u8, 3, 0xff] {
            assert_eq!(MwType::from_raw(bad), None);
        }
        // AllocMw: ctx, pd, then the type byte.
        let req = AllocMwReq {
            ctx: CtxHandle(1),
            pd: PdHandle(2),
            mw_type: MwType::Type2,
            udata: Udata::EMPTY,
        };
        let mut buf = [0u8; AllocMwReq::SIZE];
        req.put(&mut Writer::new(&mut buf));
        assert_eq!(buf[8], 2);
        assert_eq!(AllocMwReq::get(&mut Reader::new(&buf, 0)), Ok(req));
        buf[8] = 3;
        assert_eq!(
            AllocMwReq::get(&mut Reader::new(&buf, 0)),
            Err(DecodeError::InvalidValue(8))
        );
        assert_eq!(AllocMwReq::SIZE, 4 + 4 + 1 + Udata::SIZE);
        assert_eq!(AllocMwRsp::SIZE, 4 + 4 + Udata::SIZE);
        assert_eq!(DeallocMwReq::SIZE, 8);
    }

    #[test]
    fn sizes() {
        assert_eq!(AhAttr::SIZE, 48);
        assert_eq!(QpCaps::SIZE, 20);
        assert_eq!(Udata::SIZE, 260);
        assert!(core::mem::size_of::<DeviceAttr>() <= 600);
        assert!(core::mem::size_of::<CreateQpReq>() <= 600);
    }
}
