import { spawnSync } from "child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";

export const ROOT = join(__dirname, "..", "..");
const TEMPLATE = join(ROOT, "node_modules", "cdktf-cli", "bundle", "templates", "typescript");

/** What a command printed and how it ended. */
export interface Run {
  readonly status: number;
  readonly output: string;
}

/** Run a command; `output` is stdout and stderr together, colours stripped. */
export function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}, timeoutMs = 5 * 60_000): Run {
  const r = spawnSync(command, args, {
    cwd,
    encoding: "utf8",
    timeout: timeoutMs,
    env: { ...process.env, CHECKPOINT_DISABLE: "1", CI: "true", FORCE_COLOR: "0", ...env },
  });
  const output = `${r.stdout ?? ""}\n${r.stderr ?? ""}${r.error ? `\n${r.error.message}` : ""}`.replace(/\x1b\[[0-9;]*m/g, "");
  return { status: r.status ?? -1, output };
}

/** Throw with everything the command printed when it failed. */
export function mustRun(command: string, args: string[], cwd: string, env: Record<string, string> = {}): string {
  const r = run(command, args, cwd, env);
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} (in ${cwd}) exited ${r.status}:\n${r.output}`);
  return r.output;
}

/**
 * The package as a user gets it: `npm pack` of this repository (its `prepack` builds it with jsii first) into a
 * directory of its own. Returns the tarball's path.
 */
export function packTarball(): string {
  const dir = mkdtempSync(join(tmpdir(), "lbp-pack-"));
  const out = mustRun("npm", ["pack", "--silent", "--pack-destination", dir], ROOT);
  const name = out.trim().split("\n").filter((l) => l.endsWith(".tgz")).pop();
  if (!name) throw new Error(`npm pack printed no tarball name:\n${out}`);
  return join(dir, name.trim());
}

/** Versions the consumer project installs: the template's packages, with TypeScript pinned to 5.x (7 breaks ts-node). */
export const CONSUMER_DEPS = ["cdktf@0.21.0", "constructs@10"];
export const CONSUMER_DEV_DEPS = ["@types/node@20", "typescript@5.9.3", "jest@29.7.0", "@types/jest@29", "ts-jest@29.4.5", "ts-node@10.9.2"];

/**
 * A fresh project laid out as `cdktf init --template=typescript` makes it: the template's own files from the
 * installed cdktf-cli (package.json, tsconfig.json, cdktf.json, jest.config.js, setup.js, main.ts), with what
 * its post-init hook installs, plus the packed library. `npm install` may reach the npm registry (CI can); the
 * cache makes it quick.
 */
export function consumerProject(tarball: string, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `lbp-consumer-${name}-`));
  for (const f of readdirSync(TEMPLATE)) {
    if (["package.json", "tsconfig.json", "cdktf.json", "jest.config.js", "setup.js", "main.ts"].includes(f)) {
      const text = readFileSync(join(TEMPLATE, f), "utf8")
        .replace(/\{\{ \$base \}\}/g, name)
        .replace("{{projectId}}", "00000000-0000-4000-8000-000000000000")
        .replace("{{sendCrashReports}}", "false")
        .replace("{{futureFlags}}", "");
      writeFileSync(join(dir, f), text);
    }
  }
  mkdirSync(join(dir, "__tests__"));
  copyFileSync(join(ROOT, "terraform.rc"), join(dir, "terraform.rc"));
  const install = (args: string[]) => mustRun("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", ...args], dir);
  install([...CONSUMER_DEPS, tarball]);
  install(["-D", ...CONSUMER_DEV_DEPS]);
  return dir;
}

/** The synthesized JSON of a stack in a cdktf output directory. */
export function stackJson(outdir: string, stack: string): { resource: Record<string, Record<string, Record<string, unknown>>>; locals: Record<string, unknown> } {
  return JSON.parse(readFileSync(join(outdir, "stacks", stack, "cdk.tf.json"), "utf8"));
}
