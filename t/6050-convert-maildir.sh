#!/bin/sh
# t/6050: convert from a Maildir into a Maildir (mailshift-convert(1)
# MAILDIR TO MAILDIR). When a Maildir SOURCE becomes a Maildir (--to=maildir,
# or a DEST that is a Maildir; a new DEST without --to stays an mbox); the
# messages hard-linked (same inode), names, flags, new/ and cur/ and mtimes
# kept (t/6055: across file systems); reruns skip what is
# there; --dry-run, --json, --owner, --remove-source; symlinks named; a
# Dovecot state in SOURCE carried as it is, one in DEST kept; damaged state
# gives one line per problem and exit 1, and the messages still migrate.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need python3
cd "$TMP" || exit 99
GEN=$T_SRCDIR/gen/courier.py

# names, subdirectories and mtimes of a Maildir: "sub/name mtime" sorted
listing() { (cd "$1" && find new cur -type f -printf '%p %T@\n' | LC_ALL=C sort); }
inodes() { (cd "$1" && find new cur -type f -printf '%i %f\n' | LC_ALL=C sort); }
kind() { if [ -d "$1" ]; then [ -d "$1/cur" ] && echo maildir || echo directory;
	elif [ -f "$1" ]; then echo file; else echo none; fi; }

# --- a plain Maildir (no server state): which direction -----------------------------
mk() {
	mkdir -p "$1/new" "$1/cur" "$1/tmp"
	i=0
	for f in "new/1700000001.M1P1.host" "new/1700000002.M2P2.host,S=99" \
	    "cur/1700000003.M3P3.host:2,S" "cur/1700000004.M4P4.host:2,FRS" \
	    "cur/1700000005.M5P5.host:2,"; do
		i=$((i + 1))
		printf 'From: a%d@example.org\nSubject: m%d\nMessage-ID: <m%d@x>\n\nbody %d\n' \
		    "$i" "$i" "$i" "$i" >"$1/$f"
		touch -d "@$((1600000000 + i * 1000))" "$1/$f"
	done
}
mk Plain
expect_status "new DEST without --to: exit" 0 "$MAILSHIFT" convert -q Plain plain.out
expect_eq "new DEST without --to: an mbox" "$(kind plain.out)" file
expect_status "--to=maildir: exit" 0 "$MAILSHIFT" convert --to=maildir Plain Copy
expect_eq "--to=maildir: a Maildir" "$(kind Copy)" maildir
expect_eq "--to=maildir: the summary" "$(sed 's/;.*//' "$TMP/.err")" \
    "mailshift convert: Plain: 5 messages (maildir): 5 delivered, 0 already in Copy"
expect_eq "names, new/cur and mtimes kept" "$(listing Copy)" "$(listing Plain)"
expect_eq "hard links: the same inodes" "$(inodes Copy)" "$(inodes Plain)"
expect_eq "mode 0700" "$(stat -c %a Copy Copy/cur Copy/new Copy/tmp | tr '\n' ' ')" "700 700 700 700 "
expect_eq "a state without Courier's files: UIDs 1 to 5 in name order" \
    "$(sed 1d Copy/dovecot-uidlist | cut -d' ' -f1 | tr '\n' ' ')" "1 2 3 4 5 "
expect_status "into an existing Maildir without --to: exit" 0 "$MAILSHIFT" convert --json Plain Copy
expect_eq "rerun: all skipped, state kept" "$(python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
print(s["messages"], s["delivered"], s["skipped"], s["state"])' "$TMP/.out")" \
    "5 0 5 kept (DEST has a dovecot-uidlist)"
mkdir Empty
expect_status "into a directory that is no Maildir: exit 73" 73 "$MAILSHIFT" convert Plain Empty
expect_eq "into a directory: nothing made" "$(ls Empty | wc -l | tr -d ' ')" 0
expect_status "two SOURCEs: exit 64" 64 "$MAILSHIFT" convert --to=maildir Plain Copy Two
expect_status "DEST '-': exit 64" 64 "$MAILSHIFT" convert --to=maildir Plain -
expect_status "SOURCE = DEST: exit 64" 64 "$MAILSHIFT" convert --to=maildir Plain ./Plain
expect_status "--in-place with DEST: exit 64" 64 "$MAILSHIFT" convert --in-place Plain Copy

# --- an interrupted run finished; --dry-run ------------------------------------------
rm Copy/cur/1700000004* Copy/new/1700000001* Copy/dovecot-uidlist
expect_status "dry run: exit" 0 "$MAILSHIFT" convert -n Plain Copy
expect_eq "dry run: says what it would do" "$(sed 's/;.*//' "$TMP/.err")" \
    "mailshift convert: Plain: 5 messages (maildir): 2 would be delivered, 3 already in Copy"
expect_eq "dry run: nothing made" "$(find Copy -type f | wc -l | tr -d ' ')" 3
expect_status "rerun: exit" 0 "$MAILSHIFT" convert --json Plain Copy
expect_eq "rerun: the two missing delivered" "$(python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
print(s["delivered"], s["skipped"], s["uidnext"])' "$TMP/.out")" "2 3 6"
expect_eq "rerun: the Maildir whole" "$(listing Copy)" "$(listing Plain)"

# --- a symlink in SOURCE is named, not followed ---------------------------------------
mk Links
ln -s /etc/passwd Links/cur/1700000009.M9P9.host:2,S
expect_status "symlink: exit 1" 1 "$MAILSHIFT" convert --to=maildir Links LinksOut
expect_eq "symlink: one line" "$(grep -c 'a symlink, not a message: not converted' "$TMP/.err")" 1
expect_eq "symlink: the others converted" "$(find LinksOut/cur LinksOut/new -type f | wc -l)" 5
check "symlink: not in DEST" test ! -e LinksOut/cur/1700000009.M9P9.host:2,S

# --- --remove-source, --owner ---------------------------------------------------------
mk Moving
listing Moving >moving.before
expect_status "--remove-source: exit" 0 "$MAILSHIFT" convert --json --remove-source --to=maildir Moving Moved
expect_eq "--remove-source: removed 5" "$(python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["removed"])' "$TMP/.out")" 5
expect_eq "--remove-source: SOURCE empty" "$(find Moving/new Moving/cur -type f | wc -l)" 0
expect_eq "--remove-source: DEST whole" "$(listing Moved)" "$(cat moving.before)"
expect_eq "--remove-source: one link each" "$(find Moved/cur Moved/new -type f -links 1 | wc -l)" 5
mk Moving2
"$MAILSHIFT" convert -q --to=maildir Moving2 Moved2 || fail "Moving2: exit $?"
rm Moved2/cur/1700000003.M3P3.host:2,S
printf 'another message\n' >Moved2/cur/1700000003.M3P3.host:2,S
expect_status "--remove-source, DEST's file differs: exit 1" 1 \
    "$MAILSHIFT" convert --remove-source --to=maildir Moving2 Moved2
expect_eq "--remove-source, DEST's file differs: the line" "$(grep -c 'Moving2/cur/1700000003.M3P3.host:2,S: not removed: Moved2 has another file of that name' "$TMP/.err")" 1
expect_eq "--remove-source, DEST's file differs: that one kept" "$(find Moving2/new Moving2/cur -type f)" \
    "Moving2/cur/1700000003.M3P3.host:2,S"
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	mk Own
	expect_status "--owner: exit" 0 "$MAILSHIFT" convert -q --owner=nobody --to=maildir Own Owned
	expect_eq "--owner: everything created belongs to nobody" \
	    "$(find Owned ! -user nobody | wc -l)" 0
fi

# --- a Dovecot state in SOURCE is carried as it is -------------------------------------
mk Dove
printf '3 V1234 N40 G0123456789abcdef0123456789abcdef\n31 :1700000001.M1P1.host\n32 :1700000002.M2P2.host,S=99\n' \
    >Dove/dovecot-uidlist
printf '0 $Junk\n' >Dove/dovecot-keywords
expect_status "Dovecot SOURCE: exit" 0 "$MAILSHIFT" convert --to=maildir Dove DoveOut
check "Dovecot SOURCE: dovecot-uidlist carried" cmp -s Dove/dovecot-uidlist DoveOut/dovecot-uidlist
check "Dovecot SOURCE: dovecot-keywords carried" cmp -s Dove/dovecot-keywords DoveOut/dovecot-keywords
expect_status "--overwrite-state: exit" 0 "$MAILSHIFT" convert --overwrite-state --to=maildir Dove DoveOut
expect_eq "--overwrite-state: the merge instead" "$(sed 1d DoveOut/dovecot-uidlist | wc -l)" 5

# --- damaged state: one line each, exit 1, all messages migrated, the state whole ----
for d in truncated-uiddb duplicate-uid pop3-version garbage; do
	python3 "$GEN" --seed 21 --damage "$d" --messages 60 --folder-messages 5 "g-$d" ||
	    fail "$d: generator"
	expect_status "$d: exit 1" 1 "$MAILSHIFT" convert -r --to=maildir "g-$d/Maildir" "g-$d/out"
	expect_eq "$d: one line per damaged line, naming it" \
	    "$(sed -n "s|^mailshift convert: warning: g-$d/Maildir/\([^ ]*:[0-9]*\): \(STATE-[A-Z-]*\): .*|\1 \2|p" "$TMP/.err" |
	       grep -v 'STATE-UID-ORDER')" \
	    "$(python3 -c 'import json, sys
for d in json.load(open(sys.argv[1]))["damage"]:
    print("%s:%d %s" % (d["file"], d["line"], d["code"]))' "g-$d/expected.json")"
	expect_eq "$d: every message migrated" "$(find "g-$d/out" -path '*/tmp' -prune -o -type f -links 2 -print | wc -l)" \
	    "$(find "g-$d/Maildir" -path '*/tmp' -prune -o -path '*/new/*' -type f -print -o -path '*/cur/*' -type f -print | wc -l)"
	expect_eq "$d: a whole dovecot-uidlist, one line per message" \
	    "$(($(wc -l <"g-$d/out/dovecot-uidlist") - 1))" \
	    "$(find "g-$d/out/new" "g-$d/out/cur" -type f | wc -l)"
	expect_eq "$d: nothing left in tmp/" "$(ls -A "g-$d/out/tmp" | wc -l)" 0
done

done_testing
