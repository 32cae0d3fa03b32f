#!/bin/sh
# t/9045: every state file mailshift replaces (maildirsize, courierimapuiddb,
# dovecot-uidlist and dovecot-keywords by repair and convert, the Dovecot
# files convert carries, Dovecot's subscriptions and UW-IMAP's .mailboxlist
# of a tree) is durable once the command ends: strace shows the temporary
# file synced before the rename() over the name and the directory synced
# after it, and nothing of ours is left beside it or in tmp/.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need strace
# LeakSanitizer cannot run under ptrace (the sanitizer tier): the leak
# check is left to that tier's other runs
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
export ASAN_OPTIONS
cd "$TMP" || exit 99
P=$(pwd -P)       # the paths strace -y prints

# One line per successful fsync ("S PATH") and rename ("R FROM TO"), the
# descriptors as strace -y names them; then each rename of a state file
# (not into new/ or cur/: messages are synced per batch) must have had its
# FROM synced and be followed by a sync of TO's directory. Prints the
# faults and the count of renames checked.
traced() {
	out=$1
	shift
	strace -f -y -qq -e trace=fsync,rename,renameat,renameat2 -o "$out" "$@" >/dev/null 2>&1
}
durable() {
	sed -E -e 's/^[0-9]+ +//' \
	    -e 's/^fsync\([0-9]+<([^>]*)>\) += 0$/S \1/' \
	    -e 's/^renameat2?\([0-9]+<([^>]*)>, "([^"]*)", [0-9]+<([^>]*)>, "([^"]*)".*\) += 0$/R \1\/\2 \3\/\4/' \
	    -e 's/^renameat2?\(AT_FDCWD, "([^"]*)", AT_FDCWD, "([^"]*)".*\) += 0$/R \1 \2/' \
	    -e 's/^rename\("([^"]*)", "([^"]*)"\) += 0$/R \1 \2/' "$1" |
	awk '
	$1 == "S" { synced[$2] = 1; delete pending[$2]; next }
	$1 == "R" {
		dir = $3; sub(/\/[^\/]*$/, "", dir)
		if (dir ~ /\/(new|cur)$/) next
		n++
		if (!($2 in synced)) print $3 ": the temporary file was not synced before the rename"
		pending[dir] = $3
	}
	END { for (d in pending) print pending[d] ": its directory was not synced after the rename"
	      print n " renamed" }'
}
# nothing but what is listed in DIR (a space-separated list) and no file of
# ours in any tmp/ below it
only() { (cd "$1" && find . -maxdepth 1 ! -name . | sed 's|^\./||' | sort | tr '\n' ' '); }

msg() { printf 'From: a@example.org\nSubject: %s\n\n%s body\n' "$1" "$1"; }
md() {
	mkdir -p "$1/cur" "$1/new" "$1/tmp"
	for u in 1700000001.M1P1.host 1700000002.M2P2.host 1700000003.M3P3.host; do
		msg "$u" >"$1/cur/$u:2,S"
	done
}

# --- repair: maildirsize, courierimapuiddb, dovecot-uidlist, one maildir each -------
# (one file per run: a later file's directory sync must not hide an earlier
# one's missing)
md R1
printf '100S\n5 1\n' >R1/maildirsize
md R2
printf '1 1234567 2\n1 1700000001.M1P1.host\n2 1700000002.M2P2.host:2,S\n3 1700000003.M3P3.host\n' \
    >R2/courierimapuiddb
md R3
printf '3 V1234567 N2\n1 :1700000001.M1P1.host\n2 :1700000002.M2P2.host\n3 :1700000003.M3P3.host\n' \
    >R3/dovecot-uidlist
for r in R1 R2 R3; do
	traced $r.trace "$MAILSHIFT" repair -q "$P/$r"
	expect_eq "repair $r: durable" "$(durable $r.trace)" "1 renamed"
	expect_eq "repair $r: tmp/ empty" "$(only $r/tmp)" ""
done
expect_eq "repair: the three rewritten" "$(sed -n 2p R1/maildirsize; head -1 R2/courierimapuiddb;
    head -1 R3/dovecot-uidlist)" "231 3
1 1234567 4
3 V1234567 N4"

# --- convert Maildir -> Maildir: the Dovecot state carried, then merged ----------------
md D
printf '0 $Junk\n' >D/dovecot-keywords
printf '3 V1234 N40 G0123456789abcdef0123456789abcdef\n31 :1700000001.M1P1.host\n' >D/dovecot-uidlist
traced d.trace "$MAILSHIFT" convert -q --to=maildir "$P/D" "$P/DOut"
expect_eq "Maildir -> Maildir: both carried, durable" "$(durable d.trace)" "2 renamed"
check "Maildir -> Maildir: dovecot-keywords carried" cmp -s D/dovecot-keywords DOut/dovecot-keywords
check "Maildir -> Maildir: dovecot-uidlist carried" cmp -s D/dovecot-uidlist DOut/dovecot-uidlist
traced o.trace "$MAILSHIFT" convert -q --overwrite-state --to=maildir "$P/D" "$P/DOut"
expect_eq "Maildir -> Maildir --overwrite-state: merged, durable" "$(durable o.trace)" "2 renamed"
expect_eq "Maildir -> Maildir: DEST" "$(only DOut)" \
    "cur dovecot-keywords dovecot-uidlist new tmp "
expect_eq "Maildir -> Maildir: tmp/ empty" "$(only DOut/tmp)" ""

# --- convert mbox -> Maildir: dovecot-keywords, written again for each new keyword -----
traced m.trace "$MAILSHIFT" convert -q "$DATA/sample.mbox" "$P/M"
expect_eq "mbox -> Maildir: three keywords" "$(cut -d' ' -f1 M/dovecot-keywords | tr '\n' ' ')" "0 1 2 "
expect_eq "mbox -> Maildir: durable" "$(durable m.trace)" "3 renamed"
expect_eq "mbox -> Maildir: tmp/ empty" "$(only M/tmp)" ""

# --- convert -r: subscriptions into a Maildir tree, .mailboxlist into an mbox tree -----
mkdir -p T/Lists
msg i1 | sed '1i\
From a@example.org Mon Jan  1 00:00:00 2024' >T/INBOX
msg l1 | sed '1i\
From a@example.org Mon Jan  1 00:00:00 2024' >T/Lists/dev
printf 'INBOX\nLists/dev\n' >T/.mailboxlist
traced t.trace "$MAILSHIFT" convert -q -r "$P/T" "$P/TM"
expect_eq "mbox tree -> Maildir tree: subscriptions durable" "$(durable t.trace)" "1 renamed"
expect_eq "mbox tree -> Maildir tree: subscriptions" "$(cat TM/subscriptions)" "INBOX
Lists.dev"
traced b.trace "$MAILSHIFT" convert -q -r --to=mbox "$P/TM" "$P/TB"
expect_eq "Maildir tree -> mbox tree: .mailboxlist durable" "$(durable b.trace)" "1 renamed"
expect_eq "Maildir tree -> mbox tree: .mailboxlist" "$(cat TB/.mailboxlist)" "INBOX
Lists/dev"
expect_eq "Maildir tree -> mbox tree: nothing else beside it" "$(only TB)" ".mailboxlist INBOX Lists "
done_testing
