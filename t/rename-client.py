#!/usr/bin/env python3
"""A mail client changing flags as fast as it can, until STOP exists:
rename-client.py MAILDIR STOP SEED [--seen]; prints the renames made.

Random files of new/ and cur/ are renamed into cur/ with F toggled
(new/X -> cur/X:2,F, cur/X:2,S <-> cur/X:2,FS); with --seen, S is set too,
as a client's first look sets it. A file renamed away meanwhile is passed
over.
"""
import os
import random
import sys

md, stop, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
seen = "--seen" in sys.argv[4:]
rnd = random.Random(seed)
n = 0
while not os.path.exists(stop):
    sub = rnd.choice(("new", "cur"))
    d = os.path.join(md, sub)
    names = os.listdir(d)
    for f in rnd.sample(names, min(len(names), 200)):
        if os.path.exists(stop):
            break
        base, _, info = f.partition(":2,")
        if seen and "S" not in info:
            info += "S"
        info = info.replace("F", "") if "F" in info else "".join(sorted(info + "F"))
        try:
            os.rename(os.path.join(d, f), os.path.join(md, "cur", base + ":2," + info))
            n += 1
        except FileNotFoundError:
            pass
print(n)
