#!/bin/sh
# mailshift dedup: every key on a generated corpus with known duplicate sets
# (exact copies, copies differing in transport or mbox metadata headers, CRLF
# copies, one Message-ID over different bodies, no Message-ID), in a Maildir
# and in an mbox, checked against an independent Python oracle; --delete
# leaves one message per set with the flags merged; --dry-run changes nothing.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need python3
need_hooks

cat >"$TMP/gen.py" <<'EOF'
# Generator and oracle: writes a Maildir and an mbox holding the same
# messages in the same order, and for each key the expected "dup kept"
# index pairs (keep=first) computed here, independently of mailshift.
import os, re, sys
out = sys.argv[1]

def msg(mid=None, body="text\n", recv="from a by b; Mon, 1 Jan 2024 00:00:00 +0000",
        extra="", subject="Hello", frm="Ann <ann@example.org>", date="Mon, 1 Jan 2024 00:00:00 +0000"):
    h = ""
    if recv:
        h += "Received: %s\n" % recv
    h += "From: %s\nTo: bob@example.org\nSubject: %s\nDate: %s\n" % (frm, subject, date)
    if mid is not None:
        h += "Message-ID: %s\n" % mid
    h += extra
    return h + "\n" + body

crlf = lambda s: s.replace("\n", "\r\n")
# (message, maildir flags)
M = [
    (msg("<a@x>", "alpha\n"), ""),                                     # 0
    (msg("<a@x>", "alpha\n"), "R"),                                    # 1 exact copy of 0
    (msg("<b@x>", "beta\n"), ""),                                      # 2
    (msg("<b@x>", "beta\n", recv="from c by d; Tue, 2 Jan 2024 00:00:00 +0000",
         extra="Delivered-To: other@example.org\n"), "F"),            # 3 transport differs
    (msg("<b@x>", "beta\n", extra="Status: RO\nX-Status: F\n"), "S"),  # 4 metadata differs
    (msg("<c@x>", "gamma\nsecond line\n"), ""),                        # 5
    (crlf(msg("<c@x>", "gamma\nsecond line\n")), "P"),                 # 6 CRLF copy of 5
    (msg("<d@x>", "delta one\n"), ""),                                 # 7
    (msg("<d@x>", "delta two\n"), "F"),                                # 8 same ID, other body
    (msg(None, "epsilon\n"), ""),                                      # 9 no Message-ID
    (msg(None, "epsilon\n"), "S"),                                     # 10 exact copy
    (msg(None, "epsilon\n", recv="from e by f; Wed, 3 Jan 2024 00:00:00 +0000"), "R"),  # 11
    (msg("<f1@x>", "phi\n"), ""),                                      # 12
    (msg("<f2@x>", "phi\n"), ""),                                      # 13 same body, other ID
    (msg("<g@x>", "eta\n", subject="A long\n  folded   subject"), ""), # 14
    (msg("<g@x>", "eta\n", subject="A long folded subject",
         recv="from g by h; Thu, 4 Jan 2024 00:00:00 +0000"), "F"),    # 15 folding differs
    (msg("<h@x>", "theta\n"), ""),                                     # 16
    (msg("h@x", "theta\n"), "S"),                                      # 17 ID without brackets
    (msg("<i@x>", "iota\n"), ""),                                      # 18
    (msg("<i@x>", "iota\n", extra="Content-Length: 5\nLines: 1\nX-UID: 7\n"), "T"),  # 19
    (msg("<k@x> (a comment)", "kappa\n"), ""),                         # 20
    (msg("<k@x>", "kappa\n"), "D"),                                    # 21 comment differs
    (msg("<e@x>", ""), ""),                                            # 22 empty body
    (crlf(msg("<e@x>", "")), ""),                                      # 23 CRLF copy
    (msg("<>", "zeta\n"), ""),                                         # 24 "<>" = no ID
    (msg("<>", "zeta\n", recv="from z by y; Fri, 5 Jan 2024 00:00:00 +0000"), ""),  # 25
    (msg("<l@x>", "lambda\n", frm="Carl <carl@example.org>"), ""),     # 26
    (msg("<l@x>", "lambda\n"), ""),                                    # 27 other From:
    (msg("<m@x>", "mu\r\nline\n"), ""),                                # 28 mixed line ends
    (msg("<m@x>", "mu\nline\n"), ""),                                  # 29
]

META = {"status", "x-status", "x-keywords", "x-uid", "x-imap", "x-imapbase",
        "content-length", "lines"}

def split(m):
    lines = m.split("\n")
    for i, l in enumerate(lines):
        if l == "" or l == "\r":
            return "\n".join(lines[:i + 1]) + "\n", "\n".join(lines[i + 1:])
    return m, ""

def fields(h):
    out = []
    for l in h.split("\n")[:-2]:
        if l[:1] in (" ", "\t") and out:
            out[-1][1] += "\n" + l
        else:
            n, _, v = l.partition(":")
            out.append([n.strip(), v, l])
    return out

def unfold(v):
    return re.sub(r"\r?\n(?=[ \t])", "", v).strip()

def mid(h):
    for n, v, _ in fields(h):
        if n.lower() == "message-id":
            v = re.sub(r"\([^)]*\)", "", unfold(v)).strip()
            if "<" in v:
                a = v.index("<"); b = v.find(">", a)
                v = v[a + 1:b] if b > 0 else ""
            elif " " in v or "@" not in v:
                v = ""
            return v or None
    return None

def lf(s):
    return s.replace("\r\n", "\n")

def full(h, b):
    keep = []
    for n, v, l in fields(h):
        if n.lower() not in META:
            keep.append(n + ":" + v)
    return "full:" + lf("\n".join(keep) + "\n\n" + b)

def key(m, k):
    h, b = split(m)
    i = mid(h)
    if i is None and k != "body":
        return full(h, b)
    if k == "message-id":
        return "id:" + i
    if k == "body":
        return "body:" + lf(b)
    if k == "default":
        return "id:" + i + "\nbody:" + lf(b)
    if k == "full":
        return full(h, b)
    f = {n.lower(): v for n, v, _ in reversed(fields(h))}
    norm = lambda v: re.sub(r"[ \t]+", " ", unfold(v.replace("\r", "")))
    return "hdr:" + "".join(n + ":" + norm(f[n.lower()]) if n.lower() in f else n
                            for n in ["From", "To", "Cc", "Subject", "Date"]) + "id:" + i

md = os.path.join(out, "md")
for d in ("cur", "new", "tmp"):
    os.makedirs(os.path.join(md, d), exist_ok=True)
names = []
with open(os.path.join(out, "all.mbox"), "wb") as mb:
    offs = []
    for n, (m, fl) in enumerate(M):
        name = "%d.M%dP1Q%d.gen:2,%s" % (1700000000 + n, n, n, fl)
        names.append("cur/" + name)
        open(os.path.join(md, "cur", name), "wb").write(m.encode())
        offs.append(mb.tell())
        mb.write(("From gen@example.org Mon Jan  1 00:00:%02d 2024\n" % (n % 60)).encode())
        st = ""
        if "S" in fl: st += "Status: RO\n"
        xs = "".join(c for c, f in (("F", "F"), ("A", "R")) if f in fl)
        if xs: st += "X-Status: %s\n" % xs
        h, b = split(m)
        nl = "\r\n" if h.endswith("\r\n\r\n") else "\n"
        h = h[:-len(nl)] + st.replace("\n", nl) + nl if st and "Status:" not in h else h
        mb.write((h + b + ("\n" if b.endswith("\n") or b == "" else "\n\n")).encode())
open(os.path.join(out, "names"), "w").write("\n".join(names) + "\n")
open(os.path.join(out, "offsets"), "w").write("\n".join(map(str, offs)) + "\n")
MERGE = set("SRFP")
for k in ("default", "message-id", "body", "full", "headers"):
    first, pairs, flags = {}, [], {}
    for n, (m, fl) in enumerate(M):
        kk = key(m, k)
        if kk in first:
            pairs.append("%d %d" % (n, first[kk]))
            flags.setdefault(first[kk], set(M[first[kk]][1])).update(set(fl) & MERGE)
        else:
            first[kk] = n
    open(os.path.join(out, "expect." + k), "w").write("\n".join(pairs) + "\n")
    open(os.path.join(out, "flags." + k), "w").write("".join(
        "%d %s\n" % (n, "".join(sorted(f))) for n, f in sorted(flags.items())))
EOF
python3 "$TMP/gen.py" "$TMP" || { echo "generator failed"; exit 99; }

# index pairs "DUP KEPT" from dedup --json output ($1: md or mbox)
pairs() {
	python3 -c '
import json, sys
names = [l.strip() for l in open(sys.argv[1] + "/names")]
offs = [l.strip() for l in open(sys.argv[1] + "/offsets")]
def idx(p):
    if ".mbox:" in p:
        return offs.index(p.rsplit(":", 1)[1])
    return names.index(p.split("/md/", 1)[1])
for l in sys.stdin:
    j = json.loads(l)
    if "duplicate" in j:
        print(idx(j["duplicate"]), idx(j["kept"]))
' "$TMP"
}

for key in default message-id body full headers; do
	opt=--key=$key
	[ $key = default ] && opt=
	for box in md all.mbox; do
		$MAILSHIFT dedup --json $opt "$TMP/$box" >"$TMP/out.json" 2>"$TMP/err"
		expect_eq "$key $box: exit status" "$?" 0
		pairs <"$TMP/out.json" >"$TMP/got"
		expect_eq "$key $box: duplicate sets as the oracle" "$(cat "$TMP/got")" "$(cat "$TMP/expect.$key")"
	done
	# hashes cut to 2 bits (the test hooks, need_hooks above): four hash
	# sets for 30 messages, yet the same duplicate sets after the comparisons
	MAILSHIFT_HASH_BITS=2 $MAILSHIFT dedup --json $opt "$TMP/md" 2>/dev/null | pairs >"$TMP/got"
	expect_eq "$key 2-bit hashes: the same sets" "$(cat "$TMP/got")" "$(cat "$TMP/expect.$key")"
done

# the oracle itself is not trivial: the sets it expects per key, by hand
expect_eq "default pairs" "$(tr '\n' ';' <"$TMP/expect.default")" \
	"1 0;3 2;4 2;6 5;10 9;15 14;17 16;19 18;21 20;23 22;27 26;29 28;"
expect_eq "message-id pairs" "$(tr '\n' ';' <"$TMP/expect.message-id")" \
	"1 0;3 2;4 2;6 5;8 7;10 9;15 14;17 16;19 18;21 20;23 22;27 26;29 28;"
expect_eq "body pairs" "$(tr '\n' ';' <"$TMP/expect.body")" \
	"1 0;3 2;4 2;6 5;10 9;11 9;13 12;15 14;17 16;19 18;21 20;23 22;25 24;27 26;29 28;"
expect_eq "full pairs" "$(tr '\n' ';' <"$TMP/expect.full")" "1 0;4 2;6 5;10 9;19 18;23 22;29 28;"
expect_eq "headers pairs" "$(tr '\n' ';' <"$TMP/expect.headers")" \
	"1 0;3 2;4 2;6 5;8 7;10 9;15 14;17 16;19 18;21 20;23 22;29 28;"

# text report: one line per duplicate, then the summary
$MAILSHIFT dedup "$TMP/md" >"$TMP/out.txt" 2>/dev/null
expect_eq "text line" "$(sed -n 1p "$TMP/out.txt")" \
	"$TMP/md/cur/1700000001.M1P1Q1.gen:2,R duplicate of $TMP/md/cur/1700000000.M0P1Q0.gen:2,"
expect_eq "text summary" "$(tail -n 1 "$TMP/out.txt")" \
	"30 messages in 1 mailbox: 12 duplicates in 11 sets, $(python3 -c '
import os, sys
d = sys.argv[1] + "/md/cur/"
print(sum(os.path.getsize(d + n) for n in sorted(os.listdir(d)) if int(n.split(".")[0]) - 1700000000 in (1,3,4,6,10,15,17,19,21,23,27,29)))' "$TMP") bytes"
$MAILSHIFT dedup --key=full "$TMP/all.mbox" >"$TMP/out.txt" 2>/dev/null
expect_eq "mbox path is FILE:OFFSET" "$(sed -n 1p "$TMP/out.txt")" \
	"$TMP/all.mbox:$(sed -n 2p "$TMP/offsets") duplicate of $TMP/all.mbox:0"

# --dry-run --delete: says what it would do, changes nothing
cp -R "$TMP/md" "$TMP/md.dry"
before=$(cd "$TMP/md.dry" && find . -type f | sort)
$MAILSHIFT dedup --dry-run --delete "$TMP/md.dry" >"$TMP/out.txt" 2>&1
expect_eq "dry-run: would delete lines" "$(grep -c '^would delete ' "$TMP/out.txt")" 12
expect_eq "dry-run: would add flags lines" "$(grep -c '^would add flags ' "$TMP/out.txt")" 6
expect_eq "dry-run: nothing changed" "$(cd "$TMP/md.dry" && find . -type f | sort)" "$before"

# --delete on the Maildir: one per set, flags merged onto the kept copy
for key in default full body; do
	opt=--key=$key
	[ $key = default ] && opt=
	rm -rf "$TMP/md.del"
	cp -R "$TMP/md" "$TMP/md.del"
	$MAILSHIFT dedup -q --delete $opt "$TMP/md.del"
	expect_eq "$key delete: exit" "$?" 0
	python3 - "$TMP" "$key" <<'EOF' >"$TMP/check.out"
import os, sys
t, k = sys.argv[1], sys.argv[2]
dups = {int(l.split()[0]) for l in open(t + "/expect." + k) if l.strip()}
flags = {int(l.split()[0]): l.split()[1] if len(l.split()) > 1 else ""
         for l in open(t + "/flags." + k)}
names = [l.strip() for l in open(t + "/names")]
left = {}
for n in os.listdir(t + "/md.del/cur") + os.listdir(t + "/md.del/new"):
    left[int(n.split(".")[0]) - 1700000000] = n.rsplit(":2,", 1)[1] if ":2," in n else ""
want = {i for i in range(len(names)) if i not in dups}
print("set" if set(left) == want else "set %s != %s" % (sorted(left), sorted(want)))
bad = [(i, left[i], flags[i]) for i in flags if left.get(i) != flags[i]]
print("flags" if not bad else "flags %s" % bad)
same = all(open(t + "/md.del/cur/" + n, "rb").read() == open(t + "/md/" + names[i], "rb").read()
           for i in left for n in os.listdir(t + "/md.del/cur") if int(n.split(".")[0]) - 1700000000 == i)
print("bytes" if same else "bytes differ")
EOF
	expect_eq "$key delete: survivors, merged flags, contents" "$(tr '\n' ' ' <"$TMP/check.out")" "set flags bytes "
	$MAILSHIFT dedup --json $opt "$TMP/md.del" >"$TMP/out.json" 2>/dev/null
	expect_eq "$key delete: rerun finds nothing" "$(grep -c '"duplicate":' "$TMP/out.json")" 0
done

# --delete on the mbox: same inode, survivors byte for byte apart from the
# flag headers, flags merged into Status/X-Status
cp "$TMP/all.mbox" "$TMP/del.mbox"
ino=$(ls -i "$TMP/del.mbox" | cut -d' ' -f1)
$MAILSHIFT dedup -q --delete "$TMP/del.mbox"
expect_eq "mbox delete: exit" "$?" 0
expect_eq "mbox delete: same inode" "$(ls -i "$TMP/del.mbox" | cut -d' ' -f1)" "$ino"
expect_eq "mbox delete: no journal left" "$(ls "$TMP" | grep -c journal)" 0
python3 - "$TMP" <<'EOF' >"$TMP/check.out"
import mailbox, sys
t = sys.argv[1]
dups = {int(l.split()[0]) for l in open(t + "/expect.default")}
flags = {int(l.split()[0]): (l.split() + [""])[1] for l in open(t + "/flags.default")}
orig = list(mailbox.mbox(t + "/all.mbox"))
keep = [i for i in range(len(orig)) if i not in dups]
got = list(mailbox.mbox(t + "/del.mbox"))
print("count %d/%d" % (len(got), len(keep)))
strip = lambda m: [(k, v) for k, v in m.items() if k.lower() not in ("status", "x-status")]
print("content", all(strip(g) == strip(orig[i]) and g.get_payload() == orig[i].get_payload()
                     for g, i in zip(got, keep)))
def fl(m):
    s = m.get("Status", "") + m.get("X-Status", "")
    return "".join(sorted({"R": "S", "A": "R", "F": "F"}[c] for c in s if c in "RAF"))
print("flags", all(fl(g) == "".join(sorted(set(flags[i]) - set("PDT"))) for g, i in zip(got, keep) if i in flags))
EOF
expect_eq "mbox delete: survivors and flags (python mailbox)" "$(tr '\n' ' ' <"$TMP/check.out")" \
	"count 18/18 content True flags True "
$MAILSHIFT dedup --json "$TMP/del.mbox" >"$TMP/out.json" 2>/dev/null
expect_eq "mbox delete: rerun finds nothing" "$(grep -c '"duplicate":' "$TMP/out.json")" 0

# --keep: which copy stays
$MAILSHIFT dedup --json --keep=largest --key=full "$TMP/all.mbox" >"$TMP/out.json" 2>/dev/null
expect_eq "keep=largest: CRLF copy kept" "$(pairs <"$TMP/out.json" | grep -c '^5 6$')" 1
$MAILSHIFT dedup --json --keep=smallest --key=full "$TMP/all.mbox" >"$TMP/out.json" 2>/dev/null
expect_eq "keep=smallest: LF copy kept" "$(pairs <"$TMP/out.json" | grep -c '^6 5$')" 1
touch -d '2001-01-01' "$TMP/md/cur/1700000001.M1P1Q1.gen:2,R"
$MAILSHIFT dedup --json --keep=oldest "$TMP/md" >"$TMP/out.json" 2>/dev/null
expect_eq "keep=oldest: older file kept" "$(pairs <"$TMP/out.json" | sed -n 1p)" "0 1"
$MAILSHIFT dedup --json --keep=newest "$TMP/md" >"$TMP/out.json" 2>/dev/null
expect_eq "keep=newest: newer file kept" "$(pairs <"$TMP/out.json" | sed -n 1p)" "1 0"

# usage errors
expect_status "unknown key" 64 $MAILSHIFT dedup --key=nope "$TMP/md"
expect_status "unknown keep" 64 $MAILSHIFT dedup --keep=nope "$TMP/md"
expect_status "no mailbox" 64 $MAILSHIFT dedup
expect_status "delete and move" 64 $MAILSHIFT dedup --delete --move-to="$TMP/q" "$TMP/md"
expect_status "same mailbox twice" 64 $MAILSHIFT dedup "$TMP/md" "$TMP/md/"
expect_status "stdin" 64 $MAILSHIFT dedup -
expect_status "missing mailbox" 66 $MAILSHIFT dedup "$TMP/none"

done_testing
