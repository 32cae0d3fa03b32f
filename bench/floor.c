/*
 * bench/floor.c: the syscall floor of each benchmarked task (DESIGN.md §6).
 *
 * Each subcommand does only the system calls its task cannot avoid, with
 * no parsing beyond finding message boundaries, so that scripts/bench can
 * express every tool's time as a ratio to the least the kernel must do:
 *
 *   floor split MBOX MAILDIR         open/write/close/rename per message
 *   floor split-syncfs MBOX MAILDIR  the same, one syncfs(2) per batch before
 *                                    the renames, fsync of new/; a batch
 *                                    ends at 1000 messages or 64 MiB, as
 *                                    mailshift convert's default --batch
 *   floor split-fsync MBOX MAILDIR   the same, fsync(2) of every file
 *   floor split-mtime MBOX MAILDIR   split, and a futimens(2) of every file
 *                                    (a Maildir file's mtime is its delivery
 *                                    date: the one call per message a
 *                                    converter makes that split does not)
 *   floor split-syncfs-mtime ...     split-syncfs with the futimens(2)
 *   floor split-maildir MBOX MAILDIR split-mtime with Maildir names: each file
 *                                    written as tmp/SECS.MusecPpidQn.HOST and
 *                                    renamed to new/ under a name of the form
 *                                    mailshift gives (X<32 hex key>_0, ,S=,
 *                                    ,W=): a delivery names its file only
 *                                    when the size is known, so the two names
 *                                    differ, and the directory holds the
 *                                    longer one
 *   floor export MAILDIR MBOX        read each file of new/ and cur/, append
 *                                    it with a From_ line to one file
 *   floor export-fsync MAILDIR MBOX  the same, one fsync(2) of MBOX at the end
 *   floor headers MAILDIR            read the first 4 KiB of each file
 *   floor read MAILDIR               read every byte of each file once
 *   floor stat MAILDIR               readdir + stat of new/ and cur/
 *   floor count MBOX                 read(2) the mbox, count "\nFrom " lines
 *
 * The mbox is read with read(2) into one 1 MiB buffer, as mailshift reads
 * it (STYLE.md "Streaming I/O").  Messages are split at "\nFrom " and
 * written unchanged (no mboxrd unquoting: a floor, not a converter).
 * Every subcommand prints the number of messages it handled.
 * Build: cc -O2 -o bench/floor bench/floor.c
 */
#define _GNU_SOURCE 1
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUFSZ (1024 * 1024)
#define BATCH 1000                      /* mailshift's default batch */
#define BATCH_BYTES (64UL << 20)

enum sync_kind { SYNC_NONE, SYNC_FS, SYNC_FILE };

struct splitter {
	int tmpfd, newfd;       /* MAILDIR/tmp and MAILDIR/new */
	int fd;                 /* the message being written, or -1 */
	enum sync_kind sync;
	int mtime;              /* futimens(2) each file before its close */
	int mdnames;            /* Maildir names (split-maildir) */
	char tmpname[128];      /* the file being written, with mdnames */
	unsigned long msg_bytes;
	unsigned long n;        /* messages started */
	unsigned long pending;  /* written to tmp/, not yet renamed */
	unsigned long pending_bytes;
};

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "floor: %s %s: %s\n", what, arg, strerror(errno));
	exit(1);
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("write", "");
		}
		p += w;
		n -= (size_t)w;
	}
}

static void name_of(char *buf, size_t size, unsigned long n)
{
	snprintf(buf, size, "%lu.floor.bench", n);
}

static void split_rename(struct splitter *s, unsigned long n)
{
	char name[64];
	name_of(name, sizeof name, n);
	if (renameat(s->tmpfd, name, s->newfd, name) < 0)
		die("rename", name);
}

/* Renames of a batch made durable by one syncfs(2), then fsync of new/. */
static void split_flush(struct splitter *s)
{
	if (s->pending == 0)
		return;
	if (syncfs(s->tmpfd) < 0)
		die("syncfs", "tmp");
	for (unsigned long k = s->n - s->pending; k < s->n; k++)
		split_rename(s, k);
	if (fsync(s->newfd) < 0)
		die("fsync", "new");
	s->pending = 0;
	s->pending_bytes = 0;
}

/* The file's name in new/, of the form a delivery gives once its size is
 * known (the key stands for mailshift's; S= and W= both the size: the
 * floor does not count lines). */
static void split_rename_maildir(struct splitter *s)
{
	char name[256], *q = strchr(s->tmpname, '.');
	q = q ? strchr(q + 1, '.') : NULL;
	if (q == NULL)
		die("name", s->tmpname);
	snprintf(name, sizeof name, "%.*sX%016lx%016lx_0%s,S=%lu,W=%lu", (int)(q - s->tmpname),
	    s->tmpname, s->n * 0x9e3779b97f4a7c15UL, s->n, q, s->msg_bytes, s->msg_bytes);
	if (renameat(s->tmpfd, s->tmpname, s->newfd, name) < 0)
		die("rename", s->tmpname);
}

static void split_finish(struct splitter *s)
{
	if (s->fd < 0)
		return;
	if (s->mtime) {
		/* a date per message, as a converter sets the From_ line's */
		struct timespec ts[2] = { { 0, UTIME_OMIT }, { 946684800 + (time_t)s->n * 60, 0 } };
		if (futimens(s->fd, ts) < 0)
			die("futimens", "message");
	}
	if (s->sync == SYNC_FILE && fsync(s->fd) < 0)
		die("fsync", "message");
	if (close(s->fd) < 0)
		die("close", "message");
	s->fd = -1;
	if (s->sync == SYNC_FS) {
		if (++s->pending == BATCH || s->pending_bytes >= BATCH_BYTES)
			split_flush(s);
	} else if (s->mdnames) {
		split_rename_maildir(s);
	} else {
		split_rename(s, s->n - 1);
	}
}

static void split_start(struct splitter *s)
{
	char name[128];
	name_of(name, sizeof name, s->n);
	if (s->mdnames) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		snprintf(s->tmpname, sizeof s->tmpname, "%lld.M%06ldP%ldQ%lu.floor", (long long)now.tv_sec,
		    now.tv_nsec / 1000, (long)getpid(), s->n + 1);
		snprintf(name, sizeof name, "%s", s->tmpname);
	}
	s->msg_bytes = 0;
	s->fd = openat(s->tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (s->fd < 0)
		die("open", name);
	s->n++;
}

static int open_dir(const char *dir, const char *sub)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, sub);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		die("mkdir", path);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die("open", path);
	return fd;
}

/* Scan buf[*s, len): write message bytes, switch files at "\nFrom ". */
static size_t split_scan(struct splitter *s, char *buf, size_t len, int eof, int *skip)
{
	size_t i = 0;
	while (i < len) {
		if (*skip) {
			char *nl = memchr(buf + i, '\n', len - i);
			if (!nl)
				return 0;
			i = (size_t)(nl - buf) + 1;
			*skip = 0;
			split_start(s);
			continue;
		}
		char *p = memmem(buf + i, len - i, "\nFrom ", 6);
		if (p) {
			size_t end = (size_t)(p - buf) + 1;
			if (s->fd >= 0) {
				write_all(s->fd, buf + i, end - i);
				s->pending_bytes += end - i;
				s->msg_bytes += end - i;
			}
			split_finish(s);
			i = end;
			*skip = 1;
			continue;
		}
		size_t keep = eof ? 0 : (len - i < 5 ? len - i : 5);
		if (s->fd >= 0) {
			write_all(s->fd, buf + i, len - i - keep);
			s->pending_bytes += len - i - keep;
			s->msg_bytes += len - i - keep;
		}
		memmove(buf, buf + len - keep, keep);
		return keep;
	}
	return 0;
}

static int cmd_split(const char *mbox, const char *dir, enum sync_kind sync, int mtime,
    int mdnames)
{
	struct splitter s = { .fd = -1, .sync = sync, .mtime = mtime, .mdnames = mdnames };
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		die("mkdir", dir);
	s.tmpfd = open_dir(dir, "tmp");
	s.newfd = open_dir(dir, "new");
	close(open_dir(dir, "cur"));
	int in = open(mbox, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		die("open", mbox);
	char *buf = malloc(BUFSZ + 8);
	size_t carry = 0;
	int skip = 1, eof = 0;
	while (!eof) {
		ssize_t n = read(in, buf + carry, BUFSZ);
		if (n < 0)
			die("read", mbox);
		eof = n == 0;
		carry = split_scan(&s, buf, carry + (size_t)n, eof, &skip);
	}
	split_finish(&s);
	if (sync == SYNC_FS)
		split_flush(&s);
	else if (sync == SYNC_FILE && fsync(s.newfd) < 0)
		die("fsync", "new");
	printf("%lu\n", s.n);
	free(buf);
	return 0;
}

static int cmd_count(const char *mbox)
{
	int in = open(mbox, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		die("open", mbox);
	char *buf = malloc(BUFSZ + 8);
	unsigned long n = 0;
	size_t carry = 0;
	if (read(in, buf, 5) == 5 && memcmp(buf, "From ", 5) == 0)
		n++;
	carry = 0;
	for (;;) {
		ssize_t r = read(in, buf + carry, BUFSZ);
		if (r < 0)
			die("read", mbox);
		if (r == 0)
			break;
		size_t len = carry + (size_t)r, i = 0;
		char *p;
		while ((p = memmem(buf + i, len - i, "\nFrom ", 6)) != NULL) {
			n++;
			i = (size_t)(p - buf) + 6;
		}
		carry = len - i < 5 ? len - i : 5;
		memmove(buf, buf + len - carry, carry);
	}
	printf("%lu\n", n);
	free(buf);
	return 0;
}

enum walk_kind { WALK_EXPORT, WALK_EXPORT_FSYNC, WALK_HEADERS, WALK_READ, WALK_STAT };

struct walker {
	enum walk_kind kind;
	int out;
	char *in, *obuf;
	size_t incap, olen;
	unsigned long n;
};

static void out_put(struct walker *w, const char *p, size_t n)
{
	if (w->olen + n > BUFSZ) {
		write_all(w->out, w->obuf, w->olen);
		w->olen = 0;
	}
	if (n > BUFSZ) {
		write_all(w->out, p, n);
		return;
	}
	memcpy(w->obuf + w->olen, p, n);
	w->olen += n;
}

/* One file of the maildir: what each walk kind must do with it. */
static void walk_file(struct walker *w, int dfd, const char *name)
{
	if (w->kind == WALK_STAT) {
		struct stat st;
		if (fstatat(dfd, name, &st, 0) < 0)
			die("stat", name);
		w->n++;
		return;
	}
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open", name);
	size_t len = 0;
	for (;;) {
		if (len == w->incap) {
			w->incap *= 2;
			w->in = realloc(w->in, w->incap);
		}
		size_t want = w->kind == WALK_HEADERS ? 4096 : w->incap - len;
		ssize_t r = read(fd, w->in + len, want);
		if (r < 0)
			die("read", name);
		len += (size_t)r;
		if (r == 0 || w->kind == WALK_HEADERS)
			break;
	}
	close(fd);
	if (w->kind == WALK_EXPORT || w->kind == WALK_EXPORT_FSYNC) {
		static const char from[] = "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n";
		out_put(w, from, sizeof from - 1);
		out_put(w, w->in, len);
		out_put(w, "\n", 1);
	}
	w->n++;
}

static int cmd_walk(const char *dir, const char *out, enum walk_kind kind)
{
	struct walker w = { .kind = kind, .out = -1, .incap = BUFSZ };
	w.in = malloc(w.incap);
	bool export = kind == WALK_EXPORT || kind == WALK_EXPORT_FSYNC;
	if (export) {
		w.obuf = malloc(BUFSZ);
		w.out = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
		if (w.out < 0)
			die("open", out);
	}
	static const char *const subs[] = { "new", "cur" };
	for (int k = 0; k < 2; k++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, subs[k]);
		DIR *d = opendir(path);
		if (!d)
			die("opendir", path);
		struct dirent *e;
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				walk_file(&w, dirfd(d), e->d_name);
		closedir(d);
	}
	if (export) {
		write_all(w.out, w.obuf, w.olen);
		if (kind == WALK_EXPORT_FSYNC && fsync(w.out) < 0)
			die("fsync", out);
		if (close(w.out) < 0)
			die("close", out);
	}
	printf("%lu\n", w.n);
	free(w.in);
	free(w.obuf);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	if (argc == 4 && strcmp(cmd, "split") == 0)
		return cmd_split(argv[2], argv[3], SYNC_NONE, 0, 0);
	if (argc == 4 && strcmp(cmd, "split-syncfs") == 0)
		return cmd_split(argv[2], argv[3], SYNC_FS, 0, 0);
	if (argc == 4 && strcmp(cmd, "split-fsync") == 0)
		return cmd_split(argv[2], argv[3], SYNC_FILE, 0, 0);
	if (argc == 4 && strcmp(cmd, "split-maildir") == 0)
		return cmd_split(argv[2], argv[3], SYNC_NONE, 1, 1);
	if (argc == 4 && strcmp(cmd, "split-mtime") == 0)
		return cmd_split(argv[2], argv[3], SYNC_NONE, 1, 0);
	if (argc == 4 && strcmp(cmd, "split-syncfs-mtime") == 0)
		return cmd_split(argv[2], argv[3], SYNC_FS, 1, 0);
	if (argc == 4 && strcmp(cmd, "export") == 0)
		return cmd_walk(argv[2], argv[3], WALK_EXPORT);
	if (argc == 4 && strcmp(cmd, "export-fsync") == 0)
		return cmd_walk(argv[2], argv[3], WALK_EXPORT_FSYNC);
	if (argc == 3 && strcmp(cmd, "headers") == 0)
		return cmd_walk(argv[2], NULL, WALK_HEADERS);
	if (argc == 3 && strcmp(cmd, "read") == 0)
		return cmd_walk(argv[2], NULL, WALK_READ);
	if (argc == 3 && strcmp(cmd, "stat") == 0)
		return cmd_walk(argv[2], NULL, WALK_STAT);
	if (argc == 3 && strcmp(cmd, "count") == 0)
		return cmd_count(argv[2]);
	fprintf(stderr, "usage: floor split|split-syncfs|split-fsync|split-mtime|split-syncfs-mtime|split-maildir MBOX MAILDIR\n"
		"       floor export|export-fsync MAILDIR MBOX\n"
		"       floor headers|read|stat MAILDIR\n"
		"       floor count MBOX\n");
	return 64;
}
