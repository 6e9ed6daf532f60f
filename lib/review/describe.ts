import { ConstructChanges, PolicyChange, RuleChanges } from "./diff";
import { ReviewConstruct, ReviewGroup, ReviewHost, ReviewSettings } from "./model";
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

/** `LoopbackPolicy "loopback" (terraform_data): 3 hosts, 2 policies` */
export function constructTitle(c: ReviewConstruct): string {
  return `LoopbackPolicy "${c.id}" (${c.resourceType}): ${plural(c.hosts.length, "host")}, ${plural(c.groups.length, "policy", "policies")}`;
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
  for (const p of c.policyChanged) lines.push(`policy changed: ${code(p.host)} (${code(p.from)} -> ${code(p.to)})`);
  for (const h of c.entryChanged) lines.push(`entry changed (re-runs): ${code(h.host)} (${h.fields.join(", ")})`);
  if (c.policiesRemoved.length) lines.push(`policies no host has any more: ${c.policiesRemoved.map(code).join(", ")}`);
  return lines;
}

/** `3 hosts`, `1 policy` */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
