#!/usr/bin/env bash
# lab.sh - a local "fleet" of Linux hosts, each one a network namespace with
# its own sshd, its own iptables/ip6tables rule sets and its own /etc/iptables/.
#
#   lab.sh up [N]            create (or reconcile to exactly) N hosts lab-1..lab-N (default 4, max 200)
#   lab.sh down              remove every trace of the lab
#   lab.sh status            list hosts, addresses and whether their sshd answers
#   lab.sh exec NAME CMD...  run CMD inside host NAME's network namespace
#   lab.sh spoofable NAME    allow 127.0.0.0/8 / local-source packets on NAME's eth0
#
# Host lab-<i> lives in network namespace lbp-lab-<i>, linked to the root
# namespace with a veth pair:
#   root side  lbpl<i>  10.213.<i>.1/30  fd42:213:<i>::1/64
#   host side  eth0     10.213.<i>.2/30  fd42:213:<i>::2/64
#
# State (keys, sshd configs, logs, fleet.json) lives in $LBP_LAB_DIR
# (default /run/lbp-lab). Only loopback and these namespaces are ever touched.
set -Eeuo pipefail
# Every failure gets a "lab:" message, even one from an unexpected command.
on_err() {
	local rc=$?
	printf 'lab: command failed (exit %s) at line %s: %s\n' "$rc" "${BASH_LINENO[0]}" "${BASH_COMMAND%%$'\n'*}" >&2
	exit "$rc"
}
trap on_err ERR

PATH="${PATH:-/usr/bin:/bin}:/usr/local/sbin:/usr/sbin:/sbin"
export PATH

readonly SSHD=/usr/sbin/sshd
# LBP_LAB_ID (0-9) lets labs coexist on one machine: each id has its own namespaces, veths and subnets.
LAB_ID="${LBP_LAB_ID:-0}"
[[ "$LAB_ID" =~ ^[0-9]$ ]] || { printf 'lab: LBP_LAB_ID must be one digit, 0-9 (got %s)\n' "$LAB_ID" >&2; exit 1; }
readonly LAB_ID
if [[ "$LAB_ID" == 0 ]]; then
	readonly NS_PREFIX=lbp-lab- VETH_PREFIX=lbpl
else
	readonly NS_PREFIX="lbp-lab${LAB_ID}-" VETH_PREFIX="lbp${LAB_ID}l"
fi
readonly NET_OCTET=$((213 + LAB_ID))
readonly NAME_PREFIX=lab-
readonly SUDOERS_FILE=/etc/sudoers.d/lbp-lab
readonly LAB_USER=lbpuser
readonly MAX_HOSTS=200
readonly DEFAULT_HOSTS=4
readonly WAIT_SECONDS=10
# Lab 0 keeps /run/lbp-lab; another LBP_LAB_ID gets a directory of its own, so labs side by side never share a fleet file.
if [ "$LAB_ID" = 0 ]; then
	STATE="${LBP_LAB_DIR:-/run/lbp-lab}"
else
	STATE="${LBP_LAB_DIR:-/run/lbp-lab$LAB_ID}"
fi
STATE="${STATE%/}"
readonly STATE
readonly MARKER="$STATE/.lbp-lab"
readonly FLEET="$STATE/fleet.json"
readonly CLIENT_KEY="$STATE/id_ed25519"
readonly AUTH_KEYS="$STATE/authorized_keys"
readonly KNOWN_HOSTS="$STATE/known_hosts"
# Which state directory holds this id's namespaces: two labs of one id (another checkout's test run, say) would
# share them, and the second `up` would take over the first's hosts with their rules. Machine-wide, like the lock.
readonly OWNER_DIR=/run/lbp-lab-owners
readonly OWNER_FILE="$OWNER_DIR/$LAB_ID"
readonly LOCK_FILE=/run/lbp-lab.lock

die() {
	printf 'lab: %s\n' "$*" >&2
	exit 1
}

say() {
	printf 'lab: %s\n' "$*"
}

usage() {
	cat >&2 <<EOF
usage: lab.sh up [N]            create/reconcile N hosts lab-1..lab-N (default $DEFAULT_HOSTS, 1..$MAX_HOSTS)
       lab.sh down              remove the lab completely
       lab.sh status            list hosts, addresses and sshd state
       lab.sh exec NAME CMD...  run CMD inside host NAME's network namespace
       lab.sh spoofable NAME    set route_localnet/accept_local=1, rp_filter=0 on NAME's eth0

environment: LBP_LAB_DIR  state directory (default /run/lbp-lab, /run/lbp-labN for LBP_LAB_ID=N); the fleet file is \$LBP_LAB_DIR/fleet.json
             LBP_LAB_ID   0-9 (default 0): labs with different ids coexist (own namespaces, veths, subnets)
             LBP_LAB_WAIT seconds \`up\` waits for another lab of the same id (another LBP_LAB_DIR) to go down (default 0: refuse)
EOF
}

require_root() {
	if [[ "$(id -u)" != 0 ]]; then
		die "must run as root (network namespaces need CAP_NET_ADMIN)"
	fi
}

# Is TOOL (a name looked up in PATH, or an absolute path) an executable file?
# (Not `command -v`: bash falls back to non-executable files found in PATH.)
have_tool() {
	local tool=$1 dir
	if [[ "$tool" == /* ]]; then
		[[ -f "$tool" && -x "$tool" ]]
		return
	fi
	local IFS=:
	for dir in $PATH; do
		[[ -n "$dir" && -f "$dir/$tool" && -x "$dir/$tool" ]] && return 0
	done
	return 1
}

# need TOOL PACKAGE
need() {
	have_tool "$1" || die "required tool '$1' not found; install the Debian package '$2' (apt-get install $2)"
}

check_state_dir() {
	if [[ "$STATE" != /* ]]; then
		die "LBP_LAB_DIR must be an absolute path (got '$STATE')"
	fi
	if [[ ! "$STATE" =~ ^(/[A-Za-z0-9._-]+)+$ ]] || [[ "$STATE" == */. || "$STATE" == */.. || "$STATE" == */./* || "$STATE" == */../* ]]; then
		die "LBP_LAB_DIR must be a plain absolute path of [A-Za-z0-9._-] components (got '$STATE')"
	fi
}

# Serialise up/down against each other, machine-wide: a lab.sh of another checkout shares the namespaces, the lab
# user and the /etc mount points with this one.
take_lock() {
	if have_tool flock; then
		exec 9>>"$LOCK_FILE"
		flock -w 300 9 || die "another lab.sh up/down is still running (gave up waiting for the lock $LOCK_FILE)"
	fi
}

release_lock() {
	if have_tool flock; then flock -u 9; fi
}

# ---------------------------------------------------------------- ownership

# The state directory recorded as holding this id's namespaces (empty: none recorded).
lab_owner() {
	local owner=
	[[ -f "$OWNER_FILE" ]] && owner=$(<"$OWNER_FILE")
	printf '%s' "$owner"
}

# Make this lab the owner of the id's namespaces (under the lock): refuse (or wait, LBP_LAB_WAIT) while another
# lab that is up holds them, and remove what a lab that is gone left behind, so that no host starts with its rules.
claim_lab() {
	local owner wait=${LBP_LAB_WAIT:-0} waited=0 i leftovers=()
	[[ "$wait" =~ ^[0-9]+$ ]] || die "LBP_LAB_WAIT must be a whole number of seconds (got '$wait')"
	while owner=$(held_by_other); do
		if ((waited >= 10#$wait)); then
			die "LBP_LAB_ID=$LAB_ID is in use by the lab in $owner (its sshds are running); a second lab of the same id would take over its hosts. Fix: use another LBP_LAB_ID (0-9), take that lab down (LBP_LAB_DIR=$owner lab.sh down), or set LBP_LAB_WAIT=SECONDS to wait for it"
		fi
		((waited)) || say "waiting up to ${wait}s for the lab in $owner (LBP_LAB_ID=$LAB_ID) to go down"
		release_lock
		sleep 2
		waited=$((waited + 2))
		take_lock
	done
	owner=$(lab_owner)
	while read -r i; do
		[[ -n "$i" ]] || continue
		# A leftover is a live namespace or veth (what holds rules and processes): all of another (gone) lab's; with
		# no owner recorded (a lab.sh before owners), those this state directory knows nothing of. Files staged
		# under /etc/netns/<ns>/ before `up` (a host's own /etc entries) are not leftovers.
		ns_exists "$(ns_of "$i")" || [[ -e "/sys/class/net/$(veth_of "$i")" ]] || continue
		if [[ -n "$owner" && "$owner" != "$STATE" ]] || [[ ! -d "$(hostdir_of "$i")" ]]; then
			leftovers+=("$i")
		fi
	done < <(existing_indexes)
	if ((${#leftovers[@]})); then
		say "removing what an earlier lab of LBP_LAB_ID=$LAB_ID left (${owner:-no owner recorded}; not up): $(name_of "${leftovers[0]}") and $((${#leftovers[@]} - 1)) more"
		remove_hosts "${leftovers[@]}"
	fi
	record_owner
}

record_owner() {
	[[ -d "$OWNER_DIR" ]] || mkdir -m 755 "$OWNER_DIR"
	printf '%s\n' "$STATE" >"$OWNER_FILE.tmp"
	mv -f "$OWNER_FILE.tmp" "$OWNER_FILE"
}

# Forget the owner record if it is this lab's, or a lab that is gone.
clear_owner() {
	local owner
	owner=$(lab_owner)
	if [[ -n "$owner" ]] && { [[ "$owner" == "$STATE" ]] || ! lab_alive "$owner"; }; then
		rm -f "$OWNER_FILE"
	fi
}

# Is the lab of state directory DIR up: its marker there and an sshd of its hosts running?
lab_alive() {
	[[ -e "$1/.lbp-lab" ]] && [[ -n "$(lab_sshd_pids "$1")" ]]
}

# Does a lab of another state directory hold this id's namespaces? Prints its directory.
held_by_other() {
	local owner
	owner=$(lab_owner)
	[[ -n "$owner" && "$owner" != "$STATE" ]] && lab_alive "$owner" || return 1
	printf '%s' "$owner"
}

# ---------------------------------------------------------------- naming

ns_of() { printf '%s%s' "$NS_PREFIX" "$1"; }
name_of() { printf '%s%s' "$NAME_PREFIX" "$1"; }
veth_of() { printf '%s%s' "$VETH_PREFIX" "$1"; }
v4_root() { printf '10.%s.%s.1' "$NET_OCTET" "$1"; }
v4_host() { printf '10.%s.%s.2' "$NET_OCTET" "$1"; }
v6_root() { printf 'fd42:%s:%s::1' "$NET_OCTET" "$1"; }
v6_host() { printf 'fd42:%s:%s::2' "$NET_OCTET" "$1"; }
hostdir_of() { printf '%s/hosts/%s%s' "$STATE" "$NAME_PREFIX" "$1"; }

# NAME (lab-3, lbp-lab-3 or 3) -> index, or die
index_of() {
	local n=$1
	n=${n#"$NS_PREFIX"}
	n=${n#"$NAME_PREFIX"}
	if [[ ! "$n" =~ ^[1-9][0-9]*$ ]] || ((n > MAX_HOSTS)); then
		die "unknown host '$1' (expected ${NAME_PREFIX}<i>, ${NS_PREFIX}<i> or <i>)"
	fi
	printf '%s' "$n"
}

# A live, mounted network namespace (not just a stale /run/netns file).
ns_exists() {
	[[ -e "/run/netns/$1" ]] && [[ "$(stat -f -c %t "/run/netns/$1" 2>/dev/null)" == 6e736673 ]]
}

# Every index that has any trace of the lab (namespace, veth, /etc/netns dir, state dir).
existing_indexes() {
	{
		local line name d
		if [[ -d /run/netns ]]; then
			for d in /run/netns/"$NS_PREFIX"*; do
				[[ -e "$d" ]] || continue
				name=${d##*/}
				[[ "${name#"$NS_PREFIX"}" =~ ^[0-9]+$ ]] && printf '%s\n' "${name#"$NS_PREFIX"}"
			done
		fi
		while read -r line; do
			name=${line%% *}
			[[ "${name#"$NS_PREFIX"}" =~ ^[0-9]+$ ]] && printf '%s\n' "${name#"$NS_PREFIX"}"
		done < <(ip netns list 2>/dev/null || true)
		for d in /sys/class/net/"$VETH_PREFIX"*; do
			[[ -e "$d" ]] || continue
			name=${d##*/}
			[[ "${name#"$VETH_PREFIX"}" =~ ^[0-9]+$ ]] && printf '%s\n' "${name#"$VETH_PREFIX"}"
		done
		for d in /etc/netns/"$NS_PREFIX"*; do
			[[ -e "$d" ]] || continue
			name=${d##*/}
			[[ "${name#"$NS_PREFIX"}" =~ ^[0-9]+$ ]] && printf '%s\n' "${name#"$NS_PREFIX"}"
		done
		for d in "$STATE"/hosts/"$NAME_PREFIX"*; do
			[[ -e "$d" ]] || continue
			name=${d##*/}
			[[ "${name#"$NAME_PREFIX"}" =~ ^[0-9]+$ ]] && printf '%s\n' "${name#"$NAME_PREFIX"}"
		done
		true
	} | sort -n -u
}

# ---------------------------------------------------------------- processes

# Read /proc/PID/cmdline into CMDLINE (arguments joined by spaces) without forking.
CMDLINE=
read_cmdline() {
	local -a argv=()
	local IFS=' '
	CMDLINE=
	[[ "$1" =~ ^[0-9]+$ ]] || return 1
	mapfile -d '' -t argv <"/proc/$1/cmdline" 2>/dev/null || return 1
	((${#argv[@]})) || return 1
	CMDLINE="${argv[*]}"
}

# Is PID a live process whose cmdline contains STRING?
pid_matches() {
	read_cmdline "$1" || return 1
	[[ "$CMDLINE" == *"$2"* ]]
}

# PIDs of sshd processes started with a config file under the state dir (or under DIR).
lab_sshd_pids() {
	local p pid dir=${1:-$STATE}
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		read_cmdline "$pid" || continue
		[[ "$CMDLINE" == "$SSHD "* || "$CMDLINE" == "sshd: "* ]] || continue
		[[ "$CMDLINE" == *"-f $dir/hosts/"* ]] && printf '%s\n' "$pid"
	done
	true
}

# Is PID alive? Zombies count as dead: orphaned daemons are reparented to
# PID 1, which may reap them only lazily.
pid_alive() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n "$st" ]] || return 1
	st=${st##*) }
	[[ "${st:0:1}" != Z && "${st:0:1}" != X ]]
}

# Kill the given PIDs: TERM, wait up to 3 s, then KILL.
kill_pids() {
	local pids=("$@") pid alive i
	((${#pids[@]})) || return 0
	kill -TERM "${pids[@]}" 2>/dev/null || true
	for ((i = 0; i < 30; i++)); do
		alive=()
		for pid in "${pids[@]}"; do
			pid_alive "$pid" && alive+=("$pid")
		done
		((${#alive[@]})) || return 0
		sleep 0.1
	done
	kill -KILL "${alive[@]}" 2>/dev/null || true
}

# Inode of a namespace file (for comparing /proc/PID/ns/net with /run/netns/NS).
ns_inode() { stat -L -c %i "$1" 2>/dev/null || true; }

# Is the sshd of host i running in the right namespace with /etc/iptables bound?
sshd_running() {
	local i=$1 hd pid ns
	hd=$(hostdir_of "$i")
	ns=$(ns_of "$i")
	[[ -s "$hd/sshd.pid" ]] || return 1
	pid=$(<"$hd/sshd.pid")
	pid_matches "$pid" "-f $hd/sshd_config" || return 1
	[[ "$(ns_inode "/proc/$pid/ns/net")" == "$(ns_inode "/run/netns/$ns")" ]] || return 1
	grep -q ' /etc/iptables ' "/proc/$pid/mountinfo" 2>/dev/null || return 1
}

stop_sshd() {
	local i=$1 hd pid pids=()
	hd=$(hostdir_of "$i")
	if [[ -s "$hd/sshd.pid" ]]; then
		pid=$(<"$hd/sshd.pid")
		pid_matches "$pid" "-f $hd/sshd_config" && pids+=("$pid")
	fi
	# Any sshd listener in the namespace (including one from a lab started with
	# a different LBP_LAB_DIR) would keep port 22 busy. Sessions are left alone.
	# (`down` additionally sweeps /proc for sshds whose config is in the state dir.)
	if ns_exists "$(ns_of "$i")"; then
		while read -r pid; do
			[[ -n "$pid" ]] || continue
			# listener: "/usr/sbin/sshd -f CFG ..." (re-exec'd connection children carry -R)
			if pid_matches "$pid" "$SSHD -f " && ! pid_matches "$pid" " -R"; then
				pids+=("$pid")
			fi
		done < <(ip netns pids "$(ns_of "$i")" 2>/dev/null || true)
	fi
	kill_pids "${pids[@]+"${pids[@]}"}"
	rm -f "$hd/sshd.pid"
}

# Does something speaking SSH answer on ADDR port 22?
ssh_answers() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/22" && IFS= read -r -t 2 line <&3 && [[ $line == SSH-* ]]' _ "$1" 2>/dev/null
}

# ---------------------------------------------------------------- up

ensure_global() {
	if [[ -e "$STATE" && ! -e "$MARKER" ]]; then
		if [[ -d "$STATE" && -z "$(ls -A "$STATE")" ]]; then
			:
		else
			die "$STATE exists but was not created by lab.sh (no $MARKER); refusing to use it"
		fi
	fi
	mkdir -p "$STATE/hosts"
	# Readable by everyone: sshd reads authorized_keys as the logging-in user (lbpuser).
	chmod 755 "$STATE" "$STATE/hosts"
	touch "$MARKER"

	if [[ ! -d /etc/iptables ]]; then
		# Mount point for the per-namespace /etc/netns/<ns>/iptables bind mount.
		mkdir -p /etc/iptables
		touch "$STATE/created-etc-iptables"
	fi
	if [[ ! -d /etc/loopback-policy ]]; then
		# Mount point for the per-namespace /etc/netns/<ns>/loopback-policy (the engine's record of what it replaced).
		mkdir -p -m 700 /etc/loopback-policy
		touch "$STATE/created-etc-loopback-policy"
	fi
	if [[ ! -d /etc/netns ]]; then
		mkdir -p /etc/netns
		touch "$STATE/created-etc-netns"
	fi
	if [[ ! -d /run/sshd ]]; then
		mkdir -p /run/sshd
		touch "$STATE/created-run-sshd"
	fi
	chmod 755 /run/sshd

	if [[ ! -s "$CLIENT_KEY" || ! -s "$CLIENT_KEY.pub" ]]; then
		rm -f "$CLIENT_KEY" "$CLIENT_KEY.pub"
		ssh-keygen -q -t ed25519 -N '' -C lbp-lab-client -f "$CLIENT_KEY" >/dev/null
	fi
	chmod 600 "$CLIENT_KEY"
	chmod 644 "$CLIENT_KEY.pub"
	cp "$CLIENT_KEY.pub" "$AUTH_KEYS.tmp"
	chmod 644 "$AUTH_KEYS.tmp"
	mv -f "$AUTH_KEYS.tmp" "$AUTH_KEYS"

	ensure_lab_user
}

ensure_lab_user() {
	local pw
	if ! getent passwd "$LAB_USER" >/dev/null; then
		need useradd passwd
		useradd -m -s /bin/bash -c 'lbp lab user' "$LAB_USER"
		touch "$STATE/created-lbpuser"
	fi
	# Terraform uploads each script into the login user's home (mode 0777 files): the engine runs only from a home
	# other users cannot enter, as on Debian 12 and RHEL (useradd's default here is 0755).
	chmod 700 "$(getent passwd "$LAB_USER" | cut -d: -f6)"
	# useradd leaves the password field as '!' (locked). With UsePAM no, OpenSSH
	# refuses even public-key logins for locked accounts, so use '*' instead
	# (no password can ever match, but the account is not "locked").
	pw=$(getent shadow "$LAB_USER" | cut -d: -f2 || true)
	if [[ "$pw" == '!'* ]]; then
		usermod -p '*' "$LAB_USER"
	fi
	if dpkg-query -W -f='${Status}' sudo 2>/dev/null | grep -q 'install ok installed' || [[ -x /usr/bin/sudo ]]; then
		mkdir -p /etc/sudoers.d
		printf '%s ALL=(ALL:ALL) NOPASSWD: ALL\n' "$LAB_USER" >"$SUDOERS_FILE.tmp"
		chmod 440 "$SUDOERS_FILE.tmp"
		if have_tool visudo && ! visudo -cqf "$SUDOERS_FILE.tmp" >/dev/null 2>&1; then
			rm -f "$SUDOERS_FILE.tmp"
			die "generated sudoers file failed visudo -c"
		fi
		mv -f "$SUDOERS_FILE.tmp" "$SUDOERS_FILE"
	fi
}

# `ip -o link show` line of IFACE in namespace NS ("" for root); fails if missing
link_line_in() {
	local ns=$1 ifc=$2
	if [[ -z "$ns" ]]; then
		ip -o link show dev "$ifc" 2>/dev/null
	else
		ip -n "$ns" -o link show dev "$ifc" 2>/dev/null
	fi
}

# ifindex of IFACE in namespace NS ("" for root), or "" if missing
ifindex_in() {
	local line
	line=$(link_line_in "$1" "$2") || return 0
	printf '%s' "${line%%:*}"
}

# iflink (peer ifindex) of IFACE in namespace NS
peer_ifindex_in() {
	local line
	line=$(link_line_in "$1" "$2") || return 0
	line=${line#*@if}
	printf '%s' "${line%%:*}"
}

# Sets NET_RECREATED=1 if the veth pair had to be (re)created.
# (Results go through globals: a function called as an `if` condition runs
# with errexit disabled.)
NET_RECREATED=0
ensure_net() {
	local i=$1 ns veth root_idx host_idx
	NET_RECREATED=0
	ns=$(ns_of "$i")
	veth=$(veth_of "$i")
	if ! ns_exists "$ns"; then
		# A stale /run/netns file (mount gone) makes `ip netns add` fail.
		[[ -e "/run/netns/$ns" ]] && { ip netns del "$ns" 2>/dev/null || rm -f "/run/netns/$ns"; }
		ip netns add "$ns"
	fi
	root_idx=$(ifindex_in "" "$veth")
	host_idx=$(ifindex_in "$ns" eth0)
	if [[ -z "$root_idx" || -z "$host_idx" ||
		"$(peer_ifindex_in "" "$veth")" != "$host_idx" ||
		"$(peer_ifindex_in "$ns" eth0)" != "$root_idx" ]]; then
		[[ -n "$root_idx" ]] && ip link del dev "$veth"
		[[ -n "$(ifindex_in "$ns" eth0)" ]] && ip -n "$ns" link del dev eth0
		ip link add "$veth" type veth peer name eth0 netns "$ns"
		NET_RECREATED=1
	fi
	# IPv6 on (a namespace may inherit default.disable_ipv6=1)
	if [[ -w "/proc/sys/net/ipv6/conf/$veth/disable_ipv6" ]]; then
		echo 0 >"/proc/sys/net/ipv6/conf/$veth/disable_ipv6"
	fi
	# shellcheck disable=SC2016 # expanded by the inner sh
	ip netns exec "$ns" sh -c 'for f in /proc/sys/net/ipv6/conf/lo/disable_ipv6 /proc/sys/net/ipv6/conf/eth0/disable_ipv6; do [ -w "$f" ] && echo 0 >"$f"; done; true'

	ip addr replace "$(v4_root "$i")/30" dev "$veth"
	ip -6 addr replace "$(v6_root "$i")/64" dev "$veth" nodad
	ip link set dev "$veth" up

	ip -n "$ns" link set dev lo up
	ip -n "$ns" addr replace 127.0.0.1/8 dev lo
	ip -n "$ns" -6 addr replace ::1/128 dev lo nodad
	ip -n "$ns" addr replace "$(v4_host "$i")/30" dev eth0
	ip -n "$ns" -6 addr replace "$(v6_host "$i")/64" dev eth0 nodad
	ip -n "$ns" link set dev eth0 up
}

# Sets CONFIG_CHANGED=1 if the config file was (re)written.
CONFIG_CHANGED=0
SSHD_HAS_PENALTIES=
write_sshd_config() {
	local i=$1 hd cfg
	CONFIG_CHANGED=0
	hd=$(hostdir_of "$i")
	cfg="$hd/sshd_config"
	cat >"$cfg.tmp" <<EOF
# generated by lab.sh for $(name_of "$i") (namespace $(ns_of "$i"))
Port 22
ListenAddress $(v4_host "$i")
ListenAddress [$(v6_host "$i")]
AddressFamily any
HostKey $hd/ssh_host_rsa_key
HostKey $hd/ssh_host_ecdsa_key
HostKey $hd/ssh_host_ed25519_key
PidFile $hd/sshd.pid
AuthorizedKeysFile $AUTH_KEYS
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
LogLevel VERBOSE
MaxStartups 100:30:200
MaxSessions 50
LoginGraceTime 30
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
Subsystem sftp internal-sftp
EOF
	# OpenSSH >= 9.8 penalises sources that fail/abort often; a lab fleet behind
	# one client address must not be throttled.
	if [[ -z "$SSHD_HAS_PENALTIES" ]]; then
		SSHD_HAS_PENALTIES=no
		if "$SSHD" -t -f "$cfg.tmp" -o PerSourcePenalties=no >/dev/null 2>&1; then
			SSHD_HAS_PENALTIES=yes
		fi
	fi
	if [[ "$SSHD_HAS_PENALTIES" == yes ]]; then
		echo 'PerSourcePenalties no' >>"$cfg.tmp"
	fi
	if ! "$SSHD" -t -f "$cfg.tmp" >"$hd/sshd-t.err" 2>&1; then
		cat "$hd/sshd-t.err" >&2
		die "generated sshd config for $(name_of "$i") is invalid ($cfg.tmp)"
	fi
	rm -f "$hd/sshd-t.err"
	if [[ -f "$cfg" ]] && cmp -s "$cfg" "$cfg.tmp"; then
		rm -f "$cfg.tmp"
		return 0
	fi
	mv -f "$cfg.tmp" "$cfg"
	CONFIG_CHANGED=1
}

# Set up host i; prints nothing. Starts sshd if needed.
ensure_host() {
	local i=$1 ns hd restart=0
	ns=$(ns_of "$i")
	hd=$(hostdir_of "$i")
	mkdir -p "$hd" "/etc/netns/$ns/iptables"
	mkdir -p -m 700 "/etc/netns/$ns/loopback-policy"
	chmod 755 "$hd"

	ensure_net "$i"
	((NET_RECREATED)) && restart=1

	# Host keys of every type a stock OpenSSH generates (ssh-keygen -A): Terraform's SSH client negotiates
	# ECDSA against such a server, so the lab shows what pinning meets on a real host.
	local t
	for t in rsa ecdsa ed25519; do
		if [[ ! -s "$hd/ssh_host_${t}_key" || ! -s "$hd/ssh_host_${t}_key.pub" ]]; then
			rm -f "$hd/ssh_host_${t}_key" "$hd/ssh_host_${t}_key.pub"
			ssh-keygen -q -t "$t" -N '' -C "$(name_of "$i")" -f "$hd/ssh_host_${t}_key" >/dev/null
			restart=1
		fi
		chmod 600 "$hd/ssh_host_${t}_key"
	done

	write_sshd_config "$i"
	((CONFIG_CHANGED)) && restart=1
	if ((restart)) || ! sshd_running "$i"; then
		stop_sshd "$i"
		touch "$hd/sshd.log"
		# The host's sessions get a private /run/loopback-policy (tmpfs, like /run on a real host), so the
		# loopback-policy state (lock, pending rollback) of one lab host is not another's; and a fresh home
		# for root from /etc/skel, as a new Debian host has, rather than this machine's /root (its dotfiles
		# would run in every SSH session of every lab host and skew what the tests and benchmarks see).
		# shellcheck disable=SC2016 # "$0" "$@" expand in the inner sh, on purpose
		if ! ip netns exec "$ns" sh -c 'mkdir -p /run/loopback-policy && mount -t tmpfs -o mode=0755,size=16m lbp-state /run/loopback-policy && mount -t tmpfs -o mode=0700,size=64m lbp-root /root && cp -p /etc/skel/.bashrc /etc/skel/.profile /root/ && exec "$0" "$@"' \
			"$SSHD" -f "$hd/sshd_config" -E "$hd/sshd.log"; then
			tail -n 30 "$hd/sshd.log" >&2 || true
			die "sshd for $(name_of "$i") failed to start (log: $hd/sshd.log)"
		fi
	fi
}

# Remove every trace of the given hosts (indexes). All their processes (sshd
# listeners, sessions, anything run via `exec`) are killed in one batch first.
remove_hosts() {
	local i ns veth hd pids=() pid
	for i in "$@"; do
		ns=$(ns_of "$i")
		hd=$(hostdir_of "$i")
		if [[ -s "$hd/sshd.pid" ]]; then
			pid=$(<"$hd/sshd.pid")
			pid_matches "$pid" "-f $hd/sshd_config" && pids+=("$pid")
		fi
		if ns_exists "$ns"; then
			while read -r pid; do
				[[ -n "$pid" ]] && pids+=("$pid")
			done < <(ip netns pids "$ns" 2>/dev/null || true)
		fi
	done
	kill_pids "${pids[@]+"${pids[@]}"}"
	for i in "$@"; do
		ns=$(ns_of "$i")
		veth=$(veth_of "$i")
		if [[ -e "/run/netns/$ns" ]]; then
			ip netns del "$ns" 2>/dev/null || rm -f "/run/netns/$ns"
		fi
		if [[ -e "/sys/class/net/$veth" ]]; then
			ip link del dev "$veth" 2>/dev/null || true
		fi
		rm -rf "/etc/netns/$ns" "$(hostdir_of "$i")"
	done
}

wait_for_sshds() {
	local n=$1 i deadline pending still
	deadline=$((SECONDS + WAIT_SECONDS))
	pending=()
	for ((i = 1; i <= n; i++)); do pending+=("$i"); done
	while ((${#pending[@]})); do
		still=()
		for i in "${pending[@]}"; do
			if ! ssh_answers "$(v4_host "$i")" || ! ssh_answers "$(v6_host "$i")"; then
				still+=("$i")
			fi
		done
		pending=("${still[@]+"${still[@]}"}")
		((${#pending[@]})) || break
		if ((SECONDS >= deadline)); then
			i=${pending[0]}
			printf 'lab: --- %s ---\n' "$(hostdir_of "$i")/sshd.log" >&2
			tail -n 40 "$(hostdir_of "$i")/sshd.log" >&2 || true
			die "sshd of $(name_of "$i") ($(v4_host "$i") / [$(v6_host "$i")]) did not answer on port 22 within ${WAIT_SECONDS}s (hosts still pending: ${pending[*]})"
		fi
		sleep 0.2
	done
}

write_fleet() {
	local n=$1 i hd args=()
	: >"$KNOWN_HOSTS.tmp"
	for ((i = 1; i <= n; i++)); do
		hd=$(hostdir_of "$i")
		args+=("$(name_of "$i")" "$(v4_host "$i")" "$(v6_host "$i")" "$(ns_of "$i")" "$hd")
	done
	python3 - "$FLEET.tmp" "$KNOWN_HOSTS.tmp" "$CLIENT_KEY" "${args[@]}" <<'PY'
import json, sys

fleet_path, known_path, key_path = sys.argv[1:4]
rest = sys.argv[4:]
hosts = []
for k in range(0, len(rest), 5):
    name, v4, v6, ns, hd = rest[k:k + 5]
    # All of the host's keys, as a user copies them from ssh-keyscan: validation pins the one Terraform
    # negotiates (ECDSA). Pinning only the ed25519 key fails with "knownhosts: key mismatch".
    keys = []
    for t in ("rsa", "ecdsa", "ed25519"):
        with open("%s/ssh_host_%s_key.pub" % (hd, t)) as f:
            fields = f.read().split()
        keys.append(fields[0] + " " + fields[1])
    hosts.append({"name": name, "address": v4, "hostKey": keys,
                  "labels": {"namespace": ns, "ipv6Address": v6}})

def obj(d):
    return "{ " + ", ".join(json.dumps(k) + ": " + json.dumps(v) for k, v in d.items()) + " }"

conn = {"user": "root", "privateKeyPath": key_path, "timeoutSeconds": 60}
lines = ["{",
         '  "resourceType": "terraform_data",',
         '  "connection": ' + obj(conn) + ",",
         '  "hosts": [']
lines += ["    " + obj(h) + ("," if k < len(hosts) - 1 else "") for k, h in enumerate(hosts)]
lines += ["  ]", "}"]
text = "\n".join(lines) + "\n"
json.loads(text)  # self-check
with open(fleet_path, "w") as f:
    f.write(text)
with open(known_path, "w") as f:
    for h in hosts:
        for key in h["hostKey"]:
            f.write("%s %s\n" % (h["address"], key))
            f.write("%s %s\n" % (h["labels"]["ipv6Address"], key))
PY
	chmod 644 "$FLEET.tmp" "$KNOWN_HOSTS.tmp"
	mv -f "$FLEET.tmp" "$FLEET"
	mv -f "$KNOWN_HOSTS.tmp" "$KNOWN_HOSTS"
}

cmd_up() {
	local n=${1:-$DEFAULT_HOSTS} i extra
	if [[ ! "$n" =~ ^[0-9]+$ ]] || ((10#$n < 1 || 10#$n > MAX_HOSTS)); then
		die "up: N must be an integer between 1 and $MAX_HOSTS (got '$n')"
	fi
	n=$((10#$n))
	need ip iproute2
	need "$SSHD" openssh-server
	need ssh-keygen openssh-client
	need iptables iptables
	need ip6tables iptables
	need python3 python3
	need timeout coreutils
	[[ -e /proc/net/if_inet6 ]] || die "IPv6 is not available in this kernel (the lab needs it)"
	take_lock
	claim_lab

	# Shrink first: anything beyond N goes away completely.
	extra=()
	while read -r i; do
		[[ -n "$i" ]] && ((i > n)) && extra+=("$i")
	done < <(existing_indexes)
	((${#extra[@]} == 0)) || remove_hosts "${extra[@]}"

	ensure_global
	for ((i = 1; i <= n; i++)); do
		ensure_host "$i"
	done
	wait_for_sshds "$n"
	write_fleet "$n"
	say "$n host(s) up: $(name_of 1)..$(name_of "$n") (namespaces $(ns_of 1)..$(ns_of "$n"))"
	say "client key: $CLIENT_KEY   known_hosts: $KNOWN_HOSTS"
	say "fleet file: $FLEET"
}

# ---------------------------------------------------------------- down

# Is another lab up (another LBP_LAB_ID, or this id held by another state directory)? It shares the lab user,
# its sudoers file and the /etc mount points with this one. (Called once this lab's hosts are removed.)
other_lab_up() {
	local d name
	for d in /run/netns/lbp-lab*; do
		[[ -e "$d" ]] || continue
		name=${d##*/}
		[[ "$name" =~ ^lbp-lab[0-9]?-[0-9]+$ ]] && return 0
	done
	return 1
}

cmd_down() {
	local i found=0 pid pids=() f hosts=() owner
	need ip iproute2
	take_lock
	if owner=$(held_by_other); then
		say "LBP_LAB_ID=$LAB_ID is held by the lab in $owner, which is up: leaving its hosts alone"
	else
		while read -r i; do
			[[ -n "$i" ]] && hosts+=("$i")
		done < <(existing_indexes)
	fi
	if ((${#hosts[@]})); then
		found=1
		remove_hosts "${hosts[@]}"
	fi
	# Any leftover sshd whose config lives in the state dir (e.g. namespace already gone).
	while read -r pid; do
		[[ -n "$pid" ]] && pids+=("$pid")
	done < <(lab_sshd_pids)
	if ((${#pids[@]})); then
		found=1
		kill_pids "${pids[@]}"
	fi
	clear_owner
	local owns_shared=1
	if other_lab_up; then
		owns_shared=0
		say "another lab is up: leaving $SUDOERS_FILE and user $LAB_USER to it"
	fi
	if ((owns_shared)) && [[ -e "$SUDOERS_FILE" ]]; then
		found=1
		rm -f "$SUDOERS_FILE" "$SUDOERS_FILE.tmp"
	fi
	if [[ -e "$STATE" ]]; then
		found=1
		if ((owns_shared)) && [[ -e "$STATE/created-lbpuser" ]] && getent passwd "$LAB_USER" >/dev/null; then
			pids=()
			while read -r pid; do
				[[ -n "$pid" ]] && pids+=("$pid")
			done < <(ps -o pid= -u "$LAB_USER" 2>/dev/null || true)
			kill_pids "${pids[@]}"
			userdel -r "$LAB_USER" >/dev/null 2>&1 || userdel "$LAB_USER" >/dev/null 2>&1 || true
		fi
		# The empty mount points under /etc are every lab's: another lab's hosts bind their own over them
		# (ip netns exec fails for a host whose mount point is gone), so only the last lab down removes them.
		if ((owns_shared)); then
			for d in iptables loopback-policy netns; do
				if [[ -e "$STATE/created-etc-$d" ]]; then
					rmdir "/etc/$d" 2>/dev/null || true
				fi
			done
		else
			say "another lab is up: leaving the mount points /etc/iptables, /etc/loopback-policy, /etc/netns to it"
		fi
		if [[ -e "$STATE/created-run-sshd" ]]; then
			# Only if no other sshd on this machine might still need it.
			pids=()
			for f in /proc/[0-9]*/exe; do
				[[ "$(readlink "$f" 2>/dev/null)" == "$SSHD" ]] && pids+=("${f%/exe}")
			done
			((${#pids[@]})) || rmdir /run/sshd 2>/dev/null || true
		fi
		if [[ -e "$MARKER" ]]; then
			rm -rf "$STATE"
		else
			die "$STATE was not created by lab.sh (no $MARKER); not deleting it"
		fi
	fi
	if ((found)); then
		say "lab is down (namespaces, veths, sshds, /etc/netns/${NS_PREFIX}*, $SUDOERS_FILE and $STATE removed)"
	else
		say "nothing is up"
	fi
}

# ---------------------------------------------------------------- status / exec / spoofable

cmd_status() {
	local i any=0 ns hd pid sshd answer
	need ip iproute2
	need timeout coreutils
	while read -r i; do
		[[ -n "$i" ]] || continue
		if ((any == 0)); then
			printf '%-8s %-12s %-12s %-16s %-8s %s\n' NAME NAMESPACE ADDRESS IPV6 SSHD-PID SSH
			any=1
		fi
		ns=$(ns_of "$i")
		hd=$(hostdir_of "$i")
		pid=-
		if sshd_running "$i"; then pid=$(<"$hd/sshd.pid"); fi
		sshd=no
		ns_exists "$ns" || ns="$ns(missing)"
		if ssh_answers "$(v4_host "$i")"; then sshd=ipv4; fi
		if ssh_answers "$(v6_host "$i")"; then
			if [[ "$sshd" == no ]]; then sshd=ipv6; else sshd="$sshd+ipv6"; fi
		fi
		answer="$sshd"
		[[ "$answer" == no ]] && answer="NOT ANSWERING"
		printf '%-8s %-12s %-12s %-16s %-8s %s\n' "$(name_of "$i")" "$ns" "$(v4_host "$i")" "$(v6_host "$i")" "$pid" "$answer"
	done < <(existing_indexes)
	if ((any == 0)); then
		say "nothing is up"
	elif [[ -e "$FLEET" ]]; then
		say "fleet file: $FLEET"
	fi
}

cmd_exec() {
	local i ns
	(($# >= 2)) || die "exec: usage: lab.sh exec NAME CMD..."
	need ip iproute2
	i=$(index_of "$1")
	shift
	ns=$(ns_of "$i")
	ns_exists "$ns" || die "exec: host $(name_of "$i") is not up (no namespace $ns)"
	exec ip netns exec "$ns" "$@"
}

cmd_spoofable() {
	local i ns
	(($# == 1)) || die "spoofable: usage: lab.sh spoofable NAME"
	need ip iproute2
	i=$(index_of "$1")
	ns=$(ns_of "$i")
	ns_exists "$ns" || die "spoofable: host $(name_of "$i") is not up (no namespace $ns)"
	ip netns exec "$ns" sh -ec '
		echo 1 >/proc/sys/net/ipv4/conf/eth0/route_localnet
		echo 1 >/proc/sys/net/ipv4/conf/eth0/accept_local
		echo 0 >/proc/sys/net/ipv4/conf/eth0/rp_filter
		echo 0 >/proc/sys/net/ipv4/conf/all/rp_filter
	' || die "spoofable: could not set sysctls in $ns"
	say "$(name_of "$i"): eth0 route_localnet=1 accept_local=1 rp_filter=0 (all.rp_filter=0)"
}

main() {
	local sub=${1:-}
	case "$sub" in
	up | down | status | exec | spoofable) ;;
	-h | --help | help)
		usage
		exit 0
		;;
	"")
		printf 'lab: missing subcommand\n' >&2
		usage
		exit 2
		;;
	*)
		printf 'lab: unknown subcommand %s\n' "'$sub'" >&2
		usage
		exit 2
		;;
	esac
	shift
	require_root
	check_state_dir
	case "$sub" in
	up)
		(($# <= 1)) || die "up: usage: lab.sh up [N]"
		cmd_up "$@"
		;;
	down)
		(($# == 0)) || die "down: takes no arguments"
		cmd_down
		;;
	status)
		(($# == 0)) || die "status: takes no arguments"
		cmd_status
		;;
	exec) cmd_exec "$@" ;;
	spoofable) cmd_spoofable "$@" ;;
	esac
}

main "$@"
