/*
 * inspect_maildir.c: the checks of a Maildir and of its Maildir++ folders
 * (SPEC §1.1-1.9, §5 M1-M13), and the facts repair needs for them (W=
 * sizes, maildirsize totals, M10 plausibility of a tmp/ file).
 *
 * One pass over new/ and cur/ with readdir() and one lstat per entry
 * (fstatat with AT_SYMLINK_NOFOLLOW, relative to the directory fd), so a
 * symlink is never followed and a file is never opened unless --deep asks
 * for its content (W= size, "is it a message"). Unique parts and inodes go
 * into small hash tables for the duplicate (M4) and the tmp/ leftover (M9)
 * checks. tmp/ files count as stale when atime, mtime and ctime are all
 * older than the limit (SPEC §1.4, F4). The UID lists a server keeps in
 * the maildir are checked by inspect_uidlist.c.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <xxhash.h>

#include "flags.h"
#include "header.h"
#include "inspect.h"
#include "inspect_int.h"
#include "message.h"
#include "report.h"
#include "util.h"

/* ---- hash tables: unique parts and inodes --------------------------------- */

/* Room for `more` entries beyond those held, the slots at most half
 * full. Fresh pages cost a fault each (a slot page probed while empty and
 * written later, two): the entries grow by realloc, the slots are written
 * once when made. */
static void
uniq_reserve(struct uniq_tab *u, size_t more)
{
	if (u->len + more > u->alloc) {
		u->alloc = u->len + more > u->alloc * 2 ? u->len + more : u->alloc * 2;
		u->v = xrealloc(u->v, u->alloc * sizeof *u->v);
	}
	size_t cap = u->cap ? u->cap : 4096;
	while ((u->len + more) * 2 > cap)
		cap *= 2;
	if (cap == u->cap)
		return;
	uint32_t *ns = xmalloc(cap * sizeof *ns);
	memset(ns, 0, cap * sizeof *ns);
	for (size_t i = 0; i < u->len; i++) {
		size_t j = u->v[i].h[0] & (cap - 1);
		while (ns[j])
			j = (j + 1) & (cap - 1);
		ns[j] = (uint32_t)(i + 1);
	}
	free(u->slot);
	u->slot = ns;
	u->cap = cap;
}

/* Add; returns the earlier entry with the same unique part, or NULL. */
static const struct uniq_ent *
uniq_add(struct uniq_tab *u, unsigned char sub, const char *uniq, size_t ulen, dev_t dev,
    ino_t ino)
{
	if (u->len >= UINT32_MAX - 1)
		return NULL;    /* four billion names: no more checks */
	uniq_reserve(u, 1);
	XXH128_hash_t h = XXH3_128bits(uniq, ulen);
	size_t j = h.low64 & (u->cap - 1);
	for (; u->slot[j]; j = (j + 1) & (u->cap - 1)) {
		const struct uniq_ent *e = &u->v[u->slot[j] - 1];
		if (e->h[0] == h.low64 && e->h[1] == h.high64)
			return e;
	}
	u->v[u->len] = (struct uniq_ent){ { h.low64, h.high64 }, dev, ino, sub };
	u->slot[j] = (uint32_t)++u->len;
	return NULL;
}

static void
uniq_free(struct uniq_tab *u)
{
	free(u->v);
	free(u->slot);
	memset(u, 0, sizeof *u);
}

static bool
inode_known(const struct uniq_tab *u, dev_t dev, ino_t ino)
{
	for (size_t i = 0; i < u->len; i++)
		if (u->v[i].dev == dev && u->v[i].ino == ino)
			return true;
	return false;
}

/* ---- Maildir -------------------------------------------------------------- */

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

/* The name of an entry of the table, found again by its inode and unique
 * part (names are not kept); NULL when it is gone. The caller frees. */
static char *
uniq_name(struct md *c, const struct uniq_ent *u)
{
	int fd = openat(c->dfd, u->sub ? "cur" : "new", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	DIR *d = fd == -1 ? NULL : fdopendir(fd);
	struct dirent *de;
	char *name = NULL;

	if (d == NULL) {
		if (fd != -1)
			close(fd);
		return NULL;
	}
	while (name == NULL && (de = readdir(d)) != NULL) {
		struct maildir_name mn;
		if (de->d_ino != u->ino)
			continue;
		maildir_name_parse(de->d_name, strlen(de->d_name), &mn);
		XXH128_hash_t h = XXH3_128bits(mn.uniq, mn.uniq_len);
		if (h.low64 == u->h[0] && h.high64 == u->h[1])
			name = xstrdup(de->d_name);
	}
	closedir(d);
	return name;
}

/* One regular file of new/ or cur/. */
static void
check_message(struct md *c, int sfd, const char *sub, const char *name, const struct stat *st)
{
	struct maildir_name mn;
	struct inspect_finding f;
	size_t len = strlen(name);

	maildir_name_parse(name, len, &mn);
	const struct uniq_ent *other = uniq_add(&c->uniq, strcmp(sub, "new") != 0, mn.uniq,
	    mn.uniq_len, st->st_dev, st->st_ino);
	/* one file under two names of one unique part (new/X and cur/X:2,S
	 * linked, or a rename between the listings) is one message, as the
	 * readers count it (maildir_reader.c) */
	if (!(other && other->dev == st->st_dev && other->ino == st->st_ino))
		c->e.st->messages++;
	if (other && !(other->dev == st->st_dev && other->ino == st->st_ino)) {
		finding_init(&f, IC_MAILDIR_DUPLICATE_UNIQ);
		f.subdir = sub, f.name = name, f.st = *st, f.have_st = true;
		char *on = uniq_name(c, other);
		emit_finding(&c->e, &f, "unique part also used by %s/%s", other->sub ? "cur" : "new",
		    on ? on : "(renamed since)");
		free(on);
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

void
listing_sort(struct lent *v, size_t n)
{
	if (n < 2)
		return;
	ino_t lo = v[0].ino, hi = v[0].ino;
	for (size_t i = 1; i < n; i++) {
		if (v[i].ino < lo)
			lo = v[i].ino;
		if (v[i].ino > hi)
			hi = v[i].ino;
	}
	struct lent *tmp = xmalloc(n * sizeof *tmp), *from = v, *to = tmp;
	/* least significant byte first: each pass keeps the order of the one
	 * before among equal bytes */
	for (unsigned shift = 0; shift < 64 && (uint64_t)(hi - lo) >> shift != 0; shift += 8) {
		size_t count[256] = { 0 };
		for (size_t i = 0; i < n; i++)
			count[(uint64_t)(from[i].ino - lo) >> shift & 0xff]++;
		for (size_t b = 0, sum = 0; b < 256; b++) {
			size_t c = count[b];
			count[b] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			to[count[(uint64_t)(from[i].ino - lo) >> shift & 0xff]++] = from[i];
		struct lent *t = from;
		from = to;
		to = t;
	}
	if (from != v)
		memcpy(v, from, n * sizeof *v);
	free(tmp);
}

/* The next chunk of d into ls, sorted by inode: 1 when it is full (more
 * may follow), 0 at the end, -1 with errno after a readdir error (what was
 * read is in ls all the same). */
static int
listing_read(DIR *d, struct listing *ls)
{
	struct dirent *de;

	if (ls->v == NULL)
		ls->v = xmalloc(LISTING_CHUNK * sizeof *ls->v);
	ls->n = 0;
	ls->names.len = 0;
	while (ls->n < LISTING_CHUNK) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (de->d_name[0] == '.')
			continue;       /* dot names are skipped by every reader (SPEC §1.4) */
		ls->v[ls->n++] = (struct lent){ de->d_ino, ls->names.len };
		sb_append(&ls->names, de->d_name, strlen(de->d_name) + 1);
	}
	int rc = ls->n == LISTING_CHUNK ? 1 : errno ? -1 : 0;
	listing_sort(ls->v, ls->n);
	return rc;
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
	struct listing *ls = &c->ls;
	int more;
	do {
		if ((more = listing_read(d, ls)) == -1)
			report_error_sys(EX_IOERR, "%s/%s: cannot read directory", c->e.maildir, sub);
		uniq_reserve(&c->uniq, ls->n);
		for (size_t i = 0; i < ls->n; i++) {
			const char *name = ls->names.buf + ls->v[i].off;
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
	} while (more == 1);
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
	free(c.ls.v);
	sb_free(&c.ls.names);
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
