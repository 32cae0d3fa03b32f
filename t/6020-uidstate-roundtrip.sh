#!/bin/sh
# t/6020: mbox -> Maildir -> mbox keeps X-IMAPbase, X-UID, X-Keywords and
# X-UIDL byte for byte when the input was canonical; the state of a UW
# pseudo message comes back as X-IMAPbase in the first message; a Maildir
# that Dovecot has served (list rewritten, files moved to cur/) still gives
# the same UIDs; and a delta run after the mbox grew keeps every old UID and
# appends the new ones (mailshift-formats(5) "UID state").
. "$(dirname "$0")/lib.sh"
. "$T_SRCDIR/dovecot.sh"
need_dovecot

state_lines() { grep -E '^(X-IMAPbase|X-IMAP|X-UID|X-UIDL|X-Keywords):' "$1"; }

# --- byte for byte ------------------------------------------------------------------
# (these mboxes hold their metadata where UW would not put it: the bytes
# come back with --keep-mbox-headers; t/1105 has the default's round trips)
"$MAILSHIFT" convert -q --keep-mbox-headers "$DATA/uidstate.mbox" "$TMP/m"
"$MAILSHIFT" convert -q "$TMP/m" "$TMP/back.mbox"
check "uidstate.mbox round trip is exact" cmp "$DATA/uidstate.mbox" "$TMP/back.mbox"
if need_corpus; then
	"$MAILSHIFT" convert -q --keep-mbox-headers "$CORPUS/gnu-mailutils/spool/mbox2" "$TMP/g"
	"$MAILSHIFT" convert -q "$TMP/g" "$TMP/g.mbox"
	check "mbox2 round trip is exact" cmp "$CORPUS/gnu-mailutils/spool/mbox2" "$TMP/g.mbox"
fi
# without UID state the headers stay in the files, but the mbox gets no new ones
"$MAILSHIFT" convert -q --uid-state=none "$DATA/uidstate.mbox" "$TMP/ns"
"$MAILSHIFT" convert -q --uid-state=none "$TMP/ns" "$TMP/ns.mbox"
expect_eq "none: no X-UID added" "$(grep -c '^X-UID:' "$TMP/ns.mbox")" 0

# --- -r: a directory of mboxes <-> a Maildir++ tree, one list per folder ----------
mkdir "$TMP/tree"
cp "$DATA/uidstate.mbox" "$TMP/tree/INBOX"
cp "$DATA/uidstate-pseudo.mbox" "$TMP/tree/Work"
"$MAILSHIFT" convert -q -r --keep-mbox-headers "$TMP/tree" "$TMP/t"
expect_eq "tree: INBOX list" "$(sed -n '1s/ G.*//p' "$TMP/t/dovecot-uidlist")" "3 V1700000000 N13"
expect_eq "tree: folder list" "$(sed -n '1s/ G.*//p' "$TMP/t/.Work/dovecot-uidlist")" "3 V777 N5"
"$MAILSHIFT" convert -q -r --to=mbox "$TMP/t" "$TMP/tree.back"
check "tree: INBOX round trip is exact" cmp "$DATA/uidstate.mbox" "$TMP/tree.back/INBOX"
expect_eq "tree: folder state" "$(state_lines "$TMP/tree.back/Work" | grep -v Keywords)" 'X-UID: 2
X-IMAPbase: 777 0000000004 $Junk
X-UID: 4
X-UIDL: pop-four'

# --- the pseudo message's state -------------------------------------------------------
"$MAILSHIFT" convert -q "$DATA/uidstate-pseudo.mbox" "$TMP/p"
"$MAILSHIFT" convert -q "$TMP/p" "$TMP/p.mbox"
# one block at the end of each header, in UW's order (SPEC §2.10 ▶)
expect_eq "pseudo: state in the mbox" "$(state_lines "$TMP/p.mbox")" 'X-IMAPbase: 777 0000000004 $Junk
X-Keywords: $Junk
X-UID: 2
X-UIDL: pop-four
X-UID: 4'
expect_eq "pseudo: no pseudo message" "$(grep -c "FOLDER INTERNAL DATA" "$TMP/p.mbox")" 0
"$MAILSHIFT" convert -q "$TMP/p.mbox" "$TMP/p2"
s=$(served_copy "$TMP/p2" s1)
expect_eq "pseudo: again in a Maildir, same UIDs" "$(dovecot_fetch "$s")" 'UID 2 FLAGS (\Seen $Junk)
UID 4 FLAGS (\Flagged)'
expect_eq "pseudo: same UIDVALIDITY" "$(dovecot_status "$s")" "UIDNEXT 5 UIDVALIDITY 777"

# --- a Maildir Dovecot has served ---------------------------------------------------
s=$(served_copy "$TMP/m" s2)
dovecot_fetch "$s" >/dev/null
check "Dovecot moved new/ to cur/" test "$(count_files "$s/new")" = 0
"$MAILSHIFT" convert -q "$s" "$TMP/served.mbox"
expect_eq "served: the same state lines" "$(state_lines "$TMP/served.mbox")" \
	"$(state_lines "$DATA/uidstate.mbox")"

# --- delta run: the mbox grew, Dovecot already serves the Maildir --------------------
cp "$DATA/uidstate.mbox" "$TMP/grow.mbox"
"$MAILSHIFT" convert -q "$TMP/grow.mbox" "$TMP/d"
dovecot_fetch "$TMP/d" >/dev/null            # Dovecot takes over the list
head -5 "$TMP/d/dovecot-uidlist" | sed 1d >"$TMP/old-lines"
cat >>"$TMP/grow.mbox" <<'MBOX'
From gina@example.net Tue Jan  7 09:00:00 2025
Subject: five
X-UID: 13
X-UIDL: five-uidl

delivered by a server that kept counting

From hal@example.net Tue Jan  7 09:05:00 2025
Subject: six

no X-UID

From ivy@example.net Tue Jan  7 09:10:00 2025
Subject: seven
X-UID: 11

decreasing

MBOX
"$MAILSHIFT" convert "$TMP/grow.mbox" "$TMP/d" 2>"$TMP/err"
expect_eq "delta: exit" "$?" 0
expect_eq "delta: warnings" "$(sed '$d' "$TMP/err")" "mailshift convert: warning: $TMP/grow.mbox:1309: no X-UID: new UID 14 (UIDVALIDITY 1700000000)
mailshift convert: warning: $TMP/grow.mbox:1379: duplicate or decreasing X-UID 11: new UID 15 (UIDVALIDITY 1700000000)"
expect_eq "delta: summary" "$(tail -1 "$TMP/err")" \
	"mailshift convert: $TMP/grow.mbox: 7 messages (mboxrd): 3 delivered, 4 already in $TMP/d, 2 warnings"
expect_eq "delta: old lines untouched" "$(sed -n '2,5p' "$TMP/d/dovecot-uidlist")" "$(cat "$TMP/old-lines")"
expect_eq "delta: new lines" "$(sed -n '6,$p' "$TMP/d/dovecot-uidlist" | sed 's/ :.*//')" "13 Pfive-uidl
14
15"
expect_eq "delta: Dovecot" "$(dovecot_fetch "$TMP/d" | sed 's/ FLAGS.*//' | tr '\n' ' ')" \
	"UID 3 UID 5 UID 9 UID 12 UID 13 UID 14 UID 15 "
expect_eq "delta: status" "$(dovecot_status "$TMP/d")" "UIDNEXT 16 UIDVALIDITY 1700000000"
expect_eq "delta: POP3 UIDL of the new message" "$(dovecot_uidl "$TMP/d" | sed -n 5p)" "5 five-uidl"
# a rerun with nothing new leaves the list alone
cp "$TMP/d/dovecot-uidlist" "$TMP/list.before"
"$MAILSHIFT" convert -q "$TMP/grow.mbox" "$TMP/d"
check "rerun: list unchanged" cmp "$TMP/list.before" "$TMP/d/dovecot-uidlist"

done_testing
