/*
 * maildir_writer.h: the qmail delivery protocol with batched durability
 * (SPEC §1.2, §1.3; DESIGN §6; STYLE.md "Writing a Maildir message").
 *
 * begin -> write... -> end puts a message in tmp/ (O_EXCL|O_NOFOLLOW,
 * relative to the tmp/ directory fd) with its mtime set; it is published
 * into new/ or cur/ (link()+unlink(), or renameat2(RENAME_NOREPLACE); never a
 * plain rename() over a name) only when the batch is flushed: files synced
 * (one syncfs(2) for the batch, or fsync per file with SYNC_MESSAGE), then
 * moved, then new/ and cur/ synced. A message counts as delivered only
 * after the flush that published it; the source may be changed only then.
 * With SYNC_NONE there is nothing to sync first: each file is moved as it
 * ends, and the caller is told with the batch all the same.
 */
#ifndef MAILSHIFT_MAILDIR_WRITER_H
#define MAILSHIFT_MAILDIR_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

enum sync_mode { SYNC_BATCH = 0, SYNC_MESSAGE, SYNC_NONE };
/* "batch" -> SYNC_BATCH ...; -1 when unknown. */
int sync_mode_parse(const char *s);

struct maildir_writer_opts {
	enum sync_mode sync;
	size_t batch_messages;      /* flush after this many (0 = 1000) */
	uint64_t batch_bytes;       /* or this many bytes (0 = 64 MiB) */
	bool create;                /* create the maildir (and parents' last component) */
	bool chown;                 /* chown what we create to uid:gid */
	uid_t uid;
	gid_t gid;
	int lock_timeout;           /* seconds to wait for dovecot-uidlist.lock */
	/* Called for each message once it is durably published (after the
	 * flush), in delivery order, with the cookie given to end(). */
	void (*published)(void *ctx, uint64_t cookie, const char *subdir, const char *name);
	/* Called once a flush has published messages, after the last
	 * published() of the batch (the caller's own records of the batch). */
	void (*flushed)(void *ctx);
	void *ctx;
};

struct maildir_writer;

/* Open (and with opts->create, create) a maildir. Returns NULL after
 * reporting (status 73 cannot create, 74 I/O). */
struct maildir_writer *maildir_writer_open(const char *path, const struct maildir_writer_opts *opts);

/* Start a message in tmp/. 0 or -1 (reported, status remembered). */
int maildir_writer_begin(struct maildir_writer *w);
int maildir_writer_write(struct maildir_writer *w, const void *p, size_t n);
int maildir_writer_writev(struct maildir_writer *w, const struct iovec *iov, int iovcnt);

struct maildir_msginfo {
	uint32_t flags;             /* MF_* */
	uint32_t keywords;          /* letters a..z as bits */
	const char *extra_info;     /* unknown info letters to keep, or NULL */
	bool cur;                   /* publish in cur/ (forced when any flag) */
	time_t mtime;               /* arrival date; 0 = leave as is */
	const char *key;            /* idempotency key to embed in the name, or NULL */
	uint64_t cookie;            /* handed back to opts->published */
};
/* Finish the tmp file (close, set mtime) and queue it for publishing.
 * Flushes when the batch is full. 0 or -1 (reported). */
int maildir_writer_end(struct maildir_writer *w, const struct maildir_msginfo *mi);
/* Drop the message in progress (unlink the tmp file). */
void maildir_writer_abort(struct maildir_writer *w);
/* Make everything queued durable and published. 0 or -1 (reported). */
int maildir_writer_flush(struct maildir_writer *w);
/* Flush and close; returns 0 or -1. */
int maildir_writer_close(struct maildir_writer *w);
/* Close after an error or signal: unlink tmp files not yet published. */
void maildir_writer_discard(struct maildir_writer *w);

/*
 * Letter index (0 = 'a' .. 25 = 'z') of a keyword in this maildir's
 * dovecot-keywords, assigning a free index to a new name (existing indexes
 * are reused, never renumbered). A name not yet known is looked up again
 * in the file as it is now, under dovecot-uidlist.lock, and a new index is
 * written to the file before the lock is released (Dovecot may add
 * keywords while we run). -1 when all 26 are taken (SPEC §5 W2), -3 when
 * the lock or the file could not be had (reported).
 */
int maildir_writer_keyword(struct maildir_writer *w, const char *name, size_t len);
const char *maildir_writer_keyword_name(const struct maildir_writer *w, int idx);

/* Directory fd of the maildir (for keyword files and scans). */
int maildir_writer_dirfd(const struct maildir_writer *w);

/* maildir_hostname(), the host part of unique names, is in statefile.h */
#include "statefile.h"

#endif
