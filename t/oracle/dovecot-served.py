#!/usr/bin/env python3
"""What a real Dovecot serves from one mailbox, in a form to compare.

    dovecot-served.py LIBEXEC CONF USER HOME [--no-validity]

Runs Dovecot's imap and pop3 binaries (preauth, on pipes) with CONF and
prints:
  UIDVALIDITY v UIDNEXT n
  UID u FLAGS (f...) SIZE s SHA <sha256 of BODY[] as served>   per message
  UIDL n uidl                                                 per message
\\Recent is left out (a session flag, not stored state). --no-validity
prints "V" for the UIDVALIDITY and for its 8 hex digits in a default
UIDL (%08Xu%08Xv): both are the time Dovecot first saw a mailbox without
state. Exits 1 when Dovecot did not answer a command with OK.
"""
import hashlib
import os
import re
import subprocess
import sys

libexec, conf, user, home = sys.argv[1:5]
novalidity = "--no-validity" in sys.argv[5:]
env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "USER": user, "HOME": home}
ok = True


def session(binary, cmds, tagged):
    """Send each command once the previous one completed; the raw lines
    (literals read whole and joined to their line)."""
    global ok
    p = subprocess.Popen([os.path.join(libexec, binary), "-c", conf], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, env=env)
    items = []
    first = p.stdout.readline() if tagged else b""   # pop3 in preauth says nothing first
    for cmd in cmds:
        p.stdin.write(cmd.encode() + b"\r\n")
        p.stdin.flush()
        tag = cmd.split(" ", 1)[0].encode() + b" " if tagged else None
        while True:
            line = p.stdout.readline()
            if not line:
                ok = False
                break
            parts = []
            while True:
                m = re.search(rb"\{(\d+)\}\r\n$", line)
                if not m:
                    parts.append((line, None))
                    break
                lit = p.stdout.read(int(m.group(1)))
                parts.append((line, lit))
                line = p.stdout.readline()
            items.append(parts)
            text = parts[0][0]
            if tagged and text.startswith(tag):
                if not text.startswith(tag + b"OK"):
                    ok = False
                break
            if not tagged:
                if text.startswith(b"-ERR"):
                    ok = False
                if text.startswith(b"-ERR") or text == b".\r\n" or cmd == "QUIT":
                    break
    p.stdin.close()
    p.stdout.read()
    p.wait()
    return first, items


out = []
_, items = session("imap", ["a SELECT INBOX", "b FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[])",
                            "z LOGOUT"], True)
validity = nextuid = None
for parts in items:
    text = parts[0][0].decode("latin-1")
    m = re.match(r"\* OK \[UIDVALIDITY (\d+)\]", text)
    if m:
        validity = m.group(1)
    m = re.match(r"\* OK \[UIDNEXT (\d+)\]", text)
    if m:
        nextuid = m.group(1)
out.append("UIDVALIDITY %s UIDNEXT %s" % ("V" if novalidity else validity, nextuid))
for parts in items:
    text = parts[0][0].decode("latin-1")
    if not re.match(r"\* \d+ FETCH ", text):
        continue
    uid = re.search(r"UID (\d+)", text).group(1)
    flags = re.search(r"FLAGS \(([^)]*)\)", text).group(1).split()
    flags = " ".join(sorted(f for f in flags if f != "\\Recent"))
    size = re.search(r"RFC822\.SIZE (\d+)", text).group(1)
    body = parts[0][1] or b""
    out.append("UID %s FLAGS (%s) SIZE %s SHA %s" % (uid, flags, size,
                                                      hashlib.sha256(body).hexdigest()[:16]))
_, items = session("pop3", ["UIDL", "QUIT"], False)
for parts in items:
    m = re.match(r"(\d+) (\S+)\r\n$", parts[0][0].decode("latin-1"))
    if m:
        u = m.group(2)
        if novalidity and validity and re.fullmatch(r"[0-9A-F]{16}", u, re.I):
            u = u[:8] + "V"
        out.append("UIDL %s %s" % (m.group(1), u))
print("\n".join(out))
sys.exit(0 if ok and validity else 1)
