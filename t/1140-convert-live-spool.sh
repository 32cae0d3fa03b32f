#!/bin/sh
# A spool that receives mail while it is converted (mailshift-convert(1)
# "Locking"): convert reads it under the locks its writers take, so a
# delivery agent caught in the middle of an append (flock(1) as qmail-local
# locks, procmail's lockfile(1), liblockfile's dotlockfile(1)) is waited
# for, never read half-written; the rerun after the deliveries then finds
# every message whole, and nothing is lost. Without the dotlock (a spool
# directory the user may not write into), a last message that is not
# finished is held back for the next run.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need flock
need lockfile
need dotlockfile

S=$TMP/spool
D=$TMP/Maildir

# $TMP/agent KIND SPOOL ID N PAUSE [READY]: deliver message ID as a
# delivery agent does: take KIND's lock (none: already held), write the
# From_ line, header and first line, touch READY, sleep PAUSE, write the
# rest and the empty line that ends a message, unlock
cat >"$TMP/agent" <<'AGENT'
#!/bin/sh
kind=$1 spool=$2 id=$3 n=$4 pause=$5 ready=${6:-}
head() { printf 'From agent@example.org Mon Mar  3 09:%02d:00 2025\nMessage-ID: <%s@live.example>\nSubject: live %s\n\nfirst line of %s\n' "$((n % 60))" "$id" "$id" "$id"; }
tail() { printf 'second line of %s\nthird line of %s\n\n' "$id" "$id"; }
write() { head >>"$spool"; [ -n "$ready" ] && : >"$ready"; sleep "$pause"; tail >>"$spool"; }
case $kind in
flock) exec flock "$spool" "$0" none "$spool" "$id" "$n" "$pause" "$ready" ;;
lockfile) lockfile -1 -r -1 "$spool.lock" || exit 1; write; rm -f "$spool.lock" ;;
dotlockfile) dotlockfile -l -r -1 "$spool.lock" || exit 1; write; dotlockfile -u "$spool.lock" ;;
none) write ;;
head) head ;;
tail) tail ;;
esac
AGENT
chmod +x "$TMP/agent"
msg_head() { "$TMP/agent" head - "$1" "$2" 0; }
msg_tail() { "$TMP/agent" tail - "$1" 0 0; }

# every message of a spool, as the Maildir file holds it (no From_ line,
# no empty line after it)
expected() {
	python3 - "$1" <<'EOF'
import hashlib, re, sys
data = open(sys.argv[1], 'rb').read()
for p in re.split(rb'\n(?=From agent@example\.org )', data):
    if not p:
        continue
    if p.endswith(b'\n\n'):
        p = p[:-1]          # the empty line that ends the last message
    p = p.split(b'\n', 1)[1]   # the From_ line is not in the Maildir file
    print(hashlib.sha256(p).hexdigest(), len(p))
EOF
}

# a spool with some mail already
: >"$S"
i=0
while [ $i -lt 5 ]; do msg_head "old$i" $i >>"$S"; msg_tail "old$i" >>"$S"; i=$((i + 1)); done
"$MAILSHIFT" convert -q "$S" "$D"
expect_eq "five old messages" "$(count_files "$D/new" "$D/cur")" 5

# Each agent, three times: convert starts while the agent is between the
# two halves of a message. Convert must wait for the agent's lock.
n=10
for kind in flock lockfile dotlockfile; do
	k=0
	while [ $k -lt 3 ]; do
		rm -f "$TMP/ready"
		"$TMP/agent" "$kind" "$S" "$kind$k" "$n" 0.4 "$TMP/ready" &
		apid=$!
		t=0
		while [ ! -f "$TMP/ready" ] && [ $t -lt 100 ]; do sleep 0.05; t=$((t + 1)); done
		[ -f "$TMP/ready" ] || { echo "the $kind agent did not start" >&2; exit 99; }
		"$MAILSHIFT" convert -q "$S" "$D" 2>>"$TMP/err"
		st=$?
		wait $apid
		expect_eq "$kind $k: convert during the append exits 0" "$st" 0
		n=$((n + 1)); k=$((k + 1))
	done
done
# the rerun after the deliveries: everything, whole, once
"$MAILSHIFT" convert -q "$S" "$D" 2>>"$TMP/err"
expected "$S" | sort >"$TMP/want"
maildir_digests "$D" | sort >"$TMP/got"
expect_eq "14 messages in the spool" "$(wc -l <"$TMP/want" | tr -d ' ')" 14
expect_eq "14 files for 14 messages" "$(count_files "$D/new" "$D/cur")" 14
check "no torn message, nothing lost: the Maildir holds the spool's messages byte for byte" \
	cmp -s "$TMP/want" "$TMP/got"
expect_eq "no third line is missing" "$(cat "$D"/new/* "$D"/cur/* 2>/dev/null | grep -c '^third line of')" 14

# A free-running agent: 20 messages, each with a pause in the middle,
# while convert runs over and over; then the rerun.
S2=$TMP/spool2 D2=$TMP/Maildir2
: >"$S2"
(
	j=0
	while [ $j -lt 20 ]; do
		"$TMP/agent" flock "$S2" "run$j" "$j" 0.05
		sleep 0.02
		j=$((j + 1))
	done
) &
apid=$!
runs=0
while kill -0 $apid 2>/dev/null; do
	"$MAILSHIFT" convert -q "$S2" "$D2" 2>>"$TMP/err" || break
	runs=$((runs + 1))
done
wait $apid
"$MAILSHIFT" convert -q "$S2" "$D2" 2>>"$TMP/err"
expected "$S2" | sort >"$TMP/want2"
maildir_digests "$D2" | sort >"$TMP/got2"
expect_eq "free-running flock agent: 20 files for 20 messages" "$(count_files "$D2/new" "$D2/cur")" 20
check "free-running flock agent: every message whole ($runs runs during the deliveries)" \
	cmp -s "$TMP/want2" "$TMP/got2"

# Without the dotlock: a spool directory the user may not write into
# (/var/mail is 2775 root:mail). A last message still being written is
# held back (warning, exit 1) until it ends with its empty line, or until
# nobody has written to the file for 5 minutes.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
	V=$TMP/var-mail D3=$TMP/home/Maildir
	mkdir -p "$V" "$TMP/home" && chmod 755 "$V" && chown nobody "$TMP/home"
	chmod 711 "$TMP"
	{ msg_head a 1; msg_tail a; msg_head b 2; } >"$V/user"
	chmod 644 "$V/user"
	as_user() { setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups -- "$@"; }
	expect_status "unfinished last message: held back, exit 1" 1 \
		as_user "$MAILSHIFT" convert "$V/user" "$D3"
	check "it says why" grep -q "user:[0-9]*: the last message is not complete.*left for the next run" "$TMP/.err"
	check "reading without the dotlock is said" grep -q "reading without the dotlock" "$TMP/.err"
	expect_eq "the complete message is delivered" "$(count_files "$D3/new" "$D3/cur")" 1
	msg_tail b >>"$V/user"
	expect_status "finished: delivered by the rerun" 0 as_user "$MAILSHIFT" convert -q "$V/user" "$D3"
	expect_eq "both messages" "$(count_files "$D3/new" "$D3/cur")" 2
	check "the rerun's message is whole" grep -q "third line of b" "$D3"/new/*
	# an mbox without a final empty line nobody has touched for a while
	{ msg_head c 3; printf 'last line, no empty line after it\n'; } >>"$V/user"
	touch -d '10 minutes ago' "$V/user"
	expect_status "quiet for 10 minutes: the last message is complete" 0 \
		as_user "$MAILSHIFT" convert -q "$V/user" "$D3"
	expect_eq "three messages" "$(count_files "$D3/new" "$D3/cur")" 3
else
	echo "# not root: the run without the dotlock is not tried"
fi

# A dotlock nobody holds any more that cannot be judged by its PID (an
# empty file, as lockfile(1) of some MDAs leaves it): convert waits for it
# to turn stale, says so after 10 seconds, and a SIGTERM ends the wait at
# once (it used to be ignored until the lock was given up, 5 minutes).
W=$TMP/wait
mkdir "$W"
cp "$DATA/sample.mbox" "$W/user"
: >"$W/user.lock"
"$MAILSHIFT" convert "$W/user" "$W/md" 2>"$W/err" &
cpid=$!
n=0
while ! grep -q "waiting" "$W/err" && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
check "a long wait for a lock is said" \
	grep -q "user is locked by .*user.lock: waiting (gives up after 300 s" "$W/err"
t0=$(date +%s)
kill -TERM $cpid
wait $cpid
rc=$?
expect_eq "SIGTERM ends the wait" "$rc" 143
check "within a second" test $(($(date +%s) - t0)) -le 1
check "it says what it was doing" grep -q "user: interrupted while waiting for its lock" "$W/err"
expect_eq "nothing delivered" "$(count_files "$W/md/new" "$W/md/cur")" 0
expect_eq "the lock is left to its owner" "$(ls "$W")" "err
md
user
user.lock"
done_testing
