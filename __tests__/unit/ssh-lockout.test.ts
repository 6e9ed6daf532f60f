import { validateFleet, FleetSpec } from "../../lib/core";
import { errorOf, fleet, host } from "../support/validation";

/** A local-only port that covers the SSH port the deploy connects over would cut every session but lo's. */



describe("a local-only port that covers the host's SSH port", () => {
  test.each<[string, FleetSpec, string]>([
    ["tcp/22, fleet-wide", fleet({ localOnlyPorts: ["tcp/22"] }), "localOnlyPorts[0]"],
    ["a range covering 22", fleet({ localOnlyPorts: ["tcp/8080", "tcp/1-1024"] }), "localOnlyPorts[1]"],
    ["a host policy override", { hosts: [host, { name: "web-2", address: "192.0.2.11", policy: { localOnlyPorts: ["tcp/20-30"] } }] }, "hosts[1].policy.localOnlyPorts[0]"],
    ["the port set by connection.port", fleet({ connection: { port: 2222 }, localOnlyPorts: ["tcp/2222"] }), "localOnlyPorts[0]"],
    ["the port set by the host", fleet({ localOnlyPorts: ["tcp/2200-2300"] }, { port: 2222 }), "localOnlyPorts[0]"],
    ["with the rollback guard off", fleet({ localOnlyPorts: ["tcp/22"], rollbackSeconds: 0 }), "localOnlyPorts[0]"],
  ])("GIVEN %s WHEN validated THEN refused naming the field and the fix", (_name, spec, field) => {
    const e = errorOf(() => validateFleet(spec));
    expect(e.field).toBe(field);
    expect(e.message).toMatch(/SSH to this host uses port \d+/);
    expect(e.fix).toMatch(/remove it/);
  });

  test("GIVEN a host that is another host's bastion WHEN its local-only ports cover the bastion port THEN refused", () => {
    const spec = {
      hosts: [
        { name: "jump", address: "198.51.100.1", port: 2222, policy: { localOnlyPorts: ["tcp/22"] } },
        { name: "app", address: "10.0.0.5", bastion: { address: "198.51.100.1", port: 22 } },
      ],
    } as FleetSpec;
    const e = errorOf(() => validateFleet(spec));
    expect(e.field).toBe("hosts[0].policy.localOnlyPorts[0]");
    expect(e.message).toMatch(/port 22.*bastion of hosts\[1\] \("app"\)/);
    expect(e.fix).toMatch(/SSH to this host uses port 22/);
  });

  test("GIVEN UDP ports covering 22, or TCP ports beside it THEN accepted", () => {
    expect(() => validateFleet(fleet({ localOnlyPorts: ["udp/22", "udp/1-1024", "tcp/23-1024", "tcp/1-21"] }))).not.toThrow();
    expect(() => validateFleet(fleet({ localOnlyPorts: ["tcp/22"] }, { port: 2222 }))).not.toThrow();
  });
});
