#!/usr/bin/env python3
"""Compare what a real Dovecot returned with the record of what the old
server returned (t/gen/courier.py's expected.json).

    dovecot-view.py EXPECTED.json VIEWDIR FINDINGS

VIEWDIR holds Dovecot's answers, CR removed:
  folders       the folder names, one a line: folder N is the Nth
  imap          one session: per folder "eN SELECT F", "fN FETCH 1:* (UID
                FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"; then
                "l LSUB "" *". Dovecot runs pipelined commands ahead of
                their completion lines, so folders are told apart by the
                "[CLOSED]" each SELECT after the first says.
  pop3          "LIST" then "UIDL"
  log           Dovecot's log (no "Error:" or "Warning:" allowed)
FINDINGS is the merge's stderr ("FILE:LINE: CODE: text" lines).
Prints one line per difference and exits 1 when there is any.
"""
import json
import os
import re
import sys

exp = json.load(open(sys.argv[1]))
view = sys.argv[2]
findings = open(sys.argv[3], encoding="utf-8", errors="replace").read().splitlines()
bad = []


def fail(msg):
    bad.append(msg)


IMAP = open(os.path.join(view, "imap"), encoding="latin-1").read()
FOLDERS = open(os.path.join(view, "folders"), encoding="utf-8").read().splitlines()


PARTS = IMAP.split("* OK [CLOSED] Previous mailbox closed.\n")


def segment(n):
    """The responses for folder n (1-based)."""
    return PARTS[n - 1] if n - 1 < len(PARTS) else ""


def imap_view(folder):
    text = segment(FOLDERS.index(folder or "INBOX") + 1)
    msgs = {}
    # * N FETCH (UID u FLAGS (...) BODY[HEADER.FIELDS (MESSAGE-ID)] {n}
    # Message-ID: <...>
    for m in re.finditer(r"^\* \d+ FETCH \(UID (\d+) FLAGS \(([^)]*)\) BODY\[HEADER\.FIELDS "
                         r"\(MESSAGE-ID\)\] \{\d+\}\n(?:Message-ID|Message-Id): (\S+)",
                         text, re.M | re.I):
        flags = sorted(f for f in m.group(2).split() if f != "\\Recent")
        msgs[m.group(3)] = (int(m.group(1)), flags)
    v = re.search(r"^\* OK \[UIDVALIDITY (\d+)\]", text, re.M)
    n = re.search(r"^\* OK \[UIDNEXT (\d+)\]", text, re.M)
    return msgs, (int(v.group(1)) if v else None, int(n.group(1)) if n else None)


def check_folder(name, rec, not_carried):
    got, (uidv, uidnext) = imap_view(name)
    label = name or "INBOX"
    if len(got) != len(rec["messages"]):
        fail("%s: %d messages, want %d" % (label, len(got), len(rec["messages"])))
    if rec["uidvalidity"] is not None and uidv != rec["uidvalidity"]:
        fail("%s: UIDVALIDITY %s, want %s" % (label, uidv, rec["uidvalidity"]))
    if rec["uidnext"] is not None and uidnext != rec["uidnext"]:
        fail("%s: UIDNEXT %s, want %s" % (label, uidnext, rec["uidnext"]))
    kept = [m["uid"] for m in rec["messages"] if m["uid"] is not None]
    above = max(kept + [0])
    seen = set()
    for m in rec["messages"]:
        g = got.get(m["message_id"])
        if g is None:
            fail("%s: %s not served" % (label, m["message_id"]))
            continue
        uid, flags = g
        if uid in seen:
            fail("%s: UID %d twice" % (label, uid))
        seen.add(uid)
        if m["uid"] is not None and uid != m["uid"]:
            fail("%s: %s has UID %d, want %d" % (label, m["message_id"], uid, m["uid"]))
        if m["uid"] is None:
            want = m.get("fresh_uid")
            if want is not None and uid != want:
                fail("%s: %s has UID %d, want the fresh %d" % (label, m["message_id"], uid, want))
            if uid <= above:
                fail("%s: %s has UID %d, not above the kept ones (%d)" %
                     (label, m["message_id"], uid, above))
        want_flags = sorted(m["flags"] + [k for k in m["keywords"] if k not in not_carried])
        if flags != want_flags:
            fail("%s: %s flags %s, want %s" % (label, m["message_id"], flags, want_flags))


def check_pop3(rec, kind):
    text = open(os.path.join(view, "pop3"), encoding="latin-1").read()
    parts = text.split("\n.\n")
    listing = re.findall(r"^(\d+) (\d+)$", parts[0], re.M)
    uidls = re.findall(r"^(\d+) (\S+)$", parts[1], re.M) if len(parts) > 1 else []
    want = rec["pop3"]
    if len(uidls) < len(want):
        fail("POP3: %d messages, want at least %d" % (len(uidls), len(want)))
    for i, w in enumerate(want):
        if i >= len(uidls):
            break
        if uidls[i][1] != w["uidl"]:
            fail("POP3 %d: UIDL %s, want %s" % (i + 1, uidls[i][1], w["uidl"]))
        size = int(listing[i][1]) if i < len(listing) else None
        # Dovecot reports the CR LF size; Courier did too, but for 2 more
        # bytes without a final LF; qmail-pop3d reported file sizes
        if size != w["vsize"]:
            fail("POP3 %d: size %s, want %s" % (i + 1, size, w["vsize"]))
        if kind == "courier" and w["size"] != w["vsize"]:
            if not any("STATE-SIZE-DIFFERS" in f and w["base"] in f for f in findings):
                fail("POP3 %d: size %d -> %d not reported" % (i + 1, w["size"], w["vsize"]))


def check_findings():
    for d in exp["damage"]:
        pat = "/%s:%d: %s: " % (d["file"], d["line"], d["code"])
        if not any(pat in f for f in findings):
            fail("no finding %s" % pat)
    for v in exp.get("vanished", []):
        if not any("STATE-MISSING-FILE" in f and v["base"] in f for f in findings):
            fail("vanished %s not reported" % v["base"])
    codes = {d["code"] for d in exp["damage"]} | {"STATE-MISSING-FILE", "STATE-SIZE-DIFFERS"}
    if exp["keywords_not_carried"]:
        codes.add("STATE-TOO-MANY-KEYWORDS")
    for f in findings:
        m = re.search(r": (STATE-[A-Z-]+): ", f)
        if not m or m.group(1) not in codes:
            fail("unexpected finding: %s" % f)


for name, rec in sorted(exp["folders"].items()):
    check_folder(name, rec, set(exp["keywords_not_carried"].get(name, [])))
check_pop3(exp["folders"][""], exp["kind"])
if exp["subscriptions"]:
    lsub = IMAP
    got = sorted(re.findall(r'^\* LSUB \([^)]*\) "\." "?([^"\n]*)"?$', lsub, re.M))
    if got != sorted(exp["subscriptions"]):
        fail("subscriptions %s, want %s" % (got, sorted(exp["subscriptions"])))
check_findings()
log = open(os.path.join(view, "log"), encoding="latin-1").read() if os.path.exists(
    os.path.join(view, "log")) else ""
for line in log.splitlines():
    if "Error:" in line or "Warning:" in line:
        fail("Dovecot: %s" % line)
for b in bad[:40]:
    print(b)
if len(bad) > 40:
    print("... %d more" % (len(bad) - 40))
sys.exit(1 if bad else 0)
