/*
 * testhook.c: fault injection for the test suite (see testhook.h). Compiled
 * to nothing unless configured with --enable-test-hooks.
 */
#include "config.h"

#include "testhook.h"

#ifdef MAILSHIFT_TEST_HOOKS
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long env_ll(const char *name)
{
	const char *s = getenv(name);
	return s && *s ? strtoll(s, NULL, 10) : -1;
}

static long long crash_msgs = -2, crash_writes = -2, fail_write = -2, delay_ms = -2;
static int fail_errno = EIO;
static long long msgs_done, writes_done;

static void
init(void)
{
	if (crash_msgs != -2)
		return;
	crash_msgs = env_ll("MAILSHIFT_CRASH_AFTER_MESSAGES");
	crash_writes = env_ll("MAILSHIFT_CRASH_AFTER_WRITES");
	fail_write = env_ll("MAILSHIFT_FAIL_WRITE");
	delay_ms = env_ll("MAILSHIFT_MESSAGE_DELAY_MS");
	const char *s = getenv("MAILSHIFT_FAIL_WRITE");
	if (s && (s = strchr(s, ':')) != NULL) {
		const char *e = s + 1;
		if (strcmp(e, "ENOSPC") == 0) fail_errno = ENOSPC;
		else if (strcmp(e, "EIO") == 0) fail_errno = EIO;
		else if (strcmp(e, "EDQUOT") == 0) fail_errno = EDQUOT;
		else if (strcmp(e, "EFBIG") == 0) fail_errno = EFBIG;
		else fail_errno = atoi(e) > 0 ? atoi(e) : EIO;
	}
}

bool
testhook_enabled(void)
{
	return true;
}

const char *
testhook_libarchive_name(void)
{
	const char *v = getenv("MAILSHIFT_TEST_LIBARCHIVE");
	return v && *v ? v : NULL;
}

const char *
testhook_libmagic_name(void)
{
	const char *v = getenv("MAILSHIFT_TEST_LIBMAGIC");
	return v && *v ? v : NULL;
}

void
testhook_message_done(void)
{
	init();
	msgs_done++;
	if (crash_msgs >= 0 && msgs_done >= crash_msgs)
		_exit(99);
	if (delay_ms > 0) {
		struct timespec ts = { delay_ms / 1000, (delay_ms % 1000) * 1000000L };
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
	}
}

/* Writes are counted only when a test asks for one to fail or crash: then
 * they are made by one thread (testhook_writes_counted()). */
bool
testhook_writes_counted(void)
{
	init();
	const char *s = getenv("MAILSHIFT_TEST_WRITER");
	return crash_writes >= 0 || fail_write > 0 || (s && strcmp(s, "sync") == 0);
}

int
testhook_before_write(void)
{
	init();
	if (crash_writes < 0 && fail_write <= 0)
		return 0;
	if (crash_writes >= 0 && writes_done >= crash_writes)
		_exit(99);
	writes_done++;
	if (fail_write > 0 && writes_done == fail_write) {
		errno = fail_errno;
		return -1;
	}
	return 0;
}

/* MAILSHIFT_TEST_ASYNC_FAIL=K: the K-th write made by a writer thread
 * fails with EIO (the later ones do not: a failure only that thread saw). */
int
testhook_async_write(void)
{
	static long long k = -2, n;
	if (__atomic_load_n(&k, __ATOMIC_ACQUIRE) == -2)
		__atomic_store_n(&k, env_ll("MAILSHIFT_TEST_ASYNC_FAIL"), __ATOMIC_RELEASE);
	if (__atomic_load_n(&k, __ATOMIC_ACQUIRE) > 0 &&
	    __atomic_add_fetch(&n, 1, __ATOMIC_ACQ_REL) == k) {
		errno = EIO;
		return -1;
	}
	return 0;
}

int
testhook_hash_bits(void)
{
	long long b = env_ll("MAILSHIFT_HASH_BITS");
	return b > 0 && b < 128 ? (int)b : 0;
}
#else
/* ISO C forbids an empty translation unit. */
typedef int testhook_unused;
#endif
