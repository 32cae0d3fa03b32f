#!/bin/sh
# Hostile input to convert (DESIGN §1.3, §1.5): 10 MB header lines, a
# million header fields, 100,000 tiny messages, a 2 GB message (sparse
# file), NUL bytes everywhere, invalid UTF-8, a From_ line every other line,
# CR-only line ends, an mbox that is a FIFO, /dev/zero. Each run under
# timeout (no hang) and /usr/bin/time (peak RSS bounded), with either the
# exact result or exit 65 and one line naming the file.
# 100,000 files and a 2 GB one: on a tmpfs when there is one with room
if [ -d /dev/shm ] && [ -w /dev/shm ] &&
   [ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -gt 4000000 ]; then
	TMPDIR=/dev/shm; export TMPDIR
fi
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need python3
[ -x /usr/bin/time ] || { echo "SKIP: /usr/bin/time missing"; exit 77; }

# Peak RSS bound: the reader's 4 MiB buffer, the writer, rerun keys (about
# 40 bytes a message) and libraries. Sanitizers and valgrind add their own.
RSS_MAX=${RSS_MAX:-65536}
[ -n "${MAILSHIFT_SANITIZER:-}" ] && RSS_MAX=1048576
[ "${MAILSHIFT_VALGRIND:-0}" = 1 ] && RSS_MAX=
F='From a@b.example Mon Jan  1 00:00:00 2001'

# conv LABEL WANT-STATUS SECONDS SRC DEST: run convert, check status and RSS
conv() {
	label=$1 want=$2 secs=$3
	st=0
	/usr/bin/time -o "$TMP/rss" -f %M timeout -k 10 "$secs" \
		"$MAILSHIFT" convert -q --sync=none "$4" "$5" >"$TMP/.out" 2>"$TMP/.err" || st=$?
	expect_eq "$label: exit status (124 = hang)" "$st" "$want"
	rss=$(tail -n 1 "$TMP/rss")
	if [ -n "$RSS_MAX" ]; then
		check "$label: peak RSS ${rss} KiB <= $RSS_MAX KiB" test "$rss" -le "$RSS_MAX"
	fi
	echo "# $label: exit $st, peak RSS $rss KiB"
}
msgs() { find "$1/new" "$1/cur" -type f 2>/dev/null | wc -l | tr -d ' '; }

# --- one 10 MB header line ---------------------------------------------------
{ printf '%s\nSubject: long\nX-Long: ' "$F"; head -c 10485760 /dev/zero | tr '\0' a
  printf '\n\nbody\n'; } >"$TMP/long.mbox"
conv "10 MB header line" 0 120 "$TMP/long.mbox" "$TMP/long"
expect_eq "10 MB header line: one message" "$(msgs "$TMP/long")" 1
expect_eq "10 MB header line: the message byte for byte" \
	"$(cat "$TMP"/long/new/* | sha256sum | cut -c1-64)" \
	"$(tail -c +$((${#F} + 2)) "$TMP/long.mbox" | sha256sum | cut -c1-64)"

# --- a million header fields -------------------------------------------------
python3 -c 'import sys; sys.stdout.buffer.write(sys.argv[1].encode() + b"\n" + b"X-H: 1\n" * 1000000 + b"\nbody\n")' \
	"$F" >"$TMP/many.mbox"
conv "a million header fields" 0 120 "$TMP/many.mbox" "$TMP/many"
expect_eq "a million header fields: one message of 7000006 bytes" \
	"$(wc -c <"$(find "$TMP/many/new" -type f)" | tr -d ' ')" 7000006

# --- 100,000 tiny messages ---------------------------------------------------
python3 -c 'import sys; f = sys.argv[1].encode()
sys.stdout.buffer.write(b"".join(f + b"\nS: %d\n\nb\n\n" % i for i in range(100000)))' "$F" >"$TMP/tiny.mbox"
conv "100,000 tiny messages" 0 300 "$TMP/tiny.mbox" "$TMP/tiny"
expect_eq "100,000 tiny messages: all there" "$(msgs "$TMP/tiny")" 100000
expect_eq "100,000 tiny messages: 7 bytes + the number each, 1188890 in all" \
	"$(find "$TMP/tiny/new" -type f -exec cat {} + | wc -c | tr -d ' ')" 1188890
rm -rf "$TMP/tiny" "$TMP/tiny.mbox"

# --- a 2 GB message, sparse --------------------------------------------------
if [ "${MAILSHIFT_VALGRIND:-0}" != 1 ] && [ "$(df -Pk "$TMP" | awk 'NR == 2 { print $4 }')" -gt 3000000 ]; then
	printf '%s\nSubject: big\n\n' "$F" >"$TMP/big.mbox"
	hl=$(wc -c <"$TMP/big.mbox")
	truncate -s $((hl + 2147483648)) "$TMP/big.mbox"
	printf '\nend\n' >>"$TMP/big.mbox"
	conv "2 GB sparse message" 0 600 "$TMP/big.mbox" "$TMP/big"
	f=$(find "$TMP/big/new" -type f)
	expect_eq "2 GB message: size" "$(wc -c <"$f" | tr -d ' ')" $((hl - ${#F} - 1 + 2147483648 + 5))
	expect_eq "2 GB message: ends with the last line" "$(tail -c 4 "$f")" "end"
	rm -rf "$TMP/big" "$TMP/big.mbox"
else
	echo "# 2 GB message skipped (valgrind, or less than 3 GB free in $TMP)"
fi

# --- NUL bytes everywhere, invalid UTF-8 -------------------------------------
python3 -c 'import sys; f = sys.argv[1].encode() + b"\n"
m = b"Subject: \0n\0ul\n\n" + b"\0" * 50 + b"\n\0\0\n"
sys.stdout.buffer.write(b"".join(f + m + b"\n" for i in range(20)))' "$F" >"$TMP/nul.mbox"
conv "NUL bytes" 0 60 "$TMP/nul.mbox" "$TMP/nul"
expect_eq "NUL bytes: 20 messages" "$(msgs "$TMP/nul")" 20
expect_eq "NUL bytes: every byte kept (20 x 70)" "$(cat "$TMP"/nul/new/* | wc -c | tr -d ' ')" 1400
python3 -c 'import sys; f = sys.argv[1].encode() + b"\n"
m = b"Subject: \xff\xfe\xc3\x28 \xed\xa0\x80\nFrom: \xe2\x82 <x@y>\n\n\xf8\x88\x80\x80\x80 \xc0\xaf\n"
sys.stdout.buffer.write(b"".join(f + m + b"\n" for i in range(20)))' "$F" >"$TMP/utf8.mbox"
conv "invalid UTF-8" 0 60 "$TMP/utf8.mbox" "$TMP/utf8"
expect_eq "invalid UTF-8: 20 messages" "$(msgs "$TMP/utf8")" 20
expect_eq "invalid UTF-8: bytes kept" "$(cat "$TMP"/utf8/new/* | sha256sum | cut -c1-64)" \
	"$(python3 -c 'import sys, hashlib
d = open(sys.argv[1], "rb").read().split(b"\n", 1)[1]
m = d.split(b"\n\n" + sys.argv[2].encode() + b"\n")[0] + b"\n"
print(hashlib.sha256(m * 20).hexdigest())' "$TMP/utf8.mbox" "$F")"

# --- a From_ line every other line ------------------------------------------
python3 -c 'import sys; f = sys.argv[1].encode() + b"\n"
sys.stdout.buffer.write(b"".join(f + b"line %d\n" % i for i in range(5000)))' "$F" >"$TMP/eo.mbox"
conv "From_ every other line" 0 60 "$TMP/eo.mbox" "$TMP/eo"
n=$(msgs "$TMP/eo")
inner=$(find "$TMP/eo/new" "$TMP/eo/cur" -type f -exec cat {} + | grep -c '^From a@b.example')
expect_eq "From_ every other line: messages + From_ lines kept inside = 5000" $((n + inner)) 5000
expect_eq "From_ every other line: every body line once" \
	"$(find "$TMP/eo/new" "$TMP/eo/cur" -type f -exec cat {} + | grep -c '^line ')" 5000

# --- CR-only line ends ------------------------------------------------------
printf '%s\rSubject: x\r\rbody\r\r' "$F" >"$TMP/cr.mbox"
conv "CR-only line ends" 65 30 "$TMP/cr.mbox" "$TMP/cr"
check "CR-only: one line naming the file" grep -q "cr.mbox: not a usable mbox: no LF" "$TMP/.err"
expect_eq "CR-only: nothing created" "$(msgs "$TMP/cr")" 0

# --- a FIFO -----------------------------------------------------------------
mkfifo "$TMP/fifo"
cat "$TMP/utf8.mbox" >"$TMP/fifo" &
conv "FIFO with a writer" 0 60 "$TMP/fifo" "$TMP/fifo-md"
wait
expect_eq "FIFO: 20 messages" "$(msgs "$TMP/fifo-md")" 20
# a FIFO is read from its writer, as cat reads it: a conversion started
# before the writer opened it waits for it (a read before would end at once,
# and the writer would then wait forever for a reader)
"$MAILSHIFT" convert -q --sync=none "$TMP/fifo" "$TMP/fifo-late" 2>"$TMP/late.err" &
late=$!
sleep 1
check "FIFO: waits for its writer" kill -0 "$late"
timeout -k 5 30 sh -c 'cat "$1" >"$2"' sh "$TMP/utf8.mbox" "$TMP/fifo"
expect_eq "FIFO: the writer was read" "$?" 0
wait "$late"
expect_eq "FIFO with a late writer: exit" "$?" 0
expect_eq "FIFO with a late writer: 20 messages" "$(msgs "$TMP/fifo-late")" 20

# a signal ends a read that waits for a FIFO's writer (connected, silent):
# the run stops at once, by the signal, not when the writer is done
sh -c 'cat "$1"; exec sleep 60' sh "$TMP/utf8.mbox" >"$TMP/fifo" &
wpid=$!
"$MAILSHIFT" convert -q --sync=none "$TMP/fifo" "$TMP/fifo-int" 2>"$TMP/int.err" &
cpid=$!
sleep 2
t0=$(date +%s)
kill -INT "$cpid"
wait "$cpid"
expect_eq "FIFO, SIGINT while its writer is silent: ended by the signal" "$?" 130
check "FIFO, SIGINT while its writer is silent: at once" test $(($(date +%s) - t0)) -le 10
check "FIFO, SIGINT while its writer is silent: said" grep -q "^mailshift convert: error: $TMP/fifo:[0-9:]* *interrupted while waiting for" "$TMP/int.err"
kill "$wpid" 2>/dev/null
wait "$wpid" 2>/dev/null

# --- /dev/zero --------------------------------------------------------------
conv "/dev/zero" 65 30 /dev/zero "$TMP/zero"
check "/dev/zero: refused with one line" grep -q "/dev/zero: not a mailbox (data)" "$TMP/.err"
expect_eq "/dev/zero: one line" "$(wc -l <"$TMP/.err" | tr -d ' ')" 1

done_testing
