#!/bin/sh
# Faults while writing an mbox (convert Maildir -> mbox; DESIGN §1.1, §1.2,
# §1.5, §4; SPEC §5 O5): a full disk (ENOSPC on a 1 MiB tmpfs), EIO and
# ENOSPC from the k-th write (MAILSHIFT_FAIL_WRITE), the same with
# --remove-source, a read-only destination, too few file descriptors
# (EMFILE) for convert, check, stats and dedup, and a journal of an
# in-place rewrite (dedup --delete, repair) that does not fit. Each: the documented exit
# status and one line naming the file and the error; the mbox is cut back
# to its old bytes (nothing torn, nothing half-appended); with
# --remove-source every message is in the mbox or still in the Maildir,
# exactly once; after the fault is gone a rerun equals a clean run.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
. "$T_SRCDIR/crashlib.sh"

# about 5.5 MB: the writer's 1 MiB buffer makes 5 or 6 writes
N=900
python3 "$T_SRCDIR/gen-mbox.py" $N 9 12000 >"$TMP/big.mbox"
"$MAILSHIFT" convert -q "$TMP/big.mbox" "$TMP/src" || exit 99
crash_maildir_sums "$TMP/src" >"$TMP/src.sums"
expect_eq "source: $N messages" "$(wc -l <"$TMP/src.sums" | tr -d ' ')" $N

# An mbox that already holds a message: a failed append must give back
# exactly these bytes.
printf 'From old@example.org Mon Jan  4 10:00:00 2021\nSubject: kept\n\nold\n\n' >"$TMP/old.mbox"
cp "$TMP/old.mbox" "$TMP/clean.mbox"
"$MAILSHIFT" convert -q --to=mbox "$TMP/src" "$TMP/clean.mbox" || exit 99
expect_eq "clean run: $((N + 1)) messages" "$(grep -c '^From ' "$TMP/clean.mbox")" $((N + 1))

# after_fault LABEL MBOX: the mbox holds its old bytes; a rerun without the
# fault gives the clean result
after_fault() {
	check "$1: the mbox is cut back to its old bytes" cmp -s "$2" "$TMP/old.mbox"
	expect_status "$1: rerun" 0 "$MAILSHIFT" convert -q --to=mbox "$TMP/src" "$2"
	check "$1: rerun equals a clean run" cmp -s "$2" "$TMP/clean.mbox"
	check "$1: no append marker left" test ! -e "$2.mailshift-append"
}

# --- ENOSPC: a 1 MiB tmpfs -------------------------------------------------
mkdir "$TMP/small"
if mount -t tmpfs -o size=1m tmpfs "$TMP/small" 2>/dev/null; then
	cp "$TMP/old.mbox" "$TMP/small/out.mbox"
	expect_status "ENOSPC: exit 74" 74 "$MAILSHIFT" convert -q --json --to=mbox "$TMP/src" "$TMP/small/out.mbox"
	# the summary counts what the mbox holds: the appended messages were
	# taken back with the failed write
	check "ENOSPC: the summary says none delivered" grep -q '"delivered":0,.*"bytes":0,' "$TMP/.out"
	check "ENOSPC: the summary reads messages up to the failure" \
		grep -Eq '"messages":[1-9][0-9]*,' "$TMP/.out"
	check "ENOSPC: the line names the mbox and the error" \
		grep -q "unable to write .*small/out.mbox: No space left on device" "$TMP/.err"
	expect_eq "ENOSPC: stderr is one line" "$(wc -l <"$TMP/.err" | tr -d ' ')" 1
	check "ENOSPC: the mbox is cut back to its old bytes" cmp -s "$TMP/small/out.mbox" "$TMP/old.mbox"
	mount -o remount,size=64m "$TMP/small"
	after_fault "ENOSPC" "$TMP/small/out.mbox"

	# --remove-source: the batches made durable before the disk filled
	# left the Maildir; the failed one stays there, and the rerun moves it
	rm -rf "$TMP/small/src" "$TMP/small/out.mbox"
	mount -o remount,size=1m "$TMP/small"
	cp -a "$TMP/src" "$TMP/rs-src"
	cp "$TMP/old.mbox" "$TMP/small/out.mbox"
	expect_status "ENOSPC --remove-source: exit 74" 74 \
		"$MAILSHIFT" convert -q --json --to=mbox --batch=20 --remove-source "$TMP/rs-src" "$TMP/small/out.mbox"
	cp "$TMP/.out" "$TMP/rs.json"
	python3 -c '
import hashlib, mailbox, sys
for m in list(mailbox.mbox(sys.argv[1], create=False))[1:]:
    print(m.get("Message-ID"))' "$TMP/small/out.mbox" >"$TMP/rs-moved"
	moved=$(wc -l <"$TMP/rs-moved" | tr -d ' ')
	left=$(count_files "$TMP/rs-src/new" "$TMP/rs-src/cur")
	check "ENOSPC --remove-source: some messages moved ($moved), not all" test "$moved" -gt 0 -a "$moved" -lt $N
	expect_eq "ENOSPC --remove-source: moved + left in the Maildir" $((moved + left)) $N
	expect_eq "ENOSPC --remove-source: the mbox ends with whole batches" $((moved % 20)) 0
	expect_eq "ENOSPC --remove-source: the summary's delivered are the durable batches" \
		"$(sed -n 's/.*"delivered":\([0-9]*\),.*/\1/p' "$TMP/rs.json")" "$moved"
	expect_eq "ENOSPC --remove-source: the summary's removed are the same" \
		"$(sed -n 's/.*"removed":\([0-9]*\),.*/\1/p' "$TMP/rs.json")" "$moved"
	mount -o remount,size=64m "$TMP/small"
	expect_status "ENOSPC --remove-source: rerun" 0 \
		"$MAILSHIFT" convert -q --to=mbox --remove-source "$TMP/rs-src" "$TMP/small/out.mbox"
	expect_eq "ENOSPC --remove-source: the Maildir is empty" "$(count_files "$TMP/rs-src/new" "$TMP/rs-src/cur")" 0
	crash_mbox_messages "$TMP/small/out.mbox" | sort >"$TMP/rs.got"
	crash_mbox_messages "$TMP/clean.mbox" | sort >"$TMP/rs.want"
	check "ENOSPC --remove-source: every message once in the mbox" cmp -s "$TMP/rs.got" "$TMP/rs.want"
	umount "$TMP/small"
else
	echo "# cannot mount a tmpfs: ENOSPC on a real file system not tried"
fi

# --- the k-th write fails --------------------------------------------------
need_hooks
# the first write, one in the middle, the last but one
for k in 1 3 5; do
	for e in EIO ENOSPC; do
		out=$TMP/fw-$k-$e.mbox
		cp "$TMP/old.mbox" "$out"
		MAILSHIFT_FAIL_WRITE=$k:$e; export MAILSHIFT_FAIL_WRITE
		expect_status "write $k fails with $e: exit 74" 74 \
			"$MAILSHIFT" convert -q --to=mbox "$TMP/src" "$out"
		unset MAILSHIFT_FAIL_WRITE
		case $e in EIO) msg="Input/output error" ;; *) msg="No space left" ;; esac
		check "write $k fails with $e: a line naming the mbox" \
			grep -q "unable to write $out: $msg" "$TMP/.err"
		after_fault "write $k $e" "$out"
	done
done

# --- read-only destination -------------------------------------------------
mkdir -p "$TMP/ro"
if mount -t tmpfs -o ro,size=1m tmpfs "$TMP/ro" 2>/dev/null; then
	expect_status "read-only file system: exit 73" 73 \
		"$MAILSHIFT" convert -q --to=mbox "$TMP/src" "$TMP/ro/out.mbox"
	check "read-only: the line names the mbox" grep -q "ro/out.mbox.*Read-only file system" "$TMP/.err"
	expect_eq "read-only: the source is whole" "$(count_files "$TMP/src/new" "$TMP/src/cur")" $N
	umount "$TMP/ro"
fi

# --- EMFILE ----------------------------------------------------------------
# Too few descriptors to open cur/ or a message: a line that says so (not
# "not a maildir", not a finding of the mailbox), exit 66 or 74, and the
# output cut back. (Not under valgrind: it needs descriptors to start.)
# Descriptors 3 and 7 are held open here as a wrapper such as
# `/usr/bin/time -o FILE` holds one: with_fd_limit closes what the command
# would inherit, so the limit is the same whoever started the test.
exec 3>"$TMP/held-by-a-wrapper" 7<"$TMP/old.mbox"
[ "${MAILSHIFT_VALGRIND:-0}" = 1 ] && echo "# EMFILE not tried under valgrind"
emfile_ok() { case $1 in 66|74) echo ok ;; *) echo "$1" ;; esac; }
for lim in $([ "${MAILSHIFT_VALGRIND:-0}" = 1 ] || echo 4 5 6 7 8); do
	out=$TMP/emfile-$lim.mbox
	cp "$TMP/old.mbox" "$out"
	st=0
	with_fd_limit "$lim" "$MAILSHIFT" convert -q --to=mbox "$TMP/src" "$out" 2>"$TMP/.err" || st=$?
	if [ "$st" -ne 0 ]; then
		expect_eq "ulimit -n $lim: convert exit 66 or 74" "$(emfile_ok "$st")" ok
		check "ulimit -n $lim: convert says Too many open files" grep -q "Too many open files" "$TMP/.err"
		check "ulimit -n $lim: no 'not a maildir'" sh -c "! grep -q 'not a maildir' '$TMP/.err'"
		after_fault "ulimit -n $lim" "$out"
	else
		check "ulimit -n $lim: convert finished: the clean result" cmp -s "$out" "$TMP/clean.mbox"
	fi
	for cmd in check stats dedup; do
		# (stats prints its figures: what it could not read is not in them)
		st=0
		with_fd_limit "$lim" "$MAILSHIFT" $cmd -q "$TMP/src" >"$TMP/.out" 2>"$TMP/.err" || st=$?
		if [ "$st" -ne 0 ]; then
			expect_eq "ulimit -n $lim: $cmd exit 1, 66 or 74" "$(case $st in 1|66|74) echo ok ;; *) echo "$st" ;; esac)" ok
			check "ulimit -n $lim: $cmd says Too many open files" grep -q "Too many open files" "$TMP/.err"
			[ "$cmd" = stats ] ||
				check "ulimit -n $lim: $cmd reports no finding" test ! -s "$TMP/.out"
		fi
	done
done
[ "${MAILSHIFT_VALGRIND:-0}" = 1 ] ||
	expect_status "enough descriptors: check is clean" 0 with_fd_limit 16 "$MAILSHIFT" check -q "$TMP/src"
exec 3>&- 7<&-

# --- an in-place rewrite on a full disk: the journal does not fit -----------
# dedup --delete and repair write the new tail to <mbox>.mailshift-journal
# first: when that fails the mbox is not touched (same bytes), and the run
# after space was freed finishes the job.
mkdir "$TMP/full"
if mount -t tmpfs -o size=8m tmpfs "$TMP/full" 2>/dev/null; then
	python3 - "$TMP/big.mbox" "$TMP/dup.mbox" "$TMP/unq.mbox" <<'PY'
import re, sys
d = open(sys.argv[1], 'rb').read()
parts = [p for p in re.split(rb'(?m)^(?=From user)', d) if p]
# a copy of the first message right after it: the whole rest moves
open(sys.argv[2], 'wb').write(parts[0] + parts[0] + b''.join(parts[1:]))
# an unquoted body line "From ..." in the second message
i = parts[1].index(b'\n\n') + 2
parts[1] = parts[1][:i] + b'From here on, an unquoted line\n' + parts[1][i:]
open(sys.argv[3], 'wb').write(b''.join(parts))
PY
	cp "$TMP/dup.mbox" "$TMP/full/"
	ino=$(stat -c %i "$TMP/full/dup.mbox")
	expect_status "dedup --delete, journal does not fit: exit 74" 74 \
		"$MAILSHIFT" dedup -q --delete "$TMP/full/dup.mbox"
	check "dedup --delete: the line names the journal" \
		grep -q "unable to write .*dup.mbox.mailshift-journal: No space left on device" "$TMP/.err"
	check "dedup --delete: the mbox is untouched" cmp -s "$TMP/full/dup.mbox" "$TMP/dup.mbox"
	expect_eq "dedup --delete: no journal left" "$(ls "$TMP/full" | tr '\n' ' ')" "dup.mbox "
	mount -o remount,size=24m "$TMP/full"
	expect_status "dedup --delete after space was freed" 0 "$MAILSHIFT" dedup -q --delete "$TMP/full/dup.mbox"
	check "dedup --delete: the duplicate is gone, the rest byte for byte" \
		cmp -s "$TMP/full/dup.mbox" "$TMP/big.mbox"
	expect_eq "dedup --delete: same inode" "$(stat -c %i "$TMP/full/dup.mbox")" "$ino"
	rm "$TMP/full/dup.mbox"
	mount -o remount,size=8m "$TMP/full"
	cp "$TMP/unq.mbox" "$TMP/full/"
	expect_status "repair, journal does not fit: exit 74" 74 "$MAILSHIFT" repair -q "$TMP/full/unq.mbox"
	check "repair: the line names the journal" \
		grep -q "unable to write .*unq.mbox.mailshift-journal: No space left on device" "$TMP/.err"
	check "repair: the mbox is untouched" cmp -s "$TMP/full/unq.mbox" "$TMP/unq.mbox"
	expect_eq "repair: no journal left" "$(ls "$TMP/full" | tr '\n' ' ')" "unq.mbox "
	mount -o remount,size=24m "$TMP/full"
	expect_status "repair after space was freed" 0 "$MAILSHIFT" repair -q "$TMP/full/unq.mbox"
	expect_status "repair: check is clean" 0 "$MAILSHIFT" check -q "$TMP/full/unq.mbox"
	umount "$TMP/full"
fi

done_testing
