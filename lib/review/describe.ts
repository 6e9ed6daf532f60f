import { ConstructChanges, PolicyChange, RuleChanges } from "./diff";
import { ReviewConstruct, ReviewGroup, ReviewHost, ReviewHostSet, ReviewSettings } from "./model";
import { Review, StackReview } from "./review";

/** `root@192.0.2.11:22 via jump@bastion:22 (sudo)` */
export function connectionText(h: ReviewHost): string {
  return `${h.user}@${h.address}:${h.port}${h.bastion ? ` via ${h.bastion}` : ""}${h.sudo ? " (sudo)" : ""}`;
}

/** `key ~/.ssh/fleet` or `SSH agent`. */
export function keyText(h: ReviewHost): string {
  return h.keyFile === null ? "SSH agent" : `key ${h.keyFile}`;
}

/** `host key pinned` or `host key not pinned`. */
export function hostKeyText(h: ReviewHost): string {
  return h.hostKeyPinned ? "host key pinned" : "host key not pinned";
}

/** The settings in one line: `persistence: auto; verify: auto; ...`. */
export function settingsText(s: ReviewSettings, sep = "; "): string {
  return settingPairs(s).map(([k, v]) => `${k}: ${v}`).join(sep);
}

/** The settings as label/value pairs, in print order. */
export function settingPairs(s: ReviewSettings): Array<[string, string]> {
  return [
    ["ipv6", s.ipv6],
    ["persistence", s.persistence],
    ["verify", s.verify],
    ["rollback", s.rollbackSeconds === 0 ? "off" : `${s.rollbackSeconds}s`],
    ["other firewall", s.otherFirewall],
    ["enforce", s.enforce],
  ];
}

/** `LoopbackPolicy "loopback" (terraform_data): 3 hosts, 1 host set, 2 policies` */
export function constructTitle(c: ReviewConstruct): string {
  const sets = (c.hostSets ?? []).length > 0 ? `, ${plural(c.hostSets.length, "host set")}` : "";
  return `LoopbackPolicy "${c.id}" (${c.resourceType}): ${plural(c.hosts.length, "host")}${sets}, ${plural(c.groups.length, "policy", "policies")}`;
}

/** `one host per key of var.fleet (terraform_data.loopback_web["<key>"])` */
export function hostSetTitle(s: ReviewHostSet): string {
  return `one host per key of ${s.forEach} (${s.resource}["<key>"])`;
}

/** `root@(known after apply: each.value.address):22`, the connection of every host of a set. */
export function hostSetConnectionText(s: ReviewHostSet): string {
  const sudo = s.sudo === "1" ? " (sudo)" : s.sudo === "0" ? "" : ` (sudo ${s.sudo})`;
  return `${s.user}@${s.address}:${s.port}${s.bastion ? ` via ${s.bastion}` : ""}${sudo}`;
}

/** A policy group's headline count: `3 hosts`, `2 hosts and host set web`. */
export function groupCount(g: ReviewGroup): string {
  const sets = g.hostSets ?? [];
  const hosts = plural(g.hosts.length, "host");
  if (sets.length === 0) return hosts;
  const named = `${sets.length === 1 ? "host set" : "host sets"} ${sets.join(", ")}`;
  return g.hosts.length === 0 ? named : `${hosts} and ${named}`;
}

/** `canary (web-1) -> fleet-1 (web-2, web-3)`, or null without a rollout. */
export function rolloutText(c: ReviewConstruct, code: (s: string) => string = (s) => s, arrow = "->"): string | null {
  if (c.rollout === null) return null;
  return c.rollout.map((w) => `${code(w.wave)} (${w.hosts.map(code).join(", ")})`).join(` ${arrow} `);
}

/** The headline of a family's rule list. */
export function familyTitle(g: ReviewGroup, family: "ipv4" | "ipv6"): string {
  if (family === "ipv4") return "ipv4: top of INPUT and OUTPUT, in this order";
  if (g.rules.ipv6.length === 0) return "ipv6: off (no ip6tables rules)";
  return g.settings.ipv6 === "required"
    ? "ipv6 (required: the host fails without ip6tables): in this order"
    : "ipv6 (auto: where ip6tables exists and IPv6 is on): in this order";
}

/** Where a stack's changes are counted from. */
export function baselineText(review: Review, r: StackReview): string {
  if (r.baseline === null) {
    const next = review.recorded ? ": this synth is now remembered; review again after the next synth to see what changed" : "";
    return `no previous synth is recorded for this stack${next}`;
  }
  return r.baseline.kind === "dir" ? `compared with ${r.baseline.dir}` : `compared with the previous different synth (first seen ${r.baseline.recordedAt})`;
}

/** One line per rule change: `+ rule`, `- rule`, `~ rule (moved)`. */
export function ruleChangeLines(c: RuleChanges): string[] {
  return [...c.added.map((r) => `+ ${r}`), ...c.removed.map((r) => `- ${r}`), ...c.moved.map((r) => `~ ${r} (moved)`)];
}

/** `policy 03ec60a2446a (was 075822a99a71) for web-2` */
export function policyChangeTitle(p: PolicyChange, code: (s: string) => string = (s) => s): string {
  const was = p.previousKey === null ? "new" : `was ${code(p.previousKey)}`;
  return `policy ${code(p.key)} (${was}) for ${p.hosts.map(code).join(", ")}`;
}

/** Short lines for the host-level changes of a construct, without the per-policy rule changes. */
export function hostChangeLines(c: ConstructChanges, code: (s: string) => string = (s) => s): string[] {
  const lines: string[] = [];
  if (c.hostsAdded.length) lines.push(`hosts added: ${c.hostsAdded.map(code).join(", ")}`);
  if (c.hostsRemoved.length) lines.push(`hosts removed: ${c.hostsRemoved.map(code).join(", ")}`);
  if (c.hostSetsAdded?.length) lines.push(`host sets added: ${c.hostSetsAdded.map(code).join(", ")}`);
  if (c.hostSetsRemoved?.length) lines.push(`host sets removed: ${c.hostSetsRemoved.map(code).join(", ")}`);
  if (c.hostSetsChanged?.length) lines.push(`host sets changed (every host of each re-runs): ${c.hostSetsChanged.map(code).join(", ")}`);
  for (const p of c.policyChanged) lines.push(`policy changed: ${code(p.host)} (${code(p.from)} -> ${code(p.to)})`);
  for (const h of c.entryChanged) lines.push(`entry changed (re-runs): ${code(h.host)} (${h.fields.join(", ")})`);
  if (c.policiesRemoved.length) lines.push(`policies no host has any more: ${c.policiesRemoved.map(code).join(", ")}`);
  return lines;
}

/** `3 hosts`, `1 policy` */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
