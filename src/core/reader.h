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
 *
 * This is the only way the commands read mail: they never include
 * mbox_reader.h, maildir_reader.h or source.h. What is particular to one
 * format is asked of the reader and answers for the other too (an mbox's
 * counters are NULL for a maildir, a maildir's keyword names NULL for an
 * mbox). A locked mbox is read over the lock's descriptor
 * (reader_open_fd()), from any message's offset (opts.start).
 */
#ifndef MAILSHIFT_READER_H
#define MAILSHIFT_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
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
	off_t start;                   /* mbox: begin at this byte (a From_ line) */
};

/*
 * Folder tree walk (SPEC §1.8): yields INBOX ("" at the root) first, then
 * every folder in name order.
 *   Maildir++: top-level entries ".X" (not "." or "..", not starting
 *     with "..") that are real directories with cur/; name "X" (".Sent.2002"
 *     gives "Sent.2002"). Other '.' directories are MDE_BROKEN_FOLDER.
 *   fs layout (Dovecot LAYOUT=fs): real subdirectories (not cur, new, tmp,
 *     not starting with '.', not Courier's courierimap* directories), at any
 *     depth, that have cur/; name "foo/baz". Directories without cur/ are
 *     walked through but not yielded.
 * Symlinks are never followed; extra files (maildirsize, dovecot-*, ...)
 * are never folders.
 */
enum maildir_layout {
	MAILDIR_LAYOUT_MAILDIRPP = 1u << 0,
	MAILDIR_LAYOUT_FS        = 1u << 1,
};
struct maildir_folder {
	const char *name;               /* "" = INBOX */
	const char *path;               /* root path + "/" + directory */
	enum maildir_layout layout;     /* how it was found (INBOX: MAILDIRPP) */
};
struct maildir_walk;

/* layouts: mask of MAILDIR_LAYOUT_*. Returns NULL after reporting (66). */
struct maildir_walk *maildir_walk_open(const char *root, unsigned layouts,
                                       maildir_event_fn on_event, void *event_arg);
/* 1 and *f_r (valid until close), 0 at the end. */
int maildir_walk_next(struct maildir_walk *w, const struct maildir_folder **f_r);
void maildir_walk_close(struct maildir_walk *w);

/* Read a dovecot-keywords file below dirfd into names[26] (malloc'd, NULL
 * where unset). 0, or -1 with errno (ENOENT when there is no file). */
int maildir_keywords_read(int dirfd, char *names[26]);
void maildir_keywords_free(char *names[26]);

struct reader;
struct maildir_reader;
struct stat;

/*
 * Open a mailbox argument. Returns 0 and *r_r, or the DESIGN §4 status
 * (66 cannot open, 65 not a mailbox, 74 I/O) after reporting one line.
 * opts may be NULL (defaults).
 */
int reader_open(struct reader **r_r, const char *path, const struct reader_opts *opts);

/*
 * The same over an mbox descriptor the caller holds open and locked (a
 * locked mailbox is never opened twice, SPEC §2.11); the descriptor is
 * duplicated, name is for messages.
 */
int reader_open_fd(struct reader **r_r, int fd, const char *name, const struct reader_opts *opts);

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
/* "maildir", "empty", or the mbox variant read ("mboxrd"...). */
const char *reader_variant_name(const struct reader *r);
/* The compression of the source file ("gzip"...), or NULL. */
const char *reader_compression(const struct reader *r);
/* An empty source that held empty lines (worth a warning). */
bool reader_only_blank_lines(const struct reader *r);
/* Bytes read so far and the source's size (0 when unknown): progress. */
void reader_progress(const struct reader *r, const struct message *m, uint64_t *done,
    uint64_t *total);
/* The current message's size in bytes (after the body was read). */
int64_t reader_message_size(const struct reader *r, const struct message *m);
/* An mbox's quoting variant as read (after AUTO detection). */
enum mbox_variant reader_mbox_variant(const struct reader *r);
/* Offset just past the current mbox message's separator (after its body
 * was read); 0 for a maildir. */
off_t reader_message_end(const struct reader *r);
/* Byte offset of the current message in an mbox (0 for a maildir). */
off_t reader_message_offset(const struct reader *r);
/* Live mbox reading (mbox_reader.h): rewritten in place under us, or the
 * last message held back; both false for a maildir. */
bool reader_rewritten(const struct reader *r);
bool reader_held_back(const struct reader *r);
/* An mbox's folder-internal pseudo message's header (after the first
 * message); false when none. */
bool reader_pseudo_header(const struct reader *r, const char **hdr_r, size_t *len_r);
/* An mbox's counters (pseudo messages, unquoted From lines...); NULL for a
 * maildir or an empty file. */
const struct mbox_counters *reader_counters(const struct reader *r);
/* The warnings the reading found in the source (said unless quiet): an
 * mbox's unquoted From lines, missing separators, Content-Lengths passed
 * over, empty messages; a maildir's names that are no message, files
 * under two names, messages gone, missing new/ or tmp/. */
uint64_t reader_warnings(const struct reader *r);
/* A maildir's keyword name for letter c ('a'..'z'), or NULL. */
const char *reader_keyword_name(struct reader *r, char c);
/* A maildir message's stat (made now when the read made none); NULL for
 * an mbox or when it failed. */
const struct stat *reader_stat(struct reader *r);
/* Maildir files that could not be read (reported, skipped); 0 for an mbox. */
uint64_t reader_unreadable(const struct reader *r);
/* A maildir's directory descriptor, or -1. */
int reader_dirfd(const struct reader *r);
/* True when path names a Maildir (source_is_maildir()). */
bool reader_is_maildir(const char *path);
/* What the file at path holds, by its first bytes: an mbox (a From_ line
 * after any empty lines, or nothing), a compressed file or an archive that
 * reader_open() decompresses, or something else (source_path_kind()). */
enum reader_path_kind { READER_PATH_OTHER, READER_PATH_MBOX, READER_PATH_COMPRESSED };
enum reader_path_kind reader_path_kind(const char *path);
const char *reader_name(const struct reader *r);        /* for messages: path or "<stdin>" */

void reader_close(struct reader *r);

#endif
