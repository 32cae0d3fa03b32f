/*
 * folder.c: folder paths of an mbox tree <-> Maildir++ / fs-layout folder
 * names (SPEC §1.8 ▶, §5 W6), and IMAP modified UTF-7 (RFC 3501 §5.1.3).
 *
 * The escape and the rules are documented in folder.h. Encoding is done in
 * two steps, escape then (optionally) UTF-7, and decoding undoes them in
 * the opposite order. The escape never produces '&' and UTF-7 never
 * produces '%', so the steps cannot step on each other: every name the
 * encoder accepts (and does not have to shorten) decodes to its bytes.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

#include "folder.h"
#include "util.h"

static const char hexdig[] = "0123456789ABCDEF";
static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

size_t
utf8_seq_len(const unsigned char *s, size_t len, unsigned long *cp_r)
{
	unsigned long cp, min;
	size_t n;

	if (len == 0)
		return 0;
	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		n = 2; cp = s[0] & 0x1F; min = 0x80;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		n = 3; cp = s[0] & 0x0F; min = 0x800;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		n = 4; cp = s[0] & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	*cp_r = cp;
	return n;
}

/* ---- modified UTF-7 ------------------------------------------------------ */

/* Append the base64 run for UTF-16 units of code points in s[0..len). */
static void
mutf7_run(const unsigned char *s, size_t len, struct strbuf *out)
{
	uint32_t bits = 0;
	int nbits = 0;

	sb_appendc(out, '&');
	for (size_t i = 0; i < len;) {
		unsigned long cp;
		size_t n = utf8_seq_len(s + i, len - i, &cp);
		uint16_t u[2];
		int nu = 1;
		i += n;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			u[0] = (uint16_t)(0xD800 + (cp >> 10));
			u[1] = (uint16_t)(0xDC00 + (cp & 0x3FF));
			nu = 2;
		} else {
			u[0] = (uint16_t)cp;
		}
		for (int k = 0; k < nu; k++) {
			bits = (bits << 16) | u[k];
			nbits += 16;
			while (nbits >= 6) {
				nbits -= 6;
				sb_appendc(out, b64[(bits >> nbits) & 0x3F]);
			}
		}
	}
	if (nbits > 0)
		sb_appendc(out, b64[(bits << (6 - nbits)) & 0x3F]);
	sb_appendc(out, '-');
}

int
mutf7_encode(const char *s, size_t len, struct strbuf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t start = out->len, i = 0;

	while (i < len) {
		if (p[i] >= 0x20 && p[i] <= 0x7E) {
			if (p[i] == '&')
				sb_append(out, "&-", 2);
			else
				sb_appendc(out, (char)p[i]);
			i++;
			continue;
		}
		size_t j = i;
		while (j < len && !(p[j] >= 0x20 && p[j] <= 0x7E)) {
			unsigned long cp;
			size_t n = utf8_seq_len(p + j, len - j, &cp);
			if (n == 0) {
				out->len = start;
				if (out->buf != NULL)
					out->buf[start] = '\0';
				errno = EILSEQ;
				return -1;
			}
			j += n;
		}
		mutf7_run(p + i, j - i, out);
		i = j;
	}
	return 0;
}

static int
b64_value(unsigned char c)
{
	const char *q = c != '\0' ? strchr(b64, c) : NULL;

	return q == NULL ? -1 : (int)(q - b64);
}

/* Append code point cp as UTF-8. */
static void
utf8_put(unsigned long cp, struct strbuf *out)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp; n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | (cp >> 6)); b[1] = (char)(0x80 | (cp & 0x3F)); n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | (cp >> 12)); b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
	} else {
		b[0] = (char)(0xF0 | (cp >> 18)); b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); b[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
	}
	sb_append(out, b, n);
}

/* Decode the base64 of one run (between '&' and '-'); 0 or -1. */
static int
mutf7_decode_run(const unsigned char *s, size_t len, struct strbuf *out)
{
	uint32_t bits = 0;
	int nbits = 0;
	unsigned long hi = 0;

	for (size_t i = 0; i < len; i++) {
		int v = b64_value(s[i]);
		if (v < 0)
			return -1;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		unsigned long u = (bits >> nbits) & 0xFFFF;
		if (hi != 0) {
			if (u < 0xDC00 || u > 0xDFFF)
				return -1;
			utf8_put(0x10000 + ((hi - 0xD800) << 10) + (u - 0xDC00), out);
			hi = 0;
		} else if (u >= 0xD800 && u <= 0xDBFF) {
			hi = u;
		} else if ((u >= 0xDC00 && u <= 0xDFFF) || (u >= 0x20 && u <= 0x7E)) {
			return -1;      /* lone low surrogate; printable ASCII must be literal */
		} else {
			utf8_put(u, out);
		}
	}
	if (hi != 0 || nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0)
		return -1;
	return 0;
}

int
mutf7_decode(const char *s, size_t len, struct strbuf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t start = out->len, i = 0;

	while (i < len) {
		if (p[i] < 0x20 || p[i] > 0x7E)
			goto bad;
		if (p[i] != '&') {
			sb_appendc(out, (char)p[i++]);
			continue;
		}
		const unsigned char *dash = memchr(p + i + 1, '-', len - i - 1);
		if (dash == NULL)
			goto bad;
		size_t rl = (size_t)(dash - (p + i + 1));
		if (rl == 0)
			sb_appendc(out, '&');
		else if (mutf7_decode_run(p + i + 1, rl, out) == -1)
			goto bad;
		i += rl + 2;
	}
	return 0;
bad:
	out->len = start;
	if (out->buf != NULL)
		out->buf[start] = '\0';
	errno = EILSEQ;
	return -1;
}

/* ---- the escape ---------------------------------------------------------- */

static bool
needs_escape(unsigned char c, bool first)
{
	return c < 0x20 || c == 0x7F || c == '.' || c == '/' || c == '&' ||
	       c == '%' || (first && c == '~');
}

static void
put_escape(unsigned char c, struct strbuf *out)
{
	char e[3] = { '%', hexdig[c >> 4], hexdig[c & 0x0F] };

	sb_append(out, e, 3);
}

static bool
is_dot_name(const char *s, size_t len)
{
	return (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.');
}

/* Escape and encode without the validity checks (used for prefixes). */
static void
encode_component_raw(const char *s, size_t len, enum folder_charset cs, struct strbuf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		if (p[i] < 0x80) {
			if (needs_escape(p[i], i == 0))
				put_escape(p[i], out);
			else
				sb_appendc(out, (char)p[i]);
			i++;
			continue;
		}
		/* a run of valid non-ASCII characters other than C1 controls */
		size_t j = i;
		unsigned long cp;
		size_t n;
		while (j < len && p[j] >= 0x80 &&
		       (n = utf8_seq_len(p + j, len - j, &cp)) != 0 && cp >= 0xA0)
			j += n;
		if (j == i) {
			put_escape(p[i], out);  /* invalid UTF-8 byte or C1 control */
			i++;
			continue;
		}
		if (cs == FOLDER_MUTF7)
			mutf7_run(p + i, j - i, out);
		else
			sb_append(out, p + i, j - i);
		i = j;
	}
}

int
folder_encode_component(const char *s, size_t len, enum folder_charset cs, struct strbuf *out)
{
	if (len == 0 || is_dot_name(s, len)) {
		errno = EINVAL;
		return -1;
	}
	encode_component_raw(s, len, cs, out);
	return 0;
}

int
folder_decode_component(const char *s, size_t len, enum folder_charset cs,
                        struct strbuf *out, unsigned *odd_r)
{
	struct strbuf t = STRBUF_INIT;
	const unsigned char *p = (const unsigned char *)s;
	size_t start = out->len;
	unsigned odd = 0;

	/* undo UTF-7 runs; anything that is not a valid run stays as it is */
	for (size_t i = 0; i < len;) {
		const unsigned char *dash = cs == FOLDER_MUTF7 && p[i] == '&' ?
			memchr(p + i + 1, '-', len - i - 1) : NULL;
		if (dash != NULL) {
			size_t rl = (size_t)(dash - (p + i + 1));
			size_t keep = t.len;
			if (rl == 0) {
				sb_appendc(&t, '&');
				i += 2;
				continue;
			}
			if (mutf7_decode_run(p + i + 1, rl, &t) == 0) {
				i += rl + 2;
				continue;
			}
			t.len = keep;
			odd++;
		} else if (cs == FOLDER_MUTF7 && p[i] == '&') {
			odd++;
		}
		sb_appendc(&t, (char)p[i++]);
	}
	/* undo the escape */
	for (size_t i = 0; i < t.len;) {
		uint64_t c;
		if (t.buf[i] == '%' && i + 2 < t.len && hex_decode(t.buf + i + 1, 2, &c) == 2) {
			sb_appendc(out, (char)c);
			i += 3;
			continue;
		}
		if (t.buf[i] == '%')
			odd++;
		sb_appendc(out, t.buf[i++]);
	}
	sb_free(&t);
	if (odd_r != NULL)
		*odd_r += odd;
	if (out->len == start || is_dot_name(out->buf + start, out->len - start)) {
		out->len = start;
		if (out->buf != NULL)
			out->buf[start] = '\0';
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* ---- whole paths --------------------------------------------------------- */

/* Encode every component of path (no checks), joined with sep. */
static void
encode_path_raw(const char *path, size_t len, char sep, enum folder_charset cs, struct strbuf *out)
{
	size_t s = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		if (s > 0)
			sb_appendc(out, sep);
		encode_component_raw(path + s, i - s, cs, out);
		s = i + 1;
	}
}

/*
 * Shorten: the encoding of the longest prefix of src (cut at a character
 * boundary) that leaves room for "%%" + 16 hex digits, then that suffix.
 */
static void
shorten(const char *src, size_t len, char sep, enum folder_charset cs, size_t limit,
        struct strbuf *out)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t base = out->len, cut = len > 4 * limit ? 4 * limit : len;
	char suffix[19];

	snprintf(suffix, sizeof(suffix), "%%%%%016llx", (unsigned long long)XXH3_64bits(src, len));
	for (;;) {
		/* back up to a character boundary */
		while (cut > 0 && cut < len && (p[cut] & 0xC0) == 0x80)
			cut--;
		out->len = base;
		encode_path_raw(src, cut, sep, cs, out);
		if (out->len - base + 18 <= limit || cut == 0)
			break;
		cut--;
	}
	if (out->len - base + 18 > limit)
		out->len = base;
	sb_append(out, suffix, 18);
}

int
folder_encode(const char *path, size_t len, enum folder_layout layout,
              enum folder_charset cs, struct strbuf *out)
{
	char sep = layout == FOLDER_FS ? '/' : '.';
	int shortened = 0;

	sb_reset(out);
	if (len > 0 && path[0] == '/') {
		path++;
		len--;
	}
	if (len > 0 && path[len - 1] == '/')
		len--;
	if (len == 0)
		goto inval;
	for (size_t s = 0, i = 0; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		if (i == s || is_dot_name(path + s, i - s))
			goto inval;
		if (layout == FOLDER_FS) {
			if (s > 0)
				sb_appendc(out, '/');
			size_t c0 = out->len;
			encode_component_raw(path + s, i - s, cs, out);
			if (out->len - c0 > FOLDER_COMPONENT_MAX) {
				out->len = c0;
				shorten(path + s, i - s, '/', cs, FOLDER_COMPONENT_MAX, out);
				shortened = 1;
			}
		}
		s = i + 1;
	}
	if (layout == FOLDER_MAILDIRPP) {
		encode_path_raw(path, len, sep, cs, out);
		if (out->len > FOLDER_NAME_MAX) {
			out->len = 0;
			shorten(path, len, sep, cs, FOLDER_NAME_MAX, out);
			shortened = 1;
		}
	}
	return shortened;
inval:
	sb_reset(out);
	errno = EINVAL;
	return -1;
}

int
folder_decode(const char *name, size_t len, enum folder_layout layout,
              enum folder_charset cs, struct strbuf *out, unsigned *odd_r)
{
	char sep = layout == FOLDER_FS ? '/' : '.';

	sb_reset(out);
	if (odd_r != NULL)
		*odd_r = 0;
	if (len == 0)
		goto inval;
	for (size_t s = 0, i = 0; i <= len; i++) {
		if (i < len && name[i] != sep)
			continue;
		if (s > 0)
			sb_appendc(out, '/');
		size_t c0 = out->len;
		if (folder_decode_component(name + s, i - s, cs, out, odd_r) == -1)
			goto inval;
		if (memchr(out->buf + c0, '/', out->len - c0) != NULL)
			goto inval;
		s = i + 1;
	}
	return 0;
inval:
	sb_reset(out);
	errno = EINVAL;
	return -1;
}
