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
}

/** The hosts of a synth to check, in stack, construct and host-name order, each with its script. */
export function checkTargets(out: SynthOut, filter: TargetFilter = {}): CheckTarget[] {
  const targets: CheckTarget[] = [];
  for (const stack of out.stacks) {
    if (filter.stacks?.length && !filter.stacks.includes(stack.name)) continue;
    for (const policy of stack.policies) {
      for (const host of Object.keys(policy.entries).sort()) {
        if (filter.hosts?.length && !filter.hosts.includes(host)) continue;
        targets.push(target(policy, host));
      }
    }
  }
  return targets;
}

function target(policy: SynthPolicy, host: string): CheckTarget {
  return { stack: policy.stack, id: policy.id, host, entry: policy.entries[host], script: checkScript(policy, host) };
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
