# ---- backend: firewalld in charge (otherFirewall: manage) ----
# The policy in firewalld's terms (lbp_firewalld_rules, rendered from lib/plan/firewalld.ts), the CIS way: lo bound to
# the trusted zone, and rich rules (the anti-spoofing and local-only drops) in every zone. Everything goes through
# firewall-cmd: first into firewalld's runtime only, then verified, and only at confirm the same changes with
# --permanent (firewalld writes its zone files itself). No --reload ever: a reload would drop what other tools
# (fail2ban, NetworkManager, libvirt) keep in firewalld's runtime. A rollback undoes exactly this run's runtime
# changes, from the list kept in the state directory.
# firewalld's rich rules carry no comment: ours carry priority -32141 (lib/plan/firewalld.ts), which firewalld keeps in
# its canonical text, so an admin's own rule of the same match is another rule. What is ours is also recorded:
# $LBP_RECORD/firewalld.ours lists, per layer (runtime, permanent), each zone item loopback-policy added and its
# generation. An item that was there before is not ours: it is kept on every remove. An item is recorded before it
# is added, so a rollback and later runs know it; a rollback undoes, against what firewalld holds then, exactly the
# recorded change.
lbp_fd_record=firewalld.ours

# Called by lbp_firewalld_rules.
lbp_firewalld_lo() { printf 'L\t%s\n' "$1"; }
lbp_firewalld_rule() {
  case " $lbp_families " in *" $1 "*) printf 'R\t%s\t%s\n' "$2" "$3" ;; esac
}

# firewall-cmd, bounded in time; $lbp_fd_out holds what it said. Sets lbp_why when it fails.
lbp_fd_cmd() {
  lbp_fd_out=$(timeout $((LBP_LOCK_WAIT + 30)) firewall-cmd "$@" 2>&1)
  lbp_fd_rc=$?
  [ "$lbp_fd_rc" = 0 ] && return 0
  if [ "$lbp_fd_rc" = 124 ]; then
    lbp_why="firewall-cmd $(printf '%s ' "$@" | cut -c 1-200)did not answer within $((LBP_LOCK_WAIT + 30))s"
  else
    lbp_why="firewall-cmd $(printf '%s ' "$@" | cut -c 1-200)failed (exit $lbp_fd_rc: $(printf '%s' "$lbp_fd_out" | tail -n 1))"
  fi
  return 1
}

# Refuse (changing nothing) unless firewalld and its configuration can be trusted. $1: the mode's verb.
lbp_fd_trust() {
  command -v firewall-cmd >/dev/null 2>&1 || lbp_die "firewalld is in charge but firewall-cmd is not installed; nothing was $1. Fix: install firewalld's command line tools, or set otherFirewall: \"skip\""
  lbp_fd_bad=$(lbp_path_unsafe /etc/firewalld)
  [ -n "$lbp_fd_bad" ] || lbp_fd_bad=$(lbp_ancestors_unsafe /etc/firewalld 0)
  [ -z "$lbp_fd_bad" ] || lbp_die "firewalld's configuration is not root's alone: $lbp_fd_bad, so another user could change what root loads; nothing was $1. Fix: chown root:root /etc/firewalld && chmod go-w /etc/firewalld"
  # Everything firewalld loads from there (zones, policies, ipsets, services, firewalld.conf).
  lbp_fd_bad=$(find /etc/firewalld -mindepth 1 \( -type l -o ! -user 0 -o -perm -0002 -o -perm -0020 \) -print 2>/dev/null | head -n 1)
  [ -z "$lbp_fd_bad" ] || lbp_die "firewalld's configuration is not root's alone: $lbp_fd_bad is a link or writable by another user; nothing was $1. Fix: chown root:root $lbp_fd_bad && chmod go-w $lbp_fd_bad (or remove the link)"
  lbp_fd_cmd --state || lbp_die "firewalld is not answering ($lbp_why); nothing was $1. Fix: systemctl status firewalld, then run again"
}

# Zone items of a layer ($1: runtime or permanent) to $2: zone <TAB> kind <TAB> value, where kind is "zone" (the
# zone exists; empty value), "interface" or "rich". Dies when firewalld's listing cannot be read.
# $3: what was done already, for the message (default: nothing). Remove and the rollback pass over zones whose names
# they cannot use safely (none of ours can be there: apply refuses them).
lbp_fd_list() {
  lbp_fd_done=${3:-nothing was changed}
  if [ "$1" = permanent ]; then
    lbp_fd_cmd --permanent --list-all-zones || lbp_die "cannot read firewalld's permanent zones ($lbp_why); $lbp_fd_done"
  else
    lbp_fd_cmd --list-all-zones || lbp_die "cannot read firewalld's zones ($lbp_why); $lbp_fd_done"
  fi
  : > "$2"
  printf '%s\n' "$lbp_fd_out" | awk -v tab="$lbp_tab" -v out="$2" -v lenient="$(case "$LBP_MODE" in remove | rollback-timer) echo 1 ;; esac)" '
    /^[^ \t]/ {
      zone = $1; rich = 0
      if (zone !~ /^[A-Za-z0-9_-]+$/) { if (lenient) { zone = ""; next } bad = zone; exit 1 }
      print zone tab "zone" tab > out; next
    }
    zone == "" { next }
    /^  interfaces:/ { rich = 0; for (i = 2; i <= NF; i++) print zone tab "interface" tab $i > out; next }
    /^  rich rules:/ { rich = 1; next }
    /^  / { rich = 0; next }
    /^\t/ && rich { r = $0; sub(/^\t/, "", r); print zone tab "rich" tab r > out; next }
    END { if (bad != "") exit 1 }' || lbp_die "firewalld lists a zone named \"$(printf '%s' "$lbp_fd_out" | grep -v '^[ 	]' | grep -v '^[A-Za-z0-9_-]*\( (.*)\)\{0,1\}$' | head -n 1)\" that loopback-policy cannot name safely (only letters, digits, _ and -); $lbp_fd_done. Fix: give the zone such a name (firewall-cmd --permanent --new-zone=NAME, move its settings, --delete-zone the old one), or set otherFirewall: \"skip\""
}

# The desired items ($2) of the zones in listing $1: lo in its zone, every rich rule in every zone (id in field 4).
lbp_fd_desired() {
  lbp_firewalld_rules > "$lbp_work/fd.spec"
  awk -F '\t' -v tab="$lbp_tab" -v spec="$lbp_work/fd.spec" -v out="$2" '
    BEGIN { while ((getline l < spec) > 0) { split(l, f, "\t"); if (f[1] == "L") lozone = f[2]; else { n++; id[n] = f[2]; rule[n] = f[3] } } }
    $2 == "zone" { zones[++nz] = $1 }
    END {
      for (z = 1; z <= nz; z++) {
        if (zones[z] == lozone) print zones[z] tab "interface" tab "lo" tab "lo" > out
        for (i = 1; i <= n; i++) print zones[z] tab "rich" tab rule[i] tab id[i] > out
      }
    }' "$1"
}

# Plan layer $1 ($2: apply, or remove this generation's): from the listing $lbp_work/fd.$1.cur, the desired items and
# the record, writes fd.$1.add, fd.$1.del (zone <TAB> kind <TAB> value), fd.$1.theirs (desired items that were there
# before us: never removed), and the record as it is after the change (fd.record.new).
lbp_fd_plan() {
  rm -f "$lbp_work/fd.$1.add" "$lbp_work/fd.$1.del" "$lbp_work/fd.$1.theirs" "$lbp_work/fd.$1.before" "$lbp_work/fd.record.new"
  : > "$lbp_work/fd.$1.want"
  [ "$2" = remove ] || lbp_fd_desired "$lbp_work/fd.$1.cur" "$lbp_work/fd.$1.want"
  lbp_fd_rec=$lbp_work/fd.record
  if [ ! -f "$lbp_fd_rec" ]; then
    # The record is read only from a directory that is root's alone.
    { [ ! -e "$LBP_RECORD" ] && [ ! -L "$LBP_RECORD" ]; } || lbp_secure_dir "$LBP_RECORD" record
    { cat "$LBP_RECORD/$lbp_fd_record" 2>/dev/null || :; } > "$lbp_fd_rec"
  fi
  awk -F '\t' -v OFS='\t' -v layer="$1" -v mode="$2" -v gen="$LBP_GEN" -v keep6="${lbp_fd_keep6:-0}" -v w="$lbp_work/fd.$1" -v rec="$lbp_fd_rec" -v newrec="$lbp_work/fd.record.new" '
    FILENAME == ARGV[1] { cur[$1 "\t" $2 "\t" $3] = 1; next }
    FILENAME == ARGV[2] { k = $1 "\t" $2 "\t" $3; want[k] = 1; order[++nw] = k; next }
    END {
      # fd.<layer>.before: the record lines of the items this change retags or removes (a rollback puts them back).
      printf "" > (w ".before")
      while ((getline l < rec) > 0) {
        split(l, f, "\t")
        if (f[2] != layer) { keep[++nk] = l; continue }
        k = f[3] "\t" f[4] "\t" f[5]
        if (mode == "remove" && f[1] != gen) { keep[++nk] = l; continue }
        # A family this host cannot handle now (IPv6 disabled since) keeps what it had: skipping is not removing.
        if (mode == "apply" && keep6 && index(f[5], "family=\"ipv6\"")) { keep[++nk] = l; continue }
        ours[k] = 1
        if (k in want) { if (f[1] != gen && (k in cur)) print l > (w ".before"); continue }
        # Not wanted: removed when still there; a line of an item that is gone anyway is only dropped.
        if (k in cur) { print k > (w ".del"); print l > (w ".before") }
      }
      for (i = 1; i <= nw; i++) {
        k = order[i]
        if (!(k in cur)) { print k > (w ".add"); keep[++nk] = gen "\t" layer "\t" k }
        else if (k in ours) keep[++nk] = gen "\t" layer "\t" k
        else print k > (w ".theirs")
      }
      for (i = 1; i <= nk; i++) print keep[i] > newrec
    }' "$lbp_work/fd.$1.cur" "$lbp_work/fd.$1.want"
  for lbp_fd_x in add del theirs; do [ -f "$lbp_work/fd.$1.$lbp_fd_x" ] || : > "$lbp_work/fd.$1.$lbp_fd_x"; done
  [ -f "$lbp_work/fd.record.new" ] || : > "$lbp_work/fd.record.new"
}

# Refuse when lo is bound to a zone other than the policy's (moving it would change what that zone lets in).
lbp_fd_lo_zone_ok() {
  lbp_fd_loz=$(awk -F '\t' '$2 == "interface" && $3 == "lo" { print $1; exit }' "$lbp_work/fd.$1.cur")
  lbp_fd_want_z=$(sed -n 's/^L\t//p' "$lbp_work/fd.spec")
  grep -q -x -F -- "$lbp_fd_want_z	zone	" "$lbp_work/fd.$1.cur" ||
    lbp_die "firewalld has no $lbp_fd_want_z zone ($1 configuration), where CIS binds lo; ${3:-nothing was changed}. Fix: restore firewalld's default zones (firewall-cmd --permanent --new-zone-from-file), or set otherFirewall: \"skip\""
  if [ -n "$lbp_fd_loz" ] && [ "$lbp_fd_loz" != "$lbp_fd_want_z" ]; then
    lbp_die "lo is bound to firewalld's zone $lbp_fd_loz ($1 configuration), not $lbp_fd_want_z: moving it would change what that zone lets in; ${3:-nothing was changed}. Fix: firewall-cmd${2:+ $2} --zone=$lbp_fd_loz --remove-interface=lo (and without --permanent for the runtime), or set otherFirewall: \"skip\""
  fi
}

# Make the changes of files $2 (removals) and $3 (additions) in layer $1 ("" for runtime, --permanent): one
# firewall-cmd per zone and kind of change. Sets lbp_why when one fails.
lbp_fd_change() {
  lbp_fd_perm=$1 lbp_fd_delf=$2 lbp_fd_addf=$3
  for lbp_fd_act in remove add; do
    if [ "$lbp_fd_act" = remove ]; then lbp_fd_f=$lbp_fd_delf; else lbp_fd_f=$lbp_fd_addf; fi
    [ -s "$lbp_fd_f" ] || continue
    # firewall-cmd takes several items of one kind per call, never two kinds.
    for lbp_fd_zk in $(cut -f 1,2 "$lbp_fd_f" | tr '\t' : | sort -u); do
      set -- ${lbp_fd_perm:+"$lbp_fd_perm"} "--zone=${lbp_fd_zk%:*}"
      while IFS="$lbp_tab" read -r lbp_fd_lz lbp_fd_lk lbp_fd_lv; do
        [ "$lbp_fd_lz:$lbp_fd_lk" = "$lbp_fd_zk" ] || continue
        case "$lbp_fd_lk" in
          interface) set -- "$@" "--$lbp_fd_act-interface=$lbp_fd_lv" ;;
          rich) set -- "$@" "--$lbp_fd_act-rich-rule=$lbp_fd_lv" ;;
        esac
      done < "$lbp_fd_f"
      lbp_fd_cmd "$@" || return 1
    done
  done
}

# "added lo to trusted, 2 rich rules (spoof) to 9 zones; removed 1 rich rule" from a layer's plan.
lbp_fd_summary() {
  awk -F '\t' '
    FILENAME ~ /\.add$/ { if ($2 == "interface") ai = ai (ai == "" ? "" : ", ") $3 " to " $1; else { ar++; az[$1] = 1 } }
    FILENAME ~ /\.del$/ { if ($2 == "interface") di = di (di == "" ? "" : ", ") $3 " from " $1; else { dr++; dz[$1] = 1 } }
    END {
      for (z in az) nz++
      for (z in dz) ndz++
      s = ""
      if (ai != "") s = "added interface " ai
      if (ar) s = s (s == "" ? "added " : "; added ") ar " rich rules in " nz " zones"
      if (di != "") s = s (s == "" ? "" : "; ") "removed interface " di
      if (dr) s = s (s == "" ? "" : "; ") "removed " dr " rich rules from " ndz " zones"
      print s
    }' "$lbp_work/fd.$1.add" "$lbp_work/fd.$1.del"
}

lbp_fd_report_theirs() {
  [ -s "$lbp_work/fd.$1.theirs" ] || return 0
  lbp_say "firewalld: $(wc -l < "$lbp_work/fd.$1.theirs" | tr -d ' ') of the policy's items were already in firewalld's $1 configuration before loopback-policy (for example $(head -n 1 "$lbp_work/fd.$1.theirs" | awk -F '\t' '{ print "in zone " $1 ": " $2 " " $3 }')): not ours, kept on remove"
}

lbp_fd_write_record() {
  lbp_secure_dir "$LBP_RECORD" record
  lbp_write_file "$lbp_work/fd.record.new" "$LBP_RECORD/$lbp_fd_record" || lbp_die "cannot record what loopback-policy adds to firewalld in $LBP_RECORD ($lbp_why); nothing was $1"
  cp "$lbp_work/fd.record.new" "$lbp_work/fd.record"
}

# Is every desired item of layer $1 in firewalld's listing of it? Sets lbp_why to the first that is not.
lbp_fd_in_place() {
  lbp_fd_list "$1" "$lbp_work/fd.$1.cur" "${2:-}"
  lbp_fd_missing=$(cut -f 1-3 "$lbp_work/fd.$1.want" | while IFS= read -r lbp_fd_w; do
    grep -q -x -F -- "$lbp_fd_w" "$lbp_work/fd.$1.cur" || { printf '%s' "$lbp_fd_w" | tr '\t' ' '; break; }
  done)
  [ -z "$lbp_fd_missing" ] && return 0
  lbp_why="firewalld's $1 configuration lacks zone $lbp_fd_missing"
  return 1
}

# After a change in layer $1: is every item of file $2 there, and no item of file $3 left? (firewall-cmd succeeds
# when only some items of a call fail.) $4: what was done, for the message. Sets lbp_why.
lbp_fd_settled() {
  lbp_fd_list "$1" "$lbp_work/fd.settle.cur" "$4"
  lbp_why=$(awk -F '\t' -v layer="$1" '
    FILENAME == ARGV[1] { cur[$1 "\t" $2 "\t" $3] = 1; next }
    FILENAME == ARGV[2] && !(($1 "\t" $2 "\t" $3) in cur) { print "firewalld'"'"'s " layer " configuration lacks zone " $1 " " $2 " " $3; exit }
    FILENAME == ARGV[3] && (($1 "\t" $2 "\t" $3) in cur) { print "firewalld'"'"'s " layer " configuration still holds zone " $1 " " $2 " " $3; exit }' \
    "$lbp_work/fd.settle.cur" "$2" "$3")
  [ -z "$lbp_why" ]
}

lbp_fd_verify() {
  lbp_fd_in_place runtime "$lbp_fd_done_now" || return 1
  # The kernel: firewalld's nftables table holds the anti-spoofing drop (its own backend writes it there).
  if grep -q '	spoof$' "$lbp_work/fd.runtime.want" && command -v nft >/dev/null 2>&1 && nft list table inet firewalld >/dev/null 2>&1; then
    nft list table inet firewalld 2>/dev/null | grep -q 'ip saddr 127.0.0.0/8 \(drop\|reject\)' || {
      lbp_why="firewalld reports the rich rules, but its nftables table holds no drop of 127.0.0.0/8"
      return 1
    }
  fi
  if [ "$LBP_VERIFY" = off ]; then
    lbp_say "firewalld: verification is off by policy (the rules are in firewalld's runtime)"
    return 0
  fi
  for lbp_fam in $lbp_families; do
    lbp_probe "$(lbp_loopback_address "$lbp_fam")" || { lbp_why="$lbp_fam: $lbp_why"; return 1; }
    lbp_say "$lbp_fam: verified: $lbp_how ok (firewalld accepts lo in its own chains, which count nothing; its runtime holds every managed item)"
  done
}

# Undo a runtime change against what firewalld holds now: of the items it added ($1), remove those still there; of
# those it removed ($2), add back those missing whose zone still exists; then check. The record loses this
# generation's runtime lines of the items touched and gets back the lines the change replaced ($3). Returns 1
# (lbp_why) when firewalld does not end as wanted.
lbp_fd_undo() {
  # Never dies (the timer must keep trying): a listing that fails is a failed attempt.
  lbp_fd_cmd --list-all-zones || return 1
  rm -f "$lbp_work/fd.undo.add" "$lbp_work/fd.undo.del"
  lbp_fd_list runtime "$lbp_work/fd.undo.cur" "the runtime change is not undone yet"
  awk -F '\t' -v out="$lbp_work/fd.undo" '
    FILENAME == ARGV[1] { cur[$1 "\t" $2 "\t" $3] = 1; if ($2 == "zone") zone[$1] = 1; next }
    FILENAME == ARGV[2] { k = $1 "\t" $2 "\t" $3; if ((k in cur) && !seen[k]++) print k > (out ".del"); next }
    FILENAME == ARGV[3] { k = $1 "\t" $2 "\t" $3; if (!(k in cur) && ($1 in zone) && !back[k]++) print k > (out ".add") }' \
    "$lbp_work/fd.undo.cur" "$1" "$2"
  : >> "$lbp_work/fd.undo.del"
  : >> "$lbp_work/fd.undo.add"
  lbp_fd_change "" "$lbp_work/fd.undo.del" "$lbp_work/fd.undo.add" || return 1
  lbp_fd_settled runtime "$lbp_work/fd.undo.add" "$lbp_work/fd.undo.del" "the runtime change is not undone yet" || return 1
  lbp_secure_dir "$LBP_RECORD" record
  { cat "$LBP_RECORD/$lbp_fd_record" 2>/dev/null || :; } > "$lbp_work/fd.undo.rec"
  awk -F '\t' -v gen="$LBP_GEN" '
    FILENAME == ARGV[1] { touched[$1 "\t" $2 "\t" $3] = 1; next }
    FILENAME == ARGV[2] { split($0, f, "\t"); touched[f[3] "\t" f[4] "\t" f[5]] = 1; back[++nb] = $0; next }
    !($1 == gen && $2 == "runtime" && (($3 "\t" $4 "\t" $5) in touched)) { print }
    END { for (i = 1; i <= nb; i++) print back[i] }' "$1" "$3" "$lbp_work/fd.undo.rec" > "$lbp_work/fd.undo.rec.new"
  lbp_write_file "$lbp_work/fd.undo.rec.new" "$LBP_RECORD/$lbp_fd_record" || return 1
  rm -f "$lbp_work/fd.record"
}

# The rollback (timer, an unconfirmed earlier change): undo the change kept in $LBP_DIR.
lbp_firewalld_restore() {
  lbp_fd_cmd --state || { lbp_say "rollback: firewalld is not answering ($lbp_why)"; return 1; }
  lbp_fd_undo "$LBP_DIR/snapshot.firewalld.add" "$LBP_DIR/snapshot.firewalld.del" "$LBP_DIR/snapshot.firewalld.before" || {
    lbp_say "rollback: $lbp_why"
    return 1
  }
}

lbp_fd_undo_and_die() {
  if [ "${lbp_changed:-0}" = 1 ]; then
    lbp_fd_undo "$lbp_work/fd.runtime.add" "$lbp_work/fd.runtime.del" "$lbp_work/fd.runtime.before" ||
      lbp_die "$1, AND undoing the runtime change failed ($lbp_why): check the host by hand (firewall-cmd --list-all-zones)"
    # An earlier run of this generation still awaiting confirmation is the timer's to undo.
    [ "${lbp_fd_merged:-0}" = 1 ] || lbp_clear_pending
    lbp_die "$1. firewalld's runtime was put back as it was; nothing was persisted"
  fi
  lbp_die "$1"
}

lbp_fd_host() {
  lbp_say "host: firewalld $(timeout 10 firewall-cmd --version 2>/dev/null) (backend $(sed -n 's/^FirewallBackend=//p' /etc/firewalld/firewalld.conf 2>/dev/null | tail -n 1)); policy $LBP_POLICY; generation $LBP_GEN"
}

# The families: firewalld filters IPv6 whenever the kernel has it (ip6tables is not needed). With IPv6 gone from a
# host since, what loopback-policy added for IPv6 is kept (lbp_fd_keep6), not removed.
lbp_fd_families() {
  lbp_families=ipv4 lbp_fd_keep6=0
  if [ "$LBP_IPV6" = off ]; then
    lbp_say "ipv6: skipped: the policy turns IPv6 off"
    return 0
  fi
  if [ ! -e /proc/net/if_inet6 ]; then
    lbp_v6why="the kernel has no IPv6"
  elif [ "$(cat /proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null)" = 1 ]; then
    lbp_v6why="IPv6 is disabled (net.ipv6.conf.all.disable_ipv6=1)"
  elif [ "$(cat /proc/sys/net/ipv6/conf/lo/disable_ipv6 2>/dev/null)" = 1 ]; then
    lbp_v6why="IPv6 is disabled on lo (net.ipv6.conf.lo.disable_ipv6=1)"
  else
    lbp_families="ipv4 ipv6"
    return 0
  fi
  [ "$LBP_IPV6" != required ] || lbp_die "ipv6 is required by the policy but $lbp_v6why"
  lbp_fd_keep6=1
  lbp_say "ipv6: skipped: $lbp_v6why (firewalld's IPv6 rich rules of loopback-policy, if any, are kept)"
}

# Both layers listed and planned, and everything checked that could refuse: before apply changes anything, and
# before confirm disarms the guard.
lbp_fd_prepare() {
  lbp_fd_list runtime "$lbp_work/fd.runtime.cur" "${2:-}"
  lbp_fd_plan runtime apply
  lbp_fd_lo_zone_ok runtime "" "${2:-}"
  lbp_fd_list permanent "$lbp_work/fd.permanent.cur" "${2:-}"
  # The permanent plan runs at confirm; checked now so that nothing is changed where confirm would refuse.
  cp "$lbp_work/fd.record.new" "$lbp_work/fd.record.runtime"
  lbp_fd_plan permanent apply
  lbp_fd_lo_zone_ok permanent --permanent "${2:-}"
  if [ "$1" = apply ]; then
    lbp_fd_plan runtime apply
  fi
}

lbp_fd_apply() {
  lbp_fd_trust changed
  lbp_fd_host
  lbp_fd_families
  lbp_settle_pending
  lbp_fd_prepare apply
  lbp_fd_report_theirs runtime
  if [ ! -s "$lbp_work/fd.runtime.add" ] && [ ! -s "$lbp_work/fd.runtime.del" ]; then
    lbp_say "firewalld: unchanged (lo in $(sed -n 's/^L\t//p' "$lbp_work/fd.spec"), $(grep -c '^R' "$lbp_work/fd.spec") rich rules in each of $(grep -c '	zone	$' "$lbp_work/fd.runtime.cur") zones, in firewalld's runtime)"
    cmp -s "$lbp_work/fd.record" "$lbp_work/fd.record.new" || lbp_fd_write_record changed
    lbp_say "result: unchanged"
    return 0
  fi
  lbp_fd_merged=0
  if [ "$LBP_ROLLBACK_SECONDS" -gt 0 ] && [ ! -f "$LBP_DIR/pending" ]; then
    # The change, for its undo: what it adds, what it removes, the record lines it replaces.
    for lbp_fd_x in add del before; do
      lbp_write_file "$lbp_work/fd.runtime.$lbp_fd_x" "$LBP_DIR/snapshot.firewalld.$lbp_fd_x" ||
        lbp_die "cannot keep the rollback list in $LBP_DIR ($lbp_why); nothing was changed"
    done
    echo firewalld > "$LBP_DIR/backend"
    lbp_fd_keep=$lbp_families lbp_families=""
    lbp_arm_rollback
    lbp_families=$lbp_fd_keep
  elif [ -f "$LBP_DIR/pending" ]; then
    # This generation's earlier run still awaits confirmation: the guard undoes both runs' changes.
    lbp_fd_merged=1
    if ! { cat "$LBP_DIR/snapshot.firewalld.add" "$lbp_work/fd.runtime.add" > "$lbp_work/fd.merge.add" &&
      cat "$LBP_DIR/snapshot.firewalld.del" "$lbp_work/fd.runtime.del" > "$lbp_work/fd.merge.del" &&
      awk -F '\t' 'FILENAME == ARGV[1] { seen[$3 "\t" $4 "\t" $5] = 1; print; next } !(($3 "\t" $4 "\t" $5) in seen)' \
        "$LBP_DIR/snapshot.firewalld.before" "$lbp_work/fd.runtime.before" > "$lbp_work/fd.merge.before"; }; then
      lbp_die "cannot extend the rollback list in $lbp_work; nothing was changed"
    fi
    for lbp_fd_x in add del before; do
      lbp_write_file "$lbp_work/fd.merge.$lbp_fd_x" "$LBP_DIR/snapshot.firewalld.$lbp_fd_x" ||
        lbp_die "cannot extend the rollback list in $LBP_DIR ($lbp_why); nothing was changed"
    done
  fi
  # Recorded before it is added: a cut session leaves nothing of ours unrecorded.
  lbp_fd_write_record changed
  lbp_changed=0
  [ ! -f "$LBP_DIR/pending" ] || : > "$LBP_DIR/changed"
  lbp_say "firewalld: runtime: $(lbp_fd_summary runtime)"
  lbp_changed=1
  lbp_fd_done_now="the runtime change is partly made"
  lbp_fd_change "" "$lbp_work/fd.runtime.del" "$lbp_work/fd.runtime.add" || lbp_fd_undo_and_die "firewalld: $lbp_why"
  lbp_fd_settled runtime "$lbp_work/fd.runtime.add" "$lbp_work/fd.runtime.del" "$lbp_fd_done_now" || lbp_fd_undo_and_die "firewalld: $lbp_why"
  lbp_fd_verify || lbp_fd_undo_and_die "firewalld: verification failed: $lbp_why"
  if [ -f "$LBP_DIR/pending" ]; then
    date +%s > "$LBP_DIR/verified"
    lbp_say "result: changed (runtime; firewalld's permanent configuration is written at confirm); rollback armed: the runtime change is undone ${LBP_ROLLBACK_SECONDS}s from now unless a new SSH connection confirms"
  else
    lbp_say "result: changed (rollback guard off); persisting now"
    lbp_fd_persist_checked
    lbp_fd_persist
  fi
}

# Before persisting (confirm: before the guard is disarmed): the runtime still holds the change, and the permanent
# configuration can take it. Dies, with $1 said, when not.
lbp_fd_persist_checked() {
  lbp_fd_prepare confirm "${1:-}"
  [ ! -s "$lbp_work/fd.runtime.add" ] ||
    lbp_die "firewalld: the managed items are not in firewalld's runtime any more (for example zone $(head -n 1 "$lbp_work/fd.runtime.add" | tr '\t' ' ')); nothing was persisted${1:+; ${1:-}}: deploy again"
}

# The same change in firewalld's permanent configuration (its zone files, what it loads at boot and on reload).
lbp_fd_persist() {
  lbp_fd_report_theirs permanent
  # The record: the runtime plan's (retagged) lines, then the permanent plan's.
  cp "$lbp_work/fd.record.runtime" "$lbp_work/fd.record"
  lbp_fd_plan permanent apply
  if [ ! -s "$lbp_work/fd.permanent.add" ] && [ ! -s "$lbp_work/fd.permanent.del" ]; then
    cmp -s "$LBP_RECORD/$lbp_fd_record" "$lbp_work/fd.record.new" 2>/dev/null || lbp_fd_write_record persisted
    lbp_say "persisted (firewalld): its permanent configuration already holds the managed items"
    return 0
  fi
  lbp_fd_write_record persisted
  lbp_fd_change --permanent "$lbp_work/fd.permanent.del" "$lbp_work/fd.permanent.add" ||
    lbp_die "persistence: $lbp_why; the verified rules are live in firewalld's runtime but not all saved (a reload or reboot loses them): deploy again"
  lbp_fd_settled permanent "$lbp_work/fd.permanent.add" "$lbp_work/fd.permanent.del" "the permanent change is partly made: deploy again" ||
    lbp_die "persistence: after firewall-cmd --permanent, $lbp_why: deploy again"
  lbp_say "persisted (firewalld --permanent): $(lbp_fd_summary permanent)"
}

lbp_fd_confirm() {
  lbp_fd_trust persisted
  lbp_fd_families
  # Rolled back already: disarm says so. Otherwise everything that could refuse is checked while the guard is
  # still armed, so a refusal leaves the change to the timer.
  if [ -f "$LBP_DIR/rolledback.$LBP_GEN" ]; then lbp_disarm "undoing the runtime change"; fi
  if [ -f "$LBP_DIR/pending" ]; then
    lbp_fd_persist_checked "the rollback guard stays armed and undoes the runtime change when its window ends"
  else
    lbp_fd_persist_checked
  fi
  lbp_disarm "undoing the runtime change"
  lbp_fd_persist
}

lbp_fd_remove() {
  if [ -f "$LBP_DIR/pending" ] && [ "$(cat "$LBP_DIR/pending")" != "$LBP_GEN" ] && lbp_timer_alive; then
    lbp_die "a change of generation $(cat "$LBP_DIR/pending") awaits confirmation on this host; nothing was removed. Fix: destroy again once that deploy has confirmed or rolled back (within ${LBP_ROLLBACK_SECONDS}s)"
  fi
  rm -f "$LBP_DIR/owner.$LBP_GEN"
  if [ -f "$LBP_DIR/pending" ] && [ "$(cat "$LBP_DIR/pending")" = "$LBP_GEN" ]; then
    lbp_clear_pending
  fi
  { command -v firewall-cmd >/dev/null 2>&1 && lbp_fd_cmd --state; } ||
    lbp_die "the record $LBP_RECORD/$lbp_fd_record lists what generation $LBP_GEN added to firewalld, but firewalld is not running; nothing was removed. Fix: start firewalld (systemctl start firewalld) and destroy again, or remove those items by hand (firewall-offline-cmd) and delete their lines from the record"
  lbp_fd_trust removed
  lbp_say "host: firewalld is running; removing what generation $LBP_GEN added to it (otherFirewall: manage)"
  lbp_fd_done="nothing was removed"
  for lbp_fd_layer in runtime permanent; do
    lbp_fd_list "$lbp_fd_layer" "$lbp_work/fd.$lbp_fd_layer.cur" "$lbp_fd_done"
    lbp_fd_plan "$lbp_fd_layer" remove
    if [ "$lbp_fd_layer" = runtime ]; then lbp_fd_opt=""; else lbp_fd_opt=--permanent; fi
    if [ ! -s "$lbp_work/fd.$lbp_fd_layer.del" ]; then
      lbp_say "firewalld: $lbp_fd_layer: nothing of generation $LBP_GEN to remove"
    else
      lbp_fd_change "$lbp_fd_opt" "$lbp_work/fd.$lbp_fd_layer.del" /dev/null ||
        lbp_die "firewalld: $lbp_fd_layer: $lbp_why; $lbp_fd_done (the record of what is ours is unchanged for it): destroy again"
      lbp_fd_settled "$lbp_fd_layer" /dev/null "$lbp_work/fd.$lbp_fd_layer.del" "$lbp_fd_done" ||
        lbp_die "firewalld: $lbp_fd_layer: after removing, $lbp_why; $lbp_fd_done (the record of what is ours is unchanged for it): destroy again"
      lbp_say "firewalld: $lbp_fd_layer: $(lbp_fd_summary "$lbp_fd_layer") (what generation $LBP_GEN had added)"
    fi
    lbp_fd_write_record removed
    lbp_fd_done="the runtime items were removed, the permanent ones not"
  done
}

lbp_fd_check() {
  lbp_fd_trust checked
  lbp_fd_families
  lbp_drift=0
  for lbp_fd_layer in runtime permanent; do
    lbp_fd_list "$lbp_fd_layer" "$lbp_work/fd.$lbp_fd_layer.cur"
    lbp_fd_plan "$lbp_fd_layer" apply
    if [ -s "$lbp_work/fd.$lbp_fd_layer.add" ] || [ -s "$lbp_work/fd.$lbp_fd_layer.del" ]; then
      lbp_drift=1
      if [ "$lbp_fd_layer" = runtime ]; then
        lbp_say "firewalld: drifted: converging would do: runtime: $(lbp_fd_summary runtime)"
      else
        lbp_say "firewalld: drifted: the runtime is in place but not persisted: the permanent configuration would need $(lbp_fd_summary permanent) (a reload or reboot would lose it); deploy again"
      fi
      break
    fi
  done
  if [ "$lbp_drift" = 1 ]; then
    lbp_say "result: drifted"
    exit 3
  fi
  lbp_say "firewalld: compliant (lo in $(sed -n 's/^L\t//p' "$lbp_work/fd.spec"), $(grep -c '^R' "$lbp_work/fd.spec") rich rules in each of $(grep -c '	zone	$' "$lbp_work/fd.runtime.cur") zones, runtime and permanent)"
  lbp_say "result: compliant"
}

# Does the record hold items of this generation (remove runs also when firewalld is no longer in charge)?
lbp_firewalld_present() {
  [ -f "$LBP_RECORD/$lbp_fd_record" ] && grep -q "^$LBP_GEN	" "$LBP_RECORD/$lbp_fd_record" 2>/dev/null
}

lbp_firewalld_run() {
  command -v lbp_firewalld_rules >/dev/null 2>&1 || lbp_die "this policy has no firewalld rules (it was rendered without otherFirewall: \"manage\"); nothing was changed"
  case "$LBP_MODE" in
    apply) lbp_fd_apply ;;
    confirm) lbp_fd_confirm ;;
    remove) lbp_fd_remove ;;
    check) lbp_fd_check ;;
    *) lbp_die "firewalld: unknown mode $LBP_MODE" ;;
  esac
}
