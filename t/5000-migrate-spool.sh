#!/bin/sh
# t/5000-migrate-spool.sh: scripts/migrate-spool on a fake spool of three
# users whose homes are in the test directory (created with useradd, so the
# test needs root): ownership, parallel jobs, a kill -9 of the whole run and
# the rerun that finishes it with no duplicates, dry run, failures named,
# the log, --dest templates, usage errors.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (useradd)"; exit 77; }
need useradd
need userdel
need getent
need setsid

MIGRATE=$T_SRCDIR/../scripts/migrate-spool
SPOOL=$TMP/spool
mkdir "$SPOOL" "$TMP/home" "$TMP/run"

# Three users with unique names; removed again however the test ends.
u1=msm$$a u2=msm$$b u3=msm$$c u4=msm$$d
made_users=''
drop_users() {
	for u in $made_users; do userdel "$u" >/dev/null 2>&1; done
	cleanup
}
trap drop_users EXIT
trap 'exit 1' HUP INT TERM PIPE
add_user() {
	tries=0
	# useradd fails while another process holds /etc/passwd's lock.
	until useradd -M -d "$TMP/home/$1" -s /usr/sbin/nologin -U "$1" 2>"$TMP/useradd.err"; do
		tries=$((tries + 1))
		[ "$tries" -lt 20 ] || { cat "$TMP/useradd.err" >&2; exit 99; }
		sleep 0.5
	done
	made_users="$made_users $1"
	mkdir "$TMP/home/$1"
	chown "$1:$1" "$TMP/home/$1"
}
for u in $u1 $u2 $u3 $u4; do add_user "$u"; done

# Each spool: the sample mailbox 15 times (600 messages; identical copies
# are kept apart by their position, so a duplicate would show); 6 times
# under valgrind, which is slow enough for a kill in the middle anyway.
copies=15
[ "${MAILSHIFT_VALGRIND:-0}" = 1 ] && copies=6
per=$((copies * 40)) all=$((copies * 120)) some=$((copies * 5))
i=0
while [ "$i" -lt "$copies" ]; do cat "$DATA/sample.mbox"; i=$((i + 1)); done >"$TMP/big.mbox"
for u in $u1 $u2 $u3; do
	cp "$TMP/big.mbox" "$SPOOL/$u"
	chown "$u" "$SPOOL/$u"
	chmod 600 "$SPOOL/$u"
done
"$MAILSHIFT" convert -q --sync=none "$TMP/big.mbox" "$TMP/ref" || exit 99
# The multiset of message digests: equal to the reference's means every
# message is there exactly as often as in the spool.
digests() { find "$1/new" "$1/cur" -type f -exec sha256sum {} + | cut -d' ' -f1 | sort; }
digests "$TMP/ref" >"$TMP/ref.digests"
expect_eq "reference conversion" "$(wc -l <"$TMP/ref.digests" | tr -d ' ')" "$per"

migrate() { (cd "$TMP/run" && sh "$MIGRATE" --spool "$SPOOL" "$@"); }

# kill_run DIR ARGS...: start a run into the Maildirs DIR/USER/Maildir's
# place (ARGS say where), kill -9 its whole process group once $some
# messages are in, and leave the count of delivered messages in $n.
delivered_in() {
	count_files "$1/$u1/Maildir/new" "$1/$u1/Maildir/cur" "$1/$u2/Maildir/new" \
		"$1/$u2/Maildir/cur" "$1/$u3/Maildir/new" "$1/$u3/Maildir/cur"
}
kill_run() {
	dir=$1; shift
	# (2 ms after each message, where the test hooks are built in: a run
	# of 3 x $per messages lasts seconds, so the kill lands mid-run however
	# fast the disk syncs)
	(cd "$TMP/run" && MAILSHIFT_MESSAGE_DELAY_MS=2 exec setsid sh "$MIGRATE" --spool "$SPOOL" "$@") \
		>"$TMP/killed.out" 2>&1 &
	pid=$!
	n=0 waited=0
	while [ "$n" -lt "$some" ] && [ "$waited" -lt 400 ]; do
		sleep 0.05
		waited=$((waited + 1))
		n=$(delivered_in "$dir")
	done
	env kill -s KILL -- "-$pid" 2>/dev/null   # dash's kill has no "--"
	wait "$pid" 2>/dev/null
	sleep 0.2
	# (zombies do not count: they hold nothing, and a container's init
	# may never reap them)
	left=$(ps -e -o pgid=,stat= | awk -v p="$pid" '$1 == p && $2 !~ /^Z/' | wc -l | tr -d ' ')
	expect_eq "$*: the killed run's process group is gone" "$left" 0
	n=$(delivered_in "$dir")
}

# 1. kill -9 of the whole run (xargs: every job is in its process group).
kill_run "$TMP/home" --runner xargs -j 3 -- --sync=message --batch=10
check "the kill came mid-run ($some <= $n < $all messages delivered)" \
	test "$n" -ge "$some" -a "$n" -lt "$all"

# 2. the same command again finishes the job: every message exactly once
# (batched syncs now: the killed run needed an fsync per message only to
# be slow enough to kill in the middle).
status=0
migrate --runner xargs -j 3 >"$TMP/rerun.out" 2>"$TMP/rerun.err" || status=$?
expect_eq "rerun after kill -9: exit status" "$status" 0
total_delivered=0
for u in $u1 $u2 $u3; do
	md=$TMP/home/$u/Maildir
	digests "$md" >"$TMP/$u.digests"
	check "$u: same messages as the reference, none twice" cmp -s "$TMP/ref.digests" "$TMP/$u.digests"
	msgs=$(awk -v u="$u" '$1 == u { print $2 }' "$TMP/rerun.out")
	sum=$(awk -v u="$u" '$1 == u { print $3 + $4 }' "$TMP/rerun.out")
	st=$(awk -v u="$u" '$1 == u { print $5 }' "$TMP/rerun.out")
	expect_eq "$u: summary messages" "$msgs" "$per"
	expect_eq "$u: summary delivered + skipped" "$sum" "$per"
	expect_eq "$u: summary status" "$st" ok
	total_delivered=$((total_delivered + $(awk -v u="$u" '$1 == u { print $3 }' "$TMP/rerun.out")))
	# 3. ownership: the Maildir belongs to the user and their group (tmp/
	# may hold a file the killed run had not finished; not a message).
	expect_eq "$u: files not owned by the user" \
		"$(find "$md" -path "$md/tmp/*" -prune -o ! -user "$u" -print | wc -l | tr -d ' ')" 0
	expect_eq "$u: files not in the user's group" \
		"$(find "$md" -path "$md/tmp/*" -prune -o ! -group "$u" -print | wc -l | tr -d ' ')" 0
	expect_eq "$u: Maildir owner" "$(stat -c %U:%G "$md")" "$u:$u"
done
expect_eq "rerun delivered what the killed run had not" "$total_delivered" $((all - n))
expect_eq "summary header" "$(head -n 1 "$TMP/rerun.out")" \
	"user              messages delivered   skipped  status"

# 3b. the same with GNU parallel, whose jobs have process groups of their
# own and outlive the kill: the rerun waits for them (a lock per user)
# and the result is still every message exactly once.
if parallel --version 2>/dev/null | grep -q 'GNU parallel'; then
	mkdir "$TMP/par" "$TMP/par/$u1" "$TMP/par/$u2" "$TMP/par/$u3"
	kill_run "$TMP/par" --runner parallel -j 3 --dest "$TMP/par/%u/Maildir" -- --sync=message --batch=10
	check "parallel: the kill came mid-run ($some <= $n < $all)" test "$n" -ge "$some" -a "$n" -lt "$all"
	status=0
	migrate --runner parallel -j 3 --dest "$TMP/par/%u/Maildir" >"$TMP/prerun.out" 2>&1 || status=$?
	expect_eq "parallel: rerun after kill -9: exit status" "$status" 0
	[ "$status" = 0 ] || sed "s/^/    /" "$TMP/prerun.out" >&2
	for u in $u1 $u2 $u3; do
		digests "$TMP/par/$u/Maildir" >"$TMP/$u.pdigests"
		check "parallel: $u: same messages as the reference, none twice" \
			cmp -s "$TMP/ref.digests" "$TMP/$u.pdigests"
	done
fi

# 4. a third run has nothing to do.
status=0
migrate -j 2 >"$TMP/third.out" 2>"$TMP/third.err" || status=$?
expect_eq "third run: exit status" "$status" 0
expect_eq "third run: delivered column" \
	"$(awk 'NR > 1 { printf "%s/%s ", $3, $4 }' "$TMP/third.out")" "0/$per 0/$per 0/$per "
expect_eq "third run: nothing on stderr" "$(cat "$TMP/third.err")" ""

# 5. the log: a header per run, diagnostics prefixed with the user, the table.
log=$TMP/run/mailshift-migrate-spool.log
runs=3
parallel --version 2>/dev/null | grep -q 'GNU parallel' && runs=5
expect_eq "log: one header per run" "$(grep -c '^== .* mailshift-migrate-spool on ' "$log")" "$runs"
check "log: convert warnings carry the user" \
	grep -q "^$u1: mailshift convert: warning: $SPOOL/$u1:17524: unquoted From_ line" "$log"
expect_eq "log: completed runs (not the killed ones)" "$(grep -c '^all 3 users done$' "$log")" $((runs - runs / 3 - 1))

# 6. parallel: with -j 3 the three conversions overlap, with -j 1 they do not.
# A wrapper around mailshift notes its start, waits, then counts the starts.
cat >"$TMP/slow" <<EOF
#!/bin/sh
echo start >>"$TMP/starts"
sleep 1
grep -c start "$TMP/starts" >>"$TMP/seen"
exec "$MAILSHIFT" "\$@"
EOF
chmod +x "$TMP/slow"
runners=xargs
parallel --version 2>/dev/null | grep -q 'GNU parallel' && runners="xargs parallel"
for r in $runners; do
	: >"$TMP/starts"; : >"$TMP/seen"
	MAILSHIFT=$TMP/slow migrate --runner "$r" -j 3 >"$TMP/par.out" 2>&1
	expect_eq "$r -j 3: each job saw three running" "$(sort "$TMP/seen" | tr '\n' ' ')" "3 3 3 "
	expect_eq "$r -j 3: all done" "$(grep -c ' ok$' "$TMP/par.out")" 3
	: >"$TMP/starts"; : >"$TMP/seen"
	MAILSHIFT=$TMP/slow migrate --runner="$r" -j 1 >/dev/null 2>&1
	expect_eq "$r -j 1: one at a time" "$(sort "$TMP/seen" | tr '\n' ' ')" "1 2 3 "
done
echo "# runners: $runners"

# 7. --dest template, user arguments, dry run: nothing is created.
cp "$DATA/sample.mbox" "$SPOOL/$u4"
chown "$u4" "$SPOOL/$u4"
mkdir "$TMP/maildirs"
status=0
migrate --dry-run --dest "$TMP/maildirs/%u.d" "$u4" >"$TMP/dry.out" 2>"$TMP/dry.err" || status=$?
expect_eq "dry run: exit status" "$status" 0
expect_eq "dry run: table row" "$(awk -v u="$u4" '$1 == u { print $2, $3, $4, $5 }' "$TMP/dry.out")" "40 40 0 ok"
expect_eq "dry run: only the named user" "$(wc -l <"$TMP/dry.out" | tr -d ' ')" 3
check "dry run: no Maildir made" test ! -e "$TMP/maildirs/$u4.d"
status=0
migrate --dest="$TMP/maildirs/%u.d" "$u4" >"$TMP/tmpl.out" 2>"$TMP/tmpl.err" || status=$?
expect_eq "template: exit status" "$status" 0
expect_eq "template: messages in the new Maildir" "$(count_files "$TMP/maildirs/$u4.d/new" "$TMP/maildirs/$u4.d/cur")" 40
expect_eq "template: owner" "$(stat -c %U "$TMP/maildirs/$u4.d")" "$u4"

# 8. failures: a spool file without a user, one that is not a mailbox.
printf 'hello\n' >"$SPOOL/$u4"
: >"$SPOOL/nosuch$$"
# (a dotlock of no user's spool: one beside a spool makes convert wait
# until it is stale, five minutes, as a delivery agent's lock should)
: >"$SPOOL/gone$$.lock"
status=0
migrate -j 3 --dest "$TMP/maildirs/%u.d" >"$TMP/fail.out" 2>"$TMP/fail.err" || status=$?
expect_eq "failures: exit status" "$status" 1
expect_eq "failures: users named on stderr" "$(sed -n 's/.*failed for\(.*\) (see.*/\1/p' "$TMP/fail.err")" \
	" $u4 nosuch$$"
expect_eq "failures: not a mailbox" "$(awk -v u="$u4" '$1 == u { print $5, $6, $7 }' "$TMP/fail.out")" "failed: exit 65"
expect_eq "failures: no such user" \
	"$(awk -v u="nosuch$$" '$1 == u { print $5, $6, $7, $8 }' "$TMP/fail.out")" "failed: no such user"
expect_eq "failures: the others still done" "$(grep -c ' ok$' "$TMP/fail.out")" 3
expect_eq "failures: lock file not taken for a user" "$(grep -c "lock" "$TMP/fail.out")" 0
rm -f "$SPOOL/nosuch$$" "$SPOOL/gone$$.lock" "$SPOOL/$u4"

# 9. --remove-source is handed to convert, or refused when it has none.
cp "$DATA/sample.mbox" "$SPOOL/$u4"
chown "$u4" "$SPOOL/$u4"
mkdir "$TMP/rs"
status=0
migrate --remove-source --dest "$TMP/rs/%u" "$u4" >"$TMP/rs.out" 2>&1 || status=$?
expect_eq "--remove-source: exit status" "$status" 0
[ "$status" = 0 ] || sed "s/^/    /" "$TMP/rs.out" "$TMP/run/mailshift-migrate-spool.log" | tail -n 8 >&2
expect_eq "--remove-source: spool emptied" "$(wc -c <"$SPOOL/$u4" | tr -d ' ')" 0
expect_eq "--remove-source: messages kept" "$(count_files "$TMP/rs/$u4/new" "$TMP/rs/$u4/cur")" 40

# 10. usage errors.
expect_status "-j 0" 64 migrate -j 0
expect_status "-j x" 64 migrate -j x
expect_status "--dest without %u" 64 migrate --dest /srv/mail
expect_status "unknown option" 64 migrate --frobnicate
expect_status "unknown runner" 64 migrate --runner make
expect_status "--hosts with xargs" 64 migrate --runner xargs --hosts /dev/null
expect_status "bad user argument" 64 migrate 'a b'
expect_status "log not writable" 73 migrate --log /proc/nonexistent/log
expect_status "no spool directory" 66 sh "$MIGRATE" --spool "$TMP/nonexistent"
expect_status "--help" 0 sh "$MIGRATE" --help
check "--help lists every option" grep -q -- '--remove-source' "$TMP/.out"

done_testing
