import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { homedir, tmpdir } from "os";
import { join } from "path";
import { HostEntry } from "../constructs/host-entries";
import { SynthPolicy } from "../contract/policies";
import { SynthOut } from "../contract/read-out";
import { HostOutcome, hostOutcome } from "./outcome";
import { mapBounded } from "./pool";
import { runSsh } from "./run-ssh";
import { checkScript } from "./script";
import { appliedEntries } from "./state";
import { sshCommand } from "./ssh";

/** A host to check, with what it is checked against. */
export interface CheckTarget {
  readonly stack: string;
  /** The LoopbackPolicy's logical name. */
  readonly id: string;
  readonly host: string;
  readonly entry: HostEntry;
  /** The complete check-mode script for the host. */
  readonly script: string;
}

/** A host's check result. */
export interface HostCheck extends HostOutcome {
  readonly stack: string;
  readonly id: string;
  readonly host: string;
  readonly address: string;
  readonly seconds: number;
}

/** How {@link checkHosts} connects. */
export interface CheckOptions {
  /**
   * Hosts checked at once.
   * @default 10
   */
  readonly parallelism?: number;
  /**
   * Seconds ssh may take to connect (ConnectTimeout).
   * @default 10
   */
  readonly connectTimeoutSeconds?: number;
  /**
   * Seconds a host's whole check may take before it counts as unreachable.
   * @default 120
   */
  readonly timeoutSeconds?: number;
  /**
   * The ssh client.
   * @default "ssh"
   */
  readonly ssh?: string;
  /**
   * Where each host's temporary known_hosts files are made (and removed after its check).
   * @default the system's temporary directory
   */
  readonly tmpDir?: string;
  /** Called as each host finishes, with how many have. */
  readonly onProgress?: (result: HostCheck, done: number, total: number) => void;
}

/** Which hosts of a synth to check. */
export interface TargetFilter {
  /** Only these stacks (all when absent or empty). */
  readonly stacks?: readonly string[];
  /** Only these hosts (all when absent or empty). */
  readonly hosts?: readonly string[];
  /**
   * Per stack, its Terraform state (`terraform show -json` output, or the state file): hosts are checked as they
   * were applied, and the hosts of host sets and hosts whose facts are tokens become known.
   * @default no state: only hosts whose facts are all literal can be checked
   */
  readonly states?: ReadonlyMap<string, unknown>;
}

/** The hosts to check, and what cannot be checked without the stack's state (`stack/id: what`). */
export interface Targets {
  readonly targets: CheckTarget[];
  readonly unknown: string[];
}

/**
 * The hosts of a synth to check, in stack, construct and host-name order, each with its script. With a stack's
 * state, each host is checked against the entry it was applied with; without, hosts known only after apply (a
 * token fact, a host set) are listed in `unknown`.
 */
export function findTargets(out: SynthOut, filter: TargetFilter = {}): Targets {
  const targets: CheckTarget[] = [];
  const unknown: string[] = [];
  const wanted = (host: string) => !filter.hosts?.length || filter.hosts.includes(host);
  for (const stack of out.stacks) {
    if (filter.stacks?.length && !filter.stacks.includes(stack.name)) continue;
    const state = filter.states?.get(stack.name);
    for (const policy of stack.policies) {
      const applied = state === undefined ? undefined : appliedEntries(state, policy);
      const hosts = new Set([...Object.keys(policy.entries), ...(applied?.keys() ?? [])]);
      for (const host of [...hosts].sort()) {
        if (!wanted(host)) continue;
        const entry = desired(policy, host, applied?.get(host));
        if (entry === undefined) continue;
        if (Object.values(entry).some((v) => typeof v === "string" && v.includes("${"))) {
          unknown.push(`${stack.name}/${policy.id}: host ${host} (${applied ? "not in the state: never applied" : "its facts are known after apply"})`);
          continue;
        }
        targets.push({ stack: policy.stack, id: policy.id, host, entry, script: checkScript(policy, host, entry) });
      }
      if (applied === undefined) for (const set of policy.hostSets) unknown.push(`${stack.name}/${policy.id}: host set ${set.name} (its hosts are known after apply)`);
      // A state that holds none of the policy's hosts is not this stack's (or is from before its first apply):
      // its sets would be checked as empty.
      else if (applied.size === 0 && (policy.hostSets.length > 0 || Object.keys(policy.entries).length > 0)) {
        unknown.push(`${stack.name}/${policy.id}: the state given holds none of its hosts (another stack's state, or one from before the first apply)`);
      }
    }
  }
  return { targets, unknown };
}

/**
 * What a host is checked against: the synth's entry, unless a fact of it is known only after apply, or the host is
 * a host set's; then how it was applied (the state's entry: address, port, generation...) with the policy the synth
 * gives it now, so a policy changed since the deploy shows as drift.
 */
function desired(policy: SynthPolicy, host: string, applied?: { entry: HostEntry; resource: string }): HostEntry | undefined {
  const synth = policy.entries[host];
  if (applied === undefined) return synth;
  if (synth !== undefined && !Object.values(synth).some((v) => typeof v === "string" && v.includes("${"))) return synth;
  const set = policy.hostSets.find((s) => s.resource === applied.resource);
  return { ...applied.entry, policy: set?.policy ?? synth?.policy ?? applied.entry.policy };
}

/** The hosts of a synth that can be checked without its state (see {@link findTargets}). */
export function checkTargets(out: SynthOut, filter: TargetFilter = {}): CheckTarget[] {
  return findTargets(out, filter).targets;
}

/** Check hosts over SSH, at most `parallelism` at once; results in target order. */
export function checkHosts(targets: readonly CheckTarget[], options: CheckOptions = {}): Promise<HostCheck[]> {
  return mapBounded(
    targets,
    options.parallelism ?? 10,
    (t) => checkHost(t, options),
    (result, done) => options.onProgress?.(result, done, targets.length),
  );
}

/** Check one host: its known_hosts files live in a temporary directory removed afterwards. */
export async function checkHost(t: CheckTarget, options: CheckOptions = {}): Promise<HostCheck> {
  const started = Date.now();
  const dir = mkdtempSync(join(options.tmpDir ?? tmpdir(), "lbp-check-"));
  try {
    const files = { host: join(dir, "known_hosts"), bastion: join(dir, "bastion_known_hosts") };
    const cmd = sshCommand(t.entry, files, { connectTimeout: options.connectTimeoutSeconds ?? 10, home: homedir() });
    writeFileSync(files.host, cmd.hostKnownHosts, { mode: 0o600 });
    if (cmd.bastionKnownHosts !== null) writeFileSync(files.bastion, cmd.bastionKnownHosts, { mode: 0o600 });
    const run = await runSsh(options.ssh ?? "ssh", cmd.args, t.script, options.timeoutSeconds ?? 120);
    const outcome = hostOutcome(t.host, run);
    return { stack: t.stack, id: t.id, host: t.host, address: t.entry.address, ...outcome, seconds: Math.round((Date.now() - started) / 100) / 10 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
