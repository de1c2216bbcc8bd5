// SPDX-License-Identifier: GPL-2.0
//! The test cases. Safe Rust only: everything goes through `verbs`.
//!
//! Every case builds its own objects (so an error case that moves a QP to
//! the error state cannot disturb the next case) and checks data byte for
//! byte, with guard bytes around every destination so that a device writing
//! too much, too little or in the wrong place is caught. The error cases
//! assert the exact status/errno the native soft-RoCE device (rxe) gives.

use std::rc::Rc;
use std::time::Duration;

use nix::errno::Errno;

use crate::verbs::{
    access, ibv_mtu, ibv_qp_state, ibv_wc_opcode as op, ibv_wc_status as st, wc_status_str, Ah,
    Buf, CompChannel, Context, Cq, DeviceAttr, Gid, Mr, Pd, PortAttr, Qp, QpCaps, QpTransition,
    QpType, RecvWr, Route, SendOp, SendWr, Sge, Srq, Wc, ATOMIC_NONE, GRH_LEN, LINK_LAYER_ETHERNET,
    PORT_ACTIVE, WC_GRH,
};
use crate::verbs::{raw_uverbs_write, raw_uverbs_write_resp, unmapped_page, Mw, MW_TYPE_1, MW_TYPE_2};
use crate::verbs::{Ioctl, Mapping, ATTR_VALID_OUTPUT};

pub enum Outcome {
    Pass(String),
    Skip(String),
    Fail(String),
}

pub type CaseResult = Result<Outcome, String>;

pub struct Case {
    pub name: &'static str,
    pub what: &'static str,
    pub run: fn(&Env) -> CaseResult,
}

/// How long to wait for a completion before calling the device broken.
/// Generous: the test guest runs under TCG.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait to be sure that something does NOT happen.
const QUIET: Duration = Duration::from_millis(200);
const PORT: u8 = 1;
/// Guard byte around every destination buffer.
const GUARD: u8 = 0xa5;
const QKEY: u32 = 0x1111_1111;

/// The device under test, opened once.
pub struct Env {
    /// Its name (`rxe0`, `xib0`), for sysfs.
    pub name: String,
    /// Whether it is xenib's paravirtual device (`node_desc`), for the
    /// few results that differ from the real device's on purpose.
    pub paravirtual: bool,
    pub ctx: Context,
    pub dev: DeviceAttr,
    pub port: PortAttr,
    pub gid_index: i32,
    pub gid: Gid,
    /// Active path MTU in bytes.
    pub mtu: usize,
}

impl Env {
    pub fn open(name: &str, gid_index: Option<i32>) -> Result<Env, String> {
        let ctx = Context::open(name).map_err(|e| {
            let names = Context::device_names().unwrap_or_default();
            format!("cannot open {name}: {e} (devices: [{}])", names.join(" "))
        })?;
        let dev = ctx.query_device().ctx("ibv_query_device")?;
        let port = ctx.query_port(PORT).ctx("ibv_query_port")?;
        let gid_index = match gid_index {
            Some(i) => i,
            None => (0..port.gid_tbl_len)
                .find(|&i| ctx.query_gid(PORT, i).is_ok_and(|g| g.is_ipv4_mapped()))
                .ok_or("no IPv4-mapped GID on port 1 (give --gid-index)")?,
        };
        let gid = ctx.query_gid(PORT, gid_index).ctx("ibv_query_gid")?;
        let mtu = mtu_bytes(port.active_mtu).ok_or("bad active_mtu")?;
        let node_desc = std::fs::read_to_string(format!("/sys/class/infiniband/{name}/node_desc"))
            .unwrap_or_default();
        Ok(Env {
            name: name.to_string(),
            paravirtual: node_desc.starts_with("xenib paravirtual RDMA"),
            ctx,
            dev,
            port,
            gid_index,
            gid,
            mtu,
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

    fn rd_atomic(&self) -> u8 {
        self.dev.max_qp_rd_atom.clamp(1, 16) as u8
    }
}

fn mtu_bytes(m: u32) -> Option<usize> {
    Some(match m {
        ibv_mtu::IBV_MTU_256 => 256,
        ibv_mtu::IBV_MTU_512 => 512,
        ibv_mtu::IBV_MTU_1024 => 1024,
        ibv_mtu::IBV_MTU_2048 => 2048,
        ibv_mtu::IBV_MTU_4096 => 4096,
        _ => return None,
    })
}

trait Ctx<T> {
    fn ctx(self, what: &str) -> Result<T, String>;
}

impl<T> Ctx<T> for Result<T, Errno> {
    fn ctx(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

impl<T> Ctx<T> for Result<T, (Errno, usize)> {
    fn ctx(self, what: &str) -> Result<T, String> {
        self.map_err(|(e, i)| format!("{what}: {e} at WR {i}"))
    }
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Deterministic pseudo-random bytes (xorshift64*), different per seed.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Byte-for-byte comparison naming the first difference.
fn same(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{what}: {} bytes, want {}", got.len(), want.len()));
    }
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        let bad = got.iter().zip(want).filter(|(a, b)| a != b).count();
        return Err(format!(
            "{what}: byte {i} is {:#04x}, want {:#04x} ({bad} of {} bytes differ)",
            got[i],
            want[i],
            got.len()
        ));
    }
    Ok(())
}

/// Checks that `len` bytes at `off` of `mr` are all the guard byte.
fn guard_intact(what: &str, mr: &Mr, off: usize, len: usize) -> Result<(), String> {
    same(what, &mr.read(off, len), &vec![GUARD; len])
}

fn status_name(s: u32) -> String {
    format!("{} ({s})", wc_status_str(s))
}

/// Waits for exactly one completion on `cq`.
fn one_wc(cq: &Cq, what: &str) -> Result<Wc, String> {
    let v = cq.poll_n(1, TIMEOUT).ctx("ibv_poll_cq")?;
    v.into_iter()
        .next()
        .ok_or_else(|| format!("{what}: no completion within {TIMEOUT:?}"))
}

/// Waits for one successful completion of the given opcode and wr_id.
fn ok_wc(cq: &Cq, what: &str, wr_id: u64, opcode: u32) -> Result<Wc, String> {
    let wc = one_wc(cq, what)?;
    ensure!(
        wc.status == st::IBV_WC_SUCCESS,
        "{what}: completion status {}",
        status_name(wc.status)
    );
    ensure!(
        wc.wr_id == wr_id,
        "{what}: wr_id {:#x}, want {wr_id:#x}",
        wc.wr_id
    );
    ensure!(
        wc.opcode == opcode,
        "{what}: opcode {}, want {opcode}",
        wc.opcode
    );
    Ok(wc)
}

/// Checks that no completion shows up on `cq` for a short while.
fn no_wc(cq: &Cq, what: &str) -> Result<(), String> {
    let v = cq.poll_n(1, QUIET).ctx("ibv_poll_cq")?;
    ensure!(v.is_empty(), "{what}: unexpected completion {:?}", v[0]);
    Ok(())
}

fn qp_state_name(s: u32) -> &'static str {
    match s {
        ibv_qp_state::IBV_QPS_RESET => "RESET",
        ibv_qp_state::IBV_QPS_INIT => "INIT",
        ibv_qp_state::IBV_QPS_RTR => "RTR",
        ibv_qp_state::IBV_QPS_RTS => "RTS",
        ibv_qp_state::IBV_QPS_SQD => "SQD",
        ibv_qp_state::IBV_QPS_SQE => "SQE",
        ibv_qp_state::IBV_QPS_ERR => "ERR",
        _ => "?",
    }
}

fn expect_state(qp: &Qp, what: &str, want: u32) -> Result<(), String> {
    let s = qp.state().ctx("ibv_query_qp")?;
    ensure!(
        s == want,
        "{what}: QP state {}, want {}",
        qp_state_name(s),
        qp_state_name(want)
    );
    Ok(())
}

/// Waits (up to 1 s) for a QP to reach ERR after an error completion: rxe
/// posts a remote error's completion before it moves the QP to ERR
/// (rxe_completer: do_complete() then rxe_qp_error()), so a query right
/// after polling the completion may still see RTS.
fn expect_err_state(qp: &Qp, what: &str) -> Result<(), String> {
    let end = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        let s = qp.state().ctx("ibv_query_qp")?;
        if s == ibv_qp_state::IBV_QPS_ERR {
            return Ok(());
        }
        ensure!(
            std::time::Instant::now() < end,
            "{what}: QP state {} 1 s after the error, want ERR",
            qp_state_name(s)
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn send(wr_id: u64, sges: Vec<Sge>) -> SendWr<'static> {
    SendWr {
        wr_id,
        op: SendOp::Send,
        sges,
        signaled: true,
        inline: false,
    }
}

fn rdma(wr_id: u64, op: SendOp<'static>, sges: Vec<Sge>) -> SendWr<'static> {
    SendWr {
        wr_id,
        op,
        sges,
        signaled: true,
        inline: false,
    }
}

fn recv(wr_id: u64, sges: Vec<Sge>) -> RecvWr {
    RecvWr { wr_id, sges }
}

// ---------------------------------------------------------------------------
// Connected RC QPs

const DEFAULT_CAPS: QpCaps = QpCaps {
    max_send_wr: 64,
    max_recv_wr: 64,
    max_send_sge: 4,
    max_recv_sge: 4,
    max_inline_data: 64,
};

/// Two RC QPs connected to each other on the device (a -> b is the
/// direction the cases use), each with its own CQ.
struct RcPair {
    pd: Pd,
    cq_a: Rc<Cq>,
    cq_b: Rc<Cq>,
    a: Qp,
    b: Qp,
}

const QP_ACCESS: u32 =
    access::LOCAL_WRITE | access::REMOTE_WRITE | access::REMOTE_READ | access::REMOTE_ATOMIC;

/// Moves `qp` RESET -> INIT -> RTR -> RTS towards `remote` (rc_pingpong's
/// sequence, addressed by GID).
fn connect_rc(env: &Env, qp: &Qp, psn: u32, remote: &Qp, remote_psn: u32) -> Result<(), String> {
    connect_rc_to(env, qp, psn, remote.qp_num(), remote_psn, env.gid)
}

/// `connect_rc` towards QP `rqpn` of the port with GID `rgid`.
fn connect_rc_to(env: &Env, qp: &Qp, psn: u32, rqpn: u32, rpsn: u32, rgid: Gid) -> Result<(), String> {
    let route = Route {
        dgid: rgid,
        ..env.route()
    };
    connect_rc_via(env, qp, psn, rqpn, rpsn, &route)
}

/// `connect_rc` towards QP `rqpn` along `route`.
fn connect_rc_via(env: &Env, qp: &Qp, psn: u32, rqpn: u32, rpsn: u32, route: &Route) -> Result<(), String> {
    let t = QpTransition {
        path_mtu: env.port.active_mtu,
        dest_qp_num: rqpn,
        rq_psn: rpsn,
        sq_psn: psn,
        access: QP_ACCESS,
        port: PORT,
        max_rd_atomic: env.rd_atomic(),
        max_dest_rd_atomic: env.rd_atomic(),
        ..Default::default()
    };
    qp.to_init(QpType::Rc, &t).ctx("modify_qp RESET->INIT")?;
    qp.to_rtr(QpType::Rc, &t, route).ctx("modify_qp INIT->RTR")?;
    qp.to_rts(QpType::Rc, &t).ctx("modify_qp RTR->RTS")?;
    Ok(())
}

impl RcPair {
    fn new(env: &Env) -> Result<RcPair, String> {
        let pd = Pd::alloc(&env.ctx).ctx("ibv_alloc_pd")?;
        RcPair::with_pd(env, pd, None, DEFAULT_CAPS)
    }

    fn with_pd(env: &Env, pd: Pd, cq_b: Option<Rc<Cq>>, caps: QpCaps) -> Result<RcPair, String> {
        let cq_a = Cq::new(&env.ctx, 256, None).ctx("ibv_create_cq")?;
        let cq_b = match cq_b {
            Some(c) => c,
            None => Cq::new(&env.ctx, 256, None).ctx("ibv_create_cq")?,
        };
        let a = Qp::new(&pd, QpType::Rc, &cq_a, &cq_a, None, caps).ctx("ibv_create_qp")?;
        let b = Qp::new(&pd, QpType::Rc, &cq_b, &cq_b, None, caps).ctx("ibv_create_qp")?;
        connect_rc(env, &a, 0x1234, &b, 0x5678)?;
        connect_rc(env, &b, 0x5678, &a, 0x1234)?;
        Ok(RcPair {
            pd,
            cq_a,
            cq_b,
            a,
            b,
        })
    }

    /// A registered buffer filled with guard bytes.
    fn mr(&self, len: usize, acc: u32) -> Result<Mr, String> {
        let mr = Mr::alloc(&self.pd, len, acc).ctx("ibv_reg_mr")?;
        mr.buf().fill(0, len, GUARD);
        Ok(mr)
    }
}

// ---------------------------------------------------------------------------
// Device, PD, MR

fn device_query(env: &Env) -> CaseResult {
    let d = &env.dev;
    ensure!(d.phys_port_cnt >= 1, "phys_port_cnt {}", d.phys_port_cnt);
    ensure!(
        d.max_qp > 0 && d.max_cq > 0 && d.max_mr > 0 && d.max_pd > 0,
        "zero limits {d:?}"
    );
    ensure!(
        d.max_qp_wr >= 64 && d.max_sge >= 4 && d.max_cqe >= 256,
        "small limits {d:?}"
    );
    let p = &env.port;
    ensure!(
        p.state == PORT_ACTIVE,
        "port 1 state {}, want ACTIVE ({PORT_ACTIVE})",
        p.state
    );
    ensure!(
        p.link_layer == LINK_LAYER_ETHERNET,
        "link layer {}, want Ethernet",
        p.link_layer
    );
    ensure!(p.gid_tbl_len > 0, "empty GID table");
    let mut v4 = Vec::new();
    for i in 0..p.gid_tbl_len {
        match env.ctx.query_gid(PORT, i) {
            Ok(g) if g.is_ipv4_mapped() => v4.push(i),
            _ => {}
        }
    }
    // The GID in use: a valid entry (an IPv4-mapped one over the loopback;
    // over Xen, the backend's default GID, see the admin guide).
    ensure!(
        env.gid.0 != [0u8; 16],
        "gid[{}] is empty (IPv4 GIDs at {v4:?})",
        env.gid_index
    );
    ensure!(
        env.ctx.query_gid(PORT, env.gid_index).ok() == Some(env.gid),
        "gid[{}] reads back differently",
        env.gid_index
    );
    // Capabilities xenib refuses are not advertised (xen_ring caps.rs):
    // XRC (EOPNOTSUPP), raw packet QPs and their offloads, flow steering,
    // IPoIB's offloads. rxe has none of them, so on rxe0 and on an
    // rxe-backed xib0 this holds anyway; it matters with an HCA behind.
    let unserved = DEVICE_XRC | DEVICE_MANAGED_FLOW_STEERING | DEVICE_RAW_IP_CSUM | DEVICE_RAW_MULTI;
    ensure!(
        d.device_cap_flags & unserved == 0,
        "device_cap_flags {:#x} advertise unserved {:#x}",
        d.device_cap_flags,
        d.device_cap_flags & unserved
    );
    // Out-of-range GID index and port must fail, not return garbage.
    ensure!(
        env.ctx.query_gid(PORT, p.gid_tbl_len).is_err(),
        "query_gid past the table succeeded"
    );
    ensure!(
        env.ctx.query_port(d.phys_port_cnt + 1).is_err(),
        "query_port past the ports succeeded"
    );
    Ok(Outcome::Pass(format!(
        "fw {} max_qp {} max_qp_wr {} max_sge {} max_cqe {} max_mr_size {:#x} atomic_cap {} \
         max_qp_rd_atom {}; port ACTIVE mtu {}; IPv4 GIDs at {v4:?}",
        d.fw_ver,
        d.max_qp,
        d.max_qp_wr,
        d.max_sge,
        d.max_cqe,
        d.max_mr_size,
        d.atomic_cap,
        d.max_qp_rd_atom,
        env.mtu
    )))
}

fn pd_alloc(env: &Env) -> CaseResult {
    let pds: Vec<Pd> = (0..4)
        .map(|_| Pd::alloc(&env.ctx).ctx("ibv_alloc_pd"))
        .collect::<Result<_, _>>()?;
    let mut h: Vec<u32> = pds.iter().map(Pd::handle).collect();
    h.sort_unstable();
    h.dedup();
    ensure!(h.len() == 4, "PD handles not distinct: {h:?}");
    drop(pds);
    // Reusable after dealloc.
    Pd::alloc(&env.ctx).ctx("ibv_alloc_pd after dealloc")?;
    Ok(Outcome::Pass(String::new()))
}

fn reg_mr_case(env: &Env, buf_len: usize, off: usize, len: usize) -> CaseResult {
    let pd = Pd::alloc(&env.ctx).ctx("ibv_alloc_pd")?;
    let buf = Buf::new(buf_len);
    let want_addr = buf.addr() + off as u64;
    let mr = Mr::register(&pd, buf, off, len, access::ALL).ctx("ibv_reg_mr")?;
    ensure!(
        mr.lkey() != 0 && mr.rkey() != 0,
        "lkey {:#x} rkey {:#x}",
        mr.lkey(),
        mr.rkey()
    );
    let (addr, rlen) = mr.reported_range();
    ensure!(
        addr == want_addr && rlen == len,
        "mr addr/length {addr:#x}/{rlen}, want {want_addr:#x}/{len}"
    );
    // Two registrations of the same memory get different keys.
    let mr2 = Mr::alloc(&pd, 4096, access::LOCAL_WRITE).ctx("second ibv_reg_mr")?;
    ensure!(
        mr2.lkey() != mr.lkey(),
        "two MRs share lkey {:#x}",
        mr.lkey()
    );
    mr2.dereg().ctx("ibv_dereg_mr")?;
    let note = format!("lkey {:#x} rkey {:#x}", mr.lkey(), mr.rkey());
    mr.dereg().ctx("ibv_dereg_mr")?;
    Ok(Outcome::Pass(note))
}

fn mr_1page(env: &Env) -> CaseResult {
    reg_mr_case(env, 4096, 0, 4096)
}

fn mr_3pages_unaligned(env: &Env) -> CaseResult {
    // Starts 123 bytes into a page and so spans 4 pages.
    reg_mr_case(env, 4 * 4096, 123, 3 * 4096)
}

fn mr_1mib(env: &Env) -> CaseResult {
    reg_mr_case(env, 1 << 20, 0, 1 << 20)
}

fn mr_64mib(env: &Env) -> CaseResult {
    reg_mr_case(env, 64 << 20, 0, 64 << 20)
}

// ---------------------------------------------------------------------------
// CQ with a completion channel

fn cq_event_channel(env: &Env) -> CaseResult {
    let pd = Pd::alloc(&env.ctx).ctx("ibv_alloc_pd")?;
    let ch = CompChannel::new(&env.ctx).ctx("ibv_create_comp_channel")?;
    let cq_b = Cq::new(&env.ctx, 16, Some(&ch)).ctx("ibv_create_cq with channel")?;
    let p = RcPair::with_pd(env, pd, Some(cq_b.clone()), DEFAULT_CAPS)?;
    let src = p.mr(4096, access::LOCAL_WRITE)?;
    let dst = p.mr(4096, access::LOCAL_WRITE)?;
    for round in 0..2u64 {
        cq_b.req_notify(false).ctx("ibv_req_notify_cq")?;
        ensure!(
            !ch.readable(Duration::ZERO).ctx("poll")?,
            "round {round}: channel readable before any completion"
        );
        let data = pattern(100 + round, 1000);
        src.write(0, &data);
        p.b.post_recv(&[recv(round, vec![dst.sge(0, 4096)])])
            .ctx("ibv_post_recv")?;
        p.a.post_send(&[send(round, vec![src.sge(0, 1000)])])
            .ctx("ibv_post_send")?;
        ensure!(
            cq_b.get_event(TIMEOUT).ctx("ibv_get_cq_event")?,
            "round {round}: no CQ event within {TIMEOUT:?}"
        );
        ensure!(cq_b.ack_events() == 1, "round {round}: more than one event");
        let wc = ok_wc(&cq_b, "recv", round, op::IBV_WC_RECV)?;
        ensure!(wc.byte_len == 1000, "byte_len {}", wc.byte_len);
        same("received data", &dst.read(0, 1000), &data)?;
        ok_wc(&p.cq_a, "send", round, op::IBV_WC_SEND)?;
    }
    // Not re-armed: a further completion must not raise an event.
    p.b.post_recv(&[recv(9, vec![dst.sge(0, 4096)])])
        .ctx("ibv_post_recv")?;
    p.a.post_send(&[send(9, vec![src.sge(0, 8)])])
        .ctx("ibv_post_send")?;
    ok_wc(&cq_b, "recv", 9, op::IBV_WC_RECV)?;
    ensure!(
        !ch.readable(QUIET).ctx("poll")?,
        "event without ibv_req_notify_cq"
    );
    ok_wc(&p.cq_a, "send", 9, op::IBV_WC_SEND)?;
    Ok(Outcome::Pass(
        "2 armed completions woke the channel, unarmed one did not".into(),
    ))
}

// ---------------------------------------------------------------------------
// RC data transfer

/// SENDs of `len` bytes from src[soff..] into a receive buffer with guards.
fn send_recv_once(p: &RcPair, src: &Mr, dst: &Mr, len: usize, seed: u64) -> Result<(), String> {
    let data = pattern(seed, len);
    src.write(0, &data);
    let slack = 64;
    dst.buf().fill(0, len + 2 * slack, GUARD);
    let sges = if len == 0 {
        vec![]
    } else {
        vec![src.sge(0, len)]
    };
    p.b.post_recv(&[recv(seed, vec![dst.sge(slack, len + slack)])])
        .ctx("ibv_post_recv")?;
    p.a.post_send(&[send(seed, sges)]).ctx("ibv_post_send")?;
    let what = format!("{len}-byte send");
    ok_wc(&p.cq_a, &what, seed, op::IBV_WC_SEND)?;
    let wc = ok_wc(&p.cq_b, &what, seed, op::IBV_WC_RECV)?;
    ensure!(
        wc.byte_len as usize == len,
        "{what}: recv byte_len {}",
        wc.byte_len
    );
    ensure!(
        wc.qp_num == p.b.qp_num(),
        "{what}: recv qp_num {:#x}",
        wc.qp_num
    );
    ensure!(wc.imm.is_none(), "{what}: recv has immediate data");
    guard_intact(&format!("{what}: bytes before the buffer"), dst, 0, slack)?;
    same(
        &format!("{what}: received data"),
        &dst.read(slack, len),
        &data,
    )?;
    guard_intact(
        &format!("{what}: bytes after the message"),
        dst,
        slack + len,
        2 * slack,
    )?;
    Ok(())
}

fn rc_send_recv(env: &Env) -> CaseResult {
    let p = RcPair::new(env)?;
    let max = 1 << 20;
    let src = p.mr(max, access::LOCAL_WRITE)?;
    let dst = p.mr(max + 256, access::LOCAL_WRITE)?;
    let sizes = [
        0,
        1,
        63,
        env.mtu - 1,
        env.mtu,
        env.mtu + 1,
        4096,
        65537,
        max,
    ];
    for (i, &len) in sizes.iter().enumerate() {
        send_recv_once(&p, &src, &dst, len, 1000 + i as u64)?;
    }
    Ok(Outcome::Pass(format!("sizes {sizes:?}")))
}

/// An address vector's other fields travel with it, on a path and in an
/// AH: an RC pair connected with a flow label, traffic class, SL, static rate, and InfiniBand's dlid and source path bits passes
/// data, and `ibv_query_qp` reads the path back. On a RoCE port the LRH
/// fields mean nothing and are dropped (0), the hop limit is the IP
/// route's, and rxe keeps no SL or static rate (0); xib0 must read back
/// exactly what rxe0 does, its source GID at the index of its own table.
fn rc_path_fields(env: &Env) -> CaseResult {
    let pd = Pd::alloc(&env.ctx).ctx("ibv_alloc_pd")?;
    let cq_a = Cq::new(&env.ctx, 64, None).ctx("ibv_create_cq")?;
    let cq_b = Cq::new(&env.ctx, 64, None).ctx("ibv_create_cq")?;
    let a = Qp::new(&pd, QpType::Rc, &cq_a, &cq_a, None, DEFAULT_CAPS).ctx("ibv_create_qp")?;
    let b = Qp::new(&pd, QpType::Rc, &cq_b, &cq_b, None, DEFAULT_CAPS).ctx("ibv_create_qp")?;
    let route = Route {
        flow_label: 0x12345,
        traffic_class: 0x20,
        sl: 3,
        static_rate: 3, // IBV_RATE_10_GBPS
        dlid: 0x1234,
        src_path_bits: 5,
        ..env.route()
    };
    connect_rc_via(env, &a, 0x1234, b.qp_num(), 0x5678, &route)?;
    connect_rc_via(env, &b, 0x5678, a.qp_num(), 0x1234, &route)?;
    ensure!(
        env.port.link_layer == LINK_LAYER_ETHERNET,
        "link layer {}: this case expects RoCE (rxe)",
        env.port.link_layer
    );
    let want = Route {
        dlid: 0,
        src_path_bits: 0,
        sl: 0,
        static_rate: 0,
        // On RoCE the core takes the hop limit from the IP route it
        // resolves the destination MAC with (ib_resolve_eth_dmac): the
        // default TTL.
        hop_limit: 64,
        ..route
    };
    for (name, qp) in [("a", &a), ("b", &b)] {
        let (global, got) = qp.path().ctx("ibv_query_qp IBV_QP_AV")?;
        ensure!(global, "QP {name}: the path read back has no GRH");
        ensure!(got == want, "QP {name}: path read back {got:?}, want {want:?}");
    }
    let p = RcPair {
        pd,
        cq_a,
        cq_b,
        a,
        b,
    };
    let src = p.mr(4096, access::LOCAL_WRITE)?;
    // send_recv_once puts 64 guard bytes either side of what it receives.
    let dst = p.mr(4096 + 256, access::LOCAL_WRITE)?;
    send_recv_once(&p, &src, &dst, 4096, 0x5a)?;
    let ah = Ah::new(&p.pd, &route).ctx("ibv_create_ah with SL, rate, dlid, path bits")?;
    drop(ah);
    Ok(Outcome::Pass(format!(
        "read back flow label {:#x}, traffic class {:#x}, hop limit {}, sgid index {}; \
         dlid, path bits, SL and rate 0 (RoCE, rxe)",
        want.flow_label, want.traffic_class, want.hop_limit, want.sgid_index
    )))
}

fn rc_send_multi_sge(env: &Env) -> CaseResult {
    let p = RcPair::new(env)?;
    let s1 = p.mr(8192, access::LOCAL_WRITE)?;
    let s2 = p.mr(8192, access::LOCAL_WRITE)?;
    let d1 = p.mr(8192, access::LOCAL_WRITE)?;
    let d2 = p.mr(8192, access::LOCAL_WRITE)?;
    // Gather from 3 pieces in 2 MRs (odd offsets and lengths) ...
    let pieces = [(&s1, 5usize, 100usize), (&s2, 4001, 4000), (&s1, 7000, 3)];
    let mut want = Vec::new();
    for (i, (mr, off, len)) in pieces.iter().enumerate() {
        let d = pattern(2000 + i as u64, *len);
        mr.write(*off, &d);
        want.extend_from_slice(&d);
    }
    let total = want.len(); // 4103
                            // ... and scatter into 3 differently-sized pieces of 2 MRs.
    let scatter = [(&d1, 1usize, 50usize), (&d2, 333, 4000), (&d1, 6000, 100)];
    p.b.post_recv(&[recv(
        1,
        scatter.iter().map(|(m, o, l)| m.sge(*o, *l)).collect(),
    )])
    .ctx("ibv_post_recv")?;
    p.a.post_send(&[send(
        1,
        pieces.iter().map(|(m, o, l)| m.sge(*o, *l)).collect(),
    )])
    .ctx("ibv_post_send")?;
    ok_wc(&p.cq_a, "send", 1, op::IBV_WC_SEND)?;
    let wc = ok_wc(&p.cq_b, "recv", 1, op::IBV_WC_RECV)?;
    ensure!(
        wc.byte_len as usize == total,
        "byte_len {}, want {total}",
        wc.byte_len
    );
    let mut got = Vec::new();
    let mut left = total;
    for (mr, off, len) in scatter {
        let n = len.min(left);
        got.extend(mr.read(off, n));
        guard_intact("byte before a scatter piece", mr, off - 1, 1)?;
        guard_intact("bytes after a scatter piece", mr, off + n, 16)?;
        left -= n;
    }
    same("scattered data", &got, &want)?;
    Ok(Outcome::Pass(format!(
        "{total} bytes, 3 gather SGEs in 2 MRs, 3 scatter SGEs in 2 MRs"
    )))
}

fn rc_send_inline(env: &Env) -> CaseResult {
    let p = RcPair::new(env)?;
    let inl = p.a.caps().max_inline_data as usize;
    if inl == 0 {
        return Ok(Outcome::Skip(
            "device gives no inline data (max_inline_data 0)".into(),
        ));
    }
    let len = inl.min(64);
    let dst = p.mr(4096, access::LOCAL_WRITE)?;
    // Inline data comes from unregistered memory: the lkey is not used.
    let src = Buf::new(4096);
    let data = pattern(3000, len);
    src.write(0, &data);
    p.b.post_recv(&[recv(1, vec![dst.sge(0, 4096)])])
        .ctx("ibv_post_recv")?;
    let wr = SendWr {
        wr_id: 1,
        op: SendOp::Send,
        sges: vec![Sge {
            addr: src.addr(),
            length: len as u32,
            lkey: 0,
        }],
        signaled: true,
        inline: true,
    };
    p.a.post_send(&[wr]).ctx("ibv_post_send inline")?;
    // The data was copied at post time: changing it now must not matter.
    src.fill(0, len, 0);
    ok_wc(&p.cq_a, "send", 1, op::IBV_WC_SEND)?;
    let wc = ok_wc(&p.cq_b, "recv", 1, op::IBV_WC_RECV)?;
    ensure!(wc.byte_len as usize == len, "byte_len {}", wc.byte_len);
    same("received inline data", &dst.read(0, len), &data)?;
    guard_intact("after the message", &dst, len, 64)?;
    Ok(Outcome::Pass(format!(
        "{len} bytes inline (max_inline_data {inl})"
    )))
}

/// `ibv_rereg_mr`: a remote write is refused without REMOTE_WRITE and
/// accepted after an access rereg; after a translation rereg the same keys'
/// MR covers the new buffer (the data lands there, not in the old one).
fn mr_rereg(env: &Env) -> CaseResult {
    let p = RcPair::new(env)?;
    let src = p.mr(4096, access::LOCAL_WRITE)?;
    let mut dst = p.mr(8192, access::LOCAL_WRITE)?;
    let data = pattern(77, 1000);
    src.write(0, &data);
    match dst.rereg(None, Some(access::LOCAL_WRITE | access::REMOTE_WRITE)) {
        // librxe (rdma-core 44) has no rereg_mr: the same answer on either device.
        Err(Errno::EOPNOTSUPP) => return Ok(Outcome::Skip("the provider has no ibv_rereg_mr".into())),
        r => r.ctx("ibv_rereg_mr(access)")?,
    }
    let op = SendOp::Write { raddr: dst.addr(100), rkey: dst.rkey() };
    p.a.post_send(&[rdma(1, op, vec![src.sge(0, 1000)])]).ctx("ibv_post_send")?;
    ok_wc(&p.cq_a, "write after access rereg", 1, op::IBV_WC_RDMA_WRITE)?;
    same("data after access rereg", &dst.read(100, 1000), &data)?;
    let fresh = Buf::new(8192);
    fresh.fill(0, 8192, GUARD);
    dst.rereg(Some(fresh), Some(access::LOCAL_WRITE | access::REMOTE_WRITE)).ctx("ibv_rereg_mr(translation)")?;
    let data2 = pattern(78, 2000);
    src.write(0, &data2);
    let op = SendOp::Write { raddr: dst.addr(300), rkey: dst.rkey() };
    p.a.post_send(&[rdma(2, op, vec![src.sge(0, 2000)])]).ctx("ibv_post_send")?;
    ok_wc(&p.cq_a, "write after translation rereg", 2, op::IBV_WC_RDMA_WRITE)?;
    same("data in the new buffer", &dst.read(300, 2000), &data2)?;
    guard_intact("new buffer before the target", &dst, 0, 300)?;
    Ok(Outcome::Pass("access and translation reregistration".into()))
}

fn rc_rdma_write(env: &Env) -> CaseResult {
    let p = RcPair::new(env)?;
    let max = 1 << 20;
    let src = p.mr(max, access::LOCAL_WRITE)?;
    let dst = p.mr(max + 8192, access::LOCAL_WRITE | access::REMOTE_WRITE)?;
    let sizes = [1usize, 8, env.mtu + 3, 4096 + 7, 65536, max];
    for (i, &len) in sizes.iter().enumerate() {
        let seed = 4000 + i as u64;
        let roff = 4096 - 17; // unaligned remote address
        dst.buf().fill(0, dst.len(), GUARD);
        let data = pattern(seed, len);
        src.write(0, &data);
        let op = SendOp::Write {
            raddr: dst.addr(roff),
            rkey: dst.rkey(),
        };
        p.a.post_send(&[rdma(seed, op, vec![src.sge(0, len)])])
            .ctx("ibv_post_send")?;
        let what = format!("{len}-byte write");
        ok_wc(&p.cq_a, &what, seed, op::IBV_WC_RDMA_WRITE)?;
        guard_intact(&format!("{what}: before the target"), &dst, 0, roff)?;
        same(&format!("{what}: remote data"), &dst.read(roff, len), &data)?;
        guard_intact(&format!("{what}: after the target"), &dst, roff + len, 4096)?;
    }
    // A plain RDMA WRITE consumes no receive and completes nothing remotely.
    no_wc(&p.cq_b, "responder CQ")?;
    Ok(Outcome::Pass(format!("sizes {sizes:?}")))
}

/// Registers, deregisters and registers the same buffer again (on xib0
/// the registration cache serves the second), then replaces the buffer's
/// pages (munmap + mmap MAP_FIXED at the same address) and registers it
/// again: each RDMA WRITE must land in the memory the buffer has now, and
/// a deregistered MR's rkey must be dead.
fn mr_cache_reuse(env: &Env) -> CaseResult {
    let p = RcPair::new(env)?;
    let len = 1 << 20;
    let acc = access::LOCAL_WRITE | access::REMOTE_WRITE;
    let src = p.mr(len, access::LOCAL_WRITE)?;
    let write_into = |dst: &Mr, seed: u64, what: &str| -> Result<(), String> {
        dst.buf().fill(0, len, GUARD);
        let data = pattern(seed, len);
        src.write(0, &data);
        let op = SendOp::Write {
            raddr: dst.addr(0),
            rkey: dst.rkey(),
        };
        p.a.post_send(&[rdma(seed, op, vec![src.sge(0, len)])])
            .ctx("ibv_post_send")?;
        ok_wc(&p.cq_a, what, seed, op::IBV_WC_RDMA_WRITE)?;
        same(what, &dst.read(0, len), &data)
    };
    let dst = Mr::register(&p.pd, Buf::new(len), 0, len, acc).ctx("ibv_reg_mr")?;
    write_into(&dst, 7100, "write into the first MR")?;
    let mut old = vec![dst.rkey()];
    let buf = dst.dereg().ctx("ibv_dereg_mr")?;
    let dst = Mr::register(&p.pd, buf, 0, len, acc).ctx("ibv_reg_mr of the same buffer")?;
    write_into(&dst, 7101, "write into the same buffer registered again")?;
    old.push(dst.rkey());
    let buf = dst.dereg().ctx("ibv_dereg_mr")?;
    buf.replace_pages().ctx("munmap + mmap MAP_FIXED")?;
    let dst = Mr::register(&p.pd, buf, 0, len, acc).ctx("ibv_reg_mr over new pages")?;
    write_into(&dst, 7102, "write into new pages at the same address")?;
    // A key of a deregistered MR that the current one does not share
    // (rxe may reuse an index; its key byte is random).
    let Some(&dead) = old.iter().find(|k| **k != dst.rkey()) else {
        return Ok(Outcome::Pass("every rkey equal: the dead-key check did not run".into()));
    };
    src.write(0, &pattern(7103, 256));
    dst.buf().fill(0, len, GUARD);
    let op = SendOp::Write {
        raddr: dst.addr(0),
        rkey: dead,
    };
    expect_failed_wc(
        &p,
        rdma(7103, op, vec![src.sge(0, 256)]),
        RXE_REMOTE_ACCESS_ERR,
        "write with a deregistered MR's rkey",
    )?;
    guard_intact("memory after the refused write", &dst, 0, len)?;
    Ok(Outcome::Pass(format!("3 registrations; dead rkey {dead:#x} refused")))
}

fn rc_rdma_write_imm(env: &Env) -> CaseResult {
    let p = RcPair::new(env)?;
    let src = p.mr(8192, access::LOCAL_WRITE)?;
    let dst = p.mr(8192, access::LOCAL_WRITE | access::REMOTE_WRITE)?;
    let len = 3000;
    let data = pattern(5000, len);
    src.write(0, &data);
    let imm = 0xdead_beef;
    // The immediate data consumes a receive WR (no SGE needed).
    p.b.post_recv(&[recv(77, vec![])]).ctx("ibv_post_recv")?;
    let op = SendOp::WriteImm {
        raddr: dst.addr(100),
        rkey: dst.rkey(),
        imm,
    };
    p.a.post_send(&[rdma(1, op, vec![src.sge(0, len)])])
        .ctx("ibv_post_send")?;
    ok_wc(&p.cq_a, "write-imm", 1, op::IBV_WC_RDMA_WRITE)?;
    let wc = ok_wc(&p.cq_b, "recv", 77, op::IBV_WC_RECV_RDMA_WITH_IMM)?;
    ensure!(
        wc.imm == Some(imm),
        "imm_data {:x?}, want Some({imm:#x})",
        wc.imm
    );
    ensure!(
        wc.byte_len as usize == len,
        "recv byte_len {}, want {len}",
        wc.byte_len
    );
    guard_intact("before the target", &dst, 0, 100)?;
    same("remote data", &dst.read(100, len), &data)?;
    guard_intact("after the target", &dst, 100 + len, 1000)?;
    // SEND with immediate too.
    p.b.post_recv(&[recv(78, vec![dst.sge(4096, 4096)])])
        .ctx("ibv_post_recv")?;
    let wr = SendWr {
        wr_id: 2,
        op: SendOp::SendImm(0x0102_0304),
        sges: vec![src.sge(0, 10)],
        signaled: true,
        inline: false,
    };
    p.a.post_send(&[wr]).ctx("ibv_post_send")?;
    ok_wc(&p.cq_a, "send-imm", 2, op::IBV_WC_SEND)?;
    let wc = ok_wc(&p.cq_b, "recv", 78, op::IBV_WC_RECV)?;
    ensure!(
        wc.imm == Some(0x0102_0304),
        "send-imm imm_data {:x?}",
        wc.imm
    );
    ensure!(wc.byte_len == 10, "send-imm byte_len {}", wc.byte_len);
    same("send-imm data", &dst.read(4096, 10), &data[..10])?;
    Ok(Outcome::Pass(format!(
        "{len} bytes + imm {imm:#x}; send-imm 10 bytes + imm 0x01020304"
    )))
}

fn rc_rdma_read(env: &Env) -> CaseResult {
    let p = RcPair::new(env)?;
    let max = 1 << 20;
    let remote = p.mr(max + 4096, access::LOCAL_WRITE | access::REMOTE_READ)?;
    let local = p.mr(max + 8192, access::LOCAL_WRITE)?;
    let sizes = [1usize, env.mtu, 5000, 65536 + 1, max];
    for (i, &len) in sizes.iter().enumerate() {
        let seed = 6000 + i as u64;
        let data = pattern(seed, len);
        remote.write(33, &data);
        local.buf().fill(0, local.len(), GUARD);
        let op = SendOp::Read {
            raddr: remote.addr(33),
            rkey: remote.rkey(),
        };
        p.a.post_send(&[rdma(seed, op, vec![local.sge(4096, len)])])
            .ctx("ibv_post_send")?;
        let what = format!("{len}-byte read");
        let wc = ok_wc(&p.cq_a, &what, seed, op::IBV_WC_RDMA_READ)?;
        ensure!(
            wc.byte_len as usize == len,
            "{what}: byte_len {}",
            wc.byte_len
        );
        guard_intact(&format!("{what}: before"), &local, 0, 4096)?;
        same(&format!("{what}: data"), &local.read(4096, len), &data)?;
        guard_intact(&format!("{what}: after"), &local, 4096 + len, 4096)?;
    }
    // One READ scattered into 3 SGEs.
    let data = pattern(6100, 3000);
    remote.write(0, &data);
    local.buf().fill(0, local.len(), GUARD);
    let sges = vec![
        local.sge(0, 1000),
        local.sge(2000, 1500),
        local.sge(5000, 500),
    ];
    let op = SendOp::Read {
        raddr: remote.addr(0),
        rkey: remote.rkey(),
    };
    p.a.post_send(&[rdma(99, op, sges)]).ctx("ibv_post_send")?;
    ok_wc(&p.cq_a, "scatter read", 99, op::IBV_WC_RDMA_READ)?;
    let mut got = local.read(0, 1000);
    got.extend(local.read(2000, 1500));
    got.extend(local.read(5000, 500));
    same("scatter read data", &got, &data)?;
    guard_intact("scatter read gap", &local, 1000, 1000)?;
    no_wc(&p.cq_b, "responder CQ")?;
    Ok(Outcome::Pass(format!("sizes {sizes:?} + a 3-SGE read")))
}

fn atomics_supported(env: &Env) -> Option<Outcome> {
    (env.dev.atomic_cap == ATOMIC_NONE)
        .then(|| Outcome::Skip("device reports atomic_cap IBV_ATOMIC_NONE".into()))
}

fn rc_atomic_fetch_add(env: &Env) -> CaseResult {
    if let Some(s) = atomics_supported(env) {
        return Ok(s);
    }
    let p = RcPair::new(env)?;
    let remote = p.mr(4096, access::LOCAL_WRITE | access::REMOTE_ATOMIC)?;
    let local = p.mr(4096, access::LOCAL_WRITE)?;
    let start = 0x0123_4567_89ab_cdefu64;
    remote.write_u64(64, start);
    let adds = [1u64, 0xffff_ffff, 0x8000_0000_0000_0000, u64::MAX];
    let mut cur = start;
    for (i, &add) in adds.iter().enumerate() {
        let op = SendOp::FetchAdd {
            raddr: remote.addr(64),
            rkey: remote.rkey(),
            add,
        };
        p.a.post_send(&[rdma(i as u64, op, vec![local.sge(8 * i, 8)])])
            .ctx("ibv_post_send")?;
        let wc = ok_wc(&p.cq_a, "fetch-add", i as u64, op::IBV_WC_FETCH_ADD)?;
        ensure!(
            wc.byte_len == 8 || wc.byte_len == 0,
            "byte_len {}",
            wc.byte_len
        );
        let old = local.read_u64(8 * i);
        ensure!(
            old == cur,
            "fetch-add #{i} returned {old:#x}, want {cur:#x}"
        );
        cur = cur.wrapping_add(add);
        let mem = remote.read_u64(64);
        ensure!(
            mem == cur,
            "after fetch-add #{i} memory is {mem:#x}, want {cur:#x}"
        );
    }
    guard_intact("around the target", &remote, 0, 64)?;
    guard_intact("around the target", &remote, 72, 64)?;
    Ok(Outcome::Pass(format!("4 fetch-adds, final {cur:#x}")))
}

fn rc_atomic_cmp_swap(env: &Env) -> CaseResult {
    if let Some(s) = atomics_supported(env) {
        return Ok(s);
    }
    let p = RcPair::new(env)?;
    let remote = p.mr(4096, access::LOCAL_WRITE | access::REMOTE_ATOMIC)?;
    let local = p.mr(4096, access::LOCAL_WRITE)?;
    let v0 = 0x1111_2222_3333_4444u64;
    let v1 = 0xaaaa_bbbb_cccc_ddddu64;
    remote.write_u64(128, v0);
    let cas = |wr_id: u64, compare, swap| {
        let op = SendOp::CmpSwap {
            raddr: remote.addr(128),
            rkey: remote.rkey(),
            compare,
            swap,
        };
        p.a.post_send(&[rdma(wr_id, op, vec![local.sge(8 * wr_id as usize, 8)])])
            .ctx("ibv_post_send")?;
        ok_wc(&p.cq_a, "cmp-swap", wr_id, op::IBV_WC_COMP_SWAP)?;
        Ok::<u64, String>(local.read_u64(8 * wr_id as usize))
    };
    // Mismatch: returns the current value, memory unchanged.
    let old = cas(0, v0 ^ 1, v1)?;
    ensure!(
        old == v0,
        "failing cmp-swap returned {old:#x}, want {v0:#x}"
    );
    ensure!(
        remote.read_u64(128) == v0,
        "failing cmp-swap changed memory"
    );
    // Match: returns the old value, memory swapped.
    let old = cas(1, v0, v1)?;
    ensure!(old == v0, "cmp-swap returned {old:#x}, want {v0:#x}");
    let mem = remote.read_u64(128);
    ensure!(mem == v1, "after cmp-swap memory is {mem:#x}, want {v1:#x}");
    // Again with the old compare value: fails now.
    let old = cas(2, v0, 0)?;
    ensure!(old == v1, "stale cmp-swap returned {old:#x}, want {v1:#x}");
    ensure!(remote.read_u64(128) == v1, "stale cmp-swap changed memory");
    guard_intact("around the target", &remote, 120, 8)?;
    guard_intact("around the target", &remote, 136, 8)?;
    Ok(Outcome::Pass("miss, hit, stale miss".into()))
}

// ---------------------------------------------------------------------------
// UD

fn ud_qp(env: &Env, pd: &Pd, cq: &Rc<Cq>) -> Result<Qp, String> {
    let caps = QpCaps {
        max_inline_data: 0,
        ..DEFAULT_CAPS
    };
    let qp = Qp::new(pd, QpType::Ud, cq, cq, None, caps).ctx("ibv_create_qp UD")?;
    let t = QpTransition {
        qkey: QKEY,
        port: PORT,
        sq_psn: 0x42,
        ..Default::default()
    };
    qp.to_init(QpType::Ud, &t).ctx("modify_qp UD RESET->INIT")?;
    qp.to_rtr(QpType::Ud, &t, &env.route())
        .ctx("modify_qp UD INIT->RTR")?;
    qp.to_rts(QpType::Ud, &t).ctx("modify_qp UD RTR->RTS")?;
    Ok(qp)
}

fn ud_send_recv(env: &Env) -> CaseResult {
    let pd = Pd::alloc(&env.ctx).ctx("ibv_alloc_pd")?;
    let cq_a = Cq::new(&env.ctx, 64, None).ctx("ibv_create_cq")?;
    let cq_b = Cq::new(&env.ctx, 64, None).ctx("ibv_create_cq")?;
    let a = ud_qp(env, &pd, &cq_a)?;
    let b = ud_qp(env, &pd, &cq_b)?;
    let ah = Ah::new(&pd, &env.route()).ctx("ibv_create_ah")?;
    let src = Mr::alloc(&pd, env.mtu, access::LOCAL_WRITE).ctx("ibv_reg_mr")?;
    let dst = Mr::alloc(&pd, GRH_LEN + env.mtu + 64, access::LOCAL_WRITE).ctx("ibv_reg_mr")?;
    let sizes = [1usize, 100, env.mtu];
    for (i, &len) in sizes.iter().enumerate() {
        let seed = 7000 + i as u64;
        let data = pattern(seed, len);
        src.write(0, &data);
        dst.buf().fill(0, dst.len(), GUARD);
        b.post_recv(&[recv(seed, vec![dst.sge(0, GRH_LEN + env.mtu)])])
            .ctx("ibv_post_recv")?;
        let wr = SendWr {
            wr_id: seed,
            op: SendOp::UdSend {
                ah: &ah,
                qpn: b.qp_num(),
                qkey: QKEY,
            },
            sges: vec![src.sge(0, len)],
            signaled: true,
            inline: false,
        };
        a.post_send(&[wr]).ctx("ibv_post_send UD")?;
        let what = format!("{len}-byte UD send");
        ok_wc(&cq_a, &what, seed, op::IBV_WC_SEND)?;
        let wc = ok_wc(&cq_b, &what, seed, op::IBV_WC_RECV)?;
        ensure!(
            wc.byte_len as usize == GRH_LEN + len,
            "{what}: byte_len {}, want {} (GRH + payload)",
            wc.byte_len,
            GRH_LEN + len
        );
        ensure!(
            wc.wc_flags & WC_GRH != 0,
            "{what}: IBV_WC_GRH not set (flags {:#x})",
            wc.wc_flags
        );
        ensure!(
            wc.src_qp == a.qp_num(),
            "{what}: src_qp {:#x}, want {:#x}",
            wc.src_qp,
            a.qp_num()
        );
        same(
            &format!("{what}: payload after the GRH"),
            &dst.read(GRH_LEN, len),
            &data,
        )?;
        guard_intact(
            &format!("{what}: after the payload"),
            &dst,
            GRH_LEN + len,
            64,
        )?;
    }
    // A wrong Q_Key is dropped silently by the receiver.
    b.post_recv(&[recv(1, vec![dst.sge(0, GRH_LEN + env.mtu)])])
        .ctx("ibv_post_recv")?;
    let wr = SendWr {
        wr_id: 1,
        op: SendOp::UdSend {
            ah: &ah,
            qpn: b.qp_num(),
            qkey: QKEY ^ 1,
        },
        sges: vec![src.sge(0, 8)],
        signaled: true,
        inline: false,
    };
    a.post_send(&[wr]).ctx("ibv_post_send UD bad qkey")?;
    ok_wc(&cq_a, "bad-qkey UD send", 1, op::IBV_WC_SEND)?;
    no_wc(&cq_b, "receiver of a wrong-Q_Key datagram")?;
    Ok(Outcome::Pass(format!(
        "sizes {sizes:?}; wrong Q_Key dropped"
    )))
}

// ---------------------------------------------------------------------------
// SRQ

fn srq_two_qps(env: &Env) -> CaseResult {
    if env.dev.max_srq == 0 || env.dev.max_srq_wr < 64 {
        return Ok(Outcome::Skip(format!(
            "device max_srq {} max_srq_wr {}",
            env.dev.max_srq, env.dev.max_srq_wr
        )));
    }
    let pd = Pd::alloc(&env.ctx).ctx("ibv_alloc_pd")?;
    let srq = Srq::new(&pd, 64, 1).ctx("ibv_create_srq")?;
    let cq_s = Cq::new(&env.ctx, 64, None).ctx("ibv_create_cq")?;
    let cq_r = Cq::new(&env.ctx, 64, None).ctx("ibv_create_cq")?;
    let mk = |srq: Option<&Rc<Srq>>, cq: &Rc<Cq>| {
        Qp::new(&pd, QpType::Rc, cq, cq, srq, DEFAULT_CAPS).ctx("ibv_create_qp")
    };
    let s1 = mk(None, &cq_s)?;
    let s2 = mk(None, &cq_s)?;
    let r1 = mk(Some(&srq), &cq_r)?;
    let r2 = mk(Some(&srq), &cq_r)?;
    connect_rc(env, &s1, 100, &r1, 200)?;
    connect_rc(env, &r1, 200, &s1, 100)?;
    connect_rc(env, &s2, 300, &r2, 400)?;
    connect_rc(env, &r2, 400, &s2, 300)?;
    let slot = 4096;
    let n = 6;
    let src = Mr::alloc(&pd, slot * n, access::LOCAL_WRITE).ctx("ibv_reg_mr")?;
    let dst = Mr::alloc(&pd, slot * n, access::LOCAL_WRITE).ctx("ibv_reg_mr")?;
    dst.buf().fill(0, dst.len(), GUARD);
    let recvs: Vec<RecvWr> = (0..n)
        .map(|i| recv(i as u64, vec![dst.sge(i * slot, slot)]))
        .collect();
    srq.post_recv(&recvs).ctx("ibv_post_srq_recv")?;
    // Messages alternate between the two senders; message i has a distinct
    // length and pattern.
    let msgs: Vec<Vec<u8>> = (0..n)
        .map(|i| pattern(8000 + i as u64, 500 + 311 * i))
        .collect();
    for (i, m) in msgs.iter().enumerate() {
        src.write(i * slot, m);
        let qp = if i % 2 == 0 { &s1 } else { &s2 };
        qp.post_send(&[send(i as u64, vec![src.sge(i * slot, m.len())])])
            .ctx("ibv_post_send")?;
    }
    let sends = cq_s.poll_n(n, TIMEOUT).ctx("ibv_poll_cq")?;
    ensure!(sends.len() == n, "{} of {n} send completions", sends.len());
    for wc in &sends {
        ensure!(
            wc.status == st::IBV_WC_SUCCESS,
            "send status {}",
            status_name(wc.status)
        );
    }
    let wcs = cq_r.poll_n(n, TIMEOUT).ctx("ibv_poll_cq")?;
    ensure!(wcs.len() == n, "{} of {n} receive completions", wcs.len());
    // Per QP, messages arrive in order; the SRQ WR each one used is free.
    let mut next = [0usize, 1usize]; // next message index expected per QP
    let mut used = vec![false; n];
    let mut per_qp = [0, 0];
    for wc in &wcs {
        ensure!(
            wc.status == st::IBV_WC_SUCCESS,
            "recv status {}",
            status_name(wc.status)
        );
        ensure!(wc.opcode == op::IBV_WC_RECV, "recv opcode {}", wc.opcode);
        let q = if wc.qp_num == r1.qp_num() {
            0
        } else if wc.qp_num == r2.qp_num() {
            1
        } else {
            return Err(format!("recv on unknown qp_num {:#x}", wc.qp_num));
        };
        per_qp[q] += 1;
        let slot_i = wc.wr_id as usize;
        ensure!(
            slot_i < n && !used[slot_i],
            "recv wr_id {slot_i} invalid or used twice"
        );
        used[slot_i] = true;
        let m = &msgs[next[q]];
        ensure!(
            wc.byte_len as usize == m.len(),
            "byte_len {}, want {}",
            wc.byte_len,
            m.len()
        );
        same(
            &format!("message {} via SRQ WR {slot_i}", next[q]),
            &dst.read(slot_i * slot, m.len()),
            m,
        )?;
        guard_intact("after the message", &dst, slot_i * slot + m.len(), 16)?;
        next[q] += 2;
    }
    ensure!(per_qp == [n / 2, n / 2], "receives per QP {per_qp:?}");
    Ok(Outcome::Pass(format!(
        "{n} messages from 2 QPs through one SRQ, {per_qp:?} per QP"
    )))
}

/// A field of `/proc/self/status` or `/proc/meminfo`, in kB.
fn proc_kb(file: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A 256 MiB registration (on xib0 beyond one level of indirect pages:
/// directory pages list them) takes RDMA writes at its start, middle and
/// end, data checked; eight rounds of register, write, deregister of the
/// same buffer, after which the process has nothing pinned (`VmPin` 0).
fn mr_256mib(env: &Env) -> CaseResult {
    let len = 256 << 20;
    if env.dev.max_mr_size < len as u64 {
        return Ok(Outcome::Skip(format!("max_mr_size {}", env.dev.max_mr_size)));
    }
    let avail = proc_kb("/proc/meminfo", "MemAvailable:").unwrap_or(0) << 10;
    if avail < len as u64 + (96 << 20) {
        return Ok(Outcome::Skip(format!("{} MiB available", avail >> 20)));
    }
    let pinned_before = proc_kb("/proc/self/status", "VmPin:");
    let p = RcPair::new(env)?;
    let src = p.mr(1 << 20, access::LOCAL_WRITE)?;
    let mut buf = Buf::new(len);
    let rounds = 8;
    for round in 0..rounds {
        let dst = Mr::register(&p.pd, buf, 0, len, access::LOCAL_WRITE | access::REMOTE_WRITE)
            .map_err(|e| format!("ibv_reg_mr of 256 MiB, round {round}: {e}"))?;
        for (i, off) in [0, len / 2 + 4093, len - (1 << 20)].into_iter().enumerate() {
            let seed = 0x2560 + (round * 3 + i) as u64;
            let data = pattern(seed, 1 << 20);
            src.write(0, &data);
            let op = SendOp::Write { raddr: dst.addr(off), rkey: dst.rkey() };
            p.a.post_send(&[rdma(seed, op, vec![src.sge(0, data.len().min(len - off))])])
                .ctx("ibv_post_send")?;
            ok_wc(&p.cq_a, "write into the 256 MiB MR", seed, op::IBV_WC_RDMA_WRITE)?;
            let n = data.len().min(len - off);
            same(&format!("round {round}, offset {off}"), &dst.read(off, n), &data[..n])?;
        }
        buf = dst.dereg().ctx("ibv_dereg_mr")?;
    }
    drop(buf);
    let pinned = proc_kb("/proc/self/status", "VmPin:");
    drop(src);
    drop(p);
    let pinned_after = proc_kb("/proc/self/status", "VmPin:");
    // A registration cache (xib0's) may keep deregistered ranges pinned
    // that are still mapped unchanged: at most the 1 MiB source buffer
    // from this case, none of the 256 MiB one, which is gone.
    ensure!(
        pinned_after.is_some_and(|kb| kb <= pinned_before.unwrap_or(0) + 1024),
        "VmPin {pinned_after:?} kB with every MR gone, {pinned_before:?} kB before"
    );
    Ok(Outcome::Pass(format!(
        "{rounds} rounds of 256 MiB registered, written at 3 places, deregistered; VmPin {} kB with only 1 MiB registered, none of it after",
        pinned.unwrap_or(0)
    )))
}

/// QPs created and destroyed one after another never run out: each
/// destroyed QP's queue mappings are released when the provider unmaps
/// them (on xib0 the backend releases its side then, not at process
/// exit). 3000 QPs, then a new QP pair passes data.
fn qp_churn(env: &Env) -> CaseResult {
    let n = 3000;
    let pd = Pd::alloc(&env.ctx).ctx("ibv_alloc_pd")?;
    let cq = Cq::new(&env.ctx, 16, None).ctx("ibv_create_cq")?;
    for i in 0..n {
        let qp = Qp::new(&pd, QpType::Rc, &cq, &cq, None, DEFAULT_CAPS)
            .map_err(|e| format!("ibv_create_qp, QP {i} of {n}: {e}"))?;
        drop(qp);
    }
    let p = RcPair::with_pd(env, pd, None, DEFAULT_CAPS)?;
    let src = p.mr(4096, access::LOCAL_WRITE)?;
    let dst = p.mr(4096, access::LOCAL_WRITE)?;
    send_recv_once(&p, &src, &dst, 1000, 0xc4a2)?;
    Ok(Outcome::Pass(format!("{n} QPs created and destroyed; then 1000 bytes sent, intact")))
}

/// `ibv_modify_srq(IBV_SRQ_MAX_WR)` grows an SRQ (rxe writes the new
/// queue's mmap information to a pointer in the provider's data: a page of
/// this process), then more messages than it first held flow through it.
fn srq_resize(env: &Env) -> CaseResult {
    let n = 120;
    if env.dev.max_srq == 0 || env.dev.max_srq_wr < 128 {
        return Ok(Outcome::Skip(format!("device max_srq_wr {}", env.dev.max_srq_wr)));
    }
    let pd = Pd::alloc(&env.ctx).ctx("ibv_alloc_pd")?;
    let srq = Srq::new(&pd, 16, 1).ctx("ibv_create_srq")?;
    let grown = srq.resize(128).ctx("ibv_modify_srq(IBV_SRQ_MAX_WR)")?;
    ensure!(grown >= 128, "SRQ holds {grown} WRs after growing to 128");
    let caps = QpCaps {
        max_send_wr: 128,
        max_recv_wr: 128,
        ..DEFAULT_CAPS
    };
    let cq_s = Cq::new(&env.ctx, 256, None).ctx("ibv_create_cq")?;
    let cq_r = Cq::new(&env.ctx, 256, None).ctx("ibv_create_cq")?;
    let s = Qp::new(&pd, QpType::Rc, &cq_s, &cq_s, None, caps).ctx("ibv_create_qp")?;
    let r = Qp::new(&pd, QpType::Rc, &cq_r, &cq_r, Some(&srq), caps).ctx("ibv_create_qp")?;
    connect_rc(env, &s, 100, &r, 200)?;
    connect_rc(env, &r, 200, &s, 100)?;
    let slot = 256;
    let src = Mr::alloc(&pd, slot * n, access::LOCAL_WRITE).ctx("ibv_reg_mr")?;
    let dst = Mr::alloc(&pd, slot * n, access::LOCAL_WRITE).ctx("ibv_reg_mr")?;
    dst.buf().fill(0, dst.len(), GUARD);
    // More receives than the SRQ held before it grew, all posted at once.
    let recvs: Vec<RecvWr> = (0..n)
        .map(|i| recv(i as u64, vec![dst.sge(i * slot, slot)]))
        .collect();
    srq.post_recv(&recvs).ctx("ibv_post_srq_recv")?;
    let msgs: Vec<Vec<u8>> = (0..n).map(|i| pattern(9000 + i as u64, 64 + i)).collect();
    for (i, m) in msgs.iter().enumerate() {
        src.write(i * slot, m);
        s.post_send(&[send(i as u64, vec![src.sge(i * slot, m.len())])])
            .ctx("ibv_post_send")?;
        if i % 32 == 31 {
            let done = cq_s.poll_n(32, TIMEOUT).ctx("ibv_poll_cq")?;
            ensure!(done.len() == 32, "{} of 32 send completions", done.len());
        }
    }
    let wcs = cq_r.poll_n(n, TIMEOUT).ctx("ibv_poll_cq")?;
    ensure!(wcs.len() == n, "{} of {n} receive completions", wcs.len());
    for (i, wc) in wcs.iter().enumerate() {
        ensure!(wc.status == st::IBV_WC_SUCCESS, "recv {i} status {}", status_name(wc.status));
        // One QP: messages arrive in order, in the SRQ WRs in order.
        let slot_i = wc.wr_id as usize;
        let m = &msgs[i];
        ensure!(wc.byte_len as usize == m.len(), "message {i}: byte_len {}", wc.byte_len);
        same(&format!("message {i}"), &dst.read(slot_i * slot, m.len()), m)?;
        guard_intact("after the message", &dst, slot_i * slot + m.len(), 16)?;
    }
    Ok(Outcome::Pass(format!("SRQ 16 -> {grown} WRs; {n} messages through it")))
}

/// `ibv_resize_cq` grows a CQ, which then holds more than 200 completions
/// at once, none lost.
fn cq_resize(env: &Env) -> CaseResult {
    let n = 220;
    let caps = QpCaps {
        max_send_wr: 256,
        max_recv_wr: 256,
        ..DEFAULT_CAPS
    };
    if (env.dev.max_cqe as usize) < 256 || (env.dev.max_qp_wr as usize) < 256 {
        return Ok(Outcome::Skip(format!("device max_cqe {}", env.dev.max_cqe)));
    }
    let pd = Pd::alloc(&env.ctx).ctx("ibv_alloc_pd")?;
    let cq_s = Cq::new(&env.ctx, 16, None).ctx("ibv_create_cq")?;
    let cq_r = Cq::new(&env.ctx, 512, None).ctx("ibv_create_cq")?;
    let cqe = cq_s.resize(256).ctx("ibv_resize_cq")?;
    ensure!(cqe >= 256, "CQ holds {cqe} entries after growing to 256");
    let s = Qp::new(&pd, QpType::Rc, &cq_s, &cq_s, None, caps).ctx("ibv_create_qp")?;
    let r = Qp::new(&pd, QpType::Rc, &cq_r, &cq_r, None, caps).ctx("ibv_create_qp")?;
    connect_rc(env, &s, 100, &r, 200)?;
    connect_rc(env, &r, 200, &s, 100)?;
    let src = Mr::alloc(&pd, 8 * n, access::LOCAL_WRITE).ctx("ibv_reg_mr")?;
    let dst = Mr::alloc(&pd, 8 * n, access::LOCAL_WRITE).ctx("ibv_reg_mr")?;
    let recvs: Vec<RecvWr> = (0..n).map(|i| recv(i as u64, vec![dst.sge(8 * i, 8)])).collect();
    r.post_recv(&recvs).ctx("ibv_post_recv")?;
    for i in 0..n {
        src.write_u64(8 * i, 0x5eed_0000 + i as u64);
        s.post_send(&[send(i as u64, vec![src.sge(8 * i, 8)])])
            .ctx("ibv_post_send")?;
    }
    // Every send completes into the grown CQ before it is polled at all.
    let wcs = cq_r.poll_n(n, TIMEOUT).ctx("ibv_poll_cq (receiver)")?;
    ensure!(wcs.len() == n, "{} of {n} receive completions", wcs.len());
    std::thread::sleep(QUIET);
    let sends = cq_s.poll(512).ctx("ibv_poll_cq (sender)")?;
    ensure!(sends.len() == n, "{} of {n} send completions held by the grown CQ", sends.len());
    for (i, wc) in sends.iter().enumerate() {
        ensure!(wc.status == st::IBV_WC_SUCCESS, "send {i} status {}", status_name(wc.status));
        ensure!(wc.wr_id == i as u64, "send completion {i} has wr_id {}", wc.wr_id);
    }
    for i in 0..n {
        ensure!(
            dst.read_u64(8 * i) == 0x5eed_0000 + i as u64,
            "message {i}: {:#x}",
            dst.read_u64(8 * i)
        );
    }
    Ok(Outcome::Pass(format!("CQ 16 -> {cqe} entries held {n} completions")))
}

// ---------------------------------------------------------------------------
// Error cases. The expected values are what native rxe gives (Linux 6.12,
// rdma-core 44), measured on rxe0; where that differs from what the IB spec
// suggests, the comment says why, and the paravirtual device must give the
// same as rxe.

// ---------------------------------------------------------------------------
// Memory windows

/// `IBV_DEVICE_MEM_WINDOW`, `..._TYPE_2A`, `..._TYPE_2B` (verbs.h).
const DEVICE_MEM_WINDOW: u32 = 1 << 17;
const DEVICE_MEM_WINDOW_TYPE_2A: u32 = 1 << 23;
const DEVICE_MEM_WINDOW_TYPE_2B: u32 = 1 << 24;
const PAGE: usize = 4096;

/// A signaled work request without SGEs (a bind, a local invalidate).
fn local_wr(wr_id: u64, op: SendOp<'_>) -> SendWr<'_> {
    SendWr {
        wr_id,
        op,
        sges: vec![],
        signaled: true,
        inline: false,
    }
}

/// The next key a bind gives a window (`ibv_inc_rkey`: the low byte + 1).
fn inc_rkey(rkey: u32) -> u32 {
    (rkey & !0xff) | (rkey.wrapping_add(1) & 0xff)
}

/// Skips a window case on a device that has none; what rxe advertises
/// (type 1 and type 2B) is what the cases need.
fn windows_supported(env: &Env, mw_type: u32) -> Option<Outcome> {
    let d = &env.dev;
    if d.max_mw == 0 || d.device_cap_flags & DEVICE_MEM_WINDOW == 0 {
        return Some(Outcome::Skip(format!(
            "device has no memory windows (max_mw {}, cap flags {:#x})",
            d.max_mw, d.device_cap_flags
        )));
    }
    if mw_type == MW_TYPE_2 && d.device_cap_flags & (DEVICE_MEM_WINDOW_TYPE_2A | DEVICE_MEM_WINDOW_TYPE_2B) == 0 {
        return Some(Outcome::Skip("device has no type 2 windows".into()));
    }
    None
}

/// A window's target: 3 pages the device may only bind windows to (no
/// remote rights of its own), guard bytes throughout.
fn window_target(p: &RcPair) -> Result<Mr, String> {
    p.mr(3 * PAGE, access::LOCAL_WRITE | access::MW_BIND)
}

/// RDMA WRITE and READ from QP a through `rkey`, to and from the window
/// over pages 1..2 of `dst` (b's side): data checked, guards intact.
fn through_window(p: &RcPair, dst: &Mr, rkey: u32, seed: u64) -> Result<(), String> {
    let local = p.mr(2 * PAGE, access::LOCAL_WRITE)?;
    let data = pattern(seed, 3000);
    local.write(0, &data);
    let op = SendOp::Write { raddr: dst.addr(PAGE + 100), rkey };
    p.a.post_send(&[rdma(seed, op, vec![local.sge(0, 3000)])]).ctx("ibv_post_send")?;
    ok_wc(&p.cq_a, "write through the window", seed, op::IBV_WC_RDMA_WRITE)?;
    same("written through the window", &dst.read(PAGE + 100, 3000), &data)?;
    guard_intact("before the write", dst, 0, PAGE + 100)?;
    guard_intact("after the write", dst, PAGE + 3100, 2 * PAGE - 3100)?;
    let back = pattern(seed + 1, 2 * PAGE - 8);
    dst.write(PAGE + 8, &back);
    let op = SendOp::Read { raddr: dst.addr(PAGE + 8), rkey };
    p.a.post_send(&[rdma(seed + 1, op, vec![local.sge(0, back.len())])]).ctx("ibv_post_send")?;
    ok_wc(&p.cq_a, "read through the window", seed + 1, op::IBV_WC_RDMA_READ)?;
    same("read through the window", &local.read(0, back.len()), &back)?;
    no_wc(&p.cq_b, "responder CQ")?;
    Ok(())
}

/// A type 2 window bound on QP b (where remote accesses arrive) over
/// pages 1..2 of `dst` with `acc`, by an IBV_WR_BIND_MW work request;
/// returns it and its new key.
fn bound_type2(p: &RcPair, dst: &Mr, acc: u32, wr_id: u64) -> Result<(Mw, u32), String> {
    let mw = Mw::alloc(&p.pd, MW_TYPE_2).ctx("ibv_alloc_mw(IBV_MW_TYPE_2)")?;
    let key = inc_rkey(mw.rkey());
    let bind = SendOp::BindMw {
        mw: &mw,
        rkey: key,
        mr: dst,
        addr: dst.addr(PAGE),
        len: 2 * PAGE as u64,
        access: acc,
    };
    p.b.post_send(&[local_wr(wr_id, bind)]).ctx("ibv_post_send(IBV_WR_BIND_MW)")?;
    ok_wc(&p.cq_b, "bind", wr_id, op::IBV_WC_BIND_MW)?;
    Ok((mw, key))
}

/// A 64-byte write from QP a to the window's start with `key` fails with
/// REM_ACCESS_ERR, and all of `dst` (refilled with guard bytes first)
/// stays untouched.
fn window_refuses(p: &RcPair, dst: &Mr, key: u32, wr_id: u64, what: &str) -> Result<Wc, String> {
    dst.buf().fill(0, dst.len(), GUARD);
    let src = p.mr(PAGE, access::LOCAL_WRITE)?;
    let op = SendOp::Write { raddr: dst.addr(PAGE), rkey: key };
    let wc = expect_failed_wc(p, rdma(wr_id, op, vec![src.sge(0, 64)]), RXE_REMOTE_ACCESS_ERR, what)?;
    guard_intact(&format!("{what}: memory"), dst, 0, 3 * PAGE)?;
    Ok(wc)
}

/// A type 1 window: `ibv_bind_mw` (the provider posts a BIND_MW work
/// request on the QP) to pages 1..2 of an MR without remote rights, RDMA
/// WRITE and READ through its rkey with data checked; a bind of length 0
/// unbinds it, after which a write with its key fails with REM_ACCESS_ERR
/// and leaves memory alone; dealloc.
fn mw_type1(env: &Env) -> CaseResult {
    if let Some(o) = windows_supported(env, MW_TYPE_1) {
        return Ok(o);
    }
    let p = RcPair::new(env)?;
    let dst = window_target(&p)?;
    let mw = Mw::alloc(&p.pd, MW_TYPE_1).ctx("ibv_alloc_mw(IBV_MW_TYPE_1)")?;
    let key0 = mw.rkey();
    let acc = access::REMOTE_WRITE | access::REMOTE_READ;
    p.b.bind_mw(&mw, &dst, dst.addr(PAGE), 2 * PAGE as u64, acc, 11).ctx("ibv_bind_mw")?;
    ok_wc(&p.cq_b, "bind", 11, op::IBV_WC_BIND_MW)?;
    let key1 = mw.rkey();
    ensure!(key1 == inc_rkey(key0), "rkey after bind {key1:#x}, want {:#x}", inc_rkey(key0));
    through_window(&p, &dst, key1, 7100)?;
    // Unbind: a bind of length 0.
    p.b.bind_mw(&mw, &dst, dst.addr(PAGE), 0, acc, 12).ctx("ibv_bind_mw (length 0)")?;
    ok_wc(&p.cq_b, "unbind", 12, op::IBV_WC_BIND_MW)?;
    let key2 = mw.rkey();
    let wc = window_refuses(&p, &dst, key2, 13, "write through the unbound window")?;
    mw.dealloc().ctx("ibv_dealloc_mw")?;
    Ok(Outcome::Pass(format!(
        "rkeys {key0:#x} -> {key1:#x} (bound) -> {key2:#x} (unbound): {}",
        status_name(wc.status)
    )))
}

/// A type 2 window: bound with an IBV_WR_BIND_MW work request on the QP
/// that remote accesses arrive at, WRITE and READ through it, then
/// IBV_WR_LOCAL_INV of its key, after which a write fails with
/// REM_ACCESS_ERR; dealloc.
fn mw_type2(env: &Env) -> CaseResult {
    if let Some(o) = windows_supported(env, MW_TYPE_2) {
        return Ok(o);
    }
    let p = RcPair::new(env)?;
    let dst = window_target(&p)?;
    let (mw, key) = bound_type2(&p, &dst, access::REMOTE_WRITE | access::REMOTE_READ, 21)?;
    through_window(&p, &dst, key, 7200)?;
    p.b.post_send(&[local_wr(22, SendOp::LocalInv(key))]).ctx("ibv_post_send(IBV_WR_LOCAL_INV)")?;
    ok_wc(&p.cq_b, "local invalidate", 22, op::IBV_WC_LOCAL_INV)?;
    let wc = window_refuses(&p, &dst, key, 23, "write through the invalidated window")?;
    mw.dealloc().ctx("ibv_dealloc_mw")?;
    Ok(Outcome::Pass(format!("rkey {key:#x}; after LOCAL_INV: {}", status_name(wc.status))))
}

/// rxe's flag for a receive that invalidated a key: the kernel's
/// `IB_WC_WITH_INVALIDATE` (1 << 2), which rxe's provider passes through
/// unchanged (it copies the kernel's `ib_uverbs_wc`), so libibverbs reads
/// it as `IBV_WC_IP_CSUM_OK`; `IBV_WC_WITH_INV` (1 << 3) is never set.
const RXE_WC_WITH_INVALIDATE: u32 = 1 << 2;

/// A type 2 window invalidated by the peer: a SEND WITH INVALIDATE of its
/// key completes the receive with rxe's invalidate flag and that key in
/// the completion, and a write with the key then fails with
/// REM_ACCESS_ERR.
fn mw_type2_send_inv(env: &Env) -> CaseResult {
    if let Some(o) = windows_supported(env, MW_TYPE_2) {
        return Ok(o);
    }
    let p = RcPair::new(env)?;
    let dst = window_target(&p)?;
    let (_mw, key) = bound_type2(&p, &dst, access::REMOTE_WRITE, 31)?;
    let src = p.mr(PAGE, access::LOCAL_WRITE)?;
    let msg = pattern(7300, 100);
    src.write(0, &msg);
    let rbuf = p.mr(PAGE, access::LOCAL_WRITE)?;
    p.b.post_recv(&[recv(32, vec![rbuf.sge(0, PAGE)])]).ctx("ibv_post_recv")?;
    p.a.post_send(&[rdma(33, SendOp::SendInv(key), vec![src.sge(0, 100)])]).ctx("ibv_post_send(IBV_WR_SEND_WITH_INV)")?;
    ok_wc(&p.cq_a, "send with invalidate", 33, op::IBV_WC_SEND)?;
    let wc = ok_wc(&p.cq_b, "receive", 32, op::IBV_WC_RECV)?;
    ensure!(
        wc.wc_flags == WC_GRH | RXE_WC_WITH_INVALIDATE && wc.ex == key,
        "receive: wc_flags {:#x} rkey {:#x}, want {:#x} and {key:#x}",
        wc.wc_flags,
        wc.ex,
        WC_GRH | RXE_WC_WITH_INVALIDATE
    );
    same("sent data", &rbuf.read(0, 100), &msg)?;
    let wc = window_refuses(&p, &dst, key, 34, "write through the invalidated window")?;
    Ok(Outcome::Pass(format!("rkey {key:#x} invalidated by the peer; then {}", status_name(wc.status))))
}

/// A write through a bound window that runs past its end (and so past
/// the MR's: the window covers the MR's last two pages) fails with
/// REM_ACCESS_ERR and writes nothing. rxe checks the range against the
/// MR's bounds, not the window's (`check_rkey`: `mr_check_range(mw->mr,
/// ...)`), so no case tests a write inside the MR but outside the window.
fn err_mw_write_past_window(env: &Env) -> CaseResult {
    if let Some(o) = windows_supported(env, MW_TYPE_1) {
        return Ok(o);
    }
    let p = RcPair::new(env)?;
    let dst = window_target(&p)?;
    let mw = Mw::alloc(&p.pd, MW_TYPE_1).ctx("ibv_alloc_mw(IBV_MW_TYPE_1)")?;
    p.b.bind_mw(&mw, &dst, dst.addr(PAGE), 2 * PAGE as u64, access::REMOTE_WRITE, 41).ctx("ibv_bind_mw")?;
    ok_wc(&p.cq_b, "bind", 41, op::IBV_WC_BIND_MW)?;
    let src = p.mr(PAGE, access::LOCAL_WRITE)?;
    // The window's last 100 bytes and one more.
    let op = SendOp::Write { raddr: dst.addr(3 * PAGE - 100), rkey: mw.rkey() };
    let wc = expect_failed_wc(&p, rdma(42, op, vec![src.sge(0, 101)]), RXE_REMOTE_ACCESS_ERR, "write past the window's end")?;
    guard_intact("window's memory", &dst, 0, 3 * PAGE)?;
    Ok(Outcome::Pass(status_name(wc.status)))
}

/// Windows without a bind right: a bind to an MR registered without
/// IBV_ACCESS_MW_BIND fails (rxe: C10-73). rxe gives the WQE MW_BIND_ERR
/// but moves the QP to ERR at once, so, as for the other local errors
/// (`RXE_LOCAL_ERR`), the completion that reaches the CQ is
/// WR_FLUSH_ERR. An unknown window type is refused by ibv_alloc_mw with
/// EINVAL.
fn err_mw_bind_without_right(env: &Env) -> CaseResult {
    if let Some(o) = windows_supported(env, MW_TYPE_2) {
        return Ok(o);
    }
    let p = RcPair::new(env)?;
    let dst = p.mr(2 * PAGE, access::LOCAL_WRITE)?;
    let mw = Mw::alloc(&p.pd, MW_TYPE_2).ctx("ibv_alloc_mw(IBV_MW_TYPE_2)")?;
    let bind = SendOp::BindMw {
        mw: &mw,
        rkey: inc_rkey(mw.rkey()),
        mr: &dst,
        addr: dst.addr(0),
        len: PAGE as u64,
        access: access::REMOTE_WRITE,
    };
    p.a.post_send(&[local_wr(51, bind)]).ctx("ibv_post_send(IBV_WR_BIND_MW)")?;
    let wc = one_wc(&p.cq_a, "bind to an MR without MW_BIND")?;
    ensure!(wc.status == RXE_LOCAL_ERR && wc.wr_id == 51, "bind: status {} wr_id {}, want {}", status_name(wc.status), wc.wr_id, status_name(RXE_LOCAL_ERR));
    expect_err_state(&p.a, "binding QP")?;
    let bad = Mw::alloc(&p.pd, 3).err();
    ensure!(bad == Some(Errno::EINVAL), "ibv_alloc_mw(type 3): {bad:?}, want EINVAL");
    Ok(Outcome::Pass(format!("bind: {}; type 3: EINVAL", status_name(wc.status))))
}

/// The provider's response length is what reaches the driver: a raw
/// CREATE_CQ whose response buffer holds the core's response and none of
/// the provider's (rxe's `create_cq` needs its `mminfo` there) fails with
/// EINVAL, as natively, and creates nothing; with room for it, it works.
fn err_create_cq_no_provider_response(env: &Env) -> CaseResult {
    // struct ib_uverbs_create_cq: response, user_handle, cqe, comp_vector,
    // comp_channel (-1: none), reserved.
    let mut body = Vec::new();
    body.extend_from_slice(&0u64.to_ne_bytes());
    body.extend_from_slice(&0u64.to_ne_bytes());
    body.extend_from_slice(&16u32.to_ne_bytes());
    body.extend_from_slice(&0u32.to_ne_bytes());
    body.extend_from_slice(&(-1i32).to_ne_bytes());
    body.extend_from_slice(&0u32.to_ne_bytes());
    // IB_USER_VERBS_CMD_CREATE_CQ and _DESTROY_CQ.
    const CREATE_CQ: u32 = 18;
    const DESTROY_CQ: u32 = 20;
    let fd = env.ctx.cmd_fd();
    // ib_uverbs_create_cq_resp: cq_handle, cqe (8 bytes).
    let mut short = [0u8; 8];
    let r = raw_uverbs_write_resp(fd, CREATE_CQ, &body, &mut short);
    ensure!(r == Err(Errno::EINVAL), "CREATE_CQ with no room for the provider's response: {r:?}, want EINVAL");
    ensure!(short == [0u8; 8], "the failed CREATE_CQ wrote a response {short:?}");
    // With room for rxe's mminfo (16 bytes) it works; the CQ is destroyed
    // again (its queue never mapped).
    let mut full = [0u8; 8 + 16];
    raw_uverbs_write_resp(fd, CREATE_CQ, &body, &mut full).ctx("CREATE_CQ with room for the provider's response")?;
    let handle = u32::from_ne_bytes([full[0], full[1], full[2], full[3]]);
    let size = u32::from_ne_bytes([full[16], full[17], full[18], full[19]]);
    ensure!(size > 0, "rxe's mminfo.size is 0 in {full:?}");
    let mut destroy = Vec::new();
    destroy.extend_from_slice(&0u64.to_ne_bytes());
    destroy.extend_from_slice(&handle.to_ne_bytes());
    destroy.extend_from_slice(&0u32.to_ne_bytes());
    let mut dresp = [0u8; 8];
    raw_uverbs_write_resp(fd, DESTROY_CQ, &destroy, &mut dresp).ctx("DESTROY_CQ")?;
    Ok(Outcome::Pass(format!("short response: EINVAL; full: CQ {handle}, queue {size} bytes")))
}

// ---------------------------------------------------------------------------
// The ioctl path: methods called with RDMA_VERBS_IOCTL, as rdma-core 44
// calls them (create/destroy with the provider's data as UHW attributes,
// the device queries that have no write() command), and the methods of
// objects the device does not serve.

/// `IBV_DEVICE_*` flags xenib does not serve (`ib_uverbs_device_cap_flags`).
const DEVICE_RAW_MULTI: u32 = 1 << 3;
const DEVICE_XRC: u32 = 1 << 20;
const DEVICE_RAW_IP_CSUM: u32 = 1 << 26;
const DEVICE_MANAGED_FLOW_STEERING: u32 = 1 << 29;

/// `RDMA_DRIVER_RXE`: the driver id both devices present (xib0 presents
/// its backend's); an ioctl naming another fails with `EINVAL`.
const DRIVER_RXE: u32 = 14;

/// Object, method and attribute ids (`include/uapi/rdma/ib_user_ioctl_cmds.h`).
mod uv {
    pub const OBJ_DEVICE: u16 = 0;
    pub const OBJ_CQ: u16 = 3;
    pub const OBJ_MR: u16 = 7;
    pub const OBJ_WQ: u16 = 12;
    pub const OBJ_DM: u16 = 14;
    pub const OBJ_COUNTERS: u16 = 15;
    /// The first id of a driver's own namespace (mlx5's DEVX object and
    /// its `DEVX_OTHER` method are this).
    pub const DRIVER_NS: u16 = 1 << 12;
    /// `UVERBS_ATTR_UHW_IN`/`_OUT`: the provider's data.
    pub const UHW_OUT: u16 = DRIVER_NS + 1;
    /// The first driver attribute id after the UHW pair.
    pub const DRIVER_ATTR: u16 = DRIVER_NS + 2;

    pub const M_QUERY_PORT: u16 = 2;
    pub const M_QUERY_CONTEXT: u16 = 4;
    pub const M_QUERY_GID_TABLE: u16 = 5;
    pub const M_QUERY_GID_ENTRY: u16 = 6;
    pub const M_CQ_CREATE: u16 = 0;
    pub const M_CQ_DESTROY: u16 = 1;
    pub const M_ADVISE_MR: u16 = 2;
    pub const M_QUERY_MR: u16 = 3;
    pub const M_REG_DMABUF_MR: u16 = 4;
    pub const M_WQ_CREATE: u16 = 0;
    pub const M_DM_ALLOC: u16 = 0;
    pub const M_COUNTERS_CREATE: u16 = 0;
}

/// `struct ib_uverbs_query_port_resp` (the write() answer, and the first
/// 40 bytes of the ioctl's `_ex`).
const PORT_RESP: usize = 40;
/// `struct ib_uverbs_gid_entry`.
const GID_ENTRY: usize = 32;
/// `IB_UVERBS_CQ_FLAGS_IGNORE_OVERRUN`.
const CQ_FLAGS_IGNORE_OVERRUN: u64 = 1 << 1;

fn ne_u32(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

fn ne_u64(b: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

/// `UVERBS_METHOD_CQ_CREATE` as librxe's `ibv_create_cq` sends it: CQE,
/// user handle, comp vector, and the provider's response (rxe's `mminfo`,
/// 16 bytes) as `UHW_OUT` when `uhw_out`.
fn cq_create(cqe: u32, uhw_out: bool, flags: Option<u64>) -> Ioctl {
    let mut c = Ioctl::new(uv::OBJ_CQ, uv::M_CQ_CREATE)
        .new_handle(0)
        .input(1, &cqe.to_ne_bytes())
        .input(2, &0x1234_5678_9abc_def0u64.to_ne_bytes())
        .input(4, &0u32.to_ne_bytes())
        .output(6, 4);
    if let Some(f) = flags {
        c = c.value(5, f);
    }
    if uhw_out {
        c = c.output(uv::UHW_OUT, 16);
    }
    c
}

/// A CQ created and destroyed through the ioctl methods, with the
/// provider's response as driver data: rdma-core 44's path for
/// `ibv_create_cq`, checked here attribute by attribute. The guest's uverbs
/// turns it into `create_cq` with udata, which xib0 forwards; the queue the
/// response names is then mapped and read.
fn ioctl_cq_create(env: &Env) -> CaseResult {
    let fd = env.ctx.cmd_fd();
    // A queue destroyed before anyone mapped it cannot be mapped after:
    // rxe forgets it with its CQ. (xib0's backend maps it with the create;
    // that mapping must go with the CQ, not be handed out later.)
    let mut gone = cq_create(16, true, None);
    gone.run(fd, DRIVER_RXE).ctx("CQ_CREATE")?;
    let uhw = gone.out(uv::UHW_OUT).to_vec();
    let (gone_offset, gone_size) = (ne_u64(&uhw, 0), ne_u32(&uhw, 8) as usize);
    let mut d = Ioctl::new(uv::OBJ_CQ, uv::M_CQ_DESTROY).handle(0, gone.data(0) as u32).output(1, 8);
    d.run(fd, DRIVER_RXE).ctx("CQ_DESTROY of a CQ never mapped")?;
    let r = Mapping::new(fd, gone_offset, gone_size).map(|_| ());
    ensure!(r == Err(Errno::EINVAL), "mmap of a destroyed CQ's queue: {r:?}, want EINVAL");
    let mut c = cq_create(16, true, None);
    c.run(fd, DRIVER_RXE).ctx("CQ_CREATE")?;
    let handle = c.data(0) as u32;
    let cqe = c.out_u32(6);
    let uhw = c.out(uv::UHW_OUT).to_vec();
    let (offset, size) = (ne_u64(&uhw, 0), ne_u32(&uhw, 8) as usize);
    ensure!(cqe >= 16, "RESP_CQE {cqe}, asked for 16");
    ensure!(
        c.flags(uv::UHW_OUT) & ATTR_VALID_OUTPUT != 0,
        "UHW_OUT not flagged as written (flags {:#x})",
        c.flags(uv::UHW_OUT)
    );
    ensure!(size >= 384 && size % 4096 == 0, "mminfo size {size} in {uhw:?}");
    // rxe_queue_buf: log2_elem_size, index_mask, then the producer and
    // consumer indices at bytes 128 and 256. The queue has cqe + 1 slots.
    let (mask, prod, cons) = {
        let m = Mapping::new(fd, offset, size).ctx("mmap of the CQ's queue")?;
        (m.read_u32(4), m.read_u32(128), m.read_u32(256))
    };
    ensure!(mask == cqe, "queue index_mask {mask}, RESP_CQE {cqe}");
    ensure!((prod, cons) == (0, 0), "fresh queue has indices {prod}/{cons}");
    let mut d = Ioctl::new(uv::OBJ_CQ, uv::M_CQ_DESTROY).handle(0, handle).output(1, 8);
    d.run(fd, DRIVER_RXE).ctx("CQ_DESTROY")?;
    ensure!(d.out(1) == [0u8; 8], "events reported {:?}, want none", d.out(1));
    // Destroyed: the handle names nothing now.
    let mut again = Ioctl::new(uv::OBJ_CQ, uv::M_CQ_DESTROY).handle(0, handle).output(1, 8);
    let r = again.run(fd, DRIVER_RXE);
    ensure!(r == Err(Errno::ENOENT), "second CQ_DESTROY: {r:?}, want ENOENT");
    // Without UHW_OUT rxe has nowhere to put its mminfo: EINVAL, as in
    // err_create_cq_no_provider_response. With it, a creation flag rxe does
    // not implement: EOPNOTSUPP.
    let r = cq_create(16, false, None).run(fd, DRIVER_RXE);
    ensure!(r == Err(Errno::EINVAL), "CQ_CREATE without UHW_OUT: {r:?}, want EINVAL");
    let r = cq_create(16, true, Some(CQ_FLAGS_IGNORE_OVERRUN)).run(fd, DRIVER_RXE);
    ensure!(r == Err(Errno::EOPNOTSUPP), "CQ_CREATE with IGNORE_OVERRUN: {r:?}, want EOPNOTSUPP");
    let r = cq_create(16, true, None).run(fd, DRIVER_RXE + 1);
    ensure!(r == Err(Errno::EINVAL), "CQ_CREATE naming another driver: {r:?}, want EINVAL");
    Ok(Outcome::Pass(format!(
        "a CQ destroyed unmapped: its queue cannot be mapped (EINVAL); \
         CQ {handle}: cqe {cqe}, queue {size} bytes at {offset:#x}, mapped and read; destroyed; \
         again: ENOENT; no UHW_OUT: EINVAL, IGNORE_OVERRUN: EOPNOTSUPP, other driver id: EINVAL"
    )))
}

/// A GID of the sysfs table, as `QUERY_GID_TABLE` gives it.
#[derive(Debug, PartialEq, Eq)]
struct GidEntry {
    gid: [u8; 16],
    index: u32,
    port: u32,
    gid_type: u32,
    ifindex: u32,
}

impl GidEntry {
    fn parse(b: &[u8]) -> GidEntry {
        GidEntry {
            gid: b[..16].try_into().expect("16 bytes"),
            index: ne_u32(b, 16),
            port: ne_u32(b, 20),
            gid_type: ne_u32(b, 24),
            ifindex: ne_u32(b, 28),
        }
    }
}

/// Port 1's non-empty GIDs as sysfs shows them (`gids/N`,
/// `gid_attrs/types/N`, `gid_attrs/ndevs/N`).
fn sysfs_gids(env: &Env) -> Result<Vec<GidEntry>, String> {
    let port = format!("/sys/class/infiniband/{}/ports/{PORT}", env.name);
    let read = |f: String| std::fs::read_to_string(&f).map(|s| s.trim().to_string());
    let mut out = Vec::new();
    for i in 0..env.port.gid_tbl_len as u32 {
        let text = read(format!("{port}/gids/{i}")).map_err(|e| format!("gids/{i}: {e}"))?;
        let mut gid = [0u8; 16];
        for (k, group) in text.split(':').enumerate() {
            let v = u16::from_str_radix(group, 16).map_err(|_| format!("gids/{i}: {text}"))?;
            gid.get_mut(2 * k..2 * k + 2)
                .ok_or(format!("gids/{i}: {text}"))?
                .copy_from_slice(&v.to_be_bytes());
        }
        if gid == [0u8; 16] {
            continue;
        }
        // "IB/RoCE v1" is ROCE_V1 on an Ethernet port, "RoCE v2" ROCE_V2.
        let gid_type = match read(format!("{port}/gid_attrs/types/{i}")).as_deref() {
            Ok("IB/RoCE v1") => 1,
            Ok("RoCE v2") => 2,
            other => return Err(format!("gid_attrs/types/{i}: {other:?}")),
        };
        let ifindex = match read(format!("{port}/gid_attrs/ndevs/{i}")) {
            Ok(nd) => read(format!("/sys/class/net/{nd}/ifindex"))
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(format!("ifindex of {nd}"))?,
            Err(_) => 0,
        };
        out.push(GidEntry { gid, index: i, port: PORT.into(), gid_type, ifindex });
    }
    Ok(out)
}

/// The device queries rdma-core 44 makes only through ioctl methods
/// (`ibv_query_gid_ex`, `ibv_query_gid_table`) or ioctl first
/// (`ibv_query_port`), and `QUERY_MR`, compared with what the write()
/// commands, sysfs and libibverbs say. On xib0 the guest's core answers
/// them from the ops xib0 forwards (`query_port`) and from its own GID
/// cache.
fn ioctl_device_queries(env: &Env) -> CaseResult {
    let fd = env.ctx.cmd_fd();
    // QUERY_PORT by ioctl and by write().
    let mut q = Ioctl::new(uv::OBJ_DEVICE, uv::M_QUERY_PORT).value(0, PORT.into()).output(1, 48);
    q.run(fd, DRIVER_RXE).ctx("QUERY_PORT")?;
    let mut body = vec![0u8; 16];
    body[8] = PORT;
    let mut legacy = [0u8; PORT_RESP];
    const QUERY_PORT_WRITE: u32 = 2;
    raw_uverbs_write_resp(fd, QUERY_PORT_WRITE, &body, &mut legacy).ctx("QUERY_PORT (write)")?;
    let ex = q.out(1);
    same("QUERY_PORT ioctl against write()", &ex[..PORT_RESP], &legacy)?;
    let (state, link_layer) = (ex[26], ex[37]);
    ensure!(
        u32::from(state) == env.port.state && link_layer == env.port.link_layer,
        "ioctl port state {state} link layer {link_layer}, libibverbs {} {}",
        env.port.state,
        env.port.link_layer
    );
    ensure!(
        ne_u32(ex, 44) == u32::from(ex[35]),
        "active_speed_ex {} against active_speed {}",
        ne_u32(ex, 44),
        ex[35]
    );
    for bad in [0u64, u64::from(env.dev.phys_port_cnt) + 1] {
        let r = Ioctl::new(uv::OBJ_DEVICE, uv::M_QUERY_PORT)
            .value(0, bad)
            .output(1, 48)
            .run(fd, DRIVER_RXE);
        ensure!(r == Err(Errno::EINVAL), "QUERY_PORT of port {bad}: {r:?}, want EINVAL");
    }
    // The GID table by ioctl against sysfs, entry by entry.
    let max = env.port.gid_tbl_len as usize;
    let mut t = Ioctl::new(uv::OBJ_DEVICE, uv::M_QUERY_GID_TABLE)
        .value(0, GID_ENTRY as u64)
        .value(1, 0)
        .output(2, GID_ENTRY * max)
        .output(3, 8);
    t.run(fd, DRIVER_RXE).ctx("QUERY_GID_TABLE")?;
    let n = t.out_u64(3) as usize;
    ensure!(n <= max, "QUERY_GID_TABLE: {n} entries of at most {max}");
    let table: Vec<GidEntry> = t.out(2).chunks(GID_ENTRY).take(n).map(GidEntry::parse).collect();
    let sysfs = sysfs_gids(env)?;
    ensure!(table == sysfs, "QUERY_GID_TABLE {table:?}\nsysfs {sysfs:?}");
    let ours = table
        .iter()
        .find(|e| e.index == env.gid_index as u32)
        .ok_or(format!("gid[{}] not in the table", env.gid_index))?;
    ensure!(ours.gid == env.gid.0, "table's gid[{}] is not ibv_query_gid's", env.gid_index);
    let mut e = Ioctl::new(uv::OBJ_DEVICE, uv::M_QUERY_GID_ENTRY)
        .value(0, PORT.into())
        .value(1, env.gid_index as u64)
        .value(2, 0)
        .output(3, GID_ENTRY);
    e.run(fd, DRIVER_RXE).ctx("QUERY_GID_ENTRY")?;
    ensure!(&GidEntry::parse(e.out(3)) == ours, "QUERY_GID_ENTRY {:?}", GidEntry::parse(e.out(3)));
    let r = Ioctl::new(uv::OBJ_DEVICE, uv::M_QUERY_GID_ENTRY)
        .value(0, PORT.into())
        .value(1, max as u64)
        .value(2, 0)
        .output(3, GID_ENTRY)
        .run(fd, DRIVER_RXE);
    ensure!(r == Err(Errno::EINVAL), "QUERY_GID_ENTRY past the table: {r:?}, want EINVAL");
    // QUERY_MR: the guest's ib_mr against libibverbs' ibv_mr (librxe has
    // no rereg_mr that could change the keys).
    let pd = Pd::alloc(&env.ctx).ctx("ibv_alloc_pd")?;
    let mr = Mr::register(&pd, Buf::new(3 * 4096), 123, 8000, access::LOCAL_WRITE | access::REMOTE_READ)
        .ctx("ibv_reg_mr")?;
    let mut m = Ioctl::new(uv::OBJ_MR, uv::M_QUERY_MR)
        .handle(0, mr.handle())
        .output(1, 4)
        .output(2, 4)
        .output(3, 8)
        .output(4, 8);
    m.run(fd, DRIVER_RXE).ctx("QUERY_MR")?;
    let got = (m.out_u32(1), m.out_u32(2), m.out_u64(3), m.out_u64(4));
    let want = (mr.lkey(), mr.rkey(), mr.len() as u64, mr.addr(0));
    ensure!(got == want, "QUERY_MR: (lkey, rkey, length, iova) {got:x?}, ibv_mr {want:x?}");
    Ok(Outcome::Pass(format!(
        "QUERY_PORT = write(); {n} GIDs as in sysfs, gid[{}] by QUERY_GID_ENTRY; QUERY_MR = ibv_mr; \
         bad port/index: EINVAL",
        env.gid_index
    )))
}

/// Methods of objects the device does not serve, and methods a driver
/// adds, called by ioctl: each is refused before anything is created.
///
/// The ioctl framework's own errno for a method it does not know is
/// `EPROTONOSUPPORT`; a method it knows whose op the device lacks, or
/// whose op refuses, gives `EOPNOTSUPP`. rxe has no device memory and no
/// flow counters, so rxe0's uverbs does not know `DM_ALLOC` or
/// `COUNTERS_CREATE` (`EPROTONOSUPPORT`); xib0 declares both objects only
/// to refuse them with `EOPNOTSUPP` (ib_front/refused.rs), since the HCA
/// behind it may have them and libibverbs has no write() command to fall
/// back to. That is the one difference this case expects.
fn err_ioctl_unserved_methods(env: &Env) -> CaseResult {
    let fd = env.ctx.cmd_fd();
    let pd = Pd::alloc(&env.ctx).ctx("ibv_alloc_pd")?;
    let mr = Mr::alloc(&pd, 4096, access::LOCAL_WRITE).ctx("ibv_reg_mr")?;
    let mut sge = mr.addr(0).to_ne_bytes().to_vec();
    sge.extend_from_slice(&4096u32.to_ne_bytes());
    sge.extend_from_slice(&mr.lkey().to_ne_bytes());
    let refused_object = if env.paravirtual { Errno::EOPNOTSUPP } else { Errno::EPROTONOSUPPORT };
    let calls: Vec<(&str, Ioctl, Errno)> = vec![
        (
            "DM_ALLOC",
            Ioctl::new(uv::OBJ_DM, uv::M_DM_ALLOC)
                .new_handle(0)
                .input(1, &4096u64.to_ne_bytes())
                .input(2, &0u32.to_ne_bytes()),
            refused_object,
        ),
        (
            "COUNTERS_CREATE",
            Ioctl::new(uv::OBJ_COUNTERS, uv::M_COUNTERS_CREATE).new_handle(0),
            refused_object,
        ),
        (
            // A dma-buf is a file of the guest's; nothing to register.
            "REG_DMABUF_MR",
            Ioctl::new(uv::OBJ_MR, uv::M_REG_DMABUF_MR)
                .new_handle(0)
                .handle(1, pd.handle())
                .input(2, &0u64.to_ne_bytes())
                .input(3, &4096u64.to_ne_bytes())
                .input(4, &0u64.to_ne_bytes())
                .input(5, &0u32.to_ne_bytes())
                .value(6, access::LOCAL_WRITE.into())
                .output(7, 4)
                .output(8, 4),
            Errno::EOPNOTSUPP,
        ),
        (
            // On-demand paging's prefetch.
            "ADVISE_MR",
            Ioctl::new(uv::OBJ_MR, uv::M_ADVISE_MR)
                .handle(0, pd.handle())
                .value(1, 0)
                .value(2, 0)
                .input(3, &sge),
            Errno::EOPNOTSUPP,
        ),
        (
            // A driver's own context attributes (mlx5's).
            "QUERY_CONTEXT",
            Ioctl::new(uv::OBJ_DEVICE, uv::M_QUERY_CONTEXT).output(0, 4).output(1, 8),
            Errno::EOPNOTSUPP,
        ),
        (
            // Neither device has WQs: libibverbs falls back to write().
            "WQ_CREATE",
            Ioctl::new(uv::OBJ_WQ, uv::M_WQ_CREATE).new_handle(0),
            Errno::EPROTONOSUPPORT,
        ),
        (
            // A driver-namespace method (mlx5 DEVX's ids): the guest's
            // uverbs has no driver methods.
            "driver method 0x1000/0x1000",
            Ioctl::new(uv::DRIVER_NS, uv::DRIVER_NS),
            Errno::EPROTONOSUPPORT,
        ),
        (
            // A standard method with a mandatory driver attribute (as
            // mlx5's CQ UAR index): unknown, so the call is refused whole.
            "CQ_CREATE with a driver attribute",
            cq_create(16, true, None).input(uv::DRIVER_ATTR, &0u32.to_ne_bytes()),
            Errno::EPROTONOSUPPORT,
        ),
    ];
    let mut seen = Vec::new();
    for (what, mut call, want) in calls {
        let r = call.run(fd, DRIVER_RXE);
        ensure!(r == Err(want), "{what}: {r:?}, want {want}");
        seen.push(format!("{what} {want:?}"));
    }
    Ok(Outcome::Pass(seen.join(", ")))
}

/// A requester-side (local) error on rxe: rxe_requester() sets the WQE's
/// status (LOC_QP_OP_ERR for a bad lkey or an SGE outside its MR, since
/// copy_data() returns -EINVAL) and moves the QP to ERR at once, so
/// rxe_completer() flushes the whole send queue, that WQE included, with
/// IBV_WC_WR_FLUSH_ERR. The spec's IBV_WC_LOC_PROT_ERR never reaches the CQ.
const RXE_LOCAL_ERR: u32 = st::IBV_WC_WR_FLUSH_ERR;
/// A remote access violation (bad rkey, missing REMOTE_* right, range
/// outside the MR): the responder NAKs, the requester completes with this.
const RXE_REMOTE_ACCESS_ERR: u32 = st::IBV_WC_REM_ACCESS_ERR;
/// A SEND longer than the receive WR: rxe's copy_data() returns -EINVAL, not
/// -ENOSPC, so the responder takes the "malformed WQE" path: the receive
/// completes with LOC_QP_OP_ERR (spec: LOC_LEN_ERR) and the NAK makes the
/// send complete with REM_OP_ERR (spec: REM_INV_REQ_ERR).
const RXE_RECV_TOO_SMALL: (u32, u32) = (st::IBV_WC_LOC_QP_OP_ERR, st::IBV_WC_REM_OP_ERR);

/// Posts one WR on a fresh pair and expects its completion to fail with
/// `want` (and the requester QP to be in ERR afterwards).
/// An asynchronous event through the device: arm an SRQ's limit, consume
/// receives below it, and the process's async event file reports
/// IBV_EVENT_SRQ_LIMIT_REACHED for that SRQ, once.
fn srq_limit_event(env: &Env) -> CaseResult {
    if env.dev.max_srq == 0 {
        return Ok(Outcome::Skip("device has no SRQ".into()));
    }
    let pd = Pd::alloc(&env.ctx).ctx("ibv_alloc_pd")?;
    let srq = Srq::new(&pd, 16, 1).ctx("ibv_create_srq")?;
    let cq = Cq::new(&env.ctx, 32, None).ctx("ibv_create_cq")?;
    let s = Qp::new(&pd, QpType::Rc, &cq, &cq, None, DEFAULT_CAPS).ctx("ibv_create_qp")?;
    let r = Qp::new(&pd, QpType::Rc, &cq, &cq, Some(&srq), DEFAULT_CAPS).ctx("ibv_create_qp")?;
    connect_rc(env, &s, 100, &r, 200)?;
    connect_rc(env, &r, 200, &s, 100)?;
    let src = Mr::alloc(&pd, 4096, access::LOCAL_WRITE).ctx("ibv_reg_mr")?;
    let dst = Mr::alloc(&pd, 8 * 64, access::LOCAL_WRITE).ctx("ibv_reg_mr")?;
    let recvs: Vec<RecvWr> = (0..8).map(|i| recv(i, vec![dst.sge(i as usize * 64, 64)])).collect();
    srq.post_recv(&recvs).ctx("ibv_post_srq_recv")?;
    srq.arm_limit(4).ctx("ibv_modify_srq(IBV_SRQ_LIMIT)")?;
    // Events of earlier cases on this context (QP errors, ...) are not ours.
    let ours = |d: Duration| -> Result<bool, String> {
        let end = std::time::Instant::now() + d;
        loop {
            let left = end.saturating_duration_since(std::time::Instant::now());
            match env.ctx.async_event(left).ctx("ibv_get_async_event")? {
                Some(ev) if ev.event_type == crate::verbs::EVENT_SRQ_LIMIT_REACHED && ev.srq == srq.as_ptr() => return Ok(true),
                Some(_) => continue,
                None => return Ok(false),
            }
        }
    };
    ensure!(!ours(Duration::ZERO)?, "limit event before the limit was crossed");
    for i in 0..5u64 {
        s.post_send(&[send(i, vec![src.sge(0, 16)])]).ctx("ibv_post_send")?;
    }
    cq.poll_n(10, TIMEOUT).ctx("completions")?;
    ensure!(ours(TIMEOUT)?, "no SRQ_LIMIT_REACHED event for this SRQ within {TIMEOUT:?}");
    ensure!(!ours(QUIET)?, "a second limit event for one arming");
    Ok(Outcome::Pass("SRQ_LIMIT_REACHED for the right SRQ, once".into()))
}

fn expect_failed_wc(p: &RcPair, wr: SendWr<'_>, want: u32, what: &str) -> Result<Wc, String> {
    let id = wr.wr_id;
    p.a.post_send(&[wr]).ctx("ibv_post_send")?;
    let wc = one_wc(&p.cq_a, what)?;
    ensure!(
        wc.status == want,
        "{what}: status {}, want {}",
        status_name(wc.status),
        status_name(want)
    );
    ensure!(
        wc.wr_id == id,
        "{what}: wr_id {:#x}, want {id:#x}",
        wc.wr_id
    );
    ensure!(wc.qp_num == p.a.qp_num(), "{what}: qp_num {:#x}", wc.qp_num);
    expect_err_state(&p.a, what)?;
    Ok(wc)
}

fn err_send_bad_lkey(env: &Env) -> CaseResult {
    let p = RcPair::new(env)?;
    let src = p.mr(4096, access::LOCAL_WRITE)?;
    let dst = p.mr(4096, access::LOCAL_WRITE)?;
    p.b.post_recv(&[recv(1, vec![dst.sge(0, 4096)])])
        .ctx("ibv_post_recv")?;
    // Right address, lkey with its key byte corrupted.
    let bad = Sge {
        lkey: src.lkey() ^ 0x80,
        ..src.sge(0, 100)
    };
    // A good WR behind the bad one in the same chain is flushed too.
    p.a.post_send(&[send(1, vec![bad]), send(2, vec![src.sge(0, 100)])])
        .ctx("ibv_post_send")?;
    let wcs = p.cq_a.poll_n(2, TIMEOUT).ctx("ibv_poll_cq")?;
    ensure!(wcs.len() == 2, "{} of 2 completions", wcs.len());
    for (wc, id) in wcs.iter().zip([1u64, 2]) {
        ensure!(
            wc.status == RXE_LOCAL_ERR && wc.wr_id == id,
            "completion {id}: status {} wr_id {}, want {} wr_id {id}",
            status_name(wc.status),
            wc.wr_id,
            status_name(RXE_LOCAL_ERR)
        );
    }
    expect_err_state(&p.a, "sender")?;
    no_wc(&p.cq_a, "send CQ")?;
    no_wc(&p.cq_b, "receiver of a send that failed locally")?;
    guard_intact("receive buffer", &dst, 0, 4096)?;
    Ok(Outcome::Pass(format!(
        "bad WR and the good one behind it: {} (vendor_err {:#x}); QP in ERR",
        status_name(wcs[0].status),
        wcs[0].vendor_err
    )))
}

fn err_send_sge_out_of_mr(env: &Env) -> CaseResult {
    let p = RcPair::new(env)?;
    let src = p.mr(4096, access::LOCAL_WRITE)?;
    // Valid lkey, but the SGE runs 1 byte past the end of the MR.
    let bad = src.sge(100, 4096 - 100 + 1);
    let wc = expect_failed_wc(&p, send(1, vec![bad]), RXE_LOCAL_ERR, "send past the MR")?;
    no_wc(&p.cq_b, "receiver")?;
    Ok(Outcome::Pass(status_name(wc.status)))
}

fn err_write_bad_rkey(env: &Env) -> CaseResult {
    let p = RcPair::new(env)?;
    let src = p.mr(4096, access::LOCAL_WRITE)?;
    let dst = p.mr(4096, access::LOCAL_WRITE | access::REMOTE_WRITE)?;
    src.write(0, &pattern(9000, 256));
    let op = SendOp::Write {
        raddr: dst.addr(0),
        rkey: dst.rkey() ^ 0x80,
    };
    let wc = expect_failed_wc(
        &p,
        rdma(1, op, vec![src.sge(0, 256)]),
        RXE_REMOTE_ACCESS_ERR,
        "write with a bad rkey",
    )?;
    guard_intact("target memory", &dst, 0, 4096)?;
    // The responder also moves to ERR (class C error on an RC QP).
    expect_err_state(&p.b, "responder")?;
    Ok(Outcome::Pass(format!(
        "{}; both QPs in ERR",
        status_name(wc.status)
    )))
}

fn err_write_no_remote_write(env: &Env) -> CaseResult {
    let p = RcPair::new(env)?;
    let src = p.mr(4096, access::LOCAL_WRITE)?;
    // Valid rkey, but the MR only allows remote reads.
    let dst = p.mr(4096, access::LOCAL_WRITE | access::REMOTE_READ)?;
    src.write(0, &pattern(9100, 256));
    let op = SendOp::Write {
        raddr: dst.addr(0),
        rkey: dst.rkey(),
    };
    let wc = expect_failed_wc(
        &p,
        rdma(1, op, vec![src.sge(0, 256)]),
        RXE_REMOTE_ACCESS_ERR,
        "write to an MR without REMOTE_WRITE",
    )?;
    guard_intact("target memory", &dst, 0, 4096)?;
    Ok(Outcome::Pass(status_name(wc.status)))
}

fn err_read_no_remote_read(env: &Env) -> CaseResult {
    let p = RcPair::new(env)?;
    let local = p.mr(4096, access::LOCAL_WRITE)?;
    let remote = p.mr(4096, access::LOCAL_WRITE | access::REMOTE_WRITE)?;
    let op = SendOp::Read {
        raddr: remote.addr(0),
        rkey: remote.rkey(),
    };
    let wc = expect_failed_wc(
        &p,
        rdma(1, op, vec![local.sge(0, 256)]),
        RXE_REMOTE_ACCESS_ERR,
        "read from an MR without REMOTE_READ",
    )?;
    guard_intact("local buffer", &local, 0, 4096)?;
    Ok(Outcome::Pass(status_name(wc.status)))
}

/// A read-only MR over memory the process may only read (`PROT_READ`),
/// registered with REMOTE_READ alone: RDMA READs get its bytes, and a
/// remote write with its rkey is refused with the memory unchanged. (On
/// xib0 its pages are pinned without write, granted and mapped read
/// only.)
fn mr_read_only(env: &Env) -> CaseResult {
    const PAGE: usize = 4096;
    let p = RcPair::new(env)?;
    // The middle page of three: the allocator writes only into the first
    // and the last when the buffer is freed, so a failure that drops it
    // while read-only is harmless.
    let buf = Buf::new(3 * PAGE);
    let data = pattern(0x2e4d, PAGE);
    buf.write(PAGE, &data);
    let page = (buf.addr() as usize + PAGE) as *mut libc::c_void;
    // SAFETY: The middle page of our own page-aligned buffer, which the MR
    // below keeps alive.
    let r = unsafe { libc::mprotect(page, PAGE, libc::PROT_READ) };
    ensure!(r == 0, "mprotect: {}", Errno::last());
    let ro = Mr::register(&p.pd, buf, PAGE, PAGE, access::REMOTE_READ)
        .ctx("ibv_reg_mr(REMOTE_READ) of read-only memory")?;
    let local = p.mr(PAGE, access::LOCAL_WRITE)?;
    let read = SendOp::Read {
        raddr: ro.addr(100),
        rkey: ro.rkey(),
    };
    p.a.post_send(&[rdma(1, read, vec![local.sge(0, 3000)])]).ctx("ibv_post_send")?;
    ok_wc(&p.cq_a, "read from the read-only MR", 1, op::IBV_WC_RDMA_READ)?;
    same("read data", &local.read(0, 3000), &data[100..3100])?;
    let write = SendOp::Write {
        raddr: ro.addr(0),
        rkey: ro.rkey(),
    };
    let wc = expect_failed_wc(
        &p,
        rdma(2, write, vec![local.sge(0, 256)]),
        RXE_REMOTE_ACCESS_ERR,
        "write to the read-only MR",
    )?;
    same("read-only memory", &ro.read(0, PAGE), &data)?;
    // SAFETY: As above.
    unsafe { libc::mprotect(page, PAGE, libc::PROT_READ | libc::PROT_WRITE) };
    Ok(Outcome::Pass(format!("3000 bytes read; a write gets {}", status_name(wc.status))))
}

fn err_write_past_mr(env: &Env) -> CaseResult {
    let p = RcPair::new(env)?;
    let src = p.mr(8192, access::LOCAL_WRITE)?;
    let dst = p.mr(8192, access::LOCAL_WRITE | access::REMOTE_WRITE)?;
    // Starts inside the remote MR, ends 1 byte past it.
    let op = SendOp::Write {
        raddr: dst.addr(8192 - 100),
        rkey: dst.rkey(),
    };
    let wc = expect_failed_wc(
        &p,
        rdma(1, op, vec![src.sge(0, 101)]),
        RXE_REMOTE_ACCESS_ERR,
        "write past the end of the remote MR",
    )?;
    guard_intact("target memory", &dst, 0, 8192)?;
    Ok(Outcome::Pass(status_name(wc.status)))
}

fn err_recv_too_small(env: &Env) -> CaseResult {
    let p = RcPair::new(env)?;
    let src = p.mr(4096, access::LOCAL_WRITE)?;
    let dst = p.mr(4096, access::LOCAL_WRITE)?;
    p.b.post_recv(&[recv(5, vec![dst.sge(0, 16)])])
        .ctx("ibv_post_recv")?;
    p.a.post_send(&[send(1, vec![src.sge(0, 100)])])
        .ctx("ibv_post_send")?;
    let (want_r, want_s) = RXE_RECV_TOO_SMALL;
    let r = one_wc(&p.cq_b, "receiver")?;
    ensure!(
        r.status == want_r && r.wr_id == 5,
        "receiver: status {} wr_id {}, want {} wr_id 5",
        status_name(r.status),
        r.wr_id,
        status_name(want_r)
    );
    let s = one_wc(&p.cq_a, "sender")?;
    ensure!(
        s.status == want_s && s.wr_id == 1,
        "sender: status {} wr_id {}, want {} wr_id 1",
        status_name(s.status),
        s.wr_id,
        status_name(want_s)
    );
    expect_err_state(&p.a, "sender")?;
    expect_err_state(&p.b, "receiver")?;
    guard_intact("beyond the receive buffer", &dst, 16, 4096 - 16)?;
    Ok(Outcome::Pass(format!(
        "receiver {}, sender {}; both QPs in ERR",
        status_name(r.status),
        status_name(s.status)
    )))
}

fn post_send_in_state(env: &Env, to_init: bool) -> CaseResult {
    let pd = Pd::alloc(&env.ctx).ctx("ibv_alloc_pd")?;
    let cq = Cq::new(&env.ctx, 16, None).ctx("ibv_create_cq")?;
    let qp = Qp::new(&pd, QpType::Rc, &cq, &cq, None, DEFAULT_CAPS).ctx("ibv_create_qp")?;
    let mut state = ibv_qp_state::IBV_QPS_RESET;
    if to_init {
        let t = QpTransition {
            access: QP_ACCESS,
            port: PORT,
            ..Default::default()
        };
        qp.to_init(QpType::Rc, &t).ctx("modify_qp RESET->INIT")?;
        state = ibv_qp_state::IBV_QPS_INIT;
    }
    expect_state(&qp, "new QP", state)?;
    let mr = Mr::alloc(&pd, 4096, access::LOCAL_WRITE).ctx("ibv_reg_mr")?;
    let r = qp.post_send(&[send(1, vec![mr.sge(0, 64)])]);
    let name = qp_state_name(state);
    match r {
        Ok(()) => Err(format!("ibv_post_send on a QP in {name} succeeded")),
        Err((e, i)) => {
            ensure!(
                e == Errno::EINVAL,
                "ibv_post_send in {name}: {e}, want EINVAL"
            );
            ensure!(i == 0, "bad_wr index {i}, want 0");
            no_wc(&cq, "CQ of the QP")?;
            Ok(Outcome::Pass(format!("{e}, bad_wr = the WR")))
        }
    }
}

fn err_post_send_reset(env: &Env) -> CaseResult {
    post_send_in_state(env, false)
}

fn err_post_send_init(env: &Env) -> CaseResult {
    post_send_in_state(env, true)
}

fn err_create_qp_too_many_sge(env: &Env) -> CaseResult {
    let pd = Pd::alloc(&env.ctx).ctx("ibv_alloc_pd")?;
    let cq = Cq::new(&env.ctx, 16, None).ctx("ibv_create_cq")?;
    let caps = QpCaps {
        max_send_sge: env.dev.max_sge as u32 + 1,
        ..DEFAULT_CAPS
    };
    match Qp::new(&pd, QpType::Rc, &cq, &cq, None, caps) {
        Ok(_) => Err(format!(
            "created a QP with max_send_sge {} > device max_sge {}",
            caps.max_send_sge, env.dev.max_sge
        )),
        Err(e) => {
            ensure!(e == Errno::EINVAL, "ibv_create_qp: {e}, want EINVAL");
            // The limit itself is accepted.
            let caps = QpCaps {
                max_send_sge: env.dev.max_sge as u32,
                ..DEFAULT_CAPS
            };
            Qp::new(&pd, QpType::Rc, &cq, &cq, None, caps).ctx("ibv_create_qp at max_sge")?;
            Ok(Outcome::Pass(format!(
                "max_send_sge {}: {e}; {} accepted",
                env.dev.max_sge + 1,
                env.dev.max_sge
            )))
        }
    }
}

fn err_sq_overflow(env: &Env) -> CaseResult {
    let pd = Pd::alloc(&env.ctx).ctx("ibv_alloc_pd")?;
    let caps = QpCaps {
        max_send_wr: 16,
        ..DEFAULT_CAPS
    };
    let p = RcPair::with_pd(env, pd, None, caps)?;
    let cap = p.a.caps().max_send_wr as usize;
    ensure!(cap >= 16, "max_send_wr {cap} < 16 asked");
    let src = p.mr(8, access::LOCAL_WRITE)?;
    let dst = p.mr(8 * (cap + 1), access::LOCAL_WRITE | access::REMOTE_WRITE)?;
    src.write_u64(0, 0x5555_aaaa_5555_aaaa);
    // One chain of cap + 1 WRs: the last one does not fit.
    let wrs: Vec<SendWr> = (0..=cap)
        .map(|i| {
            let op = SendOp::Write {
                raddr: dst.addr(8 * i),
                rkey: dst.rkey(),
            };
            rdma(i as u64, op, vec![src.sge(0, 8)])
        })
        .collect();
    let r = p.a.post_send(&wrs);
    let (e, idx) = match r {
        Ok(()) => {
            return Err(format!(
                "posting {} WRs on a {cap}-WR send queue succeeded",
                cap + 1
            ))
        }
        Err(x) => x,
    };
    ensure!(e == Errno::ENOMEM, "post_send: {e}, want ENOMEM");
    ensure!(
        idx == cap,
        "bad_wr is WR {idx}, want {cap} (the first that does not fit)"
    );
    // The ones before it were posted and run.
    let wcs = p.cq_a.poll_n(cap, TIMEOUT).ctx("ibv_poll_cq")?;
    ensure!(wcs.len() == cap, "{} of {cap} completions", wcs.len());
    for (i, wc) in wcs.iter().enumerate() {
        ensure!(
            wc.status == st::IBV_WC_SUCCESS && wc.wr_id == i as u64,
            "completion {i}: {} wr_id {}",
            status_name(wc.status),
            wc.wr_id
        );
        ensure!(
            dst.read_u64(8 * i) == 0x5555_aaaa_5555_aaaa,
            "write {i} did not land"
        );
    }
    guard_intact("target of the rejected WR", &dst, 8 * cap, 8)?;
    no_wc(&p.cq_a, "send CQ after the posted WRs")?;
    Ok(Outcome::Pass(format!(
        "SQ of {cap}: WR {idx} rejected with {e}; {cap} completed"
    )))
}

fn err_send_deregistered_mr(env: &Env) -> CaseResult {
    let p = RcPair::new(env)?;
    let dst = p.mr(4096, access::LOCAL_WRITE)?;
    let src = p.mr(4096, access::LOCAL_WRITE)?;
    let stale = src.sge(0, 100);
    // The memory stays allocated (dereg returns it); only the MR is gone.
    let _buf = src.dereg().ctx("ibv_dereg_mr")?;
    p.b.post_recv(&[recv(1, vec![dst.sge(0, 4096)])])
        .ctx("ibv_post_recv")?;
    let wc = expect_failed_wc(
        &p,
        send(1, vec![stale]),
        RXE_LOCAL_ERR,
        "send from a deregistered MR",
    )?;
    no_wc(&p.cq_b, "receiver")?;
    guard_intact("receive buffer", &dst, 0, 4096)?;
    Ok(Outcome::Pass(status_name(wc.status)))
}

/// A provider pointer (rxe's `mmap_info_addr` in `modify_srq`) to memory
/// this process does not have: EFAULT, and the SRQ keeps working.
fn err_modify_srq_bad_pointer(env: &Env) -> CaseResult {
    if env.dev.max_srq == 0 {
        return Ok(Outcome::Skip("no SRQs".into()));
    }
    let pd = Pd::alloc(&env.ctx).ctx("ibv_alloc_pd")?;
    let srq = Srq::new(&pd, 16, 1).ctx("ibv_create_srq")?;
    // A page that was this process's and is no more.
    let gone = unmapped_page();
    // struct ib_uverbs_modify_srq + struct rxe_modify_srq_cmd.
    let cmd = |addr: u64| {
        let mut b = Vec::new();
        b.extend_from_slice(&srq.handle().to_ne_bytes());
        b.extend_from_slice(&1u32.to_ne_bytes()); // IB_SRQ_MAX_WR
        b.extend_from_slice(&64u32.to_ne_bytes()); // max_wr
        b.extend_from_slice(&0u32.to_ne_bytes()); // srq_limit
        b.extend_from_slice(&addr.to_ne_bytes()); // mmap_info_addr
        b
    };
    const MODIFY_SRQ: u32 = 33; // IB_USER_VERBS_CMD_MODIFY_SRQ
    // Addresses the harness knows to be another guest's registered memory
    // (unless this process happens to have memory there itself: then the
    // driver would rightly write to ours).
    let others: Vec<u64> = std::env::var("XENIB_BAD_ADDRS")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok())
        .filter(|a| !mapped_here(*a))
        .collect();
    for &addr in [gone, 0x10_0000, 0x20_0000].iter().chain(&others) {
        match raw_uverbs_write(srq.cmd_fd(), MODIFY_SRQ, &cmd(addr)) {
            Err(Errno::EFAULT) => {}
            other => return Err(format!("mmap_info_addr {addr:#x}: {other:?}, want EFAULT")),
        }
    }
    // The SRQ is as it was, and still grows.
    let grown = srq.resize(64).ctx("ibv_modify_srq after the bad pointers")?;
    ensure!(grown >= 64, "SRQ holds {grown} WRs");
    Ok(Outcome::Pass(format!(
        "EFAULT for {} addresses; the SRQ then grows",
        3 + others.len()
    )))
}

/// Registers and deregisters 64 MiB of fresh memory `count` times in one
/// context: a context kept busy with long verbs, next to which others
/// must go on.
pub fn reg_loop(dev: &str, count: u32) -> Result<String, String> {
    let ctx = Context::open(dev).ctx("ibv_open_device")?;
    let pd = Pd::alloc(&ctx).ctx("ibv_alloc_pd")?;
    for _ in 0..count {
        let mr = Mr::alloc(&pd, 64 << 20, access::LOCAL_WRITE).ctx("ibv_reg_mr")?;
        drop(mr.dereg().ctx("ibv_dereg_mr")?);
    }
    Ok(format!("registered 64 MiB {count} times"))
}

/// Whether this process has memory at `addr` (`/proc/self/maps`).
fn mapped_here(addr: u64) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    maps.lines().any(|l| {
        let range = l.split_whitespace().next().unwrap_or("");
        let mut it = range.split('-').map(|x| u64::from_str_radix(x, 16).unwrap_or(0));
        matches!((it.next(), it.next()), (Some(a), Some(b)) if a <= addr && addr < b)
    })
}

/// Holds a registered 1 MiB MR filled with a pattern for `secs` seconds,
/// having written its address (hex) to `file`, then checks that nobody
/// changed it: the target of an attack from another guest.
pub fn hold_mr(dev: &str, file: &str, secs: u64) -> Result<String, String> {
    let ctx = Context::open(dev).ctx("ibv_open_device")?;
    let pd = Pd::alloc(&ctx).ctx("ibv_alloc_pd")?;
    let len = 1 << 20;
    let mr = Mr::alloc(&pd, len, access::LOCAL_WRITE | access::REMOTE_WRITE).ctx("ibv_reg_mr")?;
    let want = pattern(0x401d, len);
    mr.write(0, &want);
    std::fs::write(file, format!("{:#x}\n", mr.addr(0))).map_err(|e| format!("{file}: {e}"))?;
    std::thread::sleep(Duration::from_secs(secs));
    same("the held MR", &mr.read(0, len), &want)?;
    Ok(format!("held {len} bytes at {:#x} for {secs} s: intact", mr.addr(0)))
}

/// `--resize-pair PORT [HOST]`: the resize cases between two machines
/// (the Xen suite: domu2 serves, domu1 connects to it). The server's
/// receive side grows an SRQ (16 -> 256 WRs) and a CQ (16 -> 512 CQEs);
/// the client sends 220 messages into that SRQ. Only once the client has
/// seen every send complete does the server poll, so its grown CQ holds
/// all 220 completions at once; each message's data is checked.
pub fn resize_pair(dev: &str, gid_index: Option<i32>, port: u16, peer: Option<&str>) -> Result<String, String> {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    let n = 220;
    // Room for the longest message and the guard bytes after it.
    let slot = 1024;
    let env = Env::open(dev, gid_index)?;
    let pd = Pd::alloc(&env.ctx).ctx("ibv_alloc_pd")?;
    let serving = peer.is_none();
    let (cq, srq) = if serving {
        let cq = Cq::new(&env.ctx, 16, None).ctx("ibv_create_cq")?;
        let cqe = cq.resize(512).ctx("ibv_resize_cq")?;
        ensure!(cqe >= 512, "CQ holds {cqe} entries after growing to 512");
        let srq = Srq::new(&pd, 16, 1).ctx("ibv_create_srq")?;
        let grown = srq.resize(256).ctx("ibv_modify_srq(IBV_SRQ_MAX_WR)")?;
        ensure!(grown >= 256, "SRQ holds {grown} WRs after growing to 256");
        (cq, Some(srq))
    } else {
        (Cq::new(&env.ctx, 256, None).ctx("ibv_create_cq")?, None)
    };
    let caps = QpCaps {
        max_send_wr: 256,
        max_recv_wr: 256,
        ..DEFAULT_CAPS
    };
    let qp = Qp::new(&pd, QpType::Rc, &cq, &cq, srq.as_ref(), caps).ctx("ibv_create_qp")?;
    let mr = Mr::alloc(&pd, slot * n, access::LOCAL_WRITE).ctx("ibv_reg_mr")?;
    let msgs: Vec<Vec<u8>> = (0..n).map(|i| pattern(0x5e1f + i as u64, 64 + 2 * i)).collect();
    if let Some(srq) = &srq {
        mr.buf().fill(0, mr.len(), GUARD);
        let recvs: Vec<RecvWr> = (0..n).map(|i| recv(i as u64, vec![mr.sge(i * slot, slot)])).collect();
        srq.post_recv(&recvs).ctx("ibv_post_srq_recv")?;
    }
    // The QPs' addresses, one line each way: "QPN PSN GID".
    let stream = match peer {
        None => {
            let l = TcpListener::bind(("0.0.0.0", port)).map_err(|e| format!("listen on {port}: {e}"))?;
            l.accept().map_err(|e| format!("accept: {e}"))?.0
        }
        Some(h) => TcpStream::connect((h, port)).map_err(|e| format!("connect to {h}:{port}: {e}"))?,
    };
    let mut out = stream.try_clone().map_err(|e| e.to_string())?;
    let mut lines = BufReader::new(stream).lines();
    let mut next_line = || -> Result<String, String> {
        lines.next().ok_or("the peer closed the connection")?.map_err(|e| e.to_string())
    };
    let psn = if serving { 200 } else { 100 };
    let gid: String = env.gid.0.iter().map(|b| format!("{b:02x}")).collect();
    writeln!(out, "{} {psn} {gid}", qp.qp_num()).map_err(|e| e.to_string())?;
    let line = next_line()?;
    let f: Vec<&str> = line.split_whitespace().collect();
    let parse = || -> Option<(u32, u32, Gid)> {
        let mut g = [0u8; 16];
        for (i, b) in g.iter_mut().enumerate() {
            *b = u8::from_str_radix(f.get(2)?.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some((f.first()?.parse().ok()?, f.get(1)?.parse().ok()?, Gid(g)))
    };
    let (rqpn, rpsn, rgid) = parse().ok_or(format!("bad peer address line {line:?}"))?;
    connect_rc_to(&env, &qp, psn, rqpn, rpsn, rgid)?;
    writeln!(out, "ready").map_err(|e| e.to_string())?;
    ensure!(next_line()? == "ready", "the peer is not ready");
    if !serving {
        for (i, m) in msgs.iter().enumerate() {
            mr.write(i * slot, m);
            qp.post_send(&[send(i as u64, vec![mr.sge(i * slot, m.len())])])
                .ctx("ibv_post_send")?;
            if i % 32 == 31 || i == n - 1 {
                let want = i % 32 + 1;
                let done = cq.poll_n(want, TIMEOUT).ctx("ibv_poll_cq")?;
                ensure!(done.len() == want, "{} of {want} send completions", done.len());
                for wc in &done {
                    ensure!(wc.status == st::IBV_WC_SUCCESS, "send {} status {}", wc.wr_id, status_name(wc.status));
                }
            }
        }
        writeln!(out, "sent").map_err(|e| e.to_string())?;
        let verdict = next_line()?;
        ensure!(verdict == "ok", "the receiver: {verdict}");
        return Ok(format!("{n} messages sent into the peer's grown SRQ, which checked them"));
    }
    ensure!(next_line()? == "sent", "the sender did not finish");
    let check = || -> Result<(), String> {
        let wcs = cq.poll_n(n, TIMEOUT).ctx("ibv_poll_cq")?;
        ensure!(wcs.len() == n, "{} of {n} receive completions", wcs.len());
        for (i, wc) in wcs.iter().enumerate() {
            ensure!(wc.status == st::IBV_WC_SUCCESS, "recv {i} status {}", status_name(wc.status));
            // One QP: messages arrive in order, in the SRQ's WRs in order.
            ensure!(wc.wr_id == i as u64, "completion {i} has wr_id {}", wc.wr_id);
            ensure!(wc.byte_len as usize == msgs[i].len(), "message {i}: byte_len {}", wc.byte_len);
            same(&format!("message {i}"), &mr.read(i * slot, msgs[i].len()), &msgs[i])?;
            guard_intact("after the message", &mr, i * slot + msgs[i].len(), 16)?;
        }
        Ok(())
    };
    let verdict = check();
    writeln!(out, "{}", verdict.as_ref().err().map_or("ok", |e| e.as_str())).map_err(|e| e.to_string())?;
    verdict?;
    Ok(format!("SRQ 16 -> 256 WRs, CQ 16 -> 512 CQEs: {n} messages from the peer, all held, all intact"))
}

/// `--exhaust-qps`: creates RC QPs until the device refuses one; prints
/// the device's `max_qp`, how many it created and the errno, then frees
/// them and creates one more. For the quota test (guest/25-quotas.sh).
pub fn exhaust_qps(dev: &str, gid_index: Option<i32>, limit: usize) -> Result<String, String> {
    let env = Env::open(dev, gid_index)?;
    let pd = Pd::alloc(&env.ctx).ctx("ibv_alloc_pd")?;
    let cq = Cq::new(&env.ctx, 16, None).ctx("ibv_create_cq")?;
    let mut qps = Vec::new();
    let refused = loop {
        if qps.len() >= limit {
            return Err(format!("{limit} QPs created, none refused"));
        }
        match Qp::new(&pd, QpType::Rc, &cq, &cq, None, DEFAULT_CAPS) {
            Ok(q) => qps.push(q),
            Err(e) => break e,
        }
    };
    let created = qps.len();
    qps.clear();
    let again = Qp::new(&pd, QpType::Rc, &cq, &cq, None, DEFAULT_CAPS).ctx("ibv_create_qp after freeing")?;
    drop(again);
    Ok(format!(
        "max_qp {} created {created} refused {refused:?} again ok",
        env.dev.max_qp
    ))
}

/// `--exhaust-mws LIMIT`: allocates type 1 memory windows until one is
/// refused (at most LIMIT); prints the device's `max_mw`, how many were
/// made and the errno, the backend's `objects.mws` while they are held
/// (`?` where `/dev/xenib_back` is not readable, as in a domU), and
/// whether one can be made again after one is freed. The rest are left
/// to the process's exit (guest/25-quotas.sh: they must be given back).
pub fn exhaust_mws(dev: &str, limit: usize) -> Result<String, String> {
    let ctx = Context::open(dev).ctx("ibv_open_device")?;
    let max_mw = ctx.query_device().ctx("ibv_query_device")?.max_mw;
    let pd = Pd::alloc(&ctx).ctx("ibv_alloc_pd")?;
    let mut mws = Vec::new();
    let refused = loop {
        if mws.len() >= limit {
            return Err(format!("{limit} MWs allocated, none refused"));
        }
        match Mw::alloc(&pd, MW_TYPE_1) {
            Ok(m) => mws.push(m),
            Err(e) => break e,
        }
    };
    let created = mws.len();
    let held = back_counter("objects.mws").map_or("?".to_string(), |n| n.to_string());
    if let Some(m) = mws.pop() {
        m.dealloc().ctx("ibv_dealloc_mw")?;
    }
    mws.push(Mw::alloc(&pd, MW_TYPE_1).ctx("ibv_alloc_mw after freeing one")?);
    // Left to the process's exit.
    std::mem::forget(mws);
    std::mem::forget(pd);
    std::mem::forget(ctx);
    Ok(format!("max_mw {max_mw} created {created} refused {refused:?} held {held} again ok"))
}

/// A counter of `/dev/xenib_back`, if this kernel has the backend.
fn back_counter(name: &str) -> Option<i64> {
    let text = std::fs::read_to_string("/dev/xenib_back").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `--exhaust-mr`: registers 32 MiB, then 32 MiB more; prints whether
/// each worked (the errno if not) and the process's `VmPin` (kB) after
/// the second and after both are gone and the device is closed (a
/// registration cache, xib0's, may keep a deregistered range pinned until
/// then). For the quota test (guest/25-quotas.sh): a registration refused
/// by the backend leaves nothing pinned.
pub fn exhaust_mr(dev: &str) -> Result<String, String> {
    let ctx = Context::open(dev).ctx("ibv_open_device")?;
    let pd = Pd::alloc(&ctx).ctx("ibv_alloc_pd")?;
    let len = 32 << 20;
    let first = Mr::alloc(&pd, len, access::LOCAL_WRITE).ctx("ibv_reg_mr (first)")?;
    let second = Mr::alloc(&pd, len, access::LOCAL_WRITE);
    let verdict = match &second {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("{e:?}"),
    };
    let pinned = proc_kb("/proc/self/status", "VmPin:").unwrap_or(u64::MAX);
    drop(second);
    drop(first);
    drop(pd);
    drop(ctx);
    let pinned_end = proc_kb("/proc/self/status", "VmPin:").unwrap_or(u64::MAX);
    Ok(format!("first ok second {verdict} vmpin {pinned} vmpin_end {pinned_end}"))
}

macro_rules! case {
    ($f:ident, $what:expr) => {
        Case {
            name: stringify!($f),
            what: $what,
            run: $f,
        }
    };
}

pub const CASES: &[Case] = &[
    case!(
        device_query,
        "open, query device/port/GIDs: port active, the GID in use valid"
    ),
    case!(pd_alloc, "allocate/free PDs, distinct handles"),
    case!(mr_1page, "register a 1-page MR"),
    case!(mr_3pages_unaligned, "register 3 pages starting mid-page"),
    case!(mr_1mib, "register 1 MiB"),
    case!(
        mr_read_only,
        "a REMOTE_READ MR over PROT_READ memory: reads it, a write refused"
    ),
    case!(mr_64mib, "register 64 MiB"),
    case!(
        cq_event_channel,
        "req_notify + SEND wakes the completion channel"
    ),
    case!(
        rc_send_recv,
        "RC SEND/RECV of sizes 0..1 MiB, byte for byte"
    ),
    case!(
        rc_send_multi_sge,
        "RC SEND gathering 3 SGEs, receive scattering into 3"
    ),
    case!(rc_send_inline, "RC SEND with IBV_SEND_INLINE"),
    case!(
        rc_path_fields,
        "RC path with flow label, traffic class, SL, rate, dlid, path bits: data, read back as rxe"
    ),
    case!(
        rc_rdma_write,
        "RC RDMA WRITE of sizes 1..1 MiB to an unaligned address"
    ),
    case!(
        rc_rdma_write_imm,
        "RC RDMA WRITE WITH IMM and SEND WITH IMM"
    ),
    case!(
        rc_rdma_read,
        "RC RDMA READ of sizes 1..1 MiB, and a 3-SGE read"
    ),
    case!(
        rc_atomic_fetch_add,
        "RC FETCH_AND_ADD: old values and memory"
    ),
    case!(rc_atomic_cmp_swap, "RC CMP_AND_SWP: miss, hit, stale miss"),
    case!(
        ud_send_recv,
        "UD SEND/RECV through an AH, payload after the GRH"
    ),
    case!(srq_two_qps, "two RC QPs receiving from one SRQ"),
    case!(mr_rereg, "ibv_rereg_mr: access flags, then a new buffer"),
    case!(mr_cache_reuse, "reg/dereg/reg of one buffer, then new pages at its address: writes land in its memory; dead rkey refused"),
    case!(srq_limit_event, "SRQ limit reached: an asynchronous event for the right SRQ"),
    case!(mr_256mib, "register 256 MiB, RDMA-write start, middle and end; 8 rounds; none of it pinned after"),
    case!(qp_churn, "create and destroy 3000 QPs, then a new pair passes data"),
    case!(srq_resize, "ibv_modify_srq grows an SRQ; 120 messages through it"),
    case!(cq_resize, "ibv_resize_cq grows a CQ that then holds 220 completions"),
    case!(
        err_modify_srq_bad_pointer,
        "modify_srq with a provider pointer to unmapped memory -> EFAULT"
    ),
    case!(
        err_send_bad_lkey,
        "SEND with a bad lkey -> WR_FLUSH_ERR (rxe), QP in ERR"
    ),
    case!(
        err_send_sge_out_of_mr,
        "SEND SGE past the MR end -> WR_FLUSH_ERR (rxe), QP in ERR"
    ),
    case!(
        err_write_bad_rkey,
        "RDMA WRITE with a bad rkey -> REM_ACCESS_ERR"
    ),
    case!(
        err_write_no_remote_write,
        "RDMA WRITE to an MR without REMOTE_WRITE -> REM_ACCESS_ERR"
    ),
    case!(
        err_read_no_remote_read,
        "RDMA READ of an MR without REMOTE_READ -> REM_ACCESS_ERR"
    ),
    case!(
        err_write_past_mr,
        "RDMA WRITE past the remote MR end -> REM_ACCESS_ERR"
    ),
    case!(
        err_recv_too_small,
        "SEND larger than the RECV buffer -> LOC_QP_OP_ERR / REM_OP_ERR (rxe)"
    ),
    case!(err_post_send_reset, "post_send on a QP in RESET -> EINVAL"),
    case!(err_post_send_init, "post_send on a QP in INIT -> EINVAL"),
    case!(
        err_create_qp_too_many_sge,
        "create_qp with max_send_sge > device max -> EINVAL"
    ),
    case!(
        err_sq_overflow,
        "posting more WRs than the SQ holds -> ENOMEM at the first extra"
    ),
    case!(
        err_send_deregistered_mr,
        "SEND using the lkey of a deregistered MR -> WR_FLUSH_ERR (rxe)"
    ),
    case!(mw_type1, "type 1 window: ibv_bind_mw, WRITE/READ through it, unbind -> REM_ACCESS_ERR"),
    case!(mw_type2, "type 2 window: IBV_WR_BIND_MW, WRITE/READ through it, LOCAL_INV -> REM_ACCESS_ERR"),
    case!(mw_type2_send_inv, "type 2 window invalidated by the peer's SEND_WITH_INV -> REM_ACCESS_ERR"),
    case!(err_mw_write_past_window, "RDMA WRITE past a window's end -> REM_ACCESS_ERR"),
    case!(err_mw_bind_without_right, "bind to an MR without MW_BIND -> WR_FLUSH_ERR (rxe), QP in ERR; MW type 3 -> EINVAL"),
    case!(err_create_cq_no_provider_response, "CREATE_CQ without room for the provider's response -> EINVAL"),
    case!(ioctl_cq_create, "CQ_CREATE/CQ_DESTROY by ioctl with the provider's UHW_OUT; queue mapped"),
    case!(ioctl_device_queries, "QUERY_PORT, QUERY_GID_TABLE/ENTRY, QUERY_MR by ioctl = write()/sysfs/ibv_mr"),
    case!(err_ioctl_unserved_methods, "DM, counters, dmabuf, advise, driver methods by ioctl -> EOPNOTSUPP/EPROTONOSUPPORT"),
];
