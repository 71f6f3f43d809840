#!/usr/bin/env python3
"""Machine instructions by source line: the static count of a kernel's SASS
instructions that each source file and line range compiled to, with their
commonest opcodes, from a disassembly with line information.

The disassembly comes from the GPU machine (this project's CPU machines
have no disassembler): build the kernel's cubin with the project's flags
(`-lineinfo` is one of them): `tools/bench/spills.py --keep DIR BUILD`
writes DIR/kernel.cu.cubin and the rest from `compile_commands.json`'s
commands (and `variants.sh` puts them in each build's bundle, whose
run.sh disassembles them with SASS_OUT=DIR set); take it there and run

    nvdisasm -g -c k.cubin > k.sass

then here

    tools/bench/sass_lines.py k.sass                       # by file
    tools/bench/sass_lines.py k.sass block_ops.cuh:422-460 block_ops.cuh:510-532

A range's count sums every inlined copy of those lines (each instantiation
of an op, each call site), so it weighs code size, not time; what a thread
runs is one copy, which `--runs FILE:A-B` lists: the contiguous stretches
of instructions from that range (others' lines allowed within a few
instructions), largest first, with how many copies (LDGSTS), integer
divisions (MUFU.RCP, a division's reciprocal) and barriers each holds.

Without a disassembler (this machine), give the cubin itself: its line
table (DWARF `.debug_line`, which `-lineinfo` writes and binutils'
`readelf --debug-dump=decodedline` decodes) maps every instruction's
address to its source line, so the counts by file, by range and the
stretches come out the same, without opcodes (their columns say "-"):

    tools/bench/spills.py --keep /tmp/k build
    tools/bench/sass_lines.py /tmp/k/kernel.cu.cubin block_ops.cuh:1236-1256
"""
import argparse
import collections
import re
import subprocess
import sys

FILE_LINE = re.compile(r'\s*//## File "([^"]+)", line (\d+)')
INSN = re.compile(r"\s*/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P\w+\s+)?([A-Z0-9_.]+)([^;]*);")


def parse(path):
    """[(address, (file, line), opcode, operands)] in the listing's order."""
    cur = None
    out = []
    with open(path) as f:
        for line in f:
            m = FILE_LINE.match(line)
            if m:
                cur = (m.group(1).rsplit("/", 1)[-1], int(m.group(2)))
                continue
            m = INSN.match(line)
            if m and cur:
                out.append((int(m.group(1), 16), cur, m.group(2), m.group(3)))
    return out


# a row of readelf's decoded line table: file, line, address[, view][, x]
DECODED = re.compile(r"^(\S+)\s+(\d+|-)\s+(0x[0-9a-f]+|\d+)(?:\s+\d+)?(?:\s+x)?\s*$")
INSN_BYTES = 16  # one SASS instruction (sm_70 and later)


def parse_decoded(lines):
    """[(address, (file, line), None, "")] an instruction each, from
    readelf's decoded line table: each row's line holds the instructions up
    to the next row's address; a row with line "-" ends a sequence."""
    rows = []
    for text in lines:
        m = DECODED.match(text)
        if m:
            rows.append((m.group(1), None if m.group(2) == "-" else int(m.group(2)),
                         int(m.group(3), 0)))
    out = []
    for (f, line, a), (_, _, b) in zip(rows, rows[1:]):
        if line is None:
            continue
        out.extend((x, (f, line), None, "") for x in range(a, b, INSN_BYTES))
    out.sort(key=lambda r: r[0])
    return out


def load(path):
    """A disassembly (nvdisasm -g) or a cubin (its line table)."""
    with open(path, "rb") as f:
        elf = f.read(4) == b"\x7fELF"
    if not elf:
        return parse(path)
    try:
        r = subprocess.run(["readelf", "--debug-dump=decodedline", path], capture_output=True,
                           text=True)
    except FileNotFoundError:
        sys.exit("sass_lines.py: a cubin needs binutils' readelf")
    return parse_decoded(r.stdout.splitlines())


def span(arg):
    try:
        name, rng = arg.rsplit(":", 1)
        a, b = (int(x) for x in rng.split("-")) if "-" in rng else (int(rng), int(rng))
    except ValueError:
        sys.exit(f"sass_lines.py: {arg}: not FILE:A-B")
    return name, a, b


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sass", help="nvdisasm -g output, or a cubin built with -lineinfo")
    ap.add_argument("ranges", nargs="*", help="FILE:A-B source line ranges to count")
    ap.add_argument("--runs", metavar="FILE:A-B", help="list one range's stretches of code")
    ap.add_argument("--top", type=int, default=10, help="stretches or files listed (10)")
    a = ap.parse_args()
    seq = load(a.sass)
    if not seq:
        sys.exit("sass_lines.py: no instructions with line information (nvdisasm -g, or a cubin "
                 "built with -lineinfo?)")
    opcodes = seq[0][2] is not None
    print(f"{len(seq)} instructions with line information\n")
    if not a.ranges and not a.runs:
        byfile = collections.Counter(c[0] for _, c, _, _ in seq)
        print("| file | instructions |\n| --- | ---: |")
        for f, n in byfile.most_common(a.top):
            print(f"| {f} | {n} |")
    if a.ranges:
        print("| lines | instructions | commonest opcodes |\n| --- | ---: | --- |")
        for r in a.ranges:
            name, lo, hi = span(r)
            ops = collections.Counter(op.split(".")[0] if op else "-" for _, (f, l), op, _ in seq
                                      if f == name and lo <= l <= hi)
            top = ", ".join(f"{o} {n}" for o, n in ops.most_common(6)) if opcodes else "-"
            print(f"| {name}:{lo}-{hi} | {sum(ops.values())} | {top} |")
    if a.runs:
        name, lo, hi = span(a.runs)
        inside = [f == name and lo <= l <= hi for _, (f, l), _, _ in seq]
        runs, start, last, gap = [], None, None, 0
        for i, yes in enumerate(inside):
            if yes:
                start = i if start is None else start
                last, gap = i, 0
            elif start is not None:
                gap += 1
                if gap > 6:
                    runs.append((start, last))
                    start = None
        if start is not None:
            runs.append((start, last))
        runs.sort(key=lambda r: r[0] - r[1])
        print(f"\n{len(runs)} stretches of {a.runs}\n")
        print("| address | instructions | copies | divisions | barriers |\n| --- | ---: | ---: | ---: | ---: |")
        for s, e in runs[:a.top]:
            part = seq[s:e + 1]
            if not opcodes:
                print(f"| {part[0][0]:#x} | {len(part)} | - | - | - |")
                continue
            copies = sum(op.startswith("LDGSTS") for _, _, op, _ in part)
            divs = sum(op.startswith("MUFU") and "RCP" in op for _, _, op, _ in part)
            bars = sum(op.startswith("BAR") for _, _, op, _ in part)
            print(f"| {part[0][0]:#x} | {len(part)} | {copies} | {divs} | {bars} |")


if __name__ == "__main__":
    main()
