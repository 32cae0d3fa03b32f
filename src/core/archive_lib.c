/*
 * archive_lib.c: libarchive, loaded the first time a compressed mailbox is
 * read or written.
 *
 * Most runs never meet one, and libarchive brings a dozen libraries with
 * it (libxml2, ICU, libstdc++...) whose loading doubled the start-up time
 * of every run: a migration that starts mailshift once per user, or a cron
 * job once per Maildir, paid it each time. The functions below are the
 * ones mailshift calls, under libarchive's own names and prototypes (from
 * <archive.h>), each forwarding to the library's; archive_lib_load() must
 * have succeeded before the first of them is called.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "archive_lib.h"
#include "report.h"
#include "testhook.h"

static void *lib;

int
archive_lib_load(const char *path, int status)
{
	if (lib != NULL)
		return 0;
	const char *name = testhook_libarchive_name();
	if (name == NULL)
		name = LIBARCHIVE_SONAME;
	lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		const char *why = dlerror();
		report_error(status, "%s: a compressed mailbox needs libarchive, which cannot be "
		    "loaded: %s", path, why ? why : name);
		return status;
	}
	return 0;
}

/* The library's function NAME, typed as ours. The callers have loaded the
 * library, and said which mailbox needed it if it could not be loaded;
 * failing that it is loaded here. */
static void *
sym(const char *name)
{
	if (lib == NULL && archive_lib_load("libarchive", EX_SOFTWARE) != 0)
		abort();
	void *f = dlsym(lib, name);
	if (f == NULL) {
		report_error(EX_SOFTWARE, "libarchive has no %s: %s", name, dlerror());
		abort();
	}
	return f;
}

#define LOAD(f) static __typeof__(&f) p; if (p == NULL) p = (__typeof__(&f))sym(#f)

struct archive *archive_read_new(void) { LOAD(archive_read_new); return p(); }
int archive_read_free(struct archive *a) { LOAD(archive_read_free); return p(a); }
int archive_read_support_filter_all(struct archive *a) { LOAD(archive_read_support_filter_all); return p(a); }
int archive_read_support_format_zip(struct archive *a) { LOAD(archive_read_support_format_zip); return p(a); }
int archive_read_support_format_tar(struct archive *a) { LOAD(archive_read_support_format_tar); return p(a); }
int archive_read_support_format_raw(struct archive *a) { LOAD(archive_read_support_format_raw); return p(a); }
int archive_read_support_format_empty(struct archive *a) { LOAD(archive_read_support_format_empty); return p(a); }

int
archive_read_open(struct archive *a, void *data, archive_open_callback *o,
    archive_read_callback *r, archive_close_callback *c)
{
	LOAD(archive_read_open);
	return p(a, data, o, r, c);
}

int archive_read_set_callback_data(struct archive *a, void *d) { LOAD(archive_read_set_callback_data); return p(a, d); }
int archive_read_set_read_callback(struct archive *a, archive_read_callback *c) { LOAD(archive_read_set_read_callback); return p(a, c); }
int archive_read_set_skip_callback(struct archive *a, archive_skip_callback *c) { LOAD(archive_read_set_skip_callback); return p(a, c); }
int archive_read_set_seek_callback(struct archive *a, archive_seek_callback *c) { LOAD(archive_read_set_seek_callback); return p(a, c); }
int archive_read_open1(struct archive *a) { LOAD(archive_read_open1); return p(a); }

int
archive_read_next_header(struct archive *a, struct archive_entry **e)
{
	LOAD(archive_read_next_header);
	return p(a, e);
}

la_ssize_t archive_read_data(struct archive *a, void *b, size_t n) { LOAD(archive_read_data); return p(a, b, n); }
int archive_format(struct archive *a) { LOAD(archive_format); return p(a); }
const char *archive_format_name(struct archive *a) { LOAD(archive_format_name); return p(a); }
const char *archive_filter_name(struct archive *a, int n) { LOAD(archive_filter_name); return p(a, n); }
const char *archive_error_string(struct archive *a) { LOAD(archive_error_string); return p(a); }
int archive_errno(struct archive *a) { LOAD(archive_errno); return p(a); }

/* libarchive has no va_list variant: the message is formatted here */
void
archive_set_error(struct archive *a, int err, const char *fmt, ...)
{
	static __typeof__(&archive_set_error) p;
	char msg[512];
	va_list ap;

	if (p == NULL)
		p = (__typeof__(&archive_set_error))sym("archive_set_error");
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	p(a, err, "%s", msg);
}

struct archive *archive_write_new(void) { LOAD(archive_write_new); return p(); }
int archive_write_free(struct archive *a) { LOAD(archive_write_free); return p(a); }
int archive_write_close(struct archive *a) { LOAD(archive_write_close); return p(a); }
int archive_write_add_filter_gzip(struct archive *a) { LOAD(archive_write_add_filter_gzip); return p(a); }
int archive_write_add_filter_xz(struct archive *a) { LOAD(archive_write_add_filter_xz); return p(a); }
int archive_write_add_filter_zstd(struct archive *a) { LOAD(archive_write_add_filter_zstd); return p(a); }
int archive_write_set_format_raw(struct archive *a) { LOAD(archive_write_set_format_raw); return p(a); }
int archive_write_set_bytes_in_last_block(struct archive *a, int n) { LOAD(archive_write_set_bytes_in_last_block); return p(a, n); }
int archive_write_open_fd(struct archive *a, int fd) { LOAD(archive_write_open_fd); return p(a, fd); }
int archive_write_header(struct archive *a, struct archive_entry *e) { LOAD(archive_write_header); return p(a, e); }
la_ssize_t archive_write_data(struct archive *a, const void *b, size_t n) { LOAD(archive_write_data); return p(a, b, n); }

struct archive_entry *archive_entry_new(void) { LOAD(archive_entry_new); return p(); }
void archive_entry_free(struct archive_entry *e) { LOAD(archive_entry_free); p(e); }
void archive_entry_set_filetype(struct archive_entry *e, unsigned int t) { LOAD(archive_entry_set_filetype); p(e, t); }
__LA_MODE_T archive_entry_filetype(struct archive_entry *e) { LOAD(archive_entry_filetype); return p(e); }
void archive_entry_set_pathname(struct archive_entry *e, const char *s) { LOAD(archive_entry_set_pathname); p(e, s); }
