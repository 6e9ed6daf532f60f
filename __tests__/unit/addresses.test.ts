import { validateFleet } from "../../lib/core";
import { errorOf, fleet } from "../support/validation";

/** Addresses Node's isIPv4/isIPv6 or the DNS pattern accept that are not a host SSH can connect to. */



describe("addresses SSH and Terraform cannot use as a host", () => {
  test.each<[string, RegExp]>([
    ["fe80::1%eth0", /zone id/],
    ["fe80::1%25eth0", /zone id|not an IPv4\/IPv6 address/],
    ["0.0.0.0", /not a host address/],
    ["255.255.255.255", /not a host address/],
    ["224.0.0.1", /multicast/],
    ["239.1.2.3", /multicast/],
    ["::", /not a host address/],
    ["ff02::1", /multicast/],
    ["0.1.2.3", /not a host address/],
    ["240.0.0.1", /reserved/],
    ["fe80::1", /link-local/],
    ["::ffff:224.0.0.1", /multicast/],
    ["::ffff:0.0.0.0", /not a host address/],
    ["0x7f.1", /legacy form/],
    ["0x7f000001", /legacy form/],
    ["host.10", /legacy form/],
  ])("GIVEN %s WHEN given as a host or bastion address THEN refused with a fix", (address, problem) => {
    for (const [spec, field] of [
      [fleet({}, { address }), "hosts[0].address"],
      [fleet({}, { bastion: { address } }), "hosts[0].bastion.address"],
    ] as const) {
      const e = errorOf(() => validateFleet(spec));
      expect(e.field).toBe(field);
      expect(e.message).toMatch(problem);
      expect(e.fix.length).toBeGreaterThan(10);
    }
  });

  test("GIVEN a zone id THEN the fix says to use a global or ULA address or a DNS name", () => {
    expect(errorOf(() => validateFleet(fleet({}, { address: "fe80::1%eth0" }))).fix).toMatch(/global or ULA address or a DNS name/);
  });

  test.each(["::ffff:192.0.2.1", "web-1.example.com.", "2001:db8::10", "fd42:213:1::2", "10.0.0.1", "localhost", "127.0.0.1"])(
    "GIVEN %s THEN accepted",
    (address) => {
      expect(validateFleet(fleet({}, { address })).hosts[0].address).toBe(address);
    },
  );
});
