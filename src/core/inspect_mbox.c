/*
 * inspect_mbox.c: the checks of a plain mbox file (SPEC §2.3-2.7, §5
 * X1-X21): the boundary rules of SPEC §2.5 over pread() windows of a
 * descriptor (no second open of a locked mailbox, F1), reporting every
 * unquoted From line, every missing separator and every Content-Length
 * that does not land on a boundary, with the byte offsets repair needs;
 * a stale dotlock and a journal left by an interrupted rewrite. Also
 * inspect_path(), which hands a Maildir to inspect_maildir.c.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "date.h"
#include "inspect.h"
#include "inspect_int.h"
#include "lock.h"
#include "mbox_writer.h"
#include "report.h"
#include "source.h"
#include "util.h"

/* ---- mbox (SPEC §2.3-2.7) --------------------------------------------------- */

#define LR_CAP (1u << 20)
#define LR_PEEK (FROMLINE_MAX + 64)

/* A line reader over pread() windows: the first LR_PEEK bytes of any line
 * are available, however long the line is. */
struct lr {
	int fd;
	off_t size;
	char *buf;
	off_t boff;
	size_t blen;
	char peek[LR_PEEK];
};
struct line {
	off_t off;
	size_t len;          /* including the LF */
	const char *p;
	size_t avail;        /* bytes at p (all of the line, or LR_PEEK) */
	bool lf, crlf;
};

static int
lr_fill(struct lr *r, off_t off)
{
	ssize_t n = pread_full(r->fd, r->buf, LR_CAP, off);
	if (n < 0)
		return -1;
	r->boff = off;
	r->blen = (size_t)n;
	return 0;
}

/* 1 and *l, 0 at end of file, -1 on a read error (errno). */
static int
lr_line(struct lr *r, off_t off, struct line *l)
{
	if (off >= r->size)
		return 0;
	if (off < r->boff || off >= r->boff + (off_t)r->blen ||
	    (r->boff + (off_t)r->blen - off < LR_PEEK && r->boff + (off_t)r->blen < r->size))
		if (lr_fill(r, off) == -1)
			return -1;
	const char *p = r->buf + (off - r->boff);
	size_t av = r->blen - (size_t)(off - r->boff);
	const char *nl = memchr(p, '\n', av);
	l->off = off;
	l->p = p;
	l->crlf = false;
	if (nl || r->boff + (off_t)r->blen >= r->size) {
		l->len = nl ? (size_t)(nl - p) + 1 : av;
		l->lf = nl != NULL;
		l->avail = l->len;
		l->crlf = nl && nl > p && nl[-1] == '\r';
		return 1;
	}
	size_t keep = av < LR_PEEK ? av : LR_PEEK;      /* a line longer than the window */
	memcpy(r->peek, p, keep);
	l->p = r->peek;
	l->avail = keep;
	for (off_t q = off + (off_t)av;;) {
		if (lr_fill(r, q) == -1)
			return -1;
		nl = memchr(r->buf, '\n', r->blen);
		if (nl) {
			l->len = (size_t)(q - off) + (size_t)(nl - r->buf) + 1;
			l->lf = true;
			l->crlf = nl > r->buf && nl[-1] == '\r';
			return 1;
		}
		q += (off_t)r->blen;
		if (r->blen == 0 || q >= r->size) {
			l->len = (size_t)(q - off);
			l->lf = false;
			return 1;
		}
	}
}

static bool
line_empty(const struct line *l)
{
	return (l->len == 1 && l->lf) || (l->len == 2 && l->crlf);
}

static bool
line_from(const struct line *l)
{
	return l->avail >= 5 && memcmp(l->p, "From ", 5) == 0;
}

static bool
line_valid_from(const struct line *l)
{
	size_t n = l->len - (l->lf ? 1 : 0);
	struct fromline fl;
	return line_from(l) && n <= FROMLINE_MAX && n <= l->avail && fromline_parse(l->p, n, &fl);
}

struct mb {
	struct emit e;
	struct lr lr;
	size_t crlf, lf;
	off_t first_crlf, first_lf;
	int err;
};

static void
mb_eol(struct mb *m, const struct line *l)
{
	if (!l->lf)
		return;
	if (l->crlf) {
		if (m->crlf++ == 0)
			m->first_crlf = l->off;
	} else if (m->lf++ == 0) {
		m->first_lf = l->off;
	}
}

static int
mb_line(struct mb *m, off_t off, struct line *l)
{
	int rc = lr_line(&m->lr, off, l);
	if (rc == -1)
		m->err = errno;
	return rc == 1;
}

static void
mb_emit(struct mb *m, enum inspect_code code, off_t off, long long value, const char *msg)
{
	struct inspect_finding f;
	finding_init(&f, code);
	f.offset = off;
	f.value = value;
	emit_finding(&m->e, &f, "%s", msg);
}

/* Content-Length of a header: the value span and number; false when the
 * field is malformed. */
struct cl {
	int count;
	bool bad;
	long long n;
	off_t a, b;
};

static void
cl_field(struct cl *c, const struct line *l)
{
	size_t end = l->len - (l->lf ? 1 : 0) - (l->crlf ? 1 : 0);
	if (end > l->avail)
		end = l->avail;
	size_t i = 15;
	while (i < end && (l->p[i] == ' ' || l->p[i] == '\t'))
		i++;
	long long v = 0;
	size_t d = 0;
	for (; i < end && l->p[i] >= '0' && l->p[i] <= '9' && d < 18; i++, d++)
		v = v * 10 + (l->p[i] - '0');
	while (i < end && (l->p[i] == ' ' || l->p[i] == '\t'))
		i++;
	if (c->count++ == 0) {
		c->a = l->off + 15;
		c->b = l->off + (off_t)end;
		c->n = v;
	}
	if (d == 0 || i != end || (c->count > 1 && v != c->n))
		c->bad = true;
}

/* Does Content-Length land on a boundary (SPEC §2.4 ▶)? *next_r: the next
 * From_ line or the end of file. */
static bool
cl_lands(struct mb *m, off_t t, off_t *next_r)
{
	char b[2];
	struct line l;
	off_t size = m->lr.size;
	if (t == size) {
		*next_r = size;
		return true;
	}
	if (t > size || pread_full(m->lr.fd, b, 2, t) < 1)
		return false;
	off_t n = b[0] == '\n' ? t + 1 : (b[0] == '\r' && t + 1 < size && b[1] == '\n') ? t + 2 : -1;
	if (n == -1)
		return false;
	if (n == size || (mb_line(m, n, &l) && line_valid_from(&l))) {
		*next_r = n;
		return true;
	}
	return false;
}

/* Header of the message whose From_ line ends at *off. Returns true when
 * an empty line ended it. */
static bool
mb_header(struct mb *m, off_t *off, struct cl *cl, size_t *lines_r, size_t *end_len_r)
{
	struct line l;
	bool seen_field = false;
	*lines_r = 0;
	while (mb_line(m, *off, &l)) {
		if (line_empty(&l)) {
			mb_eol(m, &l);
			*off += (off_t)l.len;
			*end_len_r = l.len;
			return true;
		}
		(*lines_r)++;
		if (line_from(&l) && seen_field && line_valid_from(&l))
			return false;             /* X21: next message, no header end */
		if (!line_from(&l) && l.p[0] != ' ' && l.p[0] != '\t' && l.p[0] != '>')
			seen_field = true;
		if (l.avail >= 15 && mem_ieq(l.p, "Content-Length:", 15))
			cl_field(cl, &l);
		*off += (off_t)l.len;
	}
	return false;
}

/* Body lines up to the next From_ line (SPEC §2.5 step 3-4). Reports
 * unquoted From lines, a missing separator and a Content-Length that
 * did not land; returns the offset of the next From_ line or EOF. */
static off_t
mb_body(struct mb *m, off_t off, off_t msg_off, const struct cl *cl, size_t hdr_lines,
	size_t end_len)
{
	struct line l = { 0 };
	off_t body_start = off;
	/* the header's empty line is the separator of a message without body
	 * unless it is the message's only line (SPEC §2.5 step 4) */
	bool prev_empty = true, any = hdr_lines > 0, at_eof = true, body_lines = false;
	size_t prev_len = end_len;
	long long quotes = 0;
	char msg[160];

	while (mb_line(m, off, &l)) {
		if (line_from(&l)) {
			if (line_valid_from(&l)) {
				at_eof = false;
				break;
			}
			mb_emit(m, IC_MBOX_UNQUOTED_FROM, l.off, -1,
			    "body line starts with \"From \" but is no From_ line");
			quotes++;
		}
		prev_empty = line_empty(&l);
		prev_len = l.len;
		any = body_lines = true;
		off += (off_t)l.len;
	}
	bool sep = any && prev_empty;
	if (!at_eof && !sep) {
		snprintf(msg, sizeof msg, "From_ line without an empty line before it");
		mb_emit(m, IC_MBOX_MISSING_SEPARATOR, off, l.crlf ? 1 : 0, msg);
	}
	if (cl->count) {
		long long body = (long long)(off - body_start) - (sep && body_lines ? (long long)prev_len : 0);
		long long len = body + quotes;
		if (at_eof && body_lines && !l.lf)
			len++;          /* repair appends the missing LF */
		struct inspect_finding f;
		finding_init(&f, IC_MBOX_CONTENT_LENGTH);
		f.offset = msg_off;
		f.value = len < 0 ? 0 : len;
		f.span_start = cl->a;
		f.span_end = cl->b;
		emit_finding(&m->e, &f, "Content-Length: %lld does not land on a message boundary"
		    " (the body holds %lld bytes)", cl->n, body);
	}
	return off;
}

/* Leading bytes before the first From_ line (X7): FIRST-LINE when a valid
 * From_ line follows, else not an mbox. Returns the first From_ offset or -1. */
static off_t
mb_start(struct mb *m)
{
	struct line l;
	off_t off = 0;
	while (mb_line(m, off, &l) && line_empty(&l))
		off += (off_t)l.len;
	if (off < m->lr.size && !l.lf && memchr(l.p, '\r', l.avail)) {
		report_error(EX_DATAERR, "%s: no LF line terminators (CR-only line ends)", m->e.maildir);
		return -2;
	}
	if (off >= m->lr.size || line_from(&l))
		return off;
	off_t start = off;
	while (mb_line(m, off, &l)) {
		if (line_valid_from(&l)) {
			char msg[96];
			snprintf(msg, sizeof msg, "%lld bytes before the first From_ line",
			    (long long)(off - start));
			mb_emit(m, IC_MBOX_FIRST_LINE, start, off, msg);
			return off;
		}
		off += (off_t)l.len;
	}
	return -1;
}

static void
mb_files(struct mb *m, const char *path, time_t now)
{
	struct stat st;
	struct inspect_finding f;
	char *lock = mbox_lock_dotlock_path(path), *jr = mbox_journal_path(path);

	if (lstat(lock, &st) == 0 && now - st.st_mtime > LOCK_STALE_AGE) {
		finding_init(&f, IC_MBOX_STALE_LOCK);
		f.path = lock;
		f.st = st, f.have_st = true;
		emit_finding(&m->e, &f, "dotlock %lld minutes old", (long long)(now - st.st_mtime) / 60);
	}
	if (lstat(jr, &st) == 0) {
		finding_init(&f, IC_MBOX_JOURNAL);
		f.path = jr;
		f.st = st, f.have_st = true;
		emit_finding(&m->e, &f, "journal of an interrupted rewrite");
	}
	free(lock);
	free(jr);
}

static int
mb_scan(struct mb *m)
{
	off_t off = mb_start(m);
	struct line l;
	if (off == -2)
		return EX_DATAERR;
	if (off == -1) {
		if (m->err)
			return -1;
		report_error(EX_DATAERR, "%s: not an mbox (no From_ line)", m->e.maildir);
		return EX_DATAERR;
	}
	while (off < m->lr.size && mb_line(m, off, &l)) {
		off_t msg_off = off;
		struct cl cl = { 0 };
		size_t hdr_lines, end_len = 0;
		m->e.st->messages++;
		mb_eol(m, &l);
		off += (off_t)l.len;
		if (!mb_header(m, &off, &cl, &hdr_lines, &end_len))
			continue;
		off_t next;
		if (cl.count)
			m->e.st->mbox_cl_messages++;
		if (cl.count && !cl.bad && cl_lands(m, off + cl.n, &next)) {
			for (; off < next && mb_line(m, off, &l); off += (off_t)l.len)
				if (line_from(&l))
					m->e.st->mbox_protected_from++;
			off = next;
			continue;
		}
		off = mb_body(m, off, msg_off, &cl, hdr_lines, end_len);
	}
	if (m->err) {
		errno = m->err;
		return -1;
	}
	char last;
	if (m->lr.size > 0 && pread_full(m->lr.fd, &last, 1, m->lr.size - 1) == 1 && last != '\n')
		mb_emit(m, IC_MBOX_TRUNCATED, m->lr.size, -1, "the last line has no line end");
	if (m->crlf && m->lf)
		mb_emit(m, IC_MBOX_MIXED_EOL, m->first_crlf > m->first_lf ? m->first_crlf : m->first_lf,
		    -1, "both CRLF and LF line ends");
	return 0;
}

int
inspect_mbox(const char *path, const struct inspect_opts *o, struct inspect_stats *st)
{
	struct mb m = { .e = { o, st, path }, .first_crlf = -1, .first_lf = -1 };
	struct mbox_lock lk = { .fd = -1 };
	time_t now = o->now ? o->now : time(NULL);
	int fd = o->mbox_fd, status;

	if (fd < 0) {
		struct mbox_lock_opts lo = { .timeout = 30 };
		if ((status = mbox_lock_open(&lk, path, MBOX_LOCK_READ, &lo)) != 0)
			return status;
		fd = mbox_lock_fd(&lk);
	}
	struct stat fs;
	if (fstat(fd, &fs) == -1) {
		report_error_sys(EX_IOERR, "%s: fstat", path);
		mbox_lock_release(&lk);
		return EX_IOERR;
	}
	st->mailboxes++;
	mb_files(&m, path, now);
	m.lr = (struct lr){ .fd = fd, .size = fs.st_size, .buf = xmalloc(LR_CAP), .boff = 0, .blen = 0 };
	status = mb_scan(&m);
	if (status == -1) {
		report_error_sys(EX_IOERR, "%s: read error", path);
		status = EX_IOERR;
	}
	free(m.lr.buf);
	if (o->mbox_fd < 0) {
		/* give the "new mail" signal back (SPEC §5 O9) */
		struct timespec ts[2] = { fs.st_atim, { .tv_nsec = UTIME_OMIT } };
		(void)futimens(fd, ts);
		mbox_lock_release(&lk);
	}
	return status;
}

/* Compressed input is for convert; check and repair work on plain files. */
static bool
is_compressed(const char *path)
{
	unsigned char b[6] = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd == -1)
		return false;
	ssize_t n = read_full(fd, b, sizeof b);
	close(fd);
	return n >= 3 && ((b[0] == 0x1f && b[1] == 0x8b) || memcmp(b, "BZh", 3) == 0 ||
	    (n >= 6 && memcmp(b, "\xfd" "7zXZ\0", 6) == 0) || (n >= 4 && memcmp(b, "\x28\xb5\x2f\xfd", 4) == 0));
}

int
inspect_path(const char *path, const struct inspect_opts *o, struct inspect_stats *st)
{
	struct stat sb;
	if (stat(path, &sb) == -1) {
		report_error_sys(EX_NOINPUT, "cannot open %s", path);
		return EX_NOINPUT;
	}
	if (S_ISDIR(sb.st_mode)) {
		if (!source_is_maildir(path)) {
			if (errno != 0) {
				report_error_sys(EX_NOINPUT, "unable to open %s", path);
				return EX_NOINPUT;
			}
			report_error(EX_DATAERR, "%s: not a maildir (no cur/ directory)", path);
			return EX_DATAERR;
		}
		return inspect_maildir(path, o, st);
	}
	if (!S_ISREG(sb.st_mode)) {
		report_error(EX_DATAERR, "%s: not a mailbox (not a regular file or directory)", path);
		return EX_DATAERR;
	}
	if (is_compressed(path)) {
		report_error(EX_DATAERR, "%s: compressed; check and repair work on plain mbox files", path);
		return EX_DATAERR;
	}
	return inspect_mbox(path, o, st);
}
