#!/bin/sh
# Malformed input is counted and shown, never dropped (SPEC §3.4, §3.7-3.9):
# a malformed Date:, no Date:, a date in the future, no From:, From:
# without an address, undecodable encoded words (unknown charset, bad
# base64), raw 8-bit and NUL bytes in a header, no final newline; and the
# date fallbacks of a Maildir: mtime, then the name's seconds when the
# mtime is 0 (SPEC §5 M7).
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need python3
jget() { python3 -c "import json,sys; d = json.load(open(sys.argv[1])); print(($2))" "$1"; }

M="$TMP/bad.mbox"
{
	printf 'From a@x Mon Jan  1 00:00:00 2001\nDate: Tue, 32 Foo 2003 99:99:99 +0000\n'
	printf 'From: =?x-unknown-charset?Q?Bad?= <bad@Example.ORG>\nSubject: caf\351\n\nbody\n\n'
	printf 'From b@x Tue Jan  1 00:00:00 2002\nDate: Tue, 1 Jan 2002 10:00:00 +0000\nSubject: no from\n\nbody\n\n'
	printf 'From c@x Wed Jan  1 00:00:00 2003\nFrom: undisclosed-recipients:;\nSubject: no date\n\nbody\n\n'
	printf 'From d@x Thu Jan  1 00:00:00 2004\nDate: Thu, 1 Jan 2004 10:00:00 +0000\n'
	printf 'From: "=?UTF-8?Q?J=C3=B6rg?=" <Joerg@Example.Net>\nSubject: nul \000 byte\n\nbody\n\n'
	printf 'From e@x Sat Jan  1 00:00:00 2005\nDate: Sat, 1 Jan 2005 10:00:00 +0000\n'
	printf 'From: =?utf-8?B?!!!*?= <x@y.example>\n\nbody\n\n'
	printf 'From f@x Sun Jan  1 00:00:00 2006\nDate: Thu, 1 Jan 2099 10:00:00 +0000\nFrom: future@y.example\n\nbody\n\n'
	printf 'From g@x Mon Jan  1 00:00:00 2007\r\nFrom: last@y.example\r\nDate: Mon, 1 Jan 2007 10:00:00 +0000\r\n\r\nno final newline'
} >"$M"
"$MAILSHIFT" stats --json --top=10 "$M" >"$TMP/j" 2>"$TMP/err"
expect_eq "exit" "$?" 0
check "valid JSON" python3 -m json.tool "$TMP/j" "$TMP/j.pretty"
expect_eq "every message counted" "$(jget "$TMP/j" 'd["total"]["messages"], d["total"]["bytes"]')" "(7, $(($(wc -c <"$M") - 7 * 34 - 6 * 1 - 1)))"
expect_eq "dates" "$(jget "$TMP/j" '[d["total"]["dates"][k] for k in ("from_date", "from_envelope", "from_mtime", "undated", "malformed", "missing", "suspicious", "fallbacks")]')" \
	"[5, 2, 0, 0, 1, 1, 1, 2]"
expect_eq "the malformed Date: falls back to the From_ line (2001), the future one is used (2099)" \
	"$(jget "$TMP/j" 'sorted(d["total"]["by_year"].items())')" \
	"[('2001', 1), ('2002', 1), ('2003', 1), ('2004', 1), ('2005', 1), ('2007', 1), ('2099', 1)]"
expect_eq "headers" "$(jget "$TMP/j" '[d["total"]["headers"][k] for k in ("no_from", "from_without_address", "bad_encoded_words", "eight_bit")]')" \
	"[1, 1, 2, 1]"
expect_eq "senders" "$(jget "$TMP/j" '[(s["address"], s["name"], s["messages"]) for s in d["total"]["senders"]]')" \
	"[('(none)', None, 2), ('bad@example.org', '=?x-unknown-charset?Q?Bad?=', 1), ('future@y.example', None, 1), ('joerg@example.net', 'Jörg', 1), ('last@y.example', None, 1), ('x@y.example', '=?utf-8?B?!!!*?=', 1)]"
expect_eq "domains" "$(jget "$TMP/j" '[(s["domain"], s["messages"]) for s in d["total"]["domains"]]')" \
	"[('y.example', 3), ('(none)', 2), ('example.net', 1), ('example.org', 1)]"
"$MAILSHIFT" stats -q "$M" >"$TMP/t"
check "text: (none) sender shown" grep -q '^  *2  (none)$' "$TMP/t"
check "text: problems shown" grep -q '1 malformed Date:, 1 without Date:, 1 suspicious date,' "$TMP/t"
check "text: undecodable words shown" grep -q '2 undecodable encoded words, 1 with 8-bit bytes' "$TMP/t"

# a long display name in wide (CJK) characters is cut to 80 terminal columns
{
	printf 'From a@x Mon Jan  1 00:00:00 2001\nDate: Mon, 1 Jan 2001 00:00:00 +0000\nFrom: =?UTF-8?B?'
	printf '\345\261\261\347\224\260\345\244\252\351\203\216%.0s' 1 2 3 4 5 6 7 8 | base64 -w0
	printf '?= <yamada@example.jp>\n\nx\n'
} >"$TMP/cjk.mbox"
"$MAILSHIFT" stats -q "$TMP/cjk.mbox" >"$TMP/cjk.txt"
expect_eq "wide name: cut with ..." "$(grep -c 'yamada@example.jp  .*\.\.\.$' "$TMP/cjk.txt")" 1
expect_eq "wide name: at most 72 columns" "$(python3 -c '
import sys, unicodedata
w = max(sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in l.rstrip("\n"))
        for l in open(sys.argv[1], encoding="utf-8"))
print(w)' "$TMP/cjk.txt")" 72

# Maildir: no Date: -> mtime; mtime 0 -> the seconds of the name
D="$TMP/md"
mkdir -p "$D/cur" "$D/new" "$D/tmp"
printf 'From: a@b.example\nSubject: no date\n\nx\n' >"$D/cur/1100000000.M1P1.host:2,S"
printf 'From: a@b.example\nSubject: no date\n\nx\n' >"$D/new/1200000000.M2P2.host"
printf 'From: a@b.example\nDate: junk\n\nx\n' >"$D/new/junk-name"
touch -d '2005-06-01 12:00:00 UTC' "$D/cur/1100000000.M1P1.host:2,S"
touch -d @0 "$D/new/1200000000.M2P2.host" "$D/new/junk-name"
"$MAILSHIFT" stats -q --json "$D" >"$TMP/m"
expect_eq "maildir dates" "$(jget "$TMP/m" '[d["total"]["dates"][k] for k in ("from_date", "from_envelope", "from_mtime", "undated", "malformed", "missing")]')" \
	"[0, 0, 2, 1, 1, 2]"
expect_eq "maildir years: mtime 2005, name 2008 (1200000000)" "$(jget "$TMP/m" 'sorted(d["total"]["by_year"].items())')" \
	"[('2005', 1), ('2008', 1)]"
expect_eq "maildir: undated still counted" "$(jget "$TMP/m" 'd["total"]["messages"], d["total"]["flags"]["new"], d["total"]["flags"]["seen"]')" "(3, 2, 1)"
done_testing
