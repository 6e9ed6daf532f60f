import { HostEntry } from "../constructs/host-entries";
import { SynthOutputError } from "./errors";
import { terraformUnliteral } from "./unescape";

/** One policy of a LoopbackPolicy as its `<id>_summary` output states it. */
export interface SummaryGroup {
  /** Host names, in fleet order. */
  readonly hosts: readonly string[];
  /** The ordered rules as iptables/ip6tables commands, IPv4 first. */
  readonly rules: readonly string[];
  readonly ipv6: string;
  readonly persistence: string;
  readonly verify: string;
  readonly rollback_seconds: number;
  readonly other_firewall: string;
  /** Absent in stacks synthesized before the option existed, and for the default: read it as `on-change`. */
  readonly enforce?: string;
}

/** A LoopbackPolicy as read back from a synthesized stack: the JSON contract, template escaping undone. */
export interface SynthPolicy {
  /** The stack's name (its directory under `stacks/`). */
  readonly stack: string;
  /** The stack's `cdk.tf.json`. */
  readonly file: string;
  /** The construct's logical name: `<id>` in `output.<id>_summary`, `terraform_data.<id>`. */
  readonly id: string;
  readonly resourceType: "terraform_data" | "null_resource";
  /** Per policy key. */
  readonly summary: Readonly<Record<string, SummaryGroup>>;
  /** Per policy key: the policy part of the host script, as the host receives it. */
  readonly scripts: Readonly<Record<string, string>>;
  /** Per host name: the `for_each` entry, as the provisioners read it. */
  readonly entries: Readonly<Record<string, HostEntry>>;
  /** The engine the provisioners carry, as the host receives it; absent when the JSON does not hold it. */
  readonly engine?: string;
  /** Hosts of the `<id>_enforce` resource (`enforce: "every-apply"`). */
  readonly enforced: readonly string[];
}

const SUMMARY_SUFFIX = "_summary";
const RESOURCE_TYPES = ["terraform_data", "null_resource"] as const;

/**
 * Every LoopbackPolicy of a synthesized stack, recognised by its three parts: an output `<id>_summary`, a local
 * `<id>_policy_scripts` and a `terraform_data.<id>` or `null_resource.<id>` with `for_each`. Anything else in the
 * stack is ignored. Throws {@link SynthOutputError} (`invalid`) when the parts are there but do not fit together.
 */
export function findPolicies(stack: string, file: string, json: unknown): SynthPolicy[] {
  const doc = asRecord(json);
  const outputs = asRecord(doc.output);
  const locals = asRecord(doc.locals);
  const resources = asRecord(doc.resource);
  const found: SynthPolicy[] = [];
  for (const outputName of Object.keys(outputs).sort()) {
    if (!outputName.endsWith(SUMMARY_SUFFIX)) continue;
    const id = outputName.slice(0, -SUMMARY_SUFFIX.length);
    const scripts = locals[`${id}_policy_scripts`];
    const type = RESOURCE_TYPES.find((t) => asRecord(asRecord(resources[t])[id]).for_each !== undefined);
    if (scripts === undefined || type === undefined) continue;
    const resource = asRecord(asRecord(resources[type])[id]);
    const enforce = asRecord(asRecord(resources[type])[`${id}_enforce`]);
    found.push(readPolicy(stack, file, id, type, asRecord(outputs[outputName]).value, scripts, resource, enforce));
  }
  return found;
}

function readPolicy(
  stack: string,
  file: string,
  id: string,
  resourceType: SynthPolicy["resourceType"],
  summaryValue: unknown,
  scriptsValue: unknown,
  resource: Record<string, unknown>,
  enforce: Record<string, unknown>,
): SynthPolicy {
  const bad = (what: string) =>
    new SynthOutputError("invalid", file, `LoopbackPolicy "${id}" of stack "${stack}": ${what}`, "synthesize again with this version of cdktf-loopback-policy (npm run synth); do not edit cdk.tf.json by hand");
  const summary = asRecord(summaryValue) as Record<string, SummaryGroup>;
  for (const [key, g] of Object.entries(summary)) {
    if (!Array.isArray(g?.hosts) || !Array.isArray(g?.rules)) throw bad(`output ${id}_summary["${key}"] has no hosts and rules`);
  }
  const scripts: Record<string, string> = {};
  for (const [key, text] of Object.entries(asRecord(scriptsValue))) {
    if (typeof text !== "string") throw bad(`local ${id}_policy_scripts["${key}"] is not text`);
    scripts[key] = terraformUnliteral(text);
  }
  const entries: Record<string, HostEntry> = {};
  for (const [name, raw] of Object.entries(asRecord(resource.for_each))) {
    const entry = Object.fromEntries(Object.entries(asRecord(raw)).map(([k, v]) => [k, typeof v === "string" ? terraformUnliteral(v) : v]));
    for (const field of ["address", "port", "user", "policy", "generation", "sudo"]) {
      if (typeof entry[field] !== "string") throw bad(`host "${name}" has no ${field}`);
    }
    if (scripts[entry.policy as string] === undefined || summary[entry.policy as string] === undefined) {
      throw bad(`host "${name}" names policy ${entry.policy}, which the stack does not hold`);
    }
    entries[name] = entry as unknown as HostEntry;
  }
  const engineText = engineOf(resource);
  return {
    stack,
    file,
    id,
    resourceType,
    summary,
    scripts,
    entries,
    ...(engineText !== undefined ? { engine: terraformUnliteral(engineText) } : {}),
    enforced: Object.keys(asRecord(enforce.for_each)),
  };
}

/** The engine text of the first provisioner (the inline's last element), still escaped. */
function engineOf(resource: Record<string, unknown>): string | undefined {
  const blocks = Array.isArray(resource.provisioner) ? resource.provisioner : [];
  const inline = asRecord(asRecord(blocks[0])["remote-exec"]).inline;
  if (!Array.isArray(inline) || inline.length < 4) return undefined;
  const text = inline[inline.length - 1];
  return typeof text === "string" && text.includes("loopback-policy engine") ? text : undefined;
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
