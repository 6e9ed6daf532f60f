import { ReviewConstruct, ReviewGroup, ReviewHost, ReviewSettings, ReviewStack } from "./model";

/** How one family's rules of a policy changed. */
export interface RuleChanges {
  /** Rules the new policy has and the old did not, in the new order. */
  readonly added: readonly string[];
  /** Rules the old policy had and the new does not, in the old order. */
  readonly removed: readonly string[];
  /** Rules both have, whose place relative to the others changed, in the new order. */
  readonly moved: readonly string[];
}

/** A policy that did not exist before, compared with the policy most of its hosts had. */
export interface PolicyChange {
  readonly key: string;
  /** The policy most of its hosts had before; `null` when none of them existed. */
  readonly previousKey: string | null;
  readonly hosts: readonly string[];
  readonly rules: { readonly ipv4: RuleChanges; readonly ipv6: RuleChanges };
  readonly settings: ReadonlyArray<{ readonly name: keyof ReviewSettings; readonly from: string | number; readonly to: string | number }>;
}

/** What changed in one LoopbackPolicy construct between two synths. */
export interface ConstructChanges {
  readonly id: string;
  /** `added`/`removed`: the construct itself is new or gone. */
  readonly construct: "added" | "removed" | "changed" | "unchanged";
  readonly hostsAdded: readonly string[];
  readonly hostsRemoved: readonly string[];
  /** Host sets new in this synth, gone from it, or whose policy or connection facts changed (all their hosts re-run). */
  readonly hostSetsAdded?: readonly string[];
  readonly hostSetsRemoved?: readonly string[];
  readonly hostSetsChanged?: readonly string[];
  /** Hosts (present before and now) whose policy changed. */
  readonly policyChanged: ReadonlyArray<{ readonly host: string; readonly from: string; readonly to: string }>;
  /** Hosts with the same policy whose entry changed otherwise (connection facts, rollout wave): they re-run too. */
  readonly entryChanged: ReadonlyArray<{ readonly host: string; readonly fields: readonly string[] }>;
  /** Policies that are new in this synth. */
  readonly policies: readonly PolicyChange[];
  /** Keys of policies no host has any more. */
  readonly policiesRemoved: readonly string[];
}

/** What changed in a stack between two synths. */
export interface StackChanges {
  readonly stack: string;
  /** True when nothing a host runs or how it is reached changed. */
  readonly unchanged: boolean;
  readonly constructs: readonly ConstructChanges[];
}

const ENTRY_FIELDS: ReadonlyArray<keyof ReviewHost> = ["address", "port", "user", "sudo", "keyFile", "hostKeyPinned", "bastion", "wave"];
const SETTINGS: ReadonlyArray<keyof ReviewSettings> = ["ipv6", "persistence", "verify", "rollbackSeconds", "otherFirewall", "enforce"];
const EMPTY: ReviewConstruct = { id: "", resourceType: "", groups: [], hosts: [], hostSets: [], rollout: null };

/** Compare a stack with its previous synth. */
export function diffStacks(previous: ReviewStack, current: ReviewStack): StackChanges {
  const ids = [...new Set([...current.constructs.map((c) => c.id), ...previous.constructs.map((c) => c.id)])];
  const constructs = ids.map((id) => {
    const before = previous.constructs.find((c) => c.id === id);
    const after = current.constructs.find((c) => c.id === id);
    const changes = diffConstruct(id, before ?? EMPTY, after ?? EMPTY);
    const kind = !before ? "added" : !after ? "removed" : isEmpty(changes) ? "unchanged" : "changed";
    return { ...changes, construct: kind } as ConstructChanges;
  });
  return { stack: current.stack, unchanged: constructs.every((c) => c.construct === "unchanged"), constructs };
}

function diffConstruct(id: string, before: ReviewConstruct, after: ReviewConstruct): Omit<ConstructChanges, "construct"> {
  const old = new Map(before.hosts.map((h) => [h.name, h]));
  const now = new Map(after.hosts.map((h) => [h.name, h]));
  const hostsAdded = after.hosts.filter((h) => !old.has(h.name)).map((h) => h.name);
  const hostsRemoved = before.hosts.filter((h) => !now.has(h.name)).map((h) => h.name);
  const policyChanged: Array<{ host: string; from: string; to: string }> = [];
  const entryChanged: Array<{ host: string; fields: string[] }> = [];
  for (const h of after.hosts) {
    const o = old.get(h.name);
    if (!o) continue;
    if (o.policy !== h.policy) policyChanged.push({ host: h.name, from: o.policy, to: h.policy });
    else {
      // A model recorded before a field existed lacks it: undefined counts as its default, null.
      const fields = ENTRY_FIELDS.filter((f) => (o[f] ?? null) !== (h[f] ?? null));
      if (fields.length > 0) entryChanged.push({ host: h.name, fields });
    }
  }
  const oldGroups = new Map(before.groups.map((g) => [g.key, g]));
  const newKeys = new Set(after.groups.map((g) => g.key));
  const policies = after.groups.filter((g) => !oldGroups.has(g.key)).map((g) => {
    const previousKey = predecessor(g, old);
    return policyChange(g, previousKey === null ? null : oldGroups.get(previousKey) ?? null);
  });
  const policiesRemoved = before.groups.filter((g) => !newKeys.has(g.key)).map((g) => g.key);
  // A model recorded before host sets existed has none.
  const oldSets = new Map((before.hostSets ?? []).map((h) => [h.name, h]));
  const nowSets = after.hostSets ?? [];
  const sets = {
    hostSetsAdded: nowSets.filter((h) => !oldSets.has(h.name)).map((h) => h.name),
    hostSetsRemoved: [...oldSets.keys()].filter((n) => !nowSets.some((h) => h.name === n)),
    hostSetsChanged: nowSets.filter((h) => oldSets.has(h.name) && JSON.stringify(oldSets.get(h.name)) !== JSON.stringify(h)).map((h) => h.name),
  };
  const anySets = sets.hostSetsAdded.length + sets.hostSetsRemoved.length + sets.hostSetsChanged.length > 0;
  return { id, hostsAdded, hostsRemoved, ...(anySets ? sets : {}), policyChanged, entryChanged, policies, policiesRemoved };
}

/** The old policy most of the group's hosts had (ties: the one listed first); null when none existed before. */
function predecessor(group: ReviewGroup, old: ReadonlyMap<string, ReviewHost>): string | null {
  const counts = new Map<string, number>();
  for (const name of group.hosts) {
    const o = old.get(name);
    if (o) counts.set(o.policy, (counts.get(o.policy) ?? 0) + 1);
  }
  let best: string | null = null;
  for (const [key, n] of counts) if (best === null || n > counts.get(best)!) best = key;
  return best;
}

function policyChange(g: ReviewGroup, before: ReviewGroup | null): PolicyChange {
  const settings = before === null ? [] : SETTINGS.filter((s) => before.settings[s] !== g.settings[s]).map((name) => ({
    name,
    from: before.settings[name],
    to: g.settings[name],
  }));
  return {
    key: g.key,
    previousKey: before?.key ?? null,
    hosts: g.hosts,
    rules: {
      ipv4: diffRules(before?.rules.ipv4 ?? [], g.rules.ipv4),
      ipv6: diffRules(before?.rules.ipv6 ?? [], g.rules.ipv6),
    },
    settings,
  };
}

/** Added, removed, and moved rules: the common rules outside a longest common subsequence moved. */
export function diffRules(before: readonly string[], after: readonly string[]): RuleChanges {
  const was = new Set(before);
  const is = new Set(after);
  const commonBefore = before.filter((r) => is.has(r));
  const commonAfter = after.filter((r) => was.has(r));
  const kept = new Set(lcs(commonBefore, commonAfter));
  return {
    added: after.filter((r) => !was.has(r)),
    removed: before.filter((r) => !is.has(r)),
    moved: commonAfter.filter((r) => !kept.has(r)),
  };
}

function lcs(a: readonly string[], b: readonly string[]): string[] {
  const n = a.length;
  const m = b.length;
  const len: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) len[i][j] = a[i] === b[j] ? len[i + 1][j + 1] + 1 : Math.max(len[i + 1][j], len[i][j + 1]);
  }
  const out: string[] = [];
  for (let i = 0, j = 0; i < n && j < m;) {
    if (a[i] === b[j]) {
      out.push(a[i]);
      i++;
      j++;
    } else if (len[i + 1][j] >= len[i][j + 1]) i++;
    else j++;
  }
  return out;
}

function isEmpty(c: Omit<ConstructChanges, "construct">): boolean {
  return c.hostsAdded.length + c.hostsRemoved.length + (c.hostSetsAdded?.length ?? 0) + (c.hostSetsRemoved?.length ?? 0) + (c.hostSetsChanged?.length ?? 0) + c.policyChanged.length + c.entryChanged.length + c.policies.length + c.policiesRemoved.length === 0;
}
