/*
 * check_mbox_reader.c: the mbox reader against spelled-out expectations
 * (SPEC §2.5 algorithm, §5 X1-X21). Every case runs three ways: from a
 * regular file (pread, Content-Length look-ahead), from a pipe (a stream),
 * and with small buffers of every size in a range, so that every boundary
 * and every From_ line falls across a buffer fill somewhere.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lock.h"
#include "mbox_reader.h"
#include "report.h"
#include "source.h"
#include "util.h"

#define FROM_A "From alice@example.org Mon Mar  3 09:15:02 2025\n"
#define FROM_B "From bob@example.net Tue Mar  4 10:00:00 2025\n"
#define FROM_C "From carol@example.org Wed Mar  5 11:30:00 2025\n"

struct got {
	size_t n;
	struct strbuf msg[32];
	struct strbuf from[32];
	struct mbox_counters c;
	enum mbox_variant variant;
	int rc;
	struct strbuf told;         /* the anomalies, "KIND@offset[=value]..." */
};

static void
got_free(struct got *g)
{
	for (size_t i = 0; i < ARRAY_SIZE(g->msg); i++) {
		sb_free(&g->msg[i]);
		sb_free(&g->from[i]);
	}
	sb_free(&g->told);
}

/* opts.skip_leading for the next reads */
static bool skip_leading_opt;

static void
tell_collect(void *arg, const struct mbox_anomaly *a)
{
	static const char *const kinds[] = { "LEADING", "UNQUOTED", "MISSING", "CUT", "CL",
		"NOEOL", "MIXED", "DATE", "STAMP", "EMPTY" };
	struct strbuf *sb = arg;

	ck_assert_int_lt(a->kind, ARRAY_SIZE(kinds));
	if (sb->len)
		sb_appendc(sb, ' ');
	sb_appendf(sb, "%s@%lld", kinds[a->kind], (long long)a->offset);
	if (a->value >= 0)
		sb_appendf(sb, "=%lld", a->value);
	if (a->kind == MBOX_ANOMALY_CONTENT_LENGTH)
		sb_appendf(sb, "/%lld:%lld[%lld,%lld)", a->value2, a->declared,
		    (long long)a->span_start, (long long)a->span_end);
}

static char tmpdir[] = "/tmp/check_mbox_reader.XXXXXX";

static char *
write_file(const char *data, size_t len)
{
	static int k;
	char *p = xasprintf("%s/in%d", tmpdir, k++);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write_all(fd, data, len), 0);
	close(fd);
	return p;
}

/* Read every message of src with the given options into g. */
static void
read_all(struct source *src, size_t bufsize, enum mbox_variant v, struct got *g)
{
	struct mbox_reader_opts o = { .variant = v, .bufsize = bufsize, .quiet = true,
		.on_anomaly = tell_collect, .anomaly_arg = &g->told, .skip_leading = skip_leading_opt };
	struct mbox_reader *r = mbox_reader_new(src, &o);
	struct message m;

	memset(g, 0, sizeof *g);
	sb_appends(&g->told, "");
	while ((g->rc = mbox_reader_next(r, &m)) == 1) {
		ck_assert_uint_lt(g->n, ARRAY_SIZE(g->msg));
		struct strbuf *sb = &g->msg[g->n];
		sb_append(&g->from[g->n], m.from_line, m.from_line_len);
		sb_append(sb, m.header, m.header_len);
		for (;;) {
			struct iovec iov[8];
			int n = 8;
			int rc = mbox_reader_body(r, iov, &n);
			ck_assert_int_ne(rc, -1);
			for (int i = 0; i < n; i++)
				sb_append(sb, iov[i].iov_base, iov[i].iov_len);
			if (rc == 0)
				break;
		}
		ck_assert_int_eq(mbox_reader_message_size(r), (int64_t)sb->len);
		g->n++;
	}
	g->c = *mbox_reader_counters(r);
	g->variant = mbox_reader_variant(r);
	mbox_reader_free(r);
}

static void
read_path(const char *path, size_t bufsize, enum mbox_variant v, struct got *g)
{
	struct source src;
	ck_assert_int_eq(source_open(&src, path, 1u << SOURCE_MBOX | 1u << SOURCE_EMPTY), 0);
	read_all(&src, bufsize, v, g);
	source_close(&src);
}

/* A source over an open descriptor, as check has it (source_open()
 * refuses what check reports: bytes before the first From_ line). */
static void
fd_source(struct source *src, const char *path)
{
	int fd = open(path, O_RDONLY);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(source_open_fd(src, fd, path), 0);
	close(fd);
}

static void
read_fd(const char *path, size_t bufsize, enum mbox_variant v, struct got *g)
{
	struct source src;
	fd_source(&src, path);
	read_all(&src, bufsize, v, g);
	source_close(&src);
}

/* The same bytes through a pipe: a non-seekable stream. */
static void
read_pipe(const char *data, size_t len, struct got *g)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(p[0]);
		/* dribble in small writes to vary the read sizes */
		for (size_t off = 0; off < len;) {
			size_t k = len - off < 777 ? len - off : 777;
			if (write_all(p[1], data + off, k) == -1)
				_exit(1);
			off += k;
		}
		_exit(0);
	}
	close(p[1]);
	int saved = dup(0);
	dup2(p[0], 0);
	close(p[0]);
	struct source src;
	ck_assert_int_eq(source_open(&src, "-", 1u << SOURCE_MBOX | 1u << SOURCE_EMPTY), 0);
	read_all(&src, 0, MBOX_AUTO, g);
	source_close(&src);
	dup2(saved, 0);
	close(saved);
	int st;
	waitpid(pid, &st, 0);
}

struct expect {
	const char *name;
	const char *in;
	size_t nmsg;
	const char *msg[4];
	size_t unquoted_from, missing_sep, cl_used, cl_ignored, pseudo, empty;
	enum mbox_variant variant;
};

static const struct expect cases[] = {
	{ "two messages", FROM_A "Subject: a\n\nbody a\n\n" FROM_B "Subject: b\n\nbody b\n",
	  2, { "Subject: a\n\nbody a\n", "Subject: b\n\nbody b\n" }, 0, 0, 0, 0, 0, 0, MBOX_MBOXRD },
	{ "no final newline", FROM_A "Subject: a\n\ntext",
	  1, { "Subject: a\n\ntext" }, 0, 0, 0, 0, 0, 0, MBOX_MBOXRD },
	{ "final LF kept", FROM_A "Subject: a\n\ntext\n",
	  1, { "Subject: a\n\ntext\n" }, 0, 0, 0, 0, 0, 0, MBOX_MBOXRD },
	{ "final LF LF: one stripped", FROM_A "Subject: a\n\ntext\n\n",
	  1, { "Subject: a\n\ntext\n" }, 0, 0, 0, 0, 0, 0, MBOX_MBOXRD },
	{ "several empty lines: only the last is the separator",
	  FROM_A "Subject: a\n\ntext\n\n\n\n" FROM_B "S: b\n\nx\n",
	  2, { "Subject: a\n\ntext\n\n\n", "S: b\n\nx\n" }, 0, 0, 0, 0, 0, 0, MBOX_MBOXRD },
	{ "unquoted From in body is text (X1)",
	  FROM_A "Subject: a\n\nFrom here on, we use the VPN.\nbye\n\n" FROM_B "S: b\n\nx\n",
	  2, { "Subject: a\n\nFrom here on, we use the VPN.\nbye\n", "S: b\n\nx\n" },
	  1, 0, 0, 0, 0, 0, MBOX_MBOXRD },
	{ "mboxrd unquoting (X3)",
	  FROM_A "Subject: a\n\n>From x\n>>From y\n>Fromage\n> From z\n",
	  1, { "Subject: a\n\nFrom x\n>From y\n>Fromage\n> From z\n" }, 0, 0, 0, 0, 0, 0, MBOX_MBOXRD },
	{ "missing separator (X4)",
	  FROM_A "Subject: a\n\nbody\n" FROM_B "S: b\n\nx\n",
	  2, { "Subject: a\n\nbody\n", "S: b\n\nx\n" }, 0, 1, 0, 0, 0, 0, MBOX_MBOXRD },
	{ "empty message (X8)",
	  FROM_A "\n" FROM_B "S: b\n\nx\n",
	  2, { "", "S: b\n\nx\n" }, 0, 0, 0, 0, 0, 1, MBOX_MBOXRD },
	{ "header only, body empty, then a message",
	  FROM_A "Subject: a\n\n" FROM_B "S: b\n\nx\n",
	  2, { "Subject: a\n", "S: b\n\nx\n" }, 0, 0, 0, 0, 0, 0, MBOX_MBOXRD },
	{ "no empty line before EOF: all header (X21)", FROM_A "Subject: a\nX: y\n",
	  1, { "Subject: a\nX: y\n" }, 0, 0, 0, 0, 0, 0, MBOX_MBOXRD },
	{ "leading empty lines skipped (X7)", "\n\r\n\n" FROM_A "S: a\n\nx\n",
	  1, { "S: a\n\nx\n" }, 0, 0, 0, 0, 0, 0, MBOX_MBOXRD },
	{ "UUCP stamp lines at the top of a header (X19)",
	  FROM_A "From bob Tue Mar  4 10:00:00 2025\n>From carol Wed Mar  5 11:30:00 2025\nS: a\n\nx\n",
	  1, { "From bob Tue Mar  4 10:00:00 2025\nFrom carol Wed Mar  5 11:30:00 2025\nS: a\n\nx\n" },
	  0, 0, 0, 0, 0, 0, MBOX_MBOXRD },
	{ "CRLF mbox (X14, SPEC §2.7)",
	  "From a@b Mon Mar  3 09:15:02 2025\r\nS: a\r\n\r\nx\r\n\r\nFrom b@c Tue Mar  4 10:00:00 2025\r\nS: b\r\n\r\ny\r\n",
	  2, { "S: a\r\n\r\nx\r\n", "S: b\r\n\r\ny\r\n" }, 0, 0, 0, 0, 0, 0, MBOX_MBOXRD },
	{ "NUL bytes kept (X12)", FROM_A "S: a\n\nx\0y\0\n",
	  1, { "S: a\n\nx\0y\0\n" }, 0, 0, 0, 0, 0, 0, MBOX_MBOXRD },
	{ "valid Content-Length protects a From_ line: mboxcl2 (X2)",
	  FROM_A "Content-Length: 56\n\n" FROM_C ">From q\n\n" FROM_B "S: b\nContent-Length: 2\n\nx\n",
	  2, { "Content-Length: 56\n\n" FROM_C ">From q\n", "S: b\nContent-Length: 2\n\nx\n" },
	  0, 0, 2, 0, 0, 0, MBOX_MBOXCL2 },
	{ "lying Content-Length ignored (X10)",
	  FROM_A "Content-Length: 5\n\nhello world\n\n" FROM_B "S: b\n\nx\n",
	  2, { "Content-Length: 5\n\nhello world\n", "S: b\n\nx\n" }, 0, 0, 0, 1, 0, 0, MBOX_MBOXRD },
	{ "Content-Length without unquoted From: still unquoted (mboxcl)",
	  FROM_A "Content-Length: 8\n\n>From x\n\n" FROM_B "Content-Length: 2\n\ny\n",
	  2, { "Content-Length: 8\n\nFrom x\n", "Content-Length: 2\n\ny\n" }, 0, 0, 2, 0, 0, 0, MBOX_MBOXRD },
	{ "UW pseudo message skipped (X11)",
	  "From MAILER-DAEMON Mon Mar  3 09:15:02 2025\nSubject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\n"
	  "X-IMAP: 1234567890 0000000042\n\nThis text is part of the internal format.\n\n"
	  FROM_B "S: b\n\nx\n",
	  1, { "S: b\n\nx\n" }, 0, 0, 0, 0, 1, 0, MBOX_MBOXRD },
	{ "X-IMAPbase in the first real message is ordinary",
	  FROM_A "X-IMAPbase: 1234567890 42\nS: a\n\nx\n",
	  1, { "X-IMAPbase: 1234567890 42\nS: a\n\nx\n" }, 0, 0, 0, 0, 0, 0, MBOX_MBOXRD },
	{ "zone words and 2-digit year From_ lines split",
	  "From a@b Thu Aug 01 10:00:13 2002\nS: a\n\nx\n\nFrom c Wed Dec  2 05:53:22 1992 -0800\nS: b\n\n"
	  "y\n\nFrom d Sat Jan  3 01:05:34 MET DST 98\nS: c\n\nz\n",
	  3, { "S: a\n\nx\n", "S: b\n\ny\n", "S: c\n\nz\n" }, 0, 0, 0, 0, 0, 0, MBOX_MBOXRD },
};

static void
check_case(const struct expect *e, const struct got *g, const char *how)
{
	ck_assert_msg(g->rc == 0, "%s (%s): reader returned %d", e->name, how, g->rc);
	ck_assert_msg(g->n == e->nmsg, "%s (%s): %zu messages, want %zu", e->name, how, g->n, e->nmsg);
	for (size_t i = 0; i < e->nmsg; i++) {
		size_t want = strlen(e->msg[i]);
		if (strstr(e->name, "NUL"))
			want = 11;
		ck_assert_msg(g->msg[i].len == want && memcmp(g->msg[i].buf ? g->msg[i].buf : "", e->msg[i], want) == 0,
		    "%s (%s): message %zu is \"%.*s\", want \"%s\"", e->name, how, i,
		    (int)g->msg[i].len, g->msg[i].buf ? g->msg[i].buf : "", e->msg[i]);
	}
	ck_assert_msg(g->c.unquoted_from == e->unquoted_from, "%s (%s): unquoted_from %zu", e->name, how, g->c.unquoted_from);
	ck_assert_msg(g->c.missing_separator == e->missing_sep, "%s (%s): missing_separator %zu", e->name, how, g->c.missing_separator);
	ck_assert_msg(g->c.pseudo == e->pseudo, "%s (%s): pseudo %zu", e->name, how, g->c.pseudo);
	ck_assert_msg(g->c.empty_messages == e->empty, "%s (%s): empty %zu", e->name, how, g->c.empty_messages);
}

START_TEST(test_table_file)
{
	const struct expect *e = &cases[_i];
	size_t len = strlen(e->in);
	if (strstr(e->name, "NUL"))
		len = strlen(FROM_A) + 11;
	char *path = write_file(e->in, len);
	struct got g;

	read_path(path, 0, MBOX_AUTO, &g);
	check_case(e, &g, "file");
	ck_assert_msg(g.c.cl_used == e->cl_used, "%s: cl_used %zu", e->name, g.c.cl_used);
	ck_assert_msg(g.c.cl_ignored == e->cl_ignored, "%s: cl_ignored %zu", e->name, g.c.cl_ignored);
	ck_assert_msg(g.variant == e->variant, "%s: variant %s", e->name, mbox_variant_name(g.variant));
	got_free(&g);
	free(path);
}
END_TEST

START_TEST(test_table_pipe)
{
	const struct expect *e = &cases[_i];
	size_t len = strlen(e->in);
	if (strstr(e->name, "NUL"))
		len = strlen(FROM_A) + 11;
	struct got g;

	/* a stream is read once: the variant comes from its first buffer-full
	 * and Content-Length is verified by reading ahead, so a pipe gives the
	 * file's messages and variant (mboxcl2 included) */
	read_pipe(e->in, len, &g);
	check_case(e, &g, "pipe");
	ck_assert_msg(g.c.cl_used == e->cl_used, "%s (pipe): cl_used %zu", e->name, g.c.cl_used);
	ck_assert_msg(g.variant == e->variant, "%s (pipe): variant %s", e->name, mbox_variant_name(g.variant));
	got_free(&g);
}
END_TEST

/* Every buffer size in a range: each boundary crosses a fill somewhere. */
START_TEST(test_every_split)
{
	struct strbuf in = STRBUF_INIT;
	const char *froms[] = { FROM_A, FROM_B, FROM_C };

	/* 3500 bytes of filler so the interesting part sits across the
	 * smallest buffers (4 * LOOKAHEAD = 4008 bytes) */
	sb_appends(&in, FROM_A "Subject: filler\n\n");
	while (in.len < 3500)
		sb_appends(&in, "filler line of text, long enough to matter\n");
	sb_appends(&in, "\n");
	for (int i = 0; i < 12; i++) {
		sb_appends(&in, froms[i % 3]);
		sb_appendf(&in, "Subject: %d\nContent-Type: text/plain\n\n", i);
		sb_appends(&in, ">From quoted\nFrom not a valid line\n>>From x\nlast\n");
		if (i % 4 != 3)
			sb_appends(&in, "\n");
	}
	char *path = write_file(in.buf, in.len);
	struct got ref;
	read_path(path, 0, MBOX_MBOXRD, &ref);
	ck_assert_uint_eq(ref.n, 13);
	ck_assert_uint_eq(ref.c.unquoted_from, 12);
	ck_assert_uint_eq(ref.c.missing_separator, 2);
	for (size_t bs = 4008; bs < 4008 + 1200; bs += 1) {
		struct got g;
		read_path(path, bs, MBOX_MBOXRD, &g);
		ck_assert_msg(g.n == ref.n, "bufsize %zu: %zu messages", bs, g.n);
		for (size_t i = 0; i < g.n; i++) {
			ck_assert_msg(g.msg[i].len == ref.msg[i].len &&
			    memcmp(g.msg[i].buf, ref.msg[i].buf, g.msg[i].len) == 0,
			    "bufsize %zu: message %zu differs", bs, i);
			ck_assert_msg(g.from[i].len == ref.from[i].len &&
			    memcmp(g.from[i].buf, ref.from[i].buf, g.from[i].len) == 0,
			    "bufsize %zu: From_ line %zu differs", bs, i);
		}
		ck_assert_uint_eq(g.c.unquoted_from, 12);
		ck_assert_uint_eq(g.c.missing_separator, 2);
		got_free(&g);
	}
	got_free(&ref);
	sb_free(&in);
	free(path);
}
END_TEST

/*
 * The body scan against a line-by-line reference, on mboxes of random
 * lines: empty ones (LF, CR LF), paragraphs, "From " and ">From " lines,
 * text of every length so that each kind falls at every place of the
 * scan's 16- and 32-byte steps. The reference: a message starts at each
 * FROM_A line; its header ends at its first empty line; the empty line
 * right before the next FROM_A line (or the end) is the separator, the
 * header's own when the body is empty; ">From" lines lose one '>'. Read
 * with the AVX2 loop and again with the SSE2 loop alone.
 */
static void
random_line(struct strbuf *sb, unsigned *seed)
{
	static const char text[] = "the quick brown fox jumps over the lazy dog; FROM > from F ";
	unsigned k = (unsigned)rand_r(seed) % 16;

	switch (k) {
	case 0: case 1: case 2: case 3:
		sb_appends(sb, "\n");
		return;
	case 4:
		sb_appends(sb, "\r\n");
		return;
	case 5:
		sb_appends(sb, "From here on\n");
		return;
	case 6:
		sb_appends(sb, ">From quoted\n");
		return;
	case 7:
		sb_appends(sb, ">>From twice\n");
		return;
	case 8:
		sb_appends(sb, "Fine\n");
		return;
	default:
		for (unsigned n = (unsigned)rand_r(seed) % 90; n > 0; n--)
			sb_appendc(sb, text[(unsigned)rand_r(seed) % (sizeof text - 1)]);
		sb_appends(sb, k == 9 ? "\r\n" : "\n");
	}
}

START_TEST(test_scan_random)
{
	for (unsigned seed0 = 1; seed0 <= 150; seed0++) {
		unsigned seed = seed0;
		struct strbuf in = STRBUF_INIT, want[32];
		size_t nmsg = 1 + (unsigned)rand_r(&seed) % 6;

		for (size_t i = 0; i < nmsg; i++) {
			struct strbuf body = STRBUF_INIT;
			size_t nl = (unsigned)rand_r(&seed) % 120;
			want[i] = (struct strbuf)STRBUF_INIT;
			sb_appends(&in, FROM_A "Subject: r\n\n");
			sb_appends(&want[i], "Subject: r\n\n");
			for (size_t l = 0; l < nl; l++)
				random_line(&body, &seed);
			sb_append(&in, body.buf ? body.buf : "", body.len);
			if (body.len == 0)
				want[i].len--;  /* the header's empty line is the separator */
			/* the reference: unquote, then drop the separator */
			size_t end = body.len, keep = body.len;
			if (end >= 1 && body.buf[end - 1] == '\n') {
				size_t b = end - 1;
				while (b > 0 && body.buf[b - 1] != '\n')
					b--;
				size_t ll = end - b;
				if (ll == 1 || (ll == 2 && body.buf[b] == '\r'))
					keep = b;
			}
			for (size_t a = 0; a < keep;) {
				const char *e = memchr(body.buf + a, '\n', keep - a);
				size_t b = e ? (size_t)(e - body.buf) + 1 : keep;
				size_t q = 0;
				while (a + q < b && body.buf[a + q] == '>')
					q++;
				bool quoted = q > 0 && b - a - q >= 5 && memcmp(body.buf + a + q, "From ", 5) == 0;
				sb_append(&want[i], body.buf + a + quoted, b - a - quoted);
				a = b;
			}
			sb_free(&body);
		}
		char *path = write_file(in.buf, in.len);
		size_t sizes[] = { 0, 4008, 4008 + seed0 % 97 };
		for (int sse2 = 0; sse2 < 2; sse2++) {
			if (sse2)
				setenv("MAILSHIFT_TEST_NO_AVX2", "1", 1);
			ck_assert(!sse2 || !cpu_avx2());
			for (size_t z = 0; z < ARRAY_SIZE(sizes); z++) {
				struct got g;
				read_path(path, sizes[z], MBOX_MBOXRD, &g);
				ck_assert_msg(g.n == nmsg, "seed %u bufsize %zu sse2 %d: %zu messages, "
				    "want %zu", seed0, sizes[z], sse2, g.n, nmsg);
				for (size_t i = 0; i < nmsg; i++)
					ck_assert_msg(g.msg[i].len == want[i].len &&
					    memcmp(g.msg[i].buf, want[i].buf, want[i].len) == 0,
					    "seed %u bufsize %zu sse2 %d: message %zu differs",
					    seed0, sizes[z], sse2, i);
				got_free(&g);
			}
			unsetenv("MAILSHIFT_TEST_NO_AVX2");
		}
		for (size_t i = 0; i < nmsg; i++)
			sb_free(&want[i]);
		sb_free(&in);
		free(path);
	}
}
END_TEST

/* ---- what the reader tells (opts.on_anomaly) --------------------------------- */

#define A1 "From a@b Mon Jan  1 00:00:00 2024\n"      /* 34 bytes */
#define A2 "From b@c Mon Jan  1 00:00:01 2024\n"
#define A2CRLF "From b@c Mon Jan  1 00:00:01 2024\r\n"
#define L(s) s, sizeof(s) - 1

struct told_case {
	const char *in;
	size_t len;
	bool skip_leading;
	const char *want;       /* KIND@offset[=value][/body:declared[span)] */
	bool file_only;         /* a stream cannot tell a Content-Length past its
	                         * end from one beyond its buffer: unverified */
};

static const struct told_case told_cases[] = {
	{ L(A1 "S: x\n\nbody\n\n" A2 "S: y\n\nb\n"), false, "", false },
	/* X1, X4: an unquoted From line, then a From_ line right after it */
	{ L(A1 "S: x\n\nFrom here on\n" A2 "S: y\n\nb\n"), false, "UNQUOTED@40 MISSING@53=0", false },
	{ L(A1 "S: x\n\nbody\n" A2CRLF "S: y\r\n\r\n"), false, "MISSING@45=1 MIXED@45", false },
	/* X10: the length the body needs: its bytes, a quote byte per unquoted
	 * From line, the missing final line end; where the value is */
	{ L(A1 "Content-Length: 1\n\nFrom x\n" A2 "S: y\n\n"), false,
	  "UNQUOTED@53 MISSING@60=0 CL@0=8/7:1[49,51)", false },
	{ L(A1 "Content-Length: 1\n\nab"), false, "NOEOL@55 CL@0=3/2:1[49,51)", false },
	{ L(A1 "Content-Length:  999 \r\n\nbody\n"), false, "CL@0=5/5:999[49,55)", true },
	{ L(A1 "Content-Length: 3\n\n" A2 "S: y\n\nb\n"), false, "CL@0=0/0:3[49,51)", false },
	{ L(A1 "Content-Length: x\n\nbody\n"), false, "CL@0=5/5:0[49,51)", false },
	{ L(A1 "Content-Length: 5\nContent-Length: 6\n\nbody\n"), false, "CL@0=5/5:5[49,51)", false },
	/* a Content-Length that lands is no anomaly, whatever its body holds */
	{ L(A1 "Content-Length: 13\n\nFrom here on\n\n" A2 "S: y\n\n"), false, "", false },
	/* X5, X8, X19, X21, a From_ line without a date */
	{ L(A1 "S: x\n\nbody"), false, "NOEOL@44", false },
	{ L(A1 "\n" A2 "S: y\n\nb\n"), false, "MISSING@35=0 EMPTY@0", false },
	{ L(A1 A2 "S: y\n\nb\n"), false, "STAMP@34", false },
	{ L(A1 "S: x\n" A2 "S: y\n\nb\n"), false, "CUT@39", false },
	{ L("From x\nS: y\n\nb\n"), false, "DATE@0", false },
	/* X12: NUL bytes are data */
	{ L(A1 "S: x\n\na\0b\nFrom \0x\n"), false, "UNQUOTED@44", false },
	/* X7: leading bytes, for check */
	{ L("junk\n\n" A1 "S: x\n\nb\n"), true, "LEADING@0=6", false },
	{ L("\njunk\nFrom here\n" A1 "S: x\n\nb\n"), true, "LEADING@1=16", false },
	{ L("\n" A1 "S: x\n\nb\n"), true, "", false },
};

START_TEST(test_told)
{
	const struct told_case *c = &told_cases[_i];
	char *path = write_file(c->in, c->len);
	struct got g;

	skip_leading_opt = c->skip_leading;
	read_fd(path, 0, MBOX_MBOXRD, &g);
	ck_assert_msg(g.rc == 0, "case %d: rc %d", _i, g.rc);
	ck_assert_msg(strcmp(g.told.buf, c->want) == 0, "case %d: told '%s', want '%s'", _i,
	    g.told.buf, c->want);
	got_free(&g);
	/* a stream is told the same (the Content-Length look-ahead reads
	 * ahead into the buffer) */
	if (!c->skip_leading && !c->file_only) {
		read_pipe(c->in, c->len, &g);
		ck_assert_msg(strcmp(g.told.buf, c->want) == 0, "case %d (pipe): told '%s', want '%s'",
		    _i, g.told.buf, c->want);
		got_free(&g);
	}
	skip_leading_opt = false;
	free(path);
}
END_TEST

/* What the reader is told does not depend on where its buffer ends, and a
 * probe (the mboxcl2 pre-scan of MBOX_AUTO) tells nothing twice. */
START_TEST(test_told_every_split)
{
	struct strbuf in = STRBUF_INIT;

	sb_appends(&in, "junk before\n");
	sb_appends(&in, A1 "Subject: filler\n\n");
	while (in.len < 3600)
		sb_appends(&in, "filler line of text, long enough to matter\n");
	for (size_t i = 0; i < ARRAY_SIZE(told_cases); i++) {
		const struct told_case *c = &told_cases[i];
		if (c->skip_leading || c->len < 5 || memcmp(c->in, "From a@b", 8) != 0)
			continue;
		sb_appends(&in, "\n");
		sb_append(&in, c->in, c->len);
		if (in.buf[in.len - 1] != '\n')
			sb_appends(&in, "\n");
	}
	sb_appends(&in, "\n" A1 "Content-Length: 2\n\nab");
	char *path = write_file(in.buf, in.len);
	struct got ref;
	skip_leading_opt = true;
	read_fd(path, 0, MBOX_MBOXRD, &ref);
	ck_assert_int_eq(ref.rc, 0);
	ck_assert_ptr_nonnull(strstr(ref.told.buf, "LEADING@0=12 "));
	ck_assert_ptr_nonnull(strstr(ref.told.buf, " NOEOL@"));
	ck_assert_ptr_nonnull(strstr(ref.told.buf, " CL@"));
	ck_assert_ptr_nonnull(strstr(ref.told.buf, " CUT@"));
	ck_assert_ptr_nonnull(strstr(ref.told.buf, " MIXED@"));
	for (size_t bs = 4008; bs < 4008 + 1100; bs++) {
		struct got g;
		read_fd(path, bs, MBOX_MBOXRD, &g);
		ck_assert_msg(strcmp(g.told.buf, ref.told.buf) == 0, "bufsize %zu: told '%s', want '%s'",
		    bs, g.told.buf, ref.told.buf);
		got_free(&g);
	}
	struct got g;
	read_fd(path, 0, MBOX_AUTO, &g);
	ck_assert_str_eq(g.told.buf, ref.told.buf);
	got_free(&g);
	skip_leading_opt = false;
	got_free(&ref);
	sb_free(&in);
	free(path);
}
END_TEST

/* check's refusals: no From_ line at all, CR-only line ends (status 65);
 * without skip_leading leading bytes are refused as before. */
START_TEST(test_told_refused)
{
	static const struct { const char *in; bool skip; const char *told; } bad[] = {
		{ "junk\nmore\n", true, "" },
		{ "From x\rS: y\r\rb\r", true, "NOEOL@15" },   /* true, if beside the point */
		{ "junk\n" A1 "S: x\n\n", false, "" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *path = write_file(bad[i].in, strlen(bad[i].in));
		struct source src;
		fd_source(&src, path);
		struct strbuf told = STRBUF_INIT;
		sb_appends(&told, "");
		struct mbox_reader_opts o = { .variant = MBOX_MBOXRD, .quiet = true,
			.on_anomaly = tell_collect, .anomaly_arg = &told, .skip_leading = bad[i].skip };
		struct mbox_reader *r = mbox_reader_new(&src, &o);
		struct message m;
		ck_assert_int_eq(mbox_reader_next(r, &m), -1);
		ck_assert_int_eq(mbox_reader_status(r), 65);
		ck_assert_str_eq(told.buf, bad[i].told);
		mbox_reader_free(r);
		sb_free(&told);
		source_close(&src);
		free(path);
	}
}
END_TEST

/* The counters check reports: Content-Length messages and the From lines
 * a landing one protects. */
START_TEST(test_protected_from)
{
	static const char in[] = A1 "Content-Length: 13\n\nFrom here on\n\n"
	    A2 "Content-Length: 2\n\nx\n\n" A1 "S: none\n\nFrom x\n";
	char *path = write_file(in, sizeof in - 1);
	struct got g;
	read_path(path, 0, MBOX_MBOXRD, &g);
	ck_assert_uint_eq(g.n, 3);
	ck_assert_uint_eq(g.c.cl_used, 2);
	ck_assert_uint_eq(g.c.protected_from, 1);
	ck_assert_str_eq(g.told.buf, "UNQUOTED@167");
	got_free(&g);
	free(path);
}
END_TEST

/* A 50 MB message streams through a 4 MiB buffer: the bytes arrive exactly
 * and the reader's memory does not grow with the message. */
START_TEST(test_50mb_message)
{
	char *path = xasprintf("%s/big", tmpdir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(FROM_A "Subject: big\n\n", f);
	size_t body = 0;
	char line[101];
	memset(line, 'x', 99);
	line[99] = '\n';
	line[100] = '\0';
	while (body < 50u * 1000 * 1000) {
		fputs(line, f);
		body += 100;
	}
	fputs("\n" FROM_B "S: b\n\nsmall\n", f);
	fclose(f);

	struct source src;
	ck_assert_int_eq(source_open(&src, path, 1u << SOURCE_MBOX), 0);
	struct mbox_reader *r = mbox_reader_new(&src, NULL);
	struct message m;
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	ck_assert_int_eq(mbox_reader_next(r, &m), 1);
	uint64_t got = m.header_len, xs = 0;
	for (;;) {
		struct iovec iov[64];
		int n = 64;
		int rc = mbox_reader_body(r, iov, &n);
		for (int i = 0; i < n; i++) {
			got += iov[i].iov_len;
			const char *p = iov[i].iov_base;
			for (size_t k = 0; k < iov[i].iov_len; k++)
				xs += p[k] == 'x';
		}
		if (rc == 0)
			break;
		ck_assert_int_eq(rc, 1);
	}
	ck_assert_uint_eq(got, strlen("Subject: big\n\n") + body);
	ck_assert_uint_eq(xs, body / 100 * 99);
	ck_assert_int_eq(mbox_reader_next(r, &m), 1);
	ck_assert_int_eq(mbox_reader_next(r, &m), 0);
	getrusage(RUSAGE_SELF, &ru1);
	/* peak RSS grew by far less than the message */
	ck_assert_int_lt(ru1.ru_maxrss - ru0.ru_maxrss, 16 * 1024);
	mbox_reader_free(r);
	source_close(&src);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(test_not_an_mbox)
{
	const char *bad[] = { "%PDF-1.4\n%\xe2\xe3\n1 0 obj\n", "Subject: hello\n\nbody\n",
		"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *p = write_file(bad[i], strlen(bad[i]) + (i == 2 ? 8 : 0));
		struct source src;
		ck_assert_int_eq(source_open(&src, p, 1u << SOURCE_MBOX | 1u << SOURCE_EMPTY), 65);
		free(p);
	}
	/* missing file: 66 */
	struct source src;
	ck_assert_int_eq(source_open(&src, "/nonexistent/mbox", 1u << SOURCE_MBOX), 66);
	/* zero-length file: an empty mailbox */
	char *p = write_file("", 0);
	ck_assert_int_eq(source_open(&src, p, 1u << SOURCE_MBOX | 1u << SOURCE_EMPTY), 0);
	ck_assert_int_eq(src.type, SOURCE_EMPTY);
	source_close(&src);
	free(p);
	/* CR-only line ends: refused */
	p = write_file("From a Mon Mar  3 09:15:02 2025\rS: a\r\rx\r", 41);
	ck_assert_int_eq(source_open(&src, p, 1u << SOURCE_MBOX), 65);
	free(p);
}
END_TEST

START_TEST(test_gzip_input)
{
	char *p = write_file(cases[0].in, strlen(cases[0].in));
	char *cmd = xasprintf("gzip -c %s > %s.gz", p, p);
	ck_assert_int_eq(system(cmd), 0);
	char *gz = xasprintf("%s.gz", p);
	struct got g;
	read_path(gz, 0, MBOX_AUTO, &g);
	check_case(&cases[0], &g, "gzip");
	got_free(&g);
	free(cmd);
	free(gz);
	free(p);
}
END_TEST

/* Compressed input past the 64 KiB sniffed before libarchive takes over
 * (the sniffed bytes stay libarchive's until it asks again), and a
 * compressed empty file: the messages of the plain file, every byte. */
START_TEST(test_compressed_large)
{
	static const char *const tools[] = { "gzip", "xz", "zstd -q", "bzip2" };
	struct strbuf big = STRBUF_INIT;
	for (int i = 0; i < 4000; i++)
		sb_append(&big, cases[0].in, strlen(cases[0].in));
	sb_append(&big, "\n", 1);
	ck_assert_uint_gt(big.len, 4 * 65536);
	char *p = write_file(big.buf, big.len);
	for (size_t t = 0; t < ARRAY_SIZE(tools); t++) {
		char *cmd = xasprintf("%s -c %s > %s.z", tools[t], p, p);
		ck_assert_int_eq(system(cmd), 0);
		char *z = xasprintf("%s.z", p);
		struct source src;
		ck_assert_int_eq(source_open(&src, z, 1u << SOURCE_MBOX), 0);
		struct mbox_reader_opts o = { .quiet = true };
		struct mbox_reader *r = mbox_reader_new(&src, &o);
		struct message m;
		size_t n = 0, bytes = 0;
		int rc;
		while ((rc = mbox_reader_next(r, &m)) == 1) {
			struct iovec iov[8];
			int k = 8, brc;
			bytes += m.header_len;
			while ((brc = mbox_reader_body(r, iov, &k)) == 1) {
				for (int i = 0; i < k; i++)
					bytes += iov[i].iov_len;
				k = 8;
			}
			ck_assert_int_eq(brc, 0);
			n++;
		}
		ck_assert_msg(rc == 0 && n == 8000, "%s: rc %d after %zu messages, want 8000", tools[t], rc, n);
		ck_assert_uint_eq(bytes, 4000 * (strlen(cases[0].msg[0]) + strlen(cases[0].msg[1])));
		mbox_reader_free(r);
		source_close(&src);
		free(cmd);
		free(z);
	}
	sb_free(&big);
	free(p);

	p = write_file("", 0);
	char *cmd = xasprintf("gzip -c %s > %s.gz", p, p);
	ck_assert_int_eq(system(cmd), 0);
	char *gz = xasprintf("%s.gz", p);
	struct source src;
	ck_assert_int_eq(source_open(&src, gz, 1u << SOURCE_MBOX | 1u << SOURCE_EMPTY), 0);
	ck_assert_int_eq(src.type, SOURCE_EMPTY);
	source_close(&src);
	free(cmd);
	free(gz);
	free(p);
}
END_TEST

/* The file grows after it was opened: only what was there is read (X17). */
START_TEST(test_growing_file)
{
	char *p = write_file(cases[0].in, strlen(cases[0].in));
	struct source src;
	ck_assert_int_eq(source_open(&src, p, 1u << SOURCE_MBOX), 0);
	int fd = open(p, O_WRONLY | O_APPEND);
	static const char late[] = "\n" FROM_C "S: c\n\nlate\n";
	ck_assert_int_eq(write_all(fd, late, sizeof late - 1), 0);
	close(fd);
	struct got g;
	read_all(&src, 0, MBOX_AUTO, &g);
	check_case(&cases[0], &g, "grown");
	got_free(&g);
	source_close(&src);
	free(p);
}
END_TEST

/* ---- live reading (mbox_reader.h) ----------------------------------------- */

/* n messages "From_ / Subject: m<i> / body of <i>", 85 bytes each: 400
 * take several reads of the smallest buffer */
static void
live_mbox(struct strbuf *sb, int first, int n)
{
	for (int i = first; i < first + n; i++)
		sb_appendf(sb, FROM_A "Subject: m%03d\n\nbody of message %03d\n\n", i, i);
}

struct live {
	char *path;
	struct source src;
	struct mbox_lock lk;
	struct mbox_reader *r;
};

static void
live_open(struct live *l, const char *data, size_t len)
{
	struct mbox_lock_opts lo = { .timeout = 2 };

	l->path = write_file(data, len);
	ck_assert_int_eq(mbox_lock_open(&l->lk, l->path, MBOX_LOCK_SHARED, &lo), 0);
	mbox_lock_yield(&l->lk);
	ck_assert_int_eq(source_open(&l->src, l->path, 1u << SOURCE_MBOX), 0);
	/* a small buffer: a read every few messages */
	struct mbox_reader_opts o = { .variant = MBOX_MBOXRD, .bufsize = 1, .quiet = true,
	    .live = &l->lk };
	l->r = mbox_reader_new(&l->src, &o);
}

static void
live_close(struct live *l)
{
	mbox_reader_free(l->r);
	source_close(&l->src);
	mbox_lock_release(&l->lk);
	free(l->path);
}

/* the next message's subject number, -1 at the end, -2 on an error */
static int
live_next(struct live *l)
{
	struct message m;
	int rc = mbox_reader_next(l->r, &m);
	if (rc != 1)
		return rc == 0 ? -1 : -2;
	const char *s = memmem(m.header, m.header_len, "Subject: m", 10);
	ck_assert_ptr_nonnull(s);
	/* no lock is held between two reads */
	ck_assert(!mbox_lock_held(&l->lk));
	return atoi(s + 10);
}

/* Appended between two reads (a delivery): read as well, in order. */
START_TEST(test_live_append)
{
	struct strbuf sb = STRBUF_INIT;
	struct live l;

	live_mbox(&sb, 0, 400);
	live_open(&l, sb.buf, sb.len);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(live_next(&l), i);
	sb_reset(&sb);
	live_mbox(&sb, 400, 5);
	int fd = open(l.path, O_WRONLY | O_APPEND);
	ck_assert_int_eq(write_all(fd, sb.buf, sb.len), 0);
	close(fd);
	int k;
	for (int i = 10; (k = live_next(&l)) >= 0; i++)
		ck_assert_int_eq(k, i);
	ck_assert_int_eq(k, -1);
	ck_assert_uint_eq(mbox_reader_counters(l.r)->messages, 405);
	ck_assert(!mbox_reader_rewritten(l.r));
	live_close(&l);
	sb_free(&sb);
}
END_TEST

/* Rewritten in place between two reads (an expunge, a Status added):
 * the reader stops and says so, without an error line. */
START_TEST(test_live_rewrite)
{
	static const char *const edits[] = { "expunge", "status", "same-size" };
	for (size_t e = 0; e < ARRAY_SIZE(edits); e++) {
		struct strbuf sb = STRBUF_INIT;
		struct live l;
		live_mbox(&sb, 0, 400);
		live_open(&l, sb.buf, sb.len);
		int done = e < 2 ? 10 : 100;
		for (int i = 0; i < done; i++)
			ck_assert_int_eq(live_next(&l), i);
		/* what a mail reader does, under its own locks, in place */
		struct strbuf nb = STRBUF_INIT;
		const char *m1 = strstr(sb.buf, FROM_A "Subject: m001");
		const char *m2 = strstr(sb.buf, FROM_A "Subject: m002");
		if (e == 0) {
			sb_append(&nb, sb.buf, (size_t)(m1 - sb.buf));
			sb_appends(&nb, m2);
		} else if (e == 1) {
			sb_append(&nb, sb.buf, (size_t)(m2 - sb.buf));
			sb_appends(&nb, FROM_A "Subject: m002\nStatus: RO\n");
			sb_appends(&nb, m2 + strlen(FROM_A "Subject: m002\n"));
		} else {
			/* UW's padded X-Keywords: the same size, earlier bytes */
			sb_append(&nb, sb.buf, sb.len);
			memcpy(strstr(nb.buf, "body of message 002"), "BODY", 4);
		}
		int fd = open(l.path, O_WRONLY);
		ck_assert_int_eq(pwrite_all(fd, nb.buf, nb.len, 0), 0);
		ck_assert_int_eq(ftruncate(fd, (off_t)nb.len), 0);
		close(fd);
		int k, n = done;
		while ((k = live_next(&l)) >= 0)
			n++;
		if (e < 2) {
			ck_assert_msg(k == -2 && mbox_reader_rewritten(l.r), "%s not seen", edits[e]);
			ck_assert_int_lt(n, 400);
		} else {
			/* bytes read long ago changed (not the last 4 KiB before
			 * the resume point), the rest did not move: the messages
			 * still to read are the file's, nothing to redo */
			ck_assert_int_eq(k, -1);
			ck_assert_int_eq(n, 400);
		}
		live_close(&l);
		sb_free(&sb);
		sb_free(&nb);
	}
}
END_TEST

/* Without the dotlock: a last message that does not end with the empty
 * line is held back while the file is fresh, delivered once it is
 * finished or has not changed for 5 minutes. */
START_TEST(test_live_hold_back)
{
	struct strbuf sb = STRBUF_INIT;
	struct live l;

	live_mbox(&sb, 0, 3);
	sb_appends(&sb, FROM_A "Subject: m003\n\nhalf of it\n");
	live_open(&l, sb.buf, sb.len);
	l.lk.no_dotlock = true;        /* as in a spool we may not write into */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(live_next(&l), i);
	struct message m;
	ck_assert_int_eq(mbox_reader_next(l.r, &m), 1);
	struct iovec iov[8];
	int n, rc;
	do {
		n = 8;
		rc = mbox_reader_body(l.r, iov, &n);
	} while (rc == 1);
	ck_assert_int_eq(rc, -1);
	ck_assert(mbox_reader_held_back(l.r));
	ck_assert_int_eq(mbox_reader_message_offset(l.r), (off_t)(3 * strlen(FROM_A "Subject: m000\n\nbody of message 000\n\n")));
	live_close(&l);
	/* with the dotlock (or finished, or old) it is a message */
	live_open(&l, sb.buf, sb.len);
	int k, c = 0;
	while ((k = live_next(&l)) >= 0)
		c++;
	ck_assert_int_eq(k, -1);
	ck_assert_int_eq(c, 4);
	live_close(&l);
	live_open(&l, sb.buf, sb.len);
	l.lk.no_dotlock = true;
	struct timespec old[2] = { { .tv_sec = time(NULL) - 600 }, { .tv_sec = time(NULL) - 600 } };
	ck_assert_int_eq(utimensat(AT_FDCWD, l.path, old, 0), 0);
	c = 0;
	while ((k = live_next(&l)) >= 0)
		c++;
	ck_assert_int_eq(k, -1);
	ck_assert_int_eq(c, 4);
	live_close(&l);
	sb_free(&sb);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("mbox_reader");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_table_file, 0, ARRAY_SIZE(cases));
	tcase_add_loop_test(tc, test_table_pipe, 0, ARRAY_SIZE(cases));
	tcase_add_test(tc, test_every_split);
	tcase_add_test(tc, test_scan_random);
	tcase_add_loop_test(tc, test_told, 0, ARRAY_SIZE(told_cases));
	tcase_add_test(tc, test_told_every_split);
	tcase_add_test(tc, test_told_refused);
	tcase_add_test(tc, test_protected_from);
	tcase_add_test(tc, test_50mb_message);
	tcase_add_test(tc, test_not_an_mbox);
	tcase_add_test(tc, test_gzip_input);
	tcase_add_test(tc, test_compressed_large);
	tcase_add_test(tc, test_growing_file);
	tcase_add_test(tc, test_live_append);
	tcase_add_test(tc, test_live_rewrite);
	tcase_add_test(tc, test_live_hold_back);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL)
		return 99;
	report_init("test");
	opt_common.quiet = 1;
	SRunner *sr = srunner_create(suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	char *cmd = xasprintf("rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		failed++;
	free(cmd);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
