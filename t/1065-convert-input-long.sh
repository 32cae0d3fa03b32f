#!/bin/sh
# t/1065-convert-input-long.sh (make check-long): the input matrix of t/1060
# at 1 GB for the plain file, gzip and zstd (DESIGN §1.3 "a 10 GiB mbox
# converts with the same peak memory as a 10 MiB one"). Each path converts
# a 16 MB and a 1 GB mailbox of the same varied messages; the 1 GB Maildirs
# must equal the plain file's, and each path's peak RSS (GNU time's %M) at
# 1 GB must stay within RSS_MARGIN KiB of its own at 16 MB plus the
# per-message bookkeeping DESIGN §1.3 allows (PER_MESSAGE bytes a message:
# the UID state keeps each delivered name for dovecot-uidlist, about 135
# bytes). The times, the RSS values and the growth per message are printed.
# MAILSHIFT_LONG_BYTES changes the large size.
. "$(dirname "$0")/lib.sh"
. "$T_SRCDIR/matrixlib.sh"
matrix_need_tools
[ -x /usr/bin/time ] || { echo "ERROR: GNU time (/usr/bin/time) is missing (scripts/bootstrap installs it)" >&2; exit 99; }
LARGE=${MAILSHIFT_LONG_BYTES:-1073741824}
SMALL=16777216
RSS_MARGIN=2048
PER_MESSAGE=160
paths="plain gzip zstd"

for size in $SMALL $LARGE; do
	dir=$TMP/$size
	mkdir -p "$dir" || exit 99
	t0=$(date +%s)
	python3 "$GEN_SIZED" "stream:$size" "$MATRIX_SEED" >"$dir/mbox" || fail "generator ($size)"
	echo "# $size: generated $(wc -c <"$dir/mbox" | tr -d ' ') bytes in $(($(date +%s) - t0))s"
	for p in $paths; do
		t0=$(date +%s)
		matrix_cell "$p" "$dir/mbox" "$dir" "$dir/$p.time"
		expect_eq "$p x $size: exit status" "$(cat "$dir/$p.rc")" 0
		read -r secs rss <"$dir/$p.time" || { fail "$p x $size: no time"; continue; }
		eval "rss_${p}_$size=\$rss"
		echo "# $p x $size: convert ${secs}s, peak RSS $rss KiB (cell with compression $(($(date +%s) - t0))s)"
	done
	rm -f "$dir/mbox"
	python3 "$DIGEST" "$dir"/*.md || fail "digest $size"
	for p in $paths; do
		[ "$p" = plain ] && continue
		matrix_cells=$((matrix_cells + 1))
		if cmp -s "$dir/plain.md.list" "$dir/$p.md.list"; then pass; else
			fail "$(python3 "$DIGEST" --compare "$p x $size" "$dir/plain.md.list" "$dir/$p.md.list")"
		fi
	done
	eval "msgs_$size=$(($(wc -l <"$dir/plain.md.list") - 1))"
	eval "echo \"# $size: \$msgs_$size messages\""
	rm -rf "$dir"
done
eval "extra=\$((msgs_$LARGE - msgs_$SMALL))"
for p in $paths; do
	eval "small=\${rss_${p}_$SMALL:-0} large=\${rss_${p}_$LARGE:-999999}"
	allowed=$((small + RSS_MARGIN + extra * PER_MESSAGE / 1024))
	echo "# peak RSS $p: $small KiB at $SMALL bytes, $large KiB at $LARGE bytes" \
		"($(( (large - small) * 1024 / (extra > 0 ? extra : 1) )) bytes per extra message; allowed $allowed KiB)"
	check "$p: peak RSS flat ($large KiB at $LARGE bytes, $small KiB at $SMALL, allowed $allowed)" \
		[ "$large" -le "$allowed" ]
done
done_testing
