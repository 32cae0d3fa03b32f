#!/bin/sh
# Long test (MAILSHIFT_LONG=1): how long a delivery waits while convert
# reads a 1 GB spool (mailshift-convert(1) "Locking": the locks are held
# for one read of 4 MiB at a time, so a delivery waits for at most one
# read, plus its own retry interval when it polls a dotlock). Delivery
# agents append to the spool all through the conversion, each timing how
# long it waited for its lock; the test prints the longest wait of each,
# checks that every delivery got in within its bound, that the conversion
# finished, and that the rerun delivers exactly what arrived meanwhile.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
[ "${MAILSHIFT_LONG:-0}" = 1 ] || { echo "SKIP: a long test: set MAILSHIFT_LONG=1"; exit 77; }
need flock
need lockfile
need dotlockfile

S=$TMP/spool
D=$TMP/Maildir
# 40,000 messages of 0-50 KB: 1 GB
python3 "$T_SRCDIR/gen-mbox.py" 40000 8 51200 >"$S"
size=$(wc -c <"$S" | tr -d ' ')
check "the spool is about 1 GB ($size bytes)" test "$size" -gt 950000000

# agent KIND I: one delivery; prints the milliseconds it waited for its lock
cat >"$TMP/agent" <<'AGENT'
#!/bin/sh
kind=$1 i=$2 spool=$3
msg() { printf 'From agent@example.org Mon Mar  3 09:15:02 2025\nMessage-ID: <%s%s@wait.example>\nSubject: during the conversion\n\ndelivered while convert read the spool\n\n' "$kind" "$i"; }
t0=$(date +%s%N)
case $kind in
flock) flock "$spool" sh -c 'date +%s%N >"$0.t1"; cat >>"$1"' "$spool.$kind" "$spool" <<EOF
$(msg)

EOF
	;;
lockfile) lockfile -1 -r 120 "$spool.lock" || exit 1
	date +%s%N >"$spool.$kind.t1"; msg >>"$spool"; rm -f "$spool.lock" ;;
dotlockfile) dotlockfile -r 10 -l "$spool.lock" || exit 1
	date +%s%N >"$spool.$kind.t1"; msg >>"$spool"; dotlockfile -u "$spool.lock" ;;
esac
echo $(( ($(cat "$spool.$kind.t1") - t0) / 1000000 ))
AGENT
chmod +x "$TMP/agent"

start=$(date +%s)
"$MAILSHIFT" convert -q "$S" "$D" 2>"$TMP/convert.err" &
cpid=$!
for kind in flock lockfile dotlockfile; do
	(
		i=0
		while kill -0 $cpid 2>/dev/null; do
			"$TMP/agent" $kind $i "$S" >>"$TMP/wait.$kind" || echo fail >>"$TMP/wait.$kind"
			i=$((i + 1))
			sleep 0.3
		done
	) &
done
wait $cpid
cst=$?
wait
secs=$(($(date +%s) - start))
expect_eq "the conversion finishes: exit 0" "$cst" 0
for kind in flock lockfile dotlockfile; do
	n=$(wc -l <"$TMP/wait.$kind" | tr -d ' ')
	max=$(sort -n "$TMP/wait.$kind" | tail -1)
	avg=$(awk '{ s += $1 } END { if (NR) printf "%d", s / NR }' "$TMP/wait.$kind")
	echo "# $kind: $n deliveries during a ${secs} s conversion of $size bytes: longest wait $max ms, mean $avg ms"
	check "$kind: every delivery got in" sh -c "! grep -q fail '$TMP/wait.$kind'"
	check "$kind: deliveries during the conversion" test "$n" -ge 3
done
# the bounds of mailshift-convert(1): a blocking agent waits for one read
# (milliseconds), a polling one also for its retry interval (lockfile -1:
# 1 s; dotlockfile: 5 s, then 10 s...). A shared machine under I/O load
# can stall any one delivery (a file creation waiting on the journal), so
# the longest wait may include one more retry; the mean is what shows
# whether the locks are free between reads: a convert holding them
# through its writing as well would keep pollers out most of the time
# (mean waits of many seconds) and blocking agents for whole reads.
mean() { awk '{ s += $1 } END { printf "%d", NR ? s / NR : 0 }' "$TMP/wait.$1"; }
longest() { sort -n "$TMP/wait.$1" | tail -1; }
check "flock(1), which blocks: mean wait under 300 ms" test "$(mean flock)" -lt 300
check "flock(1): longest wait under 3 s" test "$(longest flock)" -lt 3000
check "lockfile(1), polling each second: mean wait under 1 s" test "$(mean lockfile)" -lt 1000
check "lockfile(1): longest wait under 5 s (two retries)" test "$(longest lockfile)" -lt 5000
check "dotlockfile(1), polling after 5 s: mean wait under 2.5 s" test "$(mean dotlockfile)" -lt 2500
check "dotlockfile(1): longest wait under 17 s (two retries: 5 s, 10 s)" test "$(longest dotlockfile)" -lt 17000
# the rerun delivers what arrived during the run, once
arrived=$(grep -c '@wait.example>' "$S")
"$MAILSHIFT" convert --json "$S" "$D" >"$TMP/j" 2>/dev/null
got=$(find "$D/new" "$D/cur" -type f -print0 | xargs -0 grep -h '@wait.example>' | sort -u | wc -l | tr -d ' ')
expect_eq "every delivery made during the run is in the Maildir after the rerun" "$got" "$arrived"
expect_eq "40,000 + $arrived files" "$(count_files "$D/new" "$D/cur")" $((40000 + arrived))
done_testing
