/*
 * util.h: the small things every module needs: write_all() (retries EINTR,
 * loops on short writes, like qmail's substdio and skalibs' allwrite),
 * allocation that ends the program with exit 75 on out-of-memory (a rerun may
 * succeed, as in qmail), and a growable byte buffer for the rare copies.
 */
#ifndef MAILSHIFT_UTIL_H
#define MAILSHIFT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* "1 message", "2 messages": printf("%llu message%s", n, PLURAL(n)) */
#define PLURAL(n) ((n) == 1 ? "" : "s")

/* pthread_create() with every signal blocked in the new thread (signals
 * are the main thread's to take); 0 or an error number. */
#include <pthread.h>
int thread_start(pthread_t *th, void *(*fn)(void *), void *arg);

/* 0 when every byte was written, -1 with errno set otherwise. */
int write_all(int fd, const void *buf, size_t len);
/* Same for an iovec array; iov is modified. */
int writev_all(int fd, struct iovec *iov, int iovcnt);
/* The same at an offset (pwrite(2)). */
int pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* pread that loops until len bytes or end of file; returns bytes read or -1. */
ssize_t pread_full(int fd, void *buf, size_t len, off_t off);
/* read that loops until len bytes or end of file; returns bytes read or -1. */
ssize_t read_full(int fd, void *buf, size_t len);

/*
 * Out of memory ends the program with exit 75 (EX_TEMPFAIL). What it says
 * first is up to the handler set here: report_init() sets one that erases
 * the progress line and names the command ("mailshift convert: fatal: out
 * of memory"); until then, or without one, "mailshift: fatal: out of
 * memory" goes to stderr. util.c stays below report.c: it never calls it.
 */
void set_oom_handler(void (*handler)(void));
void *xmalloc(size_t n);
/*
 * A large buffer that lives as long as a reader (free() it): from 2 MiB up,
 * aligned to 2 MiB and offered to the kernel for transparent huge pages
 * (madvise MADV_HUGEPAGE; Debian's default THP mode is "madvise"), so that
 * filling it faults in a few huge pages instead of one page per 4 KiB.
 */
void *xmalloc_big(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Numbers into a name being built, for the few that are made once per
 * message (a Maildir name, a key, a From_ date): no format string to
 * interpret. Each writes at p, returns the byte after, no NUL. fmt_u:
 * decimal; fmt_u0: decimal, at least width digits with leading zeros;
 * fmt_x16: 16 lower-case hex digits.
 */
char *fmt_u(char *p, unsigned long long v);
/* Does the CPU run AVX2 and POPCNT (x86-64 only; false elsewhere)? The
 * scans of every byte (W= sizes, mbox bodies) take 32 bytes a step then. */
bool cpu_avx2(void);
char *fmt_u0(char *p, unsigned long long v, int width);
char *fmt_x16(char *p, unsigned long long v);

struct strbuf {
	char *buf;      /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
};
#define STRBUF_INIT { NULL, 0, 0 }
void sb_grow_slow(struct strbuf *sb, size_t extra);
/* Room for extra more bytes and the NUL (inline: called per byte). */
static inline void
sb_grow(struct strbuf *sb, size_t extra)
{
	if (sb->len + extra + 1 > sb->cap)
		sb_grow_slow(sb, extra);
}
void sb_append(struct strbuf *sb, const void *p, size_t n);
void sb_appends(struct strbuf *sb, const char *s);
static inline void
sb_appendc(struct strbuf *sb, char c)
{
	sb_grow(sb, 1);
	sb->buf[sb->len++] = c;
	sb->buf[sb->len] = '\0';
}
void sb_appendf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_reset(struct strbuf *sb);
void sb_free(struct strbuf *sb);

/* Whether any of n bytes has the high bit set (8-bit text), 64 bytes a step. */
bool mem_has_8bit(const void *p, size_t n);
/* Case-insensitive ASCII comparison of n bytes. */
bool mem_ieq(const void *a, const void *b, size_t n);
/* Find needle in haystack (memmem without _GNU_SOURCE worries). */
const void *mem_find(const void *hay, size_t hlen, const void *needle, size_t nlen);

/* Parse "36h", "90m", "2d", "3600" (seconds) into seconds; -1 when invalid. */
long long parse_duration(const char *s);

/* Monotonic seconds as a double (for progress and rates). */
double now_monotonic(void);

/*
 * rename(2) that never replaces a name: renameat2(RENAME_NOREPLACE), or
 * where the file system or kernel lacks it (EINVAL, ENOSYS) link() then
 * unlink() of the same inode, as qmail does. 0, or -1 with errno of the
 * call that failed (EEXIST when `to` is taken).
 */
int rename_noreplace(int fromdirfd, const char *from, int todirfd, const char *to);

/*
 * The hex digits (0-9, a-f, A-F) that p[0..n) begins with, at most 16:
 * their number is returned and their value stored in *v_r (0 for none).
 * A whole field of n digits is hex_decode(p, n, &v) == n (with n <= 16).
 */
size_t hex_decode(const char *p, size_t n, uint64_t *v_r);

#endif
