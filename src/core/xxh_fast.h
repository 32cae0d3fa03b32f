/*
 * xxh_fast.h: XXH3-64 over a stream, with xxHash's AVX2 code where the CPU
 * has it.
 *
 * Debian's libxxhash is built for the x86-64 baseline (SSE2): over every
 * byte a conversion writes (the body hashes of the delivery record) it cost
 * a third more instructions than the rest of the conversion. xxhash.h
 * carries the AVX2 variant of the same functions; xxh_fast.c builds it
 * inline for AVX2, and the state says which copy it belongs to. The hashes
 * are the library's, bit for bit.
 */
#ifndef MAILSHIFT_XXH_FAST_H
#define MAILSHIFT_XXH_FAST_H

#include <stddef.h>
#include <stdint.h>

struct xxh_fast;
/* NULL when out of memory. */
struct xxh_fast *xxh_fast_new(void);
void xxh_fast_reset(struct xxh_fast *h);
void xxh_fast_update(struct xxh_fast *h, const void *p, size_t n);
uint64_t xxh_fast_digest(const struct xxh_fast *h);
void xxh_fast_free(struct xxh_fast *h);

#endif
