/*
 * flags.c: message state between mbox headers and maildir names
 * (SPEC §1.5, §1.6, §1.7, §2.8, §2.10).
 *
 * mbox side: Status (R, O, legacy r), X-Status (A F T D), X-Keywords
 * ($Forwarded is the P flag, other names are kept) and, only when neither
 * Status nor X-Status exists, Thunderbird's X-Mozilla-Status bits. Names
 * compare case-insensitively, letters case-sensitively, from the whole
 * unfolded value; of repeated fields the first wins and the repeats are
 * counted (UW keeps the first). Only the top-level header block is given
 * to us, so a Status: in a body never counts.
 *
 * Maildir side: the info after the last ':' (or mu's "!2," / ";2," when the
 * name has no ':'), flags read as a set with disorder, duplicates and
 * unknown letters recorded, ,S= and ,W= read by Dovecot's rule (digits
 * followed by ':' ',' or the end), and the canonical info written sorted
 * by byte value without duplicates.
 */
#include "config.h"

#include <limits.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#endif

#include "flags.h"
#include "header.h"
#include "util.h"

uint32_t
flags_from_letter(char c)
{
	switch (c) {
	case 'D': return MF_DRAFT;
	case 'F': return MF_FLAGGED;
	case 'P': return MF_PASSED;
	case 'R': return MF_REPLIED;
	case 'S': return MF_SEEN;
	case 'T': return MF_TRASHED;
	default: return 0;
	}
}

size_t
flags_letters(uint32_t flags, char *buf)
{
	static const char order[] = "DFPRST";
	size_t n = 0;

	for (const char *c = order; *c; c++)
		if (flags & flags_from_letter(*c))
			buf[n++] = *c;
	buf[n] = '\0';
	return n;
}

void
flags_to_status(uint32_t flags, bool old, char buf[4])
{
	if (flags & MF_SEEN)
		strcpy(buf, "RO");
	else if (old)
		strcpy(buf, "O");
	else
		buf[0] = '\0';
}

void
flags_to_xstatus(uint32_t flags, char buf[8])
{
	size_t n = 0;

	if (flags & MF_TRASHED)
		buf[n++] = 'D';
	if (flags & MF_FLAGGED)
		buf[n++] = 'F';
	if (flags & MF_REPLIED)
		buf[n++] = 'A';
	if (flags & MF_DRAFT)
		buf[n++] = 'T';
	buf[n] = '\0';
}

/* ------------------------------------------------------------------------
 * mbox headers (SPEC §2.8, §2.10)
 */

static void
status_letters(const char *v, size_t n, struct mbox_state *st)
{
	for (size_t i = 0; i < n; i++) {
		switch (v[i]) {
		case 'R': st->flags |= MF_SEEN; st->old = true; break;
		case 'O': st->old = true; break;
		case 'r': st->flags |= MF_REPLIED; break;
		default: break;
		}
	}
}

static void
xstatus_letters(const char *v, size_t n, struct mbox_state *st)
{
	for (size_t i = 0; i < n; i++) {
		switch (v[i]) {
		case 'A': st->flags |= MF_REPLIED; break;
		case 'F': st->flags |= MF_FLAGGED; break;
		case 'T': st->flags |= MF_DRAFT; break;
		case 'D': st->flags |= MF_TRASHED; break;
		default: break;
		}
	}
}

/* Is the keyword [k, k+n) already in the space-separated list? IMAP keyword
 * names compare case-insensitively. */
static bool
keyword_listed(const struct strbuf *list, const char *k, size_t n)
{
	const char *p = list->buf, *end = list->buf + list->len;

	while (p < end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *e = sp ? sp : end;
		if ((size_t)(e - p) == n && mem_ieq(p, k, n))
			return true;
		p = e + 1;
	}
	return false;
}

static void
keywords_parse(const char *v, size_t n, struct mbox_state *st)
{
	size_t i = 0;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < n && v[i] != ' ' && v[i] != '\t' && v[i] != ',')
			i++;
		size_t len = i - s;
		if (len == 0)
			continue;
		if (len == 10 && mem_ieq(v + s, "$Forwarded", 10)) {
			st->flags |= MF_PASSED;
			continue;
		}
		if (st->keywords.len > 0 && keyword_listed(&st->keywords, v + s, len))
			continue;
		if (st->keywords.len > 0)
			sb_appendc(&st->keywords, ' ');
		sb_append(&st->keywords, v + s, len);
	}
}

/* X-Mozilla-Status: hexadecimal flag bits. */
static uint32_t
mozilla_flags(const char *v, size_t n)
{
	uint64_t bits;
	uint32_t f = 0;

	hex_decode(v, n < 8 ? n : 8, &bits);     /* the leading digits, at most 8 */
	if (bits & 0x0001)
		f |= MF_SEEN;
	if (bits & 0x0002)
		f |= MF_REPLIED;
	if (bits & 0x0004)
		f |= MF_FLAGGED;
	if (bits & 0x0008)
		f |= MF_TRASHED;
	if (bits & 0x1000)
		f |= MF_PASSED;
	return f;
}

enum { SEEN_STATUS = 1, SEEN_XSTATUS = 2, SEEN_KEYWORDS = 4, SEEN_MOZILLA = 8 };

static void
mbox_header_read(const char *hdr, size_t len, bool mozilla, struct mbox_state *st)
{
	static const struct { const char *name; size_t len; unsigned bit; } fields[] = {
		{ "Status", 6, SEEN_STATUS }, { "X-Status", 8, SEEN_XSTATUS },
		{ "X-Keywords", 10, SEEN_KEYWORDS }, { "X-Mozilla-Status", 16, SEEN_MOZILLA },
	};
	struct header_iter it;
	struct header_field f;
	struct strbuf v = STRBUF_INIT;
	unsigned seen = 0;
	uint32_t moz = 0;

	memset(st, 0, sizeof *st);
	bool any = false;
	for (size_t i = 0; i < ARRAY_SIZE(fields) && !any; i++)
		any = (mozilla || fields[i].bit != SEEN_MOZILLA) &&
		    header_may_have(hdr, len, fields[i].name, fields[i].len);
	if (!any)
		return;         /* none of them here */
	header_iter_init(&it, hdr, len);
	while (header_iter_next(&it, &f)) {
		unsigned bit = 0;
		for (size_t i = 0; i < ARRAY_SIZE(fields) && bit == 0; i++)
			if (f.name_len == fields[i].len &&
			    mem_ieq(f.name, fields[i].name, f.name_len))
				bit = fields[i].bit;
		if (bit == 0 || (bit == SEEN_MOZILLA && !mozilla))
			continue;
		if (seen & bit) {
			if (bit != SEEN_MOZILLA)
				st->duplicates++;
			continue;
		}
		seen |= bit;
		header_unfold(f.value, f.value_len, &v);
		if (bit == SEEN_STATUS)
			status_letters(v.buf, v.len, st);
		else if (bit == SEEN_XSTATUS)
			xstatus_letters(v.buf, v.len, st);
		else if (bit == SEEN_KEYWORDS)
			keywords_parse(v.buf, v.len, st);
		else
			moz = mozilla_flags(v.buf, v.len);
	}
	st->has_status = (seen & (SEEN_STATUS | SEEN_XSTATUS)) != 0;
	if (!st->has_status)
		st->flags |= moz;
	sb_free(&v);
}

void
flags_from_mbox_header(const char *hdr, size_t len, struct mbox_state *st)
{
	mbox_header_read(hdr, len, true, st);
}

void
flags_from_server_header(const char *hdr, size_t len, struct mbox_state *st)
{
	mbox_header_read(hdr, len, false, st);
}

bool
keyword_is_atom(const char *name, size_t len)
{
	if (len == 0 || name[0] == '\\')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

void
mbox_state_free(struct mbox_state *st)
{
	sb_free(&st->keywords);
}

/* ------------------------------------------------------------------------
 * maildir names (SPEC §1.2, §1.5, §1.7)
 */

/* Read ,S= and ,W= from the base name (Dovecot's rule: the value counts
 * only when digits are followed by ',' or the end of the base). */
static void
name_sizes(struct maildir_name *mn)
{
	const char *b = mn->base, *end = mn->base + mn->base_len;

	mn->uniq = b;
	mn->uniq_len = mn->base_len;
	for (const char *p = b; p + 3 <= end; p++) {
		p = memchr(p, ',', (size_t)(end - p));
		if (p == NULL || p + 3 > end)
			break;
		if ((p[1] != 'S' && p[1] != 'W') || p[2] != '=')
			continue;
		if (mn->uniq_len == mn->base_len)
			mn->uniq_len = (size_t)(p - b);
		const char *q = p + 3;
		long long v = 0;
		bool ok = q < end;
		unsigned long long u = 0;       /* 18 digits fit: checked only past them */
		for (; q < end && (unsigned char)(*q - '0') < 10; q++)
			u = u * 10 + (unsigned)(*q - '0');
		if (q - (p + 3) <= 18) {
			v = (long long)u;
		} else {
			for (const char *d = p + 3; d < q; d++) {
				if (v > (LLONG_MAX - 9) / 10)
					ok = false;     /* overflow: stop adding */
				else
					v = v * 10 + (*d - '0');
			}
		}
		if (q == p + 3 || (q < end && *q != ','))
			ok = false;
		long long *dst = p[1] == 'S' ? &mn->size_s : &mn->size_w;
		if (!ok)
			mn->anomalies |= MN_BAD_SIZE;
		else if (*dst == -1)
			*dst = v;
		p = q - 1;
	}
}

/* The letters of "2,<flags>[,<other>]". */
static void
name_flags(struct maildir_name *mn)
{
	uint64_t seen[4] = { 0, 0, 0, 0 };
	unsigned char max = 0;

	for (size_t i = 2; i < mn->info_len && mn->info[i] != ','; i++) {
		unsigned char c = (unsigned char)mn->info[i];
		if (seen[c >> 6] >> (c & 63) & 1)
			mn->anomalies |= MN_DUPLICATE;
		else if (c < max)
			mn->anomalies |= MN_UNSORTED;
		seen[c >> 6] |= (uint64_t)1 << (c & 63);
		if (c > max)
			max = c;
		uint32_t bit = flags_from_letter((char)c);
		if (bit)
			mn->flags |= bit;
		else if (c >= 'a' && c <= 'z')
			mn->keywords |= 1u << (c - 'a');
		else
			mn->anomalies |= MN_UNKNOWN_FLAG;
	}
}

/* Position of the info separator: the last ':'; without one, the last
 * "!2," or ";2," (mu and mblaze on file systems that forbid ':'). */
static const char *
name_separator(const char *name, size_t len, unsigned *anomalies)
{
	const char *sep = len ? memrchr(name, ':', len) : NULL;

	if (sep) {
		if (memchr(name, ':', (size_t)(sep - name)) != NULL)
			*anomalies |= MN_COLON_IN_UNIQ;
		return sep;
	}
	/* most names without a ':' have no info at all (new/): two memrchr
	 * rather than a look at every byte */
	for (size_t end = len; end > 0;) {
		const char *x = memrchr(name, '!', end), *y = memrchr(name, ';', end);
		const char *c = x == NULL ? y : y == NULL ? x : x > y ? x : y;
		if (c == NULL)
			break;
		size_t i = (size_t)(c - name);
		if (len - i >= 3 && c[1] == '2' && c[2] == ',') {
			*anomalies |= MN_ALT_SEP;
			return c;
		}
		end = i;
	}
	return NULL;
}

void
maildir_name_parse(const char *name, size_t len, struct maildir_name *mn)
{
	memset(mn, 0, sizeof *mn);
	mn->size_s = mn->size_w = -1;
	if (len > 0 && name[0] == '.')
		mn->anomalies |= MN_DOT_START;

	const char *sep = name_separator(name, len, &mn->anomalies);
	mn->base = name;
	mn->base_len = sep ? (size_t)(sep - name) : len;
	if (sep) {
		mn->sep = *sep;
		mn->info = sep + 1;
		mn->info_len = len - mn->base_len - 1;
		if (mn->info_len >= 2 && mn->info[0] == '2' && mn->info[1] == ',')
			name_flags(mn);
		else if (mn->info_len >= 2 && mn->info[0] == '1' && mn->info[1] == ',')
			mn->anomalies |= MN_EXPERIMENTAL;
		else
			mn->anomalies |= MN_BAD_INFO;
	}
	name_sizes(mn);
}

size_t
flags_make_info(uint32_t flags, uint32_t keywords, const char *extra, char *buf)
{
	uint64_t set[4] = { 0, 0, 0, 0 };       /* the bytes of the info, as bits */
	size_t n = 0;

	for (const char *c = "DFPRST"; *c; c++)
		if (flags & flags_from_letter(*c))
			set[(unsigned char)*c >> 6] |= 1ull << (*c & 63);
	set['a' >> 6] |= (uint64_t)(keywords & 0x3ffffffu) << ('a' & 63);
	for (const char *c = extra; c && *c; c++) {
		unsigned char u = (unsigned char)*c;
		/* a letter must not end the flag list or the name */
		if (u > ' ' && u < 0x7f && u != ',' && u != ':' && u != '/')
			set[u >> 6] |= 1ull << (u & 63);
	}
	buf[n++] = '2';
	buf[n++] = ',';
	for (int w = 0; w < 4; w++)
		for (uint64_t b = set[w]; b != 0 && n < 63; b &= b - 1)
			buf[n++] = (char)(w * 64 + __builtin_ctzll(b));
	buf[n] = '\0';
	return n;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The same 32 bytes at a time, where the CPU has AVX2 (most x86-64 made
 * since 2013), in spans of up to 255 blocks: a span's LFs are counted in
 * byte lanes (one vpsubb a block; a lane holds 255) while its CRs are only
 * noticed; a span without a CR, after a byte that is none, adds its LFs,
 * the others are counted again block by block, each LF against the byte
 * before it. Mail with LF line ends, nearly all of it, pays the first
 * loop only: half the instructions of the exact one. */
__attribute__((target("avx2,popcnt")))
static const char *
vsize_avx2(const char *q, const char *e, uint64_t *add)
{
	const __m256i vlf = _mm256_set1_epi8('\n'), vcr = _mm256_set1_epi8('\r');
	const __m256i zero = _mm256_setzero_si256();
	uint64_t n = 0;

	while (e - q >= 32) {
		size_t k = (size_t)(e - q) / 32;
		if (k > 255)
			k = 255;
		__m256i lfs = zero, lfs2 = zero, crs = zero, crs2 = zero;
		const char *b = q, *be = q + 32 * (k & ~(size_t)1);
		for (; b < be; b += 64) {       /* two blocks a step, two chains */
			__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)b);
			__m256i a2 = _mm256_loadu_si256((const __m256i *)(const void *)(b + 32));
			lfs = _mm256_sub_epi8(lfs, _mm256_cmpeq_epi8(a, vlf));
			lfs2 = _mm256_sub_epi8(lfs2, _mm256_cmpeq_epi8(a2, vlf));
			crs = _mm256_or_si256(crs, _mm256_cmpeq_epi8(a, vcr));
			crs2 = _mm256_or_si256(crs2, _mm256_cmpeq_epi8(a2, vcr));
		}
		if (k & 1) {
			__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)b);
			lfs = _mm256_sub_epi8(lfs, _mm256_cmpeq_epi8(a, vlf));
			crs = _mm256_or_si256(crs, _mm256_cmpeq_epi8(a, vcr));
		}
		lfs = _mm256_add_epi8(lfs, lfs2);       /* at most 255 a lane */
		crs = _mm256_or_si256(crs, crs2);
		if (_mm256_testz_si256(crs, crs) && q[-1] != '\r') {
			__m256i s = _mm256_sad_epu8(lfs, zero);
			n += (uint64_t)_mm256_extract_epi64(s, 0) + (uint64_t)_mm256_extract_epi64(s, 1) +
			    (uint64_t)_mm256_extract_epi64(s, 2) + (uint64_t)_mm256_extract_epi64(s, 3);
		} else {
			for (size_t i = 0; i < k; i++) {
				const char *x = q + 32 * i;
				__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)x);
				__m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(x - 1));
				unsigned m = (unsigned)_mm256_movemask_epi8(_mm256_andnot_si256(
				    _mm256_cmpeq_epi8(c, vcr), _mm256_cmpeq_epi8(a, vlf)));
				n += (unsigned)__builtin_popcount(m);
			}
		}
		q += 32 * k;
	}
	*add += n;
	return q;
}

#endif

uint64_t
flags_vsize_add(const char *p, size_t n, bool *prev_cr)
{
	uint64_t add = n;
	const char *e = p + n, *q, *lf;

	if (n == 0)
		return 0;
	/* this runs over every byte a conversion writes: a LF whose byte
	 * before is no CR counts one more, 16 bytes at a time */
	if (p[0] == '\n' && !*prev_cr)
		add++;
	q = p + 1;
#if defined(__x86_64__) && defined(__GNUC__)
	if (e - q >= 64 && cpu_avx2())
		q = vsize_avx2(q, e, &add);
#endif
#ifdef __SSE2__
	const __m128i vlf = _mm_set1_epi8('\n'), vcr = _mm_set1_epi8('\r');
	for (; e - q >= 16; q += 16) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)q);
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(q - 1));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_andnot_si128(_mm_cmpeq_epi8(b, vcr),
		    _mm_cmpeq_epi8(a, vlf)));
		/* a line is some 60 bytes: few bits are set, and without
		 * -mpopcnt __builtin_popcount() is a call into libgcc */
		for (; m != 0; m &= m - 1)
			add++;
	}
#endif
	for (; q < e && (lf = memchr(q, '\n', (size_t)(e - q))) != NULL; q = lf + 1)
		if (lf[-1] != '\r')
			add++;
	*prev_cr = e[-1] == '\r';
	return add;
}
