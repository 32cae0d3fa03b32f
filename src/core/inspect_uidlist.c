/*
 * inspect_uidlist.c: the UID lists an IMAP server keeps in a maildir,
 * against the messages new/ and cur/ hold: Dovecot's dovecot-uidlist (SPEC
 * §1.10) and Courier's courierimapuiddb (SPEC §1.11). Each is read whole,
 * without the lock by check and under it by repair, and merged with a
 * listing of new/ and cur/ by base name; lines of missing files and files
 * without lines are findings only with --deep. Called for each maildir by
 * inspect_maildir.c.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "inspect.h"
#include "inspect_int.h"
#include "report.h"
#include "serverstate.h"
#include "statefile.h"
#include "uidstate.h"
#include "util.h"

/* ---- dovecot-uidlist (SPEC §1.10) ------------------------------------------ */

static int
base_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	return c ? c : alen < blen ? -1 : alen > blen;
}

/* Base name of a "new/NAME" or "cur/NAME" entry: after "sub/", up to ':'. */
static const char *
entry_base(const char *e, size_t *len_r)
{
	const char *n = e + 4, *c = strchr(n, ':');
	*len_r = c ? (size_t)(c - n) : strlen(n);
	return n;
}

static int
entry_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t xl, yl;
	const char *xb = entry_base(x, &xl), *yb = entry_base(y, &yl);
	int c = base_cmp(xb, xl, yb, yl);
	return c ? c : strcmp(x, y);
}

static int
uidline_cmp(const void *a, const void *b)
{
	const struct inspect_uidline *x = *(struct inspect_uidline *const *)a,
	    *y = *(struct inspect_uidline *const *)b;
	return base_cmp(x->base, x->base_len, y->base, y->base_len);
}

/* Message files of new/ and cur/ (dot names skipped), as "sub/name". */
static void
uidlist_entries(int dirfd, char ***v_r, size_t *n_r)
{
	static const char *const subs[] = { "new", "cur" };
	char **v = NULL;
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		int fd = openat(dirfd, subs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *d = fd == -1 ? NULL : fdopendir(fd);
		if (!d) {
			if (fd != -1)
				close(fd);
			continue;
		}
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			v = xrealloc(v, (n + 1) * sizeof *v);
			v[n++] = xasprintf("%s/%s", subs[i], de->d_name);
		}
		closedir(d);
	}
	*v_r = v;
	*n_r = n;
}

/* Entry lines: UIDs, order, then which lines and files match by base. */
static void
uidlist_lines(struct inspect_uidlist *u, int dirfd)
{
	size_t lineno = 1;
	for (size_t off = u->hdr_len + 1; off < u->len; lineno++) {
		const char *p = u->data + off, *nl = memchr(p, '\n', u->len - off);
		size_t len = nl ? (size_t)(nl - p) : u->len - off;
		struct inspect_uidline l = { .off = off, .len = len };
		off += len + 1;
		if (len == 0)
			continue;
		if (!uidlist_parse_entry(p, len, &l.uid, &l.base, &l.base_len)) {
			if (u->bad_lines++ == 0)
				u->first_bad = lineno + 1;
			continue;
		}
		if (u->nline && l.uid <= u->line[u->nline - 1].uid && !u->order_line) {
			u->order_line = lineno + 1;
			u->order_uid = l.uid;
			u->order_prev = u->line[u->nline - 1].uid;
		}
		if (l.uid > u->max)
			u->max = l.uid;
		u->line = xrealloc(u->line, (u->nline + 1) * sizeof *u->line);
		u->line[u->nline++] = l;
	}
	char **files;
	size_t nfiles;
	uidlist_entries(dirfd, &files, &nfiles);
	qsort(files, nfiles, sizeof *files, entry_cmp);
	struct inspect_uidline **by = xcalloc(u->nline + 1, sizeof *by);
	for (size_t i = 0; i < u->nline; i++)
		by[i] = &u->line[i];
	qsort(by, u->nline, sizeof *by, uidline_cmp);
	for (size_t i = 0, j = 0; i < nfiles; i++) {     /* one merge of both sorted sets */
		size_t bl;
		const char *b = entry_base(files[i], &bl);
		int c = 1;
		while (j < u->nline && (c = base_cmp(by[j]->base, by[j]->base_len, b, bl)) < 0)
			j++;
		for (size_t k = j; k < u->nline && base_cmp(by[k]->base, by[k]->base_len, b, bl) == 0; k++)
			by[k]->present = true;
		if (j < u->nline && c == 0) {
			free(files[i]);
			continue;
		}
		u->unlisted = xrealloc(u->unlisted, (u->nunlisted + 1) * sizeof *u->unlisted);
		u->unlisted[u->nunlisted++] = files[i];
	}
	free(by);
	free(files);
}

int
inspect_uidlist_read(int dirfd, struct inspect_uidlist *u)
{
	memset(u, 0, sizeof *u);
	int fd = openat(dirfd, UIDLIST_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	struct strbuf sb = STRBUF_INIT;
	char buf[65536];
	ssize_t r;
	off_t off = 0;
	while ((r = pread_full(fd, buf, sizeof buf, off)) > 0) {
		sb_append(&sb, buf, (size_t)r);
		off += r;
	}
	int e = errno;
	close(fd);
	if (r < 0) {
		sb_free(&sb);
		errno = e;
		return -1;
	}
	u->data = sb.buf ? sb.buf : xstrdup("");
	u->len = sb.len;
	const char *nl = memchr(u->data, '\n', u->len);
	u->hdr_len = nl ? (size_t)(nl - u->data) : u->len;
	u->header_ok = nl && uidlist_parse_header(u->data, u->hdr_len, &u->validity, &u->next);
	if (u->header_ok)
		uidlist_lines(u, dirfd);
	return 1;
}

void
inspect_uidlist_free(struct inspect_uidlist *u)
{
	for (size_t i = 0; i < u->nunlisted; i++)
		free(u->unlisted[i]);
	free(u->unlisted);
	free(u->line);
	free(u->data);
	memset(u, 0, sizeof *u);
}

/*
 * The list against the maildir. Dovecot keeps the lines of expunged
 * messages until it rewrites the list, and new mail has no line until
 * Dovecot next syncs: both are normal, so MISSING-FILE and UNLISTED are
 * findings only with --deep.
 */
void
check_uidlist(struct md *c)
{
	struct inspect_uidlist u;
	struct inspect_finding f;
	int rc = inspect_uidlist_read(c->dfd, &u);
	if (rc == 0)
		return;
	finding_init(&f, IC_UIDLIST_BAD);
	f.name = UIDLIST_FILE;
	if (rc == -1) {
		/* out of descriptors or memory is our problem, not the list's */
		if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
			report_error_sys(EX_IOERR, "%s/%s: cannot read", c->e.maildir, UIDLIST_FILE);
		else
			emit_finding(&c->e, &f, "cannot read: %s", strerror(errno));
		return;
	}
	if (!u.header_ok) {
		emit_finding(&c->e, &f, "first line \"%.*s\" is not \"3 V<uidvalidity> N<next uid> ...\"",
		    (int)(u.hdr_len > 40 ? 40 : u.hdr_len), u.data);
		inspect_uidlist_free(&u);
		return;
	}
	if (u.bad_lines)
		emit_finding(&c->e, &f, "%zu malformed line%s (first: line %zu)", u.bad_lines,
		    u.bad_lines == 1 ? "" : "s", u.first_bad);
	if (u.order_line) {
		finding_init(&f, IC_UIDLIST_NOT_INCREASING);
		f.name = UIDLIST_FILE;
		f.value = u.order_uid;
		emit_finding(&c->e, &f, "line %zu: UID %u after UID %u", u.order_line, u.order_uid,
		    u.order_prev);
	}
	if (u.nline && u.next <= u.max) {
		finding_init(&f, IC_UIDLIST_NEXT_TOO_LOW);
		f.name = UIDLIST_FILE;
		f.value = u.next;
		f.value2 = u.max;
		emit_finding(&c->e, &f, "next UID %u is not above the highest UID %u", u.next, u.max);
	}
	for (size_t i = 0; c->e.o->deep && i < u.nline; i++) {
		if (u.line[i].present)
			continue;
		finding_init(&f, IC_UIDLIST_MISSING_FILE);
		f.name = UIDLIST_FILE;
		f.value = u.line[i].uid;
		emit_finding(&c->e, &f, "UID %u: no file %.*s in new/ or cur/", u.line[i].uid,
		    (int)u.line[i].base_len, u.line[i].base);
	}
	for (size_t i = 0; c->e.o->deep && i < u.nunlisted; i++) {
		finding_init(&f, IC_UIDLIST_UNLISTED);
		f.name = u.unlisted[i];         /* "new/NAME": no subdir, not a file fix */
		emit_finding(&c->e, &f, "no line in %s", UIDLIST_FILE);
	}
	inspect_uidlist_free(&u);
}

/* ---- courierimapuiddb (SPEC §1.11) ---------------------------------------- */

static int
cstr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is base (len bytes) among the n sorted strings v? */
static bool
sorted_has(char *const *v, size_t n, const char *base, size_t len)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = base_cmp(v[mid], strlen(v[mid]), base, len);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

int
inspect_courieruid_read(int dirfd, struct inspect_courieruid *cu)
{
	struct strbuf data = STRBUF_INIT;

	memset(cu, 0, sizeof *cu);
	int rc = state_file_read(dirfd, COURIER_UIDDB_FILE, &data, STATE_FILE_MAX);
	if (rc != 1) {
		sb_free(&data);
		return rc;
	}
	cu->data = data.buf ? data.buf : xstrdup("");
	cu->len = data.len;
	courier_uiddb_parse(cu->data, cu->len, COURIER_UIDDB_FILE, &cu->db, &cu->f);
	/* the next UID the header says (the parser raises it to the lines') */
	unsigned long ver, v, n;
	if (cu->db.present && sscanf(cu->data, "%lu %lu %lu", &ver, &v, &n) == 3)
		cu->header_next = (uint32_t)n;
	for (size_t i = 0; i < cu->db.n; i++) {
		if (cu->db.e[i].uid > cu->max)
			cu->max = cu->db.e[i].uid;
		if (i > 0 && cu->db.e[i].uid <= cu->db.e[i - 1].uid && cu->order_line == 0) {
			cu->order_line = cu->db.e[i].line;
			cu->order_uid = cu->db.e[i].uid;
			cu->order_prev = cu->db.e[i - 1].uid;
		}
	}
	/* which lines name a file, which files have no line: both sorted */
	char **files, **bases = xcalloc(cu->db.n + 1, sizeof *bases);
	size_t nfiles;
	uidlist_entries(dirfd, &files, &nfiles);
	for (size_t i = 0; i < nfiles; i++) {
		size_t bl;
		const char *b = entry_base(files[i], &bl);
		memmove(files[i], b, bl);       /* "sub/name:info" -> "name" */
		files[i][bl] = '\0';
	}
	qsort(files, nfiles, sizeof *files, cstr_cmp);
	for (size_t i = 0; i < cu->db.n; i++)
		bases[i] = cu->db.e[i].base;
	qsort(bases, cu->db.n, sizeof *bases, cstr_cmp);
	cu->present = xcalloc(cu->db.n + 1, sizeof *cu->present);
	for (size_t i = 0; i < cu->db.n; i++)
		cu->present[i] = sorted_has(files, nfiles, cu->db.e[i].base, strlen(cu->db.e[i].base));
	for (size_t i = 0; i < nfiles; i++) {
		if (cu->db.present && !sorted_has(bases, cu->db.n, files[i], strlen(files[i]))) {
			cu->unlisted = xrealloc(cu->unlisted, (cu->nunlisted + 1) * sizeof *cu->unlisted);
			cu->unlisted[cu->nunlisted++] = files[i];
		} else {
			free(files[i]);
		}
	}
	free(files);
	free(bases);
	return 1;
}

void
inspect_courieruid_free(struct inspect_courieruid *cu)
{
	for (size_t i = 0; i < cu->nunlisted; i++)
		free(cu->unlisted[i]);
	free(cu->unlisted);
	free(cu->present);
	courier_uiddb_free(&cu->db);
	state_findings_free(&cu->f);
	free(cu->data);
	memset(cu, 0, sizeof *cu);
}

/* Courier-IMAP's list against the maildir, as for dovecot-uidlist: lines
 * of deleted messages and messages without a line are normal between two
 * Courier sessions (--deep). */
void
check_courieruid(struct md *c)
{
	struct inspect_courieruid cu;
	struct inspect_finding f;
	int rc = inspect_courieruid_read(c->dfd, &cu);
	if (rc == 0)
		return;
	finding_init(&f, IC_COURIERUID_BAD);
	f.name = COURIER_UIDDB_FILE;
	if (rc == -1) {
		/* out of descriptors or memory is our problem, not the file's */
		if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
			report_error_sys(EX_IOERR, "%s/%s: cannot read", c->e.maildir, COURIER_UIDDB_FILE);
		else
			emit_finding(&c->e, &f, "cannot read: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < cu.f.n; i++) {
		const struct state_finding *sf = &cu.f.v[i];
		finding_init(&f, IC_COURIERUID_BAD);
		f.name = COURIER_UIDDB_FILE;
		f.value = (long long)sf->line;
		if (sf->line)
			emit_finding(&c->e, &f, "line %zu: %s: %s", sf->line,
			    state_problem_code(sf->what), sf->text);
		else
			emit_finding(&c->e, &f, "%s: %s", state_problem_code(sf->what), sf->text);
	}
	if (!cu.db.present) {
		inspect_courieruid_free(&cu);
		return;
	}
	if (cu.order_line) {
		finding_init(&f, IC_COURIERUID_NOT_INCREASING);
		f.name = COURIER_UIDDB_FILE;
		f.value = cu.order_uid;
		emit_finding(&c->e, &f, "line %zu: UID %u after UID %u", cu.order_line, cu.order_uid,
		    cu.order_prev);
	}
	if (cu.db.n && cu.header_next <= cu.max) {
		finding_init(&f, IC_COURIERUID_NEXT_TOO_LOW);
		f.name = COURIER_UIDDB_FILE;
		f.value = cu.header_next;
		f.value2 = cu.max;
		emit_finding(&c->e, &f, "next UID %u is not above the highest UID %u", cu.header_next,
		    cu.max);
	}
	for (size_t i = 0; c->e.o->deep && i < cu.db.n; i++) {
		if (cu.present[i])
			continue;
		finding_init(&f, IC_COURIERUID_MISSING_FILE);
		f.name = COURIER_UIDDB_FILE;
		f.value = cu.db.e[i].uid;
		emit_finding(&c->e, &f, "line %zu: UID %u: no file %s in new/ or cur/", cu.db.e[i].line,
		    cu.db.e[i].uid, cu.db.e[i].base);
	}
	for (size_t i = 0; c->e.o->deep && i < cu.nunlisted; i++) {
		finding_init(&f, IC_COURIERUID_UNLISTED);
		f.name = COURIER_UIDDB_FILE;
		emit_finding(&c->e, &f, "no line for %s", cu.unlisted[i]);
	}
	inspect_courieruid_free(&cu);
}
