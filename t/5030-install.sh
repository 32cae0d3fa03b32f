#!/bin/sh
# t/5030-install.sh: `make install DESTDIR=...` installs exactly the binary,
# the two helpers under their mailshift- names, every manual page of man/,
# the bash completion (with links for the helpers) and the zsh completion;
# the installed helpers and pages work; `make uninstall` removes them all.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

[ -n "${T_BUILDDIR:-}" ] && [ -f "$T_BUILDDIR/../Makefile" ] ||
	{ echo "SKIP: run from make check (needs the build directory)"; exit 77; }
top=$(cd "$T_BUILDDIR/.." && pwd)
src=$(cd "$T_SRCDIR/.." && pwd)
DEST=$TMP/inst
# A make of its own: not the jobserver of the make check around us.
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top" "$@"; }
# The installation directories as the Makefile expands them.
var() { printf 'print:\n\t@echo $(%s)\n' "$1" | mk -f Makefile -f - print; }

status=0
mk install DESTDIR="$DEST" >"$TMP/install.out" 2>&1 || status=$?
expect_eq "make install: exit status" "$status" 0
[ "$status" = 0 ] || tail -n 20 "$TMP/install.out" >&2

bindir=$(var bindir) mandir=$(var mandir)
bashc=$(var bashcompletiondir) zshc=$(var zshcompletiondir)
check "bindir is absolute ($bindir)" test "${bindir#/}" != "$bindir"
{
	for f in mailshift mailshift-migrate-spool mailshift-cron-maintenance; do
		echo "$bindir/$f"
	done
	for p in "$src"/man/*.[1-9]; do
		n=${p##*/}
		echo "$mandir/man${n##*.}/$n"
	done
	echo "$bashc/mailshift"
	echo "$bashc/mailshift-cron-maintenance"
	echo "$bashc/mailshift-migrate-spool"
	echo "$zshc/_mailshift"
} | sort >"$TMP/want"
(cd "$DEST" && find . \( -type f -o -type l \) | sed 's|^\.||' | sort) >"$TMP/got"
check "installed files are exactly the expected ones" cmp -s "$TMP/want" "$TMP/got"
diff "$TMP/want" "$TMP/got" | sed 's/^/    /' >&2
expect_eq "manual pages installed" "$(grep -c "^$mandir/" "$TMP/got")" "$(ls "$src"/man/*.[1-9] | wc -l | tr -d ' ')"
check "at least 9 manual pages" test "$(grep -c "^$mandir/" "$TMP/got")" -ge 9

# The installed files work.
for h in migrate-spool cron-maintenance; do
	check "mailshift-$h is executable" test -x "$DEST$bindir/mailshift-$h"
	check "mailshift-$h is the script" cmp -s "$src/scripts/$h" "$DEST$bindir/mailshift-$h"
	expect_eq "bash completion link for mailshift-$h" "$(readlink "$DEST$bashc/mailshift-$h")" mailshift
	expect_status "installed mailshift-$h --help" 0 "$DEST$bindir/mailshift-$h" --help
done
expect_status "installed mailshift --version" 0 "$DEST$bindir/mailshift" --version
check "bash completion is the completion file" cmp -s "$src/completion/mailshift.bash" "$DEST$bashc/mailshift"
check "zsh completion is the completion file" cmp -s "$src/completion/_mailshift" "$DEST$zshc/_mailshift"
if command -v mandoc >/dev/null 2>&1; then
	for p in "$DEST$mandir"/man*/*; do
		check "mandoc -Tlint ${p##*/}" mandoc -Tlint -Wwarning "$p"
	done
fi

# The installed helper converts, finding mailshift through MAILSHIFT.
mkdir "$TMP/spool" "$TMP/dest"
cp "$DATA/sample.mbox" "$TMP/spool/$(id -un)"
status=0
(cd "$TMP" && MAILSHIFT=$DEST$bindir/mailshift "$DEST$bindir/mailshift-migrate-spool" \
	--spool "$TMP/spool" --dest "$TMP/dest/%u" --runner xargs) >"$TMP/mig.out" 2>&1 || status=$?
expect_eq "installed migrate-spool: exit status" "$status" 0
expect_eq "installed migrate-spool: row" "$(awk 'NR == 2 { print $2, $3, $4, $5 }' "$TMP/mig.out")" "40 40 0 ok"

status=0
mk uninstall DESTDIR="$DEST" >"$TMP/uninstall.out" 2>&1 || status=$?
expect_eq "make uninstall: exit status" "$status" 0
expect_eq "nothing left after uninstall" "$(cd "$DEST" && find . \( -type f -o -type l \) | wc -l | tr -d ' ')" 0

done_testing
