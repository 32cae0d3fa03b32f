/*
 * mbox_rewrite.c: rewriting an mbox in place through a journal (DESIGN §3,
 * SPEC §5 O7, O8): the new tail is journalled and synced, copied back over
 * the same inode, the mailbox truncated and synced, the journal removed; a
 * journal left by a crash is rolled forward or discarded when the mailbox
 * is next opened for writing (mbox_writer.c calls mbox_journal_recover).
 * Also emptying a mailbox in place. API in mbox_writer.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sysexits.h>
#include <unistd.h>
#include <xxhash.h>

#include "mbox_writer_int.h"
#include "report.h"
#include "testhook.h"
#include "util.h"

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

int
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
