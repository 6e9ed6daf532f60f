import { LoopbackPolicyError } from "../policy/errors";
import { isPlainKey, quoteValue } from "../policy/quote";
import { LoopbackPolicyProps } from "../constructs/loopback-policy";

/**
 * How a fleet file is split into stacks: each stack has its own Terraform state (and lock), and the stacks deploy
 * in parallel with `cdktf deploy '*' --parallelism K`.
 */
export interface ShardingSpec {
  /**
   * At most this many hosts per stack: the hosts (of each label group, with `byLabel`) in fleet order, in chunks
   * named `<stack>-1`, `<stack>-2`, ... (`<stack>-<value>-1`, ... with `byLabel`).
   * @default no limit
   */
  readonly maxHostsPerStack?: number;
  /**
   * One stack per value of this host label: `<stack>-<value>`. Every host must carry the label.
   * @default no split by label
   */
  readonly byLabel?: string;
}

/** The fleet-file fields that are not {@link LoopbackPolicyProps}: they shape the app, not the construct. */
export interface FleetLayout {
  /**
   * Name of the Terraform stack (with sharding: the prefix of every stack's name), and of its directory under
   * `cdktf.out/stacks/`.
   * @default "loopback"
   */
  readonly stack?: string;
  /**
   * Split the fleet into several stacks.
   * @default one stack
   */
  readonly sharding?: ShardingSpec;
  /**
   * Where each stack's state lives (see `lib/app/backend.ts`).
   * @default the local backend: `terraform.<stack>.tfstate` next to cdktf.json
   */
  readonly backend?: unknown;
}

/** One stack of a fleet: its name and what its LoopbackPolicy gets. */
export interface Shard {
  /** `<stack>`, `<stack>-<n>`, `<stack>-<label value>` or `<stack>-<label value>-<n>`; `[A-Za-z0-9_-]` only. */
  readonly stackName: string;
  /** The construct's props: the fleet's, with this shard's hosts (and its share of `rollout.canary`). */
  readonly props: LoopbackPolicyProps;
  /** For each host of `props.hosts`, its index in the fleet file's `hosts` (to name it in errors). */
  readonly hostIndexes: readonly number[];
}

/** Fields of a fleet file that the app reads and the LoopbackPolicy construct never sees. */
export const LAYOUT_FIELDS: readonly string[] = ["stack", "sharding", "backend"];

const STACK_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const LABEL_KEY = /^[A-Za-z0-9._:/-]{1,63}$/;
const MAX_HOSTS_PER_STACK = 1_000_000;

/** The name a label value gives a stack: every character outside `[A-Za-z0-9_-]` becomes `_`. */
export function sanitizeName(value: string): string {
  return value.replace(/[^A-Za-z0-9_-]/g, "_");
}

/** The stack name of a fleet file (validated), `loopback` by default. */
export function stackNameOf(file: FleetLayout, where = "the fleet file"): string {
  const stack = file.stack ?? "loopback";
  if (typeof stack !== "string" || !STACK_NAME.test(stack)) {
    throw new LoopbackPolicyError("stack", `${quoteValue(stack)} (in ${where}) is not a usable stack name`, "use letters, digits, '_' and '-', starting with a letter");
  }
  return stack;
}

/**
 * Split a fleet file into stacks. Pure: the same file gives the same stacks, in the same order.
 *
 * - No `sharding`: one stack named `stack` holding every host (as before sharding existed).
 * - `maxHostsPerStack: N`: chunks of N hosts in fleet order, `<stack>-1`, `<stack>-2`, ... Appending hosts only
 *   fills the last stack and adds new ones; inserting or removing a host in the middle shifts every later host
 *   by one position, so one host at each later chunk boundary moves to the neighbouring stack.
 * - `byLabel: "region"`: one stack per label value, `<stack>-<value>`, in the order values first appear.
 * - both: each label group in chunks, `<stack>-<value>-1`, ...
 *
 * Stack names depend on the sharding settings, never on how many hosts there are, so a stack keeps its name
 * (and state) as the fleet grows. The fleet-level fields that are not construct props (`stack`, `sharding`,
 * `backend`) are stripped; every other field (policy, `connection`, `resourceType`, `rollout`) goes to every
 * shard untouched, except that `rollout.canary` keeps only the shard's own hosts.
 */
export function shardFleet(file: LoopbackPolicyProps & FleetLayout, where = "the fleet file"): Shard[] {
  const stack = stackNameOf(file, where);
  const { stack: _stack, sharding, backend: _backend, ...props } = file;
  void _stack;
  void _backend;
  if (sharding === undefined) {
    const hosts: unknown = props.hosts;
    return [{ stackName: stack, props, hostIndexes: Array.isArray(hosts) ? hosts.map((_, i) => i) : [] }];
  }
  const spec = checkSharding(sharding);
  const hosts = checkHosts(props.hosts);

  const groups = new Map<string, number[]>();
  if (spec.byLabel === undefined) {
    groups.set("", hosts.map((_, i) => i));
  } else {
    const label = spec.byLabel;
    const missing: number[] = [];
    hosts.forEach((h, i) => {
      const value = labelOf(h, label);
      if (value === undefined) missing.push(i);
      else groups.set(value, [...(groups.get(value) ?? []), i]);
    });
    if (groups.size === 0) {
      const known = [...new Set(hosts.flatMap((h) => Object.keys(labelsOf(h))))];
      throw new LoopbackPolicyError(
        "sharding.byLabel",
        `no host has a label ${quoteValue(label)}`,
        known.length > 0 ? `use a label the hosts carry (${known.map((k) => quoteValue(k)).join(", ")}), or give every host a "${label}" label` : `give every host a "${label}" label (labels: { "${label}": "..." })`,
      );
    }
    if (missing.length > 0) {
      const i = missing[0];
      throw new LoopbackPolicyError(
        `hosts[${i}].labels.${label}`,
        `host ${quoteValue(nameOf(hosts[i]))} has no "${label}" label, which sharding.byLabel needs (${missing.length} host(s) lack it)`,
        `give every host a "${label}" label, or shard by maxHostsPerStack only`,
      );
    }
  }

  const shards: Shard[] = [];
  const seen = new Map<string, string>();
  for (const [value, indexes] of groups) {
    const base = spec.byLabel === undefined ? stack : `${stack}-${sanitizeName(value)}`;
    const chunks: number[][] = [];
    if (spec.maxHostsPerStack === undefined) chunks.push(indexes);
    else for (let k = 0; k < indexes.length; k += spec.maxHostsPerStack) chunks.push(indexes.slice(k, k + spec.maxHostsPerStack));
    chunks.forEach((chunk, k) => {
      const stackName = spec.maxHostsPerStack === undefined ? base : `${base}-${k + 1}`;
      const before = seen.get(stackName.toLowerCase());
      if (before !== undefined) {
        throw new LoopbackPolicyError(
          "sharding.byLabel",
          `label values ${quoteValue(before)} and ${quoteValue(value)} both give the stack name "${stackName}" (characters outside A-Z, a-z, 0-9, '_', '-' become '_'; case is ignored)`,
          "rename one of the label values so that the stack names differ",
        );
      }
      seen.set(stackName.toLowerCase(), value);
      shards.push({ stackName, props: { ...props, hosts: chunk.map((i) => props.hosts![i]), ...rolloutFor(props, chunk) }, hostIndexes: chunk });
    });
  }
  checkUniqueNames(hosts);
  checkCanary(props, hosts);
  return shards;
}

function checkSharding(value: unknown): { maxHostsPerStack?: number; byLabel?: string } {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new LoopbackPolicyError("sharding", `${quoteValue(value)} is not an object`, 'use { "maxHostsPerStack": 500 }, { "byLabel": "region" } or both');
  }
  const known = ["maxHostsPerStack", "byLabel"];
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
      throw new LoopbackPolicyError(isPlainKey(key) ? `sharding.${key}` : "sharding", isPlainKey(key) ? "unknown field" : `unknown field ${quoteValue(key)}`, near ? `did you mean "${near}"?` : `remove it; known fields are ${known.join(", ")}`);
    }
  }
  const { maxHostsPerStack: max, byLabel } = value as Record<string, unknown>;
  if (max === undefined && byLabel === undefined) {
    throw new LoopbackPolicyError("sharding", "says neither maxHostsPerStack nor byLabel", 'set "maxHostsPerStack": N, "byLabel": "<label>" or both, or remove sharding for one stack');
  }
  if (max !== undefined) {
    if (typeof max !== "number" || !Number.isInteger(max)) {
      throw new LoopbackPolicyError("sharding.maxHostsPerStack", `${quoteValue(max)} is not a whole number`, `use a whole number of hosts from 1 to ${MAX_HOSTS_PER_STACK}, without quotes`);
    }
    if (max < 1 || max > MAX_HOSTS_PER_STACK) {
      throw new LoopbackPolicyError("sharding.maxHostsPerStack", `${max} is out of range`, `use a whole number of hosts from 1 to ${MAX_HOSTS_PER_STACK} (docs/SCALE.md: 500-2,000 is a good size)`);
    }
  }
  if (byLabel !== undefined && (typeof byLabel !== "string" || !LABEL_KEY.test(byLabel))) {
    throw new LoopbackPolicyError("sharding.byLabel", `${quoteValue(byLabel)} is not a label name`, 'name a host label, e.g. "region"');
  }
  return { maxHostsPerStack: max as number | undefined, byLabel: byLabel as string | undefined };
}

function checkHosts(hosts: unknown): readonly unknown[] {
  if (!Array.isArray(hosts)) {
    throw new LoopbackPolicyError("hosts", `${quoteValue(hosts)} is not a list`, 'list the hosts: [{ "name": "web-1", "address": "192.0.2.10" }]');
  }
  if (hosts.length === 0) {
    throw new LoopbackPolicyError("hosts", "the fleet is empty, so sharding would give stacks without hosts", 'list at least one host: [{ "name": "web-1", "address": "192.0.2.10" }]');
  }
  return hosts;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const labelsOf = (h: unknown): Record<string, unknown> => (isObject(h) && isObject(h.labels) ? h.labels : {});
const nameOf = (h: unknown): unknown => (isObject(h) ? h.name : undefined);

function labelOf(h: unknown, label: string): string | undefined {
  const v = labelsOf(h)[label];
  return typeof v === "string" && v.length > 0 ? v : undefined;
}

/** Host names must be unique across the fleet, not only within a stack: two stacks would manage one host. */
function checkUniqueNames(hosts: readonly unknown[]): void {
  const seen = new Map<string, number>();
  hosts.forEach((h, i) => {
    const name = nameOf(h);
    if (typeof name !== "string") return; // the construct names the problem
    const first = seen.get(name.toLowerCase());
    if (first !== undefined) {
      throw new LoopbackPolicyError(
        `hosts[${i}].name`,
        `${quoteValue(name)} is already the name of hosts[${first}] (names are compared without case)`,
        "give every host a unique name; it is the host's Terraform resource key",
      );
    }
    seen.set(name.toLowerCase(), i);
  });
}

/** `rollout.canary` names hosts of the whole fleet; each shard gets the ones it holds. */
function rolloutFor(props: LoopbackPolicyProps, chunk: readonly number[]): Partial<LoopbackPolicyProps> {
  const rollout: unknown = props.rollout;
  if (!isObject(rollout) || !Array.isArray(rollout.canary)) return {};
  const names = new Set(chunk.map((i) => nameOf(props.hosts![i])));
  return { rollout: { ...rollout, canary: rollout.canary.filter((n: unknown) => names.has(n)) } } as Partial<LoopbackPolicyProps>;
}

/** A canary name that is no host at all would otherwise vanish silently when each shard keeps its own. */
function checkCanary(props: LoopbackPolicyProps, hosts: readonly unknown[]): void {
  const rollout: unknown = props.rollout;
  if (!isObject(rollout) || !Array.isArray(rollout.canary)) return;
  const names = new Set(hosts.map(nameOf));
  rollout.canary.forEach((n: unknown, i: number) => {
    if (!names.has(n)) {
      throw new LoopbackPolicyError(`rollout.canary[${i}]`, `${quoteValue(n)} is not a host of the fleet`, "name a host from hosts[].name");
    }
  });
}
