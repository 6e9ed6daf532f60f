import { readFileSync } from "fs";
import { LoopbackPolicyError } from "../policy/errors";
import { LoopbackPolicyProps } from "../constructs/loopback-policy";

/** A fleet file: {@link LoopbackPolicyProps} as JSON, plus an optional stack name. */
export interface FleetFile extends LoopbackPolicyProps {
  /**
   * Name of the Terraform stack (and its directory under `cdktf.out/stacks/`).
   * @default "loopback"
   */
  readonly stack?: string;
}

/**
 * Read a fleet file. `source` names where its path came from (an environment variable, a default) so that a
 * bad path or bad JSON says what to change.
 */
export function loadFleetFile(path: string, source: string): { stack: string; props: LoopbackPolicyProps } {
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
    throw new LoopbackPolicyError(source, `${path} is not valid JSON (${(e as Error).message})`, "fix the JSON syntax");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new LoopbackPolicyError(source, `${path} does not hold a JSON object`, 'write { "hosts": [ ... ], ... }');
  }
  const { stack = "loopback", ...props } = parsed as FleetFile;
  if (typeof stack !== "string" || !/^[A-Za-z][A-Za-z0-9_-]{0,62}$/.test(stack)) {
    throw new LoopbackPolicyError("stack", `${JSON.stringify(stack)} (in ${path}) is not a usable stack name`, "use letters, digits, '_' and '-', starting with a letter");
  }
  return { stack, props };
}
