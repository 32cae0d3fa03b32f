#!/bin/sh
# check and repair on a generated broken Maildir++ tree holding one instance
# of every Maildir code: exact findings, repair, clean re-check, nothing lost
# or duplicated, quarantine byte-identical, idempotent second run, dry run
# changes nothing (DESIGN §3, SPEC §1, §5 M1-M13).
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

msg() { printf 'From: a@example.org\nSubject: %s\nMessage-ID: <%s@example.org>\n\n%s body\n' "$1" "$1" "$1"; }

M=$TMP/Maildir
mkdir -p "$M/cur" "$M/new" "$M/tmp" "$M/.Folder/cur" "$M/.Folder/new" \
	"$M/.Broken/cur" "$M/.Broken/new" "$M/.Broken/tmp"
chmod 700 "$M" "$M"/cur "$M"/new "$M"/tmp
: >"$M/.Folder/maildirfolder"
msg ok >"$M/cur/1000.ok.host:2,S"
msg info >"$M/new/1001.info.host:2,S"
msg unsorted >"$M/cur/1002.unsorted.host:2,SF"
msg unknown >"$M/cur/1003.unknown.host:2,SX"
msg dup-a >"$M/new/1004.dup.host"
msg dup-b >"$M/cur/1004.dup.host:2,S"
msg badname >"$M/cur/1005.bad:name.host:2,S"
msg size >"$M/cur/1006.size.host,S=999:2,S"
w=$(msg wsize | wc -c | tr -d ' ')
msg wsize >"$M/cur/1007.wsize.host,S=$w,W=1:2,S"
: >"$M/cur/1008.empty.host:2,"
printf '%%PDF-1.4\n%%\342\343\317\323\nbinary\n' >"$M/cur/1009.pdf.host:2,"
mkdir "$M/cur/1010.dir.host"
msg outside >"$TMP/outside"
ln -s "$TMP/outside" "$M/cur/1011.link.host:2,S"
msg perm >"$M/cur/1012.perm.host:2,S"
chmod 0646 "$M/cur/1012.perm.host:2,S"
msg stale >"$M/tmp/1013.stale.host"
printf 'From: a@example.org\nSubject: cut' >"$M/tmp/1014.cut.host"
msg leftover >"$M/new/1015.leftover.host"
ln "$M/new/1015.leftover.host" "$M/tmp/1015.leftover.host"
msg folder >"$M/.Folder/cur/1016.folder.host:2,S"
msg broken >"$M/.Broken/cur/1017.broken.host:2,S"
printf '1000000S,100C\n5 1\n' >"$M/maildirsize"

# what every later step is compared against: one digest per inode (a hard
# link is one message), and the files that will be quarantined
digests() { find "$1" -type f ! -name maildirsize ! -name maildirfolder -printf '%i %p\n' |
	sort -n -u -k1,1 | cut -d' ' -f2- | while IFS= read -r f; do sha256sum <"$f" | cut -c1-64; done | sort; }
listing() { find "$1" -printf '%p %y %m %s %n %T@\n' | LC_ALL=C sort; }
digests "$M" >"$TMP/before.digests"
for f in "cur/1008.empty.host:2," "cur/1009.pdf.host:2," "tmp/1014.cut.host"; do
	sha256sum <"$M/$f" | cut -c1-64
done >"$TMP/quarantine.want"

cat >"$TMP/want" <<EOF
$M/.Broken: FOLDER-BROKEN
$M/.Folder/tmp: MAILDIR-MISSING-SUBDIR
$M/cur/1002.unsorted.host:2,SF: MAILDIR-FLAGS-UNSORTED
$M/cur/1003.unknown.host:2,SX: MAILDIR-FLAGS-UNKNOWN
$M/cur/1004.dup.host:2,S: MAILDIR-DUPLICATE-UNIQ
$M/cur/1005.bad:name.host:2,S: MAILDIR-BAD-NAME
$M/cur/1006.size.host,S=999:2,S: MAILDIR-SIZE-MISMATCH
$M/cur/1007.wsize.host,S=$w,W=1:2,S: MAILDIR-SIZE-MISMATCH
$M/cur/1008.empty.host:2,: MAILDIR-EMPTY-FILE
$M/cur/1009.pdf.host:2,: MAILDIR-NOT-MESSAGE
$M/cur/1010.dir.host: MAILDIR-NOT-MESSAGE
$M/cur/1011.link.host:2,S: MAILDIR-SYMLINK
$M/cur/1012.perm.host:2,S: MAILDIR-PERMISSIONS
$M/maildirsize: MAILDIRSIZE-WRONG
$M/new/1001.info.host:2,S: MAILDIR-INFO-IN-NEW
$M/tmp/1013.stale.host: MAILDIR-TMP-STALE
$M/tmp/1014.cut.host: MAILDIR-TMP-STALE
$M/tmp/1015.leftover.host: MAILDIR-TMP-LEFTOVER
EOF

# --- check: exactly those findings, exit 1 ---------------------------------
expect_status "check finds problems" 1 "$MAILSHIFT" check -r --deep --tmp-age=0 "$M"
sed 's/^\(.*\): \([A-Z+-]*\): .*$/\1: \2/' "$TMP/.out" | LC_ALL=C sort >"$TMP/got"
check "check reports exactly the planted findings" cmp -s "$TMP/got" "$TMP/want" ||
	diff "$TMP/want" "$TMP/got" >&2
expect_eq "summary" "$(cat "$TMP/.err")" "mailshift check: 3 mailboxes, 15 messages, 18 findings (11 errors, 7 warnings)"
# every code of the table is planted once (FOLDER-BROKEN .. TMP-LEFTOVER)
expect_eq "distinct Maildir codes" "$(cut -d' ' -f2 "$TMP/want" | sort -u | wc -l | tr -d ' ')" 15
# JSON: one object per line with path, code, message
"$MAILSHIFT" check -r --deep --tmp-age=0 --json "$M" >"$TMP/json" 2>/dev/null
expect_eq "json lines" "$(grep -c '^{"path":".*","code":"[A-Z-]*","severity":"[a-z]*","message":".*"}$' "$TMP/json")" 18
# every code with its severity, as mailshift-check(1) lists them
expect_eq "json severities" "$(sed 's/.*"code":"\([A-Z-]*\)","severity":"\([a-z]*\)".*/\1 \2/' "$TMP/json" | sort -u | tr '\n' ' ')" \
	"FOLDER-BROKEN error MAILDIR-BAD-NAME warning MAILDIR-DUPLICATE-UNIQ error MAILDIR-EMPTY-FILE warning MAILDIR-FLAGS-UNKNOWN warning MAILDIR-FLAGS-UNSORTED warning MAILDIR-INFO-IN-NEW warning MAILDIR-MISSING-SUBDIR error MAILDIR-NOT-MESSAGE error MAILDIR-PERMISSIONS error MAILDIR-SIZE-MISMATCH error MAILDIR-SYMLINK error MAILDIR-TMP-LEFTOVER warning MAILDIR-TMP-STALE error MAILDIRSIZE-WRONG warning "
# without --deep: the content findings (W=, not a message) are not made
"$MAILSHIFT" check -r --tmp-age=0 -q "$M" >"$TMP/shallow"
expect_eq "no --deep: 16 findings" "$(wc -l <"$TMP/shallow" | tr -d ' ')" 16
expect_eq "no --deep: no W= finding" "$(grep -c 1007.wsize "$TMP/shallow")" 0
# -q: findings only, no summary
expect_status "check -q" 1 "$MAILSHIFT" check -q -r --deep --tmp-age=0 "$M"
expect_eq "-q prints no summary" "$(cat "$TMP/.err")" ""
# default --tmp-age=36h: fresh tmp/ files are not stale
"$MAILSHIFT" check -r --deep -q "$M" >"$TMP/default-age"
expect_eq "36h: no tmp finding" "$(grep -c 'MAILDIR-TMP' "$TMP/default-age")" 0

# --- dry run: prints the actions, changes nothing -------------------------
listing "$M" >"$TMP/list.before"
expect_status "repair --dry-run" 0 "$MAILSHIFT" repair -r --deep --tmp-age=0 --dry-run "$M"
listing "$M" >"$TMP/list.after"
check "dry run changes nothing (names, modes, sizes, links, mtimes)" cmp -s "$TMP/list.before" "$TMP/list.after"
expect_eq "dry run says what it would do" "$(grep -c ': would ' "$TMP/.out")" 18
check "dry run creates no quarantine" test ! -e "$M/.mailshift-quarantine"

# --- repair ---------------------------------------------------------------
expect_status "repair" 0 "$MAILSHIFT" repair -r --deep --tmp-age=0 "$M"
cp "$TMP/.out" "$TMP/repair.out"
expect_eq "repair: one line per action" "$(wc -l <"$TMP/repair.out" | tr -d ' ')" 18
expect_eq "repair summary" "$(cat "$TMP/.err")" "mailshift repair: 18 actions, 0 left as is"
quota=$(find "$M/cur" "$M/new" "$M/.Folder/cur" "$M/.Folder/new" "$M/.Broken/cur" "$M/.Broken/new" -type f -printf '%s\n' | awk '{ s += $1 } END { print s " bytes in " NR " messages" }')
expect_eq "quota totals" "$quota" "1124 bytes in 14 messages"
check "maildirsize rebuilt" test "$(cat "$M/maildirsize")" = "$(printf '1000000S,100C\n1124 14')"
for l in \
	"$M/new/1001.info.host:2,S: MAILDIR-INFO-IN-NEW: renamed to $M/cur/1001.info.host:2,S" \
	"$M/cur/1002.unsorted.host:2,SF: MAILDIR-FLAGS-UNSORTED: renamed to $M/cur/1002.unsorted.host:2,FS" \
	"$M/cur/1003.unknown.host:2,SX: MAILDIR-FLAGS-UNKNOWN: renamed to $M/cur/1003.unknown.host:2,S,X" \
	"$M/cur/1007.wsize.host,S=$w,W=1:2,S: MAILDIR-SIZE-MISMATCH: renamed to $M/cur/1007.wsize.host,S=$w,W=$((w + 5)):2,S" \
	"$M/.Folder/tmp: MAILDIR-MISSING-SUBDIR: created with mode $(stat -c %04a "$M/.Folder/cur")" \
	"$M/.Broken: FOLDER-BROKEN: created maildirfolder" \
	"$M/cur/1012.perm.host:2,S: MAILDIR-PERMISSIONS: chmod 0644" \
	"$M/maildirsize: MAILDIRSIZE-WRONG: rebuilt: 1000000S,100C, $quota" \
	; do
	check "action: $l" grep -qxF "$l" "$TMP/repair.out"
done
grep -F 'MAILDIR-TMP-LEFTOVER: removed the tmp/ name' "$TMP/repair.out" >/dev/null; check "leftover name removed" test $? = 0
check "leftover inode lives on" test -f "$M/new/1015.leftover.host"
check "stale complete tmp file delivered" test -f "$M/new/1013.stale.host"
check "symlink target untouched" test "$(cat "$TMP/outside")" = "$(msg outside)"
check "symlink quarantined as a link" test -L "$M/.mailshift-quarantine/1011.link.host:2,S"
check "directory quarantined" test -d "$M/.mailshift-quarantine/1010.dir.host"
check "quarantine is a Maildir++ folder" test -f "$M/.mailshift-quarantine/maildirfolder"
for f in "cur/1008.empty.host:2," "cur/1009.pdf.host:2," "cur/1014.cut.host"; do
	sha256sum <"$M/.mailshift-quarantine/$f" | cut -c1-64
done >"$TMP/quarantine.got"
check "quarantined files byte-identical" cmp -s "$TMP/quarantine.want" "$TMP/quarantine.got"
grep -F '1014.cut.host: MAILDIR-TMP-STALE: moved into the quarantine' "$TMP/repair.out" | grep -q 'incomplete: no empty line after the header'
check "incomplete tmp file quarantined with the test named" test $? = 0
check "no message file outside tmp/ new/ cur/ and quarantine" test -z "$(find "$M" -type f ! -path '*/cur/*' ! -path '*/new/*' ! -name maildirsize ! -name maildirfolder)"

# nothing lost, nothing duplicated: the same multiset of contents
digests "$M" >"$TMP/after.digests"
check "multiset of message contents unchanged" cmp -s "$TMP/before.digests" "$TMP/after.digests"
expect_eq "message count" "$(wc -l <"$TMP/after.digests" | tr -d ' ')" 17

# --- clean afterwards, idempotent -----------------------------------------
expect_status "check after repair is clean" 0 "$MAILSHIFT" check -r --deep --tmp-age=0 "$M"
expect_eq "check after repair prints nothing on stdout" "$(cat "$TMP/.out")" ""
listing "$M" >"$TMP/list.1"
expect_status "second repair" 0 "$MAILSHIFT" repair -r --deep --tmp-age=0 "$M"
expect_eq "second repair does nothing" "$(cat "$TMP/.out")" ""
listing "$M" >"$TMP/list.2"
check "second repair changes nothing" cmp -s "$TMP/list.1" "$TMP/list.2"

# --- refusals and exit status (DESIGN §4) ---------------------------------
expect_status "missing mailbox" 66 "$MAILSHIFT" check "$TMP/nope"
mkdir "$TMP/plain"
expect_status "directory without cur/" 65 "$MAILSHIFT" check "$TMP/plain"
expect_status "bad --tmp-age" 64 "$MAILSHIFT" check --tmp-age=soon "$M"
expect_status "no argument" 64 "$MAILSHIFT" check
expect_status "repair: no argument" 64 "$MAILSHIFT" repair

# one file under two names: of one unique part (new/X and cur/X:2,S
# linked) one message, of two unique parts two, as Python's mailbox
# module and stats count them
L=$TMP/links
mkdir -p "$L/new" "$L/cur" "$L/tmp"
printf 'From: a@x\nSubject: one\n\nb\n' >"$L/new/100.A.host"
ln "$L/new/100.A.host" "$L/cur/100.A.host:2,S"
printf 'From: a@x\nSubject: two\n\nb\n' >"$L/new/200.B.host"
ln "$L/new/200.B.host" "$L/cur/300.C.host:2,S"
py_n=$(python3 -c 'import mailbox, sys; print(len(mailbox.Maildir(sys.argv[1], create=False)))' "$L")
expect_eq "hard links: Python counts" "$py_n" 3
expect_status "hard links: check exit 0" 0 "$MAILSHIFT" check "$L"
check "hard links: check counts $py_n messages" grep -q "1 mailbox, $py_n messages, 0 findings" "$TMP/.err"

# a directory read in chunks (2,048 names each): a unique part used twice
# is found across chunks and across new/ and cur/, each finding naming the
# other file, and every message counted once
C=$TMP/chunks
mkdir -p "$C/new" "$C/cur" "$C/tmp"
awk -v d="$C" 'BEGIN { for (i = 0; i < 5000; i++) { f = d "/cur/" i ".m.host:2,S"; print "Subject: x\n\nbody" >f; close(f) } }'
printf 'Subject: y\n\nb\n' >"$C/new/77.m.host"
printf 'Subject: z\n\nb\n' >"$C/cur/4000.m.host,S=14:2,S"
ln "$C/cur/123.m.host:2,S" "$C/new/123.m.host"
"$MAILSHIFT" check "$C" >"$TMP/chunks.out" 2>"$TMP/.err"
expect_eq "chunks: exit" $? 1
# (which of the two in cur/ is named first follows the directory's order)
sed -e "s|^$C/||" -e 's|^cur/4000.m.host:2,S: \(.*\) cur/4000.m.host,S=14:2,S$|cur/4000.m.host,S=14:2,S: \1 cur/4000.m.host:2,S|' \
    "$TMP/chunks.out" | LC_ALL=C sort >"$TMP/chunks.got"
expect_eq "chunks: findings" "$(cat "$TMP/chunks.got")" \
"cur/4000.m.host,S=14:2,S: MAILDIR-DUPLICATE-UNIQ: unique part also used by cur/4000.m.host:2,S
cur/77.m.host:2,S: MAILDIR-DUPLICATE-UNIQ: unique part also used by new/77.m.host"
check "chunks: 5002 messages" grep -q "1 mailbox, 5002 messages, 2 findings" "$TMP/.err"

done_testing
