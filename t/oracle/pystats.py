#!/usr/bin/env python3
"""Independent oracle for `mailshift stats`: messages, bytes, flags,
keywords and messages per year of one mbox or one Maildir, computed with
Python's mailbox and email modules, printed as one JSON object with the
same keys as `mailshift stats --json` (messages, bytes, flags, keywords,
by_year).

  pystats.py [--unquote] [--crlf] MBOX      (gzip, bzip2, xz, zip read by Python)
  pystats.py MAILDIR
  pystats.py --batch FILE    one line per mailbox: OPTIONS<TAB>PATH<TAB>OUTPUT

mbox: Python's mailbox.mbox splits at every "From " line and never
unquotes; --unquote and --crlf make its bytes what a Maildir file holds
(see pymbox.py). Flags follow SPEC §2.10 from the first Status, X-Status
and X-Keywords fields (X-Mozilla-Status when neither Status nor X-Status).
Maildir: sizes are file sizes (os.stat), flags are MaildirMessage's, keyword
letters get their names from dovecot-keywords. A maildir without new/ or
tmp/ (Python raises) is read from a copy with the missing directories made.
Date: email.utils.parsedate_tz of the first Date field (or an ISO 8601
date, which SPEC §3.7 accepts); else the From_ line's date (mbox) or the
file's mtime (Maildir); else the mbox file's mtime; UTC year. Maildir
names starting with '.' are skipped (Python would list them); "!2,"
names are read with Maildir.colon = "!".
"""
import bz2
import email
import email.policy
import email.utils
import gzip
import json
import lzma
import mailbox
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile


ISO = re.compile(r"\s*(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d))?)?"
                 r"\s*(Z|[+-]\d\d:?\d\d)?\s*$")


def iso_year(value):
    """SPEC §3.7 accepts ISO 8601 dates, which parsedate_tz does not."""
    m = ISO.match(value)
    if not m or not 1 <= int(m.group(2)) <= 12 or not 1 <= int(m.group(3)) <= 31:
        return None
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    hh, mm = int(m.group(4) or 0), int(m.group(5) or 0)
    off = 0
    z = m.group(7)
    if z and z != "Z":
        z = z.replace(":", "")
        off = (int(z[1:3]) * 60 + int(z[3:5])) * (1 if z[0] == "+" else -1)
    import calendar
    t = calendar.timegm((y, mo, d, hh, mm, 0, 0, 0, 0)) - off * 60
    return time.gmtime(t).tm_year


def year_of(value):
    if value is None:
        return None
    try:
        t = email.utils.parsedate_tz(str(value))
    except Exception:
        return None
    if t is None:
        return iso_year(str(value))
    try:
        return time.gmtime(email.utils.mktime_tz(t)).tm_year
    except (OverflowError, ValueError):
        return None


def first(msg, name):
    v = msg.get(name)
    return None if v is None else str(v)


def mbox_flags(msg):
    """(flags set, is_new, keyword names) per SPEC §2.10."""
    status, xstatus = first(msg, "Status"), first(msg, "X-Status")
    fl = set()
    old = False
    if status is not None or xstatus is not None:
        s = status or ""
        if "R" in s:
            fl.add("seen")
        if "r" in s:
            fl.add("replied")
        old = "O" in s or "R" in s
        x = xstatus or ""
        for letter, name in (("A", "replied"), ("F", "flagged"), ("T", "draft"), ("D", "trashed")):
            if letter in x:
                fl.add(name)
    else:
        moz = first(msg, "X-Mozilla-Status")
        if moz:
            try:
                v = int(moz.strip()[:4], 16)
            except ValueError:
                v = 0
            for bit, name in ((1, "seen"), (2, "replied"), (4, "flagged"), (8, "trashed"),
                              (0x1000, "passed")):
                if v & bit:
                    fl.add(name)
    kws = []
    xk = first(msg, "X-Keywords")
    if xk:
        for k in xk.split():
            if k == "$Forwarded":
                fl.add("passed")
            elif k not in kws:
                kws.append(k)
    is_new = not old and not fl and not kws
    return fl, is_new, kws


def empty_figures():
    return {"messages": 0, "bytes": 0,
            "flags": {k: 0 for k in ("new", "unread", "seen", "replied", "flagged",
                                     "trashed", "draft", "passed")},
            "keywords": {}, "by_year": {}}


def add(fig, size, fl, is_new, kws, year):
    fig["messages"] += 1
    fig["bytes"] += size
    f = fig["flags"]
    f["new"] += is_new
    f["unread"] += "seen" not in fl
    for name in fl:
        f[name] += 1
    for k in kws:
        fig["keywords"][k] = fig["keywords"].get(k, 0) + 1
    if year is not None:
        fig["by_year"][str(year)] = fig["by_year"].get(str(year), 0) + 1


DAY = re.compile(r"\s(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),?\s")


def from_line_year(from_line):
    # "sender date": the sender may hold spaces ("user at host"); the date
    # starts at the last day name
    found = list(DAY.finditer(" " + from_line))
    return year_of((" " + from_line)[found[-1].start():]) if found else None


def zip_open(path, mode):
    z = zipfile.ZipFile(path)
    members = [i for i in z.infolist() if not i.is_dir()]
    return z.open(members[0])


def stats_mbox(path, unquote, crlf):
    fig = empty_figures()
    tmp = None
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open,
              ".zip": zip_open}.get(os.path.splitext(path)[1])
    mtime_year = time.gmtime(os.stat(path).st_mtime).tm_year
    if opener:
        tmp = tempfile.NamedTemporaryFile(delete=False)
        with opener(path, "rb") as f:
            tmp.write(f.read())
        tmp.close()
        path = tmp.name
    try:
        box = mailbox.mbox(path, create=False)
        with open(path, "rb") as f:
            raw = f.read()
        for k in box.keys():
            data = box.get_bytes(k)
            stop = box._toc[k][1]
            stripped = stop < len(raw) and raw[stop:stop + 1] == b"\n"
            if crlf and not stripped and (data.endswith(b"\n\r\n") or data == b"\r\n"):
                data = data[:-2]
            if unquote:
                data = re.sub(rb"(?m)^>(>*From )", rb"\1", data)
            msg = email.message_from_bytes(data, policy=email.policy.compat32)
            fl, is_new, kws = mbox_flags(msg)
            year = year_of(msg.get("Date"))
            if year is None:
                year = from_line_year(box.get_message(k).get_from())
            if year is None:
                year = mtime_year
            add(fig, len(data), fl, is_new, kws, year)
        box.close()
    finally:
        if tmp:
            os.unlink(tmp.name)
    return fig


def keyword_names(path):
    names = {}
    try:
        with open(os.path.join(path, "dovecot-keywords"), "rb") as f:
            for line in f:
                parts = line.decode("utf-8", "replace").rstrip("\r\n").split(" ", 1)
                if len(parts) == 2 and parts[0].isdigit() and int(parts[0]) < 26:
                    names[chr(ord("a") + int(parts[0]))] = parts[1]
    except FileNotFoundError:
        pass
    return names


def stats_maildir(path):
    fig = empty_figures()
    copy = None
    if not all(os.path.isdir(os.path.join(path, d)) for d in ("new", "cur", "tmp")):
        copy = tempfile.mkdtemp()
        root = os.path.join(copy, "m")
        shutil.copytree(path, root, symlinks=True)
        for d in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        path = root
    try:
        names = keyword_names(path)
        box = mailbox.Maildir(path, factory=None, create=False)
        # mu and others write "!2," where ':' is not allowed (SPEC §1.5)
        cur = os.listdir(os.path.join(path, "cur"))
        if any("!2," in n for n in cur) and not any(":2," in n for n in cur):
            box.colon = "!"
        letters = {"S": "seen", "R": "replied", "F": "flagged", "T": "trashed",
                   "D": "draft", "P": "passed"}
        for k in box.keys():
            if os.path.basename(box._lookup(k)).startswith("."):
                continue        # dot names are not messages (SPEC §1.4)
            file = os.path.join(path, box._lookup(k))
            st = os.lstat(file)
            msg = box.get_message(k)
            fl = {letters[c] for c in msg.get_flags() if c in letters}
            kws = ["%s" % names.get(c, "[%s]" % c) for c in sorted(set(msg.get_flags()))
                   if "a" <= c <= "z"]
            year = year_of(msg.get("Date"))
            if year is None:
                year = time.gmtime(st.st_mtime).tm_year
            add(fig, st.st_size, fl, msg.get_subdir() == "new", kws, year)
    finally:
        if copy:
            shutil.rmtree(copy)
    return fig


def figures(args):
    path = [a for a in args if not a.startswith("--")][0]
    if os.path.isdir(path):
        return stats_maildir(path)
    return stats_mbox(path, "--unquote" in args, "--crlf" in args)


def main():
    args = sys.argv[1:]
    if args[:1] == ["--batch"]:
        # one interpreter for many mailboxes: each line of the file is
        # "OPTIONS<TAB>PATH<TAB>OUTPUT", the JSON object goes to OUTPUT
        for line in open(args[1], encoding="utf-8"):
            opts, path, out = line.rstrip("\n").split("\t")
            with open(out, "w") as f:
                print(json.dumps(figures(opts.split() + [path]), sort_keys=True), file=f)
        return
    print(json.dumps(figures(args), sort_keys=True))


main()
