import { Construct } from "constructs";
import { App, DataResource, TerraformOutput, TerraformStack, Testing } from "cdktf";
import { LoopbackPolicy, LoopbackPolicyProps } from "../../lib/core";
import { errorOf } from "../support/validation";

/**
 * Composing the policy with the resources that create the hosts: what the hosts need first (`dependsOn`,
 * `node.addDependency`), the policy as a dependency of other resources, one stack holding several policies, and
 * the per-host results other resources read.
 */
const HOSTS = { resourceType: "terraform_data" as const, hosts: [{ name: "web-1", address: "10.0.0.5" }, { name: "web-2", address: "10.0.0.6" }] };

function synthOf(build: (stack: TerraformStack) => void): any {
  const stack = new TerraformStack(Testing.app(), "s");
  build(stack);
  return JSON.parse(Testing.synth(stack));
}


describe("GIVEN what the hosts need first", () => {
  test("WHEN dependsOn lists the instance and node.addDependency adds a security group THEN the first wave's resource depends on both", () => {
    const json = synthOf((stack) => {
      const vm = new DataResource(stack, "vm", { input: {} });
      const sg = new DataResource(stack, "sg", { input: {} });
      const policy = new LoopbackPolicy(stack, "loopback", { ...HOSTS, dependsOn: [vm] });
      policy.node.addDependency(sg);
    });
    expect(json.resource.terraform_data.loopback.depends_on).toEqual(["terraform_data.vm", "terraform_data.sg"]);
  });

  test("WHEN node.addDependency is given a construct that holds resources THEN the policy depends on each of them", () => {
    const json = synthOf((stack) => {
      const infra = new Construct(stack, "infra");
      new DataResource(infra, "vm-a", { input: {} });
      new DataResource(infra, "vm-b", { input: {} });
      new LoopbackPolicy(stack, "loopback", HOSTS).node.addDependency(infra);
    });
    expect(json.resource.terraform_data.loopback.depends_on).toEqual(["terraform_data.infra_vm-a_40FB5A3B", "terraform_data.infra_vm-b_1C0B6A7E"].map((x) => expect.stringMatching(new RegExp(`^${x.split("_").slice(0, 2).join("_")}`))));
  });

  test("WHEN node.addDependency is given a construct with nothing Terraform can depend on THEN synth fails loudly, naming both paths", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    const empty = new Construct(stack, "nothing-here");
    new LoopbackPolicy(stack, "loopback", HOSTS).node.addDependency(empty);
    expect(() => Testing.synth(stack)).toThrow(/s\/loopback: node\.addDependency\(\.\.\.\)\[0\]: s\/nothing-here holds no Terraform resource, data source or module/);
  });

  test("WHEN there is a rollout THEN only the first wave takes the dependencies (the others follow it)", () => {
    const json = synthOf((stack) => {
      const vm = new DataResource(stack, "vm", { input: {} });
      new LoopbackPolicy(stack, "loopback", { ...HOSTS, rollout: { canary: ["web-1"] }, dependsOn: [vm] });
    });
    expect(json.resource.terraform_data.loopback_canary.depends_on).toEqual(["terraform_data.vm"]);
    expect(json.resource.terraform_data["loopback_fleet"].depends_on).toEqual(["terraform_data.loopback_canary"]);
  });

  test("WHEN there are no dependencies THEN no depends_on is written (stacks synthesize as before)", () => {
    const json = synthOf((stack) => new LoopbackPolicy(stack, "loopback", HOSTS));
    expect(json.resource.terraform_data.loopback.depends_on).toBeUndefined();
  });

  test.each([
    ["a string", ["terraform_data.vm"], "dependsOn[0]"],
    ["an attribute instead of the resource", [{ id: "x" }], "dependsOn[0]"],
    ["not a list", "vm", "dependsOn"],
  ])("WHEN dependsOn holds %s THEN a typed error names the field", (_what, value, field) => {
    const e = errorOf(() => synthOf((stack) => new LoopbackPolicy(stack, "loopback", { ...HOSTS, dependsOn: value } as unknown as LoopbackPolicyProps)));
    expect(e.field).toBe(field);
    expect(e.message).toMatch(/Fix: pass/);
  });
});

describe("GIVEN other resources that need the hosts converged", () => {
  test("WHEN a resource has dependsOn: [policy] THEN it depends on the last wave, which exists only when every host confirmed", () => {
    const json = synthOf((stack) => {
      const policy = new LoopbackPolicy(stack, "loopback", { ...HOSTS, rollout: { canary: ["web-1"] } });
      new DataResource(stack, "app", { dependsOn: [policy], input: {} });
    });
    expect(json.resource.terraform_data.app.depends_on).toEqual(["terraform_data.loopback_fleet"]);
  });

  test("WHEN a resource reads appliedHosts THEN it gets each host's generation and instance id, also a stack output", () => {
    const json = synthOf((stack) => {
      const policy = new LoopbackPolicy(stack, "loopback", HOSTS);
      new DataResource(stack, "app", { input: { applied: policy.appliedHosts } });
      new TerraformOutput(stack, "web1", { value: policy.appliedGeneration("web-1") });
      expect(() => policy.appliedGeneration("web-9")).toThrow(/appliedGeneration\(host\): "web-9" is not a host of s\/loopback\. Fix: use one of: web-1, web-2/);
    });
    expect(json.locals.loopback_applied).toBe("${merge({ for k, r in terraform_data.loopback : k => { generation = r.input.generation, id = r.id } })}");
    expect(json.resource.terraform_data.app.input.applied).toBe("${local.loopback_applied}");
    expect(json.output.loopback_applied.value).toBe("${local.loopback_applied}");
    expect(json.output.web1.value).toBe('${local.loopback_applied["web-1"].generation}');
  });

  test("WHEN another stack reads appliedHosts THEN cdktf wires it through the policy stack's outputs and remote state (no instance key needed)", () => {
    const app = Testing.app();
    const fleet = new TerraformStack(app, "fleet");
    const policy = new LoopbackPolicy(fleet, "loopback", HOSTS);
    const consumer = new TerraformStack(app, "consumer");
    new DataResource(consumer, "reader", { input: { generation: policy.appliedGeneration("web-1"), all: policy.appliedHosts } });
    app.synth();
    const read = JSON.parse(Testing.synth(consumer));
    expect(read.resource.terraform_data.reader.input.generation).toMatch(/^\$\{data\.terraform_remote_state\.[\w-]+\.outputs\.[\w-]+loopback_applied\["web-1"\]\.generation\}$/);
    expect(Object.keys(read.data.terraform_remote_state)).toHaveLength(1);
  });

  test("THEN terraform validate accepts such a stack (dependencies both ways, appliedHosts read)", () => {
    const stack = new TerraformStack(Testing.app(), "s");
    const vm = new DataResource(stack, "vm", { input: {} });
    const policy = new LoopbackPolicy(stack, "loopback", { ...HOSTS, rollout: { canary: ["web-1"] }, dependsOn: [vm] });
    new DataResource(stack, "app", { dependsOn: [policy], input: { applied: policy.appliedHosts } });
    expect(Testing.fullSynth(stack)).toBeValidTerraform();
  });
});

describe("GIVEN two policies in one stack", () => {
  class Team extends Construct {
    constructor(scope: Construct, id: string, address: string) {
      super(scope, id);
      new LoopbackPolicy(this, "loopback", { resourceType: "terraform_data", hosts: [{ name: "web-1", address }] });
    }
  }

  test("WHEN a user construct holding LoopbackPolicy \"loopback\" is used twice THEN it is refused, naming both paths, instead of merging", () => {
    const stack = new TerraformStack(new App({ outdir: Testing.app().outdir }), "s");
    new Team(stack, "blue", "10.0.0.5");
    const e = errorOf(() => new Team(stack, "green", "10.0.0.6"));
    expect(e.field).toBe("id");
    expect(e.message).toContain("s/green/loopback");
    expect(e.message).toContain("s/blue/loopback");
    expect(e.fix).toMatch(/its own id/);
  });

  test("WHEN their ids differ THEN both synthesize, each with its own names", () => {
    const json = synthOf((stack) => {
      new LoopbackPolicy(stack, "loopback-web", HOSTS);
      new LoopbackPolicy(stack, "loopback-db", { resourceType: "terraform_data", hosts: [{ name: "db-1", address: "10.0.0.7" }] });
    });
    expect(Object.keys(json.resource.terraform_data).sort()).toEqual(["loopback-db", "loopback-web"]);
  });

  test("WHEN the same id is used in two stacks THEN that is fine (names are per stack)", () => {
    const app = Testing.app();
    for (const s of ["a", "b"]) new LoopbackPolicy(new TerraformStack(app, s), "loopback", HOSTS);
    expect(() => app.synth()).not.toThrow();
  });
});
