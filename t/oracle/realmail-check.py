#!/usr/bin/env python3
"""t/oracle/realmail-check.py: a converted Maildir against the generator's
record (t/gen/realmail.py) and against Python's mailbox module.

    realmail-check.py [--headers=kept|stripped] LABEL MBOX RECORD MAILDIR

Against the record, always: the message count; per message (in delivery
order, which is mbox order) its bytes (the record's "kept" or "stripped"
form, as --headers says), new/ or cur/, the flag letters, the keyword
names (letters through dovecot-keywords), the mtime and, when the mbox
carries UID state, the UID in dovecot-uidlist.
Against Python, where Python is right (the record's python_split: no
unquoted "From " body lines, LF line ends): Python's mailbox.mbox finds the
same messages, whose bytes after mboxrd unquoting equal the record's kept
form (this checks the generator) and, with --headers=kept, mailshift's
files; and MaildirMessage gives the same flags where the message uses only the
letters Python maps (python_flags), and the same subdir for a message
without flags (Python leaves a flagged message that is not old in new/).
Prints one line per difference, naming LABEL, the message index and its
Message-ID (at most 5 lines a file), and exits 1 if there was any.
"""
import base64
import json
import mailbox
import os
import re
import sys

Q_RE = re.compile(r"\.M\d+P\d+Q(\d+)")
UNQUOTE = re.compile(rb"(?m)^>(>*From )")


def maildir_messages(md):
    rows = []
    for sub in ("new", "cur"):
        d = os.path.join(md, sub)
        for name in os.listdir(d) if os.path.isdir(d) else []:
            q = Q_RE.search(name)
            rows.append((int(q.group(1)) if q else -1, sub, name))
    rows.sort()
    return rows


def keyword_map(md):
    m = {}
    try:
        with open(os.path.join(md, "dovecot-keywords"), "rb") as f:
            for line in f:
                i, _, name = line.decode("latin-1").rstrip("\n").partition(" ")
                m[chr(ord("a") + int(i))] = name
    except FileNotFoundError:
        pass
    return m


def uid_map(md):
    m = {}
    try:
        with open(os.path.join(md, "dovecot-uidlist"), "rb") as f:
            next(f, None)
            for line in f:
                line = line.decode("latin-1").rstrip("\n")
                uid, _, rest = line.partition(" ")
                m[rest[rest.index(":") + 1:].split(":")[0] if ":" in rest else rest] = int(uid)
    except FileNotFoundError:
        pass
    return m


def first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


class Report:
    def __init__(self, label):
        self.label = label
        self.errors = 0

    def __call__(self, idx, msgid, what):
        self.errors += 1
        if self.errors <= 5:
            print("%s: message %s (%s): %s" % (self.label, idx, msgid, what))


def bytes_diff(want, got):
    i = first_diff(want, got)
    return "%d bytes, want %d; first difference at byte %d: want %r, got %r" % (
        len(got), len(want), i, want[max(0, i - 20):i + 20], got[max(0, i - 20):i + 20])


def main(argv):
    headers = "kept"
    if argv[1].startswith("--headers="):
        headers = argv[1].split("=", 1)[1]
        argv = argv[:1] + argv[2:]
    label, mbox_path, record_path, md = argv[1:5]
    with open(record_path) as f:
        info = json.loads(f.readline())
        recs = [json.loads(l) for l in f]
    rep = Report(label)
    files = maildir_messages(md)
    if len(files) != len(recs):
        rep("-", "-", "%d messages in the Maildir, the record has %d" % (len(files), len(recs)))
    kw = keyword_map(md)
    uids = uid_map(md)
    for (q, sub, name), r in zip(files, recs):
        idx, mid = r["index"], r["msgid"]
        path = os.path.join(md, sub, name)
        with open(path, "rb") as f:
            got = f.read()
        want = base64.b64decode(r[headers])
        if got != want:
            rep(idx, mid, "%s form: %s" % (headers, bytes_diff(want, got)))
        if sub != r["subdir"]:
            rep(idx, mid, "in %s/, want %s/" % (sub, r["subdir"]))
        info_part = name.rpartition(":2,")[2] if ":2," in name else ""
        letters = "".join(c for c in info_part if c.isupper())
        if letters != r["flags"]:
            rep(idx, mid, "flags %r, want %r" % (letters, r["flags"]))
        names = sorted(kw.get(c, "?" + c) for c in info_part if c.islower())
        if names != r["keywords"]:
            rep(idx, mid, "keywords %s, want %s" % (names, r["keywords"]))
        mt = int(os.stat(path).st_mtime)
        if mt != r["mtime"]:
            rep(idx, mid, "mtime %d, want %d" % (mt, r["mtime"]))
        if info.get("uidstate"):
            base = name.split(":")[0]
            if uids.get(base) != r["uid"]:
                rep(idx, mid, "UID %s in dovecot-uidlist, want %s" % (uids.get(base), r["uid"]))

    if info.get("python_split"):
        mb = mailbox.mbox(mbox_path, create=False)
        keys = mb.keys()
        if info.get("pseudo"):
            keys = keys[1:]
        if len(keys) != len(recs):
            rep("-", "-", "Python finds %d messages, the record has %d" % (len(keys), len(recs)))
        for k, r, f in zip(keys, recs, files):
            idx, mid = r["index"], r["msgid"]
            py = UNQUOTE.sub(rb"\1", mb.get_bytes(k))
            kept = base64.b64decode(r["kept"])
            if py != kept:
                rep(idx, mid, "Python's bytes differ from the record: " + bytes_diff(kept, py))
            if headers == "kept":
                with open(os.path.join(md, f[1], f[2]), "rb") as fh:
                    got = fh.read()
                if got != py:
                    rep(idx, mid, "mailshift differs from Python: " + bytes_diff(py, got))
            if r["python_flags"]:
                pm = mailbox.MaildirMessage(mb.get_message(k))
                letters = "".join(c for c in f[2].rpartition(":2,")[2] if c.isupper()) if ":2," in f[2] else ""
                # Python files a flagged message that is not old in new/;
                # SPEC §2.10 puts every message with a flag in cur/
                py_sub = "cur" if letters else pm.get_subdir()
                if py_sub != f[1] or "".join(sorted(pm.get_flags())) != letters:
                    rep(idx, mid, "Python: %s/ flags %r; mailshift: %s/ flags %r" % (
                        pm.get_subdir(), "".join(sorted(pm.get_flags())), f[1], letters))
        mb.close()
    if rep.errors > 5:
        print("%s: %d differences in all" % (label, rep.errors))
    return 1 if rep.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
