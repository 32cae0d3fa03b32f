/*
 * check_mbox_writer.c: Check suite for mbox_writer.c (SPEC §2.3, §2.4,
 * §2.6, §2.10, §3.11, §5 O1-O8; DESIGN §3): quoting tables for every
 * variant with the body split at every position, the bytes added before
 * the first new message, separators, Content-Length/Lines, header flag
 * rewriting (unchanged flags -> identical bytes), the From_ line builder,
 * truncate-back after a failed write at every write index, compressed
 * and stdout output, and the journaled in-place rewrite crashed at every
 * write index and then recovered (old or new content, same inode).
 */
#include "config.h"

#include <archive.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "flags.h"
#include "lock.h"
#include "mbox_writer.h"
#include "report.h"
#include "testhook.h"
#include "util.h"

#define FROM0 "From a@b Thu Jan  1 00:00:00 1970\n"

/* Tests never wait long for a lock. */
static const struct mbox_lock_opts lock_1s = { .timeout = 1 };

static char dir[64];
static char mbox[128];

static void
setup(void)
{
	strcpy(dir, "/tmp/check_mbox_writer.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(mbox, sizeof mbox, "%s/mbox", dir);
	report_init("test");
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	(void)!system(cmd);
}

/* File helpers with plain syscalls (no test hook counting). */
static void
put_file(const char *p, const char *data, size_t n)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
	close(fd);
}

static void
get_file(const char *p, struct strbuf *out)
{
	char buf[65536];
	ssize_t n;
	int fd = open(p, O_RDONLY);

	sb_reset(out);
	ck_assert_int_ne(fd, -1);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		sb_append(out, buf, (size_t)n);
	close(fd);
}

static void
assert_file(const char *p, const char *want, size_t n)
{
	struct strbuf got = STRBUF_INIT;

	get_file(p, &got);
	ck_assert_msg(got.len == n && (n == 0 || memcmp(got.buf, want, n) == 0),
	    "file %s: got %zu bytes [%.*s], want %zu [%.*s]", p, got.len, (int)got.len,
	    got.buf ? got.buf : "", n, (int)n, want);
	sb_free(&got);
}

static struct mbox_writer *
open_writer(enum mbox_variant v)
{
	struct mbox_writer_opts o = { .variant = v, .no_sync = true };
	struct mbox_writer *w;

	o.lock.timeout = 0;
	ck_assert_int_eq(mbox_writer_open(&w, mbox, &o), 0);
	return w;
}

/* Append one message: header, body cut at the given positions. */
static void
append(struct mbox_writer *w, const char *hdr, const char *body, size_t blen,
	const size_t *cuts, size_t ncuts, int64_t cl, int64_t lines)
{
	struct mbox_msg_out m = {
		.from_line = FROM0, .from_line_len = strlen(FROM0),
		.hdr = hdr, .hdr_len = strlen(hdr), .body_len = cl, .body_lines = lines,
	};
	size_t at = 0;

	ck_assert_int_eq(mbox_writer_begin(w, &m), 0);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : blen;
		ck_assert_int_eq(mbox_writer_write(w, body + at, end - at), 0);
		at = end;
	}
	ck_assert_int_eq(mbox_writer_end(w), 0);
}

/* ---- quoting ---------------------------------------------------------------- */

static const struct {
	const char *in, *rd, *o, *cl2;
} quote_table[] = {
	{ "From x\n", ">From x\n", ">From x\n", "From x\n" },
	{ ">From x\n", ">>From x\n", ">From x\n", ">From x\n" },
	{ ">>From x\n", ">>>From x\n", ">>From x\n", ">>From x\n" },
	{ "a\nFrom b\n>From c\n", "a\n>From b\n>>From c\n", "a\n>From b\n>From c\n", "a\nFrom b\n>From c\n" },
	{ "From ", ">From ", ">From ", "From " },
	{ "From", "From", "From", "From" },
	{ ">>From", ">>From", ">>From", ">>From" },
	{ "Fromx\nFrom\n", "Fromx\nFrom\n", "Fromx\nFrom\n", "Fromx\nFrom\n" },
	{ "x From y\n", "x From y\n", "x From y\n", "x From y\n" },
	{ "FROM x\nfrom x\n", "FROM x\nfrom x\n", "FROM x\nfrom x\n", "FROM x\nfrom x\n" },
	{ ">>>\n>\n", ">>>\n>\n", ">>>\n>\n", ">>>\n>\n" },
	{ "\nFrom \n", "\n>From \n", "\n>From \n", "\nFrom \n" },
	{ " From x\n", " From x\n", " From x\n", " From x\n" },
	{ ">Fro\n>From", ">Fro\n>From", ">Fro\n>From", ">Fro\n>From" },
	{ "From\r\nFrom \r\n", "From\r\n>From \r\n", "From\r\n>From \r\n", "From\r\nFrom \r\n" },
	{ "", "", "", "" },
};

/* The quoted bytes of the whole body, for each way of cutting it in two
 * and byte by byte, through the real writer; and the measured length. */
START_TEST(test_quoting_every_split)
{
	static const enum mbox_variant vs[] = { MBOX_MBOXRD, MBOX_MBOXO, MBOX_MBOXCL2 };
	struct strbuf want = STRBUF_INIT;
	const char *hdr = "Subject: q\n\n";

	for (size_t t = 0; t < ARRAY_SIZE(quote_table); t++) {
		const char *in = quote_table[t].in;
		size_t n = strlen(in);
		for (size_t v = 0; v < ARRAY_SIZE(vs); v++) {
			const char *q = v == 0 ? quote_table[t].rd : v == 1 ? quote_table[t].o
			    : quote_table[t].cl2;
			bool final_lf = n == 0 || in[n - 1] == '\n';
			/* measuring agrees with the table */
			struct mbox_quote mq;
			mbox_quote_init(&mq, vs[v]);
			for (size_t i = 0; i < n; i++)
				mbox_quote_measure(&mq, in + i, 1);
			mbox_quote_measure_end(&mq);
			ck_assert_uint_eq(mq.len, strlen(q));
			size_t lfs = 0;
			for (const char *s = q; *s; s++)
				lfs += *s == '\n';
			/* counted only where a Lines: field needs it */
			ck_assert_uint_eq(mq.lines, vs[v] == MBOX_MBOXCL2 ? lfs : 0);
			sb_reset(&want);
			sb_appends(&want, FROM0);
			if (vs[v] == MBOX_MBOXCL2)
				sb_appendf(&want, "Subject: q\nContent-Length: %zu\nLines: %zu\n\n%s\n",
				    strlen(q), lfs, q);
			else
				sb_appendf(&want, "%s%s%s", hdr, q, final_lf ? "\n" : "\n\n");
			/* splits: none, every single cut, every byte */
			size_t cuts[64];
			for (size_t i = 0; i < n; i++)
				cuts[i] = i + 1;
			for (size_t cut = 0; cut <= n + 1; cut++) {
				unlink(mbox);
				struct mbox_writer *w = open_writer(vs[v]);
				int64_t cl = vs[v] == MBOX_MBOXCL2 ? (int64_t)mq.len : -1;
				int64_t ln = vs[v] == MBOX_MBOXCL2 ? (int64_t)mq.lines : -1;
				if (cut <= n) {
					size_t one = cut;
					append(w, hdr, in, n, &one, 1, cl, ln);
				} else {
					append(w, hdr, in, n, cuts, n ? n - 1 : 0, cl, ln);
				}
				ck_assert_int_eq(mbox_writer_close(w), 0);
				assert_file(mbox, want.buf, want.len);
			}
		}
	}
	sb_free(&want);
}
END_TEST

/* The lines quote_feed() looks at byte by byte sit at every offset of the
 * 16-byte blocks its scan compares: a generated body of such lines, whole
 * and cut at every position, quoted as a line-by-line reference says. */
START_TEST(test_quoting_wide)
{
	static const char *const lines[] = {
		"From x", ">From x", ">>From y", "Fro", "F", ">F", ">", "From", "Frog",
		"xFrom x", " From x", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv", "",
		"Fine", ">>>", "FFrom x",
	};
	static const enum mbox_variant vs[] = { MBOX_MBOXRD, MBOX_MBOXO };
	struct strbuf in = STRBUF_INIT, want = STRBUF_INIT;
	unsigned seed = 12345;

	for (int i = 0; i < 90; i++) {
		seed = seed * 1103515245u + 12345u;
		const char *l = lines[(seed >> 16) % ARRAY_SIZE(lines)];
		sb_appendf(&in, "%.*s\n", (int)((seed >> 8) % 7), "abcdefg");
		sb_appendf(&in, "%s\n", l);
	}
	for (size_t v = 0; v < ARRAY_SIZE(vs); v++) {
		sb_reset(&want);
		sb_appends(&want, FROM0 "\n");
		for (const char *p = in.buf, *e; p < in.buf + in.len; p = e + 1) {
			e = memchr(p, '\n', (size_t)(in.buf + in.len - p));
			const char *f = p;
			if (vs[v] == MBOX_MBOXRD)
				while (*f == '>')
					f++;
			if (e - f >= 5 && memcmp(f, "From ", 5) == 0)
				sb_appendc(&want, '>');
			sb_append(&want, p, (size_t)(e + 1 - p));
		}
		sb_appends(&want, "\n");
		for (size_t cut = 0; cut <= in.len; cut++) {
			unlink(mbox);
			struct mbox_writer *w = open_writer(vs[v]);
			append(w, "\n", in.buf, in.len, &cut, 1, -1, -1);
			ck_assert_int_eq(mbox_writer_close(w), 0);
			assert_file(mbox, want.buf, want.len);
		}
	}
	sb_free(&in);
	sb_free(&want);
}
END_TEST

/* A long run of '>' and a long line: bounded state, same result. */
START_TEST(test_quoting_long_runs)
{
	struct strbuf in = STRBUF_INIT, want = STRBUF_INIT;

	for (int i = 0; i < 100000; i++)
		sb_appendc(&in, '>');
	sb_appends(&in, "From x\n");
	sb_appends(&want, FROM0 "\n>");
	sb_append(&want, in.buf, in.len);
	sb_appends(&want, "\n");
	struct mbox_writer *w = open_writer(MBOX_MBOXRD);
	size_t cuts[] = { 1, 70000, 100002 };
	append(w, "\n", in.buf, in.len, cuts, 3, -1, -1);
	ck_assert_int_eq(mbox_writer_close(w), 0);
	assert_file(mbox, want.buf, want.len);
	sb_free(&in);
	sb_free(&want);
}
END_TEST

/* ---- the end of an existing file (SPEC §2.6 ▶, O4) ------------------------- */

START_TEST(test_append_existing_end)
{
	static const struct { const char *old, *pre; } t[] = {
		{ "", "" },
		{ "\n", "" },
		{ FROM0 "\nbody\n\n", "" },
		{ FROM0 "\nbody\n", "\n" },
		{ FROM0 "\nbody", "\n\n" },
		{ FROM0 "\r\nbody\r\n\r\n", "" },
		{ FROM0 "\r\nbody\r\n", "\r\n" },
		{ FROM0 "\nbody\r", "\n\n" },
	};
	struct strbuf want = STRBUF_INIT;

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		put_file(mbox, t[i].old, strlen(t[i].old));
		struct mbox_writer *w = open_writer(MBOX_MBOXRD);
		append(w, "S: 1\n\n", "one\n", 4, NULL, 0, -1, -1);
		append(w, "S: 2\n\n", "two", 3, NULL, 0, -1, -1);
		ck_assert_uint_eq(mbox_writer_messages(w), 2);
		ck_assert_uint_eq(mbox_writer_added_newlines(w), 1);
		ck_assert_int_eq(mbox_writer_close(w), 0);
		sb_reset(&want);
		sb_appendf(&want, "%s%s" FROM0 "S: 1\n\none\n\n" FROM0 "S: 2\n\ntwo\n\n", t[i].old, t[i].pre);
		assert_file(mbox, want.buf, want.len);
	}
	/* opening and closing without a message changes nothing */
	put_file(mbox, "From x\n\nbody", 12);
	struct mbox_writer *w = open_writer(MBOX_MBOXRD);
	ck_assert_int_eq(mbox_writer_close(w), 0);
	assert_file(mbox, "From x\n\nbody", 12);
	sb_free(&want);
}
END_TEST

/* ---- Content-Length and Lines (SPEC §2.4 ▶, O3, O5) ----------------------- */

START_TEST(test_content_length)
{
	static const struct {
		enum mbox_variant v;
		const char *hdr, *body, *want;
	} t[] = {
		{ MBOX_MBOXCL2, "Subject: s\nContent-Length: 999\nX: y\nLines: 7\n\n", "From x\nline\n",
		  FROM0 "Subject: s\nContent-Length: 12\nX: y\nLines: 2\n\nFrom x\nline\n\n" },
		{ MBOX_MBOXCL, "Subject: s\n\n", "From x\n>From y\n",
		  FROM0 "Subject: s\nContent-Length: 16\nLines: 2\n\n>From x\n>From y\n\n" },
		/* no final newline: kept exact, one separator LF */
		{ MBOX_MBOXCL2, "A: b\n\n", "no newline",
		  FROM0 "A: b\nContent-Length: 10\nLines: 0\n\nno newline\n" },
		/* duplicates go, name spelling kept */
		{ MBOX_MBOXCL2, "content-length: 5\nA: b\nContent-Length: 6\n\n", "",
		  FROM0 "content-length: 0\nA: b\nLines: 0\n\n\n" },
		/* CRLF header: added fields use CRLF */
		{ MBOX_MBOXCL2, "A: b\r\n\r\n", "x\r\n",
		  FROM0 "A: b\r\nContent-Length: 3\r\nLines: 1\r\n\r\nx\r\n\n" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		for (int known = 0; known < 2; known++) {
			unlink(mbox);
			struct mbox_quote q;
			mbox_quote_init(&q, t[i].v);
			mbox_quote_measure(&q, t[i].body, strlen(t[i].body));
			mbox_quote_measure_end(&q);
			struct mbox_writer *w = open_writer(t[i].v);
			size_t cut = strlen(t[i].body) / 2;
			append(w, t[i].hdr, t[i].body, strlen(t[i].body), &cut, 1,
			    known ? (int64_t)q.len : -1, known ? (int64_t)q.lines : -1);
			ck_assert_int_eq(mbox_writer_close(w), 0);
			assert_file(mbox, t[i].want, strlen(t[i].want));
		}
	}
}
END_TEST

/* A body that does not match the announced length is taken back. */
START_TEST(test_content_length_mismatch)
{
	put_file(mbox, FROM0 "\nold\n\n", strlen(FROM0) + 6);
	struct mbox_writer *w = open_writer(MBOX_MBOXCL2);
	struct mbox_msg_out m = {
		.from_line = FROM0, .from_line_len = strlen(FROM0),
		.hdr = "\n", .hdr_len = 1, .body_len = 3, .body_lines = 1,
	};
	ck_assert_int_eq(mbox_writer_begin(w, &m), 0);
	ck_assert_int_eq(mbox_writer_write(w, "four\n", 5), 0);
	ck_assert_int_eq(mbox_writer_end(w), -1);
	ck_assert_int_ne(mbox_writer_close(w), 0);
	assert_file(mbox, FROM0 "\nold\n\n", strlen(FROM0) + 6);
}
END_TEST

/* ---- header editing (SPEC §2.10 ▶, O5) ------------------------------------- */

START_TEST(test_header_set_flags)
{
	static const struct {
		const char *in;
		uint32_t flags;
		bool old;
		const char *kw;
		const char *out;      /* NULL: unchanged */
	} t[] = {
		{ "Subject: a\n\n", MF_SEEN, true, "", "Subject: a\nStatus: RO\n\n" },
		{ "Subject: a\n\n", 0, false, "", NULL },
		{ "Subject: a\n\n", 0, true, "", "Subject: a\nStatus: O\n\n" },
		{ "Status: OR\nX-Status: \nSubject: a\n\n", MF_SEEN, true, "", NULL },
		{ "Status: O\nSubject: a\n\n", MF_SEEN, true, "", "Status: RO\nSubject: a\n\n" },
		{ "status:  O\nA: b\n\n", MF_SEEN, true, "", "status: RO\nA: b\n\n" },
		{ "X-Status: FA\nStatus: RO\n\n", MF_SEEN | MF_REPLIED | MF_FLAGGED, true, "", NULL },
		{ "Status: RO\n\n", MF_SEEN | MF_TRASHED | MF_DRAFT, true, "", "Status: RO\nX-Status: DT\n\n" },
		{ "Status: RO\nX-Status: F\n\n", MF_SEEN, true, "", "Status: RO\n\n" },
		{ "Status: RO\nA: b\n\n", 0, false, "", "A: b\n\n" },
		{ "X-Keywords: $Forwarded work   \nStatus: O\n\n", MF_PASSED, true, "work", NULL },
		{ "Status: O\n\n", MF_PASSED, true, "work", "Status: O\nX-Keywords: work $Forwarded\n\n" },
		{ "X-Keywords: a b\nStatus: O\n\n", 0, true, "b", "X-Keywords: b\nStatus: O\n\n" },
		{ "A: b\r\n\r\n", MF_SEEN | MF_FLAGGED, true, "", "A: b\r\nStatus: RO\r\nX-Status: F\r\n\r\n" },
		{ "Status: O\r\nA: b\r\n\r\n", MF_SEEN, true, "", "Status: RO\r\nA: b\r\n\r\n" },
		{ "\n", MF_SEEN, true, "", "Status: RO\n\n" },
		/* folded value rewritten as one line, in place */
		{ "X-Status: F\n A\nB: c\n\n", MF_FLAGGED, false, "", "X-Status: F\nB: c\n\n" },
		/* a header without the empty line (whole message is header) */
		{ "A: b\n", MF_SEEN, true, "", "A: b\nStatus: RO\n" },
	};
	struct strbuf out = STRBUF_INIT;

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		bool ch = mbox_header_set_flags(t[i].in, strlen(t[i].in), t[i].flags, t[i].old,
		    t[i].kw, strlen(t[i].kw), &out);
		const char *want = t[i].out ? t[i].out : t[i].in;
		ck_assert_msg(ch == (t[i].out != NULL), "case %zu: changed=%d", i, ch);
		ck_assert_msg(out.len == strlen(want) && memcmp(out.buf, want, out.len) == 0,
		    "case %zu: got [%s] want [%s]", i, out.buf, want);
	}
	sb_free(&out);
}
END_TEST

/*
 * The one-walk edit against the stepwise one (each field set on the block
 * the last one left) on every header of up to three lines from a pool of
 * flag fields, look-alikes and broken lines, with LF and CRLF, each way a
 * block can end, and a spread of flags and keywords.
 */
START_TEST(test_header_set_flags_one_walk)
{
	static const char *const pool[] = {
		"Subject: a", "Status: O", "Status: RO", "status:RO", "X-Status: F",
		"X-Status: ", "X-Keywords: a b", "X-Keywords: $Forwarded", "Status: O\n x",
		"no colon", "X-Status: DT", "X-Statusx: A",
	};
	static const char *const ends[] = { "\n", "\r\n", "", "\n\r\n" };
	static const uint32_t fl[] = { 0, MF_SEEN, MF_SEEN | MF_FLAGGED, MF_PASSED,
	    MF_DRAFT | MF_TRASHED | MF_REPLIED };
	static const char *const kws[] = { "", "a", "a b", "$Forwarded work" };
	const size_t np = ARRAY_SIZE(pool);
	struct strbuf h = STRBUF_INIT, a = STRBUF_INIT, b = STRBUF_INIT;
	unsigned long cases = 0;

	for (size_t shape = 0; shape < 1 + np + np * np + np * np * np; shape++) {
		size_t idx[3], n = 0, rest = shape;
		if (rest >= 1) {
			rest -= 1;
			n = 1;
			if (rest >= np) { rest -= np; n = 2; }
			if (n == 2 && rest >= np * np) { rest -= np * np; n = 3; }
		}
		for (size_t i = 0; i < n; i++, rest /= np)
			idx[i] = rest % np;
		for (int crlf = 0; crlf < 2; crlf++)
		for (size_t e = 0; e < ARRAY_SIZE(ends); e++)
		for (int nolf = 0; nolf < 2; nolf++) {
			if (nolf && (n == 0 || ends[e][0] != '\0'))
				continue;            /* a last line without LF: no empty line after */
			sb_reset(&h);
			for (size_t i = 0; i < n; i++) {
				for (const char *p = pool[idx[i]]; *p; p++) {
					if (*p == '\n' && crlf)
						sb_appendc(&h, '\r');
					sb_appendc(&h, *p);
				}
				if (!(nolf && i + 1 == n))
					sb_appends(&h, crlf ? "\r\n" : "\n");
			}
			sb_appends(&h, ends[e]);
			for (size_t f = 0; f < ARRAY_SIZE(fl); f++)
			for (int old = 0; old < 2; old++)
			for (size_t k = 0; k < ARRAY_SIZE(kws); k++) {
				bool c1 = mbox_header_set_flags(h.buf ? h.buf : "", h.len, fl[f], old,
				    kws[k], strlen(kws[k]), &a);
				bool c2 = mbox_header_set_flags_stepwise(h.buf ? h.buf : "", h.len, fl[f],
				    old, kws[k], strlen(kws[k]), &b);
				ck_assert_msg(c1 == c2 && a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0,
				    "[%s] flags %u old %d kw [%s]: one walk %d [%s], stepwise %d [%s]",
				    h.buf ? h.buf : "", fl[f], old, kws[k], c1, a.buf, c2, b.buf);
				cases++;
			}
		}
	}
	ck_assert_uint_gt(cases, 100000);
	sb_free(&h);
	sb_free(&a);
	sb_free(&b);
}
END_TEST

START_TEST(test_header_set_field)
{
	static const struct { const char *in, *name, *value, *out; bool changed; } t[] = {
		{ "A: b\n\n", "Lines", "3", "A: b\nLines: 3\n\n", true },
		{ "Lines: 3\nA: b\n\n", "Lines", "3", "Lines: 3\nA: b\n\n", false },
		{ "Lines: 4\nA: b\n\n", "lines", "3", "Lines: 3\nA: b\n\n", true },
		{ "Lines:3\n\n", "Lines", "3", "Lines: 3\n\n", true },
		{ "Lines: 1\nLines: 1\n\n", "Lines", "1", "Lines: 1\n\n", true },
		{ "Lines: 1\n 2\nX: y\n\n", "Lines", "5", "Lines: 5\nX: y\n\n", true },
		{ "X-Lines: 1\n\n", "Lines", "2", "X-Lines: 1\nLines: 2\n\n", true },
		{ "", "Lines", "0", "Lines: 0\n", true },
	};
	struct strbuf out = STRBUF_INIT;

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		bool ch = mbox_header_set_field(t[i].in, strlen(t[i].in), t[i].name, t[i].value, &out);
		ck_assert_msg(ch == t[i].changed, "case %zu", i);
		ck_assert_msg(out.len == strlen(t[i].out) && memcmp(out.buf, t[i].out, out.len) == 0,
		    "case %zu: got [%s]", i, out.buf);
	}
	sb_free(&out);
}
END_TEST

/* ---- the From_ line (SPEC §3.11 ▶, O1) ------------------------------------- */

START_TEST(test_from_line_build)
{
	static const struct { const char *env; const char *hdr; const char *want; } t[] = {
		{ "god@heaven.af.mil", "Return-Path: <x@y>\n\n", "From god@heaven.af.mil Wed Jan  3 01:05:34 1996\n" },
		{ NULL, "Return-Path: <x@y>\nFrom: z@w\n\n", "From x@y Wed Jan  3 01:05:34 1996\n" },
		{ NULL, "Return-Path: <>\nFrom: z@w\n\n", "From MAILER-DAEMON Wed Jan  3 01:05:34 1996\n" },
		{ NULL, "X-Envelope-From: <e@f>\nFrom: z@w\n\n", "From e@f Wed Jan  3 01:05:34 1996\n" },
		{ NULL, "From: \"A B\" <a.b@c.example>\n\n", "From a.b@c.example Wed Jan  3 01:05:34 1996\n" },
		{ NULL, "Subject: none\n\n", "From MAILER-DAEMON Wed Jan  3 01:05:34 1996\n" },
		{ NULL, NULL, "From MAILER-DAEMON Wed Jan  3 01:05:34 1996\n" },
		{ "a b\tc\x01" "d\x7f", NULL, "From a-b-c-d- Wed Jan  3 01:05:34 1996\n" },
		{ "", "From: z@w\n\n", "From MAILER-DAEMON Wed Jan  3 01:05:34 1996\n" },
	};
	struct strbuf out = STRBUF_INIT;

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		mbox_from_line_build(t[i].env, t[i].env ? strlen(t[i].env) : 0, t[i].hdr,
		    t[i].hdr ? strlen(t[i].hdr) : 0, 820631134, &out);
		ck_assert_msg(strcmp(out.buf, t[i].want) == 0, "case %zu: got [%s]", i, out.buf);
	}
	/* space-padded day vs two-digit day */
	mbox_from_line_build("a", 1, NULL, 0, 0, &out);
	ck_assert_str_eq(out.buf, "From a Thu Jan  1 00:00:00 1970\n");
	mbox_from_line_build("a", 1, NULL, 0, 1700000000, &out);
	ck_assert_str_eq(out.buf, "From a Tue Nov 14 22:13:20 2023\n");
	/* the writer builds it when no original line is given */
	struct mbox_writer *w = open_writer(MBOX_MBOXRD);
	struct mbox_msg_out m = { .hdr = "Return-Path: <r@s>\n\n", .hdr_len = 20, .time = 820631134,
	    .body_len = -1, .body_lines = -1 };
	ck_assert_int_eq(mbox_writer_begin(w, &m), 0);
	ck_assert_int_eq(mbox_writer_end(w), 0);
	ck_assert_int_eq(mbox_writer_close(w), 0);
	const char *want = "From r@s Wed Jan  3 01:05:34 1996\nReturn-Path: <r@s>\n\n\n";
	assert_file(mbox, want, strlen(want));
	sb_free(&out);
}
END_TEST

/* ---- truncate-back on a failed write (qmail-local) ------------------------ */

/*
 * Fail the K-th write for every K: the file must hold the old bytes plus
 * exactly the batches that were flushed before the failure.
 */
/* 3.3 MB: the writer's 1 MiB buffer goes out in several writes */
#define BIG_LINES 270000

START_TEST(test_truncate_back_every_write)
{
	if (!testhook_enabled()) {
		fprintf(stderr, "check_mbox_writer: SKIP write failures: built without --enable-test-hooks\n");
		return;
	}
	static const char old[] = FROM0 "\nold";   /* no final newline: pre bytes too */
	struct strbuf big = STRBUF_INIT, batch[3] = { STRBUF_INIT, STRBUF_INIT, STRBUF_INIT };

	for (int i = 0; i < BIG_LINES; i++)
		sb_appends(&big, i % 7 ? "line of text\n" : "From here\n");
	sb_append(&batch[0], old, sizeof old - 1);
	sb_append(&batch[1], batch[0].buf, batch[0].len);
	sb_appends(&batch[1], "\n\n" FROM0 "\n");
	for (int i = 0; i < BIG_LINES; i++)
		sb_appends(&batch[1], i % 7 ? "line of text\n" : ">From here\n");
	sb_appends(&batch[1], "\n");
	sb_append(&batch[2], batch[1].buf, batch[1].len);
	sb_appends(&batch[2], FROM0 "\nsmall\n\n");

	int k;
	for (k = 1; k < 1000; k++) {
		put_file(mbox, old, sizeof old - 1);
		struct stat st0, st1;
		ck_assert_int_eq(stat(mbox, &st0), 0);
		pid_t pid = fork();
		if (pid == 0) {
			char v[32];
			snprintf(v, sizeof v, "%d:ENOSPC", k);
			setenv("MAILSHIFT_FAIL_WRITE", v, 1);
			struct mbox_writer *w = open_writer(MBOX_MBOXRD);
			int flushed = 0;
			struct mbox_msg_out m = { .from_line = FROM0, .from_line_len = strlen(FROM0),
			    .hdr = "\n", .hdr_len = 1, .body_len = -1, .body_lines = -1 };
			if (mbox_writer_begin(w, &m) == 0 && mbox_writer_write(w, big.buf, big.len) == 0 &&
			    mbox_writer_end(w) == 0 && mbox_writer_flush(w) == 0) {
				flushed = 1;
				if (mbox_writer_begin(w, &m) == 0 && mbox_writer_write(w, "small\n", 6) == 0 &&
				    mbox_writer_end(w) == 0 && mbox_writer_flush(w) == 0)
					flushed = 2;
			}
			int st = mbox_writer_close(w);
			_exit(flushed == 2 && st == 0 ? 10 : flushed * 2 + (st == EX_IOERR));
		}
		int ws;
		ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
		ck_assert(WIFEXITED(ws));
		int code = WEXITSTATUS(ws);
		int flushed = code == 10 ? 2 : code / 2;
		if (code != 10)
			ck_assert_msg(code & 1, "K=%d: failure not reported as EX_IOERR", k);
		assert_file(mbox, batch[flushed].buf, batch[flushed].len);
		ck_assert_int_eq(stat(mbox, &st1), 0);
		ck_assert(st0.st_ino == st1.st_ino);
		if (code == 10)
			break;
	}
	ck_assert_int_gt(k, 3);    /* several writes were failed in turn */
	ck_assert_int_lt(k, 1000);
	sb_free(&big);
	for (int i = 0; i < 3; i++)
		sb_free(&batch[i]);
}
END_TEST


/* ---- the appender thread (full buffers written by a thread) -------------- */

/* Message i of the appender tests: a body of `lines` lines, some of them
 * From_ lines to quote. */
static void
big_body(struct strbuf *b, int i, int lines)
{
	char line[96];

	sb_reset(b);
	for (int k = 0; k < lines; k++) {
		int n = snprintf(line, sizeof line, k % 13 == 5 ? "From line %d of %d\n" :
		    "%d: text of message %d, line %d, padded to a usual width....\n", i, i, k);
		sb_append(b, line, (size_t)n);
	}
}

/* Write `count` messages of growing size (several MiB in all, past both
 * buffers many times) with the writer thread (mode 0) or without (1). */
static void
append_many(const char *path, int mode, int count)
{
	struct mbox_writer_opts o = { .variant = MBOX_MBOXRD, .no_sync = true };
	struct mbox_writer *w;
	struct strbuf b = STRBUF_INIT;

	if (mode == 1)
		setenv("MAILSHIFT_TEST_WRITER", "sync", 1);
	else
		unsetenv("MAILSHIFT_TEST_WRITER");
	o.lock.timeout = 0;
	ck_assert_int_eq(mbox_writer_open(&w, path, &o), 0);
	for (int i = 0; i < count; i++) {
		struct mbox_msg_out m = { .from_line = FROM0, .from_line_len = strlen(FROM0),
		    .hdr = "Subject: s\n\n", .hdr_len = 12, .body_len = -1, .body_lines = -1 };
		big_body(&b, i, 1 + (i * 977) % 30000);
		ck_assert_int_eq(mbox_writer_begin(w, &m), 0);
		/* in pieces of every size, one of them larger than a buffer */
		for (size_t at = 0; at < b.len; ) {
			size_t n = i == 7 ? b.len : 1 + (at * 7 + (size_t)i) % 70000;
			if (n > b.len - at)
				n = b.len - at;
			ck_assert_int_eq(mbox_writer_write(w, b.buf + at, n), 0);
			at += n;
		}
		ck_assert_int_eq(mbox_writer_end(w), 0);
		if (i % 9 == 8)
			ck_assert_int_eq(mbox_writer_flush(w), 0);
	}
	ck_assert_int_eq(mbox_writer_close(w), 0);
	sb_free(&b);
}

static bool
same_files(const char *a, const char *b)
{
	struct strbuf x = STRBUF_INIT, y = STRBUF_INIT;
	get_file(a, &x);
	get_file(b, &y);
	bool same = x.len == y.len && memcmp(x.buf, y.buf, x.len) == 0 && x.len > (4u << 20);
	sb_free(&x);
	sb_free(&y);
	return same;
}

/* The writer thread writes the very bytes the caller's thread writes. */
START_TEST(test_appender_same_bytes)
{
	char other[160];

	snprintf(other, sizeof other, "%s/sync", dir);
	append_many(mbox, 0, 40);
	append_many(other, 1, 40);
	ck_assert(same_files(mbox, other));
}
END_TEST

/* A write that fails in the writer thread is reported by the caller's
 * thread as its own: EX_IOERR, and the file cut back to its size at the
 * last flush. _i 0: past RLIMIT_FSIZE (EFBIG) with the thread, 1 the same
 * without, 2: one write of the thread fails (EIO) and the later ones do
 * not (the test hook): only the thread saw it. */
START_TEST(test_appender_failure)
{
	char first[160];

	snprintf(first, sizeof first, "%s/first", dir);
	append_many(first, 1, 9);       /* what the first flush makes durable */
	struct stat st;
	ck_assert_int_eq(stat(first, &st), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit rl = { (rlim_t)st.st_size + (3u << 20), (rlim_t)st.st_size + (3u << 20) };
		signal(SIGXFSZ, SIG_IGN);
		opt_common.quiet = 1;
		if (_i == 1)
			setenv("MAILSHIFT_TEST_WRITER", "sync", 1);
		else
			unsetenv("MAILSHIFT_TEST_WRITER");
		if (_i == 2 && !testhook_enabled())
			_exit(0);
		if (_i == 2) {
			rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
			setenv("MAILSHIFT_TEST_ASYNC_FAIL", "4", 1);
		}
		setrlimit(RLIMIT_FSIZE, &rl);
		struct mbox_writer_opts o = { .variant = MBOX_MBOXRD, .no_sync = true };
		struct mbox_writer *w;
		struct strbuf b = STRBUF_INIT;
		o.lock.timeout = 0;
		if (mbox_writer_open(&w, mbox, &o) != 0)
			_exit(2);
		int rc = 0, i;
		for (i = 0; i < 60 && rc == 0; i++) {
			struct mbox_msg_out m = { .from_line = FROM0, .from_line_len = strlen(FROM0),
			    .hdr = "Subject: s\n\n", .hdr_len = 12, .body_len = -1, .body_lines = -1 };
			big_body(&b, i, 1 + (i * 977) % 30000);
			rc = mbox_writer_begin(w, &m);
			if (rc == 0)
				rc = mbox_writer_write(w, b.buf, b.len);
			if (rc == 0)
				rc = mbox_writer_end(w);
			if (rc == 0 && i == 8)
				rc = mbox_writer_flush(w);
		}
		if (rc == 0)
			rc = mbox_writer_flush(w);
		int st2 = mbox_writer_close(w);
		_exit(rc == -1 && i > 9 && report_exit_status() == EX_IOERR ? 0 : 3 + (st2 != 0));
	}
	int ws;
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert(WIFEXITED(ws));
	ck_assert_int_eq(WEXITSTATUS(ws), 0);
	struct strbuf x = STRBUF_INIT, y = STRBUF_INIT;
	get_file(first, &x);
	get_file(mbox, &y);
	ck_assert_uint_eq(y.len, x.len);
	ck_assert(memcmp(x.buf, y.buf, x.len) == 0);
	sb_free(&x);
	sb_free(&y);
}
END_TEST

/* ---- stdout and compressed output ---------------------------------------- */

/* Decompress a whole file through libarchive's raw reader. */
static void
gunzip_file(const char *p, struct strbuf *out)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char buf[8192];
	la_ssize_t n;

	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	ck_assert_int_eq(archive_read_open_filename(a, p, 16384), ARCHIVE_OK);
	ck_assert_int_eq(archive_read_next_header(a, &e), ARCHIVE_OK);
	sb_reset(out);
	while ((n = archive_read_data(a, buf, sizeof buf)) > 0)
		sb_append(out, buf, (size_t)n);
	ck_assert_int_eq(n, 0);
	archive_read_free(a);
}

START_TEST(test_stdout)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(mbox, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, STDOUT_FILENO);
		struct mbox_writer *w;
		struct mbox_writer_opts o = { .variant = MBOX_MBOXRD };
		if (mbox_writer_open(&w, "-", &o) != 0)
			_exit(1);
		append(w, "A: b\n\n", "From x", 6, NULL, 0, -1, -1);
		_exit(mbox_writer_close(w) == 0 ? 0 : 2);
	}
	int ws;
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(ws), 0);
	const char *want = FROM0 "A: b\n\n>From x\n\n";
	assert_file(mbox, want, strlen(want));
	char lock[200];
	snprintf(lock, sizeof lock, "%s/-.lock", dir);
	ck_assert_int_eq(access(lock, F_OK), -1);
	/* gzip on stdout when asked for */
	pid = fork();
	if (pid == 0) {
		int fd = open(mbox, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, STDOUT_FILENO);
		struct mbox_writer *w;
		struct mbox_writer_opts o = { .variant = MBOX_MBOXRD, .compress = MBOX_COMPRESS_GZIP };
		if (mbox_writer_open(&w, "-", &o) != 0)
			_exit(1);
		append(w, "A: b\n\n", "From x", 6, NULL, 0, -1, -1);
		_exit(mbox_writer_close(w) == 0 ? 0 : 2);
	}
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(ws), 0);
	struct strbuf got = STRBUF_INIT;
	get_file(mbox, &got);
	ck_assert(got.len > 2 && memcmp(got.buf, "\x1f\x8b", 2) == 0);
	gunzip_file(mbox, &got);
	ck_assert_uint_eq(got.len, strlen(want));
	ck_assert(memcmp(got.buf, want, got.len) == 0);
	sb_free(&got);
}
END_TEST

START_TEST(test_compressed)
{
	static const struct { const char *suffix; enum mbox_compress c; const char *magic; size_t mlen; } t[] = {
		{ ".gz", MBOX_COMPRESS_AUTO, "\x1f\x8b", 2 },
		{ ".xz", MBOX_COMPRESS_AUTO, "\xfd" "7zXZ", 5 },
		{ ".zst", MBOX_COMPRESS_AUTO, "\x28\xb5\x2f\xfd", 4 },
		{ ".out", MBOX_COMPRESS_GZIP, "\x1f\x8b", 2 },
	};
	struct strbuf got = STRBUF_INIT;
	const char *want = FROM0 "A: b\n\n>From x\n\n" FROM0 "\n\n";

	ck_assert_int_eq(mbox_compress_parse("zstd"), MBOX_COMPRESS_ZSTD);
	ck_assert_int_eq(mbox_compress_parse("rar"), -1);
	ck_assert_int_eq(mbox_compress_from_suffix("a.mbox"), MBOX_COMPRESS_NONE);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		char p[200];
		snprintf(p, sizeof p, "%s/archive%s", dir, t[i].suffix);
		struct mbox_writer_opts o = { .variant = MBOX_MBOXRD, .compress = t[i].c };
		struct mbox_writer *w;
		ck_assert_int_eq(mbox_writer_open(&w, p, &o), 0);
		ck_assert_int_eq(access(p, F_OK), -1);      /* not visible before close */
		append(w, "A: b\n\n", "From x\n", 7, NULL, 0, -1, -1);
		append(w, "\n", "", 0, NULL, 0, -1, -1);
		ck_assert_int_eq(mbox_writer_close(w), 0);
		get_file(p, &got);
		ck_assert_msg(got.len > t[i].mlen && memcmp(got.buf, t[i].magic, t[i].mlen) == 0,
		    "%s: wrong magic", t[i].suffix);
		gunzip_file(p, &got);
		ck_assert_msg(got.len == strlen(want) && memcmp(got.buf, want, got.len) == 0,
		    "%s: got [%.*s]", t[i].suffix, (int)got.len, got.buf);
		/* never appended to */
		ck_assert_int_eq(mbox_writer_open(&w, p, &o), EX_CANTCREAT);
	}
	/* only the published files remain (no temporary files) */
	char cmd[200];
	snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 4", dir);
	ck_assert_int_eq(system(cmd), 0);
	sb_free(&got);
}
END_TEST

/* ---- journaled rewrite (DESIGN §3, SPEC O7, O8) --------------------------- */

static const char rw_old[] =
	FROM0 "Subject: one\n\nfirst\n\n"
	FROM0 "Subject: two\n\nsecond\n\n"
	FROM0 "Subject: three\n\nthird\n\n";

/* New content: drop message two, replace "third" header. */
static int
do_rewrite(struct mbox_lock *lk)
{
	size_t m1 = strlen(FROM0 "Subject: one\n\nfirst\n\n");
	size_t m2 = m1 + strlen(FROM0 "Subject: two\n\nsecond\n\n");
	struct mbox_rewrite *rw = mbox_rewrite_begin(lk, (off_t)m1);

	if (rw == NULL)
		return -1;
	if (mbox_rewrite_skip(rw, (off_t)m1, (off_t)m2) == -1 ||
	    mbox_rewrite_insert(rw, FROM0 "Subject: 3\n", strlen(FROM0 "Subject: 3\n")) == -1 ||
	    mbox_rewrite_copy(rw, (off_t)(m2 + strlen(FROM0 "Subject: three\n")), (off_t)sizeof rw_old - 1) == -1) {
		mbox_rewrite_abort(rw);
		return -1;
	}
	return mbox_rewrite_commit(rw);
}

static const char rw_new[] = FROM0 "Subject: one\n\nfirst\n\n" FROM0 "Subject: 3\n\nthird\n\n";

START_TEST(test_rewrite_plain)
{
	struct mbox_lock lk;
	struct stat st0, st1;
	char jp[200];

	put_file(mbox, rw_old, sizeof rw_old - 1);
	ck_assert_int_eq(chmod(mbox, 0640), 0);
	ck_assert_int_eq(stat(mbox, &st0), 0);
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &lock_1s), 0);
	ck_assert_int_eq(do_rewrite(&lk), 0);
	assert_file(mbox, rw_new, sizeof rw_new - 1);
	snprintf(jp, sizeof jp, "%s.mailshift-journal", mbox);
	ck_assert_int_eq(access(jp, F_OK), -1);
	/* bad ranges are refused before anything changes */
	struct mbox_rewrite *rw = mbox_rewrite_begin(&lk, 5);
	ck_assert_ptr_nonnull(rw);
	ck_assert_int_eq(mbox_rewrite_copy(rw, 10, 100000), -1);
	ck_assert_int_eq(mbox_rewrite_commit(rw), -1);
	assert_file(mbox, rw_new, sizeof rw_new - 1);
	ck_assert_int_eq(access(jp, F_OK), -1);
	ck_assert_ptr_null(mbox_rewrite_begin(&lk, 100000));
	/* remove the head, keep what came later (X17) */
	size_t m1 = strlen(FROM0 "Subject: one\n\nfirst\n\n");
	ck_assert_int_eq(mbox_rewrite_remove_head(&lk, (off_t)m1), 0);
	assert_file(mbox, rw_new + m1, sizeof rw_new - 1 - m1);
	/* empty it: same inode, mode, owner (O8) */
	ck_assert_int_eq(mbox_rewrite_remove_head(&lk, (off_t)(sizeof rw_new - 1 - m1)), 0);
	assert_file(mbox, "", 0);
	mbox_lock_release(&lk);
	ck_assert_int_eq(stat(mbox, &st1), 0);
	ck_assert(st0.st_ino == st1.st_ino);
	ck_assert_int_eq(st1.st_mode & 07777, 0640);
	ck_assert_int_eq(st1.st_uid, st0.st_uid);
	ck_assert_int_eq(st1.st_size, 0);
	/* a read lock may not rewrite */
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_READ, &lock_1s), 0);
	ck_assert_ptr_null(mbox_rewrite_begin(&lk, 0));
	mbox_lock_release(&lk);
}
END_TEST

/* Journals that must be discarded: incomplete, damaged, another inode. */
START_TEST(test_journal_discard)
{
	struct mbox_lock lk;
	char jp[200];
	int rolled = -1;

	snprintf(jp, sizeof jp, "%s.mailshift-journal", mbox);
	put_file(mbox, rw_old, sizeof rw_old - 1);
	/* all-zero header: the state right after begin */
	char zero[64 + 10] = { 0 };
	put_file(jp, zero, sizeof zero);
	ck_assert_int_eq(mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &lock_1s), 0);
	ck_assert_int_eq(mbox_journal_recover(&lk, &rolled), 0);
	ck_assert_int_eq(rolled, 0);
	ck_assert_int_eq(access(jp, F_OK), -1);
	assert_file(mbox, rw_old, sizeof rw_old - 1);
	/* a valid journal for another file: made for "other", then moved */
	char other[200];
	snprintf(other, sizeof other, "%s/other", dir);
	put_file(other, rw_old, sizeof rw_old - 1);
	pid_t pid = fork();
	if (pid == 0) {
		struct mbox_lock ol;
		setenv("MAILSHIFT_CRASH_AFTER_WRITES", "4", 1);   /* sealed, nothing copied */
		if (mbox_lock_open(&ol, other, MBOX_LOCK_WRITE, &lock_1s) != 0)
			_exit(1);
		_exit(do_rewrite(&ol) == 0 ? 0 : 2);
	}
	int ws;
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	if (testhook_enabled()) {
		ck_assert_int_eq(WEXITSTATUS(ws), 99);
		char ojp[220];
		snprintf(ojp, sizeof ojp, "%s.mailshift-journal", other);
		ck_assert_int_eq(rename(ojp, jp), 0);
		ck_assert_int_eq(mbox_journal_recover(&lk, &rolled), 0);
		ck_assert_int_eq(rolled, 0);
		ck_assert_int_eq(access(jp, F_OK), -1);
		assert_file(mbox, rw_old, sizeof rw_old - 1);
	}
	mbox_lock_release(&lk);
}
END_TEST

/*
 * Crash (fork + MAILSHIFT_CRASH_AFTER_WRITES) before every write of the
 * rewrite, then recover in a fresh process: the mailbox holds exactly the
 * old or exactly the new content, the inode is unchanged, no journal is
 * left. Once a crash falls after the journal is sealed, recovery must give
 * the new content. The parent does no hooked writes itself, so each child
 * starts with a fresh hook state.
 */
START_TEST(test_rewrite_crash_every_write)
{
	if (!testhook_enabled()) {
		fprintf(stderr, "check_mbox_writer: SKIP crash tests: built without --enable-test-hooks\n");
		return;
	}
	char jp[200];
	snprintf(jp, sizeof jp, "%s.mailshift-journal", mbox);
	int n, olds = 0, news = 0;
	bool sealed_seen = false;
	for (n = 0; n < 200; n++) {
		put_file(mbox, rw_old, sizeof rw_old - 1);
		struct stat st0, st1;
		ck_assert_int_eq(stat(mbox, &st0), 0);
		pid_t pid = fork();
		if (pid == 0) {
			char v[16];
			struct mbox_lock lk;
			snprintf(v, sizeof v, "%d", n);
			setenv("MAILSHIFT_CRASH_AFTER_WRITES", v, 1);
			if (mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &lock_1s) != 0)
				_exit(1);
			_exit(do_rewrite(&lk) == 0 ? 0 : 2);
		}
		int ws;
		ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
		ck_assert(WIFEXITED(ws));
		int code = WEXITSTATUS(ws);
		ck_assert_msg(code == 0 || code == 99, "n=%d: exit %d", n, code);
		bool journal_left = access(jp, F_OK) == 0;
		/* recover in another fresh process (the dotlock died with the child:
		 * it is stale but recent, so recovery runs fcntl-only here) */
		char lock[200];
		snprintf(lock, sizeof lock, "%s.lock", mbox);
		unlink(lock);
		pid = fork();
		if (pid == 0) {
			struct mbox_lock lk;
			int rolled;
			if (mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &lock_1s) != 0)
				_exit(1);
			if (mbox_journal_recover(&lk, &rolled) != 0)
				_exit(2);
			mbox_lock_release(&lk);
			_exit(rolled ? 3 : 0);
		}
		ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
		int rcode = WEXITSTATUS(ws);
		ck_assert_msg(rcode == 0 || rcode == 3, "n=%d: recovery exit %d", n, rcode);
		struct strbuf got = STRBUF_INIT;
		get_file(mbox, &got);
		bool is_old = got.len == sizeof rw_old - 1 && memcmp(got.buf, rw_old, got.len) == 0;
		bool is_new = got.len == sizeof rw_new - 1 && memcmp(got.buf, rw_new, got.len) == 0;
		ck_assert_msg(is_old || is_new, "n=%d: torn mailbox [%.*s]", n, (int)got.len, got.buf);
		sb_free(&got);
		if (rcode == 3)
			sealed_seen = true;
		/* once a sealed journal was rolled forward, every later crash
		 * point must also end with the new content */
		if (sealed_seen)
			ck_assert_msg(is_new, "n=%d: old content after the journal was sealed", n);
		(void)journal_left;
		olds += is_old;
		news += is_new;
		ck_assert_int_eq(access(jp, F_OK), -1);
		ck_assert_int_eq(stat(mbox, &st1), 0);
		ck_assert(st0.st_ino == st1.st_ino);
		if (code == 0)
			break;
	}
	ck_assert_int_lt(n, 200);
	ck_assert_int_ge(olds, 3);    /* crashes while writing the journal */
	ck_assert_int_ge(news, 3);    /* crashes while copying back, and success */
	ck_assert(sealed_seen);
}
END_TEST

/* Same with a large tail, so that copying back takes many writes. */
START_TEST(test_rewrite_crash_large_tail)
{
	if (!testhook_enabled())
		return;
	struct strbuf old = STRBUF_INIT, want = STRBUF_INIT;
	for (int i = 0; i < 30000; i++)
		sb_appends(&old, "0123456789abcdef\n");     /* 510 000 bytes */
	sb_append(&want, old.buf + 1000, old.len - 1000);
	for (int n = 0; n < 100; n++) {
		put_file(mbox, old.buf, old.len);
		pid_t pid = fork();
		if (pid == 0) {
			char v[16];
			struct mbox_lock lk;
			snprintf(v, sizeof v, "%d", n);
			setenv("MAILSHIFT_CRASH_AFTER_WRITES", v, 1);
			if (mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &lock_1s) != 0)
				_exit(1);
			_exit(mbox_rewrite_remove_head(&lk, 1000) == 0 ? 0 : 2);
		}
		int ws;
		ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
		int code = WEXITSTATUS(ws);
		char lock[200];
		snprintf(lock, sizeof lock, "%s.lock", mbox);
		unlink(lock);
		pid = fork();
		if (pid == 0) {
			struct mbox_lock lk;
			if (mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &lock_1s) != 0 ||
			    mbox_journal_recover(&lk, NULL) != 0)
				_exit(1);
			mbox_lock_release(&lk);
			_exit(0);
		}
		ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
		ck_assert_int_eq(WEXITSTATUS(ws), 0);
		struct strbuf got = STRBUF_INIT;
		get_file(mbox, &got);
		bool ok = (got.len == old.len && memcmp(got.buf, old.buf, got.len) == 0) ||
		    (got.len == want.len && memcmp(got.buf, want.buf, got.len) == 0);
		ck_assert_msg(ok, "n=%d: torn mailbox (%zu bytes)", n, got.len);
		sb_free(&got);
		if (code == 0) {
			ck_assert_int_gt(n, 10);
			break;
		}
		ck_assert_int_eq(code, 99);
	}
	sb_free(&old);
	sb_free(&want);
}
END_TEST

/* mbox_writer_open finishes a journal first. */
START_TEST(test_writer_open_recovers)
{
	if (!testhook_enabled())
		return;
	put_file(mbox, rw_old, sizeof rw_old - 1);
	pid_t pid = fork();
	if (pid == 0) {
		struct mbox_lock lk;
		setenv("MAILSHIFT_CRASH_AFTER_WRITES", "5", 1);   /* copied back, not cut */
		if (mbox_lock_open(&lk, mbox, MBOX_LOCK_WRITE, &lock_1s) != 0)
			_exit(1);
		_exit(do_rewrite(&lk) == 0 ? 0 : 2);
	}
	int ws;
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert_int_eq(WEXITSTATUS(ws), 99);
	char lock[200];
	snprintf(lock, sizeof lock, "%s.lock", mbox);
	unlink(lock);
	struct mbox_writer *w = open_writer(MBOX_MBOXRD);
	append(w, "\n", "new\n", 4, NULL, 0, -1, -1);
	ck_assert_int_eq(mbox_writer_close(w), 0);
	struct strbuf want = STRBUF_INIT;
	sb_append(&want, rw_new, sizeof rw_new - 1);
	sb_appends(&want, FROM0 "\nnew\n\n");
	assert_file(mbox, want.buf, want.len);
	sb_free(&want);
}
END_TEST

static Suite *
mbox_writer_suite(void)
{
	Suite *s = suite_create("mbox_writer");
	TCase *tc = tcase_create("mbox_writer");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_quoting_every_split);
	tcase_add_test(tc, test_quoting_long_runs);
	tcase_add_test(tc, test_quoting_wide);
	tcase_add_test(tc, test_append_existing_end);
	tcase_add_test(tc, test_content_length);
	tcase_add_test(tc, test_content_length_mismatch);
	tcase_add_test(tc, test_header_set_flags);
	tcase_add_test(tc, test_header_set_flags_one_walk);
	tcase_add_test(tc, test_header_set_field);
	tcase_add_test(tc, test_from_line_build);
	tcase_add_test(tc, test_truncate_back_every_write);
	tcase_add_test(tc, test_appender_same_bytes);
	tcase_add_loop_test(tc, test_appender_failure, 0, 3);
	tcase_add_test(tc, test_stdout);
	tcase_add_test(tc, test_compressed);
	tcase_add_test(tc, test_rewrite_plain);
	tcase_add_test(tc, test_journal_discard);
	tcase_add_test(tc, test_rewrite_crash_every_write);
	tcase_add_test(tc, test_rewrite_crash_large_tail);
	tcase_add_test(tc, test_writer_open_recovers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(mbox_writer_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
