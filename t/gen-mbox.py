#!/usr/bin/env python3
"""Deterministic test mbox (mboxrd, LF): gen-mbox.py N [SEED] [MAXBODY] > file.

Message i has a qmail-style From_ line dated 2001-01-01 + i hours, a small
realistic header (Return-Path, Received, Message-ID <i.SEED@gen.example>,
Date, Subject), a body of pseudo-random text lines (0..MAXBODY bytes,
default 4000), every 7th body holds a ">From " line (written quoted as
">>From ") and a "From " line (quoted as ">From "), every 5th message
has "Status: RO", every 11th "X-Status: AF".
"""
import random
import sys
import time

n = int(sys.argv[1])
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
maxbody = int(sys.argv[3]) if len(sys.argv) > 3 else 4000
rnd = random.Random(seed)
words = ("mail spool migration maildir mbox server queue delivery relay "
         "header body message archive folder user domain example").split()
out = sys.stdout.buffer
for i in range(n):
    t = 978307200 + i * 3600
    tm = time.gmtime(t)
    asct = time.strftime("%a %b ", tm) + "%2d" % tm.tm_mday + time.strftime(" %H:%M:%S %Y", tm)
    rfc = time.strftime("%a, %d %b %Y %H:%M:%S +0000", tm)
    sender = "user%d@gen.example" % (i % 17)
    h = ["Return-Path: <%s>" % sender,
         "Received: (qmail %d invoked by uid 100); %s" % (1000 + i, rfc),
         "Message-ID: <%d.%d@gen.example>" % (i, seed),
         "Date: " + rfc,
         "From: User %d <%s>" % (i % 17, sender),
         "To: alice@example.org",
         "Subject: message %d %s" % (i, rnd.choice(words))]
    if i % 5 == 0:
        h.append("Status: RO")
    if i % 11 == 0:
        h.append("X-Status: AF")
    body = []
    size = rnd.randint(0, maxbody)
    total = 0
    while total < size:
        line = " ".join(rnd.choice(words) for _ in range(rnd.randint(1, 12)))
        body.append(line)
        total += len(line) + 1
    if i % 7 == 3:
        body.insert(len(body) // 2, ">>From the archive, quoted twice")
        body.insert(len(body) // 2, ">From the start, it was quoted")
    msg = ("From %s %s\n" % (sender, asct) + "\n".join(h) + "\n\n" +
           "".join(l + "\n" for l in body) + "\n")
    out.write(msg.encode())
