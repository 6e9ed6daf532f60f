import { readFileSync } from "fs";
import { join } from "path";

let cached: string | undefined;

/**
 * The host engine (`engine.sh`): the constant part of every host script, identical for every host and policy.
 * It expects the host facts and the policy to be set by the lines before it.
 */
export function engineScript(): string {
  if (cached === undefined) cached = readFileSync(join(__dirname, "engine.sh"), "utf8");
  return cached;
}
