# ---- loopback-policy engine: the same text for every host and policy ----
# The lines above set the host facts (LBP_MODE, LBP_HOST, LBP_GEN, LBP_SUDO, LBP_INSTANCE) and the policy
# (LBP_* settings and lbp_rules). Modes:
#   apply    snapshot, converge the managed rules in one iptables-restore per family, verify
#            loopback with a real connection and rising counters, arm the rollback guard
#   confirm  (a new SSH connection) disarm the guard, re-check the rules, persist
#   remove   delete this generation's managed rules and persist (terraform destroy)
#   check    dry run: report drift, change nothing (exit 3 on drift)
set -u
umask 027
PATH="${PATH:-/usr/bin:/bin}:/usr/local/sbin:/usr/sbin:/sbin"
export PATH
LC_ALL=C
export LC_ALL

lbp_say() { printf 'loopback-policy[%s] %s\n' "$LBP_HOST" "$*"; }
lbp_die() {
  printf 'loopback-policy[%s] FAILED: %s\n' "$LBP_HOST" "$*" >&2
  exit 1
}

case "${1:-}" in
  rollback-timer) LBP_MODE=rollback-timer ;;
esac

# ---- root, or sudo ----
if [ "$(id -u)" != 0 ]; then
  [ "$LBP_SUDO" = 1 ] || lbp_die "connected as $(id -un), which is not root, and sudo is off: connect as root or set sudo: true"
  [ "${1:-}" != escalated ] || lbp_die "sudo did not make this script root"
  command -v sudo >/dev/null 2>&1 || lbp_die "connected as $(id -un), which is not root, and sudo is not installed: install sudo or connect as root"
  sudo -n true 2>/dev/null || lbp_die "sudo asks $(id -un) for a password: allow passwordless sudo (NOPASSWD) for this user or connect as root"
  exec sudo -n /bin/sh "$0" escalated
fi

# State of this host's runs (lock, pending rollback): on tmpfs, so nothing pending survives a reboot.
LBP_DIR=${LBP_STATE_DIR:-/run/loopback-policy}
mkdir -p "$LBP_DIR" || lbp_die "cannot create $LBP_DIR"
lbp_work=$(mktemp -d "$LBP_DIR/work.XXXXXX") || lbp_die "cannot create a work directory in $LBP_DIR"
trap 'rm -rf "$lbp_work"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

command -v iptables >/dev/null 2>&1 || lbp_die "iptables is not installed (Debian/Ubuntu: apt-get install iptables; RHEL/Fedora: dnf install iptables-nft)"

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

# ---- know the host: who else manages the firewall ----
lbp_other_firewall() {
  # ufw is active exactly when its chains are loaded: the test `ufw status` makes, without its ~50 ms of Python.
  lbp_ufw=1
  if command -v ufw >/dev/null 2>&1; then
    lbp_ufw_err=$(iptables -w "$LBP_LOCK_WAIT" -n -L ufw-user-input 2>&1 >/dev/null) && lbp_ufw=0 || lbp_ufw=$?
  fi
  if [ "$lbp_ufw" -ne 0 ] && [ "$lbp_ufw" -ne 1 ]; then
    lbp_die "cannot tell whether ufw is active: iptables -L ufw-user-input exited $lbp_ufw ($lbp_ufw_err); nothing was changed"
  elif [ "$lbp_ufw" -eq 0 ]; then
    echo "ufw is active (ufw status)"
  elif command -v firewall-cmd >/dev/null 2>&1 && [ "$(firewall-cmd --state 2>/dev/null)" = running ]; then
    echo "firewalld is running (firewall-cmd --state)"
  elif command -v nft >/dev/null 2>&1; then
    lbp_nft=$(nft list tables 2>/dev/null | grep -Ev '^table (ip|ip6|arp|bridge) (filter|nat|mangle|raw|security|broute)$' | head -n 1)
    case "$lbp_nft" in
      "") ;;
      *firewalld*) echo "firewalld's nftables ruleset is loaded ($lbp_nft)" ;;
      *) echo "a native nftables ruleset is loaded ($lbp_nft)" ;;
    esac
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

# The filter table of a family, as iptables-save prints it, without counters.
lbp_save() {
  "$(lbp_tool "$1")-save" -t filter | sed -e 's/^\[[0-9]*:[0-9]*\] //' -e 's/ \[[0-9]*:[0-9]*\]$//'
}

# Compare the desired rules with a saved table. Writes the iptables-restore commands that converge
# the chains to $3 (empty when converged) and what they do to $4 (action <TAB> chain <TAB> what).
# Managed rules: every rule tagged lbp:*, plus untagged exact copies of the lo rules (seed 000:
# move, never duplicate). Rules of others are never named, so never touched.
lbp_diff() {
  awk -v restore="$3" -v report="$4" '
    BEGIN { FS = "\t"; printf "" > restore; printf "" > report }
    FNR == NR { c = $1; nw[c]++; want[c, nw[c]] = $2; spec[$2] = $3; wanted[$2] = c; next }
    {
      split($0, w, " ")
      if (w[1] != "-A" || (w[2] != "INPUT" && w[2] != "OUTPUT")) next
      c = w[2]; n = ++nc[c]; line[c, n] = $0; tag[c, n] = ""
      if (match($0, /--comment "?lbp:[^" ]*/)) {
        t = substr($0, RSTART, RLENGTH); sub(/^--comment "?/, "", t); tag[c, n] = t
      } else if ($0 == "-A INPUT -i lo -j ACCEPT" || $0 == "-A OUTPUT -o lo -j ACCEPT") {
        tag[c, n] = "untagged"
      }
      if (tag[c, n] != "") count[c, tag[c, n]]++
    }
    END {
      for (k = 1; k <= 2; k++) {
        c = (k == 1) ? "INPUT" : "OUTPUT"
        p = 0
        while (p < nw[c] && p < nc[c] && tag[c, p + 1] == want[c, p + 1] && count[c, want[c, p + 1]] == 1) p++
        for (i = p + 1; i <= nc[c]; i++) {
          t = tag[c, i]
          if (t == "") continue
          d = line[c, i]; sub(/^-A /, "-D ", d); print d > restore
          if (t == "untagged") print "replaced\t" c "\tuntagged \"" line[c, i] "\"" > report
          else if (wanted[t] == c) moved[t] = 1
          else print "removed\t" c "\t" t > report
        }
        for (j = p + 1; j <= nw[c]; j++) {
          t = want[c, j]; s = spec[t]; sub(/^-A [A-Z]+ /, "", s)
          print "-I " c " " j " " s > restore
          print ((t in moved) ? "moved" : "added") "\t" c "\t" t > report
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

# What converging one family would do: $lbp_work/<family>.restore (empty when converged) and .report.
lbp_plan() {
  lbp_fam=$1
  lbp_rules > "$lbp_work/$lbp_fam.desired"
  lbp_save "$lbp_fam" > "$lbp_work/$lbp_fam.current" || lbp_die "$lbp_fam: $(lbp_tool "$lbp_fam")-save failed"
  lbp_diff "$lbp_work/$lbp_fam.desired" "$lbp_work/$lbp_fam.current" "$lbp_work/$lbp_fam.restore" "$lbp_work/$lbp_fam.report"
}

# Converge one family. Sets lbp_changed=1 when it changed anything.
lbp_converge() {
  lbp_fam=$1
  lbp_t=$(lbp_tool "$lbp_fam")
  lbp_try=1
  while :; do
    lbp_plan "$lbp_fam"
    if [ ! -s "$lbp_work/$lbp_fam.restore" ]; then
      [ "$lbp_try" -gt 1 ] || lbp_say "$lbp_fam: unchanged ($(wc -l < "$lbp_work/$lbp_fam.desired" | tr -d ' ') managed rules in place, in order)"
      return 0
    fi
    [ "$lbp_try" -le 3 ] || lbp_die "$lbp_fam: the ruleset kept changing underneath (3 attempts): another tool is rewriting INPUT/OUTPUT"
    [ "$lbp_try" -eq 1 ] || lbp_say "$lbp_fam: the ruleset changed while applying; converging again"
    lbp_say "$lbp_fam: $(lbp_summary "$lbp_work/$lbp_fam.report")"
    { echo '*filter'; cat "$lbp_work/$lbp_fam.restore"; echo COMMIT; } > "$lbp_work/$lbp_fam.in"
    # The guard's snapshot is only worth restoring once something was changed (see lbp_apply).
    [ ! -f "$LBP_DIR/pending" ] || : > "$LBP_DIR/changed"
    if ! lbp_err=$("$lbp_t-restore" -w "$LBP_LOCK_WAIT" --noflush < "$lbp_work/$lbp_fam.in" 2>&1); then
      case "$lbp_err" in
        *xtables\ lock*) lbp_die "$lbp_fam: another program held the xtables lock for more than ${LBP_LOCK_WAIT}s (lockWaitSeconds); nothing was applied: $lbp_err" ;;
      esac
      lbp_die "$lbp_fam: $lbp_t-restore refused the change, nothing of it was applied: $lbp_err"
    fi
    lbp_changed=1
    lbp_try=$((lbp_try + 1))
  done
}

# Packet counters of this generation's lo-in and lo-out rules, "in out" (-1 for a rule that is missing).
lbp_counters() {
  "$(lbp_tool "$1")-save" -c -t filter | awk -v i="lbp:$LBP_GEN:lo-in" -v o="lbp:$LBP_GEN:lo-out" '
    function count(line) { sub(/^\[/, "", line); split(line, c, ":"); return c[1] }
    index($0, "--comment \"" i "\"") || index($0, "--comment " i " ") { cin = count($1) }
    index($0, "--comment \"" o "\"") || index($0, "--comment " o " ") { cout = count($1) }
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
  for lbp_f in ipv4 ipv6; do
    [ -f "$LBP_DIR/snapshot.$lbp_f" ] || continue
    "$(lbp_tool "$lbp_f")-restore" -w "$LBP_LOCK_WAIT" -c < "$LBP_DIR/snapshot.$lbp_f" || return 1
  done
}

lbp_clear_pending() {
  if lbp_timer_alive; then
    kill "$(cat "$LBP_DIR/timer.pid")" 2>/dev/null || :
  fi
  rm -f "$LBP_DIR/pending" "$LBP_DIR/changed" "$LBP_DIR/timer.pid" "$LBP_DIR/snapshot.ipv4" "$LBP_DIR/snapshot.ipv6" "$LBP_DIR/engine.sh"
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
    lbp_t=$(lbp_tool "$lbp_fam")
    mkdir -p "$(dirname "$lbp_path")" || lbp_die "persistence: cannot create $(dirname "$lbp_path"); the verified rules are live but not saved"
    "$lbp_t-save" > "$lbp_work/persist" || lbp_die "persistence: $lbp_t-save failed"
    if [ -f "$lbp_path" ] && lbp_same_rules "$lbp_work/persist" "$lbp_path"; then
      lbp_say "$lbp_fam: persisted ($lbp_pmethod): $lbp_path already matches the live rules"
      continue
    fi
    lbp_tmp="$lbp_path.lbp-new"
    if ! { cat "$lbp_work/persist" > "$lbp_tmp" && mv -f "$lbp_tmp" "$lbp_path"; } 2>"$lbp_work/persist.err"; then
      rm -f "$lbp_tmp"
      lbp_die "persistence: cannot write $lbp_path ($(tail -n 1 "$lbp_work/persist.err")); the verified rules are live but not saved"
    fi
    lbp_say "$lbp_fam: persisted ($lbp_pmethod): wrote $lbp_path"
  done
}

# Same rules, ignoring comments (timestamps) and counters.
lbp_same_rules() {
  lbp_norm "$1" > "$lbp_work/norm.a"
  lbp_norm "$2" > "$lbp_work/norm.b"
  cmp -s "$lbp_work/norm.a" "$lbp_work/norm.b"
}

lbp_norm() {
  sed -e '/^#/d' -e 's/^\[[0-9]*:[0-9]*\] //' -e 's/ \[[0-9]*:[0-9]*\]$//' "$1"
}

lbp_backend() {
  iptables -V 2>/dev/null | head -n 1
}

# ---- modes ----
lbp_preflight() {
  lbp_other=$(lbp_other_firewall)
  if [ -n "$lbp_other" ]; then
    case "$LBP_OTHER_FIREWALL" in
      fail) lbp_die "$lbp_other and manages this firewall; loopback-policy changes nothing here. Configure loopback in that tool, or set otherFirewall: \"skip\" (leave the host alone) or \"ignore\" (apply anyway)" ;;
      skip)
        lbp_say "skipped: $lbp_other (otherFirewall: skip); nothing was changed"
        exit 0
        ;;
      ignore) lbp_say "warning: $lbp_other; applying anyway (otherFirewall: ignore)" ;;
    esac
  fi
}

lbp_apply() {
  lbp_lock
  lbp_preflight
  lbp_say "host: $(lbp_backend); policy $LBP_POLICY; generation $LBP_GEN"
  if [ -f "$LBP_DIR/pending" ] && { [ "$(cat "$LBP_DIR/pending")" != "$LBP_GEN" ] || ! lbp_timer_alive; }; then
    if [ -f "$LBP_DIR/changed" ]; then
      lbp_say "an unconfirmed change of generation $(cat "$LBP_DIR/pending") is pending; rolling it back first"
      lbp_restore_snapshots || lbp_die "could not roll back the unconfirmed change"
    else
      lbp_say "a run of generation $(cat "$LBP_DIR/pending") stopped before changing anything; clearing its guard"
    fi
    lbp_clear_pending
  fi
  rm -f "$LBP_DIR/rolledback.$LBP_GEN"
  # The instance that applies a generation owns its rules, until another instance applies it (a replacement).
  [ -z "$LBP_INSTANCE" ] || echo "$LBP_INSTANCE" > "$LBP_DIR/owner.$LBP_GEN"
  lbp_pick_families
  for lbp_fam in $lbp_families; do
    "$(lbp_tool "$lbp_fam")-save" -c -t filter > "$lbp_work/snapshot.$lbp_fam" || lbp_die "$lbp_fam: cannot snapshot the current rules"
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
      if [ "$lbp_changed" = 1 ]; then
        for lbp_f in $lbp_families; do
          "$(lbp_tool "$lbp_f")-restore" -w "$LBP_LOCK_WAIT" -c < "$lbp_work/snapshot.$lbp_f" ||
            lbp_die "$lbp_fam: verification failed ($lbp_why) AND restoring the previous rules failed: check the host by hand"
        done
        [ "$lbp_armed" = 0 ] || lbp_clear_pending
        lbp_die "$lbp_fam: verification failed: $lbp_why. The previous rules were restored; nothing was persisted"
      fi
      lbp_die "$lbp_fam: verification failed: $lbp_why. Nothing was changed or persisted"
    fi
  done
  if [ "$lbp_changed" = 0 ]; then
    [ "$lbp_armed" = 0 ] || lbp_clear_pending
    lbp_say "result: unchanged"
  elif [ -f "$LBP_DIR/pending" ]; then
    lbp_say "result: changed; rollback armed: the previous rules come back ${LBP_ROLLBACK_SECONDS}s after the change unless a new SSH connection confirms"
  else
    lbp_say "result: changed (rollback guard off)"
  fi
}

# Keep the snapshot and a copy of this script in the state directory, and start the timer that restores
# the snapshot unless `confirm` (a new SSH connection) removes the pending mark first.
lbp_arm_rollback() {
  for lbp_f in $lbp_families; do
    cp "$lbp_work/snapshot.$lbp_f" "$LBP_DIR/snapshot.$lbp_f" || lbp_die "cannot keep the rollback snapshot in $LBP_DIR"
  done
  cp "$0" "$LBP_DIR/engine.sh" || lbp_die "cannot keep the rollback script in $LBP_DIR"
  rm -f "$LBP_DIR/timer.pid" "$LBP_DIR/changed"
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

lbp_rollback_timer() {
  echo "$$" > "$LBP_DIR/timer.pid"
  sleep "$LBP_ROLLBACK_SECONDS" &
  wait $!
  lbp_lock
  if [ ! -f "$LBP_DIR/pending" ] || [ "$(cat "$LBP_DIR/pending")" != "$LBP_GEN" ]; then
    exit 0
  fi
  if lbp_restore_snapshots; then
    lbp_msg="rolled back at $(date -u '+%Y-%m-%dT%H:%M:%SZ'): no new SSH connection confirmed generation $LBP_GEN within ${LBP_ROLLBACK_SECONDS}s"
  else
    lbp_msg="rollback FAILED at $(date -u '+%Y-%m-%dT%H:%M:%SZ') for generation $LBP_GEN: restore the rules by hand"
  fi
  echo "$lbp_msg" > "$LBP_DIR/rolledback.$LBP_GEN"
  rm -f "$LBP_DIR/timer.pid"
  lbp_clear_pending
  command -v logger >/dev/null 2>&1 && logger -t loopback-policy "$lbp_msg"
  lbp_say "$lbp_msg"
}

lbp_confirm() {
  lbp_lock
  lbp_preflight
  if [ -f "$LBP_DIR/rolledback.$LBP_GEN" ]; then
    lbp_msg=$(cat "$LBP_DIR/rolledback.$LBP_GEN")
    rm -f "$LBP_DIR/rolledback.$LBP_GEN"
    lbp_die "the change was rolled back on the host ($lbp_msg). The policy probably cuts SSH, or connecting again took longer than rollbackSeconds (${LBP_ROLLBACK_SECONDS}s). The previous rules are live; nothing was persisted"
  fi
  if [ -f "$LBP_DIR/pending" ]; then
    [ "$(cat "$LBP_DIR/pending")" = "$LBP_GEN" ] || lbp_die "a change of another generation ($(cat "$LBP_DIR/pending")) is awaiting confirmation: another deploy is running against this host"
    lbp_clear_pending
    lbp_say "confirmed over a new SSH connection; rollback disarmed"
  fi
  lbp_pick_families
  for lbp_fam in $lbp_families; do
    lbp_plan "$lbp_fam"
    [ ! -s "$lbp_work/$lbp_fam.restore" ] ||
      lbp_die "$lbp_fam: the managed rules are not in place any more ($(lbp_summary "$lbp_work/$lbp_fam.report") would be needed); nothing was persisted: deploy again"
  done
  lbp_persist
}

lbp_remove() {
  lbp_lock
  if [ -f "$LBP_DIR/owner.$LBP_GEN" ] && [ -n "$LBP_INSTANCE" ] && [ "$(cat "$LBP_DIR/owner.$LBP_GEN")" != "$LBP_INSTANCE" ]; then
    lbp_say "left in place: the rules of generation $LBP_GEN now belong to instance $(cat "$LBP_DIR/owner.$LBP_GEN"), which replaced this one ($LBP_INSTANCE)"
    return 0
  fi
  rm -f "$LBP_DIR/owner.$LBP_GEN"
  if [ -f "$LBP_DIR/pending" ] && [ "$(cat "$LBP_DIR/pending")" = "$LBP_GEN" ]; then
    lbp_clear_pending
  fi
  lbp_families=ipv4
  if [ "$LBP_IPV6" != off ] && [ -z "$(lbp_ipv6_unavailable)" ]; then
    lbp_families="ipv4 ipv6"
  fi
  for lbp_fam in $lbp_families; do
    lbp_t=$(lbp_tool "$lbp_fam")
    lbp_save "$lbp_fam" | grep -F -- "lbp:$LBP_GEN:" | sed 's/^-A /-D /' > "$lbp_work/$lbp_fam.restore"
    lbp_n=$(wc -l < "$lbp_work/$lbp_fam.restore" | tr -d ' ')
    if [ "$lbp_n" = 0 ]; then
      lbp_say "$lbp_fam: no managed rules of generation $LBP_GEN to remove"
      continue
    fi
    { echo '*filter'; cat "$lbp_work/$lbp_fam.restore"; echo COMMIT; } > "$lbp_work/$lbp_fam.in"
    lbp_err=$("$lbp_t-restore" -w "$LBP_LOCK_WAIT" --noflush < "$lbp_work/$lbp_fam.in" 2>&1) ||
      lbp_die "$lbp_fam: $lbp_t-restore refused the removal, nothing was removed: $lbp_err"
    lbp_say "$lbp_fam: removed $lbp_n managed rules of generation $LBP_GEN"
  done
  lbp_persist
}

lbp_check() {
  lbp_preflight
  lbp_pick_families
  lbp_drift=0
  for lbp_fam in $lbp_families; do
    lbp_plan "$lbp_fam"
    if [ -s "$lbp_work/$lbp_fam.restore" ]; then
      lbp_drift=1
      lbp_say "$lbp_fam: drifted: converging would do: $(lbp_summary "$lbp_work/$lbp_fam.report")"
    else
      lbp_say "$lbp_fam: compliant"
    fi
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
