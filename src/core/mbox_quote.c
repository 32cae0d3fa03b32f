/*
 * mbox_quote.c: what marks a message boundary in an mbox and keeps it one:
 * the quoting of body lines that look like a From_ line, per output variant
 * (SPEC §2.3), and the From_ line itself (SPEC §3.11, §5 O1). No I/O: the
 * appender (mbox_writer.c) feeds bodies through quote_feed(), callers
 * measure bodies with mbox_quote_measure(). API in mbox_writer.h.
 *
 * Quoting runs as a state machine over the body bytes so that a `From `
 * split across two chunks is quoted like any other, with only a count of
 * held-back '>' bytes and at most four bytes of "From" as state: memory is
 * bounded however long a line or a run of '>' is.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#endif

#include "date.h"
#include "header.h"
#include "mbox_writer_int.h"
#include "util.h"

/* ======================================================================
 * Quoting
 * ====================================================================== */

/* q->state: QS_MID in a line; QS_BOL..: at a line start, holding
 * q->pending '>' bytes and (state - QS_BOL) bytes of "From ". */
enum { QS_MID = 0, QS_BOL = 1 };
static const char from5[] = "From ";

void
mbox_quote_init(struct mbox_quote *q, enum mbox_variant variant)
{
	memset(q, 0, sizeof *q);
	q->variant = variant == MBOX_AUTO ? MBOX_MBOXRD : variant;
	q->state = QS_BOL;
	/* only the variants with Content-Length and Lines need the count */
	q->count_lines = q->variant == MBOX_MBOXCL || q->variant == MBOX_MBOXCL2;
}

static void
quote_out(struct mbox_quote *q, emit_fn emit, void *ctx, const char *p, size_t n)
{
	if (n == 0)
		return;
	q->len += n;
	if (q->count_lines) {
		uint64_t lf = 0;
		for (size_t i = 0; i < n; i++)
			lf += p[i] == '\n';
		q->lines += lf;
	}
	if (emit)
		emit(ctx, p, n);
}

static void
quote_out_gts(struct mbox_quote *q, emit_fn emit, void *ctx, unsigned n)
{
	static const char gts[64] = ">>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>";

	while (n > 0) {
		unsigned k = n > sizeof gts ? (unsigned)sizeof gts : n;
		quote_out(q, emit, ctx, gts, k);
		n -= k;
	}
}

/* Give back what a line start held when it turned out not to be `From `. */
static void
quote_release(struct mbox_quote *q, emit_fn emit, void *ctx)
{
	if (q->state == QS_MID)
		return;
	quote_out_gts(q, emit, ctx, q->pending);
	quote_out(q, emit, ctx, from5, q->state - QS_BOL);
	q->pending = 0;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* quote_next_bol()'s loop 32 bytes a step (AVX2): the byte after the first
 * LF followed by 'F' (or '>' for mboxrd), or where fewer than 33 bytes are
 * left (the caller's loops go on from there). */
__attribute__((target("avx2")))
static const char *
next_bol_avx2(const char *s, const char *end, bool rd, bool *found)
{
	const __m256i lf = _mm256_set1_epi8('\n'), F = _mm256_set1_epi8('F');
	const __m256i gt = _mm256_set1_epi8(rd ? '>' : 'F');

	for (; end - s > 32; s += 32) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)s);
		__m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(s + 1));
		__m256i hit = _mm256_and_si256(_mm256_cmpeq_epi8(a, lf),
		    _mm256_or_si256(_mm256_cmpeq_epi8(b, F), _mm256_cmpeq_epi8(b, gt)));
		unsigned m = (unsigned)_mm256_movemask_epi8(hit);
		if (m != 0) {
			*found = true;
			return s + __builtin_ctz(m) + 1;
		}
	}
	*found = false;
	return s;
}
#endif

/*
 * The first line start in (p, end] that quote_feed() must look at byte by
 * byte: one after a LF that begins with 'F' (mboxrd: or '>'), or end when
 * the chunk ends with LF; NULL when there is none. Every line to quote
 * begins so, and in a body few lines do: SSE2 compares 16 bytes at a time
 * (a base64 attachment is passed on at memory speed, not a line at a time).
 */
static const char *
quote_next_bol(const char *p, const char *end, bool rd)
{
	const char *s = p;
#if defined(__x86_64__) && defined(__GNUC__)
	if (end - s > 64 && cpu_avx2()) {
		bool found;
		s = next_bol_avx2(s, end, rd, &found);
		if (found)
			return s;
	}
#endif
#ifdef __SSE2__
	const __m128i lf = _mm_set1_epi8('\n'), F = _mm_set1_epi8('F');
	const __m128i gt = _mm_set1_epi8(rd ? '>' : 'F');
	for (; end - s > 16; s += 16) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)s);
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(s + 1));
		__m128i hit = _mm_and_si128(_mm_cmpeq_epi8(a, lf),
		    _mm_or_si128(_mm_cmpeq_epi8(b, F), _mm_cmpeq_epi8(b, gt)));
		unsigned m = (unsigned)_mm_movemask_epi8(hit);
		if (m != 0)
			return s + __builtin_ctz(m) + 1;
	}
#endif
	for (; end - s > 1; s++)
		if (s[0] == '\n' && (s[1] == 'F' || (rd && s[1] == '>')))
			return s + 1;
	return end > p && end[-1] == '\n' ? end : NULL;
}

/* In a line (QS_MID) at p: pass on everything up to the next line start
 * quote_next_bol() finds, where the state becomes QS_BOL. */
static const char *
quote_scan(struct mbox_quote *q, const char *p, const char *end, emit_fn emit, void *ctx)
{
	const char *b = quote_next_bol(p, end, q->variant == MBOX_MBOXRD);

	if (b == NULL)
		b = end;
	else
		q->state = QS_BOL;
	quote_out(q, emit, ctx, p, (size_t)(b - p));
	return b;
}

void
quote_feed(struct mbox_quote *q, const char *p, size_t n, emit_fn emit, void *ctx)
{
	const char *end = p + n;

	if (n == 0)
		return;
	q->any = true;
	q->last_lf = end[-1] == '\n';
	if (q->variant == MBOX_MBOXCL2) {
		quote_out(q, emit, ctx, p, n);
		return;
	}
	while (p < end) {
		if (q->state == QS_MID) {
			p = quote_scan(q, p, end, emit, ctx);
			continue;
		}
		unsigned k = q->state - QS_BOL;
		char c = *p;
		if (k == 0 && c == '>' && q->variant == MBOX_MBOXRD) {
			q->pending++;
			p++;
		} else if (c == from5[k]) {
			p++;
			if (++k == 5) {
				quote_out_gts(q, emit, ctx, q->pending + 1);
				quote_out(q, emit, ctx, from5, 5);
				q->pending = 0;
				q->state = QS_MID;
			} else {
				q->state = QS_BOL + k;
			}
		} else {
			quote_release(q, emit, ctx);
			q->state = QS_MID;   /* c is handled as ordinary line content */
		}
	}
}

/* End of the body: nothing more can complete a held `From`. */
void
quote_finish(struct mbox_quote *q, emit_fn emit, void *ctx)
{
	quote_release(q, emit, ctx);
	q->state = QS_BOL;
}

void
mbox_quote_measure(struct mbox_quote *q, const void *p, size_t n)
{
	quote_feed(q, p, n, NULL, NULL);
}

void
mbox_quote_measure_end(struct mbox_quote *q)
{
	quote_finish(q, NULL, NULL);
}

/* ======================================================================
 * The From_ line (SPEC §3.11 ▶)
 * ====================================================================== */

/* Sender from a header field's addr-spec; false when there is none. */
static bool
sender_from_field(const char *hdr, size_t len, const char *name, bool raw_ok, struct strbuf *out)
{
	struct header_field f;

	if (!header_find(hdr, len, name, &f))
		return false;
	if (header_addr_spec(f.value, f.value_len, false, out)) {
		if (out->len == 0)
			sb_appends(out, "MAILER-DAEMON");   /* <> : a bounce */
		return true;
	}
	if (!raw_ok)
		return false;
	header_unfold(f.value, f.value_len, out);
	return out->len > 0;
}

void
mbox_from_line_build(const char *env, size_t env_len, const char *hdr, size_t hdr_len,
	time_t t, struct strbuf *out)
{
	struct strbuf s = STRBUF_INIT;
	char date[32];

	if (env != NULL)
		sb_append(&s, env, env_len);
	else if (hdr == NULL ||
	    (!sender_from_field(hdr, hdr_len, "Return-Path", false, &s) &&
	     !sender_from_field(hdr, hdr_len, "X-Envelope-From", true, &s) &&
	     !sender_from_field(hdr, hdr_len, "From", false, &s)))
		sb_reset(&s);
	/* qmail: blanks and control bytes would break the line's grammar */
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.buf[i];
		if (c <= ' ' || c == 0x7f)
			s.buf[i] = '-';
	}
	sb_reset(out);
	sb_appends(out, "From ");
	if (s.len > 0)
		sb_append(out, s.buf, s.len);
	else
		sb_appends(out, "MAILER-DAEMON");
	date_format_asctime(t, date);
	sb_appendc(out, ' ');
	sb_appends(out, date);
	sb_appendc(out, '\n');
	sb_free(&s);
}
