#!/usr/bin/env python3
"""Mailboxes as mail clients keep them, with a record of the state each
message carries.

    clients.py [--seed N] [--scale F] [--big] OUTDIR

writes, from the format facts of mailshift-formats(5) ("What mail clients
write"), Python 3 standard library only, the same bytes for the same seed:

  thunderbird/Local Folders/   Inbox Sent Trash Drafts Archives and
        Archives.sbd/2019, Archives.sbd/2020, Archives.sbd/2020.sbd/Q1, each
        with its .msf summary beside it. "From - <date>" lines; Thunderbird's
        X-Mozilla-Status (%04x), X-Mozilla-Status2 (%08x) and X-Mozilla-Keys
        (padded to 80 columns) first in every header; the header the POP3 or
        IMAP server gave below, often with a stale Status/X-Status/X-UIDL;
        "From " in bodies quoted as ">From ". Every combination of read,
        replied, marked, expunged and forwarded, with and without New,
        MDN sent, labels 1-5 (Status2 0x0E000000) and tags.
  evolution/local/             Inbox, Inbox.sbd/Lists, Sent, Drafts (mbox)
        with Evolution's .cmeta and .ev-summary beside them; X-Evolution:
        %08x-%04x[; flags=...] last in the header, Status/X-Status as
        Evolution wrote them, stale where its quick sync rewrote only
        X-Evolution. Every combination of answered, deleted, draft, flagged
        and seen, with junk, not-junk, forwarded and user flags.
  takeout/Takeout/Mail/All mail Including Spam and Trash.mbox
        Gmail Takeout: CR LF line ends, "From <id>@xxx <date>" lines,
        X-GM-THRID and X-Gmail-Labels first: Inbox or Archived, Opened or
        Unread, Starred, Important, Sent / Drafts / Trash / Spam / Chat,
        Category ..., IMAP_$Forwarded, user labels (nested with '/', quoted
        when they hold a comma or a quote, UTF-8 raw or as an RFC 2047 word),
        long values folded. --big adds a 9 MiB message.
  applemail/                   an Apple Mail export: Work.mbox/mbox,
        Work.mbox/Projects.mbox/mbox, Personal.mbox/mbox, each bundle with
        Info.plist and table_of_contents.

expected.json:
  {"seed": N,
   "mailboxes": {PATH: {"client": "thunderbird"|"evolution"|"gmail"|"apple",
                        "folder": "Archives/2019",     # the tree's folder
                        "messages": [MESSAGE, ...]}},  # in file order
   "not_mailboxes": [PATH, ...]}                       # .msf, .cmeta, plists
  MESSAGE: {"message_id", "flags": "FPRS" (Maildir letters, sorted),
            "keywords": [...],        # in the order the headers give them
            "old": bool,              # seen by a reader: cur/
            "expunged": bool,         # Thunderbird 0x0008
            Gmail only: "labels": [user labels],
            "by_mode": {"folders"|"keywords"|"none":
                        {"folders": [...], "keywords": [...]}}}
  Gmail folders: "" is INBOX; Trash and Spam (as "Junk") stand alone;
  without a folder label the message goes to "Archive".
The record follows the precedence the format notes give: X-Gmail-Labels,
else X-Evolution, else X-Mozilla-Status, else Status/X-Status/X-Keywords;
$Forwarded is both the flag P and the keyword.
"""
import argparse
import base64
import json
import os
import random
import time

WORDS = ("mail client folder thunderbird evolution gmail takeout label tag "
         "keyword archive project receipt family travel invoice").split()
T0 = 1420070400                       # 2015-01-01


def ctime(t):
    tm = time.gmtime(t)
    return time.strftime("%a %b ", tm) + "%2d" % tm.tm_mday + time.strftime(" %H:%M:%S %Y", tm)


def rfc2822(t):
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))


def letters(flags):
    return "".join(sorted(set(flags)))


class Builder:
    def __init__(self, rnd):
        self.rnd = rnd
        self.n = 0

    def message(self, tag, t):
        """Header lines (a list, no EOL) and body lines of one message."""
        self.n += 1
        rnd = self.rnd
        mid = "<%s.%d.%d@clients.example>" % (tag, self.n, t)
        hdr = ["Return-Path: <user%d@example.org>" % (self.n % 17),
               "Received: from mx.example.org by mail.example.com; %s" % rfc2822(t),
               "Message-ID: " + mid,
               "Date: " + rfc2822(t),
               "From: User %d <user%d@example.org>" % (self.n % 17, self.n % 17),
               "To: alice@example.com",
               "Subject: %s %d" % (" ".join(rnd.choice(WORDS) for _ in range(3)), self.n),
               "MIME-Version: 1.0",
               "Content-Type: text/plain; charset=utf-8"]
        body = [" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(2, 12)))
                for _ in range(rnd.randint(1, 25))]
        if self.n % 23 == 0:
            body.insert(len(body) // 2, "From the desk of the editor, quoted by the client")
        return mid, hdr, body


def mbox_write(path, msgs, eol=b"\n", quote=True):
    """msgs: (from_line, header lines, body lines); mboxo-style quoting of
    'From ' lines as clients do."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        for from_line, hdr, body in msgs:
            f.write(from_line.encode() + eol)
            for h in hdr:
                f.write(h.encode("utf-8") + eol)
            f.write(eol)
            for line in body:
                if quote and line.startswith("From "):
                    line = ">" + line
                f.write(line.encode("utf-8") + eol)
            f.write(eol)


def msf(path, rnd):
    # Thunderbird's summary (a Mork database): not a mailbox
    with open(path, "wb") as f:
        f.write(b"// <!-- <mdb:mork:z v=\"1.4\"/> -->\n< <(a=c)> // (f=iso-8859-1)\n"
                b"  (B8=ns:msg:db:row:scope:msgs:all)(80=ns:msg:db:row:scope:dbfolderinfo:all)>\n")
        f.write(("@$${%d{@\n" % rnd.randint(1, 999)).encode())


# ---- Thunderbird -------------------------------------------------------------------

MOZ_FLAGS = [(0x0001, "S"), (0x0002, "R"), (0x0004, "F"), (0x0008, "T"), (0x1000, "P")]
TB_TAGS = ["$label1", "$label2", "$label3", "work", "todo", "later", "$Forwarded"]


def thunderbird(rnd, b, out, rec, count):
    root = os.path.join(out, "thunderbird", "Local Folders")
    folders = [("Inbox", "Inbox"), ("Sent", "Sent"), ("Trash", "Trash"), ("Drafts", "Drafts"),
               ("Archives", "Archives"), ("Archives.sbd/2019", "Archives/2019"),
               ("Archives.sbd/2020", "Archives/2020"),
               ("Archives.sbd/2020.sbd/Q1", "Archives/2020/Q1")]
    k = 0
    per = max(1, count // len(folders))
    for rel, folder in folders:
        msgs, recs = [], []
        for _ in range(per):
            t = T0 + k * 3600
            mid, hdr, body = b.message("tb", t)
            combo = k % 32
            bits = 0
            flags = ""
            for i, (bit, letter) in enumerate(MOZ_FLAGS):
                if combo & (1 << i):
                    bits |= bit
                    flags += letter
            # bits that are no flags: HasRe, Offline, Watched, priority
            bits |= rnd.choice([0, 0, 0x0010, 0x0080, 0x0100, 0x4000, 0x0200])
            variant = (k // 32) % 8
            s2 = 0
            kws = []
            if variant == 1:
                s2 |= 0x00010000                     # New
            elif variant == 2:
                s2 |= 0x00800000                     # MDN sent
                kws.append("$MDNSent")
            elif variant in (3, 4):
                label = rnd.randint(1, 5)
                s2 |= label << 25
                kws.append("$label%d" % label)
            elif variant == 5:
                s2 |= 0x10000000 | 0x00040000        # attachment, ignored thread
            tags = []
            if rnd.random() < 0.35:
                tags = rnd.sample(TB_TAGS, rnd.randint(1, 3))
            for tg in tags:
                if tg not in kws:
                    kws.append(tg)
            if "$Forwarded" in kws and "P" not in flags:
                flags += "P"
            if "P" in flags and "$Forwarded" not in kws:
                kws.append("$Forwarded")
            keys = " ".join(tags)
            keys = keys + " " * max(0, 80 - len(keys))
            top = ["X-Mozilla-Status: %04x" % bits, "X-Mozilla-Status2: %08x" % s2,
                   "X-Mozilla-Keys: " + keys]
            # the server's header below: stale Status from the POP3/IMAP server
            stale = rnd.choice([[], ["Status: O"], ["Status: RO"], ["Status: RO", "X-Status: AF"],
                                ["X-UIDL: 0000%04x%s" % (k, "abcd")]])
            msgs.append(("From - " + ctime(t), top + hdr + stale, body))
            new = bool(s2 & 0x00010000)
            recs.append({"message_id": mid, "flags": letters(flags), "keywords": kws,
                         "old": not new or bool(flags), "expunged": bool(bits & 0x0008)})
            k += 1
        path = os.path.join(root, rel)
        mbox_write(path, msgs)
        msf(path + ".msf", rnd)
        key = os.path.relpath(path, out)
        rec["mailboxes"][key] = {"client": "thunderbird", "folder": folder, "messages": recs}
        rec["not_mailboxes"].append(key + ".msf")


# ---- Evolution ---------------------------------------------------------------------

EVO_BITS = [(0x01, "R"), (0x02, "T"), (0x04, "D"), (0x08, "F"), (0x10, "S")]
EVO_USER = ["$Labelimportant", "$Labelwork", "$Labelpersonal", "$Labeltodo", "$Labellater",
            "receipts"]


def evolution(rnd, b, out, rec, count):
    root = os.path.join(out, "evolution", "local")
    folders = [("Inbox", "Inbox"), ("Inbox.sbd/Lists", "Inbox/Lists"), ("Sent", "Sent"),
               ("Drafts", "Drafts")]
    per = max(1, count // len(folders))
    k = 0
    for rel, folder in folders:
        msgs, recs = [], []
        for _ in range(per):
            t = T0 + 86400 * 400 + k * 1800
            mid, hdr, body = b.message("evo", t)
            combo = k % 32
            f = 0
            flags = ""
            for i, (bit, letter) in enumerate(EVO_BITS):
                if combo & (1 << i):
                    f |= bit
                    flags += letter
            extra = (k // 32) % 6
            kws = []
            if extra == 1:
                f |= 0x80
                kws.append("$Junk")
            elif extra == 2:
                f |= 0x200
                kws.append("$NotJunk")
            elif extra == 3:
                f |= 0x400
                flags += "P"
            elif extra == 4:
                f |= 0x20 | 0x40 | 0x100             # attachments, answered-all, secure
            user = rnd.sample(EVO_USER, rnd.randint(1, 2)) if rnd.random() < 0.3 else []
            kws += user
            if "P" in flags:
                kws.append("$Forwarded")
            xev = "X-Evolution: %08x-%04x" % (k + 1, f)
            if user:
                xev += "; flags=" + ",".join(user)
            # Evolution's Status/X-Status; its quick sync leaves them stale
            seen = bool(f & 0x10)
            if rnd.random() < 0.15:
                seen = not seen
            st = ["Status: " + ("RO" if seen else "O")]
            xs = ("A" if f & 0x01 else "") + ("D" if f & 0x02 else "") + ("F" if f & 0x08 else "")
            if xs:
                st.append("X-Status: " + xs)
            msgs.append(("From user%d@example.org %s" % (k % 17, ctime(t)), hdr + st + [xev], body))
            recs.append({"message_id": mid, "flags": letters(flags), "keywords": kws,
                         "old": True, "expunged": False})
            k += 1
        path = os.path.join(root, rel)
        mbox_write(path, msgs)
        for ext in (".cmeta", ".ev-summary"):
            with open(path + ext, "wb") as fh:
                fh.write(b"\x00\x00\x00\x01" + bytes(rnd.randrange(256) for _ in range(64)))
            rec["not_mailboxes"].append(os.path.relpath(path + ext, out))
        rec["mailboxes"][os.path.relpath(path, out)] = {
            "client": "evolution", "folder": folder, "messages": recs}


# ---- Gmail Takeout -----------------------------------------------------------------

SPECIAL = [None, "Sent", "Drafts", "Trash", "Spam", "Chat"]
CATEGORIES = [None, "Category Personal", "Category Social", "Category Promotions",
              "Category Updates", "Category Forums"]
USER_LABELS = ["Work", "Work/Projects", "Family", "Receipts, 2019", 'Say "hi"',
               "Pers\u00f6nlich"]


def label_keyword(label):
    out = []
    for byte in label.encode("utf-8"):
        ok = 0x20 < byte < 0x7f and chr(byte) not in '(){%*"\\]'
        out.append(chr(byte) if ok else "_")
    s = "".join(out)
    return "_" + s[1:] if s.startswith("\\") else s


def csv_label(label):
    if "," in label or '"' in label:
        return '"' + label.replace('"', '""') + '"'
    return label


def encoded_word(label):
    raw = label.encode("utf-8")
    q = "".join(chr(c) if (0x21 <= c < 0x7f and chr(c) not in '=?_"') else "=%02X" % c
                for c in raw)
    return "=?UTF-8?Q?" + q + "?="


def gmail_expect(labels_in):
    """flags, user labels and, per mode, folders and keywords, by the
    documented rule (keywords in the order the labels give them)."""
    flags = ""
    sysl = set()
    user = []
    by_mode = {}
    for mode in ("folders", "keywords", "none"):
        kws = []

        def add(k):
            if k == "$Forwarded" and "P" not in flags_box[0]:
                flags_box[0] += "P"
            if k.lower() not in [x.lower() for x in kws]:
                kws.append(k)
        flags_box = [""]
        for lab in labels_in:
            low = lab.lower()
            if low in ("inbox", "sent", "drafts", "draft", "trash", "spam", "chat", "chats",
                       "unread"):
                sysl.add({"draft": "drafts", "chats": "chat"}.get(low, low))
            elif low == "starred":
                flags_box[0] += "F"
            elif low == "important":
                add("$Important")
            elif low in ("opened", "archived"):
                pass
            elif low.startswith("category ") and len(lab) > 9:
                if mode == "keywords":
                    add(label_keyword(lab))
            elif lab.startswith("IMAP_") and len(lab) > 5:
                add(lab[5:])
            else:
                if mode == "folders":
                    user.append(lab)
                if mode == "keywords":
                    add(label_keyword(lab))
        if "unread" not in sysl:
            flags_box[0] += "S"
        if "drafts" in sysl:
            flags_box[0] += "D"
        if "P" in flags_box[0]:
            add("$Forwarded")
        flags = flags_box[0]
        if "trash" in sysl:
            folders = ["Trash"]
        elif "spam" in sysl:
            folders = ["Junk"]
        else:
            folders = []
            for name, f in (("inbox", ""), ("sent", "Sent"), ("drafts", "Drafts"),
                            ("chat", "Chats")):
                if name in sysl:
                    folders.append(f)
            if mode == "folders":
                folders += [u for u in user if u not in folders]
            if not folders:
                folders = ["Archive"]
        by_mode[mode] = {"folders": folders, "keywords": kws}
    return letters(flags), user, by_mode


def gmail(rnd, b, out, rec, count, big):
    path = os.path.join(out, "takeout", "Takeout", "Mail", "All mail Including Spam and Trash.mbox")
    msgs, recs = [], []
    for k in range(count):
        t = T0 + 86400 * 800 + k * 900
        mid, hdr, body = b.message("gm", t)
        labels = []
        labels.append("Inbox" if k % 2 == 0 else "Archived")
        labels.append("Unread" if (k // 2) % 2 else "Opened")
        if (k // 4) % 2:
            labels.append("Starred")
        if (k // 8) % 2:
            labels.append("Important")
        sp = SPECIAL[(k // 16) % len(SPECIAL)]
        if sp:
            labels.append(sp)
        cat = CATEGORIES[(k // 96) % len(CATEGORIES)]
        if cat:
            labels.append(cat)
        if k % 13 == 5:
            labels.append("IMAP_$Forwarded")
        if k % 17 == 3:
            labels.append("IMAP_$NotJunk")
        if rnd.random() < 0.4:
            labels += rnd.sample(USER_LABELS, rnd.randint(1, 3))
        rnd.shuffle(labels)
        # Gmail's "Unread"/"Opened" label order in Takeout is not fixed
        written = []
        for lab in labels:
            if lab == "Pers\u00f6nlich" and k % 2:
                written.append(encoded_word(lab))
            else:
                written.append(csv_label(lab))
        # folded between two labels when the line grows long
        lines = ["X-Gmail-Labels: "]
        for i, w in enumerate(written):
            piece = w + ("," if i + 1 < len(written) else "")
            if len(lines[-1]) + len(piece) > 76 and not lines[-1].endswith(": "):
                lines.append(" ")
            lines[-1] += piece
        top = ["X-GM-THRID: %d" % (1500000000000000000 + k // 3)] + lines
        if k % 29 == 0:
            # a message Gmail received from an mbox-era server: its Status is stale
            hdr.append("Status: RO")
        if big and k == count // 2:
            blob = base64.encodebytes(bytes(rnd.randrange(256) for _ in range(7 * 1024 * 1024)))
            body = body + blob.decode().splitlines()
        msgs.append(("From %d@xxx %s" % (1500000000000000000 + k, time.strftime(
            "%a %b %d %H:%M:%S +0000 %Y", time.gmtime(t))), top + hdr, body))
        flags, user, by_mode = gmail_expect(labels)
        kws_all = by_mode["folders"]["keywords"]
        recs.append({"message_id": mid, "flags": flags, "keywords": kws_all, "old": True,
                     "expunged": False, "labels": user, "by_mode": by_mode})
    mbox_write(path, msgs, eol=b"\r\n")
    rec["mailboxes"][os.path.relpath(path, out)] = {
        "client": "gmail", "folder": "", "messages": recs}


# ---- Apple Mail --------------------------------------------------------------------

def applemail(rnd, b, out, rec, count):
    root = os.path.join(out, "applemail")
    bundles = [("Work.mbox", "Work"), ("Work.mbox/Projects.mbox", "Work/Projects"),
               ("Personal.mbox", "Personal")]
    per = max(1, count // len(bundles))
    k = 0
    for rel, folder in bundles:
        msgs, recs = [], []
        for _ in range(per):
            t = T0 + 86400 * 1200 + k * 600
            mid, hdr, body = b.message("apple", t)
            msgs.append(("From user%d@example.org %s" % (k % 17, ctime(t)), hdr, body))
            recs.append({"message_id": mid, "flags": "", "keywords": [], "old": False,
                         "expunged": False})
            k += 1
        d = os.path.join(root, rel)
        mbox_write(os.path.join(d, "mbox"), msgs)
        with open(os.path.join(d, "Info.plist"), "w") as fh:
            fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0">\n<dict>\n'
                     '\t<key>LocalizedName</key>\n\t<string>%s</string>\n</dict>\n</plist>\n'
                     % folder.split("/")[-1])
        with open(os.path.join(d, "table_of_contents"), "wb") as fh:
            fh.write(bytes(rnd.randrange(256) for _ in range(96)))
        rec["mailboxes"][os.path.relpath(os.path.join(d, "mbox"), out)] = {
            "client": "apple", "folder": folder, "messages": recs}
        rec["not_mailboxes"] += [os.path.relpath(os.path.join(d, n), out)
                                 for n in ("Info.plist", "table_of_contents")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0,
                    help="message counts times this (1: 2000 Thunderbird, 1000 Evolution, "
                         "2000 Gmail, 210 Apple Mail)")
    ap.add_argument("--big", action="store_true", help="a 9 MiB message in the Takeout")
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    b = Builder(rnd)
    rec = {"seed": args.seed, "mailboxes": {}, "not_mailboxes": []}
    os.makedirs(args.outdir, exist_ok=True)
    thunderbird(rnd, b, args.outdir, rec, int(2000 * args.scale))
    evolution(rnd, b, args.outdir, rec, int(1000 * args.scale))
    gmail(rnd, b, args.outdir, rec, int(2000 * args.scale), args.big)
    applemail(rnd, b, args.outdir, rec, int(210 * args.scale))
    with open(os.path.join(args.outdir, "expected.json"), "w") as fh:
        json.dump(rec, fh, indent=1, sort_keys=True, ensure_ascii=False)
        fh.write("\n")


if __name__ == "__main__":
    main()
