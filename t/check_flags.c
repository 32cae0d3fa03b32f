/*
 * check_flags.c: unit tests for flags.c: Status / X-Status / X-Keywords /
 * X-Mozilla-Status to Maildir flags (SPEC §2.8, §2.10, §5 X20), the way
 * back (flags_to_status, flags_to_xstatus), maildir names (SPEC §1.5-1.7,
 * §5 M3, M5), the canonical info and the W= size count.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"
#include "util.h"

#define L(s) s, sizeof(s) - 1

/* ---- mbox headers ------------------------------------------------------- */

struct mbox_case {
	const char *hdr;
	size_t len;
	uint32_t flags;
	bool old;
	bool has_status;
	unsigned duplicates;
	const char *keywords;
};

static const struct mbox_case mbox_cases[] = {
	{ L(""), 0, false, false, 0, "" },
	{ L("Subject: x\n\n"), 0, false, false, 0, "" },
	/* Status */
	{ L("Status: R\n"), MF_SEEN, true, true, 0, "" },
	{ L("Status: O\n"), 0, true, true, 0, "" },
	{ L("Status: RO\n"), MF_SEEN, true, true, 0, "" },
	{ L("Status: OR\n"), MF_SEEN, true, true, 0, "" },
	{ L("Status:\n"), 0, false, true, 0, "" },
	{ L("Status: r\n"), MF_REPLIED, false, true, 0, "" },
	{ L("status: rO\n"), MF_REPLIED, true, true, 0, "" },          /* X20 */
	{ L("STATUS: RO\n"), MF_SEEN, true, true, 0, "" },
	{ L("Status : R\n"), MF_SEEN, true, true, 0, "" },
	{ L("Status: A F T D o\n"), 0, false, true, 0, "" },            /* not Status letters */
	{ L("Status: R\n O\n"), MF_SEEN, true, true, 0, "" },          /* folded */
	{ L("Status: R\0O\n"), MF_SEEN, true, true, 0, "" },            /* NUL */
	/* X-Status */
	{ L("X-Status: A\n"), MF_REPLIED, false, true, 0, "" },
	{ L("X-Status: F\n"), MF_FLAGGED, false, true, 0, "" },
	{ L("X-Status: T\n"), MF_DRAFT, false, true, 0, "" },
	{ L("X-Status: D\n"), MF_TRASHED, false, true, 0, "" },
	{ L("X-Status: DFAT\n"), MF_TRASHED | MF_FLAGGED | MF_REPLIED | MF_DRAFT, false, true, 0, "" },
	{ L("X-Status: \n"), 0, false, true, 0, "" },                   /* UW: present, empty */
	{ L("X-Status: R O a\n"), 0, false, true, 0, "" },
	/* both */
	{ L("Status: RO\nX-Status: AF\n"), MF_SEEN | MF_REPLIED | MF_FLAGGED, true, true, 0, "" },
	{ L("Status: O\r\nX-Status: T\r\n\r\n"), MF_DRAFT, true, true, 0, "" },
	{ L("Status: r\nX-Status: A\n"), MF_REPLIED, false, true, 0, "" },
	/* first wins, repeats counted */
	{ L("Status: O\nStatus: R\n"), 0, true, true, 1, "" },
	{ L("Status: R\nstatus: R\nSTATUS: R\n"), MF_SEEN, true, true, 2, "" },
	{ L("X-Status: A\nX-Status: F\nX-Keywords: a\nX-Keywords: b\n"), MF_REPLIED, false, true, 2, "a" },
	/* X-Keywords */
	{ L("X-Keywords: $Forwarded\n"), MF_PASSED, false, false, 0, "" },
	{ L("X-Keywords: $forwarded\n"), MF_PASSED, false, false, 0, "" },
	{ L("X-Keywords: $Forwarded foo,bar  baz, foo\n"), MF_PASSED, false, false, 0, "foo bar baz" },
	{ L("X-Keywords: Foo foo FOO\n"), 0, false, false, 0, "Foo" },
	{ L("X-Keywords:              \n"), 0, false, false, 0, "" },   /* UW padding */
	{ L("X-Keywords: a\n\tb\n"), 0, false, false, 0, "a b" },
	{ L("X-Keywords: $Forwarded$ $Junk\n"), 0, false, false, 0, "$Forwarded$ $Junk" },
	/* X-Mozilla-Status only without Status and X-Status */
	{ L("X-Mozilla-Status: 0001\n"), MF_SEEN, false, false, 0, "" },
	{ L("X-Mozilla-Status: 1003\n"), MF_SEEN | MF_REPLIED | MF_PASSED, false, false, 0, "" },
	{ L("X-Mozilla-Status: 000c\n"), MF_FLAGGED | MF_TRASHED, false, false, 0, "" },
	{ L("X-Mozilla-Status: 0001\nStatus: O\n"), 0, true, true, 0, "" },
	{ L("X-Mozilla-Status: 0005\nX-Status: A\n"), MF_REPLIED, false, true, 0, "" },
	{ L("X-Mozilla-Status: 0008\nX-Mozilla-Status: 0001\n"), MF_TRASHED, false, false, 0, "" },
	{ L("X-Mozilla-Status: zz\n"), 0, false, false, 0, "" },
	/* only the header block counts */
	{ L("Subject: x\n\nStatus: RO\nX-Status: F\n"), 0, false, false, 0, "" },
	{ L("Subject: x\r\n\r\nStatus: RO\n"), 0, false, false, 0, "" },
	/* the UW-written block */
	{ L("X-IMAPbase: 1 2\nStatus: RO\nX-Status: DFAT\nX-Keywords: $Forwarded Junk     \nX-UID: 2\n\n"),
	  MF_SEEN | MF_TRASHED | MF_FLAGGED | MF_REPLIED | MF_DRAFT | MF_PASSED, true, true, 0, "Junk" },
};

START_TEST(test_mbox_header)
{
	const struct mbox_case *c = &mbox_cases[_i];
	struct mbox_state st;

	memset(&st, 0x5a, sizeof st);
	flags_from_mbox_header(c->hdr, c->len, &st);
	ck_assert_msg(st.flags == c->flags, "case %d: flags %#x, want %#x", _i, st.flags, c->flags);
	ck_assert_int_eq(st.old, c->old);
	ck_assert_int_eq(st.has_status, c->has_status);
	ck_assert_uint_eq(st.duplicates, c->duplicates);
	ck_assert_uint_eq(st.keywords.len, strlen(c->keywords));
	if (st.keywords.len)
		ck_assert_str_eq(st.keywords.buf, c->keywords);
	mbox_state_free(&st);
	ck_assert_ptr_null(st.keywords.buf);
}
END_TEST

/* ---- letters and the way back ------------------------------------------ */

START_TEST(test_letters)
{
	static const struct { char c; uint32_t bit; } map[] = {
		{ 'D', MF_DRAFT }, { 'F', MF_FLAGGED }, { 'P', MF_PASSED },
		{ 'R', MF_REPLIED }, { 'S', MF_SEEN }, { 'T', MF_TRASHED },
		{ 'a', 0 }, { 's', 0 }, { 'A', 0 }, { 'O', 0 }, { ',', 0 }, { '\0', 0 },
	};
	char buf[8];

	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		ck_assert_uint_eq(flags_from_letter(map[i].c), map[i].bit);
	ck_assert_uint_eq(flags_letters(MF_ALL, buf), 6);
	ck_assert_str_eq(buf, "DFPRST");
	ck_assert_uint_eq(flags_letters(0, buf), 0);
	ck_assert_str_eq(buf, "");
	ck_assert_uint_eq(flags_letters(MF_SEEN | MF_DRAFT, buf), 2);
	ck_assert_str_eq(buf, "DS");
	ck_assert_uint_eq(flags_letters(MF_TRASHED | MF_REPLIED | MF_PASSED, buf), 3);
	ck_assert_str_eq(buf, "PRT");
}
END_TEST

struct back_case {
	uint32_t flags;
	bool old;
	const char *status;
	const char *xstatus;
};

static const struct back_case back_cases[] = {
	{ 0, false, "", "" },
	{ 0, true, "O", "" },
	{ MF_SEEN, false, "RO", "" },
	{ MF_SEEN, true, "RO", "" },
	{ MF_REPLIED, false, "", "A" },
	{ MF_FLAGGED, true, "O", "F" },
	{ MF_DRAFT, false, "", "T" },
	{ MF_TRASHED, false, "", "D" },
	{ MF_PASSED, false, "", "" },
	{ MF_ALL, true, "RO", "DFAT" },
	{ MF_DRAFT | MF_REPLIED, false, "", "AT" },
};

START_TEST(test_back)
{
	const struct back_case *c = &back_cases[_i];
	char s[4], x[8];

	flags_to_status(c->flags, c->old, s);
	flags_to_xstatus(c->flags, x);
	ck_assert_str_eq(s, c->status);
	ck_assert_str_eq(x, c->xstatus);

	/* and forth again: the same flags except P (a keyword on the way back) */
	char hdr[64];
	snprintf(hdr, sizeof hdr, "Status: %s\nX-Status: %s\n\n", s, x);
	struct mbox_state st;
	flags_from_mbox_header(hdr, strlen(hdr), &st);
	ck_assert_uint_eq(st.flags, c->flags & ~(uint32_t)MF_PASSED);
	ck_assert_int_eq(st.old, c->old || (c->flags & MF_SEEN));
	mbox_state_free(&st);
}
END_TEST

/* ---- maildir names ------------------------------------------------------ */

struct name_case {
	const char *name;
	const char *uniq;
	const char *base;
	const char *info;       /* NULL: none */
	char sep;
	long long s, w;
	uint32_t flags;
	uint32_t keywords;
	unsigned anomalies;
};

static const struct name_case name_cases[] = {
	{ "U", "U", "U", NULL, 0, -1, -1, 0, 0, 0 },
	{ "", "", "", NULL, 0, -1, -1, 0, 0, 0 },
	{ "U:2,", "U", "U", "2,", ':', -1, -1, 0, 0, 0 },
	{ "U:2,FRS", "U", "U", "2,FRS", ':', -1, -1, MF_FLAGGED | MF_REPLIED | MF_SEEN, 0, 0 },
	{ "U:2,DFPRST", "U", "U", "2,DFPRST", ':', -1, -1, MF_ALL, 0, 0 },
	{ "U:2,SF", "U", "U", "2,SF", ':', -1, -1, MF_SEEN | MF_FLAGGED, 0, MN_UNSORTED },
	{ "U:2,SS", "U", "U", "2,SS", ':', -1, -1, MF_SEEN, 0, MN_DUPLICATE },
	{ "U:2,SFS", "U", "U", "2,SFS", ':', -1, -1, MF_SEEN | MF_FLAGGED, 0, MN_UNSORTED | MN_DUPLICATE },
	{ "U:2,Sab", "U", "U", "2,Sab", ':', -1, -1, MF_SEEN, 0x3, 0 },
	{ "U:2,STln", "U", "U", "2,STln", ':', -1, -1, MF_SEEN | MF_TRASHED, (1u << 11) | (1u << 13), 0 },
	{ "U:2,aS", "U", "U", "2,aS", ':', -1, -1, MF_SEEN, 0x1, MN_UNSORTED },
	{ "U:2,Sz", "U", "U", "2,Sz", ':', -1, -1, MF_SEEN, 1u << 25, 0 },
	{ "U:2,SX", "U", "U", "2,SX", ':', -1, -1, MF_SEEN, 0, MN_UNKNOWN_FLAG },
	{ "U:2,S,other", "U", "U", "2,S,other", ':', -1, -1, MF_SEEN, 0, 0 },
	{ "U:1,xyz", "U", "U", "1,xyz", ':', -1, -1, 0, 0, MN_EXPERIMENTAL },
	{ "U:3,S", "U", "U", "3,S", ':', -1, -1, 0, 0, MN_BAD_INFO },
	{ "U:", "U", "U", "", ':', -1, -1, 0, 0, MN_BAD_INFO },
	{ "U:2", "U", "U", "2", ':', -1, -1, 0, 0, MN_BAD_INFO },
	{ "a:b:2,S", "a:b", "a:b", "2,S", ':', -1, -1, MF_SEEN, 0, MN_COLON_IN_UNIQ },
	{ "U,S=123,W=130:2,S", "U", "U,S=123,W=130", "2,S", ':', 123, 130, MF_SEEN, 0, 0 },
	{ "U,S=123:2,S", "U", "U,S=123", "2,S", ':', 123, -1, MF_SEEN, 0, 0 },
	{ "U,W=5,S=4", "U", "U,W=5,S=4", NULL, 0, 4, 5, 0, 0, 0 },
	{ "U,S=0", "U", "U,S=0", NULL, 0, 0, -1, 0, 0, 0 },
	{ "U,S=12x", "U", "U,S=12x", NULL, 0, -1, -1, 0, 0, MN_BAD_SIZE },
	{ "U,S=12x:2,S", "U", "U,S=12x", "2,S", ':', -1, -1, MF_SEEN, 0, MN_BAD_SIZE },
	{ "U,S=", "U", "U,S=", NULL, 0, -1, -1, 0, 0, MN_BAD_SIZE },
	{ "U,S=99999999999999999999", "U", "U,S=99999999999999999999", NULL, 0, -1, -1, 0, 0, MN_BAD_SIZE },
	{ "U,S=999999999999999999", "U", "U,S=999999999999999999", NULL, 0, 999999999999999999ll, -1, 0, 0, 0 },
	{ "U,S=1000000000000000000", "U", "U,S=1000000000000000000", NULL, 0, 1000000000000000000ll, -1, 0, 0, 0 },
	{ "U,W=0000000000000000000000007", "U", "U,W=0000000000000000000000007", NULL, 0, -1, 7, 0, 0, 0 },
	{ "U,S=10,S=20", "U", "U,S=10,S=20", NULL, 0, 10, -1, 0, 0, 0 },
	{ "U,X=1,S=7", "U,X=1", "U,X=1,S=7", NULL, 0, 7, -1, 0, 0, 0 },
	{ ".hidden", ".hidden", ".hidden", NULL, 0, -1, -1, 0, 0, MN_DOT_START },
	{ ".nfs0001:2,S", ".nfs0001", ".nfs0001", "2,S", ':', -1, -1, MF_SEEN, 0, MN_DOT_START },
	{ "U!2,S", "U", "U", "2,S", '!', -1, -1, MF_SEEN, 0, MN_ALT_SEP },
	{ "U;2,RS", "U", "U", "2,RS", ';', -1, -1, MF_REPLIED | MF_SEEN, 0, MN_ALT_SEP },
	{ "special!2,Sabc", "special", "special", "2,Sabc", '!', -1, -1, MF_SEEN, 0x7, MN_ALT_SEP },
	{ "a!2,b!2,S", "a!2,b", "a!2,b", "2,S", '!', -1, -1, MF_SEEN, 0, MN_ALT_SEP },
	{ "U!2,S:2,F", "U!2,S", "U!2,S", "2,F", ':', -1, -1, MF_FLAGGED, 0, 0 },
	{ "U!x", "U!x", "U!x", NULL, 0, -1, -1, 0, 0, 0 },
	{ "U!2", "U!2", "U!2", NULL, 0, -1, -1, 0, 0, 0 },
	{ ";!2,S", ";", ";", "2,S", '!', -1, -1, MF_SEEN, 0, MN_ALT_SEP },
	{ "a!2,S;x", "a", "a", "2,S;x", '!', -1, -1, MF_SEEN, 1u << ('x' - 'a'),
	  MN_ALT_SEP | MN_UNSORTED | MN_UNKNOWN_FLAG },
	{ "a;2,S!2", "a", "a", "2,S!2", ';', -1, -1, MF_SEEN, 0,
	  MN_ALT_SEP | MN_UNSORTED | MN_UNKNOWN_FLAG },
	{ "a;x!y", "a;x!y", "a;x!y", NULL, 0, -1, -1, 0, 0, 0 },
	{ "1220863060.12663_1.mindcrime!2,S", "1220863060.12663_1.mindcrime",
	  "1220863060.12663_1.mindcrime", "2,S", '!', -1, -1, MF_SEEN, 0, MN_ALT_SEP },
	{ "1700000000.M1P2Q3.host,S=2048,W=2100:2,FS", "1700000000.M1P2Q3.host",
	  "1700000000.M1P2Q3.host,S=2048,W=2100", "2,FS", ':', 2048, 2100, MF_FLAGGED | MF_SEEN, 0, 0 },
};

START_TEST(test_maildir_name)
{
	const struct name_case *c = &name_cases[_i];
	struct maildir_name mn;
	size_t len = strlen(c->name);

	memset(&mn, 0x5a, sizeof mn);
	maildir_name_parse(c->name, len, &mn);
	ck_assert_msg(mn.uniq_len == strlen(c->uniq) && memcmp(mn.uniq, c->uniq, mn.uniq_len) == 0,
	    "case %d (%s): uniq", _i, c->name);
	ck_assert_ptr_eq(mn.uniq, c->name);
	ck_assert_ptr_eq(mn.base, c->name);
	ck_assert_uint_eq(mn.base_len, strlen(c->base));
	ck_assert(memcmp(mn.base, c->base, mn.base_len) == 0);
	if (c->info == NULL) {
		ck_assert_ptr_null(mn.info);
		ck_assert_uint_eq(mn.info_len, 0);
	} else {
		ck_assert_ptr_eq(mn.info, c->name + strlen(c->base) + 1);
		ck_assert_uint_eq(mn.info_len, strlen(c->info));
		ck_assert(memcmp(mn.info, c->info, mn.info_len) == 0);
	}
	ck_assert_int_eq(mn.sep, c->sep);
	ck_assert_int_eq(mn.size_s, c->s);
	ck_assert_int_eq(mn.size_w, c->w);
	ck_assert_msg(mn.flags == c->flags, "case %d (%s): flags %#x", _i, c->name, mn.flags);
	ck_assert_msg(mn.keywords == c->keywords, "case %d (%s): keywords %#x", _i, c->name, mn.keywords);
	ck_assert_msg(mn.anomalies == c->anomalies, "case %d (%s): anomalies %#x, want %#x",
	    _i, c->name, mn.anomalies, c->anomalies);
}
END_TEST

/* The length is respected: nothing after len is read. */
START_TEST(test_maildir_name_len)
{
	struct maildir_name mn;

	maildir_name_parse("U:2,S:2,F", 5, &mn);
	ck_assert_uint_eq(mn.base_len, 1);
	ck_assert_uint_eq(mn.info_len, 3);
	ck_assert_uint_eq(mn.flags, MF_SEEN);
	ck_assert_uint_eq(mn.anomalies, 0);
	maildir_name_parse("U,S=12:", 6, &mn);
	ck_assert_ptr_null(mn.info);
	ck_assert_int_eq(mn.size_s, 12);
}
END_TEST

/* ---- canonical info ----------------------------------------------------- */

struct info_case {
	uint32_t flags;
	uint32_t keywords;
	const char *extra;
	const char *info;
};

static const struct info_case info_cases[] = {
	{ 0, 0, NULL, "2," },
	{ 0, 0, "", "2," },
	{ MF_SEEN | MF_REPLIED | MF_FLAGGED, 0, NULL, "2,FRS" },
	{ MF_ALL, 0, NULL, "2,DFPRST" },
	{ MF_SEEN, 0x5, NULL, "2,Sac" },
	{ MF_SEEN, 0x3, "Xb", "2,SXab" },
	{ MF_SEEN, 0, "SS", "2,S" },
	{ 0, 1u << 25, "Z", "2,Zz" },
	{ MF_DRAFT, 0, ",:/ \t", "2,D" },
	{ 0, 0x3ffffff, NULL, "2,abcdefghijklmnopqrstuvwxyz" },
};

START_TEST(test_make_info)
{
	const struct info_case *c = &info_cases[_i];
	char buf[64];

	size_t n = flags_make_info(c->flags, c->keywords, c->extra, buf);
	ck_assert_str_eq(buf, c->info);
	ck_assert_uint_eq(n, strlen(c->info));
}
END_TEST

/* Unsorted or duplicated names come back canonical (M3). */
START_TEST(test_info_roundtrip)
{
	static const char *const in[][2] = {
		{ "U:2,SF", "2,FS" }, { "U:2,SS", "2,S" }, { "U:2,baS", "2,Sab" },
		{ "U!2,TDS", "2,DST" }, { "U:2,", "2," },
	};
	char buf[64];

	for (size_t i = 0; i < ARRAY_SIZE(in); i++) {
		struct maildir_name mn;
		maildir_name_parse(in[i][0], strlen(in[i][0]), &mn);
		flags_make_info(mn.flags, mn.keywords, NULL, buf);
		ck_assert_str_eq(buf, in[i][1]);
	}
}
END_TEST

START_TEST(test_make_info_bound)
{
	char extra[128], buf[64];
	size_t k = 0;

	for (int c = '!'; c <= '~'; c++)
		extra[k++] = (char)c;
	extra[k] = '\0';
	size_t n = flags_make_info(MF_ALL, 0x3ffffff, extra, buf);
	ck_assert_uint_eq(n, 63);
	ck_assert_uint_eq(strlen(buf), 63);
	ck_assert(memcmp(buf, "2,!\"#$%&'()*+-.0123", 19) == 0);
}
END_TEST

/* ---- W= --------------------------------------------------------------- */

START_TEST(test_vsize)
{
	static const char msg[] = "A: 1\r\nB: 2\n\r\nbody\nline\r\n\n\r";
	bool cr = false;

	/* 26 bytes, LFs not after CR: 3 */
	uint64_t whole = flags_vsize_add(msg, sizeof msg - 1, &cr);
	ck_assert_uint_eq(whole, sizeof msg - 1 + 3);
	ck_assert(cr);
	/* split at every position the sum is the same */
	for (size_t cut = 0; cut <= sizeof msg - 1; cut++) {
		cr = false;
		uint64_t a = flags_vsize_add(msg, cut, &cr);
		a += flags_vsize_add(msg + cut, sizeof msg - 1 - cut, &cr);
		ck_assert_uint_eq(a, whole);
	}
	cr = false;
	ck_assert_uint_eq(flags_vsize_add("", 0, &cr), 0);
	ck_assert(!cr);
	cr = true;
	ck_assert_uint_eq(flags_vsize_add("\n", 1, &cr), 1);
	ck_assert(!cr);
	ck_assert_uint_eq(flags_vsize_add("\n\0\n", 3, &cr), 5);
}
END_TEST

/* The wide paths (16 and 32 bytes at a time) against a byte loop: buffers
 * of every length to 300 bytes, dense and sparse in CR and LF, split at
 * every offset, with a CR or LF at each 16- and 32-byte boundary. */
static uint64_t
vsize_ref(const char *p, size_t n, bool prev_cr)
{
	uint64_t v = n;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' && !(i ? p[i - 1] == '\r' : prev_cr))
			v++;
	}
	return v;
}

START_TEST(test_vsize_wide)
{
	static char buf[300];
	unsigned seed = 12345;

	for (int density = 2; density <= 64; density *= 4) {
		for (size_t i = 0; i < sizeof buf; i++) {
			seed = seed * 1103515245u + 12345u;
			unsigned r = (seed >> 16) % (unsigned)density;
			buf[i] = r == 0 ? '\n' : r == 1 ? '\r' : (char)('a' + (seed >> 8) % 26);
		}
		for (size_t n = 0; n <= sizeof buf; n++) {
			bool cr = false;
			uint64_t want = vsize_ref(buf, n, false);
			ck_assert_uint_eq(flags_vsize_add(buf, n, &cr), want);
			ck_assert(cr == (n > 0 && buf[n - 1] == '\r'));
			for (size_t cut = 0; cut <= n; cut += 7) {
				cr = false;
				uint64_t a = flags_vsize_add(buf, cut, &cr);
				a += flags_vsize_add(buf + cut, n - cut, &cr);
				ck_assert_uint_eq(a, want);
			}
		}
	}
	/* every LF preceded by CR at a vector boundary, and none */
	memset(buf, 'x', sizeof buf);
	for (size_t i = 16; i < sizeof buf; i += 16) {
		buf[i - 1] = '\r';
		buf[i] = '\n';
	}
	bool cr = false;
	ck_assert_uint_eq(flags_vsize_add(buf, sizeof buf, &cr), sizeof buf);
	for (size_t i = 16; i < sizeof buf; i += 16)
		buf[i - 1] = 'y';
	cr = false;
	ck_assert_uint_eq(flags_vsize_add(buf, sizeof buf, &cr), vsize_ref(buf, sizeof buf, false));
	ck_assert_uint_eq(vsize_ref(buf, sizeof buf, false), sizeof buf + (sizeof buf - 1) / 16);
}
END_TEST

/* The AVX2 loop counts spans of 255 blocks of 32 bytes (8,160 bytes) at
 * once when they hold no CR: 40 KB of LF lines with a CR LF or a CR alone
 * put at the edges of those spans and blocks and in between, cut at many
 * places, against the byte loop; then the same without AVX2. */
START_TEST(test_vsize_spans)
{
	enum { N = 40000 };
	char *buf = malloc(N);
	static const size_t at[] = { 0, 1, 31, 32, 33, 8159, 8160, 8161, 8191, 8192, 16320,
		16321, 24480, 24479, 39999 };

	for (int sse2 = 0; sse2 < 2; sse2++) {
		if (sse2)
			setenv("MAILSHIFT_TEST_NO_AVX2", "1", 1);
		for (size_t v = 0; v < 2 * ARRAY_SIZE(at) + 1; v++) {
			for (size_t i = 0; i < N; i++)
				buf[i] = i % 61 == 60 ? '\n' : 'a' + (char)(i % 26);
			if (v > 0) {
				size_t j = at[(v - 1) / 2];
				if (v % 2 == 1 && j + 1 < N) {
					buf[j] = '\r';          /* a CR LF */
					buf[j + 1] = '\n';
				} else {
					buf[j] = '\r';          /* a CR alone */
				}
			}
			uint64_t want = vsize_ref(buf, N, false);
			for (size_t cut = 0; cut < N; cut += 997) {
				bool cr = false;
				uint64_t a = flags_vsize_add(buf, cut, &cr);
				a += flags_vsize_add(buf + cut, N - cut, &cr);
				ck_assert_msg(a == want, "variant %zu cut %zu sse2 %d: %llu, want %llu", v, cut,
				    sse2, (unsigned long long)a, (unsigned long long)want);
			}
		}
		unsetenv("MAILSHIFT_TEST_NO_AVX2");
	}
	free(buf);
}
END_TEST

START_TEST(test_keyword_atom)
{
	ck_assert(keyword_is_atom(L("$Forwarded")));
	ck_assert(keyword_is_atom(L("Work/Projects")));
	ck_assert(keyword_is_atom(L("a[b")));
	ck_assert(!keyword_is_atom(L("")));
	ck_assert(!keyword_is_atom(L("a b")));
	ck_assert(!keyword_is_atom(L("\\Seen")));
	ck_assert(!keyword_is_atom(L("a]")));
	ck_assert(!keyword_is_atom(L("a(")));
	ck_assert(!keyword_is_atom(L("a%")));
	ck_assert(!keyword_is_atom(L("a*")));
	ck_assert(!keyword_is_atom(L("a\"")));
	ck_assert(!keyword_is_atom(L("a{")));
	ck_assert(!keyword_is_atom(L("caf\xc3\xa9")));
	ck_assert(!keyword_is_atom(L("a\x7f")));
}
END_TEST

/* The server's headers alone: X-Mozilla-Status is not consulted. */
START_TEST(test_server_header)
{
	static const char h1[] = "X-Mozilla-Status: 0005\nSubject: x\n\n";
	static const char h2[] = "Status: O\nX-Mozilla-Status: 0005\nX-Keywords: $Forwarded a\n\n";
	struct mbox_state st;

	flags_from_mbox_header(L(h1), &st);
	ck_assert_uint_eq(st.flags, MF_SEEN | MF_FLAGGED);
	mbox_state_free(&st);
	flags_from_server_header(L(h1), &st);
	ck_assert_uint_eq(st.flags, 0);
	ck_assert(!st.has_status && !st.old);
	mbox_state_free(&st);
	flags_from_server_header(L(h2), &st);
	ck_assert_uint_eq(st.flags, MF_PASSED);
	ck_assert(st.has_status && st.old);
	ck_assert_str_eq(st.keywords.buf, "a");
	mbox_state_free(&st);
}
END_TEST

static Suite *
flags_suite(void)
{
	Suite *s = suite_create("flags");
	TCase *tc;

	tc = tcase_create("mbox");
	tcase_add_loop_test(tc, test_mbox_header, 0, (int)ARRAY_SIZE(mbox_cases));
	tcase_add_test(tc, test_letters);
	tcase_add_test(tc, test_server_header);
	tcase_add_test(tc, test_keyword_atom);
	tcase_add_loop_test(tc, test_back, 0, (int)ARRAY_SIZE(back_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("maildir");
	tcase_add_loop_test(tc, test_maildir_name, 0, (int)ARRAY_SIZE(name_cases));
	tcase_add_test(tc, test_maildir_name_len);
	tcase_add_loop_test(tc, test_make_info, 0, (int)ARRAY_SIZE(info_cases));
	tcase_add_test(tc, test_info_roundtrip);
	tcase_add_test(tc, test_make_info_bound);
	tcase_add_test(tc, test_vsize);
	tcase_add_test(tc, test_vsize_wide);
	tcase_add_test(tc, test_vsize_spans);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(flags_suite());

	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
