#!/bin/sh
# convert --remove-source (mailshift-convert(1) RELIABILITY): a crash after
# every message index N of a 50-message source (test hook and real kill -9),
# then a rerun: every message exactly once in DEST, nothing left in SOURCE.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
ms() { "$MAILSHIFT" convert --no-progress -q "$@"; }

mk50() {   # 50 distinct messages, one with a "From " body line
	awk 'BEGIN { for (i = 1; i <= 50; i++) {
		printf "From u%d@ex Mon Jan  4 10:%02d:00 2021\nReturn-Path: <u%d@ex>\n", i, i % 60, i
		printf "Message-ID: <m%d@ex>\nSubject: n%d\n\nbody %d\n", i, i, i
		if (i == 7) print ">From quoted"
		print "" } }' >"$1"
}
ids() { grep -h '^Message-ID:' "$@" 2>/dev/null | sort | uniq -c | awk '{print $1}' | sort | uniq -c | tr -s ' '; }

mk50 "$TMP/src.mbox"
cp "$TMP/src.mbox" "$TMP/orig.mbox"
# mbox -> Maildir: plain run empties the spool, keeps its inode
ino=$(stat -c %i "$TMP/src.mbox")
ms --remove-source "$TMP/src.mbox" "$TMP/md"; expect_eq "exit" $? 0
expect_eq "spool emptied" "$(stat -c %s:%i "$TMP/src.mbox")" "0:$ino"
expect_eq "50 delivered" "$(count_files "$TMP/md/new" "$TMP/md/cur")" 50

hooks=no
MAILSHIFT_CRASH_AFTER_MESSAGES=1 ms "$TMP/md" "$TMP/probe.mbox" 2>/dev/null
[ $? -eq 99 ] && hooks=yes
if [ $hooks = yes ]; then
	for n in 0 1 2 7 25 49 50; do
		# mbox -> Maildir, crash after n published
		rm -rf "$TMP/d1"; cp "$TMP/orig.mbox" "$TMP/s1.mbox"
		MAILSHIFT_CRASH_AFTER_MESSAGES=$n ms --batch=10 --remove-source "$TMP/s1.mbox" "$TMP/d1" 2>/dev/null
		ms --remove-source "$TMP/s1.mbox" "$TMP/d1"
		expect_eq "mbox->maildir crash at $n: once each" "$(cat "$TMP"/d1/new/* "$TMP"/d1/cur/* 2>/dev/null | ids)" " 50 1"
		expect_eq "mbox->maildir crash at $n: source empty" "$(stat -c %s "$TMP/s1.mbox")" 0
	done
	for n in 0 1 9 10 11 30 49 50 51 60 99; do
		# Maildir -> mbox: crash after n messages appended or unlinked
		rm -rf "$TMP/m2" "$TMP/d2.mbox"; cp -a "$TMP/md" "$TMP/m2"
		MAILSHIFT_CRASH_AFTER_MESSAGES=$n ms --to=mbox --batch=10 --remove-source "$TMP/m2" "$TMP/d2.mbox" 2>/dev/null
		ms --to=mbox --remove-source "$TMP/m2" "$TMP/d2.mbox" 2>/dev/null
		expect_eq "maildir->mbox crash at $n: once each" "$(ids "$TMP/d2.mbox")" " 50 1"
		expect_eq "maildir->mbox crash at $n: source empty" "$(count_files "$TMP/m2/new" "$TMP/m2/cur")" 0
		check "maildir->mbox crash at $n: same bytes" cmp -s "$TMP/d2.mbox" "$TMP/orig.mbox"
	done
	# a crash in the middle of a write leaves a torn tail: taken back
	for w in 3 5 8; do
		rm -rf "$TMP/m3" "$TMP/d3.mbox"; cp -a "$TMP/md" "$TMP/m3"
		MAILSHIFT_CRASH_AFTER_WRITES=$w ms --to=mbox --sync=message --remove-source "$TMP/m3" "$TMP/d3.mbox" 2>/dev/null
		ms --to=mbox --remove-source "$TMP/m3" "$TMP/d3.mbox" 2>/dev/null
		check "torn write $w: same bytes after rerun" cmp -s "$TMP/d3.mbox" "$TMP/orig.mbox"
	done
fi

# real kill -9 at random moments, both directions
big=$TMP/big.mbox
awk '{ if (/^Message-ID: <m/) { n++; sub(/<m/, "<k" n "-") } print }' "$TMP/orig.mbox" "$TMP/orig.mbox" "$TMP/orig.mbox" "$TMP/orig.mbox" >"$big"
for delay in 0.01 0.03 0.06; do
	rm -rf "$TMP/k1"; cp "$big" "$TMP/k.mbox"
	"$MAILSHIFT" convert -q --no-progress --sync=message --remove-source "$TMP/k.mbox" "$TMP/k1" & pid=$!
	sleep $delay; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
	ms --remove-source "$TMP/k.mbox" "$TMP/k1"
	expect_eq "kill -9 after ${delay}s, mbox->maildir" "$(cat "$TMP"/k1/new/* "$TMP"/k1/cur/* 2>/dev/null | ids)" " 200 1"
	expect_eq "kill -9 after ${delay}s, spool empty" "$(stat -c %s "$TMP/k.mbox")" 0
	rm -f "$TMP/k2.mbox"; cp -a "$TMP/k1" "$TMP/k1c"
	"$MAILSHIFT" convert -q --no-progress --to=mbox --sync=message --remove-source "$TMP/k1" "$TMP/k2.mbox" & pid=$!
	sleep $delay; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
	ms --to=mbox --remove-source "$TMP/k1" "$TMP/k2.mbox" 2>/dev/null
	expect_eq "kill -9 after ${delay}s, maildir->mbox" "$(ids "$TMP/k2.mbox")" " 200 1"
	expect_eq "kill -9 after ${delay}s, maildir empty" "$(count_files "$TMP/k1/new" "$TMP/k1/cur")" 0
	rm -rf "$TMP/k1c"
done
# messages that arrive while the spool is converted are kept (X17): the
# journaled rewrite moves the tail to the front
mk50 "$TMP/x.mbox"
printf 'From late@ex Tue Jan  5 10:00:00 2021\nMessage-ID: <late@ex>\n\nlate\n\n' >"$TMP/late"
MAILSHIFT_CRASH_AFTER_MESSAGES=50 ms --remove-source "$TMP/x.mbox" "$TMP/xd" 2>/dev/null
cat "$TMP/late" >>"$TMP/x.mbox"
ms --remove-source "$TMP/x.mbox" "$TMP/xd"
expect_eq "late arrival converted on rerun" "$(cat "$TMP"/xd/new/* | ids)" " 51 1"

# Into an mbox, a source message counts as there only with its body: one
# edited under the same From_ line and header (mtime kept, so the From_
# line is the same) is appended, not removed.
body_edit() {   # FILE TEXT: the body becomes TEXT, the header and mtime stay
	cp -p "$1" "$TMP/stamp"
	awk -v t="$2" '{ print } /^$/ { print t; exit }' "$TMP/stamp" >"$1"
	touch -r "$TMP/stamp" "$1"
}
for v in mboxrd mboxcl2; do
	rm -rf "$TMP/e1" "$TMP/e1.mbox"; cp -a "$TMP/md" "$TMP/e1"
	ms --to=mbox --mbox-format=$v "$TMP/e1" "$TMP/e1.mbox"
	cp "$TMP/e1.mbox" "$TMP/e1.before"
	f=$(grep -l '^Message-ID: <m7@ex>' "$TMP"/e1/new/* "$TMP"/e1/cur/* 2>/dev/null)
	body_edit "$f" "edited body"
	"$MAILSHIFT" convert --no-progress --to=mbox --mbox-format=$v --remove-source "$TMP/e1" "$TMP/e1.mbox" 2>"$TMP/err"
	expect_eq "$v: edited body: exit" $? 0
	expect_eq "$v: edited body: appended" "$(grep -c '^Message-ID: ' "$TMP/e1.mbox")" 51
	expect_eq "$v: edited body in DEST" "$(grep -c '^edited body$' "$TMP/e1.mbox")" 1
	check "$v: DEST before kept" cmp -s -n "$(stat -c %s "$TMP/e1.before")" "$TMP/e1.before" "$TMP/e1.mbox"
	expect_eq "$v: edited body: source empty" "$(count_files "$TMP/e1/new" "$TMP/e1/cur")" 0
	expect_eq "$v: edited body: named" "$(grep -c "$(basename "$f").*another body: appended" "$TMP/err")" 1
done
# a body without a final newline gets one in DEST, and is still the same body
rm -rf "$TMP/e2" "$TMP/e2.mbox"; cp -a "$TMP/md" "$TMP/e2"
f=$(grep -l '^Message-ID: <m9@ex>' "$TMP"/e2/new/* "$TMP"/e2/cur/* 2>/dev/null)
cp -p "$f" "$TMP/stamp"; head -c -1 "$TMP/stamp" >"$f"; touch -r "$TMP/stamp" "$f"
# and one past the writer's 1 MiB buffer, taken back from the file itself
awk 'BEGIN { print "Message-ID: <big@ex>\n"; for (i = 0; i < 40000; i++) printf "line %d of a big body%40s\n", i, "" }' \
    >"$TMP/e2/new/1700000000.big.host"
ms --to=mbox "$TMP/e2" "$TMP/e2.mbox"
cp "$TMP/e2.mbox" "$TMP/e2.before"
ms --to=mbox --remove-source "$TMP/e2" "$TMP/e2.mbox"
check "no final newline: nothing appended" cmp -s "$TMP/e2.before" "$TMP/e2.mbox"
expect_eq "no final newline: source empty" "$(count_files "$TMP/e2/new" "$TMP/e2/cur")" 0
# DEST whose last line has no LF: the LF and separator it needs go before
# the first message written, and stay when that message is taken back
rm -rf "$TMP/e4" "$TMP/e4.mbox"; mkdir -p "$TMP/e4/cur" "$TMP/e4/new" "$TMP/e4/tmp"
printf 'From: a@ex\nSubject: A\nMessage-ID: <a@x>\n\nhello A\n' >"$TMP/e4/cur/1609754400.A.h:2,S"
touch -d @1609754400 "$TMP/e4/cur/1609754400.A.h:2,S"
ms --to=mbox "$TMP/e4" "$TMP/e4.mbox"
head -c -2 "$TMP/e4.mbox" >"$TMP/e4.cut" && cat "$TMP/e4.cut" >"$TMP/e4.mbox"
printf 'From: b@ex\nSubject: B\nMessage-ID: <b@x>\n\nhello B\n' >"$TMP/e4/cur/1609758000.B.h:2,S"
touch -d @1609758000 "$TMP/e4/cur/1609758000.B.h:2,S"
ms --to=mbox --remove-source "$TMP/e4" "$TMP/e4.mbox"
expect_eq "DEST without final LF: A taken back, B its own message" \
    "$(grep -c '^From [ab]@ex ' "$TMP/e4.mbox"):$(grep -c '^hello [AB]$' "$TMP/e4.mbox")" "2:2"
expect_eq "DEST without final LF: source empty" "$(count_files "$TMP/e4/new" "$TMP/e4/cur")" 0
# mboxcl2 keeps bodies as they are: read as one, a '>From' or a final LF
# edited is another body; an unchanged '>From' body is not appended again
for pair in '>From the start\n|From the start\n' 'no newline|no newline\n' '>From x\n|>From x\n'; do
	b1=${pair%%|*}; b2=${pair#*|}
	rm -rf "$TMP/e5" "$TMP/e5.mbox"; mkdir -p "$TMP/e5/cur" "$TMP/e5/new" "$TMP/e5/tmp"
	f=$TMP/e5/cur/1609754400.A.h:2,S
	printf "From: a@ex\nSubject: A\n\n$b1" >"$f"; touch -d @1609754400 "$f"
	ms --to=mbox --mbox-format=mboxcl2 "$TMP/e5" "$TMP/e5.mbox"
	printf "From: a@ex\nSubject: A\n\n$b2" >"$f"; touch -d @1609754400 "$f"
	ms --to=mbox --mbox-format=mboxcl2 --remove-source "$TMP/e5" "$TMP/e5.mbox" 2>/dev/null
	want=2; [ "$b1" = "$b2" ] && want=1
	expect_eq "mboxcl2 '$b1' then '$b2'" \
	    "$(grep -c '^From a@ex ' "$TMP/e5.mbox"):$(count_files "$TMP/e5/new" "$TMP/e5/cur")" "$want:0"
done
# mbox -> mbox: the same, the source emptied either way
cp "$TMP/orig.mbox" "$TMP/e3.mbox"; rm -f "$TMP/e3.out"
ms --to=mbox "$TMP/e3.mbox" "$TMP/e3.out"
awk '{ print } /^Message-ID: <m7@ex>/ { m = 1 } m && /^$/ { print "edited body"; m = 0 }' \
    "$TMP/orig.mbox" >"$TMP/e3.mbox"
ms --to=mbox --remove-source "$TMP/e3.mbox" "$TMP/e3.out" 2>/dev/null
expect_eq "mbox: edited body appended" "$(grep -c '^From ' "$TMP/e3.out"):$(grep -c '^edited body$' "$TMP/e3.out")" "51:1"
expect_eq "mbox: source emptied" "$(stat -c %s "$TMP/e3.mbox")" 0
cp "$TMP/orig.mbox" "$TMP/e3.mbox"
ms --to=mbox --remove-source "$TMP/e3.mbox" "$TMP/e3.out" 2>/dev/null
expect_eq "mbox: rerun of the same: nothing appended" "$(grep -c '^From ' "$TMP/e3.out")" 51
# Into a Maildir, the same: the key is the From_ line and the header, so a
# message whose body was edited under them has the key of DEST's copy. It
# is delivered under a key of its own, and a further rerun finds that one.
edit_m7() {   # SRC DST TEXT: m7's body becomes TEXT
	awk -v t="$3" '{ print } /^Message-ID: <m7@ex>/ { m = 1 } m && /^$/ { print t; m = 0 }' "$1" >"$2"
}
rm -rf "$TMP/e6"; edit_m7 "$TMP/orig.mbox" "$TMP/e6.edited" "edited body"
ms "$TMP/orig.mbox" "$TMP/e6"
cp "$TMP/e6.edited" "$TMP/e6.mbox"
"$MAILSHIFT" convert --no-progress --remove-source "$TMP/e6.mbox" "$TMP/e6" 2>"$TMP/err"
expect_eq "maildir: edited body: exit" $? 0
expect_eq "maildir: edited body: delivered" "$(count_files "$TMP/e6/new" "$TMP/e6/cur")" 51
expect_eq "maildir: edited body in DEST" "$(cat "$TMP"/e6/new/* | grep -c '^edited body$')" 1
expect_eq "maildir: edited body: source empty" "$(stat -c %s "$TMP/e6.mbox")" 0
expect_eq "maildir: edited body: named" "$(grep -c 'e6.mbox:[0-9]*: .*another body: delivered' "$TMP/err")" 1
expect_eq "maildir: nothing left in tmp/" "$(count_files "$TMP/e6/tmp")" 0
for again in e6.edited orig.mbox; do
	cp "$TMP/$again" "$TMP/e6.mbox"
	ms --remove-source "$TMP/e6.mbox" "$TMP/e6"
	expect_eq "maildir: rerun of $again: nothing delivered" "$(count_files "$TMP/e6/new" "$TMP/e6/cur")" 51
	expect_eq "maildir: rerun of $again: source empty" "$(stat -c %s "$TMP/e6.mbox")" 0
done
# a second edit is a third body; an edit in DEST's copy is not the source's
edit_m7 "$TMP/orig.mbox" "$TMP/e6.mbox" "edited again"
ms --remove-source "$TMP/e6.mbox" "$TMP/e6"
expect_eq "maildir: second edit delivered" "$(cat "$TMP"/e6/new/* | grep -c '^edited again$'):$(count_files "$TMP/e6/new")" "1:52"
# the record holds each key with its body's hash: a copy edited or made
# unreadable in DEST since is still the body that was delivered
rm -rf "$TMP/e7"; ms "$TMP/orig.mbox" "$TMP/e7"
f=$(grep -l '^Message-ID: <m9@ex>' "$TMP"/e7/new/*)
sed -i 's/^body 9$/body 9 changed in DEST/' "$f"
cp "$TMP/orig.mbox" "$TMP/e7.mbox"
ms --remove-source "$TMP/e7.mbox" "$TMP/e7" 2>/dev/null
expect_eq "maildir: DEST's copy edited: recorded body, nothing delivered" \
    "$(cat "$TMP"/e7/new/* | grep -c '^body 9'):$(stat -c %s "$TMP/e7.mbox")" "1:0"
# a record without body hashes (written by an earlier version): each copy
# is compared with its file, and then recorded with its body
rm -rf "$TMP/e7"; ms "$TMP/orig.mbox" "$TMP/e7"
sed -i 's/ [0-9a-f]\{16\}$//' "$TMP/e7/mailshift-delivered"
f=$(grep -l '^Message-ID: <m9@ex>' "$TMP"/e7/new/*)
sed -i 's/^body 9$/body 9 changed in DEST/' "$f"
cp "$TMP/orig.mbox" "$TMP/e7.mbox"
ms --remove-source "$TMP/e7.mbox" "$TMP/e7" 2>/dev/null
expect_eq "old record: DEST's copy edited: the source's delivered too" \
    "$(cat "$TMP"/e7/new/* | grep -c '^body 9')" 2
expect_eq "old record: the 49 compared now recorded with their bodies" \
    "$(grep -c '^[0-9a-f_]* [0-9a-f]\{16\}$' "$TMP/e7/mailshift-delivered")" 50
# a copy in DEST that cannot be read is not taken as the same: delivered
# again (once), with a warning
rm -rf "$TMP/e9"; ms "$TMP/orig.mbox" "$TMP/e9"
sed -i 's/ [0-9a-f]\{16\}$//' "$TMP/e9/mailshift-delivered"
f=$(grep -l '^Message-ID: <m3@ex>' "$TMP"/e9/new/*)
mv "$f" "$TMP/e9.m3"; ln -s "$TMP/e9.m3" "$f"
cp "$TMP/orig.mbox" "$TMP/e9.mbox"
"$MAILSHIFT" convert --no-progress --remove-source "$TMP/e9.mbox" "$TMP/e9" 2>"$TMP/err"
expect_eq "old record: unreadable copy: delivered again" "$(ls "$TMP/e9/new" | wc -l):$(grep -c 'unable to read.*delivered again' "$TMP/err")" "51:1"
cp "$TMP/orig.mbox" "$TMP/e9.mbox"
"$MAILSHIFT" convert --no-progress --remove-source "$TMP/e9.mbox" "$TMP/e9" 2>"$TMP/err"
expect_eq "old record: unreadable copy: once only, no second warning" \
    "$(ls "$TMP/e9/new" | wc -l):$(stat -c %s "$TMP/e9.mbox"):$(grep -c 'unable to read' "$TMP/err")" "51:0:0"
# a copy deleted from DEST (old record): not known to be the same body,
# delivered again once
rm -rf "$TMP/e9"; ms "$TMP/orig.mbox" "$TMP/e9"
sed -i 's/ [0-9a-f]\{16\}$//' "$TMP/e9/mailshift-delivered"
rm "$(grep -l '^Message-ID: <m5@ex>' "$TMP"/e9/new/*)"
for run in 1 2; do
	cp "$TMP/orig.mbox" "$TMP/e9.mbox"
	"$MAILSHIFT" convert --no-progress --remove-source "$TMP/e9.mbox" "$TMP/e9" 2>"$TMP/err"
	expect_eq "old record: copy deleted, run $run" "$(count_files "$TMP/e9/new"):$(grep -c 'file of its key is gone' "$TMP/err"):$(stat -c %s "$TMP/e9.mbox")" "50:$((2 - run)):0"
done
# a FIFO in DEST's place is not opened for reading (it would hang)
rm -rf "$TMP/e9"; ms "$TMP/orig.mbox" "$TMP/e9"
sed -i 's/ [0-9a-f]\{16\}$//' "$TMP/e9/mailshift-delivered"
f=$(grep -l '^Message-ID: <m4@ex>' "$TMP"/e9/new/*)
rm "$f"; mkfifo "$f"
cp "$TMP/orig.mbox" "$TMP/e9.mbox"
timeout -k 10 60 "$MAILSHIFT" convert --no-progress -q --remove-source "$TMP/e9.mbox" "$TMP/e9" 2>/dev/null
expect_eq "old record: a FIFO for a copy: no hang, delivered again" "$?:$(count_files "$TMP/e9/new")" "0:50"
# only the body counts: a header written otherwise (here with the mbox
# fields kept), CRLF lines, a header past the reader's 1 MiB view, a body
# past the writer's buffers and one without a final newline are the same
rm -rf "$TMP/e8"
{ cat "$TMP/orig.mbox"
  printf 'From crlf@ex Mon Jan  4 10:00:00 2021\r\nMessage-ID: <crlf@ex>\r\nStatus: RO\r\n\r\nline\r\n\r\n'
  printf 'From big@ex Mon Jan  4 10:00:00 2021\nMessage-ID: <bighdr@ex>\nStatus: RO\n'
  awk 'BEGIN { for (i = 0; i < 30000; i++) printf "X-Filler-%d: %60s\n", i, "" }'
  printf '\nsmall body\n\n'
  printf 'From big@ex Mon Jan  4 10:00:00 2021\nMessage-ID: <bigbody@ex>\nX-Status: A\n\n'
  awk 'BEGIN { for (i = 0; i < 40000; i++) printf "line %d of a big body%40s\n", i, "" }'
  printf '\nFrom last@ex Mon Jan  4 10:00:00 2021\nMessage-ID: <nolf@ex>\n\nno final newline'
} >"$TMP/e8.src"
ms --keep-mbox-headers "$TMP/e8.src" "$TMP/e8"
expect_eq "maildir: kept headers: 54 delivered" "$(count_files "$TMP/e8/new" "$TMP/e8/cur")" 54
cp "$TMP/e8.src" "$TMP/e8.mbox"
"$MAILSHIFT" convert --no-progress --remove-source "$TMP/e8.mbox" "$TMP/e8" 2>"$TMP/err"
expect_eq "maildir: header otherwise, same bodies: exit" $? 0
expect_eq "maildir: same bodies: nothing delivered" "$(count_files "$TMP/e8/new" "$TMP/e8/cur"):$(grep -c 'another body' "$TMP/err")" "54:0"
expect_eq "maildir: same bodies: source empty" "$(stat -c %s "$TMP/e8.mbox")" 0
# the same with the record written without body hashes: each compared
# with its file (the body after its first empty line; for the header past
# the reader's view, the whole file), and an edit in that header's tail
# is seen
rm -rf "$TMP/e8"; ms "$TMP/e8.src" "$TMP/e8"
sed -i 's/ [0-9a-f]\{16\}$//' "$TMP/e8/mailshift-delivered"
cp "$TMP/e8.src" "$TMP/e8.mbox"
"$MAILSHIFT" convert --no-progress --remove-source "$TMP/e8.mbox" "$TMP/e8" 2>"$TMP/err"
expect_eq "old record: same bodies: nothing delivered" "$(count_files "$TMP/e8/new" "$TMP/e8/cur"):$(grep -c 'another body' "$TMP/err"):$(stat -c %s "$TMP/e8.mbox")" "54:0:0"
rm -rf "$TMP/e8"; ms "$TMP/e8.src" "$TMP/e8"
sed -i 's/ [0-9a-f]\{16\}$//' "$TMP/e8/mailshift-delivered"
sed 's/^X-Filler-29999: .*/X-Filler-29999: EDITED/' "$TMP/e8.src" >"$TMP/e8.mbox"
"$MAILSHIFT" convert --no-progress --remove-source "$TMP/e8.mbox" "$TMP/e8" 2>"$TMP/err"
expect_eq "old record: big header's tail edited: delivered" "$(count_files "$TMP/e8/new" "$TMP/e8/cur"):$(grep -c 'another body' "$TMP/err"):$(cat "$TMP"/e8/new/* "$TMP"/e8/cur/* | grep -c '^X-Filler-29999: EDITED$')" "55:1:1"

mkmsg() {   # N BODY: a message of key u<N>
	printf 'From u%s@ex Mon Jan  4 10:00:00 2021\nMessage-ID: <m%s@ex>\nSubject: s%s\n\n%s\n\n' "$1" "$1" "$1" "$2"
}
bodies_in() {   # MAILDIR TEXT...: how many lines of its files are each TEXT
	d=$1; shift
	for t in "$@"; do printf '%s ' "$(cat "$d"/new/* "$d"/cur/* 2>/dev/null | grep -cx "$t")"; done
}
json_field() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"; }
# an edit in one source of several: the first delivered its body this run
D=$TMP/f1; rm -rf "$D"
mkmsg 1 "body one" >"$TMP/f1a.mbox"; { mkmsg 1 "body one EDITED"; mkmsg 2 "body two"; } >"$TMP/f1b.mbox"
ms --remove-source "$TMP/f1a.mbox" "$TMP/f1b.mbox" "$D" 2>/dev/null
expect_eq "several sources: the later body delivered too" "$(bodies_in "$D" "body one" "body one EDITED" "body two")" "1 1 1 "
expect_eq "several sources: both emptied" "$(stat -c %s "$TMP/f1a.mbox" "$TMP/f1b.mbox" | tr '\n' ' ')" "0 0 "
# a header longer than the reader's 1 MiB view: its tail counts as body
D=$TMP/f2; rm -rf "$D"
{ printf 'From u1@ex Mon Jan  4 10:00:00 2021\nSubject: x\n'
  awk 'BEGIN { for (i = 0; i < 20000; i++) printf "X-Data-%d: %60s\n", i, "z" }'
  printf 'X-Tail: original\n\nbody\n\n'; mkmsg 2 "body two"; } >"$TMP/f2.mbox"
ms "$TMP/f2.mbox" "$D"
sed -i 's/^X-Tail: original$/X-Tail: EDITED!!/' "$TMP/f2.mbox"
ms --remove-source "$TMP/f2.mbox" "$D" 2>/dev/null
expect_eq "header past 1 MiB: an edit in its tail delivered" \
    "$(cat "$D"/new/* | grep -c '^X-Tail: EDITED!!$'):$(stat -c %s "$TMP/f2.mbox")" "1:0"
# a final newline added by an append after a message that lacked one is
# the same body
D=$TMP/f3; rm -rf "$D"
{ mkmsg 1 "body one"; printf 'From u2@ex Mon Jan  4 10:00:00 2021\nMessage-ID: <m2@ex>\n\nbody two'; } >"$TMP/f3.mbox"
ms "$TMP/f3.mbox" "$D"
mkmsg 3 "body three" >"$TMP/f3.new"
ms --to=mbox "$TMP/f3.new" "$TMP/f3.mbox"
ms --remove-source "$TMP/f3.mbox" "$D" 2>/dev/null
expect_eq "final newline appended: same body, one new message" \
    "$(count_files "$D/new"):$(stat -c %s "$TMP/f3.mbox")" "3:0"
# the same From_ line and header with two bodies: the first deleted from
# the spool, the second is still recognised whatever its number
D=$TMP/f4; rm -rf "$D"
{ mkmsg 1 alpha; mkmsg 1 beta; } >"$TMP/f4.mbox"
ms "$TMP/f4.mbox" "$D"
mkmsg 1 beta >"$TMP/f4.mbox"
ms --remove-source "$TMP/f4.mbox" "$D" 2>/dev/null
expect_eq "same header, two bodies, first gone: nothing delivered" "$(count_files "$D/new"):$(stat -c %s "$TMP/f4.mbox")" "2:0"
# Gmail: a label changed and the body edited between two exports
D=$TMP/f5; rm -rf "$D"
printf 'From 1@xxx Mon Jan  4 10:00:00 2021\nX-GM-THRID: 1\nX-Gmail-Labels: Work\nMessage-ID: <g1@ex>\nSubject: g1\n\ngbody one\n\n' >"$TMP/f5.mbox"
ms "$TMP/f5.mbox" "$D"
sed -i 's/Labels: Work/Labels: Personal/; s/gbody one/gbody ONE edited/' "$TMP/f5.mbox"
ms --remove-source "$TMP/f5.mbox" "$D" 2>/dev/null
expect_eq "label changed, body edited: delivered" "$(find "$D" -type f -path '*/[nc][eu][wr]/*' | xargs cat | grep -c '^gbody ONE edited$'):$(stat -c %s "$TMP/f5.mbox")" "1:0"
# a message deleted in Thunderbird (expunged, folder not compacted) is left
# out whatever its body, as it was before
D=$TMP/f8; rm -rf "$D"
printf 'From u1@ex Mon Jan  4 10:00:00 2021\nX-Mozilla-Status: 0001\nMessage-ID: <t1@ex>\n\ntb body\n\n' >"$TMP/f8.mbox"
ms "$TMP/f8.mbox" "$D"
printf 'From u1@ex Mon Jan  4 10:00:00 2021\nX-Mozilla-Status: 0009\nMessage-ID: <t1@ex>\n\ntb body edited\n\n' >"$TMP/f8.mbox"
ms --remove-source "$TMP/f8.mbox" "$D" 2>/dev/null
expect_eq "expunged in Thunderbird, body edited: not delivered" "$(count_files "$D/new" "$D/cur"):$(stat -c %s "$TMP/f8.mbox")" "1:0"
# a dry run says what the run would do
D=$TMP/f6; rm -rf "$D"
{ mkmsg 1 "body one"; mkmsg 2 "body two"; } >"$TMP/f6.mbox"
ms "$TMP/f6.mbox" "$D"
{ mkmsg 1 "body one"; mkmsg 2 "body two EDITED"; } >"$TMP/f6.mbox"
"$MAILSHIFT" convert --no-progress -n --json --remove-source "$TMP/f6.mbox" "$D" >"$TMP/j" 2>/dev/null
expect_eq "dry run: 1 would be delivered, nothing written" \
    "$(json_field "$TMP/j" skipped):$(count_files "$D/new" "$D/tmp"):$(stat -c %s "$TMP/f6.mbox")" "1:2:$(stat -c %s "$TMP/f6.mbox")"
"$MAILSHIFT" convert --no-progress --json --remove-source "$TMP/f6.mbox" "$D" >"$TMP/j" 2>/dev/null
expect_eq "... and the run does it" "$(json_field "$TMP/j" delivered):$(json_field "$TMP/j" skipped)" "1:1"
# a client renaming DEST's files all through the run (new/ to cur/, flags
# on and off): every edited body delivered, the source emptied. (With the
# record's body hashes removed, each message is compared with its file:
# a file renamed past every look is delivered again, with a warning, never
# taken as the same.)
D=$TMP/f7; rm -rf "$D"
awk 'BEGIN { for (i = 1; i <= 1000; i++) printf "From u%d@ex Mon Jan  4 10:00:00 2021\nMessage-ID: <r%d@ex>\n\nbody %d\n\n", i, i, i }' >"$TMP/f7.mbox"
ms "$TMP/f7.mbox" "$D"
sed -i 's/^body \([0-9]*[05]\)$/body \1 EDITED/' "$TMP/f7.mbox"
sed -i 's/ [0-9a-f]\{16\}$//' "$D/mailshift-delivered"   # compared by file: renames matter
python3 -c '
import os, sys
d, flag = sys.argv[1], sys.argv[2]
open(flag + ".started", "w").close()
while not os.path.exists(flag + ".stop"):
    for sub in ("new", "cur"):
        for f in os.listdir(os.path.join(d, sub)):
            base = f.split(":")[0]
            to = base + (":2,RS" if f.endswith(":2,S") else ":2,S")
            try:
                os.rename(os.path.join(d, sub, f), os.path.join(d, "cur", to))
            except OSError:
                pass
' "$D" "$TMP/f7" & flipper=$!
for i in $(seq 600); do [ -e "$TMP/f7.started" ] && break; sleep 0.05; done
"$MAILSHIFT" convert --no-progress --json --batch=10 --remove-source "$TMP/f7.mbox" "$D" >"$TMP/j" 2>/dev/null
rc=$?
touch "$TMP/f7.stop"; wait $flipper
expect_eq "renaming client: exit" $rc 0
expect_eq "renaming client: every body there, 200 of them edited" \
    "$(cat "$D"/new/* "$D"/cur/* | grep '^body ' | sort -u | wc -l):$(cat "$D"/new/* "$D"/cur/* | grep '^body .*EDITED$' | sort -u | wc -l)" "1200:200"
expect_eq "renaming client: source empty" "$(stat -c %s "$TMP/f7.mbox")" 0
n=$(count_files "$D/new" "$D/cur")
expect_eq "renaming client: delivered, counted" "$(json_field "$TMP/j" delivered)" "$((n - 1000))"
check "renaming client: each file past 1,200 announced ($n files, $(json_field "$TMP/j" warnings) warnings)" \
    test "$((n - 1200))" -le "$(json_field "$TMP/j" warnings)"
# --- a client renames a source file after it was read, before its removal -----
# (a flag change: new/X -> cur/X:2,S). The file is not removed, and that is
# said; it is not counted as removed. inotify tells when mailshift first
# touched the file (opened it, or linked it: Maildir -> Maildir), the
# delay hook leaves two seconds before the removals (t/rename-when-touched.py).
for how in mbox maildir; do
	rm -rf "$TMP/rn" "$TMP/rnd" "$TMP/rn.mbox"
	mk50 "$TMP/rn50.mbox"; head -n 21 "$TMP/rn50.mbox" >"$TMP/rn3.mbox"
	ms --keep-mbox-headers "$TMP/rn3.mbox" "$TMP/rn"
	# the three in new/, the first one read first
	first=$(ls "$TMP/rn/new" | sort -t Q -k2 -n | head -n1)
	if [ "$how" = mbox ]; then
		dst="$TMP/rn.mbox"; set -- --to=mbox
	else
		dst="$TMP/rnd"; set -- --to=maildir
	fi
	MAILSHIFT_MESSAGE_DELAY_MS=1000 python3 "$T_SRCDIR/rename-when-touched.py" "$TMP/rn/new/$first" \
	    "$TMP/rn/new/$first" "$TMP/rn/cur/$first:2,S" \
	    "$MAILSHIFT" convert --no-progress --json "$@" --remove-source "$TMP/rn" "$dst" >"$TMP/rn.json" 2>"$TMP/rn.err"
	st=$?
	[ $st = 77 ] && { echo "# no inotify: a rename before the removal is not tried ($how)"; continue; }
	expect_eq "$how: renamed before its removal: exit" $st 1
	expect_eq "$how: the renamed file is named" "$(grep -c "new/$first: not removed: a client renamed it to .*cur/$first:2,S after it was" "$TMP/rn.err")" 1
	expect_eq "$how: it stays in the source, alone" "$(count_files "$TMP/rn/new" "$TMP/rn/cur")" 1
	check "$how: under its new name" test -f "$TMP/rn/cur/$first:2,S"
	expect_eq "$how: removed, warnings" "$(json_field "$TMP/rn.json" removed):$(json_field "$TMP/rn.json" warnings)" "2:1"
done

done_testing
