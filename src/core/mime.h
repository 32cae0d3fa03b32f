/*
 * mime.h: a streaming "has attachments" scanner (SPEC §3.5) for stats.
 *
 * The scanner is fed a message body in chunks of any size (iovecs from
 * reader_body()) and follows the multipart structure line by line with a
 * stack of boundaries; it never holds more than one line (truncated to
 * MIME_LINE_MAX) and one part header (truncated to MIME_PART_HEADER_MAX).
 * A message has attachments when some non-multipart part other than the
 * first text part has Content-Disposition: attachment, or a filename
 * (Content-Disposition) or name (Content-Type) parameter, RFC 2231 forms
 * (filename*=, filename*0*=) included. Unclosed boundaries, missing
 * boundary parameters and garbage are tolerated: whatever was seen counts.
 */
#ifndef MAILSHIFT_MIME_H
#define MAILSHIFT_MIME_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define MIME_DEPTH_MAX 16
#define MIME_LINE_MAX 1000
#define MIME_PART_HEADER_MAX 16384
#define MIME_BOUNDARY_MAX 200

struct mime_scan {
	char bound[MIME_DEPTH_MAX][MIME_BOUNDARY_MAX];
	size_t bound_len[MIME_DEPTH_MAX];
	int depth;                  /* boundaries on the stack */
	bool in_part_header;        /* collecting a part's header lines */
	bool text_seen;             /* the first text part has been passed */
	bool found;                 /* an attachment was seen: the answer */
	char line[MIME_LINE_MAX];
	size_t line_len;
	bool line_long;             /* current line exceeded MIME_LINE_MAX */
	struct strbuf part;         /* header of the current part */
};

/* Start with the message's top-level header block. */
void mime_scan_init(struct mime_scan *s, const char *hdr, size_t len);
/* Feed body bytes in order. */
void mime_scan_feed(struct mime_scan *s, const char *p, size_t n);
/* End of the body; returns whether the message has attachments. */
bool mime_scan_finish(struct mime_scan *s);
void mime_scan_free(struct mime_scan *s);

/*
 * Whether the header block of one part is an attachment part (leaf, not the
 * first text part, attachment disposition or filename/name parameter), with
 * *text_seen updated; for a multipart part with a boundary, the boundary is
 * copied to out (reset first) and the result is false.
 */
bool mime_part_is_attachment(const char *hdr, size_t len, bool *text_seen,
                             struct strbuf *boundary_r);

/* A parameter of a structured value (Content-Type, Content-Disposition):
 * true and its value (unquoted) in out when `name` (case-insensitive) or an
 * RFC 2231 form of it (name*, name*0, name*0*) is present. */
bool mime_param(const char *value, size_t len, const char *name, struct strbuf *out);

#endif
