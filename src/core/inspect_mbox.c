/*
 * inspect_mbox.c: the checks of a plain mbox file (SPEC §2.3-2.7, §5
 * X1-X21). The messages are read by the mbox reader, the one place that
 * knows where a message ends (mbox_reader.c), over the descriptor the
 * caller may hold locked (no second open, F1); what it tells through its
 * on_anomaly callback becomes the findings, with the byte offsets repair
 * needs: leading bytes, every unquoted From line, every missing separator,
 * every Content-Length that does not land on a boundary, a missing final
 * line end, mixed line ends. Here too: a stale dotlock and a journal left
 * by an interrupted rewrite; and inspect_path(), which hands a Maildir to
 * inspect_maildir.c.
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

#include "inspect.h"
#include "inspect_int.h"
#include "lock.h"
#include "mbox_reader.h"
#include "mbox_writer.h"
#include "report.h"
#include "source.h"
#include "util.h"

/* ---- mbox (SPEC §2.3-2.7) --------------------------------------------------- */

struct mb {
	struct emit e;
	off_t truncated;         /* end of a file without a final line end, or -1 */
	off_t mixed;             /* the first line end of the other kind, or -1 */
};

static void
mb_emit(struct mb *m, enum inspect_code code, off_t off, long long value, const char *msg)
{
	struct inspect_finding f;
	finding_init(&f, code);
	f.offset = off;
	f.value = value;
	emit_finding(&m->e, &f, "%s", msg);
}

/* What the reader noticed, as findings. The end of file and the line ends
 * are the file's, told after its messages. */
static void
mb_anomaly(void *arg, const struct mbox_anomaly *a)
{
	struct mb *m = arg;
	struct inspect_finding f;
	char msg[96];

	switch (a->kind) {
	case MBOX_ANOMALY_LEADING:
		snprintf(msg, sizeof msg, "%lld bytes before the first From_ line",
		    a->value - (long long)a->offset);
		mb_emit(m, IC_MBOX_FIRST_LINE, a->offset, a->value, msg);
		break;
	case MBOX_ANOMALY_UNQUOTED_FROM:
		mb_emit(m, IC_MBOX_UNQUOTED_FROM, a->offset, -1,
		    "body line starts with \"From \" but is no From_ line");
		break;
	case MBOX_ANOMALY_MISSING_SEPARATOR:
		mb_emit(m, IC_MBOX_MISSING_SEPARATOR, a->offset, a->value,
		    "From_ line without an empty line before it");
		break;
	case MBOX_ANOMALY_CONTENT_LENGTH:
		finding_init(&f, IC_MBOX_CONTENT_LENGTH);
		f.offset = a->offset;
		f.value = a->value;
		f.span_start = a->span_start;
		f.span_end = a->span_end;
		emit_finding(&m->e, &f, "Content-Length: %lld does not land on a message boundary"
		    " (the body holds %lld bytes)", a->declared < 0 ? 0 : a->declared, a->value2);
		break;
	case MBOX_ANOMALY_NO_FINAL_NEWLINE:
		m->truncated = a->offset;
		break;
	case MBOX_ANOMALY_MIXED_EOL:
		m->mixed = a->offset;
		break;
	default:
		break;          /* not a finding of check */
	}
}

/* Every message through the mbox reader over fd (opened and locked by the
 * caller): 0, or the status reported. */
static int
mb_scan(struct mb *m, int fd)
{
	struct source src;
	int status = source_open_fd(&src, fd, m->e.maildir);
	if (status != 0)
		return status;
	struct mbox_reader_opts ro = { .variant = MBOX_MBOXRD, .keep_pseudo = true, .quiet = true,
		.on_anomaly = mb_anomaly, .anomaly_arg = m, .skip_leading = true };
	struct mbox_reader *r = mbox_reader_new(&src, &ro);
	struct message msg;
	struct iovec iov[64];
	int rc, n;

	while ((rc = mbox_reader_next(r, &msg)) == 1) {
		m->e.st->messages++;
		do
			n = ARRAY_SIZE(iov);
		while ((rc = mbox_reader_body(r, iov, &n)) == 1);
		if (rc == -1)
			break;
	}
	const struct mbox_counters *c = mbox_reader_counters(r);
	m->e.st->mbox_cl_messages += c->cl_used + c->cl_ignored + c->cl_unverified;
	m->e.st->mbox_protected_from += c->protected_from;
	status = rc == -1 ? mbox_reader_status(r) : 0;
	mbox_reader_free(r);
	source_close(&src);
	if (status != 0)
		return status;
	if (m->truncated >= 0)
		mb_emit(m, IC_MBOX_TRUNCATED, m->truncated, -1, "the last line has no line end");
	if (m->mixed >= 0)
		mb_emit(m, IC_MBOX_MIXED_EOL, m->mixed, -1, "both CRLF and LF line ends");
	return 0;
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

int
inspect_mbox(const char *path, const struct inspect_opts *o, struct inspect_stats *st)
{
	struct mb m = { .e = { o, st, path }, .truncated = -1, .mixed = -1 };
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
	status = mb_scan(&m, fd);
	if (o->mbox_fd < 0) {
		/* give the "new mail" signal back (SPEC §5 O9) */
		struct timespec ts[2] = { fs.st_atim, { .tv_nsec = UTIME_OMIT } };
		(void)futimens(fd, ts);
		mbox_lock_release(&lk);
	}
	return status;
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
	/* compressed input and archives are for convert: check and repair
	 * work on plain files, and repair would write into the archive */
	if (source_path_kind(path) == SOURCE_PATH_COMPRESSED) {
		report_error(EX_DATAERR, "%s: compressed or an archive; check and repair work on plain "
		    "mbox files", path);
		return EX_DATAERR;
	}
	return inspect_mbox(path, o, st);
}
