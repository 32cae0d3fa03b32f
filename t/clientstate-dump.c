/*
 * clientstate-dump.c: a test tool for clientstate.c. It reads an mbox with
 * the project's reader and prints, per message, what clientstate.c makes
 * of its header, one tab-separated line:
 *
 *   MESSAGE-ID  FLAGS  KEYWORDS  FOLDERS  LABELS  OLD  EXPUNGED  CLIENT
 *
 * (keywords SP-separated; folders and labels '|'-separated, "" is INBOX).
 * t/6040 compares the lines with t/gen/clients.py's record.
 *
 *   clientstate-dump [--labels=folders|keywords|none] MBOX
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "clientstate.h"
#include "flags.h"
#include "header.h"
#include "reader.h"
#include "report.h"
#include "util.h"

static void
put_list(const struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		printf("%s%s", i ? "|" : "", l->v[i]);
}

int
main(int argc, char **argv)
{
	struct clientstate_opts o = { .labels = LABELS_FOLDERS };
	static const char *const kinds[] = { "none", "thunderbird", "evolution", "gmail" };
	int i = 1;

	report_init("clientstate-dump");
	if (i < argc && strncmp(argv[i], "--labels=", 9) == 0) {
		const char *m = argv[i++] + 9;
		o.labels = strcmp(m, "keywords") == 0 ? LABELS_KEYWORDS :
		    strcmp(m, "none") == 0 ? LABELS_NONE : LABELS_FOLDERS;
	}
	if (i + 1 != argc) {
		fprintf(stderr, "usage: clientstate-dump [--labels=MODE] MBOX\n");
		return 64;
	}
	struct reader *r;
	struct message m;
	struct strbuf id = STRBUF_INIT;
	int st = reader_open(&r, argv[i], NULL), rc;
	if (st != 0)
		return st;
	while ((rc = reader_next(r, &m, READER_WANT_HEADER)) == 1) {
		struct client_state cs;
		char fl[8];
		clientstate_from_header(m.header, m.header_len, &o, &cs);
		flags_letters(cs.flags, fl);
		if (!header_message_id(m.header, m.header_len, &id))
			sb_reset(&id);
		printf("%s\t%s\t%s\t", id.buf ? id.buf : "", fl, cs.keywords.buf);
		put_list(&cs.folders);
		putchar('\t');
		put_list(&cs.labels);
		printf("\t%d\t%d\t%s\n", cs.old, cs.expunged, kinds[cs.client]);
		client_state_free(&cs);
	}
	reader_close(r);
	sb_free(&id);
	return rc == 0 ? 0 : 1;
}
