#!/bin/sh
# repair options and outputs: --quarantine=DIR, --json, a Maildir++ folder
# given directly (the quarantine goes to its parent), trailing slashes,
# exit status of refusals (DESIGN §3, §4; mailshift-repair(1)).
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

mk() { mkdir -p "$1/cur" "$1/new" "$1/tmp"; }
M=$TMP/Maildir
mk "$M"
: >"$M/cur/1.empty.host:2,S"
printf 'Subject: cut' >"$M/tmp/2.cut.host"
printf 'Subject: ok\n\nbody\n' >"$M/cur/3.ok.host:2,S"
cut=$(sha256sum <"$M/tmp/2.cut.host")

# --- trailing slash: paths as "Maildir/cur/x" --------------------------------
"$MAILSHIFT" check -q --tmp-age=0 "$M/" >"$TMP/out"
expect_eq "trailing slash" "$(cut -d: -f1 "$TMP/out" | sort | tr '\n' ' ')" "$M/cur/1.empty.host $M/tmp/2.cut.host "

# --- --json --dry-run ------------------------------------------------------
"$MAILSHIFT" repair --json --dry-run --tmp-age=0 --quarantine="$TMP/q" "$M" >"$TMP/json" 2>/dev/null
expect_eq "json dry run: two objects" "$(grep -c '^{"path":"[^"]*","code":"MAILDIR-[A-Z-]*","action":"[^"]*","dry_run":true}$' "$TMP/json")" 2
check "dry run: no quarantine directory" test ! -e "$TMP/q"

# --- --quarantine=DIR ------------------------------------------------------
expect_status "repair --quarantine" 0 "$MAILSHIFT" repair --json --tmp-age=0 --quarantine="$TMP/q" "$M"
expect_eq "json: two actions, not dry" "$(grep -c '"dry_run":false}$' "$TMP/.out")" 2
check "empty file in DIR" test -f "$TMP/q/1.empty.host:2,S" -a ! -s "$TMP/q/1.empty.host:2,S"
expect_eq "cut tmp file byte-identical in DIR" "$(sha256sum <"$TMP/q/2.cut.host")" "$cut"
check "no quarantine folder made" test ! -e "$M/.mailshift-quarantine"
check "the good message stays" test -f "$M/cur/3.ok.host:2,S"
# a second file of the same name gets ".1"
: >"$M/cur/1.empty.host:2,S"
"$MAILSHIFT" repair -q --quarantine="$TMP/q" "$M" >"$TMP/out"
expect_eq "name clash in the quarantine" "$(cat "$TMP/out")" \
	"$M/cur/1.empty.host:2,S: MAILDIR-EMPTY-FILE: moved into the quarantine as $TMP/q/1.empty.host:2,S.1 (an empty message)"

# --- a folder given directly: quarantine in the parent ----------------------
mk "$M/.Sub"
: >"$M/.Sub/maildirfolder"
: >"$M/.Sub/cur/4.empty.host:2,"
expect_status "repair a folder" 0 "$MAILSHIFT" repair "$M/.Sub"
check "quarantined into the top maildir's folder" test -f "$M/.mailshift-quarantine/cur/4.empty.host:2,"
check "quarantine folder complete" test -d "$M/.mailshift-quarantine/new" -a -d "$M/.mailshift-quarantine/tmp"
expect_status "check -r ignores the quarantine" 0 "$MAILSHIFT" check -r "$M"

# --- refusals ---------------------------------------------------------------
expect_status "repair: missing" 66 "$MAILSHIFT" repair "$TMP/none"
mkdir "$TMP/plain"
expect_status "repair: not a maildir" 65 "$MAILSHIFT" repair "$TMP/plain"
printf 'hello\n' >"$TMP/text"
expect_status "repair: not an mbox" 65 "$MAILSHIFT" repair "$TMP/text"
expect_eq "not an mbox left untouched" "$(cat "$TMP/text")" "hello"
expect_status "repair: bad option" 64 "$MAILSHIFT" repair --frobnicate "$M"
done_testing
