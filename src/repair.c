/*
 * repair.c: `mailshift repair [--dry-run] MAILBOX...` (DESIGN §3 repair,
 * mailshift-repair(1)). Runs the checks of core/inspect.c and applies the
 * safe fix for each finding, printing one line per action:
 *
 *   Maildir (SPEC §1, §5 M1-M13): missing directories are created with the
 *   mode of cur/; names are changed by rename(2) without replacing (renameat2
 *   RENAME_NOREPLACE, else link()+unlink() of the same inode) and never the
 *   content; stale tmp/ files that pass the M10 plausibility test are
 *   delivered into new/, tmp/ names of delivered inodes (M9) are removed;
 *   maildirsize is rebuilt via tmp/ + rename() (§1.9); what cannot be fixed
 *   is moved, byte for byte, into the quarantine folder.
 *   dovecot-uidlist (SPEC §1.10): under dovecot-uidlist.lock, N raised,
 *   lines of gone files dropped and unlisted files appended (--deep),
 *   written through tmp/ + rename(); no UID or UIDVALIDITY ever changes.
 *   mbox (SPEC §2.3-2.6, §5 O7): holding the write lock, the edits (quote
 *   bytes, separators, Content-Length values) go through the journaled
 *   in-place rewrite of mbox_writer.h; never a rename() over the mailbox.
 *
 * Never unlinks a message. A second run finds nothing and does nothing.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <popt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "date.h"
#include "flags.h"
#include "inspect.h"
#include "reader.h"
#include "lock.h"
#include "maildir_writer.h"
#include "mbox_writer.h"
#include "report.h"
#include "serverstate.h"
#include "statefile.h"
#include "testhook.h"
#include "uidstate.h"
#include "util.h"

/* A finding kept until the scan is over (renaming while readdir() runs
 * could show a file twice). */
struct fix {
	enum inspect_code code;
	char *path, *maildir, *subdir, *name;
	off_t offset, span_start, span_end;
	struct stat st;
	bool have_st;
	long long value, value2;
};
struct fixes {
	struct fix *v;
	size_t n, cap;
};

struct repair {
	struct inspect_opts o;
	const char *root;        /* the MAILBOX argument */
	const char *qopt;        /* --quarantine=DIR or NULL */
	char *qdir;              /* quarantine directory, once created */
	bool q_maildir;          /* it is the Maildir++ folder */
	size_t actions, left, notes, structural;
	/* files renamed in this run: dovecot-uidlist lines follow them */
	struct renamed { char *maildir, *old, *new; } *ren;
	size_t nren;
};

static void
renamed_add(struct repair *rp, const char *maildir, const char *old, const char *new)
{
	rp->ren = xrealloc(rp->ren, (rp->nren + 1) * sizeof *rp->ren);
	rp->ren[rp->nren++] = (struct renamed){ xstrdup(maildir), xstrdup(old), xstrdup(new) };
}

static void
renamed_clear(struct repair *rp)
{
	for (size_t i = 0; i < rp->nren; i++) {
		free(rp->ren[i].maildir);
		free(rp->ren[i].old);
		free(rp->ren[i].new);
	}
	free(rp->ren);
	rp->ren = NULL;
	rp->nren = 0;
}

static void
collect(void *arg, const struct inspect_finding *f)
{
	struct fixes *fx = arg;
	if (fx->n == fx->cap) {
		fx->cap = fx->cap ? fx->cap * 2 : 64;
		fx->v = xrealloc(fx->v, fx->cap * sizeof *fx->v);
	}
	fx->v[fx->n++] = (struct fix){ f->code, xstrdup(f->path), xstrdup(f->maildir),
		f->subdir ? xstrdup(f->subdir) : NULL, f->name ? xstrdup(f->name) : NULL,
		f->offset, f->span_start, f->span_end, f->st, f->have_st, f->value, f->value2 };
}

static void
fixes_free(struct fixes *fx)
{
	for (size_t i = 0; i < fx->n; i++) {
		free(fx->v[i].path);
		free(fx->v[i].maildir);
		free(fx->v[i].subdir);
		free(fx->v[i].name);
	}
	free(fx->v);
	memset(fx, 0, sizeof *fx);
}

static void say(struct repair *rp, const char *path, const char *codes, off_t off,
	bool done, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* One output line per action: "PATH: CODE: action". */
static void
say(struct repair *rp, const char *path, const char *codes, off_t off, bool done,
	const char *fmt, ...)
{
	va_list ap;
	char *msg;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		report_fatal(EX_TEMPFAIL, "out of memory");
	va_end(ap);
	/* A note left as is (MBOX-MIXED-EOL) is no problem: it does not make
	 * the exit status 1, and -q leaves it out, as in check. */
	int code = inspect_code_parse(codes);
	bool note = !done && code >= 0 && inspect_code_severity((enum inspect_code)code) == SEVERITY_NOTE;
	if (done)
		rp->actions++;
	else if (note)
		rp->notes++;
	else
		rp->left++;
	if (note && opt_common.quiet) {
		free(msg);
		return;
	}
	if (done && !opt_common.dry_run)
		testhook_message_done();      /* crash tests: stop after N actions */
	if (opt_common.json) {
		fputs("{\"path\":", stdout);
		json_cstring(stdout, path);
		fputs(",\"code\":", stdout);
		json_cstring(stdout, codes);
		fputs(",\"action\":", stdout);
		json_cstring(stdout, msg);
		if (off >= 0)
			printf(",\"offset\":%lld", (long long)off);
		printf(",\"dry_run\":%s}\n", opt_common.dry_run ? "true" : "false");
	} else {
		printf("%s: %s: %s%s\n", path, codes, opt_common.dry_run && done ? "would " : "", msg);
	}
	free(msg);
}

/* ---- names and moves ---------------------------------------------------- */

/* SECONDS.M<usec>P<pid>Q<n>R<hex>.<host> (SPEC §1.2 ▶); SECONDS is the
 * file's mtime so that delivery order is kept. */
static char *
fresh_uniq(time_t t)
{
	static unsigned long seq;
	char host[256];
	struct timeval tv;
	uint64_t r = 0;

	maildir_hostname(host, sizeof host);
	gettimeofday(&tv, NULL);
	if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
		r = ((uint64_t)tv.tv_sec << 20) ^ (uint64_t)tv.tv_usec ^ ((uint64_t)getpid() << 40);
	return xasprintf("%lld.M%06ldP%dQ%luR%016llx.%s", (long long)t, (long)tv.tv_usec,
	    (int)getpid(), ++seq, (unsigned long long)r, host);
}

/*
 * Directory fd of path[/sub]. Only the MAILBOX argument itself may be a
 * symbolic link; a folder or new/ cur/ tmp/ that became one since the
 * check is not followed (DESIGN §1.6).
 */
static int
open_dir(const struct repair *rp, const char *path, const char *sub)
{
	int nofollow = strcmp(path, rp->root) == 0 ? 0 : O_NOFOLLOW;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | nofollow);
	if (fd == -1 || !sub || !*sub)
		return fd;
	int sfd = openat(fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	int e = errno;
	close(fd);
	errno = e;
	return sfd;
}

/* Before a state file of maildir is replaced: the temporary files an
 * interrupted run of ours left in its tmp/ go (statefile.h). */
static void
clean_leftovers(const struct repair *rp, const char *maildir)
{
	int tfd = open_dir(rp, maildir, "tmp");

	if (tfd != -1) {
		state_file_clean_leftovers(tfd, maildir);
		close(tfd);
	}
}

/* The quarantine: <root>/.mailshift-quarantine (a Maildir++ folder of the
 * top maildir) or --quarantine=DIR; created on first use. */
static int
quarantine_open(struct repair *rp)
{
	if (rp->qdir)
		return 0;
	if (rp->qopt) {
		if (mkdir(rp->qopt, 0700) == -1 && errno != EEXIST) {
			report_error_sys(EX_CANTCREAT, "cannot create %s", rp->qopt);
			return -1;
		}
		rp->qdir = xstrdup(rp->qopt);
		return 0;
	}
	char *top = xstrdup(rp->root);
	char *mf = xasprintf("%s/maildirfolder", rp->root);
	if (access(mf, F_OK) == 0) {
		char *t = xstrdup(dirname(top));
		free(top);
		top = t;
	}
	free(mf);
	char *q = xasprintf("%s/%s", top, INSPECT_QUARANTINE);
	free(top);
	/* created and entered without following links: a user could have
	 * left a link named .mailshift-quarantine */
	int qfd = -1;
	if (mkdir(q, 0700) == -1 && errno != EEXIST)
		goto fail;
	if ((qfd = open(q, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		goto fail;
	static const char *const sub[] = { "cur", "new", "tmp" };
	for (size_t i = 0; i < ARRAY_SIZE(sub); i++)
		if (mkdirat(qfd, sub[i], 0700) == -1 && errno != EEXIST)
			goto fail;
	int fd = openat(qfd, "maildirfolder", O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1)
		goto fail;
	close(fd);
	close(qfd);
	rp->qdir = q;
	rp->q_maildir = true;
	return 0;
fail:
	report_error_sys(EX_CANTCREAT, "cannot create the quarantine %s", q);
	if (qfd != -1)
		close(qfd);
	free(q);
	return -1;
}

/* Move an entry into the quarantine under its own name (".N" added on a
 * clash). Regular files go to the folder's cur/, anything else next to it. */
static int
quarantine_move(struct repair *rp, int dfd, const char *name, bool regular, char **dest_r)
{
	if (quarantine_open(rp) == -1)
		return -1;
	char *qd = rp->q_maildir && regular ? xasprintf("%s/cur", rp->qdir) : xstrdup(rp->qdir);
	int qfd = open(rp->qdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (rp->q_maildir ? O_NOFOLLOW : 0));
	if (qfd != -1 && rp->q_maildir && regular) {
		int cfd = openat(qfd, "cur", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		close(qfd);
		qfd = cfd;
	}
	int rc = -1;
	for (int i = 0; qfd != -1 && i < 100; i++) {
		char *n = i ? xasprintf("%s.%d", name, i) : xstrdup(name);
		rc = rename_noreplace(dfd, name, qfd, n);
		if (rc == 0) {
			*dest_r = xasprintf("%s/%s", qd, n);
			free(n);
			break;
		}
		free(n);
		if (errno != EEXIST)
			break;
	}
	int e = errno;
	if (qfd != -1)
		close(qfd);
	free(qd);
	errno = e;
	return rc;
}

/* ---- Maildir fixes ---------------------------------------------------------- */

static void
fix_quarantine(struct repair *rp, const struct fix *f, const char *why)
{
	const char *code = inspect_code_name(f->code);
	bool regular = f->have_st && S_ISREG(f->st.st_mode);
	if (opt_common.dry_run) {
		say(rp, f->path, code, -1, true, "move into the quarantine (%s)", why);
		return;
	}
	int dfd = open_dir(rp, f->maildir, f->subdir);
	char *dest = NULL;
	if (dfd == -1 || quarantine_move(rp, dfd, f->name, regular, &dest) == -1) {
		report_error_sys(EXIT_PROBLEMS, "%s: cannot move into the quarantine", f->path);
		if (dfd != -1)
			close(dfd);
		return;
	}
	say(rp, f->path, code, -1, true, "moved into the quarantine as %s (%s)", dest, why);
	/* a new/ cur/ tmp/ that was a link or a file: make the real directory */
	if (!f->subdir && (!strcmp(f->name, "new") || !strcmp(f->name, "cur") || !strcmp(f->name, "tmp"))) {
		if (mkdirat(dfd, f->name, 0700) == 0) {
			say(rp, f->path, "MAILDIR-MISSING-SUBDIR", -1, true, "created with mode 0700");
			rp->structural++;
		}
	}
	free(dest);
	close(dfd);
}

static void
fix_structure(struct repair *rp, const struct fix *f)
{
	const char *code = inspect_code_name(f->code);
	if (f->code == IC_MAILDIR_MISSING_SUBDIR) {
		if (!opt_common.dry_run) {
			int dfd = open_dir(rp, f->maildir, NULL);
			if (dfd == -1 || mkdirat(dfd, f->name, (mode_t)f->value) == -1) {
				report_error_sys(EXIT_PROBLEMS, "%s: cannot create", f->path);
				if (dfd != -1)
					close(dfd);
				return;
			}
			close(dfd);
		}
		say(rp, f->path, code, -1, true, "created with mode %04llo", f->value);
		return;
	}
	/* FOLDER-BROKEN: value = mask of missing cur, new, tmp, maildirfolder */
	static const char *const parts[] = { "cur", "new", "tmp", "maildirfolder" };
	int ffd = opt_common.dry_run ? -1 : open_dir(rp, f->maildir, f->name);
	if (!opt_common.dry_run && ffd == -1) {
		report_error_sys(EXIT_PROBLEMS, "%s: cannot open", f->path);
		return;
	}
	for (unsigned i = 0; i < 4; i++) {
		if (!(f->value & (1 << i)))
			continue;
		if (!opt_common.dry_run) {
			int rc = i < 3 ? mkdirat(ffd, parts[i], 0700) :
			    openat(ffd, parts[i], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (rc == -1) {
				report_error_sys(EXIT_PROBLEMS, "%s/%s: cannot create", f->path, parts[i]);
				continue;
			}
			if (i == 3)
				close(rc);
		}
		say(rp, f->path, code, -1, true, "created %s%s", parts[i], i < 3 ? "/" : "");
	}
	if (ffd != -1)
		close(ffd);
	rp->structural++;
}

static void
fix_mode(struct repair *rp, const struct fix *f)
{
	if (!opt_common.dry_run) {
		int dfd = open_dir(rp, f->maildir, f->subdir);
		int rc = dfd == -1 ? -1 : fchmodat(dfd, f->name && *f->name ? f->name : ".",
		    (mode_t)f->value, 0);
		if (dfd != -1)
			close(dfd);
		if (rc == -1) {
			report_error_sys(EXIT_PROBLEMS, "%s: cannot chmod", f->path);
			return;
		}
	}
	say(rp, f->path, "MAILDIR-PERMISSIONS", -1, true, "chmod %04llo", f->value);
}

/* The base (unique part and size fields) with true S= and W= values. */
static void
name_base(const struct maildir_name *mn, long long s, long long w, struct strbuf *out)
{
	const char *p = mn->base, *end = mn->base + mn->base_len;
	while (p < end) {
		if (end - p >= 3 && p[0] == ',' && (p[1] == 'S' || p[1] == 'W') && p[2] == '=') {
			sb_appendf(out, ",%c=%lld", p[1], p[1] == 'S' ? s : w);
			p += 3;
			while (p < end && *p >= '0' && *p <= '9')
				p++;
			continue;
		}
		sb_appendc(out, *p++);
	}
}

/* The canonical info: known flags sorted once, unknown letters kept after
 * a second comma (Dovecot keeps that part untouched, SPEC §1.5). */
static bool
name_info(const struct maildir_name *mn, struct strbuf *out)
{
	if (!mn->info || mn->anomalies & MN_BAD_INFO)
		return false;
	if (mn->info[0] == '1') {
		sb_append(out, mn->info, mn->info_len);
		return true;
	}
	char buf[64], unknown[64];
	size_t nu = 0, i = 2;
	flags_make_info(mn->flags, mn->keywords, NULL, buf);
	sb_appends(out, buf);
	for (; i < mn->info_len && mn->info[i] != ','; i++) {
		char c = mn->info[i];
		if (!flags_from_letter(c) && !(c >= 'a' && c <= 'z') && nu < sizeof unknown - 1 &&
		    !memchr(unknown, c, nu))
			unknown[nu++] = c;
	}
	if (nu || i < mn->info_len)
		sb_appendc(out, ',');
	sb_append(out, unknown, nu);
	if (i < mn->info_len)
		sb_append(out, mn->info + i + 1, mn->info_len - i - 1);
	return true;
}

static long long
file_vsize(int dfd, const char *name)
{
	long long w = -1;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd != -1) {
		if (inspect_vsize(fd, &w) == -1)
			w = -1;
		close(fd);
	}
	return w;
}

enum {
	RENAME_CODES = 1u << IC_MAILDIR_INFO_IN_NEW | 1u << IC_MAILDIR_FLAGS_UNSORTED |
	    1u << IC_MAILDIR_FLAGS_UNKNOWN | 1u << IC_MAILDIR_DUPLICATE_UNIQ |
	    1u << IC_MAILDIR_BAD_NAME | 1u << IC_MAILDIR_SIZE_MISMATCH,
	QUARANTINE_CODES = 1u << IC_MAILDIR_EMPTY_FILE | 1u << IC_MAILDIR_NOT_MESSAGE |
	    1u << IC_MAILDIR_SYMLINK,
};

/* One new/ or cur/ file with its findings g[0..n): one rename that fixes
 * them all (content unchanged), or the quarantine. */
static void
fix_names(struct repair *rp, const struct fix *g, size_t n)
{
	unsigned mask = 0;
	long long w = -1;
	struct strbuf codes = STRBUF_INIT;
	for (size_t i = 0; i < n; i++) {
		mask |= 1u << g[i].code;
		if (g[i].code == IC_MAILDIR_SIZE_MISMATCH && g[i].value2 >= 0)
			w = g[i].value2;
		if (g[i].code == IC_MAILDIR_PERMISSIONS)
			fix_mode(rp, &g[i]);
	}
	for (size_t i = 0; i < n; i++)
		if (mask & QUARANTINE_CODES && (1u << g[i].code) & QUARANTINE_CODES) {
			fix_quarantine(rp, &g[i], g[i].code == IC_MAILDIR_EMPTY_FILE ? "an empty message" :
			    g[i].code == IC_MAILDIR_SYMLINK ? "a link is never followed" : "not a message");
			return;
		}
	if (!(mask & RENAME_CODES))
		return;
	for (size_t i = 0; i < n; i++)
		if ((1u << g[i].code) & RENAME_CODES) {
			if (codes.len)
				sb_appendc(&codes, ',');
			sb_appends(&codes, inspect_code_name(g[i].code));
		}
	const struct fix *f = &g[0];
	struct maildir_name mn;
	maildir_name_parse(f->name, strlen(f->name), &mn);
	int dfd = open_dir(rp, f->maildir, f->subdir);
	if (mn.size_w >= 0 && !(mask & 1u << IC_MAILDIR_SIZE_MISMATCH))
		w = mn.size_w;
	else if (mn.size_w >= 0 && w < 0 && dfd != -1)
		w = file_vsize(dfd, f->name);
	bool fresh = mask & (1u << IC_MAILDIR_DUPLICATE_UNIQ | 1u << IC_MAILDIR_BAD_NAME);
	for (int attempt = 0; dfd != -1 && attempt < 5; attempt++) {
		struct strbuf nb = STRBUF_INIT, info = STRBUF_INIT;
		if (fresh || (mn.size_w >= 0 && w < 0)) {
			char *u = fresh_uniq(f->st.st_mtime);
			sb_appendf(&nb, "%s,S=%lld", u, (long long)f->st.st_size);
			free(u);
		} else {
			name_base(&mn, (long long)f->st.st_size, w, &nb);
		}
		bool has = name_info(&mn, &info);
		if (!has && strcmp(f->subdir, "cur") == 0 && mn.sep) {
			sb_appends(&info, "2,");
			has = true;
		}
		if (has) {
			sb_appendc(&nb, mn.sep && !(mn.anomalies & MN_COLON_IN_UNIQ) ? mn.sep : ':');
			sb_append(&nb, info.buf, info.len);
		}
		const char *tsub = strcmp(f->subdir, "new") == 0 && has ? "cur" : f->subdir;
		int tfd = open_dir(rp, f->maildir, tsub);
		int rc = 0, e = 0;
		if (!opt_common.dry_run)
			rc = tfd == -1 ? -1 : rename_noreplace(dfd, f->name, tfd, nb.buf);
		e = errno;
		if (rc == 0) {
			say(rp, f->path, codes.buf, -1, true, "rename%s to %s/%s/%s",
			    opt_common.dry_run ? "" : "d", f->maildir, tsub, nb.buf);
			renamed_add(rp, f->maildir, f->name, nb.buf);
		}
		if (tfd != -1)
			close(tfd);
		sb_free(&nb);
		sb_free(&info);
		if (rc == 0)
			break;
		if (e != EEXIST) {
			errno = e;
			report_error_sys(EXIT_PROBLEMS, "%s: cannot rename", f->path);
			break;
		}
		fresh = true;       /* the name is taken: never replace, pick a new one */
	}
	if (dfd != -1)
		close(dfd);
	sb_free(&codes);
}

/* A stale tmp/ file: M9 leftover name removed, M10 delivery or quarantine. */
static void
fix_tmp(struct repair *rp, const struct fix *f)
{
	int dfd = open_dir(rp, f->maildir, "tmp");
	struct stat st;
	if (dfd == -1 || fstatat(dfd, f->name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    st.st_ino != f->st.st_ino) {
		if (dfd != -1)
			close(dfd);
		return;         /* gone or replaced meanwhile: nothing to do */
	}
	if (f->code == IC_MAILDIR_TMP_LEFTOVER) {
		if (st.st_nlink >= 2 && (opt_common.dry_run || unlinkat(dfd, f->name, 0) == 0))
			say(rp, f->path, "MAILDIR-TMP-LEFTOVER", -1, true, "remove%s the tmp/ name "
			    "(the message stays in new/ or cur/, link count %lu)", opt_common.dry_run ?
			    "" : "d", (unsigned long)st.st_nlink);
		close(dfd);
		return;
	}
	const char *why = "cannot open";
	int fd = openat(dfd, f->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	bool ok = fd != -1 && inspect_plausible(fd, &why);
	if (fd != -1)
		close(fd);
	if (!ok) {
		close(dfd);
		char *w = xasprintf("incomplete: %s", why);
		fix_quarantine(rp, f, w);
		free(w);
		return;
	}
	struct maildir_name mn;
	maildir_name_parse(f->name, strlen(f->name), &mn);
	bool keep = mn.anomalies == 0 && !mn.sep && mn.uniq_len > 0 &&
	    (mn.size_s < 0 || mn.size_s == (long long)st.st_size) && mn.size_w < 0;
	int nfd = open_dir(rp, f->maildir, "new");
	for (int attempt = 0; nfd != -1 && attempt < 5; attempt++) {
		char *u = keep ? xstrdup(f->name) : fresh_uniq(st.st_mtime);
		char *target = keep ? u : xasprintf("%s,S=%lld", u, (long long)st.st_size);
		int rc = opt_common.dry_run ? 0 : rename_noreplace(dfd, f->name, nfd, target);
		if (rc == 0)
			say(rp, f->path, "MAILDIR-TMP-STALE", -1, true, "deliver%s into %s/new/%s "
			    "(plausible: %s)", opt_common.dry_run ? "" : "ed", f->maildir, target, why);
		int e = errno;
		if (target != u)
			free(target);
		free(u);
		if (rc == 0)
			break;
		if (e != EEXIST) {
			errno = e;
			report_error_sys(EXIT_PROBLEMS, "%s: cannot deliver into new/", f->path);
			break;
		}
		keep = false;
	}
	if (nfd != -1)
		close(nfd);
	close(dfd);
}

/* A quota definition line: "<n><letter>[,<n><letter>...]" (SPEC §1.9). */
static bool
quota_definition(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t d = i;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == d || i == n || p[i] < 'A' || p[i] > 'Z')
			return false;
		if (++i < n && p[i++] != ',')
			return false;
	}
	return n > 0;
}

/* Rebuild maildirsize: the definition line kept, one line of totals, written
 * in tmp/ and renamed over the old file (SPEC §1.9 steps 2-4). */
static void
fix_maildirsize(struct repair *rp, const struct fix *f)
{
	int dfd = open_dir(rp, f->maildir, NULL);
	if (dfd == -1)
		return;
	char buf[8192];
	int fd = openat(dfd, "maildirsize", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	ssize_t n = fd == -1 ? -1 : pread_full(fd, buf, sizeof buf, 0);
	if (fd != -1)
		close(fd);
	const char *nl = n > 0 ? memchr(buf, '\n', (size_t)n) : NULL;
	if (!nl || !quota_definition(buf, (size_t)(nl - buf))) {
		close(dfd);
		fix_quarantine(rp, f, "no quota definition line to keep");
		return;
	}
	long long bytes, count;
	inspect_quota_totals(dfd, &bytes, &count);
	if (opt_common.dry_run) {
		say(rp, f->path, "MAILDIRSIZE-WRONG", -1, true, "rebuild: %.*s, %lld bytes in %lld messages",
		    (int)(nl - buf), buf, bytes, count);
		close(dfd);
		return;
	}
	struct strbuf sb = STRBUF_INIT;
	sb_append(&sb, buf, (size_t)(nl - buf) + 1);
	sb_appendf(&sb, "%lld %lld\n", bytes, count);
	/* a new file as Courier's maildirsize, one replaced keeps its owner and mode */
	struct state_file_opts so = { .mode = 0644 };
	clean_leftovers(rp, f->maildir);
	if (state_file_replace(dfd, "maildirsize", sb.buf, sb.len, &so) == -1)
		report_error_sys(report_status_for_write_errno(errno), "%s: cannot rebuild", f->path);
	else
		say(rp, f->path, "MAILDIRSIZE-WRONG", -1, true, "rebuilt: %.*s, %lld bytes in %lld messages",
		    (int)(nl - buf), buf, bytes, count);
	sb_free(&sb);
	close(dfd);
}

/* ---- dovecot-uidlist (SPEC §1.10) ------------------------------------------ */

static bool
uidlist_code(enum inspect_code c)
{
	return c == IC_UIDLIST_BAD || c == IC_UIDLIST_NOT_INCREASING || c == IC_UIDLIST_NEXT_TOO_LOW ||
	    c == IC_UIDLIST_MISSING_FILE || c == IC_UIDLIST_UNLISTED;
}

/* The header line with N set to next, every other byte kept. */
static void
uidlist_header(const struct inspect_uidlist *u, uint32_t next, struct strbuf *out)
{
	const char *p = u->data, *e = u->data + u->hdr_len;
	while (p < e) {
		const char *s = p;
		while (p < e && *p != ' ')
			p++;
		if (s > u->data && *s == 'N' && p - s >= 2)
			sb_appendf(out, "N%u", next);
		else
			sb_append(out, s, (size_t)(p - s));
		if (p < e)
			sb_appendc(out, *p++);
	}
	sb_appendc(out, '\n');
}

/* A file renamed in this run, by the base name it had. */
struct follow {
	const char *old;
	size_t old_len;
	const char *new;
	bool used;
};

static int
bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	return c ? c : alen < blen ? -1 : alen > blen;
}

static int
follow_old_cmp(const void *a, const void *b)
{
	const struct follow *x = a, *y = b;
	return bytes_cmp(x->old, x->old_len, y->old, y->old_len);
}

static int
follow_new_cmp(const void *a, const void *b)
{
	return strcmp((*(struct follow *const *)a)->new, (*(struct follow *const *)b)->new);
}

/* What happens to each line and unlisted file. */
struct ulplan {
	const struct inspect_uidlist *u;
	struct follow *fl;
	size_t nfl;
	const char **to;         /* per line: the new name it follows, or NULL */
	bool *drop;              /* per line */
	bool *skip;              /* per unlisted file: it is a followed rename */
	uint32_t next_old, next;
	size_t changes;
};

/*
 * Lines of files renamed in this run follow them (same UID, new name);
 * lines of missing files are dropped (only --deep looked, and only when a
 * second listing under the lock agrees); unlisted files get UIDs from N
 * on; N is raised above every UID ever listed, so that a dropped UID is
 * never given again.
 */
static void
ulplan_make(struct ulplan *p, struct repair *rp, const char *maildir,
	const struct inspect_uidlist *u, const struct inspect_uidlist *again)
{
	memset(p, 0, sizeof *p);
	p->u = u;
	for (size_t i = 0; i < rp->nren; i++) {
		if (strcmp(rp->ren[i].maildir, maildir) != 0)
			continue;
		const char *o = rp->ren[i].old, *n = rp->ren[i].new, *oc = strchr(o, ':'), *nc = strchr(n, ':');
		size_t ol = oc ? (size_t)(oc - o) : strlen(o), nl = nc ? (size_t)(nc - n) : strlen(n);
		if (bytes_cmp(o, ol, n, nl) == 0)
			continue;       /* flags or new/ -> cur/ only: the line still matches */
		p->fl = xrealloc(p->fl, (p->nfl + 1) * sizeof *p->fl);
		p->fl[p->nfl++] = (struct follow){ o, ol, n, false };
	}
	if (p->nfl)
		qsort(p->fl, p->nfl, sizeof *p->fl, follow_old_cmp);
	p->to = xcalloc(u->nline + 1, sizeof *p->to);
	p->drop = xcalloc(u->nline + 1, sizeof *p->drop);
	p->skip = xcalloc(u->nunlisted + 1, sizeof *p->skip);
	bool same = again->header_ok && again->len == u->len && again->nline == u->nline;
	for (size_t i = 0; i < u->nline; i++) {
		const struct inspect_uidline *l = &u->line[i];
		struct follow key = { l->base, l->base_len, NULL, false };
		struct follow *f = p->nfl ? bsearch(&key, p->fl, p->nfl, sizeof *p->fl, follow_old_cmp) : NULL;
		if (f && (opt_common.dry_run || !l->present)) {
			p->to[i] = f->new;
			f->used = true;
			p->changes++;
		} else if (rp->o.deep && same && !l->present && !again->line[i].present) {
			p->drop[i] = true;
			p->changes++;
		}
	}
	struct follow **bynew = xcalloc(p->nfl + 1, sizeof *bynew);
	size_t nb = 0;
	for (size_t i = 0; i < p->nfl; i++)
		if (p->fl[i].used)
			bynew[nb++] = &p->fl[i];
	qsort(bynew, nb, sizeof *bynew, follow_new_cmp);
	uint64_t next = u->next > u->max ? u->next : (uint64_t)u->max + 1;
	p->next_old = u->next;
	p->changes += next != u->next;
	for (size_t i = 0; i < u->nunlisted; i++) {
		struct follow key = { NULL, 0, u->unlisted[i] + 4, false }, *kp = &key;
		p->skip[i] = nb && bsearch(&kp, bynew, nb, sizeof *bynew, follow_new_cmp);
		if (!p->skip[i] && rp->o.deep && next < UINT32_MAX) {
			next++;
			p->changes++;
		}
	}
	free(bynew);
	p->next = (uint32_t)next;
}

static void
ulplan_free(struct ulplan *p)
{
	free(p->fl);
	free(p->to);
	free(p->drop);
	free(p->skip);
}

/* The new list. */
static void
ulplan_write(const struct ulplan *p, bool deep, struct strbuf *out)
{
	const struct inspect_uidlist *u = p->u;
	uint32_t n = u->next > u->max ? u->next : u->max + 1;
	uidlist_header(u, p->next, out);
	for (size_t i = 0; i < u->nline; i++) {
		const struct inspect_uidline *l = &u->line[i];
		if (p->drop[i])
			continue;
		if (p->to[i]) {
			sb_append(out, u->data + l->off, (size_t)(l->base - (u->data + l->off)));
			sb_appends(out, p->to[i]);
		} else {
			sb_append(out, u->data + l->off, l->len);
		}
		sb_appendc(out, '\n');
	}
	for (size_t i = 0; deep && i < u->nunlisted && n < p->next; i++)
		if (!p->skip[i])
			sb_appendf(out, "%u :%s\n", n++, u->unlisted[i] + 4);
}

/* What fix_uidlist did, one line each. */
static void
ulplan_say(struct repair *rp, const char *path, const struct ulplan *p)
{
	const struct inspect_uidlist *u = p->u;
	uint32_t n = u->next > u->max ? u->next : u->max + 1;
	bool dry = opt_common.dry_run;
	if (n != u->next)
		say(rp, path, "UIDLIST-NEXT-TOO-LOW", -1, true, "%s N%u to N%u (highest UID %u)",
		    dry ? "raise" : "raised", u->next, n, u->max);
	for (size_t i = 0; i < u->nline; i++) {
		const struct inspect_uidline *l = &u->line[i];
		if (p->to[i])
			say(rp, path, "UIDLIST-FOLLOW", -1, true, "%s UID %u to the new name %s",
			    dry ? "move" : "moved", l->uid, p->to[i]);
		else if (p->drop[i])
			say(rp, path, "UIDLIST-MISSING-FILE", -1, true, "%s the line of UID %u (%.*s): "
			    "no such file", dry ? "drop" : "dropped", l->uid, (int)l->base_len, l->base);
	}
	for (size_t i = 0; rp->o.deep && i < u->nunlisted && n < p->next; i++)
		if (!p->skip[i]) {
			say(rp, path, "UIDLIST-UNLISTED", -1, true, "%s %s as UID %u",
			    dry ? "list" : "listed", u->unlisted[i], n);
			n++;
		}
}

/* Fix one maildir's dovecot-uidlist under dovecot-uidlist.lock, written
 * through tmp/ + rename(). Existing UIDs and UIDVALIDITY never change. */
static void
fix_uidlist(struct repair *rp, const char *maildir)
{
	char *path = xasprintf("%s/%s", maildir, UIDLIST_FILE);
	struct inspect_uidlist u = { 0 }, again = { 0 };
	struct strbuf out = STRBUF_INIT;
	int dfd = open_dir(rp, maildir, NULL), lfd = -1;
	struct stat st;
	if (dfd == -1 || fstatat(dfd, UIDLIST_FILE, &st, AT_SYMLINK_NOFOLLOW) == -1)
		goto out;               /* no list: nothing to keep in step */
	if (!opt_common.dry_run && (lfd = uidlist_lock(dfd, maildir, 30)) == -1)
		goto out;
	int rc = inspect_uidlist_read(dfd, &u);
	if (rc == -1)
		report_error_sys(EXIT_PROBLEMS, "%s: cannot read", path);
	if (rc != 1)
		goto out;
	if (!u.header_ok || u.bad_lines) {
		say(rp, path, "UIDLIST-BAD", -1, false, "left as is: a list that does not parse "
		    "is not rewritten (Dovecot rebuilds it with a new UIDVALIDITY)");
		goto out;
	}
	if (u.order_line)
		say(rp, path, "UIDLIST-NOT-INCREASING", -1, false, "left as is: cannot fix without a "
		    "UIDVALIDITY change (IMAP clients would download the mailbox again)");
	if (inspect_uidlist_read(dfd, &again) == -1)
		again.header_ok = false;        /* drop nothing */
	struct ulplan p;
	ulplan_make(&p, rp, maildir, &u, &again);
	if (p.changes)
		ulplan_write(&p, rp->o.deep, &out);
	if (p.changes && !opt_common.dry_run)
		clean_leftovers(rp, maildir);
	if (p.changes && !opt_common.dry_run && uidlist_replace(dfd, &out, false) == -1)
		report_error_sys(report_status_for_write_errno(errno), "%s: cannot write", path);
	else if (p.changes)
		ulplan_say(rp, path, &p);
	ulplan_free(&p);
out:
	if (lfd != -1)
		uidlist_unlock(dfd, lfd);
	if (dfd != -1)
		close(dfd);
	inspect_uidlist_free(&u);
	inspect_uidlist_free(&again);
	sb_free(&out);
	free(path);
}

/* After the renames: the list of each maildir with findings or renames. */
static void
fix_uidlists(struct repair *rp, const struct fixes *fx)
{
	const char **done = NULL;
	size_t nd = 0;
	for (size_t i = 0; i < fx->n + rp->nren; i++) {
		const char *md = i < fx->n ? fx->v[i].maildir : rp->ren[i - fx->n].maildir;
		if (i < fx->n && !uidlist_code(fx->v[i].code))
			continue;
		size_t k = 0;
		while (k < nd && strcmp(done[k], md) != 0)
			k++;
		if (k < nd)
			continue;
		done = xrealloc(done, (nd + 1) * sizeof *done);
		done[nd++] = md;
		fix_uidlist(rp, md);
	}
	free(done);
	renamed_clear(rp);
}

/* ---- courierimapuiddb (SPEC §1.11) ----------------------------------------- */

static bool
courieruid_code(enum inspect_code c)
{
	return c == IC_COURIERUID_BAD || c == IC_COURIERUID_NOT_INCREASING ||
	    c == IC_COURIERUID_NEXT_TOO_LOW || c == IC_COURIERUID_MISSING_FILE ||
	    c == IC_COURIERUID_UNLISTED;
}

/*
 * Fix one maildir's courierimapuiddb: the next UID raised above the highest,
 * and with --deep the lines of files no longer there dropped (Courier-IMAP
 * drops them itself when it next opens the folder). Every other line is
 * kept byte for byte, no UID and no UIDVALIDITY changes; the file is
 * replaced whole through tmp/ + rename(), as Courier-IMAP writes it. A
 * damaged file is left as it is.
 */
static void
fix_courieruid(struct repair *rp, const char *maildir)
{
	char *path = xasprintf("%s/%s", maildir, COURIER_UIDDB_FILE);
	struct inspect_courieruid cu;
	struct strbuf out = STRBUF_INIT;
	int dfd = open_dir(rp, maildir, NULL);
	int rc = dfd == -1 ? 0 : inspect_courieruid_read(dfd, &cu);

	if (rc == -1)
		report_error_sys(EXIT_PROBLEMS, "%s: cannot read", path);
	if (rc != 1)
		goto out_fd;
	if (cu.f.n || !cu.db.present) {
		say(rp, path, "COURIERUID-BAD", -1, false, "left as is: a damaged courierimapuiddb is "
		    "not rewritten (convert uses the lines that parse)");
		goto out;
	}
	if (cu.order_line)
		say(rp, path, "COURIERUID-NOT-INCREASING", -1, false, "left as is: convert gives the "
		    "ill-ordered messages fresh UIDs");
	uint32_t next = cu.header_next <= cu.max ? cu.max + 1 : cu.header_next;
	size_t dropped = 0;
	bool *drop = xcalloc(cu.db.n + 1, sizeof *drop);
	for (size_t i = 0; rp->o.deep && i < cu.db.n; i++)
		if (!cu.present[i])
			drop[i] = true, dropped++;
	if (next == cu.header_next && dropped == 0) {
		free(drop);
		goto out;
	}
	/* line 1 with the new next UID, then every line not dropped */
	size_t line = 1, k = 0;
	unsigned long ver, v, n;
	sscanf(cu.data, "%lu %lu %lu", &ver, &v, &n);
	for (size_t off = 0; off < cu.len; line++) {
		const char *p = cu.data + off, *nl = memchr(p, '\n', cu.len - off);
		size_t len = nl ? (size_t)(nl - p) + 1 : cu.len - off;
		off += len;
		if (line == 1) {
			sb_appendf(&out, "%lu %lu %u\n", ver, v, next);
			continue;
		}
		while (k < cu.db.n && cu.db.e[k].line < line)
			k++;
		if (k < cu.db.n && cu.db.e[k].line == line && drop[k])
			continue;
		sb_append(&out, p, len);
	}
	struct state_file_opts so = { .mode = 0644 };     /* one replaced keeps its own */
	if (!opt_common.dry_run) {
		clean_leftovers(rp, maildir);
		if (state_file_replace(dfd, COURIER_UIDDB_FILE, out.buf, out.len, &so) == -1) {
			report_error_sys(report_status_for_write_errno(errno), "%s: cannot write", path);
			free(drop);
			goto out;
		}
	}
	bool dry = opt_common.dry_run;
	if (next != cu.header_next)
		say(rp, path, "COURIERUID-NEXT-TOO-LOW", -1, true, "%s the next UID %u to %u (highest UID "
		    "%u)", dry ? "raise" : "raised", cu.header_next, next, cu.max);
	for (size_t i = 0; i < cu.db.n; i++)
		if (drop[i])
			say(rp, path, "COURIERUID-MISSING-FILE", -1, true, "%s the line of UID %u (%s): no "
			    "such file", dry ? "drop" : "dropped", cu.db.e[i].uid, cu.db.e[i].base);
	free(drop);
out:
	inspect_courieruid_free(&cu);
out_fd:
	if (dfd != -1)
		close(dfd);
	sb_free(&out);
	free(path);
}

static void
fix_courieruids(struct repair *rp, const struct fixes *fx)
{
	for (size_t i = 0; i < fx->n; i++) {
		if (!courieruid_code(fx->v[i].code))
			continue;
		size_t k = 0;
		while (k < i && !(courieruid_code(fx->v[k].code) &&
		    strcmp(fx->v[k].maildir, fx->v[i].maildir) == 0))
			k++;
		if (k == i)
			fix_courieruid(rp, fx->v[i].maildir);
	}
}

static bool
same_entry(const struct fix *a, const struct fix *b)
{
	return strcmp(a->maildir, b->maildir) == 0 && a->subdir && b->subdir &&
	    strcmp(a->subdir, b->subdir) == 0 && a->name && b->name && strcmp(a->name, b->name) == 0;
}

static void
apply_maildir(struct repair *rp, const struct fixes *fx)
{
	for (size_t i = 0; i < fx->n; i++) {      /* directories first */
		const struct fix *f = &fx->v[i];
		if (f->code == IC_MAILDIR_MISSING_SUBDIR || f->code == IC_FOLDER_BROKEN)
			fix_structure(rp, f);
		else if (!f->subdir && (f->code == IC_MAILDIR_SYMLINK || f->code == IC_MAILDIR_NOT_MESSAGE))
			fix_quarantine(rp, f, "not a directory of the maildir");
		else if (!f->subdir && f->code == IC_MAILDIR_PERMISSIONS)
			fix_mode(rp, f);
	}
	for (size_t i = 0; i < fx->n;) {          /* then each file, all its findings at once */
		size_t j = i + 1;
		while (j < fx->n && same_entry(&fx->v[i], &fx->v[j]))
			j++;
		const struct fix *f = &fx->v[i];
		if (f->subdir && strcmp(f->subdir, "tmp") != 0)
			fix_names(rp, f, j - i);
		else if (f->subdir && (f->code == IC_MAILDIR_TMP_STALE || f->code == IC_MAILDIR_TMP_LEFTOVER))
			fix_tmp(rp, f);
		else if (f->subdir)
			fix_names(rp, f, j - i);      /* tmp/ links, FIFOs: quarantine */
		i = j;
	}
	for (size_t i = 0; i < fx->n; i++)
		if (fx->v[i].code == IC_MAILDIRSIZE_WRONG)
			fix_maildirsize(rp, &fx->v[i]);
	fix_uidlists(rp, fx);
	fix_courieruids(rp, fx);
}

static int
repair_maildir(struct repair *rp, const char *path)
{
	int status = 0;
	for (int pass = 0; pass < 3; pass++) {
		struct fixes fx = { 0 };
		struct inspect_stats st = { 0 };
		rp->o.fn = collect;
		rp->o.arg = &fx;
		status = inspect_maildir(path, &rp->o, &st);
		rp->structural = 0;
		if (status == 0)
			apply_maildir(rp, &fx);
		if (fx.n && !opt_common.dry_run) {
			/* make the renames durable: one syncfs for the batch (DESIGN §6) */
			int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd != -1 && syncfs(fd) == -1)
				report_error_sys(EX_IOERR, "%s: syncfs", path);
			if (fd != -1)
				close(fd);
		}
		fixes_free(&fx);
		/* a folder made complete is inspected on the next pass */
		if (status || !rp->structural || opt_common.dry_run)
			break;
	}
	return status;
}

/* ---- mbox fixes (DESIGN §3 "Rewriting an mbox in place", SPEC §5 O7) -------- */

struct edit {
	off_t off, end;          /* replace [off, end) (end == off: insert) */
	char *bytes;
	size_t n;
	const struct fix *f;
};

static int
edit_cmp(const void *a, const void *b)
{
	const struct edit *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* The edit for a finding, or false when it has none. */
static bool
mbox_edit(const struct fix *f, time_t mtime, struct edit *e)
{
	char date[32];
	*e = (struct edit){ f->offset, f->offset, NULL, 0, f };
	switch (f->code) {
	case IC_MBOX_FIRST_LINE:
		date_format_asctime(mtime, date);
		e->bytes = xasprintf("From MAILER-DAEMON %s\n", date);
		break;
	case IC_MBOX_UNQUOTED_FROM:
		e->bytes = xstrdup(">");
		break;
	case IC_MBOX_MISSING_SEPARATOR:
		e->bytes = xstrdup(f->value == 1 ? "\r\n" : "\n");
		break;
	case IC_MBOX_TRUNCATED:
		e->bytes = xstrdup("\n");
		break;
	case IC_MBOX_CONTENT_LENGTH:
		e->off = f->span_start;
		e->end = f->span_end;
		e->bytes = xasprintf(" %lld", f->value);
		break;
	default:
		return false;
	}
	e->n = strlen(e->bytes);
	return true;
}

static const char *
edit_what(const struct edit *e)
{
	switch (e->f->code) {
	case IC_MBOX_FIRST_LINE:
		return "insert a From_ line";
	case IC_MBOX_UNQUOTED_FROM:
		return "quote with '>'";
	case IC_MBOX_MISSING_SEPARATOR:
		return "insert the empty line";
	case IC_MBOX_TRUNCATED:
		return "append the line end";
	default:
		return "set Content-Length to";
	}
}

static void
say_edit(struct repair *rp, const char *path, const struct edit *e)
{
	if (e->f->code == IC_MBOX_CONTENT_LENGTH)
		say(rp, path, inspect_code_name(e->f->code), e->f->offset, true, "%s%s (message at offset %lld)",
		    edit_what(e), e->bytes, (long long)e->f->offset);
	else
		say(rp, path, inspect_code_name(e->f->code), e->f->offset, true, "%s at offset %lld",
		    edit_what(e), (long long)e->f->offset);
}

/* Apply the edits of fx to the locked mailbox in one journaled rewrite. */
static int
mbox_apply(struct repair *rp, struct mbox_lock *lk, const char *path, const struct fixes *fx)
{
	struct edit *ev = xcalloc(fx->n + 1, sizeof *ev);
	size_t ne = 0;
	for (size_t i = 0; i < fx->n; i++) {
		if (mbox_edit(&fx->v[i], lk->st.st_mtime, &ev[ne]))
			ne++;
		else if (fx->v[i].code == IC_MBOX_MIXED_EOL)
			say(rp, path, "MBOX-MIXED-EOL", fx->v[i].offset, false,
			    "left as is: changing line ends would change the messages");
	}
	int status = 0;
	if (ne) {
		qsort(ev, ne, sizeof *ev, edit_cmp);
		struct stat st;
		off_t size = fstat(mbox_lock_fd(lk), &st) == 0 ? st.st_size : lk->st.st_size;
		struct mbox_rewrite *rw = opt_common.dry_run ? NULL : mbox_rewrite_begin(lk, ev[0].off);
		int rc = opt_common.dry_run || rw ? 0 : -1;
		off_t cur = ev[0].off;
		for (size_t i = 0; rc == 0 && rw && i < ne; i++) {
			if (ev[i].off > cur)
				rc = mbox_rewrite_copy(rw, cur, ev[i].off);
			if (rc == 0)
				rc = mbox_rewrite_insert(rw, ev[i].bytes, ev[i].n);
			if (rc == 0 && ev[i].end > ev[i].off)
				rc = mbox_rewrite_skip(rw, ev[i].off, ev[i].end);
			cur = ev[i].end > cur ? ev[i].end : cur;
		}
		if (rc == 0 && rw && size > cur)
			rc = mbox_rewrite_copy(rw, cur, size);
		if (rc == 0 && rw)
			rc = mbox_rewrite_commit(rw);
		else if (rw)
			mbox_rewrite_abort(rw);
		if (rc == 0)
			for (size_t i = 0; i < ne; i++)
				say_edit(rp, path, &ev[i]);
		else
			status = report_exit_status_or(EX_IOERR);
	}
	for (size_t i = 0; i < ne; i++)
		free(ev[i].bytes);
	free(ev);
	return status;
}

static void
mbox_files_fix(struct repair *rp, const struct fixes *fx)
{
	for (size_t i = 0; i < fx->n; i++) {
		const struct fix *f = &fx->v[i];
		struct stat st;
		if (f->code != IC_MBOX_STALE_LOCK || lstat(f->path, &st) == -1 ||
		    time(NULL) - st.st_mtime <= LOCK_STALE_AGE)
			continue;
		if (!opt_common.dry_run && unlink(f->path) == -1) {
			report_error_sys(EXIT_PROBLEMS, "%s: cannot remove", f->path);
			continue;
		}
		say(rp, f->path, "MBOX-STALE-LOCK", -1, true, "remove%s the dotlock (%lld minutes old)",
		    opt_common.dry_run ? "" : "d", (long long)(time(NULL) - st.st_mtime) / 60);
	}
}

/*
 * A file whose every message has a Content-Length and whose protected
 * bodies hold "From " lines is read as mboxcl2 once the wrong lengths are
 * fixed (SPEC §2.3 ▶): no '>' is taken off any more, so quote bytes added
 * now and those already there would show. Then the Content-Length and
 * quoting fixes are left alone, so that no reader sees a message change.
 */
static void
mbox_keep_variant(struct repair *rp, const char *path, const struct inspect_stats *st,
	struct fixes *fx)
{
	if (st->mbox_cl_messages < st->messages || st->mbox_protected_from == 0)
		return;
	for (size_t i = 0; i < fx->n; i++) {
		struct fix *f = &fx->v[i];
		if (f->code != IC_MBOX_CONTENT_LENGTH && f->code != IC_MBOX_UNQUOTED_FROM)
			continue;
		say(rp, path, inspect_code_name(f->code), f->offset, false, "left as is: fixing it "
		    "would make readers take this file as mboxcl2 and change its messages");
		f->code = IC__COUNT;          /* no edit */
	}
}

static int
repair_mbox(struct repair *rp, const char *path)
{
	struct fixes fx = { 0 };
	struct inspect_stats st = { 0 };
	rp->o.fn = collect;
	rp->o.arg = &fx;
	rp->o.mbox_fd = -1;
	int status = inspect_mbox(path, &rp->o, &st);
	if (status)
		goto out;
	mbox_files_fix(rp, &fx);
	if (opt_common.dry_run) {
		for (size_t i = 0; i < fx.n; i++)
			if (fx.v[i].code == IC_MBOX_JOURNAL)
				say(rp, fx.v[i].path, "MBOX-JOURNAL", -1, true, "finish the interrupted rewrite");
		struct mbox_lock fake = { .fd = -1 };
		fstatat(AT_FDCWD, path, &fake.st, 0);
		mbox_keep_variant(rp, path, &st, &fx);
		status = mbox_apply(rp, &fake, path, &fx);
		goto out;
	}
	/* Locks first, then read what is to change (SPEC §5 O7). */
	struct mbox_lock lk;
	struct mbox_lock_opts lo = { .timeout = 30 };
	if ((status = mbox_lock_open(&lk, path, MBOX_LOCK_WRITE, &lo)) != 0)
		goto out;
	for (size_t i = 0; i < fx.n; i++) {
		int rolled = 0;
		if (fx.v[i].code != IC_MBOX_JOURNAL)
			continue;
		if (mbox_journal_recover(&lk, &rolled) == 0)
			say(rp, fx.v[i].path, "MBOX-JOURNAL", -1, true, "%s", rolled ?
			    "rolled the interrupted rewrite forward" :
			    "discarded the incomplete journal (the mailbox was not touched yet)");
	}
	fixes_free(&fx);
	rp->o.mbox_fd = mbox_lock_fd(&lk);
	st = (struct inspect_stats){ 0 };
	status = inspect_mbox(path, &rp->o, &st);
	rp->o.mbox_fd = -1;
	if (status == 0)
		mbox_keep_variant(rp, path, &st, &fx);
	if (status == 0)
		status = mbox_apply(rp, &lk, path, &fx);
	mbox_lock_release(&lk);
out:
	fixes_free(&fx);
	return status;
}

/* ---- the command ------------------------------------------------------------ */

static int
repair_path(struct repair *rp, const char *path)
{
	struct stat sb;
	rp->root = path;
	free(rp->qdir);
	rp->qdir = NULL;
	if (stat(path, &sb) == -1) {
		report_error_sys(EX_NOINPUT, "cannot open %s", path);
		return EX_NOINPUT;
	}
	if (S_ISDIR(sb.st_mode)) {
		struct fixes fx = { 0 };
		struct inspect_stats st = { 0 };
		struct inspect_opts o = rp->o;
		o.fn = collect;
		o.arg = &fx;
		int rc = inspect_path(path, &o, &st);     /* refuses what is no maildir */
		fixes_free(&fx);
		return rc ? rc : repair_maildir(rp, path);
	}
	/* a compressed file or an archive is refused as check refuses it:
	 * repairing it would write into the archive */
	if (S_ISREG(sb.st_mode) && reader_path_kind(path) != READER_PATH_COMPRESSED)
		return repair_mbox(rp, path);
	return inspect_path(path, &rp->o, &(struct inspect_stats){ 0 });
}

int
cmd_repair(int argc, const char **argv)
{
	int recursive = 0, deep = 0;
	char *tmp_age = NULL, *quarantine = NULL;
	struct poptOption options[] = {
		{ "recursive", 'r', POPT_ARG_NONE, &recursive, 0, "repair Maildir++ folders too", NULL },
		{ "deep", '\0', POPT_ARG_NONE, &deep, 0,
		  "read whole message files (W= sizes, content)", NULL },
		{ "tmp-age", '\0', POPT_ARG_STRING, &tmp_age, 0,
		  "tmp/ files older than this are stale (default 36h)", "DURATION" },
		{ "quarantine", '\0', POPT_ARG_STRING, &quarantine, 0,
		  "move what cannot be fixed here (default: the .mailshift-quarantine folder)", "DIR" },
		{ NULL, '\0', POPT_ARG_INCLUDE_TABLE, dry_run_options, 0, NULL, NULL },
		{ NULL, '\0', POPT_ARG_INCLUDE_TABLE, common_options, 0, NULL, NULL },
		POPT_TABLEEND
	};
	poptContext pc = poptGetContext("mailshift repair", argc, argv, options, 0);
	int rc, status = 0;
	rc = report_parse_options(pc, options, "[OPTIONS] MAILBOX...");
	struct repair rp = { .o = { .recursive = recursive, .deep = deep,
		.tmp_age = INSPECT_TMP_AGE, .mbox_fd = -1 }, .qopt = quarantine };
	const char **args = poptGetArgs(pc);
	int nargs = 0;
	while (args && args[nargs])
		nargs++;
	if (rc != 0) {
		status = EX_USAGE;
	} else if (tmp_age && (rp.o.tmp_age = parse_duration(tmp_age)) < 0) {
		report_error(EX_USAGE, "invalid --tmp-age '%s'", tmp_age);
		status = EX_USAGE;
	} else if (nargs == 0) {
		fprintf(stderr, "%s: usage: mailshift repair [OPTIONS] MAILBOX...\n", report_prefix());
		status = EX_USAGE;
	}
	rp.o.recursive = recursive;
	rp.o.deep = deep;
	for (int i = 0; status != EX_USAGE && i < nargs; i++) {
		char *p = xstrdup(args[i]);
		for (size_t n = strlen(p); n > 1 && p[n - 1] == '/'; n--)
			p[n - 1] = '\0';
		int st = repair_path(&rp, p);
		free(p);
		status = exit_worse(status, st);
	}
	if (status != EX_USAGE) {
		fflush(stdout);
		if (!opt_common.quiet && rp.notes)
			report_info("%zu action%s%s, %zu left as is, %zu note%s", rp.actions,
			    rp.actions == 1 ? "" : "s", opt_common.dry_run ? " (dry run)" : "", rp.left,
			    rp.notes, rp.notes == 1 ? "" : "s");
		else if (!opt_common.quiet)
			report_info("%zu action%s%s, %zu left as is", rp.actions, rp.actions == 1 ? "" : "s",
			    opt_common.dry_run ? " (dry run)" : "", rp.left);
		status = exit_worse(status, report_exit_status());
		if (!status && rp.left)
			status = EXIT_PROBLEMS;
	}
	free(rp.qdir);
	poptFreeContext(pc);
	free(tmp_age);
	free(quarantine);
	return status;
}
