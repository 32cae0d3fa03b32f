#!/usr/bin/env python3
# bench/gen-corpus.py: the benchmark corpus, a deterministic mboxrd file.
#
# Same arguments, same bytes, on every machine (one seeded generator, no
# clock, no locale).  The messages look like a real spool (DESIGN.md §6,
# SPEC.md §2): header blocks of 1-4 KiB with Received chains and DKIM
# signatures, plain text bodies, a tenth of the messages multipart with a
# base64 attachment (lognormal, up to 3 MiB), a median near 9 KiB, 2% of the
# messages with CRLF line ends (From_ line and separator too, SPEC §2.7),
# body lines starting with "From " (written ">From ", mboxrd) and with
# ">From " (written ">>From "), Status/X-Status on part of them, and 3%
# duplicates (same Message-ID, body and line ends; half with one more
# Received line).
#
# --shape=small is the spool of ordinary mail instead: no attachments, every
# message (From_ line included) between 4 and 30 KiB, spread evenly.
#
#   gen-corpus.py --count=N [--shape=mixed|small] [--seed=S] [--out=FILE]
#                 [--manifest=FILE]
#
# The manifest is "key value" lines: messages, bytes, crlf, from_lines,
# duplicates, largest, median.
import argparse
import base64
import random
import sys

WORDS = ("the a of to and in is it that for on with as was be by this are from "
         "at or have an not but we all they which one you were her there been "
         "has more if will would their what so about out up into than them can "
         "only other new some could time these two may then do first any my "
         "now such like our over man me even most made after also did many "
         "before must through back years where much your way well down should "
         "because each just those people how too little state good very make "
         "world still own see men work long get here between both life being "
         "under never day same another know while last might us great old year "
         "off come since against go came right used take three mailbox server "
         "quarterly invoice meeting agenda attached please review thanks regards "
         "schedule release build deadline budget project report figures").split()
HOSTS = ["mx%d.example.net" % i for i in range(1, 9)] + \
        ["relay.example.org", "smtp.mail.example.com", "mail-gw.corp.example",
         "in.mx.example.edu", "out-%d.sender.example" % 3]
NAMES = ["Alice Martin", "Bob Okafor", "Chen Wei", "Dana Kowalski", "Emil Larsen",
         "Fatima Haddad", "Gustavo Reyes", "Hanna Schmidt", "Ivan Petrov",
         "Julia Rossi", "Kenji Sato", "Lena Novak", "Mateo Silva", "Nora Berg"]
DOMAINS = ["example.com", "example.org", "example.net", "lists.example.org",
           "corp.example", "mail.example.edu"]
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
          "Nov", "Dec"]
MAX_ATTACHMENT = 3 * 1024 * 1024


def paragraphs(rng, n):
	"""A pool of wrapped text paragraphs (bytes, LF line ends)."""
	pool = []
	for _ in range(n):
		words = rng.choices(WORDS, k=rng.randint(20, 160))
		lines, cur = [], ""
		for w in words:
			if len(cur) + len(w) + 1 > 72:
				lines.append(cur)
				cur = w
			else:
				cur = w if not cur else cur + " " + w
		lines.append(cur)
		text = "\n".join(lines)
		if text.startswith("from "):
			text = "so " + text
		pool.append((text[0].upper() + text[1:] + ".\n").encode())
	return pool


def address(rng):
	name = rng.choice(NAMES)
	user = name.split()[0].lower() + "." + name.split()[1].lower()
	return name, "%s@%s" % (user, rng.choice(DOMAINS))


def stamp(t):
	"""(day-of-week, 'DD Mon YYYY HH:MM:SS') for t seconds after 2019-01-01."""
	days, rest = divmod(t, 86400)
	# 2019-01-01 was a Tuesday; a simple civil-from-days conversion.
	y, d = 2019, days
	while True:
		ylen = 366 if (y % 4 == 0 and (y % 100 or y % 400 == 0)) else 365
		if d < ylen:
			break
		d -= ylen
		y += 1
	mlen = [31, 29 if ylen == 366 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
	m = 0
	while d >= mlen[m]:
		d -= mlen[m]
		m += 1
	h, rest = divmod(rest, 3600)
	mi, s = divmod(rest, 60)
	return DAYS[(days + 1) % 7], d + 1, MONTHS[m], y, h, mi, s


def headers(rng, i, t, sender, rcpt, subject, msgid, multipart, boundary):
	dow, d, mon, y, h, mi, s = stamp(t)
	date = "%s, %d %s %d %02d:%02d:%02d +0000" % (dow, d, mon, y, h, mi, s)
	out = ["Return-Path: <%s>" % sender[1]]
	for hop in range(rng.randint(2, 7)):
		a, b = rng.choice(HOSTS), rng.choice(HOSTS)
		out.append("Received: from %s (%s [192.0.2.%d])\n\tby %s (Postfix) with ESMTPS id %08X%d\n"
		           "\tfor <%s>; %s" % (a, a, rng.randint(1, 254), b, rng.getrandbits(32), hop,
		                               rcpt[1], date))
	if rng.random() < 0.6:
		sig = base64.b64encode(rng.randbytes(rng.choice((128, 256)))).decode()
		out.append("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=sel%d;\n"
		           "\th=from:to:subject:date:message-id; bh=%s;\n\tb=%s"
		           % (sender[1].split("@")[1], rng.randint(1, 9),
		              base64.b64encode(rng.randbytes(32)).decode(),
		              "\n\t ".join(sig[k:k + 70] for k in range(0, len(sig), 70))))
	out.append("Date: " + date)
	out.append("From: %s <%s>" % sender)
	out.append("To: %s <%s>" % rcpt)
	if rng.random() < 0.3:
		out.append("Cc: " + ",\n\t".join("%s <%s>" % address(rng) for _ in range(rng.randint(1, 4))))
	out.append("Subject: " + subject)
	out.append("Message-ID: " + msgid)
	if rng.random() < 0.4:
		out.append("In-Reply-To: <%08x.%d@%s>" % (rng.getrandbits(32), i, rng.choice(DOMAINS)))
	if rng.random() < 0.25:
		out.append("List-Id: Project discussion <project.%s>" % rng.choice(DOMAINS))
	out.append("MIME-Version: 1.0")
	if multipart:
		out.append('Content-Type: multipart/mixed; boundary="%s"' % boundary)
	else:
		out.append("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit")
	out.append("X-Mailer: Bench Mailer %d.%d" % (rng.randint(1, 9), rng.randint(0, 20)))
	r = rng.random()
	if r < 0.35:
		out.append("Status: RO")
	elif r < 0.45:
		out.append("Status: O")
	if rng.random() < 0.12:
		out.append("X-Status: " + rng.choice(("A", "F", "AF", "D")))
	return ("\n".join(out) + "\n").encode()


def body(rng, pool, multipart, boundary, target=None):
	exact = target is not None
	if not exact:
		target = int(rng.lognormvariate(8.85, 0.8))  # median ~7 KiB of text
	parts, size = [], 0
	while size < target:
		p = rng.choice(pool)
		if rng.random() < 0.003:
			p = b"From the desk of the editor: " + p
		elif rng.random() < 0.001:
			p = b">From an earlier message, quoted.\n" + p
		parts.append(p)
		size += len(p) + 1
	text = b"\n".join(parts)
	if exact and len(text) > target:
		text = text[:target]
		text = text[:text.rfind(b"\n") + 1] if b"\n" in text else text
	if not multipart:
		return text
	n = min(int(rng.lognormvariate(10.8, 1.3)), MAX_ATTACHMENT)
	att = base64.encodebytes(rng.randbytes(n))
	b = boundary.encode()
	return (b"This is a multi-part message in MIME format.\n\n--" + b +
	        b"\nContent-Type: text/plain; charset=utf-8\n\n" + text +
	        b"\n--" + b + b"\nContent-Type: application/octet-stream\n"
	        b"Content-Disposition: attachment; filename=\"file%d.bin\"\n"
	        b"Content-Transfer-Encoding: base64\n\n" % n + att +
	        b"--" + b + b"--\n")


def mboxrd_quote(msg):
	"""mboxrd: every line matching ^>*From gets one more '>'."""
	if b"From " not in msg:
		return msg
	lines = msg.split(b"\n")
	for k, line in enumerate(lines):
		if line.lstrip(b">").startswith(b"From "):
			lines[k] = b">" + line
	return b"\n".join(lines)


def main():
	ap = argparse.ArgumentParser(description="deterministic benchmark mbox")
	ap.add_argument("--count", type=int, required=True)
	ap.add_argument("--shape", choices=("mixed", "small"), default="mixed")
	ap.add_argument("--seed", type=int, default=1)
	ap.add_argument("--out", default="-")
	ap.add_argument("--manifest")
	a = ap.parse_args()
	rng = random.Random(a.seed)
	pool = paragraphs(rng, 3000)
	out = sys.stdout.buffer if a.out == "-" else open(a.out, "wb")
	t = 0
	kept = []          # (From_ line, message) of recent originals, for duplicates
	stats = {"messages": 0, "bytes": 0, "crlf": 0, "from_lines": 0, "duplicates": 0}
	sizes = []
	for i in range(a.count):
		t += rng.randint(30, 2400)
		if kept and rng.random() < 0.03:
			fromline, msg, crlf = rng.choice(kept)
			if rng.random() < 0.5:
				msg = (b"Received: from relay.example.org by mx9.example.net;\n"
				       b"\tredelivered\n" + msg)
			stats["duplicates"] += 1
		else:
			sender, rcpt = address(rng), address(rng)
			multipart = rng.random() < 0.10 and a.shape == "mixed"
			boundary = "=_bench_%016x" % rng.getrandbits(64)
			subject = " ".join(rng.choices(WORDS, k=rng.randint(2, 9))).capitalize()
			msgid = "<%d.%08x@%s>" % (i, rng.getrandbits(32), sender[1].split("@")[1])
			head = headers(rng, i, t, sender, rcpt, subject, msgid, multipart, boundary)
			target = None
			if a.shape == "small":
				# the whole mbox entry 4-30 KiB: From_ line, header, body, separator
				target = max(rng.randint(4096, 30720) - len(head) - 80, 200)
			msg = head + b"\n" + body(rng, pool, multipart, boundary, target)
			if not msg.endswith(b"\n"):
				msg += b"\n"
			dow, d, mon, y, h, mi, s = stamp(t)
			fromline = b"From %s %s %s %2d %02d:%02d:%02d %d\n" % (
				sender[1].encode(), dow.encode(), mon.encode(), d, h, mi, s, y)
			crlf = rng.random() < 0.02
			kept.append((fromline, msg, crlf))
			if len(kept) > 200:
				kept.pop(0)
		if b"\nFrom " in msg:
			stats["from_lines"] += 1
		data = fromline + mboxrd_quote(msg) + b"\n"
		if crlf:
			data = data.replace(b"\n", b"\r\n")
			stats["crlf"] += 1
		out.write(data)
		stats["messages"] += 1
		stats["bytes"] += len(data)
		sizes.append(len(data))
	out.flush()
	if out is not sys.stdout.buffer:
		out.close()
	sizes.sort()
	stats["largest"] = sizes[-1] if sizes else 0
	stats["median"] = sizes[len(sizes) // 2] if sizes else 0
	if a.manifest:
		with open(a.manifest, "w") as f:
			for k, v in stats.items():
				f.write("%s %d\n" % (k, v))


if __name__ == "__main__":
	main()
