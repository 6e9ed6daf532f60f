import "cdktf/lib/testing/adapters/jest";
import { Testing, TerraformStack } from "cdktf";
import { LoopbackPolicy, LoopbackPolicyError, LoopbackPolicyProps, validateFleet } from "../../lib/core";
import { ENGINE_IN_JSON, ENGINE_PLACEHOLDER, forEachOf, readable, synth } from "../support/synth";

const hosts = [
  { name: "web-1", address: "192.0.2.11" },
  { name: "web-2", address: "192.0.2.12", policy: { enforce: "every-apply" as const } },
  { name: "db-1", address: "192.0.2.21", user: "deploy", policy: { enforce: "every-apply" as const, localOnlyPorts: ["tcp/5432"] } },
];

/** The main resource with each host's policy key and generation blanked: what must not differ between modes. */
function mainShape(json: any, type: string): any {
  // for_each references a local (host to generation); the entries (with the policy key) are in another.
  return json.resource[type].loopback;
}

describe("the enforce option", () => {
  test("GIVEN nothing said WHEN validated THEN on-change", () => {
    expect(validateFleet({ hosts: [hosts[0]] }).hosts[0].policy.enforce).toBe("on-change");
  });

  test("GIVEN a fleet-wide every-apply and a host override WHEN validated THEN each host gets its own", () => {
    const f = validateFleet({ enforce: "every-apply", hosts: [hosts[0], { ...hosts[1], policy: { enforce: "on-change" } }] });
    expect(f.hosts.map((h) => h.policy.enforce)).toEqual(["every-apply", "on-change"]);
  });

  test.each([
    ["props", { enforce: "always" }, "enforce"],
    ["host", { hosts: [{ ...hosts[0], policy: { enforce: "each" } }] }, "hosts[0].policy.enforce"],
  ])("GIVEN an unknown value (%s) THEN a LoopbackPolicyError names the field and the values", (_where, extra, field) => {
    let error: unknown;
    try {
      validateFleet({ hosts: [hosts[0]], ...extra } as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LoopbackPolicyError);
    expect((error as LoopbackPolicyError).field).toBe(field);
    expect((error as LoopbackPolicyError).message).toMatch(/Fix: use one of "on-change", "every-apply"/);
  });
});

describe("synthesized: on-change (the default)", () => {
  test("GIVEN no host with every-apply THEN there is no enforce resource and the summary has no enforce field", () => {
    const { json, policy } = synth({ resourceType: "terraform_data", hosts: [hosts[0]] });
    expect(Object.keys(json.resource.terraform_data)).toEqual(["loopback"]);
    expect(policy.enforceResource).toBeUndefined();
    expect(Object.values<any>(json.output.loopback_summary.value)[0]).not.toHaveProperty("enforce");
  });

  test("GIVEN enforce: on-change said explicitly THEN the stack is the same as without it (keys and generations too)", () => {
    const quiet = synth({ resourceType: "terraform_data", hosts: [hosts[0]] }).json;
    const said = synth({ resourceType: "terraform_data", enforce: "on-change", hosts: [hosts[0]] }).json;
    expect(said).toEqual(quiet);
  });
});

describe("synthesized: every-apply", () => {
  const props: LoopbackPolicyProps = { resourceType: "terraform_data", hosts };

  test("snapshot a person has read (the engine, checked verbatim, shown as <engine.sh>)", () => {
    const text = JSON.stringify(readable(synth(props).json).resource).split(JSON.stringify(ENGINE_PLACEHOLDER)).join('"<engine.sh>"');
    expect(JSON.parse(text)).toMatchSnapshot();
  });

  test("THEN a second resource <id>_enforce carries exactly the every-apply hosts, with the same entries as the main one", () => {
    const { json, policy } = synth(props);
    const main = json.resource.terraform_data.loopback;
    const enforce = json.resource.terraform_data.loopback_enforce;
    expect(policy.enforceResource).toBeDefined();
    const [enforced, all] = [forEachOf(json, enforce), forEachOf(json, main)];
    expect(enforce.for_each).toBe("${local.loopback_enforce_for_each}");
    expect(Object.keys(enforced)).toEqual(["db-1", "web-2"]);
    expect(enforced["web-2"]).toEqual(all["web-2"]);
    expect(enforced["db-1"]).toEqual(all["db-1"]);
  });

  test("THEN it is replaced on every apply (timestamp), after the main resource, through the same connection", () => {
    const { json } = synth(props);
    const main = json.resource.terraform_data.loopback;
    const enforce = json.resource.terraform_data.loopback_enforce;
    expect(enforce.triggers_replace).toBe("${timestamp()}");
    expect(enforce.depends_on).toEqual(["terraform_data.loopback"]);
    expect(enforce.input).toBe(main.input);
    expect(enforce.connection).toEqual(main.connection);
    expect(enforce.lifecycle).toBeUndefined();
  });

  test("THEN it runs apply then confirm, and has no destroy-time block (which would remove what it just converged)", () => {
    const enforce = synth(props).json.resource.terraform_data.loopback_enforce;
    const blocks = enforce.provisioner.map((p: any) => p["remote-exec"]);
    expect(blocks.map((b: any) => b.inline[1].match(/LBP_MODE='(\w+)'/)[1])).toEqual(["apply", "confirm"]);
    expect(blocks.map((b: any) => b.when)).toEqual([undefined, undefined]);
    for (const b of blocks) expect(b.inline[3]).toBe("${local.loopback_engine}");
    expect(synth(props).json.locals.loopback_engine).toBe(ENGINE_IN_JSON);
  });

  test("THEN the main resource is the same as with on-change but for each host's policy key and generation", () => {
    const every = synth(props).json;
    const onChange = synth({ ...props, hosts: hosts.map(({ policy, ...h }) => ({ ...h, policy: { ...policy, enforce: "on-change" as const } })) }).json;
    expect(mainShape(every, "terraform_data")).toEqual(mainShape(onChange, "terraform_data"));
    const main = every.resource.terraform_data.loopback;
    expect(main.triggers_replace).toBe("${each.value}");
    expect(main.lifecycle).toEqual({ create_before_destroy: true });
    expect(JSON.stringify(readable(every).resource.terraform_data.loopback)).not.toContain("timestamp");
  });

  test("THEN every-apply is part of the policy: its own key and a line in its script, and the summary says so", () => {
    const { json } = synth({ resourceType: "terraform_data", hosts: [hosts[0], { ...hosts[1], policy: { enforce: "every-apply" } }] });
    const keys = Object.values<any>(json.locals.loopback_hosts).map((e) => e.policy);
    expect(new Set(keys).size).toBe(2);
    const every = json.locals.loopback_hosts["web-2"].policy;
    expect(json.locals.loopback_policy_scripts[every]).toContain("# enforce: every-apply");
    expect(json.locals.loopback_policy_scripts[json.locals.loopback_hosts["web-1"].policy]).not.toContain("enforce");
    expect(json.output.loopback_summary.value[every]).toMatchObject({ hosts: ["web-2"], enforce: "every-apply" });
  });

  test("GIVEN null_resource THEN its triggers hold the entry, the script and the time, and it depends on the main one", () => {
    const { json } = synth({ hosts });
    const enforce = json.resource.null_resource.loopback_enforce;
    expect(enforce.triggers).toBe("${merge(local.loopback_hosts[each.key], { policy_script = local.loopback_policy_scripts[local.loopback_hosts[each.key].policy], enforced_at = timestamp() })}");
    expect(enforce.depends_on).toEqual(["null_resource.loopback"]);
    expect(enforce.connection.host).toBe("${self.triggers.address}");
    expect(enforce.provisioner).toHaveLength(2);
  });

  test("GIVEN a terraform_data stack with every-apply THEN terraform init and validate accept it", () => {
    const stack = new TerraformStack(Testing.app(), "valid");
    new LoopbackPolicy(stack, "loopback", props);
    expect(Testing.fullSynth(stack)).toBeValidTerraform();
  });
});
