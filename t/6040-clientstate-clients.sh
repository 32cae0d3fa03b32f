#!/bin/sh
# t/6040: client state read from mailboxes in each client's exact format.
# t/gen/clients.py writes Thunderbird Local Folders (.sbd directories,
# .msf files), Evolution mboxes, a Gmail Takeout (CR LF, labels) and an
# Apple Mail export from the format facts, with every flag combination and
# a record of each message's flags, keywords, folders and labels;
# t/clientstate-dump reads them through the project's mbox reader and
# clientstate.c, and t/oracle/clientstate-view.py compares message by
# message (Gmail in the three label modes).
. "$(dirname "$0")/lib.sh"
need python3
DUMP=${T_BUILDDIR:-$T_SRCDIR}/clientstate-dump
[ -x "$DUMP" ] || { echo "no $DUMP (make check builds it)" >&2; exit 99; }

python3 "$T_SRCDIR/gen/clients.py" --seed 11 "$TMP/c" || exit 99
python3 "$ORACLE/clientstate-view.py" "$DUMP" "$TMP/c" >"$TMP/diff" 2>"$TMP/count"
expect_eq "every message as recorded" "$(head -20 "$TMP/diff")" ""
# several thousand messages: 2000 Thunderbird, 1000 Evolution, 2000 Gmail
# (read in 3 modes), 210 Apple Mail
expect_eq "messages compared" "$(cat "$TMP/count")" "apple=210 evolution=1000 gmail=6000 thunderbird=2000"

# every combination is there: the 32 of Thunderbird's five flag bits, the 32
# of Evolution's five, Gmail's label sets
combos() {
	python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
seen = {}
for p, mb in r["mailboxes"].items():
    for m in mb["messages"]:
        seen.setdefault(mb["client"], set()).add("".join(sorted(set(m["flags"]) - set("P"))))
print(" ".join("%s=%d" % (c, len(s)) for c, s in sorted(seen.items())))' "$1"
}
expect_eq "flag combinations" "$(combos "$TMP/c/expected.json")" "apple=1 evolution=32 gmail=8 thunderbird=16"

# Takeout is CR LF throughout; the Thunderbird tree has its .msf files
expect_eq "Takeout CR LF" "$(grep -c "$(printf '\r')\$" "$TMP/c/takeout/Takeout/Mail/All mail Including Spam and Trash.mbox")" \
    "$(wc -l <"$TMP/c/takeout/Takeout/Mail/All mail Including Spam and Trash.mbox")"
expect_eq "msf files" "$(find "$TMP/c/thunderbird" -name '*.msf' | wc -l)" 8

done_testing
