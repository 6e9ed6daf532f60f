import { execFileSync, spawnSync } from "child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { Persistence, Policy, PolicyOptions, ScriptMode, planRules, renderHostScript, renderPolicyScript, validateFleet } from "../../lib/core";

/** Fail (never skip) when the machine cannot run real iptables in namespaces. */
export function requireNetnsTools(): void {
  if (process.getuid?.() !== 0) throw new Error("these tests need root: network namespaces and iptables need CAP_NET_ADMIN (CI runs as root)");
  for (const [tool, pkg] of [["ip", "iproute2"], ["iptables", "iptables"], ["ip6tables", "iptables"], ["python3", "python3"]]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is missing: apt-get install ${pkg} (.ci/run installs it)`);
  }
}

let counter = 0;

/** A Linux host for tests: a network namespace with its own iptables, ip6tables and a state directory. */
export class NetnsHost {
  readonly ns: string;
  readonly dir: string;

  constructor(label: string) {
    this.ns = `lbpt-${label}-${process.pid % 10000}-${counter++}`.slice(0, 30);
    this.dir = mkdtempSync(join(tmpdir(), `${this.ns}-`));
    chmodSync(this.dir, 0o755);
    // Where the machine has /etc/iptables (a lab's mount point, iptables-persistent), persistence "auto" writes
    // rules.v4 there: the host gets its own, empty (ip netns exec binds /etc/netns/<ns>/iptables over it), so no
    // suite writes the machine's file or reads another suite's. Without it, "auto" persists nowhere, as before.
    if (existsSync("/etc/iptables")) mkdirSync(join("/etc/netns", this.ns, "iptables"), { recursive: true });
    execFileSync("ip", ["netns", "add", this.ns]);
    this.sh("ip link set lo up");
  }

  /** Run a shell command inside the namespace; throws on failure. */
  sh(command: string): string {
    return execFileSync("ip", ["netns", "exec", this.ns, "sh", "-c", command], { encoding: "utf8" });
  }

  /** Run a shell command inside the namespace; returns its status and output. */
  try(command: string, env: Record<string, string> = {}): { status: number; stdout: string; stderr: string } {
    const r = spawnSync("ip", ["netns", "exec", this.ns, "sh", "-c", command], {
      encoding: "utf8",
      env: { ...process.env, ...env },
      timeout: 120_000,
    });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Render the host script for a policy and run it here, as `remote-exec` would. */
  run(mode: ScriptMode, policy: PolicyOptions = {}, opts: ScriptOptions & { env?: Record<string, string> } = {}) {
    return this.try(`/bin/sh ${this.scriptFile(mode, policy, opts)}`, { ...this.env, ...(opts.env ?? {}) });
  }

  /** Write the host script for a policy to a file (readable by every user) and return its path. */
  scriptFile(mode: ScriptMode, policy: PolicyOptions = {}, opts: ScriptOptions = {}): string {
    const file = join(this.dir, `${mode}-${counter++}.sh`);
    writeFileSync(file, hostScript(mode, policy, opts.generation ?? "0badc0de", "test-host", opts.sudo ?? "0", opts.instance ?? ""), { mode: 0o644 });
    return file;
  }

  /** The environment scripts run with here: their own state directory and record of replaced rules. */
  get env(): Record<string, string> {
    return { LBP_STATE_DIR: join(this.dir, "state"), LBP_RECORD_DIR: join(this.dir, "record") };
  }

  /** A directory to put first on PATH so that iptables/ip6tables mean the legacy (not nf_tables) backend. */
  legacyBin(): string {
    const bin = join(this.dir, "legacy-bin");
    this.sh(`mkdir -p ${bin} && for t in iptables ip6tables; do for s in "" -save -restore; do ln -sf "$(command -v $t-legacy$s)" ${bin}/$t$s; done; done`);
    return bin;
  }

  /** A TCP round trip to a fresh listener on addr (127.0.0.1 or ::1) with a 1 s timeout: true when it worked. */
  loopbackWorks(addr: string): boolean {
    const py = [
      "import socket,sys",
      `a='${addr}'`,
      "f=socket.AF_INET6 if ':' in a else socket.AF_INET",
      "s=socket.socket(f);s.bind((a,0));s.listen(1)",
      "c=socket.socket(f);c.settimeout(1)",
      "try:\n c.connect(s.getsockname()[:2])\nexcept Exception:\n sys.exit(1)",
    ].join("\n");
    return this.try(`python3 -c "${py}"`).status === 0;
  }

  /** `iptables-save`/`ip6tables-save` of the filter table, counters and comments dropped. */
  save(family: "ipv4" | "ipv6"): string[] {
    const tool = family === "ipv4" ? "iptables-save" : "ip6tables-save";
    return this.sh(`${tool} -t filter`).split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.replace(/ \[\d+:\d+\]$/, ""));
  }

  destroy(): void {
    // Rollback timers and anything else left running in the namespace go with it.
    spawnSync("sh", ["-c", `ip netns pids ${this.ns} | xargs -r kill -9`]);
    spawnSync("ip", ["netns", "del", this.ns]);
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(join("/etc/netns", this.ns), { recursive: true, force: true });
  }
}

/** Options of a rendered host script. */
export interface ScriptOptions {
  /** @default "0badc0de" */
  readonly generation?: string;
  /** `"1"`: re-run through sudo when not root. @default "0" */
  readonly sudo?: string;
  /** The Terraform instance id (`self.id`) that runs it. @default "" */
  readonly instance?: string;
}

/** The complete host script for a policy, as the constructs synthesize it (with literal host facts). */
export function hostScript(mode: ScriptMode, policy: PolicyOptions, generation: string, host = "test-host", sudo = "0", instance = ""): string {
  const validated = withTestFiles(validateFleet({ hosts: [{ name: host, address: "192.0.2.1" }], ...stagedFiles(policy) }).hosts[0].policy, policy);
  const script = renderPolicyScript(validated, planRules(validated));
  return renderHostScript({ mode, host, generation, sudo, instance }, script.text);
}

/**
 * The suites persist into their own temporary directories, which validation refuses on a real host (a ruleset
 * file belongs under /etc/): validate with stand-in paths under /etc/, then render with the temporary ones.
 */
function stagedFiles(policy: PolicyOptions): PolicyOptions {
  const p = policy.persistence;
  if (p === undefined || typeof p !== "object" || p instanceof Persistence) return policy;
  return { ...policy, persistence: { v4Path: "/etc/lbp-netns-test/rules.v4", v6Path: "/etc/lbp-netns-test/rules.v6" } };
}

function withTestFiles(validated: Policy, policy: PolicyOptions): Policy {
  const p = policy.persistence;
  if (p === undefined || typeof p !== "object" || p instanceof Persistence) return validated;
  const files = Object.assign(Object.create(Persistence.prototype) as Persistence, { mode: "files", v4Path: p.v4Path, v6Path: p.v6Path ?? `${p.v4Path}.v6` });
  return { ...validated, persistence: files };
}

/** The rules of a chain in order, from a save. */
export function chain(save: string[], name: string): string[] {
  return save.filter((l) => l.startsWith(`-A ${name} `));
}

/** The managed rules of a save (those with an `lbp:` comment). */
export function tagged(save: string[]): string[] {
  return save.filter((l) => l.includes('"lbp:'));
}

/**
 * For a test file: checks the tools once, and returns a factory of namespace hosts that are all destroyed after
 * each test (namespace, processes left in it, temp files, /etc/netns/<ns>).
 */
export function netnsHosts(): (label: string) => NetnsHost {
  let hosts: NetnsHost[] = [];
  beforeAll(() => requireNetnsTools());
  afterEach(() => {
    for (const h of hosts) h.destroy();
    hosts = [];
  });
  return (label: string) => {
    const h = new NetnsHost(label);
    hosts.push(h);
    return h;
  };
}
