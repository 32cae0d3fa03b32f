# bash completion for mailshift(1), mailshift-migrate-spool(1) and
# mailshift-cron-maintenance (see mailshift-cron(7)).
# Installed as "mailshift" in the bash-completion directory, with links
# named after the two helpers so that bash-completion finds it for them.
#
# One line per command lists its options (t/5020-completion.sh checks them
# against each command's --help); options taking a value complete it below.
# COMPREPLY=($(compgen ...)) is the bash-completion idiom: words are split
# on IFS on purpose.
# shellcheck disable=SC2207

_mailshift_common='--quiet -q --verbose -v --json --progress --no-progress --help -h'
# the commands that change something have a dry run
_mailshift_dry_run='--dry-run -n'

_mailshift_options()
{
	case $1 in
	check) opts='--recursive -r --deep --tmp-age' ;;
	convert) opts="--to -t --mbox-format --keep-mbox-headers --strip-status --sync --batch --local-time --owner --lock-timeout --from-format --sort --compress --recursive -r --layout --folder-names --remove-source --uid-state --in-place --overwrite-state --pop3 --labels --keep-expunged $_mailshift_dry_run" ;;
	dedup) opts="--key -k --keep --delete -d --move-to --recursive -r --scope --lock-timeout $_mailshift_dry_run" ;;
	repair) opts="--recursive -r --deep --tmp-age --quarantine $_mailshift_dry_run" ;;
	stats) opts='--recursive -r --top --by --attachments --duplicates --deep --counts --csv --color' ;;
	*) opts='' ;;
	esac
	printf '%s\n' "$opts $_mailshift_common"
}

# Complete the value of option $1 (cur is the word being completed);
# returns 1 when the option takes no value.
_mailshift_value()
{
	local words_for=''
	case $1 in
	--to|-t) words_for='maildir mbox' ;;
	--mbox-format|--from-format) words_for='auto mboxo mboxrd mboxcl mboxcl2' ;;
	--sync) words_for='batch message none' ;;
	--sort) words_for='delivery date name none' ;;
	--compress) words_for='gzip zstd xz none' ;;
	--layout) words_for='maildir++ fs' ;;
	--folder-names) words_for='utf8 mutf7' ;;
	--uid-state) words_for='dovecot none' ;;
	--pop3) words_for='courier qmail none' ;;
	--labels) words_for='folders keywords none' ;;
	--scope) words_for='folder tree' ;;
	--key|-k) words_for='message-id body full headers' ;;
	--keep) words_for='first oldest newest smallest largest' ;;
	--by) words_for='year month' ;;
	--runner) words_for='xargs parallel' ;;
	--color) words_for='auto always never' ;;
	--owner)
		COMPREPLY=($(compgen -u -- "$cur"))
		return 0 ;;
	--move-to|--quarantine|--spool)
		COMPREPLY=($(compgen -d -- "$cur"))
		return 0 ;;
	--hosts|--log|--status-log)
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0 ;;
	--batch|--lock-timeout|--tmp-age|--top|--dest|-j|--jobs)
		COMPREPLY=()
		return 0 ;;
	*) return 1 ;;
	esac
	COMPREPLY=($(compgen -W "$words_for" -- "$cur"))
	return 0
}

# "--opt=value": with '=' in COMP_WORDBREAKS (the default) bash hands the
# words "--opt" "=" "value"; make prev the option and cur the value.
_mailshift_split_eq()
{
	if [[ $cur == = ]]; then
		cur=''
	elif [[ $prev == = ]] && ((COMP_CWORD >= 2)); then
		prev=${COMP_WORDS[COMP_CWORD-2]}
	fi
}

_mailshift()
{
	local cur prev cmd i
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	_mailshift_split_eq
	cmd=''
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W 'check convert dedup repair stats help --help --version' -- "$cur"))
		return 0
	fi
	if [[ $cmd == help ]]; then       # mailshift help COMMAND
		[[ $prev == help ]] && COMPREPLY=($(compgen -W 'check convert dedup repair stats' -- "$cur"))
		return 0
	fi
	# --opt=value
	if [[ $cur == --*=* ]]; then
		local opt=${cur%%=*}
		cur=${cur#*=}
		_mailshift_value "$opt"
		return 0
	fi
	_mailshift_value "$prev" && return 0
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_mailshift_options "$cmd")" -- "$cur"))
		return 0
	fi
	# Mailboxes: files and directories ("-" is standard input).
	COMPREPLY=($(compgen -f -- "$cur"))
	compopt -o filenames 2>/dev/null
	return 0
}

_mailshift_migrate_spool()
{
	local cur prev
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	_mailshift_split_eq
	_mailshift_value "$prev" && return 0
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W '--spool --dest --maildirs --in-place --pop3 --jobs -j --hosts --log --dry-run -n --remove-source --runner --help -h' -- "$cur"))
		return 0
	fi
	COMPREPLY=($(compgen -u -- "$cur"))      # user names
	return 0
}

_mailshift_cron_maintenance()
{
	local cur prev
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	_mailshift_split_eq
	_mailshift_value "$prev" && return 0
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W '--status-log --no-repair --no-dedup --recursive -r --verbose -v --help -h' -- "$cur"))
		return 0
	fi
	COMPREPLY=($(compgen -f -- "$cur"))
	compopt -o filenames 2>/dev/null
	return 0
}

complete -F _mailshift mailshift
complete -F _mailshift_migrate_spool mailshift-migrate-spool
complete -F _mailshift_cron_maintenance mailshift-cron-maintenance
