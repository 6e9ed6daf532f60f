/**
 * Bench app: synthesizes a fleet file (LOOPBACK_FLEET) the way `main.ts` does, or the naive design for comparison.
 *
 *   node synth-app.js ours   what main.ts does: the fleet file's stacks, each one LoopbackPolicy (one resource
 *                            with for_each, the policy script once per distinct policy)
 *   node synth-app.js naive  one cdktf DataResource per host, the whole host script inline in each (3 modes)
 *
 * Compiled with tsc (bench/tsconfig.json) and run with node, so a run measures synthesis, not TypeScript.
 * Output goes to CDKTF_OUTDIR (cdktf's own variable).
 */
import { dirname, resolve } from "path";
import { App, DataResource, TerraformStack } from "cdktf";
import { addFleetStacks } from "../lib/app/fleet-app";
import { loadFleetFile, readFleetFile } from "../lib/app/fleet-file";
import { validateFleet } from "../lib/policy/validate";
import { planRules } from "../lib/plan/rules";
import { renderPolicyScript } from "../lib/render/policy-script";
import { renderHostScript, ScriptMode } from "../lib/render/host-script";
import { hostEntry } from "../lib/constructs/host-entries";
import { terraformLiteral } from "../lib/constructs/terraform-text";

const mode = process.argv[2] ?? "ours";
const path = process.env.LOOPBACK_FLEET;
if (!path) throw new Error("set LOOPBACK_FLEET");
const app = new App();
if (mode === "ours") {
  addFleetStacks(app, readFleetFile(path, "LOOPBACK_FLEET"), path, dirname(resolve(path)));
} else if (mode === "naive") {
  const { stack, props } = loadFleetFile(path, "LOOPBACK_FLEET");
  naive(new TerraformStack(app, stack), props);
} else {
  throw new Error(`unknown mode ${mode}: use ours or naive`);
}
app.synth();

/** What the construct replaced: a resource per host, each carrying its full script text three times. */
function naive(scope: TerraformStack, p: ReturnType<typeof loadFleetFile>["props"]): void {
  const fleet = validateFleet(p, ["resourceType", "rollout"]);
  for (const host of fleet.hosts) {
    const policy = renderPolicyScript(host.policy, planRules(host.policy));
    const e = hostEntry(host, policy.key);
    const script = (m: ScriptMode) => terraformLiteral(renderHostScript({ mode: m, host: host.name, generation: e.generation, sudo: e.sudo }, policy.text));
    const r = new DataResource(scope, `loopback_${host.name.replace(/[^A-Za-z0-9_-]/g, "_")}`, {
      input: { ...e },
      triggersReplace: { generation: e.generation },
      lifecycle: { createBeforeDestroy: true },
    });
    r.addOverride("connection", {
      type: "ssh",
      host: host.address,
      port: host.port,
      user: host.user,
      ...(host.privateKeyPath ? { private_key: `\${file(pathexpand("${terraformLiteral(host.privateKeyPath)}"))}` } : { agent: true }),
      ...(host.hostKey ? { host_key: host.hostKey } : {}),
      timeout: `${host.timeoutSeconds}s`,
    });
    r.addOverride("provisioner", [
      { "remote-exec": { inline: [script("apply")] } },
      { "remote-exec": { inline: [script("confirm")] } },
      { "remote-exec": { when: "destroy", inline: [script("remove")] } },
    ]);
  }
}
