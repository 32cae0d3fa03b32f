#!/usr/bin/env python3
"""t/gen/maildir-digest.py: what a converted Maildir holds, one line per
message, for comparing conversions of the same mailbox (t/1060, t/1065).

    maildir-digest.py MAILDIR...          write MAILDIR.list beside each
    maildir-digest.py --compare CELL WANT.list GOT.list

A list holds, in delivery order (the Q<n> sequence mailshift puts in the
names of one run), per message: new/ or cur/, the info flags, the mtime,
the size, the SHA-256 of the contents, the UID from dovecot-uidlist (or -)
and the Message-ID; then the dovecot-keywords file. File names differ
between runs (they hold the source's identity) and are not compared.
--compare prints "CELL: message N (Message-ID): want ... got ..." for the
first message that differs, and exits 1; 0 when the lists are equal.
"""
import hashlib
import os
import re
import sys

Q_RE = re.compile(r"\.M\d+P\d+Q(\d+)")


def message_id(path):
    with open(path, "rb") as f:
        head = f.read(65536)
    m = re.search(rb"(?im)^message-id:[ \t]*(\S*)", head)
    return m.group(1).decode("latin-1") if m else "-"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def uids(md):
    out = {}
    try:
        with open(os.path.join(md, "dovecot-uidlist"), "rb") as f:
            next(f, None)
            for line in f:
                line = line.decode("latin-1").rstrip("\n")
                uid, _, rest = line.partition(" ")
                name = rest[rest.index(":") + 1:] if ":" in rest else rest
                out[name.split(":")[0]] = uid
    except FileNotFoundError:
        pass
    return out


def digest(md):
    rows = []
    u = uids(md)
    for sub in ("new", "cur"):
        d = os.path.join(md, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            p = os.path.join(d, name)
            st = os.lstat(p)
            base, _, info = name.partition(":")
            q = Q_RE.search(base)
            rows.append((int(q.group(1)) if q else -1, name,
                         "%s %s %d %d %s %s %s" % (sub, info or "-", st.st_mtime, st.st_size,
                                                   sha256_file(p), u.get(base, "-"), message_id(p))))
    rows.sort()
    lines = [r[2] for r in rows]
    try:
        with open(os.path.join(md, "dovecot-keywords"), "rb") as f:
            lines.append("keywords " + f.read().decode("latin-1").replace("\n", "|"))
    except FileNotFoundError:
        lines.append("keywords -")
    return lines


def compare(cell, want, got):
    with open(want) as f:
        a = f.read().splitlines()
    with open(got) as f:
        b = f.read().splitlines()
    if a == b:
        return 0
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else "(nothing)"
        y = b[i] if i < len(b) else "(nothing)"
        if x != y:
            mid = (x if x != "(nothing)" else y).split(" ")[-1]
            what = "message %d (%s)" % (i + 1, mid) if not x.startswith("keywords") else "dovecot-keywords"
            print("%s: %s: want %s; got %s (%d messages wanted, %d got)"
                  % (cell, what, x, y, len(a) - 1, len(b) - 1))
            return 1
    return 1


def main(argv):
    if len(argv) == 5 and argv[1] == "--compare":
        return compare(argv[2], argv[3], argv[4])
    for md in argv[1:]:
        with open(md.rstrip("/") + ".list", "w") as f:
            f.write("\n".join(digest(md)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
