#!/usr/bin/env python3
"""What ptxas gives each persistent-kernel entry: registers, stack, spills,
and its machine code's size and hash.

    tools/bench/spills.py BUILD_DIR [--json] [--all] [--keep DIR] [SOURCE ...]

Recompiles the kernel's translation units (default: every device/kernel*.cu
of BUILD_DIR's compile_commands.json) with the build's own nvcc command,
to a cubin with `-Xptxas -v`, and prints one row per kernel entry (with
--all, per function ptxas reports: the entries and every function not
inlined, e.g. growth's). No GPU needed; about 15-30 s a unit. --keep DIR
keeps each unit's cubin there as UNIT.cubin (kernel.cu.cubin, ...): the
machine code those rows describe, for `nvdisasm -g -c` on the GPU machine
and then tools/bench/sass_lines.py.

Why: the persistent kernel is one function at its register limit (128 a
thread for two blocks an SM, 255 for one); a change of a few live values
in the inlined task math can move ptxas's spills into hot loops elsewhere,
which cost 5-20% of a step in docs/PERF.md's tenth round while the change
itself saved time where it was made. Run this before and after a change to
the device code (and keep the first output) to see such a move before a
device call does; equal spill figures are no proof of equal code, different
ones are a reason to measure everything, not only the changed op.

The code columns are the size of the function's .text section in the
cubin and the first 12 hex digits of its MD5: the same hash before and
after a change proves that the change left that kernel's machine code as
it was (a refactor of shared host/device code, say), which then needs no
device call to show it is not slower. Functions not inlined lie inside their
kernel's section, so their rows of --all show "-" there.
"""
import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile

ROW = re.compile(r"Function properties for (\w+)")
FRAME = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
REGS = re.compile(r"Used (\d+) registers")


def cubin_command(entry, out):
    """The build's command for entry, compiling to a cubin with ptxas -v."""
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    kept = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MF", "-MT", "-MQ", "-odir"):
            skip = True
            continue
        if a == "-c" or a.startswith("-M"):
            continue
        kept.append(a)
    return kept + ["-cubin", "-o", out, "-Xptxas", "-v"]


INTERNAL = re.compile(r"_ZN\d+_INTERNAL_[0-9a-f]+_\d+_\w+?_cu_[0-9a-f]{8}(\d+)(\w+)")


def short_name(name):
    """A function in an anonymous namespace by its own name (templates keep
    their mangled arguments)."""
    m = INTERNAL.match(name)
    if not m:
        return name
    n = int(m.group(1))
    return m.group(2)[:n] + (" " + m.group(2)[n:] if len(m.group(2)) > n else "")


def text_sections(path):
    """{function name: (size, md5 prefix)} of the .text.NAME sections of an
    ELF64 cubin."""
    with open(path, "rb") as f:
        elf = f.read()
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)

    def header(i):
        name, _type, _flags, _addr, off, size = struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize)
        return name, off, size

    _, stroff, _ = header(shstrndx)
    out = {}
    for i in range(shnum):
        name, off, size = header(i)
        end = elf.index(b"\0", stroff + name)
        sec = elf[stroff + name:end].decode("ascii", "replace")
        if sec.startswith(".text."):
            out[sec[len(".text."):]] = (size, hashlib.md5(elf[off:off + size]).hexdigest()[:12])
    return out


def entries_of(text, every=False):
    """(name, registers, stack, spill stores, spill loads) of each kernel
    entry (every: of each function ptxas reports; registers only for
    entries)."""
    rows = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = ROW.search(line)
        if not m or not (every or m.group(1).startswith("gn_persistent_kernel")):
            continue
        f = FRAME.search(lines[i + 1]) if i + 1 < len(lines) else None
        r = REGS.search(lines[i + 2]) if i + 2 < len(lines) else None
        if f:
            rows.append({"entry": short_name(m.group(1)), "symbol": m.group(1),
                         "registers": int(r.group(1)) if r else None,
                         "stack": int(f.group(1)), "spill_stores": int(f.group(2)),
                         "spill_loads": int(f.group(3))})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", help="a configured CUDA build folder (has compile_commands.json)")
    ap.add_argument("sources", nargs="*", help="units to compile (default: device/kernel*.cu)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--all", action="store_true",
                    help="every function ptxas reports, not only the kernel entries")
    ap.add_argument("--keep", metavar="DIR",
                    help="keep each unit's cubin in DIR as UNIT.cubin (for nvdisasm -g -c)")
    a = ap.parse_intermixed_args()
    cc = os.path.join(a.build, "compile_commands.json")
    if not os.path.exists(cc):
        sys.exit("spills.py: %s has no compile_commands.json: not a configured build folder" % a.build)
    with open(cc) as f:
        db = json.load(f)
    want = [os.path.basename(s) for s in a.sources]
    units = [e for e in db if re.search(r"device/kernel[^/]*\.cu$", e["file"])
             and (not want or os.path.basename(e["file"]) in want)]
    if not units:
        sys.exit("spills.py: no device/kernel*.cu in %s (a build without CUDA?)" % cc)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, e in enumerate(units):
            name = os.path.basename(e["file"])
            print("spills.py: %s (%d of %d)" % (name, i + 1, len(units)), file=sys.stderr)
            cubin = os.path.join(tmp, name + ".cubin")
            cmd = cubin_command(e, cubin)
            p = subprocess.run(cmd, cwd=e["directory"], capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit("spills.py: %s failed:\n%s" % (name, p.stderr[-2000:]))
            code = text_sections(cubin)
            if a.keep:
                os.makedirs(a.keep, exist_ok=True)
                shutil.copyfile(cubin, os.path.join(a.keep, name + ".cubin"))
            for r in entries_of(p.stdout + p.stderr, a.all):
                r["unit"] = name
                r["text_bytes"], r["text_md5"] = code.get(r.pop("symbol"), (None, None))
                rows.append(r)
    if a.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
        return
    print("| unit | entry | registers | stack frame | spill stores | spill loads | code bytes | code md5 |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print("| %s | %s | %s | %d | %d | %d | %s | %s |" % (
            r["unit"], r["entry"], "-" if r["registers"] is None else r["registers"],
            r["stack"], r["spill_stores"], r["spill_loads"],
            "-" if r["text_bytes"] is None else r["text_bytes"], r["text_md5"] or "-"))


if __name__ == "__main__":
    main()
