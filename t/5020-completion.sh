#!/bin/sh
# t/5020-completion.sh: the bash and zsh completion files know every command
# and every option. The commands come from `mailshift --help`, the options
# from each command's `--help` (popt prints them all) and from the helpers'
# --help: an option added without completing it fails here. Then bash's
# completion is run for a few command lines and its answers checked, and
# both files are syntax-checked (zsh when installed).
. "${T_SRCDIR:-$(dirname "$0")}/lib.sh"

need bash
BASHC=$T_SRCDIR/../completion/mailshift.bash
ZSHC=$T_SRCDIR/../completion/_mailshift
SCRIPTS=$T_SRCDIR/../scripts

# Long options of a --help text: "  -r, --recursive ..." or "      --deep ..."
# (at most 6 blanks in front: deeper lines continue a description).
long_options() { sed -n 's/^ \{1,6\}\(-[^ ,]*, \)\{0,1\}\(--[a-z0-9][a-z0-9-]*\).*/\2/p'; }
# Short options: "  -r, --recursive" (popt) or "  -j, --jobs N" (helpers).
short_options() { sed -n 's/^ *\(-[A-Za-z?]\), --.*/\1/p'; }

# The options a completion file lists for one command:
#   bash: the "CMD) opts='...'" line plus $_mailshift_common;
#   zsh:  the body of _mailshift_CMD() plus the _mailshift_common array.
bash_opts() {
	bash -c '. "$1"; _mailshift_options "$2"' sh "$BASHC" "$1"
}
zsh_section() {
	awk -v f="_mailshift_$1() {" '$0 == f { on = 1 } on { print } on && /^}/ { exit }' "$ZSHC"
	awk '/^_mailshift_common=\(/ { on = 1 } on { print } on && /^\)/ { exit }' "$ZSHC"
	if awk -v f="_mailshift_$1() {" '$0 == f { on = 1 } on { print } on && /^}/ { exit }' "$ZSHC" |
	    grep -q '\$_mailshift_dry_run'; then
		awk '/^_mailshift_dry_run=\(/ { on = 1 } on { print } on && /^\)/ { exit }' "$ZSHC"
	fi
}
# The options a zsh section spells: --opt, -x, {-x,--opt}
zsh_words() {
	grep -o -E -- "(^|[^a-z0-9-])--?[a-z0-9?][a-z0-9-]*" | sed 's/^[^-]*//' | sort -u
}
# in_words WORD LIST: WORD is one of the blank-separated words of LIST
# (split as the shell splits them: no process for each of a thousand calls)
in_words() { for w in $2; do [ "$w" = "$1" ] && return 0; done; return 1; }
# zsh spells an option as --opt[ --opt=[ {-x,--opt} --opt=} -x+ ...
# (one grep reading a here-document; sed only for an option with a "?")
in_zsh() {
	case $1 in *'?'*) pat=$(printf '%s' "$1" | sed 's/?/\\\\?/') ;; *) pat=$1 ;; esac
	grep -q -E -- "(^|[^a-z0-9-])$pat([^a-z0-9-]|\$)" <<EOF
$2
EOF
}

commands=$("$MAILSHIFT" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
expect_eq "commands listed by mailshift --help" "$(echo $commands)" "check convert dedup repair stats"

total=0
for cmd in $commands; do
	"$MAILSHIFT" "$cmd" --help >"$TMP/help" 2>&1
	longs=$(long_options <"$TMP/help")
	shorts=$(short_options <"$TMP/help")
	n=$(echo $longs | wc -w)
	check "$cmd: --help lists options ($n)" test "$n" -ge 9
	b=$(bash_opts "$cmd")
	z=$(zsh_section "$cmd")
	check "$cmd: bash has a line for the command" grep -q "^[[:space:]]*$cmd) opts=" "$BASHC"
	check "$cmd: zsh has a function for the command" grep -q "^_mailshift_$cmd() {" "$ZSHC"
	check "$cmd: bash completes the command name" grep -q "compgen -W '.*\\<$cmd\\>" "$BASHC"
	check "$cmd: zsh describes the command" grep -q "^ *'$cmd:" "$ZSHC"
	for o in $longs $shorts; do
		total=$((total + 1))
		if in_words "$o" "$b"; then pass; else fail "bash completion lacks $cmd $o"; fi
		if in_zsh "$o" "$z"; then pass; else fail "zsh completion lacks $cmd $o"; fi
	done
	# and nothing the command does not have (check and stats: no --dry-run)
	for o in $b; do
		if in_words "$o" "$longs $shorts"; then pass; else fail "bash completion offers $cmd $o, not in --help"; fi
	done
	for o in $(printf '%s\n' "$z" | grep -v -e '_arguments' -e ':_files' | zsh_words); do
		if in_words "$o" "$longs $shorts"; then pass; else fail "zsh completion offers $cmd $o, not in --help"; fi
	done
done

# The helpers' options: their --help against their completion functions.
for h in migrate-spool cron-maintenance; do
	fn=$(echo "$h" | tr - _)
	sh "$SCRIPTS/$h" --help >"$TMP/help" 2>&1
	b=$(awk -v f="_mailshift_$fn()" '$0 == f { on = 1 } on { print } on && /^}/ { exit }' "$BASHC")
	z=$(awk -v f="_mailshift_$fn() {" '$0 == f { on = 1 } on { print } on && /^}/ { exit }' "$ZSHC")
	n=0
	for o in $(long_options <"$TMP/help") $(short_options <"$TMP/help"); do
		n=$((n + 1)) total=$((total + 1))
		if printf '%s\n' "$b" | grep -q -- "[ ']$o[ ']"; then pass; else fail "bash completion lacks mailshift-$h $o"; fi
		if in_zsh "$o" "$z"; then pass; else fail "zsh completion lacks mailshift-$h $o"; fi
	done
	check "mailshift-$h: --help lists options ($n)" test "$n" -ge 6
	check "mailshift-$h: bash registers it" grep -q "^complete -F _mailshift_$fn mailshift-$h\$" "$BASHC"
	check "mailshift-$h: zsh registers it" grep -q "^#compdef .*mailshift-$h" "$ZSHC"
done
echo "# $total options checked in both files"

# Run the bash completion: COMP_WORDS as bash would hand them over.
complete_words() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
		fn=$(complete -p "$1" | sed "s/.* -F \([^ ]*\) .*/\1/"); "$fn";
		printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' sh "$BASHC" "$@"
}
expect_eq "bash: mailshift <TAB>" "$(complete_words mailshift '')" \
	"--help --version check convert dedup help repair stats "
expect_eq "bash: mailshift help <TAB>" "$(complete_words mailshift help '')" \
	"check convert dedup repair stats "
expect_eq "bash: mailshift con<TAB>" "$(complete_words mailshift con)" "convert "
expect_eq "bash: convert --sy<TAB>" "$(complete_words mailshift convert --sy)" "--sync "
expect_eq "bash: convert --sync=<TAB>" "$(complete_words mailshift convert --sync =)" "batch message none "
expect_eq "bash: convert --sync=m<TAB>" "$(complete_words mailshift convert --sync = m)" "message "
expect_eq "bash: convert --to <TAB>" "$(complete_words mailshift convert --to '')" "maildir mbox "
expect_eq "bash: dedup --keep <TAB>" "$(complete_words mailshift dedup --keep '')" \
	"first largest newest oldest smallest "
expect_eq "bash: stats --co<TAB>" "$(complete_words mailshift stats --co)" "--color --counts "
expect_eq "bash: -q check --d<TAB>" "$(complete_words mailshift -q check --d)" "--deep "
expect_eq "bash: repair --d<TAB>" "$(complete_words mailshift repair --d)" "--deep --dry-run "
expect_eq "bash: convert --owner roo<TAB>" "$(complete_words mailshift convert --owner roo)" "root "
mkdir "$TMP/mbdir" && : >"$TMP/mbdir/inbox.mbox"
expect_eq "bash: mailbox file names" "$(complete_words mailshift stats "$TMP/mbdir/in")" "$TMP/mbdir/inbox.mbox "
expect_eq "bash: migrate-spool --sp<TAB>" "$(complete_words mailshift-migrate-spool --sp)" "--spool "
expect_eq "bash: cron-maintenance --no<TAB>" "$(complete_words mailshift-cron-maintenance --no)" "--no-dedup --no-repair "

check "bash: syntax" bash -n "$BASHC"
if command -v zsh >/dev/null 2>&1; then
	check "zsh: syntax" zsh -n "$ZSHC"
	# Loading the file defines a function per command and helper.
	out=$(zsh -f -c 'autoload -U compinit; compinit -u -D 2>/dev/null; _arguments() { :; }; _describe() { :; };
		service=mailshift; words=(mailshift); . "$1" 2>&1; print -l ${(ok)functions[(I)_mailshift*]}' zsh "$ZSHC" | tr '\n' ' ')
	expect_eq "zsh: functions defined" "$out" \
		"_mailshift _mailshift_check _mailshift_convert _mailshift_cron_maintenance _mailshift_dedup _mailshift_migrate_spool _mailshift_repair _mailshift_stats "
	# compinit reads the #compdef line from $fpath: all three commands.
	mkdir "$TMP/fpath" && cp "$ZSHC" "$TMP/fpath/"
	out=$(zsh -f -c 'fpath=("$1" $fpath); autoload -U compinit; compinit -u -d "$1/.dump";
		print -r -- $_comps[mailshift] $_comps[mailshift-migrate-spool] $_comps[mailshift-cron-maintenance]' \
		zsh "$TMP/fpath")
	expect_eq "zsh: compinit binds the three commands" "$out" "_mailshift _mailshift _mailshift"
else
	echo "# zsh not installed: zsh file checked by grep only"
fi

done_testing
