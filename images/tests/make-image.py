#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Writes a deterministic synthetic guest image of about 30 MB into DIR:
a kernel (incompressible, as a compressed kernel is), an initramfs and an
MPI library (half incompressible, half text-like). `--variant v2` rewrites
one 1 MiB region of the library; the other files stay identical.
`--variant v3` shares nothing with v1. `--variant grown` is v1 plus a
5 MiB file.

    make-image.py DIR [--variant v1|v2|v3|grown]
"""
import os
import random
import sys

MIB = 1 << 20
WORDS = [b"mpi", b"xen", b"chunk", b"node", b"slurm", b"ring", b"verbs", b"grant", b"\n"]


def mixed(seed, random_bytes, text_bytes):
    rng = random.Random(seed)
    out = bytearray(rng.randbytes(random_bytes))
    text = bytearray()
    while len(text) < text_bytes:
        text += rng.choice(WORDS) + b" "
    return out + text[:text_bytes]


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        sys.exit(__doc__)
    out, variant = args[0], "v1"
    if len(args) == 3 and args[1] == "--variant" and args[2] in ("v1", "v2", "v3", "grown"):
        variant = args[2]
    elif len(args) != 1:
        sys.exit(__doc__)
    seed = 10 if variant == "v3" else 0
    files = {
        "vmlinuz": mixed(seed + 1, 8 * MIB, 0),
        "initramfs.cpio": mixed(seed + 2, 8 * MIB, 8 * MIB),
        "libmpi.so": mixed(seed + 3, 3 * MIB, 3 * MIB),
    }
    if variant == "v2":
        lib = files["libmpi.so"]
        lib[2 * MIB:3 * MIB] = random.Random(42).randbytes(MIB)
    if variant == "grown":
        files["extra.so"] = mixed(seed + 4, 3 * MIB, 2 * MIB)
    os.makedirs(out, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


main()
