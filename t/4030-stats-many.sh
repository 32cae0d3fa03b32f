#!/bin/sh
# mailshift stats on a Maildir of 3,000 messages: past the 64 messages read
# before the next files are read ahead by a second thread (mailshift(1)
# PERFORMANCE),
# with headers longer than the first read, empty files, a symbolic link and
# a FIFO among them, against Python's mailbox module (t/oracle/pystats.py);
# then while a mail client renames the files (flags, new/ to cur/): every
# message counted once, with the flags it has, exit 0.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need python3
need_hooks

N=3000
python3 "$T_SRCDIR/gen-mbox.py" $N 17 3000 >"$TMP/in.mbox"
"$MAILSHIFT" convert -q "$TMP/in.mbox" "$TMP/M" || fail "convert: exit $?"
# 40 messages with 5 KiB headers and 9 empty files, named as a delivery
# agent names them; a symlink and a FIFO (not messages: counted apart)
python3 - "$TMP/M" <<'EOF'
import os, sys
md = sys.argv[1]
for i in range(40):
    pad = b''.join(b'X-Pad-%03d: %s\n' % (k, b'p' * 60) for k in range(80))
    with open(os.path.join(md, 'cur', '1200000000.M%dP77.pad:2,S' % i), 'wb') as f:
        f.write(b'Date: Tue, 1 Jan 2008 00:00:00 +0000\nSubject: padded %d\n' % i + pad +
                b'\nbody %d\n' % i)
for i in range(9):
    open(os.path.join(md, 'new', '1200000001.M%dP78.empty' % i), 'wb').close()
os.symlink('/etc/passwd', os.path.join(md, 'cur', '1200000002.M1P79.link:2,S'))
os.mkfifo(os.path.join(md, 'cur', '1200000003.M1P80.fifo:2,S'))
EOF
TOTAL=$((N + 40 + 9))

cat >"$TMP/cmp.py" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))["total"]
py = json.load(open(sys.argv[2]))
bad = ["%s: ours %s python %s" % (k, json.dumps(ours[k], sort_keys=True), json.dumps(py[k], sort_keys=True))
       for k in ("messages", "bytes", "flags", "keywords", "by_year") if ours[k] != py[k]]
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY

"$MAILSHIFT" stats --json "$TMP/M" >"$TMP/ours.json" 2>"$TMP/err"
expect_eq "exit (a symlink, a FIFO: named, not messages)" "$?" 0
# the oracle reads the Maildir without them (Python would follow the link
# and block on the FIFO)
cp -a "$TMP/M" "$TMP/P"
rm "$TMP/P/cur/1200000002.M1P79.link:2,S" "$TMP/P/cur/1200000003.M1P80.fifo:2,S"
python3 "$ORACLE/pystats.py" "$TMP/P" >"$TMP/py.json" || fail "pystats.py: exit $?"
check "the figures are Python's ($(python3 "$TMP/cmp.py" "$TMP/ours.json" "$TMP/py.json" | head -3))" \
	python3 "$TMP/cmp.py" "$TMP/ours.json" "$TMP/py.json"
expect_eq "messages" "$(jq .total.messages "$TMP/ours.json")" $TOTAL
check "the symlink is named" grep -q "1200000002.M1P79.link:2,S: symbolic link" "$TMP/err"
check "the FIFO is named" grep -q "1200000003.M1P80.fifo:2,S: not a regular file" "$TMP/err"
expect_eq "empty files named" "$(grep -c "zero-length message" "$TMP/err")" 9
rm "$TMP/M/cur/1200000002.M1P79.link:2,S" "$TMP/M/cur/1200000003.M1P80.fifo:2,S"

# --- a client renames files while stats reads them --------------------------
"$MAILSHIFT" stats -q --json "$TMP/M" >"$TMP/before.json" || fail "stats: exit $?"
# new/X -> cur/X:2,FS; cur/X:2,S <-> cur/X:2,FS: S stays, F toggles
python3 "$T_SRCDIR/rename-client.py" "$TMP/M" "$TMP/stop" 5 --seen >"$TMP/renames" &
rp=$!
while [ ! -s "$TMP/renames" ] && [ "$(ls "$TMP/M/new" | wc -l)" -gt 1000 ]; do sleep 0.01; done
MAILSHIFT_MESSAGE_DELAY_MS=1 "$MAILSHIFT" stats -q --json "$TMP/M" >"$TMP/during.json" 2>"$TMP/err2"
st=$?
: >"$TMP/stop"
wait $rp
expect_eq "renaming client: exit 0 ($(head -2 "$TMP/err2"))" "$st" 0
check "renaming client: renamed many while reading ($(cat "$TMP/renames") renames)" \
	test "$(cat "$TMP/renames")" -gt 500
expect_eq "renaming client: every message once, the same bytes" \
	"$(jq -c '[.total.messages, .total.bytes, .total.by_year]' "$TMP/during.json")" \
	"$(jq -c '[.total.messages, .total.bytes, .total.by_year]' "$TMP/before.json")"
# all messages are seen (the renames add S); how many are flagged changes
expect_eq "renaming client: seen + unread = messages" \
	"$(jq '.total.flags.seen + .total.flags.unread' "$TMP/during.json")" $TOTAL
done_testing
