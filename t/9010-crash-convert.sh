#!/bin/sh
# Crash anywhere in convert mbox -> Maildir, through t/crashlib.sh: the
# test hook _exit()s after N published messages and before the N+1th
# write, for every N, on the bundled sample (40 messages, flags, keywords,
# a CRLF message, >From quoting) and on a corpus mbox with Content-Length
# framing. After each crash every visible message is whole and there once;
# the rerun exits 0 and the Maildir equals a clean run: same messages in the
# same subdirectories with the same flags, same dovecot-keywords, empty
# tmp/. A third run changes nothing.
# Hundreds of runs, each syncing: on a tmpfs when there is one (a process
# crash, unlike a power cut, does not depend on the file system).
if [ -d /dev/shm ] && [ -w /dev/shm ]; then TMPDIR=/dev/shm; export TMPDIR; fi
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
. "$T_SRCDIR/crashlib.sh"
crash_need_hooks

SRC=$DATA/sample.mbox
"$MAILSHIFT" convert -q "$SRC" "$TMP/clean"
crash_maildir_sums "$TMP/clean" >"$TMP/clean.sums"
expect_eq "clean run: 40 messages" "$(wc -l <"$TMP/clean.sums" | tr -d ' ')" 40
expect_eq "clean run: cur/ holds the 25 old or flagged ones" \
	"$(grep -c "^\. cur " "$TMP/clean.sums")" 25

setup() { :; }
run() { "$MAILSHIFT" convert -q --batch=4 "$SRC" "$1/md"; }
partial() { crash_maildir_partial "$1/md" "$TMP/clean.sums"; }
verify() {
	crash_maildir_same "$1/md" "$TMP/clean.sums" || return 1
	cmp -s "$1/md/dovecot-keywords" "$TMP/clean/dovecot-keywords" ||
		{ echo "crash: dovecot-keywords differs" >&2; return 1; }
	# a third run delivers nothing and keeps everything
	"$MAILSHIFT" convert -q --batch=4 "$SRC" "$1/md" || return 1
	crash_maildir_same "$1/md" "$TMP/clean.sums"
}

crash_sweep "sample, messages" MESSAGES setup run verify partial
[ "$CRASH_STEP" -eq 1 ] &&
	expect_eq "sample: a crash after each of the 40 messages (N=0 and N=1 both after the first)" \
	"$crash_points" 41
echo "# sample: $crash_points crash points after messages"
crash_points=0
crash_sweep "sample, writes" WRITES setup run verify partial
w=$crash_points
echo "# sample: $w crash points before write calls"
[ "$CRASH_STEP" -eq 1 ] &&
	check "sample: crashed before every write call ($w points, at least one per message)" \
	test "$w" -ge 40

# Per-message durability takes other paths through the writer.
run() { "$MAILSHIFT" convert -q --sync=message "$SRC" "$1/md"; }
crash_points=0
crash_sweep "sample, --sync=message" WRITES setup run verify partial
echo "# sample, --sync=message: $crash_points crash points before write calls"

# mboxcl2: a body "From " line that only Content-Length keeps in its message.
if need_corpus; then
	SRC=$CORPUS/email-folder/mboxes/mboxcl2
	rm -rf "$TMP/clean"
	"$MAILSHIFT" convert -q "$SRC" "$TMP/clean"
	crash_maildir_sums "$TMP/clean" >"$TMP/clean.sums"
	expect_eq "mboxcl2 clean run: 3 messages" "$(wc -l <"$TMP/clean.sums" | tr -d ' ')" 3
	verify() {
		crash_maildir_same "$1/md" "$TMP/clean.sums"
	}
	run() { "$MAILSHIFT" convert -q "$SRC" "$1/md"; }
	crash_points=0
	crash_sweep "mboxcl2, messages" MESSAGES setup run verify partial
	crash_sweep "mboxcl2, writes" WRITES setup run verify partial
	echo "# mboxcl2: $crash_points crash points"
	[ "$CRASH_STEP" -eq 1 ] && check "mboxcl2: crash points tried" test "$crash_points" -ge 6
fi

# The UIDs an mbox carries become DEST's dovecot-uidlist, written last
# through tmp/: a crash at any write, the list's included, leaves no file
# of ours in tmp/ after the rerun, and the rerun lists every message under
# the UID the clean run gives it, also those the crashed run published
# before it could write the list.
SRC=$DATA/uidstate.mbox
# uid_map DIR: the list's UIDVALIDITY and next UID, then "UID POP3-UIDL
# SHA256" per entry, by the content of the file it names
uid_map() {
	head -n 1 "$1/dovecot-uidlist" | tr ' ' '\n' | grep '^[VN]' | tr '\n' ' '
	echo
	sed 1d "$1/dovecot-uidlist" | while read -r uid rest; do
		base=${rest##*:}
		f=$(find "$1/new" "$1/cur" -name "$base*" | head -n 1)
		echo "$uid ${rest%%:*} $(sha256sum <"${f:-/dev/null}" | cut -c1-16)"
	done | sort -n
}
rm -rf "$TMP/clean"
"$MAILSHIFT" convert -q "$SRC" "$TMP/clean"
crash_maildir_sums "$TMP/clean" >"$TMP/clean.sums"
uid_map "$TMP/clean" >"$TMP/clean.uids"
expect_eq "UIDs clean run: a list of four" "$(sed 1d "$TMP/clean/dovecot-uidlist" | wc -l | tr -d ' ')" 4
expect_eq "UIDs clean run: the X-UIDs of the mbox" "$(sed 1d "$TMP/clean.uids" | cut -d' ' -f1 | tr '\n' ' ')" "3 5 9 12 "
run() { "$MAILSHIFT" convert -q "$SRC" "$1/md"; }
verify() {
	crash_maildir_same "$1/md" "$TMP/clean.sums" || return 1
	uid_map "$1/md" >"$1/uids"
	cmp -s "$1/uids" "$TMP/clean.uids" ||
		{ echo "crash: the UIDs differ from a clean run's:" >&2; diff "$TMP/clean.uids" "$1/uids" >&2; return 1; }
}
crash_points=0
crash_sweep "UIDs, writes" WRITES setup run verify partial
echo "# UIDs: $crash_points crash points before write calls"

done_testing
