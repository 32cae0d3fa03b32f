#!/bin/sh
# `mailshift stats --json` on every mbox and maildir of t/corpus
# (INDEX.tsv): messages, bytes, flags, keywords and messages per year equal
# what Python's mailbox and email modules compute (t/oracle/pystats.py).
# The oracle reads mboxrd quoting and CR LF separators as a Maildir file
# holds them (--unquote --crlf, as t/oracle/pymbox.py), skips dot names in
# a maildir and accepts ISO 8601 dates (SPEC §1.4, §3.7). Where the counts
# differ it is for the reasons SPEC §2.5 step 5 and t/1010-convert-corpus.sh
# name, asserted here file by file:
#   mboxcl2, mboxcl2.lies   3 vs Python 4 (a body line "From perl5-porters:")
#   separators2.sep         2 vs 3 (a body "From " line that is not a From_ line)
#   separators1.sep         one byte more: the LF the last Content-Length counts
#   testmbox.mac, input.msg refused (exit 65)
#   mailarc-2.txt.lz        Python has no lzip: compared with mailarc-2.txt
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
need_corpus
need python3

# ours vs the oracle's for every mailbox "I<TAB>OURS<TAB>PY" of a list, in
# one interpreter: the first line of TMP/diff.all.I says "messages N python
# M", the others name each figure that differs
cat >"$TMP/cmp.py" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    i, ours_f, py_f = line.rstrip("\n").split("\t")
    out = open(sys.argv[2] + "." + i, "w")
    try:
        ours = json.load(open(ours_f))
        py = json.load(open(py_f))
    except ValueError as e:
        print("invalid JSON: %s" % e, file=out)
        continue
    row = ours["mailboxes"][0]
    print("messages %d python %d" % (ours["total"]["messages"], py["messages"]), file=out)
    bad = [k for k in ("messages", "bytes", "flags", "keywords", "by_year") if row[k] != py[k]]
    # the total of one mailbox is that mailbox
    bad += ["total." + k for k in ("messages", "bytes", "flags", "by_year") if ours["total"][k] != row[k]]
    for k in bad:
        print("%s: ours %s python %s" % (k, json.dumps(row.get(k, ours["total"].get(k[6:])), sort_keys=True),
                                         json.dumps(py.get(k), sort_keys=True)), file=out)
PY

tab=$(printf '\t')
awk -F"$tab" 'NR > 1 && ($2 ~ /^mbox/ || $2 == "maildir") { print $1 "\t" $3 "\t" $4 }' \
	"$CORPUS/INDEX.tsv" >"$TMP/list"
check "index lists mailboxes" test "$(wc -l <"$TMP/list")" -ge 60
# 1. mailshift stats on each; the oracle's jobs
i=0
: >"$TMP/jobs"
: >"$TMP/pairs"
while IFS="$tab" read -r path want py; do
	i=$((i + 1))
	src="$CORPUS/$path"
	"$MAILSHIFT" stats -q --json "$src" >"$TMP/ours.$i" 2>"$TMP/err.$i"
	echo $? >"$TMP/st.$i"
	case $path in */testmbox.mac|*/input.msg) continue ;; esac
	opts="--crlf --unquote"
	case $path in */mboxcl2) opts="--crlf" ;; esac
	case $path in *.lz) src=${src%.lz} ;; esac
	printf '%s\t%s\t%s\n' "$opts" "$src" "$TMP/py.$i" >>"$TMP/jobs"
	printf '%s\t%s\t%s\n' "$i" "$TMP/ours.$i" "$TMP/py.$i" >>"$TMP/pairs"
done <"$TMP/list"
# 2. the oracle, and the comparison, once each
python3 "$ORACLE/pystats.py" --batch "$TMP/jobs" || fail "pystats.py --batch: exit $?"
python3 "$TMP/cmp.py" "$TMP/pairs" "$TMP/diff.all" || fail "cmp.py: exit $?"
# 3. the verdicts
i=0 n=0
while IFS="$tab" read -r path want py; do
	i=$((i + 1))
	st=$(cat "$TMP/st.$i")
	case $path in
	*/testmbox.mac|*/input.msg)
		expect_eq "$path: refused" "$st" 65
		check "$path: names the file" grep -q "$path" "$TMP/err.$i"
		continue ;;
	esac
	expect_eq "$path: exit" "$st" 0
	[ "$want" = "?" ] && want=5
	counts=$(head -n 1 "$TMP/diff.all.$i")
	case $counts in messages*) pass ;; *) fail "$path: valid JSON: $counts" ;; esac
	sed 1d "$TMP/diff.all.$i" >"$TMP/diff"
	case $path in
	*/mboxcl2|*/mboxcl2.lies|*/separators2.sep)
		expect_eq "$path: count, Python's count" "$counts" \
			"messages $want python $([ "${path##*/}" = separators2.sep ] && echo 3 || echo 4)"
		continue ;;
	*/separators1.sep)
		expect_eq "$path: only the bytes differ" "$(cut -d: -f1 "$TMP/diff")" bytes
		expect_eq "$path: bytes" "$(sed 's/bytes: ours \([0-9]*\) python \([0-9]*\)/\1-\2/' "$TMP/diff")" \
			"16694-16693"
		continue ;;
	esac
	expect_eq "$path: messages" "$counts" "messages $want python $want"
	n=$((n + 1))
	if [ -s "$TMP/diff" ]; then fail "$path: differs from Python"; sed 's/^/    /' "$TMP/diff" | cut -c1-300 >&2
	else pass; fi
done <"$TMP/list"
check "mailboxes compared in full" test "$n" -ge 60

# -r on a Dovecot fs-layout tree: one row per folder, each as INDEX.tsv counts it
"$MAILSHIFT" stats -q -r --json "$CORPUS/notmuch/corpora/default" >"$TMP/fs"
expect_eq "fs layout -r: folders and counts" "$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join("%s=%d" % (r["folder"] or "INBOX", r["messages"]) for r in d["mailboxes"]), d["total"]["messages"])' "$TMP/fs")" \
	"INBOX=$(awk -F"$tab" '$1 == "notmuch/corpora/default" { print $3 }' "$CORPUS/INDEX.tsv") bar=4 bar/baz=4 foo=5 foo/baz=4 43"

# all of them at once: the total is the sum of the rows
awk -F"$tab" 'NR > 1 && ($2 ~ /^mbox/ || $2 == "maildir") && $1 !~ /testmbox.mac|input.msg/ { print $1 }' \
	"$CORPUS/INDEX.tsv" | sed "s|^|$CORPUS/|" >"$TMP/paths"
tr '\n' '\0' <"$TMP/paths" | xargs -0 "$MAILSHIFT" stats -q --json >"$TMP/all"
expect_eq "all: exit" "$?" 0
expect_eq "all: total = sum of rows" "$(python3 -c '
import json, sys
d = json.load(sys.stdin)
rows = d["mailboxes"]
print(d["total"]["mailboxes"] == len(rows),
      d["total"]["messages"] == sum(r["messages"] for r in rows),
      d["total"]["bytes"] == sum(r["bytes"] for r in rows),
      all(d["total"]["flags"][k] == sum(r["flags"][k] for r in rows) for k in d["total"]["flags"]))
' <"$TMP/all")" "True True True True"
done_testing
