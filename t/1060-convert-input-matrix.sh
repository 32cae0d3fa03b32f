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

rows="empty:empty one:one"
for b in 65536 262144 4194304; do
	for d in -1 +0 +1; do
		rows="$rows total=$b$d:total:$((b + d)) From_-at-$b$d:from-at:$((b + d))"
	done
done
for d in -1 +0 +1; do
	rows="$rows header=16384$d:header:$((16384 + d)) header=READER_HEADER_MAX$d:header:$((1048576 + d))"
	rows="$rows From_-line=FROMLINE_MAX$d:fromline:$((1000 + d))"
done
rows="$rows From_-line=LOOKAHEAD:fromline:1002 message=20MB:big:20971520 mailbox=6MB:mailbox:6000000"

for r in $rows; do
	matrix_row "${r%%:*}" "${r#*:}"
done
echo "# $matrix_cells cells"
expect_eq "cells compared" "$matrix_cells" $(( $(echo $rows | wc -w) * $(echo $MATRIX_PATHS | wc -w) ))
done_testing
