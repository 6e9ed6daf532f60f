import { Review } from "./review";

/** The review as JSON for tools: per stack its constructs (groups, hosts), baseline and changes. */
export function formatJson(r: Review): string {
  return `${JSON.stringify({
    dir: r.dir,
    stateDir: r.stateDir,
    recorded: r.recorded,
    stacks: r.stacks.map((s) => ({ stack: s.stack, file: s.file, constructs: s.model.constructs, baseline: s.baseline, changes: s.changes })),
    foreign: r.foreign,
  }, null, 2)}\n`;
}
