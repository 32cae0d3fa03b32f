/*
 * convert.h: what the parts of `mailshift convert` share: the parsed
 * options and the per-source summary (mailshift-convert(1)).
 */
#ifndef MAILSHIFT_CONVERT_H
#define MAILSHIFT_CONVERT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "maildir_writer.h"
#include "mbox_reader.h"

struct convert_opts {
	const char *to;             /* "maildir", "mbox" or NULL (the other format) */
	int in_variant;             /* enum mbox_variant for mbox input */
	int out_variant;            /* enum mbox_variant for mbox output (default mboxrd) */
	bool strip_status;
	enum sync_mode sync;
	size_t batch;
	bool local_time;            /* zone-less From_ dates are local time */
	bool chown;
	uid_t uid;
	gid_t gid;
	int lock_timeout;
	bool recursive;
	const char *layout;         /* "maildir++" or "fs" */
	bool remove_source;
	const char *compress;       /* NULL, "gzip", "zstd", "xz" */
	const char *sort;           /* "delivery", "date", "name", "none" */
};

/* One line of the summary (text on stderr, JSON on stdout). */
struct convert_summary {
	const char *source;
	const char *dest;
	const char *variant;        /* input variant, or "maildir" */
	uint64_t messages;          /* read from the source */
	uint64_t delivered;         /* now durable in the destination */
	uint64_t skipped;           /* already in the destination */
	uint64_t pseudo;            /* UW pseudo messages skipped */
	uint64_t bytes;             /* bytes of the messages delivered */
	uint64_t warnings;
	uint64_t removed;           /* removed from the source (--remove-source) */
	int status;
};

void convert_summary_print(const struct convert_summary *s);

/* mbox (or stdin) -> Maildir, for each source. Returns the exit status. */
int convert_to_maildir(const struct convert_opts *o, const char **sources, int nsources,
    const char *dest);

#endif
