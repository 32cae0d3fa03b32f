/*
 * date.c: dates without the C library's time zone machinery.
 *
 * - fromline_parse(): the From_ line grammar of SPEC §2.2. The line is split
 *   into blank-separated tokens and read from the end, as UW c-client's VALID
 *   macro does, because the sender may contain spaces (pipermail's
 *   "user at host", quoted local parts). Both the asctime family (zones
 *   before and/or after the year, no seconds, two zone words) and the
 *   RFC 822 form used by mboxcl3 and Dovecot are accepted, with an optional
 *   UUCP " remote from host" tail.
 * - date_parse(): RFC 5322 dates read leniently (SPEC §3.7): a token scanner
 *   that skips comments, then a decision over the tokens, so asctime layout,
 *   ISO 8601 and dotted dates go through the same code.
 * - date_make_time() and the formatters: days-from-civil arithmetic
 *   (proleptic Gregorian, UTC), never mktime/timegm/TZ.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "date.h"
#include "util.h"

static const char wday_names[7][4] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const mon_names[12] = {
	"January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December"
};

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static unsigned char
lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static bool
ieq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

/* Value of n decimal digits at p, or -1 if any byte is not a digit. */
static long
digits_value(const char *p, size_t n)
{
	long v = 0;

	if (n == 0 || n > 9)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* 1..12 for "Jan".."Dec" (exactly three letters); 0 otherwise. */
static int
month_abbrev(const char *p, size_t n)
{
	if (n != 3)
		return 0;
	for (int i = 0; i < 12; i++)
		if (ieq(p, mon_names[i], 3))
			return i + 1;
	return 0;
}

static bool
wday_abbrev(const char *p, size_t n)
{
	if (n != 3)
		return false;
	for (int i = 0; i < 7; i++)
		if (ieq(p, wday_names[i], 3))
			return true;
	return false;
}

static int
days_in_month(int year, int mon)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return mon == 2 && leap ? 29 : dim[mon - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int *y_r, int *m_r, int *d_r)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int d = (int)(doy - (153 * mp + 2) / 5 + 1);
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);

	*y_r = (int)(yoe + era * 400 + (m <= 2));
	*m_r = m;
	*d_r = d;
}

time_t
date_make_time(int year, int mon, int mday, int hour, int min, int sec)
{
	if (year < 1 || year > 9999 || mon < 1 || mon > 12 || mday < 1 || mday > 31 ||
	    hour < 0 || hour > 24 || min < 0 || min > 59 || sec < 0 || sec > 60)
		return (time_t)-1;
	int64_t t = days_from_civil(year, mon, mday) * 86400 +
	    (int64_t)hour * 3600 + min * 60 + sec;
	if ((int64_t)(time_t)t != t)
		return (time_t)-1;
	return (time_t)t;
}

/* Split a UTC time into its calendar fields. */
static void
date_split(time_t t, int *y, int *mo, int *d, int *h, int *mi, int *s, int *wd)
{
	int64_t days = (int64_t)t / 86400, rem = (int64_t)t % 86400;

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	civil_from_days(days, y, mo, d);
	*h = (int)(rem / 3600);
	*mi = (int)(rem / 60 % 60);
	*s = (int)(rem % 60);
	*wd = (int)((days % 7 + 11) % 7);  /* 1970-01-01 was a Thursday (4) */
}

void
date_format_asctime(time_t t, char buf[32])
{
	int y, mo, d, h, mi, s, wd;

	date_split(t, &y, &mo, &d, &h, &mi, &s, &wd);
	if (y < 0 || y > 9999) {
		snprintf(buf, 32, "%.3s %.3s %2d %02d:%02d:%02d %d",
		    wday_names[wd], mon_names[mo - 1], d, h, mi, s, y);
		return;
	}
	/* once per message of a conversion: built by hand */
	char *p = buf;
	memcpy(p, wday_names[wd], 3);
	p[3] = ' ';
	memcpy(p + 4, mon_names[mo - 1], 3);
	p[7] = ' ';
	p[8] = d < 10 ? ' ' : (char)('0' + d / 10);
	p[9] = (char)('0' + d % 10);
	p[10] = ' ';
	p = fmt_u0(p + 11, (unsigned)h, 2);
	*p++ = ':';
	p = fmt_u0(p, (unsigned)mi, 2);
	*p++ = ':';
	p = fmt_u0(p, (unsigned)s, 2);
	*p++ = ' ';
	p = fmt_u(p, (unsigned)y);
	*p = '\0';
}

void
date_format_rfc5322(time_t t, char buf[40])
{
	int y, mo, d, h, mi, s, wd;

	date_split(t, &y, &mo, &d, &h, &mi, &s, &wd);
	snprintf(buf, 40, "%.3s, %02d %.3s %d %02d:%02d:%02d +0000",
	    wday_names[wd], d, mon_names[mo - 1], y, h, mi, s);
}

void
date_format_iso(time_t t, char buf[32])
{
	int y, mo, d, h, mi, s, wd;

	date_split(t, &y, &mo, &d, &h, &mi, &s, &wd);
	snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, s);
}

/* ------------------------------------------------------------------------
 * From_ lines (SPEC §2.2)
 */

#define FL_MAXTOK 64

struct tok {
	const char *p;
	size_t n;
};

/* "hh:mm" or "hh:mm:ss" with a 1-2 digit hour. */
static bool
fl_time(const struct tok *t, int *h, int *m, int *s)
{
	const char *c1 = memchr(t->p, ':', t->n);

	if (c1 == NULL)
		return false;
	size_t hn = (size_t)(c1 - t->p), rest = t->n - hn - 1;
	long hv = (hn == 1 || hn == 2) ? digits_value(t->p, hn) : -1;
	if (hv < 0 || hv > 23 || (rest != 2 && rest != 5))
		return false;
	long mv = digits_value(c1 + 1, 2), sv = 0;
	if (rest == 5) {
		if (c1[3] != ':')
			return false;
		sv = digits_value(c1 + 4, 2);
	}
	if (mv < 0 || mv > 59 || sv < 0 || sv > 60)
		return false;
	*h = (int)hv;
	*m = (int)mv;
	*s = (int)sv;
	return true;
}

/* Zone word: ("+" / "-") 4DIGIT, or 1*ALPHA. *off_r is set (minutes east)
 * for a numeric zone, and *numeric_r tells which it was. */
static bool
fl_zone(const struct tok *t, int *off_r, bool *numeric_r)
{
	if (t->n == 5 && (t->p[0] == '+' || t->p[0] == '-')) {
		long v = digits_value(t->p + 1, 4);
		if (v < 0 || v % 100 > 59)
			return false;
		int off = (int)(v / 100 * 60 + v % 100);
		*off_r = t->p[0] == '-' ? -off : off;
		*numeric_r = true;
		return true;
	}
	for (size_t i = 0; i < t->n; i++)
		if (!is_alpha((unsigned char)t->p[i]))
			return false;
	*numeric_r = false;
	return t->n > 0;
}

/* 4DIGIT or 2DIGIT (<70 -> 20xx, else 19xx). */
static int
fl_year(const struct tok *t)
{
	long v = (t->n == 4 || t->n == 2) ? digits_value(t->p, t->n) : -1;

	if (v < 0)
		return -1;
	if (t->n == 2)
		v += v < 70 ? 2000 : 1900;
	return (int)v;
}

static int
fl_mday(const struct tok *t)
{
	long v = (t->n == 1 || t->n == 2) ? digits_value(t->p, t->n) : -1;

	return (v >= 1 && v <= 31) ? (int)v : -1;
}

struct fl_date {
	int year, mon, mday, h, m, s;
	int zone;               /* minutes east, when has_zone */
	bool has_zone;
	size_t first;           /* index of the weekday token */
};

static void
fl_take_zone(struct fl_date *d, const struct tok *t)
{
	int off;
	bool numeric;

	if (!d->has_zone && fl_zone(t, &off, &numeric) && numeric) {
		d->zone = off;
		d->has_zone = true;
	}
}

/* asctime family, tokens [0, n): ... wday mon mday time [zone [zone]] year [zone] */
static bool
fl_asctime(const struct tok *tk, size_t n, struct fl_date *d)
{
	int off;
	bool num;
	size_t i = n;

	if (i >= 2 && fl_zone(&tk[i - 1], &off, &num) && fl_year(&tk[i - 2]) >= 0) {
		fl_take_zone(d, &tk[i - 1]);
		i--;
	}
	if (i < 1 || (d->year = fl_year(&tk[i - 1])) < 0)
		return false;
	i--;
	for (int z = 0; z < 2 && i >= 1 && fl_zone(&tk[i - 1], &off, &num); z++) {
		fl_take_zone(d, &tk[i - 1]);
		i--;
	}
	if (i < 4 || !fl_time(&tk[i - 1], &d->h, &d->m, &d->s))
		return false;
	if ((d->mday = fl_mday(&tk[i - 2])) < 0)
		return false;
	if ((d->mon = month_abbrev(tk[i - 3].p, tk[i - 3].n)) == 0)
		return false;
	if (!wday_abbrev(tk[i - 4].p, tk[i - 4].n))
		return false;
	d->first = i - 4;
	return true;
}

/* RFC 822 form: ... wday "," mday mon year time [zone] */
static bool
fl_rfc822(const struct tok *tk, size_t n, struct fl_date *d)
{
	int off;
	bool num;
	size_t i = n;

	if (i >= 1 && fl_zone(&tk[i - 1], &off, &num)) {
		fl_take_zone(d, &tk[i - 1]);
		i--;
	}
	if (i < 5 || !fl_time(&tk[i - 1], &d->h, &d->m, &d->s))
		return false;
	if ((d->year = fl_year(&tk[i - 2])) < 0)
		return false;
	if ((d->mon = month_abbrev(tk[i - 3].p, tk[i - 3].n)) == 0)
		return false;
	if ((d->mday = fl_mday(&tk[i - 4])) < 0)
		return false;
	const struct tok *w = &tk[i - 5];
	if (w->n != 4 || w->p[3] != ',' || !wday_abbrev(w->p, 3))
		return false;
	d->first = i - 5;
	return true;
}

/* Split [p, end) into blank-separated tokens and return their number; only
 * the last FL_MAXTOK are kept (the date is read from the end, everything
 * before it is the sender). */
static size_t
fl_tokens(const char *p, const char *end, struct tok *tk)
{
	size_t n = 0;

	while (p < end) {
		while (p < end && is_blank((unsigned char)*p))
			p++;
		if (p == end)
			break;
		const char *s = p;
		while (p < end && !is_blank((unsigned char)*p))
			p++;
		if (n == FL_MAXTOK) {
			memmove(tk, tk + 1, (FL_MAXTOK - 1) * sizeof *tk);
			n--;
		}
		tk[n].p = s;
		tk[n].n = (size_t)(p - s);
		n++;
	}
	return n;
}

bool
fromline_parse(const char *line, size_t len, struct fromline *out)
{
	struct tok tk[FL_MAXTOK];
	struct fl_date d;

	if (len > FROMLINE_MAX || len < 5 || memcmp(line, "From ", 5) != 0)
		return false;
	if (line[len - 1] == '\r')
		len--;
	size_t n = fl_tokens(line + 5, line + len, tk);
	if (n >= 3 && tk[n - 3].n == 6 && ieq(tk[n - 3].p, "remote", 6) &&
	    tk[n - 2].n == 4 && ieq(tk[n - 2].p, "from", 4))
		n -= 3;

	memset(&d, 0, sizeof d);
	if (!fl_asctime(tk, n, &d)) {
		memset(&d, 0, sizeof d);
		if (!fl_rfc822(tk, n, &d))
			return false;
	}
	if (d.year < 1)
		return false;
	time_t t = date_make_time(d.year, d.mon, d.mday, d.h, d.m, d.s);
	if (out) {
		const char *s = line + 5, *e = tk[d.first].p;
		while (s < e && is_blank((unsigned char)*s))
			s++;
		while (e > s && is_blank((unsigned char)e[-1]))
			e--;
		out->sender_off = (size_t)(s - line);
		out->sender_len = (size_t)(e - s);
		out->time = t - (d.has_zone ? (time_t)d.zone * 60 : 0);
		out->has_zone = d.has_zone;
	}
	return true;
}

/* ------------------------------------------------------------------------
 * RFC 5322 dates (SPEC §3.7)
 */

#define DP_MAXBUF 512
#define DP_MAXTOK 32

enum dp_kind { DP_NUM, DP_WORD, DP_TIME, DP_ZONE };

struct dp_tok {
	enum dp_kind kind;
	const char *p;
	size_t n;
	char before;            /* the separator byte just before (for dates like 1.2.2003) */
	int v[3];               /* DP_TIME: h m s; DP_ZONE: minutes east */
};

/* Copy s without comments (nested, with quoted-pairs) into buf, each
 * comment becoming one space; NUL becomes space. */
static size_t
dp_strip_comments(const char *s, size_t len, char *buf, size_t cap)
{
	size_t o = 0;
	int depth = 0;

	for (size_t i = 0; i < len && o < cap - 1; i++) {
		char c = s[i];
		if (depth > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')' && --depth == 0)
				buf[o++] = ' ';
			continue;
		}
		if (c == '(')
			depth++;
		else
			buf[o++] = c == '\0' ? ' ' : c;
	}
	buf[o] = '\0';
	return o;
}

/* hh:mm[:ss[.frac]] at p; returns bytes used or 0. */
static size_t
dp_scan_time(const char *p, const char *end, int v[3])
{
	const char *q = p;
	int k = 0;

	v[0] = v[1] = v[2] = 0;
	while (k < 3) {
		const char *s = q;
		while (q < end && is_digit((unsigned char)*q) && q - s < 3)
			q++;
		if (q == s || q - s > 2)
			return 0;
		v[k++] = (int)digits_value(s, (size_t)(q - s));
		if (k == 3 || q >= end || *q != ':' || q + 1 >= end ||
		    !is_digit((unsigned char)q[1]))
			break;
		q++;
	}
	if (k < 2)
		return 0;
	if (k == 3 && q + 1 < end && *q == '.' && is_digit((unsigned char)q[1]))
		for (q++; q < end && is_digit((unsigned char)*q); q++)
			;
	return (size_t)(q - p);
}

/* "+hhmm" or "+hh:mm" at p (p[0] is the sign); bytes used or 0. */
static size_t
dp_scan_zone(const char *p, const char *end, int *off_r)
{
	size_t avail = (size_t)(end - p);
	long hh, mm;
	size_t used;

	if (avail >= 6 && p[3] == ':') {
		hh = digits_value(p + 1, 2);
		mm = digits_value(p + 4, 2);
		used = 6;
	} else if (avail >= 5) {
		hh = digits_value(p + 1, 2);
		mm = digits_value(p + 3, 2);
		used = 5;
	} else {
		return 0;
	}
	if (hh < 0 || mm < 0 || (used < avail && is_digit((unsigned char)p[used])))
		return 0;
	if (hh > 23 || mm > 59)
		return 0;
	*off_r = (int)((p[0] == '-' ? -1 : 1) * (hh * 60 + mm));
	return used;
}

static size_t
dp_tokens(const char *s, size_t len, struct dp_tok *tk)
{
	const char *p = s, *end = s + len;
	size_t n = 0;
	char sep = ' ';

	while (p < end && n < DP_MAXTOK) {
		unsigned char c = (unsigned char)*p;
		struct dp_tok *t = &tk[n];
		size_t used;
		bool after_time = n > 0 && tk[n - 1].kind == DP_TIME;

		t->p = p;
		t->before = sep;
		if ((c == '+' || c == '-') && (sep == ' ' || after_time) &&
		    (used = dp_scan_zone(p, end, &t->v[0])) > 0) {
			t->kind = DP_ZONE;
		} else if (is_digit(c) && (used = dp_scan_time(p, end, t->v)) > 0) {
			t->kind = DP_TIME;
		} else if (is_digit(c)) {
			for (used = 0; p + used < end && is_digit((unsigned char)p[used]); used++)
				;
			t->kind = DP_NUM;
		} else if (is_alpha(c)) {
			for (used = 0; p + used < end && is_alpha((unsigned char)p[used]); used++)
				;
			t->kind = DP_WORD;
		} else {
			sep = is_blank(c) || c == '\r' || c == '\n' || c == ',' ? ' ' : (char)c;
			p++;
			continue;
		}
		t->n = used;
		p += used;
		sep = '\0';
		n++;
	}
	return n;
}

/* Month from a word: "Jan", "January", "Sept" (a prefix of at least three
 * letters of the full name). 0 when it is not a month. */
static int
dp_month(const char *p, size_t n)
{
	for (int i = 0; i < 12; i++)
		if (n >= 3 && n <= strlen(mon_names[i]) && ieq(p, mon_names[i], n))
			return i + 1;
	return 0;
}

static bool
dp_wday(const char *p, size_t n)
{
	static const char *const full[7] = { "Sunday", "Monday", "Tuesday",
	    "Wednesday", "Thursday", "Friday", "Saturday" };

	for (int i = 0; i < 7; i++)
		if (n >= 3 && n <= strlen(full[i]) && ieq(p, full[i], n))
			return true;
	return false;
}

/* Obsolete zone names of RFC 5322 §4.3; any other word after the time
 * (military letters, CET, MET DST, ...) carries no information: -0000. */
static bool
dp_zone_name(const char *p, size_t n, int *off_r)
{
	static const struct { const char *name; int off; } zones[] = {
		{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 },
		{ "EST", -300 }, { "EDT", -240 }, { "CST", -360 }, { "CDT", -300 },
		{ "MST", -420 }, { "MDT", -360 }, { "PST", -480 }, { "PDT", -420 },
	};

	for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
		if (strlen(zones[i].name) == n && ieq(p, zones[i].name, n)) {
			*off_r = zones[i].off;
			return true;
		}
	return false;
}

/* Year digits to a year: 2 digits 00-49 -> 20xx, 50-99 -> 19xx; 3 digits
 * + 1900; 4 digits as they are (>= 1900). -1 when impossible. */
static int
dp_year(const struct dp_tok *t)
{
	long v = digits_value(t->p, t->n);

	if (v < 0 || t->n < 2 || t->n > 4)
		return -1;
	if (t->n == 2)
		return (int)(v < 50 ? v + 2000 : v + 1900);
	if (t->n == 3)
		return (int)(v + 1900);
	return v >= 1900 ? (int)v : -1;
}

struct dp_fields {
	int year, mon, mday, h, m, s, zone;
};

/* Day, month and year from the number tokens (nums) and a month word. */
static bool
dp_ymd(const struct dp_tok **nums, size_t nn, int mon, struct dp_fields *f)
{
	if (mon > 0) {
		if (nn < 2)
			return false;
		size_t di = (nums[0]->n <= 2) ? 0 : 1;
		f->mday = (int)digits_value(nums[di]->p, nums[di]->n);
		if (nums[di]->n > 2)
			return false;
		f->year = dp_year(nums[1 - di]);
		f->mon = mon;
		return f->year >= 0;
	}
	if (nn < 3)
		return false;
	long a = digits_value(nums[0]->p, nums[0]->n);
	long b = digits_value(nums[1]->p, nums[1]->n);
	long c = digits_value(nums[2]->p, nums[2]->n);
	if (nums[0]->n == 4) {                   /* 2003-01-02 */
		f->year = dp_year(nums[0]);
		f->mon = (int)b;
		f->mday = (int)c;
	} else if (nums[1]->before == '/') {     /* 01/02/2003: US order */
		f->mon = (int)a;
		f->mday = (int)b;
		f->year = dp_year(nums[2]);
	} else {                                 /* 02.01.2003, 02-01-2003 */
		f->mday = (int)a;
		f->mon = (int)b;
		f->year = dp_year(nums[2]);
	}
	return f->year >= 0 && nums[1]->n <= 2 && f->mon >= 1 && f->mon <= 12;
}

/* Two digits at p as a number, or -1. */
static int
dp_two(const char *p)
{
	return (int)digits_value(p, 2);
}

static bool
dp_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * The layout nearly every Date field has, "[Mon, ]4 Jan 2021 10:00[:00]
 * +0000[ (comment)]", read in one pass; 0 when the value has another
 * layout (or values the general parser below judges), which then goes to
 * that parser. What it accepts, the general one reads the same (the tests
 * compare the two).
 */
static int
dp_fast(const char *s, size_t len, time_t *t_r, int *zone_r)
{
	static const char wdays[] = "sunmontuewedthufrisat";
	static const char mons[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	const char *p = s, *e = s + len;
	int mday, mon = 0, year, h, m, sec = 0, zh, zm;

	while (p < e && dp_ws(*p))
		p++;
	if (e - p >= 5 && is_alpha((unsigned char)*p)) {
		bool ok = false;
		for (int i = 0; i < 7 && !ok; i++)
			ok = ieq(p, wdays + 3 * i, 3);
		if (!ok || p[3] != ',')
			return 0;
		p += 4;
		while (p < e && dp_ws(*p))
			p++;
	}
	if (e - p < 1 || !is_digit((unsigned char)*p))
		return 0;
	mday = *p++ - '0';
	if (p < e && is_digit((unsigned char)*p))
		mday = mday * 10 + (*p++ - '0');
	if (p == e || !dp_ws(*p))
		return 0;
	while (p < e && dp_ws(*p))
		p++;
	if (e - p < 4 || dp_ws(p[3]) == false)
		return 0;
	for (int i = 0; i < 12 && mon == 0; i++)
		if (ieq(p, mons + 3 * i, 3))
			mon = i + 1;
	if (mon == 0)
		return 0;
	p += 3;
	while (p < e && dp_ws(*p))
		p++;
	if (e - p < 5 || dp_two(p) < 0 || dp_two(p + 2) < 0 || !dp_ws(p[4]))
		return 0;
	year = dp_two(p) * 100 + dp_two(p + 2);
	p += 4;
	while (p < e && dp_ws(*p))
		p++;
	if (e - p < 5 || (h = dp_two(p)) < 0 || p[2] != ':' || (m = dp_two(p + 3)) < 0)
		return 0;
	p += 5;
	if (e - p >= 3 && p[0] == ':') {
		if ((sec = dp_two(p + 1)) < 0)
			return 0;
		p += 3;
	}
	if (p == e || !dp_ws(*p))
		return 0;
	while (p < e && dp_ws(*p))
		p++;
	if (e - p < 5 || (*p != '+' && *p != '-') || (zh = dp_two(p + 1)) < 0 ||
	    (zm = dp_two(p + 3)) < 0)
		return 0;
	int zone = (*p == '-' ? -1 : 1) * (zh * 60 + zm);
	p += 5;
	while (p < e && dp_ws(*p))
		p++;
	if (p < e && *p == '(') {
		while (p < e && *p != ')' && *p != '(' && *p != '\\')
			p++;
		if (p == e || *p != ')')
			return 0;
		p++;
		while (p < e && dp_ws(*p))
			p++;
	}
	if (p != e || year < 1900 || mday < 1 || mday > days_in_month(year, mon) ||
	    h > 23 || m > 59 || sec > 60 || zh > 23 || zm > 59)
		return 0;
	*t_r = date_make_time(year, mon, mday, h, m, sec) - (time_t)zone * 60;
	if (zone_r)
		*zone_r = zone;
	return 1;
}

int
date_parse(const char *s, size_t len, time_t *t_r, int *zone_r)
{
	return dp_fast(s, len, t_r, zone_r) ? 0 : date_parse_general(s, len, t_r, zone_r);
}

int
date_parse_general(const char *s, size_t len, time_t *t_r, int *zone_r)
{
	char buf[DP_MAXBUF];
	struct dp_tok tk[DP_MAXTOK];
	const struct dp_tok *nums[DP_MAXTOK];
	struct dp_fields f = { 0, 0, 0, 0, 0, 0, 0 };
	size_t nn = 0;
	int mon = 0;
	bool have_time = false, have_zone = false, pm = false, am = false;

	size_t blen = dp_strip_comments(s, len, buf, sizeof buf);
	size_t n = dp_tokens(buf, blen, tk);
	for (size_t i = 0; i < n; i++) {
		const struct dp_tok *t = &tk[i];
		int m;
		if (t->kind == DP_TIME && !have_time) {
			f.h = t->v[0];
			f.m = t->v[1];
			f.s = t->v[2];
			have_time = true;
		} else if (t->kind == DP_ZONE && !have_zone) {
			f.zone = t->v[0];
			have_zone = true;
		} else if (t->kind == DP_NUM && nn < 3 && !(have_time && nn >= 2)) {
			nums[nn++] = t;
		} else if (t->kind == DP_WORD && mon == 0 && (m = dp_month(t->p, t->n)) > 0) {
			mon = m;
		} else if (t->kind == DP_WORD && have_time) {
			int off;
			if (t->n == 2 && ieq(t->p, "pm", 2))
				pm = true;
			else if (t->n == 2 && ieq(t->p, "am", 2))
				am = true;
			else if (!have_zone && dp_zone_name(t->p, t->n, &off)) {
				f.zone = off;
				have_zone = true;
			}
		} else if (t->kind == DP_WORD && !dp_wday(t->p, t->n) &&
		    !(t->n == 1 && lower((unsigned char)*t->p) == 't')) {
			if (mon == 0 && nn == 0)
				return -1;       /* text before any date part */
		}
	}
	if (!dp_ymd(nums, nn, mon, &f))
		return -1;
	if ((pm || am) && (f.h < 1 || f.h > 12))
		return -1;
	if (pm && f.h < 12)
		f.h += 12;
	else if (am && f.h == 12)
		f.h = 0;
	if (f.mon < 1 || f.mon > 12 || f.mday < 1 || f.mday > days_in_month(f.year, f.mon) ||
	    f.h > 23 || f.m > 59 || f.s > 60)
		return -1;
	time_t t = date_make_time(f.year, f.mon, f.mday, f.h, f.m, f.s);
	*t_r = t - (time_t)f.zone * 60;
	if (zone_r)
		*zone_r = f.zone;
	return 0;
}
