#!/bin/sh
# SPDX-License-Identifier: ISC
# pandora-agent-send.sh CONF TEMPORAL: what the Pandora FMS unix agent
# does with the data files waiting in its temporal directory, with the
# transfer keys of a real pandora_agent.conf, and tentacle-send as the
# Tentacle client (tentacle_client's options are the same).  For
# tests/cluster.bats: no network beyond what CONF names.
#
# Followed: pandorafms/pandorafms, pandora_agents/unix/pandora_agent
# (7.0NG.734): read_config (the defaults; server_pwd becomes -x '...' and
# server_ssl 1 becomes -c, put before server_opts), send_file (the child
# runs "tentacle_client -v -a server_ip -p server_port server_opts
# file"; secondary_mode on_error: only when the primary failed, the
# servers are swapped and the file sent to the secondary; always: sent
# to the primary, then to the secondary; a .data file that only one of
# them took is copied into temporal/primary or temporal/secondary for
# the one that failed, and counts as sent), send_buffered_xml_files (a
# file whose send_file returned 0 is deleted, else it stays for the next
# interval; the buffered copies go to their server later) and
# swap_servers.
#
# Keys read: server_ip, server_port, server_opts, server_pwd,
# server_ssl, secondary_mode (never, on_error, always),
# secondary_server_ip, secondary_server_port, secondary_server_opts,
# secondary_server_pwd, secondary_server_ssl, agent_name.  Keys and
# values as the agent reads them: "key value", # comments.
#
# TENTACLE (default tentacle-send in PATH) is the client.  Exit 0 when
# every file was sent (or buffered for the other server, as the agent
# counts it), 1 when one stays in TEMPORAL.  One log line per attempt
# on stderr: "send server=IP:PORT file=NAME rc=N".
set -u
conf=${1:?usage: pandora-agent-send.sh CONF TEMPORAL}
temporal=${2:?usage: pandora-agent-send.sh CONF TEMPORAL}
client=${TENTACLE:-tentacle-send}

# key NAME DEFAULT: the last value of NAME in conf (the agent's
# read_config keeps the last one), trailing blanks cut.
key() {
	v=$(sed -n "s/^[[:space:]]*$1[[:space:]]\{1,\}\(.*[^[:space:]]\)[[:space:]]*$/\1/p" \
	    "$conf" | tail -n 1)
	[ -n "$v" ] && echo "$v" || echo "$2"
}

# The agent's defaults (%DefaultConf).
p_ip=$(key server_ip localhost)
p_port=$(key server_port 41121)
p_opts=$(key server_opts '')
s_ip=$(key secondary_server_ip localhost)
s_port=$(key secondary_server_port 41121)
s_opts=$(key secondary_server_opts '')
mode=$(key secondary_mode never)
agent=$(key agent_name "$(hostname)")
# read_config: the password and server_ssl become client options.
pw=$(key server_pwd '')
[ -z "$pw" ] || p_opts="-x '$pw' $p_opts"
case $(key server_ssl 0) in 1|yes) p_opts="-c $p_opts" ;; esac
pw=$(key secondary_server_pwd '')
[ -z "$pw" ] || s_opts="-x '$pw' $s_opts"
case $(key secondary_server_ssl 0) in 1|yes) s_opts="-c $s_opts" ;; esac
case $mode in
never|on_error|always) ;;
*) echo "pandora-agent-send.sh: secondary_mode $mode" >&2; exit 64 ;;
esac

# send_one IP PORT OPTS FILE: one transfer, as the agent's child runs it
# (the options through the shell, as the agent's backticks do).
send_one() {
	eval "\"\$client\" -v -a \"\$1\" -p \"\$2\" $3 \"\$4\"" \
	    > /dev/null 2>> "$temporal/.client.log"
	rc=$?
	echo "send server=$1:$2 file=$(basename "$4") rc=$rc" >&2
	return "$rc"
}

# buffer DIR FILE: keep a copy for the server that missed it.
buffer() {
	mkdir -p "$temporal/$1" && cp "$2" "$temporal/$1/"
}

# send_file FILE: the agent's send_file() with secondary set (as
# send_buffered_xml_files calls it); 0 means sent.
send_file() {
	rc_p=0
	send_one "$p_ip" "$p_port" "$p_opts" "$1" || rc_p=$?
	case $mode in
	never)
		return "$rc_p" ;;
	on_error)
		[ "$rc_p" -ne 0 ] || return 0
		send_one "$s_ip" "$s_port" "$s_opts" "$1"
		return ;;
	always)
		rc_s=0
		send_one "$s_ip" "$s_port" "$s_opts" "$1" || rc_s=$?
		if [ "$rc_p" -ne 0 ] && [ "$rc_s" -ne 0 ]; then
			return 1
		elif [ "$rc_s" -ne 0 ]; then
			buffer secondary "$1"
		elif [ "$rc_p" -ne 0 ]; then
			buffer primary "$1"
		fi
		return 0 ;;
	esac
}

# send_buffered DIR IP PORT OPTS: the copies kept for one server
# (send_buffered_xml_files with flag_always: that server only, no
# failover; for the secondary, stop at the first failure).
send_buffered() {
	[ -d "$temporal/$1" ] || return 0
	for f in "$temporal/$1"/*.data; do
		mine "$f" || continue
		if send_one "$2" "$3" "$4" "$f"; then
			rm -f "$f"
		elif [ "$1" = secondary ]; then
			return 0
		fi
	done
}

# mine FILE: one of this agent's data files, <name>.<digits>.data with
# name the agent_name (7.0NG.734) or its MD5 (later versions, as in
# tests/data/samples); never a symbolic link.
md5=$(printf %s "$agent" | md5sum | cut -c1-32)
mine() {
	[ -f "$1" ] && [ ! -L "$1" ] || return 1
	b=$(basename "$1")
	for n in "$agent" "$md5"; do
		r=${b#"$n".}
		[ "$r" != "$b" ] || continue
		r=${r%.data}
		case $r in ''|*[!0-9]*) ;; *) return 0 ;; esac
	done
	return 1
}

st=0
for f in "$temporal"/*.data; do
	mine "$f" || continue
	if send_file "$f"; then
		rm -f "$f"
	else
		st=1
	fi
done
if [ "$mode" = always ]; then
	send_buffered primary "$p_ip" "$p_port" "$p_opts"
	send_buffered secondary "$s_ip" "$s_port" "$s_opts"
fi
exit "$st"
