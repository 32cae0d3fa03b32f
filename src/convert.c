/*
 * convert.c: `mailshift convert SOURCE... DEST` (DESIGN §3 convert,
 * mailshift-convert(1)): the options, and which way a conversion goes.
 * An mbox or Maildir into a Maildir or an mbox is one loop, reader to
 * sink (convert_run.c); a Maildir into a Maildir carries its server's
 * state (convert_maildir.c); -r walks a tree (convert_tree.c).
 */
#include "config.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <popt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "clientstate.h"
#include "commands.h"
#include "convert.h"
#include "date.h"
#include "flags.h"
#include "folder.h"
#include "header.h"
#include "mbox_writer.h"
#include "reader.h"
#include "report.h"
#include "uidstate.h"
#include "util.h"

/* ---- the command ---------------------------------------------------------------- */

static int
parse_owner(const char *spec, struct convert_opts *o)
{
	char *s = xstrdup(spec);
	char *colon = strchr(s, ':');
	struct passwd *pw;

	if (colon)
		*colon++ = '\0';
	pw = getpwnam(s);
	if (pw == NULL) {
		char *e;
		long v = strtol(s, &e, 10);
		if (*s == '\0' || *e != '\0' || v < 0) {
			report_error(EX_USAGE, "--owner: unknown user '%s'", s);
			free(s);
			return -1;
		}
		o->uid = (uid_t)v;
		o->gid = (gid_t)v;
	} else {
		o->uid = pw->pw_uid;
		o->gid = pw->pw_gid;
	}
	if (colon && *colon) {
		struct group *gr = getgrnam(colon);
		char *e;
		long v = strtol(colon, &e, 10);
		if (gr)
			o->gid = gr->gr_gid;
		else if (*e == '\0' && v >= 0)
			o->gid = (gid_t)v;
		else {
			report_error(EX_USAGE, "--owner: unknown group '%s'", colon);
			free(s);
			return -1;
		}
	}
	free(s);
	if (geteuid() != 0 && (o->uid != geteuid() || o->gid != getegid())) {
		report_error(EX_USAGE, "--owner needs root to give files to another user");
		return -1;
	}
	o->chown = true;
	return 0;
}

/* The word-valued options; -1 after reporting a bad one. */
static int
option_words(struct convert_opts *o, const char *from_fmt, const char *sort,
    const char *compress, const char *layout, const char *names)
{
	if (from_fmt) {
		int v = mbox_variant_parse(from_fmt);
		if (v < 0) {
			report_error(EX_USAGE, "unknown --from-format '%s'", from_fmt);
			return -1;
		}
		o->in_variant = v;
	}
	if (sort) {
		if (reader_sort_parse(sort) < 0) {
			report_error(EX_USAGE, "unknown --sort order '%s'", sort);
			return -1;
		}
		o->sort = sort;
	}
	if (compress) {
		if (mbox_compress_parse(compress) < 0) {
			report_error(EX_USAGE, "unknown --compress method '%s'", compress);
			return -1;
		}
		o->compress = compress;
	}
	if (layout) {
		if (strcmp(layout, "maildir++") != 0 && strcmp(layout, "fs") != 0) {
			report_error(EX_USAGE, "--layout must be maildir++ or fs, not '%s'", layout);
			return -1;
		}
		o->layout = layout;
	}
	if (names) {
		if (strcmp(names, "utf8") == 0)
			o->folder_charset = FOLDER_UTF8;
		else if (strcmp(names, "mutf7") == 0)
			o->folder_charset = FOLDER_MUTF7;
		else {
			report_error(EX_USAGE, "--folder-names must be utf8 or mutf7, not '%s'", names);
			return -1;
		}
	}
	return 0;
}

/* ---- the destination decides the direction -------------------------------- */

/* "x.mbox" or "x.mbx", also with the compression suffix --compress reads
 * from DEST (.gz, .zst, .xz). */
static bool
named_mbox(const char *dest)
{
	static const char *const zs[] = { ".gz", ".zst", ".xz" };
	size_t n = strlen(dest);
	for (size_t i = 0; i < sizeof zs / sizeof zs[0]; i++) {
		size_t z = strlen(zs[i]);
		if (n > z && strcmp(dest + n - z, zs[i]) == 0) {
			n -= z;
			break;
		}
	}
	return (n > 5 && strncmp(dest + n - 5, ".mbox", 5) == 0) ||
	    (n > 4 && strncmp(dest + n - 4, ".mbx", 4) == 0);
}

/*
 * Without --to (mailshift-convert(1) DESTINATION): "-" and an existing
 * file are mboxes, an existing directory is a Maildir, and a new DEST is
 * an mbox when its name says so (.mbox, .mbx, with or without .gz, .zst,
 * .xz); otherwise the direction is the other format than the first
 * SOURCE's. 1 = mbox, 0 = Maildir, -1 when no direction fits (reported).
 */
static int
dest_is_mbox(const struct convert_opts *o, const char *first, const char *dest)
{
	struct stat st;
	if (o->to)
		return strcmp(o->to, "mbox") == 0;
	if (strcmp(dest, "-") == 0)
		return 1;
	bool from_maildir = strcmp(first, "-") != 0 && reader_is_maildir(first);
	if (stat(dest, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return 1;
		if (!from_maildir)
			return 0;
		report_error(EX_CANTCREAT, "%s is a directory but no Maildir: a Maildir converts into "
		    "an mbox file (name one, such as %s/%s.mbox), or with --to=maildir into a Maildir "
		    "(its messages linked, its server's state carried)", dest, dest, "NAME");
		return -1;
	}
	if (named_mbox(dest))
		return 1;
	return from_maildir;
}

/*
 * Maildir -> Maildir (mailshift-convert(1) "MAILDIR TO MAILDIR"): a Maildir
 * SOURCE with --to=maildir, or into a DEST that is a Maildir already, or
 * --in-place. A new DEST without --to stays an mbox, as above.
 */
static bool
maildir_to_maildir(const struct convert_opts *o, const char *first, const char *dest)
{
	if (o->in_place)
		return true;
	if (strcmp(first, "-") == 0 || !reader_is_maildir(first))
		return false;
	if (o->to)
		return strcmp(o->to, "maildir") == 0;
	return strcmp(dest, "-") != 0 && reader_is_maildir(dest);
}

/* Create the missing parent directories of DEST, with the mode mkdir -p
 * gives and, with --owner, the owner. -1 when one cannot be made (reported
 * with the reason, a file in the way named). */
static int
dest_parents(const struct convert_opts *o, const char *dest)
{
	if (strcmp(dest, "-") == 0 || opt_common.dry_run)
		return 0;
	char *p = xstrdup(dest);
	int rc = 0;
	for (char *s = strchr(p + 1, '/'); s && rc == 0; s = strchr(s + 1, '/')) {
		*s = '\0';
		struct stat st;
		if (s[-1] == '/' || (s[-1] == '.' && (s == p + 1 || s[-2] == '/'))) {
			/* "a//b", "./b", "a/./b": nothing to make */
		} else if (mkdir(p, 0777) == 0) {
			if (o->chown && lchown(p, o->uid, o->gid) == -1) {
				report_error_sys(EX_CANTCREAT, "unable to give %s to its owner", p);
				rc = -1;
			}
		} else if (errno != EEXIST) {
			if (errno == ENOTDIR)
				report_error(EX_CANTCREAT, "unable to create %s: a part of %s is a file, "
				    "not a directory", p, dest);
			else
				report_error_sys(EX_CANTCREAT, "unable to create %s for %s", p, dest);
			rc = -1;
		} else if (stat(p, &st) == 0 && !S_ISDIR(st.st_mode)) {
			report_error(EX_CANTCREAT, "unable to create %s: %s is a file, not a directory",
			    dest, p);
			rc = -1;
		}
		*s = '/';
	}
	free(p);
	return rc;
}

/* A directory that is no Maildir but holds mbox files wants -r. */
static bool
dir_of_mboxes(const char *path)
{
	struct stat st;
	if (strcmp(path, "-") == 0 || stat(path, &st) == -1 || !S_ISDIR(st.st_mode) ||
	    reader_is_maildir(path))
		return false;
	DIR *d = opendir(path);
	if (d == NULL)
		return false;
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd == -1)
			continue;
		char head[5];
		found = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    read(fd, head, sizeof head) == (ssize_t)sizeof head &&
		    memcmp(head, "From ", sizeof head) == 0;
		close(fd);
	}
	closedir(d);
	return found;
}

int
cmd_convert(int argc, const char **argv)
{
	struct convert_opts o = { .in_variant = MBOX_AUTO, .out_variant = MBOX_MBOXRD, .uid_state = true,
		.sync = SYNC_BATCH, .lock_timeout = 300, .layout = "maildir++", .sort = "delivery" };
	char *to = NULL, *fmt = NULL, *sync = NULL, *owner = NULL, *from_fmt = NULL;
	char *sort = NULL, *compress = NULL, *layout = NULL, *names = NULL, *uid_state = NULL;
	int strip = 0, keep = 0, local_time = 0, batch = 1000, recursive = 0, remove_source = 0;
	int in_place = 0, overwrite_state = 0;
	char *pop3 = NULL;
	char *labels = NULL;
	int keep_expunged = 0;
	struct poptOption options[] = {
		{ "to", 't', POPT_ARG_STRING, &to, 0,
		  "output format: maildir or mbox (default: by DEST)", "FORMAT" },
		{ "mbox-format", '\0', POPT_ARG_STRING, &fmt, 0,
		  "auto, mboxo, mboxrd, mboxcl or mboxcl2 (default: auto when reading, mboxrd when writing)",
		  "VARIANT" },
		{ "keep-mbox-headers", '\0', POPT_ARG_NONE, &keep, 0,
		  "keep Status, X-Status, X-Keywords, X-UID, X-IMAP, X-IMAPbase and Content-Length "
		  "in the Maildir files", NULL },
		{ "strip-status", '\0', POPT_ARG_NONE, &strip, 0,
		  "deprecated: leaving those headers out is the default now", NULL },
		{ "sync", '\0', POPT_ARG_STRING, &sync, 0,
		  "durability: batch, message or none (default batch)", "MODE" },
		{ "batch", '\0', POPT_ARG_INT, &batch, 0, "messages per durability batch (default 1000)", "N" },
		{ "local-time", '\0', POPT_ARG_NONE, &local_time, 0,
		  "From_ dates without a zone are local time (as mutt and Dovecot write them)", NULL },
		{ "owner", '\0', POPT_ARG_STRING, &owner, 0,
		  "give what is created to USER (as root)", "USER[:GROUP]" },
		{ "lock-timeout", '\0', POPT_ARG_INT, &o.lock_timeout, 0,
		  "seconds to wait for a lock (default 300)", "SECS" },
		{ "from-format", '\0', POPT_ARG_STRING, &from_fmt, 0,
		  "mbox to mbox: the variant of SOURCE, auto, mboxo, mboxrd, mboxcl or mboxcl2 (default auto)",
		  "VARIANT" },
		{ "sort", '\0', POPT_ARG_STRING, &sort, 0,
		  "message order: delivery, date, name or none (default delivery)", "ORDER" },
		{ "compress", '\0', POPT_ARG_STRING, &compress, 0,
		  "compress the mbox: gzip, zstd, xz or none (default: by the suffix of DEST)", "METHOD" },
		{ "recursive", 'r', POPT_ARG_NONE, &recursive, 0,
		  "a tree of mboxes to a Maildir++ tree and back", NULL },
		{ "layout", '\0', POPT_ARG_STRING, &layout, 0,
		  "Maildir tree layout: maildir++ or fs (default maildir++)", "LAYOUT" },
		{ "folder-names", '\0', POPT_ARG_STRING, &names, 0,
		  "non-ASCII folder names: utf8 or mutf7 (default utf8)", "CHARSET" },
		{ "remove-source", '\0', POPT_ARG_NONE, &remove_source, 0,
		  "remove what was converted once it is durable", NULL },
		{ "uid-state", '\0', POPT_ARG_STRING, &uid_state, 0,
		  "IMAP UIDs and POP3 UIDLs: dovecot or none (default dovecot)", "STATE" },
		{ "in-place", '\0', POPT_ARG_NONE, &in_place, 0,
		  "a Maildir's server state: write Dovecot's beside the old server's files", NULL },
		{ "overwrite-state", '\0', POPT_ARG_NONE, &overwrite_state, 0,
		  "Maildir to Maildir: replace a dovecot-uidlist that exists", NULL },
		{ "pop3", '\0', POPT_ARG_STRING, &pop3, 0,
		  "Maildir to Maildir: POP3 UIDLs of courier, qmail (qmail-pop3d) or none (default courier)",
		  "SERVER" },
		{ "labels", '\0', POPT_ARG_STRING, &labels, 0,
		  "Gmail's labels: folders, keywords or none (default folders)", "MODE" },
		{ "keep-expunged", '\0', POPT_ARG_NONE, &keep_expunged, 0,
		  "deliver messages deleted in Thunderbird but not yet compacted away (flag T)", NULL },
		{ NULL, '\0', POPT_ARG_INCLUDE_TABLE, dry_run_options, 0, NULL, NULL },
		{ NULL, '\0', POPT_ARG_INCLUDE_TABLE, common_options, 0, NULL, NULL },
		POPT_TABLEEND
	};
	poptContext pc = poptGetContext("mailshift convert", argc, argv, options, 0);
	if (report_parse_options(pc, options, "[OPTIONS] SOURCE... DEST") != 0) {
		poptFreeContext(pc);
		return EX_USAGE;
	}
	const char **args = poptGetArgs(pc);
	int nargs = 0;
	while (args && args[nargs])
		nargs++;
	int status = 0;
	if (nargs < 1 || (nargs < 2 && !in_place)) {
		fprintf(stderr, "%s: usage: mailshift convert [OPTIONS] SOURCE... DEST\n", report_prefix());
		status = EX_USAGE;
		goto out;
	}
	if (to && strcmp(to, "maildir") != 0 && strcmp(to, "mbox") != 0) {
		report_error(EX_USAGE, "--to must be maildir or mbox, not '%s'", to);
		status = EX_USAGE;
		goto out;
	}
	o.to = to;
	if (fmt) {
		int v = mbox_variant_parse(fmt);
		if (v < 0) {
			report_error(EX_USAGE, "unknown --mbox-format '%s'", fmt);
			status = EX_USAGE;
			goto out;
		}
		o.in_variant = v;
		o.out_variant = v == MBOX_AUTO ? MBOX_MBOXRD : v;
	}
	if (sync) {
		int s = sync_mode_parse(sync);
		if (s < 0) {
			report_error(EX_USAGE, "unknown --sync mode '%s'", sync);
			status = EX_USAGE;
			goto out;
		}
		o.sync = (enum sync_mode)s;
	}
	if (batch < 1) {
		report_error(EX_USAGE, "--batch must be at least 1");
		status = EX_USAGE;
		goto out;
	}
	o.batch = (size_t)batch;
	if (option_words(&o, from_fmt, sort, compress, layout, names) == -1) {
		status = EX_USAGE;
		goto out;
	}
	if (uid_state && strcmp(uid_state, "dovecot") != 0 && strcmp(uid_state, "none") != 0) {
		report_error(EX_USAGE, "--uid-state must be dovecot or none, not '%s'", uid_state);
		status = EX_USAGE;
		goto out;
	}
	o.uid_state = uid_state == NULL || strcmp(uid_state, "dovecot") == 0;
	if (pop3) {
		if (strcmp(pop3, "courier") == 0)
			o.pop3 = CONVERT_POP3_COURIER;
		else if (strcmp(pop3, "qmail") == 0)
			o.pop3 = CONVERT_POP3_QMAIL;
		else if (strcmp(pop3, "none") == 0)
			o.pop3 = CONVERT_POP3_NONE;
		else {
			report_error(EX_USAGE, "--pop3 must be courier, qmail or none, not '%s'", pop3);
			status = EX_USAGE;
			goto out;
		}
	}
	o.in_place = in_place;
	o.overwrite_state = overwrite_state;
	if (labels == NULL || strcmp(labels, "folders") == 0)
		o.labels = LABELS_FOLDERS;
	else if (strcmp(labels, "keywords") == 0)
		o.labels = LABELS_KEYWORDS;
	else if (strcmp(labels, "none") == 0)
		o.labels = LABELS_NONE;
	else {
		report_error(EX_USAGE, "--labels must be folders, keywords or none, not '%s'", labels);
		status = EX_USAGE;
		goto out;
	}
	o.keep_expunged = keep_expunged;
	o.recursive = recursive;
	o.remove_source = remove_source;
	if (strip) {
		/* said also with -q: scripts that pass it should learn of it */
		fprintf(stderr, "%s: warning: --strip-status is deprecated and does nothing: the mbox "
		    "metadata headers are left out of the Maildir files by default now (Lines: is "
		    "kept); --keep-mbox-headers keeps them\n", report_prefix());
		if (keep) {
			report_error(EX_USAGE, "--strip-status and --keep-mbox-headers contradict each other");
			status = EX_USAGE;
			goto out;
		}
	}
	o.keep_mbox_headers = keep;
	o.local_time = local_time;
	if (owner && parse_owner(owner, &o) == -1) {
		status = EX_USAGE;
		goto out;
	}
	const char *dest = args[nargs - 1];
	if (!o.in_place && strcmp(dest, "-") == 0 && opt_common.json) {
		/* the summary is printed on standard output: into the mbox */
		report_error(EX_USAGE, "--json with DEST '-': the summary would be written into "
		    "the mbox on standard output; leave out --json, or give DEST a file");
		status = EX_USAGE;
		goto out;
	}
	if (o.in_place && nargs != 1) {
		report_error(EX_USAGE, "--in-place takes one Maildir (its state is written beside the "
		    "old server's)");
		status = EX_USAGE;
		goto out;
	}
	if (!o.in_place && nargs < 2) {
		fprintf(stderr, "%s: usage: mailshift convert [OPTIONS] SOURCE... DEST\n", report_prefix());
		status = EX_USAGE;
		goto out;
	}
	if (maildir_to_maildir(&o, args[0], dest)) {
		if (!o.in_place && nargs != 2) {
			report_error(EX_USAGE, "a Maildir converts into a Maildir one at a time: one SOURCE "
			    "and one DEST");
			status = EX_USAGE;
		} else if (o.in_place && o.remove_source) {
			report_error(EX_USAGE, "--in-place removes nothing: not with --remove-source");
			status = EX_USAGE;
		} else if (!o.in_place && dest_parents(&o, dest) == -1) {
			status = EX_CANTCREAT;
		} else {
			status = convert_maildir_to_maildir(&o, args[0], o.in_place ? NULL : dest);
		}
		goto out;
	}
	if (o.in_place) {
		report_error(EX_USAGE, "--in-place: %s is not a Maildir", args[0]);
		status = EX_USAGE;
		goto out;
	}
	if (o.recursive) {
		if (nargs != 2) {
			report_error(EX_USAGE, "-r takes one SOURCE directory and one DEST");
			status = EX_USAGE;
		} else if (dest_parents(&o, dest) == -1) {
			status = EX_CANTCREAT;
		} else {
			status = convert_tree(&o, args[0], dest);
		}
		goto out;
	}
	/* sources that are directories of mboxes are named with the hint, the
	 * others converted */
	const char **srcs = xcalloc((size_t)nargs, sizeof *srcs);
	int nsrcs = 0;
	for (int i = 0; i < nargs - 1; i++) {
		if (dir_of_mboxes(args[i])) {
			report_error(EX_DATAERR, "%s: a directory of mboxes, not a Maildir: convert it "
			    "with -r (one Maildir++ folder per mbox)", args[i]);
			status = EX_DATAERR;
		} else {
			srcs[nsrcs++] = args[i];
		}
	}
	int dest_mbox = nsrcs ? dest_is_mbox(&o, srcs[0], dest) : -1;
	if (dest_mbox == 0 && o.compress && strcmp(o.compress, "none") != 0) {
		report_error(EX_USAGE, "--compress=%s writes an mbox, but %s would be a Maildir: "
		    "name it .mbox (.mbox.gz...) or give --to=mbox", o.compress, dest);
		status = EX_USAGE;
	} else if (dest_mbox == -1 || dest_parents(&o, dest) == -1) {
		status = report_exit_status_or(EX_CANTCREAT);
	} else if (dest_mbox) {
		if (fmt && !from_fmt)
			o.in_variant = MBOX_AUTO;   /* --mbox-format names the output here */
		int st = convert_to_mbox(&o, srcs, nsrcs, dest);
		status = st > status ? st : status;
	} else {
		int st = convert_to_maildir(&o, srcs, nsrcs, dest);
		status = st > status ? st : status;
	}
	free(srcs);
out:
	poptFreeContext(pc);
	free(to);
	free(fmt);
	free(from_fmt);
	free(sort);
	free(compress);
	free(layout);
	free(names);
	free(sync);
	free(owner);
	free(uid_state);
	free(pop3);
	free(labels);
	return status;
}
