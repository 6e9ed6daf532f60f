import { spawnSync } from "child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";

/**
 * A test run leaves nothing in the temp directory: cdktf's Testing.app()/synth/synthScope/fullSynth and the
 * toBeValidTerraform/toPlanSuccessfully matchers mkdtemp a cdktf.outdir.* on every call and never remove it, and
 * suites make lbp-* directories of their own. Runs __tests__/support/litter-fixture.ts (which does all of that and
 * removes nothing) in a jest of its own, with this repo's jest configuration and a fresh TMPDIR, and checks that
 * TMPDIR is empty afterwards.
 */
jest.setTimeout(180_000);

const ROOT = join(__dirname, "..", "..");

test("a jest run with this repo's configuration leaves its TMPDIR as it found it", () => {
  const work = mkdtempSync(join(tmpdir(), "lbp-litter-test-"));
  try {
    const tmp = join(work, "tmp");
    mkdirSync(tmp);
    const config = join(work, "jest.config.js");
    // The repo's configuration, its unit project run on the fixture only, jest's cache outside TMPDIR.
    writeFileSync(config, [
      `const base = require(${JSON.stringify(join(ROOT, "jest.config.js"))});`,
      `const unit = base.projects.find((p) => p.displayName === "unit");`,
      `const cacheDirectory = ${JSON.stringify(join(work, "jest-cache"))};`,
      `module.exports = { ...base, rootDir: ${JSON.stringify(ROOT)}, cacheDirectory,`,
      `  projects: [{ ...unit, rootDir: ${JSON.stringify(ROOT)}, cacheDirectory, testMatch: [${JSON.stringify(join(ROOT, "__tests__", "support", "litter-fixture.ts"))}] }] };`,
    ].join("\n"));
    const env: Record<string, string | undefined> = { ...process.env, TMPDIR: tmp };
    for (const v of ["LBP_TEST_TMPDIR", "LBP_KEEP_WORK", "JEST_WORKER_ID"]) delete env[v];
    const r = spawnSync(process.execPath, [require.resolve("jest/bin/jest"), "--config", config, "--runInBand", "--ci"], {
      cwd: ROOT, env, encoding: "utf8", timeout: 170_000,
    });
    expect({ status: r.status, output: r.status === 0 ? "" : `${r.stdout}\n${r.stderr}` }).toEqual({ status: 0, output: "" });
    expect(readdirSync(tmp)).toEqual([]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
