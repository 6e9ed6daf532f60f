import { SynthPolicy } from "../contract/policies";
import { SynthStack } from "../contract/read-out";

/** A host as a reviewer reads it: where the script runs and how it gets there. */
export interface ReviewHost {
  readonly name: string;
  readonly address: string;
  /** A number, or `(known after apply: <expression>)` for a token. */
  readonly port: number | string;
  readonly user: string;
  readonly sudo: boolean;
  /** The private key file; `null` when the SSH agent is used. */
  readonly keyFile: string | null;
  readonly hostKeyPinned: boolean;
  /** `user@address:port` of the bastion; `null` for a direct connection. */
  readonly bastion: string | null;
  readonly policy: string;
  /** The rollout wave; `null` without a rollout. */
  readonly wave: string | null;
  readonly generation: string;
}

/**
 * A host set: hosts Terraform expands from a collection. Its facts are shown as the set gives them; a value known
 * only at plan or apply time reads `(known after apply: <expression>)`.
 */
export interface ReviewHostSet {
  readonly name: string;
  /** `terraform_data.<id>_<set>`: its hosts are `...["<key>"]`, one per key of the collection. */
  readonly resource: string;
  /** The collection's Terraform expression (`var.fleet`). */
  readonly forEach: string;
  readonly address: string;
  readonly port: string;
  readonly user: string;
  /** `"1"`, `"0"`, or known after apply. */
  readonly sudo: string;
  /** The private key file; `null` when the SSH agent is used. */
  readonly keyFile: string | null;
  /** `"pinned"`, `"not pinned"`, or known after apply. */
  readonly hostKey: string;
  /** `user@address:port` of the bastion; `null` for a direct connection. */
  readonly bastion: string | null;
  readonly policy: string;
  /** Every fact as synthesized (literal, or a Terraform expression): any change replaces every host of the set. */
  readonly facts: Readonly<Record<string, string>>;
}

/** A value as the reviewer reads it: literal as it is, a Terraform expression as `(known after apply: expr)`. */
export function afterApply(value: string): string {
  if (!value.includes("${")) return value;
  const bare = /^\$\{(.*)\}$/s.exec(value);
  return `(known after apply: ${bare && !bare[1].includes("${") ? bare[1] : value})`;
}

/** The settings of a policy that are not rules. */
export interface ReviewSettings {
  readonly ipv6: string;
  readonly persistence: string;
  readonly verify: string;
  readonly rollbackSeconds: number;
  readonly otherFirewall: string;
  readonly enforce: string;
}

/** A policy and the hosts that share it. */
export interface ReviewGroup {
  readonly key: string;
  /** In fleet order. */
  readonly hosts: readonly string[];
  /** Names of the host sets with this policy. */
  readonly hostSets: readonly string[];
  /** The ordered rules per family, as iptables/ip6tables commands. */
  readonly rules: { readonly ipv4: readonly string[]; readonly ipv6: readonly string[] };
  readonly settings: ReviewSettings;
  /** Only for otherFirewall "manage": the rules as `ufw` commands, used when ufw is in charge of a host. */
  readonly ufwRules?: readonly string[];
  /** Only for otherFirewall "manage": the rules as nft commands, applied when native nftables is in charge. */
  readonly nftRules?: readonly string[];
  /** Only for otherFirewall "manage": the rules as firewall-cmd commands, applied when firewalld is in charge. */
  readonly firewalldRules?: readonly string[];
}

/** One LoopbackPolicy construct. */
export interface ReviewConstruct {
  readonly id: string;
  readonly resourceType: string;
  /** Most hosts first, then by key. */
  readonly groups: readonly ReviewGroup[];
  /** By name. */
  readonly hosts: readonly ReviewHost[];
  /** In order. */
  readonly hostSets: readonly ReviewHostSet[];
  /** The waves in rollout order; `null` when all hosts go at once. */
  readonly rollout: ReadonlyArray<{ readonly wave: string; readonly hosts: readonly string[] }> | null;
}

/** What review knows of one stack: everything it prints and compares. */
export interface ReviewStack {
  readonly stack: string;
  readonly constructs: readonly ReviewConstruct[];
}

/** The review model of a synthesized stack. */
export function reviewStack(stack: SynthStack): ReviewStack {
  return { stack: stack.name, constructs: stack.policies.map(reviewConstruct) };
}

function reviewConstruct(p: SynthPolicy): ReviewConstruct {
  const groups: ReviewGroup[] = Object.entries(p.summary).map(([key, g]) => ({
    key,
    hosts: [...g.hosts],
    hostSets: [...(g.host_sets ?? [])],
    rules: {
      ipv4: g.rules.filter((r) => r.startsWith("iptables ")),
      ipv6: g.rules.filter((r) => r.startsWith("ip6tables ")),
    },
    settings: {
      ipv6: g.ipv6,
      persistence: g.persistence,
      verify: g.verify,
      rollbackSeconds: g.rollback_seconds,
      otherFirewall: g.other_firewall,
      enforce: g.enforce ?? "on-change",
    },
    ...(g.ufw_rules ? { ufwRules: [...g.ufw_rules] } : {}),
    ...(g.nft_rules ? { nftRules: [...g.nft_rules] } : {}),
    ...(g.firewalld_rules ? { firewalldRules: [...g.firewalld_rules] } : {}),
  }));
  groups.sort((a, b) => b.hosts.length - a.hosts.length || b.hostSets.length - a.hostSets.length || a.key.localeCompare(b.key));
  const hosts: ReviewHost[] = Object.entries(p.entries)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, e]) => ({
      name,
      address: afterApply(e.address),
      port: /^[0-9]+$/.test(e.port) ? Number(e.port) : afterApply(e.port),
      user: afterApply(e.user),
      sudo: e.sudo === "1",
      keyFile: e.private_key_path ? e.private_key_path : null,
      hostKeyPinned: Boolean(e.host_key),
      bastion: e.bastion_host ? `${e.bastion_user}@${e.bastion_host}:${e.bastion_port}` : null,
      policy: e.policy,
      wave: e.wave ?? null,
      generation: e.generation.includes("${") ? "(known after apply)" : e.generation,
    }));
  const hostSets: ReviewHostSet[] = p.hostSets.map((set) => {
    const f = (k: string) => set.facts[k] ?? "";
    return {
      name: set.name,
      resource: set.resource,
      forEach: afterApply(set.forEach).replace(/^\(known after apply: (.*)\)$/s, "$1"),
      address: afterApply(f("address")),
      port: afterApply(f("port")),
      user: afterApply(f("user")),
      sudo: afterApply(f("sudo")),
      keyFile: f("private_key_path") === "" ? null : afterApply(f("private_key_path")),
      hostKey: f("host_key") === "" ? "not pinned" : f("host_key").includes("${") ? afterApply(f("host_key")) : "pinned",
      bastion: f("bastion_host") === "" ? null : `${afterApply(f("bastion_user"))}@${afterApply(f("bastion_host"))}:${afterApply(f("bastion_port"))}`,
      policy: set.policy,
      facts: { ...set.facts },
    };
  });
  return { id: p.id, resourceType: p.resourceType, groups, hosts, hostSets, rollout: p.rollout ? p.rollout.map((w) => ({ wave: w.wave, hosts: [...w.hosts] })) : null };
}
