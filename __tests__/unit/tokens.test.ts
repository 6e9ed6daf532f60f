import "cdktf/lib/testing/adapters/jest";
import { spawnSync } from "child_process";
import { mkdtempSync, readFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { App, DataResource, Fn, TerraformLocal, TerraformStack, TerraformVariable, Testing, Token } from "cdktf";
import { LoopbackPolicy, LoopbackPolicyProps } from "../../lib/core";
import { forEachOf } from "../support/synth";
import { errorOf } from "../support/validation";

/** A fresh stack, the tokens made in it by `make`, the policy over the hosts `make` returns, and the JSON. */
function withTokens(make: (stack: TerraformStack) => Omit<LoopbackPolicyProps, "resourceType">) {
  const app = Testing.app();
  const stack = new TerraformStack(app, "tokens");
  const props = make(stack);
  const policy = new LoopbackPolicy(stack, "loopback", { resourceType: "terraform_data", ...props });
  const json = JSON.parse(Testing.synth(stack));
  const res = json.resource.terraform_data.loopback;
  return { json, res, policy, stack, hosts: json.locals.loopback_hosts, preconditions: (res.lifecycle.precondition ?? []) as Array<{ condition: string; error_message: string }> };
}


const fieldsOf = (pre: Array<{ error_message: string }>) => pre.map((p) => p.error_message.split(":")[0]);

describe("a token in a host field synthesizes to its Terraform expression, with a precondition naming the field", () => {
  test("GIVEN a resource attribute (a terraform_data standing in for the instance) as the address", () => {
    const { hosts, preconditions, res } = withTokens((stack) => {
      const vm = new DataResource(stack, "vm", { input: { ip: "192.0.2.50" } });
      return { hosts: [{ name: "web-1", address: Token.asString(Fn.lookup(vm.output, "ip", "")) }] };
    });
    // cdktf renders the lookup of a known key as attribute access.
    expect(hosts["web-1"].address).toBe("${terraform_data.vm.output.ip}");
    expect(fieldsOf(preconditions)).toEqual(["hosts[0].address"]);
    expect(preconditions[0].condition).toMatch(/^\$\{each\.key != "web-1" \|\| \(.*local\.loopback_hosts\["web-1"\]\.address.*\)\}$/);
    expect(preconditions[0].condition).toContain("cidrhost(");
    expect(preconditions[0].error_message).toContain("is not an IPv4/IPv6 host address or DNS name");
    expect(preconditions[0].error_message).toContain("Fix: use e.g.");
    // Still created before destroyed.
    expect(res.lifecycle.create_before_destroy).toBe(true);
  });

  test("GIVEN a resource attribute read with getStringAttribute THEN the address is ${terraform_data.vm.output...}", () => {
    const { hosts } = withTokens((stack) => {
      const vm = new DataResource(stack, "vm", { input: { ip: "192.0.2.50" } });
      return { hosts: [{ name: "web-1", address: vm.getStringAttribute("output.ip") }] };
    });
    expect(hosts["web-1"].address).toBe("${terraform_data.vm.output.ip}");
  });

  test("GIVEN TerraformVariable.stringValue and numberValue as address and port", () => {
    const { hosts, preconditions } = withTokens((stack) => ({
      hosts: [{
        name: "web-1",
        address: new TerraformVariable(stack, "address", { type: "string" }).stringValue,
        port: new TerraformVariable(stack, "port", { type: "number" }).numberValue,
      }],
    }));
    expect(hosts["web-1"].address).toBe("${var.address}");
    expect(hosts["web-1"].port).toBe("${var.port}");
    expect(fieldsOf(preconditions)).toEqual(["hosts[0].address", "hosts[0].port"]);
    expect(preconditions[1].condition).toContain('tonumber(local.loopback_hosts["web-1"].port) <= 65535');
  });

  test("GIVEN a TerraformLocal and Fn.element THEN their expressions", () => {
    const { hosts, preconditions } = withTokens((stack) => {
      const list = new TerraformVariable(stack, "addresses", { type: "list(string)" }).listValue;
      return {
        hosts: [
          { name: "web-1", address: new TerraformLocal(stack, "first", "192.0.2.7").asString },
          { name: "web-2", address: Token.asString(Fn.element(list, 1)) },
        ],
      };
    });
    expect(hosts["web-1"].address).toBe("${local.first}");
    expect(hosts["web-2"].address).toBe("${element(var.addresses, 1)}");
    expect(fieldsOf(preconditions)).toEqual(["hosts[0].address", "hosts[1].address"]);
  });

  test("GIVEN user, privateKeyPath, hostKey, timeoutSeconds and sudo from variables THEN each is a reference, not escaped, each checked", () => {
    const { hosts, preconditions } = withTokens((stack) => {
      const v = (name: string, type = "string") => new TerraformVariable(stack, name, { type });
      return {
        hosts: [{
          name: "web-1",
          address: "192.0.2.10",
          user: v("user").stringValue,
          privateKeyPath: v("key").stringValue,
          hostKey: v("host_key").stringValue,
          timeoutSeconds: v("timeout", "number").numberValue,
          sudo: v("sudo", "bool").booleanValue as unknown as boolean,
        }],
      };
    });
    const h = hosts["web-1"];
    expect(h).toMatchObject({
      user: "${var.user}",
      private_key_path: "${var.key}",
      host_key: "${trimspace(var.host_key)}",
      timeout: "${var.timeout}s",
      sudo: '${var.sudo ? "1" : "0"}',
    });
    expect(fieldsOf(preconditions)).toEqual([
      "hosts[0].user", "hosts[0].privateKeyPath", "hosts[0].hostKey", "hosts[0].sudo", "hosts[0].timeoutSeconds", "hosts[0].timeoutSeconds",
    ]);
    const keyCheck = preconditions.find((p) => p.error_message.startsWith("hosts[0].privateKeyPath"))!;
    // Key paths and host keys are never shown in a message.
    expect(keyCheck.error_message).not.toContain("jsonencode");
    expect(preconditions.find((p) => p.error_message.startsWith("hosts[0].sudo"))!.condition).toContain('.user == "root" || ');
  });

  test("GIVEN a token user and no sudo THEN sudo follows the user Terraform resolves", () => {
    const { hosts } = withTokens((stack) => ({
      hosts: [{ name: "web-1", address: "192.0.2.10", user: new TerraformVariable(stack, "user", { type: "string" }).stringValue }],
    }));
    expect(hosts["web-1"].sudo).toBe('${(var.user != "root") ? "1" : "0"}');
  });

  test("GIVEN tokens in the fleet-wide connection and the bastion THEN the fields are named connection.*", () => {
    const { hosts, preconditions } = withTokens((stack) => {
      const v = (name: string, type = "string") => new TerraformVariable(stack, name, { type });
      return {
        connection: {
          port: v("port", "number").numberValue,
          bastion: { address: v("jump").stringValue, user: v("jump_user").stringValue, port: v("jump_port", "number").numberValue, privateKeyPath: v("jump_key").stringValue, hostKey: v("jump_host_key").stringValue },
        },
        hosts: [{ name: "web-1", address: "192.0.2.10" }, { name: "web-2", address: "192.0.2.11" }],
      };
    });
    expect(hosts["web-2"]).toMatchObject({
      port: "${var.port}",
      bastion_host: "${var.jump}",
      bastion_user: "${var.jump_user}",
      bastion_port: "${var.jump_port}",
      bastion_private_key_path: "${var.jump_key}",
      bastion_host_key: "${trimspace(var.jump_host_key)}",
    });
    const perHost = ["connection.port", "connection.bastion.address", "connection.bastion.user", "connection.bastion.port", "connection.bastion.privateKeyPath", "connection.bastion.hostKey"];
    expect(fieldsOf(preconditions)).toEqual([...perHost, ...perHost]);
    expect(preconditions[6].condition).toMatch(/^\$\{each\.key != "web-2"/);
  });

  test("GIVEN a token port and a local-only TCP range THEN the SSH-port check is a precondition naming localOnlyPorts", () => {
    const { preconditions } = withTokens((stack) => ({
      localOnlyPorts: ["tcp/2000-2100", "udp/53"],
      hosts: [{ name: "web-1", address: "192.0.2.10", port: new TerraformVariable(stack, "port", { type: "number" }).numberValue }],
    }));
    const cut = preconditions.find((p) => p.error_message.startsWith("localOnlyPorts:"))!;
    expect(cut.condition).toContain(">= 2000 && ");
    expect(cut.condition).toContain("<= 2100");
    expect(cut.condition).not.toContain("53");
    expect(cut.error_message).toContain('hosts[0] (\\"web-1\\")'.replace(/\\/g, ""));
  });
});

describe("the generation of a host with tokens is computed by Terraform from the values", () => {
  test("THEN the for_each value and the entry's generation hash the facts' local; literal hosts keep their hash", () => {
    const literal = { name: "web-2", address: "192.0.2.11" };
    const { json, res, hosts } = withTokens((stack) => ({
      hosts: [{ name: "web-1", address: new TerraformVariable(stack, "address", { type: "string" }).stringValue }, literal],
    }));
    const expr = '${substr(sha256(jsonencode(local.loopback_token_facts["web-1"])), 0, 8)}';
    expect(forEachOf(json, res)["web-1"]).toBe(expr);
    expect(hosts["web-1"].generation).toBe(expr);
    expect(json.locals.loopback_token_facts["web-1"].address).toBe("${var.address}");
    expect(json.locals.loopback_token_facts["web-1"].generation).toBeUndefined();
    expect(Object.keys(json.locals.loopback_token_facts)).toEqual(["web-1"]);
    // web-2 is literal: the same generation as in a fleet with no token at all.
    const alone = withTokens(() => ({ hosts: [{ name: "web-1", address: "192.0.2.10" }, literal] }));
    expect(forEachOf(json, res)["web-2"]).toBe(forEachOf(alone.json, alone.res)["web-2"]);
    expect(forEachOf(json, res)["web-2"]).toMatch(/^[0-9a-f]{8}$/);
    // A literal fleet has neither the facts local nor preconditions.
    expect(alone.json.locals.loopback_token_facts).toBeUndefined();
    expect(alone.res.lifecycle).toEqual({ create_before_destroy: true });
  });
});

describe("what stays literal, and literal values validated as before", () => {
  test("GIVEN a token host name THEN a typed error: names must be known when the stack is synthesized", () => {
    const e = errorOf(() => withTokens((stack) => ({ hosts: [{ name: new TerraformVariable(stack, "name", { type: "string" }).stringValue, address: "192.0.2.10" }] })));
    expect(e.field).toBe("hosts[0].name");
    expect(e.message).toContain("must be known when the stack is synthesized");
  });

  test("GIVEN a token label THEN a typed error naming the labels", () => {
    const e = errorOf(() => withTokens((stack) => ({ hosts: [{ name: "web-1", address: "192.0.2.10", labels: { role: new TerraformVariable(stack, "role", { type: "string" }).stringValue } }] })));
    expect(e.field).toBe("hosts[0].labels.role");
  });

  test("GIVEN a host key list holding a token THEN a typed error (the negotiated key is chosen at synth)", () => {
    const e = errorOf(() => withTokens((stack) => ({ hosts: [{ name: "web-1", address: "192.0.2.10", hostKey: Token.asList(new TerraformVariable(stack, "keys", { type: "list(string)" }).listValue) }] })));
    expect(e.field).toBe("hosts[0].hostKey");
    expect(e.message).toContain("must be literal");
  });

  test.each([
    [{ address: "not an address" }, 'hosts[0].address: "not an address" is not an IPv4/IPv6 address or DNS name'],
    [{ address: "192.0.2.10", port: 70000 }, "hosts[0].port: 70000 is out of range"],
    [{ address: "192.0.2.10", user: "Admin" }, 'hosts[0].user: "Admin" is not a usable user name'],
    [{ address: "192.0.2.10", timeoutSeconds: 10 }, "hosts[0].timeoutSeconds: the connection timeout (10s) is not longer than the rollback guard (30s)"],
  ])("GIVEN a literal bad value next to a token host THEN the same error as today (%o)", (bad, message) => {
    const e = errorOf(() => withTokens((stack) => ({
      hosts: [{ name: "web-1", ...bad }, { name: "web-2", address: new TerraformVariable(stack, "address", { type: "string" }).stringValue }],
    })));
    expect(e.message.startsWith(message)).toBe(true);
  });

  test("GIVEN a literal port inside a local-only range THEN the synth-time error as today, even with token addresses", () => {
    const e = errorOf(() => withTokens((stack) => ({
      localOnlyPorts: ["tcp/2000-2100"],
      hosts: [{ name: "web-1", address: new TerraformVariable(stack, "address", { type: "string" }).stringValue, port: 2050 }],
    })));
    expect(e.field).toBe("localOnlyPorts[0]");
  });
});

describe("Terraform runs the deferred checks (real terraform)", () => {
  const tf = (dir: string, args: string[]) => spawnSync("terraform", args, {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1" },
  });
  let dir: string;

  beforeAll(() => {
    const outdir = mkdtempSync(join(tmpdir(), "lbp-tokens-"));
    const app = new App({ outdir });
    const stack = new TerraformStack(app, "tokens");
    new LoopbackPolicy(stack, "loopback", {
      resourceType: "terraform_data",
      localOnlyPorts: ["tcp/2000-2100"],
      hosts: [
        {
          name: "web-1",
          address: new TerraformVariable(stack, "address", { type: "string" }).stringValue,
          port: new TerraformVariable(stack, "port", { type: "number", default: 22 }).numberValue,
        },
        { name: "web-2", address: "192.0.2.11" },
      ],
    });
    app.synth();
    dir = join(outdir, "stacks", "tokens");
    expect(JSON.parse(readFileSync(join(dir, "cdk.tf.json"), "utf8")).variable.address).toEqual({ type: "string" });
    // cdktf declares a local backend; init needs no download (terraform_data is built in).
    const init = tf(dir, ["init", "-input=false", "-no-color"]);
    expect(init.stderr).toBe("");
    expect(init.status).toBe(0);
  }, 120_000);

  const plan = (...vars: string[]) => tf(dir, ["plan", "-input=false", "-no-color", "-lock=false", ...vars.flatMap((v) => ["-var", v])]);
  const oneLine = (text: string) => text.replace(/│/g, " ").replace(/\s+/g, " ");

  test("THEN terraform validate accepts the stack", () => {
    const r = tf(dir, ["validate", "-no-color"]);
    expect(r.stdout).toContain("Success!");
    expect(r.status).toBe(0);
  }, 60_000);

  test.each([
    ["not an address", "not an address"],
    ["a network", "192.0.2.0/24"],
    ["a multicast address", "224.0.0.1"],
    ["an IPv6 link-local address", "fe80::1"],
    ["a numeric last label", "0x7f.1"],
  ])("GIVEN -var address= %s THEN plan fails with the field-naming message", (_what, value) => {
    const r = plan(`address=${value}`);
    expect(r.status).not.toBe(0);
    const err = oneLine(r.stderr);
    expect(err).toContain("Resource precondition failed");
    expect(err).toContain(`hosts[0].address: ${JSON.stringify(value)} is not an IPv4/IPv6 host address or DNS name`);
    expect(err).toContain("Fix: use e.g.");
  }, 60_000);

  test.each([
    ["out of range", "70000", "hosts[0].port: 70000 is not a whole number from 1 to 65535"],
    ["inside a local-only range", "2050", 'localOnlyPorts: it covers the port SSH reaches hosts[0] ("web-1") on'],
  ])("GIVEN -var port= %s THEN plan fails naming the field", (_what, value, message) => {
    const r = plan("address=192.0.2.10", `port=${value}`);
    expect(r.status).not.toBe(0);
    expect(oneLine(r.stderr)).toContain(message);
  }, 60_000);

  test.each(["192.0.2.10", "2001:db8::10", "web-1.example.com"])("GIVEN -var address=%s THEN plan succeeds, planning both hosts", (value) => {
    const r = plan(`address=${value}`, "port=2222");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('terraform_data.loopback["web-1"] will be created');
    expect(r.stdout).toContain('terraform_data.loopback["web-2"] will be created');
  }, 60_000);
});

describe("a value known only at apply (a resource attribute): the precondition stops the host before it runs (real terraform)", () => {
  test("GIVEN terraform_data.vm outputs a bad address THEN plan passes (known after apply), apply fails naming the field, no provisioner ran", () => {
    const outdir = mkdtempSync(join(tmpdir(), "lbp-tokens-apply-"));
    const app = new App({ outdir });
    const stack = new TerraformStack(app, "apply");
    // timestamp() is unknown while planning: the address is known only at apply, like a new instance's IP.
    const vm = new DataResource(stack, "vm", { input: { ip: Fn.replace(Fn.timestamp(), "/^.*$/", "192.0.2.0/24") } });
    new LoopbackPolicy(stack, "loopback", {
      resourceType: "terraform_data",
      hosts: [{ name: "web-1", address: vm.getStringAttribute("output.ip") }],
    });
    app.synth();
    const dir = join(outdir, "stacks", "apply");
    const run = (args: string[]) => spawnSync("terraform", args, { cwd: dir, encoding: "utf8", env: { ...process.env, CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1" } });
    expect(run(["init", "-input=false", "-no-color"]).status).toBe(0);
    const plan = run(["plan", "-input=false", "-no-color"]);
    expect(plan.stderr).toBe("");
    expect(plan.status).toBe(0);
    expect(plan.stdout).toContain("(known after apply)");
    const apply = run(["apply", "-input=false", "-no-color", "-auto-approve"]);
    expect(apply.status).not.toBe(0);
    const err = apply.stderr.replace(/│/g, " ").replace(/\s+/g, " ");
    expect(err).toContain('hosts[0].address: "192.0.2.0/24" is not an IPv4/IPv6 host address or DNS name');
    // The host's resource was never created: its provisioners (the SSH connection) never started.
    expect(apply.stdout).not.toContain("Provisioning with");
    expect(run(["state", "list"]).stdout.trim().split("\n")).toEqual(["terraform_data.vm"]);
  }, 180_000);
});
