import { execFileSync, spawnSync } from "child_process";
import { readFileSync } from "fs";
import { join } from "path";

const ROOT = join(__dirname, "..", "..");
const LAB = join(ROOT, "lab", "lab.sh");

/** A host of the lab fleet file. */
export interface LabHost {
  readonly name: string;
  readonly address: string;
  /** All of the host's keys (rsa, ecdsa, ed25519), as a list of "type base64": validation pins the one Terraform negotiates. */
  readonly hostKey: string[];
  readonly labels: { readonly namespace: string; readonly ipv6Address: string };
}

/** The lab's fleet file. */
export interface LabFleet {
  readonly resourceType: "terraform_data";
  readonly connection: { readonly user: string; readonly privateKeyPath: string; readonly timeoutSeconds: number };
  readonly hosts: LabHost[];
}

/** Drive `lab/lab.sh`: hosts as network namespaces with sshd. */
export class Lab {
  constructor(readonly stateDir: string) {}

  private lab(args: string[]): string {
    const r = this.run(args);
    if (r.status !== 0) throw new Error(`lab ${args.join(" ")} failed (${r.status}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** Run `lab.sh ARGS` with this lab's state directory (and `env` added); returns status and output. */
  run(args: string[], env: Record<string, string> = {}): { status: number; stdout: string; stderr: string } {
    const r = spawnSync("bash", [LAB, ...args], { encoding: "utf8", env: { ...process.env, LBP_LAB_DIR: this.stateDir, ...env }, timeout: 300_000 });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  up(n: number): LabFleet {
    this.lab(["up", String(n)]);
    return this.fleet();
  }

  down(): void {
    this.lab(["down"]);
  }

  fleet(): LabFleet {
    return JSON.parse(readFileSync(join(this.stateDir, "fleet.json"), "utf8"));
  }

  spoofable(name: string): void {
    this.lab(["spoofable", name]);
  }

  /** Run a shell command inside a lab host; throws on failure. */
  sh(host: LabHost, command: string): string {
    return execFileSync("ip", ["netns", "exec", host.labels.namespace, "sh", "-c", command], { encoding: "utf8" });
  }

  /** Run a shell command inside a lab host; returns status and output. */
  try(host: LabHost, command: string): { status: number; stdout: string; stderr: string } {
    const r = spawnSync("ip", ["netns", "exec", host.labels.namespace, "sh", "-c", command], { encoding: "utf8", timeout: 60_000 });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** SSH connections sshd accepted on a host so far (from its log). */
  sshAccepted(host: LabHost): number {
    const log = join(this.stateDir, "hosts", host.name, "sshd.log");
    return (readFileSync(log, "utf8").match(/Accepted publickey/g) ?? []).length;
  }
}
