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
#include "maildir_reader.h"
#include "report.h"
#include "source.h"

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

/* Lock, journal and marker files beside mboxes are not mailboxes. */
static bool
is_side_file(const char *name)
{
	static const char *const suffixes[] = { ".lock", ".mailshift-journal", ".mailshift-append" };
	size_t n = strlen(name);

	if (name[0] == '.')
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		size_t k = strlen(suffixes[i]);
		if (n > k && strcmp(name + n - k, suffixes[i]) == 0)
			return true;
	}
	return false;
}

/* KMail's directory of the subfolders of folder NAME: ".NAME.directory"
 * (the ".%1.directory" of KDE PIM's libmaildir). */
static bool
is_kmail_subdir(const char *name, size_t *base_len)
{
	size_t n = strlen(name);

	if (n <= 11 || name[0] != '.' || strcmp(name + n - 10, ".directory") != 0)
		return false;
	if (base_len)
		*base_len = n - 11;
	return true;
}

/* Relative paths of the regular files below root/rel; symlinks are never
 * followed. */
static void
walk_files(const char *root, const char *rel, struct names *out, int depth)
{
	char *dir = *rel ? xasprintf("%s/%s", root, rel) : xstrdup(root);
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL) {
		report_warn_sys("unable to read %s", dir);
		free(dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (is_side_file(de->d_name) && !is_kmail_subdir(de->d_name, NULL))
			continue;
		char *sub = *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			report_warn_sys("unable to stat %s/%s", dir, de->d_name);
		else if (S_ISLNK(st.st_mode))
			report_warn("%s/%s: symbolic link, not followed", dir, de->d_name);
		else if (S_ISDIR(st.st_mode) && depth < 64)
			walk_files(root, sub, out, depth + 1);
		else if (S_ISREG(st.st_mode))
			names_add(out, sub);
		free(sub);
	}
	closedir(d);
	free(dir);
}

/* An mbox or an empty file (a folder without messages)? */
static bool
looks_like_mbox(const char *path)
{
	char b[512];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return false;
	ssize_t n = read_full(fd, b, sizeof b);
	close(fd);
	ssize_t i = 0;
	while (i < n && (b[i] == '\n' || b[i] == '\r'))
		i++;
	return n >= 0 && (i == n || (n - i >= 5 && memcmp(b + i, "From ", 5) == 0));
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
 * Mail clients' own files beside their mboxes (mailshift-convert(1) "Mail
 * clients"): what one is, or NULL. Named when skipped.
 */
static const char *
client_side_file(const char *rel)
{
	static const struct { const char *suffix, *what; } side[] = {
		{ ".msf", "Thunderbird's summary of the mbox beside it" },
		{ ".cmeta", "Evolution's folder metadata" },
		{ ".ev-summary", "Evolution's summary of the mbox beside it" },
		{ ".ev-summary-meta", "Evolution's summary metadata" },
		{ ".ibex.index", "Evolution's search index" },
		{ ".ibex.index.data", "Evolution's search index" },
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
		return "Apple Mail's bundle data (Info.plist, table_of_contents...)";
	return NULL;
}

/*
 * The folder path of an mbox in a client's tree, into out:
 *   - Thunderbird (and Evolution's mbox store) keeps the subfolders of
 *     mbox "Archives" in the directory "Archives.sbd": "Archives.sbd/2019"
 *     is the folder "Archives/2019";
 *   - Apple Mail exports each mailbox as a bundle "Work.mbox" holding the
 *     file "mbox" and the bundles of its subfolders:
 *     "Work.mbox/Projects.mbox/mbox" is the folder "Work/Projects";
 *   - KMail keeps the subfolders of "inbox" in ".inbox.directory":
 *     ".inbox.directory/lists" is the folder "inbox/lists".
 * Other paths are kept as they are.
 */
static void
client_folder_path(const char *rel, struct strbuf *out)
{
	const char *p = rel;

	sb_reset(out);
	for (;;) {
		const char *slash = strchr(p, '/');
		if (slash == NULL) {
			/* the mbox of an Apple Mail bundle is the bundle's folder */
			if (strcmp(p, "mbox") == 0 && out->len > 0)
				out->len--;
			else
				sb_appends(out, p);
			break;
		}
		size_t n = (size_t)(slash - p), kl;
		char *comp = xstrndup(p, n);
		bool kmail = is_kmail_subdir(comp, &kl);
		free(comp);
		if (kmail) {
			p++;                    /* the leading dot */
			n = kl;
		} else if (n > 4 && memcmp(slash - 4, ".sbd", 4) == 0)
			n -= 4;
		else if (n > 5 && memcmp(slash - 5, ".mbox", 5) == 0)
			n -= 5;
		sb_append(out, p, n);
		sb_appendc(out, '/');
		p = slash + 1;
	}
	sb_appendc(out, '\0');        /* a C string, also when empty */
	out->len--;
}

static int
worse(int status, int s)
{
	return status ? status : s;
}

/* Directory of mboxes -> one maildir tree. */
static int
tree_to_maildir(const struct convert_opts *o, const char *source, const char *dest)
{
	enum folder_layout layout = strcmp(o->layout, "fs") == 0 ? FOLDER_FS : FOLDER_MAILDIRPP;
	struct names files = { 0 };
	struct strbuf name = STRBUF_INIT, fpath = STRBUF_INIT;
	struct convert_opts co = *o;
	int status = 0;

	co.label_root = dest;       /* Gmail's label folders: at the top of the tree */
	walk_files(source, "", &files, 0);
	if (files.n > 1)
		qsort(files.v, files.n, sizeof *files.v, name_cmp);
	if (!opt_common.dry_run) {
		/* the top of the tree is a maildir, with or without an INBOX file,
		 * and exists before its folders */
		struct maildir_writer_opts wo = { .create = true, .chown = o->chown, .uid = o->uid,
			.gid = o->gid, .sync = o->sync, .lock_timeout = o->lock_timeout };
		struct maildir_writer *w = maildir_writer_open(dest, &wo);
		if (w == NULL || maildir_writer_close(w) == -1)
			return report_exit_status() ? report_exit_status() : EX_CANTCREAT;
	}
	for (size_t i = 0; i < files.n && !convert_got_signal; i++) {
		const char *rel = files.v[i];
		char *src = xasprintf("%s/%s", source, rel);
		char *target = NULL;
		const char *side = client_side_file(rel);
		client_folder_path(rel, &fpath);
		if (side != NULL) {
			report_warn("%s: %s, not a mailbox: skipped", src, side);
		} else if (!looks_like_mbox(src)) {
			report_warn("%s: not an mbox, skipped", src);
		} else if (strcasecmp(fpath.buf, "INBOX") == 0) {
			status = worse(status, convert_to_maildir(&co, (const char **)&src, 1, dest));
		} else {
			int rc = folder_encode(fpath.buf, fpath.len, layout, (enum folder_charset)o->folder_charset,
			    &name);
			if (rc == -1) {
				report_error(EX_DATAERR, "%s: no folder name for this path (empty, \".\" or "
				    "\"..\" component)", src);
				status = worse(status, EX_DATAERR);
			} else {
				if (rc == 1)
					report_warn("%s: folder name too long, shortened to %s", src, name.buf);
				target = layout == FOLDER_FS ? xasprintf("%s/%s", dest, name.buf)
				    : xasprintf("%s/.%s", dest, name.buf);
				if (layout == FOLDER_FS && !opt_common.dry_run &&
				    make_parents(o, dest, name.buf) == -1) {
					status = worse(status, EX_CANTCREAT);
				} else {
					status = worse(status, convert_to_maildir(&co, (const char **)&src, 1, target));
					if (layout == FOLDER_MAILDIRPP && !opt_common.dry_run &&
					    source_is_maildir(target))
						convert_maildirfolder(o, target);
				}
			}
		}
		free(target);
		free(src);
	}
	for (size_t i = 0; i < files.n; i++)
		free(files.v[i]);
	free(files.v);
	sb_free(&name);
	sb_free(&fpath);
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
	int status = 0;

	if (mw == NULL)
		return EX_NOINPUT;
	if (!opt_common.dry_run && make_dir(o, dest) == -1) {
		maildir_walk_close(mw);
		return EX_CANTCREAT;
	}
	while (!convert_got_signal && maildir_walk_next(mw, &f) == 1) {
		unsigned odd = 0;
		if (*f->name == '\0') {
			sb_reset(&rel);
			sb_appends(&rel, "INBOX");
		} else if (folder_decode(f->name, strlen(f->name), layout,
		    (enum folder_charset)o->folder_charset, &rel, &odd) == -1) {
			report_error(EX_DATAERR, "%s: folder name does not map to a path inside %s",
			    f->path, dest);
			status = worse(status, EX_DATAERR);
			continue;
		}
		if (odd)
			report_warn("%s: %u escapes or UTF-7 runs not written by mailshift, kept as they are",
			    f->path, odd);
		char *target = xasprintf("%s/%s", dest, rel.buf);
		if (!opt_common.dry_run && make_parents(o, dest, rel.buf) == -1)
			status = worse(status, EX_CANTCREAT);
		else
			{
			const char *p = f->path;
			status = worse(status, convert_to_mbox(o, &p, 1, target));
		}
		free(target);
	}
	maildir_walk_close(mw);
	sb_free(&rel);
	return status;
}

int
convert_tree(const struct convert_opts *o, const char *source, const char *dest)
{
	struct stat st;

	if (source_is_maildir(source)) {
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
