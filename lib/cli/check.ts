import { spawnSync } from "child_process";
import { resolve } from "path";
import { SynthOutputError } from "../contract/errors";
import { readSynthOut } from "../contract/read-out";
import { readFileSync } from "fs";
import { checkHosts, findTargets } from "../check/check";
import { StateError, instancesOf } from "../check/state";
import { SynthOut } from "../contract/read-out";
import { CHECK_EXIT, checkExitCode } from "../check/exit-code";
import { formatCheckJson, formatCheckText, progressLine } from "../check/format";
import { intOption, oneOfOption, parseArgs } from "./args";
import { UsageError } from "./errors";
import { CliIo } from "./io";

const USAGE = `usage: loopback-check [--dir cdktf.out] [--format text|json] [--parallelism N] [--host NAME]... [--stack NAME]...
                      [--state [STACK=]FILE]... [--connect-timeout S] [--timeout S] [--no-progress]

Connects to each host of the synthesized LoopbackPolicy stacks with the synthesized connection facts and runs
the host script in check mode, which changes nothing: reports each host compliant, drifted (with what
converging would do) or unreachable.

  --dir DIR            the cdktf output to check against (default: cdktf.out)
  --format F           text (default) or json
  --parallelism N      hosts checked at once (default 10)
  --host NAME          only this host (repeatable)
  --stack NAME         only this stack (repeatable)
  --state [STACK=]FILE the stack's Terraform state (terraform show -json > FILE, or its .tfstate): hosts known only
                       after apply (host sets, token addresses) are checked as applied; STACK= may be left out
                       when one stack is checked (repeatable)
  --connect-timeout S  seconds to connect (default 10)
  --timeout S          seconds a host's whole check may take (default 120)
  --no-progress        no "[n/total] host status" lines on stderr
exit codes: 0 every host compliant; 3 drift (every host checked); 4 a host unreachable or its check failed;
            2 bad arguments, no cdktf output or no LoopbackPolicy in it, no ssh client
`;

/** `loopback-check`: returns the exit code. */
export async function checkCli(argv: readonly string[], io: CliIo, cwd = process.cwd()): Promise<number> {
  try {
    const args = parseArgs(argv, {
      dir: "string", format: "string", parallelism: "string", host: "list", stack: "list", state: "list",
      "connect-timeout": "string", timeout: "string", "no-progress": "flag", help: "flag",
    }, "loopback-check --help");
    if (args.help) {
      io.stdout(USAGE);
      return CHECK_EXIT.compliant;
    }
    const format = oneOfOption(args, "format", ["text", "json"], "text");
    const parallelism = intOption(args, "parallelism", 1, 256, 10);
    const connectTimeoutSeconds = intOption(args, "connect-timeout", 1, 600, 10);
    const timeoutSeconds = intOption(args, "timeout", 5, 3600, 120);
    const out = readSynthOut(resolve(cwd, (args.dir as string | undefined) ?? "cdktf.out"));
    const hosts = (args.host as string[] | undefined) ?? [];
    const stacks = (args.stack as string[] | undefined) ?? [];
    for (const s of stacks) {
      if (!out.stacks.some((x) => x.name === s)) throw new UsageError("--stack", `no LoopbackPolicy stack ${JSON.stringify(s)} in ${out.dir}`, `use one of ${out.stacks.map((x) => x.name).join(", ")}`);
    }
    const states = readStates(out, (args.state as string[] | undefined) ?? [], stacks, cwd);
    const found = findTargets(out, { hosts, stacks, states });
    const targets = found.targets;
    const known = findTargets(out, { stacks, states }).targets;
    for (const h of hosts) {
      if (!known.some((t) => t.host === h)) throw new UsageError("--host", `no host ${JSON.stringify(h)} in ${out.dir}${states.size ? " or the state" : ""}`, `use one of ${[...new Set(known.map((t) => t.host))].join(", ")}`);
    }
    if (found.unknown.length > 0) {
      throw new UsageError(
        states.size > 0 ? "--state" : "hosts",
        `these cannot be checked from the synth alone: ${found.unknown.join("; ")}`,
        "pass each such stack's state (terraform -chdir=cdktf.out/stacks/STACK show -json > STACK.json; --state STACK=STACK.json), or leave them out with --host/--stack",
      );
    }
    if (spawnSync("ssh", ["-V"]).error) throw new UsageError("ssh", "the OpenSSH client is not installed", "apt-get install openssh-client (dnf install openssh-clients)");
    const qualified = new Set(targets.map((t) => `${t.stack}/${t.id}`)).size > 1;
    const results = await checkHosts(targets, {
      parallelism,
      connectTimeoutSeconds,
      timeoutSeconds,
      onProgress: args["no-progress"] ? undefined : (r, done, total) => io.stderr(progressLine(r, done, total, qualified)),
    });
    const code = checkExitCode(results.map((r) => r.status));
    io.stdout(format === "json" ? formatCheckJson(results, code) : formatCheckText(results));
    return code;
  } catch (e) {
    if (e instanceof UsageError || e instanceof SynthOutputError || e instanceof StateError) {
      io.stderr(`loopback-check: ${e.message}\n`);
      return CHECK_EXIT.usage;
    }
    throw e;
  }
}

/** The `--state [STACK=]FILE` options as stack name to parsed state. */
function readStates(out: SynthOut, given: readonly string[], stacks: readonly string[], cwd: string): Map<string, unknown> {
  const states = new Map<string, unknown>();
  const names = out.stacks.map((x) => x.name).filter((n) => stacks.length === 0 || stacks.includes(n));
  for (const g of given) {
    const eq = g.indexOf("=");
    if (eq > 0 && out.stacks.some((x) => x.name === g.slice(0, eq)) && !names.includes(g.slice(0, eq))) {
      throw new UsageError("--state", `stack ${g.slice(0, eq)} is not checked (--stack leaves it out)`, `give states of the stacks checked: ${names.join(", ")}`);
    }
    const stack = eq > 0 && names.includes(g.slice(0, eq)) ? g.slice(0, eq) : names.length === 1 ? names[0] : undefined;
    const file = eq > 0 && stack === g.slice(0, eq) ? g.slice(eq + 1) : g;
    if (stack === undefined) throw new UsageError("--state", `${JSON.stringify(g)} does not say which stack it is the state of`, `write --state STACK=FILE with STACK one of ${names.join(", ")}`);
    if (states.has(stack)) throw new UsageError("--state", `stack ${stack} is given two states`, "give each stack's state once");
    let text: string;
    try {
      text = readFileSync(resolve(cwd, file), "utf8");
    } catch (e) {
      throw new UsageError("--state", `cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, "give the file terraform show -json wrote, or the stack's .tfstate");
    }
    let state: unknown;
    try {
      state = JSON.parse(text);
    } catch {
      throw new UsageError("--state", `${file} is not JSON`, "write it with terraform show -json (not the plain terraform show)");
    }
    try {
      instancesOf(state);
    } catch (e) {
      if (e instanceof StateError) throw new UsageError("--state", `${file} ${e.message}`, "write it with terraform -chdir=cdktf.out/stacks/STACK show -json, or give the stack's .tfstate");
      throw e;
    }
    states.set(stack, state);
  }
  return states;
}
