const { chmodSync, mkdtempSync } = require("fs");
const { tmpdir } = require("os");
const { join } = require("path");

/**
 * Jest globalSetup: the whole run's temp files go in one directory of its own, which global-teardown.js removes.
 * cdktf's Testing.app(), synth, synthScope and fullSynth (and so the toBeValidTerraform/toPlanSuccessfully checks of
 * their output) mkdtemp a cdktf.outdir.* in os.tmpdir() on every call and never remove it: about 1,600 of them per
 * unit run. The suites' own lbp-* directories, terraform and the cdktf CLI write there too. os.tmpdir() reads TMPDIR
 * on every call, and the test files (in band, or in workers started after this) and every process they start
 * inherit it, so pointing TMPDIR here catches them all; nothing outside this directory is touched.
 */
module.exports = function globalSetup() {
  const dir = mkdtempSync(join(tmpdir(), `lbp-test-run-${process.pid}-`));
  // Like /tmp itself (world-writable, sticky): other users must reach what the suites put here (the lab's lbpuser
  // reads its authorized_keys under an e2e work directory), and processes run as another user that keep TMPDIR
  // (runuser -u nobody in the netns suites, -u postgres in the e2e state suite) must be able to make temp files.
  chmodSync(dir, 0o1777);
  globalThis.__lbpTestTmp = { dir, savedTmpdir: process.env.TMPDIR };
  process.env.TMPDIR = dir;
  process.env.LBP_TEST_TMPDIR = dir;
};
