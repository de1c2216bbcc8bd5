// SPDX-License-Identifier: GPL-2.0
//! xenib-bench: microbenchmarks of the verbs that perftest does not cover,
//! for comparing a paravirtual device with the native one (bench/run).
//!
//!   xenib-bench --dev NAME [--gid-index N] [--quick] TEST...
//!
//! TESTs:
//!   reg       ibv_reg_mr / ibv_dereg_mr of 4 KiB .. 64 MiB, first time (a
//!             fresh, touched buffer) and repeated (the same buffer again)
//!   cq        ibv_create_cq + ibv_destroy_cq per second
//!   qp        ibv_create_qp + ibv_destroy_qp (RC) per second
//!   qp-rts    create, modify RESET->INIT->RTR->RTS, destroy per second
//!   post      one process: a 2-byte RDMA WRITE to a loopback QP, the time
//!             ibv_post_send takes and the time until its completion is
//!             polled; also chains of 16 WRs in one ibv_post_send
//!
//! Each result is one line `@bench dev=NAME test=T key=value...`; times are
//! medians in microseconds, rates per second of the whole loop. Exits 1 if
//! a verb failed.

#![forbid(unsafe_op_in_unsafe_fn)]

#[allow(dead_code, unused_imports)]
mod verbs;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use verbs::{
    access, ibv_mtu, Buf, Context, Cq, Gid, Mr, Pd, Qp, QpCaps, QpTransition, QpType, Route,
    SendOp, SendWr,
};

const PORT: u8 = 1;
const QP_ACCESS: u32 = access::ALL;
const CAPS: QpCaps = QpCaps {
    max_send_wr: 64,
    max_recv_wr: 64,
    max_send_sge: 1,
    max_recv_sge: 1,
    max_inline_data: 0,
};

struct Env {
    ctx: Context,
    gid_index: i32,
    gid: Gid,
    mtu: u32,
    rd_atomic: u8,
    quick: bool,
    dev: String,
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn e<T>(r: Result<T, nix::errno::Errno>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

impl Env {
    fn open(dev: &str, gid_index: Option<i32>, quick: bool) -> Result<Env, String> {
        let ctx = e(Context::open(dev), "open device")?;
        let attr = e(ctx.query_device(), "ibv_query_device")?;
        let port = e(ctx.query_port(PORT), "ibv_query_port")?;
        let gid_index = match gid_index {
            Some(i) => i,
            None => (0..port.gid_tbl_len)
                .find(|&i| ctx.query_gid(PORT, i).is_ok_and(|g| g.is_ipv4_mapped()))
                .ok_or("no IPv4-mapped GID on port 1 (give --gid-index)")?,
        };
        let gid = e(ctx.query_gid(PORT, gid_index), "ibv_query_gid")?;
        let mtu = if port.active_mtu == 0 {
            ibv_mtu::IBV_MTU_1024
        } else {
            port.active_mtu
        };
        Ok(Env {
            ctx,
            gid_index,
            gid,
            mtu,
            rd_atomic: attr.max_qp_rd_atom.clamp(1, 16) as u8,
            quick,
            dev: dev.to_string(),
        })
    }

    fn route(&self) -> Route {
        Route {
            dgid: self.gid,
            sgid_index: self.gid_index as u8,
            port: PORT,
            hop_limit: 1,
            ..Default::default()
        }
    }

    fn transition(&self, dest: u32) -> QpTransition {
        QpTransition {
            path_mtu: self.mtu,
            dest_qp_num: dest,
            rq_psn: 0x1234,
            sq_psn: 0x1234,
            access: QP_ACCESS,
            port: PORT,
            max_rd_atomic: self.rd_atomic,
            max_dest_rd_atomic: self.rd_atomic,
            ..Default::default()
        }
    }

    /// Scales an iteration count down in --quick mode.
    fn n(&self, n: usize) -> usize {
        if self.quick {
            (n / 4).max(2)
        } else {
            n
        }
    }

    fn emit(&self, test: &str, kv: &[(&str, String)]) {
        self.emit_with(test, kv, &[]);
    }

    fn emit_with(&self, test: &str, kv: &[(&str, String)], more: &[(String, String)]) {
        let mut s = format!("@bench dev={} test={test}", self.dev);
        for (k, v) in kv {
            s.push_str(&format!(" {k}={v}"));
        }
        for (k, v) in more {
            s.push_str(&format!(" {k}={v}"));
        }
        println!("{s}");
    }
}

fn f(v: f64) -> String {
    format!("{v:.2}")
}

/// The phase counters of xib0's two sides that this system shows
/// (`phase_us.VERB.PHASE` lines: the frontend's module parameter, the
/// backend's device; under Xen only the side of this domain), as
/// "front.VERB.PHASE"/"back.VERB.PHASE" -> microseconds.
fn phase_counters() -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for (side, path) in [
        ("front", "/sys/module/ib_front/parameters/counters"),
        ("back", "/dev/xenib_back"),
    ] {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        for line in text.lines() {
            let mut f = line.split_whitespace();
            if let (Some(k), Some(v)) = (f.next(), f.next()) {
                if let (Some(name), Ok(v)) = (k.strip_prefix("phase_us."), v.parse()) {
                    out.push((format!("{side}.{name}"), v));
                }
            }
        }
    }
    out
}

/// The mean time per call of each phase between two `phase_counters`
/// snapshots, `n` calls apart, as `ph.NAME=us` fields.
fn phase_fields(before: &[(String, u64)], n: usize) -> Vec<(String, String)> {
    phase_counters()
        .into_iter()
        .filter_map(|(k, v)| {
            let old = before.iter().find(|(b, _)| *b == k).map_or(0, |(_, v)| *v);
            (v > old).then(|| (format!("ph.{k}"), f((v - old) as f64 / n as f64)))
        })
        .collect()
}

/// ibv_reg_mr / ibv_dereg_mr, first time and repeated, per size; on xib0
/// also the mean time of each phase of the two sides (`ph.*`).
fn bench_reg(env: &Env) -> Result<(), String> {
    let pd = e(Pd::alloc(&env.ctx), "ibv_alloc_pd")?;
    let acc = access::LOCAL_WRITE | access::REMOTE_WRITE | access::REMOTE_READ;
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    for (size, n) in [
        (4 * KIB, 40),
        (64 * KIB, 30),
        (MIB, 20),
        (16 * MIB, 6),
        (64 * MIB, 3),
    ] {
        let n = env.n(n);
        // First time: a new buffer each time, its pages already touched so
        // that page faults are not what is measured.
        let (mut reg, mut dereg) = (Vec::new(), Vec::new());
        let phases = phase_counters();
        for _ in 0..n {
            let buf = Buf::new(size);
            buf.fill(0, size, 1);
            let t0 = Instant::now();
            let mr = e(Mr::register(&pd, buf, 0, size, acc), "ibv_reg_mr")?;
            let t1 = Instant::now();
            let buf = e(mr.dereg(), "ibv_dereg_mr")?;
            let t2 = Instant::now();
            reg.push(us(t1 - t0));
            dereg.push(us(t2 - t1));
            drop(buf);
        }
        env.emit_with(
            "reg",
            &[
                ("size", size.to_string()),
                ("kind", "first".into()),
                ("n", n.to_string()),
                ("reg_us", f(median(&mut reg))),
                ("dereg_us", f(median(&mut dereg))),
            ],
            &phase_fields(&phases, n),
        );
        // Repeated: the same buffer registered again and again.
        let (mut reg, mut dereg) = (Vec::new(), Vec::new());
        let mut buf = Buf::new(size);
        buf.fill(0, size, 1);
        let phases = phase_counters();
        for _ in 0..n {
            let t0 = Instant::now();
            let mr = e(Mr::register(&pd, buf, 0, size, acc), "ibv_reg_mr")?;
            let t1 = Instant::now();
            buf = e(mr.dereg(), "ibv_dereg_mr")?;
            let t2 = Instant::now();
            reg.push(us(t1 - t0));
            dereg.push(us(t2 - t1));
        }
        env.emit_with(
            "reg",
            &[
                ("size", size.to_string()),
                ("kind", "repeated".into()),
                ("n", n.to_string()),
                ("reg_us", f(median(&mut reg))),
                ("dereg_us", f(median(&mut dereg))),
            ],
            &phase_fields(&phases, n),
        );
    }
    Ok(())
}

fn bench_cq(env: &Env) -> Result<(), String> {
    let n = env.n(200);
    let (mut c, mut d) = (Vec::new(), Vec::new());
    let start = Instant::now();
    for _ in 0..n {
        let t0 = Instant::now();
        let cq = e(Cq::new(&env.ctx, 256, None), "ibv_create_cq")?;
        let t1 = Instant::now();
        drop(cq);
        let t2 = Instant::now();
        c.push(us(t1 - t0));
        d.push(us(t2 - t1));
    }
    let total = start.elapsed().as_secs_f64();
    env.emit(
        "cq",
        &[
            ("n", n.to_string()),
            ("rate_per_s", f(n as f64 / total)),
            ("create_us", f(median(&mut c))),
            ("destroy_us", f(median(&mut d))),
        ],
    );
    Ok(())
}

fn bench_qp(env: &Env, to_rts: bool) -> Result<(), String> {
    let n = env.n(if to_rts { 100 } else { 150 });
    let pd = e(Pd::alloc(&env.ctx), "ibv_alloc_pd")?;
    let cq = e(Cq::new(&env.ctx, 256, None), "ibv_create_cq")?;
    let mut t = [const { Vec::new() }; 5];
    let start = Instant::now();
    for _ in 0..n {
        let t0 = Instant::now();
        let qp = e(Qp::new(&pd, QpType::Rc, &cq, &cq, None, CAPS), "ibv_create_qp")?;
        let t1 = Instant::now();
        t[0].push(us(t1 - t0));
        if to_rts {
            // Connected to itself: all a state change needs is a peer QPN.
            let tr = env.transition(qp.qp_num());
            let a = Instant::now();
            e(qp.to_init(QpType::Rc, &tr), "modify_qp INIT")?;
            let b = Instant::now();
            e(qp.to_rtr(QpType::Rc, &tr, &env.route()), "modify_qp RTR")?;
            let c = Instant::now();
            e(qp.to_rts(QpType::Rc, &tr), "modify_qp RTS")?;
            let d = Instant::now();
            t[1].push(us(b - a));
            t[2].push(us(c - b));
            t[3].push(us(d - c));
        }
        let t2 = Instant::now();
        drop(qp);
        t[4].push(us(t2.elapsed()));
    }
    let total = start.elapsed().as_secs_f64();
    let mut kv = vec![
        ("n", n.to_string()),
        ("rate_per_s", f(n as f64 / total)),
        ("create_us", f(median(&mut t[0]))),
    ];
    if to_rts {
        kv.push(("init_us", f(median(&mut t[1]))));
        kv.push(("rtr_us", f(median(&mut t[2]))));
        kv.push(("rts_us", f(median(&mut t[3]))));
    }
    kv.push(("destroy_us", f(median(&mut t[4]))));
    env.emit(if to_rts { "qp-rts" } else { "qp" }, &kv);
    Ok(())
}

/// Polls one completion of `cq`, spinning (as perftest does).
fn spin_one(cq: &Cq) -> Result<(), String> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let wc = e(cq.poll(1), "ibv_poll_cq")?;
        if let Some(w) = wc.first() {
            if w.status != 0 {
                return Err(format!("completion status {}", verbs::wc_status_str(w.status)));
            }
            return Ok(());
        }
        if Instant::now() > end {
            return Err("no completion within 10 s".into());
        }
    }
}

fn bench_post(env: &Env) -> Result<(), String> {
    let pd = e(Pd::alloc(&env.ctx), "ibv_alloc_pd")?;
    let cq_a = e(Cq::new(&env.ctx, 256, None), "ibv_create_cq")?;
    let cq_b = e(Cq::new(&env.ctx, 256, None), "ibv_create_cq")?;
    let a = e(Qp::new(&pd, QpType::Rc, &cq_a, &cq_a, None, CAPS), "ibv_create_qp")?;
    let b = e(Qp::new(&pd, QpType::Rc, &cq_b, &cq_b, None, CAPS), "ibv_create_qp")?;
    for (q, peer) in [(&a, &b), (&b, &a)] {
        let tr = env.transition(peer.qp_num());
        e(q.to_init(QpType::Rc, &tr), "modify_qp INIT")?;
        e(q.to_rtr(QpType::Rc, &tr, &env.route()), "modify_qp RTR")?;
        e(q.to_rts(QpType::Rc, &tr), "modify_qp RTS")?;
    }
    let src = e(Mr::alloc(&pd, 4096, access::LOCAL_WRITE), "ibv_reg_mr")?;
    let dst = e(
        Mr::alloc(&pd, 4096, access::LOCAL_WRITE | access::REMOTE_WRITE),
        "ibv_reg_mr",
    )?;
    let op = SendOp::Write {
        raddr: dst.addr(0),
        rkey: dst.rkey(),
    };
    let wr = |id: u64, signaled: bool| SendWr {
        wr_id: id,
        op,
        sges: vec![src.sge(0, 2)],
        signaled,
        inline: false,
    };
    // One signaled WR per ibv_post_send, waited for.
    let n = env.n(1000);
    let (mut post, mut done) = (Vec::new(), Vec::new());
    for i in 0..n {
        let w = [wr(i as u64, true)];
        let t0 = Instant::now();
        a.post_send(&w)
            .map_err(|(er, _)| format!("ibv_post_send: {er}"))?;
        let t1 = Instant::now();
        spin_one(&cq_a)?;
        let t2 = Instant::now();
        post.push(us(t1 - t0));
        done.push(us(t2 - t0));
    }
    env.emit(
        "post",
        &[
            ("n", n.to_string()),
            ("wrs_per_post", "1".into()),
            ("post_us", f(median(&mut post))),
            ("complete_us", f(median(&mut done))),
        ],
    );
    // Chains of 16 WRs, the last signaled: per-WR cost when batched.
    let chains = env.n(100);
    let mut per = Vec::new();
    for c in 0..chains {
        let w: Vec<_> = (0..16).map(|i| wr((c * 16 + i) as u64, i == 15)).collect();
        let t0 = Instant::now();
        a.post_send(&w)
            .map_err(|(er, _)| format!("ibv_post_send: {er}"))?;
        spin_one(&cq_a)?;
        per.push(us(t0.elapsed()) / 16.0);
    }
    env.emit(
        "post",
        &[
            ("n", chains.to_string()),
            ("wrs_per_post", "16".into()),
            ("complete_us", f(median(&mut per))),
        ],
    );
    Ok(())
}

const USAGE: &str = "usage: xenib-bench --dev NAME [--gid-index N] [--quick] reg|cq|qp|qp-rts|post...";

fn main() -> ExitCode {
    let mut dev = None;
    let mut gid = None;
    let mut quick = false;
    let mut tests = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dev" | "-d" => dev = it.next(),
            "--gid-index" | "-g" => match it.next().and_then(|v| v.parse().ok()) {
                Some(g) => gid = Some(g),
                None => {
                    eprintln!("{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--quick" => quick = true,
            "reg" | "cq" | "qp" | "qp-rts" | "post" => tests.push(a),
            _ => {
                eprintln!("xenib-bench: unknown argument {a}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(dev) = dev else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let env = match Env::open(&dev, gid, quick) {
        Ok(e) => e,
        Err(er) => {
            eprintln!("xenib-bench: {dev}: {er}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    for t in &tests {
        let r = match t.as_str() {
            "reg" => bench_reg(&env),
            "cq" => bench_cq(&env),
            "qp" => bench_qp(&env, false),
            "qp-rts" => bench_qp(&env, true),
            "post" => bench_post(&env),
            _ => unreachable!(),
        };
        if let Err(er) = r {
            eprintln!("xenib-bench: {dev} {t}: {er}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
