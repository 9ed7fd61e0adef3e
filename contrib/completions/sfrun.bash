# bash completion for sfrun(1)                           -*- shell-script -*-
#
# Installed as share/bash-completion/completions/sfrun. It works with the
# bash-completion package (then a command's own arguments are completed by
# that command's completion) and without it (source this file).

# _sfrun_keys SFRUN [-S PATH]: the keys the server holds, one a line, from
# `sfrun --status --json`: parsed with python3 if there is one, else with
# grep and sed (which skip keys with control characters). --status never
# starts a server.
_sfrun_keys()
{
	local json
	if command -v timeout >/dev/null 2>&1; then
		json=$(timeout 3 "$@" --status --json 2>/dev/null) || return 0
	else
		json=$("$@" --status --json 2>/dev/null) || return 0
	fi
	if command -v python3 >/dev/null 2>&1; then
		printf '%s\n' "$json" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("runs") or []:
    if "\n" not in r["key"]:
        print(r["key"])' 2>/dev/null
	else
		printf '%s\n' "$json" |
		    grep -oE '"key":"([^"\\]|\\.)*"' |
		    grep -vE '[^\\](\\\\)*\\u' |
		    sed -e 's/^"key":"//' -e 's/"$//' -e 's/\\\(["\\/]\)/\1/g'
	fi | sort -u
}

# _sfrun_words: COMP_WORDS into _sfrun_w with "--opt" "=" "value" joined
# back into "--opt=value" (COMP_WORDBREAKS splits at "="), and a Redis URL
# "redis" ":" "//host" ":" "6379" back into one word (it splits at ":"
# too); _sfrun_at[j] is the index in COMP_WORDS where word j starts,
# _sfrun_cw the cursor's word.
_sfrun_words()
{
	local i j=0 n=${#COMP_WORDS[@]}

	_sfrun_w=("${COMP_WORDS[0]}")
	_sfrun_at=(0)
	_sfrun_cw=0
	for ((i = 1; i < n; i++)); do
		if [[ ${COMP_WORDS[i]} == = && ${_sfrun_w[j]} == --?* &&
		    ${_sfrun_w[j]} != *=* ]]; then
			_sfrun_w[j]+='='
		elif [[ ${COMP_WORDS[i - 1]} == = && ${_sfrun_w[j]} == --?*= ]]; then
			_sfrun_w[j]+=${COMP_WORDS[i]}
		elif [[ ${COMP_WORDS[i]} == :* &&
		    ${_sfrun_w[j]} == ?(--backend=)@(redis|unix)?(:*) ]]; then
			_sfrun_w[j]+=${COMP_WORDS[i]}
		elif [[ ${COMP_WORDS[i - 1]} == *: &&
		    ${_sfrun_w[j]} == ?(--backend=)@(redis|unix):* ]]; then
			_sfrun_w[j]+=${COMP_WORDS[i]}
		else
			_sfrun_w[++j]=${COMP_WORDS[i]}
			_sfrun_at[j]=$i
		fi
		((i == COMP_CWORD)) && _sfrun_cw=$j
	done
}

# _sfrun_files CUR: file names for -S.
_sfrun_files()
{
	if declare -F _filedir >/dev/null 2>&1; then
		cur=$1 _filedir
	else
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$1")
	fi
}

# _sfrun_optarg OPT: which kind of argument option OPT takes: key, cmd,
# dur, sock, url, prefix, loss, fallback, code; fails if it takes none.
_sfrun_optarg()
{
	case $1 in
	k | --key | --forget) echo key ;;
	c | --command) echo cmd ;;
	t | w | --timeout | --run-timeout | --kill-after | --join-window | \
	    --linger | --lease | --backend-linger) echo dur ;;
	S | --socket) echo sock ;;
	--backend) echo url ;;
	--backend-prefix) echo prefix ;;
	--on-leader-loss) echo loss ;;
	--fallback) echo fallback ;;
	E | --conflict-exit-code) echo code ;;
	*) return 1 ;;
	esac
}

_sfrun()
{
	local _sfrun_w _sfrun_at _sfrun_cw
	local cur pre='' i w opt arg='' cmd=-1 sfrun k
	local -a sock=() keys=()
	local opts='-k --key -c --command -t --timeout --run-timeout
	    --kill-after -w --join-window -n --no-join -E
	    --conflict-exit-code -d --detach --keep
	    --linger --tty --fresh -v --verbose -q --quiet -S --socket --backend
	    --backend-prefix --on-leader-loss --fallback --lease
	    --backend-linger --status --json --forget --stop-server -h --help
	    -V --version --'

	COMPREPLY=()
	_sfrun_words
	cur=${_sfrun_w[_sfrun_cw]}

	# Walk the words before the cursor as getopt_long does: options stop
	# at "--" or at the first word that is not an option or an option's
	# argument; that is where the command starts. Note -S on the way.
	for ((i = 1; i < _sfrun_cw; i++)); do
		w=${_sfrun_w[i]}
		if [[ $arg ]]; then
			[[ $arg == sock ]] && sock=(-S "$w")
			arg=
			continue
		fi
		case $w in
		--)
			cmd=$((i + 1))
			break ;;
		--socket=*)
			sock=(-S "${w#*=}") ;;
		--*=*)
			;;
		--*)
			arg=$(_sfrun_optarg "$w") ;;
		-?*)
			opt=${w#-}
			while [[ $opt ]]; do
				if arg=$(_sfrun_optarg "${opt:0:1}"); then
					if [[ ${opt:1} ]]; then
						[[ $arg == sock ]] &&
						    sock=(-S "${opt:1}")
						arg=
					fi
					break
				fi
				opt=${opt:1}
			done ;;
		*)
			cmd=$i
			break ;;
		esac
	done

	# The cursor on an option's argument: "-k KEY", "--key=KEY".
	if ((cmd < 0)) && [[ -z $arg && $cur == --?*=* ]]; then
		arg=$(_sfrun_optarg "${cur%%=*}") || arg=none
		# Without "=" in COMP_WORDBREAKS the whole word is replaced.
		[[ ${COMP_WORDS[COMP_CWORD]} == --?*=* ]] && pre=${cur%%=*}=
		cur=${cur#*=}
	fi
	((cmd < 0)) && [[ -z $arg && $cur != -* ]] && cmd=$_sfrun_cw

	if ((cmd == _sfrun_cw)); then
		mapfile -t COMPREPLY < <(compgen -c -- "$cur")
	elif ((cmd >= 0)); then
		if declare -F _command_offset >/dev/null 2>&1; then
			_command_offset "${_sfrun_at[cmd]}"
		else
			_sfrun_files "$cur"
		fi
	elif [[ $arg == sock ]]; then
		_sfrun_files "$cur"
	elif [[ $arg == cmd ]]; then
		mapfile -t COMPREPLY < <(compgen -c -- "$cur")
	elif [[ $arg == loss ]]; then
		mapfile -t COMPREPLY < <(compgen -P "$pre" -W 'fail rerun' -- "$cur")
	elif [[ $arg == fallback ]]; then
		mapfile -t COMPREPLY < <(compgen -P "$pre" -W 'local fail' -- "$cur")
	elif [[ $arg == url && $cur != *:* ]]; then
		# The scheme, or "none"; the rest of a URL is the user's to type.
		mapfile -t COMPREPLY < <(compgen -W 'none redis:// unix://' -- "$cur")
		[[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *:// ]] &&
		    compopt -o nospace 2>/dev/null
		COMPREPLY=("${COMPREPLY[@]/#/$pre}")
	elif [[ $arg == key ]]; then
		sfrun=${_sfrun_w[0]}
		[[ $sfrun == \~/* ]] && sfrun=$HOME/${sfrun#\~/}
		[[ $sfrun == */* && ! -x $sfrun ]] && sfrun=sfrun
		mapfile -t keys < <(_sfrun_keys "$sfrun" "${sock[@]}")
		for k in "${keys[@]}"; do
			w=$(printf '%q' "$k")
			if [[ $k == "$cur"* || $w == "$cur"* ]]; then
				COMPREPLY+=("$pre$w")
			fi
		done
	elif [[ -z $arg ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
	fi
	# A duration, a prefix, the rest of a URL, or an option that takes
	# none: nothing to offer.
	return 0
}

complete -F _sfrun sfrun
