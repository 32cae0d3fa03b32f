/*
 * report.h: diagnostics, exit status, progress and JSON output.
 *
 * One grammar for every message (STYLE.md "Errors"):
 *   mailshift convert: fatal: unable to rename tmp/X to new/X: No space left on device
 *   mailshift convert: warning: inbox.mbox:1048576: unquoted From_ line inside message
 * The helpers keep errno intact. A progress line on a terminal is erased
 * before any message is printed (isync). The worst exit status seen is
 * remembered so commands can keep going and report it at the end (mexport).
 */
#ifndef MAILSHIFT_REPORT_H
#define MAILSHIFT_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sysexits.h>

#include <popt.h>

/* DESIGN §4 exit status. */
enum {
	EXIT_PROBLEMS = 1,      /* problems found, or some messages failed */
	/* EX_USAGE 64, EX_DATAERR 65, EX_NOINPUT 66, EX_CANTCREAT 73,
	 * EX_IOERR 74, EX_TEMPFAIL 75 from sysexits.h */
};

struct common_opts {
	int quiet;       /* -q: nothing on stdout/stderr unless something is wrong */
	int verbose;     /* -v: one line per message */
	int json;        /* --json */
	int dry_run;     /* -n, --dry-run */
	int progress;    /* --progress / --no-progress; -1 = auto (stderr is a tty) */
};
extern struct common_opts opt_common;

/* Set the command name used in messages ("convert" -> "mailshift convert"). */
void report_init(const char *command);
const char *report_prefix(void);

/* "PREFIX: fatal: ...", then exit(status). */
void report_fatal(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* Same with ": strerror(errno)" appended. */
void report_fatal_sys(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* "PREFIX: error: ..." and remember status. */
void report_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void report_error_sys(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "PREFIX: warning: ..." (not printed with -q). */
void report_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void report_warn_sys(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Plain informational line on stderr unless -q. */
void report_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The worse of two exit statuses, the one rule of every command: the
 * higher wins (0 success, then 1 problems, then the sysexits values, the
 * highest of which is the worst), so the order of failures does not matter.
 */
int exit_worse(int a, int b);
/* Remember an exit status: the worst so far is exit_worse() of them all. */
void report_status(int status);
int report_exit_status(void);
/* The worst status remembered, or `fallback` when none was (a failure the
 * callee reported without a status of its own). */
int report_exit_status_or(int fallback);
/* Map an errno from writing to the DESIGN §4 status (ENOSPC, EIO... -> 74). */
int report_status_for_write_errno(int err);

/* Progress line on stderr when enabled; total_bytes 0 = unknown. */
void report_progress(uint64_t messages, uint64_t bytes, uint64_t total_bytes);
void report_progress_clear(void);
bool report_progress_enabled(void);

/* JSON helpers: write a JSON string literal for n bytes (invalid UTF-8 and
 * control bytes escaped), to f. */
void json_string(FILE *f, const char *s, size_t n);
void json_cstring(FILE *f, const char *s);

/* popt tables: the common options of every command (--quiet, --verbose,
 * --json, --progress, --no-progress, -h/--help), and -n/--dry-run for the
 * commands that change something. Include them in each command's table. */
extern struct poptOption common_options[];
extern struct poptOption dry_run_options[];
/* Run popt over a command's arguments. A bad option gets one line that
 * points at --help, and EX_USAGE (64) is returned; -h/--help prints
 * "Usage: mailshift COMMAND SYNOPSIS" and every option of `options` (an
 * included table after the command's own, the common options last) on
 * stdout and exits 0. Else 0. */
int report_parse_options(poptContext pc, const struct poptOption *options, const char *synopsis);

#endif
