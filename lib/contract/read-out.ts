import { existsSync, readdirSync, readFileSync, statSync } from "fs";
import { join } from "path";
import { SynthOutputError } from "./errors";
import { SynthPolicy, findPolicies } from "./policies";

/** One synthesized stack that holds at least one LoopbackPolicy. */
export interface SynthStack {
  /** The stack's name: its directory under `stacks/`. */
  readonly name: string;
  /** Its `cdk.tf.json`. */
  readonly file: string;
  /** Its LoopbackPolicy constructs, by logical name. */
  readonly policies: readonly SynthPolicy[];
}

/** A cdktf output directory, read as LoopbackPolicy stacks. */
export interface SynthOut {
  readonly dir: string;
  /** Stacks with a LoopbackPolicy, by name. */
  readonly stacks: readonly SynthStack[];
  /** Names of the other stacks of the directory (no LoopbackPolicy in them). */
  readonly foreign: readonly string[];
}

const SYNTH_HINT = "run `npm run synth` first, or pass --dir with the cdktf.out directory to read";

/**
 * Read `<dir>/stacks/*\/cdk.tf.json`. Throws {@link SynthOutputError}: `missing` when there is no synthesized
 * stack, `foreign` when no stack holds a LoopbackPolicy, `invalid` when a file is not the JSON synth writes.
 */
export function readSynthOut(dir: string): SynthOut {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new SynthOutputError("missing", dir, "no synthesized output: the directory does not exist", SYNTH_HINT);
  }
  const stacksDir = join(dir, "stacks");
  const names = existsSync(stacksDir) && statSync(stacksDir).isDirectory()
    ? readdirSync(stacksDir).filter((n) => existsSync(join(stacksDir, n, "cdk.tf.json"))).sort()
    : [];
  if (names.length === 0) {
    throw new SynthOutputError("missing", dir, "no synthesized stack in it (no stacks/*/cdk.tf.json)", SYNTH_HINT);
  }
  const stacks: SynthStack[] = [];
  const foreign: string[] = [];
  for (const name of names) {
    const file = join(stacksDir, name, "cdk.tf.json");
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, "utf8"));
    } catch (e) {
      throw new SynthOutputError("invalid", file, `not valid JSON (${(e as Error).message})`, "synthesize again (npm run synth)");
    }
    const policies = findPolicies(name, file, json);
    if (policies.length > 0) stacks.push({ name, file, policies });
    else foreign.push(name);
  }
  if (stacks.length === 0) {
    throw new SynthOutputError(
      "foreign",
      dir,
      `none of its stacks (${foreign.join(", ")}) holds a LoopbackPolicy (an output <id>_summary, a local <id>_policy_scripts and a terraform_data or null_resource with for_each that reads it)`,
      "pass --dir with the cdktf.out of an app that uses LoopbackPolicy (npm run synth writes ./cdktf.out)",
    );
  }
  return { dir, stacks, foreign };
}
