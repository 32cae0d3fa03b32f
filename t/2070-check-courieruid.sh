#!/bin/sh
# t/2070: check and repair of Courier-IMAP's courierimapuiddb against its
# Maildir (SPEC §1.11; mailshift-check(1), mailshift-repair(1) COURIERUID-*):
# a next UID not above the highest (error; repair raises it, every line kept
# byte for byte), UIDs not increasing (warning, left as is), a line naming
# no file and a file without a line (notes with --deep; repair --deep drops
# the line), a damaged file (warning, never rewritten), --json, -r folders.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
cd "$TMP" || exit 99
U=courierimapuiddb

mk() {
	rm -rf "$1"
	mkdir -p "$1/new" "$1/cur" "$1/tmp"
	for n in 1700000001.M1P1.host 1700000002.M2P2.host 1700000003.M3P3.host; do
		printf 'Subject: %s\n\nbody\n' "$n" >"$1/cur/$n:2,S"
	done
}
lines() { sed 1d "$1/$U"; }

# --- clean ------------------------------------------------------------------------
mk A
printf '1 1234567 10\n3 1700000001.M1P1.host\n7 1700000002.M2P2.host:2,S\n9 1700000003.M3P3.host\n' >A/$U
expect_status "clean: exit 0" 0 "$MAILSHIFT" check --deep A
expect_eq "clean: no finding" "$(cat "$TMP/.out")" ""

# --- next UID too low: error, repaired ----------------------------------------------
mk B
printf '1 1234567 8\n3 1700000001.M1P1.host\n7 1700000002.M2P2.host:2,S\n9 1700000003.M3P3.host\n' >B/$U
before=$(lines B)
expect_status "next too low: exit 1" 1 "$MAILSHIFT" check B
expect_eq "next too low: the line" "$(cat "$TMP/.out")" \
    "B/$U: COURIERUID-NEXT-TOO-LOW: next UID 8 is not above the highest UID 9"
expect_status "next too low: --json" 1 "$MAILSHIFT" check --json B
expect_eq "next too low: --json code and severity" "$(python3 -c 'import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l); print(d["code"], d["severity"])' "$TMP/.out")" "COURIERUID-NEXT-TOO-LOW error"
expect_status "repair --dry-run: exit 0" 0 "$MAILSHIFT" repair -n B
expect_eq "repair --dry-run: says it, changes nothing" "$(cat "$TMP/.out") $(head -1 B/$U)" \
    "B/$U: COURIERUID-NEXT-TOO-LOW: would raise the next UID 8 to 10 (highest UID 9) 1 1234567 8"
expect_status "repair: exit 0" 0 "$MAILSHIFT" repair B
expect_eq "repair: the header" "$(head -1 B/$U)" "1 1234567 10"
expect_eq "repair: the lines byte for byte" "$(lines B)" "$before"
expect_status "repair: check clean after" 0 "$MAILSHIFT" check B
expect_status "repair twice: exit 0" 0 "$MAILSHIFT" repair B
expect_eq "repair twice: nothing to do" "$(cat "$TMP/.out")" ""

# --- not increasing: warning, left as is ----------------------------------------------
mk C
printf '1 1234567 10\n7 1700000001.M1P1.host\n3 1700000002.M2P2.host\n9 1700000003.M3P3.host\n' >C/$U
cp C/$U c.before
expect_status "not increasing: exit 1" 1 "$MAILSHIFT" check C
expect_eq "not increasing: the line" "$(cat "$TMP/.out")" \
    "C/$U: COURIERUID-NOT-INCREASING: line 3: UID 3 after UID 7"
expect_status "not increasing: repair exit 1" 1 "$MAILSHIFT" repair C
check "not increasing: left as is" cmp -s c.before C/$U

# --- a line naming no file, a file without a line: notes with --deep -----------------
mk D
printf '1 1234567 12\n3 1700000001.M1P1.host\n5 1699999999.M9P9.host\n9 1700000003.M3P3.host\n' >D/$U
expect_status "no --deep: exit 0" 0 "$MAILSHIFT" check D
expect_eq "no --deep: no finding" "$(cat "$TMP/.out")" ""
expect_status "--deep: exit 0 (notes)" 0 "$MAILSHIFT" check --deep D
expect_eq "--deep: the notes" "$(cat "$TMP/.out")" \
"D/$U: COURIERUID-MISSING-FILE: line 3: UID 5: no file 1699999999.M9P9.host in new/ or cur/
D/$U: COURIERUID-UNLISTED: no line for 1700000002.M2P2.host"
expect_status "repair --deep: exit 0" 0 "$MAILSHIFT" repair --deep D
expect_eq "repair --deep: the line dropped, next UID kept" "$(cat D/$U)" \
"1 1234567 12
3 1700000001.M1P1.host
9 1700000003.M3P3.host"

# --- damaged: warning, never rewritten; in a folder with -r ----------------------------
mk E
mk E/.Sent
: >E/.Sent/maildirfolder
printf '1 1234567 10\n3 1700000001.M1P1.host\nxyz\n9 1700000003.M3P3.host' >E/.Sent/$U
cp E/.Sent/$U e.before
expect_status "damaged: exit 1" 1 "$MAILSHIFT" check -r E
expect_eq "damaged: one line per damaged line" "$(cat "$TMP/.out")" \
"E/.Sent/$U: COURIERUID-BAD: line 3: STATE-BAD-LINE: not \"UID FILENAME\": not used
E/.Sent/$U: COURIERUID-BAD: line 4: STATE-TRUNCATED: the last line is cut short: not used"
expect_status "damaged: repair exit 1" 1 "$MAILSHIFT" repair -r E
expect_eq "damaged: repair says it leaves it" "$(cat "$TMP/.out")" \
    "E/.Sent/$U: COURIERUID-BAD: left as is: a damaged courierimapuiddb is not rewritten (convert uses the lines that parse)"
check "damaged: left as is" cmp -s e.before E/.Sent/$U

done_testing
