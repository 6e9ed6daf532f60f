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
 * The files `init --template=typescript` writes (package.json, tsconfig.json, cdktf.json, jest.config.js,
 * setup.js, main.ts), copied from a CLI's template directory into a new directory, with the template's
 * placeholders filled in, plus an empty __tests__ and this repository's terraform.rc. Returns the directory.
 */
function layTemplate(template: string, name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `lbp-consumer-${name}-`));
  for (const f of readdirSync(template)) {
    if (["package.json", "tsconfig.json", "cdktf.json", "jest.config.js", "setup.js", "main.ts"].includes(f)) {
      const text = readFileSync(join(template, f), "utf8")
        .replace(/\{\{ \$base \}\}/g, name)
        .replace("{{projectId}}", "00000000-0000-4000-8000-000000000000")
        .replace("{{sendCrashReports}}", "false")
        .replace("{{futureFlags}}", "");
      writeFileSync(join(dir, f), text);
    }
  }
  mkdirSync(join(dir, "__tests__"));
  copyFileSync(join(ROOT, "terraform.rc"), join(dir, "terraform.rc"));
  return dir;
}

/** `npm install` in `dir` (it may reach the npm registry, as CI can; the cache makes it quick). */
export function npmInstall(dir: string, args: string[]): string {
  return mustRun("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", ...args], dir);
}

/**
 * A fresh project laid out as `cdktf init --template=typescript` makes it: the template's own files from the
 * installed cdktf-cli (package.json, tsconfig.json, cdktf.json, jest.config.js, setup.js, main.ts), with what
 * its post-init hook installs, plus the packed library. `npm install` may reach the npm registry (CI can); the
 * cache makes it quick.
 */
export function consumerProject(tarball: string, name: string): string {
  const dir = layTemplate(TEMPLATE, name);
  npmInstall(dir, [...CONSUMER_DEPS, tarball]);
  npmInstall(dir, ["-D", ...CONSUMER_DEV_DEPS]);
  return dir;
}

/** The CDK Terrain release the cdktn package test targets: the library (`cdktn`) and its CLI's template (`cdktn-cli`). */
export const CDKTN_VERSION = "0.24.0";
/** What `cdktn init`'s post-init hook installs: cdktn and constructs in the range cdktn's peer dependency allows. */
export const CDKTN_DEPS = [`cdktn@${CDKTN_VERSION}`, "constructs@>=10.6.0 <10.8.0"];
/**
 * What a CDK Terrain app adds to its package.json to use this library: npm `overrides` that make every `cdktf` in
 * the tree (this library's peer dependency, and @cdktf/provider-null's) the package cdktn, so only CDK Terrain's
 * core is installed and every construct is built on it. Without it npm installs cdktf 0.21 beside cdktn.
 */
export const CDKTN_OVERRIDES = { cdktf: `npm:cdktn@${CDKTN_VERSION}` };
/** The template's dev dependencies the tests use, pinned as CONSUMER_DEV_DEPS pins them (@types/node for Node 20). */
export const CDKTN_DEV_DEPS = ["@types/node@20", "typescript@5.9.3", "ts-node@10.9.2"];

/**
 * The typescript template of cdktn-cli, as `cdktn init --template=typescript` lays it: `npm pack cdktn-cli` into
 * `into` and unpacked there (the CLI itself needs Node 22 and is never run). Returns the template directory.
 */
export function cdktnTemplate(into: string): string {
  const out = mustRun("npm", ["pack", "--silent", "--prefer-offline", "--pack-destination", into, `cdktn-cli@${CDKTN_VERSION}`], into);
  const name = out.trim().split("\n").filter((l) => l.endsWith(".tgz")).pop();
  if (!name) throw new Error(`npm pack cdktn-cli printed no tarball name:\n${out}`);
  mustRun("tar", ["-xzf", join(into, name.trim()), "-C", into, "package/bundle/templates/typescript"], into);
  return join(into, "package", "bundle", "templates", "typescript");
}

/**
 * A fresh project laid out as `cdktn init --template=typescript` makes it (`template`: see cdktnTemplate), with
 * what its post-init hook installs, `extra` packages and the packed library; its package.json maps cdktf to
 * cdktn (CDKTN_OVERRIDES) before anything is installed.
 */
export function cdktnProject(template: string, tarball: string, name: string, extra: string[] = []): string {
  const dir = layTemplate(template, name);
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  writeFileSync(join(dir, "package.json"), `${JSON.stringify({ ...pkg, overrides: CDKTN_OVERRIDES }, null, 2)}\n`);
  npmInstall(dir, [...CDKTN_DEPS, ...extra, tarball]);
  npmInstall(dir, ["-D", ...CDKTN_DEV_DEPS]);
  return dir;
}

/** A bare npm project (a package.json and nothing else) with `deps` installed: for running a compiled app. */
export function bareProject(name: string, deps: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), `lbp-bare-${name}-`));
  writeFileSync(join(dir, "package.json"), `${JSON.stringify({ name, version: "1.0.0", private: true }, null, 2)}\n`);
  npmInstall(dir, deps);
  return dir;
}

/** The synthesized JSON of a stack in a cdktf output directory. */
export function stackJson(outdir: string, stack: string): { resource: Record<string, Record<string, Record<string, unknown>>>; locals: Record<string, unknown> } {
  return JSON.parse(readFileSync(join(outdir, "stacks", stack, "cdk.tf.json"), "utf8"));
}
