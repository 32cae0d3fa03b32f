#!/bin/sh
# t/1090-peak-rss.sh: peak memory of `convert` mbox -> Maildir does not grow
# with the number of messages (DESIGN.md §1.3 bounded memory, §6).
#
# Two mboxes from the benchmark generator (bench/gen-corpus.py), 200 and
# 4,000 messages (20x; both hold attachments of more than 1 MiB), converted
# with the default --sync=batch; GNU time's %M (peak RSS, KiB) of the larger
# run must stay within RSS_MARGIN KiB (2 MiB) of the smaller one.  Not a
# time limit: only memory, which is the same on every machine.
. "$(dirname "$0")/lib.sh"
need python3
[ -x /usr/bin/time ] || { echo "SKIP: GNU time (/usr/bin/time) not installed"; exit 77; }
GEN=$T_SRCDIR/../bench/gen-corpus.py
RSS_MARGIN=2048

# convert_rss N: generate N messages, convert, print the peak RSS in KiB
convert_rss() {
	python3 "$GEN" --count="$1" --out="$TMP/$1.mbox" --manifest="$TMP/$1.manifest" || return 1
	/usr/bin/time -f '%M' -o "$TMP/$1.time" "$MAILSHIFT" convert -q "$TMP/$1.mbox" "$TMP/$1.md" ||
		return 1
	tail -1 "$TMP/$1.time"
}

small=$(convert_rss 200) || fail "convert of 200 messages"
large=$(convert_rss 4000) || fail "convert of 4000 messages"

# the runs did the work they are measured for
expect_eq "messages generated (200)" "$(awk '$1 == "messages" { print $2 }' "$TMP/200.manifest")" 200
expect_eq "messages delivered (200)" "$(count_files "$TMP/200.md/new" "$TMP/200.md/cur")" 200
expect_eq "messages delivered (4000)" "$(count_files "$TMP/4000.md/new" "$TMP/4000.md/cur")" 4000
expect_eq "tmp/ empty after the run" "$(count_files "$TMP/4000.md/tmp")" 0
bytes=$(wc -c <"$TMP/4000.mbox" | tr -d ' ')
check "the larger mbox is 20x the smaller in messages and >= 50 MB ($bytes bytes)" \
	[ "$bytes" -ge 50000000 ]
largest=$(awk '$1 == "largest" { print $2 }' "$TMP/200.manifest")
check "the smaller mbox holds a message over 1 MiB ($largest bytes)" [ "$largest" -gt 1048576 ]

# peak RSS: flat (and small) at 200 and at 4,000 messages
echo "peak RSS: ${small:-?} KiB at 200 messages, ${large:-?} KiB at 4000"
check "peak RSS at 4000 messages ($large KiB) within $RSS_MARGIN KiB of 200 ($small KiB)" \
	[ "$large" -le $((small + RSS_MARGIN)) ]
check "peak RSS under 64 MiB ($large KiB)" [ "$large" -lt 65536 ]

# nor with the number of folders written at once: 600 Gmail messages of
# 40 KB under 200 labels (a Maildir each, 3 messages in each) against the
# same under 2 labels; a writer thread and its 1 MiB ring per folder made
# it grow by what each ring held (200 x 120 KiB)
gmail_rss() {    # LABELS
	python3 - "$1" >"$TMP/gm$1.mbox" <<'PYEOF'
import sys, time
labels = int(sys.argv[1])
out = sys.stdout
for i in range(600):
    t = time.strftime("%a %b %d %H:%M:%S +0000 %Y", time.gmtime(1500000000 + i * 3600))
    out.write("From 1234567890@xxx %s\nX-GM-THRID: %d\nX-Gmail-Labels: Label%03d\n"
              "Message-ID: <%d@gm.test>\nSubject: g%d\nFrom: a@b\n\n" % (t, 1000 + i, i % labels, i, i))
    out.write(("z" * 70 + "\n") * 570 + "\n")
PYEOF
	/usr/bin/time -f '%M' -o "$TMP/gm$1.time" "$MAILSHIFT" convert -q "$TMP/gm$1.mbox" "$TMP/gm$1.md" ||
		return 1
	tail -1 "$TMP/gm$1.time"
}
few=$(gmail_rss 2) || fail "convert under 2 labels"
many=$(gmail_rss 200) || fail "convert under 200 labels"
expect_eq "200 label folders made" "$(ls -d "$TMP"/gm200.md/.Label* | wc -l | tr -d ' ')" 200
expect_eq "each message in its folder" "$(cat "$TMP"/gm200.md/.Label*/cur/* "$TMP"/gm200.md/.Label*/new/* 2>/dev/null | grep -c '^Subject: g')" 600
echo "peak RSS: ${few:-?} KiB under 2 labels, ${many:-?} KiB under 200"
check "peak RSS under 200 labels ($many KiB) within 4 MiB of 2 labels ($few KiB)" \
	[ "$many" -le $((few + 4096)) ]

done_testing
