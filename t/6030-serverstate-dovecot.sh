#!/bin/sh
# t/6030: the state other servers keep, carried over as a real Dovecot sees
# it. t/gen/courier.py writes Courier-IMAP / Courier POP3 Maildirs (every
# courierpop3dsizelist version, keywords with update files, folders,
# subscriptions) and qmail-pop3d Maildirs from the format facts, with a
# record of what the old server returned; `mailshift convert -r
# --to=maildir` links them into a new Maildir with Dovecot's state (and
# `--in-place` writes the state beside the old server's); Dovecot's imap
# and pop3 then must return the same UIDs, UIDVALIDITY, UIDNEXT, flags,
# keywords, subscriptions and POP3 UIDLs, sizes and order
# (t/oracle/dovecot-view.py compares). Damaged state gives findings naming
# file and line and exit 1, and the rest still carries.
. "$(dirname "$0")/lib.sh"
. "$T_SRCDIR/dovecot.sh"
need_dovecot
need python3
GEN=$T_SRCDIR/gen/courier.py

# dovecot_view MAILDIR EXPECTED DIR: Dovecot's answers for the checker, one
# IMAP session (SELECT and FETCH per folder, then LSUB) and one POP3 session
dovecot_view() {
	md=$1 exp=$2 out=$3
	mkdir -p "$out"
	: >"$TMP/dovecot/log"
	python3 -c 'import json, sys
for k in json.load(open(sys.argv[1]))["folders"]:
    print(k or "INBOX")' "$exp" >"$out/folders"
	set --
	n=0
	while read -r f; do
		n=$((n + 1))
		set -- "$@" "e$n SELECT \"$f\"" \
		    "f$n FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
	done <"$out/folders"
	dovecot_imap_wait "$md" "$@" 'l LSUB "" "*"' >"$out/imap"
	c=$(dovecot_conf "$md")
	printf 'LIST\r\nUIDL\r\nQUIT\r\n' |
		env -i PATH="$PATH" USER="$dc_user" HOME="$TMP/dovecot" "$DOVECOT_LIBEXEC/pop3" -c "$c" \
		    2>>"$TMP/dovecot/log" | tr -d '\r' | sed '1d' >"$out/pop3"
	cp "$TMP/dovecot/log" "$out/log"
}

# run_case NAME GENERATOR-ARGS...: generate, convert into NAME/Dovecot (or
# --in-place with IN_PLACE=1), serve, compare. WANT_STATUS: the exit status.
run_case() {
	name=$1; shift
	mkdir -p "$TMP/$name"
	python3 "$GEN" "$@" "$TMP/$name" || { fail "$name: generator"; return; }
	args=
	case " $* " in *" --qmail "*) args=--pop3=qmail ;; esac
	if [ "${IN_PLACE:-0}" = 1 ]; then
		$MAILSHIFT convert -r --in-place $args --json "$TMP/$name/Maildir" \
		    >"$TMP/$name/summary" 2>"$TMP/$name/stderr"
		st=$?
		md=$TMP/$name/Maildir
	else
		$MAILSHIFT convert -r --to=maildir $args --json "$TMP/$name/Maildir" "$TMP/$name/Dovecot" \
		    >"$TMP/$name/summary" 2>"$TMP/$name/stderr"
		st=$?
		md=$TMP/$name/Dovecot
	fi
	expect_eq "$name: convert exit" "$st" "${WANT_STATUS:-0}"
	grep ': STATE-' "$TMP/$name/stderr" >"$TMP/$name/findings"
	expect_eq "$name: stderr holds findings only" \
	    "$(grep -v ': STATE-' "$TMP/$name/stderr" | head -3)" ""
	s=$(served_copy "$md" "$name.served")
	dovecot_view "$s" "$TMP/$name/expected.json" "$TMP/$name/view"
	python3 "$ORACLE/dovecot-view.py" "$TMP/$name/expected.json" "$TMP/$name/view" \
	    "$TMP/$name/findings" >"$TMP/$name/diff"
	expect_eq "$name: Dovecot's view equals the old server's" "$(head -20 "$TMP/$name/diff")" ""
}

# --- every courierpop3dsizelist version --------------------------------------------
run_case v3 --seed 1 --pop3 3 --stale-info --messages 200
run_case v2 --seed 2 --pop3 2 --messages 150
run_case v1 --seed 3 --pop3 1 --messages 150
run_case v0 --seed 4 --pop3 0 --messages 150
run_case nopop3 --seed 5 --pop3 none --messages 100

# the record is not vacuous: UIDs kept (with gaps) and fresh, P/W/O fields,
# keywords; convert's counts (--json, INBOX first) equal the record's
record_summary() {
	python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["folders"][""]
m = r["messages"]
kept = sum(1 for x in m if x["uid"] is not None)
print("%d messages, %d kept, %d fresh, %d uidls, %d with keywords" %
      (len(m), kept, len(m) - kept, len(r["pop3"]), sum(1 for x in m if x["keywords"])))' "$1"
}
json_summary() {
	python3 -c 'import json, sys
s = json.loads(open(sys.argv[1]).readline())
print("%d messages, %d kept, %d fresh, %d uidls, %d with keywords" % (s["messages"],
      s["uids_kept"], s["uids_fresh"], s["pop3_uidls"], s["with_keywords"]))' "$1"
}
for c in v3 v2 v1 v0 nopop3; do
	expect_eq "$c: summary" "$(json_summary "$TMP/$c/summary")" \
	    "$(record_summary "$TMP/$c/expected.json")"
done
expect_eq "v3: has fresh and kept" "$(python3 -c 'import json, sys
s = json.loads(open(sys.argv[1]).readline())
print(int(s["uids_kept"] > 100 and s["uids_fresh"] > 20))' "$TMP/v3/summary")" 1
expect_eq "v1: UIDLs from base names and from UIDs" \
    "$(sed -n 's/^[0-9]* P\([^ ]*\) .*/\1/p' "$TMP/v1/Dovecot/dovecot-uidlist" |
       awk '/^UID[0-9]*$/ { u++ } /^1[0-9]*\./ { n++ } END { print (u > 50 && n > 20) }')" 1
expect_eq "v0: every UIDL a base name" \
    "$(grep -c ' PUID' "$TMP/v0/Dovecot/dovecot-uidlist")" 0
expect_eq "v3: messages hard-linked" \
    "$(find "$TMP/v3/Dovecot/cur" "$TMP/v3/Dovecot/new" -type f -links 2 | wc -l)" \
    "$(find "$TMP/v3/Maildir/cur" "$TMP/v3/Maildir/new" -type f | wc -l)"

# --- the state written in place, beside Courier's files ------------------------------
IN_PLACE=1 run_case v3inplace --seed 1 --pop3 3 --stale-info --messages 200
expect_eq "in place: same UIDs as into DEST" \
    "$(cut -d' ' -f1,2 "$TMP/v3inplace/Maildir/dovecot-uidlist" | sed 1d)" \
    "$(cut -d' ' -f1,2 "$TMP/v3/Dovecot/dovecot-uidlist" | sed 1d)"
$MAILSHIFT convert -r --in-place "$TMP/v3inplace/Maildir" 2>"$TMP/v3inplace/again"
expect_eq "in place: refused when dovecot-uidlist exists" "$?" 73
expect_eq "in place: the one line" "$(sed "s|$TMP/||" "$TMP/v3inplace/again")" \
    "mailshift convert: error: v3inplace/Maildir/dovecot-uidlist exists (and in 5 more folders): Dovecot's state is there already (replace it with --overwrite-state)"
cp "$TMP/v3inplace/Maildir/dovecot-uidlist" "$TMP/v3inplace/before"
$MAILSHIFT convert -r --in-place --overwrite-state -q "$TMP/v3inplace/Maildir"
expect_eq "in place: --overwrite-state" "$?" 0
expect_eq "in place: the same UIDs again" \
    "$(cut -d' ' -f1,2 "$TMP/v3inplace/Maildir/dovecot-uidlist" | sed 1d)" \
    "$(cut -d' ' -f1,2 "$TMP/v3inplace/before" | sed 1d)"

# --- qmail-pop3d: base names, mtime order ----------------------------------------
run_case qmail --seed 6 --qmail --messages 200
expect_eq "qmail: uidlist lines with W" "$(grep -c ' W' "$TMP/qmail/Dovecot/dovecot-uidlist")" 200

# --- more keywords than letters ------------------------------------------------------
WANT_STATUS=1 run_case kw30 --seed 7 --keywords 30 --messages 80 --folder-messages 10
expect_eq "kw30: 4 not carried" "$(grep -c STATE-TOO-MANY-KEYWORDS "$TMP/kw30/findings")" \
    "$(python3 -c 'import json,sys; print(sum(len(v) for v in json.load(open(sys.argv[1]))["keywords_not_carried"].values()))' "$TMP/kw30/expected.json")"
expect_eq "kw30: 26 letters" "$(wc -l <"$TMP/kw30/Dovecot/dovecot-keywords")" 26

# --- damaged state: one line each, the rest carried, nothing half-applied ------------
WANT_STATUS=1 run_case truncated --seed 8 --damage truncated-uiddb --messages 120
WANT_STATUS=1 run_case dupuid --seed 9 --damage duplicate-uid --messages 120
WANT_STATUS=1 run_case garbage --seed 10 --damage garbage --messages 120
WANT_STATUS=1 run_case pop3ver --seed 11 --damage pop3-version --messages 120
expect_eq "pop3ver: no POP3 field written" \
    "$(grep -c ' [PWO][^ ]* ' "$TMP/pop3ver/Dovecot/dovecot-uidlist")" 0
expect_eq "pop3ver: the one line" "$(grep -c STATE-UNKNOWN-VERSION "$TMP/pop3ver/findings")" 1
expect_eq "truncated: the one line" \
    "$(grep 'STATE-TRUNCATED' "$TMP/truncated/findings" | sed "s|$TMP/||")" \
    "mailshift convert: warning: truncated/Maildir/courierimapuiddb:$(python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["damage"][0]["line"])' "$TMP/truncated/expected.json"): STATE-TRUNCATED: the last line is cut short: not used"

done_testing
