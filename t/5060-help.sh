#!/bin/sh
# t/5060-help.sh: help that reads well. For every command: -h, --help and
# `mailshift help COMMAND` print the same text, which starts
# "Usage: mailshift COMMAND", lists each option with its value name
# (--sync=MODE) and the choices of that value in its description, starts
# every description in column 30 and wraps within 79 columns, never inside
# parentheses. An unknown option is one line pointing at --help; the
# read-only commands (check, stats) have no --dry-run; stats of a missing
# path prints no empty report; counts of one are singular. The manual
# pages render within 80 columns in mandoc, groff and man.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

BASHC=$T_SRCDIR/../completion/mailshift.bash
MAN=$T_SRCDIR/../man

for cmd in check convert dedup repair stats; do
	"$MAILSHIFT" "$cmd" --help >"$TMP/$cmd.long" 2>&1
	expect_eq "$cmd --help: exit" "$?" 0
	expect_status "$cmd -h: exit" 0 "$MAILSHIFT" "$cmd" -h
	check "$cmd -h: the same text" cmp -s "$TMP/.out" "$TMP/$cmd.long"
	expect_status "help $cmd: exit" 0 "$MAILSHIFT" help "$cmd"
	check "help $cmd: the same text" cmp -s "$TMP/.out" "$TMP/$cmd.long"
	expect_eq "$cmd: the usage line" "$(head -n 1 "$TMP/$cmd.long" | cut -d' ' -f1-3)" \
		"Usage: mailshift $cmd"
	expect_eq "$cmd: names its page" "$(tail -n 1 "$TMP/$cmd.long")" "See mailshift-$cmd(1)."
	# layout: option lines "  -x, --name[=VALUE]  text" or "      --name...";
	# text from column 30 (29 columns before it), on the option's line or
	# the next; no line wider than 79 columns; parentheses closed on the
	# line that opens them
	awk -v cmd="$cmd" '
		function cont(l) { return substr(l, 1, 29) == sprintf("%29s", "") && substr(l, 30, 1) != " " }
		function opt(l) { return l ~ /^  (-[a-zA-Z], |    )--[a-z]/ }
		function parens(l, s) {
			s = substr(l, 30)
			if (gsub(/\(/, "(", s) != gsub(/\)/, ")", s)) print cmd ": a parenthesis wraps: " l
		}
		length($0) > 79 { print cmd ": wider than 79: " $0 }
		want_next && !cont($0) { print cmd ": no text for " prev }
		opt($0) {
			n = index($0, "--"); rest = substr($0, n); sp = index(rest, " ")
			prev = $0
			if (sp == 0) { want_next = 1; next }
			want_next = 0
			col = n + sp - 2 + match(substr(rest, sp), /[^ ]/)
			if (col != 30) print cmd ": text in column " col ": " $0
			parens($0)
			next
		}
		cont($0) { want_next = 0; parens($0) }
	' "$TMP/$cmd.long" >"$TMP/layout"
	expect_eq "$cmd --help: layout" "$(cat "$TMP/layout")" ""
	# each option that takes a value names it in capitals, and its choices
	# (the words the bash completion offers) are in the text
	for o in $(sed -n 's/^ \{2,6\}\(-[a-zA-Z], \)\{0,1\}\(--[a-z-]*\)=.*/\2/p' "$TMP/$cmd.long"); do
		vname=$(sed -n "s/^.*$o=\([^ ]*\) .*/\1/p; s/^.*$o=\([^ ]*\)$/\1/p" "$TMP/$cmd.long" | head -n 1)
		check "$cmd $o=$vname: a value name in capitals" sh -c "printf '%s' '$vname' | grep -q -x '[A-Z][][A-Z:]*'"
		words=$(bash -c '. "$1"; cur=""; _mailshift_value "$2" && echo "${COMPREPLY[*]}"' sh "$BASHC" "$o")
		case $o in --owner|--move-to|--quarantine) words='' ;; esac
		text=$(awk -v o="$o" '
			index($0, o "=") { on = 1; print substr($0, 30); next }
			on && substr($0, 1, 29) == sprintf("%29s", "") && substr($0, 30, 1) != " " { print substr($0, 30); next }
			{ on = 0 }' "$TMP/$cmd.long" | tr '\n' ' ')
		for w in $words; do
			case " $text " in
			*" $w,"*|*" $w "*|*" $w)"*) pass ;;
			*) fail "$cmd $o: the choice $w is not in the text: $text" ;;
			esac
		done
	done
done

# mailshift help; mailshift --help names it
expect_status "mailshift help" 0 "$MAILSHIFT" help
check "mailshift --help names mailshift help COMMAND" grep -q "mailshift help COMMAND" "$TMP/.out"
expect_status "help of an unknown command" 64 "$MAILSHIFT" help frobnicate
expect_eq "help of an unknown command: one line" "$(cat "$TMP/.err")" \
	"mailshift: help: unknown command 'frobnicate' (see mailshift --help)"

# an unknown option: one line, pointing at --help
expect_status "unknown option" 64 "$MAILSHIFT" convert --frobnicate a b
expect_eq "unknown option: one line" "$(cat "$TMP/.err")" \
	"mailshift convert: --frobnicate: unknown option (see mailshift convert --help)"
expect_status "unknown command" 64 "$MAILSHIFT" frobnicate
expect_eq "unknown command: one line" "$(cat "$TMP/.err")" \
	"mailshift: unknown command 'frobnicate' (see mailshift --help)"

# only the commands that change something offer a dry run
for cmd in check stats; do
	check "$cmd --help: no --dry-run" sh -c "! grep -q -- '--dry-run' '$TMP/$cmd.long'"
	expect_status "$cmd --dry-run: an unknown option" 64 "$MAILSHIFT" "$cmd" --dry-run "$DATA/sample.mbox"
	expect_status "$cmd -n: an unknown option" 64 "$MAILSHIFT" "$cmd" -n "$DATA/sample.mbox"
done
for cmd in convert dedup repair; do
	check "$cmd --help: --dry-run" grep -q -- '-n, --dry-run' "$TMP/$cmd.long"
done

# stats of a missing path: the error line, no empty report
for fmt in '' --json --csv; do
	expect_status "stats $fmt of a missing path: exit 66" 66 "$MAILSHIFT" stats $fmt "$TMP/nonexistent"
	expect_eq "stats $fmt of a missing path: no report" "$(cat "$TMP/.out")" ""
	expect_eq "stats $fmt of a missing path: one line" "$(cat "$TMP/.err")" \
		"mailshift stats: error: cannot open $TMP/nonexistent: No such file or directory"
done
expect_status "stats of a missing path and a mailbox: exit 66" 66 "$MAILSHIFT" stats -q "$TMP/nonexistent" "$DATA/sample.mbox"
check "stats of a missing path and a mailbox: the mailbox's report" grep -q '^total\|sample.mbox  *40 ' "$TMP/.out"

# one message, one mailbox, one set: singular
printf 'From a@example.org Mon Jan  1 00:00:00 2001\nSubject: one\n\nbody\n' >"$TMP/one.mbox"
expect_status "convert one message" 0 "$MAILSHIFT" convert "$TMP/one.mbox" "$TMP/One"
expect_eq "convert: 1 message" "$(cat "$TMP/.err")" \
	"mailshift convert: $TMP/one.mbox: 1 message (mboxrd): 1 delivered, 0 already in $TMP/One"
expect_status "check one message" 0 "$MAILSHIFT" check "$TMP/One"
expect_eq "check: 1 mailbox, 1 message" "$(cat "$TMP/.err")" "mailshift check: 1 mailbox, 1 message, 0 findings"
cp "$TMP/One/new/"* "$TMP/One/cur/1700000000.M1P1.copy:2,S"
expect_status "dedup one copy" 0 "$MAILSHIFT" dedup "$TMP/One"
expect_eq "dedup: 1 duplicate in 1 set" "$(tail -n 1 "$TMP/.out" | sed 's/, [0-9]* bytes$//')" \
	"2 messages in 1 mailbox: 1 duplicate in 1 set"
: >"$TMP/One/new/empty"
expect_status "check one finding" 1 "$MAILSHIFT" check "$TMP/One"
expect_eq "check: 1 finding, 1 warning" "$(sed 's/.*messages, //' "$TMP/.err")" "1 finding (1 warning)"

# the manual pages within 80 columns (tabs expanded, UTF-8 counted as one)
widest() { LC_ALL=C.UTF-8 col -bx | LC_ALL=C.UTF-8 wc -L | tr -d ' '; }
for p in "$MAN"/*.[1-9]; do
	if command -v mandoc >/dev/null 2>&1; then
		w=$(mandoc -Tutf8 "$p" | widest)
		check "mandoc ${p##*/}: $w columns" test "$w" -le 80
	fi
	if command -v groff >/dev/null 2>&1; then
		w=$(groff -mdoc -Tutf8 -rLL=78n -P-c "$p" 2>/dev/null | widest)
		check "groff ${p##*/}: $w columns" test "$w" -le 80
	fi
	if command -v man >/dev/null 2>&1; then
		w=$(MANWIDTH=80 man -l "$p" 2>/dev/null | widest)
		check "man ${p##*/} (MANWIDTH=80): $w columns" test "$w" -le 80
	fi
done

done_testing
