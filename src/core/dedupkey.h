/*
 * dedupkey.h: what two messages must share to be duplicates (DESIGN §3
 * dedup, SPEC §3.6 ▶, §2.8), as a canonical byte stream, its XXH3-128 hash
 * and a byte-for-byte comparator over the same stream.
 *
 * A message is fed as its bytes (header block and body, no From_ line, mbox
 * quoting undone), in any chunking. The canonicaliser finds the end of the
 * header (header_block_len over at most READER_HEADER_MAX bytes), extracts
 * what the key covers and emits the canonical stream; the hasher and the
 * comparator both consume that one stream, so a hash can only ever stand
 * for bytes the comparator would compare. Every key's stream starts with a
 * tag naming the key actually used, so a message that fell back to the full
 * content never equals one keyed by Message-ID.
 *
 *   message-id  "id:" LEN ":" ID                     (SPEC §3.6 extraction)
 *   body        "body:" + body                       (CRLF -> LF)
 *   default     "id:" LEN ":" ID "\n" "body:" + body
 *   headers     "hdr:" + for From, To, Cc, Subject, Date: NAME ":" value "\n"
 *               (first occurrence, unfolded, runs of SP/HT as one SP,
 *               trimmed; "NAME\n" when absent), then "id:" LEN ":" ID
 *   full        "full:" + header without Status, X-Status, X-Keywords,
 *               X-UID, X-IMAP, X-IMAPbase, Content-Length, Lines fields
 *               + body, all CRLF -> LF
 * default, message-id and headers fall back to full when the message has no
 * Message-ID (missing, empty or "<>").
 */
#ifndef MAILSHIFT_DEDUPKEY_H
#define MAILSHIFT_DEDUPKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

enum dedup_key {
	DEDUP_KEY_DEFAULT = 0,  /* Message-ID and body */
	DEDUP_KEY_MESSAGE_ID,
	DEDUP_KEY_BODY,
	DEDUP_KEY_FULL,
	DEDUP_KEY_HEADERS,
};
/* "message-id", "body", "full", "headers", "default" -> value; -1 unknown. */
int dedupkey_parse(const char *s);
const char *dedupkey_name(enum dedup_key k);

struct dedup_hash {
	uint64_t hi, lo;
};

/* Receives the canonical stream (comparator) when not hashing. */
typedef void (*dedupkey_sink_fn)(void *arg, const void *p, size_t n);

struct dedupkey {
	enum dedup_key key;     /* asked for */
	enum dedup_key used;    /* applied (FULL after a fallback); set once
	                         * the header is known */
	int phase;              /* private: header, body, ignore */
	bool pending_cr;        /* private: a CR held back at a chunk end */
	bool has_id;            /* the message has a Message-ID */
	struct strbuf hdr;      /* private: header bytes gathered */
	dedupkey_sink_fn sink;  /* NULL: hash */
	void *sink_arg;
	void *xxh;              /* private: XXH3_state_t * */
	uint64_t bytes;         /* message bytes fed */
	uint64_t canon_bytes;   /* canonical bytes emitted */
};

/* Start a message; sink NULL hashes the stream. */
void dedupkey_init(struct dedupkey *k, enum dedup_key key, dedupkey_sink_fn sink, void *arg);
/* More message bytes, in order. */
void dedupkey_feed(struct dedupkey *k, const void *p, size_t n);
/* False once further bytes cannot change the key (message-id with an ID):
 * a reader may stop there. */
bool dedupkey_wants_more(const struct dedupkey *k);
/* End of the message. With hashing, *h_r gets XXH3-128 of the stream,
 * truncated to MAILSHIFT_HASH_BITS bits under the test hooks (h_r may be
 * NULL for a sink). *k is then ready for the next message with the same
 * key and sink. */
void dedupkey_finish(struct dedupkey *k, struct dedup_hash *h_r);
void dedupkey_free(struct dedupkey *k);

/* One message in memory. */
void dedupkey_hash_mem(enum dedup_key key, const void *msg, size_t len, struct dedup_hash *h_r);

/*
 * Byte-for-byte comparison of two messages' canonical streams: feed all of
 * copy A, then all of copy B, then ask. A's stream is spooled in memory up
 * to 4 MiB and in an unlinked temporary file beyond, so memory stays
 * bounded whatever the message size.
 */
struct dedupkey_cmp {
	struct dedupkey ka, kb;
	struct strbuf mem;      /* private: A's stream, first part */
	FILE *spill;            /* private: A's stream beyond mem */
	uint64_t alen, bpos;    /* private */
	char *rbuf;             /* private: read-back buffer for spill */
	bool differ;
	bool failed;            /* spool I/O failed: treat as different */
	int stage;              /* private */
};
void dedupkey_cmp_init(struct dedupkey_cmp *c, enum dedup_key key);
void dedupkey_cmp_a(struct dedupkey_cmp *c, const void *p, size_t n);
void dedupkey_cmp_b(struct dedupkey_cmp *c, const void *p, size_t n);
/* After both copies: true when the canonical streams are identical. */
bool dedupkey_cmp_equal(struct dedupkey_cmp *c);
void dedupkey_cmp_free(struct dedupkey_cmp *c);

#endif
