/*
 * uidstate.c: IMAP UIDs, UIDVALIDITY and POP3 UIDLs across a conversion
 * (SPEC §1.10 dovecot-uidlist, §2.8 X-UID / X-IMAPbase / X-UIDL, §2.9 the
 * pseudo message's X-IMAP; mailshift-formats(5) "UID state").
 *
 * Rules for mbox -> Maildir (first run, no dovecot-uidlist yet), walking
 * the messages in mbox order with the previous kept UID:
 *   - an X-UID above the previous one is kept; one at or above the next UID
 *     of X-IMAPbase raises the next UID (warning), clients lose nothing;
 *   - a duplicate or decreasing X-UID is renumbered to a fresh UID and the
 *     UIDVALIDITY changes, since a client may hold that UID for another
 *     message (warning naming FILE:OFFSET);
 *   - no (or an invalid) X-UID: a fresh UID (warning);
 *   fresh UIDs are given in mbox order above every kept one.
 * With an existing dovecot-uidlist its UIDs and UIDVALIDITY never change:
 * an X-UID is kept only when the UIDVALIDITY agrees and the UID is not
 * below the list's next UID; other messages get fresh UIDs.
 * The list is written under dovecot-uidlist.lock through tmp/ + rename().
 * A source has UID state when its first message (or the pseudo message)
 * gives the UIDVALIDITY (X-IMAPbase / X-IMAP) or some message has an
 * X-UIDL; X-UID lines without a UIDVALIDITY mean nothing to a client and
 * leave the Maildir without a dovecot-uidlist.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "header.h"
#include "lock.h"
#include "maildir_writer.h"
#include "mbox_writer.h"
#include "report.h"
#include "statefile.h"
#include "uidstate.h"

/* ---- header values -------------------------------------------------------- */

static const char *
skip_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* A decimal number of at most 32 bits at *pp; advances. -1 when none. */
static long long
parse_num(const char **pp, const char *e)
{
	const char *p = *pp, *d = p;
	long long v = 0;

	while (p < e && *p >= '0' && *p <= '9') {
		v = v * 10 + (*p - '0');
		if (v > 4294967295LL)
			return -1;
		p++;
	}
	if (p == d)
		return -1;
	*pp = p;
	return v;
}

bool
uidstate_parse_base(const char *value, size_t len, struct uid_base *b)
{
	const char *p = value, *e = value + len;
	long long v, l;

	sb_reset(&b->keywords);
	p = skip_ws(p, e);
	if ((v = parse_num(&p, e)) <= 0)
		return false;
	if (p < e && !(*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		return false;
	p = skip_ws(p, e);
	if ((l = parse_num(&p, e)) < 0)
		return false;
	if (p < e && !(*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		return false;
	b->validity = (uint32_t)v;
	b->last = (uint32_t)l;
	for (;;) {
		p = skip_ws(p, e);
		if (p == e)
			break;
		const char *s = p;
		while (p < e && !(*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
			p++;
		if (b->keywords.len)
			sb_appendc(&b->keywords, ' ');
		sb_append(&b->keywords, s, (size_t)(p - s));
	}
	if (b->keywords.buf == NULL)
		sb_append(&b->keywords, "", 0);
	return true;
}

uint32_t
uidstate_parse_uid(const char *value, size_t len)
{
	const char *p = skip_ws(value, value + len), *e = value + len;
	long long v = parse_num(&p, e);

	if (v <= 0 || v > 4294967294LL || skip_ws(p, e) != e)
		return 0;
	return (uint32_t)v;
}

bool
uidstate_parse_uidl(const char *value, size_t len, struct strbuf *out)
{
	const char *p = skip_ws(value, value + len), *e = value + len;

	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	sb_reset(out);
	if (p == e || e - p > 70)
		return false;
	for (const char *q = p; q < e; q++)
		if ((unsigned char)*q < 0x21 || (unsigned char)*q > 0x7e)
			return false;
	sb_append(out, p, (size_t)(e - p));
	return true;
}

/* ---- collecting (mbox -> Maildir) ----------------------------------------- */

struct uidmsg {
	off_t offset;
	uint32_t xuid;              /* X-UID as read, 0 when none or invalid */
	uint32_t uid;               /* settled */
	bool deliver;
	bool bad_xuid;              /* an X-UID that is not a UID */
	bool listed;                /* already in the existing list */
	char *uidl;                 /* valid X-UIDL or NULL */
	char *name;                 /* published base name or NULL */
};

struct uidstate {
	char *mailbox;
	struct uid_base base;
	bool have_base;
	bool from_pseudo;
	bool any;                   /* any state seen */
	size_t warnings;
	struct uidmsg *m;
	size_t n, cap;
	struct strbuf tmp;
};

struct uidstate *
uidstate_new(const char *mailbox)
{
	struct uidstate *us = xcalloc(1, sizeof *us);

	us->mailbox = xstrdup(mailbox);
	return us;
}

void
uidstate_free(struct uidstate *us)
{
	if (us == NULL)
		return;
	for (size_t i = 0; i < us->n; i++) {
		free(us->m[i].uidl);
		free(us->m[i].name);
	}
	free(us->m);
	free(us->mailbox);
	sb_free(&us->base.keywords);
	sb_free(&us->tmp);
	free(us);
}

void
uidstate_pseudo(struct uidstate *us, const char *hdr, size_t len)
{
	struct header_field f;

	if (!header_find(hdr, len, "X-IMAP", &f))
		return;
	if (uidstate_parse_base(f.value, f.value_len, &us->base)) {
		us->have_base = us->from_pseudo = us->any = true;
	} else {
		report_warn("%s: X-IMAP of the pseudo message is not \"UIDVALIDITY LAST-UID\": ignored",
		    us->mailbox);
		us->warnings++;
	}
}

/* X-IMAPbase of one message: believed in the first message only. */
static void
collect_base(struct uidstate *us, const char *hdr, size_t len, off_t offset)
{
	struct header_field f;

	if (!header_find(hdr, len, "X-IMAPbase", &f))
		return;
	us->any = true;
	if (us->n > 0 || us->from_pseudo) {
		report_warn("%s:%lld: X-IMAPbase outside the first message: ignored",
		    us->mailbox, (long long)offset);
		us->warnings++;
		return;
	}
	if (uidstate_parse_base(f.value, f.value_len, &us->base)) {
		us->have_base = true;
		return;
	}
	report_warn("%s:%lld: X-IMAPbase is not \"UIDVALIDITY LAST-UID\": ignored",
	    us->mailbox, (long long)offset);
	us->warnings++;
}

uint64_t
uidstate_message(struct uidstate *us, const char *hdr, size_t len, off_t offset, bool deliver)
{
	struct header_field f;

	collect_base(us, hdr, len, offset);
	if (us->n == us->cap) {
		us->cap = us->cap ? us->cap * 2 : 256;
		us->m = xrealloc(us->m, us->cap * sizeof *us->m);
	}
	struct uidmsg *m = &us->m[us->n];
	memset(m, 0, sizeof *m);
	m->offset = offset;
	m->deliver = deliver;
	if (header_find(hdr, len, "X-UID", &f)) {
		/* believed only with a known UIDVALIDITY, as UW does (SPEC §2.8):
		 * X-UID lines alone make no UID state */
		if (us->have_base)
			us->any = true;
		m->xuid = uidstate_parse_uid(f.value, f.value_len);
		m->bad_xuid = m->xuid == 0;
	}
	if (header_find(hdr, len, "X-UIDL", &f)) {
		us->any = true;
		if (uidstate_parse_uidl(f.value, f.value_len, &us->tmp)) {
			m->uidl = xstrndup(us->tmp.buf, us->tmp.len);
		} else if (deliver) {
			report_warn("%s:%lld: X-UIDL is not a POP3 UIDL (1-70 printable bytes): not kept",
			    us->mailbox, (long long)offset);
			us->warnings++;
		}
	}
	return (uint64_t)us->n++;
}

void
uidstate_published(struct uidstate *us, uint64_t cookie, const char *name)
{
	if (cookie >= us->n)
		return;
	const char *c = strchr(name, ':');
	free(us->m[cookie].name);
	us->m[cookie].name = c ? xstrndup(name, (size_t)(c - name)) : xstrdup(name);
}

void
uidstate_found(struct uidstate *us, uint64_t cookie, const char *name)
{
	if (cookie >= us->n)
		return;
	us->m[cookie].deliver = true;
	uidstate_published(us, cookie, name);
}

bool
uidstate_present(const struct uidstate *us)
{
	return us->any;
}

const char *
uidstate_keywords(const struct uidstate *us, size_t *len_r)
{
	*len_r = us->have_base ? us->base.keywords.len : 0;
	return us->have_base && us->base.keywords.buf ? us->base.keywords.buf : "";
}

/* ---- dovecot-uidlist ------------------------------------------------------ */

struct uident {
	uint32_t uid;
	const char *base;           /* file base name (before ':') */
	size_t base_len;
	const char *uidl;           /* P field or NULL */
	size_t uidl_len;
	const char *line;           /* the whole line without LF */
	size_t line_len;
};

struct uidlist {
	char *data;
	size_t len;
	const char *hdr;            /* header fields after "3 " (without LF) */
	size_t hdr_len;
	uint32_t validity, next, max;
	struct uident *e;           /* in file order (UIDs increasing) */
	size_t n;
	struct uident **by_name;    /* sorted by base name */
	size_t unlisted;            /* files of new/ and cur/ not listed */
};

/* Fields of the header line: V and N are required. */
static bool
parse_header_line(struct uidlist *ul, const char *p, const char *e)
{
	if (e - p < 2 || p[0] != '3' || p[1] != ' ')
		return false;
	ul->hdr = p + 2;
	ul->hdr_len = (size_t)(e - p - 2);
	p += 2;
	while (p < e) {
		p = skip_ws(p, e);
		const char *s = p;
		while (p < e && *p != ' ')
			p++;
		if (p - s >= 2 && (*s == 'V' || *s == 'N')) {
			const char *q = s + 1;
			long long v = parse_num(&q, p);
			if (v < 0 || q != p)
				return false;
			if (*s == 'V')
				ul->validity = (uint32_t)v;
			else
				ul->next = (uint32_t)v;
		}
	}
	return ul->validity != 0 && ul->next != 0;
}

/* "<uid> [fields] :<name>" */
static bool
parse_entry_line(struct uident *u, const char *p, const char *e)
{
	const char *s = p;
	long long v = parse_num(&p, e);

	if (v <= 0 || p == e || *p != ' ')
		return false;
	u->uid = (uint32_t)v;
	u->line = s;
	u->line_len = (size_t)(e - s);
	u->uidl = NULL;
	u->uidl_len = 0;
	for (;;) {
		p = skip_ws(p, e);
		if (p == e)
			return false;
		if (*p == ':')
			break;
		const char *f = p;
		while (p < e && *p != ' ')
			p++;
		if (*f == 'P' && u->uidl == NULL) {
			u->uidl = f + 1;
			u->uidl_len = (size_t)(p - f - 1);
		}
	}
	p++;
	const char *c = memchr(p, ':', (size_t)(e - p));
	u->base = p;
	u->base_len = c ? (size_t)(c - p) : (size_t)(e - p);
	return u->base_len > 0;
}

static int
ident_cmp(const void *a, const void *b)
{
	const struct uident *x = *(struct uident *const *)a, *y = *(struct uident *const *)b;
	size_t n = x->base_len < y->base_len ? x->base_len : y->base_len;
	int c = memcmp(x->base, y->base, n);

	if (c != 0)
		return c;
	return x->base_len < y->base_len ? -1 : x->base_len > y->base_len;
}

/* Parse ul->data. false when it is not a version 3 list with increasing UIDs. */
static bool
uidlist_parse(struct uidlist *ul)
{
	const char *p = ul->data, *e = ul->data + ul->len;
	const char *nl = memchr(p, '\n', ul->len);

	if (nl == NULL || !parse_header_line(ul, p, nl))
		return false;
	for (p = nl + 1; p < e; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(e - p))) == NULL)
			nl = e;        /* a last line without LF */
		if (nl == p)
			continue;
		ul->e = xrealloc(ul->e, (ul->n + 1) * sizeof *ul->e);
		struct uident *u = &ul->e[ul->n];
		if (!parse_entry_line(u, p, nl) || u->uid <= ul->max)
			return false;
		ul->max = u->uid;
		ul->n++;
	}
	ul->by_name = xcalloc(ul->n + 1, sizeof *ul->by_name);
	for (size_t i = 0; i < ul->n; i++)
		ul->by_name[i] = &ul->e[i];
	qsort(ul->by_name, ul->n, sizeof *ul->by_name, ident_cmp);
	return true;
}

void
uidlist_free(struct uidlist *ul)
{
	if (ul == NULL)
		return;
	free(ul->data);
	free(ul->e);
	free(ul->by_name);
	free(ul);
}

/* Read and parse; 1 read, 0 absent, -1 malformed or unreadable (reported). */
static int
uidlist_load(int dirfd, const char *path, struct uidlist **ul_r)
{
	*ul_r = NULL;
	/* no size limit: a list grows with its mailbox */
	struct strbuf sb = STRBUF_INIT;
	int r = state_file_read(dirfd, UIDLIST_FILE, &sb, 0);
	if (r == 0)
		return 0;
	if (r == -1) {
		report_warn_sys("unable to read %s/%s", path, UIDLIST_FILE);
		sb_free(&sb);
		return -1;
	}
	struct uidlist *ul = xcalloc(1, sizeof *ul);
	ul->data = sb.buf;
	ul->len = sb.len;
	if (!uidlist_parse(ul)) {
		report_warn("%s/%s is not a version 3 list with increasing UIDs: not used",
		    path, UIDLIST_FILE);
		uidlist_free(ul);
		return -1;
	}
	*ul_r = ul;
	return 1;
}

bool
uidlist_lookup(const struct uidlist *ul, const char *name, size_t len, uint32_t *uid_r,
    const char **uidl_r, size_t *uidl_len_r)
{
	const char *c = memchr(name, ':', len);
	struct uident key = { .base = name, .base_len = c ? (size_t)(c - name) : len };
	struct uident *kp = &key;
	struct uident **hit = bsearch(&kp, ul->by_name, ul->n, sizeof *ul->by_name, ident_cmp);

	if (hit == NULL)
		return false;
	*uid_r = (*hit)->uid;
	*uidl_r = (*hit)->uidl;
	*uidl_len_r = (*hit)->uidl_len;
	return true;
}

/* Files of new/ and cur/ that the list does not name. */
static size_t
count_unlisted(const struct uidlist *ul, int dirfd)
{
	static const char *const sub[] = { "new", "cur" };
	size_t k = 0;

	for (size_t i = 0; i < ARRAY_SIZE(sub); i++) {
		int fd = openat(dirfd, sub[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = fd == -1 ? NULL : fdopendir(fd);
		if (d == NULL) {
			if (fd != -1)
				close(fd);
			continue;
		}
		struct dirent *de;
		uint32_t uid;
		const char *p;
		size_t pl;
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.' &&
			    !uidlist_lookup(ul, de->d_name, strlen(de->d_name), &uid, &p, &pl))
				k++;
		closedir(d);
	}
	return k;
}

int
uidlist_read(int dirfd, const char *path, struct uidlist **ul_r)
{
	int rc = uidlist_load(dirfd, path, ul_r);

	if (rc == 1)
		(*ul_r)->unlisted = count_unlisted(*ul_r, dirfd);
	return rc == -1 ? -1 : 0;
}

uint32_t uidlist_validity(const struct uidlist *ul) { return ul->validity; }
uint32_t uidlist_next(const struct uidlist *ul) { return ul->next; }
size_t uidlist_count(const struct uidlist *ul) { return ul->n; }

/* ---- settling and writing (mbox -> Maildir) ------------------------------- */

enum { R_KEPT = 1, R_FRESH, R_RENUMBER, R_LISTED, R_TAKEN, R_OTHER_V };

static uint32_t
new_validity(uint32_t old)
{
	time_t t = time(NULL);

	if (t > 0 && (uint64_t)t > old && (uint64_t)t <= 4294967295ULL)
		return (uint32_t)t;
	return old == 4294967295U ? 1 : old + 1;
}

/* First run: the rules of the file comment. */
static void
settle_first(struct uidstate *us, uint8_t *why, uint64_t *next_r, struct uidstate_result *res)
{
	uint64_t next = us->have_base ? (uint64_t)us->base.last + 1 : 1;
	uint32_t prev = 0;
	bool raised = false;

	for (size_t i = 0; i < us->n; i++) {
		struct uidmsg *m = &us->m[i];
		if (m->xuid == 0) {
			why[i] = R_FRESH;
		} else if (m->xuid <= prev) {
			why[i] = R_RENUMBER;
		} else {
			prev = m->xuid;
			why[i] = R_KEPT;
			m->uid = m->xuid;
			if (m->xuid >= next) {
				if (us->have_base && !raised && m->deliver && m->name) {
					raised = true;      /* the first one says it */
					report_warn("%s:%lld: X-UID %u is not below the next UID %llu of "
					    "X-IMAP%s: next UID raised to %u", us->mailbox,
					    (long long)m->offset, m->xuid, (unsigned long long)next,
					    us->from_pseudo ? "" : "base", m->xuid + 1);
					res->warnings++;
				}
				next = (uint64_t)m->xuid + 1;
			}
		}
		if (m->deliver && m->name && why[i] == R_RENUMBER)
			res->validity_changed = true;
	}
	*next_r = next;
}

/* Extending a list: its UIDs stay; an X-UID is used only when it fits. */
static void
settle_merge(struct uidstate *us, const struct uidlist *ul, uint8_t *why, uint64_t *next_r)
{
	bool same_v = us->have_base && us->base.validity == ul->validity;
	uint64_t next = ul->next > ul->max ? ul->next : (uint64_t)ul->max + 1;
	uint64_t floor = next;
	/* the old server raised its next UID since (X-IMAPbase): the UIDs
	 * below it may have been given, so they are not given again */
	if (same_v && (uint64_t)us->base.last + 1 > next)
		next = (uint64_t)us->base.last + 1;
	uint32_t prev = 0;

	for (size_t i = 0; i < us->n; i++) {
		struct uidmsg *m = &us->m[i];
		bool up = m->xuid != 0 && m->xuid > prev;
		const char *p;
		size_t pl;
		uint32_t uid;
		if (up)
			prev = m->xuid;
		if (!m->deliver || m->name == NULL)
			continue;
		if (uidlist_lookup(ul, m->name, strlen(m->name), &uid, &p, &pl)) {
			why[i] = R_LISTED;
			m->uid = uid;
			m->listed = true;
		} else if (m->xuid == 0) {
			why[i] = R_FRESH;
		} else if (!same_v) {
			why[i] = R_OTHER_V;
		} else if (!up) {
			why[i] = R_RENUMBER;
		} else if (m->xuid < floor) {
			why[i] = R_TAKEN;
		} else {
			why[i] = R_KEPT;
			m->uid = m->xuid;
			if (m->xuid >= next)
				next = (uint64_t)m->xuid + 1;
		}
	}
	*next_r = next;
}

/* Give fresh UIDs in mbox order and say why, per message. */
static void
settle_fresh(struct uidstate *us, const uint8_t *why, uint64_t *next, uint32_t v,
    struct uidstate_result *res)
{
	for (size_t i = 0; i < us->n; i++) {
		struct uidmsg *m = &us->m[i];
		if (!m->deliver || m->name == NULL)
			continue;
		if (why[i] == R_KEPT || why[i] == R_LISTED) {
			res->kept += why[i] == R_KEPT;
			continue;
		}
		m->uid = (uint32_t)(*next)++;
		char buf[96];
		if (why[i] == R_RENUMBER)
			snprintf(buf, sizeof buf, "duplicate or decreasing X-UID %u", m->xuid);
		else if (why[i] == R_TAKEN)
			snprintf(buf, sizeof buf, "X-UID %u is below the next UID of the list", m->xuid);
		else if (why[i] == R_OTHER_V)
			snprintf(buf, sizeof buf, "X-UID %u belongs to another UIDVALIDITY", m->xuid);
		else
			snprintf(buf, sizeof buf, "%s", m->bad_xuid ? "X-UID is not a UID" : "no X-UID");
		report_warn("%s:%lld: %s: new UID %u (UIDVALIDITY %u)", us->mailbox,
		    (long long)m->offset, buf, m->uid, v);
		res->warnings++;
		if (why[i] == R_RENUMBER)
			res->renumbered++;
		else
			res->fresh++;
	}
}

void
uidlist_format_header(uint32_t validity, uint32_t next, struct strbuf *out)
{
	uint8_t g[16];

	sb_appendf(out, "3 V%u N%u G", validity, next);
	if (getrandom(g, sizeof g, 0) != (ssize_t)sizeof g) {
		uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
		for (size_t i = 0; i < sizeof g; i++, x = x * 6364136223846793005ULL + 1)
			g[i] = (uint8_t)(x >> 56);
	}
	for (size_t i = 0; i < sizeof g; i++)
		sb_appendf(out, "%02x", g[i]);
	sb_appendc(out, '\n');
}

void
uidlist_format_entry(const struct uidlist_entry *e, struct strbuf *out)
{
	sb_appendf(out, "%u ", e->uid);
	if (e->uidl != NULL)
		sb_appendf(out, "P%s ", e->uidl);
	if (e->has_vsize)
		sb_appendf(out, "W%llu ", (unsigned long long)e->vsize);
	if (e->order != 0)
		sb_appendf(out, "O%u ", e->order);
	sb_appendf(out, ":%s\n", e->name);
}

/* The header line: existing fields kept, V and N set. */
static void
header_out(const struct uidlist *ul, uint32_t v, uint32_t next, struct strbuf *out)
{
	if (ul == NULL) {
		uidlist_format_header(v, next, out);
		return;
	}
	sb_appendf(out, "3 V%u N%u", v, next);
	const char *p = ul->hdr, *e = ul->hdr + ul->hdr_len;
	while ((p = skip_ws(p, e)) < e) {
		const char *s = p;
		while (p < e && *p != ' ')
			p++;
		if (*s != 'V' && *s != 'N') {
			sb_appendc(out, ' ');
			sb_append(out, s, (size_t)(p - s));
		}
	}
	sb_appendc(out, '\n');
}

static int
msg_uid_cmp(const void *a, const void *b)
{
	const struct uidmsg *x = *(struct uidmsg *const *)a, *y = *(struct uidmsg *const *)b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* The whole new list into out: the existing lines, then ours by UID. */
static void
list_out(struct uidstate *us, const struct uidlist *ul, uint32_t v, uint32_t next,
    struct strbuf *out, struct uidstate_result *res)
{
	struct uidmsg **v_m = xcalloc(us->n + 1, sizeof *v_m);
	size_t k = 0;

	header_out(ul, v, next, out);
	for (size_t i = 0; ul && i < ul->n; i++) {
		sb_append(out, ul->e[i].line, ul->e[i].line_len);
		sb_appendc(out, '\n');
	}
	for (size_t i = 0; i < us->n; i++)
		if (us->m[i].deliver && us->m[i].name && !us->m[i].listed)
			v_m[k++] = &us->m[i];
	qsort(v_m, k, sizeof *v_m, msg_uid_cmp);
	for (size_t i = 0; i < k; i++) {
		struct uidlist_entry e = { .uid = v_m[i]->uid, .uidl = v_m[i]->uidl,
		    .name = v_m[i]->name };
		uidlist_format_entry(&e, out);
		res->uidls += e.uidl != NULL;
	}
	free(v_m);
}

/* Replace maildir/dovecot-uidlist with data; a new file gets the
 * maildir's owner when we run as root. 0 or -1 (errno). */
static int
replace_list(int dirfd, const struct strbuf *data, bool no_sync)
{
	struct state_file_opts so = { .mode = 0600, .no_sync = no_sync };

	return state_file_replace(dirfd, UIDLIST_FILE, data->buf, data->len, &so);
}

/* Settle every published message's UID; returns validity and next. */
static void
settle(struct uidstate *us, const struct uidlist *ul, uint32_t *v_r, uint32_t *next_r,
    struct uidstate_result *res)
{
	uint8_t *why = xcalloc(us->n + 1, 1);
	uint64_t next;
	uint32_t v;

	if (ul == NULL) {
		settle_first(us, why, &next, res);
		v = us->have_base ? us->base.validity : new_validity(0);
		if (res->validity_changed)
			v = new_validity(v);
	} else {
		settle_merge(us, ul, why, &next);
		v = ul->validity;
	}
	uint64_t need = 0;
	for (size_t i = 0; i < us->n; i++)
		need += us->m[i].deliver && us->m[i].name &&
		    why[i] != R_KEPT && why[i] != R_LISTED;
	if (ul == NULL && next + need > 4294967295ULL) {
		/* UIDs used up: start again from 1 under a new UIDVALIDITY */
		report_warn("%s: UIDs exhausted: all messages renumbered", us->mailbox);
		res->warnings++;
		memset(why, R_RENUMBER, us->n);
		next = 1;
		v = new_validity(v);
		res->validity_changed = true;
	}
	if (res->validity_changed) {
		report_warn("%s: UIDVALIDITY changed from %u to %u: IMAP clients will resync",
		    us->mailbox, us->have_base ? us->base.validity : 0, v);
		res->warnings++;
	}
	settle_fresh(us, why, &next, v, res);
	*v_r = v;
	*next_r = (uint32_t)next;
	res->merged = ul != NULL;
	free(why);
}

int
uidstate_write(struct uidstate *us, int dirfd, const char *path, int lock_timeout,
    bool no_sync, struct uidstate_result *res_r)
{
	struct uidstate_result res = { .old_validity = us->have_base ? us->base.validity : 0 };
	struct uidlist *ul = NULL;
	struct strbuf out = STRBUF_INIT;
	uint32_t v, next;
	int rc = 0;

	int lfd = uidlist_lock_take(dirfd, path, lock_timeout);
	if (lfd == -1)
		return -1;
	if (uidlist_load(dirfd, path, &ul) == -1) {
		res.warnings++;         /* a list we cannot read is left to Dovecot */
		goto out;
	}
	settle(us, ul, &v, &next, &res);
	res.validity = v;
	res.next = next;
	if (ul != NULL && !res.kept && !res.fresh && !res.renumbered && next <= ul->next)
		goto out;               /* nothing to add, no next UID to raise */
	list_out(us, ul, v, next, &out, &res);
	if (replace_list(dirfd, &out, no_sync) == -1) {
		report_error_sys(report_status_for_write_errno(errno), "unable to write %s/%s",
		    path, UIDLIST_FILE);
		rc = -1;
	}
out:
	uidlist_lock_release(dirfd, lfd);
	uidlist_free(ul);
	sb_free(&out);
	res.warnings += us->warnings;   /* those seen while collecting */
	us->warnings = 0;
	if (res_r)
		*res_r = res;
	return rc;
}

/* ---- Maildir -> mbox ------------------------------------------------------ */

void
uid_out_init(struct uid_out *uo, const struct uidlist *ul, const char *keywords, size_t kwlen)
{
	memset(uo, 0, sizeof *uo);
	uo->ul = ul;
	uo->keywords = keywords ? keywords : "";
	uo->kwlen = keywords ? kwlen : 0;
	uint64_t first = ul->next > ul->max ? ul->next : (uint64_t)ul->max + 1;
	uint64_t last = first - 1 + ul->unlisted;
	uo->fresh_next = (uint32_t)first;
	uo->last = last > 4294967295ULL ? 4294967295U : (uint32_t)last;
}

/* Every copy of field `name` removed: a into b; true when one was. */
static bool
field_remove(const char *hdr, size_t len, const char *name, struct strbuf *out)
{
	struct header_iter it;
	struct header_field f;
	size_t nl = strlen(name), copied = 0;
	bool changed = false;

	sb_reset(out);
	header_iter_init(&it, hdr, len);
	while (header_iter_next(&it, &f)) {
		if (f.name_len != nl || !mem_ieq(f.name, name, nl))
			continue;
		size_t s = (size_t)(f.line - hdr);
		sb_append(out, hdr + copied, s - copied);
		copied = s + f.line_len;
		changed = true;
	}
	sb_append(out, hdr + copied, len - copied);
	return changed;
}

/* Is every SP-separated word of a among those of b? */
static bool
words_subset(const char *a, size_t alen, const char *b, size_t blen)
{
	for (size_t i = 0; i < alen;) {
		while (i < alen && a[i] == ' ')
			i++;
		size_t s = i;
		while (i < alen && a[i] != ' ')
			i++;
		if (i == s)
			continue;
		bool found = false;
		for (size_t j = 0; j < blen && !found;) {
			while (j < blen && b[j] == ' ')
				j++;
			size_t t = j;
			while (j < blen && b[j] != ' ')
				j++;
			found = j - t == i - s && memcmp(a + s, b + t, i - s) == 0;
		}
		if (!found)
			return false;
	}
	return true;
}

/* X-IMAPbase for the first message, kept when it says the same. */
static void
base_field(struct uid_out *uo, const char *hdr, size_t len, struct strbuf *out)
{
	struct header_field f;
	struct uid_base b = { .keywords = STRBUF_INIT };

	if (header_find(hdr, len, "X-IMAPbase", &f) &&
	    uidstate_parse_base(f.value, f.value_len, &b) &&
	    b.validity == uo->ul->validity && b.last == uo->last &&
	    words_subset(b.keywords.buf, b.keywords.len, uo->keywords, uo->kwlen) &&
	    words_subset(uo->keywords, uo->kwlen, b.keywords.buf, b.keywords.len)) {
		sb_reset(out);
		sb_append(out, hdr, len);
	} else {
		struct strbuf v = STRBUF_INIT;
		sb_appendf(&v, "%u %010u", uo->ul->validity, uo->last);
		if (uo->kwlen) {
			sb_appendc(&v, ' ');
			sb_append(&v, uo->keywords, uo->kwlen);
		}
		mbox_header_set_field(hdr, len, "X-IMAPbase", v.buf, out);
		sb_free(&v);
	}
	sb_free(&b.keywords);
}

/* The UID this message gets, 0 for none (pool used up). */
static uint32_t
next_uid(struct uid_out *uo, const char *name, size_t name_len, const char **uidl_r,
    size_t *uidl_len_r)
{
	uint32_t uid;

	*uidl_r = NULL;
	*uidl_len_r = 0;
	if (uidlist_lookup(uo->ul, name, name_len, &uid, uidl_r, uidl_len_r) && uid > uo->prev)
		return uo->prev = uid;
	if (uo->fresh_next > uo->prev && uo->fresh_next <= uo->last && uo->fresh_next != 0)
		return uo->prev = uo->fresh_next++;
	uo->unplaced++;
	return 0;
}

bool
uid_out_header(struct uid_out *uo, const char *name, size_t name_len, const char *hdr,
    size_t len, struct strbuf *out)
{
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	struct header_field f;
	const char *uidl;
	size_t uidl_len;
	char num[16];

	field_remove(hdr, len, "X-IMAP", &a);
	if (uo->n++ == 0)
		base_field(uo, a.buf, a.len, &b);
	else
		field_remove(a.buf, a.len, "X-IMAPbase", &b);
	uint32_t uid = next_uid(uo, name, name_len, &uidl, &uidl_len);
	if (uid == 0)
		field_remove(b.buf, b.len, "X-UID", &a);
	else if (header_find(b.buf, b.len, "X-UID", &f) &&
	    uidstate_parse_uid(f.value, f.value_len) == uid &&
	    header_count(b.buf, b.len, "X-UID") == 1) {
		sb_reset(&a);
		sb_append(&a, b.buf, b.len);
	} else {
		snprintf(num, sizeof num, "%u", uid);
		mbox_header_set_field(b.buf, b.len, "X-UID", num, &a);
	}
	struct strbuf u = STRBUF_INIT;
	if (uidl != NULL && !(header_find(a.buf, a.len, "X-UIDL", &f) &&
	    uidstate_parse_uidl(f.value, f.value_len, &u) &&
	    u.len == uidl_len && memcmp(u.buf, uidl, uidl_len) == 0)) {
		sb_reset(&u);
		sb_append(&u, uidl, uidl_len);
		mbox_header_set_field(a.buf, a.len, "X-UIDL", u.buf, out);
	} else {
		sb_reset(out);
		sb_append(out, a.buf, a.len);
	}
	sb_free(&u);
	sb_free(&a);
	sb_free(&b);
	return out->len != len || (len > 0 && memcmp(out->buf, hdr, len) != 0);
}

/* ---- check and repair (mailshift-check(1) UIDLIST-*) ---------------------- */

bool
uidlist_parse_header(const char *p, size_t len, uint32_t *validity_r, uint32_t *next_r)
{
	struct uidlist ul = { 0 };

	if (!parse_header_line(&ul, p, p + len))
		return false;
	*validity_r = ul.validity;
	*next_r = ul.next;
	return true;
}

bool
uidlist_parse_entry(const char *p, size_t len, uint32_t *uid_r, const char **base_r,
    size_t *base_len_r)
{
	struct uident u;

	if (!parse_entry_line(&u, p, p + len))
		return false;
	*uid_r = u.uid;
	*base_r = u.base;
	*base_len_r = u.base_len;
	return true;
}

int
uidlist_lock(int dirfd, const char *path, int timeout)
{
	return uidlist_lock_take(dirfd, path, timeout);
}

void
uidlist_unlock(int dirfd, int lock_fd)
{
	uidlist_lock_release(dirfd, lock_fd);
}

int
uidlist_replace(int dirfd, const struct strbuf *data, bool no_sync)
{
	return replace_list(dirfd, data, no_sync);
}
