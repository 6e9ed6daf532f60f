#!/usr/bin/env node
/**
 * cdktf.json's `app`: runs main.ts. It does what `ts-node --transpile-only` does (each .ts file transpiled on
 * require with the project's tsconfig, types checked by `npm test`/`npm run build`, not here), but keeps each
 * transpiled file in node_modules/.cache/loopback-policy-app/, keyed by the file's content, the tsconfig and the
 * TypeScript version. With a warm cache TypeScript is never loaded: the app starts in about 0.1 s instead of
 * ts-node's 0.7 s or more, on every `npm run synth`, `cdktf synth` and `cdktf deploy`.
 * Files are compiled in place (their own path, so __dirname is unchanged) with inline source maps.
 */
"use strict";
const { createHash } = require("crypto");
const { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } = require("fs");
const { join } = require("path");

const root = join(__dirname, "..");
const cacheDir = join(root, "node_modules", ".cache", "loopback-policy-app");
const tsconfigPath = join(root, "tsconfig.json");
const salt = createHash("sha256")
  .update(readFileSync(__filename)) // this loader's own compiler option overrides
  .update(readFileSync(tsconfigPath))
  .update(readFileSync(join(root, "node_modules", "typescript", "package.json")))
  .digest("hex");

let transpiler;
/** TypeScript and the project's compiler options for transpiling one file to CommonJS (loaded on a cold cache only). */
function typescript() {
  if (transpiler === undefined) {
    const ts = require("typescript");
    const read = ts.readConfigFile(tsconfigPath, ts.sys.readFile);
    if (read.error) throw new Error(`tsconfig.json: ${ts.flattenDiagnosticMessageText(read.error.messageText, "\n")}`);
    const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, root);
    transpiler = { ts, options: { ...parsed.options, module: ts.ModuleKind.CommonJS, noEmit: false, declaration: false, inlineSourceMap: true, inlineSources: true, sourceMap: false } };
  }
  return transpiler;
}

require.extensions[".ts"] = (module, filename) => {
  const source = readFileSync(filename, "utf8");
  const file = join(cacheDir, `${createHash("sha256").update(salt).update(filename).update("\0").update(source).digest("hex")}.js`);
  let js;
  try {
    js = readFileSync(file, "utf8");
    // Every entry ends with its source map: anything else is a torn write (a crash between write and rename).
    if (!js.includes("//# sourceMappingURL=")) throw new Error("incomplete cache entry");
  } catch {
    const { ts, options } = typescript();
    js = ts.transpileModule(source, { compilerOptions: options, fileName: filename, reportDiagnostics: false }).outputText;
    // Another synth may write the same entry at the same time: write aside, then rename (atomic). A cache that
    // cannot be written (read-only node_modules) only costs the next start its speed.
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      mkdirSync(cacheDir, { recursive: true });
      writeFileSync(tmp, js);
      renameSync(tmp, file);
    } catch {
      try {
        rmSync(tmp, { force: true });
      } catch {
        // nothing was written
      }
    }
  }
  module._compile(js, filename);
};

process.setSourceMapsEnabled(true);
require(join(root, "main.ts"));
