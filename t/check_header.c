/*
 * check_header.c: unit tests for header.c: where the header ends (SPEC
 * §3.3), field iteration over folded and malformed lines (§3.2), lookup,
 * unfolding, Message-ID extraction (§3.6), the first addr-spec (§3.9) and
 * RFC 2047 decoding with the Windows-1252 fallback (§3.8, §3.4).
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"
#include "util.h"

#define L(s) s, sizeof(s) - 1

/* ---- header_block_len -------------------------------------------------- */

struct hbl_case {
	const char *buf;
	size_t len;
	size_t want;
	bool complete;
};

static const struct hbl_case hbl_cases[] = {
	{ L("A: 1\nB: 2\n\nbody\n"), 11, true },
	{ L("A: 1\r\nB: 2\r\n\r\nbody\r\n"), 14, true },
	{ L("\nbody\n"), 1, true },                          /* no header at all */
	{ L("\r\nbody\n"), 2, true },
	{ L(""), 0, false },                                 /* empty input */
	{ L("A: 1\nB: 2\n"), 10, false },                    /* no empty line */
	{ L("A: 1\nB: 2"), 9, false },                       /* no final newline */
	{ L("A: 1\n \nB: 2\n\nx"), 13, true },               /* SP-only line continues */
	{ L("A: 1\n\t\r\nB: 2\r\n\r\nx"), 16, true },        /* HT CR LF continues */
	{ L("To: a,\n \n"), 9, false },                      /* bigto.mbox: never ends */
	{ L("A: 1\n\r"), 6, false },                         /* lone CR at the end */
	{ L("A: 1\n\r\r\n\n"), 9, true },                    /* CR CR LF is not empty */
	{ L("A: \0\n\nb"), 6, true },                        /* NUL is data */
	{ L("A: 1\r\n\nbody"), 7, true },                    /* mixed: LF after CRLF */
};

START_TEST(test_block_len)
{
	const struct hbl_case *c = &hbl_cases[_i];
	bool complete = !c->complete;

	ck_assert_uint_eq(header_block_len(c->buf, c->len, &complete), c->want);
	ck_assert_int_eq(complete, c->complete);
}
END_TEST

/* ---- iteration ---------------------------------------------------------- */

struct want_field {
	const char *name;
	const char *value;      /* raw value bytes */
	size_t value_len;
	size_t line_len;
};

START_TEST(test_iter_folded)
{
	static const char hdr[] =
	    "Received: from a\n"
	    "\tby b; Tue, 1 Jul 2003 10:52:37 +0200\n"
	    "Subject : hello\r\n"
	    "   \r\n"
	    " world\r\n"
	    "X-Empty:\n"
	    "X-Last:last\n"
	    "\n"
	    "Body: not a field\n";
	static const struct want_field want[] = {
	    { "Received", L(" from a\n\tby b; Tue, 1 Jul 2003 10:52:37 +0200"), 55 },
	    { "Subject", L(" hello\r\n   \r\n world"), 30 },
	    { "X-Empty", L(""), 9 },
	    { "X-Last", L("last"), 12 },
	};
	struct header_iter it;
	struct header_field f;
	size_t i = 0, off = 0;

	header_iter_init(&it, hdr, sizeof hdr - 1);
	while (header_iter_next(&it, &f)) {
		ck_assert_uint_lt(i, ARRAY_SIZE(want));
		ck_assert_uint_eq(f.name_len, strlen(want[i].name));
		ck_assert(memcmp(f.name, want[i].name, f.name_len) == 0);
		ck_assert_uint_eq(f.value_len, want[i].value_len);
		ck_assert(memcmp(f.value, want[i].value, f.value_len) == 0);
		ck_assert_ptr_eq(f.line, hdr + off);
		ck_assert_uint_eq(f.line_len, want[i].line_len);
		off += f.line_len;
		i++;
	}
	ck_assert_uint_eq(i, ARRAY_SIZE(want));
	ck_assert_uint_eq(it.malformed, 0);
	ck_assert(!header_iter_next(&it, &f));   /* stays at the end */
}
END_TEST

START_TEST(test_iter_malformed)
{
	static const char hdr[] =
	    " leading continuation\n"
	    "From x Wed Jan  3 01:05:34 1996\n"      /* UUCP stamp: no colon */
	    "A: 1\n"
	    "no colon here\n"
	    " its continuation\n"
	    ": empty name\n"
	    "Bad\0Name: x\n"
	    "B: 2\0two\n"
	    "C: no final newline";
	struct header_iter it;
	struct header_field f;
	const char *names[3] = { "A", "B", "C" };
	size_t i = 0;

	header_iter_init(&it, hdr, sizeof hdr - 1);
	while (header_iter_next(&it, &f)) {
		ck_assert_uint_lt(i, 3);
		ck_assert_uint_eq(f.name_len, 1);
		ck_assert_int_eq(f.name[0], names[i][0]);
		i++;
		if (f.name[0] == 'B') {
			ck_assert_uint_eq(f.value_len, 6);
			ck_assert(memcmp(f.value, " 2\0two", 6) == 0);
		}
		if (f.name[0] == 'C') {
			ck_assert_uint_eq(f.value_len, 17);
			ck_assert_uint_eq(f.line_len, 19);
		}
	}
	ck_assert_uint_eq(i, 3);
	ck_assert_uint_eq(it.malformed, 5);
}
END_TEST

/* ---- the field index of recent blocks (header.c) ------------------------ */

struct walk {
	size_t n;
	size_t name[16], name_len[16], value[16], value_len[16], line[16], line_len[16];
	size_t p_after[16];
	unsigned malformed_after[16], malformed_end;
	size_t p_end;
};

/* Walk hdr; offsets relative to hdr. stop_after: fields taken before
 * between() runs (then the walk goes on). */
static void
walk(const char *hdr, size_t len, struct walk *w, size_t stop_after, void (*between)(void))
{
	struct header_iter it;
	struct header_field f;

	memset(w, 0, sizeof *w);
	header_iter_init(&it, hdr, len);
	while (header_iter_next(&it, &f)) {
		ck_assert_uint_lt(w->n, 16);
		w->name[w->n] = (size_t)(f.name - hdr);
		w->name_len[w->n] = f.name_len;
		w->value[w->n] = (size_t)(f.value - hdr);
		w->value_len[w->n] = f.value_len;
		w->line[w->n] = (size_t)(f.line - hdr);
		w->line_len[w->n] = f.line_len;
		w->p_after[w->n] = (size_t)(it.p - hdr);
		w->malformed_after[w->n] = it.malformed;
		w->n++;
		if (w->n == stop_after && between)
			between();
	}
	w->malformed_end = it.malformed;
	w->p_end = (size_t)(it.p - hdr);
}

static void
walk_eq(const struct walk *a, const struct walk *b)
{
	ck_assert_uint_eq(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		ck_assert_uint_eq(a->name[i], b->name[i]);
		ck_assert_uint_eq(a->name_len[i], b->name_len[i]);
		ck_assert_uint_eq(a->value[i], b->value[i]);
		ck_assert_uint_eq(a->value_len[i], b->value_len[i]);
		ck_assert_uint_eq(a->line[i], b->line[i]);
		ck_assert_uint_eq(a->line_len[i], b->line_len[i]);
		ck_assert_uint_eq(a->p_after[i], b->p_after[i]);
		ck_assert_uint_eq(a->malformed_after[i], b->malformed_after[i]);
	}
	ck_assert_uint_eq(a->malformed_end, b->malformed_end);
	ck_assert_uint_eq(a->p_end, b->p_end);
}

static const char ix_hdr[] =
    " leading continuation\n"
    "Received: from a.example.org by b.example.org with ESMTP; Mon, 4 Jan 2021\n"
    "\t10:00:00 +0000\n"
    "no colon here\n"
    " its continuation\n"
    "Subject: a subject long enough to make the block worth an index\n"
    "X-Empty:\n"
    ": empty name\n"
    "From: someone@example.org\n"
    "\n"
    "body\n";

static char other1[256];

/* the reader moves on: another block is pinned and walked */
static void
walk_others(void)
{
	struct walk w;
	header_index_pin(other1, strlen(other1));
	for (int k = 0; k < 2; k++) {
		walk(other1, strlen(other1), &w, 0, NULL);
		ck_assert_uint_eq(w.n, 2);
	}
}

START_TEST(test_iter_index)
{
	size_t len = sizeof ix_hdr - 1;
	struct walk first, again, copy, changed;
	char *dup = malloc(len + 64), *buf = malloc(len);

	walk(ix_hdr, len, &first, 0, NULL);     /* not pinned: line by line */
	ck_assert_uint_eq(first.n, 4);
	ck_assert_uint_eq(first.malformed_end, 3);
	ck_assert_uint_eq(first.malformed_after[0], 1);
	ck_assert_uint_eq(first.p_end, len);
	header_index_pin(ix_hdr, len);
	for (int k = 0; k < 3; k++) {           /* the first walk makes the index */
		walk(ix_hdr, len, &again, 0, NULL);
		walk_eq(&first, &again);
	}
	/* a walk that stops early leaves the fields it found; the next walk
	 * reads them and finds the rest; two walks in step share the index */
	struct header_field hf;
	header_index_pin(ix_hdr, len);
	ck_assert(header_find(ix_hdr, len, "Received", &hf));
	walk(ix_hdr, len, &again, 0, NULL);
	walk_eq(&first, &again);
	header_index_pin(ix_hdr, len);
	struct header_iter i1, i2;
	struct header_field f1, f2;
	header_iter_init(&i1, ix_hdr, len);
	header_iter_init(&i2, ix_hdr, len);
	for (size_t k = 0; k <= first.n; k++) {
		bool m1 = header_iter_next(&i1, &f1), m2 = header_iter_next(&i2, &f2);
		ck_assert(m1 == (k < first.n) && m2 == m1);
		if (!m1)
			break;
		ck_assert_uint_eq((size_t)(f1.value - ix_hdr), first.value[k]);
		ck_assert_uint_eq((size_t)(f2.value - ix_hdr), first.value[k]);
		ck_assert_uint_eq((size_t)(i2.p - ix_hdr), first.p_after[k]);
		ck_assert_uint_eq(i2.malformed, first.malformed_after[k]);
	}
	ck_assert_uint_eq(i1.malformed, first.malformed_end);
	ck_assert_uint_eq(i2.malformed, first.malformed_end);
	/* the same bytes at another address: line by line, the same fields */
	memcpy(dup + 17, ix_hdr, len);
	walk(dup + 17, len, &copy, 0, NULL);
	walk_eq(&first, &copy);
	/* a shorter view of the pinned bytes is not the pinned block */
	walk(ix_hdr, len - 5, &copy, 0, NULL);
	ck_assert_uint_eq(copy.n, 4);
	ck_assert_uint_eq(copy.p_end, len - 5);     /* the end of its view */

	/* the index is what the pinned block's walks read: bytes changed
	 * behind the pin (what a reader must not do) are not seen... */
	memcpy(buf, ix_hdr, len);
	header_index_pin(buf, len);
	walk(buf, len, &again, 0, NULL);
	walk_eq(&first, &again);
	char *colon = strstr(buf, "X-Empty:");
	colon[7] = ' ';                          /* "X-Empty " - a malformed line */
	colon[8] = ':';                          /* was LF: joins the next line */
	walk(buf, len, &again, 0, NULL);
	walk_eq(&first, &again);
	/* ...and a new pin of the same address and length reads the new ones */
	header_index_pin(buf, len);
	walk(buf, len, &changed, 0, NULL);
	ck_assert_uint_eq(changed.n, 4);
	ck_assert_uint_eq(changed.name_len[2], 7);   /* "X-Empty" before " :" */
	ck_assert_uint_eq(changed.value_len[2], 12); /* ": empty name" joined */
	ck_assert_uint_eq(changed.malformed_end, 2);
	/* as does a walk after a drop */
	memcpy(buf, ix_hdr, len);
	header_index_drop();
	walk(buf, len, &again, 0, NULL);
	walk_eq(&first, &again);

	/* a walk whose pin is replaced halfway carries on line by line from
	 * where it was */
	snprintf(other1, sizeof other1, "A: %0120d\nB: 1\n\n", 1);
	for (int stop = 1; stop <= 4; stop++) {
		header_index_pin(ix_hdr, len);
		walk(ix_hdr, len, &again, 0, NULL);          /* indexed */
		walk(ix_hdr, len, &again, (size_t)stop, walk_others);
		walk_eq(&first, &again);
	}
	header_index_drop();
	free(dup);
	free(buf);
}
END_TEST

/* header_may_have(): false only for a name the pinned block lacks; true
 * for every field it holds, in any case, and for any other block. Checked
 * against header_find() walking line by line, on a header of common field
 * names and on names that differ in one byte or their length. */
START_TEST(test_may_have)
{
	static const char h[] =
	    "Received: from a by b; Mon, 4 Jan 2021 10:00:00 +0000\n"
	    "Return-Path: <a@b>\nDate: Mon, 4 Jan 2021 10:00:00 +0000\nFrom: a@b\nTo: c@d\n"
	    "Subject: s\nMessage-ID: <x@y>\nMIME-Version: 1.0\nContent-Type: text/plain\n"
	    "Content-Transfer-Encoding: 8bit\nX-Mailer: m\nDKIM-Signature: v=1\nStatus: RO\n"
	    "In-Reply-To: <z@y>\nCc: e@f\nList-Id: <l>\nX-Status: A\nX-UIDL: 17\n\n";
	static const char *const names[] = {
		"Received", "received", "RETURN-PATH", "Date", "From", "To", "Subject",
		"Message-Id", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
		"X-Mailer", "DKIM-Signature", "Status", "In-Reply-To", "Cc", "List-Id",
		"x-status", "X-UIDL", "X-UID", "X-IMAP", "X-IMAPbase", "X-Keywords",
		"Content-Length", "Lines", "X-Mozilla-Status", "X-Mozilla-Status2",
		"X-Mozilla-Keys", "X-Evolution", "X-Gmail-Labels", "Statu", "Statuss", "T",
		"X-Statut", "Y-Status",
	};
	size_t len = sizeof h - 1, absent = 0, said_absent = 0;
	char *copy = malloc(len + 1);

	memcpy(copy, h, len + 1);
	for (int pass = 0; pass < 2; pass++) {
		/* pass 1: a walk stopped early first; header_may_have completes it */
		header_index_pin(h, len);
		if (pass == 1) {
			struct header_field f;
			ck_assert(header_find(h, len, "Return-Path", &f));
		}
		for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
			struct header_field f;
			bool there = false;
			struct header_iter it;
			header_iter_init(&it, copy, len);       /* not pinned: line by line */
			while (header_iter_next(&it, &f))
				there = there || (f.name_len == strlen(names[i]) &&
				    mem_ieq(f.name, names[i], f.name_len));
			bool may = header_may_have(h, len, names[i], strlen(names[i]));
			ck_assert_msg(may || !there, "%s is there, said absent", names[i]);
			ck_assert(header_may_have(copy, len, names[i], strlen(names[i])));
			ck_assert(header_find(h, len, names[i], &f) == there);
			absent += !there;
			said_absent += !may;
		}
	}
	/* 16 absent names, twice: a Bloom filter of 256 bits, two a name,
	 * leaves nearly all of them out */
	ck_assert_uint_eq(absent, 32);
	ck_assert_uint_ge(said_absent, 28);
	/* a new pin forgets the names */
	static const char small[] = "Subject: x\n\n";
	header_index_pin(small, sizeof small - 1);
	ck_assert(!header_may_have(small, sizeof small - 1, "Status", 6));
	ck_assert(header_may_have(small, sizeof small - 1, "SUBJECT", 7));
	header_index_pin(copy, len);
	ck_assert(header_may_have(h, len, "Status", 6));
	ck_assert(!header_may_have(copy, len, "X-Keywords", 10));
	memcpy(strstr(copy, "X-UIDL"), "X-UIDM", 6);    /* changed behind the pin */
	header_index_pin(copy, len);
	ck_assert(header_may_have(copy, len, "X-UIDM", 6));
	header_index_drop();
	ck_assert(header_may_have(copy, len, "X-Keywords", 10));
	free(copy);
}
END_TEST

START_TEST(test_iter_edges)
{
	struct header_iter it;
	struct header_field f;

	header_iter_init(&it, "", 0);
	ck_assert(!header_iter_next(&it, &f));
	header_iter_init(&it, L("\nA: 1\n"));          /* empty line first */
	ck_assert(!header_iter_next(&it, &f));
	header_iter_init(&it, L("\r\nA: 1\n"));
	ck_assert(!header_iter_next(&it, &f));
	header_iter_init(&it, L("A:\r\n\r\n"));
	ck_assert(header_iter_next(&it, &f));
	ck_assert_uint_eq(f.value_len, 0);
	ck_assert_uint_eq(f.line_len, 4);
	ck_assert(!header_iter_next(&it, &f));
	/* value ends in CR without LF at the end of the buffer: kept */
	header_iter_init(&it, L("A: x\r"));
	ck_assert(header_iter_next(&it, &f));
	ck_assert_uint_eq(f.value_len, 3);
}
END_TEST

START_TEST(test_find_count)
{
	static const char hdr[] =
	    "Status: RO\n"
	    "status: O\n"
	    "X-Status: A\n"
	    "STATUS : D\n"
	    "\n"
	    "Status: body\n";
	struct header_field f;

	ck_assert(header_find(hdr, sizeof hdr - 1, "status", &f));
	ck_assert_uint_eq(f.value_len, 3);
	ck_assert(memcmp(f.value, " RO", 3) == 0);
	ck_assert_uint_eq(header_count(hdr, sizeof hdr - 1, "Status"), 3);
	ck_assert_uint_eq(header_count(hdr, sizeof hdr - 1, "X-STATUS"), 1);
	ck_assert_uint_eq(header_count(hdr, sizeof hdr - 1, "X-Stat"), 0);
	ck_assert(!header_find(hdr, sizeof hdr - 1, "Stat", &f));
	ck_assert(!header_find(hdr, sizeof hdr - 1, "Date", &f));
	ck_assert(!header_find("", 0, "Date", &f));
}
END_TEST

/* ---- unfolding ---------------------------------------------------------- */

struct unfold_case {
	const char *in;
	size_t len;
	const char *out;
	size_t out_len;
};

static const struct unfold_case unfold_cases[] = {
	{ L(" hello\r\n world"), L("hello world") },
	{ L(" hello\n\tworld  "), L("hello\tworld") },
	{ L(" a\r\n   \r\n b"), L("a    b") },
	{ L("a\0b"), L("a b") },
	{ L("a\nb"), L("a\nb") },             /* LF without WSP stays */
	{ L("a\r\nb"), L("a\r\nb") },
	{ L(""), L("") },
	{ L(" \t "), L("") },
	{ L("\r\n x"), L("x") },
};

START_TEST(test_unfold)
{
	const struct unfold_case *c = &unfold_cases[_i];
	struct strbuf sb = STRBUF_INIT;

	sb_appends(&sb, "stale");
	header_unfold(c->in, c->len, &sb);
	ck_assert_uint_eq(sb.len, c->out_len);
	ck_assert(memcmp(sb.buf, c->out, c->out_len) == 0);
	ck_assert_int_eq(sb.buf[sb.len], '\0');
	sb_free(&sb);
}
END_TEST

/* ---- Message-ID --------------------------------------------------------- */

struct mid_case {
	const char *hdr;
	size_t len;
	bool ok;
	const char *id;
};

static const struct mid_case mid_cases[] = {
	{ L("Message-ID: <abc@example.com>\n\n"), true, "abc@example.com" },
	{ L("message-id:<abc@example.com>\n"), true, "abc@example.com" },
	{ L("Message-Id: abc@example.com\n"), true, "abc@example.com" },        /* no brackets */
	{ L("Message-ID: <abc>\n"), true, "abc" },                               /* no @ */
	{ L("Message-ID: <abc@ex\n ample.com>\n"), true, "abc@ex ample.com" },  /* folded inside */
	{ L("Message-ID:\n <abc@example.com>\n"), true, "abc@example.com" },
	{ L("Message-ID: <abc@example.com> (added by relay)\n"), true, "abc@example.com" },
	{ L("Message-ID: (c) <abc@(x)example.com>\n"), true, "abc@example.com" },
	{ L("Message-ID: <a b@c>\n"), true, "a b@c" },                           /* space inside */
	{ L("Message-ID: <\"q(x)\"@c>\n"), true, "\"q(x)\"@c" },               /* quoted local part */
	{ L("Message-ID: <first@x>\nMessage-ID: <second@x>\n"), true, "first@x" },
	{ L("Message-ID: <a@x> <b@x>\n"), true, "a@x" },
	{ L("Message-ID: <a@\xe9x>\n"), true, "a@\xe9x" },                      /* non-ASCII */
	{ L("Message-ID: <unclosed@x\n"), true, "unclosed@x" },
	{ L("Message-ID: <>\n"), false, NULL },
	{ L("Message-ID:\n"), false, NULL },
	{ L("Message-ID:   \n"), false, NULL },
	{ L("Message-ID: no-at-sign\n"), false, NULL },
	{ L("Message-ID: two words@x\n"), false, NULL },
	{ L("Message-ID: (only a comment)\n"), false, NULL },
	{ L("Subject: x\n"), false, NULL },
	{ L("\nMessage-ID: <body@x>\n"), false, NULL },
	{ L("Message-ID: <>\nMessage-ID: <second@x>\n"), false, NULL },          /* the first counts */
};

START_TEST(test_message_id)
{
	const struct mid_case *c = &mid_cases[_i];
	struct strbuf sb = STRBUF_INIT;

	bool ok = header_message_id(c->hdr, c->len, &sb);
	ck_assert_msg(ok == c->ok, "case %d: %d", _i, ok);
	if (ok)
		ck_assert_str_eq(sb.buf, c->id);
	sb_free(&sb);
}
END_TEST

/* ---- addr-spec ---------------------------------------------------------- */

struct addr_case {
	const char *value;
	bool lower;
	bool ok;
	const char *addr;
};

static const struct addr_case addr_cases[] = {
	{ "john@example.com", false, true, "john@example.com" },
	{ " John Smith <John@Example.COM>", false, true, "John@Example.COM" },
	{ " John Smith <John@Example.COM>", true, true, "john@example.com" },
	{ "\"Smith, John\" <john@example.com>", false, true, "john@example.com" },
	{ "\"a <b@c>\" <real@example.com>", false, true, "real@example.com" },
	{ "john@example.com (John Smith)", false, true, "john@example.com" },
	{ "(comment) john@example.com", false, true, "john@example.com" },
	{ "John (the <fake@x> one) <john@example.com>", false, true, "john@example.com" },
	{ "\"john smith\"@example.com", false, true, "\"john smith\"@example.com" },
	{ "\"John Smith\"@Example.com", true, true, "\"john smith\"@example.com" },
	{ "<@relay1.example,@relay2.example:john@example.com>", false, true, "john@example.com" },
	{ "Name <@relay:john@example.com>", false, true, "john@example.com" },
	{ "john . smith @ example . com", false, true, "john.smith@example.com" },
	{ "< john@example.com >", false, true, "john@example.com" },
	{ "<john(c)@example.com>", false, true, "john@example.com" },
	{ "friends: a@example.com, b@example.com;", false, true, "a@example.com" },
	{ "undisclosed-recipients:;", false, false, NULL },
	{ "undisclosed-recipients:;, x@example.com", false, true, "x@example.com" },
	{ "no address here", false, false, NULL },
	{ "root", false, false, NULL },
	{ "Name <local-only>, second@example.com", false, true, "second@example.com" },
	{ "first@example.com, second@example.com", false, true, "first@example.com" },
	{ "a@b c@d", false, true, "a@b" },
	{ "<>", false, true, "" },
	{ " <> ", false, true, "" },
	{ "", false, false, NULL },
	{ "=?UTF-8?Q?J=C3=B6rg?= <jorg@example.com>", false, true, "jorg@example.com" },
	{ "Jo\xc3\xabl <joel@example.com>", false, true, "joel@example.com" },
	{ "<unclosed@example.com", false, true, "unclosed@example.com" },
	{ "Name\r\n <folded@example.com>", false, true, "folded@example.com" },
};

START_TEST(test_addr_spec)
{
	const struct addr_case *c = &addr_cases[_i];
	struct strbuf sb = STRBUF_INIT;

	bool ok = header_addr_spec(c->value, strlen(c->value), c->lower, &sb);
	ck_assert_msg(ok == c->ok, "case %d \"%s\": %d", _i, c->value, ok);
	if (ok)
		ck_assert_str_eq(sb.buf, c->addr);
	sb_free(&sb);
}
END_TEST

/* ---- RFC 2047 ----------------------------------------------------------- */

struct d2047_case {
	const char *in;
	const char *out;
	unsigned bad;
};

static const struct d2047_case d2047_cases[] = {
	{ "plain text", "plain text", 0 },
	{ "", "", 0 },
	{ "=?UTF-8?Q?J=C3=B6rg?=", "J\xc3\xb6rg", 0 },
	{ "=?utf-8?q?J=c3=b6rg_Sch?=", "J\xc3\xb6rg Sch", 0 },                      /* lower case */
	{ "=?ISO-8859-1?B?SvZyZw==?=", "J\xc3\xb6rg", 0 },
	{ "=?iso-8859-1?b?SvZyZw?=", "J\xc3\xb6rg", 0 },                             /* no padding */
	{ "=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab", 0 },                       /* adjacent */
	{ "=?ISO-8859-1?Q?a?=\r\n =?UTF-8?Q?b?=", "ab", 0 },                        /* folded, two charsets */
	{ "=?ISO-8859-1?Q?a?= x =?ISO-8859-1?Q?b?=", "a x b", 0 },                  /* text between */
	{ "Re: =?UTF-8?B?w6k=?= ok", "Re: \xc3\xa9 ok", 0 },
	{ "\"=?UTF-8?Q?J=C3=B6rg?=\" <j@x>", "\"J\xc3\xb6rg\" <j@x>", 0 },        /* inside quotes */
	{ "x=?UTF-8?Q?=C3=A9?=y", "x\xc3\xa9y", 0 },                               /* glued to text */
	{ "=?UTF-8?Q?=E2=82?= =?UTF-8?Q?=AC?=", "\xe2\x82\xac", 0 },                /* split euro sign */
	{ "=?UTF-8?B?4oI=?= =?UTF-8?B?rA==?=", "\xe2\x82\xac", 0 },
	{ "=?utf-8*en?Q?hi?=", "hi", 0 },                                            /* RFC 2231 language */
	{ "=?windows-1252?Q?=80?=", "\xe2\x82\xac", 0 },
	{ "=?x-unknown?Q?abc?=", "=?x-unknown?Q?abc?=", 1 },
	{ "=?x-unknown?Q?a?= =?x-unknown?Q?b?=", "=?x-unknown?Q?a?= =?x-unknown?Q?b?=", 2 },
	{ "=?UTF-8?B?!!!!?=", "=?UTF-8?B?!!!!?=", 1 },                             /* bad base64 */
	{ "=?UTF-8?Q?=ZZ?=", "=?UTF-8?Q?=ZZ?=", 1 },                               /* bad hex */
	{ "=?UTF-8?Q?=C3?=", "=?UTF-8?Q?=C3?=", 1 },                               /* truncated UTF-8 */
	{ "=?UTF-8?Q?a?= =?UTF-8?B?!?= =?UTF-8?Q?b?=", "a =?UTF-8?B?!?= b", 1 },
	{ "=?UTF-8?X?abc?=", "=?UTF-8?X?abc?=", 0 },                               /* not a word */
	{ "=?UTF-8?Q?a b?=", "=?UTF-8?Q?a b?=", 0 },                               /* SP inside */
	{ "=?UTF-8?Q?abc", "=?UTF-8?Q?abc", 0 },
	{ "=??Q?abc?=", "=??Q?abc?=", 0 },
	{ "a =? b", "a =? b", 0 },
	/* raw bytes: UTF-8 as is, otherwise Windows-1252 */
	{ "caf\xc3\xa9", "caf\xc3\xa9", 0 },
	{ "caf\xe9", "caf\xc3\xa9", 0 },
	{ "\x80 \x93x\x94", "\xe2\x82\xac \xe2\x80\x9cx\xe2\x80\x9d", 0 },
	{ "\x81", "\xef\xbf\xbd", 0 },
	{ "\xc3", "\xc3\x83", 0 },                                                   /* lone lead byte */
	{ "\xed\xa0\x80", "\xc3\xad\xc2\xa0\xe2\x82\xac", 0 },                       /* surrogate: not UTF-8 */
	{ "\xe9 =?UTF-8?Q?=C3=A9?=", "\xc3\xa9 \xc3\xa9", 0 },
};

static bool
drop_x(const struct header_field *f, void *arg)
{
	(*(int *)arg)++;
	return f->name_len >= 2 && (f->name[0] == 'X' || f->name[0] == 'x') && f->name[1] == '-';
}

static void
count_runs(void *ctx, const char *p, size_t n)
{
	(void)p;
	ck_assert_uint_gt(n, 0);
	(*(int *)ctx)++;
}

/* header_filter: whole fields (with their continuation lines) left out,
 * malformed lines and the empty line kept, one run per gap. */
START_TEST(test_filter)
{
	static const char h[] =
		"X-First: 1\n"
		"Subject: a\n"
		"x-folded: b\n"
		"\tc\n"
		"no colon here\n"
		"To: d\r\n"
		"X-Last: e\n"
		"\n";
	struct strbuf out = STRBUF_INIT;
	int seen = 0, runs = 0;

	ck_assert_uint_eq(header_filter_sb(h, sizeof h - 1, drop_x, &seen, &out), 3);
	ck_assert_int_eq(seen, 5);
	ck_assert_uint_eq(out.len, strlen("Subject: a\nno colon here\nTo: d\r\n\n"));
	ck_assert_mem_eq(out.buf, "Subject: a\nno colon here\nTo: d\r\n\n", out.len);
	seen = 0;
	ck_assert_uint_eq(header_filter(h, sizeof h - 1, drop_x, &seen, count_runs, &runs), 3);
	ck_assert_int_eq(runs, 3);
	/* nothing to leave out: the block as it is, in one run */
	runs = 0;
	ck_assert_uint_eq(header_filter("A: 1\n\n", 6, drop_x, &seen, count_runs, &runs), 0);
	ck_assert_int_eq(runs, 1);
	sb_free(&out);
}
END_TEST

START_TEST(test_decode_2047)
{
	const struct d2047_case *c = &d2047_cases[_i];
	struct strbuf sb = STRBUF_INIT;
	unsigned bad = 77;

	sb_appends(&sb, "stale");
	header_decode_2047(c->in, strlen(c->in), &sb, &bad);
	ck_assert_msg(sb.len == strlen(c->out) && memcmp(sb.buf, c->out, sb.len) == 0,
	    "case %d: got \"%s\", want \"%s\"", _i, sb.buf, c->out);
	ck_assert_uint_eq(bad, c->bad);
	header_decode_2047(c->in, strlen(c->in), &sb, NULL);
	ck_assert_uint_eq(sb.len, strlen(c->out));
	sb_free(&sb);
}
END_TEST

START_TEST(test_decode_2047_nul)
{
	struct strbuf sb = STRBUF_INIT;
	unsigned bad;

	header_decode_2047(L("a\0=?UTF-8?Q?b=00c?="), &sb, &bad);
	ck_assert_uint_eq(sb.len, 5);
	ck_assert(memcmp(sb.buf, "a\0b\0c", 5) == 0);
	ck_assert_uint_eq(bad, 0);
	sb_free(&sb);
}
END_TEST

static Suite *
header_suite(void)
{
	Suite *s = suite_create("header");
	TCase *tc;

	tc = tcase_create("block");
	tcase_add_loop_test(tc, test_block_len, 0, (int)ARRAY_SIZE(hbl_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("fields");
	tcase_add_test(tc, test_iter_folded);
	tcase_add_test(tc, test_iter_malformed);
	tcase_add_test(tc, test_iter_edges);
	tcase_add_test(tc, test_iter_index);
	tcase_add_test(tc, test_may_have);
	tcase_add_test(tc, test_find_count);
	tcase_add_test(tc, test_filter);
	tcase_add_loop_test(tc, test_unfold, 0, (int)ARRAY_SIZE(unfold_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("message-id");
	tcase_add_loop_test(tc, test_message_id, 0, (int)ARRAY_SIZE(mid_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("address");
	tcase_add_loop_test(tc, test_addr_spec, 0, (int)ARRAY_SIZE(addr_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("rfc2047");
	tcase_add_loop_test(tc, test_decode_2047, 0, (int)ARRAY_SIZE(d2047_cases));
	tcase_add_test(tc, test_decode_2047_nul);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(header_suite());

	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
