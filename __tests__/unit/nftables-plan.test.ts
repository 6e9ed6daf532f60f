import { hostOutcome } from "../../lib/check/outcome";
import { NftStatement, PolicyOptions, nftCommand, nftCommands, planNftables, planRules, renderPolicyScript, validateFleet } from "../../lib/core";
import { reviewOfPolicy } from "../support/review";

const policyOf = (policy: PolicyOptions = {}) => validateFleet({ hosts: [{ name: "h", address: "192.0.2.1" }], ...policy }).hosts[0].policy;
const plan = (policy: PolicyOptions = {}) => planNftables(policyOf(policy));
const at = (statements: readonly NftStatement[], place: string, hook: string) =>
  statements.filter((s) => s.place === place && s.hook === hook).map((s) => `${s.id}: ${s.rule}`);

describe("nftables plan (otherFirewall: manage, native nftables in charge)", () => {
  test("GIVEN the defaults THEN our table's input is the counted lo accept, then both saddr drops (the CIS pair); output the counted lo accept", () => {
    const p = plan();
    expect(p.table).toBe("inet loopback_policy");
    expect(p.priority).toBe(-10);
    expect(at(p.statements, "table", "input")).toEqual([
      'lo-in: iif "lo" counter accept',
      "spoof-ipv4: ip saddr 127.0.0.0/8 counter drop",
      "spoof-ipv6: ip6 saddr ::1 counter drop",
    ]);
    expect(at(p.statements, "table", "output")).toEqual(['lo-out: oif "lo" counter accept']);
  });

  test("GIVEN the defaults THEN every other filtering base chain gets only the lo accept of its hook (an accept ends only its own chain)", () => {
    const p = plan();
    expect(at(p.statements, "every", "input")).toEqual(['lo-in: iif "lo" accept']);
    expect(at(p.statements, "every", "output")).toEqual(['lo-out: oif "lo" accept']);
  });

  test("GIVEN every option THEN logs precede their drops, ports are one set per protocol, established comes last and also goes to every chain", () => {
    const p = plan({ logDrops: { prefix: "lbp-x", perMinute: 3 }, allowEstablished: true, localOnlyPorts: ["tcp/8080", "tcp/9000-9100", "udp/53"] });
    expect(at(p.statements, "table", "input")).toEqual([
      'lo-in: iif "lo" counter accept',
      'spoof-ipv4-log: ip saddr 127.0.0.0/8 limit rate 3/minute burst 6 packets log prefix "lbp-x spoof-ipv4: "',
      "spoof-ipv4: ip saddr 127.0.0.0/8 counter drop",
      'spoof-ipv6-log: ip6 saddr ::1 limit rate 3/minute burst 6 packets log prefix "lbp-x spoof-ipv6: "',
      "spoof-ipv6: ip6 saddr ::1 counter drop",
      'local-tcp-log: tcp dport { 8080, 9000-9100 } limit rate 3/minute burst 6 packets log prefix "lbp-x local-tcp: "',
      "local-tcp: tcp dport { 8080, 9000-9100 } counter drop",
      'local-udp-log: udp dport 53 limit rate 3/minute burst 6 packets log prefix "lbp-x local-udp: "',
      "local-udp: udp dport 53 counter drop",
      "established-in: ct state established,related accept",
    ]);
    expect(at(p.statements, "table", "output")).toEqual(['lo-out: oif "lo" counter accept', "established-out: ct state established,related accept"]);
    expect(at(p.statements, "every", "input")).toEqual(['lo-in: iif "lo" accept', "established-in: ct state established,related accept"]);
    expect(at(p.statements, "every", "output")).toEqual(['lo-out: oif "lo" accept', "established-out: ct state established,related accept"]);
  });

  test("GIVEN reject THEN spoofed packets get ICMP port unreachable per family, TCP ports a reset, UDP ports icmpx", () => {
    const p = plan({ antiSpoofing: "reject", localOnlyAction: "reject", localOnlyPorts: ["tcp/8080", "udp/5353"] });
    expect(p.statements.filter((s) => s.place === "table" && /reject/.test(s.rule)).map((s) => s.rule)).toEqual([
      "ip saddr 127.0.0.0/8 counter reject with icmp port-unreachable",
      "ip6 saddr ::1 counter reject with icmpv6 port-unreachable",
      "tcp dport 8080 counter reject with tcp reset",
      "udp dport 5353 counter reject with icmpx port-unreachable",
    ]);
  });

  test("GIVEN IPv6 off THEN no ip6 rule; GIVEN anti-spoofing off THEN no saddr rule", () => {
    expect(plan({ ipv6: "off" }).statements.map((s) => s.rule).filter((r) => r.includes("ip6"))).toEqual([]);
    expect(plan({ antiSpoofing: "off" }).statements.map((s) => s.id)).toEqual(["lo-in", "lo-out", "lo-in", "lo-out"]);
  });

  test("GIVEN any policy THEN ids are unique per place and hook and fit the tag grammar the engine reads", () => {
    const p = plan({ logDrops: true, allowEstablished: true, localOnlyPorts: ["tcp/1", "udp/2"] });
    const keys = p.statements.map((s) => `${s.place}/${s.hook}/${s.id}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const s of p.statements) expect(s.id).toMatch(/^[a-z0-9-]+$/);
    for (const s of p.statements) expect(s.rule).not.toMatch(/comment|'/);
  });

  test("THEN the commands read as what a person would type", () => {
    const p = plan({ localOnlyPorts: ["tcp/8080"] });
    expect(nftCommand(p.statements[0])).toBe('nft add rule inet loopback_policy input iif "lo" counter accept');
    expect(nftCommands(p)).toMatchSnapshot();
  });
});

describe("policy script", () => {
  const script = (policy: PolicyOptions) => { const v = policyOf(policy); return renderPolicyScript(v, planRules(v)).text; };

  test("GIVEN otherFirewall manage THEN lbp_nft_rules follows lbp_rules, each call after its nft command", () => {
    const text = script({ otherFirewall: "manage" });
    expect(text).toContain([
      "lbp_nft_rules() {",
      '  # nft add rule inet loopback_policy input iif "lo" counter accept',
      "  lbp_nft_rule table input lo-in 'iif \"lo\" counter accept'",
    ].join("\n"));
    expect(text).toContain("  lbp_nft_rule every output lo-out 'oif \"lo\" accept'\n  :\n}");
    expect(text.indexOf("lbp_rules() {")).toBeLessThan(text.indexOf("lbp_nft_rules() {"));
  });

  test.each(["fail", "skip", "ignore"] as const)("GIVEN otherFirewall %s THEN no nft part is rendered", (otherFirewall) => {
    expect(script({ otherFirewall })).not.toContain("nft");
  });
});

describe("review and check", () => {
  const review = reviewOfPolicy;

  test("GIVEN a manage policy THEN review shows its nft rules when nftables is in charge (text, markdown, json)", () => {
    const text = review({ otherFirewall: "manage" }, "text");
    expect(text).toContain("  when nftables is in charge (otherFirewall: manage):\n    nft add table inet loopback_policy\n");
    expect(text).toContain('    nft add rule inet loopback_policy input ip saddr 127.0.0.0/8 counter drop\n');
    expect(review({ otherFirewall: "manage" }, "markdown")).toContain("# when nftables is in charge (otherFirewall: manage)\nnft add table inet loopback_policy\n");
    const groups = JSON.parse(review({ otherFirewall: "manage" }, "json")).stacks[0].constructs[0].groups;
    expect(groups[0].nftRules[0]).toBe("nft add table inet loopback_policy");
  });

  test("GIVEN no manage policy THEN review has no nft part", () => {
    expect(review({}, "text")).not.toContain("nft");
    expect(JSON.parse(review({}, "json")).stacks[0].constructs[0].groups[0].nftRules).toBeUndefined();
  });

  test("GIVEN a host run by native nftables THEN check says so, and reads its drift", () => {
    const head = "loopback-policy[h] host: native nftables in charge (nftables v1.0.6); policy abc; generation 0badc0de\n";
    const run = (exitCode: number, stdout: string) => hostOutcome("h", { exitCode, stdout: head + stdout, stderr: "", timedOut: false, timeoutSeconds: 120 });
    expect(run(0, "loopback-policy[h] result: compliant\n")).toMatchObject({ status: "compliant", message: "run by native nftables (otherFirewall: manage)" });
    expect(run(3, "loopback-policy[h] nftables: drifted: converging would do: ip extra in: added lo-in\nloopback-policy[h] result: drifted\n"))
      .toMatchObject({ status: "drifted", drift: [{ family: "nftables", changes: "ip extra in: added lo-in" }] });
  });
});
