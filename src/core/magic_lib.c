/*
 * magic_lib.c: libmagic, loaded the first time a file must be told apart
 * (magic_lib.h). The functions below are the ones mailshift calls, under
 * libmagic's own names and prototypes (from <magic.h>), each forwarding to
 * the library's.
 */
#include "config.h"

#include <dlfcn.h>
#include <magic.h>
#include <stdlib.h>

#include "magic_lib.h"
#include "report.h"
#include "testhook.h"

static void *lib;
static bool failed;

bool
magic_lib_load(void)
{
	if (lib != NULL)
		return true;
	if (failed)
		return false;
	const char *name = testhook_libmagic_name();
	if (name == NULL)
		name = LIBMAGIC_SONAME;
	lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		const char *why = dlerror();
		report_error(EX_NOINPUT, "libmagic cannot be loaded (%s): compressed "
		    "mailboxes are not recognised, other files not described", why ? why : name);
		failed = true;
		return false;
	}
	return true;
}

/* The library's function NAME; magic_lib_load() succeeded before. */
static void *
sym(const char *name)
{
	void *f = lib ? dlsym(lib, name) : NULL;

	if (f == NULL) {
		report_error(EX_SOFTWARE, "libmagic has no %s: %s", name, dlerror());
		abort();
	}
	return f;
}

#define LOAD(f) static __typeof__(&f) p; if (p == NULL) p = (__typeof__(&f))sym(#f)

magic_t magic_open(int flags) { LOAD(magic_open); return p(flags); }
void magic_close(magic_t m) { LOAD(magic_close); p(m); }
int magic_load(magic_t m, const char *file) { LOAD(magic_load); return p(m, file); }
const char *magic_buffer(magic_t m, const void *b, size_t n) { LOAD(magic_buffer); return p(m, b, n); }
