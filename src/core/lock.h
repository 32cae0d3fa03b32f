/*
 * lock.h: mailbox locking (SPEC §2.11 ▶, §5 O6, F1; DESIGN §1.6).
 *
 * Write lock, in Debian Policy order, every step non-blocking:
 *   1. open the mailbox with O_NOFOLLOW (as root: lstat first, refuse
 *      symlinks, hard-linked (st_nlink > 1) and non-regular files, compare
 *      device and inode after the open);
 *   2. an fcntl write lock on the whole file: an OFD lock (F_OFD_SETLK) so
 *      that closing some other descriptor for the file cannot drop it (F1);
 *   3. flock(LOCK_EX|LOCK_NB), skipped on NFS (which emulates flock with
 *      fcntl locks, so it would conflict with step 2);
 *   4. the dotlock "<mbox>.lock" by the link() method (unique temporary name
 *      in the same directory, link(), success iff the temporary file's link
 *      count is 2; NFS safe).
 * If any step finds the lock busy, everything taken is released, the
 * process sleeps one second and starts again, until the timeout; then the
 * call fails with EX_TEMPFAIL (75) naming the lock that was busy. A dotlock
 * is broken only when it is older than 5 minutes and the mailbox's size and
 * mtime did not change while we waited (and a warning says so).
 *
 * Read lock (check, stats): only an OFD fcntl read lock.
 *
 * Shared lock (convert reading a source it does not change): the locks a
 * writer takes, each in its shared kind where it has one: an OFD fcntl
 * read lock, flock(LOCK_SH) and the dotlock, in the same order and with
 * the same retries. Any writer (procmail, Postfix, qmail-local, UW, mutt,
 * Dovecot, lockfile(1), dotlockfile(1)) is then kept out, while two
 * readers share all but the dotlock. The reader takes it around each read
 * only (mbox_lock_yield() and mbox_lock_retake() between reads), so a
 * delivery waits at most for one read. When the spool directory does not
 * let us create the dotlock (EACCES, EROFS, EPERM: /var/mail is often 1775
 * root:mail), the dotlock is left out and lk->no_dotlock says so: a writer
 * that locks with the dotlock alone is then not kept out, and the reader
 * does not trust a last message that may still be growing (mbox_reader.h).
 *
 * The lock owns the only descriptor this process has for the mailbox: the
 * locked path is never opened a second time (readers and writers use
 * mbox_lock_fd()). Release undoes the steps in reverse order.
 */
#ifndef MAILSHIFT_LOCK_H
#define MAILSHIFT_LOCK_H

#include <stdbool.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/types.h>
#include <time.h>

#define LOCK_TIMEOUT_DEFAULT 300     /* seconds (Dovecot's mbox_lock_timeout) */
#define LOCK_STALE_AGE       300     /* a dotlock older than this may be stale */
#define LOCK_WAIT_NOTICE     10      /* seconds of waiting before saying so */
#define LOCK_TOUCH_INTERVAL  60      /* refresh the dotlock's mtime this often */

enum mbox_lock_mode { MBOX_LOCK_READ, MBOX_LOCK_WRITE, MBOX_LOCK_SHARED };

struct mbox_lock_opts {
	int timeout;            /* seconds to keep trying; 0 = one try;
	                         * < 0 = LOCK_TIMEOUT_DEFAULT */
	bool fcntl_only;        /* write lock without flock and dotlock
	                         * (explicit user request, SPEC O6) */
	bool create;            /* write mode: create the mailbox when missing
	                         * (O_EXCL, mode 0600 & ~umask) */
	mode_t create_mode;     /* 0 = 0600 */
	int stale_age;          /* seconds; 0 = LOCK_STALE_AGE (tests use less) */
};

struct mbox_lock {
	char *path;             /* the mailbox path */
	char *dotlock;          /* "<path>.lock" */
	int fd;                 /* the mailbox, open O_RDWR (write) or O_RDONLY */
	enum mbox_lock_mode mode;
	bool created;           /* we created the (empty) mailbox */
	bool nfs;               /* on NFS: no flock() */
	bool have_fcntl, have_flock, have_dotlock;
	bool no_dotlock;        /* shared mode: the dotlock cannot be created */
	bool fcntl_only;        /* from the options */
	int timeout;            /* seconds, resolved from the options */
	int stale_age;
	time_t touched;         /* last dotlock refresh (monotonic seconds) */
	dev_t dotlock_dev;      /* our dotlock file, to check it is still ours */
	ino_t dotlock_ino;
	struct stat st;         /* fstat right after the lock was taken */
};

/*
 * Open `path` and lock it. Returns 0, or reports one line (naming the
 * mailbox or the lock) and returns the DESIGN §4 status:
 *   75 EX_TEMPFAIL   still locked by someone else when the timeout expired
 *   66 EX_NOINPUT    read mode: missing or unreadable mailbox
 *   73 EX_CANTCREAT  write mode: cannot open/create it, refused file type
 *                    (symlink, hard link, not a regular file), or the
 *                    directory is not writable for the dotlock (EACCES,
 *                    EROFS) and fcntl_only was not given
 * `opts` may be NULL for the defaults. On failure *lk holds nothing.
 */
int mbox_lock_open(struct mbox_lock *lk, const char *path, enum mbox_lock_mode mode,
	const struct mbox_lock_opts *opts);

/* The locked mailbox's descriptor (valid until mbox_lock_release). */
static inline int mbox_lock_fd(const struct mbox_lock *lk) { return lk->fd; }

/*
 * Refresh the dotlock's mtime so that other programs do not consider it
 * stale (liblockfile's lockfile_touch). Cheap to call between messages:
 * it does nothing unless LOCK_TOUCH_INTERVAL seconds have passed since the
 * last refresh. Returns 0, or -1 when the dotlock vanished or is no longer
 * ours (reported; the caller should stop changing the mailbox).
 */
int mbox_lock_touch(struct mbox_lock *lk);

/* Release the locks in reverse order (dotlock, flock, fcntl) and close the
 * descriptor. Safe on a zeroed or already released lock. */
void mbox_lock_release(struct mbox_lock *lk);

/*
 * Let go of the locks but keep the descriptor (and the file's identity),
 * so that a writer waiting for them gets in; mbox_lock_retake() takes
 * them again with the same rounds and timeout as mbox_lock_open(). 0, or
 * the reported status (75 when still busy at the timeout). The caller
 * must check that the file is still what it was (mbox_reader.c does).
 */
void mbox_lock_yield(struct mbox_lock *lk);
int mbox_lock_retake(struct mbox_lock *lk);
/* Whether the locks are held now. */
static inline bool mbox_lock_held(const struct mbox_lock *lk)
{
	return lk->have_fcntl;
}

/*
 * dovecot-uidlist.lock of a maildir (SPEC §1.10 ▶): created with O_EXCL,
 * holding "PID:HOST" as Dovecot writes it, retried each second up to
 * `timeout` seconds. A lock whose process no longer runs on this host, or
 * that has not changed for two minutes, is stale and removed (Dovecot's
 * rule), so a crashed run never blocks its rerun. Returns the lock's fd,
 * or -1 after reporting (75 when still held at the timeout).
 */
int uidlist_lock_take(int dirfd, const char *path, int timeout);
/* A stale dovecot-uidlist.lock (its process gone, or older than Dovecot's
 * limit) is removed, and said: one a killed run left behind, which a rerun
 * that needs no lock would otherwise leave for Dovecot to wait on. */
void uidlist_lock_clear_stale(int dirfd, const char *path);
void uidlist_lock_release(int dirfd, int lock_fd);

/*
 * An OFD fcntl write lock on an open file, for coordinating mailshift
 * runs (the delivery record of a Maildir, mailshift-formats(5)): tried
 * once a second up to `timeout` seconds. `what` names the file in the
 * message. 0, or the reported status (75 when still held at the timeout,
 * 74 on another error). Dropped by close() and by the process's exit.
 */
int file_lock_exclusive(int fd, const char *what, int timeout);

/* A wait for any of these locks ends (EX_TEMPFAIL, reported) once *flag
 * is non-zero: the command's handler for SIGINT, SIGTERM and SIGHUP sets it. */
void lock_stop_on(volatile sig_atomic_t *flag);

/* The warnings the locks said (a stale or dead lock removed, a dotlock that
 * could not be made...) since the last call, for a summary's count. */
unsigned lock_warnings_take(void);

/* "<path>.lock" (malloced). */
char *mbox_lock_dotlock_path(const char *path);

#endif
