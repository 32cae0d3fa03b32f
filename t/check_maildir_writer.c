/*
 * check_maildir_writer.c: the delivery protocol (SPEC §1.2, §1.3, §1.7,
 * §1.10; DESIGN §6): names, S=/W=, info, cur/ vs new/, mtime, batching
 * (nothing visible before the flush), no clobbering, the keywords file,
 * failures leaving nothing behind, and the cleanup of our own leftovers.
 * The tests that loop run twice: with the writer thread (_i == 0) and
 * with the caller's thread only (_i == 1, MAILSHIFT_TEST_WRITER=sync).
 */
#include "config.h"

#include <check.h>
#include <sys/uio.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flags.h"
#include "maildir_writer.h"
#include "report.h"
#include "util.h"

static char tmpdir[] = "/tmp/check_maildir_writer.XXXXXX";

static size_t
count_dir(const char *md, const char *sub, char *last, size_t lastlen)
{
	char *p = xasprintf("%s/%s", md, sub);
	DIR *d = opendir(p);
	struct dirent *de;
	size_t n = 0;

	free(p);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		if (last)
			snprintf(last, lastlen, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

static char *
new_maildir(const char *tag)
{
	return xasprintf("%s/%s", tmpdir, tag);
}

static int published;
static void
on_pub(void *ctx, uint64_t cookie, const char *subdir, const char *name)
{
	(void)ctx;
	(void)subdir;
	(void)name;
	published += (int)cookie;
}

static int
deliver(struct maildir_writer *w, const char *text, uint32_t flags, uint32_t kw, bool cur,
    time_t mtime, const char *key)
{
	struct maildir_msginfo mi = { .flags = flags, .keywords = kw, .cur = cur, .mtime = mtime,
		.key = key, .cookie = 1 };
	if (maildir_writer_begin(w) == -1)
		return -1;
	if (maildir_writer_write(w, text, strlen(text)) == -1)
		return -1;
	return maildir_writer_end(w, &mi);
}

/* Loop tests: the writer thread, then the caller's thread alone. */
static void
writer_mode(int i)
{
	if (i == 1)
		setenv("MAILSHIFT_TEST_WRITER", "sync", 1);
	else
		unsetenv("MAILSHIFT_TEST_WRITER");
}

START_TEST(test_creates_and_names)
{
	writer_mode(_i);
	char *md = new_maildir(_i ? "a1" : "a0");
	struct maildir_writer_opts o = { .create = true, .sync = SYNC_BATCH, .published = on_pub };
	struct maildir_writer *w = maildir_writer_open(md, &o);
	ck_assert_ptr_nonnull(w);
	struct stat st;
	char *p = xasprintf("%s/tmp", md);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	free(p);

	published = 0;
	ck_assert_int_eq(deliver(w, "Subject: x\n\nbody\n", 0, 0, false, 1000000000, NULL), 0);
	/* batched: not visible before the flush (in tmp/ already, or soon:
	 * the writer thread's) */
	ck_assert_uint_eq(count_dir(md, "new", NULL, 0), 0);
	if (_i == 1)
		ck_assert_uint_eq(count_dir(md, "tmp", NULL, 0), 1);
	else
		ck_assert_uint_le(count_dir(md, "tmp", NULL, 0), 1);
	ck_assert_int_eq(maildir_writer_flush(w), 0);
	ck_assert_int_eq(published, 1);
	char name[512];
	ck_assert_uint_eq(count_dir(md, "new", name, sizeof name), 1);
	ck_assert_uint_eq(count_dir(md, "tmp", NULL, 0), 0);
	/* SECS.M<usec>P<pid>Q1.<host>,S=17,W=20 and no info in new/ */
	ck_assert_ptr_nonnull(strstr(name, ",S=17,W=20"));
	ck_assert_ptr_null(strchr(name, ':'));
	char *want = xasprintf("P%ldQ1.", (long)getpid());
	ck_assert_ptr_nonnull(strstr(name, want));
	free(want);
	p = xasprintf("%s/new/%s", md, name);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_mtime, 1000000000);
	ck_assert_int_eq(st.st_size, 17);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	free(p);

	/* flags -> cur/ with sorted info; old without flags -> cur/ ":2," */
	ck_assert_int_eq(deliver(w, "a\r\n", MF_SEEN | MF_REPLIED | MF_FLAGGED, 1u | 4u, false, 5, "k1"), 0);
	ck_assert_int_eq(deliver(w, "b\n", 0, 0, true, 5, NULL), 0);
	ck_assert_int_eq(maildir_writer_close(w), 0);
	ck_assert_uint_eq(count_dir(md, "cur", NULL, 0), 2);
	DIR *d = opendir(p = xasprintf("%s/cur", md));
	struct dirent *de;
	int seen = 0;
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, "Xk1.") && strstr(de->d_name, ",S=3,W=3:2,FRSac"))
			seen |= 1;
		if (strstr(de->d_name, ",S=2,W=3:2,") && de->d_name[strlen(de->d_name) - 1] == ',')
			seen |= 2;
	}
	closedir(d);
	free(p);
	ck_assert_int_eq(seen, 3);
	free(md);
}
END_TEST

START_TEST(test_names_increase)
{
	char *md = new_maildir("b");
	struct maildir_writer_opts o = { .create = true, .sync = SYNC_NONE, .batch_messages = 5000 };
	struct maildir_writer *w = maildir_writer_open(md, &o);
	for (int i = 0; i < 2000; i++)
		ck_assert_int_eq(deliver(w, "x\n", 0, 0, false, 0, NULL), 0);
	ck_assert_int_eq(maildir_writer_close(w), 0);
	ck_assert_uint_eq(count_dir(md, "new", NULL, 0), 2000);
	free(md);
}
END_TEST

/* A failing write leaves nothing in tmp/, new/ or cur/. */
START_TEST(test_write_failure_cleans_up)
{
	char *md = new_maildir("c");
	struct maildir_writer_opts o = { .create = true };
	/* each test runs in its own process: the hook reads this on the first
	 * write, and fails the second write(2) or writev(2) */
	setenv("MAILSHIFT_FAIL_WRITE", "2:ENOSPC", 1);
	opt_common.quiet = 1;
	struct maildir_writer *w = maildir_writer_open(md, &o);
	ck_assert_int_eq(maildir_writer_begin(w), 0);
	/* small pieces are gathered: no system call yet */
	ck_assert_int_eq(maildir_writer_write(w, "ok\n", 3), 0);
	ck_assert_uint_eq(count_dir(md, "tmp", NULL, 0), 1);
	struct iovec iov = { .iov_base = (void *)"body\n", .iov_len = 5 };
	/* the header and the body go out in one writev(2), the first */
	ck_assert_int_eq(maildir_writer_writev(w, &iov, 1), 0);
	ck_assert_int_eq(maildir_writer_write(w, "more\n", 5), 0);
	struct maildir_msginfo mi = { .mtime = 1 };
	/* the second one, at the end of the message, fails */
	ck_assert_int_eq(maildir_writer_end(w, &mi), -1);
	ck_assert_int_eq(errno, ENOSPC);
	ck_assert_int_eq(report_exit_status(), 74);
	/* the tmp file is gone, nothing was published */
	ck_assert_uint_eq(count_dir(md, "tmp", NULL, 0), 0);
	ck_assert_int_eq(maildir_writer_close(w), 0);
	ck_assert_uint_eq(count_dir(md, "new", NULL, 0) + count_dir(md, "cur", NULL, 0), 0);
	unsetenv("MAILSHIFT_FAIL_WRITE");
	free(md);
}
END_TEST


/* The bytes of message i of test_many: a header naming it, then a
 * pattern; most are small, every 97th larger than the ring's share
 * (written by the caller's thread), and a few empty. */
static size_t
many_size(unsigned i)
{
	if (i % 97 == 13)
		return 300000 + (i * 7919u) % 400000;
	if (i % 101 == 7)
		return 0;
	return (i * 2654435761u) % 40000;
}

static void
many_fill(char *buf, unsigned i, size_t n)
{
	int h = snprintf(buf, n + 1, "X-N: %u\n\n", i);
	for (size_t k = (size_t)h < n ? (size_t)h : n; k < n; k++)
		buf[k] = (k % 61 == 60) ? '\n' : (char)('a' + (i + k) % 26);
	if (n > 0 && (size_t)h >= n)
		memcpy(buf, "xxxxxxxxxxxxxxxx", n < 16 ? n : 16);
}

static long many_last;
static bool many_order_ok = true;
static char *many_md;
static void
many_pub(void *ctx, uint64_t cookie, const char *subdir, const char *name)
{
	(void)ctx;
	if ((long)cookie <= many_last)
		many_order_ok = false;
	many_last = (long)cookie;
	/* delivered: here, whole, with its date */
	unsigned i = (unsigned)cookie;
	size_t n = many_size(i);
	char *want = xmalloc(n + 1), *p = xasprintf("%s/%s/%s", many_md, subdir, name);
	many_fill(want, i, n);
	int fd = open(p, O_RDONLY);
	ck_assert_int_ne(fd, -1);
	char *got = xmalloc(n + 1);
	ck_assert_int_eq(read(fd, got, n + 1), (ssize_t)n);
	close(fd);
	ck_assert(memcmp(got, want, n) == 0);
	struct stat st;
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_mtime, 1000000 + (time_t)i);
	char *sz = xasprintf(",S=%zu,", n);
	ck_assert_ptr_nonnull(strstr(name, sz));
	free(sz);
	free(got);
	free(want);
	free(p);
}

/* Thousands of messages of every size through both writers, in pieces
 * that wrap around the ring, with some taken back half-written: each one
 * delivered whole, in order, nothing left in tmp/. */
START_TEST(test_many)
{
	writer_mode(_i / 2);
	char *md = many_md = new_maildir(_i == 0 ? "m0" : _i == 1 ? "m1" : _i == 2 ? "m2" : "m3");
	struct maildir_writer_opts o = { .create = true, .sync = _i % 2 ? SYNC_NONE : SYNC_BATCH,
		.batch_messages = 700, .published = many_pub };
	struct maildir_writer *w = maildir_writer_open(md, &o);
	char *buf = xmalloc(800000);
	unsigned delivered = 0;

	many_last = -1;
	many_order_ok = true;
	for (unsigned i = 0; i < 3000; i++) {
		size_t n = many_size(i);
		many_fill(buf, i, n);
		ck_assert_int_eq(maildir_writer_begin(w), 0);
		/* a header, then the rest in pieces of up to three iovecs */
		size_t h = n < 9 ? n : 9, at = h;
		ck_assert_int_eq(maildir_writer_write(w, buf, h), 0);
		while (at < n) {
			struct iovec iov[3];
			int k = 0;
			for (; k < 3 && at < n; k++) {
				size_t l = 1 + (at * 31 + i) % 9000;
				if (l > n - at)
					l = n - at;
				iov[k].iov_base = buf + at;
				iov[k].iov_len = l;
				at += l;
			}
			ck_assert_int_eq(maildir_writer_writev(w, iov, k), 0);
		}
		if (i % 37 == 5) {      /* taken back */
			maildir_writer_abort(w);
			continue;
		}
		struct maildir_msginfo mi = { .mtime = 1000000 + (time_t)i, .cookie = i,
			.cur = i % 3 == 0 };
		ck_assert_int_eq(maildir_writer_end(w, &mi), 0);
		delivered++;
	}
	ck_assert_int_eq(maildir_writer_close(w), 0);
	ck_assert(many_order_ok);
	ck_assert_uint_eq(count_dir(md, "new", NULL, 0) + count_dir(md, "cur", NULL, 0), delivered);
	ck_assert_uint_eq(count_dir(md, "tmp", NULL, 0), 0);
	ck_assert_uint_eq(delivered, 3000 - 81);
	free(buf);
	free(md);
}
END_TEST

/* A write that fails in the writer thread (a file larger than
 * RLIMIT_FSIZE: EFBIG) is reported once, by the caller's thread, with the
 * status and file of a failure in it; the messages before it are
 * published, the failed one and those after it are not, and tmp/ is
 * left empty. */
START_TEST(test_failure_later)
{
	writer_mode(_i);
	char *md = new_maildir(_i ? "f1" : "f0");
	struct maildir_writer_opts o = { .create = true, .sync = SYNC_BATCH, .published = on_pub };
	struct maildir_writer *w = maildir_writer_open(md, &o);
	char *big = xmalloc(20000);
	memset(big, 'b', 20000);
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit rl = { 10000, 10000 };
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	opt_common.quiet = 1;
	published = 0;

	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(deliver(w, "Subject: ok\n\nbody\n", 0, 0, false, 5, NULL), 0);
	int rc = maildir_writer_begin(w);
	if (rc == 0)
		rc = maildir_writer_write(w, big, 20000);
	struct maildir_msginfo mi = { .mtime = 5, .cookie = 1000 };
	if (rc == 0)
		rc = maildir_writer_end(w, &mi);
	/* the caller's thread fails at once; the writer thread's failure is
	 * seen at a later message or at the flush */
	if (_i == 1)
		ck_assert_int_eq(rc, -1);
	int later = 0;
	for (int i = 0; i < 2000 && rc == 0; i++, later++)
		rc = deliver(w, "Subject: after\n\nbody\n", 0, 0, false, 5, NULL);
	if (rc == 0)
		rc = maildir_writer_flush(w);
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(report_exit_status(), 74);
	/* the caller publishes what was written before the failure */
	(void)maildir_writer_close(w);
	/* the 20 before it, and none of those after it */
	ck_assert_int_eq(published, 20);
	ck_assert_uint_eq(count_dir(md, "new", NULL, 0), 20);
	ck_assert_uint_eq(count_dir(md, "tmp", NULL, 0), 0);
	free(big);
	free(md);
}
END_TEST

/* Our own tmp/ leftovers from a dead process are removed, others kept. */
START_TEST(test_leftovers)
{
	char *md = new_maildir("d");
	struct maildir_writer_opts o = { .create = true };
	struct maildir_writer *w = maildir_writer_open(md, &o);
	ck_assert_ptr_nonnull(w);
	char host[256];
	maildir_hostname(host, sizeof host);
	/* pid 2^22+1 is above the default pid_max: not running */
	char *dead = xasprintf("%s/tmp/1.M1P4194305Q1.%s.mailshift", md, host);
	char *live = xasprintf("%s/tmp/1.M1P%ldQ9.%s.mailshift", md, (long)getppid(), host);
	char *other = xasprintf("%s/tmp/1.M1P4194305Q1.%s", md, host);
	const char *files[] = { dead, live, other };
	for (size_t i = 0; i < 3; i++)
		close(open(files[i], O_WRONLY | O_CREAT, 0600));
	maildir_writer_discard(w);
	w = maildir_writer_open(md, &o);
	ck_assert_int_eq(access(dead, F_OK), -1);
	ck_assert_int_eq(access(live, F_OK), 0);
	ck_assert_int_eq(access(other, F_OK), 0);
	maildir_writer_discard(w);
	free(dead);
	free(live);
	free(other);
	free(md);
}
END_TEST

/* the whole dovecot-keywords file */
static char *
keywords_text(const char *md)
{
	char *p = xasprintf("%s/dovecot-keywords", md);
	static char buf[512];
	FILE *f = fopen(p, "r");
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;

	buf[n] = '\0';
	if (f)
		fclose(f);
	free(p);
	return buf;
}

static void
keywords_put(const char *md, const char *text)
{
	char *p = xasprintf("%s/dovecot-keywords", md);
	FILE *f = fopen(p, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	free(p);
}

/*
 * Dovecot adds keywords while we run (a user creates one over IMAP): a
 * name we have not seen is looked up in the file as it is now, and a new
 * index never takes one Dovecot gave meanwhile.
 */
START_TEST(test_keywords_merged)
{
	char *md = new_maildir("kw");
	struct maildir_writer_opts o = { .create = true, .lock_timeout = 1 };
	struct maildir_writer *w = maildir_writer_open(md, &o);
	ck_assert_int_eq(maildir_writer_keyword(w, "work", 4), 0);
	ck_assert_str_eq(keywords_text(md), "0 work\n");
	/* Dovecot: index 1 for $Important, after we opened the maildir */
	keywords_put(md, "0 work\n1 $Important\n");
	ck_assert_int_eq(maildir_writer_keyword(w, "$Important", 10), 1);
	ck_assert_int_eq(maildir_writer_keyword(w, "todo", 4), 2);
	ck_assert_str_eq(keywords_text(md), "0 work\n1 $Important\n2 todo\n");
	/* Dovecot again: index 3, unknown to us; our next name takes 4 */
	keywords_put(md, "0 work\n1 $Important\n2 todo\n3 late\n");
	ck_assert_int_eq(maildir_writer_keyword(w, "mine", 4), 4);
	ck_assert_str_eq(keywords_text(md), "0 work\n1 $Important\n2 todo\n3 late\n4 mine\n");
	ck_assert_int_eq(maildir_writer_keyword(w, "late", 4), 3);
	/* the file is written before any name can use the letter: it is
	 * there before a message is even begun, and no lock is left */
	char *lock = xasprintf("%s/dovecot-uidlist.lock", md);
	ck_assert_int_eq(access(lock, F_OK), -1);
	maildir_writer_discard(w);
	free(lock);
	free(md);
}
END_TEST

START_TEST(test_keywords_file)
{
	char *md = new_maildir("e");
	struct maildir_writer_opts o = { .create = true, .lock_timeout = 1 };
	struct maildir_writer *w = maildir_writer_open(md, &o);
	ck_assert_int_eq(maildir_writer_keyword(w, "work", 4), 0);
	ck_assert_int_eq(maildir_writer_keyword(w, "todo", 4), 1);
	ck_assert_int_eq(maildir_writer_keyword(w, "work", 4), 0);
	ck_assert_int_eq(deliver(w, "x\n", 0, 3, false, 0, NULL), 0);
	ck_assert_int_eq(maildir_writer_close(w), 0);
	char *p = xasprintf("%s/dovecot-keywords", md);
	FILE *f = fopen(p, "r");
	char buf[64] = "";
	ck_assert_ptr_nonnull(f);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	ck_assert_str_eq(buf, "0 work\n1 todo\n");
	ck_assert_uint_eq(n, 14);
	/* reopened: existing indexes are kept, new names get free ones, and
	 * after 26 there is no letter */
	w = maildir_writer_open(md, &o);
	ck_assert_int_eq(maildir_writer_keyword(w, "todo", 4), 1);
	for (int i = 2; i < 26; i++) {
		char kw[8];
		snprintf(kw, sizeof kw, "k%d", i);
		ck_assert_int_eq(maildir_writer_keyword(w, kw, strlen(kw)), i);
	}
	ck_assert_int_eq(maildir_writer_keyword(w, "one-too-many", 12), -1);
	maildir_writer_discard(w);
	/* a held dovecot-uidlist.lock: a name the file lacks gets no letter
	 * (-3 after the timeout, reported); a known name needs no lock */
	char *lock = xasprintf("%s/dovecot-uidlist.lock", md);
	unlink(p);
	w = maildir_writer_open(md, &o);
	ck_assert_int_eq(maildir_writer_keyword(w, "work", 4), 0);
	close(open(lock, O_WRONLY | O_CREAT, 0600));
	opt_common.quiet = 1;
	ck_assert_int_eq(maildir_writer_keyword(w, "later", 5), -3);
	ck_assert_int_eq(maildir_writer_keyword(w, "work", 4), 0);
	unlink(lock);
	maildir_writer_discard(w);
	free(lock);
	free(p);
	free(md);
}
END_TEST

START_TEST(test_unwritable)
{
	ck_assert_ptr_null(maildir_writer_open("/nonexistent/dir/Maildir",
	    &(struct maildir_writer_opts){ .create = true }));
	ck_assert_int_eq(report_exit_status(), 73);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("maildir_writer");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_creates_and_names, 0, 2);
	tcase_add_loop_test(tc, test_many, 0, 4);
	tcase_add_loop_test(tc, test_failure_later, 0, 2);
	tcase_add_test(tc, test_names_increase);
	tcase_add_test(tc, test_write_failure_cleans_up);
	tcase_add_test(tc, test_leftovers);
	tcase_add_test(tc, test_keywords_file);
	tcase_add_test(tc, test_keywords_merged);
	tcase_add_test(tc, test_unwritable);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		return 99;
	report_init("test");
	umask(022);
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	char *cmd = xasprintf("rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		failed++;
	free(cmd);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
