/*
 * inspect.h: the findings of `check` and the facts `repair` needs to fix
 * them (DESIGN §3 check/repair; SPEC §1.1-1.10, §2.3-2.7, §5 M1-M13,
 * X1-X21, O7).
 *
 * One table of stable codes (inspect_codes[]), one function per check.
 * inspect_path() looks at a Maildir (and with `recursive` its Maildir++
 * folders) or a plain mbox file and calls the callback once per finding.
 * It changes nothing. A Maildir is read from names and lstat only, unless
 * `deep` asks for the content (W= sizes, "is this a message"): without it
 * no message file is opened. An mbox is read once, by the mbox reader
 * (the one boundary rule, mbox_reader.h), with pread() on a descriptor the
 * caller may hold locked (repair does).
 * The codes are in inspect.c, the checks in inspect_maildir.c,
 * inspect_uidlist.c (dovecot-uidlist, courierimapuiddb) and inspect_mbox.c.
 */
#ifndef MAILSHIFT_INSPECT_H
#define MAILSHIFT_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "serverstate.h"

enum inspect_code {
	IC_MAILDIR_MISSING_SUBDIR,  /* new/ or tmp/ missing (M13) */
	IC_MAILDIR_PERMISSIONS,     /* owner cannot read, or group/other may write */
	IC_MAILDIR_TMP_STALE,       /* tmp/ file older than --tmp-age, link count 1 (M10) */
	IC_MAILDIR_TMP_LEFTOVER,    /* stale tmp/ name of a delivered inode (M9) */
	IC_MAILDIR_INFO_IN_NEW,     /* new/ name with an info part (§1.6) */
	IC_MAILDIR_FLAGS_UNSORTED,  /* flag letters out of order or repeated (M3) */
	IC_MAILDIR_FLAGS_UNKNOWN,   /* letters that are neither DFPRST nor a-z */
	IC_MAILDIR_DUPLICATE_UNIQ,  /* two inodes share a unique part (M4) */
	IC_MAILDIR_BAD_NAME,        /* ':' in the unique part, bad info or size field (M5) */
	IC_MAILDIR_SIZE_MISMATCH,   /* ,S= or ,W= disagrees with the file (M6) */
	IC_MAILDIR_EMPTY_FILE,      /* zero-length message file (M2) */
	IC_MAILDIR_NOT_MESSAGE,     /* directory, FIFO, device; --deep: no header (M1) */
	IC_MAILDIR_SYMLINK,         /* symbolic link: never followed (M1) */
	IC_MAILDIRSIZE_WRONG,       /* maildirsize totals disagree, or malformed (§1.9) */
	IC_FOLDER_BROKEN,           /* Maildir++ folder without cur/new/tmp or maildirfolder */
	IC_MBOX_FIRST_LINE,         /* bytes before the first From_ line (X7) */
	IC_MBOX_UNQUOTED_FROM,      /* body line "From " that is no From_ line (X1) */
	IC_MBOX_CONTENT_LENGTH,     /* Content-Length not landing on a boundary (X10) */
	IC_MBOX_MISSING_SEPARATOR,  /* From_ line without an empty line before it (X4) */
	IC_MBOX_TRUNCATED,          /* the file does not end with a line end (X5) */
	IC_MBOX_MIXED_EOL,          /* CRLF and LF line ends in one file (X14) */
	IC_MBOX_STALE_LOCK,         /* "<mbox>.lock" older than 5 minutes */
	IC_MBOX_JOURNAL,            /* journal of an interrupted rewrite (O7) */
	IC_UIDLIST_BAD,             /* dovecot-uidlist unreadable, not version 3, bad line (§1.10) */
	IC_UIDLIST_NOT_INCREASING,  /* UIDs not strictly increasing */
	IC_UIDLIST_NEXT_TOO_LOW,    /* N<next uid> not above the highest UID */
	IC_UIDLIST_MISSING_FILE,    /* --deep: a listed base name with no file */
	IC_UIDLIST_UNLISTED,        /* --deep: a message file with no line */
	IC_COURIERUID_BAD,          /* courierimapuiddb unreadable, bad header, bad line (§1.11) */
	IC_COURIERUID_NOT_INCREASING, /* its UIDs not strictly increasing */
	IC_COURIERUID_NEXT_TOO_LOW, /* its next UID not above the highest UID */
	IC_COURIERUID_MISSING_FILE, /* --deep: a listed base name with no file */
	IC_COURIERUID_UNLISTED,     /* --deep: a message file with no line */
	IC__COUNT
};

/*
 * How much a finding matters (mailshift-check(1) SEVERITY):
 *   error    mail is at risk: hidden from readers, split or glued wrongly,
 *            deliveries fail;
 *   warning  the mailbox departs from its format, readers cope;
 *   note     worth knowing, nothing to fix now.
 * Errors and warnings make check exit 1; notes do not, and -q hides them.
 */
enum inspect_severity {
	SEVERITY_NOTE,
	SEVERITY_WARNING,
	SEVERITY_ERROR,
};

struct inspect_code_info {
	const char *name;        /* "MAILDIR-TMP-STALE" */
	const char *repair;      /* what repair does, one line */
	enum inspect_severity severity;
};
extern const struct inspect_code_info inspect_codes[IC__COUNT];

const char *inspect_code_name(enum inspect_code c);
enum inspect_severity inspect_code_severity(enum inspect_code c);
/* "error", "warning", "note" */
const char *inspect_severity_name(enum inspect_severity s);
/* "MAILDIR-TMP-STALE" -> code; -1 when unknown. */
int inspect_code_parse(const char *s);

/*
 * One finding. `path` is what the report names (the file, the directory,
 * or the mbox); the other fields tell repair where the thing is.
 */
struct inspect_finding {
	enum inspect_code code;
	const char *path;
	const char *message;
	off_t offset;            /* mbox byte offset, else -1 */
	const char *maildir;     /* the maildir (or mbox) path as walked */
	const char *subdir;      /* "new", "cur", "tmp" or NULL */
	const char *name;        /* entry below subdir (or the folder name) */
	struct stat st;          /* lstat of the entry when have_st */
	bool have_st;
	long long value;         /* code-specific: true S= size, W= size (or -1),
	                          * Content-Length fix, ... */
	long long value2;
	off_t span_start;        /* mbox: bytes a fix replaces (Content-Length */
	off_t span_end;          /* value), else -1 */
};
typedef void (*inspect_fn)(void *arg, const struct inspect_finding *f);

struct inspect_opts {
	bool recursive;          /* -r: Maildir++ folders too */
	bool deep;               /* read whole message files */
	long long tmp_age;       /* seconds (default 36 h) */
	time_t now;              /* 0 = time(NULL) */
	inspect_fn fn;
	void *arg;
	/* mbox: inspect this descriptor instead of opening path (repair
	 * passes its locked descriptor); -1 = open path read-only. */
	int mbox_fd;
};

struct inspect_stats {
	size_t mailboxes;
	size_t messages;
	size_t findings;
	/* mbox: messages with a Content-Length header, and lines starting
	 * "From " inside bodies a valid Content-Length protects (mboxcl2) */
	size_t mbox_cl_messages;
	size_t mbox_protected_from;
};

/* Name of the quarantine folder (skipped by the walk). */
#define INSPECT_QUARANTINE ".mailshift-quarantine"
/* Default --tmp-age: 36 hours (SPEC §1.4). */
#define INSPECT_TMP_AGE (36LL * 3600)

/*
 * Inspect one MAILBOX argument: a Maildir or a plain mbox file. Returns 0
 * (findings went to the callback), or the DESIGN §4 status after
 * reporting (66 cannot open, 65 not a mailbox, 74 I/O error).
 */
int inspect_path(const char *path, const struct inspect_opts *o, struct inspect_stats *st);
int inspect_maildir(const char *path, const struct inspect_opts *o, struct inspect_stats *st);
int inspect_mbox(const char *path, const struct inspect_opts *o, struct inspect_stats *st);

/*
 * SPEC §5 M10 plausibility test for a stale tmp/ file: not empty, a header
 * block with at least one field and no malformed line, ended by an empty
 * line, and every multipart boundary of the top-level Content-Type closed.
 * Reads fd from offset 0. true when plausible; else *why_r says why.
 */
bool inspect_plausible(int fd, const char **why_r);

/* Content size checks of one open message file: st_size-independent W=
 * (LF not after CR counted twice). 0 or -1 (errno). */
int inspect_vsize(int fd, long long *vsize_r);

/* Totals of a Maildir++ tree for maildirsize (SPEC §1.9 step 2-3): every
 * message of new/ and cur/ of the top maildir and of each folder except
 * .Trash and the quarantine; size from ,S= else lstat. */
void inspect_quota_totals(int rootfd, long long *bytes_r, long long *count_r);

/*
 * dovecot-uidlist against the maildir (SPEC §1.10), read without the lock
 * by check, under it by repair. Lines are kept in file order; a line is
 * `present` when new/ or cur/ holds a file with its base name (the name
 * before the first ':'); `unlisted` are the message files no line names.
 */
struct inspect_uidline {
	uint32_t uid;
	size_t off, len;            /* the line in data, without its LF */
	const char *base;           /* base name inside data */
	size_t base_len;
	bool present;
};
struct inspect_uidlist {
	char *data;
	size_t len;
	size_t hdr_len;             /* the header line without its LF */
	bool header_ok;
	uint32_t validity, next, max;
	size_t bad_lines, first_bad;        /* malformed entry lines; 1-based line */
	size_t order_line;                  /* first UID not above the one before, or 0 */
	uint32_t order_uid, order_prev;
	struct inspect_uidline *line;
	size_t nline;
	char **unlisted;            /* "new/NAME" or "cur/NAME", sorted */
	size_t nunlisted;
};
/* 1 read, 0 no dovecot-uidlist, -1 unreadable (errno). */
int inspect_uidlist_read(int dirfd, struct inspect_uidlist *u);
void inspect_uidlist_free(struct inspect_uidlist *u);

/* courierimapuiddb of a maildir, read and set against new/ and cur/ (for
 * check and repair). 1 read, 0 absent, -1 errno. */
struct inspect_courieruid {
	char *data;
	size_t len;
	struct courier_uiddb db;     /* lines that parse, in file order */
	struct state_findings f;     /* the damaged lines */
	uint32_t header_next;        /* the next UID the first line says */
	uint32_t max;                /* the highest UID listed */
	size_t order_line;           /* first line whose UID is not above the one before */
	uint32_t order_uid, order_prev;
	bool *present;               /* per db line: a file has its base name */
	char **unlisted;             /* base names of files without a line */
	size_t nunlisted;
};
int inspect_courieruid_read(int dirfd, struct inspect_courieruid *cu);
void inspect_courieruid_free(struct inspect_courieruid *cu);

#endif
