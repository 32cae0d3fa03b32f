#!/bin/sh
# Flags and arrival dates, table-driven (SPEC §2.10, §5 W1, W4, X20):
# every Status / X-Status / X-Keywords / X-Mozilla-Status combination ->
# subdirectory and info ($Forwarded is both P and a keyword, Thunderbird's
# X-Mozilla-Status outranks a server's stale Status); From_ dates with and without zones -> mtime;
# a first From_ line without a date -> Received:, then Date:.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

# case | headers (\n-separated) | subdir | info
cat >"$TMP/table" <<'T'
none||new|-
old|Status: O|cur|:2,
read|Status: R|cur|:2,S
read-old|Status: RO|cur|:2,S
old-read|Status: OR|cur|:2,S
legacy-r|status: rO|cur|:2,R
answered|Status: RO\nX-Status: A|cur|:2,RS
flagged|X-Status: F|cur|:2,F
draft|X-Status: T|cur|:2,D
deleted|X-Status: D|cur|:2,T
all-xstatus|X-Status: DFAT|cur|:2,DFRT
everything|Status: RO\nX-Status: DFAT|cur|:2,DFRST
empty-values|Status: \nX-Status: |new|-
forwarded|X-Keywords: $Forwarded|cur|:2,Pa
keyword|X-Keywords: work|cur|:2,b
keywords-2|Status: O\nX-Keywords: work, todo $Forwarded|cur|:2,Pabc
mozilla|X-Mozilla-Status: 0003|cur|:2,RS
mozilla-over-status|Status: O\nX-Mozilla-Status: 0005|cur|:2,FS
duplicate-status|Status: RO\nStatus: R\nX-Status: F|cur|:2,FS
folded|X-Status: A\n F|cur|:2,FR
T

{
	printf 'From MAILER-DAEMON\n'
	printf 'Received: from relay by mx; Tue, 1 Jul 2003 10:52:37 +0200\n'
	printf 'Date: Wed, 2 Jul 2003 00:00:00 +0000\nSubject: no-envelope-date\n\nbody\n\n'
	printf 'From a@example.org Thu Jan 10 16:40:12 2019 +0100\nSubject: zone\n\nbody\n\n'
	printf 'From a@example.org Thu Jan 10 16:40:12 2019\nSubject: utc\n\nbody\n\n'
	while IFS='|' read -r name hdr sub info; do
		printf 'From b@example.org Sat Jan  3 01:05:34 1996\nSubject: case-%s\n' "$name"
		[ -n "$hdr" ] && printf '%b\n' "$hdr"
		printf '\nbody of %s\n\n' "$name"
	done <"$TMP/table"
} >"$TMP/flags.mbox"

D=$TMP/M
"$MAILSHIFT" convert "$TMP/flags.mbox" "$D" 2>"$TMP/err"
expect_eq "exit" $? 0
find_case() { grep -l "^Subject: $1\$" "$D"/new/* "$D"/cur/* 2>/dev/null; }

while IFS='|' read -r name hdr sub info; do
	f=$(find_case "case-$name")
	expect_eq "$name: one file" "$(echo "$f" | grep -c .)" 1
	dir=${f%/*}; dir=${dir##*/}
	expect_eq "$name: subdir" "$dir" "$sub"
	base=${f##*/}
	if [ "$info" = - ]; then
		case $base in *:*) fail "$name: info in new/ ($base)" ;; *) pass ;; esac
	else
		expect_eq "$name: info" ":${base##*:}" "$info"
	fi
	expect_eq "$name: mtime from the From_ line" "$(stat -c %Y "$f")" 820631134
	# the file is the message, headers untouched
	check "$name: content kept" grep -q "^body of $name\$" "$f"
done <"$TMP/table"
expect_eq "keywords file" "$(cat "$D/dovecot-keywords")" "0 \$Forwarded
1 work
2 todo"

expect_eq "numeric zone applied" "$(stat -c %Y "$(find_case zone)")" 1547134812
expect_eq "no zone: UTC" "$(stat -c %Y "$(find_case utc)")" 1547138412
expect_eq "no From_ date: topmost Received" "$(stat -c %Y "$(find_case no-envelope-date)")" 1057049557
check "fallback reported" grep -q "flags.mbox:0: no date in the From_ line; arrival date taken from Received:" "$TMP/err"

# --local-time: zone-less From_ dates are local time
TZ=EST5 "$MAILSHIFT" convert -q --local-time "$TMP/flags.mbox" "$TMP/L"
f=$(grep -l '^Subject: utc$' "$TMP"/L/new/*)
expect_eq "--local-time EST5" "$(stat -c %Y "$f")" $((1547138412 + 5 * 3600))
done_testing
