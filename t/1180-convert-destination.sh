#!/bin/sh
# t/1180-convert-destination.sh: without --to, the destination's shape
# decides the direction (mailshift-convert(1) DESTINATION): "-" and an
# existing file are mboxes, an existing directory a Maildir, a new name
# ending in .mbox or .mbx (also with .gz, .zst, .xz) an mbox, anything
# else the other format than the source's. Missing parent directories of
# DEST are created (not in a dry run); a file in the way, a Maildir
# converted into a directory and a directory of mboxes given without -r
# get one line that says what to do.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

cd "$TMP" || exit 99
cp "$DATA/sample.mbox" inbox.mbox
nfrom() { grep -c '^From ' "$1"; }
kind() { if [ -d "$1" ]; then [ -d "$1/cur" ] && echo maildir || echo directory;
	elif [ -f "$1" ]; then echo file; else echo none; fi; }

# a new DEST named like an mbox
for d in new.mbox new.mbx; do
	expect_status "$d: exit" 0 "$MAILSHIFT" convert -q inbox.mbox "$d"
	expect_eq "$d: an mbox file" "$(kind "$d")" file
	expect_eq "$d: 40 messages" "$(nfrom "$d")" 40
done
for z in gz:gzip xz:xz zst:zstd; do
	sfx=${z%%:*} tool=${z#*:}
	command -v "$tool" >/dev/null 2>&1 || { echo "# $tool not installed: .$sfx not tried"; continue; }
	expect_status "new.mbox.$sfx: exit" 0 "$MAILSHIFT" convert -q inbox.mbox "new.mbox.$sfx"
	expect_eq "new.mbox.$sfx: a compressed mbox file, 40 messages" \
		"$(kind "new.mbox.$sfx") $("$tool" -dc <"new.mbox.$sfx" | grep -c '^From ')" "file 40"
done
# --to wins over the name
expect_status "--to=maildir x.mbox: exit" 0 "$MAILSHIFT" convert -q --to=maildir inbox.mbox x.mbox
expect_eq "--to=maildir x.mbox: a Maildir" "$(kind x.mbox)" maildir

# an existing file is an mbox: appended to when it is one, refused when not
python3 "$T_SRCDIR/gen-mbox.py" 5 1 500 >five.mbox
cp new.mbox old-mail
expect_status "existing mbox file: exit" 0 "$MAILSHIFT" convert -q five.mbox old-mail
expect_eq "existing mbox file: appended to (45 messages)" "$(nfrom old-mail)" 45
check "existing mbox file: its 40 messages kept" cmp -s -n "$(wc -c <new.mbox)" new.mbox old-mail
printf 'remember the milk\n' >notes.txt
expect_status "existing text file: refused" 65 "$MAILSHIFT" convert -q inbox.mbox notes.txt
check "existing text file: the line names it" grep -q "notes.txt: not a mailbox" "$TMP/.err"
expect_eq "existing text file: unchanged" "$(cat notes.txt)" "remember the milk"

# a new name without a suffix: the other format
expect_status "new plain name: exit" 0 "$MAILSHIFT" convert -q inbox.mbox Mail
expect_eq "new plain name from an mbox: a Maildir" "$(kind Mail)" maildir
expect_status "Maildir to a new plain name: exit" 0 "$MAILSHIFT" convert -q Mail back
expect_eq "Maildir to a new plain name: an mbox file" "$(kind back) $(nfrom back)" "file 40"
# an existing directory: a Maildir, which a Maildir source cannot become
mkdir spare
expect_status "mbox into an existing directory: exit" 0 "$MAILSHIFT" convert -q inbox.mbox spare
expect_eq "mbox into an existing directory: a Maildir" "$(kind spare)" maildir
mkdir empty
expect_status "Maildir into an existing directory: exit 73" 73 "$MAILSHIFT" convert -q Mail empty
expect_eq "Maildir into a directory: one line with the hint" "$(cat "$TMP/.err")" \
	"mailshift convert: error: empty is a directory but no Maildir: a Maildir converts into an mbox file (name one, such as empty/NAME.mbox), or with --to=maildir into a Maildir (its messages linked, its server's state carried)"
expect_eq "Maildir into a directory: nothing made" "$(ls empty | wc -l | tr -d ' ')" 0

# missing parents are created, as mkdir -p would (the umask applies)
(umask 022 && "$MAILSHIFT" convert -q inbox.mbox deep/er/Maildir) ||
	fail "Maildir under missing parents: exit $?"
expect_eq "Maildir under missing parents" "$(kind deep/er/Maildir)" maildir
expect_eq "parents: mode 755" "$(stat -c %a deep deep/er | tr '\n' ' ')" "755 755 "
expect_status "mbox under missing parents: exit" 0 "$MAILSHIFT" convert -q Mail arch/2024/all.mbox
expect_eq "mbox under missing parents" "$(kind arch/2024/all.mbox) $(nfrom arch/2024/all.mbox)" "file 40"
expect_status "-r under missing parents: exit" 0 "$MAILSHIFT" convert -q -r arch trees/one/Maildir
expect_eq "-r under missing parents" "$(kind trees/one/Maildir)" maildir
expect_status "--dry-run: exit" 0 "$MAILSHIFT" convert -q --dry-run inbox.mbox dry/run/Maildir
expect_eq "--dry-run: no parent made" "$(kind dry)" none
expect_status "a file in the way: exit 73" 73 "$MAILSHIFT" convert -q inbox.mbox notes.txt/sub/Maildir
expect_eq "a file in the way: one line naming it" "$(cat "$TMP/.err")" \
	"mailshift convert: error: unable to create notes.txt/sub/Maildir: notes.txt is a file, not a directory"
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	expect_status "--owner: exit" 0 "$MAILSHIFT" convert -q --owner=nobody inbox.mbox own/ed/Maildir
	expect_eq "--owner: the parents made belong to the owner" \
		"$(stat -c %U own own/ed own/ed/Maildir | tr '\n' ' ')" "nobody nobody nobody "
fi

# a directory of mboxes without -r: the hint, and the other sources go on
mkdir box
cp inbox.mbox box/one
cp inbox.mbox box/two.mbox
expect_status "directory of mboxes: exit 65" 65 "$MAILSHIFT" convert -q box inbox.mbox M2
expect_eq "directory of mboxes: the hint" "$(cat "$TMP/.err")" \
	"mailshift convert: error: box: a directory of mboxes, not a Maildir: convert it with -r (one Maildir++ folder per mbox)"
expect_eq "directory of mboxes: the other source converted" "$(count_files M2/new M2/cur)" 40
expect_status "directory of mboxes with -r: exit" 0 "$MAILSHIFT" convert -q -r box M3
expect_eq "directory of mboxes with -r: two folders of 40" \
	"$(count_files M3/.one/new M3/.one/cur M3/.two*/new M3/.two*/cur)" 80

# DEST a symbolic link to a directory: as root never followed (one line
# that says so, not "Not a directory"); as another user it is followed
mkdir real && ln -s real link
if [ "$(id -u)" = 0 ]; then
	"$MAILSHIFT" convert -q "$DATA/sample.mbox" link 2>"$TMP/.err"
	expect_eq "DEST a symlink, as root: exit" $? 73
	expect_eq "DEST a symlink, as root: the line" "$(cat "$TMP/.err")" \
		"mailshift convert: error: link: a symbolic link, not followed as root: name the directory it points to"
	expect_eq "DEST a symlink, as root: nothing written" "$(ls real | wc -l | tr -d ' ')" 0
else
	expect_status "DEST a symlink, not root: exit" 0 "$MAILSHIFT" convert -q "$DATA/sample.mbox" link
	expect_eq "DEST a symlink, not root: delivered through it" "$(count_files real/new real/cur)" 40
fi

done_testing
