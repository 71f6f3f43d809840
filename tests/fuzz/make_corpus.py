#!/usr/bin/env python3
"""Write the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/).

Each target gets small valid inputs plus a few near-misses, so the fuzzer
starts past the format's first checks. The checkpoint seeds are real
checkpoints written by genet-rt: see make_checkpoint_seeds.sh.
Run from anywhere:  python3 tests/fuzz/make_corpus.py
"""
import gzip
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def idx_images(count, rows, cols, seed):
    body = bytes((seed * 31 + i * 17) % 256 for i in range(count * rows * cols))
    return struct.pack(">IIII", 0x803, count, rows, cols) + body


def idx_labels(count, classes):
    return struct.pack(">II", 0x801, count) + bytes(i % classes for i in range(count))


def idx_input(files):
    lens = [len(f) for f in files[:3]]
    return struct.pack("<III", *lens) + b"".join(files)


def gz(b):
    return gzip.compress(b, mtime=0)


# IDX: four files of one set; raw, gzip, and damaged variants.
tr_i, tr_l = idx_images(3, 2, 2, 1), idx_labels(3, 3)
te_i, te_l = idx_images(2, 2, 2, 2), idx_labels(2, 3)
put("idx", "raw", idx_input([tr_i, tr_l, te_i, te_l]))
put("idx", "gzip", idx_input([gz(tr_i), gz(tr_l), gz(te_i), gz(te_l)]))
put("idx", "mixed", idx_input([gz(tr_i), tr_l, te_i, gz(te_l)]))
put("idx", "truncated", idx_input([tr_i[:-3], tr_l, te_i, te_l]))
put("idx", "trailing", idx_input([tr_i + b"\0", tr_l, te_i, te_l]))
put("idx", "count-mismatch", idx_input([tr_i, idx_labels(2, 3), te_i, te_l]))
put("idx", "gzip-cut", idx_input([gz(tr_i)[:-6], tr_l, te_i, te_l]))
put("idx", "wide", idx_input([idx_images(1, 1, 40, 3), idx_labels(1, 2),
                              idx_images(1, 1, 40, 4), idx_labels(1, 2)]))

# CSV: header, pixels (0..255 scale), floats, CRLF, a test part.
put("csv", "header", b"label,a,b,c\n0,0.1,0.2,0.3\n1,0.5,0.5,0.5\n2,1,0,1\n")
put("csv", "pixels", b"3,0,255,17,4\n1,12,0,0,255\n0,1,2,3,4\n")
put("csv", "crlf-blank", b"1, 0.25 ,\t0.5\r\n\r\n0,1e-3,2.5e-1\r\n")
put("csv", "with-test", b"label,x,y\n0,0.1,0.9\n1,0.9,0.1\n#test#\n1,0.8,0.2\n0,0.3,0.7\n")
put("csv", "bad-row", b"0,1,2\n1,2\n")
put("csv", "labels", b"3.0,1\n3e0,2\n255,0\n")

# Graph files for the fixed shape of fuzz_graph.c: 4 inputs, 3 classes, groups of 2.
hdr = '{"format": "genet-graph", "version": 1, "inputs": 4, "classes": 3, "group_size": 2, '
put("graph", "one", (hdr + '"groups": [{"id": 1, "inputs": [0]}], "output": {"inputs": [1]}}').encode())
put("graph", "diamond", (hdr + '"groups": [{"id": 1, "inputs": [0]}, {"id": 2, "inputs": [0]}, '
                         '{"id": 3, "inputs": [1, 2]}], "output": {"inputs": [3]}}').encode())
put("graph", "skip", (hdr + '"groups": [{"id": 5, "inputs": [0], "parent": -1, "born": 0, '
                      '"grad_std": 0.5}, {"id": 9, "inputs": [0, 5]}], '
                      '"output": {"inputs": [5, 9]}}').encode())
put("graph", "direct", (hdr + '"groups": [], "output": {"inputs": [0]}}').encode())
put("graph", "forward-ref", (hdr + '"groups": [{"id": 1, "inputs": [2]}, {"id": 2, "inputs": [0]}], '
                             '"output": {"inputs": [1]}}').encode())
put("graph", "dangling", (hdr + '"groups": [{"id": 1, "inputs": [0]}, {"id": 2, "inputs": [1]}], '
                          '"output": {"inputs": [1]}}').encode())

# Stats rings: header (128 bytes) + capacity records of 192 bytes.
MAGIC = 0x474E52494E473031


def ring(capacity, records, flags=2, pid=1, version=1, rec_size=192):
    h = struct.pack("<QIIIIiIQqQ16s7Q", MAGIC, version, 128, rec_size, capacity, pid, flags,
                    records, 1700000000000000000, 0, b"cpu", *([0] * 7))
    assert len(h) == 128
    body = bytearray(capacity * 192)
    for i in range(records):
        k = i % capacity
        rec = struct.pack("<QqqiiddiiqqqdiiiiqqqqqqqqQQQ", 2 * (i + 1), i * 1000, i, 0, 1,
                          1.0 / (i + 1), 0.5, 3, 2, 0, 0, 10 * i, 5.0, 3, 64, 2, 512, 100,
                          1000, 1, 2, 3, 4, 5, 6, 0, 0, 0)
        assert len(rec) == 192
        body[k * 192:(k + 1) * 192] = rec
    return h + bytes(body)


put("ring", "finished", ring(4, 3))
put("ring", "wrapped", ring(2, 5))
put("ring", "running", ring(3, 1, flags=1))
put("ring", "empty", ring(1, 0))
put("ring", "truncated", ring(4, 3)[:400])
put("ring", "version2", ring(1, 1, version=2))
