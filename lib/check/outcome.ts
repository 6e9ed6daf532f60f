/** What a check found on a host. */
export type HostStatus = "compliant" | "skipped" | "drifted" | "unreachable" | "failed";

/** One family's drift, as the engine reported it. */
export interface Drift {
  readonly family: string;
  /** What converging would do: `added INPUT/spoof; moved INPUT/lo-in`. */
  readonly changes: string;
}

/** The result of one host's check. */
export interface HostOutcome {
  readonly status: HostStatus;
  /** Per drifted family; empty unless `drifted`. */
  readonly drift: readonly Drift[];
  /** What the engine reported, one line each, without the `loopback-policy[host] ` prefix. */
  readonly report: readonly string[];
  /** Why the host is unreachable or failed, or what skipped it; `null` otherwise. */
  readonly message: string | null;
}

/** How the ssh process ended. */
export interface SshRun {
  /** `null` when killed. */
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Killed after the per-host time limit. */
  readonly timedOut: boolean;
  readonly timeoutSeconds: number;
}

/** A drift line: what converging would do, or another drift (live but not persisted), whatever the firewall. */
const DRIFT = /^(ipv[46]|nftables|firewalld): drifted: (?:converging would do: )?(.*)$/;
/** The engine's line for a host run by native nftables (otherFirewall: manage). */
const NFTABLES = /^host: native nftables in charge/;

/**
 * Read a host's check from its exit code and output: ssh exits 255 when it cannot connect or log in; the
 * engine exits 0 compliant (or skipped by `otherFirewall: "skip"`), 3 drifted, 1 failed (saying why).
 */
export function hostOutcome(host: string, run: SshRun): HostOutcome {
  const prefix = `loopback-policy[${host}] `;
  const lines = (text: string) => text.split("\n").map((l) => l.trimEnd()).filter((l) => l.length > 0);
  const report = lines(run.stdout).filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length));
  const errors = lines(run.stderr);
  const failed = errors.filter((l) => l.startsWith(`${prefix}FAILED: `)).map((l) => l.slice(prefix.length + "FAILED: ".length));
  const drift = report.map((l) => DRIFT.exec(l)).filter((m): m is RegExpExecArray => m !== null).map((m) => ({ family: m[1], changes: m[2] }));
  const outcome = (status: HostStatus, message: string | null, d: Drift[] = []) => ({ status, drift: d, report, message });

  if (run.timedOut) return outcome("unreachable", `no result within ${run.timeoutSeconds}s; the connection was closed`);
  if (run.exitCode === 255) return outcome("unreachable", sshError(errors));
  // A host run through the firewall in charge (otherFirewall: "manage") says which: "host: ufw is active (...); managing loopback through ufw ...".
  const through = report.map((l) => /^host: .*; managing loopback through (\S+) \(otherFirewall: manage\)$/.exec(l)).find((m) => m !== null);
  // A host run by native nftables says so, whatever its status.
  const by = report.some((l) => NFTABLES.test(l)) ? "run by native nftables (otherFirewall: manage)" : through ? `through ${through[1]} (otherFirewall: manage)` : null;
  if (run.exitCode === 3 && drift.length > 0) return outcome("drifted", by, drift);
  if (run.exitCode === 0 && report.includes("result: compliant")) return outcome("compliant", by);
  const skipped = report.find((l) => l.startsWith("skipped: "));
  if (run.exitCode === 0 && skipped) return outcome("skipped", skipped.slice("skipped: ".length));
  if (failed.length) return outcome("failed", failed.join("; "));
  const said = errors.length ? `: ${errors.slice(-3).join("; ")}` : "";
  return outcome("failed", `the check exited ${run.exitCode === null ? "on a signal" : run.exitCode} without a result${said}`);
}

/** ssh's reason in one line: a host key mismatch said briefly, otherwise its last lines. */
export function sshError(errors: readonly string[]): string {
  if (errors.length === 0) return "ssh failed (exit 255) without saying why";
  const text = errors.join("\n");
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/.test(text)) {
    const offered = /The fingerprint for the (\S+) key sent by the remote host is\n(\S+?)\.?$/m.exec(text);
    const what = offered ? `the host offered ${offered[1]} key ${offered[2]}, which is not the pinned host_key` : "the host's key is not the pinned host_key";
    return `host key verification failed: ${what}`;
  }
  return errors.filter((l) => !l.startsWith("@")).slice(-2).join("; ");
}
