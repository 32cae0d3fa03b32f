/*
 * message.h: the one message record every reader hands out (DESIGN §2).
 *
 * A command never knows whether a message came from an mbox offset or a
 * maildir file except through the location fields and the flags. The header
 * block is one contiguous view (bytes up to and including the empty line
 * that ends it, at most READER_HEADER_MAX bytes); everything after the view
 * comes from the reader's body function in chunks. Views stay valid until
 * the next call to the reader.
 */
#ifndef MAILSHIFT_MESSAGE_H
#define MAILSHIFT_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Maildir flag letters D F P R S T as bits (SPEC §1.5). */
enum {
	MF_DRAFT    = 1u << 0,  /* D */
	MF_FLAGGED  = 1u << 1,  /* F */
	MF_PASSED   = 1u << 2,  /* P */
	MF_REPLIED  = 1u << 3,  /* R */
	MF_SEEN     = 1u << 4,  /* S */
	MF_TRASHED  = 1u << 5,  /* T */
};
#define MF_ALL (MF_DRAFT | MF_FLAGGED | MF_PASSED | MF_REPLIED | MF_SEEN | MF_TRASHED)

/* The largest header block handed out as one view; longer header blocks
 * continue in the body chunks (header_complete is then false). */
#define READER_HEADER_MAX (1024 * 1024)

enum message_origin { ORIGIN_MBOX, ORIGIN_MAILDIR };

struct message {
	enum message_origin origin;
	size_t index;               /* 0-based position in its mailbox */
	const char *mailbox;        /* the mailbox path as given */

	/* mbox location */
	off_t offset;               /* offset of the From_ line (-1: maildir) */
	const char *from_line;      /* raw From_ line including its [CR]LF */
	size_t from_line_len;
	bool from_date_ok;          /* the From_ line's date parsed */

	/* maildir location */
	const char *folder;         /* Maildir++ folder ("" = INBOX) */
	const char *subdir;         /* "new" or "cur" */
	const char *filename;       /* base name, info included */
	const char *path;           /* path of the file, for messages */

	/* envelope */
	const char *env_sender;     /* From_ sender (not NUL-terminated) */
	size_t env_sender_len;
	time_t env_time;            /* From_ date or file mtime */
	bool env_time_ok;

	/* content */
	const char *header;         /* header block view */
	size_t header_len;
	bool header_complete;       /* the view ends with the empty line */
	int64_t size;               /* content bytes when known, else -1 */

	/* flags (maildir: from the name; mbox: left 0, see flags.h) */
	uint32_t flags;             /* MF_* */
	uint32_t keywords;          /* maildir keyword letters a..z as bits */
	bool in_cur;                /* maildir: lives in cur/ (seen by a reader) */
	const char *info;           /* maildir info after the last ':' or NULL */
};

#endif
