import { Policy } from "../policy/options";
import { LocalPort } from "../policy/port";

/** Where a statement goes when native nftables is in charge (`otherFirewall: "manage"`). */
export type NftPlace =
  /** A base chain of our own table `inet loopback_policy` (`input` or `output`). */
  | "table"
  /** The top of every other filtering base chain on that hook (of `inet`, `ip`, `ip6` tables). */
  | "every";

/** The two hooks the policy filters. */
export type NftHook = "input" | "output";

/** One managed nftables rule. */
export interface NftStatement {
  readonly place: NftPlace;
  readonly hook: NftHook;
  /** Stable id, part of the rule's comment tag (`lbp:<generation>:<id>`). Unique within a place and hook. */
  readonly id: string;
  /** The rule as nft takes it, without its comment: `iif "lo" counter accept`. */
  readonly rule: string;
  /** Why the rule is there, in a few words, for reports. */
  readonly why: string;
}

/** The managed nftables rules of a policy, in order: per place and hook, the order on the host. */
export interface NftPlan {
  /** `inet loopback_policy`: holds the drops and our own lo accepts. */
  readonly table: string;
  /** Priority of our base chains: before the usual `filter` (0) chains, so the drops are seen first. */
  readonly priority: number;
  readonly statements: readonly NftStatement[];
}

/** Our table's family and name. */
export const NFT_TABLE = "inet loopback_policy";
/** Our base chains' priority (`filter - 10`). */
export const NFT_PRIORITY = -10;

/**
 * Turn a policy into its nftables rules.
 *
 * Our table's `input`: the lo accept (counted: verification reads it), the anti-spoofing drops right below it
 * (each after its LOG when logging), the local-only port drops, ESTABLISHED,RELATED last; `output`: the lo accept,
 * then ESTABLISHED,RELATED. In nftables an accept ends evaluation only in its own base chain, so the accepts (lo,
 * and established when asked for) also go to the top of every other filtering base chain on the same hook; drops
 * are final everywhere and live only in our table. IPv6 rules are left out when the policy turns IPv6 off.
 */
export function planNftables(policy: Policy): NftPlan {
  const out: NftStatement[] = [];
  const add = (place: NftPlace, hook: NftHook, id: string, rule: string, why: string) => out.push({ place, hook, id, rule, why });
  const logged = (id: string, match: string, why: string) => {
    if (!policy.log) return;
    const burst = Math.min(policy.log.perMinute * 2, 10000);
    add("table", "input", `${id}-log`, `${match} limit rate ${policy.log.perMinute}/minute burst ${burst} packets log prefix "${policy.log.prefix} ${id}: "`, `log ${why}`);
  };

  add("table", "input", "lo-in", 'iif "lo" counter accept', "accept what arrives over loopback");
  if (policy.antiSpoofing !== "off") {
    const families: Array<["ipv4" | "ipv6", string, string]> = [["ipv4", "ip saddr 127.0.0.0/8", "icmp port-unreachable"]];
    if (policy.ipv6 !== "off") families.push(["ipv6", "ip6 saddr ::1", "icmpv6 port-unreachable"]);
    for (const [family, match, icmp] of families) {
      const id = `spoof-${family}`;
      const net = family === "ipv4" ? "127.0.0.0/8" : "::1";
      logged(id, match, `${net} arriving off lo`);
      const verdict = policy.antiSpoofing === "drop" ? "drop" : `reject with ${icmp}`;
      add("table", "input", id, `${match} counter ${verdict}`, `${policy.antiSpoofing} ${net} arriving off lo (anti-spoofing)`);
    }
  }
  for (const proto of ["tcp", "udp"] as const) {
    const ports = policy.localOnlyPorts.filter((p) => p.protocol === proto);
    if (ports.length === 0) continue;
    const id = `local-${proto}`;
    const match = `${proto} dport ${nftPorts(ports)}`;
    const list = ports.map((p) => p.toString()).join(", ");
    logged(id, match, `non-loopback packets to ${list}`);
    const verdict = policy.localOnlyAction === "drop" ? "drop" : proto === "tcp" ? "reject with tcp reset" : "reject with icmpx port-unreachable";
    add("table", "input", id, `${match} counter ${verdict}`, `${policy.localOnlyAction} non-loopback packets to ${list} (local-only)`);
  }
  if (policy.allowEstablished) add("table", "input", "established-in", "ct state established,related accept", "accept replies to connections already allowed");
  add("table", "output", "lo-out", 'oif "lo" counter accept', "accept what leaves over loopback");
  if (policy.allowEstablished) add("table", "output", "established-out", "ct state established,related accept", "accept replies to connections already allowed");

  add("every", "input", "lo-in", 'iif "lo" accept', "accept loopback in this chain too: an accept elsewhere does not end it");
  if (policy.allowEstablished) add("every", "input", "established-in", "ct state established,related accept", "accept replies in this chain too");
  add("every", "output", "lo-out", 'oif "lo" accept', "accept loopback in this chain too: an accept elsewhere does not end it");
  if (policy.allowEstablished) add("every", "output", "established-out", "ct state established,related accept", "accept replies in this chain too");
  return { table: NFT_TABLE, priority: NFT_PRIORITY, statements: out };
}

/** `8080` or `{ 8080, 9000-9100 }`. */
function nftPorts(ports: readonly LocalPort[]): string {
  const items = ports.map((p) => (p.isRange ? `${p.fromPort}-${p.toPort}` : `${p.fromPort}`));
  return items.length === 1 ? items[0] : `{ ${items.join(", ")} }`;
}

/**
 * The statement as the nft command a person would type: `nft add rule inet loopback_policy input iif "lo" counter
 * accept`, or for the other base chains `nft insert rule <family> <table> <chain> iif "lo" accept`.
 */
export function nftCommand(s: NftStatement): string {
  if (s.place === "table") return `nft add rule ${NFT_TABLE} ${s.hook} ${s.rule}`;
  return `nft insert rule <family> <table> <chain> ${s.rule}   # every other filtering base chain on the ${s.hook} hook`;
}

/** Every command of the plan, in order, starting with our table and its base chains. */
export function nftCommands(plan: NftPlan): string[] {
  const prio = plan.priority < 0 ? `filter - ${-plan.priority}` : `filter + ${plan.priority}`;
  return [
    `nft add table ${plan.table}`,
    `nft add chain ${plan.table} input '{ type filter hook input priority ${prio}; policy accept; }'`,
    `nft add chain ${plan.table} output '{ type filter hook output priority ${prio}; policy accept; }'`,
    ...plan.statements.map(nftCommand),
  ];
}
