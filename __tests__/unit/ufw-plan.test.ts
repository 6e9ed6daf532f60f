import { PolicyOptions, renderPolicyScript, planRules, validateFleet } from "../../lib/core";
import { planUfw, ufwCommand, UfwRule } from "../../lib/plan/ufw";

const policyOf = (options: PolicyOptions = {}) =>
  validateFleet({ hosts: [{ name: "h", address: "192.0.2.1" }], otherFirewall: "manage", ...options }).hosts[0].policy;
const plan = (options: PolicyOptions = {}) => planUfw(policyOf(options));
const commands = (rules: readonly UfwRule[]) => rules.map((r) => ufwCommand(r, "0badc0de"));

describe("ufw rule order (CIS)", () => {
  test("GIVEN the defaults THEN allow in on lo, allow out on lo, deny in from 127.0.0.0/8, deny in from ::1, each tagged", () => {
    expect(commands(plan().rules)).toEqual([
      "ufw allow in on lo comment 'lbp:0badc0de:lo-in'",
      "ufw allow out on lo comment 'lbp:0badc0de:lo-out'",
      "ufw deny in from 127.0.0.0/8 comment 'lbp:0badc0de:spoof'",
      "ufw deny in from ::1 comment 'lbp:0badc0de:spoof'",
    ]);
  });

  test("GIVEN the defaults THEN each family's file gets its rules in order; the anti-spoof rules are one family each", () => {
    const p = plan();
    expect(p.rules.filter((r) => r.ipv4).map((r) => r.id)).toEqual(["lo-in", "lo-out", "spoof"]);
    expect(p.rules.filter((r) => r.ipv6).map((r) => r.id)).toEqual(["lo-in", "lo-out", "spoof"]);
    expect(p.rules[2].ipv6).toBeUndefined();
    expect(p.rules[3].ipv4).toBeUndefined();
    expect(p.rules[0].ipv4).toEqual({ tuple: "allow any any 0.0.0.0/0 any 0.0.0.0/0 in_lo", lines: ["-A ufw-user-input -i lo -j ACCEPT"], live: ["-A ufw-user-input -i lo -j ACCEPT"] });
    expect(p.rules[1].ipv6).toEqual({ tuple: "allow any any ::/0 any ::/0 out_lo", lines: ["-A ufw6-user-output -o lo -j ACCEPT"], live: ["-A ufw6-user-output -o lo -j ACCEPT"] });
    expect(p.rules[2].ipv4).toEqual({ tuple: "deny any any 0.0.0.0/0 any 127.0.0.0/8 in", lines: ["-A ufw-user-input -s 127.0.0.0/8 -j DROP"], live: ["-A ufw-user-input -s 127.0.0.0/8 -j DROP"] });
    // iptables-save spells ::1 as ::1/128; ufw's file as ufw wrote it.
    expect(p.rules[3].ipv6).toEqual({ tuple: "deny any any ::/0 any ::1 in", lines: ["-A ufw6-user-input -s ::1 -j DROP"], live: ["-A ufw6-user-input -s ::1/128 -j DROP"] });
    expect(p.notes).toEqual([]);
  });

  test("GIVEN local-only ports THEN per group: allow on lo first, then deny elsewhere (ufw's first match wins)", () => {
    const p = plan({ localOnlyPorts: ["tcp/8080", "tcp/9000-9100", "udp/53"] });
    expect(commands(p.rules).slice(4)).toEqual([
      "ufw allow in on lo to any port 8080,9000:9100 proto tcp comment 'lbp:0badc0de:local-tcp-1-lo'",
      "ufw deny in to any port 8080,9000:9100 proto tcp comment 'lbp:0badc0de:local-tcp-1'",
      "ufw allow in on lo to any port 53 proto udp comment 'lbp:0badc0de:local-udp-1-lo'",
      "ufw deny in to any port 53 proto udp comment 'lbp:0badc0de:local-udp-1'",
    ]);
    const deny = p.rules.find((r) => r.id === "local-tcp-1")!;
    expect(deny.ipv4!.lines).toEqual(["-A ufw-user-input -p tcp -m multiport --dports 8080,9000:9100 -j DROP"]);
    const udp = p.rules.find((r) => r.id === "local-udp-1-lo")!;
    expect(udp.ipv6).toEqual({ tuple: "allow udp 53 ::/0 any ::/0 in_lo", lines: ["-A ufw6-user-input -i lo -p udp --dport 53 -j ACCEPT"], live: ["-A ufw6-user-input -i lo -p udp -m udp --dport 53 -j ACCEPT"] });
  });

  test("GIVEN more than 15 port slots THEN the groups split as iptables' multiport does", () => {
    const ports = Array.from({ length: 17 }, (_, i) => `tcp/${2000 + i}`);
    const ids = plan({ localOnlyPorts: ports }).rules.map((r) => r.id);
    expect(ids.slice(4)).toEqual(["local-tcp-1-lo", "local-tcp-1", "local-tcp-2-lo", "local-tcp-2"]);
  });

  test("GIVEN reject THEN ufw's reject: tcp-reset for TCP, ICMP port unreachable otherwise", () => {
    const p = plan({ antiSpoofing: "reject", localOnlyAction: "reject", localOnlyPorts: ["tcp/8080", "udp/53"] });
    expect(p.rules[2].ipv4).toMatchObject({ tuple: "reject any any 0.0.0.0/0 any 127.0.0.0/8 in", lines: ["-A ufw-user-input -s 127.0.0.0/8 -j REJECT"], live: ["-A ufw-user-input -s 127.0.0.0/8 -j REJECT --reject-with icmp-port-unreachable"] });
    expect(p.rules[3].ipv6!.live).toEqual(["-A ufw6-user-input -s ::1/128 -j REJECT --reject-with icmp6-port-unreachable"]);
    expect(p.rules.find((r) => r.id === "local-tcp-1")!.ipv4!.lines).toEqual(["-A ufw-user-input -p tcp --dport 8080 -j REJECT --reject-with tcp-reset"]);
    expect(p.rules.find((r) => r.id === "local-udp-1")!.ipv4!.live).toEqual(["-A ufw-user-input -p udp -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable"]);
  });

  test("GIVEN logDrops THEN ufw's own rule logging (log), and a note that its prefix and rate are ufw's", () => {
    const p = plan({ logDrops: { prefix: "fw", perMinute: 2 } });
    expect(commands(p.rules)[2]).toBe("ufw deny in log from 127.0.0.0/8 comment 'lbp:0badc0de:spoof'");
    expect(p.rules[2].ipv4!.tuple).toBe("deny_log any any 0.0.0.0/0 any 127.0.0.0/8 in");
    expect(p.rules[2].ipv4!.lines).toEqual([
      '-A ufw-user-logging-input -s 127.0.0.0/8 -m conntrack --ctstate NEW -m limit --limit 3/min --limit-burst 10 -j LOG --log-prefix "[UFW BLOCK] "',
      "-A ufw-user-logging-input -s 127.0.0.0/8 -j RETURN",
      "-A ufw-user-input -s 127.0.0.0/8 -j ufw-user-logging-input",
      "-A ufw-user-input -s 127.0.0.0/8 -j DROP",
    ]);
    expect(p.rules[2].ipv4!.live).toEqual(["-A ufw-user-input -s 127.0.0.0/8 -j ufw-user-logging-input", "-A ufw-user-input -s 127.0.0.0/8 -j DROP"]);
    expect(p.notes).toEqual([expect.stringMatching(/^log: ufw's own rule logging .*the policy's prefix "fw" and 2\/min cannot be expressed in ufw$/)]);
  });

  test("GIVEN allowEstablished THEN no rule (ufw's before.rules accept it) and a note saying so", () => {
    const p = plan({ allowEstablished: true });
    expect(p.rules.map((r) => r.id)).toEqual(["lo-in", "lo-out", "spoof", "spoof"]);
    expect(p.notes).toEqual([expect.stringMatching(/^established: ufw's before\.rules accept RELATED,ESTABLISHED/)]);
  });

  test("GIVEN IPv6 off THEN IPv4 only, with commands that name the IPv4 any-address (how ufw writes user.rules only)", () => {
    const p = plan({ ipv6: "off", localOnlyPorts: ["tcp/8080"] });
    expect(p.rules.every((r) => r.ipv6 === undefined)).toBe(true);
    expect(commands(p.rules)).toEqual([
      "ufw allow in on lo from 0.0.0.0/0 comment 'lbp:0badc0de:lo-in'",
      "ufw allow out on lo to 0.0.0.0/0 comment 'lbp:0badc0de:lo-out'",
      "ufw deny in from 127.0.0.0/8 comment 'lbp:0badc0de:spoof'",
      "ufw allow in on lo to 0.0.0.0/0 port 8080 proto tcp comment 'lbp:0badc0de:local-tcp-1-lo'",
      "ufw deny in to 0.0.0.0/0 port 8080 proto tcp comment 'lbp:0badc0de:local-tcp-1'",
    ]);
  });

  test("GIVEN anti-spoofing off THEN only the lo rules", () => {
    expect(plan({ antiSpoofing: "off" }).rules.map((r) => r.id)).toEqual(["lo-in", "lo-out"]);
  });

  test("ids are unique within each family (the tag names one rule per file)", () => {
    const p = plan({ localOnlyPorts: ["tcp/1", "udp/2", "tcp/3-4"], logDrops: true });
    for (const f of ["ipv4", "ipv6"] as const) {
      const ids = p.rules.filter((r) => r[f]).map((r) => r.id);
      expect(new Set(ids).size).toBe(ids.length);
    }
  });
});

describe("the policy script", () => {
  test("GIVEN otherFirewall other than manage THEN no ufw rules are rendered", () => {
    for (const otherFirewall of ["fail", "skip", "ignore"] as const) {
      const p = policyOf({ otherFirewall });
      expect(renderPolicyScript(p, planRules(p)).text).not.toContain("lbp_ufw");
    }
  });

  test("GIVEN manage THEN lbp_ufw_rules lists each rule as the ufw command, then one lbp_ufw_rule per family", () => {
    const p = policyOf({ localOnlyPorts: ["tcp/8080"] });
    const text = renderPolicyScript(p, planRules(p)).text;
    const body = text.slice(text.indexOf("lbp_ufw_rules() {"));
    expect(body).toMatchSnapshot();
    expect(body).toContain("  # ufw allow in on lo comment 'lbp:<generation>:lo-in'\n  lbp_ufw_rule ipv4 lo-in 'allow any any 0.0.0.0/0 any 0.0.0.0/0 in_lo' '-A ufw-user-input -i lo -j ACCEPT' -- '-A ufw-user-input -i lo -j ACCEPT'\n  lbp_ufw_rule ipv6 lo-in ");
  });
});
