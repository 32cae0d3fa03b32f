/*
 * folder.h: reversible mapping between folder paths of an mbox tree and
 * Maildir folder names (SPEC §1.8 ▶, §5 W6). No I/O.
 *
 * An mbox tree path is a list of components separated by '/', each any
 * bytes except '/'. A Maildir++ name joins the encoded components with '.'
 * ("Sent/2002" -> "Sent.2002", directory ".Sent.2002"); the fs layout
 * joins them with '/' ("Sent/2002", directory "Sent/2002").
 *
 * Escape, applied to each component first: '%' followed by two upper-case
 * hex digits stands for one byte. It is used for
 *	'.' (%2E), '/' (%2F), '&' (%26), '%' itself (%25),
 *	control bytes 0x00-0x1F and 0x7F, and the bytes of the C1 control
 *	characters U+0080-U+009F,
 *	a '~' at the start of a component (%7E),
 *	bytes that are not part of valid UTF-8 (overlong forms, surrogates,
 *	stray continuation bytes, code points above U+10FFFF).
 * Everything else is kept: printable ASCII as is, valid UTF-8 either as
 * UTF-8 (FOLDER_UTF8, Courier >= 5 and Dovecot's UTF-8 option) or as IMAP
 * modified UTF-7 (FOLDER_MUTF7, RFC 3501 §5.1.3, Dovecot's default): runs
 * of non-ASCII characters become '&' + modified base64 of UTF-16 + '-'.
 * Since a literal '&' is always escaped, an '&' in an encoded name always
 * starts a UTF-7 run (the "&-" form is still accepted when decoding).
 *
 * Empty components, "." and ".." are refused. An encoded Maildir++ name
 * longer than FOLDER_NAME_MAX (254: the directory adds the leading '.') or
 * an encoded fs component longer than 255 bytes is cut at a character
 * boundary and given the suffix "%%" + 16 hex digits of the XXH3-64 hash of
 * the whole source path (or component); such a name is reported by the
 * caller (folder_encode returns 1) and does not decode back. Every other
 * accepted name decodes to exactly the original bytes.
 */
#ifndef MAILSHIFT_FOLDER_H
#define MAILSHIFT_FOLDER_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define FOLDER_NAME_MAX 254     /* Maildir++: NAME_MAX minus the leading '.' */
#define FOLDER_COMPONENT_MAX 255

enum folder_layout { FOLDER_MAILDIRPP = 0, FOLDER_FS };
enum folder_charset { FOLDER_UTF8 = 0, FOLDER_MUTF7 };

/*
 * Encode one path component (any bytes, '/' included) into out (appended;
 * no length limit applied). Returns 0, or -1 with errno EINVAL for an
 * empty component, "." or "..".
 */
int folder_encode_component(const char *s, size_t len, enum folder_charset cs, struct strbuf *out);

/*
 * Encode an mbox tree path ('/'-separated; one leading or trailing '/' is
 * ignored) into a folder name for the layout; out is reset first.
 * Returns 0, 1 when the name had to be shortened with a hash suffix, or -1
 * with errno EINVAL (empty component, ".", "..", empty path).
 */
int folder_encode(const char *path, size_t len, enum folder_layout layout,
                  enum folder_charset cs, struct strbuf *out);

/*
 * Decode a folder name (without the Maildir++ leading '.') back into an
 * mbox tree path; out is reset first. Unknown escapes ('%' not followed by
 * two hex digits) and malformed UTF-7 runs are kept as they are and counted
 * in *odd_r (may be NULL): a name written by another program still gives a
 * usable path. Returns 0, or -1 with errno EINVAL when a component is empty
 * or decodes to "." or ".." or to bytes holding '/' (a name no encoder
 * produced: the path would change shape).
 */
int folder_decode(const char *name, size_t len, enum folder_layout layout,
                  enum folder_charset cs, struct strbuf *out, unsigned *odd_r);

/* Decode one component (the inverse of folder_encode_component; '/' may
 * appear in the result), appending to out. 0, or -1 (EINVAL) when the
 * result is empty, "." or "..". */
int folder_decode_component(const char *s, size_t len, enum folder_charset cs,
                            struct strbuf *out, unsigned *odd_r);

/*
 * IMAP modified UTF-7 (RFC 3501 §5.1.3) both ways, appending to out.
 * mutf7_encode takes UTF-8; returns -1 (EILSEQ) on invalid UTF-8.
 * mutf7_decode gives UTF-8; returns -1 (EILSEQ) on a malformed run
 * (bad base64, odd bits, unpaired surrogate, missing '-', an encoded
 * printable ASCII character), with out left as it was.
 */
int mutf7_encode(const char *s, size_t len, struct strbuf *out);
int mutf7_decode(const char *s, size_t len, struct strbuf *out);

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when invalid
 * (overlong, surrogate, > U+10FFFF, truncated); *cp_r gets the code point. */
size_t utf8_seq_len(const unsigned char *s, size_t len, unsigned long *cp_r);

#endif
