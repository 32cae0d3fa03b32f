#!/usr/bin/env python3
"""t/gen/sized-mbox.py: mboxes whose sizes and boundaries sit exactly where
the reader's buffers and limits end (the input matrix, t/1060 and t/1065).

    sized-mbox.py SHAPE [SEED] > file

SHAPE (all sizes in bytes):
  empty            0 bytes
  one              one small message
  total:N          messages of random sizes, exactly N bytes in all
  from-at:N        a From_ line starts at offset N (its "From " straddles N
                   when N is a buffer size); N + a few KiB in all
  header:H         a message whose header block (through its empty line) is
                   exactly H bytes, between two small messages
  fromline:L       messages whose From_ lines are exactly L bytes (LF not
                   counted): the first, and one after an empty line in a body
  big:N            one message with a body of N bytes (long lines, a few
                   quoted From lines), between two small messages
  mailbox:N        about N bytes of varied messages: CRLF messages, quoted
                   ">From " lines, runs of empty lines, long lines, NUL and
                   8-bit bytes, a valid Content-Length, Status/X-Status/
                   X-Keywords, the last message without a final newline
  stream:N         like mailbox, N bytes or more, written to stdout as it is
                   made (the long tier's 1 GB inputs; memory stays small)

Every message has Message-ID <INDEX.SEED@matrix.example> so that a failing
comparison can name it. Deterministic: SHAPE and SEED give the same bytes.
"""
import random
import sys
import time

WORDS = ("mail spool migration maildir mbox server queue delivery relay header "
         "body message archive folder user domain example compressed stream buffer "
         "boundary offset").split()
BASE_T = 978307200          # 2001-01-01 00:00:00 UTC


class Gen:
    def __init__(self, seed):
        self.rnd = random.Random(seed)
        self.seed = seed
        self.index = 0
        # lines are drawn from a pool: a 20 MB body costs a fraction of a second
        self.pool = [" ".join(self.rnd.choice(WORDS) for _ in range(1 + k % 16)).encode()
                     for k in range(4096)]

    def from_line(self, i, sender=None):
        tm = time.gmtime(BASE_T + i * 3607)
        day = "%02d" % tm.tm_mday if i % 3 == 0 else "%2d" % tm.tm_mday
        sender = sender or "user%d@matrix.example" % (i % 13)
        return ("From %s %s %s %s" % (sender, time.strftime("%a %b", tm), day,
                                      time.strftime("%H:%M:%S %Y", tm))).encode()

    def text_line(self, maxw=12):
        ln = self.pool[self.rnd.getrandbits(12)]
        return ln if maxw >= 16 else ln[:maxw * 11]

    def headers(self, i, extra=()):
        tm = time.gmtime(BASE_T + i * 3607)
        rfc = time.strftime("%a, %d %b %Y %H:%M:%S +0000", tm)
        h = [b"Return-Path: <user%d@matrix.example>" % (i % 13),
             b"Message-ID: <%d.%d@matrix.example>" % (i, self.seed),
             b"Date: " + rfc.encode(),
             b"From: User %d <user%d@matrix.example>" % (i % 13, i % 13),
             b"To: alice@example.org",
             b"Subject: matrix message %d " % i + self.text_line(4)]
        h.extend(extra)
        k = i % 6
        if k == 1:
            h.append(b"Status: RO")
        elif k == 2:
            h.append(b"Status: O")
            h.append(b"X-Status: AF")
        elif k == 3:
            h.append(b"X-Status: T")
        elif k == 4:
            h.append(b"Status: R")
            h.append(b"X-Keywords: $Junk work")
        return h

    def message(self, body_lines, extra=(), nl=b"\n", from_line=None):
        """(From_ line + header + body) bytes; body_lines without line ends."""
        i = self.index
        self.index += 1
        fl = from_line if from_line is not None else self.from_line(i)
        out = [fl + nl]
        out += [h + nl for h in self.headers(i, extra)]
        out.append(nl)
        out += [b + nl for b in body_lines]
        return b"".join(out)

    def body(self, size):
        lines, total = [], 0
        while total < size:
            ln = self.text_line()
            lines.append(ln)
            total += len(ln) + 1
        return lines or [b"x"]


def frame(msg, nl=b"\n"):
    """A message as stored: its bytes and the empty separator line."""
    return msg + nl


def body_exact(g, need):
    """Body bytes of exactly `need` bytes, whole lines (need != 1)."""
    lines, left = [], need
    while left > 72:
        ln = g.text_line(10)[:70]
        lines.append(ln + b"\n")
        left -= len(ln) + 1
    if left == 1:
        lines[-1] = lines[-1][:-1] + b"y\n"
    elif left:
        lines.append(b"z" * (left - 1) + b"\n")
    out = b"".join(lines)
    assert len(out) == need, (len(out), need)
    return out


def pad_message(g, target, extra=()):
    """One framed message of exactly `target` bytes (target >= 400)."""
    m = g.message([], extra)
    need = target - len(m) - 1
    if need < 80:
        raise SystemExit("sized-mbox: %d bytes is too small for a message" % target)
    m = frame(m + body_exact(g, need))
    assert len(m) == target, (len(m), target)
    return m


def shape_total(g, n):
    out, size = [], 0
    maxbody = max(4000, n // 40)      # dozens of messages or more
    while n - size > maxbody + 2000:
        m = frame(g.message(g.body(g.rnd.randint(0, maxbody))))
        out.append(m)
        size += len(m)
    if n - size > 0:
        if n - size < 800:      # make room: replace the last message
            size -= len(out.pop())
        out.append(pad_message(g, n - size))
    return b"".join(out)


def shape_from_at(g, n):
    head = shape_total(g, n)
    assert len(head) == n
    return head + b"".join(frame(g.message(g.body(1500))) for _ in range(3))


def shape_header(g, h):
    out = [frame(g.message(g.body(300)))]
    i = g.index
    g.index += 1
    fl = g.from_line(i) + b"\n"
    hdr = [x + b"\n" for x in g.headers(i)]
    base = sum(map(len, hdr)) + 1          # + the empty line
    left = h - base
    while left > 0:
        # folded header lines of up to 78 bytes: "X-Pad: ..." then " ..."
        first = not any(x.startswith(b"X-Pad:") for x in hdr)
        prefix = b"X-Pad: " if first else b" "
        room = min(78, left) - len(prefix) - 1
        if room < 1:
            # too little left for a line of its own: lengthen the last pad line
            last = len(hdr) - 1
            hdr[last] = hdr[last][:-1] + b"w" * left + b"\n"
            left = 0
            break
        ln = prefix + (g.text_line(12) * 3)[:room].replace(b"\n", b" ") + b"\n"
        if len(ln) < len(prefix) + room + 1:
            ln = ln[:-1] + b"v" * (len(prefix) + room + 1 - len(ln)) + b"\n"
        hdr.append(ln)
        left -= len(ln)
    block = b"".join(hdr) + b"\n"
    assert len(block) == h, (len(block), h)
    out.append(frame(fl + block + b"".join(l + b"\n" for l in g.body(500))))
    out.append(frame(g.message(g.body(300))))
    return b"".join(out)


def shape_fromline(g, length):
    def long_from(i):
        base = g.from_line(i, sender="S")
        # grow the sender to reach the exact length
        grow = length - len(base)
        return g.from_line(i, sender="s" + "x" * grow) if grow > 0 else base
    out = []
    for _ in range(3):
        i = g.index
        fl = long_from(i)
        assert len(fl) == length, (len(fl), length)
        body = g.body(800)
        # an empty line then a From_-shaped line of the same length in the body
        body += [b"", long_from(i + 1000), b"after the long From line"]
        out.append(frame(g.message(body, from_line=fl)))
    return b"".join(out)


def shape_big(g, n):
    out = [frame(g.message(g.body(300)))]
    lines, total, k = [], 0, 0
    while total < n:
        k += 1
        if k % 997 == 0:
            ln = b">From the middle of a big body, quoted"
        elif k % 1009 == 0:
            ln = b"x" * 200000             # a line longer than most buffers
        else:
            ln = g.text_line(16)
        lines.append(ln)
        total += len(ln) + 1
    out.append(frame(g.message(lines)))
    out.append(frame(g.message(g.body(300))))
    return b"".join(out)


def varied(g):
    """One framed message of the varied kinds (mailbox, stream)."""
    r = g.rnd
    kind = g.index % 10
    if kind == 1:       # CRLF
        return frame(g.message(g.body(r.randint(0, 3000)), nl=b"\r\n"), b"\r\n")
    if kind == 2:       # quoted From lines (mboxrd), and a >>From
        b = g.body(r.randint(100, 2000))
        b[len(b) // 2:len(b) // 2] = [b">From the start", b">>From the archive", b""]
        return frame(g.message(b))
    if kind == 3:       # a run of empty lines in the body
        b = g.body(500) + [b""] * r.randint(1, 400) + g.body(200)
        return frame(g.message(b))
    if kind == 4:       # a long line
        return frame(g.message([b"L" * r.randint(5000, 300000)] + g.body(100)))
    if kind == 5:       # NUL and 8-bit bytes
        return frame(g.message([b"nul\x00byte \xe9t\xe9 \xff", b"\x00" * 7] + g.body(300),
                               extra=[b"X-Eight: caf\xe9 na\xefve"]))
    if kind == 6:       # a valid Content-Length (body bytes before the separator)
        b = b"".join(l + b"\n" for l in g.body(r.randint(0, 2500)))
        m = g.message([], extra=[b"Content-Length: %d" % len(b), b"Lines: %d" % b.count(b"\n")])
        return frame(m + b)
    if kind == 7:       # a "From " body line that is no From_ line
        return frame(g.message(g.body(300) + [b"From here on we go", b"bye"]))
    if kind == 8:       # empty body
        return frame(g.message([]))
    return frame(g.message(g.body(r.randint(0, 6000))))


def shape_mailbox(g, n):
    out, size = [], 0
    while size < n:
        m = varied(g)
        out.append(m)
        size += len(m)
    out.append(g.message(g.body(200))[:-1])     # no final newline
    return b"".join(out)


def shape_stream(g, n, w):
    size = 0
    chunk = []
    while size < n:
        m = varied(g)
        chunk.append(m)
        size += len(m)
        if len(chunk) >= 256:
            w.write(b"".join(chunk))
            chunk = []
    chunk.append(g.message(g.body(200))[:-1])
    w.write(b"".join(chunk))


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    shape, _, arg = argv[1].partition(":")
    seed = int(argv[2]) if len(argv) > 2 else 1
    g = Gen(seed)
    w = sys.stdout.buffer
    n = int(arg) if arg else 0
    if shape == "stream":
        shape_stream(g, n, w)
        return
    data = {
        "empty": lambda: b"",
        "one": lambda: frame(g.message(g.body(700))),
        "total": lambda: shape_total(g, n),
        "from-at": lambda: shape_from_at(g, n),
        "header": lambda: shape_header(g, n),
        "fromline": lambda: shape_fromline(g, n),
        "big": lambda: shape_big(g, n),
        "mailbox": lambda: shape_mailbox(g, n),
    }.get(shape)
    if data is None:
        raise SystemExit("sized-mbox: unknown shape %r" % shape)
    w.write(data())


if __name__ == "__main__":
    main(sys.argv)
