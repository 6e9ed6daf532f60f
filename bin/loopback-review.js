#!/usr/bin/env node
// loopback-review: what each host of the synthesized LoopbackPolicy stacks gets, and what changed.
// The library is TypeScript run through ts-node (transpile only; `npm run build` type-checks).
require("./ts-node").register();
process.exitCode = require("../lib/cli/review").reviewCli(process.argv.slice(2), require("../lib/cli/io").processIo);
