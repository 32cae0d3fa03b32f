#!/bin/sh
# mailshift stats on t/data/sample.mbox (every figure from t/data/README),
# the same mailbox as the Maildir converted from it with its metadata
# headers kept (same totals; mbox
# bytes exclude From_ lines, separators and quoting), a generated Maildir++
# tree with -r against Python's mailbox (t/oracle/pystats.py), --counts
# reading names only, duplicates and attachments, the JSON, CSV and text
# outputs, and usage errors.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need python3

S="$DATA/sample.mbox"
# jget FILE EXPR: a Python expression over d = the JSON document
jget() { python3 -c "import json,sys; d = json.load(open(sys.argv[1])); print(($2))" "$1" "$TMP/s.json"; }

"$MAILSHIFT" stats --json "$S" >"$TMP/s.json" 2>"$TMP/err"
expect_eq "sample: exit" "$?" 0
check "sample: valid JSON" python3 -m json.tool "$TMP/s.json" "$TMP/s.pretty"
check "sample: the unquoted From line is warned about" grep -q "sample.mbox:17524: unquoted From_ line" "$TMP/err"
expect_eq "sample: messages, bytes" "$(jget "$TMP/s.json" 'd["total"]["messages"], d["total"]["bytes"]')" "(40, 42975)"
expect_eq "sample: flags" "$(jget "$TMP/s.json" 'sorted(d["total"]["flags"].items())')" \
	"[('draft', 1), ('flagged', 3), ('new', 15), ('passed', 1), ('replied', 6), ('seen', 17), ('trashed', 1), ('unread', 23)]"
expect_eq "sample: keywords" "$(jget "$TMP/s.json" 'd["total"]["keywords"]')" "{'\$Forwarded': 1, 'todo': 1, 'work': 2}"
# years of the From_ dates in t/data/README's table
want=$(awk '$1 ~ /^[0-9]+$/ && NF >= 7 && length($7) == 10 { print $7 }' "$DATA/README" |
	while read -r t; do date -u -d "@$t" +%Y; done | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
expect_eq "sample: per year" "$(jget "$TMP/s.json" '" ".join("%s:%d" % kv for kv in sorted(d["total"]["by_year"].items())) + " "')" "$want"
expect_eq "sample: date sources (message 14 has no Date:)" \
	"$(jget "$TMP/s.json" '[d["total"]["dates"][k] for k in ("from_date", "from_envelope", "from_mtime", "undated", "missing", "malformed", "fallbacks")]')" \
	"[39, 1, 0, 0, 1, 0, 1]"
expect_eq "sample: range" "$(jget "$TMP/s.json" 'd["total"]["dates"]["oldest"], d["total"]["dates"]["newest"]')" \
	"('2019-01-08T08:02:05Z', '2025-03-04T08:28:52Z')"
expect_eq "sample: header oddities (message 5: raw ISO-8859-1 in From:)" \
	"$(jget "$TMP/s.json" 'sorted(d["total"]["headers"].items())')" \
	"[('bad_encoded_words', 0), ('eight_bit', 1), ('from_without_address', 0), ('no_from', 0)]"
expect_eq "sample: top sender" "$(jget "$TMP/s.json" 'd["total"]["senders"][0]')" \
	"{'address': 'carol@example.net', 'name': 'Carol Nguyen', 'messages': 6}"
expect_eq "sample: top domains" "$(jget "$TMP/s.json" '[(x["domain"], x["messages"]) for x in d["total"]["domains"][:2]]')" \
	"[('example.org', 19), ('example.net', 18)]"
expect_eq "sample: largest (message 7 at 7207, S=6101)" "$(jget "$TMP/s.json" 'd["total"]["largest"][0]')" \
	"{'bytes': 6101, 'where': '$S:7207'}"
expect_eq "sample: not asked: null" "$(jget "$TMP/s.json" 'd["total"]["attachments"], d["total"]["duplicates"], d["total"]["by_month"]')" \
	"(None, None, None)"
expect_eq "jq .total.messages" "$(jq .total.messages "$TMP/s.json")" 40

# standard input and a compressed copy: the same figures
gzip -c "$S" >"$TMP/s.gz"
cat "$S" | "$MAILSHIFT" stats -q --json - >"$TMP/stdin.json"
"$MAILSHIFT" stats -q --json "$TMP/s.gz" >"$TMP/gz.json"
expect_eq "stdin" "$(jget "$TMP/stdin.json" 'd["mailboxes"][0]["mailbox"], d["total"]["messages"], d["total"]["bytes"], d["total"]["by_year"] == json.load(open(sys.argv[2]))["total"]["by_year"]')" \
	"('-', 40, 42975, True)"
expect_eq "gzip" "$(jget "$TMP/gz.json" 'd["total"]["messages"], d["total"]["bytes"], d["total"]["flags"]["seen"]')" "(40, 42975, 17)"

# decoded RFC 2047 display names (message 10: ISO-8859-1 q, message 12: UTF-8 B)
"$MAILSHIFT" stats -q --json --top=100 "$S" >"$TMP/top.json"
expect_eq "--top=100: every sender" "$(jget "$TMP/top.json" 'sum(x["messages"] for x in d["total"]["senders"])')" 40
check "decoded display names are UTF-8" python3 -c '
import json, sys
names = [s["name"] for s in json.load(open(sys.argv[1]))["total"]["senders"] if s["name"]]
sys.exit(0 if any(ord(c) > 127 for n in names for c in n) and not any("=?" in n for n in names) else 1)' "$TMP/top.json"
"$MAILSHIFT" stats -q --json --top=2 "$S" >"$TMP/top2.json"
expect_eq "--top=2" "$(jget "$TMP/top2.json" 'len(d["total"]["senders"]), len(d["total"]["domains"]), len(d["total"]["largest"])')" "(2, 2, 2)"

# --by=month: months add up to the years
"$MAILSHIFT" stats -q --json --by=month "$S" >"$TMP/m.json"
expect_eq "--by=month: sum" "$(jget "$TMP/m.json" 'sum(d["total"]["by_month"].values())')" 40
expect_eq "--by=month: 2019 = months of 2019" \
	"$(jget "$TMP/m.json" 'sum(v for k, v in d["total"]["by_month"].items() if k.startswith("2019-")) == d["total"]["by_year"]["2019"]')" True

# body figures: message 7 has a base64 text/csv attachment; the
# multipart/alternative messages 2, 26, 37 have none
"$MAILSHIFT" stats -q --json --attachments "$S" >"$TMP/a.json"
expect_eq "--attachments" "$(jget "$TMP/a.json" 'd["total"]["attachments"], d["total"]["duplicates"]')" "(1, None)"
cat "$S" "$S" >"$TMP/twice.mbox"
"$MAILSHIFT" stats -q --json --duplicates "$S" "$TMP/twice.mbox" >"$TMP/d.json"
expect_eq "--duplicates: per mailbox and across" \
	"$(jget "$TMP/d.json" '[r["duplicates"] for r in d["mailboxes"]], d["total"]["duplicates"]')" "([0, 40], 80)"

# the same mailbox as a Maildir: the same totals
"$MAILSHIFT" convert -q --keep-mbox-headers "$S" "$TMP/md" 2>/dev/null
expect_eq "convert" "$?" 0
"$MAILSHIFT" stats -q --json --deep "$S" >"$TMP/s2.json"
"$MAILSHIFT" stats -q --json --deep "$TMP/md" >"$TMP/md.json"
expect_eq "maildir: type, folder" "$(jget "$TMP/md.json" 'd["mailboxes"][0]["type"], d["mailboxes"][0]["folder"]')" "('maildir', '')"
for k in messages bytes flags keywords by_year senders domains headers attachments; do
	expect_eq "mbox and its Maildir: $k" "$(jget "$TMP/md.json" "d['total']['$k']")" "$(jget "$TMP/s2.json" "d['total']['$k']")"
done
expect_eq "maildir: largest sizes" "$(jget "$TMP/md.json" '[x["bytes"] for x in d["total"]["largest"]]')" \
	"$(jget "$TMP/s2.json" '[x["bytes"] for x in d["total"]["largest"]]')"
expect_eq "maildir: no Date: -> mtime (the From_ date the conversion set)" \
	"$(jget "$TMP/md.json" '[d["total"]["dates"][k] for k in ("from_date", "from_envelope", "from_mtime", "oldest", "newest")]')" \
	"[39, 0, 1, '2019-01-08T08:02:05Z', '2025-03-04T08:28:52Z']"
"$MAILSHIFT" stats -q --json --duplicates "$S" "$TMP/md" >"$TMP/x.json"
expect_eq "mbox + its Maildir: every message a duplicate across them" \
	"$(jget "$TMP/x.json" '[r["duplicates"] for r in d["mailboxes"]], d["total"]["duplicates"]')" "([0, 0], 40)"

# --counts: names only (,S= sizes; a wrong S= shows it is not stat'ed)
"$MAILSHIFT" stats -q --json --counts "$TMP/md" >"$TMP/c.json"
expect_eq "--counts: same counts" "$(jget "$TMP/c.json" 'd["total"]["messages"], d["total"]["bytes"], d["total"]["flags"], d["total"]["keywords"]')" \
	"$(jget "$TMP/md.json" 'd["total"]["messages"], d["total"]["bytes"], d["total"]["flags"], d["total"]["keywords"]')"
expect_eq "--counts: no header figures" "$(jget "$TMP/c.json" 'd["total"]["dates"], d["total"]["senders"]')" "(None, None)"
f=$(ls "$TMP/md/cur" | grep ',S=6101,' | head -1)
mv "$TMP/md/cur/$f" "$TMP/md/cur/$(echo "$f" | sed 's/,S=6101,/,S=7101,/')"
expect_eq "--counts: bytes from the names" "$("$MAILSHIFT" stats -q --json --counts "$TMP/md" | jq .total.bytes)" 43975
f=$(ls "$TMP/md/cur" | grep ',S=7101,')
mv "$TMP/md/cur/$f" "$TMP/md/cur/$(echo "$f" | sed 's/,S=7101,W=[0-9]*//')"
expect_eq "--counts: a name without S= is stat'ed" "$("$MAILSHIFT" stats -q --json --counts "$TMP/md" | jq .total.bytes)" 42975

# a generated Maildir++ tree, -r: every folder against Python
T="$TMP/tree"
"$MAILSHIFT" convert -q "$S" "$T" 2>/dev/null
python3 "$T_SRCDIR/gen-mbox.py" 300 7 2000 >"$TMP/g1.mbox"
python3 "$T_SRCDIR/gen-mbox.py" 45 3 500 >"$TMP/g2.mbox"
"$MAILSHIFT" convert -q "$TMP/g1.mbox" "$T/.Lists.ops" && "$MAILSHIFT" convert -q "$TMP/g2.mbox" "$T/.Sent"
expect_eq "tree: made" "$?" 0
mkdir -p "$T/.Trash/cur" "$T/.Trash/new" "$T/.Trash/tmp"
"$MAILSHIFT" stats -q -r --json "$T" >"$TMP/t.json"
expect_eq "-r: exit" "$?" 0
expect_eq "-r: folders" "$(jget "$TMP/t.json" '[r["folder"] for r in d["mailboxes"]]')" "['', 'Lists.ops', 'Sent', 'Trash']"
expect_eq "-r: total messages" "$(jq .total.messages "$TMP/t.json")" 385
i=0
for dir in "$T" "$T/.Lists.ops" "$T/.Sent" "$T/.Trash"; do
	python3 "$ORACLE/pystats.py" "$dir" >"$TMP/py.json"
	expect_eq "-r: $dir equals Python" "$(python3 -c '
import json, sys
row = json.load(open(sys.argv[1]))["mailboxes"][int(sys.argv[3])]
py = json.load(open(sys.argv[2]))
print([k for k in ("messages", "bytes", "flags", "keywords", "by_year") if row[k] != py[k]])' "$TMP/t.json" "$TMP/py.json" $i)" "[]"
	i=$((i + 1))
done
expect_eq "-r: total = sum of folders" "$(jget "$TMP/t.json" '[d["total"][k] == sum(r[k] for r in d["mailboxes"]) for k in ("messages", "bytes")]')" "[True, True]"
"$MAILSHIFT" stats -q --json "$T" >"$TMP/t0.json"
expect_eq "without -r: INBOX only" "$(jq .total.messages "$TMP/t0.json")" 40

# CSV: a header and one row per folder, RFC 4180 line ends
"$MAILSHIFT" stats -q -r --csv "$T" >"$TMP/t.csv"
expect_eq "csv: rows" "$(wc -l <"$TMP/t.csv" | tr -d ' ')" 5
expect_eq "csv: Sent row" "$(python3 -c '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
r = [x for x in rows if x["folder"] == "Sent"][0]
print(r["type"], r["messages"], r["new"], r["seen"], r["oldest"][:4], r["attachments"] or "-")' "$TMP/t.csv")" \
	"maildir 45 $(jget "$TMP/t.json" 'd["mailboxes"][2]["flags"]["new"]') $(jget "$TMP/t.json" 'd["mailboxes"][2]["flags"]["seen"]') 2001 -"

# text: 72 columns, colour only when asked or on a terminal
"$MAILSHIFT" stats -q -r --by=month "$T" "$S" >"$TMP/t.txt"
expect_eq "text: exit" "$?" 0
expect_eq "text: widest line" "$(python3 -c '
import sys
print(max(len(l.rstrip("\n")) for l in open(sys.argv[1], encoding="utf-8")) <= 72)' "$TMP/t.txt")" True
check "text: total row" grep -q '^total  *425 ' "$TMP/t.txt"
check "text: folder rows" grep -q '^  Lists.ops  *300 ' "$TMP/t.txt"
check "text: month chart" grep -q '^  2019-01  #' "$TMP/t.txt"
check "text: no escapes in a file" test "$(grep -c "$(printf '\033')" "$TMP/t.txt")" -eq 0
"$MAILSHIFT" stats -q --color=always "$S" >"$TMP/c.txt"
check "--color=always: escapes" grep -q "$(printf '\033')\[1m" "$TMP/c.txt"

# usage and input errors
expect_status "--by=week" 64 "$MAILSHIFT" stats --by=week "$S"
expect_status "--csv --json" 64 "$MAILSHIFT" stats --csv --json "$S"
expect_status "--counts --deep" 64 "$MAILSHIFT" stats --counts --deep "$S"
expect_status "--color=sometimes" 64 "$MAILSHIFT" stats --color=sometimes "$S"
expect_status "no argument" 64 "$MAILSHIFT" stats
expect_status "missing file" 66 "$MAILSHIFT" stats "$TMP/nonexistent"
head -c 4096 /dev/urandom >"$TMP/garbage"
expect_status "not a mailbox" 65 "$MAILSHIFT" stats "$TMP/garbage"
# one bad argument does not hide the others
"$MAILSHIFT" stats -q --json "$TMP/nonexistent" "$S" >"$TMP/e.json" 2>/dev/null
expect_eq "bad argument: status 66, the rest counted" "$?:$(jq .total.messages "$TMP/e.json")" "66:40"
printf '' >"$TMP/empty.mbox"
"$MAILSHIFT" stats -q --json "$TMP/empty.mbox" >"$TMP/empty.json"
expect_eq "empty mbox" "$?:$(jget "$TMP/empty.json" 'd["total"]["messages"], d["total"]["dates"]["oldest"], d["mailboxes"][0]["type"]')" \
	"0:(0, None, 'empty')"
done_testing
