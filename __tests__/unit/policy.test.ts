import { LocalPort, LoopbackPolicyError, Persistence, validateFleet, FleetSpec } from "../../lib/core";
import { persistenceFrom } from "../../lib/policy/persistence";
import { errorOf, fleet, host } from "../support/validation";



describe("defaults", () => {
  test("GIVEN a bare host WHEN validated THEN root over 22, sudo off, the documented policy defaults", () => {
    const [h] = validateFleet(fleet()).hosts;
    expect(h).toMatchObject({ name: "web-1", address: "192.0.2.10", user: "root", port: 22, sudo: false, privateKeyPath: "", hostKey: "", timeoutSeconds: 300 });
    expect(h.policy).toMatchObject({ ipv6: "auto", antiSpoofing: "drop", localOnlyAction: "drop", allowEstablished: false, otherFirewall: "fail", verify: "auto", rollbackSeconds: 30, lockWaitSeconds: 30 });
    expect(h.policy.localOnlyPorts).toEqual([]);
    expect(h.policy.log).toBeUndefined();
    expect(h.policy.persistence.mode).toBe("auto");
  });

  test("GIVEN a non-root user WHEN sudo is not said THEN sudo is on", () => {
    expect(validateFleet(fleet({}, { user: "deploy" })).hosts[0].sudo).toBe(true);
  });

  test("GIVEN fleet defaults and a host override WHEN validated THEN the host's value wins, other fields inherit", () => {
    const f = validateFleet({
      connection: { user: "ops", port: 2222, privateKeyPath: "~/.ssh/fleet" },
      antiSpoofing: "reject",
      localOnlyPorts: ["tcp/8080"],
      hosts: [
        { name: "a", address: "192.0.2.1" },
        { name: "b", address: "192.0.2.2", port: 22, policy: { localOnlyPorts: [LocalPort.udp(53)], ipv6: "off" } },
      ],
    });
    expect(f.hosts[0]).toMatchObject({ user: "ops", port: 2222, sudo: true, privateKeyPath: "~/.ssh/fleet" });
    expect(f.hosts[1]).toMatchObject({ user: "ops", port: 22 });
    expect(f.hosts[1].policy.antiSpoofing).toBe("reject");
    expect(f.hosts[1].policy.ipv6).toBe("off");
    expect(f.hosts[1].policy.localOnlyPorts.map(String)).toEqual(["udp/53"]);
    expect(f.hosts[0].policy.localOnlyPorts.map(String)).toEqual(["tcp/8080"]);
    // Hosts without overrides share one policy object: their script is rendered once.
    const [a, b] = validateFleet({ hosts: [host, { ...host, name: "web-2", address: "192.0.2.11" }] }).hosts;
    expect(a.policy).toBe(b.policy);
  });

  test("GIVEN logDrops: true THEN the default prefix and rate", () => {
    expect(validateFleet(fleet({ logDrops: true })).hosts[0].policy.log).toEqual({ prefix: "lbp-drop", perMinute: 5 });
  });
});

describe("LocalPort", () => {
  test.each([
    ["tcp/8080", "tcp", 8080, 8080, "8080"],
    ["udp/53", "udp", 53, 53, "53"],
    ["tcp/9000-9100", "tcp", 9000, 9100, "9000:9100"],
  ])("parses %s", (text, protocol, from, to, ipt) => {
    const p = LocalPort.parse(text);
    expect(p).toMatchObject({ protocol, fromPort: from, toPort: to });
    expect(p.toIptables()).toBe(ipt);
    expect(p.toString()).toBe(text);
  });

  test.each([
    ["tcp/0", /out of range/],
    ["tcp/65536", /out of range/],
    ["tcp/9100-9000", /reversed.*"tcp\/9000-9100"/],
    ["sctp/80", /is not a port/],
    ["8080", /is not a port.*"tcp\/8080"/],
    ["tcp/80; rm -rf /", /is not a port/],
  ])("rejects %s", (text, message) => {
    expect(() => LocalPort.parse(text)).toThrow(message);
  });

  test("factories validate too", () => {
    expect(() => LocalPort.tcpRange(10, 5)).toThrow(LoopbackPolicyError);
    expect(() => LocalPort.udp(1.5)).toThrow(/whole number/);
  });
});

describe("Persistence", () => {
  test("named modes carry their distribution's paths", () => {
    expect(Persistence.netfilterPersistent().toString()).toBe("netfilter-persistent: /etc/iptables/rules.v4, /etc/iptables/rules.v6");
    expect(Persistence.rhel().toString()).toBe("rhel: /etc/sysconfig/iptables, /etc/sysconfig/ip6tables");
    expect(persistenceFrom({ v4Path: "/etc/fw/v4" }).toString()).toBe("files: /etc/fw/v4, /etc/fw/v4.v6");
  });
});

describe("bad input fails with the field and the fix", () => {
  test.each<[string, () => unknown, string, RegExp]>([
    ["empty fleet", () => validateFleet({ hosts: [] }), "hosts", /fleet is empty.*list at least one host/],
    ["no hosts", () => validateFleet({} as FleetSpec), "hosts", /fleet is empty/],
    ["duplicate name", () => validateFleet({ hosts: [host, { ...host, name: "WEB-1" }] }), "hosts[1].name", /already the name of hosts\[0\]/],
    ["unusable name", () => validateFleet(fleet({}, { name: "web 1" })), "hosts[0].name", /not a usable host name/],
    ["name with a quote", () => validateFleet(fleet({}, { name: "a'b" })), "hosts[0].name", /not a usable host name/],
    ["CIDR for an address", () => validateFleet(fleet({}, { address: "10.0.0.1/32" })), "hosts[0].address", /did you mean "10.0.0.1"/],
    ["bracketed IPv6", () => validateFleet(fleet({}, { address: "[2001:db8::1]" })), "hosts[0].address", /without brackets: "2001:db8::1"/],
    ["bad IPv4", () => validateFleet(fleet({}, { address: "300.1.1.1" })), "hosts[0].address", /not an IPv4\/IPv6 address or DNS name/],
    ["shell in address", () => validateFleet(fleet({}, { address: "a.com;reboot" })), "hosts[0].address", /not an IPv4/],
    ["missing address", () => validateFleet(fleet({}, { address: undefined })), "hosts[0].address", /missing/],
    ["port 0", () => validateFleet(fleet({}, { port: 0 })), "hosts[0].port", /1 to 65535/],
    ["port as text", () => validateFleet(fleet({}, { port: "22" })), "hosts[0].port", /whole number/],
    ["fleet port", () => validateFleet(fleet({ connection: { port: 70000 } })), "connection.port", /1 to 65535/],
    ["bad user", () => validateFleet(fleet({}, { user: "$(id)" })), "hosts[0].user", /not a usable user name/],
    ["non-root without sudo", () => validateFleet(fleet({}, { user: "deploy", sudo: false })), "hosts[0].sudo", /set sudo: true/],
    ["key path with quotes", () => validateFleet(fleet({}, { privateKeyPath: 'k"; rm' })), "hosts[0].privateKeyPath", /not a usable key file path/],
    ["key path template", () => validateFleet(fleet({}, { privateKeyPath: "${file(x)}" })), "hosts[0].privateKeyPath", /not a usable key file path/],
    ["host key with comment", () => validateFleet(fleet({}, { hostKey: "ssh-ed25519 AAAA root@x" })), "hosts[0].hostKey", /without a comment/],
    ["unknown ipv6 mode", () => validateFleet(fleet({ ipv6: "yes" })), "ipv6", /use one of "auto", "required", "off"/],
    ["unknown anti-spoofing", () => validateFleet(fleet({ antiSpoofing: "DROP" })), "antiSpoofing", /"drop", "reject", "off"/],
    ["bad port in list", () => validateFleet(fleet({ localOnlyPorts: ["tcp/8080", "tcp/99999"] })), "localOnlyPorts[1]", /out of range/],
    ["reversed range per host", () => validateFleet(fleet({}, { policy: { localOnlyPorts: ["udp/10-5"] } })), "hosts[0].policy.localOnlyPorts[0]", /reversed/],
    ["ports not a list", () => validateFleet(fleet({ localOnlyPorts: "tcp/80" })), "localOnlyPorts", /not a list/],
    ["log prefix with a quote", () => validateFleet(fleet({ logDrops: { prefix: 'x" -j ACCEPT' } })), "logDrops.prefix", /not a usable log prefix/],
    ["log prefix holding a tag", () => validateFleet(fleet({ logDrops: { prefix: "lbp:0badc0de:" } })), "logDrops.prefix", /holds "lbp:", the start of the tags/],
    ["log prefix holding a tag, other case", () => validateFleet(fleet({ logDrops: { prefix: "x-LBP:" } })), "logDrops.prefix", /holds "lbp:"/],
    ["log rate 0", () => validateFleet(fleet({ logDrops: { perMinute: 0 } })), "logDrops.perMinute", /1 to 10000/],
    ["unknown persistence", () => validateFleet(fleet({ persistence: "systemd" })), "persistence", /"netfilter-persistent"/],
    ["relative persistence path", () => validateFleet(fleet({ persistence: { v4Path: "rules.v4" } })), "persistence.v4Path", /absolute path/],
    ["persistence path with ..", () => validateFleet(fleet({ persistence: { v4Path: "/etc/../x" } })), "persistence.v4Path", /no spaces, quotes or '..'/],
    ["same v4 and v6 file", () => validateFleet(fleet({ persistence: { v4Path: "/etc/a", v6Path: "/etc/a" } })), "persistence.v6Path", /different path/],
    ["unknown otherFirewall", () => validateFleet(fleet({ otherFirewall: "stop" })), "otherFirewall", /"fail", "skip", "ignore", "manage"/],
    ["unknown verify", () => validateFleet(fleet({ verify: "http" })), "verify", /"auto", "tcp", "icmp", "off"/],
    ["negative rollback", () => validateFleet(fleet({ rollbackSeconds: -1 })), "rollbackSeconds", /0 to 3600/],
    ["timeout shorter than rollback", () => validateFleet(fleet({ rollbackSeconds: 60, connection: { timeoutSeconds: 30 } })), "connection.timeoutSeconds", /above 60/],
    ["typo in a field", () => validateFleet(fleet({ antispoofing: "drop" })), "antispoofing", /did you mean "antiSpoofing"/],
    ["unknown host field", () => validateFleet(fleet({}, { adress: "x" })), "hosts[0].adress", /unknown field/],
    ["bad label", () => validateFleet(fleet({}, { labels: { role: "a b" } })), "hosts[0].labels.role", /not usable/],
    ["bastion without address", () => validateFleet(fleet({ connection: { bastion: { user: "jump" } } })), "connection.bastion.address", /missing/],
  ])("%s", (_name, fn, field, message) => {
    const e = errorOf(fn);
    expect(e.field).toBe(field);
    expect(e.message).toMatch(message);
    expect(e.message).toContain("Fix: ");
  });
});
