#!/bin/sh
# t/5030-install.sh: `make install DESTDIR=...` installs exactly the release
# binary (no test hooks), the two helpers under their mailshift- names
# (calling the mailshift of their bindir), every manual page of man/ and a
# man1 link for mailshift-cron-maintenance, the bash completion (with links
# for the helpers) and the zsh completion; the installed helpers and pages
# work; `make uninstall` removes them all. A build with the test hooks
# refuses to install. As root, a user without privileges installs into a
# --prefix of their own (completion under the prefix too), `man` finds
# every page there, and the README's crontab line runs under cron's
# environment (env -i, PATH=/usr/bin:/bin) from that prefix.
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

# A hooked build refuses, before anything is installed.
status=0
mk install DESTDIR="$DEST" test_hooks=yes >"$TMP/refused.out" 2>&1 || status=$?
check "hooked build: make install fails ($status)" test "$status" -ne 0
check "hooked build: the refusal says why" \
	grep -q "make install: refused: this build has the test hooks compiled in" "$TMP/refused.out"
expect_eq "hooked build: nothing installed" "$(find "$DEST" 2>/dev/null | wc -l | tr -d ' ')" 0

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
	echo "$mandir/man1/mailshift-cron-maintenance.1"
	echo "$bashc/mailshift"
	echo "$bashc/mailshift-cron-maintenance"
	echo "$bashc/mailshift-migrate-spool"
	echo "$zshc/_mailshift"
} | sort >"$TMP/want"
(cd "$DEST" && find . \( -type f -o -type l \) | sed 's|^\.||' | sort) >"$TMP/got"
check "installed files are exactly the expected ones" cmp -s "$TMP/want" "$TMP/got"
diff "$TMP/want" "$TMP/got" | sed 's/^/    /' >&2
expect_eq "manual pages installed" "$(grep -c "^$mandir/man[1-9]/mailshift[a-z-]*\.[1-9]$" "$TMP/got")" \
	$(($(ls "$src"/man/*.[1-9] | wc -l) + 1))
check "at least 9 manual pages" test "$(grep -c "^$mandir/" "$TMP/got")" -ge 9
expect_eq "man1 link for mailshift-cron-maintenance" \
	"$(readlink "$DEST$mandir/man1/mailshift-cron-maintenance.1")" ../man7/mailshift-cron.7

# The installed files work.
expect_eq "installed mailshift: a release build" "$("$DEST$bindir/mailshift" --version)" \
	"mailshift $(var PACKAGE_VERSION)"
for h in migrate-spool cron-maintenance; do
	check "mailshift-$h is executable" test -x "$DEST$bindir/mailshift-$h"
	expect_eq "mailshift-$h is the script, calling $bindir/mailshift" \
		"$(diff "$src/scripts/$h" "$DEST$bindir/mailshift-$h" | sed -n 's/^> //p')" \
		"installed_mailshift='$bindir/mailshift'"
	expect_eq "bash completion link for mailshift-$h" "$(readlink "$DEST$bashc/mailshift-$h")" mailshift
	expect_status "installed mailshift-$h --help" 0 "$DEST$bindir/mailshift-$h" --help
done
expect_status "installed mailshift --version" 0 "$DEST$bindir/mailshift" --version
check "bash completion is the completion file" cmp -s "$src/completion/mailshift.bash" "$DEST$bashc/mailshift"
check "zsh completion is the completion file" cmp -s "$src/completion/_mailshift" "$DEST$zshc/_mailshift"
if command -v mandoc >/dev/null 2>&1; then
	for p in "$DEST$mandir"/man*/*; do
		[ -L "$p" ] && continue    # the man1 link: its page is linted as man7
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

# --- a user's own --prefix, and cron's environment --------------------------
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null 2>&1 || ! id nobody >/dev/null 2>&1; then
	echo "# not root (or no setpriv, no nobody): the unprivileged --prefix install not tried"
	done_testing
fi
# nobody must reach the build tree and the test directory
if ! setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups test -r "$top/Makefile"; then
	echo "# the build tree is not readable by nobody: the unprivileged install not tried"
	done_testing
fi
chmod 755 "$TMP"
P=$TMP/prefix
mkdir "$P" && chown nobody "$P"
status=0
setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL HOME="$P" make -s -C "$top" install prefix="$P" \
	>"$TMP/prefix.out" 2>&1 || status=$?
expect_eq "unprivileged make install prefix=...: exit status" "$status" 0
[ "$status" = 0 ] || sed 's/^/    /' "$TMP/prefix.out" | head -n 5 >&2
check "prefix: bash completion under the prefix" test -f "$P/share/bash-completion/completions/mailshift"
check "prefix: zsh completion under the prefix" test -f "$P/share/zsh/site-functions/_mailshift"
expect_eq "prefix: nothing outside it" "$(find "$P" ! -user nobody | wc -l | tr -d ' ')" 0
if command -v man >/dev/null 2>&1; then
	for page in mailshift mailshift-convert mailshift-migrate-spool mailshift-cron-maintenance \
	    mailshift-cron mailshift-formats; do
		expect_status "man finds $page" 0 env MANPATH="$P/share/man" man -w "$page"
		check "man $page: a page of the prefix" grep -q "^$P/share/man/" "$TMP/.out"
	done
	expect_eq "man mailshift-cron-maintenance: the page of the helper" \
		"$(MANPATH=$P/share/man MANWIDTH=80 man mailshift-cron-maintenance 2>/dev/null | col -b | sed -n '/^NAME/,/^SYNOPSIS/p' | grep -c mailshift-cron-maintenance)" 1
fi

# The crontab line of the README, with the prefix for /usr/local, run as
# cron runs it: /bin/sh -c, PATH=/usr/bin:/bin, HOME and LOGNAME only.
line=$(sed -n 's/^In a crontab: `\(.*\)`\.$/\1/p' "$src/README.md")
check "README: a crontab line" test -n "$line"
cmd=$(printf '%s\n' "$line" | sed 's/^[0-9*]* [0-9*]* [0-9*]* [0-9*]* [0-9*]*  *//')
expect_eq "README: the crontab line names the helper by its path" \
	"$(printf '%s\n' "$cmd" | cut -d' ' -f1)" /usr/local/bin/mailshift-cron-maintenance
mkdir -p "$TMP/home/u"
"$MAILSHIFT" convert -q "$DATA/sample.mbox" "$TMP/home/u/Maildir" || exit 99
cmd=$(printf '%s\n' "$cmd" | sed "s|/usr/local/bin/|$P/bin/|; s|/home/|$TMP/home/|")
status=0
env -i PATH=/usr/bin:/bin HOME="$TMP/home/u" LOGNAME=root SHELL=/bin/sh /bin/sh -c "$cmd" \
	>"$TMP/cron.out" 2>&1 || status=$?
expect_eq "crontab line under cron's PATH: exit status" "$status" 0
expect_eq "crontab line under cron's PATH: silent on a clean Maildir" "$(cat "$TMP/cron.out")" ""
expect_eq "crontab line: one status line" \
	"$(wc -l <"$TMP/home/u/.local/state/mailshift/status.jsonl" | tr -d ' ')" 1

done_testing
