import { spawnSync } from "child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { Lab } from "./lab";

const ROOT = join(__dirname, "..", "..");

/** What a cdktf CLI run printed (colours stripped) and how it ended. */
export interface CliRun {
  readonly status: number;
  readonly output: string;
  readonly seconds: number;
}

/**
 * One e2e suite's working set: a temp directory (readable by the lab's non-root user), a lab in it, a fleet file
 * and a stack of its own whose local state is removed before and after. `cdktf(...)` runs the real CLI through
 * `npm run deploy|destroy` with the fleet file, and keeps each run's log in the directory.
 */
export class E2eStack {
  readonly work: string;
  readonly lab: Lab;
  readonly fleetFile: string;

  constructor(readonly stack: string) {
    this.work = mkdtempSync(join(tmpdir(), `lbp-${stack}-`));
    chmodSync(this.work, 0o755); // sshd reads the lab's authorized_keys as the user logging in (lbpuser too)
    this.lab = new Lab(join(this.work, "lab"));
    this.fleetFile = join(this.work, "fleet.json");
  }

  /** Write the fleet file: the given props with this suite's stack name. */
  writeFleet(props: object): void {
    writeFileSync(this.fleetFile, JSON.stringify({ ...props, stack: this.stack }, null, 2));
  }

  /** `npm run deploy|destroy -- --auto-approve` on the fleet file. */
  cdktf(command: "deploy" | "destroy", extra: string[] = []): CliRun {
    const t0 = Date.now();
    const r = spawnSync("npm", ["run", "--silent", command, "--", "--auto-approve", "--output", join(this.work, "cdktf.out"), ...extra], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, LOOPBACK_FLEET: this.fleetFile, CI: "true" },
      timeout: 10 * 60_000,
    });
    const output = `${r.stdout}\n${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, "");
    writeFileSync(join(this.work, `${command}-${Date.now()}.log`), output);
    return { status: r.status ?? -1, output, seconds: (Date.now() - t0) / 1000 };
  }

  /** The local backend keeps the stack's state next to cdktf.json: start and end without it. */
  removeState(): void {
    for (const f of [`terraform.${this.stack}.tfstate`, `terraform.${this.stack}.tfstate.backup`]) rmSync(join(ROOT, f), { force: true });
  }

  /** Lab down and state removed, even when one of them fails. */
  tearDown(): void {
    try {
      this.lab.down();
    } finally {
      this.removeState();
    }
  }
}
