/*
 * check_dedupkey.c: unit tests for dedupkey.c (DESIGN §3 dedup, SPEC §3.6,
 * §2.8): the exact canonical stream of every key, which pairs of messages
 * each key calls duplicates (hash and comparator must agree), independence
 * from chunking (a CR at a chunk end, byte-by-byte feeding, headers past
 * READER_HEADER_MAX), the comparator's spill to a file for large messages,
 * and hash truncation under MAILSHIFT_HASH_BITS.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "dedupkey.h"
#include "message.h"
#include "util.h"

#define L(s) s, sizeof(s) - 1

static void
sink_sb(void *arg, const void *p, size_t n)
{
	sb_append(arg, p, n);
}

/* The canonical stream of msg, fed in chunks of `step` bytes (0 = whole). */
static void
stream_of(enum dedup_key key, const char *msg, size_t len, size_t step, struct strbuf *out)
{
	struct dedupkey k;

	sb_reset(out);
	dedupkey_init(&k, key, sink_sb, out);
	for (size_t off = 0; off < len;) {
		size_t n = step && step < len - off ? step : len - off;
		dedupkey_feed(&k, msg + off, n);
		off += n;
	}
	dedupkey_finish(&k, NULL);
	dedupkey_free(&k);
}

static struct dedup_hash
hash_step(enum dedup_key key, const char *msg, size_t len, size_t step)
{
	struct dedupkey k;
	struct dedup_hash h;

	dedupkey_init(&k, key, NULL, NULL);
	for (size_t off = 0; off < len;) {
		size_t n = step && step < len - off ? step : len - off;
		dedupkey_feed(&k, msg + off, n);
		off += n;
	}
	dedupkey_finish(&k, &h);
	dedupkey_free(&k);
	return h;
}

static bool
cmp_pair(enum dedup_key key, const char *a, size_t alen, const char *b, size_t blen)
{
	struct dedupkey_cmp c;

	dedupkey_cmp_init(&c, key);
	dedupkey_cmp_a(&c, a, alen);
	dedupkey_cmp_b(&c, b, blen);
	bool eq = dedupkey_cmp_equal(&c);
	dedupkey_cmp_free(&c);
	return eq;
}

/* ---- the documented streams ------------------------------------------------ */

#define MSG "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n" \
	"From: Ann <ann@example.org>\r\nSubject: A\r\n  folded\t\tsubject\r\n" \
	"Status: RO\r\nX-Status: F\r\nMessage-ID: <id1@example.org> (comment)\r\n" \
	"Content-Length: 9\r\n\r\nline\r\nend\r\n"

static const struct stream_case {
	enum dedup_key key;
	const char *msg;
	size_t len;
	const char *want;
	size_t wlen;
} stream_cases[] = {
	{ DEDUP_KEY_MESSAGE_ID, L(MSG), L("id:15:id1@example.org") },
	{ DEDUP_KEY_BODY, L(MSG), L("body:line\nend\n") },
	{ DEDUP_KEY_DEFAULT, L(MSG), L("id:15:id1@example.org\nbody:line\nend\n") },
	{ DEDUP_KEY_HEADERS, L(MSG), L("hdr:From:Ann <ann@example.org>\nTo\nCc\n"
	    "Subject:A folded subject\nDate\nid:15:id1@example.org") },
	{ DEDUP_KEY_FULL, L(MSG), L("full:Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\n"
	    "From: Ann <ann@example.org>\nSubject: A\n  folded\t\tsubject\n"
	    "Message-ID: <id1@example.org> (comment)\n\nline\nend\n") },
	/* no Message-ID: everything but body falls back to full */
	{ DEDUP_KEY_DEFAULT, L("A: b\n\nx\n"), L("full:A: b\n\nx\n") },
	{ DEDUP_KEY_MESSAGE_ID, L("Message-ID: <>\n\nx\n"), L("full:Message-ID: <>\n\nx\n") },
	{ DEDUP_KEY_HEADERS, L("Message-ID:\n\nx"), L("full:Message-ID:\n\nx") },
	{ DEDUP_KEY_BODY, L("A: b\n\nx\n"), L("body:x\n") },
	/* ID without brackets: one token with '@' */
	{ DEDUP_KEY_MESSAGE_ID, L("Message-Id:  bare@host \n\n"), L("id:9:bare@host") },
	/* no empty line: all header, no body */
	{ DEDUP_KEY_BODY, L("A: b\nC: d"), L("body:") },
	{ DEDUP_KEY_FULL, L("A: b\nC: d\r"), L("full:A: b\nC: d\r") },
	/* empty message, lone CR, NUL bytes, CR CR LF */
	{ DEDUP_KEY_FULL, L(""), L("full:") },
	{ DEDUP_KEY_BODY, L("\nA\rB\0C\r\r\n"), L("body:A\rB\0C\r\n") },
	/* metadata fields of every spelling and folded go; lookalikes stay */
	{ DEDUP_KEY_FULL, L("status: R\n O\nX-UID: 1\nX-IMAPbase: 1 2\nX-IMAP: 1 2\nLines: 3\n"
	    "X-Keywords: a\nX-Status-Foo: 1\nX-Statuses: 2\n\nb"),
	  L("full:X-Status-Foo: 1\nX-Statuses: 2\n\nb") },
};

START_TEST(test_stream)
{
	const struct stream_case *c = &stream_cases[_i];
	struct strbuf sb = STRBUF_INIT;
	struct dedup_hash h;

	for (size_t step = 0; step <= 3; step++) {
		stream_of(c->key, c->msg, c->len, step, &sb);
		ck_assert_uint_eq(sb.len, c->wlen);
		ck_assert_mem_eq(sb.buf ? sb.buf : "", c->want, c->wlen);
	}
	/* the hash is XXH3-128 of exactly that stream */
	dedupkey_hash_mem(c->key, c->msg, c->len, &h);
	XXH128_hash_t x = XXH3_128bits(c->want, c->wlen);
	ck_assert_uint_eq(h.hi, x.high64);
	ck_assert_uint_eq(h.lo, x.low64);
	sb_free(&sb);
}
END_TEST

/* ---- which pairs are duplicates ---------------------------------------- */

#define H1 "From: a@x\nTo: b@x\nSubject: s\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
#define R1 "Received: from one; Mon, 1 Jan 2024 00:00:00 +0000\n"
#define R2 "Received: from two; Tue, 2 Jan 2024 00:00:00 +0000\nDelivered-To: c@x\n"

static const struct pair_case {
	enum dedup_key key;
	const char *a;
	size_t alen;
	const char *b;
	size_t blen;
	bool dup;
} pair_cases[] = {
	/* default: Message-ID and body */
	{ DEDUP_KEY_DEFAULT, L(H1 "Message-ID: <m@x>\n\nbody\n"), L(H1 "Message-ID: <m@x>\n\nbody\n"), true },
	{ DEDUP_KEY_DEFAULT, L(R1 H1 "Message-ID: <m@x>\n\nbody\n"), L(R2 H1 "Message-ID: <m@x>\n\nbody\n"), true },
	{ DEDUP_KEY_DEFAULT, L(H1 "Message-ID: <m@x>\n\nbody\n"), L(H1 "Message-ID: <m@x>\n\nbody2\n"), false },
	{ DEDUP_KEY_DEFAULT, L(H1 "Message-ID: <m@x>\n\nbody\n"), L(H1 "Message-ID: <M@x>\n\nbody\n"), false },
	{ DEDUP_KEY_DEFAULT, L(H1 "Message-ID: <m@x>\n\nbody\n"), L("Message-ID: <m@x>\r\n\r\nbody\r\n"), true },
	{ DEDUP_KEY_DEFAULT, L("Message-ID: <m@x> (c)\n\nb"), L("Message-ID: m@x\n\nb"), true },
	{ DEDUP_KEY_DEFAULT, L("Message-ID:\n <m@x>\n\nb"), L("Message-ID: <m@x>\n\nb"), true },
	{ DEDUP_KEY_DEFAULT, L("Message-ID: <m@x>\n\nb"), L("Message-ID: <m@x>\n\nb\n"), false },
	{ DEDUP_KEY_DEFAULT, L("Message-ID: <m@x>\n\nb\n"), L("Message-ID: <m@x>\n\nb \n"), false },
	{ DEDUP_KEY_DEFAULT, L(R1 H1 "\nbody\n"), L(R1 H1 "\nbody\n"), true },
	{ DEDUP_KEY_DEFAULT, L(R1 H1 "\nbody\n"), L(R2 H1 "\nbody\n"), false },
	{ DEDUP_KEY_DEFAULT, L(R1 H1 "\nbody\n"), L(R1 H1 "Status: RO\n\nbody\n"), true },
	{ DEDUP_KEY_DEFAULT, L(H1 "\nbody\n"), L(H1 "Message-ID: <m@x>\n\nbody\n"), false },
	{ DEDUP_KEY_DEFAULT, L(H1 "Message-ID: <>\n\nb\n"), L(H1 "\nb\n"), false },
	/* message-id */
	{ DEDUP_KEY_MESSAGE_ID, L("Message-ID: <m@x>\n\none"), L("Message-ID: <m@x>\n\ntwo"), true },
	{ DEDUP_KEY_MESSAGE_ID, L("Message-ID: <m@x>\n\none"), L("Message-ID: <n@x>\n\none"), false },
	{ DEDUP_KEY_MESSAGE_ID, L("A: 1\n\none"), L("A: 2\n\none"), false },
	/* body */
	{ DEDUP_KEY_BODY, L(R1 "Message-ID: <1@x>\n\nsame\n"), L("Message-ID: <2@x>\n\nsame\n"), true },
	{ DEDUP_KEY_BODY, L("A: 1\n\na\r\nb\r\n"), L("A: 1\n\na\nb\n"), true },
	{ DEDUP_KEY_BODY, L("A: 1\n\na\rb"), L("A: 1\n\na\nb"), false },
	{ DEDUP_KEY_BODY, L("A: 1\n\na\0b"), L("A: 1\n\na\0b"), true },
	{ DEDUP_KEY_BODY, L("A: 1\n\na\0b"), L("A: 1\n\na\0c"), false },
	{ DEDUP_KEY_BODY, L("A: 1\n\n"), L("A: 1\n\n\n"), false },
	/* full */
	{ DEDUP_KEY_FULL, L(R1 H1 "\nb\n"), L(R1 H1 "Status: RO\nX-Status: AF\nX-Keywords: a\nX-UID: 4\n"
	    "Content-Length: 2\nLines: 1\n\nb\n"), true },
	{ DEDUP_KEY_FULL, L(R1 H1 "\nb\n"), L(R2 H1 "\nb\n"), false },
	{ DEDUP_KEY_FULL, L(R1 H1 "\nb\n"), L("Received: from one; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "From: a@x\r\nTo: b@x\r\nSubject: s\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nb\r\n"), true },
	{ DEDUP_KEY_FULL, L(H1 "\nb\n"), L(H1 "X-Status-Note: 1\n\nb\n"), false },
	{ DEDUP_KEY_FULL, L(H1 "\nb\n"), L(H1 "\nb\n\n"), false },
	/* headers */
	{ DEDUP_KEY_HEADERS, L(R1 H1 "Message-ID: <m@x>\n\none"), L(R2 H1 "Message-ID: <m@x>\n\ntwo"), true },
	{ DEDUP_KEY_HEADERS, L("Subject:  a \t b\nMessage-ID: <m@x>\n\n"), L("Subject: a\n b\nMessage-ID: <m@x>\n\n"), true },
	{ DEDUP_KEY_HEADERS, L("Subject: a b\nMessage-ID: <m@x>\n\n"), L("Subject: A b\nMessage-ID: <m@x>\n\n"), false },
	{ DEDUP_KEY_HEADERS, L("Cc: c@x\nMessage-ID: <m@x>\n\n"), L("Message-ID: <m@x>\n\n"), false },
	{ DEDUP_KEY_HEADERS, L("Cc:\nMessage-ID: <m@x>\n\n"), L("Message-ID: <m@x>\n\n"), false },
	{ DEDUP_KEY_HEADERS, L("From: a\nFrom: b\nMessage-ID: <m@x>\n\n"), L("From: a\nMessage-ID: <m@x>\n\n"), true },
	{ DEDUP_KEY_HEADERS, L("X-Mailer: 1\nMessage-ID: <m@x>\n\n"), L("X-Mailer: 2\nMessage-ID: <m@x>\n\n"), true },
	/* no Message-ID: full content */
	{ DEDUP_KEY_HEADERS, L(R1 H1 "\none"), L(R2 H1 "\none"), false },
};

START_TEST(test_pair)
{
	const struct pair_case *c = &pair_cases[_i];
	struct dedup_hash ha, hb;

	dedupkey_hash_mem(c->key, c->a, c->alen, &ha);
	dedupkey_hash_mem(c->key, c->b, c->blen, &hb);
	ck_assert_msg((ha.hi == hb.hi && ha.lo == hb.lo) == c->dup, "case %d: hash", _i);
	ck_assert_msg(cmp_pair(c->key, c->a, c->alen, c->b, c->blen) == c->dup, "case %d: a b", _i);
	ck_assert_msg(cmp_pair(c->key, c->b, c->blen, c->a, c->alen) == c->dup, "case %d: b a", _i);
}
END_TEST

/* ---- chunking ---------------------------------------------------------------- */

START_TEST(test_every_split)
{
	static const char m[] = "Received: x\r\nMessage-ID: <s@x>\r\nStatus: R\r\n\r\n"
	    "one\r\ntwo\r\r\nthree\r";
	size_t len = sizeof m - 1;

	for (int key = DEDUP_KEY_DEFAULT; key <= DEDUP_KEY_HEADERS; key++) {
		struct dedup_hash whole = hash_step((enum dedup_key)key, m, len, 0);
		for (size_t cut = 1; cut < len; cut++) {
			struct dedupkey k;
			struct dedup_hash h;
			dedupkey_init(&k, (enum dedup_key)key, NULL, NULL);
			dedupkey_feed(&k, m, cut);
			dedupkey_feed(&k, m + cut, len - cut);
			dedupkey_finish(&k, &h);
			dedupkey_free(&k);
			ck_assert_msg(h.hi == whole.hi && h.lo == whole.lo, "key %d cut %zu", key, cut);
		}
		struct dedup_hash one = hash_step((enum dedup_key)key, m, len, 1);
		ck_assert(one.hi == whole.hi && one.lo == whole.lo);
	}
}
END_TEST

/* A reused dedupkey gives the same hash as a fresh one. */
START_TEST(test_reuse)
{
	struct dedupkey k;
	struct dedup_hash h1, h2, h3;

	dedupkey_init(&k, DEDUP_KEY_DEFAULT, NULL, NULL);
	dedupkey_feed(&k, L("Message-ID: <a@x>\n\nbody\r"));
	dedupkey_finish(&k, &h1);
	dedupkey_feed(&k, L("Message-ID: <b@x>\n\nother"));
	dedupkey_finish(&k, &h2);
	dedupkey_free(&k);
	dedupkey_hash_mem(DEDUP_KEY_DEFAULT, L("Message-ID: <b@x>\n\nother"), &h3);
	ck_assert(h2.hi == h3.hi && h2.lo == h3.lo);
	ck_assert(!(h1.hi == h2.hi && h1.lo == h2.lo));
}
END_TEST

/* message-id with an ID needs no body; without one it does. */
START_TEST(test_wants_more)
{
	struct dedupkey k;

	dedupkey_init(&k, DEDUP_KEY_MESSAGE_ID, NULL, NULL);
	dedupkey_feed(&k, L("Message-ID: <a@x>\n"));
	ck_assert(dedupkey_wants_more(&k));
	dedupkey_feed(&k, L("\nbody"));
	ck_assert(!dedupkey_wants_more(&k));
	ck_assert_int_eq(k.has_id, true);
	ck_assert_int_eq(k.used, DEDUP_KEY_MESSAGE_ID);
	dedupkey_finish(&k, NULL);
	dedupkey_feed(&k, L("Subject: none\n\nbody"));
	ck_assert(dedupkey_wants_more(&k));
	ck_assert_int_eq(k.used, DEDUP_KEY_FULL);
	dedupkey_finish(&k, NULL);
	dedupkey_free(&k);
}
END_TEST

/* A header with no empty line within READER_HEADER_MAX: the first MAX bytes
 * are the header whatever the chunking; a change beyond them still counts. */
START_TEST(test_long_header)
{
	size_t len = READER_HEADER_MAX + 300000;
	char *a = xmalloc(len), *b = xmalloc(len);

	for (size_t i = 0; i < len; i++)
		a[i] = (i % 61 == 60) ? '\n' : (i % 61 < 3 ? 'X' : 'v');
	memcpy(b, a, len);
	b[len - 5] = 'w';
	for (int key = DEDUP_KEY_DEFAULT; key <= DEDUP_KEY_HEADERS; key++) {
		struct dedup_hash w = hash_step((enum dedup_key)key, a, len, 0);
		struct dedup_hash c = hash_step((enum dedup_key)key, a, len, 4093);
		struct dedup_hash d = hash_step((enum dedup_key)key, a, len, READER_HEADER_MAX - 1);
		ck_assert(w.hi == c.hi && w.lo == c.lo && w.hi == d.hi && w.lo == d.lo);
		ck_assert(!cmp_pair((enum dedup_key)key, a, len, b, len));
		ck_assert(cmp_pair((enum dedup_key)key, a, len, a, len));
	}
	free(a);
	free(b);
}
END_TEST

/* ---- comparator spill ------------------------------------------------------ */

START_TEST(test_spill)
{
	size_t len = 10u * 1024 * 1024 + 17;
	char *a = xmalloc(len), *b = xmalloc(len + 1);
	struct dedupkey_cmp c;

	memcpy(a, "Message-ID: <big@x>\n\n", 21);
	for (size_t i = 21; i < len; i++)
		a[i] = (char)('a' + i % 23);
	memcpy(b, a, len);
	ck_assert(cmp_pair(DEDUP_KEY_DEFAULT, a, len, b, len));
	b[len - 1] ^= 1;
	ck_assert(!cmp_pair(DEDUP_KEY_DEFAULT, a, len, b, len));
	b[len - 1] ^= 1;
	b[len] = 'z';
	ck_assert(!cmp_pair(DEDUP_KEY_DEFAULT, a, len, b, len + 1));
	ck_assert(!cmp_pair(DEDUP_KEY_DEFAULT, b, len + 1, a, len));
	/* fed in small pieces on both sides */
	dedupkey_cmp_init(&c, DEDUP_KEY_FULL);
	for (size_t off = 0; off < len; off += 7777)
		dedupkey_cmp_a(&c, a + off, len - off < 7777 ? len - off : 7777);
	for (size_t off = 0; off < len; off += 65537)
		dedupkey_cmp_b(&c, b + off, len - off < 65537 ? len - off : 65537);
	ck_assert(dedupkey_cmp_equal(&c));
	ck_assert(c.spill != NULL);
	dedupkey_cmp_free(&c);
	free(a);
	free(b);
}
END_TEST

/* ---- names and the truncation hook ---------------------------------------------- */

START_TEST(test_names)
{
	static const char *const names[] = { "default", "message-id", "body", "full", "headers" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		ck_assert_int_eq(dedupkey_parse(names[i]), (int)i);
		ck_assert_str_eq(dedupkey_name((enum dedup_key)i), names[i]);
	}
	ck_assert_int_eq(dedupkey_parse("Message-ID"), -1);
	ck_assert_int_eq(dedupkey_parse(""), -1);
	ck_assert_str_eq(dedupkey_name((enum dedup_key)99), "?");
}
END_TEST

START_TEST(test_hash_bits)
{
#ifdef MAILSHIFT_TEST_HOOKS
	char msg[64];
	struct dedup_hash h, seen[300];
	int collisions = 0;

	setenv("MAILSHIFT_HASH_BITS", "8", 1);
	for (int i = 0; i < 300; i++) {
		int n = snprintf(msg, sizeof msg, "Message-ID: <%d@x>\n\nbody %d\n", i, i);
		dedupkey_hash_mem(DEDUP_KEY_DEFAULT, msg, (size_t)n, &seen[i]);
		ck_assert_uint_eq(seen[i].hi, 0);
		ck_assert_uint_lt(seen[i].lo, 256);
		for (int j = 0; j < i; j++)
			collisions += seen[j].lo == seen[i].lo;
	}
	ck_assert_int_gt(collisions, 44);   /* 300 into 256: at least 44 */
	setenv("MAILSHIFT_HASH_BITS", "70", 1);
	dedupkey_hash_mem(DEDUP_KEY_DEFAULT, L("Message-ID: <a@x>\n\n"), &h);
	ck_assert_uint_lt(h.hi, 64);
	setenv("MAILSHIFT_HASH_BITS", "64", 1);
	struct dedup_hash h64;
	dedupkey_hash_mem(DEDUP_KEY_DEFAULT, L("Message-ID: <a@x>\n\n"), &h64);
	ck_assert_uint_eq(h64.hi, 0);
	unsetenv("MAILSHIFT_HASH_BITS");
	struct dedup_hash full;
	dedupkey_hash_mem(DEDUP_KEY_DEFAULT, L("Message-ID: <a@x>\n\n"), &full);
	ck_assert_uint_eq(h64.lo, full.lo);
	ck_assert_uint_eq(h.lo, full.lo);
	ck_assert_uint_eq(h.hi, full.hi & 63);
#endif
}
END_TEST

static Suite *
dedupkey_suite(void)
{
	Suite *s = suite_create("dedupkey");
	TCase *tc = tcase_create("keys");

	tcase_add_loop_test(tc, test_stream, 0, (int)ARRAY_SIZE(stream_cases));
	tcase_add_loop_test(tc, test_pair, 0, (int)ARRAY_SIZE(pair_cases));
	tcase_add_test(tc, test_every_split);
	tcase_add_test(tc, test_reuse);
	tcase_add_test(tc, test_wants_more);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_hash_bits);
	suite_add_tcase(s, tc);
	tc = tcase_create("large");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_long_header);
	tcase_add_test(tc, test_spill);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(dedupkey_suite());

	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
