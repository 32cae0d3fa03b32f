/*
 * convert_tree.c: `mailshift convert -r` (DESIGN §3 convert, SPEC §1.8 ▶,
 * §5 W5, W6): a directory of mbox files (with subdirectories) becomes one
 * Maildir++ tree (or Dovecot's LAYOUT=fs with --layout=fs), and a Maildir
 * tree becomes a directory of mboxes.
 *
 * The file "INBOX" (any case) at the top of an mbox tree is the top maildir
 * itself; going back, the top maildir's messages go to DEST/INBOX. Every
 * other file "a/b/c" is the folder of that path, its name built by
 * folder_encode() (so '.', '/', '..' and control bytes can never leave
 * DEST: every component is escaped, and "." / ".." / empty ones are
 * refused), and each message goes through convert_to_maildir() or
 * convert_to_mbox(): idempotence, --remove-source and --owner work per
 * folder as for single mailboxes.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "convert.h"
#include "folder.h"
#include "reader.h"
#include "report.h"
#include "serverstate.h"
#include "statefile.h"

/* UW-IMAP's list of subscribed mailboxes, one name a line. */
#define MAILBOXLIST_FILE ".mailboxlist"

struct names {
	char **v;
	size_t n, cap;
};

static void
names_add(struct names *ns, const char *s)
{
	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 32;
		ns->v = xrealloc(ns->v, ns->cap * sizeof *ns->v);
	}
	ns->v[ns->n++] = xstrdup(s);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Whatever a walk leaves out is named, one line each, also with -q, and
 * as {"left_out":PATH,"reason":...} with --json: a migration never drops a
 * mailbox silently (DESIGN §3 convert).
 */
static void
left_out(const char *path, const char *reason)
{
	report_progress_clear();
	fprintf(stderr, "%s: warning: %s: left out: %s\n", report_prefix(), path, reason);
	if (opt_common.json) {
		fputs("{\"left_out\":", stdout);
		json_cstring(stdout, path);
		fputs(",\"reason\":", stdout);
		json_cstring(stdout, reason);
		fputs("}\n", stdout);
		fflush(stdout);
	}
}

/* Files beside mboxes that are not mailboxes; NULL for a candidate. */
static const char *
side_file(const char *name)
{
	static const char *const suffixes[] = { ".lock", ".mailshift-journal", ".mailshift-append" };
	size_t n = strlen(name);

	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		size_t k = strlen(suffixes[i]);
		if (n > k && strcmp(name + n - k, suffixes[i]) == 0)
			return i == 0 ? "a lock file" : "mailshift's own file for an interrupted write";
	}
	return NULL;
}

/*
 * Mail clients' own files beside their mboxes (mailshift-convert(1) "Mail
 * clients"): what one is, or NULL. Named when left out.
 */
static const char *
client_side_file(const char *rel)
{
	static const struct { const char *suffix, *what; } side[] = {
		{ ".msf", "Thunderbird's summary of the mbox beside it, not a mailbox" },
		{ ".cmeta", "Evolution's folder metadata, not a mailbox" },
		{ ".ev-summary", "Evolution's summary of the mbox beside it, not a mailbox" },
		{ ".ev-summary-meta", "Evolution's summary metadata, not a mailbox" },
		{ ".ibex.index", "Evolution's search index, not a mailbox" },
		{ ".ibex.index.data", "Evolution's search index, not a mailbox" },
	};
	const char *base = strrchr(rel, '/');
	size_t n;

	base = base ? base + 1 : rel;
	n = strlen(base);
	for (size_t i = 0; i < ARRAY_SIZE(side); i++) {
		size_t k = strlen(side[i].suffix);
		if (n > k && strcmp(base + n - k, side[i].suffix) == 0)
			return side[i].what;
	}
	/* inside an Apple Mail bundle, everything but its mbox */
	if (base != rel && base - rel > 6 && memcmp(base - 6, ".mbox/", 6) == 0 &&
	    strcmp(base, "mbox") != 0)
		return "Apple Mail's bundle data (Info.plist, table_of_contents...), not a mailbox";
	return NULL;
}

/* KMail's directory of the subfolders of folder NAME: ".NAME.directory"
 * (the ".%1.directory" of KDE PIM's libmaildir); *base_len is NAME's. */
static bool
is_kmail_subdir(const char *name, size_t len, size_t *base_len)
{
	if (len <= 11 || name[0] != '.' || memcmp(name + len - 10, ".directory", 10) != 0)
		return false;
	if (base_len)
		*base_len = len - 11;
	return true;
}

/* The subscriptions files at the top of a tree (read, not converted). */
static bool
is_subscriptions_file(const char *rel)
{
	return strcmp(rel, MAILBOXLIST_FILE) == 0 || strcmp(rel, COURIER_SUBSCRIBED_FILE) == 0 ||
	    strcmp(rel, DOVECOT_SUBSCRIPTIONS_FILE) == 0;
}

/*
 * The entries below root/rel: regular files into `files`, directories
 * into `dirs` (relative paths); symlinks are never followed, and every
 * other entry is named by left_out().
 */
static void
walk_tree(const char *root, const char *rel, struct names *files, struct names *dirs, int depth)
{
	char *dir = *rel ? xasprintf("%s/%s", root, rel) : xstrdup(root);
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL) {
		report_warn_sys("unable to read %s", dir);
		left_out(dir, "a directory that cannot be read");
		free(dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		const char *n = de->d_name;
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
			continue;
		char *sub = *rel ? xasprintf("%s/%s", rel, n) : xstrdup(n);
		char *full = xasprintf("%s/%s", dir, n);
		const char *why = NULL;
		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) == -1)
			why = "cannot be examined (stat failed)";
		else if (S_ISLNK(st.st_mode))
			why = "a symbolic link (never followed)";
		else if (S_ISDIR(st.st_mode) && n[0] == '.' && !is_kmail_subdir(n, strlen(n), NULL))
			why = "a directory whose name starts with '.' (rename it to convert it)";
		else if (S_ISDIR(st.st_mode) && depth >= 64)
			why = "a directory nested more than 64 levels deep";
		else if (S_ISDIR(st.st_mode)) {
			names_add(dirs, sub);
			walk_tree(root, sub, files, dirs, depth + 1);
		} else if (S_ISFIFO(st.st_mode))
			why = "a FIFO, not a file";
		else if (S_ISSOCK(st.st_mode))
			why = "a socket, not a file";
		else if (!S_ISREG(st.st_mode))
			why = "a device, not a file";
		else if (*rel == '\0' && is_subscriptions_file(n))
			;       /* read by subscriptions_from_mbox_tree() */
		else if (n[0] == '.')
			why = "a file whose name starts with '.' (rename it to convert it)";
		else if ((why = side_file(n)) == NULL && (why = client_side_file(sub)) == NULL)
			names_add(files, sub);
		if (why)
			left_out(full, why);
		free(full);
		free(sub);
	}
	closedir(d);
	free(dir);
}

/* mkdir one directory we own; an existing real directory is fine. */
static int
make_dir(const struct convert_opts *o, const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) == 0) {
		if (o->chown && chown(path, o->uid, o->gid) == -1)
			report_warn_sys("unable to chown %s", path);
		return 0;
	}
	if (errno == EEXIST && lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	report_error_sys(EX_CANTCREAT, "unable to create directory %s", path);
	return -1;
}

/* The directories leading to dest/rel's last component. */
static int
make_parents(const struct convert_opts *o, const char *dest, const char *rel)
{
	for (const char *s = strchr(rel, '/'); s; s = strchr(s + 1, '/')) {
		char *p = xasprintf("%s/%.*s", dest, (int)(s - rel), rel);
		int rc = make_dir(o, p);
		free(p);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/*
 * The folder path of a path in an mbox tree (SPEC §1.8), a new string. The
 * clients' directories of subfolders are their folders' names:
 *   - "X.sbd" beside an mbox "X" holds X's subfolders (Thunderbird and
 *     Evolution; what Maildir -> mbox writes for a folder with messages and
 *     subfolders): "Archives.sbd/2019" is the folder "Archives/2019";
 *   - Apple Mail exports each mailbox as a bundle "X.mbox" holding the
 *     file "mbox" and its subfolders' bundles: "Work.mbox/Projects.mbox/mbox"
 *     is the folder "Work/Projects";
 *   - KMail keeps the subfolders of "inbox" in ".inbox.directory":
 *     ".inbox.directory/lists" is the folder "inbox/lists".
 * The last component is a directory's when is_dir.
 */
static char *
tree_folder_path(const char *source, const char *rel, bool is_dir)
{
	struct strbuf out = STRBUF_INIT;
	const char *p = rel;
	bool bundle = false;            /* the last directory was an Apple bundle */

	for (;;) {
		const char *s = strchr(p, '/');
		size_t n = s ? (size_t)(s - p) : strlen(p), keep = n, kl;
		if (s == NULL && !is_dir) {
			if (bundle && strcmp(p, "mbox") == 0 && out.len > 0)
				out.len--;      /* the bundle's mbox is the bundle's folder */
			else
				sb_appends(&out, p);
			break;
		}
		bundle = false;
		if (is_kmail_subdir(p, n, &kl)) {
			p++;
			keep = kl;
		} else if (n > 4 && memcmp(p + n - 4, ".sbd", 4) == 0) {
			struct stat st;
			char *sib = xasprintf("%s/%.*s", source, (int)(p + n - rel - 4), rel);
			if (lstat(sib, &st) == 0 && S_ISREG(st.st_mode))
				keep = n - 4;
			free(sib);
		} else if (n > 5 && memcmp(p + n - 5, ".mbox", 5) == 0) {
			struct stat st;
			char *inner = xasprintf("%s/%.*s/mbox", source, (int)(p + n - rel), rel);
			if (lstat(inner, &st) == 0 && S_ISREG(st.st_mode)) {
				keep = n - 5;
				bundle = true;
			}
			free(inner);
		}
		sb_append(&out, p, keep);
		if (s == NULL)
			break;
		sb_appendc(&out, '/');
		p = s + 1;
	}
	sb_appendc(&out, '\0');         /* a C string, also when empty */
	out.len--;
	return out.buf;
}

/* Is this directory of an mbox tree the subfolders of an mbox beside it? */
static bool
is_sbd_of_mbox(const char *source, const char *rel)
{
	size_t n = strlen(rel);
	struct stat st;

	if (n <= 4 || strcmp(rel + n - 4, ".sbd") != 0)
		return false;
	char *sib = xasprintf("%s/%.*s", source, (int)(n - 4), rel);
	bool yes = lstat(sib, &st) == 0 && S_ISREG(st.st_mode);
	free(sib);
	return yes;
}

/* DEST's folder for a folder path, created for the fs layout's parents;
 * NULL after reporting (*status set). */
static char *
folder_target(const struct convert_opts *o, const char *dest, const char *src, const char *fpath,
    struct strbuf *name, int *status)
{
	enum folder_layout layout = strcmp(o->layout, "fs") == 0 ? FOLDER_FS : FOLDER_MAILDIRPP;
	int rc = folder_encode(fpath, strlen(fpath), layout, (enum folder_charset)o->folder_charset, name);

	if (rc == -1) {
		report_error(EX_DATAERR, "%s: no folder name for this path (empty, \".\" or \"..\" "
		    "component)", src);
		*status = exit_worse(*status, EX_DATAERR);
		return NULL;
	}
	if (rc == 1)
		report_warn("%s: folder name too long, shortened to %s", src, name->buf);
	if (layout == FOLDER_FS && !opt_common.dry_run && make_parents(o, dest, name->buf) == -1) {
		*status = exit_worse(*status, EX_CANTCREAT);
		return NULL;
	}
	return layout == FOLDER_FS ? xasprintf("%s/%s", dest, name->buf)
	    : xasprintf("%s/.%s", dest, name->buf);
}

/* An empty folder (a directory of the mbox tree): a maildir of its own. */
static int
empty_folder(const struct convert_opts *o, const char *target)
{
	if (opt_common.dry_run)
		return 0;
	struct maildir_writer_opts wo = { .create = true, .chown = o->chown, .uid = o->uid,
		.gid = o->gid, .sync = o->sync, .lock_timeout = o->lock_timeout };
	struct maildir_writer *w = maildir_writer_open(target, &wo);
	if (w == NULL || maildir_writer_close(w) == -1)
		return report_exit_status_or(EX_CANTCREAT);
	if (strcmp(o->layout, "fs") != 0)
		convert_maildirfolder(o, target);
	return 0;
}

/* Read a subscriptions file of SOURCE's top (NULL, 0 when none). */
static char *
read_small_file(const char *dir, const char *name, size_t *len_r)
{
	char *p = xasprintf("%s/%s", dir, name);
	int fd = open(p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct strbuf b = STRBUF_INIT;
	char buf[8192];
	ssize_t k;

	free(p);
	*len_r = 0;
	if (fd == -1)
		return NULL;
	while ((k = read_full(fd, buf, sizeof buf)) > 0 && b.len < (1u << 24))
		sb_append(&b, buf, (size_t)k);
	close(fd);
	*len_r = b.len;
	return b.buf ? b.buf : xstrdup("");
}

/* Write DEST/name whole (statefile.h) unless a dry run: through tmp/ of
 * a Maildir, or beside it in an mbox tree (beside). */
static int
write_small_file(const struct convert_opts *o, const char *dir, const char *name,
    const struct strbuf *data, bool beside)
{
	if (opt_common.dry_run)
		return 0;
	struct state_file_opts so = { .mode = 0600, .chown = o->chown, .uid = o->uid, .gid = o->gid,
	    .no_sync = o->sync == SYNC_NONE, .beside = beside };
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = dfd == -1 ? -1 : state_file_replace(dfd, name, data->buf, data->len, &so);

	if (rc == -1)
		report_error_sys(EX_CANTCREAT, "unable to write %s/%s", dir, name);
	if (dfd != -1)
		close(dfd);
	return rc;
}

/*
 * UW-IMAP's .mailboxlist (names as the client gave them: relative to the
 * mail directory, or to the home directory with the mail directory's name
 * in front) or Courier's courierimapsubscribed at the top of an mbox tree
 * becomes Dovecot's subscriptions file of the new tree. A name that is no
 * mailbox of SOURCE is named and left out.
 */
static int
subscriptions_to_maildir(const struct convert_opts *o, const char *source, const char *dest)
{
	struct subscriptions subs = { 0 };
	struct strbuf name = STRBUF_INIT, out = STRBUF_INIT;
	size_t len;
	int status = 0;
	bool any = false;
	char *data = read_small_file(source, MAILBOXLIST_FILE, &len);
	char *top = strrchr(source, '/');

	top = top && top[1] ? top + 1 : (char *)source;
	for (size_t i = 0; data && i < len;) {
		const char *lf = memchr(data + i, '\n', len - i);
		size_t n = lf ? (size_t)(lf - data) - i : len - i;
		char *line = xasprintf("%.*s", (int)n, data + i);
		i += n + 1;
		size_t l = strlen(line);
		if (l && line[l - 1] == '\r')
			line[--l] = '\0';
		any = true;
		if (l == 0) {
			free(line);
			continue;
		}
		const char *rel = line;
		struct stat st;
		char *path = xasprintf("%s/%s", source, rel);
		size_t tl = strlen(top);
		if (lstat(path, &st) == -1 && strncmp(rel, top, tl) == 0 && rel[tl] == '/') {
			rel += tl + 1;
			free(path);
			path = xasprintf("%s/%s", source, rel);
		}
		if (strcasecmp(rel, "INBOX") == 0) {
			subscriptions_add(&subs, "INBOX", 5);
		} else if (lstat(path, &st) == -1) {
			char *where = xasprintf("%s/%s: \"%s\"", source, MAILBOXLIST_FILE, line);
			left_out(where, "a subscription to a mailbox that is not in the tree");
			free(where);
		} else {
			char *fp = tree_folder_path(source, rel, false);
			enum folder_layout layout = strcmp(o->layout, "fs") == 0 ? FOLDER_FS : FOLDER_MAILDIRPP;
			if (folder_encode(fp, strlen(fp), layout, (enum folder_charset)o->folder_charset,
			    &name) >= 0) {
				for (char *c = name.buf; *c; c++)
					if (*c == '/')
						*c = '.';
				subscriptions_add(&subs, name.buf, name.len);
			}
			free(fp);
		}
		free(path);
		free(line);
	}
	free(data);
	data = read_small_file(source, COURIER_SUBSCRIBED_FILE, &len);
	if (data) {
		struct subscriptions c = { 0 };
		struct state_findings f = { 0 };
		char *file = xasprintf("%s/%s", source, COURIER_SUBSCRIBED_FILE);
		subscriptions_parse_courier(data, len, file, &c, &f);
		for (size_t i = 0; i < c.n; i++)
			subscriptions_add(&subs, c.names[i], strlen(c.names[i]));
		subscriptions_free(&c);
		state_findings_free(&f);
		free(file);
		free(data);
		any = true;
	}
	if (any) {
		subscriptions_format_dovecot(&subs, false, &out);
		if (write_small_file(o, dest, DOVECOT_SUBSCRIPTIONS_FILE, &out, false) == -1)
			status = EX_CANTCREAT;
	}
	subscriptions_free(&subs);
	sb_free(&name);
	sb_free(&out);
	return status;
}

/* Directory of mboxes -> one maildir tree. */
static int
tree_to_maildir(const struct convert_opts *o, const char *source, const char *dest)
{
	struct names files = { 0 }, dirs = { 0 };
	struct strbuf name = STRBUF_INIT;
	struct convert_opts co = *o;
	int status = 0;

	co.label_root = dest;       /* Gmail's label folders: at the top of the tree */
	walk_tree(source, "", &files, &dirs, 0);
	if (files.n > 1)
		qsort(files.v, files.n, sizeof *files.v, name_cmp);
	if (dirs.n > 1)
		qsort(dirs.v, dirs.n, sizeof *dirs.v, name_cmp);
	if (!opt_common.dry_run) {
		/* the top of the tree is a maildir, with or without an INBOX file,
		 * and exists before its folders */
		struct maildir_writer_opts wo = { .create = true, .chown = o->chown, .uid = o->uid,
			.gid = o->gid, .sync = o->sync, .lock_timeout = o->lock_timeout };
		struct maildir_writer *w = maildir_writer_open(dest, &wo);
		if (w == NULL || maildir_writer_close(w) == -1)
			return report_exit_status_or(EX_CANTCREAT);
	}
	/* a directory is a folder too, empty unless its mbox says otherwise */
	for (size_t i = 0; i < dirs.n && !convert_got_signal; i++) {
		if (is_sbd_of_mbox(source, dirs.v[i]))
			continue;
		char *src = xasprintf("%s/%s", source, dirs.v[i]);
		char *fp = tree_folder_path(source, dirs.v[i], true);
		/* KMail's ".inbox.directory": INBOX's subfolders, INBOX is DEST */
		char *target = strcasecmp(fp, "INBOX") == 0 ? NULL
		    : folder_target(o, dest, src, fp, &name, &status);
		if (target)
			status = exit_worse(status, empty_folder(o, target));
		free(target);
		free(fp);
		free(src);
	}
	for (size_t i = 0; i < files.n && !convert_got_signal; i++) {
		const char *rel = files.v[i];
		char *src = xasprintf("%s/%s", source, rel);
		char *target = NULL;
		char *fp = tree_folder_path(source, rel, false);
		/* an mbox, an empty file (a folder without messages), or a
		 * compressed mbox */
		if (reader_path_kind(src) == READER_PATH_OTHER) {
			left_out(src, "not an mbox (it does not start with a From_ line)");
		} else if (strcasecmp(fp, "INBOX") == 0) {
			status = exit_worse(status, convert_to_maildir(&co, (const char **)&src, 1, dest));
		} else {
			target = folder_target(o, dest, src, fp, &name, &status);
			if (target) {
				status = exit_worse(status, convert_to_maildir(&co, (const char **)&src, 1, target));
				if (strcmp(o->layout, "fs") != 0 && !opt_common.dry_run &&
				    reader_is_maildir(target))
					convert_maildirfolder(o, target);
			}
		}
		free(fp);
		free(target);
		free(src);
	}
	status = exit_worse(status, subscriptions_to_maildir(o, source, dest));
	for (size_t i = 0; i < files.n; i++)
		free(files.v[i]);
	free(files.v);
	for (size_t i = 0; i < dirs.n; i++)
		free(dirs.v[i]);
	free(dirs.v);
	sb_free(&name);
	return status;
}

/* A folder of a Maildir tree on its way to an mbox tree. */
struct mfolder {
	char *path;             /* the maildir */
	char *rel;              /* its mbox tree path, "" = INBOX, NULL = no name */
	bool messages;          /* new/ or cur/ holds a file */
	bool children;          /* another folder is below it */
};

static bool
maildir_has_messages(const char *maildir)
{
	static const char *const sub[] = { "new", "cur" };
	bool found = false;

	for (size_t i = 0; i < ARRAY_SIZE(sub) && !found; i++) {
		char *p = xasprintf("%s/%s", maildir, sub[i]);
		DIR *d = opendir(p);
		struct dirent *de;
		free(p);
		while (d && !found && (de = readdir(d)) != NULL)
			found = de->d_name[0] != '.';
		if (d)
			closedir(d);
	}
	return found;
}

/*
 * The path in the mbox tree of a folder path: a parent that holds messages
 * and has subfolders is an mbox file, its subfolders are in "<parent>.sbd"
 * (Thunderbird's convention; SPEC §1.8). An empty parent is a directory.
 */
static char *
mbox_tree_path(const struct mfolder *fs, size_t n, const char *rel)
{
	struct strbuf out = STRBUF_INIT;
	const char *p = rel;

	for (const char *s; (s = strchr(p, '/')) != NULL; p = s + 1) {
		sb_append(&out, p, (size_t)(s - p));
		size_t plen = (size_t)(s - rel);
		for (size_t i = 0; i < n; i++)
			if (fs[i].rel && strlen(fs[i].rel) == plen && memcmp(fs[i].rel, rel, plen) == 0 &&
			    fs[i].messages)
				sb_appends(&out, ".sbd");
		sb_appendc(&out, '/');
	}
	sb_appends(&out, p);
	return out.buf ? out.buf : xstrdup("");
}

/* SOURCE's subscriptions (Dovecot's, else Courier's) become UW's
 * .mailboxlist in DEST, names as paths of the mbox tree. */
static int
subscriptions_to_mboxes(const struct convert_opts *o, const char *source, const char *dest,
    const struct mfolder *fs, size_t n)
{
	enum folder_layout layout = strcmp(o->layout, "fs") == 0 ? FOLDER_FS : FOLDER_MAILDIRPP;
	struct subscriptions subs = { 0 };
	struct state_findings f = { 0 };
	struct strbuf rel = STRBUF_INIT, out = STRBUF_INIT;
	size_t len;
	char *data = read_small_file(source, DOVECOT_SUBSCRIPTIONS_FILE, &len);
	const char *fname = DOVECOT_SUBSCRIPTIONS_FILE;
	bool courier = false;
	int status = 0;

	if (data == NULL) {
		data = read_small_file(source, COURIER_SUBSCRIBED_FILE, &len);
		fname = COURIER_SUBSCRIBED_FILE;
		courier = true;
	}
	if (data == NULL)
		return 0;
	char *file = xasprintf("%s/%s", source, fname);
	if (courier)
		subscriptions_parse_courier(data, len, file, &subs, &f);
	else
		subscriptions_parse_dovecot(data, len, file, &subs, &f);
	for (size_t i = 0; i < subs.n; i++) {
		const char *nm = subs.names[i];
		if (strcasecmp(nm, "INBOX") == 0) {
			sb_appends(&out, "INBOX\n");
			continue;
		}
		struct strbuf enc = STRBUF_INIT;
		sb_appends(&enc, nm);
		if (layout == FOLDER_FS)
			for (char *c = enc.buf; *c; c++)
				if (*c == '.')
					*c = '/';
		bool known = false;
		if (folder_decode(enc.buf, enc.len, layout, (enum folder_charset)o->folder_charset,
		    &rel, NULL) == 0) {
			for (size_t k = 0; k < n && !known; k++)
				known = fs[k].rel && strcmp(fs[k].rel, rel.buf) == 0;
		}
		if (known) {
			char *p = mbox_tree_path(fs, n, rel.buf);
			sb_appends(&out, p);
			sb_appendc(&out, '\n');
			free(p);
		} else {
			char *where = xasprintf("%s: \"%s\"", file, nm);
			left_out(where, "a subscription to a folder that is not in the tree");
			free(where);
		}
		sb_free(&enc);
	}
	if (write_small_file(o, dest, MAILBOXLIST_FILE, &out, true) == -1)
		status = EX_CANTCREAT;
	free(file);
	free(data);
	subscriptions_free(&subs);
	state_findings_free(&f);
	sb_free(&rel);
	sb_free(&out);
	return status;
}

/* One maildir tree -> a directory of mboxes. */
static int
tree_to_mboxes(const struct convert_opts *o, const char *source, const char *dest)
{
	enum folder_layout layout = strcmp(o->layout, "fs") == 0 ? FOLDER_FS : FOLDER_MAILDIRPP;
	struct maildir_walk *mw = maildir_walk_open(source,
	    layout == FOLDER_FS ? MAILDIR_LAYOUT_FS : MAILDIR_LAYOUT_MAILDIRPP, NULL, NULL);
	const struct maildir_folder *f;
	struct strbuf rel = STRBUF_INIT;
	struct mfolder *fs = NULL;
	size_t n = 0, cap = 0;
	int status = 0;

	if (mw == NULL)
		return EX_NOINPUT;
	if (!opt_common.dry_run && make_dir(o, dest) == -1) {
		maildir_walk_close(mw);
		return EX_CANTCREAT;
	}
	while (maildir_walk_next(mw, &f) == 1) {
		unsigned odd = 0;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			fs = xrealloc(fs, cap * sizeof *fs);
		}
		struct mfolder *m = &fs[n++];
		memset(m, 0, sizeof *m);
		m->path = xstrdup(f->path);
		m->messages = maildir_has_messages(f->path);
		if (*f->name == '\0') {
			m->rel = xstrdup("");
		} else if (folder_decode(f->name, strlen(f->name), layout,
		    (enum folder_charset)o->folder_charset, &rel, &odd) == -1) {
			report_error(EX_DATAERR, "%s: folder name does not map to a path inside %s",
			    f->path, dest);
			status = exit_worse(status, EX_DATAERR);
		} else {
			m->rel = xstrdup(rel.buf);
			if (odd)
				report_warn("%s: %u escapes or UTF-7 runs not written by mailshift, kept as "
				    "they are", f->path, odd);
		}
	}
	maildir_walk_close(mw);
	for (size_t i = 0; i < n; i++) {
		size_t l = fs[i].rel ? strlen(fs[i].rel) : 0;
		for (size_t k = 0; k < n && l && !fs[i].children; k++)
			fs[i].children = fs[k].rel && strncmp(fs[k].rel, fs[i].rel, l) == 0 &&
			    fs[k].rel[l] == '/';
	}
	for (size_t i = 0; i < n && !convert_got_signal; i++) {
		struct mfolder *m = &fs[i];
		if (m->rel == NULL)
			continue;
		char *p = *m->rel ? mbox_tree_path(fs, n, m->rel) : xstrdup("INBOX");
		char *target = xasprintf("%s/%s", dest, p);
		if (!opt_common.dry_run && make_parents(o, dest, p) == -1) {
			status = exit_worse(status, EX_CANTCREAT);
		} else if (*m->rel && m->children && !m->messages) {
			/* an empty parent folder is a directory */
			if (!opt_common.dry_run && make_dir(o, target) == -1)
				status = exit_worse(status, EX_CANTCREAT);
		} else {
			const char *sp = m->path;
			status = exit_worse(status, convert_to_mbox(o, &sp, 1, target));
		}
		free(target);
		free(p);
	}
	status = exit_worse(status, subscriptions_to_mboxes(o, source, dest, fs, n));
	for (size_t i = 0; i < n; i++) {
		free(fs[i].path);
		free(fs[i].rel);
	}
	free(fs);
	sb_free(&rel);
	return status;
}

int
convert_tree(const struct convert_opts *o, const char *source, const char *dest)
{
	struct stat st;

	if (reader_is_maildir(source)) {
		if (o->to && strcmp(o->to, "maildir") == 0) {
			report_error(EX_USAGE, "-r: %s is a Maildir tree; --to=maildir needs a directory "
			    "of mboxes", source);
			return EX_USAGE;
		}
		return tree_to_mboxes(o, source, dest);
	}
	if (stat(source, &st) == -1 || !S_ISDIR(st.st_mode)) {
		report_error(EX_USAGE, "-r: %s is not a directory", source);
		return EX_USAGE;
	}
	if (o->to && strcmp(o->to, "mbox") == 0) {
		report_error(EX_USAGE, "-r: %s is a directory of mboxes; --to=mbox needs a Maildir tree",
		    source);
		return EX_USAGE;
	}
	return tree_to_maildir(o, source, dest);
}
