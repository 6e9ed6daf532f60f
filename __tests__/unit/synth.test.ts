import "cdktf/lib/testing/adapters/jest";
import { mkdtempSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { App, Testing, TerraformStack } from "cdktf";
import { LocalPort, LoopbackPolicy, LoopbackPolicyError, Persistence } from "../../lib/core";
import { ENGINE_IN_JSON, forEachOf, readable, synth } from "../support/synth";

const twoHosts = [
  { name: "web-1", address: "192.0.2.11" },
  { name: "web-2", address: "2001:db8::12" },
];

describe("snapshots a person has read", () => {
  test("terraform_data, default policy, key file and agent", () => {
    const { json } = synth({
      resourceType: "terraform_data",
      connection: { privateKeyPath: "~/.ssh/fleet_ed25519" },
      hosts: [...twoHosts, { name: "agent-1", address: "agent-1.example.com", privateKeyPath: undefined }],
    });
    expect(readable(json)).toMatchSnapshot();
  });

  test("null_resource with per-host overrides: IPv6 required, local-only ports, logging, reject", () => {
    const { json } = synth({
      hosts: [
        ...twoHosts,
        {
          name: "db-1",
          address: "192.0.2.21",
          user: "deploy",
          policy: {
            ipv6: "required",
            localOnlyPorts: [LocalPort.tcp(5432), "tcp/9187"],
            localOnlyAction: "reject",
            logDrops: true,
            antiSpoofing: "reject",
          },
        },
      ],
    });
    expect(readable(json)).toMatchSnapshot();
  });

  test("terraform_data, IPv6 off, explicit persistence files, bastion, pinned host keys, sudo, established", () => {
    const { json } = synth({
      resourceType: "terraform_data",
      ipv6: "off",
      allowEstablished: true,
      persistence: Persistence.files("/etc/fw/v4.rules", "/etc/fw/v6.rules"),
      rollbackSeconds: 45,
      connection: {
        user: "ops",
        port: 2222,
        privateKeyPath: "/keys/ops",
        timeoutSeconds: 120,
        bastion: { address: "bastion.example.com", user: "jump", hostKey: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBastionKeyBastionKeyBastionKeyBastionK"] },
      },
      hosts: [{ name: "app-1", address: "10.1.0.5", hostKey: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyHostKeyHostKeyHostKeyHostKeyHo"] }],
    });
    expect(readable(json)).toMatchSnapshot();
  });

  test("persistence modes: rhel and none, ICMP verification, skip other firewalls", () => {
    const { json } = synth({
      resourceType: "terraform_data",
      persistence: "rhel",
      verify: "icmp",
      otherFirewall: "skip",
      hosts: [
        { name: "rhel-1", address: "192.0.2.31" },
        { name: "ephemeral-1", address: "192.0.2.32", policy: { persistence: "none", ipv6: "off" } },
      ],
    });
    expect(json.locals).toMatchSnapshot();
  });
});

describe("terraform validate", () => {
  test.each([
    ["defaults", {}],
    ["everything on", { ipv6: "required", allowEstablished: true, logDrops: true, localOnlyPorts: ["tcp/80", "udp/53", "tcp/1000-2000"], persistence: "rhel", connection: { bastion: { address: "192.0.2.1" } } }],
  ])("GIVEN a terraform_data stack (%s) THEN terraform init and validate accept it", (_name, extra) => {
    const app = Testing.app();
    const stack = new TerraformStack(app, "valid");
    new LoopbackPolicy(stack, "loopback", { resourceType: "terraform_data", hosts: twoHosts, ...(extra as object) });
    expect(Testing.fullSynth(stack)).toBeValidTerraform();
  });
});

describe("the Terraform side", () => {
  test("GIVEN terraform_data THEN one resource, for_each keyed by host name, replaced when the generation changes, created before destroyed", () => {
    const { json } = synth({ resourceType: "terraform_data", hosts: twoHosts });
    const res = json.resource.terraform_data.loopback;
    expect(Object.keys(json.resource.terraform_data)).toEqual(["loopback"]);
    expect(res.for_each).toBe("${local.loopback_for_each}");
    expect(Object.keys(forEachOf(json, res))).toEqual(["web-1", "web-2"]);
    expect(res.triggers_replace).toBe("${each.value}");
    expect(forEachOf(json, res)).toEqual({ "web-1": expect.stringMatching(/^[0-9a-f]{8}$/), "web-2": expect.stringMatching(/^[0-9a-f]{8}$/) });
    expect(res.input).toBe("${merge(local.loopback_hosts[each.key], { policy_script = local.loopback_policy_scripts[local.loopback_hosts[each.key].policy] })}");
    expect(res.lifecycle).toEqual({ create_before_destroy: true });
  });

  test("GIVEN null_resource THEN triggers carry the same facts and the null provider is declared once", () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, "two");
    new LoopbackPolicy(stack, "a", { hosts: [twoHosts[0]] });
    new LoopbackPolicy(stack, "b", { hosts: [twoHosts[1]] });
    const json = JSON.parse(Testing.synth(stack));
    expect(Object.keys(json.resource.null_resource)).toEqual(["a", "b"]);
    expect(json.resource.null_resource.a.triggers).toBe("${merge(local.a_hosts[each.key], { policy_script = local.a_policy_scripts[local.a_hosts[each.key].policy] })}");
    expect(json.provider.null).toHaveLength(1);
  });

  test("THEN three provisioner blocks: apply, confirm (a new SSH connection), destroy-time remove", () => {
    const res = synth({ resourceType: "terraform_data", hosts: twoHosts }).json.resource.terraform_data.loopback;
    const blocks = res.provisioner.map((p: any) => p["remote-exec"]);
    expect(blocks.map((b: any) => b.inline[1].match(/LBP_MODE='(\w+)'/)[1])).toEqual(["apply", "confirm", "remove"]);
    expect(blocks.map((b: any) => b.when)).toEqual([undefined, undefined, "destroy"]);
    for (const b of blocks) {
      expect(b.inline[0]).toBe("#!/bin/sh");
      expect(b.inline[2]).toBe("${self.input.policy_script}");
    }
    // Create-time blocks reference the engine in a local (built once); the destroy-time block may only use self.
    expect(blocks.map((b: any) => b.inline[3])).toEqual(["${local.loopback_engine}", "${local.loopback_engine}", ENGINE_IN_JSON]);
  });

  test("THEN provisioners and the connection reference nothing but self (a destroy-time provisioner may not)", () => {
    const res = synth({ resourceType: "terraform_data", hosts: twoHosts }).json.resource.terraform_data.loopback;
    const destroy = res.provisioner.find((p: any) => p["remote-exec"].when === "destroy")["remote-exec"];
    const text = JSON.stringify({ c: res.connection, p: destroy.inline.slice(0, 3) });
    const refs = [...text.matchAll(/(?<!\$)\$\{([^}]*)\}/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) {
      const identifiers = ref.replace(/"[^"]*"/g, "").match(/[A-Za-z_][A-Za-z0-9_.]*/g) ?? [];
      for (const ident of identifiers) expect(ident).toMatch(/^(self\.input\.[a-z_]+|self\.id|file|pathexpand|null)$/);
    }
  });

  test("THEN the engine's own ${...} is escaped for Terraform, so the host receives it verbatim", () => {
    expect(ENGINE_IN_JSON).toContain("$${1:-}");
    expect(ENGINE_IN_JSON).not.toMatch(/(?<!\$)\$\{/);
  });

  test("GIVEN a private key file THEN its content is never in the JSON: Terraform reads it with file() at apply time", () => {
    const dir = mkdtempSync(join(tmpdir(), "lbp-key-"));
    const key = join(dir, "id_ed25519");
    writeFileSync(key, "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRET-MATERIAL-1234\n-----END OPENSSH PRIVATE KEY-----\n");
    const { text, json } = synth({ resourceType: "terraform_data", connection: { privateKeyPath: key }, hosts: twoHosts });
    expect(text).not.toContain("SECRET-MATERIAL");
    expect(text).not.toContain("PRIVATE KEY");
    expect(json.locals.loopback_hosts["web-1"].private_key_path).toBe(key);
    expect(json.resource.terraform_data.loopback.connection.private_key).toBe('${self.input.private_key_path == "" ? null : file(pathexpand(self.input.private_key_path))}');
  });

  test("GIVEN 200 hosts with one policy and one override THEN two policy scripts, and the engine twice in all (a local, the destroy-time block)", () => {
    const hosts = Array.from({ length: 200 }, (_, i) => ({ name: `h-${i}`, address: `10.0.${i >> 8}.${i & 255}` }));
    hosts[7] = { ...hosts[7], policy: { localOnlyPorts: ["tcp/8080"] } } as (typeof hosts)[number];
    const { json, text } = synth({ resourceType: "terraform_data", hosts });
    expect(Object.keys(json.locals.loopback_policy_scripts)).toHaveLength(2);
    expect(text.split("loopback-policy engine: the same text").length - 1).toBe(2);
    const keys = new Set(Object.values<any>(json.locals.loopback_hosts).map((e) => e.policy));
    expect(keys.size).toBe(2);
  });

  test("THEN the generation is stable, and changes with anything that must re-run the script", () => {
    const gen = (h: object, extra: object = {}) => {
      const { json } = synth({ resourceType: "terraform_data", hosts: [{ name: "web-1", address: "192.0.2.11", ...h }], ...extra });
      return forEachOf(json, json.resource.terraform_data.loopback)["web-1"];
    };
    const base = gen({});
    expect(gen({})).toBe(base);
    expect(gen({ address: "192.0.2.99" })).not.toBe(base);
    expect(gen({ port: 2200 })).not.toBe(base);
    expect(gen({}, { antiSpoofing: "reject" })).not.toBe(base);
    expect(gen({}, { localOnlyPorts: ["tcp/1"] })).not.toBe(base);
    expect(gen({ labels: { role: "x" } })).toBe(base);
  });

  test("THEN an output tells a reviewer what each host gets", () => {
    const out = synth({ resourceType: "terraform_data", hosts: [...twoHosts, { name: "db", address: "192.0.2.5", policy: { ipv6: "off" } }] }).json.output.loopback_summary.value;
    const groups = Object.values<any>(out);
    expect(groups.map((g) => g.hosts)).toEqual([["web-1", "web-2"], ["db"]]);
    expect(groups[1].rules).toEqual(["iptables -A INPUT -i lo -j ACCEPT", "iptables -A INPUT -s 127.0.0.0/8 ! -i lo -j DROP", "iptables -A OUTPUT -o lo -j ACCEPT"]);
  });
});

describe("bad input writes nothing", () => {
  test("GIVEN an invalid host THEN the construct throws a LoopbackPolicyError and adds nothing to the stack", () => {
    const app = new App({ outdir: mkdtempSync(join(tmpdir(), "lbp-out-")) });
    const stack = new TerraformStack(app, "bad");
    expect(() => new LoopbackPolicy(stack, "loopback", { hosts: [{ name: "ok", address: "192.0.2.1" }, { name: "bad", address: "192.0.2.1/24" }] }))
      .toThrow(LoopbackPolicyError);
    expect(JSON.parse(Testing.synth(stack)).resource).toBeUndefined();
  });

  test("GIVEN an unknown resourceType THEN it names the field", () => {
    const stack = new TerraformStack(Testing.app(), "bad");
    expect(() => new LoopbackPolicy(stack, "loopback", { resourceType: "aws_instance" as never, hosts: twoHosts })).toThrow(/resourceType: unknown value "aws_instance"/);
  });
});
