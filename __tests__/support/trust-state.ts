import { execFileSync, spawn, spawnSync } from "child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "fs";
import { join } from "path";
import { Persistence, PolicyOptions, ScriptMode, planRules, renderHostScript, renderPolicyScript, validateFleet } from "../../lib/core";
import { NetnsHost, ScriptOptions } from "./netns";

/**
 * Helpers of __tests__/netns/trust-state.test.ts: what "changed nothing" means (every table of both families,
 * counters dropped), scripts rendered without validation, PATH wrappers, tiny file systems, processes in a namespace.
 */

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;

/** Seed 000's host: DROP policies, only SSH allowed (host-script.test.ts and the trust suites start from it). */
export const SEED_000 = [
  "iptables -P INPUT DROP",
  "iptables -P OUTPUT DROP",
  "iptables -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
  "iptables -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
  "ip6tables -P INPUT DROP",
  "ip6tables -P OUTPUT DROP",
  "ip6tables -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
].join(" && ");

/**
 * Every table of both families (nf_tables backend and, when present, legacy), without counters or comment lines:
 * equal before and after means the run changed nothing in the kernel.
 */
export function everything(h: NetnsHost, path = ""): string {
  const pre = path ? `PATH=${path}:$PATH ` : "";
  const dump = (cmd: string) =>
    h.try(`${pre}${cmd}`).stdout.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.replace(/ \[\d+:\d+\]$/, "").replace(/^\[\d+:\d+\] /, ""));
  return [
    "== iptables-save", ...dump("iptables-save"),
    "== ip6tables-save", ...dump("ip6tables-save"),
    "== iptables-legacy-save", ...dump("iptables-legacy-save 2>/dev/null"),
    "== ip6tables-legacy-save", ...dump("ip6tables-legacy-save 2>/dev/null"),
  ].join("\n");
}

/** The managed (lbp-tagged) rules of a family, every table, on the default backend or the one first on `path`. */
export function managed(h: NetnsHost, family: "ipv4" | "ipv6", path = ""): string[] {
  const tool = family === "ipv4" ? "iptables-save" : "ip6tables-save";
  return h.try(`${path ? `PATH=${path}:$PATH ` : ""}${tool}`).stdout.split("\n").filter((l) => l.includes("lbp:"));
}

/**
 * A user chain LBPBIG of `n` rules in a table (filter by default) (never jumped to, so it filters nothing), loaded in one
 * iptables-restore: about 100 bytes a rule in iptables-save, so 4000 rules make a save of ~400 KB.
 */
export function bigRuleset(h: NetnsHost, n = 4000, family: "ipv4" | "ipv6" = "ipv4", table = "filter"): void {
  const lines = [`*${table}`, ":LBPBIG - [0:0]"];
  for (let i = 0; i < n; i++) {
    const src = family === "ipv4" ? `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32` : `2001:db8::${i.toString(16)}/128`;
    lines.push(`-A LBPBIG -s ${src} -p tcp -m tcp --dport ${1024 + (i % 60000)} -m comment --comment "padding-rule-${String(i).padStart(6, "0")}-xxxxxxxxxxxx" -j ACCEPT`);
  }
  lines.push("COMMIT", "");
  const file = join(h.dir, `big-${family}-${table}.rules`);
  writeFileSync(file, lines.join("\n"));
  h.sh(`${family === "ipv4" ? "iptables" : "ip6tables"}-restore --noflush < ${file}`);
}

/** A tmpfs of `kb` KiB mounted on `dir` in the root mount namespace (every `ip netns exec` sees it); undo with the returned function. */
export function tinyTmpfs(dir: string, kb: number): () => void {
  mkdirSync(dir, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${kb}k,mode=0755`, "lbpfull", dir]);
  let mounted = true;
  return () => {
    if (!mounted) return;
    mounted = false;
    // Lazy: a process left in the namespace (a rollback timer) may still hold a file open there.
    spawnSync("umount", ["-l", dir]);
  };
}

/** Mounts made by a test, unmounted in afterEach even when the test failed. */
export function mounts(): (dir: string, kb: number) => () => void {
  let undo: Array<() => void> = [];
  afterEach(() => {
    for (const u of undo.reverse()) u();
    undo = [];
  });
  return (dir: string, kb: number) => {
    const u = tinyTmpfs(dir, kb);
    undo.push(u);
    return u;
  };
}

/**
 * The host script for a policy whose persistence is set AFTER validation: paths the synth-time validation may
 * reject (directories, state files, anything) reach the engine as they would from a hand-edited or older plan.
 */
export function rawScript(h: NetnsHost, mode: ScriptMode, policy: PolicyOptions, persistence: { v4Path: string; v6Path: string } | undefined, opts: ScriptOptions = {}): string {
  const validated = validateFleet({ hosts: [{ name: "test-host", address: "192.0.2.1" }], ...policy }).hosts[0].policy;
  const p = persistence ? { ...validated, persistence: { mode: "files", v4Path: persistence.v4Path, v6Path: persistence.v6Path } as unknown as Persistence } : validated;
  const text = renderHostScript(
    { mode, host: "test-host", generation: opts.generation ?? "0badc0de", sudo: opts.sudo ?? "0", instance: opts.instance ?? "" },
    renderPolicyScript(p, planRules(p)).text,
  );
  const file = join(h.dir, `raw-${mode}-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(file, text, { mode: 0o644 });
  return file;
}

/** Run a script file in the namespace with the host's state directory (and more environment). */
export function runFile(h: NetnsHost, file: string, env: Record<string, string> = {}) {
  return h.try(`/bin/sh ${file}`, { ...h.env, ...env });
}

/** A directory of executable wrappers `{ name: body }` (sh), to put first on PATH. */
export function wrappers(h: NetnsHost, label: string, tools: Record<string, string>): string {
  const dir = join(h.dir, `wrap-${label}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, body] of Object.entries(tools)) writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return dir;
}

/** The processes in the namespace: pid, parent pid, command line. */
export function nsProcesses(h: NetnsHost): Array<{ pid: number; ppid: number; cmd: string }> {
  const pids = spawnSync("ip", ["netns", "pids", h.ns], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).map(Number);
  const out: Array<{ pid: number; ppid: number; cmd: string }> = [];
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
      out.push({ pid, ppid, cmd });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** A file's bytes, or null when it does not exist. */
export function bytes(path: string): Buffer | null {
  return existsSync(path) ? readFileSync(path) : null;
}

/** Hold a lock file with flock(1) inside the namespace for `seconds`; resolves once the lock is taken. */
export async function holdLock(h: NetnsHost, file: string, seconds: number): Promise<{ released: Promise<unknown>; kill: () => void }> {
  const c = spawn("ip", ["netns", "exec", h.ns, "flock", file, "sh", "-c", `touch ${file}.held; sleep ${seconds}`], { stdio: "ignore", detached: true });
  const released = new Promise((r) => c.on("exit", r));
  for (let i = 0; i < 100 && !existsSync(`${file}.held`); i++) await sleep(20);
  return {
    released,
    kill: () => {
      try {
        process.kill(-c.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    },
  };
}

/**
 * Run a script in a private mount namespace where /usr/sbin (= /sbin here) holds only the named tools (copied from
 * the real /usr/sbin): a host without the iptables binaries, say. The engine appends /usr/sbin:/sbin to PATH, so
 * hiding them by PATH alone would not do.
 */
export function withOnlySbin(h: NetnsHost, tools: string[], file: string, env: Record<string, string> = {}) {
  const copy = tools.map((t) => `cp -L /usr/sbin/${t} "$d/"`).join(" && ");
  return spawnSync("ip", ["netns", "exec", h.ns, "unshare", "-m", "--propagation", "private", "sh", "-c",
    `d=$(mktemp -d) && ${copy || ":"} && mount -t tmpfs none /usr/sbin && cp -a "$d"/. /usr/sbin/ && /bin/sh ${file}`,
  ], { encoding: "utf8", env: { ...process.env, ...h.env, PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", ...env } });
}
