/*
 * hashset.h: the open-addressing hash sets the commands share (linear
 * probing, a power-of-two table that doubles at 3/4 full). Keys are hashes
 * already (xxHash of a message or of a name), so a slot is a few
 * multiplications away; nothing is ever removed.
 *
 * keyset: 128-bit keys with an occurrence number, each with a 32-bit
 * count or set of flags (`used`), 24 bytes a key: the delivery keys and
 * occurrence counts of convert.
 * hashset64: bare 64-bit hashes, 8 bytes a key, for sets as large as a
 * mailbox where a rare collision costs only a second look.
 */
#ifndef MAILSHIFT_HASHSET_H
#define MAILSHIFT_HASHSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* `used` is 0 for an empty slot, else the count (or flags) of the key. */
struct key {
	uint64_t hi, lo;
	uint32_t n;
	uint32_t used;
};
struct keyset {
	struct key *t;
	size_t cap, len;
};
/* The entry of (hi, lo, n); NULL when absent and !add. A new entry has
 * used = 1. The pointer lasts until the next add. */
struct key *keyset_find(struct keyset *ks, uint64_t hi, uint64_t lo, uint32_t n, bool add);
void keyset_free(struct keyset *ks);

struct hashset64 {
	uint64_t *t;        /* 0 = empty slot; the hash 0 is kept as 1 */
	size_t cap, len;
};
/* Add h; true when it was not there yet. */
bool hashset64_add(struct hashset64 *s, uint64_t h);
void hashset64_free(struct hashset64 *s);

#endif
