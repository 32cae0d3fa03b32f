/*
 * check_util.c: unit tests for the shared helpers of util.c, report.c and
 * hashset.c: hex_decode (prefixes, both cases, the 16-digit bound),
 * rename_noreplace (moves, never replaces: EEXIST and both names kept),
 * exit_worse (the higher status wins whatever the order) and the worst
 * status report_status remembers, and the keyset
 * and hashset64 sets over enough keys to grow several times.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "hashset.h"
#include "report.h"
#include "util.h"
#include "xxh_fast.h"

#include <xxhash.h>

#define L(s) s, sizeof(s) - 1

/* ---- hex_decode -------------------------------------------------------- */

struct hex_case {
	const char *s;
	size_t n;
	size_t digits;
	uint64_t value;
};

static const struct hex_case hex_cases[] = {
	{ L(""), 0, 0 },
	{ L("0"), 1, 0 },
	{ L("f"), 1, 15 },
	{ L("F"), 1, 15 },
	{ L("4a"), 2, 0x4a },
	{ L("4A"), 2, 0x4a },
	{ L("4g"), 1, 4 },
	{ L("g4"), 0, 0 },
	{ L("%41"), 0, 0 },
	{ L("0001"), 4, 1 },
	{ L("8000; x"), 4, 0x8000 },
	{ L("DeadBeef"), 8, 0xdeadbeef },
	{ L("ffffffffffffffff"), 16, UINT64_MAX },
	{ L("0123456789abcdef0"), 16, 0x0123456789abcdefULL },   /* at most 16 */
	{ "12", 1, 1, 1 },                                        /* n bounds it */
	{ L("1\0002"), 1, 1 },
};

START_TEST(test_hex_decode)
{
	const struct hex_case *c = &hex_cases[_i];
	uint64_t v = 99;

	ck_assert_uint_eq(hex_decode(c->s, c->n, &v), c->digits);
	ck_assert_uint_eq(v, c->value);
}
END_TEST

/* ---- rename_noreplace -------------------------------------------------- */

static char dir[] = "/tmp/check_util.XXXXXX";

static void
put(const char *name, const char *text)
{
	int fd = openat(AT_FDCWD, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_all(fd, text, strlen(text)), 0);
	close(fd);
}

static const char *
get(const char *name)
{
	static char buf[64];
	int fd = open(name, O_RDONLY);
	if (fd == -1)
		return NULL;
	ssize_t n = read_full(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

START_TEST(test_rename_noreplace)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(mkdir("sub", 0755), 0);
	put("a", "message a\n");
	put("b", "message b\n");
	int sub = open("sub", O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(sub, 0);

	/* a free name: moved */
	ck_assert_int_eq(rename_noreplace(AT_FDCWD, "a", sub, "a2"), 0);
	ck_assert_ptr_null(get("a"));
	ck_assert_str_eq(get("sub/a2"), "message a\n");

	/* a taken name: EEXIST, both files as they were */
	errno = 0;
	ck_assert_int_eq(rename_noreplace(AT_FDCWD, "b", sub, "a2"), -1);
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_str_eq(get("b"), "message b\n");
	ck_assert_str_eq(get("sub/a2"), "message a\n");

	/* a missing source: ENOENT */
	errno = 0;
	ck_assert_int_eq(rename_noreplace(AT_FDCWD, "none", sub, "x"), -1);
	ck_assert_int_eq(errno, ENOENT);

	/* paths relative to the working directory, as dedup uses it */
	ck_assert_int_eq(rename_noreplace(AT_FDCWD, "b", AT_FDCWD, "sub/b2"), 0);
	ck_assert_str_eq(get("sub/b2"), "message b\n");

	close(sub);
	unlink("sub/a2");
	unlink("sub/b2");
	rmdir("sub");
	ck_assert_int_eq(chdir("/"), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* ---- exit_worse -------------------------------------------------------- */

START_TEST(test_exit_worse)
{
	static const int order[] = { 0, EXIT_PROBLEMS, EX_USAGE, EX_DATAERR, EX_NOINPUT,
		EX_CANTCREAT, EX_IOERR, EX_TEMPFAIL };

	for (size_t i = 0; i < ARRAY_SIZE(order); i++)
		for (size_t j = 0; j < ARRAY_SIZE(order); j++) {
			int w = order[i > j ? i : j];
			ck_assert_int_eq(exit_worse(order[i], order[j]), w);
		}
}
END_TEST

/* report_status keeps the worst in any order; the fallback only without one */
START_TEST(test_report_status)
{
	ck_assert_int_eq(report_exit_status(), 0);
	ck_assert_int_eq(report_exit_status_or(EX_IOERR), EX_IOERR);
	report_status(0);
	report_status(EXIT_PROBLEMS);
	ck_assert_int_eq(report_exit_status_or(EX_IOERR), EXIT_PROBLEMS);
	report_status(EX_TEMPFAIL);
	report_status(EX_DATAERR);
	report_status(EXIT_PROBLEMS);
	ck_assert_int_eq(report_exit_status(), EX_TEMPFAIL);
	ck_assert_int_eq(report_exit_status_or(EX_IOERR), EX_TEMPFAIL);
}
END_TEST

/* ---- keyset and hashset64 ---------------------------------------------- */

START_TEST(test_keyset)
{
	struct keyset ks = { 0 };
	const uint64_t n = 100000;

	ck_assert_ptr_null(keyset_find(&ks, 1, 2, 0, false));
	for (uint64_t i = 0; i < n; i++) {
		struct key *k = keyset_find(&ks, i * 0x9e3779b97f4a7c15ULL, i, (uint32_t)(i % 3), true);
		ck_assert_uint_eq(k->used, 1);
		k->used = (uint32_t)i + 7;
	}
	ck_assert_uint_eq(ks.len, n);
	for (uint64_t i = 0; i < n; i++) {
		struct key *k = keyset_find(&ks, i * 0x9e3779b97f4a7c15ULL, i, (uint32_t)(i % 3), false);
		ck_assert_ptr_nonnull(k);
		ck_assert_uint_eq(k->used, (uint32_t)i + 7);
		/* the occurrence number is part of the key */
		ck_assert_ptr_null(keyset_find(&ks, i * 0x9e3779b97f4a7c15ULL, i, 3, false));
	}
	/* a key 0:0 is a key like another */
	ck_assert_ptr_null(keyset_find(&ks, 0, 0, 5, false));
	ck_assert_uint_eq(keyset_find(&ks, 0, 0, 5, true)->used, 1);
	ck_assert_uint_eq(ks.len, n + 1);
	keyset_free(&ks);
	ck_assert_ptr_null(ks.t);
	ck_assert_uint_eq(ks.len, 0);
}
END_TEST

/* The number formatters against snprintf (the oracle): every width up to
 * 22 for values around each power of ten and each 2^k, and the extremes. */
/* mem_has_8bit() against a byte loop: every length to 300, the one high
 * byte at every place (and none), with the AVX2 loop and without it. */
START_TEST(test_has_8bit)
{
	unsigned char buf[300];

	for (int sse2 = 0; sse2 < 2; sse2++) {
		if (sse2)
			setenv("MAILSHIFT_TEST_NO_AVX2", "1", 1);
		for (size_t n = 0; n <= sizeof buf; n++) {
			memset(buf, 'a', sizeof buf);
			ck_assert(!mem_has_8bit(buf, n));
			for (size_t at = 0; at < n; at++) {
				buf[at] = (unsigned char)(0x80 + at % 128);
				ck_assert_msg(mem_has_8bit(buf, n), "n %zu at %zu sse2 %d", n, at, sse2);
				buf[at] = 'a';
			}
			if (n < sizeof buf) {
				buf[n] = 0xff;          /* just past the end: not seen */
				ck_assert(!mem_has_8bit(buf, n));
			}
		}
		unsetenv("MAILSHIFT_TEST_NO_AVX2");
	}
}
END_TEST

/* xxh_fast gives the library's XXH3-64, with the AVX2 copy and without,
 * whatever the lengths and the pieces it is fed in (xxHash's internal
 * block and stripe sizes are 1024 and 64 bytes; its buffer 256). */
START_TEST(test_xxh_fast)
{
	size_t cap = 70000;
	unsigned char *buf = xmalloc(cap);
	unsigned seed = 7;

	for (size_t i = 0; i < cap; i++)
		buf[i] = (unsigned char)rand_r(&seed);
	for (int sse2 = 0; sse2 < 2; sse2++) {
		if (sse2)
			setenv("MAILSHIFT_TEST_NO_AVX2", "1", 1);
		struct xxh_fast *h = xxh_fast_new();
		ck_assert_ptr_nonnull(h);
		static const size_t lens[] = { 0, 1, 15, 16, 17, 128, 129, 240, 241, 255, 256, 257,
		    1023, 1024, 1025, 4096, 65536, 69999 };
		for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
			size_t n = lens[li];
			uint64_t want = XXH3_64bits(buf, n);
			for (size_t piece = 1; piece <= 4097; piece = piece * 2 + 1) {
				xxh_fast_reset(h);
				for (size_t off = 0; off < n; off += piece)
					xxh_fast_update(h, buf + off, n - off < piece ? n - off : piece);
				ck_assert_msg(xxh_fast_digest(h) == want, "len %zu piece %zu sse2 %d", n,
				    piece, sse2);
			}
		}
		xxh_fast_free(h);
		unsetenv("MAILSHIFT_TEST_NO_AVX2");
	}
	free(buf);
}
END_TEST

START_TEST(test_fmt_numbers)
{
	unsigned long long vals[200];
	size_t nv = 0;
	char a[64], b[64];

	vals[nv++] = 0;
	vals[nv++] = ~0ull;
	for (unsigned long long p = 1; p <= 10000000000000000000ull / 10 * 10 && nv < 150; ) {
		vals[nv++] = p - 1;
		vals[nv++] = p;
		vals[nv++] = p + 1;
		if (p > ~0ull / 10)
			break;
		p *= 10;
	}
	for (int k = 0; k < 64 && nv < 200; k += 2)
		vals[nv++] = (1ull << k) + 7;
	for (size_t i = 0; i < nv; i++) {
		for (int w = 0; w <= 22; w++) {
			char *e = fmt_u0(a, vals[i], w);
			*e = '\0';
			snprintf(b, sizeof b, "%0*llu", w, vals[i]);
			ck_assert_msg(strcmp(a, b) == 0, "fmt_u0(%llu, %d): [%s] want [%s]", vals[i], w, a, b);
		}
		*fmt_u(a, vals[i]) = '\0';
		snprintf(b, sizeof b, "%llu", vals[i]);
		ck_assert_str_eq(a, b);
		*fmt_x16(a, vals[i]) = '\0';
		snprintf(b, sizeof b, "%016llx", vals[i]);
		ck_assert_str_eq(a, b);
	}
}
END_TEST

START_TEST(test_hashset64)
{
	struct hashset64 s = { 0 };
	const uint64_t n = 100000;

	for (uint64_t i = 1; i <= n; i++)
		ck_assert(hashset64_add(&s, i << 20));   /* equal low bits: probing */
	ck_assert_uint_eq(s.len, n);
	for (uint64_t i = 1; i <= n; i++)
		ck_assert(!hashset64_add(&s, i << 20));
	ck_assert_uint_eq(s.len, n);
	/* 0 is kept as 1 */
	ck_assert(hashset64_add(&s, 0));
	ck_assert(!hashset64_add(&s, 1));
	ck_assert(!hashset64_add(&s, 0));
	ck_assert_uint_eq(s.len, n + 1);
	hashset64_free(&s);
	ck_assert_ptr_null(s.t);
}
END_TEST

static Suite *
util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");

	tcase_add_loop_test(tc, test_hex_decode, 0, (int)ARRAY_SIZE(hex_cases));
	tcase_add_test(tc, test_rename_noreplace);
	tcase_add_test(tc, test_exit_worse);
	tcase_add_test(tc, test_report_status);
	tcase_add_test(tc, test_keyset);
	tcase_add_test(tc, test_hashset64);
	tcase_add_test(tc, test_fmt_numbers);
	tcase_add_test(tc, test_has_8bit);
	tcase_add_test(tc, test_xxh_fast);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(util_suite());

	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
