/*
 * check.c: `mailshift check [OPTIONS] MAILBOX...` (DESIGN §3 check,
 * mailshift-check(1)): one line per finding, `PATH: CODE: message` or a
 * JSON object per line, then a summary on stderr unless -q. The checks
 * themselves are in core/inspect*.c (SPEC §1, §2.3-2.7, §5 M1-M13, X1-X21).
 * Exit 0 clean or notes only, 1 errors or warnings, DESIGN §4 otherwise;
 * -q leaves the notes out.
 */
#include "config.h"

#include <popt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "commands.h"
#include "inspect.h"
#include "report.h"
#include "util.h"

/* Findings by severity (enum inspect_severity), for the summary and the
 * exit status. */
static size_t by_severity[3];

static void
print_finding(void *arg, const struct inspect_finding *f)
{
	(void)arg;
	enum inspect_severity sev = inspect_code_severity(f->code);
	by_severity[sev]++;
	if (sev == SEVERITY_NOTE && opt_common.quiet)
		return;                 /* -q: only what is wrong */
	if (opt_common.json) {
		fputs("{\"path\":", stdout);
		json_cstring(stdout, f->path);
		fputs(",\"code\":", stdout);
		json_cstring(stdout, inspect_code_name(f->code));
		fputs(",\"severity\":", stdout);
		json_cstring(stdout, inspect_severity_name(sev));
		fputs(",\"message\":", stdout);
		json_cstring(stdout, f->message);
		if (f->offset >= 0)
			printf(",\"offset\":%lld", (long long)f->offset);
		fputs("}\n", stdout);
	} else {
		printf("%s: %s: %s", f->path, inspect_code_name(f->code), f->message);
		if (f->offset >= 0)
			printf(" at offset %lld", (long long)f->offset);
		putchar('\n');
	}
}

/* "18 findings (12 errors, 6 warnings)": the breakdown names the
 * severities that occur. */
static void
print_summary(const struct inspect_stats *st)
{
	static const char *const names[] = { "note", "warning", "error" };
	char parts[128] = "";
	size_t used = 0;
	for (int s = SEVERITY_ERROR; s >= SEVERITY_NOTE; s--) {
		if (by_severity[s] == 0)
			continue;
		int n = snprintf(parts + used, sizeof parts - used, "%s%zu %s%s", used ? ", " : " (",
		    by_severity[s], names[s], by_severity[s] == 1 ? "" : "s");
		if (n > 0 && (size_t)n < sizeof parts - used)
			used += (size_t)n;
	}
	report_info("%zu mailbox%s, %zu message%s, %zu finding%s%s%s", st->mailboxes,
	    st->mailboxes == 1 ? "" : "es", st->messages, st->messages == 1 ? "" : "s",
	    st->findings, st->findings == 1 ? "" : "s", parts, used ? ")" : "");
}

static int
check_run(const char **args, int nargs, const struct inspect_opts *o)
{
	struct inspect_stats st = { 0 };
	int worst = 0;
	for (int i = 0; i < nargs; i++) {
		char *p = xstrdup(args[i]);
		for (size_t n = strlen(p); n > 1 && p[n - 1] == '/'; n--)
			p[n - 1] = '\0';           /* "Maildir/" names files as "Maildir/cur/x" */
		int rc = inspect_path(p, o, &st);
		free(p);
		worst = exit_worse(worst, rc);
	}
	fflush(stdout);
	if (!opt_common.quiet)
		print_summary(&st);
	worst = exit_worse(worst, report_exit_status());
	if (worst)
		return worst;
	/* notes alone are no problem */
	return by_severity[SEVERITY_ERROR] + by_severity[SEVERITY_WARNING] ? EXIT_PROBLEMS : 0;
}

int
cmd_check(int argc, const char **argv)
{
	int recursive = 0, deep = 0;
	char *tmp_age = NULL;
	struct poptOption options[] = {
		{ "recursive", 'r', POPT_ARG_NONE, &recursive, 0, "check Maildir++ folders too", NULL },
		{ "deep", '\0', POPT_ARG_NONE, &deep, 0,
		  "read whole message files (W= sizes, content)", NULL },
		{ "tmp-age", '\0', POPT_ARG_STRING, &tmp_age, 0,
		  "tmp/ files older than this are stale (default 36h)", "DURATION" },
		{ NULL, '\0', POPT_ARG_INCLUDE_TABLE, common_options, 0, NULL, NULL },
		POPT_TABLEEND
	};
	poptContext pc = poptGetContext("mailshift check", argc, argv, options, 0);
	int status;
	if (report_parse_options(pc, options, "[OPTIONS] MAILBOX...") != 0) {
		status = EX_USAGE;
		goto out;
	}
	struct inspect_opts o = { .recursive = recursive, .deep = deep,
		.tmp_age = INSPECT_TMP_AGE, .fn = print_finding, .mbox_fd = -1 };
	if (tmp_age && (o.tmp_age = parse_duration(tmp_age)) < 0) {
		report_error(EX_USAGE, "invalid --tmp-age '%s'", tmp_age);
		status = EX_USAGE;
		goto out;
	}
	const char **args = poptGetArgs(pc);
	int nargs = 0;
	while (args && args[nargs])
		nargs++;
	if (nargs == 0) {
		fprintf(stderr, "%s: usage: mailshift check [OPTIONS] MAILBOX...\n", report_prefix());
		status = EX_USAGE;
		goto out;
	}
	status = check_run(args, nargs, &o);
out:
	poptFreeContext(pc);
	free(tmp_age);
	return status;
}
