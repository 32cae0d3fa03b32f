#!/usr/bin/env python3
"""hash-lists.py JOBS: for every line "FILES<TAB>OUT" of JOBS, write to OUT
one line "<sha256> <length>" for each file named in FILES (one path a line),
in order: the form pymbox.py --batch prints the oracle's messages in."""
import hashlib
import sys

for line in open(sys.argv[1]):
    files, out = line.rstrip("\n").split("\t")
    with open(out, "w") as o:
        for p in open(files).read().splitlines():
            d = open(p, "rb").read()
            print(hashlib.sha256(d).hexdigest(), len(d), file=o)
