#!/usr/bin/env python3
"""Compare what clientstate.c reads from client mailboxes with the record
of t/gen/clients.py.

    clientstate-view.py DUMP OUTDIR

DUMP is t/clientstate-dump; OUTDIR the generator's output. Every mailbox
of OUTDIR/expected.json is read (Gmail's in each label mode) and every
message compared: flags, keywords in order, folders, user labels, old,
expunged and which client's header decided. Prints one line per
difference (at most 40) and a count per client; exits 1 on any.
"""
import json
import os
import subprocess
import sys

dump, out = sys.argv[1], sys.argv[2]
exp = json.load(open(os.path.join(out, "expected.json"), encoding="utf-8"))
bad = []
count = {}
CLIENT = {"thunderbird": "thunderbird", "evolution": "evolution", "gmail": "gmail",
          "apple": "none"}

for path, mb in sorted(exp["mailboxes"].items()):
    modes = ["folders", "keywords", "none"] if mb["client"] == "gmail" else ["folders"]
    for mode in modes:
        res = subprocess.run([dump, "--labels=" + mode, os.path.join(out, path)],
                             stdout=subprocess.PIPE, check=False)
        if res.returncode != 0:
            bad.append("%s: dump exit %d" % (path, res.returncode))
            continue
        lines = res.stdout.decode("utf-8").split("\n")[:-1]
        if len(lines) != len(mb["messages"]):
            bad.append("%s: %d messages read, %d written" % (path, len(lines), len(mb["messages"])))
        for got, want in zip(lines, mb["messages"]):
            f = got.split("\t")
            mid = want["message_id"].strip("<>")
            if mb["client"] == "gmail":
                kws = want["by_mode"][mode]["keywords"]
                folders = want["by_mode"][mode]["folders"]
                labels = want["labels"]
            else:
                kws, folders, labels = want["keywords"], [], []
            exp_fields = [mid, want["flags"], " ".join(kws), "|".join(folders), "|".join(labels),
                          "1" if want["old"] else "0", "1" if want["expunged"] else "0",
                          CLIENT[mb["client"]]]
            if f != exp_fields:
                names = ["message-id", "flags", "keywords", "folders", "labels", "old",
                         "expunged", "client"]
                diff = ["%s %r want %r" % (n, g, w) for n, g, w in zip(names, f, exp_fields)
                        if g != w]
                bad.append("%s [%s] %s: %s" % (path, mode, mid, "; ".join(diff)))
            count[mb["client"]] = count.get(mb["client"], 0) + 1
for b in bad[:40]:
    print(b)
if len(bad) > 40:
    print("... %d more" % (len(bad) - 40))
print(" ".join("%s=%d" % kv for kv in sorted(count.items())), file=sys.stderr)
sys.exit(1 if bad else 0)
