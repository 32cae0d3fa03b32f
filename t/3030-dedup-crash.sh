#!/bin/sh
# mailshift dedup --delete on an mbox, interrupted at every write and after
# every message (MAILSHIFT_CRASH_AFTER_WRITES / _MESSAGES, test hooks) and by
# kill -9 at random moments: the rerun finishes the journal, loses nothing
# and ends with the same bytes as an uninterrupted run (SPEC §5 O7).
# A process crash, unlike a power cut, does not depend on the file system:
# on a tmpfs when there is one, where the hundreds of syncs cost nothing.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then TMPDIR=/dev/shm; export TMPDIR; fi
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need python3

# three copies of the sample; the second marks its unread messages read, so
# the kept copies gain flags (a header rewrite before the deletions)
sed 's/^Status: O$/Status: RO/' "$DATA/sample.mbox" >"$TMP/read.mbox"
cat "$DATA/sample.mbox" "$TMP/read.mbox" "$DATA/sample.mbox" >"$TMP/base.mbox"

# distinct messages without their flag headers (Python's mailbox reader)
content() {
	python3 -c '
import hashlib, mailbox, sys
s = set()
for m in mailbox.mbox(sys.argv[1]):
    for h in ("Status", "X-Status"):
        del m[h]
    s.add(hashlib.sha256(m.as_bytes()).hexdigest())
print(len(s), hashlib.sha256("".join(sorted(s)).encode()).hexdigest())' "$1"
}
want=$(content "$TMP/base.mbox")

cp "$TMP/base.mbox" "$TMP/clean.mbox"
$MAILSHIFT dedup -q --delete "$TMP/clean.mbox"
expect_eq "clean run: exit" "$?" 0
expect_eq "clean run: nothing lost" "$(content "$TMP/clean.mbox")" "$want"
expect_eq "clean run: Status: O became RO" "$(grep -c '^Status: O$' "$TMP/clean.mbox")" 0
expect_eq "clean run: one copy of each" "$(grep -c '^From ' "$TMP/clean.mbox")" 41

cp "$TMP/base.mbox" "$TMP/probe.mbox"
MAILSHIFT_CRASH_AFTER_WRITES=1 $MAILSHIFT dedup -q --delete "$TMP/probe.mbox" 2>/dev/null
if [ $? -ne 99 ]; then echo "ERROR: the crash hook did not fire: $MAILSHIFT has no test hooks" >&2; exit 99; fi

# A crashed run leaves its dotlock; a waiting locker breaks it only after
# five minutes (lock.h), so the tests remove it as that would.
unlock() { rm -f "$1.lock"; }

# crash before every write, rerun, compare (under valgrind every 7th)
step=1
[ "${MAILSHIFT_VALGRIND:-0}" = 1 ] && step=7
n=1 crashes=0
while [ $n -le 400 ]; do
	cp "$TMP/base.mbox" "$TMP/c.mbox"
	MAILSHIFT_CRASH_AFTER_WRITES=$n $MAILSHIFT dedup -q --delete "$TMP/c.mbox" 2>/dev/null
	st=$?
	[ $st -eq 0 ] && break
	[ $st -eq 99 ] || { fail "writes=$n: exit $st"; break; }
	crashes=$((crashes + 1))
	unlock "$TMP/c.mbox"
	$MAILSHIFT dedup -q --delete "$TMP/c.mbox" 2>"$TMP/err"
	rst=$?
	if [ $rst -eq 0 ] && cmp -s "$TMP/c.mbox" "$TMP/clean.mbox" && [ ! -e "$TMP/c.mbox.mailshift-journal" ]; then
		pass
	else
		fail "writes=$n: rerun exit $rst, result differs from a clean run"
	fi
	n=$((n + step))
done
[ $crashes -ge 3 ] && pass || fail "only $crashes crash points"
echo "# $crashes write crash points"

# crash after every removed message
n=1 crashes=0
while [ $n -le 200 ]; do
	cp "$TMP/base.mbox" "$TMP/c.mbox"
	MAILSHIFT_CRASH_AFTER_MESSAGES=$n $MAILSHIFT dedup -q --delete "$TMP/c.mbox" 2>/dev/null
	st=$?
	[ $st -eq 0 ] && break
	crashes=$((crashes + 1))
	unlock "$TMP/c.mbox"
	$MAILSHIFT dedup -q --delete "$TMP/c.mbox" 2>/dev/null
	if cmp -s "$TMP/c.mbox" "$TMP/clean.mbox"; then pass; else fail "messages=$n: result differs"; fi
	n=$((n + step))
done
[ "$step" -eq 1 ] && expect_eq "message crash points (one per duplicate)" "$crashes" 80

# kill -9 at random moments on a larger mailbox
i=0
while [ $i -lt 30 ]; do cat "$TMP/base.mbox"; i=$((i + 1)); done >"$TMP/big.mbox"
cp "$TMP/big.mbox" "$TMP/bigclean.mbox"
$MAILSHIFT dedup -q --delete "$TMP/bigclean.mbox"
expect_eq "big clean: one copy of each" "$(grep -c '^From ' "$TMP/bigclean.mbox")" 41
killed=0
for d in 0.01 0.02 0.03 0.05 0.08 0.1 0.15 0.2 0.3; do
	cp "$TMP/big.mbox" "$TMP/k.mbox"
	$MAILSHIFT dedup -q --delete "$TMP/k.mbox" 2>/dev/null &
	pid=$!
	sleep $d
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	[ $? -eq 137 ] && killed=$((killed + 1))
	unlock "$TMP/k.mbox"
	$MAILSHIFT dedup -q --delete "$TMP/k.mbox" 2>/dev/null
	if cmp -s "$TMP/k.mbox" "$TMP/bigclean.mbox"; then pass; else fail "kill -9 after ${d}s: result differs"; fi
done
echo "# $killed of 9 runs killed before they finished"

done_testing
