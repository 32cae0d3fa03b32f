/*
 * check_lock.c: Check suite for lock.c (SPEC §2.11 ▶, §5 O6, F1): the
 * refusals (symlink, hard link, FIFO), contention between processes for
 * each lock method (OFD and classic fcntl, flock, dotlock), timeouts giving
 * EX_TEMPFAIL in about the timeout, interoperation with procmail's
 * lockfile(1) and liblockfile's dotlockfile(1), stale dotlocks, the dotlock
 * refresh, read locks, and an unwritable spool directory.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "lock.h"
#include "report.h"
#include "util.h"

static char dir[64];
static char mbox[128];
static char dotlock[160];

static void
setup(void)
{
	strcpy(dir, "/tmp/check_lock.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(mbox, sizeof mbox, "%s/inbox", dir);
	snprintf(dotlock, sizeof dotlock, "%s/inbox.lock", dir);
	int fd = open(mbox, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, "From a Sat Jan  3 01:05:34 1996\n\nx\n", 35), 35);
	close(fd);
	report_init("test");
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	(void)!system(cmd);
}

static double
now(void)
{
	return now_monotonic();
}

static bool
exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

/* ---- holders in a child process ------------------------------------------ */

enum holder { H_OURS_WRITE, H_OURS_READ, H_OURS_FCNTL_ONLY, H_CLASSIC_FCNTL, H_FLOCK };

/* Fork a child that takes a lock of the given kind, tells us, holds it for
 * `ms` milliseconds and exits. Returns its pid once the lock is held. */
static pid_t
hold(enum holder kind, int ms)
{
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct mbox_lock lk;
		struct mbox_lock_opts o = { .timeout = 0 };
		int fd, rc = 0;
		close(p[0]);
		switch (kind) {
		case H_OURS_WRITE:
			rc = mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o);
			break;
		case H_OURS_FCNTL_ONLY:
			o.fcntl_only = true;
			rc = mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o);
			break;
		case H_OURS_READ:
			rc = mbox_lock_open(&lk, mbox, MBOX_LOCK_READ, &o);
			break;
		case H_CLASSIC_FCNTL: {
			struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
			fd = open(mbox, O_RDWR);
			rc = fcntl(fd, F_SETLK, &fl);
			break;
		}
		case H_FLOCK:
			fd = open(mbox, O_RDWR);
			rc = flock(fd, LOCK_EX | LOCK_NB);
			break;
		}
		(void)!write(p[1], rc == 0 ? "y" : "n", 1);
		usleep((useconds_t)ms * 1000);
		if (kind <= H_OURS_FCNTL_ONLY && rc == 0)
			mbox_lock_release(&lk);
		_exit(0);
	}
	close(p[1]);
	char c = 0;
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	ck_assert_int_eq(c, 'y');
	return pid;
}

static void
reap(pid_t pid)
{
	int st;

	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
}

/* ---- tests ---------------------------------------------------------------- */

START_TEST(test_write_lock_basic)
{
	struct mbox_lock lk;

	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, NULL), 0);
	ck_assert(lk.have_fcntl);
	ck_assert(lk.have_flock);
	ck_assert(lk.have_dotlock);
	ck_assert(exists(dotlock));
	ck_assert_int_eq(lk.st.st_size, 35);
	/* the dotlock holds our pid, as liblockfile's L_PID */
	char buf[32] = "";
	int fd = open(dotlock, O_RDONLY);
	ck_assert_int_gt(read(fd, buf, sizeof buf - 1), 0);
	close(fd);
	ck_assert_int_eq(atol(buf), (long)getpid());
	/* no temporary link names left behind: only inbox and inbox.lock */
	char cmd[200];
	snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 2", dir);
	ck_assert_int_eq(system(cmd), 0);
	mbox_lock_release(&lk);
	ck_assert(!exists(dotlock));
	ck_assert_int_eq(lk.fd, -1);
	mbox_lock_release(&lk);   /* twice is harmless */
}
END_TEST

START_TEST(test_refusals)
{
	struct mbox_lock lk;
	char p[200];

	snprintf(p, sizeof p, "%s/link", dir);
	ck_assert_int_eq(symlink(mbox, p), 0);
	ck_assert_int_eq(mbox_lock_open(&lk, p, MBOX_LOCK_WRITE, NULL), EX_CANTCREAT);
	ck_assert_int_eq(mbox_lock_open(&lk, p, MBOX_LOCK_READ, NULL), EX_NOINPUT);
	ck_assert(!exists(dotlock));

	snprintf(p, sizeof p, "%s/hard", dir);
	ck_assert_int_eq(link(mbox, p), 0);
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, NULL), EX_CANTCREAT);
	unlink(p);

	snprintf(p, sizeof p, "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	double t0 = now();
	ck_assert_int_eq(mbox_lock_open(&lk, p, MBOX_LOCK_WRITE, NULL), EX_CANTCREAT);
	ck_assert_double_lt(now() - t0, 1.0);   /* never blocks opening a FIFO */

	ck_assert_int_eq(mbox_lock_open(&lk, dir, MBOX_LOCK_READ, NULL), EX_NOINPUT);

	snprintf(p, sizeof p, "%s/missing", dir);
	ck_assert_int_eq(mbox_lock_open(&lk, p, MBOX_LOCK_READ, NULL), EX_NOINPUT);
	ck_assert_int_eq(mbox_lock_open(&lk, p, MBOX_LOCK_WRITE, NULL), EX_CANTCREAT);
	ck_assert(!exists(p));
}
END_TEST

START_TEST(test_create)
{
	struct mbox_lock lk;
	struct mbox_lock_opts o = { .timeout = 0, .create = true };
	char p[200];
	struct stat st;

	snprintf(p, sizeof p, "%s/new", dir);
	mode_t old = umask(022);
	ck_assert_int_eq(mbox_lock_open(&lk, p, MBOX_LOCK_WRITE, &o), 0);
	umask(old);
	ck_assert(lk.created);
	ck_assert_int_eq(fstat(lk.fd, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(st.st_size, 0);
	mbox_lock_release(&lk);
	/* existing: not "created" */
	ck_assert_int_eq(mbox_lock_open(&lk, p, MBOX_LOCK_WRITE, &o), 0);
	ck_assert(!lk.created);
	mbox_lock_release(&lk);
}
END_TEST

START_TEST(test_contention_timeout)
{
	struct mbox_lock lk;
	struct mbox_lock_opts o = { .timeout = 0 };

	pid_t pid = hold(H_OURS_WRITE, 2500);
	double t0 = now();
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o), EX_TEMPFAIL);
	ck_assert_double_lt(now() - t0, 0.5);            /* timeout 0: one try */
	ck_assert_int_eq(lk.fd, -1);
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_READ, &o), EX_TEMPFAIL);
	o.timeout = 1;
	t0 = now();
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o), EX_TEMPFAIL);
	double dt = now() - t0;
	ck_assert_double_ge(dt, 0.9);
	ck_assert_double_lt(dt, 2.2);
	/* the holder's dotlock is still there: we released only our own */
	ck_assert(exists(dotlock));
	/* waiting long enough gets the lock once the holder lets go */
	o.timeout = 5;
	t0 = now();
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o), 0);
	ck_assert_double_lt(now() - t0, 3.0);
	mbox_lock_release(&lk);
	reap(pid);
}
END_TEST

/* Each method alone makes us wait: the other program may use only one. */
START_TEST(test_each_method_conflicts)
{
	static const enum holder kinds[] = { H_OURS_FCNTL_ONLY, H_CLASSIC_FCNTL, H_FLOCK };
	struct mbox_lock lk;
	struct mbox_lock_opts o = { .timeout = 0 };

	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		pid_t pid = hold(kinds[i], 300);
		ck_assert_msg(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o) == EX_TEMPFAIL,
		    "holder kind %zu did not block us", i);
		ck_assert(!exists(dotlock));   /* released what we took */
		reap(pid);
		ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o), 0);
		mbox_lock_release(&lk);
	}
	/* a bare dotlock file (any program's) */
	int fd = open(dotlock, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ne(fd, -1);
	close(fd);
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o), EX_TEMPFAIL);
	ck_assert(exists(dotlock));    /* fresh: never broken */
	/* the read lock ignores dotlocks */
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_READ, &o), 0);
	mbox_lock_release(&lk);
	/* fcntl_only ignores it too */
	o.fcntl_only = true;
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o), 0);
	ck_assert(!lk.have_flock);
	ck_assert(!lk.have_dotlock);
	mbox_lock_release(&lk);
	ck_assert(exists(dotlock));
}
END_TEST

START_TEST(test_read_locks)
{
	struct mbox_lock lk;
	struct mbox_lock_opts o = { .timeout = 0 };

	pid_t pid = hold(H_OURS_READ, 400);
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_READ, &o), 0);
	ck_assert(lk.have_fcntl);
	ck_assert(!lk.have_flock);
	ck_assert(!lk.have_dotlock);
	ck_assert(!exists(dotlock));
	mbox_lock_release(&lk);
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o), EX_TEMPFAIL);
	reap(pid);
}
END_TEST

static bool
have_prog(const char *name)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

/* Run "PROG ARGS 'file' 2>/dev/null" and return its exit status. */
static int
run(const char *prog_args, const char *file)
{
	char cmd[512];

	snprintf(cmd, sizeof cmd, "%s '%s' 2>/dev/null", prog_args, file);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

START_TEST(test_interop_procmail_lockfile)
{
	struct mbox_lock lk;
	struct mbox_lock_opts o = { .timeout = 0 };

	if (!have_prog("lockfile")) {
		fprintf(stderr, "check_lock: SKIP interop with lockfile(1): not installed (procmail)\n");
		return;
	}
	/* lockfile holds <mbox>.lock: we must wait */
	ck_assert_int_eq(run("lockfile -r0", dotlock), 0);
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o), EX_TEMPFAIL);
	ck_assert(exists(dotlock));
	unlink(dotlock);                /* lockfile's way of releasing */
	/* we hold it: lockfile must fail */
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o), 0);
	ck_assert_int_ne(run("lockfile -r0", dotlock), 0);
	mbox_lock_release(&lk);
	ck_assert_int_eq(run("lockfile -r0", dotlock), 0);
	unlink(dotlock);
}
END_TEST

START_TEST(test_interop_dotlockfile)
{
	struct mbox_lock lk;
	struct mbox_lock_opts o = { .timeout = 0 };

	if (!have_prog("dotlockfile")) {
		fprintf(stderr, "check_lock: SKIP interop with dotlockfile(1): not installed (liblockfile-bin)\n");
		return;
	}
	ck_assert_int_eq(run("dotlockfile -r 0 -l", dotlock), 0);
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o), EX_TEMPFAIL);
	ck_assert_int_eq(run("dotlockfile -u", dotlock), 0);
	ck_assert(!exists(dotlock));
	/* our lock holds a live pid: dotlockfile must consider it valid */
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o), 0);
	ck_assert_int_ne(run("dotlockfile -r 0 -l", dotlock), 0);
	ck_assert(exists(dotlock));
	mbox_lock_release(&lk);
	ck_assert(!exists(dotlock));
}
END_TEST

static void
age_file(const char *p, time_t secs)
{
	struct timespec ts[2];

	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= secs;
	ts[1] = ts[0];
	ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

START_TEST(test_stale_dotlock_broken)
{
	struct mbox_lock lk;
	struct mbox_lock_opts o = { .timeout = 3 };
	struct stat st;

	int fd = open(dotlock, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ne(fd, -1);
	close(fd);
	age_file(dotlock, 600);
	double t0 = now();
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o), 0);
	ck_assert_double_lt(now() - t0, 2.5);
	ck_assert(lk.have_dotlock);
	ck_assert_int_eq(stat(dotlock, &st), 0);
	ck_assert(st.st_ino == lk.dotlock_ino);
	ck_assert(time(NULL) - st.st_mtime < 5);   /* ours, new */
	mbox_lock_release(&lk);
	ck_assert(!exists(dotlock));
}
END_TEST

/* A fresh dotlock naming a process that no longer exists (a crashed
 * holder) is removed at once, even with a zero timeout; one naming a live
 * process, or holding no pid, is respected. */
START_TEST(test_dead_holder_dotlock)
{
	struct mbox_lock lk;
	struct mbox_lock_opts o = { .timeout = 0 };
	const char *contents[] = { "4194305\n", "", "1\n" };   /* dead (> pid_max), none, init */
	const int want[] = { 0, 75, 75 };

	for (size_t i = 0; i < 3; i++) {
		int fd = open(dotlock, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		ck_assert_int_ne(fd, -1);
		ck_assert_int_eq(write(fd, contents[i], strlen(contents[i])), (ssize_t)strlen(contents[i]));
		close(fd);
		ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o), want[i]);
		if (want[i] == 0) {
			ck_assert(lk.have_dotlock);
			mbox_lock_release(&lk);
			ck_assert(!exists(dotlock));
		} else {
			ck_assert(exists(dotlock));
		}
	}
	unlink(dotlock);
}
END_TEST

/* An old dotlock is not broken while the mailbox keeps changing. */
START_TEST(test_stale_dotlock_kept_while_mailbox_changes)
{
	struct mbox_lock lk;
	struct mbox_lock_opts o = { .timeout = 2 };

	int fd = open(dotlock, O_WRONLY | O_CREAT | O_EXCL, 0644);
	close(fd);
	age_file(dotlock, 600);
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 16; i++) {
			int m = open(mbox, O_WRONLY | O_APPEND);
			(void)!write(m, "x\n", 2);
			close(m);
			usleep(200 * 1000);
		}
		_exit(0);
	}
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o), EX_TEMPFAIL);
	ck_assert(exists(dotlock));
	kill(pid, SIGKILL);
	reap(pid);
	/* a stale age in the future of the lock: kept too */
	o.stale_age = 3600;
	o.timeout = 1;
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o), EX_TEMPFAIL);
	ck_assert(exists(dotlock));
}
END_TEST

START_TEST(test_touch)
{
	struct mbox_lock lk;
	struct stat st;

	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, NULL), 0);
	age_file(dotlock, 200);
	/* rate limited: just taken, so nothing happens */
	ck_assert_int_eq(mbox_lock_touch(&lk), 0);
	ck_assert_int_eq(stat(dotlock, &st), 0);
	ck_assert_int_ge(time(NULL) - st.st_mtime, 199);
	/* a minute later it refreshes */
	lk.touched -= LOCK_TOUCH_INTERVAL;
	ck_assert_int_eq(mbox_lock_touch(&lk), 0);
	ck_assert_int_eq(stat(dotlock, &st), 0);
	ck_assert_int_lt(time(NULL) - st.st_mtime, 3);
	/* someone removed our lock: the caller must stop */
	unlink(dotlock);
	lk.touched -= LOCK_TOUCH_INTERVAL;
	ck_assert_int_eq(mbox_lock_touch(&lk), -1);
	mbox_lock_release(&lk);
}
END_TEST

/* 2775 root:mail spool seen by a user: no dotlock possible (SPEC O6). */
START_TEST(test_unwritable_spool)
{
	if (geteuid() != 0) {
		fprintf(stderr, "check_lock: SKIP unwritable spool: needs root to switch users\n");
		return;
	}
	ck_assert_int_eq(chmod(dir, 0755), 0);
	ck_assert_int_eq(chmod(mbox, 0666), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct mbox_lock lk;
		struct mbox_lock_opts o = { .timeout = 0 };
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(10);
		if (mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o) != EX_CANTCREAT)
			_exit(11);
		o.fcntl_only = true;
		if (mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o) != 0)
			_exit(12);
		mbox_lock_release(&lk);
		_exit(0);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	ck_assert(!exists(dotlock));
}
END_TEST

/* F1: closing another descriptor for the file keeps our OFD lock. */
START_TEST(test_ofd_survives_other_close)
{
	struct mbox_lock lk;
	struct mbox_lock_opts o = { .timeout = 0, .fcntl_only = true };

	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &o), 0);
	int other = open(mbox, O_RDONLY);
	close(other);
	pid_t pid = fork();
	if (pid == 0) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int fd = open(mbox, O_RDWR);
		_exit(fcntl(fd, F_SETLK, &fl) == -1 ? 0 : 1);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	mbox_lock_release(&lk);
}
END_TEST

/*
 * The shared lock of a reader that keeps writers out: every writer's
 * method excludes it (and it them), two readers share all but the
 * dotlock, and yield / retake let a writer in between two reads.
 */
START_TEST(test_shared_lock)
{
	static const enum holder writers[] = { H_OURS_FCNTL_ONLY, H_CLASSIC_FCNTL, H_FLOCK };
	struct mbox_lock lk, lk2;
	struct mbox_lock_opts o = { .timeout = 0 };

	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_SHARED, &o), 0);
	ck_assert(lk.have_fcntl && lk.have_flock && lk.have_dotlock);
	ck_assert(!lk.no_dotlock);
	ck_assert(exists(dotlock));
	/* a writer is kept out by each of our locks */
	ck_assert_int_eq(mbox_lock_open(&lk2, mbox, MBOX_LOCK_WRITE, &o), EX_TEMPFAIL);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(mbox, O_RDWR);
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		_exit(flock(fd, LOCK_EX | LOCK_NB) == -1 && fcntl(fd, F_SETLK, &fl) == -1 ? 0 : 1);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	/* yield: no lock left, the dotlock gone, a writer gets in */
	mbox_lock_yield(&lk);
	ck_assert(!mbox_lock_held(&lk));
	ck_assert(!exists(dotlock));
	ck_assert_int_ne(lk.fd, -1);
	ck_assert_int_eq(mbox_lock_open(&lk2, mbox, MBOX_LOCK_WRITE, &o), 0);
	/* retake waits for the writer: busy at the timeout */
	ck_assert_int_eq(mbox_lock_retake(&lk), EX_TEMPFAIL);
	ck_assert(!mbox_lock_held(&lk));
	mbox_lock_release(&lk2);
	ck_assert_int_eq(mbox_lock_retake(&lk), 0);
	ck_assert(mbox_lock_held(&lk) && exists(dotlock));
	ck_assert_int_eq(mbox_lock_retake(&lk), 0);     /* held: nothing to do */
	mbox_lock_release(&lk);
	ck_assert(!exists(dotlock));
	/* each writer's method alone keeps the reader out */
	for (size_t i = 0; i < ARRAY_SIZE(writers); i++) {
		pid = hold(writers[i], 300);
		ck_assert_msg(mbox_lock_open(&lk, mbox, MBOX_LOCK_SHARED, &o) == EX_TEMPFAIL,
		    "writer kind %zu did not keep the reader out", i);
		ck_assert(!exists(dotlock));
		reap(pid);
	}
	/* another reader: fcntl and flock are shared, the dotlock is not */
	pid = hold(H_OURS_READ, 300);
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_SHARED, &o), 0);
	mbox_lock_release(&lk);
	reap(pid);
	/* the retake waits, once a second, for a writer that finishes */
	pid = hold(H_FLOCK, 500);
	ck_assert_int_eq(mbox_lock_open(&lk2, mbox, MBOX_LOCK_SHARED, &(struct mbox_lock_opts){ .timeout = 5 }), 0);
	ck_assert(mbox_lock_held(&lk2));
	mbox_lock_release(&lk2);
	reap(pid);
}
END_TEST

/* A reader in a spool it may not write into: no dotlock, and it says so. */
START_TEST(test_shared_unwritable_spool)
{
	if (geteuid() != 0) {
		fprintf(stderr, "check_lock: SKIP shared lock in an unwritable spool: needs root\n");
		return;
	}
	ck_assert_int_eq(chmod(dir, 0755), 0);
	ck_assert_int_eq(chmod(mbox, 0644), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct mbox_lock lk;
		struct mbox_lock_opts o = { .timeout = 0 };
		opt_common.quiet = 1;
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(10);
		if (mbox_lock_open(&lk, mbox, MBOX_LOCK_SHARED, &o) != 0)
			_exit(11);
		if (!lk.no_dotlock || lk.have_dotlock || !lk.have_fcntl || !lk.have_flock)
			_exit(12);
		mbox_lock_yield(&lk);
		if (mbox_lock_retake(&lk) != 0 || !lk.no_dotlock)
			_exit(13);
		mbox_lock_release(&lk);
		_exit(0);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
}
END_TEST

/* dovecot-uidlist.lock: PID:HOST, a dead holder's lock is broken, a live
 * one waited for; the lock between runs (file_lock_exclusive). */
START_TEST(test_uidlist_and_run_locks)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	char host[256], want[300], got[300] = "";
	char *lock = xasprintf("%s/dovecot-uidlist.lock", dir);

	opt_common.quiet = 1;
	int lfd = uidlist_lock_take(dfd, dir, 0);
	ck_assert_int_ne(lfd, -1);
	ck_assert_int_eq(gethostname(host, sizeof host), 0);
	snprintf(want, sizeof want, "%ld:%s", (long)getpid(), host);
	int fd = open(lock, O_RDONLY);
	ck_assert_int_gt(read(fd, got, sizeof got - 1), 0);
	close(fd);
	ck_assert_str_eq(got, want);
	/* held by a live process (us): a second taker gives up */
	double t0 = now();
	ck_assert_int_eq(uidlist_lock_take(dfd, dir, 1), -1);
	ck_assert_double_ge(now() - t0, 0.9);
	uidlist_lock_release(dfd, lfd);
	ck_assert(!exists(lock));
	/* a lock of a process that is gone is stale */
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	reap(pid);
	fd = open(lock, O_WRONLY | O_CREAT | O_EXCL, 0600);
	snprintf(want, sizeof want, "%ld:%s", (long)pid, host);
	ck_assert_int_eq(write(fd, want, strlen(want)), (ssize_t)strlen(want));
	close(fd);
	lfd = uidlist_lock_take(dfd, dir, 0);
	ck_assert_int_ne(lfd, -1);
	uidlist_lock_release(dfd, lfd);
	/* between runs: a second run waits, then gives up with 75 */
	fd = open(mbox, O_RDWR);
	ck_assert_int_eq(file_lock_exclusive(fd, mbox, 0), 0);
	pid = fork();
	if (pid == 0) {
		int f2 = open(mbox, O_RDWR);
		_exit(file_lock_exclusive(f2, mbox, 1) == EX_TEMPFAIL ? 0 : 1);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	close(fd);      /* released with the descriptor */
	pid = fork();
	if (pid == 0) {
		int f2 = open(mbox, O_RDWR);
		_exit(file_lock_exclusive(f2, mbox, 0) == 0 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	close(dfd);
	free(lock);
}
END_TEST

static Suite *
lock_suite(void)
{
	Suite *s = suite_create("lock");
	TCase *tc = tcase_create("lock");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_write_lock_basic);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_create);
	tcase_add_test(tc, test_contention_timeout);
	tcase_add_test(tc, test_each_method_conflicts);
	tcase_add_test(tc, test_read_locks);
	tcase_add_test(tc, test_interop_procmail_lockfile);
	tcase_add_test(tc, test_interop_dotlockfile);
	tcase_add_test(tc, test_stale_dotlock_broken);
	tcase_add_test(tc, test_dead_holder_dotlock);
	tcase_add_test(tc, test_stale_dotlock_kept_while_mailbox_changes);
	tcase_add_test(tc, test_touch);
	tcase_add_test(tc, test_unwritable_spool);
	tcase_add_test(tc, test_ofd_survives_other_close);
	tcase_add_test(tc, test_shared_lock);
	tcase_add_test(tc, test_shared_unwritable_spool);
	tcase_add_test(tc, test_uidlist_and_run_locks);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(lock_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
