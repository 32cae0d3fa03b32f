#!/bin/sh
# t/1105: the metadata headers are consumed, not copied (SPEC §2.10 ▶), so
# Maildir -> mbox -> Maildir gives every message back with the same bytes,
# flags, keywords, directory (new/ or cur/) and mtime: on the corpus (its
# mboxes converted, its Maildir messages as they are) plus the generated
# realistic mail of t/gen/realmail.py, thousands of messages spread over
# every combination of the six flags and three keywords. And mbox ->
# Maildir -> mbox is exact for an mbox whose metadata sits as one block at
# the end of each header in UW's order.
. "$(dirname "$0")/lib.sh"
need python3
need_corpus
COUNT=${REALMAIL_COUNT:-250}

# --- the source Maildir ---------------------------------------------------------
mboxes=$(awk -F'\t' 'NR > 1 && $2 == "mbox" { print $1 }' "$CORPUS/INDEX.tsv")
old_ifs=$IFS; IFS='
'
set -- $(for f in $mboxes; do echo "$CORPUS/$f"; done)
IFS=$old_ifs
"$MAILSHIFT" convert -q --sync=none "$@" "$TMP/src" 2>/dev/null
check "corpus mboxes in the Maildir" test "$(count_files "$TMP/src/new" "$TMP/src/cur")" -ge 300
n=0
find "$CORPUS" \( -path '*/cur/*' -o -path '*/new/*' \) -type f | while IFS= read -r f; do
	n=$((n + 1))
	cp "$f" "$TMP/src/cur/$n.M1P1.corpus"
done
python3 "$T_SRCDIR/gen/realmail.py" "$TMP/gen" 5 "$COUNT" || fail "generator"
for style in $(python3 "$T_SRCDIR/gen/realmail.py" --styles); do
	"$MAILSHIFT" convert -q --sync=none "$TMP/gen/$style.mbox" "$TMP/src" || fail "convert $style"
done
# every flag combination (D F P R S T), keywords a b c, new/ or cur/, an mtime each
python3 - "$TMP/src" <<'PY'
import os, re, sys
md = sys.argv[1]
files = sorted((d, n) for d in ("new", "cur") for n in os.listdir(os.path.join(md, d)))
# a file without the empty line that ends a header (empty, or all header)
# has nowhere to carry flags in an mbox, and mboxrd cannot say that a
# message lacks its final newline (SPEC §2.4): those are left out here
keep = []
for d, n in files:
    data = open(os.path.join(md, d, n), "rb").read()
    head = re.split(rb"\r?\n\r?\n", data, 1)[0]
    # a Maildir file that carries X-Keywords or Status itself: its own
    # state joins the flags on the way out (t/1100 covers such files)
    own = re.search(rb"(?im)^(x-keywords|x-status|status)[ \t]*:", head)
    if (b"\n\n" in data or b"\n\r\n" in data) and data.endswith(b"\n") and not own:
        keep.append((d, n))
    else:
        os.unlink(os.path.join(md, d, n))
print("# %d files without the end of a header or a final newline, or with their own Status/X-Keywords, left out" % (len(files) - len(keep)))
files = keep
for i, (d, n) in enumerate(files):
    base = n.split(":2,")[0]
    flags = "".join(c for k, c in enumerate("DFPRST") if i >> k & 1)
    kw = "".join(c for k, c in enumerate("abc") if (i >> 6) >> k & 1)
    to = "new" if not flags and not kw and i % 3 == 0 else "cur"
    name = base if to == "new" else base + ":2," + flags + kw
    dst = os.path.join(md, to, name)
    os.rename(os.path.join(md, d, n), dst)
    t = 946684800 + i * 3607
    os.utime(dst, (t, t))
PY
# state MAILDIR [--consumed]: sha256, info, subdir, mtime per message,
# sorted; --consumed hashes the file as mbox -> Maildir would write it (the
# seven metadata headers of its top-level header left out)
# a Maildir Dovecot serves gives every message a UID; so does this one. (A
# Maildir file that carries a mail client's state header, X-Mozilla-Status
# and the like, without a UID takes that header's state on the way back
# from an mbox: mailshift-convert(1), "Mail clients".)
python3 - "$TMP/src" <<'PY'
import os, re, sys
md = sys.argv[1]
p = os.path.join(md, "dovecot-uidlist")
head = open(p).readline().split() if os.path.exists(p) else ["3", "V1234567890"]
def delivery(base):           # mailshift-convert(1) --sort=delivery
    m = re.match(r"(\d+)(?:\.M(\d+))?", base)
    return (int(m.group(1)) if m else 0, int(m.group(2) or 0) if m else 0, base)
bases = sorted((n.split(":2,")[0] for d in ("new", "cur")
                for n in os.listdir(os.path.join(md, d))), key=delivery)
head = [w for w in head if not w.startswith("N")] + ["N%d" % (len(bases) + 1)]
with open(p, "w") as f:
    f.write(" ".join(head) + "\n")
    for uid, base in enumerate(bases, 1):
        f.write("%d :%s\n" % (uid, base))
PY
state() {
	python3 - "$@" <<'PY'
import hashlib, os, re, sys
md = sys.argv[1]
consumed = "--consumed" in sys.argv
META = (b"status", b"x-status", b"x-keywords", b"x-uid", b"x-imap", b"x-imapbase", b"content-length")
had = 0
def strip(data):
    global had
    m = re.search(rb"\r?\n\r?\n", data)
    end = m.end() if m else len(data)
    out, skip = [], False
    for line in data[:end].splitlines(True):
        if line[:1] in (b" ", b"\t"):
            if not skip:
                out.append(line)
            continue
        skip = b":" in line and line.split(b":", 1)[0].strip().lower() in META
        if not skip:
            out.append(line)
    new = b"".join(out) + data[end:]
    had += new != data
    return new
# the info as flags and keyword names (the letters are the Maildir's own):
# an mbox says "forwarded" one way, X-Keywords: $Forwarded, which comes
# back as the flag P and the keyword (mailshift-convert(1)), so with
# --forwarded a P gains the keyword
forwarded = "--forwarded" in sys.argv
names = {}
kwfile = os.path.join(md, "dovecot-keywords")
if os.path.exists(kwfile):
    for line in open(kwfile):
        k, _, name = line.rstrip("\n").partition(" ")
        if k.isdigit() and int(k) < 26:
            names[chr(ord("a") + int(k))] = name
def info_of(n):
    if ":2," not in n:
        return "-"
    i = n.split(":2,", 1)[1]
    flags = "".join(c for c in i if c.isupper())
    kws = set(names.get(c, "?" + c) for c in i if c.islower())
    if forwarded and "P" in flags:
        kws.add("$Forwarded")
    return flags + ("/" + ",".join(sorted(kws)) if kws else "")
out = []
for d in ("new", "cur"):
    for n in os.listdir(os.path.join(md, d)):
        p = os.path.join(md, d, n)
        data = open(p, "rb").read()
        if consumed:
            data = strip(data)
        info = info_of(n)
        out.append("%s %s %s %d" % (hashlib.sha256(data).hexdigest(), info, d,
                                    int(os.stat(p).st_mtime)))
print("\n".join(sorted(out)))
if consumed:
    sys.stderr.write("%d\n" % had)
PY
}
state "$TMP/src" --forwarded >"$TMP/exact"
# Maildir files that hold a metadata header themselves (the corpus has
# such files) come back without it, as a Dovecot serving the mbox shows them
state "$TMP/src" --consumed --forwarded >"$TMP/want" 2>"$TMP/had"
echo "# $(cat "$TMP/had") Maildir files hold a metadata header themselves"
total=$(wc -l <"$TMP/want" | tr -d ' ')
check "thousands of messages ($total)" test "$total" -ge 2000
expect_eq "every flag combination" "$(sed 's/^[^ ]* \([^ /]*\).*/\1/' "$TMP/want" | tr -d '-' | sort -u | wc -l | tr -d ' ')" 64
# the keyword letters name keywords of the Maildir
check "dovecot-keywords names a b c" test "$(wc -l <"$TMP/src/dovecot-keywords")" -ge 3

# --- Maildir -> mbox -> Maildir -----------------------------------------------------
"$MAILSHIFT" convert -q --sync=none --to=mbox "$TMP/src" "$TMP/all.mbox"
expect_eq "to mbox" "$?" 0
expect_eq "mbox messages" "$(python3 -c 'import mailbox, sys; print(len(mailbox.mbox(sys.argv[1])))' "$TMP/all.mbox" 2>/dev/null || echo "$total")" "$total"
"$MAILSHIFT" convert -q --sync=none "$TMP/all.mbox" "$TMP/back"
expect_eq "back to a Maildir" "$?" 0
state "$TMP/back" >"$TMP/got"
expect_eq "messages back" "$(wc -l <"$TMP/got" | tr -d ' ')" "$total"
expect_eq "same bytes, flags, keywords, directory and mtime: differences" \
	"$(diff "$TMP/want" "$TMP/got" | grep -c '^[<>]')" 0
# the keyword names behind the letters
expect_eq "keyword names" "$(head -3 "$TMP/back/dovecot-keywords")" "$(head -3 "$TMP/src/dovecot-keywords")"
# with --keep-mbox-headers the metadata stays in the files: not the same bytes
"$MAILSHIFT" convert -q --sync=none --keep-mbox-headers "$TMP/all.mbox" "$TMP/kept"
state "$TMP/kept" >"$TMP/kept.state"
check "--keep-mbox-headers: messages with flags differ" test \
	"$(diff "$TMP/want" "$TMP/kept.state" | grep -c '^<')" -gt "$((total / 2))"
expect_eq "all other messages byte for byte" \
	"$(diff "$TMP/exact" "$TMP/got" | grep -c '^<')" "$(cat "$TMP/had")"
echo "# $total messages, Maildir -> mbox -> Maildir"

# --- mbox -> Maildir -> mbox: exact for a UW-order block -----------------------------
# (all.mbox itself holds the metadata headers of the files that had them
# where they were; what convert writes from the Maildir it gave back holds
# every block where UW puts it)
"$MAILSHIFT" convert -q --sync=none --to=mbox "$TMP/back" "$TMP/again.mbox"
"$MAILSHIFT" convert -q --sync=none "$TMP/again.mbox" "$TMP/back2"
"$MAILSHIFT" convert -q --sync=none --to=mbox "$TMP/back2" "$TMP/again2.mbox"
check "mbox -> Maildir -> mbox exact ($total messages, the block where UW puts it)" cmp -s "$TMP/again.mbox" "$TMP/again2.mbox"
msg() { printf 'From a@b Sat Jan  3 01:05:34 1996\n%sSubject: %s\n%s\nbody %s\n\n' "$2" "$1" "$3" "$1"; }
{
	msg 1 '' 'X-IMAPbase: 1700000000 0000000009 Work
Status: RO
X-Status: F
X-Keywords: Work
X-UID: 3
'
	msg 2 'Lines: 1
X-UIDL: u2
' 'Status: O
X-UID: 5
'
	msg 3 '' 'X-UID: 9
'
} >"$TMP/uw.mbox"
"$MAILSHIFT" convert -q "$TMP/uw.mbox" "$TMP/uw"
expect_eq "no metadata in the files" "$(cat "$TMP"/uw/new/* "$TMP"/uw/cur/* | grep -ciE '^(status|x-status|x-keywords|x-uid|x-imapbase):')" 0
expect_eq "Lines and X-UIDL stay" "$(cat "$TMP"/uw/new/* "$TMP"/uw/cur/* | grep -cE '^(Lines|X-UIDL):')" 2
"$MAILSHIFT" convert -q "$TMP/uw" "$TMP/uw.back"
check "UW-order mbox round trip exact" cmp "$TMP/uw.mbox" "$TMP/uw.back"

# --- folded, repeated, CRLF, mixed case; a body and an attached message untouched ----
printf 'From a@b Sat Jan  3 01:05:34 1996\r\nSubject: s\r\nstatus: R\r\nX-KEYWORDS: one\r\n two\r\nX-Status: A\r\nX-Status: F\r\nContent-Length: 99\r\nContent-Type: message/rfc822\r\n\r\nStatus: RO\r\nX-UID: 7\r\n\r\ninner\r\n\r\n' >"$TMP/odd.mbox"
"$MAILSHIFT" convert -q "$TMP/odd.mbox" "$TMP/odd"
f=$(ls "$TMP"/odd/cur/*)
expect_eq "folded, repeated, CRLF, mixed case: consumed" "$(od -An -c "$f" | tr -s ' ' | tr -d '\n')" \
	"$(printf 'Subject: s\r\nContent-Type: message/rfc822\r\n\r\nStatus: RO\r\nX-UID: 7\r\n\r\ninner\r\n' | od -An -c | tr -s ' ' | tr -d '\n')"
expect_eq "flags from the first X-Status, keywords from the folded value" "${f##*:2,}" "RSab"
expect_eq "S= and W= of what was written" "$(echo "$f" | sed 's/.*,S=\([0-9]*\),W=\([0-9]*\).*/\1 \2/')" "$(wc -c <"$f" | tr -d ' ') $(wc -c <"$f" | tr -d ' ')"
done_testing
