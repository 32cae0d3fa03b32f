/*
 * report.c: diagnostics with one grammar, the remembered exit status, the
 * progress line and JSON string escaping (DESIGN §4, STYLE.md "Errors").
 * Every function keeps errno as it found it.
 */
#include "config.h"

#include <errno.h>
#include <popt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "report.h"
#include "util.h"

struct common_opts opt_common = { .progress = -1 };

static int opt_help;

struct poptOption common_options[] = {
	{ "quiet", 'q', POPT_ARG_NONE, &opt_common.quiet, 0,
	  "say nothing unless something is wrong", NULL },
	{ "verbose", 'v', POPT_ARG_NONE, &opt_common.verbose, 0,
	  "one line per message", NULL },
	{ "json", '\0', POPT_ARG_NONE, &opt_common.json, 0,
	  "machine-readable output (JSON)", NULL },
	{ "progress", '\0', POPT_ARG_VAL, &opt_common.progress, 1,
	  "show a progress line (default: on a terminal)", NULL },
	{ "no-progress", '\0', POPT_ARG_VAL, &opt_common.progress, 0,
	  "never show a progress line", NULL },
	{ "help", 'h', POPT_ARG_NONE, &opt_help, 0, "print this help and exit", NULL },
	POPT_TABLEEND
};

struct poptOption dry_run_options[] = {
	{ "dry-run", 'n', POPT_ARG_NONE, &opt_common.dry_run, 0,
	  "show what would be done, change nothing", NULL },
	POPT_TABLEEND
};

static char prefix[64] = "mailshift";
static int worst_status;
static bool progress_shown;
static double progress_start, progress_last;

/* util.c's allocation failures, said in this module's grammar */
static void
report_oom(void)
{
	report_fatal(EX_TEMPFAIL, "out of memory");
}

void
report_init(const char *command)
{
	set_oom_handler(report_oom);
	if (command && *command)
		snprintf(prefix, sizeof prefix, "mailshift %s", command);
	else
		snprintf(prefix, sizeof prefix, "mailshift");
}

const char *
report_prefix(void)
{
	return prefix;
}

static void vsay(const char *kind, const char *fmt, va_list ap, int err)
	__attribute__((format(printf, 2, 0)));

static void
vsay(const char *kind, const char *fmt, va_list ap, int err)
{
	char msg[4096];

	report_progress_clear();
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (err)
		fprintf(stderr, "%s: %s%s%s: %s\n", prefix, kind, *kind ? ": " : "", msg, strerror(err));
	else
		fprintf(stderr, "%s: %s%s%s\n", prefix, kind, *kind ? ": " : "", msg);
}

void
report_fatal(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay("fatal", fmt, ap, 0);
	va_end(ap);
	exit(status);
}

void
report_fatal_sys(int status, const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	vsay("fatal", fmt, ap, e);
	va_end(ap);
	exit(status);
}

void
report_error(int status, const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	vsay("error", fmt, ap, 0);
	va_end(ap);
	report_status(status);
	errno = e;
}

void
report_error_sys(int status, const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	va_start(ap, fmt);
	vsay("error", fmt, ap, e);
	va_end(ap);
	report_status(status);
	errno = e;
}

void
report_warn(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	if (opt_common.quiet)
		return;
	va_start(ap, fmt);
	vsay("warning", fmt, ap, 0);
	va_end(ap);
	errno = e;
}

void
report_warn_sys(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	if (opt_common.quiet)
		return;
	va_start(ap, fmt);
	vsay("warning", fmt, ap, e);
	va_end(ap);
	errno = e;
}

void
report_info(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	if (opt_common.quiet)
		return;
	va_start(ap, fmt);
	report_progress_clear();
	fprintf(stderr, "%s: ", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	errno = e;
}

int
exit_worse(int a, int b)
{
	return a > b ? a : b;
}

void
report_status(int status)
{
	worst_status = exit_worse(worst_status, status);
}

int
report_exit_status(void)
{
	return worst_status;
}

int
report_exit_status_or(int fallback)
{
	return worst_status ? worst_status : fallback;
}

int
report_status_for_write_errno(int err)
{
	switch (err) {
	case EACCES:
	case EPERM:
	case EROFS:
	case ENOTDIR:
	case EEXIST:
	case ELOOP:
		return EX_CANTCREAT;
	case EAGAIN:
	case ENOMEM:
		return EX_TEMPFAIL;
	default:
		return EX_IOERR;   /* ENOSPC, EDQUOT, EIO, EFBIG, ... */
	}
}

bool
report_progress_enabled(void)
{
	if (opt_common.quiet)
		return false;
	if (opt_common.progress == -1)
		opt_common.progress = isatty(STDERR_FILENO) ? 1 : 0;
	return opt_common.progress == 1;
}

void
report_progress(uint64_t messages, uint64_t bytes, uint64_t total_bytes)
{
	if (!report_progress_enabled())
		return;
	double now = now_monotonic();
	if (progress_start == 0)
		progress_start = now;
	if (progress_shown && now - progress_last < 0.2)
		return;
	progress_last = now;
	double secs = now - progress_start;
	double rate = secs > 0 ? (double)bytes / secs : 0;
	char line[160];
	int n = snprintf(line, sizeof line, "%s: %llu message%s, %.1f MB", prefix,
	    (unsigned long long)messages, PLURAL(messages), (double)bytes / 1e6);
	if (secs > 0.5 && rate > 0)
		n += snprintf(line + n, sizeof line - (size_t)n, ", %.1f MB/s", rate / 1e6);
	if (total_bytes > bytes && rate > 0 && secs > 0.5) {
		double eta = (double)(total_bytes - bytes) / rate;
		n += snprintf(line + n, sizeof line - (size_t)n, ", %d%%, ETA %d:%02d",
		    (int)(100.0 * (double)bytes / (double)total_bytes), (int)eta / 60, (int)eta % 60);
	}
	(void)n;
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	progress_shown = true;
}

void
report_progress_clear(void)
{
	if (!progress_shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	progress_shown = false;
}

/* Length of a valid UTF-8 sequence at p (1..4), or 0. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	if (p[0] < 0x80)
		return 1;
	size_t len;
	unsigned min;
	if ((p[0] & 0xe0) == 0xc0) { len = 2; min = 0x80; }
	else if ((p[0] & 0xf0) == 0xe0) { len = 3; min = 0x800; }
	else if ((p[0] & 0xf8) == 0xf0) { len = 4; min = 0x10000; }
	else return 0;
	if (n < len)
		return 0;
	unsigned cp = p[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void
json_string(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	putc('"', f);
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		if (c == '"' || c == '\\') {
			putc('\\', f);
			putc(c, f);
			i++;
		} else if (c == '\n') {
			fputs("\\n", f); i++;
		} else if (c == '\t') {
			fputs("\\t", f); i++;
		} else if (c == '\r') {
			fputs("\\r", f); i++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c); i++;
		} else if (c < 0x80) {
			putc(c, f); i++;
		} else {
			size_t l = utf8_len(p + i, n - i);
			if (l == 0) {
				/* not UTF-8: show the byte as U+00XX (Latin-1), never lose it silently */
				fprintf(f, "\\u%04x", c);
				i++;
			} else {
				fwrite(p + i, 1, l, f);
				i += l;
			}
		}
	}
	putc('"', f);
}

void
json_cstring(FILE *f, const char *s)
{
	if (s == NULL)
		fputs("null", f);
	else
		json_string(f, s, strlen(s));
}

/* ---- help ------------------------------------------------------------------ */

/* Option descriptions start in column 30 (GNU's --help layout) and lines
 * end by column 79. */
enum { HELP_INDENT = 29, HELP_WIDTH = 79 };

/* The length of the next line of `text` that fits in `room` columns:
 * broken at a space outside parentheses, so that "(default 300)" or
 * "(as root)" never wraps in the middle; inside them only when a
 * parenthesis alone is wider than a line. */
static size_t
help_line_len(const char *text, size_t room)
{
	size_t n = strlen(text);
	if (n <= room)
		return n;
	size_t outside = 0, any = 0;
	int depth = 0;
	for (size_t i = 0; i <= room && i < n; i++) {
		if (text[i] == '(')
			depth++;
		else if (text[i] == ')' && depth > 0)
			depth--;
		else if (text[i] == ' ') {
			any = i;
			if (depth == 0)
				outside = i;
		}
	}
	return outside ? outside : any ? any : n;
}

static void
help_text(FILE *f, size_t col, const char *text)
{
	while (*text) {
		if (col + 2 <= HELP_INDENT)      /* two spaces at least */
			fprintf(f, "%*s", (int)(HELP_INDENT - col), "");
		else
			fprintf(f, "\n%*s", HELP_INDENT, "");
		size_t len = help_line_len(text, HELP_WIDTH - HELP_INDENT);
		fprintf(f, "%.*s", (int)len, text);
		text += len;
		while (*text == ' ')
			text++;
		col = HELP_WIDTH;     /* the next piece goes on a line of its own */
	}
	putc('\n', f);
}

static void
help_table(FILE *f, const struct poptOption *t)
{
	for (; t->longName || t->shortName || t->argInfo || t->arg; t++) {
		if ((t->argInfo & POPT_ARG_MASK) == POPT_ARG_INCLUDE_TABLE)
			continue;
		char head[64];
		int n = snprintf(head, sizeof head, "  %c%c%c --%s", t->shortName ? '-' : ' ',
		    t->shortName ? t->shortName : ' ', t->shortName ? ',' : ' ', t->longName);
		unsigned kind = t->argInfo & POPT_ARG_MASK;
		if (kind == POPT_ARG_STRING || kind == POPT_ARG_INT)
			n += snprintf(head + n, sizeof head - (size_t)n, "=%s",
			    t->argDescrip ? t->argDescrip : "VALUE");
		fputs(head, f);
		help_text(f, (size_t)n, t->descrip ? t->descrip : "");
	}
}

static void
help_print(FILE *f, const struct poptOption *options, const char *synopsis)
{
	fprintf(f, "Usage: %s %s\n\nOptions:\n", prefix, synopsis);
	help_table(f, options);
	fputs("\nCommon options:\n", f);
	for (const struct poptOption *t = options; t->longName || t->shortName || t->argInfo || t->arg; t++)
		if ((t->argInfo & POPT_ARG_MASK) == POPT_ARG_INCLUDE_TABLE)
			help_table(f, t->arg);
	/* "mailshift convert" -> mailshift-convert(1) */
	fprintf(f, "\nSee %.9s-%s(1).\n", prefix, prefix + 10);
}

int
report_parse_options(poptContext pc, const struct poptOption *options, const char *synopsis)
{
	int rc;

	while ((rc = poptGetNextOpt(pc)) > 0)
		;
	if (rc < -1) {
		report_progress_clear();
		fprintf(stderr, "%s: %s: %s (see %s --help)\n", prefix,
		    poptBadOption(pc, POPT_BADOPTION_NOALIAS), poptStrerror(rc), prefix);
		return EX_USAGE;
	}
	if (opt_help) {
		help_print(stdout, options, synopsis);
		exit(fflush(stdout) == 0 ? 0 : EX_IOERR);
	}
	return 0;
}
