#!/usr/bin/env python3
"""t/gen/realmail.py: mboxes written the way real programs write them, each
with a record of what was written (the differential oracle, t/1070, t/1075).

    realmail.py OUTDIR SEED [COUNT]      one mbox per style in OUTDIR
    realmail.py --styles                 list the styles

For every style S it writes OUTDIR/S.mbox and OUTDIR/S.record (JSON lines).
The record's first line describes the file:
    {"style": S, "messages": N, "python_split": bool, "uidstate": bool}
python_split says whether Python's mailbox.mbox, which splits at every line
starting "From " and does not know CRLF, finds these exact messages. Each
further line is one message, in mbox order:
    {"index": i, "msgid": "<...>" or null,
     "kept": base64 of the message as the program meant it (From_ line,
             mbox quoting and separator removed: what a Maildir file holds
             when the mbox metadata headers are kept),
     "stripped": base64 of the same without the seven mbox metadata headers
             of SPEC §2.10 (Status, X-Status, X-Keywords, X-UID, X-IMAP,
             X-IMAPbase, Content-Length),
     "subdir": "new" or "cur", "flags": Maildir flag letters (DFPRST),
     "keywords": [names], "uid": the X-UID kept in dovecot-uidlist or null,
     "mtime": the envelope time, "python_flags": bool}
The flags, subdir and UIDs are what mailshift's documented mapping gives
for the state the generator chose (SPEC §2.10, mailshift-formats(5) "UID
state"), computed from that state, not by reading the headers back.

Styles (SPEC §2.2, §2.3, §2.8, §2.9): mutt (Status/X-Status, Content-Length,
Lines, mboxcl quoting), uw (pseudo message, X-IMAP, X-UID, X-Keywords, zone
after the year), dovecot (X-IMAPbase, two spaces after the sender,
Content-Length, unquoted From lines: mboxcl2), thunderbird ("From - ",
X-Mozilla-Status), takeout (Gmail: CRLF, zone before the year,
X-Gmail-Labels, mboxrd), qmail (Return-Path + Delivered-To, GMT, mboxrd),
procmail (formail's From_ line, mboxo), mboxcl2 (SVR4: Content-Length,
unquoted From_ lines that only Content-Length keeps in the body, a message
without a final newline), misc (CRLF and LF messages mixed, NUL bytes,
8-bit headers, no final newline at the end).

Python 3 standard library only. Other tests may import it (sys.path) and
add styles: a style is a function (gen, count) -> list of Message.
"""
import base64
import json
import os
import random
import sys
import time

META = ("status", "x-status", "x-keywords", "x-uid", "x-imap", "x-imapbase", "content-length")
WORDS = ("the a mailbox migration server spool delivery please find attached report "
         "meeting tomorrow thanks regards cheers patch review release notes build "
         "test failure fixed question answer list archive weekly update").split()
NAMES = ["Alice Martin", "Bob Chen", "Carol Díaz", "Dieter Müller", "Émile Zola",
         "Frank O'Neil", "Grace Hopper", "Hà Nguyễn"]
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
WDAYS = "Mon Tue Wed Thu Fri Sat Sun".split()
PSEUDO_BODY = (b"This text is part of the internal format of your mail folder, and is not\n"
               b"a real message.  It is created automatically by the mail system software.\n"
               b"If deleted, important folder data will be lost, and it will be re-created\n"
               b"with the data reset to initial values.\n")


class Message:
    """One message: header lines (bytes, without line ends), body bytes
    (LF line ends; converted when written), and the state the program had."""

    def __init__(self):
        self.headers = []       # (name, value) bytes
        self.meta = []          # metadata headers (name, value), appended at the end
        self.body = b""
        self.from_line = b""
        self.nl = b"\n"
        self.final_newline = True
        self.flags = ""         # Maildir letters the mapping must give
        self.old = False        # Status O or R
        self.keywords = []
        self.uid = None
        self.mtime = 0
        self.msgid = None
        self.python_flags = True
        self.cl = False         # write Content-Length (and Lines) for this message

    def header_bytes(self, with_meta=True, cl=None):
        nl = self.nl
        out = []
        for n, v in self.headers:
            out.append(n + b": " + v + nl)
        if with_meta:
            for n, v in self.meta:
                out.append(n + b": " + v + nl)
        if cl is not None:
            out.append(b"Content-Length: %d" % cl + nl)
            out.append(b"Lines: %d" % self.body_bytes().count(b"\n") + nl)
        return b"".join(out) + nl

    def body_bytes(self):
        b = self.body if self.nl == b"\n" else self.body.replace(b"\n", b"\r\n")
        if not self.final_newline and b.endswith(self.nl):
            b = b[:-len(self.nl)]
        return b


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.seed = seed
        self.n = 0
        self.t = 1104537600 + self.r.randrange(10 ** 8)    # 2005 onwards

    def word(self):
        return self.r.choice(WORDS)

    def sentence(self, lo=3, hi=14):
        return " ".join(self.word() for _ in range(self.r.randint(lo, hi)))

    def addr(self):
        name = self.r.choice(NAMES)
        user = name.split()[0].lower().encode("ascii", "replace").decode().replace("?", "x")
        return name, "%s@%s" % (user, self.r.choice(["example.org", "example.net", "mail.example.com"]))

    def next_time(self):
        self.t += self.r.randint(30, 86400)
        return self.t

    def rfc2822(self, t, zone_min=0):
        tm = time.gmtime(t + zone_min * 60)
        z = "%+03d%02d" % (zone_min // 60 if zone_min >= 0 else -((-zone_min) // 60), abs(zone_min) % 60)
        return "%s, %d %s %d %02d:%02d:%02d %s" % (WDAYS[tm.tm_wday], tm.tm_mday, MONTHS[tm.tm_mon - 1],
                                                   tm.tm_year, tm.tm_hour, tm.tm_min, tm.tm_sec, z)

    def body_text(self, quoted_from="none"):
        """A body (LF). quoted_from: "none" (no line starts with From or
        >From), "from" (lines starting "From " that are no From_ lines),
        "fromline" (a line that is a valid From_ line, as in a forwarded mbox),
        "gtfrom" (lines starting ">From " as the author wrote them)."""
        r = self.r
        lines = []
        for _ in range(r.randint(0, 40)):
            k = r.random()
            if k < 0.1:
                lines.append("")
            elif k < 0.15:
                lines.append("> " + self.sentence())
            else:
                lines.append(self.sentence())
        if quoted_from in ("from", "fromline", "gtfrom") and lines:
            pos = r.randrange(len(lines) + 1)
            if quoted_from == "from":
                ins = ["From what I remember, " + self.sentence(), "From here on it works"]
            elif quoted_from == "fromline":
                ins = ["", "From someone@example.org Mon Jan  5 10:00:00 2004", "Subject: forwarded", ""]
            else:
                ins = [">From the archive: " + self.sentence(), ">>From deeper"]
            lines[pos:pos] = ins
        if r.random() < 0.1:
            lines.append("x" * r.randint(1000, 20000))   # one-line HTML and the like
        text = "".join(l + "\n" for l in lines).encode()
        if r.random() < 0.15:
            text += self.attachment()
        return text

    def attachment(self):
        data = bytes(self.r.getrandbits(8) for _ in range(self.r.randint(100, 3000)))
        b64 = base64.encodebytes(data)
        return (b"\n--b1\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
                + b64 + b"--b1--\n")

    def common(self, m, t, zone_min=0, eight_bit=False):
        self.n += 1
        name, a = self.addr()
        m.msgid = "<%d.%d.%d@gen.example>" % (self.seed, self.n, self.r.randrange(10 ** 6))
        disp = name.encode("utf-8") if eight_bit else name.encode("ascii", "replace")
        m.headers += [
            (b"Received", b"from mx.example.net (mx.example.net [192.0.2.7])\n\tby mail.example.org; "
             + self.rfc2822(t - 5, zone_min).encode()),
            (b"Message-ID", m.msgid.encode()),
            (b"Date", self.rfc2822(t - 60, zone_min).encode()),
            (b"From", b'"' + disp + b'" <' + a.encode() + b">"),
            (b"To", b"list@example.org"),
            (b"Subject", ("Re: " if self.r.random() < 0.3 else "").encode() + self.sentence(2, 7).encode()),
        ]
        if self.r.random() < 0.2:
            m.headers.append((b"Subject-Encoded", b"=?UTF-8?Q?Caf=C3=A9_au_lait?="))
        m.mtime = t

    def state(self, m, letters="RSFDTP", kw=()):
        """Choose a state: returns (seen, replied, flagged, draft, trashed, passed, old, keywords)."""
        r = self.r
        st = {c: (c in letters and r.random() < 0.3) for c in "SRFDTP"}
        old = st["S"] or r.random() < 0.3
        keywords = [k for k in kw if r.random() < 0.25]
        flags = "".join(c for c in "DFPRST" if st[c])
        m.flags = flags
        m.keywords = keywords
        m.old = old
        return st, old, keywords


def asctime(t, zero_pad=False, zone=None, zone_before=False, two_spaces=False, sender="x"):
    tm = time.gmtime(t)
    day = "%02d" % tm.tm_mday if zero_pad else "%2d" % tm.tm_mday
    hms = "%02d:%02d:%02d" % (tm.tm_hour, tm.tm_min, tm.tm_sec)
    sep = "  " if two_spaces else " "
    if zone and zone_before:
        d = "%s %s %s %s %s %d" % (WDAYS[tm.tm_wday], MONTHS[tm.tm_mon - 1], day, hms, zone, tm.tm_year)
    elif zone:
        d = "%s %s %s %s %d %s" % (WDAYS[tm.tm_wday], MONTHS[tm.tm_mon - 1], day, hms, tm.tm_year, zone)
    else:
        d = "%s %s %s %s %d" % (WDAYS[tm.tm_wday], MONTHS[tm.tm_mon - 1], day, hms, tm.tm_year)
    return ("From %s%s%s" % (sender, sep, d)).encode()


def status_meta(m, st, old, xstatus_order="DFAT", with_empty_xstatus=False):
    s = ("R" if st["S"] else "") + ("O" if old else "")
    xs = ""
    for c in xstatus_order:
        if {"D": st["T"], "F": st["F"], "A": st["R"], "T": st["D"]}[c]:
            xs += c
    if s:
        m.meta.append((b"Status", s.encode()))
    if xs or with_empty_xstatus:
        m.meta.append((b"X-Status", xs.encode()))


# ---- styles -------------------------------------------------------------------

def style_mutt(g, count):
    out = []
    for _ in range(count):
        m = Message()
        t = g.next_time()
        g.common(m, t, zone_min=60)
        st, old, _ = g.state(m, letters="SRF")
        m.body = g.body_text(g.r.choice(["none", "from"]))
        status_meta(m, st, old, xstatus_order="AF")
        m.cl = True
        m.from_line = asctime(t, sender=g.addr()[1])
        m.mtime = t
        out.append(m)
    return out


def style_uw(g, count):
    out = []
    kw = ["$Junk", "Work", "todo", "$Forwarded"]
    validity = 1100000000 + g.r.randrange(10 ** 8)
    uid = g.r.randint(1, 50)
    pseudo = Message()
    pseudo.pseudo = True
    t0 = g.t
    pseudo.from_line = asctime(t0, sender="MAILER-DAEMON")
    pseudo.headers = [(b"Date", g.rfc2822(t0).encode()),
                      (b"From", b"Mail System Internal Data <MAILER-DAEMON@uw.example>"),
                      (b"Subject", b"DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA"),
                      (b"Message-ID", b"<%d@uw.example>" % t0)]
    pseudo.meta = [(b"X-IMAP", b"%010d %010d Work todo $Junk" % (validity, uid + count * 2)),
                   (b"Status", b"RO")]
    pseudo.body = PSEUDO_BODY
    out.append(pseudo)
    for _ in range(count):
        m = Message()
        t = g.next_time()
        zone = g.r.choice([-480, 0, 60, 330])
        g.common(m, t, zone_min=zone)
        st, old, keywords = g.state(m, kw=kw)
        if st["P"] and "$Forwarded" not in keywords:
            keywords.append("$Forwarded")
        if "$Forwarded" in keywords:
            st["P"] = True
        m.flags = "".join(c for c in "DFPRST" if st[c])
        m.keywords = [k for k in keywords if k != "$Forwarded"]
        m.body = g.body_text(g.r.choice(["none", "from"]))
        status_meta(m, st, old, with_empty_xstatus=True)
        m.meta.append((b"X-Keywords", (" ".join(keywords)).encode().ljust(40)))
        uid += g.r.randint(1, 2)
        m.meta.append((b"X-UID", b"%d" % uid))
        m.uid = uid
        z = "%+03d%02d" % (zone // 60 if zone >= 0 else -((-zone) // 60), abs(zone) % 60)
        m.from_line = asctime(t + zone * 60, zone=z, sender=g.addr()[1])
        m.mtime = t
        m.python_flags = "D" not in m.flags and not m.keywords and "P" not in m.flags
        out.append(m)
    return out


def style_dovecot(g, count):
    out = []
    kw = ["$Junk", "$NonJunk", "urgent"]
    validity = 1200000000 + g.r.randrange(10 ** 8)
    uid = 0
    for i in range(count):
        m = Message()
        t = g.next_time()
        g.common(m, t)
        st, old, keywords = g.state(m, letters="SRFDT", kw=kw)
        m.body = g.body_text("from" if i == 0 else g.r.choice(["none", "from", "from", "fromline", "gtfrom"]))
        if i == 0:
            m.meta.append((b"X-IMAPbase", b"%d %010d %s" % (validity, count + 5, " ".join(kw).encode())))
        status_meta(m, st, old)
        if keywords:
            m.meta.append((b"X-Keywords", " ".join(keywords).encode()))
        uid += 1
        m.meta.append((b"X-UID", b"%d" % uid))
        m.uid = uid
        m.cl = True
        m.from_line = asctime(t, zero_pad=True, two_spaces=True, sender=g.addr()[1])
        m.python_flags = "D" not in m.flags and not keywords
        out.append(m)
    return out


def style_thunderbird(g, count):
    out = []
    for _ in range(count):
        m = Message()
        t = g.next_time()
        g.common(m, t, zone_min=-300, eight_bit=True)
        st, old, _ = g.state(m, letters="SRFTP")
        bits = (st["S"] and 0x1) | (st["R"] and 0x2) | (st["F"] and 0x4) | (st["T"] and 0x8) | (st["P"] and 0x1000)
        # without Thunderbird's New bit (X-Mozilla-Status2 0x00010000) a
        # message is old: it goes to cur/ like Status: O
        m.old = True
        m.headers.append((b"X-Mozilla-Status", b"%04x" % bits))
        m.headers.append((b"X-Mozilla-Status2", b"00000000"))
        m.headers.append((b"X-Mozilla-Keys", b" " * 20))
        m.body = g.body_text(g.r.choice(["none", "from"]))
        m.from_line = asctime(t, zero_pad=True, sender="-")
        m.python_flags = False      # Python's mailbox does not read X-Mozilla-Status
        out.append(m)
    return out


def style_takeout(g, count):
    out = []
    for _ in range(count):
        m = Message()
        t = g.next_time()
        m.headers.append((b"X-GM-THRID", b"%d" % g.r.randrange(10 ** 18)))
        # labels that keep the message in INBOX (where else labels put a
        # message is t/6050's): Opened is seen, Important a keyword
        labels = g.r.choice([b"Inbox,Opened", b"Inbox,Unread,Important", b"Unread,Inbox"])
        m.headers.append((b"X-Gmail-Labels", labels))
        m.old = True
        m.flags = "" if b"Unread" in labels else "S"
        m.keywords = ["$Important"] if b"Important" in labels else []
        g.common(m, t)
        m.body = g.body_text(g.r.choice(["none", "from", "gtfrom"]))
        m.nl = b"\r\n"
        m.from_line = asctime(t, zero_pad=True, zone="+0000", zone_before=True,
                              sender="%d@xxx" % g.r.randrange(10 ** 18))
        out.append(m)
    return out


def style_qmail(g, count):
    out = []
    for _ in range(count):
        m = Message()
        t = g.next_time()
        _, a = g.addr()
        m.headers.append((b"Return-Path", b"<" + a.encode() + b">"))
        m.headers.append((b"Delivered-To", b"alias-list@example.org"))
        m.headers.append((b"Received", b"(qmail %d invoked by uid 89); %s"
                          % (g.r.randrange(30000), g.rfc2822(t, 0).replace("+0000", "-0000").encode())))
        g.common(m, t)
        m.body = g.body_text(g.r.choice(["none", "from", "gtfrom"]))
        m.from_line = asctime(t, zero_pad=True, sender=a)
        out.append(m)
    return out


def style_procmail(g, count):
    out = []
    for _ in range(count):
        m = Message()
        t = g.next_time()
        g.common(m, t, zone_min=120)
        m.headers.append((b"X-Filtered-By", b"procmail"))
        m.body = g.body_text(g.r.choice(["none", "from"]))
        m.from_line = asctime(t, two_spaces=True, sender=g.addr()[1])
        out.append(m)
    return out


def style_mboxcl2(g, count):
    out = []
    for i in range(count):
        m = Message()
        t = g.next_time()
        g.common(m, t)
        st, old, _ = g.state(m, letters="SRF")
        m.body = g.body_text("from" if i == 0 else g.r.choice(["none", "from", "fromline", "gtfrom"]))
        if g.r.random() < 0.1:
            m.final_newline = False
            m.body += b"no newline after this\n"
        status_meta(m, st, old)
        m.cl = True
        m.from_line = asctime(t, sender=g.addr()[1])
        out.append(m)
    return out


def style_misc(g, count):
    out = []
    for i in range(count):
        m = Message()
        t = g.next_time()
        g.common(m, t, eight_bit=True)
        m.headers.append((b"X-Eight-Bit", b"r\xe9sum\xe9 na\xefve \xff"))
        st, old, _ = g.state(m, letters="SRF")
        m.body = g.body_text(g.r.choice(["none", "from", "gtfrom"]))
        if g.r.random() < 0.2:
            m.body += b"binary\x00zero\x00bytes\n"
        if g.r.random() < 0.3:
            m.nl = b"\r\n"
        status_meta(m, st, old)
        m.from_line = asctime(t, sender=g.addr()[1])
        out.append(m)
    if out:
        out[-1].final_newline = False
        out[-1].body += b"the last line, without its newline\n"
    return out


STYLES = {
    # name: (function, quoting, python_split)
    "mutt": (style_mutt, "mboxo", True),
    "uw": (style_uw, "mboxo", True),
    "dovecot": (style_dovecot, "none", False),
    "thunderbird": (style_thunderbird, "mboxo", True),
    "takeout": (style_takeout, "mboxrd", False),
    "qmail": (style_qmail, "mboxrd", True),
    "procmail": (style_procmail, "mboxo", True),
    "mboxcl2": (style_mboxcl2, "none", False),
    "misc": (style_misc, "mboxrd", False),
}


def quote(body, how):
    """Quote body lines as the writer does (SPEC §2.3)."""
    if how == "none":
        return body
    out = []
    for line in body.split(b"\n"):
        s = line.lstrip(b">")
        if how == "mboxrd" and s.startswith(b"From "):
            line = b">" + line
        elif how == "mboxo" and line.startswith(b"From "):
            line = b">" + line
        out.append(line)
    return b"\n".join(out)


def strip_meta(header):
    """The header block without the seven metadata fields (folded lines too)."""
    out, skip = [], False
    for line in header.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and not line.strip(b"\r\n") == b"":
            if not skip:
                out.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower().decode("latin-1")
        skip = b":" in line and name in META
        if not skip:
            out.append(line)
    return b"".join(out)


def write_style(outdir, name, seed, count):
    fn, how, python_split = STYLES[name]
    g = Gen(seed * 1000 + sorted(STYLES).index(name))
    msgs = fn(g, count)
    records = []
    parts = []
    has_cl = any(m.cl for m in msgs)
    for m in msgs:
        nl = m.nl
        # bodies as the writer stores them: the writer's quoting, then line ends
        body = m.body
        if how == "mboxo":
            # mboxo writers cannot store an original ">From " line: do not make one
            body = b"\n".join(b"  " + l if l.startswith(b">") and l.lstrip(b">").startswith(b"From ") else l
                              for l in body.split(b"\n"))
            m.body = body
        stored_body = quote(m.body, how)
        sm = Message()
        sm.body, sm.nl, sm.final_newline = stored_body, nl, m.final_newline
        stored_body = sm.body_bytes()
        cl = len(stored_body) if m.cl else None
        header = m.header_bytes(cl=cl)
        stored = m.from_line + nl + header + stored_body
        parts.append(stored + nl)   # the separator (without a final newline: Content-Length ends the body)
        if getattr(m, "pseudo", False):
            continue
        kept = header + m.body_bytes()
        records.append({
            "index": len(records), "msgid": m.msgid,
            "kept": base64.b64encode(kept).decode(),
            "stripped": base64.b64encode(strip_meta(header) + m.body_bytes()).decode(),
            "subdir": "cur" if (m.old or m.flags or m.keywords) else "new",
            # $Forwarded is the flag P and the keyword
            "flags": m.flags,
            "keywords": sorted(set(m.keywords) | ({"$Forwarded"} if "P" in m.flags else set())),
            "uid": m.uid,
            "mtime": m.mtime, "python_flags": m.python_flags,
        })
    data = b"".join(parts)
    if msgs and not msgs[-1].final_newline and not msgs[-1].cl:
        data = data[:-len(msgs[-1].nl)]     # the file ends without the separator
    with open(os.path.join(outdir, name + ".mbox"), "wb") as f:
        f.write(data)
    with open(os.path.join(outdir, name + ".record"), "w") as f:
        f.write(json.dumps({"style": name, "messages": len(records), "python_split": python_split,
                            "pseudo": any(getattr(m, "pseudo", False) for m in msgs),
                            "uidstate": any(m.uid for m in msgs), "content_length": has_cl}) + "\n")
        for r in records:
            f.write(json.dumps(r) + "\n")


def main(argv):
    if len(argv) > 1 and argv[1] == "--styles":
        print(" ".join(sorted(STYLES)))
        return 0
    if len(argv) < 3:
        raise SystemExit(__doc__)
    outdir, seed = argv[1], int(argv[2])
    count = int(argv[3]) if len(argv) > 3 else 300
    names = argv[4].split(",") if len(argv) > 4 else sorted(STYLES)
    os.makedirs(outdir, exist_ok=True)
    for name in names:
        write_style(outdir, name, seed, count)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
