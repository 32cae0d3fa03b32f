/*
 * clientstate.c: flags, keywords and folders from the headers mail clients
 * write into the messages they keep (SPEC §2.8, §2.10; mailshift-formats(5)
 * "What mail clients write").
 *
 * The formats, as the clients write and read them:
 *   - Thunderbird writes "X-Mozilla-Status: %04x" and "X-Mozilla-Status2:
 *     %08x" at the top of every message of a local folder and rewrites
 *     them in place; it reads X-Mozilla-Status only when it is exactly 4
 *     hex digits, takes priority from its 0xE000 bits (not a flag), and
 *     reads a Status header only when there is no X-Mozilla-Status.
 *     X-Mozilla-Keys holds its tags (keywords) and is padded with spaces
 *     so the tags can change in place. Labels of old versions (0x0E000000
 *     of Status2, values 1-5) are the tags $label1 ... $label5.
 *   - Evolution writes "X-Evolution: %08x-%04x" (its uid, then the low 16
 *     bits of its flags) and, with user flags, "; flags=a,b"; it accepts
 *     the first token only when it is exactly that long.
 *   - Gmail Takeout writes every label of a message into X-Gmail-Labels,
 *     comma-separated: system labels by their English names (Inbox, Sent,
 *     Drafts, Trash, Spam, Starred, Important, Opened, Unread, Archived,
 *     Chat, "Category ..."), keywords set over IMAP as "IMAP_<keyword>",
 *     user labels as named, nested ones with '/'; a label holding a comma
 *     or a quote in double quotes. A message is unread when it has the
 *     Unread label (Gmail's UNREAD), read otherwise.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clientstate.h"
#include "flags.h"
#include "header.h"
#include "message.h"

/* ---- lists -------------------------------------------------------------------- */

void
strlist_add(struct strlist *l, const char *s, size_t n)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n++] = xstrndup(s, n);
}

bool
strlist_has(const struct strlist *l, const char *s, size_t n)
{
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == n && memcmp(l->v[i], s, n) == 0)
			return true;
	return false;
}

void
strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void
client_state_free(struct client_state *cs)
{
	sb_free(&cs->keywords);
	strlist_free(&cs->rejected);
	strlist_free(&cs->folders);
	strlist_free(&cs->labels);
}

static bool
ieq(const char *a, size_t an, const char *b)
{
	size_t bn = strlen(b);

	return an == bn && mem_ieq(a, b, an);
}

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
trim(const char **p, size_t *n)
{
	while (*n > 0 && is_ws(**p))
		(*p)++, (*n)--;
	while (*n > 0 && is_ws((*p)[*n - 1]))
		(*n)--;
}

/* A keyword into cs: $Forwarded is also the flag P; names that are no
 * IMAP atom are rejected; duplicates (case-insensitive) dropped. */
static void
add_keyword(struct client_state *cs, const char *k, size_t n)
{
	if (n == 0)
		return;
	if (ieq(k, n, "$Forwarded")) {
		cs->flags |= MF_PASSED;
		k = "$Forwarded";
	}
	if (!keyword_is_atom(k, n) || memchr(k, '\0', n) != NULL) {
		if (!strlist_has(&cs->rejected, k, n))
			strlist_add(&cs->rejected, k, n);
		return;
	}
	const char *p = cs->keywords.buf, *e = p ? p + cs->keywords.len : NULL;
	while (p != NULL && p < e) {
		const char *sp = memchr(p, ' ', (size_t)(e - p));
		const char *we = sp ? sp : e;
		if ((size_t)(we - p) == n && mem_ieq(p, k, n))
			return;
		p = we + 1;
	}
	if (cs->keywords.len > 0)
		sb_appendc(&cs->keywords, ' ');
	sb_append(&cs->keywords, k, n);
}

/* Keywords separated by white space (X-Mozilla-Keys, X-Keywords). */
static void
add_keywords_ws(struct client_state *cs, const char *v, size_t n)
{
	for (size_t i = 0; i < n;) {
		while (i < n && is_ws(v[i]))
			i++;
		size_t s = i;
		while (i < n && !is_ws(v[i]))
			i++;
		add_keyword(cs, v + s, i - s);
	}
}

/* Exactly n hex digits, 1 to 8. */
static bool
hex_exact(const char *p, size_t n, uint32_t *v_r)
{
	uint64_t v;

	if (n == 0 || n > 8 || hex_decode(p, n, &v) != n)
		return false;
	*v_r = (uint32_t)v;
	return true;
}

/* ---- Thunderbird ---------------------------------------------------------------- */

bool
mozilla_status_parse(const char *v, size_t n, uint32_t *bits_r)
{
	trim(&v, &n);
	return n == 4 && hex_exact(v, n, bits_r);
}

bool
mozilla_status2_parse(const char *v, size_t n, uint32_t *bits_r)
{
	trim(&v, &n);
	return hex_exact(v, n, bits_r);
}

static void
apply_mozilla(struct client_state *cs, uint32_t bits, bool have2, uint32_t bits2,
    const char *keys, size_t keys_len)
{
	if (bits & MOZ_READ)
		cs->flags |= MF_SEEN;
	if (bits & MOZ_REPLIED)
		cs->flags |= MF_REPLIED;
	if (bits & MOZ_MARKED)
		cs->flags |= MF_FLAGGED;
	if (bits & MOZ_EXPUNGED) {
		cs->flags |= MF_TRASHED;
		cs->expunged = true;
	}
	if (bits & MOZ_PARTIAL)
		cs->partial = true;
	if (bits & MOZ_FORWARDED)
		cs->flags |= MF_PASSED;
	if (have2) {
		if (bits2 & MOZ2_IMAP_DELETED)
			cs->flags |= MF_TRASHED;
		if (bits2 & MOZ2_MDN_SENT)
			add_keyword(cs, "$MDNSent", 8);
		uint32_t label = (bits2 & MOZ2_LABELS) >> 25;
		if (label != 0) {
			char k[8];
			snprintf(k, sizeof k, "$label%u", label);
			add_keyword(cs, k, strlen(k));
		}
	}
	if (keys != NULL)
		add_keywords_ws(cs, keys, keys_len);
	/* a message Thunderbird still calls new has not been seen */
	cs->old = !(have2 && (bits2 & MOZ2_NEW)) || cs->flags != 0;
}

/* ---- Evolution ------------------------------------------------------------------ */

/* One parameter value: a quoted string (backslash escapes) or a token up
 * to ';'. Advances *pp. */
static void
param_value(const char **pp, const char *e, struct strbuf *out)
{
	const char *p = *pp;

	sb_reset(out);
	while (p < e && is_ws(*p))
		p++;
	if (p < e && *p == '"') {
		for (p++; p < e && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < e)
				p++;
			sb_appendc(out, *p);
		}
		if (p < e)
			p++;
		while (p < e && *p != ';')
			p++;
	} else {
		const char *s = p;
		while (p < e && *p != ';')
			p++;
		const char *t = p;
		while (t > s && is_ws(t[-1]))
			t--;
		sb_append(out, s, (size_t)(t - s));
	}
	*pp = p;
}

bool
evolution_parse(const char *v, size_t n, uint32_t *flags_r, struct strlist *user_flags)
{
	const char *p = v, *e = v + n;
	uint32_t uid, flags;

	while (p < e && is_ws(*p))
		p++;
	const char *t = p;
	while (p < e && *p != ';' && !is_ws(*p))
		p++;
	if (p - t != 13 || t[8] != '-' || !hex_exact(t, 8, &uid) || !hex_exact(t + 9, 4, &flags))
		return false;
	*flags_r = flags;
	struct strbuf val = STRBUF_INIT;
	while ((p = memchr(p, ';', (size_t)(e - p))) != NULL) {
		p++;
		while (p < e && is_ws(*p))
			p++;
		const char *name = p;
		while (p < e && *p != '=' && *p != ';')
			p++;
		if (p == e || *p != '=')
			continue;
		size_t nl = (size_t)(p - name);
		while (nl > 0 && is_ws(name[nl - 1]))
			nl--;
		p++;
		param_value(&p, e, &val);
		if (!ieq(name, nl, "flags") || user_flags == NULL)
			continue;
		for (size_t i = 0, s = 0; i <= val.len; i++) {
			if (i < val.len && val.buf[i] != ',')
				continue;
			const char *f = val.buf + s;
			size_t fl = i - s;
			trim(&f, &fl);
			if (fl > 0)
				strlist_add(user_flags, f, fl);
			s = i + 1;
		}
	}
	sb_free(&val);
	return true;
}

static void
apply_evolution(struct client_state *cs, uint32_t f, const struct strlist *uf)
{
	if (f & EVO_ANSWERED)
		cs->flags |= MF_REPLIED;
	if (f & EVO_DELETED)
		cs->flags |= MF_TRASHED;
	if (f & EVO_DRAFT)
		cs->flags |= MF_DRAFT;
	if (f & EVO_FLAGGED)
		cs->flags |= MF_FLAGGED;
	if (f & EVO_SEEN)
		cs->flags |= MF_SEEN;
	if (f & EVO_FORWARDED)
		cs->flags |= MF_PASSED;
	if (f & EVO_JUNK)
		add_keyword(cs, "$Junk", 5);
	if (f & EVO_NOTJUNK)
		add_keyword(cs, "$NotJunk", 8);
	for (size_t i = 0; i < uf->n; i++)
		add_keyword(cs, uf->v[i], strlen(uf->v[i]));
	cs->old = true;
}

/* ---- Gmail Takeout -------------------------------------------------------------- */

bool
gmail_labels_split(const char *v, size_t n, struct strlist *out)
{
	struct strlist got = { 0 };
	struct strbuf lab = STRBUF_INIT;
	size_t i = 0;

	while (i <= n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		sb_reset(&lab);
		if (i < n && v[i] == '"') {
			bool closed = false;
			for (i++; i < n; i++) {
				if (v[i] == '"') {
					if (i + 1 < n && v[i + 1] == '"') {
						sb_appendc(&lab, '"');
						i++;
						continue;
					}
					closed = true;
					i++;
					break;
				}
				sb_appendc(&lab, v[i]);
			}
			if (!closed) {
				strlist_free(&got);
				sb_free(&lab);
				return false;
			}
			while (i < n && v[i] != ',')     /* bytes after the quote: kept out */
				i++;
		} else {
			size_t s = i;
			while (i < n && v[i] != ',')
				i++;
			const char *p = v + s;
			size_t l = i - s;
			trim(&p, &l);
			sb_append(&lab, p, l);
		}
		if (lab.len > 0)
			strlist_add(&got, lab.buf, lab.len);
		i++;                                  /* the comma */
	}
	for (size_t k = 0; k < got.n; k++)
		strlist_add(out, got.v[k], strlen(got.v[k]));
	strlist_free(&got);
	sb_free(&lab);
	return true;
}

void
label_keyword(const char *label, size_t n, struct strbuf *out)
{
	sb_reset(out);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)label[i];
		bool ok = c > 0x20 && c < 0x7f && strchr("(){%*\"\\]", c) == NULL;
		sb_appendc(out, ok ? (char)c : '_');
	}
	if (out->len > 0 && out->buf[0] == '\\')
		out->buf[0] = '_';
}

enum {
	G_INBOX = 1u << 0, G_SENT = 1u << 1, G_DRAFTS = 1u << 2, G_TRASH = 1u << 3,
	G_SPAM = 1u << 4, G_CHAT = 1u << 5, G_UNREAD = 1u << 6,
};

static void
gmail_add_folder(struct client_state *cs, const char *f)
{
	if (!strlist_has(&cs->folders, f, strlen(f)))
		strlist_add(&cs->folders, f, strlen(f));
}

static void
apply_gmail(struct client_state *cs, const struct strlist *labels, enum label_mode mode)
{
	struct strbuf kw = STRBUF_INIT;
	unsigned sys = 0;

	for (size_t i = 0; i < labels->n; i++) {
		const char *l = labels->v[i];
		size_t n = strlen(l);
		if (ieq(l, n, "Inbox"))
			sys |= G_INBOX;
		else if (ieq(l, n, "Sent"))
			sys |= G_SENT;
		else if (ieq(l, n, "Drafts") || ieq(l, n, "Draft"))
			sys |= G_DRAFTS;
		else if (ieq(l, n, "Trash"))
			sys |= G_TRASH;
		else if (ieq(l, n, "Spam"))
			sys |= G_SPAM;
		else if (ieq(l, n, "Chat") || ieq(l, n, "Chats"))
			sys |= G_CHAT;
		else if (ieq(l, n, "Unread"))
			sys |= G_UNREAD;
		else if (ieq(l, n, "Starred"))
			cs->flags |= MF_FLAGGED;
		else if (ieq(l, n, "Important"))
			add_keyword(cs, "$Important", 10);   /* RFC 8457 */
		else if (ieq(l, n, "Opened") || ieq(l, n, "Archived"))
			;                                   /* read is the default; archived: no Inbox */
		else if (n > 9 && mem_ieq(l, "Category ", 9)) {
			if (mode == LABELS_KEYWORDS) {
				label_keyword(l, n, &kw);
				add_keyword(cs, kw.buf, kw.len);
			}
		} else if (n > 5 && memcmp(l, "IMAP_", 5) == 0) {
			add_keyword(cs, l + 5, n - 5);      /* a keyword set over IMAP */
		} else {
			strlist_add(&cs->labels, l, n);
			if (mode == LABELS_KEYWORDS) {
				label_keyword(l, n, &kw);
				add_keyword(cs, kw.buf, kw.len);
			}
		}
	}
	if (!(sys & G_UNREAD))
		cs->flags |= MF_SEEN;
	if (sys & G_DRAFTS)
		cs->flags |= MF_DRAFT;
	cs->old = true;
	/* Gmail shows Trash and Spam apart from every other label */
	if (sys & G_TRASH) {
		gmail_add_folder(cs, "Trash");
	} else if (sys & G_SPAM) {
		gmail_add_folder(cs, "Junk");
	} else {
		if (sys & G_INBOX)
			gmail_add_folder(cs, "");
		if (sys & G_SENT)
			gmail_add_folder(cs, "Sent");
		if (sys & G_DRAFTS)
			gmail_add_folder(cs, "Drafts");
		if (sys & G_CHAT)
			gmail_add_folder(cs, "Chats");
		for (size_t i = 0; mode == LABELS_FOLDERS && i < cs->labels.n; i++)
			gmail_add_folder(cs, cs->labels.v[i]);
		if (cs->folders.n == 0)
			gmail_add_folder(cs, "Archive");
	}
	sb_free(&kw);
}

/* ---- the precedence ------------------------------------------------------------- */

struct found {
	struct header_field f;
	bool have;
};

static void
find_first(const char *hdr, size_t len, const char *const *names, struct found *out, size_t k,
    size_t kdups, unsigned *dups)
{
	struct header_iter it;
	struct header_field f;
	size_t lens[64];

	/* lengths once, not once per field and name */
	bool any = false;
	for (size_t i = 0; i < k && i < ARRAY_SIZE(lens); i++) {
		lens[i] = strlen(names[i]);
		any = any || header_may_have(hdr, len, names[i], lens[i]);
	}
	if (!any && k <= ARRAY_SIZE(lens))
		return;         /* none of them here */
	header_iter_init(&it, hdr, len);
	while (header_iter_next(&it, &f)) {
		for (size_t i = 0; i < k; i++) {
			size_t nl = i < ARRAY_SIZE(lens) ? lens[i] : strlen(names[i]);
			if (f.name_len != nl || !mem_ieq(f.name, names[i], f.name_len))
				continue;
			if (out[i].have) {
				if (i < kdups)
					(*dups)++;
			}
			else {
				out[i].f = f;
				out[i].have = true;
			}
		}
	}
}

enum { H_GMAIL, H_EVO, H_MOZ, H_MOZ2, H_MOZKEYS, H_XUID, H_XIMAPBASE, H_XIMAP, H_COUNT };

void
clientstate_from_header(const char *hdr, size_t len, const struct clientstate_opts *opts,
    struct client_state *cs)
{
	static const char *const names[H_COUNT] = {
		[H_GMAIL] = "X-Gmail-Labels", [H_EVO] = "X-Evolution",
		[H_MOZ] = "X-Mozilla-Status", [H_MOZ2] = "X-Mozilla-Status2",
		[H_MOZKEYS] = "X-Mozilla-Keys", [H_XUID] = "X-UID", [H_XIMAPBASE] = "X-IMAPbase",
		[H_XIMAP] = "X-IMAP",
	};
	enum label_mode mode = opts ? opts->labels : LABELS_FOLDERS;
	struct found h[H_COUNT] = { 0 };
	struct strbuf v = STRBUF_INIT, dec = STRBUF_INIT;
	struct strlist labels = { 0 }, uf = { 0 };
	struct mbox_state st;
	uint32_t moz = 0, moz2 = 0, evo = 0;

	memset(cs, 0, sizeof *cs);
	find_first(hdr, len, names, h, H_COUNT, H_XUID, &cs->duplicates);

	bool gmail_ok = false, evo_ok = false, moz_ok = false, moz2_ok = false;
	if (h[H_GMAIL].have) {
		header_unfold(h[H_GMAIL].f.value, h[H_GMAIL].f.value_len, &v);
		header_decode_2047(v.buf, v.len, &dec, NULL);
		gmail_ok = gmail_labels_split(dec.buf ? dec.buf : "", dec.len, &labels);
	}
	if (h[H_EVO].have) {
		header_unfold(h[H_EVO].f.value, h[H_EVO].f.value_len, &v);
		evo_ok = evolution_parse(v.buf, v.len, &evo, &uf);
	}
	if (h[H_MOZ].have)
		moz_ok = mozilla_status_parse(h[H_MOZ].f.value, h[H_MOZ].f.value_len, &moz);
	if (h[H_MOZ2].have)
		moz2_ok = mozilla_status2_parse(h[H_MOZ2].f.value, h[H_MOZ2].f.value_len, &moz2);
	cs->bad |= (h[H_GMAIL].have && !gmail_ok ? CS_GMAIL : 0) |
	    (h[H_EVO].have && !evo_ok ? CS_EVOLUTION : 0) |
	    ((h[H_MOZ].have && !moz_ok) || (h[H_MOZ2].have && !moz2_ok) ? CS_MOZILLA : 0);

	flags_from_server_header(hdr, len, &st);
	bool server = st.has_status || st.keywords.len > 0 || st.flags != 0;
	/*
	 * An IMAP server (UW, Dovecot, mailshift's way back from a Maildir)
	 * that gave the message a UID keeps its Status, X-Status and
	 * X-Keywords current, and never touches a client's header beside
	 * them: then the server's are the live ones. Without a UID the
	 * client's header is newer than a Status the server left.
	 */
	bool server_live = server && (h[H_XUID].have || h[H_XIMAPBASE].have || h[H_XIMAP].have);

	if (gmail_ok && !server_live) {
		cs->client = CLIENT_GMAIL;
		apply_gmail(cs, &labels, mode);
	} else if (evo_ok && !server_live) {
		cs->client = CLIENT_EVOLUTION;
		apply_evolution(cs, evo, &uf);
	} else if (moz_ok && !server_live) {
		cs->client = CLIENT_THUNDERBIRD;
		const char *keys = NULL;
		size_t kl = 0;
		if (h[H_MOZKEYS].have) {
			header_unfold(h[H_MOZKEYS].f.value, h[H_MOZKEYS].f.value_len, &v);
			keys = v.buf;
			kl = v.len;
		}
		apply_mozilla(cs, moz, moz2_ok, moz2, keys, kl);
	} else {
		cs->flags = st.flags;
		cs->old = st.old || st.flags != 0;
		add_keywords_ws(cs, st.keywords.buf, st.keywords.len);
		cs->duplicates += st.duplicates;
	}
	if (server_live)
		cs->ignored |= (gmail_ok ? CS_GMAIL : 0) | (evo_ok ? CS_EVOLUTION : 0) |
		    (moz_ok ? CS_MOZILLA : 0);
	if (cs->client != CLIENT_NONE) {
		cs->ignored |= (server ? CS_SERVER : 0) |
		    (cs->client == CLIENT_GMAIL && evo_ok ? CS_EVOLUTION : 0) |
		    (cs->client != CLIENT_THUNDERBIRD && moz_ok ? CS_MOZILLA : 0);
	}
	if (cs->flags & MF_PASSED)
		add_keyword(cs, "$Forwarded", 10);
	if (cs->keywords.buf == NULL)
		sb_append(&cs->keywords, "", 0);

	mbox_state_free(&st);
	strlist_free(&labels);
	strlist_free(&uf);
	sb_free(&v);
	sb_free(&dec);
}
