/*
 * archive_lib.h: libarchive is loaded on first use (archive_lib.c). Call
 * archive_lib_load() before the first archive_*() call; the calls
 * themselves are libarchive's (<archive.h>, <archive_entry.h>).
 */
#ifndef MAILSHIFT_ARCHIVE_LIB_H
#define MAILSHIFT_ARCHIVE_LIB_H

/* Load libarchive: 0, or STATUS after one line naming PATH (the mailbox
 * that needs it) and why the library could not be loaded. */
int archive_lib_load(const char *path, int status);

#endif
