/*
 * convert_maildir.c: `mailshift convert` from a Maildir into a Maildir
 * (DESIGN §3 convert, SPEC §1.10, §1.11, mailshift-convert(1) "MAILDIR TO
 * MAILDIR"): the server-to-server migration.
 *
 * Per folder (the top maildir, and with -r every Maildir++ folder):
 *
 *     read the old server's state -> list the messages -> merge
 *       -> link (or copy) each message into DEST -> sync DEST
 *       -> write dovecot-uidlist, dovecot-keywords (and subscriptions)
 *       -> --remove-source
 *
 * A message keeps its file: DEST gets a hard link to it (same inode, so
 * content, mtime and owner come along), or, across file systems, a copy
 * written by the delivery protocol (tmp/, the batch made durable, link
 * into new/ or cur/, mtime set before it is published). Its name stays,
 * except that the keyword letters the merge gives it are added to the
 * info, which moves it to cur/. A message whose base name DEST already
 * holds is skipped, so reruns finish what an interrupted run began.
 *
 * The state (serverstate.c) is written after the messages are durable,
 * whole through tmp/ + rename(), under dovecot-uidlist.lock: a crash
 * leaves either no state or all of it. A dovecot-uidlist already in DEST
 * (Dovecot or an earlier run wrote it) is kept, as is one in SOURCE,
 * which is carried as it is; --overwrite-state writes the merge instead.
 *
 * --in-place writes only the state, beside the old server's files in
 * SOURCE: no message is copied, only renamed into cur/ when it gains
 * keyword letters.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "convert.h"
#include "flags.h"
#include "maildir_writer.h"
#include "reader.h"
#include "report.h"
#include "serverstate.h"
#include "statefile.h"
#include "testhook.h"
#include "uidstate.h"
#include "util.h"

#define UIDLIST_FILE "dovecot-uidlist"

struct mm_msg {
	char sub[4];            /* "new" or "cur" in SOURCE */
	char dsub[4];           /* where it goes in DEST */
	char *name;             /* in SOURCE */
	char *dname;            /* in DEST (name, or with the letters added) */
	uint64_t size;
	struct timespec atime, mtime;
	bool in_dest;           /* DEST holds its base name */
	bool done;              /* linked or copied by this run */
};

/* One run: the options and what is shared between the folders. */
struct mm_run {
	const struct convert_opts *o;
	struct subscriptions subs;  /* gathered from SOURCE's top */
	bool have_subs;
	int status;
};

/* The vsize of a file (its bytes with CR LF line ends), or -1. */
static int64_t
file_vsize(int dirfd, const char *name)
{
	char buf[65536];
	ssize_t r;
	uint64_t v = 0;
	bool cr = false;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd == -1)
		return -1;
	while ((r = read_full(fd, buf, sizeof buf)) > 0)
		v += flags_vsize_add(buf, (size_t)r, &cr);
	close(fd);
	return r < 0 ? -1 : (int64_t)v;
}

/* List SOURCE's new/ or cur/: regular files only; the rest is named. */
static int
list_sub(int dfd, const char *path, const char *sub, struct mm_msg **m, size_t *n, size_t *cap,
    uint64_t *warnings, int *status)
{
	int sfd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = sfd == -1 ? NULL : fdopendir(sfd);
	struct dirent *de;

	if (d == NULL) {
		if (sfd != -1)
			close(sfd);
		if (errno == ENOENT && strcmp(sub, "new") == 0)
			return 0;   /* a missing new/ is a check finding, not an error */
		report_error_sys(EX_NOINPUT, "unable to read %s/%s", path, sub);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(sfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
			if (errno == ENOENT)
				continue;   /* gone meanwhile: the old server expunged it */
			report_error_sys(EXIT_PROBLEMS, "unable to read %s/%s/%s", path, sub, de->d_name);
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			report_warn("%s/%s/%s: %s, not a message: not converted", path, sub, de->d_name,
			    S_ISLNK(st.st_mode) ? "a symlink" : "not a regular file");
			(*warnings)++;
			*status = EXIT_PROBLEMS;
			continue;
		}
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 256;
			*m = xrealloc(*m, *cap * sizeof **m);
		}
		struct mm_msg *x = &(*m)[(*n)++];
		memset(x, 0, sizeof *x);
		snprintf(x->sub, sizeof x->sub, "%s", sub);
		x->name = xstrdup(de->d_name);
		x->size = (uint64_t)st.st_size;
		x->atime = st.st_atim;
		x->mtime = st.st_mtim;
	}
	closedir(d);
	return 0;
}

/* The base names in DEST's new/ and cur/. */
static void
dest_bases(int dfd, struct baseset *s)
{
	static const char *const subs[] = { "new", "cur" };

	for (size_t i = 0; i < 2; i++) {
		int sfd = openat(dfd, subs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *d = sfd == -1 ? NULL : fdopendir(sfd);
		struct dirent *de;
		if (d == NULL) {
			if (sfd != -1)
				close(sfd);
			continue;
		}
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				baseset_add(s, de->d_name);
		closedir(d);
	}
}

/* The letters of an info "2,..." that are no flag and no keyword letter. */
static void
unknown_letters(const struct maildir_name *mn, char *out, size_t outlen)
{
	size_t k = 0;

	if (mn->info && mn->info_len >= 2 && mn->info[0] == '2' && mn->info[1] == ',')
		for (size_t i = 2; i < mn->info_len && k + 1 < outlen; i++) {
			char c = mn->info[i];
			if (c == ',')
				break;
			if (flags_from_letter(c) == 0 && !(c >= 'a' && c <= 'z'))
				out[k++] = c;
		}
	out[k] = '\0';
}

/* The name in DEST: the same, or with the merge's letters (then in cur/). */
static void
dest_name(struct mm_msg *x, const struct merged_msg *mm)
{
	struct maildir_name mn;

	maildir_name_parse(x->name, strlen(x->name), &mn);
	snprintf(x->dsub, sizeof x->dsub, "%s", x->sub);
	if (mm == NULL || ((mm->keywords & ~mn.keywords) == 0 && (mm->flags & ~mn.flags) == 0) ||
	    (mn.info && (mn.anomalies & (MN_EXPERIMENTAL | MN_BAD_INFO | MN_ALT_SEP)))) {
		x->dname = xstrdup(x->name);
		return;
	}
	char extra[64], info[128];
	unknown_letters(&mn, extra, sizeof extra);
	flags_make_info(mn.flags | mm->flags, mn.keywords | mm->keywords, extra[0] ? extra : NULL,
	    info);
	/* anything after a second comma stays (SPEC §1.5) */
	const char *rest = NULL;
	size_t rest_len = 0;
	if (mn.info && mn.info_len > 2) {
		rest = memchr(mn.info + 2, ',', mn.info_len - 2);
		if (rest)
			rest_len = mn.info_len - (size_t)(rest - mn.info);
	}
	x->dname = xasprintf("%.*s:%s%.*s", (int)mn.base_len, mn.base, info, (int)rest_len,
	    rest ? rest : "");
	snprintf(x->dsub, sizeof x->dsub, "cur");
}

/* Remove from tmp/ what an interrupted mailshift of this host left. */
static void
clean_leftovers(int dfd, const char *path)
{
	int fd = openat(dfd, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd != -1) {
		state_file_clean_leftovers(fd, path);
		close(fd);
	}
}

/* Create DEST's folder (0700) with tmp, new, cur; maildirfolder for a
 * folder. The directory fd, or -1 (reported). */
static int
dest_open(const struct convert_opts *o, const char *path, bool folder)
{
	static const char *const subs[] = { "tmp", "new", "cur" };

	if (mkdir(path, 0700) == 0) {
		if (o->chown && lchown(path, o->uid, o->gid) == -1) {
			report_error_sys(EX_CANTCREAT, "unable to give %s to its owner", path);
			return -1;
		}
	} else if (errno != EEXIST) {
		report_error_sys(EX_CANTCREAT, "unable to create %s", path);
		return -1;
	}
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd == -1) {
		report_error_sys(EX_CANTCREAT, "unable to open %s", path);
		return -1;
	}
	for (size_t i = 0; i < 3; i++) {
		if (mkdirat(dfd, subs[i], 0700) == 0) {
			if (o->chown && fchownat(dfd, subs[i], o->uid, o->gid, AT_SYMLINK_NOFOLLOW) == -1) {
				report_error_sys(EX_CANTCREAT, "unable to give %s/%s to its owner", path,
				    subs[i]);
				close(dfd);
				return -1;
			}
		} else if (errno != EEXIST) {
			report_error_sys(EX_CANTCREAT, "unable to create %s/%s", path, subs[i]);
			close(dfd);
			return -1;
		}
	}
	if (folder) {
		int fd = openat(dfd, "maildirfolder", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd == -1) {
			report_error_sys(EX_CANTCREAT, "unable to create %s/maildirfolder", path);
			close(dfd);
			return -1;
		}
		if (o->chown && fchown(fd, o->uid, o->gid) == -1) {
			report_error_sys(EX_CANTCREAT, "unable to give %s/maildirfolder to its owner", path);
			close(fd);
			close(dfd);
			return -1;
		}
		close(fd);
	}
	return dfd;
}

static int
sync_dir(int dfd, const char *sub, const char *path)
{
	int fd = sub ? openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : dup(dfd);

	if (fd == -1 || fsync(fd) == -1) {
		int e = errno;
		if (fd != -1)
			close(fd);
		errno = e;
		report_error_sys(EX_IOERR, "unable to sync %s%s%s", path, sub ? "/" : "", sub ? sub : "");
		return -1;
	}
	close(fd);
	return 0;
}

/* A copy of one message into DEST/tmp (across file systems): its bytes,
 * owner, mode and times; the tmp name into tmpname. 0 or -1 (reported). */
static int
copy_to_tmp(const struct convert_opts *o, int sdfd, const char *spath, int ddfd, const char *dpath,
    const struct mm_msg *x, char *tmpname, size_t tmplen, uint64_t seq)
{
	char buf[65536];
	ssize_t r;
	int in = -1, out = -1;
	struct stat st;

	char host[256];

	maildir_hostname(host, sizeof host);
	snprintf(tmpname, tmplen, "tmp/%lld.M%ldP%dQ%llu.%s.mailshift", (long long)time(NULL),
	    (long)(x->mtime.tv_nsec / 1000), (int)getpid(), (unsigned long long)seq, host);
	char *from = xasprintf("%s/%s", x->sub, x->name);
	in = openat(sdfd, from, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (in == -1 || fstat(in, &st) == -1) {
		report_error_sys(EXIT_PROBLEMS, "unable to read %s/%s", spath, from);
		goto fail;
	}
	out = openat(ddfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    st.st_mode & 0600 ? st.st_mode & 0777 : 0600);
	if (out == -1) {
		report_error_sys(report_status_for_write_errno(errno), "unable to create %s/%s", dpath,
		    tmpname);
		goto fail;
	}
	while ((r = read_full(in, buf, sizeof buf)) > 0)
		if (write_all(out, buf, (size_t)r) == -1) {
			report_error_sys(report_status_for_write_errno(errno), "unable to write %s/%s",
			    dpath, tmpname);
			goto fail_unlink;
		}
	if (r < 0) {
		report_error_sys(EXIT_PROBLEMS, "unable to read %s/%s", spath, from);
		goto fail_unlink;
	}
	uid_t uid = o->chown ? o->uid : st.st_uid;
	gid_t gid = o->chown ? o->gid : st.st_gid;
	if ((o->chown || geteuid() == 0) && fchown(out, uid, gid) == -1) {
		report_error_sys(EX_CANTCREAT, "unable to give %s/%s to its owner", dpath, tmpname);
		goto fail_unlink;
	}
	struct timespec ts[2] = { x->atime, x->mtime };
	if (futimens(out, ts) == -1 || (o->sync == SYNC_MESSAGE && fsync(out) == -1) ||
	    close(out) == -1) {
		out = -1;
		report_error_sys(report_status_for_write_errno(errno), "unable to write %s/%s", dpath,
		    tmpname);
		goto fail_unlink;
	}
	close(in);
	free(from);
	return 0;
fail_unlink:
	if (out != -1)
		close(out);
	out = -1;
	unlinkat(ddfd, tmpname, 0);
fail:
	if (in != -1)
		close(in);
	if (out != -1)
		close(out);
	free(from);
	return -1;
}

/* Write a small state file whole (statefile.h). */
static int
state_file_write(const struct convert_opts *o, int dfd, const char *path, const char *name,
    const struct strbuf *data)
{
	struct state_file_opts so = { .mode = 0600, .chown = o->chown, .uid = o->uid, .gid = o->gid,
	    .no_sync = o->sync == SYNC_NONE };

	if (state_file_replace(dfd, name, data->buf, data->len, &so) == -1) {
		report_error_sys(report_status_for_write_errno(errno), "unable to write %s/%s", path,
		    name);
		return -1;
	}
	return 0;
}

/* Copy a file of SOURCE into DEST as it is (a Dovecot state carried). */
static int
carry_file(const struct convert_opts *o, int sfd, const char *spath, int dfd, const char *dpath,
    const char *name)
{
	struct strbuf data = STRBUF_INIT;
	int r = state_file_read(sfd, name, &data, STATE_FILE_MAX);
	if (r == -1) {
		report_error_sys(EXIT_PROBLEMS, "unable to read %s/%s", spath, name);
		sb_free(&data);
		return -1;
	}
	if (r == 1)
		r = state_file_write(o, dfd, dpath, name, &data);
	sb_free(&data);
	return r == -1 ? -1 : 0;
}

/*
 * Does DEST hold this message of SOURCE (for --remove-source of a message
 * an earlier run delivered)? Its file of the same base name in new/ or cur/
 * is the same inode (a link), or has the same bytes (a copy).
 */
static bool
dest_holds(int srcsub, const char *name, const int dstsub[2], const char *dname)
{
	struct stat a, b;
	int k = 0;

	if (dname == NULL || fstatat(srcsub, name, &a, AT_SYMLINK_NOFOLLOW) == -1)
		return false;
	while (k < 2 && (dstsub[k] == -1 || fstatat(dstsub[k], dname, &b, AT_SYMLINK_NOFOLLOW) == -1))
		k++;
	if (k == 2 || !S_ISREG(b.st_mode))
		return false;
	if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return true;
	if (a.st_size != b.st_size)
		return false;
	int fa = openat(srcsub, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	int fb = openat(dstsub[k], dname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	bool same = fa != -1 && fb != -1;
	char x[16384], y[16384];
	while (same) {
		ssize_t ra = read_full(fa, x, sizeof x), rb = read_full(fb, y, sizeof y);
		if (ra != rb || ra < 0 || memcmp(x, y, (size_t)ra) != 0)
			same = false;
		else if (ra == 0)
			break;
	}
	if (fa != -1)
		close(fa);
	if (fb != -1)
		close(fb);
	return same;
}

/* Print the findings; the status they give (notices: none). */
static int
findings_report(const struct state_findings *f, uint64_t *warnings)
{
	struct strbuf out = STRBUF_INIT;
	int st = 0;

	for (size_t i = 0; i < f->n; i++) {
		sb_reset(&out);
		state_finding_format(&f->v[i], &out);
		if (state_problem_severity(f->v[i].what) == STATE_NOTE) {
			if (!opt_common.quiet)
				report_info("note: %s", out.buf);
			continue;
		}
		report_warn("%s", out.buf);
		(*warnings)++;
		st = EXIT_PROBLEMS;
	}
	sb_free(&out);
	return st;
}

/* What a summary line adds: the state carried. */
struct state_said {
	const char *state;
	const struct serverstate *st;   /* NULL: none merged */
};

static void
state_print(FILE *f, bool json, const void *arg)
{
	const struct state_said *ss = arg;
	const struct serverstate *st = ss->st;

	if (json) {
		fputs(",\"state\":", f);
		json_cstring(f, ss->state);
		if (st)
			fprintf(f, ",\"uidvalidity\":%u,\"uidnext\":%u,\"uids_kept\":%zu,\"uids_fresh\":%zu,"
			    "\"pop3_uidls\":%zu,\"with_keywords\":%zu,\"keywords_dropped\":%zu",
			    st->validity, st->next, st->kept, st->fresh, st->uidls, st->with_keywords,
			    st->ndropped);
		return;
	}
	fprintf(f, "; state %s", ss->state);
	if (st)
		fprintf(f, ": UIDVALIDITY %u, next UID %u, %zu UID%s kept, %zu new, %zu POP3 UIDL%s, "
		    "%zu with keywords", st->validity, st->next, st->kept, PLURAL(st->kept), st->fresh,
		    st->uidls, PLURAL(st->uidls), st->with_keywords);
}

static int
msg_cmp(const void *a, const void *b)
{
	const struct mm_msg *x = a, *y = b;
	return strcmp(x->name, y->name);
}

/*
 * One folder: SOURCE spath into DEST dpath (NULL with --in-place). top: the
 * top maildir (POP3 state and subscriptions live there).
 */
/*
 * One folder of a Maildir -> Maildir run, in its steps: folder_read()
 * (SOURCE's messages and old server's state), folder_dest() (what DEST
 * holds), folder_state() (which state: kept, carried or merged), the
 * messages (folder_messages(): linked, or copied in durable batches),
 * folder_sync(), folder_state_write(), folder_remove_source(), and the
 * summary. status keeps the worst exit status; failed stops every later
 * step that would change a file.
 */
struct folder {
	struct mm_run *run;
	const struct convert_opts *o;
	const char *spath, *dpath;  /* dpath NULL: --in-place */
	bool top;
	struct convert_summary sum;
	struct state_findings f;
	struct courier_state cs;
	struct mm_msg *m;
	size_t n, cap;
	uint64_t total;
	struct present_msg *p;
	struct serverstate st;
	bool merged, have_dkw;
	char *dkw[26];
	struct baseset have;
	int sfd, ddfd;
	int srcsub[2], dstsub[2];   /* new/ and cur/ of SOURCE and DEST */
	enum { S_NONE, S_KEEP, S_CARRY, S_MERGE } how;
	const char *state;
	int status;
	bool failed;
	/* copies in tmp/ waiting for their batch's sync */
	struct pending { size_t i; char tmp[384]; } *pend;
	size_t npend;
	uint64_t seq;
};

static const char *const folder_subs[] = { "new", "cur" };

static void
folder_fail(struct folder *fo, int status)
{
	fo->status = exit_worse(fo->status, status);
	fo->failed = true;
}

/* SOURCE: the old server's state and the messages, in order. 0 or the
 * status (reported). */
static int
folder_read(struct folder *fo)
{
	fo->sfd = open(fo->spath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fo->sfd == -1) {
		report_error_sys(EX_NOINPUT, "unable to open %s", fo->spath);
		return EX_NOINPUT;
	}
	if (courier_state_load(fo->sfd, fo->spath, &fo->cs, &fo->f) == -1) {
		report_error_sys(EX_NOINPUT, "unable to read %s", fo->spath);
		return EX_NOINPUT;
	}
	if (list_sub(fo->sfd, fo->spath, "new", &fo->m, &fo->n, &fo->cap, &fo->sum.warnings,
	    &fo->status) == -1 ||
	    list_sub(fo->sfd, fo->spath, "cur", &fo->m, &fo->n, &fo->cap, &fo->sum.warnings,
	    &fo->status) == -1)
		return EX_NOINPUT;
	if (fo->n > 1)
		qsort(fo->m, fo->n, sizeof *fo->m, msg_cmp);
	fo->sum.messages = fo->n;
	for (size_t i = 0; i < fo->n; i++)
		fo->total += fo->m[i].size;
	return 0;
}

/* DEST: opened (created), the base names it holds, our leftovers gone. */
static int
folder_dest(struct folder *fo)
{
	if (fo->dpath == NULL) {
		fo->ddfd = fo->sfd;
	} else if (opt_common.dry_run) {
		fo->ddfd = open(fo->dpath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	} else if ((fo->ddfd = dest_open(fo->o, fo->dpath, !fo->top)) == -1) {
		return report_exit_status_or(EX_CANTCREAT);
	}
	if (fo->ddfd != -1 && fo->dpath != NULL)
		dest_bases(fo->ddfd, &fo->have);
	if (fo->ddfd != -1 && !opt_common.dry_run)
		clean_leftovers(fo->ddfd, fo->dpath ? fo->dpath : fo->spath);
	return 0;
}

/* The merge's input: every message with its sizes (the virtual size only
 * when a POP3 state needs it). */
static void
folder_present(struct folder *fo, enum pop3_source ps)
{
	fo->p = xcalloc(fo->n ? fo->n : 1, sizeof *fo->p);
	for (size_t i = 0; i < fo->n; i++) {
		struct mm_msg *x = &fo->m[i];
		fo->p[i] = (struct present_msg){ .name = x->name, .size = x->size,
		    .mtime = x->mtime.tv_sec, .vsize = -1 };
		if (ps == POP3_NONE)
			continue;
		struct maildir_name mn;
		maildir_name_parse(x->name, strlen(x->name), &mn);
		if (mn.size_w >= 0 && mn.size_s == (long long)x->size) {
			fo->p[i].vsize = mn.size_w;
		} else {
			int sub = openat(fo->sfd, x->sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			fo->p[i].vsize = sub == -1 ? -1 : file_vsize(sub, x->name);
			if (sub != -1)
				close(sub);
		}
	}
}

/* Which state: DEST's kept, SOURCE's Dovecot state carried, or the merge
 * of the old server's; then every message's name in DEST. */
static void
folder_state(struct folder *fo)
{
	const struct convert_opts *o = fo->o;
	bool dest_list = fo->ddfd != -1 &&
	    faccessat(fo->ddfd, UIDLIST_FILE, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	bool src_list = faccessat(fo->sfd, UIDLIST_FILE, F_OK, AT_SYMLINK_NOFOLLOW) == 0;

	fo->how = S_MERGE;
	if (!o->uid_state)
		fo->how = S_NONE, fo->state = "none";
	else if (fo->dpath != NULL && dest_list && !o->overwrite_state)
		fo->how = S_KEEP, fo->state = "kept (DEST has a dovecot-uidlist)";
	else if (fo->dpath != NULL && src_list && !o->overwrite_state)
		fo->how = S_CARRY, fo->state = "carried (SOURCE's dovecot-uidlist)";
	if (fo->how == S_MERGE) {
		fo->state = "merged";
		enum pop3_source ps = POP3_NONE;
		if (fo->top && o->pop3 == CONVERT_POP3_QMAIL)
			ps = POP3_QMAIL;
		else if (fo->top && o->pop3 != CONVERT_POP3_NONE && fo->cs.pop3.present)
			ps = POP3_COURIER;
		folder_present(fo, ps);
		/* letters: DEST's dovecot-keywords, else SOURCE's */
		fo->have_dkw = (fo->ddfd != -1 && maildir_keywords_read(fo->ddfd, fo->dkw) == 0) ||
		    maildir_keywords_read(fo->sfd, fo->dkw) == 0;
		struct serverstate_in in = { .msgs = fo->p, .n = fo->n, .uiddb = &fo->cs.uiddb,
		    .pop3 = &fo->cs.pop3, .pop3_source = ps, .kw = &fo->cs.kw,
		    .dovecot_kw = fo->have_dkw ? fo->dkw : NULL,
		    .validity_fallback = (uint32_t)time(NULL) };
		serverstate_merge(&in, &fo->st, &fo->f);
		fo->merged = true;
	}
	fo->status = exit_worse(fo->status, findings_report(&fo->f, &fo->sum.warnings));
	for (size_t i = 0; i < fo->n; i++)
		dest_name(&fo->m[i], fo->merged ? &fo->st.m[i] : NULL);
}

/* The top folder's subscriptions (Courier's, Dovecot's) for the tree. */
static void
folder_subscriptions(struct folder *fo)
{
	const struct courier_state *cs = &fo->cs;

	if (!fo->top || !(cs->has_courier_subs || cs->has_dovecot_subs))
		return;
	fo->run->have_subs = true;
	for (size_t i = 0; cs->has_courier_subs && i < cs->courier_subs.n; i++)
		subscriptions_add(&fo->run->subs, cs->courier_subs.names[i],
		    strlen(cs->courier_subs.names[i]));
	for (size_t i = 0; cs->has_dovecot_subs && i < cs->dovecot_subs.n; i++)
		subscriptions_add(&fo->run->subs, cs->dovecot_subs.names[i],
		    strlen(cs->dovecot_subs.names[i]));
}

/* --in-place: only a message gaining letters moves (renamed into cur/). */
static void
message_in_place(struct folder *fo, struct mm_msg *x, int si, int di)
{
	if (strcmp(x->name, x->dname) == 0 && si == di)
		return;
	if (!opt_common.dry_run && rename_noreplace(fo->srcsub[si], x->name, fo->srcsub[di],
	    x->dname) == -1) {
		report_error_sys(EXIT_PROBLEMS, "unable to rename %s/%s/%s to %s/%s", fo->spath,
		    x->sub, x->name, x->dsub, x->dname);
		fo->status = exit_worse(fo->status, EXIT_PROBLEMS);
		free(x->dname);
		x->dname = xstrdup(x->name);
		memcpy(x->dsub, x->sub, 4);
		return;
	}
	fo->sum.delivered++;
	testhook_message_done();
}

/* A message DEST now has (linked or copied by this run). */
static void
message_done(struct folder *fo, struct mm_msg *x, const char *how)
{
	x->done = true;
	fo->sum.delivered++;
	fo->sum.bytes += x->size;
	if (opt_common.verbose)
		report_info("%s %s/%s", how, x->dsub, x->dname);
	testhook_message_done();
}

/* A batch of copies: made durable, then published. */
static void
folder_publish_copies(struct folder *fo)
{
	if (fo->o->sync == SYNC_BATCH && !fo->failed && syncfs(fo->ddfd) == -1) {
		report_error_sys(EX_IOERR, "unable to sync %s", fo->dpath);
		folder_fail(fo, EX_IOERR);
	}
	for (size_t j = 0; j < fo->npend; j++) {
		struct mm_msg *y = &fo->m[fo->pend[j].i];
		int dj = strcmp(y->dsub, "cur") == 0;
		if (!fo->failed && linkat(fo->ddfd, fo->pend[j].tmp, fo->dstsub[dj], y->dname, 0) == 0) {
			message_done(fo, y, "copied");
		} else if (!fo->failed && errno == EEXIST) {
			y->in_dest = true;
			fo->sum.skipped++;
		} else if (!fo->failed) {
			report_error_sys(report_status_for_write_errno(errno), "unable to "
			    "publish %s/%s/%s", fo->dpath, y->dsub, y->dname);
			folder_fail(fo, report_exit_status());
		}
		unlinkat(fo->ddfd, fo->pend[j].tmp, 0);
	}
	fo->npend = 0;
}

/* Into DEST: a hard link, or across file systems a copy in tmp/ that
 * waits for its batch. */
static void
message_link(struct folder *fo, size_t i, int si, int di)
{
	struct mm_msg *x = &fo->m[i];

	if (linkat(fo->srcsub[si], x->name, fo->dstsub[di], x->dname, 0) == 0) {
		if (fo->o->chown && fchownat(fo->dstsub[di], x->dname, fo->o->uid, fo->o->gid,
		    AT_SYMLINK_NOFOLLOW) == -1) {
			report_error_sys(EX_CANTCREAT, "unable to give %s/%s/%s to its owner", fo->dpath,
			    x->dsub, x->dname);
			folder_fail(fo, EX_CANTCREAT);
		}
		message_done(fo, x, "linked");
	} else if (errno == EEXIST) {
		x->in_dest = true;
		fo->sum.skipped++;
	} else if (errno == EXDEV || errno == EMLINK || errno == EPERM) {
		/* another file system (or no more links): a durable copy */
		fo->pend = xrealloc(fo->pend, (fo->npend + 1) * sizeof *fo->pend);
		fo->pend[fo->npend].i = i;
		if (copy_to_tmp(fo->o, fo->sfd, fo->spath, fo->ddfd, fo->dpath, x,
		    fo->pend[fo->npend].tmp, sizeof fo->pend[fo->npend].tmp, ++fo->seq) == -1) {
			int e = report_exit_status();
			fo->status = exit_worse(fo->status, e ? e : EX_IOERR);
			if (e != EXIT_PROBLEMS)
				fo->failed = true;
		} else {
			fo->npend++;
		}
	} else if (errno == ENOENT) {
		report_warn("%s/%s/%s: removed while it was converted (expunged by a client)",
		    fo->spath, x->sub, x->name);
		fo->sum.warnings++;
		fo->sum.messages--;
	} else {
		report_error_sys(report_status_for_write_errno(errno), "unable to link %s/%s/%s "
		    "into %s/%s", fo->spath, x->sub, x->name, fo->dpath, x->dsub);
		folder_fail(fo, report_exit_status());
	}
}

/* Every message, in order. */
static void
folder_messages(struct folder *fo)
{
	uint64_t done_bytes = 0;

	for (int k = 0; k < 2; k++) {
		fo->srcsub[k] = openat(fo->sfd, folder_subs[k],
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fo->ddfd != -1 && !opt_common.dry_run)
			fo->dstsub[k] = openat(fo->ddfd, folder_subs[k],
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	for (size_t i = 0; i < fo->n && !fo->failed && !convert_got_signal; i++) {
		struct mm_msg *x = &fo->m[i];
		report_progress(i, done_bytes, fo->total);
		done_bytes += x->size;
		int si = strcmp(x->sub, "cur") == 0, di = strcmp(x->dsub, "cur") == 0;
		if (fo->dpath == NULL) {
			message_in_place(fo, x, si, di);
		} else if (baseset_has(&fo->have, x->name)) {
			x->in_dest = true;
			fo->sum.skipped++;
		} else if (opt_common.dry_run) {
			if (opt_common.verbose)
				report_info("would link %s/%s/%s to %s/%s/%s", fo->spath, x->sub, x->name,
				    fo->dpath, x->dsub, x->dname);
		} else {
			message_link(fo, i, si, di);
			if (fo->npend > 0 && (fo->npend >= fo->o->batch || fo->failed))
				folder_publish_copies(fo);
		}
	}
	if (convert_got_signal)
		fo->failed = true;
	/* the last batch: also when the last messages were already in DEST */
	if (fo->npend > 0)
		folder_publish_copies(fo);
}

/* DEST durable (SOURCE's directories, in place): new/ and cur/ synced. */
static void
folder_sync(struct folder *fo)
{
	if (opt_common.dry_run || fo->failed || fo->o->sync == SYNC_NONE)
		return;
	const int *sub = fo->dpath ? fo->dstsub : fo->srcsub;
	for (int k = 0; k < 2 && !fo->failed; k++)
		if (sub[k] != -1 && fsync(sub[k]) == -1) {
			if (fo->dpath)
				report_error_sys(EX_IOERR, "unable to sync %s/%s", fo->dpath, folder_subs[k]);
			folder_fail(fo, EX_IOERR);
		}
}

/* The merged state into DEST: dovecot-keywords, then dovecot-uidlist.
 * 0 or -1 (reported). */
static int
folder_write_merged(struct folder *fo, const char *wpath)
{
	const struct convert_opts *o = fo->o;
	struct strbuf out = STRBUF_INIT;
	int rc = 0;

	for (size_t i = 0; i < fo->n; i++)
		fo->p[i].name = fo->m[i].dname;
	serverstate_format_keywords(&fo->st, &out);
	if (out.len > 0)
		rc = state_file_write(o, fo->ddfd, wpath, DOVECOT_KEYWORDS_FILE, &out);
	sb_reset(&out);
	serverstate_format_uidlist(&fo->st, fo->p, &out);
	if (rc == 0 && uidlist_replace(fo->ddfd, &out, o->sync == SYNC_NONE) == -1) {
		report_error_sys(report_status_for_write_errno(errno), "unable to write "
		    "%s/%s", wpath, UIDLIST_FILE);
		rc = -1;
	}
	if (rc == 0 && o->chown &&
	    fchownat(fo->ddfd, UIDLIST_FILE, o->uid, o->gid, AT_SYMLINK_NOFOLLOW) == -1) {
		report_error_sys(EX_CANTCREAT, "unable to give %s/%s to its owner", wpath,
		    UIDLIST_FILE);
		rc = -1;
	}
	sb_free(&out);
	return rc;
}

/* The state, after the messages, under dovecot-uidlist.lock. */
static void
folder_state_write(struct folder *fo)
{
	const char *wpath = fo->dpath ? fo->dpath : fo->spath;

	if (opt_common.dry_run || fo->failed || (fo->how != S_MERGE && fo->how != S_CARRY) ||
	    fo->ddfd == -1)
		return;
	int lfd = uidlist_lock(fo->ddfd, wpath, fo->o->lock_timeout);
	if (lfd == -1) {
		folder_fail(fo, report_exit_status_or(EX_TEMPFAIL));
		return;
	}
	int rc;
	if (fo->how == S_CARRY) {
		rc = carry_file(fo->o, fo->sfd, fo->spath, fo->ddfd, wpath, DOVECOT_KEYWORDS_FILE);
		if (rc == 0)
			rc = carry_file(fo->o, fo->sfd, fo->spath, fo->ddfd, wpath, UIDLIST_FILE);
	} else {
		rc = folder_write_merged(fo, wpath);
	}
	uidlist_unlock(fo->ddfd, lfd);
	if (rc == 0)
		testhook_message_done();
	if (rc == -1)
		folder_fail(fo, report_exit_status_or(EX_IOERR));
	else if (fo->o->sync != SYNC_NONE && sync_dir(fo->ddfd, NULL, wpath) == -1)
		folder_fail(fo, EX_IOERR);
}

/* --remove-source: what DEST now holds. */
static void
folder_remove_source(struct folder *fo)
{
	if (!fo->o->remove_source || fo->dpath == NULL || opt_common.dry_run || fo->failed)
		return;
	struct renamed_probe rp = { 0 };
	const char *sub;
	for (size_t i = 0; i < fo->n; i++) {
		struct mm_msg *x = &fo->m[i];
		int si = strcmp(x->sub, "cur") == 0;
		if (!x->done && !x->in_dest)
			continue;
		const char *held = baseset_get(&fo->have, x->name);
		if (!x->done && !dest_holds(fo->srcsub[si], x->name, fo->dstsub, held ? held : x->dname)) {
			report_warn("%s/%s/%s: not removed: %s has another file of that name", fo->spath,
			    x->sub, x->name, fo->dpath);
			fo->sum.warnings++;
			fo->status = exit_worse(fo->status, EXIT_PROBLEMS);
			continue;
		}
		if (unlinkat(fo->srcsub[si], x->name, 0) == 0) {
			/* removed */
		} else if (errno != ENOENT) {
			report_error_sys(EXIT_PROBLEMS, "unable to remove %s/%s/%s", fo->spath, x->sub,
			    x->name);
			fo->status = exit_worse(fo->status, EXIT_PROBLEMS);
			continue;
		} else if ((held = renamed_probe_find(&rp, fo->spath, x->name, &sub)) != NULL) {
			/* gone because a client renamed it: it stays, said */
			report_warn("%s/%s/%s: not removed: a client renamed it to %s/%s after it "
			    "was converted", fo->spath, x->sub, x->name, sub, held);
			fo->sum.warnings++;
			fo->status = exit_worse(fo->status, EXIT_PROBLEMS);
			continue;
		}
		fo->sum.removed++;
		testhook_message_done();
	}
	renamed_probe_free(&rp);
	for (int k = 0; k < 2; k++)
		if (fo->srcsub[k] != -1 && fo->o->sync != SYNC_NONE)
			(void)fsync(fo->srcsub[k]);
}

/* The folder's summary line (and JSON), with the state it got. */
static void
folder_summary(struct folder *fo)
{
	if (fo->how == S_MERGE && fo->dpath == NULL)
		fo->state = "written in place";
	if (fo->failed && fo->how != S_KEEP && fo->how != S_NONE)
		fo->state = "not written";
	if (fo->status == 0 && fo->failed)
		fo->status = report_exit_status_or(EX_IOERR);
	fo->sum.status = fo->status;
	report_status(fo->status);
	struct state_said said = { .state = fo->state, .st = fo->merged ? &fo->st : NULL };
	fo->sum.variant = "maildir";
	fo->sum.more = state_print;
	fo->sum.more_arg = &said;
	fo->sum.warnings += lock_warnings_take();
	convert_summary_print(&fo->sum);
}

static void
folder_free(struct folder *fo)
{
	for (int k = 0; k < 2; k++) {
		if (fo->srcsub[k] != -1)
			close(fo->srcsub[k]);
		if (fo->dstsub[k] != -1)
			close(fo->dstsub[k]);
	}
	if (fo->merged)
		serverstate_free(&fo->st);
	if (fo->have_dkw)
		maildir_keywords_free(fo->dkw);
	baseset_free(&fo->have);
	courier_state_free(&fo->cs);
	state_findings_free(&fo->f);
	for (size_t i = 0; i < fo->n; i++) {
		free(fo->m[i].name);
		free(fo->m[i].dname);
	}
	free(fo->m);
	free(fo->p);
	free(fo->pend);
	if (fo->ddfd != -1 && fo->ddfd != fo->sfd)
		close(fo->ddfd);
	if (fo->sfd != -1)
		close(fo->sfd);
}

static int
convert_folder(struct mm_run *run, const char *spath, const char *dpath, bool top)
{
	struct folder fo = {
		.run = run, .o = run->o, .spath = spath, .dpath = dpath, .top = top,
		.sum = { .source = spath, .dest = dpath, .variant = "maildir" },
		.f = STATE_FINDINGS_INIT, .sfd = -1, .ddfd = -1,
		.srcsub = { -1, -1 }, .dstsub = { -1, -1 }, .state = "none",
	};

	int st = folder_read(&fo);
	if (st == 0 && (st = folder_dest(&fo)) == 0) {
		folder_state(&fo);
		folder_subscriptions(&fo);
		folder_messages(&fo);
		folder_sync(&fo);
		folder_state_write(&fo);
		folder_remove_source(&fo);
		folder_summary(&fo);
		st = fo.status;
	}
	folder_free(&fo);
	return st;
}

/* DEST/subscriptions: SOURCE's folded into what DEST lists. */
static int
write_subscriptions(struct mm_run *run, const char *dpath)
{
	const struct convert_opts *o = run->o;
	struct state_findings f = STATE_FINDINGS_INIT;
	struct subscriptions have = { 0 };
	struct strbuf data = STRBUF_INIT;
	int rc = 0;

	if (!run->have_subs || opt_common.dry_run)
		return 0;
	int dfd = open(dpath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd == -1)
		return 0;
	bool v2 = false;
	if (state_file_read(dfd, DOVECOT_SUBSCRIPTIONS_FILE, &data, STATE_FILE_MAX) == 1) {
		v2 = data.len >= 2 && data.buf[0] == 'V' && data.buf[1] == '\t';
		subscriptions_parse_dovecot(data.buf, data.len, DOVECOT_SUBSCRIPTIONS_FILE, &have, &f);
	}
	size_t before = have.n;
	for (size_t i = 0; i < run->subs.n; i++)
		subscriptions_add(&have, run->subs.names[i], strlen(run->subs.names[i]));
	if (have.n != before) {
		sb_reset(&data);
		subscriptions_format_dovecot(&have, v2, &data);
		rc = state_file_write(o, dfd, dpath, DOVECOT_SUBSCRIPTIONS_FILE, &data);
		if (rc == 0 && opt_common.verbose)
			report_info("%s/%s: %zu folder%s subscribed", dpath, DOVECOT_SUBSCRIPTIONS_FILE,
			    have.n, PLURAL(have.n));
	}
	sb_free(&data);
	subscriptions_free(&have);
	state_findings_free(&f);
	close(dfd);
	return rc == -1 ? report_exit_status_or(EX_IOERR) : 0;
}

int
convert_maildir_to_maildir(const struct convert_opts *o, const char *source, const char *dest)
{
	struct mm_run run = { .o = o };
	int status = 0;

	if (!reader_is_maildir(source)) {
		report_error(EX_DATAERR, "%s: not a Maildir (no cur/ directory)", source);
		return EX_DATAERR;
	}
	if (dest != NULL && strcmp(dest, "-") == 0) {
		report_error(EX_USAGE, "a Maildir converts into a Maildir directory, not '-'");
		return EX_USAGE;
	}
	if (dest != NULL && strcmp(o->layout, "maildir++") != 0) {
		report_error(EX_USAGE, "a Maildir converts into a Maildir of its own layout: "
		    "--layout does not apply");
		return EX_USAGE;
	}
	if (dest != NULL) {
		char *rs = realpath(source, NULL), *rd = realpath(dest, NULL);
		bool same = rs && rd && strcmp(rs, rd) == 0;
		free(rs);
		free(rd);
		if (same) {
			report_error(EX_USAGE, "%s: SOURCE and DEST are the same Maildir (write the state "
			    "beside the old server's with --in-place)", dest);
			return EX_USAGE;
		}
	}
	struct maildir_walk *w = o->recursive ?
	    maildir_walk_open(source, MAILDIR_LAYOUT_MAILDIRPP, NULL, NULL) : NULL;
	if (o->recursive && w == NULL)
		return EX_NOINPUT;
	/* the folders first: --in-place refuses before it writes anything */
	struct { char *src, *dst; bool top; } *fs = NULL;
	size_t nf = 0;
	if (w) {
		const struct maildir_folder *f;
		size_t slen = strlen(source);
		while (maildir_walk_next(w, &f) == 1) {
			fs = xrealloc(fs, (nf + 1) * sizeof *fs);
			bool top = *f->name == '\0';
			const char *rel = top ? "" : f->path + slen + 1;
			fs[nf].src = xstrdup(f->path);
			fs[nf].dst = dest == NULL ? NULL :
			    top ? xstrdup(dest) : xasprintf("%s/%s", dest, rel);
			fs[nf].top = top;
			nf++;
		}
		maildir_walk_close(w);
	} else {
		fs = xmalloc(sizeof *fs);
		fs[0].src = xstrdup(source);
		fs[0].dst = dest ? xstrdup(dest) : NULL;
		fs[0].top = true;
		nf = 1;
	}
	if (dest == NULL && !o->overwrite_state && o->uid_state) {
		char *first = NULL;
		size_t more = 0;
		for (size_t i = 0; i < nf; i++) {
			char *ul = xasprintf("%s/%s", fs[i].src, UIDLIST_FILE);
			if (access(ul, F_OK) == 0 && first == NULL)
				first = ul, ul = NULL;
			else if (access(ul, F_OK) == 0)
				more++;
			free(ul);
		}
		if (first) {
			char also[64] = "";
			if (more)
				snprintf(also, sizeof also, " (and in %zu more folder%s)", more, PLURAL(more));
			report_error(EX_CANTCREAT, "%s exists%s: Dovecot's state is there already "
			    "(replace it with --overwrite-state)", first, also);
			status = EX_CANTCREAT;
			free(first);
		}
	}
	if (dest == NULL && !o->uid_state) {
		report_error(EX_USAGE, "--in-place writes the state only: not with --uid-state=none");
		status = EX_USAGE;
	}
	convert_signals_catch();
	/* the top first, so that folders go below it */
	for (size_t i = 0; i < nf && status != EX_CANTCREAT && status != EX_USAGE; i++) {
		if (convert_got_signal)
			break;
		int st = convert_folder(&run, fs[i].src, fs[i].dst, fs[i].top);
		status = exit_worse(status, st);
		if (st == EX_IOERR || st == EX_CANTCREAT || st == EX_TEMPFAIL)
			break;
	}
	if (status != EX_IOERR && status != EX_CANTCREAT && status != EX_USAGE && o->recursive &&
	    !convert_got_signal && o->uid_state)
		status = exit_worse(status, write_subscriptions(&run, dest ? dest : source));
	for (size_t i = 0; i < nf; i++) {
		free(fs[i].src);
		free(fs[i].dst);
	}
	free(fs);
	subscriptions_free(&run.subs);
	convert_signals_reraise();
	return exit_worse(status, report_exit_status());
}
