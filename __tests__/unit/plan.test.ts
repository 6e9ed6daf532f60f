import { LocalPort, planRules, ruleCommand, validateFleet, PolicyOptions, PlannedRule } from "../../lib/core";

const plan = (policy: PolicyOptions = {}) =>
  planRules(validateFleet({ hosts: [{ name: "h", address: "192.0.2.1" }], ...policy }).hosts[0].policy);
const commands = (rules: readonly PlannedRule[]) => rules.map(ruleCommand);

describe("rule order", () => {
  test("GIVEN the defaults THEN lo in, anti-spoof right below it, lo out; IPv6 mirrors IPv4 with ::1", () => {
    const p = plan();
    expect(commands(p.ipv4)).toEqual([
      "iptables -A INPUT -i lo -j ACCEPT",
      "iptables -A INPUT -s 127.0.0.0/8 ! -i lo -j DROP",
      "iptables -A OUTPUT -o lo -j ACCEPT",
    ]);
    expect(commands(p.ipv6)).toEqual([
      "ip6tables -A INPUT -i lo -j ACCEPT",
      "ip6tables -A INPUT -s ::1/128 ! -i lo -j DROP",
      "ip6tables -A OUTPUT -o lo -j ACCEPT",
    ]);
  });

  test("GIVEN every option THEN the INPUT block is lo, spoof (log first), local-only drops (log first), established", () => {
    const p = plan({ logDrops: true, allowEstablished: true, localOnlyPorts: ["tcp/8080", "udp/53"] });
    expect(p.ipv4.filter((r) => r.chain === "INPUT").map((r) => r.id)).toEqual([
      "lo-in", "spoof-log", "spoof", "local-tcp-1-log", "local-tcp-1", "local-udp-1-log", "local-udp-1", "established-in",
    ]);
    expect(p.ipv4.filter((r) => r.chain === "OUTPUT").map((r) => r.id)).toEqual(["lo-out", "established-out"]);
    expect(p.ipv6.map((r) => `${r.chain}/${r.id}`)).toEqual(p.ipv4.map((r) => `${r.chain}/${r.id}`));
  });

  test("GIVEN established without logging THEN the CIS pair stays adjacent: lo ACCEPT immediately followed by the 127.0.0.0/8 DROP", () => {
    const input = plan({ allowEstablished: true, localOnlyPorts: ["tcp/3000"] }).ipv4.filter((r) => r.chain === "INPUT");
    expect(input[0]).toMatchObject({ match: "-i lo", target: "-j ACCEPT" });
    expect(input[1]).toMatchObject({ match: "-s 127.0.0.0/8 ! -i lo", target: "-j DROP" });
  });
});

describe("targets", () => {
  test("GIVEN reject THEN the right --reject-with per family and protocol", () => {
    const p = plan({ antiSpoofing: "reject", localOnlyAction: "reject", localOnlyPorts: ["tcp/8080", "udp/53"] });
    const byId = (rules: readonly PlannedRule[], id: string) => rules.find((r) => r.id === id)!.target;
    expect(byId(p.ipv4, "spoof")).toBe("-j REJECT --reject-with icmp-port-unreachable");
    expect(byId(p.ipv6, "spoof")).toBe("-j REJECT --reject-with icmp6-port-unreachable");
    expect(byId(p.ipv4, "local-tcp-1")).toBe("-j REJECT --reject-with tcp-reset");
    expect(byId(p.ipv6, "local-tcp-1")).toBe("-j REJECT --reject-with tcp-reset");
    expect(byId(p.ipv4, "local-udp-1")).toBe("-j REJECT --reject-with icmp-port-unreachable");
    expect(byId(p.ipv6, "local-udp-1")).toBe("-j REJECT --reject-with icmp6-port-unreachable");
  });

  test("GIVEN anti-spoofing off THEN no spoof rule, lo rules remain", () => {
    expect(plan({ antiSpoofing: "off" }).ipv4.map((r) => r.id)).toEqual(["lo-in", "lo-out"]);
  });

  test("GIVEN ipv6 off THEN no IPv6 rules", () => {
    expect(plan({ ipv6: "off" }).ipv6).toEqual([]);
  });

  test("GIVEN a log prefix THEN each LOG rule is rate-limited and names its rule", () => {
    const log = plan({ logDrops: { prefix: "fw", perMinute: 3 } }).ipv4.find((r) => r.id === "spoof-log")!;
    expect(ruleCommand(log)).toBe('iptables -A INPUT -s 127.0.0.0/8 ! -i lo -m limit --limit 3/min --limit-burst 6 -j LOG --log-prefix "fw spoof: "');
  });
});

describe("local-only ports", () => {
  test("GIVEN more ports than one multiport match takes THEN they are split, a range counting as two", () => {
    const ports = [...Array.from({ length: 14 }, (_, i) => LocalPort.tcp(8000 + i)), LocalPort.tcpRange(9000, 9100), LocalPort.tcp(10000)];
    const drops = plan({ localOnlyPorts: ports }).ipv4.filter((r) => r.id.startsWith("local-tcp"));
    expect(drops.map((r) => r.match)).toEqual([
      `! -i lo -p tcp -m multiport --dports ${Array.from({ length: 14 }, (_, i) => 8000 + i).join(",")}`,
      "! -i lo -p tcp -m multiport --dports 9000:9100,10000",
    ]);
  });

  test("GIVEN the same port twice THEN one rule", () => {
    expect(plan({ localOnlyPorts: ["tcp/8080", LocalPort.tcp(8080)] }).ipv4.filter((r) => r.id.startsWith("local")).map((r) => r.match))
      .toEqual(["! -i lo -p tcp -m multiport --dports 8080"]);
  });
});
