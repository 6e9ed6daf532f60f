import { Policy } from "../policy/options";
import { Family } from "./rules";

/** One rich rule of the policy, added to every firewalld zone when firewalld is in charge (`otherFirewall: "manage"`). */
export interface FirewalldRichRule {
  readonly family: Family;
  /** Stable id, for reports: `spoof`, `local-tcp-5432`. */
  readonly id: string;
  /** The rule exactly as `firewall-cmd --list-rich-rules` prints it (firewalld's canonical form, all values quoted). */
  readonly rule: string;
  readonly why: string;
}

/** The policy in firewalld's terms, and what firewalld itself already does. */
export interface FirewalldPlan {
  /** The zone `lo` is bound to (CIS: the trusted zone). */
  readonly loZone: string;
  /** Rich rules added to every zone, in this order. */
  readonly richRules: readonly FirewalldRichRule[];
  /** Parts of the policy firewalld provides or expresses its own way, for reports. */
  readonly notes: readonly string[];
}

/** CIS: lo belongs to the trusted zone. */
export const FIREWALLD_LO_ZONE = "trusted";

/**
 * The priority of every rich rule of ours. firewalld keeps it in the rule's canonical text, so it marks the rule as
 * loopback-policy's (an admin's rule of the same match without it is another rule, kept on remove), and a negative
 * priority puts it in the zone's first part, before the zone's logging, deny and allow rules.
 */
export const FIREWALLD_PRIORITY = -32141;

/**
 * Turn a policy into firewalld's terms, the CIS way: `lo` in the trusted zone, and rich rules that drop (or reject)
 * 127.0.0.0/8 and ::1 sources, and non-loopback packets to the local-only ports.
 *
 * The rich rules go to **every** zone, not only the trusted one as CIS's remediation writes them: a spoofed
 * packet arrives on another interface and is judged by that interface's zone (or the default zone), so a drop
 * in the trusted zone alone never sees it. firewalld accepts `lo` in its own input and output chains before any
 * zone (`iifname "lo" accept`), so a source drop in a zone never touches loopback traffic. Ours sit in a zone's
 * first part (priority {@link FIREWALLD_PRIORITY}), ahead of its services and ports: a local-only port stays closed
 * off lo even when a zone opens it. One rule per port or range (a rich rule names one). IPv6 rules are left out when IPv6 is off.
 */
export function planFirewalld(policy: Policy): FirewalldPlan {
  const rules: FirewalldRichRule[] = [];
  const families: Family[] = policy.ipv6 === "off" ? ["ipv4"] : ["ipv4", "ipv6"];
  const log = (id: string) =>
    policy.log ? ` log prefix="${policy.log.prefix} ${id}: " level="warning" limit value="${policy.log.perMinute}/m"` : "";
  if (policy.antiSpoofing !== "off") {
    for (const family of families) {
      const net = family === "ipv4" ? "127.0.0.0/8" : "::1";
      rules.push({
        family,
        id: "spoof",
        rule: `rule priority="${FIREWALLD_PRIORITY}" family="${family}" source address="${net}"${log("spoof")} ${policy.antiSpoofing}`,
        why: `${policy.antiSpoofing} ${net} arriving off lo (anti-spoofing; firewalld accepts lo before every zone)`,
      });
    }
  }
  for (const port of policy.localOnlyPorts) {
    const ports = port.isRange ? `${port.fromPort}-${port.toPort}` : `${port.fromPort}`;
    const id = `local-${port.protocol}-${ports}`;
    for (const family of families) {
      rules.push({
        family,
        id,
        rule: `rule priority="${FIREWALLD_PRIORITY}" family="${family}" port port="${ports}" protocol="${port.protocol}"${log(id)} ${policy.localOnlyAction}`,
        why: `${policy.localOnlyAction} non-loopback packets to ${port.toString()} (local-only)`,
      });
    }
  }
  const notes = [
    "lo: firewalld accepts lo both ways in its own chains (iifname/oifname \"lo\" accept) before any zone; lo is also bound to the trusted zone, as CIS asks",
  ];
  if (policy.allowEstablished) notes.push("established: firewalld accepts RELATED,ESTABLISHED itself, before any zone; no rule is added");
  if (policy.log) notes.push(`log: each rich rule logs with the policy's prefix at level warning, ${policy.log.perMinute}/m`);
  return { loZone: FIREWALLD_LO_ZONE, richRules: rules, notes };
}

/** The commands a person would type for the plan, runtime first (what apply does), `--permanent` at confirm. */
export function firewalldCommands(plan: FirewalldPlan): string[] {
  return [
    `firewall-cmd --zone=${plan.loZone} --add-interface=lo`,
    ...plan.richRules.map((r) => `firewall-cmd --zone=<every zone> --add-rich-rule='${r.rule}'`),
  ];
}
