/*
 * util.c: write_all() and friends, allocation, the byte buffer.
 * Every write of message data goes through write_all()/writev_all(), which
 * retry EINTR and loop on short writes, and give the test hooks their
 * chance to fail a write (testhook.h).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <sys/mman.h>
#include <unistd.h>

#include "testhook.h"
#include <signal.h>

#include "util.h"

int
thread_start(pthread_t *th, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int e = pthread_create(th, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return e;
}

int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		if (testhook_before_write() == -1)
			return -1;
		ssize_t n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
writev_all(int fd, struct iovec *iov, int iovcnt)
{
	while (iovcnt > 0) {
		/* skip empty entries */
		while (iovcnt > 0 && iov->iov_len == 0) {
			iov++;
			iovcnt--;
		}
		if (iovcnt == 0)
			break;
		if (testhook_before_write() == -1)
			return -1;
		ssize_t n = writev(fd, iov, iovcnt > 1024 ? 1024 : iovcnt);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		size_t left = (size_t)n;
		while (iovcnt > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0 && left > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

int
pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len > 0) {
		if (testhook_before_write() == -1)
			return -1;
		ssize_t n = pwrite(fd, p, len, off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t
pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, off + (off_t)got);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

ssize_t
read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static void (*oom_handler)(void);

void
set_oom_handler(void (*handler)(void))
{
	oom_handler = handler;
}

static void
oom(void)
{
	if (oom_handler != NULL)
		oom_handler();
	/* Out of memory is temporary: a rerun may succeed (qmail). */
	fputs("mailshift: fatal: out of memory\n", stderr);
	exit(EX_TEMPFAIL);
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		oom();
	return p;
}

bool
cpu_avx2(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	static int have = -1;

#ifdef MAILSHIFT_TEST_HOOKS
	if (getenv("MAILSHIFT_TEST_NO_AVX2") != NULL)
		return false;   /* the SSE2 loops, as on a CPU without AVX2 */
#endif
	if (have < 0) {
		__builtin_cpu_init();
		have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
	}
	return have;
#else
	return false;
#endif
}

char *
fmt_u0(char *p, unsigned long long v, int width)
{
	static const char d2[201] =
	    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	    "8081828384858687888990919293949596979899";
	char t[24];
	int n = (int)sizeof t;

	/* two digits a step, from the right */
	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		t[--n] = d2[2 * r + 1];
		t[--n] = d2[2 * r];
	}
	if (v >= 10) {
		t[--n] = d2[2 * v + 1];
		t[--n] = d2[2 * v];
	} else {
		t[--n] = (char)('0' + v);
	}
	while ((int)sizeof t - n < width && n > 0)
		t[--n] = '0';
	memcpy(p, t + n, sizeof t - (size_t)n);
	return p + (sizeof t - (size_t)n);
}

char *
fmt_u(char *p, unsigned long long v)
{
	return fmt_u0(p, v, 1);
}

char *
fmt_x16(char *p, unsigned long long v)
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--)
		*p++ = hex[(v >> (4 * i)) & 0xf];
	return p;
}

void *
xmalloc_big(size_t n)
{
	const size_t huge = 2u << 20;
	void *p;

	if (n < huge)
		return xmalloc(n);
	if (posix_memalign(&p, huge, n) != 0)
		oom();
#ifdef MADV_HUGEPAGE
	(void)madvise(p, n & ~(huge - 1), MADV_HUGEPAGE);   /* a hint: THP may be off */
#endif
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		oom();
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		oom();
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);
	if (p == NULL)
		oom();
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	int n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	return p;
}

void
sb_grow_slow(struct strbuf *sb, size_t extra)
{
	if (sb->len + extra + 1 <= sb->cap)
		return;
	size_t cap = sb->cap ? sb->cap : 64;
	while (cap < sb->len + extra + 1) {
		if (cap > SIZE_MAX / 2)
			oom();
		cap *= 2;
	}
	sb->buf = xrealloc(sb->buf, cap);
	sb->cap = cap;
}

void
sb_append(struct strbuf *sb, const void *p, size_t n)
{
	sb_grow(sb, n);
	if (n)
		memcpy(sb->buf + sb->len, p, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void
sb_appends(struct strbuf *sb, const char *s)
{
	sb_append(sb, s, strlen(s));
}

void
sb_appendf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	char tmp[256];

	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		sb_append(sb, tmp, (size_t)n);
		return;
	}
	sb_grow(sb, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void
sb_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
}

void
sb_free(struct strbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}

bool
mem_ieq(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (tolower(x[i]) != tolower(y[i]))
			return false;
	return true;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* mem_has_8bit() 64 bytes a step with AVX2: how many bytes were found
 * plain (a multiple of 64), or (size_t)-1 at a byte with its high bit. */
__attribute__((target("avx2")))
static size_t
has_8bit_avx2(const unsigned char *s, size_t n)
{
	size_t i = 0;

	for (; n - i >= 64; i += 64) {
		__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(s + i));
		__m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(s + i + 32));
		if (_mm256_movemask_epi8(_mm256_or_si256(a, b)) != 0)
			return (size_t)-1;
	}
	return i;
}
#endif

bool
mem_has_8bit(const void *p, size_t n)
{
	const unsigned char *s = p;
	unsigned char acc = 0;

#if defined(__x86_64__) && defined(__GNUC__)
	if (n >= 64 && cpu_avx2()) {
		size_t done = has_8bit_avx2(s, n);
		if (done == (size_t)-1)
			return true;
		s += done;
		n -= done;
	}
#endif
	/* an OR over a fixed block compiles to vector code; a byte loop that
	 * stops at the first hit does not */
	for (; n >= 64; s += 64, n -= 64) {
		for (int i = 0; i < 64; i++)
			acc |= s[i];
		if (acc & 0x80)
			return true;
	}
	for (size_t i = 0; i < n; i++)
		acc |= s[i];
	return (acc & 0x80) != 0;
}

const void *
mem_find(const void *hay, size_t hlen, const void *needle, size_t nlen)
{
	const char *h = hay, *n = needle;

	if (nlen == 0)
		return hay;
	while (hlen >= nlen) {
		const char *p = memchr(h, n[0], hlen - nlen + 1);
		if (p == NULL)
			return NULL;
		if (memcmp(p, n, nlen) == 0)
			return p;
		hlen -= (size_t)(p - h) + 1;
		h = p + 1;
	}
	return NULL;
}

long long
parse_duration(const char *s)
{
	char *end;
	long long v, mult = 1;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || v < 0)
		return -1;
	if (*end) {
		switch (*end) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		case 'w': mult = 7 * 86400; break;
		default: return -1;
		}
		if (end[1] != '\0')
			return -1;
	}
	if (v > (long long)1e15 / mult)
		return -1;
	return v * mult;
}

double
now_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
rename_noreplace(int fromdirfd, const char *from, int todirfd, const char *to)
{
#ifdef HAVE_RENAMEAT2
	if (renameat2(fromdirfd, from, todirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
#endif
	if (linkat(fromdirfd, from, todirfd, to, 0) == -1)
		return -1;
	return unlinkat(fromdirfd, from, 0);     /* the inode lives on under `to` */
}

size_t
hex_decode(const char *p, size_t n, uint64_t *v_r)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n && i < 16; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
		    c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			break;
		v = v << 4 | (uint64_t)d;
	}
	*v_r = v;
	return i;
}
