/*
 * source.h: open a mailbox argument (a path or "-" for stdin), find out
 * what it is, and read its bytes (DESIGN §2 "core: source").
 *
 * A directory is a Maildir when cur/ is a real directory (SPEC §1.1).
 * A file is sniffed from its first bytes: a From_ line after optional empty
 * lines is an mbox (no libmagic call on the fast path); otherwise libmagic
 * names it, and compressed data (gzip, bzip2, xz, zstd, lzip...) is read
 * transparently through libarchive's raw format (a zip or tar archive
 * holding exactly one mailbox too). Anything else is refused
 * with libmagic's description (exit 65).
 */
#ifndef MAILSHIFT_SOURCE_H
#define MAILSHIFT_SOURCE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

enum source_type {
	SOURCE_MBOX,        /* starts with a From_ line (after empty lines) */
	SOURCE_EMPTY,       /* zero bytes, or only empty lines */
	SOURCE_MAILDIR,     /* a directory with cur/ */
	SOURCE_MMDF,        /* ^A^A^A^A framing */
};

struct source {
	const char *path;       /* as given ("-" for stdin) */
	const char *name;       /* for messages: the path, or "<stdin>" */
	enum source_type type;
	int fd;                 /* file descriptor of the file (-1 for a maildir) */
	bool seekable;          /* regular, uncompressed: pread() works */
	off_t size;             /* st_size at open for regular files, else -1 */
	const char *compression;/* NULL, "gzip", "bzip2", "xz", "zstd", ... */
	struct stat st;         /* fstat at open */

	/* private */
	void *archive;          /* struct archive * when compressed */
	char *pre;              /* bytes read while sniffing, handed out first */
	size_t pre_len, pre_off;
	off_t pos;              /* bytes handed out so far (logical, decompressed) */
	bool eof;
	const char *errmsg;     /* set for errors that are not an errno */
	bool failed;            /* the decompression failed: errbuf says why */
	int failed_errno;       /* > 0: an I/O error below the decompressor */
	char errbuf[256];
	/* gzip checked beside libarchive (its CRCs, what follows its end):
	 * bad at once (corrupt), or bad once libarchive's data ends (bytes
	 * after the gzip data, which libarchive passes over) */
	bool gz_bad_now, gz_bad_end;
	char gzmsg[200];
};

/*
 * Open and classify. Returns 0, or reports one line and returns the DESIGN
 * §4 status: 66 missing/unreadable, 65 not a mailbox (with what it is and
 * the offset of the first bad byte), 74 read error.
 * `allow` is a mask of (1 << SOURCE_*) types the caller accepts.
 */
int source_open(struct source *src, const char *path, unsigned allow);

/*
 * An mbox over a descriptor the caller holds open (and locked: lock.h, a
 * locked mailbox is never opened twice). The descriptor is duplicated.
 * 0 or the reported status.
 */
int source_open_fd(struct source *src, int fd, const char *name);
/* Go on reading at byte off (of the decompressed bytes): a regular file
 * seeks there and is read on as a stream; anything else is read up to
 * there. 0, or -1 (errno). */
int source_skip(struct source *src, off_t off);

/* A read from a pipe or FIFO that waits for its writer ends (-1, EINTR)
 * once *flag, set by the command's signal handler, is nonzero; without
 * it, a read a signal interrupts is made again. */
void source_stop_on(volatile sig_atomic_t *flag);

/* Sequential read of the (decompressed) bytes; 0 at end, -1 error (errno). */
ssize_t source_read(struct source *src, void *buf, size_t len);
/* Positional read, only when src->seekable. */
ssize_t source_pread(struct source *src, void *buf, size_t len, off_t off);
/* Text of the last read error (libarchive's message for compressed input). */
const char *source_error_string(struct source *src);
void source_close(struct source *src);

/* True when path names a Maildir (cur/ a real directory, SPEC §1.1). When
 * false, errno is 0 if path is no Maildir, and says why when it could not be
 * looked at (EMFILE, EACCES...): a caller reports that, not "not a maildir". */
bool source_is_maildir(const char *path);

/* What the file at path holds, by its first bytes: an mbox (a From_ line
 * after any empty lines, or nothing at all: a folder without messages), a
 * compressed file or an archive (gzip, bzip2, xz, zstd, lz4, lzip,
 * compress, tar, zip...: what source_open() decompresses, as libmagic
 * tells it), or something else (also when it cannot be read). */
enum source_path_kind { SOURCE_PATH_OTHER, SOURCE_PATH_MBOX, SOURCE_PATH_COMPRESSED };
enum source_path_kind source_path_kind(const char *path);

#endif
