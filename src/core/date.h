/*
 * date.h: the From_ line grammar (SPEC §2.2) and RFC 5322 dates (SPEC §3.7),
 * both parsed by tokens, never by fixed columns; and the asctime formatter
 * for writing From_ lines (SPEC §3.11). No I/O, no locale, no time zone
 * state: every time is seconds since the epoch, UTC.
 */
#ifndef MAILSHIFT_DATE_H
#define MAILSHIFT_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* A From_ line candidate longer than this is never a From_ line. */
#define FROMLINE_MAX 1000

struct fromline {
	size_t sender_off;   /* sender: bytes [sender_off, sender_off+sender_len) of the line */
	size_t sender_len;   /* trimmed; may be 0 */
	time_t time;         /* UTC (numeric zone applied; no zone = UTC) */
	bool has_zone;       /* a numeric zone was present */
};

/*
 * Validate a From_ line per SPEC §2.2. `line` starts with "From " and `len`
 * excludes the terminating LF (a CR before it is ignored). Returns true and
 * fills *out when the line passes the grammar (both the asctime family and
 * the RFC 822 form, optional " remote from host"); false otherwise.
 * Lines longer than FROMLINE_MAX fail.
 */
bool fromline_parse(const char *line, size_t len, struct fromline *out);

/*
 * Parse an RFC 5322 date leniently (SPEC §3.7: obsolete zones, 2- and
 * 3-digit years, missing seconds/zone/weekday, comments, full month names,
 * asctime layout, ISO 8601). Returns 0 and sets *t_r (UTC) and, if not
 * NULL, *zone_r (minutes east of UTC; 0 for unknown zones); -1 when no date
 * can be made of it. Invalid values (month 13, day 32) fail.
 */
int date_parse(const char *s, size_t len, time_t *t_r, int *zone_r);
/* The same without the one-pass reading of the common layout that
 * date_parse() tries first (the tests compare the two). */
int date_parse_general(const char *s, size_t len, time_t *t_r, int *zone_r);

/* "Sat Jan  3 01:05:34 1996" (24 bytes + NUL), UTC, space-padded day. */
void date_format_asctime(time_t t, char buf[32]);
/* "Sat, 03 Jan 1996 01:05:34 +0000" (RFC 5322), UTC. */
void date_format_rfc5322(time_t t, char buf[40]);
/* "1996-01-03T01:05:34Z". */
void date_format_iso(time_t t, char buf[32]);

/* timegm() without the environment: proleptic Gregorian, UTC. Returns
 * (time_t)-1 only for out-of-range input. */
time_t date_make_time(int year, int mon /* 1-12 */, int mday, int hour, int min, int sec);

#endif
