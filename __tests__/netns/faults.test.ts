import { spawn, spawnSync } from "child_process";
import { existsSync, readFileSync } from "fs";
import { join } from "path";
import { NetnsHost, chain, netnsHosts, tagged } from "../support/netns";
import { assertOwnEtc, stageUfw } from "../support/etc-staging";

/**
 * Faults on the host side, each reproduced for real in a namespace. docs/RELIABILITY.md lists each with its
 * outcome; the lab-level faults (a policy that cuts SSH, a session cut through sshd) are in __tests__/e2e.
 */
jest.setTimeout(180_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fresh namespace host per call, all destroyed after each test. */
const host = netnsHosts();

describe("an SSH session cut in the middle of the apply", () => {
  test("GIVEN the script killed at random moments THEN each family holds the old or the new rule set entire; after the rollback window the old one; nothing is persisted; the next deploy converges", async () => {
    const h = host("cut");
    h.sh("iptables -P INPUT DROP && iptables -A INPUT -p tcp --dport 22 -j ACCEPT && iptables -A INPUT -i lo -j ACCEPT && ip6tables -A INPUT -p tcp --dport 22 -j ACCEPT");
    const before = { ipv4: h.save("ipv4"), ipv6: h.save("ipv6") };
    const persistence = { v4Path: join(h.dir, "rules.v4"), v6Path: join(h.dir, "rules.v6") };
    const policy = { rollbackSeconds: 1, persistence };
    // What a completed apply leaves, for comparison.
    const probe = host("cut-probe");
    probe.sh("iptables -P INPUT DROP && iptables -A INPUT -p tcp --dport 22 -j ACCEPT && iptables -A INPUT -i lo -j ACCEPT && ip6tables -A INPUT -p tcp --dport 22 -j ACCEPT");
    expect(probe.run("apply", { ...policy, rollbackSeconds: 0 }).status).toBe(0);
    const after = { ipv4: probe.save("ipv4"), ipv6: probe.save("ipv6") };
    expect(after.ipv4).not.toEqual(before.ipv4);

    const seen = new Set<string>();
    for (const delay of [0, 15, 30, 45, 60, 80, 100, 130, 160, 200, 260, 400]) {
      const file = h.scriptFile("apply", policy);
      const child = spawn("ip", ["netns", "exec", h.ns, "/bin/sh", file], { detached: true, stdio: "ignore", env: { ...process.env, ...h.env } });
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      await sleep(delay);
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already finished: a complete run is one of the outcomes too
      }
      const code = await exited;
      for (const fam of ["ipv4", "ipv6"] as const) {
        const now = h.save(fam);
        const state = JSON.stringify(now) === JSON.stringify(before[fam]) ? "old" : JSON.stringify(now) === JSON.stringify(after[fam]) ? "new" : "MIXED";
        seen.add(state);
        expect([delay, fam, state]).not.toEqual([delay, fam, "MIXED"]);
      }
      await sleep(2500);
      expect([delay, code === 0 ? "completed" : "killed", h.save("ipv4"), h.save("ipv6")]).toEqual([delay, code === 0 ? "completed" : "killed", before.ipv4, before.ipv6]);
      expect(existsSync(persistence.v4Path)).toBe(false);
    }
    expect(seen.has("old")).toBe(true);

    const apply = h.run("apply", { persistence });
    expect(apply.status).toBe(0);
    expect(h.run("confirm", { persistence }).status).toBe(0);
    expect(h.save("ipv4")).toEqual(after.ipv4);
    expect(readFileSync(persistence.v4Path, "utf8")).toContain("lbp:0badc0de:lo-in");
  });

  test("GIVEN an unconfirmed change whose rollback timer is gone THEN the next apply of the same generation undoes it first and arms a live timer again", () => {
    const h = host("stale");
    h.sh("iptables -P INPUT DROP && iptables -A INPUT -p tcp --dport 22 -j ACCEPT");
    const before = h.save("ipv4");
    const policy = { rollbackSeconds: 60, ipv6: "off" as const };
    expect(h.run("apply", policy).status).toBe(0);
    const state = h.env.LBP_STATE_DIR;
    const timer = readFileSync(join(state, "timer.pid"), "utf8").trim();
    h.sh(`kill -9 ${timer}`);
    // The host now holds an applied, unconfirmed change with nothing left to roll it back.
    const again = h.run("apply", policy);
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/an unconfirmed change of generation 0badc0de is pending; rolling it back first/);
    expect(again.stdout).toMatch(/rollback armed/);
    const live = readFileSync(join(state, "timer.pid"), "utf8").trim();
    expect(live).not.toBe(timer);
    expect(h.try(`kill -0 ${live}`).status).toBe(0);
    // And that timer really restores the rules from before the first, never-confirmed apply.
    h.sh(`kill -9 ${live}`);
    const third = h.run("apply", { ...policy, rollbackSeconds: 1 });
    expect(third.status).toBe(0);
    spawnSync("sleep", ["3"]);
    expect(h.save("ipv4")).toEqual(before);
  });

  test("GIVEN a run that armed the guard and stopped before changing anything THEN the next apply clears the guard without restoring its (stale) snapshot", () => {
    const h = host("armed-only");
    h.sh("iptables -P INPUT DROP && iptables -A INPUT -p tcp --dport 22 -j ACCEPT");
    const state = h.env.LBP_STATE_DIR;
    // What such a run leaves: the pending mark and a snapshot, no timer, no "changed" mark. The snapshot is
    // made stale on purpose: restoring it would drop the rule another tool added since.
    h.sh(`mkdir -p ${state} && iptables-save -c -t filter > ${state}/snapshot.ipv4 && echo 0badc0de > ${state}/pending && iptables -A INPUT -p tcp --dport 8080 -j ACCEPT`);
    const r = h.run("apply", { ipv6: "off" });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/a run of generation 0badc0de stopped before changing anything; clearing its guard/);
    expect(h.save("ipv4")).toContain("-A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT");
  });

  test("GIVEN another run holds the host lock past lockWaitSeconds when the rollback is due THEN the timer waits for it and still rolls back", async () => {
    const h = host("timer-lock");
    h.sh("iptables -P INPUT DROP && iptables -A INPUT -p tcp --dport 22 -j ACCEPT");
    const before = h.save("ipv4");
    expect(h.run("apply", { ipv6: "off", rollbackSeconds: 2, lockWaitSeconds: 1 }).status).toBe(0);
    const holder = spawn("ip", ["netns", "exec", h.ns, "flock", join(h.env.LBP_STATE_DIR, "lock"), "sleep", "4"], { stdio: "ignore", detached: true });
    await sleep(3000);
    expect(h.save("ipv4")).not.toEqual(before); // due, but waiting for the lock
    await new Promise((r) => holder.on("exit", r));
    await sleep(1500);
    expect(h.save("ipv4")).toEqual(before);
  });
});

describe("the xtables lock", () => {
  const holdLock = (seconds: number) => {
    const c = spawn("flock", ["/run/xtables.lock", "sleep", String(seconds)], { stdio: "ignore", detached: true });
    return { kill: () => process.kill(-c.pid!, "SIGKILL") };
  };

  test("GIVEN another program holds the lock briefly THEN the run waits and succeeds", async () => {
    const h = host("lockwait");
    const bin = h.legacyBin();
    const holder = holdLock(3);
    await sleep(300);
    const t0 = Date.now();
    const r = h.run("apply", { ipv6: "off", lockWaitSeconds: 20 }, { env: { PATH: `${bin}:${process.env.PATH}` } });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(Date.now() - t0).toBeGreaterThan(2000);
    holder.kill();
    h.sh(`PATH=${bin}:$PATH; iptables -F; iptables -X`);
  });

  test("GIVEN another program holds the lock longer than lockWaitSeconds THEN the run fails saying so, and nothing was applied", async () => {
    const h = host("lockheld");
    const bin = h.legacyBin();
    const holder = holdLock(20);
    await sleep(300);
    const r = h.run("apply", { ipv6: "off", lockWaitSeconds: 2 }, { env: { PATH: `${bin}:${process.env.PATH}` } });
    holder.kill();
    expect(r.status).toBe(1);
    // The first thing that needs the lock is the ufw check, which stops the run (before 0.2 it went on regardless).
    expect(r.stderr).toMatch(/another program held the xtables lock for more than 2s \(lockWaitSeconds\); nothing was changed/);
    expect(h.try(`PATH=${bin}:$PATH iptables -S`).stdout).not.toContain("lbp:");
  });
});

describe("missing tools", () => {
  /** Run a script with /usr/sbin replaced by a tmpfs holding only the named iptables tools (a private mount namespace). */
  const unshared = (h: NetnsHost, tools: string[], file: string) =>
    spawnSync("ip", ["netns", "exec", h.ns, "unshare", "-m", "sh", "-c",
      `multi=$(readlink -f /usr/sbin/iptables) && d=$(mktemp -d) && cp "$multi" "$d/" && mount -t tmpfs none /usr/sbin && cp "$d/$(basename "$multi")" /usr/sbin/ && for t in ${tools.join(" ")}; do ln -s "$(basename "$multi")" "/usr/sbin/$t"; done; /bin/sh ${file}`,
    ], { encoding: "utf8", env: { ...process.env, ...h.env, PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" } });

  test("GIVEN no iptables THEN the run fails naming the package, and changes nothing", () => {
    const h = host("noipt");
    const r = unshared(h, [], h.scriptFile("apply"));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("iptables is not installed (Debian/Ubuntu: apt-get install iptables; RHEL/Fedora: dnf install iptables-nft)");
  });

  test("GIVEN iptables but no ip6tables THEN ipv6 auto skips and says so, ipv6 required fails and changes nothing", () => {
    const h = host("noip6t");
    const v4 = ["iptables", "iptables-save", "iptables-restore"];
    const auto = unshared(h, v4, h.scriptFile("apply"));
    expect(auto.stderr).toBe("");
    expect(auto.status).toBe(0);
    expect(auto.stdout).toContain("ipv6: skipped: ip6tables is not installed");
    expect(tagged(h.save("ipv4"))).toHaveLength(3);
    const h2 = host("noip6treq");
    const req = unshared(h2, v4, h2.scriptFile("apply", { ipv6: "required" }));
    expect(req.status).toBe(1);
    expect(req.stderr).toContain("ipv6 is required by the policy but ip6tables is not installed");
    expect(tagged(h2.save("ipv4"))).toHaveLength(0);
  });
});

describe("another firewall manager in charge", () => {
  test("GIVEN ufw enabled on the host THEN the run refuses naming ufw and the option, and changes nothing; skip leaves it alone", () => {
    if (spawnSync("sh", ["-c", "command -v ufw"]).status !== 0) throw new Error("ufw is missing: apt-get install ufw (.ci/run installs it)");
    const h = host("ufw");
    // The host's own /etc/ufw (ip netns exec bind-mounts /etc/netns/<ns>/ufw over /etc/ufw), then the real ufw.
    stageUfw(h.ns);
    assertOwnEtc(h.ns, "ufw");
    expect(h.try("ufw --force enable").status).toBe(0);
    expect(h.sh("ufw status")).toContain("Status: active");
    const before = h.save("ipv4");
    const r = h.run("apply");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ufw is active \(ufw status\) and manages this firewall; loopback-policy changes nothing here\. Fix: /);
    // ufw has a backend here: the default's fix names the mode that converges the host through it.
    expect(r.stderr).toContain('Fix: set otherFirewall: "manage" to converge loopback through ufw (in its own rules and files), or otherFirewall: "skip" (leave the host alone)');
    expect(h.save("ipv4")).toEqual(before);
    const skip = h.run("apply", { otherFirewall: "skip" });
    expect(skip.status).toBe(0);
    expect(skip.stdout).toContain("skipped: ufw is active (ufw status) (otherFirewall: skip); nothing was changed");
    expect(h.save("ipv4")).toEqual(before);
  });

  test("GIVEN firewalld's nftables tables THEN the run refuses naming firewalld", () => {
    const h = host("firewalld");
    h.sh("nft add table inet firewalld && nft add chain inet firewalld filter_INPUT '{ type filter hook input priority 10; policy accept; }'");
    const r = h.run("apply", { ipv6: "off" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("firewalld's nftables ruleset is loaded (table inet firewalld)");
    expect(tagged(h.save("ipv4"))).toHaveLength(0);
    // otherFirewall: "manage" with firewalld's table loaded but no firewalld answering (a stale table): refused,
    // nothing changed, neither in iptables nor in nftables.
    const before = h.save("ipv4");
    const nft = h.sh("nft list ruleset");
    const m = h.run("apply", { ipv6: "off", otherFirewall: "manage" });
    expect(m.status).toBe(1);
    expect(m.stdout).toContain("host: firewalld's nftables ruleset is loaded (table inet firewalld); managing loopback through firewalld (otherFirewall: manage)");
    expect(m.stderr).toMatch(/FAILED: (firewalld is not answering \(firewall-cmd --state failed .*\); nothing was changed\. Fix: systemctl status firewalld|firewalld is in charge but firewall-cmd is not installed; nothing was changed)/);
    expect(h.save("ipv4")).toEqual(before);
    expect(h.sh("nft list ruleset")).toBe(nft);
  });
});

describe("who runs it", () => {
  test("GIVEN a non-root user and sudo off THEN it fails saying to connect as root or set sudo", () => {
    const h = host("nonroot");
    const r = h.try(`runuser -u nobody -- /bin/sh ${h.scriptFile("apply")}`);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("connected as nobody, which is not root, and sudo is off: connect as root or set sudo: true");
  });

  test("GIVEN a non-root user without sudo rights THEN it fails saying sudo asks for a password", () => {
    if (spawnSync("sh", ["-c", "command -v sudo"]).status !== 0) throw new Error("sudo is missing: apt-get install sudo (.ci/run installs it)");
    const h = host("nosudo");
    const r = h.try(`runuser -u nobody -- /bin/sh ${h.scriptFile("apply", {}, { sudo: "1" })}`);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("sudo asks nobody for a password: allow passwordless sudo (NOPASSWD) for this user or connect as root");
    expect(tagged(h.save("ipv4"))).toHaveLength(0);
  });
});

describe("persistence", () => {
  test("GIVEN a persistence path that is not writable THEN confirm fails saying the verified rules are live but not saved", () => {
    const h = host("rofs");
    const dir = join(h.dir, "ro");
    const policy = { ipv6: "off" as const, persistence: { v4Path: join(dir, "rules.v4") } };
    h.sh(`mkdir -p ${dir}`);
    expect(h.run("apply", policy).status).toBe(0);
    const r = spawnSync("ip", ["netns", "exec", h.ns, "unshare", "-m", "sh", "-c", `mount -t tmpfs -o ro none ${dir} && /bin/sh ${h.scriptFile("confirm", policy)}`], { encoding: "utf8", env: { ...process.env, ...h.env } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/persistence: cannot write .*ro\/rules\.v4 \(.*Read-only file system\); the verified rules are live but not saved/);
    expect(tagged(h.save("ipv4"))).toHaveLength(3);
  });
});

describe("two deploys racing on one host", () => {
  const race = (h: NetnsHost, a: string, b: string) =>
    Promise.all([a, b].map((file) => new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn("ip", ["netns", "exec", h.ns, "/bin/sh", file], { env: { ...process.env, ...h.env } });
      let out = "";
      c.stdout.on("data", (d) => (out += d));
      c.stderr.on("data", (d) => (out += d));
      c.on("exit", (code) => resolve({ code, out }));
    })));

  test("GIVEN the same deployment twice at once THEN they are serialised: both succeed, one set of rules", async () => {
    const h = host("race-same");
    const [a, b] = await race(h, h.scriptFile("apply"), h.scriptFile("apply"));
    expect([a.code, b.code]).toEqual([0, 0]);
    expect([a.out, b.out].filter((o) => o.includes("result: unchanged"))).toHaveLength(1);
    for (const fam of ["ipv4", "ipv6"] as const) expect(tagged(h.save(fam))).toHaveLength(3);
    expect(h.run("confirm").status).toBe(0);
    expect(h.run("confirm").status).toBe(0);
  });

  test("GIVEN two different deployments at once THEN one wins entire, no duplicates, and the loser's confirm fails clearly", async () => {
    const h = host("race-diff");
    const [a, b] = await race(h, h.scriptFile("apply", {}, { generation: "aaaaaaaa" }), h.scriptFile("apply", { allowEstablished: true }, { generation: "bbbbbbbb" }));
    expect([a.code, b.code]).toEqual([0, 0]);
    const input = chain(h.save("ipv4"), "INPUT");
    const gens = new Set(tagged(input).map((l) => l.match(/lbp:([0-9a-f]{8}):/)![1]));
    expect(gens.size).toBe(1);
    const winner = [...gens][0];
    expect(tagged(input)).toHaveLength(winner === "aaaaaaaa" ? 2 : 3);
    const loser = winner === "aaaaaaaa" ? { gen: "bbbbbbbb", policy: { allowEstablished: true } } : { gen: "aaaaaaaa", policy: {} };
    const c = h.run("confirm", loser.policy, { generation: loser.gen });
    expect(c.status).toBe(1);
    expect(c.stderr).toMatch(/another generation \(\w+\) is awaiting confirmation|the managed rules are not in place any more/);
  });
});

describe("the rollback window (issue 10, item 17)", () => {
  /**
   * A `ping` that takes 8 s, so the apply's verification (verify: icmp) runs longer than the 6 s window after the
   * guard was armed. (A 3 s window once failed a clean-clone run on a loaded machine: the confirming process itself
   * took more than 3 s to start; the property under test is the apply outlasting the window, not a tight margin.)
   */
  function slowPing(h: NetnsHost): string {
    const bin = join(h.dir, "slow-bin");
    h.sh(`mkdir -p ${bin} && printf '#!/bin/sh\\nsleep 8\\nexec %s "$@"\\n' "$(command -v ping)" > ${bin}/ping && chmod 755 ${bin}/ping`);
    return bin;
  }

  test("GIVEN an apply slower than rollbackSeconds (a loaded host) WHEN confirm comes right after it THEN the change is confirmed: the window starts when the verified apply ends", () => {
    const h = host("window");
    const env = { PATH: `${slowPing(h)}:${process.env.PATH}` };
    const policy = { ipv6: "off" as const, verify: "icmp" as const, rollbackSeconds: 6, persistence: "none" as const };
    const a = h.run("apply", policy, { env });
    expect(a.status).toBe(0);
    expect(a.stdout).toMatch(/rollback armed: the previous rules come back 6s from now/);
    const c = h.run("confirm", policy, { env });
    expect(c.stderr).toBe("");
    expect(c.stdout).toContain("confirmed over a new SSH connection; rollback disarmed");
    expect(tagged(h.save("ipv4"))).toHaveLength(3);
  });

  test("GIVEN the same slow apply and no confirm (a cut session) THEN the host still rolls back, rollbackSeconds after the verified apply", async () => {
    const h = host("window-cut");
    const before = h.save("ipv4");
    const env = { PATH: `${slowPing(h)}:${process.env.PATH}` };
    const policy = { ipv6: "off" as const, verify: "icmp" as const, rollbackSeconds: 6, persistence: "none" as const };
    expect(h.run("apply", policy, { env }).status).toBe(0);
    await new Promise((r) => setTimeout(r, 1000));
    expect(tagged(h.save("ipv4"))).toHaveLength(3);
    // Then it rolls back (6 s after the apply ended; up to 20 s allowed on a loaded machine).
    for (let waited = 0; waited < 20_000 && tagged(h.save("ipv4")).length > 0; waited += 500) await new Promise((r) => setTimeout(r, 500));
    expect(h.save("ipv4")).toEqual(before);
    expect(readFileSync(join(h.env.LBP_STATE_DIR, "rolledback.0badc0de"), "utf8")).toMatch(/no new SSH connection confirmed generation 0badc0de within 6s/);
  });
});
