/*
 * convert_keys.c: what lets a rerun of `mailshift convert` into a Maildir
 * skip what was delivered before (mailshift-convert(1) "Reruns",
 * mailshift-formats(5) "Keys" and "The delivery record").
 *
 * The key of an mbox message is XXH3-128 of its From_ line and of its
 * header without the mbox metadata fields (Status, X-Status, X-Keywords,
 * X-UID, X-IMAP, X-IMAPbase, Content-Length, SPEC §2.10, and Lines, which
 * mutt writes together with Content-Length), plus n, the number of earlier
 * messages of the same source with the same hash. The metadata are what
 * Dovecot, UW and mutt add or rewrite in a spool they serve or read, so a
 * spool touched between two runs still gives the same keys. The state mail
 * clients rewrite in place (X-Mozilla-Status, X-Mozilla-Status2,
 * X-Mozilla-Keys, X-Evolution, X-Gmail-Labels) is left out as well, so a
 * folder a client went on using between two runs gives the same keys. The source's
 * name is not part of it, so the same message from several sources is
 * delivered once (as many times as one source holds it).
 *
 * A delivered message carries its key in its file name (X<32 hex>_<n>), and
 * DEST/mailshift-delivered keeps every key ever delivered into the Maildir,
 * one "<32 hex>_<n>" line each: so a message the user has since deleted
 * from the Maildir is not delivered again by a rerun. The file is appended
 * after each batch is published and synced with it; a line cut short by a
 * crash is dropped when the file is next opened (its message is in new/ or
 * cur/, found by name, and recorded again). It is also what two runs into
 * one Maildir coordinate on: each holds an fcntl lock on it for its whole
 * run, so the second waits for the first (Dovecot never looks at it, and
 * is never blocked). Removing it makes a rerun deliver again what is no
 * longer in the Maildir.
 *
 * Keys written by earlier versions also hashed the source's path into the
 * key and left the metadata fields in (the legacy key): a Maildir whose
 * names hold keys its record does not know may come from such a version,
 * and then the legacy key of each message is looked up as well.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>
#include <xxhash.h>

#include "convert.h"
#include "header.h"
#include "lock.h"
#include "report.h"
#include "xxh_fast.h"

#define RECORD_HEADER "# mailshift: keys of the messages delivered into this Maildir; " \
	"remove this file to let a rerun deliver again what is no longer here " \
	"(mailshift-formats(5))\n"

/* The mail clients' state headers, rewritten in place as the user works. */
static bool
is_client_header(const struct header_field *f)
{
	static const struct { const char *s; size_t n; } names[] = {
#define N(x) { x, sizeof x - 1 }
		N("X-Mozilla-Status"), N("X-Mozilla-Status2"), N("X-Mozilla-Keys"), N("X-Evolution"),
		N("X-Gmail-Labels"),
#undef N
	};
	if (f->name_len < 11 || (f->name[0] | 0x20) != 'x')
		return false;   /* every one is "X-" and 11 bytes or more */
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (f->name_len == names[i].n && mem_ieq(f->name, names[i].s, f->name_len))
			return true;
	return false;
}

static bool is_status_header(const struct header_field *f, bool keep_keywords);
static bool may_have_status(const char *h, size_t hlen, size_t k);

/* Does the (pinned) header hold a client state field? (header_may_have:
 * false means certainly not) */
static bool
may_have_client(const char *h, size_t hlen)
{
	static const struct { const char *s; size_t n; } names[] = {
#define N(x) { x, sizeof x - 1 }
		N("X-Mozilla-Status"), N("X-Mozilla-Status2"), N("X-Mozilla-Keys"), N("X-Evolution"),
		N("X-Gmail-Labels"),
#undef N
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (header_may_have(h, hlen, names[i].s, names[i].n))
			return true;
	return false;
}

/* What a key leaves out: the mbox metadata fields and the clients' state. */
static bool
drop_for_key(const struct header_field *f, void *arg)
{
	(void)arg;
	return is_status_header(f, false) || is_client_header(f);
}

static void
append_run(void *sb, const char *p, size_t n)
{
	sb_append(sb, p, n);
}

void
convert_message_key(const char *from, size_t flen, const char *h, size_t hlen,
    struct strbuf *scratch, uint64_t *hi, uint64_t *lo)
{
	/* one buffer, hashed at once: XXH3 of the concatenation is what the
	 * streaming form of earlier versions gave, without a state to allocate */
	sb_reset(scratch);
	sb_append(scratch, from, flen);
	if (may_have_status(h, hlen, 8) || may_have_client(h, hlen))
		header_filter(h, hlen, drop_for_key, NULL, append_run, scratch);
	else
		sb_append(scratch, h, hlen);   /* nothing to leave out */
	XXH128_hash_t d = XXH3_128bits(scratch->buf ? scratch->buf : "", scratch->len);
	*hi = d.high64;
	*lo = d.low64;
}

void
convert_legacy_key(const char *identity, const char *from, size_t flen, const char *h,
    size_t hlen, uint64_t *hi, uint64_t *lo)
{
	XXH3_state_t *s = XXH3_createState();
	XXH3_128bits_reset(s);
	XXH3_128bits_update(s, identity, strlen(identity) + 1);
	XXH3_128bits_update(s, from, flen);
	XXH3_128bits_update(s, h, hlen);
	XXH128_hash_t d = XXH3_128bits_digest(s);
	XXH3_freeState(s);
	*hi = d.high64;
	*lo = d.low64;
}

void
bodysum_init(struct bodysum *b)
{
	memset(b, 0, sizeof *b);
	if ((b->xxh = xxh_fast_new()) == NULL) {
		errno = ENOMEM;
		report_fatal_sys(EX_TEMPFAIL, "out of memory");
	}
}

void
bodysum_free(struct bodysum *b)
{
	xxh_fast_free(b->xxh);
	b->xxh = NULL;
}

void
bodysum_begin(struct bodysum *b)
{
	xxh_fast_reset(b->xxh);
	b->any = false;
}

void
bodysum_feed(struct bodysum *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	xxh_fast_update(b->xxh, p, n);
	b->any = true;
	b->last_lf = ((const char *)p)[n - 1] == '\n';
}

uint64_t
bodysum_end(struct bodysum *b, bool exact)
{
	if (b->any && !b->last_lf && !exact)
		xxh_fast_update(b->xxh, "\n", 1);
	return xxh_fast_digest(b->xxh);
}

void
convert_body_key(uint64_t hi, uint64_t lo, uint64_t body, uint64_t *bhi, uint64_t *blo)
{
	uint64_t in[3] = { hi, lo, body };
	XXH128_hash_t k = XXH3_128bits(in, sizeof in);

	*bhi = k.high64;
	*blo = k.low64;
}

void
convert_key_string(uint64_t hi, uint64_t lo, uint32_t n, char out[64])
{
	char *p = fmt_x16(out, hi);
	p = fmt_x16(p, lo);
	*p++ = '_';
	p = fmt_u(p, n);
	*p = '\0';
}

bool
convert_key_hex(const char *p, uint64_t *hi, uint64_t *lo)
{
	/* hex_decode stops at a NUL, so p[16..31] are read only when there */
	if (hex_decode(p, 16, hi) != 16 || hex_decode(p + 16, 16, lo) != 16)
		return false;
	for (int i = 0; i < 32; i++)
		if (p[i] >= 'A' && p[i] <= 'F')
			return false;   /* convert_key_string writes lower case only */
	return true;
}

bool
convert_key_parse(const char *p, size_t len, uint64_t *hi, uint64_t *lo, uint32_t *n)
{
	uint64_t h, l;
	unsigned long long k = 0;

	if (len < 34 || len > 44 || p[32] != '_' || !convert_key_hex(p, &h, &l))
		return false;
	for (size_t i = 33; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		k = k * 10 + (unsigned long long)(p[i] - '0');
	}
	if (k > UINT32_MAX)
		return false;
	*hi = h;
	*lo = l;
	*n = (uint32_t)k;
	return true;
}

/* ---- the delivery record ------------------------------------------------- */

/* Read the record's keys from rec->loaded on into ks: a key new to ks
 * gets `mark`, one it has KEY_IN_RECORD. Cut a last line that a crash left
 * without its LF (writable). 0 or -1 (errno). */
static int
record_load(struct delivery_record *rec, struct keyset *ks, struct keyset *bodies, bool writable,
    uint32_t mark)
{
	char buf[65536];
	struct strbuf line = STRBUF_INIT;
	off_t off = rec->loaded, good = rec->loaded;
	ssize_t k;

	while ((k = pread_full(rec->fd, buf, sizeof buf, off)) > 0) {
		for (ssize_t i = 0; i < k; i++) {
			if (buf[i] != '\n') {
				if (line.len < 128)
					sb_appendc(&line, buf[i]);
				continue;
			}
			uint64_t hi, lo, body;
			uint32_t n;
			const char *sp = line.len ? memchr(line.buf, ' ', line.len) : NULL;
			size_t klen = sp ? (size_t)(sp - line.buf) : line.len;
			bool has_body = sp && line.buf + line.len - sp == 17 &&
			    hex_decode(sp + 1, 16, &body) == 16;
			if (line.len > 0 && line.buf[0] != '#' &&
			    convert_key_parse(line.buf, klen, &hi, &lo, &n)) {
				struct key *e = keyset_find(ks, hi, lo, n, false);
				if (e == NULL)
					(e = keyset_find(ks, hi, lo, n, true))->used |= mark;
				else
					e->used |= KEY_IN_RECORD;
				if (has_body && bodies) {
					uint64_t bhi, blo;
					e->used |= KEY_HAS_BODY;
					convert_body_key(hi, lo, body, &bhi, &blo);
					keyset_find(bodies, bhi, blo, 0, true);
				}
			}
			sb_reset(&line);
			good = off + i + 1;
		}
		off += k;
	}
	sb_free(&line);
	if (k == -1)
		return -1;
	rec->loaded = good;
	if (off > good && writable) {
		/* a line a crash cut short: its message is in the Maildir under
		 * its key and is recorded again by this run */
		if (ftruncate(rec->fd, good) == -1)
			return -1;
		if (opt_common.verbose)
			report_info("%s: dropped a record line cut short by an interrupted run", rec->path);
	}
	return 0;
}

static void record_reserve(struct delivery_record *rec);

int
record_open(struct delivery_record *rec, const char *maildir, const struct convert_opts *o,
    struct keyset *ks, struct keyset *bodies)
{
	bool dry = opt_common.dry_run;
	struct stat st;

	memset(rec, 0, sizeof *rec);
	rec->fd = -1;
	rec->no_sync = o->sync == SYNC_NONE;
	rec->path = xasprintf("%s/%s", maildir, RECORD_FILE);
	if (dry) {
		rec->fd = open(rec->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (rec->fd == -1)
			return 0;
	} else {
		rec->fd = open(rec->path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (rec->fd == -1) {
			int status = report_status_for_write_errno(errno);
			report_error_sys(status, "unable to open %s", rec->path);
			return status;
		}
		/* the lock that makes two runs into one Maildir take turns */
		int status = file_lock_exclusive(rec->fd, rec->path, o->lock_timeout);
		if (status != 0)
			return status;
	}
	if (fstat(rec->fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		report_error(EX_CANTCREAT, "%s: not a regular file", rec->path);
		return EX_CANTCREAT;
	}
	if (record_load(rec, ks, bodies, !dry, KEY_IN_RECORD) == -1) {
		report_error_sys(EX_IOERR, "unable to read %s", rec->path);
		return EX_IOERR;
	}
	if (!dry && st.st_size == 0) {
		if (o->chown && fchown(rec->fd, o->uid, o->gid) == -1)
			report_warn_sys("unable to chown %s", rec->path);
		sb_appends(&rec->pending, RECORD_HEADER);
	}
	if (!dry) {
		/* a key line is at most 66 bytes; a batch's, up to 4 MiB */
		size_t b = o->batch ? o->batch : 1000;
		rec->reserve = b > (4u << 20) / 66 ? 4u << 20 : b * 66;
		record_reserve(rec);
	}
	return 0;
}

void
record_note(struct delivery_record *rec, uint64_t hi, uint64_t lo, uint32_t n,
    const uint64_t *body)
{
	char k[64];

	if (rec->fd == -1 || opt_common.dry_run)
		return;
	convert_key_string(hi, lo, n, k);
	sb_appends(&rec->pending, k);
	if (body) {
		char h[18] = " ";
		fmt_x16(h + 1, *body);
		sb_append(&rec->pending, h, 17);
	}
	sb_appendc(&rec->pending, '\n');
}

/* Blocks for the next batch's keys, allocated now (the file's size stays):
 * written later, the keys cannot meet a full disk. Best effort: a file
 * system without fallocate() is written as it comes. */
static void
record_reserve(struct delivery_record *rec)
{
	struct stat st;

	if (rec->reserve == 0 || fstat(rec->fd, &st) == -1)
		return;
	off_t want = st.st_size + (off_t)rec->reserve;
	if (want <= rec->reserved)
		return;
#ifdef FALLOC_FL_KEEP_SIZE
	if (fallocate(rec->fd, FALLOC_FL_KEEP_SIZE, st.st_size, (off_t)rec->reserve) == 0) {
		rec->reserved = want;
		return;
	}
#endif
	if (errno == EOPNOTSUPP || errno == ENOSYS)
		rec->reserve = 0;
}

int
record_sync(struct delivery_record *rec, bool quiet)
{
	if (rec->fd == -1 || rec->failed)
		return rec->failed ? -1 : 0;
	if (rec->pending.len == 0)
		return 0;
	if (write_all(rec->fd, rec->pending.buf, rec->pending.len) == -1 ||
	    (!rec->no_sync && fdatasync(rec->fd) == -1)) {
		/* the messages are in the Maildir under their keys: a rerun
		 * still skips them while they are there */
		if (!quiet)
			report_error_sys(report_status_for_write_errno(errno), "unable to write %s",
			    rec->path);
		rec->failed = true;
		return -1;
	}
	sb_reset(&rec->pending);
	record_reserve(rec);
	return 0;
}

int
record_catch_up(struct delivery_record *rec, struct keyset *ks, struct keyset *bodies,
    uint32_t mark)
{
	if (rec->fd == -1 || rec->failed)
		return 0;
	if (record_load(rec, ks, bodies, false, mark) == -1) {
		report_error_sys(EX_IOERR, "unable to read %s", rec->path);
		return -1;
	}
	return 0;
}

void
record_close(struct delivery_record *rec)
{
	struct stat st;

	if (rec->path == NULL)
		return;
	/* the blocks allocated past the end go back (a migration leaves a
	 * record in every Maildir) */
	if (rec->fd != -1 && rec->reserved > 0 && fstat(rec->fd, &st) == 0)
		(void)ftruncate(rec->fd, st.st_size);
	if (rec->fd != -1)
		close(rec->fd);
	rec->fd = -1;
	sb_free(&rec->pending);
	free(rec->path);
	rec->path = NULL;
}

/* ---- the header filters ------------------------------------------------------ */

/* Headers left out of the delivery key (convert_keys.c). */
static const struct { const char *s; size_t n; } status_headers[] = {
#define N(x) { x, sizeof x - 1 }
	N("Status"), N("X-Status"), N("X-Keywords"), N("X-UID"), N("X-IMAP"), N("X-IMAPbase"),
	N("Content-Length"), N("Lines"),
#undef N
};

/* May the header hold one of the first k of status_headers? */
static bool
may_have_status(const char *h, size_t hlen, size_t k)
{
	for (size_t i = 0; i < k && i < ARRAY_SIZE(status_headers); i++)
		if (header_may_have(h, hlen, status_headers[i].s, status_headers[i].n))
			return true;
	return false;
}

static bool
is_status_header(const struct header_field *f, bool keep_keywords)
{
	for (size_t i = 0; i < ARRAY_SIZE(status_headers); i++) {
		size_t n = status_headers[i].n;
		if (f->name_len == n && mem_ieq(f->name, status_headers[i].s, n))
			return !(keep_keywords && n == 10 && mem_ieq(f->name, "X-Keywords", 10));
	}
	return false;
}

/*
 * The seven mbox metadata headers (SPEC §2.8, §2.10 ▶): Dovecot and UW
 * never show them to a client, so they become flags, keywords and UIDs and
 * are not written into the Maildir file. Lines, X-UIDL, X-Mozilla-* stay.
 */
bool
convert_is_meta_header(const char *name, size_t len)
{
	/* status_headers but Lines */
	for (size_t i = 0; i < ARRAY_SIZE(status_headers) - 1; i++)
		if (len == status_headers[i].n && mem_ieq(name, status_headers[i].s, len))
			return true;
	return false;
}

static bool
drop_meta(const struct header_field *f, void *keep_keywords)
{
	return convert_is_meta_header(f->name, f->name_len) &&
	    !(*(bool *)keep_keywords && f->name_len == 10 && mem_ieq(f->name, "X-Keywords", 10));
}

bool
convert_consume_header(const char *h, size_t len, bool keep_keywords, struct strbuf *out)
{
	/* status_headers but Lines */
	if (!may_have_status(h, len, ARRAY_SIZE(status_headers) - 1))
		return false;
	return header_filter_sb(h, len, drop_meta, &keep_keywords, out) > 0;
}

/* ---- keys in names ------------------------------------------------------ */

/* The key in a file name SECS.M..P..Q..X<32 hex>_<n>.host...: the X field
 * of the name's second part, ending at '.', ',' or ':'. */
bool
convert_name_key_parse(const char *name, uint64_t *hi, uint64_t *lo, uint32_t *n)
{
	const char *dot = strchr(name, '.');
	if (dot == NULL)
		return false;
	const char *end = strchr(dot + 1, '.');
	const char *x = memchr(dot + 1, 'X', end ? (size_t)(end - dot - 1) : strlen(dot + 1));
	if (x == NULL)
		return false;
	x++;
	return convert_key_parse(x, strcspn(x, ".,:"), hi, lo, n);
}

void
convert_keyed_names(int dfd, const char *dir, convert_keyed_fn *fn, void *arg)
{
	static const char *const sub[] = { "new", "cur" };

	for (size_t i = 0; i < ARRAY_SIZE(sub); i++) {
		char *p = dir ? xasprintf("%s/%s", dir, sub[i]) : NULL;
		int fd = openat(dfd, p ? p : sub[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = fd == -1 ? NULL : fdopendir(fd);
		struct dirent *de;
		free(p);
		if (d == NULL) {
			if (fd != -1)
				close(fd);
			continue;
		}
		while ((de = readdir(d)) != NULL) {
			uint64_t hi, lo;
			uint32_t n;
			if (de->d_name[0] != '.' && convert_name_key_parse(de->d_name, &hi, &lo, &n))
				fn(arg, sub[i], de->d_name, hi, lo, n);
		}
		closedir(d);
	}
}

bool
convert_name_key(const char *name, char *out, size_t outlen)
{
	uint64_t hi, lo;
	uint32_t n;
	char key[64];

	if (!convert_name_key_parse(name, &hi, &lo, &n))
		return false;
	convert_key_string(hi, lo, n, key);
	if (strlen(key) + 1 > outlen)
		return false;
	memcpy(out, key, strlen(key) + 1);
	return true;
}
