#!/bin/sh
# t/1060-convert-input-matrix.sh: every input path gives the Maildir the
# plain file gives (DESIGN §3 "Compressed input is read transparently",
# SPEC §5 X16), at every size that straddles a buffer or a limit of the
# source and the reader:
#   source.c       SNIFF_SIZE 64 KiB (the bytes sniffed before libarchive
#                  takes over), ARC_READ_SIZE 256 KiB (compressed reads)
#   mbox_reader.c  DEFAULT_BUFSIZE 4 MiB, LOOKAHEAD = FROMLINE_MAX + 2,
#                  the header copy's first 16 KiB
#   message.h      READER_HEADER_MAX 1 MiB (reader.c hands it out)
# For each: a mailbox of exactly that size -1/+0/+1 bytes and one whose
# From_ line starts there; plus 0 bytes, one message, a 20 MB message and a
# mailbox of several MB with CRLF, quoted From lines, NUL bytes, long lines
# and Content-Length. t/matrixlib.sh runs the cells (2 at a time) and names
# the cell and the first differing message of any failure.
. "$(dirname "$0")/lib.sh"
. "$T_SRCDIR/matrixlib.sh"
matrix_need_tools

# The rows at the source's limits (SNIFF_SIZE, ARC_READ_SIZE) go through
# every path. The rows at the reader's limits (its 4 MiB buffer, the header
# limits, the 20 MB message, the 6 MB mailbox) see the same bytes from
# every decompressor: in make check they take one path of each kind (a
# file, a pipe, a FIFO, a compression filter, a tar and a zip container,
# compressed data on stdin); the long tier (make check-long) takes them
# all.
reader_paths="plain pipe fifo gzip tar zip stdin-zstd"
[ "${MAILSHIFT_LONG:-0}" = 1 ] && reader_paths=$MATRIX_PATHS
rows="empty:empty one:one"
for b in 65536 262144; do
	for d in -1 +0 +1; do
		rows="$rows total=$b$d:total:$((b + d)) From_-at-$b$d:from-at:$((b + d))"
	done
done
for d in -1 +0 +1; do
	rows="$rows From_-line=FROMLINE_MAX$d:fromline:$((1000 + d))"
done
rows="$rows From_-line=LOOKAHEAD:fromline:1002"
reader_rows=
for d in -1 +0 +1; do
	b=4194304
	reader_rows="$reader_rows total=$b$d:total:$((b + d)) From_-at-$b$d:from-at:$((b + d))"
	reader_rows="$reader_rows header=16384$d:header:$((16384 + d)) header=READER_HEADER_MAX$d:header:$((1048576 + d))"
done
reader_rows="$reader_rows message=20MB:big:20971520 mailbox=6MB:mailbox:6000000"

for r in $rows; do
	matrix_row "${r%%:*}" "${r#*:}"
done
for r in $reader_rows; do
	matrix_row "${r%%:*}" "${r#*:}" "$reader_paths"
done
echo "# $matrix_cells cells"
expect_eq "cells compared" "$matrix_cells" \
	$(( $(echo $rows | wc -w) * $(echo $MATRIX_PATHS | wc -w) + $(echo $reader_rows | wc -w) * $(echo $reader_paths | wc -w) ))
done_testing
