#!/usr/bin/env python3
"""Compare the X-Keywords of mboxes converted from a Courier Maildir tree
with the record of t/gen/courier.py.

    courier-keywords-mbox.py EXPECTED MBOXDIR

MBOXDIR is what `mailshift convert -r` made of the Maildir: INBOX and a
file per folder ("Lists.debian" -> Lists/debian). Every message's
X-Keywords (read with Python's mailbox and email) must name exactly the
keywords Courier kept for it in courierimapkeywords/, plus $Forwarded for
a message with the Maildir flag P. Prints one line per difference (at most
40), on stderr "messages=N keyworded=N"; exits 1 on any difference.
"""
import json
import mailbox
import os
import sys

exp = json.load(open(sys.argv[1]))
out = sys.argv[2]
tot = kw = 0
bad = []
for folder, fd in sorted(exp["folders"].items()):
    path = os.path.join(out, folder.replace(".", "/") if folder else "INBOX")
    got = {}
    for m in mailbox.mbox(path, create=False):
        got[m["Message-ID"]] = set((m.get("X-Keywords") or "").replace(",", " ").split())
    for msg in fd["messages"]:
        tot += 1
        want = set(msg["keywords"])
        info = msg["name"].split(":2,", 1)[1] if ":2," in msg["name"] else ""
        if "P" in info:
            want.add("$Forwarded")
        g = got.get(msg["message_id"])
        if g != want:
            bad.append("%s %s: X-Keywords %s, want %s" % (folder or "INBOX", msg["base"],
                       sorted(g) if g is not None else "missing", sorted(want)))
        kw += bool(msg["keywords"])
for line in bad[:40]:
    print(line)
print("messages=%d keyworded=%d" % (tot, kw), file=sys.stderr)
sys.exit(1 if bad else 0)
