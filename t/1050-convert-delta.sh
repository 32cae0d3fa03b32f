#!/bin/sh
# Idempotent reruns that are also delta updates (issue: "after the mbox
# grew, a rerun converts only the new messages, while two identical
# messages inside one source stay two Maildir messages (count by position,
# not only by content), with no state kept outside DEST").
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

msg='From a@example.org Mon Mar  3 09:15:02 2025
Subject: the same message
Message-ID: <same@example.org>

identical body
'
{ printf '%s\n' "$msg"; printf '%s\n' "$msg"; printf '%s\n' "$msg"; } >"$TMP/in.mbox"
D=$TMP/M
"$MAILSHIFT" convert --json "$TMP/in.mbox" "$D" >"$TMP/j1" 2>/dev/null
check "three identical messages: three delivered" grep -q '"messages":3,"delivered":3,"skipped":0' "$TMP/j1"
expect_eq "three files" "$(count_files "$D/new" "$D/cur")" 3
expect_eq "keys _0 _1 _2" "$(ls "$D/new" | sed 's/.*_\([0-9]*\)\..*/\1/' | sort | tr '\n' ' ')" "0 1 2 "

"$MAILSHIFT" convert --json "$TMP/in.mbox" "$D" >"$TMP/j2" 2>/dev/null
check "rerun: all three skipped" grep -q '"messages":3,"delivered":0,"skipped":3' "$TMP/j2"

# the mbox grows: a fourth identical copy and a new message
printf '%s\n' "$msg" >>"$TMP/in.mbox"
printf 'From b@example.org Tue Mar  4 10:00:00 2025\nSubject: new\n\nnew mail\n\n' >>"$TMP/in.mbox"
"$MAILSHIFT" convert --json "$TMP/in.mbox" "$D" >"$TMP/j3" 2>/dev/null
check "delta: only the two new ones" grep -q '"messages":5,"delivered":2,"skipped":3' "$TMP/j3"
expect_eq "five files" "$(count_files "$D/new" "$D/cur")" 5
expect_eq "no state outside DEST" "$(ls "$TMP" | grep -v '^j[0-9]$' | sort | tr '\n' ' ')" "M in.mbox "
# inside DEST: the Maildir, the record of what was delivered and the
# record of From_ lines that cannot be rebuilt for the way back
# (mailshift-formats(5))
expect_eq "DEST holds the Maildir" "$(ls -A "$D" | tr '\n' ' ')" "cur mailshift-delivered mailshift-envelopes new tmp "

# the same messages from another source are delivered once: a source
# brings only the copies beyond those DEST already holds
cp "$TMP/in.mbox" "$TMP/other.mbox"
"$MAILSHIFT" convert --json "$TMP/other.mbox" "$D" >"$TMP/j4" 2>/dev/null
check "another source with the same messages: nothing new" grep -q '"messages":5,"delivered":0,"skipped":5' "$TMP/j4"
printf '%s\n' "$msg" >>"$TMP/other.mbox"
"$MAILSHIFT" convert --json "$TMP/other.mbox" "$D" >"$TMP/j4" 2>/dev/null
check "a fifth copy in another source: one delivered" grep -q '"messages":6,"delivered":1,"skipped":5' "$TMP/j4"
expect_eq "six files" "$(count_files "$D/new" "$D/cur")" 6

# thousands of messages, some repeated: keys stay unique and reruns exact
python3 "$T_SRCDIR/gen-mbox.py" 3000 9 400 >"$TMP/g.mbox"
cat "$TMP/g.mbox" "$TMP/g.mbox" >"$TMP/twice.mbox"
"$MAILSHIFT" convert -q "$TMP/twice.mbox" "$TMP/G"
expect_eq "6000 messages, each twice" "$(count_files "$TMP/G/new" "$TMP/G/cur")" 6000
"$MAILSHIFT" convert --json "$TMP/twice.mbox" "$TMP/G" >"$TMP/j5" 2>/dev/null
check "rerun of 6000: nothing new" grep -q '"messages":6000,"delivered":0,"skipped":6000' "$TMP/j5"
done_testing
