// SPDX-License-Identifier: GPL-2.0
//! Xen `io/ring.h` shared ring, with 512-byte slots.
//!
//! Layout of a shared area (all little-endian):
//!
//! | offset | field       |
//! |--------|-------------|
//! | 0      | `req_prod`  |
//! | 4      | `req_event` |
//! | 8      | `rsp_prod`  |
//! | 12     | `rsp_event` |
//! | 16..64 | padding (zero, never read) |
//! | 64     | slot array: `nr_slots` x [`SLOT_SIZE`] bytes |
//!
//! `nr_slots` is the largest power of two `<= (len - 64) / 512`
//! (`__RING_SIZE`). Requests and responses share the slot array, exactly as
//! the `union` in `DEFINE_RING_TYPES`. Indices are free-running `u32`s.
//!
//! Roles: the *front* ([`FrontRing`]) produces requests and consumes
//! responses; the *back* ([`BackRing`]) consumes requests and produces
//! responses. The event ring (back-to-front unsolicited events) is a second,
//! separately granted area with the same format in which dom0 uses
//! [`FrontRing`] (it produces events as "requests") and the guest uses
//! [`BackRing`] (consumes events, acknowledges each with
//! [`BackRing::push_ack`] so the producer can reuse the slot).
//!
//! Every barrier below names the barrier on the peer it pairs with.

use super::shmem::SharedMem;

/// Size of one ring slot in bytes (one request, response or event).
pub const SLOT_SIZE: usize = 512;
/// Size of the shared ring header (`struct sring` indices + padding).
pub const RING_HEADER_SIZE: usize = 64;
/// Page size used for ring areas.
pub const RING_PAGE_SIZE: usize = 4096;
/// Largest supported ring order (area = `2^order` pages).
pub const MAX_RING_ORDER: u32 = 4;
/// Upper bound on slots (keeps all index arithmetic far from 2^31).
pub const MAX_SLOTS: u32 = 1 << 20;

/// One slot's worth of bytes.
pub type Slot = [u8; SLOT_SIZE];

const OFF_REQ_PROD: usize = 0;
const OFF_REQ_EVENT: usize = 4;
const OFF_RSP_PROD: usize = 8;
const OFF_RSP_EVENT: usize = 12;

/// Bytes of a ring area of the given order (`order <= MAX_RING_ORDER`).
pub const fn ring_area_bytes(order: u32) -> usize {
    RING_PAGE_SIZE << order
}

/// Number of slots for an area of `len` bytes (`__RING_SIZE`): the largest
/// power of two not above `(len - 64) / 512`, capped at [`MAX_SLOTS`];
/// 0 if not even one slot fits.
pub const fn slots_for_len(len: usize) -> u32 {
    if len < RING_HEADER_SIZE + SLOT_SIZE {
        return 0;
    }
    let n = (len - RING_HEADER_SIZE) / SLOT_SIZE;
    let n = if n > MAX_SLOTS as usize {
        MAX_SLOTS as usize
    } else {
        n
    };
    // Largest power of two <= n (n >= 1 here).
    let p = 1usize << (usize::BITS - 1 - n.leading_zeros());
    p as u32
}

/// Ring is full: no free request slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingFull;

/// Ring errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// The shared area is too small for one slot.
    TooSmall,
    /// The peer published an index that violates the protocol
    /// (`RING_REQUEST_PROD_OVERFLOW` or its response-side analogue).
    /// The connection should be torn down.
    Overflow,
    /// Local misuse: a response was pushed with no consumed request
    /// outstanding.
    NoRequest,
}

/// Computes the notification decision of `RING_PUSH_*_AND_CHECK_NOTIFY`.
#[inline]
fn need_notify(new: u32, old: u32, event: u32) -> bool {
    new.wrapping_sub(event) < new.wrapping_sub(old)
}

#[inline]
fn slot_off(idx: u32, nr: u32) -> usize {
    let i = (idx & (nr - 1)) as usize;
    RING_HEADER_SIZE + i * SLOT_SIZE
}

/// Whether the request producer index of the ring in `mem` differs from
/// `req_cons`: a hint for a polling consumer that does not hold its
/// `BackRing` at the moment (`BackRing::take_request` validates the index).
pub fn requests_beyond<M: SharedMem>(mem: &M, req_cons: u32) -> bool {
    mem.read_u32(OFF_REQ_PROD) != req_cons
}

/// `SHARED_RING_INIT` with a chosen starting index: `req_prod = rsp_prod =
/// start`, `req_event = rsp_event = start + 1`, padding zeroed. Performed by
/// whichever side allocates the area (the guest, for both rings).
pub fn init_shared<M: SharedMem>(mem: &M, start: u32) -> Result<u32, RingError> {
    let nr = slots_for_len(mem.len());
    if nr == 0 {
        return Err(RingError::TooSmall);
    }
    mem.write_u32(OFF_REQ_PROD, start);
    mem.write_u32(OFF_REQ_EVENT, start.wrapping_add(1));
    mem.write_u32(OFF_RSP_PROD, start);
    mem.write_u32(OFF_RSP_EVENT, start.wrapping_add(1));
    mem.write_bytes(16, &[0u8; RING_HEADER_SIZE - 16]);
    // ORDERING: wmb: the initialised header is visible before the caller
    // publishes the area (grant refs written to xenstore); pairs with the
    // peer's read of xenstore + the rmb in its first take_*/attach.
    mem.wmb();
    Ok(nr)
}

/// Producer of requests / consumer of responses (`struct *_front_ring`).
#[derive(Debug)]
pub struct FrontRing<M: SharedMem> {
    mem: M,
    nr: u32,
    req_prod_pvt: u32,
    /// Last value of `req_prod` we published (local copy; never re-read
    /// from shared memory, which the peer could corrupt).
    req_prod_pub: u32,
    rsp_cons: u32,
}

impl<M: SharedMem> FrontRing<M> {
    /// `SHARED_RING_INIT` + `FRONT_RING_INIT`: initialises the shared header
    /// (indices 0, events 1) and returns the front end.
    pub fn init(mem: M) -> Result<Self, RingError> {
        Self::init_at(mem, 0)
    }

    /// Like [`FrontRing::init`] but starting the free-running indices at
    /// `start` (used to test `u32` wrap-around; the peer's `attach` follows).
    pub fn init_at(mem: M, start: u32) -> Result<Self, RingError> {
        let nr = init_shared(&mem, start)?;
        Ok(Self {
            mem,
            nr,
            req_prod_pvt: start,
            req_prod_pub: start,
            rsp_cons: start,
        })
    }

    /// Attaches the producing end to an area already initialised by the
    /// peer with [`init_shared`] (event ring: dom0 side). Reads `req_prod`
    /// once and starts from it.
    pub fn attach(mem: M) -> Result<Self, RingError> {
        let nr = slots_for_len(mem.len());
        if nr == 0 {
            return Err(RingError::TooSmall);
        }
        let start = mem.read_u32(OFF_REQ_PROD);
        // ORDERING: rmb: nothing read from the area after this point is
        // ordered before the index read; pairs with the wmb in init_shared.
        mem.rmb();
        Ok(Self {
            mem,
            nr,
            req_prod_pvt: start,
            req_prod_pub: start,
            rsp_cons: start,
        })
    }

    /// Number of slots (`RING_SIZE`).
    pub fn nr_slots(&self) -> u32 {
        self.nr
    }

    /// The underlying shared memory.
    pub fn mem(&self) -> &M {
        &self.mem
    }

    /// Private request producer index (`req_prod_pvt`).
    pub fn req_prod_pvt(&self) -> u32 {
        self.req_prod_pvt
    }

    /// Response consumer index (`rsp_cons`).
    pub fn rsp_cons(&self) -> u32 {
        self.rsp_cons
    }

    /// `RING_FREE_REQUESTS`: slots available for new requests.
    pub fn free_slots(&self) -> u32 {
        self.nr
            .wrapping_sub(self.req_prod_pvt.wrapping_sub(self.rsp_cons))
    }

    /// `RING_FULL`.
    pub fn is_full(&self) -> bool {
        self.free_slots() == 0
    }

    /// Copies a request into the next private slot (not yet visible to the
    /// peer until [`FrontRing::push_requests_and_check_notify`]).
    pub fn push_request(&mut self, slot: &Slot) -> Result<(), RingFull> {
        if self.free_slots() == 0 {
            return Err(RingFull);
        }
        let off = slot_off(self.req_prod_pvt, self.nr);
        debug_assert!(off + SLOT_SIZE <= self.mem.len());
        self.mem.write_bytes(off, slot);
        self.req_prod_pvt = self.req_prod_pvt.wrapping_add(1);
        Ok(())
    }

    /// `RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`: publishes private requests;
    /// returns whether the peer must be notified (event channel).
    pub fn push_requests_and_check_notify(&mut self) -> bool {
        let old = self.req_prod_pub;
        let new = self.req_prod_pvt;
        // ORDERING: wmb: request slot contents before req_prod; pairs with
        // the rmb after reading req_prod in BackRing::take_request.
        self.mem.wmb();
        self.mem.write_u32(OFF_REQ_PROD, new);
        self.req_prod_pub = new;
        // ORDERING: mb: req_prod store before the req_event load; pairs with
        // the mb in BackRing::final_check_for_requests (req_event store
        // before its req_prod re-read).
        self.mem.mb();
        let event = self.mem.read_u32(OFF_REQ_EVENT);
        need_notify(new, old, event)
    }

    /// Reads `rsp_prod` once and validates it. Responses can never exceed
    /// outstanding requests: `rsp_prod - rsp_cons <= req_prod_pvt - rsp_cons`
    /// (which implies `<= nr_slots`).
    fn rsp_prod_checked(&self) -> Result<u32, RingError> {
        let rp = self.mem.read_u32(OFF_RSP_PROD);
        // ORDERING: rmb: read rsp_prod before the response slots it covers;
        // pairs with the wmb before the rsp_prod store in
        // BackRing::push_responses_and_check_notify.
        self.mem.rmb();
        let avail = rp.wrapping_sub(self.rsp_cons);
        let outstanding = self.req_prod_pvt.wrapping_sub(self.rsp_cons);
        if avail > outstanding || avail > self.nr {
            return Err(RingError::Overflow);
        }
        Ok(rp)
    }

    /// `RING_HAS_UNCONSUMED_RESPONSES` (0 is returned for a corrupt index;
    /// the next `take_response` reports the overflow).
    pub fn unconsumed_responses(&self) -> u32 {
        match self.rsp_prod_checked() {
            Ok(rp) => rp.wrapping_sub(self.rsp_cons),
            Err(_) => 0,
        }
    }

    /// Copies the next response out of the ring (once) into `out`.
    /// `Ok(None)` if none is available.
    pub fn take_response(&mut self, out: &mut Slot) -> Result<Option<()>, RingError> {
        let rp = self.rsp_prod_checked()?;
        if rp == self.rsp_cons {
            return Ok(None);
        }
        let off = slot_off(self.rsp_cons, self.nr);
        debug_assert!(off + SLOT_SIZE <= self.mem.len());
        self.mem.read_bytes(off, out);
        self.rsp_cons = self.rsp_cons.wrapping_add(1);
        Ok(Some(()))
    }

    /// Consumes all available responses without copying them (event ring:
    /// the producer only needs the acknowledgements to reuse slots).
    /// Returns how many were discarded.
    pub fn discard_responses(&mut self) -> Result<u32, RingError> {
        let rp = self.rsp_prod_checked()?;
        let n = rp.wrapping_sub(self.rsp_cons);
        self.rsp_cons = rp;
        Ok(n)
    }

    /// The shared indices as they are now (`req_prod`, `req_event`,
    /// `rsp_prod`, `rsp_event`), for diagnostics only.
    pub fn shared_indices(&self) -> [u32; 4] {
        [OFF_REQ_PROD, OFF_REQ_EVENT, OFF_RSP_PROD, OFF_RSP_EVENT].map(|o| self.mem.read_u32(o))
    }

    /// Asks the peer not to notify us of responses until the next
    /// `final_check_for_responses`: we are polling. (`rsp_event` is moved
    /// behind the producer; see `need_notify`.)
    pub fn disarm_responses(&mut self) {
        self.mem.write_u32(OFF_RSP_EVENT, self.rsp_cons);
    }

    /// `RING_FINAL_CHECK_FOR_RESPONSES`: returns `true` if responses are
    /// pending (or the peer index is corrupt, so that the caller calls
    /// `take_response` and sees the error); otherwise sets
    /// `rsp_event = rsp_cons + 1` to request a notification and re-checks.
    pub fn final_check_for_responses(&mut self) -> bool {
        if self.mem.read_u32(OFF_RSP_PROD) != self.rsp_cons {
            return true;
        }
        self.mem
            .write_u32(OFF_RSP_EVENT, self.rsp_cons.wrapping_add(1));
        // ORDERING: mb: rsp_event store before the rsp_prod re-read; pairs
        // with the mb in BackRing::push_responses_and_check_notify (rsp_prod
        // store before its rsp_event load).
        self.mem.mb();
        self.mem.read_u32(OFF_RSP_PROD) != self.rsp_cons
    }
}

/// Consumer of requests / producer of responses (`struct *_back_ring`).
#[derive(Debug)]
pub struct BackRing<M: SharedMem> {
    mem: M,
    nr: u32,
    rsp_prod_pvt: u32,
    /// Last value of `rsp_prod` we published (local copy).
    rsp_prod_pub: u32,
    req_cons: u32,
}

impl<M: SharedMem> BackRing<M> {
    /// `BACK_RING_ATTACH` to an area initialised by the peer: reads
    /// `rsp_prod` once and starts `req_cons = rsp_prod_pvt` from it.
    pub fn attach(mem: M) -> Result<Self, RingError> {
        let nr = slots_for_len(mem.len());
        if nr == 0 {
            return Err(RingError::TooSmall);
        }
        let start = mem.read_u32(OFF_RSP_PROD);
        // ORDERING: rmb: pairs with the wmb in init_shared.
        mem.rmb();
        Ok(Self {
            mem,
            nr,
            rsp_prod_pvt: start,
            rsp_prod_pub: start,
            req_cons: start,
        })
    }

    /// Number of slots (`RING_SIZE`).
    pub fn nr_slots(&self) -> u32 {
        self.nr
    }

    /// The underlying shared memory.
    pub fn mem(&self) -> &M {
        &self.mem
    }

    /// Request consumer index (`req_cons`).
    pub fn req_cons(&self) -> u32 {
        self.req_cons
    }

    /// Private response producer index (`rsp_prod_pvt`).
    pub fn rsp_prod_pvt(&self) -> u32 {
        self.rsp_prod_pvt
    }

    /// Requests consumed but not yet answered.
    pub fn pending_responses(&self) -> u32 {
        self.req_cons.wrapping_sub(self.rsp_prod_pvt)
    }

    /// Reads `req_prod` once and validates it:
    /// `RING_REQUEST_PROD_OVERFLOW` (`req_prod - rsp_prod_pvt > RING_SIZE`)
    /// and `req_prod` never behind `req_cons`.
    fn req_prod_checked(&self) -> Result<u32, RingError> {
        let rp = self.mem.read_u32(OFF_REQ_PROD);
        // ORDERING: rmb: read req_prod before the request slots it covers;
        // pairs with the wmb before the req_prod store in
        // FrontRing::push_requests_and_check_notify.
        self.mem.rmb();
        let span = rp.wrapping_sub(self.rsp_prod_pvt);
        if span > self.nr || rp.wrapping_sub(self.req_cons) > span {
            return Err(RingError::Overflow);
        }
        Ok(rp)
    }

    /// `RING_HAS_UNCONSUMED_REQUESTS`: `min(req_prod - req_cons,
    /// RING_SIZE - (req_cons - rsp_prod_pvt))`; 0 for a corrupt index.
    pub fn unconsumed_requests(&self) -> u32 {
        match self.req_prod_checked() {
            Ok(rp) => {
                let req = rp.wrapping_sub(self.req_cons);
                let rsp = self
                    .nr
                    .wrapping_sub(self.req_cons.wrapping_sub(self.rsp_prod_pvt));
                req.min(rsp)
            }
            Err(_) => 0,
        }
    }

    /// `RING_COPY_REQUEST`: copies the next request out of the ring (once).
    /// `Ok(None)` when there is none, or when consuming another would
    /// exceed the responses that can be produced (`RING_REQUEST_CONS_OVERFLOW`;
    /// push responses first). `Err(Overflow)` for a corrupt `req_prod`.
    pub fn take_request(&mut self, out: &mut Slot) -> Result<Option<()>, RingError> {
        let rp = self.req_prod_checked()?;
        if rp == self.req_cons {
            return Ok(None);
        }
        if self.req_cons.wrapping_sub(self.rsp_prod_pvt) >= self.nr {
            return Ok(None);
        }
        let off = slot_off(self.req_cons, self.nr);
        debug_assert!(off + SLOT_SIZE <= self.mem.len());
        self.mem.read_bytes(off, out);
        self.req_cons = self.req_cons.wrapping_add(1);
        Ok(Some(()))
    }

    /// Copies the next request out without consuming it: a hint (say, to
    /// route a wake-up); whoever acts on a request takes it with
    /// [`BackRing::take_request`] and validates that copy.
    pub fn peek_request(&self, out: &mut Slot) -> Result<Option<()>, RingError> {
        let rp = self.req_prod_checked()?;
        if rp == self.req_cons || self.req_cons.wrapping_sub(self.rsp_prod_pvt) >= self.nr {
            return Ok(None);
        }
        self.mem.read_bytes(slot_off(self.req_cons, self.nr), out);
        Ok(Some(()))
    }

    /// Writes a response into the next private slot (visible after
    /// [`BackRing::push_responses_and_check_notify`]).
    pub fn push_response(&mut self, slot: &Slot) -> Result<(), RingError> {
        if self.rsp_prod_pvt == self.req_cons {
            return Err(RingError::NoRequest);
        }
        let off = slot_off(self.rsp_prod_pvt, self.nr);
        debug_assert!(off + SLOT_SIZE <= self.mem.len());
        self.mem.write_bytes(off, slot);
        self.rsp_prod_pvt = self.rsp_prod_pvt.wrapping_add(1);
        Ok(())
    }

    /// Produces a response without writing the slot (event-ring
    /// acknowledgement: frees the slot for the producer).
    pub fn push_ack(&mut self) -> Result<(), RingError> {
        if self.rsp_prod_pvt == self.req_cons {
            return Err(RingError::NoRequest);
        }
        self.rsp_prod_pvt = self.rsp_prod_pvt.wrapping_add(1);
        Ok(())
    }

    /// `RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`.
    pub fn push_responses_and_check_notify(&mut self) -> bool {
        let old = self.rsp_prod_pub;
        let new = self.rsp_prod_pvt;
        // ORDERING: wmb: response slot contents (and our earlier reads of
        // the request slots) before rsp_prod; pairs with the rmb after
        // reading rsp_prod in FrontRing::take_response.
        self.mem.wmb();
        self.mem.write_u32(OFF_RSP_PROD, new);
        self.rsp_prod_pub = new;
        // ORDERING: mb: rsp_prod store before the rsp_event load; pairs with
        // the mb in FrontRing::final_check_for_responses.
        self.mem.mb();
        let event = self.mem.read_u32(OFF_RSP_EVENT);
        need_notify(new, old, event)
    }

    /// Whether the peer has published requests we have not taken (a hint
    /// for a polling consumer: `take_request` validates the index).
    pub fn has_unconsumed_requests(&self) -> bool {
        requests_beyond(&self.mem, self.req_cons)
    }

    /// Asks the peer not to notify us of requests until the next
    /// `final_check_for_requests`: we are polling.
    pub fn disarm_requests(&mut self) {
        self.mem.write_u32(OFF_REQ_EVENT, self.req_cons);
    }

    /// `RING_FINAL_CHECK_FOR_REQUESTS`: `true` if requests are pending (or
    /// the index is corrupt); otherwise sets `req_event = req_cons + 1` and
    /// re-checks.
    pub fn final_check_for_requests(&mut self) -> bool {
        if self.mem.read_u32(OFF_REQ_PROD) != self.req_cons {
            return true;
        }
        self.mem
            .write_u32(OFF_REQ_EVENT, self.req_cons.wrapping_add(1));
        // ORDERING: mb: req_event store before the req_prod re-read; pairs
        // with the mb in FrontRing::push_requests_and_check_notify.
        self.mem.mb();
        self.mem.read_u32(OFF_REQ_PROD) != self.req_cons
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::host::HeapMem;
    use super::*;
    use std::vec::Vec;

    fn slot_with(seq: u64) -> Slot {
        let mut s = [0u8; SLOT_SIZE];
        s[..8].copy_from_slice(&seq.to_le_bytes());
        s[SLOT_SIZE - 8..].copy_from_slice(&(!seq).to_le_bytes());
        s
    }

    fn seq_of(s: &Slot) -> u64 {
        let a = u64::from_le_bytes(s[..8].try_into().unwrap());
        let b = u64::from_le_bytes(s[SLOT_SIZE - 8..].try_into().unwrap());
        assert_eq!(a, !b, "torn slot");
        a
    }

    #[test]
    fn slot_counts() {
        assert_eq!(slots_for_len(0), 0);
        assert_eq!(slots_for_len(64 + 511), 0);
        assert_eq!(slots_for_len(64 + 512), 1);
        assert_eq!(slots_for_len(ring_area_bytes(0)), 4);
        assert_eq!(slots_for_len(ring_area_bytes(1)), 8);
        assert_eq!(slots_for_len(ring_area_bytes(2)), 16);
        assert_eq!(slots_for_len(ring_area_bytes(3)), 32);
        assert_eq!(slots_for_len(ring_area_bytes(MAX_RING_ORDER)), 64);
        assert_eq!(slots_for_len(usize::MAX), MAX_SLOTS);
        let m = HeapMem::new(100);
        assert_eq!(FrontRing::init(&m).err(), Some(RingError::TooSmall));
        assert_eq!(BackRing::attach(&m).err(), Some(RingError::TooSmall));
        assert_eq!(FrontRing::attach(&m).err(), Some(RingError::TooSmall));
    }

    #[test]
    fn init_layout() {
        let m = HeapMem::pages(0);
        m.write_bytes(0, &[0xffu8; 64]);
        let f = FrontRing::init(&m).unwrap();
        assert_eq!(m.read_u32(0), 0);
        assert_eq!(m.read_u32(4), 1);
        assert_eq!(m.read_u32(8), 0);
        assert_eq!(m.read_u32(12), 1);
        for o in (16..64).step_by(4) {
            assert_eq!(m.read_u32(o), 0);
        }
        assert_eq!(f.nr_slots(), 4);
        assert_eq!(f.free_slots(), 4);
    }

    fn fill_drain(start: u32, order: u32, rounds: u64) {
        let m = HeapMem::pages(order);
        let mut f = FrontRing::init_at(&m, start).unwrap();
        let mut b = BackRing::attach(&m).unwrap();
        let nr = f.nr_slots();
        let mut seq = 0u64;
        let mut got = 0u64;
        let mut buf = [0u8; SLOT_SIZE];
        for _ in 0..rounds {
            // fill
            let mut pushed = 0;
            while f.push_request(&slot_with(seq + pushed)).is_ok() {
                pushed += 1;
            }
            assert_eq!(pushed, u64::from(nr));
            assert!(f.is_full());
            f.push_requests_and_check_notify();
            // back drains all, answers each with the same payload
            let mut n = 0;
            while b.take_request(&mut buf).unwrap().is_some() {
                assert_eq!(seq_of(&buf), seq + n);
                b.push_response(&buf).unwrap();
                n += 1;
            }
            assert_eq!(n, u64::from(nr));
            assert_eq!(b.push_response(&buf), Err(RingError::NoRequest));
            b.push_responses_and_check_notify();
            while f.take_response(&mut buf).unwrap().is_some() {
                assert_eq!(seq_of(&buf), got);
                got += 1;
            }
            seq += pushed;
            assert_eq!(got, seq);
            assert_eq!(f.free_slots(), nr);
        }
    }

    #[test]
    fn single_thread_fill_drain() {
        for order in 0..=MAX_RING_ORDER {
            fill_drain(0, order, 5);
        }
    }

    #[test]
    fn peek_does_not_consume() {
        let m = HeapMem::pages(1);
        let mut f = FrontRing::init(&m).unwrap();
        let mut b = BackRing::attach(&m).unwrap();
        let mut o = [0u8; SLOT_SIZE];
        assert_eq!(b.peek_request(&mut o), Ok(None));
        f.push_request(&[7u8; SLOT_SIZE]).unwrap();
        f.push_request(&[9u8; SLOT_SIZE]).unwrap();
        f.push_requests_and_check_notify();
        for _ in 0..2 {
            assert_eq!(b.peek_request(&mut o), Ok(Some(())));
            assert_eq!(o, [7u8; SLOT_SIZE]);
        }
        assert_eq!(b.take_request(&mut o), Ok(Some(())));
        assert_eq!(o, [7u8; SLOT_SIZE]);
        assert_eq!(b.peek_request(&mut o), Ok(Some(())));
        assert_eq!(o, [9u8; SLOT_SIZE]);
    }

    #[test]
    fn wraparound_u32_indices() {
        for start in [u32::MAX - 2, u32::MAX, u32::MAX - 63, 0x7fff_fffe] {
            fill_drain(start, 0, 10);
            fill_drain(start, 3, 4);
        }
    }

    #[test]
    fn notification_holdoff_matches_ring_h() {
        let m = HeapMem::pages(1);
        let mut f = FrontRing::init(&m).unwrap();
        let mut b = BackRing::attach(&m).unwrap();
        let s = [0u8; SLOT_SIZE];
        let mut o = [0u8; SLOT_SIZE];
        // req_event = 1 initially: first push notifies.
        f.push_request(&s).unwrap();
        assert!(f.push_requests_and_check_notify());
        // Back has not re-armed (req_event still 1): further pushes don't notify.
        f.push_request(&s).unwrap();
        assert!(!f.push_requests_and_check_notify());
        // Pushing nothing never notifies.
        assert!(!f.push_requests_and_check_notify());
        // Back consumes both; final check re-arms req_event = req_cons + 1.
        assert!(b.take_request(&mut o).unwrap().is_some());
        assert!(b.take_request(&mut o).unwrap().is_some());
        assert!(b.take_request(&mut o).unwrap().is_none());
        assert!(!b.final_check_for_requests());
        assert_eq!(m.read_u32(4), 3);
        // Next push notifies again.
        f.push_request(&s).unwrap();
        assert!(f.push_requests_and_check_notify());
        // final_check sees the pending request, no re-arm.
        assert!(b.final_check_for_requests());
        assert_eq!(m.read_u32(4), 3);
        assert!(b.take_request(&mut o).unwrap().is_some());
        // Responses: rsp_event = 1 initially -> first push notifies.
        b.push_response(&o).unwrap();
        assert!(b.push_responses_and_check_notify());
        b.push_response(&o).unwrap();
        assert!(!b.push_responses_and_check_notify());
        assert!(f.final_check_for_responses());
        while f.take_response(&mut o).unwrap().is_some() {}
        assert!(!f.final_check_for_responses()); // arms rsp_event = 3
        assert_eq!(m.read_u32(12), 3);
        // req_prod 3, req_event 3, rsp_prod 2, rsp_event 3.
        assert_eq!(f.shared_indices(), [3, 3, 2, 3]);
        b.push_response(&o).unwrap();
        assert!(b.push_responses_and_check_notify());
        // Batch crossing the event index notifies exactly once.
        assert!(f.take_response(&mut o).unwrap().is_some());
        assert!(!f.final_check_for_responses());
        for _ in 0..3 {
            f.push_request(&s).unwrap();
        }
        // req_event is still 3 (back saw pending work, did not re-arm) and
        // the batch moves req_prod 3 -> 6: event 3 is not in (3, 6], no notify.
        assert!(!f.push_requests_and_check_notify());
    }

    #[test]
    fn disarmed_consumer_gets_no_notification_until_final_check() {
        let m = HeapMem::pages(1);
        let mut f = FrontRing::init(&m).unwrap();
        let mut b = BackRing::attach(&m).unwrap();
        let s = [0u8; SLOT_SIZE];
        let mut o = [0u8; SLOT_SIZE];
        // A polling backend: armed at start (req_event = 1), disarms.
        assert!(!b.has_unconsumed_requests());
        b.disarm_requests();
        for _ in 0..3 {
            f.push_request(&s).unwrap();
            assert!(!f.push_requests_and_check_notify());
        }
        assert!(b.has_unconsumed_requests());
        while b.take_request(&mut o).unwrap().is_some() {}
        assert!(!b.has_unconsumed_requests());
        // Responses to a polling frontend: none notifies.
        f.disarm_responses();
        for _ in 0..3 {
            b.push_response(&o).unwrap();
            assert!(!b.push_responses_and_check_notify());
        }
        while f.take_response(&mut o).unwrap().is_some() {}
        // Disarming with unconsumed work left behind still notifies nobody.
        b.disarm_requests();
        f.push_request(&s).unwrap();
        assert!(!f.push_requests_and_check_notify());
        b.disarm_requests();
        f.push_request(&s).unwrap();
        assert!(!f.push_requests_and_check_notify());
        // Going back to sleep: the final check sees the work; once it is
        // taken, the next final check arms and the next push notifies.
        assert!(b.final_check_for_requests());
        while b.take_request(&mut o).unwrap().is_some() {}
        assert!(!b.final_check_for_requests());
        f.push_request(&s).unwrap();
        assert!(f.push_requests_and_check_notify());
        b.take_request(&mut o).unwrap().unwrap();
        // Likewise for responses: the final check arms again.
        assert!(!f.final_check_for_responses());
        b.push_response(&o).unwrap();
        assert!(b.push_responses_and_check_notify());
    }

    #[test]
    fn cons_overflow_backpressure() {
        // Back must not consume more requests than it can answer.
        let m = HeapMem::pages(0);
        let mut f = FrontRing::init(&m).unwrap();
        let mut b = BackRing::attach(&m).unwrap();
        let s = [1u8; SLOT_SIZE];
        let mut o = [0u8; SLOT_SIZE];
        for _ in 0..4 {
            f.push_request(&s).unwrap();
        }
        f.push_requests_and_check_notify();
        for _ in 0..4 {
            assert!(b.take_request(&mut o).unwrap().is_some());
        }
        assert_eq!(b.pending_responses(), 4);
        assert!(b.take_request(&mut o).unwrap().is_none());
        assert_eq!(b.unconsumed_requests(), 0);
    }

    #[test]
    fn hostile_req_prod() {
        let m = HeapMem::pages(0);
        let _f = FrontRing::init(&m).unwrap();
        let mut b = BackRing::attach(&m).unwrap();
        let mut o = [0u8; SLOT_SIZE];
        for bad in [5u32, 100, u32::MAX, 0x8000_0000] {
            m.write_u32(0, bad);
            assert_eq!(b.take_request(&mut o), Err(RingError::Overflow));
            assert_eq!(b.unconsumed_requests(), 0);
            assert!(b.final_check_for_requests());
        }
        // consume 2 legit (garbage content), then move req_prod backwards
        m.write_u32(0, 2);
        assert!(b.take_request(&mut o).unwrap().is_some());
        m.write_u32(0, 0);
        assert_eq!(b.take_request(&mut o), Err(RingError::Overflow));
        m.write_u32(0, 4);
        assert!(b.take_request(&mut o).unwrap().is_some());
        assert_eq!(b.req_cons(), 2);
    }

    #[test]
    fn hostile_rsp_prod() {
        let m = HeapMem::pages(0);
        let mut f = FrontRing::init(&m).unwrap();
        let mut o = [0u8; SLOT_SIZE];
        // no outstanding requests: any rsp_prod != rsp_cons is an overflow
        for bad in [1u32, 4, u32::MAX] {
            m.write_u32(8, bad);
            assert_eq!(f.take_response(&mut o), Err(RingError::Overflow));
            assert_eq!(f.discard_responses(), Err(RingError::Overflow));
        }
        m.write_u32(8, 0);
        f.push_request(&o).unwrap();
        f.push_request(&o).unwrap();
        f.push_requests_and_check_notify();
        m.write_u32(8, 3);
        assert_eq!(f.take_response(&mut o), Err(RingError::Overflow));
        m.write_u32(8, 2);
        assert_eq!(f.discard_responses(), Ok(2));
        assert_eq!(f.free_slots(), 4);
    }

    #[test]
    fn event_ring_roles() {
        // Guest allocates + initialises; dom0 produces with FrontRing::attach,
        // guest consumes with BackRing::attach and acks.
        let m = HeapMem::pages(0);
        init_shared(&m, 7).unwrap();
        let mut guest = BackRing::attach(&m).unwrap();
        let mut dom0 = FrontRing::attach(&m).unwrap();
        let mut o = [0u8; SLOT_SIZE];
        for round in 0..10u64 {
            for i in 0..4 {
                dom0.push_request(&slot_with(round * 4 + i)).unwrap();
            }
            assert!(dom0.push_request(&o).is_err());
            dom0.push_requests_and_check_notify();
            for i in 0..4 {
                assert!(guest.take_request(&mut o).unwrap().is_some());
                assert_eq!(seq_of(&o), round * 4 + i);
                guest.push_ack().unwrap();
            }
            assert_eq!(guest.push_ack(), Err(RingError::NoRequest));
            guest.push_responses_and_check_notify();
            assert_eq!(dom0.discard_responses(), Ok(4));
        }
    }

    #[test]
    fn two_threads_100k() {
        transfer(100_000, 2);
    }

    /// A notification as an event channel delivers it: a latch the
    /// sleeper waits on.
    struct Latch {
        set: std::sync::Mutex<bool>,
        cv: std::sync::Condvar,
    }

    impl Latch {
        fn new() -> Self {
            Self {
                set: std::sync::Mutex::new(false),
                cv: std::sync::Condvar::new(),
            }
        }
        fn notify(&self) {
            *self.set.lock().unwrap() = true;
            self.cv.notify_one();
        }
        /// Sleeps until notified; a sleeper that is never notified
        /// although work was published is a lost wake-up.
        fn sleep(&self) {
            let g = self.set.lock().unwrap();
            let (mut g, t) = self
                .cv
                .wait_timeout_while(g, std::time::Duration::from_secs(10), |s| !*s)
                .unwrap();
            assert!(
                !t.timed_out(),
                "lost wake-up: slept 10 s with no notification"
            );
            *g = false;
        }
    }

    /// Both consumers alternate between polling (notifications disarmed)
    /// and sleeping (final check, then wait for a notification), as the
    /// modules' ends do: nothing is lost, nothing waits for ever.
    #[test]
    fn polling_and_sleeping_consumers_lose_no_wakeup() {
        let n = 50_000u64;
        let m = HeapMem::pages(1);
        let mut f = FrontRing::init(&m).unwrap();
        let mut b = BackRing::attach(&m).unwrap();
        let (to_back, to_front) = (Latch::new(), Latch::new());
        let notified = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|sc| {
            sc.spawn(|| {
                let mut buf = [0u8; SLOT_SIZE];
                let (mut expect, mut idle) = (0u64, 0u32);
                while expect < n {
                    if b.take_request(&mut buf).unwrap().is_some() {
                        assert_eq!(seq_of(&buf), expect);
                        expect += 1;
                        b.push_response(&buf).unwrap();
                        if b.push_responses_and_check_notify() {
                            to_front.notify();
                        }
                        continue;
                    }
                    idle += 1;
                    if idle % 7 != 0 {
                        b.disarm_requests();
                        std::thread::yield_now();
                    } else if !b.final_check_for_requests() {
                        to_back.sleep();
                    }
                }
            });
            let mut buf = [0u8; SLOT_SIZE];
            let (mut sent, mut got, mut idle) = (0u64, 0u64, 0u32);
            while got < n {
                while sent < n && sent - got < 3 && f.push_request(&slot_with(sent)).is_ok() {
                    sent += 1;
                }
                if f.push_requests_and_check_notify() {
                    notified.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    to_back.notify();
                }
                if f.take_response(&mut buf).unwrap().is_some() {
                    assert_eq!(seq_of(&buf), got);
                    got += 1;
                    continue;
                }
                idle += 1;
                if idle % 5 != 0 {
                    f.disarm_responses();
                    std::thread::yield_now();
                } else if !f.final_check_for_responses() {
                    to_front.sleep();
                }
            }
        });
        // Polling spared notifications: far fewer than one per request.
        assert!(notified.into_inner() < n, "every request notified");
    }

    /// Two-thread producer/consumer with sequence checks, event-driven
    /// notification emulated by spinning on final_check.
    pub(crate) fn transfer(n: u64, order: u32) -> u64 {
        let m = HeapMem::pages(order);
        let mut f = FrontRing::init(&m).unwrap();
        let mut b = BackRing::attach(&m).unwrap();
        std::thread::scope(|sc| {
            sc.spawn(|| {
                let mut buf = [0u8; SLOT_SIZE];
                let mut expect = 0u64;
                while expect < n {
                    match b.take_request(&mut buf).unwrap() {
                        Some(()) => {
                            assert_eq!(seq_of(&buf), expect);
                            expect += 1;
                            b.push_response(&buf).unwrap();
                            b.push_responses_and_check_notify();
                        }
                        None => {
                            if !b.final_check_for_requests() {
                                std::thread::yield_now();
                            }
                        }
                    }
                }
            });
            let mut sent = 0u64;
            let mut got = 0u64;
            let mut buf = [0u8; SLOT_SIZE];
            let mut log = Vec::new();
            while got < n {
                while sent < n && f.push_request(&slot_with(sent)).is_ok() {
                    sent += 1;
                }
                f.push_requests_and_check_notify();
                let mut progressed = false;
                while f.take_response(&mut buf).unwrap().is_some() {
                    assert_eq!(seq_of(&buf), got);
                    got += 1;
                    progressed = true;
                }
                if !progressed && !f.final_check_for_responses() {
                    std::thread::yield_now();
                }
                if log.len() < 4 {
                    log.push(got);
                }
            }
            got
        })
    }
}
