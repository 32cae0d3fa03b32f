/*
 * mbox_writer.h: everything that writes or rewrites an mbox (SPEC §2.3,
 * §2.4, §2.6, §2.10, §3.11, §5 O1-O8; DESIGN §3; STYLE.md "Writing an mbox").
 * Together with lock.c these are the only modules that change an mbox file.
 * One API, four files: mbox_quote.c (quoting, the From_ line), mbox_header.c
 * (header editing), mbox_writer.c (appending), mbox_rewrite.c (rewriting
 * in place); what they share privately is in mbox_writer_int.h.
 *
 * (a) Appending. mbox_writer_open() locks the mailbox (lock.h), finishes a
 *     journal left by a crashed rewrite, remembers the size and looks at the
 *     last two bytes; the first message is preceded by the LF(s) the file
 *     lacks. Each message is begin -> body chunks -> end; quoting for the
 *     output variant is applied on the fly by a small state machine, so a
 *     `From ` split across chunks is still quoted. mbox_writer_flush()
 *     makes what was written durable (fsync); on any failure the file is
 *     truncated back to the size after the last successful flush (qmail-
 *     local), so a reader never sees a torn message and nothing the caller
 *     was told is durable is ever cut off.
 *     Output "-" is stdout: no lock, no truncate-back (a pipe cannot be
 *     taken back; the reader sees the error status); compressed only with
 *     an explicit compression (not AUTO).
 *     Compressed output (gzip, zstd, xz) is written whole through
 *     libarchive's raw format to a temporary file in the destination's
 *     directory, published by link() (never clobbering) at close; appending
 *     to an existing compressed file is refused.
 *
 * (b) Rewriting in place (repair, dedup --delete, --remove-source): with the
 *     write lock held, the caller describes the new content from the first
 *     changed offset as a sequence of copy/insert/skip operations. The new
 *     tail goes to "<mbox>.mailshift-journal" (header: magic, dev, ino,
 *     start offset, tail length, original size, XXH3-64 of the tail and of
 *     the header), which is fsynced with its directory before a single byte
 *     of the mailbox changes; then it is copied back at the offset (same
 *     inode: never rename() over a mailbox), the mailbox is ftruncated and
 *     fsynced, and the journal unlinked. A journal found when the mailbox is
 *     next opened for writing is rolled forward if complete and valid, or
 *     discarded if not (the mailbox was not touched yet).
 */
#ifndef MAILSHIFT_MBOX_WRITER_H
#define MAILSHIFT_MBOX_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "lock.h"
#include "mbox_reader.h"   /* enum mbox_variant */
#include "util.h"

/* ---- quoting and measuring (no I/O) ------------------------------------- */

/*
 * The quoting state machine: feed any chunking of a body, get the same
 * quote bytes as for the whole body. Quoting rules (SPEC §2.3):
 *   mboxrd:          '>' before every line matching >*From
 *   mboxo, mboxcl:   '>' before every line starting From
 *   mboxcl2:         none
 */
struct mbox_quote {
	enum mbox_variant variant;   /* AUTO is taken as mboxrd */
	unsigned state;              /* private */
	unsigned pending;            /* private: '>' bytes held back */
	uint64_t len;                /* stored (quoted) bytes so far */
	uint64_t lines;              /* LF bytes so far (mboxcl, mboxcl2 only) */
	bool count_lines;            /* private: the variant needs `lines` */
	bool last_lf;                /* the last byte seen was LF */
	bool any;                    /* at least one byte seen */
};
void mbox_quote_init(struct mbox_quote *q, enum mbox_variant variant);
/*
 * Measure only: add the stored length and LF count of n body bytes to q->len
 * and q->lines. Use it for a first pass over a body whose Content-Length is
 * needed before its header (mboxcl, mboxcl2) when the body can be read
 * twice (a Maildir file: the second read hits the page cache).
 */
void mbox_quote_measure(struct mbox_quote *q, const void *p, size_t n);
/* End of the measured body: counts bytes held back at a line start (a
 * final line "From" without LF). q->len and q->lines are then final. */
void mbox_quote_measure_end(struct mbox_quote *q);

/* ---- header editing (no I/O) -------------------------------------------- */

/*
 * Set Status, X-Status and X-Keywords for Maildir -> mbox (SPEC §2.10 ▶):
 * Status "RO"/"O"/"" from flags_to_status(flags, old), X-Status from
 * flags_to_xstatus(flags) (D F A T), X-Keywords = `keywords` (names
 * separated by one SP, `kwlen` bytes; "$Forwarded" is added when MF_PASSED
 * is set). Existing fields are rewritten in place (same position, first
 * occurrence; later duplicates are left alone), and left byte for byte
 * untouched when they already say the same (letters compared as sets,
 * keywords as sets of names); missing ones that would be non-empty are added
 * at the end of the header block, before the empty line, with the block's
 * line ending (CRLF when the empty line is CRLF). An empty Status/X-Status/
 * X-Keywords that is absent is not added.
 * `hdr` is the header block (normally ending with the empty line). out is
 * reset and receives the new block. Returns true when it differs from hdr.
 */
bool mbox_header_set_flags(const char *hdr, size_t len, uint32_t flags, bool old,
	const char *keywords, size_t kwlen, struct strbuf *out);
/* The same edit made one field after the other, each on the block the last
 * one left: what mbox_header_set_flags does when a field is rewritten or
 * removed, and the reference its one-walk path is tested against. */
bool mbox_header_set_flags_stepwise(const char *hdr, size_t len, uint32_t flags, bool old,
	const char *keywords, size_t kwlen, struct strbuf *out);

/*
 * Replace the value of the first field `name` (case-insensitive; its
 * continuation lines go too) keeping its position and the name's spelling,
 * or add "Name: value" at the end of the block when absent. Other copies of
 * the field are removed (never duplicate Content-Length/Lines). out is
 * reset. Returns true when the block changed.
 */
bool mbox_header_set_field(const char *hdr, size_t len, const char *name,
	const char *value, struct strbuf *out);

/* ---- the From_ line (SPEC §3.11 ▶, §5 O1) ------------------------------- */

/*
 * Build "From SENDER DATE\n" into out (reset first). Sender, in order: the
 * original envelope sender env/env_len when env != NULL; else the topmost
 * Return-Path addr-spec ("<>" -> MAILER-DAEMON); else X-Envelope-From;
 * else the first From: addr-spec; else MAILER-DAEMON. SP, HT, CR, LF and
 * other control bytes (and DEL) become '-'; an empty result becomes
 * MAILER-DAEMON. DATE is `t` in asctime layout, UTC, space-padded day
 * ("Sat Jan  3 01:05:34 1996").
 * A caller that knows the original From_ line bytes and has not changed the
 * sender or date writes those bytes instead (mbox_writer_begin).
 */
void mbox_from_line_build(const char *env, size_t env_len, const char *hdr,
	size_t hdr_len, time_t t, struct strbuf *out);

/* ---- appending ---------------------------------------------------------- */

enum mbox_compress {
	MBOX_COMPRESS_NONE = 0,
	MBOX_COMPRESS_AUTO,      /* by the destination's suffix .gz/.zst/.xz */
	MBOX_COMPRESS_GZIP,
	MBOX_COMPRESS_ZSTD,
	MBOX_COMPRESS_XZ,
};
/* "gzip"/"zstd"/"xz"/"none" -> value; -1 when unknown. */
int mbox_compress_parse(const char *s);
/* The compression a path's suffix asks for (NONE when none). */
enum mbox_compress mbox_compress_from_suffix(const char *path);

struct mbox_writer_opts {
	enum mbox_variant variant;    /* output variant; AUTO = mboxrd */
	enum mbox_compress compress;  /* NONE: plain, AUTO: by suffix */
	struct mbox_lock_opts lock;   /* timeout, fcntl_only, create_mode...
	                               * (create is implied) */
	bool no_sync;                 /* --sync=none: never fsync */
	bool chown;                   /* chown a file we create to uid:gid */
	uid_t uid;
	gid_t gid;
};

struct mbox_writer;

/*
 * Open `path` ("-" = stdout) for appending; creates it when missing.
 * Returns 0 and *w_r, or reports and returns the DESIGN §4 status (75
 * locked, 73 cannot create or refused, 74 I/O error).
 */
int mbox_writer_open(struct mbox_writer **w_r, const char *path,
	const struct mbox_writer_opts *opts);

/*
 * Start a message.
 *   from_line: the complete From_ line including its LF (write it as is), or
 *              NULL to build one with mbox_from_line_build(env, hdr, t).
 *   hdr:       the header block, normally ending with the empty line (flags
 *              already set with mbox_header_set_flags if wanted). For mboxcl
 *              and mboxcl2 the writer sets Content-Length and Lines itself.
 *   body_len, body_lines: for mboxcl/mboxcl2, the stored (quoted) body
 *              length and its LF count when the caller knows them (from a
 *              first pass with mbox_quote_measure, or for mboxcl2 the file
 *              size minus the header and a count); -1 when unknown: the body
 *              is then spooled to an unlinked temporary file and measured
 *              (costs one extra write and read of the body). Ignored for
 *              mboxo and mboxrd. If the body turns out different from the
 *              given values, end() fails (nothing of the message stays).
 * 0 or -1 (reported; the writer is then failed: call abort/close).
 */
struct mbox_msg_out {
	const char *from_line;
	size_t from_line_len;
	const char *env;              /* for building: envelope sender or NULL */
	size_t env_len;
	time_t time;                  /* for building: date of the From_ line */
	const char *hdr;
	size_t hdr_len;
	int64_t body_len;
	int64_t body_lines;
};
int mbox_writer_begin(struct mbox_writer *w, const struct mbox_msg_out *m);
/* Body bytes as they are in the message (unquoted); any chunking. */
int mbox_writer_body(struct mbox_writer *w, const struct iovec *iov, int iovcnt);
int mbox_writer_write(struct mbox_writer *w, const void *p, size_t n);
/* Finish the message: separator LF (two when the body lacked a final LF,
 * mboxo/mboxrd: SPEC §5 O3; mboxcl2 keeps it exact through
 * Content-Length). 0 or -1 (reported). */
int mbox_writer_end(struct mbox_writer *w);
/* Take back the message in progress (a plain file only: dropped from the
 * buffer, or the file cut back to where it began). 0, or -1 (EINVAL: not
 * possible here; or reported). */
int mbox_writer_cancel(struct mbox_writer *w);

/*
 * Make every message ended so far durable (fsync, unless no_sync). After
 * 0, those messages are delivered and the caller may remove their sources.
 * Truncate-back never goes below this point. 0 or -1 (reported; the
 * unflushed messages were taken back).
 */
int mbox_writer_flush(struct mbox_writer *w);
/*
 * Write out the buffer and start the kernel's write-back of everything
 * written since (sync_file_range(2) SYNC_FILE_RANGE_WRITE), without waiting
 * and without moving the truncate-back point: the messages are not durable
 * until mbox_writer_flush(). Between batches whose sources stay, this keeps
 * the disk busy while the next batch is read, and the final fsync short.
 * 0 or -1 (reported).
 */
int mbox_writer_writeback(struct mbox_writer *w);

/* Flush, publish (compressed output), unlock, free. Returns 0 or the
 * DESIGN §4 status of the failure (reported). */
int mbox_writer_close(struct mbox_writer *w);
/* Take back everything not flushed (ftruncate to the last durable size;
 * compressed: unlink the temporary file), unlock, free. */
void mbox_writer_abort(struct mbox_writer *w);

/* Counters: messages ended, messages that gained a final LF (O3). */
size_t mbox_writer_messages(const struct mbox_writer *w);
size_t mbox_writer_added_newlines(const struct mbox_writer *w);

/* ---- rewriting in place (DESIGN §3, SPEC §5 O7, O8) --------------------- */

struct mbox_rewrite;

/* "<path>.mailshift-journal" (malloced). */
char *mbox_journal_path(const char *path);

/*
 * Finish a journal left by a crash, if any: roll it forward when complete
 * and valid for this mailbox (same dev/ino), discard it otherwise. `lk`
 * must hold the write lock. Returns 0 (and *rolled_r, may be NULL: 1 rolled
 * forward, 0 none or discarded), or -1 (reported: I/O error, or the mailbox
 * grew beyond what the journal describes, which is left for a human).
 */
int mbox_journal_recover(struct mbox_lock *lk, int *rolled_r);

/*
 * Start a rewrite of the mailbox held by `lk` (write lock) from byte
 * `start` on; bytes before `start` are kept. Recovers an old journal
 * first. Returns NULL after reporting.
 */
struct mbox_rewrite *mbox_rewrite_begin(struct mbox_lock *lk, off_t start);
/* New tail, in order: copy bytes [a, b) of the original mailbox ... */
int mbox_rewrite_copy(struct mbox_rewrite *rw, off_t a, off_t b);
/* ... insert bytes ... */
int mbox_rewrite_insert(struct mbox_rewrite *rw, const void *p, size_t n);
/* ... or skip [a, b) (documentation only: those bytes are not copied;
 * checks the range lies inside the original). */
int mbox_rewrite_skip(struct mbox_rewrite *rw, off_t a, off_t b);
/*
 * Journal fsynced (with its directory), copied back in place at `start`,
 * mailbox ftruncated and fsynced, journal unlinked. 0 or -1 (reported; the
 * mailbox holds either the old or the new content, and a journal left
 * behind is finished by the next mbox_journal_recover).
 */
int mbox_rewrite_commit(struct mbox_rewrite *rw);
/* Give up before commit: unlink the journal; the mailbox is untouched. */
void mbox_rewrite_abort(struct mbox_rewrite *rw);

/* Remove the first `k` bytes, keep the rest (what arrived later), i.e.
 * begin(0) + copy(k, size) + commit. k == size empties (O8). 0 or -1. */
int mbox_rewrite_remove_head(struct mbox_lock *lk, off_t k);
/* Empty the mailbox keeping inode, mode and owner: ftruncate(0) + fsync
 * (SPEC §5 O8). 0 or -1 (reported). */
int mbox_truncate_empty(struct mbox_lock *lk);

#endif
