# t/matrixlib.sh: the input matrix, shared by t/1060 (make check) and t/1065
# (make check-long). Sourced after t/lib.sh.
#
# A row is one mailbox (made by t/gen/sized-mbox.py with a fixed seed); a
# cell is that mailbox fed through one input path. Every cell must give the
# Maildir the plain file gives, byte for byte: same messages in the same
# order, same new/ or cur/, flags, mtimes, UIDs and dovecot-keywords
# (t/gen/maildir-digest.py), and the same exit status. A failure names the
# cell (path x row) and the first message that differs.
#
# Paths: plain file, "-" from a pipe, a FIFO, gzip, bzip2, xz, zstd, lz4,
# lzip, compress (.Z), a tar and a zip holding the mbox, and gzip and zstd
# data on stdin. The compressors are tools the suite needs (scripts/bootstrap
# installs them); a missing one fails the row that needs it.
GEN_SIZED=$T_SRCDIR/gen/sized-mbox.py
DIGEST=$T_SRCDIR/gen/maildir-digest.py
MATRIX_PATHS="plain pipe fifo gzip bzip2 xz zstd lz4 lzip Z tar zip stdin-gzip stdin-zstd"
MATRIX_JOBS=${MATRIX_JOBS:-2}
MATRIX_SEED=${MATRIX_SEED:-15}
# Conversions run with --sync=none: the reading side is under test here, and
# durability has tests of its own (t/1030, t/9010).
MATRIX_CONVERT="convert -q --sync=none"
matrix_cells=0

matrix_need_tools() {
	for t in python3 gzip bzip2 xz zstd lz4 lzip compress tar zip mkfifo; do
		command -v "$t" >/dev/null 2>&1 ||
			{ echo "ERROR: $t is missing (scripts/bootstrap installs it)" >&2; exit 99; }
	done
}

# matrix_compressed PATH MBOX OUT: write the compressed form PATH needs
matrix_compressed() {
	case $1 in
	gzip|stdin-gzip) gzip -1 -n -c "$2" >"$3" ;;
	bzip2) bzip2 -1 -c "$2" >"$3" ;;
	xz) xz -0 -T1 -c "$2" >"$3" ;;
	zstd|stdin-zstd) zstd -1 -q -c "$2" >"$3" ;;
	lz4) lz4 -1 -q -c "$2" >"$3" ;;
	lzip) lzip -0 -c "$2" >"$3" ;;
	# compress exits 2 when the output is not smaller; it is still complete
	Z) compress -f -c "$2" >"$3"; [ $? -le 2 ] ;;
	tar) tar -cf "$3" -C "$(dirname "$2")" "$(basename "$2")" ;;
	zip) rm -f "$3" && zip -q -j -X "$3" "$2" ;;
	esac
}

# matrix_timed COMMAND...: under GNU time when $tf names a file
matrix_timed() {
	if [ -n "$tf" ]; then /usr/bin/time -f '%e %M' -o "$tf" "$@"; else "$@"; fi
}

# matrix_cell PATH MBOX DIR [TIMEFILE]: convert MBOX through PATH into
# DIR/PATH.md; the exit status goes to DIR/PATH.rc, stderr to DIR/PATH.err.
# With TIMEFILE, GNU time's "%e %M" (seconds, peak RSS KiB) goes there.
matrix_cell() {
	p=$1 mbox=$2 dir=$3 tf=${4:-}
	md=$dir/$p.md
	in=$dir/$p.in
	case $p in
	plain) in=$mbox ;;
	pipe|fifo) ;;
	*) matrix_compressed "$p" "$mbox" "$in" || { echo "compressing for $p failed" >"$dir/$p.err"; echo 98 >"$dir/$p.rc"; return; } ;;
	esac
	case $p in
	pipe) cat "$mbox" | matrix_timed "$MAILSHIFT" $MATRIX_CONVERT - "$md" ;;
	stdin-*) cat "$in" | matrix_timed "$MAILSHIFT" $MATRIX_CONVERT - "$md" ;;
	fifo)
		rm -f "$in" && mkfifo "$in"
		cat "$mbox" >"$in" &
		matrix_timed "$MAILSHIFT" $MATRIX_CONVERT "$in" "$md"
		;;
	*) matrix_timed "$MAILSHIFT" $MATRIX_CONVERT "$in" "$md" ;;
	esac 2>"$dir/$p.err"
	echo $? >"$dir/$p.rc"
	wait
	[ "$p" = plain ] || rm -f "$in"
}

# matrix_row LABEL SHAPE [PATHS]: one mailbox through every path, compared
# with the plain file's result.
matrix_row() {
	label=$1 shape=$2 paths=${3:-$MATRIX_PATHS}
	dir=$TMP/row
	rm -rf "$dir" && mkdir -p "$dir" || exit 99
	python3 "$GEN_SIZED" "$shape" "$MATRIX_SEED" >"$dir/mbox" || { fail "$label: generator ($shape)"; return; }
	bytes=$(wc -c <"$dir/mbox" | tr -d ' ')
	matrix_cell plain "$dir/mbox" "$dir"
	n=0
	for p in $paths; do
		[ "$p" = plain ] && continue
		matrix_cell "$p" "$dir/mbox" "$dir" &
		n=$((n + 1))
		[ $((n % MATRIX_JOBS)) -eq 0 ] && wait
	done
	wait
	mds=
	for p in $paths; do [ -d "$dir/$p.md" ] && mds="$mds $dir/$p.md"; done
	# shellcheck disable=SC2086
	python3 "$DIGEST" $mds || { fail "$label: digest"; return; }
	want_rc=$(cat "$dir/plain.rc")
	nmsg=$(($(wc -l <"$dir/plain.md.list" 2>/dev/null || echo 1) - 1))
	for p in $paths; do
		matrix_cells=$((matrix_cells + 1))
		rc=$(cat "$dir/$p.rc")
		if [ "$rc" != "$want_rc" ]; then
			fail "$p x $label: exit $rc, want $want_rc"
			sed "s/^/    $p x $label: stderr: /" "$dir/$p.err" | head -3 >&2
			continue
		fi
		[ "$p" = plain ] && { pass; continue; }
		if [ ! -f "$dir/$p.md.list" ] && [ ! -f "$dir/plain.md.list" ]; then
			pass; continue
		fi
		[ -f "$dir/$p.md.list" ] || : >"$dir/$p.md.list"
		[ -f "$dir/plain.md.list" ] || : >"$dir/plain.md.list"
		if cmp -s "$dir/plain.md.list" "$dir/$p.md.list"; then
			pass
		elif out=$(python3 "$DIGEST" --compare "$p x $label" "$dir/plain.md.list" "$dir/$p.md.list"); then
			pass
		else
			fail "$out"
			sed "s/^/    $p x $label: stderr: /" "$dir/$p.err" | head -3 >&2
		fi
	done
	echo "# $label: $bytes bytes, $nmsg messages, exit $want_rc"
	rm -rf "$dir"
}
