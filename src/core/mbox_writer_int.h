/*
 * mbox_writer_int.h: what the parts of the mbox writer share and no caller
 * of mbox_writer.h may use: the quoting state machine with an output
 * callback (mbox_quote.c, used by the appender in mbox_writer.c), the size
 * of the copy buffers, and the directory sync (mbox_rewrite.c, used by the
 * appender to publish compressed output). Only src/core/mbox_*.c include
 * it. The parts call in one direction: mbox_writer.c -> mbox_quote.c,
 * mbox_header.c, mbox_rewrite.c; these three call none of the others.
 */
#ifndef MAILSHIFT_MBOX_WRITER_INT_H
#define MAILSHIFT_MBOX_WRITER_INT_H

#include <stddef.h>

#include "mbox_writer.h"

/* The output buffer of the appender; the chunk of the journal copies. */
#define OBUF_SIZE (64 * 1024)

/* Where quoted bytes go; NULL to measure only. */
typedef void (*emit_fn)(void *ctx, const char *p, size_t n);

/* mbox_quote.c: feed n body bytes (any chunking) through q, passing the
 * quoted bytes to emit; at the end of the body, give back what a line
 * start still holds. */
void quote_feed(struct mbox_quote *q, const char *p, size_t n, emit_fn emit, void *ctx);
void quote_finish(struct mbox_quote *q, emit_fn emit, void *ctx);

/* mbox_rewrite.c: fsync the directory holding path (EINVAL and EROFS, a
 * file system that cannot, count as done). 0 or -1 (errno). */
int fsync_dir_of(const char *path);

#endif
