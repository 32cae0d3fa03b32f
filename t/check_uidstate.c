/*
 * check_uidstate.c: unit tests for uidstate.c (SPEC §1.10, §2.8, §2.9):
 * X-IMAPbase / X-UID / X-UIDL values, the renumbering rules, the
 * dovecot-uidlist written on a first run and extended on a delta run, the
 * lock, a list that is not version 3, and the headers for Maildir -> mbox.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "report.h"
#include "uidstate.h"
#include "util.h"

#define L(s) s, sizeof(s) - 1

/* ---- values ---------------------------------------------------------------- */

static const struct {
	const char *v;
	bool ok;
	uint32_t validity, last;
	const char *kw;
} base_cases[] = {
	{ "1528796916 6", true, 1528796916, 6, "" },
	{ " 0000000200 0000000005 $Junk NonJunk", true, 200, 5, "$Junk NonJunk" },
	{ "12 5\n\t kw\r", true, 12, 5, "kw" },
	{ "4294967295 4294967295", true, 4294967295U, 4294967295U, "" },
	{ "12 0", true, 12, 0, "" },
	{ "", false, 0, 0, NULL },
	{ "12", false, 0, 0, NULL },
	{ "0 5", false, 0, 0, NULL },
	{ "12 x", false, 0, 0, NULL },
	{ "12 5x", false, 0, 0, NULL },
	{ "4294967296 1", false, 0, 0, NULL },
	{ "-1 5", false, 0, 0, NULL },
};

START_TEST(test_parse_base)
{
	struct uid_base b = { .keywords = STRBUF_INIT };
	const char *v = base_cases[_i].v;

	ck_assert_int_eq(uidstate_parse_base(v, strlen(v), &b), base_cases[_i].ok);
	if (base_cases[_i].ok) {
		ck_assert_uint_eq(b.validity, base_cases[_i].validity);
		ck_assert_uint_eq(b.last, base_cases[_i].last);
		ck_assert_str_eq(b.keywords.buf, base_cases[_i].kw);
	}
	sb_free(&b.keywords);
}
END_TEST

static const struct {
	const char *v;
	uint32_t uid;
} uid_cases[] = {
	{ "1", 1 }, { " 42 \r\n", 42 }, { "4294967294", 4294967294U },
	{ "0", 0 }, { "4294967295", 0 }, { "12a", 0 }, { "", 0 }, { "-3", 0 },
	{ "1 2", 0 }, { "99999999999", 0 },
};

START_TEST(test_parse_uid)
{
	ck_assert_uint_eq(uidstate_parse_uid(uid_cases[_i].v, strlen(uid_cases[_i].v)),
	    uid_cases[_i].uid);
}
END_TEST

START_TEST(test_parse_uidl)
{
	struct strbuf sb = STRBUF_INIT;
	char long70[71], long71[72];

	memset(long70, 'x', 70);
	long70[70] = '\0';
	memset(long71, 'y', 71);
	long71[71] = '\0';
	ck_assert(uidstate_parse_uidl(L("00000a1b2"), &sb));
	ck_assert_str_eq(sb.buf, "00000a1b2");
	ck_assert(uidstate_parse_uidl(L(" <abc@x>\r\n"), &sb));
	ck_assert_str_eq(sb.buf, "<abc@x>");
	ck_assert(uidstate_parse_uidl(long70, 70, &sb));
	ck_assert_uint_eq(sb.len, 70);
	ck_assert(!uidstate_parse_uidl(long71, 71, &sb));
	ck_assert(!uidstate_parse_uidl(L("a b"), &sb));
	ck_assert(!uidstate_parse_uidl(L("a\x7f"), &sb));
	ck_assert(!uidstate_parse_uidl(L("a\0b"), &sb));
	ck_assert(!uidstate_parse_uidl(L("  "), &sb));
	ck_assert(!uidstate_parse_uidl(L(""), &sb));
	sb_free(&sb);
}
END_TEST

/* ---- writing dovecot-uidlist ------------------------------------------------ */

static char dir[64];
static int dfd = -1;

static void
md_setup(void)
{
	strcpy(dir, "/tmp/check_uidstate.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ne(dfd, -1);
	ck_assert_int_eq(mkdirat(dfd, "tmp", 0700), 0);
	ck_assert_int_eq(mkdirat(dfd, "new", 0700), 0);
	ck_assert_int_eq(mkdirat(dfd, "cur", 0700), 0);
}

static void
md_teardown(void)
{
	char cmd[128];

	close(dfd);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static char *
slurp(const char *name)
{
	static char buf[8192];
	int fd = openat(dfd, name, O_RDONLY);

	if (fd == -1)
		return NULL;
	ssize_t n = read_full(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

static void
put(const char *name, const char *text)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write_all(fd, text, strlen(text)), 0);
	close(fd);
}

/* Messages of one run: header, deliver?, published name (NULL: skipped). */
struct msg {
	const char *hdr;
	bool deliver;
	const char *name;
};

static int
run(const char *pseudo, const struct msg *m, size_t n, struct uidstate_result *res)
{
	struct uidstate *us = uidstate_new("in.mbox");

	if (pseudo)
		uidstate_pseudo(us, pseudo, strlen(pseudo));
	for (size_t i = 0; i < n; i++) {
		uint64_t c = uidstate_message(us, m[i].hdr, strlen(m[i].hdr), (off_t)(100 * i),
		    m[i].deliver);
		ck_assert_uint_eq(c, i);
		if (m[i].deliver && m[i].name)
			uidstate_published(us, c, m[i].name);
	}
	int rc = uidstate_write(us, dfd, dir, 0, true, res);
	uidstate_free(us);
	return rc;
}

/* The list with the G field's 32 hex digits replaced by "G*". */
static const char *
list_masked(void)
{
	char *s = slurp(UIDLIST_FILE);
	ck_assert_ptr_nonnull(s);
	char *g = strstr(s, " G");
	if (g != NULL && strspn(g + 2, "0123456789abcdef") == 32 && g[34] == '\n') {
		g[2] = '*';
		memmove(g + 3, g + 34, strlen(g + 34) + 1);
	}
	return s;
}

START_TEST(test_first_run_canonical)
{
	static const struct msg m[] = {
		{ "X-IMAPbase: 1528796916 0000000006 $Junk\nX-UID: 1\n\n", true, "a:2,S" },
		{ "X-UID: 2\nX-UIDL: 00000a1b2\n\n", true, "b" },
		{ "x-uid: 5\n\n", true, "c:2,Sa" },
	};
	struct uidstate_result r;

	ck_assert_int_eq(run(NULL, m, 3, &r), 0);
	ck_assert_str_eq(list_masked(),
	    "3 V1528796916 N7 G*\n1 :a\n2 P00000a1b2 :b\n5 :c\n");
	ck_assert_uint_eq(r.validity, 1528796916);
	ck_assert_uint_eq(r.next, 7);
	ck_assert_uint_eq(r.kept, 3);
	ck_assert_uint_eq(r.fresh + r.renumbered + r.warnings, 0);
	ck_assert_uint_eq(r.uidls, 1);
	ck_assert(!r.validity_changed && !r.merged);
	ck_assert_ptr_null(slurp(UIDLIST_LOCK));
	struct stat st;
	ck_assert_int_eq(fstatat(dfd, UIDLIST_FILE, &st, 0), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
}
END_TEST

START_TEST(test_renumber_duplicate)
{
	static const struct msg m[] = {
		{ "X-IMAPbase: 100 10\nX-UID: 1\n\n", true, "a" },
		{ "X-UID: 3\n\n", true, "b" },
		{ "X-UID: 3\n\n", true, "c" },     /* duplicate */
		{ "X-UID: 2\n\n", true, "d" },     /* decreasing */
		{ "X-UID: 4\n\n", true, "e" },
	};
	struct uidstate_result r;
	time_t before = time(NULL);

	ck_assert_int_eq(run(NULL, m, 5, &r), 0);
	ck_assert(r.validity_changed);
	ck_assert_uint_eq(r.old_validity, 100);
	ck_assert_uint_ge(r.validity, (uint32_t)before);
	char want[128];
	snprintf(want, sizeof want, "3 V%u N13 G*\n1 :a\n3 :b\n4 :e\n11 :c\n12 :d\n", r.validity);
	ck_assert_str_eq(list_masked(), want);
	ck_assert_uint_eq(r.kept, 3);
	ck_assert_uint_eq(r.renumbered, 2);
	ck_assert_uint_eq(r.fresh, 0);
	ck_assert_uint_eq(r.warnings, 3);     /* two messages and the UIDVALIDITY */
}
END_TEST

START_TEST(test_missing_and_invalid)
{
	static const struct msg m[] = {
		{ "X-IMAPbase: 100 10\nX-UID: 4\n\n", true, "a" },
		{ "Subject: none\n\n", true, "b" },
		{ "X-UID: 0\n\n", true, "c" },
		{ "X-UID: 6\n\n", true, "d" },
		{ "X-UID: 8\n\n", false, NULL },   /* already in the destination */
		{ "X-UID: 9\n\n", true, NULL },    /* not published */
	};
	struct uidstate_result r;

	ck_assert_int_eq(run(NULL, m, 6, &r), 0);
	ck_assert_str_eq(list_masked(), "3 V100 N13 G*\n4 :a\n6 :d\n11 :b\n12 :c\n");
	ck_assert(!r.validity_changed);
	ck_assert_uint_eq(r.kept, 2);
	ck_assert_uint_eq(r.fresh, 2);
	ck_assert_uint_eq(r.warnings, 2);
}
END_TEST

START_TEST(test_above_next)
{
	static const struct msg m[] = {
		{ "X-IMAPbase: 100 3\nX-UID: 1\n\n", true, "a" },
		{ "X-UID: 7\n\n", true, "b" },
		{ "\n", true, "c" },
		{ "X-UID: 9\n\n", true, "d" },    /* above too: no second warning */
	};
	struct uidstate_result r;

	ck_assert_int_eq(run(NULL, m, 4, &r), 0);
	ck_assert_str_eq(list_masked(), "3 V100 N11 G*\n1 :a\n7 :b\n9 :d\n10 :c\n");
	ck_assert(!r.validity_changed);
	ck_assert_uint_eq(r.kept, 3);
	ck_assert_uint_eq(r.fresh, 1);
	ck_assert_uint_eq(r.warnings, 2);
}
END_TEST

START_TEST(test_pseudo)
{
	static const char pseudo[] =
	    "From: Mail System Internal Data <MAILER-DAEMON@h>\n"
	    "X-IMAP: 0000000200 0000000005 $Junk NonJunk\nStatus: RO\n\n";
	static const struct msg m[] = {
		{ "X-UID: 4\nX-Keywords: $Junk\n\n", true, "a" },
		{ "X-IMAPbase: 999 1\nX-UID: 5\n\n", true, "b" },  /* ignored */
	};
	struct uidstate_result r;
	struct uidstate *us = uidstate_new("p.mbox");
	size_t kl;

	ck_assert(!uidstate_present(us));
	uidstate_pseudo(us, L(pseudo));
	ck_assert(uidstate_present(us));
	ck_assert_str_eq(uidstate_keywords(us, &kl), "$Junk NonJunk");
	ck_assert_uint_eq(kl, 13);
	uidstate_free(us);

	ck_assert_int_eq(run(pseudo, m, 2, &r), 0);
	ck_assert_str_eq(list_masked(), "3 V200 N6 G*\n4 :a\n5 :b\n");
	ck_assert_uint_eq(r.warnings, 1);
}
END_TEST

START_TEST(test_no_state)
{
	struct uidstate *us = uidstate_new("x");
	size_t kl = 9;

	uidstate_message(us, L("Subject: a\nX-UIDx: 1\n\n"), 0, true);
	ck_assert(!uidstate_present(us));
	ck_assert_str_eq(uidstate_keywords(us, &kl), "");
	ck_assert_uint_eq(kl, 0);
	uidstate_free(us);
}
END_TEST

START_TEST(test_merge)
{
	static const struct msg m[] = {
		{ "X-IMAPbase: 100 8\nX-UID: 1\n\n", false, NULL },
		{ "X-UID: 2\n\n", false, NULL },
		{ "X-UID: 5\n\n", false, NULL },
		{ "X-UID: 6\n\n", true, "n6" },          /* below N7: taken */
		{ "X-UID: 8\nX-UIDL: u8\n\n", true, "n8:2,S" },
		{ "X-UID: 9\n\n", true, "n3" },          /* already listed */
	};
	struct uidstate_result r;

	put(UIDLIST_FILE, "3 V100 N7 Gabc X1\n1 :n1\n2 W34 :n2:2,S\n5 :n3\n");
	ck_assert_int_eq(run(NULL, m, 6, &r), 0);
	ck_assert_str_eq(slurp(UIDLIST_FILE),
	    "3 V100 N10 Gabc X1\n1 :n1\n2 W34 :n2:2,S\n5 :n3\n8 Pu8 :n8\n9 :n6\n");
	ck_assert(r.merged && !r.validity_changed);
	ck_assert_uint_eq(r.kept, 1);
	ck_assert_uint_eq(r.fresh, 1);

	/* another UIDVALIDITY: every new message gets a fresh UID */
	static const struct msg o[] = {
		{ "X-IMAPbase: 300 20\nX-UID: 15\n\n", true, "o1" },
		{ "X-UID: 16\n\n", true, "o2" },
	};
	ck_assert_int_eq(run(NULL, o, 2, &r), 0);
	ck_assert_str_eq(slurp(UIDLIST_FILE),
	    "3 V100 N12 Gabc X1\n1 :n1\n2 W34 :n2:2,S\n5 :n3\n8 Pu8 :n8\n9 :n6\n"
	    "10 :o1\n11 :o2\n");
	ck_assert_uint_eq(r.validity, 100);
	ck_assert_uint_eq(r.fresh, 2);
	ck_assert_uint_eq(r.warnings, 2);

	/* nothing new: the list is left alone */
	static const struct msg s[] = { { "X-UID: 1\n\n", false, NULL } };
	struct stat a, b;
	ck_assert_int_eq(fstatat(dfd, UIDLIST_FILE, &a, 0), 0);
	ck_assert_int_eq(run(NULL, s, 1, &r), 0);
	ck_assert_int_eq(fstatat(dfd, UIDLIST_FILE, &b, 0), 0);
	ck_assert_uint_eq(a.st_ino, b.st_ino);
}
END_TEST

START_TEST(test_lock_held)
{
	static const struct msg m[] = { { "X-IMAPbase: 1 1\nX-UID: 1\n\n", true, "a" } };
	struct uidstate_result r;

	put(UIDLIST_LOCK, "");
	ck_assert_int_eq(run(NULL, m, 1, &r), -1);
	ck_assert_int_eq(report_exit_status(), EX_TEMPFAIL);
	ck_assert_ptr_null(slurp(UIDLIST_FILE));
	ck_assert_ptr_nonnull(slurp(UIDLIST_LOCK));      /* not ours: left */
}
END_TEST

START_TEST(test_not_version3)
{
	static const char *const bad[] = {
		"1 5 3\n1 n1\n",                    /* version 1 */
		"3 V5 N3\n2 :a\n1 :b\n",            /* UIDs not increasing */
		"3 N3\n1 :a\n",                     /* no V */
		"3 V5 N3\n1 a\n",                   /* no ':' before the name */
		"",
	};
	static const struct msg m[] = { { "X-IMAPbase: 5 1\nX-UID: 1\n\n", true, "z" } };
	struct uidstate_result r;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		put(UIDLIST_FILE, bad[i]);
		ck_assert_int_eq(run(NULL, m, 1, &r), 0);
		ck_assert_str_eq(slurp(UIDLIST_FILE), bad[i]);
		ck_assert_uint_eq(r.warnings, 1);
		ck_assert_ptr_null(slurp(UIDLIST_LOCK));
	}
}
END_TEST

/* ---- Maildir -> mbox --------------------------------------------------------- */

START_TEST(test_uidlist_read)
{
	struct uidlist *ul = (struct uidlist *)1;
	uint32_t uid;
	const char *p;
	size_t pl;

	ck_assert_int_eq(uidlist_read(dfd, dir, &ul), 0);
	ck_assert_ptr_null(ul);
	put(UIDLIST_FILE, "3 V100 N9 G0\n5 P00000a1b2 W34 :n5\n7 :n7:2,S\n8 W1 :n8\n");
	put("cur/n5:2,S", "x");
	put("cur/n7:2,", "x");
	put("new/x1", "x");
	put("new/x2", "x");
	ck_assert_int_eq(uidlist_read(dfd, dir, &ul), 0);
	ck_assert_ptr_nonnull(ul);
	ck_assert_uint_eq(uidlist_validity(ul), 100);
	ck_assert_uint_eq(uidlist_next(ul), 9);
	ck_assert_uint_eq(uidlist_count(ul), 3);
	ck_assert(uidlist_lookup(ul, L("n5:2,RS"), &uid, &p, &pl));
	ck_assert_uint_eq(uid, 5);
	ck_assert_uint_eq(pl, 9);
	ck_assert(memcmp(p, "00000a1b2", 9) == 0);
	ck_assert(uidlist_lookup(ul, L("n7"), &uid, &p, &pl));
	ck_assert_uint_eq(uid, 7);
	ck_assert_ptr_null(p);
	ck_assert(!uidlist_lookup(ul, L("n"), &uid, &p, &pl));
	ck_assert(!uidlist_lookup(ul, L("x1"), &uid, &p, &pl));

	/* two unlisted files: X-IMAPbase reserves UIDs 9 and 10 */
	struct uid_out uo;
	struct strbuf out = STRBUF_INIT;
	uid_out_init(&uo, ul, L("$Junk NonJunk"));
	ck_assert_uint_eq(uo.last, 10);
	ck_assert(uid_out_header(&uo, L("n5:2,S"), L("Subject: a\n\n"), &out));
	ck_assert_str_eq(out.buf, "Subject: a\nX-IMAPbase: 100 0000000010 $Junk NonJunk\n"
	    "X-UID: 5\nX-UIDL: 00000a1b2\n\n");
	ck_assert(!uid_out_header(&uo, L("n7:2,S"), L("X-UID:  7\n\n"), &out));
	ck_assert_str_eq(out.buf, "X-UID:  7\n\n");
	ck_assert(uid_out_header(&uo, L("x1"), L("X-IMAPbase: 1 1\r\nX-IMAP: 1 2\r\n\r\n"), &out));
	ck_assert_str_eq(out.buf, "X-UID: 9\r\n\r\n");
	/* n5 again (out of order): the last reserved UID; then none left */
	ck_assert(uid_out_header(&uo, L("n5"), L("X-UID: 5\nX-UIDL: 00000a1b2\n\n"), &out));
	ck_assert_str_eq(out.buf, "X-UID: 10\nX-UIDL: 00000a1b2\n\n");
	ck_assert(uid_out_header(&uo, L("x2"), L("X-UID: 3\nA: b\n\n"), &out));
	ck_assert_str_eq(out.buf, "A: b\n\n");
	ck_assert_uint_eq(uo.unplaced, 1);
	sb_free(&out);
	uidlist_free(ul);

	put(UIDLIST_FILE, "3 V1 N2\n1 :a\n0 :b\n");
	ck_assert_int_eq(uidlist_read(dfd, dir, &ul), -1);
	ck_assert_ptr_null(ul);
}
END_TEST

/* A canonical header survives mbox -> list -> mbox byte for byte. */
START_TEST(test_round_trip)
{
	static const char *const hdrs[] = {
		"From: a@b\nX-IMAPbase: 1528796916 0000000003 $Junk\nStatus: RO\n"
		    "X-Keywords: $Junk\nX-UID: 1\n\n",
		"From: c@d\nX-UID: 2\nX-UIDL: 00000a1b2\n\n",
		"From: e@f\r\nX-UID: 3\r\n\r\n",
	};
	static const char *const names[] = { "m1:2,Sa", "m2", "m3:2," };
	struct uidstate_result r;
	struct uidstate *us = uidstate_new("rt.mbox");

	for (size_t i = 0; i < 3; i++)
		uidstate_published(us, uidstate_message(us, hdrs[i], strlen(hdrs[i]), 0, true),
		    names[i]);
	ck_assert_int_eq(uidstate_write(us, dfd, dir, 0, true, &r), 0);
	uidstate_free(us);
	for (size_t i = 0; i < 3; i++)
		put(i == 1 ? "new/m2" : i == 0 ? "cur/m1:2,Sa" : "cur/m3:2,", hdrs[i]);

	struct uidlist *ul;
	struct uid_out uo;
	struct strbuf out = STRBUF_INIT;
	ck_assert_int_eq(uidlist_read(dfd, dir, &ul), 0);
	uid_out_init(&uo, ul, L("$Junk"));
	for (size_t i = 0; i < 3; i++) {
		ck_assert(!uid_out_header(&uo, names[i], strlen(names[i]), hdrs[i],
		    strlen(hdrs[i]), &out));
		ck_assert_str_eq(out.buf, hdrs[i]);
	}
	/* another keyword set: X-IMAPbase is rewritten, in place */
	uid_out_init(&uo, ul, L("$Junk Work"));
	ck_assert(uid_out_header(&uo, L("m1:2,Sa"), hdrs[0], strlen(hdrs[0]), &out));
	ck_assert_str_eq(out.buf, "From: a@b\nX-IMAPbase: 1528796916 0000000003 $Junk Work\n"
	    "Status: RO\nX-Keywords: $Junk\nX-UID: 1\n\n");
	sb_free(&out);
	uidlist_free(ul);
}
END_TEST

static Suite *
uidstate_suite(void)
{
	Suite *s = suite_create("uidstate");
	TCase *tc = tcase_create("values");

	tcase_add_loop_test(tc, test_parse_base, 0, ARRAY_SIZE(base_cases));
	tcase_add_loop_test(tc, test_parse_uid, 0, ARRAY_SIZE(uid_cases));
	tcase_add_test(tc, test_parse_uidl);
	tcase_add_test(tc, test_no_state);
	suite_add_tcase(s, tc);

	tc = tcase_create("uidlist");
	tcase_add_checked_fixture(tc, md_setup, md_teardown);
	tcase_add_test(tc, test_first_run_canonical);
	tcase_add_test(tc, test_renumber_duplicate);
	tcase_add_test(tc, test_missing_and_invalid);
	tcase_add_test(tc, test_above_next);
	tcase_add_test(tc, test_pseudo);
	tcase_add_test(tc, test_merge);
	tcase_add_test(tc, test_lock_held);
	tcase_add_test(tc, test_not_version3);
	tcase_add_test(tc, test_uidlist_read);
	tcase_add_test(tc, test_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	report_init("check_uidstate");
	SRunner *sr = srunner_create(uidstate_suite());

	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
