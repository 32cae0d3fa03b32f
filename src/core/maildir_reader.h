/*
 * maildir_reader.h: read one Maildir and walk a Maildir++ / fs-layout tree
 * (SPEC §1.1-1.8, §1.10-1.12, §5 M1-M13).
 *
 * The reader lists new/ and cur/ of one maildir (dot names skipped and
 * counted, non-regular entries and symlinks counted and never opened), and
 * hands out each message as a struct message: location, flags, keywords and
 * info from the name (flags.h maildir_name_parse), size from ",S=" else
 * from the file, env_time = mtime. Files are opened only when the caller
 * asks for the header or the body (reader.h enum reader_want), with
 * openat(O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC) below the new/ or cur/
 * directory fd and fstat() to confirm a regular file. The header block is
 * one view (at most READER_HEADER_MAX bytes); the body comes in chunks of
 * one fixed buffer, so memory does not grow with the size of a message.
 *
 * Sorted orders hold the list of names (one arena); READER_SORT_NONE
 * streams readdir() and keeps only a 16-byte record per message for the
 * duplicate check (SPEC §5 M4). The same unique part twice is reported
 * (MDE_DUP_UNIQ, both names); the same inode twice is a message caught
 * mid-rename and is handed out once (MDE_DUP_INODE).
 */
#ifndef MAILSHIFT_MAILDIR_READER_H
#define MAILSHIFT_MAILDIR_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "flags.h"
#include "message.h"
#include "reader.h"

struct maildir_counters {
	size_t messages;        /* handed out */
	size_t dot_names;       /* MDE_DOT_NAME */
	size_t not_regular;     /* MDE_NOT_REGULAR */
	size_t symlinks;        /* MDE_SYMLINK */
	size_t dup_uniq;        /* MDE_DUP_UNIQ */
	size_t dup_inode;       /* MDE_DUP_INODE (not handed out) */
	size_t vanished;        /* MDE_VANISHED */
	size_t unreadable;      /* MDE_UNREADABLE */
	size_t empty;           /* MDE_EMPTY */
	size_t info_in_new;     /* names in new/ with an info part (SPEC §1.6) */
	size_t name_anomalies;  /* names with any MN_* anomaly */
	size_t no_header_end;   /* header without an empty line (or longer than the view) */
	bool missing_new, missing_cur, missing_tmp;
};

struct maildir_reader;

/*
 * Open the maildir at path (cur/ must be a real directory; a missing new/
 * or tmp/ is an MDE_MISSING_SUBDIR event). opts may be NULL; opts->folder
 * names the folder in messages. Returns 0 and *r_r, or 66 after reporting
 * (not a maildir, cannot open).
 */
int maildir_reader_open(struct maildir_reader **r_r, const char *path,
                        const struct reader_opts *opts);

/* Same contract as reader_next() / reader_body() (reader.h). */
int maildir_reader_next(struct maildir_reader *r, struct message *m, enum reader_want want);
int maildir_reader_body(struct maildir_reader *r, struct iovec *iov, int *iovcnt);

/* The parsed name of the current message. */
const struct maildir_name *maildir_reader_name(const struct maildir_reader *r);
/* lstat/fstat of the current message, or NULL when there is none. After
 * READER_WANT_HEADER, which opens the file without fstat(), the first call
 * makes it (size and mtime of the messages whose figures need them). */
const struct stat *maildir_reader_stat(struct maildir_reader *r);
const struct maildir_counters *maildir_reader_counters(const struct maildir_reader *r);
/* The body buffer (for tests: every body iovec after the first lies in it). */
void maildir_reader_buffer(const struct maildir_reader *r, const char **buf_r, size_t *len_r);
/* Directory fd of the maildir (for check: tmp/, maildirsize...). */
int maildir_reader_dirfd(const struct maildir_reader *r);

/*
 * Keyword name of a letter 'a'..'z' from the maildir's dovecot-keywords
 * (SPEC §1.10: index 0 is 'a'), or NULL when the letter has no name.
 */
const char *maildir_reader_keyword(const struct maildir_reader *r, char letter);

void maildir_reader_close(struct maildir_reader *r);

/* Delivery order of two file names (READER_SORT_DELIVERY); <0, 0, >0. */
int maildir_name_cmp_delivery(const char *a, const char *b);

/* The folder walk (maildir_walk_*) is declared in reader.h. */

/* True for the names SPEC §1.1/§1.11 reserves (maildirsize, maildirfolder,
 * dovecot-uidlist, dovecot-keywords, dovecot.index*, dovecot.list.index*,
 * subscriptions, courierimap*): never a message, never a folder. */
bool maildir_is_extra_file(const char *name);

#endif
