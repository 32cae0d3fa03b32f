/*
 * source.c: open a mailbox argument and say what it is (DESIGN §2 "source",
 * SPEC §1.1 Maildir recognition, §2.5 step 1, §5 X6, X7, X14, X15, X16).
 *
 * The fast path costs one read: a file whose first non-empty line starts
 * with "From " is an mbox and libmagic is never loaded. Everything else is
 * shown to libmagic: compressed data is then read through libarchive (raw
 * format, every filter it knows), and anything that is not a mailbox is
 * refused with libmagic's description of it, e.g.
 *   mailshift convert: fatal: doc.pdf: not a mailbox (PDF document, version 1.4): no From_ line at offset 0
 * As root, a symlink given as the mailbox is refused (a user could point
 * their spool at /etc/shadow); a hard link to a regular file is fine to read.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <magic.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>
#include <zlib.h>

#include "archive_lib.h"
#include "header.h"
#include "magic_lib.h"
#include "report.h"
#include "source.h"
#include "util.h"

#define SNIFF_SIZE (64 * 1024)

bool
source_is_maildir(const char *path)
{
	struct stat st;
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool ok = false;
	int e = 0;

	if (dfd == -1)
		return false;
	if (fstatat(dfd, "cur", &st, AT_SYMLINK_NOFOLLOW) == 0)
		ok = S_ISDIR(st.st_mode);
	else if (errno != ENOENT && errno != ENOTDIR)
		e = errno;
	close(dfd);
	errno = e;
	return ok;
}

/*
 * libarchive pulls its input through arc_read(): first the bytes sniffed
 * before we knew the file was compressed, then the rest of the descriptor.
 *
 * Lifetime rule: a buffer handed to libarchive through *buf belongs to the
 * library until it calls arc_read() again (or arc_close()). It may keep
 * pointers into it and decompress from it across many archive_read_data()
 * calls, so nothing may write to it in between. The sniffed prefix
 * therefore moves into the feed (source_open_archive() takes s->pre away
 * from the source) and is freed only when the feed is closed; the source
 * sniffs the decompressed bytes into a fresh buffer. rbuf is reused only
 * on the next arc_read() call, which is the library saying it is done with
 * the previous block.
 */
#define ARC_READ_SIZE (256 * 1024)

/*
 * A gzip file is also inflated by zlib, beside libarchive, output thrown
 * away: libarchive checks neither a member's CRC-32 and length nor what
 * follows the last member, so a flipped bit would become a changed
 * message and an mbox appended to a .gz (cat new >> old.gz) would be
 * passed over, both with exit 0. Zero bytes after the last member are
 * padding (tape blocks), as gzip(1) takes them.
 */
struct gz_check {
	z_stream z;
	bool in_member;         /* a member begun and not ended */
	bool padding;           /* zero bytes after the last member */
	bool done;              /* a verdict given: no more checking */
	uint64_t off;           /* compressed bytes looked at */
	uint64_t member;        /* where the current member starts */
	unsigned char out[32768];
};

struct arc_feed {
	struct source *src;
	char *pre;              /* the sniffed prefix, owned by the feed */
	size_t pre_len;
	char *rbuf;             /* ARC_READ_SIZE bytes */
	struct gz_check *gz;    /* a gzip file: checked beside libarchive */
};

static void gz_verdict(struct arc_feed *f, bool now, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
gz_verdict(struct arc_feed *f, bool now, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->src->gzmsg, sizeof f->src->gzmsg, fmt, ap);
	va_end(ap);
	if (now)
		f->src->gz_bad_now = true;
	else
		f->src->gz_bad_end = true;
	f->gz->done = true;
}

/* The next compressed bytes, through zlib's gzip decoder. */
static void
gz_feed(struct arc_feed *f, const unsigned char *p, size_t n)
{
	struct gz_check *g = f->gz;

	while (g != NULL && !g->done && n > 0) {
		if (!g->in_member) {
			size_t k = 0;
			while (k < n && p[k] == 0)
				k++;
			g->padding |= k > 0;
			p += k, n -= k, g->off += k;
			if (n == 0)
				return;
			if (g->padding) {
				gz_verdict(f, false, "data after the end of the gzip data, at byte %llu "
				    "of the compressed file, not converted (gzip(1) ignores it too)",
				    (unsigned long long)g->off);
				return;
			}
			inflateReset(&g->z);
			g->in_member = true;
			g->member = g->off;
		}
		int rc;
		g->z.next_in = (Bytef *)(uintptr_t)p;
		g->z.avail_in = (uInt)n;
		do {
			g->z.next_out = g->out;
			g->z.avail_out = sizeof g->out;
			rc = inflate(&g->z, Z_NO_FLUSH);
		} while (rc == Z_OK && g->z.avail_in > 0);
		size_t used = n - g->z.avail_in;
		p += used, n -= used, g->off += used;
		if (rc == Z_BUF_ERROR && used == 0)
			return;         /* (zlib made no progress: never with output room) */
		if (rc == Z_STREAM_END) {
			g->in_member = false;
		} else if (rc != Z_OK && rc != Z_BUF_ERROR) {
			if (g->member > 0 && g->z.total_out == 0)
				gz_verdict(f, false, "data after the end of the gzip data, at byte %llu "
				    "of the compressed file, not converted (gzip(1) ignores it too)",
				    (unsigned long long)g->member);
			else
				gz_verdict(f, true, "corrupt gzip data (%s) in the gzip member at byte "
				    "%llu of the compressed file: what came of it may be damaged",
				    g->z.msg ? g->z.msg : "inflate failed", (unsigned long long)g->member);
		}
	}
}

static void
gz_check_start(struct arc_feed *f)
{
	struct gz_check *g;

	if (f->pre_len < 2 || (unsigned char)f->pre[0] != 0x1f || (unsigned char)f->pre[1] != 0x8b)
		return;
	g = xcalloc(1, sizeof *g);
	if (inflateInit2(&g->z, 15 + 16) != Z_OK) {     /* gzip framing */
		free(g);
		return;
	}
	f->gz = g;
}

/* Set by the command's signal handler (source_stop_on()). */
static volatile sig_atomic_t *source_stop;

void
source_stop_on(volatile sig_atomic_t *flag)
{
	source_stop = flag;
}

/* A read interrupted by a signal: made again, unless the command stops. */
static bool
read_again(void)
{
	return errno == EINTR && (source_stop == NULL || *source_stop == 0);
}

static la_ssize_t
arc_read(struct archive *a, void *ctx, const void **buf)
{
	struct arc_feed *f = ctx;

	(void)a;
	if (f->pre != NULL && f->pre_len > 0) {
		*buf = f->pre;
		la_ssize_t n = (la_ssize_t)f->pre_len;
		f->pre_len = 0;         /* handed out once; freed by arc_close() */
		gz_feed(f, *buf, (size_t)n);
		return n;
	}
	for (;;) {
		ssize_t n = read(f->src->fd, f->rbuf, ARC_READ_SIZE);
		if (n == -1 && read_again())
			continue;
		if (n == -1)
			archive_set_error(a, errno, "read error: %s", strerror(errno));
		if (n > 0)
			gz_feed(f, (const unsigned char *)f->rbuf, (size_t)n);
		*buf = f->rbuf;
		return n;
	}
}

static int
arc_close(struct archive *a, void *ctx)
{
	struct arc_feed *f = ctx;

	(void)a;
	if (f->gz != NULL) {
		inflateEnd(&f->gz->z);
		free(f->gz);
	}
	free(f->pre);
	free(f->rbuf);
	free(f);
	return ARCHIVE_OK;
}

#define MORE_FILES "the archive holds more than one file: extract it and convert each"
/* Decompressed bytes asked of libarchive at a time: a stream that breaks
 * off (truncated, corrupt) loses the block it was in, not a whole read. */
#define ARCHIVE_PIECE (64 * 1024)

/* The decompression failed: why, and whether the file could not be read
 * (an I/O error, exit 74) or its bytes are bad (truncated, corrupt: 65). */
static void
archive_failure(struct source *s)
{
	const char *why = archive_error_string(s->archive);
	int e = archive_errno(s->archive);

	snprintf(s->errbuf, sizeof s->errbuf, "%s", why ? why : "decompression failed");
	s->failed = true;
	s->failed_errno = e > 0 && e != EILSEQ && e != EINVAL ? e : 0;
	if (s->failed_errno == 0)
		s->errmsg = s->errbuf;
}

/* Up to len decompressed bytes, in pieces: 0 at the end, -1 when the
 * stream failed before any byte (s->failed). A failure after some bytes
 * hands those out; the next call reports it. */
static ssize_t
archive_take(struct source *s, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len && !s->failed) {
		size_t want = len - got < ARCHIVE_PIECE ? len - got : ARCHIVE_PIECE;
		la_ssize_t k = archive_read_data(s->archive, buf + got, want);
		if (k < 0)
			archive_failure(s);
		else if (k > 0)
			got += (size_t)k;
		/* the gzip check: corrupt, at once (bytes after the gzip data are
		 * the reader's to report, after the last message: mbox_reader.c) */
		if (s->gz_bad_now) {
			snprintf(s->errbuf, sizeof s->errbuf, "%s", s->gzmsg);
			s->failed = true;
			s->failed_errno = 0;
			s->errmsg = s->errbuf;
		}
		if (k == 0)
			break;
	}
	if (got == 0 && s->failed) {
		errno = s->failed_errno ? s->failed_errno : EIO;
		return -1;
	}
	return (ssize_t)got;
}

/* At the end of an archive's file: does another file follow (directories
 * and links do not count)? */
static bool
archive_more_files(struct source *s)
{
	struct archive_entry *e;

	if (s->archive == NULL || archive_format(s->archive) == ARCHIVE_FORMAT_RAW ||
	    archive_format(s->archive) == ARCHIVE_FORMAT_EMPTY)
		return false;
	while (archive_read_next_header(s->archive, &e) == ARCHIVE_OK)
		if (archive_entry_filetype(e) == AE_IFREG)
			return true;
	return false;
}

/* ---- how many files an archive holds, before its first byte is used ---- */

struct prescan {
	int fd;
	off_t off, size;
	char *buf;              /* ARC_READ_SIZE bytes */
};

static la_ssize_t
ps_read(struct archive *a, void *ctx, const void **buf)
{
	struct prescan *p = ctx;
	ssize_t n;

	do
		n = pread(p->fd, p->buf, ARC_READ_SIZE, p->off);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		archive_set_error(a, errno, "read error: %s", strerror(errno));
		return -1;
	}
	p->off += n;
	*buf = p->buf;
	return n;
}

static la_int64_t
ps_skip(struct archive *a, void *ctx, la_int64_t request)
{
	struct prescan *p = ctx;
	la_int64_t left = p->size > p->off ? (la_int64_t)(p->size - p->off) : 0;

	(void)a;
	if (request > left)
		request = left;
	p->off += (off_t)request;
	return request;
}

static la_int64_t
ps_seek(struct archive *a, void *ctx, la_int64_t offset, int whence)
{
	struct prescan *p = ctx;
	la_int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (la_int64_t)p->off
	    : (la_int64_t)p->size;

	(void)a;
	if (base + offset < 0)
		return ARCHIVE_FATAL;
	p->off = (off_t)(base + offset);
	return base + offset;
}

/*
 * Does the tar or zip in the regular file fd hold more than one file? Read
 * on its own, with pread(2), skipping (an uncompressed tar) or seeking (a
 * zip's central directory) over the files' data, so that an archive of two
 * mailboxes is refused before a message of the first is delivered. False
 * when fd is no regular file (a pipe is read once: its second file is met
 * after the first) or when this reading fails (the real one reports it).
 */
static bool
archive_holds_more(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		return false;
	struct prescan p = { fd, 0, st.st_size, xmalloc(ARC_READ_SIZE) };
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int files = 0;

	archive_read_support_filter_all(a);
	archive_read_support_format_zip(a);
	archive_read_support_format_tar(a);
	archive_read_set_callback_data(a, &p);
	archive_read_set_read_callback(a, ps_read);
	archive_read_set_skip_callback(a, ps_skip);
	archive_read_set_seek_callback(a, ps_seek);
	if (archive_read_open1(a) == ARCHIVE_OK)
		while (files < 2 && archive_read_next_header(a, &e) == ARCHIVE_OK)
			if (archive_entry_filetype(e) == AE_IFREG)
				files++;
	archive_read_free(a);
	free(p.buf);
	return files > 1;
}

static int
source_open_archive(struct source *s)
{
	int st = archive_lib_load(s->name, EX_NOINPUT);
	if (st != 0)
		return st;

	struct archive *a = archive_read_new();
	struct arc_feed *f = xcalloc(1, sizeof *f);
	struct archive_entry *entry;

	f->src = s;
	f->rbuf = xmalloc(ARC_READ_SIZE);
	/* the sniffed bytes now belong to libarchive's feed (lifetime rule above) */
	f->pre = s->pre;
	f->pre_len = s->pre_len;
	gz_check_start(f);
	s->pre = NULL;
	s->pre_len = s->pre_off = 0;
	archive_read_support_filter_all(a);
	/* a zip or tar holding one mailbox is read like a compressed file */
	archive_read_support_format_zip(a);
	archive_read_support_format_tar(a);
	archive_read_support_format_raw(a);
	/* the raw format bids only on at least one byte: a compressed empty
	 * file (an emptied spool kept as .gz) is libarchive's "empty" format */
	archive_read_support_format_empty(a);
	int rc = archive_read_open(a, f, NULL, arc_read, arc_close);
	if (rc == ARCHIVE_OK)
		rc = archive_read_next_header(a, &entry);
	/* a tar or zip of a folder: its directories come before the file */
	while (rc == ARCHIVE_OK && archive_format(a) != ARCHIVE_FORMAT_RAW &&
	    archive_entry_filetype(entry) != AE_IFREG)
		rc = archive_read_next_header(a, &entry);
	if (rc == ARCHIVE_EOF && archive_format(a) != ARCHIVE_FORMAT_EMPTY) {
		report_error(EX_DATAERR, "%s: an empty %s archive: no mailbox in it", s->name,
		    archive_format_name(a) ? archive_format_name(a) : "");
		archive_read_free(a);
		return EX_DATAERR;
	}
	if (rc != ARCHIVE_OK && rc != ARCHIVE_EOF) {
		report_error(EX_DATAERR, "%s:0: cannot decompress: %s", s->name,
		    archive_error_string(a) ? archive_error_string(a) : "unknown format");
		archive_read_free(a);
		return EX_DATAERR;
	}
	if (archive_format(a) != ARCHIVE_FORMAT_RAW && archive_format(a) != ARCHIVE_FORMAT_EMPTY &&
	    archive_holds_more(s->fd)) {
		report_error(EX_DATAERR, "%s: %s", s->name, MORE_FILES);
		archive_read_free(a);
		return EX_DATAERR;
	}
	const char *fname = archive_filter_name(a, 0);
	/* libmagic saw compressed data that libarchive cannot take for any
	 * filter or archive: a file cut off in its first bytes */
	if (archive_format(a) == ARCHIVE_FORMAT_RAW && (fname == NULL || strcmp(fname, "none") == 0)) {
		report_error(EX_DATAERR, "%s:0: cannot decompress: too short or damaged to be the "
		    "compressed data it starts as", s->name);
		archive_read_free(a);
		return EX_DATAERR;
	}
	s->compression = fname ? fname : "compressed";
	if (archive_format(a) != ARCHIVE_FORMAT_RAW && archive_format(a) != ARCHIVE_FORMAT_EMPTY &&
	    archive_format_name(a))
		s->compression = archive_format_name(a);
	s->eof = rc == ARCHIVE_EOF;     /* nothing to decompress */
	s->archive = a;
	s->seekable = false;
	s->size = -1;
	s->pos = 0;
	return 0;
}

/* What libmagic says about the first bytes; the caller frees. */
static char *
magic_describe(const char *buf, size_t len, bool mime)
{
	char *res = NULL;
	if (!magic_lib_load())
		return NULL;
	magic_t m = magic_open(mime ? MAGIC_MIME_TYPE : MAGIC_NONE);

	if (m == NULL)
		return NULL;
	if (magic_load(m, NULL) == 0) {
		const char *d = magic_buffer(m, buf, len);
		if (d)
			res = xstrdup(d);
	}
	magic_close(m);
	return res;
}

static bool
is_compressed_mime(const char *t)
{
	static const char *const types[] = {
		"application/gzip", "application/x-gzip", "application/x-bzip2",
		"application/x-xz", "application/zstd", "application/x-zstd",
		"application/x-lzip", "application/x-lzma", "application/x-compress",
		"application/x-lz4", "application/x-lzop", "application/zip", "application/x-tar",
	};
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (strcmp(t, types[i]) == 0)
			return true;
	return false;
}

enum source_path_kind
source_path_kind(const char *path)
{
	char buf[4096];
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return SOURCE_PATH_OTHER;
	ssize_t n = read_full(fd, buf, sizeof buf);
	close(fd);
	if (n < 0)
		return SOURCE_PATH_OTHER;
	size_t i = 0;
	while (i < (size_t)n && (buf[i] == '\n' || buf[i] == '\r'))
		i++;
	if (i == (size_t)n || ((size_t)n - i >= 5 && memcmp(buf + i, "From ", 5) == 0))
		return SOURCE_PATH_MBOX;
	char *mime = magic_describe(buf, (size_t)n, true);
	bool c = mime != NULL && is_compressed_mime(mime);
	free(mime);
	return c ? SOURCE_PATH_COMPRESSED : SOURCE_PATH_OTHER;
}

/* Fill the sniff buffer from wherever the bytes come from now. */
static int
sniff_fill(struct source *s)
{
	s->pre = s->pre ? s->pre : xmalloc(SNIFF_SIZE);
	s->pre_len = 0;
	while (s->pre_len < SNIFF_SIZE) {
		ssize_t n;
		if (s->archive && s->eof) {
			n = 0;
		} else if (s->archive) {
			n = archive_take(s, s->pre + s->pre_len, SNIFF_SIZE - s->pre_len);
			if (n < 0 && s->pre_len > 0)
				break;  /* what came before is read; the reader meets the error */
			if (n < 0) {
				int st = s->failed_errno ? EX_IOERR : EX_DATAERR;
				report_error(st, "%s: %s: decompression failed at offset 0: %s",
				    s->name, s->compression, s->errbuf);
				return st;
			}
		} else {
			n = read(s->fd, s->pre + s->pre_len, SNIFF_SIZE - s->pre_len);
			if (n == -1 && read_again())
				continue;
			if (n == -1 && errno == EINTR) {
				report_error(EX_TEMPFAIL, "%s:%zu: interrupted while waiting for more bytes "
				    "(the first %d KiB tell what it is)", s->name, s->pre_len, SNIFF_SIZE / 1024);
				return EX_TEMPFAIL;
			}
			if (n == -1) {
				report_error_sys(EX_IOERR, "%s: read error at offset 0", s->name);
				return EX_IOERR;
			}
		}
		if (n == 0) {
			if (s->archive && !s->eof && archive_more_files(s)) {
				report_error(EX_DATAERR, "%s: %s", s->name, MORE_FILES);
				return EX_DATAERR;
			}
			if (s->archive)
				s->eof = true;
			break;
		}
		s->pre_len += (size_t)n;
	}
	s->pre_off = 0;
	return 0;
}

/* A header field on the first line and an empty line after the header:
 * a message file, not a mailbox (libmagic misses short ones). */
static bool
looks_like_message(const char *p, size_t len)
{
	size_t i = 0;
	bool complete;

	while (i < len && p[i] > ' ' && p[i] < 0x7f && p[i] != ':')
		i++;
	if (i == 0 || i >= len || p[i] != ':')
		return false;
	header_block_len(p, len, &complete);
	return complete;
}

/* Classify the sniffed bytes: 0 ok (type set), else a reported status. */
static int
sniff_classify(struct source *s, bool allow_decompress)
{
	const char *p = s->pre, *end = s->pre + s->pre_len;

	if (s->pre_len == 0) {
		s->type = SOURCE_EMPTY;
		return 0;
	}
	while (p < end && (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')))
		p += *p == '\n' ? 1 : 2;
	if (p == end && s->pre_len < SNIFF_SIZE) {
		s->type = SOURCE_EMPTY;
		return 0;
	}
	if (end - p >= 5 && memcmp(p, "From ", 5) == 0) {
		/* CR-only line ends (old Mac OS): no LF anywhere in the first line */
		const char *lf = memchr(p, '\n', (size_t)(end - p));
		const char *cr = memchr(p, '\r', (size_t)(end - p));
		if (lf == NULL && cr != NULL) {
			report_error(EX_DATAERR, "%s: not a usable mbox: no LF line terminators "
			    "(CR-only line ends at offset %lld)", s->name, (long long)(cr - s->pre));
			return EX_DATAERR;
		}
		s->type = SOURCE_MBOX;
		return 0;
	}
	if (end - p >= 5 && memcmp(p, "\001\001\001\001\n", 5) == 0) {
		s->type = SOURCE_MMDF;
		return 0;
	}
	if (allow_decompress) {
		char *mime = magic_describe(s->pre, s->pre_len, true);
		if (mime && is_compressed_mime(mime)) {
			free(mime);
			int st = source_open_archive(s);
			if (st)
				return st;
			if ((st = sniff_fill(s)) != 0)
				return st;
			return sniff_classify(s, false);
		}
		free(mime);
	}
	char *desc = magic_describe(s->pre, s->pre_len, false);
	off_t bad = (off_t)(p - s->pre);
	if ((desc && strncmp(desc, "RFC 822 mail", 12) == 0) || looks_like_message(p, (size_t)(end - p)))
		report_error(EX_DATAERR, "%s: not a mailbox (a single message without a From_ line; "
		    "a Maildir would hold it as one file): no From_ line at offset %lld",
		    s->name, (long long)bad);
	else
		report_error(EX_DATAERR, "%s: not a mailbox (%s%s%s): no From_ line at offset %lld",
		    s->name, s->compression ? s->compression : "",
		    s->compression ? " data containing " : "",
		    desc ? desc : "unknown data", (long long)bad);
	free(desc);
	return EX_DATAERR;
}

/*
 * A FIFO is read as cat(1) reads it: from its writer. A read before any
 * writer opened it would end at once (no writer: end of file), and a
 * writer coming a moment later would wait forever for a reader. So the
 * descriptor, open since before any writer could come, is polled: Linux
 * reports neither data nor a hang-up until a writer opened the FIFO after
 * it, then data, or a hang-up once that writer is gone (a writer that
 * wrote and left before the poll still counts: its data waits in the
 * pipe). A signal ends the wait (EINTR, reported).
 */
static int
fifo_wait_writer(struct source *s)
{
	struct pollfd p = { .fd = s->fd, .events = POLLIN };

	return poll(&p, 1, -1) == -1 ? -1 : 0;
}

int
source_open(struct source *s, const char *path, unsigned allow)
{
	memset(s, 0, sizeof *s);
	s->path = path;
	s->fd = -1;
	s->size = -1;

	if (strcmp(path, "-") == 0) {
		s->name = "<stdin>";
		s->fd = STDIN_FILENO;
		if (fstat(s->fd, &s->st) == -1) {
			report_error_sys(EX_NOINPUT, "cannot use standard input");
			return EX_NOINPUT;
		}
	} else {
		struct stat lst;
		s->name = path;
		if (lstat(path, &lst) == -1) {
			report_error_sys(EX_NOINPUT, "cannot open %s", path);
			return EX_NOINPUT;
		}
		if (S_ISLNK(lst.st_mode) && geteuid() == 0) {
			report_error(EX_NOINPUT, "cannot open %s: refusing to follow a symlink as root", path);
			return EX_NOINPUT;
		}
		if (stat(path, &s->st) == -1) {
			report_error_sys(EX_NOINPUT, "cannot open %s", path);
			return EX_NOINPUT;
		}
		if (S_ISDIR(s->st.st_mode)) {
			if (source_is_maildir(path) && (allow & (1u << SOURCE_MAILDIR))) {
				s->type = SOURCE_MAILDIR;
				return 0;
			}
			if (errno != 0) {
				report_error_sys(EX_NOINPUT, "unable to open %s", path);
				return EX_NOINPUT;
			}
			report_error(EX_DATAERR, "%s: a directory but not a %s (no cur/ subdirectory)",
			    path, (allow & (1u << SOURCE_MAILDIR)) ? "Maildir" : "mailbox file");
			return EX_DATAERR;
		}
		s->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (s->fd == -1) {
			report_error_sys(EX_NOINPUT, "cannot open %s", path);
			return EX_NOINPUT;
		}
		/* O_NONBLOCK only so that opening a FIFO cannot hang; reads block */
		int fl = fcntl(s->fd, F_GETFL);
		if (fl != -1)
			fcntl(s->fd, F_SETFL, fl & ~O_NONBLOCK);
		if (fstat(s->fd, &s->st) == -1) {
			report_error_sys(EX_NOINPUT, "cannot open %s", path);
			source_close(s);
			return EX_NOINPUT;
		}
		if (S_ISFIFO(s->st.st_mode) && fifo_wait_writer(s) == -1) {
			report_error_sys(EX_NOINPUT, "cannot open %s", path);
			source_close(s);
			return EX_NOINPUT;
		}
	}
	if (S_ISREG(s->st.st_mode) && lseek(s->fd, 0, SEEK_CUR) != (off_t)-1) {
		s->seekable = true;
		s->size = s->st.st_size;
	}
	int st = sniff_fill(s);
	if (st == 0)
		st = sniff_classify(s, true);
	if (st == 0 && !(allow & (1u << s->type))) {
		report_error(EX_DATAERR, "%s: %s mailboxes are not supported here", s->name,
		    s->type == SOURCE_MMDF ? "MMDF" : s->type == SOURCE_MAILDIR ? "Maildir" : "empty");
		st = EX_DATAERR;
	}
	if (st != 0) {
		source_close(s);
		return st;
	}
	return 0;
}

int
source_open_fd(struct source *s, int fd, const char *name)
{
	memset(s, 0, sizeof *s);
	s->path = s->name = name;
	s->type = SOURCE_MBOX;
	s->fd = dup(fd);
	if (s->fd == -1 || fstat(s->fd, &s->st) == -1) {
		report_error_sys(EX_IOERR, "unable to read %s", name);
		if (s->fd != -1)
			close(s->fd);
		s->fd = -1;
		return EX_IOERR;
	}
	s->seekable = S_ISREG(s->st.st_mode);
	s->size = s->seekable ? s->st.st_size : -1;
	return 0;
}

int
source_skip(struct source *s, off_t off)
{
	if (off <= 0)
		return 0;
	if (s->seekable && s->archive == NULL) {
		/* read on from there, as a stream */
		s->pre_off = s->pre_len;
		s->seekable = false;
		s->size = -1;
		if (lseek(s->fd, off, SEEK_SET) == -1)
			return -1;
		s->pos = off;
		return 0;
	}
	char buf[65536];
	while (s->pos < off) {
		off_t left = off - s->pos;
		ssize_t k = source_read(s, buf, left < (off_t)sizeof buf ? (size_t)left : sizeof buf);
		if (k <= 0)
			return -1;
	}
	return 0;
}

ssize_t
source_read(struct source *s, void *buf, size_t len)
{
	ssize_t n;

	if (s->pre_off < s->pre_len) {
		size_t k = s->pre_len - s->pre_off;
		if (k > len)
			k = len;
		memcpy(buf, s->pre + s->pre_off, k);
		s->pre_off += k;
		s->pos += (off_t)k;
		return (ssize_t)k;
	}
	if (s->eof)
		return 0;
	if (s->archive) {
		n = archive_take(s, buf, len);
		if (n < 0)
			return -1;
	} else {
		do
			n = read(s->fd, buf, len);
		while (n == -1 && read_again());
		if (n == -1)
			return -1;
	}
	if (n == 0 && archive_more_files(s)) {
		s->errmsg = MORE_FILES;
		errno = EINVAL;
		return -1;
	}
	if (n == 0)
		s->eof = true;
	s->pos += n;
	return n;
}

const char *
source_error_string(struct source *s)
{
	if (s->errmsg)
		return s->errmsg;
	if (s->failed)
		return s->errbuf;
	if (s->archive && archive_error_string(s->archive))
		return archive_error_string(s->archive);
	return strerror(errno);
}

ssize_t
source_pread(struct source *s, void *buf, size_t len, off_t off)
{
	if (!s->seekable) {
		errno = ESPIPE;
		return -1;
	}
	return pread_full(s->fd, buf, len, off);
}

void
source_close(struct source *s)
{
	if (s->archive) {
		archive_read_free(s->archive);
		s->archive = NULL;
	}
	if (s->fd > STDIN_FILENO)
		close(s->fd);
	s->fd = -1;
	free(s->pre);
	s->pre = NULL;
}
