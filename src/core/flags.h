/*
 * flags.h: message state between mbox headers and maildir names
 * (SPEC §1.5, §1.6, §1.7, §2.8, §2.10).
 *
 * mbox -> Maildir: Status R -> S, r -> R; X-Status A -> R, F -> F, T -> D,
 * D -> T; X-Keywords $Forwarded -> P, other keywords kept by name;
 * X-Mozilla-Status only when there is neither Status nor X-Status.
 * Status O or R, or any flag, puts the message in cur/.
 * Maildir -> mbox: the reverse (flags_to_status, flags_to_xstatus).
 */
#ifndef MAILSHIFT_FLAGS_H
#define MAILSHIFT_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "message.h"
#include "util.h"

struct mbox_state {
	uint32_t flags;          /* MF_* */
	bool old;                /* Status O or R: goes to cur/ */
	bool has_status;         /* a Status: or X-Status: field exists */
	unsigned duplicates;     /* repeated Status/X-Status/X-Keywords fields (reported) */
	struct strbuf keywords;  /* keyword names other than $Forwarded, one SP
	                          * between them, in header order, no duplicates */
};

/* Read the state from a top-level header block. Initialises *st (free it
 * with mbox_state_free). Per SPEC §2.8 the first of repeated fields wins. */
void flags_from_mbox_header(const char *hdr, size_t len, struct mbox_state *st);
/* The same from Status, X-Status and X-Keywords alone (what a server
 * wrote), X-Mozilla-Status not consulted; clientstate.h weighs the clients'
 * own headers against these. */
void flags_from_server_header(const char *hdr, size_t len, struct mbox_state *st);

/* Is the name an IMAP keyword (RFC 3501 flag-keyword: 1*ATOM-CHAR, so no
 * SP, CTL, non-ASCII, ( ) { % * " \ ]; and no leading \, which would
 * make it a system flag)? */
bool keyword_is_atom(const char *name, size_t len);
void mbox_state_free(struct mbox_state *st);

/* Map letters to bits and back. flags_letters writes the letters of `flags`
 * in ASCII order (D F P R S T) into buf (>= 7 bytes), NUL-terminated,
 * returning the count. */
uint32_t flags_from_letter(char c);        /* 0 when not a flag letter */
size_t flags_letters(uint32_t flags, char *buf);

/* Status value for an mbox: "RO" when seen, "O" when old/in cur, "" else. */
void flags_to_status(uint32_t flags, bool old, char buf[4]);
/* X-Status value in UW order D F A T: D <- MF_TRASHED, F <- MF_FLAGGED,
 * A <- MF_REPLIED, T <- MF_DRAFT. */
void flags_to_xstatus(uint32_t flags, char buf[8]);

/*
 * A parsed maildir file name (SPEC §1.2, §1.5, §1.7). The info starts after
 * the last ':' (or, with sep '!' / ';', the last such separator when there is
 * no ':'). All spans point into the name.
 */
struct maildir_name {
	const char *uniq;          /* unique part: up to ",S=", ",W=" or the info */
	size_t uniq_len;
	const char *base;          /* everything before the info separator */
	size_t base_len;
	const char *info;          /* after the separator, or NULL */
	size_t info_len;
	char sep;                  /* ':' (or '!' / ';'), 0 when no info */
	long long size_s;          /* ,S= value or -1 */
	long long size_w;          /* ,W= value or -1 */
	uint32_t flags;            /* MF_* from "2," info */
	uint32_t keywords;         /* a..z letters as bits (bit 0 = 'a') */
	unsigned anomalies;        /* MN_* below */
};
enum {
	MN_UNSORTED      = 1u << 0,  /* flag letters not in ASCII order */
	MN_DUPLICATE     = 1u << 1,  /* a flag letter twice */
	MN_UNKNOWN_FLAG  = 1u << 2,  /* a letter that is neither D F P R S T nor a..z */
	MN_EXPERIMENTAL  = 1u << 3,  /* info "1," (opaque) */
	MN_BAD_INFO      = 1u << 4,  /* info neither "1," nor "2," */
	MN_COLON_IN_UNIQ = 1u << 5,  /* more than one ':' */
	MN_DOT_START     = 1u << 6,  /* name starts with '.' (not a message) */
	MN_BAD_SIZE      = 1u << 7,  /* ,S= or ,W= with non-digits */
	MN_ALT_SEP       = 1u << 8,  /* info introduced by '!' or ';' */
};

/* Parse a name; never fails (anomalies are recorded). */
void maildir_name_parse(const char *name, size_t len, struct maildir_name *mn);

/*
 * Build the canonical info for flags and keyword letters: "2," + letters
 * sorted by byte value, no duplicates, with `extra` letters (unknown ones
 * to preserve, may be NULL) merged in. Returns the length written to buf
 * (>= 64 bytes).
 */
size_t flags_make_info(uint32_t flags, uint32_t keywords, const char *extra, char *buf);

/* W= (RFC822.SIZE) contribution of a chunk: bytes plus LFs not preceded by
 * CR. `prev_cr` carries whether the previous chunk ended with CR. */
uint64_t flags_vsize_add(const char *p, size_t n, bool *prev_cr);

#endif
