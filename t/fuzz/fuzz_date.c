/*
 * fuzz_date.c: libFuzzer target for the From_ line grammar (SPEC §2.2) and
 * the lenient RFC 5322 date parser (SPEC §3.7). The input is tried as a
 * From_ line (as is, and with "From " put in front) and as a date value.
 *
 * Properties checked besides memory safety: the sender span lies inside the
 * line; a From_ line longer than FROMLINE_MAX never passes; a parsed time
 * written back with date_format_asctime into a new From_ line parses again
 * to the same time; date_format_rfc5322 output parses back to the same time.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* asctime and RFC 5322 output round-trip for years 1970-9999 */
#define ROUND_TRIP_MAX ((time_t)253402300799LL)

static void
check_fromline(const char *line, size_t len)
{
	struct fromline fl;
	if (!fromline_parse(line, len, &fl))
		return;
	if (len > FROMLINE_MAX || fl.sender_off > len || fl.sender_len > len - fl.sender_off)
		abort();
	if (fl.time < 0 || fl.time > ROUND_TRIP_MAX)
		return;
	char asc[32], again[64 + 32];
	date_format_asctime(fl.time, asc);
	size_t n = (size_t)snprintf(again, sizeof again, "From MAILER-DAEMON %s", asc);
	struct fromline fl2;
	if (!fromline_parse(again, n, &fl2) || fl2.time != fl.time)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	if (size >= 5 && memcmp(s, "From ", 5) == 0)
		check_fromline(s, size);

	char *line = malloc(size + 5);
	if (line == NULL)
		return 0;
	memcpy(line, "From ", 5);
	memcpy(line + 5, data, size);
	check_fromline(line, size + 5);
	free(line);

	time_t t;
	int zone = 12345;
	if (date_parse(s, size, &t, &zone) == 0) {
		if (zone <= -100 * 60 || zone >= 100 * 60)
			abort();
		if (t >= 0 && t <= ROUND_TRIP_MAX) {
			char rfc[40];
			time_t t2;
			date_format_rfc5322(t, rfc);
			if (date_parse(rfc, strlen(rfc), &t2, NULL) != 0 || t2 != t)
				abort();
		}
	}
	return 0;
}
