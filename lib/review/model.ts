import { SynthPolicy } from "../contract/policies";
import { SynthStack } from "../contract/read-out";

/** A host as a reviewer reads it: where the script runs and how it gets there. */
export interface ReviewHost {
  readonly name: string;
  readonly address: string;
  readonly port: number;
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
  /** The ordered rules per family, as iptables/ip6tables commands. */
  readonly rules: { readonly ipv4: readonly string[]; readonly ipv6: readonly string[] };
  readonly settings: ReviewSettings;
  /** Only for otherFirewall "manage": the rules as nft commands, applied when native nftables is in charge. */
  readonly nftRules?: readonly string[];
}

/** One LoopbackPolicy construct. */
export interface ReviewConstruct {
  readonly id: string;
  readonly resourceType: string;
  /** Most hosts first, then by key. */
  readonly groups: readonly ReviewGroup[];
  /** By name. */
  readonly hosts: readonly ReviewHost[];
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
    ...(g.nft_rules ? { nftRules: [...g.nft_rules] } : {}),
  }));
  groups.sort((a, b) => b.hosts.length - a.hosts.length || a.key.localeCompare(b.key));
  const hosts: ReviewHost[] = Object.entries(p.entries)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, e]) => ({
      name,
      address: e.address,
      port: Number(e.port),
      user: e.user,
      sudo: e.sudo === "1",
      keyFile: e.private_key_path ? e.private_key_path : null,
      hostKeyPinned: Boolean(e.host_key),
      bastion: e.bastion_host ? `${e.bastion_user}@${e.bastion_host}:${e.bastion_port}` : null,
      policy: e.policy,
      wave: e.wave ?? null,
      generation: e.generation,
    }));
  return { id: p.id, resourceType: p.resourceType, groups, hosts, rollout: p.rollout ? p.rollout.map((w) => ({ wave: w.wave, hosts: [...w.hosts] })) : null };
}
