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
 * Where the machine has a second CPU, steps 1 and 2 (and the move of
 * --sync=none) are made by a thread of their own: the caller's thread hands
 * each message's bytes over through a ring of RING_CAP bytes and goes on
 * reading and parsing the next while the file system works. The writer
 * thread makes system calls only; what it finds (a failed call, a name
 * taken) is reported, and the batch published, by the caller's thread, after
 * it has waited for the writer thread to finish what it was given. A message
 * larger than MSG_MAX is written by the caller's thread itself, once the
 * writer thread is idle, so that the ring never holds one whole.
 * A crash at any point leaves a message either absent from new/ and cur/ or
 * complete there. The tmp/ files of a crashed mailshift (our ".mailshift"
 * suffix, this host, a pid that no longer runs) hold copies of messages that
 * were never published; they are removed when the maildir is next opened
 * for writing. Nothing else in tmp/ is ever touched.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

/* bytes of messages on their way to the writer thread */
#define RING_CAP (1u << 20)
/* a message larger than this is written by the caller's thread */
#define MSG_MAX (RING_CAP / 4)
/* messages handed over and not yet written, at most */
#define FIFO_CAP 1024u
/* a sleeping writer thread is woken when this many messages or bytes
 * wait for it */
#define WAKE_MSGS 8u
#define WAKE_BYTES (64u << 10)
/* room after a tmp name for the writer thread's ".<n>" when it is taken */
#define TMP_SPARE 8

enum qstate { Q_WAITING, Q_DONE, Q_FAILED, Q_SKIPPED };
/* the call that failed */
enum qcall { CALL_CREATE, CALL_WRITE, CALL_MOVE };

struct queued {
	char *tmpname;
	char *final;            /* final name */
	bool cur;
	bool moved;             /* already in new/ or cur/ (SYNC_NONE) */
	uint64_t cookie;
	/* written by the writer thread (what follows is its result) */
	uint64_t off, len;      /* the bytes, in the ring */
	time_t mtime;
	enum qstate state;
	int err;                /* errno of the call that failed */
	enum qcall call;        /* which call, for the report */
};

/* a writer has its threads (the caller's thread's own variable) */
static bool threads_in_use;

/* The writer thread and what the two threads share (under mu). */
struct worker {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t work;    /* the writer thread waits for messages */
	pthread_cond_t main;    /* the caller's thread waits for room or idle */
	struct queued *fifo[FIFO_CAP];
	uint64_t fhead, ftail;  /* fifo: pushed, written (counters) */
	uint64_t rtail;         /* ring: bytes written (counter) */
	uint64_t rhead_seen;    /* ring: bytes handed over, as of the wait */
	bool work_waiting, main_waiting;
	uint64_t want_free;     /* the caller's thread waits for this much room */
	uint64_t want_fifo;     /* ... and at most this many messages queued */
	bool stop;
	bool failed;            /* a message failed: the rest are skipped */
	char *ring;

	/* the publishing thread (--sync=batch, message): a full batch is
	 * synced, moved and its directories synced there while the writer
	 * thread writes the next one */
	pthread_t pth;
	bool pstarted;
	pthread_cond_t pwork, pdone;
	struct queued **pq;     /* the batch given */
	size_t pn, pcap;
	bool pbusy;             /* given and not finished */
	bool pgiven;            /* given and not yet told by the caller */
	int psync_err;          /* errno of its syncfs(2), or 0 */
	int pdir_err;           /* errno of its directory sync, or 0 */
	size_t pmoved;          /* the first so many were moved */
	struct queued **spare;  /* the array of the batch told last */
	size_t sparecap;
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

	struct queued **q;
	size_t nq, capq;
	uint64_t qbytes;
	bool link_only;        /* renameat2 unsupported here */
	mode_t file_mode;      /* from the maildir's mode and the umask */

	/* the writer thread: none on a single CPU (or when it cannot start) */
	bool threaded;          /* messages go through the writer thread */
	struct worker *wk;      /* started with the first message */
	uint64_t rhead;         /* ring: bytes put in (counter) */
	uint64_t rtail_seen;    /* ring: bytes written, as last seen */
	uint64_t msg_start;     /* ring: where the message in progress begins */
	bool building;          /* a message in progress in the ring */
	bool reported;          /* the writer thread's failure was reported */
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
	/* a thread to write with where there is a CPU for it (testhook.h:
	 * a counted write is always the caller's thread's) */
	w->threaded = sysconf(_SC_NPROCESSORS_ONLN) > 1 && !testhook_writes_counted();
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
		struct stat lst;
		if ((flags & O_NOFOLLOW) && (errno == ENOTDIR || errno == ELOOP) &&
		    lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
			report_error(EX_CANTCREAT, "%s: a symbolic link, not followed as root: "
			    "name the directory it points to", path);
			goto fail;
		}
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
	uidlist_lock_clear_stale(w->dfd, w->path);
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

/* ---- the writer thread -------------------------------------------------- */

/* The bytes of q in the ring: one or two pieces. */
static int
ring_iov(const struct worker *wk, const struct queued *q, struct iovec iov[2])
{
	size_t at = (size_t)(q->off % RING_CAP), n = (size_t)q->len;
	size_t first = n < RING_CAP - at ? n : RING_CAP - at;

	iov[0].iov_base = wk->ring + at;
	iov[0].iov_len = first;
	iov[1].iov_base = wk->ring;
	iov[1].iov_len = n - first;
	return n - first > 0 ? 2 : 1;
}

/* Steps 1 and 2 of the protocol for one message (and the move, with
 * SYNC_NONE), system calls only; the outcome in q->state. */
static void
work_one(struct maildir_writer *w, struct queued *q)
{
	struct iovec iov[2];
	int fd = -1;
	/* BASE.HOST.mailshift: another name is BASE_<n>.HOST.mailshift,
	 * still one the leftover cleaner knows as ours (statefile.c) */
	size_t sl = 1 + strlen(w->host) + strlen(TMP_SUFFIX);
	size_t pl = strlen(q->tmpname) - sl;

	for (unsigned tries = 0; fd == -1; tries++) {
		fd = openat(w->tmpfd, q->tmpname,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, w->file_mode);
		if (fd == -1 && (errno != EEXIST || tries == 99)) {
			q->call = CALL_CREATE;
			goto fail;
		}
		if (fd == -1)   /* a name of ours taken in tmp/: another one */
			snprintf(q->tmpname + pl, sl + TMP_SPARE, "_%u.%s" TMP_SUFFIX, tries, w->host);
	}
	q->call = CALL_WRITE;
	if (w->o.chown && fchown(fd, w->o.uid, w->o.gid) == -1)
		goto fail;
	if (testhook_async_write() == -1 || writev_all(fd, iov, ring_iov(w->wk, q, iov)) == -1)
		goto fail;
	if (q->mtime > 0) {
		struct timespec ts[2] = { { 0, UTIME_NOW }, { q->mtime, 0 } };
		if (futimens(fd, ts) == -1)
			goto fail;
	}
	if (w->o.sync == SYNC_MESSAGE && fsync(fd) == -1)
		goto fail;
	int c = close(fd);
	fd = -1;
	if (c == -1)
		goto fail;
	q->state = Q_DONE;
#ifdef HAVE_RENAMEAT2
	/* a name taken, or no renameat2 here: the caller's thread moves it
	 * with the batch (publish_one()); any other failure is this
	 * message's, as in publish_one() */
	if (w->o.sync == SYNC_NONE) {
		if (renameat2(w->tmpfd, q->tmpname, q->cur ? w->curfd : w->newfd, q->final,
		    RENAME_NOREPLACE) == 0) {
			q->moved = true;
		} else if (errno != EEXIST && errno != EINVAL && errno != ENOSYS) {
			q->err = errno;
			q->call = CALL_MOVE;
			unlinkat(w->tmpfd, q->tmpname, 0);
			q->state = Q_FAILED;
		}
	}
#endif
	return;
fail:
	q->err = errno;
	if (fd != -1) {
		close(fd);
		unlinkat(w->tmpfd, q->tmpname, 0);
	}
	q->state = Q_FAILED;
}

/* Is what the caller's thread waits for there? (under mu) */
static bool
main_may_go(const struct worker *wk)
{
	return RING_CAP - (wk->rhead_seen - wk->rtail) >= wk->want_free &&
	    wk->fhead - wk->ftail <= wk->want_fifo;
}

static void *
worker_main(void *arg)
{
	struct maildir_writer *w = arg;
	struct worker *wk = w->wk;

	pthread_mutex_lock(&wk->mu);
	for (;;) {
		while (wk->ftail == wk->fhead && !wk->stop) {
			wk->work_waiting = true;
			pthread_cond_wait(&wk->work, &wk->mu);
		}
		if (wk->ftail == wk->fhead)
			break;
		struct queued *q = wk->fifo[wk->ftail % FIFO_CAP];
		bool skip = wk->failed || wk->stop;
		pthread_mutex_unlock(&wk->mu);
		if (skip)
			q->state = Q_SKIPPED;
		else
			work_one(w, q);
		pthread_mutex_lock(&wk->mu);
		if (q->state == Q_FAILED)
			wk->failed = true;
		wk->ftail++;
		wk->rtail = q->off + q->len;
		if (wk->main_waiting && main_may_go(wk)) {
			wk->main_waiting = false;
			pthread_cond_signal(&wk->main);
		}
	}
	pthread_mutex_unlock(&wk->mu);
	return NULL;
}

/* Start the writer thread, with every signal blocked in it (they are the
 * caller's thread's to take). false when it cannot be had: the caller's
 * thread writes. */
static bool
worker_start(struct maildir_writer *w)
{
	struct worker *wk;

	/* one writer with threads at a time: the others (the folders of
	 * Gmail labels, hundreds of them) write from the caller's thread, so
	 * that memory and threads do not grow with their number */
	if (threads_in_use || (wk = calloc(1, sizeof *wk)) == NULL)
		return false;
	if ((wk->ring = malloc(RING_CAP)) == NULL) {
		free(wk);
		return false;
	}
	pthread_mutex_init(&wk->mu, NULL);
	pthread_cond_init(&wk->work, NULL);
	pthread_cond_init(&wk->main, NULL);
	pthread_cond_init(&wk->pwork, NULL);
	pthread_cond_init(&wk->pdone, NULL);
	w->wk = wk;
	if (thread_start(&wk->th, worker_main, w) == 0) {
		threads_in_use = true;
		return true;
	}
	pthread_mutex_destroy(&wk->mu);
	pthread_cond_destroy(&wk->work);
	pthread_cond_destroy(&wk->main);
	pthread_cond_destroy(&wk->pwork);
	pthread_cond_destroy(&wk->pdone);
	free(wk->ring);
	free(wk);
	w->wk = NULL;
	return false;
}

/* Wait until the ring has want_free bytes free and at most want_fifo
 * messages are queued. true when the writer thread has failed. */
static bool
worker_wait(struct maildir_writer *w, uint64_t want_free, uint64_t want_fifo)
{
	struct worker *wk = w->wk;

	pthread_mutex_lock(&wk->mu);
	if (wk->work_waiting && wk->fhead != wk->ftail) {
		wk->work_waiting = false;
		pthread_cond_signal(&wk->work);
	}
	wk->rhead_seen = w->rhead;
	wk->want_free = want_free;
	wk->want_fifo = want_fifo;
	while (!main_may_go(wk)) {
		wk->main_waiting = true;
		pthread_cond_wait(&wk->main, &wk->mu);
	}
	w->rtail_seen = wk->rtail;
	bool failed = wk->failed;
	pthread_mutex_unlock(&wk->mu);
	return failed;
}

/* Wait until the writer thread has done all it was given. true when it
 * has failed. */
static bool
worker_idle(struct maildir_writer *w)
{
	return w->wk ? worker_wait(w, 0, 0) : false;
}

static void queued_free(struct queued *q);

/* The publishing thread's work on a batch: system calls only. */
static void
publish_batch(struct maildir_writer *w, struct worker *wk)
{
	bool any_new = false, any_cur = false;
	size_t i = 0;

	wk->psync_err = wk->pdir_err = 0;
#ifdef HAVE_SYNCFS
	if (w->o.sync == SYNC_BATCH && syncfs(w->tmpfd) == -1) {
		wk->psync_err = errno;
		wk->pmoved = 0;
		return;
	}
#else
	if (w->o.sync == SYNC_BATCH)
		sync();
#endif
#ifdef HAVE_RENAMEAT2
	/* a name taken, or no renameat2 here: the caller's thread moves the
	 * rest (publish_one()) */
	for (; i < wk->pn && !w->link_only; i++) {
		struct queued *q = wk->pq[i];
		if (!q->moved && renameat2(w->tmpfd, q->tmpname, q->cur ? w->curfd : w->newfd,
		    q->final, RENAME_NOREPLACE) == -1)
			break;
		q->moved = true;
		if (q->cur)
			any_cur = true;
		else
			any_new = true;
	}
#endif
	wk->pmoved = i;
	if ((any_new && dir_sync(w->newfd) == -1) || (any_cur && dir_sync(w->curfd) == -1))
		wk->pdir_err = errno;
}

static void *
publisher_main(void *arg)
{
	struct maildir_writer *w = arg;
	struct worker *wk = w->wk;

	pthread_mutex_lock(&wk->mu);
	for (;;) {
		while (!wk->pbusy && !wk->stop)
			pthread_cond_wait(&wk->pwork, &wk->mu);
		if (!wk->pbusy)
			break;
		pthread_mutex_unlock(&wk->mu);
		publish_batch(w, wk);
		pthread_mutex_lock(&wk->mu);
		wk->pbusy = false;
		pthread_cond_signal(&wk->pdone);
	}
	pthread_mutex_unlock(&wk->mu);
	return NULL;
}

/* Tell the caller about a batch: published() for the first done, in order
 * (then flushed()); the tmp files of the others dropped after a failure. */
static void
batch_tell(struct maildir_writer *w, struct queued **q, size_t n, size_t done, int rc)
{
	for (size_t i = 0; i < n; i++) {
		if (i < done) {
			if (w->o.published)
				w->o.published(w->o.ctx, q[i]->cookie, q[i]->cur ? "cur" : "new", q[i]->final);
			testhook_message_done();
		} else if (rc == -1 && q[i]->state == Q_DONE && !q[i]->moved) {
			/* not published: drop the tmp copy, the source still has it */
			unlinkat(w->tmpfd, q[i]->tmpname, 0);
		}
		queued_free(q[i]);
	}
	if (rc == 0 && done > 0 && w->o.flushed)
		w->o.flushed(w->o.ctx);
}

static int publish_one(struct maildir_writer *w, struct queued *q);
static int worker_failed(struct maildir_writer *w);

/* The end of a batch, from q[done] on (what the publishing thread has not
 * moved): move each message to new/ or cur/, make the names durable (but
 * with --sync=none) and tell the caller. rc: -1 when the batch has already
 * failed (reported); dir_err: errno of a directory sync already made.
 * 0 or -1 (reported). */
static int
batch_finish(struct maildir_writer *w, struct queued **q, size_t n, size_t done, int rc,
    int dir_err)
{
	bool any_new = false, any_cur = false;

	for (; rc == 0 && done < n; done++) {
		if (q[done]->state != Q_DONE) {
			rc = worker_failed(w);
			break;
		}
		if (!q[done]->moved && publish_one(w, q[done]) == -1) {
			rc = -1;
			break;
		}
		q[done]->moved = true;
		if (q[done]->cur)
			any_cur = true;
		else
			any_new = true;
	}
	/* the new names must be durable before anyone is told; tmp/ need not
	 * be: a name left there by a power loss is our own leftover, removed
	 * on the next run, and its inode lives on under new/ or cur/ */
	if (w->o.sync != SYNC_NONE && dir_err == 0 &&
	    ((any_new && dir_sync(w->newfd) == -1) || (any_cur && dir_sync(w->curfd) == -1)))
		dir_err = errno;
	if (dir_err) {
		errno = dir_err;
		report_error_sys(EX_IOERR, "unable to sync the directories of %s", w->path);
		rc = -1;
		done = 0;   /* not durable: tell nobody */
	}
	batch_tell(w, q, n, done, rc);
	return rc;
}

/* Wait for the batch given to the publishing thread, finish what it left
 * (a name taken: moved here under another) and tell the caller. 0 or -1
 * (reported); 0 when there is none. */
static int
harvest(struct maildir_writer *w)
{
	struct worker *wk = w->wk;
	int rc;

	if (wk == NULL || !wk->pgiven)
		return 0;
	pthread_mutex_lock(&wk->mu);
	while (wk->pbusy)
		pthread_cond_wait(&wk->pdone, &wk->mu);
	pthread_mutex_unlock(&wk->mu);
	wk->pgiven = false;
	if (wk->psync_err) {
		errno = wk->psync_err;
		report_error_sys(EX_IOERR, "unable to sync %s", w->path);
		rc = batch_finish(w, wk->pq, wk->pn, 0, -1, 0);
	} else {
		rc = batch_finish(w, wk->pq, wk->pn, wk->pmoved, 0, wk->pdir_err);
	}
	free(wk->spare);
	wk->spare = wk->pq;
	wk->sparecap = wk->pcap;
	wk->pq = NULL;
	wk->pn = wk->pcap = 0;
	return rc;
}

/* Drop the batch in progress: its tmp files go, the source keeps it. */
static void
batch_drop(struct maildir_writer *w)
{
	worker_idle(w);
	batch_tell(w, w->q, w->nq, 0, -1);
	w->nq = 0;
	w->qbytes = 0;
}

/* A full batch (--sync=batch or message, with the writer thread): once the
 * writer thread has written it, it goes to the publishing thread, and the
 * caller goes on with the next; the batch before it is told now. */
static int
batch_handoff(struct maildir_writer *w)
{
	struct worker *wk = w->wk;

	bool failed = worker_idle(w);
	if (harvest(w) == -1) {
		batch_drop(w);
		return -1;
	}
	if (failed)             /* reported there, the messages before it kept */
		return maildir_writer_flush(w);
	if (!wk->pstarted) {
		wk->pstarted = thread_start(&wk->pth, publisher_main, w) == 0;
		if (!wk->pstarted)
			return maildir_writer_flush(w);
	}
	pthread_mutex_lock(&wk->mu);
	wk->pq = w->q;
	wk->pn = w->nq;
	wk->pcap = w->capq;
	wk->pbusy = wk->pgiven = true;
	pthread_cond_signal(&wk->pwork);
	pthread_mutex_unlock(&wk->mu);
	w->q = wk->spare;
	w->capq = wk->sparecap;
	wk->spare = NULL;
	wk->sparecap = 0;
	w->nq = 0;
	w->qbytes = 0;
	return 0;
}

/* Stop the writer thread once it is idle (what it was given is written or,
 * after a signal, skipped) and free it. */
static void
worker_stop(struct maildir_writer *w)
{
	struct worker *wk = w->wk;

	if (wk == NULL)
		return;
	pthread_mutex_lock(&wk->mu);
	wk->stop = true;
	pthread_cond_signal(&wk->work);
	pthread_cond_signal(&wk->pwork);
	pthread_mutex_unlock(&wk->mu);
	pthread_join(wk->th, NULL);
	if (wk->pstarted)
		pthread_join(wk->pth, NULL);
	/* a batch given and never told (an error, a signal): what was not
	 * moved goes; what was is found by its key on the next run */
	if (wk->pgiven)
		batch_tell(w, wk->pq, wk->pn, 0, -1);
	free(wk->pq);
	free(wk->spare);
	pthread_mutex_destroy(&wk->mu);
	pthread_cond_destroy(&wk->work);
	pthread_cond_destroy(&wk->main);
	pthread_cond_destroy(&wk->pwork);
	pthread_cond_destroy(&wk->pdone);
	free(wk->ring);
	free(wk);
	w->wk = NULL;
	threads_in_use = false;
}

/* Report the writer thread's failure, once: the first message that failed
 * in this batch. Always -1. */
static int
worker_failed(struct maildir_writer *w)
{
	if (w->reported)
		return -1;
	w->reported = true;
	for (size_t i = 0; i < w->nq; i++) {
		struct queued *q = w->q[i];
		if (q->state != Q_FAILED)
			continue;
		int st = report_status_for_write_errno(q->err);
		errno = q->err;
		switch (q->call) {
		case CALL_CREATE:
			report_error_sys(st, "unable to create %s/tmp/%s", w->path, q->tmpname);
			break;
		case CALL_MOVE:
			report_error_sys(st, "unable to move tmp/%s to %s/%s", q->tmpname,
			    q->cur ? "cur" : "new", q->final);
			break;
		case CALL_WRITE:
			report_error_sys(st, "unable to write %s/tmp/%s", w->path, q->tmpname);
			break;
		}
		errno = q->err;
		return -1;
	}
	report_error(EX_IOERR, "%s: a message could not be written", w->path);
	return -1;
}

/* Put n bytes of the message in progress into the ring, waiting for room. */
static int
ring_put(struct maildir_writer *w, const void *p, size_t n)
{
	if (RING_CAP - (w->rhead - w->rtail_seen) < n &&
	    worker_wait(w, n > RING_CAP / 2 ? n : RING_CAP / 2, FIFO_CAP)) {
		w->rhead = w->msg_start;
		w->building = false;
		return worker_failed(w);
	}
	size_t at = (size_t)(w->rhead % RING_CAP);
	size_t first = n < RING_CAP - at ? n : RING_CAP - at;
	memcpy(w->wk->ring + at, p, first);
	memcpy(w->wk->ring, (const char *)p + first, n - first);
	w->rhead += n;
	return 0;
}

/* Hand the message in progress over to the writer thread. */
static int
worker_push(struct maildir_writer *w, struct queued *q)
{
	struct worker *wk = w->wk;

	q->off = w->msg_start;
	q->len = w->rhead - w->msg_start;
	q->state = Q_SKIPPED;   /* until it is handed over */
	w->building = false;
	for (;;) {
		pthread_mutex_lock(&wk->mu);
		bool full = wk->fhead - wk->ftail == FIFO_CAP, failed = wk->failed;
		if (!full && !failed) {
			q->state = Q_WAITING;
			wk->fifo[wk->fhead++ % FIFO_CAP] = q;
			/* a sleeping writer thread is woken for a few messages
			 * at a time, not for each (and by worker_wait()) */
			if (wk->work_waiting && (wk->fhead - wk->ftail >= WAKE_MSGS ||
			    w->rhead - wk->rtail >= WAKE_BYTES)) {
				wk->work_waiting = false;
				pthread_cond_signal(&wk->work);
			}
		}
		pthread_mutex_unlock(&wk->mu);
		if (failed || (full && worker_wait(w, 0, FIFO_CAP / 2))) {
			w->rhead = w->msg_start;        /* never handed over */
			return worker_failed(w);
		}
		if (!full)
			return 0;
	}
}

/* The message in progress is too big for the ring: once the writer thread
 * is idle, it goes on as the caller's thread's own, with what the ring
 * holds of it written first. */
static int open_tmp(struct maildir_writer *w);
static void write_failed(struct maildir_writer *w);

static int
go_direct(struct maildir_writer *w)
{
	struct queued part = { .off = w->msg_start, .len = w->rhead - w->msg_start };
	struct iovec iov[2];

	bool failed = worker_idle(w);
	w->building = false;
	w->rhead = w->msg_start;
	if (failed)
		return worker_failed(w);
	if (open_tmp(w) == -1)
		return -1;
	if (writev_all(w->fd, iov, ring_iov(w->wk, &part, iov)) == -1) {
		write_failed(w);
		return -1;
	}
	return 0;
}

/* Step 1 in the caller's thread: create the tmp file. 0 or -1 (reported). */
static int
open_tmp(struct maildir_writer *w)
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
	return 0;
}

int
maildir_writer_begin(struct maildir_writer *w)
{
	w->size = w->vsize = 0;
	w->prev_cr = false;
	w->npend = 0;
	if (w->threaded && w->wk == NULL && !worker_start(w))
		w->threaded = false;
	if (!w->threaded)
		return open_tmp(w);
	if (w->building)        /* one begun and neither ended nor aborted */
		w->rhead = w->msg_start;
	w->msg_start = w->rhead;
	w->building = true;
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
	if (w->building) {
		if (w->rhead - w->msg_start + n <= MSG_MAX) {
			w->size += n;
			w->vsize += flags_vsize_add(p, n, &w->prev_cr);
			return ring_put(w, p, n);
		}
		if (go_direct(w) == -1)
			return -1;
	}
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

	if (w->building) {
		size_t tot = 0;
		for (int i = 0; i < iovcnt; i++)
			tot += iov[i].iov_len;
		if (w->rhead - w->msg_start + tot <= MSG_MAX) {
			for (int i = 0; i < iovcnt; i++) {
				w->size += iov[i].iov_len;
				w->vsize += flags_vsize_add(iov[i].iov_base, iov[i].iov_len, &w->prev_cr);
				if (ring_put(w, iov[i].iov_base, iov[i].iov_len) == -1)
					return -1;
			}
			return 0;
		}
		if (go_direct(w) == -1)
			return -1;
	}
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
	if (w->building) {
		w->rhead = w->msg_start;
		w->building = false;
	}
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

static void
queued_free(struct queued *q)
{
	free(q->tmpname);
	free(q->final);
	free(q);
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

	/* the batch before, with the publishing thread, first; then what
	 * the writer thread was given is written (or failed) */
	if (harvest(w) == -1) {
		batch_drop(w);
		return -1;
	}
	if (w->nq == 0)
		return 0;
	worker_idle(w);
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
	rc = batch_finish(w, w->q, w->nq, 0, rc, 0);
	w->nq = 0;
	w->qbytes = 0;
	return rc;
}

/* The file's name in new/ or cur/ for the message that ends, and the entry
 * that queues it for publishing. */
static struct queued *
queue_message(struct maildir_writer *w, const struct maildir_msginfo *mi, const char *tmpname)
{
	char info[128];

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
	struct queued *q = xcalloc(1, sizeof *q);
	size_t tl = strlen(tmpname);
	q->tmpname = xmalloc(tl + 1 + TMP_SPARE);
	memcpy(q->tmpname, tmpname, tl + 1);
	q->final = final_name(w, mi->key, info);
	q->cur = cur;
	q->cookie = mi->cookie;
	q->mtime = mi->mtime;
	q->state = Q_DONE;
	w->q[w->nq++] = q;
	w->qbytes += w->size;
	return q;
}

int
maildir_writer_end(struct maildir_writer *w, const struct maildir_msginfo *mi)
{
	struct timespec ts[2];

	if (w->building) {
		/* the writer thread makes the file: the names now */
		next_base(w);
		snprintf(w->tmpname, sizeof w->tmpname, "%s.%s" TMP_SUFFIX, w->base, w->host);
		struct queued *q = queue_message(w, mi, w->tmpname);
		w->tmpname[0] = '\0';
		if (worker_push(w, q) == -1)
			return -1;
		if (w->nq >= w->o.batch_messages || w->qbytes >= w->o.batch_bytes)
			return w->o.sync == SYNC_NONE ? maildir_writer_flush(w) : batch_handoff(w);
		return 0;
	}
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

	struct queued *q = queue_message(w, mi, w->tmpname);
	w->tmpname[0] = '\0';
	/* nothing to sync first: moved at once, so tmp/ holds one file at a
	 * time (a thousand names in it made each create and rename cost more);
	 * the caller is told with the batch, as after a sync */
	if (w->o.sync == SYNC_NONE) {
		if (publish_one(w, q) == -1) {
			w->nq--;
			w->qbytes -= w->size;
			unlinkat(w->tmpfd, q->tmpname, 0);
			queued_free(q);
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
	worker_stop(w);
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
	worker_stop(w);         /* after the file it is writing; the rest skipped */
	for (size_t i = 0; i < w->nq; i++) {
		if (w->tmpfd != -1 && w->q[i]->state == Q_DONE && !w->q[i]->moved)
			unlinkat(w->tmpfd, w->q[i]->tmpname, 0);
		queued_free(w->q[i]);
	}
	writer_free(w);
}
