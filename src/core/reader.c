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

/* The readers over an open source. */
static int
reader_start(struct reader *r, const struct reader_opts *opts)
{
	int st = 0;

	r->src_open = true;
	r->type = r->src.type;
	switch (r->type) {
	case SOURCE_MAILDIR:
		source_close(&r->src);
		r->src_open = false;
		st = maildir_reader_open(&r->maildir, r->path, opts);
		break;
	case SOURCE_MBOX:
	case SOURCE_MMDF: {
		/* a live mailbox is read in turns only when it can be read
		 * again from where a turn ended (not compressed, not a pipe) */
		struct mbox_reader_opts mo = opts->mbox;
		if (opts->start > 0 && source_skip(&r->src, opts->start) == -1) {
			report_error_sys(EX_IOERR, "%s:%lld: unable to read up to here", r->src.name,
			    (long long)opts->start);
			st = EX_IOERR;
			break;
		}
		if (!r->src.seekable)
			mo.live = NULL;
		r->mbox = mbox_reader_new(&r->src, &mo);
		if (r->mbox == NULL)
			st = EX_DATAERR;
		break;
	}
	case SOURCE_EMPTY:
		break;
	}
	return st;
}

/* The end of both opens: the source opened with status st, or not. */
static int
reader_opened(struct reader *r, int st, const struct reader_opts *opts, struct reader **r_r)
{
	if (st != 0) {
		free(r->path);
		free(r);
		return st;
	}
	if ((st = reader_start(r, opts)) != 0) {
		reader_close(r);
		return st;
	}
	*r_r = r;
	return 0;
}

int
reader_open(struct reader **r_r, const char *path, const struct reader_opts *opts)
{
	static const struct reader_opts defaults;
	struct reader *r = xcalloc(1, sizeof(*r));

	*r_r = NULL;
	if (opts == NULL)
		opts = &defaults;
	r->path = xstrdup(path);
	return reader_opened(r, source_open(&r->src, r->path, opts->allow ? opts->allow :
	    READER_ALLOW_DEFAULT), opts, r_r);
}

int
reader_open_fd(struct reader **r_r, int fd, const char *name, const struct reader_opts *opts)
{
	static const struct reader_opts defaults;
	struct reader *r = xcalloc(1, sizeof(*r));

	*r_r = NULL;
	if (opts == NULL)
		opts = &defaults;
	r->path = xstrdup(name);
	return reader_opened(r, source_open_fd(&r->src, fd, r->path), opts, r_r);
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
reader_variant_name(const struct reader *r)
{
	if (r->maildir != NULL)
		return "maildir";
	if (r->mbox != NULL)
		return mbox_variant_name(mbox_reader_variant(r->mbox));
	return "empty";
}

const char *
reader_compression(const struct reader *r)
{
	return r->src_open ? r->src.compression : NULL;
}

bool
reader_only_blank_lines(const struct reader *r)
{
	return r->type == SOURCE_EMPTY && r->src_open && r->src.pre_len > 0;
}

void
reader_progress(const struct reader *r, const struct message *m, uint64_t *done,
    uint64_t *total)
{
	*done = 0;
	*total = 0;
	if (r->mbox == NULL)
		return;
	*done = m->offset > 0 ? (uint64_t)m->offset : 0;
	*total = r->src.size > 0 ? (uint64_t)r->src.size : 0;
}

int64_t
reader_message_size(const struct reader *r, const struct message *m)
{
	return r->mbox != NULL ? mbox_reader_message_size(r->mbox) : m->size;
}

enum mbox_variant
reader_mbox_variant(const struct reader *r)
{
	return r->mbox != NULL ? mbox_reader_variant(r->mbox) : MBOX_AUTO;
}

off_t
reader_message_end(const struct reader *r)
{
	return r->mbox != NULL ? mbox_reader_message_end(r->mbox) : 0;
}

off_t
reader_message_offset(const struct reader *r)
{
	return r->mbox != NULL ? mbox_reader_message_offset(r->mbox) : 0;
}

bool
reader_rewritten(const struct reader *r)
{
	return r->mbox != NULL && mbox_reader_rewritten(r->mbox);
}

bool
reader_held_back(const struct reader *r)
{
	return r->mbox != NULL && mbox_reader_held_back(r->mbox);
}

bool
reader_pseudo_header(const struct reader *r, const char **hdr_r, size_t *len_r)
{
	return r->mbox != NULL && mbox_reader_pseudo_header(r->mbox, hdr_r, len_r);
}

const struct mbox_counters *
reader_counters(const struct reader *r)
{
	return r->mbox != NULL ? mbox_reader_counters(r->mbox) : NULL;
}

uint64_t
reader_warnings(const struct reader *r)
{
	if (r->mbox != NULL) {
		const struct mbox_counters *c = mbox_reader_counters(r->mbox);
		return c->unquoted_from + c->missing_separator + c->cl_ignored + c->empty_messages;
	}
	if (r->maildir != NULL) {
		/* the events maildir_reader.c says as warnings (an unreadable
		 * file is an error) */
		const struct maildir_counters *c = maildir_reader_counters(r->maildir);
		return c->dot_names + c->not_regular + c->symlinks + c->dup_uniq + c->dup_inode +
		    c->vanished + c->empty + c->missing_new + c->missing_tmp;
	}
	return 0;
}

const char *
reader_keyword_name(struct reader *r, char c)
{
	return r->maildir != NULL ? maildir_reader_keyword(r->maildir, c) : NULL;
}

const struct stat *
reader_stat(struct reader *r)
{
	return r->maildir != NULL ? maildir_reader_stat(r->maildir) : NULL;
}

uint64_t
reader_unreadable(const struct reader *r)
{
	return r->maildir != NULL ? (uint64_t)maildir_reader_counters(r->maildir)->unreadable : 0;
}

int
reader_dirfd(const struct reader *r)
{
	return r->maildir != NULL ? maildir_reader_dirfd(r->maildir) : -1;
}

bool
reader_is_maildir(const char *path)
{
	return source_is_maildir(path);
}

enum reader_path_kind
reader_path_kind(const char *path)
{
	switch (source_path_kind(path)) {
	case SOURCE_PATH_MBOX:
		return READER_PATH_MBOX;
	case SOURCE_PATH_COMPRESSED:
		return READER_PATH_COMPRESSED;
	default:
		return READER_PATH_OTHER;
	}
}

const char *
reader_name(const struct reader *r)
{
	return r->maildir != NULL ? r->path : r->src.name;
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
