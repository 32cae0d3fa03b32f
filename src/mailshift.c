/*
 * mailshift.c: main, the command table, --help and --version.
 * Every command parses its own options with popt, including the common
 * table (report.c); see mailshift(1).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "commands.h"
#include "report.h"
#include "testhook.h"

struct command {
	const char *name;
	int (*run)(int argc, const char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "check", cmd_check, "validate Maildirs and mboxes" },
	{ "convert", cmd_convert, "convert mbox to Maildir and back" },
	{ "dedup", cmd_dedup, "find and remove duplicate messages" },
	{ "repair", cmd_repair, "fix what check finds, never losing mail" },
	{ "stats", cmd_stats, "messages, bytes, flags, dates and senders of mailboxes" },
};

static void
usage(FILE *f)
{
	fprintf(f, "Usage: mailshift COMMAND [OPTIONS] ARGS...\n"
	    "       mailshift help COMMAND     (or mailshift COMMAND --help)\n"
	    "       mailshift --version\n\nCommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nExit status: 0 ok, 1 problems found or some messages failed, 64 usage,\n"
	    "65 bad input, 66 cannot open input, 73 cannot create output, 74 I/O error,\n"
	    "75 temporary failure (mailbox locked). See mailshift(1).\n");
}

static const struct command *
command_find(const char *name)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	/* past a file size limit (ulimit -f) a write fails with EFBIG and is
	 * reported as any other, in whichever thread it was made */
	signal(SIGXFSZ, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    (strcmp(cmd, "help") == 0 && argc == 2)) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
		printf("mailshift %s%s\n", PACKAGE_VERSION,
		    testhook_enabled() ? " (test hooks compiled in)" : "");
		return 0;
	}
	/* "mailshift help convert" is "mailshift convert --help" */
	const char *help_argv[] = { NULL, "--help", NULL };
	if (strcmp(cmd, "help") == 0) {
		const struct command *c = command_find(argv[2]);
		if (c == NULL || argc > 3) {
			fprintf(stderr, "mailshift: help: %s '%s' (see mailshift --help)\n",
			    c ? "one command only, not" : "unknown command", c ? argv[3] : argv[2]);
			return EX_USAGE;
		}
		report_init(c->name);
		help_argv[0] = c->name;
		return c->run(2, help_argv);
	}
	const struct command *c = command_find(cmd);
	if (c == NULL) {
		fprintf(stderr, "mailshift: unknown command '%s' (see mailshift --help)\n", cmd);
		return EX_USAGE;
	}
	report_init(cmd);
	return c->run(argc - 1, (const char **)argv + 1);
}
