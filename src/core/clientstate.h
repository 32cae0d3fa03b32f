/*
 * clientstate.h: what mail clients wrote into the messages they keep
 * (SPEC §2.8, §2.10; mailshift-formats(5) "What mail clients write").
 *
 * Thunderbird: X-Mozilla-Status (4 hex digits), X-Mozilla-Status2 (8 hex
 * digits) and X-Mozilla-Keys (tags, blank-padded). Evolution:
 * X-Evolution: <uid>-<flags> (8 and 4 hex digits), then "; flags=..."
 * with its user flags. Gmail Takeout: X-Gmail-Labels, the labels as a
 * comma-separated list. Each gives flags, keywords and (Gmail) folders.
 *
 * Precedence, when several speak: a client's own header is the current
 * truth, a server's Status/X-Status/X-Keywords are what the server knew
 * when the client fetched the message, and no client updates them
 * (Thunderbird itself reads Status only when X-Mozilla-Status is absent).
 * So: X-Gmail-Labels, else X-Evolution, else X-Mozilla-Status, else the
 * server's headers (flags.h). Headers outranked or malformed are counted
 * and named in `ignored` / `bad`. Of repeated headers the first counts.
 *
 * $Forwarded, from whichever header, sets both the flag P (Courier, mutt,
 * isync) and the keyword (Dovecot shows keywords, not P).
 */
#ifndef MAILSHIFT_CLIENTSTATE_H
#define MAILSHIFT_CLIENTSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum client_kind {
	CLIENT_NONE = 0,         /* Status / X-Status / X-Keywords decided */
	CLIENT_THUNDERBIRD,
	CLIENT_EVOLUTION,
	CLIENT_GMAIL,
};

/* Which client headers were present but not used. */
enum {
	CS_MOZILLA = 1u << 0,    /* X-Mozilla-Status (and -Status2, -Keys with it) */
	CS_EVOLUTION = 1u << 1,
	CS_GMAIL = 1u << 2,
	CS_SERVER = 1u << 3,     /* Status, X-Status or X-Keywords */
};

/* Gmail labels that are not system labels become... */
enum label_mode {
	LABELS_FOLDERS = 0,      /* folders: the message is linked into each */
	LABELS_KEYWORDS,         /* keywords (SP and other non-atom bytes as '_') */
	LABELS_NONE,             /* nothing (still listed in labels) */
};

struct strlist {
	char **v;
	size_t n;
};
void strlist_add(struct strlist *l, const char *s, size_t n);
bool strlist_has(const struct strlist *l, const char *s, size_t n);
void strlist_free(struct strlist *l);

struct clientstate_opts {
	enum label_mode labels;
};

struct client_state {
	enum client_kind client; /* whose header decided */
	uint32_t flags;          /* MF_* */
	bool old;                /* seen by a reader: goes to cur/ */
	bool expunged;           /* Thunderbird: deleted, folder not yet compacted */
	bool partial;            /* Thunderbird: only part of it was downloaded */
	struct strbuf keywords;  /* names, one SP between, no duplicates */
	struct strlist rejected; /* keyword names that are no IMAP atom: not carried */
	struct strlist folders;  /* Gmail: where it goes, '/' between levels, "" INBOX */
	struct strlist labels;   /* Gmail: the user labels as written (decoded) */
	unsigned ignored;        /* CS_* present but outranked */
	unsigned bad;            /* CS_* present but malformed (not used) */
	unsigned duplicates;     /* repeated client headers */
};

/* Read a top-level header block. Initialises *cs; free with
 * client_state_free. opts may be NULL (LABELS_FOLDERS). */
void clientstate_from_header(const char *hdr, size_t len, const struct clientstate_opts *opts,
    struct client_state *cs);
void client_state_free(struct client_state *cs);

/* ---- the parts, each usable on its own ------------------------------------ */

/* Thunderbird's bits. */
enum {
	MOZ_READ = 0x0001, MOZ_REPLIED = 0x0002, MOZ_MARKED = 0x0004,
	MOZ_EXPUNGED = 0x0008, MOZ_HAS_RE = 0x0010, MOZ_ELIDED = 0x0020,
	MOZ_FEED = 0x0040, MOZ_OFFLINE = 0x0080, MOZ_WATCHED = 0x0100,
	MOZ_SENDER_AUTHED = 0x0200, MOZ_PARTIAL = 0x0400, MOZ_QUEUED = 0x0800,
	MOZ_FORWARDED = 0x1000, MOZ_PRIORITIES = 0xE000,
	MOZ2_NEW = 0x00010000, MOZ2_IGNORED = 0x00040000, MOZ2_IMAP_DELETED = 0x00200000,
	MOZ2_MDN_NEEDED = 0x00400000, MOZ2_MDN_SENT = 0x00800000,
	MOZ2_TEMPLATE = 0x01000000, MOZ2_LABELS = 0x0E000000, MOZ2_ATTACHMENT = 0x10000000,
};
/* X-Mozilla-Status: exactly 4 hex digits (white space around allowed), as
 * Thunderbird reads it. false when it is not that. */
bool mozilla_status_parse(const char *v, size_t n, uint32_t *bits_r);
/* X-Mozilla-Status2: 1 to 8 hex digits. */
bool mozilla_status2_parse(const char *v, size_t n, uint32_t *bits_r);

/* Evolution's (camel) bits in X-Evolution. */
enum {
	EVO_ANSWERED = 0x01, EVO_DELETED = 0x02, EVO_DRAFT = 0x04, EVO_FLAGGED = 0x08,
	EVO_SEEN = 0x10, EVO_ATTACHMENTS = 0x20, EVO_ANSWERED_ALL = 0x40, EVO_JUNK = 0x80,
	EVO_SECURE = 0x100, EVO_NOTJUNK = 0x200, EVO_FORWARDED = 0x400,
};
/* "<8 hex>-<4 hex>[; flags=a,b][; tags=...]": the flag bits and the user
 * flags (appended to user_flags). false when the first token is not
 * exactly that, as Evolution requires. */
bool evolution_parse(const char *v, size_t n, uint32_t *flags_r, struct strlist *user_flags);

/* Split an X-Gmail-Labels value (unfolded, RFC 2047 decoded) into labels:
 * comma-separated, a label holding a comma or a quote is written in
 * double quotes with "" for a quote, spaces around a label are not part
 * of it. Appends to out; false (out unchanged) on an unclosed quote. */
bool gmail_labels_split(const char *v, size_t n, struct strlist *out);
/* A label as an IMAP keyword: bytes that cannot be in an atom become '_'.
 * out is reset. */
void label_keyword(const char *label, size_t n, struct strbuf *out);

#endif
