#!/usr/bin/env node
// loopback-check: run each host's script in check mode over SSH; report compliant, drifted or unreachable.
require("./ts-node").register();
require("../lib/cli/check")
  .checkCli(process.argv.slice(2), require("../lib/cli/io").processIo)
  .then((code) => (process.exitCode = code))
  .catch((e) => {
    process.stderr.write(`loopback-check: ${e && e.stack ? e.stack : e}\n`);
    process.exitCode = 1;
  });
