/*
 * xxh_fast.c: see xxh_fast.h. The AVX2 copy of xxHash is compiled here
 * under a target pragma, static (XXH_INLINE_ALL); it is called only when
 * cpu_avx2() says so, the library's otherwise.
 */
#include "config.h"

#include <stdlib.h>
#include <xxhash.h>

#include "util.h"
#include "xxh_fast.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HAVE_XXH_AVX2 1
void *xxh_avx2_new(void);
void xxh_avx2_reset(void *s);
void xxh_avx2_update(void *s, const void *p, size_t n);
uint64_t xxh_avx2_digest(const void *s);
void xxh_avx2_free(void *s);
#endif

struct xxh_fast {
	void *s;
	bool avx2;
};

struct xxh_fast *
xxh_fast_new(void)
{
	struct xxh_fast *h = malloc(sizeof *h);

	if (h == NULL)
		return NULL;
	h->avx2 = false;
#ifdef HAVE_XXH_AVX2
	h->avx2 = cpu_avx2();
	h->s = h->avx2 ? xxh_avx2_new() : XXH3_createState();
#else
	h->s = XXH3_createState();
#endif
	if (h->s == NULL) {
		free(h);
		return NULL;
	}
	return h;
}

void
xxh_fast_reset(struct xxh_fast *h)
{
#ifdef HAVE_XXH_AVX2
	if (h->avx2) {
		xxh_avx2_reset(h->s);
		return;
	}
#endif
	XXH3_64bits_reset(h->s);
}

void
xxh_fast_update(struct xxh_fast *h, const void *p, size_t n)
{
#ifdef HAVE_XXH_AVX2
	if (h->avx2) {
		xxh_avx2_update(h->s, p, n);
		return;
	}
#endif
	XXH3_64bits_update(h->s, p, n);
}

uint64_t
xxh_fast_digest(const struct xxh_fast *h)
{
#ifdef HAVE_XXH_AVX2
	if (h->avx2)
		return xxh_avx2_digest(h->s);
#endif
	return XXH3_64bits_digest(h->s);
}

void
xxh_fast_free(struct xxh_fast *h)
{
	if (h == NULL)
		return;
#ifdef HAVE_XXH_AVX2
	if (h->avx2)
		xxh_avx2_free(h->s);
	else
#endif
		XXH3_freeState(h->s);
	free(h);
}
