#!/bin/sh
# Bad input and failing output (DESIGN §1.5, §4; SPEC §5 X6, X7, X14, X15):
# one clear line naming the file, the documented exit status, nothing
# half-written in new/ or cur/; ENOSPC on a real small tmpfs exits 74 and a
# rerun after space is freed completes the job exactly.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

D=$TMP/M
refused() {  # DESCRIPTION STATUS PATTERN SOURCE
	expect_status "$1" "$2" "$MAILSHIFT" convert "$4" "$D"
	check "$1: one line naming the input" grep -q "$3" "$TMP/.err"
	expect_eq "$1: one line" "$(wc -l <"$TMP/.err" | tr -d ' ')" 1
	expect_eq "$1: nothing delivered" "$(count_files "$D/new" "$D/cur")" 0
}
printf '%%PDF-1.4\n%%\342\343\317\323\n1 0 obj\n<< /Type /Catalog >>\nendobj\n' >"$TMP/doc.pdf"
refused "PDF" 65 "doc.pdf: not a mailbox (PDF document" "$TMP/doc.pdf"
printf '\211PNG\r\n\032\n\000\000\000\rIHDR\000\000\000\001' >"$TMP/img.png"
refused "PNG" 65 "img.png: not a mailbox (PNG image" "$TMP/img.png"
head -c 65536 /dev/urandom >"$TMP/random"
refused "random bytes" 65 "random: not a mailbox" "$TMP/random"
refused "/dev/zero" 65 "/dev/zero: not a mailbox" /dev/zero
printf 'Subject: hi\n\nbody\n' >"$TMP/msg"
refused "a bare message" 65 "msg: not a mailbox (a single message" "$TMP/msg"
printf 'From a Mon Mar  3 09:15:02 2025\rSubject: x\r\rbody\r' >"$TMP/mac"
refused "CR-only line ends" 65 "mac: not a usable mbox: no LF line terminators" "$TMP/mac"
printf '\001\001\001\001\nSubject: x\n\nbody\n\001\001\001\001\n' >"$TMP/mmdf"
refused "MMDF" 65 "mmdf: MMDF mailboxes are not supported" "$TMP/mmdf"
mkdir "$TMP/plaindir"
refused "a directory that is not a Maildir" 65 "plaindir: a directory but not a" "$TMP/plaindir"
printf 'garbage first\nFrom a Mon Mar  3 09:15:02 2025\nS: x\n\nb\n' >"$TMP/lead"
refused "leading garbage (X7)" 65 "lead: not a mailbox" "$TMP/lead"
refused "missing source" 66 "cannot open $TMP/nonexistent" "$TMP/nonexistent"
if [ "$(id -u)" != 0 ]; then
	cp "$DATA/sample.mbox" "$TMP/unreadable"; chmod 000 "$TMP/unreadable"
	refused "unreadable source" 66 "unreadable" "$TMP/unreadable"
fi

# empty inputs are empty mailboxes, exit 0 (X6)
: >"$TMP/empty"
expect_status "zero-length mbox" 0 "$MAILSHIFT" convert "$TMP/empty" "$TMP/E"
printf '\n\n\n' >"$TMP/blank"
expect_status "only empty lines" 0 "$MAILSHIFT" convert "$TMP/blank" "$TMP/E"
check "only empty lines: reported" grep -q "blank: holds only empty lines" "$TMP/.err"

# a bad source among good ones: the others are converted, the worst status wins
expect_status "bad among good" 65 "$MAILSHIFT" convert -q "$DATA/sample.mbox" "$TMP/doc.pdf" "$TMP/blank" "$TMP/G"
expect_eq "bad among good: the good one converted" "$(count_files "$TMP/G/new" "$TMP/G/cur")" 40

# usage errors: 64
expect_status "no arguments" 64 "$MAILSHIFT" convert
expect_status "one argument" 64 "$MAILSHIFT" convert "$DATA/sample.mbox"
expect_status "unknown option" 64 "$MAILSHIFT" convert --frobnicate "$DATA/sample.mbox" "$D"
expect_status "bad --sync" 64 "$MAILSHIFT" convert --sync=sometimes "$DATA/sample.mbox" "$D"
expect_status "bad --mbox-format" 64 "$MAILSHIFT" convert --mbox-format=mmdf "$DATA/sample.mbox" "$D"
expect_status "unknown command" 64 "$MAILSHIFT" frobnicate
expect_status "--help" 0 "$MAILSHIFT" convert --help
check "--help lists --strip-status" grep -q -- "--strip-status" "$TMP/.out"

# cannot create the destination: 73
expect_status "destination under a file" 73 "$MAILSHIFT" convert "$DATA/sample.mbox" "$DATA/sample.mbox/x"
expect_status "destination parent missing: created" 0 "$MAILSHIFT" convert -q "$DATA/sample.mbox" "$TMP/no/such/dir"
check "destination parent missing: a Maildir there" test -d "$TMP/no/such/dir/cur"

if [ "$(id -u)" = 0 ] && mkdir "$TMP/ro" && mount -t tmpfs -o size=1m,ro tmpfs "$TMP/ro" 2>/dev/null; then
	expect_status "read-only file system" 73 "$MAILSHIFT" convert "$DATA/sample.mbox" "$TMP/ro/M"
	check "read-only: says so" grep -q "Read-only file system" "$TMP/.err"
	umount "$TMP/ro"
fi

# ENOSPC on a small tmpfs: 74, nothing partial; rerun after freeing space
if [ "$(id -u)" = 0 ] && mkdir "$TMP/small" && mount -t tmpfs -o size=256k tmpfs "$TMP/small" 2>/dev/null; then
	python3 "$T_SRCDIR/gen-mbox.py" 400 5 4000 >"$TMP/in.mbox"
	"$MAILSHIFT" convert -q "$TMP/in.mbox" "$TMP/clean"
	maildir_digests "$TMP/clean" | sort >"$TMP/clean.sums"
	expect_status "ENOSPC" 74 "$MAILSHIFT" convert -q "$TMP/in.mbox" "$TMP/small/M"
	check "ENOSPC: names the error" grep -q "No space left on device" "$TMP/.err"
	maildir_digests "$TMP/small/M" | sort -u >"$TMP/part.sums"
	expect_eq "ENOSPC: only complete messages" "$(comm -23 "$TMP/part.sums" "$TMP/clean.sums" | wc -l | tr -d ' ')" 0
	expect_eq "ENOSPC: tmp/ empty" "$(count_files "$TMP/small/M/tmp")" 0
	part=$(count_files "$TMP/small/M/new" "$TMP/small/M/cur")
	check "ENOSPC: some delivered before the disk filled ($part)" test "$part" -gt 0 -a "$part" -lt 400
	mount -o remount,size=16m "$TMP/small"
	expect_status "rerun after freeing space" 0 "$MAILSHIFT" convert -q "$TMP/in.mbox" "$TMP/small/M"
	maildir_digests "$TMP/small/M" | sort >"$TMP/got.sums"
	check "rerun: exactly the clean result" cmp -s "$TMP/got.sums" "$TMP/clean.sums"
	umount "$TMP/small"
else
	echo "note: not root or no tmpfs: ENOSPC case not run"
fi
# --sync=none, a move into cur/ that fails (cur/ a bind mount: EXDEV), in
# whichever thread: 74, one line naming it, the 500 before it delivered
# and counted, none of those after it in new/; the rerun delivers the rest
if [ "$(id -u)" = 0 ] && mkdir -p "$TMP/bx/tmp" "$TMP/bx/new" "$TMP/bx/cur" "$TMP/bxcur" &&
    mount --bind "$TMP/bxcur" "$TMP/bx/cur" 2>/dev/null; then
	python3 -c '
for i in range(1001):
    st = "Status: RO\n" if i == 500 else ""
    print("From a@b Mon Jan  4 10:00:00 2021\nSubject: m%d\n%s\n%s\n" % (i, st, "body line\n" * 50))
' >"$TMP/bx.mbox"
	expect_status "move fails (EXDEV): exit 74" 74 "$MAILSHIFT" convert --sync=none --json "$TMP/bx.mbox" "$TMP/bx"
	check "move fails: says so" grep -q "unable to move tmp/.* to cur/.*Invalid cross-device link" "$TMP/.err"
	expect_eq "move fails: one error line" "$(grep -c 'error' "$TMP/.err")" 1
	expect_eq "move fails: the 500 before it in new/" "$(count_files "$TMP/bx/new")" 500
	expect_eq "move fails: counted as delivered" "$(sed -n 's/.*"delivered": *\([0-9]*\).*/\1/p' "$TMP/.out")" 500
	expect_eq "move fails: tmp/ empty" "$(count_files "$TMP/bx/tmp")" 0
	umount "$TMP/bx/cur"
	expect_status "move fails: rerun" 0 "$MAILSHIFT" convert -q --sync=none "$TMP/bx.mbox" "$TMP/bx"
	expect_eq "move fails: rerun: each message once" \
	    "$(cat "$TMP"/bx/new/* "$TMP"/bx/cur/* | grep '^Subject: m' | sort -u | wc -l | tr -d ' '):$(count_files "$TMP/bx/new" "$TMP/bx/cur")" "1001:1001"
else
	echo "note: not root or no bind mount: the failed move case not run"
fi
# --json with DEST "-": the summary would be written into the mbox on stdout
expect_status "--json with DEST -: exit 64" 64 "$MAILSHIFT" convert --json --to=mbox "$DATA/sample.mbox" -
expect_eq "--json with DEST -: nothing on standard output" "$(wc -c <"$TMP/.out" | tr -d ' ')" 0
check "--json with DEST -: it says why" grep -q "json with DEST '-': the summary would be written into the mbox" "$TMP/.err"

# a Maildir's warnings count in its summary, as an mbox's do: one unique
# part under two names of different content (SPEC: both are messages)
mkdir -p "$TMP/dupu/new" "$TMP/dupu/cur" "$TMP/dupu/tmp"
printf 'From: a@x\nSubject: one\n\nb\n' >"$TMP/dupu/new/100.A.host"
printf 'From: a@x\nSubject: two\n\nc\n' >"$TMP/dupu/cur/100.A.host:2,S"
expect_status "a Maildir with a unique part twice: exit 0" 0 \
	"$MAILSHIFT" convert --json --to=mbox "$TMP/dupu" "$TMP/dupu.mbox"
check "it is said" grep -q "same unique part as new/100.A.host" "$TMP/.err"
check "the summary counts the warning said" grep -q '"messages":2,"delivered":2,.*"warnings":1,' "$TMP/.out"

done_testing
