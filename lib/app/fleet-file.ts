import { readFileSync } from "fs";
import { LoopbackPolicyError } from "../policy/errors";
import { LoopbackPolicyProps } from "../constructs/loopback-policy";
import { FleetLayout, LAYOUT_FIELDS, ShardingSpec, stackNameOf } from "./shards";
import { BackendSpec } from "./backend";

/**
 * A fleet file: {@link LoopbackPolicyProps} as JSON, plus the fields that shape the app rather than the
 * construct: the stack name, how the fleet is split into stacks, and where their state lives.
 */
export interface FleetFile extends LoopbackPolicyProps, FleetLayout {
  /**
   * Name of the Terraform stack (and its directory under `cdktf.out/stacks/`); with sharding, the prefix of
   * every stack's name.
   * @default "loopback"
   */
  readonly stack?: string;
  /**
   * Split the fleet into stacks of at most N hosts, or one per value of a label, or both.
   * @default one stack
   */
  readonly sharding?: ShardingSpec;
  /**
   * `{ "type": "pg", "connStr"?, "schemaPrefix"? }` or `{ "type": "local", "path"? }`.
   * @default the local backend, terraform.<stack>.tfstate
   */
  readonly backend?: BackendSpec;
}

/**
 * Read and parse a fleet file, unvalidated beyond being a JSON object. `source` names where its path came from
 * (an environment variable, a default) so that a bad path or bad JSON says what to change.
 */
export function readFleetFile(path: string, source: string): FleetFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new LoopbackPolicyError(source, `cannot read fleet file ${path} (${(e as NodeJS.ErrnoException).code ?? e})`, "point it at an existing JSON fleet file, e.g. examples/fleet.json");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new LoopbackPolicyError(source, `${path} is not valid JSON (${jsonProblem(e as Error)})`, "fix the JSON syntax");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new LoopbackPolicyError(source, `${path} does not hold a JSON object`, 'write { "hosts": [ ... ], ... }');
  }
  return parsed as FleetFile;
}

/**
 * Read a fleet file as one stack: its name and the construct's props (without `stack`, `sharding`, `backend`).
 * The app (main.ts) reads `sharding` and `backend` too: see `lib/app/fleet-app.ts`.
 */
export function loadFleetFile(path: string, source: string): { stack: string; props: LoopbackPolicyProps } {
  const file = readFleetFile(path, source);
  const stack = stackNameOf(file, path);
  const props = Object.fromEntries(Object.entries(file).filter(([k]) => !LAYOUT_FIELDS.includes(k))) as unknown as LoopbackPolicyProps;
  return { stack, props };
}

/**
 * What JSON.parse said, without the piece of the file it quotes: from Node 21 on, its message carries the text
 * around the error (`Unexpected token 'h', "{ hosts: [] " is not valid JSON`), which can be anything the file
 * holds, a pasted key too. The position it gives says where to look.
 */
function jsonProblem(e: Error): string {
  return e.message.replace(/, (\.\.\.)?".*"(\.\.\.)? is not valid JSON.*$/s, "").slice(0, 120);
}
