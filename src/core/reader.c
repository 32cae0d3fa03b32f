/*
 * reader.c: the one reader every command uses (DESIGN §2 "the reader hides
 * the format").
 *
 * source_open() says what the argument is; an mbox (a file, stdin or a
 * compressed file) is handed to the mbox reader, a Maildir to the Maildir
 * reader, an empty file gives no message. Both hand out the same struct
 * message (message.h), so a command loop never asks which format it reads.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "maildir_reader.h"
#include "mbox_reader.h"
#include "reader.h"
#include "report.h"
#include "util.h"

struct reader {
	char *path;                     /* copy: the source keeps a pointer to it */
	struct source src;
	bool src_open;
	enum source_type type;
	struct mbox_reader *mbox;
	struct maildir_reader *maildir;
};

#define READER_ALLOW_DEFAULT \
	((1u << SOURCE_MBOX) | (1u << SOURCE_EMPTY) | (1u << SOURCE_MAILDIR))

int
reader_open(struct reader **r_r, const char *path, const struct reader_opts *opts)
{
	static const struct reader_opts defaults;
	struct reader *r = xcalloc(1, sizeof(*r));
	int st;

	*r_r = NULL;
	if (opts == NULL)
		opts = &defaults;
	r->path = xstrdup(path);
	st = source_open(&r->src, r->path, opts->allow ? opts->allow : READER_ALLOW_DEFAULT);
	if (st != 0) {
		free(r->path);
		free(r);
		return st;
	}
	r->src_open = true;
	r->type = r->src.type;
	switch (r->type) {
	case SOURCE_MAILDIR:
		source_close(&r->src);
		r->src_open = false;
		st = maildir_reader_open(&r->maildir, r->path, opts);
		break;
	case SOURCE_MBOX:
	case SOURCE_MMDF:
		r->mbox = mbox_reader_new(&r->src, &opts->mbox);
		if (r->mbox == NULL)
			st = EX_DATAERR;
		break;
	case SOURCE_EMPTY:
		break;
	}
	if (st != 0) {
		reader_close(r);
		return st;
	}
	*r_r = r;
	return 0;
}

int
reader_next(struct reader *r, struct message *m, enum reader_want want)
{
	if (r->maildir != NULL)
		return maildir_reader_next(r->maildir, m, want);
	if (r->mbox != NULL)
		return mbox_reader_next(r->mbox, m);
	return 0;
}

int
reader_body(struct reader *r, struct iovec *iov, int *iovcnt)
{
	if (r->maildir != NULL)
		return maildir_reader_body(r->maildir, iov, iovcnt);
	if (r->mbox != NULL)
		return mbox_reader_body(r->mbox, iov, iovcnt);
	*iovcnt = 0;
	return 0;
}

enum source_type
reader_type(const struct reader *r)
{
	return r->type;
}

const char *
reader_name(const struct reader *r)
{
	return r->maildir != NULL ? r->path : r->src.name;
}

struct source *
reader_source(struct reader *r)
{
	return r->src_open ? &r->src : NULL;
}

struct mbox_reader *
reader_mbox(struct reader *r)
{
	return r->mbox;
}

struct maildir_reader *
reader_maildir(struct reader *r)
{
	return r->maildir;
}

void
reader_close(struct reader *r)
{
	if (r == NULL)
		return;
	if (r->mbox != NULL)
		mbox_reader_free(r->mbox);
	if (r->maildir != NULL)
		maildir_reader_close(r->maildir);
	if (r->src_open)
		source_close(&r->src);
	free(r->path);
	free(r);
}
