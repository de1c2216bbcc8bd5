// SPDX-License-Identifier: GPL-2.0
//! Host benchmark: request/response messages per second through a
//! `FrontRing`/`BackRing` pair in two threads over `HeapMem`.
//!
//! `cargo run --release --example ring_bench [N] [ORDER]`

use std::time::Instant;
use xen_ring::host::HeapMem;
use xen_ring::{BackRing, FrontRing, Slot, SLOT_SIZE};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let order: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let mem = HeapMem::pages(order);
    let mut front = FrontRing::init(&mem).expect("ring");
    let mut back = BackRing::attach(&mem).expect("ring");
    let slots = front.nr_slots();
    let t0 = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut buf: Slot = [0; SLOT_SIZE];
            let mut expect = 0u64;
            while expect < n {
                let mut any = false;
                while back.take_request(&mut buf).expect("ring ok").is_some() {
                    let seq = u64::from_le_bytes(buf[..8].try_into().unwrap());
                    assert_eq!(seq, expect);
                    expect += 1;
                    back.push_response(&buf).expect("ring ok");
                    any = true;
                }
                if any {
                    back.push_responses_and_check_notify();
                } else if !back.final_check_for_requests() {
                    std::hint::spin_loop();
                }
            }
        });
        let mut buf: Slot = [0; SLOT_SIZE];
        let (mut sent, mut got) = (0u64, 0u64);
        while got < n {
            let mut out: Slot = [0; SLOT_SIZE];
            while sent < n {
                out[..8].copy_from_slice(&sent.to_le_bytes());
                if front.push_request(&out).is_err() {
                    break;
                }
                sent += 1;
            }
            front.push_requests_and_check_notify();
            let mut any = false;
            while front.take_response(&mut buf).expect("ring ok").is_some() {
                let seq = u64::from_le_bytes(buf[..8].try_into().unwrap());
                assert_eq!(seq, got);
                got += 1;
                any = true;
            }
            if !any && !front.final_check_for_responses() {
                std::hint::spin_loop();
            }
        }
    });
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "ring_bench: {n} request+response round trips, {slots} slots (order {order}): {:.3} s, {:.0} msgs/s ({:.0} MB/s of slot payload each way)",
        dt,
        n as f64 / dt,
        n as f64 * SLOT_SIZE as f64 / dt / 1e6
    );
}
