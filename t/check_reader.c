/*
 * check_reader.c: the one reader (reader.h, DESIGN §2): the same loop over
 * an mbox file, a compressed mbox, stdin, an empty file and a Maildir gives
 * the same messages; refusals carry the DESIGN §4 status.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "reader.h"
#include "util.h"

static const char mbox_text[] =
	"From alice@example.org Sat Jan  3 01:05:34 1996\n"
	"Subject: one\n"
	"\n"
	"body one\n"
	"\n"
	"From bob@example.org Sat Jan  3 01:05:35 1996\n"
	"Subject: two\n"
	"\n"
	"body two\n";

static char tmpdir[256];

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/rdr.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static char *
put(const char *rel, const char *s, size_t len)
{
	char *p = xasprintf("%s/%s", tmpdir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write_all(fd, s, len), 0);
	close(fd);
	return p;
}

/* Every message as "HEADER|BODY;" into out; returns the count. */
static size_t
read_all(struct reader *r, enum reader_want want, struct strbuf *out)
{
	struct message m;
	struct iovec iov[8];
	size_t n = 0;
	int rc;

	sb_reset(out);
	while ((rc = reader_next(r, &m, want)) == 1) {
		ck_assert_uint_eq(m.index, n);
		sb_append(out, m.header, m.header_len);
		sb_appendc(out, '|');
		int cnt = 8;
		while ((rc = reader_body(r, iov, &cnt)) == 1) {
			for (int i = 0; i < cnt; i++)
				sb_append(out, iov[i].iov_base, iov[i].iov_len);
			cnt = 8;
		}
		ck_assert_int_eq(rc, 0);
		sb_appendc(out, ';');
		n++;
	}
	ck_assert_int_eq(rc, 0);
	return n;
}

static const char expect[] =
	"Subject: one\n\n|body one\n;Subject: two\n\n|body two\n;";

START_TEST(test_mbox_file)
{
	char *p = put("in.mbox", mbox_text, sizeof(mbox_text) - 1);
	struct reader_opts o = { .mbox.quiet = true };
	struct reader *r;
	struct strbuf out = STRBUF_INIT;

	ck_assert_int_eq(reader_open(&r, p, &o), 0);
	ck_assert_int_eq(reader_type(r), SOURCE_MBOX);
	ck_assert_str_eq(reader_name(r), p);
	ck_assert_int_eq(reader_dirfd(r), -1);
	ck_assert_ptr_null(reader_compression(r));
	ck_assert_uint_eq(read_all(r, READER_WANT_NAME, &out), 2);
	ck_assert_str_eq(reader_variant_name(r), "mboxrd");
	ck_assert_ptr_nonnull(reader_counters(r));
	ck_assert_uint_eq(reader_unreadable(r), 0);
	ck_assert_str_eq(out.buf, expect);
	reader_close(r);
	sb_free(&out);
	free(p);
}
END_TEST

START_TEST(test_mbox_message_fields)
{
	char *p = put("in.mbox", mbox_text, sizeof(mbox_text) - 1);
	struct reader *r;
	struct message m;

	ck_assert_int_eq(reader_open(&r, p, NULL), 0);
	ck_assert_int_eq(reader_next(r, &m, READER_WANT_HEADER), 1);
	ck_assert_int_eq(m.origin, ORIGIN_MBOX);
	ck_assert_int_eq(m.offset, 0);
	ck_assert_uint_eq(m.from_line_len, 48);
	/* the body is skipped when not asked for */
	ck_assert_int_eq(reader_next(r, &m, READER_WANT_HEADER), 1);
	ck_assert_int_eq(m.offset, 72);
	ck_assert_mem_eq(m.header, "Subject: two\n\n", 14);
	ck_assert_int_eq(reader_next(r, &m, READER_WANT_HEADER), 0);
	reader_close(r);
	free(p);
}
END_TEST

START_TEST(test_stdin)
{
	char *p = put("in.mbox", mbox_text, sizeof(mbox_text) - 1);
	int fd = open(p, O_RDONLY);
	struct reader_opts o = { .mbox.quiet = true };
	struct reader *r;
	struct strbuf out = STRBUF_INIT;

	ck_assert_int_eq(dup2(fd, STDIN_FILENO), STDIN_FILENO);
	close(fd);
	ck_assert_int_eq(reader_open(&r, "-", &o), 0);
	ck_assert_int_eq(reader_type(r), SOURCE_MBOX);
	ck_assert_str_eq(reader_name(r), "<stdin>");
	ck_assert_uint_eq(read_all(r, READER_WANT_FULL, &out), 2);
	ck_assert_str_eq(out.buf, expect);
	reader_close(r);
	sb_free(&out);
	free(p);
}
END_TEST

START_TEST(test_gzip)
{
	char *p = put("in.mbox", mbox_text, sizeof(mbox_text) - 1);
	char *cmd = xasprintf("gzip -n -c '%s' > '%s.gz' 2>/dev/null", p, p);
	char *gz = xasprintf("%s.gz", p);
	struct reader_opts o = { .mbox.quiet = true };
	struct reader *r;
	struct strbuf out = STRBUF_INIT;

	if (system(cmd) != 0)
		goto done;      /* no gzip(1) here */
	ck_assert_int_eq(reader_open(&r, gz, &o), 0);
	ck_assert_int_eq(reader_type(r), SOURCE_MBOX);
	ck_assert_str_eq(reader_compression(r), "gzip");
	ck_assert_uint_eq(read_all(r, READER_WANT_FULL, &out), 2);
	ck_assert_str_eq(out.buf, expect);
	reader_close(r);
done:
	sb_free(&out);
	free(cmd);
	free(gz);
	free(p);
}
END_TEST

START_TEST(test_empty_file)
{
	char *p = put("empty", "", 0);
	struct reader *r;
	struct strbuf out = STRBUF_INIT;
	struct iovec iov[1];
	int cnt = 1;

	ck_assert_int_eq(reader_open(&r, p, NULL), 0);
	ck_assert_int_eq(reader_type(r), SOURCE_EMPTY);
	ck_assert_str_eq(reader_variant_name(r), "empty");
	ck_assert_ptr_null(reader_counters(r));
	ck_assert(!reader_only_blank_lines(r));
	ck_assert_uint_eq(read_all(r, READER_WANT_FULL, &out), 0);
	ck_assert_int_eq(reader_body(r, iov, &cnt), 0);
	ck_assert_int_eq(cnt, 0);
	reader_close(r);
	sb_free(&out);
	free(p);
}
END_TEST

START_TEST(test_maildir)
{
	char *md = xasprintf("%s/md", tmpdir);
	struct reader_opts o = { .sort = READER_SORT_NAME, .folder = "Lists", .quiet = true };
	struct reader *r;
	struct message m;
	struct strbuf out = STRBUF_INIT;

	ck_assert_int_eq(mkdir(md, 0700), 0);
	for (const char *const *s = (const char *const[]){ "cur", "new", "tmp", NULL }; *s; s++) {
		char *d = xasprintf("%s/%s", md, *s);
		ck_assert_int_eq(mkdir(d, 0700), 0);
		free(d);
	}
	free(put("md/new/2.b", "Subject: two\n\nbody two\n", 23));
	free(put("md/cur/1.a:2,S", "Subject: one\n\nbody one\n", 23));

	ck_assert_int_eq(reader_open(&r, md, &o), 0);
	ck_assert_int_eq(reader_type(r), SOURCE_MAILDIR);
	ck_assert_str_eq(reader_name(r), md);
	ck_assert_ptr_null(reader_compression(r));
	ck_assert_ptr_null(reader_counters(r));
	ck_assert_int_ge(reader_dirfd(r), 0);
	ck_assert_str_eq(reader_variant_name(r), "maildir");
	/* the same bytes as from the mbox */
	ck_assert_uint_eq(read_all(r, READER_WANT_FULL, &out), 2);
	ck_assert_str_eq(out.buf, expect);
	reader_close(r);

	ck_assert_int_eq(reader_open(&r, md, &o), 0);
	ck_assert_int_eq(reader_next(r, &m, READER_WANT_NAME), 1);
	ck_assert_str_eq(m.folder, "Lists");
	ck_assert_uint_eq(m.flags, MF_SEEN);
	ck_assert_ptr_null(m.header);
	/* NAME, then the body: the whole file */
	struct iovec iov[2];
	int cnt = 2;
	ck_assert_int_eq(reader_body(r, iov, &cnt), 1);
	ck_assert_int_eq(cnt, 1);
	ck_assert_uint_eq(iov[0].iov_len, 23);
	ck_assert_mem_eq(iov[0].iov_base, "Subject: one\n\nbody one\n", 23);
	ck_assert_ptr_nonnull(reader_stat(r));
	ck_assert_int_eq(reader_stat(r)->st_size, 23);
	ck_assert_uint_eq(reader_unreadable(r), 0);
	reader_close(r);
	sb_free(&out);
	free(md);
}
END_TEST

/* An mbox over a descriptor the caller holds, from a message's offset, and
 * the offsets the reader reports: the second message read on its own. */
START_TEST(test_open_fd_start)
{
	char *p = put("fd.mbox", mbox_text, sizeof(mbox_text) - 1);
	struct reader_opts o = { .mbox.quiet = true };
	struct reader *r;
	struct message m;
	struct strbuf out = STRBUF_INIT;
	int fd = open(p, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(reader_open_fd(&r, fd, p, &o), 0);
	ck_assert_str_eq(reader_name(r), p);
	ck_assert_int_eq(reader_next(r, &m, READER_WANT_FULL), 1);
	ck_assert_int_eq(reader_message_offset(r), 0);
	struct iovec iov[8];
	int cnt = 8;
	while (reader_body(r, iov, &cnt) == 1)
		cnt = 8;
	off_t second = reader_message_end(r);
	ck_assert_int_eq(reader_message_size(r, &m), (int64_t)strlen("Subject: one\n\nbody one\n"));
	ck_assert_int_eq(reader_next(r, &m, READER_WANT_FULL), 1);
	ck_assert_int_eq(m.offset, second);
	ck_assert_mem_eq(mbox_text + second, "From ", 5);
	reader_close(r);

	/* the descriptor was duplicated: still open; a start reads from there */
	o.start = second;
	ck_assert_int_eq(reader_open_fd(&r, fd, p, &o), 0);
	ck_assert_uint_eq(read_all(r, READER_WANT_FULL, &out), 1);
	ck_assert_str_eq(out.buf, "Subject: two\n\n|body two\n;");
	reader_close(r);
	ck_assert_int_eq(close(fd), 0);

	/* by path too */
	ck_assert_int_eq(reader_open(&r, p, &o), 0);
	ck_assert_uint_eq(read_all(r, READER_WANT_FULL, &out), 1);
	ck_assert_str_eq(out.buf, "Subject: two\n\n|body two\n;");
	ck_assert(!reader_rewritten(r));
	ck_assert(!reader_held_back(r));
	reader_close(r);
	sb_free(&out);
	free(p);
}
END_TEST

START_TEST(test_refusals)
{
	struct reader_opts o = { .quiet = true };
	struct reader *r = (struct reader *)1;
	char *p;

	p = xasprintf("%s/missing", tmpdir);
	ck_assert_int_eq(reader_open(&r, p, &o), EX_NOINPUT);
	ck_assert_ptr_null(r);
	free(p);
	p = xasprintf("%s/dir", tmpdir);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_int_eq(reader_open(&r, p, &o), EX_DATAERR);     /* no cur/ */
	free(p);
	p = put("text", "Hello, this is not a mailbox.\n", 30);
	ck_assert_int_eq(reader_open(&r, p, &o), EX_DATAERR);
	free(p);
	/* a maildir where only mbox is allowed */
	p = xasprintf("%s/dir/cur", tmpdir);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	free(p);
	o.allow = 1u << SOURCE_MBOX;
	p = xasprintf("%s/dir", tmpdir);
	ck_assert_int_eq(reader_open(&r, p, &o), EX_DATAERR);
	o.allow = 0;
	ck_assert_int_eq(reader_open(&r, p, &o), 0);
	ck_assert_int_eq(reader_type(r), SOURCE_MAILDIR);
	reader_close(r);
	free(p);
}
END_TEST

static Suite *
reader_suite(void)
{
	Suite *s = suite_create("reader");
	TCase *tc = tcase_create("reader");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_mbox_file);
	tcase_add_test(tc, test_mbox_message_fields);
	tcase_add_test(tc, test_stdin);
	tcase_add_test(tc, test_gzip);
	tcase_add_test(tc, test_empty_file);
	tcase_add_test(tc, test_maildir);
	tcase_add_test(tc, test_open_fd_start);
	tcase_add_test(tc, test_refusals);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(reader_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
