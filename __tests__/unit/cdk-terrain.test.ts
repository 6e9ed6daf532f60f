import { Testing, TerraformStack } from "cdktf";
import { LoopbackPolicy, LoopbackPolicyError } from "../../lib/core";
import { errorOf } from "../support/validation";

/**
 * Under CDK Terrain the app maps the package name `cdktf` to `cdktn` (see __tests__/package/cdktn.test.ts, which
 * does it for real): what the library's `require("cdktf/package.json")` reads is then the package named `cdktn`.
 * Here only that package.json is replaced; the core itself stays cdktf 0.21, which behaves the same for this.
 */
jest.mock("cdktf/package.json", () => ({ name: "cdktn", version: "0.24.0" }));
let mockProviderLoaded = false;
jest.mock("@cdktf/provider-null/lib/provider", () => {
  mockProviderLoaded = true;
  return jest.requireActual("@cdktf/provider-null/lib/provider");
});

const hosts = [{ name: "web-1", address: "192.0.2.10" }];

describe("GIVEN the library runs on CDK Terrain (cdktf resolves to the package cdktn)", () => {
  test("WHEN resourceType is null_resource (the default) THEN a typed error on resourceType says provider-null is built for cdktf and to use terraform_data, before the provider is loaded", () => {
    const err = errorOf(() => new LoopbackPolicy(new TerraformStack(Testing.app(), "s"), "l", { hosts }));
    expect(err).toBeInstanceOf(LoopbackPolicyError);
    expect(err.field).toBe("resourceType");
    expect(err.message).toMatch(/CDK Terrain \(cdktn\)/);
    expect(err.message).toMatch(/@cdktf\/provider-null, which is built for cdktf/);
    expect(err.fix).toBe('set resourceType: "terraform_data" (built into Terraform 1.4+, no provider)');
    expect(mockProviderLoaded).toBe(false);
  });

  test("WHEN resourceType is terraform_data THEN it synthesizes as always", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    new LoopbackPolicy(stack, "l", { resourceType: "terraform_data", hosts });
    expect(Object.keys(JSON.parse(Testing.synth(stack)).resource.terraform_data)).toEqual(["l"]);
  });
});
