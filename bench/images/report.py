#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""bench/images/run's summary: summary.csv (median, min, max over the
repetitions) and report.md (the table, the issue's ratios, a plot).

    report.py OUTDIR IMAGE_BYTES STORED_BYTES RATE REPS
"""
import csv
import statistics
import sys
from collections import defaultdict

out, image_bytes, stored_bytes, rate, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
runs = defaultdict(list)
failures = defaultdict(int)
with open(f"{out}/raw.csv") as f:
    for row in csv.DictReader(f):
        if row["seconds"] == "failed":
            failures[(row["method"], int(row["nodes"]))] += 1
        else:
            runs[(row["method"], int(row["nodes"]))].append(row)

order = ["ours", "ours-warm", "ours-half-warm", "ours-delta-1mib", "ours-delta-5mib-added",
         "binomial-whole", "http-concurrent", "sequential", "sbcast", "sbcast-fanout2", "udpcast"]
# Rows that are not a cold deployment of the whole image: not in the plot.
partial = {"ours-warm", "ours-half-warm", "ours-delta-1mib", "ours-delta-5mib-added"}
summary = {}
for (method, nodes), rows in runs.items():
    secs = [float(r["seconds"]) for r in rows]
    summary[(method, nodes)] = {
        "median": statistics.median(secs),
        "min": min(secs),
        "max": max(secs),
        "storage": int(statistics.median(int(r["storage_bytes"]) for r in rows)),
        "total": int(statistics.median(int(r["total_link_bytes"]) for r in rows)),
        "chunks": int(statistics.median(int(r.get("chunk_bytes") or 0) for r in rows)),
    }
keys = sorted(summary, key=lambda k: (order.index(k[0]) if k[0] in order else 99, k[1]))
with open(f"{out}/summary.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["method", "nodes", "seconds_median", "seconds_min", "seconds_max", "storage_bytes", "total_link_bytes"])
    for k in keys:
        s = summary[k]
        w.writerow([k[0], k[1], f"{s['median']:.3f}", f"{s['min']:.3f}", f"{s['max']:.3f}", s["storage"], s["total"]])

nodes = sorted({k[1] for k in keys})
top = max(nodes)


def t(method, n):
    return summary[(method, n)]["median"] if (method, n) in summary else float("nan")


lines = [
    "# Image distribution on the one-machine cluster",
    "",
    f"Synthetic image: {image_bytes} bytes in files, {stored_bytes} bytes of compressed chunks; every",
    f"cold method moves those {stored_bytes} bytes. Links shaped with tbf to {rate} both ways, no latency",
    f"emulation (no netem). {reps} repetitions, median (min–max) seconds of wall time inside one",
    "Slurm allocation per N. 2 shared cores: only ratios within this run mean anything.",
    "`http-concurrent` stands in for NFS (this kernel has no NFS). `ours-warm`, `ours-half-warm`",
    "(odd-numbered nodes emptied), `ours-delta-1mib` (v2: one 1 MiB region rewritten) and",
    "`ours-delta-5mib-added` (v1 plus a 5 MiB file) start from the caches the row before left.",
    "",
    "| method | " + " | ".join(f"N={n}" for n in nodes) + " |",
    "|---|" + "---|" * len(nodes),
]
for method in [m for m in order if any((m, n) in summary for n in nodes)]:
    cells = []
    for n in nodes:
        s = summary.get((method, n))
        cells.append(f"{s['median']:.2f} ({s['min']:.2f}–{s['max']:.2f})" if s else "–")
    lines.append(f"| {method} | " + " | ".join(cells) + " |")
if failures:
    lines += ["", "Failed runs (not in the medians): " + ", ".join(f"{m} N={n}: {c}" for (m, n), c in sorted(failures.items()))]
lines += ["", "Storage-node bytes per deployment (median), and ÷ the compressed image:", ""]
lines.append("| method | " + " | ".join(f"N={n}" for n in nodes) + " |")
lines.append("|---|" + "---|" * len(nodes))
for method in [m for m in order if any((m, n) in summary for n in nodes)]:
    cells = [
        f"{summary[(method, n)]['storage']} ({summary[(method, n)]['storage'] / stored_bytes:.2f})" if (method, n) in summary else "–"
        for n in nodes
    ]
    lines.append(f"| {method} | " + " | ".join(cells) + " |")
lines += [
    "",
    "Ratios (issue 14's targets in brackets; the paper's table is at N=8):",
    "",
]


def ratio(text, num, den, target):
    """One ratio line, if both medians exist."""
    if num in summary and den in summary:
        value = t(*num) / t(*den)
        lines.append(f"- {text}: {value:.2f} ({target})")


for n in sorted({8, top}):
    ratio(f"ours({n}) ÷ http-concurrent({n})", ("ours", n), ("http-concurrent", n), "≤ 0.20; paper 0.31")
    ratio(f"ours({n}) ÷ ours(1)", ("ours", n), ("ours", 1), "≤ 1.5; paper 3.85")
    ratio(f"ours({n}) ÷ sbcast default({n})", ("ours", n), ("sbcast", n), "≤ 0.33")
    ratio(f"ours({n}) ÷ binomial-whole({n})", ("ours", n), ("binomial-whole", n), "the paper's tree")
    ratio(f"ours({n}) ÷ udpcast({n})", ("ours", n), ("udpcast", n), "multicast")
ratio("ours(32) ÷ ours(8)", ("ours", 32), ("ours", 8), "≤ 1.25; paper's log N: 1.67")
lines.append(
    f"- storage bytes, ours({top}) ÷ compressed image: {summary[('ours', top)]['storage'] / stored_bytes:.3f}"
    f" (≤ 1.05; includes TCP/IP headers and Slurm's control traffic)"
)

def chunks(method, n):
    return summary[(method, n)]["chunks"] if (method, n) in summary else None


lines += ["", "Chunk bytes broadcast by rank 0 (median) and seconds, for the rows after a cold deployment:", ""]
lines.append("| row | " + " | ".join(f"N={n}" for n in nodes) + " |")
lines.append("|---|" + "---|" * len(nodes))
for method in ["ours"] + sorted(partial, key=order.index):
    cells = [f"{chunks(method, n)} B, {t(method, n):.2f} s" if chunks(method, n) is not None else "–" for n in nodes]
    lines.append(f"| {method} | " + " | ".join(cells) + " |")
if ("ours-warm", top) in summary and ("ours", 1) in summary:
    lines += [
        "",
        f"- warm relaunch at N={top}: {chunks('ours-warm', top)} chunk bytes (target 0), "
        f"{t('ours-warm', top) / t('ours', 1):.2f} × a cold single-node fetch (target ≤ 0.05)",
    ]
if ("ours-delta-1mib", top) in summary:
    lines.append(f"- 1 MiB change: {chunks('ours-delta-1mib', top)} bytes sent, "
                 f"{chunks('ours-delta-1mib', top) / image_bytes:.3f} of the image (target ≤ 0.10)")
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for method in [m for m in order if m not in partial and any((m, n) in summary for n in nodes)]:
        ns = [n for n in nodes if (method, n) in summary]
        ax.plot(ns, [t(method, n) for n in ns], marker="o", label=method)
    ax.set_xlabel("nodes")
    ax.set_ylabel("seconds (median)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(nodes, [str(n) for n in nodes])
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(f"{out}/time.png", dpi=100)
    lines += ["", "![time per method](time.png)"]
except ImportError:
    lines += ["", "(matplotlib missing: no plot)"]
with open(f"{out}/report.md", "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
