#!/bin/sh
# convert into an mbox under lock (SPEC §2.11): procmail's lockfile and
# liblockfile's dotlockfile interoperate both ways, a held lock gives 75;
# --owner as root gives what is created to the user, never existing objects.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need lockfile
need dotlockfile
ms() { "$MAILSHIFT" convert --no-progress -q "$@"; }
"$MAILSHIFT" convert -q "$DATA/sample.mbox" "$TMP/md" 2>/dev/null
ms --to=mbox "$TMP/md" "$TMP/want.mbox"
extra='From e@x Sat Jan  3 01:05:34 1996
Message-ID: <extra@x>

extra body
'
for tool in lockfile dotlockfile; do
	# 1. the other program holds the lock: convert waits, then appends
	rm -f "$TMP/m.mbox"; : >"$TMP/m.mbox"
	if [ $tool = lockfile ]; then lockfile -r0 "$TMP/m.mbox.lock"; else dotlockfile -r0 -p "$TMP/m.mbox.lock"; fi
	ms --to=mbox --lock-timeout=20 "$TMP/md" "$TMP/m.mbox" & pid=$!
	sleep 2
	expect_eq "$tool holds: nothing appended yet" "$(stat -c %s "$TMP/m.mbox")" 0
	printf '%s\n' "$extra" >>"$TMP/m.mbox"
	if [ $tool = lockfile ]; then rm -f "$TMP/m.mbox.lock"; else dotlockfile -u "$TMP/m.mbox.lock"; fi
	wait $pid; expect_eq "$tool: convert exit" $? 0
	{ printf '%s\n' "$extra"; cat "$TMP/want.mbox"; } >"$TMP/both"
	check "$tool first: no torn or lost message" cmp -s "$TMP/m.mbox" "$TMP/both"
	# 2. convert holds the lock (reading a stdin that waits for "go"): the
	# other program starts once the lock is there, and must wait for it
	rm -f "$TMP/m.mbox" "$TMP/go"
	(while [ ! -e "$TMP/go" ]; do sleep 0.1; done; cat "$TMP/want.mbox") |
		ms --to=mbox - "$TMP/m.mbox" & pid=$!
	waited=0
	while [ ! -e "$TMP/m.mbox.lock" ] && [ $waited -lt 600 ]; do sleep 0.1; waited=$((waited + 1)); done
	check "$tool second: convert holds the dotlock" test -e "$TMP/m.mbox.lock"
	if [ $tool = lockfile ]; then
		(lockfile -1 -r60 "$TMP/m.mbox.lock"; printf '%s\n' "$extra" >>"$TMP/m.mbox"; rm -f "$TMP/m.mbox.lock") & other=$!
	else
		(dotlockfile -r60 -p "$TMP/m.mbox.lock"; printf '%s\n' "$extra" >>"$TMP/m.mbox"; dotlockfile -u "$TMP/m.mbox.lock") & other=$!
	fi
	sleep 1
	expect_eq "$tool second: nothing appended while convert holds the lock" "$(stat -c %s "$TMP/m.mbox")" 0
	touch "$TMP/go"
	wait $pid; expect_eq "$tool second: convert exit" $? 0
	wait $other
	{ cat "$TMP/want.mbox"; printf '%s\n' "$extra"; } >"$TMP/both"
	check "$tool second: appended after convert" cmp -s "$TMP/m.mbox" "$TMP/both"
done
# a lock that stays: exit 75 naming it
: >"$TMP/l.mbox"; dotlockfile -r0 -p "$TMP/l.mbox.lock"
expect_status "held lock -> 75" 75 ms --to=mbox --lock-timeout=1 "$TMP/md" "$TMP/l.mbox"
expect_eq "message names the lock" "$(grep -c 'l.mbox.lock' "$TMP/.err")" 1
dotlockfile -u "$TMP/l.mbox.lock"

# --owner (root only)
if [ "$(id -u)" = 0 ] && command -v useradd >/dev/null; then
	u=mstest$$
	useradd -M -N "$u" 2>/dev/null || u=nobody
	mkdir "$TMP/own"
	ms --owner="$u" "$DATA/sample.mbox" "$TMP/own/md" 2>/dev/null
	expect_eq "all created belongs to $u" "$(find "$TMP/own/md" ! -user "$u" | wc -l | tr -d ' ')" 0
	expect_eq "existing parent untouched" "$(stat -c %U "$TMP/own")" root
	ms --owner="$u" --to=mbox "$TMP/md" "$TMP/own/o.mbox"
	expect_eq "mbox belongs to $u" "$(stat -c %U "$TMP/own/o.mbox")" "$u"
	: >"$TMP/own/pre.mbox"
	ms --owner="$u" --to=mbox "$TMP/md" "$TMP/own/pre.mbox"
	expect_eq "existing mbox not chowned" "$(stat -c %U "$TMP/own/pre.mbox")" root
	ms -r --owner="$u" "$TMP/own/md" "$TMP/own/tree"
	expect_eq "tree belongs to $u" "$(find "$TMP/own/tree" ! -user "$u" | wc -l | tr -d ' ')" 0
	# a run killed between making a file or directory and giving it away
	# leaves it root's: the rerun gives it to the owner (in a Maildir that
	# is theirs; a file somebody linked there stays as it is)
	chown root:root "$TMP/own/md/new" "$TMP/own/md/mailshift-envelopes"
	ln "$TMP/own/md/mailshift-delivered" "$TMP/own/linked"
	chown root:root "$TMP/own/md/mailshift-delivered"
	# (the rerun has a message to deliver, as the killed run's rerun has)
	{ cat "$DATA/sample.mbox"; printf 'From a@b Mon Jan  1 00:00:00 2024\nSubject: more\n\nx\n\n'; } >"$TMP/more.mbox"
	ms --owner="$u" "$TMP/more.mbox" "$TMP/own/md" 2>/dev/null
	expect_eq "after a killed run: what it left root's belongs to $u" \
		"$(find "$TMP/own/md" ! -user "$u" ! -name mailshift-delivered | wc -l | tr -d ' ')" 0
	expect_eq "a file linked from elsewhere is not given away" \
		"$(stat -c %U "$TMP/own/linked")" root
	[ "$u" = nobody ] || userdel "$u" 2>/dev/null
fi
done_testing
