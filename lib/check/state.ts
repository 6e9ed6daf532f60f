import { HostEntry } from "../constructs/host-entries";
import { SynthPolicy } from "../contract/policies";
import { LoopbackPolicyError } from "../policy/errors";
import { validateFleet } from "../policy/validate";

/** Why a Terraform state could not be read. */
export class StateError extends Error {}

/** One resource instance of a state: its resource address (`terraform_data.loopback_web`), key and values. */
export interface StateInstance {
  readonly resource: string;
  readonly key: unknown;
  readonly values: Record<string, unknown>;
}

/**
 * The resource instances of a Terraform state, as `terraform show -json` prints it (`values.root_module`, with
 * child modules) or as the state file holds it (version 4: `resources[].instances[]`). Root-module resources only:
 * the policy's resources are the stack's own.
 */
export function instancesOf(state: unknown): StateInstance[] {
  const doc = record(state);
  if (record(doc.values).root_module !== undefined) {
    // `show -json` lists a deposed object (a replaced instance whose destroy failed) with `deposed_key`.
    return arrayOf(record(record(doc.values).root_module).resources).map(record).filter((r) => r.mode === "managed" && r.deposed_key === undefined).map((r) => ({
      resource: `${r.type}.${r.name}`,
      key: r.index,
      values: record(r.values),
    }));
  }
  if (doc.version === 4 && Array.isArray(doc.resources)) {
    return doc.resources.map(record).filter((r) => r.mode === "managed" && r.module === undefined).flatMap((r) =>
      arrayOf(r.instances).map(record).filter((i) => i.deposed === undefined).map((i) => ({ resource: `${r.type}.${r.name}`, key: i.index_key, values: record(i.attributes) })),
    );
  }
  if (doc.values === undefined && doc.format_version !== undefined) return []; // `terraform show -json` of an empty state
  throw new StateError("is neither `terraform show -json` output nor a Terraform state file (version 4)");
}

/**
 * What was applied to each host of a policy, read from the stack's state: the entry each host's resource instance
 * holds (`input` of terraform_data, `triggers` of null_resource), for the hosts named in code and the hosts of the
 * host sets alike. Hosts not in the state (never applied) are absent.
 */
export function appliedEntries(state: unknown, policy: SynthPolicy): Map<string, { readonly entry: HostEntry; readonly resource: string }> {
  const owners = new Set([...policy.hostResources, ...policy.hostSets.map((s) => s.resource)]);
  const out = new Map<string, { entry: HostEntry; resource: string }>();
  for (const i of instancesOf(state)) {
    if (!owners.has(i.resource) || typeof i.key !== "string") continue;
    const raw = record(policy.resourceType === "terraform_data" ? unwrap(i.values.input) : i.values.triggers);
    const entry: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw)) {
      if (k === "policy_script") continue;
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") entry[k] = String(v);
    }
    for (const field of ["address", "port", "user", "policy", "generation", "sudo"]) {
      if (entry[field] === undefined) throw new StateError(`${i.resource}["${i.key}"] has no ${field} in its ${policy.resourceType === "terraform_data" ? "input" : "triggers"}`);
    }
    checkApplied(entry, `${i.resource}["${i.key}"]`, i.key);
    out.set(i.key, { entry: entry as unknown as HostEntry, resource: i.resource });
  }
  return out;
}

/**
 * A state is a file anyone with access to the backend could have edited: its facts reach ssh's command line, the
 * known_hosts file and the check script, so they must pass the validation literal facts pass at synth.
 */
function checkApplied(e: Record<string, string>, where: string, key: string): void {
  const bad = (field: string, why: string) => new StateError(`${where}: ${field} ${why}; the state is not one this library wrote (or was edited)`);
  if (e.name !== key) throw bad("name", `is ${JSON.stringify(e.name)}, not the instance key`);
  if (!/^[0-9a-f]{8}$/.test(e.generation)) throw bad("generation", "is not 8 hex digits");
  if (e.sudo !== "0" && e.sudo !== "1") throw bad("sudo", 'is not "0" or "1"');
  if (!/^[0-9a-f]{12}$/.test(e.policy)) throw bad("policy", "is not a policy key");
  if (!/^[0-9]{1,5}$/.test(e.port) || (e.bastion_host && !/^[0-9]{1,5}$/.test(e.bastion_port ?? ""))) throw bad("port", "is not a whole number");
  if (e.bastion_host && !e.bastion_user) throw bad("bastion_user", "is missing beside bastion_host");
  // What reaches the known_hosts file must be exactly one "type base64" key.
  for (const [field, key] of [["host_key", e.host_key], ["bastion_host_key", e.bastion_host_key]] as const) {
    if (key && !/^[a-z0-9@.-]+ [A-Za-z0-9+/]+={0,3}$/.test(key)) throw bad(field, 'is not one "type base64" key');
  }
  const timeout = /^([0-9]+)s$/.exec(e.timeout ?? "");
  const spec = {
    name: key,
    address: e.address,
    port: Number(e.port),
    user: e.user,
    sudo: e.sudo === "1",
    ...(e.private_key_path ? { privateKeyPath: e.private_key_path } : {}),
    ...(e.host_key ? { hostKey: [e.host_key] } : {}),
    ...(timeout ? { timeoutSeconds: Number(timeout[1]) } : {}),
    ...(e.bastion_host ? { bastion: { address: e.bastion_host, user: e.bastion_user, port: Number(e.bastion_port), ...(e.bastion_private_key_path ? { privateKeyPath: e.bastion_private_key_path } : {}), ...(e.bastion_host_key ? { hostKey: [e.bastion_host_key] } : {}) } } : {}),
  };
  try {
    validateFleet({ hosts: [spec], rollbackSeconds: 0 });
  } catch (err) {
    if (err instanceof LoopbackPolicyError) throw new StateError(`${where}: ${err.message.replace(/^hosts\[0\]\./, "")}`);
    throw err;
  }
}

/** terraform_data's `input` is a dynamic value: the state file keeps it as `{ value, type }`, `show -json` as the value. */
function unwrap(v: unknown): unknown {
  const r = record(v);
  return r.value !== undefined && r.type !== undefined && Object.keys(r).length === 2 ? r.value : v;
}

function record(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function arrayOf(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
