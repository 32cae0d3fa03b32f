/*
 * magic_lib.h: libmagic is loaded on first use (magic_lib.c), as libarchive
 * is. Only a file that is no mbox and no Maildir is shown to it (is it
 * compressed? what is it, for the error line?), and it brings liblzma and
 * libbz2 with it: a run on plain mailboxes, a cron job's check of a
 * Maildir, never maps the three. The calls are libmagic's (<magic.h>);
 * magic_lib_load() must have succeeded before the first of them.
 */
#ifndef MAILSHIFT_MAGIC_LIB_H
#define MAILSHIFT_MAGIC_LIB_H

#include <stdbool.h>

/* Load libmagic: true, or false after an error line (once) saying why it
 * could not be loaded and what is then not recognised. */
bool magic_lib_load(void);

#endif
