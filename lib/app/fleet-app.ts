import { App, TerraformStack } from "cdktf";
import { LoopbackPolicy } from "../constructs/loopback-policy";
import { LoopbackPolicyError } from "../policy/errors";
import { Backend, addBackend, checkBackend } from "./backend";
import { FleetFile } from "./fleet-file";
import { shardFleet } from "./shards";

/** A stack of the app and what it holds. */
export interface FleetStack {
  readonly name: string;
  readonly stack: TerraformStack;
  readonly policy: LoopbackPolicy;
}

/**
 * Add a fleet file's stacks to an app: one per shard (one without `sharding`), each with its backend and a
 * LoopbackPolicy `loopback` over its hosts. Everything is validated before the first stack is added; a host's
 * error names its index in the fleet file, whichever stack it falls in.
 * @param where the fleet file's path, for messages
 * @param baseDir where a relative local backend `path` is taken from (the fleet file's directory)
 */
export function addFleetStacks(app: App, file: FleetFile, where: string, baseDir: string): { stacks: FleetStack[]; backend: Backend } {
  const shards = shardFleet(file, where);
  const backend = checkBackend(file.backend, shards.map((s) => s.stackName), baseDir);
  const stacks = shards.map((shard) => {
    const stack = new TerraformStack(app, shard.stackName);
    addBackend(stack, shard.stackName, backend);
    let policy: LoopbackPolicy;
    try {
      policy = new LoopbackPolicy(stack, "loopback", shard.props);
    } catch (e) {
      throw e instanceof LoopbackPolicyError ? inFleetFile(e, shard.hostIndexes) : e;
    }
    return { name: shard.stackName, stack, policy };
  });
  return { stacks, backend };
}

/** The same error with `hosts[i]` of the shard renamed to the host's index in the fleet file. */
function inFleetFile(e: LoopbackPolicyError, indexes: readonly number[]): LoopbackPolicyError {
  if (indexes.every((n, i) => n === i)) return e;
  const renumber = (s: string) => s.replace(/\bhosts\[(\d+)\]/g, (whole, i: string) => (indexes[Number(i)] === undefined ? whole : `hosts[${indexes[Number(i)]}]`));
  const problem = e.message.slice(e.field.length + 2, e.message.length - `. Fix: ${e.fix}`.length);
  return new LoopbackPolicyError(renumber(e.field), renumber(problem), e.fix);
}
