#!/bin/sh
# check on real data: every Maildir convert makes is clean; every Maildir of
# the corpus is clean once the empty directories git cannot keep are added,
# except for the real problems named here; as is, the corpus Maildirs show
# exactly the missing directories (SPEC §1.1 ▶, §5 M13).
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need_corpus

# --- Maildirs made by convert ----------------------------------------------
"$MAILSHIFT" convert -q "$DATA/sample.mbox" "$TMP/sample" || fail "convert sample.mbox"
expect_status "converted sample.mbox checks clean" 0 "$MAILSHIFT" check -r --deep "$TMP/sample"
expect_eq "no findings" "$(cat "$TMP/.out")" ""
expect_eq "summary" "$(cat "$TMP/.err")" "mailshift check: 1 mailbox, 40 messages, 0 findings"
for m in gnu-mailutils/spool/teaparty.mbox mail-mbox-messageparser/mailboxes/mailarc-1.txt \
	email-folder/mboxes/testmbox.dos mail-mbox-messageparser/mailboxes/malformed.txt; do
	d=$TMP/conv-$(basename "$m")
	"$MAILSHIFT" convert -q "$CORPUS/$m" "$d" || fail "convert $m"
	expect_status "converted $m checks clean" 0 "$MAILSHIFT" check -q -r --deep "$d"
done

# --- corpus Maildirs, as is: exactly the directories git lost --------------
# (INDEX.tsv features missing-tmp/ and missing-new/), plus the one real
# problem of that data: notmuch's "NN:2," names in new/ (info in new/).
: >"$TMP/want.asis"
awk -F'\t' '$2 == "maildir" { print $1 "\t" $6 }' "$CORPUS/INDEX.tsv" >"$TMP/maildirs"
expect_eq "corpus Maildirs" "$(wc -l <"$TMP/maildirs" | tr -d ' ')" 13
while IFS='	' read -r p feat; do
	case $feat in *missing-new/*) echo "$CORPUS/$p/new: MAILDIR-MISSING-SUBDIR" ;; esac
	case $feat in *missing-tmp/*) echo "$CORPUS/$p/tmp: MAILDIR-MISSING-SUBDIR" ;; esac
	for f in "$CORPUS/$p"/new/*:2,*; do
		[ -f "$f" ] && echo "$f: MAILDIR-INFO-IN-NEW"
	done
done <"$TMP/maildirs" | LC_ALL=C sort >"$TMP/want.asis"
set --
while IFS='	' read -r p feat; do set -- "$@" "$CORPUS/$p"; done <"$TMP/maildirs"
"$MAILSHIFT" check -q "$@" >"$TMP/asis"
expect_eq "as is: exit 1 (findings)" "$?" 1
sed 's/^\(.*\): \([A-Z-]*\): .*$/\1: \2/' "$TMP/asis" | LC_ALL=C sort >"$TMP/got.asis"
check "as is: exactly the missing directories and info in new/" cmp -s "$TMP/want.asis" "$TMP/got.asis" ||
	diff "$TMP/want.asis" "$TMP/got.asis" >&2
expect_eq "as is: missing directories" "$(grep -c MISSING-SUBDIR "$TMP/asis")" 13
expect_eq "as is: info in new/" "$(grep -c INFO-IN-NEW "$TMP/asis")" 10

# --- corpus Maildirs on a copy with tmp/ and new/ added: clean --------------
n=0
while IFS='	' read -r p feat; do
	n=$((n + 1))
	c=$TMP/copy$n
	cp -R "$CORPUS/$p" "$c" && chmod -R u+w "$c" && mkdir -p "$c/tmp" "$c/new" || fail "copy $p"
	"$MAILSHIFT" check -q --deep "$c" >"$TMP/copy.out"
	st=$?
	want=$(ls "$c/new" | grep -c ':2,')
	if [ "$want" -gt 0 ]; then
		expect_eq "$p: only info in new/" "$(grep -vc MAILDIR-INFO-IN-NEW "$TMP/copy.out")" 0
		expect_eq "$p: info in new/ count" "$(grep -c MAILDIR-INFO-IN-NEW "$TMP/copy.out")" "$want"
		expect_status "$p: repair" 0 "$MAILSHIFT" repair -q "$c"
		expect_status "$p: clean after repair" 0 "$MAILSHIFT" check -q --deep "$c"
	else
		expect_eq "$p: clean (exit)" "$st" 0
		expect_eq "$p: clean (output)" "$(cat "$TMP/copy.out")" ""
	fi
done <"$TMP/maildirs"
done_testing
