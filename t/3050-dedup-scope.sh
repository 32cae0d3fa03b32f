#!/bin/sh
# t/3050: dedup --scope. A tree where every label is a folder of copies
# (Gmail over IMAP)
# holds the same message in several folders on purpose: `dedup -r --delete`
# must leave it alone by default (--scope=folder: each folder on its own),
# and remove the copies only with --scope=tree. Mailboxes named one by one
# are compared with each other unless --scope=folder.
. "$(dirname "$0")/lib.sh"
need python3

python3 "$T_SRCDIR/gen/clients.py" --seed 7 --scale 0.25 "$TMP/c" >/dev/null || exit 99
# the tree an IMAP copy of Gmail gives: a folder per label, each message
# copied (not linked) into every folder of its labels (Python's mailbox)
python3 - "$TMP/c" "$TMP/g" <<'PY' >"$TMP/counts" || exit 99
import json, mailbox, os, sys
src, dst = sys.argv[1:3]
exp = json.load(open(os.path.join(src, "expected.json")))
where = {}
for path, mb in exp["mailboxes"].items():
    if mb["client"] == "gmail":
        box = mailbox.mbox(os.path.join(src, path), create=False)
        for m in mb["messages"]:
            where[m["message_id"]] = m["by_mode"]["folders"]["folders"]
top = mailbox.Maildir(dst, create=True)
msgs = copies = 0
for m in box:
    msgs += 1
    for f in where[m["Message-ID"]]:
        (top if f == "" else top.add_folder(f.replace("/", "."))).add(m)
        copies += 1
print(msgs, copies - msgs)
PY
field() { python3 -c 'import json, sys
d = json.loads(sys.stdin.read().strip().splitlines()[-1])
for k in sys.argv[1].split("."):
    d = d[k]
print(d)' "$1"; }
read -r msgs links <"$TMP/counts"
files=$(find "$TMP/g" -path '*/new/*' -type f | wc -l)
check "copies in several label folders" test "$links" -gt 20
expect_eq "files = messages + copies" "$files" $((msgs + links))

"$MAILSHIFT" dedup -r --delete --json "$TMP/g" >"$TMP/d1.json"
expect_eq "-r --delete: exit" $? 0
expect_eq "-r: scope folder by default" "$(field summary.scope <"$TMP/d1.json")" folder
expect_eq "-r: no duplicates within a folder" "$(field summary.duplicates <"$TMP/d1.json")" 0
expect_eq "-r --delete: the label folders keep their messages" \
    "$(find "$TMP/g" -path '*/new/*' -type f | wc -l)" "$files"

"$MAILSHIFT" dedup -r --scope=tree --json "$TMP/g" >"$TMP/d2.json"
expect_eq "--scope=tree: every copy is a duplicate" "$(field summary.duplicates <"$TMP/d2.json")" "$links"
expect_eq "--scope=tree report: nothing removed" "$(find "$TMP/g" -path '*/new/*' -type f | wc -l)" "$files"

# two folders named one by one: compared with each other unless --scope=folder
both=$(cd "$TMP/g" && cat .Work/new/* .Family/new/* | grep -i '^Message-ID:' | sort | uniq -d | wc -l)
"$MAILSHIFT" dedup --json "$TMP/g/.Work" "$TMP/g/.Family" >"$TMP/d3.json"
expect_eq "named mailboxes: across them" "$(field summary.duplicates <"$TMP/d3.json")" "$both"
"$MAILSHIFT" dedup --scope=folder --json "$TMP/g/.Work" "$TMP/g/.Family" >"$TMP/d4.json"
expect_eq "named mailboxes, --scope=folder: none" "$(field summary.duplicates <"$TMP/d4.json")" 0

"$MAILSHIFT" dedup -r --scope=tree --delete -q "$TMP/g"
expect_eq "--scope=tree --delete: one file per message" \
    "$(find "$TMP/g" -path '*/new/*' -type f | wc -l)" "$msgs"

"$MAILSHIFT" dedup -r --scope=label "$TMP/g" 2>"$TMP/err"
expect_eq "--scope=label: usage" $? 64
expect_eq "--scope=label: said" "$(cat "$TMP/err")" \
    "mailshift dedup: error: --scope must be folder or tree, not 'label'"
done_testing
