# ---- backend: native nftables (otherFirewall: "manage", issue 13) ----
# When a native nftables ruleset is in charge, the policy (lbp_nft_rules, rendered from lib/plan/nftables.ts)
# lives in a table of our own, inet loopback_policy (the drops, and lo accepts whose counters verification reads),
# and its accepts go to the top of every other filtering base chain on the input and output hooks: in nftables an
# accept ends evaluation only in its own base chain, a drop in any of them is final.
# Ours, and only ours: our table when every chain and rule in it is of the shape we write; in other base chains, a
# rule whose comment is exactly lbp:<8 hex>:<id> of an id we write there, on exactly the rule we write for it (any
# generation). Everything else is never named, so never touched. One nft -f transaction per change (checked with
# nft -c first); the guard's snapshot is our part of the ruleset (our table, our rules in each base chain), so a
# rollback undoes exactly our change and keeps what other tools added meanwhile.
lbp_nt_prio=-10
lbp_nt_tag='lbp:[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]:[a-z0-9-]+'

# The policy's rules: place <TAB> hook <TAB> id <TAB> rule (lbp_nft_rules calls this once per rule).
lbp_nft_rule() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4"; }

# The rules we ever put into other base chains, whatever the policy: hook <TAB> id <TAB> rule.
lbp_nt_known() {
  printf 'input\tlo-in\t%s\n' 'iif "lo" accept'
  printf 'input\testablished-in\t%s\n' 'ct state established,related accept'
  printf 'output\tlo-out\t%s\n' 'oif "lo" accept'
  printf 'output\testablished-out\t%s\n' 'ct state established,related accept'
}

# A listing without counters and handles, each line trimmed at the end.
lbp_nt_norm() {
  sed -e 's/ packets [0-9]* bytes [0-9]*//g' -e 's/ # handle [0-9]*$//' -e 's/[[:space:]]*$//'
}

# Does $1 (a listing of table inet loopback_policy) hold only what we write? Sets lbp_why when not, and
# lbp_nt_gens to the generations its rules carry.
lbp_nt_table_check() {
  lbp_why=$(lbp_nt_norm < "$1" | awk -v tagre="^$lbp_nt_tag\$" -v gensfile="$lbp_work/nt.gens" '
    /^table inet loopback_policy \{$/ || /^$/ { next }
    /^\tchain (input|output) \{$/ { chain = $2; next }
    /^\t\ttype filter hook (input|output) priority [^;]*; policy accept;$/ && chain != "" && $4 == chain { next }
    /^\t\t/ && chain != "" {
      line = $0; sub(/^\t\t/, "", line)
      if (match(line, / comment "[^"]*"$/)) {
        t = substr(line, RSTART + 10, RLENGTH - 11)
        if (t ~ tagre) { split(t, parts, ":"); gens[parts[2]] = 1; next }
      }
      print "it holds a rule loopback-policy does not write: \"" line "\""; exit
    }
    /^\t\}$/ { chain = ""; next }
    /^\}$/ { next }
    { line = $0; sub(/^\t+/, "", line); print "it holds something loopback-policy does not write: \"" line "\""; exit }
    END { printf "" > gensfile; for (g in gens) printf "gen %s\n", g > gensfile }')
  lbp_nt_gens=$(sed -n 's/^gen //p' "$lbp_work/nt.gens" | sort | tr '\n' ' ')
  [ -z "$lbp_why" ]
}

# Is our table on the host ours? (lbp_other_firewall: a table of ours is nobody else's ruleset.)
lbp_nftables_table_ours() {
  nft list table inet loopback_policy > "$lbp_work/nt.own" 2>/dev/null || return 1
  lbp_nt_table_check "$lbp_work/nt.own"
}

# Parse a ruleset listing (nft -a list ruleset) on stdin. Prints:
#   C <TAB> family table chain <TAB> hook          a filtering base chain on the input or output hook (not ours)
#   R <TAB> family table chain <TAB> position <TAB> handle <TAB> rule   each rule of those chains
#   T                                              our table is there
#   X <TAB> reason                                 something that stops the run
lbp_nt_parse() {
  awk -v tab="$lbp_tab" -v legacy="$1" '
    function out(s) { print s }
    /^table / {
      fam = $2; tbl = $3; intable = 1; chain = ""
      if (tbl ~ /^"/ || fam !~ /^(ip|ip6|inet|arp|bridge|netdev)$/) { out("X" tab "table " $2 " " $3 " has a name loopback-policy cannot parse"); exit }
      if (fam == "inet" && tbl == "loopback_policy") out("T")
      next
    }
    /^\tchain / {
      chain = $2; base = 0; pos = 0
      if (chain ~ /^"/) { out("X" tab "chain " $2 " of table " fam " " tbl " has a name loopback-policy cannot parse"); exit }
      next
    }
    /^\t\ttype / && chain != "" {
      if ($2 == "filter" && $3 == "hook" && ($4 == "input" || $4 == "output") && (fam == "ip" || fam == "ip6" || fam == "inet") && !(fam == "inet" && tbl == "loopback_policy")) {
        base = 1; key = fam " " tbl " " chain
        if ((fam == "ip" || fam == "ip6") && tbl == "filter" && (chain == "INPUT" || chain == "OUTPUT") && legacy == "nft") {
          out("X" tab "iptables-nft'"'"'s chain " chain " of table " fam " filter is loaded beside the native nftables ruleset: a rule added to it natively would be changed or lost by the next iptables-save/restore. Fix: manage the host with one of them (otherFirewall: \"ignore\" applies with iptables)"); exit
        }
        out("C" tab key tab $4)
      }
      next
    }
    /^\t\}/ { chain = ""; base = 0; next }
    /^\t\t/ && base && / # handle [0-9]+$/ {
      line = $0; sub(/^\t\t/, "", line)
      h = line; sub(/.* # handle /, "", h); sub(/ # handle [0-9]+$/, "", line)
      gsub(/ packets [0-9]+ bytes [0-9]+/, "", line)
      out("R" tab key tab (++pos) tab h tab line)
      next
    }'
}

# Scan the host: $lbp_work/nt.chains (key <TAB> hook), nt.rules, nt.table (our table, normalized; empty when
# absent). Returns 1 with lbp_why when the ruleset cannot be read or must not be touched.
lbp_nt_scan() {
  lbp_why=""
  if ! nft -a list ruleset > "$lbp_work/nt.rs" 2>"$lbp_work/nt.err"; then
    lbp_why="nft list ruleset failed: $(tail -n 1 "$lbp_work/nt.err")"; return 1
  fi
  lbp_nt_ipt=legacy
  case "$(iptables -V 2>/dev/null)" in *nf_tables*) lbp_nt_ipt=nft ;; esac
  lbp_nt_parse "$lbp_nt_ipt" < "$lbp_work/nt.rs" > "$lbp_work/nt.parsed"
  lbp_why=$(sed -n 's/^X\t//p' "$lbp_work/nt.parsed" | head -n 1)
  [ -z "$lbp_why" ] || return 1
  sed -n 's/^C\t//p' "$lbp_work/nt.parsed" > "$lbp_work/nt.chains"
  sed -n 's/^R\t//p' "$lbp_work/nt.parsed" > "$lbp_work/nt.rules"
  : > "$lbp_work/nt.table"
  lbp_nt_gens=""
  if grep -q '^T$' "$lbp_work/nt.parsed"; then
    nft list table inet loopback_policy > "$lbp_work/nt.own" 2>"$lbp_work/nt.err" || { lbp_why="nft list table inet loopback_policy failed: $(tail -n 1 "$lbp_work/nt.err")"; return 1; }
    lbp_nt_table_check "$lbp_work/nt.own" || { lbp_why="table inet loopback_policy is not as loopback-policy writes it: $lbp_why. Fix: move that to a table of your own, or delete the table (nft delete table inet loopback_policy) and deploy again"; return 1; }
    lbp_nt_norm < "$lbp_work/nt.own" > "$lbp_work/nt.table"
  fi
  lbp_nt_classify
}

# Which rules of the other base chains are ours: nt.ours (key <TAB> position <TAB> handle <TAB> rule <TAB> tag)
# and nt.look (key <TAB> rule: a comment like ours on a rule we do not write; reported, never touched).
lbp_nt_classify() {
  # A tag is ours only when its generation is in root's record (written by apply before it changes anything): a rule
  # someone else wrote with a comment like ours, even on exactly the rule we write, is a lookalike.
  lbp_recorded_generations nftables.generations
  awk -v tagre="^$lbp_nt_tag\$" -v gens=" $lbp_gens " -v ours="$lbp_work/nt.ours" -v look="$lbp_work/nt.look" '
    BEGIN { FS = "\t"; printf "" > ours; printf "" > look }
    FILENAME == ARGV[1] { known[$1, $2] = $3; next }
    FILENAME == ARGV[2] { hook[$1] = $2; next }
    {
      line = $4
      if (tolower(line) !~ /lbp/) next
      t = ""; r = line
      if (match(line, / comment "[^"]*"$/)) { t = substr(line, RSTART + 10, RLENGTH - 11); r = substr(line, 1, RSTART - 1) }
      if (t ~ tagre) { id = t; sub(/^lbp:[0-9a-f]+:/, "", id); g = t; sub(/^lbp:/, "", g); sub(/:.*/, "", g); if (index(gens, " " g " ") && ((hook[$1], id) in known) && known[hook[$1], id] == r) { print $1 "\t" $2 "\t" $3 "\t" line "\t" t > ours; next } }
      print $1 "\t" line > look
    }' "$lbp_work/nt.canon.known" "$lbp_work/nt.chains" "$lbp_work/nt.rules"
}

lbp_nt_report_lookalikes() {
  [ -s "$lbp_work/nt.look" ] || return 0
  while IFS="$lbp_tab" read -r lbp_lk lbp_ll; do
    lbp_say "nftables: left alone, not ours: \"$lbp_ll\" in $lbp_lk (its comment looks like loopback-policy's, but it is not a rule loopback-policy writes there)"
  done < "$lbp_work/nt.look"
}

# The canonical text nft prints for what we write, from a scratch network namespace: nt.canon.table (our table
# as this generation wants it, normalized) and nt.canon.known (hook <TAB> id <TAB> rule, for the other chains).
lbp_nt_canon() {
  lbp_nft_rules > "$lbp_work/nt.want"
  {
    echo "table inet loopback_policy {"
    for lbp_h in input output; do
      printf '\tchain %s {\n\t\ttype filter hook %s priority %s; policy accept;\n' "$lbp_h" "$lbp_h" "$lbp_nt_prio"
      awk -F '\t' -v h="$lbp_h" -v g="$LBP_GEN" '$1 == "table" && $2 == h { printf "\t\t%s comment \"lbp:%s:%s\"\n", $4, g, $3 }' "$lbp_work/nt.want"
      printf '\t}\n'
    done
    echo "}"
    echo "table inet loopback_policy_canon {"
    for lbp_h in input output; do
      printf '\tchain %s {\n' "$lbp_h"
      lbp_nt_known | awk -F '\t' -v h="$lbp_h" '$1 == h { printf "\t\t%s comment \"lbp:00000000:%s\"\n", $3, $2 }'
      printf '\t}\n'
    done
    echo "}"
  } > "$lbp_work/nt.canon.nft"
  command -v unshare >/dev/null 2>&1 || { lbp_why="unshare (util-linux) is not installed: it is needed to learn how nft prints the rules"; return 1; }
  # shellcheck disable=SC2016 # expanded by the inner sh
  if ! unshare -n sh -c 'nft -f "$1" && nft list ruleset' lbp-canon "$lbp_work/nt.canon.nft" > "$lbp_work/nt.canon.rs" 2>"$lbp_work/nt.err"; then
    lbp_why="nft rejects the policy's rules in a scratch namespace: $(tail -n 1 "$lbp_work/nt.err")"; return 1
  fi
  lbp_nt_norm < "$lbp_work/nt.canon.rs" | awk '/^table inet loopback_policy \{$/ { on = 1 } on { print } on && /^\}$/ { exit }' > "$lbp_work/nt.canon.table"
  lbp_nt_norm < "$lbp_work/nt.canon.rs" | awk -v tab="$lbp_tab" '
    /^table inet loopback_policy_canon / { on = 1; next }
    on && /^\tchain / { h = $2; next }
    on && /^\t\t/ { line = $0; sub(/^\t\t/, "", line); id = line; sub(/.* comment "lbp:00000000:/, "", id); sub(/"$/, "", id); sub(/ comment "[^"]*"$/, "", line); print h tab id tab line }' > "$lbp_work/nt.canon.known"
  # The policy may only ask for rules in the other chains that a later run will recognise as ours.
  lbp_why=$(awk -F '\t' 'FILENAME == ARGV[1] { k[$1, $2] = 1; next } $1 == "every" && !(($2, $3) in k) { print "the policy puts a rule (" $3 ") into other chains that this engine does not know"; exit }' "$lbp_work/nt.canon.known" "$lbp_work/nt.want")
  [ -z "$lbp_why" ]
}

# A target state of our part, in the snapshot format: "T <TAB> line" (our table, normalized listing; none: no
# table) and "F <TAB> key <TAB> rule" (our rules at the top of base chain key, in order).
# The state this generation wants, for the chains on the host now:
lbp_nt_desired() {
  sed 's/^/T\t/' "$lbp_work/nt.canon.table"
  awk -F '\t' -v g="$LBP_GEN" '
    FILENAME == ARGV[1] { known[$1, $2] = $3; next }
    FILENAME == ARGV[2] { if ($1 == "every") { n[$2]++; id[$2, n[$2]] = $3 } next }
    { for (i = 1; i <= n[$2]; i++) printf "F\t%s\t%s comment \"lbp:%s:%s\"\n", $1, known[$2, id[$2, i]], g, id[$2, i] }' \
    "$lbp_work/nt.canon.known" "$lbp_work/nt.want" "$lbp_work/nt.chains"
}
# The state on the host now (what the guard restores):
lbp_nt_current() {
  sed 's/^/T\t/' "$lbp_work/nt.table"
  sort -t "$lbp_tab" -k1,1 -k2,2n "$lbp_work/nt.ours" | awk -F '\t' '{ print "F\t" $1 "\t" $4 }'
}

# The nft -f transaction that takes the host (last lbp_nt_scan) to target $1: $lbp_work/nt.tx (empty when the host
# is there) and what it does, $lbp_work/nt.did (one item a line).
lbp_nt_plan() {
  : > "$lbp_work/nt.tx"
  : > "$lbp_work/nt.did"
  sed -n 's/^T\t//p' "$1" > "$lbp_work/nt.ttable"
  if ! cmp -s "$lbp_work/nt.ttable" "$lbp_work/nt.table"; then
    if [ -s "$lbp_work/nt.table" ]; then
      echo "delete table inet loopback_policy" >> "$lbp_work/nt.tx"
      if [ -s "$lbp_work/nt.ttable" ]; then echo "rewrote table inet loopback_policy" >> "$lbp_work/nt.did"; else echo "deleted table inet loopback_policy" >> "$lbp_work/nt.did"; fi
    else
      echo "added table inet loopback_policy" >> "$lbp_work/nt.did"
    fi
    cat "$lbp_work/nt.ttable" >> "$lbp_work/nt.tx"
  fi
  awk -F '\t' -v tx="$lbp_work/nt.tx" -v did="$lbp_work/nt.did" '
    FILENAME == ARGV[1] { if ($1 == "F") { nt[$2]++; t[$2, nt[$2]] = $3 } next }
    FILENAME == ARGV[2] { keys[++nk] = $1; next }
    { no[$1]++; op[$1, no[$1]] = $2; oh[$1, no[$1]] = $3; orl[$1, no[$1]] = $4 }
    END {
      for (k = 1; k <= nk; k++) {
        c = keys[k]; ok = (no[c] == nt[c])
        for (i = 1; ok && i <= nt[c]; i++) if (op[c, i] != i || orl[c, i] != t[c, i]) ok = 0
        if (ok) continue
        for (i = 1; i <= no[c]; i++) print "delete rule " c " handle " oh[c, i] >> tx
        for (i = nt[c]; i >= 1; i--) print "insert rule " c " " t[c, i] >> tx
        what = ""
        for (i = 1; i <= nt[c]; i++) {
          id = t[c, i]; sub(/.*:/, "", id); sub(/"$/, "", id)
          seen = 0; for (j = 1; j <= no[c]; j++) if (orl[c, j] == t[c, i]) seen = 1
          what = what (what == "" ? "" : ", ") (seen ? "moved " : "added ") id
        }
        for (j = 1; j <= no[c]; j++) {
          keep = 0; for (i = 1; i <= nt[c]; i++) if (orl[c, j] == t[c, i]) keep = 1
          if (!keep) { tg = orl[c, j]; sub(/.* comment "/, "", tg); sub(/"$/, "", tg); what = what (what == "" ? "" : ", ") "removed " tg }
        }
        print c ": " what >> did
      }
    }' "$1" "$lbp_work/nt.chains" "$lbp_work/nt.ours"
}

# Run the transaction in $lbp_work/nt.tx: checked (nft -c) first, then one nft -f. Sets lbp_why on failure.
lbp_nt_commit() {
  if ! nft -c -f "$lbp_work/nt.tx" 2>"$lbp_work/nt.err"; then
    lbp_why="nft -c rejects the change, nothing of it was applied: $(grep -v '^ *^*$' "$lbp_work/nt.err" | head -n 2 | tr '\n' ' ')"; return 1
  fi
  if ! nft -f "$lbp_work/nt.tx" 2>"$lbp_work/nt.err"; then
    lbp_why="nft -f refused the change, nothing of it was applied: $(head -n 2 "$lbp_work/nt.err" | tr '\n' ' ')"; return 1
  fi
}

lbp_nt_did() { tr '\n' ';' < "$lbp_work/nt.did" | sed -e 's/;$//' -e 's/;/; /g'; }

# Take the host to the state in file $1 (the guard's snapshot, or a remove's target); the ruleset may change
# underneath (a handle gone), so a refused change is planned again, three times at most.
lbp_nt_converge_to() {
  lbp_nt_try=1
  while :; do
    lbp_nt_scan || return 1
    lbp_nt_plan "$1"
    [ -s "$lbp_work/nt.tx" ] || return 0
    lbp_nt_commit && return 0
    [ "$lbp_nt_try" -lt 3 ] || return 1
    lbp_nt_try=$((lbp_nt_try + 1))
  done
}

# The guard's restore (lbp_restore_snapshots, for the timer and for apply): our part as it was, nothing else.
lbp_nftables_restore() {
  [ -f "$LBP_DIR/snapshot.nftables" ] || return 0
  lbp_nt_canon_known_only
  lbp_nt_converge_to "$LBP_DIR/snapshot.nftables"
}
# Recognising our rules needs only the known shapes (a restore runs whatever policy armed it).
lbp_nt_canon_known_only() {
  [ -s "$lbp_work/nt.canon.known" ] || lbp_nt_canon || return 1
}

# Counters of this generation's lo-in and lo-out rules in our table, "in out" (-1 when missing).
lbp_nt_counters() {
  nft list table inet loopback_policy 2>/dev/null | awk -v i="comment \"lbp:$LBP_GEN:lo-in\"" -v o="comment \"lbp:$LBP_GEN:lo-out\"" '
    function count(s) { sub(/.* packets /, "", s); sub(/ .*/, "", s); return s }
    index($0, i) { cin = count($0) }
    index($0, o) { cout = count($0) }
    END { print (cin == "" ? -1 : cin), (cout == "" ? -1 : cout) }'
}

lbp_nt_verify() {
  if [ "$LBP_VERIFY" = off ]; then
    lbp_say "nftables: verification is off by policy"
    return 0
  fi
  for lbp_fam in $lbp_nt_families; do
    read -r lbp_in0 lbp_out0 <<LBP_C
$(lbp_nt_counters)
LBP_C
    lbp_why=""
    lbp_probe "$(lbp_loopback_address "$lbp_fam")" || { lbp_why="$lbp_fam: $lbp_why"; return 1; }
    read -r lbp_in1 lbp_out1 <<LBP_C
$(lbp_nt_counters)
LBP_C
    if [ "$lbp_in1" -le "$lbp_in0" ] || [ "$lbp_out1" -le "$lbp_out0" ]; then
      lbp_why="$lbp_fam: the loopback test passed but the lo rules of table inet loopback_policy did not count it (lo-in $lbp_in0 -> $lbp_in1, lo-out $lbp_out0 -> $lbp_out1)"
      return 1
    fi
    lbp_say "$lbp_fam: verified: $lbp_how ok; counters lo-in $lbp_in0 -> $lbp_in1, lo-out $lbp_out0 -> $lbp_out1 (table inet loopback_policy)"
  done
}

# The families verified: IPv6 only when the kernel has it on (nft itself needs no ip6tables).
lbp_nt_pick_families() {
  lbp_nt_families=ipv4
  if [ "$LBP_IPV6" = off ]; then
    lbp_say "ipv6: skipped: the policy turns IPv6 off"
    return 0
  fi
  lbp_v6why=""
  if [ ! -e /proc/net/if_inet6 ]; then lbp_v6why="the kernel has no IPv6"
  elif [ "$(cat /proc/sys/net/ipv6/conf/lo/disable_ipv6 2>/dev/null)" = 1 ]; then lbp_v6why="IPv6 is disabled on lo"
  fi
  if [ -z "$lbp_v6why" ]; then
    lbp_nt_families="ipv4 ipv6"
  elif [ "$LBP_IPV6" = required ]; then
    lbp_die "ipv6 is required by the policy but $lbp_v6why"
  else
    lbp_say "ipv6: not verified: $lbp_v6why (the ip6 rules are in place all the same)"
  fi
}

# ---- persistence the distro's way ----
# The main file the distro loads at boot (RHEL: /etc/sysconfig/nftables.conf; Debian: /etc/nftables.conf), our
# file (in the record directory, root's alone) and the one line that includes it.
lbp_nt_persist_target() {
  lbp_nt_file="$LBP_RECORD/loopback-policy.nft"
  lbp_nt_line="include \"$lbp_nt_file\" # loopback-policy: its rules, after yours; destroy removes this line"
  lbp_nt_main="" lbp_nt_pmethod=none
  case "$LBP_PERSIST" in
    none) return 0 ;;
    auto) ;;
    *) lbp_die "persistence: $LBP_PERSIST writes iptables-save files, which nftables does not load; with nftables in charge use persistence \"auto\" (the distro's nftables.conf) or \"none\"; nothing was changed" ;;
  esac
  if [ -f /etc/sysconfig/nftables.conf ]; then lbp_nt_main=/etc/sysconfig/nftables.conf lbp_nt_pmethod=rhel
  elif [ -f /etc/nftables.conf ]; then lbp_nt_main=/etc/nftables.conf lbp_nt_pmethod=debian
  fi
}

# Is the main file one root alone could have written, and may we write it? lbp_why when not.
lbp_nt_main_ok() {
  if [ -L "$lbp_nt_main" ]; then lbp_why="$lbp_nt_main is a symbolic link (to $(readlink "$lbp_nt_main"))"; return 1; fi
  read -r lbp_mu lbp_mm <<LBP_S
$(lbp_mode_of "$lbp_nt_main")
LBP_S
  lbp_mm=$(lbp_octal "$lbp_mm")
  if [ "$lbp_mu" != 0 ] || [ $((lbp_mm & 18)) -ne 0 ]; then
    lbp_why="$lbp_nt_main belongs to uid $lbp_mu with mode $(printf '%o' "$lbp_mm"), so another user could change what root loads at boot"; return 1
  fi
  lbp_bad=$(lbp_ancestors_unsafe "$lbp_nt_main" 0)
  [ -z "$lbp_bad" ] || { lbp_why="$lbp_nt_main is not safe: $lbp_bad"; return 1; }
  [ -w "$lbp_nt_main" ] || { lbp_why="$lbp_nt_main is not writable"; return 1; }
}

# What our file holds: our table, then our rules into each base chain the main file defines (they load after the
# user's own ruleset). Writes $lbp_work/nt.persist; lbp_nt_pskipped: the live chains it cannot persist into.
lbp_nt_persist_text() {
  grep -v -x -F -- "$lbp_nt_line" "$lbp_nt_main" > "$lbp_work/nt.main.base" || :
  # shellcheck disable=SC2016 # expanded by the inner sh
  if ! unshare -n sh -c 'nft -f "$1" && nft -a list ruleset' lbp-boot "$lbp_work/nt.main.base" > "$lbp_work/nt.boot.rs" 2>"$lbp_work/nt.err"; then
    lbp_why="$lbp_nt_main does not load in a scratch network namespace ($(head -n 1 "$lbp_work/nt.err")), so what loads at boot cannot be checked"; return 1
  fi
  lbp_nt_parse "$lbp_nt_ipt" < "$lbp_work/nt.boot.rs" | sed -n 's/^C\t//p' > "$lbp_work/nt.boot.chains"
  {
    echo "# loopback-policy generation $LBP_GEN (policy $LBP_POLICY): written by loopback-policy, loaded by $lbp_nt_main"
    echo "# through its last line; destroy removes both. Do not edit: the next deploy rewrites it."
    echo "table inet loopback_policy"
    echo "delete table inet loopback_policy"
    cat "$lbp_work/nt.canon.table"
    awk -F '\t' -v g="$LBP_GEN" '
      FILENAME == ARGV[1] { known[$1, $2] = $3; next }
      FILENAME == ARGV[2] { if ($1 == "every") { n[$2]++; id[$2, n[$2]] = $3 } next }
      { for (i = n[$2]; i >= 1; i--) printf "insert rule %s %s comment \"lbp:%s:%s\"\n", $1, known[$2, id[$2, i]], g, id[$2, i] }' \
      "$lbp_work/nt.canon.known" "$lbp_work/nt.want" "$lbp_work/nt.boot.chains"
  } > "$lbp_work/nt.persist"
  cut -f 1 "$lbp_work/nt.boot.chains" > "$lbp_work/nt.boot.keys"
  lbp_nt_pskipped=$(cut -f 1 "$lbp_work/nt.chains" | grep -v -x -F -f "$lbp_work/nt.boot.keys" | tr '\n' ',' | sed -e 's/,$//' -e 's/,/, /g')
}

lbp_nt_persist() {
  lbp_nt_persist_target
  if [ "$lbp_nt_pmethod" = none ]; then
    if [ "$LBP_PERSIST" = none ]; then
      lbp_say "persistence: none by policy; the live rules are lost at reboot"
    else
      lbp_say "persistence: WARNING: no nftables configuration found (/etc/nftables.conf, /etc/sysconfig/nftables.conf); the live rules are lost at reboot"
    fi
    return 0
  fi
  lbp_nt_main_ok || lbp_die "persistence: refusing to change $lbp_nt_main: $lbp_why; the verified rules are live but not saved. Fix: make it root's alone (chown root:root, chmod 644)"
  lbp_nt_persist_text || lbp_die "persistence: $lbp_why; the verified rules are live but not saved"
  # What boots must load: the main file with our line, in a scratch namespace, with our table in it.
  cp "$lbp_work/nt.persist" "$lbp_work/nt.persist.try"
  { cat "$lbp_work/nt.main.base"; echo "include \"$lbp_work/nt.persist.try\""; } > "$lbp_work/nt.main.try"
  # shellcheck disable=SC2016 # expanded by the inner sh
  if ! unshare -n sh -c 'nft -f "$1" && nft list table inet loopback_policy' lbp-boot "$lbp_work/nt.main.try" > /dev/null 2>"$lbp_work/nt.err"; then
    lbp_die "persistence: $lbp_nt_main with our include does not load ($(head -n 1 "$lbp_work/nt.err")); the verified rules are live but not saved; $lbp_nt_main is unchanged"
  fi
  lbp_secure_dir "$LBP_RECORD" record
  if [ -f "$lbp_nt_file" ] && cmp -s "$lbp_work/nt.persist" "$lbp_nt_file"; then
    lbp_say "nftables: persisted ($lbp_nt_pmethod): $lbp_nt_file already holds the live rules"
  else
    lbp_write_file "$lbp_work/nt.persist" "$lbp_nt_file" || lbp_die "persistence: $lbp_why; the verified rules are live but not saved"
    chmod 600 "$lbp_nt_file" 2>/dev/null || :
    lbp_say "nftables: persisted ($lbp_nt_pmethod): wrote $lbp_nt_file (table inet loopback_policy; $(grep -c '^insert rule' "$lbp_work/nt.persist") rules into $(cut -f 1 "$lbp_work/nt.boot.chains" | tr '\n' ',' | sed -e 's/,$//' -e 's/,/, /g'))"
  fi
  if grep -q -x -F -- "$lbp_nt_line" "$lbp_nt_main"; then
    lbp_say "nftables: persisted ($lbp_nt_pmethod): $lbp_nt_main already includes it"
  else
    { cat "$lbp_nt_main"; [ -z "$(tail -c 1 "$lbp_nt_main")" ] || echo; echo "$lbp_nt_line"; } > "$lbp_work/nt.main.new"
    lbp_nt_write_main || lbp_die "persistence: $lbp_why; the verified rules are live but not loaded at boot"
    lbp_say "nftables: persisted ($lbp_nt_pmethod): added one line at the end of $lbp_nt_main: $lbp_nt_line"
  fi
  [ -z "$lbp_nt_pskipped" ] || lbp_say "nftables: persistence: WARNING: $lbp_nt_main does not define $lbp_nt_pskipped (another tool adds it after boot): its lo accept is live only; deploy again after that tool loads its rules"
}

# Replace the main file with $lbp_work/nt.main.new. A main file that is a mount point (a container's bind-mounted
# file) cannot be replaced by a rename: it is then rewritten in place and read back.
lbp_nt_write_main() {
  lbp_write_file "$lbp_work/nt.main.new" "$lbp_nt_main" && return 0
  case "$lbp_why" in
    *"Device or resource busy"*) ;;
    *) return 1 ;;
  esac
  if ! { cat "$lbp_work/nt.main.new" > "$lbp_nt_main"; } 2>"$lbp_work/nt.err" || ! cmp -s "$lbp_work/nt.main.new" "$lbp_nt_main"; then
    lbp_why="rewriting $lbp_nt_main in place (a mount point) failed ($(tail -n 1 "$lbp_work/nt.err")): check it by hand"
    return 1
  fi
}

# Remove our line from the main file and our file, when they are this generation's.
lbp_nt_unpersist() {
  lbp_nt_persist_target
  [ -f "$lbp_nt_file" ] || [ -n "$lbp_nt_main" ] || return 0
  if [ -f "$lbp_nt_file" ] && ! head -n 1 "$lbp_nt_file" | grep -q "^# loopback-policy generation $LBP_GEN "; then
    lbp_say "nftables: left $lbp_nt_file in place: it is of another generation ($(head -n 1 "$lbp_nt_file" | cut -d ' ' -f 4))"
    return 0
  fi
  if [ -n "$lbp_nt_main" ] && grep -q -x -F -- "$lbp_nt_line" "$lbp_nt_main"; then
    lbp_nt_main_ok || lbp_die "persistence: refusing to change $lbp_nt_main: $lbp_why; the live rules were removed but it still loads them at boot"
    grep -v -x -F -- "$lbp_nt_line" "$lbp_nt_main" > "$lbp_work/nt.main.new" || :
    lbp_nt_write_main || lbp_die "persistence: $lbp_why; the live rules were removed but $lbp_nt_main still loads them at boot"
    lbp_say "nftables: removed the line $lbp_nt_line from $lbp_nt_main"
  fi
  if [ -f "$lbp_nt_file" ]; then
    rm -f "$lbp_nt_file"
    lbp_say "nftables: removed $lbp_nt_file"
  fi
}

# Does the persisted configuration hold what the live rules are? lbp_why when not.
lbp_nt_persisted() {
  lbp_nt_persist_target
  [ "$lbp_nt_pmethod" != none ] || return 0
  lbp_nt_persist_text || return 1
  cmp -s "$lbp_work/nt.persist" "$lbp_nt_file" 2>/dev/null || { lbp_why="$lbp_nt_file does not hold the live rules"; return 1; }
  grep -q -x -F -- "$lbp_nt_line" "$lbp_nt_main" || { lbp_why="$lbp_nt_main does not include $lbp_nt_file"; return 1; }
}

# ---- the modes ----
lbp_nt_start() {
  command -v nft >/dev/null 2>&1 || lbp_die "nft is not installed; nothing was changed"
  lbp_say "host: native nftables in charge ($(nft --version 2>/dev/null | head -n 1)); policy $LBP_POLICY; generation $LBP_GEN"
  lbp_nt_canon || lbp_die "nftables: $lbp_why; nothing was changed"
  lbp_nt_scan || lbp_die "nftables: $lbp_why; nothing was changed"
  lbp_nt_report_lookalikes
}

lbp_nt_apply() {
  lbp_nt_persist_target
  # Confirm will have to write the main file: refused now, before anything changes, when it may not be.
  if [ -n "$lbp_nt_main" ]; then
    lbp_nt_main_ok || lbp_die "persistence: refusing to change $lbp_nt_main: $lbp_why; nothing was changed. Fix: make it root's alone (chown root:root, chmod 644)"
  fi
  lbp_nt_pick_families
  lbp_nt_start
  lbp_settle_pending
  if [ "$lbp_settled" = rolledback ]; then
    lbp_nt_scan || lbp_die "nftables: $lbp_why; nothing was changed"
  fi
  # The snapshot: our part of the ruleset as it is (what the guard and a failed verification restore).
  lbp_nt_current > "$lbp_work/snapshot.nftables" || lbp_die "cannot write the snapshot to $lbp_work; nothing was changed"
  lbp_nt_desired > "$lbp_work/nt.target"
  lbp_nt_plan "$lbp_work/nt.target"
  lbp_armed=0 lbp_changed=0
  if [ -s "$lbp_work/nt.tx" ]; then
    if [ "$LBP_ROLLBACK_SECONDS" -gt 0 ] && [ ! -f "$LBP_DIR/pending" ]; then
      lbp_nt_fams=${lbp_families:-}
      lbp_families=nftables
      lbp_arm_rollback
      lbp_families=$lbp_nt_fams
      lbp_armed=1
      # @backend marker: lbp_restore_snapshots restores through lbp_nftables_restore.
      echo nftables > "$LBP_DIR/backend"
    fi
    lbp_say "nftables: $(lbp_nt_did)"
    # Before the change: a rollback or a later run must recognise what this one writes.
    lbp_record_generation nftables.generations
    [ ! -f "$LBP_DIR/pending" ] || : > "$LBP_DIR/changed"
    lbp_nt_commit || { [ "$lbp_armed" = 0 ] || rm -f "$LBP_DIR/changed"; lbp_die "nftables: $lbp_why"; }
    lbp_changed=1
  else
    lbp_say "nftables: unchanged (table inet loopback_policy and $(wc -l < "$lbp_work/nt.ours" | tr -d ' ') rules in $(wc -l < "$lbp_work/nt.chains" | tr -d ' ') other base chains in place, in order)"
  fi
  if ! lbp_nt_verify; then
    [ "$lbp_changed" = 1 ] || lbp_die "verification failed: $lbp_why. Nothing was changed or persisted"
    lbp_nt_vwhy=$lbp_why
    if lbp_nt_converge_to "$lbp_work/snapshot.nftables"; then
      lbp_clear_pending
      lbp_die "verification failed: $lbp_nt_vwhy. The previous rules were restored; nothing was persisted"
    fi
    lbp_die "verification failed: $lbp_nt_vwhy, AND restoring the previous rules failed ($lbp_why): check the host by hand (nft list ruleset)"
  fi
  if [ "$lbp_changed" = 0 ]; then
    [ "$lbp_armed" = 0 ] || lbp_clear_pending
    lbp_say "result: unchanged"
  elif [ -f "$LBP_DIR/pending" ]; then
    date +%s > "$LBP_DIR/verified"
    lbp_say "result: changed; rollback armed: the previous rules come back ${LBP_ROLLBACK_SECONDS}s from now unless a new SSH connection confirms"
  else
    lbp_say "result: changed (rollback guard off)"
  fi
}

lbp_nt_confirm() {
  lbp_disarm "restoring the previous rules"
  lbp_nt_persist_target
  lbp_nt_start
  lbp_nt_desired > "$lbp_work/nt.target"
  lbp_nt_plan "$lbp_work/nt.target"
  [ ! -s "$lbp_work/nt.tx" ] || lbp_die "nftables: the managed rules are not in place any more ($(lbp_nt_did) would be needed); nothing was persisted: deploy again"
  lbp_nt_persist
}

lbp_nt_remove() {
  lbp_nt_persist_target
  lbp_nt_start
  rm -f "$LBP_DIR/owner.$LBP_GEN"
  if [ -f "$LBP_DIR/pending" ] && [ "$(cat "$LBP_DIR/pending")" = "$LBP_GEN" ]; then
    lbp_clear_pending
  fi
  # The target: the host without this generation's part (by the comment alone).
  {
    if [ -n "$lbp_nt_gens" ] && [ "$lbp_nt_gens" != "$LBP_GEN " ]; then sed 's/^/T\t/' "$lbp_work/nt.table"; fi
    sort -t "$lbp_tab" -k1,1 -k2,2n "$lbp_work/nt.ours" | awk -F '\t' -v g="lbp:$LBP_GEN:" 'index($5, g) != 1 { print "F\t" $1 "\t" $4 }'
  } > "$lbp_work/nt.target"
  [ -z "$lbp_nt_gens" ] || [ "$lbp_nt_gens" = "$LBP_GEN " ] || lbp_say "nftables: left table inet loopback_policy in place: it holds generation(s) $lbp_nt_gens"
  lbp_nt_plan "$lbp_work/nt.target"
  if [ -s "$lbp_work/nt.tx" ]; then
    lbp_nt_commit || lbp_die "nftables: $lbp_why; nothing was removed"
    lbp_say "nftables: removed generation $LBP_GEN: $(lbp_nt_did)"
  else
    lbp_say "nftables: no managed rules of generation $LBP_GEN to remove"
  fi
  lbp_nt_unpersist
}

lbp_nt_check() {
  lbp_nt_persist_target
  lbp_nt_start
  lbp_nt_desired > "$lbp_work/nt.target"
  lbp_nt_plan "$lbp_work/nt.target"
  if [ -s "$lbp_work/nt.tx" ]; then
    lbp_say "nftables: drifted: converging would do: $(lbp_nt_did)"
    lbp_say "result: drifted"
    exit 3
  fi
  if ! lbp_nt_persisted; then
    lbp_say "nftables: drifted: converging would do: persist the live rules ($lbp_why: a reboot would lose them)"
    lbp_say "result: drifted"
    exit 3
  fi
  lbp_say "nftables: compliant (table inet loopback_policy; $(wc -l < "$lbp_work/nt.ours" | tr -d ' ') rules at the top of $(cut -f 1 "$lbp_work/nt.chains" | tr '\n' ',' | sed -e 's/,$//' -e 's/,/, /g'))"
  lbp_say "result: compliant"
}

# Called by lbp_preflight (apply, confirm, check) and lbp_remove when nftables is in charge.
lbp_nftables_run() {
  case "$LBP_MODE" in
    apply) lbp_nt_apply ;;
    confirm) lbp_nt_confirm ;;
    remove) lbp_nt_remove ;;
    check) lbp_nt_check ;;
    *) lbp_die "nftables: unknown mode $LBP_MODE" ;;
  esac
}

# Is anything of ours in nftables (remove must reach it even when nothing else is in charge any more)? Our table,
# or our persisted file. (Not a comment like ours in the ruleset: iptables-nft's own rules show theirs there.)
lbp_nftables_present() {
  command -v nft >/dev/null 2>&1 || return 1
  nft list table inet loopback_policy >/dev/null 2>&1 || [ -f "$LBP_RECORD/loopback-policy.nft" ]
}
