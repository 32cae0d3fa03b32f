# t/lib.sh: shared by the shell tests. Sourced, not run.
#   MAILSHIFT  the binary under test (make check sets t/mailshift-hooked,
#              the build with the test hooks; default: that one when built,
#              else ../mailshift)
#   MAILSHIFT_RELEASE  the binary make install installs (../mailshift)
#   CORPUS     t/corpus, real mailboxes (a test needing it fails with 99 when absent)
#   T_SRCDIR   this directory
#   PYTHON3    the Python interpreter (default: python3 from PATH)
set -u
: "${MAILSHIFT_RELEASE:=$(cd "$(dirname "$0")/.." && pwd)/mailshift}"
if [ -z "${MAILSHIFT:-}" ]; then
	MAILSHIFT=$MAILSHIFT_RELEASE
	[ -x "${MAILSHIFT%/*}/t/mailshift-hooked" ] && MAILSHIFT=${MAILSHIFT%/*}/t/mailshift-hooked
fi
: "${T_SRCDIR:=$(cd "$(dirname "$0")" && pwd)}"
: "${CORPUS:=$T_SRCDIR/corpus}"
DATA="$T_SRCDIR/data"
ORACLE="$T_SRCDIR/oracle"

t_start=$(date +%s)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mailshift-test.XXXXXX") || exit 99
cleanup() { chmod -R u+w "$TMP" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
# PYTHON3 (make check sets it): the interpreter configure found, first in
# PATH as python3
if [ -n "${PYTHON3:-}" ]; then
	mkdir "$TMP/.bin" && ln -s "$PYTHON3" "$TMP/.bin/python3" || exit 99
	PATH=$TMP/.bin:$PATH
fi
# MAILSHIFT_VALGRIND=1 (scripts/test): run the binary under valgrind through
# a wrapper; reports go to $MAILSHIFT_VALGRIND_LOG/vg.PID (kept) and exit 1.
# Leaks count when definite, and not at all in a run the crash hooks end:
# _exit() leaves live buffers that only a register or an inner pointer holds.
if [ "${MAILSHIFT_VALGRIND:-0}" = 1 ]; then
	vglog=${MAILSHIFT_VALGRIND_LOG:-$TMP}
	printf '#!/bin/sh\nleak=full\n[ -n "${MAILSHIFT_CRASH_AFTER_MESSAGES:-}${MAILSHIFT_CRASH_AFTER_WRITES:-}" ] && leak=no\nexec valgrind -q --error-exitcode=1 --leak-check=$leak --errors-for-leak-kinds=definite --show-leak-kinds=definite --log-file=%s/vg.%%p %s "$@"\n' \
		"$vglog" "$MAILSHIFT" >"$TMP/.mailshift-valgrind" && chmod +x "$TMP/.mailshift-valgrind" || exit 99
	MAILSHIFT=$TMP/.mailshift-valgrind
fi

ntests=0 nfail=0
pass() { ntests=$((ntests + 1)); }
fail() { ntests=$((ntests + 1)); nfail=$((nfail + 1)); echo "FAIL: $*" >&2; }
# check DESCRIPTION COMMAND...: run a command, pass when it succeeds
check() { desc=$1; shift; if "$@"; then pass; else fail "$desc"; fi; }
# expect_eq DESCRIPTION GOT WANT
expect_eq() { if [ "$2" = "$3" ]; then pass; else fail "$1: got '$2', want '$3'"; fi; }
# expect_status DESCRIPTION WANT COMMAND...: exit status of a command
expect_status() {
	desc=$1 want=$2; shift 2
	"$@" >"$TMP/.out" 2>"$TMP/.err"; got=$?
	if [ "$got" = "$want" ]; then pass; else
		fail "$desc: exit $got, want $want"; sed 's/^/    stderr: /' "$TMP/.err" | head -5 >&2
	fi
}
done_testing() {
	# (the time goes to the .log; scripts/test lists the slowest tests)
	echo "$ntests tests, $nfail failed, $(($(date +%s) - t_start)) s"
	[ "$nfail" -eq 0 ] || exit 1
	exit 0
}
# the corpus travels with the source tree: missing means a broken checkout
need_corpus() { [ -f "$CORPUS/INDEX.tsv" ] || { echo "ERROR: no corpus at $CORPUS (t/corpus is part of the source tree)" >&2; exit 99; }; }
# The fault hooks (src/core/testhook.h) are part of every make check: a
# binary without them is a broken test set-up, not a reason to skip.
need_hooks() {
	"$MAILSHIFT" --version 2>/dev/null | grep -q 'test hooks compiled in' && return 0
	echo "ERROR: $MAILSHIFT has no test hooks (make check builds and runs t/mailshift-hooked)" >&2
	exit 99
}
need() { command -v "$1" >/dev/null 2>&1 || { echo "SKIP: $1 not installed"; exit 77; }; }

# Messages of a maildir in delivery order (mailshift's names increase within
# a run): files of new/ and cur/ sorted by seconds, microseconds, sequence.
maildir_files() {
	for f in "$1"/new/* "$1"/cur/*; do [ -f "$f" ] && echo "$f"; done |
	awk -F/ '{ n = $NF; split(n, a, "."); s = a[1]; m = a[2];
		sub(/^M/, "", m); us = m; sub(/P.*/, "", us); q = m; sub(/.*Q/, "", q); sub(/X.*/, "", q);
		printf "%012d %06d %010d %s\n", s, us, q, $0 }' | sort | cut -d' ' -f4-
}
# "<sha256> <length>" per message file in delivery order
maildir_digests() {
	maildir_files "$1" | python3 -c '
import hashlib, sys
for p in sys.stdin.read().splitlines():
    d = open(p, "rb").read()
    print(hashlib.sha256(d).hexdigest(), len(d))'
}
# the SHA-256 of every message file of new/ and cur/, sorted: the multiset
# of contents, in one sha256sum for the whole Maildir (a leading backslash
# marks a name sha256sum escaped)
maildir_sums() {
	find "$1/new" "$1/cur" -type f -exec sha256sum {} + 2>/dev/null |
		sed 's/^\\//; s/ .*//' | LC_ALL=C sort
}
# with_fd_limit N COMMAND...: run COMMAND with only descriptors 0, 1 and 2
# open and at most N in all (RLIMIT_NOFILE). Whatever the caller inherited
# is closed first: a wrapper such as `/usr/bin/time -o FILE` or a CI runner
# holds descriptors of its own, and under a plain `ulimit -n 4` they would
# leave the dynamic loader none (exit 127).
with_fd_limit() {
	python3 -c 'import os, resource, sys
n = int(sys.argv[1])
os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
os.execvp(sys.argv[2], sys.argv[2:])' "$@"
}
count_files() { find "$@" -type f 2>/dev/null | wc -l | tr -d ' '; }
