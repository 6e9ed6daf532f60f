import { LoopbackPolicyError } from "../policy/errors";
import { isPlainKey, quoteValue } from "../policy/quote";
import { Fleet } from "../policy/model";
import { RolloutSpec } from "../policy/rollout";

/** One wave of a rollout: hosts that change together, after every host of the waves before. */
export interface Wave {
  /** `canary`, `fleet`, a label value, or one of those with a batch number: `fleet-2`. */
  readonly name: string;
  /** Host names, in fleet order. */
  readonly hosts: readonly string[];
}

const WAVE_NAME = /^[A-Za-z0-9_-]{1,40}$/;

/**
 * Order a fleet into waves: the canary hosts first, then the hosts grouped by the rollout label (in `order`,
 * then alphabetically) or all together, each group split into batches of `batchSize`. Every host is in exactly
 * one wave; no wave is empty.
 */
export function planWaves(fleet: Fleet, rollout: RolloutSpec): Wave[] {
  const field = "rollout";
  if (rollout === null || typeof rollout !== "object" || Array.isArray(rollout)) {
    throw new LoopbackPolicyError(field, `${quoteValue(rollout)} is not an object`, 'pass { "canary": [...], "batchSize": N } or { "byLabel": "wave" }');
  }
  for (const key of Object.keys(rollout)) {
    if (!["canary", "byLabel", "order", "batchSize"].includes(key)) {
      throw new LoopbackPolicyError(isPlainKey(key) ? `${field}.${key}` : field, isPlainKey(key) ? "unknown field" : `unknown field ${quoteValue(key)}`, "remove it; known fields are canary, byLabel, order, batchSize");
    }
  }
  const names = new Set(fleet.hosts.map((h) => h.name));
  if (!Array.isArray(rollout.canary ?? [])) {
    throw new LoopbackPolicyError(`${field}.canary`, `${quoteValue(rollout.canary)} is not a list`, 'list host names: ["web-1"]');
  }
  const canary = [...(rollout.canary ?? [])];
  canary.forEach((n, i) => {
    if (!names.has(n)) {
      throw new LoopbackPolicyError(`${field}.canary[${i}]`, `${quoteValue(n)} is not a host of the fleet`, "name a host from hosts[].name");
    }
  });
  if (new Set(canary).size !== canary.length) {
    throw new LoopbackPolicyError(`${field}.canary`, "names a host twice", "list each canary host once");
  }
  const size = rollout.batchSize;
  if (size !== undefined && (typeof size !== "number" || !Number.isInteger(size) || size < 1)) {
    throw new LoopbackPolicyError(`${field}.batchSize`, `${quoteValue(size)} is not a positive whole number`, "use a whole number of hosts per batch, 1 or more");
  }

  const inCanary = new Set(canary);
  const rest = fleet.hosts.filter((h) => !inCanary.has(h.name));
  const groups = new Map<string, string[]>();
  if (rollout.byLabel === undefined) {
    if (rest.length > 0) groups.set("fleet", rest.map((h) => h.name));
  } else {
    const label: unknown = rollout.byLabel;
    if (typeof label !== "string" || !/^[A-Za-z0-9._:/-]{1,63}$/.test(label)) {
      throw new LoopbackPolicyError(`${field}.byLabel`, `${quoteValue(label)} is not a label name`, 'name a host label, e.g. "wave"');
    }
    for (const h of rest) {
      const value = h.labels[label];
      if (value === undefined) {
        throw new LoopbackPolicyError(`hosts[${fleet.hosts.indexOf(h)}].labels.${label}`, `host "${h.name}" has no "${label}" label, which rollout.byLabel needs`, `give it one (labels: { "${label}": "..." }) or put it in rollout.canary`);
      }
      groups.set(value, [...(groups.get(value) ?? []), h.name]);
    }
  }
  const order = [...(rollout.order ?? [])];
  const ordered = [...groups.keys()].sort((a, b) => rank(order, a) - rank(order, b) || a.localeCompare(b));

  const waves: Wave[] = canary.length > 0 ? [{ name: "canary", hosts: fleet.hosts.filter((h) => inCanary.has(h.name)).map((h) => h.name) }] : [];
  for (const group of ordered) {
    const hosts = groups.get(group)!;
    const name = group.replace(/[^A-Za-z0-9_-]/g, "_");
    if (!WAVE_NAME.test(name) || name === "canary") {
      throw new LoopbackPolicyError(`rollout.byLabel`, `label value ${quoteValue(group)} cannot name a wave`, "use label values of 1-40 letters, digits, '_' or '-', other than \"canary\"");
    }
    if (size === undefined) {
      waves.push({ name, hosts });
    } else {
      for (let i = 0; i < hosts.length; i += size) waves.push({ name: `${name}-${i / size + 1}`, hosts: hosts.slice(i, i + size) });
    }
  }
  return waves;
}

function rank(order: readonly string[], value: string): number {
  const i = order.indexOf(value);
  return i < 0 ? order.length : i;
}
