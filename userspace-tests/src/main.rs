// SPDX-License-Identifier: GPL-2.0
//! xenib-verbs-test: data-integrity and error-case tests of an RDMA device
//! through unmodified libibverbs, in one process (loopback).
//!
//!   xenib-verbs-test --dev NAME [--gid-index N] [--filter SUBSTR] [--list]
//!
//! Prints TAP (`ok N - name`, `not ok N - name: reason`, `# SKIP reason`)
//! and exits 1 if any case failed, 2 on a usage error.

#![forbid(unsafe_op_in_unsafe_fn)]

mod cases;
mod verbs;

use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::time::Instant;

use cases::{Env, Outcome, CASES};

struct Args {
    dev: String,
    gid_index: Option<i32>,
    filter: Option<String>,
    list: bool,
    /// `--hold FILE SECONDS`: hold a registered MR (see `cases::hold_mr`).
    hold: Option<(String, u64)>,
    /// `--reg-loop COUNT`: register 64 MiB COUNT times (`cases::reg_loop`).
    reg_loop: Option<u32>,
    /// `--resize-pair -p PORT [HOST]` (`cases::resize_pair`).
    resize_pair: bool,
    /// `--exhaust-qps LIMIT` (`cases::exhaust_qps`).
    exhaust_qps: Option<usize>,
    /// `--exhaust-mr` (`cases::exhaust_mr`).
    exhaust_mr: bool,
    /// `--exhaust-mws LIMIT` (`cases::exhaust_mws`).
    exhaust_mws: Option<usize>,
    port: u16,
    host: Option<String>,
}

const USAGE: &str = "usage: xenib-verbs-test --dev NAME [--gid-index N] [--filter SUBSTR] [--list]
       xenib-verbs-test --dev NAME --hold ADDR-FILE SECONDS
       xenib-verbs-test --dev NAME --reg-loop COUNT
       xenib-verbs-test --dev NAME [--gid-index N] --resize-pair -p PORT [HOST]
       xenib-verbs-test --dev NAME [--gid-index N] --exhaust-qps LIMIT
       xenib-verbs-test --dev NAME --exhaust-mr
       xenib-verbs-test --dev NAME --exhaust-mws LIMIT
  XENIB_BAD_ADDRS=\"A B ...\": more addresses err_modify_srq_bad_pointer must get EFAULT for";

fn parse_args() -> Result<Args, String> {
    let mut dev = None;
    let mut gid_index = None;
    let mut filter = None;
    let mut list = false;
    let mut hold = None;
    let mut reg_loop = None;
    let mut resize_pair = false;
    let mut exhaust_qps = None;
    let mut exhaust_mr = false;
    let mut exhaust_mws = None;
    let mut port = 18515;
    let mut host = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--dev" | "-d" => dev = Some(val("--dev")?),
            "--gid-index" | "-g" => {
                let v = val("--gid-index")?;
                gid_index = Some(v.parse().map_err(|_| format!("bad --gid-index {v}"))?);
            }
            "--filter" | "-f" => filter = Some(val("--filter")?),
            "--list" => list = true,
            "--reg-loop" => {
                let v = val("--reg-loop")?;
                reg_loop = Some(v.parse().map_err(|_| format!("bad count {v}"))?);
            }
            "--hold" => {
                let file = val("--hold")?;
                let secs = it.next().ok_or("--hold needs a file and seconds")?;
                let secs = secs.parse().map_err(|_| format!("bad seconds {secs}"))?;
                hold = Some((file, secs));
            }
            "--resize-pair" => resize_pair = true,
            "--exhaust-mr" => exhaust_mr = true,
            "--exhaust-mws" => {
                let v = val("--exhaust-mws")?;
                exhaust_mws = Some(v.parse().map_err(|_| format!("bad limit {v}"))?);
            }
            "--exhaust-qps" => {
                let v = val("--exhaust-qps")?;
                exhaust_qps = Some(v.parse().map_err(|_| format!("bad limit {v}"))?);
            }
            "-p" | "--port" => {
                let v = val("--port")?;
                port = v.parse().map_err(|_| format!("bad port {v}"))?;
            }
            "--help" | "-h" => return Err(String::new()),
            _ if resize_pair && !a.starts_with('-') && host.is_none() => host = Some(a),
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    let dev = match (dev, list) {
        (Some(d), _) => d,
        (None, true) => String::new(),
        (None, false) => return Err("--dev is required".into()),
    };
    Ok(Args {
        dev,
        gid_index,
        filter,
        list,
        hold,
        reg_loop,
        resize_pair,
        exhaust_qps,
        exhaust_mr,
        exhaust_mws,
        port,
        host,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("xenib-verbs-test: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let special = match (&args.hold, args.reg_loop) {
        (Some((file, secs)), _) => Some(cases::hold_mr(&args.dev, file, *secs)),
        (None, Some(n)) => Some(cases::reg_loop(&args.dev, n)),
        (None, None) if args.exhaust_mr => Some(cases::exhaust_mr(&args.dev)),
        (None, None) if args.exhaust_mws.is_some() => {
            Some(cases::exhaust_mws(&args.dev, args.exhaust_mws.unwrap_or(0)))
        }
        (None, None) if args.exhaust_qps.is_some() => {
            Some(cases::exhaust_qps(&args.dev, args.gid_index, args.exhaust_qps.unwrap_or(0)))
        }
        (None, None) if args.resize_pair => Some(cases::resize_pair(
            &args.dev,
            args.gid_index,
            args.port,
            args.host.as_deref(),
        )),
        (None, None) => None,
    };
    if let Some(result) = special {
        return match result {
            Ok(msg) => {
                println!("{msg}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("xenib-verbs-test: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let selected: Vec<_> = CASES
        .iter()
        .filter(|c| {
            args.filter
                .as_ref()
                .is_none_or(|f| c.name.contains(f.as_str()))
        })
        .collect();
    if args.list {
        for c in &selected {
            println!("{:<28} {}", c.name, c.what);
        }
        return ExitCode::SUCCESS;
    }
    if selected.is_empty() {
        eprintln!("xenib-verbs-test: no case matches the filter");
        return ExitCode::from(2);
    }

    println!("TAP version 13");
    println!("1..{}", selected.len());
    let start = Instant::now();
    // Failing to open the device fails every case with the same reason.
    let env = Env::open(&args.dev, args.gid_index);
    if let Ok(env) = &env {
        println!(
            "# device {} port 1 gid[{}] {} mtu {}",
            args.dev, env.gid_index, env.gid, env.mtu
        );
    }
    // A panic in a case (a bug) fails that case; keep the output TAP.
    panic::set_hook(Box::new(|_| {}));
    let mut failed = 0;
    for (i, case) in selected.iter().enumerate() {
        let n = i + 1;
        let t0 = Instant::now();
        let outcome = match &env {
            Err(e) => Outcome::Fail(format!("cannot set up device {}: {e}", args.dev)),
            Ok(env) => match panic::catch_unwind(AssertUnwindSafe(|| (case.run)(env))) {
                Ok(Ok(o)) => o,
                Ok(Err(e)) => Outcome::Fail(e),
                Err(p) => {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    Outcome::Fail(format!("panicked: {msg}"))
                }
            },
        };
        let ms = t0.elapsed().as_millis();
        match outcome {
            Outcome::Pass(note) => {
                let sep = if note.is_empty() { "" } else { "; " };
                println!("# {}: {note}{sep}{ms} ms", case.name);
                println!("ok {n} - {}", case.name);
            }
            Outcome::Skip(why) => println!("ok {n} - {} # SKIP {why}", case.name),
            Outcome::Fail(why) => {
                failed += 1;
                println!("not ok {n} - {}: {}", case.name, why.replace('\n', " / "));
            }
        }
    }
    println!(
        "# {} passed or skipped, {failed} failed, {:.1} s",
        selected.len() - failed,
        start.elapsed().as_secs_f64()
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
