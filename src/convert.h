/*
 * convert.h: what the parts of `mailshift convert` share: the parsed
 * options and the per-source summary (mailshift-convert(1)).
 */
#ifndef MAILSHIFT_CONVERT_H
#define MAILSHIFT_CONVERT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <sys/types.h>
#include <time.h>

#include "hashset.h"
#include "header.h"
#include "lock.h"
#include "maildir_writer.h"
#include "message.h"
#include "util.h"

struct convert_opts {
	const char *to;             /* "maildir", "mbox" or NULL (the other format) */
	int in_variant;             /* enum mbox_variant for mbox input */
	int out_variant;            /* enum mbox_variant for mbox output (default mboxrd) */
	bool keep_mbox_headers;     /* the mbox metadata headers stay in Maildir files */
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
	int folder_charset;         /* enum folder_charset for trees */
	bool uid_state;             /* --uid-state=dovecot (mailshift-formats(5)) */
	int labels;                 /* enum label_mode: Gmail's labels (--labels) */
	bool keep_expunged;         /* Thunderbird's expunged messages delivered (with T) */
	const char *label_root;     /* -r: the tree's top, where Gmail's folders go */
	bool in_place;              /* Maildir -> Maildir: the state only, into SOURCE */
	bool overwrite_state;       /* replace a dovecot-uidlist that exists */
	int pop3;                   /* enum convert_pop3: whose POP3 UIDLs to carry */
};

/* --pop3: the POP3 server that served a Maildir SOURCE's INBOX. */
enum convert_pop3 {
	CONVERT_POP3_COURIER = 0,   /* courierpop3dsizelist when present (default) */
	CONVERT_POP3_QMAIL,         /* qmail-pop3d: base names, mtime order */
	CONVERT_POP3_NONE,
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
	uint64_t expunged;          /* deleted in Thunderbird, not delivered */
	uint64_t linked;            /* links into further Gmail label folders */
	uint64_t client[4];         /* messages whose state a client's header gave
	                             * (enum client_kind; [0]: the server's headers) */
	int status;
	/* more of the line: the state a Maildir -> Maildir run carried
	 * (convert_maildir.c), as JSON members or as text */
	void (*more)(FILE *f, bool json, const void *arg);
	const void *more_arg;
};

/* The summary line: JSON on stdout, or text on stderr ("SOURCE: N
 * messages (variant): ..."; DEST NULL: written in place). */
void convert_summary_print(const struct convert_summary *s);

/* mbox (or stdin) -> Maildir, for each source (convert_run.c: the one
 * loop into sink_maildir.c or sink_mbox.c). Returns the exit status. */
int convert_to_maildir(const struct convert_opts *o, const char **sources, int nsources,
    const char *dest);

/* Maildir or mbox -> mbox. Returns the exit status. */
int convert_to_mbox(const struct convert_opts *o, const char **sources, int nsources,
    const char *dest);

/* A Maildir (-r: a Maildir++ tree) into a Maildir, its server's state
 * carried over as Dovecot's (convert_maildir.c); dest NULL with
 * --in-place. Returns the exit status. */
int convert_maildir_to_maildir(const struct convert_opts *o, const char *source, const char *dest);

/* -r: a directory of mboxes <-> one Maildir++ / fs tree (convert_tree.c). */
int convert_tree(const struct convert_opts *o, const char *source, const char *dest);

/* ---- keys and the delivery record (convert_keys.c) ----------------------- */

/* Flags in struct key.used for the keys of a Maildir DEST (1 = present);
 * a key delivered by this run also holds the number of its source from
 * KEY_SOURCE_SHIFT up (a source read again after a rewrite meets them). */
enum {
	KEY_IN_NAMES = 2,           /* a file name in new/ or cur/ holds it */
	KEY_IN_RECORD = 4,          /* DEST/mailshift-delivered lists it */
	KEY_THIS_RUN = 8,           /* delivered by this run */
	KEY_HAS_BODY = 16,          /* the record has its body hash */
	KEY_SOURCE_SHIFT = 5,
};

/* XXH3-128 of the From_ line and the header without the mbox metadata
 * fields, Lines, and the clients' state headers; scratch is a reusable
 * buffer. */
void convert_message_key(const char *from, size_t flen, const char *h, size_t hlen,
    struct strbuf *scratch, uint64_t *hi, uint64_t *lo);
/* The key of earlier versions: the source's real path, NUL, the From_
 * line and the whole header. */
void convert_legacy_key(const char *identity, const char *from, size_t flen, const char *h,
    size_t hlen, uint64_t *hi, uint64_t *lo);
/* The body key of a message: XXH3-128 of its key (hi, lo) and the hash of
 * its body. A message whose body was edited under the same From_ line and
 * header is delivered under this key (with its own occurrence number), and
 * the record's bodies are held as such keys (struct delivery_record). */
void convert_body_key(uint64_t hi, uint64_t lo, uint64_t body, uint64_t *bhi, uint64_t *blo);
/* The hash of a message's body as it streams by (XXH3-64, xxh_fast.h), a
 * final newline added where it lacks one unless `exact` (a writer that
 * appends after such a body adds one; mboxcl2 keeps bodies as they are). */
struct xxh_fast;
struct bodysum {
	struct xxh_fast *xxh;
	bool any, last_lf;
};
void bodysum_init(struct bodysum *b);       /* out of memory: exit 75 */
void bodysum_free(struct bodysum *b);
void bodysum_begin(struct bodysum *b);
void bodysum_feed(struct bodysum *b, const void *p, size_t n);
uint64_t bodysum_end(struct bodysum *b, bool exact);
/* "<32 hex>_<n>" into out; the reverse (len bytes, nothing else). */
void convert_key_string(uint64_t hi, uint64_t lo, uint32_t n, char out[64]);
bool convert_key_parse(const char *p, size_t len, uint64_t *hi, uint64_t *lo, uint32_t *n);
/* Whether p begins with the 32 lower-case hex digits of a key (a string
 * may end sooner); their value in *hi, *lo. */
bool convert_key_hex(const char *p, uint64_t *hi, uint64_t *lo);

#define RECORD_FILE "mailshift-delivered"

/* DEST/mailshift-delivered (mailshift-formats(5)). */
struct delivery_record {
	char *path;
	int fd;                     /* -1: none (a dry run of a Maildir without one) */
	struct strbuf pending;      /* lines to append at the next sync */
	off_t loaded;               /* keys up to here are in the keyset */
	bool no_sync;
	bool failed;
	off_t reserved;             /* the file's blocks are allocated up to here */
	size_t reserve;             /* bytes a batch's keys take (0: not reserved) */
};
/* Open (create) and lock the record of a Maildir for the whole run (wait
 * up to the lock timeout for another run), and add its keys to ks; the
 * body keys of the lines with a body hash to bodies (when not NULL), their
 * keys marked KEY_HAS_BODY. A dry run only reads it. 0 or the reported
 * status. */
int record_open(struct delivery_record *rec, const char *maildir, const struct convert_opts *o,
    struct keyset *ks, struct keyset *bodies);
/* Queue a key, with the hash of its message's body when body is not NULL
 * ("<key>_<n> <16 hex>"); written and synced by record_sync(). */
void record_note(struct delivery_record *rec, uint64_t hi, uint64_t lo, uint32_t n,
    const uint64_t *body);
/* Append what was noted and sync it. 0 or -1 (reported once). quiet:
 * after a failed write (reported), the keys of what was published before
 * it are written if they can be, with no second error line. The space of
 * the next batch's keys is then allocated (fallocate), so that a disk that
 * fills with messages still takes the keys of those published. */
int record_sync(struct delivery_record *rec, bool quiet);
/* Add the keys appended since the last load to ks: one ks does not hold
 * gets `mark` (what this run delivered: memory for them is spent only when
 * a source is read again, or another source follows). 0 or -1 (reported). */
int record_catch_up(struct delivery_record *rec, struct keyset *ks, struct keyset *bodies,
    uint32_t mark);
void record_close(struct delivery_record *rec);


/* Is this one of the seven mbox metadata headers (SPEC §2.10 ▶)? */
bool convert_is_meta_header(const char *name, size_t len);
/* The header without them (X-Keywords stays when keep_keywords); out is
 * reset. True when one was left out. */
bool convert_consume_header(const char *h, size_t len, bool keep_keywords, struct strbuf *out);
/* The maildirfolder file of a Maildir++ folder (created when missing). */
void convert_maildirfolder(const struct convert_opts *o, const char *folder);

/* Arrival date from Received: or Date: (SPEC §5 W4, §3.11); *how names it. */
time_t convert_fallback_time(const struct message *m, const char **how);

/* Set by SIGINT, SIGTERM, SIGHUP while converting. */
extern volatile sig_atomic_t convert_got_signal;
void convert_signals_catch(void);
void convert_signals_reraise(void);

/*
 * mbox source locking (SPEC §2.11, mailshift-convert(1) "Locking"): the
 * writers' locks in their shared kind (MBOX_LOCK_SHARED), opened and at
 * once yielded, for the reader to take around each read; with
 * --remove-source the write lock, held for the whole run. 0 or the
 * reported status; "-", maildirs and a dry run take no lock (lk->fd stays
 * -1). The caller releases it for a compressed file, which takes none.
 */
int convert_source_lock(const struct convert_opts *o, const char *path, struct mbox_lock *lk);
/* --remove-source for an mbox source read up to byte `end` and now durable
 * in the destination: empty it (nothing arrived) or move what arrived after
 * `end` to the front (journaled rewrite). 0 or -1 (reported). */
int convert_source_remove(struct mbox_lock *lk, off_t end);

/* The key in a Maildir file name SECS.M..P..Q..X<32 hex>_<n>.host...:
 * false when the name has none. As "<32 hex>_<n>" into out (>= 48 bytes). */
bool convert_name_key_parse(const char *name, uint64_t *hi, uint64_t *lo, uint32_t *n);
bool convert_name_key(const char *name, char *out, size_t outlen);
/* Each file in new/ and cur/ of the Maildir at dir (relative to dfd, or
 * dfd itself when dir is NULL) whose name carries a key: fn(arg, "new" or
 * "cur", name, key). A missing or unreadable subdirectory is passed over
 * (the callers' checks report it). */
typedef void convert_keyed_fn(void *arg, const char *sub, const char *name, uint64_t hi,
    uint64_t lo, uint32_t n);
void convert_keyed_names(int dfd, const char *dir, convert_keyed_fn *fn, void *arg);

/* ---- base names of Maildir files (convert_common.c) ----------------------- */

/* A set of Maildir file names keyed by their base (up to the first ':'). */
struct baseset {
	char **k;
	size_t cap, len;
};
size_t base_len(const char *name);
bool baseset_has(const struct baseset *s, const char *name);
void baseset_add(struct baseset *s, const char *name);
/* The name held for this name's base, or NULL. */
const char *baseset_get(const struct baseset *s, const char *name);
void baseset_free(struct baseset *s);

/* A Maildir folder's names, listed on the first question (zeroed to start). */
struct renamed_probe {
	char *folder;
	struct baseset names[2];    /* new/, cur/ */
};
/* The name under which FOLDER's new/ or cur/ (*sub_r) holds the base of
 * NAME now, or NULL. */
const char *renamed_probe_find(struct renamed_probe *rp, const char *folder, const char *name,
    const char **sub_r);
void renamed_probe_free(struct renamed_probe *rp);

/* ---- original From_ lines (convert_common.c; mailshift-formats(5)) ------- */

#define ENVELOPE_FILE "mailshift-envelopes"

/* Append "<key> <mtime> <escaped From_ line>" to DEST/mailshift-envelopes
 * (opened on first use into *fd_io). 0 or -1 (reported). */
int envelope_append(const char *maildir, int *fd_io, const struct convert_opts *o,
    const char *key, time_t mtime, const char *line, size_t len);

struct envstore;
/* Load a maildir's records (NULL when it has none). */
struct envstore *envstore_load(const char *maildir);
/* The original From_ line for a key when its mtime still matches. */
bool envstore_lookup(const struct envstore *es, const char *key, time_t mtime,
    const char **line_r, size_t *len_r);
void envstore_free(struct envstore *es);

#endif
