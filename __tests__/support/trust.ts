import { existsSync, mkdirSync, readFileSync, writeFileSync } from "fs";
import { join } from "path";
import { NetnsHost } from "./netns";

/**
 * Helpers for the "can the engine be trusted" tests: a complete picture of a host's firewall (native nftables
 * and both iptables families) and of its persisted files, to show that a refusal changed nothing.
 */

/** Everything a run could change: the whole nftables ruleset, both saves, and the named files (null: absent). */
export interface HostState {
  readonly nft: string;
  readonly v4: string;
  readonly v6: string;
  readonly files: Record<string, string | null>;
}

/** Drop the volatile parts of a save: its "# Generated/Completed" lines and counters. Other comments stay. */
function normSave(text: string): string {
  return text
    .split("\n")
    .filter((l) => !/^# (Generated|Completed) /.test(l))
    .map((l) => l.replace(/^\[\d+:\d+\] /, "").replace(/ \[\d+:\d+\]$/, ""))
    .join("\n");
}

/** The complete state of the host: `nft -s list ruleset` (no counters), iptables-save and ip6tables-save, files. */
export function hostState(h: NetnsHost, files: string[] = []): HostState {
  const out: Record<string, string | null> = {};
  for (const f of files) out[f] = existsSync(f) ? readFileSync(f, "utf8") : null;
  return {
    // -s: stateless (no counter values); the "managed by iptables-nft" warning goes to stderr.
    nft: h.try("nft -s list ruleset 2>/dev/null").stdout,
    v4: normSave(h.try("iptables-save 2>&1").stdout),
    v6: normSave(h.try("ip6tables-save 2>&1").stdout),
    files: out,
  };
}

/** A run's result. */
export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** The contract of a refusal: exit 1 and "FAILED" (the engine's own word) on stderr (the output is in the diff when it is not). */
export function expectRefused(r: RunResult): void {
  // Case-sensitive: iptables tools print their own lower-case "failed" (e.g. "Parsing nftables rule failed").
  expect({ status: r.status, failed: /FAILED/.test(r.stderr) }).toEqual({ status: 1, failed: true });
}

/** The refusal says what it saw: stderr matches every pattern. */
export function expectSaid(r: RunResult, ...saw: RegExp[]): void {
  for (const re of saw) expect(r.stderr).toMatch(re);
}

/** Run a command in the namespace and fail the test with its output when it fails. */
export function setup(h: NetnsHost, command: string): void {
  const r = h.try(command);
  if (r.status !== 0) throw new Error(`set-up failed (${r.status}): ${command}\n${r.stdout}\n${r.stderr}`);
}

/** Load an nftables ruleset (nft -f) in the namespace. */
export function nftLoad(h: NetnsHost, ruleset: string): void {
  const file = join(h.dir, `ruleset-${Math.random().toString(36).slice(2)}.nft`);
  writeFileSync(file, ruleset);
  setup(h, `nft -f ${file}`);
}

/**
 * Give the namespace its own /etc/iptables (what `ip netns exec` bind-mounts from /etc/netns/<ns>/iptables, as the
 * lab does) holding rules.v4/rules.v6, so that persistence "auto" writes there and never to the machine's own
 * /etc/iptables. Returns the two files as seen from outside the namespace.
 */
export function etcIptables(h: NetnsHost, v4: string, v6: string): { v4: string; v6: string } {
  // The bind mount needs a mount point: the lab creates /etc/iptables the same way when it is missing.
  if (!existsSync("/etc/iptables")) mkdirSync("/etc/iptables");
  const dir = join("/etc/netns", h.ns, "iptables");
  mkdirSync(dir, { recursive: true });
  const files = { v4: join(dir, "rules.v4"), v6: join(dir, "rules.v6") };
  writeFileSync(files.v4, v4);
  writeFileSync(files.v6, v6);
  // Make sure the namespace really sees them as its /etc/iptables.
  if (h.sh("cat /etc/iptables/rules.v4") !== v4) throw new Error("ip netns exec did not bind /etc/netns/<ns>/iptables over /etc/iptables");
  return files;
}

/** Explicit persistence files under the host's temp dir (the policy's `persistence: { v4Path, v6Path }`). */
export function persistFiles(h: NetnsHost): { v4Path: string; v6Path: string } {
  return { v4Path: join(h.dir, "persist", "rules.v4"), v6Path: join(h.dir, "persist", "rules.v6") };
}

/** Write the live ruleset of both families into persistence files, as a previous good confirm would have. */
export function writeLiveRules(h: NetnsHost, p: { v4Path: string; v6Path: string }): void {
  mkdirSync(join(h.dir, "persist"), { recursive: true });
  writeFileSync(p.v4Path, h.sh("iptables-save"));
  writeFileSync(p.v6Path, h.sh("ip6tables-save"));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
