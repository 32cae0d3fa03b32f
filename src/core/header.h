/*
 * header.h: RFC 5322 header blocks as byte arrays with lengths (SPEC §3):
 * finding where the header ends, iterating fields (folded lines included),
 * case-insensitive lookup, unfolding, Message-ID extraction for dedup,
 * the first mailbox's addr-spec, and RFC 2047 decoding for display.
 * No I/O; NUL bytes are data.
 */
#ifndef MAILSHIFT_HEADER_H
#define MAILSHIFT_HEADER_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/*
 * Length of the header block at the start of buf: everything up to and
 * including the first empty line (LF or CR LF). A line holding only white
 * space is a continuation, not the end (SPEC §3.2). If no empty line is found
 * within len bytes, returns len and sets *complete = false. The empty line
 * at offset 0 (a message with no header) gives 1 (or 2 for CR LF).
 */
size_t header_block_len(const char *buf, size_t len, bool *complete);

struct header_field {
	const char *name;        /* field name, trailing white space before ':' removed */
	size_t name_len;
	const char *value;       /* raw value after ':' (leading WSP kept), through
	                          * all continuation lines, without the final [CR]LF */
	size_t value_len;
	const char *line;        /* the whole field, first byte of name .. final LF */
	size_t line_len;
};

struct header_iter {
	const char *p;
	const char *end;
	unsigned malformed;      /* lines that were neither a field nor a continuation */
	/* private: the field index of this block (header.c), when it has one */
	const char *base;
	const void *ix;
	unsigned long gen;
	size_t ixi;
};

/*
 * Iterate the fields of a header block (stops at the empty line or end).
 * Walks of the pinned block read its fields from an index made at its
 * first walk; any other block is walked line by line.
 */
void header_iter_init(struct header_iter *it, const char *hdr, size_t len);
bool header_iter_next(struct header_iter *it, struct header_field *f);

/*
 * A reader pins the header it hands out: the `len` bytes at hdr do not
 * change until the next header_index_pin() or header_index_drop(), which
 * it calls before it writes to, reallocates or frees that buffer. One block
 * is pinned at a time; a new pin or a drop only costs later walks their
 * index, never their result.
 */
void header_index_pin(const char *hdr, size_t len);
void header_index_drop(void);

/*
 * May the block hold a field named `name` (n bytes, case-insensitive)?
 * false only for the pinned block, when none of its fields has that name:
 * its index keeps a bit per field name (completed here if a walk had not
 * yet reached its end), so a lookup of a field the header lacks, or a
 * filter with nothing to leave out, costs a test instead of a walk. true
 * for any other block, and now and then for a name the pinned one lacks.
 */
bool header_may_have(const char *hdr, size_t len, const char *name, size_t n);

/* First field named `name` (case-insensitive). */
bool header_find(const char *hdr, size_t len, const char *name, struct header_field *f);
/* How many fields are named `name`. */
size_t header_count(const char *hdr, size_t len, const char *name);

/*
 * The header without the fields drop(f, arg) is true for: the bytes kept
 * handed to emit(ctx, p, n) in order, in as few runs as there are gaps;
 * malformed lines are kept. Returns how many fields were left out.
 * header_filter_sb() appends them to out (reset first).
 */
typedef bool (*header_drop_fn)(const struct header_field *f, void *arg);
size_t header_filter(const char *hdr, size_t len, header_drop_fn drop, void *arg,
    void (*emit)(void *ctx, const char *p, size_t n), void *ctx);
size_t header_filter_sb(const char *hdr, size_t len, header_drop_fn drop, void *arg,
    struct strbuf *out);

/*
 * Unfold a value into out: remove every CR/LF (a LF, or CR LF) that is
 * followed by SP or HT; a NUL byte becomes SP. Leading and trailing white
 * space is trimmed. out is reset first and NUL-terminated.
 */
void header_unfold(const char *value, size_t len, struct strbuf *out);

/*
 * Message-ID for dedup (SPEC §3.6): first Message-ID field, unfolded,
 * comments stripped, the bytes between the first '<' and the next '>';
 * without brackets, the trimmed value if it is one token containing '@'.
 * Returns true and fills out; false for missing, empty or "<>".
 */
bool header_message_id(const char *hdr, size_t len, struct strbuf *out);

/*
 * The addr-spec of the first mailbox in an address-list value (From:, To:,
 * Return-Path:), comments and display names skipped, quoted local parts
 * kept, obsolete routes dropped. With lower, the whole address is
 * lower-cased. Returns true when an address with '@' (or the empty
 * Return-Path "<>", giving an empty result) was found.
 */
bool header_addr_spec(const char *value, size_t len, bool lower, struct strbuf *out);

/*
 * Decode RFC 2047 encoded words for display (SPEC §3.8, lenient): also
 * inside quotes and without surrounding white space; white space between
 * adjacent encoded words dropped; charsets converted to UTF-8 with iconv.
 * Words with unknown charsets or bad data are kept as is; *bad_r (may be
 * NULL) is set to how many. Raw bytes that are not valid UTF-8 are taken as
 * Windows-1252 (SPEC §3.4). out is reset first.
 */
void header_decode_2047(const char *value, size_t len, struct strbuf *out, unsigned *bad_r);

#endif
