/*
 * serverstate.c: Courier-IMAP, Courier POP3, qmail-pop3d and Dovecot state
 * beside a Maildir, and the merge into Dovecot's (SPEC §1.10, §1.11).
 *
 * The formats, as Courier writes and reads them and as Dovecot's own
 * migration scripts read them:
 *   - courierimapuiddb: Courier-IMAP writes "1 <uidvalidity> <next uid>"
 *     and one "<uid> <base name>" line per message, sorted by UID; it
 *     reads the name as the rest of the line after the first space and
 *     compares names up to the first ':'.
 *   - courierpop3dsizelist: Courier POP3 writes "/3 <next> <uidvalidity>"
 *     and "<name> <size> <uid>:<uidvalidity>:<utf8>" in the order it lists
 *     the messages; it finds the fields from the right (the last two
 *     spaces). Older versions wrote "/2", "/1" or no "/" line at all.
 *     Its UIDL is "UID<uid>-<uidvalidity>" ("UID<uid>" without a
 *     uidvalidity) and, for uid 0, the base name with bytes outside
 *     0x21..0x7e and ' " + written as "+XX"; its sizes count CR LF line
 *     ends (plus 2 when the file does not end in LF).
 *   - courierimapkeywords/: the :list file and the update files that
 *     Courier writes between two rewrites of the list; a plain "<base>"
 *     file is the newest, else ".<n>.<base>" with the highest n.
 *   - qmail-pop3d has no state: it lists the messages of new/ and cur/ by
 *     mtime and reports each file's base name (up to the first ':') as
 *     the UIDL.
 * A line that cannot be used is a finding and is skipped; a header that
 * cannot be read makes the whole file unused, so no state is applied half.
 * A last line without LF is a truncation (every writer ends lines with LF).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flags.h"
#include "maildir_reader.h"
#include "message.h"
#include "serverstate.h"
#include "statefile.h"
#include "uidstate.h"

/* ---- findings --------------------------------------------------------------- */

static const char *const problem_codes[] = {
	[STATE_UNREADABLE] = "STATE-UNREADABLE",
	[STATE_EMPTY] = "STATE-EMPTY",
	[STATE_BAD_HEADER] = "STATE-BAD-HEADER",
	[STATE_UNKNOWN_VERSION] = "STATE-UNKNOWN-VERSION",
	[STATE_TRUNCATED] = "STATE-TRUNCATED",
	[STATE_BAD_LINE] = "STATE-BAD-LINE",
	[STATE_DUPLICATE_UID] = "STATE-DUPLICATE-UID",
	[STATE_DUPLICATE_NAME] = "STATE-DUPLICATE-NAME",
	[STATE_UID_ORDER] = "STATE-UID-ORDER",
	[STATE_MISSING_FILE] = "STATE-MISSING-FILE",
	[STATE_BAD_INDEX] = "STATE-BAD-INDEX",
	[STATE_BAD_KEYWORD] = "STATE-BAD-KEYWORD",
	[STATE_TOO_MANY_KEYWORDS] = "STATE-TOO-MANY-KEYWORDS",
	[STATE_UIDS_EXHAUSTED] = "STATE-UIDS-EXHAUSTED",
	[STATE_NOT_CARRIED] = "STATE-NOT-CARRIED",
	[STATE_SIZE_DIFFERS] = "STATE-SIZE-DIFFERS",
};

const char *
state_problem_code(enum state_problem what)
{
	if ((size_t)what < ARRAY_SIZE(problem_codes) && problem_codes[what] != NULL)
		return problem_codes[what];
	return "STATE-UNKNOWN";
}

enum state_severity
state_problem_severity(enum state_problem what)
{
	switch (what) {
	case STATE_MISSING_FILE:        /* Courier forgets lines lazily */
	case STATE_SIZE_DIFFERS:
		return STATE_NOTE;
	case STATE_UID_ORDER:
	case STATE_BAD_INDEX:
	case STATE_BAD_KEYWORD:
	case STATE_TOO_MANY_KEYWORDS:
	case STATE_UIDS_EXHAUSTED:
	case STATE_NOT_CARRIED:
		return STATE_WARNING;
	default:
		return STATE_ERROR;
	}
}

static void finding(struct state_findings *f, enum state_problem what, const char *file,
    size_t line, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
finding(struct state_findings *f, enum state_problem what, const char *file, size_t line,
    const char *fmt, ...)
{
	va_list ap;
	char small[256];

	if (f == NULL)
		return;
	va_start(ap, fmt);
	int len = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	char *text = xmalloc(len < 0 ? 1 : (size_t)len + 1);
	if (len < 0) {
		text[0] = '\0';
	} else if ((size_t)len < sizeof small) {
		memcpy(text, small, (size_t)len + 1);
	} else {
		va_start(ap, fmt);
		vsnprintf(text, (size_t)len + 1, fmt, ap);
		va_end(ap);
	}
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 16;
		f->v = xrealloc(f->v, f->cap * sizeof *f->v);
	}
	f->v[f->n].what = what;
	f->v[f->n].file = xstrdup(file ? file : "");
	f->v[f->n].line = line;
	f->v[f->n].text = text;
	f->n++;
}

void
state_findings_free(struct state_findings *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].file);
		free(f->v[i].text);
	}
	free(f->v);
	f->v = NULL;
	f->n = f->cap = 0;
}

void
state_finding_format(const struct state_finding *sf, struct strbuf *out)
{
	if (sf->line > 0)
		sb_appendf(out, "%s:%zu: %s: %s", sf->file, sf->line, state_problem_code(sf->what),
		    sf->text);
	else
		sb_appendf(out, "%s: %s: %s", sf->file, state_problem_code(sf->what), sf->text);
}

/* A name for a message: printable ASCII as is, other bytes as \xHH, at
 * most 120 bytes (a finding is one line). Returns a static buffer. */
static const char *
shown(const char *p, size_t n)
{
	static char buf[4 * 120 + 8];
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (o > sizeof buf - 8) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, sizeof buf - o, "\\x%02x", c);
	}
	buf[o] = '\0';
	return buf;
}

/* ---- lines and numbers ---------------------------------------------------------- */

struct lines {
	const char *p, *e;
	size_t no;              /* number of the line last returned */
};

static void
lines_init(struct lines *l, const char *data, size_t len)
{
	l->p = data;
	l->e = data + len;
	l->no = 0;
}

/* The next line without its LF; *lf_r tells whether it had one. */
static bool
lines_next(struct lines *l, const char **s_r, size_t *n_r, bool *lf_r)
{
	if (l->p >= l->e)
		return false;
	const char *nl = memchr(l->p, '\n', (size_t)(l->e - l->p));
	*s_r = l->p;
	*n_r = nl ? (size_t)(nl - l->p) : (size_t)(l->e - l->p);
	*lf_r = nl != NULL;
	l->p = nl ? nl + 1 : l->e;
	l->no++;
	return true;
}

/* A decimal number filling [p, p+n) exactly, at most max. */
static bool
num_exact(const char *p, size_t n, uint64_t max, uint64_t *v_r)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		unsigned d = (unsigned)(p[i] - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*v_r = v;
	return true;
}

/* Split [p, p+n) at single spaces into at most max fields; false when
 * there are more, or an empty field (two spaces, leading or trailing). */
static bool
split_fields(const char *p, size_t n, const char **fs, size_t *fl, size_t max, size_t *count_r)
{
	size_t k = 0, s = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != ' ')
			continue;
		if (i == s || k == max)
			return false;
		fs[k] = p + s;
		fl[k++] = i - s;
		s = i + 1;
	}
	*count_r = k;
	return true;
}

static size_t
base_len(const char *name, size_t n)
{
	const char *c = memchr(name, ':', n);

	return c ? (size_t)(c - name) : n;
}

static int
bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn;
}

/* ---- a sorted index of names, for duplicates and lookups ------------------------ */

struct name_ix {
	const char *s;
	size_t n;
	size_t i;               /* position in the owner's array */
};

static int
name_ix_cmp(const void *x, const void *y)
{
	const struct name_ix *a = x, *b = y;
	int c = bytes_cmp(a->s, a->n, b->s, b->n);

	if (c != 0)
		return c;
	return a->i < b->i ? -1 : a->i > b->i;
}

static const struct name_ix *
name_ix_find(const struct name_ix *ix, size_t n, const char *s, size_t len)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {           /* the first entry not below s */
		size_t mid = lo + (hi - lo) / 2;
		if (bytes_cmp(ix[mid].s, ix[mid].n, s, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && bytes_cmp(ix[lo].s, ix[lo].n, s, len) == 0)
		return &ix[lo];
	return NULL;
}

/* ---- courierimapuiddb ----------------------------------------------------------- */

struct uid_line {
	uint32_t uid;
	const char *base;
	size_t base_len;
	size_t line;
	bool drop;
};

static int
uid_line_cmp_uid(const void *x, const void *y)
{
	const struct uid_line *a = *(struct uid_line *const *)x, *b = *(struct uid_line *const *)y;

	if (a->uid != b->uid)
		return a->uid < b->uid ? -1 : 1;
	return a->line < b->line ? -1 : a->line > b->line;
}

static int
uid_line_cmp_base(const void *x, const void *y)
{
	const struct uid_line *a = *(struct uid_line *const *)x, *b = *(struct uid_line *const *)y;
	int c = bytes_cmp(a->base, a->base_len, b->base, b->base_len);

	if (c != 0)
		return c;
	return a->line < b->line ? -1 : a->line > b->line;
}

/* Mark the later of equal UIDs and of equal base names. */
static void
uiddb_duplicates(struct uid_line *u, size_t n, const char *file, struct state_findings *f)
{
	struct uid_line **v = xcalloc(n + 1, sizeof *v);

	for (size_t i = 0; i < n; i++)
		v[i] = &u[i];
	qsort(v, n, sizeof *v, uid_line_cmp_uid);
	for (size_t i = 1; i < n; i++)
		if (v[i]->uid == v[i - 1]->uid) {
			v[i]->drop = true;
			finding(f, STATE_DUPLICATE_UID, file, v[i]->line,
			    "UID %u is listed on line %zu already: not used", v[i]->uid,
			    v[i - 1]->line);
			v[i] = v[i - 1];    /* compare later ones with the first */
		}
	for (size_t i = 0; i < n; i++)
		v[i] = &u[i];
	qsort(v, n, sizeof *v, uid_line_cmp_base);
	for (size_t i = 1; i < n; i++)
		if (bytes_cmp(v[i]->base, v[i]->base_len, v[i - 1]->base, v[i - 1]->base_len) == 0) {
			if (!v[i]->drop)
				finding(f, STATE_DUPLICATE_NAME, file, v[i]->line,
				    "%s is listed on line %zu already: not used",
				    shown(v[i]->base, v[i]->base_len), v[i - 1]->line);
			v[i]->drop = true;
			v[i] = v[i - 1];
		}
	free(v);
}

int
courier_uiddb_parse(const char *data, size_t len, const char *file, struct courier_uiddb *db,
    struct state_findings *f)
{
	struct lines l;
	const char *s, *fs[4];
	size_t n, fl[4], k;
	bool lf;
	uint64_t ver, v, next;

	memset(db, 0, sizeof *db);
	lines_init(&l, data, len);
	if (!lines_next(&l, &s, &n, &lf) || (n == 0 && !lf)) {
		finding(f, STATE_EMPTY, file, 0, "empty file: not used");
		return -1;
	}
	if (!lf) {
		finding(f, STATE_TRUNCATED, file, 1, "the header line is cut short: file not used");
		return -1;
	}
	if (!split_fields(s, n, fs, fl, 4, &k) || k != 3 || !num_exact(fs[0], fl[0], 99, &ver)) {
		finding(f, STATE_BAD_HEADER, file, 1,
		    "not \"1 UIDVALIDITY NEXTUID\": file not used");
		return -1;
	}
	if (ver != 1) {
		finding(f, STATE_UNKNOWN_VERSION, file, 1,
		    "version %llu (only 1 is known): file not used", (unsigned long long)ver);
		return -1;
	}
	if (!num_exact(fs[1], fl[1], 4294967295ULL, &v) || v == 0 ||
	    !num_exact(fs[2], fl[2], 4294967295ULL, &next)) {
		finding(f, STATE_BAD_HEADER, file, 1,
		    "not \"1 UIDVALIDITY NEXTUID\": file not used");
		return -1;
	}

	struct uid_line *u = NULL;
	size_t nu = 0, cap = 0;
	while (lines_next(&l, &s, &n, &lf)) {
		if (!lf) {
			finding(f, STATE_TRUNCATED, file, l.no, "the last line is cut short: not used");
			break;
		}
		const char *sp = memchr(s, ' ', n);
		uint64_t uid;
		if (sp == NULL || !num_exact(s, (size_t)(sp - s), 4294967294ULL, &uid) || uid == 0) {
			finding(f, STATE_BAD_LINE, file, l.no, "not \"UID FILENAME\": not used");
			continue;
		}
		const char *name = sp;
		while (name < s + n && *name == ' ')
			name++;
		size_t bl = base_len(name, (size_t)(s + n - name));
		if (bl == 0) {
			finding(f, STATE_BAD_LINE, file, l.no, "no file name: not used");
			continue;
		}
		if (nu == cap) {
			cap = cap ? cap * 2 : 64;
			u = xrealloc(u, cap * sizeof *u);
		}
		u[nu++] = (struct uid_line){ .uid = (uint32_t)uid, .base = name, .base_len = bl,
		    .line = l.no };
		if (uid >= next)
			next = uid + 1;     /* never give out a UID a client has seen */
	}
	uiddb_duplicates(u, nu, file, f);

	db->present = true;
	db->file = xstrdup(file ? file : COURIER_UIDDB_FILE);
	db->validity = (uint32_t)v;
	db->next = next > 4294967295ULL ? 4294967295U : (uint32_t)next;
	db->e = xcalloc(nu + 1, sizeof *db->e);
	for (size_t i = 0; i < nu; i++) {
		if (u[i].drop)
			continue;
		db->e[db->n].uid = u[i].uid;
		db->e[db->n].base = xstrndup(u[i].base, u[i].base_len);
		db->e[db->n].line = u[i].line;
		db->n++;
	}
	free(u);
	return 0;
}

void
courier_uiddb_free(struct courier_uiddb *db)
{
	for (size_t i = 0; i < db->n; i++)
		free(db->e[i].base);
	free(db->e);
	free(db->file);
	memset(db, 0, sizeof *db);
}

/* ---- courierpop3dsizelist ------------------------------------------------------- */

void
courier_pop3_uidl(const char *base, size_t len, uint32_t uid, uint32_t validity,
    struct strbuf *out)
{
	if (uid != 0) {
		if (validity != 0)
			sb_appendf(out, "UID%u-%u", uid, validity);
		else
			sb_appendf(out, "UID%u", uid);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)base[i];
		if (c < 0x21 || c > 0x7e || c == '\'' || c == '"' || c == '+')
			sb_appendf(out, "+%02X", c);
		else
			sb_appendc(out, (char)c);
	}
}

/* "/<version> ..." into p; -1 (finding made) when the file is unusable. */
static int
pop3_header(const char *s, size_t n, const char *file, struct courier_pop3 *p,
    struct state_findings *f)
{
	const char *fs[4];
	size_t fl[4], k;
	uint64_t ver, next, v = 0;

	if (!split_fields(s + 1, n - 1, fs, fl, 4, &k) || !num_exact(fs[0], fl[0], 999, &ver)) {
		finding(f, STATE_BAD_HEADER, file, 1, "not \"/VERSION NEXTUID ...\": file not used");
		return -1;
	}
	if (ver < 1 || ver > 3) {
		finding(f, STATE_UNKNOWN_VERSION, file, 1,
		    "version %llu (1 to 3 are known): file not used", (unsigned long long)ver);
		return -1;
	}
	if (k != (ver == 1 ? 2u : 3u) || !num_exact(fs[1], fl[1], 4294967295ULL, &next) ||
	    (ver > 1 && !num_exact(fs[2], fl[2], 4294967295ULL, &v))) {
		finding(f, STATE_BAD_HEADER, file, 1, "not \"/%llu NEXTUID%s\": file not used",
		    (unsigned long long)ver, ver > 1 ? " UIDVALIDITY" : "");
		return -1;
	}
	p->version = (int)ver;
	p->next = (uint32_t)next;
	p->validity = (uint32_t)v;
	return 0;
}

/* The last space-separated token of [s, s+*n): shortens *n to what is
 * before it (its separating space excluded). */
static bool
last_token(const char *s, size_t *n, const char **t_r, size_t *tl_r)
{
	size_t i = *n;

	while (i > 0 && s[i - 1] != ' ')
		i--;
	if (i == 0 || i == *n)
		return false;
	*t_r = s + i;
	*tl_r = *n - i;
	*n = i - 1;
	return true;
}

/* "<uid>:<uidvalidity>[:<n>]" */
static bool
pop3_uid_token(const char *t, size_t tl, uint32_t *uid_r, uint32_t *v_r)
{
	const char *c1 = memchr(t, ':', tl);
	const char *end = t + tl;
	uint64_t uid, v, x;

	if (c1 == NULL)
		return false;
	const char *c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1));
	const char *ve = c2 ? c2 : end;
	if (!num_exact(t, (size_t)(c1 - t), 4294967295ULL, &uid) ||
	    !num_exact(c1 + 1, (size_t)(ve - c1 - 1), 4294967295ULL, &v) ||
	    (c2 != NULL && !num_exact(c2 + 1, (size_t)(end - c2 - 1), 999999, &x)))
		return false;
	*uid_r = (uint32_t)uid;
	*v_r = (uint32_t)v;
	return true;
}

/* One message line, fields from the right as Courier reads them. */
static bool
pop3_line(const char *s, size_t n, int version, struct courier_pop3_msg *m)
{
	const char *t, *ts;
	size_t tl, tsl;
	uint64_t size, uid = 0;

	memset(m, 0, sizeof *m);
	if (!last_token(s, &n, &t, &tl))
		return false;
	if (memchr(t, ':', tl) != NULL) {
		if (!pop3_uid_token(t, tl, &m->uid, &m->validity) || !last_token(s, &n, &ts, &tsl))
			return false;
	} else if (version >= 1) {
		if (!num_exact(t, tl, 4294967295ULL, &uid) || !last_token(s, &n, &ts, &tsl))
			return false;
		m->uid = (uint32_t)uid;
	} else {
		ts = t;
		tsl = tl;
	}
	if (!num_exact(ts, tsl, (uint64_t)INT64_MAX, &size))
		return false;
	size_t bl = base_len(s, n);
	if (bl == 0)
		return false;
	m->size = size;
	m->base = xstrndup(s, bl);
	return true;
}

static int
pop3_msg_cmp_uidl(const void *x, const void *y)
{
	const struct courier_pop3_msg *a = *(struct courier_pop3_msg *const *)x;
	const struct courier_pop3_msg *b = *(struct courier_pop3_msg *const *)y;
	int c = strcmp(a->uidl, b->uidl);

	if (c != 0)
		return c;
	return a->line < b->line ? -1 : a->line > b->line;
}

static int
pop3_msg_cmp_base(const void *x, const void *y)
{
	const struct courier_pop3_msg *a = *(struct courier_pop3_msg *const *)x;
	const struct courier_pop3_msg *b = *(struct courier_pop3_msg *const *)y;
	int c = strcmp(a->base, b->base);

	if (c != 0)
		return c;
	return a->line < b->line ? -1 : a->line > b->line;
}

/* Drop the later of two lines with the same base name or the same UIDL:
 * a client could not tell such messages apart. */
static void
pop3_duplicates(struct courier_pop3 *p, const char *file, struct state_findings *f)
{
	struct courier_pop3_msg **v = xcalloc(p->n + 1, sizeof *v);
	bool *drop = xcalloc(p->n + 1, sizeof *drop);

	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < p->n; i++)
			v[i] = &p->e[i];
		qsort(v, p->n, sizeof *v, pass == 0 ? pop3_msg_cmp_base : pop3_msg_cmp_uidl);
		for (size_t i = 1; i < p->n; i++) {
			bool same = pass == 0 ? strcmp(v[i]->base, v[i - 1]->base) == 0 :
			    strcmp(v[i]->uidl, v[i - 1]->uidl) == 0;
			if (!same)
				continue;
			size_t at = (size_t)(v[i] - p->e);
			if (!drop[at]) {
				if (pass == 0)
					finding(f, STATE_DUPLICATE_NAME, file, v[i]->line,
					    "%s is listed on line %zu already: not used",
					    shown(v[i]->base, strlen(v[i]->base)), v[i - 1]->line);
				else
					finding(f, STATE_DUPLICATE_UID, file, v[i]->line,
					    "UIDL %s is listed on line %zu already: not used",
					    shown(v[i]->uidl, strlen(v[i]->uidl)), v[i - 1]->line);
			}
			drop[at] = true;
			v[i] = v[i - 1];
		}
	}
	size_t k = 0;
	for (size_t i = 0; i < p->n; i++) {
		if (drop[i]) {
			free(p->e[i].base);
			free(p->e[i].uidl);
		} else {
			p->e[k++] = p->e[i];
		}
	}
	p->n = k;
	free(v);
	free(drop);
}

int
courier_pop3_parse(const char *data, size_t len, const char *file, struct courier_pop3 *p,
    struct state_findings *f)
{
	struct lines l;
	const char *s;
	size_t n, cap = 0;
	bool lf, first = true;
	struct strbuf sb = STRBUF_INIT;

	memset(p, 0, sizeof *p);
	lines_init(&l, data, len);
	if (len == 0) {
		finding(f, STATE_EMPTY, file, 0, "empty file: not used");
		return -1;
	}
	while (lines_next(&l, &s, &n, &lf)) {
		if (first && n > 0 && s[0] == '/') {
			first = false;
			if (!lf) {
				finding(f, STATE_TRUNCATED, file, 1,
				    "the header line is cut short: file not used");
				goto unusable;
			}
			if (pop3_header(s, n, file, p, f) == -1)
				goto unusable;
			continue;
		}
		first = false;
		if (!lf) {
			finding(f, STATE_TRUNCATED, file, l.no, "the last line is cut short: not used");
			break;
		}
		struct courier_pop3_msg m;
		if (!pop3_line(s, n, p->version, &m)) {
			finding(f, STATE_BAD_LINE, file, l.no, "not \"FILENAME SIZE%s\": not used",
			    p->version == 0 ? "" : p->version == 1 ? " UID" : " UID:UIDVALIDITY");
			continue;
		}
		m.line = l.no;
		sb_reset(&sb);
		courier_pop3_uidl(m.base, strlen(m.base), m.uid, m.validity, &sb);
		m.uidl = xstrndup(sb.buf, sb.len);
		if (p->n == cap) {
			cap = cap ? cap * 2 : 64;
			p->e = xrealloc(p->e, cap * sizeof *p->e);
		}
		p->e[p->n++] = m;
	}
	sb_free(&sb);
	pop3_duplicates(p, file, f);
	p->present = true;
	p->file = xstrdup(file ? file : COURIER_POP3_FILE);
	return 0;
unusable:
	sb_free(&sb);
	courier_pop3_free(p);
	return -1;
}

void
courier_pop3_free(struct courier_pop3 *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->e[i].base);
		free(p->e[i].uidl);
	}
	free(p->e);
	free(p->file);
	memset(p, 0, sizeof *p);
}

/* ---- keywords ------------------------------------------------------------------- */

/* Index of a name (exact bytes), adding it when new. */
static uint32_t
kw_name_index(struct courier_keywords *kw, const char *s, size_t n)
{
	for (size_t i = 0; i < kw->nnames; i++)
		if (strlen(kw->names[i]) == n && memcmp(kw->names[i], s, n) == 0)
			return (uint32_t)i;
	kw->names = xrealloc(kw->names, (kw->nnames + 1) * sizeof *kw->names);
	kw->valid = xrealloc(kw->valid, (kw->nnames + 1) * sizeof *kw->valid);
	kw->names[kw->nnames] = xstrndup(s, n);
	kw->valid[kw->nnames] = keyword_is_atom(s, n) && memchr(s, '\0', n) == NULL;
	return (uint32_t)kw->nnames++;
}

/* FNV-1a: the base names of a maildir, into the table of messages */
static size_t
name_hash(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return (size_t)h;
}

static void
kw_slot_put(struct courier_keywords *kw, size_t at)
{
	const char *b = kw->m[at].base;
	size_t i = name_hash(b, strlen(b)) & (kw->nslot - 1);

	while (kw->slot[i] != 0)
		i = (i + 1) & (kw->nslot - 1);
	kw->slot[i] = at + 1;
}

/* The message entry of a base name; with create, a new empty one. */
static struct courier_kw_msg *
kw_msg(struct courier_keywords *kw, const char *base, size_t n, bool create)
{
	if (kw->nslot > 0) {
		for (size_t i = name_hash(base, n) & (kw->nslot - 1); kw->slot[i] != 0;
		    i = (i + 1) & (kw->nslot - 1)) {
			struct courier_kw_msg *m = &kw->m[kw->slot[i] - 1];
			if (bytes_cmp(m->base, strlen(m->base), base, n) == 0)
				return m;
		}
	}
	if (!create)
		return NULL;
	if (2 * (kw->n + 1) > kw->nslot) {       /* at most half full; m holds nslot/2 */
		free(kw->slot);
		kw->nslot = kw->nslot ? kw->nslot * 2 : 64;
		kw->slot = xcalloc(kw->nslot, sizeof *kw->slot);
		kw->m = xrealloc(kw->m, kw->nslot / 2 * sizeof *kw->m);
		for (size_t j = 0; j < kw->n; j++)
			kw_slot_put(kw, j);
	}
	struct courier_kw_msg *m = &kw->m[kw->n];
	memset(m, 0, sizeof *m);
	m->base = xstrndup(base, n);
	kw_slot_put(kw, kw->n++);
	return m;
}

static void
kw_msg_add(struct courier_kw_msg *m, uint32_t idx)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->idx[i] == idx)
			return;
	m->idx = xrealloc(m->idx, (m->n + 1) * sizeof *m->idx);
	m->idx[m->n++] = idx;
}

const struct courier_kw_msg *
courier_kw_lookup(const struct courier_keywords *kw, const char *base, size_t len)
{
	return kw_msg((struct courier_keywords *)kw, base, len, false);
}

/* "<base>:<index> <index> ..." of the :list. */
static void
kw_list_message(struct courier_keywords *kw, size_t nlist, const char *s, size_t n,
    const char *file, size_t line, struct state_findings *f)
{
	const char *c = memchr(s, ':', n);

	if (c == NULL || c == s) {
		finding(f, STATE_BAD_LINE, file, line, "not \"FILENAME:INDEX ...\": not used");
		return;
	}
	size_t bl = (size_t)(c - s);
	if (kw_msg(kw, s, bl, false) != NULL) {
		finding(f, STATE_DUPLICATE_NAME, file, line, "%s is listed already: not used",
		    shown(s, bl));
		return;
	}
	struct courier_kw_msg *m = kw_msg(kw, s, bl, true);
	const char *p = c + 1, *e = s + n;
	while (p < e) {
		while (p < e && *p == ' ')
			p++;
		const char *t = p;
		while (p < e && *p != ' ')
			p++;
		if (p == t)
			break;
		uint64_t idx;
		if (!num_exact(t, (size_t)(p - t), 4294967295ULL, &idx))
			finding(f, STATE_BAD_LINE, file, line, "index \"%s\" is not a number: not used",
			    shown(t, (size_t)(p - t)));
		else if (idx >= nlist)
			finding(f, STATE_BAD_INDEX, file, line,
			    "index %llu is beyond the %zu keywords listed: not used",
			    (unsigned long long)idx, nlist);
		else
			kw_msg_add(m, (uint32_t)idx);
	}
}

int
courier_kw_parse_list(const char *data, size_t len, const char *file,
    struct courier_keywords *kw, struct state_findings *f)
{
	struct lines l;
	const char *s;
	size_t n, nlist;
	bool lf, names = true;

	kw->present = true;
	free(kw->file);
	kw->file = xstrdup(file ? file : COURIER_KEYWORDS_DIR "/:list");
	lines_init(&l, data, len);
	while (lines_next(&l, &s, &n, &lf)) {
		if (!lf) {
			finding(f, STATE_TRUNCATED, file, l.no, "the last line is cut short: not used");
			break;
		}
		if (names) {
			if (n == 0) {
				names = false;
				continue;
			}
			size_t before = kw->nnames;
			uint32_t idx = kw_name_index(kw, s, n);
			if (idx < before) {
				/* Courier's table gives a repeated name its first entry */
				kw->names = xrealloc(kw->names, (kw->nnames + 1) * sizeof *kw->names);
				kw->valid = xrealloc(kw->valid, (kw->nnames + 1) * sizeof *kw->valid);
				kw->names[kw->nnames] = xstrdup(kw->names[idx]);
				kw->valid[kw->nnames++] = kw->valid[idx];
			} else if (!kw->valid[idx]) {
				finding(f, STATE_BAD_KEYWORD, file, l.no,
				    "keyword \"%s\" is not an IMAP atom: not carried", shown(s, n));
			}
			continue;
		}
		nlist = kw->nnames;
		kw_list_message(kw, nlist, s, n, file, l.no, f);
	}
	return 0;
}

const char *
courier_kw_update_base(const char *fname, size_t *len_r)
{
	const char *b = fname;

	if (fname[0] == ':' || fname[0] == '\0')
		return NULL;
	if (fname[0] == '.') {
		if (strncmp(fname, ".tmp.", 5) == 0)
			return NULL;
		const char *p = fname + 1;
		while (*p >= '0' && *p <= '9')
			p++;
		if (p == fname + 1 || *p != '.' || p[1] == '\0')
			return NULL;
		b = p + 1;
	}
	*len_r = base_len(b, strlen(b));
	return *len_r > 0 ? b : NULL;
}

struct upd {
	const char *base;
	size_t blen;
	const char *num;         /* digits of ".<n>.", NULL for the plain name */
	size_t numlen;
	size_t i;
};

static int
upd_cmp(const void *x, const void *y)
{
	const struct upd *a = x, *b = y;
	int c = bytes_cmp(a->base, a->blen, b->base, b->blen);

	if (c != 0)
		return c;
	if ((a->num == NULL) != (b->num == NULL))
		return a->num == NULL ? 1 : -1;      /* the plain name sorts last: it wins */
	if (a->num != NULL) {
		/* numbers compared by value: skip leading zeros, then length */
		const char *pa = a->num, *pb = b->num;
		size_t la = a->numlen, lb = b->numlen;
		while (la > 1 && *pa == '0')
			pa++, la--;
		while (lb > 1 && *pb == '0')
			pb++, lb--;
		if (la != lb)
			return la < lb ? -1 : 1;
		if ((c = memcmp(pa, pb, la)) != 0)
			return c;
	}
	return a->i < b->i ? -1 : a->i > b->i;
}

static int
size_cmp(const void *x, const void *y)
{
	size_t a = *(const size_t *)x, b = *(const size_t *)y;

	return a < b ? -1 : a > b;
}

size_t
courier_kw_pick_updates(char *const *names, size_t n, size_t *chosen)
{
	struct upd *u = xcalloc(n + 1, sizeof *u);
	size_t k = 0, c = 0;

	for (size_t i = 0; i < n; i++) {
		size_t bl;
		const char *b = courier_kw_update_base(names[i], &bl);
		if (b == NULL)
			continue;
		u[k] = (struct upd){ .base = b, .blen = bl, .i = i };
		if (b != names[i]) {
			u[k].num = names[i] + 1;
			u[k].numlen = (size_t)(b - names[i]) - 2;
		}
		k++;
	}
	qsort(u, k, sizeof *u, upd_cmp);
	for (size_t i = 0; i < k; i++)
		if (i + 1 == k || bytes_cmp(u[i].base, u[i].blen, u[i + 1].base, u[i + 1].blen) != 0)
			chosen[c++] = u[i].i;          /* the last of its base wins */
	qsort(chosen, c, sizeof *chosen, size_cmp);
	free(u);
	return c;
}

void
courier_kw_apply_update(struct courier_keywords *kw, const char *fname, const char *data,
    size_t len, const char *file, struct state_findings *f)
{
	size_t bl;
	const char *b = courier_kw_update_base(fname, &bl);
	struct lines l;
	const char *s;
	size_t n;
	bool lf;

	if (b == NULL)
		return;
	kw->present = true;
	/* a cut update file would replace a set with part of another: the
	 * set of the :list stays */
	if (len > 0 && data[len - 1] != '\n') {
		lines_init(&l, data, len);
		while (lines_next(&l, &s, &n, &lf))
			;
		finding(f, STATE_TRUNCATED, file, l.no,
		    "the last line is cut short: this update not used");
		return;
	}
	struct courier_kw_msg *m = kw_msg(kw, b, bl, true);
	m->n = 0;
	lines_init(&l, data, len);
	while (lines_next(&l, &s, &n, &lf) && n > 0) {
		size_t before = kw->nnames;
		uint32_t idx = kw_name_index(kw, s, n);
		if (!kw->valid[idx]) {
			if (idx >= before)
				finding(f, STATE_BAD_KEYWORD, file, l.no,
				    "keyword \"%s\" is not an IMAP atom: not carried", shown(s, n));
			continue;
		}
		kw_msg_add(m, idx);
	}
}

void
courier_kw_free(struct courier_keywords *kw)
{
	for (size_t i = 0; i < kw->nnames; i++)
		free(kw->names[i]);
	free(kw->names);
	free(kw->valid);
	for (size_t i = 0; i < kw->n; i++) {
		free(kw->m[i].base);
		free(kw->m[i].idx);
	}
	free(kw->m);
	free(kw->file);
	free(kw->slot);
	memset(kw, 0, sizeof *kw);
}

/* ---- subscriptions -------------------------------------------------------------- */

bool
subscriptions_add(struct subscriptions *s, const char *name, size_t len)
{
	bool inbox = len == 5 && mem_ieq(name, "INBOX", 5);

	for (size_t i = 0; i < s->n; i++) {
		size_t l = strlen(s->names[i]);
		if (inbox ? (l == 5 && mem_ieq(s->names[i], "INBOX", 5)) :
		    (l == len && memcmp(s->names[i], name, len) == 0))
			return false;
	}
	s->names = xrealloc(s->names, (s->n + 1) * sizeof *s->names);
	s->names[s->n++] = inbox ? xstrdup("INBOX") : xstrndup(name, len);
	return true;
}

int
subscriptions_parse_courier(const char *data, size_t len, const char *file,
    struct subscriptions *s, struct state_findings *f)
{
	struct lines l;
	const char *p;
	size_t n;
	bool lf;

	lines_init(&l, data, len);
	while (lines_next(&l, &p, &n, &lf)) {
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0)
			continue;
		if (memchr(p, '\0', n) != NULL) {
			finding(f, STATE_BAD_LINE, file, l.no, "a NUL byte in a folder name: not carried");
			continue;
		}
		if (n == 5 && mem_ieq(p, "INBOX", 5))
			subscriptions_add(s, p, n);
		else if (n > 6 && memcmp(p, "INBOX.", 6) == 0)
			subscriptions_add(s, p + 6, n - 6);
		else
			finding(f, STATE_NOT_CARRIED, file, l.no,
			    "%s is outside the INBOX. namespace: not carried", shown(p, n));
	}
	return 0;
}

static const char V2_HEADER[] = "V\t2\n\n";

/* Dovecot's \001 escapes of one level, appended. */
static void
tab_unescape(const char *p, size_t n, struct strbuf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\001' || i + 1 == n) {
			sb_appendc(out, p[i]);
			continue;
		}
		char c = p[++i];
		sb_appendc(out, c == '1' ? '\001' : c == 't' ? '\t' : c == 'r' ? '\r' :
		    c == 'n' ? '\n' : c == '0' ? '\0' : c);
	}
}

int
subscriptions_parse_dovecot(const char *data, size_t len, const char *file,
    struct subscriptions *s, struct state_findings *f)
{
	bool v2 = len >= sizeof V2_HEADER - 1 && memcmp(data, V2_HEADER, sizeof V2_HEADER - 1) == 0;
	struct strbuf name = STRBUF_INIT;
	struct lines l;
	const char *p;
	size_t n;
	bool lf;

	lines_init(&l, data, len);
	if (v2) {
		lines_next(&l, &p, &n, &lf);
		lines_next(&l, &p, &n, &lf);
	}
	while (lines_next(&l, &p, &n, &lf)) {
		if (n == 0)
			continue;
		sb_reset(&name);
		if (v2) {
			for (size_t i = 0, st = 0; i <= n; i++) {
				if (i < n && p[i] != '\t')
					continue;
				if (st > 0)
					sb_appendc(&name, '.');
				tab_unescape(p + st, i - st, &name);
				st = i + 1;
			}
		} else {
			sb_append(&name, p, n);
		}
		if (name.len == 0 || memchr(name.buf, '\0', name.len) != NULL) {
			finding(f, STATE_BAD_LINE, file, l.no, "not a folder name: not carried");
			continue;
		}
		subscriptions_add(s, name.buf, name.len);
	}
	sb_free(&name);
	return 0;
}

void
subscriptions_format_courier(const struct subscriptions *s, struct strbuf *out)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->names[i], "INBOX") == 0)
			sb_appends(out, "INBOX\n");
		else
			sb_appendf(out, "INBOX.%s\n", s->names[i]);
	}
}

/* One level with Dovecot's \001 escapes. */
static void
tab_escape(const char *p, size_t n, struct strbuf *out)
{
	for (size_t i = 0; i < n; i++) {
		switch (p[i]) {
		case '\001': sb_append(out, "\0011", 2); break;
		case '\t': sb_append(out, "\001t", 2); break;
		case '\r': sb_append(out, "\001r", 2); break;
		case '\n': sb_append(out, "\001n", 2); break;
		default: sb_appendc(out, p[i]); break;
		}
	}
}

void
subscriptions_format_dovecot(const struct subscriptions *s, bool v2, struct strbuf *out)
{
	if (v2)
		sb_appends(out, V2_HEADER);
	for (size_t i = 0; i < s->n; i++) {
		const char *p = s->names[i];
		if (!v2) {
			sb_appendf(out, "%s\n", p);
			continue;
		}
		for (const char *dot; (dot = strchr(p, '.')) != NULL; p = dot + 1) {
			tab_escape(p, (size_t)(dot - p), out);
			sb_appendc(out, '\t');
		}
		tab_escape(p, strlen(p), out);
		sb_appendc(out, '\n');
	}
}

void
subscriptions_free(struct subscriptions *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->names[i]);
	free(s->names);
	s->names = NULL;
	s->n = 0;
}

/* ---- the merge ------------------------------------------------------------------ */

struct merge {
	const struct serverstate_in *in;
	struct serverstate *out;
	struct state_findings *f;
	struct name_ix *ix;      /* present messages by base name (owners only) */
	size_t nix;
	const char **base;       /* per message */
	size_t *blen;
	bool *owner;             /* first message of its base name */
	bool *listed;            /* kept its Courier UID */
};

/* Index the present messages by base name; later ones with a base name
 * seen before own nothing. */
static void
merge_index(struct merge *mg)
{
	const struct serverstate_in *in = mg->in;
	struct name_ix *all = xcalloc(in->n + 1, sizeof *all);

	for (size_t i = 0; i < in->n; i++) {
		mg->base[i] = in->msgs[i].name;
		mg->blen[i] = base_len(in->msgs[i].name, strlen(in->msgs[i].name));
		all[i] = (struct name_ix){ mg->base[i], mg->blen[i], i };
	}
	qsort(all, in->n, sizeof *all, name_ix_cmp);
	for (size_t i = 0; i < in->n; i++) {
		if (i > 0 && bytes_cmp(all[i].s, all[i].n, all[i - 1].s, all[i - 1].n) == 0) {
			finding(mg->f, STATE_DUPLICATE_NAME, in->msgs[all[i].i].name, 0,
			    "the same base name as %s: a fresh UID and no old state",
			    shown(in->msgs[all[i - 1].i].name, strlen(in->msgs[all[i - 1].i].name)));
			continue;
		}
		mg->owner[all[i].i] = true;
		mg->ix[mg->nix++] = all[i];
	}
	free(all);
}

static const struct name_ix *
merge_find(const struct merge *mg, const char *base)
{
	return name_ix_find(mg->ix, mg->nix, base, strlen(base));
}

static void
merge_uids(struct merge *mg)
{
	const struct courier_uiddb *db = mg->in->uiddb;
	uint32_t prev = 0;

	if (db == NULL || !db->present) {
		mg->out->validity = mg->in->validity_fallback ? mg->in->validity_fallback : 1;
		mg->out->next = 1;
		return;
	}
	mg->out->validity = db->validity;
	mg->out->next = db->next == 0 ? 1 : db->next;
	for (size_t k = 0; k < db->n; k++) {
		const struct courier_uid *u = &db->e[k];
		const struct name_ix *hit = merge_find(mg, u->base);
		if (hit == NULL) {
			finding(mg->f, STATE_MISSING_FILE, db->file, u->line,
			    "%s (UID %u) is not in the maildir", shown(u->base, strlen(u->base)),
			    u->uid);
			continue;
		}
		if (u->uid <= prev) {
			finding(mg->f, STATE_UID_ORDER, db->file, u->line,
			    "UID %u of %s is not above the UID %u before it: a fresh UID", u->uid,
			    shown(u->base, strlen(u->base)), prev);
			continue;
		}
		prev = u->uid;
		mg->out->m[hit->i].uid = u->uid;
		mg->listed[hit->i] = true;
	}
}

static void
merge_courier_pop3(struct merge *mg)
{
	const struct courier_pop3 *p = mg->in->pop3;
	uint32_t order = 0;

	if (p == NULL || !p->present)
		return;
	for (size_t k = 0; k < p->n; k++) {
		const struct name_ix *hit = merge_find(mg, p->e[k].base);
		if (hit == NULL) {
			finding(mg->f, STATE_MISSING_FILE, p->file, p->e[k].line,
			    "%s (UIDL %s) is not in the maildir",
			    shown(p->e[k].base, strlen(p->e[k].base)), p->e[k].uidl);
			continue;
		}
		struct merged_msg *m = &mg->out->m[hit->i];
		int64_t vsize = mg->in->msgs[hit->i].vsize;
		m->uidl = p->e[k].uidl;
		m->order = ++order;
		if (vsize < 0)
			continue;
		m->has_vsize = true;
		m->vsize = (uint64_t)vsize;
		if (p->e[k].size != (uint64_t)vsize)
			finding(mg->f, STATE_SIZE_DIFFERS, p->file, p->e[k].line,
			    "POP3 size %llu of %s is not its size with CR LF line ends: "
			    "Dovecot will report %lld", (unsigned long long)p->e[k].size,
			    shown(p->e[k].base, strlen(p->e[k].base)), (long long)vsize);
	}
}

static const struct present_msg *qmail_msgs;

static int
qmail_cmp(const void *x, const void *y)
{
	const struct present_msg *a = &qmail_msgs[*(const size_t *)x];
	const struct present_msg *b = &qmail_msgs[*(const size_t *)y];

	if (a->mtime != b->mtime)
		return a->mtime < b->mtime ? -1 : 1;
	return maildir_name_cmp_delivery(a->name, b->name);
}

/* qmail-pop3d: the UIDL is the base name; Dovecot reads an empty P field
 * as "the base name" too, which serves names a P field could not hold. */
static void
merge_qmail(struct merge *mg)
{
	size_t *v = xcalloc(mg->in->n + 1, sizeof *v), k = 0;

	for (size_t i = 0; i < mg->in->n; i++)
		if (mg->owner[i])
			v[k++] = i;
	qmail_msgs = mg->in->msgs;
	qsort(v, k, sizeof *v, qmail_cmp);
	mg->out->own = xcalloc(k + 1, sizeof *mg->out->own);
	for (size_t j = 0; j < k; j++) {
		struct merged_msg *m = &mg->out->m[v[j]];
		const char *b = mg->base[v[j]];
		size_t bl = mg->blen[v[j]];
		bool plain = bl <= 70;
		for (size_t i = 0; i < bl && plain; i++)
			plain = (unsigned char)b[i] > 0x20 && (unsigned char)b[i] < 0x7f;
		struct serverstate *st = mg->out;
		st->own[st->nown++] = plain ? xstrndup(b, bl) : xstrdup("");
		m->uidl = st->own[st->nown - 1];
		m->order = (uint32_t)(j + 1);
		if (mg->in->msgs[v[j]].vsize >= 0) {
			m->has_vsize = true;
			m->vsize = (uint64_t)mg->in->msgs[v[j]].vsize;
		}
	}
	free(v);
}

static const struct serverstate *fresh_st;

static int
fresh_cmp(const void *x, const void *y)
{
	size_t a = *(const size_t *)x, b = *(const size_t *)y;
	uint32_t oa = fresh_st->m[a].order ? fresh_st->m[a].order : UINT32_MAX;
	uint32_t ob = fresh_st->m[b].order ? fresh_st->m[b].order : UINT32_MAX;

	if (oa != ob)
		return oa < ob ? -1 : 1;
	return maildir_name_cmp_delivery(qmail_msgs[a].name, qmail_msgs[b].name);
}

/* Fresh UIDs above the rest: POP3 order first, then delivery order. */
static void
merge_fresh(struct merge *mg)
{
	struct serverstate *st = mg->out;
	size_t *v = xcalloc(mg->in->n + 1, sizeof *v), k = 0;

	for (size_t i = 0; i < mg->in->n; i++)
		if (!mg->listed[i])
			v[k++] = i;
	if ((uint64_t)st->next + k > 4294967295ULL) {
		finding(mg->f, STATE_UIDS_EXHAUSTED, mg->in->uiddb && mg->in->uiddb->file ?
		    mg->in->uiddb->file : COURIER_UIDDB_FILE, 0, "no UID left for %zu messages: all renumbered under a new "
		    "UIDVALIDITY", k);
		st->validity = st->validity + 1 ? st->validity + 1 : 1;
		st->next = 1;
		k = 0;
		for (size_t i = 0; i < mg->in->n; i++) {
			mg->listed[i] = false;
			v[k++] = i;
		}
	}
	fresh_st = st;
	qmail_msgs = mg->in->msgs;
	qsort(v, k, sizeof *v, fresh_cmp);
	for (size_t j = 0; j < k; j++) {
		st->m[v[j]].uid = st->next++;
		st->m[v[j]].fresh = true;
	}
	st->fresh = k;
	st->kept = mg->in->n - k;
	free(v);
}

struct kwuse {
	const char *name;
	size_t count;            /* present messages that carry it */
	int letter;              /* -1 until placed */
};

/* Keywords used by present messages get letters: existing dovecot-keywords
 * entries keep theirs (compared case-insensitively, as IMAP does), the
 * others take free ones in Courier's index order. */
static void
merge_keywords(struct merge *mg)
{
	const struct courier_keywords *kw = mg->in->kw;
	struct serverstate *st = mg->out;

	for (int i = 0; i < 26; i++)
		if (mg->in->dovecot_kw && mg->in->dovecot_kw[i])
			st->keywords[i] = xstrdup(mg->in->dovecot_kw[i]);
	if (kw == NULL || !kw->present)
		return;
	/* one entry per distinct name (case-insensitive), first index wins */
	struct kwuse *u = xcalloc(kw->nnames + 1, sizeof *u);
	size_t *slot = xcalloc(kw->nnames + 1, sizeof *slot), nu = 0;
	for (size_t i = 0; i < kw->nnames; i++) {
		size_t j, l = strlen(kw->names[i]);
		for (j = 0; j < nu; j++)
			if (strlen(u[j].name) == l && mem_ieq(u[j].name, kw->names[i], l))
				break;
		if (j == nu)
			u[nu++] = (struct kwuse){ kw->names[i], 0, -1 };
		slot[i] = j;
	}
	for (size_t i = 0; i < mg->in->n; i++) {
		if (!mg->owner[i])
			continue;
		const struct courier_kw_msg *km = courier_kw_lookup(kw, mg->base[i], mg->blen[i]);
		for (size_t j = 0; km && j < km->n; j++)
			if (kw->valid[km->idx[j]])
				u[slot[km->idx[j]]].count++;
	}
	for (size_t j = 0; j < nu; j++)
		for (int l = 0; l < 26 && u[j].count; l++)
			if (st->keywords[l] && strlen(st->keywords[l]) == strlen(u[j].name) &&
			    mem_ieq(st->keywords[l], u[j].name, strlen(u[j].name)))
				u[j].letter = l;
	for (size_t j = 0; j < nu; j++) {
		if (u[j].count == 0 || u[j].letter >= 0)
			continue;
		for (int l = 0; l < 26 && u[j].letter < 0; l++)
			if (st->keywords[l] == NULL) {
				st->keywords[l] = xstrdup(u[j].name);
				u[j].letter = l;
			}
		if (u[j].letter < 0) {
			st->dropped = xrealloc(st->dropped, (st->ndropped + 1) * sizeof *st->dropped);
			st->dropped[st->ndropped++] = xstrdup(u[j].name);
			finding(mg->f, STATE_TOO_MANY_KEYWORDS, kw->file ? kw->file :
			    COURIER_KEYWORDS_DIR, 0,
			    "keyword \"%s\" (%zu messages) not carried: a Maildir names 26 keywords",
			    shown(u[j].name, strlen(u[j].name)), u[j].count);
		}
	}
	for (size_t i = 0; i < mg->in->n; i++) {
		if (!mg->owner[i])
			continue;
		const struct courier_kw_msg *km = courier_kw_lookup(kw, mg->base[i], mg->blen[i]);
		struct merged_msg *m = &st->m[i];
		for (size_t j = 0; km && j < km->n; j++) {
			const struct kwuse *x = &u[slot[km->idx[j]]];
			if (!kw->valid[km->idx[j]])
				continue;
			if (strlen(x->name) == 10 && mem_ieq(x->name, "$Forwarded", 10))
				m->flags |= MF_PASSED;      /* P for Courier and mutt, the keyword for Dovecot */
			if (x->letter >= 0)
				m->keywords |= 1u << x->letter;
		}
		st->with_keywords += m->keywords != 0;
	}
	free(u);
	free(slot);
}

void
serverstate_merge(const struct serverstate_in *in, struct serverstate *out,
    struct state_findings *f)
{
	struct merge mg = { .in = in, .out = out, .f = f };

	memset(out, 0, sizeof *out);
	out->n = in->n;
	out->m = xcalloc(in->n + 1, sizeof *out->m);
	mg.ix = xcalloc(in->n + 1, sizeof *mg.ix);
	mg.base = xcalloc(in->n + 1, sizeof *mg.base);
	mg.blen = xcalloc(in->n + 1, sizeof *mg.blen);
	mg.owner = xcalloc(in->n + 1, sizeof *mg.owner);
	mg.listed = xcalloc(in->n + 1, sizeof *mg.listed);

	merge_index(&mg);
	merge_uids(&mg);
	if (in->pop3_source == POP3_COURIER)
		merge_courier_pop3(&mg);
	else if (in->pop3_source == POP3_QMAIL)
		merge_qmail(&mg);
	merge_fresh(&mg);
	merge_keywords(&mg);
	for (size_t i = 0; i < in->n; i++) {
		out->uidls += out->m[i].uidl != NULL;
		out->orders += out->m[i].order != 0;
	}

	free(mg.ix);
	free(mg.base);
	free(mg.blen);
	free(mg.owner);
	free(mg.listed);
}

void
serverstate_free(struct serverstate *st)
{
	free(st->m);
	for (int i = 0; i < 26; i++)
		free(st->keywords[i]);
	for (size_t i = 0; i < st->ndropped; i++)
		free(st->dropped[i]);
	free(st->dropped);
	for (size_t i = 0; i < st->nown; i++)
		free(st->own[i]);
	free(st->own);
	memset(st, 0, sizeof *st);
}

static const struct serverstate *by_uid_st;

static int
by_uid_cmp(const void *x, const void *y)
{
	uint32_t a = by_uid_st->m[*(const size_t *)x].uid, b = by_uid_st->m[*(const size_t *)y].uid;

	return a < b ? -1 : a > b;
}

void
serverstate_format_uidlist(const struct serverstate *st, const struct present_msg *msgs,
    struct strbuf *out)
{
	size_t *v = xcalloc(st->n + 1, sizeof *v);

	for (size_t i = 0; i < st->n; i++)
		v[i] = i;
	by_uid_st = st;
	qsort(v, st->n, sizeof *v, by_uid_cmp);
	uidlist_format_header(st->validity, st->next, out);
	for (size_t j = 0; j < st->n; j++) {
		const struct merged_msg *m = &st->m[v[j]];
		struct uidlist_entry e = { .uid = m->uid, .uidl = m->uidl,
		    .has_vsize = m->has_vsize, .vsize = m->vsize, .order = m->order,
		    .name = msgs[v[j]].name };
		uidlist_format_entry(&e, out);
	}
	free(v);
}

void
serverstate_format_keywords(const struct serverstate *st, struct strbuf *out)
{
	for (int i = 0; i < 26; i++)
		if (st->keywords[i] != NULL)
			sb_appendf(out, "%d %s\n", i, st->keywords[i]);
}

/* ---- loading a maildir's files -------------------------------------------------- */

/* Read name below dirfd and hand it to parse; findings name path/name. */
static void
load_one(int dirfd, const char *path, const char *name, struct state_findings *f,
    struct strbuf *data, int (*parse)(const char *, size_t, const char *, void *,
    struct state_findings *), void *obj, bool *seen)
{
	char *file = xasprintf("%s/%s", path, name);
	int rc = state_file_read(dirfd, name, data, STATE_FILE_MAX);

	if (rc == -1)
		finding(f, STATE_UNREADABLE, file, 0, "unable to read: %s: not used", strerror(errno));
	else if (rc == 1) {
		parse(data->buf, data->len, file, obj, f);
		if (seen)
			*seen = true;
	}
	free(file);
}

static int p_uiddb(const char *d, size_t n, const char *file, void *o, struct state_findings *f)
{ return courier_uiddb_parse(d, n, file, o, f); }
static int p_pop3(const char *d, size_t n, const char *file, void *o, struct state_findings *f)
{ return courier_pop3_parse(d, n, file, o, f); }
static int p_kwlist(const char *d, size_t n, const char *file, void *o, struct state_findings *f)
{ return courier_kw_parse_list(d, n, file, o, f); }
static int p_csubs(const char *d, size_t n, const char *file, void *o, struct state_findings *f)
{ return subscriptions_parse_courier(d, n, file, o, f); }
static int p_dsubs(const char *d, size_t n, const char *file, void *o, struct state_findings *f)
{ return subscriptions_parse_dovecot(d, n, file, o, f); }

static int
name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* courierimapkeywords/: the :list, then the update files that win. */
static void
load_keywords(int mfd, const char *path, struct courier_keywords *kw,
    struct state_findings *f, struct strbuf *data)
{
	char *dpath = xasprintf("%s/%s", path, COURIER_KEYWORDS_DIR);
	int kfd = openat(mfd, COURIER_KEYWORDS_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = kfd == -1 ? NULL : fdopendir(kfd);

	if (d == NULL) {
		if (kfd != -1)
			close(kfd);
		if (errno != ENOENT)
			finding(f, STATE_UNREADABLE, dpath, 0, "unable to read: %s: not used",
			    strerror(errno));
		free(dpath);
		return;
	}
	int kdir = dirfd(d);
	load_one(kdir, dpath, ":list", f, data, p_kwlist, kw, NULL);
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		names = xrealloc(names, (n + 1) * sizeof *names);
		names[n++] = xstrdup(de->d_name);
	}
	qsort(names, n, sizeof *names, name_cmp);    /* readdir order is no order */
	size_t *chosen = xcalloc(n + 1, sizeof *chosen);
	size_t c = courier_kw_pick_updates(names, n, chosen);
	for (size_t i = 0; i < c; i++) {
		char *file = xasprintf("%s/%s", dpath, names[chosen[i]]);
		int rc = state_file_read(kdir, names[chosen[i]], data, STATE_FILE_MAX);
		if (rc == -1)
			finding(f, STATE_UNREADABLE, file, 0, "unable to read: %s: not used",
			    strerror(errno));
		else if (rc == 1)
			courier_kw_apply_update(kw, names[chosen[i]], data->buf, data->len, file, f);
		free(file);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(chosen);
	closedir(d);
	free(dpath);
}

int
courier_state_load(int dirfd, const char *path, struct courier_state *cs,
    struct state_findings *f)
{
	struct strbuf data = STRBUF_INIT;
	struct stat st;

	memset(cs, 0, sizeof *cs);
	if (fstat(dirfd, &st) == -1)
		return -1;
	load_one(dirfd, path, COURIER_UIDDB_FILE, f, &data, p_uiddb, &cs->uiddb, NULL);
	load_one(dirfd, path, COURIER_POP3_FILE, f, &data, p_pop3, &cs->pop3, NULL);
	load_keywords(dirfd, path, &cs->kw, f, &data);
	load_one(dirfd, path, COURIER_SUBSCRIBED_FILE, f, &data, p_csubs, &cs->courier_subs,
	    &cs->has_courier_subs);
	load_one(dirfd, path, DOVECOT_SUBSCRIPTIONS_FILE, f, &data, p_dsubs, &cs->dovecot_subs,
	    &cs->has_dovecot_subs);
	sb_free(&data);
	return 0;
}

void
courier_state_free(struct courier_state *cs)
{
	courier_uiddb_free(&cs->uiddb);
	courier_pop3_free(&cs->pop3);
	courier_kw_free(&cs->kw);
	subscriptions_free(&cs->courier_subs);
	subscriptions_free(&cs->dovecot_subs);
}
