/*
 * maildir_reader.c: read the messages of one Maildir, walk a folder tree
 * (SPEC §1.1-1.8, §1.10-1.12, §5 M1-M13).
 *
 * Listing: readdir() of new/ and cur/ with d_type (one fstatat() only when
 * the file system leaves d_type unknown, or for --sort=date). Names starting
 * with '.' are skipped (qmail, mutt, Dovecot, Courier; SPEC §1.4);
 * directories, FIFOs, sockets, devices and symlinks are counted and never
 * opened (M1). The sorted orders keep the names in one arena; the
 * unsorted order streams readdir().
 *
 * Reading: a file is opened only when the caller wants its header or body,
 * with openat(O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC) relative to the
 * subdirectory fd, then fstat() must say "regular file" before one byte is
 * read: a symlink or FIFO swapped in after the listing is refused, and a
 * FIFO never blocks the open. The header is read into its own buffer,
 * growing to READER_HEADER_MAX at most; the body is read into one fixed
 * buffer and handed out chunk by chunk.
 *
 * Reading ahead: past the first MD_AHEAD_AFTER messages of a run that
 * wants headers or whole messages, with a second CPU, a second thread opens
 * the next files of the listing and makes the first read of each
 * (MD_AHEAD files at most), so that the system calls of one file overlap
 * the parsing of the one before; the caller opens and reads a file the
 * thread has not reached yet itself. Out of descriptors (EMFILE), the
 * files held are closed and the caller goes on alone. Only the
 * open and the read move: what the listing decides (names, duplicates,
 * renames followed, events) stays in the caller's thread and in its order
 * (an entry that is not a message, listed while names are queued ahead, is
 * named when the name after it is handed out),
 * and a file the thread could not open, or that was renamed or removed
 * since (md_slot_stale), is tried again there, under its name or the one
 * it was renamed to.
 *
 * Duplicates (M4): a small open-addressing table maps XXH3-64 of each unique
 * part to its inode. The same inode again is one message caught between
 * link() and unlink() (Dovecot's maildir_fix_duplicate makes the same
 * test) and is handed out once; a different inode is reported with both
 * names. Only the unsorted order has to find the other name again, by a
 * second readdir(); that happens only when a duplicate exists.
 *
 * A Maildir that an IMAP server serves while it is read (SPEC §1.10,
 * Dovecot's maildir-sync.c): a flag change renames cur/X:2,S to
 * cur/X:2,FS, a first look moves new/X to cur/X:2,, so a file can be gone
 * from the name the listing saw. Its unique part is then looked up again
 * in new/ and cur/ (a map of the current names, built by one readdir of
 * each and built again when it is out of date), and the message is read
 * under its new name with the flags that name gives; only a unique part no
 * longer anywhere is a message that vanished (reported, exit status 1). A
 * name renamed while readdir() runs may be returned under neither name, so
 * once the listing is done new/ and cur/ are listed again and any unique
 * part not yet handed out (missed, or delivered meanwhile) follows, until
 * a listing finds none (at most MD_RELIST_PASSES).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "hashset.h"
#include "header.h"
#include "maildir_reader.h"
#include "report.h"
#include "util.h"

#define MD_BUFSIZE_DEFAULT (64 * 1024)
/* the first read for a header: most header blocks are 1-3 KB; a longer
 * one takes another read (doubling up to READER_HEADER_MAX) */
#define MD_HEADER_FIRST 4096
#define MD_KEYWORDS_MAX (64 * 1024)
#define MD_ARENA_BLOCK (64 * 1024)
#define MD_RELIST_PASSES 4      /* listings after the first, at most */
#define MD_MOVES_MAX 8          /* renames followed for one message */
#define MD_RELOCATE_LISTINGS 4  /* listings that must miss a file for it to be gone */
#define MD_AHEAD 32             /* files opened and read ahead, at most */
#define MD_AHEAD_AFTER 64       /* messages read before the thread starts */
#define MD_OPEN_FLAGS (O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)

enum { SUB_NEW = 0, SUB_CUR = 1 };
static const char *const sub_names[2] = { "new", "cur" };

struct md_entry {               /* one listed name (sorted orders) */
	const char *name;       /* in the arena */
	ino_t ino;
	time_t mtime;           /* READER_SORT_DATE only */
	unsigned long long dsec, dusec;  /* the name's seconds and .M microseconds,
	                                  * read once for the sort (md_entry_keys) */
	unsigned char sub;      /* SUB_NEW, SUB_CUR */
	bool has_m;             /* the name has .M<usec> after its seconds */
};

struct md_seen {                /* a name handed out, in order */
	uint64_t hash;          /* XXH3-64 of the unique part */
	ino_t ino;
	size_t idx;             /* entry index (sorted orders) */
};

struct md_arena {
	char **blocks;
	size_t nblocks;
	char *cur;
	size_t left;
};

struct md_now {                 /* relocation map slot */
	uint64_t hash;          /* XXH3-64 of the unique part */
	const char *name;       /* in now_arena; NULL = empty slot */
	unsigned char sub;
};

/* Entries of the listing that are not messages, held while reading ahead
 * until the name listed after them is taken: named in the listing's order. */
struct md_held {
	enum maildir_event ev;
	int sub;
	char *name;
};

struct md_helds {
	struct md_held *v;
	size_t n, cap;
};

/* One file opened and read ahead: a name of the listing, what became of it. */
struct md_slot {
	struct md_helds held;   /* entries listed before it, not messages */
	char *name;             /* the listing's name (owned) */
	ino_t ino;
	size_t idx;
	int sub;
	time_t opened;          /* when, in whole seconds (CLOCK_REALTIME_COARSE) */
	int fd;                 /* -1: err is openat()'s errno */
	int err;                /* errno of openat(), else of fstat(), else of read() */
	bool have_st;           /* fstat() gave st, a regular file or not */
	bool eof;               /* the read reached the file's end */
	struct stat st;
	char *buf;              /* the first bytes, a->first of room */
	size_t len;
	bool done;              /* atomic: read, by the thread or the caller */
	bool again;             /* not read ahead after all: the caller opens it */
};

/*
 * The queue: the caller fills slots from tail on and takes them at head;
 * next is the first slot no one has claimed, claimed (compare-and-swap) by
 * the thread, or by the caller while the one it must take is not read yet.
 * head <= next <= tail <= head + MD_AHEAD. The mutex and the
 * condition variables serve only to sleep: the thread when nothing is
 * queued, the caller when the thread is still reading the file it needs.
 */
struct md_ahead {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t work;    /* the thread waits for names */
	pthread_cond_t done;    /* the caller waits for a file */
	struct md_slot slot[MD_AHEAD];
	size_t head;            /* the caller's */
	size_t next, tail;      /* atomic */
	bool idle, waiting, stop;       /* atomic */
	int subfd[2];
	size_t first;           /* bytes of the first read */
	bool stat_it;
	bool joined;            /* the thread has ended */
	bool released;          /* and its files closed, short of descriptors */
	bool listed;            /* the first listing is all queued (the caller's) */
	int list_rc;            /* what md_next_candidate() said then */
	struct md_helds pending;/* entries listed after the last name queued */
};

struct maildir_reader {
	char *path;
	char *folder;
	struct reader_opts opts;
	int dirfd;
	int subfd[2];                   /* -1 when missing */

	struct md_entry *ents;          /* sorted orders */
	size_t nents, pos;
	struct md_arena arena;
	DIR *dir;                       /* READER_SORT_NONE */
	int dir_sub;

	struct md_seen *seen;           /* the names handed out, in order */
	size_t seen_n, seen_alloc;
	uint32_t *seen_slot;            /* open addressing: 1 + index into seen, 0 = free */
	size_t seen_cap;                /* slots, a power of two */

	/* current message */
	struct strbuf name;             /* file name (copy) */
	struct strbuf mpath;            /* path of the file */
	struct strbuf other;            /* second name for events */
	struct maildir_name mn;
	struct stat st;
	bool have_st;
	int cur_sub;                    /* SUB_NEW, SUB_CUR; -1 before the first */
	int fd;                         /* open file, or -1 */
	uint64_t off;                   /* bytes read from it */
	bool body_eof;                  /* nothing more to read from the file */
	char *hbuf;                     /* header buffer, grows to READER_HEADER_MAX */
	size_t hcap, hlen, hview, hleft;/* capacity, bytes read, view, leftover handed out */
	char *bbuf;                     /* body buffer, fixed */
	size_t bsize;

	struct maildir_counters c;
	char *kw[26];
	size_t index;

	/* names as they are now, by unique part (md_relocate) */
	struct md_now *now;
	size_t now_cap;
	struct md_arena now_arena;
	bool now_valid;
	int relists;                    /* listings after the first */
	bool tail;                      /* handing out what a relisting found */
	struct timespec list_mtime[2];  /* new/, cur/ when the last listing began */
	time_t list_time;

	struct md_ahead *ahead;         /* reading ahead, once started */
	enum reader_want ahead_want;
	bool ahead_off;                 /* not for this reader (want changed, no thread) */
	struct md_slot *taken;          /* the file md_follow() and md_read_header() use */
	struct md_helds *held_to;       /* listing entries go here (reading ahead) */
};

static const char *const event_names[] = {
	[MDE_DOT_NAME] = "dot-name",
	[MDE_NOT_REGULAR] = "not-regular",
	[MDE_SYMLINK] = "symlink",
	[MDE_DUP_UNIQ] = "duplicate-uniq",
	[MDE_DUP_INODE] = "duplicate-inode",
	[MDE_VANISHED] = "vanished",
	[MDE_UNREADABLE] = "unreadable",
	[MDE_EMPTY] = "empty",
	[MDE_MISSING_SUBDIR] = "missing-subdir",
	[MDE_BROKEN_FOLDER] = "broken-folder",
};

static const char *const event_texts[] = {
	[MDE_DOT_NAME] = "name starts with '.', not a message",
	[MDE_NOT_REGULAR] = "not a regular file, not a message",
	[MDE_SYMLINK] = "symbolic link, not followed",
	[MDE_DUP_UNIQ] = "same unique part as",
	[MDE_DUP_INODE] = "counted once, same file (inode) as",
	[MDE_VANISHED] = "vanished while reading (removed, not renamed)",
	[MDE_UNREADABLE] = "unable to read",
	[MDE_EMPTY] = "zero-length message",
	[MDE_MISSING_SUBDIR] = "missing subdirectory",
	[MDE_BROKEN_FOLDER] = "not a Maildir++ folder",
};

const char *
maildir_event_name(enum maildir_event ev)
{
	if ((size_t)ev >= ARRAY_SIZE(event_names) || event_names[ev] == NULL)
		return "unknown";
	return event_names[ev];
}

static void
md_emit(maildir_event_fn fn, void *arg, bool quiet, enum maildir_event ev,
        const char *path, const char *other, int err)
{
	if (fn != NULL) {
		fn(arg, ev, path, other, err);
		return;
	}
	/* a message that could not be read is an error (exit 1, DESIGN §4),
	 * said also with -q; the rest is only unusual */
	if (ev == MDE_UNREADABLE) {
		report_error(EXIT_PROBLEMS, "%s: %s: %s", path, event_texts[ev], strerror(err));
		return;
	}
	/* a message gone for good (not renamed: md_follow looked) was not
	 * processed: a warning, and exit status 1 */
	if (ev == MDE_VANISHED)
		report_status(EXIT_PROBLEMS);
	if (quiet)
		return;
	if (other != NULL)
		report_warn("%s: %s %s", path, event_texts[ev], other);
	else if (err != 0)
		report_warn("%s: %s: %s", path, event_texts[ev], strerror(err));
	else
		report_warn("%s: %s", path, event_texts[ev]);
}

/* Event about entry `name` of subdirectory `sub`. */
static void
md_event(struct maildir_reader *r, enum maildir_event ev, int sub,
         const char *name, const char *other, int err)
{
	char *p = xasprintf("%s/%s/%s", r->path, sub_names[sub], name);

	md_emit(r->opts.on_event, r->opts.event_arg, r->opts.quiet, ev, p, other, err);
	free(p);
}

/* ---- small helpers ------------------------------------------------------- */

static const char *
md_arena_dup(struct md_arena *a, const char *s, size_t len)
{
	if (a->left < len + 1) {
		size_t sz = len + 1 > MD_ARENA_BLOCK ? len + 1 : MD_ARENA_BLOCK;
		a->blocks = xrealloc(a->blocks, (a->nblocks + 1) * sizeof(*a->blocks));
		a->cur = a->blocks[a->nblocks++] = xmalloc(sz);
		a->left = sz;
	}
	char *d = a->cur;
	memcpy(d, s, len);
	d[len] = '\0';
	a->cur += len + 1;
	a->left -= len + 1;
	return d;
}

static void
md_arena_free(struct md_arena *a)
{
	for (size_t i = 0; i < a->nblocks; i++)
		free(a->blocks[i]);
	free(a->blocks);
	memset(a, 0, sizeof(*a));
}

bool
maildir_is_extra_file(const char *name)
{
	static const char *const exact[] = {
		"maildirsize", "maildirfolder", "dovecot-uidlist",
		"dovecot-uidlist.lock", "dovecot-keywords", "subscriptions",
	};
	for (size_t i = 0; i < ARRAY_SIZE(exact); i++)
		if (strcmp(name, exact[i]) == 0)
			return true;
	return strncmp(name, "dovecot.index", 13) == 0 ||
	       strncmp(name, "dovecot.list.index", 18) == 0 ||
	       strncmp(name, "courierimap", 11) == 0;
}

static unsigned long long
md_digits(const char **pp)
{
	unsigned long long v = 0;
	const char *p = *pp;

	for (; *p >= '0' && *p <= '9'; p++)
		v = v > (ULLONG_MAX - 9) / 10 ? ULLONG_MAX : v * 10 + (unsigned)(*p - '0');
	*pp = p;
	return v;
}

int
maildir_name_cmp_delivery(const char *a, const char *b)
{
	const char *pa = a, *pb = b;
	unsigned long long sa = md_digits(&pa), sb = md_digits(&pb);

	if (sa != sb)
		return sa < sb ? -1 : 1;
	if (pa[0] == '.' && pa[1] == 'M' && pb[0] == '.' && pb[1] == 'M') {
		pa += 2;
		pb += 2;
		unsigned long long ua = md_digits(&pa), ub = md_digits(&pb);
		if (ua != ub)
			return ua < ub ? -1 : 1;
	}
	return strcmp(a, b);
}

/* The figures maildir_name_cmp_delivery() reads from a name, read once
 * per entry instead of twice per comparison of the sort. */
static void
md_entry_keys(struct md_entry *e)
{
	const char *p = e->name;

	e->dsec = md_digits(&p);
	e->has_m = p[0] == '.' && p[1] == 'M';
	e->dusec = 0;
	if (e->has_m) {
		p += 2;
		e->dusec = md_digits(&p);
	}
}

static int
ent_cmp_delivery(const void *x, const void *y)
{
	const struct md_entry *a = x, *b = y;
	int c;

	/* maildir_name_cmp_delivery(a->name, b->name) from the keys */
	if (a->dsec != b->dsec)
		c = a->dsec < b->dsec ? -1 : 1;
	else if (a->has_m && b->has_m && a->dusec != b->dusec)
		c = a->dusec < b->dusec ? -1 : 1;
	else
		c = strcmp(a->name, b->name);
	return c != 0 ? c : (int)a->sub - (int)b->sub;
}

static int
ent_cmp_date(const void *x, const void *y)
{
	const struct md_entry *a = x, *b = y;

	if (a->mtime != b->mtime)
		return a->mtime < b->mtime ? -1 : 1;
	return ent_cmp_delivery(x, y);
}

static int
ent_cmp_name(const void *x, const void *y)
{
	const struct md_entry *a = x, *b = y;
	int c = strcmp(a->name, b->name);

	return c != 0 ? c : (int)a->sub - (int)b->sub;
}

int
reader_sort_parse(const char *s)
{
	static const char *const names[] = { "delivery", "date", "name", "none" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
reader_sort_name(enum reader_sort s)
{
	switch (s) {
	case READER_SORT_DELIVERY: return "delivery";
	case READER_SORT_DATE: return "date";
	case READER_SORT_NAME: return "name";
	case READER_SORT_NONE: return "none";
	}
	return "unknown";
}

/* ---- listing ------------------------------------------------------------- */

/*
 * Decide whether a directory entry is a message candidate (SPEC §5 M1).
 * Returns 1 (candidate), 0 (skipped, counted and reported) or -1 (gone).
 * *st_r is filled when a stat was needed or asked for (need_stat).
 */
static void
md_count_skip(struct maildir_reader *r, enum maildir_event ev)
{
	if (ev == MDE_DOT_NAME)
		r->c.dot_names++;
	else if (ev == MDE_SYMLINK)
		r->c.symlinks++;
	else
		r->c.not_regular++;
}

/* An entry of the listing that is not a message: counted and named now,
 * or held (r->held_to) until the name listed after it is handed out. */
static void
md_skip_entry(struct maildir_reader *r, enum maildir_event ev, int sub, const char *name)
{
	struct md_helds *h = r->held_to;

	if (h == NULL) {
		md_count_skip(r, ev);
		md_event(r, ev, sub, name, NULL, 0);
		return;
	}
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 4;
		h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
	}
	h->v[h->n++] = (struct md_held){ .ev = ev, .sub = sub, .name = xstrdup(name) };
}

/* Count and name the entries held, in order; with emit false only free them
 * (the caller stopped before they would have been listed). */
static void
md_helds_flush(struct maildir_reader *r, struct md_helds *h, bool emit)
{
	for (size_t i = 0; i < h->n; i++) {
		if (emit) {
			md_count_skip(r, h->v[i].ev);
			md_event(r, h->v[i].ev, h->v[i].sub, h->v[i].name, NULL, 0);
		}
		free(h->v[i].name);
	}
	h->n = 0;
}

static int
md_classify(struct maildir_reader *r, int sub, const struct dirent *de,
            bool need_stat, struct stat *st_r, bool *have_st_r)
{
	const char *name = de->d_name;
	unsigned char t = de->d_type;

	*have_st_r = false;
	if (name[0] == '.') {
		if (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))
			return 0;
		md_skip_entry(r, MDE_DOT_NAME, sub, name);
		return 0;
	}
	if (t == DT_UNKNOWN || (need_stat && t == DT_REG)) {
		if (fstatat(r->subfd[sub], name, st_r, AT_SYMLINK_NOFOLLOW) == -1)
			return -1;
		*have_st_r = true;
		t = S_ISREG(st_r->st_mode) ? DT_REG : S_ISLNK(st_r->st_mode) ? DT_LNK : DT_DIR;
	}
	if (t == DT_LNK) {
		md_skip_entry(r, MDE_SYMLINK, sub, name);
		return 0;
	}
	if (t != DT_REG) {
		md_skip_entry(r, MDE_NOT_REGULAR, sub, name);
		return 0;
	}
	return 1;
}

static DIR *
md_opendir(int fd)
{
	int d = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *dir;

	if (d == -1)
		return NULL;
	if ((dir = fdopendir(d)) == NULL)
		close(d);
	return dir;
}

static bool md_fds_back(struct maildir_reader *r, int err);

/* md_opendir() of a subdirectory, again after the files read ahead are
 * closed if descriptors ran short. */
static DIR *
md_opendir_sub(struct maildir_reader *r, int sub)
{
	DIR *d = md_opendir(r->subfd[sub]);

	if (d == NULL && md_fds_back(r, errno))
		d = md_opendir(r->subfd[sub]);
	return d;
}

/* openat() of an entry of a subdirectory, likewise. */
static int
md_openat_sub(struct maildir_reader *r, int sub, const char *name)
{
	int fd = openat(r->subfd[sub], name, MD_OPEN_FLAGS);

	if (fd == -1 && md_fds_back(r, errno))
		fd = openat(r->subfd[sub], name, MD_OPEN_FLAGS);
	return fd;
}

static size_t md_relist(struct maildir_reader *r);
static bool md_relocate(struct maildir_reader *r, int sub, const char *gone,
    struct strbuf *name_r, int *sub_r);
static bool md_dirs_changed(const struct maildir_reader *r);
static void md_list_began(struct maildir_reader *r);
static void md_seen_reserve(struct maildir_reader *r, size_t n);

/* Read new/ and cur/ into r->ents (sorted orders). */
static int
md_list(struct maildir_reader *r)
{
	size_t cap = 0;
	bool need_stat = r->opts.sort == READER_SORT_DATE;

	md_list_began(r);
	for (int sub = SUB_NEW; sub <= SUB_CUR; sub++) {
		if (r->subfd[sub] == -1)
			continue;
		DIR *d = md_opendir_sub(r, sub);
		if (d == NULL) {
			report_error_sys(EX_IOERR, "unable to list %s/%s", r->path, sub_names[sub]);
			return -1;
		}
		struct dirent *de;
		errno = 0;
		while ((de = readdir(d)) != NULL) {
			struct stat st;
			bool have_st;
			if (md_classify(r, sub, de, need_stat, &st, &have_st) != 1) {
				errno = 0;
				continue;
			}
			if (r->nents == cap) {
				cap = cap ? cap * 2 : 256;
				r->ents = xrealloc(r->ents, cap * sizeof(*r->ents));
			}
			struct md_entry *e = &r->ents[r->nents++];
			e->name = md_arena_dup(&r->arena, de->d_name, strlen(de->d_name));
			e->ino = have_st ? st.st_ino : de->d_ino;
			e->mtime = have_st ? st.st_mtime : 0;
			e->sub = (unsigned char)sub;
			md_entry_keys(e);
			errno = 0;
		}
		int e = errno;
		closedir(d);
		if (e != 0) {
			errno = e;
			report_error_sys(EX_IOERR, "unable to list %s/%s", r->path, sub_names[sub]);
			return -1;
		}
	}
	int (*cmp)(const void *, const void *) =
		r->opts.sort == READER_SORT_DATE ? ent_cmp_date :
		r->opts.sort == READER_SORT_NAME ? ent_cmp_name : ent_cmp_delivery;
	if (r->nents > 1)
		qsort(r->ents, r->nents, sizeof(*r->ents), cmp);
	md_seen_reserve(r, r->nents);
	return 0;
}

/*
 * Next candidate: sets r->name, *sub_r, *ino_r, *idx_r. 1, 0 at the end,
 * -1 on a readdir error (reported). Without may_relist, 0 also where the
 * first listing ends (a relisting needs the names before it handed out).
 */
static int
md_next_candidate(struct maildir_reader *r, int *sub_r, ino_t *ino_r, size_t *idx_r,
    bool may_relist)
{
	for (;;) {
		if (r->opts.sort != READER_SORT_NONE || r->tail) {
			if (r->pos >= r->nents) {
				if (!may_relist)
					return 0;       /* not before the names queued are seen */
				/* listed again while new/ or cur/ change (see the top) */
				if (r->relists >= MD_RELIST_PASSES || !md_dirs_changed(r))
					return 0;
				r->relists++;
				if (md_relist(r) == 0 && !md_dirs_changed(r))
					r->relists = MD_RELIST_PASSES;
				continue;
			}
			const struct md_entry *e = &r->ents[r->pos];
			*idx_r = r->pos++;
			sb_reset(&r->name);
			sb_appends(&r->name, e->name);
			*sub_r = e->sub;
			*ino_r = e->ino;
			return 1;
		}
		if (r->dir == NULL) {
			while (r->dir_sub <= SUB_CUR && r->subfd[r->dir_sub] == -1)
				r->dir_sub++;
			if (r->dir_sub > SUB_CUR) {
				r->tail = true;
				continue;
			}
			if (r->dir_sub == SUB_NEW || r->subfd[SUB_NEW] == -1)
				md_list_began(r);
			if ((r->dir = md_opendir_sub(r, r->dir_sub)) == NULL)
				goto fail;
		}
		errno = 0;
		struct dirent *de = readdir(r->dir);
		if (de == NULL) {
			if (errno != 0)
				goto fail;
			closedir(r->dir);
			r->dir = NULL;
			r->dir_sub++;
			continue;
		}
		struct stat st;
		bool have_st;
		if (md_classify(r, r->dir_sub, de, false, &st, &have_st) != 1)
			continue;
		sb_reset(&r->name);
		sb_appends(&r->name, de->d_name);
		*sub_r = r->dir_sub;
		*ino_r = have_st ? st.st_ino : de->d_ino;
		*idx_r = 0;
		return 1;
	}
fail:
	report_error_sys(EX_IOERR, "unable to list %s/%s", r->path, sub_names[r->dir_sub]);
	return -1;
}

/* ---- duplicates (M4) ----------------------------------------------------- */

/* Find the other name with this unique part and inode by reading the
 * directories again (unsorted order only; rare). */
static bool
md_find_other(struct maildir_reader *r, const char *uniq, size_t ulen, ino_t ino)
{
	for (int sub = SUB_NEW; sub <= SUB_CUR; sub++) {
		DIR *d = r->subfd[sub] == -1 ? NULL : md_opendir_sub(r, sub);
		struct dirent *de;
		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			struct maildir_name mn;
			if (de->d_ino != ino || de->d_name[0] == '.')
				continue;
			maildir_name_parse(de->d_name, strlen(de->d_name), &mn);
			if (mn.uniq_len != ulen || memcmp(mn.uniq, uniq, ulen) != 0)
				continue;
			if (strcmp(de->d_name, r->name.buf) == 0)
				continue;
			sb_reset(&r->other);
			sb_appendf(&r->other, "%s/%s", sub_names[sub], de->d_name);
			closedir(d);
			return true;
		}
		closedir(d);
	}
	return false;
}

/* The other entry of a duplicate: its "sub/name" into r->other. */
static bool
md_other_name(struct maildir_reader *r, const struct md_seen *s)
{
	if (r->opts.sort == READER_SORT_NONE)
		return md_find_other(r, r->mn.uniq, r->mn.uniq_len, s->ino);
	const struct md_entry *e = &r->ents[s->idx];
	struct maildir_name mn;
	maildir_name_parse(e->name, strlen(e->name), &mn);
	if (mn.uniq_len != r->mn.uniq_len || memcmp(mn.uniq, r->mn.uniq, mn.uniq_len) != 0)
		return false;           /* a hash collision, not a duplicate */
	sb_reset(&r->other);
	sb_appendf(&r->other, "%s/%s", sub_names[e->sub], e->name);
	return true;
}

/* Room for n names in the duplicate table, its slots at most two thirds
 * full. The table is a dense array of what was handed out and a small index
 * of 4-byte slots: fresh pages cost a fault each, and probing an empty
 * slot page before writing it costs two. The sorted orders know n after the
 * listing; an unsorted listing reserves from the directories' sizes. */
static void
md_seen_reserve(struct maildir_reader *r, size_t n)
{
	if (n > r->seen_alloc) {
		/* untouched room costs nothing: pages come in as they are written */
		r->seen_alloc = n > r->seen_alloc * 2 ? n : r->seen_alloc * 2;
		r->seen = xrealloc(r->seen, r->seen_alloc * sizeof(*r->seen));
	}
	if ((n + 1) * 3 <= r->seen_cap * 2)
		return;
	size_t ncap = r->seen_cap ? r->seen_cap : 1024;
	while ((n + 1) * 3 > ncap * 2)
		ncap *= 2;
	/* written at once: a page read while empty and written later is
	 * faulted in twice */
	uint32_t *ns = xmalloc(ncap * sizeof(*ns));
	memset(ns, 0, ncap * sizeof(*ns));
	for (size_t i = 0; i < r->seen_n; i++) {
		size_t j = (size_t)r->seen[i].hash & (ncap - 1);
		while (ns[j] != 0)
			j = (j + 1) & (ncap - 1);
		ns[j] = (uint32_t)(i + 1);
	}
	free(r->seen_slot);
	r->seen_slot = ns;
	r->seen_cap = ncap;
}

/* How many names new/ and cur/ may hold, from the sizes of the directories
 * (a Maildir name takes some 64 to 130 bytes of an ext4, xfs or btrfs
 * directory): an over-estimate costs 6 bytes a name (the slots and their
 * slack). At most 65,536: an ext4 directory keeps the size of the most
 * names it ever held, and a Maildir emptied of a million messages must not
 * cost megabytes; a larger one grows the table as it goes. */
static size_t
md_estimate(const struct maildir_reader *r)
{
	size_t n = 0;
	struct stat st;

	for (int sub = SUB_NEW; sub <= SUB_CUR; sub++)
		if (r->subfd[sub] != -1 && fstat(r->subfd[sub], &st) == 0 && st.st_size > 0)
			n += (size_t)st.st_size / 64;
	return n < 65536 ? n : 65536;
}

/* The first slot of hash h's chain; iterate with md_seen_step() while
 * r->seen_slot[j] != 0. */
static inline size_t
md_seen_first(const struct maildir_reader *r, uint64_t h)
{
	return (size_t)h & (r->seen_cap - 1);
}

static inline size_t
md_seen_step(const struct maildir_reader *r, size_t j)
{
	return (j + 1) & (r->seen_cap - 1);
}

static void
md_seen_insert(struct maildir_reader *r, uint64_t h, ino_t ino, size_t idx)
{
	if (r->seen_n >= UINT32_MAX - 1)
		return;         /* four billion names: no more duplicate checks */
	md_seen_reserve(r, r->seen_n + 1);
	r->seen[r->seen_n] = (struct md_seen){ .hash = h, .ino = ino, .idx = idx };
	size_t j = md_seen_first(r, h);
	while (r->seen_slot[j] != 0)
		j = md_seen_step(r, j);
	r->seen_slot[j] = (uint32_t)++r->seen_n;
}

/* Is r->other ("sub/name") still a name of inode ino? A client that
 * renamed the file between the listings of new/ and cur/ (new/X to
 * cur/X:2,S) makes one file show up under two names: counted once,
 * without a word; two names of one file at once are a hard link. */
static bool
md_still_there(struct maildir_reader *r, ino_t ino)
{
	struct stat st;

	/* nlink: a client toggling a flag back and forth (cur/X:2,S ->
	 * cur/X:2,FS -> cur/X:2,S) can bring the earlier name back between
	 * two looks; only a file with two links has two names at once */
	return fstatat(r->dirfd, r->other.buf, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_ino == ino && st.st_nlink > 1;
}

/*
 * Check the current name against the ones handed out. Returns true when it
 * is the same inode as an earlier name (skip it).
 */
static bool
md_dup_check(struct maildir_reader *r, int sub, ino_t ino, size_t idx)
{
	uint64_t h = XXH3_64bits(r->mn.uniq, r->mn.uniq_len);
	const struct md_seen *diff = NULL;

	if (r->seen_cap > 0) {
		for (size_t j = md_seen_first(r, h); r->seen_slot[j] != 0; j = md_seen_step(r, j)) {
			const struct md_seen *s = &r->seen[r->seen_slot[j] - 1];
			if (s->hash != h)
				continue;
			if (s->ino == ino) {
				if (md_other_name(r, s)) {
					if (md_still_there(r, ino)) {
						r->c.dup_inode++;
						md_event(r, MDE_DUP_INODE, sub, r->name.buf,
						    r->other.buf, 0);
					}
					return true;
				}
				/* the same file under a name it got since it was
				 * handed out (a client moved new/X to cur/X:2,S
				 * while readdir() went on): not a message again */
				if (r->opts.sort == READER_SORT_NONE || r->tail)
					return true;
			} else if (diff == NULL) {
				diff = s;
			}
		}
	}
	if (diff != NULL && md_other_name(r, diff)) {
		r->c.dup_uniq++;
		md_event(r, MDE_DUP_UNIQ, sub, r->name.buf, r->other.buf, 0);
	}
	md_seen_insert(r, h, ino, idx);
	return false;
}

/* ---- reading one file ---------------------------------------------------- */

static void
md_close_file(struct maildir_reader *r)
{
	if (r->fd != -1)
		close(r->fd);
	r->fd = -1;
}

/*
 * Open the current file; 0, -2 when there is no such name (the caller
 * looks for a rename, md_relocate), or -1 after an event (the message is
 * skipped).
 * With stat_it, fstat() says it is a regular file and gives size and mtime;
 * without (READER_WANT_HEADER) readdir's d_type said so, O_NOFOLLOW and
 * O_NONBLOCK keep links and FIFOs out, and maildir_reader_stat() makes the
 * fstat() later for the few messages whose figures need it.
 */
static int
md_opened(struct maildir_reader *r, int sub, int fd, int err, bool stat_it, bool have_st,
    const struct stat *st)
{
	if (fd == -1) {
		if (err == ENOENT) {
			return -2;      /* the caller looks for it (md_relocate) */
		} else if (err == ELOOP) {
			r->c.symlinks++;
			md_event(r, MDE_SYMLINK, sub, r->name.buf, NULL, 0);
		} else {
			r->c.unreadable++;
			md_event(r, MDE_UNREADABLE, sub, r->name.buf, NULL, err);
		}
		return -1;
	}
	if (stat_it && (!have_st || !S_ISREG(st->st_mode))) {
		close(fd);
		if (have_st) {
			r->c.not_regular++;
			md_event(r, MDE_NOT_REGULAR, sub, r->name.buf, NULL, 0);
		} else {
			r->c.unreadable++;
			md_event(r, MDE_UNREADABLE, sub, r->name.buf, NULL, err);
		}
		return -1;
	}
	if (stat_it) {
		r->st = *st;
		r->have_st = true;
	}
	r->fd = fd;
	r->off = 0;
	r->body_eof = false;
	return 0;
}

static int
md_open_file(struct maildir_reader *r, int sub, bool stat_it)
{
	struct stat st;
	int fd = md_openat_sub(r, sub, r->name.buf);
	int err = fd == -1 ? errno : 0;
	bool have_st = false;

	if (fd != -1 && stat_it && !(have_st = fstat(fd, &st) == 0))
		err = errno;
	return md_opened(r, sub, fd, err, stat_it, have_st, &st);
}

/*
 * read_full() on the current file, with the end found from the size fstat()
 * gave: a short read that reaches that size is the end, so a message file
 * smaller than the buffer takes one read(2), not a second one that returns
 * 0 (a third of the system calls of `stats` on a typical Maildir). A file
 * that grew since (not a delivered message) is read on to its real end.
 */
static ssize_t
md_read_fd(int fd, void *buf, size_t len, int64_t size, uint64_t *off, bool *eof_r)
{
	size_t got = 0;

	*eof_r = false;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			*eof_r = true;
			break;
		}
		got += (size_t)n;
		*off += (uint64_t)n;
		if (got < len && size >= 0 && *off >= (uint64_t)size) {
			*eof_r = true;
			break;
		}
	}
	return (ssize_t)got;
}

static ssize_t
md_read(struct maildir_reader *r, void *buf, size_t len, bool *eof_r)
{
	return md_read_fd(r->fd, buf, len, r->have_st ? (int64_t)r->st.st_size : -1, &r->off, eof_r);
}

/* Without the size from fstat(): one read(2), the end only where it says 0
 * (a header block ends well before it in all but header-only messages). */
static ssize_t
md_read_once_fd(int fd, void *buf, size_t len, uint64_t *off, bool *eof_r)
{
	ssize_t n;

	while ((n = read(fd, buf, len)) == -1 && errno == EINTR)
		;
	if (n > 0)
		*off += (uint64_t)n;
	*eof_r = n == 0;
	return n;
}

/* The first bytes of a file (want: the first read of md_read_header()),
 * sized from fstat() when there is one. */
static ssize_t
md_read_first(int fd, void *buf, size_t len, const struct stat *st, uint64_t *off, bool *eof_r)
{
	return st ? md_read_fd(fd, buf, len, (int64_t)st->st_size, off, eof_r)
	    : md_read_once_fd(fd, buf, len, off, eof_r);
}

/* Bytes of the first read of md_read_header(). */
static size_t
md_first_bytes(const struct maildir_reader *r, enum reader_want want)
{
	size_t first = want == READER_WANT_FULL ? r->bsize : MD_HEADER_FIRST;

	return first > READER_HEADER_MAX ? READER_HEADER_MAX : first;
}

/* ---- reading ahead ------------------------------------------------------- */

/* The thread's part for one name: open, fstat(), the first read. */
static void
md_fetch(const struct md_ahead *a, struct md_slot *s)
{
	uint64_t off = 0;

	struct timespec now;

	s->have_st = s->eof = false;
	s->len = 0;
	s->err = 0;
	clock_gettime(CLOCK_REALTIME_COARSE, &now);
	s->opened = now.tv_sec;
	s->fd = openat(a->subfd[s->sub], s->name, MD_OPEN_FLAGS);
	if (s->fd == -1) {
		s->err = errno;
		return;
	}
	if (a->stat_it) {
		if (fstat(s->fd, &s->st) == -1) {
			s->err = errno;
			return;
		}
		s->have_st = true;
		if (!S_ISREG(s->st.st_mode))
			return;
	}
	ssize_t n = md_read_first(s->fd, s->buf, a->first, s->have_st ? &s->st : NULL, &off,
	    &s->eof);
	if (n == -1)
		s->err = errno;
	else
		s->len = (size_t)n;
}

#define LOAD(p) __atomic_load_n(p, __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n(p, v, __ATOMIC_SEQ_CST)

/* Claim the first unclaimed slot below tail: its index, or SIZE_MAX. */
static size_t
md_ahead_claim(struct md_ahead *a)
{
	size_t n = LOAD(&a->next);

	while (n < LOAD(&a->tail))
		if (__atomic_compare_exchange_n(&a->next, &n, n + 1, false, __ATOMIC_SEQ_CST,
		    __ATOMIC_SEQ_CST))
			return n;
	return SIZE_MAX;
}

static void
md_ahead_fetch(struct md_ahead *a, size_t n)
{
	struct md_slot *s = &a->slot[n % MD_AHEAD];

	md_fetch(a, s);
	STORE(&s->done, true);
	if (LOAD(&a->waiting)) {
		pthread_mutex_lock(&a->mu);
		pthread_cond_broadcast(&a->done);
		pthread_mutex_unlock(&a->mu);
	}
}

static void *
md_ahead_main(void *arg)
{
	struct md_ahead *a = arg;

	while (!LOAD(&a->stop)) {
		size_t n = md_ahead_claim(a);
		if (n != SIZE_MAX) {
			md_ahead_fetch(a, n);
			continue;
		}
		pthread_mutex_lock(&a->mu);
		STORE(&a->idle, true);
		while (LOAD(&a->next) == LOAD(&a->tail) && !LOAD(&a->stop))
			pthread_cond_wait(&a->work, &a->mu);
		STORE(&a->idle, false);
		pthread_mutex_unlock(&a->mu);
	}
	return NULL;
}

static void
md_slot_close(struct md_slot *s)
{
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
}

/* The slots, their descriptors and held events, and the lock: the thread
 * is joined or was never started. */
static void
md_ahead_free(struct maildir_reader *r, struct md_ahead *a)
{
	for (size_t i = 0; i < MD_AHEAD; i++) {
		md_slot_close(&a->slot[i]);
		md_helds_flush(r, &a->slot[i].held, false);
		free(a->slot[i].held.v);
		free(a->slot[i].name);
		free(a->slot[i].buf);
	}
	md_helds_flush(r, &a->pending, false);
	free(a->pending.v);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->work);
	pthread_cond_destroy(&a->done);
	free(a);
}

/* Start reading ahead for this want; false when no thread could start. */
static bool
md_ahead_start(struct maildir_reader *r, enum reader_want want)
{
	struct rlimit rl;

	/* not with one CPU, nor where descriptors are few */
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 8 * MD_AHEAD))
		return false;
	struct md_ahead *a = xcalloc(1, sizeof(*a));

	a->first = md_first_bytes(r, want);
	a->stat_it = want != READER_WANT_HEADER;
	a->subfd[0] = r->subfd[0];
	a->subfd[1] = r->subfd[1];
	for (size_t i = 0; i < MD_AHEAD; i++) {
		a->slot[i].fd = -1;
		a->slot[i].buf = xmalloc(a->first);
	}
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->work, NULL);
	pthread_cond_init(&a->done, NULL);
	if (thread_start(&a->th, md_ahead_main, a) != 0) {
		md_ahead_free(r, a);
		return false;
	}
	r->ahead = a;
	r->ahead_want = want;
	return true;
}

/* The thread ends; what it has not read stays queued, for the caller to
 * open (again: with its descriptor closed, the open was short of them). */
static void
md_ahead_join(struct md_ahead *a, bool again)
{
	if (!a->joined) {
		pthread_mutex_lock(&a->mu);
		STORE(&a->stop, true);
		pthread_cond_signal(&a->work);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->th, NULL);
		a->joined = true;
	}
	for (size_t n = a->head; again && n < a->tail; n++) {
		struct md_slot *s = &a->slot[n % MD_AHEAD];
		md_slot_close(s);
		s->again = s->done = true;
	}
	if (again)
		a->listed = true;
}

/* Short of descriptors (EMFILE, ENFILE) while files read ahead hold some:
 * close them and read ahead no more; true when there were some to close
 * (the caller tries again). */
static bool
md_fds_back(struct maildir_reader *r, int err)
{
	struct md_ahead *a = r->ahead;

	if ((err != EMFILE && err != ENFILE) || a == NULL || a->released)
		return false;
	md_ahead_join(a, true);
	a->released = true;
	errno = err;
	return true;
}

static void
md_ahead_stop(struct maildir_reader *r)
{
	struct md_ahead *a = r->ahead;

	if (a == NULL)
		return;
	md_ahead_join(a, false);
	md_ahead_free(r, a);
	r->ahead = NULL;
	r->taken = NULL;
}

/* Queue the listing's next names, up to MD_AHEAD ahead of the caller, when
 * half the queue or more is taken. The slots from tail on are the
 * caller's. */
static void
md_ahead_fill(struct maildir_reader *r)
{
	struct md_ahead *a = r->ahead;
	size_t tail = a->tail, t = tail;

	if (a->listed || tail - a->head > MD_AHEAD / 2)
		return;
	while (!a->listed && t - a->head < MD_AHEAD) {
		int sub;
		ino_t ino;
		size_t idx;
		r->held_to = &a->pending;
		int rc = md_next_candidate(r, &sub, &ino, &idx, false);
		r->held_to = NULL;
		if (rc != 1) {
			a->listed = true;
			a->list_rc = rc;
			break;
		}
		struct md_slot *s = &a->slot[t++ % MD_AHEAD];
		struct md_helds h = s->held;    /* emptied when it was taken */
		s->held = a->pending;
		a->pending = h;
		free(s->name);
		s->name = xstrndup(r->name.buf, r->name.len);
		s->sub = sub;
		s->ino = ino;
		s->idx = idx;
		s->fd = -1;
		s->done = s->again = false;
	}
	if (t == tail)
		return;
	STORE(&a->tail, t);
	if (LOAD(&a->idle)) {
		pthread_mutex_lock(&a->mu);
		pthread_cond_signal(&a->work);
		pthread_mutex_unlock(&a->mu);
	}
}

/*
 * Renamed or removed since it was opened? Then it is taken by its name
 * again, which follows a rename as without reading ahead. A directory not
 * changed for two seconds before the open (its mtime; a file system may
 * keep whole seconds, or two) has not had the name changed since; else the
 * name is looked up.
 */
static bool
md_slot_stale(const struct md_ahead *a, const struct md_slot *s)
{
	struct stat st;

	if (fstat(a->subfd[s->sub], &st) == 0 && st.st_mtime < s->opened - 2)
		return false;
	return fstatat(a->subfd[s->sub], s->name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    st.st_ino != s->ino;
}

/* Spins of the caller on a file the thread is reading, before it sleeps. */
#define MD_SPINS 4000
#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

/*
 * The next name with its file opened and read, as md_next_candidate()
 * gives names: 1 (r->taken is the file), 0 when the queue is empty and the
 * caller goes on by itself, -1 (a listing error) when the queue is empty
 * after one. While the thread reads the file the caller needs, the caller
 * reads the next one no one has claimed.
 */
static int
md_ahead_take(struct maildir_reader *r, int *sub_r, ino_t *ino_r, size_t *idx_r)
{
	struct md_ahead *a = r->ahead;
	struct md_slot *s;

	md_ahead_fill(r);
	if (a->head == a->tail) {
		md_helds_flush(r, &a->pending, true);
		return a->list_rc == -1 ? -1 : 0;
	}
	s = &a->slot[a->head % MD_AHEAD];
	md_helds_flush(r, &s->held, true);
	while (!LOAD(&s->done)) {
		size_t n = md_ahead_claim(a);
		if (n != SIZE_MAX) {
			md_ahead_fetch(a, n);
			continue;
		}
		for (int i = 0; i < MD_SPINS && !LOAD(&s->done); i++)
			CPU_RELAX();
		if (LOAD(&s->done))
			break;
		pthread_mutex_lock(&a->mu);
		STORE(&a->waiting, true);
		while (!LOAD(&s->done))
			pthread_cond_wait(&a->done, &a->mu);
		STORE(&a->waiting, false);
		pthread_mutex_unlock(&a->mu);
	}
	/* out of descriptors: read ahead no more, and close what it holds
	 * (the caller's own open would fail too) */
	if (s->fd == -1)
		md_fds_back(r, s->err);
	if (s->fd != -1 && md_slot_stale(a, s)) {
		md_slot_close(s);
		s->again = true;
	}
	a->head++;
	sb_reset(&r->name);
	sb_appends(&r->name, s->name);
	*sub_r = s->sub;
	*ino_r = s->ino;
	*idx_r = s->idx;
	r->taken = s->again ? NULL : s;
	return 1;
}

/* The file taken is not read from here on (a duplicate, a want it was not
 * read for). */
static void
md_ahead_drop(struct maildir_reader *r)
{
	if (r->taken != NULL)
		md_slot_close(r->taken);
	r->taken = NULL;
}

/* md_read_header()'s first read, made by md_fetch(): into r->hbuf. */
static ssize_t
md_ahead_bytes(struct maildir_reader *r, bool *eof_r)
{
	struct md_slot *s = r->taken;

	r->taken = NULL;
	if (s->err != 0) {
		errno = s->err;
		return -1;
	}
	if (r->hcap == r->ahead->first) {
		char *t = r->hbuf;
		r->hbuf = s->buf;
		s->buf = t;
	} else {
		memcpy(r->hbuf, s->buf, s->len);
	}
	r->off = s->len;
	*eof_r = s->eof;
	return (ssize_t)s->len;
}

/*
 * Read the header block into r->hbuf: until header_block_len() finds the
 * empty line, the file ends, or READER_HEADER_MAX bytes are held. Bytes read
 * past the view are the first body bytes. 0, or -1 after an event.
 */
static int
md_read_header(struct maildir_reader *r, int sub, enum reader_want want, bool *complete_r)
{
	size_t first = md_first_bytes(r, want);
	bool complete = false;

	header_index_drop();            /* r->hbuf is rewritten */
	if (r->hcap < first) {
		free(r->hbuf);
		r->hbuf = xmalloc(first);
		r->hcap = first;
	}
	r->hlen = 0;
	/* read `step` bytes, twice as many each time the header goes on (the
	 * buffer may be larger, grown by an earlier message) */
	for (size_t step = first;;) {
		bool eof;
		size_t room = r->hcap - r->hlen < step ? r->hcap - r->hlen : step;
		ssize_t n = r->taken ? md_ahead_bytes(r, &eof)
		    : md_read_first(r->fd, r->hbuf + r->hlen, room, r->have_st ? &r->st : NULL,
		    &r->off, &eof);
		if (n == -1) {
			r->c.unreadable++;
			md_event(r, MDE_UNREADABLE, sub, r->name.buf, NULL, errno);
			md_close_file(r);
			return -1;
		}
		r->hlen += (size_t)n;
		r->hview = header_block_len(r->hbuf, r->hlen, &complete);
		if (complete || eof || r->hlen >= READER_HEADER_MAX) {
			r->body_eof = eof;
			break;
		}
		if (r->hlen == r->hcap) {
			size_t ncap = r->hcap * 2 > READER_HEADER_MAX ? READER_HEADER_MAX : r->hcap * 2;
			r->hbuf = xrealloc(r->hbuf, ncap);
			r->hcap = ncap;
		}
		if (step < READER_HEADER_MAX / 2)
			step *= 2;
	}
	if (!complete) {
		r->hview = r->hlen;
		r->c.no_header_end++;
	}
	r->hleft = r->hview;
	*complete_r = complete;
	return 0;
}

int
maildir_reader_body(struct maildir_reader *r, struct iovec *iov, int *iovcnt)
{
	if (*iovcnt < 1 || r->cur_sub < 0) {
		errno = EINVAL;
		*iovcnt = 0;
		return -1;
	}
	*iovcnt = 0;
	if (r->fd == -1 && !r->body_eof) {
		/* Header not read (NAME/STAT wanted): everything is body. A file
		 * renamed since is opened under its new name (the message handed
		 * out keeps the name it had). */
		int rc = md_open_file(r, r->cur_sub, true);
		struct strbuf moved = STRBUF_INIT;
		int nsub;
		if (rc == -2 && md_relocate(r, r->cur_sub, r->name.buf, &moved, &nsub)) {
			int fd = md_openat_sub(r, nsub, moved.buf);
			struct stat st;
			rc = -2;
			if (fd != -1 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
				r->fd = fd;
				r->st = st;
				r->have_st = true;
				r->off = 0;
				r->body_eof = false;
				rc = 0;
			} else if (fd != -1) {
				close(fd);
			}
		}
		sb_free(&moved);
		if (rc == -2) {
			r->c.vanished++;
			md_event(r, MDE_VANISHED, r->cur_sub, r->name.buf, NULL, 0);
		}
		if (rc != 0) {
			r->body_eof = true;
			return -1;
		}
		r->hlen = r->hleft = 0;
	}
	if (r->hleft < r->hlen) {
		iov[0].iov_base = r->hbuf + r->hleft;
		iov[0].iov_len = r->hlen - r->hleft;
		r->hleft = r->hlen;
		*iovcnt = 1;
		return 1;
	}
	if (r->body_eof) {
		md_close_file(r);
		return 0;
	}
	bool eof;
	ssize_t n = md_read(r, r->bbuf, r->bsize, &eof);
	if (n == -1) {
		report_error_sys(EX_IOERR, "unable to read %s", r->mpath.buf);
		md_close_file(r);
		r->body_eof = true;
		return -1;
	}
	if (eof)
		r->body_eof = true;
	if (n == 0) {
		md_close_file(r);
		return 0;
	}
	iov[0].iov_base = r->bbuf;
	iov[0].iov_len = (size_t)n;
	*iovcnt = 1;
	return 1;
}

/* ---- the message loop ---------------------------------------------------- */

/* Location, name fields and size of the current candidate into *m. */
static void
md_fill(struct maildir_reader *r, struct message *m, int sub)
{
	memset(m, 0, sizeof(*m));
	maildir_name_parse(r->name.buf, r->name.len, &r->mn);
	sb_reset(&r->mpath);
	sb_appends(&r->mpath, r->path);
	sb_appendc(&r->mpath, '/');
	sb_appends(&r->mpath, sub_names[sub]);
	sb_appendc(&r->mpath, '/');
	sb_append(&r->mpath, r->name.buf, r->name.len);
	m->origin = ORIGIN_MAILDIR;
	m->mailbox = r->path;
	m->offset = -1;
	m->folder = r->folder;
	m->subdir = sub_names[sub];
	m->filename = r->name.buf;
	m->path = r->mpath.buf;
	m->flags = r->mn.flags;
	m->keywords = r->mn.keywords;
	m->in_cur = sub == SUB_CUR;
	m->info = r->mn.info;
	m->size = r->mn.size_s;
}

/* lstat (no open) for READER_WANT_STAT; 0, -2 (no such name), or -1 after
 * an event. */
static int
md_stat(struct maildir_reader *r, int sub)
{
	if (fstatat(r->subfd[sub], r->name.buf, &r->st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno == ENOENT) {
			return -2;
		} else {
			r->c.unreadable++;
			md_event(r, MDE_UNREADABLE, sub, r->name.buf, NULL, errno);
		}
		return -1;
	}
	if (!S_ISREG(r->st.st_mode)) {
		bool lnk = S_ISLNK(r->st.st_mode);
		if (lnk)
			r->c.symlinks++;
		else
			r->c.not_regular++;
		md_event(r, lnk ? MDE_SYMLINK : MDE_NOT_REGULAR, sub, r->name.buf, NULL, 0);
		return -1;
	}
	r->have_st = true;
	return 0;
}

/* ---- files renamed or missed while we read ------------------------------- */

/* A listing begins: remember the directories' mtimes. */
static void
md_list_began(struct maildir_reader *r)
{
	struct stat st;

	r->list_time = time(NULL);
	for (int sub = SUB_NEW; sub <= SUB_CUR; sub++) {
		memset(&r->list_mtime[sub], 0, sizeof r->list_mtime[sub]);
		if (r->subfd[sub] != -1 && fstat(r->subfd[sub], &st) == 0)
			r->list_mtime[sub] = st.st_mtim;
	}
}

/* Did an entry of new/ or cur/ change since the last listing began (or
 * too recently to tell, on a file system counting whole seconds)? */
static bool
md_dirs_changed(const struct maildir_reader *r)
{
	struct stat st;

	for (int sub = SUB_NEW; sub <= SUB_CUR; sub++) {
		if (r->subfd[sub] == -1 || fstat(r->subfd[sub], &st) == -1)
			continue;
		if (st.st_mtim.tv_sec != r->list_mtime[sub].tv_sec ||
		    st.st_mtim.tv_nsec != r->list_mtime[sub].tv_nsec ||
		    (st.st_mtim.tv_nsec == 0 && st.st_mtim.tv_sec >= r->list_time - 1))
			return true;
	}
	return false;
}

/* The unique part of a name (flags.h's rule). */
static void
md_uniq(const char *name, const char **u_r, size_t *len_r)
{
	struct maildir_name mn;

	maildir_name_parse(name, strlen(name), &mn);
	*u_r = mn.uniq;
	*len_r = mn.uniq_len;
}

/* A listable message name: no dot name, a regular file (d_type, or one
 * fstatat when the file system does not say). Quiet: the first listing
 * reported the others. */
static bool
md_quiet_candidate(struct maildir_reader *r, int sub, const struct dirent *de)
{
	struct stat st;

	if (de->d_name[0] == '.')
		return false;
	if (de->d_type == DT_REG)
		return true;
	if (de->d_type != DT_UNKNOWN)
		return false;
	return fstatat(r->subfd[sub], de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode);
}

static void
md_now_add(struct maildir_reader *r, uint64_t h, const char *name, int sub)
{
	size_t j = (size_t)h & (r->now_cap - 1);

	while (r->now[j].name != NULL)
		j = (j + 1) & (r->now_cap - 1);
	r->now[j] = (struct md_now){ .hash = h, .sub = (unsigned char)sub,
	    .name = md_arena_dup(&r->now_arena, name, strlen(name)) };
}

/* Map every unique part of new/ and cur/ to its name as it is now. */
static void
md_now_build(struct maildir_reader *r)
{
	size_t n = 0;

	md_arena_free(&r->now_arena);
	memset(r->now, 0, r->now_cap * sizeof *r->now);
	for (int sub = SUB_NEW; sub <= SUB_CUR; sub++) {
		DIR *d = r->subfd[sub] == -1 ? NULL : md_opendir_sub(r, sub);
		struct dirent *de;
		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			if (!md_quiet_candidate(r, sub, de))
				continue;
			if ((n + 1) * 2 > r->now_cap) {
				/* grow: start over with twice the room */
				closedir(d);
				free(r->now);
				r->now_cap = r->now_cap ? r->now_cap * 4 : 1024;
				r->now = xcalloc(r->now_cap, sizeof *r->now);
				md_now_build(r);
				return;
			}
			const char *u;
			size_t ulen;
			md_uniq(de->d_name, &u, &ulen);
			md_now_add(r, XXH3_64bits(u, ulen), de->d_name, sub);
			n++;
		}
		closedir(d);
	}
	r->now_valid = true;
}

static const struct md_now *
md_now_find(const struct maildir_reader *r, const char *u, size_t ulen)
{
	uint64_t h = XXH3_64bits(u, ulen);

	if (r->now_cap == 0)
		return NULL;
	for (size_t j = (size_t)h & (r->now_cap - 1); r->now[j].name != NULL;
	     j = (j + 1) & (r->now_cap - 1)) {
		const char *v;
		size_t vlen;
		if (r->now[j].hash != h)
			continue;
		md_uniq(r->now[j].name, &v, &vlen);
		if (vlen == ulen && memcmp(v, u, ulen) == 0)
			return &r->now[j];
	}
	return NULL;
}

/*
 * The current name is gone: where is its unique part now? true with its
 * name as new/ and cur/ list it now in *name_r and its subdirectory in
 * *sub_r (the same name again when a rename was undone meanwhile), false
 * when MD_RELOCATE_LISTINGS listings in a row do not hold it.
 */
static bool
md_relocate(struct maildir_reader *r, int sub, const char *gone, struct strbuf *name_r,
    int *sub_r)
{
	const char *u;
	size_t ulen;
	struct strbuf uniq = STRBUF_INIT;
	bool found = false;

	md_uniq(gone, &u, &ulen);
	sb_append(&uniq, u, ulen);
	/* readdir() itself may miss a file renamed while it runs: a unique
	 * part is gone only when several listings agree */
	for (int attempt = 0; attempt < MD_RELOCATE_LISTINGS + 1 && !found; attempt++) {
		if (attempt > 0 || !r->now_valid) {
			if (r->now_cap == 0) {
				r->now_cap = 1024;
				r->now = xcalloc(r->now_cap, sizeof *r->now);
			}
			md_now_build(r);
		}
		const struct md_now *e = md_now_find(r, uniq.buf, uniq.len);
		/* the name that just failed, from a map older than the failure:
		 * out of date, build it again; from a map built since, the file
		 * is back under that name (a flag set and cleared again) */
		bool stale = e != NULL && attempt == 0 && e->sub == sub && strcmp(e->name, gone) == 0;
		if (e == NULL || stale) {
			r->now_valid = false;
			continue;
		}
		sb_reset(name_r);
		sb_appends(name_r, e->name);
		*sub_r = e->sub;
		found = true;
	}
	sb_free(&uniq);
	return found;
}

static int
ent_cmp_for(const struct maildir_reader *r, const void *a, const void *b)
{
	return r->opts.sort == READER_SORT_DATE ? ent_cmp_date(a, b) :
	    r->opts.sort == READER_SORT_NAME ? ent_cmp_name(a, b) : ent_cmp_delivery(a, b);
}

static const struct maildir_reader *md_sort_reader;
static int
ent_cmp_tail(const void *a, const void *b)
{
	return ent_cmp_for(md_sort_reader, a, b);
}

/*
 * List new/ and cur/ again once the listing is handed out: names whose
 * unique part was not handed out yet (readdir() missed a file renamed
 * while it ran, or it arrived since) are appended to r->ents, sorted as
 * the listing was. Returns how many.
 */
static size_t
md_relist(struct maildir_reader *r)
{
	size_t first = r->nents, cap = r->nents;
	struct hashset64 found = { 0 };

	md_list_began(r);
	for (int sub = SUB_NEW; sub <= SUB_CUR; sub++) {
		DIR *d = r->subfd[sub] == -1 ? NULL : md_opendir_sub(r, sub);
		struct dirent *de;
		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			if (!md_quiet_candidate(r, sub, de))
				continue;
			const char *u;
			size_t ulen;
			md_uniq(de->d_name, &u, &ulen);
			uint64_t h = XXH3_64bits(u, ulen);
			bool seen = false;
			for (size_t j = r->seen_cap ? md_seen_first(r, h) : 0;
			     r->seen_cap && r->seen_slot[j] != 0 && !seen; j = md_seen_step(r, j))
				seen = r->seen[r->seen_slot[j] - 1].hash == h;
			if (seen || !hashset64_add(&found, h))
				continue;
			if (r->nents == cap) {
				cap = cap ? cap * 2 : 64;
				r->ents = xrealloc(r->ents, cap * sizeof(*r->ents));
			}
			struct md_entry *e = &r->ents[r->nents++];
			e->name = md_arena_dup(&r->arena, de->d_name, strlen(de->d_name));
			e->ino = de->d_ino;
			e->mtime = 0;
			e->sub = (unsigned char)sub;
			md_entry_keys(e);
			if (r->opts.sort == READER_SORT_DATE) {
				struct stat st;
				if (fstatat(r->subfd[sub], de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
					e->mtime = st.st_mtime;
			}
		}
		closedir(d);
	}
	hashset64_free(&found);
	if (r->nents - first > 1) {
		md_sort_reader = r;
		qsort(r->ents + first, r->nents - first, sizeof(*r->ents), ent_cmp_tail);
	}
	return r->nents - first;
}

/*
 * Open (or, for READER_WANT_STAT, lstat) the current name, following it
 * when it was renamed since the listing (md_relocate): r->name, *m and
 * *sub_r then describe the file under its new name. 0, or -1 after an
 * event: MDE_VANISHED only when the unique part is nowhere any more.
 */
static int
md_follow(struct maildir_reader *r, struct message *m, int *sub_r, enum reader_want want)
{
	struct strbuf moved = STRBUF_INIT;
	int rc;

	for (int moves = 0;; moves++) {
		struct md_slot *t = r->taken;
		if (t != NULL) {        /* opened ahead (want is the ahead's) */
			rc = md_opened(r, *sub_r, t->fd, t->err, want != READER_WANT_HEADER,
			    t->have_st, &t->st);
			t->fd = -1;     /* r->fd now, or closed */
			if (rc != 0)
				r->taken = NULL;
		} else {
			rc = want == READER_WANT_STAT ? md_stat(r, *sub_r) :
			    md_open_file(r, *sub_r, want != READER_WANT_HEADER);
		}
		if (rc != -2)
			break;
		int nsub;
		if (moves >= MD_MOVES_MAX || !md_relocate(r, *sub_r, r->name.buf, &moved, &nsub)) {
			r->c.vanished++;
			md_event(r, MDE_VANISHED, *sub_r, r->name.buf, NULL, 0);
			rc = -1;
			break;
		}
		sb_reset(&r->name);
		sb_append(&r->name, moved.buf, moved.len);
		*sub_r = nsub;
		md_fill(r, m, nsub);
	}
	sb_free(&moved);
	return rc;
}

int
maildir_reader_next(struct maildir_reader *r, struct message *m, enum reader_want want)
{
	int sub, rc;
	ino_t ino;
	size_t idx;

	md_close_file(r);
	md_ahead_drop(r);
	r->cur_sub = -1;
	if (r->ahead == NULL && !r->ahead_off && r->index >= MD_AHEAD_AFTER &&
	    (want == READER_WANT_HEADER || want == READER_WANT_FULL))
		r->ahead_off = !md_ahead_start(r, want);
	for (;;) {
		rc = r->ahead ? md_ahead_take(r, &sub, &ino, &idx) : 0;
		if (rc == 1 && want != r->ahead_want) {
			md_ahead_drop(r);       /* read for another want: open it again */
			r->ahead->listed = true;/* and queue no more */
		}
		if (rc == 0 && (rc = md_next_candidate(r, &sub, &ino, &idx, true)) != 1)
			return rc;
		if (rc == -1)
			return rc;
		r->have_st = false;
		r->body_eof = false;
		r->hlen = r->hleft = r->hview = 0;
		md_fill(r, m, sub);
		if (md_dup_check(r, sub, ino, idx)) {
			md_ahead_drop(r);
			continue;
		}
		if (want >= READER_WANT_STAT && md_follow(r, m, &sub, want) == -1)
			continue;
		if (want >= READER_WANT_HEADER) {
			bool complete;
			if (md_read_header(r, sub, want, &complete) == -1)
				continue;
			m->header = r->hbuf;
			m->header_len = r->hview;
			m->header_complete = complete;
			header_index_pin(m->header, m->header_len);
		}
		break;
	}
	r->cur_sub = sub;
	if (r->have_st) {
		if (m->size < 0)
			m->size = (int64_t)r->st.st_size;
		m->env_time = r->st.st_mtime;
		m->env_time_ok = true;
		if (r->st.st_size == 0) {
			r->c.empty++;
			md_event(r, MDE_EMPTY, sub, r->name.buf, NULL, 0);
		}
	} else if (r->fd != -1 && r->hlen == 0 && r->body_eof) {
		if (m->size < 0)
			m->size = 0;
		r->c.empty++;
		md_event(r, MDE_EMPTY, sub, r->name.buf, NULL, 0);
	}
	if (sub == SUB_NEW && r->mn.info != NULL)
		r->c.info_in_new++;
	if (r->mn.anomalies != 0)
		r->c.name_anomalies++;
	m->index = r->index++;
	r->c.messages++;
	return 1;
}

/* ---- open, close, accessors ---------------------------------------------- */

static int
md_open_sub(struct maildir_reader *r, const char *name, bool required)
{
	int fd = openat(r->dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd == -1 && !required) {
		/* there but unreadable (EACCES, EMFILE): its messages are not
		 * read, which is a problem to count, not a missing directory */
		int e = errno;
		bool absent = e == ENOENT || e == ENOTDIR || e == ELOOP;
		char *p = xasprintf("%s/%s", r->path, name);
		if (!absent && strcmp(name, "tmp") != 0)
			r->c.unreadable++;
		md_emit(r->opts.on_event, r->opts.event_arg, r->opts.quiet,
		        absent ? MDE_MISSING_SUBDIR : MDE_UNREADABLE, p, NULL, absent ? 0 : e);
		free(p);
		errno = e;
	}
	return fd;
}

int
maildir_reader_open(struct maildir_reader **r_r, const char *path, const struct reader_opts *opts)
{
	struct maildir_reader *r = xcalloc(1, sizeof(*r));

	*r_r = NULL;
	if (opts != NULL)
		r->opts = *opts;
	r->path = xstrdup(path);
	r->folder = xstrdup(r->opts.folder != NULL ? r->opts.folder : "");
	r->fd = -1;
	r->cur_sub = -1;
	r->subfd[0] = r->subfd[1] = -1;
	r->bsize = r->opts.bufsize ? r->opts.bufsize : MD_BUFSIZE_DEFAULT;
	r->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->dirfd == -1) {
		report_error_sys(EX_NOINPUT, "unable to open maildir %s", path);
		maildir_reader_close(r);
		return EX_NOINPUT;
	}
	if ((r->subfd[SUB_CUR] = md_open_sub(r, "cur", true)) == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			report_error(EX_NOINPUT, "%s: not a maildir (no cur/ directory)", path);
		else if (errno == ELOOP)
			report_error(EX_NOINPUT, "%s: not a maildir (cur/ is a symbolic link)", path);
		else   /* EMFILE, EACCES, EIO: say so, not "not a maildir" */
			report_error_sys(EX_NOINPUT, "unable to open %s/cur", path);
		maildir_reader_close(r);
		return EX_NOINPUT;
	}
	if ((r->subfd[SUB_NEW] = md_open_sub(r, "new", false)) == -1)
		r->c.missing_new = true;
	int t = md_open_sub(r, "tmp", false);
	if (t == -1)
		r->c.missing_tmp = true;
	else
		close(t);
	r->bbuf = xmalloc(r->bsize);
	if (maildir_keywords_read(r->dirfd, r->kw) == -1 && errno != ENOENT)
		report_warn_sys("unable to read %s/dovecot-keywords", path);
	if (r->opts.sort != READER_SORT_NONE && md_list(r) == -1) {
		maildir_reader_close(r);
		return EX_IOERR;
	}
	if (r->opts.sort == READER_SORT_NONE)
		md_seen_reserve(r, md_estimate(r));
	*r_r = r;
	return 0;
}

void
maildir_reader_close(struct maildir_reader *r)
{
	if (r == NULL)
		return;
	md_close_file(r);
	md_ahead_stop(r);
	if (r->dir != NULL)
		closedir(r->dir);
	for (int i = 0; i < 2; i++)
		if (r->subfd[i] != -1)
			close(r->subfd[i]);
	if (r->dirfd != -1)
		close(r->dirfd);
	md_arena_free(&r->arena);
	maildir_keywords_free(r->kw);
	sb_free(&r->name);
	sb_free(&r->mpath);
	sb_free(&r->other);
	free(r->ents);
	free(r->seen);
	free(r->seen_slot);
	free(r->now);
	md_arena_free(&r->now_arena);
	header_index_drop();            /* r->hbuf may be the pinned header */
	free(r->hbuf);
	free(r->bbuf);
	free(r->path);
	free(r->folder);
	free(r);
}

const struct maildir_name *
maildir_reader_name(const struct maildir_reader *r)
{
	return r->cur_sub < 0 ? NULL : &r->mn;
}

const struct stat *
maildir_reader_stat(struct maildir_reader *r)
{
	if (r->cur_sub < 0)
		return NULL;
	/* READER_WANT_HEADER opened the file without it */
	if (!r->have_st && r->fd != -1 && fstat(r->fd, &r->st) == 0)
		r->have_st = true;
	return r->have_st ? &r->st : NULL;
}

const struct maildir_counters *
maildir_reader_counters(const struct maildir_reader *r)
{
	return &r->c;
}

void
maildir_reader_buffer(const struct maildir_reader *r, const char **buf_r, size_t *len_r)
{
	*buf_r = r->bbuf;
	*len_r = r->bsize;
}

int
maildir_reader_dirfd(const struct maildir_reader *r)
{
	return r->dirfd;
}

/* ---- dovecot-keywords (SPEC §1.10) --------------------------------------- */

const char *
maildir_reader_keyword(const struct maildir_reader *r, char letter)
{
	if (letter < 'a' || letter > 'z')
		return NULL;
	return r->kw[letter - 'a'];
}

void
maildir_keywords_free(char *names[26])
{
	for (int i = 0; i < 26; i++) {
		free(names[i]);
		names[i] = NULL;
	}
}

/* One "<index> <name>" line; other lines are ignored, as Dovecot does. */
static void
md_keyword_line(const char *p, size_t n, char *names[26])
{
	size_t i = 0;
	unsigned long idx = 0;

	while (i < n && p[i] >= '0' && p[i] <= '9' && idx < 100)
		idx = idx * 10 + (unsigned long)(p[i++] - '0');
	if (i == 0 || i >= n || p[i] != ' ' || idx >= 26)
		return;
	i++;
	if (n > i && p[n - 1] == '\r')
		n--;
	if (n <= i || memchr(p + i, '\0', n - i) != NULL)
		return;
	free(names[idx]);
	names[idx] = xstrndup(p + i, n - i);
}

int
maildir_keywords_read(int dirfd, char *names[26])
{
	int fd = openat(dirfd, "dovecot-keywords", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;

	for (int i = 0; i < 26; i++)
		names[i] = NULL;
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		int e = errno;
		bool bad = e == 0 || !S_ISREG(st.st_mode);
		close(fd);
		errno = bad ? EINVAL : e;
		return -1;
	}
	char *buf = xmalloc(MD_KEYWORDS_MAX);
	ssize_t n = read_full(fd, buf, MD_KEYWORDS_MAX);
	int e = errno;
	close(fd);
	if (n == -1) {
		free(buf);
		errno = e;
		return -1;
	}
	for (size_t s = 0, i = 0; i <= (size_t)n; i++) {
		if (i == (size_t)n || buf[i] == '\n') {
			md_keyword_line(buf + s, i - s, names);
			s = i + 1;
		}
	}
	free(buf);
	return 0;
}

/* ---- folder tree walk (SPEC §1.8) ---------------------------------------- */

#define MD_WALK_DEPTH 64

struct maildir_walk {
	char *root;
	struct maildir_folder *f;
	size_t n, cap, pos;
	maildir_event_fn on_event;
	void *event_arg;
};

static void
walk_add(struct maildir_walk *w, const char *name, const char *dir, enum maildir_layout layout)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->f = xrealloc(w->f, w->cap * sizeof(*w->f));
	}
	w->f[w->n].name = xstrdup(name);
	w->f[w->n].path = dir[0] ? xasprintf("%s/%s", w->root, dir) : xstrdup(w->root);
	w->f[w->n].layout = layout;
	w->n++;
}

static void
walk_event(struct maildir_walk *w, enum maildir_event ev, const char *rel)
{
	char *p = xasprintf("%s/%s", w->root, rel);

	md_emit(w->on_event, w->event_arg, false, ev, p, NULL, 0);
	free(p);
}

/* True when `name` below fd is a real directory (no symlink). */
static bool
walk_is_dir(int fd, const char *name, unsigned char dtype, bool *link_r)
{
	struct stat st;

	*link_r = dtype == DT_LNK;
	if (dtype != DT_UNKNOWN)
		return dtype == DT_DIR;
	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return false;
	*link_r = S_ISLNK(st.st_mode);
	return S_ISDIR(st.st_mode);
}

static bool
walk_has_cur(int fd)
{
	struct stat st;

	return fstatat(fd, "cur", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* Dovecot LAYOUT=fs: real subdirectories at any depth that hold cur/. */
static void
walk_fs(struct maildir_walk *w, int fd, const char *rel, int depth)
{
	DIR *d = md_opendir(fd);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		bool lnk;
		if (n[0] == '.' || strcmp(n, "cur") == 0 || strcmp(n, "new") == 0 ||
		    strcmp(n, "tmp") == 0 || maildir_is_extra_file(n))
			continue;
		if (!walk_is_dir(fd, n, de->d_type, &lnk))
			continue;
		int sfd = openat(fd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd == -1)
			continue;
		char *srel = rel[0] ? xasprintf("%s/%s", rel, n) : xstrdup(n);
		if (walk_has_cur(sfd))
			walk_add(w, srel, srel, MAILDIR_LAYOUT_FS);
		if (depth < MD_WALK_DEPTH)
			walk_fs(w, sfd, srel, depth + 1);
		free(srel);
		close(sfd);
	}
	closedir(d);
}

/* Maildir++: top-level ".X" directories with cur/. */
static void
walk_maildirpp(struct maildir_walk *w, int fd)
{
	DIR *d = md_opendir(fd);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		bool lnk;
		if (n[0] != '.' || n[1] == '\0' || (n[1] == '.' && n[2] == '\0'))
			continue;
		bool dir = walk_is_dir(fd, n, de->d_type, &lnk);
		if (lnk) {
			walk_event(w, MDE_SYMLINK, n);
			continue;
		}
		if (!dir)
			continue;       /* a dot file: Maildir++ clients ignore it */
		int sfd = openat(fd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		bool ok = sfd != -1 && n[1] != '.' && walk_has_cur(sfd);
		if (sfd != -1)
			close(sfd);
		if (ok)
			walk_add(w, n + 1, n, MAILDIR_LAYOUT_MAILDIRPP);
		else
			walk_event(w, MDE_BROKEN_FOLDER, n);
	}
	closedir(d);
}

static int
walk_cmp(const void *x, const void *y)
{
	const struct maildir_folder *a = x, *b = y;

	return strcmp(a->name, b->name);
}

struct maildir_walk *
maildir_walk_open(const char *root, unsigned layouts, maildir_event_fn on_event, void *event_arg)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1) {
		report_error_sys(EX_NOINPUT, "unable to open %s", root);
		return NULL;
	}
	struct maildir_walk *w = xcalloc(1, sizeof(*w));
	w->root = xstrdup(root);
	w->on_event = on_event;
	w->event_arg = event_arg;
	if (walk_has_cur(fd))
		walk_add(w, "", "", MAILDIR_LAYOUT_MAILDIRPP);
	size_t first = w->n;
	if (layouts & MAILDIR_LAYOUT_MAILDIRPP)
		walk_maildirpp(w, fd);
	if (layouts & MAILDIR_LAYOUT_FS)
		walk_fs(w, fd, "", 0);
	close(fd);
	if (w->n - first > 1)
		qsort(w->f + first, w->n - first, sizeof(*w->f), walk_cmp);
	return w;
}

int
maildir_walk_next(struct maildir_walk *w, const struct maildir_folder **f_r)
{
	if (w->pos >= w->n)
		return 0;
	*f_r = &w->f[w->pos++];
	return 1;
}

void
maildir_walk_close(struct maildir_walk *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->n; i++) {
		free((char *)w->f[i].name);
		free((char *)w->f[i].path);
	}
	free(w->f);
	free(w->root);
	free(w);
}
