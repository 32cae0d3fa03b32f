#!/bin/sh
# t/6060: Courier's keywords on Maildir -> mbox. t/gen/courier.py writes
# Courier-IMAP Maildirs whose keywords live in courierimapkeywords/ (the
# :list and update files, folders with their own); `convert -r` to mboxes
# must write each message's keywords into X-Keywords (read back with
# Python's mailbox: t/oracle/courier-keywords-mbox.py), and a line of the
# keyword files that cannot be used is named (file, line) while the rest
# still carries.
. "$(dirname "$0")/lib.sh"
need python3
GEN=$T_SRCDIR/gen/courier.py
CHK=$ORACLE/courier-keywords-mbox.py

python3 "$GEN" --seed 3 "$TMP/cr" >/dev/null || exit 99
"$MAILSHIFT" convert -r "$TMP/cr/Maildir" "$TMP/out" 2>"$TMP/err"
expect_eq "exit" $? 0
python3 "$CHK" "$TMP/cr/expected.json" "$TMP/out" >"$TMP/diff" 2>"$TMP/fig"
expect_eq "every message's keywords" "$(head -20 "$TMP/diff")" ""
n=$(sed -n 's/.*keyworded=\([0-9]*\).*/\1/p' "$TMP/fig")
check "keyworded messages are some" test "$n" -gt 100

# the same Maildir with a line no reader can use in each state file
python3 "$GEN" --seed 3 --damage garbage "$TMP/cg" >/dev/null || exit 99
"$MAILSHIFT" convert -r "$TMP/cg/Maildir" "$TMP/outg" 2>"$TMP/err"
expect_eq "damaged: exit" $? 0
check "damaged :list named with its line" \
    grep -q "courierimapkeywords/:list:[0-9]*: STATE-BAD-LINE" "$TMP/err"
python3 "$CHK" "$TMP/cg/expected.json" "$TMP/outg" >"$TMP/diff" 2>/dev/null
expect_eq "damaged: the rest still carries" "$(head -20 "$TMP/diff")" ""
done_testing
