/*
 * check_folder.c: folder name mapping and modified UTF-7 (folder.h,
 * SPEC §1.8, §5 W6): exact encodings, refusals, shortening, and a
 * round-trip property over generated names.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "folder.h"
#include "util.h"

struct enc_case {
	const char *in;
	size_t len;                  /* 0: strlen(in) */
	const char *pp_utf8;         /* Maildir++, UTF-8; NULL: refused */
	const char *pp_mutf7;        /* Maildir++, modified UTF-7 */
	const char *fs_utf8;         /* fs layout, UTF-8 */
};

static const struct enc_case enc_cases[] = {
	{ "INBOX", 0, "INBOX", "INBOX", "INBOX" },
	{ "Sent/2002", 0, "Sent.2002", "Sent.2002", "Sent/2002" },
	{ "/Sent/2002/", 0, "Sent.2002", "Sent.2002", "Sent/2002" },
	{ "a.b", 0, "a%2Eb", "a%2Eb", "a%2Eb" },
	{ ".hidden", 0, "%2Ehidden", "%2Ehidden", "%2Ehidden" },
	{ "&", 0, "%26", "%26", "%26" },
	{ "Tom & Jerry", 0, "Tom %26 Jerry", "Tom %26 Jerry", "Tom %26 Jerry" },
	{ "~x/y~", 0, "%7Ex.y~", "%7Ex.y~", "%7Ex/y~" },
	{ "50%", 0, "50%25", "50%25", "50%25" },
	{ "R\xc3\xa9sum\xc3\xa9", 0, "R\xc3\xa9sum\xc3\xa9", "R&AOk-sum&AOk-", "R\xc3\xa9sum\xc3\xa9" },
	{ "\xe5\x8f\xb0\xe5\x8c\x97", 0, "\xe5\x8f\xb0\xe5\x8c\x97", "&U,BTFw-", "\xe5\x8f\xb0\xe5\x8c\x97" },
	{ "\xf0\x9f\x98\x80", 0, "\xf0\x9f\x98\x80", "&2D3eAA-", "\xf0\x9f\x98\x80" },
	{ "a\x01" "b\x7f", 0, "a%01b%7F", "a%01b%7F", "a%01b%7F" },
	{ "nul\0byte", 8, "nul%00byte", "nul%00byte", "nul%00byte" },
	{ "bad\xff", 0, "bad%FF", "bad%FF", "bad%FF" },
	{ "cut\xc3", 0, "cut%C3", "cut%C3", "cut%C3" },
	{ "c1\xc2\x85", 0, "c1%C2%85", "c1%C2%85", "c1%C2%85" },
	{ "over\xc0\xaf", 0, "over%C0%AF", "over%C0%AF", "over%C0%AF" },
	{ "", 0, NULL, NULL, NULL },
	{ "/", 0, NULL, NULL, NULL },
	{ ".", 0, NULL, NULL, NULL },
	{ "..", 0, NULL, NULL, NULL },
	{ "../x", 0, NULL, NULL, NULL },
	{ "a/./b", 0, NULL, NULL, NULL },
	{ "a//b", 0, NULL, NULL, NULL },
	{ "a/..", 0, NULL, NULL, NULL },
};

START_TEST(test_encode_table)
{
	const struct enc_case *c = &enc_cases[_i];
	size_t len = c->len ? c->len : strlen(c->in);
	struct strbuf out = STRBUF_INIT;
	const struct { enum folder_layout l; enum folder_charset cs; const char *want; } v[] = {
		{ FOLDER_MAILDIRPP, FOLDER_UTF8, c->pp_utf8 },
		{ FOLDER_MAILDIRPP, FOLDER_MUTF7, c->pp_mutf7 },
		{ FOLDER_FS, FOLDER_UTF8, c->fs_utf8 },
	};

	for (size_t k = 0; k < ARRAY_SIZE(v); k++) {
		errno = 0;
		int rc = folder_encode(c->in, len, v[k].l, v[k].cs, &out);
		if (v[k].want == NULL) {
			ck_assert_int_eq(rc, -1);
			ck_assert_int_eq(errno, EINVAL);
			continue;
		}
		ck_assert_int_eq(rc, 0);
		ck_assert_uint_eq(out.len, strlen(v[k].want));
		ck_assert_mem_eq(out.buf, v[k].want, out.len);

		/* and back */
		struct strbuf back = STRBUF_INIT;
		unsigned odd = 99;
		ck_assert_int_eq(folder_decode(out.buf, out.len, v[k].l, v[k].cs, &back, &odd), 0);
		ck_assert_uint_eq(odd, 0);
		size_t skip = c->in[0] == '/' ? 1 : 0;
		size_t want_len = len - skip - (c->in[len - 1] == '/' ? 1 : 0);
		ck_assert_uint_eq(back.len, want_len);
		ck_assert_mem_eq(back.buf, c->in + skip, want_len);
		sb_free(&back);
	}
	sb_free(&out);
}
END_TEST

START_TEST(test_component_slash)
{
	struct strbuf out = STRBUF_INIT, back = STRBUF_INIT;

	ck_assert_int_eq(folder_encode_component("a/b", 3, FOLDER_UTF8, &out), 0);
	ck_assert_str_eq(out.buf, "a%2Fb");
	ck_assert_int_eq(folder_decode_component(out.buf, out.len, FOLDER_UTF8, &back, NULL), 0);
	ck_assert_str_eq(back.buf, "a/b");
	/* a whole-name decode refuses a '/' inside a component */
	ck_assert_int_eq(folder_decode("a%2Fb", 5, FOLDER_MAILDIRPP, FOLDER_UTF8, &back, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(folder_encode_component("..", 2, FOLDER_UTF8, &out), -1);
	ck_assert_int_eq(folder_encode_component("", 0, FOLDER_UTF8, &out), -1);
	sb_free(&out);
	sb_free(&back);
}
END_TEST

START_TEST(test_decode_foreign)
{
	struct strbuf out = STRBUF_INIT;
	unsigned odd;

	/* Courier / Dovecot names */
	ck_assert_int_eq(folder_decode("Sent.2002", 9, FOLDER_MAILDIRPP, FOLDER_UTF8, &out, &odd), 0);
	ck_assert_str_eq(out.buf, "Sent/2002");
	ck_assert_int_eq(folder_decode("R&AOk-sum&AOk-", 14, FOLDER_MAILDIRPP, FOLDER_MUTF7, &out, &odd), 0);
	ck_assert_str_eq(out.buf, "R\xc3\xa9sum\xc3\xa9");
	ck_assert_uint_eq(odd, 0);
	/* "&-" is '&' in modified UTF-7 */
	ck_assert_int_eq(folder_decode("A&-B", 4, FOLDER_MAILDIRPP, FOLDER_MUTF7, &out, &odd), 0);
	ck_assert_str_eq(out.buf, "A&B");
	/* UTF-8 mode keeps a raw '&' and '&...-' */
	ck_assert_int_eq(folder_decode("R&AOk-", 6, FOLDER_MAILDIRPP, FOLDER_UTF8, &out, &odd), 0);
	ck_assert_str_eq(out.buf, "R&AOk-");
	/* a '%' without two hex digits is kept and counted */
	ck_assert_int_eq(folder_decode("50%.x%4", 7, FOLDER_MAILDIRPP, FOLDER_UTF8, &out, &odd), 0);
	ck_assert_str_eq(out.buf, "50%/x%4");
	ck_assert_uint_eq(odd, 2);
	/* a broken UTF-7 run is kept and counted */
	ck_assert_int_eq(folder_decode("a&Jjo", 5, FOLDER_MAILDIRPP, FOLDER_MUTF7, &out, &odd), 0);
	ck_assert_str_eq(out.buf, "a&Jjo");
	ck_assert_uint_eq(odd, 1);
	/* empty components and dot names are refused */
	ck_assert_int_eq(folder_decode("a..b", 4, FOLDER_MAILDIRPP, FOLDER_UTF8, &out, &odd), -1);
	ck_assert_int_eq(folder_decode("%2E%2E", 6, FOLDER_MAILDIRPP, FOLDER_UTF8, &out, &odd), -1);
	ck_assert_int_eq(folder_decode("", 0, FOLDER_FS, FOLDER_UTF8, &out, &odd), -1);
	ck_assert_uint_eq(out.len, 0);
	sb_free(&out);
}
END_TEST

START_TEST(test_mutf7)
{
	struct strbuf out = STRBUF_INIT;
	/* RFC 3501 §5.1.3 example */
	const char *u8 = "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e";

	ck_assert_int_eq(mutf7_encode(u8, strlen(u8), &out), 0);
	ck_assert_str_eq(out.buf, "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	sb_reset(&out);
	ck_assert_int_eq(mutf7_decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-", 31, &out), 0);
	ck_assert_str_eq(out.buf, u8);
	sb_reset(&out);
	ck_assert_int_eq(mutf7_encode("a&b", 3, &out), 0);
	ck_assert_str_eq(out.buf, "a&-b");
	sb_reset(&out);
	ck_assert_int_eq(mutf7_encode("tab\there", 8, &out), 0);
	ck_assert_str_eq(out.buf, "tab&AAk-here");

	static const char *const bad[] = {
		"&Jjo",        /* no '-' */
		"&AGE-",       /* encodes 'a', which must be literal */
		"&2D0-",       /* high surrogate alone */
		"&3gA-",       /* low surrogate alone */
		"&AOl-",       /* non-zero padding bits */
		"&A-",         /* 6 bits: less than a unit */
		"&AO!-",       /* not base64 */
		"caf\xc3\xa9", /* raw 8-bit byte */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		sb_reset(&out);
		sb_appends(&out, "keep");
		errno = 0;
		ck_assert_msg(mutf7_decode(bad[i], strlen(bad[i]), &out) == -1, "%s", bad[i]);
		ck_assert_int_eq(errno, EILSEQ);
		ck_assert_str_eq(out.buf, "keep");
	}
	sb_reset(&out);
	ck_assert_int_eq(mutf7_encode("x\xff", 2, &out), -1);
	ck_assert_int_eq(errno, EILSEQ);
	sb_free(&out);
}
END_TEST

START_TEST(test_utf8_seq_len)
{
	unsigned long cp = 0;

	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xc3\xa9", 2, &cp), 2);
	ck_assert_uint_eq(cp, 0xE9);
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xf0\x9f\x98\x80", 4, &cp), 4);
	ck_assert_uint_eq(cp, 0x1F600);
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xed\xa0\x80", 3, &cp), 0);   /* surrogate */
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xe0\x80\xaf", 3, &cp), 0);   /* overlong */
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xf4\x90\x80\x80", 4, &cp), 0); /* > 10FFFF */
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xe2\x82", 2, &cp), 0);       /* truncated */
}
END_TEST

START_TEST(test_long_names)
{
	struct strbuf out = STRBUF_INIT, out2 = STRBUF_INIT;
	char name[600];

	memset(name, 'a', sizeof(name));
	/* 254 bytes fit exactly */
	ck_assert_int_eq(folder_encode(name, 254, FOLDER_MAILDIRPP, FOLDER_UTF8, &out), 0);
	ck_assert_uint_eq(out.len, 254);
	ck_assert_int_eq(folder_encode(name, 255, FOLDER_MAILDIRPP, FOLDER_UTF8, &out), 1);
	ck_assert_uint_eq(out.len, 254);
	ck_assert_mem_eq(out.buf + 236, "%%", 2);
	ck_assert_mem_eq(out.buf, name, 236);
	/* a different name of the same prefix gets a different hash */
	name[599] = 'b';
	ck_assert_int_eq(folder_encode(name, 600, FOLDER_MAILDIRPP, FOLDER_UTF8, &out2), 1);
	ck_assert_uint_eq(out2.len, 254);
	ck_assert_mem_eq(out2.buf, out.buf, 238);
	ck_assert(memcmp(out2.buf + 238, out.buf + 238, 16) != 0);

	/* escapes are never cut in half: 100 dots are 300 bytes encoded */
	memset(name, '.', 100);
	ck_assert_int_eq(folder_encode(name, 100, FOLDER_MAILDIRPP, FOLDER_UTF8, &out), 1);
	ck_assert_uint_eq(out.len, 234 + 18);  /* 78 escapes of 3 bytes */
	ck_assert_mem_eq(out.buf + 231, "%2E%%", 5);

	/* fs layout: each component up to 255 */
	memset(name, 'c', 300);
	name[150] = '/';
	ck_assert_int_eq(folder_encode(name, 300, FOLDER_FS, FOLDER_UTF8, &out), 0);
	ck_assert_uint_eq(out.len, 300);
	name[150] = 'c';
	ck_assert_int_eq(folder_encode(name, 300, FOLDER_FS, FOLDER_UTF8, &out), 1);
	ck_assert_uint_eq(out.len, 255);

	/* UTF-7 runs are cut at a character and closed */
	struct strbuf big = STRBUF_INIT;
	for (int i = 0; i < 120; i++)
		sb_append(&big, "\xe5\x8f\xb0", 3);
	ck_assert_int_eq(folder_encode(big.buf, big.len, FOLDER_MAILDIRPP, FOLDER_MUTF7, &out), 1);
	ck_assert_uint_le(out.len, 254);
	const char *pct = mem_find(out.buf, out.len, "%%", 2);
	ck_assert_ptr_nonnull(pct);
	ck_assert_int_eq(pct[-1], '-');
	sb_free(&big);
	sb_free(&out);
	sb_free(&out2);
}
END_TEST

/* Names built from pieces that exercise every rule. */
static const char *const pieces[] = {
	"a", "Z", "0", ".", "/", "&", "~", "%", "%2E", "&-", "-", " ", ",",
	"AOk", "\xc3\xa9", "\xe5\x8f\xb0", "\xf0\x9f\x98\x80", "\x01", "\x7f",
	"\xff", "\xc3", "\xc2\x85", "..", "../x", "a/b", "a.b", "~x", "R\xc3\xa9sum\xc3\xa9",
	"\n", "\t", "+", "\\", ":",
};

static uint32_t
lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

START_TEST(test_roundtrip_property)
{
	static const enum folder_layout layouts[] = { FOLDER_MAILDIRPP, FOLDER_FS };
	static const enum folder_charset sets[] = { FOLDER_UTF8, FOLDER_MUTF7 };
	struct strbuf name = STRBUF_INIT, enc = STRBUF_INIT, dec = STRBUF_INIT, comp = STRBUF_INIT;
	uint32_t seed = 12345;
	size_t accepted = 0, refused = 0;

	for (int n = 0; n < 20000; n++) {
		sb_reset(&name);
		int k = 1 + (int)(lcg(&seed) % 8);
		for (int j = 0; j < k; j++)
			sb_appends(&name, pieces[lcg(&seed) % ARRAY_SIZE(pieces)]);
		for (size_t l = 0; l < 2; l++) {
			for (size_t c = 0; c < 2; c++) {
				int rc = folder_encode(name.buf, name.len, layouts[l], sets[c], &enc);
				if (rc == -1) {
					refused++;
					continue;
				}
				ck_assert_int_eq(rc, 0);
				accepted++;
				/* the name on disk: no control bytes, no stray separators */
				for (size_t i = 0; i < enc.len; i++)
					ck_assert((unsigned char)enc.buf[i] >= 0x20 && enc.buf[i] != 0x7f);
				ck_assert(enc.buf[0] != '.' && enc.buf[0] != '~');
				if (sets[c] == FOLDER_MUTF7)
					for (size_t i = 0; i < enc.len; i++)
						ck_assert((unsigned char)enc.buf[i] < 0x80);
				ck_assert_int_eq(folder_decode(enc.buf, enc.len, layouts[l], sets[c], &dec, NULL), 0);
				/* the input without one leading and one trailing '/' */
				size_t s = name.buf[0] == '/', e = name.len;
				if (e > s && name.buf[e - 1] == '/')
					e--;
				ck_assert_uint_eq(dec.len, e - s);
				ck_assert_mem_eq(dec.buf, name.buf + s, e - s);
			}
			/* a single component may hold any byte, '/' included */
			sb_reset(&comp);
			if (folder_encode_component(name.buf, name.len, sets[l], &comp) == 0) {
				sb_reset(&dec);
				ck_assert_int_eq(folder_decode_component(comp.buf, comp.len, sets[l], &dec, NULL), 0);
				ck_assert_uint_eq(dec.len, name.len);
				ck_assert_mem_eq(dec.buf, name.buf, name.len);
			}
		}
	}
	ck_assert_uint_gt(accepted, 20000);
	ck_assert_uint_gt(refused, 1000);
	sb_free(&name);
	sb_free(&enc);
	sb_free(&dec);
	sb_free(&comp);
}
END_TEST

static Suite *
folder_suite(void)
{
	Suite *s = suite_create("folder");
	TCase *tc = tcase_create("encode");

	tcase_add_loop_test(tc, test_encode_table, 0, (int)ARRAY_SIZE(enc_cases));
	tcase_add_test(tc, test_component_slash);
	tcase_add_test(tc, test_decode_foreign);
	tcase_add_test(tc, test_mutf7);
	tcase_add_test(tc, test_utf8_seq_len);
	tcase_add_test(tc, test_long_names);
	tcase_add_test(tc, test_roundtrip_property);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(folder_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
