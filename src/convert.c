/*
 * convert.c: `mailshift convert SOURCE... DEST` (DESIGN §3 convert,
 * mailshift-convert(1)): option parsing, and the mbox -> Maildir loop
 *
 *     open source -> next message -> deliver -> next
 *
 * over the shared core (source.c, mbox_reader.c, flags.c,
 * maildir_writer.c).
 *
 * Idempotence without state outside DEST: every delivered message carries a
 * key in its file name, X<32 hex>_<n> (convert_keys.c: XXH3-128 of the
 * From_ line and the header without the mbox metadata fields; n counts
 * earlier messages of this source with the same hash), and
 * DEST/mailshift-delivered records every key delivered. A rerun reads both
 * and skips what they hold: an interrupted run is finished, a grown mbox
 * converts only its new messages, a spool that Dovecot or mutt rewrote
 * meanwhile is recognised, a message the user deleted from the Maildir
 * stays deleted, and two identical messages of one source stay two (n = 0
 * and n = 1).
 *
 * A live spool (mailshift-convert(1) "Locking"): the source is read in
 * turns under the locks its writers take (mbox_reader.h, live reading); a
 * rewrite in place seen between two turns makes the source be read again
 * from the start, which the keys make safe.
 */
#include "config.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <popt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

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
#include "source.h"
#include "uidstate.h"
#include "util.h"

/* The key in a file name SECS.M..P..Q..X<32 hex>_<n>.host...; false if none. */
static bool
name_key(const char *name, uint64_t *hi, uint64_t *lo, uint32_t *n)
{
	const char *dot = strchr(name, '.');
	if (dot == NULL)
		return false;
	const char *end = strchr(dot + 1, '.');
	const char *x = memchr(dot + 1, 'X', end ? (size_t)(end - dot - 1) : strlen(dot + 1));
	if (x == NULL)
		return false;
	x++;
	size_t len = strcspn(x, ".,:");
	return convert_key_parse(x, len, hi, lo, n);
}

/* Keys of every message already in new/ and cur/ of a maildir. */
static void
scan_existing(const char *maildir, struct keyset *ks)
{
	static const char *const sub[] = { "new", "cur" };

	for (size_t i = 0; i < ARRAY_SIZE(sub); i++) {
		char *p = xasprintf("%s/%s", maildir, sub[i]);
		DIR *d = opendir(p);
		struct dirent *de;
		free(p);
		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			uint64_t hi, lo;
			uint32_t n;
			if (de->d_name[0] != '.' && name_key(de->d_name, &hi, &lo, &n))
				keyset_find(ks, hi, lo, n, true)->used |= KEY_IN_NAMES;
		}
		closedir(d);
	}
}

/* ---- signals --------------------------------------------------------------- */

volatile sig_atomic_t convert_got_signal;

static void
on_signal(int sig)
{
	convert_got_signal = sig;
}

void
convert_signals_catch(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	lock_stop_on(&convert_got_signal);
}

void
convert_signals_reraise(void)
{
	if (convert_got_signal) {
		signal(convert_got_signal, SIG_DFL);
		raise(convert_got_signal);
	}
}

/* ---- mbox -> Maildir --------------------------------------------------------- */

/* Headers left out of the delivery key (convert_keys.c). */
static const char *const status_headers[] = {
	"Status", "X-Status", "X-Keywords", "X-UID", "X-IMAP", "X-IMAPbase",
	"Content-Length", "Lines",
};

static bool
is_status_header(const struct header_field *f, bool keep_keywords)
{
	for (size_t i = 0; i < ARRAY_SIZE(status_headers); i++) {
		size_t n = strlen(status_headers[i]);
		if (f->name_len == n && mem_ieq(f->name, status_headers[i], n))
			return !(keep_keywords && n == 10 && mem_ieq(f->name, "X-Keywords", 10));
	}
	return false;
}

/* The header without the mbox-only fields; malformed lines are kept. */
void
convert_strip_header(const char *h, size_t len, bool keep_keywords, struct strbuf *out)
{
	struct header_iter it;
	struct header_field f;
	const char *copied = h;

	sb_reset(out);
	header_iter_init(&it, h, len);
	while (header_iter_next(&it, &f)) {
		if (!is_status_header(&f, keep_keywords))
			continue;
		sb_append(out, copied, (size_t)(f.line - copied));
		copied = f.line + f.line_len;
	}
	sb_append(out, copied, (size_t)(h + len - copied));
}

/*
 * The seven mbox metadata headers (SPEC §2.8, §2.10 ▶): Dovecot and UW
 * never show them to a client, so they become flags, keywords and UIDs and
 * are not written into the Maildir file. Lines, X-UIDL, X-Mozilla-* stay.
 */
static const char *const meta_headers[] = {
	"Status", "X-Status", "X-Keywords", "X-UID", "X-IMAP", "X-IMAPbase", "Content-Length",
};

bool
convert_is_meta_header(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(meta_headers); i++)
		if (len == strlen(meta_headers[i]) && mem_ieq(name, meta_headers[i], len))
			return true;
	return false;
}

bool
convert_consume_header(const char *h, size_t len, bool keep_keywords, struct strbuf *out)
{
	struct header_iter it;
	struct header_field f;
	const char *copied = h;
	bool changed = false;

	sb_reset(out);
	header_iter_init(&it, h, len);
	while (header_iter_next(&it, &f)) {
		if (!convert_is_meta_header(f.name, f.name_len) ||
		    (keep_keywords && f.name_len == 10 && mem_ieq(f.name, "X-Keywords", 10)))
			continue;
		sb_append(out, copied, (size_t)(f.line - copied));
		copied = f.line + f.line_len;
		changed = true;
	}
	sb_append(out, copied, (size_t)(h + len - copied));
	return changed;
}

void
convert_maildirfolder(const struct convert_opts *o, const char *folder)
{
	char *p = xasprintf("%s/maildirfolder", folder);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd != -1) {
		if (o->chown && fchown(fd, o->uid, o->gid) == -1)
			report_warn_sys("unable to chown %s", p);
		close(fd);
	} else if (errno != EEXIST) {
		report_warn_sys("unable to create %s", p);
	}
	free(p);
}

/* Arrival date when the From_ line has none (SPEC §5 W4). */
time_t
convert_fallback_time(const struct message *m, const char **how)
{
	struct header_field f;
	time_t t;

	if (header_find(m->header, m->header_len, "Received", &f)) {
		const char *semi = NULL;
		for (size_t i = 0; i < f.value_len; i++)
			if (f.value[i] == ';')
				semi = f.value + i;
		if (semi && date_parse(semi + 1, (size_t)(f.value + f.value_len - semi - 1), &t, NULL) == 0) {
			*how = "Received:";
			return t;
		}
	}
	if (header_find(m->header, m->header_len, "Date", &f) &&
	    date_parse(f.value, f.value_len, &t, NULL) == 0) {
		*how = "Date:";
		return t;
	}
	*how = "the conversion time";
	return time(NULL);
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

struct run {
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
	uint64_t quota_bytes;       /* S= of what was published, for maildirsize */
	uint64_t quota_count;
	struct clientstate_opts cso;
	const char *label_root;     /* where Gmail's folders go: DEST, or the tree's top */
	struct lfolder **lf;        /* Gmail's folders opened so far */
	size_t nlf;
	struct linkq rootq;         /* links waiting for DEST's messages to be published */
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

	if (name_key(name, &hi, &lo, &n))
		record_note(&run->rec, hi, lo, n);
	run_quota_add(run, name);
	run->sum->delivered++;
	if (opt_common.verbose)
		report_info("delivered %s/%s/%s", from, subdir, name);
	if (!linkq_pop(q, &j))
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
		(void)record_sync(&run->rec);
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
	scan_existing(f->path, &run->existing);
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

/* What became of one message handed to deliver(). */
enum deliver_result {
	DELIVER_OK,
	DELIVER_WRITE_FAILED,   /* writing failed (reported): the rest would too */
	DELIVER_READ_FAILED,    /* the reader stopped (reported): not delivered */
	DELIVER_INTERRUPTED,    /* a signal came: nothing half-written stays */
};

/* Deliver one message. */
static enum deliver_result
deliver(struct run *run, struct mbox_reader *r, struct message *m, const char *keystr,
    const struct client_state *cs, const struct route *rt)
{
	struct maildir_msginfo mi;
	const char *how = NULL;
	bool overflow = false;
	struct maildir_writer *w = rt->n ? rt->to[0]->w : run->w;
	struct linkq *q = rt->n ? rt->to[0]->q : &run->rootq;
	struct linkjob job = { 0 };

	memset(&mi, 0, sizeof mi);
	mi.flags = cs->flags;
	mi.cur = cs->old;
	/* keywords -> dovecot-keywords letters; past 26 they stay in X-Keywords */
	if (keyword_bits(w, cs, &mi.keywords, &overflow) == -1)
		return DELIVER_WRITE_FAILED;
	if (rt->n > 1) {
		job.to = xcalloc(rt->n - 1, sizeof *job.to);
		job.info = xcalloc(rt->n - 1, sizeof *job.info);
		for (size_t i = 1; i < rt->n; i++) {
			uint32_t bits;
			char info[64];
			if (keyword_bits(rt->to[i]->w, cs, &bits, &overflow) == -1) {
				linkjob_free(&job);
				return DELIVER_WRITE_FAILED;
			}
			flags_make_info(cs->flags, bits, NULL, info);
			job.to[job.n] = rt->to[i];
			job.info[job.n++] = xasprintf(":%s", info);
		}
	}
	if (overflow) {
		report_warn("%s:%lld: more than 26 keywords in %s: the rest stay in X-Keywords",
		    m->mailbox, (long long)m->offset, run->sum->dest);
		run->sum->warnings++;
	}

	if (m->env_time_ok) {
		mi.mtime = m->env_time;
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
				mi.mtime = mktime(&tm);
			}
		}
	} else {
		mi.mtime = convert_fallback_time(m, &how);
		report_warn("%s:%lld: no date in the From_ line; arrival date taken from %s",
		    m->mailbox, (long long)m->offset, how);
		run->sum->warnings++;
	}
	if (mi.mtime <= 0)
		mi.mtime = 1;
	mi.key = keystr;
	mi.cookie = run->cookie;

	if (maildir_writer_begin(w) == -1) {
		linkjob_free(&job);
		return DELIVER_WRITE_FAILED;
	}
	const char *h = m->header;
	size_t hlen = m->header_len;
	if (!run->o->keep_mbox_headers &&
	    convert_consume_header(m->header, m->header_len, overflow, &run->hdr)) {
		h = run->hdr.buf ? run->hdr.buf : "";
		hlen = run->hdr.len;
	}
	if (maildir_writer_write(w, h, hlen) == -1) {
		linkjob_free(&job);
		return DELIVER_WRITE_FAILED;
	}
	for (;;) {
		struct iovec iov[256];
		int n = ARRAY_SIZE(iov);
		int rc = mbox_reader_body(r, iov, &n);
		if (rc == -1) {
			maildir_writer_abort(w);
			linkjob_free(&job);
			return DELIVER_READ_FAILED;
		}
		if (n > 0 && maildir_writer_writev(w, iov, n) == -1) {
			linkjob_free(&job);
			return DELIVER_WRITE_FAILED;
		}
		if (rc == 0)
			break;
		if (convert_got_signal) {
			maildir_writer_abort(w);
			linkjob_free(&job);
			return DELIVER_INTERRUPTED;
		}
	}
	run->sum->bytes += (uint64_t)mbox_reader_message_size(r);
	/* the original From_ line is kept beside DEST's own messages */
	if (w == run->w && m->from_line != NULL && record_envelope(run, m, h, hlen, &mi) == -1) {
		maildir_writer_abort(w);
		linkjob_free(&job);
		return DELIVER_WRITE_FAILED;
	}
	linkq_push(q, &job);
	return maildir_writer_end(w, &mi) == -1 ? DELIVER_WRITE_FAILED : DELIVER_OK;
}

/*
 * UID state (mailshift-formats(5) "UID state"): note one message in
 * reading order. Before the first one come the pseudo message's X-IMAP
 * and the keywords of X-IMAPbase, registered in their order.
 */
static void
uid_note(struct run *run, struct mbox_reader *r, const struct message *m, bool deliver)
{
	const char *h;
	size_t n;

	if (run->us == NULL)
		return;
	if (m->index == 0 && mbox_reader_pseudo_header(r, &h, &n))
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

/* After the source's flush: write or extend DEST/dovecot-uidlist. */
static void
uid_finish(struct run *run, int *result)
{
	struct uidstate_result ur = { 0 };

	if (run->us && run->w && !opt_common.dry_run && uidstate_present(run->us)) {
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

/*
 * Is the message at hand already in DEST (or delivered before and since
 * deleted)? Its key into keystr/hi/lo/n either way. A key found only by
 * name is added to the record now.
 */
static bool
message_known(struct run *run, const char *identity, const struct message *m,
    struct occset *occ, struct occset *legacy_occ, char keystr[64], uint64_t *hi_r,
    uint64_t *lo_r, uint32_t *n_r, bool *this_run_r)
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
	struct key *k = keyset_find(&run->existing, hi, lo, n, false);
	if (run->legacy) {
		/* the occurrence numbers count every message of the source */
		uint64_t ohi, olo;
		convert_legacy_key(identity, m->from_line, m->from_line_len, m->header,
		    m->header_len, &ohi, &olo);
		uint32_t on = occset_next(legacy_occ, olo);
		struct key *ok = k ? NULL : keyset_find(&run->existing, ohi, olo, on, false);
		if (ok != NULL && (ok->used & KEY_IN_NAMES))
			k = keyset_find(&run->existing, hi, lo, n, true);
	}
	if (k == NULL)
		return false;
	*this_run_r = (k->used & KEY_THIS_RUN) && k->used >> KEY_SOURCE_SHIFT == run->source_no;
	if (!(k->used & (KEY_IN_RECORD | KEY_THIS_RUN))) {
		record_note(&run->rec, hi, lo, n);
		k->used |= KEY_IN_RECORD;
	}
	return true;
}

/* How often a source that keeps being rewritten is read again. */
#define REWRITE_RETRIES 10

/* One pass over a source's messages (again after a rewrite). */
struct pass {
	const char *identity;       /* real path, for the keys of earlier versions */
	struct occset occ, legacy_occ;
	int rc;                     /* mbox_reader_next()'s last result */
	int result;
};

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

static void
pass_messages(struct run *run, struct mbox_reader *r, struct source *src, struct pass *p)
{
	struct convert_summary *sum = run->sum;
	struct message m;

	while (!convert_got_signal && (p->rc = mbox_reader_next(r, &m)) == 1) {
		char keystr[64];
		uint64_t hi, lo;
		uint32_t n;
		bool this_run;
		sum->variant = mbox_variant_name(mbox_reader_variant(r));
		sum->messages++;
		struct client_state cs;
		struct route rt;
		clientstate_from_header(m.header, m.header_len, &run->cso, &cs);
		client_notes(run, &m, &cs);
		route_message(run, &m, &cs, &rt);
		bool have = message_known(run, p->identity, &m, &p->occ, &p->legacy_occ, keystr,
		    &hi, &lo, &n, &this_run);
		bool expunged = cs.expunged && !run->o->keep_expunged;
		uid_note(run, r, &m, !have && !expunged && !opt_common.dry_run &&
		    (rt.n == 0 || rt.to[0]->w == run->w));
		enum deliver_result d = DELIVER_OK;
		if (have) {
			if (!this_run)
				sum->skipped++;
		} else if (expunged) {
			sum->expunged++;
			if (opt_common.verbose)
				report_info("%s:%lld: deleted in Thunderbird (expunged, folder not "
				    "compacted): left out", src->name, (long long)m.offset);
		} else if (opt_common.dry_run) {
			if (opt_common.verbose)
				report_info("would deliver %s:%lld", src->name, (long long)m.offset);
		} else {
			d = deliver(run, r, &m, keystr, &cs, &rt);
		}
		client_state_free(&cs);
		if (have || expunged || opt_common.dry_run)
			continue;
		if (d == DELIVER_WRITE_FAILED) {
			/* writing failed (ENOSPC, EIO...): going on would fail the same way */
			p->result = report_exit_status_or(EX_IOERR);
			run->write_failed = true;
			break;
		}
		if (d == DELIVER_READ_FAILED) {
			p->rc = -1;     /* the reader stopped: reported, or see below */
			break;
		}
		if (d == DELIVER_INTERRUPTED)
			break;
		uint64_t bytes_read = (uint64_t)(m.offset > 0 ? m.offset : 0);
		report_progress(sum->messages, bytes_read, src->size > 0 ? (uint64_t)src->size : 0);
	}
}

/* The end of a source's messages, or a restart: what was delivered is made
 * durable (and recorded) before anything is said about it. */
static int
convert_settle(struct run *run, int result)
{
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
	/* after a write failure the messages are found by name (and recorded)
	 * by the rerun: one error line, not a second about the record */
	if (!run->write_failed && record_sync(&run->rec) == -1 && result == 0)
		result = report_exit_status_or(EX_IOERR);
	uid_finish(run, &result);
	return result;
}

/* Convert one mbox source. Returns its status (0 ok). */
static int
convert_one(struct run *run, const char *path)
{
	struct source src;
	struct convert_summary *sum = run->sum;
	struct mbox_lock lk = { .fd = -1 };
	int st = convert_source_lock(run->o, path, &lk);

	if (st != 0)
		return st;
	st = source_open(&src, path, 1u << SOURCE_MBOX | 1u << SOURCE_EMPTY);
	if (st != 0) {
		mbox_lock_release(&lk);
		return st;
	}
	if (lk.fd != -1 && src.compression != NULL) {
		if (run->o->remove_source) {
			report_error(EX_USAGE, "%s: --remove-source cannot rewrite a compressed mailbox",
			    src.name);
			source_close(&src);
			mbox_lock_release(&lk);
			return EX_USAGE;
		}
		mbox_lock_release(&lk);     /* nobody appends to a compressed file */
	}
	char *identity = NULL;
	if (strcmp(path, "-") == 0)
		identity = xstrdup("-");
	else if ((identity = realpath(path, NULL)) == NULL)
		identity = xstrdup(path);

	struct mbox_reader_opts ro = { .variant = run->o->in_variant };
	struct mbox_reader *r = NULL;
	struct pass p = { .identity = identity };
	int restarts = 0;

	if (lk.fd != -1 && !run->o->remove_source && src.seekable)
		ro.live = &lk;
	sum->variant = "empty";
	if (src.type == SOURCE_EMPTY) {
		if (src.pre_len > 0) {
			report_warn("%s: holds only empty lines: no messages", src.name);
			sum->warnings++;
		}
		goto done;
	}
	for (;;) {
		r = mbox_reader_new(&src, &ro);
		if (run->o->uid_state)
			run->us = uidstate_new(src.name);
		pass_messages(run, r, &src, &p);
		if (p.rc != -1 || p.result != 0 || !mbox_reader_rewritten(r))
			break;
		/* rewritten in place between two reads (an expunge, a flag change):
		 * what was delivered is settled, then the source is read again,
		 * knowing the keys it delivered */
		p.result = convert_settle(run, 0);
		if (p.result == 0 && record_catch_up(&run->rec, &run->existing, KEY_IN_RECORD |
		    KEY_THIS_RUN | run->source_no << KEY_SOURCE_SHIFT) == -1)
			p.result = EX_IOERR;
		if (p.result != 0)
			break;
		if (++restarts > REWRITE_RETRIES) {
			report_error(EX_TEMPFAIL, "%s: rewritten by another program %d times while "
			    "it was read: try again later", src.name, restarts);
			p.result = EX_TEMPFAIL;
			break;
		}
		report_info("%s: rewritten by another program while it was read (a mail reader "
		    "or server): reading it again from the start", src.name);
		mbox_reader_free(r);
		r = NULL;
		occset_free(&p.occ);
		occset_free(&p.legacy_occ);
		sum->messages = sum->skipped = 0;
	}
	if (p.rc == -1 && p.result == 0 && mbox_reader_held_back(r)) {
		report_warn("%s:%lld: the last message is not complete (no empty line after it) and "
		    "a program locking only with %s may still be writing it: left for the next run",
		    src.name, (long long)mbox_reader_message_offset(r), lk.dotlock);
		sum->warnings++;
		p.result = EXIT_PROBLEMS;
	} else if (p.rc == -1 && p.result == 0) {
		p.result = report_exit_status_or(EX_DATAERR);
	}
	if (r) {
		const struct mbox_counters *c = mbox_reader_counters(r);
		sum->pseudo = c->pseudo;
		sum->variant = mbox_variant_name(mbox_reader_variant(r));
		sum->warnings += c->unquoted_from + c->missing_separator + c->cl_ignored +
		    c->empty_messages;
	}
done:
	/* make this source's messages durable before saying anything about them */
	p.result = convert_settle(run, p.result);
	off_t end = lk.st.st_size;    /* what the write lock saw: all of it was read */
	occset_free(&p.occ);
	occset_free(&p.legacy_occ);
	int rc = p.rc;
	mbox_reader_free(r);
	source_close(&src);
	free(identity);
	/* --remove-source: only a source read to its end, all of it now durable */
	if (run->o->remove_source && lk.fd != -1 && p.result == 0 && rc == 0 &&
	    !convert_got_signal && !opt_common.dry_run) {
		if (convert_source_remove(&lk, end) == -1)
			p.result = report_exit_status_or(EX_IOERR);
		else
			sum->removed = sum->messages;
	}
	mbox_lock_release(&lk);
	return p.result;
}

void
convert_summary_print(const struct convert_summary *s)
{
	if (opt_common.json) {
		FILE *f = stdout;
		fputs("{\"source\":", f);
		json_cstring(f, s->source);
		fputs(",\"dest\":", f);
		json_cstring(f, s->dest);
		fputs(",\"variant\":", f);
		json_cstring(f, s->variant);
		fprintf(f, ",\"messages\":%llu,\"delivered\":%llu,\"skipped\":%llu,\"pseudo\":%llu,"
		    "\"bytes\":%llu,\"warnings\":%llu,\"removed\":%llu,\"expunged\":%llu,\"linked\":%llu,"
		    "\"clients\":{\"thunderbird\":%llu,\"evolution\":%llu,\"gmail\":%llu},"
		    "\"dry_run\":%s,\"status\":%d}\n",
		    (unsigned long long)s->messages, (unsigned long long)s->delivered,
		    (unsigned long long)s->skipped, (unsigned long long)s->pseudo,
		    (unsigned long long)s->bytes, (unsigned long long)s->warnings,
		    (unsigned long long)s->removed, (unsigned long long)s->expunged,
		    (unsigned long long)s->linked, (unsigned long long)s->client[CLIENT_THUNDERBIRD],
		    (unsigned long long)s->client[CLIENT_EVOLUTION],
		    (unsigned long long)s->client[CLIENT_GMAIL],
		    opt_common.dry_run ? "true" : "false", s->status);
		fflush(f);
		return;
	}
	if (opt_common.quiet || (s->status != 0 && s->messages == 0))
		return;     /* the error line said it all */
	report_progress_clear();
	fprintf(stderr, "%s: %s: %llu message%s (%s): %llu %s, %llu already in %s",
	    report_prefix(), s->source, (unsigned long long)s->messages, PLURAL(s->messages), s->variant,
	    (unsigned long long)(opt_common.dry_run ? s->messages - s->skipped : s->delivered),
	    opt_common.dry_run ? "would be delivered" : "delivered",
	    (unsigned long long)s->skipped, s->dest);
	if (s->pseudo)
		fprintf(stderr, ", %llu folder-internal pseudo message%s skipped", (unsigned long long)s->pseudo,
		    PLURAL(s->pseudo));
	if (s->expunged)
		fprintf(stderr, ", %llu deleted in Thunderbird left out", (unsigned long long)s->expunged);
	if (s->linked)
		fprintf(stderr, ", %llu link%s into further label folders", (unsigned long long)s->linked,
		    PLURAL(s->linked));
	if (s->removed)
		fprintf(stderr, ", %llu removed from the source", (unsigned long long)s->removed);
	if (s->warnings)
		fprintf(stderr, ", %llu warning%s", (unsigned long long)s->warnings, PLURAL(s->warnings));
	fputc('\n', stderr);
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

int
convert_to_maildir(const struct convert_opts *o, const char **sources, int nsources,
    const char *dest)
{
	struct run run = { .o = o, .dest = dest, .envfd = -1 };
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
		.ctx = &run,
	};
	int status = 0;

	convert_signals_catch();
	run.rec.fd = -1;
	run.cso.labels = (enum label_mode)o->labels;
	run.label_root = o->label_root ? o->label_root : dest;
	if (!opt_common.dry_run) {
		run.w = maildir_writer_open(dest, &wo);
		if (run.w == NULL)
			return report_exit_status_or(EX_CANTCREAT);
	}
	/* the record's lock first: a second run waits here, then sees all
	 * that the first delivered */
	if (opt_common.dry_run ? access(dest, F_OK) == 0 : true) {
		status = record_open(&run.rec, dest, o, &run.existing);
		if (status != 0) {
			record_close(&run.rec);
			keyset_free(&run.existing);
			if (run.w)
				maildir_writer_discard(run.w);
			return status;
		}
	}
	scan_existing(dest, &run.existing);
	for (size_t i = 0; i < run.existing.cap && !run.legacy; i++)
		run.legacy = (run.existing.t[i].used & (KEY_IN_NAMES | KEY_IN_RECORD)) == KEY_IN_NAMES;

	for (int i = 0; i < nsources && !convert_got_signal; i++) {
		struct convert_summary sum = { .source = strcmp(sources[i], "-") ? sources[i] : "<stdin>",
			.dest = dest, .variant = "-" };
		run.sum = &sum;
		run.source_no = (uint32_t)i + 1;
		/* what the sources before this one delivered */
		if (i > 0 && record_catch_up(&run.rec, &run.existing, KEY_IN_RECORD) == -1) {
			status = EX_IOERR;
			break;
		}
		sum.status = convert_one(&run, sources[i]);
		report_status(sum.status);
		status = exit_worse(status, sum.status);
		convert_summary_print(&sum);
		/* a destination that cannot be written stops everything */
		if (sum.status == EX_IOERR || sum.status == EX_CANTCREAT)
			break;
	}
	if (run.w && maildir_writer_close(run.w) == -1 && status == 0)
		status = report_exit_status_or(EX_IOERR);
	if (lfolders_close(&run) == -1 && status == 0)
		status = report_exit_status_or(EX_IOERR);
	if (!run.write_failed && record_sync(&run.rec) == -1 && status == 0)
		status = report_exit_status_or(EX_IOERR);
	if (!opt_common.dry_run)
		quota_update(dest, run.quota_bytes, run.quota_count);
	record_close(&run.rec);
	keyset_free(&run.existing);
	sb_free(&run.hdr);
	sb_free(&run.scratch);
	if (run.envfd != -1)
		close(run.envfd);
	convert_signals_reraise();
	return exit_worse(report_exit_status(), status);
}

/* ---- the command ---------------------------------------------------------------- */

static int
parse_owner(const char *spec, struct convert_opts *o)
{
	char *s = xstrdup(spec);
	char *colon = strchr(s, ':');
	struct passwd *pw;

	if (colon)
		*colon++ = '\0';
	pw = getpwnam(s);
	if (pw == NULL) {
		char *e;
		long v = strtol(s, &e, 10);
		if (*s == '\0' || *e != '\0' || v < 0) {
			report_error(EX_USAGE, "--owner: unknown user '%s'", s);
			free(s);
			return -1;
		}
		o->uid = (uid_t)v;
		o->gid = (gid_t)v;
	} else {
		o->uid = pw->pw_uid;
		o->gid = pw->pw_gid;
	}
	if (colon && *colon) {
		struct group *gr = getgrnam(colon);
		char *e;
		long v = strtol(colon, &e, 10);
		if (gr)
			o->gid = gr->gr_gid;
		else if (*e == '\0' && v >= 0)
			o->gid = (gid_t)v;
		else {
			report_error(EX_USAGE, "--owner: unknown group '%s'", colon);
			free(s);
			return -1;
		}
	}
	free(s);
	if (geteuid() != 0 && (o->uid != geteuid() || o->gid != getegid())) {
		report_error(EX_USAGE, "--owner needs root to give files to another user");
		return -1;
	}
	o->chown = true;
	return 0;
}

/* The word-valued options; -1 after reporting a bad one. */
static int
option_words(struct convert_opts *o, const char *from_fmt, const char *sort,
    const char *compress, const char *layout, const char *names)
{
	if (from_fmt) {
		int v = mbox_variant_parse(from_fmt);
		if (v < 0) {
			report_error(EX_USAGE, "unknown --from-format '%s'", from_fmt);
			return -1;
		}
		o->in_variant = v;
	}
	if (sort) {
		if (reader_sort_parse(sort) < 0) {
			report_error(EX_USAGE, "unknown --sort order '%s'", sort);
			return -1;
		}
		o->sort = sort;
	}
	if (compress) {
		if (mbox_compress_parse(compress) < 0) {
			report_error(EX_USAGE, "unknown --compress method '%s'", compress);
			return -1;
		}
		o->compress = compress;
	}
	if (layout) {
		if (strcmp(layout, "maildir++") != 0 && strcmp(layout, "fs") != 0) {
			report_error(EX_USAGE, "--layout must be maildir++ or fs, not '%s'", layout);
			return -1;
		}
		o->layout = layout;
	}
	if (names) {
		if (strcmp(names, "utf8") == 0)
			o->folder_charset = FOLDER_UTF8;
		else if (strcmp(names, "mutf7") == 0)
			o->folder_charset = FOLDER_MUTF7;
		else {
			report_error(EX_USAGE, "--folder-names must be utf8 or mutf7, not '%s'", names);
			return -1;
		}
	}
	return 0;
}

/* ---- the destination decides the direction -------------------------------- */

/* "x.mbox" or "x.mbx", also with the compression suffix --compress reads
 * from DEST (.gz, .zst, .xz). */
static bool
named_mbox(const char *dest)
{
	static const char *const zs[] = { ".gz", ".zst", ".xz" };
	size_t n = strlen(dest);
	for (size_t i = 0; i < sizeof zs / sizeof zs[0]; i++) {
		size_t z = strlen(zs[i]);
		if (n > z && strcmp(dest + n - z, zs[i]) == 0) {
			n -= z;
			break;
		}
	}
	return (n > 5 && strncmp(dest + n - 5, ".mbox", 5) == 0) ||
	    (n > 4 && strncmp(dest + n - 4, ".mbx", 4) == 0);
}

/*
 * Without --to (mailshift-convert(1) DESTINATION): "-" and an existing
 * file are mboxes, an existing directory is a Maildir, and a new DEST is
 * an mbox when its name says so (.mbox, .mbx, with or without .gz, .zst,
 * .xz); otherwise the direction is the other format than the first
 * SOURCE's. 1 = mbox, 0 = Maildir, -1 when no direction fits (reported).
 */
static int
dest_is_mbox(const struct convert_opts *o, const char *first, const char *dest)
{
	struct stat st;
	if (o->to)
		return strcmp(o->to, "mbox") == 0;
	if (strcmp(dest, "-") == 0)
		return 1;
	bool from_maildir = strcmp(first, "-") != 0 && source_is_maildir(first);
	if (stat(dest, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return 1;
		if (!from_maildir)
			return 0;
		report_error(EX_CANTCREAT, "%s is a directory but no Maildir: a Maildir converts into "
		    "an mbox file (name one, such as %s/%s.mbox), or with --to=maildir into a Maildir "
		    "(its messages linked, its server's state carried)", dest, dest, "NAME");
		return -1;
	}
	if (named_mbox(dest))
		return 1;
	return from_maildir;
}

/*
 * Maildir -> Maildir (mailshift-convert(1) "MAILDIR TO MAILDIR"): a Maildir
 * SOURCE with --to=maildir, or into a DEST that is a Maildir already, or
 * --in-place. A new DEST without --to stays an mbox, as above.
 */
static bool
maildir_to_maildir(const struct convert_opts *o, const char *first, const char *dest)
{
	if (o->in_place)
		return true;
	if (strcmp(first, "-") == 0 || !source_is_maildir(first))
		return false;
	if (o->to)
		return strcmp(o->to, "maildir") == 0;
	return strcmp(dest, "-") != 0 && source_is_maildir(dest);
}

/* Create the missing parent directories of DEST, with the mode mkdir -p
 * gives and, with --owner, the owner. -1 when one cannot be made (reported
 * with the reason, a file in the way named). */
static int
dest_parents(const struct convert_opts *o, const char *dest)
{
	if (strcmp(dest, "-") == 0 || opt_common.dry_run)
		return 0;
	char *p = xstrdup(dest);
	int rc = 0;
	for (char *s = strchr(p + 1, '/'); s && rc == 0; s = strchr(s + 1, '/')) {
		*s = '\0';
		struct stat st;
		if (s[-1] == '/' || (s[-1] == '.' && (s == p + 1 || s[-2] == '/'))) {
			/* "a//b", "./b", "a/./b": nothing to make */
		} else if (mkdir(p, 0777) == 0) {
			if (o->chown && lchown(p, o->uid, o->gid) == -1) {
				report_error_sys(EX_CANTCREAT, "unable to give %s to its owner", p);
				rc = -1;
			}
		} else if (errno != EEXIST) {
			if (errno == ENOTDIR)
				report_error(EX_CANTCREAT, "unable to create %s: a part of %s is a file, "
				    "not a directory", p, dest);
			else
				report_error_sys(EX_CANTCREAT, "unable to create %s for %s", p, dest);
			rc = -1;
		} else if (stat(p, &st) == 0 && !S_ISDIR(st.st_mode)) {
			report_error(EX_CANTCREAT, "unable to create %s: %s is a file, not a directory",
			    dest, p);
			rc = -1;
		}
		*s = '/';
	}
	free(p);
	return rc;
}

/* A directory that is no Maildir but holds mbox files wants -r. */
static bool
dir_of_mboxes(const char *path)
{
	struct stat st;
	if (strcmp(path, "-") == 0 || stat(path, &st) == -1 || !S_ISDIR(st.st_mode) ||
	    source_is_maildir(path))
		return false;
	DIR *d = opendir(path);
	if (d == NULL)
		return false;
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd == -1)
			continue;
		char head[5];
		found = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    read(fd, head, sizeof head) == (ssize_t)sizeof head &&
		    memcmp(head, "From ", sizeof head) == 0;
		close(fd);
	}
	closedir(d);
	return found;
}

int
cmd_convert(int argc, const char **argv)
{
	struct convert_opts o = { .in_variant = MBOX_AUTO, .out_variant = MBOX_MBOXRD, .uid_state = true,
		.sync = SYNC_BATCH, .lock_timeout = 300, .layout = "maildir++", .sort = "delivery" };
	char *to = NULL, *fmt = NULL, *sync = NULL, *owner = NULL, *from_fmt = NULL;
	char *sort = NULL, *compress = NULL, *layout = NULL, *names = NULL, *uid_state = NULL;
	int strip = 0, keep = 0, local_time = 0, batch = 1000, recursive = 0, remove_source = 0;
	int in_place = 0, overwrite_state = 0;
	char *pop3 = NULL;
	char *labels = NULL;
	int keep_expunged = 0;
	struct poptOption options[] = {
		{ "to", 't', POPT_ARG_STRING, &to, 0,
		  "output format: maildir or mbox (default: by DEST)", "FORMAT" },
		{ "mbox-format", '\0', POPT_ARG_STRING, &fmt, 0,
		  "auto, mboxo, mboxrd, mboxcl or mboxcl2 (default: auto when reading, mboxrd when writing)",
		  "VARIANT" },
		{ "keep-mbox-headers", '\0', POPT_ARG_NONE, &keep, 0,
		  "keep Status, X-Status, X-Keywords, X-UID, X-IMAP, X-IMAPbase and Content-Length "
		  "in the Maildir files", NULL },
		{ "strip-status", '\0', POPT_ARG_NONE, &strip, 0,
		  "deprecated: leaving those headers out is the default now", NULL },
		{ "sync", '\0', POPT_ARG_STRING, &sync, 0,
		  "durability: batch, message or none (default batch)", "MODE" },
		{ "batch", '\0', POPT_ARG_INT, &batch, 0, "messages per durability batch (default 1000)", "N" },
		{ "local-time", '\0', POPT_ARG_NONE, &local_time, 0,
		  "From_ dates without a zone are local time (as mutt and Dovecot write them)", NULL },
		{ "owner", '\0', POPT_ARG_STRING, &owner, 0,
		  "give what is created to USER (as root)", "USER[:GROUP]" },
		{ "lock-timeout", '\0', POPT_ARG_INT, &o.lock_timeout, 0,
		  "seconds to wait for a lock (default 300)", "SECS" },
		{ "from-format", '\0', POPT_ARG_STRING, &from_fmt, 0,
		  "mbox to mbox: the variant of SOURCE, auto, mboxo, mboxrd, mboxcl or mboxcl2 (default auto)",
		  "VARIANT" },
		{ "sort", '\0', POPT_ARG_STRING, &sort, 0,
		  "message order: delivery, date, name or none (default delivery)", "ORDER" },
		{ "compress", '\0', POPT_ARG_STRING, &compress, 0,
		  "compress the mbox: gzip, zstd, xz or none (default: by the suffix of DEST)", "METHOD" },
		{ "recursive", 'r', POPT_ARG_NONE, &recursive, 0,
		  "a tree of mboxes to a Maildir++ tree and back", NULL },
		{ "layout", '\0', POPT_ARG_STRING, &layout, 0,
		  "Maildir tree layout: maildir++ or fs (default maildir++)", "LAYOUT" },
		{ "folder-names", '\0', POPT_ARG_STRING, &names, 0,
		  "non-ASCII folder names: utf8 or mutf7 (default utf8)", "CHARSET" },
		{ "remove-source", '\0', POPT_ARG_NONE, &remove_source, 0,
		  "remove what was converted once it is durable", NULL },
		{ "uid-state", '\0', POPT_ARG_STRING, &uid_state, 0,
		  "IMAP UIDs and POP3 UIDLs: dovecot or none (default dovecot)", "STATE" },
		{ "in-place", '\0', POPT_ARG_NONE, &in_place, 0,
		  "a Maildir's server state: write Dovecot's beside the old server's files", NULL },
		{ "overwrite-state", '\0', POPT_ARG_NONE, &overwrite_state, 0,
		  "Maildir to Maildir: replace a dovecot-uidlist that exists", NULL },
		{ "pop3", '\0', POPT_ARG_STRING, &pop3, 0,
		  "Maildir to Maildir: POP3 UIDLs of courier, qmail (qmail-pop3d) or none (default courier)",
		  "SERVER" },
		{ "labels", '\0', POPT_ARG_STRING, &labels, 0,
		  "Gmail's labels: folders, keywords or none (default folders)", "MODE" },
		{ "keep-expunged", '\0', POPT_ARG_NONE, &keep_expunged, 0,
		  "deliver messages deleted in Thunderbird but not yet compacted away (flag T)", NULL },
		{ NULL, '\0', POPT_ARG_INCLUDE_TABLE, dry_run_options, 0, NULL, NULL },
		{ NULL, '\0', POPT_ARG_INCLUDE_TABLE, common_options, 0, NULL, NULL },
		POPT_TABLEEND
	};
	poptContext pc = poptGetContext("mailshift convert", argc, argv, options, 0);
	if (report_parse_options(pc, options, "[OPTIONS] SOURCE... DEST") != 0) {
		poptFreeContext(pc);
		return EX_USAGE;
	}
	const char **args = poptGetArgs(pc);
	int nargs = 0;
	while (args && args[nargs])
		nargs++;
	int status = 0;
	if (nargs < 1 || (nargs < 2 && !in_place)) {
		fprintf(stderr, "%s: usage: mailshift convert [OPTIONS] SOURCE... DEST\n", report_prefix());
		status = EX_USAGE;
		goto out;
	}
	if (to && strcmp(to, "maildir") != 0 && strcmp(to, "mbox") != 0) {
		report_error(EX_USAGE, "--to must be maildir or mbox, not '%s'", to);
		status = EX_USAGE;
		goto out;
	}
	o.to = to;
	if (fmt) {
		int v = mbox_variant_parse(fmt);
		if (v < 0) {
			report_error(EX_USAGE, "unknown --mbox-format '%s'", fmt);
			status = EX_USAGE;
			goto out;
		}
		o.in_variant = v;
		o.out_variant = v == MBOX_AUTO ? MBOX_MBOXRD : v;
	}
	if (sync) {
		int s = sync_mode_parse(sync);
		if (s < 0) {
			report_error(EX_USAGE, "unknown --sync mode '%s'", sync);
			status = EX_USAGE;
			goto out;
		}
		o.sync = (enum sync_mode)s;
	}
	if (batch < 1) {
		report_error(EX_USAGE, "--batch must be at least 1");
		status = EX_USAGE;
		goto out;
	}
	o.batch = (size_t)batch;
	if (option_words(&o, from_fmt, sort, compress, layout, names) == -1) {
		status = EX_USAGE;
		goto out;
	}
	if (uid_state && strcmp(uid_state, "dovecot") != 0 && strcmp(uid_state, "none") != 0) {
		report_error(EX_USAGE, "--uid-state must be dovecot or none, not '%s'", uid_state);
		status = EX_USAGE;
		goto out;
	}
	o.uid_state = uid_state == NULL || strcmp(uid_state, "dovecot") == 0;
	if (pop3) {
		if (strcmp(pop3, "courier") == 0)
			o.pop3 = CONVERT_POP3_COURIER;
		else if (strcmp(pop3, "qmail") == 0)
			o.pop3 = CONVERT_POP3_QMAIL;
		else if (strcmp(pop3, "none") == 0)
			o.pop3 = CONVERT_POP3_NONE;
		else {
			report_error(EX_USAGE, "--pop3 must be courier, qmail or none, not '%s'", pop3);
			status = EX_USAGE;
			goto out;
		}
	}
	o.in_place = in_place;
	o.overwrite_state = overwrite_state;
	if (labels == NULL || strcmp(labels, "folders") == 0)
		o.labels = LABELS_FOLDERS;
	else if (strcmp(labels, "keywords") == 0)
		o.labels = LABELS_KEYWORDS;
	else if (strcmp(labels, "none") == 0)
		o.labels = LABELS_NONE;
	else {
		report_error(EX_USAGE, "--labels must be folders, keywords or none, not '%s'", labels);
		status = EX_USAGE;
		goto out;
	}
	o.keep_expunged = keep_expunged;
	o.recursive = recursive;
	o.remove_source = remove_source;
	if (strip) {
		/* said also with -q: scripts that pass it should learn of it */
		fprintf(stderr, "%s: warning: --strip-status is deprecated and does nothing: the mbox "
		    "metadata headers are left out of the Maildir files by default now (Lines: is "
		    "kept); --keep-mbox-headers keeps them\n", report_prefix());
		if (keep) {
			report_error(EX_USAGE, "--strip-status and --keep-mbox-headers contradict each other");
			status = EX_USAGE;
			goto out;
		}
	}
	o.keep_mbox_headers = keep;
	o.local_time = local_time;
	if (owner && parse_owner(owner, &o) == -1) {
		status = EX_USAGE;
		goto out;
	}
	const char *dest = args[nargs - 1];
	if (o.in_place && nargs != 1) {
		report_error(EX_USAGE, "--in-place takes one Maildir (its state is written beside the "
		    "old server's)");
		status = EX_USAGE;
		goto out;
	}
	if (!o.in_place && nargs < 2) {
		fprintf(stderr, "%s: usage: mailshift convert [OPTIONS] SOURCE... DEST\n", report_prefix());
		status = EX_USAGE;
		goto out;
	}
	if (maildir_to_maildir(&o, args[0], dest)) {
		if (!o.in_place && nargs != 2) {
			report_error(EX_USAGE, "a Maildir converts into a Maildir one at a time: one SOURCE "
			    "and one DEST");
			status = EX_USAGE;
		} else if (o.in_place && o.remove_source) {
			report_error(EX_USAGE, "--in-place removes nothing: not with --remove-source");
			status = EX_USAGE;
		} else if (!o.in_place && dest_parents(&o, dest) == -1) {
			status = EX_CANTCREAT;
		} else {
			status = convert_maildir_to_maildir(&o, args[0], o.in_place ? NULL : dest);
		}
		goto out;
	}
	if (o.in_place) {
		report_error(EX_USAGE, "--in-place: %s is not a Maildir", args[0]);
		status = EX_USAGE;
		goto out;
	}
	if (o.recursive) {
		if (nargs != 2) {
			report_error(EX_USAGE, "-r takes one SOURCE directory and one DEST");
			status = EX_USAGE;
		} else if (dest_parents(&o, dest) == -1) {
			status = EX_CANTCREAT;
		} else {
			status = convert_tree(&o, args[0], dest);
		}
		goto out;
	}
	/* sources that are directories of mboxes are named with the hint, the
	 * others converted */
	const char **srcs = xcalloc((size_t)nargs, sizeof *srcs);
	int nsrcs = 0;
	for (int i = 0; i < nargs - 1; i++) {
		if (dir_of_mboxes(args[i])) {
			report_error(EX_DATAERR, "%s: a directory of mboxes, not a Maildir: convert it "
			    "with -r (one Maildir++ folder per mbox)", args[i]);
			status = EX_DATAERR;
		} else {
			srcs[nsrcs++] = args[i];
		}
	}
	int dest_mbox = nsrcs ? dest_is_mbox(&o, srcs[0], dest) : -1;
	if (dest_mbox == -1 || dest_parents(&o, dest) == -1) {
		status = report_exit_status_or(EX_CANTCREAT);
	} else if (dest_mbox) {
		if (fmt && !from_fmt)
			o.in_variant = MBOX_AUTO;   /* --mbox-format names the output here */
		int st = convert_to_mbox(&o, srcs, nsrcs, dest);
		status = st > status ? st : status;
	} else {
		int st = convert_to_maildir(&o, srcs, nsrcs, dest);
		status = st > status ? st : status;
	}
	free(srcs);
out:
	poptFreeContext(pc);
	free(to);
	free(fmt);
	free(from_fmt);
	free(sort);
	free(compress);
	free(layout);
	free(names);
	free(sync);
	free(owner);
	free(uid_state);
	free(pop3);
	free(labels);
	return status;
}
