# t/dovecot.sh: a real Dovecot reading a Maildir, for the UID state tests
# (t/60xx). Sourced after lib.sh. The imap and pop3 binaries run on a pipe
# in preauth mode with a minimal configuration: no daemon, no auth. As root,
# Dovecot refuses to serve mail as root, so the maildir goes to `nobody`.
DOVECOT_LIBEXEC=${DOVECOT_LIBEXEC:-/usr/lib/dovecot}

need_dovecot() {
	[ -x "$DOVECOT_LIBEXEC/imap" ] && [ -x "$DOVECOT_LIBEXEC/pop3" ] ||
		{ echo "SKIP: Dovecot (dovecot-imapd, dovecot-pop3d) not installed"; exit 77; }
	chmod 711 "$TMP"
	mkdir -p "$TMP/dovecot/run" "$TMP/dovecot/state"
	if [ "$(id -u)" = 0 ]; then
		dc_user=nobody
		dc_group=$(id -gn nobody)
	else
		dc_user=$(id -un)
		dc_group=$(id -gn)
	fi
}

# dovecot_conf MAILDIR: the configuration file for serving MAILDIR
dovecot_conf() {
	c="$TMP/dovecot/conf"
	cat >"$c" <<CONF
mail_location = maildir:$1
mail_uid = $dc_user
mail_gid = $dc_group
ssl = no
protocols = imap pop3
base_dir = $TMP/dovecot/run
state_dir = $TMP/dovecot/state
log_path = $TMP/dovecot/log
CONF
	[ "$(id -u)" = 0 ] && chown -R "$dc_user:$dc_group" "$1"
	echo "$c"
}

# dovecot_imap MAILDIR COMMAND...: the responses (CR removed)
dovecot_imap() {
	md=$1; shift
	c=$(dovecot_conf "$md")
	printf '%s\r\n' "$@" "z LOGOUT" |
		env -i PATH="$PATH" USER="$dc_user" HOME="$TMP/dovecot" "$DOVECOT_LIBEXEC/imap" -c "$c" 2>>"$TMP/dovecot/log" |
		tr -d '\r'
}

# dovecot_fetch MAILDIR: "UID n FLAGS (...)" per message in sequence order
dovecot_fetch() {
	dovecot_imap "$1" 'a SELECT INBOX' 'b FETCH 1:* (UID FLAGS)' |
		sed -n 's/^\* [0-9]* FETCH (\(.*\))$/\1/p'
}

# dovecot_status MAILDIR: "UIDNEXT n UIDVALIDITY v"
dovecot_status() {
	dovecot_imap "$1" 'a STATUS INBOX (UIDVALIDITY UIDNEXT)' |
		sed -n 's/^\* STATUS INBOX (\(.*\))$/\1/p'
}

# dovecot_uidl MAILDIR: the POP3 UIDL listing "n uidl"
dovecot_uidl() {
	c=$(dovecot_conf "$1")
	printf 'UIDL\r\nQUIT\r\n' |
		env -i PATH="$PATH" USER="$dc_user" HOME="$TMP/dovecot" "$DOVECOT_LIBEXEC/pop3" -c "$c" 2>>"$TMP/dovecot/log" |
		tr -d '\r' | sed -n 's/^\([0-9][0-9]* [^ ]*\)$/\1/p'
}

# served_copy MAILDIR NAME: a copy Dovecot may change; prints its path
served_copy() {
	rm -rf "$TMP/$2"
	cp -a "$1" "$TMP/$2"
	echo "$TMP/$2"
}

# dovecot_mbox_imap SPOOL COMMAND...: a Dovecot serving the mbox SPOOL as
# INBOX (mbox driver: it adds X-IMAPbase, X-UID, Status, X-Keywords and
# rewrites the file in place under its fcntl lock and dotlock). The spool's
# directory becomes the Dovecot user's, for the dotlock. Responses, CR removed.
dovecot_mbox_imap() {
	sp=$1; shift
	c="$TMP/dovecot/mbox.conf"
	mkdir -p "$TMP/dovecot/mail"
	cat >"$c" <<CONF
mail_location = mbox:$TMP/dovecot/mail:INBOX=$sp
mail_uid = $dc_user
mail_gid = $dc_group
ssl = no
protocols = imap
base_dir = $TMP/dovecot/run
state_dir = $TMP/dovecot/state
log_path = $TMP/dovecot/log
CONF
	[ "$(id -u)" = 0 ] && chown "$dc_user:$dc_group" "$sp" "$(dirname "$sp")" && chown -R "$dc_user:$dc_group" "$TMP/dovecot/mail"
	printf '%s\r\n' "$@" "z LOGOUT" |
		env -i PATH="$PATH" USER="$dc_user" HOME="$TMP/dovecot" "$DOVECOT_LIBEXEC/imap" -c "$c" 2>>"$TMP/dovecot/log" |
		tr -d '\r'
}

# dovecot_imap_wait MAILDIR COMMAND...: as dovecot_imap, but each command
# is sent only once the previous one has completed, and LOGOUT last: a
# large FETCH is not cut off by the end of the input.
dovecot_imap_wait() {
	md=$1; shift
	c=$(dovecot_conf "$md")
	python3 - "$DOVECOT_LIBEXEC/imap" "$c" "$dc_user" "$TMP/dovecot" "$@" 2>>"$TMP/dovecot/log" <<'PY'
import os, subprocess, sys
imap, conf, user, home = sys.argv[1:5]
env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'USER': user, 'HOME': home}
p = subprocess.Popen([imap, '-c', conf], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
out = sys.stdout.buffer
for cmd in sys.argv[5:] + ['z LOGOUT']:
    tag = cmd.split(' ', 1)[0].encode()
    p.stdin.write(cmd.encode() + b'\r\n')
    p.stdin.flush()
    while True:
        line = p.stdout.readline()
        if not line:
            break
        out.write(line.replace(b'\r', b''))
        if line.startswith(tag + b' '):
            break
p.stdin.close()
out.write(p.stdout.read().replace(b'\r', b''))
p.wait()
PY
}

# dovecot_served_maildir MAILDIR [--no-validity] / dovecot_served_mbox
# SPOOL [--no-validity]: what Dovecot serves from a mailbox, one line per
# message (UID, flags, RFC822.SIZE, a hash of the served text), UIDVALIDITY,
# UIDNEXT and the POP3 UIDLs (t/oracle/dovecot-served.py). Dovecot may
# change what it serves: give it a copy.
dovecot_served_maildir() {
	c=$(dovecot_conf "$1")
	python3 "$ORACLE/dovecot-served.py" "$DOVECOT_LIBEXEC" "$c" "$dc_user" "$TMP/dovecot" ${2:-} 2>>"$TMP/dovecot/log"
}
dovecot_served_mbox() {
	c="$TMP/dovecot/mbox.conf"
	rm -rf "$TMP/dovecot/mail"
	mkdir -p "$TMP/dovecot/mail"
	cat >"$c" <<CONF
mail_location = mbox:$TMP/dovecot/mail:INBOX=$1
mail_uid = $dc_user
mail_gid = $dc_group
ssl = no
protocols = imap pop3
base_dir = $TMP/dovecot/run
state_dir = $TMP/dovecot/state
log_path = $TMP/dovecot/log
CONF
	[ "$(id -u)" = 0 ] && chown "$dc_user:$dc_group" "$1" "$(dirname "$1")" && chown -R "$dc_user:$dc_group" "$TMP/dovecot/mail"
	python3 "$ORACLE/dovecot-served.py" "$DOVECOT_LIBEXEC" "$c" "$dc_user" "$TMP/dovecot" ${2:-} 2>>"$TMP/dovecot/log"
}
