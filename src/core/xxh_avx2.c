/*
 * xxh_avx2.c: xxHash's XXH3-64 streaming functions built for AVX2 (the
 * pragma makes xxhash.h pick its AVX2 code), static copies under wrappers
 * of their own (xxh_fast.c calls them only on a CPU with AVX2).
 */
#include "config.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx2")
#define XXH_INLINE_ALL
#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

void *xxh_avx2_new(void);
void xxh_avx2_reset(void *s);
void xxh_avx2_update(void *s, const void *p, size_t n);
uint64_t xxh_avx2_digest(const void *s);
void xxh_avx2_free(void *s);

void *
xxh_avx2_new(void)
{
	return XXH3_createState();
}

void
xxh_avx2_reset(void *s)
{
	XXH3_64bits_reset(s);
}

void
xxh_avx2_update(void *s, const void *p, size_t n)
{
	XXH3_64bits_update(s, p, n);
}

uint64_t
xxh_avx2_digest(const void *s)
{
	return XXH3_64bits_digest(s);
}

void
xxh_avx2_free(void *s)
{
	XXH3_freeState(s);
}
#else
typedef int xxh_avx2_unused;     /* ISO C: a translation unit is not empty */
#endif
