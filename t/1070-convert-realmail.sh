#!/bin/sh
# t/1070-convert-realmail.sh: a differential oracle on generated realistic
# mail. t/gen/realmail.py writes one mbox per writer style (mutt, UW-IMAP
# with its pseudo message, Dovecot, Thunderbird, Gmail Takeout, qmail,
# procmail, mboxcl2, and a mix of CRLF, NUL bytes, 8-bit headers and no
# final newline) with a record of every message it wrote, its flags,
# keywords, UID and envelope time. Each mbox is converted from the file and
# as gzip data on stdin (a stream: no pre-scan, no pread); the Maildir must
# match the record message by message (t/oracle/realmail-check.py), and
# Python's mailbox module where Python splits right.
#
# Conversions use --sync=none: durability has tests of its own.
# REALMAIL_SEEDS and REALMAIL_COUNT (messages per style) set the size; the
# long tier (t/1075) runs a larger sweep.
. "$(dirname "$0")/lib.sh"
need python3
need gzip
SEEDS=${REALMAIL_SEEDS:-1}
COUNT=${REALMAIL_COUNT:-300}

# The mbox metadata headers (SPEC §2.10: Status, X-Status, X-Keywords,
# X-UID, X-IMAP, X-IMAPbase, Content-Length) are consumed, not copied: the
# Maildir files must be the "stripped" form of the record. REALMAIL_HEADERS=kept
# checks --keep-mbox-headers against the "kept" form.
HEADERS=${REALMAIL_HEADERS:-stripped}
KEEP_OPT=
[ "$HEADERS" = kept ] && KEEP_OPT=--keep-mbox-headers

total=0
for seed in $SEEDS; do
	dir=$TMP/seed$seed
	python3 "$T_SRCDIR/gen/realmail.py" "$dir" "$seed" "$COUNT" || { fail "generator, seed $seed"; continue; }
	for style in $(python3 "$T_SRCDIR/gen/realmail.py" --styles); do
		n=$(head -1 "$dir/$style.record" | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
		# Thunderbird's expunged messages are delivered (with T) only on request
		opt=$KEEP_OPT
		[ "$style" = thunderbird ] && opt="$opt --keep-expunged"
		for path in file stdin-gzip; do
			md=$dir/$style.$path.md
			case $path in
			file) "$MAILSHIFT" convert -q --sync=none $opt "$dir/$style.mbox" "$md" 2>"$TMP/err" ;;
			stdin-gzip) gzip -1 -c "$dir/$style.mbox" | "$MAILSHIFT" convert -q --sync=none $opt - "$md" 2>"$TMP/err" ;;
			esac
			rc=$?
			expect_eq "$style seed $seed $path: exit status" "$rc" 0
			[ "$rc" = 0 ] || sed 's/^/    stderr: /' "$TMP/err" | head -3 >&2
			if out=$(python3 "$ORACLE/realmail-check.py" --headers=$HEADERS \
			    "$style seed $seed $path" "$dir/$style.mbox" "$dir/$style.record" "$md"); then
				pass
			else
				fail "$style seed $seed $path:"
				echo "$out" | sed 's/^/    /' >&2
			fi
			rm -rf "$md"
		done
		total=$((total + n))
	done
	rm -rf "$dir"
done
echo "# $total messages checked (seeds: $SEEDS), each from the file and from stdin"
check "thousands of messages ($total)" [ "$total" -ge $((COUNT * 9)) ]
done_testing
