/**
 * The ready app: synthesizes a LoopbackPolicy stack for a fleet file.
 *
 *   LOOPBACK_FLEET=path/to/fleet.json   the fleet to target (default: examples/fleet.json, an example fleet)
 */
import { App, TerraformStack } from "cdktf";
import { LoopbackPolicy } from "./lib";
import { loadFleetFile } from "./lib/app/fleet-file";
import { LoopbackPolicyError } from "./lib/policy/errors";

function main(): void {
  const fromEnv = process.env.LOOPBACK_FLEET;
  const path = fromEnv && fromEnv.length > 0 ? fromEnv : `${__dirname}/examples/fleet.json`;
  const { stack, props } = loadFleetFile(path, fromEnv ? "LOOPBACK_FLEET" : "examples/fleet.json");
  const app = new App();
  const s = new TerraformStack(app, stack);
  new LoopbackPolicy(s, "loopback", props);
  app.synth();
}

try {
  main();
} catch (e) {
  if (e instanceof LoopbackPolicyError) {
    console.error(`loopback-policy: invalid fleet: ${e.message}`);
    process.exit(2);
  }
  throw e;
}
