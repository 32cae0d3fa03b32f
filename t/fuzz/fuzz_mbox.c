/*
 * fuzz_mbox.c: libFuzzer target for the mbox reader (SPEC §2.2-2.9, the
 * reading algorithm of §2.5). The first bytes of the input choose the
 * reader's options; the rest is the mailbox, put in a memory file.
 *
 *   byte 0-1  buffer size: 4 KiB + value (the reader raises anything below
 *             its minimum), so every boundary lands across a buffer fill
 *   byte 2    bits 0-2 variant (AUTO, mboxo, mboxrd, mboxcl, mboxcl2),
 *             bit 3 keep the UW pseudo message, bit 4 read as a pipe
 *
 * Property checked besides memory safety: the messages (From_ line, header
 * view, body iovecs, counts) are the same whatever the buffer size, and
 * the sizes the reader reports agree with the bytes it handed out.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "mbox_reader.h"
#include "source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct digest {
	size_t messages;
	int last_rc;
	XXH64_hash_t h;
};

/* A struct source over a memory file holding the mailbox. */
static int
open_mem(struct source *src, int fd, size_t len, bool pipe_like)
{
	memset(src, 0, sizeof *src);
	src->path = src->name = "<fuzz>";
	src->type = SOURCE_MBOX;
	src->fd = fd;
	src->size = -1;
	if (lseek(fd, 0, SEEK_SET) != 0 || fstat(fd, &src->st) == -1)
		return -1;
	if (!pipe_like) {
		src->seekable = true;
		src->size = (off_t)len;
	}
	return 0;
}

static void
read_all(int fd, size_t len, size_t bufsize, enum mbox_variant v, bool pseudo,
         bool pipe_like, struct digest *d)
{
	struct source src;
	struct mbox_reader_opts o = { .variant = v, .keep_pseudo = pseudo,
	                              .bufsize = bufsize, .quiet = true };
	XXH64_state_t *st = XXH64_createState();

	memset(d, 0, sizeof *d);
	XXH64_reset(st, 0);
	if (open_mem(&src, fd, len, pipe_like) == -1)
		abort();
	struct mbox_reader *r = mbox_reader_new(&src, &o);
	struct message m;
	int rc;
	while ((rc = mbox_reader_next(r, &m)) == 1) {
		int64_t got = (int64_t)m.header_len;
		XXH64_update(st, &m.offset, sizeof m.offset);
		XXH64_update(st, m.from_line, m.from_line_len);
		XXH64_update(st, "\0", 1);
		XXH64_update(st, m.header, m.header_len);
		struct iovec iov[16];
		int n, brc;
		do {
			n = 16;
			brc = mbox_reader_body(r, iov, &n);
			if (brc == 1 && n == 0)
				abort();        /* "there is data" but none given */
			for (int i = 0; brc == 1 && i < n; i++) {
				XXH64_update(st, iov[i].iov_base, iov[i].iov_len);
				got += (int64_t)iov[i].iov_len;
			}
		} while (brc == 1);
		if (brc == 0 && mbox_reader_message_size(r) != got)
			abort();        /* size disagrees with the bytes handed out */
		if (brc == 0 && mbox_reader_message_end(r) > (off_t)len)
			abort();
		XXH64_update(st, "\1", 1);
		d->messages++;
		if (brc == -1)
			break;
	}
	d->last_rc = rc;
	d->h = XXH64_digest(st);
	XXH64_freeState(st);
	mbox_reader_free(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet) {
		/* the reader reports corrupt input on stderr: keep the fuzzer's
		 * own output readable (sanitizers write to fd 2 directly) */
		FILE *null = fopen("/dev/null", "w");
		if (null)
			stderr = null;
		quiet = 1;
	}
	if (size < 3)
		return 0;
	size_t bufsize = 4096 + ((size_t)data[0] | (size_t)data[1] << 8);
	enum mbox_variant v = (enum mbox_variant)((data[2] & 7) % 5);
	bool pseudo = data[2] & 8, pipe_like = data[2] & 16;
	data += 3;
	size -= 3;

	int fd = memfd_create("fuzz-mbox", MFD_CLOEXEC);
	if (fd == -1)
		return 0;
	for (size_t off = 0; off < size;) {
		ssize_t n = write(fd, data + off, size - off);
		if (n <= 0)
			abort();
		off += (size_t)n;
	}
	struct digest small, big;
	read_all(fd, size, bufsize, v, pseudo, pipe_like, &small);
	if (!pipe_like) {
		/* the same mailbox through a buffer that holds all of it */
		read_all(fd, size, size + 65536, v, pseudo, pipe_like, &big);
		if (small.messages != big.messages || small.h != big.h ||
		    small.last_rc != big.last_rc) {
			fprintf(stdout, "buffer %zu: %zu messages (rc %d), whole: %zu (rc %d)%s\n",
			    bufsize, small.messages, small.last_rc, big.messages, big.last_rc,
			    small.h != big.h ? ", content differs" : "");
			abort();
		}
	}
	close(fd);
	return 0;
}
