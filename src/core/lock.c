/*
 * lock.c: mailbox locking, SPEC §2.11 ▶ (Debian order: fcntl, flock,
 * dotlock, all non-blocking, release everything and retry once a second),
 * §5 O6 (timeout -> EX_TEMPFAIL naming the lock; unwritable spool reported,
 * fcntl alone only on request) and F1 (OFD locks, one descriptor).
 *
 * Why non-blocking everywhere: mixing blocking calls in different orders
 * deadlocks two programs that each hold one of the locks (mutt's mbox(5)).
 * Why OFD locks: a classic fcntl lock is dropped when *any* descriptor for
 * the file is closed in this process (a library opening the path, say);
 * OFD locks belong to the open file description and still conflict with
 * classic fcntl locks held by other programs (procmail, Postfix, mutt).
 * Why the link() dotlock: O_EXCL is not atomic on old NFS; a link count of
 * 2 on our own unique file is (liblockfile, mutt's dotlock.c).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "lock.h"
#include "report.h"
#include "util.h"

#ifndef NFS_SUPER_MAGIC
#define NFS_SUPER_MAGIC 0x6969
#endif

/* Outcome of one attempt at one lock. */
enum { TRY_OK = 0, TRY_BUSY = 1, TRY_ERROR = -1 };

/* Warnings said since lock_warnings_take(), for the command's summary. */
static unsigned lock_warned;

unsigned
lock_warnings_take(void)
{
	unsigned n = lock_warned;
	lock_warned = 0;
	return n;
}

/* Set by the command's signal handler: a wait for a lock ends on it. */
static volatile sig_atomic_t *lock_stop;

void
lock_stop_on(volatile sig_atomic_t *flag)
{
	lock_stop = flag;
}

static bool
lock_stopped(const char *path)
{
	if (lock_stop == NULL || *lock_stop == 0)
		return false;
	report_error(EX_TEMPFAIL, "%s: interrupted while waiting for its lock", path);
	return true;
}

/* What a waiting locker remembers to decide that a dotlock is stale. */
struct stale_watch {
	bool watching;
	dev_t lock_dev;
	ino_t lock_ino;
	off_t mbox_size;
	struct timespec mbox_mtime;
};

static time_t
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

char *
mbox_lock_dotlock_path(const char *path)
{
	return xasprintf("%s.lock", path);
}

static int
fcntl_try(struct mbox_lock *lk)
{
	struct flock fl;

	memset(&fl, 0, sizeof fl);
	/* a reader's read lock conflicts with every writer's write lock */
	fl.l_type = lk->mode == MBOX_LOCK_WRITE ? F_WRLCK : F_RDLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 0;            /* the whole file, however it grows */
	if (fcntl(lk->fd, F_OFD_SETLK, &fl) == 0)
		return TRY_OK;
	if (errno == EAGAIN || errno == EACCES)
		return TRY_BUSY;
	return TRY_ERROR;
}

static void
fcntl_unlock(struct mbox_lock *lk)
{
	struct flock fl;

	memset(&fl, 0, sizeof fl);
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
	(void)fcntl(lk->fd, F_OFD_SETLK, &fl);
}

static int
flock_try(struct mbox_lock *lk)
{
	if (flock(lk->fd, (lk->mode == MBOX_LOCK_WRITE ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
		return TRY_OK;
	if (errno == EWOULDBLOCK || errno == EINTR)
		return TRY_BUSY;
	if (errno == ENOLCK || errno == EINVAL)
		return TRY_OK;   /* not supported here: fcntl still protects us */
	return TRY_ERROR;
}

/* Create our unique file next to the mailbox, holding our pid (liblockfile). */
static char *
dotlock_tmpfile(const struct mbox_lock *lk)
{
	static unsigned counter;
	char host[64];

	if (gethostname(host, sizeof host) != 0)
		strcpy(host, "localhost");
	host[sizeof host - 1] = '\0';
	for (char *h = host; *h; h++)
		if (*h == '/' || *h == '.')
			*h = '_';
	char *tmp = xasprintf("%s.lk%ld.%u.%s", lk->dotlock, (long)getpid(), counter++, host);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd == -1) {
		int e = errno;
		free(tmp);
		errno = e;
		return NULL;
	}
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	(void)!write(fd, pid, (size_t)n);
	close(fd);
	return tmp;
}

/* Remember which file is our dotlock (release and touch check it). */
static int
dotlock_taken(struct mbox_lock *lk)
{
	struct stat st;

	if (lstat(lk->dotlock, &st) == -1)
		return TRY_BUSY;
	lk->dotlock_dev = st.st_dev;
	lk->dotlock_ino = st.st_ino;
	lk->have_dotlock = true;
	lk->touched = mono_now();
	return TRY_OK;
}

/*
 * One attempt at the dotlock by the link() method. TRY_ERROR keeps errno
 * (EACCES/EROFS: the directory is not writable for us).
 */
static int
dotlock_try(struct mbox_lock *lk)
{
	char *tmp = dotlock_tmpfile(lk);
	struct stat st;

	if (tmp == NULL)
		return TRY_ERROR;
	if (link(tmp, lk->dotlock) == -1 && (errno == EPERM || errno == ENOSYS)) {
		/* A file system without hard links: O_EXCL is atomic locally. */
		int lfd = open(lk->dotlock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		int e = errno;
		unlink(tmp);
		free(tmp);
		if (lfd == -1) {
			errno = e;
			return e == EEXIST ? TRY_BUSY : TRY_ERROR;
		}
		close(lfd);
		return dotlock_taken(lk);
	}
	/* link()'s result is not trusted (NFS may lose the reply): the link
	 * count of our own file decides. */
	int rc = lstat(tmp, &st) == 0 && st.st_nlink == 2 ? TRY_OK : TRY_BUSY;
	unlink(tmp);
	free(tmp);
	return rc == TRY_OK ? dotlock_taken(lk) : rc;
}

/*
 * A busy dotlock may be stale: older than the stale age, and the mailbox
 * did not change (size, mtime) between the first busy attempt and now.
 * Returns true when it was broken (and says so).
 */
static bool
dotlock_break_stale(struct mbox_lock *lk, struct stale_watch *sw, int stale_age)
{
	struct stat ls, ms;

	if (lstat(lk->dotlock, &ls) == -1 || fstat(lk->fd, &ms) == -1) {
		sw->watching = false;
		return false;
	}
	if (!sw->watching || sw->lock_dev != ls.st_dev || sw->lock_ino != ls.st_ino) {
		sw->watching = true;
		sw->lock_dev = ls.st_dev;
		sw->lock_ino = ls.st_ino;
		sw->mbox_size = ms.st_size;
		sw->mbox_mtime = ms.st_mtim;
		return false;
	}
	if (ms.st_size != sw->mbox_size || ms.st_mtim.tv_sec != sw->mbox_mtime.tv_sec ||
	    ms.st_mtim.tv_nsec != sw->mbox_mtime.tv_nsec) {
		/* the holder is working: start watching again */
		sw->mbox_size = ms.st_size;
		sw->mbox_mtime = ms.st_mtim;
		return false;
	}
	time_t age = time(NULL) - ls.st_mtime;
	if (age < stale_age)
		return false;
	if (unlink(lk->dotlock) == -1)
		return false;
	report_warn("%s: removed stale lock %s (%lld seconds old, mailbox unchanged)",
	    lk->path, lk->dotlock, (long long)age);
	lock_warned++;
	sw->watching = false;
	return true;
}

/*
 * A dotlock that names a process which no longer exists (liblockfile's
 * L_PID convention: the pid as decimal text) is dead: its holder crashed,
 * and waiting five minutes for it to turn stale would only delay the
 * rerun that finishes the job. Not on NFS, where the pid may belong to
 * another host. Returns true when it was removed (and says so).
 */
static bool
dotlock_break_dead(struct mbox_lock *lk)
{
	char b[32];
	struct stat st;
	bool removed = false;

	if (lk->nfs)
		return false;
	int fd = open(lk->dotlock, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && st.st_size < 32) {
		ssize_t n = read_full(fd, b, sizeof b - 1);
		char *e;
		b[n > 0 ? n : 0] = '\0';
		long pid = strtol(b, &e, 10);
		if (n > 0 && pid > 0 && (*e == '\n' || *e == '\0') &&
		    kill((pid_t)pid, 0) == -1 && errno == ESRCH) {
			struct stat now;
			/* still the same file: then remove it */
			if (lstat(lk->dotlock, &now) == 0 && now.st_ino == st.st_ino &&
			    now.st_dev == st.st_dev && unlink(lk->dotlock) == 0) {
				report_warn("%s: removed lock %s of process %ld, which no longer exists",
				    lk->path, lk->dotlock, pid);
				lock_warned++;
				removed = true;
			}
		}
	}
	close(fd);
	return removed;
}

static void
dotlock_release(struct mbox_lock *lk)
{
	struct stat st;

	if (!lk->have_dotlock)
		return;
	lk->have_dotlock = false;
	/* Only remove it if it is still the file we made (not one that
	 * replaced ours after someone broke it as stale). */
	if (lstat(lk->dotlock, &st) == 0 &&
	    (st.st_dev != lk->dotlock_dev || st.st_ino != lk->dotlock_ino)) {
		report_warn("%s: lock %s was replaced by another process", lk->path, lk->dotlock);
		lock_warned++;
		return;
	}
	unlink(lk->dotlock);
}

static void
release_held(struct mbox_lock *lk)
{
	dotlock_release(lk);
	if (lk->have_flock) {
		(void)flock(lk->fd, LOCK_UN);
		lk->have_flock = false;
	}
	if (lk->have_fcntl) {
		fcntl_unlock(lk);
		lk->have_fcntl = false;
	}
}

/*
 * Open the mailbox without following a symlink; refuse hard-linked and
 * special files and check that what we opened is what lstat saw (mail.local).
 * Returns 0 or a DESIGN §4 status (reported).
 */
static int
lock_open_file(struct mbox_lock *lk, const struct mbox_lock_opts *o)
{
	bool wr = lk->mode == MBOX_LOCK_WRITE;
	int fail = wr ? EX_CANTCREAT : EX_NOINPUT;   /* read and shared: read-only */
	struct stat ls, st;

	for (int tries = 0; tries < 3; tries++) {
		if (lstat(lk->path, &ls) == 0) {
			if (S_ISLNK(ls.st_mode)) {
				report_error(fail, "%s: refusing to open a symbolic link", lk->path);
				return fail;
			}
			lk->fd = open(lk->path, (wr ? O_RDWR : O_RDONLY) | O_NOFOLLOW |
			    O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		} else if (errno == ENOENT && wr && o->create) {
			mode_t mode = o->create_mode ? o->create_mode : 0600;
			lk->fd = open(lk->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
			    O_NOCTTY | O_CLOEXEC, mode);
			if (lk->fd == -1 && errno == EEXIST)
				continue;   /* created meanwhile: look again */
			if (lk->fd != -1) {
				lk->created = true;
				if (fstat(lk->fd, &ls) == -1)
					break;
			}
		} else {
			lk->fd = -1;
		}
		break;
	}
	if (lk->fd == -1) {
		report_error_sys(fail, "unable to open %s", lk->path);
		return fail;
	}
	if (fstat(lk->fd, &st) == -1) {
		report_error_sys(EX_IOERR, "unable to stat %s", lk->path);
		return EX_IOERR;
	}
	if (st.st_dev != ls.st_dev || st.st_ino != ls.st_ino) {
		report_error(fail, "%s: file was replaced while it was opened", lk->path);
		return fail;
	}
	if (!S_ISREG(st.st_mode)) {
		report_error(fail, "%s: not a regular file", lk->path);
		return fail;
	}
	if (st.st_nlink > 1) {
		report_error(fail, "%s: refusing a mailbox with %lu hard links",
		    lk->path, (unsigned long)st.st_nlink);
		return fail;
	}
	int fl = fcntl(lk->fd, F_GETFL);
	if (fl != -1)
		(void)fcntl(lk->fd, F_SETFL, fl & ~O_NONBLOCK);
	struct statfs sf;
	lk->nfs = fstatfs(lk->fd, &sf) == 0 && sf.f_type == NFS_SUPER_MAGIC;
	lk->st = st;
	return 0;
}

/*
 * One round: every lock in order, each non-blocking. On TRY_BUSY *what_r
 * names the busy lock and everything taken in this round is released.
 */
static int
lock_round(struct mbox_lock *lk, const char **what_r)
{
	int rc = fcntl_try(lk);

	*what_r = "fcntl lock on the mailbox";
	if (rc != TRY_OK)
		return rc;
	lk->have_fcntl = true;
	if (lk->mode == MBOX_LOCK_READ || lk->fcntl_only)
		return TRY_OK;
	if (!lk->nfs) {
		*what_r = "flock on the mailbox";
		rc = flock_try(lk);
		if (rc != TRY_OK)
			goto undo;
		lk->have_flock = true;
	}
	if (lk->no_dotlock)
		return TRY_OK;
	*what_r = lk->dotlock;
	rc = dotlock_try(lk);
	if (rc == TRY_OK)
		return TRY_OK;
	if (rc == TRY_ERROR && lk->mode == MBOX_LOCK_SHARED &&
	    (errno == EACCES || errno == EROFS || errno == EPERM)) {
		/* a reader of a spool it may not write into: the other two
		 * locks, and the caller is told (lk->no_dotlock) */
		report_warn_sys("%s: reading without the dotlock: unable to create %s",
		    lk->path, lk->dotlock);
		lock_warned++;
		lk->no_dotlock = true;
		return TRY_OK;
	}
undo:
	{
		int e = errno;
		release_held(lk);
		errno = e;
	}
	return rc;
}

/* Rounds until every lock is held or the timeout expires. 0 or the
 * reported status. */
static int
lock_acquire(struct mbox_lock *lk)
{
	struct stale_watch sw = { .watching = false };
	/* (to the nanosecond: whole seconds gave up after 1 to 2 s of a 2 s
	 * timeout, as the start fell in its second) */
	double start = now_monotonic(), deadline = start + lk->timeout;
	const char *what = "";
	bool told = false;

	for (;;) {
		int rc = lock_round(lk, &what);
		if (rc == TRY_OK)
			break;
		if (rc == TRY_ERROR) {
			if (what == lk->dotlock && (errno == EACCES || errno == EROFS || errno == EPERM)) {
				report_error_sys(EX_CANTCREAT, "unable to create lock %s "
				    "(use the fcntl-only locking option to lock without it)", lk->dotlock);
				return EX_CANTCREAT;
			}
			report_error_sys(EX_IOERR, "unable to lock %s (%s)", lk->path, what);
			return EX_IOERR;
		}
		if (what == lk->dotlock && (dotlock_break_dead(lk) ||
		    (lk->timeout > 0 && dotlock_break_stale(lk, &sw, lk->stale_age))))
			continue;
		if (now_monotonic() >= deadline) {
			report_error(EX_TEMPFAIL, "%s is locked: %s is busy (gave up after %d s)",
			    lk->path, what, lk->timeout);
			return EX_TEMPFAIL;
		}
		/* a wait longer than a delivery takes is worth a line */
		if (!told && now_monotonic() - start >= LOCK_WAIT_NOTICE) {
			if (what == lk->dotlock)
				report_info("%s is locked by %s: waiting (gives up after %d s; a lock "
				    "whose holder is gone, or %d s old with the mailbox unchanged, is "
				    "removed)", lk->path, what, lk->timeout, lk->stale_age);
			else
				report_info("%s is locked (%s): waiting (gives up after %d s)",
				    lk->path, what, lk->timeout);
			told = true;
		}
		if (lock_stopped(lk->path))
			return EX_TEMPFAIL;
		sleep(1);
		if (lock_stopped(lk->path))
			return EX_TEMPFAIL;
	}
	if (fstat(lk->fd, &lk->st) == -1) {
		report_error_sys(EX_IOERR, "unable to stat %s", lk->path);
		release_held(lk);
		return EX_IOERR;
	}
	return 0;
}

int
mbox_lock_open(struct mbox_lock *lk, const char *path, enum mbox_lock_mode mode,
	const struct mbox_lock_opts *opts)
{
	static const struct mbox_lock_opts defaults = { .timeout = -1 };
	const struct mbox_lock_opts *o = opts ? opts : &defaults;

	memset(lk, 0, sizeof *lk);
	lk->fd = -1;
	lk->mode = mode;
	lk->path = xstrdup(path);
	lk->dotlock = mbox_lock_dotlock_path(path);
	lk->timeout = o->timeout < 0 ? LOCK_TIMEOUT_DEFAULT : o->timeout;
	lk->stale_age = o->stale_age > 0 ? o->stale_age : LOCK_STALE_AGE;
	lk->fcntl_only = o->fcntl_only;
	int status = lock_open_file(lk, o);
	if (status == 0)
		status = lock_acquire(lk);
	if (status != 0)
		mbox_lock_release(lk);
	return status;
}

void
mbox_lock_yield(struct mbox_lock *lk)
{
	if (lk->fd != -1)
		release_held(lk);
}

int
mbox_lock_retake(struct mbox_lock *lk)
{
	if (lk->fd == -1) {
		errno = EBADF;
		return EX_SOFTWARE;
	}
	if (lk->have_fcntl)
		return 0;
	return lock_acquire(lk);
}

int
mbox_lock_touch(struct mbox_lock *lk)
{
	struct stat st;

	if (!lk->have_dotlock)
		return 0;
	time_t now = mono_now();
	if (now - lk->touched < LOCK_TOUCH_INTERVAL)
		return 0;
	if (lstat(lk->dotlock, &st) == -1 || st.st_dev != lk->dotlock_dev ||
	    st.st_ino != lk->dotlock_ino) {
		report_error(EX_TEMPFAIL, "%s: lock %s was removed by another process",
		    lk->path, lk->dotlock);
		return -1;
	}
	if (utimensat(AT_FDCWD, lk->dotlock, NULL, AT_SYMLINK_NOFOLLOW) == -1) {
		report_error_sys(EX_IOERR, "unable to refresh lock %s", lk->dotlock);
		return -1;
	}
	lk->touched = now;
	return 0;
}

void
mbox_lock_release(struct mbox_lock *lk)
{
	if (lk->path != NULL && lk->fd != -1) {
		release_held(lk);
		close(lk->fd);
		lk->fd = -1;
	}
	lk->have_dotlock = lk->have_flock = lk->have_fcntl = false;
	free(lk->path);
	free(lk->dotlock);
	lk->path = lk->dotlock = NULL;
}

/* ---- dovecot-uidlist.lock -------------------------------------------------- */

/* Dovecot's stale rule for dovecot-uidlist.lock: the lock holds
 * "PID:HOST"; it is stale when HOST is this host and PID is not running,
 * or when it has not changed for two minutes. */
#define UIDLIST_LOCK_NAME      "dovecot-uidlist.lock"
#define UIDLIST_LOCK_STALE_AGE 120

static bool
uidlist_lock_stale(int dfd)
{
	char buf[300], host[256];
	struct stat st;
	int fd = openat(dfd, UIDLIST_LOCK_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return false;
	ssize_t n = fstat(fd, &st) == 0 ? read(fd, buf, sizeof buf - 1) : -1;
	close(fd);
	if (n < 0)
		return false;
	if (time(NULL) - st.st_mtime >= UIDLIST_LOCK_STALE_AGE)
		return true;
	buf[n] = '\0';
	char *colon = strchr(buf, ':');
	if (colon == NULL || gethostname(host, sizeof host) == -1)
		return false;
	host[sizeof host - 1] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	long pid = strtol(buf, NULL, 10);
	return pid > 0 && strcmp(colon + 1, host) == 0 &&
	    kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}

void
uidlist_lock_clear_stale(int dirfd, const char *path)
{
	if (uidlist_lock_stale(dirfd) && unlinkat(dirfd, UIDLIST_LOCK_NAME, 0) == 0) {
		report_warn("%s/%s: removed a stale lock", path, UIDLIST_LOCK_NAME);
		lock_warned++;
	}
}

int
uidlist_lock_take(int dirfd, const char *path, int timeout)
{
	double deadline = now_monotonic() + (timeout > 0 ? timeout : 0);
	int fd;

	for (;;) {
		fd = openat(dirfd, UIDLIST_LOCK_NAME,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd != -1)
			break;
		if (errno != EEXIST) {
			report_error_sys(report_status_for_write_errno(errno),
			    "unable to create %s/%s", path, UIDLIST_LOCK_NAME);
			return -1;
		}
		if (uidlist_lock_stale(dirfd)) {
			if (unlinkat(dirfd, UIDLIST_LOCK_NAME, 0) == 0) {
				report_warn("%s/%s: removed a stale lock", path, UIDLIST_LOCK_NAME);
				lock_warned++;
			}
			continue;
		}
		if (now_monotonic() >= deadline) {
			report_error(EX_TEMPFAIL, "%s/%s is held by another process",
			    path, UIDLIST_LOCK_NAME);
			return -1;
		}
		sleep(1);
		if (lock_stopped(path))
			return -1;
	}
	char host[256], b[320];
	if (gethostname(host, sizeof host) == 0) {
		host[sizeof host - 1] = '\0';
		int n = snprintf(b, sizeof b, "%ld:%s", (long)getpid(), host);
		/* one plain write(2), not message data: a lock left empty by
		 * a kill in between goes stale after two minutes */
		if (n > 0 && write(fd, b, (size_t)n) != n) {
			report_warn_sys("%s/%s", path, UIDLIST_LOCK_NAME);
			lock_warned++;
		}
	}
	return fd;
}

void
uidlist_lock_release(int dirfd, int lock_fd)
{
	if (lock_fd == -1)
		return;
	unlinkat(dirfd, UIDLIST_LOCK_NAME, 0);
	close(lock_fd);
}

/* ---- coordination between mailshift runs ------------------------------------ */

int
file_lock_exclusive(int fd, const char *what, int timeout)
{
	double deadline = now_monotonic() + (timeout > 0 ? timeout : 0);
	struct flock fl;

	for (;;) {
		memset(&fl, 0, sizeof fl);
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
			return 0;
		if (errno != EAGAIN && errno != EACCES) {
			report_error_sys(EX_IOERR, "unable to lock %s", what);
			return EX_IOERR;
		}
		if (now_monotonic() >= deadline) {
			report_error(EX_TEMPFAIL, "%s is locked by another mailshift run "
			    "(gave up after %d s)", what, timeout);
			return EX_TEMPFAIL;
		}
		sleep(1);
		if (lock_stopped(what))
			return EX_TEMPFAIL;
	}
}
