/*
 * stats.c: `mailshift stats [OPTIONS] MAILBOX...` (DESIGN §3 stats,
 * mailshift-stats(1)): per mailbox, per Maildir++ folder (-r) and in total,
 * messages, bytes, flags and keywords, date range and messages per year or
 * month, top senders and sender domains, the largest messages, and on
 * request messages with attachments (SPEC §3.5) and duplicates (the dedup
 * default key of dedupkey.h: Message-ID and body, else the whole message).
 *
 * Reading costs are chosen by the figures asked for (DESIGN §6): --counts
 * reads Maildir names only (READER_WANT_NAME, ",S=" sizes; an lstat only
 * for a name without ,S=); the default reads header blocks
 * (READER_WANT_HEADER); --attachments and --duplicates read bodies. An mbox
 * is a stream either way; its bytes are message bytes as a Maildir file
 * would hold them: no From_ line, no separator, mboxrd quoting removed.
 *
 * Dates (SPEC §3.7): Date: when it parses, else the envelope (the From_
 * line of an mbox; a Maildir file's mtime, its arrival date, SPEC §1.4),
 * else the mbox file's mtime or the Maildir name's seconds; each fallback
 * is counted. Senders (SPEC §3.8, §3.9): the first From: mailbox's
 * addr-spec, lower-cased, with the display name decoded from RFC 2047;
 * none gives "(none)".
 */
#include "config.h"

#include <errno.h>
#include <popt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "commands.h"
#include "date.h"
#include "dedupkey.h"
#include "clientstate.h"
#include "flags.h"
#include "header.h"
#include "mime.h"
#include "reader.h"
#include "report.h"
#include "util.h"

/* The text report fits 72 columns: a terminal, a mail from cron (whose
 * readers wrap longer lines) and the manual page's example alike. LABEL is
 * the width of the MAILBOX column of the table. */
#define WIDTH 72
#define LABEL 21

/* ---- counting maps: bytes -> count (and a display name) ------------------- */

struct cmap_ent {
	char *key;
	size_t klen;
	uint64_t n;
	char *name;        /* senders: decoded display name of the first sighting */
};

struct cmap {
	struct cmap_ent *t;
	size_t cap, len;
};

static size_t
cmap_slot(const struct cmap *m, const char *k, size_t n)
{
	return (size_t)XXH3_64bits(k, n) & (m->cap - 1);
}

static struct cmap_ent *
cmap_add(struct cmap *m, const char *k, size_t n, uint64_t by)
{
	if (m->cap == 0 || (m->len + 1) * 4 > m->cap * 3) {
		struct cmap nm = { xcalloc(m->cap ? m->cap * 2 : 64, sizeof(struct cmap_ent)),
		    m->cap ? m->cap * 2 : 64, m->len };
		for (size_t i = 0; i < m->cap; i++) {
			if (m->t[i].key == NULL)
				continue;
			size_t j = cmap_slot(&nm, m->t[i].key, m->t[i].klen);
			while (nm.t[j].key)
				j = (j + 1) & (nm.cap - 1);
			nm.t[j] = m->t[i];
		}
		free(m->t);
		*m = nm;
	}
	size_t j = cmap_slot(m, k, n);
	while (m->t[j].key) {
		if (m->t[j].klen == n && memcmp(m->t[j].key, k, n) == 0) {
			m->t[j].n += by;
			return &m->t[j];
		}
		j = (j + 1) & (m->cap - 1);
	}
	m->t[j].key = xstrndup(k, n);
	m->t[j].klen = n;
	m->t[j].n = by;
	m->len++;
	return &m->t[j];
}

static void
cmap_free(struct cmap *m)
{
	for (size_t i = 0; i < m->cap; i++) {
		free(m->t[i].key);
		free(m->t[i].name);
	}
	free(m->t);
	memset(m, 0, sizeof *m);
}

static int
ent_cmp_count(const void *a, const void *b)
{
	const struct cmap_ent *x = *(struct cmap_ent *const *)a, *y = *(struct cmap_ent *const *)b;
	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->key, y->key);
}

static int
ent_cmp_key(const void *a, const void *b)
{
	const struct cmap_ent *x = *(struct cmap_ent *const *)a, *y = *(struct cmap_ent *const *)b;
	return strcmp(x->key, y->key);
}

/* The entries, sorted by count (descending, then key) or by key; free() it. */
static struct cmap_ent **
cmap_sorted(const struct cmap *m, bool by_key)
{
	struct cmap_ent **v = xcalloc(m->len + 1, sizeof *v);
	size_t k = 0;

	for (size_t i = 0; i < m->cap; i++)
		if (m->t[i].key)
			v[k++] = &m->t[i];
	qsort(v, k, sizeof *v, by_key ? ent_cmp_key : ent_cmp_count);
	return v;
}

/* ---- a set of 128-bit keys (duplicates) ------------------------------------- */

struct kset {
	XXH128_hash_t *t;
	size_t cap, len;
};

/* Insert; true when the key was already there. Key 0:0 is never used. */
static bool
kset_seen(struct kset *s, XXH128_hash_t k)
{
	if (k.high64 == 0 && k.low64 == 0)
		k.low64 = 1;
	if (s->cap == 0 || (s->len + 1) * 4 > s->cap * 3) {
		struct kset ns = { xcalloc(s->cap ? s->cap * 2 : 256, sizeof(XXH128_hash_t)),
		    s->cap ? s->cap * 2 : 256, s->len };
		for (size_t i = 0; i < s->cap; i++) {
			if (s->t[i].high64 == 0 && s->t[i].low64 == 0)
				continue;
			size_t j = (size_t)s->t[i].low64 & (ns.cap - 1);
			while (ns.t[j].high64 || ns.t[j].low64)
				j = (j + 1) & (ns.cap - 1);
			ns.t[j] = s->t[i];
		}
		free(s->t);
		*s = ns;
	}
	size_t j = (size_t)k.low64 & (s->cap - 1);
	while (s->t[j].high64 || s->t[j].low64) {
		if (s->t[j].high64 == k.high64 && s->t[j].low64 == k.low64)
			return true;
		j = (j + 1) & (s->cap - 1);
	}
	s->t[j] = k;
	s->len++;
	return false;
}

/* ---- figures of one mailbox/folder, or of all --------------------------------- */

enum date_src { DS_HEADER, DS_ENVELOPE, DS_MTIME, DS_NONE };

struct largest {
	int64_t size;
	char *where;
};

struct figures {
	char *mailbox;          /* NULL for the total */
	char *folder;           /* Maildir++ folder ("" INBOX), NULL for an mbox */
	const char *type;       /* "mbox", "maildir", "empty" */
	uint64_t messages, bytes;
	uint64_t f_new, f_unread, f_seen, f_replied, f_flagged, f_trashed, f_draft, f_passed;
	struct cmap keywords;
	bool have_date;
	time_t oldest, newest;
	uint64_t d_src[4];      /* enum date_src */
	uint64_t d_malformed, d_missing, d_suspicious;
	struct cmap by_year, by_month, senders, domains;
	struct largest *lg;
	size_t nlg;
	uint64_t no_from, bad_from, bad_2047, eight_bit;
	uint64_t attachments, duplicates;
	struct kset dupkeys;
};

/* What one message contributes. */
struct msgfacts {
	int64_t size;
	uint32_t flags;
	bool is_new;
	struct strbuf kw;       /* keyword names, one SP between them */
	enum date_src dsrc;
	time_t t;
	bool malformed, missing, suspicious;
	struct strbuf addr, name;
	bool no_from, bad_from, bad_2047, eight_bit;
	/* where it is, for the list of the largest: formatted only for the
	 * messages that enter it */
	const char *where_path;         /* a Maildir file */
	const char *where_mbox;         /* or an mbox, at where_off */
	long long where_off;
	bool attach;
	XXH128_hash_t key;
};

struct run {
	int top;
	bool by_month, attachments, duplicates, counts, recursive, color;
	enum reader_want want;
	time_t now;
	struct figures total;
	struct figures **rows;
	size_t nrows;
	struct strbuf tmp, dec;       /* scratch: unfolded and decoded From */
	struct dedupkey dk;
};

static void
fig_free(struct figures *f)
{
	free(f->mailbox);
	free(f->folder);
	cmap_free(&f->keywords);
	cmap_free(&f->by_year);
	cmap_free(&f->by_month);
	cmap_free(&f->senders);
	cmap_free(&f->domains);
	for (size_t i = 0; i < f->nlg; i++)
		free(f->lg[i].where);
	free(f->lg);
	free(f->dupkeys.t);
}

/* Keep the N largest, largest first; ties keep the earlier message. */
static void
fig_largest(struct figures *f, int top, int64_t size, const struct msgfacts *mf)
{
	size_t n = (size_t)top;

	if (n == 0 || (f->nlg == n && size <= f->lg[n - 1].size))
		return;
	if (f->lg == NULL)
		f->lg = xcalloc(n, sizeof *f->lg);
	size_t i;
	if (f->nlg < n) {
		i = f->nlg++;
	} else {
		i = n - 1;
		free(f->lg[i].where);
	}
	while (i > 0 && f->lg[i - 1].size < size) {
		f->lg[i] = f->lg[i - 1];
		i--;
	}
	f->lg[i].size = size;
	f->lg[i].where = mf->where_mbox != NULL
	    ? xasprintf("%s:%lld", mf->where_mbox, mf->where_off)
	    : xstrdup(mf->where_path ? mf->where_path : "");
}

static void
fig_add(struct run *run, struct figures *f, const struct msgfacts *mf)
{
	f->messages++;
	f->bytes += (uint64_t)(mf->size > 0 ? mf->size : 0);
	f->f_new += mf->is_new;
	f->f_unread += !(mf->flags & MF_SEEN);
	f->f_seen += !!(mf->flags & MF_SEEN);
	f->f_replied += !!(mf->flags & MF_REPLIED);
	f->f_flagged += !!(mf->flags & MF_FLAGGED);
	f->f_trashed += !!(mf->flags & MF_TRASHED);
	f->f_draft += !!(mf->flags & MF_DRAFT);
	f->f_passed += !!(mf->flags & MF_PASSED);
	for (const char *p = mf->kw.buf, *e = p ? p + mf->kw.len : NULL; p && p < e;) {
		const char *s = memchr(p, ' ', (size_t)(e - p));
		size_t n = s ? (size_t)(s - p) : (size_t)(e - p);
		if (n > 0)
			cmap_add(&f->keywords, p, n, 1);
		p += n + 1;
	}
	fig_largest(f, run->top, mf->size, mf);
	if (run->attachments)
		f->attachments += mf->attach;
	if (run->duplicates && kset_seen(&f->dupkeys, mf->key))
		f->duplicates++;
	if (run->counts)
		return;
	f->d_src[mf->dsrc]++;
	f->d_malformed += mf->malformed;
	f->d_missing += mf->missing;
	f->d_suspicious += mf->suspicious;
	if (mf->dsrc != DS_NONE) {
		if (!f->have_date || mf->t < f->oldest)
			f->oldest = mf->t;
		if (!f->have_date || mf->t > f->newest)
			f->newest = mf->t;
		f->have_date = true;
		struct tm tm;
		char b[32];
		gmtime_r(&mf->t, &tm);
		int y = tm.tm_year + 1900;
		if (y >= 0 && y <= 9999) {   /* once per message: no snprintf */
			b[0] = (char)('0' + y / 1000);
			b[1] = (char)('0' + y / 100 % 10);
			b[2] = (char)('0' + y / 10 % 10);
			b[3] = (char)('0' + y % 10);
			b[4] = '\0';
		} else {
			snprintf(b, sizeof b, "%04d", y);
		}
		cmap_add(&f->by_year, b, strlen(b), 1);
		if (run->by_month) {
			snprintf(b, sizeof b, "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
			cmap_add(&f->by_month, b, strlen(b), 1);
		}
	}
	const char *a = mf->addr.len ? mf->addr.buf : "(none)";
	size_t al = mf->addr.len ? mf->addr.len : 6;
	struct cmap_ent *e = cmap_add(&f->senders, a, al, 1);
	if (e->name == NULL && mf->name.len > 0)
		e->name = xstrndup(mf->name.buf, mf->name.len);
	const char *at = mf->addr.len ? memchr(a, '@', al) : NULL;
	/* the domain follows the last '@' ("a@b"@c quoted local parts) */
	for (const char *q = at; q; q = memchr(q + 1, '@', (size_t)(a + al - q - 1)))
		at = q;
	if (at)
		cmap_add(&f->domains, at + 1, (size_t)(a + al - at - 1), 1);
	else
		cmap_add(&f->domains, "(none)", 6, 1);
	f->no_from += mf->no_from;
	f->bad_from += mf->bad_from;
	f->bad_2047 += mf->bad_2047;
	f->eight_bit += mf->eight_bit;
}

/* ---- one message ---------------------------------------------------------------- */

/* Seconds at the start of a maildir name ("1234567890.M1P2.host"), or -1. */
static time_t
name_seconds(const char *name)
{
	time_t t = 0;
	const char *p = name;

	for (; *p >= '0' && *p <= '9'; p++)
		t = t * 10 + (*p - '0');
	return p == name || *p != '.' ? -1 : t;
}

static void
facts_date(struct run *run, struct reader *r, const struct message *m,
    const struct header_field *date, time_t file_mtime, struct msgfacts *mf)
{
	time_t t;

	if (date != NULL) {
		if (date_parse(date->value, date->value_len, &t, NULL) == 0) {
			mf->dsrc = DS_HEADER;
			mf->t = t;
			mf->suspicious = t < 0 || t > run->now + 86400;
			return;
		}
		mf->malformed = true;
	} else {
		mf->missing = true;
	}
	/* a Maildir file's mtime: the header read made no stat, this one
	 * message needs it */
	time_t env = m->env_time;
	bool have_env = m->env_time_ok;
	if (!have_env && m->origin == ORIGIN_MAILDIR) {
		const struct stat *st = reader_stat(r);
		if (st != NULL) {
			env = st->st_mtime;
			have_env = true;
		}
	}
	/* an arrival date of 0 or in the future carries nothing (SPEC §5 M7) */
	bool env_ok = have_env && env > 0 && env <= run->now + 86400;
	if (m->origin == ORIGIN_MBOX && env_ok) {
		mf->dsrc = DS_ENVELOPE;
		mf->t = env;
	} else if (m->origin == ORIGIN_MAILDIR && env_ok) {
		mf->dsrc = DS_MTIME;
		mf->t = env;
	} else if (m->origin == ORIGIN_MBOX && file_mtime > 0) {
		mf->dsrc = DS_MTIME;
		mf->t = file_mtime;
	} else if (m->origin == ORIGIN_MAILDIR && (t = name_seconds(m->filename)) > 0) {
		mf->dsrc = DS_MTIME;
		mf->t = t;
	} else {
		mf->dsrc = DS_NONE;
	}
}

/* Display name: the decoded From: value before '<', quotes and blanks trimmed. */
static void
facts_name(const char *dec, size_t n, struct strbuf *out)
{
	const char *lt = memchr(dec, '<', n);
	const char *p = dec;
	size_t len = lt ? (size_t)(lt - dec) : 0;

	sb_reset(out);
	while (len > 0 && (*p == ' ' || *p == '\t' || *p == '"')) {
		p++;
		len--;
	}
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '"'))
		len--;
	for (size_t i = 0; i < len; i++)
		sb_appendc(out, (p[i] == '\r' || p[i] == '\n' || p[i] == '\t') ? ' ' : p[i]);
}

static void
facts_header(struct run *run, struct reader *r, const struct message *m, time_t file_mtime,
    struct msgfacts *mf)
{
	struct header_field fields[2], f;   /* the first Date and From */
	bool have[2] = { false, false };
	struct header_iter it;

	/* one pass over the fields for both */
	header_iter_init(&it, m->header, m->header_len);
	while ((!have[0] || !have[1]) && header_iter_next(&it, &f)) {
		int k = f.name_len == 4 && mem_ieq(f.name, "Date", 4) ? 0 :
		    f.name_len == 4 && mem_ieq(f.name, "From", 4) ? 1 : -1;
		if (k >= 0 && !have[k]) {
			fields[k] = f;
			have[k] = true;
		}
	}
	facts_date(run, r, m, have[0] ? &fields[0] : NULL, file_mtime, mf);
	mf->eight_bit = mem_has_8bit(m->header, m->header_len);
	sb_reset(&mf->addr);
	sb_reset(&mf->name);
	if (!have[1]) {
		mf->no_from = true;
		return;
	}
	f = fields[1];
	unsigned bad = 0;
	header_unfold(f.value, f.value_len, &run->tmp);
	sb_reset(&run->dec);
	header_decode_2047(run->tmp.buf, run->tmp.len, &run->dec, &bad);
	mf->bad_2047 = bad > 0;
	if (!header_addr_spec(f.value, f.value_len, true, &mf->addr) || mf->addr.len == 0) {
		sb_reset(&mf->addr);
		mf->bad_from = true;
	} else if (run->dec.buf) {
		facts_name(run->dec.buf, run->dec.len, &mf->name);
	}
}

/* Keywords of a message as names: mbox X-Keywords, maildir letters. */
static void
facts_flags(struct reader *r, const struct message *m, struct msgfacts *mf)
{
	sb_reset(&mf->kw);
	if (m->origin == ORIGIN_MBOX) {
		/* the state a conversion gives it: a mail client's header before
		 * the server's, $Forwarded a flag and a keyword (clientstate.h) */
		struct client_state cs;
		clientstate_from_header(m->header, m->header_len, NULL, &cs);
		mf->flags = cs.flags;
		/* where a conversion puts it: new/ without Status O/R, flags or keywords */
		mf->is_new = !cs.old && cs.flags == 0 && cs.keywords.len == 0;
		if (cs.keywords.len)
			sb_append(&mf->kw, cs.keywords.buf, cs.keywords.len);
		client_state_free(&cs);
		return;
	}
	mf->flags = m->flags;
	mf->is_new = !m->in_cur;
	for (int i = 0; i < 26; i++) {
		if (!(m->keywords & (1u << i)))
			continue;
		const char *kn = reader_keyword_name(r, (char)('a' + i));
		if (mf->kw.len)
			sb_appendc(&mf->kw, ' ');
		if (kn)
			sb_appends(&mf->kw, kn);
		else
			sb_appendf(&mf->kw, "[%c]", 'a' + i);
	}
}

/* Read the body if a figure needs it; -1 on a read error (reported). */
static int
facts_body(struct run *run, struct reader *r, const struct message *m, struct msgfacts *mf)
{
	struct mime_scan ms;
	int rc;

	if (m->origin != ORIGIN_MBOX && run->want != READER_WANT_FULL)
		return 0;
	if (run->attachments)
		mime_scan_init(&ms, m->header, m->header_len);
	if (run->duplicates)
		dedupkey_feed(&run->dk, m->header, m->header_len);
	for (;;) {
		struct iovec iov[64];
		int n = ARRAY_SIZE(iov);
		rc = reader_body(r, iov, &n);
		if (rc == -1)
			break;
		for (int i = 0; i < n; i++) {
			if (run->attachments)
				mime_scan_feed(&ms, iov[i].iov_base, iov[i].iov_len);
			if (run->duplicates)
				dedupkey_feed(&run->dk, iov[i].iov_base, iov[i].iov_len);
		}
		if (rc == 0)
			break;
	}
	if (run->attachments) {
		mf->attach = mime_scan_finish(&ms);
		mime_scan_free(&ms);
	}
	if (run->duplicates) {
		/* the dedup default key (dedupkey.h): Message-ID + body, else the
		 * whole message without its mbox status fields */
		struct dedup_hash h;
		dedupkey_finish(&run->dk, &h);
		mf->key.high64 = h.hi;
		mf->key.low64 = h.lo;
	}
	return rc == -1 ? -1 : 0;
}

static int
stats_message(struct run *run, struct reader *r, const struct message *m, time_t file_mtime,
    struct figures *row, struct msgfacts *mf)
{
	facts_flags(r, m, mf);
	if (!run->counts)
		facts_header(run, r, m, file_mtime, mf);
	if (facts_body(run, r, m, mf) == -1)
		return -1;
	mf->size = m->size;
	if (m->origin == ORIGIN_MBOX) {
		mf->size = reader_message_size(r, m);
		mf->where_path = NULL;
		mf->where_mbox = m->mailbox;
		mf->where_off = (long long)m->offset;
	} else {
		/* no ,S= in the name: fstat of the open file, or lstat (--counts) */
		struct stat st;
		const struct stat *sp = mf->size < 0 ? reader_stat(r) : NULL;
		if (sp != NULL)
			mf->size = (int64_t)sp->st_size;
		else if (mf->size < 0 && lstat(m->path, &st) == 0)
			mf->size = (int64_t)st.st_size;
		mf->where_path = m->path;
		mf->where_mbox = NULL;
	}
	fig_add(run, row, mf);
	fig_add(run, &run->total, mf);
	return 0;
}

/* ---- mailboxes -------------------------------------------------------------------- */

static struct figures *
row_new(struct run *run, const char *mailbox, const char *folder)
{
	struct figures *f = xcalloc(1, sizeof *f);

	f->mailbox = xstrdup(mailbox);
	f->folder = folder ? xstrdup(folder) : NULL;
	run->rows = xrealloc(run->rows, (run->nrows + 1) * sizeof *run->rows);
	run->rows[run->nrows++] = f;
	return f;
}

/* One mailbox (or one folder of a tree); returns its status. */
static int
stats_one(struct run *run, const char *path, const char *label, const char *folder)
{
	struct reader_opts ro;
	struct reader *r;
	struct message m;
	struct msgfacts mf;
	struct stat st;
	time_t file_mtime = 0;
	int rc, status = 0;

	memset(&ro, 0, sizeof ro);
	ro.quiet = opt_common.quiet;
	ro.mbox.quiet = opt_common.quiet;
	ro.folder = folder;
	ro.sort = READER_SORT_NONE;
	if ((rc = reader_open(&r, path, &ro)) != 0) {
		report_status(rc);
		return rc;
	}
	if (strcmp(path, "-") != 0 && stat(path, &st) == 0)
		file_mtime = st.st_mtime;
	struct figures *row = row_new(run, label, folder);
	enum source_type type = reader_type(r);
	row->type = type == SOURCE_MAILDIR ? "maildir" : type == SOURCE_EMPTY ? "empty" : "mbox";
	memset(&mf, 0, sizeof mf);
	while ((rc = reader_next(r, &m, run->want)) == 1) {
		struct strbuf kw = mf.kw, addr = mf.addr, name = mf.name;
		memset(&mf, 0, sizeof mf);
		mf.kw = kw;
		mf.addr = addr;
		mf.name = name;
		if (stats_message(run, r, &m, file_mtime, row, &mf) == -1) {
			rc = -1;
			break;
		}
		if (report_progress_enabled())
			report_progress(run->total.messages, run->total.bytes, 0);
	}
	if (rc == -1) {
		status = EX_DATAERR;
		report_status(EX_DATAERR);
	}
	if (reader_unreadable(r) > 0)
		report_status(EXIT_PROBLEMS);
	sb_free(&mf.kw);
	sb_free(&mf.addr);
	sb_free(&mf.name);
	reader_close(r);
	return status;
}

/* A Maildir++ tree with -r: every folder a row. */
static int
stats_tree(struct run *run, const char *root)
{
	struct maildir_walk *w = maildir_walk_open(root, MAILDIR_LAYOUT_MAILDIRPP | MAILDIR_LAYOUT_FS,
	    NULL, NULL);
	const struct maildir_folder *f;
	int status = 0;

	if (w == NULL) {
		report_status(EX_NOINPUT);
		return EX_NOINPUT;
	}
	while (maildir_walk_next(w, &f) == 1) {
		int st = stats_one(run, f->path, root, f->name);
		status = exit_worse(status, st);
	}
	maildir_walk_close(w);
	return status;
}

/* ---- JSON ------------------------------------------------------------------------- */

static void
json_u(FILE *o, const char *key, uint64_t v, bool comma)
{
	fprintf(o, "\"%s\":%llu%s", key, (unsigned long long)v, comma ? "," : "");
}

static void
json_time(FILE *o, const char *key, bool have, time_t t)
{
	char b[32];

	if (!have) {
		fprintf(o, "\"%s\":null,", key);
		return;
	}
	date_format_iso(t, b);
	fprintf(o, "\"%s\":\"%s\",", key, b);
}

/* {"key":count,...} sorted by key (by_key) or a top-N array. */
static void
json_map(FILE *o, const struct cmap *m)
{
	struct cmap_ent **v = cmap_sorted(m, true);

	fputc('{', o);
	for (size_t i = 0; v[i]; i++) {
		if (i)
			fputc(',', o);
		json_string(o, v[i]->key, v[i]->klen);
		fprintf(o, ":%llu", (unsigned long long)v[i]->n);
	}
	fputc('}', o);
	free(v);
}

static void
json_top(FILE *o, const struct cmap *m, const char *what, int top, bool names)
{
	struct cmap_ent **v = cmap_sorted(m, false);

	fputc('[', o);
	for (size_t i = 0; v[i] && i < (size_t)top; i++) {
		fprintf(o, "%s{\"%s\":", i ? "," : "", what);
		json_string(o, v[i]->key, v[i]->klen);
		if (names) {
			fputs(",\"name\":", o);
			if (v[i]->name)
				json_cstring(o, v[i]->name);
			else
				fputs("null", o);
		}
		fprintf(o, ",\"messages\":%llu}", (unsigned long long)v[i]->n);
	}
	fputc(']', o);
	free(v);
}

static void
json_figures(FILE *o, const struct run *run, const struct figures *f)
{
	json_u(o, "messages", f->messages, true);
	json_u(o, "bytes", f->bytes, true);
	fputs("\"flags\":{", o);
	json_u(o, "new", f->f_new, true);
	json_u(o, "unread", f->f_unread, true);
	json_u(o, "seen", f->f_seen, true);
	json_u(o, "replied", f->f_replied, true);
	json_u(o, "flagged", f->f_flagged, true);
	json_u(o, "trashed", f->f_trashed, true);
	json_u(o, "draft", f->f_draft, true);
	json_u(o, "passed", f->f_passed, false);
	fputs("},\"keywords\":", o);
	json_map(o, &f->keywords);
	fputs(",\"largest\":[", o);
	for (size_t i = 0; i < f->nlg; i++) {
		fprintf(o, "%s{\"bytes\":%lld,\"where\":", i ? "," : "", (long long)f->lg[i].size);
		json_cstring(o, f->lg[i].where);
		fputc('}', o);
	}
	fputs("],", o);
	if (run->attachments)
		json_u(o, "attachments", f->attachments, true);
	else
		fputs("\"attachments\":null,", o);
	if (run->duplicates)
		json_u(o, "duplicates", f->duplicates, true);
	else
		fputs("\"duplicates\":null,", o);
	if (run->counts) {
		fputs("\"dates\":null,\"by_year\":null,\"by_month\":null,\"senders\":null,"
		    "\"domains\":null,\"headers\":null", o);
		return;
	}
	fputs("\"dates\":{", o);
	json_time(o, "oldest", f->have_date, f->oldest);
	json_time(o, "newest", f->have_date, f->newest);
	json_u(o, "from_date", f->d_src[DS_HEADER], true);
	json_u(o, "from_envelope", f->d_src[DS_ENVELOPE], true);
	json_u(o, "from_mtime", f->d_src[DS_MTIME], true);
	json_u(o, "undated", f->d_src[DS_NONE], true);
	json_u(o, "fallbacks", f->d_src[DS_ENVELOPE] + f->d_src[DS_MTIME] + f->d_src[DS_NONE], true);
	json_u(o, "malformed", f->d_malformed, true);
	json_u(o, "missing", f->d_missing, true);
	json_u(o, "suspicious", f->d_suspicious, false);
	fputs("},\"by_year\":", o);
	json_map(o, &f->by_year);
	fputs(",\"by_month\":", o);
	if (run->by_month)
		json_map(o, &f->by_month);
	else
		fputs("null", o);
	fputs(",\"senders\":", o);
	json_top(o, &f->senders, "address", run->top, true);
	fputs(",\"domains\":", o);
	json_top(o, &f->domains, "domain", run->top, false);
	fputs(",\"headers\":{", o);
	json_u(o, "no_from", f->no_from, true);
	json_u(o, "from_without_address", f->bad_from, true);
	json_u(o, "bad_encoded_words", f->bad_2047, true);
	json_u(o, "eight_bit", f->eight_bit, false);
	fputc('}', o);
}

static void
output_json(FILE *o, const struct run *run)
{
	fputs("{\"mailboxes\":[", o);
	for (size_t i = 0; i < run->nrows; i++) {
		const struct figures *f = run->rows[i];
		fputs(i ? ",\n{\"mailbox\":" : "\n{\"mailbox\":", o);
		json_cstring(o, f->mailbox);
		fputs(",\"folder\":", o);
		if (f->folder)
			json_cstring(o, f->folder);
		else
			fputs("null", o);
		fprintf(o, ",\"type\":\"%s\",", f->type);
		json_figures(o, run, f);
		fputc('}', o);
	}
	fputs("],\n\"total\":{", o);
	json_u(o, "mailboxes", run->nrows, true);
	json_figures(o, run, &run->total);
	fputs("}}\n", o);
}

/* ---- CSV (RFC 4180) ----------------------------------------------------------------- */

static void
csv_field(FILE *o, const char *s)
{
	if (s == NULL)
		return;
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, o);
		return;
	}
	fputc('"', o);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', o);
		fputc(*s, o);
	}
	fputc('"', o);
}

static void
output_csv(FILE *o, const struct run *run)
{
	fputs("mailbox,folder,type,messages,bytes,new,unread,seen,replied,flagged,trashed,draft,"
	    "passed,oldest,newest,date_fallbacks,undated,no_from,bad_encoded_words,eight_bit,"
	    "attachments,duplicates\r\n", o);
	for (size_t i = 0; i < run->nrows; i++) {
		const struct figures *f = run->rows[i];
		char a[32] = "", b[32] = "";
		if (f->have_date) {
			date_format_iso(f->oldest, a);
			date_format_iso(f->newest, b);
		}
		csv_field(o, f->mailbox);
		fputc(',', o);
		csv_field(o, f->folder);
		fprintf(o, ",%s,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%s,%s,", f->type,
		    (unsigned long long)f->messages, (unsigned long long)f->bytes,
		    (unsigned long long)f->f_new, (unsigned long long)f->f_unread,
		    (unsigned long long)f->f_seen, (unsigned long long)f->f_replied,
		    (unsigned long long)f->f_flagged, (unsigned long long)f->f_trashed,
		    (unsigned long long)f->f_draft, (unsigned long long)f->f_passed, a, b);
		if (!run->counts)
			fprintf(o, "%llu,%llu,%llu,%llu,%llu",
			    (unsigned long long)(f->d_src[DS_ENVELOPE] + f->d_src[DS_MTIME] + f->d_src[DS_NONE]),
			    (unsigned long long)f->d_src[DS_NONE], (unsigned long long)f->no_from,
			    (unsigned long long)f->bad_2047, (unsigned long long)f->eight_bit);
		else
			fputs(",,,,", o);
		fputc(',', o);
		if (run->attachments)
			fprintf(o, "%llu", (unsigned long long)f->attachments);
		fputc(',', o);
		if (run->duplicates)
			fprintf(o, "%llu", (unsigned long long)f->duplicates);
		fputs("\r\n", o);
	}
}

/* ---- text (80 columns) -------------------------------------------------------------- */

/* Columns of the character at p (UTF-8): 2 for East Asian wide ranges,
 * else 1; *len_r gets its length in bytes (1 for a stray byte). */
static size_t
char_width(const char *p, size_t *len_r)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t n = u[0] >= 0xF0 ? 4 : u[0] >= 0xE0 ? 3 : u[0] >= 0xC0 ? 2 : 1;
	unsigned long c = n == 1 ? u[0] : u[0] & (0x7F >> n);

	for (size_t i = 1; i < n; i++) {
		if ((u[i] & 0xC0) != 0x80) {
			*len_r = 1;
			return 1;
		}
		c = c << 6 | (u[i] & 0x3F);
	}
	*len_r = n;
	bool wide = (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF) ||
	    (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
	    (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
	    (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
	    (c >= 0x20000 && c <= 0x3FFFD);
	return wide ? 2 : 1;
}

static size_t
columns(const char *s)
{
	size_t w = 0, n;

	for (; *s; s += n)
		w += char_width(s, &n);
	return w;
}

/*
 * Copy s into out so that it takes at most cols terminal columns (control
 * bytes become '?'). Too long: cut at the end, or with keep_end at the
 * start, and mark the cut with "...".
 */
static void
fit(const char *s, size_t cols, bool keep_end, struct strbuf *out)
{
	size_t len = strlen(s), skip = 0, keep = len, n;

	sb_reset(out);
	if (columns(s) > cols && cols > 3) {
		size_t room = cols - 3, w = 0;
		if (keep_end) {
			size_t excess = columns(s) - room;
			for (w = 0; skip < len && w < excess; skip += n)
				w += char_width(s + skip, &n);
			sb_appends(out, "...");
		} else {
			for (keep = 0; keep < len; keep += n) {
				size_t cw = char_width(s + keep, &n);
				if (w + cw > room)
					break;
				w += cw;
			}
		}
	}
	for (size_t i = skip; i < keep; i++)
		sb_appendc(out, (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i]);
	if (keep < len)
		sb_appends(out, "...");
}

static void
heading(FILE *o, const struct run *run, const char *s)
{
	fprintf(o, run->color ? "\n\033[1m%s\033[0m\n" : "\n%s\n", s);
}

/* "Label       item, item, ..." wrapped at WIDTH between items, the
 * continuation lines under the first item. */
static void
wrapped(FILE *o, const char *label, const char *text)
{
	size_t col = (size_t)fprintf(o, "%-12s", label);
	const char *p = text;

	while (*p) {
		const char *sep = strstr(p, ", ");
		size_t n = sep ? (size_t)(sep - p) + 1 : strlen(p);
		if (col > 12 && col + 1 + n > WIDTH) {
			fprintf(o, "\n%12s", "");
			col = 12;
		} else if (col > 12) {
			fputc(' ', o);
			col++;
		}
		fwrite(p, 1, n, o);
		col += n;
		p += n;
		while (*p == ' ')
			p++;
	}
	fputc('\n', o);
}

static void
text_row(FILE *o, const struct run *run, const char *label, const struct figures *f)
{
	char a[32] = "-", b[32] = "-";

	fit(label, LABEL, true, &((struct run *)run)->tmp);
	if (f->have_date) {
		date_format_iso(f->oldest, a);
		date_format_iso(f->newest, b);
		a[10] = b[10] = '\0';
	}
	fprintf(o, "%s%*s %8llu %11llu %7llu %10s %10s\n", run->tmp.buf,
	    (int)(LABEL - columns(run->tmp.buf)), "", (unsigned long long)f->messages,
	    (unsigned long long)f->bytes, (unsigned long long)f->f_unread, a, b);
}

static void
text_chart(FILE *o, const struct run *run, const struct cmap *m)
{
	struct cmap_ent **v = cmap_sorted(m, true);
	uint64_t max = 1;

	for (size_t i = 0; v[i]; i++)
		if (v[i]->n > max)
			max = v[i]->n;
	int nw = snprintf(NULL, 0, "%llu", (unsigned long long)max);
	int bar = WIDTH - 2 - (run->by_month ? 7 : 4) - 2 - 1 - nw;   /* "  2019-01  ### n" */
	for (size_t i = 0; v[i]; i++) {
		int len = (int)((v[i]->n * (uint64_t)bar + max - 1) / max);
		fprintf(o, "  %-*s  %s", run->by_month ? 7 : 4, v[i]->key, run->color ? "\033[36m" : "");
		for (int k = 0; k < len; k++)
			fputc('#', o);
		fprintf(o, "%s%*s %*llu\n", run->color ? "\033[0m" : "", bar - len, "", nw,
		    (unsigned long long)v[i]->n);
	}
	free(v);
}

static void
text_top(FILE *o, struct run *run, const struct cmap *m, bool names)
{
	struct cmap_ent **v = cmap_sorted(m, false);
	struct strbuf line = STRBUF_INIT;

	for (size_t i = 0; v[i] && i < (size_t)run->top; i++) {
		sb_reset(&line);
		sb_appends(&line, v[i]->key);
		if (names && v[i]->name) {
			sb_appends(&line, "  ");
			sb_appends(&line, v[i]->name);
		}
		fit(line.buf, WIDTH - 12, false, &run->tmp);
		fprintf(o, "  %8llu  %s\n", (unsigned long long)v[i]->n, run->tmp.buf);
	}
	sb_free(&line);
	free(v);
}

static void
text_details(FILE *o, struct run *run, const struct figures *f)
{
	struct strbuf s = STRBUF_INIT;

	sb_appendf(&s, "%llu new, %llu unread, %llu seen, %llu replied, %llu flagged, "
	    "%llu trashed, %llu draft, %llu passed",
	    (unsigned long long)f->f_new, (unsigned long long)f->f_unread,
	    (unsigned long long)f->f_seen, (unsigned long long)f->f_replied,
	    (unsigned long long)f->f_flagged, (unsigned long long)f->f_trashed,
	    (unsigned long long)f->f_draft, (unsigned long long)f->f_passed);
	fputc('\n', o);
	wrapped(o, "Flags", s.buf);
	if (f->keywords.len) {
		struct cmap_ent **v = cmap_sorted(&f->keywords, false);
		sb_reset(&s);
		for (size_t i = 0; v[i]; i++)
			sb_appendf(&s, "%s%s %llu", i ? ", " : "", v[i]->key, (unsigned long long)v[i]->n);
		free(v);
		wrapped(o, "Keywords", s.buf);
	}
	if (run->attachments)
		fprintf(o, "%-12s%llu message%s\n", "Attachments", (unsigned long long)f->attachments,
		    PLURAL(f->attachments));
	if (run->duplicates)
		fprintf(o, "%-12s%llu message%s\n", "Duplicates", (unsigned long long)f->duplicates,
		    PLURAL(f->duplicates));
	if (!run->counts) {
		sb_reset(&s);
		if (f->have_date) {
			char a[32], b[32];
			date_format_iso(f->oldest, a);
			date_format_iso(f->newest, b);
			fprintf(o, "%-12s%s .. %s\n", "Dates", a, b);
		}
		sb_appendf(&s, "%llu Date:, %llu envelope, %llu mtime, %llu undated",
		    (unsigned long long)f->d_src[DS_HEADER], (unsigned long long)f->d_src[DS_ENVELOPE],
		    (unsigned long long)f->d_src[DS_MTIME], (unsigned long long)f->d_src[DS_NONE]);
		wrapped(o, "Date from", s.buf);
		sb_reset(&s);
		sb_appendf(&s, "%llu malformed Date:, %llu without Date:, %llu suspicious date%s, "
		    "%llu without From:, %llu From: without address, %llu undecodable encoded word%s, "
		    "%llu with 8-bit bytes",
		    (unsigned long long)f->d_malformed, (unsigned long long)f->d_missing,
		    (unsigned long long)f->d_suspicious, PLURAL(f->d_suspicious),
		    (unsigned long long)f->no_from, (unsigned long long)f->bad_from,
		    (unsigned long long)f->bad_2047, PLURAL(f->bad_2047), (unsigned long long)f->eight_bit);
		wrapped(o, "Headers", s.buf);
		heading(o, run, run->by_month ? "Messages per month" : "Messages per year");
		text_chart(o, run, run->by_month ? &f->by_month : &f->by_year);
		heading(o, run, "Top senders");
		text_top(o, run, &f->senders, true);
		heading(o, run, "Top sender domains");
		text_top(o, run, &f->domains, false);
	}
	if (f->nlg) {
		heading(o, run, "Largest messages");
		for (size_t i = 0; i < f->nlg; i++) {
			fit(f->lg[i].where, WIDTH - 16, true, &run->tmp);
			fprintf(o, "  %12lld  %s\n", (long long)f->lg[i].size, run->tmp.buf);
		}
	}
	sb_free(&s);
}

static void
output_text(FILE *o, struct run *run)
{
	fprintf(o, run->color ? "\033[1m%-*s %8s %11s %7s %10s %10s\033[0m\n" :
	    "%-*s %8s %11s %7s %10s %10s\n", LABEL, "MAILBOX", "MESSAGES", "BYTES", "UNREAD", "OLDEST",
	    "NEWEST");
	for (size_t i = 0; i < run->nrows; i++) {
		const struct figures *f = run->rows[i];
		char *label = f->folder && *f->folder ? xasprintf("  %s", f->folder) : xstrdup(f->mailbox);
		text_row(o, run, label, f);
		free(label);
	}
	if (run->nrows != 1)
		text_row(o, run, "total", &run->total);
	text_details(o, run, &run->total);
}

/* ---- the command ------------------------------------------------------------------------ */

/* Read every argument, print the report, free the figures; the status. */
static int
stats_run(struct run *run, const char **args, bool csv)
{
	int status = 0;

	for (size_t i = 0; args[i]; i++) {
		int st = run->recursive && reader_is_maildir(args[i]) ? stats_tree(run, args[i]) :
		    stats_one(run, args[i], args[i], reader_is_maildir(args[i]) ? "" : NULL);
		status = exit_worse(status, st);
	}
	report_progress_clear();
	/* the report is the output: -q silences warnings only; when no
	 * mailbox could be read the error lines say all (no empty report) */
	if (run->nrows == 0 && status != 0)
		;
	else if (opt_common.json)
		output_json(stdout, run);
	else if (csv)
		output_csv(stdout, run);
	else
		output_text(stdout, run);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		report_error_sys(EX_IOERR, "unable to write the report");
		status = EX_IOERR;
	}
	for (size_t i = 0; i < run->nrows; i++) {
		fig_free(run->rows[i]);
		free(run->rows[i]);
	}
	free(run->rows);
	fig_free(&run->total);
	sb_free(&run->tmp);
	sb_free(&run->dec);
	if (run->duplicates)
		dedupkey_free(&run->dk);
	return status;
}

int
cmd_stats(int argc, const char **argv)
{
	struct run run;
	char *by = NULL, *color = NULL;
	int top = 5, recursive = 0, attach = 0, dups = 0, deep = 0, counts = 0, csv = 0;
	struct poptOption options[] = {
		{ "recursive", 'r', POPT_ARG_NONE, &recursive, 0,
		  "one row per folder of a Maildir++ or fs tree", NULL },
		{ "top", '\0', POPT_ARG_INT, &top, 0,
		  "senders, domains and largest messages shown (default 5)", "N" },
		{ "by", '\0', POPT_ARG_STRING, &by, 0,
		  "chart messages per year or per month (default year)", "PERIOD" },
		{ "attachments", '\0', POPT_ARG_NONE, &attach, 0, "count messages with attachments (reads bodies)", NULL },
		{ "duplicates", '\0', POPT_ARG_NONE, &dups, 0, "count duplicates (reads bodies)", NULL },
		{ "deep", '\0', POPT_ARG_NONE, &deep, 0, "--attachments and --duplicates", NULL },
		{ "counts", '\0', POPT_ARG_NONE, &counts, 0,
		  "messages, bytes and flags from Maildir names only (no file opened)", NULL },
		{ "csv", '\0', POPT_ARG_NONE, &csv, 0, "one CSV row per mailbox or folder", NULL },
		{ "color", '\0', POPT_ARG_STRING, &color, 0,
		  "colour: auto (on a terminal), always or never (default auto)", "WHEN" },
		{ NULL, '\0', POPT_ARG_INCLUDE_TABLE, common_options, 0, NULL, NULL },
		POPT_TABLEEND
	};
	poptContext pc = poptGetContext("mailshift stats", argc, argv, options, 0);
	if (report_parse_options(pc, options, "[OPTIONS] MAILBOX...") != 0) {
		poptFreeContext(pc);
		free(by);
		free(color);
		return EX_USAGE;
	}
	const char **args = poptGetArgs(pc);
	const char *uerr = NULL;
	memset(&run, 0, sizeof run);
	if (args == NULL || args[0] == NULL)
		uerr = "usage: mailshift stats [OPTIONS] MAILBOX...";
	else if (top < 0)
		uerr = "--top must be 0 or more";
	else if (by && strcmp(by, "month") != 0 && strcmp(by, "year") != 0)
		uerr = "--by must be year or month";
	else if (color && strcmp(color, "auto") != 0 && strcmp(color, "always") != 0 &&
	    strcmp(color, "never") != 0)
		uerr = "--color must be auto, always or never";
	else if (counts && (attach || dups || deep || by))
		uerr = "--counts reads no headers: it cannot be combined with "
		    "--attachments, --duplicates, --deep or --by";
	else if (csv && opt_common.json)
		uerr = "--csv and --json are exclusive";
	if (uerr) {
		fprintf(stderr, "%s: %s\n", report_prefix(), uerr);
		poptFreeContext(pc);
		free(by);
		free(color);
		return EX_USAGE;
	}
	run.top = top;
	run.by_month = by && strcmp(by, "month") == 0;
	run.color = color && strcmp(color, "always") == 0 ? true :
	    color && strcmp(color, "never") == 0 ? false : isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
	run.attachments = attach || deep;
	run.duplicates = dups || deep;
	run.counts = counts;
	run.recursive = recursive;
	run.want = counts ? READER_WANT_NAME : (run.attachments || run.duplicates) ?
	    READER_WANT_FULL : READER_WANT_HEADER;
	run.now = time(NULL);
	if (run.duplicates)
		dedupkey_init(&run.dk, DEDUP_KEY_DEFAULT, NULL, NULL);
	int status = stats_run(&run, args, csv);
	poptFreeContext(pc);
	free(by);
	free(color);
	return exit_worse(report_exit_status(), status);
}
