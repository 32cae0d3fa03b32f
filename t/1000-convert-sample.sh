#!/bin/sh
# convert mbox -> Maildir on t/data/sample.mbox: for each of the 40 messages
# the subdirectory, info, S=, W= and mtime of t/data/README's table; the
# keywords file; the summary; a rerun that skips everything; --strip-status;
# --json; --dry-run.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

D=$TMP/Maildir
expect_status "convert sample" 0 "$MAILSHIFT" convert -q "$DATA/sample.mbox" "$D"
expect_eq "new/ count" "$(count_files "$D/new")" 15
expect_eq "cur/ count" "$(count_files "$D/cur")" 25
expect_eq "tmp/ empty" "$(count_files "$D/tmp")" 0
expect_eq "dovecot-keywords" "$(cat "$D/dovecot-keywords")" "0 work
1 todo
2 \$Forwarded"

# the table of t/data/README, message by message, in delivery order
grep -E '^ +[0-9]+ +[0-9]+ (cur|new) ' "$DATA/README" >"$TMP/table"
expect_eq "table rows" "$(wc -l <"$TMP/table" | tr -d ' ')" 40
maildir_files "$D" >"$TMP/files"
paste -d' ' "$TMP/table" "$TMP/files" >"$TMP/joined"
while read -r n off sub info s w mtime rest; do
	f=${rest##* }
	base=${f##*/}
	dir=${f%/*}; dir=${dir##*/}
	expect_eq "message $n subdir" "$dir" "$sub"
	case $base in
	*",S=$s,W=$w"*) pass ;;
	*) fail "message $n: name $base lacks ,S=$s,W=$w" ;;
	esac
	expect_eq "message $n size" "$(wc -c <"$f" | tr -d ' ')" "$s"
	if [ "$info" = "-" ]; then
		case $base in *:*) fail "message $n: info in new/: $base" ;; *) pass ;; esac
	else
		expect_eq "message $n info" ":${base##*:}" "$info"
	fi
	expect_eq "message $n mtime" "$(stat -c %Y "$f")" "$mtime"
done <"$TMP/joined"

# content: each file equals Python's reading of the message after mboxrd
# unquoting (message 11 holds the unquoted "From here" line, where Python
# splits: compare the others and the joined pair)
python3 "$ORACLE/pymbox.py" --unquote --crlf "$DATA/sample.mbox" >"$TMP/py"
expect_eq "python sees 41 (splits at 'From here on')" "$(wc -l <"$TMP/py" | tr -d ' ')" 41
maildir_digests "$D" >"$TMP/ours"
expect_eq "first 10 messages equal python's" "$(head -10 "$TMP/ours")" "$(head -10 "$TMP/py")"
expect_eq "messages 12-40 equal python's 13-41" "$(tail -29 "$TMP/ours")" "$(tail -29 "$TMP/py")"

# rerun: nothing new
"$MAILSHIFT" convert --json "$DATA/sample.mbox" "$D" >"$TMP/json" 2>"$TMP/err"
expect_eq "rerun exit" $? 0
check "rerun json skipped=40" grep -q '"messages":40,"delivered":0,"skipped":40' "$TMP/json"
expect_eq "rerun adds nothing" "$(count_files "$D/new" "$D/cur")" 40

# the summary line without -q
"$MAILSHIFT" convert "$DATA/sample.mbox" "$TMP/M2" 2>"$TMP/err"
check "summary names counts" grep -q "40 messages (mboxrd): 40 delivered, 0 already in" "$TMP/err"
check "warning names the offset of the unquoted From" \
	grep -q "sample.mbox:17524: unquoted From_ line inside message" "$TMP/err"

# --strip-status removes the mbox-only headers, keeps everything else
"$MAILSHIFT" convert -q --strip-status "$DATA/sample.mbox" "$TMP/M3"
expect_eq "strip-status: no Status headers left" \
	"$(cat "$TMP"/M3/new/* "$TMP"/M3/cur/* | grep -ciE '^(x-)?status:|^x-keywords:')" 0
expect_eq "strip-status: flags still in names" "$(ls "$TMP/M3/cur" | grep -c ':2,RSab$')" 1

# --dry-run creates nothing
"$MAILSHIFT" convert -q --dry-run "$DATA/sample.mbox" "$TMP/M4"
check "dry-run creates nothing" test ! -e "$TMP/M4"

# stdin
"$MAILSHIFT" convert -q - "$TMP/M5" <"$DATA/sample.mbox"
expect_eq "stdin: same digests" "$(maildir_digests "$TMP/M5")" "$(cat "$TMP/ours")"
done_testing
