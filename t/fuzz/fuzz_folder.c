/*
 * fuzz_folder.c: libFuzzer target for the folder-name mapping between mbox
 * tree paths and Maildir folder names (SPEC §1.8, §5 W6), the part that
 * decides where files are created from names found in the input.
 *
 * Byte 0 picks layout (bit 0: Maildir++ or fs) and charset (bit 1: UTF-8
 * or modified UTF-7); the rest is a path to encode and a name to decode.
 *
 * Properties checked besides memory safety (DESIGN §1.6): an encoded
 * Maildir++ name holds no '/' and no NUL and fits FOLDER_NAME_MAX; an fs
 * name has no empty, "." or ".." component and no NUL; an accepted path
 * that was not shortened decodes back to exactly the path; a decoded name
 * never has an empty, "." or ".." component; modified UTF-7 of valid UTF-8
 * decodes back to it.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "folder.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* No component of a '/'-separated path is empty, "." or "..". */
static bool
components_safe(const char *p, size_t len)
{
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] != '/')
			continue;
		size_t n = i - start;
		if (n == 0 || (n == 1 && p[start] == '.') ||
		    (n == 2 && p[start] == '.' && p[start + 1] == '.'))
			return false;
		start = i + 1;
	}
	return true;
}

static void
check_encode(const char *p, size_t len, enum folder_layout lay, enum folder_charset cs)
{
	struct strbuf enc = STRBUF_INIT, dec = STRBUF_INIT;
	int rc = folder_encode(p, len, lay, cs, &enc);
	if (rc >= 0) {
		if (memchr(enc.buf, '\0', enc.len))
			abort();
		if (lay == FOLDER_MAILDIRPP && (memchr(enc.buf, '/', enc.len) ||
		    enc.len > FOLDER_NAME_MAX || enc.len == 0))
			abort();
		if (lay == FOLDER_FS && !components_safe(enc.buf, enc.len))
			abort();
	}
	if (rc == 0) {
		/* one leading and one trailing '/' are ignored by the encoder */
		const char *q = p;
		size_t n = len;
		if (n && q[0] == '/')
			q++, n--;
		if (n && q[n - 1] == '/')
			n--;
		unsigned odd = 0;
		if (folder_decode(enc.buf, enc.len, lay, cs, &dec, &odd) != 0 ||
		    dec.len != n || memcmp(dec.buf, q, n) != 0 || odd != 0)
			abort();
	}
	sb_free(&enc);
	sb_free(&dec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum folder_layout lay = data[0] & 1 ? FOLDER_FS : FOLDER_MAILDIRPP;
	enum folder_charset cs = data[0] & 2 ? FOLDER_MUTF7 : FOLDER_UTF8;
	const char *p = (const char *)data + 1;
	size_t len = size - 1;

	check_encode(p, len, lay, cs);

	struct strbuf out = STRBUF_INIT, back = STRBUF_INIT;
	unsigned odd = 0;
	if (folder_decode(p, len, lay, cs, &out, &odd) == 0 && !components_safe(out.buf, out.len))
		abort();

	sb_reset(&out);
	if (mutf7_encode(p, len, &out) == 0) {
		if (mutf7_decode(out.buf, out.len, &back) != 0 || back.len != len ||
		    (len > 0 && memcmp(back.buf, p, len) != 0))
			abort();
	}
	sb_reset(&back);
	mutf7_decode(p, len, &back);
	sb_free(&out);
	sb_free(&back);
	return 0;
}
