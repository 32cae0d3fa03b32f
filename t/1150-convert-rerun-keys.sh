#!/bin/sh
# What a rerun recognises (mailshift-convert(1) "Reruns",
# mailshift-formats(5) "Keys" and "The delivery record"):
#  - a spool that a real Dovecot served between the two runs (it adds
#    X-IMAPbase, X-UID, Status, X-Keywords): 51 files for 51 messages;
#  - a copy whose Status changed is told from a new copy by counting;
#  - a spool rewritten in place while it is read is read again, nothing
#    twice and nothing lost;
#  - DEST/mailshift-delivered: a message deleted from the Maildir is not
#    delivered again, until the record is removed; a torn last line and a
#    crash at any message leave a record that lists every delivered key;
#  - the same message from three sources is delivered once;
#  - names with the keys of earlier versions (source path in the key) are
#    still recognised.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
. "$T_SRCDIR/dovecot.sh"
. "$T_SRCDIR/crashlib.sh"
need_hooks
need_dovecot

files() { count_files "$1/new" "$1/cur"; }
json_field() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"; }

# --- a spool Dovecot served between two runs -------------------------------------
if [ -x "${DOVECOT_LIBEXEC:-/usr/lib/dovecot}/imap" ]; then
	need_dovecot
	mkdir "$TMP/sp"
	python3 "$T_SRCDIR/gen-mbox.py" 51 5 600 | grep -v '^Status: \|^X-Status: ' >"$TMP/sp/user"
	cp "$TMP/sp/user" "$TMP/user.orig"
	"$MAILSHIFT" convert -q "$TMP/sp/user" "$TMP/D"
	expect_eq "first run: 51 files" "$(files "$TMP/D")" 51
	dovecot_mbox_imap "$TMP/sp/user" 'a SELECT INBOX' 'b STORE 1:10 +FLAGS (\Seen)' \
		'c STORE 5 +FLAGS ($Important)' 'd STORE 20:30 +FLAGS (\Flagged)' >"$TMP/dc.out"
	check "Dovecot served it" grep -q '^d OK' "$TMP/dc.out"
	check "Dovecot rewrote the spool (X-UID, Status, X-Keywords)" \
		sh -c "grep -q '^X-UID: ' '$TMP/sp/user' && grep -q '^Status: ' '$TMP/sp/user' && grep -q '^X-Keywords: .*Important' '$TMP/sp/user' && ! cmp -s '$TMP/sp/user' '$TMP/user.orig'"
	"$MAILSHIFT" convert --json "$TMP/sp/user" "$TMP/D" >"$TMP/j" 2>/dev/null
	expect_eq "rerun after Dovecot: nothing delivered" "$(json_field "$TMP/j" delivered)" 0
	expect_eq "rerun after Dovecot: 51 recognised" "$(json_field "$TMP/j" skipped)" 51
	expect_eq "51 files for 51 messages" "$(files "$TMP/D")" 51
else
	echo "# no Dovecot: the served spool is not tried"
fi

# --- a changed Status against a new copy: counted -----------------------------------
m='From a@example.org Mon Mar  3 09:15:02 2025
Subject: twice
Message-ID: <twice@example.org>

same text
'
{ printf '%s\n' "$m"; printf '%s\n' "$m"; } >"$TMP/two"
"$MAILSHIFT" convert -q "$TMP/two" "$TMP/T"
# a mail reader marks the first copy read (mutt writes Status and Lines)
python3 - "$TMP/two" <<'EOF'
import sys
p = sys.argv[1]
d = open(p, 'rb').read()
d = d.replace(b'Subject: twice\n', b'Subject: twice\nStatus: RO\nLines: 1\n', 1)
open(p, 'wb').write(d)
EOF
"$MAILSHIFT" convert --json "$TMP/two" "$TMP/T" >"$TMP/j" 2>/dev/null
expect_eq "a copy with a new Status is the same message" "$(json_field "$TMP/j" skipped)/$(json_field "$TMP/j" delivered)" "2/0"
# a third copy arrives, read already: it is a third message
printf 'From a@example.org Mon Mar  3 09:15:02 2025\nSubject: twice\nStatus: RO\nX-Status: F\nMessage-ID: <twice@example.org>\n\nsame text\n\n' >>"$TMP/two"
"$MAILSHIFT" convert --json "$TMP/two" "$TMP/T" >"$TMP/j" 2>/dev/null
expect_eq "a third copy, differing only in Status: delivered" "$(json_field "$TMP/j" skipped)/$(json_field "$TMP/j" delivered)" "2/1"
expect_eq "three files for three copies" "$(files "$TMP/T")" 3

# --- rewritten in place while it is read -----------------------------------------------
mkdir "$TMP/rw"
# 3,000 messages, 6 MB: more than one read of the reader's 4 MiB buffer
python3 "$T_SRCDIR/gen-mbox.py" 3000 11 4000 | grep -v '^Status: \|^X-Status: ' >"$TMP/rw/user"
MAILSHIFT_MESSAGE_DELAY_MS=2 "$MAILSHIFT" convert --batch=50 "$TMP/rw/user" "$TMP/R" \
	2>"$TMP/rw.err" &
cpid=$!
t=0
while [ "$(files "$TMP/R")" -lt 50 ] && [ $t -lt 200 ]; do sleep 0.05; t=$((t + 1)); done
# expunge message 3, flag others: Dovecot rewrites the spool in place
dovecot_mbox_imap "$TMP/rw/user" 'a SELECT INBOX' 'b STORE 3 +FLAGS (\Deleted)' \
	'c EXPUNGE' 'd STORE 1:40 +FLAGS (\Seen)' >"$TMP/rw.out"
wait $cpid
expect_eq "rewritten while read: exit 0" "$?" 0
check "Dovecot expunged" grep -q '^c OK' "$TMP/rw.out"
check "the rewrite was seen and the spool read again" grep -q "reading it again from the start" "$TMP/rw.err"
expect_eq "3000 files: each message once (the expunged one was delivered before)" "$(files "$TMP/R")" 3000
expect_eq "no Message-ID twice" \
	"$(cat "$TMP/R"/new/* "$TMP/R"/cur/* | grep -i '^Message-ID:' | sort | uniq -d | wc -l | tr -d ' ')" 0
"$MAILSHIFT" convert --json "$TMP/rw/user" "$TMP/R" >"$TMP/j" 2>/dev/null
expect_eq "rerun: the 2999 of the spool recognised" "$(json_field "$TMP/j" skipped)/$(json_field "$TMP/j" delivered)" "2999/0"

# --- the delivery record ----------------------------------------------------------------
R=$TMP/rec
"$MAILSHIFT" convert -q "$DATA/sample.mbox" "$R"
nrec=$(files "$R")
check "record: one key per message, with its body hash" \
	test "$(grep -c '^[0-9a-f]\{32\}_[0-9]* [0-9a-f]\{16\}$' "$R/mailshift-delivered")" -eq "$nrec"
check "record: it says what it is" grep -q '^# mailshift: .*remove this file' "$R/mailshift-delivered"
# the user deletes five messages; the final rerun of a switchover
ls "$R"/new/* "$R"/cur/* | head -5 | xargs rm -f
"$MAILSHIFT" convert --json "$DATA/sample.mbox" "$R" >"$TMP/j" 2>/dev/null
expect_eq "deleted messages are not delivered again" "$(json_field "$TMP/j" delivered)" 0
expect_eq "five fewer files" "$(files "$R")" $((nrec - 5))
# a line cut by a crash is dropped, the rest still counts
printf '0123456789abcdef' >>"$R/mailshift-delivered"
"$MAILSHIFT" convert --json "$DATA/sample.mbox" "$R" >"$TMP/j" 2>/dev/null
expect_eq "torn last line: nothing delivered" "$(json_field "$TMP/j" delivered)" 0
expect_eq "torn last line: dropped" "$(tail -c 1 "$R/mailshift-delivered" | od -An -c | tr -d ' ')" '\n'
check "torn last line: every line a key or the comment" \
	sh -c "! grep -v '^[0-9a-f]\{32\}_[0-9]*\( [0-9a-f]\{16\}\)\?\$' '$R/mailshift-delivered' | grep -v '^# '"
# remove the record: the rerun delivers what is not in the Maildir
rm "$R/mailshift-delivered"
"$MAILSHIFT" convert --json "$DATA/sample.mbox" "$R" >"$TMP/j" 2>/dev/null
expect_eq "record removed: the five come back" "$(json_field "$TMP/j" delivered)" 5
expect_eq "record removed: all files" "$(files "$R")" "$nrec"
check "record rebuilt with every key" test "$(grep -c '^[0-9a-f]' "$R/mailshift-delivered")" -eq "$nrec"

# a crash at every message: afterwards the record lists exactly the keys
# the Maildir's names hold
"$MAILSHIFT" convert -q "$DATA/sample.mbox" "$TMP/clean"
crash_maildir_sums "$TMP/clean" >"$TMP/clean.sums"
setup() { :; }
run() { "$MAILSHIFT" convert -q --batch=7 "$DATA/sample.mbox" "$1/md"; }
verify() {
	crash_maildir_same "$1/md" "$TMP/clean.sums" || return 1
	ls "$1/md/new" "$1/md/cur" | sed -n 's/.*X\([0-9a-f]\{32\}_[0-9]*\)\..*/\1/p' | sort >"$1/names"
	grep '^[0-9a-f]' "$1/md/mailshift-delivered" | cut -d' ' -f1 | sort >"$1/recorded"
	cmp -s "$1/names" "$1/recorded" || { echo "record and names differ" >&2; return 1; }
}
crash_sweep "record" MESSAGES setup run verify

# --- the same message from three sources ---------------------------------------------------
cp "$DATA/sample.mbox" "$TMP/a.mbox"
cp "$DATA/sample.mbox" "$TMP/b.mbox"
cp "$DATA/sample.mbox" "$TMP/c.mbox"
"$MAILSHIFT" convert --json "$TMP/a.mbox" "$TMP/b.mbox" "$TMP/c.mbox" "$TMP/S" >"$TMP/j" 2>/dev/null
expect_eq "three sources, one copy each message" "$(files "$TMP/S")" "$nrec"
expect_eq "the second and third source: all recognised" \
	"$(sed -n 's/.*"delivered":\([0-9]*\),"skipped":\([0-9]*\).*/\1 \2/p' "$TMP/j" | tr '\n' ' ')" "$nrec 0 0 $nrec 0 $nrec "

# --- keys of earlier versions -------------------------------------------------------------
# An earlier version named each file X<XXH3-128 of the source's real path,
# NUL, the From_ line and the whole header>_<n>. Rename a Maildir's files
# to those keys (computed here, with libxxhash through ctypes) and drop the
# record: the rerun after the upgrade must deliver nothing.
python3 "$T_SRCDIR/gen-mbox.py" 30 4 300 >"$TMP/old.mbox"
cat "$TMP/old.mbox" "$TMP/old.mbox" >"$TMP/old2.mbox"
"$MAILSHIFT" convert -q "$TMP/old2.mbox" "$TMP/O"
rm "$TMP/O/mailshift-delivered"
if python3 - "$TMP/old2.mbox" "$TMP/O" <<'EOF'
import ctypes, ctypes.util, os, re, sys
lib = ctypes.CDLL(ctypes.util.find_library('xxhash') or 'libxxhash.so.0')
class H(ctypes.Structure):
    _fields_ = [('low64', ctypes.c_uint64), ('high64', ctypes.c_uint64)]
lib.XXH3_128bits.restype = H
lib.XXH3_128bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
src, md = sys.argv[1], sys.argv[2]
ident = os.path.realpath(src).encode() + b'\0'
data = open(src, 'rb').read()
msgs = re.split(rb'\n(?=From user[0-9]+@gen\.example )', data)
old, seen = [], {}
for m in msgs:
    if not m.startswith(b'From '):
        continue
    fl, rest = m.split(b'\n', 1)
    hdr = rest.split(b'\n\n', 1)[0] + b'\n\n'
    b = ident + fl + b'\n' + hdr
    h = lib.XXH3_128bits(b, len(b))
    n = seen.get(h.low64, 0)
    seen[h.low64] = n + 1
    old.append('%016x%016x_%d' % (h.high64, h.low64, n))
names = sorted((f, s) for s in ('new', 'cur') for f in os.listdir(os.path.join(md, s)))
# delivery order: mailshift's names increase within a run (Q counter)
names.sort(key=lambda fs: int(re.search(r'Q(\d+)', fs[0]).group(1)))
if len(names) != len(old):
    sys.exit('%d files, %d messages' % (len(names), len(old)))
for (f, s), k in zip(names, old):
    g = re.sub(r'X[0-9a-f]{32}_[0-9]+', 'X' + k, f)
    os.rename(os.path.join(md, s, f), os.path.join(md, s, g))
EOF
then
	"$MAILSHIFT" convert --json "$TMP/old2.mbox" "$TMP/O" >"$TMP/j" 2>/dev/null
	expect_eq "keys of an earlier version: nothing delivered again" "$(json_field "$TMP/j" delivered)/$(json_field "$TMP/j" skipped)" "0/60"
	expect_eq "keys of an earlier version: 60 files" "$(files "$TMP/O")" 60
	check "keys of an earlier version: recorded as today's keys" \
		test "$(grep -c '^[0-9a-f]' "$TMP/O/mailshift-delivered")" -eq 60
	# --remove-source then compares each body with its file, found by the
	# key of the earlier version in its name: an edited one is delivered
	awk '!done && /^$/ { print; print "EDITED LINE"; done = 1; next } { print }' \
	    "$TMP/old2.mbox" >"$TMP/old3.mbox"
	cp "$TMP/old3.mbox" "$TMP/old2.mbox"
	"$MAILSHIFT" convert --json --remove-source "$TMP/old2.mbox" "$TMP/O" >"$TMP/j" 2>/dev/null
	expect_eq "keys of an earlier version, --remove-source: the edited body delivered" \
	    "$(json_field "$TMP/j" delivered)/$(json_field "$TMP/j" skipped):$(cat "$TMP"/O/new/* "$TMP"/O/cur/* | grep -c '^EDITED LINE$')" "1/59:1"
	expect_eq "keys of an earlier version, --remove-source: source emptied" "$(stat -c %s "$TMP/old2.mbox")" 0
else
	fail "could not write the keys of an earlier version"
fi
done_testing
