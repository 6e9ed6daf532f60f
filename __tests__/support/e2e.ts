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
 * `npm run deploy|destroy` with the fleet file, and keeps each run's log in the directory. With a `labId`, the
 * lab is lab.sh's LBP_LAB_ID of that number (its own namespaces and subnets, so suites can run side by side),
 * set in this process's environment until `tearDown()`, which also removes the directory (LBP_KEEP_WORK=1 keeps it:
 * CLI logs, cdktf.out).
 */
export class E2eStack {
  readonly work: string;
  readonly lab: Lab;
  readonly fleetFile: string;
  /** Where `cdktf(...)` synthesizes to. */
  readonly out: string;
  private readonly savedLabId?: string;

  constructor(readonly stack: string, private readonly labId?: string) {
    if (labId !== undefined) {
      this.savedLabId = process.env.LBP_LAB_ID;
      process.env.LBP_LAB_ID = labId; // read by lab.sh through the Lab class
    }
    this.work = mkdtempSync(join(tmpdir(), `lbp-${stack}-`));
    chmodSync(this.work, 0o755); // sshd reads the lab's authorized_keys as the user logging in (lbpuser too)
    this.lab = new Lab(join(this.work, "lab"));
    this.fleetFile = join(this.work, "fleet.json");
    this.out = join(this.work, "cdktf.out");
  }

  /** Write the fleet file: the given props with this suite's stack name. */
  writeFleet(props: object): void {
    writeFileSync(this.fleetFile, JSON.stringify({ ...props, stack: this.stack }, null, 2));
  }

  /** `npm run deploy|destroy -- --auto-approve` on the fleet file, with `env` added to the environment. */
  cdktf(command: "deploy" | "destroy", extra: string[] = [], env: Record<string, string> = {}): CliRun {
    const t0 = Date.now();
    const r = spawnSync("npm", ["run", "--silent", command, "--", "--auto-approve", "--output", this.out, ...extra], {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, LOOPBACK_FLEET: this.fleetFile, CI: "true", ...env },
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

  /**
   * Lab down, state removed and LBP_LAB_ID as it was, even when one of them fails; the work directory removed once
   * the lab is down (it holds the lab's state, which `lab.sh down` needs when the first attempt failed).
   */
  tearDown(): void {
    try {
      this.lab.down();
      if (!process.env.LBP_KEEP_WORK) rmSync(this.work, { recursive: true, force: true });
    } finally {
      this.removeState();
      if (this.labId !== undefined) {
        if (this.savedLabId === undefined) delete process.env.LBP_LAB_ID;
        else process.env.LBP_LAB_ID = this.savedLabId;
      }
    }
  }
}
