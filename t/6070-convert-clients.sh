#!/bin/sh
# t/6050: what mail clients kept, converted by the command. t/gen/clients.py
# writes Thunderbird Local Folders, Evolution's local mboxes, a Gmail
# Takeout and an Apple Mail export in each client's exact format (every
# flag combination, several thousand messages) with a record of each
# message; `mailshift convert` (-r for the client trees) must give every
# message its client's flags, keywords and folder (t/oracle/client-maildir.py
# compares message by message), leave Thunderbird's expunged messages out
# (or keep them with --keep-expunged) and count them, put Gmail's labels
# into folders as hard links (or keywords, or nothing) with Spam and Trash
# never in INBOX, deliver nothing twice on a rerun, and a real Dovecot must
# show the flags and keywords, $Forwarded included (t/oracle/client-dovecot.py).
. "$(dirname "$0")/lib.sh"
. "$T_SRCDIR/dovecot.sh"
need python3
need_dovecot
CHK=$ORACLE/client-maildir.py
DCHK=$ORACLE/client-dovecot.py

python3 "$T_SRCDIR/gen/clients.py" --seed 11 "$TMP/c" || exit 99
E=$TMP/c/expected.json
# sum FIELD < JSON lines: the total of a summary field
jsum() { python3 -c 'import json, sys
f = sys.argv[1].split(".")
t = 0
for line in sys.stdin:
    d = json.loads(line)
    if "left_out" in d:
        continue
    for k in f:
        d = d[k]
    t += d
print(t)' "$1"; }
folders() { (cd "$1" && ls -d .[!.]* | tr '\n' ' '); }
# fig NAME FILE: one figure of the oracle's line
fig() { tr ' ' '\n' <"$2" | sed -n "s/^$1=//p"; }

# ---- Thunderbird: X-Mozilla-Status over a stale Status, tags, .sbd ----------
TB="$TMP/c/thunderbird/Local Folders"
"$MAILSHIFT" convert -r --json "$TB" "$TMP/tb" >"$TMP/tb.json" 2>"$TMP/tb.err"
expect_eq "thunderbird: exit" $? 0
expect_eq "thunderbird: folders, .sbd understood" "$(folders "$TMP/tb")" \
    ".Archives .Archives.2019 .Archives.2020 .Archives.2020.Q1 .Drafts .Sent .Trash "
python3 "$CHK" "$E" thunderbird "$TMP/tb" >"$TMP/diff" 2>"$TMP/fig"
expect_eq "thunderbird: every message as recorded" "$(head -20 "$TMP/diff")" ""
expect_eq "thunderbird: expunged counted in --json" "$(jsum expunged <"$TMP/tb.json")" \
    "$(fig expunged "$TMP/fig")"
expect_eq "thunderbird: delivered" "$(jsum delivered <"$TMP/tb.json")" "$(fig delivered "$TMP/fig")"
expect_eq "thunderbird: state from X-Mozilla-Status" "$(jsum clients.thunderbird <"$TMP/tb.json")" 2000
check "thunderbird: expunged ones are some" test "$(fig expunged "$TMP/fig")" -gt 0
expect_eq "thunderbird: each .msf named as skipped" \
    "$(grep -c "\.msf: left out: Thunderbird's summary of the mbox beside it, not a mailbox" "$TMP/tb.err")" \
    "$(find "$TB" -name '*.msf' | wc -l)"
"$MAILSHIFT" convert -q -r --json "$TB" "$TMP/tb" >"$TMP/tb2.json" 2>/dev/null
expect_eq "thunderbird: rerun delivers nothing" "$(jsum delivered <"$TMP/tb2.json")" 0
# Thunderbird goes on being used: unread messages marked read and flagged in
# place (X-Mozilla-Status rewritten, same length); a rerun knows them all
cp -R "$TB" "$TMP/tb-used"
sed -i 's/^\(X-Mozilla-Status: ...\)0$/\15/' "$TMP/tb-used/Inbox"
check "thunderbird: the Inbox changed" test -n "$(cmp "$TB/Inbox" "$TMP/tb-used/Inbox" 2>&1)"
"$MAILSHIFT" convert -q -r --json "$TMP/tb-used" "$TMP/tb" >"$TMP/tb3.json" 2>/dev/null
expect_eq "thunderbird: rerun after Thunderbird's changes delivers nothing" \
    "$(jsum delivered <"$TMP/tb3.json")" 0
"$MAILSHIFT" convert -q -r --keep-expunged --json "$TB" "$TMP/tbk" >"$TMP/tbk.json" 2>/dev/null
python3 "$CHK" "$E" thunderbird "$TMP/tbk" --keep-expunged >"$TMP/diff" 2>"$TMP/fig"
expect_eq "thunderbird --keep-expunged: every message, expunged ones with T" "$(head -20 "$TMP/diff")" ""
expect_eq "thunderbird --keep-expunged: none left out" "$(jsum expunged <"$TMP/tbk.json")" 0

# ---- Evolution: X-Evolution over Status/X-Status, Inbox.sbd -----------------
EV=$TMP/c/evolution/local
"$MAILSHIFT" convert -r --json "$EV" "$TMP/ev" >"$TMP/ev.json" 2>"$TMP/ev.err"
expect_eq "evolution: exit" $? 0
expect_eq "evolution: folders" "$(folders "$TMP/ev")" ".Drafts .Inbox.Lists .Sent "
python3 "$CHK" "$E" evolution "$TMP/ev" >"$TMP/diff" 2>"$TMP/fig"
expect_eq "evolution: every message as recorded" "$(head -20 "$TMP/diff")" ""
expect_eq "evolution: state from X-Evolution" "$(jsum clients.evolution <"$TMP/ev.json")" 1000
expect_eq "evolution: side files named" "$(grep -c "left out: Evolution's .*, not a mailbox" "$TMP/ev.err")" \
    "$(find "$EV" -name '*.cmeta' -o -name '*.ev-summary' | wc -l)"

# ---- Apple Mail: .mbox bundles ------------------------------------------------
"$MAILSHIFT" convert -r "$TMP/c/applemail" "$TMP/ap" 2>"$TMP/ap.err"
expect_eq "apple: exit" $? 0
expect_eq "apple: bundles are folders" "$(folders "$TMP/ap")" ".Personal .Work .Work.Projects "
python3 "$CHK" "$E" apple "$TMP/ap" >"$TMP/diff" 2>/dev/null
expect_eq "apple: every message" "$(head -20 "$TMP/diff")" ""
expect_eq "apple: bundle files named" "$(grep -c "left out: Apple Mail's bundle data .*not a mailbox" "$TMP/ap.err")" 6

# ---- KMail's local mbox folders: subfolders of F in .F.directory -------------
mkdir -p "$TMP/km/.inbox.directory/.lists.directory"
cp "$TMP/c/applemail/Personal.mbox/mbox" "$TMP/km/inbox"
cp "$TMP/c/applemail/Work.mbox/mbox" "$TMP/km/.inbox.directory/lists"
cp "$TMP/c/applemail/Work.mbox/Projects.mbox/mbox" "$TMP/km/.inbox.directory/.lists.directory/debian"
"$MAILSHIFT" convert -q -r "$TMP/km" "$TMP/kmo"
expect_eq "kmail: exit" $? 0
expect_eq "kmail: .directory understood" "$(folders "$TMP/kmo")" ".inbox.lists .inbox.lists.debian "
expect_eq "kmail: messages" "$(ls "$TMP/kmo/new" "$TMP/kmo/.inbox.lists/new" "$TMP/kmo/.inbox.lists.debian/new" | grep -c ,)" \
    "$(cat "$TMP/km/inbox" "$TMP/km/.inbox.directory/lists" "$TMP/km/.inbox.directory/.lists.directory/debian" | grep -c '^From ')"

# ---- Gmail Takeout: labels --------------------------------------------------------
GM="$TMP/c/takeout/Takeout/Mail/All mail Including Spam and Trash.mbox"
"$MAILSHIFT" convert --json "$GM" "$TMP/gm" >"$TMP/gm.json" 2>"$TMP/gm.err"
expect_eq "gmail: exit" $? 0
python3 "$CHK" "$E" gmail "$TMP/gm" >"$TMP/diff" 2>"$TMP/fig"
expect_eq "gmail: every message in every label's folder, one inode" "$(head -20 "$TMP/diff")" ""
expect_eq "gmail: copies are links" "$(jsum linked <"$TMP/gm.json")" "$(fig copies "$TMP/fig")"
check "gmail: several labels are some" test "$(fig copies "$TMP/fig")" -gt 100
expect_eq "gmail: files (inodes) are messages" \
    "$(find "$TMP/gm" -path '*/cur/*' -type f -printf '%i\n' | sort -u | wc -l)" 2000
expect_eq "gmail: Spam and Trash never in INBOX" \
    "$(cat "$TMP/gm"/cur/* | tr -d '\r' | sed -n '/^X-Gmail-Labels:/,/^[^ ]/p' | grep -c -e Spam -e Trash)" 0
expect_eq "gmail: Spam is Junk" "$(ls "$TMP/gm/.Junk/cur" | wc -l)" \
    "$(python3 -c 'import json, sys
print(sum(1 for mb in json.load(open(sys.argv[1]))["mailboxes"].values() if mb["client"] == "gmail"
          for m in mb["messages"] if m["by_mode"]["folders"]["folders"] == ["Junk"]))' "$E")"
"$MAILSHIFT" convert --json "$GM" "$TMP/gm" >"$TMP/gm2.json" 2>/dev/null
expect_eq "gmail: rerun delivers nothing" "$(jsum delivered <"$TMP/gm2.json")" 0
expect_eq "gmail: rerun links nothing" "$(jsum linked <"$TMP/gm2.json")" 0
# without the record, the keys in the label folders' names are found
rm "$TMP/gm/mailshift-delivered"
"$MAILSHIFT" convert --json "$GM" "$TMP/gm" >"$TMP/gm3.json" 2>/dev/null
expect_eq "gmail: rerun without the record delivers nothing" "$(jsum delivered <"$TMP/gm3.json")" 0
python3 "$CHK" "$E" gmail "$TMP/gm" >"$TMP/diff" 2>/dev/null
expect_eq "gmail: still every message once" "$(head -20 "$TMP/diff")" ""
# a run that ended after the messages of a batch were published in their
# first folder and before they were linked into the others: the rerun makes
# the links (the keys are in the files' names, not yet in the record)
for sync in none batch; do
	rm -rf "$TMP/gk"
	MAILSHIFT_CRASH_AFTER_MESSAGES=3 "$MAILSHIFT" convert -q --sync=$sync "$GM" "$TMP/gk" 2>/dev/null
	expect_eq "gmail --sync=$sync: the run ended after 3 messages" $? 99
	python3 "$CHK" "$E" gmail "$TMP/gk" >"$TMP/diff" 2>/dev/null
	check "gmail --sync=$sync: links were missing" test -s "$TMP/diff"
	"$MAILSHIFT" convert --json --sync=$sync "$GM" "$TMP/gk" >"$TMP/gk.json" 2>"$TMP/gk.err"
	expect_eq "gmail --sync=$sync: rerun exit" "$? $(cat "$TMP/gk.err")" "0 "
	python3 "$CHK" "$E" gmail "$TMP/gk" >"$TMP/diff" 2>"$TMP/fig"
	expect_eq "gmail --sync=$sync: rerun, every message in every label's folder" "$(head -20 "$TMP/diff")" ""
	expect_eq "gmail --sync=$sync: rerun, files (inodes) are messages" \
	    "$(find "$TMP/gk" -path '*/cur/*' -type f -printf '%i\n' | sort -u | wc -l)" 2000
	"$MAILSHIFT" convert --json --sync=$sync "$GM" "$TMP/gk" >"$TMP/gk2.json" 2>/dev/null
	expect_eq "gmail --sync=$sync: third run delivers and links nothing" \
	    "$(jsum delivered <"$TMP/gk2.json")/$(jsum linked <"$TMP/gk2.json")" 0/0
done
# a link removed by the user (a label taken off) is not made again
lf=$(find "$TMP/gk" -mindepth 3 -path '*/.*/cur/*' -type f -links +1 | head -1)
rm "$lf"
"$MAILSHIFT" convert --json "$GM" "$TMP/gk" >"$TMP/gk4.json" 2>/dev/null
expect_eq "gmail: a removed link stays removed" "$(jsum linked <"$TMP/gk4.json")/$(test -e "$lf"; echo $?)" 0/1
for mode in keywords none; do
	"$MAILSHIFT" convert -q --labels=$mode "$GM" "$TMP/gm-$mode"
	python3 "$CHK" "$E" gmail "$TMP/gm-$mode" --labels=$mode >"$TMP/diff" 2>/dev/null
	expect_eq "gmail --labels=$mode: every message" "$(head -20 "$TMP/diff")" ""
done
# in a tree (-r), the label folders are at the top of the tree
"$MAILSHIFT" convert -q -r "$TMP/c/takeout" "$TMP/gt" 2>/dev/null
python3 "$CHK" "$E" gmail "$TMP/gt" >"$TMP/diff" 2>/dev/null
expect_eq "gmail in a tree: label folders at the top" "$(head -20 "$TMP/diff")" ""
"$MAILSHIFT" convert -q --labels=tags "$GM" "$TMP/x" 2>"$TMP/err"
expect_eq "--labels=tags: usage" $? 64
expect_eq "--labels=tags: said" "$(cat "$TMP/err")" \
    "mailshift convert: error: --labels must be folders, keywords or none, not 'tags'"

# ---- bad input: each named with file and offset, the rest still carries -------
{
	printf 'From a@example.org Sat Jan  3 01:05:34 1996\nX-Gmail-Labels: a/../b,Opened\n'
	printf 'Subject: label without a folder name\n\nbody\n\n'
	printf 'From a@example.org Sat Jan  3 01:05:34 1996\nX-Mozilla-Status: zz\nStatus: RO\n'
	printf 'X-Keywords: ok bad(name\nSubject: malformed Thunderbird\n\nbody\n\n'
} >"$TMP/bad.mbox"
"$MAILSHIFT" convert "$TMP/bad.mbox" "$TMP/bad" 2>"$TMP/err"
st=$?
off=$(grep -b '^From ' "$TMP/bad.mbox" | sed -n '2s/:.*//p')
expect_eq "bad: exit" $st 0
expect_eq "bad: said" "$(grep ": warning: " "$TMP/err")" \
"mailshift convert: warning: $TMP/bad.mbox:0: Gmail label \"a/../b\" has no folder name (an empty, \".\" or \"..\" level): its messages are not put into it
mailshift convert: warning: $TMP/bad.mbox:$off: X-Mozilla-Status header not in its client's format: ignored
mailshift convert: warning: $TMP/bad.mbox:$off: keyword \"bad(name\" is no IMAP atom: not carried"
expect_eq "bad label: to Archive, not INBOX" "$(grep -l 'label without' "$TMP"/bad/.Archive/cur/* | wc -l)" 1
f=$(grep -l 'malformed Thunderbird' "$TMP"/bad/cur/*)
expect_eq "malformed X-Mozilla-Status: Status decides" "${f##*:2,}" Sa
expect_eq "the atom keyword carried" "$(cat "$TMP/bad/dovecot-keywords")" "0 ok"

# ---- Dovecot's view: flags and keywords, $Forwarded shown as a keyword -----------
dv() {  # dv DIR CLIENT FOLDER IMAPNAME [ARGS]: Dovecot's FETCH checked
	d=$(served_copy "$1" dv)
	dovecot_imap_wait "$d" "a SELECT \"$4\"" \
	    'b FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])' >"$TMP/dv.out"
	python3 "$DCHK" "$E" "$2" "$3" ${5:-} <"$TMP/dv.out" >"$TMP/diff" 2>"$TMP/dv.fig"
	expect_eq "dovecot: $2 $4 as recorded" "$(head -20 "$TMP/diff")" ""
	check "dovecot: $2 $4 shows \$Forwarded" test "$(fig forwarded "$TMP/dv.fig")" -gt 0
}
dv "$TMP/tb" thunderbird Inbox INBOX
dv "$TMP/tb" thunderbird Archives/2019 Archives.2019
dv "$TMP/ev" evolution Inbox INBOX
dv "$TMP/gm" gmail "" INBOX
dv "$TMP/gm" gmail Work Work
done_testing
