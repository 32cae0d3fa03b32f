#!/bin/sh
# t/6055: convert from a Maildir into a Maildir on another file system (a
# tmpfs the test mounts): no hard link is possible, so every message is
# copied by the delivery protocol (tmp/, synced, linked into new/ or cur/):
# the same bytes, names, subdirectories and mtimes, nothing left in tmp/, a
# state, and a rerun that skips all and removes the source with
# --remove-source.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need python3
cd "$TMP" || exit 99
[ "$(id -u)" = 0 ] || { echo "SKIP: mounting a tmpfs needs root"; exit 77; }
mkdir mnt
mount -t tmpfs -o size=16m mailshift-test "$TMP/mnt" 2>/dev/null ||
	{ echo "SKIP: a tmpfs cannot be mounted here"; exit 77; }
trap 'umount "$TMP/mnt" 2>/dev/null; cleanup' EXIT
listing() { (cd "$1" && find new cur -type f -printf '%p %T@\n' | LC_ALL=C sort); }
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
mk Far
listing Far >far.before
expect_status "tmpfs: exit" 0 "$MAILSHIFT" convert --json --to=maildir Far mnt/Far
expect_eq "tmpfs: copied, 5 delivered" "$(python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["delivered"])' "$TMP/.out")" 5
expect_eq "tmpfs: one link each (copies)" "$(find mnt/Far -type f -links 1 -path '*/cur/*' -o -type f -links 1 -path '*/new/*' | wc -l)" 5
expect_eq "tmpfs: names, new/cur, mtimes" "$(listing mnt/Far)" "$(cat far.before)"
expect_eq "tmpfs: same bytes" "$(maildir_sums mnt/Far)" "$(maildir_sums Far)"
expect_eq "tmpfs: nothing left in tmp/" "$(ls -A mnt/Far/tmp | wc -l)" 0
expect_eq "tmpfs: a state" "$(sed 1d mnt/Far/dovecot-uidlist | wc -l)" 5
expect_status "tmpfs: --sync=message, --batch=2 exit" 0 "$MAILSHIFT" convert -q --sync=message --to=maildir Far mnt/Far2
expect_eq "tmpfs: --sync=message same bytes" "$(maildir_sums mnt/Far2)" "$(maildir_sums Far)"
expect_status "tmpfs: batches of 2" 0 "$MAILSHIFT" convert -q --batch=2 --to=maildir Far mnt/Far3
expect_eq "tmpfs: batches of 2, names" "$(listing mnt/Far3)" "$(cat far.before)"
expect_status "tmpfs: rerun exit" 0 "$MAILSHIFT" convert --json --remove-source --to=maildir Far mnt/Far
expect_eq "tmpfs: rerun skips and removes" "$(python3 -c 'import json, sys
s = json.load(open(sys.argv[1])); print(s["delivered"], s["skipped"], s["removed"])' "$TMP/.out")" "0 5 5"
expect_eq "tmpfs: SOURCE empty" "$(find Far/new Far/cur -type f | wc -l)" 0
expect_eq "tmpfs: DEST whole" "$(listing mnt/Far)" "$(cat far.before)"
# DEST already holds the last message (a rerun after a crash, or a
# message delivered twice): the copies before it are published all the same
mk Far4
mkdir -p mnt/Far4/new mnt/Far4/cur mnt/Far4/tmp
cp -p Far4/cur/1700000005.M5P5.host:2, mnt/Far4/cur/
expect_status "tmpfs, the last message already in DEST: exit" 0 "$MAILSHIFT" convert --json --to=maildir Far4 mnt/Far4
expect_eq "tmpfs, the last message already in DEST: 4 delivered" "$(python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["delivered"])' "$TMP/.out")" 4
expect_eq "tmpfs, the last message already in DEST: every message" "$(maildir_sums mnt/Far4)" "$(maildir_sums Far4)"
expect_eq "tmpfs, the last message already in DEST: nothing left in tmp/" "$(ls -A mnt/Far4/tmp | wc -l)" 0
done_testing
