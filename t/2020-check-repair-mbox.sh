#!/bin/sh
# check and repair on mboxes: the codes and byte offsets on the corpus and
# on a generated mbox holding every mbox code; repair rewrites in place
# (same inode) under the lock, changes no message, and is idempotent
# (SPEC §2.3-2.6, §5 X1-X21, O7; DESIGN §3).
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need_corpus

# "CODE OFFSET" per finding, from --json
codes() { "$MAILSHIFT" check --json "$@" 2>/dev/null |
	sed 's/.*"code":"\([A-Z-]*\)".*"offset":\([0-9]*\)}$/\1 \2/; s/.*"code":"\([A-Z-]*\)".*}$/\1/'; }
at() { dd if="$1" bs=1 skip="$2" count="$3" 2>/dev/null; }
MB=$CORPUS/mail-mbox-messageparser/mailboxes
EF=$CORPUS/email-folder/mboxes

# --- corpus: codes and offsets ---------------------------------------------
expect_eq "mboxcl2.lies" "$(codes "$EF/mboxcl2.lies" | tr '\n' ' ')" \
	"MBOX-UNQUOTED-FROM 1562 MBOX-CONTENT-LENGTH 0 "
expect_eq "mboxcl2.lies: the unquoted line" "$(at "$EF/mboxcl2.lies" 1562 19)" "From perl5-porters:"
expect_eq "mboxcl2.lies: its Content-Length" "$(grep -a -m1 '^Content-Length' "$EF/mboxcl2.lies")" "Content-Length: 782"
expect_status "mboxcl2 (valid Content-Length protects the From line)" 0 "$MAILSHIFT" check "$EF/mboxcl2"
expect_eq "mailarc-1.txt" "$(codes "$MB/mailarc-1.txt" | tr '\n' ' ')" \
	"MBOX-MISSING-SEPARATOR 25742 MBOX-CONTENT-LENGTH 29226 MBOX-CONTENT-LENGTH 55264 "
expect_eq "mailarc-1.txt: a From_ line at 25742" "$(at "$MB/mailarc-1.txt" 25742 5)" "From "
expect_eq "mailarc-1.txt: no empty line before it" "$(at "$MB/mailarc-1.txt" 25740 2 | od -An -tx1 | tr -d ' ')" 6e0a
expect_eq "mime.mbox" "$(codes "$CORPUS/gnu-mailutils/spool/mime.mbox")" "MBOX-MISSING-SEPARATOR 14444"
expect_eq "malformed.txt: 51 missing separators" "$(codes "$MB/malformed.txt" | grep -c MISSING-SEPARATOR)" 51
expect_eq "separators2.sep" "$(codes "$MB/separators2.sep" | tr '\n' ' ')" \
	"MBOX-UNQUOTED-FROM 5445 MBOX-CONTENT-LENGTH 0 "
expect_eq "separators2.sep: the unquoted line" "$(at "$MB/separators2.sep" 5445 15)" "From this princ"
expect_eq "testmbox.dos: 10 stale Content-Length" "$(codes "$EF/testmbox.dos" | grep -c CONTENT-LENGTH)" 10
expect_eq "groupsio mixed line ends" "$(codes "$CORPUS/perceval/groupsio/messages.mbox")" "MBOX-MIXED-EOL 35439"
expect_status "teaparty.mbox clean" 0 "$MAILSHIFT" check "$CORPUS/gnu-mailutils/spool/teaparty.mbox"
expect_eq "teaparty summary" "$(cat "$TMP/.err")" "mailshift check: 1 mailbox, 95 messages, 0 findings"
expect_status "empty mbox clean (X6)" 0 "$MAILSHIFT" check "$EF/testmbox.empty"
expect_status "CR-only refused (X14)" 65 "$MAILSHIFT" check "$EF/testmbox.mac"
expect_status "not an mbox (X7)" 65 "$MAILSHIFT" check "$CORPUS/gnu-mailutils/spool/input.msg"
expect_status "compressed refused" 65 "$MAILSHIFT" check "$MB/mailarc-2.txt.gz"
"$MAILSHIFT" check "$MB/mailarc-1.txt" >"$TMP/text" 2>/dev/null
expect_eq "text line" "$(head -1 "$TMP/text")" \
	"$MB/mailarc-1.txt: MBOX-MISSING-SEPARATOR: From_ line without an empty line before it at offset 25742"

# --- repair on corpus copies: same inode, same messages --------------------
digests() { "$MAILSHIFT" convert -q "$1" "$2" &&
	find "$2" -type f -path '*/[cn][ue][rw]/*' -exec sha256sum {} + | cut -c1-64 | sort; }
for m in "$EF/mboxcl2.lies" "$MB/mailarc-1.txt" "$EF/testmbox.dos" "$MB/malformed.txt"; do
	b=$(basename "$m")
	cp "$m" "$TMP/$b" && chmod u+w "$TMP/$b"
	ino=$(stat -c %i "$TMP/$b")
	n=$(codes "$TMP/$b" | wc -l | tr -d ' ')
	expect_status "$b: repair" 0 "$MAILSHIFT" repair "$TMP/$b"
	expect_eq "$b: one action per finding" "$(wc -l <"$TMP/.out" | tr -d ' ')" "$n"
	expect_eq "$b: same inode" "$(stat -c %i "$TMP/$b")" "$ino"
	check "$b: no journal or lock left" test ! -e "$TMP/$b.mailshift-journal" -a ! -e "$TMP/$b.lock"
	expect_status "$b: clean afterwards" 0 "$MAILSHIFT" check "$TMP/$b"
	digests "$m" "$TMP/$b.before" >"$TMP/d1"
	digests "$TMP/$b" "$TMP/$b.after" >"$TMP/d2"
	check "$b: the same messages" cmp -s "$TMP/d1" "$TMP/d2"
	expect_status "$b: second repair" 0 "$MAILSHIFT" repair "$TMP/$b"
	expect_eq "$b: second repair does nothing" "$(cat "$TMP/.out")" ""
done
expect_eq "mboxcl2.lies repaired bytes" "$(at "$TMP/mboxcl2.lies" 1562 20)" ">From perl5-porters:"
expect_eq "mboxcl2.lies repaired length" "$(grep -a -m1 '^Content-Length' "$TMP/mboxcl2.lies")" "Content-Length: 683"
expect_eq "mboxcl2.lies grew by the quote byte" "$(($(wc -c <"$TMP/mboxcl2.lies") - $(wc -c <"$EF/mboxcl2.lies")))" 1

# --- a generated mbox with every mbox code --------------------------------
B=$TMP/box
printf 'leading junk\n\nFrom a@b Mon Jan  1 00:00:00 2024\nSubject: one\nContent-Length: 999\n\nbody\nFrom here on\nFrom b@c Mon Jan  1 00:00:01 2024\nSubject: two\n\nbody two' >"$B"
touch -d '2024-01-02 03:04:05 UTC' "$B"
: >"$B.lock"
touch -d '-10 minutes' "$B.lock"
printf 'not a journal' >"$B.mailshift-journal"
printf 'From a@b Mon Jan  1 00:00:00 2024\r\nSubject: crlf\r\n\r\nx\r\n\r\nFrom a@b Mon Jan  1 00:00:00 2024\nSubject: lf\n\ny\n' >"$TMP/mixed"
expect_eq "every mbox code" "$(codes "$B" | tr '\n' ' ')" \
	"MBOX-STALE-LOCK MBOX-JOURNAL MBOX-FIRST-LINE 0 MBOX-UNQUOTED-FROM 87 MBOX-MISSING-SEPARATOR 100 MBOX-CONTENT-LENGTH 14 MBOX-TRUNCATED 156 "
expect_eq "mixed line ends" "$(codes "$TMP/mixed")" "MBOX-MIXED-EOL 57"
expect_eq "unquoted at 87" "$(at "$B" 87 12)" "From here on"
expect_eq "size is the truncation offset" "$(wc -c <"$B" | tr -d ' ')" 156
listing() { find "$TMP" -maxdepth 1 -name 'box*' -printf '%p %s %i %T@\n' | sort; }
listing >"$TMP/l1"
expect_status "dry run" 0 "$MAILSHIFT" repair --dry-run "$B"
expect_eq "dry run: 7 actions" "$(grep -c ': would ' "$TMP/.out")" 7
listing >"$TMP/l2"
check "dry run changes nothing" cmp -s "$TMP/l1" "$TMP/l2"
expect_status "repair" 0 "$MAILSHIFT" repair "$B"
expect_eq "repair: actions" "$(cut -d: -f2 "$TMP/.out" | tr '\n' ' ')" \
	" MBOX-STALE-LOCK  MBOX-JOURNAL  MBOX-FIRST-LINE  MBOX-CONTENT-LENGTH  MBOX-UNQUOTED-FROM  MBOX-MISSING-SEPARATOR  MBOX-TRUNCATED "
printf 'From MAILER-DAEMON Tue Jan  2 03:04:05 2024\nleading junk\n\nFrom a@b Mon Jan  1 00:00:00 2024\nSubject: one\nContent-Length: 19\n\nbody\n>From here on\n\nFrom b@c Mon Jan  1 00:00:01 2024\nSubject: two\n\nbody two\n' >"$TMP/want"
check "repaired bytes" cmp "$TMP/want" "$B"
check "stale lock and journal gone" test ! -e "$B.lock" -a ! -e "$B.mailshift-journal"
expect_status "clean after repair" 0 "$MAILSHIFT" check "$B"
expect_eq "three messages" "$(cat "$TMP/.err")" "mailshift check: 1 mailbox, 3 messages, 0 findings"
# (a note: repair leaves it, it is no problem, exit 0; -q leaves it out)
expect_status "mixed line ends: check, a note: exit 0" 0 "$MAILSHIFT" check "$TMP/mixed"
expect_eq "mixed: the note" "$(cut -d: -f2 "$TMP/.out")" " MBOX-MIXED-EOL"
expect_eq "mixed: the summary" "$(sed 's/.*, //' "$TMP/.err")" "1 finding (1 note)"
expect_status "mixed line ends: check -q: exit 0" 0 "$MAILSHIFT" check -q "$TMP/mixed"
expect_eq "mixed: check -q says nothing" "$(cat "$TMP/.out" "$TMP/.err")" ""
expect_status "mixed line ends: reported, left as is" 0 "$MAILSHIFT" repair "$TMP/mixed"
expect_eq "mixed: left as is" "$(cat "$TMP/.out")" \
	"$TMP/mixed: MBOX-MIXED-EOL: left as is: changing line ends would change the messages"

# --- an mboxcl2 file: fixing one length would change how it is read ---------
printf 'From a@b Mon Jan  1 00:00:00 2024\nContent-Length: 99\n\nFrom here\n>From there\n\nFrom a@b Mon Jan  1 00:00:00 2024\nContent-Length: 10\n\nFrom here\n' >"$TMP/cl2"
cp "$TMP/cl2" "$TMP/cl2.orig"
expect_eq "cl2 findings" "$(codes "$TMP/cl2" | tr '\n' ' ')" "MBOX-UNQUOTED-FROM 54 MBOX-CONTENT-LENGTH 0 "
expect_eq "cl2: the line at 54" "$(at "$TMP/cl2" 54 9)" "From here"
expect_status "cl2: repair leaves it" 1 "$MAILSHIFT" repair "$TMP/cl2"
expect_eq "cl2: two findings left as is" "$(grep -c 'left as is: fixing it would make readers take this file as mboxcl2' "$TMP/.out")" 2
check "cl2: file unchanged" cmp -s "$TMP/cl2" "$TMP/cl2.orig"
done_testing
