// SPDX-License-Identifier: GPL-2.0
//! A FrontRing and a BackRing over one shared area, interleaved with a
//! hostile peer that overwrites header fields and slots with fuzz input.
//! Consumption must never panic, never touch memory outside the area
//! (HeapMem panics on that) and never let local indices exceed the ring.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xen_ring::host::HeapMem;
use xen_ring::{init_shared, BackRing, FrontRing, Request, SharedMem, Slot, SLOT_SIZE};

struct In<'a>(&'a [u8]);

impl In<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }
    fn u32(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for i in 0..4 {
            v |= u32::from(self.u8()?) << (8 * i);
        }
        Some(v)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = In(data);
    let (Some(order), Some(start)) = (inp.u8(), inp.u32()) else {
        return;
    };
    let mem = HeapMem::pages(u32::from(order % 3));
    init_shared(&mem, start).unwrap();
    let mut back = BackRing::attach(&mem).unwrap();
    let mut front = FrontRing::attach(&mem).unwrap();
    let nr = back.nr_slots();
    let mut slot: Slot = [0; SLOT_SIZE];
    while let Some(op) = inp.u8() {
        match op % 16 {
            // hostile peer: arbitrary header words
            0 => mem.write_u32(0, inp.u32().unwrap_or(0)),
            1 => mem.write_u32(4, inp.u32().unwrap_or(0)),
            2 => mem.write_u32(8, inp.u32().unwrap_or(0)),
            3 => mem.write_u32(12, inp.u32().unwrap_or(0)),
            // hostile peer: scribble a slot
            4 => {
                let i = usize::from(inp.u8().unwrap_or(0)) % nr as usize;
                let b = inp.u8().unwrap_or(0);
                mem.write_bytes(64 + i * SLOT_SIZE, &[b; SLOT_SIZE]);
            }
            5 => {
                if let Ok(Some(())) = back.take_request(&mut slot) {
                    let _ = Request::decode(&slot);
                }
            }
            6 => {
                let _ = back.push_response(&slot);
            }
            7 => {
                let _ = back.push_ack();
            }
            8 => {
                back.push_responses_and_check_notify();
            }
            // the consumers' polling: notifications off, peeking
            9 if op & 0x10 != 0 => {
                back.disarm_requests();
                let _ = back.has_unconsumed_requests();
            }
            9 => {
                back.final_check_for_requests();
                let _ = back.unconsumed_requests();
            }
            10 => {
                let _ = front.push_request(&slot);
            }
            11 => {
                front.push_requests_and_check_notify();
            }
            12 => {
                let _ = front.take_response(&mut slot);
            }
            13 => {
                let _ = front.discard_responses();
            }
            14 if op & 0x10 != 0 => front.disarm_responses(),
            14 => {
                front.final_check_for_responses();
                let _ = front.unconsumed_responses();
            }
            _ => {
                // drain the back completely, answering everything
                for _ in 0..(2 * nr) {
                    match back.take_request(&mut slot) {
                        Ok(Some(())) => {
                            back.push_response(&slot).unwrap();
                        }
                        _ => break,
                    }
                }
                back.push_responses_and_check_notify();
            }
        }
        // Local invariants, whatever the peer wrote.
        assert!(back.req_cons().wrapping_sub(back.rsp_prod_pvt()) <= nr);
        assert!(front.req_prod_pvt().wrapping_sub(front.rsp_cons()) <= nr);
        assert!(front.free_slots() <= nr);
        assert!(back.unconsumed_requests() <= nr);
        assert!(front.unconsumed_responses() <= nr);
    }
});
