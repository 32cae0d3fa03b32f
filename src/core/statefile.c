/*
 * statefile.c: a Maildir's small state files replaced whole (statefile.h),
 * and the crash leftovers of our tmp/ files removed.
 *
 * The temporary file is created in the Maildir's tmp/, the directory a
 * Maildir reader never lists, with O_EXCL|O_NOFOLLOW so that nothing
 * planted there is followed or reused; it is named like our messages'
 * temporary files ("NAME.P<pid>.<host>.mailshift") so that the same rule
 * removes both after a crash. The file is synced before the rename() and
 * the directory after it: only then is the new state durable, as the
 * Maildir delivery protocol asks of a message.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"
#include "statefile.h"
#include "util.h"

#define LEFTOVER_SUFFIX ".mailshift"
#define OLD_UIDLIST_SUFFIX ".uidlist.mailshift"

int
dir_sync(int dfd)
{
	if (fsync(dfd) == -1 && errno != EINVAL && errno != EROFS)
		return -1;
	return 0;
}

/* Create tmp/NAME.P<pid>.<host>.mailshift; the fd, or -1 (errno). One of
 * our names that exists was left by an earlier process of this pid (pids
 * come round): it is removed and the name taken once more. */
static int
tmp_create(int tfd, const char *name, bool hidden, char *tmp, size_t size, mode_t mode)
{
	char host[256];

	maildir_hostname(host, sizeof host);
	if ((size_t)snprintf(tmp, size, "%s%s.P%ld.%s" LEFTOVER_SUFFIX, hidden ? "." : "", name,
	    (long)getpid(), host) >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (int attempt = 0;; attempt++) {
		int fd = openat(tfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd != -1 || errno != EEXIST || attempt > 0 || unlinkat(tfd, tmp, 0) == -1)
			return fd;
	}
}

/* Owner and mode: the replaced file's, else the given or (as root) the
 * Maildir's owner and the given mode. */
static int
set_owner(int fd, int dirfd, const char *name, const struct state_file_opts *o)
{
	struct stat st, dst;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
		if (fchmod(fd, st.st_mode & 07777) == -1)
			return -1;
		if (geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) == -1)
			return -1;
		return 0;
	}
	if (o->chown)
		return fchown(fd, o->uid, o->gid);
	if (geteuid() == 0 && (fstat(dirfd, &dst) == -1 || fchown(fd, dst.st_uid, dst.st_gid) == -1))
		return -1;
	return 0;
}

/* The pid in one of our leftover names, or -1 when n is not ours. */
static long
leftover_pid(const char *n, const char *host)
{
	size_t len = strlen(n), hlen = strlen(host), slen = strlen(LEFTOVER_SUFFIX);
	size_t olen = strlen(OLD_UIDLIST_SUFFIX);
	const char *end = NULL;

	if (len > olen + hlen + 1 && strcmp(n + len - olen, OLD_UIDLIST_SUFFIX) == 0 &&
	    memcmp(n + len - olen - hlen, host, hlen) == 0 && n[len - olen - hlen - 1] == '.') {
		/* <time>_<pid>.<host>.uidlist.mailshift */
		const char *u = strchr(n, '_');
		return u && u[1] >= '0' && u[1] <= '9' ? strtol(u + 1, NULL, 10) : -1;
	}
	if (len > slen + hlen + 1 && strcmp(n + len - slen, LEFTOVER_SUFFIX) == 0 &&
	    memcmp(n + len - slen - hlen, host, hlen) == 0 && n[len - slen - hlen - 1] == '.')
		end = n + len - slen - hlen - 1;
	if (end == NULL)
		return -1;
	/* the last "P<digits>" ending in 'Q' (a message) or '.' (a state file) */
	long pid = -1;
	for (const char *p = n; p < end; p++) {
		if (*p != 'P' || p[1] < '0' || p[1] > '9')
			continue;
		char *q;
		long v = strtol(p + 1, &q, 10);
		if (q <= end && (*q == 'Q' || *q == '.'))
			pid = v;
	}
	return pid;
}

/* Remove our leftovers in dfd (only hidden ones when hidden_only). */
static void
clean(int tmpfd, const char *path, bool hidden_only)
{
	char host[256];
	int fd = dup(tmpfd);
	DIR *d = fd == -1 ? NULL : fdopendir(fd);
	struct dirent *de;

	if (d == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	rewinddir(d);                   /* the offset is shared with tmpfd */
	maildir_hostname(host, sizeof host);
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		long pid = hidden_only && n[0] != '.' ? -1 : leftover_pid(n, host);
		if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno == EPERM)
			continue;
		struct stat st;
		if (fstatat(tmpfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    unlinkat(tmpfd, n, 0) == 0 && path && opt_common.verbose)
			report_info("%s: removed tmp/%s left by an interrupted run", path, n);
	}
	closedir(d);
}

void
state_file_clean_leftovers(int tmpfd, const char *path)
{
	clean(tmpfd, path, false);
}

int
state_file_replace(int dirfd, const char *name, const void *buf, size_t len,
    const struct state_file_opts *o)
{
	char tmp[512];
	int tfd = openat(dirfd, o->beside ? "." : "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	int e;

	if (tfd != -1 && o->beside)
		clean(tfd, NULL, true);
	int fd = tfd == -1 ? -1 : tmp_create(tfd, name, o->beside, tmp, sizeof tmp,
	    o->mode ? o->mode : 0600);

	if (fd == -1)
		goto fail;
	if (set_owner(fd, dirfd, name, o) == -1 || write_all(fd, buf ? buf : "", len) == -1 ||
	    (!o->no_sync && fsync(fd) == -1)) {
		e = errno;
		close(fd);
		goto fail_unlink;
	}
	if (close(fd) == -1 || renameat(tfd, tmp, dirfd, name) == -1) {
		e = errno;
		goto fail_unlink;
	}
	close(tfd);
	return o->no_sync ? 0 : dir_sync(dirfd);
fail_unlink:
	unlinkat(tfd, tmp, 0);
	errno = e;
fail:
	e = errno;
	if (tfd != -1)
		close(tfd);
	errno = e;
	return -1;
}

void
maildir_hostname(char *buf, size_t len)
{
	char h[256];
	size_t o = 0;

	if (gethostname(h, sizeof h) == -1 || h[0] == '\0')
		snprintf(h, sizeof h, "localhost");
	h[sizeof h - 1] = '\0';
	for (const unsigned char *p = (const unsigned char *)h; *p && o + 5 < len; p++) {
		if (*p == '/')
			o += (size_t)snprintf(buf + o, len - o, "\\057");
		else if (*p == ':')
			o += (size_t)snprintf(buf + o, len - o, "\\072");
		else if (*p < 0x21 || *p == 0x7f)
			o += (size_t)snprintf(buf + o, len - o, "\\%03o", *p);
		else
			buf[o++] = (char)*p;
	}
	buf[o] = '\0';
}

int
state_file_read(int dirfd, const char *name, struct strbuf *out, size_t max)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	char buf[65536];
	ssize_t r;

	sb_reset(out);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) == -1) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (max > 0 && (uint64_t)st.st_size > max)) {
		close(fd);
		errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		return -1;
	}
	while ((r = read_full(fd, buf, sizeof buf)) > 0) {
		sb_append(out, buf, (size_t)r);
		if (max > 0 && out->len > max) {
			close(fd);
			errno = EFBIG;
			return -1;
		}
	}
	int e = errno;
	close(fd);
	if (r == -1) {
		errno = e;
		return -1;
	}
	if (out->buf == NULL)
		sb_append(out, "", 0);
	return 1;
}
