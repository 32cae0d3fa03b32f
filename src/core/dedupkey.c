/*
 * dedupkey.c: canonical streams, hashes and the byte-for-byte comparator
 * for dedup keys (DESIGN §3 dedup; SPEC §3.6 ▶ Message-ID extraction,
 * §2.8 the mbox metadata fields the full key ignores). See dedupkey.h for
 * the exact stream of each key.
 *
 * The stream is built once, by emit(), and goes either into XXH3-128
 * (libxxhash, streaming state) or into a sink: the comparator spools copy
 * A's stream and checks copy B's against it. A hash can therefore never
 * cover other bytes than the comparison does.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "dedupkey.h"
#include "header.h"
#include "message.h"
#include "report.h"
#include "testhook.h"

enum { PH_HEADER, PH_BODY, PH_IGNORE };

#define CMP_MEM_MAX (4u * 1024 * 1024)
#define CMP_RBUF    65536

static const char *const key_names[] = {
	[DEDUP_KEY_DEFAULT] = "default",
	[DEDUP_KEY_MESSAGE_ID] = "message-id",
	[DEDUP_KEY_BODY] = "body",
	[DEDUP_KEY_FULL] = "full",
	[DEDUP_KEY_HEADERS] = "headers",
};

/* mbox bookkeeping that a conversion may add, drop or change (SPEC §2.8). */
static const char *const meta_fields[] = {
	"Status", "X-Status", "X-Keywords", "X-UID", "X-IMAP", "X-IMAPbase",
	"Content-Length", "Lines",
};

/* The fields of the headers key, in stream order (Message-ID last). */
static const char *const key_fields[] = { "From", "To", "Cc", "Subject", "Date" };

int
dedupkey_parse(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(key_names); i++)
		if (strcmp(s, key_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
dedupkey_name(enum dedup_key k)
{
	return (size_t)k < ARRAY_SIZE(key_names) ? key_names[k] : "?";
}

/* ---- the stream ---------------------------------------------------------- */

static void
emit(struct dedupkey *k, const void *p, size_t n)
{
	if (n == 0)
		return;
	k->canon_bytes += n;
	if (k->sink)
		k->sink(k->sink_arg, p, n);
	else
		XXH3_128bits_update(k->xxh, p, n);
}

/* Emit with every CR LF as LF; a CR at a chunk end waits for the next byte. */
static void
emit_lf(struct dedupkey *k, const char *p, size_t n)
{
	const char *end = p + n;

	if (n == 0)
		return;
	if (k->pending_cr) {
		k->pending_cr = false;
		if (*p != '\n')
			emit(k, "\r", 1);
	}
	while (p < end) {
		const char *cr = memchr(p, '\r', (size_t)(end - p));
		if (cr == NULL) {
			emit(k, p, (size_t)(end - p));
			return;
		}
		emit(k, p, (size_t)(cr - p));
		if (cr + 1 == end) {
			k->pending_cr = true;
			return;
		}
		if (cr[1] != '\n')
			emit(k, "\r", 1);
		p = cr + 1;
	}
}

static void
emit_id(struct dedupkey *k, const struct strbuf *id)
{
	char num[32];
	int w = snprintf(num, sizeof num, "id:%zu:", id->len);

	emit(k, num, (size_t)w);
	emit(k, id->buf, id->len);
}

static bool
is_meta_field(const struct header_field *f)
{
	for (size_t i = 0; i < ARRAY_SIZE(meta_fields); i++) {
		size_t n = strlen(meta_fields[i]);
		if (f->name_len == n && mem_ieq(f->name, meta_fields[i], n))
			return true;
	}
	return false;
}

/* The header block without the mbox metadata fields, CRLF as LF. */
static bool
drop_meta(const struct header_field *f, void *arg)
{
	(void)arg;
	return is_meta_field(f);
}

static void
emit_lf_run(void *k, const char *p, size_t n)
{
	emit_lf(k, p, n);
}

static void
emit_header_full(struct dedupkey *k, const char *h, size_t len)
{
	header_filter(h, len, drop_meta, NULL, emit_lf_run, k);
}

/* NAME ":" unfolded value with white space runs as one SP, "\n"; or NAME "\n". */
static void
emit_field_norm(struct dedupkey *k, const char *h, size_t len, const char *name,
    struct strbuf *tmp)
{
	struct header_field f;

	emit(k, name, strlen(name));
	if (header_find(h, len, name, &f)) {
		header_unfold(f.value, f.value_len, tmp);
		size_t o = 0;
		for (size_t i = 0; i < tmp->len; i++) {
			char c = tmp->buf[i];
			if (c == '\t')
				c = ' ';
			if (c == ' ' && o > 0 && tmp->buf[o - 1] == ' ')
				continue;
			tmp->buf[o++] = c;
		}
		emit(k, ":", 1);
		emit(k, tmp->buf, o);
	}
	emit(k, "\n", 1);
}

static void
header_done(struct dedupkey *k, const char *h, size_t len)
{
	struct strbuf id = STRBUF_INIT, tmp = STRBUF_INIT;

	k->has_id = header_message_id(h, len, &id);
	k->used = k->key;
	if (!k->has_id && k->key != DEDUP_KEY_BODY)
		k->used = DEDUP_KEY_FULL;
	switch (k->used) {
	case DEDUP_KEY_MESSAGE_ID:
		emit_id(k, &id);
		k->phase = PH_IGNORE;
		break;
	case DEDUP_KEY_DEFAULT:
		emit_id(k, &id);
		emit(k, "\nbody:", 6);
		k->phase = PH_BODY;
		break;
	case DEDUP_KEY_BODY:
		emit(k, "body:", 5);
		k->phase = PH_BODY;
		break;
	case DEDUP_KEY_HEADERS:
		emit(k, "hdr:", 4);
		for (size_t i = 0; i < ARRAY_SIZE(key_fields); i++)
			emit_field_norm(k, h, len, key_fields[i], &tmp);
		emit_id(k, &id);
		k->phase = PH_IGNORE;
		break;
	case DEDUP_KEY_FULL:
		emit(k, "full:", 5);
		emit_header_full(k, h, len);
		k->phase = PH_BODY;
		break;
	}
	sb_free(&id);
	sb_free(&tmp);
}

static void
body_feed(struct dedupkey *k, const char *p, size_t n)
{
	if (k->phase == PH_BODY)
		emit_lf(k, p, n);
}

/*
 * The header ends at the first empty line within READER_HEADER_MAX bytes;
 * without one, the first READER_HEADER_MAX bytes are the header. Both
 * rules look only at bytes already seen, so any chunking gives the same
 * split. Returns the header length, 0 when more bytes are needed.
 */
static size_t
header_split(const char *p, size_t n, bool at_end)
{
	size_t lim = n < READER_HEADER_MAX ? n : READER_HEADER_MAX;
	bool complete;
	size_t hl = header_block_len(p, lim, &complete);

	if (complete || n >= READER_HEADER_MAX || at_end)
		return complete ? hl : lim;
	return 0;
}

void
dedupkey_init(struct dedupkey *k, enum dedup_key key, dedupkey_sink_fn sink, void *arg)
{
	memset(k, 0, sizeof *k);
	k->key = key;
	k->used = key;
	k->phase = PH_HEADER;
	k->sink = sink;
	k->sink_arg = arg;
	if (sink == NULL) {
		k->xxh = XXH3_createState();
		if (k->xxh == NULL) {
			errno = ENOMEM;
			report_fatal_sys(EX_TEMPFAIL, "out of memory");
		}
		XXH3_128bits_reset(k->xxh);
	}
}

void
dedupkey_feed(struct dedupkey *k, const void *p, size_t n)
{
	const char *c = p;

	k->bytes += n;
	if (k->phase != PH_HEADER) {
		body_feed(k, c, n);
		return;
	}
	if (k->hdr.len == 0) {
		size_t hl = header_split(c, n, false);
		if (hl > 0) {
			header_done(k, c, hl);
			body_feed(k, c + hl, n - hl);
			return;
		}
	}
	sb_append(&k->hdr, c, n);
	size_t hl = header_split(k->hdr.buf, k->hdr.len, false);
	if (hl > 0) {
		header_done(k, k->hdr.buf, hl);
		body_feed(k, k->hdr.buf + hl, k->hdr.len - hl);
		sb_reset(&k->hdr);
	}
}

bool
dedupkey_wants_more(const struct dedupkey *k)
{
	return k->phase != PH_IGNORE;
}

static void
hash_truncate(struct dedup_hash *h)
{
	int bits = testhook_hash_bits();

	if (bits <= 0 || bits >= 128)
		return;
	if (bits <= 64) {
		h->hi = 0;
		if (bits < 64)
			h->lo &= (UINT64_C(1) << bits) - 1;
	} else {
		h->hi &= (UINT64_C(1) << (bits - 64)) - 1;
	}
}

void
dedupkey_finish(struct dedupkey *k, struct dedup_hash *h_r)
{
	if (k->phase == PH_HEADER) {
		const char *h = k->hdr.buf ? k->hdr.buf : "";
		size_t hl = header_split(h, k->hdr.len, true);
		header_done(k, h, hl);
		body_feed(k, h + hl, k->hdr.len - hl);
	}
	if (k->pending_cr && k->phase == PH_BODY)
		emit(k, "\r", 1);
	if (k->sink == NULL) {
		XXH128_hash_t x = XXH3_128bits_digest(k->xxh);
		if (h_r) {
			h_r->hi = x.high64;
			h_r->lo = x.low64;
			hash_truncate(h_r);
		}
		XXH3_128bits_reset(k->xxh);
	}
	sb_reset(&k->hdr);
	k->phase = PH_HEADER;
	k->pending_cr = false;
	k->has_id = false;
	k->used = k->key;
	k->bytes = k->canon_bytes = 0;
}

void
dedupkey_free(struct dedupkey *k)
{
	if (k->xxh)
		XXH3_freeState(k->xxh);
	k->xxh = NULL;
	sb_free(&k->hdr);
}

void
dedupkey_hash_mem(enum dedup_key key, const void *msg, size_t len, struct dedup_hash *h_r)
{
	struct dedupkey k;

	dedupkey_init(&k, key, NULL, NULL);
	dedupkey_feed(&k, msg, len);
	dedupkey_finish(&k, h_r);
	dedupkey_free(&k);
}

/* ---- the comparator -------------------------------------------------------- */

static void
cmp_sink_a(void *arg, const void *p, size_t n)
{
	struct dedupkey_cmp *c = arg;

	c->alen += n;
	if (c->spill == NULL && c->mem.len + n <= CMP_MEM_MAX) {
		sb_append(&c->mem, p, n);
		return;
	}
	if (c->spill == NULL && (c->spill = tmpfile()) == NULL) {
		c->failed = true;
		return;
	}
	if (!c->failed && fwrite(p, 1, n, c->spill) != n)
		c->failed = true;
}

static void
cmp_sink_b(void *arg, const void *p, size_t n)
{
	struct dedupkey_cmp *c = arg;
	const char *b = p;

	if (c->differ || c->failed)
		return;
	if (c->bpos + n > c->alen) {
		c->differ = true;
		return;
	}
	while (n > 0) {
		size_t k;
		if (c->bpos < c->mem.len) {
			k = c->mem.len - (size_t)c->bpos;
			if (k > n)
				k = n;
			if (memcmp(c->mem.buf + c->bpos, b, k) != 0)
				c->differ = true;
		} else {
			k = n < CMP_RBUF ? n : CMP_RBUF;
			if (fread(c->rbuf, 1, k, c->spill) != k)
				c->failed = true;
			else if (memcmp(c->rbuf, b, k) != 0)
				c->differ = true;
		}
		if (c->differ || c->failed)
			return;
		c->bpos += k;
		b += k;
		n -= k;
	}
}

void
dedupkey_cmp_init(struct dedupkey_cmp *c, enum dedup_key key)
{
	memset(c, 0, sizeof *c);
	dedupkey_init(&c->ka, key, cmp_sink_a, c);
	dedupkey_init(&c->kb, key, cmp_sink_b, c);
}

void
dedupkey_cmp_a(struct dedupkey_cmp *c, const void *p, size_t n)
{
	dedupkey_feed(&c->ka, p, n);
}

/* A is complete: flush its stream and rewind the spill for reading. */
static void
cmp_start_b(struct dedupkey_cmp *c)
{
	if (c->stage != 0)
		return;
	c->stage = 1;
	dedupkey_finish(&c->ka, NULL);
	if (c->spill) {
		c->rbuf = xmalloc(CMP_RBUF);
		if (fflush(c->spill) != 0 || fseeko(c->spill, 0, SEEK_SET) != 0)
			c->failed = true;
	}
}

void
dedupkey_cmp_b(struct dedupkey_cmp *c, const void *p, size_t n)
{
	cmp_start_b(c);
	dedupkey_feed(&c->kb, p, n);
}

bool
dedupkey_cmp_equal(struct dedupkey_cmp *c)
{
	cmp_start_b(c);
	if (c->stage == 1) {
		dedupkey_finish(&c->kb, NULL);
		c->stage = 2;
	}
	return !c->differ && !c->failed && c->bpos == c->alen;
}

void
dedupkey_cmp_free(struct dedupkey_cmp *c)
{
	dedupkey_free(&c->ka);
	dedupkey_free(&c->kb);
	sb_free(&c->mem);
	if (c->spill)
		fclose(c->spill);
	free(c->rbuf);
	c->spill = NULL;
	c->rbuf = NULL;
}
