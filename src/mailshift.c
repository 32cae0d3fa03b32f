/*
 * mailshift.c: main, the command table, --help and --version.
 * Every command parses its own options with popt, including the common
 * table (report.c); see mailshift(1).
 */
#include "config.h"

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
	    "       mailshift COMMAND --help\n"
	    "       mailshift --version\n\nCommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nExit status: 0 ok, 1 problems found or some messages failed, 64 usage,\n"
	    "65 bad input, 66 cannot open input, 73 cannot create output, 74 I/O error,\n"
	    "75 temporary failure (mailbox locked). See mailshift(1).\n");
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
		printf("mailshift %s%s\n", PACKAGE_VERSION,
		    testhook_enabled() ? " (test hooks compiled in)" : "");
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(cmd, commands[i].name) == 0) {
			report_init(cmd);
			return commands[i].run(argc - 1, (const char **)argv + 1);
		}
	}
	fprintf(stderr, "mailshift: unknown command '%s'\n\n", cmd);
	usage(stderr);
	return EX_USAGE;
}
