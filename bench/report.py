#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Turns the guest's raw benchmark output (bench/guest.sh) into a report.

    report.py RAW.log OUTDIR [--meta KEY=VALUE ...]

Writes OUTDIR/measurements.csv (every measurement of every round),
OUTDIR/ratios.csv (xib0/rxe0 per measurement: per round, median and
spread), OUTDIR/report.md and, if matplotlib is there, OUTDIR/*.png.
Exits 1 if the raw output has no measurement at all.
"""

import csv
import math
import os
import re
import statistics
import sys
from collections import defaultdict

NATIVE, PV = "rxe0", "xib0"
KIB, MIB = 1024, 1024 * 1024

# metric -> (unit, higher is better)
METRICS = {
    "lat_typical": ("us", False),
    "lat_avg": ("us", False),
    "lat_min": ("us", False),
    "lat_p99": ("us", False),
    "bw_avg": ("MB/s", True),
    "bw_peak": ("MB/s", True),
    "msg_rate": ("Mpps", True),
    "reg_us": ("us", False),
    "dereg_us": ("us", False),
    "rate_per_s": ("1/s", True),
    "create_us": ("us", False),
    "destroy_us": ("us", False),
    "init_us": ("us", False),
    "rtr_us": ("us", False),
    "rts_us": ("us", False),
    "post_us": ("us", False),
    "complete_us": ("us", False),
    # MPI (xenib-mpi-pingpong --bench, Xen mode)
    "mpi_lat_us": ("us", False),
    "mpi_lat_min_us": ("us", False),
    "mpi_bw": ("MB/s", True),
    "mpi_allreduce_us": ("us", False),
    "mpi_allreduce_min_us": ("us", False),
}
# The metric each test is judged by.
PRIMARY = {
    "lat": "lat_typical",
    "bw": "bw_avg",
    "reg_first": "reg_us",
    "reg_repeated": "reg_us",
    "cq": "rate_per_s",
    "qp": "rate_per_s",
    "qp-rts": "rate_per_s",
    "post1": "complete_us",
    "post16": "complete_us",
}
# The MPI tests: test -> (metric, its fastest-iteration companion or None,
# title, y label, what one value is).
MPI_TESTS = {
    "mpi-latency": ("mpi_lat_us", "mpi_lat_min_us", "MPI latency", "latency [µs]",
                    "ping-pong, half the round trip: median of the iterations"),
    "mpi-bandwidth": ("mpi_bw", None, "MPI bandwidth", "bandwidth [MB/s]",
                      "uni-directional, a window of MPI_Isend then a 1-byte reply: "
                      "median of the iterations' MB/s"),
    "mpi-allreduce": ("mpi_allreduce_us", "mpi_allreduce_min_us", "MPI_Allreduce", "time [µs]",
                      "MPI_SUM of longs over both ranks, after a barrier: median of the iterations"),
}


def kind(test):
    if test.endswith("_lat") or "_lat-" in test:
        return "lat"
    if test.endswith("_bw"):
        return "bw"
    return test


def human(size):
    size = int(size)
    if size >= MIB and size % MIB == 0:
        return f"{size // MIB} MiB"
    if size >= KIB and size % KIB == 0:
        return f"{size // KIB} KiB"
    return f"{size} B"


def kv(fields):
    out = {}
    for f in fields:
        if "=" in f:
            k, v = f.split("=", 1)
            out[k] = v
    return out


def num(v):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def parse(path):
    """Returns (rows, counts, env, failures, backend, evtchn, mpiruns).

    rows: dicts round, dev, test, size, metric, value.
    counts: (round, test, size) -> {Op: n} for xib0.
    evtchn: path -> [{round, median_us, min_us, p99_us, ...}] (Xen mode).
    mpiruns: [{round, dev, status, rxe0_sent_pkts, doorbells, ...}], one per mpirun.
    """
    rows, counts, env, failures, backend, mpiruns = [], {}, {}, [], [], []
    evtchn = defaultdict(list)
    in_backend = False
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if in_backend:
                m = re.match(r"^(\S+) (-?\d+)$", line)
                if m:
                    backend.append((m.group(1), int(m.group(2))))
                    continue
                in_backend = False
            if not line.startswith("@"):
                continue
            tag, *rest = line.split()
            d = kv(rest)
            if tag == "@env":
                env.update(d)
            elif tag == "@backend":
                in_backend = True
            elif tag == "@perf" or tag == "@mpi":
                r, dev, test, size = int(d["round"]), d["dev"], d["test"], int(d["size"])
                if d.get("status") != "ok":
                    failures.append(dict(round=r, dev=dev, test=test, size=size,
                                         status=d.get("status"), tries=d.get("tries", "1")))
                else:
                    for m in METRICS:
                        if num(d.get(m)) is not None:
                            rows.append(dict(round=r, dev=dev, test=test, size=size,
                                             metric=m, value=num(d[m]), tries=int(d.get("tries", 1))))
                if tag == "@perf" and dev == PV and d.get("status") == "ok":
                    ops = {k: int(v) for k, v in d.items() if k[:1].isupper()}
                    counts[(r, test, size)] = dict(ops, iters=int(d["iters"]))
            elif tag == "@bench":
                r, dev, t = int(d["round"]), d["dev"], d["test"]
                if t == "reg":
                    test, size = f"reg_{d['kind']}", int(d["size"])
                    # Mean µs per call of each phase of xib0's two sides.
                    ph = {k[3:]: num(v) for k, v in d.items() if k.startswith("ph.")}
                    if ph:
                        counts[(r, "phases-" + d["kind"], size)] = ph
                elif t == "post":
                    test, size = f"post{d['wrs_per_post']}", 2
                else:
                    test, size = t, 0
                for m in METRICS:
                    if num(d.get(m)) is not None:
                        rows.append(dict(round=r, dev=dev, test=test, size=size,
                                         metric=m, value=num(d[m]), tries=1))
            elif tag == "@count":
                ops = {k: int(v) for k, v in d.items() if k[:1].isupper()}
                # Microseconds the backend spent executing each operation.
                ops["busy"] = {k[len("busy_us."):]: int(v) for k, v in d.items()
                               if k.startswith("busy_us.")}
                counts[(int(d["round"]), "bench-" + d["what"], 0)] = ops
            elif tag == "@mpirun":
                mpiruns.append(dict({k: num(v) for k, v in d.items()}, round=int(d["round"]), dev=d["dev"],
                                    tls=d.get("tls") or None))
            elif tag == "@evtchn":
                evtchn[d["path"]].append(dict({k: num(v) for k, v in d.items()}, round=int(d["round"])))
    return rows, counts, env, failures, backend, evtchn, mpiruns


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratios(rows):
    """(test, size, metric) -> dict native, pv (medians over rounds),
    per_round {round: ratio}, ratio (median of per-round ratios), lo, hi."""
    by = defaultdict(dict)  # (test,size,metric) -> {(dev,round): value}
    for r in rows:
        by[(r["test"], r["size"], r["metric"])][(r["dev"], r["round"])] = r["value"]
    out = {}
    for key, vals in by.items():
        rounds = sorted({rd for (_, rd) in vals})
        per = {}
        for rd in rounds:
            n, p = vals.get((NATIVE, rd)), vals.get((PV, rd))
            if n and p is not None and n > 0:
                per[rd] = p / n
        nv = [v for (d, _), v in vals.items() if d == NATIVE]
        pv = [v for (d, _), v in vals.items() if d == PV]
        out[key] = dict(
            native=med(nv),
            pv=med(pv),
            native_span=(min(nv), max(nv)) if nv else None,
            pv_span=(min(pv), max(pv)) if pv else None,
            per_round=per,
            ratio=med(list(per.values())),
            lo=min(per.values()) if per else None,
            hi=max(per.values()) if per else None,
        )
    return out


def sort_key(k):
    test, size, metric = k
    order = ["ib_send_lat", "ib_write_lat", "ib_read_lat", "ib_send_lat-e",
             "ib_write_bw", "ib_send_bw", "ib_read_bw", "reg_first", "reg_repeated",
             "cq", "qp", "qp-rts", "post1", "post16"] + list(MPI_TESTS)
    return (order.index(test) if test in order else 99, test, size, list(METRICS).index(metric))


def fmt(x, digits=3):
    if x is None:
        return "–"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def fr(x):
    return "–" if x is None else f"{x:.2f}"


# ---------------------------------------------------------------------------
# The physical limit (Xen mode): one event-channel round trip

# The round trip the excess is counted in: a verb's front -> back -> front.
UNIT_PATH = "domu-dom0"
PATHS = {"domu-dom0": "domu1 ↔ dom0",
         "domu-domu": "domu1 → dom0 → domu2 → dom0 → domu1"}


def round_trips(evtchn):
    """path -> median over rounds of median_us and p99_us, min of min_us, and
    the per-round medians."""
    out = {}
    for path, runs in evtchn.items():
        runs = [r for r in runs if r.get("median_us") is not None]
        if runs:
            out[path] = dict(median=med([r["median_us"] for r in runs]),
                             min=min(r["min_us"] for r in runs),
                             p99=med([r["p99_us"] for r in runs]),
                             per_round=[r["median_us"] for r in sorted(runs, key=lambda r: r["round"])],
                             n=int(runs[0]["n"]))
    return out


def excess_us(metric, x):
    """What xib0 adds to one operation over native, in µs: the difference of
    the medians for times, of the time per operation for rates. None for
    bandwidths, which are throughput rather than a wait per operation."""
    n, p = x.get("native"), x.get("pv")
    if n is None or p is None or n <= 0 or p <= 0:
        return None
    if METRICS[metric][0] == "us":
        return p - n
    if metric == "rate_per_s":
        return 1e6 / p - 1e6 / n
    if metric == "msg_rate":  # Mpps: µs per message
        return 1 / p - 1 / n
    return None


def in_rt(metric, x, unit_us):
    d = excess_us(metric, x)
    return None if d is None or not unit_us else d / unit_us


EXCESS_NOTE = (" \"Excess [RT]\": xib0's median minus rxe0's (for rates, the difference "
               "in time per operation) in units of the domU ↔ dom0 event-channel round trip "
               "measured in the same boot (next section); – for bandwidths, which are "
               "throughput, not a wait per operation.")

# test, size, metric, round trips of notification the path itself needs, why
FLOORS = [
    ("ib_send_lat", 2, "lat_typical", 0.5,
     "perftest reports half a ping-pong; one way is one doorbell notification "
     "domu1 → dom0, and the receiver polls its CQ in shared memory"),
    ("ib_write_lat", 2, "lat_typical", 0.5, "as ib_send_lat"),
    ("ib_read_lat", 2, "lat_typical", 0.5,
     "one doorbell notification; the read's response lands in polled memory"),
    ("post1", 2, "complete_us", 0.5, "one doorbell notification, the CQ polled"),
    ("qp", 0, "rate_per_s", 2,
     "2 forwarded requests, CreateQp (its queues' grants come with the response) and "
     "DestroyQp, each at most one round trip"),
    ("qp-rts", 0, "rate_per_s", 5, "5 requests, with 3 ModifyQp"),
    ("reg_first", MIB, "reg_us", 1, "1 request"),
    ("reg_repeated", MIB, "reg_us", 1, "1 request"),
]


def limit(rt, rts):
    """The measured round trips, and the key gaps counted in them."""
    L = ["## The physical limit: one notification round trip\n",
         "The cheapest cross-domain round trip in this boot: `xenib-evtchn-pingpong` "
         "(`/dev/xen/evtchn`, no ring, no shared memory) bounces one event between "
         "domu1 and an echo, each round before the round's measurements; every "
         "party sleeps until its event comes, as xib0's ends do after their polling "
         "window, so a round trip includes waking the vCPUs and processes involved. "
         "Median, fastest and 99th percentile of the round trips, in µs.\n",
         "| path | median | min | p99 | per round (median) | round trips per run |",
         "|---|---:|---:|---:|---|---:|"]
    for path in sorted(rts, key=lambda p: list(PATHS).index(p) if p in PATHS else 9):
        x = rts[path]
        L.append(f"| {PATHS.get(path, path)} | {fmt(x['median'])} | {fmt(x['min'])} | "
                 f"{fmt(x['p99'])} | {' '.join(fmt(v) for v in x['per_round'])} | {x['n']} |")
    L.append("")
    unit = (rts.get(UNIT_PATH) or {}).get("median")
    if not unit:
        return L
    parts = []
    for t, size, m, floor, why in FLOORS:
        x = rt.get((t, size, m))
        d = excess_us(m, x) if x else None
        if d is None:
            continue
        k = round(d / unit, 1) + 0.0  # no "-0.0"
        rest = (f"so {k - floor:.1f} RT are beyond them" if k > floor
                else "so all of it is within them")
        parts.append(f"- {label(t, size)}: {fr(x['ratio'])}×, {'+' if d >= 0 else '−'}{fmt(abs(d))} µs "
                     f"per operation = **{k:.1f} RT**; the notifications its path needs account "
                     f"for {floor:g} RT ({why}), {rest}.")
    if parts:
        L.append(f"xib0's excess over native in units of one domU ↔ dom0 round trip "
                 f"(RT = {fmt(unit)} µs); what the notifications themselves must cost is "
                 "what the emulated machine imposes, the rest is ours (the ring, the "
                 "backend's work, and the scheduling of the vCPUs that must run):\n")
        L.extend(parts)
        L.append("")
    return L


# ---------------------------------------------------------------------------
# Targets

TARGETS = [
    # name, tests, sizes, metric, bound, is upper bound
    ("2-byte latency ≤ 1.05× native", ["ib_send_lat", "ib_write_lat", "ib_read_lat"], [2],
     "lat_typical", 1.05, True),
    ("large-message bandwidth ≥ 0.98× native", ["ib_write_bw", "ib_send_bw", "ib_read_bw"],
     [4 * MIB, MIB], "bw_avg", 0.98, False),
    ("reg_mr of 1 MiB ≤ 1.5× native", ["reg_first", "reg_repeated"], [MIB], "reg_us", 1.5, True),
    ("create+destroy QP rate ≥ 0.5× native", ["qp", "qp-rts"], [0], "rate_per_s", 0.5, False),
]


SUGGEST = [
    ("latency", "the doorbell page already takes the service thread off the send "
     "path; what is left is one notification per send when the backend has "
     "taken the previous bits: ring the real QP from a bounded poll of the page "
     "while sends are frequent (NAPI-style) to spare those, and measure on an "
     "idle host, where ratios of scheduler ticks stop dominating."),
    ("bandwidth", "sends with several WRs outstanding already coalesce in the "
     "doorbell page (a bit already set costs no notification); check large "
     "messages again on an idle host, where the spread allows a 2% verdict."),
    ("reg_mr", "a repeated registration is served from the registration cache "
     "and pays the request's trip and rxe's own registration (which pins the "
     "pages again); for every registration, fewer "
     "operations per page: rxe pins the pages a second time, and registering "
     "the page list with the driver directly (no service-process mapping at "
     "all) would spare that and the user half of each PV grant mapping. "
     "(Mapping each grant only for the kernel, with the service's PTEs "
     "pointing at a dummy page, was measured and is slower in a PV dom0: 256 "
     "PTE writes and their zap cost more than the grant operations that clear "
     "them in one batch.)"),
    ("QP", "the queue mappings already come with the CreateQp response (no Mmap "
     "requests for rxe's queues): what is left is the price of each forwarded "
     "request, the ring round trip and the context server's wake-up, against a "
     "local ioctl, and the backend's own work (mapping and granting the queues "
     "at create, releasing them at destroy). On Xen the round trip is the "
     "scheduling of the vCPUs involved (see the backend's busy time above)."),
]


def check(rt, test, size, metric, bound, upper):
    x = rt.get((test, size, metric))
    if not x or x["ratio"] is None:
        return None
    r = x["ratio"]
    ok = r <= bound if upper else r >= bound
    # how far off: as a factor of the bound
    if upper:
        off = r / bound
        whole = x["hi"] <= bound
    else:
        off = bound / r if r > 0 else math.inf
        whole = x["lo"] >= bound
    return dict(x, ok=ok, off=off, whole=whole)


def label(test, size):
    names = {"reg_first": "reg_mr (first)", "reg_repeated": "reg_mr (repeated)",
             "qp": "QP create+destroy", "qp-rts": "QP create+RTS+destroy",
             "cq": "CQ create+destroy", "post1": "post+complete 1 WR",
             "post16": "post+complete per WR (16/post)",
             "ib_send_lat-e": "ib_send_lat -e (events)"}
    names.update({t: v[2] for t, v in MPI_TESTS.items()})
    n = names.get(test, test)
    return n if size == 0 else f"{n} {human(size)}"


# ---------------------------------------------------------------------------
# Evidence for the bottleneck analysis

def kicks_per_post(counts, test, size):
    """Median over rounds of send doorbells (Kick requests or doorbell-page
    rings) per perftest iteration."""
    vals = []
    for (r, t, s), c in counts.items():
        if t == test and s == size and c.get("iters"):
            vals.append((c.get("Kick", 0) + c.get("Doorbell", 0)) / c["iters"])
    return med(vals)


def doorbell_path(counts):
    """Whether sends rang the doorbell page (no requests) or sent Kicks."""
    kicks = sum(c.get("Kick", 0) for c in counts.values())
    bells = sum(c.get("Doorbell", 0) for c in counts.values())
    return "page" if bells > kicks else "kick"


def ctl_requests(counts, what):
    """Median over rounds of each backend request count of a bench test."""
    per = defaultdict(list)
    for (r, t, s), c in counts.items():
        if t == "bench-" + what:
            for op, n in c.items():
                if isinstance(n, int):
                    per[op].append(n)
    return {op: med(v) for op, v in per.items()}


def backend_us(counts, what, op):
    """Median over rounds of the backend's mean execution time of `op` in a
    bench test (µs), or None if the backend does not report it."""
    vals = []
    for (r, t, s), c in counts.items():
        if t == "bench-" + what and c.get(op) and op in c.get("busy", {}):
            vals.append(c["busy"][op] / c[op])
    return med(vals)


def one_request(rt, counts):
    """What one forwarded request costs: the modify_qp steps are one each."""
    extra, seen = [], []
    for m in ("init_us", "rtr_us", "rts_us"):
        x = rt.get(("qp-rts", 0, m))
        if x and x["pv"] is not None and x["native"] is not None:
            extra.append((m[:-3].upper(), x["pv"] - x["native"], x["native"]))
            seen.append(x["pv"])
    if not extra:
        return ""
    s = (" Each modify_qp is exactly one forwarded request, so its extra time is the "
         "price of one request here: " + ", ".join(f"{n} +{d:.0f} µs (native {fmt(v)} µs)"
                                                   for n, d, v in extra)
         + "; a QP's life (CreateQp, DestroyQp, plus 3 ModifyQp to reach RTS) "
         "pays it 2 to 5 times.")
    busy = backend_us(counts, "qp-rts", "ModifyQp")
    if busy is not None:
        mean = sum(seen) / len(seen)
        s += (f" The backend itself spent {busy:.0f} µs executing a ModifyQp (its `busy_us` "
              f"counter, mean) of the {mean:.0f} µs the caller waited (mean of the three "
              f"steps' medians): the other {max(mean - busy, 0):.0f} µs are the trip there and back "
              "(ring, notifications, scheduling of the service thread and of the caller).")
    return s


def rate_line(rt):
    """The 2-byte message rates: where the per-post cost shows."""
    parts = []
    for t in ["ib_write_bw", "ib_send_bw", "ib_read_bw"]:
        x = rt.get((t, 2, "msg_rate"))
        if x and x["ratio"] is not None:
            parts.append(f"{t} {x['ratio']:.2f}× [{fr(x['lo'])}–{fr(x['hi'])}]")
    if not parts:
        return ""
    return (" Where the per-post cost is not hidden behind the transfer, 2-byte "
            "message rate, xib0/rxe0: " + ", ".join(parts) + ".")


def evidence(rt, counts, env):
    ev = []
    g = lambda t, s, m: rt.get((t, s, m)) or {}
    # Kicks per message
    lines = []
    for t in ["ib_send_lat", "ib_write_lat", "ib_read_lat", "ib_write_bw", "ib_send_bw", "ib_read_bw"]:
        ks = [(s, kicks_per_post(counts, t, s)) for s in sorted({k[1] for k in rt if k[0] == t})]
        ks = [(s, k) for s, k in ks if k is not None]
        if ks:
            lines.append(f"{t}: " + ", ".join(f"{human(s)} {k:.2f}" for s, k in ks))
    if lines and doorbell_path(counts) == "page":
        ev.append("**Doorbells.** Send doorbells per perftest iteration, all rung "
                  "through the doorbell page (both processes together; a latency "
                  "ping-pong posts on both sides, a bandwidth or read test on the "
                  "client only):\n\n"
                  + "\n".join(f"- {l}" for l in lines)
                  + "\n\nEach `ibv_post_send` sets its QP's bit in the shared page and "
                  "notifies only if the backend has not been told yet; the backend rings "
                  "the real QP (a zero-WR `post_send`) in the notification itself: no "
                  "request, no service thread. What remains per post over native is "
                  "that notification and the bit handling."
                  + rate_line(rt))
    elif lines:
        ev.append("**Doorbells.** Backend `Kick` requests per perftest iteration "
                  "(both processes together; a latency ping-pong posts on both sides, "
                  "a bandwidth or read test on the client only):\n\n"
                  + "\n".join(f"- {l}" for l in lines)
                  + "\n\nEvery `ibv_post_send` becomes one Kick: front → ring → "
                  "`xenib-backd` service thread → uverbs `POST_SEND` on rxe0. Nothing "
                  "coalesces them, so the paravirtual send path costs one ring trip "
                  "plus one wake-up of the service thread per post, where rxe0 does the "
                  "work in the poster's own system call."
                  + rate_line(rt))
    # polling vs events
    p = g("ib_send_lat", 2, "lat_typical")
    e = g("ib_send_lat-e", 2, "lat_typical")
    if p.get("ratio") and e.get("ratio"):
        ev.append(
            f"**CPU contention with busy polling.** 2-byte `ib_send_lat` with busy polling: "
            f"xib0/rxe0 = {p['ratio']:.2f}× ({fmt(p['pv'])} vs {fmt(p['native'])} µs); "
            f"with completion events (`-e`, the pollers sleep): {e['ratio']:.2f}× "
            f"({fmt(e['pv'])} vs {fmt(e['native'])} µs). The guest has "
            f"{env.get('nproc', '?')} vCPUs; during a polling ping-pong both are "
            "spinning in perftest, so the work item that rings each doorbell on xib0 "
            "waits for a CPU to be given up (preemption/tick), whereas rxe0 runs its "
            "send in the poster's own system call.")
    # Scheduler-tick quantisation (CONFIG_HZ=1000 in the guest kernel)
    typ = [(k, v) for k, v in rt.items() if k[2] == "lat_typical"]
    vals = [(k[0], dev, v[key]) for k, v in typ for dev, key in ((NATIVE, "native"), (PV, "pv"))
            if v[key] is not None]
    if vals:
        ticked = [x for x in vals if x[2] >= 900 and abs(x[2] / 1000 - round(x[2] / 1000)) < 0.06]
        mins = []
        for t in ["ib_send_lat", "ib_write_lat", "ib_read_lat"]:
            x = g(t, 2, "lat_min")
            if x.get("ratio"):
                mins.append(f"{t} {fmt(x['pv'])} vs {fmt(x['native'])} µs = {x['ratio']:.2f}×")
        if env.get("mode") == "xen":
            s = ("**Waiting for a vCPU, not the device, sets the latencies on Xen.** A "
                 "ping-pong over xib0 needs three parties at once: the spinning perftest "
                 "processes in domu1 and domu2 and dom0's rxe work; four vCPUs share two "
                 "emulated CPUs, and Xen hands a CPU over per time slice (1 ms, "
                 "`sched_credit_tslice_ms=1`), where the native pair in dom0 is scheduled by "
                 "one kernel at a much finer grain. The control path shows the same: see the "
                 "backend's own time against the caller's below.")
        elif len(ticked) * 4 >= len(vals):
            s = (f"**Scheduler ticks, not the device, set many latencies.** {len(ticked)} of "
                 f"{len(vals)} median latencies (both devices) sit within 6% of a whole number "
                 "of milliseconds, the guest's scheduler tick (HZ=1000): the message waited for "
                 "a thread that needed a CPU — rxe's work items on both devices — while both "
                 "vCPUs were busy (two spinning perftest processes, plus whatever else the host "
                 "runs: see the run's host load above). The ping-pong ratios are then ratios of "
                 "tick counts.")
        else:
            s = (f"**Typical against fastest iterations.** {len(ticked)} of {len(vals)} median "
                 "latencies sit on a whole number of milliseconds (the guest's scheduler tick), "
                 "so few messages waited a whole tick for a CPU.")
        if mins:
            s += (" The fastest iteration of each run (`lat_min`), where nobody waited for a CPU, "
                  "shows the cost of the path itself, 2 bytes: " + "; ".join(mins) + ".")
        ev.append(s)
    p1 = g("post1", 2, "complete_us")
    pp = g("post1", 2, "post_us")
    p16 = g("post16", 2, "complete_us")
    if p1.get("ratio"):
        s = (f"**Kick path in isolation** (one process, one 2-byte RDMA WRITE between two "
             f"QPs of the device, spin-polled, so one vCPU is left for rxe's workers and the service thread): "
             f"post→completion {fmt(p1['pv'])} vs {fmt(p1['native'])} µs = {p1['ratio']:.2f}×")
        if pp.get("ratio"):
            s += (f"; the `ibv_post_send` call alone {fmt(pp['pv'])} vs {fmt(pp['native'])} µs "
                  f"= {pp['ratio']:.2f}× (on xib0 it returns once the Kick is on the ring, "
                  "on rxe0 after rxe has processed the WQE)")
        if p16.get("ratio"):
            s += (f"; 16 WRs per post: {fmt(p16['pv'])} vs {fmt(p16['native'])} µs per WR "
                  f"= {p16['ratio']:.2f}×")
        ev.append(s + ".")
    # Control path
    qp = g("qp", 0, "rate_per_s")
    qc, qd = g("qp", 0, "create_us"), g("qp", 0, "destroy_us")
    cq = g("cq", 0, "rate_per_s")
    if qp.get("ratio"):
        c = ctl_requests(counts, "qp")
        n = c.get("CreateQp")
        per = ""
        if n:
            per = ", ".join(f"{op} {v / n:.1f}" for op, v in sorted(c.items()) if v >= n / 2)
            per = f" Backend requests per QP: {per}."
        ev.append(
            f"**Control path.** QP create+destroy: {fmt(qp['pv'])} vs {fmt(qp['native'])} per s "
            f"= {qp['ratio']:.2f}× (create {fmt(qc.get('pv'))} vs {fmt(qc.get('native'))} µs, "
            f"destroy {fmt(qd.get('pv'))} vs {fmt(qd.get('native'))} µs)."
            + per
            + (f" CQ create+destroy: {cq['ratio']:.2f}×." if cq.get("ratio") else "")
            + one_request(rt, counts)
            + " Each forwarded verb is a synchronous ring round trip to the service "
            "thread, which makes the same uverbs call rxe0's users make; the queue "
            "buffers' grants come with the create response (`Mmap` requests only for "
            "what does not fit, counted above). Both ends poll the ring for up to "
            "200 µs (caller for its response, service for the next request) with the "
            "peer's notifications off while most waits fit in that time, so "
            "back-to-back verbs cost no wake-up; a verb after a pause, or any verb "
            "when the trip takes longer, pays the notification and the wake-ups.")
    rf = g("reg_first", MIB, "reg_us")
    if rf.get("ratio"):
        big = g("reg_first", 64 * MIB, "reg_us")
        s = (f"**Registration.** 1 MiB reg_mr {fmt(rf['pv'])} vs {fmt(rf['native'])} µs "
             f"= {rf['ratio']:.2f}×")
        if big.get("ratio"):
            pages = 64 * MIB // 4096
            s += (f"; 64 MiB {fmt(big['pv'])} vs {fmt(big['native'])} µs = {big['ratio']:.2f}× "
                  f"(xib0 spends {(big['pv'] - big['native']) / pages * 1000:.0f} ns more per "
                  "4 KiB page)")
        busy = backend_us(counts, "reg", "RegMr")
        if busy is not None:
            s += (f"; the backend spent {busy:.0f} µs per RegMr, mean over every size "
                  "measured (`busy_us`)")
        s += phase_breakdown(counts)
        s += (". Per registration, the front pins the pages and grants each one, "
              "listing the references in indirect pages; the back maps every grant "
              "(with Xen, into pages it keeps between registrations: taking them from "
              "the balloon each time cost most of a 1 MiB registration), maps the pages "
              "into the service process as one range and registers that range with "
              "rxe0, which pins them a second time. A deregistration whose range is "
              "unchanged keeps the pages pinned, granted and mapped (the registration "
              "cache): registering the same buffer again is a RegMrCached request, in "
              "which rxe0 registers (and pins) the kept pages again")
        ev.append(s + ".")
    return ev


def phase_breakdown(counts):
    """Where a 1 MiB registration's time goes on xib0, first and repeated:
    the phases of both sides (medians over rounds of their means, µs), as
    the counters `phase_us.*` measured them around each size."""
    out = []
    for kind in ("first", "repeated"):
        per = defaultdict(list)
        for (r, what, size), ph in counts.items():
            if what == "phases-" + kind and size == MIB:
                for k, v in ph.items():
                    per[k].append(v)
        if not per:
            continue
        m = {k: med(v) for k, v in per.items()}
        def part(side, verb, names):
            xs = [f"{n.replace('_', ' ')} {fmt(m[f'{side}.{verb}.{n}'])}" for n in names
                  if m.get(f"{side}.{verb}.{n}") is not None]
            return ", ".join(xs)
        front = part("front", "reg", ["pin", "grant", "request"])
        back = part("back", "reg", ["list", "map_grants", "map_service", "driver"])
        dfront = part("front", "dereg", ["request", "release"])
        dback = part("back", "dereg", ["driver", "unmap"])
        s = f"{kind}: front {front or '–'}"
        if back:
            s += f" (the request's backend side: {back}"
            inside = sum(m.get(f"back.reg.{n}") or 0
                         for n in ("list", "map_grants", "map_service", "driver"))
            if m.get("front.reg.request") is not None:
                s += (f"; the other {fmt(m['front.reg.request'] - inside)} µs of the request "
                      "are the trip and the backend's work around the phases")
            s += ")"
        hit = part("front", "reg_cached", ["request"])
        if hit:
            s += f"; over kept pages: front {hit}"
            hitb = part("back", "reg_cached", ["driver"])
            if hitb:
                s += f" (backend: {hitb})"
        if dfront:
            s += f"; dereg: front {dfront}"
            if dback:
                s += f" (backend: {dback})"
        out.append(s)
    if not out:
        return ""
    return ("; phases of a 1 MiB registration on xib0 (µs, mean per call, median over "
            "rounds; `phase_us.*` counters): " + "; ".join(out))


# ---------------------------------------------------------------------------
# Output

def write_csvs(outdir, rows, rt, unit_us=None):
    with open(os.path.join(outdir, "measurements.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["round", "device", "test", "size_bytes", "metric", "unit", "value", "tries"])
        for r in sorted(rows, key=lambda r: (sort_key((r["test"], r["size"], r["metric"])), r["round"], r["dev"])):
            w.writerow([r["round"], r["dev"], r["test"], r["size"], r["metric"],
                        METRICS[r["metric"]][0], r["value"], r["tries"]])
    rounds = sorted({rd for x in rt.values() for rd in x["per_round"]})
    with open(os.path.join(outdir, "ratios.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["test", "size_bytes", "metric", "unit", "higher_is_better", "native_median",
                    "xib0_median", "ratio_median", "ratio_min", "ratio_max"]
                   + [f"ratio_round{rd}" for rd in rounds]
                   + (["excess_round_trips"] if unit_us else []))
        for k in sorted(rt, key=sort_key):
            x = rt[k]
            unit, hib = METRICS[k[2]]
            ex = in_rt(k[2], x, unit_us)
            w.writerow([k[0], k[1], k[2], unit, int(hib), x["native"], x["pv"], x["ratio"], x["lo"], x["hi"]]
                       + [x["per_round"].get(rd, "") for rd in rounds]
                       + ([ex if ex is not None else ""] if unit_us else []))


def plots(outdir, rt):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report.py: no matplotlib (apt-get install python3-matplotlib): no plots", file=sys.stderr)
        return []
    made = []
    style = {NATIVE: dict(color="tab:blue", marker="o", label="native (rxe0)"),
             PV: dict(color="tab:red", marker="s", label="paravirtual (xib0)")}

    def series(test, metric, dev):
        key = "native" if dev == NATIVE else "pv"
        pts = sorted((k[1], v) for k, v in rt.items()
                     if k[0] == test and k[2] == metric and v[key] is not None)
        xs = [s for s, _ in pts]
        ys = [v[key] for _, v in pts]
        # error bars: the spread of the device's value over the rounds
        err = [[y - v[key + "_span"][0] for (_, v), y in zip(pts, ys)],
               [v[key + "_span"][1] - y for (_, v), y in zip(pts, ys)]]
        return xs, ys, err

    def sizefmt(ax, sizes):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(sizes))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: human(v) if v >= 1 else ""))
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        for lbl in ax.get_xticklabels():
            lbl.set_fontsize(8)
            lbl.set_rotation(30)

    def panel_set(name, title, tests, metric, ylabel, logy, extra=None):
        tests = [t for t in tests if any(k[0] == t and k[2] == metric for k in rt)]
        if not tests:
            return
        fig, axes = plt.subplots(1, len(tests), figsize=(max(7.5, 4.6 * len(tests)), 4.3), squeeze=False)
        for ax, t in zip(axes[0], tests):
            for dev in (NATIVE, PV):
                xs, ys, err = series(t, metric, dev)
                ax.errorbar(xs, ys, yerr=err, capsize=3, **style[dev])
                if extra:
                    xs, ys, _ = series(t, extra, dev)
                    st = dict(style[dev], label=f"{style[dev]['label']}, {extra}")
                    ax.plot(xs, ys, linestyle="--", alpha=0.6, markersize=3, **st)
            sizefmt(ax, {k[1] for k in rt if k[0] == t and k[2] == metric})
            if logy:
                ax.set_yscale("log")
            ax.set_title(label(t, 0))
            ax.set_xlabel("message size")
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
            # ratio annotations
            for s in sorted({k[1] for k in rt if k[0] == t and k[2] == metric}):
                x = rt[(t, s, metric)]
                if x["ratio"] is not None and x["pv"] is not None:
                    ax.annotate(f"{x['ratio']:.2f}×", (s, x["pv"]), textcoords="offset points",
                                xytext=(0, 6), ha="center", fontsize=7, color="tab:red")
            ax.legend(fontsize=8)
        fig.suptitle(title + "; bars: spread over rounds; labels: xib0/rxe0\n"
                     "(TCG guest: compare the curves, not absolute values)", fontsize=10)
        fig.tight_layout()
        p = os.path.join(outdir, name)
        fig.savefig(p, dpi=90)
        plt.close(fig)
        made.append(name)

    panel_set("latency.png", "Latency: typical (median over rounds); dashed: fastest iteration (lat_min)",
              ["ib_send_lat", "ib_write_lat", "ib_read_lat"], "lat_typical", "latency [µs]", True,
              extra="lat_min")
    panel_set("bandwidth.png", "Bandwidth (median over rounds of BW average)",
              ["ib_write_bw", "ib_send_bw", "ib_read_bw"], "bw_avg", "bandwidth [MB/s]", True)
    for t, (metric, fastest, title, ylabel, _) in MPI_TESTS.items():
        panel_set(f"{t}.png", f"{title}, median over rounds"
                  + ("; dashed: fastest iteration" if fastest else ""),
                  [t], metric, ylabel, True, extra=fastest)
    # Registration: first and repeated, reg and dereg
    if any(k[0].startswith("reg_") for k in rt):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, metric, title in [(axes[0], "reg_us", "ibv_reg_mr"), (axes[1], "dereg_us", "ibv_dereg_mr")]:
            for dev in (NATIVE, PV):
                for test, ls in [("reg_first", "-"), ("reg_repeated", ":")]:
                    xs, ys, err = series(test, metric, dev)
                    st = dict(style[dev])
                    st["label"] = f"{st['label']}, {test[4:]}"
                    ax.errorbar(xs, ys, yerr=err, capsize=3, linestyle=ls, **st)
            sizefmt(ax, {k[1] for k in rt if k[0].startswith("reg_")})
            ax.set_yscale("log")
            ax.set_title(title)
            ax.set_xlabel("region size")
            ax.set_ylabel("time [µs]")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.suptitle("Memory registration (median) (TCG guest: compare the curves)", fontsize=10)
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, "registration.png"), dpi=90)
        plt.close(fig)
        made.append("registration.png")
    # Control path: rates
    ctl = [t for t in ["cq", "qp", "qp-rts"] if (t, 0, "rate_per_s") in rt]
    if ctl:
        fig, ax = plt.subplots(figsize=(6.5, 4))
        w = 0.38
        for i, dev in enumerate((NATIVE, PV)):
            vals = [rt[(t, 0, "rate_per_s")]["native" if dev == NATIVE else "pv"] or 0 for t in ctl]
            bars = ax.bar([j + (i - 0.5) * w for j in range(len(ctl))], vals, w,
                          color=style[dev]["color"], label=style[dev]["label"])
        for j, t in enumerate(ctl):
            x = rt[(t, 0, "rate_per_s")]
            if x["ratio"] is not None:
                ax.annotate(f"{x['ratio']:.2f}×", (j + 0.5 * w, x["pv"] or 0), textcoords="offset points",
                            xytext=(0, 3), ha="center", fontsize=8, color="tab:red")
        ax.set_xticks(range(len(ctl)))
        ax.set_xticklabels([label(t, 0) for t in ctl], fontsize=8)
        ax.set_ylabel("operations per second")
        ax.set_title("Control path (TCG guest: compare the bars)", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, "control.png"), dpi=90)
        plt.close(fig)
        made.append("control.png")
    return made


# A native MPI run that moved fewer rxe0 packets than this share of the
# paravirtual runs' (or, without those, than MPI_MIN_PKTS) did not go
# through rxe0: its ranks talked through memory (a shared-memory
# transport), so its numbers are no native RDMA reference.
MPI_MIN_PKT_SHARE, MPI_MIN_PKTS = 0.1, 1000


def native_mpi_not_on_rxe0(by):
    """A warning if a successful native mpirun sent too few rxe0 packets."""
    good = [m for m in by.get(NATIVE, []) if m.get("status") == 0]
    other = sorted({t for m in good if m.get("tls") for t in m["tls"].split(",")
                    if not t.endswith("/" + NATIVE + ":1")})
    if other:
        return (f"**Warning: native UCX endpoints also on {', '.join(other)}: not only "
                f"{NATIVE}'s RDMA transports, so the native MPI numbers are no RDMA reference.**")
    pv = med([m.get("rxe0_sent_pkts") for m in by.get(PV, []) if m.get("status") == 0])
    floor = MPI_MIN_PKT_SHARE * pv if pv else MPI_MIN_PKTS
    low = [m for m in good if (m.get("rxe0_sent_pkts") or 0) < floor]
    if not low:
        return None
    rounds = ", ".join(str(m["round"]) for m in low)
    basis = f" (a tenth of the median of the xib0 runs, {fmt(pv)})" if pv else ""
    return (f"**Warning: {len(low)} of {len(good)} successful native mpirun(s) (round(s) {rounds}) "
            f"sent fewer than {fmt(floor)} rxe0 packets{basis}: their ranks did not talk "
            "over rxe0 (shared memory?), so their MPI numbers are no native RDMA "
            "reference.**")


def mpi_section(rt, mpiruns, unit_us):
    """The MPI results (Xen mode): one table per test, native against xib0
    per size, and which device the runs went through."""
    if not any(k[0] in MPI_TESTS for k in rt):
        return []
    L = ["## MPI\n",
         "As the Xen-IB paper's MPI figures: `xenib-mpi-pingpong --bench` "
         "(`userspace-tests/mpi/pingpong.c`), 2 ranks over Debian's Open MPI with its UCX PML, "
         "RDMA transports only (`UCX_TLS=rc_verbs,ud_verbs,self`: no shared memory; GID 0 on both "
         "sides). Native: "
         "both ranks in dom0 on rxe0. Paravirtual: rank 0 in domu1, rank 1 in domu2, each on "
         "its xib0 (launched as `userspace-tests/xen/15-mpi.sh` does). One mpirun per device "
         "and round, in the round's order; warm-up iterations before each point; the data of "
         "each point's last iteration is checked after its timed loop (a corrupt point is "
         "listed under missing measurements).\n"]
    by = defaultdict(list)
    for m in mpiruns:
        by[m["dev"]].append(m)
    if by:
        parts = []
        for dev in (NATIVE, PV):
            runs = by.get(dev, [])
            if not runs:
                continue
            good = [m for m in runs if m.get("status") == 0]
            failed = len(runs) - len(good)
            text = f"{dev}: {len(runs)} mpirun(s){f', {failed} failed (see raw.log)' if failed else ''}"
            if good:
                pk = med([m.get("rxe0_sent_pkts") for m in good])
                db = med([m.get("doorbells") for m in good])
                text += (f", per successful run rxe0 sent {fmt(pk)} packets and the backend saw "
                         f"{fmt(db)} doorbells (medians)")
                tls = sorted({t for m in good if m.get("tls") for t in m["tls"].split(",")})
                if tls:
                    text += ", UCX endpoints on " + ", ".join(f"`{t}`" for t in tls)
            parts.append(text)
        L.append("Which device carried it: " + "; ".join(parts) + ". A native run that rings "
                 "no doorbell of ours while rxe0's packet counter moves went through rxe0 "
                 "directly; the paravirtual runs go through xib0's doorbells to the same "
                 "rxe0.\n")
        warn = native_mpi_not_on_rxe0(by)
        if warn:
            L.append(warn + "\n")
    for t, (metric, fastest, title, _, what) in MPI_TESTS.items():
        keys = sorted(k for k in rt if k[0] == t and k[2] == metric)
        if not keys:
            continue
        unit = METRICS[metric][0]
        L.append(f"**{title}** ({what}; {unit}):\n")
        head = "| size | rxe0 | xib0 | ratio | spread | per round |"
        rule = "|---:|---:|---:|---:|---|---|"
        if fastest:
            head += " fastest: rxe0 | xib0 | ratio |"
            rule += "---:|---:|---:|"
        if unit_us and unit == "us":
            head += " excess [RT] |"
            rule += "---:|"
        L.append(head)
        L.append(rule)
        for k in keys:
            x = rt[k]
            per = " ".join(f"{v:.2f}" for _, v in sorted(x["per_round"].items()))
            spread = f"{fr(x['lo'])}–{fr(x['hi'])}" if x["per_round"] else "–"
            line = (f"| {human(k[1])} | {fmt(x['native'])} | {fmt(x['pv'])} | {fr(x['ratio'])} "
                    f"| {spread} | {per} |")
            if fastest:
                f_ = rt.get((t, k[1], fastest)) or {}
                line += f" {fmt(f_.get('native'))} | {fmt(f_.get('pv'))} | {fr(f_.get('ratio'))} |"
            if unit_us and unit == "us":
                line += f" {fr(in_rt(metric, x, unit_us))} |"
            L.append(line)
        L.append("")
    L.append("Ratio = xib0/rxe0 of the same round, median over rounds [min–max]; for times "
             "above 1 is worse, for bandwidth below 1 is worse. The fastest iteration is "
             "where no party waited for a vCPU. Plots: `mpi-latency.png`, "
             "`mpi-bandwidth.png`, `mpi-allreduce.png`.\n")
    return L


def report(outdir, rows, rt, counts, env, failures, backend, meta, pngs, rts, mpiruns=()):
    L = []
    xen = meta.get("mode") == "xen"
    # The excess columns: only where the round trip was measured (Xen).
    unit_us = (rts.get(UNIT_PATH) or {}).get("median")
    if xen:
        # dom0's (its nproc) and one per domU
        vcpus = {"1": "Three", "2": "Four"}.get(env.get("nproc"), "All")
        L.append("# xenib benchmark on Xen: xib0 between two domUs against native rxe0 in dom0\n")
        L.append(f"- Setup: Xen 4.17 in QEMU TCG, PV dom0 ({env.get('nproc', '?')} vCPUs, rxe0 on its bridge, "
                 "ib_back) and two PV domUs (1 vCPU each, ib_front). Native: both perftest "
                 "processes in dom0 on rxe0. Paravirtual: server in domu2, client in domu1, "
                 "each over its xib0 (the same rxe0 underneath). xenib-bench: on rxe0 in "
                 f"dom0, on xib0 in domu1. {vcpus} vCPUs share the host's two cores, so a "
                 "busy-polling domU competes with dom0's rxe work: the paravirtual "
                 "latencies include that scheduling, which native dom0 runs do not pay.")
        if meta.get("xen_args") or meta.get("pin_domus"):
            lay = [f"extra Xen options `{meta['xen_args']}`"] if meta.get("xen_args") else []
            if meta.get("pin_domus"):
                lay.append(f"both domUs pinned to CPU {meta['pin_domus']}")
            L.append(f"- vCPU layout: {', '.join(lay)}; `xl vcpu-list` is at the top of raw.log.")
    else:
        L.append("# xenib benchmark: paravirtual xib0 against native rxe0\n")
    rounds = sorted({r["round"] for r in rows})
    L.append(f"- Run: {meta.get('date', '?')}, tree {meta.get('commit', '?')}, "
             f"{len(rounds)} round(s) in one guest boot, wall time {meta.get('wall', '?')}.")
    L.append(f"- Guest: kernel {env.get('kernel', '?')}, {env.get('nproc', '?')} vCPUs, QEMU TCG "
             "(emulated). Absolute numbers are meaningless; only the xib0/rxe0 ratios of the "
             "same boot are. Each round measures both devices back to back per point, in "
             "alternating order (odd rounds rxe0 first).")
    if meta.get("host_other"):
        cpu_s, pct = (meta["host_other"].split(",") + ["?"])[:2]
        L.append(f"- Host (2 cores): {meta.get('other_qemu', '?')} other QEMU(s) running at the "
                 f"start; everything but this run used {cpu_s} CPU-seconds during it, {pct}% "
                 "of the host's CPU time. Such load makes the guest's time more irregular "
                 "and widens the spreads: numbers worth quoting come from an idle host.")
    if meta.get("status", "0") != "0":
        L.append(f"- **The guest run exited with status {meta['status']}**: see raw.log.")
    L.append("- Ratio = xib0 / rxe0, per round, then the median over rounds, with the "
             "spread [min–max] of the per-round ratios. For times > 1 is worse; for "
             "bandwidths and rates < 1 is worse.")
    retried = sum(1 for r in rows if r["tries"] > 1 and r["metric"] in ("lat_typical", "bw_avg"))
    if retried or failures:
        L.append(f"- perftest runs retried because emulated time defeated its clock "
                 f"(r² < 0.9): {retried}; measurements missing: {len(failures)}.")
    L.append("")

    # Targets
    L.append("## Targets\n")
    rtcol = lambda m, x: (f" {fr(in_rt(m, x, unit_us))} |" if unit_us else "")
    L.append("| target | measurement | rxe0 | xib0 | ratio (median) | spread | verdict |"
             + (" excess [RT] |" if unit_us else ""))
    L.append("|---|---|---:|---:|---:|---|---|" + ("---:|" if unit_us else ""))
    missed = []
    for name, tests, sizes, metric, bound, upper in TARGETS:
        for t in tests:
            for s in sizes:
                c = check(rt, t, s, metric, bound, upper)
                if c is None:
                    continue
                unit = METRICS[metric][0]
                if c["ok"]:
                    verdict = "met" + ("" if c["whole"] else " (not in every round)")
                else:
                    verdict = f"**missed by {((c['off'] - 1) * 100):.0f}%**"
                    missed.append((name, t, s, c))
                L.append(f"| {name} | {label(t, s)} | {fmt(c['native'])} {unit} | {fmt(c['pv'])} {unit} "
                         f"| {fr(c['ratio'])}× | {fr(c['lo'])}–{fr(c['hi'])} | {verdict} |"
                         + rtcol(metric, c))
    L.append("")
    L.append("\"Missed by N%\": how far the median ratio is beyond the bound, as a "
             "fraction of the bound." + (EXCESS_NOTE if unit_us else "") + "\n")
    if rts:
        L.extend(limit(rt, rts))

    ev = evidence(rt, counts, env)
    if ev:
        L.append("## What limits xib0 (evidence from this run)\n")
        for e in ev:
            L.append(e + "\n")

    if missed:
        L.append("## Suggested fixes for the missed targets\n")
        said = set()
        for name, t, s_, c in missed:
            for key, text in SUGGEST:
                if key in name and key not in said:
                    said.add(key)
                    L.append(f"- *{name}*: {text}")
        L.append("")


    L.extend(mpi_section(rt, mpiruns, unit_us))

    # Full table
    L.append("## All measurements\n")
    L.append("Medians over rounds of each device's value (itself a median within a run "
             "for latencies and verb times); ratio = median of per-round xib0/rxe0.\n")
    L.append("| measurement | metric | rxe0 | xib0 | ratio | spread | per round |"
             + (" excess [RT] |" if unit_us else ""))
    L.append("|---|---|---:|---:|---:|---|---|" + ("---:|" if unit_us else ""))
    for k in sorted(rt, key=sort_key):
        t, s, m = k
        if m in ("lat_min", "bw_peak", "lat_avg") and kind(t) in ("lat", "bw"):
            continue  # in the CSV
        if t in MPI_TESTS:
            continue  # in the MPI section
        x = rt[k]
        unit = METRICS[m][0]
        per = " ".join(f"{v:.2f}" for _, v in sorted(x["per_round"].items()))
        L.append(f"| {label(t, s)} | {m} [{unit}] | {fmt(x['native'])} | {fmt(x['pv'])} "
                 f"| {fr(x['ratio'])} | {fr(x['lo'])}–{fr(x['hi'])} | {per} |" + rtcol(m, x))
    L.append("")
    L.append("`lat_min`, `lat_avg`, `bw_peak` and every single round's value are in "
             "`measurements.csv`; every ratio in `ratios.csv`.\n")

    if failures:
        L.append("## Missing measurements\n")
        for f_ in failures:
            L.append(f"- round {f_['round']} {f_['dev']} {f_['test']} {human(f_['size'])}: "
                     f"{f_['status']} after {f_['tries']} tries")
        L.append("")
    if pngs:
        L.append("## Plots\n")
        for p in pngs:
            L.append(f"![{p}]({p})\n")
    if backend:
        L.append("## Backend counters at the end of the run\n")
        L.append("```")
        L.extend(f"{k} {v}" for k, v in backend if v)
        L.append("```\n")
    with open(os.path.join(outdir, "report.md"), "w") as f:
        f.write("\n".join(L))
    return missed


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    raw, outdir = sys.argv[1], sys.argv[2]
    meta = kv(sys.argv[3:])
    os.makedirs(outdir, exist_ok=True)
    rows, counts, env, failures, backend, evtchn, mpiruns = parse(raw)
    if not rows:
        print(f"report.py: no measurements in {raw}", file=sys.stderr)
        return 1
    rt = ratios(rows)
    rts = round_trips(evtchn)
    write_csvs(outdir, rows, rt, (rts.get(UNIT_PATH) or {}).get("median"))
    pngs = plots(outdir, rt)
    missed = report(outdir, rows, rt, counts, env, failures, backend, meta, pngs, rts, mpiruns)
    # A short summary for the terminal.
    print(f"{len(rows)} measurements, {len(failures)} missing; report in {outdir}/report.md")
    for name, tests, sizes, metric, bound, upper in TARGETS:
        for t in tests:
            for s in sizes:
                c = check(rt, t, s, metric, bound, upper)
                if c:
                    print(f"  {label(t, s):32s} {c['ratio']:.2f}x  [{c['lo']:.2f}-{c['hi']:.2f}]  "
                          f"{'met' if c['ok'] else 'MISSED'} ({name})")
    for t, (metric, *_) in MPI_TESTS.items():
        for k in sorted(k for k in rt if k[0] == t and k[2] == metric and k[1] in (1, 4, MIB, 8192 * 8)):
            x = rt[k]
            if x["ratio"] is not None:
                print(f"  {label(*k[:2]):32s} {x['ratio']:.2f}x  [{x['lo']:.2f}-{x['hi']:.2f}]")
    for path, x in rts.items():
        print(f"  event-channel round trip {PATHS.get(path, path)}: {x['median']:.1f} us median")
    return 0


if __name__ == "__main__":
    sys.exit(main())
