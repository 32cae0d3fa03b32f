/*
 * check_serverstate.c: unit tests for serverstate.c (SPEC §1.10, §1.11):
 * courierimapuiddb, every courierpop3dsizelist version and its UIDLs,
 * courierimapkeywords/ with update files, Courier and Dovecot
 * subscriptions, the findings for damaged state, the merge rule
 * (ill-ordered UIDs, POP3-only messages, qmail-pop3d, more than 26
 * keywords) and the dovecot-uidlist it composes.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "message.h"
#include "report.h"
#include "serverstate.h"
#include "util.h"

#define L(s) s, sizeof(s) - 1

static struct state_findings F;

static void
f_setup(void)
{
	memset(&F, 0, sizeof F);
}

static void
f_teardown(void)
{
	state_findings_free(&F);
}

/* The findings as "LINE CODE" words, one SP between. */
static const char *
codes(void)
{
	static char buf[4096];
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < F.n && o < sizeof buf - 64; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%zu %s", i ? " " : "", F.v[i].line,
		    state_problem_code(F.v[i].what));
	return buf;
}

/* ---- courierimapuiddb --------------------------------------------------------- */

START_TEST(test_uiddb_canonical)
{
	struct courier_uiddb db;

	ck_assert_int_eq(courier_uiddb_parse(L("1 1234567 10\n3 a:2,S\n5 b\n9 c d:2,\n"), "u",
	    &db, &F), 0);
	ck_assert(db.present);
	ck_assert_uint_eq(db.validity, 1234567);
	ck_assert_uint_eq(db.next, 10);
	ck_assert_uint_eq(db.n, 3);
	ck_assert_uint_eq(db.e[0].uid, 3);
	ck_assert_str_eq(db.e[0].base, "a");
	ck_assert_uint_eq(db.e[0].line, 2);
	ck_assert_uint_eq(db.e[1].uid, 5);
	ck_assert_str_eq(db.e[1].base, "b");
	ck_assert_uint_eq(db.e[2].uid, 9);
	ck_assert_str_eq(db.e[2].base, "c d");     /* the rest of the line, as Courier reads it */
	ck_assert_uint_eq(F.n, 0);
	courier_uiddb_free(&db);
}
END_TEST

START_TEST(test_uiddb_raises_next)
{
	struct courier_uiddb db;

	ck_assert_int_eq(courier_uiddb_parse(L("1 7 3\n1 a\n5 b\n2 c\n"), "u", &db, &F), 0);
	ck_assert_uint_eq(db.next, 6);
	courier_uiddb_free(&db);
	ck_assert_int_eq(courier_uiddb_parse(L("1 7 3\n4294967294 a\n"), "u", &db, &F), 0);
	ck_assert_uint_eq(db.next, 4294967295U);
	courier_uiddb_free(&db);
	ck_assert_uint_eq(F.n, 0);
}
END_TEST

/* Files that cannot be used as a whole: nothing of them is applied. */
static const struct {
	const char *data;
	const char *codes;
} uiddb_bad_cases[] = {
	{ "", "0 STATE-EMPTY" },
	{ "1 123", "1 STATE-TRUNCATED" },
	{ "2 5 6\n3 a\n", "1 STATE-UNKNOWN-VERSION" },
	{ "1 x 5\n3 a\n", "1 STATE-BAD-HEADER" },
	{ "1 5\n3 a\n", "1 STATE-BAD-HEADER" },
	{ "1 0 5\n3 a\n", "1 STATE-BAD-HEADER" },
	{ "1 5 6 7\n3 a\n", "1 STATE-BAD-HEADER" },
	{ "1 5  6\n3 a\n", "1 STATE-BAD-HEADER" },
	{ "1 4294967296 6\n", "1 STATE-BAD-HEADER" },
	{ "\n3 a\n", "1 STATE-BAD-HEADER" },
	{ "garbage\x01\xff\n", "1 STATE-BAD-HEADER" },
};

START_TEST(test_uiddb_unusable)
{
	struct courier_uiddb db;
	const char *d = uiddb_bad_cases[_i].data;

	ck_assert_int_eq(courier_uiddb_parse(d, strlen(d), "u", &db, &F), -1);
	ck_assert(!db.present);
	ck_assert_uint_eq(db.n, 0);
	ck_assert_str_eq(codes(), uiddb_bad_cases[_i].codes);
	courier_uiddb_free(&db);
}
END_TEST

START_TEST(test_uiddb_damaged_lines)
{
	struct courier_uiddb db;
	static const char d[] =
	    "1 50 20\n"         /* 1 */
	    "3 a\n"             /* 2 */
	    "x y\n"             /* 3 garbage */
	    "0 z\n"             /* 4 UID 0 */
	    "7\n"               /* 5 no name */
	    "8 \n"              /* 6 empty name */
	    "\n"                /* 7 empty line */
	    "3 b\n"             /* 8 duplicate UID */
	    "9 a:2,S\n"         /* 9 duplicate name (stale info) */
	    "4294967295 q\n"    /* 10 above the UID range */
	    "25 c\n"            /* 11 raises next */
	    "26 d";             /* 12 cut short */

	ck_assert_int_eq(courier_uiddb_parse(d, sizeof d - 1, "u", &db, &F), 0);
	ck_assert(db.present);
	ck_assert_str_eq(codes(), "3 STATE-BAD-LINE 4 STATE-BAD-LINE 5 STATE-BAD-LINE "
	    "6 STATE-BAD-LINE 7 STATE-BAD-LINE 10 STATE-BAD-LINE 12 STATE-TRUNCATED "
	    "8 STATE-DUPLICATE-UID 9 STATE-DUPLICATE-NAME");
	ck_assert_uint_eq(db.n, 2);
	ck_assert_uint_eq(db.e[0].uid, 3);
	ck_assert_str_eq(db.e[0].base, "a");
	ck_assert_uint_eq(db.e[1].uid, 25);
	ck_assert_str_eq(db.e[1].base, "c");
	ck_assert_uint_eq(db.next, 26);      /* the cut line counts for nothing */
	courier_uiddb_free(&db);
}
END_TEST

START_TEST(test_finding_format)
{
	struct courier_uiddb db;
	struct strbuf sb = STRBUF_INIT;

	courier_uiddb_parse(L("1 5 6\n3 a\n3 b\n4 c"), "Maildir/courierimapuiddb", &db, &F);
	ck_assert_uint_eq(F.n, 2);
	state_finding_format(&F.v[0], &sb);
	ck_assert_str_eq(sb.buf,
	    "Maildir/courierimapuiddb:4: STATE-TRUNCATED: the last line is cut short: not used");
	sb_reset(&sb);
	state_finding_format(&F.v[1], &sb);
	ck_assert_str_eq(sb.buf, "Maildir/courierimapuiddb:3: STATE-DUPLICATE-UID: "
	    "UID 3 is listed on line 2 already: not used");
	courier_uiddb_free(&db);
	courier_uiddb_parse(L(""), "x", &db, &F);
	sb_reset(&sb);
	state_finding_format(&F.v[2], &sb);
	ck_assert_str_eq(sb.buf, "x: STATE-EMPTY: empty file: not used");
	ck_assert_str_eq(state_problem_code(STATE_UID_ORDER), "STATE-UID-ORDER");
	ck_assert_str_eq(state_problem_code((enum state_problem)99), "STATE-UNKNOWN");
	sb_free(&sb);
}
END_TEST

/* ---- courierpop3dsizelist ----------------------------------------------------- */

START_TEST(test_pop3_uidl_encoding)
{
	struct strbuf sb = STRBUF_INIT;
	static const char name[] = "1.M2P3.h'o\"s+t \x01\x7f\x80\xff~!";

	courier_pop3_uidl(name, sizeof name - 1, 0, 77, &sb);
	ck_assert_str_eq(sb.buf, "1.M2P3.h+27o+22s+2Bt+20+01+7F+80+FF~!");
	sb_reset(&sb);
	courier_pop3_uidl(L("x"), 42, 1111, &sb);
	ck_assert_str_eq(sb.buf, "UID42-1111");
	sb_reset(&sb);
	courier_pop3_uidl(L("x"), 42, 0, &sb);
	ck_assert_str_eq(sb.buf, "UID42");
	sb_free(&sb);
}
END_TEST

/* Every version: the UIDL a client saw, the size, POP3 order. */
static const struct {
	const char *data;
	int version;
	uint32_t next, validity;
	const char *want;       /* "base size uidl" per message, "|" between */
} pop3_cases[] = {
	{ "a:2,S 1234\nb 99\nc d 7\n", 0, 0, 0,
	  "a 1234 a|b 99 b|c d 7 c+20d" },
	{ "/1 7\nb:2,S 20 4\na 10 3\nc 5 0\n", 1, 7, 0,
	  "b 20 UID4|a 10 UID3|c 5 c" },
	{ "/2 9 1111\na 10 3:1111\nb 20 4:0\nc 30 0:1111\n", 2, 9, 1111,
	  "a 10 UID3-1111|b 20 UID4|c 30 c" },
	{ "/3 12 2222\nz:2,RS 10 11:2222:0\ny 20 4:2222:1\nx+ 7 0:2222:0\n", 3, 12, 2222,
	  "z 10 UID11-2222|y 20 UID4-2222|x+ 7 x+2B" },
	{ "/3 1 5\n", 3, 1, 5, "" },
};

START_TEST(test_pop3_versions)
{
	struct courier_pop3 p;
	struct strbuf sb = STRBUF_INIT;
	const char *d = pop3_cases[_i].data;

	ck_assert_int_eq(courier_pop3_parse(d, strlen(d), "p", &p, &F), 0);
	ck_assert(p.present);
	ck_assert_int_eq(p.version, pop3_cases[_i].version);
	ck_assert_uint_eq(p.next, pop3_cases[_i].next);
	ck_assert_uint_eq(p.validity, pop3_cases[_i].validity);
	for (size_t i = 0; i < p.n; i++)
		sb_appendf(&sb, "%s%s %llu %s", i ? "|" : "", p.e[i].base,
		    (unsigned long long)p.e[i].size, p.e[i].uidl);
	ck_assert_str_eq(sb.buf ? sb.buf : "", pop3_cases[_i].want);
	ck_assert_uint_eq(F.n, 0);
	sb_free(&sb);
	courier_pop3_free(&p);
}
END_TEST

static const struct {
	const char *data;
	int rc;
	const char *codes;
	size_t kept;
} pop3_bad_cases[] = {
	{ "", -1, "0 STATE-EMPTY", 0 },
	{ "/4 1 2\na 1 1:2:0\n", -1, "1 STATE-UNKNOWN-VERSION", 0 },
	{ "/0 1\n", -1, "1 STATE-UNKNOWN-VERSION", 0 },
	{ "/x\na 1\n", -1, "1 STATE-BAD-HEADER", 0 },
	{ "/2 5\na 1 1:5\n", -1, "1 STATE-BAD-HEADER", 0 },
	{ "/1 5 6\na 1 1\n", -1, "1 STATE-BAD-HEADER", 0 },
	{ "/3 5 6", -1, "1 STATE-TRUNCATED", 0 },
	{ "/3 9 5\na 10 1:5:0\nb 10 2:5", 0, "3 STATE-TRUNCATED", 1 },
	{ "/3 9 5\nhello\na 10 1:5:0\n 12\nb x 2:5:0\nc 1 2:x:0\n\n", 0,
	  "2 STATE-BAD-LINE 4 STATE-BAD-LINE 5 STATE-BAD-LINE 6 STATE-BAD-LINE "
	  "7 STATE-BAD-LINE", 1 },
	{ "/3 9 5\na 10 1:5:0\na:2,S 11 2:5:0\n", 0, "3 STATE-DUPLICATE-NAME", 1 },
	{ "/3 9 5\na 10 1:5:0\nb 11 1:5:0\n", 0, "3 STATE-DUPLICATE-UID", 1 },
	{ "a 10\nb 1a\n", 0, "2 STATE-BAD-LINE", 1 },
};

START_TEST(test_pop3_damaged)
{
	struct courier_pop3 p;
	const char *d = pop3_bad_cases[_i].data;

	ck_assert_int_eq(courier_pop3_parse(d, strlen(d), "p", &p, &F), pop3_bad_cases[_i].rc);
	ck_assert_int_eq(p.present, pop3_bad_cases[_i].rc == 0);
	ck_assert_str_eq(codes(), pop3_bad_cases[_i].codes);
	ck_assert_uint_eq(p.n, pop3_bad_cases[_i].kept);
	if (p.n > 0)
		ck_assert_str_eq(p.e[0].base, "a");
	courier_pop3_free(&p);
}
END_TEST

/* ---- courierimapkeywords/ ----------------------------------------------------- */

START_TEST(test_kw_list)
{
	struct courier_keywords kw = { 0 };
	static const char d[] =
	    "Work\n$Forwarded\nbad name\nTodo\n\n"  /* lines 1-5 */
	    "m1:0 3\n"                              /* 6 */
	    "m2:1\n"                                /* 7 */
	    "m3:7 0\n"                              /* 8 index beyond */
	    "m4\n"                                  /* 9 no ':' */
	    "m1:2\n"                                /* 10 listed already */
	    "m5:x 1\n"                              /* 11 */
	    "m6:\n"                                 /* 12 no keywords */
	    "m7:0";                                 /* 13 cut short */

	ck_assert_int_eq(courier_kw_parse_list(d, sizeof d - 1, "k", &kw, &F), 0);
	ck_assert(kw.present);
	ck_assert_uint_eq(kw.nnames, 4);
	ck_assert_str_eq(kw.names[0], "Work");
	ck_assert_str_eq(kw.names[2], "bad name");
	ck_assert(kw.valid[0] && kw.valid[1] && !kw.valid[2] && kw.valid[3]);
	ck_assert_str_eq(codes(), "3 STATE-BAD-KEYWORD 8 STATE-BAD-INDEX 9 STATE-BAD-LINE "
	    "10 STATE-DUPLICATE-NAME 11 STATE-BAD-LINE 13 STATE-TRUNCATED");
	const struct courier_kw_msg *m = courier_kw_lookup(&kw, L("m1"));
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->n, 2);
	ck_assert_uint_eq(m->idx[0], 0);
	ck_assert_uint_eq(m->idx[1], 3);
	m = courier_kw_lookup(&kw, L("m3"));
	ck_assert_uint_eq(m->n, 1);
	ck_assert_uint_eq(m->idx[0], 0);
	m = courier_kw_lookup(&kw, L("m5"));
	ck_assert_uint_eq(m->n, 1);
	ck_assert_uint_eq(m->idx[0], 1);
	m = courier_kw_lookup(&kw, L("m6"));
	ck_assert_uint_eq(m->n, 0);
	ck_assert_ptr_null(courier_kw_lookup(&kw, L("m7")));
	ck_assert_ptr_null(courier_kw_lookup(&kw, L("m4")));
	courier_kw_free(&kw);
}
END_TEST

START_TEST(test_kw_pick_updates)
{
	char *names[] = { ":list", ".5.m1", "m1", ".12.m2", ".9.m2", ".tmp.1234.m3",
	    ".abc", ".7.", "m4:2,S", ".0012.m5", ".3.m5", ".11.m5", "..m6", "m7" };
	size_t chosen[ARRAY_SIZE(names)];
	size_t n = courier_kw_pick_updates(names, ARRAY_SIZE(names), chosen);
	size_t len;

	/* plain m1 beats .5.m1; 12 > 9 as numbers; 0012 > 11; m4 and m7 plain */
	ck_assert_uint_eq(n, 5);
	ck_assert_str_eq(names[chosen[0]], "m1");
	ck_assert_str_eq(names[chosen[1]], ".12.m2");
	ck_assert_str_eq(names[chosen[2]], "m4:2,S");
	ck_assert_str_eq(names[chosen[3]], ".0012.m5");
	ck_assert_str_eq(names[chosen[4]], "m7");
	ck_assert_str_eq(courier_kw_update_base(".17.abc", &len), "abc");
	ck_assert_uint_eq(len, 3);
	ck_assert_ptr_null(courier_kw_update_base(":list", &len));
	ck_assert_ptr_null(courier_kw_update_base(".tmp.5.abc", &len));
	ck_assert_ptr_null(courier_kw_update_base(".x.abc", &len));
	ck_assert_ptr_null(courier_kw_update_base(".5.", &len));
}
END_TEST

START_TEST(test_kw_updates)
{
	struct courier_keywords kw = { 0 };

	courier_kw_parse_list(L("Work\nTodo\n\nm1:0 1\nm2:1\nm3:0\n"), "k", &kw, &F);
	/* the newest set replaces the listed one, new names get new indexes */
	courier_kw_apply_update(&kw, "m1", L("Todo\nLater\n"), "k/m1", &F);
	courier_kw_apply_update(&kw, ".77.m2", L(""), "k/.77.m2", &F);   /* no keywords now */
	courier_kw_apply_update(&kw, ".3.m3", L("Work\nLat"), "k/.3.m3", &F);   /* cut: not used */
	courier_kw_apply_update(&kw, "m9", L("x y\nWork\n\nignored\n"), "k/m9", &F);
	ck_assert_str_eq(codes(), "2 STATE-TRUNCATED 1 STATE-BAD-KEYWORD");
	ck_assert_str_eq(F.v[0].file, "k/.3.m3");
	ck_assert_uint_eq(kw.nnames, 4);
	ck_assert_str_eq(kw.names[2], "Later");
	ck_assert_str_eq(kw.names[3], "x y");
	const struct courier_kw_msg *m = courier_kw_lookup(&kw, L("m1"));
	ck_assert_uint_eq(m->n, 2);
	ck_assert_uint_eq(m->idx[0], 1);
	ck_assert_uint_eq(m->idx[1], 2);
	ck_assert_uint_eq(courier_kw_lookup(&kw, L("m2"))->n, 0);
	m = courier_kw_lookup(&kw, L("m3"));
	ck_assert_uint_eq(m->n, 1);
	ck_assert_uint_eq(m->idx[0], 0);
	m = courier_kw_lookup(&kw, L("m9"));
	ck_assert_uint_eq(m->n, 1);     /* up to the empty line; "x y" not carried */
	ck_assert_uint_eq(m->idx[0], 0);
	courier_kw_free(&kw);
}
END_TEST

/* ---- subscriptions ------------------------------------------------------------ */

START_TEST(test_subscriptions)
{
	struct subscriptions s = { 0 };
	struct strbuf sb = STRBUF_INIT;

	subscriptions_parse_courier(L("INBOX\nINBOX.Sent\nINBOX.Lists.debian\nshared.x\n\n"
	    "INBOX.Sent\ninbox\nINBOX.\nINBOX.Tr\xc3\xa4sh\r\n"), "c", &s, &F);
	ck_assert_str_eq(codes(), "4 STATE-NOT-CARRIED 8 STATE-NOT-CARRIED");
	ck_assert_uint_eq(s.n, 4);
	ck_assert_str_eq(s.names[0], "INBOX");
	ck_assert_str_eq(s.names[1], "Sent");
	ck_assert_str_eq(s.names[2], "Lists.debian");
	ck_assert_str_eq(s.names[3], "Tr\xc3\xa4sh");
	subscriptions_format_dovecot(&s, false, &sb);
	ck_assert_str_eq(sb.buf, "INBOX\nSent\nLists.debian\nTr\xc3\xa4sh\n");
	sb_reset(&sb);
	subscriptions_format_dovecot(&s, true, &sb);
	ck_assert_str_eq(sb.buf, "V\t2\n\nINBOX\nSent\nLists\tdebian\nTr\xc3\xa4sh\n");
	sb_reset(&sb);
	subscriptions_format_courier(&s, &sb);
	ck_assert_str_eq(sb.buf, "INBOX\nINBOX.Sent\nINBOX.Lists.debian\nINBOX.Tr\xc3\xa4sh\n");

	/* both Dovecot forms read back to the same names */
	struct subscriptions a = { 0 }, b = { 0 };
	subscriptions_parse_dovecot(L("INBOX\nSent\nLists.debian\n"), "d", &a, &F);
	subscriptions_parse_dovecot(L("V\t2\n\nINBOX\nSent\nLists\tdebian\nx\001ty\001n\0011\n"),
	    "d", &b, &F);
	ck_assert_uint_eq(a.n, 3);
	ck_assert_uint_eq(b.n, 4);
	for (size_t i = 0; i < 3; i++)
		ck_assert_str_eq(a.names[i], b.names[i]);
	ck_assert_str_eq(b.names[3], "x\ty\n\001");
	sb_reset(&sb);
	subscriptions_format_dovecot(&b, true, &sb);
	ck_assert_str_eq(sb.buf, "V\t2\n\nINBOX\nSent\nLists\tdebian\nx\001ty\001n\0011\n");
	ck_assert_uint_eq(F.n, 2);
	subscriptions_free(&a);
	subscriptions_free(&b);
	subscriptions_free(&s);
	sb_free(&sb);
}
END_TEST

/* ---- the merge ---------------------------------------------------------------- */

struct mstate {
	struct courier_uiddb db;
	struct courier_pop3 p;
	struct courier_keywords kw;
	struct serverstate st;
};

static void
mstate_free(struct mstate *ms)
{
	courier_uiddb_free(&ms->db);
	courier_pop3_free(&ms->p);
	courier_kw_free(&ms->kw);
	serverstate_free(&ms->st);
}

/* "uid[*] uidl/W/O" per message: '*' marks a fresh UID. */
static const char *
merged(const struct serverstate *st)
{
	static char buf[4096];
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < st->n; i++) {
		const struct merged_msg *m = &st->m[i];
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%u%s", i ? "|" : "", m->uid,
		    m->fresh ? "*" : "");
		if (m->uidl)
			o += (size_t)snprintf(buf + o, sizeof buf - o, " P%s", m->uidl);
		if (m->has_vsize)
			o += (size_t)snprintf(buf + o, sizeof buf - o, " W%llu",
			    (unsigned long long)m->vsize);
		if (m->order)
			o += (size_t)snprintf(buf + o, sizeof buf - o, " O%u", m->order);
	}
	return buf;
}

START_TEST(test_merge_courier)
{
	struct mstate ms = { 0 };
	static const struct present_msg msgs[] = {
		{ "1000.M1P1.h:2,S", 100, 10, 110 },     /* a: UID 3 */
		{ "1001.M1P1.h", 200, 20, 208 },         /* b: UID 5, no final LF */
		{ "1002.M1P1.h:2,RS", 300, 30, -1 },     /* c: UID 7, not in POP3 */
		{ "1003.M1P1.h:2,", 400, 40, -1 },       /* d: POP3 only */
		{ "1004.M1P1.h", 500, 50, -1 },          /* e: listed nowhere */
	};

	courier_uiddb_parse(L("1 100 10\n3 1000.M1P1.h\n5 1001.M1P1.h:2,S\n7 1002.M1P1.h\n"),
	    "u", &ms.db, &F);
	courier_pop3_parse(L("/3 4 555\n1001.M1P1.h 210 1:555:0\n1000.M1P1.h:2,S 110 2:555:0\n"
	    "1003.M1P1.h 410 3:555:0\n"), "p", &ms.p, &F);
	struct serverstate_in in = { .msgs = msgs, .n = ARRAY_SIZE(msgs), .uiddb = &ms.db,
	    .pop3 = &ms.p, .pop3_source = POP3_COURIER, .validity_fallback = 999 };
	serverstate_merge(&in, &ms.st, &F);
	/* W only where the vsize is known; b's POP3 size has Courier's 2 bytes
	 * for the missing final LF, and Dovecot must get the real size */
	ck_assert_str_eq(codes(), "2 STATE-SIZE-DIFFERS");
	ck_assert_str_eq(F.v[0].text, "POP3 size 210 of 1001.M1P1.h is not its size with CR LF "
	    "line ends: Dovecot will report 208");
	ck_assert_uint_eq(ms.st.validity, 100);
	/* fresh: d first (POP3 order), then e */
	ck_assert_str_eq(merged(&ms.st), "3 PUID2-555 W110 O2|5 PUID1-555 W208 O1|7|"
	    "10* PUID3-555 O3|11*");
	ck_assert_uint_eq(ms.st.next, 12);
	ck_assert_uint_eq(ms.st.kept, 3);
	ck_assert_uint_eq(ms.st.fresh, 2);
	ck_assert_uint_eq(ms.st.uidls, 3);
	ck_assert_uint_eq(ms.st.orders, 3);

	struct strbuf sb = STRBUF_INIT;
	serverstate_format_uidlist(&ms.st, msgs, &sb);
	char *g = strstr(sb.buf, " G");
	ck_assert_ptr_nonnull(g);
	ck_assert_uint_eq(strspn(g + 2, "0123456789abcdef"), 32);
	memmove(g + 3, g + 34, strlen(g + 34) + 1);
	g[2] = '*';
	ck_assert_str_eq(sb.buf, "3 V100 N12 G*\n"
	    "3 PUID2-555 W110 O2 :1000.M1P1.h:2,S\n"
	    "5 PUID1-555 W208 O1 :1001.M1P1.h\n"
	    "7 :1002.M1P1.h:2,RS\n"
	    "10 PUID3-555 O3 :1003.M1P1.h:2,\n"
	    "11 :1004.M1P1.h\n");
	sb_free(&sb);
	mstate_free(&ms);
}
END_TEST

START_TEST(test_merge_ill_ordered)
{
	struct mstate ms = { 0 };
	static const struct present_msg msgs[] = {
		{ "a", 1, 1, -1 }, { "b", 1, 1, -1 }, { "c", 1, 1, -1 }, { "d", 1, 1, -1 }, { "e", 1, 1, -1 },
	};

	/* c's 5 is not above b's 9: fresh; gone's 12 raises next but names
	 * no file; e's 10 follows 9 and stays */
	courier_uiddb_parse(L("1 77 11\n3 a\n9 b\n5 c\n12 gone\n10 e\n4 d\n"), "U", &ms.db, &F);
	struct serverstate_in in = { .msgs = msgs, .n = 5, .uiddb = &ms.db };
	serverstate_merge(&in, &ms.st, &F);
	ck_assert_str_eq(codes(), "4 STATE-UID-ORDER 5 STATE-MISSING-FILE 7 STATE-UID-ORDER");
	ck_assert_str_eq(F.v[0].file, "U");
	ck_assert_str_eq(F.v[0].text, "UID 5 of c is not above the UID 9 before it: a fresh UID");
	ck_assert_str_eq(merged(&ms.st), "3|9|13*|14*|10");
	ck_assert_uint_eq(ms.st.next, 15);
	mstate_free(&ms);
}
END_TEST

START_TEST(test_merge_missing_and_duplicates)
{
	struct mstate ms = { 0 };
	static const struct present_msg msgs[] = {
		{ "100.a.h:2,S", 11, 1, -1 },
		{ "100.a.h", 12, 1, -1 },          /* the same base name in new/ */
		{ "200.b.h", 13, 1, -1 },
	};

	courier_uiddb_parse(L("1 5 3\n1 100.a.h\n2 200.b.h\n"), "u", &ms.db, &F);
	courier_pop3_parse(L("/3 4 9\n100.a.h 20 1:9:0\n150.gone.h 20 2:9:0\n200.b.h 30 3:9:0\n"),
	    "p", &ms.p, &F);
	struct serverstate_in in = { .msgs = msgs, .n = 3, .uiddb = &ms.db, .pop3 = &ms.p,
	    .pop3_source = POP3_COURIER };
	serverstate_merge(&in, &ms.st, &F);
	ck_assert_str_eq(codes(), "0 STATE-DUPLICATE-NAME 3 STATE-MISSING-FILE");
	ck_assert_str_eq(F.v[0].file, "100.a.h");
	ck_assert_str_eq(F.v[1].file, "p");
	ck_assert_str_eq(merged(&ms.st), "1 PUID1-9 O1|3*|2 PUID3-9 O2");
	ck_assert_uint_eq(ms.st.next, 4);
	mstate_free(&ms);
}
END_TEST

START_TEST(test_merge_pop3_only)
{
	struct mstate ms = { 0 };
	static const struct present_msg msgs[] = {
		{ "30.x", 1, 1, -1 }, { "10.y", 1, 1, -1 }, { "20.z", 1, 1, -1 }, { "5.w", 1, 1, -1 },
	};

	/* no courierimapuiddb: the fallback UIDVALIDITY; UIDs in POP3 order,
	 * then in delivery order (5.w before 30.x) */
	courier_pop3_parse(L("20.z 7\n10.y 8\n"), "p", &ms.p, &F);
	struct serverstate_in in = { .msgs = msgs, .n = 4, .pop3 = &ms.p,
	    .pop3_source = POP3_COURIER, .validity_fallback = 1700000000 };
	serverstate_merge(&in, &ms.st, &F);
	ck_assert_uint_eq(F.n, 0);
	ck_assert_uint_eq(ms.st.validity, 1700000000);
	ck_assert_str_eq(merged(&ms.st), "4*|2* P10.y O2|1* P20.z O1|3*");
	ck_assert_uint_eq(ms.st.next, 5);
	ck_assert_uint_eq(ms.st.fresh, 4);
	mstate_free(&ms);
}
END_TEST

START_TEST(test_merge_qmail)
{
	struct mstate ms = { 0 };
	static const struct present_msg msgs[] = {
		{ "1000.a.h:2,S", 10, 300, 12 },
		{ "1001.b.h", 20, 100, -1 },
		{ "1002.c d:2,", 30, 200, -1 },     /* a space: the empty P (base name) */
		{ "999.e.h", 40, 200, -1 },         /* same mtime as c: delivery order */
	};
	struct serverstate_in in = { .msgs = msgs, .n = 4, .pop3_source = POP3_QMAIL,
	    .validity_fallback = 42 };

	serverstate_merge(&in, &ms.st, &F);
	ck_assert_uint_eq(F.n, 0);
	ck_assert_str_eq(merged(&ms.st), "4* P1000.a.h W12 O4|1* P1001.b.h O1|3* P O3|2* P999.e.h O2");
	ck_assert_uint_eq(ms.st.next, 5);
	ck_assert_uint_eq(ms.st.validity, 42);
	mstate_free(&ms);
}
END_TEST

START_TEST(test_merge_keywords)
{
	struct mstate ms = { 0 };
	struct strbuf list = STRBUF_INIT;
	struct present_msg msgs[3] = {
		{ "m0:2,S", 1, 1, -1 }, { "m1", 1, 1, -1 }, { "m2", 1, 1, -1 },
	};
	char *existing[26] = { 0 };

	existing[0] = "$Junk";
	existing[1] = "k5";            /* reused, compared case-insensitively */
	existing[3] = "unused";
	/* 30 keywords k0..k29 and $Forwarded: m0 has all, m1 k29 and $Forwarded */
	for (int i = 0; i < 30; i++)
		sb_appendf(&list, i == 5 ? "K5\n" : "k%d\n", i);
	sb_appends(&list, "$Forwarded\n\nm0:");
	for (int i = 0; i < 31; i++)
		sb_appendf(&list, "%s%d", i ? " " : "", i);
	sb_appends(&list, "\nm1:29 30\nm2:\n");
	courier_kw_parse_list(list.buf, list.len, "k", &ms.kw, &F);
	struct serverstate_in in = { .msgs = msgs, .n = 3, .kw = &ms.kw, .dovecot_kw = existing };
	serverstate_merge(&in, &ms.st, &F);
	/* letters: a $Junk, b K5(k5), c k0, d unused, e.. k1..k4, k6.. : 26 letters
	 * hold 2 existing + 1 reused + 23 new (k0-k4, k6-k23); k24..k29 and
	 * $Forwarded find none */
	ck_assert_str_eq(ms.st.keywords[0], "$Junk");
	ck_assert_str_eq(ms.st.keywords[1], "k5");
	ck_assert_str_eq(ms.st.keywords[2], "k0");
	ck_assert_str_eq(ms.st.keywords[3], "unused");
	ck_assert_str_eq(ms.st.keywords[4], "k1");
	ck_assert_str_eq(ms.st.keywords[7], "k4");
	ck_assert_str_eq(ms.st.keywords[8], "k6");
	ck_assert_str_eq(ms.st.keywords[25], "k23");
	ck_assert_uint_eq(ms.st.ndropped, 7);
	ck_assert_str_eq(ms.st.dropped[0], "k24");
	ck_assert_str_eq(ms.st.dropped[5], "k29");
	ck_assert_str_eq(ms.st.dropped[6], "$Forwarded");
	ck_assert_str_eq(codes(), "0 STATE-TOO-MANY-KEYWORDS 0 STATE-TOO-MANY-KEYWORDS "
	    "0 STATE-TOO-MANY-KEYWORDS 0 STATE-TOO-MANY-KEYWORDS 0 STATE-TOO-MANY-KEYWORDS "
	    "0 STATE-TOO-MANY-KEYWORDS 0 STATE-TOO-MANY-KEYWORDS");
	ck_assert_str_eq(F.v[6].text,
	    "keyword \"$Forwarded\" (2 messages) not carried: a Maildir names 26 keywords");
	ck_assert_uint_eq(ms.st.m[0].keywords, 0x3fffff6u);    /* all but a and d */
	ck_assert_uint_eq(ms.st.m[0].flags, MF_PASSED);         /* $Forwarded is P even so */
	ck_assert_uint_eq(ms.st.m[1].keywords, 0);
	ck_assert_uint_eq(ms.st.m[1].flags, MF_PASSED);
	ck_assert_uint_eq(ms.st.m[2].keywords, 0);
	ck_assert_uint_eq(ms.st.m[2].flags, 0);
	ck_assert_uint_eq(ms.st.with_keywords, 1);

	struct strbuf sb = STRBUF_INIT;
	serverstate_format_keywords(&ms.st, &sb);
	ck_assert(strncmp(sb.buf, "0 $Junk\n1 k5\n2 k0\n3 unused\n4 k1\n", 32) == 0);
	ck_assert(strstr(sb.buf, "\n25 k23\n") != NULL);
	sb_free(&sb);
	sb_free(&list);
	mstate_free(&ms);
}
END_TEST

START_TEST(test_merge_forwarded_letter)
{
	struct mstate ms = { 0 };
	static const struct present_msg msgs[] = { { "m0", 1, 1, -1 }, { "m1", 1, 1, -1 } };

	courier_kw_parse_list(L("$Forwarded\nWork\nbad]\n\nm0:0 1 2\nm1:1\n"), "k", &ms.kw, &F);
	struct serverstate_in in = { .msgs = msgs, .n = 2, .kw = &ms.kw };
	serverstate_merge(&in, &ms.st, &F);
	ck_assert_str_eq(codes(), "3 STATE-BAD-KEYWORD");
	ck_assert_str_eq(ms.st.keywords[0], "$Forwarded");
	ck_assert_str_eq(ms.st.keywords[1], "Work");
	ck_assert_ptr_null(ms.st.keywords[2]);
	ck_assert_uint_eq(ms.st.m[0].keywords, 3);
	ck_assert_uint_eq(ms.st.m[0].flags, MF_PASSED);
	ck_assert_uint_eq(ms.st.m[1].keywords, 2);
	ck_assert_uint_eq(ms.st.m[1].flags, 0);
	mstate_free(&ms);
}
END_TEST

START_TEST(test_merge_exhausted)
{
	struct mstate ms = { 0 };
	static const struct present_msg msgs[] = { { "a", 1, 1, -1 }, { "b", 1, 1, -1 } };

	courier_uiddb_parse(L("1 8 4294967290\n4294967294 a\n"), "u", &ms.db, &F);
	struct serverstate_in in = { .msgs = msgs, .n = 2, .uiddb = &ms.db };
	serverstate_merge(&in, &ms.st, &F);
	ck_assert_str_eq(codes(), "0 STATE-UIDS-EXHAUSTED");
	ck_assert_uint_eq(ms.st.validity, 9);
	ck_assert_str_eq(merged(&ms.st), "1*|2*");
	ck_assert_uint_eq(ms.st.next, 3);
	mstate_free(&ms);
}
END_TEST

/* ---- loading from a maildir --------------------------------------------------- */

static char dir[64];
static int dfd = -1;

static void
md_setup(void)
{
	f_setup();
	strcpy(dir, "/tmp/check_serverstate.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ne(dfd, -1);
}

static void
md_teardown(void)
{
	char cmd[128];

	close(dfd);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	f_teardown();
}

static void
put(const char *name, const char *text)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write_all(fd, text, strlen(text)), 0);
	close(fd);
}

START_TEST(test_load)
{
	struct courier_state cs;

	ck_assert_int_eq(mkdirat(dfd, COURIER_KEYWORDS_DIR, 0700), 0);
	put(COURIER_UIDDB_FILE, "1 11 4\n1 m1\n2 m2\n3 m3\n");
	put(COURIER_POP3_FILE, "/3 4 22\nm1 10 1:22:0\nm3 30 3:22:0\n");
	put(COURIER_KEYWORDS_DIR "/:list", "a\nb\n\nm1:0\nm2:1\n");
	put(COURIER_KEYWORDS_DIR "/.4.m2", "a\n");
	put(COURIER_KEYWORDS_DIR "/.9.m2", "c\n");
	put(COURIER_KEYWORDS_DIR "/.tmp.99.m1", "zzz\n");
	put(COURIER_SUBSCRIBED_FILE, "INBOX.Sent\nINBOX.Trash\n");
	put(DOVECOT_SUBSCRIPTIONS_FILE, "V\t2\n\nWork\tOld\n");
	ck_assert_int_eq(courier_state_load(dfd, "Md", &cs, &F), 0);
	ck_assert_uint_eq(F.n, 0);
	ck_assert(cs.uiddb.present);
	ck_assert_uint_eq(cs.uiddb.n, 3);
	ck_assert(cs.pop3.present);
	ck_assert_str_eq(cs.pop3.e[1].uidl, "UID3-22");
	ck_assert_uint_eq(cs.kw.nnames, 3);
	ck_assert_str_eq(cs.kw.names[2], "c");
	const struct courier_kw_msg *m = courier_kw_lookup(&cs.kw, L("m2"));
	ck_assert_uint_eq(m->n, 1);
	ck_assert_uint_eq(m->idx[0], 2);
	ck_assert(cs.has_courier_subs && cs.has_dovecot_subs);
	ck_assert_uint_eq(cs.courier_subs.n, 2);
	ck_assert_str_eq(cs.courier_subs.names[1], "Trash");
	ck_assert_str_eq(cs.dovecot_subs.names[0], "Work.Old");
	courier_state_free(&cs);
}
END_TEST

START_TEST(test_load_unreadable)
{
	struct courier_state cs;

	/* a directory where a file belongs, a truncated list, nothing else */
	ck_assert_int_eq(mkdirat(dfd, COURIER_UIDDB_FILE, 0700), 0);
	put(COURIER_POP3_FILE, "/3 4 22\nm1 10 1:2");
	ck_assert_int_eq(courier_state_load(dfd, "Md", &cs, &F), 0);
	ck_assert_str_eq(codes(), "0 STATE-UNREADABLE 2 STATE-TRUNCATED");
	ck_assert_str_eq(F.v[0].file, "Md/courierimapuiddb");
	ck_assert_str_eq(F.v[0].text, "unable to read: Invalid argument: not used");
	ck_assert_str_eq(F.v[1].file, "Md/courierpop3dsizelist");
	ck_assert(!cs.uiddb.present);
	ck_assert(cs.pop3.present);
	ck_assert_uint_eq(cs.pop3.n, 0);
	ck_assert(!cs.kw.present);
	ck_assert(!cs.has_courier_subs && !cs.has_dovecot_subs);
	courier_state_free(&cs);
}
END_TEST

static Suite *
serverstate_suite(void)
{
	Suite *s = suite_create("serverstate");
	TCase *tc = tcase_create("courierimapuiddb");

	tcase_add_checked_fixture(tc, f_setup, f_teardown);
	tcase_add_test(tc, test_uiddb_canonical);
	tcase_add_test(tc, test_uiddb_raises_next);
	tcase_add_loop_test(tc, test_uiddb_unusable, 0, ARRAY_SIZE(uiddb_bad_cases));
	tcase_add_test(tc, test_uiddb_damaged_lines);
	tcase_add_test(tc, test_finding_format);
	suite_add_tcase(s, tc);

	tc = tcase_create("courierpop3dsizelist");
	tcase_add_checked_fixture(tc, f_setup, f_teardown);
	tcase_add_test(tc, test_pop3_uidl_encoding);
	tcase_add_loop_test(tc, test_pop3_versions, 0, ARRAY_SIZE(pop3_cases));
	tcase_add_loop_test(tc, test_pop3_damaged, 0, ARRAY_SIZE(pop3_bad_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("keywords and subscriptions");
	tcase_add_checked_fixture(tc, f_setup, f_teardown);
	tcase_add_test(tc, test_kw_list);
	tcase_add_test(tc, test_kw_pick_updates);
	tcase_add_test(tc, test_kw_updates);
	tcase_add_test(tc, test_subscriptions);
	suite_add_tcase(s, tc);

	tc = tcase_create("merge");
	tcase_add_checked_fixture(tc, f_setup, f_teardown);
	tcase_add_test(tc, test_merge_courier);
	tcase_add_test(tc, test_merge_ill_ordered);
	tcase_add_test(tc, test_merge_missing_and_duplicates);
	tcase_add_test(tc, test_merge_pop3_only);
	tcase_add_test(tc, test_merge_qmail);
	tcase_add_test(tc, test_merge_keywords);
	tcase_add_test(tc, test_merge_forwarded_letter);
	tcase_add_test(tc, test_merge_exhausted);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_add_checked_fixture(tc, md_setup, md_teardown);
	tcase_add_test(tc, test_load);
	tcase_add_test(tc, test_load_unreadable);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	report_init("check_serverstate");
	SRunner *sr = srunner_create(serverstate_suite());

	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
