/*
 * sink.h: where `convert` writes (doc/design.md "one pipeline"). A sink is
 * a table of operations over one destination; convert_run.c reads every
 * source through reader.h and hands each message to the sink:
 *
 *	accept(path)                     may this source go in? (before it is opened)
 *	source(reader, again)            a source begins (again after a rewrite)
 *	begin(message) -> take           is it new? its header as it is written
 *	header, body..., end             the bytes of one message
 *	abort                            the message being written is taken back
 *	settle(result)                   what was delivered is made durable
 *	close(status)                    the destination is finished
 *
 * The sinks own everything about writing: the duplicate keys, the UID
 * state, the From_ lines, the append marker, the delivery record and the
 * journal. The Maildir sink is sink_maildir.c, the mbox sink
 * sink_mbox.c. A sink is a struct whose first member is a struct sink.
 */
#ifndef MAILSHIFT_SINK_H
#define MAILSHIFT_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "convert.h"
#include "message.h"
#include "reader.h"

/* What begin() decided about a message. */
enum sink_take {
	SINK_WRITE,         /* new: header, body and end follow */
	SINK_HAVE,          /* already in the destination (counted there) */
	SINK_PASS,          /* not written, not an error: expunged, a dry run */
	SINK_FAILED,        /* the destination failed (reported): stop */
};

/* What became of a message's bytes. */
enum sink_result {
	SINK_OK = 0,
	SINK_WRITE_FAILED,  /* writing failed (reported): the rest would too */
	SINK_TAKEN_BACK,    /* not written (the reader stopped): nothing of it stays */
	SINK_STUCK,         /* it could not be taken back (reported) */
};

struct sink;
struct sink_ops {
	const char *name;
	unsigned allow;     /* (1 << SOURCE_*) the sources it takes */
	/* 0, or the status of a source that cannot go in (reported). */
	int (*accept)(struct sink *s, const char *path);
	/* A source (re)opened: 0 or the reported status. */
	int (*source)(struct sink *s, struct reader *r, const char *path, bool again);
	enum sink_take (*begin)(struct sink *s, struct reader *r, struct message *m,
	    const char **h_r, size_t *hlen_r);
	int (*header)(struct sink *s, const char *h, size_t hlen);
	int (*body)(struct sink *s, const struct iovec *iov, int iovcnt);
	int (*end)(struct sink *s, struct reader *r, struct message *m);
	enum sink_result (*abort)(struct sink *s, struct reader *r);
	/* The end of a source's reading (or of a reading cut short by a
	 * rewrite): what it delivered made durable. The worse status. */
	int (*settle)(struct sink *s, int result);
	/* The destination closed; status in, the worse status out. */
	int (*close)(struct sink *s, int status);
};

struct sink {
	const struct sink_ops *ops;
	const struct convert_opts *o;
	const char *dest;
	struct convert_summary *sum;    /* of the source being read */
	bool summaries_last;            /* the summaries wait for close() */
	bool stop;                      /* the destination failed: no more sources */
};

/* Open a destination; NULL after reporting (*status set). */
struct sink *sink_maildir_open(const struct convert_opts *o, const char *dest, int *status);
struct sink *sink_mbox_open(const struct convert_opts *o, const char *dest, int *status);

/* Every source into one sink, then closed (convert_run.c). The exit
 * status. */
int convert_run(struct sink *s, const char **sources, int nsources);

#endif
