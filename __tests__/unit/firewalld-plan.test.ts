import { hostOutcome } from "../../lib/check/outcome";
import { PolicyOptions, firewalldCommands, planFirewalld, planRules, renderPolicyScript, validateFleet } from "../../lib/core";
import { reviewOfPolicy } from "../support/review";

const policyOf = (policy: PolicyOptions = {}) => validateFleet({ hosts: [{ name: "h", address: "192.0.2.1" }], ...policy }).hosts[0].policy;
const plan = (policy: PolicyOptions = {}) => planFirewalld(policyOf(policy));
const rules = (policy: PolicyOptions = {}) => plan(policy).richRules.map((r) => `${r.id}: ${r.rule}`);

describe("firewalld plan (otherFirewall: manage, firewalld in charge)", () => {
  test("GIVEN the defaults THEN lo goes to the trusted zone and the two loopback source drops are the rich rules", () => {
    expect(plan().loZone).toBe("trusted");
    expect(rules()).toEqual([
      'spoof: rule priority="-32141" family="ipv4" source address="127.0.0.0/8" drop',
      'spoof: rule priority="-32141" family="ipv6" source address="::1" drop',
    ]);
  });

  test("GIVEN reject, logging and local-only ports THEN each port or range is one rule per family, logging with the policy's prefix and rate", () => {
    expect(rules({ antiSpoofing: "reject", localOnlyAction: "reject", logDrops: { prefix: "lbp-x", perMinute: 3 }, localOnlyPorts: ["tcp/8080", "udp/9000-9100"] })).toEqual([
      'spoof: rule priority="-32141" family="ipv4" source address="127.0.0.0/8" log prefix="lbp-x spoof: " level="warning" limit value="3/m" reject',
      'spoof: rule priority="-32141" family="ipv6" source address="::1" log prefix="lbp-x spoof: " level="warning" limit value="3/m" reject',
      'local-tcp-8080: rule priority="-32141" family="ipv4" port port="8080" protocol="tcp" log prefix="lbp-x local-tcp-8080: " level="warning" limit value="3/m" reject',
      'local-tcp-8080: rule priority="-32141" family="ipv6" port port="8080" protocol="tcp" log prefix="lbp-x local-tcp-8080: " level="warning" limit value="3/m" reject',
      'local-udp-9000-9100: rule priority="-32141" family="ipv4" port port="9000-9100" protocol="udp" log prefix="lbp-x local-udp-9000-9100: " level="warning" limit value="3/m" reject',
      'local-udp-9000-9100: rule priority="-32141" family="ipv6" port port="9000-9100" protocol="udp" log prefix="lbp-x local-udp-9000-9100: " level="warning" limit value="3/m" reject',
    ]);
  });

  test("GIVEN IPv6 off or anti-spoofing off THEN those rules are left out", () => {
    expect(rules({ ipv6: "off", localOnlyPorts: ["tcp/5432"] })).toEqual([
      'spoof: rule priority="-32141" family="ipv4" source address="127.0.0.0/8" drop',
      'local-tcp-5432: rule priority="-32141" family="ipv4" port port="5432" protocol="tcp" drop',
    ]);
    expect(rules({ antiSpoofing: "off" })).toEqual([]);
  });

  test("GIVEN allowEstablished THEN a note says firewalld does it itself (no rule)", () => {
    expect(plan({ allowEstablished: true }).notes.join("\n")).toContain("established: firewalld accepts RELATED,ESTABLISHED itself");
    expect(plan().notes.join("\n")).not.toContain("established");
  });

  test("THEN the commands are the ones a person would type, lo first", () => {
    expect(firewalldCommands(plan())).toEqual([
      "firewall-cmd --zone=trusted --add-interface=lo",
      "firewall-cmd --zone=<every zone> --add-rich-rule='rule priority=\"-32141\" family=\"ipv4\" source address=\"127.0.0.0/8\" drop'",
      "firewall-cmd --zone=<every zone> --add-rich-rule='rule priority=\"-32141\" family=\"ipv6\" source address=\"::1\" drop'",
    ]);
  });
});

describe("policy script", () => {
  const script = (policy: PolicyOptions) => { const v = policyOf(policy); return renderPolicyScript(v, planRules(v)).text; };

  test("GIVEN otherFirewall manage THEN lbp_firewalld_rules names lo's zone, then each rich rule after its firewall-cmd command", () => {
    expect(script({ otherFirewall: "manage" })).toContain([
      "lbp_firewalld_rules() {",
      "  # firewall-cmd --zone=trusted --add-interface=lo",
      "  lbp_firewalld_lo 'trusted'",
      "  # firewall-cmd --zone=<every zone> --add-rich-rule='rule priority=\"-32141\" family=\"ipv4\" source address=\"127.0.0.0/8\" drop'",
      "  lbp_firewalld_rule ipv4 spoof 'rule priority=\"-32141\" family=\"ipv4\" source address=\"127.0.0.0/8\" drop'",
    ].join("\n"));
  });

  test.each(["fail", "skip", "ignore"] as const)("GIVEN otherFirewall %s THEN no firewalld part is rendered (keys stay what they were)", (otherFirewall) => {
    expect(script({ otherFirewall })).not.toContain("lbp_firewalld");
  });
});

describe("review and check", () => {
  const review = reviewOfPolicy;

  test("GIVEN a manage policy THEN review shows its firewall-cmd commands when firewalld is in charge (text, markdown, json)", () => {
    const text = review({ otherFirewall: "manage" }, "text");
    expect(text).toContain("  when firewalld is in charge (otherFirewall: manage), runtime first, the same with --permanent at confirm:\n    firewall-cmd --zone=trusted --add-interface=lo\n");
    expect(review({ otherFirewall: "manage" }, "markdown")).toContain("# when firewalld is in charge (otherFirewall: manage), runtime first, the same with --permanent at confirm\nfirewall-cmd --zone=trusted --add-interface=lo\n");
    const groups = JSON.parse(review({ otherFirewall: "manage" }, "json")).stacks[0].constructs[0].groups;
    expect(groups[0].firewalldRules[0]).toBe("firewall-cmd --zone=trusted --add-interface=lo");
    expect(JSON.parse(review({}, "json")).stacks[0].constructs[0].groups[0].firewalldRules).toBeUndefined();
    expect(review({}, "text")).not.toContain("firewall-cmd");
  });

  const run = (exitCode: number, stdout: string) =>
    hostOutcome("h", { exitCode, stdout: "loopback-policy[h] host: firewalld is running (firewall-cmd --state); managing loopback through firewalld (otherFirewall: manage)\n" + stdout, stderr: "", timedOut: false, timeoutSeconds: 120 });

  test("GIVEN a host run by firewalld THEN check says through which, and reads its drift", () => {
    expect(run(0, "loopback-policy[h] result: compliant\n")).toMatchObject({ status: "compliant", message: "through firewalld (otherFirewall: manage)" });
    expect(run(3, "loopback-policy[h] firewalld: drifted: converging would do: runtime: added 1 rich rules in 1 zones\nloopback-policy[h] result: drifted\n"))
      .toMatchObject({ status: "drifted", drift: [{ family: "firewalld", changes: "runtime: added 1 rich rules in 1 zones" }] });
  });

  // Regression: a drift other than "converging would do" (live but not persisted) was read as a failed check.
  test.each([
    ["firewalld", "firewalld: drifted: the runtime is in place but not persisted: the permanent configuration would need added 1 rich rules in 1 zones (a reload or reboot would lose it); deploy again"],
    ["ipv4", 'ipv4: drifted: the live rules are in place but not persisted: /etc/iptables/rules.v4 lacks "-A INPUT -i lo" (a reboot would lose them); deploy again'],
  ])("GIVEN %s live but not persisted THEN check reads it as drifted, not failed", (family, line) => {
    const o = run(3, `loopback-policy[h] ${line}\nloopback-policy[h] result: drifted\n`);
    expect(o.status).toBe("drifted");
    expect(o.drift).toEqual([{ family, changes: line.slice(line.indexOf("drifted: ") + 9) }]);
  });
});
