/*
 * inspect.c: the checks behind `mailshift check` and `mailshift repair`
 * (DESIGN §3; SPEC §1.1-1.10 Maildir, §2.3-2.7 mbox, §5 M1-M13, X1-X21).
 *
 * Maildir: one pass over new/ and cur/ with readdir() and one lstat per
 * entry (fstatat with AT_SYMLINK_NOFOLLOW, relative to the directory fd),
 * so a symlink is never followed and a file is never opened unless --deep
 * asks for its content (W= size, "is it a message"). Unique parts and
 * inodes go into small hash tables for the duplicate (M4) and the tmp/
 * leftover (M9) checks. tmp/ files count as stale when atime, mtime and
 * ctime are all older than the limit (SPEC §1.4, F4).
 *
 * dovecot-uidlist (SPEC §1.10): read whole, without the lock, and merged
 * with a listing of new/ and cur/ by base name; lines of missing
 * files and files without lines are findings only with --deep.
 *
 * mbox: the boundary rules of SPEC §2.5 over pread() windows of a
 * descriptor (no second open of a locked mailbox, F1), reporting every
 * unquoted From line, every missing separator and every Content-Length
 * that does not land on a boundary, with the byte offsets repair needs.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "date.h"
#include "flags.h"
#include "header.h"
#include "inspect.h"
#include "lock.h"
#include "mbox_writer.h"
#include "message.h"
#include "report.h"
#include "serverstate.h"
#include "source.h"
#include "uidstate.h"
#include "util.h"

const struct inspect_code_info inspect_codes[IC__COUNT] = {
	[IC_MAILDIR_MISSING_SUBDIR] = { "MAILDIR-MISSING-SUBDIR", "create it with the mode of cur/",
		SEVERITY_ERROR },
	[IC_MAILDIR_PERMISSIONS] = { "MAILDIR-PERMISSIONS", "chmod: owner read on, group/other write off",
		SEVERITY_ERROR },
	[IC_MAILDIR_TMP_STALE] = { "MAILDIR-TMP-STALE", "deliver into new/ if plausible, else quarantine",
		SEVERITY_ERROR },
	[IC_MAILDIR_TMP_LEFTOVER] = { "MAILDIR-TMP-LEFTOVER", "remove the tmp/ name (the message stays)",
		SEVERITY_WARNING },
	[IC_MAILDIR_INFO_IN_NEW] = { "MAILDIR-INFO-IN-NEW", "rename into cur/, same name",
		SEVERITY_WARNING },
	[IC_MAILDIR_FLAGS_UNSORTED] = { "MAILDIR-FLAGS-UNSORTED", "rename with the flags sorted once",
		SEVERITY_WARNING },
	[IC_MAILDIR_FLAGS_UNKNOWN] = { "MAILDIR-FLAGS-UNKNOWN", "move the letters after a second comma",
		SEVERITY_WARNING },
	[IC_MAILDIR_DUPLICATE_UNIQ] = { "MAILDIR-DUPLICATE-UNIQ", "give the second file a fresh unique name",
		SEVERITY_ERROR },
	[IC_MAILDIR_BAD_NAME] = { "MAILDIR-BAD-NAME", "rename to a fresh unique name",
		SEVERITY_WARNING },
	[IC_MAILDIR_SIZE_MISMATCH] = { "MAILDIR-SIZE-MISMATCH", "rename with the true S=/W= values",
		SEVERITY_ERROR },
	[IC_MAILDIR_EMPTY_FILE] = { "MAILDIR-EMPTY-FILE", "quarantine",
		SEVERITY_WARNING },
	[IC_MAILDIR_NOT_MESSAGE] = { "MAILDIR-NOT-MESSAGE", "quarantine",
		SEVERITY_ERROR },
	[IC_MAILDIR_SYMLINK] = { "MAILDIR-SYMLINK", "quarantine the link itself",
		SEVERITY_ERROR },
	[IC_MAILDIRSIZE_WRONG] = { "MAILDIRSIZE-WRONG", "rebuild, keeping the quota definition",
		SEVERITY_WARNING },
	[IC_FOLDER_BROKEN] = { "FOLDER-BROKEN", "create the missing cur/ new/ tmp/ and maildirfolder",
		SEVERITY_ERROR },
	[IC_MBOX_FIRST_LINE] = { "MBOX-FIRST-LINE", "insert a From_ line before the leading bytes",
		SEVERITY_ERROR },
	[IC_MBOX_UNQUOTED_FROM] = { "MBOX-UNQUOTED-FROM", "quote the line with '>'",
		SEVERITY_ERROR },
	[IC_MBOX_CONTENT_LENGTH] = { "MBOX-CONTENT-LENGTH", "set the true body length",
		SEVERITY_ERROR },
	[IC_MBOX_MISSING_SEPARATOR] = { "MBOX-MISSING-SEPARATOR", "insert the empty line",
		SEVERITY_WARNING },
	[IC_MBOX_TRUNCATED] = { "MBOX-TRUNCATED", "append the missing line end",
		SEVERITY_ERROR },
	[IC_MBOX_MIXED_EOL] = { "MBOX-MIXED-EOL", "none (changing line ends changes messages)",
		SEVERITY_NOTE },
	[IC_MBOX_STALE_LOCK] = { "MBOX-STALE-LOCK", "remove the stale dotlock",
		SEVERITY_WARNING },
	[IC_MBOX_JOURNAL] = { "MBOX-JOURNAL", "finish the interrupted rewrite",
		SEVERITY_ERROR },
	[IC_UIDLIST_BAD] = { "UIDLIST-BAD", "none (a list that does not parse is not rewritten)",
		SEVERITY_WARNING },
	[IC_UIDLIST_NOT_INCREASING] = { "UIDLIST-NOT-INCREASING",
		"none (cannot fix without a UIDVALIDITY change)",
		SEVERITY_WARNING },
	[IC_UIDLIST_NEXT_TOO_LOW] = { "UIDLIST-NEXT-TOO-LOW", "raise N above the highest UID",
		SEVERITY_ERROR },
	[IC_UIDLIST_MISSING_FILE] = { "UIDLIST-MISSING-FILE", "drop the line (N stays above its UID)",
		SEVERITY_NOTE },
	[IC_UIDLIST_UNLISTED] = { "UIDLIST-UNLISTED", "append a line with the next UID",
		SEVERITY_NOTE },
	[IC_COURIERUID_BAD] = { "COURIERUID-BAD",
		"none (a damaged courierimapuiddb is not rewritten; convert uses the lines that parse)",
		SEVERITY_WARNING },
	[IC_COURIERUID_NOT_INCREASING] = { "COURIERUID-NOT-INCREASING",
		"none (convert gives the ill-ordered messages fresh UIDs)",
		SEVERITY_WARNING },
	[IC_COURIERUID_NEXT_TOO_LOW] = { "COURIERUID-NEXT-TOO-LOW", "raise the next UID above the highest",
		SEVERITY_ERROR },
	[IC_COURIERUID_MISSING_FILE] = { "COURIERUID-MISSING-FILE", "drop the line (the next UID stays)",
		SEVERITY_NOTE },
	[IC_COURIERUID_UNLISTED] = { "COURIERUID-UNLISTED",
		"none (Courier-IMAP numbers it when it next opens the folder)",
		SEVERITY_NOTE },
};

const char *
inspect_severity_name(enum inspect_severity s)
{
	static const char *const names[] = { "note", "warning", "error" };
	return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

enum inspect_severity
inspect_code_severity(enum inspect_code c)
{
	return (unsigned)c < IC__COUNT ? inspect_codes[c].severity : SEVERITY_ERROR;
}

const char *
inspect_code_name(enum inspect_code c)
{
	return (unsigned)c < IC__COUNT ? inspect_codes[c].name : "?";
}

int
inspect_code_parse(const char *s)
{
	for (int i = 0; i < IC__COUNT; i++)
		if (strcmp(inspect_codes[i].name, s) == 0)
			return i;
	return -1;
}

/* ---- emitting findings ---------------------------------------------------- */

struct emit {
	const struct inspect_opts *o;
	struct inspect_stats *st;
	const char *maildir;
};

static void emit_finding(struct emit *e, struct inspect_finding *f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
emit_finding(struct emit *e, struct inspect_finding *f, const char *fmt, ...)
{
	va_list ap;
	char *msg, *path = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		report_fatal(EX_TEMPFAIL, "out of memory");
	va_end(ap);
	f->maildir = e->maildir;
	if (!f->path) {
		if (f->subdir && f->name)
			path = xasprintf("%s/%s/%s", e->maildir, f->subdir, f->name);
		else if (f->name && *f->name)
			path = xasprintf("%s/%s", e->maildir, f->name);
		else
			path = xstrdup(e->maildir);
		f->path = path;
	}
	f->message = msg;
	e->st->findings++;
	if (e->o->fn)
		e->o->fn(e->o->arg, f);
	free(msg);
	free(path);
}

static void
finding_init(struct inspect_finding *f, enum inspect_code code)
{
	memset(f, 0, sizeof *f);
	f->code = code;
	f->offset = -1;
	f->value = f->value2 = -1;
	f->span_start = f->span_end = -1;
}

/* ---- hash tables: unique parts and inodes --------------------------------- */

struct uniq_ent {
	uint64_t h;
	char *name;          /* "subdir/name" (malloc) */
	size_t uniq_len;     /* unique part length inside name after "subdir/" */
	dev_t dev;
	ino_t ino;
};
struct uniq_tab {
	struct uniq_ent *t;
	size_t cap, len;
};

static uint64_t
hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ULL;
	return h | 1;
}

static void
uniq_grow(struct uniq_tab *u)
{
	struct uniq_tab n = { xcalloc(u->cap ? u->cap * 2 : 4096, sizeof *n.t),
		u->cap ? u->cap * 2 : 4096, u->len };
	for (size_t i = 0; i < u->cap; i++) {
		if (!u->t[i].h)
			continue;
		size_t j = u->t[i].h & (n.cap - 1);
		while (n.t[j].h)
			j = (j + 1) & (n.cap - 1);
		n.t[j] = u->t[i];
	}
	free(u->t);
	*u = n;
}

/* Add; returns the earlier entry with the same unique part, or NULL. */
static const struct uniq_ent *
uniq_add(struct uniq_tab *u, const char *subdir, const char *uniq, size_t ulen,
	const char *name, dev_t dev, ino_t ino)
{
	if ((u->len + 1) * 2 > u->cap)
		uniq_grow(u);
	uint64_t h = hash_bytes(uniq, ulen);
	size_t j = h & (u->cap - 1);
	for (; u->t[j].h; j = (j + 1) & (u->cap - 1)) {
		const char *other = strchr(u->t[j].name, '/') + 1;
		if (u->t[j].h == h && u->t[j].uniq_len == ulen && memcmp(other, uniq, ulen) == 0)
			return &u->t[j];
	}
	u->t[j] = (struct uniq_ent){ h, xasprintf("%s/%s", subdir, name), ulen, dev, ino };
	u->len++;
	return NULL;
}

static void
uniq_free(struct uniq_tab *u)
{
	for (size_t i = 0; i < u->cap; i++)
		free(u->t[i].name);
	free(u->t);
	memset(u, 0, sizeof *u);
}

static bool
inode_known(const struct uniq_tab *u, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < u->cap; i++)
		if (u->t[i].h && u->t[i].dev == dev && u->t[i].ino == ino)
			return true;
	return false;
}

/* ---- Maildir -------------------------------------------------------------- */

struct md {
	struct emit e;
	int dfd;
	time_t now;
	struct uniq_tab uniq;
	bool top;            /* the argument itself, not a folder */
};

static mode_t
dir_mode_fixed(mode_t m)
{
	return (m | S_IRUSR | S_IXUSR) & ~(mode_t)(S_IWGRP | S_IWOTH);
}

static void
check_dir_mode(struct md *c, const char *name, const struct stat *st)
{
	mode_t m = st->st_mode & 07777;
	if (dir_mode_fixed(m) == m)
		return;
	struct inspect_finding f;
	finding_init(&f, IC_MAILDIR_PERMISSIONS);
	f.name = name;
	f.st = *st;
	f.have_st = true;
	f.value = dir_mode_fixed(m);
	emit_finding(&c->e, &f, "directory mode %04o (want owner r-x, no group/other write)",
	    (unsigned)m);
}

/* The subdirectories: cur/ must exist (the caller knows), new/ and tmp/
 * may be missing (M13). */
static void
check_subdirs(struct md *c)
{
	struct stat st, cur;
	if (fstat(c->dfd, &st) == 0)
		check_dir_mode(c, "", &st);
	if (fstatat(c->dfd, "cur", &cur, AT_SYMLINK_NOFOLLOW) == -1)
		memset(&cur, 0, sizeof cur);
	static const char *const subs[] = { "cur", "new", "tmp" };
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		struct inspect_finding f;
		if (fstatat(c->dfd, subs[i], &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (S_ISDIR(st.st_mode)) {
				check_dir_mode(c, subs[i], &st);
				continue;
			}
			finding_init(&f, S_ISLNK(st.st_mode) ? IC_MAILDIR_SYMLINK : IC_MAILDIR_NOT_MESSAGE);
			f.name = subs[i];
			f.st = st;
			f.have_st = true;
			emit_finding(&c->e, &f, "%s/ is %s, not a directory", subs[i],
			    S_ISLNK(st.st_mode) ? "a symbolic link (not followed)" : "not a directory");
			continue;
		}
		finding_init(&f, IC_MAILDIR_MISSING_SUBDIR);
		f.name = subs[i];
		f.value = cur.st_mode ? (long long)(cur.st_mode & 07777) : 0700;
		emit_finding(&c->e, &f, "%s/ is missing", subs[i]);
	}
}

static const char *
kind_name(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	return "not a regular file";
}

/* An entry that is not a regular file: reported, never opened (M1). */
static bool
check_entry_type(struct md *c, const char *sub, const char *name, const struct stat *st)
{
	if (S_ISREG(st->st_mode))
		return true;
	struct inspect_finding f;
	finding_init(&f, S_ISLNK(st->st_mode) ? IC_MAILDIR_SYMLINK : IC_MAILDIR_NOT_MESSAGE);
	f.subdir = sub;
	f.name = name;
	f.st = *st;
	f.have_st = true;
	if (S_ISLNK(st->st_mode))
		emit_finding(&c->e, &f, "symbolic link, not followed");
	else
		emit_finding(&c->e, &f, "%s, not a message", kind_name(st->st_mode));
	return false;
}

/* Name checks of one new/ or cur/ file (SPEC §1.2, §1.5, §1.6, M3, M5). */
static bool
check_name(struct md *c, const char *sub, const char *name, const struct maildir_name *mn,
	const struct stat *st)
{
	struct inspect_finding f;
	unsigned bad = mn->anomalies & (MN_COLON_IN_UNIQ | MN_BAD_INFO | MN_BAD_SIZE);
	if (bad || mn->uniq_len == 0) {
		finding_init(&f, IC_MAILDIR_BAD_NAME);
		f.subdir = sub, f.name = name, f.st = *st, f.have_st = true;
		emit_finding(&c->e, &f, "%s", mn->uniq_len == 0 ? "empty unique part" :
		    bad & MN_COLON_IN_UNIQ ? "':' inside the unique part" :
		    bad & MN_BAD_INFO ? "info is neither \"1,\" nor \"2,\"" : "malformed ,S= or ,W= field");
		return false;
	}
	if (strcmp(sub, "new") == 0 && mn->sep) {
		finding_init(&f, IC_MAILDIR_INFO_IN_NEW);
		f.subdir = sub, f.name = name, f.st = *st, f.have_st = true;
		emit_finding(&c->e, &f, "info \"%.*s\" in new/", (int)mn->info_len, mn->info);
	}
	if (mn->anomalies & (MN_UNSORTED | MN_DUPLICATE)) {
		finding_init(&f, IC_MAILDIR_FLAGS_UNSORTED);
		f.subdir = sub, f.name = name, f.st = *st, f.have_st = true;
		emit_finding(&c->e, &f, "flags %s", mn->anomalies & MN_DUPLICATE ?
		    "repeated" : "not in ASCII order");
	}
	if (mn->anomalies & MN_UNKNOWN_FLAG) {
		finding_init(&f, IC_MAILDIR_FLAGS_UNKNOWN);
		f.subdir = sub, f.name = name, f.st = *st, f.have_st = true;
		emit_finding(&c->e, &f, "unknown flag letters in \"%.*s\"", (int)mn->info_len, mn->info);
	}
	return true;
}

/* First line of a message file: a header field, or a From_ / >From line
 * some tools leave at the top (M1 "not a message" for --deep). */
static bool
looks_like_message(const char *p, size_t n)
{
	if (n >= 5 && (memcmp(p, "From ", 5) == 0 || (n >= 6 && memcmp(p, ">From ", 6) == 0)))
		return true;
	size_t i = 0;
	while (i < n && (unsigned char)p[i] > ' ' && (unsigned char)p[i] < 0x7f && p[i] != ':')
		i++;
	if (i == 0)
		return false;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i < n && p[i] == ':';
}

int
inspect_vsize(int fd, long long *vsize_r)
{
	char buf[65536];
	bool cr = false;
	uint64_t v = 0;
	off_t off = 0;
	ssize_t n;

	while ((n = pread_full(fd, buf, sizeof buf, off)) > 0) {
		v += flags_vsize_add(buf, (size_t)n, &cr);
		off += n;
	}
	if (n < 0)
		return -1;
	*vsize_r = (long long)v;
	return 0;
}

/* --deep: read the file; W= and "is it a message" (M1, M6). */
static void
check_content(struct md *c, int sfd, const char *sub, const char *name,
	const struct maildir_name *mn, const struct stat *st)
{
	struct inspect_finding f;
	int fd = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		report_error_sys(EXIT_PROBLEMS, "%s/%s/%s: cannot open", c->e.maildir, sub, name);
		return;
	}
	char head[512];
	ssize_t n = pread_full(fd, head, sizeof head, 0);
	long long w = -1;
	if (n < 0 || (mn->size_w >= 0 && inspect_vsize(fd, &w) == -1)) {
		report_error_sys(EXIT_PROBLEMS, "%s/%s/%s: read error", c->e.maildir, sub, name);
		close(fd);
		return;
	}
	close(fd);
	if (n > 0 && !looks_like_message(head, (size_t)n)) {
		finding_init(&f, IC_MAILDIR_NOT_MESSAGE);
		f.subdir = sub, f.name = name, f.st = *st, f.have_st = true;
		emit_finding(&c->e, &f, "content does not start with a header field");
		return;
	}
	if (mn->size_w >= 0 && w != mn->size_w) {
		finding_init(&f, IC_MAILDIR_SIZE_MISMATCH);
		f.subdir = sub, f.name = name, f.st = *st, f.have_st = true;
		f.value = st->st_size;
		f.value2 = w;
		emit_finding(&c->e, &f, "W=%lld but the file's RFC822.SIZE is %lld", mn->size_w, w);
	}
}

/* One regular file of new/ or cur/. */
static void
check_message(struct md *c, int sfd, const char *sub, const char *name, const struct stat *st)
{
	struct maildir_name mn;
	struct inspect_finding f;
	size_t len = strlen(name);

	c->e.st->messages++;
	maildir_name_parse(name, len, &mn);
	const struct uniq_ent *other = uniq_add(&c->uniq, sub, mn.uniq, mn.uniq_len, name,
	    st->st_dev, st->st_ino);
	if (other && !(other->dev == st->st_dev && other->ino == st->st_ino)) {
		finding_init(&f, IC_MAILDIR_DUPLICATE_UNIQ);
		f.subdir = sub, f.name = name, f.st = *st, f.have_st = true;
		emit_finding(&c->e, &f, "unique part also used by %s", other->name);
	}
	bool name_ok = check_name(c, sub, name, &mn, st);
	if ((st->st_mode & S_IRUSR) == 0 || (st->st_mode & S_IWOTH)) {
		finding_init(&f, IC_MAILDIR_PERMISSIONS);
		f.subdir = sub, f.name = name, f.st = *st, f.have_st = true;
		f.value = (st->st_mode & 07777 & ~(mode_t)S_IWOTH) | S_IRUSR;
		emit_finding(&c->e, &f, "file mode %04o", (unsigned)(st->st_mode & 07777));
	}
	if (st->st_size == 0) {
		finding_init(&f, IC_MAILDIR_EMPTY_FILE);
		f.subdir = sub, f.name = name, f.st = *st, f.have_st = true;
		emit_finding(&c->e, &f, "zero-length file");
		return;
	}
	if (name_ok && mn.size_s >= 0 && mn.size_s != (long long)st->st_size) {
		finding_init(&f, IC_MAILDIR_SIZE_MISMATCH);
		f.subdir = sub, f.name = name, f.st = *st, f.have_st = true;
		f.value = st->st_size;
		emit_finding(&c->e, &f, "S=%lld but the file has %lld bytes", mn.size_s,
		    (long long)st->st_size);
	}
	if (c->e.o->deep && (st->st_mode & S_IRUSR))
		check_content(c, sfd, sub, name, &mn, st);
}

/* A directory listing: names in one arena, sorted by inode number so that
 * the lstat calls read the inode table in order (a cold cache costs a
 * seek per inode otherwise; mutt and notmuch sort the same way). */
struct listing {
	struct lent { ino_t ino; size_t off; } *v;
	size_t n, cap;
	struct strbuf names;
};

static int
lent_cmp(const void *a, const void *b)
{
	const struct lent *x = a, *y = b;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* 0, or -1 with errno after a readdir error. */
static int
listing_read(DIR *d, struct listing *ls)
{
	struct dirent *de;
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;       /* dot names are skipped by every reader (SPEC §1.4) */
		if (ls->n == ls->cap) {
			ls->cap = ls->cap ? ls->cap * 2 : 256;
			ls->v = xrealloc(ls->v, ls->cap * sizeof *ls->v);
		}
		ls->v[ls->n++] = (struct lent){ de->d_ino, ls->names.len };
		sb_append(&ls->names, de->d_name, strlen(de->d_name) + 1);
	}
	if (errno)
		return -1;
	if (ls->n > 1)          /* qsort(NULL, 0, ...) is undefined */
		qsort(ls->v, ls->n, sizeof *ls->v, lent_cmp);
	return 0;
}

/* An openat() of a subdirectory failed because it is not there as one
 * (missing, a file, a symbolic link): check_subdirs() reports that. */
static bool
subdir_absent(int e)
{
	return e == ENOENT || e == ENOTDIR || e == ELOOP;
}

/* new/ or cur/: names and lstat only (M11). */
static void
scan_subdir(struct md *c, const char *sub)
{
	int sfd = openat(c->dfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd == -1) {
		/* missing, a file or a link: a finding of check_subdirs */
		if (!subdir_absent(errno))
			report_error_sys(EX_IOERR, "%s/%s: cannot open directory", c->e.maildir, sub);
		return;
	}
	DIR *d = fdopendir(sfd);
	if (!d) {
		report_error_sys(EX_IOERR, "%s/%s: cannot read directory", c->e.maildir, sub);
		close(sfd);
		return;
	}
	struct listing ls = { .names = STRBUF_INIT };
	if (listing_read(d, &ls) == -1)
		report_error_sys(EX_IOERR, "%s/%s: cannot read directory", c->e.maildir, sub);
	for (size_t i = 0; i < ls.n; i++) {
		const char *name = ls.names.buf + ls.v[i].off;
		struct stat st;
		if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
			if (errno != ENOENT)
				report_error_sys(EXIT_PROBLEMS, "%s/%s/%s: cannot stat",
				    c->e.maildir, sub, name);
			continue;
		}
		if (check_entry_type(c, sub, name, &st))
			check_message(c, sfd, sub, name, &st);
	}
	free(ls.v);
	sb_free(&ls.names);
	closedir(d);
}

/* tmp/: stale files (SPEC §1.4, F4, M9, M10). */
static void
scan_tmp(struct md *c)
{
	int sfd = openat(c->dfd, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd == -1) {
		if (!subdir_absent(errno))
			report_error_sys(EX_IOERR, "%s/tmp: cannot open directory", c->e.maildir);
		return;
	}
	DIR *d = fdopendir(sfd);
	if (!d) {
		report_error_sys(EX_IOERR, "%s/tmp: cannot read directory", c->e.maildir);
		close(sfd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		struct stat st;
		if (fstatat(sfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !check_entry_type(c, "tmp", de->d_name, &st))
			continue;
		time_t t = st.st_atime;
		if (st.st_mtime > t)
			t = st.st_mtime;
		if (st.st_ctime > t)
			t = st.st_ctime;
		long long age = (long long)(c->now - t);
		if (age < c->e.o->tmp_age)
			continue;
		struct inspect_finding f;
		bool linked = st.st_nlink >= 2 && inode_known(&c->uniq, st.st_dev, st.st_ino);
		finding_init(&f, linked ? IC_MAILDIR_TMP_LEFTOVER : IC_MAILDIR_TMP_STALE);
		f.subdir = "tmp", f.name = de->d_name, f.st = st, f.have_st = true;
		f.value = age;
		if (linked)
			emit_finding(&c->e, &f, "stale tmp/ name of a delivered message (%lld h old)",
			    age / 3600);
		else
			emit_finding(&c->e, &f, "stale file in tmp/ (%lld h old, %lld bytes)",
			    age / 3600, (long long)st.st_size);
	}
	closedir(d);
}

/* ---- dovecot-uidlist (SPEC §1.10) ------------------------------------------ */

static int
base_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	return c ? c : alen < blen ? -1 : alen > blen;
}

/* Base name of a "new/NAME" or "cur/NAME" entry: after "sub/", up to ':'. */
static const char *
entry_base(const char *e, size_t *len_r)
{
	const char *n = e + 4, *c = strchr(n, ':');
	*len_r = c ? (size_t)(c - n) : strlen(n);
	return n;
}

static int
entry_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t xl, yl;
	const char *xb = entry_base(x, &xl), *yb = entry_base(y, &yl);
	int c = base_cmp(xb, xl, yb, yl);
	return c ? c : strcmp(x, y);
}

static int
uidline_cmp(const void *a, const void *b)
{
	const struct inspect_uidline *x = *(struct inspect_uidline *const *)a,
	    *y = *(struct inspect_uidline *const *)b;
	return base_cmp(x->base, x->base_len, y->base, y->base_len);
}

/* Message files of new/ and cur/ (dot names skipped), as "sub/name". */
static void
uidlist_entries(int dirfd, char ***v_r, size_t *n_r)
{
	static const char *const subs[] = { "new", "cur" };
	char **v = NULL;
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		int fd = openat(dirfd, subs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *d = fd == -1 ? NULL : fdopendir(fd);
		if (!d) {
			if (fd != -1)
				close(fd);
			continue;
		}
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			v = xrealloc(v, (n + 1) * sizeof *v);
			v[n++] = xasprintf("%s/%s", subs[i], de->d_name);
		}
		closedir(d);
	}
	*v_r = v;
	*n_r = n;
}

/* Entry lines: UIDs, order, then which lines and files match by base. */
static void
uidlist_lines(struct inspect_uidlist *u, int dirfd)
{
	size_t lineno = 1;
	for (size_t off = u->hdr_len + 1; off < u->len; lineno++) {
		const char *p = u->data + off, *nl = memchr(p, '\n', u->len - off);
		size_t len = nl ? (size_t)(nl - p) : u->len - off;
		struct inspect_uidline l = { .off = off, .len = len };
		off += len + 1;
		if (len == 0)
			continue;
		if (!uidlist_parse_entry(p, len, &l.uid, &l.base, &l.base_len)) {
			if (u->bad_lines++ == 0)
				u->first_bad = lineno + 1;
			continue;
		}
		if (u->nline && l.uid <= u->line[u->nline - 1].uid && !u->order_line) {
			u->order_line = lineno + 1;
			u->order_uid = l.uid;
			u->order_prev = u->line[u->nline - 1].uid;
		}
		if (l.uid > u->max)
			u->max = l.uid;
		u->line = xrealloc(u->line, (u->nline + 1) * sizeof *u->line);
		u->line[u->nline++] = l;
	}
	char **files;
	size_t nfiles;
	uidlist_entries(dirfd, &files, &nfiles);
	qsort(files, nfiles, sizeof *files, entry_cmp);
	struct inspect_uidline **by = xcalloc(u->nline + 1, sizeof *by);
	for (size_t i = 0; i < u->nline; i++)
		by[i] = &u->line[i];
	qsort(by, u->nline, sizeof *by, uidline_cmp);
	for (size_t i = 0, j = 0; i < nfiles; i++) {     /* one merge of both sorted sets */
		size_t bl;
		const char *b = entry_base(files[i], &bl);
		int c = 1;
		while (j < u->nline && (c = base_cmp(by[j]->base, by[j]->base_len, b, bl)) < 0)
			j++;
		for (size_t k = j; k < u->nline && base_cmp(by[k]->base, by[k]->base_len, b, bl) == 0; k++)
			by[k]->present = true;
		if (j < u->nline && c == 0) {
			free(files[i]);
			continue;
		}
		u->unlisted = xrealloc(u->unlisted, (u->nunlisted + 1) * sizeof *u->unlisted);
		u->unlisted[u->nunlisted++] = files[i];
	}
	free(by);
	free(files);
}

int
inspect_uidlist_read(int dirfd, struct inspect_uidlist *u)
{
	memset(u, 0, sizeof *u);
	int fd = openat(dirfd, UIDLIST_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	struct strbuf sb = STRBUF_INIT;
	char buf[65536];
	ssize_t r;
	off_t off = 0;
	while ((r = pread_full(fd, buf, sizeof buf, off)) > 0) {
		sb_append(&sb, buf, (size_t)r);
		off += r;
	}
	int e = errno;
	close(fd);
	if (r < 0) {
		sb_free(&sb);
		errno = e;
		return -1;
	}
	u->data = sb.buf ? sb.buf : xstrdup("");
	u->len = sb.len;
	const char *nl = memchr(u->data, '\n', u->len);
	u->hdr_len = nl ? (size_t)(nl - u->data) : u->len;
	u->header_ok = nl && uidlist_parse_header(u->data, u->hdr_len, &u->validity, &u->next);
	if (u->header_ok)
		uidlist_lines(u, dirfd);
	return 1;
}

void
inspect_uidlist_free(struct inspect_uidlist *u)
{
	for (size_t i = 0; i < u->nunlisted; i++)
		free(u->unlisted[i]);
	free(u->unlisted);
	free(u->line);
	free(u->data);
	memset(u, 0, sizeof *u);
}

/*
 * The list against the maildir. Dovecot keeps the lines of expunged
 * messages until it rewrites the list, and new mail has no line until
 * Dovecot next syncs: both are normal, so MISSING-FILE and UNLISTED are
 * findings only with --deep.
 */
static void
check_uidlist(struct md *c)
{
	struct inspect_uidlist u;
	struct inspect_finding f;
	int rc = inspect_uidlist_read(c->dfd, &u);
	if (rc == 0)
		return;
	finding_init(&f, IC_UIDLIST_BAD);
	f.name = UIDLIST_FILE;
	if (rc == -1) {
		/* out of descriptors or memory is our problem, not the list's */
		if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
			report_error_sys(EX_IOERR, "%s/%s: cannot read", c->e.maildir, UIDLIST_FILE);
		else
			emit_finding(&c->e, &f, "cannot read: %s", strerror(errno));
		return;
	}
	if (!u.header_ok) {
		emit_finding(&c->e, &f, "first line \"%.*s\" is not \"3 V<uidvalidity> N<next uid> ...\"",
		    (int)(u.hdr_len > 40 ? 40 : u.hdr_len), u.data);
		inspect_uidlist_free(&u);
		return;
	}
	if (u.bad_lines)
		emit_finding(&c->e, &f, "%zu malformed line%s (first: line %zu)", u.bad_lines,
		    u.bad_lines == 1 ? "" : "s", u.first_bad);
	if (u.order_line) {
		finding_init(&f, IC_UIDLIST_NOT_INCREASING);
		f.name = UIDLIST_FILE;
		f.value = u.order_uid;
		emit_finding(&c->e, &f, "line %zu: UID %u after UID %u", u.order_line, u.order_uid,
		    u.order_prev);
	}
	if (u.nline && u.next <= u.max) {
		finding_init(&f, IC_UIDLIST_NEXT_TOO_LOW);
		f.name = UIDLIST_FILE;
		f.value = u.next;
		f.value2 = u.max;
		emit_finding(&c->e, &f, "next UID %u is not above the highest UID %u", u.next, u.max);
	}
	for (size_t i = 0; c->e.o->deep && i < u.nline; i++) {
		if (u.line[i].present)
			continue;
		finding_init(&f, IC_UIDLIST_MISSING_FILE);
		f.name = UIDLIST_FILE;
		f.value = u.line[i].uid;
		emit_finding(&c->e, &f, "UID %u: no file %.*s in new/ or cur/", u.line[i].uid,
		    (int)u.line[i].base_len, u.line[i].base);
	}
	for (size_t i = 0; c->e.o->deep && i < u.nunlisted; i++) {
		finding_init(&f, IC_UIDLIST_UNLISTED);
		f.name = u.unlisted[i];         /* "new/NAME": no subdir, not a file fix */
		emit_finding(&c->e, &f, "no line in %s", UIDLIST_FILE);
	}
	inspect_uidlist_free(&u);
}

/* ---- courierimapuiddb (SPEC §1.11) ---------------------------------------- */

static int
cstr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is base (len bytes) among the n sorted strings v? */
static bool
sorted_has(char *const *v, size_t n, const char *base, size_t len)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = base_cmp(v[mid], strlen(v[mid]), base, len);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

int
inspect_courieruid_read(int dirfd, struct inspect_courieruid *cu)
{
	struct strbuf data = STRBUF_INIT;

	memset(cu, 0, sizeof *cu);
	int rc = state_file_read(dirfd, COURIER_UIDDB_FILE, &data);
	if (rc != 1) {
		sb_free(&data);
		return rc;
	}
	cu->data = data.buf ? data.buf : xstrdup("");
	cu->len = data.len;
	courier_uiddb_parse(cu->data, cu->len, COURIER_UIDDB_FILE, &cu->db, &cu->f);
	/* the next UID the header says (the parser raises it to the lines') */
	unsigned long ver, v, n;
	if (cu->db.present && sscanf(cu->data, "%lu %lu %lu", &ver, &v, &n) == 3)
		cu->header_next = (uint32_t)n;
	for (size_t i = 0; i < cu->db.n; i++) {
		if (cu->db.e[i].uid > cu->max)
			cu->max = cu->db.e[i].uid;
		if (i > 0 && cu->db.e[i].uid <= cu->db.e[i - 1].uid && cu->order_line == 0) {
			cu->order_line = cu->db.e[i].line;
			cu->order_uid = cu->db.e[i].uid;
			cu->order_prev = cu->db.e[i - 1].uid;
		}
	}
	/* which lines name a file, which files have no line: both sorted */
	char **files, **bases = xcalloc(cu->db.n + 1, sizeof *bases);
	size_t nfiles;
	uidlist_entries(dirfd, &files, &nfiles);
	for (size_t i = 0; i < nfiles; i++) {
		size_t bl;
		const char *b = entry_base(files[i], &bl);
		memmove(files[i], b, bl);       /* "sub/name:info" -> "name" */
		files[i][bl] = '\0';
	}
	qsort(files, nfiles, sizeof *files, cstr_cmp);
	for (size_t i = 0; i < cu->db.n; i++)
		bases[i] = cu->db.e[i].base;
	qsort(bases, cu->db.n, sizeof *bases, cstr_cmp);
	cu->present = xcalloc(cu->db.n + 1, sizeof *cu->present);
	for (size_t i = 0; i < cu->db.n; i++)
		cu->present[i] = sorted_has(files, nfiles, cu->db.e[i].base, strlen(cu->db.e[i].base));
	for (size_t i = 0; i < nfiles; i++) {
		if (cu->db.present && !sorted_has(bases, cu->db.n, files[i], strlen(files[i]))) {
			cu->unlisted = xrealloc(cu->unlisted, (cu->nunlisted + 1) * sizeof *cu->unlisted);
			cu->unlisted[cu->nunlisted++] = files[i];
		} else {
			free(files[i]);
		}
	}
	free(files);
	free(bases);
	return 1;
}

void
inspect_courieruid_free(struct inspect_courieruid *cu)
{
	for (size_t i = 0; i < cu->nunlisted; i++)
		free(cu->unlisted[i]);
	free(cu->unlisted);
	free(cu->present);
	courier_uiddb_free(&cu->db);
	state_findings_free(&cu->f);
	free(cu->data);
	memset(cu, 0, sizeof *cu);
}

/* Courier-IMAP's list against the maildir, as for dovecot-uidlist: lines
 * of deleted messages and messages without a line are normal between two
 * Courier sessions (--deep). */
static void
check_courieruid(struct md *c)
{
	struct inspect_courieruid cu;
	struct inspect_finding f;
	int rc = inspect_courieruid_read(c->dfd, &cu);
	if (rc == 0)
		return;
	finding_init(&f, IC_COURIERUID_BAD);
	f.name = COURIER_UIDDB_FILE;
	if (rc == -1) {
		/* out of descriptors or memory is our problem, not the file's */
		if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
			report_error_sys(EX_IOERR, "%s/%s: cannot read", c->e.maildir, COURIER_UIDDB_FILE);
		else
			emit_finding(&c->e, &f, "cannot read: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < cu.f.n; i++) {
		const struct state_finding *sf = &cu.f.v[i];
		finding_init(&f, IC_COURIERUID_BAD);
		f.name = COURIER_UIDDB_FILE;
		f.value = (long long)sf->line;
		if (sf->line)
			emit_finding(&c->e, &f, "line %zu: %s: %s", sf->line,
			    state_problem_code(sf->what), sf->text);
		else
			emit_finding(&c->e, &f, "%s: %s", state_problem_code(sf->what), sf->text);
	}
	if (!cu.db.present) {
		inspect_courieruid_free(&cu);
		return;
	}
	if (cu.order_line) {
		finding_init(&f, IC_COURIERUID_NOT_INCREASING);
		f.name = COURIER_UIDDB_FILE;
		f.value = cu.order_uid;
		emit_finding(&c->e, &f, "line %zu: UID %u after UID %u", cu.order_line, cu.order_uid,
		    cu.order_prev);
	}
	if (cu.db.n && cu.header_next <= cu.max) {
		finding_init(&f, IC_COURIERUID_NEXT_TOO_LOW);
		f.name = COURIER_UIDDB_FILE;
		f.value = cu.header_next;
		f.value2 = cu.max;
		emit_finding(&c->e, &f, "next UID %u is not above the highest UID %u", cu.header_next,
		    cu.max);
	}
	for (size_t i = 0; c->e.o->deep && i < cu.db.n; i++) {
		if (cu.present[i])
			continue;
		finding_init(&f, IC_COURIERUID_MISSING_FILE);
		f.name = COURIER_UIDDB_FILE;
		f.value = cu.db.e[i].uid;
		emit_finding(&c->e, &f, "line %zu: UID %u: no file %s in new/ or cur/", cu.db.e[i].line,
		    cu.db.e[i].uid, cu.db.e[i].base);
	}
	for (size_t i = 0; c->e.o->deep && i < cu.nunlisted; i++) {
		finding_init(&f, IC_COURIERUID_UNLISTED);
		f.name = COURIER_UIDDB_FILE;
		emit_finding(&c->e, &f, "no line for %s", cu.unlisted[i]);
	}
	inspect_courieruid_free(&cu);
}

/* ---- maildirsize (SPEC §1.9) ---------------------------------------------- */

/* Sizes of new/ and cur/ of one maildir below dfd. */
static void
quota_add_dir(int dfd, const char *sub, long long *bytes, long long *count)
{
	int sfd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd == -1)
		return;
	DIR *d = fdopendir(sfd);
	if (!d) {
		close(sfd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || (de->d_type != DT_REG && de->d_type != DT_UNKNOWN))
			continue;
		struct maildir_name mn;
		struct stat st;
		maildir_name_parse(de->d_name, strlen(de->d_name), &mn);
		if (mn.size_s >= 0 && !(mn.anomalies & MN_BAD_SIZE)) {
			*bytes += mn.size_s;
			(*count)++;
		} else if (fstatat(sfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode)) {
			*bytes += st.st_size;
			(*count)++;
		}
	}
	closedir(d);
}

void
inspect_quota_totals(int rootfd, long long *bytes_r, long long *count_r)
{
	*bytes_r = *count_r = 0;
	quota_add_dir(rootfd, "new", bytes_r, count_r);
	quota_add_dir(rootfd, "cur", bytes_r, count_r);
	int fd = dup(rootfd);
	DIR *d = fd == -1 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd != -1)
			close(fd);
		return;
	}
	rewinddir(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		if (n[0] != '.' || n[1] == '.' || n[1] == '\0' || strcmp(n, ".Trash") == 0 ||
		    strcmp(n, INSPECT_QUARANTINE) == 0)
			continue;
		int ffd = openat(rootfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (ffd == -1)
			continue;
		quota_add_dir(ffd, "new", bytes_r, count_r);
		quota_add_dir(ffd, "cur", bytes_r, count_r);
		close(ffd);
	}
	closedir(d);
}

/* Parse maildirsize: true when well formed; totals of its lines. */
static bool
quota_parse(const char *p, size_t n, long long *bytes_r, long long *count_r)
{
	const char *end = p + n, *nl = memchr(p, '\n', n);
	*bytes_r = *count_r = 0;
	if (!nl || nl == p)
		return false;
	for (const char *q = p; q < nl;) {      /* "<digits><letter>[,...]" */
		const char *s = q;
		while (q < nl && *q >= '0' && *q <= '9')
			q++;
		if (q == s || q == nl || !((*q >= 'A' && *q <= 'Z')))
			return false;
		q++;
		if (q < nl && *q++ != ',')
			return false;
	}
	for (const char *q = nl + 1; q < end;) {
		const char *e = memchr(q, '\n', (size_t)(end - q));
		if (!e)
			return false;
		char line[64];
		if ((size_t)(e - q) >= sizeof line)
			return false;
		memcpy(line, q, (size_t)(e - q));
		line[e - q] = '\0';
		long long b, c;
		char extra;
		if (sscanf(line, " %lld %lld %c", &b, &c, &extra) != 2)
			return false;
		*bytes_r += b;
		*count_r += c;
		q = e + 1;
	}
	return true;
}

static void
check_maildirsize(struct md *c)
{
	int fd = openat(c->dfd, "maildirsize", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return;
	char buf[8192];
	ssize_t n = pread_full(fd, buf, sizeof buf, 0);
	close(fd);
	if (n < 0)
		return;
	long long fb, fc, ab, ac;
	bool ok = quota_parse(buf, (size_t)n, &fb, &fc);
	inspect_quota_totals(c->dfd, &ab, &ac);
	struct inspect_finding f;
	finding_init(&f, IC_MAILDIRSIZE_WRONG);
	f.name = "maildirsize";
	f.value = ab;
	f.value2 = ac;
	if (!ok)
		emit_finding(&c->e, &f, "malformed (Maildir++ quota format)");
	else if (n >= 5120)
		emit_finding(&c->e, &f, "%zd bytes: must be recalculated at 5120", n);
	else if (fb != ab || fc != ac)
		emit_finding(&c->e, &f, "says %lld bytes in %lld messages, the maildir holds %lld in %lld",
		    fb, fc, ab, ac);
}

/* ---- Maildir++ folders (SPEC §1.8) ---------------------------------------- */

static int inspect_one(const char *path, const struct inspect_opts *o, struct inspect_stats *st,
	bool top);

/* A ".X" directory of the top maildir: complete folder or FOLDER-BROKEN. */
static void
check_folder(struct md *c, const char *name)
{
	int ffd = openat(c->dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (ffd == -1)
		return;
	struct stat st;
	unsigned missing = 0;
	static const char *const parts[] = { "cur", "new", "tmp", "maildirfolder" };
	for (unsigned i = 0; i < 4; i++)
		if (fstatat(ffd, parts[i], &st, AT_SYMLINK_NOFOLLOW) == -1)
			missing |= 1u << i;
	close(ffd);
	if (!(missing & 1u))
		missing &= 8u;          /* new/ and tmp/: MAILDIR-MISSING-SUBDIR below */
	if (missing) {
		struct inspect_finding f;
		finding_init(&f, IC_FOLDER_BROKEN);
		f.name = name;
		f.value = missing;
		emit_finding(&c->e, &f, "Maildir++ folder without %s%s%s%s",
		    missing & 1u ? "cur/ " : "", missing & 2u ? "new/ " : "",
		    missing & 4u ? "tmp/ " : "", missing & 8u ? "maildirfolder" : "");
	}
	if (!(missing & 1u)) {
		char *p = xasprintf("%s/%s", c->e.maildir, name);
		inspect_one(p, c->e.o, c->e.st, false);
		free(p);
	}
}

static void
walk_folders(struct md *c)
{
	int fd = dup(c->dfd);
	DIR *d = fd == -1 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd != -1)
			close(fd);
		return;
	}
	rewinddir(d);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	while ((de = readdir(d)) != NULL) {
		const char *nm = de->d_name;
		if (nm[0] != '.' || nm[1] == '.' || nm[1] == '\0' || strcmp(nm, INSPECT_QUARANTINE) == 0)
			continue;
		struct stat st;
		if (fstatat(c->dfd, nm, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (S_ISLNK(st.st_mode)) {
			struct inspect_finding f;
			finding_init(&f, IC_MAILDIR_SYMLINK);
			f.name = nm, f.st = st, f.have_st = true;
			emit_finding(&c->e, &f, "folder is a symbolic link, not followed");
			continue;
		}
		if (!S_ISDIR(st.st_mode))
			continue;       /* marker files such as .noupdate */
		names = xrealloc(names, (n + 1) * sizeof *names);
		names[n++] = xstrdup(nm);
	}
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char *t = names[i];
				names[i] = names[j];
				names[j] = t;
			}
		check_folder(c, names[i]);
		free(names[i]);
	}
	free(names);
}

static int
inspect_one(const char *path, const struct inspect_opts *o, struct inspect_stats *st, bool top)
{
	struct md c = { .e = { o, st, path }, .top = top };
	c.now = o->now ? o->now : time(NULL);
	c.dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c.dfd == -1) {
		report_error_sys(EX_NOINPUT, "cannot open %s", path);
		return EX_NOINPUT;
	}
	st->mailboxes++;
	check_subdirs(&c);
	scan_subdir(&c, "new");
	scan_subdir(&c, "cur");
	check_uidlist(&c);
	check_courieruid(&c);
	scan_tmp(&c);
	struct stat mf;
	if (top && fstatat(c.dfd, "maildirfolder", &mf, AT_SYMLINK_NOFOLLOW) == -1)
		check_maildirsize(&c);
	uniq_free(&c.uniq);
	if (top && o->recursive)
		walk_folders(&c);
	close(c.dfd);
	return 0;
}

int
inspect_maildir(const char *path, const struct inspect_opts *o, struct inspect_stats *st)
{
	return inspect_one(path, o, st, true);
}

/* ---- M10 plausibility ------------------------------------------------------- */

bool
inspect_plausible(int fd, const char **why_r)
{
	static char buf[READER_HEADER_MAX];
	ssize_t n = pread_full(fd, buf, sizeof buf, 0);
	if (n <= 0) {
		*why_r = n == 0 ? "empty file" : "read error";
		return false;
	}
	bool complete;
	size_t hl = header_block_len(buf, (size_t)n, &complete);
	if (!complete) {
		*why_r = "no empty line after the header";
		return false;
	}
	struct header_iter it;
	struct header_field hf;
	size_t fields = 0;
	header_iter_init(&it, buf, hl);
	while (header_iter_next(&it, &hf))
		fields++;
	if (fields == 0 || it.malformed) {
		*why_r = fields == 0 ? "no header field" : "malformed header line";
		return false;
	}
	if (!header_find(buf, hl, "Content-Type", &hf)) {
		*why_r = "header parses, empty line present";
		return true;
	}
	const char *b = NULL;
	for (size_t i = 0; i + 9 <= hf.value_len && !b; i++)
		if (mem_ieq(hf.value + i, "boundary=", 9))
			b = hf.value + i;
	if (!b)
		return *why_r = "header parses, empty line present", true;
	b += 9;
	size_t blen = 0;
	const char *end = hf.value + hf.value_len;
	if (b < end && *b == '"') {
		b++;
		while (b + blen < end && b[blen] != '"')
			blen++;
	} else {
		while (b + blen < end && b[blen] != ';' && b[blen] != ' ' && b[blen] != '\r' &&
		    b[blen] != '\n' && b[blen] != '\t')
			blen++;
	}
	if (blen == 0 || blen > 200)
		return *why_r = "header parses, empty line present", true;
	char close[210];
	close[0] = close[1] = '-';
	memcpy(close + 2, b, blen);
	memcpy(close + 2 + blen, "--", 2);
	/* Look for the closing delimiter in the last 64 KiB of the file. */
	struct stat st;
	if (fstat(fd, &st) == -1)
		return *why_r = "fstat failed", false;
	off_t from = st.st_size > 65536 ? st.st_size - 65536 : 0;
	ssize_t m = pread_full(fd, buf, 65536, from);
	if (m > 0 && mem_find(buf, (size_t)m, close, blen + 4)) {
		*why_r = "header parses, empty line present, MIME boundaries closed";
		return true;
	}
	*why_r = "multipart message without its closing boundary";
	return false;
}

/* ---- mbox (SPEC §2.3-2.7) --------------------------------------------------- */

#define LR_CAP (1u << 20)
#define LR_PEEK (FROMLINE_MAX + 64)

/* A line reader over pread() windows: the first LR_PEEK bytes of any line
 * are available, however long the line is. */
struct lr {
	int fd;
	off_t size;
	char *buf;
	off_t boff;
	size_t blen;
	char peek[LR_PEEK];
};
struct line {
	off_t off;
	size_t len;          /* including the LF */
	const char *p;
	size_t avail;        /* bytes at p (all of the line, or LR_PEEK) */
	bool lf, crlf;
};

static int
lr_fill(struct lr *r, off_t off)
{
	ssize_t n = pread_full(r->fd, r->buf, LR_CAP, off);
	if (n < 0)
		return -1;
	r->boff = off;
	r->blen = (size_t)n;
	return 0;
}

/* 1 and *l, 0 at end of file, -1 on a read error (errno). */
static int
lr_line(struct lr *r, off_t off, struct line *l)
{
	if (off >= r->size)
		return 0;
	if (off < r->boff || off >= r->boff + (off_t)r->blen ||
	    (r->boff + (off_t)r->blen - off < LR_PEEK && r->boff + (off_t)r->blen < r->size))
		if (lr_fill(r, off) == -1)
			return -1;
	const char *p = r->buf + (off - r->boff);
	size_t av = r->blen - (size_t)(off - r->boff);
	const char *nl = memchr(p, '\n', av);
	l->off = off;
	l->p = p;
	l->crlf = false;
	if (nl || r->boff + (off_t)r->blen >= r->size) {
		l->len = nl ? (size_t)(nl - p) + 1 : av;
		l->lf = nl != NULL;
		l->avail = l->len;
		l->crlf = nl && nl > p && nl[-1] == '\r';
		return 1;
	}
	size_t keep = av < LR_PEEK ? av : LR_PEEK;      /* a line longer than the window */
	memcpy(r->peek, p, keep);
	l->p = r->peek;
	l->avail = keep;
	for (off_t q = off + (off_t)av;;) {
		if (lr_fill(r, q) == -1)
			return -1;
		nl = memchr(r->buf, '\n', r->blen);
		if (nl) {
			l->len = (size_t)(q - off) + (size_t)(nl - r->buf) + 1;
			l->lf = true;
			l->crlf = nl > r->buf && nl[-1] == '\r';
			return 1;
		}
		q += (off_t)r->blen;
		if (r->blen == 0 || q >= r->size) {
			l->len = (size_t)(q - off);
			l->lf = false;
			return 1;
		}
	}
}

static bool
line_empty(const struct line *l)
{
	return (l->len == 1 && l->lf) || (l->len == 2 && l->crlf);
}

static bool
line_from(const struct line *l)
{
	return l->avail >= 5 && memcmp(l->p, "From ", 5) == 0;
}

static bool
line_valid_from(const struct line *l)
{
	size_t n = l->len - (l->lf ? 1 : 0);
	struct fromline fl;
	return line_from(l) && n <= FROMLINE_MAX && n <= l->avail && fromline_parse(l->p, n, &fl);
}

struct mb {
	struct emit e;
	struct lr lr;
	size_t crlf, lf;
	off_t first_crlf, first_lf;
	int err;
};

static void
mb_eol(struct mb *m, const struct line *l)
{
	if (!l->lf)
		return;
	if (l->crlf) {
		if (m->crlf++ == 0)
			m->first_crlf = l->off;
	} else if (m->lf++ == 0) {
		m->first_lf = l->off;
	}
}

static int
mb_line(struct mb *m, off_t off, struct line *l)
{
	int rc = lr_line(&m->lr, off, l);
	if (rc == -1)
		m->err = errno;
	return rc == 1;
}

static void
mb_emit(struct mb *m, enum inspect_code code, off_t off, long long value, const char *msg)
{
	struct inspect_finding f;
	finding_init(&f, code);
	f.offset = off;
	f.value = value;
	emit_finding(&m->e, &f, "%s", msg);
}

/* Content-Length of a header: the value span and number; false when the
 * field is malformed. */
struct cl {
	int count;
	bool bad;
	long long n;
	off_t a, b;
};

static void
cl_field(struct cl *c, const struct line *l)
{
	size_t end = l->len - (l->lf ? 1 : 0) - (l->crlf ? 1 : 0);
	if (end > l->avail)
		end = l->avail;
	size_t i = 15;
	while (i < end && (l->p[i] == ' ' || l->p[i] == '\t'))
		i++;
	long long v = 0;
	size_t d = 0;
	for (; i < end && l->p[i] >= '0' && l->p[i] <= '9' && d < 18; i++, d++)
		v = v * 10 + (l->p[i] - '0');
	while (i < end && (l->p[i] == ' ' || l->p[i] == '\t'))
		i++;
	if (c->count++ == 0) {
		c->a = l->off + 15;
		c->b = l->off + (off_t)end;
		c->n = v;
	}
	if (d == 0 || i != end || (c->count > 1 && v != c->n))
		c->bad = true;
}

/* Does Content-Length land on a boundary (SPEC §2.4 ▶)? *next_r: the next
 * From_ line or the end of file. */
static bool
cl_lands(struct mb *m, off_t t, off_t *next_r)
{
	char b[2];
	struct line l;
	off_t size = m->lr.size;
	if (t == size) {
		*next_r = size;
		return true;
	}
	if (t > size || pread_full(m->lr.fd, b, 2, t) < 1)
		return false;
	off_t n = b[0] == '\n' ? t + 1 : (b[0] == '\r' && t + 1 < size && b[1] == '\n') ? t + 2 : -1;
	if (n == -1)
		return false;
	if (n == size || (mb_line(m, n, &l) && line_valid_from(&l))) {
		*next_r = n;
		return true;
	}
	return false;
}

/* Header of the message whose From_ line ends at *off. Returns true when
 * an empty line ended it. */
static bool
mb_header(struct mb *m, off_t *off, struct cl *cl, size_t *lines_r, size_t *end_len_r)
{
	struct line l;
	bool seen_field = false;
	*lines_r = 0;
	while (mb_line(m, *off, &l)) {
		if (line_empty(&l)) {
			mb_eol(m, &l);
			*off += (off_t)l.len;
			*end_len_r = l.len;
			return true;
		}
		(*lines_r)++;
		if (line_from(&l) && seen_field && line_valid_from(&l))
			return false;             /* X21: next message, no header end */
		if (!line_from(&l) && l.p[0] != ' ' && l.p[0] != '\t' && l.p[0] != '>')
			seen_field = true;
		if (l.avail >= 15 && mem_ieq(l.p, "Content-Length:", 15))
			cl_field(cl, &l);
		*off += (off_t)l.len;
	}
	return false;
}

/* Body lines up to the next From_ line (SPEC §2.5 step 3-4). Reports
 * unquoted From lines, a missing separator and a Content-Length that
 * did not land; returns the offset of the next From_ line or EOF. */
static off_t
mb_body(struct mb *m, off_t off, off_t msg_off, const struct cl *cl, size_t hdr_lines,
	size_t end_len)
{
	struct line l = { 0 };
	off_t body_start = off;
	/* the header's empty line is the separator of a message without body
	 * unless it is the message's only line (SPEC §2.5 step 4) */
	bool prev_empty = true, any = hdr_lines > 0, at_eof = true, body_lines = false;
	size_t prev_len = end_len;
	long long quotes = 0;
	char msg[160];

	while (mb_line(m, off, &l)) {
		if (line_from(&l)) {
			if (line_valid_from(&l)) {
				at_eof = false;
				break;
			}
			mb_emit(m, IC_MBOX_UNQUOTED_FROM, l.off, -1,
			    "body line starts with \"From \" but is no From_ line");
			quotes++;
		}
		prev_empty = line_empty(&l);
		prev_len = l.len;
		any = body_lines = true;
		off += (off_t)l.len;
	}
	bool sep = any && prev_empty;
	if (!at_eof && !sep) {
		snprintf(msg, sizeof msg, "From_ line without an empty line before it");
		mb_emit(m, IC_MBOX_MISSING_SEPARATOR, off, l.crlf ? 1 : 0, msg);
	}
	if (cl->count) {
		long long body = (long long)(off - body_start) - (sep && body_lines ? (long long)prev_len : 0);
		long long len = body + quotes;
		if (at_eof && body_lines && !l.lf)
			len++;          /* repair appends the missing LF */
		struct inspect_finding f;
		finding_init(&f, IC_MBOX_CONTENT_LENGTH);
		f.offset = msg_off;
		f.value = len < 0 ? 0 : len;
		f.span_start = cl->a;
		f.span_end = cl->b;
		emit_finding(&m->e, &f, "Content-Length: %lld does not land on a message boundary"
		    " (the body holds %lld bytes)", cl->n, body);
	}
	return off;
}

/* Leading bytes before the first From_ line (X7): FIRST-LINE when a valid
 * From_ line follows, else not an mbox. Returns the first From_ offset or -1. */
static off_t
mb_start(struct mb *m)
{
	struct line l;
	off_t off = 0;
	while (mb_line(m, off, &l) && line_empty(&l))
		off += (off_t)l.len;
	if (off < m->lr.size && !l.lf && memchr(l.p, '\r', l.avail)) {
		report_error(EX_DATAERR, "%s: no LF line terminators (CR-only line ends)", m->e.maildir);
		return -2;
	}
	if (off >= m->lr.size || line_from(&l))
		return off;
	off_t start = off;
	while (mb_line(m, off, &l)) {
		if (line_valid_from(&l)) {
			char msg[96];
			snprintf(msg, sizeof msg, "%lld bytes before the first From_ line",
			    (long long)(off - start));
			mb_emit(m, IC_MBOX_FIRST_LINE, start, off, msg);
			return off;
		}
		off += (off_t)l.len;
	}
	return -1;
}

static void
mb_files(struct mb *m, const char *path, time_t now)
{
	struct stat st;
	struct inspect_finding f;
	char *lock = mbox_lock_dotlock_path(path), *jr = mbox_journal_path(path);

	if (lstat(lock, &st) == 0 && now - st.st_mtime > LOCK_STALE_AGE) {
		finding_init(&f, IC_MBOX_STALE_LOCK);
		f.path = lock;
		f.st = st, f.have_st = true;
		emit_finding(&m->e, &f, "dotlock %lld minutes old", (long long)(now - st.st_mtime) / 60);
	}
	if (lstat(jr, &st) == 0) {
		finding_init(&f, IC_MBOX_JOURNAL);
		f.path = jr;
		f.st = st, f.have_st = true;
		emit_finding(&m->e, &f, "journal of an interrupted rewrite");
	}
	free(lock);
	free(jr);
}

static int
mb_scan(struct mb *m)
{
	off_t off = mb_start(m);
	struct line l;
	if (off == -2)
		return EX_DATAERR;
	if (off == -1) {
		if (m->err)
			return -1;
		report_error(EX_DATAERR, "%s: not an mbox (no From_ line)", m->e.maildir);
		return EX_DATAERR;
	}
	while (off < m->lr.size && mb_line(m, off, &l)) {
		off_t msg_off = off;
		struct cl cl = { 0 };
		size_t hdr_lines, end_len = 0;
		m->e.st->messages++;
		mb_eol(m, &l);
		off += (off_t)l.len;
		if (!mb_header(m, &off, &cl, &hdr_lines, &end_len))
			continue;
		off_t next;
		if (cl.count)
			m->e.st->mbox_cl_messages++;
		if (cl.count && !cl.bad && cl_lands(m, off + cl.n, &next)) {
			for (; off < next && mb_line(m, off, &l); off += (off_t)l.len)
				if (line_from(&l))
					m->e.st->mbox_protected_from++;
			off = next;
			continue;
		}
		off = mb_body(m, off, msg_off, &cl, hdr_lines, end_len);
	}
	if (m->err) {
		errno = m->err;
		return -1;
	}
	char last;
	if (m->lr.size > 0 && pread_full(m->lr.fd, &last, 1, m->lr.size - 1) == 1 && last != '\n')
		mb_emit(m, IC_MBOX_TRUNCATED, m->lr.size, -1, "the last line has no line end");
	if (m->crlf && m->lf)
		mb_emit(m, IC_MBOX_MIXED_EOL, m->first_crlf > m->first_lf ? m->first_crlf : m->first_lf,
		    -1, "both CRLF and LF line ends");
	return 0;
}

int
inspect_mbox(const char *path, const struct inspect_opts *o, struct inspect_stats *st)
{
	struct mb m = { .e = { o, st, path }, .first_crlf = -1, .first_lf = -1 };
	struct mbox_lock lk = { .fd = -1 };
	time_t now = o->now ? o->now : time(NULL);
	int fd = o->mbox_fd, status;

	if (fd < 0) {
		struct mbox_lock_opts lo = { .timeout = 30 };
		if ((status = mbox_lock_open(&lk, path, MBOX_LOCK_READ, &lo)) != 0)
			return status;
		fd = mbox_lock_fd(&lk);
	}
	struct stat fs;
	if (fstat(fd, &fs) == -1) {
		report_error_sys(EX_IOERR, "%s: fstat", path);
		mbox_lock_release(&lk);
		return EX_IOERR;
	}
	st->mailboxes++;
	mb_files(&m, path, now);
	m.lr = (struct lr){ .fd = fd, .size = fs.st_size, .buf = xmalloc(LR_CAP), .boff = 0, .blen = 0 };
	status = mb_scan(&m);
	if (status == -1) {
		report_error_sys(EX_IOERR, "%s: read error", path);
		status = EX_IOERR;
	}
	free(m.lr.buf);
	if (o->mbox_fd < 0) {
		/* give the "new mail" signal back (SPEC §5 O9) */
		struct timespec ts[2] = { fs.st_atim, { .tv_nsec = UTIME_OMIT } };
		(void)futimens(fd, ts);
		mbox_lock_release(&lk);
	}
	return status;
}

/* Compressed input is for convert; check and repair work on plain files. */
static bool
is_compressed(const char *path)
{
	unsigned char b[6] = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd == -1)
		return false;
	ssize_t n = read_full(fd, b, sizeof b);
	close(fd);
	return n >= 3 && ((b[0] == 0x1f && b[1] == 0x8b) || memcmp(b, "BZh", 3) == 0 ||
	    (n >= 6 && memcmp(b, "\xfd" "7zXZ\0", 6) == 0) || (n >= 4 && memcmp(b, "\x28\xb5\x2f\xfd", 4) == 0));
}

int
inspect_path(const char *path, const struct inspect_opts *o, struct inspect_stats *st)
{
	struct stat sb;
	if (stat(path, &sb) == -1) {
		report_error_sys(EX_NOINPUT, "cannot open %s", path);
		return EX_NOINPUT;
	}
	if (S_ISDIR(sb.st_mode)) {
		if (!source_is_maildir(path)) {
			if (errno != 0) {
				report_error_sys(EX_NOINPUT, "unable to open %s", path);
				return EX_NOINPUT;
			}
			report_error(EX_DATAERR, "%s: not a maildir (no cur/ directory)", path);
			return EX_DATAERR;
		}
		return inspect_maildir(path, o, st);
	}
	if (!S_ISREG(sb.st_mode)) {
		report_error(EX_DATAERR, "%s: not a mailbox (not a regular file or directory)", path);
		return EX_DATAERR;
	}
	if (is_compressed(path)) {
		report_error(EX_DATAERR, "%s: compressed; check and repair work on plain mbox files", path);
		return EX_DATAERR;
	}
	return inspect_mbox(path, o, st);
}
