#!/bin/sh
# repair killed after any action, or at any write of an mbox rewrite, then
# run again: the same messages, nothing lost or doubled, and clean at the
# end (DESIGN §1.2; SPEC §5 O7).
# A process crash, unlike a power cut, does not depend on the file system:
# on a tmpfs when there is one, where the hundreds of syncs cost nothing.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then TMPDIR=/dev/shm; export TMPDIR; fi
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
. "$T_SRCDIR/crashlib.sh"
crash_need_hooks

msg() { printf 'From: a@example.org\nSubject: %s\n\n%s body\n' "$1" "$1"; }
broken() {
	M=$1
	mkdir -p "$M/cur" "$M/new" "$M/tmp" "$M/.Folder/cur" "$M/.Folder/new"
	: >"$M/.Folder/maildirfolder"
	msg info >"$M/new/1001.info.host:2,S"
	msg unsorted >"$M/cur/1002.unsorted.host:2,SF"
	msg dup-a >"$M/new/1004.dup.host"
	msg dup-b >"$M/cur/1004.dup.host:2,S"
	msg bad >"$M/cur/1005.bad:name.host:2,S"
	msg size >"$M/cur/1006.size.host,S=999:2,S"
	: >"$M/cur/1008.empty.host:2,"
	msg stale >"$M/tmp/1013.stale.host"
	printf 'Subject: cut' >"$M/tmp/1014.cut.host"
	msg leftover >"$M/new/1015.leftover.host"
	ln "$M/new/1015.leftover.host" "$M/tmp/1015.leftover.host"
	printf '100S\n5 1\n' >"$M/maildirsize"
}
# one digest per inode: every message once, wherever it is (one sha256sum
# for all; a leading backslash marks a name it escaped)
digests() { find "$1" -type f ! -name maildirsize ! -name maildirfolder -printf '%i %p\n' |
	sort -n -u -k1,1 | cut -d' ' -f2- | tr '\n' '\0' | xargs -0 -r sha256sum |
	sed 's/^\\//' | cut -c1-64 | sort; }

broken "$TMP/ref"
digests "$TMP/ref" >"$TMP/ref.digests"
expect_eq "messages" "$(wc -l <"$TMP/ref.digests" | tr -d ' ')" 10

setup() { broken "$1/M"; }
run() { "$MAILSHIFT" repair -q -r --tmp-age=0 "$1/M"; }
same() { digests "$1/M" | cmp -s - "$TMP/ref.digests"; }
verify() { same "$1" && "$MAILSHIFT" check -q -r --tmp-age=0 "$1/M" >/dev/null; }
crash_sweep "maildir repair" MESSAGES setup run verify same
[ "$CRASH_STEP" -eq 1 ] && expect_eq "crash points (one per action)" "$crash_points" 12

# --- the state files: crash at every write of one, then run again ----------
# maildirsize, courierimapuiddb and dovecot-uidlist are replaced whole through
# tmp/: after the rerun each is as a clean run writes it, with the mode it
# had, and no temporary file of the crashed run is left in tmp/.
state() {
	M=$1/S
	mkdir -p "$M/cur" "$M/new" "$M/tmp"
	# (not n: crash_sweep counts with it)
	for u in 1700000001.M1P1.host 1700000002.M2P2.host 1700000003.M3P3.host; do
		msg "$u" >"$M/cur/$u:2,S"
	done
	printf '100S\n5 1\n' >"$M/maildirsize"
	printf '1 1234567 2\n1 1700000001.M1P1.host\n2 1700000002.M2P2.host:2,S\n3 1700000003.M3P3.host\n' \
	    >"$M/courierimapuiddb"
	printf '3 V1234567 N2\n1 :1700000001.M1P1.host\n2 :1700000002.M2P2.host\n3 :1700000003.M3P3.host\n' \
	    >"$M/dovecot-uidlist"
	chmod 0644 "$M/maildirsize"
	chmod 0640 "$M/courierimapuiddb"
	chmod 0604 "$M/dovecot-uidlist"
}
STATE="maildirsize courierimapuiddb dovecot-uidlist"
state "$TMP/sref"
srun() { "$MAILSHIFT" repair -q "$1/S"; }
srun "$TMP/sref" >/dev/null || fail "state files: clean repair"
expect_eq "state files: clean run's maildirsize" "$(cat "$TMP/sref/S/maildirsize")" "100S
231 3"
expect_eq "state files: clean run's modes" "$(cd "$TMP/sref/S" && stat -c '%a' $STATE | tr '\n' ' ')" \
    "644 640 604 "
expect_eq "state files: clean run's tmp/" "$(ls -A "$TMP/sref/S/tmp")" ""
sverify() {
	for f in $STATE; do
		if ! cmp -s "$1/S/$f" "$TMP/sref/S/$f" ||
		   [ "$(stat -c %a "$1/S/$f")" != "$(stat -c %a "$TMP/sref/S/$f")" ]; then
			echo "$1/S/$f: not as the clean run wrote it" >&2
			return 1
		fi
	done
	left=$(ls -A "$1/S/tmp")
	[ -z "$left" ] || { echo "$1/S/tmp: left: $left" >&2; return 1; }
}
before=$crash_points
crash_sweep "state files" WRITES state srun sverify
[ "$CRASH_STEP" -eq 1 ] && expect_eq "state files: crash points (one per file)" \
    "$((crash_points - before))" 3

# --- mbox: crash at every write of the journaled rewrite -------------------
mbox() {
	printf 'From a@b Mon Jan  1 00:00:00 2024\nContent-Length: 99\n\nbody\nFrom here on\nFrom b@c Mon Jan  1 00:00:01 2024\nSubject: two\n\nbody two\n\n' >"$1"
	i=0
	while [ $i -lt 50 ]; do
		printf 'From c@d Mon Jan  1 00:00:02 2024\nSubject: %d\n\nFrom line %d\n\n' $i $i >>"$1"
		i=$((i + 1))
	done
}
mbox "$TMP/clean.mbox"
"$MAILSHIFT" repair -q "$TMP/clean.mbox" >/dev/null || fail "clean mbox repair"
expect_status "clean run: clean" 0 "$MAILSHIFT" check "$TMP/clean.mbox"
msetup() { mbox "$1/box"; }
# A crashed run leaves its dotlock; a waiting locker breaks it only after
# five minutes (lock.h), so the test removes it as that would.
mrun() { rm -f "$1/box.lock"; "$MAILSHIFT" repair -q "$1/box"; }
mverify() { cmp -s "$1/box" "$TMP/clean.mbox" && test ! -e "$1/box.mailshift-journal"; }
crash_sweep "mbox repair" WRITES msetup mrun mverify
check "mbox: crashed at least once" test "$crash_points" -ge 1
done_testing
