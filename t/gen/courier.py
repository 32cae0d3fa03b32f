#!/usr/bin/env python3
"""Courier-IMAP / Courier POP3 and qmail-pop3d Maildirs with a record of
what the old server returned.

    courier.py [options] OUTDIR

writes OUTDIR/Maildir and OUTDIR/expected.json. Python 3 standard library
only; the same seed gives the same bytes.

The Maildir is written from the format facts of mailshift-formats(5)
("State other servers keep"), as the servers themselves write it:

  courierimapuiddb   "1 UIDVALIDITY NEXTUID", then "UID BASENAME" sorted by
                     UID (Courier-IMAP stores base names; --stale-info adds
                     the info part older versions left in some lines).
  courierpop3dsizelist
                     --pop3=0: "NAME SIZE"; 1: "/1 NEXT", "NAME SIZE UID";
                     2: "/2 NEXT UIDV", "NAME SIZE UID:UIDV"; 3: "/3 NEXT
                     UIDV", "NAME SIZE UID:UIDV:0"; none: no file. Lines
                     in the order Courier POP3 lists messages (the
                     number in front of the name, then the name), SIZE
                     counting CR LF line ends (+2 without a final LF).
  courierimapkeywords/
                     ":list" (names, an empty line, "BASE:INDEX ...") and
                     update files "BASE" and ".N.BASE" written after it
                     (for a base the plain name wins, else the highest N),
                     plus a ".tmp." scratch file Courier ignores.
  courierimapsubscribed
                     "INBOX.FOLDER" lines.
  folders            .Sent .Drafts .Trash .Lists.debian .Lists.courier
                     with maildirfolder and their own courierimapuiddb.

With --qmail no state file is written: qmail-pop3d lists new/ and cur/ by
mtime and reports base names as UIDLs and file sizes as sizes.

Time runs in three phases, so the record is exact: messages delivered
before the last IMAP session have Courier UIDs (with gaps for messages
expunged since); messages before the last POP3 session are in the size
list; the newest ones are in neither, and some messages were deleted by
POP3 after the IMAP session, so courierimapuiddb and
courierpop3dsizelist still name them (vanished files).

expected.json:
  {"kind": "courier"|"qmail", "seed": N,
   "subscriptions": ["Sent", ...],           # Dovecot names
   "folders": {"": {...}, "Sent": {...}},    # "" is INBOX
   "keywords_not_carried": [...],            # beyond 26 per folder, by rule
   "damage": [{"file": "courierimapuiddb", "line": N, "code": "STATE-..."}]}
  per folder: {"uidvalidity": V or null, "uidnext": N or null,
   "messages": [{"base", "subdir", "name", "message_id",
                 "uid" (null: none yet), "fresh_uid" (the UID it gets
                 next, in delivery order, when the state is whole),
                 "flags": ["\\Seen", ...], "keywords": [...], "mtime"}],
   "pop3": [{"base", "uidl", "size", "vsize"}]}   # INBOX only, POP3 order
  size is what the old server reported: Courier's CR LF size (2 more for a
  file without a final LF), qmail-pop3d's file size; vsize is the size with
  CR LF line ends, the only size Dovecot can report without breaking IMAP.

--damage=KIND changes the state after the record is made and lists what a
reader must report; the messages it touches are recorded with "uid": null
(a fresh UID) or without POP3 fields:
  truncated-uiddb   cut the last line of INBOX's courierimapuiddb short
  duplicate-uid     give a later line the UID of an earlier one
  vanished          (always present) lines naming deleted files
  pop3-version      an unknown courierpop3dsizelist version "/4": no POP3
                    state at all
  garbage           lines that are no state in every file
"""
import argparse
import json
import os
import random
import sys

T0 = 1262304000          # 2010-01-01 00:00:00 UTC
HOST = "mail.example.com"
FLAG_LETTERS = "DFPRST"
IMAP_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered",
              "S": "\\Seen", "T": "\\Deleted"}
KEYWORDS = ["$Forwarded", "$Junk", "$NotJunk", "Work", "Personal", "To-Do",
            "Later", "$MDNSent", "Receipts", "Travel", "Family", "Urgent"]
FOLDERS = ["Sent", "Drafts", "Trash", "Lists.debian", "Lists.courier"]
WORDS = ("maildir courier dovecot pop3 imap uid keyword folder migration "
         "server client message header body spool archive").split()


def courier_uidl(base, uid, uidv):
    """The UIDL Courier POP3 reports (pop3dserver.c print_uidl)."""
    if uid:
        return "UID%d-%d" % (uid, uidv) if uidv else "UID%d" % uid
    out = []
    for c in base.encode("latin-1"):
        if c < 0x21 or c > 0x7e or c in b"'\"+":
            out.append("+%02X" % c)
        else:
            out.append(chr(c))
    return "".join(out)


def courier_size(data):
    """Courier POP3's size: CR LF line ends, +2 without a final LF."""
    n = len(data) + data.count(b"\n")
    if data and not data.endswith(b"\n"):
        n += 2
    return n


def vsize(data):
    """The size with CR LF line ends, as Dovecot and RFC 1939 count."""
    return len(data) + data.count(b"\n") - data.count(b"\r\n")


def name_order_key(base):
    """Courier POP3's cmpmsgs: the number in front, then the bytes."""
    digits = ""
    for c in base:
        if not c.isdigit():
            break
        digits += c
    return (int(digits or "0"), base.encode("latin-1"))


class Msg:
    def __init__(self, rnd, folder, i, t, style):
        self.t = t
        self.mtime = t
        subj = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(2, 6)))
        body = "".join(" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 12))) + "\n"
                       for _ in range(rnd.randint(1, 40)))
        self.mid = "<%s.%d.%d@gen.example>" % (folder or "INBOX", i, t)
        hdr = ("Return-Path: <user%d@example.org>\n"
               "Delivered-To: alice@example.com\n"
               "Message-ID: %s\n"
               "Date: %s\n"
               "From: User %d <user%d@example.org>\n"
               "To: alice@example.com\n"
               "Subject: %s %d\n" % (
                   i % 13, self.mid, rfc2822(t), i % 13, i % 13, subj, i))
        data = (hdr + "\n" + body).encode()
        if rnd.random() < 0.04:
            data = data.rstrip(b"\n")          # no final LF
        self.data = data
        if style == "qmail":
            self.base = "%d.%d.%s" % (t, 4000 + i, HOST)
        elif style == "courier":
            self.base = "%d.M%06dP%dV%016XI%016X_%d.%s,S=%d" % (
                t, rnd.randrange(1000000), 3000 + i, 0x803, 0x1A2B3C + i,
                i % 3, HOST, len(data))
        else:                                 # maildrop / Dovecot style
            # a few hosts whose names Courier's UIDL encoding must escape
            host = HOST if rnd.random() > 0.06 else rnd.choice(
                ["mx+relay.example.com", "o'brien.example.net", "a\"b+c.example.org"])
            self.base = "%d.M%06dP%d.%s,S=%d,W=%d" % (
                t, rnd.randrange(1000000), 5000 + i, host, len(data),
                len(data) + data.count(b"\n"))
        self.flags = ""
        self.sub = "new"
        self.keywords = []
        self.uid = None
        self.stale_info = False

    @property
    def name(self):
        return self.base if self.sub == "new" else self.base + ":2," + self.flags


def rfc2822(t):
    import time
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))


def write_file(path, data, mtime=None):
    with open(path, "wb") as f:
        f.write(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def make_maildir(path, folder=False):
    for d in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    if folder:
        write_file(os.path.join(path, "maildirfolder"), b"")


def flag_combo(i):
    """Every combination of D F P R S T as i runs over 0..63."""
    return "".join(c for b, c in enumerate(FLAG_LETTERS) if i & (1 << b))


def gen_folder(rnd, args, root, fname, count, t_start, pop3):
    """One folder: messages, uiddb, keywords. Returns its record and state."""
    path = root if fname == "" else os.path.join(root, "." + fname)
    make_maildir(path, folder=fname != "")
    style = "qmail" if args.qmail else None
    msgs = []
    t = t_start
    for i in range(count):
        t += rnd.randint(60, 7200)
        st = style or rnd.choice(["courier", "courier", "maildrop"])
        msgs.append(Msg(rnd, fname, i, t, st))
    n_imap = int(count * 0.80)       # seen by the last IMAP session
    n_pop = int(count * 0.92)        # listed by the last POP3 session
    # restored from a backup into cur/ late: an old name (POP3 lists it
    # early) but a high UID (IMAP saw it late), so the POP3 order is not
    # the UID order
    if not args.qmail:
        for k in range(n_imap // 2, n_imap, 9):
            m = msgs[k]
            old = T0 - rnd.randint(86400, 300 * 86400)
            m.base = str(old) + m.base[len(str(m.t)):]
            m.t = m.mtime = old
    # flags: messages a reader has seen live in cur/ with every combination
    for k, m in enumerate(msgs):
        if k < n_imap or (pop3 and k < n_pop and rnd.random() < 0.5):
            m.sub = "cur"
            m.flags = flag_combo(k % 64)
        elif rnd.random() < 0.3:
            m.sub = "cur"            # moved to cur/ by a reader, no flags
    if args.qmail:
        # restored from a backup: mtimes out of name order
        for k, m in enumerate(msgs):
            if k % 9 == 4:
                m.mtime = m.t - rnd.randint(86400, 30 * 86400)
            elif k % 11 == 7:
                m.mtime = m.t + rnd.randint(3600, 86400)
        mt = {}
        for m in msgs:                # qmail breaks mtime ties unpredictably
            while m.mtime in mt:
                m.mtime += 1
            mt[m.mtime] = m
    rec = {"uidvalidity": None, "uidnext": None, "messages": [], "pop3": []}
    vanished = []
    state = {"path": path, "msgs": msgs, "uid_lines": [], "pop3_lines": None}
    if not args.qmail:
        uidv = t_start - 1000000000 + rnd.randrange(100000)
        uid = 0
        for k, m in enumerate(msgs[:n_imap]):
            uid += 1 + (rnd.randint(1, 5) if rnd.random() < 0.15 else 0)
            if k in (n_imap // 3, n_imap // 2) and pop3:
                # deleted by POP3 after the IMAP session: still listed
                vanished.append((uid, m))
                continue
            m.uid = uid
        nextuid = uid + 1 + rnd.randint(0, 3)     # expunged at the end
        lines = []
        for m in msgs[:n_imap]:
            u = m.uid if m.uid is not None else next(v[0] for v in vanished if v[1] is m)
            shown = m.base
            if args.stale_info and m.uid is not None and m.uid % 7 == 0:
                shown = m.base + ":2,S"
                m.stale_info = True
            lines.append("%d %s" % (u, shown))
        state["uid_lines"] = lines
        state["uid_header"] = "1 %d %d" % (uidv, nextuid)
        write_file(os.path.join(path, "courierimapuiddb"),
                   ("\n".join([state["uid_header"]] + lines) + "\n").encode())
        msgs = [m for m in msgs if not any(v[1] is m for v in vanished)]
        state["msgs"] = msgs
        # fresh UIDs for the newer messages, in delivery order
        fresh = nextuid
        for m in msgs:
            if m.uid is None:
                m.fresh_uid = fresh
                fresh += 1
        rec["uidvalidity"] = uidv
        rec["uidnext"] = fresh
        state["vanished"] = vanished
    if pop3 and not args.qmail:
        pop_msgs = [m for m in state["msgs"] if msgs.index(m) < n_pop] + [v[1] for v in vanished]
        pop_msgs.sort(key=lambda m: name_order_key(m.base))
        gen_pop3(rnd, args, path, pop_msgs, {id(v[1]) for v in vanished}, rec, state)
    if args.qmail and fname == "":
        for m in sorted(msgs, key=lambda m: m.mtime):
            rec["pop3"].append({"base": m.base, "uidl": m.base, "size": len(m.data),
                                "vsize": vsize(m.data)})
    # keywords
    if not args.qmail:
        gen_keywords(rnd, args, path, state["msgs"], n_imap)
    # write the messages
    for m in state["msgs"]:
        write_file(os.path.join(path, m.sub, m.name), m.data, m.mtime)
        rec["messages"].append({
            "base": m.base, "subdir": m.sub, "name": m.name, "message_id": m.mid,
            "uid": m.uid if m.uid is not None else None,
            "fresh_uid": getattr(m, "fresh_uid", None),
            "flags": sorted(IMAP_FLAGS[c] for c in m.flags if c in IMAP_FLAGS),
            "keywords": sorted(m.keywords),
            "mtime": m.mtime})
    return rec, state


def gen_pop3(rnd, args, path, pop_msgs, gone, rec, state):
    ver = args.pop3
    uidv = T0 + rnd.randrange(1000000)
    lines = []
    puid = 0
    old_era = len(pop_msgs) // 4 if ver == "1" else 0   # listed before UIDs existed
    for k, m in enumerate(pop_msgs):
        size = courier_size(m.data)
        fname = m.name if m.sub == "cur" else m.base    # Courier lists cur/ names
        if ver == "0":
            u, v = 0, 0
            lines.append("%s %d" % (fname, size))
        elif ver == "1":
            if k < old_era:
                u = 0
            else:
                puid += 1
                u = puid
            v = 0
            lines.append("%s %d %d" % (fname, size, u))
        else:
            puid += 1
            u, v = puid, uidv
            if ver == "2":
                lines.append("%s %d %d:%d" % (fname, size, u, v))
            else:
                lines.append("%s %d %d:%d:%d" % (fname, size, u, v, 0))
        if id(m) not in gone:
            rec["pop3"].append({"base": m.base, "uidl": courier_uidl(m.base, u, v),
                                "size": size, "vsize": vsize(m.data)})
    header = {"0": None, "1": "/1 %d" % (puid + 1),
              "2": "/2 %d %d" % (puid + 1, uidv),
              "3": "/3 %d %d" % (puid + 1, uidv)}[ver]
    state["pop3_header"] = header
    state["pop3_lines"] = lines
    data = ([header] if header else []) + lines
    write_file(os.path.join(path, "courierpop3dsizelist"), ("\n".join(data) + "\n").encode())


def gen_keywords(rnd, args, path, msgs, n_imap):
    names = list(KEYWORDS)
    if args.keywords > len(names):
        names += ["Project-%02d" % i for i in range(args.keywords - len(names))]
    names = names[:args.keywords]
    rnd.shuffle(names)
    kdir = os.path.join(path, "courierimapkeywords")
    os.makedirs(kdir, exist_ok=True)
    listed = {}
    for k, m in enumerate(msgs):
        if rnd.random() < 0.35 or (args.keywords > 26 and k < 3):
            n = len(names) if (args.keywords > 26 and k < 3) else rnd.randint(1, 3)
            listed[m.base] = sorted(rnd.sample(range(len(names)), min(n, len(names))))
    lines = names + [""]
    for m in msgs:
        if m.base in listed:
            lines.append("%s:%s" % (m.base, " ".join(str(i) for i in listed[m.base])))
    write_file(os.path.join(kdir, ":list"), ("\n".join(lines) + "\n").encode())
    final = {b: [names[i] for i in ix] for b, ix in listed.items()}
    # later changes: update files; the plain name wins, else the highest N
    for k, m in enumerate(msgs):
        r = rnd.random()
        if r < 0.06:
            kws = rnd.sample(names, rnd.randint(0, 2))
            write_file(os.path.join(kdir, m.base), "".join(x + "\n" for x in kws).encode())
            if rnd.random() < 0.5:     # an older numbered one the plain name beats
                write_file(os.path.join(kdir, ".%d.%s" % (rnd.randint(1, 9999), m.base)),
                           b"Stale\n")
            final[m.base] = kws
        elif r < 0.12:
            ns = sorted(rnd.sample(range(4000000, 5000000), rnd.randint(1, 3)))
            kws = None
            for n in ns:
                kws = rnd.sample(names, rnd.randint(0, 3))
                write_file(os.path.join(kdir, ".%d.%s" % (n, m.base)),
                           "".join(x + "\n" for x in kws).encode())
            final[m.base] = kws
    write_file(os.path.join(kdir, ".tmp.%d.scratch" % (T0 + 5)), b"Ignored\n")
    for m in msgs:
        m.keywords = list(dict.fromkeys(final.get(m.base, [])))


def carried_limit(msgs_by_folder):
    """Keywords a Maildir cannot carry: the 26 letters go, in :list order,
    to the names that present messages use."""
    out = {}
    for f, (names, msgs) in msgs_by_folder.items():
        used = [n for n in names if any(n in m["keywords"] for m in msgs)]
        if len(used) > 26:
            out[f] = used[26:]
    return out


def damage(args, states, record):
    dmg = record["damage"]
    inbox = states[""]
    path = inbox["path"]
    recs = {m["base"]: m for m in record["folders"][""]["messages"]}
    if args.damage in ("truncated-uiddb", "duplicate-uid"):
        # a message loses its UID: which fresh UIDs the others get is the
        # reader's rule, not a fact of the old server
        record["folders"][""]["uidnext"] = None
        for m in recs.values():
            m["fresh_uid"] = None
    if args.damage == "truncated-uiddb":
        lines = inbox["uid_lines"]
        last = lines[-1]
        cut = last[: max(2, len(last) // 2)]
        data = "\n".join([inbox["uid_header"]] + lines[:-1] + [cut])
        write_file(os.path.join(path, "courierimapuiddb"), data.encode())
        dmg.append({"file": "courierimapuiddb", "line": len(lines) + 1,
                    "code": "STATE-TRUNCATED"})
        base = last.split(" ", 1)[1].split(":")[0]
        if base in recs:
            recs[base]["uid"] = None
    elif args.damage == "duplicate-uid":
        lines = inbox["uid_lines"]
        k = len(lines) // 2 + 1
        uid0 = lines[k - 2].split(" ", 1)[0]
        base = lines[k - 1].split(" ", 1)[1].split(":")[0]
        lines[k - 1] = uid0 + " " + lines[k - 1].split(" ", 1)[1]
        write_file(os.path.join(path, "courierimapuiddb"),
                   ("\n".join([inbox["uid_header"]] + lines) + "\n").encode())
        dmg.append({"file": "courierimapuiddb", "line": k + 1, "code": "STATE-DUPLICATE-UID"})
        if base in recs:
            recs[base]["uid"] = None
    elif args.damage == "pop3-version":
        if inbox["pop3_lines"] is None:
            sys.exit("courier.py: --damage=pop3-version needs --pop3")
        write_file(os.path.join(path, "courierpop3dsizelist"),
                   ("\n".join(["/4 1 1"] + inbox["pop3_lines"]) + "\n").encode())
        dmg.append({"file": "courierpop3dsizelist", "line": 1, "code": "STATE-UNKNOWN-VERSION"})
        record["folders"][""]["pop3"] = []
    elif args.damage == "garbage":
        lines = inbox["uid_lines"]
        lines.insert(1, "this is no UID line")
        write_file(os.path.join(path, "courierimapuiddb"),
                   ("\n".join([inbox["uid_header"]] + lines) + "\n").encode())
        dmg.append({"file": "courierimapuiddb", "line": 3, "code": "STATE-BAD-LINE"})
        if inbox["pop3_lines"] is not None:
            pl = inbox["pop3_lines"]
            pl.insert(0, "\x01\x02 garbage")
            hdr = [inbox["pop3_header"]] if inbox["pop3_header"] else []
            write_file(os.path.join(path, "courierpop3dsizelist"),
                       ("\n".join(hdr + pl) + "\n").encode())
            dmg.append({"file": "courierpop3dsizelist", "line": len(hdr) + 1,
                        "code": "STATE-BAD-LINE"})
        kl = os.path.join(path, "courierimapkeywords", ":list")
        with open(kl, "ab") as f:
            f.write(b"no colon here\n")
        with open(kl, "rb") as f:
            n = f.read().count(b"\n")
        dmg.append({"file": "courierimapkeywords/:list", "line": n, "code": "STATE-BAD-LINE"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--messages", type=int, default=300, help="INBOX messages")
    ap.add_argument("--folder-messages", type=int, default=40)
    ap.add_argument("--pop3", choices=["none", "0", "1", "2", "3"], default="3")
    ap.add_argument("--qmail", action="store_true", help="qmail-pop3d: no state files")
    ap.add_argument("--keywords", type=int, default=12, help="distinct keyword names")
    ap.add_argument("--stale-info", action="store_true",
                    help="some courierimapuiddb lines keep an info part")
    ap.add_argument("--damage", choices=["none", "truncated-uiddb", "duplicate-uid",
                                         "pop3-version", "garbage"], default="none")
    args = ap.parse_args()
    if args.qmail and args.damage != "none":
        ap.error("--damage needs Courier state (not --qmail)")
    rnd = random.Random(args.seed)
    root = os.path.join(args.outdir, "Maildir")
    if os.path.exists(root):
        sys.exit("courier.py: %s exists" % root)
    record = {"kind": "qmail" if args.qmail else "courier", "seed": args.seed,
              "pop3_version": None if args.qmail or args.pop3 == "none" else int(args.pop3),
              "folders": {}, "subscriptions": [], "keywords_not_carried": {},
              "damage": []}
    states = {}
    names_by_folder = {}
    t = T0
    folders = [""] if args.qmail else [""] + FOLDERS
    for f in folders:
        n = args.messages if f == "" else args.folder_messages
        pop3 = f == "" and args.pop3 != "none"
        rec, st = gen_folder(rnd, args, root, f, n, t, pop3)
        record["folders"][f] = rec
        states[f] = st
        t += 86400
        if not args.qmail:
            with open(os.path.join(st["path"], "courierimapkeywords", ":list")) as fh:
                names_by_folder[f] = fh.read().split("\n\n")[0].split("\n")
    if not args.qmail:
        record["keywords_not_carried"] = carried_limit(
            {f: (names_by_folder[f], record["folders"][f]["messages"]) for f in folders})
        subs = ["INBOX", "INBOX.Sent", "INBOX.Lists.debian", "INBOX.Drafts"]
        write_file(os.path.join(root, "courierimapsubscribed"),
                   ("\n".join(subs) + "\n").encode())
        record["subscriptions"] = ["INBOX", "Sent", "Lists.debian", "Drafts"]
        vanished_dmg = []
        for f in folders:
            for uid, m in states[f].get("vanished", []):
                vanished_dmg.append({"folder": f, "base": m.base, "uid": uid})
        record["vanished"] = vanished_dmg
    damage(args, states, record)
    with open(os.path.join(args.outdir, "expected.json"), "w") as fh:
        json.dump(record, fh, indent=1, sort_keys=True)
        fh.write("\n")


if __name__ == "__main__":
    main()
