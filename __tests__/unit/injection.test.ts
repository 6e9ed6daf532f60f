import { spawnSync } from "child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import * as fc from "fast-check";
import { LoopbackPolicyError, LoopbackPolicyProps } from "../../lib";
import { synth } from "../support/synth";

/**
 * Property: whatever string a user puts in any string field, either validation refuses it with a
 * LoopbackPolicyError, or it reaches Terraform as plain text (no template sequence of its own) and the host
 * shell as plain data (no command runs). Checked by really running the rendered preamble in sh.
 */

const PAYLOADS = [
  "$(touch CANARY)", "`touch CANARY`", "'; touch CANARY; '", '"; touch CANARY; "', "\ntouch CANARY\n", ";touch CANARY",
  "|touch CANARY", "&& touch CANARY", "${file(\"/etc/passwd\")}", "%{ if true }x%{ endif }", "$HOME", "\\'$(touch CANARY)",
];
const hostile = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ maxLength: 40, unit: "binary" }),
  fc.constantFrom(...PAYLOADS),
  fc.tuple(fc.constantFrom("web-1", "/etc/x", "10.0.0.1", "ssh-ed25519 AAAA", "tcp/80", "ok"), fc.constantFrom(...PAYLOADS), fc.string({ maxLength: 8 }))
    .map(([a, b, c]) => a + b + c),
);

const base = (): any => ({ resourceType: "terraform_data", hosts: [{ name: "web-1", address: "192.0.2.10" }] });
const FIELDS: Array<[string, (p: any, v: string) => void]> = [
  ["hosts[0].name", (p, v) => (p.hosts[0].name = v)],
  ["hosts[0].address", (p, v) => (p.hosts[0].address = v)],
  ["hosts[0].user", (p, v) => (p.hosts[0].user = v)],
  ["hosts[0].privateKeyPath", (p, v) => (p.hosts[0].privateKeyPath = v)],
  ["hosts[0].hostKey", (p, v) => (p.hosts[0].hostKey = v)],
  ["hosts[0].labels", (p, v) => (p.hosts[0].labels = { [v]: v })],
  ["connection.bastion.address", (p, v) => (p.connection = { bastion: { address: v } })],
  ["connection.bastion.user", (p, v) => (p.connection = { bastion: { address: "192.0.2.1", user: v } })],
  ["connection.bastion.privateKeyPath", (p, v) => (p.connection = { bastion: { address: "192.0.2.1", privateKeyPath: v } })],
  ["connection.bastion.hostKey", (p, v) => (p.connection = { bastion: { address: "192.0.2.1", hostKey: v } })],
  ["persistence.v4Path", (p, v) => (p.persistence = { v4Path: v })],
  ["persistence.v6Path", (p, v) => (p.persistence = { v4Path: "/etc/x.v4", v6Path: v })],
  ["persistence", (p, v) => (p.persistence = v)],
  ["logDrops.prefix", (p, v) => (p.logDrops = { prefix: v })],
  ["localOnlyPorts[0]", (p, v) => (p.localOnlyPorts = [v])],
  ["hosts[0].policy.localOnlyPorts[0]", (p, v) => (p.hosts[0].policy = { localOnlyPorts: [v] })],
  ["ipv6", (p, v) => (p.ipv6 = v)],
  ["antiSpoofing", (p, v) => (p.antiSpoofing = v)],
  ["localOnlyAction", (p, v) => (p.localOnlyAction = v)],
  ["otherFirewall", (p, v) => (p.otherFirewall = v)],
  ["verify", (p, v) => (p.verify = v)],
  ["resourceType", (p, v) => (p.resourceType = v)],
];

/** Template sequences Terraform would evaluate: `${` or `%{` not escaped as `$${` / `%%{`. */
function templateSequences(text: string): string[] {
  return [...text.matchAll(/(?<![$%])[$%]\{[^}]*\}/g)].map((m) => m[0]).sort();
}
const BASELINE = new Set(templateSequences(synth(base()).text));

/** What Terraform hands the host for `inline`: escapes undone, `self.input.*` substituted. */
function scriptAsHostSeesIt(json: any): { script: string; host: string } {
  const res = json.resource.terraform_data.loopback;
  const [name, entry] = Object.entries<any>(res.for_each)[0];
  const unescape = (s: string) => s.replace(/\$\$\{/g, "${").replace(/%%\{/g, "%{");
  const input: Record<string, string> = { ...entry, policy_script: json.locals.loopback_policy_scripts[entry.policy] };
  const inline: string[] = res.provisioner[0]["remote-exec"].inline.slice(0, 3);
  const script = inline
    .map((part) => part.replace(/(?<!\$)\$\{self\.input\.([a-z_]+)\}/g, (_m, k) => unescape(input[k])))
    .join("\n");
  return { script, host: unescape(name) };
}

function runPreamble(script: string): { dir: string; out: string } {
  const dir = mkdtempSync(join(tmpdir(), "lbp-inject-"));
  const file = join(dir, "preamble.sh");
  writeFileSync(file, `${script}\nlbp_rule() { :; }\nlbp_rules\nprintf 'HOST=%s' "$LBP_HOST"\n`);
  const r = spawnSync("/bin/sh", [file], { cwd: dir, encoding: "utf8", timeout: 10_000 });
  return { dir, out: r.stdout };
}

describe.each(FIELDS)("random strings in %s", (_field, set) => {
  test("are refused, or stay plain text for Terraform and for the host shell", () => {
    fc.assert(
      fc.property(hostile, (value) => {
        const props = base();
        set(props, value);
        let result;
        try {
          result = synth(props as LoopbackPolicyProps);
        } catch (e) {
          if (e instanceof LoopbackPolicyError) return;
          throw e;
        }
        for (const seq of templateSequences(result.text)) expect(BASELINE.has(seq)).toBe(true);
        const { script, host } = scriptAsHostSeesIt(result.json);
        const { dir, out } = runPreamble(script);
        try {
          expect(readdirSync(dir)).toEqual(["preamble.sh"]);
          expect(out).toBe(`HOST=${host}`);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe("the harness itself", () => {
  test("GIVEN a preamble that does interpolate a payload THEN the canary appears (the property can fail)", () => {
    const { dir } = runPreamble("#!/bin/sh\nLBP_HOST=$(touch CANARY; echo x)");
    try {
      expect(readdirSync(dir).sort()).toEqual(["CANARY", "preamble.sh"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("GIVEN valid values with quotes-adjacent characters THEN they reach the shell intact", () => {
    const props = base();
    props.hosts[0].name = "web_1.a-b";
    props.persistence = { v4Path: "/etc/fw-rules/v4_1.rules" };
    const { script, host } = scriptAsHostSeesIt(synth(props).json);
    const { dir, out } = runPreamble(script);
    rmSync(dir, { recursive: true, force: true });
    expect(out).toBe(`HOST=${host}`);
    expect(script).toContain("LBP_PERSIST_V4='/etc/fw-rules/v4_1.rules'");
  });
});
