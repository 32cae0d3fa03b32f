/*
 * hashset.c: the shared hash sets (hashset.h). Linear probing over a
 * power-of-two table, grown to twice the size at 3/4 full.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hashset.h"
#include "util.h"

/* A zeroed table written at once: calloc() hands out fresh pages that the
 * first probe maps read-only and the first insert faults in again, two
 * page faults instead of one (ten microseconds each on some virtual
 * machines). */
static void *
table_alloc(size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		return xcalloc(n, size);        /* which says out of memory */
	void *t = xmalloc(n * size);
	memset(t, 0, n * size);
	return t;
}

/* ---- keyset: (128-bit hash, occurrence) -> 32 bits ------------------------ */

static size_t
key_slot(const struct keyset *ks, uint64_t hi, uint64_t lo, uint32_t n)
{
	/* each half by its own odd constant: hi = lo * c (a key made of one
	 * counter) must not cancel out to n alone */
	uint64_t h = (hi * 0xff51afd7ed558ccdULL) ^ (lo * 0x9e3779b97f4a7c15ULL) ^
	    ((uint64_t)n * 0xc2b2ae3d27d4eb4fULL);
	return (size_t)(h ^ (h >> 29)) & (ks->cap - 1);
}

struct key *
keyset_find(struct keyset *ks, uint64_t hi, uint64_t lo, uint32_t n, bool add)
{
	if (ks->cap == 0 || (add && (ks->len + 1) * 4 > ks->cap * 3)) {
		struct keyset nk = { table_alloc(ks->cap ? ks->cap * 2 : 1024, sizeof(struct key)),
		    ks->cap ? ks->cap * 2 : 1024, 0 };
		for (size_t i = 0; i < ks->cap; i++) {
			if (!ks->t[i].used)
				continue;
			size_t j = key_slot(&nk, ks->t[i].hi, ks->t[i].lo, ks->t[i].n);
			while (nk.t[j].used)
				j = (j + 1) & (nk.cap - 1);
			nk.t[j] = ks->t[i];
			nk.len++;
		}
		free(ks->t);
		*ks = nk;
	}
	size_t j = key_slot(ks, hi, lo, n);
	while (ks->t[j].used) {
		if (ks->t[j].hi == hi && ks->t[j].lo == lo && ks->t[j].n == n)
			return &ks->t[j];
		j = (j + 1) & (ks->cap - 1);
	}
	if (!add)
		return NULL;
	ks->t[j] = (struct key){ hi, lo, n, 1 };
	ks->len++;
	return &ks->t[j];
}

void
keyset_free(struct keyset *ks)
{
	free(ks->t);
	ks->t = NULL;
	ks->cap = ks->len = 0;
}

/* ---- hashset64: bare 64-bit hashes ------------------------------------------ */

static size_t
h64_slot(uint64_t h, size_t cap)
{
	return (size_t)(h * 0x9e3779b97f4a7c15ULL >> 20) & (cap - 1);
}

bool
hashset64_add(struct hashset64 *s, uint64_t h)
{
	if (h == 0)
		h = 1;
	if (s->cap == 0 || (s->len + 1) * 4 > s->cap * 3) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		uint64_t *t = table_alloc(cap, sizeof *t);
		for (size_t i = 0; i < s->cap; i++) {
			if (s->t[i] == 0)
				continue;
			size_t j = h64_slot(s->t[i], cap);
			while (t[j])
				j = (j + 1) & (cap - 1);
			t[j] = s->t[i];
		}
		free(s->t);
		s->t = t;
		s->cap = cap;
	}
	size_t j = h64_slot(h, s->cap);
	while (s->t[j]) {
		if (s->t[j] == h)
			return false;
		j = (j + 1) & (s->cap - 1);
	}
	s->t[j] = h;
	s->len++;
	return true;
}

void
hashset64_free(struct hashset64 *s)
{
	free(s->t);
	s->t = NULL;
	s->cap = s->len = 0;
}
