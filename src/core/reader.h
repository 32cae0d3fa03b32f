/*
 * reader.h: one reader for every command (DESIGN §2 "the reader hides the
 * format").
 *
 * reader_open() classifies its argument with source_open() (a path, or "-"
 * for stdin; compressed files are decompressed) and wraps the mbox reader
 * (mbox_reader.h) or the Maildir reader (maildir_reader.h). A command then
 * loops:
 *
 *	struct reader *r;
 *	struct message m;
 *	if ((st = reader_open(&r, path, &opts)) != 0)
 *		return st;                      // already reported
 *	while ((rc = reader_next(r, &m, READER_WANT_FULL)) == 1) {
 *		... m.header / m.header_len ...
 *		while ((rc = reader_body(r, iov, &n)) == 1)
 *			... n iovecs ...
 *	}
 *	reader_close(r);
 *
 * `want` says how much a command needs, so a Maildir is read no more than
 * that: READER_WANT_NAME opens no file (location, flags and the ,S= size
 * from the name only), READER_WANT_STAT adds one lstat (size, mtime),
 * READER_WANT_HEADER opens the file and reads up to the end of the header
 * (open, read, close, no fstat: the size only from ,S= and no env_time;
 * maildir_reader_stat() makes the fstat for a message that needs them),
 * READER_WANT_FULL also makes reader_body() available (with size and mtime). An mbox is a stream:
 * it always hands out the header view, and reader_body() works at every
 * level. Views (header, iovecs, names) stay valid until the next call.
 */
#ifndef MAILSHIFT_READER_H
#define MAILSHIFT_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "message.h"
#include "mbox_reader.h"
#include "source.h"

enum reader_want {
	READER_WANT_NAME = 0,   /* maildir: no syscall per message beyond readdir */
	READER_WANT_STAT,       /* + lstat: size (,S= first), env_time = mtime */
	READER_WANT_HEADER,     /* header view (file opened, read to the empty line), no stat */
	READER_WANT_FULL,       /* + body through reader_body() */
};

/* Maildir message order (mbox order is always file order). */
enum reader_sort {
	READER_SORT_DELIVERY = 0, /* leading seconds, then M microseconds, then
	                           * the rest of the name; new/ and cur/ merged
	                           * (Dovecot's maildir_filename_sort_cmp) */
	READER_SORT_DATE,         /* file mtime, then as DELIVERY */
	READER_SORT_NAME,         /* file name bytes, then new/ before cur/ */
	READER_SORT_NONE,         /* readdir order: new/ then cur/, streamed */
};
/* "delivery", "date", "name", "none" -> value; -1 when unknown. */
int reader_sort_parse(const char *s);
const char *reader_sort_name(enum reader_sort s);

/*
 * Things a Maildir reader notices (SPEC §5 M1-M4, M8, M12, M13) and the
 * folder walk (§1.8). `path` is the entry, `other` the second name for
 * the duplicate events (else NULL), `err` an errno or 0.
 */
enum maildir_event {
	MDE_DOT_NAME,        /* name starting with '.' in new/ or cur/: skipped */
	MDE_NOT_REGULAR,     /* directory, FIFO, socket, device: never opened */
	MDE_SYMLINK,         /* symbolic link: never followed */
	MDE_DUP_UNIQ,        /* two files (different inodes) share a unique part */
	MDE_DUP_INODE,       /* the same inode under two names: handed out once */
	MDE_VANISHED,        /* gone between listing and opening (ENOENT) */
	MDE_UNREADABLE,      /* open/read/stat failed (err) */
	MDE_EMPTY,           /* zero-length file (still a message) */
	MDE_MISSING_SUBDIR,  /* new/, cur/ or tmp/ missing (path names it) */
	MDE_BROKEN_FOLDER,   /* walk: a '.' entry that is not a maildir folder */
};
const char *maildir_event_name(enum maildir_event ev);   /* "dot-name", ... */
typedef void (*maildir_event_fn)(void *arg, enum maildir_event ev,
                                 const char *path, const char *other, int err);

struct reader_opts {
	struct mbox_reader_opts mbox;  /* for mbox input */
	unsigned allow;                /* (1 << SOURCE_*) mask for source_open;
	                                * 0 = mbox, empty and maildir */
	enum reader_sort sort;         /* maildir order */
	size_t bufsize;                /* maildir body buffer; 0 = 64 KiB */
	const char *folder;            /* maildir: folder name for messages ("" = INBOX) */
	maildir_event_fn on_event;     /* NULL: report_warn() each event unless quiet */
	void *event_arg;
	bool quiet;
};

struct reader;
struct maildir_reader;

/*
 * Open a mailbox argument. Returns 0 and *r_r, or the DESIGN §4 status
 * (66 cannot open, 65 not a mailbox, 74 I/O) after reporting one line.
 * opts may be NULL (defaults).
 */
int reader_open(struct reader **r_r, const char *path, const struct reader_opts *opts);

/* Next message: 1 and *m filled, 0 at the end, -1 on an error that ends
 * the mailbox (reported). A maildir file that cannot be read is reported
 * and skipped, not an end. */
int reader_next(struct reader *r, struct message *m, enum reader_want want);

/*
 * The rest of the current message after its header view, in order: fills
 * up to *iovcnt iovecs and sets *iovcnt. Returns 1 while there is data, 0
 * when the message is complete (nothing filled), -1 on error (reported).
 * Header view + all iovecs = the message's bytes exactly.
 */
int reader_body(struct reader *r, struct iovec *iov, int *iovcnt);

enum source_type reader_type(const struct reader *r);   /* SOURCE_MBOX, SOURCE_MAILDIR... */
const char *reader_name(const struct reader *r);        /* for messages: path or "<stdin>" */
struct source *reader_source(struct reader *r);         /* NULL for a maildir */
struct mbox_reader *reader_mbox(struct reader *r);      /* NULL unless an mbox */
struct maildir_reader *reader_maildir(struct reader *r);/* NULL unless a maildir */

void reader_close(struct reader *r);

#endif
