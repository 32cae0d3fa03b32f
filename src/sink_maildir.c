/*
 * sink_maildir.c: the Maildir sink of `mailshift convert` (sink.h, DESIGN
 * §3 convert, mailshift-convert(1)): mbox messages delivered into a
 * Maildir through maildir_writer.h, with their flags, keywords and UIDs,
 * their clients' state and Gmail's label folders.
 *
 * Idempotence without state outside DEST: every delivered message carries a
 * key in its file name, X<32 hex>_<n> (convert_keys.c: XXH3-128 of the
 * From_ line and the header without the mbox metadata fields; n counts
 * earlier messages of this source with the same hash), and
 * DEST/mailshift-delivered records every key delivered, with the hash of
 * its body (struct bodysum, below). A rerun reads both
 * and skips what they hold: an interrupted run is finished, a grown mbox
 * converts only its new messages, a spool that Dovecot or mutt rewrote
 * meanwhile is recognised, a message the user deleted from the Maildir
 * stays deleted, and two identical messages of one source stay two (n = 0
 * and n = 1).
 */
#include "config.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "clientstate.h"
#include "commands.h"
#include "convert.h"
#include "date.h"
#include "flags.h"
#include "folder.h"
#include "header.h"
#include "mbox_writer.h"
#include "reader.h"
#include "report.h"
#include "sink.h"
#include "uidstate.h"
#include "util.h"

/*
 * --remove-source: a key is the From_ line and the header, so a message
 * whose body was edited under them (mutt's edit-message, a spool rewritten
 * by its MUA) has the key of the copy DEST holds, and skipping it would
 * empty the source of a body DEST does not have. So every delivered
 * message's body is hashed (struct bodysum, convert.h: every byte after the
 * header the key covers, a final newline added where it lacks one) and recorded
 * with its key; with --remove-source a message whose key DEST knows is
 * written all the same, its body hashed as it goes, and taken back at the
 * end when the record holds that key with that body (the body key,
 * convert_body_key(), whatever the occurrence number). Another body is
 * delivered under its body key, which a further rerun finds in turn.
 * A key recorded without a body (by an earlier version, or found only in a
 * file name) is compared with its file, found by the key in its name, the
 * body taken there as what follows the first empty line (the whole file,
 * for a header longer than the reader's view); when that file cannot be
 * found or read, the message is delivered again (once: under its body
 * key).
 */
/* A key and what it leads to: a file of DEST (struct names), or a message
 * of the source already in DEST (run->held, uid_held()); sorted and
 * searched alike. */
struct keyed {
	uint64_t hi, lo;
	uint32_t n;
	uint64_t cookie;            /* held: the message's UID state cookie */
	char *path;                 /* names: the file */
};
struct names {
	struct keyed *v;
	size_t n, cap;
	bool sorted;
};
enum { BS_LINE, BS_MID, BS_CR, BS_BODY };
struct bodyhash {
	struct bodysum sum;
	int st;                     /* BS_*: where in the header */
};
struct verify {
	bool on;                    /* --remove-source */
	struct keyset bodies;       /* the body keys of the record's lines */
	struct names names;         /* DEST's files (and its label folders') by key */
	char *buf;
	bool active;                /* the message being written is compared */
	bool dry;                   /* ... and not written (a dry run) */
	bool counted;               /* ... and counted as already there */
	uint64_t hi, lo;            /* its key */
	uint32_t n;
	bool with_file;             /* compared with a file (no body recorded) */
	bool legacy;                /* ... or under its key of earlier versions */
	uint64_t ohi, olo;
	uint32_t onum;
	bool blank;                 /* the header view was not whole: the
	                             * message as written is compared with the
	                             * whole file */
	struct bodyhash bh;         /* the message's when blank, then the file's */
};

static void
names_add(struct names *t, uint64_t hi, uint64_t lo, uint32_t n, char *path)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->v = xrealloc(t->v, t->cap * sizeof *t->v);
	}
	t->v[t->n++] = (struct keyed){ .hi = hi, .lo = lo, .n = n, .path = path };
	t->sorted = false;
}

static int
keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;

	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return x->n < y->n ? -1 : x->n > y->n;
}

static const char *
names_find(struct names *t, uint64_t hi, uint64_t lo, uint32_t n)
{
	struct keyed k = { .hi = hi, .lo = lo, .n = n };

	if (t->n == 0)
		return NULL;
	if (!t->sorted) {
		qsort(t->v, t->n, sizeof *t->v, keyed_cmp);
		t->sorted = true;
	}
	struct keyed *d = bsearch(&k, t->v, t->n, sizeof k, keyed_cmp);
	return d ? d->path : NULL;
}

static void
names_free(struct names *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].path);
	free(t->v);
	memset(t, 0, sizeof *t);
}

/* Keys of every message already in new/ and cur/ of a maildir; with
 * names, their paths too; with unsettled, "new/NAME" or "cur/NAME" of the
 * ones whose keys the record lacks (a run ended before it wrote them). */
struct scan_ctx {
	const char *maildir;
	struct keyset *ks;
	struct names *names, *unsettled;
};

static void
scan_one(void *arg, const char *sub, const char *name, uint64_t hi, uint64_t lo, uint32_t n)
{
	struct scan_ctx *c = arg;

	if (c->ks) {
		struct key *k = keyset_find(c->ks, hi, lo, n, true);
		k->used |= KEY_IN_NAMES;
		if (c->unsettled && !(k->used & KEY_IN_RECORD))
			names_add(c->unsettled, hi, lo, n, xasprintf("%s/%s", sub, name));
	}
	if (c->names)
		names_add(c->names, hi, lo, n, xasprintf("%s/%s/%s", c->maildir, sub, name));
}

static void
scan_existing(const char *maildir, struct keyset *ks, struct names *names,
    struct names *unsettled)
{
	struct scan_ctx c = { maildir, ks, names, unsettled };

	convert_keyed_names(AT_FDCWD, maildir, scan_one, &c);
}

/* whole: every byte is hashed, the header too */
static void
bodyhash_begin(struct bodyhash *b, bool whole)
{
	bodysum_begin(&b->sum);
	b->st = whole ? BS_BODY : BS_LINE;
}

/* More bytes of a message, header first: what follows its first empty
 * line is hashed. */
static void
bodyhash_feed(struct bodyhash *b, const char *p, size_t n)
{
	const char *e = p + n;

	while (p < e && b->st != BS_BODY) {
		if (b->st == BS_MID) {
			const char *nl = memchr(p, '\n', (size_t)(e - p));
			if (nl == NULL)
				return;
			p = nl + 1;
			b->st = BS_LINE;
			continue;
		}
		if (b->st == BS_LINE && *p == '\r')
			b->st = BS_CR;
		else
			b->st = *p == '\n' ? BS_BODY : BS_MID;
		p++;
	}
	bodysum_feed(&b->sum, p, (size_t)(e - p));
}

/* The body hash of a message file (with v->blank, the hash of all of it);
 * false when it could not be read (or is no regular file: a FIFO would
 * hang the run). */
static bool
file_body_hash(struct verify *v, const char *path, uint64_t *h)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	ssize_t k = -1;

	if (fd == -1)
		return false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		bodyhash_begin(&v->bh, v->blank);
		while ((k = read(fd, v->buf, 65536)) > 0)
			bodyhash_feed(&v->bh, v->buf, (size_t)k);
	} else {
		errno = EINVAL;     /* no regular file */
	}
	int e = errno;
	close(fd);
	errno = e;
	if (k != 0)
		return false;
	*h = bodysum_end(&v->bh.sum, false);
	return true;
}

/* ---- Gmail's labels as folders (mailshift-convert(1) "Mail clients") ------------ */

/*
 * A Takeout message with several folder labels is written once, into the
 * first of its folders, and hard-linked into the others once it is
 * published there (so nothing is copied): each folder keeps its own
 * dovecot-keywords letters, so each link has its own info. The links are
 * synced with the batch, before the batch's keys go to the record.
 */
struct lfolder;
struct linkjob {
	struct lfolder **to;        /* the other folders */
	char **info;                /* the info for each, in that folder's letters */
	size_t n;
	uint64_t body;              /* the message's body hash, for the record */
	uint64_t bytes;             /* its size in the source, for the summary */
};
struct linkq {
	struct linkjob *v;
	size_t head, len, cap;
};

struct lfolder {
	struct run *run;
	char *label;                /* the label path ('/' between levels), "" the top */
	char *path;
	struct maildir_writer *w;   /* run->w when the folder is DEST itself */
	bool own;                   /* w is this folder's, opened here */
	struct linkq *q;            /* the links waiting for w's messages */
	struct linkq ownq;
	bool linked;                /* links made since new/ and cur/ were synced */
	struct names unsettled;     /* its messages whose keys the record lacks */
};

static void
linkq_push(struct linkq *q, struct linkjob *j)
{
	if (q->head + q->len == q->cap) {
		if (q->head > 0) {
			memmove(q->v, q->v + q->head, q->len * sizeof *q->v);
			q->head = 0;
		}
		if (q->len == q->cap) {
			q->cap = q->cap ? q->cap * 2 : 64;
			q->v = xrealloc(q->v, q->cap * sizeof *q->v);
		}
	}
	q->v[q->head + q->len++] = *j;
}

static bool
linkq_pop(struct linkq *q, struct linkjob *j)
{
	if (q->len == 0)
		return false;
	*j = q->v[q->head++];
	if (--q->len == 0)
		q->head = 0;
	return true;
}

static void
linkjob_free(struct linkjob *j)
{
	for (size_t i = 0; i < j->n; i++)
		free(j->info[i]);
	free(j->info);
	free(j->to);
	memset(j, 0, sizeof *j);
}

static void
linkq_free(struct linkq *q)
{
	struct linkjob j;
	while (linkq_pop(q, &j))
		linkjob_free(&j);
	free(q->v);
	memset(q, 0, sizeof *q);
}

/*
 * How many earlier messages of this source had the same key hash: a set of
 * 64-bit hashes (8 bytes a slot, the per-message bookkeeping of a
 * conversion) and a small map of counts for the rare repeats. Two different
 * messages sharing 64 bits would only raise an occurrence number; their
 * 128-bit keys still differ, so nothing is skipped or merged.
 */
struct occset {
	struct hashset64 seen;  /* every hash once */
	struct keyset rep;      /* hash -> count of repeats */
};

struct run {
	struct sink base;
	const struct convert_opts *o;
	const char *dest;
	int envfd;                  /* DEST/mailshift-envelopes, -1 until used */
	struct maildir_writer *w;
	struct keyset existing;     /* DEST's keys (KEY_* flags) */
	struct delivery_record rec; /* DEST/mailshift-delivered */
	bool legacy;                /* DEST has keys its record lacks: look up
	                             * the keys of earlier versions too */
	bool write_failed;          /* DEST could not be written: no more tries */
	uint32_t source_no;         /* the current source, 1, 2... */
	struct convert_summary *sum;
	struct strbuf hdr, scratch;
	struct uidstate *us;        /* UID state of the current source, or NULL */
	uint64_t cookie;            /* of the message being delivered */
	struct keyed *held;         /* its messages already in DEST (uid_held()) */
	size_t nheld, capheld;
	uint64_t quota_bytes;       /* S= of what was published, for maildirsize */
	uint64_t quota_count;
	struct clientstate_opts cso;
	const char *label_root;     /* where Gmail's folders go: DEST, or the tree's top */
	struct lfolder **lf;        /* Gmail's folders opened so far */
	size_t nlf;
	struct linkq rootq;         /* links waiting for DEST's messages to be published */

	struct bodysum bs;          /* the body of the message being written */
	struct verify vf;           /* --remove-source: DEST's bodies */

	/* the source being read */
	char *identity;             /* its real path, for the keys of earlier versions */
	struct occset occ, legacy_occ;

	/* the message being written */
	struct maildir_writer *mw;  /* DEST's writer, or its first label folder's */
	struct linkq *mq;
	struct linkjob job;         /* links into its further label folders */
	struct maildir_msginfo mi;
	char keystr[64];
	const char *h;              /* its header as written */
	size_t hlen;
};

/* A message file more in the tree, for its maildirsize (the S= it was
 * written with). */
static void
run_quota_add(struct run *run, const char *name)
{
	const char *s = strstr(name, ",S=");

	if (s)
		run->quota_bytes += strtoull(s + 3, NULL, 10);
	run->quota_count++;
}

/* The published message subdir/name of `from` into folder `to`: a hard
 * link, under the same unique name with to's info. */
static void
link_into(struct run *run, const char *from, const char *subdir, const char *name,
    struct lfolder *to, const char *info)
{
	size_t base = strcspn(name, ":");
	char *src = xasprintf("%s/%s/%s", from, subdir, name);
	char *dst = strcmp(subdir, "new") == 0 ? xasprintf("%s/new/%.*s", to->path, (int)base, name)
	    : xasprintf("%s/cur/%.*s%s", to->path, (int)base, name, info);

	if (link(src, dst) == 0) {
		to->linked = true;
		run_quota_add(run, name);
		run->sum->linked++;
		if (opt_common.verbose)
			report_info("linked %s", dst);
	} else if (errno != EEXIST) {
		report_error_sys(EX_IOERR, "unable to link %s to %s", src, dst);
		run->write_failed = true;
	}
	free(src);
	free(dst);
}

/* A message is published in folder `from`: noted, and linked into the
 * other folders it belongs to. */
static void
published_in(struct run *run, const char *from, struct linkq *q, const char *subdir,
    const char *name)
{
	uint64_t hi, lo;
	uint32_t n;
	struct linkjob j;
	bool job = linkq_pop(q, &j);

	if (convert_name_key_parse(name, &hi, &lo, &n)) {
		record_note(&run->rec, hi, lo, n, job ? &j.body : NULL);
		if (job && run->vf.on) {
			uint64_t bhi, blo;
			convert_body_key(hi, lo, j.body, &bhi, &blo);
			keyset_find(&run->vf.bodies, bhi, blo, 0, true);
		}
	}
	run_quota_add(run, name);
	run->sum->delivered++;
	if (job)
		run->sum->bytes += j.bytes;
	if (opt_common.verbose)
		report_info("delivered %s/%s/%s", from, subdir, name);
	if (!job)
		return;
	for (size_t i = 0; i < j.n && !run->write_failed; i++)
		link_into(run, from, subdir, name, j.to[i], j.info[i]);
	linkjob_free(&j);
}

static void
on_published(void *ctx, uint64_t cookie, const char *subdir, const char *name)
{
	struct run *run = ctx;

	if (run->us)
		uidstate_published(run->us, cookie, name);
	published_in(run, run->dest, &run->rootq, subdir, name);
}

static void
lf_published(void *ctx, uint64_t cookie, const char *subdir, const char *name)
{
	struct lfolder *f = ctx;

	(void)cookie;
	published_in(f->run, f->path, f->q, subdir, name);
}

/* Links made since the last batch: their directories synced (a link is
 * durable only then), before the batch's keys are recorded. */
static int
links_sync(struct run *run)
{
	int rc = 0;

	for (size_t i = 0; i < run->nlf; i++) {
		struct lfolder *f = run->lf[i];
		if (!f->linked)
			continue;
		f->linked = false;
		if (run->o->sync == SYNC_NONE)
			continue;
		static const char *const sub[] = { "new", "cur" };
		for (size_t k = 0; k < ARRAY_SIZE(sub); k++) {
			char *p = xasprintf("%s/%s", f->path, sub[k]);
			int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd == -1 || fsync(fd) == -1) {
				report_error_sys(EX_IOERR, "unable to sync %s", p);
				run->write_failed = true;
				rc = -1;
			}
			if (fd != -1)
				close(fd);
			free(p);
		}
	}
	return rc;
}

/* A batch is published: its links and keys made durable. */
static void
on_flushed(void *ctx)
{
	struct run *run = ctx;

	if (links_sync(run) == 0 && !run->write_failed)
		(void)record_sync(&run->rec, false);
}

static void
lf_flushed(void *ctx)
{
	on_flushed(((struct lfolder *)ctx)->run);
}

/* Create the directories leading to a --layout=fs folder. */
static int
lf_parents(const struct convert_opts *o, const char *root, const char *name)
{
	for (const char *s = strchr(name, '/'); s; s = strchr(s + 1, '/')) {
		char *p = xasprintf("%s/%.*s", root, (int)(s - name), name);
		int rc = mkdir(p, 0700);
		if (rc == 0 && o->chown && chown(p, o->uid, o->gid) == -1)
			report_warn_sys("unable to give %s to its owner", p);
		if (rc == -1 && errno != EEXIST) {
			report_error_sys(EX_CANTCREAT, "unable to create %s", p);
			free(p);
			return -1;
		}
		free(p);
	}
	return 0;
}

/* The folder of a Gmail label path ("" the top), opened on first use, its
 * messages' keys added to what DEST holds; NULL when it has no folder name
 * or cannot be opened (reported). */
static struct lfolder *
lfolder_get(struct run *run, const char *label, const struct message *m)
{
	const struct convert_opts *o = run->o;
	bool fs = strcmp(o->layout, "fs") == 0;

	for (size_t i = 0; i < run->nlf; i++)
		if (strcmp(run->lf[i]->label, label) == 0)
			return run->lf[i]->path ? run->lf[i] : NULL;
	struct lfolder *f = xcalloc(1, sizeof *f);
	f->run = run;
	f->label = xstrdup(label);
	run->lf = xrealloc(run->lf, (run->nlf + 1) * sizeof *run->lf);
	run->lf[run->nlf++] = f;     /* a failed one stays, path NULL: reported once */

	struct strbuf name = STRBUF_INIT;
	if (*label == '\0') {
		f->path = xstrdup(run->label_root);
	} else {
		int rc = folder_encode(label, strlen(label), fs ? FOLDER_FS : FOLDER_MAILDIRPP,
		    (enum folder_charset)o->folder_charset, &name);
		if (rc == -1) {
			report_warn("%s:%lld: Gmail label \"%s\" has no folder name (an empty, \".\" or "
			    "\"..\" level): its messages are not put into it", m->mailbox,
			    (long long)m->offset, label);
			run->sum->warnings++;
			sb_free(&name);
			return NULL;
		}
		f->path = fs ? xasprintf("%s/%s", run->label_root, name.buf)
		    : xasprintf("%s/.%s", run->label_root, name.buf);
	}
	if (strcmp(f->path, run->dest) == 0) {
		f->w = run->w;
		f->q = &run->rootq;
	} else if (!opt_common.dry_run) {
		struct maildir_writer_opts wo = {
			.sync = o->sync, .batch_messages = o->batch, .create = true, .chown = o->chown,
			.uid = o->uid, .gid = o->gid, .lock_timeout = o->lock_timeout,
			.published = lf_published, .flushed = lf_flushed, .ctx = f,
		};
		if (fs && *label && lf_parents(o, run->label_root, name.buf) == -1)
			f->w = NULL;
		else
			f->w = maildir_writer_open(f->path, &wo);
		if (f->w == NULL) {
			run->write_failed = true;
			free(f->path);
			f->path = NULL;
			sb_free(&name);
			return NULL;
		}
		f->own = true;
		f->q = &f->ownq;
		if (!fs && *label)
			convert_maildirfolder(o, f->path);
	}
	sb_free(&name);
	scan_existing(f->path, &run->existing, NULL, &f->unsettled);
	return f;
}

/* Flush the folders' writers; -1 when one failed (reported). */
static int
lfolders_flush(struct run *run)
{
	int rc = 0;

	for (size_t i = 0; i < run->nlf; i++)
		if (run->lf[i]->own && maildir_writer_flush(run->lf[i]->w) == -1)
			rc = -1;
	return rc;
}

static int
lfolders_close(struct run *run)
{
	int rc = 0;

	for (size_t i = 0; i < run->nlf; i++)
		if (run->lf[i]->own && maildir_writer_close(run->lf[i]->w) == -1)
			rc = -1;
	if (links_sync(run) == -1)
		rc = -1;
	for (size_t i = 0; i < run->nlf; i++) {
		struct lfolder *f = run->lf[i];
		linkq_free(&f->ownq);
		names_free(&f->unsettled);
		free(f->label);
		free(f->path);
		free(f);
	}
	free(run->lf);
	run->lf = NULL;
	run->nlf = 0;
	linkq_free(&run->rootq);
	return rc;
}

/*
 * Keep the original From_ line when the one Maildir -> mbox would build
 * from this header and mtime differs (SPEC §3.11 ▶ 3): written before the
 * message is published, synced with its batch.
 */
static int
record_envelope(struct run *run, const struct message *m, const char *h, size_t hlen,
    const struct maildir_msginfo *mi)
{
	struct strbuf b = STRBUF_INIT;
	int rc = 0;

	mbox_from_line_build(NULL, 0, h, hlen, mi->mtime, &b);
	if (b.len != m->from_line_len || memcmp(b.buf, m->from_line, b.len) != 0)
		rc = envelope_append(run->dest, &run->envfd, run->o, mi->key, mi->mtime,
		    m->from_line, m->from_line_len);
	sb_free(&b);
	return rc;
}

/* Where a message goes: DEST, or the folders of its Gmail labels. */
struct route {
	struct lfolder *to[64];
	size_t n;
};

static void
route_message(struct run *run, const struct message *m, const struct client_state *cs,
    struct route *rt)
{
	rt->n = 0;
	if (cs->client != CLIENT_GMAIL)
		return;
	for (size_t i = 0; i < cs->folders.n && rt->n < ARRAY_SIZE(rt->to); i++) {
		struct lfolder *f = lfolder_get(run, cs->folders.v[i], m);
		if (f != NULL)
			rt->to[rt->n++] = f;
	}
	/* only labels without a folder name: where a message without labels
	 * goes, not INBOX */
	if (rt->n == 0 && cs->folders.n > 0 && (rt->to[0] = lfolder_get(run, "Archive", m)) != NULL)
		rt->n = 1;
}

/* The keyword letters of cs in writer w; -1 (reported) when the keywords
 * file could not be had. *overflow when some got none (more than 26). */
static int
keyword_bits(struct maildir_writer *w, const struct client_state *cs, uint32_t *bits,
    bool *overflow)
{
	*bits = 0;
	for (const char *p = cs->keywords.buf, *e = p ? p + cs->keywords.len : NULL; p && p < e;) {
		const char *s = memchr(p, ' ', (size_t)(e - p));
		size_t n = s ? (size_t)(s - p) : (size_t)(e - p);
		int idx = n ? maildir_writer_keyword(w, p, n) : -2;
		if (idx >= 0)
			*bits |= 1u << idx;
		else if (idx == -1)
			*overflow = true;
		else if (idx == -3)
			return -1;   /* dovecot-uidlist.lock held too long (reported) */
		p += n + 1;
	}
	return 0;
}

/*
 * UID state (mailshift-formats(5) "UID state"): note one message in
 * reading order. Before the first one come the pseudo message's X-IMAP
 * and the keywords of X-IMAPbase, registered in their order.
 */
static void
uid_note(struct run *run, struct reader *r, const struct message *m, bool deliver)
{
	const char *h;
	size_t n;

	if (run->us == NULL)
		return;
	if (m->index == 0 && reader_pseudo_header(r, &h, &n))
		uidstate_pseudo(run->us, h, n);
	run->cookie = uidstate_message(run->us, m->header, m->header_len, m->offset, deliver);
	if (m->index != 0 || run->w == NULL || opt_common.dry_run)
		return;
	h = uidstate_keywords(run->us, &n);
	for (const char *e = h + n; h < e;) {
		const char *sp = memchr(h, ' ', (size_t)(e - h));
		size_t k = sp ? (size_t)(sp - h) : (size_t)(e - h);
		if (k > 0)
			maildir_writer_keyword(run->w, h, k);
		h += k + 1;
	}
}

/*
 * The source's messages already in DEST from an earlier run: a run that
 * ended after publishing them and before writing dovecot-uidlist left them
 * without their UIDs. Their files are found by the key in their names (one
 * pass over new/ and cur/, only when the source carries UIDs), so that the
 * list gets them as it would have: the ones it has keep their UIDs.
 */
static void
uid_held(struct run *run, uint64_t hi, uint64_t lo, uint32_t n)
{
	if (run->nheld == run->capheld) {
		run->capheld = run->capheld ? run->capheld * 2 : 64;
		run->held = xrealloc(run->held, run->capheld * sizeof *run->held);
	}
	run->held[run->nheld++] = (struct keyed){ .hi = hi, .lo = lo, .n = n, .cookie = run->cookie };
}

static void
uid_held_one(void *arg, const char *sub, const char *name, uint64_t hi, uint64_t lo, uint32_t n)
{
	struct run *run = arg;
	struct keyed k = { .hi = hi, .lo = lo, .n = n };
	struct keyed *h = bsearch(&k, run->held, run->nheld, sizeof k, keyed_cmp);

	(void)sub;
	if (h != NULL && h->cookie != UINT64_MAX) {
		uidstate_found(run->us, h->cookie, name);
		h->cookie = UINT64_MAX;     /* one file per message */
	}
}

static void
uid_held_names(struct run *run)
{
	qsort(run->held, run->nheld, sizeof *run->held, keyed_cmp);
	convert_keyed_names(maildir_writer_dirfd(run->w), NULL, uid_held_one, run);
}

/* After the source's flush: write or extend DEST/dovecot-uidlist. */
static void
uid_finish(struct run *run, int *result)
{
	struct uidstate_result ur = { 0 };

	if (run->us && run->w && !opt_common.dry_run && uidstate_present(run->us)) {
		if (run->nheld > 0)
			uid_held_names(run);
		if (uidstate_write(run->us, maildir_writer_dirfd(run->w), run->dest,
		    run->o->lock_timeout, run->o->sync == SYNC_NONE, &ur) == -1 && *result == 0)
			*result = report_exit_status_or(EX_IOERR);
		run->sum->warnings += ur.warnings;
		if (opt_common.verbose && ur.validity)
			report_info("%s/dovecot-uidlist: UIDVALIDITY %u, next UID %u, %zu kept, "
			    "%zu renumbered, %zu new", run->dest, ur.validity, ur.next, ur.kept,
			    ur.renumbered, ur.fresh);
	}
	uidstate_free(run->us);
	run->us = NULL;
	run->nheld = 0;
}

/* The occurrence number of this hash: 0 the first time, then 1, 2... */
static uint32_t
occset_next(struct occset *o, uint64_t h)
{
	if (h == 0)
		h = 1;
	if (hashset64_add(&o->seen, h))
		return 0;
	struct key *k = keyset_find(&o->rep, h, 0, 0, true);
	return k->used++;
}

static void
occset_free(struct occset *o)
{
	hashset64_free(&o->seen);
	keyset_free(&o->rep);
	memset(o, 0, sizeof *o);
}

/* Where a known key was found: its flags, and the key its file is named by
 * (another for a file of an earlier version). */
struct known {
	uint32_t used;
	uint64_t ohi, olo;          /* the key of earlier versions (legacy) */
	uint32_t on;
	bool legacy;
};

/*
 * Is the message at hand already in DEST (or delivered before and since
 * deleted)? Its key into keystr/hi/lo/n either way. A key found only by
 * name is added to the record now.
 */
static bool
message_known(struct run *run, const char *identity, const struct message *m,
    struct occset *occ, struct occset *legacy_occ, char keystr[64], uint64_t *hi_r,
    uint64_t *lo_r, uint32_t *n_r, bool *this_run_r, struct known *kn)
{
	uint64_t hi, lo;

	convert_message_key(m->from_line, m->from_line_len, m->header, m->header_len,
	    &run->scratch, &hi, &lo);
	uint32_t n = occset_next(occ, lo);
	convert_key_string(hi, lo, n, keystr);
	*hi_r = hi;
	*lo_r = lo;
	*n_r = n;
	*this_run_r = false;
	memset(kn, 0, sizeof *kn);
	struct key *k = keyset_find(&run->existing, hi, lo, n, false);
	if (run->legacy) {
		/* the occurrence numbers count every message of the source */
		uint64_t ohi, olo;
		convert_legacy_key(identity, m->from_line, m->from_line_len, m->header,
		    m->header_len, &ohi, &olo);
		uint32_t on = occset_next(legacy_occ, olo);
		*kn = (struct known){ 0, ohi, olo, on, true };
		struct key *ok = k ? NULL : keyset_find(&run->existing, ohi, olo, on, false);
		if (ok != NULL && (ok->used & KEY_IN_NAMES))
			k = keyset_find(&run->existing, hi, lo, n, true);
	}
	if (k == NULL)
		return false;
	kn->used = k->used;
	*this_run_r = (k->used & KEY_THIS_RUN) && k->used >> KEY_SOURCE_SHIFT == run->source_no;
	if (!(k->used & (KEY_IN_RECORD | KEY_THIS_RUN))) {
		record_note(&run->rec, hi, lo, n, NULL);
		k->used |= KEY_IN_RECORD;
	}
	return true;
}

/* What the clients' headers said: counted, and what could not be used
 * named. */
static void
client_notes(struct run *run, const struct message *m, const struct client_state *cs)
{
	static const char *const hname[] = { "X-Mozilla-Status", "X-Evolution", "X-Gmail-Labels" };

	run->sum->client[cs->client]++;
	for (unsigned i = 0; i < ARRAY_SIZE(hname); i++) {
		if (!(cs->bad & 1u << i))
			continue;
		report_warn("%s:%lld: %s header not in its client's format: ignored", m->mailbox,
		    (long long)m->offset, hname[i]);
		run->sum->warnings++;
	}
	for (size_t i = 0; i < cs->rejected.n; i++) {
		report_warn("%s:%lld: keyword \"%s\" is no IMAP atom: not carried", m->mailbox,
		    (long long)m->offset, cs->rejected.v[i]);
		run->sum->warnings++;
	}
}

/*
 * Maildir++ quota (SPEC §1.9): a maildirsize of DEST (or of its parent when
 * DEST is a folder) gets the delivered "<bytes> <count>" line, as a delivery
 * agent appends it; when that cannot be done, or the file reaches 5120
 * bytes, it is removed and the server recalculates it.
 */
static void
quota_update(const char *dest, uint64_t bytes, uint64_t count)
{
	struct stat st;
	char *mf = xasprintf("%s/maildirfolder", dest);
	const char *slash = strrchr(dest, '/');
	const char *base = slash ? slash + 1 : dest;
	bool folder = lstat(mf, &st) == 0 || (base[0] == '.' && base[1] != '\0' && base[1] != '.');
	char *path = folder ? xasprintf("%s/../maildirsize", dest) : xasprintf("%s/maildirsize", dest);

	free(mf);
	if (count == 0 || lstat(path, &st) == -1 || !S_ISREG(st.st_mode)) {
		free(path);
		return;
	}
	char line[64];
	int n = snprintf(line, sizeof line, "%llu %llu\n", (unsigned long long)bytes,
	    (unsigned long long)count);
	int fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	bool ok = fd != -1 && st.st_size + n < 5120 && write_all(fd, line, (size_t)n) == 0;
	if (fd != -1)
		close(fd);
	if (!ok) {
		if (unlink(path) == 0)
			report_info("%s: removed: the server recalculates the quota", path);
		else
			report_warn_sys("unable to update or remove %s", path);
	} else if (opt_common.verbose) {
		report_info("%s: %llu bytes in %llu messages added", path, (unsigned long long)bytes,
		    (unsigned long long)count);
	}
	free(path);
}

static struct keyset *
vf_bodies(struct run *run)
{
	return run->vf.on ? &run->vf.bodies : NULL;
}

/* The file of a key (or of its key of earlier versions) among the names
 * read, whose file is still there. */
static const char *
names_file(struct run *run, const struct verify *v)
{
	const char *path = names_find(&run->vf.names, v->hi, v->lo, v->n);
	struct stat st;

	if ((path == NULL || lstat(path, &st) == -1) && v->legacy)
		path = names_find(&run->vf.names, v->ohi, v->olo, v->onum);
	return path != NULL && lstat(path, &st) == 0 ? path : NULL;
}

/* The path of DEST's file of the message being compared, NULL when it is
 * not found. The names are read the first time one is needed (only keys
 * recorded without a body need them); a name missed is looked for again
 * (new/ and cur/ read anew):
 * a client may have renamed the file since, and a readdir() may miss a
 * file renamed while it reads, so up to three times. */
static const char *
verify_path(struct run *run)
{
	struct verify *v = &run->vf;
	const char *path = names_file(run, v);

	for (int tries = 0; path == NULL && tries < 3; tries++) {
		names_free(&v->names);
		scan_existing(run->dest, NULL, &v->names, NULL);
		for (size_t i = 0; i < run->nlf; i++)
			if (run->lf[i]->own)
				scan_existing(run->lf[i]->path, NULL, &v->names, NULL);
		path = names_file(run, v);
	}
	return path;
}

/* A message whose key DEST knows: with --remove-source, it is written and
 * its body compared at the end (vf.active, true). */
static bool
verify_begin(struct run *run, const struct message *m, uint64_t hi, uint64_t lo, uint32_t n,
    const struct known *kn, bool counted)
{
	struct verify *v = &run->vf;

	v->active = false;
	if (!v->on || run->write_failed)
		return false;
	v->with_file = !(kn->used & KEY_HAS_BODY);
	v->legacy = kn->legacy;
	v->ohi = kn->ohi, v->olo = kn->olo, v->onum = kn->on;
	/* a header longer than the reader's view: its tail is neither in the
	 * key nor after the first empty line, so the whole message is
	 * compared with the whole file */
	v->blank = v->with_file && !m->header_complete;
	if (v->blank)
		bodyhash_begin(&v->bh, true);
	v->hi = hi, v->lo = lo, v->n = n;
	v->dry = opt_common.dry_run;
	v->counted = counted;
	v->active = true;
	return true;
}

/*
 * The end of a message being compared, of body hash `body`: true when DEST
 * holds it (the record its body key, or it was delivered under its body
 * key before, or the file of its key, recorded without a body, has the
 * same body), so it is taken back; false when it is to be delivered, under
 * its body key.
 */
static bool
verify_end(struct run *run, struct reader *r, const struct message *m, uint64_t body)
{
	struct verify *v = &run->vf;
	uint64_t bhi, blo;

	v->active = false;
	convert_body_key(v->hi, v->lo, body, &bhi, &blo);
	if (keyset_find(&v->bodies, bhi, blo, 0, false))
		return true;
	uint32_t n = occset_next(&run->occ, blo);
	if (keyset_find(&run->existing, bhi, blo, n, false))
		return true;    /* delivered so by an earlier run */
	if (v->with_file) {
		uint64_t mine = v->blank ? bodysum_end(&v->bh.sum, false) : body, want = 0;
		const char *path = verify_path(run);
		bool read = false;
		/* a client may rename the file between the look and the open */
		for (int tries = 0; path != NULL && tries < 5; tries++) {
			if ((read = file_body_hash(v, path, &want)) || errno != ENOENT)
				break;
			path = verify_path(run);
		}
		if (path == NULL) {
			/* deleted since, or renamed past every look: not known to
			 * be the same body */
			report_warn("%s:%lld: the file of its key is gone from %s: not compared, "
			    "the message is delivered again", reader_name(r), (long long)m->offset,
			    run->dest);
			run->sum->warnings++;
		} else if (!read) {
			report_warn_sys("unable to read %s: not compared, the message is delivered "
			    "again", path);
			run->sum->warnings++;
		} else if (mine == want) {
			/* recorded with its body: the next run need not read the file */
			if (!v->blank) {
				record_note(&run->rec, v->hi, v->lo, v->n, &body);
				keyset_find(&v->bodies, bhi, blo, 0, true);
			}
			return true;
		}
	}
	if (!opt_common.quiet)
		report_info("%s:%lld: the same From_ line and header as a message in %s, another "
		    "body: %s", reader_name(r), (long long)m->offset, run->dest,
		    v->dry ? "would be delivered" : "delivered");
	if (v->counted)
		run->sum->skipped--;
	convert_key_string(bhi, blo, n, run->keystr);
	run->mi.cookie = UINT64_MAX;    /* the UID stays with DEST's copy */
	return false;
}

/* ---- the sink ------------------------------------------------------------------ */

static int
md_source(struct sink *s, struct reader *r, const char *path, bool again)
{
	struct run *run = (struct run *)s;

	run->sum = s->sum;
	if (!again) {
		run->source_no++;
		/* what the sources before this one delivered */
		if (run->source_no > 1 && record_catch_up(&run->rec, &run->existing, vf_bodies(run),
		    KEY_IN_RECORD) == -1)
			return EX_IOERR;
		free(run->identity);
		if (strcmp(path, "-") == 0)
			run->identity = xstrdup("-");
		else if ((run->identity = realpath(path, NULL)) == NULL)
			run->identity = xstrdup(path);
	} else if (record_catch_up(&run->rec, &run->existing, vf_bodies(run),
	    KEY_IN_RECORD | KEY_THIS_RUN |
	    run->source_no << KEY_SOURCE_SHIFT) == -1) {
		/* read again after a rewrite, knowing the keys it delivered */
		return EX_IOERR;
	}
	occset_free(&run->occ);
	occset_free(&run->legacy_occ);
	if (run->o->uid_state)
		run->us = uidstate_new(reader_name(r));
	return 0;
}

/* Everything about a new message but its bytes: its info, its label
 * folders, its mtime, its header as written. -1 (reported). */
static int
md_prepare(struct run *run, const struct message *m, const struct client_state *cs,
    const struct route *rt, const char **h_r, size_t *hlen_r)
{
	struct maildir_msginfo *mi = &run->mi;
	bool overflow = false;

	run->mw = rt->n ? rt->to[0]->w : run->w;
	run->mq = rt->n ? rt->to[0]->q : &run->rootq;
	linkjob_free(&run->job);
	memset(mi, 0, sizeof *mi);
	mi->flags = cs->flags;
	mi->cur = cs->old;
	/* keywords -> dovecot-keywords letters; past 26 they stay in X-Keywords */
	if (keyword_bits(run->mw, cs, &mi->keywords, &overflow) == -1)
		return -1;
	if (rt->n > 1) {
		run->job.to = xcalloc(rt->n - 1, sizeof *run->job.to);
		run->job.info = xcalloc(rt->n - 1, sizeof *run->job.info);
		for (size_t i = 1; i < rt->n; i++) {
			uint32_t bits;
			char info[64];
			if (keyword_bits(rt->to[i]->w, cs, &bits, &overflow) == -1)
				return -1;
			flags_make_info(cs->flags, bits, NULL, info);
			run->job.to[run->job.n] = rt->to[i];
			run->job.info[run->job.n++] = xasprintf(":%s", info);
		}
	}
	if (overflow) {
		report_warn("%s:%lld: more than 26 keywords in %s: the rest stay in X-Keywords",
		    m->mailbox, (long long)m->offset, run->sum->dest);
		run->sum->warnings++;
	}
	if (m->env_time_ok) {
		mi->mtime = m->env_time;
		if (run->o->local_time && m->from_line) {
			struct fromline fl;
			size_t n = m->from_line_len;
			if (n && m->from_line[n - 1] == '\n')
				n--;
			if (fromline_parse(m->from_line, n, &fl) && !fl.has_zone) {
				struct tm tm;
				time_t t = fl.time;
				gmtime_r(&t, &tm);
				tm.tm_isdst = -1;
				mi->mtime = mktime(&tm);
			}
		}
	} else {
		const char *how = NULL;
		mi->mtime = convert_fallback_time(m, &how);
		report_warn("%s:%lld: no date in the From_ line; arrival date taken from %s",
		    m->mailbox, (long long)m->offset, how);
		run->sum->warnings++;
	}
	if (mi->mtime <= 0)
		mi->mtime = 1;
	mi->key = run->keystr;
	mi->cookie = run->cookie;
	*h_r = m->header;
	*hlen_r = m->header_len;
	if (!run->o->keep_mbox_headers &&
	    convert_consume_header(m->header, m->header_len, overflow, &run->hdr)) {
		*h_r = run->hdr.buf ? run->hdr.buf : "";
		*hlen_r = run->hdr.len;
	}
	return 0;
}

/*
 * A message of several label folders that an earlier run published in one
 * of them and ended before linking it into the others: its key is in a
 * file name and not in the record (the record is written after the links,
 * so a link the user removed since is not made again). The links it lacks
 * are made now, from the file that is there.
 */
static void
links_complete(struct run *run, const struct client_state *cs, const struct route *rt,
    uint64_t hi, uint64_t lo, uint32_t n)
{
	const char *have[ARRAY_SIZE(rt->to)];
	struct lfolder *from = NULL;
	const char *sn = NULL;

	for (size_t i = 0; i < rt->n; i++) {
		have[i] = names_find(&rt->to[i]->unsettled, hi, lo, n);
		if (have[i] && from == NULL) {
			from = rt->to[i];
			sn = have[i];
		}
	}
	if (from == NULL)
		return;
	char sub[4] = { sn[0], sn[1], sn[2], '\0' };   /* "new" or "cur" */
	for (size_t i = 0; i < rt->n && !run->write_failed; i++) {
		uint32_t bits;
		bool overflow = false;
		char info[64], cinfo[66];
		if (have[i] || rt->to[i]->w == NULL)
			continue;
		if (keyword_bits(rt->to[i]->w, cs, &bits, &overflow) == -1) {
			run->write_failed = true;
			break;
		}
		flags_make_info(cs->flags, bits, NULL, info);
		snprintf(cinfo, sizeof cinfo, ":%s", info);
		link_into(run, from->path, sub, sn + 4, rt->to[i], cinfo);
	}
}

static enum sink_take
md_begin(struct sink *s, struct reader *r, struct message *m, const char **h_r, size_t *hlen_r)
{
	struct run *run = (struct run *)s;
	struct convert_summary *sum = run->sum;
	struct client_state cs;
	struct route rt;
	uint64_t hi, lo;
	uint32_t n;
	bool this_run;
	enum sink_take take = SINK_WRITE;

	clientstate_from_header(m->header, m->header_len, &run->cso, &cs);
	client_notes(run, m, &cs);
	route_message(run, m, &cs, &rt);
	struct known kn;
	bool have = message_known(run, run->identity, m, &run->occ, &run->legacy_occ,
	    run->keystr, &hi, &lo, &n, &this_run, &kn);
	bool expunged = cs.expunged && !run->o->keep_expunged;
	uid_note(run, r, m, !have && !expunged && !opt_common.dry_run &&
	    (rt.n == 0 || rt.to[0]->w == run->w));
	if (have) {
		if (!this_run && rt.n > 1 && !opt_common.dry_run && !run->write_failed &&
		    !(kn.used & (KEY_IN_RECORD | KEY_THIS_RUN)))
			links_complete(run, &cs, &rt, hi, lo, n);
		if (!this_run) {
			sum->skipped++;
			if (run->us && !expunged && !opt_common.dry_run &&
			    (rt.n == 0 || rt.to[0]->w == run->w))
				uid_held(run, hi, lo, n);
		}
		take = SINK_HAVE;
		/* --remove-source: is the body the one DEST holds? (one deleted
		 * in Thunderbird is left out whatever its body) */
		if (!expunged && verify_begin(run, m, hi, lo, n, &kn, !this_run)) {
			take = SINK_WRITE;
			if (opt_common.dry_run) {
				*h_r = m->header;
				*hlen_r = m->header_len;
			} else if (md_prepare(run, m, &cs, &rt, h_r, hlen_r) == -1) {
				linkjob_free(&run->job);
				run->write_failed = true;
				run->vf.active = false;
				take = SINK_FAILED;
			}
		}
	} else if (expunged) {
		sum->expunged++;
		if (opt_common.verbose)
			report_info("%s:%lld: deleted in Thunderbird (expunged, folder not "
			    "compacted): left out", reader_name(r), (long long)m->offset);
		take = SINK_PASS;
	} else if (opt_common.dry_run) {
		if (opt_common.verbose)
			report_info("would deliver %s:%lld", reader_name(r), (long long)m->offset);
		take = SINK_PASS;
	} else if (md_prepare(run, m, &cs, &rt, h_r, hlen_r) == -1) {
		linkjob_free(&run->job);
		run->write_failed = true;
		take = SINK_FAILED;
	}
	client_state_free(&cs);
	return take;
}

/* A write failed (reported): DEST takes nothing more. */
static int
md_failed(struct run *run)
{
	linkjob_free(&run->job);
	run->write_failed = true;
	return -1;
}

static int
md_header(struct sink *s, const char *h, size_t hlen)
{
	struct run *run = (struct run *)s;

	bodysum_begin(&run->bs);
	if (run->vf.active && run->vf.blank)
		bodyhash_feed(&run->vf.bh, h, hlen);
	if (run->vf.active && run->vf.dry)
		return 0;
	if (maildir_writer_begin(run->mw) == -1 || maildir_writer_write(run->mw, h, hlen) == -1)
		return md_failed(run);
	run->h = h;
	run->hlen = hlen;
	return 0;
}

static int
md_body(struct sink *s, const struct iovec *iov, int iovcnt)
{
	struct run *run = (struct run *)s;

	for (int i = 0; i < iovcnt; i++)
		bodysum_feed(&run->bs, iov[i].iov_base, iov[i].iov_len);
	if (run->vf.active && run->vf.blank)
		for (int i = 0; i < iovcnt; i++)
			bodyhash_feed(&run->vf.bh, iov[i].iov_base, iov[i].iov_len);
	if (run->vf.active && run->vf.dry)
		return 0;
	return maildir_writer_writev(run->mw, iov, iovcnt) == -1 ? md_failed(run) : 0;
}

static int
md_end(struct sink *s, struct reader *r, struct message *m)
{
	struct run *run = (struct run *)s;

	uint64_t body = bodysum_end(&run->bs, false);
	if (run->vf.active) {
		bool dry = run->vf.dry;
		if (verify_end(run, r, m, body) || dry) {
			if (!dry)
				maildir_writer_abort(run->mw);
			linkjob_free(&run->job);
			return 0;
		}
	}
	run->job.body = body;
	/* counted when delivered (published_in()) */
	run->job.bytes = (uint64_t)reader_message_size(r, m);
	/* the original From_ line is kept beside DEST's own messages */
	if (run->mw == run->w && m->from_line != NULL &&
	    record_envelope(run, m, run->h, run->hlen, &run->mi) == -1) {
		maildir_writer_abort(run->mw);
		return md_failed(run);
	}
	linkq_push(run->mq, &run->job);
	memset(&run->job, 0, sizeof run->job);
	return maildir_writer_end(run->mw, &run->mi) == -1 ? md_failed(run) : 0;
}

static enum sink_result
md_abort(struct sink *s, struct reader *r)
{
	struct run *run = (struct run *)s;

	(void)r;
	bool dry = run->vf.active && run->vf.dry;
	run->vf.active = false;
	if (!dry)
		maildir_writer_abort(run->mw);
	linkjob_free(&run->job);
	return SINK_TAKEN_BACK;
}

/* The end of a source's messages, or a restart: what was delivered is made
 * durable (and recorded) before anything is said about it. */
static int
md_settle(struct sink *s, int result)
{
	struct run *run = (struct run *)s;

	if (run->envfd != -1 && run->o->sync != SYNC_NONE && fsync(run->envfd) == -1 && result == 0) {
		report_error_sys(EX_IOERR, "unable to sync %s/%s", run->dest, ENVELOPE_FILE);
		result = EX_IOERR;
		run->write_failed = true;
	}
	if ((run->w && maildir_writer_flush(run->w) == -1) || lfolders_flush(run) == -1) {
		run->write_failed = true;
		if (result == 0)
			result = report_exit_status_or(EX_IOERR);
	}
	/* links made outside a batch (links_complete()) durable before the
	 * keys are recorded */
	if (links_sync(run) == -1 && result == 0)
		result = report_exit_status_or(EX_IOERR);
	/* after a write failure the keys of what was published are still
	 * recorded (their space is allocated): a message the user deletes
	 * before the rerun stays deleted; one error line, not a second */
	if (record_sync(&run->rec, run->write_failed) == -1 && !run->write_failed && result == 0)
		result = report_exit_status_or(EX_IOERR);
	uid_finish(run, &result);
	return result;
}

static int
md_close(struct sink *s, int status)
{
	struct run *run = (struct run *)s;

	if (run->w && maildir_writer_close(run->w) == -1 && status == 0)
		status = report_exit_status_or(EX_IOERR);
	if (lfolders_close(run) == -1 && status == 0)
		status = report_exit_status_or(EX_IOERR);
	if (record_sync(&run->rec, run->write_failed) == -1 && !run->write_failed && status == 0)
		status = report_exit_status_or(EX_IOERR);
	if (!opt_common.dry_run)
		quota_update(run->dest, run->quota_bytes, run->quota_count);
	record_close(&run->rec);
	keyset_free(&run->existing);
	free(run->held);
	occset_free(&run->occ);
	occset_free(&run->legacy_occ);
	names_free(&run->vf.names);
	keyset_free(&run->vf.bodies);
	bodysum_free(&run->vf.bh.sum);
	bodysum_free(&run->bs);
	free(run->vf.buf);
	linkjob_free(&run->job);
	sb_free(&run->hdr);
	sb_free(&run->scratch);
	if (run->envfd != -1)
		close(run->envfd);
	free(run->identity);
	free(run);
	return status;
}

static const struct sink_ops maildir_sink = {
	.name = "maildir",
	.allow = 1u << SOURCE_MBOX | 1u << SOURCE_EMPTY,
	.source = md_source,
	.begin = md_begin,
	.header = md_header,
	.body = md_body,
	.end = md_end,
	.abort = md_abort,
	.settle = md_settle,
	.close = md_close,
};

struct sink *
sink_maildir_open(const struct convert_opts *o, const char *dest, int *status)
{
	struct run *run = xcalloc(1, sizeof *run);
	struct maildir_writer_opts wo = {
		.sync = o->sync,
		.batch_messages = o->batch,
		.create = true,
		.chown = o->chown,
		.uid = o->uid,
		.gid = o->gid,
		.lock_timeout = o->lock_timeout,
		.published = on_published,
		.flushed = on_flushed,
		.ctx = run,
	};

	run->base = (struct sink){ .ops = &maildir_sink, .o = o, .dest = dest };
	run->o = o;
	run->dest = dest;
	run->envfd = -1;
	run->rec.fd = -1;
	run->cso.labels = (enum label_mode)o->labels;
	run->label_root = o->label_root ? o->label_root : dest;
	*status = 0;
	if (!opt_common.dry_run) {
		run->w = maildir_writer_open(dest, &wo);
		if (run->w == NULL) {
			*status = report_exit_status_or(EX_CANTCREAT);
			free(run);
			return NULL;
		}
	}
	/* the record's lock first: a second run waits here, then sees all
	 * that the first delivered */
	if (opt_common.dry_run ? access(dest, F_OK) == 0 : true) {
		*status = record_open(&run->rec, dest, o, &run->existing,
		    o->remove_source ? &run->vf.bodies : NULL);
		if (*status != 0) {
			record_close(&run->rec);
			keyset_free(&run->existing);
			if (run->w)
				maildir_writer_discard(run->w);
			free(run);
			return NULL;
		}
	}
	run->vf.on = o->remove_source;
	bodysum_init(&run->bs);
	bodysum_init(&run->vf.bh.sum);
	if (run->vf.on)
		run->vf.buf = xmalloc(65536);
	scan_existing(dest, &run->existing, NULL, NULL);
	for (size_t i = 0; i < run->existing.cap && !run->legacy; i++)
		run->legacy = (run->existing.t[i].used & (KEY_IN_NAMES | KEY_IN_RECORD)) == KEY_IN_NAMES;
	return &run->base;
}
