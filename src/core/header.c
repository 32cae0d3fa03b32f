/*
 * header.c: RFC 5322 header blocks as byte arrays with lengths
 * (SPEC §3.1-3.4, §3.6, §3.8, §3.9).
 *
 * The header ends at the first truly empty line (LF or CR LF); a line of
 * white space continues the field before it (§3.2, §3.3). Lines that are
 * neither a field nor a continuation are skipped by lookups and counted
 * (§3.3). Names compare case-insensitively; `Subject : x` is field
 * `Subject` (obsolete syntax). A NUL byte is data; for matching it behaves
 * like SP (§3.4). Message-ID extraction follows the dedup rule of §3.6,
 * address extraction §3.9, and RFC 2047 decoding §3.8 (lenient, for
 * display only: iconv(3) converts charsets to UTF-8, raw bytes that are
 * not UTF-8 are read as Windows-1252).
 */
#include "config.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"
#include "util.h"

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

size_t
header_block_len(const char *buf, size_t len, bool *complete)
{
	size_t off = 0;

	while (off < len) {
		if (buf[off] == '\n' || (buf[off] == '\r' && off + 1 < len && buf[off + 1] == '\n')) {
			if (complete)
				*complete = true;
			return off + (buf[off] == '\n' ? 1 : 2);
		}
		const char *nl = memchr(buf + off, '\n', len - off);
		if (nl == NULL)
			break;
		off = (size_t)(nl - buf) + 1;
	}
	if (complete)
		*complete = false;
	return len;
}

/* ---- the field index of the reader's header --------------------------------
 *
 * A converted message's header is walked by several readers in turn (the
 * Content-Length rule, its mail client's flags and keywords, its UID state,
 * the duplicate key, the fields a conversion drops, the sender of its From_
 * line): a pass each, a memchr() per line. The reader that hands the header
 * out pins it (header_index_pin: its bytes stay as they are until the next
 * pin or a drop), and the fields of that one block are kept as offsets as
 * walks find them: a walk reads the fields found before and goes on line by
 * line past them, adding what it finds, so the first walk costs no more
 * than a line-by-line one and each later one no memchr(). Any other block
 * is walked line by line: no hash, no lookup. An iterator that outlives its
 * pin (the reader moved on inside its loop) carries on line by line from
 * where it is.
 */
struct hx_field {
	uint32_t name, name_len, value, value_len, line, line_len;
	uint32_t next;                  /* it->p after this field */
	unsigned malformed;             /* it->malformed after this field */
};

struct hx_block {
	const char *hdr;                /* NULL: nothing pinned */
	size_t len;
	unsigned long gen;              /* changes with every pin and drop */
	struct hx_field *v;             /* the first n fields */
	size_t n, cap;
	bool complete;                  /* v holds them all */
	unsigned malformed;             /* it->malformed at the end, when complete */
	uint64_t names[4];              /* its field names (name_bits) */
};

static struct hx_block hx;

/* out of line: the index's path stays a leaf that saves no registers */
static bool iter_step(struct header_iter *it, struct header_field *f) __attribute__((noinline));

void
header_index_pin(const char *hdr, size_t len)
{
	hx.hdr = len < UINT32_MAX ? hdr : NULL;
	hx.len = len;
	hx.n = 0;
	hx.complete = false;
	memset(hx.names, 0, sizeof hx.names);
	hx.gen++;
}

void
header_index_drop(void)
{
	header_index_pin(NULL, 0);
}

void
header_iter_init(struct header_iter *it, const char *hdr, size_t len)
{
	it->p = hdr;
	it->end = hdr + len;
	it->malformed = 0;
	it->base = hdr;
	it->ix = NULL;
	if (hdr == NULL || hdr != hx.hdr || len != hx.len)
		return;                 /* line by line */
	it->ix = &hx;
	it->gen = hx.gen;
	it->ixi = 0;
}

/* End of the line starting at p: the byte after its LF, or end. */
static const char *
line_end(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	return nl ? nl + 1 : end;
}

static bool
line_is_empty(const char *p, const char *end)
{
	return (p < end && *p == '\n') || (end - p >= 2 && p[0] == '\r' && p[1] == '\n');
}

/* Length of a field name at p, up to the ':' (white space before the colon
 * allowed), with *colon_r set to the colon; 0 when the line is no field. */
static size_t
field_name(const char *p, const char *eol, const char **colon_r)
{
	const char *q = p;

	while (q < eol && (unsigned char)*q >= 33 && (unsigned char)*q <= 126 && *q != ':')
		q++;
	size_t n = (size_t)(q - p);
	while (q < eol && is_wsp(*q))
		q++;
	if (n == 0 || q == eol || *q != ':')
		return 0;
	*colon_r = q;
	return n;
}

/* Two of 256 bits (a Bloom filter, k = 2) for a field name (n > 0), the
 * same for every spelling that mem_ieq() finds equal (letters folded with
 * | 0x20, other bytes as they are, so equal names fold the same): from its
 * length and four of its bytes, in a few steps whatever its length. The
 * two bits are h >> 24 and (h >> 16) & 255. */
static inline uint32_t
name_bits(const char *name, size_t n)
{
	const unsigned char *u = (const unsigned char *)name;
	uint32_t v = (uint32_t)(u[0] | 0x20) | (uint32_t)(u[n / 2] | 0x20) << 8 |
	    (uint32_t)(u[n - 1] | 0x20) << 16 | (uint32_t)(u[n > 1 ? n - 2 : 0] | 0x20) << 24;
	uint32_t h = (v ^ (uint32_t)n * 0x9e3779b1u) * 0x85ebca6bu;
	return (h ^ h >> 13) * 0xc2b2ae35u;
}

static inline bool
names_test(uint32_t h)
{
	unsigned a = h >> 24, b = (h >> 16) & 255;
	return ((hx.names[a >> 6] >> (a & 63)) & (hx.names[b >> 6] >> (b & 63)) & 1) != 0;
}

static inline void
names_set(uint32_t h)
{
	unsigned a = h >> 24, b = (h >> 16) & 255;
	hx.names[a >> 6] |= (uint64_t)1 << (a & 63);
	hx.names[b >> 6] |= (uint64_t)1 << (b & 63);
}

/* Past the fields the pinned block's index holds (it->p is where they
 * end): the next one line by line, kept. */
static bool __attribute__((noinline))
hx_extend(struct header_iter *it, struct header_field *f)
{
	const char *base = it->base;

	if (hx.complete) {
		it->p = it->end;
		it->malformed = hx.malformed;
		return false;
	}
	if (!iter_step(it, f)) {
		hx.complete = true;
		hx.malformed = it->malformed;
		return false;
	}
	if (hx.n == hx.cap) {
		hx.cap = hx.cap ? hx.cap * 2 : 64;
		hx.v = xrealloc(hx.v, hx.cap * sizeof *hx.v);
	}
	hx.v[hx.n++] = (struct hx_field){
		(uint32_t)(f->name - base), (uint32_t)f->name_len,
		(uint32_t)(f->value - base), (uint32_t)f->value_len,
		(uint32_t)(f->line - base), (uint32_t)f->line_len,
		(uint32_t)(it->p - base), it->malformed };
	names_set(name_bits(f->name, f->name_len));
	it->ixi++;
	return true;
}

bool
header_may_have(const char *hdr, size_t len, const char *name, size_t n)
{
	if (hdr == NULL || hdr != hx.hdr || len != hx.len)
		return true;            /* not the pinned block: walk it */
	if (!hx.complete) {
		struct header_iter it;
		struct header_field f;
		header_iter_init(&it, hdr, len);
		while (header_iter_next(&it, &f))
			;
	}
	return n == 0 || names_test(name_bits(name, n));
}

bool
header_iter_next(struct header_iter *it, struct header_field *f)
{
	size_t i = it->ixi;

	if (it->ix != &hx || hx.gen != it->gen) {
		it->ix = NULL;          /* none, or its pin is gone: line by line */
		return iter_step(it, f);
	}
	if (i >= hx.n)
		return hx_extend(it, f);
	const struct hx_field *x = &hx.v[i];
	const char *base = it->base;
	it->ixi = i + 1;
	f->name = base + x->name;
	f->name_len = x->name_len;
	f->value = base + x->value;
	f->value_len = x->value_len;
	f->line = base + x->line;
	f->line_len = x->line_len;
	it->p = base + x->next;
	it->malformed = x->malformed;
	return true;
}

/* One field of a walk line by line. */
static bool
iter_step(struct header_iter *it, struct header_field *f)
{
	while (it->p < it->end && !line_is_empty(it->p, it->end)) {
		const char *start = it->p, *eol = line_end(start, it->end);
		const char *colon = NULL;
		size_t n = field_name(start, eol, &colon);

		/* the field (or the malformed line) takes its continuations */
		const char *last = eol;
		while (last < it->end && is_wsp(*last))
			last = line_end(last, it->end);
		it->p = last;
		if (n == 0) {
			it->malformed++;
			continue;
		}
		const char *vend = last;
		if (vend > start && vend[-1] == '\n') {
			vend--;
			if (vend > colon && vend[-1] == '\r')
				vend--;
		}
		f->name = start;
		f->name_len = n;
		f->value = colon + 1;
		f->value_len = (size_t)(vend - (colon + 1));
		f->line = start;
		f->line_len = (size_t)(last - start);
		return true;
	}
	it->p = it->end;
	return false;
}

bool
header_find(const char *hdr, size_t len, const char *name, struct header_field *f)
{
	struct header_iter it;
	size_t n = strlen(name);

	if (!header_may_have(hdr, len, name, n))
		return false;
	header_iter_init(&it, hdr, len);
	while (header_iter_next(&it, f))
		if (f->name_len == n && mem_ieq(f->name, name, n))
			return true;
	return false;
}

size_t
header_count(const char *hdr, size_t len, const char *name)
{
	struct header_iter it;
	struct header_field f;
	size_t n = strlen(name), count = 0;

	if (!header_may_have(hdr, len, name, n))
		return 0;
	header_iter_init(&it, hdr, len);
	while (header_iter_next(&it, &f))
		if (f.name_len == n && mem_ieq(f.name, name, n))
			count++;
	return count;
}

size_t
header_filter(const char *hdr, size_t len, header_drop_fn drop, void *arg,
    void (*emit)(void *ctx, const char *p, size_t n), void *ctx)
{
	struct header_iter it;
	struct header_field f;
	const char *copied = hdr;
	size_t dropped = 0;

	header_iter_init(&it, hdr, len);
	while (header_iter_next(&it, &f)) {
		if (!drop(&f, arg))
			continue;
		if (f.line > copied)
			emit(ctx, copied, (size_t)(f.line - copied));
		copied = f.line + f.line_len;
		dropped++;
	}
	if (hdr + len > copied)
		emit(ctx, copied, (size_t)(hdr + len - copied));
	return dropped;
}

static void
emit_sb(void *ctx, const char *p, size_t n)
{
	sb_append(ctx, p, n);
}

size_t
header_filter_sb(const char *hdr, size_t len, header_drop_fn drop, void *arg,
    struct strbuf *out)
{
	sb_reset(out);
	return header_filter(hdr, len, drop, arg, emit_sb, out);
}

void
header_unfold(const char *value, size_t len, struct strbuf *out)
{
	size_t i = 0, e = len;

	sb_reset(out);
	sb_grow(out, len);
	for (size_t k = 0; k < len; k++) {
		char c = value[k];
		if (c == '\r' && k + 2 < len && value[k + 1] == '\n' && is_wsp(value[k + 2])) {
			k++;
			continue;
		}
		if (c == '\n' && k + 1 < len && is_wsp(value[k + 1]))
			continue;
		out->buf[out->len++] = c == '\0' ? ' ' : c;
	}
	out->buf[out->len] = '\0';
	/* trim */
	e = out->len;
	while (i < e && (is_wsp(out->buf[i]) || out->buf[i] == '\r' || out->buf[i] == '\n'))
		i++;
	while (e > i && (is_wsp(out->buf[e - 1]) || out->buf[e - 1] == '\r' || out->buf[e - 1] == '\n'))
		e--;
	memmove(out->buf, out->buf + i, e - i);
	out->len = e - i;
	out->buf[out->len] = '\0';
}

/* ------------------------------------------------------------------------
 * Message-ID (SPEC §3.6)
 */

/* Remove comments (nested, quoted-pairs) outside quoted strings, in place. */
static void
strip_comments(struct strbuf *sb)
{
	size_t o = 0;
	int depth = 0;
	bool quoted = false;

	for (size_t i = 0; i < sb->len; i++) {
		char c = sb->buf[i];
		if (depth > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		if (quoted && c == '\\' && i + 1 < sb->len) {
			sb->buf[o++] = c;
			sb->buf[o++] = sb->buf[++i];
			continue;
		}
		if (c == '"')
			quoted = !quoted;
		else if (c == '(' && !quoted) {
			depth = 1;
			continue;
		}
		sb->buf[o++] = c;
	}
	sb->len = o;
	sb->buf[o] = '\0';
}

/* The trimmed bytes [s, e) as one token containing '@'. */
static bool
single_token_at(const char *s, const char *e, struct strbuf *out)
{
	while (s < e && is_wsp(*s))
		s++;
	while (e > s && is_wsp(e[-1]))
		e--;
	if (s == e || memchr(s, '@', (size_t)(e - s)) == NULL)
		return false;
	for (const char *q = s; q < e; q++)
		if (is_wsp(*q))
			return false;
	sb_reset(out);
	sb_append(out, s, (size_t)(e - s));
	return true;
}

bool
header_message_id(const char *hdr, size_t len, struct strbuf *out)
{
	struct header_field f;
	struct strbuf v = STRBUF_INIT;
	bool ok = false;

	if (!header_find(hdr, len, "Message-ID", &f))
		return false;
	header_unfold(f.value, f.value_len, &v);
	strip_comments(&v);
	const char *s = v.buf, *e = v.buf + v.len;
	const char *lt = memchr(s, '<', v.len);
	if (lt != NULL) {
		const char *gt = memchr(lt + 1, '>', (size_t)(e - lt - 1));
		if (gt != NULL) {
			if (gt > lt + 1) {
				sb_reset(out);
				sb_append(out, lt + 1, (size_t)(gt - lt - 1));
				ok = true;
			}
		} else {
			ok = single_token_at(lt + 1, e, out);
		}
	} else {
		ok = single_token_at(s, e, out);
	}
	sb_free(&v);
	return ok;
}

/* ------------------------------------------------------------------------
 * addr-spec of the first mailbox (SPEC §3.9)
 */

struct addr_word {
	struct strbuf text;     /* the word being collected */
	bool at;                /* it holds an '@' outside quotes */
	bool sep;               /* white space or a comment since the last byte */
};

/* Skip a comment starting at p ('('); returns the byte after it. */
static const char *
skip_comment(const char *p, const char *end)
{
	int depth = 0;

	for (; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '(')
			depth++;
		else if (*p == ')' && --depth == 0)
			return p + 1;
	}
	return end;
}

/* Copy a quoted string starting at p ('"') into w; returns the byte after. */
static const char *
copy_quoted(const char *p, const char *end, struct strbuf *w)
{
	const char *s = p++;

	while (p < end && *p != '"') {
		if (*p == '\\' && p + 1 < end)
			p++;
		p++;
	}
	if (p < end)
		p++;
	sb_append(w, s, (size_t)(p - s));
	return p;
}

/*
 * One address-list element from p: returns true with the addr-spec in out
 * when it holds a mailbox; *next_r is where the next element starts. An
 * angle-addr wins over bare words; bare words are joined across white space
 * only around '.' and '@' (obsolete "local . part @ domain").
 */
static bool
addr_element(const char *p, const char *end, const char **next_r, struct strbuf *out, bool *empty_r)
{
	struct addr_word w = { STRBUF_INIT, false, false };
	bool found = false;

	*empty_r = false;
	while (p < end && *p != ',' && *p != ';' && *p != ':') {
		char c = *p;
		if (c == '(') {
			p = skip_comment(p, end);
			w.sep = true;
		} else if (is_wsp(c) || c == '\r' || c == '\n' || c == '\0') {
			p++;
			w.sep = true;
		} else if (c == '<') {
			const char *gt = p + 1;
			struct strbuf a = STRBUF_INIT;
			while (gt < end && *gt != '>') {
				if (*gt == '"')
					gt = copy_quoted(gt, end, &a);
				else if (*gt == '(')
					gt = skip_comment(gt, end);
				else if (is_wsp(*gt) || *gt == '\r' || *gt == '\n')
					gt++;
				else
					sb_appendc(&a, *gt++);
			}
			size_t skip = 0;
			const char *colon;
			if (a.len > 0 && a.buf[0] == '@' && (colon = memchr(a.buf, ':', a.len)) != NULL)
				skip = (size_t)(colon + 1 - a.buf);  /* obsolete route <@relay:l@d> */
			sb_reset(out);
			sb_append(out, a.len ? a.buf + skip : "", a.len - skip);
			*empty_r = out->len == 0;
			found = true;
			sb_free(&a);
			p = gt < end ? gt + 1 : end;
			/* the element ends at the next delimiter */
			while (p < end && *p != ',' && *p != ';')
				p = *p == '(' ? skip_comment(p, end) : p + 1;
			break;
		} else {
			bool joins = w.text.len > 0 && (w.text.buf[w.text.len - 1] == '.' ||
			    w.text.buf[w.text.len - 1] == '@' || c == '.' || c == '@');
			if (w.sep && !joins) {
				if (w.at && !found)
					break;   /* a complete address followed by more words */
				sb_reset(&w.text);
				w.at = false;
			}
			w.sep = false;
			if (c == '"') {
				p = copy_quoted(p, end, &w.text);
			} else {
				if (c == '@')
					w.at = true;
				sb_appendc(&w.text, c);
				p++;
			}
		}
	}
	if (!found && w.at) {
		sb_reset(out);
		sb_append(out, w.text.buf, w.text.len);
		found = true;
		while (p < end && *p != ',' && *p != ';')
			p = *p == '(' ? skip_comment(p, end) : p + 1;
	}
	sb_free(&w.text);
	*next_r = p < end ? p + 1 : end;
	return found;
}

bool
header_addr_spec(const char *value, size_t len, bool lower, struct strbuf *out)
{
	const char *p = value, *end = value + len;
	struct strbuf tmp = STRBUF_INIT;
	bool ok = false;

	while (p < end && !ok) {
		bool empty;
		const char *next;
		if (addr_element(p, end, &next, &tmp, &empty) &&
		    (empty || memchr(tmp.buf, '@', tmp.len) != NULL))
			ok = true;
		p = next;
	}
	if (ok) {
		sb_reset(out);
		sb_append(out, tmp.buf ? tmp.buf : "", tmp.len);
		if (lower)
			for (size_t i = 0; i < out->len; i++)
				if (out->buf[i] >= 'A' && out->buf[i] <= 'Z')
					out->buf[i] = (char)(out->buf[i] + 32);
	}
	sb_free(&tmp);
	return ok;
}

/* ------------------------------------------------------------------------
 * RFC 2047 (SPEC §3.8) and raw bytes as UTF-8 or Windows-1252 (SPEC §3.4)
 */

/* Windows-1252 0x80..0x9F; 0 where the code page has no character. */
static const unsigned short cp1252_high[32] = {
	0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
	0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
};

static void
put_utf8(struct strbuf *out, unsigned cp)
{
	char b[3];

	if (cp < 0x80) {
		sb_appendc(out, (char)cp);
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3F));
		sb_append(out, b, 2);
	} else {
		b[0] = (char)(0xE0 | cp >> 12);
		b[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		sb_append(out, b, 3);
	}
}

/* Length of a valid UTF-8 sequence at p (1..4), or 0. */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t k;
	unsigned min;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		k = 2, min = 0x80;
	else if (c >= 0xE0 && c <= 0xEF)
		k = 3, min = 0x800;
	else if (c >= 0xF0 && c <= 0xF4)
		k = 4, min = 0x10000;
	else
		return 0;
	if (n < k)
		return 0;
	unsigned cp = c & (0x7F >> k);
	for (size_t i = 1; i < k; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return k;
}

/* Append raw header bytes: valid UTF-8 as is, other bytes as Windows-1252. */
static void
append_raw(struct strbuf *out, const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;

	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && u[j] < 0x80)
			j++;
		if (j > i) {                    /* a run of ASCII at once */
			sb_append(out, p + i, j - i);
			i = j;
			continue;
		}
		size_t k = utf8_seq(u + i, n - i);
		if (k > 0) {
			sb_append(out, p + i, k);
			i += k;
			continue;
		}
		unsigned cp = u[i] >= 0xA0 ? u[i] : cp1252_high[u[i] - 0x80];
		put_utf8(out, cp ? cp : 0xFFFD);
		i++;
	}
}

static bool
decode_q(const char *p, size_t n, struct strbuf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '_') {
			sb_appendc(out, ' ');
		} else if (p[i] == '=') {
			uint64_t c;
			if (i + 2 >= n || hex_decode(p + i + 1, 2, &c) != 2)
				return false;
			sb_appendc(out, (char)c);
			i += 2;
		} else {
			sb_appendc(out, p[i]);
		}
	}
	return true;
}

static int
b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Base64 without requiring the padding. */
static bool
decode_b(const char *p, size_t n, struct strbuf *out)
{
	unsigned acc = 0;
	int bits = 0, chars = 0;

	while (n > 0 && p[n - 1] == '=')
		n--;
	for (size_t i = 0; i < n; i++) {
		int v = b64_value(p[i]);
		if (v < 0)
			return false;
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		chars++;
		if (bits >= 8) {
			bits -= 8;
			sb_appendc(out, (char)(acc >> bits & 0xFF));
		}
	}
	return chars % 4 != 1;
}

struct eword {
	const char *start, *end;       /* the whole "=?...?=" */
	const char *cs;                /* charset without an RFC 2231 language */
	size_t cs_len;
	char enc;                      /* 'B' or 'Q' */
	const char *text;
	size_t text_len;
};

/* An encoded word at p ("=?"), shape only. */
static bool
eword_parse(const char *p, const char *end, struct eword *w)
{
	const char *q = p + 2, *cs = q;

	while (q < end && *q != '?' && !is_wsp(*q) && *q != '\r' && *q != '\n')
		q++;
	if (q == cs || q + 3 > end || *q != '?' || q[2] != '?')
		return false;
	char e = q[1];
	if (e != 'B' && e != 'b' && e != 'Q' && e != 'q')
		return false;
	const char *t = q + 3, *te = t;
	while (te < end && *te != '?' && !is_wsp(*te) && *te != '\r' && *te != '\n')
		te++;
	if (te + 1 >= end || te[0] != '?' || te[1] != '=')
		return false;
	const char *star = memchr(cs, '*', (size_t)(q - cs));
	w->start = p;
	w->end = te + 2;
	w->cs = cs;
	w->cs_len = (size_t)((star ? star : q) - cs);
	w->enc = (e == 'b' || e == 'B') ? 'B' : 'Q';
	w->text = t;
	w->text_len = (size_t)(te - t);
	return w->cs_len > 0;
}

/* Convert bytes in charset cs to UTF-8; false for an unknown charset or
 * invalid input (out is then unchanged). */
static bool
charset_convert(const char *cs, size_t cs_len, const char *in, size_t n, struct strbuf *out)
{
	char name[64];

	if (cs_len >= sizeof name)
		return false;
	memcpy(name, cs, cs_len);
	name[cs_len] = '\0';
	iconv_t cd = iconv_open("UTF-8", name);
	if (cd == (iconv_t)-1)
		return false;
	size_t start = out->len;
	char *ip = (char *)(uintptr_t)in;
	size_t il = n;
	bool ok = true;
	while (ok) {
		sb_grow(out, il * 4 + 16);
		char *op = out->buf + out->len;
		size_t ol = out->cap - out->len - 1, before = ol;
		size_t r = il > 0 ? iconv(cd, &ip, &il, &op, &ol) : iconv(cd, NULL, NULL, &op, &ol);
		out->len += before - ol;
		if (r != (size_t)-1) {
			if (il == 0 && ip != NULL) {
				ip = NULL;           /* flush the shift state next */
				continue;
			}
			break;
		}
		if (errno != E2BIG)
			ok = false;
	}
	iconv_close(cd);
	if (!ok)
		out->len = start;
	out->buf[out->len] = '\0';
	return ok;
}

/* Convert the joined bytes of a run of adjacent words with one charset
 * (so characters split across words come out whole); on failure keep the
 * run's raw text and count its words. */
static void
flush_run(const struct eword *first, const struct eword *last, unsigned nwords,
    const struct strbuf *bytes, struct strbuf *out, unsigned *bad_r)
{
	if (charset_convert(first->cs, first->cs_len, bytes->buf ? bytes->buf : "",
	    bytes->len, out))
		return;
	append_raw(out, first->start, (size_t)(last->end - first->start));
	if (bad_r)
		*bad_r += nwords;
}

void
header_decode_2047(const char *value, size_t len, struct strbuf *out, unsigned *bad_r)
{
	const char *p = value, *end = value + len, *text = value;
	struct strbuf bytes = STRBUF_INIT, word = STRBUF_INIT;
	struct eword first, last, w;
	unsigned nwords = 0;

	sb_reset(out);
	sb_grow(out, len);
	if (bad_r)
		*bad_r = 0;
	while (p + 1 < end) {
		if (p[0] != '=') {
			const char *eq = memchr(p, '=', (size_t)(end - p));
			p = eq ? eq : end;
			continue;
		}
		if (!(p[1] == '?' && eword_parse(p, end, &w))) {
			p++;
			continue;
		}
		const char *q = text;
		while (q < p && (is_wsp(*q) || *q == '\r' || *q == '\n'))
			q++;
		bool adjacent = nwords > 0 && q == p;   /* only white space between */
		sb_reset(&word);
		bool ok = w.enc == 'B' ? decode_b(w.text, w.text_len, &word)
		    : decode_q(w.text, w.text_len, &word);
		if (nwords > 0 && !(ok && adjacent && w.cs_len == first.cs_len &&
		    mem_ieq(w.cs, first.cs, w.cs_len))) {
			flush_run(&first, &last, nwords, &bytes, out, bad_r);
			nwords = 0;
		}
		if (!ok) {                      /* bad data: the word stays as it is */
			append_raw(out, text, (size_t)(w.end - text));
			if (bad_r)
				(*bad_r)++;
			p = text = w.end;
			continue;
		}
		if (nwords == 0) {
			if (!adjacent)
				append_raw(out, text, (size_t)(p - text));
			first = w;
			sb_reset(&bytes);
		}
		sb_append(&bytes, word.buf, word.len);
		last = w;
		nwords++;
		p = text = w.end;
	}
	if (nwords > 0)
		flush_run(&first, &last, nwords, &bytes, out, bad_r);
	append_raw(out, text, (size_t)(end - text));
	sb_free(&bytes);
	sb_free(&word);
}
