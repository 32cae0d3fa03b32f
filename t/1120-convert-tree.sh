#!/bin/sh
# convert -r (mailshift-convert(1)): a directory of mboxes <-> one Maildir++
# or fs-layout tree; names with dots, non-ASCII, '%' round trip; nothing
# is created outside DEST.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
ms() { "$MAILSHIFT" convert --no-progress -q "$@"; }
S=$DATA/sample.mbox
msg() { printf 'From a@b Sat Jan  3 01:05:34 1996\nMessage-ID: <%s@x>\n\n%s\n\n' "$1" "$1"; }

mkdir -p "$TMP/t/Sent" "$TMP/t/Arch/2002" "$TMP/t/Résumé"
# INBOX: the sample as mboxrd writes it (t/1100: two documented differences)
ms "$S" "$TMP/md0" 2>/dev/null && ms --to=mbox "$TMP/md0" "$TMP/t/INBOX"
msg s1 >"$TMP/t/Sent/2002.old"
msg a1 >"$TMP/t/Arch/2002/Q1"
msg r1 >"$TMP/t/Résumé/100%"
: >"$TMP/t/Empty"
ms -r "$TMP/t" "$TMP/md"; expect_eq "tree to maildir++" $? 0
# a directory is a folder too (empty): no parent is missing in the tree
expect_eq "folders" "$(cd "$TMP/md" && ls -d .[!.]* | tr '\n' ' ')" \
	".Arch .Arch.2002 .Arch.2002.Q1 .Empty .Résumé .Résumé.100%25 .Sent .Sent.2002%2Eold "
expect_eq "maildirfolder files" "$(ls "$TMP"/md/.*/maildirfolder | wc -l | tr -d ' ')" 8
expect_eq "INBOX is the top" "$(count_files "$TMP/md/new" "$TMP/md/cur")" 40
ms -r "$TMP/md" "$TMP/back"; expect_eq "maildir++ to tree" $? 0
check "tree round trip" diff -r "$TMP/t" "$TMP/back"
# modified UTF-7 names (Dovecot)
ms -r --folder-names=mutf7 "$TMP/t" "$TMP/md7"
check "mutf7 folder" test -d "$TMP/md7/.R&AOk-sum&AOk-.100%25"
ms -r --folder-names=mutf7 "$TMP/md7" "$TMP/back7"
check "mutf7 round trip" diff -r "$TMP/t" "$TMP/back7"
# fs layout
ms -r --layout=fs "$TMP/t" "$TMP/fs"
check "fs nested maildir" test -d "$TMP/fs/Arch/2002/Q1/cur"
ms -r --layout=fs "$TMP/fs" "$TMP/backfs"
check "fs round trip" diff -r "$TMP/t" "$TMP/backfs"
# hostile Maildir++ names never leave DEST
mkdir -p "$TMP/h/cur" "$TMP/h/new" "$TMP/h/tmp" "$TMP/h/.a%2F..%2F..%2Fx/cur" "$TMP/h/...x/cur" "$TMP/h/.ok/cur"
msg h1 >"$TMP/h/.a%2F..%2F..%2Fx/cur/1.M1P1.h:2,S"
msg h2 >"$TMP/h/.ok/cur/2.M1P1.h:2,S"
mkdir "$TMP/out"
ms -r "$TMP/h" "$TMP/out/d" 2>/dev/null
expect_eq "hostile name refused" $? 65
expect_eq "only inside DEST" "$(cd "$TMP/out" && find . | sort | tr '\n' ' ' | sed 's/ $//')" ". ./d ./d/INBOX ./d/ok"
expect_eq "nothing next to DEST" "$(ls "$TMP" | grep -c '^x$')" 0
# rerun: nothing new
"$MAILSHIFT" convert --no-progress -r --json "$TMP/t" "$TMP/md" >"$TMP/j"
expect_eq "rerun delivers nothing" "$(grep -c '"delivered":0' "$TMP/j")" 5
# --- a walk names what it leaves out; subscriptions both ways --------------------------
mkdir -p "$TMP/w/Lists" "$TMP/w/.hidden"
msg i1 >"$TMP/w/INBOX"
msg l1 >"$TMP/w/Lists/dev"
msg e1 >"$TMP/w/..evil"
msg h1 >"$TMP/w/.hidden/x"
mkfifo "$TMP/w/pipe"
echo 'not mail' >"$TMP/w/notes.txt"
ln -s INBOX "$TMP/w/link"
printf 'INBOX\nLists/dev\nw/Lists\nGone\n' >"$TMP/w/.mailboxlist"
"$MAILSHIFT" convert --no-progress -q -r "$TMP/w" "$TMP/wm" 2>"$TMP/w.err"
expect_eq "walk: exit" "$?" 0
expect_eq "walk: every entry left out named, also with -q" "$(sort "$TMP/w.err")" "$(sort <<E
mailshift convert: warning: $TMP/w/..evil: left out: a file whose name starts with '.' (rename it to convert it)
mailshift convert: warning: $TMP/w/.hidden: left out: a directory whose name starts with '.' (rename it to convert it)
mailshift convert: warning: $TMP/w/pipe: left out: a FIFO, not a file
mailshift convert: warning: $TMP/w/notes.txt: left out: not an mbox (it does not start with a From_ line)
mailshift convert: warning: $TMP/w/link: left out: a symbolic link (never followed)
mailshift convert: warning: $TMP/w/.mailboxlist: "Gone": left out: a subscription to a mailbox that is not in the tree
E
)"
expect_eq "walk: subscriptions" "$(cat "$TMP/wm/subscriptions")" "INBOX
Lists.dev
Lists"
"$MAILSHIFT" convert --no-progress --json -r "$TMP/w" "$TMP/wj" >"$TMP/w.json" 2>/dev/null
expect_eq "walk: --json names them" "$(grep -c '"left_out":' "$TMP/w.json")" 6
check "walk: --json reason" grep -q "{\"left_out\":\"$TMP/w/pipe\",\"reason\":\"a FIFO, not a file\"}" "$TMP/w.json"
# back: Dovecot's subscriptions become UW's .mailboxlist
ms -r "$TMP/wm" "$TMP/wb"
expect_eq "back: .mailboxlist" "$(cat "$TMP/wb/.mailboxlist")" "INBOX
Lists/dev
Lists"

# --- trees both ways without holes (SPEC §1.8) ---------------------------------------
# Maildir++: .Lists empty with subfolders, .Both with messages and subfolders
mkdir -p "$TMP/pp"
ms "$TMP/w/INBOX" "$TMP/pp"
for f in Lists Lists.dev Lists.dev.x Both Both.kid; do mkdir -p "$TMP/pp/.$f/cur" "$TMP/pp/.$f/new" "$TMP/pp/.$f/tmp"; : >"$TMP/pp/.$f/maildirfolder"; done
i=0
for f in Lists.dev Lists.dev.x Both Both Both.kid; do
	i=$((i + 1))
	msg "p$i" | sed 1d >"$TMP/pp/.$f/cur/$i.M1P1.h:2,S"
done
ms -r "$TMP/pp" "$TMP/ppm"
expect_eq "empty parent: a directory; messages and subfolders: F and F.sbd" \
	"$(cd "$TMP/ppm" && find . | sort | tr '\n' ' ')" \
	". ./Both ./Both.sbd ./Both.sbd/kid ./INBOX ./Lists ./Lists/dev ./Lists/dev.sbd ./Lists/dev.sbd/x "
expect_eq "Both holds its two messages" "$(grep -c '^From ' "$TMP/ppm/Both")" 2
ms -r "$TMP/ppm" "$TMP/ppback"
expect_eq "back: the same folders" "$(cd "$TMP/ppback" && ls -d .[!.]* | tr '\n' ' ')" \
	"$(cd "$TMP/pp" && ls -d .[!.]* | tr '\n' ' ')"
for f in Lists.dev Lists.dev.x Both Both.kid; do
	expect_eq "back: .$f messages" "$(count_files "$TMP/ppback/.$f/cur" "$TMP/ppback/.$f/new")" \
		"$(count_files "$TMP/pp/.$f/cur")"
done

# --- maildirsize (SPEC §1.9) ------------------------------------------------------
mkdir -p "$TMP/q"
ms "$TMP/w/INBOX" "$TMP/q"
printf '1000000S,1000C\n' >"$TMP/q/maildirsize"
for f in "$TMP"/q/new/* "$TMP"/q/cur/*; do [ -f "$f" ] && printf '%s 1\n' "$(wc -c <"$f" | tr -d ' ')" >>"$TMP/q/maildirsize"; done
ms "$S" "$TMP/q"
sum=$(awk 'NR > 1 { b += $1; c += $2 } END { print b, c }' "$TMP/q/maildirsize")
expect_eq "maildirsize: the delivered bytes and count added" "$sum" \
	"$(cat "$TMP"/q/new/* "$TMP"/q/cur/* | wc -c | tr -d ' ') $(count_files "$TMP/q/new" "$TMP/q/cur")"
expect_eq "maildirsize: the definition kept" "$(head -1 "$TMP/q/maildirsize")" "1000000S,1000C"
"$MAILSHIFT" check "$TMP/q" >"$TMP/q.out" 2>&1
expect_eq "check: no MAILDIRSIZE-WRONG" "$(grep -c MAILDIRSIZE-WRONG "$TMP/q.out")" 0
# a folder's delivery counts in the top maildir's file
mkdir -p "$TMP/q/.F"
ms "$TMP/w/Lists/dev" "$TMP/q/.F"
: >"$TMP/q/.F/maildirfolder"
"$MAILSHIFT" check "$TMP/q" >"$TMP/q.out" 2>&1
expect_eq "check after a folder: no MAILDIRSIZE-WRONG" "$(grep -c MAILDIRSIZE-WRONG "$TMP/q.out")" 0
# a file that would pass 5120 bytes is removed: the server counts again
for i in $(seq 1300); do echo "0 0"; done >>"$TMP/q/maildirsize"
ms "$TMP/w/Lists/dev" "$TMP/q/.G"
check "maildirsize at 5120 bytes removed" test ! -e "$TMP/q/maildirsize"

done_testing
