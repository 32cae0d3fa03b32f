/*
 * check_date.c: unit tests for date.c: the From_ line grammar (SPEC §2.2,
 * every shape of §5 X9 and the negatives), every From_ line of the shared
 * corpus mboxes, RFC 5322 dates (SPEC §3.7), date_make_time() and the
 * formatters.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "date.h"
#include "util.h"

#define L(s) s, sizeof(s) - 1

/* ---- From_ lines ------------------------------------------------------- */

struct fl_case {
	const char *line;
	size_t len;
	bool valid;
	const char *sender;     /* expected sender bytes (valid lines) */
	size_t sender_len;
	long long time;
	bool has_zone;
};

static const struct fl_case fl_cases[] = {
	/* qmail: zero-padded day */
	{ L("From god@heaven.af.mil Sat Jan 03 01:05:34 1996"), true, L("god@heaven.af.mil"), 820631134, false },
	/* asctime: space-padded day */
	{ L("From god@heaven.af.mil Sat Jan  3 01:05:34 1996"), true, L("god@heaven.af.mil"), 820631134, false },
	/* trailing CR (CRLF mbox) */
	{ L("From MAILER-DAEMON Wed Jan  3 01:05:34 1996\r"), true, L("MAILER-DAEMON"), 820631134, false },
	/* Dovecot: two spaces after the sender */
	{ L("From a@b  Fri Nov 09 22:33:52 2001"), true, L("a@b"), 1005345232, false },
	/* Thunderbird */
	{ L("From - Sun Apr 07 22:47:11 2013"), true, L("-"), 1365374831, false },
	/* Gmail Takeout: zone before the year */
	{ L("From 1583290388308606088@xxx Mon Nov 06 04:42:58 +0000 2017"), true,
	  L("1583290388308606088@xxx"), 1509943378, true },
	{ L("From klopp Mon Jan  5 08:50:15 +0100 2004"), true, L("klopp"), 1073289015, true },
	/* c-client: zone after the year */
	{ L("From user@host Wed Dec  2 05:53:22 1992 -0800"), true, L("user@host"), 723304402, true },
	{ L("From xxx8x@ares.cs.Virginia.EDU Thu Sep 13 12:30:05 2001 -0400"), true,
	  L("xxx8x@ares.cs.Virginia.EDU"), 1000398605, true },
	/* RFC 822 form (mboxcl3, Dovecot) */
	{ L("From daemon@orphan.zombinet Sun, 11 Nov 2007 06:58:35 +0200"), true,
	  L("daemon@orphan.zombinet"), 1194757115, true },
	{ L("From a@b Sat, 9 Nov 2002 22:33:52"), true, L("a@b"), 1036881232, false },
	{ L("From a@b Sat, 9 Nov 2002 22:33:52 GMT"), true, L("a@b"), 1036881232, false },
	/* hh:mm without seconds, alphabetic zone before the year */
	{ L("From someone Sat Sep  1 20:58 EDT 2001"), true, L("someone"), 999377880, false },
	/* zone words: after the year, two before the year */
	{ L("From x Tue Jul  7 12:00:00 1998 WETDST"), true, L("x"), 899812800, false },
	{ L("From x Tue Jul  7 12:00:00 1998 MEST"), true, L("x"), 899812800, false },
	{ L("From x Tue Jul  7 12:00:00 MET DST 1998"), true, L("x"), 899812800, false },
	{ L("From x Tue Jul  7 12:00:00 CET DST 1998 +0100"), true, L("x"), 899812800 - 3600, true },
	/* 2-digit years: < 70 -> 20xx */
	{ L("From x Tue Jul  7 12:00:00 98"), true, L("x"), 899812800, false },
	{ L("From x Tue Jul  7 12:00:00 15"), true, L("x"), 1436270400, false },
	/* empty sender, quoted sender with spaces, pipermail senders */
	{ L("From  Wed Jan  3 01:05:34 1996"), true, "", 0, 820631134, false },
	{ L("From Wed Jan  3 01:05:34 1996"), true, "", 0, 820631134, false },
	{ L("From \"john smith\"@example.com Wed Jan  3 01:05:34 1996"), true,
	  L("\"john smith\"@example.com"), 820631134, false },
	{ L("From goran at domain.com Wed Dec  1 08:26:40 2010"), true, L("goran at domain.com"), 1291192000, false },
	{ L("From luc\xed" "acharlie at wellsfargo.com  Mon Nov  7 18:44:27 2016"), true,
	  L("luc\xed" "acharlie at wellsfargo.com"), 1478544267, false },
	/* UUCP tail */
	{ L("From user Wed Dec  2 05:53:22 1992 remote from uunet"), true, L("user"), 723275602, false },
	{ L("From user Wed Dec  2 05:53:22 PST 1992 remote from host"), true, L("user"), 723275602, false },
	{ L("From user Wed Dec  2 05:53:22 1992 -0800 remote from host\r"), true, L("user"), 723304402, true },
	/* case-insensitive names, tabs, trailing blanks */
	{ L("From x sat JAN  3 01:05:34 1996"), true, L("x"), 820631134, false },
	{ L("From x\tWed Jan\t3 01:05:34 1996  "), true, L("x"), 820631134, false },
	/* epoch, second 60, NUL byte inside the sender */
	{ L("From mboxrd@z Thu Jan  1 00:00:00 1970"), true, L("mboxrd@z"), 0, false },
	{ L("From x Wed Dec 31 23:59:60 1997"), true, L("x"), 883612800, false },
	{ L("From a\0b Wed Jan  3 01:05:34 1996"), true, L("a\0b"), 820631134, false },

	/* negatives: body text, truncated dates, bad values */
	{ L("From here on, we will use the new server."), false, NULL, 0, 0, false },
	{ L("From perl5-porters:"), false, NULL, 0, 0, false },
	{ L("From this principle, all of life and physics may be deduced."), false, NULL, 0, 0, false },
	{ L("From the eyes of a stranger"), false, NULL, 0, 0, false },
	{ L("From: x@y Wed Jan  3 01:05:34 1996"), false, NULL, 0, 0, false },
	{ L(">From x Wed Jan  3 01:05:34 1996"), false, NULL, 0, 0, false },
	{ L("from x Wed Jan  3 01:05:34 1996"), false, NULL, 0, 0, false },
	{ L("From "), false, NULL, 0, 0, false },
	{ L("From"), false, NULL, 0, 0, false },
	{ L(""), false, NULL, 0, 0, false },
	{ L("From x Wed Jan  3 01:05:34"), false, NULL, 0, 0, false },
	{ L("From x Jan  3 01:05:34 1996"), false, NULL, 0, 0, false },
	{ L("From x Xyz Jan  3 01:05:34 1996"), false, NULL, 0, 0, false },
	{ L("From x Wed Foo  3 01:05:34 1996"), false, NULL, 0, 0, false },
	{ L("From x Wed Jan 32 01:05:34 1996"), false, NULL, 0, 0, false },
	{ L("From x Wed Jan  0 01:05:34 1996"), false, NULL, 0, 0, false },
	{ L("From x Wed Jan  3 24:05:34 1996"), false, NULL, 0, 0, false },
	{ L("From x Wed Jan  3 01:60:34 1996"), false, NULL, 0, 0, false },
	{ L("From x Wed Jan  3 01:05:61 1996"), false, NULL, 0, 0, false },
	{ L("From x Wed Jan  3 01:5:34 1996"), false, NULL, 0, 0, false },
	{ L("From x Wed Jan  3 01:05:34 19960"), false, NULL, 0, 0, false },
	{ L("From x Wed Jan  3 01:05:34 996"), false, NULL, 0, 0, false },
	{ L("From x Wed Jan  3 01:05:34 1996 extra words"), false, NULL, 0, 0, false },
	{ L("From x Wed Jan  3 01:05:34 1996 PST PDT"), false, NULL, 0, 0, false },
	{ L("From x Wed Jan  3 01:05:34 A B C 1996"), false, NULL, 0, 0, false },
	{ L("From x Wed Jan  3 01:05:34 +2460 1996"), false, NULL, 0, 0, false },
	{ L("From x Sun 11 Nov 2007 06:58:35 +0200"), false, NULL, 0, 0, false },
	{ L("From x Sun, 11 Nov 2007"), false, NULL, 0, 0, false },
	{ L("From x Wed Jan  3 01:05:34 1996 remote from"), false, NULL, 0, 0, false },
	{ L("From x Wed Jan  3 01:05:34 1996\r\r"), false, NULL, 0, 0, false },
};

START_TEST(test_fromline_table)
{
	const struct fl_case *c = &fl_cases[_i];
	struct fromline fl;

	memset(&fl, 0xa5, sizeof fl);
	bool ok = fromline_parse(c->line, c->len, &fl);
	ck_assert_msg(ok == c->valid, "case %d \"%s\": got %d", _i, c->line, ok);
	if (!ok)
		return;
	ck_assert_uint_eq(fl.sender_len, c->sender_len);
	ck_assert_uint_le(fl.sender_off + fl.sender_len, c->len);
	ck_assert_msg(memcmp(c->line + fl.sender_off, c->sender, c->sender_len) == 0,
	    "case %d: sender mismatch", _i);
	ck_assert_msg((long long)fl.time == c->time, "case %d: time %lld, want %lld",
	    _i, (long long)fl.time, c->time);
	ck_assert_int_eq(fl.has_zone, c->has_zone);
	/* NULL out is allowed */
	ck_assert(fromline_parse(c->line, c->len, NULL));
}
END_TEST

START_TEST(test_fromline_offsets)
{
	struct fromline fl;

	ck_assert(fromline_parse(L("From a@b  Fri Nov 09 22:33:52 2001"), &fl));
	ck_assert_uint_eq(fl.sender_off, 5);
	ck_assert_uint_eq(fl.sender_len, 3);
	ck_assert(fromline_parse(L("From  Wed Jan  3 01:05:34 1996"), &fl));
	ck_assert_uint_eq(fl.sender_len, 0);
	ck_assert(fromline_parse(L("From goran at domain.com Wed Dec  1 08:26:40 2010"), &fl));
	ck_assert_uint_eq(fl.sender_off, 5);
	ck_assert_uint_eq(fl.sender_len, 19);
}
END_TEST

/* The length limit: exactly FROMLINE_MAX bytes passes, one more fails,
 * with and without a CR counted in the length. */
START_TEST(test_fromline_length)
{
	static const char date[] = " Wed Jan  3 01:05:34 1996";
	char line[FROMLINE_MAX + 8];
	struct fromline fl;

	for (size_t total = FROMLINE_MAX - 1; total <= FROMLINE_MAX + 2; total++) {
		size_t slen = total - 5 - (sizeof date - 1);
		memcpy(line, "From ", 5);
		memset(line + 5, 'a', slen);
		memcpy(line + 5 + slen, date, sizeof date - 1);
		bool ok = fromline_parse(line, total, &fl);
		ck_assert_int_eq(ok, total <= FROMLINE_MAX);
		if (ok)
			ck_assert_uint_eq(fl.sender_len, slen);
	}
	/* a long line with the CR counts the CR */
	memcpy(line, "From ", 5);
	size_t slen = FROMLINE_MAX - 5 - (sizeof date - 1);
	memset(line + 5, 'b', slen);
	memcpy(line + 5 + slen, date, sizeof date - 1);
	line[FROMLINE_MAX] = '\r';
	ck_assert(!fromline_parse(line, FROMLINE_MAX + 1, &fl));
	ck_assert(fromline_parse(line, FROMLINE_MAX, &fl));
}
END_TEST

/* A sender made of many words (more tokens than the scanner keeps). */
START_TEST(test_fromline_many_words)
{
	struct strbuf sb = STRBUF_INIT;
	struct fromline fl;

	sb_appends(&sb, "From");
	for (int i = 0; i < 150; i++)
		sb_appends(&sb, " w");
	sb_appends(&sb, " Wed Jan  3 01:05:34 1996");
	ck_assert(fromline_parse(sb.buf, sb.len, &fl));
	ck_assert_uint_eq(fl.sender_off, 5);
	ck_assert_uint_eq(fl.sender_len, 150 * 2 - 1);
	ck_assert_int_eq(fl.time, 820631134);
	sb_free(&sb);
}
END_TEST

/* ---- the corpus: every From_ line of every mbox ------------------------ */

struct corpus_case {
	const char *path;
	unsigned from_lines;    /* lines starting "From " (split at LF) */
	unsigned valid;         /* of which pass the grammar */
};

/* valid < from_lines only where INDEX.tsv's notes name the invalid lines:
 * "From perl5-porters:" in mboxcl2(.lies), "From this principle, ..." in
 * separators2.sep, and testmbox.mac whose CR-only file is one line of
 * 28 KB (longer than FROMLINE_MAX). */
static const struct corpus_case corpus_cases[] = {
	{ "email-folder/mboxes/mboxcl2", 4, 3 },
	{ "email-folder/mboxes/mboxcl2.lies", 4, 3 },
	{ "email-folder/mboxes/mboxcl3", 2, 2 },
	{ "email-folder/mboxes/testmbox", 10, 10 },
	{ "email-folder/mboxes/testmbox.dos", 10, 10 },
	{ "email-folder/mboxes/testmbox.empty", 0, 0 },
	{ "email-folder/mboxes/testmbox.mac", 1, 0 },
	{ "gnu-mailutils/folder/one", 1, 1 },
	{ "gnu-mailutils/folder/two", 1, 1 },
	{ "gnu-mailutils/spool/bigto.mbox", 1, 1 },
	{ "gnu-mailutils/spool/input.msg", 0, 0 },
	{ "gnu-mailutils/spool/mbox", 1, 1 },
	{ "gnu-mailutils/spool/mbox1", 5, 5 },
	{ "gnu-mailutils/spool/mbox2", 5, 5 },
	{ "gnu-mailutils/spool/mime.mbox", 2, 2 },
	{ "gnu-mailutils/spool/mime.msg", 1, 1 },
	{ "gnu-mailutils/spool/moderator.mbox", 1, 1 },
	{ "gnu-mailutils/spool/msg.mbox", 4, 4 },
	{ "gnu-mailutils/spool/relational.mbox", 9, 9 },
	{ "gnu-mailutils/spool/search.mbox", 8, 8 },
	{ "gnu-mailutils/spool/search2.mbox", 5, 5 },
	{ "gnu-mailutils/spool/sieve.mbox", 3, 3 },
	{ "gnu-mailutils/spool/teaparty.mbox", 95, 95 },
	{ "mail-mbox-messageparser/mailboxes/binary_body.txt", 1, 1 },
	{ "mail-mbox-messageparser/mailboxes/hessbug.txt", 1, 1 },
	{ "mail-mbox-messageparser/mailboxes/invalid-boundaries.txt", 8, 8 },
	{ "mail-mbox-messageparser/mailboxes/mailarc-1-dos.txt", 16, 16 },
	{ "mail-mbox-messageparser/mailboxes/mailarc-1.txt", 16, 16 },
	{ "mail-mbox-messageparser/mailboxes/mailarc-2.txt", 5, 5 },
	{ "mail-mbox-messageparser/mailboxes/mailarc-3.txt", 17, 17 },
	{ "mail-mbox-messageparser/mailboxes/mailbox with space.txt", 3, 3 },
	{ "mail-mbox-messageparser/mailboxes/mailseparators.txt", 3, 3 },
	{ "mail-mbox-messageparser/mailboxes/malformed.txt", 54, 54 },
	{ "mail-mbox-messageparser/mailboxes/newlines_at_beginning.txt", 1, 1 },
	{ "mail-mbox-messageparser/mailboxes/separators1.sep", 4, 4 },
	{ "mail-mbox-messageparser/mailboxes/separators2.sep", 3, 2 },
	{ "mail-mbox-messageparser/mailboxes/vm-emacs.txt", 1, 1 },
	{ "notmuch/corpora/insert/mbox-attachment.eml", 2, 2 },
	{ "perceval/groupsio/messages.mbox", 49, 49 },
	{ "perceval/hyperkitty/hyperkitty_2016_april.mbox", 3, 3 },
	{ "perceval/hyperkitty/hyperkitty_2016_march.mbox", 1, 1 },
	{ "perceval/mbox/mbox_complex.mbox", 2, 2 },
	{ "perceval/mbox/mbox_iso8859_encoding.mbox", 1, 1 },
	{ "perceval/mbox/mbox_multipart.mbox", 2, 2 },
	{ "perceval/mbox/mbox_no_fields.mbox", 6, 6 },
	{ "perceval/mbox/mbox_single.mbox", 1, 1 },
	{ "perceval/mbox/mbox_unixfrom_encoding.mbox", 1, 1 },
	{ "perceval/mbox/mbox_unknown_encoding.mbox", 1, 1 },
	{ "perceval/pipermail/pipermail_2015_november.mbox", 4, 4 },
	{ "perceval/pipermail/pipermail_2016_april.mbox", 3, 3 },
	{ "perceval/pipermail/pipermail_2016_march.mbox", 1, 1 },
};

static const char *
corpus_dir(void)
{
	const char *d = getenv("CORPUS");
	return d && *d ? d : TEST_CORPUSDIR;
}

/* Read a whole file; NULL when it does not exist. */
static char *
slurp(const char *path, size_t *len_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd == -1)
		return NULL;
	ck_assert_int_eq(fstat(fd, &st), 0);
	char *buf = xmalloc((size_t)st.st_size + 1);
	ssize_t n = read_full(fd, buf, (size_t)st.st_size);
	ck_assert_int_eq(n, st.st_size);
	close(fd);
	*len_r = (size_t)n;
	return buf;
}

START_TEST(test_fromline_corpus)
{
	const struct corpus_case *c = &corpus_cases[_i];
	char *path = xasprintf("%s/%s", corpus_dir(), c->path);
	size_t len;
	char *buf = slurp(path, &len);

	/* t/corpus travels with the source tree: missing is a failure */
	ck_assert_msg(buf != NULL, "%s: cannot read the corpus file: %s", path, strerror(errno));
	unsigned lines = 0, valid = 0;
	for (size_t off = 0; off < len;) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - (buf + off)) : len - off;
		if (l >= 5 && memcmp(buf + off, "From ", 5) == 0) {
			struct fromline fl;
			lines++;
			if (fromline_parse(buf + off, l, &fl)) {
				valid++;
				ck_assert_uint_le(fl.sender_off + fl.sender_len, l);
				/* every corpus date is between 1970 and 2030 */
				ck_assert_int_ge(fl.time, 0);
				ck_assert_int_lt(fl.time, 1893456000);
			}
		}
		off += l + 1;
	}
	ck_assert_msg(lines == c->from_lines, "%s: %u From_ lines, want %u", c->path, lines, c->from_lines);
	ck_assert_msg(valid == c->valid, "%s: %u valid, want %u", c->path, valid, c->valid);
	free(buf);
	free(path);
}
END_TEST

/* ---- RFC 5322 dates ---------------------------------------------------- */

struct dp_case {
	const char *s;
	size_t len;
	int ret;
	long long time;
	int zone;
};

#define T0703 1057049557LL      /* Tue, 1 Jul 2003 10:52:37 +0200 */

static const struct dp_case dp_cases[] = {
	{ L("Tue, 1 Jul 2003 10:52:37 +0200"), 0, T0703, 120 },
	{ L("1 Jul 2003 10:52:37 +0200"), 0, T0703, 120 },
	{ L("Tue 1 Jul 2003 10:52:37 +0200"), 0, T0703, 120 },
	{ L("Tue,1 Jul 2003 10:52:37 +0200"), 0, T0703, 120 },
	{ L("Tue, 01 Jul 2003 10:52:37 +0200 (CEST)"), 0, T0703, 120 },
	{ L("Wed, 1 Jul 2003 10:52:37 +0200"), 0, T0703, 120 },      /* wrong weekday ignored */
	{ L("  Tue, 1 Jul 2003\r\n 10:52:37\n\t+0200  "), 0, T0703, 120 },
	{ L("(c) Tue, 1 (x (nested) \\) y) Jul 2003 10:52:37 +0200"), 0, T0703, 120 },
	{ L("Tuesday, 1 July 2003 10:52:37 +0200"), 0, T0703, 120 },
	{ L("tue, 1 JUL 2003 10:52:37 +0200"), 0, T0703, 120 },
	{ L("Tue, 1 Jul 03 10:52:37 +0200"), 0, T0703, 120 },
	{ L("Tue, 1 Jul 103 10:52:37 +0200"), 0, T0703, 120 },
	{ L("Tue, 1 Jul 2003 10:52 +0200"), 0, T0703 - 37, 120 },
	{ L("Tue, 1 Jul 2003 10:52:37 PM +0200"), 0, T0703 + 12 * 3600, 120 },
	{ L("Tue, 1 Jul 2003 08:52:37 -0000"), 0, T0703, 0 },
	{ L("Tue, 1 Jul 2003 08:52:37 +0000"), 0, T0703, 0 },
	{ L("Tue, 1 Jul 2003 08:52:37"), 0, T0703, 0 },
	{ L("Tue, 1 Jul 2003 08:52:37 GMT"), 0, T0703, 0 },
	{ L("Tue, 1 Jul 2003 08:52:37 UT"), 0, T0703, 0 },
	{ L("Tue, 1 Jul 2003 04:52:37 EDT"), 0, T0703, -240 },
	{ L("Tue, 1 Jul 2003 03:52:37 EST"), 0, T0703, -300 },
	{ L("Tue, 1 Jul 2003 03:52:37 CDT"), 0, T0703, -300 },
	{ L("Tue, 1 Jul 2003 02:52:37 CST"), 0, T0703, -360 },
	{ L("Tue, 1 Jul 2003 02:52:37 MDT"), 0, T0703, -360 },
	{ L("Tue, 1 Jul 2003 01:52:37 MST"), 0, T0703, -420 },
	{ L("Tue, 1 Jul 2003 01:52:37 PDT"), 0, T0703, -420 },
	{ L("Tue, 1 Jul 2003 00:52:37 PST"), 0, T0703, -480 },
	/* military and unknown zones carry no information: -0000 */
	{ L("Tue, 1 Jul 2003 08:52:37 A"), 0, T0703, 0 },
	{ L("Tue, 1 Jul 2003 08:52:37 Z"), 0, T0703, 0 },
	{ L("Tue, 1 Jul 2003 08:52:37 CET"), 0, T0703, 0 },
	{ L("Tue, 1 Jul 2003 08:52:37 MET DST"), 0, T0703, 0 },
	{ L("Tue, 1 Jul 2003 10:52:37 +0200 (EDT)"), 0, T0703, 120 },
	/* asctime layout, with and without zones */
	{ L("Mon Jan  1 00:00:00 2001"), 0, 978307200, 0 },
	{ L("Mon Jan  1 00:00:00 2001 -0800"), 0, 978307200 + 8 * 3600, -480 },
	{ L("Mon Jan  1 00:00:00 PST 2001"), 0, 978307200 + 8 * 3600, -480 },
	/* ISO 8601 */
	{ L("2001-01-01T00:00:00Z"), 0, 978307200, 0 },
	{ L("2001-01-01T08:00:00+08:00"), 0, 978307200, 480 },
	{ L("2001-01-01 00:00:00.123-0100"), 0, 978307200 + 3600, -60 },
	/* dotted and dashed dates, 2-digit year rules */
	{ L("01.07.2003 10:52:37 +0200"), 0, T0703, 120 },
	{ L("1-Jul-2003 10:52:37 +0200"), 0, T0703, 120 },
	{ L("07/01/2003 10:52:37 +0200"), 0, T0703, 120 },
	{ L("1 Jan 49 00:00:00 +0000"), 0, 2493072000LL, 0 },
	{ L("1 Jan 50 00:00:00 +0000"), 0, -631152000LL, 0 },
	{ L("Thu, 1 Jan 70 00:00:00 GMT"), 0, 0, 0 },
	{ L("29 Feb 2004 12:00:00 +0000"), 0, 1078056000LL, 0 },
	{ L("31 Dec 1997 23:59:60 +0000"), 0, 883612800LL, 0 },
	{ L("1 Jan 2001"), 0, 978307200, 0 },
	{ L("1 Jan 2001 00:00:00 +0000\0"), 0, 978307200, 0 },
	/* invalid */
	{ L(""), -1, 0, 0 },
	{ L("   "), -1, 0, 0 },
	{ L("garbage"), -1, 0, 0 },
	{ L("yesterday at noon"), -1, 0, 0 },
	{ L("Tue, 1 Foo 2003 10:52:37 +0200"), -1, 0, 0 },
	{ L("32 Jan 2001 00:00:00 +0000"), -1, 0, 0 },
	{ L("0 Jan 2001 00:00:00 +0000"), -1, 0, 0 },
	{ L("29 Feb 2003 00:00:00 +0000"), -1, 0, 0 },
	{ L("31 Apr 2003 00:00:00 +0000"), -1, 0, 0 },
	{ L("2001-13-01T00:00:00Z"), -1, 0, 0 },
	{ L("13.13.2001 00:00:00"), -1, 0, 0 },
	{ L("1 Jan 0000 00:00:00 +0000"), -1, 0, 0 },
	{ L("1 Jan 2001 24:00:00 +0000"), -1, 0, 0 },
	{ L("1 Jan 2001 10:61:00 +0000"), -1, 0, 0 },
	{ L("1 Jan 2001 13:00:00 PM"), -1, 0, 0 },
	{ L("Jan 2001"), -1, 0, 0 },
};

START_TEST(test_date_parse_table)
{
	const struct dp_case *c = &dp_cases[_i];
	time_t t = 12345;
	int zone = 999;

	int r = date_parse(c->s, c->len, &t, &zone);
	ck_assert_msg(r == c->ret, "case %d \"%s\": ret %d", _i, c->s, r);
	if (r != 0)
		return;
	ck_assert_msg((long long)t == c->time, "case %d \"%s\": %lld, want %lld",
	    _i, c->s, (long long)t, c->time);
	ck_assert_msg(zone == c->zone, "case %d: zone %d, want %d", _i, zone, c->zone);
	ck_assert_int_eq(date_parse(c->s, c->len, &t, NULL), 0);
}
END_TEST

/* A date inside a long value: the length is respected, nothing after it
 * is read (the byte after len is not a digit of the year). */
START_TEST(test_date_parse_length)
{
	time_t t;
	static const char s[] = "1 Jan 2001 00:00:00 +0000 1 Feb 2002";

	ck_assert_int_eq(date_parse(s, 25, &t, NULL), 0);
	ck_assert_int_eq(t, 978307200);
	ck_assert_int_eq(date_parse("1 Jan 20019", 10, &t, NULL), 0);
	ck_assert_int_eq(t, 978307200);
}
END_TEST

/* ---- date_make_time and formatters ------------------------------------- */

struct mt_case {
	int y, mo, d, h, mi, s;
	long long t;
};

static const struct mt_case mt_cases[] = {
	{ 1970, 1, 1, 0, 0, 0, 0 },
	{ 1969, 12, 31, 23, 59, 59, -1 },
	{ 1996, 1, 3, 1, 5, 34, 820631134 },
	{ 2000, 2, 29, 0, 0, 0, 951782400 },
	{ 1900, 1, 1, 0, 0, 0, -2208988800LL },
	{ 2038, 1, 19, 3, 14, 8, 2147483648LL },
	{ 2100, 3, 1, 0, 0, 0, 4107542400LL },
	{ 2100, 2, 28, 0, 0, 0, 4107542400LL - 86400 },
	{ 9999, 12, 31, 23, 59, 59, 253402300799LL },
	{ 1997, 12, 31, 23, 59, 60, 883612800 },
};

START_TEST(test_make_time)
{
	const struct mt_case *c = &mt_cases[_i];

	ck_assert_msg((long long)date_make_time(c->y, c->mo, c->d, c->h, c->mi, c->s) == c->t,
	    "case %d", _i);
}
END_TEST

/* date_parse() reads the common layout in one pass, and gives it to the
 * general parser otherwise: the two agree on every combination of the
 * parts below (weekday, day, month, year, time, zone, what follows, the
 * white space between), valid and not. */
START_TEST(test_date_fast_same)
{
	static const char *const wd[] = { "", "Mon, ", "mon, ", "Thu,", "Monday, ", "Mon ", "Xyz, " };
	static const char *const md[] = { "4", "04", "31", "32", "0", "29", "1" };
	static const char *const mo[] = { "Jan", "feb", "FEB", "Sept", "Foo", "Dec" };
	static const char *const yr[] = { "2021", "2024", "1900", "1899", "21", "9999", "202" };
	static const char *const tm[] = { "10:00:00", "10:00", "23:59:60", "24:00:00", "9:05:00",
		"10:61:00", "10:00:0" };
	static const char *const zn[] = { "+0000", "-0800", "+0530", "+2400", "+0060", "UTC", "",
		"-00:30", "+00000" };
	static const char *const tail[] = { "", " (UTC)", " (a (b))", " x", "  ", "\r\n", " (UTC" };
	static const char *const sp[] = { " ", "  ", "\t", "\r\n " };
	char buf[256];
	size_t n = 0, agree_ok = 0;

	for (size_t a = 0; a < ARRAY_SIZE(wd); a++)
	for (size_t b = 0; b < ARRAY_SIZE(md); b++)
	for (size_t c = 0; c < ARRAY_SIZE(mo); c++)
	for (size_t d = 0; d < ARRAY_SIZE(yr); d++)
	for (size_t e = 0; e < ARRAY_SIZE(tm); e++)
	for (size_t f = 0; f < ARRAY_SIZE(zn); f++) {
		size_t g = (a + b + c + d + e + f) % ARRAY_SIZE(tail);
		const char *w = sp[(a * 7 + d + e) % ARRAY_SIZE(sp)];
		int len = snprintf(buf, sizeof buf, "%s%s%s%s%s%s%s%s%s%s%s", wd[a], md[b], w, mo[c],
		    w, yr[d], " ", tm[e], w, zn[f], tail[g]);
		time_t t1 = 0, t2 = 0;
		int z1 = 0, z2 = 0;
		int r1 = date_parse(buf, (size_t)len, &t1, &z1);
		int r2 = date_parse_general(buf, (size_t)len, &t2, &z2);
		ck_assert_msg(r1 == r2 && (r1 != 0 || (t1 == t2 && z1 == z2)),
		    "\"%s\": %d %lld %d, general %d %lld %d", buf, r1, (long long)t1, z1, r2,
		    (long long)t2, z2);
		n++;
		agree_ok += r1 == 0;
	}
	ck_assert_uint_gt(agree_ok, n / 10);    /* many valid ones among them */
	time_t t;
	int z;
	ck_assert_int_eq(date_parse(L("Mon, 4 Jan 2021 10:00:00 +0130 (CET)"), &t, &z), 0);
	ck_assert_int_eq(t, 1609754400 - 90 * 60);
	ck_assert_int_eq(z, 90);
}
END_TEST

START_TEST(test_make_time_range)
{
	ck_assert_int_eq(date_make_time(2001, 13, 1, 0, 0, 0), (time_t)-1);
	ck_assert_int_eq(date_make_time(2001, 0, 1, 0, 0, 0), (time_t)-1);
	ck_assert_int_eq(date_make_time(0, 1, 1, 0, 0, 0), (time_t)-1);
	ck_assert_int_eq(date_make_time(10000, 1, 1, 0, 0, 0), (time_t)-1);
	ck_assert_int_eq(date_make_time(2001, 1, 32, 0, 0, 0), (time_t)-1);
	ck_assert_int_eq(date_make_time(2001, 1, 0, 0, 0, 0), (time_t)-1);
	ck_assert_int_eq(date_make_time(2001, 1, 1, -1, 0, 0), (time_t)-1);
	ck_assert_int_eq(date_make_time(2001, 1, 1, 0, 60, 0), (time_t)-1);
	ck_assert_int_eq(date_make_time(2001, 1, 1, 0, 0, 61), (time_t)-1);
}
END_TEST

struct fmt_case {
	long long t;
	const char *asct;
	const char *rfc;
	const char *iso;
};

static const struct fmt_case fmt_cases[] = {
	{ 0, "Thu Jan  1 00:00:00 1970", "Thu, 01 Jan 1970 00:00:00 +0000", "1970-01-01T00:00:00Z" },
	{ -1, "Wed Dec 31 23:59:59 1969", "Wed, 31 Dec 1969 23:59:59 +0000", "1969-12-31T23:59:59Z" },
	{ 820631134, "Wed Jan  3 01:05:34 1996", "Wed, 03 Jan 1996 01:05:34 +0000", "1996-01-03T01:05:34Z" },
	{ 951782400, "Tue Feb 29 00:00:00 2000", "Tue, 29 Feb 2000 00:00:00 +0000", "2000-02-29T00:00:00Z" },
	{ 1509943378, "Mon Nov  6 04:42:58 2017", "Mon, 06 Nov 2017 04:42:58 +0000", "2017-11-06T04:42:58Z" },
	{ -2208988800LL, "Mon Jan  1 00:00:00 1900", "Mon, 01 Jan 1900 00:00:00 +0000", "1900-01-01T00:00:00Z" },
	{ 253402300799LL, "Fri Dec 31 23:59:59 9999", "Fri, 31 Dec 9999 23:59:59 +0000", "9999-12-31T23:59:59Z" },
};

START_TEST(test_format)
{
	const struct fmt_case *c = &fmt_cases[_i];
	char a[32], r[40], i[32];

	date_format_asctime((time_t)c->t, a);
	date_format_rfc5322((time_t)c->t, r);
	date_format_iso((time_t)c->t, i);
	ck_assert_str_eq(a, c->asct);
	ck_assert_uint_eq(strlen(a), 24);
	ck_assert_str_eq(r, c->rfc);
	ck_assert_str_eq(i, c->iso);
	/* what we write, we read back */
	time_t back;
	ck_assert_int_eq(date_parse(r, strlen(r), &back, NULL), 0);
	ck_assert_int_eq(back, (time_t)c->t);
	char line[64];
	snprintf(line, sizeof line, "From MAILER-DAEMON %s", a);
	struct fromline fl;
	ck_assert(fromline_parse(line, strlen(line), &fl));
	ck_assert_int_eq(fl.time, (time_t)c->t);
}
END_TEST

static Suite *
date_suite(void)
{
	Suite *s = suite_create("date");
	TCase *tc;

	tc = tcase_create("fromline");
	tcase_add_loop_test(tc, test_fromline_table, 0, (int)ARRAY_SIZE(fl_cases));
	tcase_add_test(tc, test_fromline_offsets);
	tcase_add_test(tc, test_fromline_length);
	tcase_add_test(tc, test_fromline_many_words);
	suite_add_tcase(s, tc);

	tc = tcase_create("corpus");
	tcase_add_loop_test(tc, test_fromline_corpus, 0, (int)ARRAY_SIZE(corpus_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("rfc5322");
	tcase_add_loop_test(tc, test_date_parse_table, 0, (int)ARRAY_SIZE(dp_cases));
	tcase_add_test(tc, test_date_parse_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("arith");
	tcase_add_loop_test(tc, test_make_time, 0, (int)ARRAY_SIZE(mt_cases));
	tcase_add_test(tc, test_make_time_range);
	tcase_add_test(tc, test_date_fast_same);
	tcase_add_loop_test(tc, test_format, 0, (int)ARRAY_SIZE(fmt_cases));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(date_suite());

	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
