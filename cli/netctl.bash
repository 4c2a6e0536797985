# bash completion for netctl: commands, options (global and per command),
# and method names for call/notify/help (asked of the running netd).
_netctl() {
	local cur prev words cword
	_init_completion -n = 2>/dev/null || {
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	}
	local commands="call close connect forward help info isip listen ls methods monitor notify shell upgrade version"
	local global="--socket --json --timeout --quiet --help --version"
	local stream="-4 -6 --exec --sh-exec --send-only --recv-only --idle-timeout --verbose --progress
		--no-attach"
	local cmd="" i
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-s | --socket | -t | --timeout | -e | --exec | -c | --sh-exec | -w | --idle-timeout | \
			--connect-timeout | --max-conns | --event | --kind) ((i++)) ;;
		-*) ;;
		*) cmd=${words[i]}; break ;;
		esac
	done
	case $prev in
	-s | --socket)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	-e | --exec | -c | --sh-exec)
		COMPREPLY=($(compgen -c -- "$cur"))
		return
		;;
	-t | --timeout | -w | --idle-timeout | --connect-timeout | --max-conns)
		return
		;;
	--event)
		COMPREPLY=($(compgen -W "server.listening server.connection server.error server.close
			server.drop socket.lookup socket.connect socket.ready socket.data socket.drain
			socket.error socket.timeout socket.end socket.close" -- "$cur"))
		return
		;;
	--kind)
		COMPREPLY=($(compgen -W "server socket" -- "$cur"))
		return
		;;
	esac
	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$global" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi
	if [[ $cur == -* ]]; then
		case $cmd in
		connect) COMPREPLY=($(compgen -W "$global $stream --connect-timeout" -- "$cur")) ;;
		listen) COMPREPLY=($(compgen -W "$global $stream --keep-open --max-conns" -- "$cur")) ;;
		forward) COMPREPLY=($(compgen -W "$global -4 -6 --keep-open --max-conns --idle-timeout
			--verbose" -- "$cur")) ;;
		ls) COMPREPLY=($(compgen -W "$global --kind --owner" -- "$cur")) ;;
		monitor) COMPREPLY=($(compgen -W "$global --event --kind" -- "$cur")) ;;
		*) COMPREPLY=($(compgen -W "$global" -- "$cur")) ;;
		esac
		return
	fi
	case $cmd in
	call | notify | help)
		# Only the method itself, the word right after the command.
		if [ "${words[cword - 1]}" = "$cmd" ]; then
			local methods
			methods=$("${words[0]}" methods --names 2>/dev/null)
			COMPREPLY=($(compgen -W "$methods" -- "$cur"))
		fi
		;;
	connect | listen | forward)
		COMPREPLY=($(compgen -f -- "$cur"))
		;;
	esac
}
complete -F _netctl netctl
