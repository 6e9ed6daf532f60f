import * as fc from "fast-check";
import { forEachOf } from "./synth";

/** Strings that would run a command, or a Terraform template, if they were ever interpolated unquoted. */
export const PAYLOADS = [
  "$(touch CANARY)", "`touch CANARY`", "'; touch CANARY; '", '"; touch CANARY; "', "\ntouch CANARY\n", ";touch CANARY",
  "|touch CANARY", "&& touch CANARY", "${file(\"/etc/passwd\")}", "%{ if true }x%{ endif }", "$HOME", "\\'$(touch CANARY)",
];

/** Random strings, payloads, and payloads behind a plausible prefix. */
export const hostile = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ maxLength: 40, unit: "binary" }),
  fc.constantFrom(...PAYLOADS),
  fc.tuple(fc.constantFrom("web-1", "/etc/x", "10.0.0.1", "ssh-ed25519 AAAA", "tcp/80", "ok"), fc.constantFrom(...PAYLOADS), fc.string({ maxLength: 8 }))
    .map(([a, b, c]) => a + b + c),
);

/** A valid one-host terraform_data fleet to put hostile values into. */
export const baseProps = (): any => ({ resourceType: "terraform_data", hosts: [{ name: "web-1", address: "192.0.2.10" }] });

/** Every string field of the props, and how to set it. */
export const STRING_FIELDS: Array<[string, (p: any, v: string) => void]> = [
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
  ["enforce", (p, v) => (p.enforce = v)],
  ["resourceType", (p, v) => (p.resourceType = v)],
];

/** Template sequences Terraform would evaluate: `${` or `%{` not escaped as `$${` / `%%{`. */
export function templateSequences(text: string): string[] {
  return [...text.matchAll(/(?<![$%])[$%]\{[^}]*\}/g)].map((m) => m[0]).sort();
}

const unescape = (s: string) => s.replace(/\$\$\{/g, "${").replace(/%%\{/g, "%{");

/**
 * What Terraform hands the host for a provisioner's `inline`: escapes undone, `self.input.*` substituted.
 * @param withEngine include the engine (the whole script) or stop after the policy part
 * @param mode run the script in this mode instead of the provisioner's own
 */
export function scriptAsHostSeesIt(json: any, withEngine: boolean, mode?: string): { script: string; host: string } {
  const res = json.resource.terraform_data.loopback;
  const name = Object.keys(forEachOf(json, res))[0];
  const entry = json.locals.loopback_hosts[name];
  const input: Record<string, string> = { ...entry, policy_script: json.locals.loopback_policy_scripts[entry.policy] };
  const inline: string[] = res.provisioner[0]["remote-exec"].inline.slice(0, withEngine ? 4 : 3);
  let script = inline
    .map((part, i) => (i === 3 ? unescape(json.locals.loopback_engine) : part.replace(/(?<!\$)\$\{self\.input\.([a-z_]+)\}/g, (_m, k) => unescape(input[k]))))
    .join("\n");
  if (mode) script = script.replace("LBP_MODE='apply'", `LBP_MODE='${mode}'`);
  return { script, host: unescape(name) };
}
