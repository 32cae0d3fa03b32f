#!/bin/sh
# mailshift dedup across mailboxes: a Maildir and an mbox (duplicates leave
# only the mailbox not kept), --move-to (delivered, flags kept, then removed),
# Maildir++ trees with -r, and the mail-deduplicate corpus files.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

digests() { for f in "$1"/cur/* "$1"/new/*; do [ -f "$f" ] && sha256sum <"$f"; done | cut -d' ' -f1 | sort; }

$MAILSHIFT convert -q "$DATA/sample.mbox" "$TMP/md" 2>/dev/null
cp "$DATA/sample.mbox" "$TMP/s.mbox"
md_before=$(digests "$TMP/md")
names_before=$(cd "$TMP/md" && ls cur new)

# Maildir first: the mbox copies go, the Maildir is not touched
ino=$(ls -i "$TMP/s.mbox" | cut -d' ' -f1)
$MAILSHIFT dedup --delete "$TMP/md" "$TMP/s.mbox" >"$TMP/out" 2>/dev/null
expect_eq "maildir first: exit" "$?" 0
expect_eq "maildir first: summary" "$(grep -c '^delete .*s.mbox:[0-9]* duplicate of .*/md/' "$TMP/out")" 40
expect_eq "maildir first: mbox emptied" "$(wc -c <"$TMP/s.mbox" | tr -d ' ')" 0
expect_eq "maildir first: same inode" "$(ls -i "$TMP/s.mbox" | cut -d' ' -f1)" "$ino"
expect_eq "maildir first: maildir unchanged" "$(digests "$TMP/md")" "$md_before"
expect_eq "maildir first: names unchanged (no flags to merge)" "$(cd "$TMP/md" && ls cur new)" "$names_before"

# mbox first: the Maildir files go, the mbox stays byte for byte
cp "$DATA/sample.mbox" "$TMP/s.mbox"
$MAILSHIFT dedup -q --delete "$TMP/s.mbox" "$TMP/md"
expect_eq "mbox first: exit" "$?" 0
check "mbox first: mbox unchanged" cmp -s "$TMP/s.mbox" "$DATA/sample.mbox"
expect_eq "mbox first: maildir emptied" "$(count_files "$TMP/md/cur" "$TMP/md/new")" 0

# flags merged across formats: an unread mbox copy, a flagged+replied Maildir copy
rm -rf "$TMP/md" && mkdir -p "$TMP/md/cur" "$TMP/md/new" "$TMP/md/tmp"
printf 'From a@example.org Mon Jan  1 00:00:00 2024\nFrom: a@example.org\nMessage-ID: <x1@example.org>\n\nhello\n\n' >"$TMP/f.mbox"
printf 'From: a@example.org\nMessage-ID: <x1@example.org>\n\nhello\n' >"$TMP/md/cur/1700000000.M1P1Q1.host:2,FRS"
$MAILSHIFT dedup -q --delete "$TMP/f.mbox" "$TMP/md"
expect_eq "merge into mbox: maildir copy removed" "$(count_files "$TMP/md/cur")" 0
expect_eq "merge into mbox: Status/X-Status" "$(grep -E '^(Status|X-Status):' "$TMP/f.mbox" | tr '\n' ' ')" \
	"Status: RO X-Status: FA "
printf 'From: a@example.org\nMessage-ID: <x1@example.org>\n\nhello\n' >"$TMP/md/new/1700000000.M1P1Q1.host"
printf 'From a@example.org Mon Jan  1 00:00:00 2024\nFrom: a@example.org\nMessage-ID: <x1@example.org>\nX-Status: F\n\nhello\n\n' >"$TMP/g.mbox"
$MAILSHIFT dedup -q --delete "$TMP/md" "$TMP/g.mbox"
expect_eq "merge into maildir: moved to cur/ with F" "$(ls "$TMP/md/cur")" "1700000000.M1P1Q1.host:2,F"
expect_eq "merge into maildir: new/ empty" "$(ls "$TMP/md/new")" ""
expect_eq "merge into maildir: mbox emptied" "$(wc -c <"$TMP/g.mbox" | tr -d ' ')" 0

# --move-to: the duplicates arrive in the quarantine with their flags, then leave
$MAILSHIFT convert -q "$DATA/sample.mbox" "$TMP/md2" 2>/dev/null
cp "$DATA/sample.mbox" "$TMP/s.mbox"
md2=$(digests "$TMP/md2")
flags2=$(cd "$TMP/md2" && ls cur new | sed -n 's/.*:2,//p' | sort | tr '\n' ' ')
$MAILSHIFT dedup -q --move-to="$TMP/q" "$TMP/s.mbox" "$TMP/md2"
expect_eq "move: exit" "$?" 0
expect_eq "move: quarantine holds the copies" "$(digests "$TMP/q")" "$md2"
expect_eq "move: flags kept" "$(cd "$TMP/q" && ls cur new | sed -n 's/.*:2,//p' | sort | tr '\n' ' ')" "$flags2"
expect_eq "move: source maildir emptied" "$(count_files "$TMP/md2/cur" "$TMP/md2/new")" 0
check "move: kept mbox unchanged" cmp -s "$TMP/s.mbox" "$DATA/sample.mbox"
# a run that ended after its copies were in the quarantine, before (5) or
# while (45) their sources were removed: the rerun removes the rest and
# puts no copy in twice (the quarantine's names carry the copies' keys)
if $MAILSHIFT --version | grep -q 'test hooks compiled in'; then
	for at in 5 45; do
		rm -rf "$TMP/md5" "$TMP/q5"
		$MAILSHIFT convert -q "$DATA/sample.mbox" "$TMP/md5" 2>/dev/null
		MAILSHIFT_CRASH_AFTER_MESSAGES=$at $MAILSHIFT dedup -q --move-to="$TMP/q5" "$TMP/s.mbox" "$TMP/md5" 2>/dev/null
		expect_eq "move, ended after $at: exit, copies, sources left" \
		    "$? $(count_files "$TMP/q5/cur" "$TMP/q5/new") $(count_files "$TMP/md5/cur" "$TMP/md5/new")" \
		    "99 40 $(( at > 40 ? 80 - at : 40 ))"
		$MAILSHIFT dedup -q --move-to="$TMP/q5" "$TMP/s.mbox" "$TMP/md5"
		expect_eq "move, ended after $at: rerun exit" "$?" 0
		expect_eq "move, ended after $at: each copy once in the quarantine" "$(digests "$TMP/q5")" "$md2"
		expect_eq "move, ended after $at: sources removed" "$(count_files "$TMP/md5/cur" "$TMP/md5/new")" 0
	done
	# a copy cut short before the rerun is not taken for one: delivered again
	rm -rf "$TMP/md6" "$TMP/q6"
	$MAILSHIFT convert -q "$DATA/sample.mbox" "$TMP/md6" 2>/dev/null
	MAILSHIFT_CRASH_AFTER_MESSAGES=1 $MAILSHIFT dedup -q --move-to="$TMP/q6" "$TMP/s.mbox" "$TMP/md6" 2>/dev/null
	for f in "$TMP/q6"/new/* "$TMP/q6"/cur/*; do [ -f "$f" ] && : >"$f" && break; done
	$MAILSHIFT dedup -q --move-to="$TMP/q6" "$TMP/s.mbox" "$TMP/md6"
	expect_eq "move, a copy cut short before the rerun: delivered again" \
	    "$(digests "$TMP/q6" | grep -v '^e3b0c44298fc1c149afbf4c8996fb924')" "$md2"
fi
# the quarantine inside the tree (-r): left out, said, so its copies are
# never taken for duplicates of each other (one copy per header variant)
python3 -c '
import mailbox, sys
md = mailbox.Maildir(sys.argv[1], create=True)
b = "From: a@x\nMessage-ID: <same@x>\nSubject: hi\n\nbody\n"
for v in ("", "Received: from relay1\n", "Received: from relay2\n"):
    md.add(v + b)' "$TMP/qt"
$MAILSHIFT dedup -r --move-to="$TMP/qt/.Dups" "$TMP/qt" >/dev/null 2>&1
$MAILSHIFT dedup -r --move-to="$TMP/qt/.Dups" "$TMP/qt" >/dev/null 2>"$TMP/qt.err"
expect_eq "quarantine in the tree: left out, said" "$(grep -c 'qt/.Dups: left out: it is the --move-to folder' "$TMP/qt.err")" 1
expect_eq "quarantine in the tree: kept 1, both variants in .Dups" \
    "$(count_files "$TMP/qt/cur" "$TMP/qt/new") $(cat "$TMP/qt/.Dups"/new/* "$TMP/qt/.Dups"/cur/* | grep -c '^Received: from relay')" "1 2"
expect_status "quarantine given as a mailbox too: usage" 64 $MAILSHIFT dedup --move-to="$TMP/qt/.Dups" "$TMP/qt" "$TMP/qt/.Dups"
# a later duplicate with the bytes of an earlier one gets its own copy
# (its flags with it): the key is of the copy's place, not only its bytes
python3 -c '
import mailbox, sys
md = mailbox.Maildir(sys.argv[1], create=True)
for fl in ("", "S", "F"):
    m = mailbox.MaildirMessage("From: b@x\nMessage-ID: <b@x>\n\nsame bytes\n")
    m.set_subdir("cur"); m.set_flags(fl); md.add(m)' "$TMP/qs"
$MAILSHIFT dedup -q --move-to="$TMP/qs.q" "$TMP/qs"
python3 -c '
import mailbox, sys
m = mailbox.MaildirMessage("From: b@x\nMessage-ID: <b@x>\n\nsame bytes\n")
m.set_subdir("cur"); m.set_flags("RT"); mailbox.Maildir(sys.argv[1]).add(m)' "$TMP/qs"
$MAILSHIFT dedup -q --move-to="$TMP/qs.q" "$TMP/qs"
expect_eq "same bytes later: a copy of its own, with its flags" \
    "$(count_files "$TMP/qs.q/cur") $(ls "$TMP/qs.q/cur" | grep -c ':2,RT$') $(count_files "$TMP/qs/cur")" "3 1 1"
$MAILSHIFT convert -q "$DATA/sample.mbox" "$TMP/md3" 2>/dev/null
$MAILSHIFT dedup --dry-run --move-to="$TMP/q2" "$TMP/s.mbox" "$TMP/md3" >"$TMP/out" 2>&1
expect_eq "move dry-run: lines" "$(grep -c '^would move ' "$TMP/out")" 40
check "move dry-run: no quarantine" test ! -e "$TMP/q2"
expect_eq "move dry-run: source kept" "$(count_files "$TMP/md3/cur" "$TMP/md3/new")" 40

# Maildir++ tree: INBOX and .Archive hold the same messages; -r compares
# each folder on its own, --scope=tree across them
rm -rf "$TMP/tree"
$MAILSHIFT convert -q "$DATA/sample.mbox" "$TMP/tree" 2>/dev/null
cp -R "$TMP/tree" "$TMP/arch"
mv "$TMP/arch" "$TMP/tree/.Archive"
$MAILSHIFT dedup "$TMP/tree" >"$TMP/out" 2>/dev/null
expect_eq "without -r: INBOX only" "$(tail -n 1 "$TMP/out")" "40 messages in 1 mailbox: 0 duplicates in 0 sets, 0 bytes"
$MAILSHIFT dedup -q --delete -r "$TMP/tree"
expect_eq "-r: .Archive's copies are its own" "$(count_files "$TMP/tree/.Archive/cur" "$TMP/tree/.Archive/new")" 40
$MAILSHIFT dedup -q --delete -r --scope=tree "$TMP/tree"
expect_eq "-r: INBOX kept" "$(count_files "$TMP/tree/cur" "$TMP/tree/new")" 40
expect_eq "-r: .Archive copies removed" "$(count_files "$TMP/tree/.Archive/cur" "$TMP/tree/.Archive/new")" 0

# a compressed mbox is read, but cannot be changed in place
if command -v gzip >/dev/null; then
	gzip -c "$DATA/sample.mbox" >"$TMP/s.mbox.gz"
	$MAILSHIFT convert -q "$DATA/sample.mbox" "$TMP/md4" 2>/dev/null
	$MAILSHIFT dedup "$TMP/s.mbox.gz" "$TMP/md4" >"$TMP/out" 2>/dev/null
	expect_eq "gzip: duplicates found" "$(grep -c ' duplicate of .*s.mbox.gz:' "$TMP/out")" 40
	expect_status "gzip: --delete refused" 64 $MAILSHIFT dedup --delete "$TMP/md4" "$TMP/s.mbox.gz"
	expect_eq "gzip: refusal leaves the maildir" "$(count_files "$TMP/md4/cur" "$TMP/md4/new")" 40
fi

# not a mailbox
printf '%%PDF-1.4\n' >"$TMP/x.pdf"
expect_status "a PDF is refused" 65 $MAILSHIFT dedup "$TMP/x.pdf"

# --move-to naming a symbolic link: as root it is never followed, and that
# is said before the scan (nothing planned, nothing moved)
mkdir "$TMP/qreal" && ln -s qreal "$TMP/qlink"
$MAILSHIFT convert -q "$DATA/sample.mbox" "$TMP/md7" 2>/dev/null
$MAILSHIFT convert -q "$DATA/sample.mbox" "$TMP/md8" 2>/dev/null
if [ "$(id -u)" = 0 ]; then
	$MAILSHIFT dedup --move-to="$TMP/qlink" "$TMP/md7" "$TMP/md8" >"$TMP/out7" 2>"$TMP/err7"
	expect_eq "--move-to=SYMLINK as root: exit" $? 73
	expect_eq "--move-to=SYMLINK as root: the line" "$(cat "$TMP/err7")" \
		"mailshift dedup: error: --move-to=$TMP/qlink: a symbolic link, not followed as root: name the directory it points to"
	expect_eq "--move-to=SYMLINK as root: nothing planned" "$(wc -c <"$TMP/out7" | tr -d ' ')" 0
	expect_eq "--move-to=SYMLINK as root: nothing moved" "$(count_files "$TMP/md8/cur" "$TMP/md8/new")" 40
else
	expect_status "--move-to=SYMLINK: exit" 0 $MAILSHIFT dedup -q --move-to="$TMP/qlink" "$TMP/md7" "$TMP/md8"
	expect_eq "--move-to=SYMLINK: moved through it" "$(count_files "$TMP/qreal/cur" "$TMP/qreal/new")" 40
fi

# --- a client renames a file between the scan and the comparison ---------------
# dd holds A, B (a copy of A) and C (32 MiB, read last by the scan). When the
# scan opens C, B is renamed new/B -> cur/B:2,S (a flag change). The
# comparison, the report and --delete follow B to its new name: exit 0,
# nothing said on stderr, B removed and its flag not lost on the way.
{
	printf 'From a@ex Mon Jan  4 10:00:00 2021\nMessage-ID: <ab@ex>\nSubject: twice\n\nsame\n\n'
	printf 'From a@ex Mon Jan  4 10:00:00 2021\nMessage-ID: <ab@ex>\nSubject: twice\n\nsame\n\n'
	printf 'From c@ex Mon Jan  4 11:00:00 2021\nMessage-ID: <c@ex>\nSubject: big\n\n'
	yes 'a line of the body of a large message, to keep the scan busy a while' | head -c 33554432
	echo
} >"$TMP/abc.mbox"
for act in report delete; do
	rm -rf "$TMP/dd"
	$MAILSHIFT convert -q "$TMP/abc.mbox" "$TMP/dd"
	set -- $(ls "$TMP/dd/new" | sort -t Q -k2 -n)
	a=$1 b=$2 c=$3
	[ "$act" = delete ] && d=-d || d=
	python3 "$T_SRCDIR/rename-when-touched.py" "$TMP/dd/new/$c" "$TMP/dd/new/$b" "$TMP/dd/cur/$b:2,S" \
	    $MAILSHIFT dedup $d "$TMP/dd" >"$TMP/dd.out" 2>"$TMP/dd.err"
	st=$?
	[ $st = 77 ] && { echo "# no inotify: a rename during dedup is not tried"; break; }
	expect_eq "renamed during dedup ($act): exit" $st 0
	expect_eq "renamed during dedup ($act): nothing on stderr" "$(cat "$TMP/dd.err")" ""
	expect_eq "renamed during dedup ($act): found under its new name" \
	    "$(grep -c "cur/$b:2,S duplicate of .*new/$a\$" "$TMP/dd.out")" 1
	if [ "$act" = delete ]; then
		expect_eq "renamed during dedup: removed, A and C kept" "$(ls "$TMP/dd/new" "$TMP/dd/cur" | grep "^[0-9]" | sort | tr '\n' ' ')" \
		    "$(printf '%s\n' "$a:2,S" "$c" | sort | tr '\n' ' ')"
	fi
done

# removed instead (an expunge): said as vanished, exit 1, the rest kept
rm -rf "$TMP/dd"
$MAILSHIFT convert -q "$TMP/abc.mbox" "$TMP/dd"
set -- $(ls "$TMP/dd/new" | sort -t Q -k2 -n)
python3 "$T_SRCDIR/rename-when-touched.py" "$TMP/dd/new/$3" "$TMP/dd/new/$2" - \
    $MAILSHIFT dedup -d "$TMP/dd" >"$TMP/dd.out" 2>"$TMP/dd.err"
st=$?
if [ $st != 77 ]; then
	expect_eq "removed during dedup: exit" $st 1
	expect_eq "removed during dedup: the line" "$(cat "$TMP/dd.err")" \
	    "mailshift dedup: error: $TMP/dd/new/$2: vanished since it was read (removed, not renamed)"
	expect_eq "removed during dedup: A and C kept" "$(count_files "$TMP/dd/new" "$TMP/dd/cur")" 2
fi

done_testing
