#!/bin/sh
# t/9017: convert from a Maildir into a Maildir, killed anywhere (after
# each link, state file and removal; before each write), then run again:
# the rerun finishes the job and the result equals a clean run's: every
# message once in DEST, the same UIDs, POP3 fields and keyword letters in
# every folder's dovecot-uidlist, SOURCE emptied by --remove-source only
# of what DEST holds, nothing left in tmp/ (DESIGN §1.2).
# A process crash, unlike a power cut, does not depend on the file system:
# on a tmpfs when there is one, where the hundreds of syncs cost nothing.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then TMPDIR=/dev/shm; export TMPDIR; fi
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
. "$T_SRCDIR/crashlib.sh"
crash_need_hooks
need python3

python3 "$T_SRCDIR/gen/courier.py" --seed 31 --messages 12 --folder-messages 3 "$TMP/gen" >/dev/null ||
	exit 99
setup() { cp -a "$TMP/gen/Maildir" "$1/src"; }
run() { "$MAILSHIFT" convert -q -r --to=maildir --remove-source "$1/src" "$1/dst"; }
# the UID lines of every folder's list (the header's mailbox GUID is random):
# one tail (a "==> FILE <==" line before each) and one sed for all
uids() { (cd "$1" && set -- && for f in dovecot-uidlist .[!.]*/dovecot-uidlist; do
	[ -f "$f" ] && set -- "$@" "$f"; done
	[ $# -eq 0 ] || tail -v -n +1 -- "$@" | sed '/^==> .* <==$/{n;s/ G.*//;}'); }

mkdir "$TMP/clean"
setup "$TMP/clean"
run "$TMP/clean" || fail "clean run: exit $?"
crash_maildir_sums "$TMP/clean/dst" >"$TMP/clean.sums"
uids "$TMP/clean/dst" >"$TMP/clean.uids"
expect_eq "clean run: the source's messages" "$(wc -l <"$TMP/clean.sums")" \
    "$(find "$TMP/gen/Maildir" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l)"
expect_eq "clean run: six lists" "$(grep -c '^==' "$TMP/clean.uids")" 6

verify() {
	crash_maildir_same "$1/dst" "$TMP/clean.sums" || return 1
	uids "$1/dst" >"$1/uids"
	cmp -s "$1/uids" "$TMP/clean.uids" || { diff "$TMP/clean.uids" "$1/uids" | head -5 >&2; return 1; }
	left=$(find "$1/src" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l)
	[ "$left" = 0 ] || { echo "$left messages left in the source" >&2; return 1; }
}
partial() { crash_maildir_partial "$1/dst" "$TMP/clean.sums"; }
crash_sweep "Maildir -> Maildir" MESSAGES setup run verify partial
crash_sweep "Maildir -> Maildir" WRITES setup run verify
done_testing
