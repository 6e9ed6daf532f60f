#!/usr/bin/env node
// loopback-review: what each host of the synthesized LoopbackPolicy stacks gets, and what changed.
const { load } = require("./load");
process.exitCode = load("cli/review").reviewCli(process.argv.slice(2), load("cli/io").processIo);
