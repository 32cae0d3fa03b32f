/*
 * check_mime.c: the streaming "has attachments" scanner (mime.h, SPEC
 * §3.5): a table of messages fed whole and in chunks of every size from 1
 * to 64 bytes (lines split anywhere), and mime_param with quoting and
 * RFC 2231 forms.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"
#include "util.h"

struct scan_case {
	const char *name;
	const char *hdr;
	const char *body;
	size_t body_len;        /* 0: strlen(body) */
	bool want;
};

#define MP "Content-Type: multipart/mixed; boundary=\"XX\"\n\n"
#define ALT "Content-Type: multipart/alternative; boundary=YY\n\n"

static const struct scan_case scan_cases[] = {
	{ "plain text", "Subject: x\n\n", "hello\n", 0, false },
	{ "empty body", "Subject: x\n\n", "", 0, false },
	{ "top-level pdf with filename",
	  "Content-Type: application/pdf\nContent-Disposition: attachment; filename=a.pdf\n\n",
	  "%PDF\n", 0, true },
	{ "top-level text with name is the first text part",
	  "Content-Type: text/plain; name=\"note.txt\"\n\n", "hi\n", 0, false },
	{ "top-level text with attachment disposition",
	  "Content-Type: text/plain\nContent-Disposition: attachment\n\n", "hi\n", 0, true },
	{ "alternative: two text parts, no names", ALT,
	  "pre\n--YY\nContent-Type: text/plain\n\nA\n--YY\nContent-Type: text/html\n\n<p>A</p>\n--YY--\n", 0, false },
	{ "mixed: text + csv with name", MP,
	  "--XX\nContent-Type: text/plain\n\nsee\n--XX\nContent-Type: text/csv; name=\"r.csv\"\n"
	  "Content-Transfer-Encoding: base64\n\nYSxi\n--XX--\n", 0, true },
	{ "mixed: inline image without a name", MP,
	  "--XX\nContent-Type: text/plain\n\nsee\n--XX\nContent-Type: image/png\n"
	  "Content-Disposition: inline\n\nPNG\n--XX--\n", 0, false },
	{ "RFC 2231 filename*", MP,
	  "--XX\nContent-Type: text/plain\n\nx\n--XX\nContent-Type: application/octet-stream\n"
	  "Content-Disposition: attachment;\n filename*=utf-8''%E2%82%AC.txt\n\nz\n--XX--\n", 0, true },
	{ "RFC 2231 continuation name*0*", MP,
	  "--XX\nContent-Type: text/plain\n\nx\n--XX\nContent-Type: application/zip;\n"
	  "\tname*0*=utf-8''a; name*1=b.zip\n\nz\n--XX--\n", 0, true },
	{ "nested: attachment inside an inner multipart", MP,
	  "--XX\nContent-Type: multipart/related; boundary=\"in\"\n\n--in\nContent-Type: text/html\n\n<p>\n"
	  "--in\nContent-Type: image/gif; name=logo.gif\n\nGIF\n--in--\n--XX--\n", 0, true },
	{ "a second text part with a filename counts", MP,
	  "--XX\nContent-Type: text/plain\n\nbody\n--XX\nContent-Type: text/plain\n"
	  "Content-Disposition: inline; filename=\"log.txt\"\n\nlog\n--XX--\n", 0, true },
	{ "boundary text in a body line is not a delimiter", MP,
	  "--XX\nContent-Type: text/plain\n\n--XXnot a delimiter\nContent-Type: image/gif; name=a.gif\n\n--XX--\n", 0, false },
	{ "name-like text in the preamble does not count", MP,
	  "Content-Type: image/gif; name=a.gif\n\n--XX\nContent-Type: text/plain\n\nx\n--XX--\n", 0, false },
	{ "epilogue after the close is ignored", MP,
	  "--XX\nContent-Type: text/plain\n\nx\n--XX--\n--XX\nContent-Type: image/gif; name=a.gif\n\n", 0, false },
	{ "CRLF line ends", "Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n",
	  "--XX\r\nContent-Type: text/plain\r\n\r\nx\r\n--XX\r\nContent-Type: application/pdf\r\n"
	  "Content-Disposition: attachment\r\n\r\n%PDF\r\n--XX--\r\n", 0, true },
	{ "unclosed boundary, header cut by the end", MP,
	  "--XX\nContent-Type: text/plain\n\nx\n--XX\nContent-Type: application/pdf; name=a.pdf", 0, true },
	{ "multipart without boundary parameter", "Content-Type: multipart/mixed\n\n",
	  "--XX\nContent-Type: image/gif; name=a.gif\n\n", 0, false },
	{ "NUL bytes in a part", MP,
	  "--XX\nContent-Type: text/plain\n\na\0b\n--XX\nContent-Type: application/x; name=\"n\0\"\n\n--XX--\n",
	  87, true },
	{ "delimiter with trailing white space", MP,
	  "--XX\nContent-Type: text/plain\n\nx\n--XX  \nContent-Disposition: attachment\n\ny\n--XX--\n", 0, true },
};

static void
run_case(const struct scan_case *c, size_t chunk)
{
	struct mime_scan s;
	size_t len = c->body_len ? c->body_len : strlen(c->body);

	mime_scan_init(&s, c->hdr, strlen(c->hdr));
	for (size_t off = 0; off < len; off += chunk)
		mime_scan_feed(&s, c->body + off, off + chunk > len ? len - off : chunk);
	bool got = mime_scan_finish(&s);
	mime_scan_free(&s);
	ck_assert_msg(got == c->want, "%s (chunk %zu): got %d", c->name, chunk, got);
}

START_TEST(test_scan_table)
{
	const struct scan_case *c = &scan_cases[_i];

	run_case(c, 1 << 20);
	for (size_t chunk = 1; chunk <= 64; chunk++)
		run_case(c, chunk);
}
END_TEST

START_TEST(test_long_line_is_no_delimiter)
{
	struct mime_scan s;
	struct strbuf b = STRBUF_INIT;

	/* "--XX" followed by 2000 blanks: too long to be a delimiter line */
	sb_appends(&b, "--XX\nContent-Type: text/plain\n\nx\n--XX");
	for (int i = 0; i < 2000; i++)
		sb_appendc(&b, ' ');
	sb_appends(&b, "\nContent-Type: image/gif; name=a.gif\n\n--XX--\n");
	mime_scan_init(&s, MP, strlen(MP));
	mime_scan_feed(&s, b.buf, b.len);
	ck_assert(!mime_scan_finish(&s));
	mime_scan_free(&s);
	sb_free(&b);
}
END_TEST

START_TEST(test_depth_limit)
{
	struct mime_scan s;
	struct strbuf b = STRBUF_INIT;

	/* 40 nested multiparts: deeper levels are not followed, no overflow */
	for (int i = 0; i < 40; i++)
		sb_appendf(&b, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i, i + 1);
	sb_appends(&b, "--b40\nContent-Type: image/gif; name=a.gif\n\n");
	const char *h = "Content-Type: multipart/mixed; boundary=b0\n\n";
	mime_scan_init(&s, h, strlen(h));
	mime_scan_feed(&s, b.buf, b.len);
	ck_assert(!mime_scan_finish(&s));
	ck_assert_int_eq(s.depth, MIME_DEPTH_MAX);
	mime_scan_free(&s);
	sb_free(&b);
}
END_TEST

struct param_case {
	const char *value;
	const char *name;
	const char *want;       /* NULL: absent */
};

static const struct param_case param_cases[] = {
	{ "multipart/mixed; boundary=\"a b;c\"", "boundary", "a b;c" },
	{ "multipart/mixed;boundary=plain ; charset=x", "boundary", "plain" },
	{ "text/plain; charset=\"us-ascii\"", "boundary", NULL },
	{ "attachment; FILENAME=\"q\\\"x\"", "filename", "q\"x" },
	{ "attachment; filename*=utf-8''%E2%82%AC.txt", "filename", "utf-8''%E2%82%AC.txt" },
	{ "application/x; name*0*=utf-8''a; name*1=b", "name", "utf-8''a" },
	{ "application/x; filename=a", "name", NULL },
	{ "text/plain; name=", "name", "" },
	{ "text/\"pla;in\"; name=z", "name", "z" },
	{ "", "name", NULL },
};

START_TEST(test_param_table)
{
	const struct param_case *c = &param_cases[_i];
	struct strbuf out = STRBUF_INIT;
	bool got = mime_param(c->value, strlen(c->value), c->name, &out);

	ck_assert_msg(got == (c->want != NULL), "%s: found %d", c->value, got);
	if (c->want)
		ck_assert_str_eq(out.buf, c->want);
	sb_free(&out);
}
END_TEST

static Suite *
mime_suite(void)
{
	Suite *s = suite_create("mime");
	TCase *tc = tcase_create("scan");

	tcase_add_loop_test(tc, test_scan_table, 0, (int)ARRAY_SIZE(scan_cases));
	tcase_add_test(tc, test_long_line_is_no_delimiter);
	tcase_add_test(tc, test_depth_limit);
	tcase_add_loop_test(tc, test_param_table, 0, (int)ARRAY_SIZE(param_cases));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(mime_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
