/*
 * check_maildir_writer.c: the delivery protocol (SPEC §1.2, §1.3, §1.7,
 * §1.10; DESIGN §6): names, S=/W=, info, cur/ vs new/, mtime, batching
 * (nothing visible before the flush), no clobbering, the keywords file,
 * failures leaving nothing behind, and the cleanup of our own leftovers.
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

START_TEST(test_creates_and_names)
{
	char *md = new_maildir("a");
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
	/* batched: not visible before the flush */
	ck_assert_uint_eq(count_dir(md, "new", NULL, 0), 0);
	ck_assert_uint_eq(count_dir(md, "tmp", NULL, 0), 1);
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
	tcase_add_test(tc, test_creates_and_names);
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
