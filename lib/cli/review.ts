import { resolve } from "path";
import { SynthOutputError } from "../contract/errors";
import { formatJson } from "../review/format-json";
import { formatMarkdown } from "../review/format-markdown";
import { formatText } from "../review/format-text";
import { review } from "../review/review";
import { oneOfOption, parseArgs } from "./args";
import { UsageError } from "./errors";
import { CliIo } from "./io";

/** Exit codes of `loopback-review`. */
export const REVIEW_EXIT = { ok: 0, error: 2 } as const;

const USAGE = `usage: loopback-review [--dir cdktf.out] [--format text|markdown|json] [--baseline DIR] [--state-dir DIR] [--no-record]

Prints what each host of the synthesized LoopbackPolicy stacks gets (grouped by policy: the rules per family as
iptables commands, persistence, verification, rollback, enforce) and what changed since the previous synth.

  --dir DIR        the cdktf output to review (default: cdktf.out)
  --format F       text (default), markdown (for a PR comment) or json
  --baseline DIR   compare with the synth in DIR (e.g. the base branch's) instead of the remembered one
  --state-dir DIR  where the previous synth is remembered (default: .loopback-review/ next to --dir)
  --no-record      do not remember this synth
exit codes: 0 reviewed; 2 bad arguments, no cdktf output, or no LoopbackPolicy in it
`;

/** `loopback-review`: returns the exit code. */
export function reviewCli(argv: readonly string[], io: CliIo, cwd = process.cwd()): number {
  try {
    const args = parseArgs(argv, { dir: "string", format: "string", baseline: "string", "state-dir": "string", "no-record": "flag", help: "flag" }, "loopback-review --help");
    if (args.help) {
      io.stdout(USAGE);
      return REVIEW_EXIT.ok;
    }
    const format = oneOfOption(args, "format", ["text", "markdown", "json"], "text");
    const r = review({
      dir: resolve(cwd, (args.dir as string | undefined) ?? "cdktf.out"),
      ...(args["state-dir"] ? { stateDir: resolve(cwd, args["state-dir"] as string) } : {}),
      ...(args.baseline ? { baselineDir: resolve(cwd, args.baseline as string) } : {}),
      record: !args["no-record"],
    });
    io.stdout(format === "json" ? formatJson(r) : format === "markdown" ? formatMarkdown(r) : formatText(r));
    return REVIEW_EXIT.ok;
  } catch (e) {
    if (e instanceof UsageError || e instanceof SynthOutputError) {
      io.stderr(`loopback-review: ${e.message}\n`);
      return REVIEW_EXIT.error;
    }
    throw e;
  }
}
