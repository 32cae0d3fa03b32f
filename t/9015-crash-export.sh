#!/bin/sh
# Crash anywhere in convert into an mbox, through t/crashlib.sh: Maildir ->
# mbox and mbox -> mbox, the test hook _exit()s after N appended messages
# and before the N+1th write, for every N, with batched durability (the
# batch's write-back started, one fsync at the end) and with --sync=message.
# The rerun takes back what the crashed run appended after the size in
# <mbox>.mailshift-append and appends it again: the mbox then equals a
# clean run's byte for byte, the marker is gone, and a third run changes
# nothing. (--remove-source: t/1110.)
if [ -d /dev/shm ] && [ -w /dev/shm ]; then TMPDIR=/dev/shm; export TMPDIR; fi
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
. "$T_SRCDIR/crashlib.sh"
crash_need_hooks

"$MAILSHIFT" convert -q "$DATA/sample.mbox" "$TMP/src" || exit 99
# and one message of 300 kB, which the 64 KiB output buffer writes in
# pieces: a crash between two of them tears the appended message
{
	printf 'From big@example.org Tue Jan  5 10:00:00 2021\nSubject: big\n\n'
	awk 'BEGIN { for (i = 0; i < 4000; i++) printf "line %05d of a long body ..................................\n", i }'
} >"$TMP/big.mbox"
"$MAILSHIFT" convert -q "$TMP/big.mbox" "$TMP/src" || exit 99
SRC=$TMP/src

# A mailbox that already holds a message: the crashed appends go after it.
OLD='From old@example.org Mon Jan  4 10:00:00 2021
Subject: kept

old
'
printf '%s\n' "$OLD" >"$TMP/old.mbox"
cp "$TMP/old.mbox" "$TMP/clean.mbox"
"$MAILSHIFT" convert -q --to=mbox "$SRC" "$TMP/clean.mbox" || exit 99
expect_eq "clean run: 42 messages" "$(grep -c '^From ' "$TMP/clean.mbox")" 42

setup() { cp "$TMP/old.mbox" "$1/out.mbox"; }
verify() {
	cmp -s "$1/out.mbox" "$TMP/clean.mbox" ||
		{ echo "crash: $1/out.mbox differs from the clean run" >&2; return 1; }
	[ ! -e "$1/out.mbox.mailshift-append" ] ||
		{ echo "crash: the append marker is still there" >&2; return 1; }
	"$MAILSHIFT" convert -q --to=mbox "$SRC" "$1/out.mbox" || return 1
	cmp -s "$1/out.mbox" "$TMP/clean.mbox" ||
		{ echo "crash: a third run changed the mbox" >&2; return 1; }
}

for mode in "--batch=4" "--sync=message"; do
	run() { "$MAILSHIFT" convert -q --to=mbox $mode "$SRC" "$1/out.mbox"; }
	crash_points=0
	crash_sweep "maildir -> mbox $mode, messages" MESSAGES setup run verify
	[ "$CRASH_STEP" -eq 1 ] &&
		expect_eq "maildir -> mbox $mode: a crash after each of the 41 messages" "$crash_points" 42
	crash_points=0
	crash_sweep "maildir -> mbox $mode, writes" WRITES setup run verify
	echo "# maildir -> mbox $mode: $crash_points crash points before write calls"
	[ "$CRASH_STEP" -eq 1 ] &&
		check "maildir -> mbox $mode: crash points before writes ($crash_points), some inside the big message" \
		test "$crash_points" -ge 5
done

# mbox -> mbox: an mboxo spool re-quoted into mboxrd.
"$MAILSHIFT" convert -q --to=mbox --mbox-format=mboxo "$SRC" "$TMP/spool.mboxo" || exit 99
cp "$TMP/old.mbox" "$TMP/clean.mbox"
"$MAILSHIFT" convert -q --to=mbox --from-format=mboxo "$TMP/spool.mboxo" "$TMP/clean.mbox" || exit 99
expect_eq "mbox -> mbox clean run: 42 messages" "$(grep -c '^From ' "$TMP/clean.mbox")" 42
SRC=$TMP/spool.mboxo
verify() {
	cmp -s "$1/out.mbox" "$TMP/clean.mbox" ||
		{ echo "crash: $1/out.mbox differs from the clean run" >&2; return 1; }
	[ ! -e "$1/out.mbox.mailshift-append" ] ||
		{ echo "crash: the append marker is still there" >&2; return 1; }
}
run() { "$MAILSHIFT" convert -q --to=mbox --from-format=mboxo --batch=4 "$SRC" "$1/out.mbox"; }
crash_points=0
crash_sweep "mbox -> mbox, messages" MESSAGES setup run verify
[ "$CRASH_STEP" -eq 1 ] && expect_eq "mbox -> mbox: a crash after each message" "$crash_points" 42
crash_points=0
crash_sweep "mbox -> mbox, writes" WRITES setup run verify
echo "# mbox -> mbox: $crash_points crash points before write calls"

done_testing
