#!/bin/sh
# Safe as root (DESIGN §1.6): symlinks and hard links inside a Maildir that
# point at /etc files are never followed into the output nor modified, a
# symlinked source is refused, --owner gives what is created to the user,
# modes follow the umask, and folder names from input never leave DEST.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }

# other tests add and remove users while this one runs (make -j): what
# /etc/passwd held stays, and every line is still a passwd entry
cp /etc/passwd "$TMP/passwd.before" || exit 99
passwd_intact() {
	grep -qvxFf /etc/passwd "$TMP/passwd.before" && return 1
	! grep -qv '^[^:]*:[^:]*:[0-9]*:[0-9]*:[^:]*:[^:]*:[^:]*$' /etc/passwd
}
hosts_sum=$(sha256sum </etc/hosts)

# --- a symlink given as the source --------------------------------------------
ln -s "$DATA/sample.mbox" "$TMP/link.mbox"
expect_status "symlinked source refused as root" 66 "$MAILSHIFT" convert -q "$TMP/link.mbox" "$TMP/l"
check "symlinked source: the line says why" grep -q "link.mbox: refusing to .*symbolic link\|link.mbox: refusing to follow a symlink" "$TMP/.err"

# --- symlinks and hard links inside a Maildir ---------------------------------
"$MAILSHIFT" convert -q "$DATA/sample.mbox" "$TMP/md"
ln -s /etc/passwd "$TMP/md/cur/1700000000.M1P1.evil:2,S"
ln -s /etc "$TMP/md/new/1700000001.M1P1.evil"
if ln /etc/hosts "$TMP/md/cur/1700000002.M1P1.hard:2,S" 2>/dev/null; then hard=1; else hard=0; fi
st=0
"$MAILSHIFT" convert --no-progress --to=mbox "$TMP/md" "$TMP/out.mbox" 2>"$TMP/sl.err" >/dev/null || st=$?
check "Maildir -> mbox with symlinks: exit 0 or 1 ($st)" test "$st" -le 1
check "symlink to /etc/passwd not followed" sh -c "! grep -q '^root:' '$TMP/out.mbox'"
check "symlinks reported" grep -q "evil:2,S: symbolic link, not followed" "$TMP/sl.err"
if [ "$st" -le 1 ]; then
	n=$(grep -c '^From ' "$TMP/out.mbox")
	check "the 40 real messages are there ($n From_ lines)" test "$n" -ge 40
fi
# --remove-source must not touch what the links point at
"$MAILSHIFT" convert -q --to=mbox --remove-source "$TMP/md" "$TMP/out2.mbox" 2>/dev/null
check "symlink itself left in place by --remove-source" test -L "$TMP/md/cur/1700000000.M1P1.evil:2,S"
check "/etc/passwd unchanged (every line kept, nothing but passwd entries)" passwd_intact
expect_eq "/etc/hosts unchanged" "$(sha256sum </etc/hosts)" "$hosts_sum"
check "/etc/passwd still a regular file" test -f /etc/passwd -a ! -L /etc/passwd
[ "$hard" = 1 ] && rm -f "$TMP/md/cur/1700000002.M1P1.hard:2,S"

# --- a symlink where the destination's cur/ should be ------------------------
mkdir -p "$TMP/trap/new" "$TMP/trap/tmp" "$TMP/victim"
ln -s "$TMP/victim" "$TMP/trap/cur"
st=0
"$MAILSHIFT" convert -q "$DATA/sample.mbox" "$TMP/trap" 2>"$TMP/trap.err" || st=$?
check "cur/ a symlink: refused (exit $st)" test "$st" -ne 0
expect_eq "cur/ a symlink: nothing written through it" "$(count_files "$TMP/victim")" 0
check "cur/ a symlink: the line names it" grep -q "trap" "$TMP/trap.err"

# --- --owner and the umask -----------------------------------------------------
user=mailshift-test
if id "$user" >/dev/null 2>&1 || useradd -M -N -s /usr/sbin/nologin "$user" 2>/dev/null; then
	expect_status "--owner: exit 0" 0 "$MAILSHIFT" convert -q --owner="$user" "$DATA/sample.mbox" "$TMP/own"
	bad=$(find "$TMP/own" ! -user "$user" | wc -l | tr -d ' ')
	expect_eq "--owner: every file and directory belongs to $user" "$bad" 0
else
	echo "# useradd failed: --owner not tried"
fi
(umask 027 && "$MAILSHIFT" convert -q "$DATA/sample.mbox" "$TMP/um")
expect_eq "umask 027: directories 0750 at most" \
	"$(find "$TMP/um" -type d -perm /027 | wc -l | tr -d ' ')" 0
expect_eq "umask 027: files 0640 at most" \
	"$(find "$TMP/um" -type f -perm /137 | wc -l | tr -d ' ')" 0
(umask 077 && "$MAILSHIFT" convert -q "$DATA/sample.mbox" "$TMP/um2")
expect_eq "umask 077: nothing readable by others or the group" \
	"$(find "$TMP/um2" -perm /077 | wc -l | tr -d ' ')" 0

# --- folder names from an mbox tree stay inside DEST ----------------------------
# names an attacker can give a folder: dots, an escaped "../../etc";
# ("..", "/" cannot be file names: folder_encode refuses them, and
# t/fuzz/fuzz_folder.c checks that no encoded name has '/' or a ".."
# component)
mkdir -p "$TMP/tree/a..b" "$TMP/tree/x%2F..%2F..%2Fetc"
cp "$DATA/sample.mbox" "$TMP/tree/inbox"
cp "$DATA/sample.mbox" "$TMP/tree/a..b/m"
cp "$DATA/sample.mbox" "$TMP/tree/x%2F..%2F..%2Fetc/m"
mkdir "$TMP/dest"
touch "$TMP/before"
(cd "$TMP" && find . ! -path './dest*' ! -path './.*' | LC_ALL=C sort) >"$TMP/.names-before"
expect_status "-r: exit 0" 0 "$MAILSHIFT" convert -q -r "$TMP/tree" "$TMP/dest/md"
# (the directories are folders too, escaped the same way)
expect_eq "-r: Maildir++ folders, escaped, directly inside DEST" \
	"$(cd "$TMP/dest/md" && find . -mindepth 1 -maxdepth 1 -type d -name '.?*' | LC_ALL=C sort | tr '\n' ' ')" \
	"./.a%2E%2Eb ./.a%2E%2Eb.m ./.x%252F%2E%2E%252F%2E%2E%252Fetc ./.x%252F%2E%2E%252F%2E%2E%252Fetc.m "
expect_status "-r --layout=fs: exit 0" 0 "$MAILSHIFT" convert -q -r --layout=fs "$TMP/tree" "$TMP/dest/fs"
expect_eq "-r --layout=fs: one escaped directory per component" \
	"$(cd "$TMP/dest/fs" && find . -mindepth 1 -type d ! -name cur ! -name new ! -name tmp | LC_ALL=C sort | tr '\n' ' ')" \
	"./a%2E%2Eb ./a%2E%2Eb/m ./x%252F%2E%2E%252F%2E%2E%252Fetc ./x%252F%2E%2E%252F%2E%2E%252Fetc/m "
# (the sources' directories change: the dotlock that reading takes
# is created and removed there, mailshift-convert(1) "Locking")
outside=$(find "$TMP" -newer "$TMP/before" ! -type d ! -path "$TMP/dest*" ! -path "$TMP/.*" | wc -l | tr -d ' ')
expect_eq "-r: no file outside DEST changed" "$outside" 0
(cd "$TMP" && find . ! -path './dest*' ! -path './.*' | LC_ALL=C sort) >"$TMP/.names-after"
check "-r: nothing created outside DEST" cmp -s "$TMP/.names-before" "$TMP/.names-after"
expect_status "-r back to mbox: exit 0" 0 "$MAILSHIFT" convert -q -r --to=mbox "$TMP/dest/md" "$TMP/dest/back"
check "-r back to mbox: names decode to the original folders, inside DEST" \
	test -f "$TMP/dest/back/a..b/m" -a -f "$TMP/dest/back/x%2F..%2F..%2Fetc/m"

# --- a directory swapped for a symlink while convert runs -------------------
# The writer opens DEST, tmp/, new/ and cur/ once (O_DIRECTORY|O_NOFOLLOW)
# and works relative to those descriptors: swapping cur/ or new/ for a
# symlink to another directory mid-run must never put a file there.
python3 "$T_SRCDIR/gen-mbox.py" 3000 5 2000 >"$TMP/race.mbox"
mkdir -p "$TMP/victim2"
"$MAILSHIFT" convert -q --sync=none "$TMP/race.mbox" "$TMP/race" 2>"$TMP/race.err" &
pid=$!
swaps=0
# first swap once delivery has started (an early swap is simply refused)
while kill -0 "$pid" 2>/dev/null && [ ! -d "$TMP/race/tmp" ]; do sleep 0.01; done
while kill -0 "$pid" 2>/dev/null; do
	for sub in cur new tmp; do
		if mv "$TMP/race/$sub" "$TMP/race/$sub.real" 2>/dev/null; then
			ln -s "$TMP/victim2" "$TMP/race/$sub"
			swaps=$((swaps + 1))
			rm -f "$TMP/race/$sub"
			mv "$TMP/race/$sub.real" "$TMP/race/$sub"
		fi
	done
done
wait "$pid"
st=$?
echo "# race: $swaps swaps, exit $st"
check "race: exit 0, or 73/74 with a line ($st)" test "$st" -eq 0 -o "$st" -eq 73 -o "$st" -eq 74
expect_eq "race: nothing written through the symlink" "$(count_files "$TMP/victim2")" 0
expect_status "race: rerun completes" 0 "$MAILSHIFT" convert -q --sync=none "$TMP/race.mbox" "$TMP/race"
expect_eq "race: all 3000 messages, once" \
	"$(find "$TMP/race/new" "$TMP/race/cur" -type f | wc -l | tr -d ' ')" 3000

done_testing
