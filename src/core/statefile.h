/*
 * statefile.h: a small state file of a Maildir (dovecot-uidlist,
 * dovecot-keywords, maildirsize, courierimapuiddb, the Dovecot files
 * convert carries) replaced whole, as Dovecot and Courier-IMAP write them:
 * a temporary file in the Maildir's tmp/, written, synced, renamed over the
 * name, the directory synced. A reader sees the old file or the new one,
 * never a part; a crash leaves at most a temporary file that
 * state_file_clean_leftovers() recognises as ours and removes.
 */
#ifndef MAILSHIFT_STATEFILE_H
#define MAILSHIFT_STATEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct state_file_opts {
	mode_t mode;    /* of a new file; one replaced keeps its mode */
	bool chown;     /* a new file goes to uid:gid (else, as root, to the
	                   Maildir's owner); one replaced keeps its owner */
	uid_t uid;
	gid_t gid;
	bool no_sync;   /* skip the file's and the directory's fsync */
	bool beside;    /* no Maildir, no tmp/: the temporary file is hidden
	                   (".NAME.P<pid>.<host>.mailshift") in the directory
	                   itself, and such files of ours that a crash left
	                   there are removed first */
};

/*
 * Replace dirfd/name with len bytes of buf through dirfd/tmp/ (created
 * O_EXCL|O_NOFOLLOW as "NAME.P<pid>.<host>.mailshift"). 0, or -1 with errno
 * set and no temporary file left; the caller says what failed.
 */
int state_file_replace(int dirfd, const char *name, const void *buf, size_t len,
    const struct state_file_opts *o);

/*
 * Remove from tmp/ (tmpfd) the files a mailshift of this host left there
 * when it stopped: messages never published and state files never renamed,
 * named "...P<pid>...<host>.mailshift" (or, from earlier versions,
 * "<time>_<pid>.<host>.uidlist.mailshift"), when that process no longer
 * runs. path names the Maildir in the -v message. Nothing else is touched.
 */
void state_file_clean_leftovers(int tmpfd, const char *path);

/* fsync a directory; file systems that cannot say EINVAL (or EROFS), which
 * count as success, as in Dovecot's fdatasync_path. */
int dir_sync(int dfd);

/* Read a whole state file: 1 (its bytes in out, NUL-terminated), 0 when it
 * does not exist, -1 with errno (EINVAL: not a regular file, which is
 * never waited for; EFBIG: over max bytes, when max is not 0). */
struct strbuf;
int state_file_read(int dirfd, const char *name, struct strbuf *out, size_t max);

/* The host part of unique names (Maildir files, our temporary files): DJB
 * escaping of '/' and ':' and bytes < 0x21 (\ooo). */
void maildir_hostname(char *buf, size_t len);

#endif
