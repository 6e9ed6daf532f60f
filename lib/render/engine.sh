# ---- loopback-policy engine: the same text for every host and policy ----
# The lines above set the host facts (LBP_MODE, LBP_HOST, LBP_GEN, LBP_SUDO, LBP_INSTANCE) and the policy
# (LBP_* settings and lbp_rules). Modes:
#   apply    snapshot, converge the managed rules in one iptables-restore per family, verify
#            loopback with a real connection and rising counters, arm the rollback guard
#   confirm  (a new SSH connection) disarm the guard, re-check the rules, persist
#   remove   delete this generation's managed rules, put back what the first run replaced, persist
#   check    dry run: report drift, change nothing (exit 3 on drift)
# Trust (docs/SECURITY.md): this file is read only if no other user could have written it; the state and
# record directories only if root owns them and nobody else can write them; a save of the rules only if it is
# complete and restores to what the kernel holds. Where the engine cannot be sure, it changes nothing and says why.
set -u
umask 077
PATH="${PATH:-/usr/bin:/bin}:/usr/local/sbin:/usr/sbin:/sbin"
export PATH
LC_ALL=C
export LC_ALL
lbp_tab=$(printf '\t')

lbp_say() { printf 'loopback-policy[%s] %s\n' "$LBP_HOST" "$*"; }
lbp_die() {
  printf 'loopback-policy[%s] FAILED: %s\n' "$LBP_HOST" "$*" >&2
  # Only a change that was applied is guarded: a run that armed the guard and dies before changing anything
  # disarms it, so the timer never "rolls back" over what other tools did since.
  if [ "${lbp_armed:-0}" = 1 ] && [ ! -f "$LBP_DIR/changed" ]; then
    lbp_clear_pending
  fi
  exit 1
}

case "${1:-}" in
  rollback-timer) LBP_MODE=rollback-timer ;;
esac

# Is $1 root's alone (not a link, owned by root, writable by nobody else)? Prints what is wrong, or nothing.
lbp_path_unsafe() {
  if [ -L "$1" ]; then echo "$1 is a symbolic link"; return 0; fi
  [ -e "$1" ] || return 0
  read -r lbp_pu_u lbp_pu_m <<LBP_S
$(lbp_mode_of "$1")
LBP_S
  lbp_pu_m=$(lbp_octal "$lbp_pu_m")
  if [ "$lbp_pu_u" != 0 ] || [ $((lbp_pu_m & 18)) -ne 0 ]; then
    echo "$1 belongs to uid $lbp_pu_u with mode $(printf '%o' "$lbp_pu_m")"
  fi
}

# ---- this script: read only if nobody but its owner (the login user) or root could have written it ----
# Terraform uploads `inline` to the connection's script_path and makes it mode 0777: safe only in a directory
# other users cannot enter. The shell reads a script as it runs and sudo re-reads it, so this is checked first.
lbp_mode_of() { stat -L -c '%u %a' -- "$1" 2>/dev/null; }
lbp_octal() { echo $((0$1)); }
# Is group $1 user $2's (uid $3) own: no other member, no other user with it as primary group?
lbp_private_group() {
  lbp_gl=$(getent group "$1" 2>/dev/null) || return 1
  [ -z "${lbp_gl##*:}" ] || [ "${lbp_gl##*:}" = "$2" ] || return 1
  [ -z "$(awk -F: -v g="$1" -v u="$3" '$4 == g && $3 != u { print; exit }' /etc/passwd 2>/dev/null)" ]
}
# Nobody but UID (or root) can replace PATH or any directory above it. Prints what is wrong, or nothing.
lbp_ancestors_unsafe() {
  lbp_p=$1
  while :; do
    lbp_p=$(dirname -- "$lbp_p")
    read -r lbp_au lbp_am <<LBP_S
$(lbp_mode_of "$lbp_p")
LBP_S
    [ -n "${lbp_am:-}" ] || { echo "$lbp_p cannot be inspected"; return 0; }
    lbp_am=$(lbp_octal "$lbp_am")
    if [ "$lbp_au" != 0 ] && [ "$lbp_au" != "$2" ]; then
      echo "$lbp_p belongs to uid $lbp_au"; return 0
    fi
    if [ $((lbp_am & 18)) -ne 0 ] && [ $((lbp_am & 512)) -eq 0 ]; then
      echo "$lbp_p is writable by other users (mode $(printf '%o' "$lbp_am"))"; return 0
    fi
    [ "$lbp_p" != / ] || return 0
  done
}
lbp_check_self() {
  case "$0" in
    /*) lbp_self=$0 ;;
    *) lbp_self="$(pwd)/${0#./}" ;;
  esac
  { [ -f "$lbp_self" ] && [ ! -L "$lbp_self" ]; } || lbp_die "cannot inspect the running script $lbp_self; nothing was changed"
  # Its owner: this user, or root; run again through sudo, the user sudo was run by (sudo sets SUDO_UID).
  lbp_uid=$(id -u)
  lbp_user=$(id -un)
  if [ "${1:-}" = escalated ] && [ -n "${SUDO_UID:-}" ]; then lbp_uid=$SUDO_UID lbp_user=${SUDO_USER:-$lbp_user}; fi
  read -r lbp_fu lbp_fm <<LBP_S
$(lbp_mode_of "$lbp_self")
LBP_S
  lbp_fm=$(lbp_octal "$lbp_fm")
  # The directory as it really is: checked through a link, the link's own directory would go unseen.
  lbp_sdir=$(cd -P -- "$(dirname -- "$lbp_self")" 2>/dev/null && pwd -P) || lbp_die "cannot inspect the directory of $lbp_self; nothing was changed"
  lbp_self="$lbp_sdir/${lbp_self##*/}"
  read -r lbp_du lbp_dm <<LBP_S
$(lbp_mode_of "$lbp_sdir")
LBP_S
  lbp_dm=$(lbp_octal "$lbp_dm")
  lbp_why=""
  if [ "$lbp_fu" != "$lbp_uid" ] && [ "$lbp_fu" != 0 ]; then
    lbp_why="it belongs to uid $lbp_fu"
  elif [ "$lbp_du" != "$lbp_uid" ] && [ "$lbp_du" != 0 ]; then
    lbp_why="its directory $lbp_sdir belongs to uid $lbp_du"
  elif [ $((lbp_fm & 18)) -ne 0 ]; then
    # Writable by others (Terraform's 0777): only safe where no other user can enter the directory.
    if [ $((lbp_dm & 1)) -ne 0 ]; then
      lbp_why="it is mode $(printf '%o' "$lbp_fm") in $lbp_sdir, which every user can enter (mode $(printf '%o' "$lbp_dm"))"
    elif [ $((lbp_dm & 8)) -ne 0 ] && ! lbp_private_group "$(stat -L -c %g -- "$lbp_sdir")" "$lbp_user" "$lbp_uid"; then
      lbp_why="it is mode $(printf '%o' "$lbp_fm") in $lbp_sdir, which the members of its group can enter (mode $(printf '%o' "$lbp_dm"))"
    fi
  elif [ $((lbp_dm & 18)) -ne 0 ] && [ $((lbp_dm & 512)) -eq 0 ]; then
    lbp_why="its directory $lbp_sdir is writable by other users (mode $(printf '%o' "$lbp_dm"))"
  fi
  [ -n "$lbp_why" ] || lbp_why=$(lbp_ancestors_unsafe "$lbp_sdir" "$lbp_uid")
  [ -z "$lbp_why" ] || lbp_die "refusing to run $lbp_self: $lbp_why, so another local user could have changed what runs as root. Nothing was changed. Fix: make the login user's home directory private (chmod 700 ~$lbp_user); loopback-policy uploads its scripts there"
  # Terraform empties each upload once it ran (it cannot remove it): the empty ones of earlier runs go.
  case "$lbp_self" in
    */.loopback-policy-[0-9]*.sh) find "$lbp_sdir" -maxdepth 1 -type f -name '.loopback-policy-[0-9]*.sh' -empty -user "$(id -u)" -exec rm -f {} + 2>/dev/null || : ;;
  esac
}
if [ "$LBP_MODE" != rollback-timer ]; then
  lbp_check_self "$@"
fi

# ---- root, or sudo ----
if [ "$(id -u)" != 0 ]; then
  [ "$LBP_SUDO" = 1 ] || lbp_die "connected as $(id -un), which is not root, and sudo is off: connect as root or set sudo: true"
  [ "${1:-}" != escalated ] || lbp_die "sudo did not make this script root"
  command -v sudo >/dev/null 2>&1 || lbp_die "connected as $(id -un), which is not root, and sudo is not installed: install sudo or connect as root"
  if ! lbp_err=$(sudo -n true 2>&1 </dev/null); then
    case "$lbp_err" in
      *tty*) lbp_die "sudo requires a terminal for $(id -un) (Defaults requiretty), and Terraform runs without one: add 'Defaults:$(id -un) !requiretty' to sudoers, or connect as root" ;;
    esac
    lbp_die "sudo asks $(id -un) for a password: allow passwordless sudo (NOPASSWD) for this user or connect as root"
  fi
  # $0 was checked above: only its owner (this user) or root can have written it.
  exec sudo -n /bin/sh "$0" escalated
fi

# ---- state (lock, pending rollback) on tmpfs; the record of what we replaced where it survives a reboot ----
# Both are root's alone: owned by root, writable by nobody else, no links, nothing inside owned by another user.
lbp_secure_dir() {
  if [ -L "$1" ]; then
    lbp_die "the $2 directory $1 is a symbolic link; nothing was changed. Fix: remove it (rm $1); loopback-policy creates it"
  fi
  if [ ! -e "$1" ]; then
    { mkdir -p "$1" 2>/dev/null && chmod 700 "$1"; } || lbp_die "cannot create the $2 directory $1; nothing was changed"
  fi
  [ -d "$1" ] || lbp_die "the $2 directory $1 is not a directory; nothing was changed. Fix: remove it"
  [ "$(cd -P -- "$1" 2>/dev/null && pwd -P)" = "$1" ] || lbp_die "the $2 directory $1 is reached through a symbolic link ($(cd -P -- "$1" 2>/dev/null && pwd -P)); nothing was changed. Fix: give its real path"
  read -r lbp_su lbp_sm <<LBP_S
$(lbp_mode_of "$1")
LBP_S
  lbp_sm=$(lbp_octal "$lbp_sm")
  if [ "$lbp_su" != 0 ] || [ $((lbp_sm & 18)) -ne 0 ]; then
    lbp_die "the $2 directory $1 belongs to uid $lbp_su with mode $(printf '%o' "$lbp_sm"): another user could plant or change what root reads there; nothing was changed. Fix: rm -rf $1 (loopback-policy recreates it owned by root, mode 700)"
  fi
  lbp_bad=$(lbp_ancestors_unsafe "$1" 0)
  [ -z "$lbp_bad" ] || lbp_die "the $2 directory $1 is not safe: $lbp_bad; nothing was changed"
  lbp_bad=$(find "$1" -mindepth 1 \( -type l -o ! -user 0 -o -perm -0002 -o -perm -0020 \) -print 2>/dev/null | head -n 1)
  [ -z "$lbp_bad" ] || lbp_die "the $2 directory $1 holds $lbp_bad, which is a link or not root's alone; nothing was changed. Fix: inspect and remove it"
}
# A firewall backend's record of the generations it wrote ($LBP_RECORD/$1, one a line; root's alone): a tag is
# ours only when its generation is recorded, so a rule someone else tagged like ours is never moved or removed.
lbp_record_generation() {
  lbp_secure_dir "$LBP_RECORD" record
  grep -q -x -F -- "$LBP_GEN" "$LBP_RECORD/$1" 2>/dev/null && return 0
  { cat "$LBP_RECORD/$1" 2>/dev/null; echo "$LBP_GEN"; } > "$lbp_work/$1"
  lbp_write_file "$lbp_work/$1" "$LBP_RECORD/$1" || lbp_die "cannot record generation $LBP_GEN in $LBP_RECORD ($lbp_why); nothing was changed"
}
# lbp_gens: the generations recorded in $LBP_RECORD/$1, space-separated; none when there is no record yet. A record
# directory that is not root's alone is refused (lbp_secure_dir), never read. Never run in a subshell: it dies.
lbp_recorded_generations() {
  lbp_gens=""
  [ -e "$LBP_RECORD" ] || [ -L "$LBP_RECORD" ] || return 0
  lbp_secure_dir "$LBP_RECORD" record
  lbp_gens=$(grep -x '[0-9a-f][0-9a-f]*' "$LBP_RECORD/$1" 2>/dev/null | tr '\n' ' ')
}
LBP_DIR=${LBP_STATE_DIR:-/run/loopback-policy}
LBP_RECORD=${LBP_RECORD_DIR:-/etc/loopback-policy}
lbp_secure_dir "$LBP_DIR" state
lbp_work=$(mktemp -d "$LBP_DIR/work.XXXXXX") || lbp_die "cannot create a work directory in $LBP_DIR; nothing was changed"
# The script Terraform uploaded (connection script_path ./.loopback-policy-%RAND%.sh) is not needed after the run.
case "$0" in
  */.loopback-policy-[0-9]*.sh | .loopback-policy-[0-9]*.sh) lbp_uploaded=$0 ;;
  *) lbp_uploaded="" ;;
esac
trap 'rm -rf "$lbp_work"; [ -z "$lbp_uploaded" ] || rm -f "$lbp_uploaded"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- one run at a time on this host ----
lbp_lock() {
  exec 9>"$LBP_DIR/lock"
  if command -v flock >/dev/null 2>&1; then
    if [ "$LBP_MODE" = rollback-timer ]; then
      # The timer must not give up: a run holding the lock longer than lockWaitSeconds would otherwise leave the
      # change it guards in place for good.
      flock 9
    else
      flock -w "$LBP_LOCK_WAIT" 9 || lbp_die "another loopback-policy run has held $LBP_DIR/lock for ${LBP_LOCK_WAIT}s: wait for it to finish and run again"
    fi
  else
    lbp_say "warning: flock is not installed, so concurrent runs on this host are not serialised"
  fi
}

lbp_tool() {
  case "$1" in
    ipv4) echo iptables ;;
    ipv6) echo ip6tables ;;
  esac
}

lbp_loopback_address() {
  case "$1" in
    ipv4) echo 127.0.0.1 ;;
    ipv6) echo ::1 ;;
  esac
}

# ---- saves we can trust ----
# Save a family's rules to a file: $1 family, $2 file, then iptables-save options. Fails (with lbp_why) unless
# iptables-save succeeded, the output is complete (every table ends in COMMIT) and holds nothing iptables
# cannot express ("Table `filter' is incompatible": native nft rules inside iptables-nft's chains).
lbp_save_to() {
  lbp_sf=$1 lbp_so=$2
  shift 2
  # iptables-save exits 0 when its output cannot be written: the save goes through cat, whose status says
  # whether every byte was written; both statuses come back through fd 3 (a pipe, not the disk).
  lbp_st=$( { { "$(lbp_tool "$lbp_sf")-save" "$@" 2>"$lbp_work/save.err"; echo "save=$?" >&3; } |
    { cat > "$lbp_so" || echo "write=failed" >&3; }; } 3>&1 )
  case "$lbp_st" in
    *write=failed*)
      lbp_why="cannot write the save to $lbp_so (no space left in $(dirname "$lbp_so")?)"
      return 1
      ;;
    *save=0*) ;;
    *)
      lbp_why="$(lbp_tool "$lbp_sf")-save failed (${lbp_st#save=}): $(tail -n 1 "$lbp_work/save.err" 2>/dev/null)"
      return 1
      ;;
  esac
  if grep -q '^# Table .*incompatible' "$lbp_so" || grep -q 'incompatible' "$lbp_work/save.err"; then
    lbp_why="$(lbp_tool "$lbp_sf")-save cannot express every rule ($( { grep -h '^# Table .*incompatible' "$lbp_so"; grep -h 'incompatible' "$lbp_work/save.err"; } | head -n 1 | sed 's/^# *//')): a native nftables ruleset shares iptables' tables"
    return 1
  fi
  lbp_complete "$lbp_so" || { lbp_why="$(lbp_tool "$lbp_sf")-save wrote an incomplete file ($lbp_why)"; return 1; }
}

# Is file $1 a complete iptables-save: every *table closed by COMMIT, nothing after the last COMMIT but comments?
lbp_complete() {
  lbp_why=$(awk '
    /^#/ || /^$/ { next }
    /^\*/ { if (open) { print "table " open " has no COMMIT"; bad = 1; exit } open = substr($0, 2); n++; next }
    /^COMMIT$/ { if (!open) { print "COMMIT outside a table"; bad = 1; exit } open = ""; next }
    { if (!open) { print "a line outside a table"; bad = 1; exit } }
    END { if (!bad && open) print "table " open " is cut off before COMMIT" }' "$1")
  [ -z "$lbp_why" ]
}

# iptables-nft shows nftables' ip/ip6 tables as iptables rules; a rule or chain it cannot express faithfully
# (a set lookup shows as a bare "-j DROP", a native base chain not at all) would be lost or turned into a
# drop-all by a restore. So a save is trusted only if restoring it in a scratch network namespace yields the
# same nftables tables as the host's. Sets lbp_why when it does not. $1 $2: the ipv4 and ipv6 saves ("" to skip).
lbp_nft_norm() {
  awk -v tab="$lbp_tab" '
    function flush() {
      if (chain != "" && !(base && empty && accept)) print table tab chain tab body
      chain = ""; body = ""
    }
    /^table / { flush(); table = $2 " " $3; next }
    /^\t(chain|set|map|flowtable|counter|quota|limit|ct) / { flush(); chain = $0; sub(/^\t/, "", chain); sub(/ \{$/, "", chain); base = 0; empty = 1; accept = 0; next }
    /^\t\}$/ { flush(); next }
    /^}$/ { flush(); next }
    chain != "" {
      line = $0; sub(/^\t+/, "", line)
      gsub(/ packets [0-9]+ bytes [0-9]+/, "", line)
      if (line ~ /^type .* hook /) { base = 1; if (line ~ /policy accept;$/) accept = 1 }
      else if (line != "") empty = 0
      body = body "|" line
      next
    }' | sort
}
lbp_roundtrip() {
  lbp_why=""
  command -v nft >/dev/null 2>&1 || return 0
  case "$(iptables -V 2>/dev/null)" in *nf_tables*) ;; *) return 0 ;; esac
  : > "$lbp_work/rt.real"
  for lbp_rtf in ip ip6; do
    if [ "$lbp_rtf" = ip ]; then lbp_rts=$1; else lbp_rts=$2; fi
    [ -n "$lbp_rts" ] || continue
    sed -n 's/^\*//p' "$lbp_rts" | while read -r lbp_rtt; do
      nft list table "$lbp_rtf" "$lbp_rtt" 2>/dev/null || :
    done >> "$lbp_work/rt.real"
  done
  if [ ! -s "$lbp_work/rt.real" ]; then
    # nftables shows no such table: fine for an empty save, not for one with rules (nft cannot list them).
    if cat ${1:+"$1"} ${2:+"$2"} | grep -q '^-A '; then
      lbp_why="cannot check that iptables shows nftables' tables faithfully: nft list table shows nothing for a save with rules"
      return 1
    fi
    return 0
  fi
  if ! command -v unshare >/dev/null 2>&1; then
    lbp_why="cannot check that iptables shows nftables' tables faithfully: unshare (util-linux) is not installed"
    return 1
  fi
  # shellcheck disable=SC2016 # expanded by the inner sh
  if ! unshare -n sh -c '
    [ -z "$1" ] || iptables-restore < "$1" || exit 1
    [ -z "$2" ] || ip6tables-restore < "$2" || exit 1
    nft list ruleset' lbp-roundtrip "$1" "$2" > "$lbp_work/rt.scratch" 2> "$lbp_work/rt.err"; then
    lbp_why="cannot check that iptables shows nftables' tables faithfully: restoring the save in a scratch network namespace failed ($(tail -n 1 "$lbp_work/rt.err"))"
    return 1
  fi
  lbp_nft_norm < "$lbp_work/rt.real" > "$lbp_work/rt.real.n"
  lbp_nft_norm < "$lbp_work/rt.scratch" > "$lbp_work/rt.scratch.n"
  if ! cmp -s "$lbp_work/rt.real.n" "$lbp_work/rt.scratch.n"; then
    lbp_rtd=$(diff "$lbp_work/rt.real.n" "$lbp_work/rt.scratch.n" | sed -n 's/^< //p' | head -n 1 | cut -f 1,2 | tr '\t' ' ')
    lbp_why="a native nftables ruleset shares iptables' tables: nftables holds rules that iptables-save does not reproduce (${lbp_rtd:-see nft list ruleset}): a snapshot, rollback or persisted file would lose or change them"
    return 1
  fi
}

# ---- know the host: who else manages the firewall ----
# Sets lbp_other to what is in charge besides us (empty when nothing is). Never run in a subshell: it dies.
lbp_other_firewall() {
  lbp_other="" lbp_manager=""
  lbp_have_iptables=0
  command -v iptables >/dev/null 2>&1 && lbp_have_iptables=1
  # ufw is active exactly when its chains are loaded: the test `ufw status` makes, without its ~50 ms of Python.
  lbp_ufw=1 lbp_ufw_err=""
  if [ "$lbp_have_iptables" = 1 ] && command -v ufw >/dev/null 2>&1; then
    lbp_ufw_err=$(iptables -w "$LBP_LOCK_WAIT" -n -L ufw-user-input 2>&1 >/dev/null) && lbp_ufw=0 || lbp_ufw=$?
  fi
  case "$lbp_ufw:$lbp_ufw_err" in
    4:*xtables\ lock*) lbp_die "cannot tell whether ufw is active: another program held the xtables lock for more than ${LBP_LOCK_WAIT}s (lockWaitSeconds); nothing was changed" ;;
  esac
  if [ "$lbp_ufw" -ne 0 ] && [ "$lbp_ufw" -ne 1 ]; then
    lbp_die "cannot tell whether ufw is active: iptables -L ufw-user-input exited $lbp_ufw ($lbp_ufw_err); nothing was changed"
  elif [ "$lbp_ufw" -eq 0 ]; then
    lbp_other="ufw is active (ufw status)" lbp_manager=ufw
    return 0
  fi
  # firewalld answers over the system bus: without its socket it is not running, and asking costs ~0.3 s of Python.
  if [ -S /run/dbus/system_bus_socket ] && command -v firewall-cmd >/dev/null 2>&1 && [ "$(timeout 10 firewall-cmd --state 2>/dev/null)" = running ]; then
    lbp_other="firewalld is running (firewall-cmd --state)" lbp_manager=firewalld
    return 0
  fi
  lbp_backend_nft=0
  case "$(iptables -V 2>/dev/null)" in *nf_tables*) lbp_backend_nft=1 ;; esac
  if command -v nft >/dev/null 2>&1; then
    # A table iptables-nft would not create is someone else's; with iptables-legacy (or none), every table is.
    lbp_nft=$(nft list tables 2>/dev/null | while read -r lbp_k lbp_f lbp_n; do
      [ "$lbp_k" = table ] || continue
      # Our own table (issue 13) is nobody else's ruleset, when it holds only what loopback-policy writes.
      if [ "$lbp_f $lbp_n" = "inet loopback_policy" ] && command -v lbp_nftables_table_ours >/dev/null 2>&1 && lbp_nftables_table_ours; then
        continue
      fi
      if [ "$lbp_backend_nft" = 1 ]; then
        case "$lbp_f $lbp_n" in
          "ip filter" | "ip nat" | "ip mangle" | "ip raw" | "ip security") continue ;;
          "ip6 filter" | "ip6 nat" | "ip6 mangle" | "ip6 raw" | "ip6 security") continue ;;
          "arp filter" | "bridge filter" | "bridge nat" | "bridge broute") continue ;;
        esac
      fi
      echo "$lbp_f $lbp_n"
      break
    done)
    case "$lbp_nft" in
      "") ;;
      *firewalld*) lbp_other="firewalld's nftables ruleset is loaded (table $lbp_nft)" lbp_manager=firewalld; return 0 ;;
      *)
        if [ "$lbp_backend_nft" = 1 ] || [ "$lbp_have_iptables" = 0 ]; then
          lbp_other="a native nftables ruleset is loaded (table $lbp_nft)" lbp_manager=nftables
        else
          lbp_other="nftables tables are loaded (table $lbp_nft) while iptables uses the legacy backend"
        fi
        return 0
        ;;
    esac
  fi
  # iptables-nft in use, but iptables-legacy tables left in the kernel still filter every packet.
  if [ "$lbp_backend_nft" = 1 ]; then
    for lbp_lt in iptables-legacy-save ip6tables-legacy-save; do
      case "$lbp_lt" in
        ip6*) lbp_ln=/proc/net/ip6_tables_names ;;
        *) lbp_ln=/proc/net/ip_tables_names ;;
      esac
      # /proc files have no size: read them.
      { [ -n "$(cat "$lbp_ln" 2>/dev/null)" ] && command -v "$lbp_lt" >/dev/null 2>&1; } || continue
      lbp_lr=$("$lbp_lt" 2>/dev/null | grep -E '^-A |^:[A-Z]+ (DROP|REJECT)' | head -n 1)
      if [ -n "$lbp_lr" ]; then
        lbp_other="iptables-legacy tables are loaded beside iptables-nft and still filter packets ($lbp_lt: $lbp_lr)"
        return 0
      fi
    done
  fi
}

# Prints why IPv6 cannot be handled on this host, or nothing when it can.
lbp_ipv6_unavailable() {
  if ! command -v ip6tables >/dev/null 2>&1; then
    echo "ip6tables is not installed"
  elif [ ! -e /proc/net/if_inet6 ]; then
    echo "the kernel has no IPv6"
  elif [ "$(cat /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null)" = 1 ]; then
    echo "IPv6 is disabled (net.ipv6.conf.all.disable_ipv6=1)"
  elif [ "$(cat /proc/sys/net/ipv6/conf/lo/disable_ipv6 2>/dev/null)" = 1 ]; then
    echo "IPv6 is disabled on lo (net.ipv6.conf.lo.disable_ipv6=1)"
  fi
}

# Sets lbp_families to the families this run handles; says what it skips and why.
lbp_pick_families() {
  lbp_families=ipv4
  if [ "$LBP_IPV6" = off ]; then
    lbp_say "ipv6: skipped: the policy turns IPv6 off"
    return 0
  fi
  lbp_v6why=$(lbp_ipv6_unavailable)
  if [ -z "$lbp_v6why" ]; then
    lbp_families="ipv4 ipv6"
  elif [ "$LBP_IPV6" = required ]; then
    lbp_die "ipv6 is required by the policy but $lbp_v6why"
  else
    lbp_say "ipv6: skipped: $lbp_v6why"
  fi
}

# The desired managed rules of one family, one per line: chain <TAB> tag <TAB> rule as iptables-save prints it.
lbp_rule() {
  [ "$1" = "$lbp_fam" ] || return 0
  printf '%s\tlbp:%s:%s\t-A %s %s -m comment --comment "lbp:%s:%s" %s\n' \
    "$2" "$LBP_GEN" "$3" "$2" "$4" "$LBP_GEN" "$3" "$5"
}

# The filter table of family $1, as iptables-save prints it, without counters, in file $2; checked complete.
lbp_save() {
  lbp_save_to "$1" "$lbp_work/$1.raw" -t filter || return 1
  sed -e 's/^\[[0-9]*:[0-9]*\] //' -e 's/ \[[0-9]*:[0-9]*\]$//' "$lbp_work/$1.raw" > "$2" ||
    { lbp_why="cannot write $2 (is $LBP_DIR full?)"; return 1; }
}

# Compare the desired rules ($1) with a saved filter table ($2). Writes the iptables-restore commands that
# converge INPUT and OUTPUT to $3 (empty when converged), what they do to $4 (action <TAB> chain <TAB> what),
# rules that look like ours but are not to $5, and the untagged rules it replaces to $6 (chain <TAB> position
# among the rules that stay <TAB> rule), for `remove` to put back.
# Ours, and only ours: in INPUT/OUTPUT, a comment that is exactly lbp:<8 hex>:<id> of our grammar, on a rule
# of the shape we write for that id (any generation), or of this generation's exact tag (tampered: repaired);
# plus untagged exact copies of the lo rules (seed 000: replaced, never duplicated). Everything else is
# never named, so never touched.
lbp_diff() {
  awk -v restore="$3" -v report="$4" -v lookalike="$5" -v absorbed="$6" -v gen="$LBP_GEN" '
    function comment(s,   t) {
      if (!match(s, / -m comment --comment ("[^"]*"|[^ ]+)/)) return ""
      t = substr(s, RSTART, RLENGTH); sub(/^ -m comment --comment /, "", t); gsub(/"/, "", t); return t
    }
    function shape(s, id, t,   r, m, net, rej) {
      r = s; sub(" -m comment --comment \"" t "\"", "", r)
      net = "(127\\.0\\.0\\.0/8|::1/128)"
      rej = "(DROP|REJECT --reject-with (icmp-port-unreachable|icmp6-port-unreachable|tcp-reset))"
      if (id == "lo-in") return r == "-A INPUT -i lo -j ACCEPT"
      if (id == "lo-out") return r == "-A OUTPUT -o lo -j ACCEPT"
      if (id == "established-in") return r == "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
      if (id == "established-out") return r == "-A OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
      m = "^-A INPUT -s " net " ! -i lo"
      if (id == "spoof") return r ~ (m " -j " rej "$")
      if (id == "spoof-log") return r ~ (m " -m limit --limit [0-9]+/min --limit-burst [0-9]+ -j LOG --log-prefix \"[A-Za-z0-9._:-]+ spoof: \"$")
      m = "^-A INPUT ! -i lo -p (tcp|udp) -m multiport --dports [0-9:,]+"
      if (id ~ /^local-(tcp|udp)-[0-9]+$/) return r ~ (m " -j " rej "$")
      if (id ~ /^local-(tcp|udp)-[0-9]+-log$/) return r ~ (m " -m limit --limit [0-9]+/min --limit-burst [0-9]+ -j LOG --log-prefix \"[A-Za-z0-9._:-]+ local-(tcp|udp)-[0-9]+: \"$")
      return 0
    }
    BEGIN { FS = "\t"; printf "" > restore; printf "" > report; printf "" > lookalike; printf "" > absorbed }
    FILENAME == ARGV[1] { c = $1; nw[c]++; want[c, nw[c]] = $2; spec[$2] = $3; wanted[$2] = c; next }
    {
      split($0, w, " ")
      if (w[1] != "-A" || (w[2] != "INPUT" && w[2] != "OUTPUT")) next
      c = w[2]; n = ++nc[c]; line[c, n] = $0; kind[c, n] = ""; tag[c, n] = ""
      t = comment($0)
      if (t != "" && tolower(t) ~ /lbp/) {
        id = t; sub(/^lbp:[0-9a-f]+:/, "", id)
        if (t in spec && $0 == spec[t]) { kind[c, n] = "ok"; tag[c, n] = t }
        else if (t in spec && wanted[t] == c) { kind[c, n] = "tampered"; tag[c, n] = t }
        else if (t ~ /^lbp:[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]:[a-z0-9-]+$/ && shape($0, id, t)) { kind[c, n] = "stale"; tag[c, n] = t }
        else print c "\t" $0 > lookalike
      } else if ($0 == "-A INPUT -i lo -j ACCEPT" || $0 == "-A OUTPUT -o lo -j ACCEPT") {
        kind[c, n] = "untagged"
      }
      if (kind[c, n] == "ok") count[c, t]++
      if (kind[c, n] == "" || kind[c, n] == "untagged") stays[c]++
      if (kind[c, n] == "untagged") print c "\t" stays[c] "\t" $0 > absorbed
    }
    END {
      for (k = 1; k <= 2; k++) {
        c = (k == 1) ? "INPUT" : "OUTPUT"
        p = 0
        while (p < nw[c] && p < nc[c] && kind[c, p + 1] == "ok" && tag[c, p + 1] == want[c, p + 1] && count[c, want[c, p + 1]] == 1) p++
        for (i = p + 1; i <= nc[c]; i++) {
          if (kind[c, i] == "") continue
          d = line[c, i]; sub(/^-A /, "-D ", d); print d > restore
          t = tag[c, i]
          if (kind[c, i] == "untagged") print "replaced\t" c "\tuntagged \"" line[c, i] "\"" > report
          else if (kind[c, i] == "tampered") { repaired[t] = 1; print "repaired\t" c "\t" t " (was \"" line[c, i] "\")" > report }
          else if (wanted[t] == c) moved[t] = 1
          else print "removed\t" c "\t" t > report
        }
        for (j = p + 1; j <= nw[c]; j++) {
          t = want[c, j]; s = spec[t]; sub(/^-A [A-Z]+ /, "", s)
          print "-I " c " " j " " s > restore
          if (!(t in repaired)) print ((t in moved) ? "moved" : "added") "\t" c "\t" t > report
        }
      }
    }' "$1" "$2"
}

# "added INPUT/lo-in, OUTPUT/lo-out; replaced untagged ..." from a diff report.
lbp_summary() {
  awk -F '\t' '
    { sub(/^lbp:[^:]*:/, "", $3); if (!($1 in seen)) { order[++n] = $1; seen[$1] = 1 }
      items[$1] = items[$1] (items[$1] == "" ? "" : ", ") ($1 == "replaced" ? $3 " in " $2 : $2 "/" $3) }
    END { for (i = 1; i <= n; i++) printf "%s%s %s", (i > 1 ? "; " : ""), order[i], items[order[i]]; print "" }' "$1"
}

# What converging one family would do: $lbp_work/<family>.restore (empty when converged), .report,
# .lookalike (reported, never touched) and .absorbed.
lbp_plan() {
  lbp_fam=$1
  lbp_rules > "$lbp_work/$lbp_fam.desired"
  lbp_save "$lbp_fam" "$lbp_work/$lbp_fam.current" || lbp_die "$lbp_fam: $lbp_why; nothing was changed"
  lbp_diff "$lbp_work/$lbp_fam.desired" "$lbp_work/$lbp_fam.current" "$lbp_work/$lbp_fam.restore" \
    "$lbp_work/$lbp_fam.report" "$lbp_work/$lbp_fam.lookalike" "$lbp_work/$lbp_fam.absorbed"
}

# Say which rules look like ours but are not (left alone), once per family and run.
lbp_report_lookalikes() {
  [ -s "$lbp_work/$1.lookalike" ] || return 0
  while IFS="$lbp_tab" read -r _ lbp_ll; do
    lbp_say "$1: left alone, not ours: \"$lbp_ll\" (its comment looks like loopback-policy's, but it is not a rule loopback-policy writes)"
  done < "$lbp_work/$1.lookalike"
}

# Converge one family. Sets lbp_changed=1 when it changed anything.
lbp_converge() {
  lbp_fam=$1
  lbp_t=$(lbp_tool "$lbp_fam")
  lbp_try=1
  while :; do
    lbp_plan "$lbp_fam"
    [ "$lbp_try" -gt 1 ] || lbp_report_lookalikes "$lbp_fam"
    if [ ! -s "$lbp_work/$lbp_fam.restore" ]; then
      [ "$lbp_try" -gt 1 ] || lbp_say "$lbp_fam: unchanged ($(wc -l < "$lbp_work/$lbp_fam.desired" | tr -d ' ') managed rules in place, in order)"
      return 0
    fi
    [ "$lbp_try" -le 3 ] || lbp_die "$lbp_fam: the ruleset kept changing underneath (3 attempts): another tool is rewriting INPUT/OUTPUT"
    [ "$lbp_try" -eq 1 ] || lbp_say "$lbp_fam: the ruleset changed while applying; converging again"
    lbp_say "$lbp_fam: $(lbp_summary "$lbp_work/$lbp_fam.report")"
    { echo '*filter' && cat "$lbp_work/$lbp_fam.restore" && echo COMMIT; } > "$lbp_work/$lbp_fam.in" ||
      lbp_undo_and_die "$lbp_fam: cannot write the change to $lbp_work (no space left in $LBP_DIR?); nothing of it was applied"
    # What this run replaces, for remove to put back (kept in the state directory until confirm records it).
    if [ -s "$lbp_work/$lbp_fam.absorbed" ]; then
      cat "$lbp_work/$lbp_fam.absorbed" >> "$LBP_DIR/absorbed.$lbp_fam" || lbp_die "cannot note the replaced rules in $LBP_DIR"
    fi
    # The guard's snapshot is only worth restoring once something was changed: marked before (a run cut right
    # after the restore is still guarded), unmarked if the restore refused (nothing of it was applied).
    [ ! -f "$LBP_DIR/pending" ] || [ -f "$LBP_DIR/changed" ] || { : > "$LBP_DIR/changed"; lbp_marked=1; }
    if ! lbp_err=$("$lbp_t-restore" -w "$LBP_LOCK_WAIT" --noflush < "$lbp_work/$lbp_fam.in" 2>&1); then
      [ "${lbp_marked:-0}" = 0 ] || [ "$lbp_changed" = 1 ] || rm -f "$LBP_DIR/changed"
      case "$lbp_err" in
        *xtables\ lock*) lbp_why="$lbp_fam: another program held the xtables lock for more than ${LBP_LOCK_WAIT}s (lockWaitSeconds); nothing of it was applied: $lbp_err" ;;
        *) lbp_why="$lbp_fam: $lbp_t-restore refused the change, nothing of it was applied: $lbp_err" ;;
      esac
      lbp_undo_and_die "$lbp_why"
    fi
    lbp_changed=1
    lbp_try=$((lbp_try + 1))
  done
}

# Die with $1; a change this run already made (another family) is undone first, from the snapshot.
lbp_undo_and_die() {
  if [ "${lbp_changed:-0}" = 1 ]; then
    for lbp_f in $lbp_families; do
      "$(lbp_tool "$lbp_f")-restore" -w "$LBP_LOCK_WAIT" -c < "$lbp_work/snapshot.$lbp_f" ||
        lbp_die "$1, AND restoring the previous rules failed: check the host by hand"
    done
    rm -f "$LBP_DIR/absorbed.ipv4" "$LBP_DIR/absorbed.ipv6"
    lbp_clear_pending
    lbp_die "$1. The previous rules were restored; nothing was persisted"
  fi
  lbp_die "$1"
}

# Packet counters of this generation's lo-in and lo-out rules in INPUT and OUTPUT, "in out" (-1 when missing).
lbp_counters() {
  "$(lbp_tool "$1")-save" -c -t filter | awk -v i="-A INPUT -i lo -m comment --comment \"lbp:$LBP_GEN:lo-in\" -j ACCEPT" \
    -v o="-A OUTPUT -o lo -m comment --comment \"lbp:$LBP_GEN:lo-out\" -j ACCEPT" '
    function count(line) { sub(/^\[/, "", line); split(line, c, ":"); return c[1] }
    { r = $0; sub(/^\[[0-9]+:[0-9]+\] /, "", r) }
    r == i { cin = count($1) }
    r == o { cout = count($1) }
    END { print (cin == "" ? -1 : cin), (cout == "" ? -1 : cout) }'
}

# The system's python3 (never a user's pyenv/virtualenv shim first on PATH), isolated from PYTHON* variables
# and site packages: the probe needs only the standard library.
lbp_python() {
  for lbp_py in /usr/bin/python3 /usr/libexec/platform-python /usr/local/bin/python3; do
    [ -x "$lbp_py" ] && { echo "$lbp_py"; return 0; }
  done
  command -v python3 2>/dev/null
}

# One real round trip over loopback: a listener and a client on 127.0.0.1 or ::1 (seed 000).
lbp_probe() {
  lbp_method=$LBP_VERIFY
  lbp_py=$(lbp_python)
  if [ "$lbp_method" = auto ]; then
    if [ -n "$lbp_py" ]; then
      lbp_method=tcp
    elif command -v ping >/dev/null 2>&1; then
      lbp_method=icmp
    else
      lbp_why="neither python3 nor ping is installed to test loopback with: install one, or set verify: \"off\""
      return 1
    fi
  fi
  case "$lbp_method" in
    tcp)
      [ -n "$lbp_py" ] || { lbp_why="verify is tcp but python3 is not installed"; return 1; }
      "$lbp_py" -I -S - "$1" <<'LBP_PY' 2>"$lbp_work/probe.err" || { lbp_why="a TCP connection over $1 failed: $(tail -n 1 "$lbp_work/probe.err")"; return 1; }
import socket, sys
addr = sys.argv[1]
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
srv = socket.socket(fam, socket.SOCK_STREAM)
srv.bind((addr, 0))
srv.listen(1)
srv.settimeout(3)
cli = socket.socket(fam, socket.SOCK_STREAM)
cli.settimeout(3)
cli.connect(srv.getsockname()[:2])
conn, _ = srv.accept()
conn.settimeout(3)
cli.sendall(b"loopback-policy")
sys.exit(0 if conn.recv(64) == b"loopback-policy" else 1)
LBP_PY
      ;;
    icmp)
      command -v ping >/dev/null 2>&1 || { lbp_why="verify is icmp but ping is not installed"; return 1; }
      case "$1" in
        *:*) ping -6 -c 1 -W 2 "$1" >/dev/null 2>&1 || ping6 -c 1 -W 2 "$1" >/dev/null 2>&1 ;;
        *) ping -c 1 -W 2 "$1" >/dev/null 2>&1 ;;
      esac || { lbp_why="ping $1 got no reply"; return 1; }
      ;;
  esac
  lbp_how="$lbp_method $1"
}

# Seed 000: a live loopback test, and the lo rules' counters must rise.
lbp_verify() {
  lbp_fam=$1
  if [ "$LBP_VERIFY" = off ]; then
    lbp_say "$lbp_fam: verification is off by policy"
    return 0
  fi
  read -r lbp_in0 lbp_out0 <<LBP_C
$(lbp_counters "$lbp_fam")
LBP_C
  lbp_why=""
  lbp_probe "$(lbp_loopback_address "$lbp_fam")" || return 1
  read -r lbp_in1 lbp_out1 <<LBP_C
$(lbp_counters "$lbp_fam")
LBP_C
  if [ "$lbp_in1" -le "$lbp_in0" ] || [ "$lbp_out1" -le "$lbp_out0" ]; then
    lbp_why="the loopback test passed but the lo rules did not count it (lo-in $lbp_in0 -> $lbp_in1, lo-out $lbp_out0 -> $lbp_out1): another rule or table handles loopback first"
    return 1
  fi
  lbp_say "$lbp_fam: verified: $lbp_how ok; counters lo-in $lbp_in0 -> $lbp_in1, lo-out $lbp_out0 -> $lbp_out1"
}

lbp_restore_snapshots() {
  # A backend that armed the guard (engine-<name>.sh) names itself in $LBP_DIR/backend and restores its own way.
  if [ -s "$LBP_DIR/backend" ]; then
    "lbp_$(cat "$LBP_DIR/backend")_restore"
    return
  fi
  for lbp_f in ipv4 ipv6; do
    [ -f "$LBP_DIR/snapshot.$lbp_f" ] || continue
    "$(lbp_tool "$lbp_f")-restore" -w "$LBP_LOCK_WAIT" -c < "$LBP_DIR/snapshot.$lbp_f" || return 1
  done
}

lbp_clear_pending() {
  if lbp_timer_alive; then
    # The timer's TERM trap kills its own sleep before it exits.
    kill -s TERM "$(cat "$LBP_DIR/timer.pid")" 2>/dev/null || :
  fi
  rm -f "$LBP_DIR/pending" "$LBP_DIR/changed" "$LBP_DIR/verified" "$LBP_DIR/timer.pid" "$LBP_DIR"/snapshot.* "$LBP_DIR/engine.sh" "$LBP_DIR/backend"
  lbp_armed=0
}

# Copy $1 to $2 completely or not at all: the copy is compared with the original before it replaces $2.
lbp_write_file() {
  # Created exclusively (never through a link someone planted), beside the target.
  lbp_wt=$(mktemp "$2.lbp-new.XXXXXX" 2>"$lbp_work/write.err") || {
    lbp_why=$(tail -n 1 "$lbp_work/write.err")
    lbp_why="cannot write $2 (${lbp_why:-mktemp failed})"
    return 1
  }
  if ! { cat "$1" > "$lbp_wt"; } 2>"$lbp_work/write.err" || ! cmp -s "$1" "$lbp_wt"; then
    lbp_why=$(tail -n 1 "$lbp_work/write.err" | sed 's/^.*: cannot create //')
    lbp_why="cannot write $2 (${lbp_why:-the copy is not complete: is the disk full?})"
    rm -f "$lbp_wt"
    return 1
  fi
  # A file that is replaced keeps its mode (a ruleset root reads at boot; a state file root's alone).
  [ ! -f "$2" ] || chmod "$(stat -c %a -- "$2")" "$lbp_wt" 2>/dev/null || :
  if ! mv -f "$lbp_wt" "$2" 2>"$lbp_work/write.err"; then
    lbp_why="replacing $2 failed ($(tail -n 1 "$lbp_work/write.err"))"
    rm -f "$lbp_wt"
    return 1
  fi
}

# ---- persistence (only ever after verification) ----
lbp_persist_target() {
  case "$LBP_PERSIST" in
    auto)
      if [ -d /etc/iptables ] || command -v netfilter-persistent >/dev/null 2>&1; then
        lbp_pmethod=netfilter-persistent lbp_p4=/etc/iptables/rules.v4 lbp_p6=/etc/iptables/rules.v6
      elif [ -f /etc/sysconfig/iptables-config ]; then
        lbp_pmethod=rhel lbp_p4=/etc/sysconfig/iptables lbp_p6=/etc/sysconfig/ip6tables
      else
        lbp_pmethod=none lbp_p4="" lbp_p6=""
      fi
      ;;
    none) lbp_pmethod=none lbp_p4="" lbp_p6="" ;;
    *) lbp_pmethod=$LBP_PERSIST lbp_p4=$LBP_PERSIST_V4 lbp_p6=$LBP_PERSIST_V6 ;;
  esac
}

# Is $1 somewhere a ruleset may be written? Sets lbp_why when not: a directory, a link, the engine's own state
# or record, or an existing file that is not an iptables-save ruleset (it would be overwritten).
lbp_persist_path_ok() {
  case "$1" in
    /*) ;;
    *) lbp_why="$1 is not an absolute path"; return 1 ;;
  esac
  case "$1/" in
    "$LBP_DIR"/* | "$LBP_RECORD"/* | /proc/* | /sys/* | /dev/*) lbp_why="$1 is not a place for a ruleset (the engine's own state, or a kernel file system)"; return 1 ;;
  esac
  if [ -L "$1" ]; then lbp_why="$1 is a symbolic link (to $(readlink "$1")); write the file it points to instead"; return 1; fi
  [ ! -e "$1" ] || [ -f "$1" ] || { lbp_why="$1 exists and is not a regular file"; return 1; }
  if [ -s "$1" ] && [ -n "$(grep -v -E -e '^(#.*|\*[a-z]+|:[^ ]+ [^ ]+( \[[0-9]+:[0-9]+\])?|(\[[0-9]+:[0-9]+\] )?-[AIN] .*|COMMIT)$' -e '^$' "$1" | head -n 1)" ]; then
    lbp_why="$1 exists and is not an iptables-save ruleset: loopback-policy never overwrites it"
    return 1
  fi
}

# Persist one family's live rules to $2: the save is checked complete, faithful and loadable
# (iptables-restore --test) before it replaces anything.
lbp_persist_family() {
  lbp_t=$(lbp_tool "$1")
  lbp_persist_path_ok "$2" || lbp_die "persistence: refusing $2: $lbp_why; the verified rules are live but not saved. Fix: set persistence to a ruleset file"
  mkdir -p "$(dirname "$2")" || lbp_die "persistence: cannot create $(dirname "$2"); the verified rules are live but not saved"
  lbp_pd=$(dirname "$2")
  read -r lbp_pu lbp_pm <<LBP_S
$(lbp_mode_of "$lbp_pd")
LBP_S
  lbp_pm=$(lbp_octal "$lbp_pm")
  lbp_bad=""
  if [ "$lbp_pu" != 0 ] || { [ $((lbp_pm & 18)) -ne 0 ] && [ $((lbp_pm & 512)) -eq 0 ]; }; then
    lbp_bad="it belongs to uid $lbp_pu with mode $(printf '%o' "$lbp_pm")"
  else
    lbp_bad=$(lbp_ancestors_unsafe "$lbp_pd" 0)
  fi
  [ -z "$lbp_bad" ] || lbp_die "persistence: refusing to write into $lbp_pd: $lbp_bad, so another user could swap what root writes or boots from; the verified rules are live but not saved. Fix: keep the ruleset in a directory only root can write"
  lbp_save_to "$1" "$lbp_work/persist" || lbp_die "persistence: $lbp_why; the verified rules are live but not saved; $2 is unchanged"
  if [ "$1" = ipv4 ]; then lbp_roundtrip "$lbp_work/persist" ""; else lbp_roundtrip "" "$lbp_work/persist"; fi ||
    lbp_die "persistence: $lbp_why; the verified rules are live but not saved; $2 is unchanged"
  lbp_err=$("$lbp_t-restore" --test < "$lbp_work/persist" 2>&1) ||
    lbp_die "persistence: $lbp_t-restore --test rejects the save ($lbp_err); the verified rules are live but not saved; $2 is unchanged"
  if [ -f "$2" ] && lbp_same_rules "$lbp_work/persist" "$2"; then
    lbp_say "$1: persisted ($lbp_pmethod): $2 already matches the live rules"
    return 0
  fi
  lbp_write_file "$lbp_work/persist" "$2" || lbp_die "persistence: $lbp_why; the verified rules are live but not saved; $2 is unchanged"
  lbp_say "$1: persisted ($lbp_pmethod): wrote $2"
}

lbp_persist() {
  lbp_persist_target
  if [ "$lbp_pmethod" = none ]; then
    if [ "$LBP_PERSIST" = none ]; then
      lbp_say "persistence: none by policy; the live rules are lost at reboot"
    else
      lbp_say "persistence: WARNING: no method found (no /etc/iptables, netfilter-persistent or iptables-services); the live rules are lost at reboot: install iptables-persistent or set persistence"
    fi
    return 0
  fi
  for lbp_fam in $lbp_families; do
    if [ "$lbp_fam" = ipv4 ]; then lbp_path=$lbp_p4; else lbp_path=$lbp_p6; fi
    lbp_persist_family "$lbp_fam" "$lbp_path"
  done
}

# Same rules, ignoring comments (timestamps) and counters.
lbp_same_rules() {
  lbp_norm "$1" > "$lbp_work/norm.a" && lbp_norm "$2" > "$lbp_work/norm.b" && cmp -s "$lbp_work/norm.a" "$lbp_work/norm.b"
}

lbp_norm() {
  sed -e '/^#/d' -e 's/^\[[0-9]*:[0-9]*\] //' -e 's/ \[[0-9]*:[0-9]*\]$//' "$1"
}

lbp_backend() {
  iptables -V 2>/dev/null | head -n 1
}

# ---- the record of what the first run replaced (untagged lo rules), for remove to put back ----
# Kept in $LBP_RECORD (default /etc/loopback-policy, root's alone), one file per family: chain <TAB> position
# among the rules that stay <TAB> rule. Written at confirm, from what apply noted in the state directory.
lbp_record_absorbed() {
  for lbp_fam in $lbp_families; do
    [ -s "$LBP_DIR/absorbed.$lbp_fam" ] || continue
    lbp_secure_dir "$LBP_RECORD" record
    { [ ! -f "$LBP_RECORD/absorbed.$lbp_fam" ] || cat "$LBP_RECORD/absorbed.$lbp_fam"; cat "$LBP_DIR/absorbed.$lbp_fam"; } |
      awk '!seen[$0]++' > "$lbp_work/absorbed"
    lbp_write_file "$lbp_work/absorbed" "$LBP_RECORD/absorbed.$lbp_fam" ||
      lbp_die "cannot record the rules this policy replaced in $LBP_RECORD ($lbp_why); nothing was persisted"
    rm -f "$LBP_DIR/absorbed.$lbp_fam"
    lbp_say "$lbp_fam: recorded in $LBP_RECORD/absorbed.$lbp_fam what was replaced, for destroy to put back"
  done
}

# @backends: the engine-<name>.sh files are inserted here (lib/render/engine.ts)
# ---- modes ----
# Who else is in charge, whether iptables is there, and whether the saves of the families in $1 can be trusted
# (complete, and faithful to what nftables holds: otherwise a snapshot, rollback or persisted file would not be
# what the kernel holds). Another firewall in charge is handled by otherFirewall; an untrustworthy save always
# stops the run, "ignore" or not, changing nothing.
lbp_preflight() {
  lbp_other_firewall
  if [ -z "$lbp_other" ] && [ "$lbp_have_iptables" = 1 ] && ! lbp_trust_saves "$1"; then
    lbp_other="$lbp_why"
    lbp_untrusted=1
  else
    lbp_untrusted=0
  fi
  if [ -n "$lbp_other" ]; then
    case "$LBP_OTHER_FIREWALL" in
      skip)
        lbp_say "skipped: $lbp_other (otherFirewall: skip); nothing was changed"
        exit 0
        ;;
      manage)
        # A backend (engine-<name>.sh) defines lbp_<name>_run, which does this run's mode in that firewall's
        # terms and exits. Without one for this manager, nothing is changed.
        [ "$lbp_untrusted" = 0 ] || lbp_die "$lbp_other; nothing was changed. Fix: manage those rules with nft only (outside iptables' tables), or remove them; or set otherFirewall: \"skip\" to leave this host alone"
        if [ -n "$lbp_manager" ] && command -v "lbp_${lbp_manager}_run" >/dev/null 2>&1; then
          lbp_say "host: $lbp_other; managing loopback through $lbp_manager (otherFirewall: manage)"
          "lbp_${lbp_manager}_run"
          exit 0
        fi
        lbp_die "$lbp_other, and otherFirewall: \"manage\" has no way to manage ${lbp_manager:-that} here; nothing was changed. Fix: configure loopback in that tool, or set otherFirewall: \"skip\" (leave the host alone) or \"ignore\" (apply with iptables anyway)"
        ;;
      ignore)
        [ "$lbp_untrusted" = 0 ] || lbp_die "$lbp_other; nothing was changed, even with otherFirewall: \"ignore\". Fix: manage those rules with nft only (outside iptables' tables), or remove them"
        lbp_say "warning: $lbp_other; applying anyway (otherFirewall: ignore)"
        ;;
      *)
        [ "$lbp_untrusted" = 0 ] || lbp_die "$lbp_other; nothing was changed. Fix: manage those rules with nft only (outside iptables' tables), or remove them; or set otherFirewall: \"skip\" to leave this host alone"
        # The fix names "manage" exactly when this engine has a backend for the firewall in charge.
        if [ -n "$lbp_manager" ] && command -v "lbp_${lbp_manager}_run" >/dev/null 2>&1; then
          lbp_die "$lbp_other and manages this firewall; loopback-policy changes nothing here. Fix: set otherFirewall: \"manage\" to converge loopback through $lbp_manager (in its own rules and files), or otherFirewall: \"skip\" (leave the host alone), or configure loopback in $lbp_manager yourself"
        fi
        lbp_die "$lbp_other and manages this firewall; loopback-policy changes nothing here. Configure loopback in that tool, or set otherFirewall: \"skip\" (leave the host alone) or \"ignore\" (apply anyway)"
        ;;
    esac
  fi
  # firewalld stopped since it was managed: iptables rules now would be flushed when it starts, and destroy could not
  # take them away (it removes through firewalld).
  if [ "$LBP_OTHER_FIREWALL" = manage ] && command -v lbp_firewalld_present >/dev/null 2>&1 && lbp_firewalld_present; then
    lbp_die "firewalld is not running, but it holds what generation $LBP_GEN added to it ($LBP_RECORD/firewalld.ours); nothing was changed. Fix: start firewalld (systemctl start firewalld) and run again"
  fi
  [ "$lbp_have_iptables" = 1 ] || lbp_die "iptables is not installed (Debian/Ubuntu: apt-get install iptables; RHEL/Fedora: dnf install iptables-nft); nothing was changed"
}

# Are the filter-table saves of the families in $1 complete and faithful? Sets lbp_why when not.
lbp_trust_saves() {
  lbp_ts4="" lbp_ts6=""
  for lbp_tf in $1; do
    lbp_save_to "$lbp_tf" "$lbp_work/trust.$lbp_tf" -t filter || { lbp_why="$lbp_tf: $lbp_why"; return 1; }
    if [ "$lbp_tf" = ipv4 ]; then lbp_ts4="$lbp_work/trust.ipv4"; else lbp_ts6="$lbp_work/trust.ipv6"; fi
  done
  lbp_roundtrip "$lbp_ts4" "$lbp_ts6" || return 1
  # Every file of a run is checked where it matters, but the plan's own (awk) files cannot be: a run starts only
  # with room for several copies of the rules in the state directory.
  lbp_need=$(( ($(cat "$lbp_work"/trust.* | wc -c) * 8) / 1024 + 256 ))
  lbp_free=$(df -Pk "$LBP_DIR" 2>/dev/null | awk 'NR == 2 { print $4 }')
  if [ -n "$lbp_free" ] && [ "$lbp_free" -lt "$lbp_need" ]; then
    lbp_die "the state directory $LBP_DIR has ${lbp_free} KB free and a run needs about ${lbp_need} KB; nothing was changed. Fix: free space there"
  fi
}

# The families a run of the policy touches, without saying anything (lbp_pick_families says it).
lbp_policy_families() {
  if [ "$LBP_IPV6" != off ] && [ -z "$(lbp_ipv6_unavailable)" ]; then echo "ipv4 ipv6"; else echo ipv4; fi
}

# Before an apply changes anything, every backend settles a guard that is not this generation's live one: an
# unconfirmed change is rolled back (lbp_settled=rolledback: what the caller read of the firewall is stale), a run
# that stopped before changing anything has its guard cleared (lbp_settled=cleared); lbp_settled is empty when
# there was nothing to settle. Then this instance owns the generation's rules, until another instance applies it
# (a replacement).
lbp_settle_pending() {
  lbp_settled=
  if [ -f "$LBP_DIR/pending" ] && { [ "$(cat "$LBP_DIR/pending")" != "$LBP_GEN" ] || ! lbp_timer_alive; }; then
    if [ -f "$LBP_DIR/changed" ]; then
      lbp_say "an unconfirmed change of generation $(cat "$LBP_DIR/pending") is pending; rolling it back first"
      lbp_restore_snapshots || lbp_die "could not roll back the unconfirmed change"
      lbp_settled=rolledback
    else
      lbp_say "a run of generation $(cat "$LBP_DIR/pending") stopped before changing anything; clearing its guard"
      lbp_settled=cleared
    fi
    lbp_clear_pending
  fi
  rm -f "$LBP_DIR/rolledback.$LBP_GEN"
  [ -z "$LBP_INSTANCE" ] || echo "$LBP_INSTANCE" > "$LBP_DIR/owner.$LBP_GEN"
}

lbp_apply() {
  lbp_lock
  lbp_preflight "$(lbp_policy_families)"
  lbp_say "host: $(lbp_backend); policy $LBP_POLICY; generation $LBP_GEN"
  lbp_pick_families
  lbp_settle_pending
  [ -z "$lbp_settled" ] || rm -f "$LBP_DIR/absorbed.ipv4" "$LBP_DIR/absorbed.ipv6"
  for lbp_fam in $lbp_families; do
    lbp_save_to "$lbp_fam" "$lbp_work/snapshot.$lbp_fam" -c -t filter || lbp_die "$lbp_fam: cannot snapshot the current rules: $lbp_why; nothing was changed"
    lbp_err=$("$(lbp_tool "$lbp_fam")-restore" --test < "$lbp_work/snapshot.$lbp_fam" 2>&1) ||
      lbp_die "$lbp_fam: the snapshot of the current rules does not load back ($lbp_err); nothing was changed"
  done
  # Arm the guard before touching anything: an SSH session cut at any later point still ends in a rollback.
  lbp_pending_change=0
  for lbp_fam in $lbp_families; do
    lbp_plan "$lbp_fam"
    [ ! -s "$lbp_work/$lbp_fam.restore" ] || lbp_pending_change=1
  done
  lbp_armed=0
  if [ "$lbp_pending_change" = 1 ] && [ "$LBP_ROLLBACK_SECONDS" -gt 0 ] && [ ! -f "$LBP_DIR/pending" ]; then
    lbp_arm_rollback
    lbp_armed=1
  fi
  lbp_changed=0
  for lbp_fam in $lbp_families; do
    lbp_converge "$lbp_fam"
  done
  for lbp_fam in $lbp_families; do
    if ! lbp_verify "$lbp_fam"; then
      [ "$lbp_changed" = 1 ] || lbp_die "$lbp_fam: verification failed: $lbp_why. Nothing was changed or persisted"
      lbp_undo_and_die "$lbp_fam: verification failed: $lbp_why"
    fi
  done
  if [ "$lbp_changed" = 0 ]; then
    [ "$lbp_armed" = 0 ] || lbp_clear_pending
    lbp_say "result: unchanged"
  elif [ -f "$LBP_DIR/pending" ]; then
    # The window the confirming connection must meet starts now, when the verified change is in place.
    date +%s > "$LBP_DIR/verified"
    lbp_say "result: changed; rollback armed: the previous rules come back ${LBP_ROLLBACK_SECONDS}s from now unless a new SSH connection confirms"
  else
    lbp_say "result: changed (rollback guard off)"
  fi
}

# Keep the snapshot and a copy of this script in the state directory, and start the timer that restores
# the snapshot unless `confirm` (a new SSH connection) removes the pending mark first.
lbp_arm_rollback() {
  for lbp_f in $lbp_families; do
    lbp_write_file "$lbp_work/snapshot.$lbp_f" "$LBP_DIR/snapshot.$lbp_f" || lbp_die "cannot keep the rollback snapshot in $LBP_DIR ($lbp_why); nothing was changed"
  done
  # $0 passed lbp_check_self: nobody but root and its owner could have written it. The copy is root's own.
  lbp_write_file "$0" "$LBP_DIR/engine.sh" || lbp_die "cannot keep the rollback script in $LBP_DIR ($lbp_why); nothing was changed"
  rm -f "$LBP_DIR/timer.pid" "$LBP_DIR/changed" "$LBP_DIR/verified"
  echo "$LBP_GEN" > "$LBP_DIR/pending"
  if command -v setsid >/dev/null 2>&1; then
    setsid /bin/sh "$LBP_DIR/engine.sh" rollback-timer </dev/null >>"$LBP_DIR/rollback.log" 2>&1 9>&- &
  else
    nohup /bin/sh "$LBP_DIR/engine.sh" rollback-timer </dev/null >>"$LBP_DIR/rollback.log" 2>&1 9>&- &
  fi
  # The timer writes its pid once it runs in its own session: until then a signal to this session (a cut
  # SSH connection) would take it down too, so nothing is changed before it is there.
  lbp_i=0
  while [ ! -s "$LBP_DIR/timer.pid" ]; do
    lbp_i=$((lbp_i + 1))
    if [ "$lbp_i" -gt 200 ]; then
      kill $! 2>/dev/null || :
      rm -f "$LBP_DIR/pending"
      lbp_die "the rollback timer did not start within 10s (see $LBP_DIR/rollback.log); nothing was changed"
    fi
    sleep 0.05 2>/dev/null || sleep 1
  done
}

# Is the timer that guards the pending change still running? (A pending change whose timer is gone would never be
# rolled back: lbp_apply undoes it first.)
lbp_timer_alive() {
  [ -s "$LBP_DIR/timer.pid" ] || return 1
  lbp_pid=$(cat "$LBP_DIR/timer.pid")
  kill -0 "$lbp_pid" 2>/dev/null || return 1
  [ -d /proc/self ] || return 0
  # A killed timer that nobody reaped yet is a zombie (kill -0 still succeeds on it), and a pid can be reused:
  # alive means running, and running this engine's rollback-timer.
  [ "$(sed 's/.*) //' "/proc/$lbp_pid/stat" 2>/dev/null | cut -d ' ' -f 1)" != Z ] &&
    tr '\000' ' ' < "/proc/$lbp_pid/cmdline" 2>/dev/null | grep -q -- ' rollback-timer'
}

# The timer: rolls back unless confirmed within rollbackSeconds of the verified change (or of arming, when the
# run never got to verify: a cut session). It never gives up: a failed restore (xtables lock held) is retried.
lbp_rollback_timer() {
  echo "$$" > "$LBP_DIR/timer.pid"
  lbp_armed_at=$(date +%s)
  lbp_sleep=""
  trap 'kill "${lbp_sleep:-}" 2>/dev/null; exit 0' TERM
  lbp_wait=$LBP_ROLLBACK_SECONDS
  lbp_tries=0
  while :; do
    sleep "$lbp_wait" &
    lbp_sleep=$!
    wait "$lbp_sleep"
    lbp_lock
    if [ ! -f "$LBP_DIR/pending" ] || [ "$(cat "$LBP_DIR/pending")" != "$LBP_GEN" ]; then
      exit 0
    fi
    lbp_base=$lbp_armed_at
    [ ! -s "$LBP_DIR/verified" ] || lbp_base=$(cat "$LBP_DIR/verified")
    lbp_left=$((lbp_base + LBP_ROLLBACK_SECONDS - $(date +%s)))
    if [ "$lbp_left" -gt 0 ]; then
      exec 9>&-
      lbp_wait=$lbp_left
      continue
    fi
    if lbp_restore_snapshots; then
      break
    fi
    lbp_tries=$((lbp_tries + 1))
    lbp_say "rollback of generation $LBP_GEN failed (attempt $lbp_tries); retrying in 5s"
    exec 9>&-
    lbp_wait=5
  done
  lbp_msg="rolled back at $(date -u '+%Y-%m-%dT%H:%M:%SZ'): no new SSH connection confirmed generation $LBP_GEN within ${LBP_ROLLBACK_SECONDS}s"
  echo "$lbp_msg" > "$LBP_DIR/rolledback.$LBP_GEN"
  rm -f "$LBP_DIR/timer.pid" "$LBP_DIR/absorbed.ipv4" "$LBP_DIR/absorbed.ipv6"
  lbp_clear_pending
  command -v logger >/dev/null 2>&1 && logger -t loopback-policy "$lbp_msg"
  lbp_say "$lbp_msg"
}

# Confirm's first step, for every backend: fail if the host rolled back or another generation's change awaits
# confirmation, or the window passed (the timer, $1, owns the change then); otherwise disarm the guard.
lbp_disarm() {
  if [ -f "$LBP_DIR/rolledback.$LBP_GEN" ]; then
    lbp_msg=$(cat "$LBP_DIR/rolledback.$LBP_GEN")
    rm -f "$LBP_DIR/rolledback.$LBP_GEN"
    lbp_die "the change was rolled back on the host ($lbp_msg). The policy probably cuts SSH, or connecting again took longer than rollbackSeconds (${LBP_ROLLBACK_SECONDS}s). Nothing was persisted"
  fi
  if [ -f "$LBP_DIR/pending" ]; then
    [ "$(cat "$LBP_DIR/pending")" = "$LBP_GEN" ] || lbp_die "a change of another generation ($(cat "$LBP_DIR/pending")) is awaiting confirmation: another deploy is running against this host"
    # Too late is too late: past the window the timer owns the change (it may be retrying a restore).
    if [ -s "$LBP_DIR/verified" ] && [ $(($(cat "$LBP_DIR/verified") + LBP_ROLLBACK_SECONDS)) -lt "$(date +%s)" ]; then
      lbp_die "the rollback window (${LBP_ROLLBACK_SECONDS}s) passed before this connection confirmed; the rollback timer is $1 (see $LBP_DIR/rollback.log). Nothing was persisted: deploy again"
    fi
    lbp_clear_pending
    lbp_say "confirmed over a new SSH connection; rollback disarmed"
  fi
}

lbp_confirm() {
  lbp_lock
  lbp_preflight "$(lbp_policy_families)"
  lbp_disarm "restoring the previous rules"
  lbp_pick_families
  for lbp_fam in $lbp_families; do
    lbp_plan "$lbp_fam"
    [ ! -s "$lbp_work/$lbp_fam.restore" ] ||
      lbp_die "$lbp_fam: the managed rules are not in place any more ($(lbp_summary "$lbp_work/$lbp_fam.report") would be needed); nothing was persisted: deploy again"
  done
  lbp_record_absorbed
  lbp_persist
}

lbp_remove() {
  lbp_lock
  if [ -f "$LBP_DIR/owner.$LBP_GEN" ] && [ -n "$LBP_INSTANCE" ] && [ "$(cat "$LBP_DIR/owner.$LBP_GEN")" != "$LBP_INSTANCE" ]; then
    lbp_say "left in place: the rules of generation $LBP_GEN now belong to instance $(cat "$LBP_DIR/owner.$LBP_GEN"), which replaced this one ($LBP_INSTANCE)"
    return 0
  fi
  # otherFirewall: manage: a backend (engine-<name>.sh) removes what it wrote in its firewall's terms, also when
  # its firewall is no longer the one in charge.
  if [ "$LBP_OTHER_FIREWALL" = manage ]; then
    lbp_other_firewall
    if [ -n "$lbp_manager" ] && command -v "lbp_${lbp_manager}_run" >/dev/null 2>&1; then
      "lbp_${lbp_manager}_run"
      return 0
    fi
    # ufw disabled since: our rules are still in its files.
    if [ -z "$lbp_manager" ] && command -v lbp_ufw_holds_ours >/dev/null 2>&1 && lbp_ufw_holds_ours; then
      lbp_ufw_run
      return 0
    fi
    # Items of this generation in firewalld's record (firewalld stopped since: its remove says how to go on).
    if command -v lbp_firewalld_present >/dev/null 2>&1 && lbp_firewalld_present; then
      lbp_firewalld_run
      return 0
    fi
    # Our nftables table or persisted file still there.
    if command -v lbp_nftables_present >/dev/null 2>&1 && lbp_nftables_present; then
      lbp_nftables_run
      return 0
    fi
  fi
  # Every family whose tools work: rules added while IPv6 was on stay in ip6tables when it is later disabled.
  lbp_families=ipv4
  if command -v ip6tables >/dev/null 2>&1 && ip6tables -w "$LBP_LOCK_WAIT" -n -L INPUT >/dev/null 2>&1; then
    lbp_families="ipv4 ipv6"
  fi
  # Removing is never skipped for another firewall: what we added is ours to take away. A save we cannot trust is.
  lbp_other_firewall
  [ "$lbp_have_iptables" = 1 ] || lbp_die "iptables is not installed; nothing was removed"
  lbp_trust_saves "$lbp_families" || lbp_die "$lbp_why; nothing was removed. Fix: manage those rules with nft only (outside iptables' tables), or remove them, then destroy again"
  rm -f "$LBP_DIR/owner.$LBP_GEN"
  if [ -f "$LBP_DIR/pending" ] && [ "$(cat "$LBP_DIR/pending")" = "$LBP_GEN" ]; then
    lbp_clear_pending
  fi
  lbp_changed=0
  for lbp_fam in $lbp_families; do
    lbp_t=$(lbp_tool "$lbp_fam")
    lbp_save "$lbp_fam" "$lbp_work/$lbp_fam.current" || lbp_die "$lbp_fam: $lbp_why; nothing was removed"
    # Ours: the rules of this generation's tags that have the shape we write (lbp_diff with nothing desired).
    : > "$lbp_work/$lbp_fam.none"
    lbp_diff "$lbp_work/$lbp_fam.none" "$lbp_work/$lbp_fam.current" "$lbp_work/$lbp_fam.all" \
      "$lbp_work/$lbp_fam.allreport" "$lbp_work/$lbp_fam.lookalike" "$lbp_work/$lbp_fam.untagged"
    lbp_report_lookalikes "$lbp_fam"
    # By the comment only: nothing else in a rule of ours may decide which generation it belongs to.
    grep -F -- "--comment \"lbp:$LBP_GEN:" "$lbp_work/$lbp_fam.all" > "$lbp_work/$lbp_fam.restore" || :
    lbp_n=$(wc -l < "$lbp_work/$lbp_fam.restore" | tr -d ' ')
    # When no managed rule of any generation stays, put back what the first run replaced.
    lbp_back=0
    if [ -f "$LBP_RECORD/absorbed.$lbp_fam" ] && [ "$(grep -c -F -- '"lbp:' "$lbp_work/$lbp_fam.all")" = "$lbp_n" ]; then
      lbp_secure_dir "$LBP_RECORD" record
      while IFS="$lbp_tab" read -r lbp_rc lbp_rp lbp_rl; do
        grep -q -x -F -- "$lbp_rl" "$lbp_work/$lbp_fam.current" && continue
        # At its place among the rules that stay, or at the end of the chain when it has become shorter.
        lbp_len=$(( $(grep -c -- "^-A $lbp_rc " "$lbp_work/$lbp_fam.current") - $(grep -c -- "^-D $lbp_rc " "$lbp_work/$lbp_fam.restore") + $(grep -c -- "^-I $lbp_rc " "$lbp_work/$lbp_fam.restore") ))
        [ "$lbp_rp" -le $((lbp_len + 1)) ] || lbp_rp=$((lbp_len + 1))
        echo "-I $lbp_rc $lbp_rp ${lbp_rl#"-A $lbp_rc "}" >> "$lbp_work/$lbp_fam.restore"
        lbp_back=$((lbp_back + 1))
      done < "$LBP_RECORD/absorbed.$lbp_fam"
      lbp_drop_record=1
    else
      lbp_drop_record=0
    fi
    if [ "$lbp_n" = 0 ] && [ "$lbp_back" = 0 ]; then
      lbp_say "$lbp_fam: no managed rules of generation $LBP_GEN to remove"
    else
      { echo '*filter' && cat "$lbp_work/$lbp_fam.restore" && echo COMMIT; } > "$lbp_work/$lbp_fam.in" ||
        lbp_die "$lbp_fam: cannot write the removal to $lbp_work (no space left in $LBP_DIR?); nothing was removed"
      lbp_err=$("$lbp_t-restore" -w "$LBP_LOCK_WAIT" --noflush < "$lbp_work/$lbp_fam.in" 2>&1) ||
        lbp_die "$lbp_fam: $lbp_t-restore refused the removal, nothing was removed: $lbp_err"
      lbp_changed=1
      lbp_say "$lbp_fam: removed $lbp_n managed rules of generation $LBP_GEN"
      [ "$lbp_back" = 0 ] || lbp_say "$lbp_fam: put back $lbp_back rules the first run had replaced (from $LBP_RECORD/absorbed.$lbp_fam)"
    fi
    [ "$lbp_drop_record" = 0 ] || rm -f "$LBP_RECORD/absorbed.$lbp_fam"
  done
  lbp_persist
}

lbp_check() {
  lbp_preflight "$(lbp_policy_families)"
  lbp_pick_families
  lbp_persist_target
  lbp_drift=0
  for lbp_fam in $lbp_families; do
    lbp_plan "$lbp_fam"
    lbp_report_lookalikes "$lbp_fam"
    if [ -s "$lbp_work/$lbp_fam.restore" ]; then
      lbp_drift=1
      lbp_say "$lbp_fam: drifted: converging would do: $(lbp_summary "$lbp_work/$lbp_fam.report")"
      continue
    fi
    if [ "$lbp_pmethod" != none ]; then
      if [ "$lbp_fam" = ipv4 ]; then lbp_path=$lbp_p4; else lbp_path=$lbp_p6; fi
      lbp_missing=$(cut -f 3 "$lbp_work/$lbp_fam.desired" | while IFS= read -r lbp_dl; do
        grep -q -x -F -- "$lbp_dl" "$lbp_path" 2>/dev/null || { echo "$lbp_dl"; break; }
      done)
      if [ -n "$lbp_missing" ]; then
        lbp_drift=1
        lbp_say "$lbp_fam: drifted: the live rules are in place but not persisted: $lbp_path lacks \"$lbp_missing\" (a reboot would lose them); deploy again"
        continue
      fi
    fi
    lbp_say "$lbp_fam: compliant"
  done
  if [ "$lbp_drift" = 1 ]; then
    lbp_say "result: drifted"
    exit 3
  fi
  lbp_say "result: compliant"
}

case "$LBP_MODE" in
  apply) lbp_apply ;;
  confirm) lbp_confirm ;;
  remove) lbp_remove ;;
  check) lbp_check ;;
  rollback-timer) lbp_rollback_timer ;;
  *) lbp_die "unknown mode $LBP_MODE" ;;
esac
