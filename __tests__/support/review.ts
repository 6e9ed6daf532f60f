import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { App, TerraformStack } from "cdktf";
import { reviewCli } from "../../lib/cli/review";
import { LoopbackPolicy, PolicyOptions } from "../../lib/core";

/** `npm run review` (without recording a baseline) of a one-host terraform_data stack with this policy. */
export function reviewOfPolicy(policy: PolicyOptions, format: string): string {
  const dir = mkdtempSync(join(tmpdir(), "lbp-review-"));
  try {
    const app = new App({ outdir: join(dir, "cdktf.out") });
    new LoopbackPolicy(new TerraformStack(app, "s"), "loopback", { resourceType: "terraform_data", hosts: [{ name: "web-1", address: "192.0.2.11" }], ...policy });
    app.synth();
    let out = "";
    reviewCli(["--dir", join(dir, "cdktf.out"), "--format", format, "--no-record"], { stdout: (t) => (out += t), stderr: () => undefined });
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
