/*
 * mbox_writer.c: appending to an mbox under lock with truncate-back (SPEC
 * §2.6 separator and the last two bytes, §5 O2-O5; STYLE.md "Writing an
 * mbox"), to stdout, or compressed through a temporary file published by
 * link(). The bytes come from mbox_quote.c (quoting, From_ line) and
 * mbox_header.c (Content-Length, Lines); a journal left by a crashed
 * rewrite is finished by mbox_rewrite.c before the first append. See
 * mbox_writer.h for the protocol; the reasons are here next to the code.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sysexits.h>
#include <unistd.h>

#include "archive_lib.h"
#include "mbox_writer_int.h"
#include "report.h"
#include "testhook.h"
#include "util.h"

/* ======================================================================
 * Appending
 * ====================================================================== */

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
	off_t fpos;               /* fd's offset as this writer moved it, or -1:
	                           * no lseek(2) per message to learn msg_start */
	struct mbox_quote q;
	bool hdr_ends_lf;
	bool crlf_sep;          /* the From_ line ends in CR LF: so does the separator */
	int64_t want_len, want_lines;
	int spool_fd;             /* -1, or the body spooled to measure it */
	bool spooling;            /* output goes to spool_fd */
	struct strbuf from, hdr;

	char *obuf;
	size_t olen;
	struct appender *ap;      /* the write(2)s of full buffers, or NULL */
	bool ap_tried;            /* started, or found not to be had */
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

/* The output buffer: 1 MiB, one write(2) per MiB of mail (64 KiB made 16
 * times the calls). */
#define WBUF_SIZE (1u << 20)

/* Take back everything since the last flush (qmail-local). */
static int appender_wait(struct appender *a);

static void
writer_take_back(struct mbox_writer *w)
{
	(void)appender_wait(w->ap);     /* its failure is being reported */
	w->olen = 0;
	if (w->spool_fd != -1) {
		close(w->spool_fd);
		w->spool_fd = -1;
	}
	w->spooling = false;
	w->in_msg = false;
	if (w->fd != -1 && !w->to_stdout && w->ar == NULL && w->durable >= 0) {
		int e = errno;
		w->fpos = -1;
		if (ftruncate(w->fd, w->durable) == -1 || lseek(w->fd, w->durable, SEEK_SET) == -1)
			report_error_sys(EX_IOERR, "unable to truncate %s back to %lld bytes",
			    w->path, (long long)w->durable);
		else
			w->fpos = w->durable;
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
	if (w->ar == NULL) {
		if (write_all(w->fd, p, n) == -1) {
			w->fpos = -1;
			return -1;
		}
		if (w->fpos >= 0)
			w->fpos += (off_t)n;
		return 0;
	}
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

/*
 * Where the machine has a second CPU, the write(2) of a full buffer to a
 * plain mbox is made by a thread of its own while the caller fills the
 * other buffer: writing a MiB into the page cache costs about what
 * quoting it does. One buffer is on its way at a time, in order; anything
 * else done to the descriptor (a flush, fsync, ftruncate, lseek) waits for
 * it first (appender_wait()), and its failure is the caller's to report,
 * there, as that of its own write.
 */
struct appender {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;
	char *buf;                /* on its way: the other buffer */
	size_t len;
	bool busy, stop;
	int err;                  /* errno of a failed write, kept until seen */
};

static void *
appender_main(void *arg)
{
	struct appender *a = arg;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (!a->busy && !a->stop)
			pthread_cond_wait(&a->cv, &a->mu);
		if (!a->busy)
			break;
		pthread_mutex_unlock(&a->mu);
		int e = testhook_async_write() == -1 || write_all(a->fd, a->buf, a->len) == -1 ? errno : 0;
		pthread_mutex_lock(&a->mu);
		if (e && !a->err)
			a->err = e;
		a->busy = false;
		pthread_cond_broadcast(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static struct appender *
appender_start(int fd)
{
	struct appender *a = xcalloc(1, sizeof *a);

	a->fd = fd;
	a->buf = xmalloc(WBUF_SIZE);
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	if (thread_start(&a->th, appender_main, a) != 0) {
		pthread_mutex_destroy(&a->mu);
		pthread_cond_destroy(&a->cv);
		free(a->buf);
		free(a);
		return NULL;
	}
	return a;
}

/* Wait for the buffer on its way. 0, or -1 with errno of its failure. */
static int
appender_wait(struct appender *a)
{
	if (a == NULL)
		return 0;
	pthread_mutex_lock(&a->mu);
	while (a->busy)
		pthread_cond_wait(&a->cv, &a->mu);
	int e = a->err;
	a->err = 0;
	pthread_mutex_unlock(&a->mu);
	if (e) {
		errno = e;
		return -1;
	}
	return 0;
}

static void
appender_stop(struct appender *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	a->stop = true;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->th, NULL);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	free(a->buf);
	free(a);
}

/* Everything written: the buffer on its way, then the rest. */
static int
buf_flush(struct mbox_writer *w)
{
	if (appender_wait(w->ap) == -1) {
		w->olen = 0;
		w->fpos = -1;
		return -1;
	}
	if (w->olen == 0)
		return 0;
	size_t n = w->olen;
	w->olen = 0;
	return sink_write(w, w->obuf, n);
}

/* A full buffer: handed to the appender, where there is one for this
 * output (a plain file), and the other buffer filled meanwhile. */
static int
buf_full(struct mbox_writer *w)
{
	if (!w->ap_tried && !w->spooling && w->ar == NULL && !w->to_stdout && w->fd != -1) {
		w->ap_tried = true;
		if (sysconf(_SC_NPROCESSORS_ONLN) > 1 && !testhook_writes_counted())
			w->ap = appender_start(w->fd);
	}
	if (w->ap == NULL || w->spooling || w->olen == 0)
		return buf_flush(w);
	if (appender_wait(w->ap) == -1) {
		w->olen = 0;
		w->fpos = -1;
		return -1;
	}
	struct appender *a = w->ap;
	char *full = w->obuf;
	w->obuf = a->buf;
	pthread_mutex_lock(&a->mu);
	a->buf = full;
	a->len = w->olen;
	a->busy = true;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	if (w->fpos >= 0)
		w->fpos += (off_t)w->olen;
	w->olen = 0;
	return 0;
}

static int
buf_put(struct mbox_writer *w, const char *p, size_t n)
{
	if (w->olen + n > WBUF_SIZE && buf_full(w) == -1)
		return -1;
	if (n >= WBUF_SIZE)
		return buf_flush(w) == -1 ? -1 : sink_write(w, p, n);
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
	int st = archive_lib_load(w->path, EX_CANTCREAT);
	if (st != 0)
		return st;
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
	w->fpos = st.st_size;
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
	w->fpos = -1;
	w->obuf = xmalloc(WBUF_SIZE);
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
	/* what the file's last message lacks (its final LF, the separator)
	 * goes before this message's start: taking this one back keeps it */
	if (w->pre_len > 0) {
		if (buf_put(w, w->pre, w->pre_len) == -1) {
			sb_free(&from);
			return writer_fail(w, "unable to write");
		}
		w->pre_len = 0;
	}
	w->msg_start = -1;
	if (w->fd != -1 && !w->to_stdout && w->ar == NULL) {
		off_t pos = w->fpos;
		if (pos < 0 && appender_wait(w->ap) == 0)
			pos = lseek(w->fd, 0, SEEK_CUR);
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
	bool spooled = w->spool_fd != -1;
	if (spooled) {
		close(w->spool_fd);
		w->spool_fd = -1;
	}
	w->spooling = false;
	w->in_msg = false;
	/* still in the buffer: nothing reached the file */
	if (!spooled && w->fpos >= 0 && w->msg_start >= w->fpos &&
	    (uint64_t)(w->msg_start - w->fpos) <= w->olen) {
		w->olen = (size_t)(w->msg_start - w->fpos);
		return 0;
	}
	w->fpos = -1;
	if (buf_flush(w) == -1 || ftruncate(w->fd, w->msg_start) == -1 ||
	    lseek(w->fd, w->msg_start, SEEK_SET) == -1)
		return writer_fail(w, "unable to take back a message from");
	w->fpos = w->msg_start;
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
	appender_stop(w->ap);
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
