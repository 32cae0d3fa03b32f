#!/bin/sh
# libarchive is loaded only when a compressed mailbox is met
# (mailshift-convert(1) "Compressed mailboxes"): a run on plain mailboxes
# never maps it; a compressed source or destination loads it; and where it
# cannot be loaded, a compressed source (66) or destination (73) gets one
# line naming the mailbox and why, and nothing is written. libmagic (and
# the liblzma and libbz2 it brings) likewise: only a file that is neither
# an mbox nor a Maildir is shown to it.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need gzip
need_hooks

cp "$DATA/sample.mbox" "$TMP/in.mbox"
gzip -c "$DATA/sample.mbox" >"$TMP/in.mbox.gz"
# what the plain mbox gives is what the compressed one must give
"$MAILSHIFT" convert -q "$TMP/in.mbox" "$TMP/ref" || fail "the plain mbox: exit $?"
n=$(count_files "$TMP/ref/new" "$TMP/ref/cur")
check "the plain mbox: $n messages" test "$n" -ge 40

# the libraries a run loads, as the dynamic loader lists them (not under
# valgrind, whose own loader the variable would trace instead)
loaded() {
	rm -f "$TMP"/ld.*
	LD_DEBUG=files LD_DEBUG_OUTPUT=$TMP/ld "$@" >/dev/null 2>&1
	cat "$TMP"/ld.* 2>/dev/null | sed -n 's/.*file=\([^ ]*\) .*/\1/p' | sort -u
}
if [ "${MAILSHIFT_VALGRIND:-0}" != 1 ]; then
	loaded "$MAILSHIFT" convert -q "$TMP/in.mbox" "$TMP/plain" >"$TMP/libs.plain"
	check "a plain mbox: the run loaded libraries ($(wc -l <"$TMP/libs.plain" | tr -d ' '))" \
		test -s "$TMP/libs.plain"
	check "a plain mbox: libarchive is not loaded" sh -c "! grep -q libarchive '$TMP/libs.plain'"
	check "a plain mbox: nor libxml2" sh -c "! grep -q libxml2 '$TMP/libs.plain'"
	loaded "$MAILSHIFT" stats "$TMP/plain" >"$TMP/libs.stats"
	check "stats of a Maildir: libarchive is not loaded" sh -c "! grep -q libarchive '$TMP/libs.stats'"
	check "a plain mbox: libmagic is not loaded" sh -c "! grep -q libmagic '$TMP/libs.plain'"
	check "stats of a Maildir: libmagic is not loaded" sh -c "! grep -q libmagic '$TMP/libs.stats'"
	loaded "$MAILSHIFT" check "$TMP/plain" >"$TMP/libs.check"
	check "check of a Maildir: neither is loaded" sh -c "! grep -q 'libarchive\|libmagic\|liblzma' '$TMP/libs.check'"
	loaded "$MAILSHIFT" convert -q "$TMP/in.mbox.gz" "$TMP/gz" >"$TMP/libs.gz"
	check "a gzip mbox: libarchive is loaded" grep -q libarchive "$TMP/libs.gz"
	check "a gzip mbox: libmagic is loaded" grep -q libmagic "$TMP/libs.gz"
fi

# loaded, it reads and writes compressed mailboxes
"$MAILSHIFT" convert -q "$TMP/in.mbox.gz" "$TMP/md"
expect_eq "a gzip mbox: exit 0" "$?" 0
expect_eq "a gzip mbox: every message" "$(count_files "$TMP/md/new" "$TMP/md/cur")" "$n"
"$MAILSHIFT" convert -q --to=mbox --compress=gzip "$TMP/md" "$TMP/out.mbox.gz"
expect_eq "to a gzip mbox: exit 0" "$?" 0
expect_eq "to a gzip mbox: every message" "$(gzip -dc "$TMP/out.mbox.gz" >"$TMP/out.mbox" && "$MAILSHIFT" convert -q "$TMP/out.mbox" "$TMP/back" && count_files "$TMP/back/new" "$TMP/back/cur")" "$n"

# cannot be loaded
MAILSHIFT_TEST_LIBARCHIVE=libmailshift-nowhere.so.0 \
	"$MAILSHIFT" convert -q "$TMP/in.mbox.gz" "$TMP/none" 2>"$TMP/err"
expect_eq "a gzip mbox without libarchive: exit 66" "$?" 66
expect_eq "one line" "$(wc -l <"$TMP/err" | tr -d ' ')" 1
check "it names the mailbox and the library" \
	grep -q "in.mbox.gz: a compressed mailbox needs libarchive, which cannot be loaded: libmailshift-nowhere.so.0" "$TMP/err"
expect_eq "nothing delivered" "$(count_files "$TMP/none/new" "$TMP/none/cur")" 0
MAILSHIFT_TEST_LIBARCHIVE=libmailshift-nowhere.so.0 \
	"$MAILSHIFT" convert -q --to=mbox --compress=gzip "$TMP/md" "$TMP/none.mbox.gz" 2>"$TMP/err"
expect_eq "to a gzip mbox without libarchive: exit 73" "$?" 73
check "it names the mailbox" grep -q "none.mbox.gz: a compressed mailbox needs libarchive" "$TMP/err"
check "no mbox is left" test ! -s "$TMP/none.mbox.gz"
# without libmagic a compressed mailbox is not recognised: a line saying
# so, the error of a file that is no mailbox, and 66 (as without
# libarchive); a plain mbox does not need it
MAILSHIFT_TEST_LIBMAGIC=libmailshift-nowhere.so.1 \
	"$MAILSHIFT" convert -q "$TMP/in.mbox.gz" "$TMP/nomagic" 2>"$TMP/err"
expect_eq "a gzip mbox without libmagic: exit 66" "$?" 66
check "it says libmagic cannot be loaded, once" test "$(grep -c 'libmagic cannot be loaded (.*nowhere.so.1.*): compressed mailboxes are not recognised' "$TMP/err")" -eq 1
check "and names the file" grep -q "in.mbox.gz: not a mailbox" "$TMP/err"
MAILSHIFT_TEST_LIBMAGIC=libmailshift-nowhere.so.1 \
	"$MAILSHIFT" convert -q "$TMP/in.mbox" "$TMP/plain3" 2>"$TMP/err"
expect_eq "a plain mbox without libmagic: exit 0, nothing said" "$?:$(wc -c <"$TMP/err" | tr -d ' ')" "0:0"
# a plain mbox does not need it
MAILSHIFT_TEST_LIBARCHIVE=libmailshift-nowhere.so.0 \
	"$MAILSHIFT" convert -q "$TMP/in.mbox" "$TMP/plain2"
expect_eq "a plain mbox without libarchive: exit 0" "$?" 0
expect_eq "a plain mbox without libarchive: every message" "$(count_files "$TMP/plain2/new" "$TMP/plain2/cur")" "$n"
done_testing
