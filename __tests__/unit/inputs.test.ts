import { readFileSync } from "fs";
import { join } from "path";
import { BAD_INPUTS, errorOf, inputsDocument } from "../support/bad-inputs";

describe("the bad-input table", () => {
  test.each(BAD_INPUTS.map((b) => [b.prop, b.value, b] as const))("%s = %s fails with a field and a fix", (_prop, _value, input) => {
    const e = errorOf(input);
    expect(e.field.length).toBeGreaterThan(0);
    expect(e.fix.length).toBeGreaterThan(10);
    expect(e.message).toBe(`${e.field}: ${e.message.slice(e.field.length + 2, e.message.indexOf(". Fix: "))}. Fix: ${e.fix}`);
  });

  test("covers every prop of the API", () => {
    const props = new Set(BAD_INPUTS.map((b) => b.prop.replace(/\[\]/g, "").replace(/ \(typo\)$/, "").split(".").pop()));
    for (const p of ["hosts", "name", "address", "user", "port", "privateKeyPath", "hostKey", "sudo", "timeoutSeconds", "labels", "policy", "bastion",
      "connection", "ipv6", "antiSpoofing", "localOnlyPorts", "localOnlyAction", "allowEstablished", "logDrops", "prefix", "perMinute",
      "persistence", "v4Path", "v6Path", "otherFirewall", "verify", "rollbackSeconds", "lockWaitSeconds", "enforce", "resourceType",
      "rollout", "canary", "batchSize", "byLabel", "sharding", "maxHostsPerStack", "backend", "type", "schemaPrefix", "connStr", "path"]) {
      expect([p, props.has(p)]).toEqual([p, true]);
    }
  });

  test("docs/INPUTS.md is current (regenerate with npm run docs:inputs)", () => {
    expect(readFileSync(join(__dirname, "..", "..", "docs", "INPUTS.md"), "utf8")).toBe(inputsDocument());
  });
});
