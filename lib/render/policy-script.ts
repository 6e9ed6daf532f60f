import { createHash } from "crypto";
import { Policy } from "../policy/options";
import { PlannedRule, RulePlan, ruleCommand } from "../plan/rules";
import { UfwPlan, planUfw } from "../plan/ufw";
import { NftStatement, nftCommand, planNftables } from "../plan/nftables";
import { FirewalldPlan, planFirewalld } from "../plan/firewalld";
import { shellQuote } from "./shell";

/** The policy part of a host script, and its key. */
export interface PolicyScript {
  /** 12 hex digits of the SHA-256 of `text`: equal policies share one key, one script. */
  readonly key: string;
  /** POSIX sh that sets the policy's `LBP_*` settings and defines `lbp_rules`. */
  readonly text: string;
}

/**
 * Render the policy as shell: settings, then the ordered rules as `lbp_rule family chain id match target` calls,
 * each preceded by the command a person would type, so the synthesized plan reads as the rules it applies.
 */
export function renderPolicyScript(policy: Policy, plan: RulePlan): PolicyScript {
  const settings: Array<[string, string]> = [
    ["LBP_IPV6", policy.ipv6],
    ["LBP_PERSIST", policy.persistence.mode],
    ["LBP_PERSIST_V4", policy.persistence.v4Path],
    ["LBP_PERSIST_V6", policy.persistence.v6Path],
    ["LBP_OTHER_FIREWALL", policy.otherFirewall],
    ["LBP_VERIFY", policy.verify],
    ["LBP_ROLLBACK_SECONDS", String(policy.rollbackSeconds)],
    ["LBP_LOCK_WAIT", String(policy.lockWaitSeconds)],
  ];
  const body = [
    "# ---- loopback-policy: the policy ----",
    ...settings.map(([k, v]) => `${k}=${shellQuote(v)}`),
    // A comment, not a setting (the engine has no use for it), so that the key tells every-apply policies
    // apart. Absent for the default: keys (and generations) of on-change policies are what they always were.
    ...(policy.enforce === "every-apply" ? ["# enforce: every-apply (Terraform runs this script on every apply)"] : []),
    "# Managed rules, top of each chain, in this order:",
    "lbp_rules() {",
    ...[...plan.ipv4, ...plan.ipv6].flatMap(ruleLines),
    "  :",
    "}",
    // Only a policy that manages the firewall in charge carries the rules in that firewall's terms: every other
    // policy renders (and keys) exactly as before.
    ...(policy.otherFirewall === "manage" ? ufwLines(planUfw(policy)) : []),
    // Only for otherFirewall "manage": the same policy in nftables' terms, for when a native nftables ruleset is
    // in charge (engine-nftables.sh). Other policies render exactly as before.
    ...(policy.otherFirewall === "manage" ? nftLines(policy) : []),
    // Only for otherFirewall "manage": the same policy in firewalld's terms (engine-firewalld.sh).
    ...(policy.otherFirewall === "manage" ? firewalldLines(planFirewalld(policy)) : []),
  ].join("\n");
  const key = createHash("sha256").update(body).digest("hex").slice(0, 12);
  return { key, text: `LBP_POLICY=${shellQuote(key)}\n${body}\n` };
}

function ruleLines(rule: PlannedRule): string[] {
  return [
    `  # ${ruleCommand(rule)}`,
    `  lbp_rule ${rule.family} ${rule.chain} ${rule.id} ${shellQuote(rule.match)} ${shellQuote(rule.target)}`,
  ];
}

/** `lbp_ufw_rules`: each rule as the `ufw` command a person would type, then one `lbp_ufw_rule` per family. */
function ufwLines(plan: UfwPlan): string[] {
  return [
    "# When ufw is in charge (otherFirewall: manage): the top of ufw's user rules, in this order:",
    ...plan.notes.map((n) => `# note: ${n}`),
    "lbp_ufw_rules() {",
    ...plan.rules.flatMap((rule) => [
      `  # ${rule.command}`,
      ...(["ipv4", "ipv6"] as const).flatMap((f) => {
        const r = rule[f];
        if (!r) return [];
        return [`  lbp_ufw_rule ${f} ${rule.id} ${shellQuote(r.tuple)} ${r.lines.map(shellQuote).join(" ")} -- ${r.live.map(shellQuote).join(" ")}`];
      }),
    ]),
    "  :",
    "}",
  ];
}

/** `lbp_nft_rules`: each statement as the `nft` command a person would type, then one `lbp_nft_rule`. */
function nftLines(policy: Policy): string[] {
  const plan = planNftables(policy);
  return [
    `# When nftables is in charge: table ${plan.table} (base chains input and output, priority ${plan.priority}) holds these,`,
    "# and the rules marked \"every\" go to the top of every other filtering base chain on that hook:",
    "lbp_nft_rules() {",
    ...plan.statements.flatMap(nftStatementLines),
    "  :",
    "}",
  ];
}

function nftStatementLines(s: NftStatement): string[] {
  return [`  # ${nftCommand(s)}`, `  lbp_nft_rule ${s.place} ${s.hook} ${s.id} ${shellQuote(s.rule)}`];
}

/** `lbp_firewalld_rules`: the zone of lo, then each rich rule as `firewall-cmd` takes it, one `lbp_firewalld_rule` each. */
function firewalldLines(plan: FirewalldPlan): string[] {
  return [
    `# When firewalld is in charge: lo in the ${plan.loZone} zone, and these rich rules in every zone (runtime first, --permanent at confirm):`,
    ...plan.notes.map((n) => `# note: ${n}`),
    "lbp_firewalld_rules() {",
    `  # firewall-cmd --zone=${plan.loZone} --add-interface=lo`,
    `  lbp_firewalld_lo ${shellQuote(plan.loZone)}`,
    ...plan.richRules.flatMap((r) => [
      `  # firewall-cmd --zone=<every zone> --add-rich-rule='${r.rule}'`,
      `  lbp_firewalld_rule ${r.family} ${r.id} ${shellQuote(r.rule)}`,
    ]),
    "  :",
    "}",
  ];
}
