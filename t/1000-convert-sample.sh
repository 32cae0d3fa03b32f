#!/bin/sh
# convert mbox -> Maildir on t/data/sample.mbox: for each of the 40 messages
# the subdirectory, info, S=, W= and mtime of t/data/README's table; the
# keywords file; the summary; a rerun that skips everything; the metadata headers consumed
# (default), kept (--keep-mbox-headers), --strip-status deprecated;
# --json; --dry-run.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

D=$TMP/Maildir
# sizes as t/data/README lists them: the mbox bytes, metadata headers kept
expect_status "convert sample" 0 "$MAILSHIFT" convert -q --keep-mbox-headers "$DATA/sample.mbox" "$D"
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

# by default the seven mbox metadata headers are consumed, not copied
# (SPEC §2.10 ▶): none in a Maildir file, every other byte kept; the flags
# are in the names and S= is the size written
"$MAILSHIFT" convert -q "$DATA/sample.mbox" "$TMP/M3"
expect_eq "default: no metadata header left" \
	"$(cat "$TMP"/M3/new/* "$TMP"/M3/cur/* | grep -ciE '^((x-)?status|x-keywords|x-uid|x-imap(base)?|content-length):')" 0
expect_eq "default: kept: $(grep -ciE '^((x-)?status|x-keywords|x-uid|x-imap(base)?|content-length):' "$DATA/sample.mbox") in the mbox" \
	"$(cat "$D"/new/* "$D"/cur/* | grep -ciE '^((x-)?status|x-keywords|x-uid|x-imap(base)?|content-length):')" \
	"$(grep -ciE '^((x-)?status|x-keywords|x-uid|x-imap(base)?|content-length):' "$DATA/sample.mbox")"
expect_eq "default: flags still in names" "$(ls "$TMP/M3/cur" | grep -c ':2,RSab$')" 1
bad=0
for f in "$TMP"/M3/new/* "$TMP"/M3/cur/*; do
	s=${f##*,S=}; s=${s%%,*}
	[ "$s" = "$(wc -c <"$f" | tr -d ' ')" ] || bad=$((bad + 1))
done
expect_eq "default: S= is the size written" "$bad" 0
# every other byte: the kept form without the metadata lines equals the file
for f in "$D"/new/* "$D"/cur/*; do
	k=${f##*X}; k=${k%%.*}
	g=$(ls "$TMP"/M3/new/*"X$k."* "$TMP"/M3/cur/*"X$k."* 2>/dev/null)
	python3 - "$f" "$g" <<'PY' || bad=$((bad + 1))
import sys
a = open(sys.argv[1], 'rb').read(); b = open(sys.argv[2], 'rb').read()
i = a.find(b'\n\n'); i = len(a) if i < 0 else i + 1
out, skip = [], False
for line in a[:i].splitlines(True):
    if line[:1] in (b' ', b'\t'):
        if not skip: out.append(line)
        continue
    skip = line.split(b':', 1)[0].strip().lower() in (b'status', b'x-status', b'x-keywords',
        b'x-uid', b'x-imap', b'x-imapbase', b'content-length') and b':' in line
    if not skip: out.append(line)
sys.exit(0 if b''.join(out) + a[i:] == b else 1)
PY
done
expect_eq "default: every other byte kept" "$bad" 0
# --strip-status: the old spelling, deprecated, does what the default does
"$MAILSHIFT" convert -q --strip-status "$DATA/sample.mbox" "$TMP/M6" 2>"$TMP/err"
expect_eq "strip-status: exit" "$?" 0
expect_eq "strip-status: says it is deprecated" "$(cat "$TMP/err")" \
	"mailshift convert: warning: --strip-status is deprecated and does nothing: the mbox metadata headers are left out of the Maildir files by default now (Lines: is kept); --keep-mbox-headers keeps them"
expect_eq "strip-status: the default's files" "$(maildir_digests "$TMP/M6")" "$(maildir_digests "$TMP/M3")"
expect_status "strip-status with keep-mbox-headers" 64 "$MAILSHIFT" convert -q --strip-status --keep-mbox-headers "$DATA/sample.mbox" "$TMP/M7"

# --dry-run creates nothing
"$MAILSHIFT" convert -q --dry-run "$DATA/sample.mbox" "$TMP/M4"
check "dry-run creates nothing" test ! -e "$TMP/M4"

# stdin
"$MAILSHIFT" convert -q --keep-mbox-headers - "$TMP/M5" <"$DATA/sample.mbox"
expect_eq "stdin: same digests" "$(maildir_digests "$TMP/M5")" "$(cat "$TMP/ours")"
done_testing
