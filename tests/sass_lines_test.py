#!/usr/bin/env python3
"""tools/bench/sass_lines.py on made-up inputs with answers known by hand
(no GPU, no disassembler): a cubin's decoded line table (readelf's form)
read into one entry an instruction, each attributed to its row's line up to
the next row's address, a sequence's end row ("-") closing it; and the
command's counts by range and stretches from such a table, written into a
file that is not ELF (so read as a disassembly: none) and one that is."""
import importlib.util
import os
import subprocess
import sys
import tempfile

LISTING = """Contents of the .debug_line section:

block_ops.cuh:
File name                            Line number    Starting address    View    Stmt

/src/device/run.cuh:
UNKNOWN (144): length 2
run.cuh                                      442                0x30       1       x
run.cuh                                      446                0x80               x
/src/device/block_ops.cuh:
block_ops.cuh                               1236                0xa0               x
block_ops.cuh                               1240                0xe0               x
run.cuh                                      450               0x100               x
run.cuh                                        -               0x130
"""


def fail(msg):
    print(f"sass_lines: {msg}", file=sys.stderr)
    sys.exit(1)


def main(path):
    spec = importlib.util.spec_from_file_location("sass_lines", path)
    sl = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sl)
    seq = sl.parse_decoded(LISTING.splitlines())
    # 0x30..0x80: 5 of 442; 0x80..0xa0: 2 of 446; 0xa0..0xe0: 4 of 1236;
    # 0xe0..0x100: 2 of 1240; 0x100..0x130: 3 of 450
    want = [(0x30, ("run.cuh", 442))] + [(0x30 + 16 * i, ("run.cuh", 442)) for i in range(1, 5)] + \
           [(0x80, ("run.cuh", 446)), (0x90, ("run.cuh", 446))] + \
           [(0xa0 + 16 * i, ("block_ops.cuh", 1236)) for i in range(4)] + \
           [(0xe0, ("block_ops.cuh", 1240)), (0xf0, ("block_ops.cuh", 1240))] + \
           [(0x100 + 16 * i, ("run.cuh", 450)) for i in range(3)]
    got = [(a, c) for a, c, _, _ in seq]
    if got != want:
        fail(f"decoded line table read as {got}")
    if any(op is not None for _, _, op, _ in seq):
        fail("a line table has no opcodes")
    # the command on a file that is not ELF: a disassembly, which this
    # listing is not, so no instructions and a clear refusal
    with tempfile.TemporaryDirectory() as d:
        txt = os.path.join(d, "k.txt")
        with open(txt, "w") as f:
            f.write(LISTING)
        r = subprocess.run([sys.executable, path, txt], capture_output=True, text=True)
        if r.returncode == 0 or "no instructions with line information" not in r.stderr:
            fail(f"a non-ELF listing: rc {r.returncode}\n{r.stdout}\n{r.stderr}")
        # an ELF file's line table comes from readelf: stand a fake readelf
        # on PATH that prints the listing, and check the counts and runs
        elf = os.path.join(d, "k.cubin")
        with open(elf, "wb") as f:
            f.write(b"\x7fELF" + b"\0" * 60)
        fake = os.path.join(d, "readelf")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\ncat <<'END'\n" + LISTING + "END\n")
        os.chmod(fake, 0o755)
        env = dict(os.environ, PATH=d + os.pathsep + os.environ.get("PATH", ""))
        r = subprocess.run([sys.executable, path, elf, "block_ops.cuh:1236-1240", "run.cuh:440-447",
                            "--runs", "block_ops.cuh:1236-1240"],
                           capture_output=True, text=True, env=env)
        out = r.stdout
        if r.returncode != 0 or "16 instructions with line information" not in out or \
                "| block_ops.cuh:1236-1240 | 6 | - |" not in out or \
                "| run.cuh:440-447 | 7 | - |" not in out or \
                "| 0xa0 | 6 | - | - | - |" not in out:
            fail(f"the command on a cubin: rc {r.returncode}\n{out}\n{r.stderr}")
    print("sass_lines: a cubin's line table, by range and by stretch: ok")


if __name__ == "__main__":
    main(sys.argv[1])
