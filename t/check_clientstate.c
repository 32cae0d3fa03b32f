/*
 * check_clientstate.c: unit tests for clientstate.c (SPEC §2.8, §2.10):
 * every X-Mozilla-Status and X-Mozilla-Status2 bit, X-Mozilla-Keys,
 * every X-Evolution flag bit and its user flags, the X-Gmail-Labels syntax
 * and each system label in the three label modes, $Forwarded as flag and
 * keyword, and the precedence of the clients' headers over a server's.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clientstate.h"
#include "flags.h"
#include "message.h"
#include "report.h"
#include "util.h"

#define L(s) s, sizeof(s) - 1

/* flags as maildir letters, for readable expectations */
static const char *
letters(uint32_t f)
{
	static char buf[8];

	flags_letters(f, buf);
	return buf;
}

static const char *
joined(const struct strlist *l)
{
	static char buf[1024];
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < l->n && o < sizeof buf - 2; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", i ? "|" : "", l->v[i]);
	return buf;
}

static void
read_header(const char *hdr, enum label_mode mode, struct client_state *cs)
{
	struct clientstate_opts o = { .labels = mode };

	clientstate_from_header(hdr, strlen(hdr), &o, cs);
}

/* ---- Thunderbird --------------------------------------------------------------- */

START_TEST(test_mozilla_values)
{
	uint32_t b = 77;

	ck_assert(mozilla_status_parse(L("0001"), &b) && b == 1);
	ck_assert(mozilla_status_parse(L(" 100b \r\n"), &b) && b == 0x100b);
	ck_assert(mozilla_status_parse(L("8009"), &b) && b == 0x8009);
	ck_assert(!mozilla_status_parse(L("001"), &b));
	ck_assert(!mozilla_status_parse(L("00001"), &b));
	ck_assert(!mozilla_status_parse(L("zz01"), &b));
	ck_assert(!mozilla_status_parse(L("00 1"), &b));
	ck_assert(!mozilla_status_parse(L(""), &b));
	ck_assert(mozilla_status2_parse(L("00010000"), &b) && b == 0x10000);
	ck_assert(mozilla_status2_parse(L(" 1000000A "), &b) && b == 0x1000000a);
	ck_assert(mozilla_status2_parse(L("0"), &b) && b == 0);
	ck_assert(!mozilla_status2_parse(L("123456789"), &b));
	ck_assert(!mozilla_status2_parse(L("x"), &b));
	ck_assert(!mozilla_status2_parse(L(""), &b));
}
END_TEST

/* Every bit of X-Mozilla-Status on its own. */
static const struct {
	uint32_t bit;
	const char *flags;
	const char *keywords;
	bool expunged, partial;
} moz_bits[] = {
	{ 0x0001, "S", "", false, false },          /* Read */
	{ 0x0002, "R", "", false, false },          /* Replied */
	{ 0x0004, "F", "", false, false },          /* Marked */
	{ 0x0008, "T", "", true, false },           /* Expunged, not yet compacted */
	{ 0x0010, "", "", false, false },           /* HasRe */
	{ 0x0020, "", "", false, false },           /* Elided */
	{ 0x0040, "", "", false, false },           /* FeedMsg */
	{ 0x0080, "", "", false, false },           /* Offline */
	{ 0x0100, "", "", false, false },           /* Watched */
	{ 0x0200, "", "", false, false },           /* SenderAuthed */
	{ 0x0400, "", "", false, true },            /* Partial */
	{ 0x0800, "", "", false, false },           /* Queued */
	{ 0x1000, "P", "$Forwarded", false, false },/* Forwarded */
	{ 0x2000, "", "", false, false },           /* priority bits, not flags */
	{ 0x4000, "", "", false, false },
	{ 0x8000, "", "", false, false },
};

START_TEST(test_mozilla_bits)
{
	struct client_state cs;
	char hdr[128];

	snprintf(hdr, sizeof hdr, "Status: RO\nX-Mozilla-Status: %04x\nSubject: x\n\n",
	    moz_bits[_i].bit);
	read_header(hdr, LABELS_FOLDERS, &cs);
	ck_assert_int_eq(cs.client, CLIENT_THUNDERBIRD);
	ck_assert_str_eq(letters(cs.flags), moz_bits[_i].flags);
	ck_assert_str_eq(cs.keywords.buf, moz_bits[_i].keywords);
	ck_assert_int_eq(cs.expunged, moz_bits[_i].expunged);
	ck_assert_int_eq(cs.partial, moz_bits[_i].partial);
	ck_assert(cs.old);                          /* Thunderbird has seen it */
	ck_assert_uint_eq(cs.ignored, CS_SERVER);   /* the stale Status: RO */
	client_state_free(&cs);
}
END_TEST

/* Every combination of the five bits that are flags. */
START_TEST(test_mozilla_combinations)
{
	static const uint32_t bits[] = { 0x0001, 0x0002, 0x0004, 0x0008, 0x1000 };
	static const uint32_t mf[] = { MF_SEEN, MF_REPLIED, MF_FLAGGED, MF_TRASHED, MF_PASSED };
	struct client_state cs;
	uint32_t v = 0, want = 0;
	char hdr[128];

	for (int i = 0; i < 5; i++)
		if (_i & (1 << i)) {
			v |= bits[i];
			want |= mf[i];
		}
	snprintf(hdr, sizeof hdr, "X-Mozilla-Status: %04x\nX-Mozilla-Status2: 00000000\n\n", v);
	read_header(hdr, LABELS_FOLDERS, &cs);
	ck_assert_uint_eq(cs.flags, want);
	ck_assert_int_eq(cs.expunged, (v & 0x0008) != 0);
	ck_assert_str_eq(cs.keywords.buf, (v & 0x1000) ? "$Forwarded" : "");
	client_state_free(&cs);
}
END_TEST

static const struct {
	const char *status2;
	const char *flags;
	const char *keywords;
	bool old;
} moz2_cases[] = {
	{ "00010000", "", "", false },              /* New: not seen yet */
	{ "00040000", "", "", true },               /* Ignored thread */
	{ "00200000", "T", "", true },              /* IMAPDeleted */
	{ "00400000", "", "", true },               /* MDNReportNeeded */
	{ "00800000", "", "$MDNSent", true },       /* MDNReportSent */
	{ "01000000", "", "", true },               /* Template */
	{ "02000000", "", "$label1", true },        /* label 1 (Important) */
	{ "0a000000", "", "$label5", true },        /* label 5 (Later) */
	{ "0e000000", "", "$label7", true },
	{ "10000000", "", "", true },               /* Attachment */
	{ "00810000", "", "$MDNSent", false },
	{ "xyz", "", "", true },                    /* malformed: Status2 not used */
};

START_TEST(test_mozilla_status2)
{
	struct client_state cs;
	char hdr[128];

	snprintf(hdr, sizeof hdr, "X-Mozilla-Status: 0000\nX-Mozilla-Status2: %s\n\n",
	    moz2_cases[_i].status2);
	read_header(hdr, LABELS_FOLDERS, &cs);
	ck_assert_str_eq(letters(cs.flags), moz2_cases[_i].flags);
	ck_assert_str_eq(cs.keywords.buf, moz2_cases[_i].keywords);
	ck_assert_int_eq(cs.old, moz2_cases[_i].old);
	ck_assert_uint_eq(cs.bad, _i == 11 ? CS_MOZILLA : 0u);
	client_state_free(&cs);
	/* a new message that has a flag has been seen all the same */
	snprintf(hdr, sizeof hdr, "X-Mozilla-Status: 0004\nX-Mozilla-Status2: 00010000\n\n");
	read_header(hdr, LABELS_FOLDERS, &cs);
	ck_assert(cs.old);
	client_state_free(&cs);
}
END_TEST

START_TEST(test_mozilla_keys)
{
	struct client_state cs;

	read_header("X-Mozilla-Status: 0001\nX-Mozilla-Status2: 00000000\n"
	    "X-Mozilla-Keys: $label1 work todo work $Forwarded bad]"
	    "                                                  \n\n", LABELS_FOLDERS, &cs);
	ck_assert_str_eq(letters(cs.flags), "PS");
	ck_assert_str_eq(cs.keywords.buf, "$label1 work todo $Forwarded");
	ck_assert_str_eq(joined(&cs.rejected), "bad]");
	client_state_free(&cs);
}
END_TEST

/* The issue the precedence fixes: Thunderbird never updates Status. */
START_TEST(test_mozilla_over_status)
{
	struct client_state cs;

	read_header("From: a@b\nStatus: O\nX-Status: \nX-Keywords: stale\n"
	    "X-Mozilla-Status: 0005\nX-Mozilla-Status2: 00000000\n\n", LABELS_FOLDERS, &cs);
	ck_assert_int_eq(cs.client, CLIENT_THUNDERBIRD);
	ck_assert_str_eq(letters(cs.flags), "FS");
	ck_assert_str_eq(cs.keywords.buf, "");
	ck_assert_uint_eq(cs.ignored, CS_SERVER);
	client_state_free(&cs);
	/* a malformed X-Mozilla-Status leaves the server's word */
	read_header("Status: RO\nX-Status: A\nX-Mozilla-Status: 12\n\n", LABELS_FOLDERS, &cs);
	ck_assert_int_eq(cs.client, CLIENT_NONE);
	ck_assert_str_eq(letters(cs.flags), "RS");
	ck_assert_uint_eq(cs.bad, CS_MOZILLA);
	client_state_free(&cs);
	/* repeated: the first counts */
	read_header("X-Mozilla-Status: 0001\nX-Mozilla-Status: 0004\n\n", LABELS_FOLDERS, &cs);
	ck_assert_str_eq(letters(cs.flags), "S");
	ck_assert_uint_eq(cs.duplicates, 1);
	client_state_free(&cs);
}
END_TEST

/* A message with a UID: an IMAP server kept Status, X-Status, X-Keywords
 * current; they win over every client's header. */
START_TEST(test_uid_server_live)
{
	static const char *const uid[] = { "X-UID: 7\n", "X-IMAPbase: 1 9\n", "X-IMAP: 1 9\n" };
	static const char *const client[] = {
		"X-Mozilla-Status: 0001\nX-Mozilla-Status2: 00000000\n",
		"X-Evolution: 00000001-0010\n",
		"X-Gmail-Labels: Inbox,Opened,Starred\n",
	};
	struct client_state cs;

	for (size_t i = 0; i < ARRAY_SIZE(uid); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(client); j++) {
			char *h = xasprintf("From: a@b\n%sStatus: O\nX-Status: F\nX-Keywords: work\n%s\n",
			    client[j], uid[i]);
			read_header(h, LABELS_FOLDERS, &cs);
			ck_assert_int_eq(cs.client, CLIENT_NONE);
			ck_assert_str_eq(letters(cs.flags), "F");
			ck_assert_str_eq(cs.keywords.buf, "work");
			ck_assert_uint_eq(cs.ignored, j == 0 ? CS_MOZILLA : j == 1 ? CS_EVOLUTION : CS_GMAIL);
			ck_assert_uint_eq(cs.duplicates, 0);
			client_state_free(&cs);
			free(h);
		}
	}
	/* a UID without Status/X-Status/X-Keywords leaves the client's word */
	read_header("X-Mozilla-Status: 0001\nX-UID: 7\n\n", LABELS_FOLDERS, &cs);
	ck_assert_int_eq(cs.client, CLIENT_THUNDERBIRD);
	ck_assert_str_eq(letters(cs.flags), "S");
	client_state_free(&cs);
}
END_TEST

/* ---- Evolution ------------------------------------------------------------------ */

START_TEST(test_evolution_values)
{
	struct strlist uf = { 0 };
	uint32_t f = 0;

	ck_assert(evolution_parse(L("00000001-0010"), &f, &uf) && f == 0x10 && uf.n == 0);
	ck_assert(evolution_parse(L(" 0000002a-0419; flags=$Labelimportant,junk; tags=a=b"), &f,
	    &uf));
	ck_assert_uint_eq(f, 0x419);
	ck_assert_str_eq(joined(&uf), "$Labelimportant|junk");
	strlist_free(&uf);
	ck_assert(evolution_parse(L("00000001-0000; flags=\"a,b c\" ; x=y"), &f, &uf));
	ck_assert_str_eq(joined(&uf), "a|b c");
	strlist_free(&uf);
	ck_assert(!evolution_parse(L("1-10"), &f, &uf));
	ck_assert(!evolution_parse(L("00000001-001"), &f, &uf));
	ck_assert(!evolution_parse(L("00000001-00100"), &f, &uf));
	ck_assert(!evolution_parse(L("0000000g-0010"), &f, &uf));
	ck_assert(!evolution_parse(L("00000001_0010"), &f, &uf));
	ck_assert(!evolution_parse(L(""), &f, &uf));
	ck_assert_uint_eq(uf.n, 0);
}
END_TEST

static const struct {
	uint32_t bit;
	const char *flags;
	const char *keywords;
} evo_bits[] = {
	{ 0x001, "R", "" },              /* answered */
	{ 0x002, "T", "" },              /* deleted */
	{ 0x004, "D", "" },              /* draft */
	{ 0x008, "F", "" },              /* flagged */
	{ 0x010, "S", "" },              /* seen */
	{ 0x020, "", "" },               /* attachments */
	{ 0x040, "", "" },               /* answered to all */
	{ 0x080, "", "$Junk" },
	{ 0x100, "", "" },               /* secure */
	{ 0x200, "", "$NotJunk" },
	{ 0x400, "P", "$Forwarded" },
};

START_TEST(test_evolution_bits)
{
	struct client_state cs;
	char hdr[128];

	snprintf(hdr, sizeof hdr, "X-Evolution: 0000abcd-%04x\nStatus: O\n\n", evo_bits[_i].bit);
	read_header(hdr, LABELS_FOLDERS, &cs);
	ck_assert_int_eq(cs.client, CLIENT_EVOLUTION);
	ck_assert_str_eq(letters(cs.flags), evo_bits[_i].flags);
	ck_assert_str_eq(cs.keywords.buf, evo_bits[_i].keywords);
	ck_assert(cs.old);
	client_state_free(&cs);
}
END_TEST

START_TEST(test_evolution_combinations)
{
	static const uint32_t mf[] = { MF_REPLIED, MF_TRASHED, MF_DRAFT, MF_FLAGGED, MF_SEEN };
	struct client_state cs;
	uint32_t want = 0;
	char hdr[128];

	for (int i = 0; i < 5; i++)
		if (_i & (1 << i))
			want |= mf[i];
	snprintf(hdr, sizeof hdr, "X-Evolution: 00000007-%04x\n\n", (unsigned)_i);
	read_header(hdr, LABELS_FOLDERS, &cs);
	ck_assert_uint_eq(cs.flags, want);
	client_state_free(&cs);
}
END_TEST

START_TEST(test_evolution_precedence)
{
	struct client_state cs;

	read_header("Status: RO\nX-Status: AF\nX-Mozilla-Status: 0001\n"
	    "X-Evolution: 00000010-0008; flags=work,Later\n\n", LABELS_FOLDERS, &cs);
	ck_assert_int_eq(cs.client, CLIENT_EVOLUTION);
	ck_assert_str_eq(letters(cs.flags), "F");
	ck_assert_str_eq(cs.keywords.buf, "work Later");
	ck_assert_uint_eq(cs.ignored, CS_SERVER | CS_MOZILLA);
	client_state_free(&cs);
	read_header("X-Evolution: 123\nX-Mozilla-Status: 0002\n\n", LABELS_FOLDERS, &cs);
	ck_assert_int_eq(cs.client, CLIENT_THUNDERBIRD);
	ck_assert_str_eq(letters(cs.flags), "R");
	ck_assert_uint_eq(cs.bad, CS_EVOLUTION);
	client_state_free(&cs);
}
END_TEST

/* ---- Gmail Takeout -------------------------------------------------------------- */

static const struct {
	const char *v;
	bool ok;
	const char *labels;
} split_cases[] = {
	{ "Inbox,Work", true, "Inbox|Work" },
	{ " Inbox , Sent ,", true, "Inbox|Sent" },
	{ "\"Receipts, 2019\",Inbox", true, "Receipts, 2019|Inbox" },
	{ "\"Say \"\"hi\"\"\",x", true, "Say \"hi\"|x" },
	{ "Work/Projects,Work/Projects/2020", true, "Work/Projects|Work/Projects/2020" },
	{ "\"a\"junk,b", true, "a|b" },
	{ "", true, "" },
	{ ",,", true, "" },
	{ "\"unclosed,Inbox", false, "" },
	{ "Category Personal,Opened", true, "Category Personal|Opened" },
};

START_TEST(test_gmail_split)
{
	struct strlist l = { 0 };
	const char *v = split_cases[_i].v;

	ck_assert_int_eq(gmail_labels_split(v, strlen(v), &l), split_cases[_i].ok);
	ck_assert_str_eq(joined(&l), split_cases[_i].labels);
	strlist_free(&l);
}
END_TEST

/* System labels and user labels in each mode. */
static const struct {
	const char *labels;
	enum label_mode mode;
	const char *flags, *keywords, *folders, *user;
} gmail_cases[] = {
	{ "Inbox,Opened", LABELS_FOLDERS, "S", "", "", "" },
	{ "Inbox,Unread", LABELS_FOLDERS, "", "", "", "" },
	{ "Inbox,Unread,Starred,Important", LABELS_FOLDERS, "F", "$Important", "", "" },
	{ "Sent,Opened", LABELS_FOLDERS, "S", "", "Sent", "" },
	{ "Drafts", LABELS_FOLDERS, "DS", "", "Drafts", "" },
	{ "Trash,Inbox,Work,Opened", LABELS_FOLDERS, "S", "", "Trash", "Work" },
	{ "Spam,Inbox,Unread", LABELS_FOLDERS, "", "", "Junk", "" },
	{ "Spam,Trash", LABELS_FOLDERS, "S", "", "Trash", "" },
	{ "Archived,Category Updates,Opened", LABELS_FOLDERS, "S", "", "Archive", "" },
	{ "Archived,Category Updates,Opened", LABELS_KEYWORDS, "S", "Category_Updates", "Archive",
	  "" },
	{ "Chat,Opened", LABELS_FOLDERS, "S", "", "Chats", "" },
	{ "Inbox,IMAP_$Forwarded,IMAP_$Junk", LABELS_FOLDERS, "PS", "$Forwarded $Junk", "", "" },
	{ "Inbox,Work,Work/Projects,Opened", LABELS_FOLDERS, "S", "", "|Work|Work/Projects",
	  "Work|Work/Projects" },
	{ "Inbox,Work,Work/Projects,Opened", LABELS_KEYWORDS, "S", "Work Work/Projects", "",
	  "Work|Work/Projects" },
	{ "Inbox,Work,Work/Projects,Opened", LABELS_NONE, "S", "", "", "Work|Work/Projects" },
	{ "Archived,\"Receipts, 2019\"", LABELS_FOLDERS, "S", "", "Receipts, 2019",
	  "Receipts, 2019" },
	{ "Archived,\"Receipts, 2019\"", LABELS_KEYWORDS, "S", "Receipts,_2019", "Archive",
	  "Receipts, 2019" },
	{ "Archived,Work", LABELS_NONE, "S", "", "Archive", "Work" },
	{ "Sent,Inbox,Opened", LABELS_FOLDERS, "S", "", "|Sent", "" },
};

START_TEST(test_gmail_labels)
{
	struct client_state cs;
	char hdr[256];

	snprintf(hdr, sizeof hdr, "X-GM-THRID: 1\nX-Gmail-Labels: %s\nFrom: a@b\n\n",
	    gmail_cases[_i].labels);
	read_header(hdr, gmail_cases[_i].mode, &cs);
	ck_assert_int_eq(cs.client, CLIENT_GMAIL);
	ck_assert_str_eq(letters(cs.flags), gmail_cases[_i].flags);
	ck_assert_str_eq(cs.keywords.buf, gmail_cases[_i].keywords);
	ck_assert_str_eq(joined(&cs.folders), gmail_cases[_i].folders);
	ck_assert_str_eq(joined(&cs.labels), gmail_cases[_i].user);
	ck_assert(cs.old);
	client_state_free(&cs);
}
END_TEST

START_TEST(test_gmail_encoded_folded)
{
	struct client_state cs;

	/* Takeout's CRLF, a folded value, an encoded word for a UTF-8 label */
	read_header("X-Gmail-Labels: Inbox,=?UTF-8?Q?Pers=C3=B6nlich?=,\r\n Opened\r\n"
	    "Status: O\r\n\r\n", LABELS_FOLDERS, &cs);
	ck_assert_str_eq(joined(&cs.labels), "Pers\xc3\xb6nlich");
	ck_assert_str_eq(joined(&cs.folders), "|Pers\xc3\xb6nlich");
	ck_assert_str_eq(letters(cs.flags), "S");
	ck_assert_uint_eq(cs.ignored, CS_SERVER);
	client_state_free(&cs);
	read_header("X-Gmail-Labels: Inbox,=?UTF-8?Q?Pers=C3=B6nlich?=\n\n", LABELS_KEYWORDS, &cs);
	ck_assert_str_eq(cs.keywords.buf, "Pers__nlich");
	client_state_free(&cs);
	/* malformed: the next header speaks, the bad one is named */
	read_header("X-Gmail-Labels: \"Inbox\nX-Mozilla-Status: 0001\n\n", LABELS_FOLDERS, &cs);
	ck_assert_int_eq(cs.client, CLIENT_THUNDERBIRD);
	ck_assert_uint_eq(cs.bad, CS_GMAIL);
	ck_assert_uint_eq(cs.folders.n, 0);
	client_state_free(&cs);
	/* Gmail outranks the others */
	read_header("X-Mozilla-Status: 0004\nX-Evolution: 00000001-0001\n"
	    "X-Gmail-Labels: Inbox,Unread\n\n", LABELS_FOLDERS, &cs);
	ck_assert_int_eq(cs.client, CLIENT_GMAIL);
	ck_assert_str_eq(letters(cs.flags), "");
	ck_assert_uint_eq(cs.ignored, CS_EVOLUTION | CS_MOZILLA);
	client_state_free(&cs);
}
END_TEST

START_TEST(test_label_keyword)
{
	struct strbuf sb = STRBUF_INIT;

	label_keyword(L("Receipts 2019"), &sb);
	ck_assert_str_eq(sb.buf, "Receipts_2019");
	label_keyword(L("a(b)%*\"{]x"), &sb);
	ck_assert_str_eq(sb.buf, "a_b______x");
	label_keyword(L("\\Seen"), &sb);
	ck_assert_str_eq(sb.buf, "_Seen");
	label_keyword(L("Work/Projects"), &sb);
	ck_assert_str_eq(sb.buf, "Work/Projects");
	sb_free(&sb);
}
END_TEST

/* ---- no client ------------------------------------------------------------------ */

START_TEST(test_server_only)
{
	struct client_state cs;

	read_header("Status: RO\nX-Status: AF\nX-Keywords: $Forwarded work\n\n", LABELS_FOLDERS, &cs);
	ck_assert_int_eq(cs.client, CLIENT_NONE);
	ck_assert_str_eq(letters(cs.flags), "FPRS");
	/* $Forwarded is the flag P and the keyword Dovecot shows */
	ck_assert_str_eq(cs.keywords.buf, "work $Forwarded");
	ck_assert(cs.old);
	ck_assert_uint_eq(cs.ignored, 0);
	client_state_free(&cs);
	read_header("Subject: nothing\n\n", LABELS_FOLDERS, &cs);
	ck_assert_uint_eq(cs.flags, 0);
	ck_assert(!cs.old);
	ck_assert_str_eq(cs.keywords.buf, "");
	client_state_free(&cs);
	/* X-Mozilla-Keys alone is no Thunderbird word */
	read_header("Status: O\nX-Mozilla-Keys: work\n\n", LABELS_FOLDERS, &cs);
	ck_assert_int_eq(cs.client, CLIENT_NONE);
	ck_assert_str_eq(cs.keywords.buf, "");
	ck_assert(cs.old);
	client_state_free(&cs);
}
END_TEST

static Suite *
clientstate_suite(void)
{
	Suite *s = suite_create("clientstate");
	TCase *tc = tcase_create("thunderbird");

	tcase_add_test(tc, test_mozilla_values);
	tcase_add_loop_test(tc, test_mozilla_bits, 0, ARRAY_SIZE(moz_bits));
	tcase_add_loop_test(tc, test_mozilla_combinations, 0, 32);
	tcase_add_loop_test(tc, test_mozilla_status2, 0, ARRAY_SIZE(moz2_cases));
	tcase_add_test(tc, test_mozilla_keys);
	tcase_add_test(tc, test_mozilla_over_status);
	tcase_add_test(tc, test_uid_server_live);
	suite_add_tcase(s, tc);

	tc = tcase_create("evolution");
	tcase_add_test(tc, test_evolution_values);
	tcase_add_loop_test(tc, test_evolution_bits, 0, ARRAY_SIZE(evo_bits));
	tcase_add_loop_test(tc, test_evolution_combinations, 0, 32);
	tcase_add_test(tc, test_evolution_precedence);
	suite_add_tcase(s, tc);

	tc = tcase_create("gmail");
	tcase_add_loop_test(tc, test_gmail_split, 0, ARRAY_SIZE(split_cases));
	tcase_add_loop_test(tc, test_gmail_labels, 0, ARRAY_SIZE(gmail_cases));
	tcase_add_test(tc, test_gmail_encoded_folded);
	tcase_add_test(tc, test_label_keyword);
	tcase_add_test(tc, test_server_only);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	report_init("check_clientstate");
	SRunner *sr = srunner_create(clientstate_suite());

	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
