import { randomBytes } from "crypto";
import { LoopbackPolicyError, validateFleet } from "../../lib/core";
import { BadInput, errorOf as errorOfInput } from "../support/bad-inputs";
import { STRING_FIELDS } from "../support/hostile";
import { errorOf, fleet, host } from "../support/validation";

/** Error messages never print a secret-looking value (a private key pasted into the wrong field) whole. */



/** An OpenSSH private key as a user would paste it: header, 25 lines of base64, footer. */
function pem(): string {
  const body = randomBytes(1200).toString("base64").match(/.{1,70}/g)!;
  return ["-----BEGIN OPENSSH PRIVATE KEY-----", ...body, "-----END OPENSSH PRIVATE KEY-----", ""].join("\n");
}

/** Length of the longest substring of `a` that is also in `b`. */
function longestCommon(a: string, b: string): number {
  let best = 0;
  for (let i = 0; i < a.length; i++) {
    let lo = best + 1;
    while (i + lo <= a.length && b.includes(a.slice(i, i + lo))) lo++;
    best = Math.max(best, lo - 1);
  }
  return best;
}

const FLEET_FILE_FIELDS: Array<[string, (v: string) => Record<string, unknown>]> = [
  ["stack", (v) => ({ stack: v, hosts: [host] })],
  ["sharding.byLabel", (v) => ({ hosts: [host], sharding: { byLabel: v } })],
  ["backend.type", (v) => ({ hosts: [host], backend: { type: v } })],
  ["backend.path", (v) => ({ hosts: [host], backend: { type: "local", path: v } })],
  ["backend.schemaPrefix", (v) => ({ hosts: [host], backend: { type: "pg", schemaPrefix: v } })],
  ["an unknown backend field", (v) => ({ hosts: [host], backend: { type: "local", [v]: 1 } })],
];

const MORE_FIELDS: Array<[string, (p: any, v: string) => void]> = [
  ["connection.user", (p, v) => (p.connection = { user: v })],
  ["connection.privateKeyPath", (p, v) => (p.connection = { privateKeyPath: v })],
  ["connection.hostKey", (p, v) => (p.connection = { hostKey: v })],
  ["connection.hostKey as a list", (p, v) => (p.connection = { hostKey: [v] })],
  ["hosts[0].bastion.privateKeyPath", (p, v) => (p.hosts[0].bastion = { address: "192.0.2.1", privateKeyPath: v })],
  ["hosts[0].bastion.hostKey", (p, v) => (p.hosts[0].bastion = { address: "192.0.2.1", hostKey: v })],
  ["hosts[0].labels value", (p, v) => (p.hosts[0].labels = { role: v })],
  ["hosts[0].labels key", (p, v) => (p.hosts[0].labels = { [v]: "db" })],
  ["an unknown host field", (p, v) => (p.hosts[0][v] = "x")],
  ["an unknown fleet field", (p, v) => (p[v] = "x")],
  ["rollout.canary[0]", (p, v) => (p.rollout = { canary: [v] })],
  ["rollout.byLabel", (p, v) => (p.hosts[0].labels = { wave: "a" }, p.rollout = { byLabel: v })],
  ["a label value rollout.byLabel uses", (p, v) => (p.hosts[0].labels = { wave: v }, p.rollout = { byLabel: "wave" })],
  ["persistence.v4Path (a long value)", (p, v) => (p.persistence = { v4Path: `/etc/${v.replace(/[^A-Za-z0-9]/g, "x")}` })],
];

describe("a private key pasted into a string field", () => {
  const key = pem();
  const body = key.split("\n").filter((l) => l && !l.startsWith("-----"));

  function expectRedacted(e: LoopbackPolicyError): void {
    for (const text of [e.message, e.field, e.fix]) {
      for (const line of body) expect(text).not.toContain(line);
      expect(longestCommon(text, key)).toBeLessThanOrEqual(40);
    }
  }

  test.each([...STRING_FIELDS, ...MORE_FIELDS].map(([f, set]) => [f, set] as const))("GIVEN it in %s THEN the error does not print it", (_field, set) => {
    const props: any = { resourceType: "terraform_data", hosts: [{ ...host }] };
    set(props, key);
    expectRedacted(errorOfInput({ prop: _field, value: "a PEM key", props } as BadInput));
  });

  test.each(FLEET_FILE_FIELDS)("GIVEN it in the fleet file's %s THEN the error does not print it", (_field, make) => {
    expectRedacted(errorOfInput({ prop: _field, value: "a PEM key", props: { fleetFile: JSON.stringify(make(key)) } }));
  });

  test("GIVEN it in privateKeyPath THEN the error says what it is without showing it", () => {
    const e = errorOf(() => validateFleet(fleet({}, { privateKeyPath: key })));
    expect(e.message).toContain(`"-----BEGIN OPENSSH PRIVATE KEY-----…" (a private key, ${key.length.toLocaleString("en-US")} characters; not shown)`);
    expect(e.fix).toMatch(/path of the private key file/);
  });

  test("GIVEN short plain values THEN errors still quote them whole", () => {
    expect(errorOf(() => validateFleet(fleet({}, { user: "Admin" }))).message).toContain('"Admin" is not a usable user name');
    expect(errorOf(() => validateFleet(fleet({}, { labels: ["web"] }))).message).toContain('["web"] is not an object');
  });
});
