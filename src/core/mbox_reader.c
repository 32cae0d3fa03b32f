/*
 * mbox_reader.c: the mbox family reader (SPEC §2.2-2.9; the boundary
 * algorithm of §2.5; edge cases §5 X1-X21).
 *
 * Design (DESIGN §2 "The reader is a stream"): bytes come in with read(2),
 * or pread(2) for a regular file, into one buffer of fixed size; the file is
 * never mmap'ed, because another process may truncate an mbox under us.
 * A message is found line by line:
 *
 *   From_ line  -> copied to the header buffer (a view for the caller)
 *   header      -> up to the first empty line, copied to the header buffer
 *                  with mboxrd quote bytes removed (headers are small)
 *   body        -> handed out as iovecs into the read buffer; a quote byte
 *                  is skipped by ending one iovec before it and starting
 *                  the next after it, so unquoting copies nothing
 *
 * A body line starting "From " ends the message only if it passes the From_
 * grammar (date.c); otherwise it is body text, counted for check. An empty
 * line directly before a boundary (or the end of file) is the separator
 * and is not part of the message; it is held back until the next line shows
 * whether it was the separator. A valid Content-Length (one that lands on
 * [CR]LF + a From_ line, or on the end of the file) decides the boundary
 * instead of the scan. For a seekable file the check reads ahead with
 * pread; for a stream it can only look inside the buffer.
 *
 * The variant: with MBOX_AUTO a seekable file whose first message carries
 * a Content-Length is pre-scanned once; if every message has a valid
 * Content-Length and some body holds an unquoted "From " line, the file is
 * mboxcl2 and nothing is unquoted (SPEC §2.3 ▶). Otherwise one '>' is
 * removed from lines matching ">+From " (exact for mboxrd, the least
 * damaging reading of mboxo).
 *
 * A message made of only the separator line becomes an empty message (so
 * that writing it back gives the same bytes); it is counted and reported.
 *
 * This is the one place that decides where a message ends: check reads
 * through it too, and hears what it notices (opts.on_anomaly) at the
 * offsets repair needs; the probe readers of the pre-scan tell nothing.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <xxhash.h>

#ifdef __SSE2__
#include <emmintrin.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#endif
#include "date.h"
#include "header.h"
#include "lock.h"
#include "mbox_reader.h"
#include "report.h"
#include "util.h"

#define DEFAULT_BUFSIZE (4u * 1024 * 1024)
/* Enough to see a whole From_ line candidate and its line end. */
#define LOOKAHEAD (FROMLINE_MAX + 2)
/* Live reading: the bytes before the resume offset that must not change. */
#define LIVE_WINDOW 4096

static const char nl_lf[] = "\n";
static const char nl_crlf[] = "\r\n";

struct mbox_reader {
	/* the From_ line the body scan found ending the message before
	 * (parsed there, not again for its header); offset -1: none */
	off_t next_from_off;
	struct fromline next_from;
	struct source *src;
	struct mbox_reader_opts opts;
	bool unquote;              /* remove one '>' from >+From lines */
	enum mbox_variant variant; /* decided variant */
	bool probe;                /* pre-scan reader: count only */
	bool partial;              /* probe of a stream's buffer: data ends before the file */
	bool probe_stop;           /* partial probe reached the end of what it can judge */

	char *buf;
	size_t cap;
	size_t pos, end;           /* unconsumed data is buf[pos, end) */
	off_t buf_off;             /* file offset of buf[0] */
	off_t read_off;            /* next file offset to read (seekable) */
	off_t limit;               /* size at open for seekable files, else -1 */
	bool eof;
	bool failed;

	char *hdr;                 /* From_ line + header copy */
	size_t hdr_cap;
	struct strbuf pseudo_hdr;  /* header of the skipped pseudo message */

	/* current message */
	bool started;              /* the first From_ line was consumed */
	bool in_message;           /* body not yet fully handed out */
	bool line_start;
	int pending;               /* held-back empty line: 0, 1 (LF), 2 (CR LF) */
	int64_t cl_left;           /* >= 0: Content-Length bytes still to hand out */
	int64_t msg_size;
	off_t msg_off;
	off_t msg_end;
	size_t index;
	int64_t cl_body_from;      /* probe: unquoted From lines in CL bodies */
	bool all_cl_valid;         /* probe: every message had a valid CL */

	struct mbox_counters c;
	int status;                /* of the error reported (mbox_reader_status) */

	/* what on_anomaly is told (mbox_reader.h) */
	off_t body_off;            /* file offset of the current body */
	long long msg_quotes;      /* its unquoted From lines */
	bool cl_bad;               /* its Content-Length does not land */
	bool cl_field;             /* its first Content-Length field was seen: */
	long long cl_declared;     /*   the digits of its value */
	off_t cl_a, cl_b;          /*   and where that value is */
	int eol_first;             /* line end of the first From_ line: 1 LF, 2 CR LF */
	bool mixed_told;
	bool last_lf;              /* the last byte read is LF */

	/* live reading (opts.live, see mbox_reader.h) */
	bool live_known;           /* live_st and the window describe the last read */
	struct stat live_st;       /* the file as the last read left it */
	off_t win_off;             /* window: the bytes before read_off */
	size_t win_len;
	uint64_t win_hash;
	bool rewritten;
	bool held_back;
};

const char *
mbox_variant_name(enum mbox_variant v)
{
	switch (v) {
	case MBOX_AUTO: return "auto";
	case MBOX_MBOXO: return "mboxo";
	case MBOX_MBOXRD: return "mboxrd";
	case MBOX_MBOXCL: return "mboxcl";
	case MBOX_MBOXCL2: return "mboxcl2";
	}
	return "?";
}

int
mbox_variant_parse(const char *s)
{
	static const char *const names[] = { "auto", "mboxo", "mboxrd", "mboxcl", "mboxcl2" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

static off_t
pos_off(const struct mbox_reader *r, size_t pos)
{
	return r->buf_off + (off_t)pos;
}

static void
warn_at(struct mbox_reader *r, off_t off, const char *what)
{
	if (!r->opts.quiet && !r->probe)
		report_warn("%s:%lld: %s", r->src->name, (long long)off, what);
}

/* Tell the caller of an anomaly (mbox_reader.h); a probe tells nothing. */
static void
tell(struct mbox_reader *r, enum mbox_anomaly_kind kind, off_t off, long long value)
{
	if (r->opts.on_anomaly == NULL || r->probe)
		return;
	struct mbox_anomaly a = { .kind = kind, .offset = off, .value = value, .value2 = -1,
		.declared = -1, .span_start = -1, .span_end = -1 };
	r->opts.on_anomaly(r->opts.anomaly_arg, &a);
}

/* A From_ line or a header's end line with this line end (X14). */
static void
eol_seen(struct mbox_reader *r, bool crlf, off_t off)
{
	int k = crlf ? 2 : 1;

	if (r->eol_first == 0)
		r->eol_first = k;
	else if (k != r->eol_first && !r->mixed_told) {
		r->mixed_told = true;
		tell(r, MBOX_ANOMALY_MIXED_EOL, off, -1);
	}
}

/* The end of the data: does the file end with a line end (X5)? */
static void
set_eof(struct mbox_reader *r)
{
	if (!r->eof && r->read_off > 0 && !r->last_lf)
		tell(r, MBOX_ANOMALY_NO_FINAL_NEWLINE, r->read_off, -1);
	r->eof = true;
}

/* The current message's Content-Length did not land: its body ends at
 * file offset end (without the separator); noeol: its last line has no
 * line end. */
static void
tell_cl(struct mbox_reader *r, off_t end, bool noeol)
{
	if (r->opts.on_anomaly == NULL || r->probe)
		return;
	long long body = (long long)(end - r->body_off);
	struct mbox_anomaly a = { .kind = MBOX_ANOMALY_CONTENT_LENGTH, .offset = r->msg_off,
		.value = body + r->msg_quotes + (noeol ? 1 : 0), .value2 = body,
		.declared = r->cl_declared, .span_start = r->cl_a, .span_end = r->cl_b };
	if (!r->cl_field)
		a.declared = a.span_start = a.span_end = -1;
	r->opts.on_anomaly(r->opts.anomaly_arg, &a);
}

/* 1 when the line at buf[pos] (a From_ line) ends in CR LF, else 0. */
static int
line_is_crlf(const struct mbox_reader *r, size_t pos)
{
	const char *p = r->buf + pos;
	const char *e = memchr(p, '\n', r->end - pos);
	return e != NULL && e > p && e[-1] == '\r';
}

/* ---- live reading (mbox_reader.h) ---------------------------------------- */

static bool
same_state(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_size == b->st_size &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static uint64_t
window_hash_read(struct mbox_reader *r, bool *ok)
{
	char tmp[LIVE_WINDOW];

	*ok = r->win_len <= sizeof tmp &&
	    source_pread(r->src, tmp, r->win_len, r->win_off) == (ssize_t)r->win_len;
	return *ok ? XXH3_64bits(tmp, r->win_len) : 0;
}

/*
 * Take the locks back and check the file: 0 (limit updated to the end of
 * file as the writers left it), or -1 (reported, or r->rewritten set).
 */
static int
live_begin(struct mbox_reader *r)
{
	struct stat st;

	int rc = mbox_lock_retake(r->opts.live);
	if (rc != 0) {
		r->status = rc > 0 ? rc : report_exit_status_or(EX_TEMPFAIL);
		r->failed = true;
		return -1;
	}
	if (fstat(r->src->fd, &st) == -1) {
		report_error_sys(EX_IOERR, "unable to stat %s", r->src->name);
		r->status = EX_IOERR;
		goto fail;
	}
	if (r->live_known && !same_state(&st, &r->live_st)) {
		bool ok;
		uint64_t h = 0;
		if (st.st_size >= r->win_off + (off_t)r->win_len)
			h = window_hash_read(r, &ok);
		else
			ok = false;
		if (!ok || h != r->win_hash) {
			r->rewritten = true;
			goto fail;
		}
	}
	r->live_st = st;
	r->limit = st.st_size;
	return 0;
fail:
	mbox_lock_yield(r->opts.live);
	r->failed = true;
	return -1;
}

/* After a sequential read that ended at file offset end_off (buffer index
 * buf_end): remember the window before it, from the buffer when it holds
 * it. Under the locks. */
static void
live_window(struct mbox_reader *r, size_t buf_end, off_t end_off)
{
	off_t start = end_off > LIVE_WINDOW ? end_off - LIVE_WINDOW : 0;

	r->win_off = start;
	r->win_len = (size_t)(end_off - start);
	if (start >= r->buf_off && end_off == pos_off(r, buf_end)) {
		r->win_hash = XXH3_64bits(r->buf + (start - r->buf_off), r->win_len);
	} else {
		bool ok;
		r->win_hash = window_hash_read(r, &ok);
	}
	r->live_known = true;
}

static void
live_end(struct mbox_reader *r)
{
	mbox_lock_yield(r->opts.live);
}

/* Positional read for a look ahead (Content-Length), under the locks when
 * live. */
static ssize_t
reader_pread(struct mbox_reader *r, void *buf, size_t len, off_t off)
{
	if (r->opts.live == NULL)
		return source_pread(r->src, buf, len, off);
	if (live_begin(r) == -1)
		return -2;
	if (off > r->limit) {
		live_end(r);
		return 0;
	}
	if ((off_t)len > r->limit - off)
		len = (size_t)(r->limit - off);
	ssize_t n = source_pread(r->src, buf, len, off);
	live_end(r);
	return n;
}

/* The last message ends at end of file without the empty line writers put
 * after a message: may a writer we could not lock out still be adding to
 * it? (mbox_reader.h) */
static bool
live_hold_back(struct mbox_reader *r)
{
	if (r->opts.live == NULL || !r->opts.live->no_dotlock || !r->live_known)
		return false;
	if (time(NULL) - r->live_st.st_mtime >= LOCK_STALE_AGE)
		return false;   /* nobody has written for 5 minutes: finished */
	r->held_back = true;
	r->failed = true;
	return true;
}

bool
mbox_reader_rewritten(const struct mbox_reader *r)
{
	return r->rewritten;
}

bool
mbox_reader_held_back(const struct mbox_reader *r)
{
	return r->held_back;
}

/* Move unconsumed data to the front and read more. Returns bytes added,
 * 0 at end of file, -1 on error (reported). */
static ssize_t
fill(struct mbox_reader *r)
{
	if (r->eof)
		return 0;
	if (r->pos > 0) {
		memmove(r->buf, r->buf + r->pos, r->end - r->pos);
		r->buf_off += (off_t)r->pos;
		r->end -= r->pos;
		r->pos = 0;
	}
	if (r->end == r->cap)
		return 0;       /* caller asked for more than a buffer: cannot grow */
	size_t want = r->cap - r->end;
	ssize_t n;
	if (r->src->seekable) {
		if (r->opts.live && live_begin(r) == -1)
			return -1;
		if (r->read_off >= r->limit) {
			set_eof(r);
			if (r->opts.live)
				live_end(r);
			return 0;
		}
		if ((off_t)want > r->limit - r->read_off)
			want = (size_t)(r->limit - r->read_off);
		n = source_pread(r->src, r->buf + r->end, want, r->read_off);
		if (r->opts.live) {
			if (n > 0)
				live_window(r, r->end + (size_t)n, r->read_off + n);
			live_end(r);
		}
		if (n == 0 && r->read_off < r->limit) {
			report_error(EX_IOERR, "%s:%lld: mailbox shrank while being read "
			    "(size was %lld at open)", r->src->name, (long long)r->read_off,
			    (long long)r->limit);
			r->status = EX_IOERR;
			r->failed = true;
			return -1;
		}
	} else {
		n = source_read(r->src, r->buf + r->end, want);
	}
	if (n == -1 && errno == EINTR && r->src->errmsg == NULL) {
		/* a pipe's silent writer, and the command was told to stop */
		report_error(EX_TEMPFAIL, "%s:%lld: interrupted while waiting for more bytes",
		    r->src->name, (long long)(r->buf_off + (off_t)r->end));
		r->status = EX_TEMPFAIL;
		r->failed = true;
		return -1;
	}
	if (n == -1) {
		/* bad data (a compressed stream that breaks off, an archive of
		 * more files) or the file could not be read */
		report_error(r->src->errmsg ? EX_DATAERR : EX_IOERR, "%s:%lld: %s%s", r->src->name,
		    (long long)(r->buf_off + (off_t)r->end), r->src->errmsg ? "" : "read error: ",
		    source_error_string(r->src));
		r->status = r->src->errmsg ? EX_DATAERR : EX_IOERR;
		r->failed = true;
		return -1;
	}
	if (n == 0) {
		set_eof(r);
		return 0;
	}
	r->end += (size_t)n;
	r->last_lf = r->buf[r->end - 1] == '\n';
	r->read_off += n;
	return n;
}

/*
 * Make sure buf[pos...] holds a complete line (up to LF) or at least `need`
 * bytes or everything up to end of file. Returns 0, or -1 on error.
 * Compacts the buffer: only call when no view into it is outstanding.
 */
static int
ensure_line(struct mbox_reader *r, size_t need)
{
	for (;;) {
		size_t avail = r->end - r->pos;
		if (avail >= need || memchr(r->buf + r->pos, '\n', avail) != NULL || r->eof)
			return 0;
		ssize_t n = fill(r);
		if (n == -1)
			return -1;
		if (n == 0 && !r->eof)
			return 0;   /* buffer full */
	}
}

/* The line at r->pos, whole in the buffer (as ensure_line(r, r->cap)
 * makes it): its length through its LF, *lf false when it has none (the
 * end of the file, or a line that fills the buffer). One memchr() a line.
 * 0 or -1. */
static int
whole_line(struct mbox_reader *r, size_t *n_r, bool *lf)
{
	for (;;) {
		const char *p = r->buf + r->pos;
		size_t avail = r->end - r->pos;
		const char *e = memchr(p, '\n', avail);
		if (e != NULL || r->eof || avail >= r->cap) {
			*lf = e != NULL;
			*n_r = e ? (size_t)(e - p) + 1 : avail;
			return 0;
		}
		ssize_t n = fill(r);
		if (n == -1)
			return -1;
		if (n == 0 && !r->eof) {
			*lf = false;        /* buffer full */
			*n_r = r->end - r->pos;
			return 0;
		}
	}
}

/* Length of the line at p (through LF) within avail bytes; *lf false when
 * no LF was found. */
static size_t
line_len(const char *p, size_t avail, bool *lf)
{
	const char *e = memchr(p, '\n', avail);
	*lf = e != NULL;
	return e ? (size_t)(e - p) + 1 : avail;
}

/*
 * The bytes from p (in a line) up to and including the first LF after
 * which a line starts that mbox_reader_body() must judge, one beginning
 * with LF, CR, 'F' or '>' (an empty line, a From_ line, a quoted one), or
 * that ends the data; avail when there is no such LF. Other lines are
 * body text whatever follows their first byte: SSE2 passes them over 16
 * bytes at a time, instead of one memchr() call per line.
 *
 * An empty line (LF) is judged only when the line after it begins with
 * 'F': it can be the separator only before a From_ line (before an empty,
 * CR LF or '>' line the scan stops at that line, past the empty one). The
 * others, a paragraph break each, stay inside the run of text: stopping
 * at every one made three pieces of each paragraph break (text, held-back
 * LF, text), which every consumer of the pieces paid for again.
 */
#if defined(__x86_64__) && defined(__GNUC__)
/* plain_len()'s loop 32 bytes a step (AVX2): from i, while more than 32
 * bytes follow; the offset past the LF found, or where it stopped. */
__attribute__((target("avx2")))
static size_t
plain_len_avx2(const char *p, size_t avail, size_t i, bool *found)
{
	const __m256i lf = _mm256_set1_epi8('\n'), cr = _mm256_set1_epi8('\r');
	const __m256i F = _mm256_set1_epi8('F'), gt = _mm256_set1_epi8('>');

	*found = false;
	for (; avail - i > 33; i += 32) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(p + i));
		__m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(p + i + 1));
		__m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(p + i + 2));
		__m256i empty = _mm256_and_si256(_mm256_cmpeq_epi8(b, lf), _mm256_cmpeq_epi8(c, F));
		__m256i next = _mm256_or_si256(
		    _mm256_or_si256(empty, _mm256_cmpeq_epi8(b, cr)),
		    _mm256_or_si256(_mm256_cmpeq_epi8(b, F), _mm256_cmpeq_epi8(b, gt)));
		unsigned m = (unsigned)_mm256_movemask_epi8(_mm256_and_si256(_mm256_cmpeq_epi8(a, lf), next));
		if (m != 0) {
			*found = true;
			return i + (size_t)__builtin_ctz(m) + 1;
		}
	}
	return i;
}
#endif

static size_t
plain_len(const char *p, size_t avail)
{
	size_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
	if (avail > 64 && cpu_avx2()) {
		bool found;
		i = plain_len_avx2(p, avail, 0, &found);
		if (found)
			return i;
	}
#endif
#ifdef __SSE2__
	const __m128i lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');
	const __m128i F = _mm_set1_epi8('F'), gt = _mm_set1_epi8('>');
	for (; avail - i > 17; i += 16) {
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 1));
		__m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 2));
		__m128i empty = _mm_and_si128(_mm_cmpeq_epi8(b, lf), _mm_cmpeq_epi8(c, F));
		__m128i next = _mm_or_si128(_mm_or_si128(empty, _mm_cmpeq_epi8(b, cr)),
		    _mm_or_si128(_mm_cmpeq_epi8(b, F), _mm_cmpeq_epi8(b, gt)));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, lf), next));
		if (m != 0)
			return i + (size_t)__builtin_ctz(m) + 1;
	}
#endif
	for (;;) {
		const char *e = memchr(p + i, '\n', avail - i);
		if (e == NULL)
			return avail;
		i = (size_t)(e - p) + 1;
		if (i == avail || p[i] == '\n' || p[i] == '\r' || p[i] == 'F' || p[i] == '>')
			return i;
	}
}

/* 1 (LF) or 2 (CR LF) when the line at p is empty, else 0. */
static int
empty_line(const char *p, size_t avail)
{
	if (avail >= 1 && p[0] == '\n')
		return 1;
	if (avail >= 2 && p[0] == '\r' && p[1] == '\n')
		return 2;
	return 0;
}

/* Does p (avail bytes, a whole line or LOOKAHEAD bytes) hold a valid From_
 * line? */
static bool
is_from_line(const char *p, size_t avail, struct fromline *fl)
{
	struct fromline tmp;
	bool lf;

	if (avail < 5 || memcmp(p, "From ", 5) != 0)
		return false;
	size_t n = line_len(p, avail, &lf);
	if (!lf && avail >= LOOKAHEAD)
		return false;   /* longer than any From_ line */
	if (lf)
		n--;
	return fromline_parse(p, n, fl ? fl : &tmp);
}

/* Count quote bytes: number of '>' before "From " when the line is quoted. */
static size_t
quoted_from(const char *p, size_t avail)
{
	size_t i = 0;

	while (i < avail && p[i] == '>')
		i++;
	if (i == 0 || avail - i < 5 || memcmp(p + i, "From ", 5) != 0)
		return 0;
	return i;
}

static void
hdr_reserve(struct mbox_reader *r, size_t n)
{
	if (n <= r->hdr_cap)
		return;
	size_t cap = r->hdr_cap ? r->hdr_cap : 16384;
	while (cap < n)
		cap *= 2;
	r->hdr = xrealloc(r->hdr, cap);
	r->hdr_cap = cap;
}

/*
 * Content-Length of a header block, when it is a single well-formed decimal
 * (or several equal ones). -1 otherwise (*present tells whether any).
 */
static int64_t
header_content_length(const char *h, size_t len, bool *present)
{
	struct header_iter it;
	struct header_field f;
	int64_t val = -1;

	*present = false;
	header_iter_init(&it, h, len);
	while (header_iter_next(&it, &f)) {
		if (f.name_len != 14 || !mem_ieq(f.name, "Content-Length", 14))
			continue;
		*present = true;
		const char *p = f.value, *e = f.value + f.value_len;
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		if (p == e || e - p > 15)
			return -1;
		int64_t v = 0;
		for (; p < e; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			v = v * 10 + (*p - '0');
		}
		if (val != -1 && v != val)
			return -1;
		val = v;
	}
	return val;
}

/* Does a boundary (EOF, or [CR]LF + valid From_ line) sit at file offset t?
 * 1 yes, 0 no, -1 cannot tell (stream, beyond the buffer), -2 a live read
 * failed (reported, or r->rewritten). */
static int
boundary_at(struct mbox_reader *r, off_t t)
{
	char tmp[LOOKAHEAD + 2];
	const char *p;
	size_t avail;
	bool at_eof;

	off_t end_off = pos_off(r, r->end);
	if (r->partial && t + (off_t)sizeof tmp > end_off)
		return -1;      /* past what a probe of a stream's buffer holds */
	if (t >= r->buf_off && t <= end_off &&
	    (end_off - t >= (off_t)sizeof tmp || r->eof)) {
		p = r->buf + (t - r->buf_off);
		avail = (size_t)(end_off - t);
		at_eof = r->eof;
	} else if (r->src->seekable) {
		if (t > r->limit && r->opts.live == NULL)
			return 0;
		ssize_t n = reader_pread(r, tmp, sizeof tmp, t);
		if (n == -2)
			return -2;
		if (n < 0 || t > r->limit)
			return 0;
		p = tmp;
		avail = (size_t)n;
		at_eof = t + n >= r->limit;
	} else {
		return -1;
	}
	if (at_eof && avail == 0)
		return 1;
	int e = empty_line(p, avail);
	if (e == 0)
		return 0;
	if (at_eof && avail == (size_t)e)
		return 1;
	return is_from_line(p + e, avail - (size_t)e, NULL) ? 1 : 0;
}

/* The UW pseudo message (SPEC §2.9 ▶): X-IMAP with two decimal numbers. */
static bool
is_pseudo(const char *h, size_t len)
{
	struct header_field f;

	if (!header_find(h, len, "X-IMAP", &f))
		return false;
	const char *p = f.value, *e = f.value + f.value_len;
	for (int k = 0; k < 2; k++) {
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		const char *d = p;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
		if (p == d)
			return false;
	}
	return true;
}

/* The first Content-Length field of a header, the line at p (at r->pos,
 * n bytes): where its value is and its leading digits, for a repair. */
static void
cl_field(struct mbox_reader *r, const char *p, size_t n, bool lf)
{
	size_t end = n - (lf ? 1 : 0);
	if (lf && end > 0 && p[end - 1] == '\r')
		end--;
	size_t i = 15;
	while (i < end && (p[i] == ' ' || p[i] == '\t'))
		i++;
	long long v = 0;
	for (size_t d = 0; i < end && p[i] >= '0' && p[i] <= '9' && d < 18; i++, d++)
		v = v * 10 + (p[i] - '0');
	r->cl_field = true;
	r->cl_declared = v;
	r->cl_a = pos_off(r, r->pos) + 15;
	r->cl_b = pos_off(r, r->pos) + (off_t)end;
}

/*
 * Read the From_ line and the header of the message at r->pos into r->hdr.
 * Returns 1, or -1 on error.
 */
static int
read_header(struct mbox_reader *r, struct message *m)
{
	size_t hlen = 0;
	bool lf;

	r->msg_off = pos_off(r, r->pos);
	size_t n;
	if (whole_line(r, &n, &lf) == -1)
		return -1;
	if (!lf && !r->eof) {
		report_error(EX_DATAERR, "%s:%lld: From_ line longer than %zu bytes",
		    r->src->name, (long long)r->msg_off, r->cap);
		r->status = EX_DATAERR;
		r->failed = true;
		return -1;
	}
	struct fromline fl;
	bool date_ok;
	if (r->next_from_off == r->msg_off) {
		fl = r->next_from;      /* the body scan parsed these bytes */
		date_ok = true;
	} else {
		date_ok = fromline_parse(r->buf + r->pos, lf ? n - 1 : n, &fl);
	}
	r->next_from_off = -1;
	if (!date_ok)
		tell(r, MBOX_ANOMALY_FROM_DATE, r->msg_off, -1);
	header_index_drop();            /* r->hdr is rewritten */
	hdr_reserve(r, n);
	memcpy(r->hdr, r->buf + r->pos, n);
	size_t from_len = n;
	r->pos += n;
	if (n >= 2 && r->hdr[n - 2] == '\r')
		r->c.crlf_lines++;
	else
		r->c.lf_lines++;
	if (lf)
		eol_seen(r, n >= 2 && r->hdr[n - 2] == '\r', r->msg_off);
	else
		r->c.no_final_newline = true;
	r->msg_quotes = 0;
	r->cl_bad = r->cl_field = false;

	/* header lines */
	bool seen_field = false, complete = false, cut = false;
	while (lf) {
		if (ensure_line(r, LOOKAHEAD) == -1)
			return -1;
		const char *p = r->buf + r->pos;
		size_t avail = r->end - r->pos;
		if (avail == 0)
			break;      /* end of file: the whole message is header (X21) */
		int e = empty_line(p, avail);
		if (e) {
			eol_seen(r, e == 2, pos_off(r, r->pos));
			hdr_reserve(r, from_len + hlen + (size_t)e);
			memcpy(r->hdr + from_len + hlen, p, (size_t)e);
			hlen += (size_t)e;
			r->pos += (size_t)e;
			complete = true;
			break;
		}
		if (avail >= 5 && memcmp(p, "From ", 5) == 0) {
			if (seen_field && is_from_line(p, avail, NULL)) {
				cut = true;   /* next message starts inside our header */
				break;
			}
			if (!seen_field) {
				r->c.stamps++;
				warn_at(r, pos_off(r, r->pos), "From line at the top of a header (a forwarding stamp): kept as header text");
				tell(r, MBOX_ANOMALY_STAMP, pos_off(r, r->pos), -1);
			}
		}
		size_t q = r->unquote ? quoted_from(p, avail) : 0;
		if (q && !seen_field) {
			r->c.stamps++;
			warn_at(r, pos_off(r, r->pos), ">From line at the top of a header (a forwarding stamp): kept as header text");
			tell(r, MBOX_ANOMALY_STAMP, pos_off(r, r->pos), -1);
		}
		if (whole_line(r, &n, &lf) == -1)
			return -1;
		p = r->buf + r->pos;
		if (hlen + n > READER_HEADER_MAX)
			break;      /* the rest of a huge header continues as body */
		if (q) {
			r->c.unquoted_lines++;
			p++;
			n--;
			r->pos++;
		}
		if (!r->cl_field && n >= 15 && mem_ieq(p, "Content-Length:", 15))
			cl_field(r, p, n, lf);
		hdr_reserve(r, from_len + hlen + n);
		memcpy(r->hdr + from_len + hlen, p, n);
		hlen += n;
		r->pos += n;
		if (!seen_field && *p != ' ' && *p != '\t' && memchr(p, ':', n) != NULL)
			seen_field = true;
	}
	if (!complete) {
		r->c.no_header_end++;
		if (cut) {
			r->c.missing_separator++;
			if (r->c.first_missing_separator < 0)
				r->c.first_missing_separator = pos_off(r, r->pos);
			warn_at(r, pos_off(r, r->pos), "From_ line inside a header: message ends without an empty line");
			tell(r, MBOX_ANOMALY_HEADER_CUT, pos_off(r, r->pos), -1);
		}
	}

	memset(m, 0, sizeof *m);
	m->origin = ORIGIN_MBOX;
	m->mailbox = r->src->name;
	m->offset = r->msg_off;
	m->from_line = r->hdr;
	m->from_line_len = from_len;
	m->from_date_ok = date_ok;
	if (date_ok) {
		m->env_sender = r->hdr + fl.sender_off;
		m->env_sender_len = fl.sender_len;
		m->env_time = fl.time;
		m->env_time_ok = true;
	} else {
		/* prefix-mode first line: the sender is the first word */
		const char *s = r->hdr + 5, *e = r->hdr + from_len;
		const char *w = s;
		while (w < e && *w != ' ' && *w != '\t' && *w != '\r' && *w != '\n')
			w++;
		m->env_sender = s;
		m->env_sender_len = (size_t)(w - s);
	}
	m->header = r->hdr + from_len;
	m->header_len = hlen;
	m->header_complete = complete;
	header_index_pin(m->header, m->header_len);
	m->size = -1;
	m->folder = NULL;

	/* body state */
	r->line_start = lf;
	r->pending = 0;
	r->cl_left = -1;
	r->in_message = true;
	r->msg_size = (int64_t)hlen;
	r->in_message = !cut;
	r->body_off = pos_off(r, r->pos);
	return 1;
}

/* Decide Content-Length use for the message whose header was just read.
 * 0, or -1 when a live read failed (reported or r->rewritten). */
static int
decide_cl(struct mbox_reader *r, struct message *m)
{
	bool present;

	if (r->partial && r->pos == r->end) {
		r->probe_stop = true;   /* the buffer ends inside this header */
		return 0;
	}
	if (!m->header_complete || !r->in_message) {
		r->all_cl_valid = false;
		return 0;
	}
	int64_t cl = header_content_length(m->header, m->header_len, &present);
	if (!present) {
		r->all_cl_valid = false;
		return 0;
	}
	off_t body = pos_off(r, r->pos);
	int ok = cl >= 0 ? boundary_at(r, body + cl) : 0;
	if (ok == -2)
		return -1;
	/* A stream cannot be read again: read ahead into the buffer (its
	 * capacity is the limit) to see where the Content-Length lands, so
	 * that a pipe or a compressed file splits as the plain file does. */
	while (ok == -1 && !r->src->seekable && !r->eof && !r->probe) {
		ssize_t n = fill(r);
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		ok = boundary_at(r, body + cl);
	}
	if (ok == -1 && r->partial) {
		r->probe_stop = true;
		return 0;
	}
	if (ok == 1) {
		r->cl_left = cl;
		r->c.cl_used++;
		return 0;
	}
	r->all_cl_valid = false;
	if (ok == -1) {
		r->c.cl_unverified++;
		return 0;
	}
	r->c.cl_ignored++;
	r->cl_bad = true;
	if (r->c.first_cl_ignored < 0)
		r->c.first_cl_ignored = r->msg_off;
	warn_at(r, r->msg_off, "Content-Length does not end at a message boundary; ignored");
	return 0;
}

/* Special case: a header that ends with its empty line directly before a
 * boundary. That empty line is the separator (an empty body). */
static int
header_end_is_separator(struct mbox_reader *r, struct message *m)
{
	if (!m->header_complete || r->cl_left >= 0)
		return 0;
	if (ensure_line(r, LOOKAHEAD) == -1)
		return -1;
	size_t avail = r->end - r->pos;
	if (avail > 0 && !is_from_line(r->buf + r->pos, avail, NULL))
		return 0;
	if (avail == 0 && !r->eof)
		return 0;
	/* drop the empty line from the view */
	size_t e = m->header_len >= 2 && m->header[m->header_len - 2] == '\r' ? 2 : 1;
	if (m->header_len == e) {
		r->c.empty_messages++;
		warn_at(r, r->msg_off, "empty message");
		/* that empty line was all the message had: no separator (§2.5 step 4) */
		if (avail > 0)
			tell(r, MBOX_ANOMALY_MISSING_SEPARATOR, pos_off(r, r->pos), line_is_crlf(r, r->pos));
		tell(r, MBOX_ANOMALY_EMPTY_MESSAGE, r->msg_off, -1);
	}
	if (r->cl_bad)
		tell_cl(r, pos_off(r, r->pos), false);
	m->header_len -= e;
	header_index_pin(m->header, m->header_len);
	r->msg_size -= (int64_t)e;
	r->in_message = false;
	return 1;
}

static struct mbox_reader *reader_alloc(struct source *src, const struct mbox_reader_opts *opts);

/* Skip what is left of the current message's body. 0, or -1 on error. */
static int
drain_body(struct mbox_reader *r)
{
	struct iovec iov[64];
	int n, rc = 0;

	while (r->in_message) {
		n = ARRAY_SIZE(iov);
		if ((rc = mbox_reader_body(r, iov, &n)) != 1)
			break;
	}
	return rc == -1 ? -1 : 0;
}
static int next_message(struct mbox_reader *r, struct message *m);

/*
 * A stream is read once: detect mboxcl2 from what the buffer holds. The
 * buffer is filled as far as it goes, then a probe reader walks a view of
 * it (no copy, no read) up to the first message it cannot judge. When the
 * whole stream fits, this is the seekable file's pre-scan.
 */
/* The first message's header block in the buffer, From_ line skipped;
 * false while the buffer does not hold all of it. */
static bool
first_header(const struct mbox_reader *r, const char **h_r, size_t *len_r)
{
	const char *p = r->buf + r->pos, *end = r->buf + r->end;

	while (p < end && (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')))
		p += *p == '\n' ? 1 : 2;
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	if (nl == NULL)
		return false;
	const char *h = nl + 1;
	const char *e = memmem(nl, (size_t)(end - nl), "\n\n", 2);
	const char *e2 = memmem(nl, (size_t)(end - nl), "\n\r\n", 3);
	if (e == NULL || (e2 != NULL && e2 < e))
		e = e2;
	if (e == NULL)
		return false;
	*h_r = h;
	*len_r = (size_t)(e + 1 - h);
	return true;
}

static enum mbox_variant
detect_variant_stream(struct mbox_reader *r)
{
	const char *h;
	size_t hlen;

	/* as for a file, only a first message with a Content-Length can start
	 * an mboxcl2; without one, do not wait for a full buffer */
	while (!first_header(r, &h, &hlen) && !r->eof && r->end < r->cap)
		if (fill(r) == -1)
			return MBOX_MBOXRD;     /* reported; the read fails again */
	if (!first_header(r, &h, &hlen) ||
	    !header_find(h, hlen, "Content-Length", &(struct header_field){0}))
		return MBOX_MBOXRD;
	while (!r->eof && r->end < r->cap)
		if (fill(r) == -1)
			return MBOX_MBOXRD;     /* reported; the read fails again */
	struct mbox_reader_opts o = r->opts;
	o.variant = MBOX_MBOXCL2;
	o.quiet = true;
	o.bufsize = r->cap;
	struct mbox_reader *p = xcalloc(1, sizeof *p);
	struct message m;
	int rc;

	p->src = r->src;
	p->opts = o;
	p->buf = r->buf;
	p->cap = r->cap;
	p->pos = r->pos;
	p->end = r->end;
	p->buf_off = r->buf_off;
	p->eof = true;                  /* never reads: fill() returns 0 */
	p->partial = !r->eof;
	p->limit = -1;
	p->probe = true;
	p->variant = MBOX_MBOXCL2;
	p->all_cl_valid = true;
	p->c.first_unquoted_from = p->c.first_missing_separator = p->c.first_cl_ignored = -1;
	while ((rc = next_message(p, &m)) == 1 && !p->probe_stop) {
		if (drain_body(p) == -1)
			rc = -1;
		if (rc == -1 || !p->all_cl_valid || p->probe_stop)
			break;
	}
	bool cl2 = (rc == 0 || p->probe_stop) && p->all_cl_valid && p->cl_body_from > 0;
	p->buf = NULL;                  /* the view belongs to r */
	mbox_reader_free(p);
	return cl2 ? MBOX_MBOXCL2 : MBOX_MBOXRD;
}

/* Pre-scan a seekable file to detect mboxcl2 (see the top comment). */
static enum mbox_variant
detect_variant(struct mbox_reader *r)
{
	struct mbox_reader_opts o = r->opts;
	o.variant = MBOX_MBOXCL2;
	o.quiet = true;
	struct mbox_reader *p = reader_alloc(r->src, &o);
	struct message m;
	int rc;

	p->probe = true;
	while ((rc = next_message(p, &m)) == 1) {
		if (drain_body(p) == -1)
			rc = -1;
		if (rc == -1 || !p->all_cl_valid)
			break;
	}
	bool cl2 = rc == 0 && p->all_cl_valid && p->cl_body_from > 0;
	mbox_reader_free(p);
	return cl2 ? MBOX_MBOXCL2 : MBOX_MBOXRD;
}

static struct mbox_reader *
reader_alloc(struct source *src, const struct mbox_reader_opts *opts)
{
	struct mbox_reader *r = xcalloc(1, sizeof *r);

	r->src = src;
	if (opts)
		r->opts = *opts;
	r->cap = r->opts.bufsize ? r->opts.bufsize : DEFAULT_BUFSIZE;
	/* small buffers are allowed (the tests use them to move every
	 * boundary across a buffer fill); a From_ line must still fit */
	if (r->cap < 4 * LOOKAHEAD)
		r->cap = 4 * LOOKAHEAD;
	r->buf = xmalloc_big(r->cap);
	r->limit = src->seekable ? src->size : -1;
	r->variant = r->opts.variant;
	r->unquote = r->variant != MBOX_MBOXCL2;
	r->all_cl_valid = true;
	r->c.first_unquoted_from = r->c.first_missing_separator = r->c.first_cl_ignored = -1;
	r->next_from_off = -1;
	return r;
}

struct mbox_reader *
mbox_reader_new(struct source *src, const struct mbox_reader_opts *opts)
{
	return reader_alloc(src, opts);
}

/* Pass the line at r->pos, however long. 0, or -1 on error. */
static int
skip_line(struct mbox_reader *r)
{
	for (;;) {
		const char *e = memchr(r->buf + r->pos, '\n', r->end - r->pos);
		if (e != NULL) {
			r->pos = (size_t)(e - r->buf) + 1;
			return 0;
		}
		r->pos = r->end;
		ssize_t n = fill(r);
		if (n <= 0)
			return (int)n;
	}
}

/* opts.skip_leading: the first line is no From_ line; pass the lines up
 * to the first valid one (X7). 1, or -1 (reported). */
static int
skip_leading(struct mbox_reader *r)
{
	off_t start = pos_off(r, r->pos);

	for (;;) {
		if (ensure_line(r, LOOKAHEAD) == -1)
			return -1;
		size_t avail = r->end - r->pos;
		if (avail == 0) {
			report_error(EX_DATAERR, "%s: not an mbox (no From_ line)", r->src->name);
			r->status = EX_DATAERR;
			r->failed = true;
			return -1;
		}
		if (is_from_line(r->buf + r->pos, avail, NULL))
			break;
		if (skip_line(r) == -1)
			return -1;
	}
	tell(r, MBOX_ANOMALY_LEADING, start, (long long)pos_off(r, r->pos));
	r->started = true;
	return 1;
}

/* Skip empty lines at the start of the file and check the first line. */
static int
start_file(struct mbox_reader *r)
{
	for (;;) {
		if (ensure_line(r, LOOKAHEAD) == -1)
			return -1;
		size_t avail = r->end - r->pos;
		if (avail == 0)
			return 0;
		int e = empty_line(r->buf + r->pos, avail);
		if (e == 0)
			break;
		r->pos += (size_t)e;
	}
	size_t avail = r->end - r->pos;
	const char *p = r->buf + r->pos;
	if (r->opts.skip_leading) {
		if (memchr(p, '\n', avail) == NULL && memchr(p, '\r', avail) != NULL) {
			report_error(EX_DATAERR, "%s: no LF line terminators (CR-only line ends)", r->src->name);
			r->status = EX_DATAERR;
			r->failed = true;
			return -1;
		}
		if (avail < 5 || memcmp(p, "From ", 5) != 0)
			return skip_leading(r);
	}
	if (avail < 5 || memcmp(p, "From ", 5) != 0) {
		report_error(EX_DATAERR, "%s:%lld: not an mbox: the first line is not a From_ line",
		    r->src->name, (long long)pos_off(r, r->pos));
		r->status = EX_DATAERR;
		r->failed = true;
		return -1;
	}
	r->started = true;
	return 1;
}

static int
next_message(struct mbox_reader *r, struct message *m)
{
	if (r->failed)
		return -1;
	if (drain_body(r) == -1)
		return -1;
	if (!r->started) {
		int rc = start_file(r);
		if (rc != 1)
			return rc;
	} else {
		if (ensure_line(r, 5) == -1)
			return -1;
		if (r->pos == r->end)
			return 0;
	}
	if (r->pos == r->end && r->eof)
		return 0;
	for (;;) {
		if (read_header(r, m) == -1)
			return -1;
		if (decide_cl(r, m) == -1)
			return -1;
		if (r->in_message && header_end_is_separator(r, m) == -1)
			return -1;
		if (r->index == 0 && !r->opts.keep_pseudo && is_pseudo(m->header, m->header_len)) {
			r->c.pseudo++;
			sb_reset(&r->pseudo_hdr);
			sb_append(&r->pseudo_hdr, m->header, m->header_len);
			if (drain_body(r) == -1)
				return -1;
			r->index = 0;
			if (ensure_line(r, 5) == -1)
				return -1;
			if (r->pos == r->end)
				return 0;
			continue;
		}
		break;
	}
	if (!r->in_message)
		r->msg_end = pos_off(r, r->pos);
	m->index = r->index++;
	r->c.messages++;
	return 1;
}

int
mbox_reader_next(struct mbox_reader *r, struct message *m)
{
	if (r->variant == MBOX_AUTO) {
		r->variant = MBOX_MBOXRD;
		r->unquote = true;
		/* only a file whose first message has a Content-Length can be mboxcl2 */
		if (r->src->seekable) {
			enum mbox_variant v = MBOX_MBOXRD;
			/* the probe reads into r's buffer, which holds nothing
			 * yet: the pages are faulted in once, for both */
			struct mbox_reader_opts qo = r->opts;
			bool borrow = r->end == 0 && r->pos == 0;
			if (borrow)
				qo.bufsize = 4 * LOOKAHEAD;
			struct mbox_reader *q = reader_alloc(r->src, &qo);
			if (borrow) {
				free(q->buf);
				q->buf = r->buf;
				q->cap = r->cap;
			}
			struct message m0;
			q->probe = true;
			q->opts.quiet = true;
			q->variant = MBOX_MBOXCL2;
			q->unquote = false;
			bool has_cl = false;
			if (next_message(q, &m0) == 1)
				has_cl = header_find(m0.header, m0.header_len, "Content-Length", &(struct header_field){0});
			if (borrow)
				q->buf = NULL;          /* r's */
			mbox_reader_free(q);
			if (has_cl)
				v = detect_variant(r);
			r->variant = v;
			r->unquote = v != MBOX_MBOXCL2;
		} else {
			enum mbox_variant v = detect_variant_stream(r);
			r->variant = v;
			r->unquote = v != MBOX_MBOXCL2;
		}
	}
	int rc = next_message(r, m);
	/* the last message of a gzip file was read; bytes after its gzip
	 * data were not (source.c): bad data, named after the messages */
	if (rc == 0 && r->src->gz_bad_end && !r->probe) {
		report_error(EX_DATAERR, "%s:%lld: %s", r->src->name, (long long)r->read_off,
		    r->src->gzmsg);
		r->status = EX_DATAERR;
		r->failed = true;
		return -1;
	}
	return rc;
}

/* Finish the current message at the boundary found at r->pos (a From_
 * line, or the end of file when eof); sep_len: the empty line before it. */
static void
end_message(struct mbox_reader *r, int sep_len, bool eof)
{
	r->in_message = false;
	r->msg_end = pos_off(r, r->pos);
	if (!eof && sep_len == 0 && r->pos < r->end) {
		r->c.missing_separator++;
		if (r->c.first_missing_separator < 0)
			r->c.first_missing_separator = pos_off(r, r->pos);
		warn_at(r, pos_off(r, r->pos), "From_ line without an empty line before it");
		tell(r, MBOX_ANOMALY_MISSING_SEPARATOR, pos_off(r, r->pos), line_is_crlf(r, r->pos));
	}
	if (r->cl_bad)
		tell_cl(r, r->msg_end - sep_len, eof && !r->line_start);
	if (r->msg_size == 0) {
		r->c.empty_messages++;
		warn_at(r, r->msg_off, "empty message");
		tell(r, MBOX_ANOMALY_EMPTY_MESSAGE, r->msg_off, -1);
	}
}

/*
 * The held-back empty line, handed out just before the line at p: from the
 * buffer where the bytes before p are that line ending (always, unless the
 * buffer moved), so that add_iov() joins it to its neighbours and a body
 * of paragraphs is one iovec rather than two per paragraph.
 */
static const char *
pending_nl(const struct mbox_reader *r, const char *p)
{
	const char *nl = r->pending == 1 ? nl_lf : nl_crlf;
	size_t n = (size_t)r->pending;

	if ((size_t)(p - r->buf) >= n && memcmp(p - n, nl, n) == 0)
		return p - n;
	return nl;
}

static void
add_iov(struct iovec *iov, int *k, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (*k > 0 && (char *)iov[*k - 1].iov_base + iov[*k - 1].iov_len == p) {
		iov[*k - 1].iov_len += n;
		return;
	}
	iov[*k].iov_base = (void *)p;
	iov[*k].iov_len = n;
	(*k)++;
}

/* Body of a message whose Content-Length was honoured. */
static int
body_cl(struct mbox_reader *r, struct iovec *iov, int *iovcnt)
{
	int k = 0, max = *iovcnt;

	while (r->cl_left > 0 && k < max - 1) {
		if (r->pos == r->end || (r->line_start && r->end - r->pos < LOOKAHEAD && !r->eof &&
		    memchr(r->buf + r->pos, '\n', r->end - r->pos) == NULL && (int64_t)(r->end - r->pos) < r->cl_left)) {
			if (k > 0)
				break;
			ssize_t n = fill(r);
			if (n == -1)
				return -1;
			if (n == 0 && r->pos == r->end) {
				report_error(EX_IOERR, "%s:%lld: mailbox ended inside a message",
				    r->src->name, (long long)pos_off(r, r->pos));
				r->status = EX_IOERR;
				r->failed = true;
				return -1;
			}
			continue;
		}
		const char *p = r->buf + r->pos;
		size_t avail = r->end - r->pos;
		if ((int64_t)avail > r->cl_left)
			avail = (size_t)r->cl_left;
		if (r->line_start) {
			if (avail >= 5 && memcmp(p, "From ", 5) == 0) {
				r->cl_body_from++;
				r->c.protected_from++;
			}
			size_t q = r->unquote ? quoted_from(p, avail) : 0;
			if (q) {
				r->c.unquoted_lines++;
				r->pos++;
				r->cl_left--;
				r->line_start = false;
				continue;
			}
		}
		bool lf;
		size_t n = line_len(p, avail, &lf);
		add_iov(iov, &k, p, n);
		r->pos += n;
		r->cl_left -= (int64_t)n;
		r->msg_size += (int64_t)n;
		r->line_start = lf;
	}
	if (r->cl_left > 0 || k > 0) {
		*iovcnt = k;
		return 1;
	}
	/* consume the separator */
	if (ensure_line(r, 2) == -1)
		return -1;
	int e = empty_line(r->buf + r->pos, r->end - r->pos);
	if (e == 0 && r->pos == r->end && r->eof && live_hold_back(r)) {
		*iovcnt = 0;
		return -1;
	}
	r->pos += (size_t)e;
	r->in_message = false;
	r->msg_end = pos_off(r, r->pos);
	if (r->msg_size == 0) {
		r->c.empty_messages++;
		warn_at(r, r->msg_off, "empty message");
		tell(r, MBOX_ANOMALY_EMPTY_MESSAGE, r->msg_off, -1);
	}
	*iovcnt = 0;
	return 0;
}

int
mbox_reader_body(struct mbox_reader *r, struct iovec *iov, int *iovcnt)
{
	int k = 0, max = *iovcnt;

	if (r->failed)
		return -1;
	if (!r->in_message) {
		*iovcnt = 0;
		return 0;
	}
	if (max < 3) {
		errno = EINVAL;
		return -1;
	}
	if (r->cl_left >= 0)
		return body_cl(r, iov, iovcnt);

	while (k < max - 2) {
		size_t avail = r->end - r->pos;
		const char *p = r->buf + r->pos;

		/* at a line start we must see the whole line (or LOOKAHEAD bytes) */
		if (r->line_start && !r->eof &&
		    (avail < LOOKAHEAD && memchr(p, '\n', avail) == NULL)) {
			if (k > 0)
				break;     /* hand out what we have before moving the buffer */
			if (fill(r) == -1)
				return -1;
			continue;
		}
		if (avail == 0) {
			if (!r->eof) {
				if (k > 0)
					break;
				if (fill(r) == -1)
					return -1;
				continue;
			}
			/* end of file: a held-back empty line was the separator */
			if (!r->pending && live_hold_back(r)) {
				*iovcnt = k;
				return k > 0 ? 1 : -1;
			}
			if (!r->line_start)
				r->c.no_final_newline = true;
			int sep = r->pending;
			r->pending = 0;
			end_message(r, sep, true);
			break;
		}
		if (r->line_start) {
			int e = empty_line(p, avail);
			if (e) {
				if (r->pending) {
					add_iov(iov, &k, pending_nl(r, p), (size_t)r->pending);
					r->msg_size += r->pending;
				}
				r->pending = e;
				r->pos += (size_t)e;
				continue;
			}
			if (avail >= 5 && memcmp(p, "From ", 5) == 0) {
				if (is_from_line(p, avail, &r->next_from)) {
					r->next_from_off = pos_off(r, r->pos);
					int sep = r->pending;
					r->pending = 0;
					end_message(r, sep, false);
					break;
				}
				r->c.unquoted_from++;
				r->msg_quotes++;
				if (r->c.first_unquoted_from < 0)
					r->c.first_unquoted_from = pos_off(r, r->pos);
				warn_at(r, pos_off(r, r->pos), "unquoted From_ line inside message (not a valid From_ line: kept as body text)");
				tell(r, MBOX_ANOMALY_UNQUOTED_FROM, pos_off(r, r->pos), -1);
			}
			if (r->pending) {
				add_iov(iov, &k, pending_nl(r, p), (size_t)r->pending);
				r->msg_size += r->pending;
				r->pending = 0;
			}
			size_t q = r->unquote ? quoted_from(p, avail) : 0;
			if (q) {
				r->c.unquoted_lines++;
				r->pos++;
				p++;
				avail--;
			}
		}
		size_t n = plain_len(p, avail);
		add_iov(iov, &k, p, n);
		r->pos += n;
		r->msg_size += (int64_t)n;
		r->line_start = p[n - 1] == '\n';
	}
	*iovcnt = k;
	if (k > 0)
		return 1;
	return r->in_message ? 1 : 0;
}

int64_t
mbox_reader_message_size(const struct mbox_reader *r)
{
	return r->msg_size;
}

off_t
mbox_reader_message_offset(const struct mbox_reader *r)
{
	return r->msg_off;
}

off_t
mbox_reader_message_end(const struct mbox_reader *r)
{
	return r->msg_end;
}

const struct mbox_counters *
mbox_reader_counters(const struct mbox_reader *r)
{
	return &r->c;
}

int
mbox_reader_status(const struct mbox_reader *r)
{
	if (r->status != 0 || r->rewritten || r->held_back)
		return r->status;
	return EX_IOERR;
}

enum mbox_variant
mbox_reader_variant(const struct mbox_reader *r)
{
	return r->variant;
}

void
mbox_reader_free(struct mbox_reader *r)
{
	if (r == NULL)
		return;
	header_index_drop();            /* r->hdr may be the pinned header */
	free(r->buf);
	free(r->hdr);
	sb_free(&r->pseudo_hdr);
	free(r);
}

bool
mbox_reader_pseudo_header(const struct mbox_reader *r, const char **hdr_r, size_t *len_r)
{
	if (r->pseudo_hdr.buf == NULL)
		return false;
	*hdr_r = r->pseudo_hdr.buf;
	*len_r = r->pseudo_hdr.len;
	return true;
}
