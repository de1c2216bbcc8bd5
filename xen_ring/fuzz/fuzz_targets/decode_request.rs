// SPDX-License-Identifier: GPL-2.0
//! Decode arbitrary slot bytes as Request / Response / Event. Whatever
//! decodes must re-encode to the identical bytes (the encoding is
//! canonical: every reserved byte is zero) and decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xen_ring::{Event, Op, Request, Response, SLOT_SIZE};

fuzz_target!(|data: &[u8]| {
    let mut slot = [0u8; SLOT_SIZE];
    let n = data.len().min(SLOT_SIZE);
    slot[..n].copy_from_slice(&data[..n]);

    if let Ok((id, req)) = Request::decode(&slot) {
        let mut again = [0xffu8; SLOT_SIZE];
        req.encode(id, &mut again);
        assert_eq!(again, slot, "request encoding not canonical");
        assert_eq!(Request::decode(&again), Ok((id, req)));
    } else {
        let _ = Request::peek(&slot);
    }
    if let Ok((id, rsp)) = Response::decode(&slot) {
        let mut again = [0xffu8; SLOT_SIZE];
        rsp.encode(id, &mut again);
        assert_eq!(again, slot, "response encoding not canonical");
        assert_eq!(Response::decode_for(&again, rsp.op()), Ok((id, rsp)));
    }
    if let Some(&op) = Op::ALL.get(usize::from(data.first().copied().unwrap_or(0)) % Op::ALL.len())
    {
        let _ = Response::decode_for(&slot, op);
    }
    if let Ok((seq, ev)) = Event::decode(&slot) {
        let mut again = [0xffu8; SLOT_SIZE];
        ev.encode(seq, &mut again);
        assert_eq!(again, slot, "event encoding not canonical");
        assert_eq!(Event::decode(&again), Ok((seq, ev)));
    }
});
