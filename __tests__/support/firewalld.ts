import { execFileSync, spawn, spawnSync } from "child_process";
import { join } from "path";
import { NetnsHost } from "./netns";

/** Fail (never skip) when firewalld is not installed. */
export function requireFirewalld(): void {
  for (const f of ["/usr/sbin/firewalld", "/usr/bin/firewall-cmd", "/usr/bin/dbus-daemon"]) {
    if (spawnSync("test", ["-x", f]).status !== 0) throw new Error(`${f} is missing: apt-get install firewalld (.ci/run installs it)`);
  }
}

/**
 * A host run by the real firewalld: a network namespace with a mount namespace of its own, where /run is a fresh
 * tmpfs (its own system bus, its own firewalld state) and /etc/firewalld is this host's copy of the package's
 * configuration. firewalld (Debian's 1.3, nftables backend) and a system D-Bus daemon run there without systemd.
 * Commands run through nsenter into both namespaces, so firewall-cmd talks to this host's firewalld.
 */
export class FirewalldHost extends NetnsHost {
  /** The pid holding the mount namespace. */
  private holder = 0;

  constructor(label: string) {
    super(label);
    const etc = join(this.dir, "etc-firewalld");
    execFileSync("sh", ["-c", `cp -a /etc/firewalld ${etc}`]);
    const boot = [
      "mount -t tmpfs tmpfs /run",
      `mount --bind ${etc} /etc/firewalld`,
      "mkdir -p /run/dbus",
      // Their output to files: a daemon holding the pipe open would keep the caller waiting.
      "dbus-daemon --system --fork --nopidfile >/dev/null 2>&1",
      `/usr/bin/python3 /usr/sbin/firewalld --nofork --nopid --log-file ${this.dir}/firewalld.log >${this.dir}/firewalld.out 2>&1 &`,
      "exec sleep 100000",
    ].join("\n");
    const p = spawn("ip", ["netns", "exec", this.ns, "unshare", "-m", "--propagation", "private", "sh", "-c", boot], { stdio: "ignore", detached: true });
    p.unref();
    this.holder = p.pid!;
    // The holder is `ip`, which execs unshare and then sh: the same pid throughout.
    for (let i = 0; i < 100; i++) {
      if (this.try("firewall-cmd --state 2>/dev/null").stdout.trim() === "running") return;
      spawnSync("sleep", ["0.2"]);
    }
    throw new Error(`firewalld did not start in ${this.ns} within 20s (see ${this.dir}/firewalld.log)`);
  }

  override sh(command: string): string {
    if (!this.holder) return super.sh(command);
    return execFileSync("nsenter", ["-t", String(this.holder), "-m", "-n", "sh", "-c", command], { encoding: "utf8" });
  }

  override try(command: string, env: Record<string, string> = {}): { status: number; stdout: string; stderr: string } {
    if (!this.holder) return super.try(command, env);
    const r = spawnSync("nsenter", ["-t", String(this.holder), "-m", "-n", "sh", "-c", command], {
      encoding: "utf8",
      env: { ...process.env, ...env },
      timeout: 120_000,
    });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Stop this host's firewalld (as `systemctl stop firewalld` would: it removes its rules on the way out). */
  stopFirewalld(): void {
    const pids = spawnSync("ip", ["netns", "pids", this.ns], { encoding: "utf8" }).stdout.split("\n").filter((p) => p !== "");
    for (const pid of pids) {
      const cmd = spawnSync("cat", [`/proc/${pid}/cmdline`], { encoding: "utf8" }).stdout;
      if (cmd.includes("/usr/sbin/firewalld")) process.kill(Number(pid), "SIGTERM");
    }
    for (let i = 0; i < 50 && this.try("firewall-cmd --state").status === 0; i++) spawnSync("sleep", ["0.2"]);
  }

  /** firewall-cmd here; throws on failure. */
  fw(args: string): string {
    return this.sh(`firewall-cmd ${args}`);
  }

  /** A zone's rich rules, sorted (firewalld lists them in no fixed order). */
  richRules(zone: string, permanent = false): string[] {
    return this.fw(`${permanent ? "--permanent " : ""}--zone=${zone} --list-rich-rules`).split("\n").filter((l) => l !== "").sort();
  }

  /** firewalld's permanent configuration: every file under /etc/firewalld, with its content. */
  permanentFiles(): Record<string, string> {
    const out: Record<string, string> = {};
    const list = this.sh("find /etc/firewalld -type f | sort").split("\n").filter((l) => l !== "");
    for (const f of list) out[f] = this.sh(`cat '${f}'`);
    return out;
  }
}
