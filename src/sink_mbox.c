/*
 * sink_mbox.c: the mbox sink of `mailshift convert` (sink.h): into an mbox (DESIGN §3 convert,
 * SPEC §2.3, §2.6, §2.10, §2.11, §3.11, §5 O1-O8, X17): Maildir -> mbox
 * and mbox -> mbox (re-quoting between variants), the messages of
 * reader.h written through mbox_writer.h:
 *
 *     recover -> scan DEST keys -> lock+open -> next message -> skip or
 *     append -> every batch: flush (fsync), record the durable size,
 *     remove the converted sources -> close
 *
 * Idempotence without state outside DEST: a message's key is XXH3-128 of
 * its From_ line and its header without the mbox-only fields (Status,
 * X-Status, X-Keywords, X-UID, X-IMAP, X-IMAPbase, Content-Length, Lines),
 * counted as a multiset. The messages already in DEST are keyed the same
 * way, and the k-th copy of a key in a source is skipped when DEST holds at
 * least k of them, so a rerun appends only what is missing.
 *
 * With --remove-source the header is not enough to remove a source: a
 * message whose body was edited under the same header is not in DEST. So
 * the bodies count too (struct bodycheck): DEST's are hashed as it is
 * scanned, a source's as it is written, and a message whose header DEST
 * holds is written all the same, then taken back unless DEST also holds
 * its body (the full key: header key and body hash).
 *
 * Crash safety of an append: "<mbox>.mailshift-append" holds the device,
 * inode and durable size of the mbox while a run appends. A run killed
 * mid-message leaves it behind; the next run takes the mbox's lock and cuts
 * the torn tail back to that size before anything else. Maildir files are
 * unlinked only after the size that holds their messages was recorded.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "convert.h"
#include "flags.h"
#include "mbox_writer.h"
#include "reader.h"
#include "report.h"
#include "serverstate.h"
#include "sink.h"
#include "testhook.h"
#include "uidstate.h"

/* ---- Maildir / mbox -> mbox ------------------------------------------------------ */

/*
 * --remove-source: the keys of header and body (see the top). A body is
 * hashed as it reads back from an mbox: a final LF added where it had none
 * (the separator mboxo and mboxrd need, SPEC §5 O3). An mboxcl2 DEST keeps
 * bodies as they are, and is read as mboxcl2 (its bodies may hold no From
 * line that would tell the reader so). mboxo and mboxcl cannot tell a
 * ">From" line from a "From" one: such a body is appended again by a rerun
 * (never removed unappended).
 */
struct bodycheck {
	bool on;
	struct keyset have;         /* full keys in DEST (count + 1 in `used`) */
	struct keyset appended;     /* appended from the current source */
	struct keyset occ;          /* its full keys so far */
	struct bodysum sum;         /* the body so far */
	bool exact;                 /* mboxcl2 DEST: read as one, bodies as they are */
	bool verifying;             /* the header is in DEST: is the body? */
};

static void
body_begin(struct bodycheck *bc)
{
	bodysum_begin(&bc->sum);
}

static void
body_feed(struct bodycheck *bc, const void *p, size_t n)
{
	bodysum_feed(&bc->sum, p, n);
}

/* The full key of a message of header key hi:lo whose body was fed. */
static void
body_key(struct bodycheck *bc, uint64_t hi, uint64_t lo, uint64_t *fhi, uint64_t *flo)
{
	convert_body_key(hi, lo, bodysum_end(&bc->sum, bc->exact), fhi, flo);
}

static void
bodycheck_free(struct bodycheck *bc)
{
	keyset_free(&bc->have);
	keyset_free(&bc->appended);
	keyset_free(&bc->occ);
	if (bc->sum.xxh)
		bodysum_free(&bc->sum);
}

struct pending {
	char *path;
	struct convert_summary *sum;
};

/* Messages appended since the last flush, of one source: counted as
 * delivered when they are durable, never when a failure took them back. */
struct unsure {
	struct convert_summary *sum;
	uint64_t messages, bytes;
};

struct mrun {
	struct sink base;
	const struct convert_opts *o;
	const char *dest;
	struct mbox_writer *w;
	char *marker;               /* "<dest>.mailshift-append" */
	int marker_fd;
	bool defer_remove;          /* compressed: sources go once DEST is published */
	struct keyset have;         /* keys already in DEST (count + 1 in `used`) */
	struct keyset appended;     /* appended from the current source */
	struct bodycheck bc;        /* --remove-source */
	struct strbuf from, hdr, strip, kw;
	struct strbuf uidh, uidkw;  /* UID state headers, keyword names */
	struct strbuf blk;          /* the header with its metadata block */
	struct pending *pending;    /* maildir files to unlink once durable */
	size_t npending, cappending;
	size_t unflushed;
	struct unsure *unsure;      /* appended, not yet durable */
	size_t nunsure, capunsure;
	struct convert_summary *sum;
	char *ck_dir;               /* the folder whose Courier keywords are loaded */
	struct courier_state ck;
	bool ck_loaded;

	/* the source being read */
	bool from_maildir;
	struct envstore *es;        /* its original From_ lines */
	struct keyset occ;          /* its keys so far */
	struct uidlist *ul;         /* its UID state */
	struct uid_out uo;
	size_t every;               /* messages a batch */

	/* the message being written */
	uint64_t hi, lo;
	uint64_t bc_hi, bc_lo;      /* its full key (--remove-source) */
	const char *h;
	size_t hlen;
};

static void
msg_key(struct mrun *run, const char *from, size_t flen, const char *h, size_t hlen,
    uint64_t *hi, uint64_t *lo)
{
	convert_message_key(from, flen, h, hlen, &run->strip, hi, lo);
}

/* Take back the torn tail an interrupted run left (see the top). */
static int
append_recover(const struct convert_opts *o, const char *dest, const char *marker)
{
	char b[128];
	unsigned long long dev = 0, ino = 0;
	long long size = -1;
	struct stat st;
	int fd = open(marker, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd == -1)
		return 0;
	ssize_t n = read_full(fd, b, sizeof b - 1);
	close(fd);
	bool ok = n > 0 && (b[n] = '\0', sscanf(b, "%llu %llu %lld", &dev, &ino, &size) == 3);
	if (lstat(dest, &st) == -1 || !S_ISREG(st.st_mode)) {
		unlink(marker);
		return 0;
	}
	struct mbox_lock lk;
	struct mbox_lock_opts lo = { .timeout = o->lock_timeout };
	int status = mbox_lock_open(&lk, dest, MBOX_LOCK_WRITE, &lo);
	if (status != 0)
		return status;
	if (ok && size >= 0 && (unsigned long long)lk.st.st_dev == dev &&
	    (unsigned long long)lk.st.st_ino == ino && lk.st.st_size > size) {
		if (ftruncate(lk.fd, (off_t)size) == -1 || fsync(lk.fd) == -1) {
			report_error_sys(EX_IOERR, "unable to take back the end of %s", dest);
			mbox_lock_release(&lk);
			return EX_IOERR;
		}
		report_warn("%s: took back %lld bytes an interrupted run left after byte %lld",
		    dest, (long long)(lk.st.st_size - size), size);
	}
	unlink(marker);
	mbox_lock_release(&lk);
	return 0;
}

/* Record the mbox's durable size (fixed width: rewritten in place). */
static int
marker_write(struct mrun *run)
{
	struct stat st;
	char b[80];

	if (stat(run->dest, &st) == -1)
		return -1;
	int n = snprintf(b, sizeof b, "%20llu %20llu %20lld\n", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino, (long long)st.st_size);
	if (pwrite(run->marker_fd, b, (size_t)n, 0) != n ||
	    (run->o->sync != SYNC_NONE && fsync(run->marker_fd) == -1)) {
		report_error_sys(EX_IOERR, "unable to write %s", run->marker);
		return -1;
	}
	return 0;
}

static int
marker_create(struct mrun *run)
{
	run->marker_fd = open(run->marker, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (run->marker_fd == -1) {
		report_error_sys(EX_CANTCREAT, "unable to create %s", run->marker);
		return -1;
	}
	return marker_write(run);
}

static void
marker_remove(struct mrun *run)
{
	if (run->marker_fd == -1)
		return;
	close(run->marker_fd);
	run->marker_fd = -1;
	unlink(run->marker);
}

static void
pending_add(struct mrun *run, const char *path)
{
	if (run->npending == run->cappending) {
		run->cappending = run->cappending ? run->cappending * 2 : 256;
		run->pending = xrealloc(run->pending, run->cappending * sizeof *run->pending);
	}
	run->pending[run->npending].path = xstrdup(path);
	run->pending[run->npending++].sum = run->sum;
}

/* Gone when it was to be removed: still in its folder under another name
 * (a client moved it or changed its flags after it was read)? */
static bool
pending_renamed(struct renamed_probe *rp, const struct pending *p)
{
	const char *name = strrchr(p->path, '/');
	const char *sub = name ? memrchr(p->path, '/', (size_t)(name - p->path)) : NULL;
	if (sub == NULL)
		return false;
	char *folder = xstrndup(p->path, (size_t)(sub - p->path));
	const char *to_sub;
	const char *held = renamed_probe_find(rp, folder, name + 1, &to_sub);
	if (held != NULL)
		report_warn("%s: not removed: a client renamed it to %s/%s/%s after it was read",
		    p->path, folder, to_sub, held);
	free(folder);
	return held != NULL;
}

static void
pending_remove(struct mrun *run)
{
	struct renamed_probe rp = { 0 };

	for (size_t i = 0; i < run->npending; i++) {
		struct pending *p = &run->pending[i];
		int gone = unlink(p->path) == 0 ? 0 : errno;
		if (gone == 0 || (gone == ENOENT && !pending_renamed(&rp, p))) {
			p->sum->removed++;
			testhook_message_done();
		} else if (gone == ENOENT) {
			p->sum->warnings++;
			report_status(EXIT_PROBLEMS);
		} else {
			errno = gone;
			report_warn_sys("unable to remove %s", p->path);
			p->sum->warnings++;
			report_status(EXIT_PROBLEMS);
		}
		free(p->path);
	}
	renamed_probe_free(&rp);
	run->npending = 0;
}

static void
unsure_add(struct mrun *run, uint64_t bytes)
{
	struct unsure *u = run->nunsure ? &run->unsure[run->nunsure - 1] : NULL;

	if (u == NULL || u->sum != run->sum) {
		if (run->nunsure == run->capunsure) {
			run->capunsure = run->capunsure ? run->capunsure * 2 : 4;
			run->unsure = xrealloc(run->unsure, run->capunsure * sizeof *run->unsure);
		}
		u = &run->unsure[run->nunsure++];
		*u = (struct unsure){ .sum = run->sum };
	}
	u->messages++;
	u->bytes += bytes;
}

/* What was appended since the last flush is durable (delivered = true) or
 * was taken back with the failed write (false). */
static void
unsure_settle(struct mrun *run, bool delivered)
{
	for (size_t i = 0; delivered && i < run->nunsure; i++) {
		run->unsure[i].sum->delivered += run->unsure[i].messages;
		run->unsure[i].sum->bytes += run->unsure[i].bytes;
	}
	run->nunsure = 0;
}

/* Everything ended so far durable; then its maildir sources go. */
static int
run_flush(struct mrun *run)
{
	if (run->w == NULL)
		return 0;
	if (mbox_writer_flush(run->w) == -1) {
		unsure_settle(run, false);
		return -1;
	}
	if (!run->defer_remove)
		unsure_settle(run, true);
	if (run->marker_fd != -1 && marker_write(run) == -1)
		return -1;
	run->unflushed = 0;
	if (!run->defer_remove)
		pending_remove(run);
	return 0;
}

/*
 * The end of a batch. Only removals wait for the batch to be durable
 * (--remove-source: the sources go after the fsync) and --sync=message asks
 * for it; otherwise the batch's write-back is started and the fsync waits
 * for the end of the run, so the disk writes while the next batch is read.
 * A crash before that fsync leaves the size recorded at the start in the
 * append marker: the rerun takes the run back and appends it again.
 */
static int
run_batch_end(struct mrun *run)
{
	if (run->w == NULL)
		return 0;
	if (run->o->remove_source || run->o->sync == SYNC_MESSAGE)
		return run_flush(run);
	run->unflushed = 0;
	return mbox_writer_writeback(run->w);
}

/* The keys of the messages already in DEST (read under our write lock). */
static int
scan_dest(struct mrun *run)
{
	struct stat st;

	if (stat(run->dest, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size == 0)
		return 0;
	struct reader *r;
	struct reader_opts ro = { .allow = 1u << SOURCE_MBOX | 1u << SOURCE_EMPTY, .quiet = true };
	ro.mbox.quiet = true;
	ro.mbox.keep_pseudo = true;
	if (run->bc.exact)
		ro.mbox.variant = MBOX_MBOXCL2;
	int status = reader_open(&r, run->dest, &ro);
	if (status != 0)
		return status;
	struct message m;
	struct bodycheck *bc = &run->bc;
	int rc;
	while ((rc = reader_next(r, &m, bc->on ? READER_WANT_FULL : READER_WANT_HEADER)) == 1) {
		uint64_t hi, lo;
		msg_key(run, m.from_line, m.from_line_len, m.header, m.header_len, &hi, &lo);
		keyset_find(&run->have, hi, lo, 0, true)->used++;
		if (!bc->on)
			continue;
		body_begin(bc);
		int brc;
		do {
			struct iovec iov[64];
			int n = ARRAY_SIZE(iov);
			if ((brc = reader_body(r, iov, &n)) == -1)
				break;
			for (int i = 0; i < n; i++)
				body_feed(bc, iov[i].iov_base, iov[i].iov_len);
		} while (brc == 1);
		if (brc == -1) {
			rc = -1;
			break;
		}
		body_key(bc, hi, lo, &hi, &lo);
		keyset_find(&bc->have, hi, lo, 0, true)->used++;
	}
	reader_close(r);
	return rc == -1 ? report_exit_status_or(EX_DATAERR) : 0;
}

static bool words_in(const char *a, size_t alen, const char *b, size_t blen);

static void
courier_drop(struct mrun *run)
{
	if (run->ck_loaded)
		courier_state_free(&run->ck);
	run->ck_loaded = false;
	free(run->ck_dir);
	run->ck_dir = NULL;
}

/*
 * The Courier keywords (courierimapkeywords/, SPEC §1.11) of the folder of
 * a maildir message, loaded when the folder changes; NULL when it has
 * none. Lines that cannot be used are named.
 */
static const struct courier_keywords *
courier_keywords_of(struct mrun *run, const struct message *m)
{
	const char *sl = strrchr(m->path, '/');
	size_t dl = sl ? (size_t)(sl - m->path) : 0;

	while (dl > 0 && m->path[dl - 1] != '/')
		dl--;                       /* back over "cur" or "new" */
	if (dl > 0)
		dl--;
	if (run->ck_dir == NULL || strlen(run->ck_dir) != dl || memcmp(run->ck_dir, m->path, dl) != 0) {
		courier_drop(run);
		run->ck_dir = xstrndup(m->path, dl ? dl : 1);
		if (dl == 0)
			strcpy(run->ck_dir, ".");
		int fd = open(run->ck_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct state_findings f = STATE_FINDINGS_INIT;
		memset(&run->ck, 0, sizeof run->ck);
		if (fd != -1 && courier_state_load(fd, run->ck_dir, &run->ck, &f) == 0) {
			run->ck_loaded = true;
			struct strbuf line = STRBUF_INIT;
			for (size_t i = 0; i < f.n; i++) {
				if (f.v[i].what != STATE_BAD_INDEX && f.v[i].what != STATE_BAD_KEYWORD &&
				    f.v[i].what != STATE_BAD_LINE && f.v[i].what != STATE_TRUNCATED &&
				    f.v[i].what != STATE_UNREADABLE)
					continue;           /* the other files are not read here */
				sb_reset(&line);
				state_finding_format(&f.v[i], &line);
				report_warn("%s", line.buf);
				run->sum->warnings++;
			}
			sb_free(&line);
		}
		state_findings_free(&f);
		if (fd != -1)
			close(fd);
	}
	return run->ck_loaded && run->ck.kw.present ? &run->ck.kw : NULL;
}

/* Add a name to run->kw unless it is there. */
static void
kw_add_name(struct mrun *run, const char *p, size_t n)
{
	if (n == 0 || words_in(p, n, run->kw.buf ? run->kw.buf : "", run->kw.len))
		return;
	if (run->kw.len)
		sb_appendc(&run->kw, ' ');
	sb_append(&run->kw, p, n);
}

/* Keyword names for X-Keywords: the message's letters, the names Courier
 * keeps for it in courierimapkeywords/, plus names the header holds that
 * this maildir has no letter for (SPEC §5 W2). */
static void
keywords_of(struct mrun *run, struct reader *mr, const struct message *m,
    const struct mbox_state *st)
{
	const char *names[26];

	sb_reset(&run->kw);
	for (int i = 0; i < 26; i++) {
		names[i] = reader_keyword_name(mr, (char)('a' + i));
		if ((m->keywords & 1u << i) && names[i] != NULL) {
			if (run->kw.len)
				sb_appendc(&run->kw, ' ');
			sb_appends(&run->kw, names[i]);
		}
	}
	const struct courier_keywords *ck = courier_keywords_of(run, m);
	const char *fn = m->filename ? m->filename : "";
	const struct courier_kw_msg *km = ck ? courier_kw_lookup(ck, fn, strcspn(fn, ":")) : NULL;
	for (size_t i = 0; km && i < km->n; i++)
		if (km->idx[i] < ck->nnames && ck->valid[km->idx[i]])
			kw_add_name(run, ck->names[km->idx[i]], strlen(ck->names[km->idx[i]]));
	for (const char *p = st->keywords.buf, *e = p ? p + st->keywords.len : NULL; p && p < e;) {
		const char *s = memchr(p, ' ', (size_t)(e - p));
		size_t n = s ? (size_t)(s - p) : (size_t)(e - p);
		bool known = false;
		for (int i = 0; i < 26 && !known; i++)
			known = names[i] && strlen(names[i]) == n && memcmp(names[i], p, n) == 0;
		if (n && !known) {
			if (run->kw.len)
				sb_appendc(&run->kw, ' ');
			sb_append(&run->kw, p, n);
		}
		p += n + 1;
	}
}

/* Every SP-separated word of a is in b. */
static bool
words_in(const char *a, size_t alen, const char *b, size_t blen)
{
	for (const char *p = a, *e = a + alen; p < e;) {
		const char *s = memchr(p, ' ', (size_t)(e - p));
		size_t n = s ? (size_t)(s - p) : (size_t)(e - p);
		bool found = n == 0;
		for (const char *q = b, *f = b + blen; !found && q < f;) {
			const char *t = memchr(q, ' ', (size_t)(f - q));
			size_t k = t ? (size_t)(t - q) : (size_t)(f - q);
			found = k == n && memcmp(p, q, n) == 0;
			q += k + 1;
		}
		if (!found)
			return false;
		p += n + 1;
	}
	return true;
}

/*
 * Does the header already say what the maildir says? Then it is written
 * byte for byte as it is, whatever letters it uses (legacy `r`, `R`
 * without `O`, X-Status without Status: all read back to the same state),
 * which is what makes mbox -> Maildir -> mbox exact (SPEC §2.10 ▶).
 */
static bool
state_unchanged(const struct message *m, const struct mbox_state *st, const struct strbuf *kw)
{
	const char *k = st->keywords.buf ? st->keywords.buf : "";
	const char *w = kw->buf ? kw->buf : "";
	return st->flags == m->flags &&
	    (st->old || st->flags != 0 || st->keywords.len > 0) == m->in_cur &&
	    words_in(k, st->keywords.len, w, kw->len) && words_in(w, kw->len, k, st->keywords.len);
}

/* From_ line and header of a maildir message (SPEC §2.10 ▶, §3.11 ▶). */
static void
maildir_head(struct mrun *run, struct reader *mr, const struct envstore *es,
    const struct message *m, const char **h_r, size_t *hlen_r)
{
	char key[48];
	const char *line;
	size_t len;

	sb_reset(&run->from);
	if (convert_name_key(m->filename, key, sizeof key) &&
	    envstore_lookup(es, key, m->env_time, &line, &len)) {
		sb_append(&run->from, line, len);
	} else {
		time_t t = m->env_time;
		if (!m->env_time_ok || t <= 0 || t > time(NULL) + 86400) {
			const char *how;
			t = convert_fallback_time(m, &how);
			report_warn("%s: no usable mtime; the From_ date comes from %s", m->path, how);
			run->sum->warnings++;
		}
		mbox_from_line_build(NULL, 0, m->header, m->header_len, t, &run->from);
	}
	*h_r = m->header;
	*hlen_r = m->header_len;
	if (!m->header_complete)
		return;     /* no end of header to add fields before: kept as is */
	/* the header's own state, read once for both uses */
	struct mbox_state st;
	flags_from_mbox_header(m->header, m->header_len, &st);
	keywords_of(run, mr, m, &st);
	bool same = state_unchanged(m, &st, &run->kw);
	mbox_state_free(&st);
	if (same)
		return;
	if (mbox_header_set_flags(m->header, m->header_len, m->flags, m->in_cur,
	    run->kw.buf ? run->kw.buf : "", run->kw.len, &run->hdr)) {
		*h_r = run->hdr.buf;
		*hlen_r = run->hdr.len;
	}
}

/*
 * UID state of a Maildir source (mailshift-formats(5) "UID state"): its
 * dovecot-uidlist and keyword names, or NULL when it has none or it is
 * not wanted.
 */
static struct uidlist *
uid_begin(struct mrun *run, struct reader *r, struct uid_out *uo)
{
	struct uidlist *ul = NULL;

	if (reader_type(r) != SOURCE_MAILDIR || !run->o->uid_state)
		return NULL;
	if (uidlist_read(reader_dirfd(r), reader_name(r), &ul) == -1) {
		run->sum->warnings++;       /* reported: converted without UID state */
		return NULL;
	}
	if (ul == NULL)
		return NULL;
	sb_reset(&run->uidkw);
	for (char c = 'a'; c <= 'z'; c++) {
		const char *k = reader_keyword_name(r, c);
		if (k == NULL)
			continue;
		if (run->uidkw.len)
			sb_appendc(&run->uidkw, ' ');
		sb_appends(&run->uidkw, k);
	}
	uid_out_init(uo, ul, run->uidkw.buf, run->uidkw.len);
	return ul;
}

/* X-IMAPbase, X-UID, X-UIDL for one message of the Maildir's INBOX. */
static void
uid_head(struct mrun *run, struct uid_out *uo, const struct message *m, const char **h_r,
    size_t *hlen_r)
{
	if (!m->header_complete || (m->folder != NULL && *m->folder != '\0'))
		return;
	size_t before = uo->unplaced;
	if (uid_out_header(uo, m->filename, strlen(m->filename), *h_r, *hlen_r, &run->uidh)) {
		*h_r = run->uidh.buf;
		*hlen_r = run->uidh.len;
	}
	if (uo->unplaced > before) {
		report_warn("%s: out of UID order and no UID left to give: written without X-UID",
		    m->path);
		run->sum->warnings++;
	}
}

/* Spaces after the block of a CRLF message (Dovecot's own padding). */
#define META_PADDING 50

/* Where UW writes a metadata field in its block (SPEC §2.8), -1 for others. */
static int
uw_rank(const struct header_field *f)
{
	static const char *const order[] = { "X-IMAPbase", "Status", "X-Status", "X-Keywords", "X-UID" };
	static const size_t len[] = { 10, 6, 8, 10, 5 };
	for (size_t i = 0; i < ARRAY_SIZE(order); i++)
		if (f->name_len == len[i] && mem_ieq(f->name, order[i], f->name_len))
			return (int)i;
	return -1;
}

/*
 * A Maildir file without mbox metadata (what mbox -> Maildir writes) gets
 * the fields that carry its flags, keywords and UIDs as one block at the
 * end of the header, in UW's order: X-IMAPbase, Status, X-Status,
 * X-Keywords, X-UID (SPEC §2.10 ▶). mbox -> Maildir consumes exactly that
 * block again, so Maildir -> mbox -> Maildir gives the same bytes. A file
 * that holds such fields itself keeps them where they are (edited in place).
 */
static void
meta_block(struct mrun *run, const struct message *m, const char **h_r, size_t *hlen_r)
{
	struct header_iter it;
	struct header_field f;
	const char *h = *h_r;
	size_t hlen = *hlen_r;

	if (h == m->header)
		return;                 /* nothing was added */
	header_iter_init(&it, m->header, m->header_len);
	while (header_iter_next(&it, &f))
		if (convert_is_meta_header(f.name, f.name_len))
			return;
	struct strbuf *out = &run->blk;
	const char *copied = h;
	const char *fields[5] = { 0 };
	size_t lens[5] = { 0 };
	bool moved = false;

	sb_reset(out);
	header_iter_init(&it, h, hlen);
	while (header_iter_next(&it, &f)) {
		int k = uw_rank(&f);
		if (k < 0 || fields[k] != NULL)
			continue;
		sb_append(out, copied, (size_t)(f.line - copied));
		copied = f.line + f.line_len;
		fields[k] = f.line;
		lens[k] = f.line_len;
		moved = true;
	}
	if (!moved)
		return;
	/* the fields before the empty line, then the block, then the rest */
	size_t tail = (size_t)(h + hlen - copied);
	size_t at = tail;
	header_iter_init(&it, copied, tail);
	while (header_iter_next(&it, &f))
		at = (size_t)(f.line + f.line_len - copied);
	if (at == tail)
		at = 0;
	sb_append(out, copied, at);
	/* LF line ends even in a CRLF message: Dovecot writes its own fields
	 * so and takes a CR before LF for a part of the value (an X-UID it
	 * cannot read, a UID renumbered, then a rewrite that overran the next
	 * message) */
	int last = -1;
	for (int k = 0; k < 5; k++)
		if (fields[k])
			last = k;
	bool crlf = false;
	for (int k = 0; k < 5; k++) {
		for (size_t i = 0; fields[k] && i < lens[k]; i++) {
			if (fields[k][i] == '\r' && i + 1 < lens[k] && fields[k][i + 1] == '\n') {
				crlf = true;
				continue;
			}
			/* and room to rewrite the block in place, as Dovecot leaves
			 * itself: it cannot move a CRLF message's text correctly */
			if (k == last && crlf && fields[k][i] == '\n' && i + 1 == lens[k])
				sb_appendf(out, "%*s", META_PADDING, "");
			sb_appendc(out, fields[k][i]);
		}
	}
	sb_append(out, copied + at, tail - at);
	*h_r = out->buf;
	*hlen_r = out->len;
}

static int
mrun_open(struct mrun *run, const char *dest)
{
	const struct convert_opts *o = run->o;
	struct mbox_writer_opts wo = {
		.variant = (enum mbox_variant)o->out_variant,
		.compress = o->compress ? (enum mbox_compress)mbox_compress_parse(o->compress)
		    : MBOX_COMPRESS_AUTO,
		.lock = { .timeout = o->lock_timeout },
		.no_sync = o->sync == SYNC_NONE,
		.chown = o->chown, .uid = o->uid, .gid = o->gid,
	};
	bool plain = strcmp(dest, "-") != 0 &&
	    (wo.compress == MBOX_COMPRESS_NONE ||
	     (wo.compress == MBOX_COMPRESS_AUTO && mbox_compress_from_suffix(dest) == MBOX_COMPRESS_NONE));
	int status;

	if (strcmp(dest, "-") == 0 && o->remove_source) {
		report_error(EX_USAGE, "--remove-source needs a DEST file: a pipe is never durable");
		return EX_USAGE;
	}
	run->defer_remove = !plain;
	if (plain && (status = append_recover(o, dest, run->marker)) != 0)
		return status;
	if (opt_common.dry_run)
		return plain ? scan_dest(run) : 0;
	if ((status = mbox_writer_open(&run->w, dest, &wo)) != 0)
		return status;
	if (plain && ((status = scan_dest(run)) != 0 || marker_create(run) == -1)) {
		mbox_writer_abort(run->w);
		run->w = NULL;
		marker_remove(run);
		return status ? status : EX_CANTCREAT;
	}
	return 0;
}

/* ---- the sink ------------------------------------------------------------------ */

static bool
same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	    sa.st_ino == sb.st_ino;
}

static int
mb_accept(struct sink *s, const char *path)
{
	struct mrun *run = (struct mrun *)s;

	if (strcmp(path, "-") != 0 && strcmp(run->dest, "-") != 0 && same_file(path, run->dest)) {
		report_error(EX_USAGE, "%s is both SOURCE and DEST", path);
		return EX_USAGE;
	}
	if (run->defer_remove && run->o->remove_source && !reader_is_maildir(path)) {
		report_error(EX_USAGE, "%s: --remove-source into a compressed or piped DEST takes "
		    "Maildir sources only", path);
		return EX_USAGE;
	}
	return 0;
}

/* What one reading of a source kept. */
static void
mb_pass_free(struct mrun *run)
{
	keyset_free(&run->occ);
	keyset_free(&run->bc.occ);
	envstore_free(run->es);
	run->es = NULL;
	uidlist_free(run->ul);
	run->ul = NULL;
}

static int
mb_source(struct sink *s, struct reader *r, const char *path, bool again)
{
	struct mrun *run = (struct mrun *)s;

	(void)path;
	run->sum = s->sum;
	if (!again) {
		keyset_free(&run->appended);
		keyset_free(&run->bc.appended);
	}
	mb_pass_free(run);
	run->from_maildir = reader_type(r) == SOURCE_MAILDIR;
	run->es = run->from_maildir ? envstore_load(reader_name(r)) : NULL;
	run->ul = uid_begin(run, r, &run->uo);
	run->every = run->o->sync == SYNC_MESSAGE ? 1 : run->o->batch;
	return 0;
}

static enum sink_take
mb_begin(struct sink *s, struct reader *r, struct message *m, const char **h_r, size_t *hlen_r)
{
	struct mrun *run = (struct mrun *)s;
	const char *h = m->header;
	size_t hlen = m->header_len;

	if (run->from_maildir) {
		maildir_head(run, r, run->es, m, &h, &hlen);
		if (run->ul)
			uid_head(run, &run->uo, m, &h, &hlen);
		meta_block(run, m, &h, &hlen);
	} else {
		sb_reset(&run->from);
		sb_append(&run->from, m->from_line, m->from_line_len);
	}
	/* The key leaves out the fields maildir_head and meta_block add, edit or
	 * move, so the file's own header gives the same key in fewer walks (it
	 * is indexed by now); uid_head's X-UIDL is kept in the key. */
	if (run->ul == NULL)
		msg_key(run, run->from.buf, run->from.len, m->header, m->header_len, &run->hi, &run->lo);
	else
		msg_key(run, run->from.buf, run->from.len, h, hlen, &run->hi, &run->lo);
	struct key *k = keyset_find(&run->occ, run->hi, run->lo, 0, true);
	uint32_t nth = k->used++;           /* 1 for the first copy */
	struct key *d = keyset_find(&run->have, run->hi, run->lo, 0, false);
	/* a source read again after a rewrite meets what its first reading
	 * appended, after the copies DEST held before */
	struct key *ours = keyset_find(&run->appended, run->hi, run->lo, 0, false);
	uint32_t held = d ? d->used - 1 : 0, again = ours ? ours->used - 1 : 0;
	run->bc.verifying = false;
	if (run->bc.on)
		body_begin(&run->bc);
	if (held + again >= nth && run->bc.on && !run->defer_remove) {
		/* removed only if DEST holds the body too: written, then
		 * taken back at the end if it does */
		run->bc.verifying = true;
	} else if (held + again >= nth) {
		if (nth <= held)
			run->sum->skipped++;
		if (run->from_maildir && run->o->remove_source && !opt_common.dry_run)
			pending_add(run, m->path);
		return SINK_HAVE;
	}
	if (opt_common.dry_run) {
		if (opt_common.verbose)
			report_info("would append %s", run->from_maildir ? m->path : reader_name(r));
		return SINK_PASS;
	}
	*h_r = h;
	*hlen_r = hlen;
	return SINK_WRITE;
}

static int
mb_header(struct sink *s, const char *h, size_t hlen)
{
	struct mrun *run = (struct mrun *)s;
	struct mbox_msg_out mo = {
		.from_line = run->from.buf, .from_line_len = run->from.len,
		.hdr = h, .hdr_len = hlen, .body_len = -1, .body_lines = -1,
	};

	return mbox_writer_begin(run->w, &mo);
}

static int
mb_body(struct sink *s, const struct iovec *iov, int iovcnt)
{
	struct mrun *run = (struct mrun *)s;

	if (run->bc.on)
		for (int i = 0; i < iovcnt; i++)
			body_feed(&run->bc, iov[i].iov_base, iov[i].iov_len);
	return mbox_writer_body(run->w, iov, iovcnt);
}

/* --remove-source: a message whose header DEST holds, written; does DEST
 * hold its body too? Then it is taken back (1), and counted as held. */
static int
body_held(struct mrun *run, struct reader *r, struct message *m)
{
	struct bodycheck *bc = &run->bc;
	uint64_t hi, lo;

	body_key(bc, run->hi, run->lo, &hi, &lo);
	uint32_t nth = keyset_find(&bc->occ, hi, lo, 0, true)->used++;
	run->bc_hi = hi, run->bc_lo = lo;
	if (!bc->verifying)
		return 0;
	struct key *d = keyset_find(&bc->have, hi, lo, 0, false);
	struct key *ours = keyset_find(&bc->appended, hi, lo, 0, false);
	uint32_t held = d ? d->used - 1 : 0, again = ours ? ours->used - 1 : 0;
	if (held + again < nth) {
		if (!opt_common.quiet)
			report_info("%s: the same From_ line and header as a message in %s, another "
			    "body: appended", run->from_maildir ? m->path : reader_name(r), run->dest);
		return 0;
	}
	if (mbox_writer_cancel(run->w) == -1)
		return -1;
	if (nth <= held)
		run->sum->skipped++;
	if (run->from_maildir)
		pending_add(run, m->path);
	return 1;
}

static int
mb_end(struct sink *s, struct reader *r, struct message *m)
{
	struct mrun *run = (struct mrun *)s;

	if (run->bc.on) {
		int held = body_held(run, r, m);
		if (held != 0)
			return held == 1 ? 0 : -1;
	}
	if (mbox_writer_end(run->w) == -1)
		return -1;
	keyset_find(&run->appended, run->hi, run->lo, 0, true)->used++;
	if (run->bc.on)
		keyset_find(&run->bc.appended, run->bc_hi, run->bc_lo, 0, true)->used++;
	int64_t size = reader_message_size(r, m);
	unsure_add(run, size > 0 ? (uint64_t)size : 0);
	if (run->from_maildir && run->o->remove_source)
		pending_add(run, m->path);
	testhook_message_done();
	if (++run->unflushed >= run->every && run_batch_end(run) == -1)
		return -1;
	return 0;
}

/* The reader stopped inside a message (an mbox rewritten or cut short
 * under us): what was appended of it is taken back. */
static enum sink_result
mb_abort(struct sink *s, struct reader *r)
{
	struct mrun *run = (struct mrun *)s;

	if (mbox_writer_cancel(run->w) == -1) {
		report_error(EX_TEMPFAIL, "%s: changed while it was read, and %s cannot take back "
		    "a message: try again", reader_name(r), run->dest);
		return SINK_STUCK;
	}
	return SINK_TAKEN_BACK;
}

static int
mb_settle(struct sink *s, int result)
{
	struct mrun *run = (struct mrun *)s;

	/* also after a failed reading: what it appended stays, and its
	 * summary, printed now, counts what is durable */
	if (run_flush(run) == -1 && result == 0)
		result = report_exit_status_or(EX_IOERR);
	return result;
}

static int
mb_close(struct sink *s, int status)
{
	struct mrun *run = (struct mrun *)s;

	if (run->w != NULL) {
		if (status == 0 && !convert_got_signal)
			marker_remove(run);         /* all durable, all sources removed */
		int closed = mbox_writer_close(run->w);
		unsure_settle(run, closed == 0);
		status = exit_worse(status, closed);
		marker_remove(run);
	}
	/* compressed: the file exists only now */
	if (run->defer_remove && status == 0)
		pending_remove(run);
	for (size_t i = 0; i < run->npending; i++)
		free(run->pending[i].path);
	free(run->pending);
	free(run->unsure);
	mb_pass_free(run);
	keyset_free(&run->have);
	keyset_free(&run->appended);
	bodycheck_free(&run->bc);
	sb_free(&run->from);
	sb_free(&run->hdr);
	sb_free(&run->strip);
	sb_free(&run->kw);
	courier_drop(run);
	sb_free(&run->uidh);
	sb_free(&run->uidkw);
	sb_free(&run->blk);
	free(run->marker);
	free(run);
	return status;
}

static const struct sink_ops mbox_sink = {
	.name = "mbox",
	.allow = 1u << SOURCE_MBOX | 1u << SOURCE_EMPTY | 1u << SOURCE_MAILDIR,
	.accept = mb_accept,
	.source = mb_source,
	.begin = mb_begin,
	.header = mb_header,
	.body = mb_body,
	.end = mb_end,
	.abort = mb_abort,
	.settle = mb_settle,
	.close = mb_close,
};

struct sink *
sink_mbox_open(const struct convert_opts *o, const char *dest, int *status)
{
	struct mrun *run = xcalloc(1, sizeof *run);

	run->base = (struct sink){ .ops = &mbox_sink, .o = o, .dest = dest };
	run->o = o;
	run->dest = dest;
	run->marker_fd = -1;
	run->marker = xasprintf("%s.mailshift-append", dest);
	if (o->remove_source && !opt_common.dry_run) {
		run->bc.on = true;
		run->bc.exact = o->out_variant == MBOX_MBOXCL2;
		bodysum_init(&run->bc.sum);
	}
	if (strcmp(dest, "-") == 0)
		signal(SIGPIPE, SIG_DFL);   /* a closed pipe ends us quietly */
	if ((*status = mrun_open(run, dest)) != 0) {
		free(run->marker);
		keyset_free(&run->have);
		bodycheck_free(&run->bc);
		free(run);
		return NULL;
	}
	run->base.summaries_last = run->defer_remove;
	return &run->base;
}
