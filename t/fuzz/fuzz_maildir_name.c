/*
 * fuzz_maildir_name.c: libFuzzer target for maildir file names and their
 * info (SPEC §1.2, §1.5, §1.7): maildir_name_parse, flags_make_info,
 * the delivery-order comparison and the W= size count.
 *
 * Properties checked besides memory safety: every span lies inside the
 * name and uniq is a prefix of base; the canonical info built from the
 * parsed flags parses back to the same flags and keywords; the delivery
 * order is antisymmetric; W= is the byte count plus bare LFs, whatever the
 * split of the input into chunks.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"
#include "maildir_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
inside(const char *p, size_t n, const char *lo, size_t len)
{
	return p >= lo && n <= len && (size_t)(p - lo) <= len - n;
}

static void
check_roundtrip(const struct maildir_name *mn)
{
	char info[64 + 64], name[sizeof info + 8];
	size_t n = flags_make_info(mn->flags, mn->keywords, NULL, info);
	if (n >= sizeof info - 1 || memcmp(info, "2,", 2) != 0)
		abort();
	memcpy(name, "1.2.h:", 6);
	memcpy(name + 6, info, n);
	struct maildir_name back;
	maildir_name_parse(name, 6 + n, &back);
	if (back.flags != mn->flags || back.keywords != mn->keywords ||
	    (back.anomalies & (MN_UNSORTED | MN_DUPLICATE | MN_UNKNOWN_FLAG)))
		abort();
}

static uint64_t
vsize_ref(const char *p, size_t n)
{
	uint64_t v = n;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			v++;
	return v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *name = (const char *)data;
	struct maildir_name mn;

	maildir_name_parse(name, size, &mn);
	if (!inside(mn.uniq, mn.uniq_len, name, size) || !inside(mn.base, mn.base_len, name, size) ||
	    mn.uniq != mn.base || mn.uniq_len > mn.base_len)
		abort();
	if (mn.info && (!inside(mn.info, mn.info_len, name, size) || mn.sep == 0))
		abort();
	if (!mn.info && mn.sep != 0)
		abort();
	check_roundtrip(&mn);

	/* delivery order of the two halves, both ways (NUL-terminated copies) */
	size_t h = size / 2;
	char *a = strndup(name, h), *b = strndup(name + h, size - h);
	if (a && b) {
		int x = maildir_name_cmp_delivery(a, b), y = maildir_name_cmp_delivery(b, a);
		if ((x < 0 && y <= 0) || (x > 0 && y >= 0) || (x == 0 && y != 0))
			abort();
	}
	free(a);
	free(b);

	/* W= over two chunks split at the first byte's value */
	size_t cut = size ? data[0] % (size + 1) : 0;
	bool prev_cr = false;
	uint64_t w = flags_vsize_add(name, cut, &prev_cr);
	w += flags_vsize_add(name + cut, size - cut, &prev_cr);
	if (w != vsize_ref(name, size))
		abort();
	return 0;
}
