/*
 * fuzz_header.c: libFuzzer target for the header parser (SPEC §3: header
 * block end, field iteration with folding, lookup, unfolding, Message-ID,
 * addr-spec, RFC 2047 decoding). The input is one header block.
 *
 * Properties checked besides memory safety: every field view lies inside
 * the block and fields follow each other; header_block_len never exceeds
 * the input; unfolded values hold no CR or LF; header_count agrees with
 * the iteration.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
inside(const char *p, size_t n, const char *lo, size_t len)
{
	return p >= lo && n <= len && (size_t)(p - lo) <= len - n;
}

static int
lower_eq(const char *a, size_t n, const char *b)
{
	if (n != strlen(b))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = a[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != b[i])
			return 0;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	bool complete;
	size_t hlen = header_block_len(buf, size, &complete);
	if (hlen > size || (!complete && hlen != size))
		abort();

	struct header_iter it;
	struct header_field f;
	struct strbuf sb = { 0 };
	const char *prev_end = buf;
	size_t received = 0;
	header_iter_init(&it, buf, hlen);
	while (header_iter_next(&it, &f)) {
		if (!inside(f.line, f.line_len, buf, hlen) ||
		    !inside(f.name, f.name_len, f.line, f.line_len) ||
		    !inside(f.value, f.value_len, f.line, f.line_len) || f.line < prev_end)
			abort();
		prev_end = f.line + f.line_len;
		if (lower_eq(f.name, f.name_len, "received"))
			received++;
		header_unfold(f.value, f.value_len, &sb);
		if (sb.buf == NULL || memchr(sb.buf, '\n', sb.len) || strlen(sb.buf) != sb.len)
			abort();
	}
	if (header_count(buf, hlen, "Received") != received)
		abort();

	static const char *const names[] = { "From", "To", "Return-Path", "Subject" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (!header_find(buf, hlen, names[i], &f))
			continue;
		if (!inside(f.value, f.value_len, buf, hlen))
			abort();
		header_addr_spec(f.value, f.value_len, i & 1, &sb);
		unsigned bad = 0;
		header_decode_2047(f.value, f.value_len, &sb, &bad);
	}
	if (header_message_id(buf, hlen, &sb) && sb.len == 0)
		abort();    /* "true" promises a non-empty id */
	/* the whole input as one value, wherever it came from */
	header_addr_spec(buf, size, true, &sb);
	header_decode_2047(buf, size, &sb, NULL);
	sb_free(&sb);
	return 0;
}
