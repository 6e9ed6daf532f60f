#!/usr/bin/env bash
# Lab host helpers for the deploy benchmark (bench/run.ts). Each host is a lab network namespace.
#
#   hosts.sh reset NS...   flush the filter table of both families, delete user chains and the persisted rule
#                          files (/etc/netns/<ns>/iptables/rules.v4|v6): the state of a freshly built host
#   hosts.sh check NS...   the job was done: in each family, lo ACCEPT in INPUT and OUTPUT and the loopback-source
#                          DROP, live and in the persisted file; prints each host that fails and exits 1
set -euo pipefail

reset_one() {
	local ns=$1
	ip netns exec "$ns" sh -c 'iptables -w -F && iptables -w -X && ip6tables -w -F && ip6tables -w -X'
	rm -f "/etc/netns/$ns/iptables/rules.v4" "/etc/netns/$ns/iptables/rules.v6"
}

# has TEXT LINE-REGEX...: every regex matches some line of TEXT
has() {
	local text=$1 re
	shift
	for re in "$@"; do
		grep -Eq -- "$re" <<<"$text" || return 1
	done
}

check_one() {
	local ns=$1 v4 v6 f4 f6 dir="/etc/netns/$1/iptables"
	v4=$(ip netns exec "$ns" iptables-save -t filter)
	v6=$(ip netns exec "$ns" ip6tables-save -t filter)
	f4=$(cat "$dir/rules.v4" 2>/dev/null || true)
	f6=$(cat "$dir/rules.v6" 2>/dev/null || true)
	# Our rules carry a comment (-m comment ...) between the match and the target; Ansible's and the floor's do not.
	local r4=('^-A INPUT -i lo( .*)? -j ACCEPT$' '^-A INPUT -s 127\.0\.0\.0/8 ! -i lo( .*)? -j DROP$' '^-A OUTPUT -o lo( .*)? -j ACCEPT$')
	local r6=('^-A INPUT -i lo( .*)? -j ACCEPT$' '^-A INPUT -s ::1/128 ! -i lo( .*)? -j DROP$' '^-A OUTPUT -o lo( .*)? -j ACCEPT$')
	has "$v4" "${r4[@]}" || { echo "$ns: live IPv4 rules incomplete"; return 1; }
	has "$v6" "${r6[@]}" || { echo "$ns: live IPv6 rules incomplete"; return 1; }
	has "$f4" "${r4[@]}" || { echo "$ns: $dir/rules.v4 missing or incomplete"; return 1; }
	has "$f6" "${r6[@]}" || { echo "$ns: $dir/rules.v6 missing or incomplete"; return 1; }
}

cmd=${1:-}
shift || true
case "$cmd" in
reset)
	for ns in "$@"; do reset_one "$ns"; done
	;;
check)
	rc=0
	for ns in "$@"; do check_one "$ns" || rc=1; done
	exit "$rc"
	;;
*)
	echo "usage: hosts.sh reset|check NS..." >&2
	exit 2
	;;
esac
