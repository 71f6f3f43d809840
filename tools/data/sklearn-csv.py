#!/usr/bin/env python3
"""Write scikit-learn's bundled tabular datasets as genet-rt CSV files.

Debian's python3-sklearn ships small real datasets as CSV files under
sklearn/datasets/data/ (label last, a count line first). This script
rewrites one in genet-rt's format (label first, then the features, no
header) as NAME_train.csv and NAME_test.csv, split by a seeded shuffle,
so `genet-rt train OUT/NAME_train.csv` finds its test set. Only the Python
standard library is used: the files are read directly, sklearn is not
imported.

    tools/data/sklearn-csv.py wine OUT [--test-fraction 0.3] [--seed 1]

NAME: wine (178 x 13), breast_cancer (569 x 30), iris (150 x 4),
digits (1797 x 64, 8x8 images with values 0..16).
"""
import argparse
import csv
import gzip
import os
import random
import sys

DATA = "/usr/lib/python3/dist-packages/sklearn/datasets/data"
FILES = {
    "wine": ("wine_data.csv", True),
    "breast_cancer": ("breast_cancer.csv", True),
    "iris": ("iris.csv", True),
    "digits": ("digits.csv.gz", False),
}


def read_rows(name):
    fname, has_count_line = FILES[name]
    path = os.path.join(DATA, fname)
    opener = gzip.open if fname.endswith(".gz") else open
    with opener(path, "rt") as f:
        rows = [r for r in csv.reader(f) if r]
    if has_count_line:
        rows = rows[1:]
    return [(int(float(r[-1])), r[:-1]) for r in rows]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", choices=sorted(FILES))
    ap.add_argument("out", help="output directory")
    ap.add_argument("--test-fraction", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if not os.path.isdir(DATA):
        sys.exit(f"{DATA} not found: apt-get install python3-sklearn")
    rows = read_rows(a.name)
    random.Random(a.seed).shuffle(rows)
    n_test = int(round(len(rows) * a.test_fraction))
    os.makedirs(a.out, exist_ok=True)
    for part, chunk in (("test", rows[:n_test]), ("train", rows[n_test:])):
        path = os.path.join(a.out, f"{a.name}_{part}.csv")
        with open(path, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            for label, feats in chunk:
                w.writerow([label] + feats)
        print(f"{path}: {len(chunk)} rows of {len(rows[0][1])} features")


if __name__ == "__main__":
    main()
