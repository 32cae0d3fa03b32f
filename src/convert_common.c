/*
 * convert_common.c: what every part of `mailshift convert` shares and that
 * calls none of them: the signals that stop a run, the per-source summary
 * line, the arrival date of a message without one, a folder's
 * maildirfolder file, the envelope records (original From_ lines, SPEC
 * §3.11 ▶ 3, mailshift-formats(5)) and an mbox source's lock and removal
 * (mailshift-convert(1) "Locking").
 */
#include "config.h"

#include <dirent.h>
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
#include <xxhash.h>

#include "clientstate.h"
#include "commands.h"
#include "convert.h"
#include "date.h"
#include "header.h"
#include "mbox_writer.h"
#include "report.h"
#include "source.h"
#include "statefile.h"
#include "util.h"

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
	source_stop_on(&convert_got_signal);
}

void
convert_signals_reraise(void)
{
	if (convert_got_signal) {
		signal(convert_got_signal, SIG_DFL);
		raise(convert_got_signal);
	}
}

/* ---- small things ----------------------------------------------------------- */

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

/* ---- the summary ------------------------------------------------------------------ */

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
		    "\"clients\":{\"thunderbird\":%llu,\"evolution\":%llu,\"gmail\":%llu}",
		    (unsigned long long)s->messages, (unsigned long long)s->delivered,
		    (unsigned long long)s->skipped, (unsigned long long)s->pseudo,
		    (unsigned long long)s->bytes, (unsigned long long)s->warnings,
		    (unsigned long long)s->removed, (unsigned long long)s->expunged,
		    (unsigned long long)s->linked, (unsigned long long)s->client[CLIENT_THUNDERBIRD],
		    (unsigned long long)s->client[CLIENT_EVOLUTION],
		    (unsigned long long)s->client[CLIENT_GMAIL]);
		if (s->more)
			s->more(f, true, s->more_arg);
		fprintf(f, ",\"dry_run\":%s,\"status\":%d}\n", opt_common.dry_run ? "true" : "false",
		    s->status);
		fflush(f);
		return;
	}
	if (opt_common.quiet || (s->status != 0 && s->messages == 0))
		return;     /* the error line said it all */
	report_progress_clear();
	fprintf(stderr, "%s: %s: %llu message%s (%s)", report_prefix(), s->source,
	    (unsigned long long)s->messages, PLURAL(s->messages), s->variant);
	if (s->dest)
		fprintf(stderr, ": %llu %s, %llu already in %s",
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
	if (s->more)
		s->more(stderr, false, s->more_arg);
	fputc('\n', stderr);
}

/* ---- envelope records ------------------------------------------------------ */

/* '%XX' for control bytes, DEL, '%' and SP-free storage of the line. */
static void
env_escape(const char *p, size_t n, struct strbuf *out)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == 0x7f || c == '%')
			sb_appendf(out, "%%%02X", c);
		else
			sb_appendc(out, (char)c);
	}
}

static bool
env_unescape(const char *p, size_t n, struct strbuf *out)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '%') {
			sb_appendc(out, p[i]);
			continue;
		}
		if (i + 2 >= n)
			return false;
		uint64_t c;
		if (hex_decode(p + i + 1, 2, &c) != 2)
			return false;
		sb_appendc(out, (char)c);
		i += 2;
	}
	return true;
}

/*
 * A record a crash cut short (no LF at the end of the file) is dropped
 * before the first append: appended to, it would read as one record with
 * the next one's key inside its From_ line, and the next one's lost. Its
 * message was not delivered (a record is written before its message) and
 * is recorded again when the rerun delivers it. Appends take turns under
 * the delivery record's lock, so no other run is writing here.
 */
static int
envelope_cut_torn(int fd, const char *path)
{
	struct stat st;
	char buf[4096];

	if (fstat(fd, &st) == -1)
		return -1;
	off_t end = st.st_size;
	while (end > 0) {
		size_t n = end < (off_t)sizeof buf ? (size_t)end : sizeof buf;
		ssize_t k = pread(fd, buf, n, end - (off_t)n);
		if (k != (ssize_t)n)
			return -1;
		const char *lf = memrchr(buf, '\n', n);
		if (lf != NULL && end == st.st_size && lf == buf + n - 1)
			return 0;               /* ends with a whole record */
		if (lf != NULL) {
			end -= (off_t)(n - (size_t)(lf - buf) - 1);
			break;
		}
		end -= (off_t)n;
	}
	if (end == st.st_size)
		return 0;
	if (ftruncate(fd, end) == -1)
		return -1;
	if (opt_common.verbose)
		report_info("%s: dropped a record cut short by an interrupted run", path);
	return 0;
}

int
envelope_append(const char *maildir, int *fd_io, const struct convert_opts *o,
    const char *key, time_t mtime, const char *line, size_t len)
{
	if (*fd_io == -1) {
		char *p = xasprintf("%s/%s", maildir, ENVELOPE_FILE);
		int fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		bool created = fd != -1;
		if (fd == -1 && errno == EEXIST)
			fd = open(p, O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1) {
			report_error_sys(EX_CANTCREAT, "unable to open %s", p);
			free(p);
			return -1;
		}
		if (!created && envelope_cut_torn(fd, p) == -1) {
			report_error_sys(EX_IOERR, "unable to read %s", p);
			close(fd);
			free(p);
			return -1;
		}
		/* also one a killed run created and did not give away: ours
		 * (our uid, one link), never a file somebody linked there */
		struct stat st;
		bool ours = !created && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_nlink == 1 && st.st_uid == geteuid() &&
		    (st.st_uid != o->uid || st.st_gid != o->gid);
		if ((created || ours) && o->chown && fchown(fd, o->uid, o->gid) == -1)
			report_warn_sys("unable to chown %s", p);
		free(p);
		*fd_io = fd;
	}
	struct strbuf b = STRBUF_INIT;
	sb_appendf(&b, "%s %lld ", key, (long long)mtime);
	if (len > 0 && line[len - 1] == '\n')
		len--;
	env_escape(line, len, &b);
	sb_appendc(&b, '\n');
	int rc = write_all(*fd_io, b.buf, b.len);
	if (rc == -1)
		report_error_sys(report_status_for_write_errno(errno) ? report_status_for_write_errno(errno)
		    : EX_IOERR, "unable to write %s/%s", maildir, ENVELOPE_FILE);
	sb_free(&b);
	return rc;
}

struct envrec {
	char key[48];
	size_t seq;            /* place in the file: the last of a key wins */
	time_t mtime;
	char *line;            /* with its LF */
	size_t len;
};

struct envstore {
	struct envrec *v;
	size_t n;
};

static int
envrec_cmp(const void *a, const void *b)
{
	return strcmp(((const struct envrec *)a)->key, ((const struct envrec *)b)->key);
}

static int
envrec_cmp_seq(const void *a, const void *b)
{
	const struct envrec *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c != 0 ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* One record line; false when malformed (e.g. cut by a crash). */
static bool
envrec_parse(const char *p, size_t n, struct envrec *r)
{
	const char *sp = memchr(p, ' ', n);
	if (sp == NULL || sp == p || (size_t)(sp - p) >= sizeof r->key)
		return false;
	memcpy(r->key, p, (size_t)(sp - p));
	r->key[sp - p] = '\0';
	const char *t = sp + 1, *e = p + n;
	char *endp;
	char num[24];
	const char *sp2 = memchr(t, ' ', (size_t)(e - t));
	if (sp2 == NULL || sp2 == t || (size_t)(sp2 - t) >= sizeof num)
		return false;
	memcpy(num, t, (size_t)(sp2 - t));
	num[sp2 - t] = '\0';
	long long v = strtoll(num, &endp, 10);
	if (*endp != '\0')
		return false;
	struct strbuf l = STRBUF_INIT;
	if (!env_unescape(sp2 + 1, (size_t)(e - sp2 - 1), &l) || l.len < 5 ||
	    memcmp(l.buf, "From ", 5) != 0) {
		sb_free(&l);
		return false;
	}
	sb_appendc(&l, '\n');
	r->mtime = (time_t)v;
	r->line = l.buf;
	r->len = l.len;
	return true;
}

struct envstore *
envstore_load(const char *maildir)
{
	int dfd = open(maildir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct strbuf all = STRBUF_INIT;
	int got = dfd == -1 ? -1 : state_file_read(dfd, ENVELOPE_FILE, &all, 0);
	if (dfd != -1)
		close(dfd);
	if (got != 1) {
		sb_free(&all);
		return NULL;
	}
	struct envstore *es = xcalloc(1, sizeof *es);
	size_t cap = 0;
	for (size_t i = 0; i < all.len;) {
		const char *lf = memchr(all.buf + i, '\n', all.len - i);
		if (lf == NULL)
			break;          /* a record cut by a crash */
		size_t n = (size_t)(lf - all.buf) - i;
		struct envrec r;
		if (envrec_parse(all.buf + i, n, &r)) {
			if (es->n == cap) {
				cap = cap ? cap * 2 : 64;
				es->v = xrealloc(es->v, cap * sizeof *es->v);
			}
			r.seq = es->n;
			es->v[es->n++] = r;
		}
		i += n + 1;
	}
	sb_free(&all);
	if (es->n > 1)
		qsort(es->v, es->n, sizeof *es->v, envrec_cmp_seq);
	return es;
}

bool
envstore_lookup(const struct envstore *es, const char *key, time_t mtime,
    const char **line_r, size_t *len_r)
{
	if (es == NULL || es->n == 0)
		return false;
	struct envrec k;
	snprintf(k.key, sizeof k.key, "%s", key);
	const struct envrec *r = bsearch(&k, es->v, es->n, sizeof *es->v, envrec_cmp);
	/* a key recorded twice (a message delivered again after a crash):
	 * the later record */
	while (r != NULL && r + 1 < es->v + es->n && strcmp(r[1].key, r->key) == 0)
		r++;
	if (r == NULL || r->mtime != mtime)
		return false;
	*line_r = r->line;
	*len_r = r->len;
	return true;
}

void
envstore_free(struct envstore *es)
{
	if (es == NULL)
		return;
	for (size_t i = 0; i < es->n; i++)
		free(es->v[i].line);
	free(es->v);
	free(es);
}

/* ---- the mbox source: lock and removal ---------------------------------------- */

int
convert_source_lock(const struct convert_opts *o, const char *path, struct mbox_lock *lk)
{
	struct stat st;

	lk->fd = -1;
	if (strcmp(path, "-") == 0 || stat(path, &st) == -1 || !S_ISREG(st.st_mode) ||
	    opt_common.dry_run)
		return 0;       /* source_open reports what is wrong */
	struct mbox_lock_opts lo = { .timeout = o->lock_timeout };
	/*
	 * The reader opens the path once more for reading. The locks are OFD
	 * fcntl, flock and the dotlock: none is dropped when that second
	 * descriptor is closed (SPEC §2.11 F1 concerns classic fcntl locks).
	 */
	int status = mbox_lock_open(lk, path, o->remove_source ? MBOX_LOCK_WRITE : MBOX_LOCK_SHARED, &lo);
	if (status == 0 && !o->remove_source)
		mbox_lock_yield(lk);    /* taken again around each read */
	return status;
}

int
convert_source_remove(struct mbox_lock *lk, off_t end)
{
	struct stat st;

	if (fstat(lk->fd, &st) == -1) {
		report_error_sys(EX_IOERR, "unable to stat %s", lk->path);
		return -1;
	}
	if (end >= st.st_size)
		return mbox_truncate_empty(lk);
	/* what arrived after the part we read moves to the front (X17) */
	return mbox_rewrite_remove_head(lk, end);
}

/* ---- base names of Maildir files (convert.h) ---------------------------- */

size_t
base_len(const char *name)
{
	const char *c = strchr(name, ':');
	return c ? (size_t)(c - name) : strlen(name);
}

void
baseset_add(struct baseset *s, const char *name)
{
	if (baseset_has(s, name))
		return;
	if ((s->len + 1) * 2 > s->cap) {
		struct baseset ns = { xcalloc(s->cap ? s->cap * 2 : 256, sizeof(char *)),
		    s->cap ? s->cap * 2 : 256, 0 };
		for (size_t i = 0; i < s->cap; i++)
			if (s->k[i]) {
				size_t j = (size_t)XXH3_64bits(s->k[i], base_len(s->k[i])) & (ns.cap - 1);
				while (ns.k[j])
					j = (j + 1) & (ns.cap - 1);
				ns.k[j] = s->k[i];
				ns.len++;
			}
		free(s->k);
		*s = ns;
	}
	size_t j = (size_t)XXH3_64bits(name, base_len(name)) & (s->cap - 1);
	while (s->k[j])
		j = (j + 1) & (s->cap - 1);
	s->k[j] = xstrdup(name);
	s->len++;
}

/* The name held for this name's base, or NULL. */
const char *
baseset_get(const struct baseset *s, const char *name)
{
	size_t n = base_len(name);
	if (s->cap == 0)
		return NULL;
	size_t j = (size_t)XXH3_64bits(name, n) & (s->cap - 1);
	for (; s->k[j]; j = (j + 1) & (s->cap - 1))
		if (base_len(s->k[j]) == n && memcmp(s->k[j], name, n) == 0)
			return s->k[j];
	return NULL;
}

bool
baseset_has(const struct baseset *s, const char *name)
{
	return baseset_get(s, name) != NULL;
}

void
baseset_free(struct baseset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->k[i]);
	free(s->k);
	memset(s, 0, sizeof *s);
}

/*
 * A Maildir file that unlink() found gone: is it still in its folder under
 * another name (a client moved it from new/ to cur/ or changed its flags
 * after it was read)? One listing of the folder's new/ and cur/ answers
 * every question about that folder until the probe is freed.
 */
const char *
renamed_probe_find(struct renamed_probe *rp, const char *folder, const char *name,
    const char **sub_r)
{
	static const char *const subs[2] = { "new", "cur" };

	if (rp->folder == NULL || strcmp(rp->folder, folder) != 0) {
		renamed_probe_free(rp);
		rp->folder = xstrdup(folder);
		for (int k = 0; k < 2; k++) {
			char *d = xasprintf("%s/%s", folder, subs[k]);
			DIR *dir = opendir(d);
			free(d);
			struct dirent *de;
			while (dir != NULL && (de = readdir(dir)) != NULL)
				if (de->d_name[0] != '.')
					baseset_add(&rp->names[k], de->d_name);
			if (dir != NULL)
				closedir(dir);
		}
	}
	for (int k = 0; k < 2; k++) {
		const char *held = baseset_get(&rp->names[k], name);
		if (held != NULL) {
			*sub_r = subs[k];
			return held;
		}
	}
	return NULL;
}

void
renamed_probe_free(struct renamed_probe *rp)
{
	free(rp->folder);
	rp->folder = NULL;
	baseset_free(&rp->names[0]);
	baseset_free(&rp->names[1]);
}
