const { rmSync } = require("fs");

/** Jest globalTeardown: removes the run's temp directory (see global-setup.js) and puts TMPDIR back. */
module.exports = function globalTeardown() {
  const run = globalThis.__lbpTestTmp;
  if (!run) return;
  delete globalThis.__lbpTestTmp;
  if (run.savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = run.savedTmpdir;
  delete process.env.LBP_TEST_TMPDIR;
  if (process.env.LBP_KEEP_WORK) {
    console.log(`LBP_KEEP_WORK is set: kept the run's temp directory ${run.dir}`);
    return;
  }
  rmSync(run.dir, { recursive: true, force: true, maxRetries: 3 });
};
