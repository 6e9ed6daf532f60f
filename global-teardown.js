const { rmSync } = require("fs");

/** Jest globalTeardown: removes the run's temp directory (see global-setup.js) and puts TMPDIR back. */
module.exports = function globalTeardown() {
  const lock = globalThis.__lbpTestLock;
  if (lock) {
    delete globalThis.__lbpTestLock;
    lock.stdin.end(); // the holder's cat ends, flock releases the test-run lock (see global-setup.js)
    delete process.env.LBP_TEST_LOCK_HELD;
  }
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
