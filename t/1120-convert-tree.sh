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
expect_eq "folders" "$(cd "$TMP/md" && ls -d .[!.]* | tr '\n' ' ')" \
	".Arch.2002.Q1 .Empty .Résumé.100%25 .Sent.2002%2Eold "
expect_eq "maildirfolder files" "$(ls "$TMP"/md/.*/maildirfolder | wc -l | tr -d ' ')" 4
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
done_testing
