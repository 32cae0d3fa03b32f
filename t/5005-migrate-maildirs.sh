#!/bin/sh
# t/5005: mailshift-migrate-spool --maildirs, the server-to-server mode:
# every user's Courier Maildir (t/gen/courier.py) becomes a Maildir for
# Dovecot, linked, owned by the user, with the state carried; the summary
# table sums the folders of each user; a rerun delivers nothing; --in-place
# writes the state beside Courier's; --hosts hands the jobs to GNU parallel's
# ssh mode (here an ssh stand-in that runs the job on this host and notes
# the host it was given: the hosts share the homes, as a fleet shares them
# over NFS). Usage errors.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (useradd)"; exit 77; }
need useradd
need userdel
need getent
need python3

MIGRATE=$T_SRCDIR/../scripts/migrate-spool
GEN=$T_SRCDIR/gen/courier.py
mkdir "$TMP/home" "$TMP/run"
u1=msd$$a u2=msd$$b u3=msd$$c
made_users=''
drop_users() {
	for u in $made_users; do userdel "$u" >/dev/null 2>&1; done
	cleanup
}
trap drop_users EXIT
trap 'exit 1' HUP INT TERM PIPE
add_user() {
	tries=0
	until useradd -M -d "$TMP/home/$1" -s /usr/sbin/nologin -U "$1" 2>"$TMP/useradd.err"; do
		tries=$((tries + 1))
		[ "$tries" -lt 20 ] || { cat "$TMP/useradd.err" >&2; exit 99; }
		sleep 0.5
	done
	made_users="$made_users $1"
	mkdir "$TMP/home/$1"
	chown "$1:$1" "$TMP/home/$1"
}
seed=1
for u in $u1 $u2 $u3; do
	add_user "$u"
	python3 "$GEN" --seed "$seed" --messages 40 --folder-messages 6 "$TMP/gen-$u" || exit 99
	mv "$TMP/gen-$u/Maildir" "$TMP/home/$u/Maildir"
	chown -R "$u:$u" "$TMP/home/$u/Maildir"
	seed=$((seed + 1))
done
# messages of a user's Maildir tree, and what the table should say
count() { find "$1" -path '*/tmp' -prune -o -type f \( -path '*/new/*' -o -path '*/cur/*' \) -print | wc -l | tr -d ' '; }
migrate() { (cd "$TMP/run" && MAILSHIFT=$MAILSHIFT sh "$MIGRATE" "$@"); }
row() { awk -v u="$1" '$1 == u { print $2, $3, $4, $5 }' "$2"; }

# --- every user with a Maildir, in parallel ------------------------------------------
runner=xargs
parallel --version 2>/dev/null | grep -q 'GNU parallel' && runner=parallel
migrate --maildirs '%h/Maildir' --dest '%h/Dovecot' -j 2 --runner "$runner" $u1 $u2 $u3 \
    >"$TMP/out" 2>"$TMP/err"
expect_eq "exit" "$?" 0
for u in $u1 $u2 $u3; do
	n=$(count "$TMP/home/$u/Maildir")
	expect_eq "$u: the table" "$(row "$u" "$TMP/out")" "$n $n 0 ok"
	expect_eq "$u: all messages, linked" \
	    "$(find "$TMP/home/$u/Dovecot" -type f -links 2 | wc -l | tr -d ' ')" "$n"
	expect_eq "$u: owned by the user" "$(find "$TMP/home/$u/Dovecot" ! -user "$u" | wc -l)" 0
	expect_eq "$u: a dovecot-uidlist per folder" \
	    "$(find "$TMP/home/$u/Dovecot" -name dovecot-uidlist | wc -l | tr -d ' ')" 6
	check "$u: subscriptions" test -s "$TMP/home/$u/Dovecot/subscriptions"
	check "$u: Courier's UIDVALIDITY" test "$(head -1 "$TMP/home/$u/Maildir/courierimapuiddb" | cut -d' ' -f2)" = \
	    "$(head -1 "$TMP/home/$u/Dovecot/dovecot-uidlist" | sed 's/.* V\([0-9]*\) .*/\1/')"
done
check "the log names the mode" grep -q "^maildirs %h/Maildir, dest %h/Dovecot, 3 users" "$TMP/run/mailshift-migrate-spool.log"

# --- a rerun delivers nothing -----------------------------------------------------------
migrate --maildirs '%h/Maildir' --dest '%h/Dovecot' -j 2 $u1 $u2 $u3 >"$TMP/out2" 2>&1
expect_eq "rerun: exit" "$?" 0
n=$(count "$TMP/home/$u2/Maildir")
expect_eq "rerun: all skipped" "$(row "$u2" "$TMP/out2")" "$n 0 $n ok"

# --- without USER arguments: the users whose Maildir exists --------------------------
# (other tests running at the same time have users of their own, t/5000
# with Maildirs it is writing: only this run's are counted, and the exit
# status says something only when the run met no other user's Maildir)
migrate -n --maildirs '%h/Maildir' --dest '%h/Dovecot' >"$TMP/out3" 2>&1
st=$?
# (a user row: the name, then the number of messages; t/5000 may have
# removed its users again by now, so no lookup decides it)
others=$(awk -v me="msd$$" '$2 ~ /^[0-9]+$/ && $1 != me "a" && $1 != me "b" && $1 != me "c"' \
	"$TMP/out3" | wc -l | tr -d ' ')
[ "$others" -gt 0 ] || expect_eq "all users: exit" "$st" 0
expect_eq "all users: the three" "$(grep -c "^msd$$[abc] " "$TMP/out3")" 3

# --- --in-place ------------------------------------------------------------------------
migrate --maildirs '%h/Maildir' --in-place $u1 >"$TMP/out4" 2>&1
expect_eq "in place: exit" "$?" 0
check "in place: dovecot-uidlist beside courierimapuiddb" test -f "$TMP/home/$u1/Maildir/dovecot-uidlist"
expect_eq "in place: the same UIDs as the copy" \
    "$(sed 1d "$TMP/home/$u1/Maildir/dovecot-uidlist" | cut -d' ' -f1)" \
    "$(sed 1d "$TMP/home/$u1/Dovecot/dovecot-uidlist" | cut -d' ' -f1)"
migrate --maildirs '%h/Maildir' --in-place $u1 >"$TMP/out5" 2>&1
expect_eq "in place again: exit 1" "$?" 1
check "in place again: failed, exit 73" grep -q "^$u1 .* failed: exit 73$" "$TMP/out5"

# --- --hosts: GNU parallel's ssh mode ----------------------------------------------------
if [ "$runner" = parallel ]; then
	cat >"$TMP/ssh" <<SSH
#!/bin/sh
# an ssh stand-in: note the host, run the command here
while [ \$# -gt 0 ]; do case \$1 in -*) shift ;; *) break ;; esac; done
host=\$1; shift
[ "\${1:-}" = -- ] && shift
echo "\$host" >>"$TMP/hosts.log"
exec sh -c "\$*"
SSH
	chmod +x "$TMP/ssh"
	printf '%s mx1\n%s mx2\n' "$TMP/ssh" "$TMP/ssh" >"$TMP/hosts"
	# Without SHELL in the environment, as a systemd unit runs it.
	(unset SHELL; migrate --maildirs '%h/Maildir' --dest '%h/Fleet' --hosts "$TMP/hosts" -j 1 \
	    $u1 $u2 $u3 >"$TMP/out6" 2>"$TMP/err6")
	expect_eq "--hosts: exit" "$?" 0
	for u in $u1 $u2 $u3; do
		n=$(count "$TMP/home/$u/Maildir")
		expect_eq "--hosts: $u: the table" "$(row "$u" "$TMP/out6")" "$n $n 0 ok"
	done
	expect_eq "--hosts: the jobs went to the hosts" "$(sort -u "$TMP/hosts.log" | tr '\n' ' ')" "mx1 mx2 "
else
	echo "# GNU parallel not installed: --hosts not tried"
fi

# --- usage ------------------------------------------------------------------------------
expect_status "--maildirs without %u or %h" 64 migrate --maildirs /srv/mail --dest '%h/D'
expect_status "--in-place with --dest" 64 migrate --maildirs '%h/Maildir' --in-place --dest '%h/D'
expect_status "--in-place with --remove-source" 64 migrate --maildirs '%h/Maildir' --in-place --remove-source
expect_status "--pop3 without --maildirs" 64 migrate --pop3 qmail
expect_status "--pop3 unknown" 64 migrate --maildirs '%h/Maildir' --pop3 cyrus

done_testing
