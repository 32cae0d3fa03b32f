#!/bin/sh
# Every mbox of t/corpus (INDEX.tsv): the message count equals the
# SPEC count of the index, and where Python's mailbox agrees on the count,
# every Maildir file equals Python's message after mboxrd unquoting, byte
# for byte (t/oracle/pymbox.py). Where they disagree it is for the reasons
# SPEC §2.5 step 5 names, asserted here file by file:
#   mboxcl2, mboxcl2.lies   3 vs Python 4: Python splits at the body line
#                           "From perl5-porters:" (not a valid From_ line;
#                           in mboxcl2 also inside a valid Content-Length)
#   separators2.sep         2 vs 3: a body "From " line that is not a From_ line
#   testmbox.mac            refused (CR-only line ends, exit 65) vs 1
#   input.msg               refused (a bare message, exit 65) vs 0
# and one byte-level difference:
#   separators1.sep         the last message's Content-Length (738) ends at
#                           the end of the file and counts the final LF, so
#                           that LF is message text (SPEC §2.4); Python,
#                           blind to Content-Length, drops it as a separator
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need_corpus
need python3

tab=$(printf '\t')
awk -F"$tab" 'NR > 1 && $2 ~ /^mbox/ { print $1 "\t" $2 "\t" $3 "\t" $4 }' "$CORPUS/INDEX.tsv" >"$TMP/list"
check "index lists mboxes" test "$(wc -l <"$TMP/list")" -ge 50
# 1. convert each; where Python's count agrees, the oracle's job and the
# list of our files in delivery order (the hashing is done in one Python
# run for all of them, the oracle in another)
i=0
: >"$TMP/jobs"
: >"$TMP/ours.jobs"
while IFS="$tab" read -r path kind want py; do
	i=$((i + 1))
	src="$CORPUS/$path"
	D="$TMP/m$i"
	"$MAILSHIFT" convert -q --json --keep-mbox-headers "$src" "$D" >"$TMP/json" 2>"$TMP/err"
	st=$?
	case $path in
	*/testmbox.mac|*/input.msg)
		expect_eq "$path: refused" "$st" 65
		check "$path: names the file" grep -q "$path" "$TMP/err"
		check "$path: nothing delivered" test "$(count_files "$D/new" "$D/cur")" -eq 0
		continue ;;
	esac
	expect_eq "$path: exit" "$st" 0
	got=$(count_files "$D/new" "$D/cur")
	[ "$want" = "?" ] && want=5     # mailarc-2.txt.lz: same bytes as mailarc-2.txt
	expect_eq "$path: count" "$got" "$want"
	expect_eq "$path: tmp/ empty" "$(count_files "$D/tmp")" 0
	variant=$(sed -n 's/.*"variant":"\([a-z0-9]*\)".*/\1/p' "$TMP/json")
	case $path in
	*/mboxcl2) expect_eq "$path: detected variant" "$variant" mboxcl2 ;;
	*/mboxcl2.lies) expect_eq "$path: lying Content-Length is not mboxcl2" "$variant" mboxrd ;;
	esac
	# byte-for-byte against Python where the counts agree
	case $kind in mbox|mbox.gz|mbox.bz2|mbox.xz) ;; *) continue ;; esac
	[ "$py" = "$want" ] || continue
	[ "$want" -gt 0 ] || continue
	opts="--crlf"
	[ "$variant" = mboxcl2 ] || opts="$opts --unquote"
	printf '%s\t%s\t%s\n' "$opts" "$src" "$TMP/py.$i" >>"$TMP/jobs"
	maildir_files "$D" >"$TMP/files.$i"
	printf '%s\t%s\n' "$TMP/files.$i" "$TMP/ours.$i" >>"$TMP/ours.jobs"
	echo "$i $path" >>"$TMP/compared"
done <"$TMP/list"
# 2. the oracle; our messages as "<sha256> <length>", as it prints them
python3 "$ORACLE/pymbox.py" --batch "$TMP/jobs" || fail "pymbox.py --batch: exit $?"
python3 "$ORACLE/hash-lists.py" "$TMP/ours.jobs" ||
	fail "hashing our messages: exit $?"
# 3. the verdicts
while read -r i path; do
	case $path in */separators1.sep)
		last=$(tail -n 1 "$TMP/files.$i")
		expect_eq "$path: last message = Python's + the LF its Content-Length counts" \
			"$(head -c -1 "$last" | sha256sum | cut -d' ' -f1) $(($(wc -c <"$last") - 1))" \
			"$(tail -1 "$TMP/py.$i")"
		expect_eq "$path: last byte" "$(tail -c 2 "$last" | od -An -c | tr -d ' ')" '\n\n'
		sed -i '$d' "$TMP/py.$i"; sed -i '$d' "$TMP/ours.$i" ;;
	esac
	if cmp -s "$TMP/py.$i" "$TMP/ours.$i"; then pass; else
		fail "$path: messages differ from Python's"
		diff "$TMP/py.$i" "$TMP/ours.$i" | head -5 >&2
	fi
done <"$TMP/compared"

# the documented disagreements with Python, exactly
for f in email-folder/mboxes/mboxcl2 email-folder/mboxes/mboxcl2.lies; do
	expect_eq "$f: Python splits into 4" "$(python3 "$ORACLE/pymbox.py" --count "$CORPUS/$f")" 4
done
expect_eq "separators2.sep: Python 3" \
	"$(python3 "$ORACLE/pymbox.py" --count "$CORPUS/mail-mbox-messageparser/mailboxes/separators2.sep")" 3
done_testing
