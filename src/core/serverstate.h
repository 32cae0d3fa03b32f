/*
 * serverstate.h: the state other servers keep beside a Maildir, and the
 * Dovecot state that carries it over (SPEC §1.10, §1.11;
 * mailshift-formats(5) "State other servers keep").
 *
 * Readers turn a file's bytes into values, with no I/O: Courier-IMAP's
 * courierimapuiddb, Courier POP3's courierpop3dsizelist (versions 0 to 3),
 * courierimapkeywords/ (the :list and the update files), and the
 * subscription files of Courier and Dovecot. Whatever does not parse is a
 * finding (file, line, what) and is left out; the rest stays usable, and
 * nothing is applied half: a file whose header cannot be read is not used
 * at all. The loaders at the end read these files from a maildir.
 *
 * serverstate_merge() computes, from the messages present and these
 * states, the Dovecot state to write: a UID per message, UIDVALIDITY and
 * the next UID, the POP3 fields P (UIDL), W (size) and O (order) of
 * dovecot-uidlist version 3, and keyword letters with their
 * dovecot-keywords indexes. qmail-pop3d keeps no state; its UIDLs (the
 * base names), sizes (the file sizes) and order (by mtime) are computed
 * from the messages themselves.
 */
#ifndef MAILSHIFT_SERVERSTATE_H
#define MAILSHIFT_SERVERSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util.h"

#define COURIER_UIDDB_FILE "courierimapuiddb"
#define COURIER_POP3_FILE "courierpop3dsizelist"
#define COURIER_KEYWORDS_DIR "courierimapkeywords"
#define COURIER_SUBSCRIBED_FILE "courierimapsubscribed"
#define DOVECOT_SUBSCRIPTIONS_FILE "subscriptions"
#define DOVECOT_KEYWORDS_FILE "dovecot-keywords"

/* ---- findings --------------------------------------------------------------- */

enum state_problem {
	STATE_UNREADABLE = 1,    /* the file could not be read (not used) */
	STATE_EMPTY,             /* no header line (not used) */
	STATE_BAD_HEADER,        /* the first line is not the header (not used) */
	STATE_UNKNOWN_VERSION,   /* a format version not known (not used) */
	STATE_TRUNCATED,         /* the last line has no LF (that line not used) */
	STATE_BAD_LINE,          /* a line that does not parse (not used) */
	STATE_DUPLICATE_UID,     /* a UID listed before (the later line not used) */
	STATE_DUPLICATE_NAME,    /* a file listed before (the later line not used) */
	STATE_UID_ORDER,         /* a UID not above the previous one: fresh UID */
	STATE_MISSING_FILE,      /* the line names no message present */
	STATE_BAD_INDEX,         /* a keyword index beyond the :list */
	STATE_BAD_KEYWORD,       /* a keyword name that is no IMAP atom (not carried) */
	STATE_TOO_MANY_KEYWORDS, /* beyond the 26 letters of a Maildir (not carried) */
	STATE_UIDS_EXHAUSTED,    /* no UID left below 2^32: renumbered */
	STATE_NOT_CARRIED,       /* a subscription outside the INBOX namespace */
	STATE_SIZE_DIFFERS,      /* a POP3 size Dovecot cannot report (notice) */
};

struct state_finding {
	enum state_problem what;
	char *file;              /* as the caller named it */
	size_t line;             /* 1-based; 0 for the whole file */
	char *text;              /* one sentence, without file and line */
};
struct state_findings {
	struct state_finding *v;
	size_t n, cap;
};
#define STATE_FINDINGS_INIT { NULL, 0, 0 }

/* How bad a finding is (mailshift-check(1) severities): a note is what a
 * healthy server leaves too (a line naming a message since deleted, a POP3
 * size Dovecot reports otherwise); a warning loses a little state (a fresh
 * UID, a keyword); an error is a damaged file or line, not used. */
enum state_severity { STATE_NOTE, STATE_WARNING, STATE_ERROR };
enum state_severity state_problem_severity(enum state_problem what);

void state_findings_free(struct state_findings *f);
/* A stable code for a problem: "STATE-TRUNCATED", "STATE-DUPLICATE-UID"... */
const char *state_problem_code(enum state_problem what);
/* "FILE:LINE: CODE: text" (no ":LINE" for line 0) into out (appended). */
void state_finding_format(const struct state_finding *sf, struct strbuf *out);

/* ---- courierimapuiddb ----------------------------------------------------------
 * "1 <uidvalidity> <next uid>", then "<uid> <file name>" per message; the
 * name may carry a stale info part, so only its base (up to the first
 * ':') counts. A listed UID >= next uid raises next uid.
 */
struct courier_uid {
	uint32_t uid;
	char *base;
	size_t line;
};
struct courier_uiddb {
	bool present;            /* a usable file was read */
	char *file;              /* the name it was parsed under, for findings */
	uint32_t validity;
	uint32_t next;           /* above every UID listed, duplicates included */
	struct courier_uid *e;   /* usable lines in file order */
	size_t n;
};
/* Parse a file's bytes. 0, or -1 when the file is not usable as a whole
 * (empty, bad header: present stays false). db is initialised either way;
 * free it with courier_uiddb_free. */
int courier_uiddb_parse(const char *data, size_t len, const char *file, struct courier_uiddb *db,
    struct state_findings *f);
void courier_uiddb_free(struct courier_uiddb *db);

/* ---- courierpop3dsizelist ------------------------------------------------------
 * No "/" line: version 0, lines "<name> <size>"; "/1 <next uid>": lines
 * "<name> <size> <uid>"; "/2 <next uid> <uidvalidity>": "<name> <size>
 * <uid>:<uidvalidity>"; "/3 ...": "<name> <size> <uid>:<uidvalidity>:<n>"
 * (n: Courier's UTF-8 mark). Lines are in POP3 order. Fields are taken from
 * the right, as Courier does, so a name may hold spaces.
 */
struct courier_pop3_msg {
	char *base;              /* up to the first ':' */
	uint64_t size;           /* the size POP3 reported */
	uint32_t uid, validity;  /* 0 for version 0 */
	char *uidl;              /* the UIDL a client saw */
	size_t line;
};
struct courier_pop3 {
	bool present;
	char *file;
	int version;             /* 0..3 */
	uint32_t next, validity; /* from the "/" line, 0 when it has none */
	struct courier_pop3_msg *e;  /* usable lines, POP3 order */
	size_t n;
};
int courier_pop3_parse(const char *data, size_t len, const char *file, struct courier_pop3 *p,
    struct state_findings *f);
void courier_pop3_free(struct courier_pop3 *p);
/* The UIDL Courier reports: uid 0 (and version 0) gives the base name
 * with every byte below 0x21 or above 0x7e and ' " + written "+XX"
 * (upper-case hex); else "UID<uid>-<uidvalidity>", or "UID<uid>" when
 * the uidvalidity is 0. Appended to out. */
void courier_pop3_uidl(const char *base, size_t len, uint32_t uid, uint32_t validity,
    struct strbuf *out);

/* ---- courierimapkeywords/ ----------------------------------------------------
 * ":list": keyword names one a line up to an empty line (a name's 0-based
 * position is its index), then "<base name>:<index> <index> ...". Update
 * files in the same directory, "<base>" or ".<n>.<base>", list a message's
 * keyword names one a line and replace its set; for each base the plain
 * name wins, else the highest n. Names starting with ':' and ".tmp."
 * scratch files are not update files.
 */
struct courier_kw_msg {
	char *base;
	uint32_t *idx;           /* indexes into names[] */
	size_t n;
};
struct courier_keywords {
	bool present;            /* a :list or an update file was read */
	char *file;              /* the :list's name, for findings */
	char **names;            /* index -> name: the :list, then names first met in updates */
	bool *valid;             /* IMAP atom? (invalid names are never carried) */
	size_t nnames;
	struct courier_kw_msg *m;    /* one per base name, in the order first met */
	size_t n;
	size_t *slot;            /* hash of base names: index into m + 1, 0 free */
	size_t nslot;
};
int courier_kw_parse_list(const char *data, size_t len, const char *file,
    struct courier_keywords *kw, struct state_findings *f);
/* Which entries of a directory listing are the update files to apply:
 * fills chosen[] with indexes into names[] (at most n), in listing order,
 * and returns how many. */
size_t courier_kw_pick_updates(char *const *names, size_t n, size_t *chosen);
/* The base name an update file speaks for ("x" for "x" and ".17.x"), or
 * NULL when the name is no update file. *len_r its length. */
const char *courier_kw_update_base(const char *fname, size_t *len_r);
/* Apply one chosen update file: the message's set becomes the names it
 * lists (none: an empty set). */
void courier_kw_apply_update(struct courier_keywords *kw, const char *fname, const char *data,
    size_t len, const char *file, struct state_findings *f);
void courier_kw_free(struct courier_keywords *kw);
/* The keyword set of a base name, or NULL. */
const struct courier_kw_msg *courier_kw_lookup(const struct courier_keywords *kw,
    const char *base, size_t len);

/* ---- subscriptions -------------------------------------------------------------
 * A subscription is a folder name as Dovecot's subscriptions file holds it
 * for a Maildir++ layout: "Sent", "Lists.debian" ('.' between levels),
 * and "INBOX". Courier writes "INBOX.<folder>" and "INBOX"; Dovecot writes
 * one name a line (old form) or, after a "V\t2" line and an empty line,
 * the levels of a name separated by TAB with \001 escapes (\0011 \001t
 * \001r \001n for \001 TAB CR LF).
 */
struct subscriptions {
	char **names;
	size_t n;
};
int subscriptions_parse_courier(const char *data, size_t len, const char *file,
    struct subscriptions *s, struct state_findings *f);
int subscriptions_parse_dovecot(const char *data, size_t len, const char *file,
    struct subscriptions *s, struct state_findings *f);
/* Add a name unless listed (INBOX compared case-insensitively, as IMAP
 * does). true when added. */
bool subscriptions_add(struct subscriptions *s, const char *name, size_t len);
void subscriptions_format_courier(const struct subscriptions *s, struct strbuf *out);
void subscriptions_format_dovecot(const struct subscriptions *s, bool v2, struct strbuf *out);
void subscriptions_free(struct subscriptions *s);

/* ---- the merge ---------------------------------------------------------------- */

struct present_msg {
	const char *name;        /* file name in new/ or cur/, info included */
	uint64_t size;           /* the file's size in bytes */
	time_t mtime;
	int64_t vsize;           /* its size with CR LF line ends, -1 when unknown */
};

enum pop3_source {
	POP3_NONE = 0,           /* no POP3 state to carry */
	POP3_COURIER,            /* courierpop3dsizelist */
	POP3_QMAIL,              /* qmail-pop3d: base names, file sizes, mtime order */
};

struct serverstate_in {
	const struct present_msg *msgs;
	size_t n;
	const struct courier_uiddb *uiddb;     /* NULL or not present: no IMAP state */
	const struct courier_pop3 *pop3;       /* for POP3_COURIER */
	enum pop3_source pop3_source;
	const struct courier_keywords *kw;     /* NULL: none */
	char *const *dovecot_kw;               /* an existing dovecot-keywords (26) or NULL */
	uint32_t validity_fallback;            /* UIDVALIDITY without a courierimapuiddb */
};

struct merged_msg {
	uint32_t uid;
	bool fresh;              /* not the old server's UID */
	const char *uidl;        /* P, or NULL (into the input state or st) */
	bool has_vsize;
	uint64_t vsize;          /* W: the message's vsize (when known) */
	uint32_t order;          /* O (1-based), 0 for none */
	uint32_t keywords;       /* letters a..z as bits (bit 0 = 'a') */
	uint32_t flags;          /* MF_PASSED when the keywords hold $Forwarded */
};

struct serverstate {
	uint32_t validity, next;
	struct merged_msg *m;    /* parallel to the input messages */
	size_t n;
	char *keywords[26];      /* dovecot-keywords: index -> name, NULL when free */
	char **dropped;          /* keyword names not carried (no free letter) */
	size_t ndropped;
	size_t kept, fresh, uidls, orders, with_keywords;
	char **own;              /* strings the merge made (qmail UIDLs) */
	size_t nown;
};

/*
 * The rule (SPEC §1.11): walking courierimapuiddb in file order, a message
 * keeps its Courier UID when the UID is above the previous one kept;
 * ill-ordered messages, messages listed only by POP3 and messages listed
 * nowhere get fresh UIDs from the next UID upwards, in delivery order of
 * their names. UIDVALIDITY is courierimapuiddb's, else validity_fallback.
 * POP3: the UIDL, size and position of each message the POP3 state
 * lists. W is the message's vsize when the caller knows it: Dovecot
 * reports W as the size to IMAP as well as to POP3, and a W that is not
 * the message's size breaks every FETCH of it. Courier's POP3 size is the
 * vsize, except 2 bytes more for a file without a final LF (a notice,
 * STATE_SIZE_DIFFERS); qmail-pop3d reported file sizes, which Dovecot
 * cannot (RFC 1939 counts CR LF). Keywords: an existing dovecot-keywords
 * keeps its indexes; the
 * others take free letters in Courier's index order; those that find none
 * are listed in dropped. A second file with the same base name gets a
 * fresh UID and no state. Findings name every line not used.
 */
void serverstate_merge(const struct serverstate_in *in, struct serverstate *out,
    struct state_findings *f);
void serverstate_free(struct serverstate *st);
/* dovecot-uidlist (version 3; entries by UID; msgs as given to the merge). */
void serverstate_format_uidlist(const struct serverstate *st, const struct present_msg *msgs,
    struct strbuf *out);
/* dovecot-keywords: "<index> <name>" lines. */
void serverstate_format_keywords(const struct serverstate *st, struct strbuf *out);

/* ---- loading a maildir's files ------------------------------------------------ */

struct courier_state {
	struct courier_uiddb uiddb;
	struct courier_pop3 pop3;
	struct courier_keywords kw;
	struct subscriptions courier_subs;   /* courierimapsubscribed */
	struct subscriptions dovecot_subs;   /* subscriptions */
	bool has_courier_subs, has_dovecot_subs;
};
/*
 * Read every file of this list that exists below dirfd (path names the
 * maildir in findings). Missing files are no finding; unreadable ones
 * are. 0, or -1 with errno when the directory itself cannot be read.
 */
int courier_state_load(int dirfd, const char *path, struct courier_state *cs,
    struct state_findings *f);
void courier_state_free(struct courier_state *cs);
/* Larger state files are refused: a courierimapuiddb of 64 MiB lists
 * about a million messages (state_file_read() in statefile.h). */
#define STATE_FILE_MAX (64u * 1024 * 1024)

#endif
