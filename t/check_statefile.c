/*
 * check_statefile.c: unit tests for statefile.c: state_file_replace() writes
 * a new file with the mode asked for, replaces an existing one keeping its
 * mode (a new inode, the bytes read back equal), and leaves no temporary
 * file behind when it succeeds or fails (no tmp/, a directory in the way of
 * the rename, a failing write); state_file_clean_leftovers() removes our
 * temporary files of a process that no longer runs and nothing else.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "maildir_writer.h"
#include "statefile.h"
#include "util.h"

static char dir[64];
static int dfd = -1;

static void
setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/check_statefile.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ne(dfd, -1);
	ck_assert_int_eq(mkdirat(dfd, "tmp", 0700), 0);
	umask(022);
}

static void
teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	close(dfd);
}

/* The number of entries of dir/sub, "." and ".." not counted. */
static int
entries(const char *sub)
{
	int fd = openat(dfd, sub, O_RDONLY | O_DIRECTORY);
	DIR *d = fd == -1 ? NULL : fdopendir(fd);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

static void
expect_content(const char *name, const char *want)
{
	char buf[256];
	int fd = openat(dfd, name, O_RDONLY);
	ck_assert_int_ne(fd, -1);
	ssize_t n = read_full(fd, buf, sizeof buf);
	close(fd);
	ck_assert_int_eq(n, (ssize_t)strlen(want));
	ck_assert_mem_eq(buf, want, (size_t)n);
}

static mode_t
mode_of(const char *name)
{
	struct stat st;
	ck_assert_int_eq(fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	return st.st_mode & 07777;
}

START_TEST(test_new_file_mode)
{
	struct state_file_opts o = { .mode = 0640 };
	ck_assert_int_eq(state_file_replace(dfd, "maildirsize", "100S\n0 0\n", 9, &o), 0);
	expect_content("maildirsize", "100S\n0 0\n");
	ck_assert_int_eq(mode_of("maildirsize"), 0640);
	ck_assert_int_eq(entries("tmp"), 0);
	/* an empty file, and no buffer at all */
	ck_assert_int_eq(state_file_replace(dfd, "empty", NULL, 0, &o), 0);
	expect_content("empty", "");
}
END_TEST

START_TEST(test_replace_keeps_mode)
{
	struct stat before, after;
	int fd = openat(dfd, "dovecot-uidlist", O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write_all(fd, "old contents, longer than the new\n", 34), 0);
	ck_assert_int_eq(fchmod(fd, 0604), 0);
	close(fd);
	ck_assert_int_eq(fstatat(dfd, "dovecot-uidlist", &before, 0), 0);

	struct state_file_opts o = { .mode = 0600, .no_sync = true };
	ck_assert_int_eq(state_file_replace(dfd, "dovecot-uidlist", "3 V1 N2\n1 a\n", 12, &o), 0);
	expect_content("dovecot-uidlist", "3 V1 N2\n1 a\n");
	ck_assert_int_eq(mode_of("dovecot-uidlist"), 0604);
	ck_assert_int_eq(fstatat(dfd, "dovecot-uidlist", &after, 0), 0);
	ck_assert_int_eq(after.st_uid, before.st_uid);
	ck_assert(after.st_ino != before.st_ino);       /* replaced, not rewritten */
	ck_assert_int_eq(entries("tmp"), 0);
	ck_assert_int_eq(entries("."), 2);
}
END_TEST

START_TEST(test_no_tmp)
{
	struct state_file_opts o = { .mode = 0600 };
	ck_assert_int_eq(unlinkat(dfd, "tmp", AT_REMOVEDIR), 0);
	errno = 0;
	ck_assert_int_eq(state_file_replace(dfd, "dovecot-keywords", "0 a\n", 4, &o), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(entries("."), 0);
}
END_TEST

START_TEST(test_rename_fails)
{
	struct state_file_opts o = { .mode = 0600 };
	ck_assert_int_eq(mkdirat(dfd, "subscriptions", 0700), 0);
	ck_assert_int_eq(mkdirat(dfd, "subscriptions/x", 0700), 0);
	errno = 0;
	ck_assert_int_eq(state_file_replace(dfd, "subscriptions", "INBOX\n", 6, &o), -1);
	ck_assert(errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST);
	ck_assert_int_eq(entries("tmp"), 0);
	ck_assert_int_eq(entries("subscriptions"), 1);
}
END_TEST

/* The first write fails with ENOSPC (testhook.h), in a child of its own so
 * that the hook sees the variable whether Check forks or not. */
START_TEST(test_write_fails)
{
	pid_t pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct state_file_opts o = { .mode = 0600 };
		setenv("MAILSHIFT_FAIL_WRITE", "1:ENOSPC", 1);
		int rc = state_file_replace(dfd, "maildirsize", "100S\n0 0\n", 9, &o);
		_exit(rc == -1 && errno == ENOSPC ? 0 : 1);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(entries("tmp"), 0);
	ck_assert_int_eq(entries("."), 1);
}
END_TEST

/* A pid that no longer runs: a child's, waited for. */
static long
dead_pid(void)
{
	pid_t pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	return (long)pid;
}

/* sub/tmpl with '@' the pid and '#' the host. */
static void
fill(const char *sub, const char *tmpl, long pid, const char *host, char *out, size_t size)
{
	struct strbuf sb = STRBUF_INIT;
	sb_appendf(&sb, "%s/", sub);
	for (const char *p = tmpl; *p; p++) {
		if (*p == '@')
			sb_appendf(&sb, "%ld", pid);
		else if (*p == '#')
			sb_appendf(&sb, "%s", host);
		else
			sb_appendc(&sb, *p);
	}
	ck_assert_uint_lt(sb.len, size);
	memcpy(out, sb.buf, sb.len + 1);
	sb_free(&sb);
}

static void
touch(const char *sub, const char *tmpl, long pid, const char *host)
{
	char name[512];
	fill(sub, tmpl, pid, host, name, sizeof name);
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_msg(fd != -1, "%s", name);
	close(fd);
}

static bool
exists(const char *sub, const char *tmpl, long pid, const char *host)
{
	char name[512];
	fill(sub, tmpl, pid, host, name, sizeof name);
	return faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

static const char *const ours[] = {
	"1700000000.M123P@.#.mailshift",             /* a message's copy */
	"1700000000.M123P@Q4X0123.#.mailshift",      /* one of maildir_writer's */
	"dovecot-keywords.P@.#.mailshift",           /* a state file's */
	"courierimapuiddb.P@.#.mailshift",
	"1700000000_@.#.uidlist.mailshift",          /* an earlier version's uidlist */
};
static const char *const theirs[] = {
	"1700000000.M123P@.#",                       /* a delivery in progress */
	"1700000000.M123P@.#.mailshiftx",
	"dovecot-keywords.P@.#.other.mailshift",     /* another host's */
	"dovecot-keywords.X@.#.mailshift",           /* no pid */
};

START_TEST(test_clean_leftovers)
{
	char host[256];
	long dead = dead_pid(), live = (long)getppid();
	maildir_hostname(host, sizeof host);

	for (size_t i = 0; i < ARRAY_SIZE(ours); i++) {
		touch("tmp", ours[i], dead, host);
		touch("tmp", ours[i], live, host);
	}
	for (size_t i = 0; i < ARRAY_SIZE(theirs); i++)
		touch("tmp", theirs[i], dead, host);
	int tfd = openat(dfd, "tmp", O_RDONLY | O_DIRECTORY);
	ck_assert_int_ne(tfd, -1);
	state_file_clean_leftovers(tfd, dir);
	state_file_clean_leftovers(tfd, dir);   /* twice on one descriptor */
	close(tfd);
	for (size_t i = 0; i < ARRAY_SIZE(ours); i++) {
		ck_assert_msg(!exists("tmp", ours[i], dead, host), "%s stays", ours[i]);
		ck_assert_msg(exists("tmp", ours[i], live, host), "%s removed", ours[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(theirs); i++)
		ck_assert_msg(exists("tmp", theirs[i], dead, host), "%s removed", theirs[i]);
	ck_assert_int_eq(entries("tmp"), (int)(ARRAY_SIZE(ours) + ARRAY_SIZE(theirs)));
}
END_TEST

/* A leftover of our own pid (an earlier process had it) is taken over. */
START_TEST(test_own_pid_leftover)
{
	char host[256];
	struct state_file_opts o = { .mode = 0600 };
	maildir_hostname(host, sizeof host);
	touch("tmp", "maildirsize.P@.#.mailshift", (long)getpid(), host);
	ck_assert_int_eq(state_file_replace(dfd, "maildirsize", "1C\n0 0\n", 7, &o), 0);
	expect_content("maildirsize", "1C\n0 0\n");
	ck_assert_int_eq(entries("tmp"), 0);
}
END_TEST

/* beside: no tmp/, the temporary file is hidden in the directory, and a
 * crashed run's hidden one goes; a name that is not hidden stays. */
START_TEST(test_beside)
{
	char host[256];
	long dead = dead_pid();
	struct state_file_opts o = { .mode = 0600, .beside = true };
	maildir_hostname(host, sizeof host);
	ck_assert_int_eq(unlinkat(dfd, "tmp", AT_REMOVEDIR), 0);
	touch(".", ".mailboxlist.P@.#.mailshift", dead, host);
	touch(".", "mbox.P@.#.mailshift", dead, host);
	ck_assert_int_eq(state_file_replace(dfd, ".mailboxlist", "INBOX\nwork\n", 11, &o), 0);
	expect_content(".mailboxlist", "INBOX\nwork\n");
	ck_assert(!exists(".", ".mailboxlist.P@.#.mailshift", dead, host));
	ck_assert(exists(".", "mbox.P@.#.mailshift", dead, host));
	ck_assert_int_eq(entries("."), 2);
}
END_TEST

/* state_file_read(): the bytes, absent, a FIFO refused at once (never
 * waited on), the size limit */
START_TEST(test_read)
{
	struct strbuf sb = STRBUF_INIT;
	struct state_file_opts o = { .mode = 0600 };

	ck_assert_int_eq(state_file_read(dfd, "none", &sb, 0), 0);
	ck_assert_int_eq(state_file_replace(dfd, "list", "3 V1 N2\n1 :a\n", 13, &o), 0);
	ck_assert_int_eq(state_file_read(dfd, "list", &sb, 0), 1);
	ck_assert_uint_eq(sb.len, 13);
	ck_assert_str_eq(sb.buf, "3 V1 N2\n1 :a\n");
	ck_assert_int_eq(state_file_read(dfd, "list", &sb, 13), 1);
	errno = 0;
	ck_assert_int_eq(state_file_read(dfd, "list", &sb, 12), -1);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_int_eq(mkfifoat(dfd, "fifo", 0600), 0);
	errno = 0;
	ck_assert_int_eq(state_file_read(dfd, "fifo", &sb, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	/* an empty file is read as "", not as absent */
	ck_assert_int_eq(state_file_replace(dfd, "empty", NULL, 0, &o), 0);
	ck_assert_int_eq(state_file_read(dfd, "empty", &sb, 0), 1);
	ck_assert_uint_eq(sb.len, 0);
	ck_assert_ptr_nonnull(sb.buf);
	sb_free(&sb);
}
END_TEST

static Suite *
statefile_suite(void)
{
	Suite *s = suite_create("statefile");
	TCase *tc = tcase_create("statefile");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_new_file_mode);
	tcase_add_test(tc, test_replace_keeps_mode);
	tcase_add_test(tc, test_no_tmp);
	tcase_add_test(tc, test_rename_fails);
	tcase_add_test(tc, test_write_fails);
	tcase_add_test(tc, test_clean_leftovers);
	tcase_add_test(tc, test_own_pid_leftover);
	tcase_add_test(tc, test_beside);
	tcase_add_test(tc, test_read);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(statefile_suite());

	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
