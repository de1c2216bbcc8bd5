// SPDX-License-Identifier: GPL-2.0
//! Little-endian, bounds-checked encoding primitives and decode errors.
//!
//! Nothing here can panic on any input: every read goes through
//! `slice::get` with checked offset arithmetic.

/// Linux errno values used on the wire (positive; negate for a status).
pub mod errno {
    /// I/O error.
    pub const EIO: i32 = 5;
    /// Argument list too long (a count exceeds its bound).
    pub const E2BIG: i32 = 7;
    /// Out of memory.
    pub const ENOMEM: i32 = 12;
    /// Bad address (a verb touched guest memory not mapped for it).
    pub const EFAULT: i32 = 14;
    /// Invalid argument.
    pub const EINVAL: i32 = 22;
    /// No space left (ring/resource full).
    pub const ENOSPC: i32 = 28;
    /// Protocol error.
    pub const EPROTO: i32 = 71;
    /// Protocol not supported (no common version).
    pub const EPROTONOSUPPORT: i32 = 93;
    /// Operation not permitted.
    pub const EPERM: i32 = 1;
    /// Function not implemented.
    pub const ENOSYS: i32 = 38;
    /// Address family not supported.
    pub const EAFNOSUPPORT: i32 = 97;
    /// Cannot assign requested address.
    pub const EADDRNOTAVAIL: i32 = 99;
    /// Operation not supported.
    pub const EOPNOTSUPP: i32 = 95;
    /// Largest errno magnitude (`MAX_ERRNO`).
    pub const MAX_ERRNO: i32 = 4095;
}

/// Why a slot failed to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Unknown operation code.
    UnknownOp(u16),
    /// The message is shorter than its op requires, or `len` disagrees
    /// with the op's body size.
    BadLength,
    /// A reserved or padding byte at this slot offset is not zero.
    ReservedNonZero(u16),
    /// Unknown or illegal flag bits.
    BadFlags,
    /// An enum/bool field at this slot offset holds an unknown value, or
    /// fields are mutually inconsistent.
    InvalidValue(u16),
    /// A count at this slot offset exceeds its bound.
    TooBig(u16),
    /// The response's op differs from the expected op.
    OpMismatch,
    /// A response status is positive or below `-MAX_ERRNO`.
    BadStatus,
    /// Fields are individually valid but mutually inconsistent (e.g. an MR
    /// page count that disagrees with its address range).
    Inconsistent,
}

impl DecodeError {
    /// Negative errno to report on the ring for a request that fails to
    /// decode.
    pub fn to_errno(self) -> i32 {
        match self {
            DecodeError::UnknownOp(_) => -errno::EOPNOTSUPP,
            DecodeError::BadLength | DecodeError::OpMismatch | DecodeError::BadStatus => {
                -errno::EPROTO
            }
            DecodeError::ReservedNonZero(_)
            | DecodeError::BadFlags
            | DecodeError::InvalidValue(_)
            | DecodeError::Inconsistent => -errno::EINVAL,
            DecodeError::TooBig(_) => -errno::E2BIG,
        }
    }
}

/// Cursor over an input buffer. `base` is the slot offset of `buf[0]`, used
/// only to report error offsets.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// New reader; `base` = slot offset of `buf[0]` (for error reports).
    pub fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    /// Bytes consumed so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Slot offset of the next byte (saturating, for error reports).
    pub fn at(&self) -> u16 {
        let o = self.base.saturating_add(self.pos);
        if o > u16::MAX as usize {
            u16::MAX
        } else {
            o as u16
        }
    }

    /// Takes `N` bytes.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let end = self.pos.checked_add(N).ok_or(DecodeError::BadLength)?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::BadLength)?;
        let a = <[u8; N]>::try_from(s).map_err(|_| DecodeError::BadLength)?;
        self.pos = end;
        Ok(a)
    }

    /// Reads a `u8`.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    /// Reads a little-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    /// Reads a little-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    /// Reads a little-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    /// Reads a little-endian `i32`.
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    /// Reads a strict boolean byte (0 or 1).
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        let at = self.at();
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::InvalidValue(at)),
        }
    }
    /// Consumes `n` reserved bytes, which must be zero.
    pub fn reserved(&mut self, n: usize) -> Result<(), DecodeError> {
        for _ in 0..n {
            let at = self.at();
            if self.u8()? != 0 {
                return Err(DecodeError::ReservedNonZero(at));
            }
        }
        Ok(())
    }
}

/// Cursor over an output buffer. Writes past the end are dropped and
/// recorded (never a panic); encoders size every body statically so this
/// cannot happen (checked by tests).
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
    overflow: bool,
}

impl<'a> Writer<'a> {
    /// New writer at offset 0 of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            overflow: false,
        }
    }
    /// Bytes written so far.
    pub fn pos(&self) -> usize {
        self.pos
    }
    /// Whether a write was dropped for lack of space.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }
    /// Writes raw bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        let dst = self
            .pos
            .checked_add(b.len())
            .and_then(|end| self.buf.get_mut(self.pos..end));
        match dst {
            Some(d) => {
                d.copy_from_slice(b);
                self.pos += b.len();
            }
            None => self.overflow = true,
        }
    }
    /// Writes a `u8`.
    pub fn u8(&mut self, v: u8) {
        self.bytes(&[v])
    }
    /// Writes a little-endian `u16`.
    pub fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes())
    }
    /// Writes a little-endian `u32`.
    pub fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes())
    }
    /// Writes a little-endian `u64`.
    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes())
    }
    /// Writes a little-endian `i32`.
    pub fn i32(&mut self, v: i32) {
        self.bytes(&v.to_le_bytes())
    }
    /// Writes a boolean byte.
    pub fn bool(&mut self, v: bool) {
        self.u8(u8::from(v))
    }
    /// Writes `n` zero bytes.
    pub fn zeros(&mut self, n: usize) {
        for _ in 0..n {
            self.u8(0);
        }
    }
}

/// A value with a fixed little-endian wire encoding.
pub trait Wire: Sized {
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Encodes `self` (exactly `SIZE` bytes, padding zeroed).
    fn put(&self, w: &mut Writer<'_>);
    /// Decodes (validating reserved bytes and enum values).
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

macro_rules! prim {
    ($t:ty, $n:expr, $m:ident) => {
        impl Wire for $t {
            const SIZE: usize = $n;
            fn put(&self, w: &mut Writer<'_>) {
                w.$m(*self)
            }
            fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                r.$m()
            }
        }
    };
}
prim!(u8, 1, u8);
prim!(u16, 2, u16);
prim!(u32, 4, u32);
prim!(u64, 8, u64);
prim!(i32, 4, i32);
prim!(bool, 1, bool);

impl<const N: usize> Wire for [u8; N] {
    const SIZE: usize = N;
    fn put(&self, w: &mut Writer<'_>) {
        w.bytes(self)
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.array()
    }
}

/// Test-only structured value generator driven by an entropy byte string
/// (bytes past the end read as zero, so proptest shrinks toward zero).
#[cfg(test)]
pub struct GenSrc<'a> {
    bytes: &'a [u8],
    pos: usize,
}

#[cfg(test)]
impl<'a> GenSrc<'a> {
    /// New source.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }
    /// Next byte (0 once exhausted).
    pub fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    /// Next `n`-byte little-endian value.
    pub fn uint(&mut self, n: usize) -> u64 {
        let mut v = 0u64;
        for i in 0..n {
            v |= u64::from(self.byte()) << (8 * i);
        }
        v
    }
    /// Value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.uint(8) % n
    }
}

/// Test-only: field layout (name, type, size) for generating the protocol
/// document.
#[cfg(test)]
pub trait Layout {
    /// Fields in wire order.
    const FIELDS: &'static [(&'static str, &'static str, usize)];
}

/// Test-only: produce a valid value of `Self` from entropy.
#[cfg(test)]
pub trait Gen: Sized {
    /// Generates a value.
    fn gen(src: &mut GenSrc<'_>) -> Self;
}

#[cfg(test)]
macro_rules! gen_prim {
    ($($t:ty),*) => { $( impl Gen for $t {
        fn gen(src: &mut GenSrc<'_>) -> Self { src.uint(core::mem::size_of::<$t>()) as $t }
    } )* };
}
#[cfg(test)]
gen_prim!(u8, u16, u32, u64, i32);

#[cfg(test)]
impl Gen for bool {
    fn gen(src: &mut GenSrc<'_>) -> Self {
        src.byte() & 1 == 1
    }
}

#[cfg(test)]
impl<const N: usize> Gen for [u8; N] {
    fn gen(src: &mut GenSrc<'_>) -> Self {
        let mut a = [0u8; N];
        for b in a.iter_mut() {
            *b = src.byte();
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_bounds() {
        let b = [1u8, 0, 0, 0, 2];
        let mut r = Reader::new(&b, 10);
        assert_eq!(r.u32(), Ok(1));
        assert_eq!(r.u32(), Err(DecodeError::BadLength));
        assert_eq!(r.at(), 14);
        assert_eq!(r.bool(), Err(DecodeError::InvalidValue(14)));
        let z = [0u8, 3];
        let mut r = Reader::new(&z, 0);
        assert_eq!(r.reserved(2), Err(DecodeError::ReservedNonZero(1)));
        let mut r = Reader::new(&z, usize::MAX);
        assert_eq!(r.at(), u16::MAX);
        assert_eq!(r.array::<3>(), Err(DecodeError::BadLength));
    }

    #[test]
    fn writer_overflow_is_recorded() {
        let mut b = [0u8; 3];
        let mut w = Writer::new(&mut b);
        w.u16(0x0201);
        assert!(!w.overflowed());
        w.u16(5);
        assert!(w.overflowed());
        assert_eq!(w.pos(), 2);
        assert_eq!(b, [1, 2, 0]);
    }

    #[test]
    fn errno_mapping() {
        assert_eq!(DecodeError::UnknownOp(9).to_errno(), -95);
        assert_eq!(DecodeError::TooBig(0).to_errno(), -7);
        assert_eq!(DecodeError::BadLength.to_errno(), -71);
        assert_eq!(DecodeError::ReservedNonZero(0).to_errno(), -22);
        assert_eq!(DecodeError::InvalidValue(0).to_errno(), -22);
        assert_eq!(DecodeError::BadFlags.to_errno(), -22);
        assert_eq!(DecodeError::OpMismatch.to_errno(), -71);
        assert_eq!(DecodeError::BadStatus.to_errno(), -71);
        assert_eq!(DecodeError::Inconsistent.to_errno(), -22);
    }
}
