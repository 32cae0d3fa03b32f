#!/bin/sh
# t/5040-readme.sh: every command shown in README.md runs. The ```sh test
# blocks are extracted and run in order, each with `sh -e`, in one scratch
# directory prepared as README.md's "Examples" says: inbox.mbox (the
# sample), old.gz and archive-2019.mbox.xz (other messages), archive/*.mbox,
# a home directory for ~ (nobody's: "you"), a Courier Maildir at
# /srv/courier/carol/Maildir, and /var/mail, /home and /srv replaced by
# directories of the sandbox. Blocks tagged "root" need root (two test users take the
# places of alice and bob), blocks tagged "parallel" need GNU parallel;
# without them those blocks are skipped, the rest still runs. The only
# untagged ```sh blocks allowed are the quick start and the build commands
# (what scripts/test runs); a new untagged block fails this test.
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

need jq
need xz
need gzip
need python3
README=$T_SRCDIR/../README.md
SB=$TMP/sb
mkdir -p "$SB/bin" "$SB/var/mail" "$SB/home" "$SB/work/archive" "$TMP/blocks"

# 1. The blocks: NN.sh with the commands, NN.tags with the info string.
awk -v dir="$TMP/blocks" '
	/^```sh/ && !on { on = 1; n++; f = sprintf("%s/%02d", dir, n);
		tags = $0; sub(/^```sh */, "", tags); print tags > (f ".tags"); close(f ".tags");
		printf "" > (f ".sh"); next }
	/^```$/ && on { on = 0; close(f ".sh"); next }
	on { print >> (f ".sh") }
' "$README"
nblocks=$(ls "$TMP/blocks"/*.sh | wc -l | tr -d ' ')
untagged=''
for t in "$TMP/blocks"/*.tags; do
	case $(cat "$t") in test*) ;; *) untagged="$untagged ${t%.tags}.sh" ;; esac
done
set -- $untagged
expect_eq "untagged sh blocks: the quick start and the build only" "$#" 2
expect_eq "quick start block, exactly" "$(cat "$1")" "scripts/demo
scripts/test"
check "build block: autoreconf, configure, make" grep -q '^autoreconf -fi && ./configure && make$' "$2"
ntest=$((nblocks - $#))
check "README has tested blocks ($ntest)" test "$ntest" -ge 10

# 2. The sandbox: the binaries on PATH, the data, the users.
ln -s "$MAILSHIFT" "$SB/bin/mailshift"
for h in migrate-spool cron-maintenance; do
	printf '#!/bin/sh\nexec sh "%s" "$@"\n' "$T_SRCDIR/../scripts/$h" >"$SB/bin/mailshift-$h"
	chmod +x "$SB/bin/mailshift-$h"
done
# Other messages: the sample with new Message-IDs and subjects.
variant() { sed "s/^\\(Message-I[Dd]: *<\\)/\\1$1./; s/^Subject: /Subject: [$1] /"; }
cp "$DATA/sample.mbox" "$SB/work/inbox.mbox"
variant old <"$DATA/sample.mbox" | gzip >"$SB/work/old.gz"
variant a2019 <"$DATA/sample.mbox" | xz >"$SB/work/archive-2019.mbox.xz"
variant a2020 <"$DATA/sample.mbox" >"$SB/work/archive/2020.mbox"
variant a2021 <"$DATA/sample.mbox" >"$SB/work/archive/2021.mbox"
root=''
[ "$(id -u)" = 0 ] && command -v useradd >/dev/null 2>&1 && root=1
alice=alice bob=bob
made_users=''
drop_users() { for u in $made_users; do userdel "$u" >/dev/null 2>&1; done; cleanup; }
trap drop_users EXIT
trap 'exit 1' HUP INT TERM PIPE
if [ -n "$root" ]; then
	alice=msr$$a bob=msr$$b
	for u in $alice $bob; do
		tries=0
		until useradd -M -d "$SB/home/$u" -s /usr/sbin/nologin -U "$u" 2>"$TMP/useradd.err"; do
			tries=$((tries + 1))
			[ "$tries" -lt 20 ] || { cat "$TMP/useradd.err" >&2; exit 99; }
			sleep 0.5
		done
		made_users="$made_users $u"
	done
fi
mkdir -p "$SB/home/$alice" "$SB/home/$bob" "$SB/home/you"
[ -z "$root" ] || { chown "$alice:$alice" "$SB/home/$alice"; chown "$bob:$bob" "$SB/home/$bob"; }
cp "$DATA/sample.mbox" "$SB/var/mail/$alice"
variant bob <"$DATA/sample.mbox" >"$SB/var/mail/$bob"
[ -z "$root" ] || { chown "$alice" "$SB/var/mail/$alice"; chown "$bob" "$SB/var/mail/$bob"; }
# A Courier-IMAP Maildir for the server switchover (t/gen/courier.py).
python3 "$T_SRCDIR/gen/courier.py" --seed 5 --messages 30 --folder-messages 4 "$TMP/courier" >/dev/null ||
	exit 99
mkdir -p "$SB/srv/courier/carol"
mv "$TMP/courier/Maildir" "$SB/srv/courier/carol/Maildir"
parallel=''
parallel --version 2>/dev/null | grep -q 'GNU parallel' && parallel=1

# The documented substitution: /var/mail and /home into the sandbox, the
# user names, the example hosts of the parallel section (the local host).
substitute() {
	sed -e "s|/var/mail|$SB/var/mail|g" -e "s|/home/|$SB/home/|g" -e "s| /srv/| $SB/srv/|g" \
	    -e "s/\\balice\\b/$alice/g" -e "s/\\bbob\\b/$bob/g" \
	    -e 's/[0-9]*\/mx[0-9]\.example\.org/:/g' "$1"
}

# 3. Run them in order.
ran=0 skipped=0
for b in "$TMP/blocks"/*.sh; do
	tags=$(cat "${b%.sh}.tags")
	case $tags in test*) ;; *) continue ;; esac
	case " $tags " in *" root "*) [ -n "$root" ] || { skipped=$((skipped + 1)); continue; } ;; esac
	case " $tags " in *" parallel "*) [ -n "$parallel" ] || { skipped=$((skipped + 1)); continue; } ;; esac
	substitute "$b" >"$b.run"
	status=0
	(cd "$SB/work" && HOME=$SB/home/you PATH=$SB/bin:$PATH MAILSHIFT=$SB/bin/mailshift \
		sh -e "$b.run") >"$b.out" 2>"$b.err" </dev/null || status=$?
	ran=$((ran + 1))
	if [ "$status" = 0 ]; then pass; else
		fail "README block $(basename "$b" .sh) exits $status"
		sed 's/^/    cmd: /' "$b" >&2
		tail -n 5 "$b.err" | sed 's/^/    stderr: /' >&2
	fi
done
echo "# $ran README blocks run, $skipped skipped (root: ${root:-no}, GNU parallel: ${parallel:-no})"
check "at least the unprivileged blocks ran ($ran)" test "$ran" -ge 6
[ -z "${T_KEEP_README:-}" ] || cp -r "$TMP/blocks" "$T_KEEP_README"

# 4. What the blocks must have produced (block order as in README.md).
out_of() { grep -l -F -- "$1" "$TMP/blocks"/*.sh | head -n 1 | sed 's/\.sh$/.sh.out/'; }
o=$(out_of 'jq .delivered')
expect_eq "convert: --json .delivered of the xz archive" "$(cat "$o")" 40
expect_eq "convert: ~/Maildir after the examples" \
	"$(find "$SB/home/you/Maildir/new" "$SB/home/you/Maildir/cur" -type f | wc -l | tr -d ' ')" 120
check "convert: the mbox written back" test -s "$SB/work/backup.mbox"
# (the Maildir copies: sample.mbox's 42975 bytes without its metadata headers)
o=$(out_of 'mailshift dedup --delete')
expect_eq "dedup: report, then the 40 copies deleted" "$(cat "$o")" \
	"160 messages in 2 mailboxes: 40 duplicates in 40 sets, 42557 bytes
deleted 40"
o=$(out_of 'mailshift stats -r --json')
expect_eq "stats: -r --json total" "$(tail -n 1 "$o")" 120
o=$(out_of 'tail -n 1 ~/status.jsonl')
expect_eq "cron: status line" "$(cat "$o")" "[0,0,0,120]"
o=$(out_of 'courierimapuiddb /srv/dovecot')
expect_eq "switchover: Courier's UIDVALIDITY in dovecot-uidlist" \
	"$(sed -n 2p "$o" | cut -d' ' -f2)" "$(sed -n 5p "$o" | sed 's/^3 V\([0-9]*\) .*/\1/')"
expect_eq "switchover: every message of the tree linked" \
	"$(find "$SB/srv/dovecot/carol/Maildir" -type f -links 2 | wc -l | tr -d ' ')" \
	"$(find "$SB/srv/courier/carol/Maildir" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l | tr -d ' ')"
if [ -n "$parallel" ]; then
	o=$(out_of "parallel mailshift stats")
	expect_eq "parallel: the two archives converted" "$(sort "$o")" '["archive/2020.maildir",40]
["archive/2021.maildir",40]'
fi
if [ -n "$root" ]; then
	md=$SB/home/$alice/Maildir
	expect_eq "migration: Maildir owner" "$(stat -c %U "$SB/home/$bob/Maildir")" "$bob"
	expect_eq "migration: bob's messages" \
		"$(find "$SB/home/$bob/Maildir/new" "$SB/home/$bob/Maildir/cur" -type f | wc -l | tr -d ' ')" 40
	expect_eq "migration: spool files emptied" \
		"$(wc -c <"$SB/var/mail/$alice" | tr -d ' ') $(wc -c <"$SB/var/mail/$bob" | tr -d ' ')" "0 0"
	o=$(out_of "/home/alice/Maildir | jq .total.messages")
	expect_eq "migration: mbox and Maildir totals" "$(grep -x '[0-9]*' "$o")" "40
$(find "$md/new" "$md/cur" -type f | wc -l | tr -d ' ')"
fi

done_testing
