#!/usr/bin/env node
// loopback-check: run each host's script in check mode over SSH; report compliant, drifted or unreachable.
const { load } = require("./load");
load("cli/check")
  .checkCli(process.argv.slice(2), load("cli/io").processIo)
  .then((code) => (process.exitCode = code))
  .catch((e) => {
    process.stderr.write(`loopback-check: ${e && e.stack ? e.stack : e}\n`);
    process.exitCode = 1;
  });
