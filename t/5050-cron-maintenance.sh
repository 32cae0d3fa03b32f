#!/bin/sh
# t/5050-cron-maintenance.sh: scripts/cron-maintenance (mailshift-cron(7)):
# silent on a clean Maildir, check -> repair -> check again on a broken
# one, the duplicate report, one JSON status line per mailbox and run,
# --no-repair, --no-dedup, a mailbox that cannot be opened, usage errors.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

CRON=$T_SRCDIR/../scripts/cron-maintenance
LOG=$TMP/state/status.jsonl
cd "$TMP" || exit 99
"$MAILSHIFT" convert -q "$DATA/sample.mbox" M || exit 99
cron() { sh "$CRON" --status-log "$LOG" "$@"; }

# 1. clean: nothing printed, exit 0, one status line.
status=0
cron M >out 2>err || status=$?
expect_eq "clean: exit status" "$status" 0
expect_eq "clean: stdout" "$(cat out)" ""
expect_eq "clean: stderr" "$(cat err)" ""
expect_eq "clean: one status line" "$(wc -l <"$LOG" | tr -d ' ')" 1
line=$(sed -n 1p "$LOG")
expect_eq "clean: status fields" "$(echo "$line" | sed 's/"time":"[^"]*",//; s/"host":"[^"]*",//; s/,"stats".*//')" \
	'{"check":0,"findings":0,"repaired":0,"duplicates":0'
expect_eq "clean: time stamp" "$(echo "$line" | sed -n 's/^{"time":"\(....-..-..T..:..:..Z\)".*/ok/p')" ok
expect_eq "clean: stats messages" "$(echo "$line" | sed -n 's/.*"stats":{"mailboxes":\[{"mailbox":"M",.*"messages":\([0-9]*\),"bytes":\([0-9]*\),.*/\1 \2/p')" \
	"40 42557"
if command -v jq >/dev/null 2>&1; then
	expect_eq "clean: the line is JSON (jq)" "$(jq -r '.stats.mailboxes[0].flags.unread' "$LOG")" 23
fi

# 2. an empty file in new/ and one message stored twice: the example of
# mailshift-cron(7), output as printed.
: >M/new/empty
first=$(ls M/cur | head -n 1)
cp "M/cur/$first" "M/cur/1700000000.M1P1.copy:2,S"
dupbytes=$(wc -c <"M/cur/$first" | tr -d ' ')
status=0
cron M >out 2>err || status=$?
expect_eq "broken: exit status (duplicates left)" "$status" 1
cat >want <<EOF
M: check found 1 problem:
  M/new/empty: MAILDIR-EMPTY-FILE: zero-length file
M: repair:
  M/new/empty: MAILDIR-EMPTY-FILE: moved into the quarantine as M/.mailshift-quarantine/cur/empty (an empty message)
M: clean after repair
M: 1 duplicate message in 1 set, $dupbytes bytes (remove them with: mailshift dedup --delete M)
EOF
check "broken: output as documented" cmp out want
[ -s err ] && sed 's/^/    stderr: /' err >&2
expect_eq "broken: the empty file is in the quarantine" "$(count_files M/.mailshift-quarantine/cur)" 1
expect_eq "broken: no message deleted" "$(count_files M/new M/cur)" 41
expect_eq "broken: second status line" \
	"$(sed -n 2p "$LOG" | sed 's/"time":"[^"]*",//; s/"host":"[^"]*",//; s/,"stats".*//')" \
	'{"check":1,"findings":1,"repaired":1,"duplicates":1'

# 3. --no-dedup: the duplicate is not reported; clean now, so silent.
status=0
cron --no-dedup M >out 2>&1 || status=$?
expect_eq "--no-dedup: exit status" "$status" 0
expect_eq "--no-dedup: silent" "$(cat out)" ""

# 4. --no-repair: findings reported, nothing moved, exit 1.
: >M/new/empty2
status=0
cron --no-repair --no-dedup M >out 2>&1 || status=$?
expect_eq "--no-repair: exit status" "$status" 1
expect_eq "--no-repair: output" "$(cat out)" "M: check found 1 problem:
  M/new/empty2: MAILDIR-EMPTY-FILE: zero-length file"
check "--no-repair: file left alone" test -f M/new/empty2

# 5. -v says something even when all is well; a missing mailbox is named
# with check's status, and the others are still done.
rm M/new/empty2
status=0
cron -v --no-dedup M nonexistent >out 2>&1 || status=$?
expect_eq "missing mailbox: exit status" "$status" 66
expect_eq "-v and missing: output" "$(cat out)" "M: check status 0, 0 findings, 0 repaired, 0 duplicates; stats in $LOG
nonexistent: mailshift check: error: cannot open nonexistent: No such file or directory"
expect_eq "status lines so far" "$(wc -l <"$LOG" | tr -d ' ')" 5

# 6. severities: the bundled sample mbox has an unquoted From_ line (an
# error, repaired) and mixed line ends (a note: repair leaves them, and
# they are no problem). The first night says what it did; the nights after
# are silent, with exit status 0.
cp "$DATA/sample.mbox" S.mbox
status=0
cron --no-dedup S.mbox >out 2>err || status=$?
expect_eq "sample, first night: exit status" "$status" 0
expect_eq "sample, first night: output" "$(cat out)" "S.mbox: check found 1 problem:
  S.mbox: MBOX-UNQUOTED-FROM: body line starts with \"From \" but is no From_ line at offset 17524
S.mbox: repair:
  S.mbox: MBOX-UNQUOTED-FROM: quote with '>' at offset 17524
S.mbox: clean after repair"
expect_eq "sample, first night: stderr" "$(cat err)" ""
for night in second third; do
	status=0
	cron S.mbox >out 2>&1 || status=$?
	expect_eq "sample, $night night: exit status" "$status" 0
	expect_eq "sample, $night night: silent" "$(cat out)" ""
done
expect_eq "sample: the note is still there for check" \
	"$("$MAILSHIFT" check S.mbox 2>/dev/null | cut -d: -f2)" " MBOX-MIXED-EOL"
expect_eq "sample: status lines" "$(tail -n 3 "$LOG" | sed 's/"time":"[^"]*",//; s/"host":"[^"]*",//; s/,"stats".*//' | tr '\n' ' ')" \
	'{"check":1,"findings":1,"repaired":1,"duplicates":0 {"check":0,"findings":0,"repaired":0,"duplicates":0 {"check":0,"findings":0,"repaired":0,"duplicates":0 '

# 7. usage.
expect_status "no mailbox" 64 cron
expect_status "unknown option" 64 cron --frobnicate M
expect_status "--help" 0 sh "$CRON" --help
expect_status "status log not writable" 73 sh "$CRON" --status-log /proc/nonexistent/log M

done_testing
