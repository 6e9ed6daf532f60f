// How the CLIs load the package: the compiled JavaScript in dist/ (an installed package), or, in a source checkout
// of this repository (lib/*.ts present, dist/ possibly stale or absent), the TypeScript sources through ts-node,
// transpile only (`npm run build` and `npm test` type-check them).
"use strict";
const { existsSync } = require("fs");
const path = require("path");

const root = path.join(__dirname, "..");

/** Require `<dir>/<name>` of the package, e.g. load("cli/review"). */
exports.load = function load(name) {
  if (existsSync(path.join(root, "lib", `${name}.ts`))) {
    let tsNode;
    try {
      tsNode = require("ts-node");
    } catch (e) {
      process.stderr.write("cdktf-loopback-policy: this is a source checkout (lib/*.ts) and ts-node is not installed. Fix: npm install (dev dependencies), or npm run build and use the package\n");
      process.exit(2);
    }
    tsNode.register({ transpileOnly: true, project: path.join(root, "tsconfig.json") });
    return require(path.join(root, "lib", name));
  }
  return require(path.join(root, "dist", name));
};
