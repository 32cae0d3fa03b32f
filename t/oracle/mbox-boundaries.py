#!/usr/bin/env python3
"""Independent oracle: where the messages of an mbox begin and end by the
boundary algorithm of mailshift-formats(5) (the mbox family), written from
that description in plain Python, line by line, with no buffer at all.

  mbox-boundaries.py MBOX OUTDIR/NAME
  mbox-boundaries.py --batch DIR      (every DIR/NAME.mbox, to DIR/NAME)

writes three files:
  NAME.check    what `mailshift check --json` must find: "messages N",
                then "CODE OFFSET" per finding in check's order
  NAME.convert  what `mailshift convert` must say: "messages N", then
                "UNQUOTED OFFSET", "MISSING OFFSET", "CONTENT-LENGTH OFFSET"
                per warning about a boundary, in file order
  NAME.digests  "<sha256> <length>" of each message as a Maildir file holds
                it (From_ line and separator removed, mboxrd unquoted unless
                the file is mboxcl2), in file order

The rules, as the format page gives them:
- empty lines before the first line are skipped; the first line starts a
  message whatever it holds after "From ";
- a From_ line is "From SENDER DAY MON DD HH:MM:SS YYYY" (the shapes the
  tests write; a line longer than 1000 bytes is never one);
- the header runs to the first empty line; before its first field (a line
  that is not a continuation and holds a colon) "From " lines are header
  text (stamps); after it a From_ line ends the message (no header end); a
  header that would pass 1 MiB ends before the line that passes it, and
  the rest is body;
- after a complete header, a Content-Length (every such field one decimal
  value, the same) is honoured when header end + N is the end of file, or
  a line end followed by the end of file or a From_ line: the message is
  the header and N bytes, that one line end is the separator;
- otherwise the body runs to the next From_ line; a body line starting
  "From " that is no From_ line is an unquoted From line; an empty line
  right before the boundary (or the end of file) is the separator, else the
  separator is missing; when the header's empty line is right before the
  boundary it is the separator (the message's body is empty), and when it
  is also the message's only line the message is empty and its separator
  is missing;
- mboxcl2: every message's Content-Length is honoured and some body holds a
  line starting "From ": nothing is unquoted; else one '>' is removed from
  every line matching ">+From ".
"""
import hashlib
import os
import re
import sys

DAYS = b"Mon|Tue|Wed|Thu|Fri|Sat|Sun"
MONS = b"Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
FROM_RE = re.compile(rb"From [^ \r\n]+ +(" + DAYS + rb") (" + MONS +
                     rb") +\d{1,2} \d\d:\d\d:\d\d \d{4}\r?\n?\Z")
HEADER_MAX = 1024 * 1024


def lines_of(data):
    out, off = [], 0
    while off < len(data):
        e = data.find(b"\n", off)
        e = len(data) if e < 0 else e + 1
        out.append((off, data[off:e]))
        off = e
    return out


def is_from(line):
    return len(line) <= 1002 and FROM_RE.match(line) is not None


def is_empty(line):
    return line in (b"\n", b"\r\n")


def content_length(header_lines):
    """The value when every Content-Length field is one equal decimal; None
    when there is none; -1 when malformed."""
    val, seen = None, False
    fields = []
    for line in header_lines:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    for f in fields:
        name, colon, value = f.partition(b":")
        if not colon or name.lower() != b"content-length":
            continue
        seen = True
        v = value.strip(b" \t\r\n")
        if not v.isdigit() or len(v) > 15 or b"\n" in value.rstrip(b"\r\n"):
            return -1
        if val is not None and int(v) != val:
            return -1
        val = int(v)
    return val if seen else None


def lands(data, t, lines_at):
    if t == len(data):
        return t
    if t > len(data):
        return None
    if data[t:t + 1] == b"\n":
        n = t + 1
    elif data[t:t + 2] == b"\r\n":
        n = t + 2
    else:
        return None
    if n == len(data) or (n in lines_at and is_from(lines_at[n])):
        return n
    return None


def split(data):
    lines = lines_of(data)
    lines_at = {off: l for off, l in lines}
    idx = {off: i for i, (off, _) in enumerate(lines)}
    i = 0
    while i < len(lines) and is_empty(lines[i][1]):
        i += 1
    msgs = []           # dicts: off, parts (file lines kept), cl ...
    findings, convert = [], []
    eols = []
    all_cl = True
    cl_from = False
    while i < len(lines):
        off, first = lines[i]
        m = {"off": off, "lines": []}
        msgs.append(m)
        if first.endswith(b"\n"):
            eols.append((off, first.endswith(b"\r\n")))
        i += 1
        # header
        seen_field, complete, hlen = False, False, 0
        hdr = []
        while i < len(lines):
            loff, line = lines[i]
            if is_empty(line):
                eols.append((loff, line == b"\r\n"))
                hdr.append(line)
                i += 1
                complete = True
                break
            if line.startswith(b"From ") and seen_field and is_from(line):
                break
            shown = line[1:] if re.match(rb">+From ", line) else line
            if hlen + len(line) > HEADER_MAX:
                break
            hlen += len(shown)
            hdr.append(line)
            if line[:1] not in (b" ", b"\t") and b":" in shown:
                seen_field = True
            i += 1
        m["lines"] = list(hdr)
        if not complete:
            all_cl = False
            if i < len(lines) and is_from(lines[i][1]) and seen_field:
                continue        # a From_ line cut the header
            if i >= len(lines):
                continue        # the whole message is header
        body_off = lines[i][0] if i < len(lines) else len(data)
        cl = content_length(hdr) if complete else None
        if cl is not None and cl >= 0:
            nxt = lands(data, body_off + cl, lines_at)
            if nxt is not None:
                body = data[body_off:body_off + cl]
                m["lines"].append(body)
                if re.search(rb"(?m)^From ", body):
                    cl_from = True
                i = idx.get(nxt, len(lines))
                continue
        if cl is None:
            all_cl = False
        cl_bad = cl is not None
        if cl_bad:
            all_cl = False
        # the header's empty line right before a boundary or the end
        if complete and (i >= len(lines) or is_from(lines[i][1])):
            m["lines"][-1:] = []
            if not m["lines"] and i < len(lines):
                findings.append(("MBOX-MISSING-SEPARATOR", lines[i][0]))
            if cl_bad:
                findings.append(("MBOX-CONTENT-LENGTH", off))
                convert.append(("CONTENT-LENGTH", off))
            continue
        body = []
        while i < len(lines):
            loff, line = lines[i]
            if line.startswith(b"From "):
                if is_from(line):
                    break
                findings.append(("MBOX-UNQUOTED-FROM", loff))
                convert.append(("UNQUOTED", loff))
            body.append(line)
            i += 1
        if body and is_empty(body[-1]):
            body.pop()
        elif i < len(lines):
            findings.append(("MBOX-MISSING-SEPARATOR", lines[i][0]))
            convert.append(("MISSING", lines[i][0]))
        m["lines"] += body
        if cl_bad:
            findings.append(("MBOX-CONTENT-LENGTH", off))
            convert.append(("CONTENT-LENGTH", off))
    if data and not data.endswith(b"\n"):
        findings.append(("MBOX-TRUNCATED", len(data)))
    for off, crlf in eols:
        if crlf != eols[0][1]:
            findings.append(("MBOX-MIXED-EOL", off))
            break
    unquote = not (msgs and all_cl and cl_from)
    digests = []
    for m in msgs:
        text = b"".join(m["lines"])
        if unquote:
            text = re.sub(rb"(?m)^>(>*From )", rb"\1", text)
        digests.append("%s %d" % (hashlib.sha256(text).hexdigest(), len(text)))
    return len(msgs), findings, convert, digests


def one(path, out):
    with open(path, "rb") as f:
        data = f.read()
    n, findings, convert, digests = split(data)
    with open(out + ".check", "w") as f:
        print("messages %d" % n, file=f)
        for code, off in findings:
            print(code, off, file=f)
    with open(out + ".convert", "w") as f:
        print("messages %d" % n, file=f)
        for code, off in convert:
            print(code, off, file=f)
    with open(out + ".digests", "w") as f:
        for d in digests:
            print(d, file=f)


def main():
    if sys.argv[1] == "--batch":
        d = sys.argv[2]
        for name in sorted(os.listdir(d)):
            if name.endswith(".mbox"):
                one(os.path.join(d, name), os.path.join(d, name[:-5]))
        return
    one(sys.argv[1], sys.argv[2])


main()
