import "cdktf/lib/testing/adapters/jest";
import { Testing, TerraformStack } from "cdktf";
import { LoopbackPolicy, LoopbackPolicyError, validateFleet } from "../../lib/core";
import { planWaves } from "../../lib/plan/waves";
import { forEachOf, readable, synth } from "../support/synth";

const hosts = (n: number, labels?: (i: number) => Record<string, string>) =>
  Array.from({ length: n }, (_, i) => ({ name: `h-${i + 1}`, address: `192.0.2.${i + 1}`, ...(labels ? { labels: labels(i) } : {}) }));
const fleet = (n: number, labels?: (i: number) => Record<string, string>) => validateFleet({ hosts: hosts(n, labels) });

describe("planning waves", () => {
  test("GIVEN a canary and a batch size THEN the canary first, then batches of the rest in fleet order", () => {
    expect(planWaves(fleet(7), { canary: ["h-3"], batchSize: 3 })).toEqual([
      { name: "canary", hosts: ["h-3"] },
      { name: "fleet-1", hosts: ["h-1", "h-2", "h-4"] },
      { name: "fleet-2", hosts: ["h-5", "h-6", "h-7"] },
    ]);
  });

  test("GIVEN a label and an order THEN waves by label value, listed values first, then the rest alphabetically", () => {
    const f = fleet(6, (i) => ({ region: ["us", "eu", "ap", "eu", "sa", "us"][i] }));
    expect(planWaves(f, { byLabel: "region", order: ["eu", "us"] }).map((w) => [w.name, w.hosts])).toEqual([
      ["eu", ["h-2", "h-4"]],
      ["us", ["h-1", "h-6"]],
      ["ap", ["h-3"]],
      ["sa", ["h-5"]],
    ]);
    expect(planWaves(f, { byLabel: "region", order: ["eu"], batchSize: 1 }).map((w) => w.name)).toEqual(["eu-1", "eu-2", "ap-1", "sa-1", "us-1", "us-2"]);
  });

  test("GIVEN only a canary THEN two waves; every host in exactly one wave", () => {
    const waves = planWaves(fleet(4), { canary: ["h-1", "h-2"] });
    expect(waves.map((w) => w.name)).toEqual(["canary", "fleet"]);
    expect(waves.flatMap((w) => w.hosts).sort()).toEqual(["h-1", "h-2", "h-3", "h-4"]);
  });

  test.each<[string, object, RegExp]>([
    ["unknown canary host", { canary: ["web-9"] }, /rollout\.canary\[0\]: "web-9" is not a host of the fleet/],
    ["canary twice", { canary: ["h-1", "h-1"] }, /rollout\.canary: names a host twice/],
    ["canary not a list", { canary: "h-1" }, /rollout\.canary: "h-1" is not a list/],
    ["batch size 0", { batchSize: 0 }, /rollout\.batchSize: 0 is not a positive whole number/],
    ["unknown field", { waves: 3 }, /rollout\.waves: unknown field/],
    ["missing label", { byLabel: "region" }, /hosts\[0\]\.labels\.region: host "h-1" has no "region" label.*put it in rollout\.canary/],
  ])("%s fails with the field and the fix", (_name, rollout, message) => {
    expect(() => planWaves(fleet(2), rollout)).toThrow(LoopbackPolicyError);
    expect(() => planWaves(fleet(2), rollout)).toThrow(message);
  });
});

describe("synthesized waves", () => {
  const props = { resourceType: "terraform_data" as const, hosts: hosts(5), rollout: { canary: ["h-1"], batchSize: 2 } };

  test("snapshot: canary then two batches, one resource per wave, each depending on the one before", () => {
    expect(readable(synth(props).json)).toMatchSnapshot();
  });

  test("THEN each wave's resource depends on the previous wave's, and the plan's order is in the output", () => {
    const { json } = synth(props);
    const res = json.resource.terraform_data;
    expect(Object.keys(res)).toEqual(["loopback_canary", "loopback_fleet-1", "loopback_fleet-2"]);
    expect(res.loopback_canary.depends_on).toBeUndefined();
    expect(res["loopback_fleet-1"].depends_on).toEqual(["terraform_data.loopback_canary"]);
    expect(res["loopback_fleet-2"].depends_on).toEqual(["terraform_data.loopback_fleet-1"]);
    expect(Object.keys(forEachOf(json, res["loopback_fleet-2"]))).toEqual(["h-4", "h-5"]);
    expect(json.output.loopback_rollout.value).toEqual([
      { wave: "canary", hosts: ["h-1"], resource: "terraform_data.loopback_canary" },
      { wave: "fleet-1", hosts: ["h-2", "h-3"], resource: "terraform_data.loopback_fleet-1" },
      { wave: "fleet-2", hosts: ["h-4", "h-5"], resource: "terraform_data.loopback_fleet-2" },
    ]);
  });

  test("THEN a host that moves to another wave gets a new generation (its new resource takes the rules over before the old one's destroy runs)", () => {
    const gen = (rollout: object) => synth({ ...props, rollout }).policy.entries["h-3"].generation;
    expect(gen({ canary: ["h-1"], batchSize: 2 })).toBe(gen({ canary: ["h-1"], batchSize: 2 }));
    expect(gen({ canary: ["h-1"], batchSize: 2 })).not.toBe(gen({ canary: ["h-1"], batchSize: 1 }));
  });

  test("GIVEN no rollout THEN one resource named after the construct, no wave in the entries, no rollout output", () => {
    const { json } = synth({ resourceType: "terraform_data", hosts: hosts(2) });
    expect(Object.keys(json.resource.terraform_data)).toEqual(["loopback"]);
    expect(json.locals.loopback_hosts["h-1"]).toBeDefined();
    expect(json.locals.loopback_hosts["h-1"].wave).toBeUndefined();
    expect(json.output.loopback_rollout).toBeUndefined();
  });

  test("THEN terraform validate accepts a rollout stack", () => {
    const stack = new TerraformStack(Testing.app(), "waves");
    new LoopbackPolicy(stack, "loopback", props);
    expect(Testing.fullSynth(stack)).toBeValidTerraform();
  });
});
