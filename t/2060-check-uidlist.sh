#!/bin/sh
# t/2060: check and repair of a dovecot-uidlist that disagrees with its
# Maildir (SPEC §1.10; mailshift-check(1), mailshift-repair(1) UIDLIST-*).
# The Maildir comes from t/data/uidstate.mbox (UIDVALIDITY 1700000000,
# UIDs 3 5 9 12, next 13); each case damages a copy of its list. Repair
# must never change the UID of a message: the "uid base" pairs before and
# after are compared, also when repair renames a listed file.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

L=dovecot-uidlist
# "uid base" for every message file (base: the name before ':'), "- base"
# when the list has no line for it; sorted by base
pairs() {
	{ awk 'NR > 1 { n = substr($0, index($0, " :") + 2); sub(/:.*/, "", n); print "L " $1 " " n }' "$1/$L"
	  for f in "$1"/new/* "$1"/cur/*; do [ -f "$f" ] && echo "F ${f##*/}"; done | sed 's/:.*$//'; } |
	awk '$1 == "L" { u[$3] = $2; next } { print (($2 in u) ? u[$2] : "-") " " $2 }' | sort -k2
}
sum() { sha256sum <"$1/$L"; }
fresh() { rm -rf "$TMP/$1"; cp -a "$TMP/m" "$TMP/$1"; echo "$TMP/$1"; }

"$MAILSHIFT" convert -q "$DATA/uidstate.mbox" "$TMP/m"
expect_eq "convert" "$?" 0
orig=$(pairs "$TMP/m")
expect_eq "four messages with UIDs 3 5 9 12" "$(echo "$orig" | cut -d' ' -f1 | sort -n | tr '\n' ' ')" "3 5 9 12 "
hdr=$(head -1 "$TMP/m/$L")
b5=$(sed -n 's/^5 :\([^:]*\).*$/\1/p' "$TMP/m/$L")
b9=$(sed -n 's/^9 P[^ ]* :\([^:]*\).*$/\1/p' "$TMP/m/$L")
check "base names of UIDs 5 and 9" test -n "$b5" -a -n "$b9"

# --- a clean list --------------------------------------------------------------
expect_status "clean: check" 0 "$MAILSHIFT" check "$TMP/m"
expect_status "clean: check --deep" 0 "$MAILSHIFT" check --deep "$TMP/m"
expect_eq "clean: no output" "$(cat "$TMP/.out")" ""
expect_status "clean: repair --deep" 0 "$MAILSHIFT" repair --deep "$TMP/m"
expect_eq "clean: repair prints nothing" "$(cat "$TMP/.out")" ""

# --- N too low ---------------------------------------------------------------
A=$(fresh a)
sed -i '1s/ N13 / N9 /' "$A/$L"
expect_status "next: check" 1 "$MAILSHIFT" check "$A"
expect_eq "next: finding" "$(cat "$TMP/.out")" \
	"$A/$L: UIDLIST-NEXT-TOO-LOW: next UID 9 is not above the highest UID 12"
before=$(sum "$A")
expect_status "next: repair --dry-run" 0 "$MAILSHIFT" repair --dry-run "$A"
expect_eq "next: dry run says" "$(cat "$TMP/.out")" \
	"$A/$L: UIDLIST-NEXT-TOO-LOW: would raise N9 to N13 (highest UID 12)"
expect_eq "next: dry run changes nothing" "$(sum "$A")" "$before"
check "next: dry run leaves no lock" test ! -e "$A/$L.lock"
expect_status "next: repair" 0 "$MAILSHIFT" repair "$A"
expect_eq "next: action" "$(cat "$TMP/.out")" "$A/$L: UIDLIST-NEXT-TOO-LOW: raised N9 to N13 (highest UID 12)"
expect_eq "next: header as before the damage (G kept)" "$(head -1 "$A/$L")" "$hdr"
expect_eq "next: list as converted" "$(sum "$A")" "$(sum "$TMP/m")"
expect_eq "next: UIDs unchanged" "$(pairs "$A")" "$orig"
check "next: lock removed" test ! -e "$A/$L.lock"
expect_eq "next: nothing left in tmp/" "$(ls "$A/tmp")" ""
expect_status "next: check after repair" 0 "$MAILSHIFT" check --deep "$A"
expect_status "next: second repair" 0 "$MAILSHIFT" repair "$A"
expect_eq "next: second repair does nothing" "$(cat "$TMP/.out")" ""

# --- lines of files that are gone ------------------------------------------------
B=$(fresh b)
sed -i '/^12 /i 10 :1700000100.M1P1.gone:2,S' "$B/$L"
printf '13 W99 :1700000200.M2P2.gone2\n' >>"$B/$L"
sed -i '1s/ N13 / N14 /' "$B/$L"
expect_status "missing: check without --deep" 0 "$MAILSHIFT" check "$B"
# (notes: Dovecot keeps the lines of expunged messages until it rewrites the list)
expect_status "missing: check --deep" 0 "$MAILSHIFT" check --deep "$B"
expect_eq "missing: findings" "$(cat "$TMP/.out")" \
"$B/$L: UIDLIST-MISSING-FILE: UID 10: no file 1700000100.M1P1.gone in new/ or cur/
$B/$L: UIDLIST-MISSING-FILE: UID 13: no file 1700000200.M2P2.gone2 in new/ or cur/"
before=$(sum "$B")
expect_status "missing: repair without --deep" 0 "$MAILSHIFT" repair "$B"
expect_eq "missing: left without --deep" "$(sum "$B")" "$before"
expect_status "missing: repair --deep --dry-run" 0 "$MAILSHIFT" repair --deep -n "$B"
expect_eq "missing: dry run changes nothing" "$(sum "$B")" "$before"
expect_status "missing: repair --deep" 0 "$MAILSHIFT" repair --deep "$B"
expect_eq "missing: actions" "$(cat "$TMP/.out")" \
"$B/$L: UIDLIST-MISSING-FILE: dropped the line of UID 10 (1700000100.M1P1.gone): no such file
$B/$L: UIDLIST-MISSING-FILE: dropped the line of UID 13 (1700000200.M2P2.gone2): no such file"
expect_eq "missing: N stays above the dropped UID 13" "$(head -1 "$B/$L")" "$(echo "$hdr" | sed 's/ N13 / N14 /')"
expect_eq "missing: the other lines byte for byte" "$(sed 1d "$B/$L")" "$(sed 1d "$TMP/m/$L")"
expect_eq "missing: UIDs unchanged" "$(pairs "$B")" "$orig"
expect_status "missing: check --deep after" 0 "$MAILSHIFT" check --deep "$B"
expect_status "missing: second repair" 0 "$MAILSHIFT" repair --deep "$B"
expect_eq "missing: second repair does nothing" "$(cat "$TMP/.out")" ""

# --- a file without a line ------------------------------------------------------
C=$(fresh c)
printf 'Subject: late\n\nlate\n' >"$C/new/1800000000.M9P9.late"
expect_status "unlisted: check without --deep" 0 "$MAILSHIFT" check "$C"
# (a note: new mail has no line until Dovecot opens the mailbox)
expect_status "unlisted: check --deep" 0 "$MAILSHIFT" check --deep "$C"
expect_eq "unlisted: finding" "$(cat "$TMP/.out")" \
	"$C/new/1800000000.M9P9.late: UIDLIST-UNLISTED: no line in $L"
expect_status "unlisted: repair --deep" 0 "$MAILSHIFT" repair --deep "$C"
expect_eq "unlisted: action" "$(cat "$TMP/.out")" \
	"$C/$L: UIDLIST-UNLISTED: listed new/1800000000.M9P9.late as UID 13"
expect_eq "unlisted: N raised past it" "$(head -1 "$C/$L")" "$(echo "$hdr" | sed 's/ N13 / N14 /')"
expect_eq "unlisted: line appended" "$(tail -1 "$C/$L")" "13 :1800000000.M9P9.late"
expect_eq "unlisted: old UIDs unchanged" "$(pairs "$C" | grep -v ' 1800000000')" "$orig"
expect_status "unlisted: second repair" 0 "$MAILSHIFT" repair --deep "$C"
expect_eq "unlisted: second repair does nothing" "$(cat "$TMP/.out")" ""

# --- UIDs out of order: not fixed without a UIDVALIDITY change ---------------------
D=$(fresh d)
awk 'NR == 3 { held = $0; next } { print } NR == 4 { print held }' "$TMP/m/$L" >"$D/$L"
sed -i '1s/ N13 / N7 /' "$D/$L"
expect_status "order: check" 1 "$MAILSHIFT" check "$D"
expect_eq "order: findings" "$(cat "$TMP/.out")" \
"$D/$L: UIDLIST-NOT-INCREASING: line 4: UID 5 after UID 9
$D/$L: UIDLIST-NEXT-TOO-LOW: next UID 7 is not above the highest UID 12"
expect_status "order: repair exits 1" 1 "$MAILSHIFT" repair "$D"
expect_eq "order: left, N raised" "$(cat "$TMP/.out")" \
"$D/$L: UIDLIST-NOT-INCREASING: left as is: cannot fix without a UIDVALIDITY change (IMAP clients would download the mailbox again)
$D/$L: UIDLIST-NEXT-TOO-LOW: raised N7 to N13 (highest UID 12)"
expect_eq "order: lines kept in their order" "$(sed -n '2,$s/ .*//p' "$D/$L" | tr '\n' ' ')" "3 9 5 12 "
expect_eq "order: UIDVALIDITY kept" "$(head -1 "$D/$L")" "$hdr"
expect_eq "order: UIDs unchanged" "$(pairs "$D")" "$orig"
expect_status "order: second repair still exits 1" 1 "$MAILSHIFT" repair "$D"
expect_eq "order: second repair only reports" "$(cut -d: -f2 "$TMP/.out")" " UIDLIST-NOT-INCREASING"

# --- a list that does not parse ---------------------------------------------------
E=$(fresh e)
sed -i '1s/.*/1 1700000000 13/' "$E/$L"
before=$(sum "$E")
expect_status "version 1: check" 1 "$MAILSHIFT" check "$E"
expect_eq "version 1: finding" "$(cat "$TMP/.out")" \
	"$E/$L: UIDLIST-BAD: first line \"1 1700000000 13\" is not \"3 V<uidvalidity> N<next uid> ...\""
expect_status "version 1: repair exits 1" 1 "$MAILSHIFT" repair "$E"
expect_eq "version 1: left as is" "$(sum "$E")" "$before"
E2=$(fresh e2)
sed -i '2s/^3 /x3 /; 1s/ N13 / N2 /' "$E2/$L"
before=$(sum "$E2")
expect_status "bad line: check" 1 "$MAILSHIFT" check "$E2"
expect_eq "bad line: findings" "$(cat "$TMP/.out")" \
"$E2/$L: UIDLIST-BAD: 1 malformed line (first: line 2)
$E2/$L: UIDLIST-NEXT-TOO-LOW: next UID 2 is not above the highest UID 12"
expect_status "bad line: repair exits 1" 1 "$MAILSHIFT" repair "$E2"
expect_eq "bad line: nothing rewritten" "$(sum "$E2")" "$before"
E3=$(fresh e3)
: >"$E3/$L"
expect_status "empty list: check" 1 "$MAILSHIFT" check "$E3"
expect_eq "empty list: finding" "$(cat "$TMP/.out")" \
	"$E3/$L: UIDLIST-BAD: first line \"\" is not \"3 V<uidvalidity> N<next uid> ...\""

# --- --json (D after its repair: only the order is left) -----------------------
expect_status "json: check" 1 "$MAILSHIFT" check --json "$D"
expect_eq "json: objects" "$(sed "s|$D|D|" "$TMP/.out")" \
'{"path":"D/dovecot-uidlist","code":"UIDLIST-NOT-INCREASING","severity":"warning","message":"line 4: UID 5 after UID 9"}'

# --- repair renames a listed file: its line follows, same UID ---------------------
G=$(fresh g)
f5=$(cd "$G/cur" && ls | grep -F "$b5")
bad5=$(echo "$b5" | sed 's/,S=[0-9]*/,S=999/')
mv "$G/cur/$f5" "$G/cur/$bad5${f5#"$b5"}"
sed -i "s/:$b5/:$bad5/" "$G/$L"
expect_status "rename: check" 1 "$MAILSHIFT" check "$G"
expect_eq "rename: the size finding only" "$(grep -o ': [A-Z]*-[A-Z-]*: ' "$TMP/.out")" ": MAILDIR-SIZE-MISMATCH: "
before=$(sum "$G")
expect_status "rename: repair --dry-run" 0 "$MAILSHIFT" repair -n "$G"
expect_eq "rename: dry run says" "$(sed -n 2p "$TMP/.out")" \
	"$G/$L: UIDLIST-FOLLOW: would move UID 5 to the new name $f5"
expect_eq "rename: dry run changes nothing" "$(sum "$G")" "$before"
expect_status "rename: repair" 0 "$MAILSHIFT" repair "$G"
expect_eq "rename: actions" "$(grep -o ': [A-Z]*-[A-Z-]*: ' "$TMP/.out" | tr '\n' ' ')" \
	": MAILDIR-SIZE-MISMATCH:  : UIDLIST-FOLLOW:  "
expect_eq "rename: the line names the file again (with its info)" "$(sed -n 3p "$G/$L")" "5 :$f5"
expect_eq "rename: the other lines as converted" "$(sed 3d "$G/$L")" "$(sed 3d "$TMP/m/$L")"
expect_eq "rename: UIDs unchanged" "$(pairs "$G")" "$orig"
expect_status "rename: check --deep after" 0 "$MAILSHIFT" check --deep "$G"
expect_status "rename: second repair" 0 "$MAILSHIFT" repair --deep "$G"
expect_eq "rename: second repair does nothing" "$(cat "$TMP/.out")" ""

# --- a Maildir++ folder has its own list (-r) -------------------------------------
H=$(fresh h)
cp -a "$TMP/m" "$H/.Sub" && : >"$H/.Sub/maildirfolder"
sed -i '1s/ N13 / N12 /' "$H/.Sub/$L"
expect_status "folder: check without -r" 0 "$MAILSHIFT" check "$H"
expect_status "folder: check -r" 1 "$MAILSHIFT" check -r "$H"
expect_eq "folder: finding" "$(cat "$TMP/.out")" \
	"$H/.Sub/$L: UIDLIST-NEXT-TOO-LOW: next UID 12 is not above the highest UID 12"
expect_status "folder: repair -r" 0 "$MAILSHIFT" repair -r "$H"
expect_eq "folder: action" "$(cat "$TMP/.out")" \
	"$H/.Sub/$L: UIDLIST-NEXT-TOO-LOW: raised N12 to N13 (highest UID 12)"
expect_eq "folder: list as converted" "$(sum "$H/.Sub")" "$(sum "$TMP/m")"
expect_eq "folder: top list untouched" "$(sum "$H")" "$(sum "$TMP/m")"

# --- all at once, then a real Dovecot serves the repaired maildir ------------------
F=$(fresh f)
sed -i "1s/ N13 / N9 /; /^12 /i 10 :1700000100.M1P1.gone" "$F/$L"
printf 'Subject: late\n\nlate\n' >"$F/new/1800000000.M9P9.late"
expect_status "all: repair --deep" 0 "$MAILSHIFT" repair --deep "$F"
expect_eq "all: actions" "$(cut -d: -f2 "$TMP/.out" | tr '\n' ' ')" \
	" UIDLIST-NEXT-TOO-LOW  UIDLIST-MISSING-FILE  UIDLIST-UNLISTED "
expect_eq "all: list" "$(sed -n '2,$s/ .*//p' "$F/$L" | tr '\n' ' ')" "3 5 9 12 13 "
expect_eq "all: header" "$(head -1 "$F/$L")" "$(echo "$hdr" | sed 's/ N13 / N14 /')"
repaired=$(pairs "$F")
expect_eq "all: old UIDs unchanged" "$(echo "$repaired" | grep -v ' 1800000000')" "$orig"
expect_status "all: check --deep" 0 "$MAILSHIFT" check --deep "$F"

dl=${DOVECOT_LIBEXEC:-/usr/lib/dovecot}
if [ -x "$dl/imap" ] && [ -x "$dl/pop3" ]; then
	. "$T_SRCDIR/dovecot.sh"
	need_dovecot
	s=$(served_copy "$F" served)
	expect_eq "dovecot: UIDs" "$(dovecot_fetch "$s" | sed 's/ FLAGS.*//' | tr '\n' ' ')" \
		"UID 3 UID 5 UID 9 UID 12 UID 13 "
	expect_eq "dovecot: UIDVALIDITY and UIDNEXT" "$(dovecot_status "$s")" "UIDNEXT 14 UIDVALIDITY 1700000000"
	expect_eq "dovecot: same UID for every file" "$(pairs "$s")" "$repaired"
else
	echo "# Dovecot not installed: the served-UID assertions are skipped"
fi

done_testing
