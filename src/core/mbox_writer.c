/*
 * mbox_writer.c: appending to an mbox (SPEC §2.3 quoting, §2.4
 * Content-Length/Lines, §2.6 separator and the last two bytes, §2.10 flag
 * headers, §3.11 the From_ line, §5 O1-O5) and rewriting one in place
 * through a journal (DESIGN §3, SPEC §5 O7, O8). See mbox_writer.h for the
 * protocol; the reasons are here next to the code.
 *
 * Quoting runs as a state machine over the body bytes so that a `From `
 * split across two chunks is quoted like any other, with only a count of
 * held-back '>' bytes and at most four bytes of "From" as state: memory is
 * bounded however long a line or a run of '>' is.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sysexits.h>
#include <unistd.h>
#include <xxhash.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "date.h"
#include "flags.h"
#include "header.h"
#include "mbox_writer.h"
#include "report.h"
#include "testhook.h"
#include "util.h"

/* ======================================================================
 * Quoting
 * ====================================================================== */

/* q->state: QS_MID in a line; QS_BOL..: at a line start, holding
 * q->pending '>' bytes and (state - QS_BOL) bytes of "From ". */
enum { QS_MID = 0, QS_BOL = 1 };
static const char from5[] = "From ";

typedef void (*emit_fn)(void *ctx, const char *p, size_t n);

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

static void
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
static void
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

bool
mbox_header_set_flags(const char *hdr, size_t len, uint32_t flags, bool old,
	const char *keywords, size_t kwlen, struct strbuf *out)
{
	char status[4], xstatus[8];
	struct strbuf kw = STRBUF_INIT, a = STRBUF_INIT, b = STRBUF_INIT;
	bool changed = false;

	flags_to_status(flags, old, status);
	flags_to_xstatus(flags, xstatus);
	if (keywords && kwlen > 0)
		sb_append(&kw, keywords, kwlen);
	if ((flags & MF_PASSED) && !word_in("$Forwarded", 10, kw.buf ? kw.buf : "", kw.len)) {
		if (kw.len > 0)
			sb_appendc(&kw, ' ');
		sb_appends(&kw, "$Forwarded");
	}
	changed |= set_flag_field(hdr, len, "Status", status, false, &a);
	changed |= set_flag_field(a.buf, a.len, "X-Status", xstatus, false, &b);
	changed |= set_flag_field(b.buf, b.len, "X-Keywords", kw.buf ? kw.buf : "", true, out);
	sb_free(&kw);
	sb_free(&a);
	sb_free(&b);
	return changed;
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

/* ======================================================================
 * Appending
 * ====================================================================== */

#define OBUF_SIZE (64 * 1024)

struct mbox_writer {
	char *path;
	int fd;                   /* the mailbox, stdout, or the compressed temp file */
	bool to_stdout;
	bool locked;
	struct mbox_lock lk;
	struct mbox_writer_opts o;
	enum mbox_variant variant;
	struct archive *ar;       /* compressed output */
	char *tmp_path;           /* its temporary file */
	bool created;
	off_t durable;            /* size after the last flush: truncate-back point */
	off_t kicked;             /* write-back started up to here */
	char pre[4];              /* LF(s) the existing file lacks (SPEC §2.6) */
	size_t pre_len;
	bool failed;
	int status;               /* DESIGN §4 status of the failure */

	/* the message in progress */
	bool in_msg;
	off_t msg_start;          /* where it starts in a plain file, or -1 */
	struct mbox_quote q;
	bool hdr_ends_lf;
	bool crlf_sep;          /* the From_ line ends in CR LF: so does the separator */
	int64_t want_len, want_lines;
	int spool_fd;             /* -1, or the body spooled to measure it */
	bool spooling;            /* output goes to spool_fd */
	struct strbuf from, hdr;

	char *obuf;
	size_t olen;
	bool emit_err;
	int emit_errno;
	size_t messages, added_nl;
};

int
mbox_compress_parse(const char *s)
{
	if (strcmp(s, "none") == 0)
		return MBOX_COMPRESS_NONE;
	if (strcmp(s, "gzip") == 0 || strcmp(s, "gz") == 0)
		return MBOX_COMPRESS_GZIP;
	if (strcmp(s, "zstd") == 0 || strcmp(s, "zst") == 0)
		return MBOX_COMPRESS_ZSTD;
	if (strcmp(s, "xz") == 0)
		return MBOX_COMPRESS_XZ;
	return -1;
}

enum mbox_compress
mbox_compress_from_suffix(const char *path)
{
	size_t n = strlen(path);

	if (n > 3 && strcmp(path + n - 3, ".gz") == 0)
		return MBOX_COMPRESS_GZIP;
	if (n > 4 && strcmp(path + n - 4, ".zst") == 0)
		return MBOX_COMPRESS_ZSTD;
	if (n > 3 && strcmp(path + n - 3, ".xz") == 0)
		return MBOX_COMPRESS_XZ;
	return MBOX_COMPRESS_NONE;
}

/* Take back everything since the last flush (qmail-local). */
static void
writer_take_back(struct mbox_writer *w)
{
	w->olen = 0;
	if (w->spool_fd != -1) {
		close(w->spool_fd);
		w->spool_fd = -1;
	}
	w->spooling = false;
	w->in_msg = false;
	if (w->fd != -1 && !w->to_stdout && w->ar == NULL && w->durable >= 0) {
		int e = errno;
		if (ftruncate(w->fd, w->durable) == -1 || lseek(w->fd, w->durable, SEEK_SET) == -1)
			report_error_sys(EX_IOERR, "unable to truncate %s back to %lld bytes",
			    w->path, (long long)w->durable);
		errno = e;
	}
}

/* Report the failure (errno intact), take back, and mark the writer failed. */
static int
writer_fail(struct mbox_writer *w, const char *what)
{
	int status = report_status_for_write_errno(errno);

	if (status == 0)
		status = EX_IOERR;
	report_error_sys(status, "%s %s", what, w->path);
	w->status = status;
	w->failed = true;
	writer_take_back(w);
	return -1;
}

/* Unbuffered output to the current sink. */
static int
sink_write(struct mbox_writer *w, const char *p, size_t n)
{
	if (w->spooling)
		return write_all(w->spool_fd, p, n);
	if (w->ar == NULL)
		return write_all(w->fd, p, n);
	while (n > 0) {
		if (testhook_before_write() == -1)
			return -1;
		la_ssize_t k = archive_write_data(w->ar, p, n);
		if (k <= 0) {
			if (archive_errno(w->ar) != 0)
				errno = archive_errno(w->ar);
			else
				errno = EIO;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int
buf_flush(struct mbox_writer *w)
{
	if (w->olen == 0)
		return 0;
	size_t n = w->olen;
	w->olen = 0;
	return sink_write(w, w->obuf, n);
}

static int
buf_put(struct mbox_writer *w, const char *p, size_t n)
{
	if (w->olen + n > OBUF_SIZE && buf_flush(w) == -1)
		return -1;
	if (n >= OBUF_SIZE)
		return sink_write(w, p, n);
	memcpy(w->obuf + w->olen, p, n);
	w->olen += n;
	return 0;
}

static void
emit_buf(void *ctx, const char *p, size_t n)
{
	struct mbox_writer *w = ctx;

	if (!w->emit_err && buf_put(w, p, n) == -1) {
		w->emit_err = true;
		w->emit_errno = errno;
	}
}

static int
fsync_dir_of(const char *path)
{
	char *copy = xstrdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	free(copy);
	if (fd == -1)
		return -1;
	/* Some file systems cannot sync a directory (Dovecot's fdatasync_path). */
	if (fsync(fd) == -1 && errno != EINVAL && errno != EROFS)
		rc = -1;
	close(fd);
	return rc;
}

static int archive_start(struct mbox_writer *w, enum mbox_compress comp);

/*
 * Compressed output is written whole: libarchive's raw format with a
 * compression filter, into a temporary file next to the destination,
 * published at close by link() so that an existing file is never clobbered.
 */
static int
writer_open_compressed(struct mbox_writer *w, enum mbox_compress comp)
{
	struct stat st;

	if (w->to_stdout)
		return archive_start(w, comp);
	if (lstat(w->path, &st) == 0) {
		report_error(EX_CANTCREAT, "%s: refusing to append to an existing compressed mailbox",
		    w->path);
		return EX_CANTCREAT;
	}
	char *copy = xstrdup(w->path);
	char *base = xstrdup(basename(copy));
	free(copy);
	copy = xstrdup(w->path);
	w->tmp_path = xasprintf("%s/.%s.mailshift-tmp.%ld", dirname(copy), base, (long)getpid());
	free(copy);
	free(base);
	mode_t mode = w->o.lock.create_mode ? w->o.lock.create_mode : 0600;
	w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (w->fd == -1) {
		report_error_sys(EX_CANTCREAT, "unable to create %s", w->tmp_path);
		return EX_CANTCREAT;
	}
	if (w->o.chown && fchown(w->fd, w->o.uid, w->o.gid) == -1)
		report_warn_sys("unable to chown %s", w->tmp_path);
	return archive_start(w, comp);
}

/* The libarchive raw writer with the compression filter, on w->fd. */
static int
archive_start(struct mbox_writer *w, enum mbox_compress comp)
{
	w->ar = archive_write_new();
	int r = comp == MBOX_COMPRESS_GZIP ? archive_write_add_filter_gzip(w->ar)
	    : comp == MBOX_COMPRESS_ZSTD ? archive_write_add_filter_zstd(w->ar)
	    : archive_write_add_filter_xz(w->ar);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_pathname(e, "mbox");
	if (r != ARCHIVE_OK || archive_write_set_format_raw(w->ar) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w->ar, 1) != ARCHIVE_OK ||
	    archive_write_open_fd(w->ar, w->fd) != ARCHIVE_OK ||
	    archive_write_header(w->ar, e) != ARCHIVE_OK) {
		report_error(EX_CANTCREAT, "unable to write compressed %s: %s", w->path,
		    archive_error_string(w->ar));
		archive_entry_free(e);
		return EX_CANTCREAT;
	}
	archive_entry_free(e);
	return 0;
}

/* What the end of an existing mailbox lacks before a new From_ line. */
static void
writer_look_at_end(struct mbox_writer *w, off_t size)
{
	char t[4];
	size_t n = size < 4 ? (size_t)size : 4;

	w->pre_len = 0;
	if (n == 0 || pread_full(w->fd, t, n, size - (off_t)n) != (ssize_t)n)
		return;
	const char *e = t + n;
	if (e[-1] != '\n') {
		memcpy(w->pre, "\n\n", 2);        /* partial last line */
		w->pre_len = 2;
	} else if ((n >= 2 && e[-2] == '\n') || (n >= 4 && memcmp(e - 4, "\r\n\r\n", 4) == 0)) {
		w->pre_len = 0;                   /* already ends with an empty line */
	} else if (n >= 2 && e[-2] == '\r') {
		memcpy(w->pre, "\r\n", 2);        /* a CRLF mbox: its own empty line */
		w->pre_len = 2;
	} else if (n == 1) {
		w->pre_len = 0;                   /* a file holding just LF */
	} else {
		w->pre[0] = '\n';
		w->pre_len = 1;
	}
}

static int
writer_open_plain(struct mbox_writer *w)
{
	struct mbox_lock_opts lo = w->o.lock;
	struct stat st;

	lo.create = true;
	int status = mbox_lock_open(&w->lk, w->path, MBOX_LOCK_WRITE, &lo);
	if (status != 0)
		return status;
	w->locked = true;
	w->fd = w->lk.fd;
	w->created = w->lk.created;
	if (w->created && w->o.chown && fchown(w->fd, w->o.uid, w->o.gid) == -1)
		report_warn_sys("unable to chown %s", w->path);
	if (mbox_journal_recover(&w->lk, NULL) == -1)
		return EX_IOERR;
	if (fstat(w->fd, &st) == -1 || lseek(w->fd, st.st_size, SEEK_SET) == -1) {
		report_error_sys(EX_IOERR, "unable to stat %s", w->path);
		return EX_IOERR;
	}
	w->durable = st.st_size;
	writer_look_at_end(w, st.st_size);
	return 0;
}

int
mbox_writer_open(struct mbox_writer **w_r, const char *path, const struct mbox_writer_opts *opts)
{
	struct mbox_writer *w = xcalloc(1, sizeof *w);
	int status;

	if (opts)
		w->o = *opts;
	else
		w->o.lock.timeout = -1;
	w->variant = w->o.variant == MBOX_AUTO ? MBOX_MBOXRD : w->o.variant;
	w->path = xstrdup(path);
	w->fd = -1;
	w->spool_fd = -1;
	w->lk.fd = -1;
	w->durable = -1;          /* unknown: never truncate */
	w->obuf = xmalloc(OBUF_SIZE);
	enum mbox_compress comp = w->o.compress == MBOX_COMPRESS_AUTO
	    ? mbox_compress_from_suffix(path) : w->o.compress;
	if (strcmp(path, "-") == 0) {
		/* stdout: nothing to lock, nothing to take back; compressed
		 * only when asked for explicitly */
		w->to_stdout = true;
		w->fd = STDOUT_FILENO;
		status = comp == MBOX_COMPRESS_NONE ? 0 : writer_open_compressed(w, comp);
	} else if (comp != MBOX_COMPRESS_NONE) {
		status = writer_open_compressed(w, comp);
	} else {
		status = writer_open_plain(w);
	}
	if (status != 0) {
		w->failed = true;
		mbox_writer_abort(w);
		*w_r = NULL;
		return status;
	}
	*w_r = w;
	return 0;
}

static bool
variant_has_cl(enum mbox_variant v)
{
	return v == MBOX_MBOXCL || v == MBOX_MBOXCL2;
}

/* The header with Content-Length and Lines set (mboxcl, mboxcl2). */
static void
header_with_cl(const char *h, size_t len, uint64_t cl, uint64_t lines, struct strbuf *out)
{
	struct strbuf tmp = STRBUF_INIT;
	char v[32];

	snprintf(v, sizeof v, "%llu", (unsigned long long)cl);
	mbox_header_set_field(h, len, "Content-Length", v, &tmp);
	snprintf(v, sizeof v, "%llu", (unsigned long long)lines);
	mbox_header_set_field(tmp.buf, tmp.len, "Lines", v, out);
	sb_free(&tmp);
}

/* The missing LF(s) of the existing file, the From_ line and the (quoted)
 * header. */
static int
write_head(struct mbox_writer *w, const char *from, size_t from_len, const char *h, size_t hlen,
	struct mbox_quote *hq)
{
	if (w->pre_len > 0) {
		if (buf_put(w, w->pre, w->pre_len) == -1)
			return -1;
		w->pre_len = 0;
	}
	if (buf_put(w, from, from_len) == -1)
		return -1;
	if (from_len == 0 || from[from_len - 1] != '\n')
		if (buf_put(w, "\n", 1) == -1)
			return -1;
	w->emit_err = false;
	quote_feed(hq, h, hlen, emit_buf, w);
	if (hq != &w->q)
		quote_finish(hq, emit_buf, w);
	if (w->emit_err) {
		errno = w->emit_errno;
		return -1;
	}
	return 0;
}

static int
open_spool(struct mbox_writer *w)
{
	const char *dir = getenv("TMPDIR");

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	w->spool_fd = open(dir, O_RDWR | O_TMPFILE | O_EXCL | O_CLOEXEC, 0600);
	if (w->spool_fd == -1) {
		char *t = xasprintf("%s/mailshift-spool.XXXXXX", dir);
		w->spool_fd = mkstemp(t);
		if (w->spool_fd != -1)
			unlink(t);
		free(t);
	}
	return w->spool_fd == -1 ? -1 : 0;
}

int
mbox_writer_begin(struct mbox_writer *w, const struct mbox_msg_out *m)
{
	struct strbuf from = STRBUF_INIT, hcl = STRBUF_INIT;
	int rc = 0;

	if (w->failed) {
		errno = EIO;
		return -1;
	}
	if (m->from_line == NULL)
		mbox_from_line_build(m->env, m->env_len, m->hdr, m->hdr_len, m->time, &from);
	else
		sb_append(&from, m->from_line, m->from_line_len);
	w->in_msg = true;
	w->msg_start = -1;
	if (w->fd != -1 && !w->to_stdout && w->ar == NULL) {
		off_t pos = lseek(w->fd, 0, SEEK_CUR);
		if (pos != (off_t)-1)
			w->msg_start = pos + (off_t)w->olen;
	}
	w->hdr_ends_lf = m->hdr_len > 0 && m->hdr[m->hdr_len - 1] == '\n';
	w->crlf_sep = from.len >= 2 && from.buf[from.len - 2] == '\r' && from.buf[from.len - 1] == '\n';
	w->want_len = w->want_lines = -1;
	mbox_quote_init(&w->q, w->variant);
	if (!variant_has_cl(w->variant)) {
		rc = write_head(w, from.buf, from.len, m->hdr, m->hdr_len, &w->q);
	} else if (m->body_len >= 0 && m->body_lines >= 0) {
		struct mbox_quote hq;
		mbox_quote_init(&hq, w->variant);
		w->want_len = m->body_len;
		w->want_lines = m->body_lines;
		header_with_cl(m->hdr, m->hdr_len, (uint64_t)m->body_len, (uint64_t)m->body_lines, &hcl);
		rc = write_head(w, from.buf, from.len, hcl.buf, hcl.len, &hq);
	} else {
		/* Content-Length unknown: spool the quoted body, measure it */
		sb_reset(&w->from);
		sb_append(&w->from, from.buf, from.len);
		sb_reset(&w->hdr);
		sb_append(&w->hdr, m->hdr, m->hdr_len);
		if (buf_flush(w) == -1 || open_spool(w) == -1)
			rc = -1;
		else
			w->spooling = true;
	}
	sb_free(&from);
	sb_free(&hcl);
	return rc == -1 ? writer_fail(w, "unable to write") : 0;
}

int
mbox_writer_write(struct mbox_writer *w, const void *p, size_t n)
{
	if (w->failed || !w->in_msg) {
		errno = w->failed ? EIO : EINVAL;
		return -1;
	}
	w->emit_err = false;
	quote_feed(&w->q, p, n, emit_buf, w);
	if (w->emit_err) {
		errno = w->emit_errno;
		return writer_fail(w, "unable to write");
	}
	return 0;
}

int
mbox_writer_body(struct mbox_writer *w, const struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt; i++)
		if (mbox_writer_write(w, iov[i].iov_base, iov[i].iov_len) == -1)
			return -1;
	return 0;
}

/* Spooled body: now the header can say how long it is. */
static int
unspool(struct mbox_writer *w)
{
	struct strbuf hcl = STRBUF_INIT;
	struct mbox_quote hq;
	int rc;

	if (buf_flush(w) == -1)
		return -1;
	w->spooling = false;
	mbox_quote_init(&hq, w->variant);
	header_with_cl(w->hdr.buf, w->hdr.len, w->q.len, w->q.lines, &hcl);
	rc = write_head(w, w->from.buf, w->from.len, hcl.buf, hcl.len, &hq);
	sb_free(&hcl);
	if (rc == -1 || lseek(w->spool_fd, 0, SEEK_SET) == -1)
		return -1;
	for (;;) {
		char tmp[16384];
		ssize_t n = read_full(w->spool_fd, tmp, sizeof tmp);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		if (buf_put(w, tmp, (size_t)n) == -1)
			return -1;
	}
	close(w->spool_fd);
	w->spool_fd = -1;
	return 0;
}

int
mbox_writer_end(struct mbox_writer *w)
{
	if (w->failed || !w->in_msg) {
		errno = w->failed ? EIO : EINVAL;
		return -1;
	}
	w->emit_err = false;
	quote_finish(&w->q, emit_buf, w);
	if (w->emit_err) {
		errno = w->emit_errno;
		return writer_fail(w, "unable to write");
	}
	if (w->spooling && unspool(w) == -1)
		return writer_fail(w, "unable to write");
	if (w->want_len >= 0 &&
	    ((uint64_t)w->want_len != w->q.len || (uint64_t)w->want_lines != w->q.lines)) {
		report_error(EX_SOFTWARE, "%s: message body is %llu bytes, %llu lines, "
		    "not the %lld bytes, %lld lines announced", w->path,
		    (unsigned long long)w->q.len, (unsigned long long)w->q.lines,
		    (long long)w->want_len, (long long)w->want_lines);
		errno = EINVAL;
		return writer_fail(w, "refusing to finish the message in");
	}
	bool ends_lf = w->q.any ? w->q.last_lf : w->hdr_ends_lf;
	bool two = !variant_has_cl(w->variant) && !ends_lf;
	/* the separator ends its line like the From_ line: CR LF in a CR LF
	 * mbox (SPEC §2.7, Gmail Takeout), so such a file reads back the same;
	 * LF where only the messages use CR LF (groups.io exports) */
	int rc = w->crlf_sep && ends_lf ? buf_put(w, "\r\n", 2) : buf_put(w, "\n\n", two ? 2 : 1);
	if (rc == -1)
		return writer_fail(w, "unable to write");
	if (two)
		w->added_nl++;
	w->in_msg = false;
	w->messages++;
	if (w->locked && mbox_lock_touch(&w->lk) == -1) {
		errno = ENOLCK;
		return writer_fail(w, "lost the lock on");
	}
	return 0;
}

int
mbox_writer_cancel(struct mbox_writer *w)
{
	if (w->failed || !w->in_msg || w->msg_start < 0) {
		errno = EINVAL;
		return -1;
	}
	if (w->spool_fd != -1) {
		close(w->spool_fd);
		w->spool_fd = -1;
	}
	w->spooling = false;
	w->in_msg = false;
	if (buf_flush(w) == -1 || ftruncate(w->fd, w->msg_start) == -1 ||
	    lseek(w->fd, w->msg_start, SEEK_SET) == -1)
		return writer_fail(w, "unable to take back a message from");
	return 0;
}

int
mbox_writer_flush(struct mbox_writer *w)
{
	if (w->failed) {
		errno = EIO;
		return -1;
	}
	if (w->in_msg) {
		errno = EINVAL;
		return -1;
	}
	if (buf_flush(w) == -1)
		return writer_fail(w, "unable to write");
	if (w->to_stdout || w->ar != NULL)
		return 0;
	if (!w->o.no_sync && fsync(w->fd) == -1)
		return writer_fail(w, "unable to sync");
	off_t end = lseek(w->fd, 0, SEEK_CUR);
	if (end == -1)
		return writer_fail(w, "unable to seek in");
	w->durable = end;
	return 0;
}

int
mbox_writer_writeback(struct mbox_writer *w)
{
	if (w->failed) {
		errno = EIO;
		return -1;
	}
	if (buf_flush(w) == -1)
		return writer_fail(w, "unable to write");
	if (w->to_stdout || w->ar != NULL || w->o.no_sync)
		return 0;
#ifdef SYNC_FILE_RANGE_WRITE
	off_t end = lseek(w->fd, 0, SEEK_CUR);
	if (end > w->kicked) {
		/* a hint: where the file system cannot, the final fsync does it all */
		(void)sync_file_range(w->fd, w->kicked, end - w->kicked, SYNC_FILE_RANGE_WRITE);
		w->kicked = end;
	}
#endif
	return 0;
}

static void
writer_free(struct mbox_writer *w)
{
	if (w->spool_fd != -1)
		close(w->spool_fd);
	if (w->locked)
		mbox_lock_release(&w->lk);
	else if (w->fd != -1 && !w->to_stdout)
		close(w->fd);
	sb_free(&w->from);
	sb_free(&w->hdr);
	free(w->obuf);
	free(w->tmp_path);
	free(w->path);
	free(w);
}

/* Finish the compressed stream, make it durable, publish it by link(). */
static int
publish_compressed(struct mbox_writer *w)
{
	int rc = archive_write_close(w->ar);

	archive_write_free(w->ar);
	w->ar = NULL;
	if (rc != ARCHIVE_OK) {
		errno = EIO;
		return -1;
	}
	if (w->to_stdout)
		return 0;
	if (!w->o.no_sync && fsync(w->fd) == -1)
		return -1;
	if (close(w->fd) == -1) {
		w->fd = -1;
		return -1;
	}
	w->fd = -1;
	if (link(w->tmp_path, w->path) == -1)
		return -1;
	unlink(w->tmp_path);
	if (!w->o.no_sync)
		(void)fsync_dir_of(w->path);
	return 0;
}

int
mbox_writer_close(struct mbox_writer *w)
{
	if (w->in_msg && !w->failed) {
		errno = EINVAL;
		writer_fail(w, "message not finished in");
	}
	if (!w->failed)
		mbox_writer_flush(w);
	if (!w->failed && w->ar != NULL && publish_compressed(w) == -1) {
		int e = errno;
		w->status = e == EEXIST ? EX_CANTCREAT : EX_IOERR;
		report_error_sys(w->status, "unable to finish compressed %s%s%s", w->path,
		    w->tmp_path ? " from " : "", w->tmp_path ? w->tmp_path : "");
		w->failed = true;
	}
	int status = w->failed ? (w->status ? w->status : EX_IOERR) : 0;
	if (w->failed) {
		mbox_writer_abort(w);
		return status;
	}
	writer_free(w);
	return 0;
}

void
mbox_writer_abort(struct mbox_writer *w)
{
	if (w == NULL)
		return;
	writer_take_back(w);
	if (w->ar != NULL) {
		archive_write_free(w->ar);
		w->ar = NULL;
	}
	if (w->tmp_path != NULL)
		unlink(w->tmp_path);
	writer_free(w);
}

size_t
mbox_writer_messages(const struct mbox_writer *w)
{
	return w->messages;
}

size_t
mbox_writer_added_newlines(const struct mbox_writer *w)
{
	return w->added_nl;
}

/* ======================================================================
 * Rewriting in place through a journal (DESIGN §3, SPEC §5 O7)
 *
 * Journal = 64-byte header + the new tail. The header is written last
 * (after the tail is fsynced) and carries a hash of itself, so a journal is
 * either complete and valid, or it is discarded - and the mailbox is not
 * touched before the journal is complete, so discarding loses nothing.
 * Copying back is idempotent: a crash while copying is finished by
 * repeating it from the journal.
 * ====================================================================== */

#define JOURNAL_MAGIC "MSJRNL01"
#define JOURNAL_HDR 64

struct journal_hdr {
	char magic[8];
	uint64_t dev, ino;
	uint64_t start;           /* where the tail goes */
	uint64_t tail_len;
	uint64_t orig_size;       /* mailbox size when the rewrite began */
	uint64_t tail_hash;       /* XXH3-64 of the tail */
	uint64_t hdr_hash;        /* XXH3-64 of the 56 bytes above */
};

struct mbox_rewrite {
	struct mbox_lock *lk;
	char *jpath;
	int jfd;
	off_t start;
	off_t orig_size;
	uint64_t tail_len;
	XXH3_state_t *hash;
	bool failed;
};

char *
mbox_journal_path(const char *path)
{
	return xasprintf("%s.mailshift-journal", path);
}

/* A crash point for the tests: ftruncate and unlink count as writes. */
static int
rw_step(void)
{
	return testhook_before_write();
}

/* Copy the journal's tail into the mailbox, cut it, sync, drop the journal. */
static int
journal_apply(struct mbox_lock *lk, int jfd, const char *jpath, const struct journal_hdr *jh)
{
	char *buf = xmalloc(OBUF_SIZE);
	uint64_t done = 0;
	int rc = -1;

	while (done < jh->tail_len) {
		size_t want = jh->tail_len - done < OBUF_SIZE ? (size_t)(jh->tail_len - done) : OBUF_SIZE;
		ssize_t n = pread_full(jfd, buf, want, JOURNAL_HDR + (off_t)done);
		if (n != (ssize_t)want) {
			if (n >= 0)
				errno = EIO;
			goto out;
		}
		if (pwrite_all(lk->fd, buf, want, (off_t)(jh->start + done)) == -1)
			goto out;
		done += want;
	}
	if (rw_step() == -1 || ftruncate(lk->fd, (off_t)(jh->start + jh->tail_len)) == -1)
		goto out;
	if (fsync(lk->fd) == -1)
		goto out;
	if (rw_step() == -1 || unlink(jpath) == -1)
		goto out;
	(void)fsync_dir_of(jpath);
	rc = 0;
out:
	free(buf);
	return rc;
}

static uint64_t
journal_hdr_hash(const struct journal_hdr *jh)
{
	return XXH3_64bits(jh, offsetof(struct journal_hdr, hdr_hash));
}

/* Is the journal complete and valid for this mailbox? Fills *jh. */
static bool
journal_valid(struct mbox_lock *lk, int jfd, struct journal_hdr *jh, const char **why_r)
{
	struct stat st;

	*why_r = "incomplete";
	if (pread_full(jfd, jh, sizeof *jh, 0) != (ssize_t)sizeof *jh ||
	    memcmp(jh->magic, JOURNAL_MAGIC, 8) != 0 || journal_hdr_hash(jh) != jh->hdr_hash)
		return false;
	if (fstat(jfd, &st) == -1 || (uint64_t)st.st_size != JOURNAL_HDR + jh->tail_len)
		return false;
	if (jh->dev != (uint64_t)lk->st.st_dev || jh->ino != (uint64_t)lk->st.st_ino) {
		*why_r = "for another file (device or inode differ)";
		return false;
	}
	XXH3_state_t *h = XXH3_createState();
	char *buf = xmalloc(OBUF_SIZE);
	uint64_t done = 0;
	bool ok = true;
	XXH3_64bits_reset(h);
	while (ok && done < jh->tail_len) {
		size_t want = jh->tail_len - done < OBUF_SIZE ? (size_t)(jh->tail_len - done) : OBUF_SIZE;
		ok = pread_full(jfd, buf, want, JOURNAL_HDR + (off_t)done) == (ssize_t)want;
		XXH3_64bits_update(h, buf, want);
		done += want;
	}
	ok = ok && XXH3_64bits_digest(h) == jh->tail_hash;
	XXH3_freeState(h);
	free(buf);
	if (!ok)
		*why_r = "damaged (checksum mismatch)";
	return ok;
}

int
mbox_journal_recover(struct mbox_lock *lk, int *rolled_r)
{
	char *jpath = mbox_journal_path(lk->path);
	struct journal_hdr jh;
	const char *why;
	struct stat st;
	int rc = 0;

	if (rolled_r)
		*rolled_r = 0;
	int jfd = open(jpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (jfd == -1) {
		if (errno != ENOENT) {
			report_error_sys(EX_IOERR, "unable to open %s", jpath);
			rc = -1;
		}
		free(jpath);
		return rc;
	}
	if (!journal_valid(lk, jfd, &jh, &why)) {
		/* the mailbox was not touched yet: nothing to finish */
		report_warn("%s: discarding journal %s: %s", lk->path, jpath, why);
		if (unlink(jpath) == -1) {
			report_error_sys(EX_IOERR, "unable to remove %s", jpath);
			rc = -1;
		}
		goto out;
	}
	uint64_t new_end = jh.start + jh.tail_len;
	if (fstat(lk->fd, &st) == -1 ||
	    (uint64_t)st.st_size > (jh.orig_size > new_end ? jh.orig_size : new_end)) {
		/* Someone appended after the crash without our locks: rolling
		 * forward would cut that mail off. */
		report_error(EX_TEMPFAIL, "%s: grew after an interrupted rewrite; journal %s "
		    "left in place for inspection", lk->path, jpath);
		rc = -1;
		goto out;
	}
	if (journal_apply(lk, jfd, jpath, &jh) == -1) {
		report_error_sys(EX_IOERR, "unable to finish the interrupted rewrite of %s", lk->path);
		rc = -1;
		goto out;
	}
	report_info("%s: finished an interrupted rewrite (journal %s)", lk->path, jpath);
	if (rolled_r)
		*rolled_r = 1;
out:
	close(jfd);
	free(jpath);
	return rc;
}

struct mbox_rewrite *
mbox_rewrite_begin(struct mbox_lock *lk, off_t start)
{
	struct stat st;

	if (lk->mode != MBOX_LOCK_WRITE) {
		report_error(EX_SOFTWARE, "%s: rewrite needs the write lock", lk->path);
		return NULL;
	}
	if (mbox_journal_recover(lk, NULL) == -1)
		return NULL;
	if (fstat(lk->fd, &st) == -1) {
		report_error_sys(EX_IOERR, "unable to stat %s", lk->path);
		return NULL;
	}
	if (start < 0 || start > st.st_size) {
		report_error(EX_SOFTWARE, "%s: rewrite offset %lld beyond the end (%lld)",
		    lk->path, (long long)start, (long long)st.st_size);
		return NULL;
	}
	struct mbox_rewrite *rw = xcalloc(1, sizeof *rw);
	rw->lk = lk;
	rw->start = start;
	rw->orig_size = st.st_size;
	rw->jpath = mbox_journal_path(lk->path);
	rw->jfd = open(rw->jpath, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (rw->jfd == -1) {
		report_error_sys(EX_CANTCREAT, "unable to create %s", rw->jpath);
		free(rw->jpath);
		free(rw);
		return NULL;
	}
	rw->hash = XXH3_createState();
	XXH3_64bits_reset(rw->hash);
	/* An all-zero header is "incomplete" until commit writes the real one. */
	static const char zero[JOURNAL_HDR];
	if (write_all(rw->jfd, zero, sizeof zero) == -1) {
		report_error_sys(report_status_for_write_errno(errno), "unable to write %s", rw->jpath);
		mbox_rewrite_abort(rw);
		return NULL;
	}
	return rw;
}

static int
rw_fail(struct mbox_rewrite *rw, const char *what)
{
	int st = report_status_for_write_errno(errno);

	report_error_sys(st ? st : EX_IOERR, "%s %s", what, rw->jpath);
	rw->failed = true;
	return -1;
}

int
mbox_rewrite_insert(struct mbox_rewrite *rw, const void *p, size_t n)
{
	if (rw->failed)
		return -1;
	if (write_all(rw->jfd, p, n) == -1)
		return rw_fail(rw, "unable to write");
	XXH3_64bits_update(rw->hash, p, n);
	rw->tail_len += n;
	return 0;
}

static int
rw_check_range(struct mbox_rewrite *rw, off_t a, off_t b)
{
	if (a < 0 || b < a || b > rw->orig_size) {
		report_error(EX_SOFTWARE, "%s: rewrite range [%lld, %lld) outside the mailbox (%lld bytes)",
		    rw->lk->path, (long long)a, (long long)b, (long long)rw->orig_size);
		rw->failed = true;
		return -1;
	}
	return 0;
}

int
mbox_rewrite_copy(struct mbox_rewrite *rw, off_t a, off_t b)
{
	if (rw->failed || rw_check_range(rw, a, b) == -1)
		return -1;
	char *buf = xmalloc(OBUF_SIZE);
	int rc = 0;
	while (rc == 0 && a < b) {
		size_t want = b - a < OBUF_SIZE ? (size_t)(b - a) : OBUF_SIZE;
		ssize_t n = pread_full(rw->lk->fd, buf, want, a);
		if (n != (ssize_t)want) {
			errno = n < 0 ? errno : EIO;
			report_error_sys(EX_IOERR, "unable to read %s at %lld", rw->lk->path, (long long)a);
			rw->failed = true;
			rc = -1;
			break;
		}
		rc = mbox_rewrite_insert(rw, buf, want);
		a += (off_t)want;
	}
	free(buf);
	return rc;
}

int
mbox_rewrite_skip(struct mbox_rewrite *rw, off_t a, off_t b)
{
	if (rw->failed)
		return -1;
	return rw_check_range(rw, a, b);
}

static int
rw_seal(struct mbox_rewrite *rw)
{
	struct journal_hdr jh;

	memset(&jh, 0, sizeof jh);
	memcpy(jh.magic, JOURNAL_MAGIC, 8);
	jh.dev = (uint64_t)rw->lk->st.st_dev;
	jh.ino = (uint64_t)rw->lk->st.st_ino;
	jh.start = (uint64_t)rw->start;
	jh.tail_len = rw->tail_len;
	jh.orig_size = (uint64_t)rw->orig_size;
	jh.tail_hash = XXH3_64bits_digest(rw->hash);
	jh.hdr_hash = journal_hdr_hash(&jh);
	/* tail durable first, then the header that declares it complete */
	if (fsync(rw->jfd) == -1 || pwrite_all(rw->jfd, &jh, sizeof jh, 0) == -1 ||
	    fsync(rw->jfd) == -1 || fsync_dir_of(rw->jpath) == -1)
		return -1;
	return 0;
}

int
mbox_rewrite_commit(struct mbox_rewrite *rw)
{
	struct journal_hdr jh;
	const char *why;
	int rc = -1;

	if (rw->failed) {
		mbox_rewrite_abort(rw);
		return -1;
	}
	if (rw_seal(rw) == -1) {
		rw_fail(rw, "unable to write");
		mbox_rewrite_abort(rw);
		return -1;
	}
	/* Read back what recovery would use, so both paths apply the same. */
	if (!journal_valid(rw->lk, rw->jfd, &jh, &why)) {
		errno = EIO;
		rw_fail(rw, "journal does not verify:");
		mbox_rewrite_abort(rw);
		return -1;
	}
	if (journal_apply(rw->lk, rw->jfd, rw->jpath, &jh) == -1)
		/* the journal stays: the next open rolls it forward */
		report_error_sys(report_status_for_write_errno(errno) ? report_status_for_write_errno(errno)
		    : EX_IOERR, "unable to rewrite %s (journal %s kept)", rw->lk->path, rw->jpath);
	else
		rc = 0;
	close(rw->jfd);
	XXH3_freeState(rw->hash);
	free(rw->jpath);
	free(rw);
	return rc;
}

void
mbox_rewrite_abort(struct mbox_rewrite *rw)
{
	if (rw == NULL)
		return;
	close(rw->jfd);
	unlink(rw->jpath);
	XXH3_freeState(rw->hash);
	free(rw->jpath);
	free(rw);
}

int
mbox_truncate_empty(struct mbox_lock *lk)
{
	if (rw_step() == -1 || ftruncate(lk->fd, 0) == -1 || fsync(lk->fd) == -1) {
		report_error_sys(EX_IOERR, "unable to empty %s", lk->path);
		return -1;
	}
	return 0;
}

int
mbox_rewrite_remove_head(struct mbox_lock *lk, off_t k)
{
	struct stat st;

	if (fstat(lk->fd, &st) == -1) {
		report_error_sys(EX_IOERR, "unable to stat %s", lk->path);
		return -1;
	}
	if (k < 0 || k > st.st_size) {
		report_error(EX_SOFTWARE, "%s: cannot remove %lld bytes of %lld", lk->path,
		    (long long)k, (long long)st.st_size);
		return -1;
	}
	if (k == 0)
		return 0;
	if (k == st.st_size) {
		if (mbox_journal_recover(lk, NULL) == -1)
			return -1;
		return mbox_truncate_empty(lk);
	}
	struct mbox_rewrite *rw = mbox_rewrite_begin(lk, 0);
	if (rw == NULL)
		return -1;
	if (mbox_rewrite_copy(rw, k, st.st_size) == -1) {
		mbox_rewrite_abort(rw);
		return -1;
	}
	return mbox_rewrite_commit(rw);
}
