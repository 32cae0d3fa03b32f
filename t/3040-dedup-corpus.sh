#!/bin/sh
# mailshift dedup on real duplicates written by other people (t/corpus):
# mail-deduplicate's eml-box (two byte-identical files), notmuch's duplicate
# corpus (copies differing in trace headers, one Message-ID over different
# bodies) and mu's testdir2 (duplicates across folders). Every key's sets
# are compared with an independent Python oracle.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need_corpus
need python3

cat >"$TMP/oracle.py" <<'EOF2'
# usage: oracle.py KEY FILE...  -> the duplicate sets, one per line, as
# sorted space-separated file names (sets of one are not printed)
import re, sys
META = {b"status", b"x-status", b"x-keywords", b"x-uid", b"x-imap", b"x-imapbase",
        b"content-length", b"lines"}
def split(m):
    i = 0
    while i < len(m):
        if m[i:i + 1] == b"\n":
            return m[:i + 1], m[i + 1:]
        if m[i:i + 2] == b"\r\n":
            return m[:i + 2], m[i + 2:]
        j = m.find(b"\n", i)
        if j < 0:
            break
        i = j + 1
    return m, b""
def fields(h):
    out = []
    for l in h.split(b"\n")[:-2]:
        if l[:1] in (b" ", b"\t") and out:
            out[-1][1] += b"\n" + l
        else:
            n, _, v = l.partition(b":")
            out.append([n.strip(), v])
    return out
def unfold(v):
    return re.sub(rb"\r?\n(?=[ \t])", b"", v).strip()
def mid(h):
    for n, v in fields(h):
        if n.lower() == b"message-id":
            v = re.sub(rb"\([^)]*\)", b"", unfold(v)).strip()
            if b"<" in v:
                a = v.index(b"<"); b = v.find(b">", a)
                v = v[a + 1:b] if b > 0 else b""
            elif b" " in v or b"@" not in v:
                v = b""
            return v or None
    return None
lf = lambda s: s.replace(b"\r\n", b"\n")
def full(h, b):
    out, skip = [], False
    for l in h.split(b"\n")[:-2]:
        if l[:1] in (b" ", b"\t"):
            if not skip: out.append(l)
            continue
        skip = l.partition(b":")[0].strip().lower() in META
        if not skip: out.append(l)
    return b"full:" + lf(b"\n".join(out) + b"\n\n" + b)
def key(m, k):
    h, b = split(m)
    i = mid(h)
    if i is None and k != "body": return full(h, b)
    if k == "message-id": return b"id:" + i
    if k == "body": return b"body:" + lf(b)
    if k == "default": return b"id:" + i + b"\nbody:" + lf(b)
    if k == "full": return full(h, b)
    f = {n.lower(): v for n, v in reversed(fields(h))}
    norm = lambda v: re.sub(rb"[ \t]+", b" ", unfold(v.replace(b"\r", b"")))
    return b"hdr:" + b"\n".join(n + b":" + norm(f[n.lower()]) if n.lower() in f else n
        for n in [b"From", b"To", b"Cc", b"Subject", b"Date"]) + b"id:" + i
sets = {}
for p in sys.argv[2:]:
    sets.setdefault(key(open(p, "rb").read(), sys.argv[1]), []).append(p)
for s in sorted(" ".join(sorted(v)) for v in sets.values() if len(v) > 1):
    print(s)
EOF2

# dedup --json output -> the same sets, file names resolved by $2 (sed)
sets() {
	python3 -c '
import json, sys
g = {}
for l in sys.stdin:
    j = json.loads(l)
    if "duplicate" in j:
        k, d = j["kept"], j["duplicate"]
        g.setdefault(k, {k}).add(d)
for s in sorted(" ".join(sorted(v)) for v in g.values()):
    print(s)'
}

# loose message files -> a maildir, one file each, in name order
mkmaildir() {
	dst=$1; shift
	mkdir -p "$dst/cur" "$dst/new" "$dst/tmp"
	i=0
	for f in "$@"; do
		i=$((i + 1))
		cp "$f" "$dst/cur/$((1600000000 + i)).M${i}P1Q$i.$(basename "$f" | tr -d ':,')"
	done
}

mkmaildir "$TMP/eml" "$CORPUS"/mail-deduplicate/eml-box/*.eml
mkmaildir "$TMP/nm" "$CORPUS"/notmuch/corpora/duplicate/msg-*
for key in default message-id body full headers; do
	for box in eml nm; do
		$MAILSHIFT dedup --json --key=$key "$TMP/$box" 2>/dev/null | sets | sed "s|$TMP/$box/cur/||g" >"$TMP/got"
		(cd "$TMP/$box/cur" && python3 "$TMP/oracle.py" $key *) >"$TMP/want"
		expect_eq "$box $key: sets as the oracle" "$(cat "$TMP/got")" "$(cat "$TMP/want")"
		[ $box = eml ] && expect_eq "eml $key: the byte-identical pair" "$(cat "$TMP/got")" \
			"1600000001.M1P1Q1.duplicate-a.eml 1600000002.M2P1Q2.duplicate-b.eml"
	done
done
# the notmuch corpus by hand: three Message-IDs; the trace-header copies are
# duplicates, the copies with other bodies are not
expect_eq "notmuch message-id: 3 sets" "$($MAILSHIFT dedup --json --key=message-id "$TMP/nm" 2>/dev/null | sets | wc -l | tr -d ' ')" 3
$MAILSHIFT dedup --json "$TMP/nm" >"$TMP/out" 2>/dev/null
expect_eq "notmuch default: fewer duplicates than by Message-ID" \
	"$(sed -n 's/.*"duplicates":\([0-9]*\).*/\1/p' "$TMP/out")" \
	"$(cd "$TMP/nm/cur" && python3 "$TMP/oracle.py" default * | awk '{ n += NF - 1 } END { print n + 0 }')"

# eml-box --delete: one of the pair goes, the other three stay byte for byte
$MAILSHIFT dedup -q --delete "$TMP/eml"
expect_eq "eml delete: 3 left" "$(ls "$TMP/eml/cur" | tr '\n' ' ')" \
	"1600000001.M1P1Q1.duplicate-a.eml 1600000003.M3P1Q3.unique-one.eml 1600000004.M4P1Q4.unique-two.eml "
check "eml delete: kept copy intact" cmp -s "$TMP/eml/cur/1600000001.M1P1Q1.duplicate-a.eml" \
	"$CORPUS/mail-deduplicate/eml-box/duplicate-a.eml"

# mu testdir2: three maildirs, duplicates across folders
mu="$CORPUS/mu/testdata/testdir2"
cp -R "$mu" "$TMP/mu"
for key in default message-id body full headers; do
	$MAILSHIFT dedup -q --json --key=$key "$TMP/mu/Foo" "$TMP/mu/bar" "$TMP/mu/wom_bat" 2>/dev/null |
		sets | sed "s|$TMP/mu/||g" >"$TMP/got"
	(cd "$TMP/mu" && python3 "$TMP/oracle.py" $key $(for f in */cur/* */new/*; do
		case $f in */.*) ;; *) [ -f "$f" ] && echo "$f" ;; esac; done)) >"$TMP/want"
	expect_eq "mu $key: sets as the oracle" "$(cat "$TMP/got")" "$(cat "$TMP/want")"
	cp "$TMP/got" "$TMP/got.$key"
done
# bar/cur/mail6 and wom_bat/cur/atomic share a Message-ID across folders but
# their bodies differ: the same set by Message-ID, none by default
expect_eq "mu message-id: the cross-folder pair" "$(cat "$TMP/got.message-id")" "bar/cur/mail6 wom_bat/cur/atomic"
expect_eq "mu default: not duplicates" "$(cat "$TMP/got.default")" ""

# teaparty: 95 messages, every one with its own Message-ID: no duplicates
$MAILSHIFT dedup --json "$CORPUS/gnu-mailutils/spool/teaparty.mbox" >"$TMP/out" 2>/dev/null
expect_eq "teaparty: no duplicates" "$(tail -n 1 "$TMP/out" | sed 's/.*"messages":\([0-9]*\),"sets":\([0-9]*\),"duplicates":\([0-9]*\).*/\1 \2 \3/')" "95 0 0"
# pipermail and hyperkitty archives of one month are byte-identical mboxes
p="$CORPUS/perceval"
if [ -f "$p/hyperkitty/hyperkitty_2016_april.mbox" ]; then
	$MAILSHIFT dedup --json --key=full "$p/pipermail/pipermail_2016_april.mbox" \
		"$p/hyperkitty/hyperkitty_2016_april.mbox" >"$TMP/out" 2>/dev/null
	expect_eq "perceval: 3 cross-file duplicates" "$(grep -c '"duplicate":".*hyperkitty.*"kept":".*pipermail' "$TMP/out")" 3
fi

done_testing
