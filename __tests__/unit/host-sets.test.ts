import { execFileSync, spawnSync } from "child_process";
import { mkdtempSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { App, DataResource, Fn, TerraformIterator, TerraformOutput, TerraformStack, TerraformVariable, Testing, Token } from "cdktf";
import { LoopbackPolicy, LoopbackPolicyProps } from "../../lib/core";
import { errorOf } from "../support/validation";

/**
 * Host sets: a fleet Terraform expands from a collection (a map variable, another resource's for_each), so adding
 * an element adds a host with no code change. Unit tests read the JSON; the plans are real `terraform plan`s.
 */
const FLEET_TYPE = "map(object({ address = string, port = optional(number, 22) }))";

function stackWith(build: (stack: TerraformStack, fleet: TerraformVariable) => Partial<LoopbackPolicyProps> & Pick<LoopbackPolicyProps, "hostSets">) {
  const app = Testing.app();
  const stack = new TerraformStack(app, "s");
  const fleet = new TerraformVariable(stack, "fleet", { type: FLEET_TYPE });
  const props = build(stack, fleet);
  const policy = new LoopbackPolicy(stack, "loopback", { resourceType: "terraform_data", ...props });
  return { stack, policy, json: JSON.parse(Testing.synth(stack)) };
}

function mapSet(fleet: TerraformVariable, extra: object = {}) {
  const it = TerraformIterator.fromMap(fleet.value);
  return { name: "web", forEach: it, address: it.getString("address"), port: Token.asNumber(it.getNumber("port")), ...extra };
}

describe("GIVEN a host set over a map(object) variable", () => {
  const { json, policy, stack } = stackWith((_s, fleet) => ({ hosts: [{ name: "bastion-1", address: "192.0.2.5" }], hostSets: [mapSet(fleet)] }));
  const web = json.resource.terraform_data.loopback_web;

  test("THEN its hosts are one resource, for_each over the variable, keyed by the map's keys", () => {
    expect(web.for_each).toBe("${var.fleet}");
    expect(policy.hostSets.map((s) => s.name)).toEqual(["web"]);
  });

  test("THEN each instance's entry reads the element (address, port) and carries the policy's script; the generation is Terraform's hash of the facts", () => {
    expect(web.input).toContain('"name" = each.key');
    expect(web.input).toContain('"address" = each.value.address');
    expect(web.input).toContain('"port" = each.value.port');
    expect(web.input).toMatch(/"generation" = substr\(sha256\(jsonencode\(\{"name" = each\.key, .*\}\)\), 0, 8\)/);
    expect(web.input).toMatch(/"policy_script" = local\.loopback_policy_scripts\["[0-9a-f]{12}"\]/);
    // Replaced (and re-converged) exactly when the generation changes, as for hosts named in code.
    expect(web.triggers_replace).toMatch(/^\$\{substr\(sha256\(jsonencode\(/);
    expect(web.lifecycle.create_before_destroy).toBe(true);
  });

  test("THEN it has the three provisioner blocks of every host resource, reading the entry through self", () => {
    const blocks = web.provisioner.map((b: any) => b["remote-exec"]);
    expect(blocks.map((b: any) => b.when ?? "create")).toEqual(["create", "create", "destroy"]);
    expect(blocks[0].inline[1]).toBe("LBP_MODE='apply' LBP_HOST='${self.input.name}' LBP_GEN='${self.input.generation}' LBP_SUDO='${self.input.sudo}' LBP_INSTANCE='${self.id}'");
    expect(web.connection.host).toBe("${self.input.address}");
  });

  test("THEN the policy's summary names the set, applied results include its hosts, and the policy as a dependency waits for it", () => {
    const groups = Object.values<any>(json.output.loopback_summary.value);
    expect(groups.map((g) => g.host_sets ?? [])).toEqual([["web"]]);
    expect(json.locals.loopback_applied).toContain("for k, r in terraform_data.loopback_web : k =>");
    expect(json.resource.terraform_data.loopback_converged.depends_on).toEqual(["terraform_data.loopback", "terraform_data.loopback_web"]);
    expect(policy.hostSets[0].resource.friendlyUniqueId).toBe("loopback_web");
    const after = stackWith((stack, fleet) => ({ hostSets: [mapSet(fleet)], dependsOn: [new DataResource(stack, "vm", { input: {} })] }));
    const next = new DataResource(after.policy, "next", { dependsOn: [after.policy] });
    next.overrideLogicalId("next");
    expect(JSON.parse(Testing.synth(after.stack)).resource.terraform_data.next.depends_on).toEqual(["terraform_data.loopback_converged"]);
  });

  test("THEN the reviewer's note on the resource (a JSON comment Terraform ignores) says what each host gets", () => {
    // Testing.synth drops "//" (cdktf's metadata); the stack's own JSON, what `cdktf synth` writes, has it.
    const written = stack.toTerraform().resource.terraform_data.loopback_web;
    expect(written["//"].loopback_policy_host_set).toEqual({
      set: "web",
      for_each: "${var.fleet}",
      facts: expect.objectContaining({ address: "${each.value.address}", port: "${each.value.port}", user: "root", sudo: "0", timeout: "300s" }),
    });
  });
});

describe("GIVEN the plans Terraform makes of a host-set stack (real terraform plan)", () => {
  const dir = mkdtempSync(join(tmpdir(), "lbp-sets-"));
  const app = new App({ outdir: dir });
  const stack = new TerraformStack(app, "s");
  const fleet = new TerraformVariable(stack, "fleet", { type: FLEET_TYPE });
  const dbs = new TerraformVariable(stack, "dbs", { type: "map(object({ address = string }))", default: { db1: { address: "192.0.2.30" } } });
  const list = TerraformIterator.fromMap(dbs.value);
  new LoopbackPolicy(stack, "loopback", {
    resourceType: "terraform_data",
    hosts: [{ name: "web-1", address: "192.0.2.5" }],
    hostSets: [mapSet(fleet, { policy: { localOnlyPorts: ["tcp/5432"] } }), { name: "db", forEach: list, address: list.getString("address") }],
  });
  app.synth();
  const cwd = join(dir, "stacks", "s");
  const env = { ...process.env, TF_CLI_CONFIG_FILE: join(__dirname, "..", "..", "terraform.rc"), CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1" };
  beforeAll(() => {
    execFileSync("terraform", ["init", "-input=false", "-no-color"], { cwd, env, stdio: "pipe" });
  });
  const plan = (fleetValue: string) => {
    const vars = join(cwd, `v-${Math.random().toString(16).slice(2)}.tfvars.json`);
    writeFileSync(vars, fleetValue);
    const r = spawnSync("terraform", ["plan", "-input=false", "-no-color", "-refresh=false", `-var-file=${vars}`], { cwd, env, encoding: "utf8" });
    return { status: r.status, out: `${r.stdout}${r.stderr}`.replace(/\s*\n\s*│?\s*/g, " ") };
  };

  test("WHEN the map holds two hosts THEN the plan adds one instance per key, named by the key", () => {
    const r = plan(JSON.stringify({ fleet: { "web-2": { address: "192.0.2.12" }, "web-3": { address: "192.0.2.13", port: 2222 } } }));
    expect(r.status).toBe(0);
    expect(r.out).toContain('terraform_data.loopback_web["web-2"] will be created');
    expect(r.out).toContain('terraform_data.loopback_web["web-3"] will be created');
    expect(r.out).toContain('terraform_data.loopback_db["db1"] will be created');
    expect(r.out).toContain('terraform_data.loopback["web-1"] will be created');
  });

  test.each([
    ["a bad address", { "web-2": { address: "zz.." } }, /hostSets\[0\]\.address: "zz\.\." is not an IPv4\/IPv6 host address or DNS name/],
    ["a port out of range", { "web-2": { address: "192.0.2.12", port: 70000 } }, /hostSets\[0\]\.port: 70000 is not a whole number from 1 to 65535/],
    ["the SSH port in the local-only ports", { "web-2": { address: "192.0.2.12", port: 5432 } }, /hostSets\[0\]\.policy\.localOnlyPorts: it covers the port SSH reaches hostSets\[0\] \("web"\) on/],
    ["a key that is not a host name", { "web 2": { address: "192.0.2.12" } }, /hostSets\[0\] \(web\): the key "web 2" of its collection is not a usable host name/],
    ["a key that names a host in hosts", { "WEB-1": { address: "192.0.2.12" } }, /hostSets\[0\] \(web\): the key "WEB-1" of its collection is already the name of a host in hosts/],
  ])("WHEN an element has %s THEN the plan fails naming the field, before any host is touched", (_what, value, message) => {
    const r = plan(JSON.stringify({ fleet: value }));
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/Resource precondition failed/);
    expect(r.out).toMatch(message);
  });

  test.each([
    ["two elements on one machine", { "web-2": { address: "192.0.2.12" }, "web-3": { address: "192.0.2.12" } }, /hostSets\[0\] \(web\): the element "web-[23]" has the address and port "192\.0\.2\.12:22" of another element of the set/],
    ["an element on a host of hosts' machine", { "web-2": { address: "192.0.2.5" } }, /hostSets\[0\] \(web\): the element "web-2" has the address and port "192\.0\.2\.5:22" of a host in hosts/],
    ["an element on a machine of an earlier set", { "web-2": { address: "192.0.2.12" } }, null],
    ["two keys that differ only in case", { "web-2": { address: "192.0.2.12" }, "WEB-2": { address: "192.0.2.13" } }, /the key "(web|WEB)-2" of its collection differs from another only in case/],
  ])("WHEN %s THEN the plan fails naming it (or plans, when it is another machine)", (_what, value, message) => {
    const r = plan(JSON.stringify({ fleet: value }));
    if (message === null) {
      expect(r.status).toBe(0);
      return;
    }
    expect(r.status).toBe(1);
    expect(r.out).toMatch(message);
  });

  test("WHEN a host of a later set is on the machine of an earlier set's THEN the plan fails naming the earlier set", () => {
    const r = plan(JSON.stringify({ fleet: { "web-2": { address: "192.0.2.30" } } }));
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/hostSets\[1\] \(db\): the element "db1" has the address and port "192\.0\.2\.30:22" of an element of hostSets\[0\]/);
  });

  test("WHEN a key of a later set is a key of an earlier one THEN the plan fails naming both sets", () => {
    const r = plan(JSON.stringify({ fleet: { DB1: { address: "192.0.2.12" } } }));
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/hostSets\[1\] \(db\): the key "db1" of its collection is also a key of hostSets\[0\]'s/);
  });
});

describe("GIVEN a host set over another resource's for_each", () => {
  test("THEN the set's hosts follow the instances: for_each is the resource, the address its attribute", () => {
    const { json } = stackWith((stack) => {
      const vms = new DataResource(stack, "vm", { forEach: TerraformIterator.fromList(["a", "b"]), input: { ip: "192.0.2.1" } });
      const it = TerraformIterator.fromResources(vms);
      return { hostSets: [{ name: "vms", forEach: it, address: Token.asString(Fn.lookup(it.getAnyMap("output"), "ip")) }] };
    });
    const set = json.resource.terraform_data.loopback_vms;
    expect(set.for_each).toBe("${terraform_data.vm}");
    expect(set.input).toContain('"address" = each.value.output.ip');
    // Only sets: no hosts resource of its own, no host-entries local.
    expect(json.resource.terraform_data.loopback).toBeUndefined();
    expect(json.locals.loopback_hosts).toBeUndefined();
  });
});

describe("GIVEN host sets with policies, enforcement and a rollout", () => {
  test("WHEN a set's policy says enforce every-apply THEN it gets its own enforce resource over the same collection", () => {
    const { json } = stackWith((_s, fleet) => ({ hostSets: [mapSet(fleet, { policy: { enforce: "every-apply" } })] }));
    const e = json.resource.terraform_data.loopback_web_enforce;
    expect(e.for_each).toBe("${var.fleet}");
    expect(e.triggers_replace).toBe("${timestamp()}");
    expect(e.depends_on).toEqual(["terraform_data.loopback_web"]);
    expect(e.provisioner.map((b: any) => b["remote-exec"].when)).toEqual([undefined, undefined]);
  });

  test("WHEN there is a rollout THEN every set starts after the last wave, and dependsOn reaches the sets too", () => {
    const { json } = stackWith((stack, fleet) => {
      const vm = new DataResource(stack, "vm", { input: {} });
      return { hosts: [{ name: "a", address: "192.0.2.1" }, { name: "b", address: "192.0.2.2" }], rollout: { canary: ["a"] }, hostSets: [mapSet(fleet)], dependsOn: [vm] };
    });
    expect(json.resource.terraform_data.loopback_web.depends_on).toEqual(["terraform_data.loopback_fleet", "terraform_data.vm"]);
    expect(json.resource.terraform_data.loopback_canary.depends_on).toEqual(["terraform_data.vm"]);
  });

  test("WHEN null_resource carries the hosts THEN the set's triggers hold the entry (and re-enforcing adds a timestamp)", () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, "s");
    const fleet = new TerraformVariable(stack, "fleet", { type: FLEET_TYPE });
    new LoopbackPolicy(stack, "loopback", { hostSets: [mapSet(fleet, { policy: { enforce: "every-apply" } })] });
    const json = JSON.parse(Testing.synth(stack));
    expect(json.resource.null_resource.loopback_web.triggers).toContain('"address" = each.value.address');
    expect(json.resource.null_resource.loopback_web_enforce.triggers).toContain('"enforced_at" = timestamp()');
  });
});

test("GIVEN two hosts in code on one address but different SSH ports (port forwarding to two machines) THEN both are kept", () => {
  const { policy } = stackWith(() => ({ hosts: [{ name: "a", address: "192.0.2.1", port: 2201 }, { name: "b", address: "192.0.2.1", port: 2202 }] }));
  expect(policy.fleet.hosts.map((h) => h.name)).toEqual(["a", "b"]);
});

describe("GIVEN bad host sets THEN synth fails with a typed error naming the field", () => {
  const fleetVar = () => new TerraformVariable(new TerraformStack(Testing.app(), "x"), "fleet", { type: FLEET_TYPE });
  test.each<[string, () => unknown, string, RegExp]>([
    ["not a list", () => ({ hostSets: { name: "web" } }), "hostSets", /is not a list/],
    ["no forEach", () => ({ hostSets: [{ name: "web", address: "192.0.2.1" }] }), "hostSets[0].forEach", /missing/],
    ["forEach not an iterator", () => ({ hostSets: [{ name: "web", address: "192.0.2.1", forEach: ["a"] }] }), "hostSets[0].forEach", /is not a cdktf iterator/],
    ["a name with a dot", () => ({ hostSets: [{ ...mapSet(fleetVar()), name: "web.1" }] }), "hostSets[0].name", /is not a usable host set name/],
    ["two sets of one name", () => ({ hostSets: [mapSet(fleetVar()), mapSet(fleetVar())] }), "hostSets[1].name", /is already the name of hostSets\[0\]/],
    ["a name the policy uses", () => ({ hostSets: [{ ...mapSet(fleetVar()), name: "converged" }] }), "hostSets[0].name", /which is the policy's own <type>\.<id>_converged/],
    ["a literal address (every host would be one machine)", () => ({ hostSets: [{ ...mapSet(fleetVar()), address: "192.0.2.1" }] }), "hostSets[0].address", /is literal: every host of the set would be that one machine/],
    ["a name whose enforce resource is another set's name", () => ({ hostSets: [{ ...mapSet(fleetVar()), name: "a", policy: { enforce: "every-apply" } }, { ...mapSet(fleetVar()), name: "a_enforce" }] }), "hostSets[1].name", /gives <type>\.<id>_a_enforce, which is the resource of hostSets\[0\]/],
    ["an unknown field", () => ({ hostSets: [{ ...mapSet(fleetVar()), adress: "x" }] }), "hostSets[0].adress", /unknown field/],
    ["a rollout and no hosts in code", () => ({ hostSets: [mapSet(fleetVar())], rollout: { canary: [] } }), "rollout", /there are none/],
    ["nothing at all", () => ({ hostSets: [] }), "hosts", /the fleet is empty/],
    ["two hosts in code on one machine (DNS names without case or final dot)", () => ({ hosts: [{ name: "a", address: "Web-1.Example.com" }, { name: "b", address: "web-1.example.com." }] }), "hosts[1].address", /is already the address of hosts\[0\] \("a"\): two hosts on one machine/],
  ])("%s", (_what, props, field, message) => {
    const stack = new TerraformStack(Testing.app(), "s");
    const e = errorOf(() => new LoopbackPolicy(stack, "loopback", props() as LoopbackPolicyProps));
    expect(e.field).toBe(field);
    expect(e.message).toMatch(message);
  });
});

describe("GIVEN a stack with a host set and a token host WHEN reviewed", () => {
  const { reviewCli } = require("../../lib/cli/review") as typeof import("../../lib/cli/review");
  const outdir = mkdtempSync(join(tmpdir(), "lbp-sets-review-"));
  const app = new App({ outdir });
  const stack = new TerraformStack(app, "fleet");
  const fleet = new TerraformVariable(stack, "fleet", { type: FLEET_TYPE });
  const addr = new TerraformVariable(stack, "addr", { type: "string" });
  new LoopbackPolicy(stack, "loopback", {
    resourceType: "terraform_data",
    hosts: [{ name: "web-1", address: "192.0.2.10" }, { name: "vm-1", address: addr.stringValue }],
    hostSets: [mapSet(fleet, { policy: { localOnlyPorts: ["tcp/5432"] } })],
  });
  app.synth();
  const run = (format: string) => {
    let stdout = "";
    const code = reviewCli(["--dir", outdir, "--no-record", "--format", format], { stdout: (t) => (stdout += t), stderr: () => undefined });
    return { code, stdout };
  };

  test("THEN the text review shows what is known now and labels the rest as known after apply", () => {
    const r = run("text");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('LoopbackPolicy "loopback" (terraform_data): 2 hosts, 1 host set, 2 policies');
    expect(r.stdout).toMatch(/vm-1 +root@\(known after apply: var\.addr\):22 .* generation \(known after apply\)/);
    expect(r.stdout).toContain("host set web: one host per key of var.fleet (terraform_data.loopback_web[\"<key>\"])");
    expect(r.stdout).toContain("root@(known after apply: each.value.address):(known after apply: each.value.port)  SSH agent  host key not pinned  generation (known after apply)");
    // The set's policy is shown in full: its rules are known before apply.
    expect(r.stdout).toContain("iptables -A INPUT ! -i lo -p tcp -m multiport --dports 5432 -j DROP");
  });

  test("THEN the JSON review carries the set with its collection and facts", () => {
    const c = JSON.parse(run("json").stdout).stacks[0].constructs[0];
    expect(c.hostSets).toEqual([expect.objectContaining({ name: "web", resource: "terraform_data.loopback_web", forEach: "var.fleet", address: "(known after apply: each.value.address)", user: "root", sudo: "0", keyFile: null, hostKey: "not pinned", bastion: null })]);
    expect(c.groups.find((g: any) => g.hostSets.length > 0).hostSets).toEqual(["web"]);
  });

  test("THEN the markdown review has a row for the set", () => {
    expect(run("markdown").stdout).toMatch(/\| host set `web`: one host per key of var\.fleet .* \| known after apply \|/);
  });
});

test("GIVEN host sets THEN appliedGeneration takes a set's key (Terraform resolves it); without sets an unknown name is refused at synth", () => {
  const { policy, stack } = stackWith((_s, fleet) => ({ hostSets: [mapSet(fleet)] }));
  const out = new TerraformOutput(stack, "g", { value: policy.appliedGeneration("web-7") });
  out.overrideLogicalId("g");
  const value: string = JSON.parse(Testing.synth(stack)).output.g.value;
  expect(value).toContain("local.loopback_applied");
  expect(value).toContain('"web-7"');
  const plain = stackWith(() => ({ hosts: [{ name: "web-1", address: "192.0.2.1" }], hostSets: undefined }));
  expect(errorOf(() => plain.policy.appliedGeneration("web-7")).field).toBe("appliedGeneration(host)");
});

test("GIVEN template text cdktf can produce THEN the scanner and the quoted-template body keep its sequences whole", () => {
  const { interpolationEnd, quotedTemplateBody } = require("../../lib/constructs/terraform-text") as typeof import("../../lib/constructs/terraform-text");
  expect(interpolationEnd('${"$${"}', 0)).toBe(7);
  expect(interpolationEnd('${a["}"]}', 0)).toBe(8);
  expect(quotedTemplateBody('say "hi" %{ if x == "a" }yes%{ endif } $${lit} %%{lit} ${each.key}')).toBe('say \\"hi\\" %{ if x == "a" }yes%{ endif } $${lit} %%{lit} ${each.key}');
});

test("GIVEN host sets THEN hostSetResource gives a set's resource (jsii languages have no hostSets list) and names the sets when asked for another", () => {
  const { policy } = stackWith((_s, fleet) => ({ hostSets: [mapSet(fleet)] }));
  expect(policy.hostSetResource("web").friendlyUniqueId).toBe("loopback_web");
  expect(errorOf(() => policy.hostSetResource("db")).message).toMatch(/"db" is not a host set of .*use one of: web/);
});

test("GIVEN a host set whose pinned key changes (its display stays \"pinned\") THEN review's diff lists the set as changed", () => {
  const { diffStacks } = require("../../lib/review/diff") as typeof import("../../lib/review/diff");
  const set = (hostKey: string) => ({ name: "web", resource: "terraform_data.loopback_web", forEach: "var.fleet", address: "(known after apply: each.value.address)", port: "22", user: "root", sudo: "0", keyFile: null, hostKey: "pinned", bastion: null, policy: "k", facts: { address: "${each.value.address}", host_key: hostKey } });
  const stack = (hostKey: string) => ({ stack: "s", constructs: [{ id: "loopback", resourceType: "terraform_data", groups: [], hosts: [], hostSets: [set(hostKey)], rollout: null }] });
  const [c] = diffStacks(stack("ecdsa-sha2-nistp256 AAAA1"), stack("ecdsa-sha2-nistp256 AAAA2")).constructs;
  expect(c.hostSetsChanged).toEqual(["web"]);
  expect(diffStacks(stack("x"), stack("x")).unchanged).toBe(true);
});
