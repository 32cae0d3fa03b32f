#!/bin/sh
# Maildir -> mbox while a mail client changes flags (mailshift-convert(1)
# "Locking"): a flag change renames cur/X:2,S to cur/X:2,FS, a first look
# moves new/X to cur/X:2,. The export follows each message to its new name
# (its unique part), so all 3,000 of 3,000 are in the mbox and the exit
# status is 0; only a message really removed meanwhile is a warning, and
# then the exit status is 1 (mailshift(1) EXIT STATUS).
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need_hooks
. "$T_SRCDIR/dovecot.sh"

N=3000
python3 "$T_SRCDIR/gen-mbox.py" $N 31 600 >"$TMP/in.mbox"
"$MAILSHIFT" convert -q "$TMP/in.mbox" "$TMP/M0"

# Message-IDs of an mbox, sorted (Python's mailbox module as the oracle)
mids() {
	python3 - "$1" <<'EOF'
import mailbox, sys
print('\n'.join(sorted(m['Message-ID'] for m in mailbox.mbox(sys.argv[1]))))
EOF
}
mids "$TMP/in.mbox" >"$TMP/want"

# --- a renaming client: flags toggled on random messages, as fast as it can -----
cp -a "$TMP/M0" "$TMP/M1"
python3 "$T_SRCDIR/rename-client.py" "$TMP/M1" "$TMP/stop" 7 >"$TMP/renames" &
rp=$!
while [ ! -s "$TMP/renames" ] && [ "$(ls "$TMP/M1/new" | wc -l)" -gt $((N - 10)) ]; do sleep 0.01; done
MAILSHIFT_MESSAGE_DELAY_MS=1 "$MAILSHIFT" convert "$TMP/M1" "$TMP/out1.mbox" 2>"$TMP/err1"
st=$?
: >"$TMP/stop"
wait $rp
expect_eq "renaming client: exit 0" "$st" 0
check "renaming client: renamed many while exporting ($(cat "$TMP/renames") renames)" \
	test "$(cat "$TMP/renames")" -gt 1000
check "renaming client: no warning" test ! -s "$TMP/err1" -o -z "$(grep -v ": $N messages (maildir)" "$TMP/err1")"
mids "$TMP/out1.mbox" >"$TMP/got1"
expect_eq "renaming client: $N of $N in the export" "$(wc -l <"$TMP/got1" | tr -d ' ')" $N
check "renaming client: the same messages" cmp -s "$TMP/want" "$TMP/got1"

# --- a real Dovecot changing flags and keywords while the export runs -----------------
if [ -x "${DOVECOT_LIBEXEC:-/usr/lib/dovecot}/imap" ]; then
	need_dovecot
	cp -a "$TMP/M0" "$TMP/M2"
	c=$(dovecot_conf "$TMP/M2")
	(
		i=0
		# one session sets \Flagged and $Work on every message, the next
		# clears them: each renames all $N files
		while [ ! -f "$TMP/stop2" ] && [ $i -lt 60 ]; do
			op=+
			[ $((i % 2)) = 1 ] && op=-
			dovecot_imap "$TMP/M2" 'a SELECT INBOX' "b STORE 1:* ${op}FLAGS (\\Flagged \$Work)" >/dev/null
			i=$((i + 1))
		done
		echo $i >"$TMP/dc.rounds"
	) &
	dp=$!
	sleep 0.3
	MAILSHIFT_MESSAGE_DELAY_MS=1 "$MAILSHIFT" convert "$TMP/M2" "$TMP/out2.mbox" 2>"$TMP/err2"
	st=$?
	: >"$TMP/stop2"
	wait $dp
	expect_eq "Dovecot changing flags: exit 0" "$st" 0
	check "Dovecot changing flags: no message vanished" sh -c "! grep -q vanished '$TMP/err2'"
	check "Dovecot changed flags during the export ($(cat "$TMP/dc.rounds") sessions)" \
		test "$(cat "$TMP/dc.rounds")" -ge 2
	mids "$TMP/out2.mbox" >"$TMP/got2"
	expect_eq "Dovecot changing flags: $N of $N in the export" "$(wc -l <"$TMP/got2" | tr -d ' ')" $N
	check "Dovecot changing flags: the same messages" cmp -s "$TMP/want" "$TMP/got2"
else
	echo "# no Dovecot: flags changed by a real Dovecot are not tried"
fi

# --- a message really removed while the export runs: warning, exit 1 -----------------------
cp -a "$TMP/M0" "$TMP/M3"
last=$(ls "$TMP/M3/new" | sort -t Q -k2 -n | tail -1)
MAILSHIFT_MESSAGE_DELAY_MS=1 "$MAILSHIFT" convert "$TMP/M3" "$TMP/out3.mbox" 2>"$TMP/err3" &
cp=$!
while [ ! -s "$TMP/out3.mbox" ]; do sleep 0.01; done
rm "$TMP/M3/new/$last"
wait $cp
expect_eq "a message removed during the export: exit 1" "$?" 1
check "it is named as removed" grep -q "new/$last: vanished while reading (removed, not renamed)" "$TMP/err3"
expect_eq "the other $((N - 1)) are there" "$(mids "$TMP/out3.mbox" | wc -l | tr -d ' ')" $((N - 1))
done_testing
