import { Policy } from "../policy/options";
import { LocalPort, PortProtocol } from "../policy/port";

/** An IP family: `iptables` handles ipv4, `ip6tables` ipv6. */
export type Family = "ipv4" | "ipv6";
/** The filter-table chains the policy manages. */
export type Chain = "INPUT" | "OUTPUT";

/** One managed rule, at a fixed position in the managed block at the top of its chain. */
export interface PlannedRule {
  readonly family: Family;
  readonly chain: Chain;
  /** Stable id, part of the rule's comment tag (`lbp:<generation>:<id>`). */
  readonly id: string;
  /** Match options, as iptables takes them: `-i lo`. */
  readonly match: string;
  /** Target and its options: `-j ACCEPT`. */
  readonly target: string;
  /** Why the rule is there, in a few words, for reports. */
  readonly why: string;
}

/** The ordered managed rules of a policy, per family. Order within a chain is the order on the host. */
export interface RulePlan {
  readonly ipv4: readonly PlannedRule[];
  readonly ipv6: readonly PlannedRule[];
}

/** The comment every managed rule carries starts with this, then `<generation>:<id>`. */
export const TAG_PREFIX = "lbp:";

/** iptables multiport takes at most 15 ports, a range counting as two. */
const MULTIPORT_SLOTS = 15;

/**
 * Turn a policy into its ordered rules.
 *
 * INPUT: `lo-in` ACCEPT; the anti-spoof DROP right below it (the CIS audit reads the two as a pair), preceded by
 * its LOG when logging; the local-only port drops (each after its LOG); ESTABLISHED,RELATED last.
 * OUTPUT: `lo-out` ACCEPT, then ESTABLISHED,RELATED. ipv6 mirrors ipv4 with `::1` and ICMPv6 rejects; it is
 * empty when the policy turns IPv6 off.
 */
export function planRules(policy: Policy): RulePlan {
  return {
    ipv4: planFamily(policy, "ipv4"),
    ipv6: policy.ipv6 === "off" ? [] : planFamily(policy, "ipv6"),
  };
}

function planFamily(policy: Policy, family: Family): PlannedRule[] {
  const v6 = family === "ipv6";
  const loopbackNet = v6 ? "::1/128" : "127.0.0.0/8";
  const icmpUnreachable = v6 ? "icmp6-port-unreachable" : "icmp-port-unreachable";
  const rules: PlannedRule[] = [];
  const add = (chain: Chain, id: string, match: string, target: string, why: string) =>
    rules.push({ family, chain, id, match, target, why });
  const logged = (id: string, match: string, why: string) => {
    if (!policy.log) return;
    const limit = `-m limit --limit ${policy.log.perMinute}/min --limit-burst ${Math.min(policy.log.perMinute * 2, 10000)}`;
    add("INPUT", `${id}-log`, `${match} ${limit}`, `-j LOG --log-prefix "${policy.log.prefix} ${id}: "`, `log ${why}`);
  };

  add("INPUT", "lo-in", "-i lo", "-j ACCEPT", "accept what arrives over loopback");

  if (policy.antiSpoofing !== "off") {
    const match = `-s ${loopbackNet} ! -i lo`;
    logged("spoof", match, `${loopbackNet} arriving off lo`);
    const target = policy.antiSpoofing === "drop" ? "-j DROP" : `-j REJECT --reject-with ${icmpUnreachable}`;
    add("INPUT", "spoof", match, target, `${policy.antiSpoofing} ${loopbackNet} arriving off lo (anti-spoofing)`);
  }

  for (const proto of ["tcp", "udp"] as const) {
    multiportGroups(policy.localOnlyPorts.filter((p) => p.protocol === proto)).forEach((group, i) => {
      const id = `local-${proto}-${i + 1}`;
      const ports = group.map((p) => p.toIptables()).join(",");
      const match = `! -i lo -p ${proto} -m multiport --dports ${ports}`;
      const list = group.map((p) => p.toString()).join(", ");
      logged(id, match, `non-loopback packets to ${list}`);
      add("INPUT", id, match, localOnlyTarget(policy, proto, icmpUnreachable), `${policy.localOnlyAction} non-loopback packets to ${list} (local-only)`);
    });
  }

  add("OUTPUT", "lo-out", "-o lo", "-j ACCEPT", "accept what leaves over loopback");

  if (policy.allowEstablished) {
    const match = "-m conntrack --ctstate RELATED,ESTABLISHED";
    add("INPUT", "established-in", match, "-j ACCEPT", "accept replies to connections already allowed");
    add("OUTPUT", "established-out", match, "-j ACCEPT", "accept replies to connections already allowed");
  }
  return rules;
}

function localOnlyTarget(policy: Policy, proto: PortProtocol, icmpUnreachable: string): string {
  if (policy.localOnlyAction === "drop") return "-j DROP";
  return proto === "tcp" ? "-j REJECT --reject-with tcp-reset" : `-j REJECT --reject-with ${icmpUnreachable}`;
}

/**
 * Split ports into groups that fit one multiport match (at most 15 ports, a range counting as two); ufw's rules
 * are split the same way, since ufw writes them as multiport matches.
 */
export function multiportGroups(ports: readonly LocalPort[]): LocalPort[][] {
  const groups: LocalPort[][] = [];
  let current: LocalPort[] = [];
  let used = 0;
  for (const p of ports) {
    const cost = p.isRange ? 2 : 1;
    if (used + cost > MULTIPORT_SLOTS) {
      groups.push(current);
      current = [];
      used = 0;
    }
    current.push(p);
    used += cost;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** The rule as the iptables command a person would type to append it: `iptables -A INPUT -i lo -j ACCEPT`. */
export function ruleCommand(rule: PlannedRule): string {
  const cmd = rule.family === "ipv4" ? "iptables" : "ip6tables";
  return `${cmd} -A ${rule.chain} ${rule.match} ${rule.target}`;
}
