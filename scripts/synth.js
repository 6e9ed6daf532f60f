#!/usr/bin/env node
/**
 * `npm run synth`: synthesize the app into cdktf.out/ exactly as `cdktf synth` does, without the cdktf CLI's
 * ~2.5 s start-up. It runs cdktf.json's `app` command with the environment the CLI gives it (CDKTF_OUTDIR,
 * CDKTF_CONTEXT_JSON from cdktf.json's `context`, NODE_OPTIONS with more heap, no TF_VAR_*), then removes the
 * stack directories the app no longer synthesizes, as the CLI does. The JSON is the app's own output, byte for
 * byte what `npx cdktf synth` writes (__tests__/unit/synth-cli.test.ts checks it).
 *
 *   npm run synth [-- --output DIR]     (DIR default: cdktf.json's "output", else cdktf.out)
 */
"use strict";
const { spawnSync } = require("child_process");
const { existsSync, readFileSync, readdirSync, rmSync, statSync } = require("fs");
const { join, resolve } = require("path");

const root = resolve(__dirname, "..");
const fail = (message, code = 2) => {
  console.error(`synth: ${message}`);
  process.exit(code);
};

const args = process.argv.slice(2);
let output;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--output" || a === "-o") output = args[++i];
  else if (a.startsWith("--output=")) output = a.slice("--output=".length);
  else fail(`unknown argument ${a}. Fix: npm run synth [-- --output DIR]; for anything else use npx cdktf synth`);
  if (!output) fail("--output needs a directory. Fix: npm run synth -- --output DIR");
}

let config;
try {
  config = JSON.parse(readFileSync(join(root, "cdktf.json"), "utf8"));
} catch (e) {
  fail(`cannot read cdktf.json: ${e.message}. Fix: restore cdktf.json from the repository`);
}
if (typeof config.app !== "string" || config.app.trim() === "") fail('cdktf.json has no "app" command. Fix: restore cdktf.json from the repository');
const outdir = resolve(root, output ?? config.output ?? "cdktf.out");
const stacksDir = join(outdir, "stacks");
const before = existsSync(stacksDir) ? readdirSync(stacksDir).filter((d) => statSync(join(stacksDir, d)).isDirectory()) : [];

const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("TF_VAR_")));
if (!env.NODE_OPTIONS) env.NODE_OPTIONS = "--max-old-space-size=4096";
// As the CLI: cdktf.json's "context" when it has one, else what CDKTF_CONTEXT_JSON holds.
const context = config.context ?? (process.env.CDKTF_CONTEXT_JSON ? JSON.parse(process.env.CDKTF_CONTEXT_JSON) : {});
env.CDKTF_OUTDIR = outdir;
env.CDKTF_CONTEXT_JSON = JSON.stringify({ ...context, cdktfRelativeModules: [] });
env.CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS = "true";
env.SYNTH_HCL_OUTPUT = "false";

const run = spawnSync(config.app, { cwd: root, env, shell: true, stdio: "inherit" });
if (run.error) fail(`could not run the app (${config.app}): ${run.error.message}`, 1);
if (run.status !== 0) process.exit(run.status ?? 1);

let manifest;
try {
  manifest = JSON.parse(readFileSync(join(outdir, "manifest.json"), "utf8"));
} catch (e) {
  fail(`the app did not write ${join(outdir, "manifest.json")} (${e.message}): it must call app.synth()`, 1);
}
const stacks = Object.keys(manifest.stacks ?? {});
// The construct annotations, as the CLI prints them; an error fails the synth, as with the CLI.
const LEVELS = { "@cdktf/info": "INFO", "@cdktf/warn": "WARN", "@cdktf/error": "ERROR" };
let errors = 0;
for (const name of stacks) {
  for (const a of manifest.stacks[name].annotations ?? []) {
    const level = LEVELS[a.level] ?? a.level;
    console.log(`${level} [${a.constructPath}]: ${a.message}`);
    if (level === "ERROR") errors++;
  }
}
if (errors > 0) fail(`${errors} error annotation(s) above`, 1);
for (const orphan of before.filter((d) => !stacks.includes(d))) rmSync(join(stacksDir, orphan), { recursive: true, force: true });
if (stacks.length === 0) fail("no Terraform code synthesized: the app defines no stack", 1);
console.log(`Generated Terraform code for the stacks: ${stacks.join(", ")} (in ${outdir})`);
