/*
 * inspect.c: the findings of `mailshift check` and `mailshift repair`
 * (DESIGN §3): the table of stable codes with their severity and repair,
 * and how one finding reaches the caller (emit_finding). The checks are in
 * inspect_maildir.c (Maildir, Maildir++ folders, maildirsize, tmp/),
 * inspect_uidlist.c (dovecot-uidlist, courierimapuiddb) and
 * inspect_mbox.c (mbox findings, told by the mbox reader; inspect_path),
 * which share inspect_int.h. They call this file; it calls none of them.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "inspect.h"
#include "inspect_int.h"
#include "report.h"
#include "util.h"

const struct inspect_code_info inspect_codes[IC__COUNT] = {
	[IC_MAILDIR_MISSING_SUBDIR] = { "MAILDIR-MISSING-SUBDIR", "create it with the mode of cur/",
		SEVERITY_ERROR },
	[IC_MAILDIR_PERMISSIONS] = { "MAILDIR-PERMISSIONS", "chmod: owner read on, group/other write off",
		SEVERITY_ERROR },
	[IC_MAILDIR_TMP_STALE] = { "MAILDIR-TMP-STALE", "deliver into new/ if plausible, else quarantine",
		SEVERITY_ERROR },
	[IC_MAILDIR_TMP_LEFTOVER] = { "MAILDIR-TMP-LEFTOVER", "remove the tmp/ name (the message stays)",
		SEVERITY_WARNING },
	[IC_MAILDIR_INFO_IN_NEW] = { "MAILDIR-INFO-IN-NEW", "rename into cur/, same name",
		SEVERITY_WARNING },
	[IC_MAILDIR_FLAGS_UNSORTED] = { "MAILDIR-FLAGS-UNSORTED", "rename with the flags sorted once",
		SEVERITY_WARNING },
	[IC_MAILDIR_FLAGS_UNKNOWN] = { "MAILDIR-FLAGS-UNKNOWN", "move the letters after a second comma",
		SEVERITY_WARNING },
	[IC_MAILDIR_DUPLICATE_UNIQ] = { "MAILDIR-DUPLICATE-UNIQ", "give the second file a fresh unique name",
		SEVERITY_ERROR },
	[IC_MAILDIR_BAD_NAME] = { "MAILDIR-BAD-NAME", "rename to a fresh unique name",
		SEVERITY_WARNING },
	[IC_MAILDIR_SIZE_MISMATCH] = { "MAILDIR-SIZE-MISMATCH", "rename with the true S=/W= values",
		SEVERITY_ERROR },
	[IC_MAILDIR_EMPTY_FILE] = { "MAILDIR-EMPTY-FILE", "quarantine",
		SEVERITY_WARNING },
	[IC_MAILDIR_NOT_MESSAGE] = { "MAILDIR-NOT-MESSAGE", "quarantine",
		SEVERITY_ERROR },
	[IC_MAILDIR_SYMLINK] = { "MAILDIR-SYMLINK", "quarantine the link itself",
		SEVERITY_ERROR },
	[IC_MAILDIRSIZE_WRONG] = { "MAILDIRSIZE-WRONG", "rebuild, keeping the quota definition",
		SEVERITY_WARNING },
	[IC_FOLDER_BROKEN] = { "FOLDER-BROKEN", "create the missing cur/ new/ tmp/ and maildirfolder",
		SEVERITY_ERROR },
	[IC_MBOX_FIRST_LINE] = { "MBOX-FIRST-LINE", "insert a From_ line before the leading bytes",
		SEVERITY_ERROR },
	[IC_MBOX_UNQUOTED_FROM] = { "MBOX-UNQUOTED-FROM", "quote the line with '>'",
		SEVERITY_ERROR },
	[IC_MBOX_CONTENT_LENGTH] = { "MBOX-CONTENT-LENGTH", "set the true body length",
		SEVERITY_ERROR },
	[IC_MBOX_MISSING_SEPARATOR] = { "MBOX-MISSING-SEPARATOR", "insert the empty line",
		SEVERITY_WARNING },
	[IC_MBOX_TRUNCATED] = { "MBOX-TRUNCATED", "append the missing line end",
		SEVERITY_ERROR },
	[IC_MBOX_MIXED_EOL] = { "MBOX-MIXED-EOL", "none (changing line ends changes messages)",
		SEVERITY_NOTE },
	[IC_MBOX_STALE_LOCK] = { "MBOX-STALE-LOCK", "remove the stale dotlock",
		SEVERITY_WARNING },
	[IC_MBOX_JOURNAL] = { "MBOX-JOURNAL", "finish the interrupted rewrite",
		SEVERITY_ERROR },
	[IC_UIDLIST_BAD] = { "UIDLIST-BAD", "none (a list that does not parse is not rewritten)",
		SEVERITY_WARNING },
	[IC_UIDLIST_NOT_INCREASING] = { "UIDLIST-NOT-INCREASING",
		"none (cannot fix without a UIDVALIDITY change)",
		SEVERITY_WARNING },
	[IC_UIDLIST_NEXT_TOO_LOW] = { "UIDLIST-NEXT-TOO-LOW", "raise N above the highest UID",
		SEVERITY_ERROR },
	[IC_UIDLIST_MISSING_FILE] = { "UIDLIST-MISSING-FILE", "drop the line (N stays above its UID)",
		SEVERITY_NOTE },
	[IC_UIDLIST_UNLISTED] = { "UIDLIST-UNLISTED", "append a line with the next UID",
		SEVERITY_NOTE },
	[IC_COURIERUID_BAD] = { "COURIERUID-BAD",
		"none (a damaged courierimapuiddb is not rewritten; convert uses the lines that parse)",
		SEVERITY_WARNING },
	[IC_COURIERUID_NOT_INCREASING] = { "COURIERUID-NOT-INCREASING",
		"none (convert gives the ill-ordered messages fresh UIDs)",
		SEVERITY_WARNING },
	[IC_COURIERUID_NEXT_TOO_LOW] = { "COURIERUID-NEXT-TOO-LOW", "raise the next UID above the highest",
		SEVERITY_ERROR },
	[IC_COURIERUID_MISSING_FILE] = { "COURIERUID-MISSING-FILE", "drop the line (the next UID stays)",
		SEVERITY_NOTE },
	[IC_COURIERUID_UNLISTED] = { "COURIERUID-UNLISTED",
		"none (Courier-IMAP numbers it when it next opens the folder)",
		SEVERITY_NOTE },
};

const char *
inspect_severity_name(enum inspect_severity s)
{
	static const char *const names[] = { "note", "warning", "error" };
	return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

enum inspect_severity
inspect_code_severity(enum inspect_code c)
{
	return (unsigned)c < IC__COUNT ? inspect_codes[c].severity : SEVERITY_ERROR;
}

const char *
inspect_code_name(enum inspect_code c)
{
	return (unsigned)c < IC__COUNT ? inspect_codes[c].name : "?";
}

int
inspect_code_parse(const char *s)
{
	for (int i = 0; i < IC__COUNT; i++)
		if (strcmp(inspect_codes[i].name, s) == 0)
			return i;
	return -1;
}

/* ---- emitting findings ---------------------------------------------------- */

void
emit_finding(struct emit *e, struct inspect_finding *f, const char *fmt, ...)
{
	va_list ap;
	char *msg, *path = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		report_fatal(EX_TEMPFAIL, "out of memory");
	va_end(ap);
	f->maildir = e->maildir;
	if (!f->path) {
		if (f->subdir && f->name)
			path = xasprintf("%s/%s/%s", e->maildir, f->subdir, f->name);
		else if (f->name && *f->name)
			path = xasprintf("%s/%s", e->maildir, f->name);
		else
			path = xstrdup(e->maildir);
		f->path = path;
	}
	f->message = msg;
	e->st->findings++;
	if (e->o->fn)
		e->o->fn(e->o->arg, f);
	free(msg);
	free(path);
}

void
finding_init(struct inspect_finding *f, enum inspect_code code)
{
	memset(f, 0, sizeof *f);
	f->code = code;
	f->offset = -1;
	f->value = f->value2 = -1;
	f->span_start = f->span_end = -1;
}
