/**
 * The ready app: synthesizes the LoopbackPolicy stacks of a fleet file: one stack, or one per shard
 * (`"sharding"`), each with its own state (`"backend"`).
 *
 *   LOOPBACK_FLEET=path/to/fleet.json   the fleet to target (default: examples/fleet.json, an example fleet)
 */
import { dirname, resolve } from "path";
import { App } from "cdktf";
import { readFleetFile } from "./lib/app/fleet-file";
import { addFleetStacks } from "./lib/app/fleet-app";
import { LoopbackPolicyError } from "./lib/policy/errors";

function main(): void {
  const fromEnv = process.env.LOOPBACK_FLEET;
  const path = fromEnv && fromEnv.length > 0 ? fromEnv : `${__dirname}/examples/fleet.json`;
  const file = readFleetFile(path, fromEnv ? "LOOPBACK_FLEET" : "examples/fleet.json");
  const app = new App();
  addFleetStacks(app, file, path, dirname(resolve(path)));
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
