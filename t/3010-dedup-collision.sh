#!/bin/sh
# mailshift dedup: a hash collision can never remove mail. MAILSHIFT_HASH_BITS
# (test hooks) truncates every key hash to N bits, so different messages land
# in one set; the byte-for-byte comparison must keep every one of them.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need python3
$MAILSHIFT dedup --help >/dev/null 2>&1 || exit 99

# without the hooks compiled in the variable does nothing: a broken set-up
need_hooks
cat "$DATA/sample.mbox" "$DATA/sample.mbox" >"$TMP/probe.mbox"
n=$(MAILSHIFT_HASH_BITS=1 $MAILSHIFT dedup --json "$TMP/probe.mbox" 2>/dev/null |
	sed -n 's/.*"collisions":\([0-9]*\).*/\1/p')
[ "${n:-0}" -gt 0 ] || { echo "ERROR: MAILSHIFT_HASH_BITS=1 made no collision" >&2; exit 99; }

# "<sha256>" of every message of an mbox, sorted (Python's mailbox: an
# independent reader), and of every file of a maildir
mbox_set() {
	python3 -c '
import hashlib, mailbox, sys
for h in sorted(hashlib.sha256(m.as_bytes()).hexdigest() for m in mailbox.mbox(sys.argv[1])):
    print(h)' "$1" | sort -u
}
dir_set() { for f in "$1"/cur/* "$1"/new/*; do [ -f "$f" ] && sha256sum <"$f"; done | cut -d' ' -f1 | sort -u; }

# an mbox holding every sample message twice
cat "$DATA/sample.mbox" "$DATA/sample.mbox" >"$TMP/twice.mbox"
want=$(mbox_set "$DATA/sample.mbox")
for bits in 1 4 8 16; do
	cp "$TMP/twice.mbox" "$TMP/c.mbox"
	MAILSHIFT_HASH_BITS=$bits $MAILSHIFT dedup -q --delete "$TMP/c.mbox" 2>"$TMP/err"
	expect_eq "mbox bits=$bits: exit" "$?" 0
	expect_eq "mbox bits=$bits: every distinct message still there" "$(mbox_set "$TMP/c.mbox")" "$want"
	# the members that differ are compared with each other too: every true
	# copy is still found, so the result is the sample itself
	check "mbox bits=$bits: result is the sample byte for byte" cmp -s "$TMP/c.mbox" "$DATA/sample.mbox"
done
# 1 bit: two hash sets of 40 messages each; 38 of the 40 distinct messages
# share a hash with an earlier different one (reported, kept), and all 40
# copies are found
cp "$TMP/twice.mbox" "$TMP/c.mbox"
MAILSHIFT_HASH_BITS=1 $MAILSHIFT dedup --json --delete "$TMP/c.mbox" >"$TMP/out" 2>"$TMP/err"
expect_eq "bits=1: deleted" "$(sed -n 's/.*"deleted":\([0-9]*\).*/\1/p' "$TMP/out")" 40
expect_eq "bits=1: collisions" "$(sed -n 's/.*"collisions":\([0-9]*\).*/\1/p' "$TMP/out")" 38
expect_eq "bits=1: one warning per colliding message" \
	"$(grep -c 'has the same hash as .* but differs: kept' "$TMP/err")" 38
# three different messages, one hash: nothing removed at all
printf 'From a Mon Jan  1 00:00:00 2024\nMessage-ID: <1@x>\n\none\n\nFrom a Mon Jan  1 00:00:00 2024\nMessage-ID: <2@x>\n\ntwo\n\nFrom a Mon Jan  1 00:00:00 2024\nMessage-ID: <3@x>\n\nthree\n\n' >"$TMP/three.mbox"
cp "$TMP/three.mbox" "$TMP/t.mbox"
MAILSHIFT_HASH_BITS=1 $MAILSHIFT dedup -q --delete "$TMP/t.mbox" 2>/dev/null
check "three different messages: mbox untouched" cmp -s "$TMP/t.mbox" "$TMP/three.mbox"
# full width: all 40 second copies go and the file is the sample again
cp "$TMP/twice.mbox" "$TMP/c.mbox"
$MAILSHIFT dedup -q --delete "$TMP/c.mbox"
check "no hook: result is the sample byte for byte" cmp -s "$TMP/c.mbox" "$DATA/sample.mbox"

# a Maildir with 40 messages and 40 copies; every key
$MAILSHIFT convert -q "$DATA/sample.mbox" "$TMP/md" 2>/dev/null
for f in "$TMP"/md/cur/* "$TMP"/md/new/*; do
	b=$(basename "$f")
	cp -p "$f" "$(dirname "$f")/9${b#?}"
done
want=$(dir_set "$TMP/md")
for key in default message-id body full headers; do
	for bits in 1 3; do
		rm -rf "$TMP/m2"
		cp -Rp "$TMP/md" "$TMP/m2"
		MAILSHIFT_HASH_BITS=$bits $MAILSHIFT dedup -q --delete --key=$key "$TMP/m2" 2>/dev/null
		expect_eq "maildir $key bits=$bits: every distinct message still there" \
			"$(dir_set "$TMP/m2")" "$want"
		expect_eq "maildir $key bits=$bits: one of each left" "$(count_files "$TMP/m2/cur" "$TMP/m2/new")" 40
	done
done
rm -rf "$TMP/m2"
cp -Rp "$TMP/md" "$TMP/m2"
$MAILSHIFT dedup -q --delete "$TMP/m2"
expect_eq "maildir, no hook: 40 left" "$(count_files "$TMP/m2/cur" "$TMP/m2/new")" 40

done_testing
