# t/crashlib.sh: crash anywhere, rerun, compare with a clean run (DESIGN
# §1.2, isync's interrupt-and-resume technique). Sourced after t/lib.sh;
# needs the binary with the test hooks (src/core/testhook.h) that make
# check builds.
#
# Usage, in a test:
#
#	. "$T_SRCDIR/lib.sh"
#	. "$T_SRCDIR/crashlib.sh"
#	crash_need_hooks                     # exit 99 without test hooks
#	setup()  { cp "$DATA/sample.mbox" "$1/in.mbox"; }   # fresh state in dir $1
#	run()    { "$MAILSHIFT" convert -q "$1/in.mbox" "$1/md"; }  # the command
#	verify() { crash_maildir_same "$1/md" "$TMP/clean.sums"; }  # after rerun
#	crash_sweep "convert" MESSAGES setup run verify
#	crash_sweep "convert" WRITES setup run verify
#
# crash_sweep LABEL KIND SETUP RUN VERIFY [PARTIAL]
#	KIND is MESSAGES or WRITES. For N = 0, 1, 2, ... (step $CRASH_STEP,
#	default 1, 13 under valgrind): make an empty directory D, call SETUP D, call RUN D with
#	MAILSHIFT_CRASH_AFTER_KIND=N in its environment. If it exits 99 (the
#	hook fired) call PARTIAL D when given (state after the crash, before
#	the rerun: e.g. crash_maildir_partial), then RUN D again without the
#	hook, which must exit $CRASH_RERUN_STATUS (default 0), then VERIFY D.
#	The first N for which RUN finishes without crashing ends the sweep
#	(its status must be $CRASH_RERUN_STATUS too, and VERIFY D must pass).
#	Every check is one pass/fail of lib.sh. $CRASH_MAX (default 5000) bounds
#	N; reaching it fails. Sets crash_points to the number of crashes tried.
#	RUN and VERIFY are shell functions or commands; their stderr is kept in
#	D/.err and shown on failure.
#
# Comparisons (each returns 0/1 and explains a failure on stderr):
#	crash_maildir_sums DIR          "FOLDER SUBDIR INFO SHA256" per message of
#	                                every folder of a Maildir(++), sorted
#	crash_maildir_same DIR SUMS     same messages (multiset) as SUMS, from
#	                                crash_maildir_sums of a clean run, and
#	                                nothing in any tmp/
#	crash_maildir_partial DIR SUMS  every message visible in DIR is a whole
#	                                one of SUMS and none is there twice
#	                                (the state right after a crash)
#	crash_mbox_prefix MBOX CLEAN    MBOX is CLEAN cut at a message boundary
#	                                (an append that never tears the mbox)
#	crash_mbox_messages MBOX        "SHA256" per message of an mbox (Python's
#	                                mailbox module, as an independent reader)

# Under valgrind (scripts/test --full, tier 3) every 19th crash point: the
# memory checks follow the same code paths, and the other tiers try every
# point.
if [ -z "${CRASH_STEP:-}" ]; then
	CRASH_STEP=1
	[ "${MAILSHIFT_VALGRIND:-0}" = 1 ] && CRASH_STEP=19
fi
CRASH_MAX=${CRASH_MAX:-5000}
CRASH_RERUN_STATUS=${CRASH_RERUN_STATUS:-0}
crash_points=0

crash_need_hooks() { need_hooks; }

# _crash_find DIR: "SHA256  ./PATH" for every message file of DIR's new/
# and cur/ (one sha256sum), "tmp ./PATH" for every file of a tmp/; names
# of mailshift's own making hold no white space or newline. Only ever the
# left side of a pipeline, which runs in a subshell of its own: the cd
# (relative paths, so that a /tmp/ above DIR never matches) stays there.
_crash_find() {
	cd "$1" 2>/dev/null && find . -type f \( \( -path '*/tmp/*' -printf 'tmp %p\n' \) -o \
		\( \( -path '*/new/*' -o -path '*/cur/*' \) ! -name '.*' -exec sha256sum {} + \) \)
}
# awk: fmt(SUM, PATH) is "FOLDER SUBDIR INFO SHA256"
_crash_fmt='
function fmt(sum, rel,   n, part, base, subdir, folder, info, i, k) {
	sub(/^\.\//, "", rel)
	n = split(rel, part, "/"); base = part[n]; subdir = part[n - 1]
	folder = "."
	if (n > 2) { folder = part[1]; for (i = 2; i <= n - 2; i++) folder = folder "/" part[i] }
	info = "-"
	if ((k = index(base, ":2,")) > 0) { info = substr(base, k + 3); if (info == "") info = "-" }
	return folder " " subdir " " info " " sum
}'

crash_maildir_sums() {
	_crash_find "$1" | awk "$_crash_fmt"' $1 != "tmp" { print fmt($1, $2) }' | LC_ALL=C sort
}

# (one awk compares the multisets, no sort: the same lines as SUMS, each as
# often, and nothing in a tmp/)
crash_maildir_same() {
	_crash_find "$1" | awk -v clean="$2" -v dir="$1" "$_crash_fmt"'
		BEGIN { while ((getline l <clean) > 0) c[l]++ }
		$1 == "tmp" { tmp = tmp " " $2; next }
		{ l = fmt($1, $2); if (--c[l] < 0 && nd++ < 5) d = d "\n< " l }
		END {
			for (l in c) if (c[l] > 0 && nd++ < 5) d = d "\n> " l
			if (d != "") { print "crash: " dir " differs from the clean run (< here, > clean):" d >"/dev/stderr"; exit 1 }
			if (tmp != "") { print "crash: " dir ": file(s) left in tmp/:" tmp >"/dev/stderr"; exit 1 }
		}'
}

crash_maildir_partial() {
	# the contents (with their multiplicity) in DIR beyond those of clean
	_crash_find "$1" | awk -v clean="$2" -v dir="$1" '
		BEGIN { while ((getline l <clean) > 0) { split(l, f, " "); c[f[4]]++ } }
		$1 == "tmp" { next }
		--c[$1] < 0 { x = x " " $1; bad = 1 }
		END { if (bad) { print "crash: " dir ": a message that is partial, foreign or there twice:" substr(x, 1, 300) >"/dev/stderr"; exit 1 } }'
}

crash_mbox_prefix() {
	n=$(wc -c <"$1" | tr -d ' ')
	total=$(wc -c <"$2" | tr -d ' ')
	if [ "$n" -gt "$total" ] || ! cmp -s -n "$n" "$1" "$2"; then
		echo "crash: $1 ($n bytes) is not a prefix of the clean mbox" >&2
		return 1
	fi
	[ "$n" -eq 0 ] || [ "$n" -eq "$total" ] && return 0
	# the clean mbox goes on with a From_ line right there
	if [ "$(dd if="$2" bs=1 skip="$n" count=5 2>/dev/null)" != "From " ] ||
	   [ "$(tail -c 2 "$1" | od -An -c | tr -d ' ')" != '\n\n' ]; then
		echo "crash: $1 is torn: cut at byte $n, inside a message" >&2
		return 1
	fi
	return 0
}

crash_mbox_messages() {
	python3 -c '
import hashlib, mailbox, sys
for m in mailbox.mbox(sys.argv[1], create=False):
    print(hashlib.sha256(m.as_bytes()).hexdigest())' "$1"
}

# (each crash point has a directory of its own, removed with $TMP at the
# end: one rm fewer per point)
crash_sweeps=0
crash_sweep() {
	label=$1 kind=$2 c_setup=$3 c_run=$4 c_verify=$5 c_partial=${6:-}
	n=0
	crash_sweeps=$((crash_sweeps + 1))
	while :; do
		if [ "$n" -gt "$CRASH_MAX" ]; then
			fail "$label: CRASH_AFTER_$kind: still crashing at N=$n (CRASH_MAX)"
			return
		fi
		d=$TMP/crash-$crash_sweeps-$kind-$n
		mkdir "$d" || { fail "$label: $kind=$n: cannot make $d"; return; }
		"$c_setup" "$d"
		st=0
		(
			eval "MAILSHIFT_CRASH_AFTER_$kind=$n"
			export "MAILSHIFT_CRASH_AFTER_$kind"
			"$c_run" "$d"
		) >"$d/.out" 2>"$d/.err" || st=$?
		if [ "$st" -eq 99 ]; then
			crash_points=$((crash_points + 1))
			if [ -n "$c_partial" ]; then
				check "$label: $kind=$n: state after the crash" "$c_partial" "$d"
			fi
			st=0
			"$c_run" "$d" >"$d/.out" 2>"$d/.err" || st=$?
			if [ "$st" -ne "$CRASH_RERUN_STATUS" ]; then
				fail "$label: $kind=$n: rerun exit $st, want $CRASH_RERUN_STATUS"
				sed 's/^/    stderr: /' "$d/.err" | head -n 5 >&2
			else
				pass
			fi
			check "$label: $kind=$n: after the rerun" "$c_verify" "$d"
			n=$((n + CRASH_STEP))
			continue
		fi
		# the hook never fired: the command ran to its end
		if [ "$st" -ne "$CRASH_RERUN_STATUS" ]; then
			fail "$label: $kind=$n: exit $st, want 99 or $CRASH_RERUN_STATUS"
			sed 's/^/    stderr: /' "$d/.err" | head -n 5 >&2
		else
			pass
		fi
		check "$label: $kind=$n: uninterrupted run" "$c_verify" "$d"
		return
	done
}
