/*
 * convert_run.c: the one loop of `mailshift convert` (DESIGN §3 convert,
 * mailshift-convert(1)): every source read through reader.h, every
 * message handed to a sink (sink.h):
 *
 *     lock the source -> open -> next message -> is it new? -> header,
 *     body, end -> ... -> settle (durable) -> remove the source
 *
 * A live spool (mailshift-convert(1) "Locking"): an mbox source is read
 * in turns under the locks its writers take (mbox_reader.h, live
 * reading); a rewrite in place seen between two turns makes the source be
 * read again from the start, which the sinks' keys make safe. The source
 * is changed (--remove-source) only after the sink settled, that is after
 * everything read from it is durable in the destination.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "commands.h"
#include "convert.h"
#include "lock.h"
#include "reader.h"
#include "report.h"
#include "sink.h"
#include "util.h"

/* How often a source that keeps being rewritten is read again. */
#define REWRITE_RETRIES 10

/* What became of a message's bytes, beyond the sink's results. */
#define SINK_INTERRUPTED (SINK_STUCK + 1)

/* Write one message the sink took: header, body, end. */
static int
write_message(struct sink *s, struct reader *r, struct message *m, const char *h, size_t hlen)
{
	if (s->ops->header(s, h, hlen) == -1)
		return SINK_WRITE_FAILED;
	for (;;) {
		struct iovec iov[256];
		int n = ARRAY_SIZE(iov);
		int rc = reader_body(r, iov, &n);
		if (rc == -1)
			return (int)s->ops->abort(s, r);
		if (n > 0 && s->ops->body(s, iov, n) == -1)
			return SINK_WRITE_FAILED;
		if (rc == 0)
			break;
		if (convert_got_signal) {
			s->ops->abort(s, r);
			return SINK_INTERRUPTED;
		}
	}
	return s->ops->end(s, r, m) == -1 ? SINK_WRITE_FAILED : SINK_OK;
}

/* One reading of a source. Returns reader_next()'s last result (-1: the
 * reader stopped, 1: cut short); *result_r the status of a failure. */
static int
read_source(struct sink *s, struct reader *r, int *result_r)
{
	struct convert_summary *sum = s->sum;
	struct message m;
	int rc;

	while (!convert_got_signal && (rc = reader_next(r, &m, READER_WANT_FULL)) == 1) {
		const char *h = NULL;
		size_t hlen = 0;
		sum->messages++;
		sum->variant = reader_variant_name(r);
		switch (s->ops->begin(s, r, &m, &h, &hlen)) {
		case SINK_WRITE:
			break;
		case SINK_FAILED:
			*result_r = report_exit_status_or(EX_IOERR);
			return rc;
		default:
			continue;
		}
		switch (write_message(s, r, &m, h, hlen)) {
		case SINK_OK:
			break;
		case SINK_WRITE_FAILED:
			/* writing failed (ENOSPC, EIO...): going on would fail the same way */
			*result_r = report_exit_status_or(EX_IOERR);
			return rc;
		case SINK_TAKEN_BACK:
			return -1;      /* the reader stopped: reported, or a rewrite */
		case SINK_STUCK:
			*result_r = EX_TEMPFAIL;
			return -1;
		default:
			return rc;      /* a signal: nothing half-written stays */
		}
		uint64_t done, total;
		reader_progress(r, &m, &done, &total);
		report_progress(sum->messages, total ? done : sum->bytes, total);
	}
	return rc;
}

/* Convert one source into the sink. Returns its status (0 ok). */
static int
convert_source(struct sink *s, const char *path)
{
	const struct convert_opts *o = s->o;
	struct convert_summary *sum = s->sum;
	struct mbox_lock lk = { .fd = -1 };
	struct reader *r = NULL;
	int st;

	if (s->ops->accept && (st = s->ops->accept(s, path)) != 0)
		return st;
	if (!reader_is_maildir(path) && (st = convert_source_lock(o, path, &lk)) != 0)
		return st;
	struct reader_opts ro = {
		.mbox = { .variant = o->in_variant },
		.allow = s->ops->allow,
		.sort = (enum reader_sort)reader_sort_parse(o->sort),
	};
	/* a live spool is read in turns under its writers' locks */
	if (lk.fd != -1 && !o->remove_source)
		ro.mbox.live = &lk;
	if ((st = reader_open(&r, path, &ro)) != 0) {
		mbox_lock_release(&lk);
		return st;
	}
	if (lk.fd != -1 && reader_compression(r) != NULL) {
		if (o->remove_source) {
			report_error(EX_USAGE, "%s: --remove-source cannot rewrite a compressed mailbox",
			    reader_name(r));
			reader_close(r);
			mbox_lock_release(&lk);
			return EX_USAGE;
		}
		mbox_lock_release(&lk);     /* nobody appends to a compressed file */
	}
	sum->variant = reader_variant_name(r);
	if (reader_only_blank_lines(r)) {
		report_warn("%s: holds only empty lines: no messages", reader_name(r));
		sum->warnings++;
	}

	int rc = 0, result = 0, restarts = 0;
	for (bool again = false;; again = true) {
		if ((result = s->ops->source(s, r, path, again)) != 0)
			break;
		rc = read_source(s, r, &result);
		if (rc != -1 || result != 0 || !reader_rewritten(r))
			break;
		/* rewritten in place between two reads (an expunge, a flag change):
		 * what was delivered is settled, then the source is read again */
		if ((result = s->ops->settle(s, 0)) != 0)
			break;
		if (++restarts > REWRITE_RETRIES) {
			report_error(EX_TEMPFAIL, "%s: rewritten by another program %d times while "
			    "it was read: try again later", reader_name(r), restarts);
			result = EX_TEMPFAIL;
			break;
		}
		report_info("%s: rewritten by another program while it was read (a mail reader "
		    "or server): reading it again from the start", reader_name(r));
		reader_close(r);
		r = NULL;
		sum->messages = sum->skipped = 0;
		if ((result = reader_open(&r, path, &ro)) != 0)
			break;
	}
	if (r != NULL && rc == -1 && result == 0 && reader_held_back(r)) {
		report_warn("%s:%lld: the last message is not complete (no empty line after it) and "
		    "a program locking only with %s may still be writing it: left for the next run",
		    reader_name(r), (long long)reader_message_offset(r), lk.dotlock);
		sum->warnings++;
		result = EXIT_PROBLEMS;
	} else if (rc == -1 && result == 0) {
		result = report_exit_status_or(EX_DATAERR);
	}
	const struct mbox_counters *c = r ? reader_counters(r) : NULL;
	if (c != NULL)
		sum->pseudo = c->pseudo;
	if (r != NULL)
		sum->warnings += reader_warnings(r);
	if (r != NULL)
		sum->variant = reader_variant_name(r);
	/* this source's messages durable before anything is said about them */
	result = s->ops->settle(s, result);
	off_t end = lk.st.st_size;    /* what the write lock saw: all of it was read */
	reader_close(r);
	/* --remove-source: only a source read to its end, all of it now durable */
	if (o->remove_source && lk.fd != -1 && result == 0 && rc == 0 && !convert_got_signal &&
	    !opt_common.dry_run) {
		if (convert_source_remove(&lk, end) == -1)
			result = report_exit_status_or(EX_IOERR);
		else
			sum->removed = sum->messages;
	}
	mbox_lock_release(&lk);
	return result;
}

int
convert_run(struct sink *s, const char **sources, int nsources)
{
	struct convert_summary *sums = xcalloc((size_t)nsources, sizeof *sums);
	int status = 0, done = 0;

	for (int i = 0; i < nsources && !convert_got_signal; i++) {
		struct convert_summary *sum = &sums[done++];
		*sum = (struct convert_summary){ .source = strcmp(sources[i], "-") ? sources[i] :
		    "<stdin>", .dest = s->dest, .variant = "-" };
		s->sum = sum;
		sum->status = convert_source(s, sources[i]);
		sum->warnings += lock_warnings_take();
		report_status(sum->status);
		status = exit_worse(status, sum->status);
		if (!s->summaries_last)
			convert_summary_print(sum);
		/* a destination that cannot be written stops everything */
		if (sum->status == EX_IOERR || sum->status == EX_CANTCREAT)
			break;
	}
	bool last = s->summaries_last;
	status = s->ops->close(s, status);
	if (done > 0)           /* the destination's locks, at its close */
		sums[done - 1].warnings += lock_warnings_take();
	if (last)
		for (int i = 0; i < done; i++)
			convert_summary_print(&sums[i]);
	free(sums);
	convert_signals_reraise();
	return exit_worse(report_exit_status(), status);
}

/* Open a sink and run every source into it. */
static int
convert_into(struct sink *(*sink_open)(const struct convert_opts *, const char *, int *),
    const struct convert_opts *o, const char **sources, int nsources, const char *dest)
{
	int status;

	convert_signals_catch();
	struct sink *s = sink_open(o, dest, &status);
	return s ? convert_run(s, sources, nsources) : status;
}

int
convert_to_maildir(const struct convert_opts *o, const char **sources, int nsources,
    const char *dest)
{
	return convert_into(sink_maildir_open, o, sources, nsources, dest);
}

int
convert_to_mbox(const struct convert_opts *o, const char **sources, int nsources,
    const char *dest)
{
	return convert_into(sink_mbox_open, o, sources, nsources, dest);
}
