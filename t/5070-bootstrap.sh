#!/bin/sh
# t/5070-bootstrap.sh: scripts/bootstrap installs what each mode needs and
# nothing more, never starts or enables a service, and makes a release
# build.
#  - the package lists: building needs no test tool (no Dovecot, valgrind,
#    clang, zsh, GNU parallel, Check or Python); --test and --full add them;
#    every pkg-config module configure.ac asks for comes from a package of
#    the build list, every tool the tests use (`need`, `command -v`) from
#    one of the --test list or from a required package (dpkg is the oracle);
#  - installing, run against stand-ins for apt-get, dpkg-query and
#    systemctl in a copy of the tree: while apt-get runs, policy-rc.d
#    refuses to start dovecot (exit 101) and a systemd preset disables
#    dovecot.service and dovecot.socket; afterwards both are gone and the
#    policy-rc.d that was there is back, byte for byte; a dovecot.service
#    that is enabled after all is an error; configure gets no
#    --enable-test-hooks.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

BOOT=$T_SRCDIR/../scripts/bootstrap
build=$(sh "$BOOT" --list build)
test_=$(sh "$BOOT" --list test)
full=$(sh "$BOOT" --list full)
expect_eq "--list build: exit" "$?" 0
for p in dovecot-core dovecot-imapd dovecot-pop3d valgrind clang zsh parallel check python3 procmail jq; do
	case " $build " in *" $p "*) fail "building installs $p" ;; *) pass ;; esac
	case " $test_ $full " in *" $p "*) pass ;; *) fail "--test/--full lacks $p" ;; esac
done
for p in dovecot-core zsh parallel check python3; do
	case " $test_ " in *" $p "*) pass ;; *) fail "--test lacks $p" ;; esac
done
for p in valgrind clang; do
	case " $full " in *" $p "*) pass ;; *) fail "--full lacks $p" ;; esac
done
for p in $build; do
	case " $test_ " in *" $p "*) pass ;; *) fail "--test lacks the build package $p" ;; esac
done

# every dependency named (dpkg -S says which package holds a file)
if command -v dpkg >/dev/null 2>&1 && command -v pkg-config >/dev/null 2>&1; then
	# listed, or a dependency of a listed package, or required by Debian
	covered() {   # PACKAGE LIST
		case " $2 " in *" $1 "*) return 0 ;; esac
		[ "$(dpkg-query -W -f='${Priority}' "$1" 2>/dev/null)" = required ] && return 0
		for l in $2; do
			dpkg-query -W -f='${Pre-Depends}, ${Depends}\n' "$l" 2>/dev/null | tr ',' '\n' |
				sed 's/^ *//; s/[ :].*//' | grep -q -x "$1" && return 0
		done
		return 1
	}
	for m in $(sed -n 's/^PKG_CHECK_MODULES(\[[A-Z]*\], \[\([a-z]*\).*/\1/p' "$T_SRCDIR/../configure.ac"); do
		pc=$(pkg-config --variable=pcfiledir "$m" 2>/dev/null)/$m.pc
		pkg=$(dpkg -S "$(readlink -f "$pc")" 2>/dev/null | sed -n '1s/:.*//p')
		[ -n "$pkg" ] || { echo "# $m: no package holds $pc"; continue; }
		list=$build
		[ "$m" = check ] && list=$test_
		if covered "$pkg" "$list"; then pass; else fail "pkg-config $m comes from $pkg, not in the list"; fi
	done
	tools=$(grep -h -v '^[[:space:]]*#' "$T_SRCDIR"/*.sh "$T_SRCDIR/../scripts/test" |
		grep -o -E '(^|[^a-z_-])(need|command -v) [a-z][a-z0-9_.-]*' |
		sed 's/.* //' | sort -u | grep -v -x -e root -e apt-get -e systemctl)
	n=0
	for t in $tools; do
		f=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$t") || { fail "tool $t not installed here"; continue; }
		pkg=$(dpkg -S "$f" 2>/dev/null | sed -n '1s/:.*//p')
		[ -n "$pkg" ] || pkg=$(dpkg -S "$(readlink -f "$f")" 2>/dev/null | sed -n '1s/:.*//p')
		n=$((n + 1))
		if covered "$pkg" "$full"; then pass; else fail "the tests use $t, from $pkg, which bootstrap does not install"; fi
	done
	check "tools the tests use: $n" test "$n" -ge 10
else
	echo "# no dpkg or pkg-config: dependencies not traced to packages"
fi

# --- installing, against stand-ins --------------------------------------------
[ "$(id -u)" = 0 ] || { echo "# not root: the install guard not tried"; done_testing; }
policy=/usr/sbin/policy-rc.d
preset=/etc/systemd/system-preset/00-mailshift-bootstrap.preset
[ -e "$preset" ] && { echo "ERROR: $preset exists: another bootstrap runs?" >&2; exit 99; }
if [ -e "$policy" ]; then cp -p "$policy" "$TMP/policy.before"; else : >"$TMP/policy.absent"; fi

# a copy of the tree that configures and builds in no time
tree=$TMP/tree
mkdir -p "$tree/scripts" "$TMP/bin"
cp "$BOOT" "$tree/scripts/bootstrap"
(cd "$tree" && touch configure.ac Makefile.am && sleep 1 && touch Makefile.in &&
	printf '#!/bin/sh\necho "$*" >configure.args\nprintf "all:\\n\\t@echo built\\n" >Makefile\n' >configure &&
	chmod +x configure && touch config.status)
# dpkg-query: what $TMP/installed lists; apt-get install adds to it and
# records what it saw of the guard; systemctl is-enabled answers $ENABLED
cat >"$TMP/bin/dpkg-query" <<EOF
#!/bin/sh
p=\$(eval echo "\\\${\$#}")
grep -q -x "\$p" "$TMP/installed" && printf 'install ok installed' && exit 0
exit 1
EOF
cat >"$TMP/bin/apt-get" <<EOF
#!/bin/sh
for a; do case \$a in update) exit 0 ;; esac; done
st=0; "$policy" dovecot start || st=\$?
echo "policy-rc.d dovecot start: \$st" >>"$TMP/apt.seen"
cat "$preset" >>"$TMP/apt.seen" 2>/dev/null || echo "no preset" >>"$TMP/apt.seen"
for a; do case \$a in -*|install|-o|DPkg*) ;; *) echo "\$a" >>"$TMP/installed" ;; esac; done
EOF
cat >"$TMP/bin/systemctl" <<EOF
#!/bin/sh
[ "\$1" = is-enabled ] && echo "\${ENABLED:-disabled}"
EOF
chmod +x "$TMP/bin/dpkg-query" "$TMP/bin/apt-get" "$TMP/bin/systemctl"

# build mode: every package missing; nothing of the tests installed
: >"$TMP/installed"
status=0
(cd "$tree" && PATH=$TMP/bin:$PATH sh scripts/bootstrap) >"$TMP/b1.out" 2>&1 || status=$?
expect_eq "bootstrap: exit" "$status" 0
[ "$status" = 0 ] || sed 's/^/    /' "$TMP/b1.out" >&2
expect_eq "bootstrap: installed the build packages only" "$(sort "$TMP/installed" | tr '\n' ' ')" \
	"$(printf '%s\n' $build | sort | tr '\n' ' ')"
expect_eq "bootstrap: configure without --enable-test-hooks" "$(cat "$tree/configure.args")" ""
check "bootstrap: made" grep -q '^built$' "$TMP/b1.out"

# --test: the rest, with the guard up while apt-get runs
rm -f "$TMP/apt.seen"
status=0
(cd "$tree" && PATH=$TMP/bin:$PATH sh scripts/bootstrap --test) >"$TMP/b2.out" 2>&1 || status=$?
expect_eq "bootstrap --test: exit" "$status" 0
[ "$status" = 0 ] || sed 's/^/    /' "$TMP/b2.out" >&2
expect_eq "bootstrap --test: every test package installed" "$(sort -u "$TMP/installed" | tr '\n' ' ')" \
	"$(printf '%s\n' $test_ | sort -u | tr '\n' ' ')"
expect_eq "while apt-get ran: no start, dovecot's units disabled" "$(grep -v '^#' "$TMP/apt.seen")" \
	"policy-rc.d dovecot start: 101
disable dovecot.service
disable dovecot.socket"
check "afterwards: the preset is gone" test ! -e "$preset"
if [ -e "$TMP/policy.absent" ]; then
	check "afterwards: no policy-rc.d (there was none)" test ! -e "$policy"
else
	check "afterwards: the policy-rc.d that was there, byte for byte" cmp -s "$policy" "$TMP/policy.before"
fi
expect_eq "bootstrap --test: configure without --enable-test-hooks" "$(cat "$tree/configure.args")" ""

# an enabled dovecot.service after a first installation is an error
grep -v -x dovecot-core "$TMP/installed" >"$TMP/i2"; mv "$TMP/i2" "$TMP/installed"
status=0
(cd "$tree" && ENABLED=enabled PATH=$TMP/bin:$PATH sh scripts/bootstrap --test) >"$TMP/b3.out" 2>&1 || status=$?
expect_eq "dovecot.service enabled: exit 1" "$status" 1
check "dovecot.service enabled: says so" grep -q "dovecot.service is enabled" "$TMP/b3.out"
check "dovecot.service enabled: the guard is gone all the same" test ! -e "$preset"
if [ -e "$TMP/policy.before" ]; then
	check "dovecot.service enabled: policy-rc.d put back" cmp -s "$policy" "$TMP/policy.before"
fi

done_testing
