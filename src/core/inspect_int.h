/*
 * inspect_int.h: what the parts of inspect share and no caller of
 * inspect.h may use: how a check reports a finding (inspect.c), the state
 * of one maildir being checked (inspect_maildir.c) and the UID list checks
 * run on it (inspect_uidlist.c). Only src/core/inspect*.c include it. The
 * parts call in one direction: inspect_mbox.c -> inspect_maildir.c ->
 * inspect_uidlist.c, each of them -> inspect.c.
 */
#ifndef MAILSHIFT_INSPECT_INT_H
#define MAILSHIFT_INSPECT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "inspect.h"

/* ---- emitting findings (inspect.c) ----------------------------------------- */

struct emit {
	const struct inspect_opts *o;
	struct inspect_stats *st;
	const char *maildir;
};

/* Fill in f's path (from e->maildir and f's subdir and name unless f->path
 * is set) and message, count it and pass it to the caller's callback. */
void emit_finding(struct emit *e, struct inspect_finding *f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A finding of `code` with no offset, values or span (-1). */
void finding_init(struct inspect_finding *f, enum inspect_code code);

/* ---- one maildir being checked (inspect_maildir.c) -------------------------- */

/* hash table of unique parts and inodes: the entries in the order added,
 * 4-byte slots (1 + index, 0 free) to find them. A unique part is held by
 * its XXH3-128 (the names are read a chunk at a time and not kept: 40
 * bytes a message, where the names took some 150). */
struct uniq_ent {
	uint64_t h[2];
	dev_t dev;
	ino_t ino;
	unsigned char sub;   /* 0 new/, 1 cur/ */
};
struct uniq_tab {
	struct uniq_ent *v;
	size_t len, alloc;
	uint32_t *slot;
	size_t cap;          /* slots, a power of two */
};

/* A chunk of a directory listing (LISTING_CHUNK names at most, the
 * buffers reused): names in one buffer, sorted by inode number so that
 * the lstat calls read the inode table in order (a cold cache costs a seek
 * per inode otherwise; mutt and notmuch sort the same way). */
#define LISTING_CHUNK 2048
struct listing {
	struct lent { ino_t ino; size_t off; } *v;
	size_t n;
	struct strbuf names;
};
/* Sort by inode number: a radix sort over the bits the numbers span (a
 * directory's inodes are near each other: two or three passes), where
 * qsort() cost a third of a check's instructions. */
void listing_sort(struct lent *v, size_t n);

struct md {
	struct emit e;
	int dfd;
	time_t now;
	struct uniq_tab uniq;
	struct listing ls;   /* the chunk of new/ or cur/ being checked */
	bool top;            /* the argument itself, not a folder */
};

/* ---- its UID lists (inspect_uidlist.c) --------------------------------------- */

/* dovecot-uidlist against the maildir c (SPEC §1.10) */
void check_uidlist(struct md *c);
/* courierimapuiddb against the maildir c (SPEC §1.11) */
void check_courieruid(struct md *c);

#endif
