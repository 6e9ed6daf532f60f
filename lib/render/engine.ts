import { readdirSync, readFileSync } from "fs";
import { join } from "path";

let cached: string | undefined;

/** The line of `engine.sh` that the firewall backends (`engine-<name>.sh`, in name order) replace. */
export const BACKENDS_MARKER = "# @backends: the engine-<name>.sh files are inserted here (lib/render/engine.ts)";

/**
 * The host engine (`engine.sh`, with the firewall backends `engine-<name>.sh` spliced in at its marker line):
 * the constant part of every host script, identical for every host and policy. It expects the host facts and the
 * policy to be set by the lines before it.
 */
export function engineScript(): string {
  if (cached === undefined) cached = assemble(__dirname);
  return cached;
}

/** The engine text from the `.sh` files of `dir`. Throws when `engine.sh` lacks its marker line. */
export function assemble(dir: string): string {
  const main = readFileSync(join(dir, "engine.sh"), "utf8");
  const lines = main.split("\n");
  const at = lines.indexOf(BACKENDS_MARKER);
  if (at < 0) throw new Error(`engine.sh in ${dir} has no line "${BACKENDS_MARKER}"`);
  const backends = readdirSync(dir)
    .filter((f) => /^engine-[a-z0-9]+\.sh$/.test(f))
    .sort()
    .map((f) => readFileSync(join(dir, f), "utf8").replace(/\n$/, ""));
  return [...lines.slice(0, at), ...backends, ...lines.slice(at + 1)].join("\n");
}
