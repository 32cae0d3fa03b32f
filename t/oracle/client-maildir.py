#!/usr/bin/env python3
"""Check a Maildir++ tree that `mailshift convert` made from one client's
mailboxes against the record of t/gen/clients.py, message by message.

    client-maildir.py EXPECTED CLIENT MAILDIR [--labels=MODE] [--keep-expunged]

EXPECTED is the generator's expected.json, CLIENT one of thunderbird,
evolution, gmail, apple, MAILDIR the converted tree. Every message of the
client's mailboxes is looked up by Message-ID in the folder the record
gives (its tree folder; Gmail: every folder of the label mode) and
compared: the flags of its name, its keywords through that folder's
dovecot-keywords, new/ or cur/; Gmail's copies must be one file (hard
links, one inode). Thunderbird's expunged messages must be absent, or with
--keep-expunged present with T. No message may be anywhere else. Prints
one line per difference (at most 40) and, on stderr, the figures; exits 1
on any difference.
"""
import json
import os
import sys

exp_path, client, top = sys.argv[1:4]
mode = "folders"
keep_expunged = False
for a in sys.argv[4:]:
    if a.startswith("--labels="):
        mode = a.split("=", 1)[1]
    elif a == "--keep-expunged":
        keep_expunged = True
exp = json.load(open(exp_path, encoding="utf-8"))


def folder_dir(folder):
    """Folder path ('/' between levels, "" INBOX) -> its Maildir++ directory."""
    if folder == "" or folder.lower() == "inbox":
        return top
    parts = []
    for c in folder.split("/"):
        parts.append(c.replace("%", "%25").replace(".", "%2E"))
    return os.path.join(top, "." + ".".join(parts))


def scan(d):
    """Message-ID -> [(subdir, name, inode)] of one maildir."""
    out = {}
    for sub in ("new", "cur"):
        p = os.path.join(d, sub)
        if not os.path.isdir(p):
            continue
        for n in os.listdir(p):
            mid = None
            with open(os.path.join(p, n), "rb") as f:
                for line in f:
                    if line in (b"\n", b"\r\n"):
                        break
                    if line.lower().startswith(b"message-id:"):
                        mid = line.split(b":", 1)[1].strip().decode()
                        break
            out.setdefault(mid, []).append((sub, n, os.stat(os.path.join(p, n)).st_ino))
    return out


def keywords_file(d):
    kw = {}
    try:
        for line in open(os.path.join(d, "dovecot-keywords"), encoding="utf-8"):
            i, name = line.rstrip("\n").split(" ", 1)
            kw[chr(ord("a") + int(i))] = name
    except FileNotFoundError:
        pass
    return kw


folders = {}          # dir -> (scan, keywords)
def folder(d):
    if d not in folders:
        folders[d] = (scan(d), keywords_file(d))
    return folders[d]


bad = []
fig = {"messages": 0, "delivered": 0, "expunged": 0, "flagged": 0, "seen": 0, "keyworded": 0,
       "forwarded": 0, "copies": 0}
expected_files = {}   # dir -> count
for path, mb in sorted(exp["mailboxes"].items()):
    if mb["client"] != client:
        continue
    for m in mb["messages"]:
        fig["messages"] += 1
        mid = m["message_id"]
        if client == "gmail":
            where = m["by_mode"][mode]["folders"]
            kws = m["by_mode"][mode]["keywords"]
        else:
            where = [mb["folder"]]
            kws = m["keywords"]
        flags = m["flags"]
        if m["expunged"]:
            fig["expunged"] += 1
            if not keep_expunged:
                for f in where:
                    if mid in folder(folder_dir(f))[0]:
                        bad.append("%s: expunged but delivered into %r" % (mid, f))
                continue
            flags = "".join(sorted(set(flags) | {"T"}))
        fig["delivered"] += 1
        fig["flagged"] += "F" in flags
        fig["seen"] += "S" in flags
        fig["keyworded"] += bool(kws)
        fig["forwarded"] += "P" in flags and "$Forwarded" in kws
        inodes = set()
        for f in where:
            d = folder_dir(f)
            expected_files[d] = expected_files.get(d, 0) + 1
            found, kwmap = folder(d)
            got = found.get(mid, [])
            if len(got) != 1:
                bad.append("%s: %d copies in %r, want 1" % (mid, len(got), f))
                continue
            sub, name, ino = got[0]
            inodes.add(ino)
            info = name.split(":2,", 1)[1] if ":2," in name else ""
            gflags = "".join(c for c in info if c.isupper())
            gkw = sorted(kwmap.get(c, "?" + c) for c in info if c.islower())
            want_sub = "cur" if (m["old"] or flags or kws) else "new"
            if gflags != flags:
                bad.append("%s in %r: flags %r, want %r" % (mid, f, gflags, flags))
            if gkw != sorted(kws):
                bad.append("%s in %r: keywords %r, want %r" % (mid, f, gkw, sorted(kws)))
            if sub != want_sub:
                bad.append("%s in %r: in %s/, want %s/" % (mid, f, sub, want_sub))
        if len(inodes) > 1:
            bad.append("%s: %d files for %d folders, want one linked" % (mid, len(inodes), len(where)))
        fig["copies"] += len(where) - 1
# nothing anywhere else
for d, (found, _) in sorted(folders.items()):
    n = sum(len(v) for v in found.values())
    if n != expected_files.get(d, 0):
        bad.append("%s: %d messages, want %d" % (d, n, expected_files.get(d, 0)))
for dirpath, dirnames, filenames in os.walk(top):
    if os.path.basename(dirpath) in ("cur", "new") and filenames:
        d = os.path.dirname(dirpath)
        if d not in folders:
            bad.append("%s: %d messages in a folder the record does not name" % (d, len(filenames)))
for line in bad[:40]:
    print(line)
print(" ".join("%s=%d" % kv for kv in fig.items()), file=sys.stderr)
sys.exit(1 if bad else 0)
