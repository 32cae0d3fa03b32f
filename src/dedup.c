/*
 * dedup.c: `mailshift dedup [OPTIONS] MAILBOX...` (DESIGN §3 dedup,
 * mailshift-dedup(1); SPEC §3.6 key extraction, §2.8 flags, §5 O7 mbox
 * rewrites).
 *
 *   scan:    every message of every mailbox is read once and hashed
 *            (dedupkey.h); a message is remembered as 64 bytes: its hash,
 *            its place (mailbox index, mbox offset or an offset into one
 *            arena of maildir names), size, time and flags. One open
 *            addressing table of 32-bit indexes finds the set of a hash;
 *            the set's head remembers which member is kept (--keep).
 *   verify:  each duplicate and its kept copy are read again and their key
 *            streams compared byte for byte: equal hashes of different
 *            content (a collision) never count as duplicates.
 *   act:     flags of the removed copies are merged onto the kept one
 *            (maildir: rename; mbox: journaled header rewrite), the
 *            duplicates are moved (--move-to, made durable first) and then
 *            deleted (maildir: unlink; mbox: one journaled in-place rewrite
 *            per mailbox, SPEC §5 O7).
 * With an action, every mbox is write-locked before it is read and stays
 * locked until the end, so the offsets found by the scan are the ones the
 * rewrite removes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <popt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>
#include <xxhash.h>

#include "commands.h"
#include "convert.h"
#include "dedupkey.h"
#include "flags.h"
#include "hashset.h"
#include "header.h"
#include "lock.h"
#include "maildir_writer.h"
#include "mbox_writer.h"
#include "reader.h"
#include "report.h"
#include "testhook.h"
#include "util.h"

enum keep { KEEP_FIRST, KEEP_OLDEST, KEEP_NEWEST, KEEP_SMALLEST, KEEP_LARGEST };
static const char *const keep_names[] = { "first", "oldest", "newest", "smallest", "largest" };

enum action { ACT_REPORT, ACT_DELETE, ACT_MOVE };

/* Flags a removed copy passes on to the kept one (not T, not D). */
#define MERGE_FLAGS (MF_SEEN | MF_REPLIED | MF_FLAGGED | MF_PASSED)

enum { ST_DUP = 1u << 0, ST_DIFFERS = 1u << 1, ST_HASDUP = 1u << 2, ST_CUR = 1u << 3 };

/* One message: 64 bytes. */
struct dent {
	uint64_t hi, lo;        /* key hash */
	uint64_t loc;           /* mbox: offset of the From_ line; maildir: arena offset */
	int64_t size;
	int64_t time;
	uint32_t mbox;          /* index in run.mb */
	uint32_t head;          /* first member of its set */
	uint32_t keep;          /* heads: the member kept */
	uint32_t keywords;
	uint32_t next;          /* kept copies of one hash that differ: a chain
	                         * from the set's kept copy (index + 1, 0 ends) */
	uint8_t flags, addflags, state;
};
_Static_assert(sizeof(struct dent) == 64, "a message costs 64 bytes");

struct mbx {
	char *path;
	bool maildir;
	bool locked;
	bool bad;               /* reading failed: nothing is removed from it */
	struct mbox_lock lk;
	enum mbox_variant variant;
	off_t end;              /* mbox: just past the last message */
	size_t first, count;    /* its dents */
	dev_t dev;
	ino_t ino;
};

struct run {
	enum dedup_key key;
	enum keep keep;
	enum action action;
	char *move_to;          /* popt's string, freed at the end */
	bool qexists;           /* --move-to exists: its device and inode */
	dev_t qdev;
	ino_t qino;
	bool recursive;
	bool per_folder;        /* --scope=folder: each mailbox on its own */
	int lock_timeout;
	struct mbx *mb;
	size_t nmb;
	struct dent *d;
	size_t nd, capd;
	uint32_t *tab;          /* index + 1, 0 empty */
	size_t tabcap, heads;
	char *names;            /* maildir names "cur/NAME\0" */
	size_t names_len, names_cap;
	struct renamed_probe probe; /* a Maildir's names now, to follow renames */
	/* figures */
	uint64_t sets, dups, bytes, collisions, deleted, moved, flagged;
};

static bool
acting(const struct run *run)
{
	return run->action != ACT_REPORT && !opt_common.dry_run;
}

/* ---- the set table ----------------------------------------------------------- */

static size_t
tab_slot(const struct run *run, uint64_t hi, uint64_t lo)
{
	uint64_t h = lo ^ (hi * 0x9e3779b97f4a7c15ULL);
	return (size_t)(h ^ (h >> 31)) & (run->tabcap - 1);
}

static void
tab_grow(struct run *run)
{
	size_t ncap = run->tabcap ? run->tabcap * 2 : 4096;
	uint32_t *old = run->tab;
	size_t ocap = run->tabcap;

	run->tab = xcalloc(ncap, sizeof *run->tab);
	run->tabcap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		if (old[i] == 0)
			continue;
		const struct dent *e = &run->d[old[i] - 1];
		size_t j = tab_slot(run, e->hi, e->lo);
		while (run->tab[j])
			j = (j + 1) & (ncap - 1);
		run->tab[j] = old[i];
	}
	free(old);
}

/* Should `a` be kept rather than the current `b`? Ties keep b (earlier). */
static bool
keep_better(enum keep keep, const struct dent *a, const struct dent *b)
{
	switch (keep) {
	case KEEP_OLDEST:   return a->time < b->time;
	case KEEP_NEWEST:   return a->time > b->time;
	case KEEP_SMALLEST: return a->size < b->size;
	case KEEP_LARGEST:  return a->size > b->size;
	case KEEP_FIRST:    break;
	}
	return false;
}

/* Put dent i (hash set) into its set. */
static void
set_add(struct run *run, uint32_t i)
{
	struct dent *e = &run->d[i];

	if ((run->heads + 1) * 2 > run->tabcap)
		tab_grow(run);
	size_t j = tab_slot(run, e->hi, e->lo);
	while (run->tab[j]) {
		struct dent *h = &run->d[run->tab[j] - 1];
		if (h->hi == e->hi && h->lo == e->lo) {
			e->head = run->tab[j] - 1;
			if (keep_better(run->keep, e, &run->d[h->keep]))
				h->keep = i;
			return;
		}
		j = (j + 1) & (run->tabcap - 1);
	}
	run->tab[j] = i + 1;
	e->head = e->keep = i;
	run->heads++;
}

static struct dent *
dent_new(struct run *run, uint32_t mbox)
{
	if (run->nd == UINT32_MAX - 1)
		report_fatal(EX_SOFTWARE, "more than %u messages", UINT32_MAX - 1);
	if (run->nd == run->capd) {
		run->capd = run->capd ? run->capd * 2 : 4096;
		run->d = xrealloc(run->d, run->capd * sizeof *run->d);
	}
	struct dent *e = &run->d[run->nd];
	memset(e, 0, sizeof *e);
	e->mbox = mbox;
	return e;
}

static uint64_t
name_add(struct run *run, const char *subdir, const char *name)
{
	size_t a = strlen(subdir), b = strlen(name), need = a + b + 2;
	uint64_t off = run->names_len;

	if (run->names_len + need > run->names_cap) {
		run->names_cap = (run->names_cap + need) * 2;
		run->names = xrealloc(run->names, run->names_cap);
	}
	char *p = run->names + run->names_len;
	memcpy(p, subdir, a);
	p[a] = '/';
	memcpy(p + a + 1, name, b + 1);
	run->names_len += need;
	return off;
}

/* "maildir/cur/NAME" or "mbox:OFFSET" (malloced). */
static char *
dent_path(const struct run *run, const struct dent *e)
{
	const struct mbx *mb = &run->mb[e->mbox];

	if (mb->maildir)
		return xasprintf("%s/%s", mb->path, run->names + e->loc);
	return xasprintf("%s:%llu", mb->path, (unsigned long long)e->loc);
}

/* End of an mbox message: the next one's offset, or the mailbox's end. */
static off_t
dent_end(const struct run *run, size_t i)
{
	const struct mbx *mb = &run->mb[run->d[i].mbox];
	return i + 1 < mb->first + mb->count ? (off_t)run->d[i + 1].loc : mb->end;
}

/*
 * A maildir message whose file is gone under the name the scan saw: a
 * client renamed it since (a flag change, new/ -> cur/). It is found by its
 * base name, first in the folder's listing made at the last such question,
 * then in one made now; its name, flags and place are then the new ones.
 * 0, or -1 when it is not there: removed, which is said (exit status 1)
 * when `say`.
 */
static int
dent_follow(struct run *run, struct dent *e, bool say)
{
	const struct mbx *mb = &run->mb[e->mbox];
	char *old = xstrdup(run->names + e->loc);
	const char *fn = strchr(old, '/') + 1;
	const char *sub, *held = NULL;

	for (int fresh = 0; fresh < 2 && held == NULL; fresh++) {
		if (fresh)
			renamed_probe_free(&run->probe);
		held = renamed_probe_find(&run->probe, mb->path, fn, &sub);
		/* the listing's name is the one that failed: too old */
		if (held != NULL && strcmp(held, fn) == 0 && strncmp(old, sub, 3) == 0)
			held = NULL;
	}
	if (held == NULL) {
		if (say)
			report_error(EXIT_PROBLEMS, "%s/%s: vanished since it was read (removed, not "
			    "renamed)", mb->path, old);
		free(old);
		return -1;
	}
	struct maildir_name mn;
	maildir_name_parse(held, strlen(held), &mn);
	e->loc = name_add(run, sub, held);
	e->flags = (uint8_t)mn.flags;
	e->keywords = mn.keywords;
	e->state = (uint8_t)((e->state & ~ST_CUR) | (strcmp(sub, "cur") == 0 ? ST_CUR : 0));
	free(old);
	return 0;
}

/* ---- reading ------------------------------------------------------------- */

/* A reader of an mbox: over the locked mailbox's descriptor when it is
 * locked (lock.h: the path is never opened twice). */
static int
mbox_open(struct mbx *mb, struct reader **r_r, struct reader_opts *ro)
{
	ro->allow = 1u << SOURCE_MBOX | 1u << SOURCE_EMPTY;
	int rc = mb->locked ? reader_open_fd(r_r, mbox_lock_fd(&mb->lk), mb->path, ro) :
	    reader_open(r_r, mb->path, ro);
	if (rc != 0)
		report_status(rc);
	return rc == 0 ? 0 : -1;
}

/* Hash one message (header view given, body through the reader: an mbox's
 * to its end, a maildir file's as far as the key needs it). */
static int
scan_message(struct dedupkey *k, const struct message *m, struct reader *r, struct dent *e)
{
	bool stream = reader_type(r) != SOURCE_MAILDIR;
	struct iovec iov[16];
	int n, rc = 0;

	dedupkey_feed(k, m->header, m->header_len);
	while (dedupkey_wants_more(k) || stream) {
		n = ARRAY_SIZE(iov);
		rc = reader_body(r, iov, &n);
		if (rc != 1)
			break;
		for (int i = 0; i < n; i++)
			dedupkey_feed(k, iov[i].iov_base, iov[i].iov_len);
	}
	if (e->size < 0)
		e->size = stream ? reader_message_size(r, m) : (int64_t)k->bytes;
	struct dedup_hash h;
	dedupkey_finish(k, &h);
	e->hi = h.hi;
	e->lo = h.lo;
	return rc == -1 ? -1 : 0;
}

static int
scan_mbox(struct run *run, uint32_t mi, struct dedupkey *k)
{
	struct mbx *mb = &run->mb[mi];
	struct reader_opts ro = { .mbox = { .quiet = opt_common.quiet != 0 } };
	struct reader *r;
	struct message m;
	int rc;

	if (mbox_open(mb, &r, &ro) == -1)
		return -1;
	mb->first = run->nd;
	while ((rc = reader_next(r, &m, READER_WANT_FULL)) == 1) {
		struct dent *e = dent_new(run, mi);
		struct mbox_state st;
		e->loc = (uint64_t)m.offset;
		e->size = -1;
		e->time = m.env_time_ok ? (int64_t)m.env_time : 0;
		flags_from_mbox_header(m.header, m.header_len, &st);
		e->flags = (uint8_t)st.flags;
		e->state = st.old || st.flags ? ST_CUR : 0;
		mbox_state_free(&st);
		if ((rc = scan_message(k, &m, r, e)) == -1)
			break;
		e->size = reader_message_size(r, &m);
		run->nd++;
		mb->end = reader_message_end(r);
		if (mb->locked)
			mbox_lock_touch(&mb->lk);
	}
	mb->count = run->nd - mb->first;
	mb->variant = reader_mbox_variant(r);
	reader_close(r);
	if (rc == -1) {
		mb->bad = true;
		report_status(EX_DATAERR);
		return -1;
	}
	return 0;
}

static int
scan_maildir(struct run *run, uint32_t mi, struct dedupkey *k)
{
	struct mbx *mb = &run->mb[mi];
	struct reader_opts ro = { .sort = READER_SORT_DELIVERY, .quiet = opt_common.quiet != 0 };
	struct reader *r;
	struct message m;
	int rc;

	if ((rc = reader_open(&r, mb->path, &ro)) != 0) {
		report_status(rc);
		mb->bad = true;
		return -1;
	}
	mb->first = run->nd;
	while ((rc = reader_next(r, &m, READER_WANT_FULL)) == 1) {
		struct dent *e = dent_new(run, mi);
		e->loc = name_add(run, m.subdir, m.filename);
		e->size = m.size;
		e->time = m.env_time_ok ? (int64_t)m.env_time : 0;
		e->flags = (uint8_t)m.flags;
		e->keywords = m.keywords;
		e->state = m.in_cur ? ST_CUR : 0;
		if (scan_message(k, &m, r, e) == -1)
			continue;   /* unreadable: reported, not in any set */
		run->nd++;
	}
	mb->count = run->nd - mb->first;
	reader_close(r);
	if (rc == -1) {
		mb->bad = true;
		return -1;
	}
	return 0;
}

typedef void (*bytes_fn)(void *arg, const void *p, size_t n);

/* A maildir message's bytes, from its file. */
static int
stream_maildir(struct run *run, struct dent *e, bytes_fn fn, void *arg)
{
	char *path = dent_path(run, e);
	char buf[65536];
	ssize_t n;
	int fd;

	/* followed while a client renames it (three times at most) */
	for (int tries = 0; (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1 &&
	    errno == ENOENT && tries < 3; tries++) {
		free(path);
		if (dent_follow(run, e, true) == -1)
			return -1;
		path = dent_path(run, e);
	}
	if (fd == -1) {
		report_error_sys(EXIT_PROBLEMS, "unable to open %s", path);
		free(path);
		return -1;
	}
	while ((n = read_full(fd, buf, sizeof buf)) > 0)
		fn(arg, buf, (size_t)n);
	if (n == -1)
		report_error_sys(EX_IOERR, "unable to read %s", path);
	close(fd);
	free(path);
	return n == -1 ? -1 : 0;
}

/*
 * An mbox message's bytes as the reader hands them out (header, unquoted
 * body): an mbox reader started at the message's From_ line, with the
 * variant found by the scan. A compressed mailbox is read up to there.
 */
static int
stream_mbox(struct run *run, struct dent *e, bytes_fn fn, void *arg)
{
	struct mbx *mb = &run->mb[e->mbox];
	struct reader_opts ro = {
		.mbox = { .variant = mb->variant, .bufsize = 65536, .quiet = true },
		.start = (off_t)e->loc,
	};
	struct reader *r;
	struct message m;
	struct iovec iov[16];
	int rc, n;

	if (mbox_open(mb, &r, &ro) == -1)
		return -1;
	if ((rc = reader_next(r, &m, READER_WANT_FULL)) == 1) {
		fn(arg, m.header, m.header_len);
		n = ARRAY_SIZE(iov);
		while ((rc = reader_body(r, iov, &n)) == 1) {
			for (int i = 0; i < n; i++)
				fn(arg, iov[i].iov_base, iov[i].iov_len);
			n = ARRAY_SIZE(iov);
		}
	} else {
		rc = -1;
	}
	reader_close(r);
	if (rc == -1)
		report_error(EX_IOERR, "%s:%llu: unable to read the message again", mb->path,
		    (unsigned long long)e->loc);
	return rc;
}

static int
stream_message(struct run *run, struct dent *e, bytes_fn fn, void *arg)
{
	return run->mb[e->mbox].maildir ? stream_maildir(run, e, fn, arg)
	    : stream_mbox(run, e, fn, arg);
}

static void
feed_a(void *arg, const void *p, size_t n)
{
	dedupkey_cmp_a(arg, p, n);
}

static void
feed_b(void *arg, const void *p, size_t n)
{
	dedupkey_cmp_b(arg, p, n);
}

/* 1 when the two copies are equal on the key's content, 0 when not, -1 on error. */
static int
copies_equal(struct run *run, struct dent *kept, struct dent *dup)
{
	struct dedupkey_cmp c;
	int rc = -1;

	dedupkey_cmp_init(&c, run->key);
	if (stream_message(run, kept, feed_a, &c) == 0 && stream_message(run, dup, feed_b, &c) == 0)
		rc = dedupkey_cmp_equal(&c) ? 1 : 0;
	dedupkey_cmp_free(&c);
	return rc;
}

/* ---- verify and report --------------------------------------------------- */

static const char *
action_word(const struct run *run)
{
	if (run->action == ACT_DELETE)
		return opt_common.dry_run ? "would delete " : "delete ";
	if (run->action == ACT_MOVE)
		return opt_common.dry_run ? "would move " : "move ";
	return "";
}

static void
print_dup(const struct run *run, const struct dent *dup, const struct dent *kept)
{
	char *dp = dent_path(run, dup), *kp = dent_path(run, kept);

	if (opt_common.json) {
		static const char *const act[] = { "report", "delete", "move" };
		fputs("{\"duplicate\":", stdout);
		json_cstring(stdout, dp);
		fputs(",\"kept\":", stdout);
		json_cstring(stdout, kp);
		printf(",\"bytes\":%lld,\"action\":\"%s\",\"dry_run\":%s}\n", (long long)dup->size,
		    act[run->action], opt_common.dry_run ? "true" : "false");
	} else if (!opt_common.quiet) {
		printf("%s%s duplicate of %s\n", action_word(run), dp, kp);
	}
	free(dp);
	free(kp);
}

static void
mark_dup(struct run *run, struct dent *e, struct dent *k)
{
	e->state |= ST_DUP;
	if (!(k->state & ST_HASDUP))
		run->sets++;
	k->state |= ST_HASDUP;
	k->addflags |= (uint8_t)(e->flags & MERGE_FLAGS & ~k->flags);
	run->dups++;
	run->bytes += e->size > 0 ? (uint64_t)e->size : 0;
	print_dup(run, e, k);
}

/*
 * Compare message i with the kept copy of its hash set, then with the
 * members that already differed from it (a hash collision: equal hashes,
 * different content). Equal to one of them: a duplicate of it. Equal to
 * none: it is kept too and joins that chain, so later true copies of it
 * are still found.
 */
static void
verify_one(struct run *run, uint32_t i)
{
	struct dent *e = &run->d[i];
	struct dent *keep = &run->d[run->d[e->head].keep];

	for (struct dent *k = keep;; k = &run->d[k->next - 1]) {
		int eq = copies_equal(run, k, e);
		if (eq == 1) {
			mark_dup(run, e, k);
			return;
		}
		if (eq == -1)
			return;     /* reported; neither removed nor kept as a key */
		if (k->next == 0)
			break;
	}
	char *dp = dent_path(run, e), *kp = dent_path(run, keep);
	e->state |= ST_DIFFERS;
	e->next = keep->next;
	keep->next = i + 1;
	run->collisions++;
	report_warn("%s has the same hash as %s but differs: kept", dp, kp);
	free(dp);
	free(kp);
}

/* Every message that is not the kept copy of its hash set. */
static void
verify_all(struct run *run)
{
	for (size_t i = 0; i < run->nd; i++)
		if (run->d[run->d[i].head].keep != i)
			verify_one(run, (uint32_t)i);
}

/* ---- acting ---------------------------------------------------------------- */

static void
print_flags(const struct run *run, const struct dent *k)
{
	char letters[8];
	char *kp = dent_path(run, k);

	flags_letters(k->addflags, letters);
	if (opt_common.json) {
		fputs("{\"kept\":", stdout);
		json_cstring(stdout, kp);
		printf(",\"add_flags\":\"%s\",\"dry_run\":%s}\n", letters,
		    opt_common.dry_run ? "true" : "false");
	} else if (!opt_common.quiet) {
		printf("%sflags +%s on %s\n", opt_common.dry_run ? "would add " : "add ", letters, kp);
	}
	free(kp);
}

/* Kept maildir copy: the same base name in cur/ with the union of flags. */
static int
maildir_set_flags(struct run *run, struct dent *k)
{
	struct maildir_name mn;
	char info[64];
	char *base, *rel, *from, *to;
	int rc;

	/* the flags of its name now: a client may have changed them */
	for (int tries = 0;; tries++) {
		const char *fn = strchr(run->names + k->loc, '/') + 1;
		maildir_name_parse(fn, strlen(fn), &mn);
		flags_make_info(mn.flags | k->addflags, mn.keywords, NULL, info);
		base = xstrndup(mn.base, mn.base_len);
		rel = xasprintf("cur/%s:%s", base, info);
		from = dent_path(run, k);
		to = xasprintf("%s/%s", run->mb[k->mbox].path, rel);
		rc = strcmp(from, to) == 0 ? 0 : rename_noreplace(AT_FDCWD, from, AT_FDCWD, to);
		if (rc == 0 || errno != ENOENT || tries == 3)
			break;
		free(base);
		free(rel);
		free(from);
		free(to);
		if (dent_follow(run, k, true) == -1)
			return -1;
	}
	if (rc == -1) {
		report_error_sys(EXIT_PROBLEMS, "unable to rename %s to %s", from, to);
	} else {
		k->loc = name_add(run, "cur", strchr(rel, '/') + 1);
		k->flags |= k->addflags;
		run->flagged++;
	}
	free(base);
	free(rel);
	free(from);
	free(to);
	return rc;
}

/* The From_ line and header of an mbox message read raw from the file. */
static int
mbox_raw_header(struct mbx *mb, off_t off, off_t end, struct strbuf *raw,
    size_t *from_len_r, size_t *hdr_len_r)
{
	size_t want = (size_t)(end - off);
	bool complete;

	if (want > READER_HEADER_MAX + 65536)
		want = READER_HEADER_MAX + 65536;
	sb_reset(raw);
	sb_grow(raw, want);
	ssize_t n = pread_full(mbox_lock_fd(&mb->lk), raw->buf, want, off);
	if (n <= 0)
		return -1;
	raw->len = (size_t)n;
	const char *nl = memchr(raw->buf, '\n', raw->len);
	if (nl == NULL)
		return -1;
	*from_len_r = (size_t)(nl - raw->buf) + 1;
	*hdr_len_r = header_block_len(raw->buf + *from_len_r, raw->len - *from_len_r, &complete);
	return 0;
}

/*
 * Kept mbox copies: Status/X-Status/X-Keywords rewritten with the union of
 * flags, in one journaled rewrite (mbox_writer.h); later offsets move.
 */
static int
mbox_set_flags(struct run *run, struct mbx *mb)
{
	struct mbox_rewrite *rw = NULL;
	struct strbuf raw = STRBUF_INIT, out = STRBUF_INIT;
	off_t prev = 0, delta = 0;
	size_t nflag = 0;
	int rc = 0;

	for (size_t i = mb->first; i < mb->first + mb->count && rc == 0; i++) {
		struct dent *e = &run->d[i];
		off_t off = (off_t)e->loc, end = dent_end(run, i);
		size_t fl, hl;
		struct mbox_state st;
		e->loc = (uint64_t)(off + delta);
		if (!(e->state & ST_HASDUP) || e->addflags == 0)
			continue;
		if (mbox_raw_header(mb, off, end, &raw, &fl, &hl) == -1) {
			report_error(EX_IOERR, "%s:%lld: unable to read the header again", mb->path,
			    (long long)off);
			rc = -1;
			break;
		}
		flags_from_mbox_header(raw.buf + fl, hl, &st);
		bool changed = mbox_header_set_flags(raw.buf + fl, hl, st.flags | e->addflags, st.old,
		    st.keywords.buf, st.keywords.len, &out);
		mbox_state_free(&st);
		if (!changed)
			continue;
		if (rw == NULL) {
			if ((rw = mbox_rewrite_begin(&mb->lk, off + (off_t)fl)) == NULL) {
				rc = -1;
				break;
			}
		} else if (mbox_rewrite_copy(rw, prev, off + (off_t)fl) == -1) {
			rc = -1;
		}
		if (rc == 0 && mbox_rewrite_insert(rw, out.buf, out.len) == -1)
			rc = -1;
		prev = off + (off_t)(fl + hl);
		delta += (off_t)out.len - (off_t)hl;
		e->flags |= e->addflags;
		nflag++;
	}
	struct stat st;
	if (rw && rc == 0 && fstat(mbox_lock_fd(&mb->lk), &st) == 0 &&
	    mbox_rewrite_copy(rw, prev, st.st_size) == 0 && mbox_rewrite_commit(rw) == 0) {
		rw = NULL;
		run->flagged += nflag;
	} else if (rw || rc == -1) {
		if (rw)
			mbox_rewrite_abort(rw);
		rc = -1;
	}
	mb->end += delta;
	if (rc == -1)
		mb->bad = true;   /* offsets are no longer known: remove nothing */
	sb_free(&raw);
	sb_free(&out);
	return rc;
}

static void
merge_flags(struct run *run)
{
	for (size_t i = 0; i < run->nd; i++) {
		struct dent *k = &run->d[i];
		if ((k->state & ST_HASDUP) && k->addflags && run->action != ACT_REPORT)
			print_flags(run, k);
	}
	if (!acting(run))
		return;
	for (size_t i = 0; i < run->nd; i++) {
		struct dent *k = &run->d[i];
		if ((k->state & ST_HASDUP) && k->addflags && run->mb[k->mbox].maildir)
			maildir_set_flags(run, k);
	}
	for (size_t m = 0; m < run->nmb; m++)
		if (!run->mb[m].maildir && !run->mb[m].bad)
			mbox_set_flags(run, &run->mb[m]);
}

/*
 * A copy in the quarantine is named by a key (the form of
 * mailshift-convert(1)'s names, X<32 hex>_<n>): the hash of where its
 * source is (the mailbox, the file's unique name or the mbox offset) and
 * of its bytes. A rerun after a run that ended between the quarantine and
 * the removals (a full disk, a kill) finds the copies it already holds,
 * of the same size, and removes their sources without a second copy; a
 * later duplicate, even of the same bytes, is another file and gets its
 * own copy.
 */
struct move_ctx {
	struct maildir_writer *w;
	int rc;
	bool first;             /* the next bytes are the header view */
	bool mbox;
	struct mbox_state st;   /* mbox: flags and keywords of the header */
	XXH3_state_t *xxh;      /* the message's place and bytes */
	uint64_t bytes;         /* its size */
	struct keyset there;    /* the keys in the quarantine's names (used:
	                         * 1 + the index of the name in qname) */
	char **qname;           /* "new/NAME", "cur/NAME" */
	size_t nq;
	struct keyset occ;      /* hash -> copies so far */
};

/* The keys in the names of the quarantine's messages. */
static void
quarantine_one(void *arg, const char *sub, const char *name, uint64_t hi, uint64_t lo,
    uint32_t n)
{
	struct move_ctx *mc = arg;

	mc->qname = xrealloc(mc->qname, (mc->nq + 1) * sizeof *mc->qname);
	mc->qname[mc->nq++] = xasprintf("%s/%s", sub, name);
	keyset_find(&mc->there, hi, lo, n, true)->used = (uint32_t)mc->nq;
}

static void
quarantine_keys(struct move_ctx *mc)
{
	convert_keyed_names(maildir_writer_dirfd(mc->w), NULL, quarantine_one, mc);
}

/* Is the copy of this key, of this size, in the quarantine already? */
static bool
quarantine_has(struct move_ctx *mc, uint64_t hi, uint64_t lo, uint32_t n)
{
	struct key *k = keyset_find(&mc->there, hi, lo, n, false);
	struct stat st;

	return k != NULL && fstatat(maildir_writer_dirfd(mc->w), mc->qname[k->used - 1], &st,
	    AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == mc->bytes;
}

static void
move_bytes(void *arg, const void *p, size_t n)
{
	struct move_ctx *mc = arg;

	if (mc->first && mc->mbox)
		flags_from_mbox_header(p, n, &mc->st);
	mc->first = false;
	XXH3_128bits_update(mc->xxh, p, n);
	mc->bytes += n;
	if (mc->rc == 0 && maildir_writer_write(mc->w, p, n) == -1)
		mc->rc = -1;
}

/* Keyword names of a word list "a b c" as the destination's letters. */
static uint32_t
keywords_by_name(struct maildir_writer *w, const char *p, size_t len)
{
	uint32_t bits = 0;

	for (const char *e = p + len; p && p < e;) {
		const char *sp = memchr(p, ' ', (size_t)(e - p));
		size_t n = sp ? (size_t)(sp - p) : (size_t)(e - p);
		int idx = n ? maildir_writer_keyword(w, p, n) : -1;
		if (idx >= 0)
			bits |= 1u << idx;
		p += n + 1;
	}
	return bits;
}

/* A maildir's keyword letters as the destination's letters (by name). */
static uint32_t
keywords_map(struct maildir_writer *w, const char *maildir, uint32_t letters)
{
	char *names[26] = { NULL };
	uint32_t bits = 0;
	int dfd;

	if (letters == 0 || (dfd = open(maildir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return 0;
	if (maildir_keywords_read(dfd, names) == 0)
		for (int i = 0; i < 26; i++)
			if ((letters & (1u << i)) && names[i])
				bits |= keywords_by_name(w, names[i], strlen(names[i]));
	maildir_keywords_free(names);
	close(dfd);
	return bits;
}

/* Deliver one duplicate to the quarantine (flags and keywords kept). */
static int
move_one(struct run *run, struct move_ctx *mc, struct dent *e)
{
	struct maildir_msginfo mi = { .flags = e->flags, .cur = (e->state & ST_CUR) != 0,
	    .mtime = (time_t)e->time };
	int rc = 0;
	char key[64];

	mc->first = true;
	mc->mbox = !run->mb[e->mbox].maildir;
	memset(&mc->st, 0, sizeof mc->st);
	/* where the copy comes from, then its bytes */
	const struct mbx *mb = &run->mb[e->mbox];
	XXH3_128bits_reset(mc->xxh);
	XXH3_128bits_update(mc->xxh, mb->path, strlen(mb->path) + 1);
	if (mb->maildir) {
		const char *name = run->names + e->loc, *base = strrchr(name, '/');
		base = base ? base + 1 : name;
		XXH3_128bits_update(mc->xxh, base, strcspn(base, ":") + 1);
	} else {
		uint64_t off = e->loc;
		XXH3_128bits_update(mc->xxh, &off, sizeof off);
	}
	mc->bytes = 0;
	if (maildir_writer_begin(mc->w) == -1)
		return -1;
	if (stream_message(run, e, move_bytes, mc) == -1 || mc->rc == -1) {
		maildir_writer_abort(mc->w);
		rc = -1;
	}
	/* its flags now: a client may have renamed it meanwhile */
	mi.flags = e->flags;
	mi.cur = (e->state & ST_CUR) != 0;
	if (rc == 0 && mc->mbox)
		mi.keywords = keywords_by_name(mc->w, mc->st.keywords.buf, mc->st.keywords.len);
	else if (rc == 0)
		mi.keywords = keywords_map(mc->w, run->mb[e->mbox].path, e->keywords);
	if (mc->mbox && !mc->first)
		mbox_state_free(&mc->st);
	if (rc == 0) {
		XXH128_hash_t h = XXH3_128bits_digest(mc->xxh);
		struct key *k = keyset_find(&mc->occ, h.high64, h.low64, 0, true);
		uint32_t n = k->used++ - 1;
		if (quarantine_has(mc, h.high64, h.low64, n)) {
			/* put there by an earlier run */
			maildir_writer_abort(mc->w);
			if (opt_common.verbose) {
				char *p = dent_path(run, e);
				report_info("%s: already in %s", p, run->move_to);
				free(p);
			}
			return 0;
		}
		convert_key_string(h.high64, h.low64, n, key);
		mi.key = key;
		if (maildir_writer_end(mc->w, &mi) == -1)
			rc = -1;
	}
	return rc;
}

/* Deliver every duplicate to --move-to and make them durable. 0 or -1. */
static int
move_all(struct run *run)
{
	struct maildir_writer_opts wo = { .create = true };
	struct move_ctx mc = { .w = maildir_writer_open(run->move_to, &wo) };

	if (mc.w == NULL)
		return -1;
	mc.xxh = XXH3_createState();
	if (mc.xxh == NULL) {
		errno = ENOMEM;
		report_fatal_sys(EX_TEMPFAIL, "out of memory");
	}
	quarantine_keys(&mc);
	for (size_t i = 0; i < run->nd && mc.rc == 0; i++) {
		struct dent *e = &run->d[i];
		if (!(e->state & ST_DUP) || run->mb[e->mbox].bad)
			continue;
		if (move_one(run, &mc, e) == -1)
			mc.rc = -1;
		else
			run->moved++;
	}
	XXH3_freeState(mc.xxh);
	for (size_t i = 0; i < mc.nq; i++)
		free(mc.qname[i]);
	free(mc.qname);
	keyset_free(&mc.there);
	keyset_free(&mc.occ);
	if (mc.rc == -1) {
		maildir_writer_discard(mc.w);
		run->moved = 0;
		return -1;
	}
	if (maildir_writer_close(mc.w) == -1) {
		run->moved = 0;
		return -1;
	}
	return 0;
}

/* One journaled rewrite of an mbox without its duplicates (SPEC §5 O7). */
static int
mbox_delete(struct run *run, struct mbx *mb)
{
	struct mbox_rewrite *rw = NULL;
	off_t prev = 0;
	size_t n = 0;
	struct stat st;

	for (size_t i = mb->first; i < mb->first + mb->count; i++) {
		struct dent *e = &run->d[i];
		off_t a = (off_t)e->loc, b = dent_end(run, i);
		if (!(e->state & ST_DUP))
			continue;
		if (rw == NULL) {
			if ((rw = mbox_rewrite_begin(&mb->lk, a)) == NULL)
				return -1;
			prev = a;
		}
		if ((prev < a && mbox_rewrite_copy(rw, prev, a) == -1) ||
		    mbox_rewrite_skip(rw, a, b) == -1) {
			mbox_rewrite_abort(rw);
			return -1;
		}
		prev = b;
		n++;
		testhook_message_done();
	}
	if (rw == NULL)
		return 0;
	if (fstat(mbox_lock_fd(&mb->lk), &st) == -1 || mbox_rewrite_copy(rw, prev, st.st_size) == -1) {
		mbox_rewrite_abort(rw);
		return -1;
	}
	if (mbox_rewrite_commit(rw) == -1)
		return -1;
	run->deleted += n;
	return 0;
}

static void
delete_all(struct run *run)
{
	for (size_t i = 0; i < run->nd; i++) {
		struct dent *e = &run->d[i];
		if (!(e->state & ST_DUP) || !run->mb[e->mbox].maildir || run->mb[e->mbox].bad)
			continue;
		char *p = dent_path(run, e);
		int err;
		/* a file a client renamed is removed under its new name; one
		 * removed by somebody else is gone, as it was to be */
		for (int tries = 0;; tries++) {
			err = unlink(p) == 0 ? 0 : errno;
			if (err != ENOENT || tries == 3 || dent_follow(run, e, false) == -1)
				break;
			free(p);
			p = dent_path(run, e);
		}
		if (err != 0 && err != ENOENT) {
			errno = err;
			report_error_sys(EXIT_PROBLEMS, "unable to remove %s", p);
		} else {
			run->deleted++;
			testhook_message_done();
		}
		free(p);
	}
	for (size_t m = 0; m < run->nmb; m++)
		if (!run->mb[m].maildir && !run->mb[m].bad && mbox_delete(run, &run->mb[m]) == -1)
			report_status(report_exit_status_or(EX_IOERR));
}

/* ---- mailboxes ------------------------------------------------------------- */

static int
mbx_add(struct run *run, const char *path, bool maildir)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		report_error_sys(EX_NOINPUT, "unable to open %s", path);
		return EX_NOINPUT;
	}
	for (size_t i = 0; i < run->nmb; i++)
		if (run->mb[i].dev == st.st_dev && run->mb[i].ino == st.st_ino) {
			report_error(EX_USAGE, "%s and %s are the same mailbox", run->mb[i].path, path);
			return EX_USAGE;
		}
	run->mb = xrealloc(run->mb, (run->nmb + 1) * sizeof *run->mb);
	struct mbx *mb = &run->mb[run->nmb++];
	memset(mb, 0, sizeof *mb);
	mb->path = xstrdup(path);
	mb->maildir = maildir;
	mb->lk.fd = -1;
	mb->dev = st.st_dev;
	mb->ino = st.st_ino;
	return 0;
}

/* Is path the --move-to folder? */
static bool
is_quarantine(const struct run *run, const char *path)
{
	struct stat st;

	return run->qexists && stat(path, &st) == 0 && st.st_dev == run->qdev &&
	    st.st_ino == run->qino;
}

/* A Maildir (with -r: every folder of its tree) or an mbox file. */
static int
mbx_add_arg(struct run *run, const char *path)
{
	if (strcmp(path, "-") == 0) {
		report_error(EX_USAGE, "standard input cannot be read twice: give a file");
		return EX_USAGE;
	}
	if (is_quarantine(run, path)) {
		report_error(EX_USAGE, "%s is the --move-to folder: it cannot be a mailbox to "
		    "deduplicate too", path);
		return EX_USAGE;
	}
	if (!reader_is_maildir(path))
		return mbx_add(run, path, false);
	if (!run->recursive)
		return mbx_add(run, path, true);
	struct maildir_walk *w = maildir_walk_open(path, MAILDIR_LAYOUT_MAILDIRPP | MAILDIR_LAYOUT_FS,
	    NULL, NULL);
	const struct maildir_folder *f;
	int rc = 0;
	if (w == NULL)
		return EX_NOINPUT;
	while (rc == 0 && maildir_walk_next(w, &f) == 1) {
		/* a quarantine inside the tree (~/Maildir/.Duplicates) */
		if (is_quarantine(run, f->path)) {
			report_info("%s: left out: it is the --move-to folder", f->path);
			continue;
		}
		rc = mbx_add(run, f->path, true);
	}
	maildir_walk_close(w);
	return rc;
}

/* With an action, an mbox is locked before it is read (SPEC §5 O7) and a
 * journal left by a crashed run is finished first. */
static int
mbx_lock(struct run *run, struct mbx *mb)
{
	struct mbox_lock_opts lo = { .timeout = run->lock_timeout };
	struct reader_opts ro = { .allow = 1u << SOURCE_MBOX | 1u << SOURCE_EMPTY, .quiet = true,
		.mbox = { .quiet = true } };
	struct reader *r;
	int rc;

	if ((rc = reader_open(&r, mb->path, &ro)) != 0)
		return rc;
	bool compressed = reader_compression(r) != NULL;
	reader_close(r);
	if (compressed) {
		report_error(EX_USAGE, "%s: a compressed mailbox cannot be changed in place", mb->path);
		return EX_USAGE;
	}
	if ((rc = mbox_lock_open(&mb->lk, mb->path, MBOX_LOCK_WRITE, &lo)) != 0)
		return rc;
	mb->locked = true;
	if (mbox_journal_recover(&mb->lk, NULL) == -1)
		return EX_IOERR;
	return 0;
}

static void
summary_print(const struct run *run)
{
	if (opt_common.json) {
		printf("{\"summary\":{\"key\":\"%s\",\"keep\":\"%s\",\"scope\":\"%s\",\"mailboxes\":%zu,\"messages\":%zu,"
		    "\"sets\":%llu,\"duplicates\":%llu,\"bytes\":%llu,\"collisions\":%llu,"
		    "\"deleted\":%llu,\"moved\":%llu,\"flags_merged\":%llu,\"dry_run\":%s}}\n",
		    dedupkey_name(run->key), keep_names[run->keep],
		    run->per_folder ? "folder" : "tree", run->nmb, run->nd,
		    (unsigned long long)run->sets, (unsigned long long)run->dups,
		    (unsigned long long)run->bytes, (unsigned long long)run->collisions,
		    (unsigned long long)run->deleted, (unsigned long long)run->moved,
		    (unsigned long long)run->flagged, opt_common.dry_run ? "true" : "false");
		return;
	}
	if (opt_common.quiet)
		return;
	printf("%zu message%s in %zu mailbox%s: %llu duplicate%s in %llu set%s, %llu byte%s\n",
	    run->nd, PLURAL(run->nd), run->nmb, run->nmb == 1 ? "" : "es",
	    (unsigned long long)run->dups, PLURAL(run->dups), (unsigned long long)run->sets,
	    PLURAL(run->sets), (unsigned long long)run->bytes, PLURAL(run->bytes));
	if (run->collisions)
		printf("%llu hash collision%s: kept\n", (unsigned long long)run->collisions,
		    PLURAL(run->collisions));
	if (acting(run) && run->action == ACT_DELETE)
		printf("deleted %llu\n", (unsigned long long)run->deleted);
	if (acting(run) && run->action == ACT_MOVE)
		printf("moved %llu to %s, deleted %llu\n", (unsigned long long)run->moved,
		    run->move_to, (unsigned long long)run->deleted);
	if (acting(run) && run->flagged)
		printf("flags merged onto %llu kept cop%s\n", (unsigned long long)run->flagged,
		    run->flagged == 1 ? "y" : "ies");
}

/* ---- the command ------------------------------------------------------------- */

static int
parse_options(int argc, const char **argv, struct run *run, const char ***args_r,
    poptContext *pc_r)
{
	char *key = NULL, *keep = NULL, *move_to = NULL, *scope = NULL;
	int del = 0, recursive = 0, rc = 0;
	struct poptOption options[] = {
		{ "key", 'k', POPT_ARG_STRING, &key, 0,
		  "duplicates by message-id, body, full or headers "
		  "(default: the Message-ID and the body)", "KEY" },
		{ "keep", '\0', POPT_ARG_STRING, &keep, 0,
		  "keep: first, oldest, newest, smallest or largest (default first)", "WHICH" },
		{ "delete", 'd', POPT_ARG_NONE, &del, 0, "delete the duplicates", NULL },
		{ "move-to", '\0', POPT_ARG_STRING, &move_to, 0,
		  "move the duplicates into this Maildir", "MAILDIR" },
		{ "recursive", 'r', POPT_ARG_NONE, &recursive, 0,
		  "every folder of a Maildir++ tree", NULL },
		{ "scope", '\0', POPT_ARG_STRING, &scope, 0,
		  "folder: duplicates within each folder; tree: across all (default: folder with -r, "
		  "else tree)", "SCOPE" },
		{ "lock-timeout", '\0', POPT_ARG_INT, &run->lock_timeout, 0,
		  "seconds to wait for an mbox lock (default 300)", "SECS" },
		{ NULL, '\0', POPT_ARG_INCLUDE_TABLE, dry_run_options, 0, NULL, NULL },
		{ NULL, '\0', POPT_ARG_INCLUDE_TABLE, common_options, 0, NULL, NULL },
		POPT_TABLEEND
	};
	poptContext pc = poptGetContext("mailshift dedup", argc, argv, options, 0);

	*pc_r = pc;
	if (report_parse_options(pc, options, "[OPTIONS] MAILBOX...") != 0) {
		free(key);
		free(keep);
		free(scope);
		free(move_to);
		return EX_USAGE;
	}
	run->recursive = recursive != 0;
	/* -r: a tree's folders often hold copies on purpose (Gmail's labels
	 * over IMAP, a folder per filter), so by default each is deduplicated
	 * on its own, as doveadm deduplicate does; mailboxes named one by one
	 * are compared with each other */
	run->per_folder = run->recursive;
	if (scope != NULL) {
		if (strcmp(scope, "folder") == 0)
			run->per_folder = true;
		else if (strcmp(scope, "tree") == 0)
			run->per_folder = false;
		else {
			report_error(EX_USAGE, "--scope must be folder or tree, not '%s'", scope);
			free(scope);
			free(key);
			free(keep);
			free(move_to);
			run->move_to = NULL;
			return EX_USAGE;
		}
		free(scope);
	}
	run->action = move_to ? ACT_MOVE : del ? ACT_DELETE : ACT_REPORT;
	run->move_to = move_to;
	if (del && move_to) {
		report_error(EX_USAGE, "--delete and --move-to exclude each other");
		rc = EX_USAGE;
	} else if (key && (rc = dedupkey_parse(key)) < 0) {
		report_error(EX_USAGE, "unknown key '%s' (message-id, body, full, headers)", key);
		rc = EX_USAGE;
	}
	if (rc == EX_USAGE) {
		free(key);
		free(keep);
		return EX_USAGE;
	}
	run->key = key ? (enum dedup_key)rc : DEDUP_KEY_DEFAULT;
	run->keep = KEEP_FIRST;
	for (size_t i = 0; keep && i <= ARRAY_SIZE(keep_names); i++) {
		if (i == ARRAY_SIZE(keep_names)) {
			report_error(EX_USAGE, "unknown --keep '%s' (first, oldest, newest, "
			    "smallest, largest)", keep);
			free(key);
			free(keep);
			return EX_USAGE;
		}
		if (strcmp(keep, keep_names[i]) == 0) {
			run->keep = (enum keep)i;
			break;
		}
	}
	free(key);
	free(keep);
	*args_r = poptGetArgs(pc);
	if (*args_r == NULL || (*args_r)[0] == NULL) {
		report_error(EX_USAGE, "no mailbox given (mailshift dedup --help)");
		return EX_USAGE;
	}
	return 0;
}

/* Scan, verify, act; the mailboxes stay locked from the scan to the end. */
static void
dedup_run(struct run *run)
{
	struct dedupkey k;

	dedupkey_init(&k, run->key, NULL, NULL);
	for (size_t m = 0; m < run->nmb; m++) {
		size_t first = run->nd;
		if (run->mb[m].maildir)
			scan_maildir(run, (uint32_t)m, &k);
		else
			scan_mbox(run, (uint32_t)m, &k);
		for (size_t i = first; i < run->nd; i++)
			set_add(run, (uint32_t)i);
		if (run->per_folder && run->tab != NULL) {
			/* the next mailbox's sets start empty */
			memset(run->tab, 0, run->tabcap * sizeof *run->tab);
			run->heads = 0;
		}
	}
	dedupkey_free(&k);
	free(run->tab);
	run->tab = NULL;
	verify_all(run);
	merge_flags(run);
	if (acting(run) && (run->action == ACT_DELETE || move_all(run) == 0))
		delete_all(run);
}

int
cmd_dedup(int argc, const char **argv)
{
	struct run run;
	const char **args;
	poptContext pc;
	int rc;

	memset(&run, 0, sizeof run);
	run.lock_timeout = -1;
	if ((rc = parse_options(argc, argv, &run, &args, &pc)) != 0) {
		free(run.move_to);
		poptFreeContext(pc);
		return rc;
	}
	struct stat qst;
	/* refused by the writer (as root a symlink is never followed for a
	 * destination): said before the scan, not after it */
	if (run.move_to && geteuid() == 0 && lstat(run.move_to, &qst) == 0 && S_ISLNK(qst.st_mode)) {
		report_error(EX_CANTCREAT, "--move-to=%s: a symbolic link, not followed as root: "
		    "name the directory it points to", run.move_to);
		free(run.move_to);
		poptFreeContext(pc);
		return EX_CANTCREAT;
	}
	if (run.move_to && stat(run.move_to, &qst) == 0) {
		run.qexists = true;
		run.qdev = qst.st_dev;
		run.qino = qst.st_ino;
	}
	for (size_t i = 0; args[i] && rc == 0; i++)
		rc = mbx_add_arg(&run, args[i]);
	for (size_t m = 0; m < run.nmb && rc == 0 && acting(&run); m++)
		if (!run.mb[m].maildir)
			rc = mbx_lock(&run, &run.mb[m]);
	if (rc == 0) {
		dedup_run(&run);
		summary_print(&run);
	}
	for (size_t m = 0; m < run.nmb; m++) {
		if (run.mb[m].locked)
			mbox_lock_release(&run.mb[m].lk);
		free(run.mb[m].path);
	}
	free(run.mb);
	free(run.d);
	free(run.names);
	renamed_probe_free(&run.probe);
	free(run.move_to);
	poptFreeContext(pc);
	fflush(stdout);
	if (rc != 0)
		return rc;
	return report_exit_status();
}
