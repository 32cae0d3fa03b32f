#!/bin/sh
# t/6010: the renumbering rules (mailshift-formats(5) "UID state"): a
# duplicate or decreasing X-UID gets a new UID above every kept one and the
# UIDVALIDITY changes; a missing X-UID gets a new UID; an X-UID at or above
# the next UID of X-IMAPbase is kept and raises it. Each case is a warning
# naming FILE:OFFSET, and Dovecot sees exactly the list that was written.
. "$(dirname "$0")/lib.sh"
. "$T_SRCDIR/dovecot.sh"
need_dovecot

mbox="$DATA/uidstate-renumber.mbox"
before=$(date +%s)
"$MAILSHIFT" convert "$mbox" "$TMP/r" 2>"$TMP/err"
expect_eq "exit status" "$?" 0
v=$(sed -n '1s/^3 V\([0-9]*\) .*/\1/p' "$TMP/r/dovecot-uidlist")
check "new UIDVALIDITY $v is not 500 and not older than the run" \
	test "$v" != 500 -a "$v" -ge "$before"
expect_eq "warnings" "$(cat "$TMP/err")" "mailshift convert: warning: $mbox:448: X-UID 15 is not below the next UID 11 of X-IMAPbase: next UID raised to 16
mailshift convert: warning: $mbox: UIDVALIDITY changed from 500 to $v: IMAP clients will resync
mailshift convert: warning: $mbox:189: duplicate or decreasing X-UID 4: new UID 17 (UIDVALIDITY $v)
mailshift convert: warning: $mbox:279: duplicate or decreasing X-UID 2: new UID 18 (UIDVALIDITY $v)
mailshift convert: warning: $mbox:370: no X-UID: new UID 19 (UIDVALIDITY $v)
mailshift convert: $mbox: 7 messages (mboxrd): 7 delivered, 0 already in $TMP/r, 5 warnings"

# UID -> Subject of the file the list names
uid_subjects() {
	sed -n '2,$p' "$1/dovecot-uidlist" | while read -r uid rest; do
		n=${rest##*:}
		f=$(ls "$1"/cur/"$n":2,* "$1"/new/"$n" 2>/dev/null)
		echo "$uid $(sed -n 's/^Subject: //p' "$f")"
	done
}
expect_eq "UIDs of the messages" "$(uid_subjects "$TMP/r")" "1 r1
4 r2
15 r6
16 r7
17 r3
18 r4
19 r5"
expect_eq "next UID" "$(sed -n '1s/^3 V[0-9]* N\([0-9]*\) .*/\1/p' "$TMP/r/dovecot-uidlist")" 20

s=$(served_copy "$TMP/r" served)
expect_eq "Dovecot UIDs" "$(dovecot_fetch "$s" | sed 's/ FLAGS.*//' | tr '\n' ' ')" \
	"UID 1 UID 4 UID 15 UID 16 UID 17 UID 18 UID 19 "
expect_eq "Dovecot status" "$(dovecot_status "$s")" "UIDNEXT 20 UIDVALIDITY $v"
check "Dovecot logged no error or warning" sh -c "test -s '$TMP/dovecot/log' && ! grep -iE 'error|warning|fatal' '$TMP/dovecot/log'"

# X-UIDs without X-IMAPbase: kept, under a new UIDVALIDITY
printf 'From a@example.net Tue Jan  7 10:00:00 2025\nSubject: b1\nX-UID: 7\n\nx\n\nFrom a@example.net Tue Jan  7 10:01:00 2025\nSubject: b2\nX-UID: 9\nX-UIDL: has space\n\ny\n\n' >"$TMP/nobase.mbox"
"$MAILSHIFT" convert "$TMP/nobase.mbox" "$TMP/b" 2>"$TMP/err"
expect_eq "no base: list" "$(sed -e '1s/ G.*//' -e '1s/V[0-9]*/V*/' -e 's/ :.*//' "$TMP/b/dovecot-uidlist")" "3 V* N10
7
9"
expect_eq "no base: a bad X-UIDL is named" "$(head -1 "$TMP/err")" \
	"mailshift convert: warning: $TMP/nobase.mbox:69: X-UIDL is not a POP3 UIDL (1-70 printable bytes): not kept"

# The old server raised its next UID between two runs (X-IMAPbase 12 ->
# 200: it gave UIDs 13-199 to messages since expunged): the rerun raises
# the list's next UID as a first run would, also when it adds nothing; a
# message that arrives later with an X-UID below the list's next (150 < 201)
# gets a new UID, as the list may have given 150 already
R=$TMP/raise.md
cp "$DATA/uidstate.mbox" "$TMP/raise.mbox"
"$MAILSHIFT" convert -q "$TMP/raise.mbox" "$R"
expect_eq "raised: the first run's next UID" "$(head -n 1 "$R/dovecot-uidlist" | cut -d' ' -f3)" N13
sed -i 's/^X-IMAPbase: 1700000000 0000000012/X-IMAPbase: 1700000000 0000000200/' "$TMP/raise.mbox"
"$MAILSHIFT" convert -q "$TMP/raise.mbox" "$R"
expect_eq "raised, nothing new: next UID 201" "$(head -n 1 "$R/dovecot-uidlist" | cut -d' ' -f2-3)" "V1700000000 N201"
printf 'From x@example.net Tue Jan  7 10:00:00 2025\nSubject: later\nX-UID: 150\n\nz\n\n' >>"$TMP/raise.mbox"
"$MAILSHIFT" convert -q "$TMP/raise.mbox" "$R"
expect_eq "raised, one new below the next UID: UID 201, next 202" \
	"$(sed -e '1s/ G.*//' -e 's/ :.*//' -e 's/ P.*//' "$R/dovecot-uidlist" | tr '\n' ' ')" \
	"3 V1700000000 N202 3 5 9 12 201 "

done_testing
