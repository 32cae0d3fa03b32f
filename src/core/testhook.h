/*
 * testhook.h: fault injection for the test suite, compiled in only with
 * ./configure --enable-test-hooks (scripts/test and distcheck do this).
 *
 *   MAILSHIFT_CRASH_AFTER_MESSAGES=N  _exit(99) once N messages have been
 *                                     published (or removed, or rewritten)
 *   MAILSHIFT_CRASH_AFTER_WRITES=N    _exit(99) before the N+1th write call
 *   MAILSHIFT_FAIL_WRITE=K[:ERRNO]    the K-th write call fails with ERRNO
 *                                     (default EIO)
 *                                     With either of these two, the Maildir
 *                                     writer writes from the caller's thread
 *                                     only, so that the count is the same
 *                                     in every run
 *   MAILSHIFT_TEST_WRITER=sync        the same without counting: the one-
 *                                     thread writer, as on a single CPU
 *   MAILSHIFT_TEST_ASYNC_FAIL=K       the K-th write made by a writer
 *                                     thread fails with EIO, the later
 *                                     ones not
 *   MAILSHIFT_HASH_BITS=N             truncate dedup hashes to N bits
 *   MAILSHIFT_MESSAGE_DELAY_MS=N      sleep N ms after each message is done
 *                                     (a run slow enough to kill mid-way)
 *   MAILSHIFT_TEST_LIBMAGIC=NAME      load NAME instead of libmagic
 *   MAILSHIFT_TEST_LIBARCHIVE=NAME    load NAME instead of libarchive (a
 *                                     system where it cannot be loaded)
 *   MAILSHIFT_TEST_NO_AVX2=1          cpu_avx2() says no: the SSE2 loops
 *                                     run, as on a CPU without AVX2
 *
 * Without the configure option every hook is a no-op that costs nothing.
 */
#ifndef MAILSHIFT_TESTHOOK_H
#define MAILSHIFT_TESTHOOK_H

#include <stdbool.h>
#include <stddef.h>

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#ifdef MAILSHIFT_TEST_HOOKS
/* Called after each message is durably done (published, removed...). */
void testhook_message_done(void);
/* Called before each write(2)/pwrite(2)/writev(2) of message data; returns
 * -1 with errno set when the hook says this write fails. */
int testhook_before_write(void);
bool testhook_writes_counted(void);
int testhook_hash_bits(void);
int testhook_async_write(void);
bool testhook_enabled(void);
const char *testhook_libarchive_name(void);
const char *testhook_libmagic_name(void);
#else
static inline void testhook_message_done(void) { }
static inline int testhook_before_write(void) { return 0; }
static inline bool testhook_writes_counted(void) { return false; }
static inline int testhook_hash_bits(void) { return 0; }
static inline int testhook_async_write(void) { return 0; }
static inline bool testhook_enabled(void) { return false; }
static inline const char *testhook_libarchive_name(void) { return NULL; }
static inline const char *testhook_libmagic_name(void) { return NULL; }
#endif

#endif
