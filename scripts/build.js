#!/usr/bin/env node
/**
 * `npm run build`: compile the package with jsii (lib/**.ts -> dist/**.js + .d.ts, and the .jsii assembly that
 * jsii-pacmak turns into Python, Java, .NET and Go packages), then copy the engine assets (lib/render/*.sh,
 * read at synth time) beside its compiled reader. Fails on any jsii error or warning: a warning here (a Python
 * reserved word, a missing dev dependency) becomes a binding users cannot use.
 */
"use strict";
const { spawnSync } = require("child_process");
const { copyFileSync, mkdirSync, readdirSync, rmSync } = require("fs");
const { join } = require("path");

const root = join(__dirname, "..");
rmSync(join(root, "dist"), { recursive: true, force: true });
// JSII_SILENCE_SUPPORT_WARNING: jsii's banner about this machine's Node version (20), not about the package.
const jsii = spawnSync(process.execPath, [require.resolve("jsii/bin/jsii"), "--fail-on-warnings"], {
  cwd: root,
  encoding: "utf8",
  env: { ...process.env, JSII_SILENCE_SUPPORT_WARNING: "1" },
});
const output = `${jsii.stdout}${jsii.stderr}`;
const warnings = output.split("\n").filter((l) => /\bwarning JSII\d+/.test(l));
if (jsii.status !== 0 || warnings.length > 0) {
  process.stderr.write(output);
  process.stderr.write(`build: jsii ${jsii.status !== 0 ? `failed (exit ${jsii.status ?? jsii.signal})` : `warned ${warnings.length} time(s)`}\n`);
  process.exit(1);
}
mkdirSync(join(root, "dist", "render"), { recursive: true });
// engine.sh and its firewall backends (engine-<name>.sh), which engine.ts splices together at synth time.
for (const f of readdirSync(join(root, "lib", "render")).filter((n) => n.endsWith(".sh"))) {
  copyFileSync(join(root, "lib", "render", f), join(root, "dist", "render", f));
}
