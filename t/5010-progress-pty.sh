#!/bin/sh
# t/5010-progress-pty.sh: the progress line (report.c report_progress).
# Under a pseudo-terminal (script(1) from util-linux) convert and stats show
# "mailshift CMD: N messages, X MB[, R MB/s][, P%, ETA M:SS]" on stderr,
# redrawn in place with CR and erased (CR ESC[K) before any warning, error
# or summary line; the ETA only when the input size is known. Never when
# stderr is not a terminal, with -q or with --no-progress; --progress forces
# it. check, repair and dedup never draw a progress line that is left on
# screen before their findings.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

need script
ESC=$(printf '\033')
CR=$(printf '\r')

# pty OUT COMMAND...: run COMMAND with stdin, stdout and stderr on a pty;
# everything it printed in OUT, its exit status returned.
pty() {
	out=$1; shift
	cmd=''
	for a in "$@"; do cmd="$cmd '$a'"; done
	script -qfec "$cmd" /dev/null >"$out" </dev/null
}
# Progress texts of OUT for command CMD, one per line.
progress_of() { tr '\r' '\n' <"$1" | sed -n "s/^\(mailshift $2: [0-9]* messages\{0,1\}, [0-9.]* MB.*\)${ESC}\[K\$/\1/p"; }
# Number of diagnostic lines (warning, error or summary) in OUT, and of
# those preceded by the erase sequence.
count_lines() { tr '\r' '\n' <"$1" | grep -c "$2"; }
count_erased() { tr '\r' '\n' <"$1" | grep -c "^${ESC}\[K$2"; }
# Number of them at the start of a line: after the erase sequence, or after
# a newline when no progress text was up (a warning just erased it).
count_clean() { LC_ALL=C sed "s/\r${ESC}\[K/\n${ESC}[K/g" "$1" | grep -c "^\(${ESC}\[K\)\{0,1\}$2"; }

copies=60      # 6 under valgrind, which is slow enough
[ "${MAILSHIFT_VALGRIND:-0}" = 1 ] && copies=6
per=$((copies * 40))
i=0
while [ "$i" -lt "$copies" ]; do cat "$DATA/sample.mbox"; i=$((i + 1)); done >"$TMP/big.mbox"
size=$(wc -c <"$TMP/big.mbox" | tr -d ' ')

# 1. convert on a terminal: progress lines, redrawn in place.
status=0
pty "$TMP/conv.out" "$MAILSHIFT" convert --sync=none "$TMP/big.mbox" "$TMP/M1" || status=$?
expect_eq "pty convert: exit status" "$status" 0
progress_of "$TMP/conv.out" convert >"$TMP/conv.prog"
n=$(wc -l <"$TMP/conv.prog" | tr -d ' ')
check "pty convert: progress lines drawn ($n)" test "$n" -ge 2
expect_eq "pty convert: first progress line" "$(head -n 1 "$TMP/conv.prog")" \
	"mailshift convert: 1 message, 0.0 MB"
# Counts never go down; the last count is at most the total.
check "pty convert: counts increase" sh -c "sed 's/.*: \([0-9]*\) messages\{0,1\},.*/\1/' '$TMP/conv.prog' | sort -n -c"
last=$(tail -n 1 "$TMP/conv.prog" | sed 's/.*: \([0-9]*\) messages\{0,1\},.*/\1/')
check "pty convert: last count $last <= $per" test "$last" -le "$per" -a "$last" -ge 1

# 1b. rate, percent and ETA appear after 0.5 s (redrawn every 0.2 s). With
# the test hooks, a conversion slowed to 10 ms per message (the hook sleeps
# as a message is published, so one message per batch): 2.4 s for the 240
# messages under valgrind, 24 s otherwise, stopped after 3 s (8 s under
# valgrind, whose start alone can take a second or two), so the progress
# line is up for over a second.
need_hooks
slow_env=MAILSHIFT_MESSAGE_DELAY_MS=10 slow_sync='none --batch=1' limit=3
[ "${MAILSHIFT_VALGRIND:-0}" = 1 ] && limit=8
env $slow_env timeout $limit script -qfec "'$MAILSHIFT' convert --sync=$slow_sync '$TMP/big.mbox' '$TMP/M1b'" /dev/null \
	>"$TMP/slow.out" 2>/dev/null </dev/null
progress_of "$TMP/slow.out" convert >"$TMP/slow.prog"
check "pty convert: a line with rate, percent and ETA" \
	grep -q -E '^mailshift convert: [0-9]+ messages, [0-9]+\.[0-9] MB, [0-9]+\.[0-9] MB/s, [0-9]{1,2}%, ETA [0-9]+:[0-5][0-9]$' "$TMP/slow.prog"
# The percentage is bytes read of the file size.
line=$(grep '%, ETA' "$TMP/slow.prog" | tail -n 1)
mb=$(echo "$line" | sed 's/.* messages, \([0-9.]*\) MB.*/\1/')
pct=$(echo "$line" | sed 's/.* \([0-9]*\)%, ETA.*/\1/')
# (MB has one decimal: 0.05 MB of rounding, in percent of the size)
want=$(awk -v mb="$mb" -v s="$size" 'BEGIN { printf "%d", 100 * mb * 1e6 / s }')
tol=$(awk -v s="$size" 'BEGIN { printf "%d", 100 * 0.05e6 / s + 2 }')
check "pty convert: percent $pct is MB/size ($want +- $tol)" \
	test "$pct" -ge $((want - tol)) -a "$pct" -le $((want + tol))
expect_eq "pty convert: no rate in the first 0.5 s" "$(head -n 1 "$TMP/slow.prog" | grep -c 'MB/s')" 0

# Every warning (one per copy of the sample) and the summary line come
# after the erase sequence, none is glued to a progress text.
expect_eq "pty convert: warnings" "$(count_lines "$TMP/conv.out" 'mailshift convert: warning:')" "$copies"
expect_eq "pty convert: warnings after an erase" "$(count_erased "$TMP/conv.out" 'mailshift convert: warning:')" "$copies"
expect_eq "pty convert: summary after an erase" \
	"$(count_erased "$TMP/conv.out" "mailshift convert: $TMP/big.mbox: $per messages")" 1
expect_eq "pty convert: nothing after the summary" "$(tail -c 2 "$TMP/conv.out" | od -An -c | tr -d ' ')" '\r\n'

# 2. an error while the progress line is up: erased first, then the error
# line. The write hook makes a write in the middle fail with ENOSPC (28).
status=0
pty "$TMP/err.out" env MAILSHIFT_FAIL_WRITE=$((copies * 16)):28 "$MAILSHIFT" convert --sync=none \
	"$TMP/big.mbox" "$TMP/M2" || status=$?
expect_eq "pty error: exit status" "$status" 74
check "pty error: progress shown before" test "$(progress_of "$TMP/err.out" convert | wc -l)" -ge 1
expect_eq "pty error: error line at a line start, never glued to a progress text" \
	"$(count_clean "$TMP/err.out" "mailshift convert: error: unable to write $TMP/M2/.*: No space left on device")" 1
expect_eq "pty error: no error line without it" \
	"$(count_lines "$TMP/err.out" "mailshift convert: error:")" 1

# 3. standard input: size unknown, so no percent and no ETA.
status=0
script -qfec "cat '$TMP/big.mbox' | '$MAILSHIFT' convert --sync=none - '$TMP/M3'" /dev/null \
	>"$TMP/stdin.out" </dev/null || status=$?
expect_eq "pty stdin: exit status" "$status" 0
check "pty stdin: progress shown" test "$(progress_of "$TMP/stdin.out" convert | wc -l)" -ge 1
expect_eq "pty stdin: no percent, no ETA" "$(progress_of "$TMP/stdin.out" convert | grep -c -e '%' -e ETA)" 0

# 4. never when stderr is not a terminal, or with -q / --no-progress.
status=0
"$MAILSHIFT" convert --sync=none "$TMP/big.mbox" "$TMP/M4" 2>"$TMP/file.err" || status=$?
expect_eq "stderr to a file: exit status" "$status" 0
expect_eq "stderr to a file: no CR" "$(tr -cd '\r' <"$TMP/file.err" | wc -c | tr -d ' ')" 0
expect_eq "stderr to a file: no escape" "$(tr -cd '\033' <"$TMP/file.err" | wc -c | tr -d ' ')" 0
expect_eq "stderr to a file: warnings and summary only" "$(wc -l <"$TMP/file.err" | tr -d ' ')" $((copies + 1))
pty "$TMP/q.out" "$MAILSHIFT" convert -q --sync=none "$TMP/big.mbox" "$TMP/M5"
expect_eq "pty -q: nothing at all" "$(wc -c <"$TMP/q.out" | tr -d ' ')" 0
pty "$TMP/np.out" "$MAILSHIFT" convert --no-progress --sync=none "$TMP/big.mbox" "$TMP/M6"
expect_eq "pty --no-progress: no progress text" "$(progress_of "$TMP/np.out" convert | wc -l | tr -d ' ')" 0
expect_eq "pty --no-progress: no escape" "$(tr -cd '\033' <"$TMP/np.out" | wc -c | tr -d ' ')" 0
"$MAILSHIFT" convert --progress --sync=none "$TMP/big.mbox" "$TMP/M7" 2>"$TMP/forced.err"
check "--progress without a terminal: drawn" test "$(progress_of "$TMP/forced.err" convert | wc -l)" -ge 1
pty "$TMP/qp.out" "$MAILSHIFT" convert -q --progress --sync=none "$TMP/big.mbox" "$TMP/M8"
expect_eq "pty -q --progress: -q wins" "$(wc -c <"$TMP/qp.out" | tr -d ' ')" 0

# 5. Maildir -> mbox and stats draw it as well, and erase it.
status=0
pty "$TMP/back.out" "$MAILSHIFT" convert --to=mbox "$TMP/M1" "$TMP/back.mbox" || status=$?
expect_eq "pty Maildir->mbox: exit status" "$status" 0
check "pty Maildir->mbox: progress shown" test "$(progress_of "$TMP/back.out" convert | wc -l)" -ge 1
expect_eq "pty Maildir->mbox: summary after an erase" \
	"$(count_erased "$TMP/back.out" "mailshift convert: $TMP/M1: $per messages")" 1
"$MAILSHIFT" convert --to=mbox "$TMP/M1" "$TMP/back2.mbox" 2>"$TMP/back.err"
expect_eq "Maildir->mbox, stderr to a file: no escape" "$(tr -cd '\033\r' <"$TMP/back.err" | wc -c | tr -d ' ')" 0
status=0
pty "$TMP/stats.out" "$MAILSHIFT" stats --color=never "$TMP/M1" || status=$?
expect_eq "pty stats: exit status" "$status" 0
check "pty stats: progress shown" test "$(progress_of "$TMP/stats.out" stats | wc -l)" -ge 1
expect_eq "pty stats: the table starts after an erase" "$(count_erased "$TMP/stats.out" 'MAILBOX  *MESSAGES')" 1
pty "$TMP/statsq.out" "$MAILSHIFT" stats -q --color=never "$TMP/M1"
expect_eq "pty stats -q: no progress" "$(progress_of "$TMP/statsq.out" stats | wc -l | tr -d ' ')" 0
"$MAILSHIFT" stats "$TMP/M1" >"$TMP/stats.txt" 2>"$TMP/stats.err"
expect_eq "stats, not a terminal: no escape on stderr" "$(tr -cd '\033\r' <"$TMP/stats.err" | wc -c | tr -d ' ')" 0

# 6. check, repair, dedup: whatever they draw is erased before a finding,
# and nothing is drawn with -q or without a terminal.
: >"$TMP/M1/new/empty"
for c in check repair dedup; do
	pty "$TMP/$c.out" "$MAILSHIFT" "$c" "$TMP/M1"
	drawn=$(progress_of "$TMP/$c.out" "$c" | wc -l | tr -d ' ')
	glued=$(tr '\r' '\n' <"$TMP/$c.out" | grep -c "^mailshift $c: [0-9]* messages, [0-9.]* MB.*${ESC}\[K[^${CR}]")
	expect_eq "pty $c: no progress text left before other output ($drawn drawn)" "$glued" 0
	pty "$TMP/$c.q.out" "$MAILSHIFT" "$c" -q "$TMP/M1"
	expect_eq "pty $c -q: no progress" "$(progress_of "$TMP/$c.q.out" "$c" | wc -l | tr -d ' ')" 0
	"$MAILSHIFT" "$c" "$TMP/M1" >/dev/null 2>"$TMP/$c.err"
	expect_eq "$c, not a terminal: no escape on stderr" "$(tr -cd '\033\r' <"$TMP/$c.err" | wc -c | tr -d ' ')" 0
done

done_testing
