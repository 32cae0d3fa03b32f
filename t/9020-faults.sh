#!/bin/sh
# Faults during convert mbox -> Maildir (DESIGN §1.1, §1.2, §1.5, §4): a
# full disk (ENOSPC on a 1 MiB tmpfs), EIO and ENOSPC from the k-th write
# (MAILSHIFT_FAIL_WRITE), too few file descriptors (EMFILE), a read-only
# destination, a source truncated while being read, a stale or live
# dovecot-uidlist.lock, an mbox locked by another process (dotlock, fcntl).
# Each: the documented exit status, one line naming
# the file, every visible message whole, and after the fault is gone a
# rerun that equals a clean run.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
. "$T_SRCDIR/crashlib.sh"

python3 "$T_SRCDIR/gen-mbox.py" 300 9 12000 >"$TMP/big.mbox"   # about 2 MB
"$MAILSHIFT" convert -q "$TMP/big.mbox" "$TMP/clean"
crash_maildir_sums "$TMP/clean" >"$TMP/clean.sums"
expect_eq "clean run: 300 messages" "$(wc -l <"$TMP/clean.sums" | tr -d ' ')" 300

# after_fault LABEL DEST: what the fault left is whole messages; a rerun
# without the fault completes the job
after_fault() {
	check "$1: only whole messages visible" crash_maildir_partial "$2" "$TMP/clean.sums"
	expect_status "$1: rerun" 0 "$MAILSHIFT" convert -q "$TMP/big.mbox" "$2"
	check "$1: rerun equals a clean run" crash_maildir_same "$2" "$TMP/clean.sums"
}

# --- ENOSPC: a 1 MiB tmpfs -------------------------------------------------
mkdir "$TMP/small"
if mount -t tmpfs -o size=1m tmpfs "$TMP/small" 2>/dev/null; then
	expect_status "ENOSPC: exit 74" 74 "$MAILSHIFT" convert -q "$TMP/big.mbox" "$TMP/small/md"
	check "ENOSPC: one line naming the file and the error" \
		grep -q "small/md/.*No space left on device" "$TMP/.err"
	expect_eq "ENOSPC: stderr is one line" "$(wc -l <"$TMP/.err" | tr -d ' ')" 1
	check "ENOSPC: delivered only whole messages" crash_maildir_partial "$TMP/small/md" "$TMP/clean.sums"
	n=$(crash_maildir_sums "$TMP/small/md" | wc -l | tr -d ' ')
	check "ENOSPC: some messages made it ($n), not all" test "$n" -gt 0 -a "$n" -lt 300
	expect_eq "ENOSPC: tmp/ cleaned up" "$(count_files "$TMP/small/md/tmp")" 0
	mount -o remount,size=64m "$TMP/small"
	expect_status "ENOSPC: rerun after space was freed" 0 \
		"$MAILSHIFT" convert -q "$TMP/big.mbox" "$TMP/small/md"
	check "ENOSPC: rerun equals a clean run" crash_maildir_same "$TMP/small/md" "$TMP/clean.sums"

	# the keys of what the failed run published are recorded (their space
	# allocated before the disk filled): a message the user deletes before
	# the rerun stays deleted
	rm -rf "$TMP/small/md"
	mount -o remount,size=1m "$TMP/small"
	expect_status "ENOSPC again: exit 74" 74 "$MAILSHIFT" convert -q "$TMP/big.mbox" "$TMP/small/md"
	n=$(count_files "$TMP/small/md/new" "$TMP/small/md/cur")
	expect_eq "ENOSPC again: a key recorded for each message published ($n)" \
		"$(grep -cv '^#' "$TMP/small/md/mailshift-delivered")" "$n"
	gone=$(find "$TMP/small/md/new" "$TMP/small/md/cur" -type f | head -n 5)
	rm $gone
	mount -o remount,size=64m "$TMP/small"
	expect_status "ENOSPC again: rerun" 0 "$MAILSHIFT" convert -q "$TMP/big.mbox" "$TMP/small/md"
	expect_eq "ENOSPC again: the 5 deleted stay deleted" \
		"$(count_files "$TMP/small/md/new" "$TMP/small/md/cur")" 295
	check "ENOSPC again: no block allocated past the record's end" \
		test "$(($(stat -c '%b * %B' "$TMP/small/md/mailshift-delivered")))" -lt \
		$(($(stat -c %s "$TMP/small/md/mailshift-delivered") + 8192))
	umount "$TMP/small"
else
	echo "# cannot mount a tmpfs: ENOSPC on a real file system not tried"
fi

# --- the k-th write fails --------------------------------------------------
need_hooks
for k in 1 37 250; do
	for e in EIO ENOSPC EDQUOT; do
		d=$TMP/fw-$k-$e
		MAILSHIFT_FAIL_WRITE=$k:$e; export MAILSHIFT_FAIL_WRITE
		expect_status "write $k fails with $e: exit 74" 74 \
			"$MAILSHIFT" convert -q "$TMP/big.mbox" "$d"
		unset MAILSHIFT_FAIL_WRITE
		case $e in EIO) msg="Input/output error" ;; ENOSPC) msg="No space left" ;;
			*) msg="quota exceeded" ;; esac
		check "write $k fails with $e: a line naming the file" \
			grep -q "unable to write $d/tmp/.*$msg" "$TMP/.err"
		after_fault "write $k $e" "$d"
	done
done

# --- EMFILE ----------------------------------------------------------------
# (not under valgrind: it needs descriptors of its own to start)
[ "${MAILSHIFT_VALGRIND:-0}" = 1 ] && echo "# EMFILE not tried under valgrind"
for lim in $([ "${MAILSHIFT_VALGRIND:-0}" = 1 ] || echo 5 7 9); do
	d=$TMP/emfile-$lim
	st=0
	with_fd_limit "$lim" "$MAILSHIFT" convert -q "$TMP/big.mbox" "$d" 2>"$TMP/.err" || st=$?
	expect_eq "ulimit -n $lim: exit 74 or 66 (cannot open input)" \
		"$(case $st in 74|66) echo ok ;; *) echo "$st" ;; esac)" ok
	check "ulimit -n $lim: the line says Too many open files" grep -q "Too many open files" "$TMP/.err"
	[ -d "$d" ] && after_fault "ulimit -n $lim" "$d"
done

# --- read-only destination -------------------------------------------------
mkdir -p "$TMP/ro"
if mount -t tmpfs -o ro,size=1m tmpfs "$TMP/ro" 2>/dev/null; then
	expect_status "read-only file system: exit 73" 73 "$MAILSHIFT" convert -q "$TMP/big.mbox" "$TMP/ro/md"
	check "read-only: the line names the destination" grep -q "ro/md.*Read-only file system" "$TMP/.err"
	umount "$TMP/ro"
fi
if [ "$(id -u)" != 0 ]; then
	mkdir "$TMP/ro2" && chmod 555 "$TMP/ro2"
	expect_status "unwritable directory: exit 73" 73 "$MAILSHIFT" convert -q "$TMP/big.mbox" "$TMP/ro2/md"
	check "unwritable: the line names the destination" grep -q "ro2/md.*Permission denied" "$TMP/.err"
fi

# --- a source truncated while being read ---------------------------------
# The run is slowed by the hook (1 ms per message) and batches of 50 make
# its progress visible: the file is cut to a third once 100 messages are
# in, and the test proves the race took place: the converter was still
# running at the cut and had not yet reached it, and it delivered fewer
# messages than the whole file holds.
python3 "$T_SRCDIR/gen-mbox.py" 4000 3 12000 >"$TMP/trunc.mbox"   # about 25 MB
full=$(wc -c <"$TMP/trunc.mbox")
head -c $((full / 3)) "$TMP/trunc.mbox" | grep -c '^From ' >"$TMP/trunc.prefix"
prefix=$(cat "$TMP/trunc.prefix")
st=0
(MAILSHIFT_MESSAGE_DELAY_MS=1 exec "$MAILSHIFT" convert -q --sync=none --batch=50 \
	"$TMP/trunc.mbox" "$TMP/trunc" 2>"$TMP/trunc.err") &
pid=$!
n=0 waited=0
while [ "$n" -lt 100 ] && [ "$waited" -lt 600 ]; do
	sleep 0.05
	waited=$((waited + 1))
	n=$(count_files "$TMP/trunc/new" "$TMP/trunc/cur")
done
truncate -s $((full / 3)) "$TMP/trunc.mbox"
alive=no
kill -0 "$pid" 2>/dev/null && alive=yes
at_cut=$(count_files "$TMP/trunc/new" "$TMP/trunc/cur")
wait "$pid" || st=$?
got=$(count_files "$TMP/trunc/new" "$TMP/trunc/cur")
echo "# truncated source: cut after $at_cut of the $prefix messages before byte $((full / 3)); $got of 4000 delivered, exit $st"
expect_eq "truncated source: the converter was running at the cut" "$alive" yes
check "truncated source: cut after $at_cut messages, before the reader reached byte $((full / 3)) ($prefix messages)" \
	test "$at_cut" -ge 100 -a "$at_cut" -lt "$prefix"
check "truncated source: the cut was seen ($got of 4000 messages delivered)" \
	test "$got" -ge "$at_cut" -a "$got" -lt 4000
expect_eq "truncated source: exit 0, 65 or 74" "$(case $st in 0|65|74) echo ok ;; *) echo "$st" ;; esac)" ok
if [ "$st" -ne 0 ]; then
	check "truncated source: the line names the mbox" grep -q "trunc.mbox" "$TMP/trunc.err"
fi
expect_eq "truncated source: tmp/ empty" "$(count_files "$TMP/trunc/tmp")" 0
# what is left of the source converts completely on a rerun, no duplicates
expect_status "truncated source: rerun" 0 "$MAILSHIFT" convert -q "$TMP/trunc.mbox" "$TMP/trunc"
"$MAILSHIFT" convert -q "$TMP/trunc.mbox" "$TMP/trunc-clean"
crash_maildir_sums "$TMP/trunc-clean" | cut -d' ' -f4 | sort >"$TMP/tc.sums"
crash_maildir_sums "$TMP/trunc" | cut -d' ' -f4 | sort >"$TMP/t.sums"
check "truncated source: every message of the truncated mbox is there" \
	test -z "$(comm -23 "$TMP/tc.sums" "$TMP/t.sums")"
expect_eq "truncated source: nothing twice" "$(uniq -d "$TMP/t.sums" | wc -l | tr -d ' ')" 0

# --- dovecot-uidlist.lock: stale (dead pid) and live ----------------------
# (the sample has keywords, so convert writes dovecot-keywords under it)
mkdir -p "$TMP/kw/cur" "$TMP/kw/new" "$TMP/kw/tmp"
printf '%s:%s' 999999 "$(hostname)" >"$TMP/kw/dovecot-uidlist.lock"
t0=$(date +%s)
expect_status "stale dovecot-uidlist.lock (dead pid): converts" 0 \
	"$MAILSHIFT" convert -q --lock-timeout=30 "$DATA/sample.mbox" "$TMP/kw"
check "stale lock: broken at once, not after the timeout" test $(($(date +%s) - t0)) -lt 10
check "stale lock: dovecot-keywords written" test -s "$TMP/kw/dovecot-keywords"
check "stale lock: released" test ! -e "$TMP/kw/dovecot-uidlist.lock"
mkdir -p "$TMP/kw2/cur" "$TMP/kw2/new" "$TMP/kw2/tmp"
sleep 60 &
holder=$!
printf '%s:%s' "$holder" "$(hostname)" >"$TMP/kw2/dovecot-uidlist.lock"
expect_status "live dovecot-uidlist.lock: exit 75 after --lock-timeout" 75 \
	"$MAILSHIFT" convert -q --lock-timeout=1 "$DATA/sample.mbox" "$TMP/kw2"
check "live lock: the line names it" grep -q "kw2/dovecot-uidlist.lock is held by another process" "$TMP/.err"
kill "$holder"
wait "$holder" 2>/dev/null
rm -f "$TMP/kw2/dovecot-uidlist.lock"
expect_status "live lock: success once free" 0 "$MAILSHIFT" convert -q "$DATA/sample.mbox" "$TMP/kw2"
expect_eq "live lock: 40 messages after the rerun" \
	"$(crash_maildir_sums "$TMP/kw2" | wc -l | tr -d ' ')" 40

# the locks' warnings count in the summary (--json "warnings")
jwarn() { python3 -c 'import json, sys; print(sum(json.loads(l).get("warnings", 0) for l in sys.stdin if l.strip()))'; }
w0=$("$MAILSHIFT" convert --json "$DATA/sample.mbox" "$TMP/w0" 2>/dev/null | jwarn)   # the sample's own
mkdir -p "$TMP/kw3/cur" "$TMP/kw3/new" "$TMP/kw3/tmp"
printf '%s:%s' 999999 "$(hostname)" >"$TMP/kw3/dovecot-uidlist.lock"
"$MAILSHIFT" convert --json "$DATA/sample.mbox" "$TMP/kw3" >"$TMP/kw3.json" 2>"$TMP/kw3.err"
expect_eq "stale uidlist lock: said and counted as a warning" \
    "$(grep -c 'dovecot-uidlist.lock: removed a stale lock' "$TMP/kw3.err") $(jwarn <"$TMP/kw3.json")" "1 $((w0 + 1))"
# ... also when the rerun needs no lock (nothing new to write under it): a
# killed run's lock is not left behind for Dovecot to wait on
printf '%s:%s' 999999 "$(hostname)" >"$TMP/kw3/dovecot-uidlist.lock"
"$MAILSHIFT" convert --json "$DATA/sample.mbox" "$TMP/kw3" >"$TMP/kw3.json" 2>"$TMP/kw3.err"
expect_eq "stale uidlist lock, a rerun that delivers nothing: removed, said, counted" \
    "$(test -e "$TMP/kw3/dovecot-uidlist.lock"; echo $?) $(grep -c 'dovecot-uidlist.lock: removed a stale lock' "$TMP/kw3.err") $(jwarn <"$TMP/kw3.json")" "1 1 $((w0 + 1))"
cp "$DATA/sample.mbox" "$TMP/dead.mbox"
echo 4194305 >"$TMP/dead.mbox.lock"     # above any pid_max: a dead holder
"$MAILSHIFT" convert --json "$TMP/dead.mbox" "$TMP/dead" >"$TMP/dead.json" 2>"$TMP/dead.err"
expect_eq "dotlock of a dead process: removed, said and counted as a warning" \
    "$? $(test -e "$TMP/dead.mbox.lock"; echo $?) $(grep -c 'which no longer exists' "$TMP/dead.err") $(jwarn <"$TMP/dead.json")" \
    "0 1 1 $((w0 + 1))"

# --- an mbox locked by another process -------------------------------------
cp "$DATA/sample.mbox" "$TMP/locked.mbox"
sum=$(sha256sum <"$TMP/locked.mbox")
sleep 60 &
holder=$!
echo "$holder" >"$TMP/locked.mbox.lock"     # a dotlock of a live process
t0=$(date +%s)
expect_status "dotlock held: --remove-source exits 75" 75 \
	"$MAILSHIFT" convert -q --lock-timeout=2 --remove-source "$TMP/locked.mbox" "$TMP/lk1"
check "dotlock held: gave up after the timeout, not before" test $(($(date +%s) - t0)) -ge 2
check "dotlock held: the line names the mbox and its lock" \
	grep -q "locked.mbox is locked: .*locked.mbox.lock is busy" "$TMP/.err"
expect_eq "dotlock held: mbox untouched" "$(sha256sum <"$TMP/locked.mbox")" "$sum"
expect_eq "dotlock held: no message delivered" "$(crash_maildir_sums "$TMP/lk1" | wc -l | tr -d ' ')" 0
kill "$holder"; wait "$holder" 2>/dev/null
rm -f "$TMP/locked.mbox.lock"
expect_status "dotlock free: --remove-source succeeds" 0 \
	"$MAILSHIFT" convert -q --lock-timeout=2 --remove-source "$TMP/locked.mbox" "$TMP/lk1"
expect_eq "dotlock free: 40 messages" "$(crash_maildir_sums "$TMP/lk1" | wc -l | tr -d ' ')" 40
expect_eq "dotlock free: the mbox emptied in place" "$(wc -c <"$TMP/locked.mbox" | tr -d ' ')" 0
# an exclusive fcntl lock (a delivery agent writing) stops a plain convert
cp "$DATA/sample.mbox" "$TMP/locked2.mbox"
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "r+"); fcntl.lockf(f, fcntl.LOCK_EX); open(sys.argv[2], "w").close(); time.sleep(30)' \
	"$TMP/locked2.mbox" "$TMP/locked2.ready" &
holder=$!
while [ ! -e "$TMP/locked2.ready" ]; do sleep 0.1; done
expect_status "fcntl lock held: exit 75" 75 "$MAILSHIFT" convert -q --lock-timeout=1 "$TMP/locked2.mbox" "$TMP/lk2"
check "fcntl lock held: the line names the mbox" grep -q "locked2.mbox is locked: fcntl lock" "$TMP/.err"
kill "$holder"; wait "$holder" 2>/dev/null
expect_status "fcntl lock free: exit 0" 0 "$MAILSHIFT" convert -q --lock-timeout=1 "$TMP/locked2.mbox" "$TMP/lk2"
expect_eq "fcntl lock free: 40 messages" "$(crash_maildir_sums "$TMP/lk2" | wc -l | tr -d ' ')" 40

done_testing
