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
  /** Names of the host sets with this policy; absent when none. */
  readonly host_sets?: readonly string[];
  /** Only for otherFirewall "manage": the rules as the `ufw` commands used when ufw is in charge, in order. */
  readonly ufw_rules?: readonly string[];
  /** Only for otherFirewall "manage": the rules as nft commands, for when native nftables is in charge. */
  readonly nft_rules?: readonly string[];
  /** Only for otherFirewall "manage": the rules as firewall-cmd commands, for when firewalld is in charge. */
  readonly firewalld_rules?: readonly string[];
}

/** A host set of a LoopbackPolicy: hosts Terraform expands from a collection, known only at plan time. */
export interface SynthHostSet {
  readonly name: string;
  /** `terraform_data.<id>_<set>`. */
  readonly resource: string;
  /** The collection, as the Terraform expression `for_each` reads (`${var.fleet}`). */
  readonly forEach: string;
  /** Key of the set's policy. */
  readonly policy: string;
  /** Each fact of the set's hosts (not the name): literal, or a Terraform expression such as `${each.value.address}`. */
  readonly facts: Readonly<Record<string, string>>;
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
  /** The waves in rollout order, from the output `<id>_rollout`; absent without a rollout. */
  readonly rollout?: ReadonlyArray<{ readonly wave: string; readonly hosts: readonly string[] }>;
  /** The host sets, in order; empty when there are none. */
  readonly hostSets: readonly SynthHostSet[];
  /** Addresses of the resources that carry the hosts named in code (`terraform_data.<id>`, one per wave). */
  readonly hostResources: readonly string[];
}

const SUMMARY_SUFFIX = "_summary";
const RESOURCE_TYPES = ["terraform_data", "null_resource"] as const;

/**
 * Every LoopbackPolicy of a synthesized stack, recognised by its parts: an output `<id>_summary`, a local
 * `<id>_policy_scripts`, and the `terraform_data`/`null_resource` resources with `for_each` whose `input` or
 * `triggers` read that local: those with a destroy-time provisioner carry the hosts (`<id>`, or one per wave),
 * those without re-enforce (`<id>_enforce`). Anything else in the stack is ignored. Throws
 * {@link SynthOutputError} (`invalid`) when the parts are there but do not fit together.
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
    const parts = resourcesOf(id, resources, locals);
    if (scripts === undefined || parts === undefined) continue;
    const policy = readPolicy(stack, file, id, parts, asRecord(outputs[outputName]).value, scripts, locals[`${id}_hosts`]);
    const rollout = rolloutOf(asRecord(outputs[`${id}_rollout`]).value);
    found.push(rollout ? { ...policy, rollout } : policy);
  }
  return found;
}

/** The resources of one construct. */
interface Parts {
  readonly type: SynthPolicy["resourceType"];
  /** With a destroy-time provisioner: the hosts. */
  readonly hosts: Array<Record<string, unknown>>;
  /** Their addresses, in the same order. */
  readonly hostAddresses: string[];
  /** Without: re-enforcing on every apply. */
  readonly enforce: Array<Record<string, unknown>>;
  /** Host sets' resources (a destroy-time provisioner and the `//` note of the set), with their names. */
  readonly sets: Array<{ readonly resource: string; readonly raw: Record<string, unknown> }>;
}

/** The resources of one construct, each with its `for_each` as the map (read from the local it references). */
function resourcesOf(id: string, resources: Record<string, unknown>, locals: Record<string, unknown>): Parts | undefined {
  // `[key]`, or `.key` where cdktf writes a host set's lookup of a key that starts with a letter.
  const reads = new RegExp(`local\\.${id.replace(/[^A-Za-z0-9_]/g, "\\$&")}_policy_scripts[[.]`);
  for (const type of RESOURCE_TYPES) {
    const hosts: Array<Record<string, unknown>> = [];
    const hostAddresses: string[] = [];
    const enforce: Array<Record<string, unknown>> = [];
    const sets: Parts["sets"] = [];
    for (const name of Object.keys(asRecord(resources[type])).sort()) {
      const raw = asRecord(asRecord(resources[type])[name]);
      const local = typeof raw.for_each === "string" ? /^\$\{local\.([A-Za-z0-9_-]+)\}$/.exec(raw.for_each)?.[1] : undefined;
      const res = local === undefined ? raw : { ...raw, for_each: locals[local] };
      const feed = res.input ?? res.triggers;
      if (res.for_each === undefined || typeof feed !== "string" || !reads.test(feed)) continue;
      const blocks = Array.isArray(res.provisioner) ? res.provisioner : [];
      const owner = blocks.some((b) => asRecord(asRecord(b)["remote-exec"]).when === "destroy");
      if (owner && asRecord(res["//"]).loopback_policy_host_set !== undefined) sets.push({ resource: `${type}.${name}`, raw: res });
      else if (owner) {
        hosts.push(res);
        hostAddresses.push(`${type}.${name}`);
      } else enforce.push(res);
    }
    if (hosts.length > 0 || sets.length > 0) return { type, hosts, hostAddresses, enforce, sets };
  }
  return undefined;
}

function readPolicy(stack: string, file: string, id: string, parts: Parts, summaryValue: unknown, scriptsValue: unknown, hostsValue: unknown): SynthPolicy {
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
  // for_each maps host name to generation; the entries live in the local <id>_hosts.
  const hostEntries = asRecord(hostsValue);
  for (const name of parts.hosts.flatMap((r) => Object.keys(asRecord(r.for_each)))) {
    const raw = hostEntries[name];
    if (raw === undefined) throw bad(`host "${name}" is in a for_each but not in local ${id}_hosts`);
    const entry = Object.fromEntries(Object.entries(asRecord(raw)).map(([k, v]) => [k, typeof v === "string" ? terraformUnliteral(v) : v]));
    for (const field of ["address", "port", "user", "policy", "generation", "sudo"]) {
      if (typeof entry[field] !== "string") throw bad(`host "${name}" has no ${field}`);
    }
    if (scripts[entry.policy as string] === undefined || summary[entry.policy as string] === undefined) {
      throw bad(`host "${name}" names policy ${entry.policy}, which the stack does not hold`);
    }
    entries[name] = entry as unknown as HostEntry;
  }
  for (const [key, g] of Object.entries(summary)) {
    const stray = g.hosts.find((h) => entries[h] === undefined);
    if (stray !== undefined) throw bad(`output ${id}_summary["${key}"] names host "${stray}", which the resource's for_each does not hold`);
  }
  const hostSets: SynthHostSet[] = parts.sets.map(({ resource, raw }) => {
    const note = asRecord(asRecord(raw["//"]).loopback_policy_host_set);
    const facts = asRecord(note.facts);
    if (typeof note.set !== "string" || typeof note.for_each !== "string" || typeof facts.policy !== "string") throw bad(`${resource} has an unreadable host-set note`);
    if (summary[facts.policy] === undefined || !(summary[facts.policy].host_sets ?? []).includes(note.set)) {
      throw bad(`host set "${note.set}" names policy ${facts.policy}, whose summary does not list it`);
    }
    const text = Object.fromEntries(Object.entries(facts).filter(([, v]) => typeof v === "string")) as Record<string, string>;
    return { name: note.set, resource, forEach: note.for_each, policy: facts.policy, facts: text };
  });
  for (const [key, g] of Object.entries(summary)) {
    const stray = (g.host_sets ?? []).find((n) => !hostSets.some((h) => h.name === n));
    if (stray !== undefined) throw bad(`output ${id}_summary["${key}"] names host set "${stray}", which no resource of the stack carries`);
  }
  const engineText = engineOf(parts.hosts[0] ?? parts.sets[0].raw);
  return {
    stack,
    file,
    id,
    resourceType: parts.type,
    summary,
    scripts,
    entries,
    ...(engineText !== undefined ? { engine: terraformUnliteral(engineText) } : {}),
    enforced: parts.enforce.flatMap((r) => Object.keys(asRecord(r.for_each))).sort(),
    hostSets,
    hostResources: parts.hostAddresses,
  };
}

/**
 * The engine text, still escaped: the last inline element of the first provisioner that carries it literally
 * (the destroy-time block; the others reference the local <id>_engine, which a destroy-time block may not).
 */
function engineOf(resource: Record<string, unknown>): string | undefined {
  const blocks = Array.isArray(resource.provisioner) ? resource.provisioner : [];
  for (const block of blocks) {
    const inline = asRecord(asRecord(block)["remote-exec"]).inline;
    if (!Array.isArray(inline) || inline.length < 4) continue;
    const text = inline[inline.length - 1];
    if (typeof text === "string" && text.includes("loopback-policy engine")) return text;
  }
  return undefined;
}

/** `[{ wave, hosts }]` from the rollout output's value; undefined when absent or not of that shape. */
function rolloutOf(value: unknown): SynthPolicy["rollout"] {
  if (!Array.isArray(value)) return undefined;
  const waves = value.map(asRecord).map((w) => ({ wave: w.wave, hosts: w.hosts }));
  const ok = waves.every((w) => typeof w.wave === "string" && Array.isArray(w.hosts) && w.hosts.every((h) => typeof h === "string"));
  return ok ? (waves as Array<{ wave: string; hosts: string[] }>) : undefined;
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
