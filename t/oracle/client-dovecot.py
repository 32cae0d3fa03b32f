#!/usr/bin/env python3
"""Compare what Dovecot's IMAP shows of a converted client folder with the
record of t/gen/clients.py.

    client-dovecot.py EXPECTED CLIENT FOLDER [--labels=MODE] < TRANSCRIPT

TRANSCRIPT is Dovecot's answer to SELECT and
FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]) for FOLDER (the
record's folder path, "" INBOX). Every message the record puts into that
folder must be shown once with exactly its flags as IMAP system flags and
its keywords ($Forwarded included: Dovecot does not show the Maildir flag
P). Thunderbird's expunged messages must not be there. Prints one line per
difference (at most 40), on stderr "shown=N forwarded=N keywords=N";
exits 1 on any difference.
"""
import json
import re
import sys

exp_path, client, want_folder = sys.argv[1:4]
if want_folder.lower() == "inbox":
    want_folder = ""
mode = "folders"
for a in sys.argv[4:]:
    if a.startswith("--labels="):
        mode = a.split("=", 1)[1]
exp = json.load(open(exp_path, encoding="utf-8"))
IMAP = {"S": "\\Seen", "R": "\\Answered", "F": "\\Flagged", "T": "\\Deleted", "D": "\\Draft"}

want = {}
for path, mb in exp["mailboxes"].items():
    if mb["client"] != client:
        continue
    for m in mb["messages"]:
        if m["expunged"]:
            continue
        if client == "gmail":
            where, kws = m["by_mode"][mode]["folders"], m["by_mode"][mode]["keywords"]
        else:
            where, kws = [mb["folder"]], m["keywords"]
        where = ["" if w.lower() == "inbox" else w for w in where]
        if want_folder in where:
            want[m["message_id"]] = {IMAP[c] for c in m["flags"] if c in IMAP} | set(kws)

got = {}
flags = None
for line in sys.stdin:
    fm = re.match(r"^\* \d+ FETCH \(.*FLAGS \(([^)]*)\)", line)
    if fm:
        flags = set(fm.group(1).split()) - {"\\Recent"}
        continue
    if flags is not None and line.lower().startswith("message-id:"):
        mid = line.split(":", 1)[1].strip()
        if mid in got:
            got[mid] = None
        else:
            got[mid] = flags
        flags = None

bad = []
for mid, f in sorted(want.items()):
    g = got.get(mid, "missing")
    if g != f:
        bad.append("%s: Dovecot shows %s, want %s" % (mid, g if isinstance(g, str) else
                   sorted(g) if g is not None else "two copies", sorted(f)))
for mid in sorted(set(got) - set(want)):
    bad.append("%s: shown but not in this folder" % mid)
for line in bad[:40]:
    print(line)
print("shown=%d forwarded=%d keywords=%d" % (
    len(got), sum(1 for g in got.values() if g and "$Forwarded" in g),
    sum(1 for g in got.values() if g and any(not k.startswith("\\") for k in g))), file=sys.stderr)
sys.exit(1 if bad else 0)
