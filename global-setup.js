const { spawn } = require("child_process");
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
module.exports = async function globalSetup() {
  await oneRunAtATime();
  const dir = mkdtempSync(join(tmpdir(), `lbp-test-run-${process.pid}-`));
  // Like /tmp itself (world-writable, sticky): other users must reach what the suites put here (the lab's lbpuser
  // reads its authorized_keys under an e2e work directory), and processes run as another user that keep TMPDIR
  // (runuser -u nobody in the netns suites, -u postgres in the e2e state suite) must be able to make temp files.
  chmodSync(dir, 0o1777);
  globalThis.__lbpTestTmp = { dir, savedTmpdir: process.env.TMPDIR };
  process.env.TMPDIR = dir;
  process.env.LBP_TEST_TMPDIR = dir;
};

/**
 * The netns and e2e suites use what the machine has once: the labs' namespaces (by LBP_LAB_ID), the lab user and
 * its sudoers file, the /etc mount points. Two runs at once (two checkouts, a CI run beside a developer's) would
 * take over each other's lab hosts, so a run as root waits for the one before it: a lock held by a child process
 * for as long as this process lives (its stdin closes when jest exits, however it exits). LBP_TEST_NO_LOCK=1 skips
 * it (a unit-only run beside a full one).
 */
const LOCK = "/run/lbp-test-run.lock";
const WAIT_MINUTES = 60;

function oneRunAtATime() {
  // A jest run started by a test of this run (unit/litter.test.ts) is inside the lock already.
  if (process.getuid?.() !== 0 || process.env.LBP_TEST_NO_LOCK === "1" || process.env.LBP_TEST_LOCK_HELD) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const holder = spawn("flock", ["-w", String(WAIT_MINUTES * 60), LOCK, "sh", "-c", "echo held; exec cat >/dev/null"], { stdio: ["pipe", "pipe", "inherit"] });
    const started = Date.now();
    const notice = setInterval(() => {
      console.log(`waiting for another test run on this machine to finish (${Math.round((Date.now() - started) / 60000)} min so far; lock ${LOCK}; LBP_TEST_NO_LOCK=1 skips the wait)`);
    }, 60_000);
    holder.on("error", (e) => {
      clearInterval(notice);
      reject(new Error(`cannot take the test-run lock ${LOCK} with flock (util-linux): ${e.message}`));
    });
    holder.on("exit", (code) => {
      clearInterval(notice);
      reject(new Error(`another test run on this machine held ${LOCK} for more than ${WAIT_MINUTES} minutes (flock exited ${code}); wait for it or stop it`));
    });
    holder.stdout.once("data", () => {
      clearInterval(notice);
      holder.removeAllListeners("exit");
      holder.stdout.destroy();
      globalThis.__lbpTestLock = holder;
      process.env.LBP_TEST_LOCK_HELD = String(process.pid);
      resolve();
    });
  });
}
