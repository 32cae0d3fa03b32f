/*
 * check_inspect.c: unit tests for inspect.c, the findings of check and
 * repair: the code table, the mbox boundary checks with their offsets and
 * the Content-Length repair value (SPEC §2.3-2.7, §5 X1-X21), the Maildir
 * name checks (§1.5-1.7, M2-M6), the M10 plausibility test, the W= count,
 * the maildirsize totals (§1.9) and dovecot-uidlist against the maildir
 * (§1.10).
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inspect.h"
#include "inspect_int.h"
#include "report.h"
#include "util.h"

#define L(s) s, sizeof(s) - 1

/* Findings collected as "CODE@offset[=value]" separated by spaces. */
struct got {
	struct strbuf sb;
	struct strbuf paths;
};

static void
collect(void *arg, const struct inspect_finding *f)
{
	struct got *g = arg;
	if (g->sb.len)
		sb_appendc(&g->sb, ' ');
	sb_appends(&g->sb, inspect_code_name(f->code));
	if (f->offset >= 0)
		sb_appendf(&g->sb, "@%lld", (long long)f->offset);
	if (f->code == IC_MBOX_CONTENT_LENGTH || (f->code >= IC_UIDLIST_BAD && f->value >= 0))
		sb_appendf(&g->sb, "=%lld", f->value);
	if (f->code == IC_UIDLIST_UNLISTED)
		sb_appendf(&g->sb, ":%s", f->name);
	if (f->subdir) {
		if (g->paths.len)
			sb_appendc(&g->paths, ' ');
		sb_appendf(&g->paths, "%s/%s", f->subdir, f->name);
	}
}

static char tmpdir[] = "/tmp/check_inspect.XXXXXX";

static void
write_file(const char *path, const char *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_all(fd, p, n), 0);
	close(fd);
}

static int
run_mbox(const char *p, size_t n, struct got *g)
{
	char *path = xasprintf("%s/mbox", tmpdir);
	write_file(path, p, n);
	struct inspect_opts o = { .tmp_age = INSPECT_TMP_AGE, .fn = collect, .arg = g, .mbox_fd = -1 };
	struct inspect_stats st = { 0 };
	memset(g, 0, sizeof *g);
	int rc = inspect_path(path, &o, &st);
	unlink(path);
	free(path);
	if (!g->sb.buf)
		sb_appends(&g->sb, "");
	return rc;
}

/* ---- the table ------------------------------------------------------------ */

START_TEST(test_codes)
{
	for (int i = 0; i < IC__COUNT; i++) {
		ck_assert_ptr_nonnull(inspect_codes[i].name);
		ck_assert_ptr_nonnull(inspect_codes[i].repair);
		ck_assert_int_eq(inspect_code_parse(inspect_codes[i].name), i);
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(inspect_codes[i].name, inspect_codes[j].name);
	}
	ck_assert_int_eq(IC__COUNT, 33);
	ck_assert_str_eq(inspect_code_name(IC_COURIERUID_NEXT_TOO_LOW), "COURIERUID-NEXT-TOO-LOW");
	ck_assert_int_eq(inspect_code_severity(IC_COURIERUID_MISSING_FILE), SEVERITY_NOTE);
	ck_assert_str_eq(inspect_code_name(IC_UIDLIST_NEXT_TOO_LOW), "UIDLIST-NEXT-TOO-LOW");
	ck_assert_int_eq(inspect_code_parse("UIDLIST-UNLISTED"), IC_UIDLIST_UNLISTED);
	ck_assert_int_eq(inspect_code_parse("MAILDIR-NOPE"), -1);
	ck_assert_str_eq(inspect_code_name(IC_MBOX_TRUNCATED), "MBOX-TRUNCATED");
}
END_TEST

/* mailshift-check(1) lists every code with its severity, as the table has
 * it: ".It Cm MBOX-MIXED-EOL Pq note". */
START_TEST(test_codes_documented)
{
	FILE *f = fopen(TEST_DATADIR "/../../man/mailshift-check.1", "r");
	ck_assert_ptr_nonnull(f);
	char line[256];
	int seen[IC__COUNT] = { 0 };
	while (fgets(line, sizeof line, f)) {
		char name[64], sev[16];
		if (sscanf(line, ".It Cm %63s Pq %15s", name, sev) != 2)
			continue;
		int c = inspect_code_parse(name);
		ck_assert_msg(c >= 0, "the manual lists an unknown code %s", name);
		ck_assert_str_eq(sev, inspect_severity_name(inspect_code_severity((enum inspect_code)c)));
		seen[c]++;
	}
	fclose(f);
	for (int i = 0; i < IC__COUNT; i++)
		ck_assert_msg(seen[i] == 1, "%s is listed %d times in mailshift-check(1)",
		    inspect_codes[i].name, seen[i]);
	ck_assert_str_eq(inspect_severity_name(inspect_code_severity(IC_MBOX_MIXED_EOL)), "note");
	ck_assert_str_eq(inspect_severity_name(inspect_code_severity(IC_MBOX_UNQUOTED_FROM)), "error");
	ck_assert_str_eq(inspect_severity_name(inspect_code_severity(IC_MAILDIR_FLAGS_UNSORTED)), "warning");
}
END_TEST

/* ---- mbox ------------------------------------------------------------------- */

#define F1 "From a@b Mon Jan  1 00:00:00 2024\n"      /* 34 bytes */
#define F2 "From b@c Mon Jan  1 00:00:01 2024\n"

struct mbox_case {
	const char *in;
	size_t len;
	int status;
	const char *want;
};

static const struct mbox_case mbox_cases[] = {
	{ L(""), 0, "" },                                                     /* X6 */
	{ L("\n\n"), 0, "" },
	{ L(F1 "S: x\n\nbody\n"), 0, "" },
	{ L(F1 "S: x\n\nbody\n\n" F2 "S: y\n\nb\n"), 0, "" },
	{ L(F1 "S: x\n\nbody\n" F2 "S: y\n\nb\n"), 0, "MBOX-MISSING-SEPARATOR@45" },   /* X4 */
	{ L(F1 "S: x\n\nFrom here on\n\n" F2 "S: y\n\n"), 0, "MBOX-UNQUOTED-FROM@40" },  /* X1 */
	{ L(F1 "S: x\n\n>From here on\n"), 0, "" },                            /* X3 */
	{ L(F1 "S: x\n\nbody"), 0, "MBOX-TRUNCATED@44" },                       /* X5 */
	{ L("\n" F1 "S: x\n\nb\n"), 0, "" },                                    /* X7: empty lines */
	{ L("junk\n" F1 "S: x\n\nb\n"), 0, "MBOX-FIRST-LINE@0" },
	{ L("junk\nmore\n"), 65, "" },                                          /* not an mbox */
	{ L("From x\rS: y\r\rb\r"), 65, "" },                                  /* X14: CR only */
	/* Content-Length that lands protects an unquoted From (mboxcl2) */
	{ L(F1 "Content-Length: 13\n\nFrom here on\n\n" F2 "S: y\n\n"), 0, "" },
	{ L(F1 "Content-Length: 13\n\nFrom here on\n"), 0, "" },               /* at EOF */
	{ L(F1 "Content-Length: 12\n\nFrom here on\n"), 0, "" },               /* one LF before EOF */
	/* X10: wrong, past EOF, non-numeric, conflicting: value = repaired length */
	{ L(F1 "Content-Length: 3\n\nbody\n\n" F2 "S: y\n\n"), 0, "MBOX-CONTENT-LENGTH@0=5" },
	{ L(F1 "Content-Length: 999\n\nbody\n"), 0, "MBOX-CONTENT-LENGTH@0=5" },
	{ L(F1 "Content-Length: x\n\nbody\n"), 0, "MBOX-CONTENT-LENGTH@0=5" },
	{ L(F1 "Content-Length: 5\nContent-Length: 6\n\nbody\n"), 0, "MBOX-CONTENT-LENGTH@0=5" },
	/* quoting and a missing separator and final LF count in the new length */
	{ L(F1 "Content-Length: 1\n\nFrom x\n" F2 "S: y\n\n"), 0,
	  "MBOX-UNQUOTED-FROM@53 MBOX-MISSING-SEPARATOR@60 MBOX-CONTENT-LENGTH@0=8" },
	{ L(F1 "Content-Length: 1\n\nab"), 0, "MBOX-CONTENT-LENGTH@0=3 MBOX-TRUNCATED@55" },
	/* CRLF file, and mixed line ends (X14) */
	{ L("From a@b Mon Jan  1 00:00:00 2024\r\nS: x\r\n\r\nb\r\n\r\n"
	    "From a@b Mon Jan  1 00:00:00 2024\r\nS: y\r\n\r\nc\r\n"), 0, "" },
	{ L("From a@b Mon Jan  1 00:00:00 2024\r\nS: x\r\n\r\nb\r\n\r\n" F2 "S: y\n\nc\n"), 0,
	  "MBOX-MIXED-EOL@48" },
	{ L("From a@b Mon Jan  1 00:00:00 2024\r\nS: x\r\n\r\nb\r\n" F2 "S: y\n\n"), 0,
	  "MBOX-MISSING-SEPARATOR@46 MBOX-MIXED-EOL@46" },
	/* X12: NUL bytes are data */
	{ L(F1 "S: x\n\na\0b\nFrom \0x\n"), 0, "MBOX-UNQUOTED-FROM@44" },
	/* X21 / X8: header without end, From_ line right after the From_ line */
	{ L(F1 "S: x\n" F2 "S: y\n\nb\n"), 0, "" },
	{ L(F1 F2 "S: y\n\nb\n"), 0, "" },
};

START_TEST(test_mbox_table)
{
	const struct mbox_case *c = &mbox_cases[_i];
	struct got g;
	int rc = run_mbox(c->in, c->len, &g);
	ck_assert_msg(rc == c->status, "case %d: status %d", _i, rc);
	ck_assert_msg(strcmp(g.sb.buf, c->want) == 0, "case %d: got '%s', want '%s'", _i, g.sb.buf, c->want);
	sb_free(&g.sb);
	sb_free(&g.paths);
}
END_TEST

/* A line longer than the 1 MiB read window, then an unquoted From. */
START_TEST(test_mbox_long_line)
{
	size_t big = 3u << 20;
	struct strbuf sb = STRBUF_INIT;
	sb_appends(&sb, F1 "S: x\n\n");
	size_t start = sb.len;
	sb_grow(&sb, big + 64);
	memset(sb.buf + start, 'x', big);
	sb.len += big;
	sb_appends(&sb, "\nFrom here\n");
	struct got g;
	ck_assert_int_eq(run_mbox(sb.buf, sb.len, &g), 0);
	char *want = xasprintf("MBOX-UNQUOTED-FROM@%zu", start + big + 1);
	ck_assert_str_eq(g.sb.buf, want);
	free(want);
	sb_free(&g.sb);
	sb_free(&sb);
}
END_TEST

/* The counters repair uses to keep an mboxcl2 file mboxcl2. */
START_TEST(test_mbox_counters)
{
	static const char in[] = F1 "Content-Length: 13\n\nFrom here on\n\n"
	    F2 "Content-Length: 2\n\nx\n\n" F1 "S: none\n\nFrom x\n";
	char *path = xasprintf("%s/counters", tmpdir);
	write_file(path, in, sizeof in - 1);
	struct got g = { STRBUF_INIT, STRBUF_INIT };
	struct inspect_opts o = { .tmp_age = INSPECT_TMP_AGE, .fn = collect, .arg = &g, .mbox_fd = -1 };
	struct inspect_stats st = { 0 };
	ck_assert_int_eq(inspect_mbox(path, &o, &st), 0);
	ck_assert_uint_eq(st.mailboxes, 1);
	ck_assert_uint_eq(st.messages, 3);
	ck_assert_uint_eq(st.mbox_cl_messages, 2);
	ck_assert_uint_eq(st.mbox_protected_from, 1);
	ck_assert_uint_eq(st.findings, 1);
	ck_assert_str_eq(g.sb.buf, "MBOX-UNQUOTED-FROM@167");
	sb_free(&g.sb);
	unlink(path);
	free(path);
}
END_TEST

/* ---- M10 plausibility and W= ---------------------------------------------- */

struct plaus_case {
	const char *in;
	size_t len;
	bool ok;
	const char *why;
};

static const struct plaus_case plaus_cases[] = {
	{ L(""), false, "empty file" },
	{ L("Subject: x\nbody"), false, "no empty line after the header" },
	{ L("Subject: x\n\nbody\n"), true, "header parses, empty line present" },
	{ L("not a header\n\nbody\n"), false, "no header field" },
	{ L("Subject: x\nthis is no field\n\nbody\n"), false, "malformed header line" },
	{ L("Content-Type: multipart/mixed; boundary=\"zz\"\n\n--zz\n\nx\n--zz--\n"), true,
	  "header parses, empty line present, MIME boundaries closed" },
	{ L("Content-Type: multipart/mixed; BOUNDARY=zz\n\n--zz\n\nx\n--zz--\n"), true,
	  "header parses, empty line present, MIME boundaries closed" },
	{ L("Content-Type: multipart/mixed; boundary=\"zz\"\n\n--zz\n\nx\n"), false,
	  "multipart message without its closing boundary" },
	{ L("Content-Type: text/plain\r\n\r\nx\r\n"), true, "header parses, empty line present" },
};

START_TEST(test_plausible)
{
	const struct plaus_case *c = &plaus_cases[_i];
	char *path = xasprintf("%s/p", tmpdir);
	write_file(path, c->in, c->len);
	int fd = open(path, O_RDONLY);
	const char *why = NULL;
	ck_assert_int_eq(inspect_plausible(fd, &why), c->ok);
	ck_assert_str_eq(why, c->why);
	close(fd);
	unlink(path);
	free(path);
}
END_TEST

START_TEST(test_vsize)
{
	static const struct { const char *in; size_t len; long long w; } cases[] = {
		{ L(""), 0 }, { L("a"), 1 }, { L("a\n"), 3 }, { L("a\r\n"), 3 },
		{ L("a\nb\r\nc\n"), 9 }, { L("\n\n"), 4 }, { L("\r\r\n"), 3 }, { L("\0\n"), 3 },
	};
	char *path = xasprintf("%s/w", tmpdir);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		write_file(path, cases[i].in, cases[i].len);
		int fd = open(path, O_RDONLY);
		long long w = -1;
		ck_assert_int_eq(inspect_vsize(fd, &w), 0);
		ck_assert_msg(w == cases[i].w, "case %zu: %lld", i, w);
		close(fd);
	}
	unlink(path);
	free(path);
}
END_TEST

/* ---- Maildir names ---------------------------------------------------------- */

struct name_case {
	const char *sub;
	const char *name;
	const char *content;
	const char *want;
};

static const struct name_case name_cases[] = {
	{ "cur", "1.a.h:2,S", "S: x\n\nb\n", "" },
	{ "cur", "1.a.h", "S: x\n\nb\n", "" },                                 /* no info in cur/ */
	{ "cur", "1.a.h:2,", "S: x\n\nb\n", "" },
	{ "cur", "1.a.h:2,Sab", "S: x\n\nb\n", "" },                            /* keywords */
	{ "cur", "1.a.h:1,xyz", "S: x\n\nb\n", "" },                            /* opaque */
	{ "cur", "1.a.h!2,S", "S: x\n\nb\n", "" },                              /* mu separator */
	{ "cur", ".hidden", "junk", "" },                                       /* dot names skipped */
	{ "new", "1.a.h", "S: x\n\nb\n", "" },
	{ "new", "1.a.h:2,S", "S: x\n\nb\n", "MAILDIR-INFO-IN-NEW" },
	{ "cur", "1.a.h:2,SF", "S: x\n\nb\n", "MAILDIR-FLAGS-UNSORTED" },
	{ "cur", "1.a.h:2,SS", "S: x\n\nb\n", "MAILDIR-FLAGS-UNSORTED" },
	{ "cur", "1.a.h:2,SZ", "S: x\n\nb\n", "MAILDIR-FLAGS-UNKNOWN" },
	{ "cur", "1.a.h:2,S#", "S: x\n\nb\n", "MAILDIR-FLAGS-UNSORTED MAILDIR-FLAGS-UNKNOWN" },
	{ "cur", "1.a.h:2,S,X", "S: x\n\nb\n", "" },                            /* after a 2nd comma */
	{ "cur", "1:a.h:2,S", "S: x\n\nb\n", "MAILDIR-BAD-NAME" },
	{ "cur", "1.a.h:3,S", "S: x\n\nb\n", "MAILDIR-BAD-NAME" },
	{ "cur", "1.a.h,S=x:2,S", "S: x\n\nb\n", "MAILDIR-BAD-NAME" },
	{ "cur", "1.a.h,S=8:2,S", "S: x\n\nb\n", "" },
	{ "cur", "1.a.h,S=9:2,S", "S: x\n\nb\n", "MAILDIR-SIZE-MISMATCH" },
	{ "cur", "1.a.h,S=8,W=11:2,S", "S: x\n\nb\n", "" },
	{ "cur", "1.a.h,S=8,W=8:2,S", "S: x\n\nb\n", "MAILDIR-SIZE-MISMATCH" },  /* --deep */
	{ "cur", "1.a.h:2,", "", "MAILDIR-EMPTY-FILE" },
	{ "cur", "1.a.h:2,", "%PDF-1.4\n", "MAILDIR-NOT-MESSAGE" },
	{ "cur", "1.a.h:2,", "From x\nS: y\n\nb\n", "" },
};

START_TEST(test_maildir_names)
{
	const struct name_case *c = &name_cases[_i];
	char *md = xasprintf("%s/md%d", tmpdir, _i);
	static const char *const subs[] = { "", "/cur", "/new", "/tmp" };
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		char *p = xasprintf("%s%s", md, subs[i]);
		ck_assert_int_eq(mkdir(p, 0700), 0);
		free(p);
	}
	char *f = xasprintf("%s/%s/%s", md, c->sub, c->name);
	write_file(f, c->content, strlen(c->content));
	struct got g = { STRBUF_INIT, STRBUF_INIT };
	struct inspect_opts o = { .deep = true, .tmp_age = INSPECT_TMP_AGE, .fn = collect, .arg = &g,
		.mbox_fd = -1 };
	struct inspect_stats st = { 0 };
	ck_assert_int_eq(inspect_maildir(md, &o, &st), 0);
	sb_appends(&g.sb, "");
	ck_assert_msg(strcmp(g.sb.buf, c->want) == 0, "case %d %s: got '%s'", _i, c->name, g.sb.buf);
	ck_assert_uint_eq(st.messages, c->name[0] == '.' ? 0 : 1);
	if (*c->want) {
		struct strbuf want = STRBUF_INIT;     /* the file's path once per finding */
		for (const char *w = c->want; w; w = strchr(w + 1, ' '))
			sb_appendf(&want, "%s%s/%s", want.len ? " " : "", c->sub, c->name);
		ck_assert_str_eq(g.paths.buf, want.buf);
		sb_free(&want);
	}
	sb_free(&g.sb);
	sb_free(&g.paths);
	free(f);
	free(md);
}
END_TEST

static int
lent_by_ino_off(const void *a, const void *b)
{
	const struct lent *x = a, *y = b;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* listing_sort orders by inode as qsort does, keeps the order of equal
 * inodes (a radix sort is stable), over near and far-apart numbers */
START_TEST(test_listing_sort)
{
	static const uint64_t spans[] = { 1, 2, 255, 256, 70000, 1ull << 33, UINT64_MAX };
	unsigned seed = 12345;
	for (size_t si = 0; si < ARRAY_SIZE(spans); si++)
		for (size_t n = 0; n < 3000; n = n < 10 ? n + 1 : n * 3) {
			struct lent *v = xcalloc(n + 1, sizeof *v), *w = xcalloc(n + 1, sizeof *w);
			uint64_t base = si == ARRAY_SIZE(spans) - 1 ? 0 : 1000000007ull;
			for (size_t i = 0; i < n; i++) {
				uint64_t r = (uint64_t)rand_r(&seed) << 42 ^ (uint64_t)rand_r(&seed) << 21 ^
				    (uint64_t)rand_r(&seed);
				v[i].ino = (ino_t)(base + (spans[si] == UINT64_MAX ? r : r % spans[si]));
				v[i].off = i;
			}
			memcpy(w, v, n * sizeof *v);
			listing_sort(v, n);
			if (n > 1)
				qsort(w, n, sizeof *w, lent_by_ino_off);
			for (size_t i = 0; i < n; i++)
				ck_assert_msg(v[i].ino == w[i].ino && v[i].off == w[i].off,
				    "span %llu n %zu at %zu: %llu/%zu, want %llu/%zu",
				    (unsigned long long)spans[si], n, i, (unsigned long long)v[i].ino,
				    v[i].off, (unsigned long long)w[i].ino, w[i].off);
			free(v);
			free(w);
		}
}
END_TEST

START_TEST(test_quota_totals)
{
	char *md = xasprintf("%s/quota", tmpdir);
	static const char *const dirs[] = { "", "/cur", "/new", "/tmp", "/.Sent", "/.Sent/cur",
		"/.Sent/new", "/.Trash", "/.Trash/cur", "/" INSPECT_QUARANTINE, "/" INSPECT_QUARANTINE "/cur" };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		char *p = xasprintf("%s%s", md, dirs[i]);
		ck_assert_int_eq(mkdir(p, 0700), 0);
		free(p);
	}
	static const struct { const char *path; const char *content; } files[] = {
		{ "/cur/1.a.h,S=100:2,S", "x" },            /* S= wins over the file size */
		{ "/new/2.a.h", "12345" },
		{ "/.Sent/cur/3.a.h:2,S", "123" },
		{ "/.Sent/new/.dot", "123456789" },          /* not counted */
		{ "/.Trash/cur/4.a.h:2,T", "123456789" },    /* not counted (Courier default) */
		{ "/" INSPECT_QUARANTINE "/cur/5", "12" },   /* not counted */
	};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char *p = xasprintf("%s%s", md, files[i].path);
		write_file(p, files[i].content, strlen(files[i].content));
		free(p);
	}
	int fd = open(md, O_RDONLY | O_DIRECTORY);
	long long b = -1, n = -1;
	inspect_quota_totals(fd, &b, &n);
	ck_assert_int_eq(b, 108);
	ck_assert_int_eq(n, 3);
	close(fd);

	/* and the maildirsize finding */
	char *ms = xasprintf("%s/maildirsize", md);
	struct got g = { STRBUF_INIT, STRBUF_INIT };
	struct inspect_opts o = { .tmp_age = INSPECT_TMP_AGE, .fn = collect, .arg = &g, .mbox_fd = -1 };
	struct inspect_stats st = { 0 };
	write_file(ms, L("1000S,10C\n100 1\n  5 1\n3 1\n"));
	/* the S=100 file of one byte is itself a finding */
	ck_assert_int_eq(inspect_maildir(md, &o, &st), 0);
	ck_assert_str_eq(g.sb.buf, "MAILDIR-SIZE-MISMATCH");
	sb_reset(&g.sb);
	write_file(ms, L("1000S,10C\n100 1\n"));
	ck_assert_int_eq(inspect_maildir(md, &o, &st), 0);
	ck_assert_str_eq(g.sb.buf, "MAILDIR-SIZE-MISMATCH MAILDIRSIZE-WRONG");
	sb_reset(&g.sb);
	write_file(ms, L("garbage\n"));
	ck_assert_int_eq(inspect_maildir(md, &o, &st), 0);
	ck_assert_str_eq(g.sb.buf, "MAILDIR-SIZE-MISMATCH MAILDIRSIZE-WRONG");
	sb_free(&g.sb);
	sb_free(&g.paths);
	free(ms);
	free(md);
}
END_TEST

/* ---- dovecot-uidlist ------------------------------------------------------- */

/* Files: cur/1.a.h:2,S, new/2.b.h and cur/.hidden; `list` NULL: no list,
 * "/" a directory in its place. */
struct uidlist_case {
	const char *list;
	size_t len;
	bool deep;
	const char *want;
};

static const struct uidlist_case uidlist_cases[] = {
	{ NULL, 0, true, "" },
	{ L("3 V10 N5\n1 :1.a.h:2,S\n2 :2.b.h\n"), true, "" },
	{ L("3 V10 N3 G0123\n1 :1.a.h\n2 :2.b.h"), true, "" },               /* no final LF */
	{ L("3 V10 N5\n1 :1.a.h\n\n2 W7 P:x :2.b.h:2,S\n"), true, "" },     /* stale info, fields */
	{ L("3 V10 N5\n"), false, "" },                                       /* no lines */
	{ L("3 V10 N2\n1 :1.a.h\n2 :2.b.h\n"), true, "UIDLIST-NEXT-TOO-LOW=2" },
	{ L("3 N1 V10\n1 :1.a.h\n2 :2.b.h\n"), true, "UIDLIST-NEXT-TOO-LOW=1" },
	{ L("3 V10 N5\n2 :1.a.h\n1 :2.b.h\n"), true, "UIDLIST-NOT-INCREASING=1" },
	{ L("3 V10 N5\n1 :1.a.h\n1 :2.b.h\n"), true, "UIDLIST-NOT-INCREASING=1" },
	{ L("3 V10 N9\n1 :1.a.h\n2 :2.b.h\n8 W5 :8.gone.h:2,S\n"), true, "UIDLIST-MISSING-FILE=8" },
	{ L("3 V10 N9\n1 :1.a.h\n2 :2.b.h\n8 W5 :8.gone.h:2,S\n"), false, "" },
	{ L("3 V10 N5\n1 :1.a.h\n"), true, "UIDLIST-UNLISTED:new/2.b.h" },
	{ L("3 V10 N5\n1 :1.a.h\n"), false, "" },
	{ L("3 V10 N5\n4 :2.b\n"), true,                                    /* a prefix is no match */
	  "UIDLIST-MISSING-FILE=4 UIDLIST-UNLISTED:cur/1.a.h:2,S UIDLIST-UNLISTED:new/2.b.h" },
	{ L("1 10 5\n1 :1.a.h\n"), true, "UIDLIST-BAD" },                    /* version 1 */
	{ L("3 N5\n1 :1.a.h\n"), true, "UIDLIST-BAD" },
	{ L("3 V10 N0\n1 :1.a.h\n"), true, "UIDLIST-BAD" },
	{ L("3 V10 N4294967296\n"), true, "UIDLIST-BAD" },
	{ L("3 V10 N5"), true, "UIDLIST-BAD" },                                /* no LF at all */
	{ L(""), true, "UIDLIST-BAD" },
	{ L("3 V10 N5\nabc\n1 :1.a.h\n2 :2.b.h\n"), true, "UIDLIST-BAD" },
	{ L("3 V10 N5\n1 W5\n4294967296 :1.a.h\n0 :2.b.h\n"), false, "UIDLIST-BAD" },
	{ L("3 V10 N5\n1 :\n2 :2.b.h\n3 :1.a.h\n"), false, "UIDLIST-BAD" }, /* empty name */
	{ L("/"), true, "UIDLIST-BAD" },                                       /* unreadable */
};

START_TEST(test_uidlist)
{
	const struct uidlist_case *c = &uidlist_cases[_i];
	char *md = xasprintf("%s/ul%d", tmpdir, _i);
	static const char *const subs[] = { "", "/cur", "/new", "/tmp" };
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		char *p = xasprintf("%s%s", md, subs[i]);
		ck_assert_int_eq(mkdir(p, 0700), 0);
		free(p);
	}
	static const char *const files[] = { "/cur/1.a.h:2,S", "/new/2.b.h", "/cur/.hidden" };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char *p = xasprintf("%s%s", md, files[i]);
		write_file(p, L("S: x\n\nb\n"));
		free(p);
	}
	char *ul = xasprintf("%s/dovecot-uidlist", md);
	if (c->list && strcmp(c->list, "/") == 0)
		ck_assert_int_eq(mkdir(ul, 0700), 0);
	else if (c->list)
		write_file(ul, c->list, c->len);
	struct got g = { STRBUF_INIT, STRBUF_INIT };
	struct inspect_opts o = { .deep = c->deep, .tmp_age = INSPECT_TMP_AGE, .fn = collect,
		.arg = &g, .mbox_fd = -1 };
	struct inspect_stats st = { 0 };
	ck_assert_int_eq(inspect_maildir(md, &o, &st), 0);
	sb_appends(&g.sb, "");
	ck_assert_msg(strcmp(g.sb.buf, c->want) == 0, "case %d: got '%s'", _i, g.sb.buf);
	ck_assert_uint_eq(st.messages, 2);
	sb_free(&g.sb);
	sb_free(&g.paths);
	free(ul);
	free(md);
}
END_TEST

/* What repair reads: lines in file order, presence, unlisted sorted. */
START_TEST(test_uidlist_read)
{
	char *md = xasprintf("%s/ulread", tmpdir);
	static const char *const paths[] = { "", "/cur", "/new", "/tmp" };
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		char *p = xasprintf("%s%s", md, paths[i]);
		ck_assert_int_eq(mkdir(p, 0700), 0);
		free(p);
	}
	static const char *const files[] = { "/new/9.z", "/cur/3.c:2,S", "/new/7.y", "/cur/1.a:2," };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char *p = xasprintf("%s%s", md, files[i]);
		write_file(p, L("S: x\n\nb\n"));
		free(p);
	}
	char *ul = xasprintf("%s/dovecot-uidlist", md);
	write_file(ul, L("3 V77 N6 Gabc\n5 P1 :1.a:2,S\n2 :2.gone\n6 :3.c\n"));
	int fd = open(md, O_RDONLY | O_DIRECTORY);
	struct inspect_uidlist u;
	ck_assert_int_eq(inspect_uidlist_read(fd, &u), 1);
	ck_assert(u.header_ok);
	ck_assert_uint_eq(u.validity, 77);
	ck_assert_uint_eq(u.next, 6);
	ck_assert_uint_eq(u.max, 6);
	ck_assert_uint_eq(u.hdr_len, 13);
	ck_assert_uint_eq(u.nline, 3);
	ck_assert_uint_eq(u.order_line, 3);
	ck_assert_uint_eq(u.order_uid, 2);
	ck_assert_uint_eq(u.order_prev, 5);
	ck_assert_uint_eq(u.bad_lines, 0);
	static const struct { uint32_t uid; size_t off, len; const char *base; bool present; } want[] = {
		{ 5, 14, 13, "1.a", true }, { 2, 28, 9, "2.gone", false }, { 6, 38, 6, "3.c", true },
	};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		ck_assert_uint_eq(u.line[i].uid, want[i].uid);
		ck_assert_uint_eq(u.line[i].off, want[i].off);
		ck_assert_uint_eq(u.line[i].len, want[i].len);
		ck_assert_uint_eq(u.line[i].base_len, strlen(want[i].base));
		ck_assert(memcmp(u.line[i].base, want[i].base, u.line[i].base_len) == 0);
		ck_assert(u.line[i].present == want[i].present);
	}
	ck_assert_uint_eq(u.nunlisted, 2);
	ck_assert_str_eq(u.unlisted[0], "new/7.y");
	ck_assert_str_eq(u.unlisted[1], "new/9.z");
	inspect_uidlist_free(&u);
	ck_assert_ptr_null(u.data);
	unlink(ul);
	ck_assert_int_eq(inspect_uidlist_read(fd, &u), 0);
	close(fd);
	free(ul);
	free(md);
}
END_TEST

static Suite *
inspect_suite(void)
{
	Suite *s = suite_create("inspect");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_codes);
	tcase_add_test(tc, test_codes_documented);
	tcase_add_loop_test(tc, test_mbox_table, 0, (int)ARRAY_SIZE(mbox_cases));
	tcase_add_test(tc, test_mbox_long_line);
	tcase_add_test(tc, test_mbox_counters);
	tcase_add_loop_test(tc, test_plausible, 0, (int)ARRAY_SIZE(plaus_cases));
	tcase_add_test(tc, test_vsize);
	tcase_add_loop_test(tc, test_maildir_names, 0, (int)ARRAY_SIZE(name_cases));
	tcase_add_test(tc, test_listing_sort);
	tcase_add_test(tc, test_quota_totals);
	tcase_add_loop_test(tc, test_uidlist, 0, (int)ARRAY_SIZE(uidlist_cases));
	tcase_add_test(tc, test_uidlist_read);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	if (!mkdtemp(tmpdir))
		return 99;
	opt_common.quiet = 1;
	SRunner *sr = srunner_create(inspect_suite());
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		failed++;
	free(cmd);
	return failed ? 1 : 0;
}
