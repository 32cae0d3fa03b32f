#!/bin/sh
# t/6000: mbox -> Maildir keeps IMAP and POP3 state, as a real Dovecot sees
# it: UIDs, UIDVALIDITY, UIDNEXT, flags, keywords and POP3 UIDLs from
# X-IMAPbase / X-UID / X-Keywords / X-UIDL, also when the folder data sits
# in the UW pseudo message (mailshift-formats(5) "UID state").
. "$(dirname "$0")/lib.sh"
. "$T_SRCDIR/dovecot.sh"
need_dovecot

# the list without file names, and whether every name is a file of the maildir
uidlist_plain() { sed 's/ :.*$//' "$1/dovecot-uidlist" | sed '1s/ G[0-9a-f]\{32\}$/ G*/'; }
names_match() {
	sed -n '2,$s/^.* ://p' "$1/dovecot-uidlist" | while read -r n; do
		ls "$1"/new/"$n" "$1"/cur/"$n":2,* 2>/dev/null | grep -q . || echo "missing $n"
	done
}

# --- X-IMAPbase in the first message ------------------------------------------
"$MAILSHIFT" convert -q "$DATA/uidstate.mbox" "$TMP/m"
expect_eq "convert exit" "$?" 0
expect_eq "uidlist" "$(uidlist_plain "$TMP/m")" "3 V1700000000 N13 G*
3 P0a1b2c3d-one
5
9 PUIDL-three
12"
expect_eq "uidlist names are the files" "$(names_match "$TMP/m")" ""
expect_eq "dovecot-keywords in X-IMAPbase order" "$(cat "$TMP/m/dovecot-keywords")" '0 $Junk
1 NonJunk
2 Work'
s=$(served_copy "$TMP/m" s1)
expect_eq "IMAP UIDs and flags" "$(dovecot_fetch "$s")" 'UID 3 FLAGS (\Seen $Junk)
UID 5 FLAGS (\Answered \Flagged \Seen NonJunk Work)
UID 9 FLAGS (\Draft)
UID 12 FLAGS (\Recent)'
expect_eq "IMAP UIDVALIDITY and UIDNEXT" "$(dovecot_status "$s")" "UIDNEXT 13 UIDVALIDITY 1700000000"
# X-UIDL where the mbox had one; Dovecot's own %08Xu%08Xv elsewhere, from the kept UIDs
expect_eq "POP3 UIDL" "$(dovecot_uidl "$s")" "1 0a1b2c3d-one
2 000000056553f100
3 UIDL-three
4 0000000c6553f100"

# --- the UW pseudo message ---------------------------------------------------------
"$MAILSHIFT" convert "$DATA/uidstate-pseudo.mbox" "$TMP/p" 2>"$TMP/p.err"
expect_eq "pseudo: exit" "$?" 0
expect_eq "pseudo: summary" "$(cat "$TMP/p.err")" "mailshift convert: $DATA/uidstate-pseudo.mbox: 2 messages (mboxrd): 2 delivered, 0 already in $TMP/p, 1 folder-internal pseudo message skipped"
expect_eq "pseudo: uidlist" "$(uidlist_plain "$TMP/p")" "3 V777 N5 G*
2
4 Ppop-four"
s=$(served_copy "$TMP/p" s2)
expect_eq "pseudo: IMAP" "$(dovecot_fetch "$s")" 'UID 2 FLAGS (\Seen $Junk)
UID 4 FLAGS (\Flagged)'
expect_eq "pseudo: status" "$(dovecot_status "$s")" "UIDNEXT 5 UIDVALIDITY 777"
expect_eq "pseudo: POP3 UIDL" "$(dovecot_uidl "$s")" "1 0000000200000309
2 pop-four"

# --- real mail: GNU mailutils' mbox2 (X-IMAPbase 1528796916 6, X-UID 1-5) -------
if need_corpus; then
	"$MAILSHIFT" convert -q "$CORPUS/gnu-mailutils/spool/mbox2" "$TMP/g"
	expect_eq "mbox2: uidlist" "$(uidlist_plain "$TMP/g")" "3 V1528796916 N7 G*
1
2
3
4
5"
	s=$(served_copy "$TMP/g" s3)
	expect_eq "mbox2: IMAP" "$(dovecot_fetch "$s" | sed 's/ FLAGS.*//' | tr '\n' ' ')" \
		"UID 1 UID 2 UID 3 UID 4 UID 5 "
	expect_eq "mbox2: status" "$(dovecot_status "$s")" "UIDNEXT 7 UIDVALIDITY 1528796916"
fi

# --- --uid-state=none, --dry-run, a bad value ------------------------------------
"$MAILSHIFT" convert -q --uid-state=none "$DATA/uidstate.mbox" "$TMP/n"
expect_eq "none: no list" "$(ls "$TMP/n")" "cur
dovecot-keywords
mailshift-delivered
new
tmp"
s=$(served_copy "$TMP/n" s4)
expect_eq "none: Dovecot numbers from 1" "$(dovecot_fetch "$s" | sed 's/ FLAGS.*//' | tr '\n' ' ')" \
	"UID 1 UID 2 UID 3 UID 4 "
v=$(dovecot_status "$s" | sed 's/.*UIDVALIDITY //')
check "none: another UIDVALIDITY ($v)" test "$v" != 1700000000
"$MAILSHIFT" convert -q -n "$DATA/uidstate.mbox" "$TMP/d"
check "dry run writes no list" test ! -e "$TMP/d/dovecot-uidlist"
expect_status "--uid-state=imap" 64 "$MAILSHIFT" convert --uid-state=imap "$DATA/uidstate.mbox" "$TMP/x"
expect_eq "bad value message" "$(cat "$TMP/.err")" \
	"mailshift convert: error: --uid-state must be dovecot or none, not 'imap'"
# an mbox without state gets no list
"$MAILSHIFT" convert -q "$DATA/sample.mbox" "$TMP/sample"
check "no state, no list" test ! -e "$TMP/sample/dovecot-uidlist"

# --- Dovecot's view of an mbox = Dovecot's view of its Maildir ------------------------
# For mboxes written the way UW-IMAP (pseudo message, X-IMAP, padded
# X-Keywords, X-UID), Dovecot (X-IMAPbase, X-UID, Content-Length) and mutt
# (Status, X-Status, Content-Length; no UIDs) write them, a Dovecot serving
# the mbox and a Dovecot serving the converted Maildir agree on UIDVALIDITY,
# UIDNEXT, and per message on UID, flags, keywords, RFC822.SIZE, the hash of
# the served text and the POP3 UIDL (SPEC §2.10 ▶: the seven metadata
# headers are consumed, not copied). Two differences that are not about
# the headers are kept out of the input: Dovecot serves a quoted ">From "
# body line as stored while convert unquotes it (SPEC §2.3), and its Maildir
# shows no flag for P, which convert gives $Forwarded (SPEC §2.10). mutt's
# mbox has no UIDVALIDITY: Dovecot makes one for each, so it is not compared.
# With --keep-mbox-headers the views differ: the test sees one header left in.
python3 "$T_SRCDIR/gen/realmail.py" "$TMP/rm" 3 40 || fail "generator"
for style in uw dovecot mutt; do
	sed -i -e '/^X-Keywords:/s/ *\$Forwarded//' -e 's/^\(>\{1,\}\)From /\1Frxm /' "$TMP/rm/$style.mbox"
	nv=; [ $style = mutt ] && nv=--no-validity
	mkdir -p "$TMP/sp-$style"
	cp "$TMP/rm/$style.mbox" "$TMP/sp-$style/inbox"
	dovecot_served_mbox "$TMP/sp-$style/inbox" $nv >"$TMP/$style.mboxview"
	expect_eq "$style: Dovecot serves the mbox" "$?" 0
	"$MAILSHIFT" convert -q "$TMP/rm/$style.mbox" "$TMP/v-$style"
	expect_eq "$style: convert" "$?" 0
	s=$(served_copy "$TMP/v-$style" "s-$style")
	dovecot_served_maildir "$s" $nv >"$TMP/$style.mdview"
	expect_eq "$style: Dovecot serves the Maildir" "$?" 0
	expect_eq "$style: messages served" "$(grep -c '^UID .* SHA ' "$TMP/$style.mdview")" \
		"$(head -1 "$TMP/rm/$style.record" | sed 's/.*"messages": \([0-9]*\).*/\1/')"
	expect_eq "$style: UIDLs served" "$(grep -c '^UIDL ' "$TMP/$style.mdview")" \
		"$(grep -c '^UID .* SHA ' "$TMP/$style.mdview")"
	expect_eq "$style: Dovecot's view of the Maildir = of the mbox" \
		"$(cat "$TMP/$style.mdview")" "$(cat "$TMP/$style.mboxview")"
	"$MAILSHIFT" convert -q --keep-mbox-headers "$TMP/rm/$style.mbox" "$TMP/k-$style"
	s=$(served_copy "$TMP/k-$style" "sk-$style")
	dovecot_served_maildir "$s" $nv >"$TMP/$style.keptview"
	check "$style: headers kept: the served text differs" \
		test "$(cat "$TMP/$style.keptview")" != "$(cat "$TMP/$style.mboxview")"
done
expect_eq "no error in Dovecot's log" "$(grep -c 'Error\|Panic\|Warning' "$TMP/dovecot/log")" 0

# --- mbox output Dovecot reads without damage ----------------------------------------
# Maildir -> mbox of LF and CRLF messages with UIDs: Dovecot's view of the
# exported mbox = its view of the Maildir (count, UIDs, flags, served text,
# UIDLs), nothing in its log. A CRLF message's metadata block gets LF line
# ends and room to be rewritten in place, as Dovecot writes its own: without
# them Dovecot's first rewrite failed ("Sync failed ... needs
# 18446744073709551615 bytes"), renumbered every UID and overwrote text.
sed 's/$/\r/' "$TMP/rm/uw.mbox" >"$TMP/rm/uwcrlf.mbox"
for style in uw uwcrlf mutt; do
	nv=; [ $style = mutt ] && nv=--no-validity
	rm -rf "$TMP/x-$style"
	"$MAILSHIFT" convert -q "$TMP/rm/$style.mbox" "$TMP/x-$style"
	s=$(served_copy "$TMP/x-$style" "sx-$style")
	dovecot_served_maildir "$s" $nv >"$TMP/$style.xmdview"
	mkdir -p "$TMP/out-$style"
	"$MAILSHIFT" convert -q --to=mbox "$TMP/x-$style" "$TMP/out-$style/inbox"
	expect_eq "$style: Maildir -> mbox" "$?" 0
	: >"$TMP/dovecot/log"
	dovecot_served_mbox "$TMP/out-$style/inbox" $nv >"$TMP/$style.xmboxview"
	expect_eq "$style: Dovecot serves the exported mbox" "$?" 0
	expect_eq "$style: exported mbox: no error in Dovecot's log" \
		"$(grep -v 'Info: ' "$TMP/dovecot/log")" ""
	expect_eq "$style: Dovecot's view of the exported mbox = of the Maildir" \
		"$(cat "$TMP/$style.xmboxview")" "$(cat "$TMP/$style.xmdview")"
done
expect_eq "CRLF messages served" "$(grep -c '^UID .* SHA ' "$TMP/uwcrlf.xmboxview")" 40

done_testing
