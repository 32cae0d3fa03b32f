/*
 * check_maildir_reader.c: the Maildir reader and the folder walk
 * (maildir_reader.h; SPEC §1.1-1.8, §1.10, §5 M1-M4, M13) on maildirs built
 * in a temporary directory, and on the corpus maildirs (INDEX.tsv counts).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "maildir_reader.h"
#include "util.h"

#define NEV 10

struct evlog {
	unsigned n[NEV];
	char last[NEV][512];        /* last path per event */
	char other[NEV][512];       /* last other name per event */
};

static void
ev_record(void *arg, enum maildir_event ev, const char *path, const char *other, int err)
{
	struct evlog *l = arg;

	(void)err;
	ck_assert_int_lt(ev, NEV);
	l->n[ev]++;
	snprintf(l->last[ev], sizeof(l->last[ev]), "%s", path);
	snprintf(l->other[ev], sizeof(l->other[ev]), "%s", other ? other : "");
}

static char tmpdir[256];

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/mdr.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

static char *
mkmaildir(const char *rel, bool newdir, bool tmp)
{
	char *p = rel[0] ? xasprintf("%s/%s", tmpdir, rel) : xstrdup(tmpdir);
	char *q;

	mkdir(p, 0700);
	q = xasprintf("%s/cur", p);
	ck_assert_int_eq(mkdir(q, 0700), 0);
	free(q);
	if (newdir) {
		q = xasprintf("%s/new", p);
		ck_assert_int_eq(mkdir(q, 0700), 0);
		free(q);
	}
	if (tmp) {
		q = xasprintf("%s/tmp", p);
		ck_assert_int_eq(mkdir(q, 0700), 0);
		free(q);
	}
	return p;
}

static void
put(const char *md, const char *rel, const void *data, size_t len, time_t mtime)
{
	char *p = xasprintf("%s/%s", md, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write_all(fd, data, len), 0);
	close(fd);
	if (mtime != 0) {
		struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };
		ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
	}
	free(p);
}

static void
puts_(const char *md, const char *rel, const char *s, time_t mtime)
{
	put(md, rel, s, strlen(s), mtime);
}

/* Read the whole current message: header view + body. */
static void
slurp(struct maildir_reader *r, const struct message *m, struct strbuf *out)
{
	struct iovec iov[4];
	int n = 4, rc;

	sb_reset(out);
	sb_append(out, m->header, m->header_len);
	while ((rc = maildir_reader_body(r, iov, &n)) == 1) {
		for (int i = 0; i < n; i++)
			sb_append(out, iov[i].iov_base, iov[i].iov_len);
		n = 4;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(n, 0);
}

static struct reader_opts
opts_with(struct evlog *l, enum reader_sort sort)
{
	struct reader_opts o;

	memset(&o, 0, sizeof(o));
	o.sort = sort;
	o.on_event = ev_record;
	o.event_arg = l;
	return o;
}

START_TEST(test_entries_m1)
{
	char *md = mkmaildir("", true, true);
	struct evlog l = { 0 };
	struct reader_opts o = opts_with(&l, READER_SORT_DELIVERY);
	struct maildir_reader *r;
	struct message m;
	struct strbuf all = STRBUF_INIT, one = STRBUF_INIT;
	char *p;

	puts_(md, "new/1000.M1P1.host", "Subject: a\n\nbody a\n", 1000);
	puts_(md, "cur/999.M5P1.host:2,RS", "Subject: b\r\n\r\nbody b", 999);
	puts_(md, "cur/.DS_Store", "junk", 0);
	puts_(md, "new/.nfs0001", "junk", 0);
	p = xasprintf("%s/cur/fifo", md);
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	free(p);
	p = xasprintf("%s/cur/passwd", md);
	ck_assert_int_eq(symlink("/etc/passwd", p), 0);
	free(p);
	p = xasprintf("%s/new/subdir", md);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	free(p);

	ck_assert_int_eq(maildir_reader_open(&r, md, &o), 0);
	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_FULL), 1);
	ck_assert_int_eq(m.origin, ORIGIN_MAILDIR);
	ck_assert_uint_eq(m.index, 0);
	ck_assert_str_eq(m.subdir, "cur");
	ck_assert_str_eq(m.filename, "999.M5P1.host:2,RS");
	ck_assert_str_eq(m.folder, "");
	ck_assert_str_eq(m.mailbox, md);
	ck_assert(m.in_cur);
	ck_assert_uint_eq(m.flags, MF_REPLIED | MF_SEEN);
	ck_assert_str_eq(m.info, "2,RS");
	ck_assert_int_eq(m.offset, -1);
	ck_assert_int_eq(m.size, 20);
	ck_assert(m.env_time_ok);
	ck_assert_int_eq(m.env_time, 999);
	ck_assert_uint_eq(m.header_len, 14);
	ck_assert(m.header_complete);
	ck_assert_mem_eq(m.header, "Subject: b\r\n\r\n", 14);
	p = xasprintf("%s/cur/999.M5P1.host:2,RS", md);
	ck_assert_str_eq(m.path, p);
	free(p);
	slurp(r, &m, &one);
	ck_assert_uint_eq(one.len, 20);
	ck_assert_mem_eq(one.buf, "Subject: b\r\n\r\nbody b", 20);
	sb_append(&all, one.buf, one.len);

	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_FULL), 1);
	ck_assert_uint_eq(m.index, 1);
	ck_assert_str_eq(m.subdir, "new");
	ck_assert(!m.in_cur);
	ck_assert_ptr_null(m.info);
	ck_assert_uint_eq(m.flags, 0);
	ck_assert_uint_eq(m.header_len, 12);
	slurp(r, &m, &one);
	ck_assert_uint_eq(one.len, 19);
	ck_assert_mem_eq(one.buf, "Subject: a\n\nbody a\n", 19);
	sb_append(&all, one.buf, one.len);
	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_FULL), 0);

	const struct maildir_counters *c = maildir_reader_counters(r);
	ck_assert_uint_eq(c->messages, 2);
	ck_assert_uint_eq(c->dot_names, 2);
	ck_assert_uint_eq(c->not_regular, 2);
	ck_assert_uint_eq(c->symlinks, 1);
	ck_assert_uint_eq(l.n[MDE_DOT_NAME], 2);
	ck_assert_uint_eq(l.n[MDE_NOT_REGULAR], 2);
	ck_assert_uint_eq(l.n[MDE_SYMLINK], 1);
	p = xasprintf("%s/cur/passwd", md);
	ck_assert_str_eq(l.last[MDE_SYMLINK], p);
	free(p);
	ck_assert_uint_eq(l.n[MDE_MISSING_SUBDIR], 0);
	/* the symlink target never shows up in what was read */
	ck_assert_ptr_null(mem_find(all.buf, all.len, "root:", 5));
	maildir_reader_close(r);
	sb_free(&all);
	sb_free(&one);
	free(md);
}
END_TEST

/* WANT_NAME opens nothing and stats nothing: deleting every file after
 * the listing goes unnoticed; WANT_HEADER then sees each one vanish. */
START_TEST(test_name_only_opens_nothing)
{
	char *md = mkmaildir("", true, true);
	struct evlog l = { 0 };
	struct reader_opts o = opts_with(&l, READER_SORT_NAME);
	struct maildir_reader *r, *r2;
	struct message m;

	puts_(md, "new/1.a,S=11", "Subject: x\n", 0);
	puts_(md, "cur/2.b:2,FS", "Subject: y\n", 0);
	ck_assert_int_eq(maildir_reader_open(&r, md, &o), 0);
	ck_assert_int_eq(maildir_reader_open(&r2, md, &o), 0);
	char *cmd = xasprintf("rm -f '%s'/new/* '%s'/cur/*", md, md);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);

	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_NAME), 1);
	ck_assert_str_eq(m.filename, "1.a,S=11");
	ck_assert_int_eq(m.size, 11);           /* from ,S= */
	ck_assert(!m.env_time_ok);
	ck_assert_ptr_null(m.header);
	ck_assert_ptr_null(maildir_reader_stat(r));
	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_NAME), 1);
	ck_assert_str_eq(m.filename, "2.b:2,FS");
	ck_assert_uint_eq(m.flags, MF_FLAGGED | MF_SEEN);
	ck_assert_int_eq(m.size, -1);           /* unknown without a stat */
	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_NAME), 0);
	ck_assert_uint_eq(l.n[MDE_VANISHED], 0);
	ck_assert_uint_eq(maildir_reader_counters(r)->messages, 2);

	ck_assert_int_eq(maildir_reader_next(r2, &m, READER_WANT_HEADER), 0);
	ck_assert_uint_eq(l.n[MDE_VANISHED], 2);
	ck_assert_uint_eq(maildir_reader_counters(r2)->vanished, 2);
	ck_assert_uint_eq(maildir_reader_counters(r2)->messages, 0);
	maildir_reader_close(r);
	maildir_reader_close(r2);
	free(md);
}
END_TEST

START_TEST(test_stat_and_sizes)
{
	char *md = mkmaildir("", true, true);
	struct evlog l = { 0 };
	struct reader_opts o = opts_with(&l, READER_SORT_NAME);
	struct maildir_reader *r;
	struct message m;
	struct strbuf b = STRBUF_INIT;

	/* ,S= says 5, the file holds 7: the name wins for size, stat tells the truth */
	puts_(md, "cur/1.x,S=5,W=6:2,S", "1234567", 1234567890);
	puts_(md, "cur/2.y:2,", "", 1234567891);
	puts_(md, "new/3.z", "abc", 1234567892);
	puts_(md, "new/4.e", "", 1234567893);
	ck_assert_int_eq(maildir_reader_open(&r, md, &o), 0);
	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_STAT), 1);
	ck_assert_int_eq(m.size, 5);
	ck_assert(m.env_time_ok);
	ck_assert_int_eq(m.env_time, 1234567890);
	ck_assert_int_eq(maildir_reader_stat(r)->st_size, 7);
	ck_assert_int_eq(maildir_reader_name(r)->size_s, 5);
	ck_assert_int_eq(maildir_reader_name(r)->size_w, 6);
	/* body after STAT: the whole file, no header view */
	slurp(r, &m, &b);
	ck_assert_uint_eq(b.len, 7);
	ck_assert_mem_eq(b.buf, "1234567", 7);

	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_FULL), 1);   /* M2 */
	ck_assert_str_eq(m.filename, "2.y:2,");
	ck_assert_int_eq(m.size, 0);
	ck_assert_uint_eq(m.header_len, 0);
	ck_assert(!m.header_complete);
	ck_assert_str_eq(m.info, "2,");
	slurp(r, &m, &b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_uint_eq(l.n[MDE_EMPTY], 1);

	/* HEADER makes no stat: no ,S= means no size and no mtime until
	 * maildir_reader_stat() asks, once, for this message */
	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_HEADER), 1);
	ck_assert_int_eq(m.size, -1);
	ck_assert(!m.env_time_ok);
	ck_assert_int_eq(maildir_reader_stat(r)->st_size, 3);
	ck_assert_int_eq(maildir_reader_stat(r)->st_mtime, 1234567892);
	ck_assert_uint_eq(m.header_len, 3);     /* no empty line: all header */
	ck_assert(!m.header_complete);
	/* an empty file is found empty without a stat too */
	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_HEADER), 1);
	ck_assert_str_eq(m.filename, "4.e");
	ck_assert_int_eq(m.size, 0);
	ck_assert_uint_eq(m.header_len, 0);
	ck_assert_uint_eq(l.n[MDE_EMPTY], 2);
	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_FULL), 0);
	const struct maildir_counters *c = maildir_reader_counters(r);
	ck_assert_uint_eq(c->empty, 2);
	ck_assert_uint_eq(c->no_header_end, 3);
	maildir_reader_close(r);
	sb_free(&b);
	free(md);
}
END_TEST

/* Header edge cases: CRLF, NUL bytes, no header, a header longer than the
 * first read, a header longer than READER_HEADER_MAX. */
START_TEST(test_header_edges)
{
	char *md = mkmaildir("", true, true);
	struct reader_opts o = { .sort = READER_SORT_NAME, .quiet = true };
	struct maildir_reader *r;
	struct message m;
	struct strbuf big = STRBUF_INIT, huge = STRBUF_INIT, b = STRBUF_INIT;

	put(md, "cur/a", "X: 1\0 2\n\nbo\0dy", 15, 0);
	puts_(md, "cur/b", "\nno header\n", 0);
	for (int i = 0; i < 1000; i++)
		sb_appendf(&big, "X-Line-%04d: %s\n", i, "0123456789012345678901234567890123456789");
	size_t bighdr = big.len + 1;
	sb_appends(&big, "\nbody\n");
	put(md, "cur/c", big.buf, big.len, 0);
	while (huge.len < READER_HEADER_MAX + 100)
		sb_appends(&huge, "X-Long: 01234567890123456789012345678901234567890123456789\n");
	sb_appends(&huge, "\nafter\n");
	put(md, "cur/d", huge.buf, huge.len, 0);

	ck_assert_int_eq(maildir_reader_open(&r, md, &o), 0);
	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_HEADER), 1);
	ck_assert_uint_eq(m.header_len, 9);
	ck_assert_mem_eq(m.header, "X: 1\0 2\n\n", 9);
	slurp(r, &m, &b);
	ck_assert_uint_eq(b.len, 15);
	ck_assert_mem_eq(b.buf, "X: 1\0 2\n\nbo\0dy", 15);

	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_HEADER), 1);
	ck_assert_uint_eq(m.header_len, 1);
	ck_assert(m.header_complete);

	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_HEADER), 1);
	ck_assert_str_eq(m.filename, "c");
	ck_assert_uint_gt(bighdr, 8192);
	ck_assert_uint_eq(m.header_len, bighdr);
	ck_assert(m.header_complete);
	slurp(r, &m, &b);
	ck_assert_uint_eq(b.len, big.len);
	ck_assert_mem_eq(b.buf, big.buf, big.len);

	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_FULL), 1);
	ck_assert_str_eq(m.filename, "d");
	ck_assert_uint_eq(m.header_len, READER_HEADER_MAX);
	ck_assert(!m.header_complete);
	slurp(r, &m, &b);
	ck_assert_uint_eq(b.len, huge.len);
	ck_assert_mem_eq(b.buf, huge.buf, huge.len);
	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_FULL), 0);
	ck_assert_uint_eq(maildir_reader_counters(r)->no_header_end, 1);
	maildir_reader_close(r);
	sb_free(&big);
	sb_free(&huge);
	sb_free(&b);
	free(md);
}
END_TEST

/* A 3 MB message through a 64 KiB buffer: same bytes, and every body
 * chunk lies in the one fixed buffer. */
START_TEST(test_big_body)
{
	char *md = mkmaildir("", true, true);
	struct reader_opts o = { .sort = READER_SORT_NONE, .bufsize = 65536, .quiet = true };
	struct maildir_reader *r;
	struct message m;
	size_t n = 3 * 1024 * 1024 + 17;
	char *data = xmalloc(n);
	struct strbuf b = STRBUF_INIT;

	memcpy(data, "Subject: big\n\n", 14);
	for (size_t i = 14; i < n; i++)
		data[i] = (char)(i * 7 + (i >> 11));
	put(md, "new/1.big", data, n, 0);
	ck_assert_int_eq(maildir_reader_open(&r, md, &o), 0);
	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_FULL), 1);
	ck_assert_uint_eq(m.header_len, 14);
	ck_assert_int_eq(m.size, (int64_t)n);

	const char *buf;
	size_t blen;
	maildir_reader_buffer(r, &buf, &blen);
	ck_assert_uint_eq(blen, 65536);
	sb_append(&b, m.header, m.header_len);
	struct iovec iov[8];
	int cnt = 8, rc, chunks = 0;
	while ((rc = maildir_reader_body(r, iov, &cnt)) == 1) {
		ck_assert_int_eq(cnt, 1);
		ck_assert_uint_le(iov[0].iov_len, blen);
		if (chunks > 0) {
			ck_assert((const char *)iov[0].iov_base >= buf);
			ck_assert((const char *)iov[0].iov_base + iov[0].iov_len <= buf + blen);
		}
		sb_append(&b, iov[0].iov_base, iov[0].iov_len);
		chunks++;
		cnt = 8;
	}
	ck_assert_int_eq(rc, 0);
	/* first chunk: the rest of the first 64 KiB read; then 47 full buffers and the tail */
	ck_assert_int_eq(chunks, 1 + (int)((n - 65536 + 65535) / 65536));
	ck_assert_uint_eq(b.len, n);
	ck_assert(memcmp(b.buf, data, n) == 0);
	/* body again after the end: still 0 */
	cnt = 8;
	ck_assert_int_eq(maildir_reader_body(r, iov, &cnt), 0);
	maildir_reader_close(r);
	free(data);
	sb_free(&b);
	free(md);
}
END_TEST

/* M4: the same unique part twice, in every order. */
START_TEST(test_duplicates)
{
	static const enum reader_sort sorts[] = {
		READER_SORT_DELIVERY, READER_SORT_DATE, READER_SORT_NAME, READER_SORT_NONE,
	};
	char *md = mkmaildir("", true, true);

	puts_(md, "new/100.M1P1.h", "A\n\n", 100);
	char *a = xasprintf("%s/new/100.M1P1.h", md), *b = xasprintf("%s/cur/100.M1P1.h:2,S", md);
	ck_assert_int_eq(link(a, b), 0);        /* same inode: caught mid-rename */
	free(a);
	free(b);
	puts_(md, "cur/200.M1P1.h,S=3:2,S", "B\n\n", 200);
	puts_(md, "cur/200.M1P1.h,S=3:2,RS", "C\n\n", 201);   /* different inode */
	puts_(md, "cur/300.M1P1.h:2,", "D\n\n", 300);

	for (size_t k = 0; k < ARRAY_SIZE(sorts); k++) {
		struct evlog l = { 0 };
		struct reader_opts o = opts_with(&l, sorts[k]);
		struct maildir_reader *r;
		struct message m;
		size_t n = 0;
		int seen_a = 0, seen_b = 0;

		ck_assert_int_eq(maildir_reader_open(&r, md, &o), 0);
		while (maildir_reader_next(r, &m, READER_WANT_HEADER) == 1) {
			n++;
			seen_a += m.header[0] == 'A';
			seen_b += m.header[0] == 'B' || m.header[0] == 'C';
		}
		ck_assert_uint_eq(n, 4);
		ck_assert_int_eq(seen_a, 1);
		ck_assert_int_eq(seen_b, 2);
		ck_assert_uint_eq(l.n[MDE_DUP_INODE], 1);
		ck_assert_uint_eq(l.n[MDE_DUP_UNIQ], 1);
		/* both names are given */
		ck_assert(strstr(l.last[MDE_DUP_INODE], "100.M1P1.h") != NULL);
		ck_assert(strstr(l.other[MDE_DUP_INODE], "100.M1P1.h") != NULL);
		ck_assert_str_ne(l.last[MDE_DUP_INODE] + strlen(md) + 1, l.other[MDE_DUP_INODE]);
		ck_assert(strstr(l.last[MDE_DUP_UNIQ], "200.M1P1.h,S=3:2,") != NULL);
		ck_assert(strncmp(l.other[MDE_DUP_UNIQ], "cur/200.M1P1.h,S=3:2,", 21) == 0);
		ck_assert_str_ne(l.last[MDE_DUP_UNIQ] + strlen(md) + 1, l.other[MDE_DUP_UNIQ]);
		const struct maildir_counters *c = maildir_reader_counters(r);
		ck_assert_uint_eq(c->dup_inode, 1);
		ck_assert_uint_eq(c->dup_uniq, 1);
		ck_assert_uint_eq(c->messages, 4);
		maildir_reader_close(r);
	}
	free(md);
}
END_TEST

/*
 * A client renamed new/X to cur/X:2,S between the listings of new/ and cur/:
 * the listing holds both names, but only the new one exists by the time it
 * is read. One message, read once, and no word of a duplicate.
 */
START_TEST(test_rename_seen_twice)
{
	static const enum reader_sort sorts[] = {
		READER_SORT_DELIVERY, READER_SORT_DATE, READER_SORT_NAME,
	};

	for (size_t k = 0; k < ARRAY_SIZE(sorts); k++) {
		char rel[16];
		snprintf(rel, sizeof rel, "twice%zu", k);
		char *md = mkmaildir(rel, true, true);
		puts_(md, "new/100.M1P1.h", "A\n\n", 100);
		char *a = xasprintf("%s/new/100.M1P1.h", md), *b = xasprintf("%s/cur/100.M1P1.h:2,S", md);
		ck_assert_int_eq(link(a, b), 0);
		puts_(md, "cur/300.M1P1.h:2,", "D\n\n", 300);

		struct evlog l = { 0 };
		struct reader_opts o = opts_with(&l, sorts[k]);
		struct maildir_reader *r;
		struct message m;
		size_t n = 0;
		int seen_a = 0;

		ck_assert_int_eq(maildir_reader_open(&r, md, &o), 0);
		ck_assert_int_eq(unlink(a), 0);  /* the rename completes */
		while (maildir_reader_next(r, &m, READER_WANT_HEADER) == 1) {
			n++;
			seen_a += m.header[0] == 'A';
		}
		ck_assert_uint_eq(n, 2);
		ck_assert_int_eq(seen_a, 1);
		ck_assert_uint_eq(l.n[MDE_DUP_INODE], 0);
		ck_assert_uint_eq(l.n[MDE_VANISHED], 0);
		ck_assert_uint_eq(maildir_reader_counters(r)->dup_inode, 0);
		maildir_reader_close(r);
		free(a);
		free(b);
		free(md);
	}
}
END_TEST

static void
order_of(const char *md, enum reader_sort s, struct strbuf *out)
{
	struct reader_opts o = { .sort = s, .quiet = true };
	struct maildir_reader *r;
	struct message m;

	sb_reset(out);
	ck_assert_int_eq(maildir_reader_open(&r, md, &o), 0);
	while (maildir_reader_next(r, &m, READER_WANT_NAME) == 1)
		sb_appendf(out, "%s/%s ", m.subdir, m.filename);
	maildir_reader_close(r);
}

START_TEST(test_sort_orders)
{
	char *md = mkmaildir("", true, true);
	struct strbuf o = STRBUF_INIT;

	puts_(md, "cur/1000.M20P1.h:2,S", "x", 50);
	puts_(md, "new/1000.M3P1.h", "x", 40);
	puts_(md, "new/1000.P5.h", "x", 30);
	puts_(md, "cur/999.M999999P1.h:2,", "x", 20);
	puts_(md, "new/abc", "x", 10);
	puts_(md, "cur/abc", "x", 10);

	order_of(md, READER_SORT_DELIVERY, &o);
	ck_assert_str_eq(o.buf, "new/abc cur/abc cur/999.M999999P1.h:2, new/1000.M3P1.h "
	                 "cur/1000.M20P1.h:2,S new/1000.P5.h ");
	order_of(md, READER_SORT_NAME, &o);
	ck_assert_str_eq(o.buf, "cur/1000.M20P1.h:2,S new/1000.M3P1.h new/1000.P5.h "
	                 "cur/999.M999999P1.h:2, new/abc cur/abc ");
	order_of(md, READER_SORT_DATE, &o);
	ck_assert_str_eq(o.buf, "new/abc cur/abc cur/999.M999999P1.h:2, new/1000.P5.h "
	                 "new/1000.M3P1.h cur/1000.M20P1.h:2,S ");
	/* none: readdir order, new/ first; same set */
	order_of(md, READER_SORT_NONE, &o);
	ck_assert_uint_eq(o.len, strlen("new/abc cur/abc cur/999.M999999P1.h:2, new/1000.M3P1.h "
	                                "cur/1000.M20P1.h:2,S new/1000.P5.h "));
	ck_assert_str_eq(strstr(o.buf, "cur/") > strstr(o.buf, "new/1000.P5.h") ? "ok" : "bad", "ok");

	ck_assert_int_lt(maildir_name_cmp_delivery("9.M1", "10.M0"), 0);
	ck_assert_int_lt(maildir_name_cmp_delivery("10.M9P1", "10.M10P1"), 0);
	ck_assert_int_eq(maildir_name_cmp_delivery("10.M9P1", "10.M9P1"), 0);
	ck_assert_int_gt(maildir_name_cmp_delivery("10.M9P2", "10.M9P1"), 0);
	ck_assert_int_lt(maildir_name_cmp_delivery("x", "1"), 0);
	ck_assert_int_eq(reader_sort_parse("date"), READER_SORT_DATE);
	ck_assert_int_eq(reader_sort_parse("none"), READER_SORT_NONE);
	ck_assert_int_eq(reader_sort_parse("Date"), -1);
	ck_assert_str_eq(reader_sort_name(READER_SORT_DELIVERY), "delivery");
	sb_free(&o);
	free(md);
}
END_TEST

/*
 * A mail client renames files while we read (a flag change, a first look
 * moving new/ to cur/): each message is read under its new name, with the
 * flags that name gives; a message removed is a vanished event; a file
 * that arrives, or that readdir() missed, comes after the listing.
 */
START_TEST(test_renamed_while_read)
{
	for (int sort = READER_SORT_DELIVERY; sort <= READER_SORT_NONE; sort++) {
		char *md = mkmaildir(sort == READER_SORT_DELIVERY ? "a" : sort == READER_SORT_DATE ? "b" :
		    sort == READER_SORT_NAME ? "c" : "d", true, true);
		struct evlog l;
		memset(&l, 0, sizeof l);
		struct reader_opts o = opts_with(&l, (enum reader_sort)sort);
		puts_(md, "new/1000.M1P1.h", "Subject: one\n\n1\n", 0);
		puts_(md, "cur/1000.M2P1.h:2,S", "Subject: two\n\n2\n", 0);
		puts_(md, "cur/1000.M3P1.h:2,", "Subject: three\n\n3\n", 0);
		puts_(md, "cur/1000.M4P1.h:2,S", "Subject: four\n\n4\n", 0);
		struct maildir_reader *r;
		ck_assert_int_eq(maildir_reader_open(&r, md, &o), 0);
		struct message m;
		struct strbuf b = STRBUF_INIT, seen = STRBUF_INIT;
		bool first = true;
		int rc;
		while ((rc = maildir_reader_next(r, &m, READER_WANT_FULL)) == 1) {
			if (first) {
				/* after the listing: renames, a removal, an arrival */
				char *a = xasprintf("%s/new/1000.M1P1.h", md), *b2 = xasprintf("%s/cur/1000.M1P1.h:2,S", md);
				char *c = xasprintf("%s/cur/1000.M2P1.h:2,S", md), *d = xasprintf("%s/cur/1000.M2P1.h:2,FS", md);
				char *e = xasprintf("%s/cur/1000.M3P1.h:2,", md);
				char *f = xasprintf("%s/cur/1000.M4P1.h:2,S", md), *g = xasprintf("%s/cur/1000.M4P1.h:2,RS", md);
				/* the first message is open already: its rename must not matter */
				rename(a, b2);
				ck_assert_int_eq(rename(c, d), 0);
				ck_assert_int_eq(unlink(e), 0);
				ck_assert_int_eq(rename(f, g), 0);
				/* and back: the same name as listed, renamed twice */
				ck_assert_int_eq(rename(g, f), 0);
				puts_(md, "new/1000.M5P1.h", "Subject: five\n\n5\n", 0);
				free(a); free(b2); free(c); free(d); free(e); free(f); free(g);
				first = false;
			}
			slurp(r, &m, &b);
			sb_appendf(&seen, "%s/%s %u|%.*s ", m.subdir, m.filename, m.flags,
			    (int)b.len - 1, b.buf);
		}
		ck_assert_int_eq(rc, 0);
		/* every message but the removed one, under its current name */
		ck_assert_msg(strstr(seen.buf, "cur/1000.M2P1.h:2,FS") != NULL, "%d: %s", sort, seen.buf);
		ck_assert_msg(strstr(seen.buf, "cur/1000.M4P1.h:2,S ") != NULL, "%d: %s", sort, seen.buf);
		ck_assert_msg(strstr(seen.buf, "new/1000.M5P1.h") != NULL, "%d: %s", sort, seen.buf);
		ck_assert_msg(strstr(seen.buf, "three") == NULL, "%d: %s", sort, seen.buf);
		ck_assert_msg(maildir_reader_counters(r)->messages == 4, "%d: %s", sort, seen.buf);
		if (sort != READER_SORT_NONE) {
			ck_assert_uint_eq(l.n[MDE_VANISHED], 1);
			ck_assert_msg(strstr(l.last[MDE_VANISHED], "cur/1000.M3P1.h:2,") != NULL, "%s",
			    l.last[MDE_VANISHED]);
		} else {
			/* streamed: cur/ is read after the removal, never lists it */
			ck_assert_uint_eq(l.n[MDE_VANISHED], 0);
		}
		ck_assert_uint_eq(l.n[MDE_DUP_UNIQ], 0);
		/* the new flags of the renamed one: F and S (MF_ bits, not 0) */
		const char *two = strstr(seen.buf, "cur/1000.M2P1.h:2,FS ");
		ck_assert_ptr_nonnull(two);
		ck_assert_uint_ne(strtoul(two + strlen("cur/1000.M2P1.h:2,FS "), NULL, 10), 0);
		maildir_reader_close(r);
		sb_free(&b);
		sb_free(&seen);
		free(md);
	}
}
END_TEST

START_TEST(test_missing_subdirs)
{
	char *md = mkmaildir("", false, false);
	struct evlog l = { 0 };
	struct reader_opts o = opts_with(&l, READER_SORT_DELIVERY);
	struct maildir_reader *r;
	struct message m;

	puts_(md, "cur/1.x", "A: b\n\n", 0);
	ck_assert_int_eq(maildir_reader_open(&r, md, &o), 0);
	ck_assert_uint_eq(l.n[MDE_MISSING_SUBDIR], 2);
	ck_assert(maildir_reader_counters(r)->missing_new);
	ck_assert(maildir_reader_counters(r)->missing_tmp);
	ck_assert(!maildir_reader_counters(r)->missing_cur);
	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_FULL), 1);
	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_FULL), 0);
	maildir_reader_close(r);

	/* no cur/: not a maildir */
	char *p = xasprintf("%s/notmd", tmpdir);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	o.quiet = true;
	ck_assert_int_eq(maildir_reader_open(&r, p, &o), EX_NOINPUT);
	ck_assert_ptr_null(r);
	free(p);
	free(md);
}
END_TEST

START_TEST(test_keywords)
{
	char *md = mkmaildir("", true, true);
	struct reader_opts o = { .quiet = true, .folder = "Work" };
	struct maildir_reader *r;
	struct message m;

	puts_(md, "dovecot-keywords", "0 $Junk\n1 $NonJunk\r\n25 zulu\n26 overflow\nbad line\n3\n", 0);
	puts_(md, "cur/1.x:2,Sb", "A: b\n\n", 0);
	ck_assert_int_eq(maildir_reader_open(&r, md, &o), 0);
	ck_assert_str_eq(maildir_reader_keyword(r, 'a'), "$Junk");
	ck_assert_str_eq(maildir_reader_keyword(r, 'b'), "$NonJunk");
	ck_assert_str_eq(maildir_reader_keyword(r, 'z'), "zulu");
	ck_assert_ptr_null(maildir_reader_keyword(r, 'c'));
	ck_assert_ptr_null(maildir_reader_keyword(r, 'd'));
	ck_assert_ptr_null(maildir_reader_keyword(r, 'A'));
	ck_assert_int_eq(maildir_reader_next(r, &m, READER_WANT_NAME), 1);
	ck_assert_uint_eq(m.keywords, 1u << 1);
	ck_assert_uint_eq(m.flags, MF_SEEN);
	ck_assert_str_eq(m.folder, "Work");
	maildir_reader_close(r);

	char *kw[26];
	int dfd = open(tmpdir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_eq(maildir_keywords_read(dfd, kw), 0);
	ck_assert_str_eq(kw[0], "$Junk");
	maildir_keywords_free(kw);
	ck_assert_ptr_null(kw[0]);
	char *cur = xasprintf("%s/cur", md);
	int cfd = open(cur, O_RDONLY | O_DIRECTORY);
	errno = 0;
	ck_assert_int_eq(maildir_keywords_read(cfd, kw), -1);
	ck_assert_int_eq(errno, ENOENT);
	close(cfd);
	close(dfd);
	free(cur);
	free(md);
}
END_TEST

static void
walk_names(const char *root, unsigned layouts, struct evlog *l, struct strbuf *out)
{
	struct maildir_walk *w = maildir_walk_open(root, layouts, ev_record, l);
	const struct maildir_folder *f;

	ck_assert_ptr_nonnull(w);
	sb_reset(out);
	while (maildir_walk_next(w, &f) == 1) {
		const char *rel = strcmp(f->path, root) == 0 ? "" : f->path + strlen(root) + 1;
		sb_appendf(out, "[%s|%s|%c] ", f->name, rel,
		           f->layout == MAILDIR_LAYOUT_FS ? 'f' : 'm');
	}
	maildir_walk_close(w);
}

START_TEST(test_walk)
{
	char *md = mkmaildir("", true, true);
	struct strbuf o = STRBUF_INIT;
	struct evlog l = { 0 };
	char *p;

	free(mkmaildir(".Sub", true, true));
	free(mkmaildir(".Sub.Folder", true, true));
	free(mkmaildir("..Bad", true, true));
	free(mkmaildir("foo", true, true));
	free(mkmaildir("foo/baz", false, false));
	p = xasprintf("%s/plain", md);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	free(p);
	free(mkmaildir("plain/deep", true, true));
	free(mkmaildir("courierimapkeywords", true, true));
	p = xasprintf("%s/.NoCur", md);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	free(p);
	puts_(md, ".dotfile", "x", 0);
	puts_(md, "maildirsize", "0S\n", 0);
	puts_(md, ".Sub/maildirfolder", "", 0);
	p = xasprintf("%s/.Link", md);
	ck_assert_int_eq(symlink(md, p), 0);
	free(p);
	p = xasprintf("%s/linkfs", md);
	ck_assert_int_eq(symlink(md, p), 0);
	free(p);

	walk_names(md, MAILDIR_LAYOUT_MAILDIRPP, &l, &o);
	ck_assert_str_eq(o.buf, "[||m] [Sub|.Sub|m] [Sub.Folder|.Sub.Folder|m] ");
	ck_assert_uint_eq(l.n[MDE_BROKEN_FOLDER], 2);     /* .NoCur, ..Bad */
	ck_assert_uint_eq(l.n[MDE_SYMLINK], 1);           /* .Link */
	walk_names(md, MAILDIR_LAYOUT_FS, &l, &o);
	ck_assert_str_eq(o.buf, "[||m] [foo|foo|f] [foo/baz|foo/baz|f] [plain/deep|plain/deep|f] ");
	walk_names(md, MAILDIR_LAYOUT_FS | MAILDIR_LAYOUT_MAILDIRPP, &l, &o);
	ck_assert_str_eq(o.buf, "[||m] [Sub|.Sub|m] [Sub.Folder|.Sub.Folder|m] [foo|foo|f] "
	                 "[foo/baz|foo/baz|f] [plain/deep|plain/deep|f] ");

	/* a tree without INBOX at the root */
	walk_names(p = xasprintf("%s/plain", md), MAILDIR_LAYOUT_FS, &l, &o);
	ck_assert_str_eq(o.buf, "[deep|deep|f] ");
	free(p);
	ck_assert(maildir_is_extra_file("dovecot.index.log"));
	ck_assert(maildir_is_extra_file("courierimapuiddb"));
	ck_assert(!maildir_is_extra_file("Sent"));
	sb_free(&o);
	free(md);
}
END_TEST

/* The corpus maildirs: counts equal INDEX.tsv's `messages` column, and
 * every message reads completely. */
START_TEST(test_corpus)
{
	const char *corpus = getenv("CORPUS") && *getenv("CORPUS") ? getenv("CORPUS") : TEST_CORPUSDIR;
	char *index = xasprintf("%s/INDEX.tsv", corpus);
	FILE *f = fopen(index, "r");
	char line[4096];
	int checked = 0;

	/* t/corpus travels with the source tree: missing is a failure */
	ck_assert_msg(f != NULL, "%s: cannot read the corpus index: %s", index, strerror(errno));
	free(index);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *path = strtok(line, "\t"), *kind = strtok(NULL, "\t"), *count = strtok(NULL, "\t");
		if (path == NULL || kind == NULL || count == NULL || strcmp(kind, "maildir") != 0)
			continue;
		if (strncmp(path, "notmuch/", 8) != 0 && strncmp(path, "mu/", 3) != 0 &&
		    strcmp(path, "email-folder/testmaildir") != 0)
			continue;
		char *md = xasprintf("%s/%s", corpus, path);
		struct reader_opts o = { .quiet = true };
		struct maildir_reader *r;
		struct message m;
		size_t n = 0, bytes = 0, full = 0;
		struct strbuf b = STRBUF_INIT;

		ck_assert_msg(maildir_reader_open(&r, md, &o) == 0, "%s", md);
		while (maildir_reader_next(r, &m, READER_WANT_NAME) == 1)
			n++;
		maildir_reader_close(r);
		ck_assert_msg(n == strtoul(count, NULL, 10), "%s: %zu messages, INDEX says %s", path, n, count);

		o.sort = READER_SORT_NONE;
		ck_assert_int_eq(maildir_reader_open(&r, md, &o), 0);
		while (maildir_reader_next(r, &m, READER_WANT_FULL) == 1) {
			slurp(r, &m, &b);
			ck_assert_int_eq((int64_t)b.len, maildir_reader_stat(r)->st_size);
			bytes += b.len;
			full++;
		}
		ck_assert_uint_eq(full, n);
		ck_assert_uint_gt(bytes, 0);
		maildir_reader_close(r);
		sb_free(&b);
		free(md);
		checked++;
	}
	fclose(f);
	ck_assert_int_ge(checked, 10);
}
END_TEST


/* ---- reading ahead: past MD_AHEAD_AFTER (64) messages a thread opens and
 * reads the next 32; what the caller sees must not change -------------- */

#define AHEAD_N 400

/* Message i: a header of ~4.5 KiB every 37th (longer than the first read),
 * empty every 53rd, a body over 64 KiB every 41st. */
static void
ahead_maildir(const char *md)
{
	for (int i = 0; i < AHEAD_N; i++) {
		struct strbuf b = STRBUF_INIT;
		char *rel = xasprintf("cur/1000.M%dP1.h:2,S", 1000 + i);
		if (i % 53 != 52) {
			sb_appendf(&b, "Subject: m%d\n", i);
			for (int k = 0; i % 37 == 5 && k < 60; k++)
				sb_appendf(&b, "X-Pad-%02d: %070d\n", k, k);
			sb_appends(&b, "\n");
			for (int k = 0; k < (i % 41 == 7 ? 2000 : 3); k++)
				sb_appendf(&b, "body %d line %05d .................................\n", i, k);
		}
		put(md, rel, b.buf, b.len, 0);
		sb_free(&b);
		free(rel);
	}
}

/* The number in "1000.M<n>P1..." minus 1000, from the name. */
static int
ahead_index(const struct message *m)
{
	const char *p = strstr(m->filename, ".M");
	ck_assert_ptr_nonnull(p);
	return atoi(p + 2) - 1000;
}

/* What message i must hold: its file's bytes (or its header view). */
static void
ahead_check(const char *md, const struct message *m, const struct strbuf *got, bool full)
{
	char *p = xasprintf("%s/%s/%s", md, m->subdir, m->filename);
	struct strbuf want = STRBUF_INIT;
	char buf[65536];
	ssize_t n;
	int fd = open(p, O_RDONLY);

	ck_assert_int_ne(fd, -1);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		sb_append(&want, buf, (size_t)n);
	close(fd);
	if (full) {
		ck_assert_msg(got->len == want.len && (want.len == 0 || memcmp(got->buf, want.buf, want.len) == 0),
		    "%s: %zu bytes, want %zu", p, got->len, want.len);
	} else {
		const char *e = strstr(want.buf ? want.buf : "", "\n\n");
		size_t hl = e ? (size_t)(e - want.buf) + 2 : want.len;
		ck_assert_msg(m->header_len == hl && (hl == 0 || memcmp(m->header, want.buf, hl) == 0),
		    "%s: header %zu bytes, want %zu", p, m->header_len, hl);
	}
	sb_free(&want);
	free(p);
}

static int
count_fds(void)
{
	char *cmd = xasprintf("ls /proc/%ld/fd | wc -l", (long)getpid());
	FILE *f = popen(cmd, "r");
	int n = -1;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%d", &n), 1);
	pclose(f);
	free(cmd);
	return n;
}

START_TEST(test_read_ahead)
{
	static const enum reader_want wants[] = { READER_WANT_HEADER, READER_WANT_FULL };
	char *md = mkmaildir("", true, true);
	struct strbuf b = STRBUF_INIT;
	int fds = count_fds();

	ahead_maildir(md);
	for (int sort = READER_SORT_DELIVERY; sort <= READER_SORT_NONE; sort += 3) {
		for (size_t w = 0; w < ARRAY_SIZE(wants); w++) {
			struct evlog l;
			memset(&l, 0, sizeof l);
			struct reader_opts o = opts_with(&l, (enum reader_sort)sort);
			struct maildir_reader *r;
			struct message m;
			unsigned char seen[AHEAD_N] = { 0 };
			int rc, k = 0;
			bool full = wants[w] == READER_WANT_FULL;
			ck_assert_int_eq(maildir_reader_open(&r, md, &o), 0);
			while ((rc = maildir_reader_next(r, &m, wants[w])) == 1) {
				int i = ahead_index(&m);
				ck_assert_int_ge(i, 0);
				ck_assert_int_lt(i, AHEAD_N);
				ck_assert_int_eq(seen[i]++, 0);
				if (sort == READER_SORT_DELIVERY)
					ck_assert_int_eq(i, k);
				if (full)
					slurp(r, &m, &b);
				ahead_check(md, &m, &b, full);
				k++;
			}
			ck_assert_int_eq(rc, 0);
			ck_assert_int_eq(k, AHEAD_N);
			ck_assert_uint_eq(l.n[MDE_EMPTY], AHEAD_N / 53);
			ck_assert_uint_eq(l.n[MDE_UNREADABLE] + l.n[MDE_VANISHED], 0);
			maildir_reader_close(r);
		}
	}
	ck_assert_int_eq(count_fds(), fds);

	/* closed with the queue full: no descriptor stays open */
	for (size_t w = 0; w < ARRAY_SIZE(wants); w++) {
		struct reader_opts o = opts_with(NULL, READER_SORT_DELIVERY);
		struct maildir_reader *r;
		struct message m;
		o.on_event = NULL;
		ck_assert_int_eq(maildir_reader_open(&r, md, &o), 0);
		for (int i = 0; i < 100; i++)
			ck_assert_int_eq(maildir_reader_next(r, &m, wants[w]), 1);
		maildir_reader_close(r);
		ck_assert_int_eq(count_fds(), fds);
	}
	sb_free(&b);
	free(md);
}
END_TEST

/* Files renamed and removed after the listing, opened ahead already or not
 * queued yet when it happens (message 70: 71-102 at most are): the rename
 * is followed, the removal is one "vanished"; and a caller that changes
 * what it wants mid-way gets every message once, in order. */
START_TEST(test_read_ahead_changes)
{
	char *md = mkmaildir("", true, true);
	struct strbuf b = STRBUF_INIT;
	struct evlog l;
	struct maildir_reader *r;
	struct message m;
	int rc, k = 0;

	ahead_maildir(md);
	memset(&l, 0, sizeof l);
	struct reader_opts o = opts_with(&l, READER_SORT_DELIVERY);
	ck_assert_int_eq(maildir_reader_open(&r, md, &o), 0);
	while ((rc = maildir_reader_next(r, &m, READER_WANT_FULL)) == 1) {
		int i = ahead_index(&m);
		if (k == 70) {
			/* 80 and 85 are queued, and opened once the thread
			 * has had the time; 150 and 160 are not queued yet */
			struct timespec ts = { 0, 200 * 1000 * 1000 };
			nanosleep(&ts, NULL);
			for (int j = 0; j < 2; j++) {
				char *a = xasprintf("%s/cur/1000.M%dP1.h:2,S", md, j ? 1150 : 1080);
				char *a2 = xasprintf("%s/cur/1000.M%dP1.h:2,FS", md, j ? 1150 : 1080);
				char *d = xasprintf("%s/cur/1000.M%dP1.h:2,S", md, j ? 1160 : 1085);
				ck_assert_int_eq(rename(a, a2), 0);
				ck_assert_int_eq(unlink(d), 0);
				free(a); free(a2); free(d);
			}
		}
		if (i == 80 || i == 150) {
			char want[32];
			snprintf(want, sizeof want, "1000.M%dP1.h:2,FS", 1000 + i);
			ck_assert_str_eq(m.filename, want);
			ck_assert_uint_eq(m.flags, MF_FLAGGED | MF_SEEN);
		}
		ck_assert_int_ne(i, 85);
		ck_assert_int_ne(i, 160);
		slurp(r, &m, &b);
		ahead_check(md, &m, &b, true);
		k++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(k, AHEAD_N - 2);
	ck_assert_uint_eq(l.n[MDE_VANISHED], 2);
	ck_assert_msg(strstr(l.last[MDE_VANISHED], "1000.M1160P1.h:2,S") != NULL, "%s",
	    l.last[MDE_VANISHED]);
	maildir_reader_close(r);

	/* headers for 100, then names, stats and whole messages in turn */
	static const enum reader_want turn[] = { READER_WANT_NAME, READER_WANT_STAT,
		READER_WANT_FULL, READER_WANT_HEADER };
	ck_assert_int_eq(maildir_reader_open(&r, md, &o), 0);
	for (k = 0; (rc = maildir_reader_next(r, &m, k < 100 ? READER_WANT_HEADER :
	    turn[k % 4])) == 1; k++) {
		int i = ahead_index(&m);
		ck_assert_int_eq(i, k < 85 ? k : k < 159 ? k + 1 : k + 2);
		if (k >= 100 && turn[k % 4] == READER_WANT_FULL) {
			slurp(r, &m, &b);
			ahead_check(md, &m, &b, true);
		} else if (k < 100 || turn[k % 4] == READER_WANT_HEADER) {
			ahead_check(md, &m, &b, false);
		}
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(k, AHEAD_N - 2);
	maildir_reader_close(r);
	sb_free(&b);
	free(md);
}
END_TEST

/* Out of descriptors: what the thread could not open is opened by the
 * caller, once the thread's others are closed; no message is unreadable. */
START_TEST(test_read_ahead_few_fds)
{
	char *md = mkmaildir("", true, true);
	struct rlimit rl = { 300, 300 };
	struct evlog l;
	struct maildir_reader *r;
	struct message m;
	int held[300], nheld = 0, rc, k = 0;

	ahead_maildir(md);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	while (nheld < 300 && (held[nheld] = open("/dev/null", O_RDONLY)) != -1)
		nheld++;
	ck_assert_int_eq(errno, EMFILE);
	for (int i = 0; i < 10; i++)
		close(held[--nheld]);       /* ten left: the reader's own and a few */
	memset(&l, 0, sizeof l);
	struct reader_opts o = opts_with(&l, READER_SORT_DELIVERY);
	ck_assert_int_eq(maildir_reader_open(&r, md, &o), 0);
	while ((rc = maildir_reader_next(r, &m, READER_WANT_HEADER)) == 1) {
		char want[32];
		ck_assert_int_eq(ahead_index(&m), k);
		snprintf(want, sizeof want, "Subject: m%d\n", k);
		if (k % 53 == 52)
			ck_assert_uint_eq(m.header_len, 0);
		else    /* no descriptor to spare for ahead_check() */
			ck_assert_msg(m.header_len > strlen(want) &&
			    memcmp(m.header, want, strlen(want)) == 0, "%d", k);
		k++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(k, AHEAD_N);
	ck_assert_uint_eq(l.n[MDE_UNREADABLE] + l.n[MDE_VANISHED], 0);
	maildir_reader_close(r);
	while (nheld > 0)
		close(held[--nheld]);
	free(md);
}
END_TEST

/* Entries that are not messages, among names read ahead, are named where
 * the listing has them: the events and messages of an unsorted read come in
 * the order of a read without reading ahead (a descriptor limit under 256
 * keeps it off). */
static void
ev_order(void *arg, enum maildir_event ev, const char *path, const char *other, int err)
{
	(void)other;
	(void)err;
	sb_appendf(arg, "E%d %s\n", (int)ev, path);
}

static void
order_log(const char *md, rlim_t fds, struct strbuf *log)
{
	struct rlimit rl;
	struct reader_opts o;
	struct maildir_reader *r;
	struct message m;
	int rc;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = fds;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	memset(&o, 0, sizeof o);
	o.sort = READER_SORT_NONE;
	o.on_event = ev_order;
	o.event_arg = log;
	ck_assert_int_eq(maildir_reader_open(&r, md, &o), 0);
	while ((rc = maildir_reader_next(r, &m, READER_WANT_HEADER)) == 1)
		sb_appendf(log, "M %s/%s %zu\n", m.subdir, m.filename, m.header_len);
	ck_assert_int_eq(rc, 0);
	sb_appendf(log, "dot %zu link %zu other %zu\n", maildir_reader_counters(r)->dot_names,
	    maildir_reader_counters(r)->symlinks, maildir_reader_counters(r)->not_regular);
	maildir_reader_close(r);
}

START_TEST(test_read_ahead_event_order)
{
	char *md = mkmaildir("", true, true);
	struct strbuf ahead = STRBUF_INIT, alone = STRBUF_INIT;

	ahead_maildir(md);
	for (int i = 0; i < 60; i++) {
		char *p = xasprintf("%s/cur/.dot%d", md, i);
		char *l = xasprintf("%s/cur/1100.M%dP2.link:2,S", md, i);
		char *f = xasprintf("%s/new/1100.M%dP3.fifo", md, i);
		puts_(md, p + strlen(md) + 1, "x", 0);
		ck_assert_int_eq(symlink("/dev/null", l), 0);
		ck_assert_int_eq(mkfifo(f, 0600), 0);
		free(p); free(l); free(f);
	}
	order_log(md, 4096, &ahead);
	order_log(md, 200, &alone);
	ck_assert_msg(strstr(ahead.buf, "dot 60 link 60 other 60\n") != NULL, "%s",
	    ahead.buf + ahead.len - 40);
	size_t d = 0;
	while (d < ahead.len && d < alone.len && ahead.buf[d] == alone.buf[d])
		d++;
	ck_assert_msg(d == ahead.len && d == alone.len, "first difference at %zu: \"%.80s\" "
	    "against \"%.80s\"", d, ahead.buf + d, alone.buf + d);
	sb_free(&ahead);
	sb_free(&alone);
	free(md);
}
END_TEST

static Suite *
maildir_reader_suite(void)
{
	Suite *s = suite_create("maildir_reader");
	TCase *tc = tcase_create("reader");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_entries_m1);
	tcase_add_test(tc, test_name_only_opens_nothing);
	tcase_add_test(tc, test_stat_and_sizes);
	tcase_add_test(tc, test_header_edges);
	tcase_add_test(tc, test_big_body);
	tcase_add_test(tc, test_duplicates);
	tcase_add_test(tc, test_sort_orders);
	tcase_add_test(tc, test_renamed_while_read);
	tcase_add_test(tc, test_rename_seen_twice);
	tcase_add_test(tc, test_missing_subdirs);
	tcase_add_test(tc, test_keywords);
	tcase_add_test(tc, test_walk);
	tcase_add_test(tc, test_corpus);
	tcase_add_test(tc, test_read_ahead);
	tcase_add_test(tc, test_read_ahead_changes);
	tcase_add_test(tc, test_read_ahead_few_fds);
	tcase_add_test(tc, test_read_ahead_event_order);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(maildir_reader_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
