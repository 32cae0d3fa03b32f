#!/bin/sh
# check reads only what a check needs (issue acceptance, DESIGN §6, SPEC
# §5 M11): without --deep no message file is opened, whatever the number
# of messages; symlinks inside a maildir are reported and never followed,
# also as root (DESIGN §1.6, SPEC §5 M1).
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need strace
# LeakSanitizer cannot run under ptrace: a sanitizer build is traced without it
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
export ASAN_OPTIONS

M=$TMP/Maildir
mkdir -p "$M/cur" "$M/new" "$M/tmp"
body='From: a@example.org
Subject: x

body
'
n=0
while [ $n -lt 300 ]; do
	printf '%s' "$body" >"$M/cur/17000$n.M1P1.msghost,S=${#body}:2,S"
	n=$((n + 1))
done
n=0
while [ $n -lt 20 ]; do
	printf '%s' "$body" >"$M/new/17001$n.M1P1.msghost"
	n=$((n + 1))
done
printf '%s' "$body" >"$M/tmp/17002.M1P1.msghost"

strace -f -e trace=open,openat -o "$TMP/trace" "$MAILSHIFT" check -q "$M" >"$TMP/out" 2>&1
expect_eq "clean maildir" "$?" 0
expect_eq "no message file opened" "$(grep -c 'msghost' "$TMP/trace")" 0
# the maildir twice (recognising it, then walking it), new/, cur/, tmp/
expect_eq "directories opened" "$(grep -c 'O_DIRECTORY' "$TMP/trace")" 5
mkdir -p "$TMP/Empty/cur" "$TMP/Empty/new" "$TMP/Empty/tmp"
strace -f -e trace=open,openat -o "$TMP/trace.empty" "$MAILSHIFT" check -q "$TMP/Empty" >/dev/null 2>&1
expect_eq "as many opens for 320 messages as for none" "$(grep -c 'open' "$TMP/trace")" \
	"$(grep -c 'open' "$TMP/trace.empty")"
strace -f -e trace=open,openat -o "$TMP/trace.deep" "$MAILSHIFT" check -q --deep "$M" >"$TMP/out" 2>&1
expect_eq "--deep opens every message of new/ and cur/ once" "$(grep -c 'msghost' "$TMP/trace.deep")" 320

# size from the name (S=) and lstat only: a wrong S= is still found
# without opening anything
mv "$M/cur/170000.M1P1.msghost,S=${#body}:2,S" "$M/cur/170000.M1P1.msghost,S=7:2,S"
strace -f -e trace=open,openat -o "$TMP/trace" "$MAILSHIFT" check -q "$M" >"$TMP/out" 2>&1
expect_eq "S= mismatch found" "$(cut -d' ' -f2 "$TMP/out")" "MAILDIR-SIZE-MISMATCH:"
expect_eq "S= mismatch: no message file opened" "$(grep -c 'msghost' "$TMP/trace")" 0
mv "$M/cur/170000.M1P1.msghost,S=7:2,S" "$M/cur/170000.M1P1.msghost,S=${#body}:2,S"

# --- symlinks: reported, never followed (we run as root in CI) -------------
mkdir "$TMP/outside"
printf '%s' "$body" >"$TMP/outside/secret-message"
ln -s "$TMP/outside/secret-message" "$M/cur/link-to-secret:2,S"
ln -s "$TMP/outside" "$M/.Evil"
mv "$M/tmp" "$M/tmp.real"
ln -s "$TMP/outside" "$M/tmp"
strace -f -e trace=%file,%desc -o "$TMP/trace.links" "$MAILSHIFT" check -q -r --deep "$M" >"$TMP/out" 2>&1
expect_eq "check with links: exit 1" "$?" 1
expect_eq "three links reported" "$(sed 's/^\(.*\): \([A-Z-]*\): .*/\1 \2/' "$TMP/out" | sort | tr '\n' ' ')" \
	"$M/.Evil MAILDIR-SYMLINK $M/cur/link-to-secret:2,S MAILDIR-SYMLINK $M/tmp MAILDIR-SYMLINK "
expect_eq "the targets never appear in a system call" "$(grep -c 'outside' "$TMP/trace.links")" 0
expect_eq "root or not" "$(id -u)" 0
ls -la "$TMP/outside" | sed 1d | awk '{ print $1, $NF }' >"$TMP/outside.before"
expect_status "repair with links" 0 "$MAILSHIFT" repair -r "$M"
expect_eq "links moved into the quarantine" "$(find "$M/.mailshift-quarantine" -maxdepth 1 -type l | wc -l | tr -d ' ')" 3
check "tmp/ is a real directory again" test -d "$M/tmp" -a ! -L "$M/tmp"
check "secret untouched" test "$(cat "$TMP/outside/secret-message")" = "$(printf '%s' "$body")"
ls -la "$TMP/outside" | sed 1d | awk '{ print $1, $NF }' >"$TMP/outside.after"
check "outside directory unchanged" cmp -s "$TMP/outside.before" "$TMP/outside.after"
expect_status "clean after repair" 0 "$MAILSHIFT" check -r "$M"

# a link named .mailshift-quarantine is never followed by repair either
Q=$TMP/Q
mkdir -p "$Q/cur" "$Q/new" "$Q/tmp" "$TMP/elsewhere"
ln -s "$TMP/elsewhere" "$Q/.mailshift-quarantine"
: >"$Q/cur/1.empty.host:2,"
expect_status "repair refuses a linked quarantine" 73 "$MAILSHIFT" repair "$Q"
expect_eq "nothing created through the link" "$(find "$TMP/elsewhere" | wc -l | tr -d ' ')" 1
check "the file stays where it was" test -f "$Q/cur/1.empty.host:2,"
# --- the readers that open messages read each small one with one read(2):
# the end is where fstat said, no second read returns 0
R=$TMP/Reads
mkdir -p "$R/cur" "$R/new" "$R/tmp"
n=0
while [ $n -lt 50 ]; do
	printf '%s' "$body" >"$R/cur/17100$n.M1P1.msghost,S=${#body}:2,S"
	n=$((n + 1))
done
strace -y -e trace=read -o "$TMP/trace.stats" "$MAILSHIFT" stats -q "$R" >/dev/null 2>&1
expect_eq "stats: one read per message file" "$(grep -c 'msghost' "$TMP/trace.stats")" 50
strace -y -e trace=read -o "$TMP/trace.export" "$MAILSHIFT" convert -q --to=mbox "$R" "$TMP/reads.mbox" >/dev/null 2>&1
expect_eq "convert --to=mbox: one read per message file" "$(grep -c 'msghost' "$TMP/trace.export")" 50
expect_eq "convert --to=mbox: every message" "$(grep -c '^From ' "$TMP/reads.mbox")" 50
done_testing
