# ---- backend: ufw in charge (otherFirewall: manage) ----
# The policy becomes ufw rules (lbp_ufw_rules, rendered from lib/plan/ufw.ts) at the top of ufw's user rules, each
# tagged by its ufw comment lbp:<generation>:<id>. Changes are made the way ufw itself stores and loads them, but
# atomically: the new user.rules/user6.rules text is computed from ufw's files, loaded into the kernel with one
# `iptables-restore -n` per family (which swaps ufw's user chains in one commit, what `ufw reload` ends in, without
# its teardown), verified, and only at confirm written to ufw's files (a temporary file renamed over the original),
# so a cut session, a failed verification or the rollback timer only has to load ufw's unchanged files again.
# ufw's own lock (/run/ufw.lock) is held while the files are read, loaded and written: no ufw command interleaves.
lbp_ufw_etc=/etc/ufw
lbp_ufw_defaults=/etc/default/ufw

lbp_ufw_file() {
  case "$1" in
    ipv4) echo "$lbp_ufw_etc/user.rules" ;;
    ipv6) echo "$lbp_ufw_etc/user6.rules" ;;
  esac
}

# Called by lbp_ufw_rules: family id tuple file-lines... -- live-lines...
lbp_ufw_rule() {
  [ "$1" = "$lbp_ufw_fam" ] || return 0
  lbp_ufw_id=$2
  lbp_ufw_hex=$(printf '%s' "lbp:$LBP_GEN:$lbp_ufw_id" | od -An -v -tx1 | tr -d ' \n')
  printf 'B\t%s\t### tuple ### %s comment=%s\n' "$lbp_ufw_id" "$3" "$lbp_ufw_hex"
  shift 3
  lbp_ufw_k=L
  for lbp_ufw_l in "$@"; do
    if [ "$lbp_ufw_l" = -- ]; then lbp_ufw_k=V; continue; fi
    printf '%s\t%s\n' "$lbp_ufw_k" "$lbp_ufw_l"
  done
}

# The desired blocks of family $1 in file $2.
lbp_ufw_desired() {
  lbp_ufw_fam=$1
  lbp_ufw_rules > "$2"
}

# Refuse (changing nothing) unless ufw, its files and its state can be trusted. $1: the mode's verb for messages.
lbp_ufw_trust() {
  command -v ufw >/dev/null 2>&1 || lbp_die "ufw's chains are loaded but the ufw command is not installed; nothing was $1. Fix: install ufw, or set otherFirewall: \"skip\""
  for lbp_ufw_p in "$lbp_ufw_etc" "$lbp_ufw_etc/user.rules" "$lbp_ufw_etc/user6.rules" "$lbp_ufw_etc/ufw.conf" \
    "$lbp_ufw_etc/before.rules" "$lbp_ufw_etc/before6.rules" "$lbp_ufw_defaults"; do
    lbp_ufw_bad=$(lbp_path_unsafe "$lbp_ufw_p")
    [ -n "$lbp_ufw_bad" ] || lbp_ufw_bad=$(lbp_ancestors_unsafe "$lbp_ufw_p" 0)
    [ -z "$lbp_ufw_bad" ] || lbp_die "ufw's configuration is not root's alone: $lbp_ufw_bad, so another user could change what root loads; nothing was $1. Fix: chown root:root $lbp_ufw_p && chmod go-w $lbp_ufw_p"
  done
  [ -f "$lbp_ufw_etc/user.rules" ] || lbp_die "ufw is active but $lbp_ufw_etc/user.rules is missing; nothing was $1. Fix: ufw reload (or ufw reset), then run again"
  if [ "$lbp_manager" = ufw ] && ! grep -q '^ENABLED=yes' "$lbp_ufw_etc/ufw.conf" 2>/dev/null; then
    lbp_die "ufw's chains are loaded but ufw is not enabled ($lbp_ufw_etc/ufw.conf has no ENABLED=yes): the running firewall is not what ufw would load at boot; nothing was $1. Fix: ufw enable (or ufw disable), then run again"
  fi
  lbp_ufw_out=$(timeout "$LBP_LOCK_WAIT" ufw status 2>&1)
  case $? in
    0) ;;
    124) lbp_die "ufw status did not answer within ${LBP_LOCK_WAIT}s (lockWaitSeconds): another ufw command holds its lock /run/ufw.lock; nothing was $1. Fix: wait for it to finish and run again" ;;
    *) lbp_die "ufw status failed ($(printf '%s' "$lbp_ufw_out" | tail -n 1)); nothing was $1. Fix: repair ufw (ufw status must work), then run again" ;;
  esac
}

# Hold ufw's own lock (fcntl, as ufw takes it) until lbp_ufw_unlock or the end of this run.
lbp_ufw_lock() {
  lbp_ufw_py=$(lbp_python)
  [ -n "$lbp_ufw_py" ] || lbp_die "python3 is needed to take ufw's lock and is not installed; nothing was changed"
  rm -f "$lbp_work/ufw.locked"
  "$lbp_ufw_py" -I -S -c '
import fcntl, os, sys, time
f = open("/run/ufw.lock", "a")
end = time.time() + int(sys.argv[2])
while True:
    try:
        fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        break
    except OSError:
        if time.time() > end:
            sys.exit(75)
        time.sleep(0.1)
open(sys.argv[1], "w").close()
parent = os.getppid()
while os.getppid() == parent:
    time.sleep(0.2)
' "$lbp_work/ufw.locked" "$LBP_LOCK_WAIT" </dev/null 9>&- &
  lbp_ufw_lockpid=$!
  while [ ! -f "$lbp_work/ufw.locked" ]; do
    if ! kill -0 "$lbp_ufw_lockpid" 2>/dev/null; then
      lbp_ufw_lockpid=""
      lbp_die "another ufw command held ufw's lock /run/ufw.lock for more than ${LBP_LOCK_WAIT}s (lockWaitSeconds); nothing was changed. Fix: wait for it to finish and run again"
    fi
    sleep 0.05 2>/dev/null || sleep 1
  done
}
lbp_ufw_unlock() {
  [ -z "${lbp_ufw_lockpid:-}" ] || kill "$lbp_ufw_lockpid" 2>/dev/null || :
  lbp_ufw_lockpid=""
}

# Converge ufw file $2 of family $1 towards the desired blocks $3 ($7: apply, or remove this generation's): writes
# the new text to $4, what changes to $5 (action <TAB> id), lookalikes to $6. Ours: a block whose comment decodes to
# exactly lbp:<this generation>:<id> for an id of this policy, or (apply) lbp:<generation>:<id> of a generation
# recorded as ours (in $LBP_RECORD), which apply replaces. Every other block, a lookalike too, is kept as it is, in
# its order, below ours.
lbp_ufw_plan() {
  lbp_recorded_generations ufw.generations
  lbp_ufw_gens=$lbp_gens
  awk -v mode="$7" -v desired="$3" -v out="$4" -v report="$5" -v lookalike="$6" -v gen="$LBP_GEN" -v gens=" $lbp_ufw_gens " -v tab="$lbp_tab" '
    function unhex(h,   i, a, b, s) {
      s = ""
      for (i = 1; i < length(h); i += 2) {
        a = index("0123456789abcdef", substr(h, i, 1)) - 1; b = index("0123456789abcdef", substr(h, i + 1, 1)) - 1
        if (a < 0 || b < 0) return "?"
        s = s sprintf("%c", a * 16 + b)
      }
      return s
    }
    function close_block() { if (cur) { text[nb] = body; cur = 0 } }
    BEGIN {
      nd = 0
      while ((getline l < desired) > 0) {
        split(l, f, tab)
        if (f[1] == "B") { nd++; did[nd] = f[2]; dtext[nd] = f[3]; want[f[2]] = nd }
        else if (f[1] == "L") dtext[nd] = dtext[nd] "\n" substr(l, 3)
      }
      state = "head"; nb = 0; cur = 0; bad = ""
    }
    state == "head" { head = head $0 "\n"; if ($0 == "### RULES ###") state = "rules"; next }
    state == "rules" && $0 == "### END RULES ###" { close_block(); state = "tail" }
    state == "tail" { tail = tail $0 "\n"; next }
    state == "rules" {
      if ($0 ~ /^### tuple ### /) { close_block(); nb++; cur = 1; body = $0; next }
      if ($0 == "") next
      if (!cur) { bad = "a line outside a rule after ### RULES ###: " $0; exit }
      body = body "\n" $0
      next
    }
    END {
      if (bad == "" && state != "tail") bad = (state == "head" ? "no ### RULES ### line" : "no ### END RULES ### line")
      if (bad != "") { print "bad" tab bad > report; exit 1 }
      for (i = 1; i <= nb; i++) {
        first = text[i]; sub(/\n.*/, "", first)
        t = ""
        if (match(first, / comment=[0-9a-f]*$/)) t = unhex(substr(first, RSTART + 9))
        kind[i] = "foreign"
        if (tolower(t) ~ /lbp/) {
          id = t; sub(/^lbp:[0-9a-f]+:/, "", id)
          g = t; sub(/^lbp:/, "", g); sub(/:.*/, "", g)
          if (t !~ /^lbp:[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]:[a-z0-9-]+$/) {
            print first > lookalike
          } else if (g == gen && (id in want)) {
            if (mode == "apply" && text[i] == dtext[want[id]] && !(id in have)) { kind[i] = "ok"; have[id] = i }
            else kind[i] = "ours"
          } else if (mode == "apply" && g != gen && index(gens, " " g " ")) kind[i] = "stale"
          else if (mode == "remove" && g != gen && index(gens, " " g " ")) kind[i] = "foreign"
          else print first > lookalike
        }
      }
      n = 0
      if (mode == "apply") for (j = 1; j <= nd; j++) { n++; order[n] = dtext[j] }
      for (i = 1; i <= nb; i++) if (kind[i] == "foreign") { n++; order[n] = text[i] }
      printf "%s", head > out
      for (k = 1; k <= n; k++) printf "\n%s\n", order[k] > out
      printf "\n%s", tail > out
      # What changes, by id, in the order of the desired rules.
      for (j = 1; j <= nd && mode == "apply"; j++) {
        if (!(did[j] in have)) print "added" tab did[j] > report
        else if (have[did[j]] != j) print "moved" tab did[j] > report
      }
      for (i = 1; i <= nb; i++) if (kind[i] == "ours" || kind[i] == "stale") {
        t = text[i]; sub(/\n.*/, "", t); sub(/.* comment=/, "", t); t = unhex(t)
        print ((kind[i] == "ours" && mode == "apply") ? "repaired" : "removed") tab t > report
      }
    }' "$2"
}

# Plan family $1: $lbp_work/ufw.$1.{desired,new,report,lookalike}; dies when ufw's file cannot be read as ufw writes it.
lbp_ufw_plan_family() {
  lbp_ufw_f=$(lbp_ufw_file "$1")
  lbp_ufw_desired "$1" "$lbp_work/ufw.$1.desired"
  : > "$lbp_work/ufw.$1.lookalike"
  : > "$lbp_work/ufw.$1.report"
  if ! lbp_ufw_plan "$1" "$lbp_ufw_f" "$lbp_work/ufw.$1.desired" "$lbp_work/ufw.$1.new" "$lbp_work/ufw.$1.report" "$lbp_work/ufw.$1.lookalike" "$2"; then
    lbp_die "$1: $lbp_ufw_f is not as ufw writes it ($(cut -f 2 "$lbp_work/ufw.$1.report" | head -n 1)); nothing was changed. Fix: ufw reload (ufw rewrites it on its next change), or repair the file"
  fi
}

lbp_ufw_report_lookalikes() {
  [ -s "$lbp_work/ufw.$1.lookalike" ] || return 0
  while IFS= read -r lbp_ufw_ll; do
    lbp_say "$1: left alone, not ours: ufw rule \"${lbp_ufw_ll#"### tuple ### "}\" (its comment looks like loopback-policy's, but it is not a tag of ours)"
  done < "$lbp_work/ufw.$1.lookalike"
}

# "added lo-in, lo-out; moved spoof; removed lbp:<earlier generation>:lo-in" from a plan report.
lbp_ufw_summary() {
  awk -F '\t' -v gen="$LBP_GEN" '{ if (index($2, "lbp:" gen ":") == 1) $2 = substr($2, length(gen) + 6); if (!($1 in seen)) { order[++n] = $1; seen[$1] = 1 }
    items[$1] = items[$1] (items[$1] == "" ? "" : ", ") $2 }
    END { for (i = 1; i <= n; i++) printf "%s%s %s", (i > 1 ? "; " : ""), order[i], items[order[i]]; print "" }' "$1"
}

# Are ours, in order, the first rules of ufw's user input and output chains of family $1 in the kernel?
# Sets lbp_why to what is not.
lbp_ufw_live_ok() {
  lbp_save "$1" "$lbp_work/ufw.$1.live" || lbp_die "$1: $lbp_why; nothing was changed"
  if [ "$1" = ipv4 ]; then lbp_ufw_pre=ufw; else lbp_ufw_pre=ufw6; fi
  lbp_why=""
  for lbp_ufw_c in input output; do
    sed -n 's/^V\t//p' "$lbp_work/ufw.$1.desired" | grep -F -- "-A $lbp_ufw_pre-user-$lbp_ufw_c " > "$lbp_work/ufw.want" || :
    lbp_ufw_n=$(wc -l < "$lbp_work/ufw.want" | tr -d ' ')
    grep -F -- "-A $lbp_ufw_pre-user-$lbp_ufw_c " "$lbp_work/ufw.$1.live" | head -n "$lbp_ufw_n" > "$lbp_work/ufw.have" || :
    if ! cmp -s "$lbp_work/ufw.want" "$lbp_work/ufw.have"; then
      lbp_why="$lbp_ufw_pre-user-$lbp_ufw_c does not start with the managed rules (first difference: $(diff "$lbp_work/ufw.want" "$lbp_work/ufw.have" | sed -n 's/^< //p' | head -n 1))"
      return 1
    fi
  done
}

# Load ufw rules text $2 of family $1 into the kernel: one commit that replaces every user chain it declares.
lbp_ufw_load() {
  lbp_err=$("$(lbp_tool "$1")-restore" -w "$LBP_LOCK_WAIT" -n < "$2" 2>&1) || { lbp_why="$(lbp_tool "$1")-restore -n refused it: $lbp_err"; return 1; }
}

# Packet counters of the rules that accept lo in ufw's chains (ufw's before.rules accept it ahead of user rules).
lbp_ufw_counters() {
  if [ "$1" = ipv4 ]; then lbp_ufw_pre=ufw; else lbp_ufw_pre=ufw6; fi
  "$(lbp_tool "$1")-save" -c -t filter | awk -v p="$lbp_ufw_pre" '
    function count(line) { sub(/^\[/, "", line); split(line, c, ":"); return c[1] }
    { r = $0; sub(/^\[[0-9]+:[0-9]+\] /, "", r) }
    r == "-A " p "-before-input -i lo -j ACCEPT" || r == "-A " p "-user-input -i lo -j ACCEPT" { cin += count($1); fin = 1 }
    r == "-A " p "-before-output -o lo -j ACCEPT" || r == "-A " p "-user-output -o lo -j ACCEPT" { cout += count($1); fout = 1 }
    END { print (fin ? cin : -1), (fout ? cout : -1) }'
}

lbp_ufw_verify() {
  if [ "$LBP_VERIFY" = off ]; then
    lbp_say "$1: verification is off by policy"
    return 0
  fi
  read -r lbp_in0 lbp_out0 <<LBP_C
$(lbp_ufw_counters "$1")
LBP_C
  lbp_why=""
  lbp_probe "$(lbp_loopback_address "$1")" || return 1
  read -r lbp_in1 lbp_out1 <<LBP_C
$(lbp_ufw_counters "$1")
LBP_C
  if [ "$lbp_in1" -le "$lbp_in0" ] || [ "$lbp_out1" -le "$lbp_out0" ]; then
    lbp_why="the loopback test passed but no lo rule in ufw's chains counted it (in $lbp_in0 -> $lbp_in1, out $lbp_out0 -> $lbp_out1): another rule or table handles loopback first"
    return 1
  fi
  lbp_say "$1: verified: $lbp_how ok; counters of ufw's lo rules in $lbp_in0 -> $lbp_in1, out $lbp_out0 -> $lbp_out1"
}

# The rollback (timer, failed verification, an unconfirmed earlier change): ufw's files as they were before the
# change (put back if they differ), loaded again.
lbp_ufw_restore() {
  lbp_ufw_r=0
  lbp_ufw_own=0
  [ -n "${lbp_ufw_lockpid:-}" ] || { lbp_ufw_lock; lbp_ufw_own=1; }
  for lbp_ufw_rf in ipv4 ipv6; do
    [ -f "$LBP_DIR/snapshot.ufw.$lbp_ufw_rf" ] || continue
    lbp_ufw_file_of=$(lbp_ufw_file "$lbp_ufw_rf")
    if ! cmp -s "$LBP_DIR/snapshot.ufw.$lbp_ufw_rf" "$lbp_ufw_file_of"; then
      lbp_write_file "$LBP_DIR/snapshot.ufw.$lbp_ufw_rf" "$lbp_ufw_file_of" || { lbp_say "rollback: $lbp_why"; lbp_ufw_r=1; continue; }
    fi
    if iptables -w "$LBP_LOCK_WAIT" -n -L ufw-user-input >/dev/null 2>&1; then
      lbp_ufw_load "$lbp_ufw_rf" "$lbp_ufw_file_of" || { lbp_say "rollback: $lbp_ufw_rf: $lbp_why"; lbp_ufw_r=1; }
    fi
  done
  [ "$lbp_ufw_own" = 0 ] || lbp_ufw_unlock
  return "$lbp_ufw_r"
}

lbp_ufw_undo_and_die() {
  if [ "${lbp_changed:-0}" = 1 ]; then
    lbp_ufw_restore || lbp_die "$1, AND reloading ufw's previous rules failed: check the host by hand (ufw reload)"
    lbp_clear_pending
    lbp_die "$1. ufw's previous rules were loaded again; nothing was persisted"
  fi
  lbp_die "$1"
}

# The families this run handles in ufw; refuses when the policy wants IPv6 and ufw's IPv6 is off.
lbp_ufw_families() {
  lbp_pick_families
  lbp_ufw_v6=$(sed -n 's/^IPV6=//p' "$lbp_ufw_defaults" 2>/dev/null | tail -n 1 | tr -d '"')
  case "$lbp_families" in
    *ipv6*)
      if [ "$lbp_ufw_v6" != yes ]; then
        lbp_die "the policy wants IPv6 (ipv6: $LBP_IPV6) but ufw's IPv6 is off (IPV6=${lbp_ufw_v6:-unset} in $lbp_ufw_defaults), so ufw does not filter IPv6 and has no user6.rules to manage; nothing was changed. Fix: set IPV6=yes in $lbp_ufw_defaults and run ufw reload, or set ipv6: \"off\""
      fi
      [ -f "$lbp_ufw_etc/user6.rules" ] || lbp_die "ufw's IPv6 is on but $lbp_ufw_etc/user6.rules is missing; nothing was changed. Fix: ufw reload, then run again"
      ;;
  esac
}

lbp_ufw_apply() {
  lbp_ufw_trust changed
  lbp_say "host: $(ufw version 2>/dev/null | head -n 1), $(lbp_backend); policy $LBP_POLICY; generation $LBP_GEN"
  lbp_ufw_families
  lbp_settle_pending
  lbp_ufw_lock
  lbp_record_generation ufw.generations
  lbp_pending_change=0
  for lbp_fam in $lbp_families; do
    cp "$(lbp_ufw_file "$lbp_fam")" "$lbp_work/snapshot.ufw.$lbp_fam" || lbp_die "$lbp_fam: cannot snapshot $(lbp_ufw_file "$lbp_fam"); nothing was changed"
    lbp_ufw_plan_family "$lbp_fam" apply
    lbp_ufw_report_lookalikes "$lbp_fam"
    lbp_err=$("$(lbp_tool "$lbp_fam")-restore" --test < "$lbp_work/ufw.$lbp_fam.new" 2>&1) ||
      lbp_die "$lbp_fam: the converged ufw rules do not load ($lbp_err); nothing was changed"
    if ! cmp -s "$lbp_work/ufw.$lbp_fam.new" "$(lbp_ufw_file "$lbp_fam")" || ! lbp_ufw_live_ok "$lbp_fam"; then
      lbp_pending_change=1
      echo "$lbp_fam" >> "$lbp_work/ufw.changing"
    fi
  done
  if [ "$lbp_pending_change" = 0 ]; then
    for lbp_fam in $lbp_families; do
      lbp_say "$lbp_fam: unchanged ($(grep -c '^B' "$lbp_work/ufw.$lbp_fam.desired") managed ufw rules in place, in order, in $(lbp_ufw_file "$lbp_fam"))"
    done
    lbp_ufw_unlock
    lbp_say "result: unchanged"
    return 0
  fi
  lbp_armed=0
  if [ "$LBP_ROLLBACK_SECONDS" -gt 0 ] && [ ! -f "$LBP_DIR/pending" ]; then
    for lbp_fam in $lbp_families; do
      lbp_write_file "$lbp_work/snapshot.ufw.$lbp_fam" "$LBP_DIR/snapshot.ufw.$lbp_fam" || lbp_die "cannot keep the rollback snapshot in $LBP_DIR ($lbp_why); nothing was changed"
    done
    echo ufw > "$LBP_DIR/backend"
    lbp_ufw_keep=$lbp_families lbp_families=""
    lbp_arm_rollback
    lbp_families=$lbp_ufw_keep
    lbp_armed=1
  fi
  lbp_changed=0
  [ ! -f "$LBP_DIR/pending" ] || : > "$LBP_DIR/changed"
  for lbp_fam in $lbp_families; do
    grep -q -x "$lbp_fam" "$lbp_work/ufw.changing" || { lbp_say "$lbp_fam: unchanged"; continue; }
    if [ -s "$lbp_work/ufw.$lbp_fam.report" ]; then
      lbp_say "$lbp_fam: ufw: $(lbp_ufw_summary "$lbp_work/ufw.$lbp_fam.report")"
    else
      lbp_say "$lbp_fam: ufw: $(lbp_ufw_file "$lbp_fam") holds the managed rules in order but the kernel does not ($lbp_why); loading it"
    fi
    lbp_changed=1
    lbp_ufw_load "$lbp_fam" "$lbp_work/ufw.$lbp_fam.new" || lbp_ufw_undo_and_die "$lbp_fam: $lbp_why"
  done
  for lbp_fam in $lbp_families; do
    lbp_ufw_live_ok "$lbp_fam" || lbp_ufw_undo_and_die "$lbp_fam: after loading, $lbp_why"
    lbp_ufw_verify "$lbp_fam" || lbp_ufw_undo_and_die "$lbp_fam: verification failed: $lbp_why"
  done
  lbp_ufw_unlock
  if [ -f "$LBP_DIR/pending" ]; then
    date +%s > "$LBP_DIR/verified"
    lbp_say "result: changed (live; ufw's files are written at confirm); rollback armed: ufw's previous rules come back ${LBP_ROLLBACK_SECONDS}s from now unless a new SSH connection confirms"
  else
    lbp_say "result: changed (rollback guard off); persisting now"
    lbp_ufw_persist
  fi
}

# Write the converged rules to ufw's files (where ufw loads them from at boot and on every ufw command).
lbp_ufw_persist() {
  lbp_ufw_lock
  for lbp_fam in $lbp_families; do
    lbp_ufw_plan_family "$lbp_fam" apply
    lbp_ufw_live_ok "$lbp_fam" ||
      lbp_die "$lbp_fam: the managed ufw rules are not in place any more ($lbp_why); nothing was persisted: deploy again"
    lbp_ufw_f=$(lbp_ufw_file "$lbp_fam")
    if cmp -s "$lbp_work/ufw.$lbp_fam.new" "$lbp_ufw_f"; then
      lbp_say "$lbp_fam: persisted (ufw): $lbp_ufw_f already holds the managed rules in order"
      continue
    fi
    lbp_write_file "$lbp_work/ufw.$lbp_fam.new" "$lbp_ufw_f" || lbp_die "persistence: $lbp_why; the verified rules are live but not saved; $lbp_ufw_f is unchanged"
    # Live and file the same: ufw's own rules as they are in the file now, ours on top (one commit).
    lbp_ufw_load "$lbp_fam" "$lbp_ufw_f" || lbp_die "$lbp_fam: wrote $lbp_ufw_f but loading it failed: $lbp_why"
    lbp_say "$lbp_fam: persisted (ufw): wrote $lbp_ufw_f"
  done
  lbp_ufw_unlock
}

lbp_ufw_confirm() {
  lbp_ufw_trust persisted
  lbp_disarm "loading ufw's previous rules"
  lbp_ufw_families
  lbp_ufw_persist
}

lbp_ufw_remove() {
  lbp_ufw_trust removed
  lbp_say "host: ${lbp_other:-ufw is not active, but its files hold rules of generation $LBP_GEN}; removing them through ufw's files (otherFirewall: manage)"
  lbp_families=ipv4
  [ ! -f "$lbp_ufw_etc/user6.rules" ] || lbp_families="ipv4 ipv6"
  rm -f "$LBP_DIR/owner.$LBP_GEN"
  if [ -f "$LBP_DIR/pending" ] && [ "$(cat "$LBP_DIR/pending")" = "$LBP_GEN" ]; then
    lbp_clear_pending
  fi
  lbp_ufw_lock
  for lbp_fam in $lbp_families; do
    lbp_ufw_plan_family "$lbp_fam" remove
    lbp_ufw_report_lookalikes "$lbp_fam"
    lbp_ufw_f=$(lbp_ufw_file "$lbp_fam")
    lbp_ufw_n=$(grep -c . "$lbp_work/ufw.$lbp_fam.report" || :)
    if [ "$lbp_ufw_n" != 0 ]; then
      lbp_write_file "$lbp_work/ufw.$lbp_fam.new" "$lbp_ufw_f" || lbp_die "$lbp_fam: $lbp_why; nothing was removed"
    fi
    # The kernel as the file says (an unconfirmed change lives only there): one commit.
    if [ "$lbp_manager" = ufw ]; then
      lbp_ufw_load "$lbp_fam" "$lbp_ufw_f" || lbp_die "$lbp_fam: $lbp_ufw_f was written but loading it failed: $lbp_why"
    fi
    if [ "$lbp_ufw_n" = 0 ]; then
      lbp_say "$lbp_fam: no managed ufw rules of generation $LBP_GEN to remove"
    else
      lbp_say "$lbp_fam: removed $lbp_ufw_n managed ufw rules of generation $LBP_GEN from $lbp_ufw_f ($(lbp_ufw_summary "$lbp_work/ufw.$lbp_fam.report"))"
    fi
  done
  lbp_ufw_unlock
}

lbp_ufw_check() {
  lbp_ufw_trust changed
  lbp_ufw_families
  lbp_drift=0
  for lbp_fam in $lbp_families; do
    lbp_ufw_plan_family "$lbp_fam" apply
    lbp_ufw_report_lookalikes "$lbp_fam"
    if ! lbp_ufw_live_ok "$lbp_fam"; then
      lbp_drift=1
      lbp_ufw_would=$(lbp_ufw_summary "$lbp_work/ufw.$lbp_fam.report")
      lbp_say "$lbp_fam: drifted: converging would do: ufw: ${lbp_ufw_would:-load $(lbp_ufw_file "$lbp_fam") again} ($lbp_why)"
    elif ! cmp -s "$lbp_work/ufw.$lbp_fam.new" "$(lbp_ufw_file "$lbp_fam")"; then
      lbp_drift=1
      lbp_say "$lbp_fam: drifted: the live ufw rules are in place but not persisted: $(lbp_ufw_file "$lbp_fam") would need $(lbp_ufw_summary "$lbp_work/ufw.$lbp_fam.report") (a reboot or ufw reload would lose them); deploy again"
    else
      lbp_say "$lbp_fam: compliant (ufw: $(grep -c '^B' "$lbp_work/ufw.$lbp_fam.desired") managed rules at the top of $(lbp_ufw_file "$lbp_fam"), live and persisted)"
    fi
  done
  if [ "$lbp_drift" = 1 ]; then
    lbp_say "result: drifted"
    exit 3
  fi
  lbp_say "result: compliant"
}

# Does ufw's configuration hold rules of this generation (remove runs even when ufw was disabled since)?
lbp_ufw_holds_ours() {
  command -v ufw >/dev/null 2>&1 || return 1
  lbp_ufw_hex=$(printf '%s' "lbp:$LBP_GEN:" | od -An -v -tx1 | tr -d ' \n')
  grep -q -F -- "comment=$lbp_ufw_hex" "$lbp_ufw_etc/user.rules" "$lbp_ufw_etc/user6.rules" 2>/dev/null
}

lbp_ufw_run() {
  command -v lbp_ufw_rules >/dev/null 2>&1 || lbp_die "this policy has no ufw rules (it was rendered without otherFirewall: \"manage\"); nothing was changed"
  case "$LBP_MODE" in
    apply) lbp_ufw_apply ;;
    confirm) lbp_ufw_confirm ;;
    remove) lbp_ufw_remove ;;
    check) lbp_ufw_check ;;
    *) lbp_die "ufw: unknown mode $LBP_MODE" ;;
  esac
}
