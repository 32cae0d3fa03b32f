#!/bin/sh
# Converts into one Maildir coordinate (mailshift-convert(1) "Locking"):
#  - two converts of the same spool at once: 3,000 files for 3,000
#    messages (the second waits for the first's lock on
#    DEST/mailshift-delivered, then finds everything there);
#  - two converts of different spools with keywords at once: every
#    message names the keywords its mbox gave it, as Dovecot reads them;
#  - a keyword a user creates through Dovecot during a delta run keeps its
#    letter: dovecot-keywords is read again under dovecot-uidlist.lock
#    before a new keyword is written;
#  - a Dovecot delivering into the Maildir meanwhile is not held up.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
. "$T_SRCDIR/dovecot.sh"

files() { count_files "$1/new" "$1/cur"; }

# --- the same spool, twice at once ----------------------------------------------
python3 "$T_SRCDIR/gen-mbox.py" 3000 21 800 >"$TMP/spool"
k=0
while [ $k -lt 3 ]; do
	D=$TMP/same$k
	"$MAILSHIFT" convert -q "$TMP/spool" "$D" 2>"$TMP/e1" &
	p1=$!
	"$MAILSHIFT" convert -q "$TMP/spool" "$D" 2>"$TMP/e2" &
	p2=$!
	wait $p1; s1=$?
	wait $p2; s2=$?
	expect_eq "try $k: both exit 0" "$s1 $s2" "0 0"
	expect_eq "try $k: 3000 files for 3000 messages" "$(files "$D")" 3000
	k=$((k + 1))
done
# the second run waited, it did not fail: with no time to wait it says so
D=$TMP/busy
"$MAILSHIFT" convert -q "$TMP/spool" "$D"
exec 9<>"$D/mailshift-delivered"
python3 -c '
import fcntl, struct, sys, time
fd = 9
lk = struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0)
fcntl.fcntl(fd, 37, lk)   # F_OFD_SETLK: the lock a running convert holds
sys.stdout.write("x"); sys.stdout.flush()
time.sleep(3)
' >"$TMP/held" &
hp=$!
t=0
while [ ! -s "$TMP/held" ] && [ $t -lt 100 ]; do sleep 0.05; t=$((t + 1)); done
[ -s "$TMP/held" ] || { echo "could not lock the record" >&2; exit 99; }
expect_status "DEST busy: exit 75 after --lock-timeout" 75 "$MAILSHIFT" convert -q --lock-timeout=1 "$TMP/spool" "$D"
check "DEST busy: it says so" grep -q "mailshift-delivered is locked by another mailshift run" "$TMP/.err"
wait $hp
exec 9<&-

# --- keywords from two spools at once ------------------------------------------------
# each message: a unique Message-ID and X-Keywords from its spool's names
python3 - "$TMP/ka" "$TMP/kb" <<'EOF'
import random, sys
for path, tag in ((sys.argv[1], 'A'), (sys.argv[2], 'B')):
    rnd = random.Random(tag)
    names = ['%s%d' % (tag, i) for i in range(6)]
    with open(path, 'w') as f:
        for i in range(3000):
            kw = ' '.join(sorted(rnd.sample(names, rnd.randint(1, 3))))
            f.write('From k@example.org Mon Mar  3 09:15:02 2025\n'
                    'Message-ID: <%s%d@kw.example>\nSubject: %s %d\n'
                    'X-Keywords: %s\n\nbody %s %d\n\n' % (tag, i, tag, i, kw, tag, i))
EOF
K=$TMP/K
"$MAILSHIFT" convert -q "$TMP/ka" "$K" 2>"$TMP/e1" &
p1=$!
"$MAILSHIFT" convert -q "$TMP/kb" "$K" 2>"$TMP/e2" &
p2=$!
wait $p1; s1=$?
wait $p2; s2=$?
expect_eq "keywords: both exit 0" "$s1 $s2" "0 0"
expect_eq "keywords: 6000 files" "$(files "$K")" 6000
expect_eq "keywords: 12 names, each with one letter" "$(sort -k2 "$K/dovecot-keywords" | awk '{print $2}' | uniq | wc -l | tr -d ' ')/$(wc -l <"$K/dovecot-keywords" | tr -d ' ')" "12/12"

# "Message-ID keyword..." per message, as Dovecot shows them (or as the
# letters and dovecot-keywords say, without Dovecot), and as the mbox said
keywords_seen() {
	if [ -x "${DOVECOT_LIBEXEC:-/usr/lib/dovecot}/imap" ]; then
		s=$(served_copy "$1" "$2")
		dovecot_imap_wait "$s" 'a SELECT INBOX' 'b FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])' |
			python3 -c '
import re, sys
data = sys.stdin.read()
for m in re.finditer(r"^\* \d+ FETCH \(FLAGS \(([^)]*)\)[^{]*\{\d+\}\n(?:Message-ID|Message-Id): <([^>]*)>", data, re.M | re.I):
    kws = sorted(w for w in m.group(1).split() if not w.startswith("\\"))
    print(m.group(2), " ".join(kws))
' | sort
	else
		python3 - "$1" <<'EOF'
import os, re, sys
md = sys.argv[1]
names = {}
for line in open(os.path.join(md, 'dovecot-keywords')):
    i, n = line.rstrip('\n').split(' ', 1)
    names[chr(ord('a') + int(i))] = n
out = []
for sub in ('new', 'cur'):
    for f in os.listdir(os.path.join(md, sub)):
        info = f.split(':2,', 1)[1] if ':2,' in f else ''
        mid = re.search(rb'Message-ID: <([^>]*)>', open(os.path.join(md, sub, f), 'rb').read()).group(1).decode()
        out.append(mid + ' ' + ' '.join(sorted(names[c] for c in info if 'a' <= c <= 'z')))
print('\n'.join(sorted(out)))
EOF
	fi
}
keywords_said() {
	cat "$@" | python3 -c '
import re, sys
for mid, kw in re.findall(r"Message-ID: <([^>]*)>\nSubject: [^\n]*\nX-Keywords: ([^\n]*)\n", sys.stdin.read()):
    print(mid, " ".join(sorted(kw.split())))
' | sort
}
[ -x "${DOVECOT_LIBEXEC:-/usr/lib/dovecot}/imap" ] && need_dovecot
keywords_seen "$K" k1 >"$TMP/kw.seen"
keywords_said "$TMP/ka" "$TMP/kb" >"$TMP/kw.said"
expect_eq "keywords: 6000 messages read back" "$(wc -l <"$TMP/kw.seen" | tr -d ' ')" 6000
check "keywords: each message names the keywords its mbox gave it" cmp -s "$TMP/kw.said" "$TMP/kw.seen"
[ "$nfail" -gt 0 ] && diff "$TMP/kw.said" "$TMP/kw.seen" | head -5 >&2

# --- a keyword created through Dovecot during a delta run -------------------------------
if [ -x "${DOVECOT_LIBEXEC:-/usr/lib/dovecot}/imap" ]; then
	U=$TMP/U
	printf 'From u@example.org Mon Mar  3 09:15:02 2025\nMessage-ID: <user1@kw.example>\nSubject: mine\n\nthe user marks this one\n\n' >"$TMP/first"
	"$MAILSHIFT" convert -q "$TMP/first" "$U"
	# the delta: 3000 messages with a keyword the Maildir does not know;
	# one fsync each, so the run is still going when the user acts
	python3 - "$TMP/delta" <<'EOF'
import sys
with open(sys.argv[1], 'w') as f:
    for i in range(3000):
        f.write('From d@example.org Mon Mar  3 09:15:02 2025\nMessage-ID: <d%d@kw.example>\n'
                'Subject: delta %d\nX-Keywords: $Label1\n\ndelta %d\n\n' % (i, i, i))
EOF
	"$MAILSHIFT" convert -q --sync=message --batch=3000 "$TMP/delta" "$U" 2>"$TMP/e3" &
	cp=$!
	t=0
	while [ "$(count_files "$U/tmp")" -lt 200 ] && [ $t -lt 400 ]; do sleep 0.02; t=$((t + 1)); done
	chown -R "$dc_user:$dc_group" "$U"
	c=$(dovecot_conf "$U")
	# the user creates a keyword on the first message, through Dovecot,
	# while the delta run is writing
	dovecot_imap "$U" 'a SELECT INBOX' 'b STORE 1 +FLAGS (Urgent)' >"$TMP/store.out"
	check "Dovecot stored the keyword during the run" grep -q '^b OK' "$TMP/store.out"
	running=no
	kill -0 $cp 2>/dev/null && running=yes
	expect_eq "the delta run was still going" "$running" yes
	wait $cp
	expect_eq "delta run: exit 0" "$?" 0
	expect_eq "delta run: 3001 files" "$(files "$U")" 3001
	dovecot_imap_wait "$U" 'a SELECT INBOX' 'b FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])' |
		grep -o '^\* [0-9]* FETCH (FLAGS ([^)]*)\|<[a-z0-9]*@kw.example>' | paste - - |
		sed 's/^.*FLAGS (//; s/\\Recent *//; s/)//' >"$TMP/u.seen"
	expect_eq "the user's message keeps the keyword the user gave it" \
		"$(grep '<user1@' "$TMP/u.seen" | awk '{print $1}')" "Urgent"
	expect_eq "every delta message shows \$Label1, none Urgent" \
		"$(grep '<d[0-9]*@' "$TMP/u.seen" | awk '{print $1}' | sort | uniq -c | tr -s ' ')" " 3000 \$Label1"
else
	echo "# no Dovecot: the keyword created through Dovecot is not tried"
fi
done_testing
