/*
 * mbox_reader.h: the mbox family reader (SPEC §2.2-2.9, algorithm §2.5).
 *
 * A stream: read(2)/pread(2) into one large buffer, boundaries found without
 * copying. mbox_reader_next() hands out a message's From_ line and header
 * block as views; mbox_reader_body() then hands out the rest of the message
 * as iovecs into the buffer, with the mboxrd quote byte skipped (no copy)
 * and the separating empty line removed. Memory is the buffer, whatever
 * the size of the mailbox or of one message.
 */
#ifndef MAILSHIFT_MBOX_READER_H
#define MAILSHIFT_MBOX_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "message.h"
#include "source.h"

enum mbox_variant {
	MBOX_AUTO = 0,  /* decide per file (SPEC §2.3 ▶) */
	MBOX_MBOXO,
	MBOX_MBOXRD,
	MBOX_MBOXCL,
	MBOX_MBOXCL2,
};
const char *mbox_variant_name(enum mbox_variant v);
/* "mboxrd" -> MBOX_MBOXRD; -1 when unknown. */
int mbox_variant_parse(const char *s);

struct mbox_lock;

/*
 * What the reader notices on its way through a mailbox (SPEC §5 X1-X21),
 * each at the byte offset that shows it, through opts.on_anomaly. The
 * boundaries do not depend on the callback: it only tells, and check turns
 * what it is told into findings. Probe readers (the mboxcl2 pre-scan) tell
 * nothing; quiet does not silence the callback.
 */
enum mbox_anomaly_kind {
	MBOX_ANOMALY_LEADING,       /* bytes before the first From_ line (opts.skip_leading):
	                             * offset their start, value the From_ line's offset */
	MBOX_ANOMALY_UNQUOTED_FROM, /* a body line "From " that is no From_ line: its offset */
	MBOX_ANOMALY_MISSING_SEPARATOR, /* a From_ line without an empty line before it: its
	                             * offset, value 1 when it ends in CR LF, else 0 */
	MBOX_ANOMALY_HEADER_CUT,    /* a From_ line inside a header, which has no end (X21) */
	MBOX_ANOMALY_CONTENT_LENGTH,/* Content-Length does not land on a boundary: offset the
	                             * message's, value the length its body needs once its
	                             * unquoted From lines are quoted and its last line ended,
	                             * value2 the body's bytes, declared and span below */
	MBOX_ANOMALY_NO_FINAL_NEWLINE, /* the file does not end with LF: offset its size */
	MBOX_ANOMALY_MIXED_EOL,     /* the first From_ line or header end whose line end (CR LF
	                             * or LF) differs from the first one's: its offset */
	MBOX_ANOMALY_FROM_DATE,     /* a message starts at a From_ line whose date does not
	                             * parse (only the first line of a file can) */
	MBOX_ANOMALY_STAMP,         /* "From " or ">From " at the top of a header (X19) */
	MBOX_ANOMALY_EMPTY_MESSAGE, /* a message of no bytes: offset the message's */
};

struct mbox_anomaly {
	enum mbox_anomaly_kind kind;
	off_t offset;
	long long value, value2;    /* -1 unless the kind says */
	long long declared;         /* CONTENT_LENGTH: the digits of the first field */
	off_t span_start, span_end; /* CONTENT_LENGTH: the first field's value, after
	                             * the colon up to the line end; else -1 */
};
typedef void (*mbox_anomaly_fn)(void *arg, const struct mbox_anomaly *a);

struct mbox_reader_opts {
	enum mbox_variant variant;  /* input quoting; AUTO detects */
	bool keep_pseudo;           /* hand out the UW pseudo message too */
	size_t bufsize;             /* 0 = default (4 MiB) */
	bool quiet;                 /* do not print per-message warnings */
	struct mbox_lock *live;     /* a live mailbox: see below */
	mbox_anomaly_fn on_anomaly; /* told of every anomaly (above), or NULL */
	void *anomaly_arg;
	/* Bytes before the first From_ line are skipped up to the first valid
	 * From_ line (an anomaly) instead of refused; a file without one, or
	 * with CR-only line ends, is refused as "not an mbox" (check). */
	bool skip_leading;
};

/*
 * Reading a mailbox that deliveries and mail readers keep changing
 * (opts.live: the source's MBOX_LOCK_SHARED locks, opened and yielded by
 * the caller; seekable files only). Every read of the file, one buffer
 * (4 MiB) at a time, happens between mbox_lock_retake() and
 * mbox_lock_yield(): a writer waits at most for one read, and the bytes of
 * one read are never a writer's half-finished work. Between reads the
 * file may grow (a delivery: the end of file, read under the locks, is
 * taken as the new limit, so new messages are read too) or be rewritten in
 * place (an expunge or a flag change by mutt, UW or Dovecot). So before
 * each read the file is compared with what the last read left: when its
 * size or change time moved, the last 4 KiB read before the resume offset
 * must still be the same bytes (XXH3-64), else the reader stops with
 * mbox_reader_rewritten() true and the caller starts again from the start
 * (reporting nothing: it is not an error).
 * When the dotlock could not be taken (lk->no_dotlock), a program that
 * locks with the dotlock alone could still be appending to the last
 * message: a last message that does not end with the empty line every
 * writer puts after a message, in a file changed during the last 5
 * minutes, is held back: the reader stops before handing out its end and
 * mbox_reader_held_back() is true (the caller reports it).
 */

/* What the reader saw, for summaries and for check. */
struct mbox_counters {
	size_t messages;          /* handed out */
	size_t pseudo;            /* UW pseudo messages skipped */
	size_t unquoted_from;     /* body lines starting "From " that are not From_ lines */
	size_t missing_separator; /* boundary without a preceding empty line */
	size_t cl_used;           /* Content-Length honoured */
	size_t cl_ignored;        /* Content-Length present but not landing on a boundary */
	size_t cl_unverified;     /* non-seekable input, body beyond the buffer */
	size_t protected_from;    /* lines starting "From " in bodies a Content-Length kept */
	size_t empty_messages;
	size_t stamps;            /* From / >From lines at the top of a header (X19) */
	size_t no_header_end;     /* messages without an empty line after the header */
	size_t unquoted_lines;    /* quote bytes removed */
	size_t crlf_lines, lf_lines;  /* line ends seen at From_ lines and header ends */
	bool no_final_newline;
	off_t first_unquoted_from;   /* offset of the first unquoted From (or -1) */
	off_t first_missing_separator;
	off_t first_cl_ignored;
};

struct mbox_reader;

struct mbox_reader *mbox_reader_new(struct source *src, const struct mbox_reader_opts *opts);

/*
 * Next message: 1 and *m filled (origin, index, mailbox, offset, from_line,
 * envelope, header view); 0 at end of mailbox; -1 on error, reported with
 * the file and offset (status 65 for a corrupt mailbox, 74 for I/O).
 * Any part of the previous message's body not yet read is skipped.
 */
int mbox_reader_next(struct mbox_reader *r, struct message *m);

/*
 * Content after the header view, in order: fills up to *iovcnt iovecs and
 * sets *iovcnt to the number filled. Returns 1 while there is data, 0 when
 * the message is complete (nothing filled), -1 on error (reported).
 * Concatenating header view + all iovecs gives the message exactly.
 */
int mbox_reader_body(struct mbox_reader *r, struct iovec *iov, int *iovcnt);

/* Bytes of the current message handed out so far (header view + body). */
int64_t mbox_reader_message_size(const struct mbox_reader *r);
/* File offset of the current message's From_ line. */
off_t mbox_reader_message_offset(const struct mbox_reader *r);
/* Offset just past the current message's separator (after body is read). */
off_t mbox_reader_message_end(const struct mbox_reader *r);

const struct mbox_counters *mbox_reader_counters(const struct mbox_reader *r);
/* After a call returned -1: the status of the error it reported (65 a
 * corrupt mailbox, 74 I/O), 0 when it was not an error (rewritten, held
 * back). */
int mbox_reader_status(const struct mbox_reader *r);
/* Live reading (see above): the file was rewritten under us; the last
 * message was held back (its offset is the message's). */
bool mbox_reader_rewritten(const struct mbox_reader *r);
bool mbox_reader_held_back(const struct mbox_reader *r);
/* The variant used for this file (after AUTO detection). */
enum mbox_variant mbox_reader_variant(const struct mbox_reader *r);
/* The header block of the UW pseudo message skipped at the start (SPEC
 * §2.9), for its X-IMAP folder data: true once mbox_reader_next() has
 * passed it; the view lives until mbox_reader_free(). */
bool mbox_reader_pseudo_header(const struct mbox_reader *r, const char **hdr_r, size_t *len_r);
void mbox_reader_free(struct mbox_reader *r);

#endif
