#!/bin/sh
# check and convert read an mbox by one boundary rule: the same hostile
# mboxes (generated here) go through `mailshift check --json` and
# `mailshift convert`, and both must agree with each other and with an
# independent oracle written from the format page (t/oracle/mbox-boundaries.py):
# the number of messages, the offset of every unquoted From line, every
# missing separator and every Content-Length that does not land, the end of
# a file without a final line end, mixed line ends, and the bytes of every
# message convert writes. Where Python's mailbox.mbox splits the same way
# (no unquoted From line, no Content-Length), its messages must be ours too.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need python3

C=$TMP/cases
mkdir "$C" || exit 99
# 40 random mboxes; 8 under valgrind (scripts/test tier 3), where each
# run costs a second: the named cases are there in every tier
nrand=40
[ "${MAILSHIFT_VALGRIND:-0}" = 1 ] && nrand=8
python3 - "$C" "$nrand" <<'EOF' || fail "generating the mboxes: exit $?"
import os, random, sys
d = sys.argv[1]
F1 = b"From a@b Mon Jan  1 00:00:00 2024\n"
F2 = b"From b@c Tue Feb  2 01:02:03 2025\n"
F3 = b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n"
BIG = b"x" * (1536 * 1024)          # longer than any buffer but the reader's
cases = {
    # name: (bytes, Python agrees)
    "clean": (F1 + b"S: a\n\nbody\n>From quoted\n>>From twice\n\n" + F2 + b"S: b\n\nb\n", True),
    "unquoted": (F1 + b"S: a\n\nFrom here on\nFrom x\n\n" + F2 + b"S: b\n\nFrom \n", False),
    "missing-sep": (F1 + b"S: a\n\nbody\n" + F2 + b"S: b\n\nbody\n" + F3 + b"S: c\n\nc\n", True),
    "cl-long": (F1 + b"Content-Length: 40\n\nbody\n\n" + F2 + b"S: b\n\nb\n", True),
    "cl-short": (F1 + b"Content-Length: 2\n\nbody\nFrom here\n\n" + F2 + b"S: b\n\nb\n", False),
    "cl-past-eof": (F1 + b"Content-Length: 99999\n\nbody\n", True),
    "cl-junk": (F1 + b"Content-Length: 1x\n\nbody\n\n" + F2 + b"Content-Length: 5\n"
                b"content-length: 6\n\nbody\n\n" + F3 + b"Content-Length: \n\nc\n", True),
    "cl-no-body": (F1 + b"Content-Length: 3\n\n" + F2 + b"S: b\n\nb\n", True),
    "cl-protects": (F1 + b"Content-Length: 22\n\nFrom here\n>From there\n\n" + F2 +
                    b"Content-Length: 10\n\nFrom here\n", False),
    "cl-one-of-two": (F1 + b"Content-Length: 22\n\nFrom here\n>From there\n\n" + F2 +
                      b"S: b\n\n>From q\nFrom x\n", False),
    "crlf": (F1[:-1] + b"\r\nS: a\r\n\r\nbody\r\n>From q\r\n\r\n" + F2[:-1] +
             b"\r\nS: b\r\n\r\nb\r\n", True),
    "crlf-missing-sep": (F1[:-1] + b"\r\nS: a\r\n\r\nbody\r\n" + F2[:-1] + b"\r\nS: b\r\n\r\n", True),
    "mixed-eol": (F1[:-1] + b"\r\nS: a\r\n\r\nb\r\n\r\n" + F2 + b"S: b\n\nc\n", True),
    "no-final-newline": (F1 + b"S: a\n\nbody\n\n" + F2 + b"S: b\n\nno line end", True),
    "no-final-newline-cl": (F1 + b"Content-Length: 1\n\nab", True),
    "huge-body-line": (F1 + b"S: a\n\n" + BIG + b"\nFrom here\n" + BIG + b"\n\n" + F2 + b"S: b\n\n" + BIG, False),
    "huge-header-line": (F1 + b"S: a\nX-Big: " + BIG + b"\nContent-Length: 3\n\nbody\n\n" + F2 +
                         b"S: b\n\nb\n", False),
    "nul": (F1 + b"S: \0a\n\na\0b\nFrom \0x\n\0\n\n" + F2 + b"S: b\n\n\0", False),
    "header-without-colon": (F1 + b"no colon\n" + F2 + b"S: b\n\nb\n\n" + F3 + b"S: c\nplain\n" +
                             F1 + b"S: d\n\nd\n", False),
    "empty-message": (F1 + b"\n" + F2 + b"S: b\n\nb\n\n" + F3 + b"\n", True),
    "stamps": (F1 + F3 + b">From x\nS: a\n\nbody\n\n" + F2 + b"S: b\n" + F1 + b"S: c\n\nc\n", False),
    "header-to-eof": (F1 + b"S: a\n\nbody\n\n" + F2 + b"S: b\nT: c\n", True),
    "empty-lines-first": (b"\n\r\n" + F1 + b"S: a\n\nbody\n", True),
}
for name, (data, py) in cases.items():
    with open(os.path.join(d, name + (".py" if py else "") + ".mbox"), "wb") as f:
        f.write(data)
# and random ones from the same pieces
rnd = random.Random(2080)
froms = [F1, F2, F3]
hdr = [b"Subject: x", b"From: a@b", b"X: y", b"Content-Length: %d", b"Content-Length: abc",
       b">From x", b"From x y", b"Status: RO", b"no colon", b"x\0y"]
body = [b"body", b"", b"From here", F1[:-1], b">From q", b">>From q", b"x\0y", b"From \0",
        b"a" * 3000]
for k in range(int(sys.argv[2])):
    out = b""
    for i in range(rnd.randint(1, 6)):
        e = rnd.choice([b"\n"] * 6 + [b"\r\n"])
        out += rnd.choice(froms)[:-1] + e
        for h in rnd.sample(hdr, rnd.randint(0, 4)):
            out += (h % rnd.randint(0, 80) if b"%d" in h else h) + e
        if rnd.random() < 0.9:
            out += e
        for j in range(rnd.randint(0, 6)):
            out += rnd.choice(body) + e
        if rnd.random() < 0.8:
            out += e
    if rnd.random() < 0.2:
        out = out.rstrip(b"\r\n")
    with open(os.path.join(d, "random%02d.mbox" % k), "wb") as f:
        f.write(out)
EOF
check "$nrand random mboxes and the named ones" test "$(ls "$C" | wc -l)" -ge $((nrand + 20))

python3 "$ORACLE/mbox-boundaries.py" --batch "$C" || fail "the oracle: exit $?"

# check: "messages N" and "CODE OFFSET" per finding, in its order
check_facts() {
	"$MAILSHIFT" check --json "$1" >"$TMP/check.json" 2>"$TMP/check.err"
	st=$?
	[ $st -le 1 ] || echo "status $st"
	sed -n 's/.*, \([0-9]*\) messages\{0,1\}, .*/messages \1/p' "$TMP/check.err"
	sed 's/.*"code":"\([A-Z-]*\)".*"offset":\([0-9]*\)}$/\1 \2/' "$TMP/check.json"
}
# convert: "messages N" (files written) and its warnings about boundaries
convert_facts() {
	rm -rf "$2"
	"$MAILSHIFT" convert --keep-mbox-headers "$1" "$2" >/dev/null 2>"$TMP/convert.err" || echo "status $?"
	echo "messages $(count_files "$2/new" "$2/cur")"
	sed -n "s|^mailshift convert: warning: $1:\([0-9]*\): \(.*\)|\2 \1|p" "$TMP/convert.err" |
		sed -n 's/^unquoted From_ line inside message.* \([0-9]*\)$/UNQUOTED \1/p
			s/^From_ line without an empty line before it \([0-9]*\)$/MISSING \1/p
			s/^Content-Length does not end at a message boundary; ignored \([0-9]*\)$/CONTENT-LENGTH \1/p' |
		LC_ALL=C sort
}
offsets() { sed -n "s/^$1 //p" "$2" | LC_ALL=C sort; }

# 1. both paths on every mbox; the messages are hashed in one Python run
: >"$TMP/ours.jobs"
: >"$TMP/py.jobs"
n=0
for mb in "$C"/*.mbox; do
	name=${mb%.mbox}
	check_facts "$mb" >"$name.check.got"
	convert_facts "$mb" "$name.D" >"$name.convert.got"
	maildir_files "$name.D" >"$name.files"
	printf '%s\t%s\n' "$name.files" "$name.digests.got" >>"$TMP/ours.jobs"
	case $name in *.py) printf -- '--unquote --crlf\t%s\t%s\n' "$mb" "$name.py.got" >>"$TMP/py.jobs" ;; esac
	n=$((n + 1))
done
check "every mbox read both ways" test "$n" -ge $((nrand + 20))
python3 "$ORACLE/hash-lists.py" "$TMP/ours.jobs" ||
	fail "hashing our messages: exit $?"
python3 "$ORACLE/pymbox.py" --batch "$TMP/py.jobs" || fail "pymbox.py --batch: exit $?"

# 2. the verdicts
same() {
	if cmp -s "$2" "$3"; then pass; else
		fail "$1"
		diff "$2" "$3" | head -8 >&2
	fi
}
for mb in "$C"/*.mbox; do
	name=${mb%.mbox}
	t=${name##*/}
	# the two paths against each other
	expect_eq "$t: check and convert count the same messages" \
		"$(grep '^messages' "$name.check.got")" "$(grep '^messages' "$name.convert.got")"
	expect_eq "$t: the same unquoted From lines" \
		"$(offsets MBOX-UNQUOTED-FROM "$name.check.got")" "$(offsets UNQUOTED "$name.convert.got")"
	expect_eq "$t: the same Content-Length findings" \
		"$(offsets MBOX-CONTENT-LENGTH "$name.check.got")" "$(offsets CONTENT-LENGTH "$name.convert.got")"
	# (check also names the separator an empty message lacks)
	offsets MISSING "$name.convert.got" >"$TMP/m.convert"
	offsets MBOX-MISSING-SEPARATOR "$name.check.got" >"$TMP/m.check"
	expect_eq "$t: convert's missing separators are check's" \
		"$(LC_ALL=C comm -23 "$TMP/m.convert" "$TMP/m.check")" ""
	# both against the oracle
	same "$t: check differs from the oracle" "$name.check" "$name.check.got"
	{ grep '^messages' "$name.convert"; grep -v '^messages' "$name.convert" | LC_ALL=C sort; } >"$name.convert.want"
	same "$t: convert's count or warnings differ from the oracle" "$name.convert.want" "$name.convert.got"
	same "$t: convert's messages differ from the oracle's" "$name.digests" "$name.digests.got"
	case $t in *.py)
		same "$t: Python's mailbox.mbox reads other messages" "$name.py.got" "$name.digests.got" ;;
	esac
done

# a file only check reads: bytes before the first From_ line are a finding
# at their offset, and the messages after them are the ones convert finds
# in the same file without them
printf 'leading junk\n\n' >"$TMP/lead"
cat "$C/missing-sep.py.mbox" >>"$TMP/lead"
expect_eq "leading bytes" "$(check_facts "$TMP/lead" | tr '\n' ' ')" \
	"messages 3 MBOX-FIRST-LINE 0 MBOX-MISSING-SEPARATOR 59 MBOX-MISSING-SEPARATOR 104 "
expect_eq "without them" "$(check_facts "$C/missing-sep.py.mbox" | tr '\n' ' ')" \
	"messages 3 MBOX-MISSING-SEPARATOR 45 MBOX-MISSING-SEPARATOR 90 "
done_testing
