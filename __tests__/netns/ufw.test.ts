import { execFileSync, spawnSync } from "child_process";
import { NetnsHost, netnsHosts } from "../support/netns";
import { outsideOf, reachable, spoofReceived } from "../support/netns-traffic";
import { PolicyOptions, validateFleet } from "../../lib/core";
import { planUfw, ufwCommand } from "../../lib/plan/ufw";
import { assertOwnEtc, stageUfw } from "../support/etc-staging";

/**
 * otherFirewall: "manage" with ufw in charge: the real ufw 0.36 in network namespaces. Each host gets its own /etc/ufw
 * (ip netns exec bind-mounts /etc/netns/<ns>/ufw over /etc/ufw); ufw keeps nothing else per host outside /etc/ufw
 * (/lib/ufw holds only its init scripts; /run/ufw.lock is a lock all namespaces share, which only serialises ufw
 * commands). ufw is enabled with its default deny incoming.
 */
const host = netnsHosts();

/** A second namespace joined to h by a veth pair (see outsideOf). */
const outside = (h: NetnsHost) => outsideOf(h, host("out"));

if (spawnSync("sh", ["-c", "command -v ufw"]).status !== 0) throw new Error("ufw is missing: apt-get install ufw (.ci/run installs it)");

const MANAGE: PolicyOptions = { otherFirewall: "manage", localOnlyPorts: ["tcp/8080"], rollbackSeconds: 30 };

/** A host with its own ufw, enabled (default deny incoming), with an admin's own rules. */
function ufwHost(label: string, adminRules = ["allow 22/tcp", "deny 23/tcp"]): NetnsHost {
  const h = host(label);
  stageUfw(h.ns);
  assertOwnEtc(h.ns, "ufw");
  h.sh("ufw --force enable >/dev/null");
  for (const r of adminRules) h.sh(`ufw ${r} >/dev/null`);
  return h;
}

/** The host's ufw file (user.rules / user6.rules), as the host sees it. */
const userRules = (h: NetnsHost, v6 = false) => h.sh(`cat /etc/ufw/user${v6 ? "6" : ""}.rules`);
/** The tuples of a ufw rules file, in order. */
const tuples = (text: string) => text.split("\n").filter((l) => l.startsWith("### tuple ### ")).map((l) => l.slice(14));
/** The comment of a tuple, decoded (ufw stores it in hex). */
const commentOf = (tuple: string) => (tuple.match(/ comment=([0-9a-f]+)$/) ? Buffer.from(tuple.match(/ comment=([0-9a-f]+)$/)![1], "hex").toString() : "");
/** The ids of our tags in a ufw file, in order. */
const ourIds = (text: string, gen = "0badc0de") => tuples(text).map(commentOf).filter((c) => c.startsWith(`lbp:${gen}:`)).map((c) => c.split(":")[2]);
/** The rules of a ufw file that are not ours, in order. */
const foreign = (text: string) => tuples(text).filter((t) => !commentOf(t).startsWith("lbp:0badc0de:"));
/** ufw's user input chain in the kernel. */
const liveInput = (h: NetnsHost, v6 = false) => h.save(v6 ? "ipv6" : "ipv4").filter((l) => l.startsWith(`-A ufw${v6 ? "6" : ""}-user-input `));

/** Packets counted by the live anti-spoof drop. */
const spoofCount = (h: NetnsHost) => {
  const line = h.sh("iptables-save -c -t filter").split("\n").find((l) => l.endsWith("-A ufw-user-input -s 127.0.0.0/8 -j DROP"));
  return line ? Number(line.match(/^\[(\d+):/)![1]) : -1;
};

/** apply, then confirm over a "new connection", as the two provisioner blocks do. */
function deploy(h: NetnsHost, policy: PolicyOptions = MANAGE, generation?: string) {
  const a = h.run("apply", policy, { generation });
  const c = h.run("confirm", policy, { generation });
  return { a, c };
}

describe("the plan is what ufw itself writes", () => {
  test("GIVEN each planned command typed into a fresh ufw THEN its tuple and lines are the plan's, in both files", () => {
    const h = ufwHost("fidelity", []);
    const policy = validateFleet({ hosts: [{ name: "x", address: "192.0.2.1" }], otherFirewall: "manage", localOnlyPorts: ["tcp/8080", "tcp/9000-9100", "udp/5353"], logDrops: true, localOnlyAction: "reject" }).hosts[0].policy;
    const plan = planUfw(policy);
    for (const rule of plan.rules) {
      const before4 = tuples(userRules(h)).length, before6 = tuples(userRules(h, true)).length;
      h.sh(ufwCommand(rule, "0badc0de").replace(/^ufw /, "ufw "));
      for (const [f, v6] of [["ipv4", false], ["ipv6", true]] as const) {
        const text = userRules(h, v6);
        const r = rule[f];
        if (!r) {
          expect(tuples(text).length).toBe(v6 ? before6 : before4);
          continue;
        }
        const hex = Buffer.from(`lbp:0badc0de:${rule.id}`).toString("hex");
        expect(text).toContain(`\n### tuple ### ${r.tuple} comment=${hex}\n${r.lines.join("\n")}\n\n`);
      }
    }
    // And what the kernel holds, in iptables-save's spelling, is the plan's live lines in order.
    for (const [f, v6] of [["ipv4", false], ["ipv6", true]] as const) {
      const want = plan.rules.flatMap((r) => r[f]?.live ?? []).filter((l) => l.includes("-user-input "));
      expect(liveInput(h, v6)).toEqual(want);
    }
  });
});

describe("GIVEN ufw active with its default deny incoming and an admin's own rules", () => {
  test("THEN apply + confirm put ours at the top in CIS order, loopback works, the CIS audit passes, and a re-run changes nothing", () => {
    const h = ufwHost("apply");
    const foreignBefore = [foreign(userRules(h)), foreign(userRules(h, true))];
    const { a, c } = deploy(h);
    expect(a.stderr).toBe("");
    expect(a.status).toBe(0);
    expect(a.stdout).toContain("host: ufw is active (ufw status); managing loopback through ufw (otherFirewall: manage)");
    expect(a.stdout).toContain("ipv4: ufw: added lo-in, lo-out, spoof, local-tcp-1-lo, local-tcp-1");
    expect(a.stdout).toMatch(/ipv4: verified: tcp 127\.0\.0\.1 ok; counters of ufw's lo rules in \d+ -> \d+/);
    expect(a.stdout).toMatch(/ipv6: verified: tcp ::1 ok/);
    expect(a.stdout).toContain("rollback armed");
    expect(c.status).toBe(0);
    expect(c.stdout).toContain("ipv4: persisted (ufw): wrote /etc/ufw/user.rules");
    expect(c.stdout).toContain("ipv6: persisted (ufw): wrote /etc/ufw/user6.rules");
    // Ours first, in order; the admin's rules below, unchanged and in their order.
    expect(ourIds(userRules(h))).toEqual(["lo-in", "lo-out", "spoof", "local-tcp-1-lo", "local-tcp-1"]);
    expect(tuples(userRules(h)).slice(0, 5).map(commentOf)).toEqual(["lo-in", "lo-out", "spoof", "local-tcp-1-lo", "local-tcp-1"].map((i) => `lbp:0badc0de:${i}`));
    expect(ourIds(userRules(h, true))).toEqual(["lo-in", "lo-out", "spoof", "local-tcp-1-lo", "local-tcp-1"]);
    expect([foreign(userRules(h)), foreign(userRules(h, true))]).toEqual(foreignBefore);
    expect(liveInput(h).slice(0, 4)).toEqual([
      "-A ufw-user-input -i lo -j ACCEPT",
      "-A ufw-user-input -s 127.0.0.0/8 -j DROP",
      "-A ufw-user-input -i lo -p tcp -m tcp --dport 8080 -j ACCEPT",
      "-A ufw-user-input -p tcp -m tcp --dport 8080 -j DROP",
    ]);
    expect(liveInput(h).slice(4)).toEqual(["-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT", "-A ufw-user-input -p tcp -m tcp --dport 23 -j DROP"]);
    expect(h.loopbackWorks("127.0.0.1")).toBe(true);
    expect(h.loopbackWorks("::1")).toBe(true);
    // The CIS audit (ComplianceAsCode reads `ufw status verbose`).
    const status = h.sh("ufw status verbose");
    expect(status).toMatch(/^Anywhere on lo +ALLOW IN +Anywhere/m);
    expect(status).toMatch(/^Anywhere +ALLOW OUT +Anywhere on lo/m);
    expect(status).toMatch(/^Anywhere +DENY IN +127\.0\.0\.0\/8/m);
    expect(status).toMatch(/^Anywhere \(v6\) +DENY IN +::1/m);
    expect(status).toMatch(/^Anywhere \(v6\) on lo +ALLOW IN +Anywhere \(v6\)/m);
    // A re-run changes nothing and says so; check agrees.
    const files = [userRules(h), userRules(h, true)];
    const again = deploy(h);
    expect(again.a.status).toBe(0);
    expect(again.a.stdout).toContain("ipv4: unchanged (5 managed ufw rules in place, in order, in /etc/ufw/user.rules)");
    expect(again.a.stdout).toContain("result: unchanged");
    expect(again.c.stdout).toContain("ipv4: persisted (ufw): /etc/ufw/user.rules already holds the managed rules in order");
    expect([userRules(h), userRules(h, true)]).toEqual(files);
    const chk = h.run("check", MANAGE);
    expect(chk.status).toBe(0);
    expect(chk.stdout).toContain("ipv4: compliant (ufw: 5 managed rules at the top of /etc/ufw/user.rules, live and persisted)");
    // ufw rewrites its files from their tuples on its next change: ours come out the same.
    h.sh("ufw allow 25/tcp >/dev/null");
    expect(h.run("check", MANAGE).status).toBe(0);
  });

  test("THEN spoofed 127.0.0.1 packets are counted and dropped, and local-only ports refuse outside connections", () => {
    const h = ufwHost("traffic", ["allow 22/tcp", "allow 9999/udp", "allow 8080/tcp"]);
    const { c, addr } = outside(h);
    // Before: the admin's allow rules let both through (so the test can see a difference).
    expect(spoofReceived(h, c, addr)).toBe("spoofed-loopback");
    expect(reachable(h, c, addr, 8080)).toBe(true);
    const { a, c: conf } = deploy(h);
    expect(a.status).toBe(0);
    expect(conf.status).toBe(0);
    const n0 = spoofCount(h);
    expect(spoofReceived(h, c, addr)).toBe("");
    expect(spoofCount(h)).toBe(n0 + 1);
    expect(reachable(h, c, addr, 8080)).toBe(false);
    expect(reachable(h, c, addr, 22)).toBe(true);
    expect(h.loopbackWorks("127.0.0.1")).toBe(true);
  });

  test("THEN a reboot (everything flushed, ufw started from its files) keeps ours, and check says compliant", () => {
    const h = ufwHost("reboot");
    deploy(h);
    h.sh("iptables -F && iptables -X && ip6tables -F && ip6tables -X && iptables -P INPUT ACCEPT && ip6tables -P INPUT ACCEPT");
    expect(h.run("check", MANAGE).status).not.toBe(0);
    h.sh("ufw --force enable >/dev/null");
    const chk = h.run("check", MANAGE);
    expect(chk.status).toBe(0);
    expect(liveInput(h)[1]).toBe("-A ufw-user-input -s 127.0.0.0/8 -j DROP");
    expect(h.sh("ufw status verbose")).toMatch(/^Anywhere +DENY IN +127\.0\.0\.0\/8/m);
  });

  test("THEN a cut session (no confirm) rolls back to ufw's files as they were, and confirm reports it", async () => {
    const h = ufwHost("rollback");
    const before = [userRules(h), userRules(h, true), liveInput(h), liveInput(h, true)];
    const policy = { ...MANAGE, rollbackSeconds: 8 };
    const a = h.run("apply", policy);
    const applied = Date.now();
    expect(a.status).toBe(0);
    // Live, but not persisted before confirm: ufw's files are as they were.
    expect(h.run("check", policy).stdout).toMatch(/ipv4: drifted: the live ufw rules are in place but not persisted/);
    expect([userRules(h), userRules(h, true)]).toEqual(before.slice(0, 2));
    await new Promise((r) => setTimeout(r, Math.max(0, applied + 11_000 - Date.now())));
    expect([userRules(h), userRules(h, true), liveInput(h), liveInput(h, true)]).toEqual(before);
    const c = h.run("confirm", policy);
    expect(c.status).toBe(1);
    expect(c.stderr).toMatch(/the change was rolled back on the host \(rolled back at .*: no new SSH connection confirmed generation 0badc0de within 8s\)/);
  }, 90_000);

  test("THEN remove (destroy) takes away exactly ours, and the host is as it was", () => {
    const h = ufwHost("remove");
    const before = [userRules(h), userRules(h, true), liveInput(h), liveInput(h, true)];
    deploy(h);
    const r = h.run("remove", MANAGE);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("ipv4: removed 5 managed ufw rules of generation 0badc0de from /etc/ufw/user.rules");
    expect([userRules(h), userRules(h, true), liveInput(h), liveInput(h, true)]).toEqual(before);
    const again = h.run("remove", MANAGE);
    expect(again.stdout).toContain("ipv4: no managed ufw rules of generation 0badc0de to remove");
  });
});

describe("ownership by exact tag", () => {
  test("GIVEN lookalike comments by another admin THEN they stay where they are, reported, through apply and remove", () => {
    const h = ufwHost("lookalike", [
      "allow 22/tcp",
      "deny from 10.9.9.9 comment 'lbp:0badc0de:spoof-x'",
      "deny from 10.9.9.8 comment 'lbp:deadbeef:lo-in'",
      "allow from 10.9.9.7 comment 'LBP keep this'",
    ]);
    const before = tuples(userRules(h));
    const { a, c } = deploy(h);
    expect(a.status).toBe(0);
    expect(c.status).toBe(0);
    expect(tuples(userRules(h)).slice(0, 5).map(commentOf)).toEqual(["lo-in", "lo-out", "spoof", "local-tcp-1-lo", "local-tcp-1"].map((i) => `lbp:0badc0de:${i}`));
    expect(a.stdout).toMatch(/ipv4: left alone, not ours: ufw rule "deny any any 0\.0\.0\.0\/0 any 10\.9\.9\.9 in comment=[0-9a-f]+"/);
    expect(a.stdout).toMatch(/left alone, not ours: ufw rule "deny any any 0\.0\.0\.0\/0 any 10\.9\.9\.8 in/);
    expect(a.stdout).toMatch(/left alone, not ours: ufw rule "allow any any 0\.0\.0\.0\/0 any 10\.9\.9\.7 in/);
    expect(tuples(userRules(h)).slice(5)).toEqual(before);
    const r = h.run("remove", MANAGE);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/left alone, not ours: ufw rule "deny any any 0\.0\.0\.0\/0 any 10\.9\.9\.9 in/);
    expect(tuples(userRules(h))).toEqual(before);
  });

  test("GIVEN an admin's rule inserted above ours THEN apply moves ours back to the top, never duplicating them", () => {
    const h = ufwHost("moved");
    deploy(h);
    h.sh("ufw insert 1 allow 2222/tcp >/dev/null");
    expect(tuples(userRules(h))[0]).toBe("allow tcp 2222 0.0.0.0/0 any 0.0.0.0/0 in");
    const chk = h.run("check", MANAGE);
    expect(chk.status).toBe(3);
    expect(chk.stdout).toMatch(/ipv4: drifted: converging would do: ufw: moved lo-in, lo-out, spoof, local-tcp-1-lo, local-tcp-1 \(ufw-user-input does not start with the managed rules/);
    const { a, c } = deploy(h);
    expect(a.status).toBe(0);
    expect(c.status).toBe(0);
    expect(a.stdout).toContain("ipv4: ufw: moved lo-in, lo-out, spoof, local-tcp-1-lo, local-tcp-1");
    expect(ourIds(userRules(h))).toEqual(["lo-in", "lo-out", "spoof", "local-tcp-1-lo", "local-tcp-1"]);
    expect(tuples(userRules(h)).slice(5).map((t) => t.split(" ").slice(0, 3).join(" "))).toEqual(["allow tcp 2222", "allow tcp 22", "deny tcp 23"]);
    expect(liveInput(h).filter((l) => l === "-A ufw-user-input -i lo -j ACCEPT")).toHaveLength(1);
  });

  test("GIVEN a new generation THEN the previous generation's rules are replaced, not kept beside the new ones", () => {
    const h = ufwHost("generations");
    deploy(h, MANAGE, "aaaaaaaa");
    const { a } = deploy(h, { ...MANAGE, localOnlyPorts: [] }, "bbbbbbbb");
    expect(a.status).toBe(0);
    expect(a.stdout).toMatch(/removed lbp:aaaaaaaa:lo-in/);
    expect(ourIds(userRules(h), "bbbbbbbb")).toEqual(["lo-in", "lo-out", "spoof"]);
    expect(ourIds(userRules(h), "aaaaaaaa")).toEqual([]);
  });
});

describe("refuse when unsure, changing nothing", () => {
  const unchanged = (h: NetnsHost, run: () => { status: number; stderr: string }, message: RegExp) => {
    const before = [userRules(h), userRules(h, true), liveInput(h), liveInput(h, true)];
    const r = run();
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
    expect([userRules(h), userRules(h, true), liveInput(h), liveInput(h, true)]).toEqual(before);
  };

  test("GIVEN user.rules writable by others THEN it names the file and the fix", () => {
    const h = ufwHost("perms");
    h.sh("chmod o+w /etc/ufw/user.rules");
    unchanged(h, () => h.run("apply", MANAGE), /ufw's configuration is not root's alone: \/etc\/ufw\/user\.rules belongs to uid 0 with mode 642.*Fix: chown root:root \/etc\/ufw\/user\.rules && chmod go-w/);
  });

  test("GIVEN ufw's chains loaded but ufw.conf saying ENABLED=no THEN it refuses", () => {
    const h = ufwHost("inconsistent");
    h.sh("sed -i 's/^ENABLED=yes/ENABLED=no/' /etc/ufw/ufw.conf");
    unchanged(h, () => h.run("apply", MANAGE), /ufw's chains are loaded but ufw is not enabled/);
  });

  test("GIVEN IPV6=no in /etc/default/ufw THEN a policy that wants IPv6 is refused; ipv6: off applies", () => {
    const h = ufwHost("noipv6");
    execFileSync("sh", ["-c", `mkdir -p /etc/netns/${h.ns}/default && cp -a /etc/default/. /etc/netns/${h.ns}/default/ && sed -i 's/^IPV6=yes/IPV6=no/' /etc/netns/${h.ns}/default/ufw`]);
    unchanged(h, () => h.run("apply", MANAGE), /the policy wants IPv6 \(ipv6: auto\) but ufw's IPv6 is off \(IPV6=no in \/etc\/default\/ufw\).*Fix: set IPV6=yes in \/etc\/default\/ufw and run ufw reload, or set ipv6: "off"/);
    const off = deploy(h, { ...MANAGE, ipv6: "off" });
    expect(off.a.status).toBe(0);
    expect(off.c.status).toBe(0);
    expect(ourIds(userRules(h))).toEqual(["lo-in", "lo-out", "spoof", "local-tcp-1-lo", "local-tcp-1"]);
    expect(ourIds(userRules(h, true))).toEqual([]);
  });

  test("GIVEN another process holding ufw's lock THEN it gives up after lockWaitSeconds", () => {
    const h = ufwHost("lock");
    // ufw takes /run/ufw.lock with fcntl: hold it the same way for 4 s.
    h.sh(`python3 -c "import fcntl,time;f=open('/run/ufw.lock','a');fcntl.lockf(f,fcntl.LOCK_EX);open('${h.dir}/held','w').close();time.sleep(4)" >/dev/null 2>&1 </dev/null & while [ ! -f ${h.dir}/held ]; do sleep 0.1; done`);
    unchanged(h, () => h.run("apply", { ...MANAGE, lockWaitSeconds: 1 }), /another ufw command holds its lock \/run\/ufw\.lock|held ufw's lock/);
    h.sh("sleep 3.5");
  });

  test("GIVEN the verification failing (a rule ahead of ufw's drops loopback) THEN ufw's previous rules come back and nothing is persisted", () => {
    const h = ufwHost("verifyfail");
    h.sh("iptables -I INPUT 1 -i lo -p tcp -j DROP");
    const before = [userRules(h), liveInput(h)];
    const r = h.run("apply", MANAGE);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ipv4: verification failed: a TCP connection over 127\.0\.0\.1 failed.*ufw's previous rules were loaded again; nothing was persisted/);
    expect([userRules(h), liveInput(h)]).toEqual(before);
  });
});
