#!/bin/sh
# Crash anywhere, then rerun (DESIGN §1.2; issue acceptance "kill -9 during
# a conversion, then rerun: the result equals an uninterrupted run"):
#  - the test hook _exit()s after N published messages, for every N, and
#    before the N+1th write call, for every N, in batch and per-message sync;
#  - a real kill -9 at random moments of a conversion large enough to be
#    caught in the middle.
# After each crash: nothing half-written is visible in new/ or cur/, the
# rerun completes, the set of message contents equals a clean run, no
# message twice, nothing left in tmp/, and a third run changes nothing.
# A process crash does not depend on the disk: run on tmpfs where fsync is
# free, so that hundreds of runs stay fast.
[ -d /dev/shm ] && [ -w /dev/shm ] && TMPDIR=/dev/shm && export TMPDIR
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need_hooks

python3 "$T_SRCDIR/gen-mbox.py" 40 7 3000 >"$TMP/in.mbox"
"$MAILSHIFT" convert -q "$TMP/in.mbox" "$TMP/clean"
maildir_sums "$TMP/clean" >"$TMP/clean.sums"
expect_eq "clean run: 40 messages" "$(wc -l <"$TMP/clean.sums" | tr -d ' ')" 40

# the SHA-256 of each message file of new/ and cur/ (one sha256sum, on
# every name there, dot files too: no find), read by one awk against the
# clean run's: every file one of the clean run's messages (all_complete),
# or the same multiset and an empty tmp/ (same_as_clean)
sums_of() {
	sha256sum "$1"/new/* "$1"/new/.[!.]* "$1"/new/..?* \
		"$1"/cur/* "$1"/cur/.[!.]* "$1"/cur/..?* 2>/dev/null
}
all_complete() {
	sums_of "$1" | awk -v clean="$TMP/clean.sums" '
		BEGIN { while ((getline l <clean) > 0) c[l] = 1 }
		{ sub(/^\\/, "", $1) } !($1 in c) { bad = 1 } END { exit bad }'
}
same_as_clean() {
	set -- "$1" "$1"/tmp/*
	[ ! -e "$2" ] || return 1
	sums_of "$1" | awk -v clean="$TMP/clean.sums" '
		BEGIN { while ((getline l <clean) > 0) c[l]++ }
		{ sub(/^\\/, "", $1); if (--c[$1] < 0) bad = 1 }
		END { for (l in c) if (c[l]) bad = 1; exit bad }'
}

run_crash() {   # VAR N SYNC
	D="$TMP/c-$1-$2-$3"
	eval "$1=\$2 \"\$MAILSHIFT\" convert -q --batch=7 --sync=\"\$3\" \"\$TMP/in.mbox\" \"\$D\" 2>/dev/null"
	st=$?
	[ "$st" -eq 99 ] || [ "$st" -eq 0 ] || { fail "$1=$2 $3: exit $st"; return; }
	if all_complete "$D"; then pass; else fail "$1=$2 $3: a partial or foreign message is visible"; fi
	"$MAILSHIFT" convert -q --batch=7 --sync="$3" "$TMP/in.mbox" "$D" 2>"$TMP/err"
	expect_eq "$1=$2 $3: rerun exit" $? 0
	if same_as_clean "$D"; then pass; else
		fail "$1=$2 $3: result differs from a clean run"
		maildir_sums "$D" | diff - "$TMP/clean.sums" | head -3 >&2
	fi
	"$MAILSHIFT" convert --json --batch=7 "$TMP/in.mbox" "$D" >"$TMP/json" 2>/dev/null
	read -r json <"$TMP/json" || json=
	case $json in
	*'"delivered":0,"skipped":40'*) pass ;;
	*) fail "$1=$2 $3: third run delivers nothing: $json" ;;
	esac
	# (D goes with $TMP at the end: one rm fewer per crash point)
}

# every N; under valgrind (slow) every 13th N. --sync=none moves each file
# out of tmp/ at once and tells the run's records with the batch: every
# third N of it
step1=1
[ -n "${MAILSHIFT_VALGRIND:-}" ] && step1=13
for sync in batch message none; do
	step=$step1
	[ $sync = none ] && step=$((step1 * 3))
	n=1
	while [ $n -le 40 ]; do run_crash MAILSHIFT_CRASH_AFTER_MESSAGES $n $sync; n=$((n + step)); done
	n=0
	while [ $n -le 90 ]; do run_crash MAILSHIFT_CRASH_AFTER_WRITES $n $sync; n=$((n + step)); done
done

# a real kill -9 in the middle of a bigger conversion
python3 "$T_SRCDIR/gen-mbox.py" 6000 3 6000 >"$TMP/big.mbox"
"$MAILSHIFT" convert -q --sync=none "$TMP/big.mbox" "$TMP/bigclean"
maildir_sums "$TMP/bigclean" >"$TMP/clean.sums"
for delay in 0.05 0.15 0.3 0.6; do
	D="$TMP/k$delay"
	"$MAILSHIFT" convert -q --batch=50 "$TMP/big.mbox" "$D" &
	pid=$!
	sleep "$delay"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	got=$(count_files "$D/new" "$D/cur")
	if all_complete "$D"; then pass; else fail "kill -9 after ${delay}s: partial message visible"; fi
	"$MAILSHIFT" convert -q --batch=50 "$TMP/big.mbox" "$D"
	expect_eq "kill -9 after ${delay}s ($got delivered before): rerun exit" $? 0
	if same_as_clean "$D"; then pass; else fail "kill -9 after ${delay}s: result differs from a clean run"; fi
	rm -rf "$D"
done
done_testing
