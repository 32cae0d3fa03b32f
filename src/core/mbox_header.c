/*
 * mbox_header.c: editing the header block of a message as an mbox stores
 * it: the flag fields Status, X-Status and X-Keywords (SPEC §2.10), and any
 * one field set in place (Content-Length and Lines for mboxcl/mboxcl2,
 * SPEC §2.4; X-UID and X-IMAPbase). No I/O: used by the appender, by
 * convert and dedup before they write, and by uidstate. API in
 * mbox_writer.h.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "flags.h"
#include "mbox_writer.h"
#include "util.h"

/* ======================================================================
 * Header editing
 * ====================================================================== */

/* A field in a header block: [start, end) including its final LF. */
struct hspan {
	size_t start, end;
	size_t value;          /* first byte after ':' */
	size_t value_end;      /* before the final [CR]LF */
	bool crlf;
};

/* Where new fields go: before the empty line; its line ending. */
static size_t
hdr_insert_pos(const char *h, size_t len, bool *crlf_r)
{
	*crlf_r = false;
	if (len >= 1 && h[0] == '\n' && len == 1)
		return 0;
	if (len == 2 && h[0] == '\r' && h[1] == '\n') {
		*crlf_r = true;
		return 0;
	}
	if (len >= 4 && memcmp(h + len - 4, "\r\n\r\n", 4) == 0) {
		*crlf_r = true;
		return len - 2;
	}
	if (len >= 2 && h[len - 1] == '\n' && h[len - 2] == '\n')
		return len - 1;
	if (len >= 3 && memcmp(h + len - 3, "\n\r\n", 3) == 0)
		return len - 2;
	return len;              /* no empty line: the block is all header */
}

/* Next field starting at *pos; false at the empty line or the end. */
static bool
hdr_next(const char *h, size_t len, size_t *pos, struct hspan *f)
{
	size_t p = *pos;

	if (p >= len || h[p] == '\n' || (h[p] == '\r' && p + 1 < len && h[p + 1] == '\n'))
		return false;
	f->start = p;
	for (;;) {
		const char *lf = memchr(h + p, '\n', len - p);
		p = lf ? (size_t)(lf - h) + 1 : len;
		if (p >= len || (h[p] != ' ' && h[p] != '\t'))
			break;
	}
	f->end = p;
	f->value_end = p;
	f->crlf = false;
	if (p > f->start && h[p - 1] == '\n') {
		f->value_end--;
		if (f->value_end > f->start && h[f->value_end - 1] == '\r') {
			f->value_end--;
			f->crlf = true;
		}
	}
	const char *colon = memchr(h + f->start, ':', f->value_end - f->start);
	f->value = colon ? (size_t)(colon - h) + 1 : f->value_end;
	*pos = p;
	return true;
}

static bool
hdr_is(const char *h, const struct hspan *f, const char *name)
{
	size_t n = strlen(name);
	size_t e = f->value;

	if (e == f->value_end && (e == f->start || h[e - 1] != ':'))
		return false;      /* no colon: not a field */
	e--;                       /* the colon */
	while (e > f->start && (h[e - 1] == ' ' || h[e - 1] == '\t'))
		e--;
	return e - f->start == n && mem_ieq(h + f->start, name, n);
}

static bool
hdr_find(const char *h, size_t len, const char *name, struct hspan *f)
{
	size_t pos = 0;

	while (hdr_next(h, len, &pos, f))
		if (hdr_is(h, f, name))
			return true;
	return false;
}

/* Append "Name: value" + EOL, keeping the existing name spelling when f. */
static void
hdr_put_field(struct strbuf *out, const char *h, const struct hspan *f, const char *name,
	const char *value, size_t vlen, bool crlf)
{
	if (f)
		sb_append(out, h + f->start, f->value - f->start);
	else {
		sb_appends(out, name);
		sb_appendc(out, ':');
	}
	if (vlen > 0) {
		sb_appendc(out, ' ');
		sb_append(out, value, vlen);
	}
	sb_appends(out, crlf ? "\r\n" : "\n");
}

/* Add a field at the end of the block (before the empty line). */
static void
hdr_append_field(const char *h, size_t len, const char *name, const char *value,
	size_t vlen, struct strbuf *out)
{
	bool crlf;
	size_t at = hdr_insert_pos(h, len, &crlf);

	sb_reset(out);
	sb_append(out, h, at);
	if (at > 0 && h[at - 1] != '\n')
		sb_appends(out, crlf ? "\r\n" : "\n");
	hdr_put_field(out, h, NULL, name, value, vlen, crlf);
	sb_append(out, h + at, len - at);
}

bool
mbox_header_set_field(const char *hdr, size_t len, const char *name, const char *value,
	struct strbuf *out)
{
	struct hspan f;
	size_t pos = 0, copied = 0;
	bool done = false, changed = false;
	size_t vlen = strlen(value);

	sb_reset(out);
	while (hdr_next(hdr, len, &pos, &f)) {
		if (!hdr_is(hdr, &f, name))
			continue;
		sb_append(out, hdr + copied, f.start - copied);
		copied = f.end;
		if (done) {
			changed = true;       /* a duplicate goes */
			continue;
		}
		done = true;
		size_t mark = out->len;
		hdr_put_field(out, hdr, &f, name, value, vlen, f.crlf);
		if (out->len - mark != f.end - f.start ||
		    memcmp(out->buf + mark, hdr + f.start, f.end - f.start) != 0)
			changed = true;
	}
	if (!done) {
		hdr_append_field(hdr, len, name, value, vlen, out);
		return true;
	}
	sb_append(out, hdr + copied, len - copied);
	return changed;
}

/* The letters of a value as a set (white space ignored). */
static void
letter_set(const char *p, size_t n, uint8_t set[32])
{
	memset(set, 0, 32);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			set[c >> 3] |= (uint8_t)(1u << (c & 7));
	}
}

/* Does word w occur among the white-space separated words of [p, p+n)? */
static bool
word_in(const char *w, size_t wlen, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
			i++;
		size_t s = i;
		while (i < n && p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			i++;
		if (i > s && i - s == wlen && memcmp(p + s, w, wlen) == 0)
			return true;
	}
	return false;
}

/* Every word of a is in b and every word of b is in a. */
static bool
word_sets_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	for (int pass = 0; pass < 2; pass++) {
		size_t i = 0;
		while (i < alen) {
			while (i < alen && (a[i] == ' ' || a[i] == '\t' || a[i] == '\r' || a[i] == '\n'))
				i++;
			size_t s = i;
			while (i < alen && a[i] != ' ' && a[i] != '\t' && a[i] != '\r' && a[i] != '\n')
				i++;
			if (i > s && !word_in(a + s, i - s, b, blen))
				return false;
		}
		const char *t = a; a = b; b = t;
		size_t tl = alen; alen = blen; blen = tl;
	}
	return true;
}

/*
 * Set one flag field in `cur` (result in out): untouched when the value
 * already holds the same letters (or words), rewritten in place when not,
 * removed when the wanted value is empty, added at the end when absent.
 */
static bool
set_flag_field(const char *h, size_t len, const char *name, const char *want, bool words,
	struct strbuf *out)
{
	struct hspan f;
	size_t wlen = strlen(want);

	sb_reset(out);
	if (!hdr_find(h, len, name, &f)) {
		if (wlen == 0) {
			sb_append(out, h, len);
			return false;
		}
		hdr_append_field(h, len, name, want, wlen, out);
		return true;
	}
	const char *v = h + f.value;
	size_t vlen = f.value_end - f.value;
	bool same;
	if (words) {
		same = word_sets_equal(v, vlen, want, wlen);
	} else {
		uint8_t a[32], b[32];
		letter_set(v, vlen, a);
		letter_set(want, wlen, b);
		same = memcmp(a, b, 32) == 0;
	}
	if (same) {
		sb_append(out, h, len);
		return false;
	}
	sb_append(out, h, f.start);
	if (wlen > 0)
		hdr_put_field(out, h, &f, name, want, wlen, f.crlf);
	sb_append(out, h + f.end, len - f.end);
	return true;
}

/* The flag field values the message's state asks for; kw gets the keywords
 * and $Forwarded for MF_PASSED. */
static void
flag_values(uint32_t flags, bool old, const char *keywords, size_t kwlen, char status[4],
	char xstatus[8], struct strbuf *kw)
{
	flags_to_status(flags, old, status);
	flags_to_xstatus(flags, xstatus);
	if (keywords && kwlen > 0)
		sb_append(kw, keywords, kwlen);
	if ((flags & MF_PASSED) && !word_in("$Forwarded", 10, kw->buf ? kw->buf : "", kw->len)) {
		if (kw->len > 0)
			sb_appendc(kw, ' ');
		sb_appends(kw, "$Forwarded");
	}
}

bool
mbox_header_set_flags_stepwise(const char *hdr, size_t len, uint32_t flags, bool old,
	const char *keywords, size_t kwlen, struct strbuf *out)
{
	char status[4], xstatus[8];
	struct strbuf kw = STRBUF_INIT, a = STRBUF_INIT, b = STRBUF_INIT;
	bool changed = false;

	flag_values(flags, old, keywords, kwlen, status, xstatus, &kw);
	changed |= set_flag_field(hdr, len, "Status", status, false, &a);
	changed |= set_flag_field(a.buf, a.len, "X-Status", xstatus, false, &b);
	changed |= set_flag_field(b.buf, b.len, "X-Keywords", kw.buf ? kw.buf : "", true, out);
	sb_free(&kw);
	sb_free(&a);
	sb_free(&b);
	return changed;
}

/*
 * One walk finds the three fields. When each is either as wanted or absent,
 * the absent ones that need a value go in together where the stepwise edit
 * would have put them one after another (the end of the block, in the
 * order Status, X-Status, X-Keywords); a field to rewrite or remove takes
 * the stepwise edit.
 */
bool
mbox_header_set_flags(const char *hdr, size_t len, uint32_t flags, bool old,
	const char *keywords, size_t kwlen, struct strbuf *out)
{
	static const char *const names[3] = { "Status", "X-Status", "X-Keywords" };
	char status[4], xstatus[8];
	struct strbuf kw = STRBUF_INIT;
	struct hspan f, at[3];
	bool found[3] = { false, false, false }, add = false;
	size_t pos = 0;

	flag_values(flags, old, keywords, kwlen, status, xstatus, &kw);
	const char *want[3] = { status, xstatus, kw.buf ? kw.buf : "" };
	size_t wlen[3] = { strlen(status), strlen(xstatus), kw.len };
	while (hdr_next(hdr, len, &pos, &f))
		for (int i = 0; i < 3; i++)
			if (!found[i] && hdr_is(hdr, &f, names[i])) {
				found[i] = true;
				at[i] = f;
				break;
			}
	for (int i = 0; i < 3; i++) {
		if (!found[i]) {
			add |= wlen[i] > 0;
			continue;
		}
		const char *v = hdr + at[i].value;
		size_t vlen = at[i].value_end - at[i].value;
		bool same;
		if (i == 2) {
			same = word_sets_equal(v, vlen, want[i], wlen[i]);
		} else {
			uint8_t x[32], y[32];
			letter_set(v, vlen, x);
			letter_set(want[i], wlen[i], y);
			same = memcmp(x, y, 32) == 0;
		}
		if (!same) {
			sb_free(&kw);
			return mbox_header_set_flags_stepwise(hdr, len, flags, old, keywords, kwlen, out);
		}
	}
	sb_reset(out);
	if (!add) {
		sb_append(out, hdr, len);
		sb_free(&kw);
		return false;
	}
	bool crlf;
	size_t ins = hdr_insert_pos(hdr, len, &crlf);
	sb_append(out, hdr, ins);
	if (ins > 0 && hdr[ins - 1] != '\n')
		sb_appends(out, crlf ? "\r\n" : "\n");
	for (int i = 0; i < 3; i++)
		if (!found[i] && wlen[i] > 0)
			hdr_put_field(out, hdr, NULL, names[i], want[i], wlen[i], crlf);
	sb_append(out, hdr + ins, len - ins);
	sb_free(&kw);
	return true;
}
