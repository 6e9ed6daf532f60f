import { spawnSync } from "child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "fs";
import { join } from "path";
import { chain, netnsHosts, tagged } from "../support/netns";
import { SEED_000 } from "../support/trust-state";

jest.setTimeout(120_000);



/** A fresh namespace host per call, all destroyed after each test. */
const host = netnsHosts();

describe("seed 000: DROP policies with only SSH allowed", () => {
  test("GIVEN a host whose loopback is blocked WHEN the script runs THEN loopback works over IPv4 and IPv6, verified by counters, in CIS order", () => {
    const h = host("seed0");
    h.sh(SEED_000);
    expect(h.loopbackWorks("127.0.0.1")).toBe(false);
    expect(h.loopbackWorks("::1")).toBe(false);

    const r = h.run("apply");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/ipv4: added INPUT\/lo-in, INPUT\/spoof, OUTPUT\/lo-out/);
    expect(r.stdout).toMatch(/ipv4: verified: tcp 127.0.0.1 ok; counters lo-in 0 -> [1-9]\d*, lo-out 0 -> [1-9]/);
    expect(r.stdout).toMatch(/ipv6: verified: tcp ::1 ok/);
    expect(r.stdout).toMatch(/result: changed; rollback armed/);
    expect(h.loopbackWorks("127.0.0.1")).toBe(true);
    expect(h.loopbackWorks("::1")).toBe(true);

    // The CIS audit: in `iptables -L INPUT -v -n` the lo ACCEPT is immediately followed by the 127.0.0.0/8 DROP.
    for (const [tool, net] of [["iptables", "127.0.0.0/8"], ["ip6tables", "::1"]]) {
      const rows = h.sh(`${tool} -L INPUT -v -n`).split("\n").slice(2).filter(Boolean).map((l) => l.trim().split(/\s+/));
      expect(rows[0][2]).toBe("ACCEPT");
      expect(rows[0].slice(3)).toEqual(expect.arrayContaining(["lo", "*"]));
      expect(rows[1][2]).toBe("DROP");
      expect(rows[1]).toEqual(expect.arrayContaining([net, "!lo"]));
    }
    const out = h.sh("iptables -L OUTPUT -v -n").split("\n")[2].trim().split(/\s+/);
    expect(out[2]).toBe("ACCEPT");
    expect(out.slice(3)).toEqual(expect.arrayContaining(["*", "lo"]));
  });

  test("GIVEN a converged host WHEN the script runs again THEN nothing changes and it says so", () => {
    const h = host("twice");
    h.sh(SEED_000);
    expect(h.run("apply").status).toBe(0);
    const before = [...h.save("ipv4"), ...h.save("ipv6")];
    const r = h.run("apply");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/ipv4: unchanged \(3 managed rules in place, in order\)/);
    expect(r.stdout).toMatch(/ipv6: unchanged \(3 managed rules in place, in order\)/);
    expect(r.stdout).toMatch(/result: unchanged/);
    expect([...h.save("ipv4"), ...h.save("ipv6")]).toEqual(before);
  });
});

describe("converging, never duplicating", () => {
  test("GIVEN an old untagged lo rule below a broad DROP THEN it is replaced by one managed rule at the top (moved, not duplicated)", () => {
    const h = host("below");
    h.sh("iptables -P INPUT DROP && iptables -A INPUT -p tcp --dport 22 -j ACCEPT && iptables -A INPUT -j DROP && iptables -A INPUT -i lo -j ACCEPT && iptables -A OUTPUT -o lo -j ACCEPT");
    const r = h.run("apply", { ipv6: "off" });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('replaced untagged "-A INPUT -i lo -j ACCEPT" in INPUT, untagged "-A OUTPUT -o lo -j ACCEPT" in OUTPUT');
    const input = chain(h.save("ipv4"), "INPUT");
    expect(input).toEqual([
      '-A INPUT -i lo -m comment --comment "lbp:0badc0de:lo-in" -j ACCEPT',
      '-A INPUT -s 127.0.0.0/8 ! -i lo -m comment --comment "lbp:0badc0de:spoof" -j DROP',
      "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
      "-A INPUT -j DROP",
    ]);
    expect(chain(h.save("ipv4"), "OUTPUT")).toEqual(['-A OUTPUT -o lo -m comment --comment "lbp:0badc0de:lo-out" -j ACCEPT']);
  });

  test("GIVEN foreign chains and rules (Docker, fail2ban, nat) THEN they survive byte for byte, counters included", () => {
    const h = host("foreign");
    h.sh([
      "iptables -N DOCKER-USER", "iptables -A DOCKER-USER -j RETURN", "iptables -A FORWARD -j DOCKER-USER",
      "iptables -N f2b-sshd", "iptables -A f2b-sshd -s 203.0.113.9/32 -j REJECT --reject-with icmp-port-unreachable", "iptables -A f2b-sshd -j RETURN",
      "iptables -I INPUT 1 -p tcp -m multiport --dports 22 -j f2b-sshd",
      "iptables -A INPUT -s 10.0.0.0/8 -j DROP",
      "iptables -t nat -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
      "ip6tables -N f2b-sshd", "ip6tables -A f2b-sshd -j RETURN", "ip6tables -A INPUT -j f2b-sshd",
    ].join(" && "));
    const all = (tool: string) => h.sh(`${tool}-save -c`).split("\n").filter((l) => l && !l.startsWith("#") && !l.includes('"lbp:')).map((l) => l.replace(/^(:\S+ \S+) \[\d+:\d+\]$/, "$1"));
    const before4 = all("iptables");
    const before6 = all("ip6tables");
    expect(h.run("apply").status).toBe(0);
    expect(h.run("confirm").status).toBe(0);
    expect(all("iptables")).toEqual(before4);
    expect(all("ip6tables")).toEqual(before6);
    expect(tagged(chain(h.save("ipv4"), "INPUT"))).toHaveLength(2);
  });

  test("GIVEN a foreign rule inserted above the managed block THEN the managed rules move back to the top and the foreign rule stays", () => {
    const h = host("misplaced");
    expect(h.run("apply", { ipv6: "off" }).status).toBe(0);
    h.sh("iptables -I INPUT 1 -s 198.51.100.0/24 -j DROP");
    const r = h.run("apply", { ipv6: "off" });
    expect(r.stdout).toContain("ipv4: moved INPUT/lo-in, INPUT/spoof");
    const input = chain(h.save("ipv4"), "INPUT");
    expect(input.map((l) => l.replace(/ -m comment.*-j/, " -j"))).toEqual([
      "-A INPUT -i lo -j ACCEPT",
      "-A INPUT -s 127.0.0.0/8 ! -i lo -j DROP",
      "-A INPUT -s 198.51.100.0/24 -j DROP",
    ]);
  });

  test("GIVEN the machine has /etc/iptables WHEN a test host persists with persistence auto THEN it writes its own rules.v4, never the machine's", () => {
    // A netns run once left the machine's /etc/iptables/rules.v4 holding a test host's rules (the lab had made the
    // mount point, and test hosts had no /etc/iptables of their own).
    const made = !existsSync("/etc/iptables");
    if (made) mkdirSync("/etc/iptables");
    const machine = (f: string) => (existsSync(join("/etc/iptables", f)) ? readFileSync(join("/etc/iptables", f), "utf8") : "<none>");
    try {
      const before = [machine("rules.v4"), machine("rules.v6")];
      const h = host("own-etc");
      expect(h.run("apply").status).toBe(0);
      const c = h.run("confirm");
      expect(c.status).toBe(0);
      expect(c.stdout).toContain("persisted");
      expect([machine("rules.v4"), machine("rules.v6")]).toEqual(before);
      expect(readFileSync(join("/etc/netns", h.ns, "iptables", "rules.v4"), "utf8")).toContain("lbp:0badc0de:lo-in");
    } finally {
      if (made) rmSync("/etc/iptables", { recursive: true, force: true });
    }
  });

  test("GIVEN managed rules of an older policy THEN they are removed and the new ones added, one of each", () => {
    const h = host("stale");
    const old = { localOnlyPorts: ["tcp/8080"], logDrops: true };
    expect(h.run("apply", old, { generation: "aaaaaaaa" }).status).toBe(0);
    expect(h.run("confirm", old, { generation: "aaaaaaaa" }).status).toBe(0);
    expect(tagged(h.save("ipv4")).length).toBe(6);
    const r = h.run("apply", { allowEstablished: true }, { generation: "bbbbbbbb" });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/removed INPUT\/lo-in, INPUT\/spoof-log, INPUT\/spoof, INPUT\/local-tcp-1-log, INPUT\/local-tcp-1, OUTPUT\/lo-out/);
    for (const fam of ["ipv4", "ipv6"] as const) {
      const s = h.save(fam);
      expect(s.some((l) => l.includes("aaaaaaaa"))).toBe(false);
      expect(tagged(chain(s, "INPUT")).map((l) => l.match(/lbp:bbbbbbbb:([\w-]+)/)![1])).toEqual(["lo-in", "spoof", "established-in"]);
      expect(tagged(chain(s, "OUTPUT")).map((l) => l.match(/lbp:bbbbbbbb:([\w-]+)/)![1])).toEqual(["lo-out", "established-out"]);
    }
  });

  test("GIVEN a managed rule duplicated by hand THEN one copy remains", () => {
    const h = host("dup");
    expect(h.run("apply", { ipv6: "off" }).status).toBe(0);
    h.sh('iptables -A INPUT -i lo -m comment --comment "lbp:0badc0de:lo-in" -j ACCEPT');
    expect(h.run("apply", { ipv6: "off" }).status).toBe(0);
    expect(tagged(chain(h.save("ipv4"), "INPUT"))).toHaveLength(2);
  });
});

describe("verify before persisting", () => {
  test("GIVEN something else drops loopback (raw table) THEN verification fails, the old rules are restored, nothing is persisted", () => {
    const h = host("verifyfail");
    h.sh("iptables -t raw -A OUTPUT -o lo -p tcp -j DROP && iptables -A INPUT -j ACCEPT");
    const before = h.save("ipv4");
    const v4 = join(h.dir, "rules.v4");
    const r = h.run("apply", { ipv6: "off", persistence: { v4Path: v4 } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ipv4: verification failed: a TCP connection over 127.0.0.1 failed.*The previous rules were restored; nothing was persisted/);
    expect(h.save("ipv4")).toEqual(before);
    expect(existsSync(v4)).toBe(false);
  });

  test("GIVEN confirm THEN the persisted files hold the live ruleset (ignoring counters), and a second confirm leaves them alone", () => {
    const h = host("persist");
    h.sh(SEED_000);
    const policy = { persistence: { v4Path: join(h.dir, "etc/rules.v4"), v6Path: join(h.dir, "etc/rules.v6") } };
    expect(h.run("apply", policy).status).toBe(0);
    const c = h.run("confirm", policy);
    expect(c.status).toBe(0);
    expect(c.stdout).toMatch(/confirmed over a new SSH connection; rollback disarmed/);
    expect(c.stdout).toMatch(/ipv4: persisted \(files\): wrote .*etc\/rules.v4/);
    const norm = (t: string) => t.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.replace(/ \[\d+:\d+\]$/, "").replace(/^\[\d+:\d+\] /, ""));
    expect(norm(readFileSync(policy.persistence.v4Path, "utf8"))).toEqual(norm(h.sh("iptables-save")));
    expect(norm(readFileSync(policy.persistence.v6Path, "utf8"))).toEqual(norm(h.sh("ip6tables-save")));
    expect(h.run("confirm", policy).stdout).toMatch(/ipv4: persisted \(files\): .* already matches the live rules/);
  });
});

describe("the rollback guard", () => {
  test("GIVEN an applied change that no new connection confirms THEN the host restores its previous rules, and confirm reports the rollback", async () => {
    const h = host("rollback");
    h.sh("iptables -A INPUT -s 192.0.2.0/24 -j ACCEPT");
    const before = h.save("ipv4");
    const policy = { rollbackSeconds: 2, ipv6: "off" as const, persistence: "none" as const };
    expect(h.run("apply", policy).status).toBe(0);
    expect(tagged(h.save("ipv4"))).toHaveLength(3);
    await new Promise((r) => setTimeout(r, 4000));
    expect(h.save("ipv4")).toEqual(before);
    const c = h.run("confirm", policy);
    expect(c.status).toBe(1);
    expect(c.stderr).toMatch(/the change was rolled back on the host \(rolled back at .*: no new SSH connection confirmed generation 0badc0de within 2s\)/);
  });
});

describe("knowing the host", () => {
  test("GIVEN IPv6 disabled by sysctl THEN auto skips it and says why; required fails and changes nothing", () => {
    const h = host("noipv6");
    h.sh("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 && sysctl -qw net.ipv6.conf.lo.disable_ipv6=1");
    const auto = h.run("apply");
    expect(auto.status).toBe(0);
    expect(auto.stdout).toContain("ipv6: skipped: IPv6 is disabled (net.ipv6.conf.all.disable_ipv6=1)");
    const h2 = host("noipv6req");
    h2.sh("sysctl -qw net.ipv6.conf.all.disable_ipv6=1");
    const req = h2.run("apply", { ipv6: "required" });
    expect(req.status).toBe(1);
    expect(req.stderr).toContain("ipv6 is required by the policy but IPv6 is disabled (net.ipv6.conf.all.disable_ipv6=1)");
    expect(tagged(h2.save("ipv4"))).toHaveLength(0);
  });

  test("GIVEN a native nftables ruleset THEN fail names it and the option, skip changes nothing, ignore applies", () => {
    if (spawnSync("sh", ["-c", "command -v nft"]).status !== 0) throw new Error("nft is missing: apt-get install nftables (.ci/run installs it)");
    const h = host("nft");
    h.sh("nft add table inet myfirewall");
    const fail = h.run("apply", { ipv6: "off" });
    expect(fail.status).toBe(1);
    expect(fail.stderr).toMatch(/a native nftables ruleset is loaded \(table inet myfirewall\).*otherFirewall: "skip"/);
    const skip = h.run("apply", { ipv6: "off", otherFirewall: "skip" });
    expect(skip.status).toBe(0);
    expect(skip.stdout).toMatch(/skipped: .*nothing was changed/);
    expect(tagged(h.save("ipv4"))).toHaveLength(0);
    expect(h.run("apply", { ipv6: "off", otherFirewall: "ignore" }).status).toBe(0);
    expect(tagged(h.save("ipv4"))).toHaveLength(3);
  });

  test("GIVEN the legacy iptables backend THEN the same script converges it", () => {
    const h = host("legacy");
    const shim = h.legacyBin();
    h.sh(`PATH=${shim}:$PATH; ${SEED_000}`);
    const r = h.run("apply", {}, { env: { PATH: `${shim}:${process.env.PATH}` } });
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("(legacy)");
    expect(h.try(`PATH=${shim}:$PATH iptables -S INPUT`).stdout).toContain("lbp:0badc0de:lo-in");
    expect(h.loopbackWorks("127.0.0.1")).toBe(true);
    expect(h.run("apply", {}, { env: { PATH: `${shim}:${process.env.PATH}` } }).stdout).toContain("result: unchanged");
    h.sh(`PATH=${shim}:$PATH; iptables-legacy -F; iptables-legacy -P INPUT ACCEPT; iptables-legacy -P OUTPUT ACCEPT; ip6tables-legacy -F; ip6tables-legacy -P INPUT ACCEPT; ip6tables-legacy -P OUTPUT ACCEPT`);
  });
});

describe("check and remove", () => {
  test("GIVEN drift behind our back THEN check reports it with exit 3 and changes nothing", () => {
    const h = host("check");
    // Persistence none: check also reports live rules that are not persisted (another test holds that).
    expect(h.run("apply", { ipv6: "off", persistence: "none" }).status).toBe(0);
    expect(h.run("check", { ipv6: "off", persistence: "none" }).stdout).toContain("result: compliant");
    h.sh('iptables -D INPUT -s 127.0.0.0/8 ! -i lo -m comment --comment "lbp:0badc0de:spoof" -j DROP');
    const before = h.save("ipv4");
    const r = h.run("check", { ipv6: "off" });
    expect(r.status).toBe(3);
    expect(r.stdout).toContain("ipv4: drifted: converging would do: added INPUT/spoof");
    expect(h.save("ipv4")).toEqual(before);
  });

  test("GIVEN remove THEN exactly this generation's managed rules go, others stay, and the ruleset is persisted", () => {
    const h = host("remove");
    h.sh("iptables -A INPUT -p tcp --dport 22 -j ACCEPT && iptables -A INPUT -i lo -m comment --comment \"lbp:ffffffff:lo-in\" -j ACCEPT");
    const policy = { persistence: { v4Path: join(h.dir, "v4"), v6Path: join(h.dir, "v6") } };
    expect(h.run("apply", policy).status).toBe(0);
    h.sh("iptables -A INPUT -i lo -m comment --comment \"lbp:ffffffff:lo-in\" -j ACCEPT");
    const r = h.run("remove", policy);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("ipv4: removed 3 managed rules of generation 0badc0de");
    expect(chain(h.save("ipv4"), "INPUT")).toEqual(["-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT", '-A INPUT -i lo -m comment --comment "lbp:ffffffff:lo-in" -j ACCEPT']);
    expect(readFileSync(policy.persistence.v4Path, "utf8")).not.toContain("0badc0de");
  });
});

describe("a replacement with the same generation (terraform apply -replace)", () => {
  test("GIVEN instance B applied after instance A THEN A's destroy-time remove leaves B's rules; B's remove takes them", () => {
    const h = host("replace");
    const policy = { ipv6: "off" as const, persistence: "none" as const };
    expect(h.run("apply", policy, { instance: "instance-a" }).status).toBe(0);
    expect(h.run("confirm", policy, { instance: "instance-a" }).status).toBe(0);
    expect(h.run("apply", policy, { instance: "instance-b" }).stdout).toContain("ipv4: unchanged");
    const old = h.run("remove", policy, { instance: "instance-a" });
    expect(old.status).toBe(0);
    expect(old.stdout).toContain("left in place: the rules of generation 0badc0de now belong to instance instance-b, which replaced this one (instance-a)");
    expect(tagged(h.save("ipv4"))).toHaveLength(3);
    const own = h.run("remove", policy, { instance: "instance-b" });
    expect(own.stderr).toBe("");
    expect(own.stdout).toContain("ipv4: removed 3 managed rules of generation 0badc0de");
    expect(tagged(h.save("ipv4"))).toHaveLength(0);
  });
});
