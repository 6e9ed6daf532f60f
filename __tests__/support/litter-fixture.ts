import "cdktf/lib/testing/adapters/jest";
import { mkdtempSync, statSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { Testing, TerraformStack } from "cdktf";
import { LoopbackPolicy, LoopbackPolicyProps } from "../../lib/core";

/**
 * Not a test of any project: __tests__/unit/litter.test.ts runs it in a jest of its own (with this repo's jest
 * configuration) and checks that the temp directory it started with is left as it was. It makes temp directories
 * every way the suites do, and removes none of them.
 */
const props: LoopbackPolicyProps = { resourceType: "terraform_data", hosts: [{ name: "web-1", address: "192.0.2.10" }] };

test("cdktf's Testing helpers and matchers, and a suite's own temp directory", () => {
  const stack = new TerraformStack(Testing.app(), "litter");
  new LoopbackPolicy(stack, "loopback", props);
  expect(Testing.synth(stack)).toContain("terraform_data");
  expect(Testing.synthScope((scope) => new LoopbackPolicy(scope, "loopback", props))).toContain("terraform_data");
  expect(Testing.fullSynth(stack)).toBeValidTerraform();
  expect(Testing.fullSynth(stack)).toPlanSuccessfully();
  writeFileSync(join(mkdtempSync(join(tmpdir(), "lbp-litter-")), "left-behind"), "");
  // Users other than root reach what the suites put in the temp directory (the e2e lab's lbpuser does).
  expect(statSync(tmpdir()).mode & 0o011).toBe(0o011);
});
