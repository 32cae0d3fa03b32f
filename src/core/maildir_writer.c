/*
 * maildir_writer.c: deliver messages into a Maildir (SPEC §1.2 names, §1.3
 * protocol, §1.7 S=/W=, §1.10 dovecot-keywords, §5 W1-W5, F2, F3;
 * DESIGN §6 durability by batching).
 *
 * The protocol, per message:
 *   1. name: SECS.M<usec>P<pid>Q<seq>.<host>.mailshift in tmp/, created with
 *      O_CREAT|O_EXCL|O_NOFOLLOW relative to the tmp/ directory fd;
 *   2. write the bytes (small pieces such as the header are gathered and go
 *      out with the body in one writev(2)), set the mtime (the arrival date) with the atime
 *      left at "now" (qmail's tmp cleaner looks at atime), close; with
 *      --sync=message fsync first;
 *   3. at the end of a batch: one syncfs(2) makes every file of the batch
 *      durable (--sync=batch), then each file is moved to new/ or cur/ with
 *      renameat2(RENAME_NOREPLACE) (link()+unlink() where the file system
 *      lacks it; never a rename() that could replace a name), with its final
 *      name SECS.M<usec>P<pid>Q<seq>[X<key>].<host>,S=<size>,W=<vsize>[:2,<flags>];
 *   4. new/ and cur/ are fsync'ed; only then is the message delivered and the
 *      caller told so (opts->published).
 * A crash at any point leaves a message either absent from new/ and cur/ or
 * complete there. The tmp/ files of a crashed mailshift (our ".mailshift"
 * suffix, this host, a pid that no longer runs) hold copies of messages that
 * were never published; they are removed when the maildir is next opened
 * for writing. Nothing else in tmp/ is ever touched.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <sysexits.h>
#include <unistd.h>
#include <dirent.h>

#include "flags.h"
#include "lock.h"
#include "maildir_reader.h"
#include "maildir_writer.h"
#include "report.h"
#include "statefile.h"
#include "testhook.h"
#include "util.h"

#define TMP_SUFFIX ".mailshift"
/* small writes (a header) wait here for the body's writev() */
#define PEND_CAP (16u << 10)
/* entries per writev(): IOV_MAX on Linux and the BSDs */
#define WRITEV_MAX 1024

struct queued {
	char *tmpname;
	char *final;            /* final name */
	bool cur;
	bool moved;             /* already in new/ or cur/ (SYNC_NONE) */
	uint64_t cookie;
};

struct maildir_writer {
	char *path;
	struct maildir_writer_opts o;
	int dfd, tmpfd, newfd, curfd;
	char host[256];
	long pid;
	unsigned long seq;
	struct timeval last;

	/* message in progress */
	int fd;
	char tmpname[400];
	char base[96];         /* SECS.M<usec>P<pid>Q<seq> */
	uint64_t size, vsize;
	bool prev_cr;
	char *pend;             /* PEND_CAP bytes not yet written */
	size_t npend;

	char *kw[26];           /* dovecot-keywords: index -> name (as on disk) */

	struct queued *q;
	size_t nq, capq;
	uint64_t qbytes;
	bool link_only;        /* renameat2 unsupported here */
	mode_t file_mode;      /* from the maildir's mode and the umask */
};

int
sync_mode_parse(const char *s)
{
	if (strcmp(s, "batch") == 0)
		return SYNC_BATCH;
	if (strcmp(s, "message") == 0)
		return SYNC_MESSAGE;
	if (strcmp(s, "none") == 0)
		return SYNC_NONE;
	return -1;
}

/* A subdirectory that a killed run made and did not give to its owner
 * yet (mkdir, then chown): given now, but only inside a maildir that is
 * the owner's already (never a directory of a DEST that is not theirs).
 * 0 or -1 (errno). */
static int
owner_catch_up(const struct maildir_writer *w, int fd)
{
	struct stat st, top;

	if (!w->o.chown || fstat(w->dfd, &top) == -1 || top.st_uid != w->o.uid ||
	    fstat(fd, &st) == -1 || st.st_uid != geteuid() ||
	    (st.st_uid == w->o.uid && st.st_gid == w->o.gid))
		return 0;
	return fchown(fd, w->o.uid, w->o.gid);
}

/* Open (creating if asked) a subdirectory of the maildir, never following a
 * symlink. */
static int
open_subdir(struct maildir_writer *w, const char *name, bool create, mode_t mode)
{
	int fd = openat(w->dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd != -1 && owner_catch_up(w, fd) == -1) {
		close(fd);
		return -1;
	}
	if (fd == -1 && errno == ENOENT && create) {
		if (mkdirat(w->dfd, name, mode) == -1 && errno != EEXIST)
			return -1;
		fd = openat(w->dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd != -1 && w->o.chown && fchown(fd, w->o.uid, w->o.gid) == -1) {
			close(fd);
			return -1;
		}
		if (fd != -1 && dir_sync(w->dfd) == -1) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

static void keywords_load(struct maildir_writer *w);

struct maildir_writer *
maildir_writer_open(const char *path, const struct maildir_writer_opts *opts)
{
	struct maildir_writer *w = xcalloc(1, sizeof *w);
	int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;

	w->path = xstrdup(path);
	w->o = *opts;
	if (w->o.batch_messages == 0)
		w->o.batch_messages = 1000;
	if (w->o.batch_bytes == 0)
		w->o.batch_bytes = 64u << 20;
	w->fd = w->tmpfd = w->newfd = w->curfd = -1;
	w->pid = (long)getpid();
	maildir_hostname(w->host, sizeof w->host);

	/* as root never follow a symlink for the destination itself */
	if (geteuid() == 0)
		flags |= O_NOFOLLOW;
	w->dfd = open(path, flags);
	if (w->dfd == -1 && errno == ENOENT && w->o.create) {
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			report_error_sys(EX_CANTCREAT, "unable to create %s", path);
			goto fail;
		}
		w->dfd = open(path, flags);
		if (w->dfd != -1 && w->o.chown && fchown(w->dfd, w->o.uid, w->o.gid) == -1) {
			report_error_sys(EX_CANTCREAT, "unable to chown %s", path);
			goto fail;
		}
	}
	if (w->dfd == -1) {
		report_error_sys(errno == ENOENT ? EX_CANTCREAT : report_status_for_write_errno(errno),
		    "unable to open %s", path);
		goto fail;
	}
	struct stat st;
	mode_t mode = 0700;
	if (fstat(w->dfd, &st) == 0)
		mode = st.st_mode & 07777;
	/* files get the maildir's permissions (0700 -> 0600), as Dovecot
	 * does, narrowed by the umask */
	mode_t um = umask(0);
	umask(um);
	w->file_mode = (mode & 0666) & ~um;
	if ((w->file_mode & 0600) != 0600)
		w->file_mode |= 0600;
	w->curfd = open_subdir(w, "cur", w->o.create, mode);
	w->newfd = open_subdir(w, "new", w->o.create, mode);
	w->tmpfd = open_subdir(w, "tmp", w->o.create, mode);
	if (w->curfd == -1 || w->newfd == -1 || w->tmpfd == -1) {
		report_error_sys(report_status_for_write_errno(errno),
		    "unable to open or create %s/{tmp,new,cur}", path);
		goto fail;
	}
	if (faccessat(w->dfd, "tmp", W_OK, AT_EACCESS) == -1 ||
	    faccessat(w->dfd, "new", W_OK, AT_EACCESS) == -1 ||
	    faccessat(w->dfd, "cur", W_OK, AT_EACCESS) == -1) {
		report_error_sys(EX_CANTCREAT, "cannot write into %s", path);
		goto fail;
	}
	state_file_clean_leftovers(w->tmpfd, w->path);
	keywords_load(w);
	return w;
fail:
	maildir_writer_discard(w);
	return NULL;
}

/* Merge dovecot-keywords as it is on disk now into our table (SPEC
 * §1.10): indexes are never renumbered, so what the file says wins. */
static void
keywords_load(struct maildir_writer *w)
{
	char *names[26];

	if (maildir_keywords_read(w->dfd, names) == -1)
		return;
	for (int i = 0; i < 26; i++) {
		if (names[i] == NULL)
			continue;
		free(w->kw[i]);
		w->kw[i] = names[i];
	}
}

static int
keyword_find(const struct maildir_writer *w, const char *name, size_t len, int *free_r)
{
	*free_r = -1;
	for (int i = 0; i < 26; i++) {
		if (w->kw[i] == NULL) {
			if (*free_r == -1)
				*free_r = i;
			continue;
		}
		if (strlen(w->kw[i]) == len && memcmp(w->kw[i], name, len) == 0)
			return i;
	}
	return -1;
}

/* Write our table to dovecot-keywords (the caller holds
 * dovecot-uidlist.lock). 0 or -1 (reported). */
static int
keywords_write(struct maildir_writer *w)
{
	struct strbuf sb = STRBUF_INIT;
	struct state_file_opts so = { .mode = 0600, .chown = w->o.chown, .uid = w->o.uid,
	    .gid = w->o.gid, .no_sync = w->o.sync == SYNC_NONE };

	for (int i = 0; i < 26; i++)
		if (w->kw[i])
			sb_appendf(&sb, "%d %s\n", i, w->kw[i]);
	int rc = state_file_replace(w->dfd, "dovecot-keywords", sb.buf, sb.len, &so);
	if (rc == -1)
		report_error_sys(report_status_for_write_errno(errno),
		    "unable to write %s/dovecot-keywords", w->path);
	sb_free(&sb);
	return rc;
}

/*
 * A name our table does not know. Dovecot (a user creating a keyword over
 * IMAP) or another run may have given it, or the free index we would
 * take, a letter since we last looked: so under dovecot-uidlist.lock the
 * file is read again, the name takes the index the file gives it, or a
 * free one that is written to the file before the lock is released. No
 * letter is ever used in a name before the file that defines it is on
 * disk, and no letter ever means two names.
 */
int
maildir_writer_keyword(struct maildir_writer *w, const char *name, size_t len)
{
	int free_idx, idx = keyword_find(w, name, len, &free_idx);

	if (idx >= 0)
		return idx;
	int lfd = uidlist_lock_take(w->dfd, w->path, w->o.lock_timeout);
	if (lfd == -1)
		return -3;
	keywords_load(w);
	idx = keyword_find(w, name, len, &free_idx);
	if (idx < 0 && free_idx >= 0) {
		w->kw[free_idx] = xstrndup(name, len);
		if (keywords_write(w) == -1) {
			free(w->kw[free_idx]);
			w->kw[free_idx] = NULL;
			idx = -3;
		} else {
			idx = free_idx;
		}
	}
	uidlist_lock_release(w->dfd, lfd);
	return idx;
}

const char *
maildir_writer_keyword_name(const struct maildir_writer *w, int idx)
{
	return idx >= 0 && idx < 26 ? w->kw[idx] : NULL;
}

int
maildir_writer_dirfd(const struct maildir_writer *w)
{
	return w->dfd;
}

/* Next unique base name; the microseconds move forward when the clock has
 * not (Dovecot), so names increase within the process. */
static void
next_base(struct maildir_writer *w)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec < w->last.tv_sec ||
	    (tv.tv_sec == w->last.tv_sec && tv.tv_usec <= w->last.tv_usec)) {
		tv = w->last;
		if (++tv.tv_usec >= 1000000) {
			tv.tv_sec++;
			tv.tv_usec = 0;
		}
	}
	w->last = tv;
	w->seq++;
	/* SECS.M<usec>P<pid>Q<seq>: once per message, built by hand */
	char *p = w->base;
	if (tv.tv_sec < 0)
		*p++ = '-';
	p = fmt_u(p, tv.tv_sec < 0 ? -(unsigned long long)tv.tv_sec : (unsigned long long)tv.tv_sec);
	*p++ = '.';
	*p++ = 'M';
	p = fmt_u0(p, (unsigned long long)tv.tv_usec, 6);
	*p++ = 'P';
	p = fmt_u(p, (unsigned long long)w->pid);
	*p++ = 'Q';
	p = fmt_u(p, (unsigned long long)w->seq);
	*p = '\0';
}

/* BASE[X<key>].HOST,S=<size>,W=<vsize><info>, malloc'd */
static char *
final_name(const struct maildir_writer *w, const char *key, const char *info)
{
	size_t bl = strlen(w->base), kl = key ? strlen(key) : 0, hl = strlen(w->host);
	size_t il = strlen(info);
	char *name = xmalloc(bl + 1 + kl + 1 + hl + 2 * (3 + 20) + il + 1), *p = name;

	memcpy(p, w->base, bl);
	p += bl;
	if (key) {
		*p++ = 'X';
		memcpy(p, key, kl);
		p += kl;
	}
	*p++ = '.';
	memcpy(p, w->host, hl);
	p += hl;
	memcpy(p, ",S=", 3);
	p = fmt_u(p + 3, (unsigned long long)w->size);
	memcpy(p, ",W=", 3);
	p = fmt_u(p + 3, (unsigned long long)w->vsize);
	memcpy(p, info, il + 1);
	return name;
}

int
maildir_writer_begin(struct maildir_writer *w)
{
	for (int tries = 0; tries < 100; tries++) {
		next_base(w);
		size_t bl = strlen(w->base), hl = strlen(w->host);
		if (bl + 1 + hl + sizeof TMP_SUFFIX <= sizeof w->tmpname) {
			memcpy(w->tmpname, w->base, bl);
			w->tmpname[bl] = '.';
			memcpy(w->tmpname + bl + 1, w->host, hl);
			memcpy(w->tmpname + bl + 1 + hl, TMP_SUFFIX, sizeof TMP_SUFFIX);
		} else {
			snprintf(w->tmpname, sizeof w->tmpname, "%s.%s" TMP_SUFFIX, w->base, w->host);
		}
		w->fd = openat(w->tmpfd, w->tmpname,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, w->file_mode);
		if (w->fd != -1)
			break;
		if (errno != EEXIST) {
			report_error_sys(report_status_for_write_errno(errno),
			    "unable to create %s/tmp/%s", w->path, w->tmpname);
			return -1;
		}
	}
	if (w->fd == -1) {
		report_error(EX_CANTCREAT, "unable to find a unique name in %s/tmp", w->path);
		return -1;
	}
	/* file_mode already has the umask applied, so open() gave it exactly */
	if (w->o.chown && fchown(w->fd, w->o.uid, w->o.gid) == -1) {
		report_error_sys(EX_CANTCREAT, "unable to set owner or mode of %s/tmp/%s", w->path, w->tmpname);
		maildir_writer_abort(w);
		return -1;
	}
	w->size = w->vsize = 0;
	w->prev_cr = false;
	w->npend = 0;
	return 0;
}

static void
write_failed(struct maildir_writer *w)
{
	int e = errno;
	report_error_sys(report_status_for_write_errno(e), "unable to write %s/tmp/%s", w->path, w->tmpname);
	maildir_writer_abort(w);
	errno = e;
}

/* Write out what maildir_writer_write() gathered; 0 or -1 (reported). */
static int
flush_pending(struct maildir_writer *w)
{
	if (w->npend == 0)
		return 0;
	if (write_all(w->fd, w->pend, w->npend) == -1) {
		write_failed(w);
		return -1;
	}
	w->npend = 0;
	return 0;
}

int
maildir_writer_write(struct maildir_writer *w, const void *p, size_t n)
{
	w->size += n;
	w->vsize += flags_vsize_add(p, n, &w->prev_cr);
	if (w->npend + n > PEND_CAP && flush_pending(w) == -1)
		return -1;
	if (n > PEND_CAP) {
		if (write_all(w->fd, p, n) == -1) {
			write_failed(w);
			return -1;
		}
		return 0;
	}
	if (w->pend == NULL)
		w->pend = xmalloc(PEND_CAP);
	memcpy(w->pend + w->npend, p, n);
	w->npend += n;
	return 0;
}

int
maildir_writer_writev(struct maildir_writer *w, const struct iovec *iov, int iovcnt)
{
	struct iovec tmp[WRITEV_MAX];

	while (iovcnt > 0) {
		int k = 0;
		if (w->npend > 0) {
			tmp[k].iov_base = w->pend;
			tmp[k++].iov_len = w->npend;
		}
		int take = iovcnt < WRITEV_MAX - k ? iovcnt : WRITEV_MAX - k;
		memcpy(tmp + k, iov, (size_t)take * sizeof *iov);
		for (int i = 0; i < take; i++) {
			w->size += iov[i].iov_len;
			w->vsize += flags_vsize_add(iov[i].iov_base, iov[i].iov_len, &w->prev_cr);
		}
		if (writev_all(w->fd, tmp, k + take) == -1) {
			write_failed(w);
			return -1;
		}
		w->npend = 0;
		iov += take;
		iovcnt -= take;
	}
	return 0;
}

void
maildir_writer_abort(struct maildir_writer *w)
{
	w->npend = 0;
	if (w->fd != -1) {
		close(w->fd);
		w->fd = -1;
	}
	if (w->tmpname[0]) {
		unlinkat(w->tmpfd, w->tmpname, 0);
		w->tmpname[0] = '\0';
	}
}

/* Move one file into place without ever replacing a name. */
static int
publish_one(struct maildir_writer *w, struct queued *q)
{
	int dst = q->cur ? w->curfd : w->newfd;

	for (int tries = 0; tries < 100; tries++) {
		int rc = -1;
#ifdef HAVE_RENAMEAT2
		if (!w->link_only) {
			rc = renameat2(w->tmpfd, q->tmpname, dst, q->final, RENAME_NOREPLACE);
			if (rc == -1 && (errno == EINVAL || errno == ENOSYS))
				w->link_only = true;
			else if (rc == 0)
				return 0;
		}
#else
		w->link_only = true;
#endif
		if (w->link_only) {
			rc = linkat(w->tmpfd, q->tmpname, dst, q->final, 0);
			if (rc == 0) {
				unlinkat(w->tmpfd, q->tmpname, 0);
				return 0;
			}
			if (errno == EPERM || errno == ENOTSUP) {
				report_error(EX_CANTCREAT, "%s: the file system supports neither "
				    "renameat2(RENAME_NOREPLACE) nor link(): refusing to risk "
				    "replacing a message", w->path);
				return -1;
			}
		}
		if (errno != EEXIST) {
			report_error_sys(report_status_for_write_errno(errno),
			    "unable to move tmp/%s to %s/%s", q->tmpname, q->cur ? "cur" : "new", q->final);
			return -1;
		}
		/* the name is taken: make a new one with the same suffix */
		char *suffix = strchr(q->final, 'X');
		next_base(w);
		char *nf = xasprintf("%s%s", w->base, suffix ? suffix : strchr(q->final, '.'));
		free(q->final);
		q->final = nf;
	}
	report_error(EX_CANTCREAT, "unable to find a free name in %s", w->path);
	return -1;
}

int
maildir_writer_flush(struct maildir_writer *w)
{
	int rc = 0;
	size_t done = 0;

	if (w->nq == 0)
		return 0;
	if (w->o.sync == SYNC_BATCH) {
#ifdef HAVE_SYNCFS
		if (syncfs(w->tmpfd) == -1) {
			report_error_sys(EX_IOERR, "unable to sync %s", w->path);
			rc = -1;
		}
#else
		sync();
#endif
	}
	bool any_new = false, any_cur = false;
	for (; rc == 0 && done < w->nq; done++) {
		if (!w->q[done].moved && publish_one(w, &w->q[done]) == -1) {
			rc = -1;
			break;
		}
		if (w->q[done].cur)
			any_cur = true;
		else
			any_new = true;
	}
	/* the new names must be durable before anyone is told; tmp/ need not
	 * be: a name left there by a power loss is our own leftover, removed
	 * on the next run, and its inode lives on under new/ or cur/ */
	if (w->o.sync != SYNC_NONE) {
		if ((any_new && dir_sync(w->newfd) == -1) || (any_cur && dir_sync(w->curfd) == -1)) {
			report_error_sys(EX_IOERR, "unable to sync the directories of %s", w->path);
			rc = -1;
			done = 0;   /* not durable: tell nobody */
		}
	}
	for (size_t i = 0; i < w->nq; i++) {
		if (i < done) {
			if (w->o.published)
				w->o.published(w->o.ctx, w->q[i].cookie, w->q[i].cur ? "cur" : "new", w->q[i].final);
			testhook_message_done();
		} else if (rc == -1 && i >= done && !w->q[i].moved) {
			/* not published: drop the tmp copy, the source still has it */
			unlinkat(w->tmpfd, w->q[i].tmpname, 0);
		}
		free(w->q[i].tmpname);
		free(w->q[i].final);
	}
	w->nq = 0;
	w->qbytes = 0;
	if (rc == 0 && done > 0 && w->o.flushed)
		w->o.flushed(w->o.ctx);
	return rc;
}


int
maildir_writer_end(struct maildir_writer *w, const struct maildir_msginfo *mi)
{
	struct timespec ts[2];
	char info[128];

	if (flush_pending(w) == -1)
		return -1;
	if (mi->mtime > 0) {
		ts[0].tv_nsec = UTIME_NOW;
		ts[0].tv_sec = 0;
		ts[1].tv_sec = mi->mtime;
		ts[1].tv_nsec = 0;
		if (futimens(w->fd, ts) == -1) {
			write_failed(w);
			return -1;
		}
	}
	if (w->o.sync == SYNC_MESSAGE && fsync(w->fd) == -1) {
		write_failed(w);
		return -1;
	}
	if (close(w->fd) == -1) {
		w->fd = -1;
		write_failed(w);
		return -1;
	}
	w->fd = -1;

	bool cur = mi->cur || mi->flags || mi->keywords || (mi->extra_info && *mi->extra_info);
	info[0] = '\0';
	if (cur) {
		info[0] = ':';
		flags_make_info(mi->flags, mi->keywords, mi->extra_info, info + 1);
	}
	if (w->nq == w->capq) {
		w->capq = w->capq ? 2 * w->capq : 64;
		w->q = xrealloc(w->q, w->capq * sizeof *w->q);
	}
	struct queued *q = &w->q[w->nq++];
	q->tmpname = xstrdup(w->tmpname);
	q->final = final_name(w, mi->key, info);
	q->cur = cur;
	q->cookie = mi->cookie;
	q->moved = false;
	w->tmpname[0] = '\0';
	w->qbytes += w->size;
	/* nothing to sync first: moved at once, so tmp/ holds one file at a
	 * time (a thousand names in it made each create and rename cost more);
	 * the caller is told with the batch, as after a sync */
	if (w->o.sync == SYNC_NONE) {
		if (publish_one(w, q) == -1) {
			w->nq--;
			unlinkat(w->tmpfd, q->tmpname, 0);
			free(q->tmpname);
			free(q->final);
			return -1;
		}
		q->moved = true;
	}
	/* --sync=message fsyncs each file (above) instead of one syncfs per
	 * batch; publishing and the directory syncs are batched either way */
	if (w->nq >= w->o.batch_messages || w->qbytes >= w->o.batch_bytes)
		return maildir_writer_flush(w);
	return 0;
}

static void
close_fds(struct maildir_writer *w)
{
	int *fds[] = { &w->fd, &w->tmpfd, &w->newfd, &w->curfd, &w->dfd };
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (*fds[i] != -1) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}

/* Close the descriptors and free the writer. */
static void
writer_free(struct maildir_writer *w)
{
	close_fds(w);
	for (int i = 0; i < 26; i++)
		free(w->kw[i]);
	free(w->q);
	free(w->pend);
	free(w->path);
	free(w);
}

int
maildir_writer_close(struct maildir_writer *w)
{
	int rc = maildir_writer_flush(w);

	writer_free(w);
	return rc;
}

void
maildir_writer_discard(struct maildir_writer *w)
{
	if (w == NULL)
		return;
	maildir_writer_abort(w);
	for (size_t i = 0; i < w->nq; i++) {
		if (w->tmpfd != -1 && !w->q[i].moved)
			unlinkat(w->tmpfd, w->q[i].tmpname, 0);
		free(w->q[i].tmpname);
		free(w->q[i].final);
	}
	writer_free(w);
}
