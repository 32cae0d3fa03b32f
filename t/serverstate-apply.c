/*
 * serverstate-apply.c: a test tool for serverstate.c. It applies the merge
 * in place to a Maildir++ tree, the way a migration leaves it for Dovecot:
 * for INBOX and every folder it reads the old server's files, lists the
 * messages, merges, gives each message its keyword letters (and P for
 * $Forwarded), and writes dovecot-uidlist, dovecot-keywords and, at the
 * top, subscriptions. t/6030 then asks a real Dovecot what it sees.
 *
 *   serverstate-apply [--qmail] [--validity N] MAILDIR
 *
 * Findings go to stderr as "FILE:LINE: CODE: text", one line each; a
 * summary line per folder to stdout.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flags.h"
#include "maildir_reader.h"
#include "report.h"
#include "serverstate.h"
#include "uidstate.h"
#include "util.h"

struct msg {
	char sub[4];
	char *name;             /* as listed */
	char *newname;          /* after the letters are added */
};

/* The vsize of a file: its bytes with CR LF line ends. */
static int64_t
file_vsize(int fd)
{
	char buf[65536];
	ssize_t r;
	uint64_t v = 0;
	bool cr = false;

	while ((r = read_full(fd, buf, sizeof buf)) > 0)
		v += flags_vsize_add(buf, (size_t)r, &cr);
	return r < 0 ? -1 : (int64_t)v;
}

static void
list_sub(int dfd, const char *sub, struct msg **m, struct present_msg **p, size_t *n)
{
	int sfd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = sfd == -1 ? NULL : fdopendir(sfd);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		int fd = openat(sfd, de->d_name, O_RDONLY | O_CLOEXEC);
		if (fd == -1 || fstat(fd, &st) == -1) {
			perror(de->d_name);
			exit(99);
		}
		*m = xrealloc(*m, (*n + 1) * sizeof **m);
		*p = xrealloc(*p, (*n + 1) * sizeof **p);
		struct msg *x = &(*m)[*n];
		snprintf(x->sub, sizeof x->sub, "%s", sub);
		x->name = xstrdup(de->d_name);
		x->newname = NULL;
		(*p)[*n] = (struct present_msg){ .name = x->name, .size = (uint64_t)st.st_size,
		    .mtime = st.st_mtime, .vsize = file_vsize(fd) };
		close(fd);
		(*n)++;
	}
	closedir(d);
}

/* Add the merge's letters: messages with any go to cur/. */
static void
rename_msgs(int dfd, struct msg *m, const struct serverstate *st, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct merged_msg *mm = &st->m[i];
		if (mm->keywords == 0 && mm->flags == 0) {
			m[i].newname = xstrdup(m[i].name);
			continue;
		}
		struct maildir_name mn;
		char info[64];
		maildir_name_parse(m[i].name, strlen(m[i].name), &mn);
		flags_make_info(mn.flags | mm->flags, mn.keywords | mm->keywords, NULL, info);
		m[i].newname = xasprintf("%.*s:%s", (int)mn.base_len, mn.base, info);
		char *from = xasprintf("%s/%s", m[i].sub, m[i].name);
		char *to = xasprintf("cur/%s", m[i].newname);
		if (renameat(dfd, from, dfd, to) == -1) {
			perror(from);
			exit(99);
		}
		free(from);
		free(to);
	}
}

static void
write_file(int dfd, const char *name, const struct strbuf *data)
{
	char tmp[256];

	snprintf(tmp, sizeof tmp, "tmp/%s.%d", name, (int)getpid());
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd == -1 || write_all(fd, data->buf ? data->buf : "", data->len) == -1 ||
	    close(fd) == -1 || renameat(dfd, tmp, dfd, name) == -1) {
		perror(name);
		exit(99);
	}
}

static void
apply_folder(const char *path, const char *folder, bool qmail, uint32_t validity,
    struct subscriptions *subs_r)
{
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct state_findings f = STATE_FINDINGS_INIT;
	struct courier_state cs;
	struct msg *m = NULL;
	struct present_msg *p = NULL;
	size_t n = 0;
	char *dkw[26];

	if (dfd == -1 || courier_state_load(dfd, path, &cs, &f) == -1) {
		perror(path);
		exit(99);
	}
	list_sub(dfd, "new", &m, &p, &n);
	list_sub(dfd, "cur", &m, &p, &n);
	bool have_dkw = maildir_keywords_read(dfd, dkw) == 0;
	struct serverstate_in in = { .msgs = p, .n = n, .uiddb = &cs.uiddb, .pop3 = &cs.pop3,
	    .kw = &cs.kw, .dovecot_kw = have_dkw ? dkw : NULL, .validity_fallback = validity };
	in.pop3_source = qmail && folder[0] == '\0' ? POP3_QMAIL :
	    cs.pop3.present ? POP3_COURIER : POP3_NONE;
	struct serverstate st;
	serverstate_merge(&in, &st, &f);

	rename_msgs(dfd, m, &st, n);
	for (size_t i = 0; i < n; i++)
		p[i].name = m[i].newname;
	struct strbuf out = STRBUF_INIT;
	serverstate_format_uidlist(&st, p, &out);
	int lfd = uidlist_lock(dfd, path, 5);
	if (lfd == -1 || uidlist_replace(dfd, &out, true) == -1) {
		perror("dovecot-uidlist");
		exit(99);
	}
	uidlist_unlock(dfd, lfd);
	sb_reset(&out);
	serverstate_format_keywords(&st, &out);
	if (out.len > 0)
		write_file(dfd, DOVECOT_KEYWORDS_FILE, &out);
	if (cs.has_courier_subs)
		for (size_t i = 0; i < cs.courier_subs.n; i++)
			subscriptions_add(subs_r, cs.courier_subs.names[i],
			    strlen(cs.courier_subs.names[i]));
	if (cs.has_dovecot_subs)
		for (size_t i = 0; i < cs.dovecot_subs.n; i++)
			subscriptions_add(subs_r, cs.dovecot_subs.names[i],
			    strlen(cs.dovecot_subs.names[i]));

	for (size_t i = 0; i < f.n; i++) {
		sb_reset(&out);
		state_finding_format(&f.v[i], &out);
		fprintf(stderr, "%s\n", out.buf);
	}
	printf("%s: %zu messages, %zu kept, %zu fresh, %zu uidls, %zu ordered, %zu with keywords, "
	    "%zu keywords dropped, UIDVALIDITY %u, next %u\n", folder[0] ? folder : "INBOX", n,
	    st.kept, st.fresh, st.uidls, st.orders, st.with_keywords, st.ndropped, st.validity,
	    st.next);
	sb_free(&out);
	serverstate_free(&st);
	courier_state_free(&cs);
	state_findings_free(&f);
	if (have_dkw)
		maildir_keywords_free(dkw);
	for (size_t i = 0; i < n; i++) {
		free(m[i].name);
		free(m[i].newname);
	}
	free(m);
	free(p);
	close(dfd);
}

int
main(int argc, char **argv)
{
	bool qmail = false;
	uint32_t validity = 1000000000;
	int i = 1;

	report_init("serverstate-apply");
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--qmail") == 0)
			qmail = true;
		else if (strcmp(argv[i], "--validity") == 0 && i + 1 < argc)
			validity = (uint32_t)strtoul(argv[++i], NULL, 10);
		else
			break;
	}
	if (i + 1 != argc) {
		fprintf(stderr, "usage: serverstate-apply [--qmail] [--validity N] MAILDIR\n");
		return 64;
	}
	struct maildir_walk *w = maildir_walk_open(argv[i], MAILDIR_LAYOUT_MAILDIRPP, NULL, NULL);
	const struct maildir_folder *fo;
	struct subscriptions subs = { 0 };
	if (w == NULL)
		return 66;
	while (maildir_walk_next(w, &fo) == 1)
		apply_folder(fo->path, fo->name, qmail, validity, &subs);
	maildir_walk_close(w);
	if (subs.n > 0) {
		struct strbuf out = STRBUF_INIT;
		int dfd = open(argv[i], O_RDONLY | O_DIRECTORY);
		subscriptions_format_dovecot(&subs, false, &out);
		write_file(dfd, DOVECOT_SUBSCRIPTIONS_FILE, &out);
		close(dfd);
		sb_free(&out);
	}
	subscriptions_free(&subs);
	return 0;
}
