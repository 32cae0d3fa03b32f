/*
 * mime.c: the streaming "has attachments" scanner of mime.h (SPEC §3.5,
 * RFC 2045, RFC 2046 §5.1, RFC 2183, RFC 2231).
 *
 * Lines are assembled across chunks in a fixed buffer; a line longer than
 * MIME_LINE_MAX is never a boundary line (delimiters are at most 70 bytes
 * plus "--", "--" and trailing white space). Part headers are collected
 * up to their empty line and judged with mime_part_is_attachment(). Nested
 * multiparts push their boundary; a delimiter of an outer level closes the
 * inner ones (RFC 2046 §5.1.2: a missing close delimiter is tolerated).
 */
#include "config.h"

#include <string.h>

#include "header.h"
#include "mime.h"

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Trim white space from both ends of [*p, *p + *n). */
static void
trim(const char **p, size_t *n)
{
	while (*n > 0 && is_wsp(**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && is_wsp((*p)[*n - 1]))
		(*n)--;
}

/* Does parameter name [s, s+n) stand for `name` (plain or RFC 2231)? */
static bool
param_name_is(const char *s, size_t n, const char *name)
{
	size_t k = strlen(name);

	if (n < k || !mem_ieq(s, name, k))
		return false;
	if (n == k)
		return true;
	return s[k] == '*';
}

bool
mime_param(const char *value, size_t len, const char *name, struct strbuf *out)
{
	const char *p = value, *end = value + len;
	bool in_quote = false;

	/* skip the type or disposition token */
	while (p < end && (*p != ';' || in_quote)) {
		if (*p == '"')
			in_quote = !in_quote;
		p++;
	}
	while (p < end) {
		p++;    /* the ';' */
		const char *n0 = p;
		while (p < end && *p != '=' && *p != ';')
			p++;
		const char *ns = n0;
		size_t nl = (size_t)(p - n0);
		trim(&ns, &nl);
		if (p >= end || *p == ';')
			continue;
		p++;    /* the '=' */
		while (p < end && is_wsp(*p))
			p++;
		bool want = param_name_is(ns, nl, name);
		if (want)
			sb_reset(out);
		if (p < end && *p == '"') {
			for (p++; p < end && *p != '"'; p++) {
				if (*p == '\\' && p + 1 < end)
					p++;
				if (want)
					sb_appendc(out, *p);
			}
			while (p < end && *p != ';')
				p++;
		} else {
			const char *v0 = p;
			while (p < end && *p != ';')
				p++;
			size_t vl = (size_t)(p - v0);
			trim(&v0, &vl);
			if (want)
				sb_append(out, v0, vl);
		}
		if (want) {
			if (out->buf == NULL)
				sb_append(out, "", 0);
			return true;
		}
	}
	return false;
}

/* The lower-cased first token of a structured value into buf (NUL-ended). */
static void
first_token(const char *v, size_t len, char *buf, size_t size)
{
	const char *p = v;
	size_t n = 0;

	while (p < v + len && *p != ';')
		p++;
	n = (size_t)(p - v);
	trim(&v, &n);
	if (n >= size)
		n = size - 1;
	for (size_t i = 0; i < n; i++)
		buf[i] = (v[i] >= 'A' && v[i] <= 'Z') ? (char)(v[i] + 32) : v[i];
	buf[n] = '\0';
}

bool
mime_part_is_attachment(const char *hdr, size_t len, bool *text_seen, struct strbuf *boundary_r)
{
	struct header_field f;
	struct strbuf ct = STRBUF_INIT, cd = STRBUF_INIT, tmp = STRBUF_INIT;
	char type[64] = "text/plain", disp[32] = "";
	bool att = false;

	sb_reset(boundary_r);
	if (header_find(hdr, len, "Content-Type", &f)) {
		header_unfold(f.value, f.value_len, &ct);
		if (ct.len > 0)
			first_token(ct.buf, ct.len, type, sizeof type);
	}
	if (strncmp(type, "multipart/", 10) == 0) {
		if (ct.buf && mime_param(ct.buf, ct.len, "boundary", &tmp) && tmp.len > 0 &&
		    tmp.len < MIME_BOUNDARY_MAX)
			sb_append(boundary_r, tmp.buf, tmp.len);
		goto out;
	}
	if (header_find(hdr, len, "Content-Disposition", &f)) {
		header_unfold(f.value, f.value_len, &cd);
		if (cd.len > 0)
			first_token(cd.buf, cd.len, disp, sizeof disp);
	}
	bool is_att = strcmp(disp, "attachment") == 0;
	bool named = (cd.buf && mime_param(cd.buf, cd.len, "filename", &tmp)) ||
	    (ct.buf && mime_param(ct.buf, ct.len, "name", &tmp));
	if (!*text_seen && strncmp(type, "text/", 5) == 0 && !is_att) {
		*text_seen = true;
		goto out;
	}
	att = is_att || named;
out:
	sb_free(&ct);
	sb_free(&cd);
	sb_free(&tmp);
	return att;
}

void
mime_scan_init(struct mime_scan *s, const char *hdr, size_t len)
{
	struct strbuf b = STRBUF_INIT;

	memset(s, 0, sizeof *s);
	s->found = mime_part_is_attachment(hdr, len, &s->text_seen, &b);
	if (b.len > 0) {
		memcpy(s->bound[0], b.buf, b.len);
		s->bound_len[0] = b.len;
		s->depth = 1;
	}
	sb_free(&b);
}

/* End of a part header: judge it, push its boundary if multipart. */
static void
part_end(struct mime_scan *s)
{
	struct strbuf b = STRBUF_INIT;

	if (mime_part_is_attachment(s->part.buf ? s->part.buf : "", s->part.len, &s->text_seen, &b))
		s->found = true;
	if (b.len > 0 && s->depth < MIME_DEPTH_MAX) {
		memcpy(s->bound[s->depth], b.buf, b.len);
		s->bound_len[s->depth] = b.len;
		s->depth++;
	}
	sb_free(&b);
	sb_reset(&s->part);
	s->in_part_header = false;
}

static void
scan_line(struct mime_scan *s)
{
	const char *l = s->line;
	size_t n = s->line_len;

	if (n > 0 && l[n - 1] == '\r')
		n--;
	if (s->in_part_header) {
		if (n == 0) {
			part_end(s);
			return;
		}
		if (s->part.len + n + 1 <= MIME_PART_HEADER_MAX) {
			sb_append(&s->part, l, n);
			sb_appendc(&s->part, '\n');
		}
		return;
	}
	if (s->line_long || n < 3 || l[0] != '-' || l[1] != '-')
		return;
	for (int i = s->depth - 1; i >= 0; i--) {
		size_t bl = s->bound_len[i];
		if (n < 2 + bl || memcmp(l + 2, s->bound[i], bl) != 0)
			continue;
		const char *rest = l + 2 + bl;
		size_t rn = n - 2 - bl;
		bool close = rn >= 2 && rest[0] == '-' && rest[1] == '-';
		if (close) {
			rest += 2;
			rn -= 2;
		}
		trim(&rest, &rn);
		if (rn != 0)
			continue;      /* "--boundary-more": a longer boundary, not this one */
		s->depth = close ? i : i + 1;
		if (!close) {
			s->in_part_header = true;
			sb_reset(&s->part);
		}
		return;
	}
}

void
mime_scan_feed(struct mime_scan *s, const char *p, size_t n)
{
	if (s->found || s->depth == 0)
		return;
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;
		size_t room = MIME_LINE_MAX - s->line_len;
		if (take > room) {
			s->line_long = true;
			take = room;
		}
		memcpy(s->line + s->line_len, p, take);
		s->line_len += take;
		if (nl == NULL)
			return;
		scan_line(s);
		s->line_len = 0;
		s->line_long = false;
		n -= (size_t)(nl + 1 - p);
		p = nl + 1;
		if (s->found)
			return;
	}
}

bool
mime_scan_finish(struct mime_scan *s)
{
	if (!s->found && s->line_len > 0)
		scan_line(s);
	/* a part header cut off by the end of the message still counts */
	if (!s->found && s->in_part_header && s->part.len > 0)
		part_end(s);
	s->line_len = 0;
	return s->found;
}

void
mime_scan_free(struct mime_scan *s)
{
	sb_free(&s->part);
}
