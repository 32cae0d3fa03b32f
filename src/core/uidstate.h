/*
 * uidstate.h: IMAP and POP3 client state across a conversion (SPEC §1.10,
 * §2.8, §2.9; mailshift-formats(5) "UID state").
 *
 * mbox -> Maildir: the folder data of X-IMAPbase (first message) or X-IMAP
 * (the UW pseudo message), each message's X-UID and X-UIDL are collected in
 * reading order; once the messages are published, the UIDs are settled
 * (kept, or renumbered with a warning naming FILE:OFFSET) and written to
 * DEST/dovecot-uidlist (version 3), merged with an existing list: listed
 * UIDs never change.
 * Maildir -> mbox: dovecot-uidlist (and the keyword names) give back
 * X-IMAPbase for the first message, X-UID and X-UIDL for each; values that
 * already say the same are left byte for byte.
 */
#ifndef MAILSHIFT_UIDSTATE_H
#define MAILSHIFT_UIDSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

#define UIDLIST_FILE "dovecot-uidlist"
#define UIDLIST_LOCK "dovecot-uidlist.lock"

/* Folder data of X-IMAPbase / X-IMAP: "<uidvalidity> <last uid> [kw ...]". */
struct uid_base {
	uint32_t validity;
	uint32_t last;             /* last UID given out: next UID is last + 1 */
	struct strbuf keywords;    /* names, one SP between them */
};
/* Parse a header value (unfolded or not). false when it does not start
 * with two decimal numbers, validity is 0 or a number exceeds 32 bits.
 * b->keywords is reset and filled (free with sb_free). */
bool uidstate_parse_base(const char *value, size_t len, struct uid_base *b);
/* Parse an X-UID value: 1..4294967294, white space around allowed; else 0. */
uint32_t uidstate_parse_uid(const char *value, size_t len);
/* A POP3 UIDL as dovecot-uidlist can hold it (RFC 1939: 1-70 bytes
 * 0x21..0x7e): trimmed into out; false when not valid. */
bool uidstate_parse_uidl(const char *value, size_t len, struct strbuf *out);

/* ---- mbox -> Maildir ------------------------------------------------------ */

struct uidstate;

/* `mailbox` names the source in warnings ("FILE:OFFSET: ..."). */
struct uidstate *uidstate_new(const char *mailbox);
void uidstate_free(struct uidstate *us);

/* The header of the skipped UW pseudo message (mbox_reader_pseudo_header). */
void uidstate_pseudo(struct uidstate *us, const char *hdr, size_t len);

/*
 * One message of the source, in reading order (every message, also those
 * already in the destination: deliver = false). Returns the cookie to hand
 * to maildir_writer_end() so that uidstate_published() can name it.
 */
uint64_t uidstate_message(struct uidstate *us, const char *hdr, size_t len, off_t offset,
    bool deliver);
/* The published callback: the message's file is subdir/name. */
void uidstate_published(struct uidstate *us, uint64_t cookie, const char *name);
/* A message not delivered now (deliver = false) whose file an earlier run
 * published as name, and which is to be listed if the list lacks it (a run
 * that ended between publishing and writing the list). */
void uidstate_found(struct uidstate *us, uint64_t cookie, const char *name);

/* Whether the source carried any UID state (X-IMAPbase, X-IMAP, X-UID, X-UIDL). */
bool uidstate_present(const struct uidstate *us);
/* Keyword names listed in X-IMAPbase / X-IMAP (one SP between), or "". */
const char *uidstate_keywords(const struct uidstate *us, size_t *len_r);

/* What uidstate_write() did, for the summary and the tests. */
struct uidstate_result {
	uint32_t validity, next;   /* as written */
	uint32_t old_validity;     /* the source's, 0 when it had none */
	size_t kept;               /* messages with their X-UID */
	size_t renumbered;         /* duplicate / decreasing X-UID: new UID */
	size_t fresh;              /* no (valid) X-UID: new UID */
	size_t uidls;              /* P fields written */
	size_t warnings;
	bool merged;               /* an existing list was extended */
	bool validity_changed;
};

/*
 * Settle the UIDs of the published messages and write (or extend)
 * maildir/dovecot-uidlist under dovecot-uidlist.lock, through tmp/ and
 * rename(); `dirfd` is the maildir's directory fd, `path` its name for
 * messages. lock_timeout in seconds (exit 75 after it). fsync unless
 * no_sync. 0 or -1 (reported, status remembered).
 */
int uidstate_write(struct uidstate *us, int dirfd, const char *path, int lock_timeout,
    bool no_sync, struct uidstate_result *res_r);

/* ---- Maildir -> mbox ------------------------------------------------------ */

struct uidlist;

/*
 * Read maildir/dovecot-uidlist (version 3; no lock, SPEC §1.10) and count
 * the message files of new/ and cur/ it does not list. *ul_r is NULL when
 * there is no list. 0, or -1 for an unreadable or malformed list (reported
 * as a warning; the conversion goes on without UID state).
 */
int uidlist_read(int dirfd, const char *path, struct uidlist **ul_r);
void uidlist_free(struct uidlist *ul);
uint32_t uidlist_validity(const struct uidlist *ul);
uint32_t uidlist_next(const struct uidlist *ul);
size_t uidlist_count(const struct uidlist *ul);
/* Look up a file name (its base part before the info is compared):
 * true and the UID, and the P field (or NULL) when listed. */
bool uidlist_lookup(const struct uidlist *ul, const char *name, size_t len, uint32_t *uid_r,
    const char **uidl_r, size_t *uidl_len_r);

/*
 * The headers for one output message, in output order. The first call
 * gives the first message X-IMAPbase "<V> <last> <keywords>" (last
 * reserves a UID for every unlisted file); a listed message gets X-UID
 * when its UID is above the previous one, otherwise (and when unlisted) a
 * fresh UID; X-UIDL from the P field. Fields that already say the same
 * (numbers compared as numbers, keywords as sets) are kept byte for byte;
 * X-IMAPbase / X-IMAP in later messages are removed. `keywords` are the
 * maildir's keyword names (one SP between). out is reset; returns true
 * when the block changed.
 */
struct uid_out {
	const struct uidlist *ul;
	const char *keywords;
	size_t kwlen;
	size_t n;                  /* messages so far */
	uint32_t prev;             /* last UID written */
	uint32_t fresh_next;       /* next fresh UID */
	uint32_t last;             /* last UID announced in X-IMAPbase */
	size_t unplaced;           /* messages left without X-UID (pool used up) */
};
void uid_out_init(struct uid_out *uo, const struct uidlist *ul, const char *keywords,
    size_t kwlen);
bool uid_out_header(struct uid_out *uo, const char *name, size_t name_len, const char *hdr,
    size_t len, struct strbuf *out);

/* ---- check and repair (mailshift-check(1) UIDLIST-*) ---------------------- */

/* The header line "3 V<validity> N<next> ..." (without LF): false when it
 * is not version 3 or V or N is missing, zero or above 32 bits. */
bool uidlist_parse_header(const char *p, size_t len, uint32_t *validity_r, uint32_t *next_r);
/* One entry line "<uid> [fields] :<name>" (without LF): the UID and the
 * base name (before the info). false when malformed. */
bool uidlist_parse_entry(const char *p, size_t len, uint32_t *uid_r, const char **base_r,
    size_t *base_len_r);
/* Take dovecot-uidlist.lock of the maildir (O_EXCL, retried each second
 * up to timeout seconds): the lock's fd, or -1 (reported; 75 when held). */
int uidlist_lock(int dirfd, const char *path, int timeout);
void uidlist_unlock(int dirfd, int lock_fd);
/* Replace dovecot-uidlist with data through tmp/ + rename() (the caller
 * holds the lock). 0 or -1 (errno). */
int uidlist_replace(int dirfd, const struct strbuf *data, bool no_sync);

/* ---- composing a list (SPEC §1.10, §1.11) --------------------------------- */

/*
 * One entry of a version 3 list. The POP3 fields are what Dovecot >= 2.0.13
 * reports instead of its own values: P the UIDL, W the size (LIST, STAT),
 * O the position in the POP3 listing (1-based; messages without O follow,
 * in UID order).
 */
struct uidlist_entry {
	uint32_t uid;
	const char *uidl;          /* P field or NULL */
	bool has_vsize;
	uint64_t vsize;            /* W field when has_vsize */
	uint32_t order;            /* O field, 0 for none */
	const char *name;          /* file name written after ':' */
};
/* Append the header line "3 V<validity> N<next> G<guid>" and LF, with a
 * fresh random mailbox GUID. */
void uidlist_format_header(uint32_t validity, uint32_t next, struct strbuf *out);
/* Append "<uid> [P<uidl> ][W<vsize> ][O<order> ]:<name>" and LF. The caller
 * writes entries in increasing UID order (Dovecot requires it). */
void uidlist_format_entry(const struct uidlist_entry *e, struct strbuf *out);

#endif
